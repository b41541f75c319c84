/* mtask/hub.h: gevent in C: greenlets scheduled by a hub that waits on
 * timers and file descriptors, IO calls that yield inside a greenlet and
 * block outside one, groups that cancel together, and coroutine-aware
 * locks, events, semaphores and channels.
 *
 * The hub. Every thread has a hub of its own, made on first use: a
 * scheduler (a queue of greenlets ready to run) and an event loop (epoll,
 * or io_uring with MTASK_HUB_BACKEND=uring: mt_hub_backend) on a
 * coroutine of its own (coro.h). A greenlet is a coroutine the hub
 * runs: mt_greenlet_spawn queues it, and it runs when the code that
 * spawned it waits in the hub. A greenlet runs until it makes a blocking
 * hub call (sleep, join, an IO call that would block, a lock, a channel),
 * and the hub then runs the next ready greenlet, or waits for a timer or
 * a descriptor when none is ready. Nothing preempts a greenlet: a long
 * computation or a plain blocking C call holds up every greenlet of its
 * thread (mt_hub_monitor_start reports such greenlets).
 *
 * Inside and outside. Code that is not a greenlet (main, a thread's
 * function, a coroutine of coro.h) may call the waiting calls too:
 * mt_greenlet_join, mt_greenlet_joinall, mt_hub_sleep, mt_hub_yield, the
 * locks, events, semaphores and channels run the hub until they are
 * done, so a program that never spawned a greenlet before the first join
 * needs no set-up. The IO calls (mt_recv, mt_send, ...) are different:
 * outside a greenlet they block the caller like the libc call they wrap
 * (with the timeout honoured) and run no greenlet meanwhile. Inside a
 * greenlet they yield to the hub while the descriptor is not ready: the
 * effect of gevent's monkey-patching, without patching.
 *
 * Timeouts are double seconds: < 0 waits for ever, 0 only checks, NaN is
 * -EINVAL; each call turns its timeout into one CLOCK_MONOTONIC deadline
 * on entry. A wait that reaches it returns -ETIMEDOUT. An mt_timeout
 * block (gevent's Timeout) bounds every wait of a stretch of code.
 *
 * Cancellation. mt_group_cancel and mt_greenlet_kill cancel greenlets: a
 * cancelled greenlet's waiting call returns -ECANCELED at once, and so
 * does every later one, so that the greenlet can clean up and return. A
 * killed greenlet is ended at that call, without returning from it: its
 * coro.h cleanups (mt_coro_defer) run, newest first, and its frames are
 * abandoned (gevent's GreenletExit).
 *
 * Errors are negative errno values as everywhere in mtask; -EDEADLK is
 * gevent's LoopExit: the caller waits outside any greenlet, but nothing
 * ready, no timer and no descriptor wait can ever wake it.
 *
 * Threads. A hub and everything it runs belong to one thread: greenlets,
 * groups, hub locks, events, semaphores and channels must be used only
 * by the thread that made them (first used them, for the plain structs).
 * They are not for sharing between threads; use the primitives of
 * sync.h and queue.h for that. Several threads run several hubs side by
 * side: a server runs one hub per core, each with its own listening
 * socket bound with SO_REUSEPORT (examples/hub_reuseport.c).
 *
 * Fork. A child forked by a greenlet continues in that greenlet, with a
 * copy of the hub whose epoll (or io_uring) instance it shares with its
 * parent; it should only exec or _exit, or return to code outside the hub
 * and never use it again. */
#ifndef MTASK_HUB_H
#define MTASK_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- greenlets: spawn, join, kill ---- */

typedef struct mt_greenlet mt_greenlet;
typedef struct mt_group mt_group;

/* Options of mt_greenlet_spawn; NULL means all defaults. */
typedef struct mt_greenlet_opts {
	const char *name;  /* for messages and traces; NULL: "coro-N" */
	size_t stack_size; /* 0: MT_CORO_STACK_DEFAULT (256 KiB, virtual) */
	mt_group *group;   /* NULL, or the group it belongs to */
	double delay;      /* > 0: start after this many seconds (spawn_later) */
} mt_greenlet_opts;

