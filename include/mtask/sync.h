/* mtask/sync.h: synchronisation primitives, the C counterparts of
 * threading's Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event,
 * Barrier and Timer, usable
 * between threads and, with MT_PSHARED, between processes.
 *
 * Every primitive is a plain fixed-size struct: embed it, put it in static
 * storage (the MT_*_INIT initialisers give a ready, thread-only object) or
 * in memory shared between processes (initialise it there with MT_PSHARED,
 * e.g. in a MAP_SHARED | MAP_ANONYMOUS mapping made before mt_process_start).
 * Nothing allocates. All are built on futexes: private futexes for thread-only
 * objects, shared futexes with MT_PSHARED. A wake-up system call is made only
 * when somebody sleeps.
 *
 * Blocking calls take a timeout in seconds, as Python: < 0 waits for ever,
 * 0 only tries. They return 0 on success and -ETIMEDOUT when the deadline
 * passed (also for a timeout of 0 that could not succeed at once), -EINVAL
 * for a NaN timeout. A signal handler that interrupts a wait does not end
 * it early.
 *
 * Fork: a primitive in private memory is copied into the child in the state
 * it had; one held by another thread of the parent stays held for ever in
 * the child (the usual rule for locks and fork). Primitives made with
 * MT_PSHARED in shared memory are the same object in parent and child.
 *
 * Robust shared locks: when a thread holding an MT_PSHARED Lock or RLock
 * ends without releasing it (its process was SIGKILLed, crashed, or the
 * thread exited), the kernel marks the lock, and the next acquire takes it
 * and returns -EOWNERDEAD: the data it protects may be half-updated. Repair
 * it, call mt_lock_consistent (mt_rlock_consistent), and go on. A lock
 * released without that is beyond repair: every later acquire returns
 * -ENOTRECOVERABLE. This is POSIX's robust-mutex protocol, on 64-bit glibc
 * systems (docs/sync.md). */
#ifndef MTASK_SYNC_H
#define MTASK_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flag for the *_init calls: the object lives in memory shared between
 * processes and is used from several of them. */
#define MT_PSHARED 1

/* ---- Lock (threading.Lock, multiprocessing.Lock) ---- */

/* Not reentrant: a thread that acquires a Lock it holds waits (until its
 * timeout) as Python's does. Any thread may release a thread-only Lock, as
 * in Python; an MT_PSHARED Lock belongs to the thread holding it, which
 * alone may release it (that is what lets the kernel free it when the
 * holder dies; Python's multiprocessing.Lock has no owner). */
struct mt_cond;
typedef struct mt_lock {
	/* Thread-only: 0 free, else bits: 1 held, 2 somebody may sleep, 4
	 * the release may owe a condition's wake-up. MT_PSHARED:
	 * the holder's thread ID with the kernel's robust-futex bits. */
	uint32_t state;
	uint32_t flags;  /* MT_PSHARED */
	int32_t owner;   /* kernel thread ID of the holder, 0 when free */
	uint32_t health; /* MT_PSHARED: consistent, or left broken by a death */
	const char *name; /* for lock-order reports; NULL: "lock@ADDRESS" */
	/* MT_PSHARED: links in the holder's robust-futex list, at the same
	 * distances from state as in glibc's pthread_mutex_t. */
	void *robust_prev, *robust_next;
	/* Thread-only: the condition notified under this lock whose wake-up
	 * the release makes (docs/sync.md), NULL when none is owed. */
	struct mt_cond *owed_cond;
} mt_lock;

#define MT_LOCK_INIT {0, 0, 0, 0, NULL, NULL, NULL, NULL}
#define MT_LOCK_INIT_NAMED(name) {0, 0, 0, 0, (name), NULL, NULL, NULL}

/* mt_lock_init - make l a free lock; flags is 0 or MT_PSHARED. Returns 0, or
 * -EINVAL for unknown flags. */
MT_EXPORT int mt_lock_init(mt_lock *l, int flags);

/* mt_lock_acquire - take l, waiting up to timeout seconds. Returns 0 (held
 * now) or -ETIMEDOUT. Safe from any thread, and from any process for a
 * MT_PSHARED lock, which may also return:
 *   -EOWNERDEAD       held now, but the previous holder ended while holding
 *                     it: repair the data, then mt_lock_consistent;
 *   -ENOTRECOVERABLE  not held: a holder got -EOWNERDEAD and released the
 *                     lock without mt_lock_consistent; it stays unusable. */
MT_EXPORT int mt_lock_acquire(mt_lock *l, double timeout);

