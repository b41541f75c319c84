/* test_process.c: mt_process_*: exit codes as Python reports them, joins
 * and timeouts, signals, daemons, names, and reaping without zombies. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "testutil.h"

static int return_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static int sleep_long(void *arg)
{
	sleep_seconds(arg ? *(double *)arg : 30);
	return 0;
}

static int crash_with_segfault(void *arg)
{
	/* Sanitizer runtimes catch SIGSEGV and exit(1): give it back to the
	 * kernel so the child dies of the signal, as the test expects. */
	signal(SIGSEGV, SIG_DFL);
	/* A page with no access: a real fault that UBSan's null check and
	 * ASan's shadow check both let through to the hardware. */
	int *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*(volatile int *)page = 1;
	return 0;
}

static int crash_with_abort(void *arg)
{
	signal(SIGABRT, SIG_DFL);
	abort();
}

static mt_process *start(mt_fn fn, void *arg, const mt_process_opts *opts)
{
	mt_process *p = NULL;
	assert_int_equal(mt_process_start(&p, fn, arg, opts), 0);
	assert_non_null(p);
	return p;
}

/* Starts fn, joins it and returns its exit code. */
static int run_child(mt_fn fn, void *arg)
{
	mt_process *p = start(fn, arg, NULL);
	assert_int_equal(mt_process_join(p, 30), 0);
	int code = mt_process_exitcode(p);
	mt_process_free(p);
	return code;
}

static void exitcode_is_the_return_value(void **state)
{
	assert_int_equal(run_child(return_arg, (void *)7), 7);
	assert_int_equal(run_child(return_arg, (void *)0), 0);
}

static void exitcode_keeps_the_low_eight_bits_like_exit(void **state)
{
	assert_int_equal(run_child(return_arg, (void *)(256 + 3)), 3);
}

static void exitcode_is_noexit_while_running(void **state)
{
	mt_process *p = start(sleep_long, NULL, NULL);
	assert_int_equal(mt_process_exitcode(p), MT_NOEXIT);
	assert_true(mt_process_is_alive(p));
	assert_int_equal(mt_process_kill(p), 0);
	assert_int_equal(mt_process_join(p, -1), 0);
	assert_false(mt_process_is_alive(p));
	mt_process_free(p);
}

static void join_timeout_expires_and_child_stays_joinable(void **state)
{
	mt_process *p = start(sleep_long, NULL, NULL);
	assert_int_equal(mt_process_join(p, 0.05), -ETIMEDOUT);
	assert_int_equal(mt_process_join(p, 0), -ETIMEDOUT);
	assert_true(mt_process_is_alive(p));
	assert_int_equal(mt_process_terminate(p), 0);
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_exitcode(p), -SIGTERM);
	mt_process_free(p);
}

static void terminate_gives_minus_15_and_kill_minus_9(void **state)
{
	mt_process *a = start(sleep_long, NULL, NULL);
	mt_process *b = start(sleep_long, NULL, NULL);
	assert_int_equal(mt_process_terminate(a), 0);
	assert_int_equal(mt_process_kill(b), 0);
	assert_int_equal(mt_process_join(a, 30), 0);
	assert_int_equal(mt_process_join(b, 30), 0);
	assert_int_equal(mt_process_exitcode(a), -15);
	assert_int_equal(mt_process_exitcode(b), -9);
	mt_process_free(a);
	mt_process_free(b);
}

static void crashing_children_report_their_signal(void **state)
{
	assert_int_equal(run_child(crash_with_segfault, NULL), -11);
	assert_int_equal(run_child(crash_with_abort, NULL), -6);
}

static void signalling_an_ended_child_is_harmless(void **state)
{
	mt_process *p = start(return_arg, (void *)4, NULL);
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_terminate(p), 0);
	assert_int_equal(mt_process_kill(p), 0);
	assert_int_equal(mt_process_exitcode(p), 4);
	mt_process_free(p);
}

