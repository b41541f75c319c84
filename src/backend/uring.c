/* uring.c: the hub's readiness backend on io_uring's multishot poll
 * (MTASK_HUB_BACKEND=uring; Linux 5.13 or later, liburing).
 *
 * Each descriptor gets one IORING_OP_POLL_ADD with IORING_POLL_ADD_MULTI
 * for IN | OUT | RDHUP, armed the first time a greenlet waits on it. Such
 * a poll stays armed and posts a completion at each wake-up of the
 * descriptor, as edge-triggered epoll reports one, so the hub's
 * discipline (try the call, wait only after EAGAIN) carries over
 * unchanged. What io_uring saves: arming is a submission queue entry,
 * not a system call; it goes to the kernel with the next wait, in one
 * io_uring_enter with the wait itself. A short connection (accept, a few
 * waits, close) costs the hub its epoll_ctl calls less.
 *
 * Three differences from epoll, and what this file does about them:
 *
 * - A multishot poll can end by itself: at once on a descriptor that
 *   cannot be polled again (a regular file), or when the completion queue
 *   overflowed. The completion then lacks IORING_CQE_F_MORE; the event
 *   says MT__POLL_DISARMED and the hub arms the descriptor again at its
 *   next wait (backend/poller.h). Re-arming here instead would spin on a
 *   regular file, whose poll completes at once every time.
 * - A poll holds a reference to the file. close(2) does not end it, so a
 *   closed socket would stay open while the poll lasts. remove() cancels
 *   the poll and submits at once, before mt_close closes; a descriptor
 *   number that comes back (after a plain close) is re-armed for the new
 *   file when the hub adds it.
 * - Completions of a cancelled poll may arrive after the descriptor was
 *   armed again. Each arming gets a new generation, carried in the
 *   completion's user data beside the descriptor, and completions of an
 *   older generation are dropped.
 *
 * The ring is the hub's, used by its thread only: the kernel runs its
 * completion work when that thread waits (IORING_SETUP_DEFER_TASKRUN,
 * Linux 6.1) or at least does not interrupt it for it (COOP_TASKRUN,
 * 5.19), whichever this kernel has. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "backend/poller.h"

#define SUBMIT_ENTRIES 256
#define COMPLETE_ENTRIES 4096  /* room for many wake-ups between two waits */
#define OWN_REMOVAL UINT64_MAX /* the user data of our cancellations */

/* What the ring watches for one descriptor. */
struct watch {
	uint32_t generation; /* of its latest arming */
	bool armed;	     /* a poll of that generation is live */
};

struct uring_poller {
	struct mt__poller base;
	struct io_uring ring;
	struct watch *watches; /* indexed by descriptor */
	size_t capacity;
};

static const struct mt__poller_backend uring_backend;

static struct uring_poller *of(struct mt__poller *p)
{
	return (struct uring_poller *)p;
}

static uint64_t user_data(int fd, uint32_t generation)
{
	return (uint64_t)generation << 32 | (uint32_t)fd;
}

/* The cheapest mode this kernel offers; none without multishot poll,
 * whose kernel (5.13) brought IORING_FEAT_RSRC_TAGS too. */
static int setup_ring(struct io_uring *ring)
{
	static const unsigned modes[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int err = -EINVAL;
	for (size_t i = 0; i < sizeof modes / sizeof *modes && err == -EINVAL; i++) {
		struct io_uring_params params = {.flags = modes[i] | IORING_SETUP_CQSIZE,
						 .cq_entries = COMPLETE_ENTRIES};
		err = io_uring_queue_init_params(SUBMIT_ENTRIES, ring, &params);
		if (!err && !(params.features & IORING_FEAT_RSRC_TAGS)) {
			io_uring_queue_exit(ring);
			return -ENOSYS;
		}
	}
	return err;
}

static int uring_create(struct mt__poller **out)
{
	struct uring_poller *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->base.backend = &uring_backend;
	int err = setup_ring(&p->ring);
	if (err) {
		free(p);
		return err;
	}
	*out = &p->base;
	return 0;
}

/* Ends every poll (and releases its file) with the ring. */
static void uring_destroy(struct mt__poller *pp)
{
	struct uring_poller *p = of(pp);
	io_uring_queue_exit(&p->ring);
	free(p->watches);
	free(p);
}

/* ---- the watch table ---- */

static struct watch *watch_for(struct uring_poller *p, int fd)
{
	if (mt__fd_table_reserve((void **)&p->watches, &p->capacity, sizeof *p->watches, fd))
		return NULL;
	return &p->watches[fd];
}

static struct watch *known_watch(struct uring_poller *p, int fd)
{
	return fd >= 0 && (size_t)fd < p->capacity ? &p->watches[fd] : NULL;
}

/* ---- submissions ---- */

/* A free submission entry: when the queue is full, what it holds goes
 * to the kernel first. */
static struct io_uring_sqe *next_sqe(struct uring_poller *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	if (!sqe && io_uring_submit(&p->ring) >= 0)
		sqe = io_uring_get_sqe(&p->ring);
	return sqe;
}

static unsigned poll_mask(uint32_t events)
{
	unsigned mask = POLLRDHUP;
	if (events & MT__POLL_IN)
		mask |= POLLIN;
	if (events & MT__POLL_OUT)
		mask |= POLLOUT;
	return mask;
}

static int arm(struct uring_poller *p, int fd, struct watch *w, uint32_t events)
{
	struct io_uring_sqe *sqe = next_sqe(p);
	if (!sqe)
		return -EBUSY;
	w->generation++;
	w->armed = true;
	io_uring_prep_poll_multishot(sqe, fd, poll_mask(events));
	io_uring_sqe_set_data64(sqe, user_data(fd, w->generation));
	return 0; /* submitted with the next wait */
}

static int cancel(struct uring_poller *p, int fd, struct watch *w)
{
	struct io_uring_sqe *sqe = next_sqe(p);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, user_data(fd, w->generation));
	io_uring_sqe_set_data64(sqe, OWN_REMOVAL);
	w->armed = false; /* the cancelled poll's last completion is dropped */
	return 0;
}

