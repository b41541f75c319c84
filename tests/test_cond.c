/* test_cond.c: Condition: Python's semantics (wait, wait_for, notify(n),
 * notify_all, timeouts, RLock), use across processes, and the wake-up a
 * notify under the lock leaves to the lock's release. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#include "mtask/mtask.h"
#include "testutil.h"

/* ---- Condition ---- */

struct box {
	mt_lock lock;
	mt_cond cond;
	int items;
};

static void waiting_needs_the_lock_and_a_timeout_keeps_it(void **state)
{
	struct box b = {MT_LOCK_INIT, MT_COND_INIT, 0};
	assert_int_equal(mt_cond_wait(&b.cond, &b.lock, 0), -EPERM);
	assert_int_equal(mt_lock_acquire(&b.lock, -1), 0);
	assert_int_equal(mt_cond_wait(&b.cond, &b.lock, NAN), -EINVAL);
	double t0 = now_seconds();
	assert_int_equal(mt_cond_wait(&b.cond, &b.lock, 0.03), -ETIMEDOUT);
	assert_true(now_seconds() - t0 >= 0.025);
	assert_true(mt_lock_locked(&b.lock)); /* held again after the wait */
	assert_int_equal(mt_lock_release(&b.lock), 0);
	assert_int_equal(mt_cond_init(&b.cond, 3), -EINVAL);
}

static bool has_items(void *arg)
{
	return ((struct box *)arg)->items > 0;
}

static int consume_one(void *arg)
{
	struct box *b = arg;
	mt_lock_acquire(&b->lock, -1);
	int err = mt_cond_wait_for(&b->cond, &b->lock, has_items, b, 30);
	if (!err)
		b->items--;
	mt_lock_release(&b->lock);
	return -err;
}

static void wait_for_returns_once_the_producer_made_it_true(void **state)
{
	struct box b = {MT_LOCK_INIT, MT_COND_INIT, 0};
	mt_thread *consumer = start_thread(consume_one, &b);
	sleep_seconds(0.02);
	mt_lock_acquire(&b.lock, -1);
	b.items = 1;
	mt_cond_notify(&b.cond, 1);
	mt_lock_release(&b.lock);
	assert_int_equal(join_thread(consumer), 0);
	assert_int_equal(b.items, 0);
	/* Already true: no wait at all; still false: the deadline ends it. */
	mt_lock_acquire(&b.lock, -1);
	b.items = 1;
	assert_int_equal(mt_cond_wait_for(&b.cond, &b.lock, has_items, &b, 0), 0);
	b.items = 0;
	assert_int_equal(mt_cond_wait_for(&b.cond, &b.lock, has_items, &b, 0.02), -ETIMEDOUT);
	mt_lock_release(&b.lock);
}

static int wait_briefly(void *arg)
{
	struct box *b = arg;
	mt_lock_acquire(&b->lock, -1);
	int err = mt_cond_wait(&b->cond, &b->lock, 0.3);
	mt_lock_release(&b->lock);
	return -err;
}

static void wait_until_waiting(struct box *b, uint32_t n)
{
	for (int i = 0; i < 10000; i++) {
		mt_lock_acquire(&b->lock, -1);
		uint32_t waiting = __atomic_load_n(&b->cond.waiters, __ATOMIC_RELAXED);
		mt_lock_release(&b->lock);
		if (waiting == n)
			return;
		sleep_seconds(0.001);
	}
	fail_msg("waiters never reached %u", n);
}

static int count_notified(mt_thread **threads, int n)
{
	int notified = 0;
	for (int i = 0; i < n; i++) {
		int code = join_thread(threads[i]);
		assert_true(code == 0 || code == ETIMEDOUT);
		notified += code == 0;
	}
	return notified;
}

static void notify_one_wakes_exactly_one_waiter(void **state)
{
	struct box b = {MT_LOCK_INIT, MT_COND_INIT, 0};
	mt_thread *threads[3];
	for (int i = 0; i < 3; i++)
		threads[i] = start_thread(wait_briefly, &b);
	wait_until_waiting(&b, 3);
	mt_lock_acquire(&b.lock, -1);
	mt_cond_notify(&b.cond, 1);
	mt_lock_release(&b.lock);
	assert_int_equal(count_notified(threads, 3), 1);
}

