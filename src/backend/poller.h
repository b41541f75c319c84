/* poller.h: the contract between the hub and a readiness backend
 * (backend/epoll.c; io_uring's poll would be another). Private.
 *
 * A poller watches descriptors for readiness and reports it in batches.
 * The hub registers a descriptor once, for both directions, and keeps it
 * registered until it forgets the descriptor: so a backend must report an
 * event once per change of readiness (edge-triggered), and the hub always
 * tries the IO call before it waits (backend/epoll.c explains why). */
#ifndef MTASK_BACKEND_POLLER_H
#define MTASK_BACKEND_POLLER_H

#include <stdint.h>

#include "internal.h"

#define MT__POLL_IN 1u
#define MT__POLL_OUT 2u
#define MT__POLL_ERR 4u /* error or hang-up: wakes readers and writers */

struct mt__poller;

struct mt__poll_event {
	int fd;
	uint32_t events; /* MT__POLL_* */
};

/* A new poller, close-on-exec. Returns 0 or a negative errno. */
MT_HIDDEN int mt__poller_create(struct mt__poller **p);
MT_HIDDEN void mt__poller_destroy(struct mt__poller *p);

/* Watches fd for events (MT__POLL_IN | MT__POLL_OUT), edge-triggered.
 * Returns 0, -EEXIST (already watched), or another negative errno. */
MT_HIDDEN int mt__poller_add(struct mt__poller *p, int fd, uint32_t events);
MT_HIDDEN int mt__poller_modify(struct mt__poller *p, int fd, uint32_t events);
MT_HIDDEN int mt__poller_remove(struct mt__poller *p, int fd);

/* Waits at most timeout_ns (< 0: for ever, 0: only checks) for events,
 * stores at most max of them. Returns their count (0 at the timeout or on
 * a signal) or a negative errno. */
MT_HIDDEN int mt__poller_wait(struct mt__poller *p, struct mt__poll_event *out, int max,
			      int64_t timeout_ns);

#endif