static void bad_arguments_are_einval(void **state)
{
	mt_process *p;
	assert_int_equal(mt_process_start(NULL, return_arg, NULL, NULL), -EINVAL);
	assert_int_equal(mt_process_start(&p, NULL, NULL, NULL), -EINVAL);
	p = start(return_arg, NULL, NULL);
	assert_int_equal(mt_process_join(p, NAN), -EINVAL);
	assert_int_equal(mt_process_join(p, 30), 0);
	mt_process_free(p);
	assert_int_equal(mt_process_join(NULL, 1), -EINVAL);
	mt_process_free(NULL);
}

static int report_own_name(void *arg)
{
	return strcmp(mt_process_current_name(), arg) == 0 ? 0 : 1;
}

static void names_default_to_process_n_and_reach_the_child(void **state)
{
	mt_process *p = start(return_arg, NULL, NULL);
	assert_int_equal(strncmp(mt_process_name(p), "Process-", 8), 0);
	assert_int_equal(mt_process_join(p, 30), 0);
	mt_process_free(p);

	mt_process_opts opts = {.name = "worker"};
	p = start(report_own_name, "worker", &opts);
	assert_string_equal(mt_process_name(p), "worker");
	assert_false(mt_process_daemon(p));
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_exitcode(p), 0);
	mt_process_free(p);
	assert_string_equal(mt_process_current_name(), "MainProcess");
}

static int start_grandchild_and_check_its_name(void *arg)
{
	mt_process *p;
	if (mt_process_start(&p, return_arg, NULL, NULL))
		return 2;
	/* Python names a child's children after it: Process-N:1. */
	const char *want_suffix = ":1";
	const char *name = mt_process_name(p);
	bool ok = strncmp(name, "Process-", 8) == 0 &&
		  strcmp(name + strlen(name) - 2, want_suffix) == 0;
	mt_process_join(p, -1);
	mt_process_free(p);
	return ok ? 0 : 1;
}

static void a_childs_children_are_named_after_it(void **state)
{
	assert_int_equal(run_child(start_grandchild_and_check_its_name, NULL), 0);
}