/* mt_lock_release - free l and wake one waiter. Returns 0, or -EPERM when l
 * is not held (Python's RuntimeError) or, for an MT_PSHARED lock, is held
 * by another thread. */
MT_EXPORT int mt_lock_release(mt_lock *l);

/* mt_lock_consistent - after mt_lock_acquire returned -EOWNERDEAD, declare
 * the protected data repaired, so that l is an ordinary lock again
 * (pthread_mutex_consistent). Returns 0, -EPERM when the calling thread does
 * not hold l, -EINVAL when l is not waiting for repair. */
MT_EXPORT int mt_lock_consistent(mt_lock *l);

/* mt_lock_locked - true while somebody holds l (Lock.locked()). */
MT_EXPORT bool mt_lock_locked(const mt_lock *l);

/* mt_lock_set_name - name l in lock-order reports. The string must live as
 * long as the lock (a literal is typical); with MT_PSHARED it must be at the
 * same address in every process, as after a fork. */
MT_EXPORT void mt_lock_set_name(mt_lock *l, const char *name);

/* ---- Lock-order checking ----
 *
 * Off by default; on with MTASK_LOCKCHECK=1 in the environment or
 * mt_lockcheck_enable(true). While on, the library records, per thread, the
 * order in which Locks and RLocks are taken. The first time a thread is
 * about to take a lock in an order that contradicts one seen before (A then
 * B here, B then A earlier, directly or through a chain), it prints to
 * standard error both acquisition paths, with lock and thread names and
 * backtraces, before it waits: the deadlock is reported although it has not
 * happened, and whether or not it would. Each pair is reported once. The
 * check costs a few hundred nanoseconds per acquisition while on and one
 * load while off. Orders are recorded per process. */

/* mt_lockcheck_enable - turn checking on or off; returns the old setting.
 * Turn it on before the threads start taking locks. */
MT_EXPORT bool mt_lockcheck_enable(bool on);

/* mt_lockcheck_reports - how many inversions were reported so far. */
MT_EXPORT unsigned mt_lockcheck_reports(void);

/* ---- Deadlock watchdog ----
 *
 * Off by default; on with MTASK_WATCHDOG=SECONDS in the environment
 * (MTASK_WATCHDOG_ABORT=1 to abort after the report) or mt_watchdog_enable.
 * While on, a thread that has waited `seconds` for a Lock or RLock looks at
 * who holds it, what that thread waits for, and so on; if the chain comes
 * back to itself, the threads really are deadlocked, and it prints the
 * cycle (threads, locks and holders) to standard error, once per cycle, then
 * aborts if asked and otherwise goes on waiting. Costs nothing while off and
 * nothing on the uncontended path while on. Within one process. */

/* mt_watchdog_enable - check waits longer than seconds (> 0), or turn the
 * watchdog off (0). Returns 0 or -EINVAL. */
MT_EXPORT int mt_watchdog_enable(double seconds, bool abort_on_deadlock);

/* mt_watchdog_reports - how many deadlocks were reported so far. */
MT_EXPORT unsigned mt_watchdog_reports(void);

/* ---- RLock (threading.RLock) ---- */

/* Reentrant: the holding thread may acquire it again; it is free once
 * released as many times. Only the holder may release it. */
typedef struct mt_rlock {
	mt_lock lock;
	int32_t owner;  /* kernel thread ID of the holder, 0 when free */
	uint32_t count; /* acquisitions by the holder not yet released */
} mt_rlock;

#define MT_RLOCK_INIT {MT_LOCK_INIT, 0, 0}

/* mt_rlock_init - make r a free reentrant lock; flags 0 or MT_PSHARED. */
MT_EXPORT int mt_rlock_init(mt_rlock *r, int flags);

/* mt_rlock_acquire - take r, or count one more acquisition if the calling
 * thread holds it already. Returns 0 or -ETIMEDOUT, and for an MT_PSHARED
 * RLock -EOWNERDEAD (held once now) or -ENOTRECOVERABLE as mt_lock_acquire. */
MT_EXPORT int mt_rlock_acquire(mt_rlock *r, double timeout);

/* mt_rlock_release - undo one acquisition; the last one frees r. Returns 0,
 * or -EPERM when the calling thread does not hold r. */
MT_EXPORT int mt_rlock_release(mt_rlock *r);

/* mt_rlock_consistent - mt_lock_consistent for an RLock. */
MT_EXPORT int mt_rlock_consistent(mt_rlock *r);

/* ---- Semaphore and BoundedSemaphore ---- */

typedef struct mt_sem {
	uint32_t value;    /* what acquire may take now */
	uint32_t flags;    /* MT_PSHARED, and whether it is bounded */
	uint32_t bound;    /* the initial value, for a bounded semaphore */
	uint32_t sleepers; /* threads waiting for value > 0 */
} mt_sem;

