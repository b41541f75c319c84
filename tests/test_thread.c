/* test_thread.c: mt_thread_*: joins and timeouts, names and identities,
 * Python's registry (current, main, dummies, enumerate, active_count), and
 * what program exit and fork do to threads. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "testutil.h"

static int return_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

/* A thread that runs until the gate opens. */
static _Atomic int gate;

static int wait_at_gate(void *arg)
{
	while (!atomic_load(&gate))
		sleep_seconds(0.001);
	return 5;
}

static mt_thread *start(mt_fn fn, void *arg, const mt_thread_opts *opts)
{
	mt_thread *t = NULL;
	assert_int_equal(mt_thread_start(&t, fn, arg, opts), 0);
	assert_non_null(t);
	return t;
}

static void join_reports_the_return_value(void **state)
{
	mt_thread *t = start(return_arg, (void *)42, NULL);
	assert_int_equal(mt_thread_join(t, -1), 0);
	assert_int_equal(mt_thread_exitcode(t), 42);
	assert_false(mt_thread_is_alive(t));
	assert_int_equal(mt_thread_join(t, 0), 0); /* joining again is fine */
	mt_thread_free(t);
}

static void join_timeout_expires_and_thread_stays_joinable(void **state)
{
	atomic_store(&gate, 0);
	mt_thread *t = start(wait_at_gate, NULL, NULL);
	assert_int_equal(mt_thread_join(t, 0.05), -ETIMEDOUT);
	assert_int_equal(mt_thread_join(t, 0), -ETIMEDOUT);
	assert_true(mt_thread_is_alive(t));
	assert_int_equal(mt_thread_exitcode(t), MT_NOEXIT);
	atomic_store(&gate, 1);
	assert_int_equal(mt_thread_join(t, 30), 0);
	assert_int_equal(mt_thread_exitcode(t), 5);
	mt_thread_free(t);
}

static int join_myself(void *arg)
{
	return mt_thread_join(mt_thread_current(), 1) == -EDEADLK ? 0 : 1;
}

static void joining_yourself_or_unstarted_threads_is_refused(void **state)
{
	mt_thread *t = start(join_myself, NULL, NULL);
	assert_int_equal(mt_thread_join(t, -1), 0);
	assert_int_equal(mt_thread_exitcode(t), 0);
	mt_thread_free(t);
	assert_int_equal(mt_thread_join(mt_thread_main(), 0), -EINVAL);
	assert_int_equal(mt_thread_join(NULL, 0), -EINVAL);
	t = start(return_arg, NULL, NULL);
	assert_int_equal(mt_thread_join(t, NAN), -EINVAL);
	assert_int_equal(mt_thread_join(t, -1), 0);
	mt_thread_free(t);
}

static void bad_start_arguments_are_einval(void **state)
{
	mt_thread *t;
	assert_int_equal(mt_thread_start(NULL, return_arg, NULL, NULL), -EINVAL);
	assert_int_equal(mt_thread_start(&t, NULL, NULL, NULL), -EINVAL);
}

static int record_current(void *arg)
{
	*(mt_thread **)arg = mt_thread_current();
	return 0;
}

static void names_default_to_thread_n_and_can_change(void **state)
{
	mt_thread *t = start(return_arg, NULL, NULL);
	assert_int_equal(strncmp(mt_thread_name(t), "Thread-", 7), 0);
	mt_thread_join(t, -1);
	assert_int_equal(mt_thread_set_name(t, "renamed"), 0);
	assert_string_equal(mt_thread_name(t), "renamed");
	assert_int_equal(mt_thread_set_name(t, NULL), -EINVAL);
	mt_thread_free(t);

	char long_name[100];
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	mt_thread_opts opts = {.name = long_name};
	t = start(return_arg, NULL, &opts);
	assert_int_equal(strlen(mt_thread_name(t)), MT_THREAD_NAME_MAX - 1);
	mt_thread_join(t, -1);
	mt_thread_free(t);
}

static int rename_self_and_read_kernel_name(void *arg)
{
	mt_thread_set_name(mt_thread_current(), "a-rather-long-thread-name");
	char path[64], comm[32] = "";
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", gettid());
	FILE *f = fopen(path, "r");
	if (!f || !fgets(comm, sizeof comm, f))
		return 2;
	fclose(f);
	return strcmp(comm, "a-rather-long-t\n") == 0 ? 0 : 1;
}