static void notify_all_wakes_every_waiter(void **state)
{
	struct box b = {MT_LOCK_INIT, MT_COND_INIT, 0};
	mt_thread *threads[3];
	for (int i = 0; i < 3; i++)
		threads[i] = start_thread(wait_briefly, &b);
	wait_until_waiting(&b, 3);
	mt_lock_acquire(&b.lock, -1);
	mt_cond_notify_all(&b.cond);
	mt_lock_release(&b.lock);
	assert_int_equal(count_notified(threads, 3), 3);
}

static void a_late_waiter_never_takes_an_earlier_notify(void **state)
{
	struct box b = {MT_LOCK_INIT, MT_COND_INIT, 0};
	mt_thread *early = start_thread(wait_briefly, &b);
	wait_until_waiting(&b, 1);
	mt_lock_acquire(&b.lock, -1);
	mt_cond_notify(&b.cond, 1);
	mt_thread *late = start_thread(wait_briefly, &b); /* waits after notify */
	mt_lock_release(&b.lock);
	assert_int_equal(join_thread(early), 0);
	assert_int_equal(join_thread(late), ETIMEDOUT);
}

struct rbox {
	mt_rlock lock;
	mt_cond cond;
	bool ready;
};

static int notify_under_rlock(void *arg)
{
	struct rbox *b = arg;
	if (mt_rlock_acquire(&b->lock, 5)) /* only free if the wait let go of it */
		return 1;
	b->ready = true;
	mt_cond_notify(&b->cond, 1);
	return -mt_rlock_release(&b->lock);
}

static void a_wait_lets_go_of_an_rlock_entirely_and_restores_it(void **state)
{
	struct rbox b = {MT_RLOCK_INIT, MT_COND_INIT, false};
	assert_int_equal(mt_rlock_acquire(&b.lock, -1), 0);
	assert_int_equal(mt_rlock_acquire(&b.lock, -1), 0);
	mt_thread *notifier = start_thread(notify_under_rlock, &b);
	while (!b.ready)
		assert_int_equal(mt_cond_wait_rlock(&b.cond, &b.lock, 30), 0);
	assert_int_equal(join_thread(notifier), 0);
	assert_int_equal(mt_rlock_release(&b.lock), 0);
	assert_int_equal(mt_rlock_release(&b.lock), 0);
	assert_int_equal(mt_rlock_release(&b.lock), -EPERM);
}

static int produce_across_processes(void *arg)
{
	struct box *b = arg;
	sleep_seconds(0.02);
	mt_lock_acquire(&b->lock, -1);
	b->items = 1;
	mt_cond_notify(&b->cond, 1);
	mt_lock_release(&b->lock);
	return 0;
}

static void a_shared_condition_crosses_processes(void **state)
{
	struct box *b = shared_page();
	assert_int_equal(mt_lock_init(&b->lock, MT_PSHARED), 0);
	assert_int_equal(mt_cond_init(&b->cond, MT_PSHARED), 0);
	mt_process *child;
	assert_int_equal(mt_process_start(&child, produce_across_processes, b, NULL), 0);
	mt_lock_acquire(&b->lock, -1);
	assert_int_equal(mt_cond_wait_for(&b->cond, &b->lock, has_items, b, 30), 0);
	mt_lock_release(&b->lock);
	assert_int_equal(mt_process_join(child, 30), 0);
	mt_process_free(child);
	munmap(b, 4096);
}

/* ---- Condition: the wake-up a notify leaves to the lock's release ----
 *
 * A notify made by the holder of a thread-only lock wakes its waiters when
 * the lock is released. A lost wake-up would not fail a wait (at its
 * timeout the waiter finds the notify and returns 0), so these tests time
 * the waits: one that lasts LOST_AFTER was ended by its timeout, not by a
 * wake-up. */

#define LOST_AFTER 3.0
#define LOCK_OWED_BIT 4u /* mt_lock.state: a wake-up waits for the release */

struct owed {
	mt_lock lock;
	mt_rlock rlock;
	mt_cond cond[2];
	bool ready[2];
};