/* mt_greenlet_spawn - create a greenlet that will run fn(arg) on the
 * calling thread's hub, gevent.spawn(). It is queued, not run: it starts
 * once the caller waits in the hub (or, with opts->delay, once that
 * delay has passed). fn's return value is its exit code.
 *
 * With g NULL the greenlet is detached: the hub frees it when it ends
 * (the way a server spawns one greenlet per connection). Otherwise *g is
 * a handle for mt_greenlet_join and the others, freed with
 * mt_greenlet_free. Stacks and records come from per-thread caches, so a
 * spawn usually makes no system call and no allocation.
 *
 * Returns 0, -EINVAL (fn NULL, bad options), -ECANCELED (opts->group is
 * cancelled or closed), -ENOMEM. Calling thread only. */
MT_EXPORT int mt_greenlet_spawn(mt_greenlet **g, mt_fn fn, void *arg,
				const mt_greenlet_opts *opts);

/* mt_greenlet_join - wait until g ends, at most timeout seconds. Inside
 * a greenlet the wait yields; outside one it runs the hub. Returns 0
 * once g has ended (at once if it had), -ETIMEDOUT, -ECANCELED (the
 * caller is a cancelled greenlet), -EDEADLK (outside a greenlet, when
 * nothing can ever end g, or g is the caller itself), -EINVAL (NULL,
 * NaN timeout), -EPERM (g of another thread). */
MT_EXPORT int mt_greenlet_join(mt_greenlet *g, double timeout);

/* mt_greenlet_joinall - wait until all n greenlets of gs have ended, one
 * deadline for all, gevent.joinall(). NULL entries are skipped. Returns
 * 0, or the first error as mt_greenlet_join (-ETIMEDOUT when some are
 * still running at the deadline). */
MT_EXPORT int mt_greenlet_joinall(mt_greenlet *const *gs, size_t n, double timeout);

/* mt_greenlet_kill - end g, gevent's kill(): g's current or next waiting
 * call does not return; instead g's coro.h cleanups run, newest first,
 * and g ends with exit code -ECANCELED. A g that has not started never
 * runs fn. Then waits for g's end, at most timeout seconds (0: does not
 * wait, g ends when the hub next runs it). Killing the calling greenlet
 * ends it at once (the call does not return). Cleanups may wait in the
 * hub; their waits return -ECANCELED at once. Returns 0 (g has ended, or
 * with timeout 0 will), -ETIMEDOUT (still running its cleanups), and the
 * errors of mt_greenlet_join. Killing an ended greenlet does nothing. */
MT_EXPORT int mt_greenlet_kill(mt_greenlet *g, double timeout);

/* mt_greenlet_cancel - make g's current waiting call and all its later
 * ones return -ECANCELED, so that g finishes by itself (libdill's
 * cancellation; a group's cancel does this to each member). Returns 0,
 * -EINVAL, -EPERM. Does nothing to an ended greenlet. */
MT_EXPORT int mt_greenlet_cancel(mt_greenlet *g);

/* mt_greenlet_dead - g has ended (returned, killed, or never started
 * because killed); gevent's ready(). */
MT_EXPORT bool mt_greenlet_dead(const mt_greenlet *g);

/* mt_greenlet_exitcode - fn's return value once g has ended; -ECANCELED
 * if it was killed; MT_NOEXIT while it has not ended. */
MT_EXPORT int mt_greenlet_exitcode(const mt_greenlet *g);

/* mt_greenlet_killed - g ended through mt_greenlet_kill. */
MT_EXPORT bool mt_greenlet_killed(const mt_greenlet *g);

/* mt_greenlet_name - g's name: the one given at spawn, else "coro-N". */
MT_EXPORT const char *mt_greenlet_name(const mt_greenlet *g);

/* mt_greenlet_current - the greenlet running now, NULL outside any. */
MT_EXPORT mt_greenlet *mt_greenlet_current(void);

/* mt_greenlet_free - release g. A running g is first killed and waited
 * for (its cleanups run); so free a greenlet you still want to finish
 * only after mt_greenlet_join. Freeing the calling greenlet's own handle
 * makes it detached: the hub frees it when it ends. NULL is ignored. */
MT_EXPORT void mt_greenlet_free(mt_greenlet *g);

/* ---- the hub: sleep, yield, and its loop ---- */

/* mt_hub_sleep - wait seconds, letting other greenlets run; gevent.sleep.
 * mt_hub_sleep(0) yields: every greenlet ready now runs before the
 * caller goes on (outside a greenlet: the hub runs one round). Returns
 * 0, -ETIMEDOUT when an mt_timeout block ends the sleep early,
 * -ECANCELED, -EINVAL (NaN or negative seconds). */
MT_EXPORT int mt_hub_sleep(double seconds);

