/* cond.c: Condition (threading.Condition) on a futex word.
 *
 * notify grants wake-ups (signals) to waiters that have none yet, bumps seq
 * and wakes that many sleepers; the kernel wakes the oldest sleepers on a
 * futex first. A waiter may take a signal only if seq moved since it began
 * waiting, so a thread that arrives after a notify never takes a wake-up
 * meant for an earlier one; if the kernel woke such a late thread anyway
 * (after a spurious wake-up), it passes the wake-up on. Waiters, signals and
 * seq change only with the condition's lock held, except seq's futex wait.
 *
 * A waiter woken while its notifier still holds the lock can only go to
 * sleep again on the lock (on one CPU it even preempts the notifier to do
 * so). So a thread-only condition remembers the lock its waiters use (set
 * by each wait, cleared by the last waiter to leave, all under that lock),
 * and when the thread holding that lock notifies, the FUTEX_WAKE is left
 * to the lock's release: the count goes to c->owed, the condition to
 * l->owed_cond and LOCK_OWED into l's word (sync.c). The release takes
 * them while l is still held, so the waiters, which cannot return without
 * l, cannot have freed c; it wakes them after freeing the word, touching
 * nothing but c's address from then on. If l already owes another
 * condition's wake-up, notify wakes at once; one may come early, which a
 * waiter survives by sleeping on the lock.
 *
 * Like POSIX, which leaves it undefined, a condition's waiters must all
 * use the same lock at any one time, and notify must be called by the
 * thread that holds it for the wake-up to be deferred (Python requires the
 * lock held; a notify without it wakes at once). */
#include <errno.h>

#include "syncword.h"


int mt_cond_init(mt_cond *c, int flags)
{
	if (!c || (flags & ~MT_PSHARED))
		return -EINVAL;
	*c = (mt_cond)MT_COND_INIT;
	c->flags = (uint32_t)flags;
	return 0;
}

/* How a wait lets go of its lock and takes it back. */
struct held_lock {
	void *lock;
	mt_lock *word_lock; /* the mt_lock that lock is or contains */
	void (*release)(void *lock, uint32_t *saved);
	int (*retake)(void *lock, uint32_t saved); /* mt_lock_acquire's result */
};

static void release_plain(void *lock, uint32_t *saved)
{
	mt_lock_release(lock);
}

static int retake_plain(void *lock, uint32_t saved)
{
	return mt_lock_acquire(lock, -1);
}

static void release_reentrant(void *lock, uint32_t *saved)
{
	mt_rlock *r = lock;
	*saved = r->count;
	r->count = 0;
	atomic_store_explicit(rlock_owner(r), 0, memory_order_relaxed);
	mt_lock_release(&r->lock);
}

static int retake_reentrant(void *lock, uint32_t saved)
{
	mt_rlock *r = lock;
	int got = mt_lock_acquire(&r->lock, -1);
	if (got && got != -EOWNERDEAD)
		return got;
	atomic_store_explicit(rlock_owner(r), mt__tid(), memory_order_relaxed);
	r->count = saved;
	return got;
}

static bool take_signal(mt_cond *c)
{
	_Atomic uint32_t *signals = word(&c->signals);
	uint32_t s = atomic_load(signals);
	while (s > 0)
		if (atomic_compare_exchange_weak(signals, &s, s - 1))
			return true;
	return false;
}

static _Atomic(mt_lock *) *cond_lock(mt_cond *c)
{
	return (_Atomic(mt_lock *) *)&c->lock;
}

/* The last waiter to leave forgets the lock, which may go away with it;
 * the next wait names its own. */
static void cond_leave(mt_cond *c)
{
	if (atomic_fetch_sub(word(&c->waiters), 1) == 1 && !is_shared(c->flags))
		atomic_store_explicit(cond_lock(c), NULL, memory_order_relaxed);
}

