/* test_sync.c: Lock, RLock, Semaphore, BoundedSemaphore, Barrier, Timer and
 * Event: Python's semantics, timeouts, wrong releases, use across processes. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#include "mtask/mtask.h"
#include "testutil.h"

/* ---- Lock ---- */

static void a_static_lock_is_taken_and_given_back(void **state)
{
	static mt_lock l = MT_LOCK_INIT;
	assert_false(mt_lock_locked(&l));
	assert_int_equal(mt_lock_acquire(&l, -1), 0);
	assert_true(mt_lock_locked(&l));
	assert_int_equal(mt_lock_release(&l), 0);
	assert_false(mt_lock_locked(&l));
}

static void releasing_a_free_lock_is_eperm(void **state)
{
	mt_lock l;
	assert_int_equal(mt_lock_init(&l, 0), 0);
	assert_int_equal(mt_lock_release(&l), -EPERM);
	assert_int_equal(mt_lock_init(&l, 42), -EINVAL);
}

static void a_held_lock_times_out_and_is_not_reentrant(void **state)
{
	mt_lock l = MT_LOCK_INIT;
	assert_int_equal(mt_lock_acquire(&l, 0), 0);
	assert_int_equal(mt_lock_acquire(&l, 0), -ETIMEDOUT);
	double t0 = now_seconds();
	assert_int_equal(mt_lock_acquire(&l, 0.05), -ETIMEDOUT); /* itself: waits */
	assert_true(now_seconds() - t0 >= 0.045);
	assert_int_equal(mt_lock_acquire(&l, NAN), -EINVAL);
	assert_int_equal(mt_lock_release(&l), 0);
}

static mt_lock handoff_lock = MT_LOCK_INIT;

static int release_handoff_lock(void *arg)
{
	return mt_lock_release(&handoff_lock);
}

static int acquire_handoff_lock(void *arg)
{
	int err = mt_lock_acquire(&handoff_lock, 30);
	return err ? err : mt_lock_release(&handoff_lock);
}

static void any_thread_may_release_and_a_waiter_then_gets_it(void **state)
{
	assert_int_equal(mt_lock_acquire(&handoff_lock, -1), 0);
	mt_thread *waiter = start_thread(acquire_handoff_lock, NULL);
	sleep_seconds(0.02); /* let it sleep on the lock */
	assert_int_equal(join_thread(start_thread(release_handoff_lock, NULL)), 0);
	assert_int_equal(join_thread(waiter), 0);
	assert_false(mt_lock_locked(&handoff_lock));
}

struct counter {
	mt_lock lock;
	long value;
	int rounds;
};

static int count_under_lock(void *arg)
{
	struct counter *c = arg;
	for (int i = 0; i < c->rounds; i++) {
		if (mt_lock_acquire(&c->lock, -1))
			return 1;
		c->value++; /* the notes' unsafe `n += 1`, made safe */
		mt_lock_release(&c->lock);
	}
	return 0;
}

static void a_lock_makes_the_counter_race_exact_across_threads(void **state)
{
	struct counter c = {.lock = MT_LOCK_INIT, .rounds = 20000};
	mt_thread *threads[4];
	for (int i = 0; i < 4; i++)
		threads[i] = start_thread(count_under_lock, &c);
	for (int i = 0; i < 4; i++)
		assert_int_equal(join_thread(threads[i]), 0);
	assert_int_equal(c.value, 4 * 20000);
}

