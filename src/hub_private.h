/* hub_private.h: what hub.c (the scheduler, timers, greenlets), hubio.c
 * (descriptors) and hubsync.c (locks, events, channels) share. Private.
 *
 * Every wait in the hub is one struct mt__waiter on the waiting code's
 * own stack: its timer, its place in a wait queue and its descriptor
 * slot, all undone by mt__park when the wait ends, however it ends. So a
 * wait allocates nothing, and a greenlet killed in a wait leaves no
 * dangling node behind. */
#ifndef MTASK_HUB_PRIVATE_H
#define MTASK_HUB_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/poller.h"
#include "internal.h"
#include "mtask/coro.h"
#include "mtask/hub.h"

#define MT__FOREVER UINT64_MAX

/* Something the hub can resume: a greenlet, or code outside greenlets
 * (main, a plain coroutine) waiting in a hub call, which has one of
 * these on its stack for the wait. */
struct mt__fiber {
	mt_coro *coro;
	struct mt__fiber *next_ready; /* in the hub's ready queue */
	struct mt__waiter *wait;      /* its wait while parked, else NULL */
	struct mt__list outside_node; /* an outsider: in the hub's list of parked ones */
	uint64_t deadline;	      /* a greenlet's Timeout blocks' deadline */
	bool greenlet;
	bool cancelled; /* its waits return -ECANCELED */
	bool killed;	/* its next wait ends it */
	bool exiting;	/* killed and running its cleanups */
};

/* A timer: a deadline in the hub's min-heap. */
struct mt__timer {
	uint64_t at;
	size_t index; /* in the heap, or SIZE_MAX when not in it */
};

/* A waiter's place in a wait queue (mt_hub_waitq's nodes). */
struct mt__wait_link {
	struct mt__wait_link *prev, *next;
	struct mt__waiter *waiter;
	mt_hub_waitq *queue; /* NULL when on none */
	void *item;	     /* a channel's item, handed over by the waker */
	int index;	     /* which operation of a select */
};

struct mt__waiter {
	struct mt__fiber *fiber;
	struct mt__timer timer;
	struct mt__wait_link link; /* the queue of a single-queue wait */
	struct mt__wait_link *links; /* a select's, one per channel, or NULL */
	size_t link_count;
	int result;		   /* set by the waker */
	int chosen;		   /* the link index that woke it */
	int fd;			   /* >= 0: waiting on this descriptor */
	uint32_t fd_events;	   /* MT__POLL_* ready when woken */
	bool fired;		   /* woken; queued to run */
	/* For traces only: what is waited for ("sleep", "lock"; NULL for a
	 * yield, which is no wait), and a join's greenlet. */
	const char *what;
	const struct mt_greenlet *joined;
};

/* A descriptor the hub knows. */
struct mt__fd_slot {
	struct mt__waiter *reader, *writer;
	bool registered;  /* watched by the poller */
	bool nonblocking; /* O_NONBLOCK set (by the hub or at accept) */
};

struct mt_greenlet {
	struct mt__fiber fiber; /* first: a greenlet is a fiber */
	struct mt__hub *hub;
	mt_fn fn;
	void *arg;
	int exitcode; /* MT_NOEXIT until it ends */
	bool ended, detached;
	double delay;
	mt_hub_waitq joiners;
	mt_group *group;
	struct mt__list group_node;
	struct mt__list live_node; /* in the hub's live greenlets */
	mt_greenlet *next_free;	   /* in the hub's record cache */
	double run_start_us;	   /* tracing: when its current run began, 0 unknown */
	uint32_t trace_id;	   /* tracing: its waits' track, 0 until it has one */
};

struct mt_group {
	struct mt__hub *hub;
	struct mt__list members;
	size_t size;
	bool cancelled;
	mt_hub_waitq emptied; /* mt_group_join's waiters */
};

struct mt__hub {
	mt_coro *coro; /* runs hub_loop */
	struct mt__fiber *ready_head, *ready_tail;
	mt_greenlet *current; /* the greenlet running, NULL for none */
	unsigned since_poll;  /* fibers run since the last poll */
	struct mt__poller *poller;
	struct mt__timer **heap;
	size_t timers, heap_capacity;
	struct mt__fd_slot *fds;
	size_t fd_capacity, fd_waits;
	struct mt__list live;	  /* greenlets not ended */
	size_t live_count;
	struct mt__list outsiders; /* parked outsider fibers */
	uint64_t outside_deadline; /* Timeout blocks outside greenlets */
	mt_hub_waitq idle;	   /* mt_hub_wait's waiters */
	mt_greenlet *free_records;
	size_t free_count;
	/* Read by the monitor thread, written only by the hub's thread. */
	_Atomic uint64_t switches;
	_Atomic(mt_greenlet *) running;
	pthread_t thread;
	struct mt__list monitor_node;
	uint64_t monitor_seen_switches, monitor_since_ns;
	bool monitor_reported;
	uint32_t trace_ids; /* tracing: the last greenlet's trace_id */
};