#define MT_SEM_INIT(value) {(value), 0, 0, 0}

/* mt_sem_init - a Semaphore(value); flags 0 or MT_PSHARED. */
MT_EXPORT int mt_sem_init(mt_sem *s, unsigned value, int flags);

/* mt_sem_init_bounded - a BoundedSemaphore(value): releasing it above value
 * is an error. */
MT_EXPORT int mt_sem_init_bounded(mt_sem *s, unsigned value, int flags);

/* mt_sem_acquire - take one unit, waiting up to timeout seconds while there
 * is none. Returns 0 or -ETIMEDOUT. */
MT_EXPORT int mt_sem_acquire(mt_sem *s, double timeout);

/* mt_sem_release - give back n units (n >= 1) and wake up to n waiters.
 * Returns 0, -EINVAL for n == 0, or -EINVAL when a bounded semaphore would
 * exceed its initial value (Python's ValueError; nothing is released then),
 * -EOVERFLOW when the value would pass UINT32_MAX. */
MT_EXPORT int mt_sem_release(mt_sem *s, unsigned n);

/* mt_sem_value - the value now (a snapshot: it may change at once). */
MT_EXPORT unsigned mt_sem_value(const mt_sem *s);

/* ---- Condition (threading.Condition) ---- */

/* A condition is used with a lock the waiter holds: an mt_lock, or an
 * mt_rlock (Python's default). notify(n) wakes at most n of the threads
 * that were waiting when it was called, oldest first; a thread that starts
 * waiting later is not woken by it. Hold the lock when you notify, as
 * Python requires; mtask does not check it there. When the notifying
 * thread holds the lock (thread-only objects), the waiters are woken as it
 * releases the lock, so that they do not wake to find it held. As in
 * POSIX, the threads waiting at any one time must all use the same lock. */
typedef struct mt_cond {
	uint32_t seq;     /* bumped by every notify that wakes somebody */
	uint32_t waiters; /* threads inside a wait */
	uint32_t signals; /* wake-ups granted and not yet taken */
	uint32_t flags;   /* MT_PSHARED */
	/* Thread-only: the lock of the latest wait, and the wake-ups a notify
	 * under it left for that lock's release to make. */
	struct mt_lock *lock;
	uint32_t owed;
	uint32_t reserved;
} mt_cond;

#define MT_COND_INIT {0, 0, 0, 0, NULL, 0, 0}

/* mt_cond_init - a condition; flags 0 or MT_PSHARED (then its lock must be
 * MT_PSHARED too). */
MT_EXPORT int mt_cond_init(mt_cond *c, int flags);

/* mt_cond_wait - release l, wait for a notify (or the timeout), take l
 * again, as Condition.wait. Returns 0 when notified, -ETIMEDOUT, -EPERM when
 * the calling thread does not hold l (Python's RuntimeError), -EINVAL for
 * a NaN timeout; with MT_PSHARED, -EOWNERDEAD when l's holder died while
 * this thread waited (l is held; see mt_lock_acquire) and -ENOTRECOVERABLE.
 * l is held again on every return but -EPERM, -EINVAL and -ENOTRECOVERABLE. */
MT_EXPORT int mt_cond_wait(mt_cond *c, mt_lock *l, double timeout);

/* mt_cond_wait_rlock - the same with an RLock, released and retaken
 * however many times the caller holds it. */
MT_EXPORT int mt_cond_wait_rlock(mt_cond *c, mt_rlock *r, double timeout);

/* mt_cond_wait_for - wait until predicate(arg) is true, as
 * Condition.wait_for: checks it first, then after each wake-up, with l held.
 * Returns 0 once it is true, -ETIMEDOUT if it is still false at the
 * deadline, -EPERM or -EINVAL as mt_cond_wait. */
MT_EXPORT int mt_cond_wait_for(mt_cond *c, mt_lock *l, bool (*predicate)(void *arg),
			       void *arg, double timeout);

/* mt_cond_notify - wake at most n waiters (notify(n)). */
MT_EXPORT void mt_cond_notify(mt_cond *c, unsigned n);

/* mt_cond_notify_all - wake every waiter (notify_all()). */
MT_EXPORT void mt_cond_notify_all(mt_cond *c);

/* ---- Barrier (threading.Barrier) ---- */

/* parties threads meet; the last to arrive runs the action (if any) and
 * releases the others. A wait that times out, mt_barrier_abort, or
 * mt_barrier_reset with threads waiting breaks the barrier: waiters then
 * get -ECANCELED (Python's BrokenBarrierError), the timed-out thread itself
 * -ETIMEDOUT. A broken barrier stays broken until mt_barrier_reset. */
