/* hubio.c: IO calls that yield inside a greenlet and block outside one,
 * and the hub's table of descriptors.
 *
 * Every call has one loop: try the system call without blocking; on
 * EAGAIN wait for the descriptor, in the hub inside a greenlet (the
 * descriptor registered once with the poller, edge-triggered:
 * backend/epoll.c says why), with ppoll(2) outside; try again. Trying
 * first is what makes edge-triggered registration safe, and it means a
 * call whose data is already there costs one system call, as in plain C.
 *
 * The table is indexed by descriptor number and grows by doubling: a
 * wait allocates nothing. A slot remembers that its descriptor is
 * registered and non-blocking, so a descriptor number reused after a
 * plain close(2) would be believed registered; mt_close forgets it, and
 * mt_accept resets the slot of each descriptor it returns (a fresh
 * number can have no registration in the kernel). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub_private.h"

/* ---- the descriptor table ---- */

static struct mt__fd_slot *slot_for(struct mt__hub *h, int fd)
{
	if (mt__fd_table_reserve((void **)&h->fds, &h->fd_capacity, sizeof *h->fds, fd))
		return NULL;
	return &h->fds[fd];
}

static struct mt__fd_slot *known_slot(struct mt__hub *h, int fd)
{
	return h && fd >= 0 && (size_t)fd < h->fd_capacity ? &h->fds[fd] : NULL;
}

void mt__hub_fd_unwait(struct mt__hub *h, struct mt__waiter *w)
{
	struct mt__fd_slot *s = &h->fds[w->fd];
	if (s->reader == w) {
		s->reader = NULL;
		h->fd_waits--;
	}
	if (s->writer == w) {
		s->writer = NULL;
		h->fd_waits--;
	}
	w->fd = -1;
}

/* A backend that stopped watching fd (MT__POLL_DISARMED) wakes its
 * waiters too: they try their call again and, on EAGAIN, add fd anew. */
void mt__hub_fd_ready(struct mt__hub *h, int fd, uint32_t events)
{
	struct mt__fd_slot *s = known_slot(h, fd);
	if (!s)
		return;
	if (events & MT__POLL_DISARMED)
		s->registered = false;
	if (s->reader && (events & (MT__POLL_IN | MT__POLL_ERR | MT__POLL_DISARMED)))
		mt__wake(h, s->reader, (int)events);
	if (s->writer && (events & (MT__POLL_OUT | MT__POLL_ERR | MT__POLL_DISARMED)))
		mt__wake(h, s->writer, (int)events);
}

void mt__hub_fds_free(struct mt__hub *h)
{
	free(h->fds);
	h->fds = NULL;
	h->fd_capacity = 0;
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Once per descriptor: non-blocking mode and the poller. A descriptor
 * epoll refuses (a regular file, always ready) is reported as ready. */
static int register_fd(struct mt__hub *h, int fd, struct mt__fd_slot *s)
{
	int err = s->nonblocking ? 0 : set_nonblocking(fd);
	if (err)
		return err;
	s->nonblocking = true;
	err = mt__poller_add(h->poller, fd, MT__POLL_IN | MT__POLL_OUT);
	if (err == -EPERM)
		return MT__POLL_IN | MT__POLL_OUT;
	if (err && err != -EEXIST)
		return err;
	s->registered = true;
	return 0;
}

/* One wait in the hub for events on fd, registering it first if the
 * poller does not watch it. */
static int park_on_fd(struct mt__hub *h, int fd, uint32_t events, uint64_t deadline)
{
	struct mt__fd_slot *s = slot_for(h, fd); /* again: the table may have moved */
	if (!s)
		return -ENOMEM;
	if (!s->registered) {
		int ready = register_fd(h, fd, s);
		if (ready)
			return ready;
	}
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.fd = fd;
	if (events & MT__POLL_IN) {
		s->reader = &w;
		h->fd_waits++;
	}
	if (events & MT__POLL_OUT) {
		s->writer = &w;
		h->fd_waits++;
	}
	return mt__park(h, &w, deadline);
}

/* Waits in the hub for events (MT__POLL_IN and/or OUT) on fd. Returns
 * the events that came (> 0), or a negative errno. A wake-up that only
 * says the poller stopped watching fd waits again. */
static int wait_in_hub(struct mt__hub *h, int fd, uint32_t events, uint64_t deadline)
{
	struct mt__fd_slot *s = slot_for(h, fd);
	if (!s)
		return -ENOMEM;
	if (((events & MT__POLL_IN) && s->reader) || ((events & MT__POLL_OUT) && s->writer))
		return -EBUSY;
	int got;
	do
		got = park_on_fd(h, fd, events, deadline);
	while (got > 0 && !(got & (events | MT__POLL_ERR)));
	return got;
}

/* Waits with ppoll outside greenlets; same results. */
static int wait_outside(int fd, uint32_t events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd};
	if (events & MT__POLL_IN)
		p.events |= POLLIN;
	if (events & MT__POLL_OUT)
		p.events |= POLLOUT;
	for (;;) {
		struct timespec left, *limit = NULL;
		if (deadline != MT__FOREVER) {
			uint64_t now = mt__now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			left = (struct timespec){(time_t)((deadline - now) / 1000000000),
						 (long)((deadline - now) % 1000000000)};
			limit = &left;
		}
		int n = ppoll(&p, 1, limit, NULL);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (p.revents & POLLNVAL))
			return -EBADF;
		if (n > 0) {
			uint32_t got = 0;
			got |= (p.revents & POLLIN) ? MT__POLL_IN : 0;
			got |= (p.revents & POLLOUT) ? MT__POLL_OUT : 0;
			got |= (p.revents & (POLLERR | POLLHUP)) ? MT__POLL_ERR : 0;
			return (int)got;
		}
	}
}

