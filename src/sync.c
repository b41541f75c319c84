/* sync.c: Lock, RLock, Condition, Semaphore and Event on futexes.
 *
 * The public structs hold plain uint32_t words so that the header stays
 * valid C and C++; this file accesses them as _Atomic uint32_t, which has
 * the same size and representation (asserted below).
 *
 * Lock is the futex mutex of Drepper's "Futexes Are Tricky", its states
 * kept as bits (syncword.h): 0 free, LOCK_HELD, and with it LOCK_SLEEPERS
 * (maybe somebody sleeps) and LOCK_OWED (the release may owe a
 * condition's wake-up, see cond.c). Acquiring tries one compare-and-swap
 * 0 -> held, then exchanges in LOCK_CONTENDED (all three bits, so that a
 * waiter never takes out a LOCK_OWED the holder put in) and sleeps on the
 * word while it was held; releasing swaps in 0 and, when the word was
 * anything but LOCK_HELD, wakes one sleeper and pays what it owes. Only the
 * holder sets owed_cond and only its release clears it, before the word is
 * freed; a free word is always 0. It does not spin:
 * measured under contention (bench/sync.c), a spinning waiter snatches the
 * lock in the gap between its holder's release and next acquire, so the
 * lock and its cache line bounce between CPUs, at 2x pthread's cost with
 * 100 spins. A waiter yields its CPU a few times before it marks the word
 * instead (see lock_wait). While the process has a single thread (glibc's
 * __libc_single_threaded), a private lock needs no atomic instruction, and
 * takes none, as glibc's mutexes do. Python lets any thread release a Lock, so the holder's
 * thread ID is kept for diagnostics (and RLock and Condition), not checked.
 * An MT_PSHARED lock is different: its word holds the holder's thread ID
 * so that the kernel can free it when the holder dies (robust.c).
 *
 * Condition is in cond.c, Barrier in barrier.c, Timer in timer.c.
 *
 * Event keeps its flag, a "somebody sleeps" bit and a count of set() calls
 * in one word. A waiter returns success if the flag is set or if a set()
 * happened since it began waiting, even if clear() followed at once: that
 * is Python's Event.wait, which returns True to every waiter a set() woke. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/single_threaded.h>

#include "syncword.h"

_Static_assert(sizeof(mt_lock) == 48, "mt_lock's size is part of the ABI");
_Static_assert(sizeof(void *) != 8 || (offsetof(mt_lock, robust_prev) == 24 &&
					offsetof(mt_lock, robust_next) == 32),
	       "robust links where a 64-bit pthread_mutex_t has them");

#define SEM_BOUNDED (1u << 16)

#define EVENT_FLAG 1u
#define EVENT_SLEEPERS 2u
#define EVENT_SET_COUNT 4u /* the low bit of the count of set() calls */

/* ---- Lock ---- */

int mt_lock_init(mt_lock *l, int flags)
{
	if (!l || (flags & ~MT_PSHARED))
		return -EINVAL;
	*l = (mt_lock)MT_LOCK_INIT;
	l->flags = (uint32_t)flags;
	return 0;
}

static bool lock_try(_Atomic uint32_t *state)
{
	uint32_t free_state = 0;
	return atomic_compare_exchange_strong_explicit(state, &free_state, LOCK_HELD,
						       memory_order_acquire,
						       memory_order_relaxed);
}

/* The sooner of the caller's deadline and the watchdog's next look. */
static const mt__deadline *next_wake(const mt__deadline *deadline, mt__deadline *watch,
				     uint64_t watchdog_ns)
{
	if (!watchdog_ns)
		return deadline;
	mt__deadline_init(watch, (double)watchdog_ns / 1e9);
	if (deadline->forever || watch->at.tv_sec < deadline->at.tv_sec ||
	    (watch->at.tv_sec == deadline->at.tv_sec && watch->at.tv_nsec < deadline->at.tv_nsec))
		return watch;
	return deadline;
}

/* One attempt to take l. sleeping: the caller sleeps if it fails, on the
 * value left in *sleep_on. Returns 0, -EOWNERDEAD (shared locks only) or
 * -EBUSY. */