/* mt_hub_yield - mt_hub_sleep(0). */
MT_EXPORT int mt_hub_yield(void);

/* mt_hub_wait - run the hub until no greenlet is left: every spawned
 * greenlet has ended, or is waiting on something that nothing can wake
 * (gevent's gevent.wait()), at most timeout seconds. Returns 0 when
 * none is left alive, -EDEADLK when some are left waiting for ever,
 * -ETIMEDOUT, -EPERM inside a greenlet. */
MT_EXPORT int mt_hub_wait(double timeout);

/* mt_hub_live - the number of greenlets of the calling thread's hub that
 * have not ended. */
MT_EXPORT size_t mt_hub_live(void);

/* mt_hub_backend - the readiness backend of the calling thread's hub
 * (made now if the thread has none): "epoll" or "uring", as chosen by
 * the environment variable MTASK_HUB_BACKEND=epoll|uring when the hub was
 * made (epoll by default, and when io_uring cannot be had); "none" if
 * the hub could not be made (out of memory). */
MT_EXPORT const char *mt_hub_backend(void);

/* ---- Timeout: a deadline over a block of calls ---- */

/* One Timeout block, gevent's `with Timeout(seconds):`, kept by the
 * caller (on its stack). Plain struct; fields are private. */
typedef struct mt_timeout {
	uint64_t deadline_ns; /* this block's own deadline */
	uint64_t outer_ns;    /* the enclosing blocks' deadline, restored at end */
	void *owner;	      /* the greenlet (or NULL: outside) that began it */
} mt_timeout;

/* mt_timeout_begin - from now on until mt_timeout_end, every waiting hub
 * call of the calling greenlet (or, outside greenlets, of the thread's
 * code outside them) returns -ETIMEDOUT once seconds have passed, even
 * one with a longer timeout of its own. Blocks nest: an inner block can
 * only shorten the outer one's. Returns 0, -EINVAL (NULL, NaN; seconds <
 * 0 is a block without a deadline). */
MT_EXPORT int mt_timeout_begin(mt_timeout *t, double seconds);

/* mt_timeout_expired - t's deadline has passed: tells a -ETIMEDOUT that
 * came from the block from one that came from a call's own timeout. */
MT_EXPORT bool mt_timeout_expired(const mt_timeout *t);

/* mt_timeout_end - end the block begun with t, restoring the enclosing
 * block's deadline. Blocks end in the reverse order of their begins. */
MT_EXPORT void mt_timeout_end(mt_timeout *t);

/* ---- groups: structured lifetimes ---- */

/* mt_group_new - an empty group (libdill's bundle, gevent's Group).
 * Greenlets join it at spawn (mt_greenlet_opts.group) and leave it when
 * they end. Returns 0, -EINVAL, -ENOMEM. */
MT_EXPORT int mt_group_new(mt_group **grp);

/* mt_group_size - the number of its greenlets that have not ended. */
MT_EXPORT size_t mt_group_size(const mt_group *grp);

/* mt_group_join - wait until every greenlet of grp has ended, at most
 * timeout seconds. Returns 0, and mt_greenlet_join's errors. */
MT_EXPORT int mt_group_join(mt_group *grp, double timeout);

/* mt_group_cancel - cancel every greenlet of grp (mt_greenlet_cancel),
 * and refuse new ones (-ECANCELED at spawn). Returns 0, -EINVAL. */
MT_EXPORT int mt_group_cancel(mt_group *grp);

/* mt_group_close - cancel grp, wait at most timeout seconds for its
 * greenlets to finish their cleanup and end, kill those still running
 * then (waiting for their cleanups), and free grp. Joinable members stay
 * valid handles for mt_greenlet_free. Returns 0 when all ended by
 * themselves, -ETIMEDOUT when some had to be killed, -ECANCELED (the
 * caller is a cancelled greenlet: members were killed). Called from a
 * member of grp: -EDEADLK, nothing done. */
MT_EXPORT int mt_group_close(mt_group *grp, double timeout);

/* ---- IO that yields inside a greenlet ---- */

/* Events for mt_wait_fd. */
#define MT_READABLE 1
#define MT_WRITABLE 2

/* mt_wait_fd - wait until fd is readable or writable (events: an OR of
 * MT_READABLE, MT_WRITABLE), gevent's wait_read/wait_write. Returns the
 * events that are ready (an error or hang-up counts as both), or
 * -ETIMEDOUT, -ECANCELED, -EBADF, -EINVAL, -EBUSY (inside a greenlet,
 * another greenlet waits for the same event on fd: gevent's
 * ConcurrentObjectUseError). */