static void pid_and_fd_describe_the_child(void **state)
{
	mt_process *p = start(sleep_long, NULL, NULL);
	pid_t pid = mt_process_pid(p);
	char st;
	pid_t ppid;
	assert_true(pid > 0);
	assert_int_equal(proc_stat(pid, &st, &ppid), 0);
	assert_int_equal(ppid, getpid());
	struct pollfd pfd = {.fd = mt_process_fd(p), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	mt_process_kill(p);
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	assert_int_equal(mt_process_join(p, 30), 0);
	mt_process_free(p);
}

static void several_threads_can_join_one_child(void **state);

static int start_process_in_daemon(void *arg)
{
	mt_process *p;
	return mt_process_start(&p, return_arg, NULL, NULL) == -EPERM ? 0 : 1;
}

static void a_daemon_may_not_start_processes(void **state)
{
	mt_process_opts opts = {.daemon = true};
	mt_process *p = start(start_process_in_daemon, NULL, &opts);
	assert_true(mt_process_daemon(p));
	assert_true(mt_process_current_daemon() == false);
	assert_int_equal(mt_process_join(p, 30), 0);
	assert_int_equal(mt_process_exitcode(p), 0);
	mt_process_free(p);
}

/* Writes the PID of a started child to the pipe in arg, then acts. */
struct family {
	int pipe_w;
	bool daemon;
	double child_sleep;
	bool wait_for_kill;
};

static int child_sleeps_then_writes(void *arg)
{
	struct family *f = arg;
	sleep_seconds(f->child_sleep);
	if (write(f->pipe_w, "done", 4) != 4)
		return 1;
	return 0;
}

static int start_one_child_and_report(void *arg)
{
	struct family *f = arg;
	mt_process_opts opts = {.daemon = f->daemon};
	mt_process *p;
	if (mt_process_start(&p, child_sleeps_then_writes, f, &opts))
		return 1;
	pid_t pid = mt_process_pid(p);
	if (write(f->pipe_w, &pid, sizeof pid) != sizeof pid)
		return 1;
	if (f->wait_for_kill)
		sleep_seconds(60);
	return 0; /* exit: the library ends or waits for the child */
}

static bool process_is_gone(pid_t pid)
{
	char st;
	pid_t ppid;
	return proc_stat(pid, &st, &ppid) < 0 || st == 'Z';
}

static void a_daemon_child_is_terminated_when_its_parent_exits(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct family f = {.pipe_w = fds[1], .daemon = true, .child_sleep = 60};
	mt_process *parent = start(start_one_child_and_report, &f, NULL);
	pid_t daemon_pid;
	assert_int_equal(read(fds[0], &daemon_pid, sizeof daemon_pid), sizeof daemon_pid);
	assert_int_equal(mt_process_join(parent, 30), 0);
	assert_int_equal(mt_process_exitcode(parent), 0);
	assert_true(process_is_gone(daemon_pid));
	mt_process_free(parent);
	close(fds[0]);
	close(fds[1]);
}

static void a_nondaemon_child_holds_up_its_parents_exit(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct family f = {.pipe_w = fds[1], .child_sleep = 0.2};
	mt_process *parent = start(start_one_child_and_report, &f, NULL);
	pid_t child_pid;
	assert_int_equal(read(fds[0], &child_pid, sizeof child_pid), sizeof child_pid);
	assert_int_equal(mt_process_join(parent, 30), 0);
	/* The parent ended, so its child must have written already. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	char buf[8] = "";
	assert_int_equal(read(fds[0], buf, sizeof buf), 4);
	assert_memory_equal(buf, "done", 4);
	mt_process_free(parent);
	close(fds[0]);
	close(fds[1]);
}

static void a_daemon_child_dies_when_its_parent_is_sigkilled(void **state)
{
	/* Become the subreaper so the orphaned daemon is re-parented to us and
	 * we can see it die rather than losing it to init. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct family f = {.pipe_w = fds[1], .daemon = true, .child_sleep = 60,
			   .wait_for_kill = true};
	mt_process *parent = start(start_one_child_and_report, &f, NULL);
	pid_t daemon_pid;
	assert_int_equal(read(fds[0], &daemon_pid, sizeof daemon_pid), sizeof daemon_pid);
	assert_int_equal(mt_process_kill(parent), 0);
	assert_int_equal(mt_process_join(parent, 30), 0);
	assert_int_equal(mt_process_exitcode(parent), -9);
	int status;
	assert_int_equal(waitpid(daemon_pid, &status, 0), daemon_pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	mt_process_free(parent);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	close(fds[0]);
	close(fds[1]);
}

static void a_freed_running_child_is_still_reaped(void **state)
{
	double nap = 0.1;
	mt_process *p = start(sleep_long, &nap, NULL);
	pid_t pid = mt_process_pid(p);
	mt_process_free(p);
	assert_int_equal(wait_for_no_zombies(0.1 + 10), 0);
	sleep_seconds(0.3);
	assert_int_equal(wait_for_no_zombies(10), 0);
	assert_true(process_is_gone(pid));
}

static void ended_unjoined_children_are_reaped_by_the_next_start(void **state)
{
	mt_process *early = start(return_arg, (void *)6, NULL);
	pid_t pid = mt_process_pid(early);
	struct pollfd pfd = {.fd = mt_process_fd(early), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 30000), 1); /* it ended */
	/* A zombie now: this test runs first, before any test frees a running
	 * child and so starts the reaper thread. */
	char st;
	pid_t ppid;
	assert_int_equal(proc_stat(pid, &st, &ppid), 0);
	assert_int_equal(st, 'Z');
	double nap = 0.05;
	mt_process *next = start(sleep_long, &nap, NULL);
	assert_true(process_is_gone(pid));
	assert_int_equal(mt_process_exitcode(early), 6); /* reaped, not joined */
	assert_int_equal(mt_process_join(next, 30), 0);
	mt_process_free(next);
	mt_process_free(early);
}

static void children_started_elsewhere_keep_their_status(void **state)
{
	pid_t raw = fork();
	assert_true(raw >= 0);
	if (raw == 0)
		_exit(42);
	/* Let mtask start and reap several children while the raw child is
	 * a zombie: a blanket waitpid(-1) would steal its status. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(run_child(return_arg, (void *)1), 1);
	mt_process *p = start(return_arg, NULL, NULL);
	mt_process_free(p);
	sleep_seconds(0.2);
	int status;
	assert_int_equal(waitpid(raw, &status, 0), raw);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
}

static mt_process *shared_handle;

static int join_a_handle_of_the_parent(void *arg)
{
	return mt_process_join(shared_handle, 1) == -ECHILD &&
			       mt_process_kill(shared_handle) == -ECHILD
		       ? 0
		       : 1;
}

static void handles_inherited_through_fork_are_not_joinable(void **state)
{
	shared_handle = start(sleep_long, NULL, NULL);
	assert_int_equal(run_child(join_a_handle_of_the_parent, NULL), 0);
	mt_process_kill(shared_handle);
	assert_int_equal(mt_process_join(shared_handle, 30), 0);
	mt_process_free(shared_handle);
}

static void *join_in_thread(void *arg)
{
	return (void *)(intptr_t)mt_process_join(arg, 30);
}

static void several_threads_can_join_one_child(void **state)
{
	double nap = 0.1;
	mt_process *p = start(sleep_long, &nap, NULL);
	pthread_t threads[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, join_in_thread, p), 0);
	for (int i = 0; i < 4; i++) {
		void *result;
		pthread_join(threads[i], &result);
		assert_int_equal((intptr_t)result, 0);
	}
	assert_int_equal(mt_process_exitcode(p), 0);
	mt_process_free(p);
}

static void buffered_output_is_not_printed_twice(void **state)
{
	char path[] = "/tmp/mtask-test-stdout-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	printf("once"); /* buffered: stdout is a file now */
	int code = run_child(return_arg, NULL);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	char buf[32] = "";
	assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), 4);
	assert_string_equal(buf, "once");
	assert_int_equal(code, 0);
	close(fd);
	unlink(path);
}