struct owed_waiter {
	struct owed *o;
	int which; /* the condition and flag it waits for */
	bool reentrant;
};

/* Waits until its flag is set: 0, or ETIMEDOUT when a wait lasted until
 * its timeout (a wake-up was lost), or the wait's error. */
static int wait_for_flag(void *arg)
{
	struct owed_waiter *w = arg;
	struct owed *o = w->o;
	int err = w->reentrant ? mt_rlock_acquire(&o->rlock, -1) : mt_lock_acquire(&o->lock, -1);
	while (!err && !o->ready[w->which]) {
		double t0 = now_seconds();
		err = w->reentrant ? mt_cond_wait_rlock(&o->cond[w->which], &o->rlock, LOST_AFTER)
				   : mt_cond_wait(&o->cond[w->which], &o->lock, LOST_AFTER);
		if (!err && now_seconds() - t0 >= LOST_AFTER * 0.9)
			err = -ETIMEDOUT;
	}
	if (w->reentrant)
		mt_rlock_release(&o->rlock);
	else
		mt_lock_release(&o->lock);
	return -err;
}

static void owed_init(struct owed *o)
{
	*o = (struct owed){MT_LOCK_INIT, MT_RLOCK_INIT, {MT_COND_INIT, MT_COND_INIT}, {0}};
}

/* Starts a waiter on cond[which] and returns once it sleeps there. */
static mt_thread *start_owed_waiter(struct owed_waiter *w)
{
	mt_thread *t = start_thread(wait_for_flag, w);
	mt_cond *c = &w->o->cond[w->which];
	for (int i = 0; i < 10000 && !__atomic_load_n(&c->waiters, __ATOMIC_ACQUIRE); i++)
		sleep_seconds(0.001);
	sleep_seconds(0.01); /* from counted to asleep on the futex */
	return t;
}

static bool owes(const mt_lock *l)
{
	return __atomic_load_n(&l->state, __ATOMIC_RELAXED) & LOCK_OWED_BIT;
}

/* Nothing left owed once the lock is free. */
static void assert_nothing_owed(struct owed *o)
{
	assert_null(__atomic_load_n(&o->lock.owed_cond, __ATOMIC_ACQUIRE));
	assert_null(__atomic_load_n(&o->rlock.lock.owed_cond, __ATOMIC_ACQUIRE));
	assert_int_equal(__atomic_load_n(&o->cond[0].owed, __ATOMIC_ACQUIRE) +
				 __atomic_load_n(&o->cond[1].owed, __ATOMIC_ACQUIRE),
			 0);
}

static void a_notify_under_the_lock_wakes_when_the_notifier_releases(void **state)
{
	struct owed o;
	owed_init(&o);
	struct owed_waiter w = {&o, 0, false};
	mt_thread *waiter = start_owed_waiter(&w);
	mt_lock_acquire(&o.lock, -1);
	o.ready[0] = true;
	mt_cond_notify(&o.cond[0], 1);
	/* The wake-up waits for the release. */
	assert_true(owes(&o.lock));
	assert_ptr_equal(o.lock.owed_cond, &o.cond[0]);
	assert_int_equal(o.cond[0].owed, 1);
	sleep_seconds(0.02);
	mt_lock_release(&o.lock);
	assert_int_equal(join_thread(waiter), 0);
	assert_nothing_owed(&o);
}

/* A condition knows its waiters' lock only while they wait: its last
 * waiter forgets it (it may go away with it), and the next waiters' lock
 * is the one a notify defers to. */
static void a_condition_forgets_the_lock_of_its_last_waiter(void **state)
{
	struct owed o;
	owed_init(&o);
	mt_lock gone = MT_LOCK_INIT;
	mt_lock_acquire(&gone, -1);
	assert_int_equal(mt_cond_wait(&o.cond[0], &gone, 0.001), -ETIMEDOUT);
	assert_null(o.cond[0].lock);
	mt_lock_release(&gone);

	struct owed_waiter w = {&o, 0, false};
	mt_thread *waiter = start_owed_waiter(&w);
	assert_ptr_equal(o.cond[0].lock, &o.lock);
	mt_lock_acquire(&o.lock, -1);
	o.ready[0] = true;
	mt_cond_notify(&o.cond[0], 1);
	assert_ptr_equal(o.lock.owed_cond, &o.cond[0]);
	mt_lock_release(&o.lock);
	assert_int_equal(join_thread(waiter), 0);
	assert_null(o.cond[0].lock);
	assert_nothing_owed(&o);
}