static void renaming_yourself_renames_the_kernel_thread(void **state)
{
	mt_thread *t = start(rename_self_and_read_kernel_name, NULL, NULL);
	mt_thread_join(t, -1);
	assert_int_equal(mt_thread_exitcode(t), 0);
	mt_thread_free(t);
}

static int report_ids(void *arg)
{
	pid_t *ids = arg;
	ids[0] = gettid();
	ids[1] = (pid_t)(pthread_self() == (pthread_t)mt_thread_ident(mt_thread_current()));
	return 0;
}

static void current_ident_and_native_id_describe_the_thread(void **state)
{
	pid_t ids[2] = {0, 0};
	mt_thread *t = start(report_ids, ids, NULL);
	pid_t native = mt_thread_native_id(t);
	mt_thread_join(t, -1);
	assert_int_equal(native, ids[0]);
	assert_int_equal(ids[1], 1);
	mt_thread_free(t);

	mt_thread *seen_inside = NULL;
	t = start(record_current, &seen_inside, NULL);
	mt_thread_join(t, -1);
	assert_ptr_equal(seen_inside, t);
	mt_thread_free(t);
}

static void the_main_thread_is_mainthread(void **state)
{
	mt_thread *me = mt_thread_current();
	assert_ptr_equal(me, mt_thread_main());
	assert_string_equal(mt_thread_name(me), "MainThread");
	assert_false(mt_thread_daemon(me));
	assert_true(mt_thread_is_alive(me));
	assert_int_equal(mt_thread_native_id(me), getpid());
	assert_int_equal(mt_thread_exitcode(me), MT_NOEXIT);
	mt_thread_free(me); /* ignored */
	assert_ptr_equal(mt_thread_current(), me);
}

static int count_including_main(void)
{
	mt_thread_info info[16];
	int n = mt_thread_enumerate(info, 16);
	bool main_seen = false;
	for (int i = 0; i < n && i < 16; i++)
		main_seen |= info[i].is_main && !strcmp(info[i].name, "MainThread");
	return main_seen ? n : -1;
}

