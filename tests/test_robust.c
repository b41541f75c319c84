/* test_robust.c: shared Locks and RLocks whose holder dies: -EOWNERDEAD,
 * mt_lock_consistent, -ENOTRECOVERABLE, and coexistence with glibc's robust
 * mutexes on the same kernel list. Holders are SIGKILLed processes or
 * threads that end while holding. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "mtask/mtask.h"
#include "testutil.h"

struct shared {
	mt_lock lock, second;
	mt_rlock rlock;
	mt_cond cond;
	mt_event held; /* the child holds what it should */
	pthread_mutex_t glibc_mutex;
	_Atomic long value;
};

static struct shared *shared_new(void)
{
	struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(s != MAP_FAILED);
	assert_int_equal(mt_lock_init(&s->lock, MT_PSHARED), 0);
	assert_int_equal(mt_lock_init(&s->second, MT_PSHARED), 0);
	assert_int_equal(mt_rlock_init(&s->rlock, MT_PSHARED), 0);
	assert_int_equal(mt_cond_init(&s->cond, MT_PSHARED), 0);
	assert_int_equal(mt_event_init(&s->held, MT_PSHARED), 0);
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->glibc_mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	return s;
}

static void shared_free(struct shared *s)
{
	munmap(s, sizeof *s);
}

static _Noreturn void wait_forever(void)
{
	for (;;)
		pause();
}

/* Waits for the child to hold its locks, SIGKILLs it and reaps it. */
static void kill_holder(mt_process *p, struct shared *s)
{
	assert_int_equal(mt_event_wait(&s->held, 30), 0);
	assert_int_equal(mt_process_kill(p), 0);
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_exitcode(p), -SIGKILL);
	mt_process_free(p);
}

static int hold_lock_and_die(void *arg)
{
	struct shared *s = arg;
	if (mt_lock_acquire(&s->lock, -1))
		return 1;
	s->value = -1; /* half an update */
	mt_event_set(&s->held);
	wait_forever();
}

static void a_killed_holders_lock_is_taken_with_eownerdead(void **state)
{
	struct shared *s = shared_new();
	mt_process *p = start_child(hold_lock_and_die, s);
	assert_int_equal(mt_event_wait(&s->held, 30), 0);
	assert_int_equal(mt_lock_acquire(&s->lock, 0), -ETIMEDOUT);
	kill_holder(p, s);

	assert_false(mt_lock_locked(&s->lock)); /* free, but marked */
	assert_int_equal(mt_lock_acquire(&s->lock, 5), -EOWNERDEAD);
	assert_true(mt_lock_locked(&s->lock));
	assert_int_equal(s->value, -1);
	s->value = 0; /* the repair */
	assert_int_equal(mt_lock_consistent(&s->lock), 0);
	assert_int_equal(mt_lock_consistent(&s->lock), -EINVAL);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	assert_int_equal(mt_lock_acquire(&s->lock, 0), 0);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	shared_free(s);
}

static int acquire_in_thread(void *arg)
{
	return mt_lock_acquire(arg, 30);
}

static bool somebody_sleeps_on(const mt_lock *l)
{
	return atomic_load((_Atomic uint32_t *)&l->state) & FUTEX_WAITERS;
}

static void a_sleeping_waiter_wakes_with_eownerdead_when_the_holder_dies(void **state)
{
	struct shared *s = shared_new();
	mt_process *p = start_child(hold_lock_and_die, s);
	assert_int_equal(mt_event_wait(&s->held, 30), 0);
	mt_thread *waiter;
	assert_int_equal(mt_thread_start(&waiter, acquire_in_thread, &s->lock, NULL), 0);
	for (int i = 0; i < 3000 && !somebody_sleeps_on(&s->lock); i++)
		usleep(1000);
	assert_true(somebody_sleeps_on(&s->lock));
	kill_holder(p, s);
	assert_int_equal(mt_thread_join(waiter, 30), 0);
	assert_int_equal(mt_thread_exitcode(waiter), -EOWNERDEAD);
	mt_thread_free(waiter);
	/* The waiter's thread ended holding it: dead again. */
	assert_int_equal(mt_lock_acquire(&s->lock, 5), -EOWNERDEAD);
	assert_int_equal(mt_lock_consistent(&s->lock), 0);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	shared_free(s);
}

static int acquire_in_child(void *arg)
{
	struct shared *s = arg;
	return -mt_lock_acquire(&s->lock, 5);
}