typedef struct mt_barrier {
	mt_lock lock;
	mt_cond cond;
	uint32_t parties;
	int32_t state;  /* filling, draining, resetting or broken */
	uint32_t count; /* threads inside a wait */
	uint32_t flags;
	void (*action)(void *arg);
	void *action_arg;
} mt_barrier;

/* mt_barrier_init - a barrier for parties (>= 1) threads; action, if not
 * NULL, runs in the last thread to arrive, before the others are released
 * (with MT_PSHARED it must be valid in every process, as after a fork).
 * Returns 0 or -EINVAL. */
MT_EXPORT int mt_barrier_init(mt_barrier *b, unsigned parties, void (*action)(void *arg),
			      void *action_arg, int flags);

/* mt_barrier_wait - wait until parties threads have called it. Returns the
 * thread's arrival index (0 to parties - 1, each once, as Python), or
 * -ETIMEDOUT (this thread's timeout broke the barrier), -ECANCELED (the
 * barrier is or was broken), -EINVAL for a NaN timeout. */
MT_EXPORT int mt_barrier_wait(mt_barrier *b, double timeout);

/* mt_barrier_abort - break the barrier: current and future waits return
 * -ECANCELED until mt_barrier_reset. */
MT_EXPORT void mt_barrier_abort(mt_barrier *b);

/* mt_barrier_reset - return to the empty state; threads waiting now get
 * -ECANCELED. */
MT_EXPORT void mt_barrier_reset(mt_barrier *b);

/* mt_barrier_n_waiting - how many threads wait now (a snapshot). */
MT_EXPORT unsigned mt_barrier_n_waiting(mt_barrier *b);

/* mt_barrier_broken - true while the barrier is broken. */
MT_EXPORT bool mt_barrier_broken(mt_barrier *b);

/* ---- Timer (threading.Timer) ---- */

/* A thread that runs fn(arg) after interval seconds unless cancelled first.
 * Unlike the other objects here it allocates (it is a thread): free it with
 * mt_timer_free. Thread-only. */
typedef struct mt_timer mt_timer;

/* mt_timer_start - start the timer (Timer(interval, fn, args).start()).
 * opts name and daemon its thread (NULL: defaults; non-daemon timers hold up
 * program exit as other threads do). Returns 0, -EINVAL, or mt_thread_start's
 * errors. */
struct mt_thread_opts;
MT_EXPORT int mt_timer_start(mt_timer **t, double interval, mt_fn fn, void *arg,
			     const struct mt_thread_opts *opts);

/* mt_timer_cancel - stop the timer if fn has not started: returns 0, or
 * -EALREADY when fn already runs or ran. */
MT_EXPORT int mt_timer_cancel(mt_timer *t);

/* mt_timer_join - wait for the timer's thread (fn's end, or the cancel).
 * Returns 0 or -ETIMEDOUT; mt_timer_exitcode then tells fn's return value,
 * or MT_NOEXIT when it was cancelled. */
MT_EXPORT int mt_timer_join(mt_timer *t, double timeout);

/* mt_timer_exitcode - fn's return value, MT_NOEXIT until it returned or
 * when the timer was cancelled. */
MT_EXPORT int mt_timer_exitcode(mt_timer *t);

/* mt_timer_free - release the handle; a timer still pending goes on. */
MT_EXPORT void mt_timer_free(mt_timer *t);

/* ---- Event (threading.Event, multiprocessing.Event) ---- */

typedef struct mt_event {
	uint32_t state; /* 0 clear, 1 set, 2 clear and somebody sleeps */
	uint32_t flags; /* MT_PSHARED */
} mt_event;

#define MT_EVENT_INIT {0, 0}

/* mt_event_init - a clear event; flags 0 or MT_PSHARED. */
MT_EXPORT int mt_event_init(mt_event *e, int flags);

/* mt_event_set - set e and wake every waiter. */
MT_EXPORT void mt_event_set(mt_event *e);

/* mt_event_clear - clear e; later waits block until the next set. */
MT_EXPORT void mt_event_clear(mt_event *e);

/* mt_event_is_set - true while e is set. */
MT_EXPORT bool mt_event_is_set(const mt_event *e);

/* mt_event_wait - wait until e is set, up to timeout seconds. Returns 0
 * (set) or -ETIMEDOUT (Python's wait() returning False). */
MT_EXPORT int mt_event_wait(mt_event *e, double timeout);

#ifdef __cplusplus
}
#endif
#endif