static int lock_claim(mt_lock *l, bool sleeping, uint32_t *sleep_on)
{
	_Atomic uint32_t *state = word(&l->state);
	if (is_shared(l->flags))
		return mt__robust_claim(l, mt__tid(), sleeping, sleep_on);
	if (!sleeping)
		return lock_try(state) ? 0 : -EBUSY;
	*sleep_on = LOCK_CONTENDED;
	/* Already marked: sleep without writing the line the holder is about
	 * to write. */
	if (atomic_load_explicit(state, memory_order_relaxed) == LOCK_CONTENDED)
		return -EBUSY;
	/* Taking the word marked means the release after ours wakes somebody,
	 * which is what a sleeper needs and a harmless extra wake otherwise.
	 * An exchange, not an OR, which x86 can only do as a compare-and-swap
	 * loop, slower under contention. */
	return atomic_exchange_explicit(state, LOCK_CONTENDED, memory_order_acquire) & LOCK_HELD
		       ? -EBUSY
		       : 0;
}

/* A sleeper on a shared lock looks again at least this often. When a
 * holder dies, the kernel wakes a sleeper only if the word still names the
 * dead thread; a holder killed between freeing the word and its
 * FUTEX_WAKE, whose lock a third process then takes unmarked, leaves the
 * sleeper asleep on a lock whose releases no longer wake anybody (glibc's
 * robust mutexes share the window; the crash test of the queue between
 * processes hit it once in about 50 runs). Looking again marks the word,
 * so the next release wakes: such a waiter is late by at most this long. */
#define SHARED_RECHECK_NS 1000000000ull

static int lock_sleep(mt_lock *l, const mt__deadline *deadline)
{
	_Atomic uint32_t *state = word(&l->state);
	uint64_t watchdog_ns = atomic_load_explicit(&mt__watchdog_ns, memory_order_relaxed);
	uint64_t period = watchdog_ns;
	if (is_shared(l->flags) && (!period || period > SHARED_RECHECK_NS))
		period = SHARED_RECHECK_NS;
	uint64_t began = watchdog_ns ? mt__now_ns() : 0;
	bool watched = false;
	uint32_t sleep_on;
	int got;
	while ((got = lock_claim(l, true, &sleep_on)) == -EBUSY) {
		mt__deadline watch;
		const mt__deadline *until = next_wake(deadline, &watch, period);
		if (mt__futex_wait(state, sleep_on, until, is_shared(l->flags)) != -ETIMEDOUT)
			continue;
		if (until == deadline) {
			got = -ETIMEDOUT;
			break;
		}
		if (watchdog_ns && mt__now_ns() - began >= watchdog_ns) {
			watched = true; /* waited watchdog_ns: look for a cycle */
			mt__watchdog_check(l);
		}
	}
	if (watched)
		mt__watchdog_done();
	return got;
}

/* Before it marks a thread-only lock's word and sleeps, a waiter gives its
 * CPU away a few times and looks again. Marking the word is what costs
 * under contention: the holder's next release then makes a FUTEX_WAKE,
 * and with a short critical section on two CPUs nearly every such wake
 * finds the waiter not yet asleep and every FUTEX_WAIT finds the word
 * changed, each a futile system call (bench/sync.c's contended row: about
 * 28 per 1000 increments, for glibc's mutex too). A waiter that yields
 * leaves the holder to run unmarked, on a cache line it keeps, and tries
 * once per yield; if the lock stays busy it sleeps as before. Unlike
 * spinning, which snatches the lock between the holder's release and next
 * acquire, this halved the time per contended increment. */
#define LOCK_YIELDS 4

static int lock_yield_then_sleep(mt_lock *l, const mt__deadline *deadline)
{
	_Atomic uint32_t *state = word(&l->state);
	for (int i = 0; i < LOCK_YIELDS && !is_shared(l->flags); i++) {
		sched_yield();
		if (atomic_load_explicit(state, memory_order_relaxed) == 0 && lock_try(state))
			return 0;
	}
	return lock_sleep(l, deadline);
}

/* A contended wait appears in the trace as a span named after the lock,
 * yields and sleep alike: on a busy machine the yields alone can last as
 * long as the holder keeps the lock. */
static int lock_wait(mt_lock *l, const mt__deadline *deadline)
{
	if (!mt__trace_on())
		return lock_yield_then_sleep(l, deadline);
	double start_us = mt__now_us();
	int err = lock_yield_then_sleep(l, deadline);
	char unnamed[32];
	mt__trace_wait("lock", mt__lock_name(l, unnamed, sizeof unnamed), start_us, err);
	return err;
}

static void set_owner(mt_lock *l, int32_t tid)
{
	atomic_store_explicit((_Atomic int32_t *)&l->owner, tid, memory_order_relaxed);
}