/* Threads that hold malloc's and stdio's locks at random moments. */
static _Atomic bool churn_stop;

static void *churn_allocator(void *arg)
{
	char line[64];
	while (!atomic_load(&churn_stop)) {
		void *block = malloc(1024);
		snprintf(line, sizeof line, "%p", block);
		free(block);
	}
	return NULL;
}

static int allocate_and_format(void *arg)
{
	char *text = malloc(4096);
	if (!text)
		return 1;
	snprintf(text, 4096, "child %d", getpid());
	free(text);
	return 0;
}

static void starting_processes_while_threads_allocate_is_safe(void **state)
{
	pthread_t churners[3];
	atomic_store(&churn_stop, false);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&churners[i], NULL, churn_allocator, NULL), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(run_child(allocate_and_format, NULL), 0);
	atomic_store(&churn_stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(churners[i], NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: it needs a process without the reaper thread. */
		cmocka_unit_test(ended_unjoined_children_are_reaped_by_the_next_start),
		cmocka_unit_test(exitcode_is_the_return_value),
		cmocka_unit_test(exitcode_keeps_the_low_eight_bits_like_exit),
		cmocka_unit_test(exitcode_is_noexit_while_running),
		cmocka_unit_test(join_timeout_expires_and_child_stays_joinable),
		cmocka_unit_test(terminate_gives_minus_15_and_kill_minus_9),
		cmocka_unit_test(crashing_children_report_their_signal),
		cmocka_unit_test(signalling_an_ended_child_is_harmless),
		cmocka_unit_test(bad_arguments_are_einval),
		cmocka_unit_test(names_default_to_process_n_and_reach_the_child),
		cmocka_unit_test(a_childs_children_are_named_after_it),
		cmocka_unit_test(pid_and_fd_describe_the_child),
		cmocka_unit_test(a_daemon_may_not_start_processes),
		cmocka_unit_test(a_daemon_child_is_terminated_when_its_parent_exits),
		cmocka_unit_test(a_nondaemon_child_holds_up_its_parents_exit),
		cmocka_unit_test(a_daemon_child_dies_when_its_parent_is_sigkilled),
		cmocka_unit_test(a_freed_running_child_is_still_reaped),
		cmocka_unit_test(children_started_elsewhere_keep_their_status),
		cmocka_unit_test(handles_inherited_through_fork_are_not_joinable),
		cmocka_unit_test(several_threads_can_join_one_child),
		cmocka_unit_test(buffered_output_is_not_printed_twice),
		cmocka_unit_test(starting_processes_while_threads_allocate_is_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