static void a_shared_lock_makes_the_counter_exact_across_processes(void **state)
{
	struct counter *c = shared_page();
	assert_int_equal(mt_lock_init(&c->lock, MT_PSHARED), 0);
	c->rounds = 5000;
	mt_process *children[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(mt_process_start(&children[i], count_under_lock, c, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(mt_process_join(children[i], 30), 0);
		assert_int_equal(mt_process_exitcode(children[i]), 0);
		mt_process_free(children[i]);
	}
	assert_int_equal(c->value, 4 * 5000);
	munmap(c, 4096);
}

/* ---- RLock ---- */

static mt_rlock shared_rlock = MT_RLOCK_INIT;

static int try_rlock_elsewhere(void *arg)
{
	int err = mt_rlock_acquire(&shared_rlock, *(double *)arg);
	if (!err)
		mt_rlock_release(&shared_rlock);
	return -err;
}

static int release_rlock_elsewhere(void *arg)
{
	return -mt_rlock_release(&shared_rlock);
}

static void an_rlock_is_reentrant_and_only_its_holder_releases_it(void **state)
{
	double no_wait = 0;
	assert_int_equal(mt_rlock_acquire(&shared_rlock, -1), 0);
	assert_int_equal(mt_rlock_acquire(&shared_rlock, 0), 0);
	assert_int_equal(mt_rlock_acquire(&shared_rlock, 0), 0);
	assert_int_equal(join_thread(start_thread(try_rlock_elsewhere, &no_wait)), ETIMEDOUT);
	assert_int_equal(join_thread(start_thread(release_rlock_elsewhere, NULL)), EPERM);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mt_rlock_release(&shared_rlock), 0);
	assert_int_equal(mt_rlock_release(&shared_rlock), -EPERM);
	assert_int_equal(join_thread(start_thread(try_rlock_elsewhere, &no_wait)), 0);
}

/* ---- Semaphore ---- */

static void a_semaphore_counts_down_and_times_out_at_zero(void **state)
{
	mt_sem s;
	assert_int_equal(mt_sem_init(&s, 2, 0), 0);
	assert_int_equal(mt_sem_acquire(&s, 0), 0);
	assert_int_equal(mt_sem_acquire(&s, -1), 0);
	assert_int_equal(mt_sem_value(&s), 0);
	assert_int_equal(mt_sem_acquire(&s, 0), -ETIMEDOUT);
	assert_int_equal(mt_sem_acquire(&s, 0.02), -ETIMEDOUT);
	assert_int_equal(mt_sem_release(&s, 5), 0); /* unbounded: may exceed 2 */
	assert_int_equal(mt_sem_value(&s), 5);
	assert_int_equal(mt_sem_release(&s, 0), -EINVAL);
	assert_int_equal(mt_sem_release(&s, UINT32_MAX), -EOVERFLOW);
	assert_int_equal(mt_sem_init(&s, 1, 7), -EINVAL);
}

static void a_bounded_semaphore_refuses_to_pass_its_initial_value(void **state)
{
	mt_sem s;
	assert_int_equal(mt_sem_init_bounded(&s, 2, 0), 0);
	assert_int_equal(mt_sem_release(&s, 1), -EINVAL); /* Python's ValueError */
	assert_int_equal(mt_sem_value(&s), 2);
	assert_int_equal(mt_sem_acquire(&s, 0), 0);
	assert_int_equal(mt_sem_release(&s, 2), -EINVAL); /* all or nothing */
	assert_int_equal(mt_sem_release(&s, 1), 0);
	assert_int_equal(mt_sem_value(&s), 2);
}

struct limited {
	mt_sem sem;
	_Atomic int inside, most;
};

static int work_within_limit(void *arg)
{
	struct limited *l = arg;
	if (mt_sem_acquire(&l->sem, 30))
		return 1;
	int inside = atomic_fetch_add(&l->inside, 1) + 1;
	int most = atomic_load(&l->most);
	while (inside > most && !atomic_compare_exchange_weak(&l->most, &most, inside))
		;
	sleep_seconds(0.005);
	atomic_fetch_sub(&l->inside, 1);
	return mt_sem_release(&l->sem, 1);
}

static void a_semaphore_limits_how_many_work_at_once(void **state)
{
	struct limited l;
	assert_int_equal(mt_sem_init_bounded(&l.sem, 3, 0), 0);
	atomic_init(&l.inside, 0);
	atomic_init(&l.most, 0);
	mt_thread *threads[8];
	for (int i = 0; i < 8; i++)
		threads[i] = start_thread(work_within_limit, &l);
	for (int i = 0; i < 8; i++)
		assert_int_equal(join_thread(threads[i]), 0);
	assert_true(atomic_load(&l.most) <= 3);
	assert_true(atomic_load(&l.most) >= 1);
	assert_int_equal(mt_sem_value(&l.sem), 3);
}

static int take_one(void *arg)
{
	return -mt_sem_acquire(arg, 30);
}

static void releasing_n_wakes_n_waiters(void **state)
{
	mt_sem s = MT_SEM_INIT(0);
	mt_thread *threads[3];
	for (int i = 0; i < 3; i++)
		threads[i] = start_thread(take_one, &s);
	sleep_seconds(0.02);
	assert_int_equal(mt_sem_release(&s, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(join_thread(threads[i]), 0);
	assert_int_equal(mt_sem_value(&s), 0);
}

static int release_shared_sem(void *arg)
{
	sleep_seconds(0.02);
	return -mt_sem_release(arg, 1);
}

static void a_shared_semaphore_signals_across_processes(void **state)
{
	mt_sem *s = shared_page();
	assert_int_equal(mt_sem_init(s, 0, MT_PSHARED), 0);
	mt_process *child;
	assert_int_equal(mt_process_start(&child, release_shared_sem, s, NULL), 0);
	assert_int_equal(mt_sem_acquire(s, 30), 0);
	assert_int_equal(mt_process_join(child, 30), 0);
	assert_int_equal(mt_process_exitcode(child), 0);
	mt_process_free(child);
	munmap(s, 4096);
}

/* ---- Barrier ---- */

struct meeting {
	mt_barrier barrier;
	_Atomic int actions;
	_Atomic int seen; /* bit i: arrival index i was returned */
};

static void count_action(void *arg)
{
	atomic_fetch_add(&((struct meeting *)arg)->actions, 1);
}

static int meet_twice(void *arg)
{
	struct meeting *m = arg;
	for (int round = 0; round < 2; round++) {
		int index = mt_barrier_wait(&m->barrier, 30);
		if (index < 0)
			return 100 - index;
		/* The action ran before anybody was released. */
		if (atomic_load(&m->actions) < round + 1)
			return 99;
		atomic_fetch_or(&m->seen, 1 << (index + 3 * round));
	}
	return 0;
}

static void a_barrier_releases_all_with_distinct_indices_after_the_action(void **state)
{
	struct meeting m;
	atomic_init(&m.actions, 0);
	atomic_init(&m.seen, 0);
	assert_int_equal(mt_barrier_init(&m.barrier, 3, count_action, &m, 0), 0);
	mt_thread *threads[3];
	for (int i = 0; i < 3; i++)
		threads[i] = start_thread(meet_twice, &m);
	for (int i = 0; i < 3; i++)
		assert_int_equal(join_thread(threads[i]), 0);
	assert_int_equal(atomic_load(&m.actions), 2);
	assert_int_equal(atomic_load(&m.seen), 0x3f); /* 0, 1, 2 in both rounds */
	assert_false(mt_barrier_broken(&m.barrier));
	assert_int_equal(mt_barrier_init(&m.barrier, 0, NULL, NULL, 0), -EINVAL);
}

static int wait_at_barrier(void *arg)
{
	return -mt_barrier_wait(arg, 30);
}

static void a_timeout_breaks_the_barrier_until_reset(void **state)
{
	mt_barrier b;
	assert_int_equal(mt_barrier_init(&b, 2, NULL, NULL, 0), 0);
	assert_int_equal(mt_barrier_wait(&b, 0.02), -ETIMEDOUT);
	assert_true(mt_barrier_broken(&b));
	assert_int_equal(mt_barrier_wait(&b, 1), -ECANCELED);
	mt_barrier_reset(&b);
	assert_false(mt_barrier_broken(&b));
	mt_thread *other = start_thread(wait_at_barrier, &b);
	int index = mt_barrier_wait(&b, 30);
	assert_true(index == 0 || index == 1);
	int other_index = join_thread(other); /* -index */
	assert_int_equal(index + -other_index, 1);
}

static void abort_and_reset_send_waiters_away_broken(void **state)
{
	mt_barrier b;
	assert_int_equal(mt_barrier_init(&b, 3, NULL, NULL, 0), 0);
	mt_thread *waiter = start_thread(wait_at_barrier, &b);
	while (mt_barrier_n_waiting(&b) != 1)
		sleep_seconds(0.001);
	mt_barrier_abort(&b);
	assert_int_equal(join_thread(waiter), ECANCELED);

	mt_barrier_reset(&b);
	waiter = start_thread(wait_at_barrier, &b);
	while (mt_barrier_n_waiting(&b) != 1)
		sleep_seconds(0.001);
	mt_barrier_reset(&b);
	assert_int_equal(join_thread(waiter), ECANCELED);
	assert_false(mt_barrier_broken(&b));
	assert_int_equal(mt_barrier_n_waiting(&b), 0);
}

static int meet_across_processes(void *arg)
{
	int index = mt_barrier_wait(arg, 30);
	return index < 0 ? 100 : index;
}

static void a_shared_barrier_meets_across_processes(void **state)
{
	mt_barrier *b = shared_page();
	assert_int_equal(mt_barrier_init(b, 2, NULL, NULL, MT_PSHARED), 0);
	mt_process *child;
	assert_int_equal(mt_process_start(&child, meet_across_processes, b, NULL), 0);
	int index = mt_barrier_wait(b, 30);
	assert_int_equal(mt_process_join(child, 30), 0);
	assert_int_equal(index + mt_process_exitcode(child), 1);
	mt_process_free(child);
	munmap(b, 4096);
}

/* ---- Timer ---- */

static _Atomic int timer_calls;

static int timer_fired(void *arg)
{
	atomic_fetch_add(&timer_calls, 1);
	return 7;
}

static void a_timer_runs_its_function_after_the_interval(void **state)
{
	atomic_store(&timer_calls, 0);
	mt_timer *t;
	double t0 = now_seconds();
	assert_int_equal(mt_timer_start(&t, 0.03, timer_fired, NULL, NULL), 0);
	assert_int_equal(mt_timer_join(t, 30), 0);
	assert_true(now_seconds() - t0 >= 0.025);
	assert_int_equal(atomic_load(&timer_calls), 1);
	assert_int_equal(mt_timer_exitcode(t), 7);
	assert_int_equal(mt_timer_cancel(t), -EALREADY);
	mt_timer_free(t);
	assert_int_equal(mt_timer_start(&t, NAN, timer_fired, NULL, NULL), -EINVAL);
}

static void a_cancelled_timer_never_runs(void **state)
{
	atomic_store(&timer_calls, 0);
	mt_timer *t;
	assert_int_equal(mt_timer_start(&t, 30, timer_fired, NULL, NULL), 0);
	assert_int_equal(mt_timer_cancel(t), 0);
	assert_int_equal(mt_timer_cancel(t), 0);
	assert_int_equal(mt_timer_join(t, 30), 0); /* at once, not after 30 s */
	assert_int_equal(mt_timer_exitcode(t), MT_NOEXIT);
	assert_int_equal(atomic_load(&timer_calls), 0);
	mt_timer_free(t);
}

static void a_freed_pending_timer_still_fires(void **state)
{
	atomic_store(&timer_calls, 0);
	mt_timer *t;
	assert_int_equal(mt_timer_start(&t, 0.01, timer_fired, NULL, NULL), 0);
	mt_timer_free(t);
	for (int i = 0; i < 5000 && atomic_load(&timer_calls) == 0; i++)
		sleep_seconds(0.001);
	assert_int_equal(atomic_load(&timer_calls), 1);
}

/* ---- Event ---- */

static void an_event_is_set_cleared_and_waited_for(void **state)
{
	mt_event e = MT_EVENT_INIT;
	assert_false(mt_event_is_set(&e));
	assert_int_equal(mt_event_wait(&e, 0), -ETIMEDOUT);
	assert_int_equal(mt_event_wait(&e, 0.02), -ETIMEDOUT);
	mt_event_set(&e);
	mt_event_set(&e);
	assert_true(mt_event_is_set(&e));
	assert_int_equal(mt_event_wait(&e, -1), 0);
	mt_event_clear(&e);
	assert_false(mt_event_is_set(&e));
	assert_int_equal(mt_event_wait(&e, 0), -ETIMEDOUT);
	assert_int_equal(mt_event_wait(&e, NAN), -EINVAL);
	assert_int_equal(mt_event_init(&e, 9), -EINVAL);
}

static int wait_for_event(void *arg)
{
	return -mt_event_wait(arg, 30);
}

static void every_waiter_a_set_woke_succeeds_even_if_cleared_at_once(void **state)
{
	mt_event e = MT_EVENT_INIT;
	mt_thread *threads[3];
	for (int i = 0; i < 3; i++)
		threads[i] = start_thread(wait_for_event, &e);
	sleep_seconds(0.02);
	mt_event_set(&e);
	mt_event_clear(&e); /* Python's waiters still return True */
	for (int i = 0; i < 3; i++)
		assert_int_equal(join_thread(threads[i]), 0);
}

static int set_event_later(void *arg)
{
	sleep_seconds(0.02);
	mt_event_set(arg);
	return 0;
}

static void a_shared_event_crosses_processes(void **state)
{
	mt_event *e = shared_page();
	assert_int_equal(mt_event_init(e, MT_PSHARED), 0);
	mt_process *child;
	assert_int_equal(mt_process_start(&child, set_event_later, e, NULL), 0);
	assert_int_equal(mt_event_wait(e, 30), 0);
	assert_int_equal(mt_process_join(child, 30), 0);
	mt_process_free(child);
	munmap(e, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_static_lock_is_taken_and_given_back),
		cmocka_unit_test(releasing_a_free_lock_is_eperm),
		cmocka_unit_test(a_held_lock_times_out_and_is_not_reentrant),
		cmocka_unit_test(any_thread_may_release_and_a_waiter_then_gets_it),
		cmocka_unit_test(a_lock_makes_the_counter_race_exact_across_threads),
		cmocka_unit_test(a_shared_lock_makes_the_counter_exact_across_processes),
		cmocka_unit_test(an_rlock_is_reentrant_and_only_its_holder_releases_it),
		cmocka_unit_test(a_barrier_releases_all_with_distinct_indices_after_the_action),
		cmocka_unit_test(a_timeout_breaks_the_barrier_until_reset),
		cmocka_unit_test(abort_and_reset_send_waiters_away_broken),
		cmocka_unit_test(a_shared_barrier_meets_across_processes),
		cmocka_unit_test(a_timer_runs_its_function_after_the_interval),
		cmocka_unit_test(a_cancelled_timer_never_runs),
		cmocka_unit_test(a_freed_pending_timer_still_fires),
		cmocka_unit_test(a_semaphore_counts_down_and_times_out_at_zero),
		cmocka_unit_test(a_bounded_semaphore_refuses_to_pass_its_initial_value),
		cmocka_unit_test(a_semaphore_limits_how_many_work_at_once),
		cmocka_unit_test(releasing_n_wakes_n_waiters),
		cmocka_unit_test(a_shared_semaphore_signals_across_processes),
		cmocka_unit_test(an_event_is_set_cleared_and_waited_for),
		cmocka_unit_test(every_waiter_a_set_woke_succeeds_even_if_cleared_at_once),
		cmocka_unit_test(a_shared_event_crosses_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