/* Only this thread runs, so nobody can race for a private lock's word. */
static bool alone_with(const mt_lock *l)
{
	return __libc_single_threaded && !is_shared(l->flags);
}

/* Everything but the uncontended thread-only case, out of line so that the
 * fast path needs no stack frame. tried: the fast path's attempt failed
 * just now, no need to repeat it. */
__attribute__((noinline)) static int lock_acquire_slow(mt_lock *l, double timeout,
						       bool checking, bool tried)
{
	bool shared = is_shared(l->flags);
	if (checking)
		mt__lockcheck_before(l);
	if (shared)
		mt__robust_pending(l);
	int got = tried ? -EBUSY : lock_claim(l, false, NULL);
	if (got == -EBUSY) {
		mt__deadline deadline;
		got = mt__deadline_init(&deadline, timeout);
		if (!got)
			got = timeout == 0 ? -ETIMEDOUT : lock_wait(l, &deadline);
	}
	if (shared)
		got = mt__robust_taken(l, got);
	if (got && got != -EOWNERDEAD)
		return got;
	set_owner(l, mt__tid());
	if (checking)
		mt__lockcheck_acquired(l);
	return got;
}

int mt_lock_acquire(mt_lock *l, double timeout)
{
	_Atomic uint32_t *state = word(&l->state);
	bool checking = mt__lockcheck_active();
	if (!checking && alone_with(l) &&
	    atomic_load_explicit(state, memory_order_relaxed) == 0) {
		atomic_store_explicit(state, LOCK_HELD, memory_order_relaxed);
		set_owner(l, mt__tid());
		return 0;
	}
	bool tried = !checking && !is_shared(l->flags);
	if (tried && lock_try(state)) {
		set_owner(l, mt__tid());
		return 0;
	}
	return lock_acquire_slow(l, timeout, checking, tried);
}

/* Whether the calling thread holds l. A shared lock's word says it; its
 * owner field may still name a dead holder whose thread ID was reused. */
bool mt__lock_mine(const mt_lock *l, pid_t me)
{
	if (is_shared(l->flags))
		return mt__robust_held_by(l, me);
	return atomic_load_explicit((_Atomic int32_t *)&l->owner, memory_order_relaxed) == me;
}

__attribute__((noinline)) static int shared_release(mt_lock *l)
{
	if (!mt__robust_held_by(l, mt__tid()))
		return -EPERM;
	set_owner(l, 0);
	if (mt__lockcheck_active())
		mt__lockcheck_released(l);
	mt__robust_release(l);
	return 0;
}

static _Atomic(mt_cond *) *lock_owed_cond(mt_lock *l)
{
	return (_Atomic(mt_cond *) *)&l->owed_cond;
}

bool mt__lock_owe(mt_lock *l, mt_cond *c)
{
	mt_cond *owed = NULL;
	if (!atomic_compare_exchange_strong(lock_owed_cond(l), &owed, c) && owed != c)
		return false;
	_Atomic uint32_t *state = word(&l->state);
	uint32_t seen = atomic_load_explicit(state, memory_order_relaxed);
	do {
		/* Freed under us: Python lets another thread release a Lock. */
		if (!(seen & LOCK_HELD))
			return atomic_exchange(lock_owed_cond(l), NULL) != c;
	} while (!atomic_compare_exchange_weak(state, &seen, seen | LOCK_OWED));
	return true;
}

/* Takes the wake-up l owes, while l is still held, adding it to *c and
 * *n; a second condition's (a notify from a thread that lost l to another
 * thread's release, which Python allows) is woken at once. */
static void lock_take_owed(mt_lock *l, mt_cond **c, uint32_t *n)
{
	/* Waiters mark the word LOCK_OWED too: most contended releases owe
	 * nothing, and need no more than this load to know it. The acquiring
	 * load of the word pairs with the compare-and-swap that put LOCK_OWED
	 * in it after owed_cond was set. */
	(void)atomic_load_explicit(word(&l->state), memory_order_acquire);
	if (!atomic_load_explicit(lock_owed_cond(l), memory_order_relaxed))
		return;
	mt_cond *owed = atomic_exchange(lock_owed_cond(l), NULL);
	if (!owed)
		return;
	if (*c && *c != owed) {
		mt__futex_wake(word(&(*c)->seq), wake_count(*n), false);
		*n = 0;
	}
	*c = owed;
	*n += atomic_exchange(word(&owed->owed), 0);
}