MT_EXPORT int mt_wait_fd(int fd, int events, double timeout);

/* The IO calls: the libc call of the same name with a timeout. Each
 * returns what the libc call returns on success (a byte count, a
 * descriptor, 0), or the negative errno it failed with, or -ETIMEDOUT
 * when fd did not become ready in time, -ECANCELED, -EBUSY (see
 * mt_wait_fd). EINTR is retried. A call that transfers some bytes and
 * would then block returns the count so far, as the libc call would.
 *
 * Inside a greenlet the descriptor is switched to non-blocking mode the
 * first time it waits, stays so, and is registered with the hub's poller
 * until mt_close (close descriptors the hub has waited on with mt_close,
 * or a later descriptor with the same number may wait in vain; with
 * io_uring a plain close(2) also leaves the socket open while the hub
 * watches it). Outside
 * a greenlet the calls poll(2) the descriptor, whatever its mode, and
 * run no greenlet meanwhile.
 *
 * mt_accept's descriptor is close-on-exec, and non-blocking when accepted
 * inside a greenlet. mt_connect waits for a non-blocking connect to
 * complete and returns its outcome (-ECONNREFUSED...). */
MT_EXPORT int mt_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, double timeout);
MT_EXPORT int mt_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
			 double timeout);
MT_EXPORT ssize_t mt_recv(int fd, void *buf, size_t len, int flags, double timeout);
MT_EXPORT ssize_t mt_send(int fd, const void *buf, size_t len, int flags, double timeout);
MT_EXPORT ssize_t mt_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			      socklen_t *addrlen, double timeout);
MT_EXPORT ssize_t mt_sendto(int fd, const void *buf, size_t len, int flags,
			    const struct sockaddr *addr, socklen_t addrlen, double timeout);
MT_EXPORT ssize_t mt_read(int fd, void *buf, size_t len, double timeout);
MT_EXPORT ssize_t mt_write(int fd, const void *buf, size_t len, double timeout);

/* mt_close - forget fd in the calling thread's hub (greenlets waiting on
 * it get -EBADF), then close(2) it. Returns 0 or close's negative errno. */
MT_EXPORT int mt_close(int fd);

/* ---- Lock, Event, Semaphore for greenlets ----
 *
 * Plain structs, zero-initialised ready to use (or with their _INIT
 * macros); no allocation, no destroy. They belong to the thread that
 * uses them; waiting outside a greenlet runs the hub. Waiters are woken
 * in the order they came. Their fields are private. */

typedef struct mt_hub_waitq {
	void *head, *tail;
} mt_hub_waitq;

typedef struct mt_hub_lock {
	mt_hub_waitq waiters;
	void *holder; /* the greenlet (or outside fiber) holding it, NULL free */
} mt_hub_lock;
#define MT_HUB_LOCK_INIT {{NULL, NULL}, NULL}

/* mt_hub_lock_acquire - take l, waiting at most timeout seconds while
 * another greenlet holds it. Not recursive. Returns 0, -ETIMEDOUT,
 * -ECANCELED, -EDEADLK (the caller holds it already), -EINVAL. */
MT_EXPORT int mt_hub_lock_acquire(mt_hub_lock *l, double timeout);

/* mt_hub_lock_release - free l, handing it to its first waiter. Returns
 * 0, -EPERM (the caller does not hold it), -EINVAL. */
MT_EXPORT int mt_hub_lock_release(mt_hub_lock *l);

typedef struct mt_hub_event {
	mt_hub_waitq waiters;
	bool set;
} mt_hub_event;
#define MT_HUB_EVENT_INIT {{NULL, NULL}, false}

/* mt_hub_event_set - set e and wake every waiter (they run when the
 * caller next waits). mt_hub_event_clear - clear it.
 * mt_hub_event_is_set - whether it is set. */
MT_EXPORT void mt_hub_event_set(mt_hub_event *e);
MT_EXPORT void mt_hub_event_clear(mt_hub_event *e);
MT_EXPORT bool mt_hub_event_is_set(const mt_hub_event *e);

/* mt_hub_event_wait - wait until e is set, at most timeout seconds.
 * Returns 0, -ETIMEDOUT, -ECANCELED, -EINVAL. */
MT_EXPORT int mt_hub_event_wait(mt_hub_event *e, double timeout);