/* The calling thread's hub, made on first use; NULL on -ENOMEM. */
MT_HIDDEN struct mt__hub *mt__hub_get(void);
/* The calling thread's hub if it has one: IO outside greenlets makes none. */
MT_HIDDEN struct mt__hub *mt__hub_peek(void);

/* The running greenlet, if the current coroutine is one. */
MT_HIDDEN mt_greenlet *mt__hub_current_greenlet(struct mt__hub *h);

/* A deadline in CLOCK_MONOTONIC ns from a public timeout: MT__FOREVER for
 * < 0. Returns 0 or -EINVAL (NaN). */
MT_HIDDEN int mt__hub_deadline(double timeout, uint64_t *deadline);

MT_HIDDEN void mt__waiter_init(struct mt__waiter *w);

/* Waits until w is woken (mt__wake) or deadline (MT__FOREVER: none)
 * passes, whichever first, running other fibers meanwhile; the caller's
 * Timeout block may bring the deadline nearer. Returns w's result: the
 * waker's, -ETIMEDOUT, -ECANCELED (the caller is cancelled: also at
 * once, without waiting), -EDEADLK (outside greenlets, nothing can wake
 * it). Undoes w's timer, link and descriptor slot before returning. A
 * killed greenlet does not return. A w already fired on entry is a
 * yield. */
MT_HIDDEN int mt__park(struct mt__hub *h, struct mt__waiter *w, uint64_t deadline);

/* Wakes w's fiber with result (once: later wakes are ignored). */
MT_HIDDEN void mt__wake(struct mt__hub *h, struct mt__waiter *w, int result);

/* Queues f to run (f is not queued, and not running). */
MT_HIDDEN void mt__hub_schedule(struct mt__hub *h, struct mt__fiber *f);

/* Undoes w's timer, link and descriptor slot (mt__park does it). */
MT_HIDDEN void mt__unwait(struct mt__hub *h, struct mt__waiter *w);

/* Wakes mt_hub_wait's waiters: the last greenlet has ended. */
MT_HIDDEN void mt__hub_idle(struct mt__hub *h);

/* greenlet.c: the hub learns that g ended (its coroutine is dead); and
 * ends every greenlet at the thread's exit. */
MT_HIDDEN void mt__greenlet_ended(struct mt__hub *h, mt_greenlet *g);
MT_HIDDEN void mt__greenlet_reap_all(struct mt__hub *h);
/* Ends the calling greenlet g, killed: exit code, cleanups, the hub. */
MT_HIDDEN _Noreturn void mt__greenlet_end_killed(mt_greenlet *g);

/* Wait queues: FIFO lists of links. */
MT_HIDDEN void mt__waitq_push(mt_hub_waitq *q, struct mt__wait_link *link);
MT_HIDDEN void mt__waitq_remove(struct mt__wait_link *link);
/* The first link whose waiter has not fired yet (links of fired waiters
 * are dropped on the way), or NULL. */
MT_HIDDEN struct mt__wait_link *mt__waitq_first(mt_hub_waitq *q);
/* Wakes the first live waiter with result: true if there was one. */
MT_HIDDEN bool mt__waitq_wake_one(struct mt__hub *h, mt_hub_waitq *q, int result);
MT_HIDDEN void mt__waitq_wake_all(struct mt__hub *h, mt_hub_waitq *q, int result);
/* Wakes link's waiter with result, telling it which link woke it. */
MT_HIDDEN void mt__wake_link(struct mt__hub *h, struct mt__wait_link *link, int result);

/* hubio.c: the descriptor side of a wait, for mt__park and the loop. */
MT_HIDDEN void mt__hub_fd_unwait(struct mt__hub *h, struct mt__waiter *w);
MT_HIDDEN void mt__hub_fd_ready(struct mt__hub *h, int fd, uint32_t events);
MT_HIDDEN void mt__hub_fds_free(struct mt__hub *h);

/* hubtrace.c: greenlet runs and hub waits in the trace (trace.h), called
 * only while tracing is on. A run is a span on the thread's track named
 * after the greenlet, from its start or its last wait's end to its next
 * wait or its end (with the exit code). A wait is an async span on a
 * track of the waiting greenlet's (or of the thread's code outside
 * greenlets) named after what it waited for, with how it ended. */
MT_HIDDEN void mt__hub_trace_run_end(mt_greenlet *g, int exitcode);
/* Writes what w waits for into buf ("sleep", "read fd 5", "join g1"). */
MT_HIDDEN void mt__hub_trace_describe(struct mt__hub *h, const struct mt__waiter *w, char *buf,
				      size_t size);
MT_HIDDEN void mt__hub_trace_wait(struct mt__hub *h, mt_greenlet *g, const char *what,
				  double start_us, int result);

/* hubmonitor.c: hubs register with the monitor while they live. */
MT_HIDDEN void mt__hub_monitor_add(struct mt__hub *h);
MT_HIDDEN void mt__hub_monitor_remove(struct mt__hub *h);

#endif