/* The partner of the ping-pong: the turn is 1 for it, 0 for the main
 * thread; it notifies and then waits itself, as Python's producers do. */
static int take_turns(void *arg)
{
	struct owed *o = arg;
	int err = mt_lock_acquire(&o->lock, -1);
	for (int round = 0; !err && round < 300; round++) {
		while (!err && !o->ready[1]) {
			double t0 = now_seconds();
			err = mt_cond_wait(&o->cond[0], &o->lock, LOST_AFTER);
			if (!err && now_seconds() - t0 >= LOST_AFTER * 0.9)
				err = -ETIMEDOUT;
		}
		o->ready[1] = false;
		mt_cond_notify(&o->cond[0], 1);
	}
	mt_lock_release(&o->lock);
	return -err;
}

static void a_notifier_that_then_waits_itself_still_wakes_its_partner(void **state)
{
	struct owed o;
	owed_init(&o);
	mt_thread *partner = start_thread(take_turns, &o);
	int err = mt_lock_acquire(&o.lock, -1);
	for (int round = 0; !err && round < 300; round++) {
		o.ready[1] = true;
		mt_cond_notify(&o.cond[0], 1);
		while (!err && o.ready[1]) {
			double t0 = now_seconds();
			err = mt_cond_wait(&o.cond[0], &o.lock, LOST_AFTER);
			if (!err && now_seconds() - t0 >= LOST_AFTER * 0.9)
				err = -ETIMEDOUT;
		}
	}
	mt_lock_release(&o.lock);
	assert_int_equal(err, 0);
	assert_int_equal(join_thread(partner), 0);
	assert_nothing_owed(&o);
}

static int release_the_lock(void *arg)
{
	return -mt_lock_release(arg);
}

static void a_lock_released_by_another_thread_pays_the_owed_wake_up(void **state)
{
	struct owed o;
	owed_init(&o);
	struct owed_waiter w = {&o, 0, false};
	mt_thread *waiter = start_owed_waiter(&w);
	mt_lock_acquire(&o.lock, -1);
	o.ready[0] = true;
	mt_cond_notify(&o.cond[0], 1);
	assert_true(owes(&o.lock));
	assert_int_equal(join_thread(start_thread(release_the_lock, &o.lock)), 0);
	assert_int_equal(join_thread(waiter), 0);
	assert_nothing_owed(&o);
}

static int acquire_and_release(void *arg)
{
	int err = mt_lock_acquire(arg, LOST_AFTER);
	return err ? -err : -mt_lock_release(arg);
}

static void a_thread_sleeping_on_the_lock_keeps_the_owed_wake_up(void **state)
{
	struct owed o;
	owed_init(&o);
	struct owed_waiter w = {&o, 0, false};
	mt_thread *waiter = start_owed_waiter(&w);
	mt_lock_acquire(&o.lock, -1);
	o.ready[0] = true;
	mt_cond_notify(&o.cond[0], 1);
	mt_thread *contender = start_thread(acquire_and_release, &o.lock);
	sleep_seconds(0.02); /* it marks the word and sleeps on it */
	assert_true(owes(&o.lock));
	mt_lock_release(&o.lock);
	assert_int_equal(join_thread(contender), 0);
	assert_int_equal(join_thread(waiter), 0);
	assert_nothing_owed(&o);
}