typedef struct mt_hub_sem {
	mt_hub_waitq waiters;
	unsigned value;
} mt_hub_sem;
#define MT_HUB_SEM_INIT(value) {{NULL, NULL}, (value)}

/* mt_hub_sem_init - set s's value (no waiter may be waiting). */
MT_EXPORT int mt_hub_sem_init(mt_hub_sem *s, unsigned value);

/* mt_hub_sem_acquire - take one unit of s, waiting at most timeout
 * seconds while it is 0. Returns 0, -ETIMEDOUT, -ECANCELED, -EINVAL. */
MT_EXPORT int mt_hub_sem_acquire(mt_hub_sem *s, double timeout);

/* mt_hub_sem_release - give one unit back, to the first waiter if any.
 * Returns 0, -EOVERFLOW, -EINVAL. */
MT_EXPORT int mt_hub_sem_release(mt_hub_sem *s);

/* ---- channels ---- */

typedef struct mt_chan mt_chan;

/* mt_chan_new - a channel of pointers holding at most capacity items (0:
 * unbuffered, a send waits for a receiver: a rendezvous). Returns 0,
 * -EINVAL, -ENOMEM. */
MT_EXPORT int mt_chan_new(mt_chan **ch, size_t capacity);

/* mt_chan_send - put item in ch, waiting at most timeout seconds for
 * room (or, unbuffered, for a receiver). Returns 0, -EAGAIN (timeout 0
 * and no room: Python's Full), -ETIMEDOUT, -EPIPE (ch is closed, also
 * while waiting), -ECANCELED, -EINVAL. */
MT_EXPORT int mt_chan_send(mt_chan *ch, void *item, double timeout);

/* mt_chan_recv - take the oldest item of ch into *item, waiting at most
 * timeout seconds. Returns 0, -EAGAIN (timeout 0 and empty), -ETIMEDOUT,
 * -EPIPE (closed and drained: the items sent before close are still
 * received), -ECANCELED, -EINVAL. */
MT_EXPORT int mt_chan_recv(mt_chan *ch, void **item, double timeout);

/* mt_chan_close - close ch: waiting senders and receivers of an empty
 * channel get -EPIPE, later sends -EPIPE. Returns 0, -EINVAL,
 * -EALREADY. */
MT_EXPORT int mt_chan_close(mt_chan *ch);

/* mt_chan_len - the number of items buffered in ch. */
MT_EXPORT size_t mt_chan_len(const mt_chan *ch);

/* mt_chan_free - release ch; nobody may be waiting on it. */
MT_EXPORT void mt_chan_free(mt_chan *ch);

/* One operation of mt_chan_select. */
enum { MT_CHAN_SEND, MT_CHAN_RECV };
typedef struct mt_chan_op {
	mt_chan *ch;
	int op;	    /* MT_CHAN_SEND or MT_CHAN_RECV */
	void *item; /* SEND: what to send; RECV: what was received */
	int err;    /* the chosen op's outcome: 0, or -EPIPE (closed) */
} mt_chan_op;

/* mt_chan_select - wait until one of the n operations can complete, do
 * it and return its index, at most timeout seconds (Go's select). When
 * several can, the first in ops wins. An operation on a closed channel
 * completes with err -EPIPE. Returns the index, -EAGAIN (timeout 0 and
 * none ready), -ETIMEDOUT, -ECANCELED, -EINVAL (NULL, n 0 or more than
 * MT_CHAN_SELECT_MAX, a bad op). */
#define MT_CHAN_SELECT_MAX 64
MT_EXPORT int mt_chan_select(mt_chan_op *ops, size_t n, double timeout);

/* ---- the monitor ---- */

/* mt_hub_monitor_start - start a watchdog thread that checks every
 * threshold / 2 seconds whether some hub's greenlet has run longer than
 * threshold seconds without yielding (a blocking C call, a long loop),
 * and if so writes to stderr the greenlet's name, how long it has run and
 * the backtrace of its thread, once per such stretch. The environment
 * variable MTASK_HUB_MONITOR=SECONDS starts it at load. Returns 0,
 * -EALREADY, -EINVAL (threshold <= 0 or NaN), or a thread start error. */
MT_EXPORT int mt_hub_monitor_start(double threshold);

/* mt_hub_monitor_stop - stop the watchdog thread. Returns 0, -ENOENT. */
MT_EXPORT int mt_hub_monitor_stop(void);

#ifdef __cplusplus
}
#endif
#endif