/* Never -EEXIST: the hub adds a descriptor it believes unwatched, and a
 * live poll on that number can only be an old file's (a plain close and
 * a new descriptor with the number), which must go. */
static int uring_add(struct mt__poller *pp, int fd, uint32_t events)
{
	struct uring_poller *p = of(pp);
	struct watch *w = fd >= 0 ? watch_for(p, fd) : NULL;
	if (!w)
		return fd < 0 ? -EBADF : -ENOMEM;
	int err = w->armed ? cancel(p, fd, w) : 0;
	return err ? err : arm(p, fd, w, events);
}

static int uring_modify(struct mt__poller *pp, int fd, uint32_t events)
{
	struct uring_poller *p = of(pp);
	struct watch *w = known_watch(p, fd);
	if (!w || !w->armed)
		return -ENOENT;
	int err = cancel(p, fd, w);
	return err ? err : arm(p, fd, w, events);
}

/* Done at once, completion work included (which DEFER_TASKRUN would
 * otherwise keep until the next wait): the poll's reference would keep
 * the file open after the caller's close, and a listening socket closed
 * so would still take connections, which get reset later. */
static int uring_remove(struct mt__poller *pp, int fd)
{
	struct uring_poller *p = of(pp);
	struct watch *w = known_watch(p, fd);
	if (!w || !w->armed)
		return -ENOENT;
	int err = cancel(p, fd, w);
	if (!err && io_uring_submit_and_get_events(&p->ring) < 0)
		err = -EIO;
	return err;
}

/* ---- waiting ---- */

/* Submits what is queued and waits for a completion, at most timeout_ns.
 * With none due (0), it still enters the kernel to run completion work
 * deferred to this thread. */
static int submit_and_wait(struct uring_poller *p, int64_t timeout_ns)
{
	if (timeout_ns == 0)
		return io_uring_submit_and_get_events(&p->ring);
	if (timeout_ns < 0)
		return io_uring_submit_and_wait(&p->ring, 1);
	struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
				       .tv_nsec = timeout_ns % 1000000000};
	struct io_uring_cqe *cqe;
	return io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, &ts, NULL);
}

/* One completion as an event: true, or false for our own removal's and
 * for an older arming's. */
static bool to_event(struct uring_poller *p, const struct io_uring_cqe *cqe,
		     struct mt__poll_event *ev)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	if (data == OWN_REMOVAL)
		return false;
	int fd = (int)(uint32_t)data;
	struct watch *w = known_watch(p, fd);
	if (!w || !w->armed || w->generation != (uint32_t)(data >> 32))
		return false;
	uint32_t got = 0;
	if (cqe->res < 0) { /* -EBADF...: the waiters' next call says what */
		got = cqe->res == -ECANCELED ? 0 : MT__POLL_ERR;
	} else {
		if (cqe->res & (POLLIN | POLLRDHUP)) /* the peer's shutdown: a read sees EOF */
			got |= MT__POLL_IN;
		if (cqe->res & POLLOUT)
			got |= MT__POLL_OUT;
		if (cqe->res & (POLLERR | POLLHUP))
			got |= MT__POLL_ERR;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		w->armed = false;
		got |= MT__POLL_DISARMED;
	}
	*ev = (struct mt__poll_event){fd, got};
	return true;
}

static int uring_wait(struct mt__poller *pp, struct mt__poll_event *out, int max,
		      int64_t timeout_ns)
{
	struct uring_poller *p = of(pp);
	int err = submit_and_wait(p, timeout_ns);
	if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN && err != -EBUSY)
		return err;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int n = 0;
	io_uring_for_each_cqe(&p->ring, head, cqe)
	{
		if (n == max)
			break; /* the rest waits for the next call */
		seen++;
		if (to_event(p, cqe, &out[n]))
			n++;
	}
	io_uring_cq_advance(&p->ring, seen);
	return n;
}

static const struct mt__poller_backend uring_backend = {
	.name = "uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.add = uring_add,
	.modify = uring_modify,
	.remove = uring_remove,
	.wait = uring_wait,
};

const struct mt__poller_backend *const mt__poller_uring = &uring_backend;
