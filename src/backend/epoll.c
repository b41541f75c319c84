/* epoll.c: the hub's readiness backend on Linux's epoll (the default).
 *
 * Edge-triggered, registered once. Each descriptor is added with
 * EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET the first time a greenlet
 * waits on it and stays until the hub forgets it (mt_close). The other
 * choices cost a system call per wait: level-triggered registration must
 * be removed or masked once the waiter has gone (or every epoll_wait
 * reports the descriptor again, busy-looping the hub), and EPOLLONESHOT
 * must be re-armed with epoll_ctl before each wait. Edge-triggered needs
 * one discipline instead, which the hub keeps: a greenlet always tries
 * its IO call before it waits, and waits only after EAGAIN. An edge that
 * arrived while nobody waited is then harmless (the call that follows
 * finds the data), and the data that arrives after the EAGAIN makes a new
 * edge, reported by the next epoll_wait. Readers and writers share the
 * registration, so a full-duplex socket costs one.
 *
 * epoll_pwait2 takes a timespec, so timers keep their nanoseconds; a
 * kernel before 5.11 gets epoll_wait with the timeout rounded up to a
 * millisecond (a timer never fires early). */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend/poller.h"

#define BATCH_MAX 128

struct epoll_poller {
	struct mt__poller base;
	int epfd;
	bool no_pwait2; /* the kernel said ENOSYS once */
};

static struct epoll_poller *of(struct mt__poller *p)
{
	return (struct epoll_poller *)p;
}

static int epoll_poller_create(struct mt__poller **out)
{
	struct epoll_poller *p = malloc(sizeof *p);
	if (!p)
		return -ENOMEM;
	p->base.backend = &mt__poller_epoll;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->no_pwait2 = false;
	if (p->epfd < 0) {
		int err = -errno;
		free(p);
		return err;
	}
	*out = &p->base;
	return 0;
}

static void epoll_poller_destroy(struct mt__poller *p)
{
	close(of(p)->epfd);
	free(of(p));
}

static int control(struct epoll_poller *p, int op, int fd, uint32_t events)
{
	struct epoll_event e = {.events = EPOLLET | EPOLLRDHUP, .data.fd = fd};
	if (events & MT__POLL_IN)
		e.events |= EPOLLIN;
	if (events & MT__POLL_OUT)
		e.events |= EPOLLOUT;
	return epoll_ctl(p->epfd, op, fd, &e) < 0 ? -errno : 0;
}

static int epoll_poller_add(struct mt__poller *p, int fd, uint32_t events)
{
	return control(of(p), EPOLL_CTL_ADD, fd, events);
}

static int epoll_poller_modify(struct mt__poller *p, int fd, uint32_t events)
{
	return control(of(p), EPOLL_CTL_MOD, fd, events);
}

static int epoll_poller_remove(struct mt__poller *p, int fd)
{
	return epoll_ctl(of(p)->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

static int wait_events(struct epoll_poller *p, struct epoll_event *events, int max,
		       int64_t timeout_ns)
{
	if (!p->no_pwait2) {
		struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
		int n = epoll_pwait2(p->epfd, events, max, timeout_ns < 0 ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		p->no_pwait2 = true;
	}
	int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
	return epoll_wait(p->epfd, events, max, ms);
}

static int epoll_poller_wait(struct mt__poller *p, struct mt__poll_event *out, int max,
			     int64_t timeout_ns)
{
	struct epoll_event events[BATCH_MAX];
	int n = wait_events(of(p), events, max < BATCH_MAX ? max : BATCH_MAX, timeout_ns);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint32_t e = events[i].events, got = 0;
		if (e & (EPOLLIN | EPOLLRDHUP)) /* the peer's shutdown: a read sees EOF */
			got |= MT__POLL_IN;
		if (e & EPOLLOUT)
			got |= MT__POLL_OUT;
		if (e & (EPOLLERR | EPOLLHUP))
			got |= MT__POLL_ERR;
		out[i] = (struct mt__poll_event){events[i].data.fd, got};
	}
	return n;
}

const struct mt__poller_backend mt__poller_epoll = {
	.name = "epoll",
	.create = epoll_poller_create,
	.destroy = epoll_poller_destroy,
	.add = epoll_poller_add,
	.modify = epoll_poller_modify,
	.remove = epoll_poller_remove,
	.wait = epoll_poller_wait,
};