/* Frees l's word, which held was last seen holding, paying what l owes.
 * The wake-ups are taken while l is held, so the waiters of a condition,
 * which need l to return, cannot have freed it yet, and made once l is
 * free, so that nobody wakes to find it held. Past the compare-and-swap
 * that frees it, l may belong to somebody else: only its address and the
 * condition's are used, as glibc's mutexes do. The compare-and-swap, not
 * an exchange, because a LOCK_OWED that appears meanwhile must be seen. */
__attribute__((noinline)) static int lock_release_slow(mt_lock *l, uint32_t held)
{
	_Atomic uint32_t *state = word(&l->state);
	mt_cond *c = NULL;
	uint32_t n = 0;
	do {
		if (!held)
			return -EPERM; /* a racing release freed it first */
		if (held & LOCK_OWED)
			lock_take_owed(l, &c, &n);
	} while (!atomic_compare_exchange_weak_explicit(state, &held, 0, memory_order_release,
							memory_order_relaxed));
	if (held & LOCK_SLEEPERS)
		mt__futex_wake(state, 1, false);
	if (n)
		mt__futex_wake(word(&c->seq), wake_count(n), false);
	return 0;
}

int mt_lock_release(mt_lock *l)
{
	_Atomic uint32_t *state = word(&l->state);
	uint32_t held = atomic_load_explicit(state, memory_order_relaxed);
	if (held == 0)
		return -EPERM;
	if (is_shared(l->flags))
		return shared_release(l);
	set_owner(l, 0);
	if (mt__lockcheck_active())
		mt__lockcheck_released(l);
	if (held == LOCK_HELD && alone_with(l)) {
		atomic_store_explicit(state, 0, memory_order_relaxed);
		return 0;
	}
	if (held == LOCK_HELD && atomic_compare_exchange_strong_explicit(
					 state, &held, 0, memory_order_release, memory_order_relaxed))
		return 0;
	return lock_release_slow(l, held);
}

void mt_lock_set_name(mt_lock *l, const char *name)
{
	l->name = name;
}

bool mt_lock_locked(const mt_lock *l)
{
	/* A shared word may hold FUTEX_OWNER_DIED alone: free, not locked. */
	return atomic_load_explicit(cword(&l->state), memory_order_relaxed) & FUTEX_TID_MASK;
}

int mt_lock_consistent(mt_lock *l)
{
	if (!mt__lock_mine(l, mt__tid()))
		return -EPERM;
	return is_shared(l->flags) ? mt__robust_consistent(l) : -EINVAL;
}

/* ---- RLock ---- */

int mt_rlock_init(mt_rlock *r, int flags)
{
	if (!r)
		return -EINVAL;
	*r = (mt_rlock)MT_RLOCK_INIT;
	return mt_lock_init(&r->lock, flags);
}

/* Only this thread can have stored its own ID in owner, so a relaxed load
 * that sees it is certain; any other value means "not mine". A shared
 * RLock asks its word, as its owner may be a dead thread whose ID was
 * reused. */
bool mt__rlock_mine(mt_rlock *r, pid_t me)
{
	if (is_shared(r->lock.flags))
		return mt__robust_held_by(&r->lock, me);
	return atomic_load_explicit(rlock_owner(r), memory_order_relaxed) == me;
}

int mt_rlock_acquire(mt_rlock *r, double timeout)
{
	pid_t me = mt__tid();
	if (mt__rlock_mine(r, me)) {
		r->count++;
		return 0;
	}
	int got = mt_lock_acquire(&r->lock, timeout);
	if (got && got != -EOWNERDEAD)
		return got;
	atomic_store_explicit(rlock_owner(r), me, memory_order_relaxed);
	r->count = 1;
	return got;
}

int mt_rlock_consistent(mt_rlock *r)
{
	return mt_lock_consistent(&r->lock);
}

int mt_rlock_release(mt_rlock *r)
{
	if (!mt__rlock_mine(r, mt__tid()))
		return -EPERM;
	if (--r->count == 0) {
		atomic_store_explicit(rlock_owner(r), 0, memory_order_relaxed);
		mt_lock_release(&r->lock);
	}
	return 0;
}

/* ---- Semaphore and BoundedSemaphore ---- */

static int sem_setup(mt_sem *s, unsigned value, int flags, uint32_t kind)
{
	if (!s || (flags & ~MT_PSHARED))
		return -EINVAL;
	*s = (mt_sem)MT_SEM_INIT(value);
	s->flags = (uint32_t)flags | kind;
	s->bound = value;
	return 0;
}