/* ---- the calls ---- */

/* One IO call's context: its deadline, and whether it runs in a
 * greenlet (then h is its hub). */
struct io {
	struct mt__hub *h;
	uint64_t deadline;
	int fd;
};

static int io_begin(struct io *io, int fd, double timeout)
{
	if (fd < 0)
		return -EBADF;
	int err = mt__hub_deadline(timeout, &io->deadline);
	if (err)
		return err;
	struct mt__hub *h = mt__hub_peek(); /* outside greenlets, no hub is made */
	io->h = h && mt__hub_current_greenlet(h) ? h : NULL;
	io->fd = fd;
	/* A Timeout block bounds IO too: mt__park applies a greenlet's. */
	if (!io->h && h && h->outside_deadline < io->deadline)
		io->deadline = h->outside_deadline;
	return 0;
}

/* Calls that have no MSG_DONTWAIT need the descriptor non-blocking to
 * yield; outside greenlets they wait for readiness first instead, so
 * that a blocking descriptor honours the timeout. */
static int io_prepare(struct io *io, uint32_t events)
{
	if (!io->h)
		return io->deadline == MT__FOREVER ? 0 : wait_outside(io->fd, events, io->deadline);
	struct mt__fd_slot *s = slot_for(io->h, io->fd);
	if (!s)
		return -ENOMEM;
	if (!s->nonblocking) {
		int err = set_nonblocking(io->fd);
		if (err)
			return err;
		s->nonblocking = true;
	}
	return 0;
}

/* After a failed attempt (errno set): 0 to try again once ready, or the
 * call's error. */
static int io_wait(struct io *io, uint32_t events)
{
	int err = errno;
	if (err == EINTR)
		return 0;
	if (err != EAGAIN && err != EWOULDBLOCK)
		return -err;
	int got = io->h ? wait_in_hub(io->h, io->fd, events, io->deadline)
			: wait_outside(io->fd, events, io->deadline);
	return got < 0 ? got : 0;
}

int mt_wait_fd(int fd, int events, double timeout)
{
	struct io io;
	if (events <= 0 || (events & ~(MT_READABLE | MT_WRITABLE)))
		return -EINVAL;
	int err = io_begin(&io, fd, timeout);
	if (err)
		return err;
	uint32_t want = ((events & MT_READABLE) ? MT__POLL_IN : 0) |
			((events & MT_WRITABLE) ? MT__POLL_OUT : 0);
	int got = io.h ? wait_in_hub(io.h, fd, want, io.deadline)
		       : wait_outside(fd, want, io.deadline);
	if (got < 0)
		return got;
	if (got & MT__POLL_ERR)
		return events;
	return ((got & MT__POLL_IN) ? MT_READABLE : 0) | ((got & MT__POLL_OUT) ? MT_WRITABLE : 0);
}

ssize_t mt_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
		    socklen_t *addrlen, double timeout)
{
	struct io io;
	int err = io_begin(&io, fd, timeout);
	while (!err) {
		ssize_t n = recvfrom(fd, buf, len, flags | MSG_DONTWAIT, addr, addrlen);
		if (n >= 0)
			return n;
		err = io_wait(&io, MT__POLL_IN);
	}
	return err;
}