static void released_unrepaired_the_lock_is_not_recoverable(void **state)
{
	struct shared *s = shared_new();
	kill_holder(start_child(hold_lock_and_die, s), s);
	assert_int_equal(mt_lock_acquire(&s->lock, 5), -EOWNERDEAD);
	assert_int_equal(mt_lock_release(&s->lock), 0); /* no repair */
	assert_int_equal(mt_lock_acquire(&s->lock, 5), -ENOTRECOVERABLE);
	assert_false(mt_lock_locked(&s->lock));

	mt_process *p = start_child(acquire_in_child, s);
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_exitcode(p), ENOTRECOVERABLE);
	mt_process_free(p);

	assert_int_equal(mt_lock_init(&s->lock, MT_PSHARED), 0); /* a new lock */
	assert_int_equal(mt_lock_acquire(&s->lock, 0), 0);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	shared_free(s);
}

static int hold_and_end(void *arg)
{
	return mt_lock_acquire(arg, 5);
}

static void a_thread_that_ends_holding_a_shared_lock_leaves_eownerdead(void **state)
{
	struct shared *s = shared_new();
	mt_thread *t;
	assert_int_equal(mt_thread_start(&t, hold_and_end, &s->lock, NULL), 0);
	assert_int_equal(mt_thread_join(t, 30), 0);
	assert_int_equal(mt_thread_exitcode(t), 0);
	mt_thread_free(t);
	assert_int_equal(mt_lock_acquire(&s->lock, 5), -EOWNERDEAD);
	assert_int_equal(mt_lock_consistent(&s->lock), 0);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	shared_free(s);
}

static int hold_lock_until_set(void *arg)
{
	struct shared *s = arg;
	if (mt_lock_acquire(&s->lock, 5))
		return 1;
	mt_event_set(&s->held);
	while (s->value == 0)
		usleep(1000);
	return mt_lock_release(&s->lock);
}

static void only_the_holding_thread_releases_a_shared_lock(void **state)
{
	struct shared *s = shared_new();
	mt_thread *t;
	assert_int_equal(mt_thread_start(&t, hold_lock_until_set, s, NULL), 0);
	assert_int_equal(mt_event_wait(&s->held, 30), 0);
	assert_int_equal(mt_lock_release(&s->lock), -EPERM);
	assert_int_equal(mt_lock_consistent(&s->lock), -EPERM);
	assert_true(mt_lock_locked(&s->lock));
	s->value = 1;
	assert_int_equal(mt_thread_join(t, 30), 0);
	assert_int_equal(mt_thread_exitcode(t), 0);
	mt_thread_free(t);
	assert_int_equal(mt_lock_release(&s->lock), -EPERM); /* free now */
	shared_free(s);
}

static int hold_rlock_twice_and_die(void *arg)
{
	struct shared *s = arg;
	if (mt_rlock_acquire(&s->rlock, -1) || mt_rlock_acquire(&s->rlock, -1))
		return 1;
	mt_event_set(&s->held);
	wait_forever();
}

static void an_rlock_held_twice_by_a_dead_process_is_held_once_after(void **state)
{
	struct shared *s = shared_new();
	kill_holder(start_child(hold_rlock_twice_and_die, s), s);
	assert_int_equal(mt_rlock_acquire(&s->rlock, 5), -EOWNERDEAD);
	assert_int_equal(mt_rlock_acquire(&s->rlock, 0), 0); /* reentrant */
	assert_int_equal(mt_rlock_consistent(&s->rlock), 0);
	assert_int_equal(mt_rlock_release(&s->rlock), 0);
	assert_true(mt_lock_locked(&s->rlock.lock));
	assert_int_equal(mt_rlock_release(&s->rlock), 0);
	assert_false(mt_lock_locked(&s->rlock.lock));
	assert_int_equal(mt_rlock_release(&s->rlock), -EPERM);
	shared_free(s);
}

static int notify_and_die(void *arg)
{
	struct shared *s = arg;
	if (mt_lock_acquire(&s->lock, 30))
		return 1;
	mt_cond_notify(&s->cond, 1);
	mt_event_set(&s->held);
	wait_forever();
}

struct holder {
	mt_process *process;
	struct shared *shared;
};

static int kill_holder_in_thread(void *arg)
{
	struct holder *h = arg;
	kill_holder(h->process, h->shared);
	return 0;
}

