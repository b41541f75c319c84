/* barrier.c: threading.Barrier.
 *
 * CPython's state machine, on sync.c's Lock and Condition: while
 * FILLING, threads arrive and wait; the last one runs the action and moves
 * to DRAINING, in which the others leave and newcomers wait at the door;
 * the last to leave goes back to FILLING. BROKEN refuses everybody until a
 * reset; RESETTING (a reset with threads inside) sends them away broken and
 * turns into FILLING when the last one has left. A shared barrier whose
 * lock was held by a process that died cannot trust its count: it breaks. */
#include <errno.h>

#include "internal.h"
#include "mtask/sync.h"

enum barrier_state { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

int mt_barrier_init(mt_barrier *b, unsigned parties, void (*action)(void *arg),
		    void *action_arg, int flags)
{
	if (!b || parties == 0 || (flags & ~MT_PSHARED))
		return -EINVAL;
	mt_lock_init(&b->lock, flags);
	mt_cond_init(&b->cond, flags);
	b->parties = parties;
	b->state = FILLING;
	b->count = 0;
	b->flags = (uint32_t)flags;
	b->action = action;
	b->action_arg = action_arg;
	return 0;
}

static bool barrier_open(void *arg)
{
	int32_t state = ((mt_barrier *)arg)->state;
	return state != DRAINING && state != RESETTING;
}

static bool barrier_left_filling(void *arg)
{
	return ((mt_barrier *)arg)->state != FILLING;
}

static void barrier_break_locked(mt_barrier *b)
{
	b->state = BROKEN;
	mt_cond_notify_all(&b->cond);
}

/* After a lock acquisition that returned got: the lock is held either way. */
static void barrier_check_lock(mt_barrier *b, int got)
{
	if (got == -EOWNERDEAD) {
		mt_lock_consistent(&b->lock);
		barrier_break_locked(b);
	}
}

static void barrier_lock(mt_barrier *b)
{
	barrier_check_lock(b, mt_lock_acquire(&b->lock, -1));
}

/* A condition wait; 0 or -ETIMEDOUT, the lock held again. */
static int barrier_sleep(mt_barrier *b, const mt__deadline *deadline)
{
	int err = mt__cond_wait_until(&b->cond, &b->lock, deadline);
	barrier_check_lock(b, err);
	return err == -EOWNERDEAD ? 0 : err;
}

/* Waits, the lock held, until the last arrival released this round.
 * Returns 0, or the error this thread reports. */
static int barrier_wait_round(mt_barrier *b, const mt__deadline *deadline)
{
	int err = 0;
	while (!err && !barrier_left_filling(b))
		err = barrier_sleep(b, deadline);
	if (err == -ETIMEDOUT && !barrier_left_filling(b)) {
		barrier_break_locked(b);
		return -ETIMEDOUT;
	}
	return b->state < 0 ? -ECANCELED : 0;
}

static void barrier_leave_locked(mt_barrier *b)
{
	if (--b->count == 0 && (b->state == DRAINING || b->state == RESETTING)) {
		b->state = FILLING;
		mt_cond_notify_all(&b->cond);
	}
}

int mt_barrier_wait(mt_barrier *b, double timeout)
{
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	barrier_lock(b);
	while (!err && !barrier_open(b))
		err = barrier_sleep(b, &deadline);
	if (err || b->state == BROKEN) {
		mt_lock_release(&b->lock);
		return err ? err : -ECANCELED;
	}
	int index = (int)b->count++;
	if ((unsigned)index + 1 == b->parties) {
		if (b->action)
			b->action(b->action_arg);
		b->state = DRAINING;
		mt_cond_notify_all(&b->cond);
	} else {
		err = barrier_wait_round(b, &deadline);
	}
	barrier_leave_locked(b);
	mt_lock_release(&b->lock);
	return err ? err : index;
}

void mt_barrier_abort(mt_barrier *b)
{
	barrier_lock(b);
	barrier_break_locked(b);
	mt_lock_release(&b->lock);
}

void mt_barrier_reset(mt_barrier *b)
{
	barrier_lock(b);
	b->state = b->count > 0 ? RESETTING : FILLING;
	mt_cond_notify_all(&b->cond);
	mt_lock_release(&b->lock);
}

unsigned mt_barrier_n_waiting(mt_barrier *b)
{
	barrier_lock(b);
	unsigned n = b->state == FILLING ? b->count : 0;
	mt_lock_release(&b->lock);
	return n;
}

bool mt_barrier_broken(mt_barrier *b)
{
	barrier_lock(b);
	bool broken = b->state == BROKEN;
	mt_lock_release(&b->lock);
	return broken;
}
