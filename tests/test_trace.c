/* test_trace.c: the Perfetto/Chrome JSON trace of process and thread
 * lifetimes, started by MTASK_TRACE or by mt_trace_start, and of the
 * hub's greenlet runs and waits. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "testutil.h"

static char self_path[4096];

static int return_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static mt_lock contended = MT_LOCK_INIT_NAMED("contended");
static mt_event held, coming;

/* Holds the lock until the main thread is about to wait for it, and a
 * moment more: on a loaded machine a fixed hold could end before the
 * main thread even tried, and then it would not wait at all. */
static int hold_the_lock_a_moment(void *arg)
{
	mt_lock_acquire(&contended, -1);
	mt_event_set(&held);
	mt_event_wait(&coming, 10);
	struct timespec moment = {0, 50 * 1000 * 1000};
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
	mt_event_init(&coming, 0);
	if (mt_thread_start(&holder, hold_the_lock_a_moment, NULL, NULL) == 0) {
		mt_event_wait(&held, -1);
		mt_event_set(&coming);
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

/* ---- the hub's greenlets and waits ---- */

static mt_hub_lock hub_lock = MT_HUB_LOCK_INIT;

static int sleep_briefly(void *arg)
{
	return mt_hub_sleep(0.005);
}

static int read_until_timeout(void *arg)
{
	char c;
	return (int)mt_recv(*(int *)arg, &c, 1, 0, 0.005);
}

static int wait_for_the_lock(void *arg)
{
	return mt_hub_lock_acquire(&hub_lock, -1);
}

static mt_greenlet *spawn_named(mt_fn fn, void *arg, const char *name)
{
	mt_greenlet *g;
	mt_greenlet_opts opts = {.name = name};
	assert_int_equal(mt_greenlet_spawn(&g, fn, arg, &opts), 0);
	return g;
}

/* Three greenlets whose waits end three ways (ok, timeout, cancelled),
 * joined from outside greenlets. */
static void do_hub_work(void)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(mt_hub_lock_acquire(&hub_lock, 0), 0);
	mt_greenlet *g[3] = {spawn_named(sleep_briefly, NULL, "sleeper"),
			     spawn_named(read_until_timeout, &fds[0], "reader"),
			     spawn_named(wait_for_the_lock, NULL, "locker")};
	assert_int_equal(mt_greenlet_join(g[0], 5), 0);
	assert_int_equal(mt_greenlet_join(g[1], 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g[1]), -ETIMEDOUT);
	assert_int_equal(mt_greenlet_cancel(g[2]), 0);
	assert_int_equal(mt_greenlet_join(g[2], 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g[2]), -ECANCELED);
	assert_int_equal(mt_hub_lock_release(&hub_lock), 0);
	for (int i = 0; i < 3; i++)
		mt_greenlet_free(g[i]);
	mt_close(fds[0]);
	close(fds[1]);
}

/* The checks need the file parsed: Python's json module reads it, and
 * the script asserts what the viewers will show. */
static const char hub_trace_checks[] =
	"import json, sys\n"
	"events = json.load(open(sys.argv[1]))\n"
	"fd = sys.argv[2]\n"
	"runs = [e for e in events if e['ph'] == 'X' and e.get('cat') == 'greenlet']\n"
	"names = {e['name'] for e in runs}\n"
	"assert {'sleeper', 'reader', 'locker'} <= names, names\n"
	"assert all(e['dur'] >= 0 for e in runs)\n"
	"ends = [e for e in runs if 'exitcode' in e['args']]\n"
	"assert {(e['name'], e['args']['exitcode']) for e in ends} == "
	"{('sleeper', 0), ('reader', -110), ('locker', -125)}, ends\n"
	"begins = {(e['id'], e['name']): e for e in events if e['ph'] == 'b'}\n"
	"waits = {}\n"
	"for e in events:\n"
	"    if e['ph'] == 'e':\n"
	"        b = begins[(e['id'], e['name'])]\n"
	"        assert e['ts'] >= b['ts'] and e['cat'] == b['cat'] == 'hub'\n"
	"        waits[(b['args']['by'], e['name'])] = e['args']['result']\n"
	"assert waits[('sleeper', 'sleep')] == 'ok', waits\n"
	"assert waits[('reader', 'read fd ' + fd)] == 'timeout', waits\n"
	"assert waits[('locker', 'lock')] == 'cancelled', waits\n"
	"assert waits[('outside greenlets', 'join sleeper')] == 'ok', waits\n"
	"assert waits[('outside greenlets', 'join locker')] == 'ok', waits\n";

static void hub_runs_and_waits_appear_in_the_trace(void **state)
{
	char path[] = "/tmp/mtask-trace-hub-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mt_trace_start(path), 0);
	int probe[2]; /* the descriptor number the reader will get */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, probe), 0);
	close(probe[0]);
	close(probe[1]);
	do_hub_work();
	assert_int_equal(mt_trace_stop(), 0);
	char *text = read_file(path);
	assert_non_null(strstr(text, "\"cat\":\"greenlet\",\"name\":\"sleeper\""));
	assert_non_null(strstr(text, "\"result\":\"timeout\""));
	if (system("command -v python3 >/dev/null 2>&1") == 0) {
		char script[] = "/tmp/mtask-trace-check-XXXXXX";
		int sfd = mkstemp(script);
		assert_true(sfd >= 0);
		assert_int_equal(write(sfd, hub_trace_checks, strlen(hub_trace_checks)),
				 (ssize_t)strlen(hub_trace_checks));
		close(sfd);
		char cmd[256];
		snprintf(cmd, sizeof cmd, "python3 %s %s %d", script, path, probe[0]);
		int status = system(cmd);
		unlink(script);
		assert_int_equal(status, 0);
	}
	unlink(path);
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
		cmocka_unit_test(hub_runs_and_waits_appear_in_the_trace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