static void a_condition_wait_reports_a_notifier_that_died_holding_the_lock(void **state)
{
	struct shared *s = shared_new();
	assert_int_equal(mt_lock_acquire(&s->lock, 0), 0);
	/* The child can take the lock only once this thread's wait let it go;
	 * the kill comes from another thread, as this one is inside the wait. */
	struct holder h = {start_child(notify_and_die, s), s};
	mt_thread *killer;
	assert_int_equal(mt_thread_start(&killer, kill_holder_in_thread, &h, NULL), 0);
	assert_int_equal(mt_cond_wait(&s->cond, &s->lock, 30), -EOWNERDEAD);
	assert_true(mt_lock_locked(&s->lock));
	assert_int_equal(mt_lock_consistent(&s->lock), 0);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	assert_int_equal(mt_thread_join(killer, 30), 0);
	mt_thread_free(killer);
	shared_free(s);
}

/* Takes and frees glibc's robust mutex and two shared locks in an order
 * that is not last-in first-out, so links are removed from the middle of
 * the list, then dies holding all three. */
static int interleave_with_glibc_and_die(void *arg)
{
	struct shared *s = arg;
	if (mt_lock_acquire(&s->lock, 5) || pthread_mutex_lock(&s->glibc_mutex) ||
	    mt_lock_acquire(&s->second, 5) || pthread_mutex_unlock(&s->glibc_mutex) ||
	    mt_lock_release(&s->lock) || pthread_mutex_lock(&s->glibc_mutex) ||
	    mt_lock_acquire(&s->lock, 5) || mt_lock_release(&s->second) ||
	    mt_lock_acquire(&s->second, 5))
		return 1;
	mt_event_set(&s->held);
	wait_forever();
}

static void glibc_robust_mutexes_and_shared_locks_share_one_list(void **state)
{
	struct shared *s = shared_new();
	kill_holder(start_child(interleave_with_glibc_and_die, s), s);
	assert_int_equal(pthread_mutex_lock(&s->glibc_mutex), EOWNERDEAD);
	assert_int_equal(mt_lock_acquire(&s->lock, 5), -EOWNERDEAD);
	assert_int_equal(mt_lock_acquire(&s->second, 5), -EOWNERDEAD);
	assert_int_equal(pthread_mutex_consistent(&s->glibc_mutex), 0);
	assert_int_equal(pthread_mutex_unlock(&s->glibc_mutex), 0);
	assert_int_equal(mt_lock_consistent(&s->lock), 0);
	assert_int_equal(mt_lock_consistent(&s->second), 0);
	assert_int_equal(mt_lock_release(&s->second), 0);
	assert_int_equal(mt_lock_release(&s->lock), 0);
	shared_free(s);
}

static int count_for_ever(void *arg)
{
	struct shared *s = arg;
	for (;;) {
		int got = mt_lock_acquire(&s->lock, -1);
		if (got == -EOWNERDEAD)
			mt_lock_consistent(&s->lock);
		else if (got)
			return 1;
		s->value++;
		mt_lock_release(&s->lock);
		mt_event_set(&s->held); /* once round the loop: killing may start */
	}
	return 0;
}

/* Kills a child that takes and frees the lock in a loop at whatever
 * instant the kill lands, also between taking the word and linking the
 * lock: the lock must never stay held by the dead. */
static void a_holder_killed_at_any_instant_never_leaves_the_lock_held(void **state)
{
	struct shared *s = shared_new();
	srand(12345);
	for (int round = 0; round < 40; round++) {
		mt_event_clear(&s->held);
		mt_process *p = start_child(count_for_ever, s);
		/* The random instant counts from the loop's start, not the
		 * fork's: a slow child start (TSan) must not eat it. */
		assert_int_equal(mt_event_wait(&s->held, 30), 0);
		usleep((useconds_t)(rand() % 3000));
		kill_holder(p, s);
		int got = mt_lock_acquire(&s->lock, 10);
		if (got == -EOWNERDEAD)
			assert_int_equal(mt_lock_consistent(&s->lock), 0);
		else
			assert_int_equal(got, 0);
		assert_int_equal(mt_lock_release(&s->lock), 0);
	}
	assert_true(s->value > 0);
	shared_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_killed_holders_lock_is_taken_with_eownerdead),
		cmocka_unit_test(a_sleeping_waiter_wakes_with_eownerdead_when_the_holder_dies),
		cmocka_unit_test(released_unrepaired_the_lock_is_not_recoverable),
		cmocka_unit_test(a_thread_that_ends_holding_a_shared_lock_leaves_eownerdead),
		cmocka_unit_test(only_the_holding_thread_releases_a_shared_lock),
		cmocka_unit_test(an_rlock_held_twice_by_a_dead_process_is_held_once_after),
		cmocka_unit_test(a_condition_wait_reports_a_notifier_that_died_holding_the_lock),
		cmocka_unit_test(glibc_robust_mutexes_and_shared_locks_share_one_list),
		cmocka_unit_test(a_holder_killed_at_any_instant_never_leaves_the_lock_held),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