int mt_sem_init(mt_sem *s, unsigned value, int flags)
{
	return sem_setup(s, value, flags, 0);
}

int mt_sem_init_bounded(mt_sem *s, unsigned value, int flags)
{
	return sem_setup(s, value, flags, SEM_BOUNDED);
}

static bool sem_try(_Atomic uint32_t *value)
{
	uint32_t v = atomic_load_explicit(value, memory_order_relaxed);
	while (v > 0)
		if (atomic_compare_exchange_weak_explicit(value, &v, v - 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return true;
	return false;
}

/* Sleepers announce themselves before they look at the value, and release
 * looks at the sleepers after it raised the value (both sequentially
 * consistent): either release sees a sleeper and wakes it, or the sleeper
 * sees the new value. The futex re-checks value == 0 before sleeping. */
static int sem_sleep(mt_sem *s, const mt__deadline *deadline)
{
	_Atomic uint32_t *value = word(&s->value);
	int err = 0;
	atomic_fetch_add(word(&s->sleepers), 1);
	while (!sem_try(value)) {
		if (mt__futex_wait(value, 0, deadline, is_shared(s->flags)) == -ETIMEDOUT &&
		    !sem_try(value)) {
			err = -ETIMEDOUT;
			break;
		}
	}
	atomic_fetch_sub(word(&s->sleepers), 1);
	return err;
}

int mt_sem_acquire(mt_sem *s, double timeout)
{
	if (sem_try(word(&s->value)))
		return 0;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	return timeout == 0 ? -ETIMEDOUT : sem_sleep(s, &deadline);
}

int mt_sem_release(mt_sem *s, unsigned n)
{
	if (n == 0)
		return -EINVAL;
	_Atomic uint32_t *value = word(&s->value);
	uint32_t v = atomic_load(value);
	do {
		if ((s->flags & SEM_BOUNDED) && (uint64_t)v + n > s->bound)
			return -EINVAL;
		if ((uint64_t)v + n > UINT32_MAX)
			return -EOVERFLOW;
	} while (!atomic_compare_exchange_weak(value, &v, v + n));
	if (atomic_load(word(&s->sleepers)))
		mt__futex_wake(value, wake_count(n), is_shared(s->flags));
	return 0;
}

unsigned mt_sem_value(const mt_sem *s)
{
	return atomic_load_explicit(cword(&s->value), memory_order_relaxed);
}

/* ---- Event ---- */

int mt_event_init(mt_event *e, int flags)
{
	if (!e || (flags & ~MT_PSHARED))
		return -EINVAL;
	*e = (mt_event)MT_EVENT_INIT;
	e->flags = (uint32_t)flags;
	return 0;
}

void mt_event_set(mt_event *e)
{
	_Atomic uint32_t *state = word(&e->state);
	uint32_t s = atomic_load(state);
	do {
		if (s & EVENT_FLAG)
			return;
	} while (!atomic_compare_exchange_weak(state, &s,
					       ((s & ~EVENT_SLEEPERS) | EVENT_FLAG) +
						       EVENT_SET_COUNT));
	if (s & EVENT_SLEEPERS)
		mt__futex_wake(state, INT32_MAX, is_shared(e->flags));
}

void mt_event_clear(mt_event *e)
{
	atomic_fetch_and(word(&e->state), ~EVENT_FLAG);
}

bool mt_event_is_set(const mt_event *e)
{
	return atomic_load(cword(&e->state)) & EVENT_FLAG;
}

/* True once e is set, or was set since `began` (its state at the start). */
static bool event_happened(uint32_t now, uint32_t began)
{
	return (now & EVENT_FLAG) || (now >> 2) != (began >> 2);
}

int mt_event_wait(mt_event *e, double timeout)
{
	_Atomic uint32_t *state = word(&e->state);
	uint32_t began = atomic_load(state);
	if (began & EVENT_FLAG)
		return 0;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	for (uint32_t s = began; !event_happened(s, began); s = atomic_load(state)) {
		if (!(s & EVENT_SLEEPERS) &&
		    !atomic_compare_exchange_weak(state, &s, s | EVENT_SLEEPERS))
			continue;
		if (mt__futex_wait(state, s | EVENT_SLEEPERS, &deadline,
				   is_shared(e->flags)) == -ETIMEDOUT)
			return event_happened(atomic_load(state), began) ? 0 : -ETIMEDOUT;
	}
	return 0;
}