static void two_conditions_notified_under_one_lock_both_wake(void **state)
{
	struct owed o;
	owed_init(&o);
	struct owed_waiter w[2] = {{&o, 0, false}, {&o, 1, false}};
	mt_thread *waiters[2] = {start_owed_waiter(&w[0]), start_owed_waiter(&w[1])};
	mt_lock_acquire(&o.lock, -1);
	o.ready[0] = o.ready[1] = true;
	mt_cond_notify(&o.cond[0], 1);
	mt_cond_notify(&o.cond[1], 1); /* the lock owes cond[0]: wakes at once */
	mt_cond_notify(&o.cond[0], 1); /* nobody left to wake */
	sleep_seconds(0.02);
	mt_lock_release(&o.lock);
	assert_int_equal(join_thread(waiters[0]), 0);
	assert_int_equal(join_thread(waiters[1]), 0);
	assert_nothing_owed(&o);
}

static void an_rlock_held_twice_pays_the_wake_up_at_its_last_release(void **state)
{
	struct owed o;
	owed_init(&o);
	struct owed_waiter w = {&o, 0, true};
	mt_thread *waiter = start_owed_waiter(&w);
	assert_int_equal(mt_rlock_acquire(&o.rlock, -1), 0);
	assert_int_equal(mt_rlock_acquire(&o.rlock, -1), 0);
	o.ready[0] = true;
	mt_cond_notify(&o.cond[0], 1);
	assert_int_equal(mt_rlock_release(&o.rlock), 0);
	assert_true(owes(&o.rlock.lock)); /* still held once: still owed */
	sleep_seconds(0.02);
	assert_int_equal(mt_rlock_release(&o.rlock), 0);
	assert_int_equal(join_thread(waiter), 0);
	assert_nothing_owed(&o);
}

/* Many notifies racing with the release of the lock by another thread,
 * which Python allows: none may be lost. */
struct release_race {
	struct owed o;
	_Atomic int go;	  /* round number for the releaser */
	_Atomic int done; /* the last round it released in */
};

static int release_in_rounds(void *arg)
{
	struct release_race *r = arg;
	for (int round = 1; round <= 200; round++) {
		while (atomic_load(&r->go) != round)
			;
		if (mt_lock_release(&r->o.lock))
			return 1;
		atomic_store(&r->done, round);
	}
	return 0;
}

static void notifies_racing_with_a_release_by_another_thread_wake_all(void **state)
{
	struct release_race *r = calloc(1, sizeof *r);
	owed_init(&r->o);
	mt_thread *releaser = start_thread(release_in_rounds, r);
	for (int round = 1; round <= 200; round++) {
		r->o.ready[0] = false;
		struct owed_waiter w = {&r->o, 0, false};
		mt_thread *waiter = start_owed_waiter(&w);
		mt_lock_acquire(&r->o.lock, -1);
		r->o.ready[0] = true;
		atomic_store(&r->go, round); /* released now, from the other thread */
		mt_cond_notify(&r->o.cond[0], 1);
		assert_int_equal(join_thread(waiter), 0);
		while (atomic_load(&r->done) != round)
			sleep_seconds(0.0001);
		assert_nothing_owed(&r->o);
	}
	assert_int_equal(join_thread(releaser), 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(waiting_needs_the_lock_and_a_timeout_keeps_it),
		cmocka_unit_test(wait_for_returns_once_the_producer_made_it_true),
		cmocka_unit_test(notify_one_wakes_exactly_one_waiter),
		cmocka_unit_test(notify_all_wakes_every_waiter),
		cmocka_unit_test(a_late_waiter_never_takes_an_earlier_notify),
		cmocka_unit_test(a_wait_lets_go_of_an_rlock_entirely_and_restores_it),
		cmocka_unit_test(a_shared_condition_crosses_processes),
		cmocka_unit_test(a_notify_under_the_lock_wakes_when_the_notifier_releases),
		cmocka_unit_test(a_condition_forgets_the_lock_of_its_last_waiter),
		cmocka_unit_test(a_notifier_that_then_waits_itself_still_wakes_its_partner),
		cmocka_unit_test(a_lock_released_by_another_thread_pays_the_owed_wake_up),
		cmocka_unit_test(a_thread_sleeping_on_the_lock_keeps_the_owed_wake_up),
		cmocka_unit_test(two_conditions_notified_under_one_lock_both_wake),
		cmocka_unit_test(an_rlock_held_twice_pays_the_wake_up_at_its_last_release),
		cmocka_unit_test(notifies_racing_with_a_release_by_another_thread_wake_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
