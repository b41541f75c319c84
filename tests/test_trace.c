/* test_trace.c: the Perfetto/Chrome JSON trace of process and thread
 * lifetimes, started by MTASK_TRACE or by mt_trace_start. */
#include <errno.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "testutil.h"

static char self_path[4096];

static int return_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static mt_lock contended = MT_LOCK_INIT_NAMED("contended");
static mt_event held;

static int hold_the_lock_a_moment(void *arg)
{
	mt_lock_acquire(&contended, -1);
	mt_event_set(&held);
	struct timespec moment = {0, 30 * 1000 * 1000};
	nanosleep(&moment, NULL);
	mt_lock_release(&contended);
	return 0;
}

/* What a traced program does: one process (exit 3), one thread (exit 5),
 * a thread with a name that JSON must escape, a wait for a lock another
 * thread holds, and a marker. */
static void do_traced_work(void)
{
	mt_thread *holder;
	mt_event_init(&held, 0);
	if (mt_thread_start(&holder, hold_the_lock_a_moment, NULL, NULL) == 0) {
		mt_event_wait(&held, -1);
		mt_lock_acquire(&contended, -1); /* sleeps: a "lock" span */
		mt_lock_release(&contended);
		mt_thread_join(holder, -1);
		mt_thread_free(holder);
	}
	mt_process *p;
	mt_thread *t;
	mt_process_opts popts = {.name = "child-proc"};
	if (mt_process_start(&p, return_arg, (void *)3, &popts) == 0) {
		mt_process_join(p, -1);
		mt_process_free(p);
	}
	mt_thread_opts topts = {.name = "worker \"one\"\\"};
	if (mt_thread_start(&t, return_arg, (void *)5, &topts) == 0) {
		mt_thread_join(t, -1);
		mt_thread_free(t);
	}
	mt_trace_instant("milestone");
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Validates with Python's json module when python3 is present: the file
 * must be one JSON array as the viewers load it. */
static void assert_valid_json_if_python(const char *path)
{
	if (system("command -v python3 >/dev/null 2>&1") != 0)
		return;
	char cmd[4200];
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
		 "sys.exit(0 if isinstance(d, list) and d else 1)' '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static void assert_trace_of_traced_work(const char *path)
{
	char *text = read_file(path);
	assert_int_equal(strncmp(text, "[\n", 2), 0);
	assert_non_null(strstr(text, "\"ph\":\"i\",\"s\":\"p\",\"name\":\"trace end\""));
	size_t len = strlen(text);
	assert_int_equal(strcmp(text + len - 2, "]\n"), 0);
	/* The parent's span of the child's life, with the exit code. */
	char *life = strstr(text, "\"cat\":\"process\",\"name\":\"child-proc\"");
	assert_non_null(life);
	assert_non_null(strstr(life, "\"args\":{\"exitcode\":3}"));
	/* The child's own span of fn, and its name on its track. */
	assert_non_null(strstr(text, "\"cat\":\"process\",\"name\":\"run\""));
	assert_non_null(strstr(text, "\"name\":\"process_name\""));
	assert_non_null(strstr(text, "\"args\":{\"name\":\"child-proc\"}"));
	/* The thread's span, with its escaped name and exit code. */
	char *thread = strstr(text, "\"cat\":\"thread\",\"name\":\"worker \\\"one\\\"\\\\\"");
	assert_non_null(thread);
	assert_non_null(strstr(thread, "\"args\":{\"exitcode\":5}"));
	assert_non_null(strstr(text, "\"name\":\"milestone\""));
	/* The lock wait, as a span on the waiting thread's track. */
	assert_non_null(strstr(text, "\"cat\":\"lock\",\"name\":\"contended\""));
	assert_valid_json_if_python(path);
}

static void mtask_trace_variable_records_a_whole_program(void **state)
{
	char path[] = "/tmp/mtask-trace-env-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("MTASK_TRACE", path, 1);
		execl(self_path, self_path, "--traced-work", (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_trace_of_traced_work(path);
	unlink(path);
}

static void trace_start_and_stop_write_a_closed_array(void **state)
{
	char path[] = "/tmp/mtask-trace-api-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_false(mt_trace_enabled());
	assert_int_equal(mt_trace_start(path), 0);
	assert_true(mt_trace_enabled());
	assert_int_equal(mt_trace_start(path), -EALREADY);
	do_traced_work();
	assert_int_equal(mt_trace_stop(), 0);
	assert_false(mt_trace_enabled());
	assert_int_equal(mt_trace_stop(), -ENOENT);
	assert_trace_of_traced_work(path);
	unlink(path);
}

static void bad_trace_paths_are_refused(void **state)
{
	assert_int_equal(mt_trace_start(NULL), -EINVAL);
	assert_int_equal(mt_trace_start(""), -EINVAL);
	assert_int_equal(mt_trace_start("/nonexistent-dir/trace.json"), -ENOENT);
	assert_false(mt_trace_enabled());
	mt_trace_instant("ignored while off");
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--traced-work")) {
		do_traced_work();
		return 0; /* the library closes the trace at exit */
	}
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mtask_trace_variable_records_a_whole_program),
		cmocka_unit_test(trace_start_and_stop_write_a_closed_array),
		cmocka_unit_test(bad_trace_paths_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