static int cond_wait(mt_cond *c, const struct held_lock *held,
		     const mt__deadline *deadline)
{
	_Atomic uint32_t *seq = word(&c->seq);
	uint32_t began = atomic_load(seq), saved = 0;
	int err = 0;
	bool owner_died = false;
	if (!is_shared(c->flags))
		atomic_store_explicit(cond_lock(c), held->word_lock, memory_order_relaxed);
	atomic_fetch_add(word(&c->waiters), 1);
	for (;;) {
		held->release(held->lock, &saved);
		/* The release may have woken a thread that notified us already:
		 * no system call then. */
		int slept = atomic_load(seq) != began
				    ? 0
				    : mt__futex_wait(seq, began, deadline, is_shared(c->flags));
		int retaken = held->retake(held->lock, saved);
		if (retaken == -ENOTRECOVERABLE) {
			err = retaken;
			break;
		}
		owner_died |= retaken == -EOWNERDEAD;
		uint32_t now = atomic_load(seq);
		if (now != began && take_signal(c))
			break;
		if (slept == -ETIMEDOUT) {
			err = -ETIMEDOUT;
			break;
		}
		if (now == began) /* woken though nothing was meant for us */
			mt__futex_wake(seq, 1, is_shared(c->flags));
		else
			began = now; /* earlier waiters took what was granted */
	}
	cond_leave(c);
	return owner_died && !err ? -EOWNERDEAD : err;
}

static int cond_wait_checked(mt_cond *c, const struct held_lock *held, bool mine,
			     double timeout)
{
	if (!mine)
		return -EPERM;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	return err ? err : cond_wait(c, held, &deadline);
}

int mt_cond_wait(mt_cond *c, mt_lock *l, double timeout)
{
	const struct held_lock held = {l, l, release_plain, retake_plain};
	return cond_wait_checked(c, &held, mt__lock_mine(l, mt__tid()), timeout);
}

int mt_cond_wait_rlock(mt_cond *c, mt_rlock *r, double timeout)
{
	const struct held_lock held = {r, &r->lock, release_reentrant, retake_reentrant};
	return cond_wait_checked(c, &held, mt__rlock_mine(r, mt__tid()), timeout);
}

int mt_cond_wait_for(mt_cond *c, mt_lock *l, bool (*predicate)(void *arg), void *arg,
		     double timeout)
{
	const struct held_lock held = {l, l, release_plain, retake_plain};
	if (!mt__lock_mine(l, mt__tid()))
		return -EPERM;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	while (!err && !predicate(arg))
		err = cond_wait(c, &held, &deadline);
	return err == -ETIMEDOUT && predicate(arg) ? 0 : err;
}

int mt__cond_wait_until(mt_cond *c, mt_lock *l, const mt__deadline *deadline)
{
	const struct held_lock held = {l, l, release_plain, retake_plain};
	return cond_wait(c, &held, deadline);
}

/* Leaves n wake-ups of c to the release of its lock when the calling
 * thread holds that lock (see the top of this file). false: wake them now. */
static bool cond_defer_wake(mt_cond *c, uint32_t n)
{
	if (is_shared(c->flags))
		return false;
	mt_lock *l = atomic_load_explicit(cond_lock(c), memory_order_relaxed);
	if (!l || is_shared(l->flags) ||
	    atomic_load_explicit((_Atomic int32_t *)&l->owner, memory_order_relaxed) != mt__tid())
		return false;
	/* The count before the pointer: whoever takes the pointer then sees
	 * the count. */
	atomic_fetch_add(word(&c->owed), n);
	if (mt__lock_owe(l, c))
		return true;
	uint32_t due = atomic_exchange(word(&c->owed), 0);
	if (due)
		mt__futex_wake(word(&c->seq), wake_count(due), false);
	return true;
}

static void cond_grant(mt_cond *c, uint32_t n)
{
	_Atomic uint32_t *signals = word(&c->signals);
	uint32_t waiting = atomic_load(word(&c->waiters));
	uint32_t granted = atomic_load(signals);
	uint32_t wake = waiting > granted ? waiting - granted : 0;
	if (wake > n)
		wake = n;
	if (wake == 0)
		return;
	atomic_fetch_add(signals, wake);
	atomic_fetch_add(word(&c->seq), 1);
	if (!cond_defer_wake(c, wake))
		mt__futex_wake(word(&c->seq), wake_count(wake), is_shared(c->flags));
}

void mt_cond_notify(mt_cond *c, unsigned n)
{
	cond_grant(c, n);
}

void mt_cond_notify_all(mt_cond *c)
{
	cond_grant(c, UINT32_MAX);
}

