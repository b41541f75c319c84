/* poller.h: the contract between the hub and a readiness backend
 * (backend/epoll.c, backend/uring.c), chosen per hub when it is made
 * (backend/poller.c: MTASK_HUB_BACKEND=epoll|uring). Private.
 *
 * A poller watches descriptors for readiness and reports it in batches.
 * The hub registers a descriptor for both directions the first time a
 * greenlet waits on it, and keeps it registered until it forgets the
 * descriptor: so a backend must report an event once per change of
 * readiness (edge-triggered), and the hub always tries the IO call before
 * it waits (backend/epoll.c explains why).
 *
 * One addition for io_uring: a backend may stop watching a descriptor by
 * itself (a multishot poll that the kernel ended: a regular file, whose
 * poll completes at once, or a completion queue that overflowed) and
 * says so with MT__POLL_DISARMED in the descriptor's last event. The hub
 * then forgets the registration and adds the descriptor again at its
 * next wait; since it tries the IO call before waiting, and adding checks
 * readiness at once, no event is lost in between. epoll never sets it.
 *
 * Backends are reached through a table of functions: the hub calls the
 * poller once per loop turn and once per new descriptor, never per
 * switch, so the indirect call costs nothing measurable. */
#ifndef MTASK_BACKEND_POLLER_H
#define MTASK_BACKEND_POLLER_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MT__POLL_IN 1u
#define MT__POLL_OUT 2u
#define MT__POLL_ERR 4u	     /* error or hang-up: wakes readers and writers */
#define MT__POLL_DISARMED 8u /* no longer watched: add it again before waiting */

struct mt__poll_event {
	int fd;
	uint32_t events; /* MT__POLL_* */
};

struct mt__poller;

/* One backend: its functions, as the mt__poller_* calls below describe. */
struct mt__poller_backend {
	const char *name; /* "epoll", "uring" */
	int (*create)(struct mt__poller **p);
	void (*destroy)(struct mt__poller *p);
	int (*add)(struct mt__poller *p, int fd, uint32_t events);
	int (*modify)(struct mt__poller *p, int fd, uint32_t events);
	int (*remove)(struct mt__poller *p, int fd);
	int (*wait)(struct mt__poller *p, struct mt__poll_event *out, int max, int64_t timeout_ns);
};

/* Every backend's poller begins with this. */
struct mt__poller {
	const struct mt__poller_backend *backend;
};

MT_HIDDEN extern const struct mt__poller_backend mt__poller_epoll;
/* NULL when the library was built without liburing. */
MT_HIDDEN extern const struct mt__poller_backend *const mt__poller_uring;

/* A new poller, close-on-exec, of the backend MTASK_HUB_BACKEND names
 * (epoll by default; epoll, with a warning once, when io_uring was asked
 * for but cannot be had). Returns 0 or a negative errno. */
MT_HIDDEN int mt__poller_create(struct mt__poller **p);

static inline void mt__poller_destroy(struct mt__poller *p)
{
	if (p)
		p->backend->destroy(p);
}

/* Watches fd for events (MT__POLL_IN | MT__POLL_OUT), edge-triggered.
 * Returns 0, -EEXIST (already watched), -EPERM (fd cannot be watched: a
 * regular file, always ready), or another negative errno. */
static inline int mt__poller_add(struct mt__poller *p, int fd, uint32_t events)
{
	return p->backend->add(p, fd, events);
}

static inline int mt__poller_modify(struct mt__poller *p, int fd, uint32_t events)
{
	return p->backend->modify(p, fd, events);
}

/* Stops watching fd, before the caller closes it. */
static inline int mt__poller_remove(struct mt__poller *p, int fd)
{
	return p->backend->remove(p, fd);
}

/* Waits at most timeout_ns (< 0: for ever, 0: only checks) for events,
 * stores at most max of them. Returns their count (0 at the timeout or on
 * a signal) or a negative errno. */
static inline int mt__poller_wait(struct mt__poller *p, struct mt__poll_event *out, int max,
				  int64_t timeout_ns)
{
	return p->backend->wait(p, out, max, timeout_ns);
}

static inline const char *mt__poller_name(const struct mt__poller *p)
{
	return p->backend->name;
}

/* Tables indexed by descriptor (the hub's slots, a backend's watches):
 * makes *table, of *capacity elements of size bytes, hold index fd (>= 0),
 * doubling it and zeroing what it adds, so that after warm-up a wait
 * allocates nothing. Returns 0 or -ENOMEM. */
static inline int mt__fd_table_reserve(void **table, size_t *capacity, size_t size, int fd)
{
	if ((size_t)fd < *capacity)
		return 0;
	size_t grown_capacity = *capacity ? *capacity : 64;
	while (grown_capacity <= (size_t)fd)
		grown_capacity *= 2;
	char *grown = realloc(*table, grown_capacity * size);
	if (!grown)
		return -ENOMEM;
	memset(grown + *capacity * size, 0, (grown_capacity - *capacity) * size);
	*table = grown;
	*capacity = grown_capacity;
	return 0;
}

#endif
