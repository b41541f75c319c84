/* test_lockcheck.c: lock-order checking reports inversions (and a thread
 * taking a lock it holds) before anybody waits, once each, and stays quiet
 * for consistent orders and re-entered RLocks. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "testutil.h"

static char self_path[4096];

/* Runs fn with standard error captured into buf. */
static void capture_stderr(void (*fn)(void), char *buf, size_t size)
{
	char path[] = "/tmp/mtask-lockcheck-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

static mt_lock noodle = MT_LOCK_INIT_NAMED("noodle");
static mt_lock fork_lock = MT_LOCK_INIT_NAMED("fork");
static mt_lock third = MT_LOCK_INIT_NAMED("third");

static int take_in_order(void *arg)
{
	mt_lock **order = arg;
	for (int i = 0; order[i]; i++)
		if (mt_lock_acquire(order[i], 1))
			return 1;
	for (int i = 0; order[i]; i++)
		mt_lock_release(order[i]);
	return 0;
}

/* One thread runs each order in turn, so nothing can really deadlock. */
static void run_orders(mt_lock **first, mt_lock **second, const char *name1,
		       const char *name2)
{
	mt_thread_opts o1 = {.name = name1}, o2 = {.name = name2};
	mt_thread *t;
	assert_int_equal(mt_thread_start(&t, take_in_order, first, &o1), 0);
	assert_int_equal(mt_thread_join(t, 30), 0);
	mt_thread_free(t);
	assert_int_equal(mt_thread_start(&t, take_in_order, second, &o2), 0);
	assert_int_equal(mt_thread_join(t, 30), 0);
	mt_thread_free(t);
}

static void philosophers_inversion(void)
{
	mt_lock *a[] = {&noodle, &fork_lock, NULL};
	mt_lock *b[] = {&fork_lock, &noodle, NULL};
	run_orders(a, b, "scientist-1", "scientist-2");
}

static void opposite_orders_are_reported_with_both_paths(void **state)
{
	mt_lockcheck_enable(true);
	unsigned before = mt_lockcheck_reports();
	static char out[1 << 14];
	capture_stderr(philosophers_inversion, out, sizeof out);
	assert_int_equal(mt_lockcheck_reports(), before + 1);
	assert_non_null(strstr(out, "lock order inversion"));
	assert_non_null(strstr(out, "thread \"scientist-2\" takes \"noodle\" while holding \"fork\""));
	assert_non_null(strstr(out, "thread \"scientist-1\" took \"fork\" while holding \"noodle\""));
	/* Once only: the same inversion again stays quiet. */
	capture_stderr(philosophers_inversion, out, sizeof out);
	assert_int_equal(mt_lockcheck_reports(), before + 1);
	mt_lockcheck_enable(false);
}

static void consistent_orders(void)
{
	mt_lock *a[] = {&noodle, &third, NULL};
	run_orders(a, a, "same-1", "same-2");
}

static void the_same_order_twice_is_quiet(void **state)
{
	mt_lockcheck_enable(true);
	unsigned before = mt_lockcheck_reports();
	static char out[4096];
	capture_stderr(consistent_orders, out, sizeof out);
	assert_int_equal(mt_lockcheck_reports(), before);
	assert_string_equal(out, "");
	mt_lockcheck_enable(false);
}

static mt_lock chain[3] = {MT_LOCK_INIT_NAMED("A"), MT_LOCK_INIT_NAMED("B"),
			   MT_LOCK_INIT_NAMED("C")};

static void chained_inversion(void)
{
	mt_lock *ab[] = {&chain[0], &chain[1], NULL};
	mt_lock *bc[] = {&chain[1], &chain[2], NULL};
	mt_lock *ca[] = {&chain[2], &chain[0], NULL};
	run_orders(ab, bc, "ab", "bc");
	mt_thread *t;
	assert_int_equal(mt_thread_start(&t, take_in_order, ca, NULL), 0);
	assert_int_equal(mt_thread_join(t, 30), 0);
	mt_thread_free(t);
}

static void an_inversion_through_a_chain_is_reported(void **state)
{
	mt_lockcheck_enable(true);
	unsigned before = mt_lockcheck_reports();
	static char out[1 << 14];
	capture_stderr(chained_inversion, out, sizeof out);
	assert_int_equal(mt_lockcheck_reports(), before + 1);
	assert_non_null(strstr(out, "takes \"A\" while holding \"C\""));
	mt_lockcheck_enable(false);
}

static void take_held_lock_again(void)
{
	static mt_lock plain = MT_LOCK_INIT_NAMED("plain");
	static mt_rlock reentrant = MT_RLOCK_INIT;
	assert_int_equal(mt_rlock_acquire(&reentrant, 0), 0);
	assert_int_equal(mt_rlock_acquire(&reentrant, 0), 0); /* fine: reentrant */
	mt_rlock_release(&reentrant);
	mt_rlock_release(&reentrant);
	assert_int_equal(mt_lock_acquire(&plain, 0), 0);
	assert_int_equal(mt_lock_acquire(&plain, 0), -ETIMEDOUT); /* the notes' 卡住 */
	mt_lock_release(&plain);
}

static void taking_a_held_lock_again_is_reported_but_an_rlock_is_not(void **state)
{
	mt_lockcheck_enable(true);
	unsigned before = mt_lockcheck_reports();
	static char out[8192];
	capture_stderr(take_held_lock_again, out, sizeof out);
	assert_int_equal(mt_lockcheck_reports(), before + 1);
	assert_non_null(strstr(out, "takes \"plain\", which it already holds"));
	mt_lockcheck_enable(false);
}

static void nothing_is_checked_while_off(void **state)
{
	assert_false(mt_lockcheck_enable(false));
	unsigned before = mt_lockcheck_reports();
	static char out[4096];
	capture_stderr(take_held_lock_again, out, sizeof out);
	assert_int_equal(mt_lockcheck_reports(), before);
}

/* ---- the watchdog ---- */

static mt_lock left = MT_LOCK_INIT_NAMED("left fork");
static mt_lock right = MT_LOCK_INIT_NAMED("right fork");
static mt_barrier both_hold_one;

struct diner {
	mt_lock *first, *second;
};

/* Takes one lock, waits until the other diner holds the other, then asks
 * for it: a real deadlock, which the 1 s timeout ends. */
static int dine(void *arg)
{
	struct diner *d = arg;
	mt_lock_acquire(d->first, -1);
	mt_barrier_wait(&both_hold_one, 10);
	int err = mt_lock_acquire(d->second, 1);
	if (!err)
		mt_lock_release(d->second);
	mt_lock_release(d->first);
	return -err;
}

static void deadlocked_diners(void)
{
	struct diner a = {&left, &right}, b = {&right, &left};
	mt_thread_opts oa = {.name = "diner-a"}, ob = {.name = "diner-b"};
	mt_thread *ta, *tb;
	mt_barrier_init(&both_hold_one, 2, NULL, NULL, 0);
	assert_int_equal(mt_thread_start(&ta, dine, &a, &oa), 0);
	assert_int_equal(mt_thread_start(&tb, dine, &b, &ob), 0);
	assert_int_equal(mt_thread_join(ta, 30), 0);
	assert_int_equal(mt_thread_join(tb, 30), 0);
	/* At least one gave up; the other may then have eaten. */
	assert_true(mt_thread_exitcode(ta) == ETIMEDOUT || mt_thread_exitcode(tb) == ETIMEDOUT);
	mt_thread_free(ta);
	mt_thread_free(tb);
}

static void the_watchdog_prints_a_real_deadlock_cycle_once(void **state)
{
	assert_int_equal(mt_watchdog_enable(0.05, false), 0);
	unsigned before = mt_watchdog_reports();
	static char out[8192];
	capture_stderr(deadlocked_diners, out, sizeof out);
	assert_int_equal(mt_watchdog_reports(), before + 1);
	assert_non_null(strstr(out, "mtask: deadlock"));
	assert_non_null(strstr(out, "waits for \"left fork\", held by thread \"diner-a\""));
	assert_non_null(strstr(out, "waits for \"right fork\", held by thread \"diner-b\""));
	assert_int_equal(mt_watchdog_enable(0, false), 0);
}

static mt_lock slow = MT_LOCK_INIT_NAMED("slow");

static int hold_slow_a_while(void *arg)
{
	mt_lock_acquire(&slow, -1);
	mt_event_set(arg);
	sleep_seconds(0.2);
	mt_lock_release(&slow);
	return 0;
}

static void a_long_wait_without_a_cycle(void)
{
	mt_event taken = MT_EVENT_INIT;
	mt_thread *holder;
	assert_int_equal(mt_thread_start(&holder, hold_slow_a_while, &taken, NULL), 0);
	mt_event_wait(&taken, -1);
	assert_int_equal(mt_lock_acquire(&slow, 10), 0); /* waits ~0.2 s */
	mt_lock_release(&slow);
	mt_thread_join(holder, -1);
	mt_thread_free(holder);
}

static void a_long_wait_is_not_a_deadlock(void **state)
{
	assert_int_equal(mt_watchdog_enable(0.02, false), 0);
	unsigned before = mt_watchdog_reports();
	static char out[4096];
	capture_stderr(a_long_wait_without_a_cycle, out, sizeof out);
	assert_int_equal(mt_watchdog_reports(), before);
	assert_string_equal(out, "");
	assert_int_equal(mt_watchdog_enable(0, false), 0);
	assert_int_equal(mt_watchdog_enable(-1, false), -EINVAL);
	assert_int_equal(mt_watchdog_enable(0.0 / 0.0, false), -EINVAL);
}

static void the_environment_variable_turns_it_on(void **state)
{
	pid_t pid = fork();
	if (pid == 0) {
		setenv("MTASK_LOCKCHECK", "1", 1);
		execl(self_path, self_path, "--report-lockcheck", (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1); /* it was on at load */
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--report-lockcheck"))
		return mt_lockcheck_enable(false) ? 1 : 0;
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(opposite_orders_are_reported_with_both_paths),
		cmocka_unit_test(the_same_order_twice_is_quiet),
		cmocka_unit_test(an_inversion_through_a_chain_is_reported),
		cmocka_unit_test(taking_a_held_lock_again_is_reported_but_an_rlock_is_not),
		cmocka_unit_test(nothing_is_checked_while_off),
		cmocka_unit_test(the_watchdog_prints_a_real_deadlock_cycle_once),
		cmocka_unit_test(a_long_wait_is_not_a_deadlock),
		cmocka_unit_test(the_environment_variable_turns_it_on),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