ssize_t mt_recv(int fd, void *buf, size_t len, int flags, double timeout)
{
	return mt_recvfrom(fd, buf, len, flags, NULL, NULL, timeout);
}

ssize_t mt_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		  socklen_t addrlen, double timeout)
{
	struct io io;
	int err = io_begin(&io, fd, timeout);
	while (!err) {
		ssize_t n = sendto(fd, buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL, addr, addrlen);
		if (n >= 0)
			return n;
		err = io_wait(&io, MT__POLL_OUT);
	}
	return err;
}

ssize_t mt_send(int fd, const void *buf, size_t len, int flags, double timeout)
{
	return mt_sendto(fd, buf, len, flags, NULL, 0, timeout);
}

ssize_t mt_read(int fd, void *buf, size_t len, double timeout)
{
	struct io io;
	int err = io_begin(&io, fd, timeout);
	if (!err)
		err = io_prepare(&io, MT__POLL_IN);
	while (err >= 0) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		err = io_wait(&io, MT__POLL_IN);
	}
	return err;
}

ssize_t mt_write(int fd, const void *buf, size_t len, double timeout)
{
	struct io io;
	int err = io_begin(&io, fd, timeout);
	if (!err)
		err = io_prepare(&io, MT__POLL_OUT);
	while (err >= 0) {
		ssize_t n = write(fd, buf, len);
		if (n >= 0)
			return n;
		err = io_wait(&io, MT__POLL_OUT);
	}
	return err;
}

/* A descriptor number just returned by the kernel has no registration:
 * whatever the slot remembers of an earlier one with the number goes. */
static void fresh_descriptor(struct mt__hub *h, int fd, bool nonblocking)
{
	struct mt__fd_slot *s = NULL;
	if (h && (nonblocking || known_slot(h, fd)))
		s = slot_for(h, fd);
	if (s)
		*s = (struct mt__fd_slot){.nonblocking = nonblocking};
}

int mt_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, double timeout)
{
	struct io io;
	int err = io_begin(&io, fd, timeout);
	if (!err)
		err = io_prepare(&io, MT__POLL_IN);
	int flags = SOCK_CLOEXEC | (io.h ? SOCK_NONBLOCK : 0);
	while (err >= 0) {
		int got = accept4(fd, addr, addrlen, flags);
		if (got >= 0) {
			fresh_descriptor(mt__hub_peek(), got, io.h != NULL);
			return got;
		}
		err = io_wait(&io, MT__POLL_IN);
	}
	return err;
}

static int connect_outcome(int fd)
{
	int soerr = 0;
	socklen_t size = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &size) < 0)
		return -errno;
	return -soerr;
}

/* Outside greenlets the socket is made non-blocking for the connect only,
 * so that the timeout holds; its mode is restored after. */
int mt_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, double timeout)
{
	struct io io;
	int err = io_begin(&io, fd, timeout);
	int flags = err ? 0 : fcntl(fd, F_GETFL);
	if (!err && flags < 0)
		err = -errno;
	if (!err && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		err = -errno;
	if (err)
		return err;
	struct mt__fd_slot *s = io.h ? slot_for(io.h, fd) : NULL;
	if (s)
		s->nonblocking = true;
	int rc;
	do
		rc = connect(fd, addr, addrlen);
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && (errno == EINPROGRESS || errno == EALREADY)) {
		errno = EAGAIN;
		err = io_wait(&io, MT__POLL_OUT);
		if (!err)
			err = connect_outcome(fd);
	} else if (rc < 0) {
		err = -errno;
	}
	if (!io.h && !(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags);
	return err;
}

int mt_close(int fd)
{
	struct mt__hub *h = mt__hub_peek();
	struct mt__fd_slot *s = known_slot(h, fd);
	if (s) {
		struct mt__waiter *waiters[2] = {s->reader, s->writer};
		for (int i = 0; i < 2; i++) {
			if (waiters[i] && waiters[i]->fd >= 0) {
				mt__hub_fd_unwait(h, waiters[i]);
				mt__wake(h, waiters[i], -EBADF);
			}
		}
		if (s->registered)
			mt__poller_remove(h->poller, fd);
		*s = (struct mt__fd_slot){.registered = false};
	}
	return close(fd) < 0 ? -errno : 0;
}