static void enumerate_and_active_count_follow_live_threads(void **state)
{
	int before = mt_thread_active_count();
	assert_int_equal(count_including_main(), before);
	atomic_store(&gate, 0);
	mt_thread *threads[3];
	mt_thread_opts opts = {.name = "worker", .daemon = true};
	for (int i = 0; i < 3; i++)
		threads[i] = start(wait_at_gate, NULL, &opts);
	assert_int_equal(mt_thread_active_count(), before + 3);
	mt_thread_info info[16];
	int n = mt_thread_enumerate(info, 16);
	int workers = 0;
	for (int i = 0; i < n; i++)
		workers += !strcmp(info[i].name, "worker") && info[i].daemon;
	assert_int_equal(workers, 3);
	assert_int_equal(mt_thread_enumerate(info, 1), before + 3);
	atomic_store(&gate, 1);
	for (int i = 0; i < 3; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	assert_int_equal(mt_thread_active_count(), before);
}

static _Atomic int foreign_stage;

static void *foreign_thread(void *arg)
{
	mt_thread *me = mt_thread_current();
	bool ok = strncmp(mt_thread_name(me), "Dummy-", 6) == 0 &&
		  mt_thread_daemon(me) && mt_thread_current() == me &&
		  mt_thread_join(me, 0) == -EINVAL;
	atomic_store(&foreign_stage, ok ? 1 : -1);
	while (atomic_load(&foreign_stage) != 2)
		sleep_seconds(0.001);
	return NULL;
}

static void foreign_threads_get_a_dummy_record(void **state)
{
	int before = mt_thread_active_count();
	pthread_t thread;
	atomic_store(&foreign_stage, 0);
	assert_int_equal(pthread_create(&thread, NULL, foreign_thread, NULL), 0);
	while (atomic_load(&foreign_stage) == 0)
		sleep_seconds(0.001);
	assert_int_equal(atomic_load(&foreign_stage), 1);
	assert_int_equal(mt_thread_active_count(), before + 1);
	atomic_store(&foreign_stage, 2);
	pthread_join(thread, NULL);
	assert_int_equal(mt_thread_active_count(), before);
}

static int report_stack_size(void *arg)
{
	pthread_attr_t attr;
	size_t size = 0;
	pthread_getattr_np(pthread_self(), &attr);
	pthread_attr_getstacksize(&attr, &size);
	pthread_attr_destroy(&attr);
	return size >= *(size_t *)arg ? 0 : 1;
}

static void stack_size_is_applied(void **state)
{
	size_t want = 3 * 1024 * 1024 + 123;
	mt_thread_opts opts = {.stack_size = want};
	mt_thread *t = start(report_stack_size, &want, &opts);
	mt_thread_join(t, -1);
	assert_int_equal(mt_thread_exitcode(t), 0);
	mt_thread_free(t);
}

static void freeing_a_running_thread_detaches_it(void **state)
{
	atomic_store(&gate, 0);
	int before = mt_thread_active_count();
	mt_thread *t = start(wait_at_gate, NULL, NULL);
	mt_thread_free(t);
	assert_int_equal(mt_thread_active_count(), before + 1);
	atomic_store(&gate, 1);
	for (int i = 0; i < 5000 && mt_thread_active_count() != before; i++)
		sleep_seconds(0.001);
	assert_int_equal(mt_thread_active_count(), before);
}

/* Program exit, observed from a forked child that calls exit(). */
static int exit_pipe[2];

static int sleep_then_write(void *arg)
{
	sleep_seconds(*(double *)arg);
	return write(exit_pipe[1], "done", 4) == 4 ? 0 : 1;
}

static int exit_while_a_thread_sleeps(bool daemon, double nap)
{
	assert_int_equal(pipe(exit_pipe), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(exit_pipe[0]);
		mt_thread_opts opts = {.daemon = daemon};
		mt_thread *t;
		if (mt_thread_start(&t, sleep_then_write, &nap, &opts))
			_exit(3);
		exit(0); /* the library's atexit handler decides */
	}
	close(exit_pipe[1]);
	char buf[8];
	ssize_t got = read(exit_pipe[0], buf, sizeof buf); /* EOF at exit */
	int status;
	waitpid(pid, &status, 0);
	close(exit_pipe[0]);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return (int)got;
}

static void program_exit_waits_for_nondaemon_threads(void **state)
{
	assert_int_equal(exit_while_a_thread_sleeps(false, 0.2), 4);
}

static void program_exit_does_not_wait_for_daemon_threads(void **state)
{
	assert_int_equal(exit_while_a_thread_sleeps(true, 30), 0);
}

static mt_thread *blocked_in_parent;

static int inspect_threads_after_fork(void *arg)
{
	/* Only this thread crossed the fork: the other reads as ended. */
	if (mt_thread_is_alive(blocked_in_parent))
		return 1;
	if (mt_thread_active_count() != 1)
		return 2;
	if (mt_thread_join(blocked_in_parent, 1) != 0)
		return 3;
	if (mt_thread_native_id(mt_thread_current()) != getpid())
		return 5; /* the child's own ID, not the parent's (Python's too) */
	return strcmp(mt_thread_name(mt_thread_current()), "MainThread") ? 4 : 0;
}

static void only_the_forking_thread_lives_in_a_child(void **state)
{
	atomic_store(&gate, 0);
	blocked_in_parent = start(wait_at_gate, NULL, NULL);
	mt_process *p;
	assert_int_equal(mt_process_start(&p, inspect_threads_after_fork, NULL, NULL), 0);
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_exitcode(p), 0);
	mt_process_free(p);
	atomic_store(&gate, 1);
	mt_thread_join(blocked_in_parent, -1);
	mt_thread_free(blocked_in_parent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(join_reports_the_return_value),
		cmocka_unit_test(join_timeout_expires_and_thread_stays_joinable),
		cmocka_unit_test(joining_yourself_or_unstarted_threads_is_refused),
		cmocka_unit_test(bad_start_arguments_are_einval),
		cmocka_unit_test(names_default_to_thread_n_and_can_change),
		cmocka_unit_test(renaming_yourself_renames_the_kernel_thread),
		cmocka_unit_test(current_ident_and_native_id_describe_the_thread),
		cmocka_unit_test(the_main_thread_is_mainthread),
		cmocka_unit_test(enumerate_and_active_count_follow_live_threads),
		cmocka_unit_test(foreign_threads_get_a_dummy_record),
		cmocka_unit_test(stack_size_is_applied),
		cmocka_unit_test(freeing_a_running_thread_detaches_it),
		cmocka_unit_test(program_exit_waits_for_nondaemon_threads),
		cmocka_unit_test(program_exit_does_not_wait_for_daemon_threads),
		cmocka_unit_test(only_the_forking_thread_lives_in_a_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
