/* test_cli.c: the mtask program's contract: --help for every command,
 * --version, and a one-line error with exit status 2 for bad arguments. */
#include <stdbool.h>
#include <sys/wait.h>

#include "testutil.h"

struct run {
	int status;
	char out[1 << 14];
	char err[4096];
};

/* Runs the mtask program with args (a shell word list) and captures its
 * exit status, stdout and stderr. */
static void run_mtask(struct run *r, const char *args)
{
	char err_path[] = "/tmp/mtask-cli-err-XXXXXX";
	int err_fd = mkstemp(err_path);
	assert_true(err_fd >= 0);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s' </dev/null", MTASK_BIN, args, err_path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(r->out, 1, sizeof r->out - 1, p);
	r->out[n] = '\0';
	int status = pclose(p);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	n = (size_t)read(err_fd, r->err, sizeof r->err - 1);
	r->err[n > 0 && n < sizeof r->err ? n : 0] = '\0';
	close(err_fd);
	unlink(err_path);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void assert_usage_error(const char *args, const char *words)
{
	struct run r;
	run_mtask(&r, args);
	assert_int_equal(r.status, 2);
	assert_int_equal(count_lines(r.err), 1);
	assert_non_null(strstr(r.err, words));
	assert_string_equal(r.out, "");
}

static void version_prints_the_version(void **state)
{
	struct run r;
	run_mtask(&r, "--version");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "mtask 0."));
}

static void help_lists_every_command(void **state)
{
	struct run r;
	run_mtask(&r, "--help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "tour"));
	assert_non_null(strstr(r.out, "bench"));
}

static void every_command_has_help(void **state)
{
	static const char *commands[] = {"tour", "bench", "primes"};
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		char args[64];
		struct run r;
		snprintf(args, sizeof args, "%s --help", commands[i]);
		run_mtask(&r, args);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "usage: mtask"));
		assert_non_null(strstr(r.out, commands[i]));
	}
}

static void bad_arguments_give_one_line_and_exit_2(void **state)
{
	assert_usage_error("", "missing command");
	assert_usage_error("frobnicate", "unknown command 'frobnicate'");
	assert_usage_error("--frob", "unknown option '--frob'");
	assert_usage_error("tour --only 0", "--only");
	assert_usage_error("tour --only x", "--only");
	assert_usage_error("tour --bogus", "unknown option");
	assert_usage_error("tour extra", "unexpected argument");
	assert_usage_error("bench --bogus", "--bogus");
	assert_usage_error("bench no-such-benchmark", "no-such-benchmark");
	assert_usage_error("primes --workers 0", "--workers");
	assert_usage_error("primes --below x", "--below");
	assert_usage_error("primes --model fiber", "--model");
	assert_usage_error("primes --model", "needs a value");
	assert_usage_error("primes extra", "unexpected argument");
#ifndef MTASK_HAVE_MPI /* with it, tests/mpi.cmake runs --model mpi under mpirun */
	assert_usage_error("primes --model mpi", "built without MPI");
#endif
}

/* The sum of the primes below 1000 is 76127, in every model. */
static void primes_prints_the_sum_in_every_model(void **state)
{
	static const char *models[] = {"process", "thread", "pool"};
	for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
		char args[96];
		struct run r;
		snprintf(args, sizeof args, "primes --below 1000 --workers 3 --model %s", models[i]);
		run_mtask(&r, args);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "sum of primes below 1000: 76127"));
		assert_non_null(strstr(r.out, models[i]));
	}
	struct run r;
	run_mtask(&r, "primes --below 2000 --model thread");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "277050")); /* the table, with its sum */
	assert_non_null(strstr(r.out, "10 "));
	assert_non_null(strstr(r.out, "speedup"));
}

static void tour_lists_and_runs_scenarios(void **state)
{
	struct run r;
	run_mtask(&r, "tour --list");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "fork"));
	run_mtask(&r, "tour --only 7"); /* exit codes */
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "exitcode -15"));
	assert_non_null(strstr(r.out, "exitcode -9"));
	assert_non_null(strstr(r.out, "exitcode -11"));
}

static void the_whole_tour_runs(void **state)
{
	struct run r;
	run_mtask(&r, "tour");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "fork() returned 0"));
	assert_non_null(strstr(r.out, "state 'Z'"));
	assert_non_null(strstr(r.out, "adopted it"));
	assert_non_null(strstr(r.out, "打豆豆"));
	assert_non_null(strstr(r.out, "n = 100"));
	assert_non_null(strstr(r.out, "shared mt_lock:         1 sold"));
	assert_non_null(strstr(r.out, "data = 10"));
	assert_non_null(strstr(r.out, "lock order inversion"));
	assert_non_null(strstr(r.out, "MTASK_LOCKCHECK reported 1 inversion(s)"));
	assert_non_null(strstr(r.out, "科学家B 拿到面条和叉子, 吃面"));
	assert_non_null(strstr(r.out, "a 6th put_nowait:               would block"));
	assert_non_null(strstr(r.out, "LifoQueue gives                          2 1 3"));
	assert_non_null(strstr(r.out, "the customer process got: 0 1 2 3 4 5 6 7 8 9\n"));
	assert_non_null(strstr(r.out, "producer exit code 0"));
	assert_non_null(strstr(r.out, "-> \"pong to ping\""));
	assert_non_null(strstr(r.out, "under its lock: 4000"));
	assert_non_null(strstr(r.out, "one written by each: 0 1 4 9"));
	assert_non_null(strstr(r.out, "the reader got \"hello\""));
	assert_non_null(strstr(r.out, "Pool(2).map(square, range(8)): 0 1 4 9 16 25 36 49"));
	assert_non_null(strstr(r.out, "worker died: killed by signal 9 (SIGKILL)"));
	assert_non_null(strstr(r.out, "square(12) = 144"));
	assert_non_null(strstr(r.out, "sum 45675864"));
	assert_non_null(strstr(r.out, "  egon eat 1 (吃)\n  egon play 1 (玩)\n  egon eat 2 (吃)\n"
				      "  egon play 2 (玩)\n  back in main: \"play finished\""));
	assert_non_null(strstr(r.out, "process start + join"));
	assert_non_null(strstr(r.out, "a thread switch costs"));
	assert_non_null(strstr(r.out, "primes below 30000, 4 pool workers"));
}

/* ---- mtask sched ---- */

/* A temporary file holding text; its path in path (unlinked by the caller). */
static void write_temp(char *path, const char *text)
{
	strcpy(path, "/tmp/mtask-sched-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Runs a shell command; true when it exits 0. */
static bool shell_ok(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int status = system(cmd);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void skip_without_python(void)
{
	if (!shell_ok("python3 -c '' 2>/dev/null"))
		skip();
}

static void sched_has_help_and_an_example(void **state)
{
	struct run r;
	run_mtask(&r, "sched --help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: mtask sched"));
	assert_non_null(strstr(r.out, "mlfq"));
	run_mtask(&r, "sched --example");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "editor,"));
}

static void sched_bad_arguments_give_one_line_and_exit_2(void **state)
{
	assert_usage_error("sched --algo lottery", "unknown algorithm 'lottery'");
	assert_usage_error("sched --quantum 0", "--quantum wants a whole number");
	assert_usage_error("sched --quantum", "--quantum needs a value");
	assert_usage_error("sched --levels 9", "--levels wants 1-8");
	assert_usage_error("sched --quanta 1,x", "--quanta");
	assert_usage_error("sched --levels 2 --quanta 1,2,3", "--levels 2 but --quanta gives 3");
	assert_usage_error("sched --aging -1", "--aging");
	assert_usage_error("sched --bogus", "unknown option '--bogus'");
	assert_usage_error("sched --json --text", "exclude each other");
	assert_usage_error("sched a.csv b.csv", "unexpected argument 'b.csv'");
	assert_usage_error("sched /nonexistent/workload.csv", "cannot read '/nonexistent");
}

static void sched_bad_workload_names_the_line(void **state)
{
	static const struct {
		const char *text, *words;
	} cases[] = {
		{"A, 0, 3\nB, -1, 2\n", "line 2: arrival '-1' is negative"},
		{"# header\nA, 0\n", "line 2: expected 'name, arrival, burst[, priority]'"},
		{"A, 0, 3 io2\n", "line 1: the bursts end with IO"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[64], args[128];
		write_temp(path, cases[i].text);
		snprintf(args, sizeof args, "sched %s", path);
		assert_usage_error(args, cases[i].words);
		unlink(path);
	}
}

static void sched_prints_the_textbook_round_robin(void **state)
{
	char path[64], args[128];
	write_temp(path, "P1, 0, 24\nP2, 0, 3\nP3, 0, 3\n");
	snprintf(args, sizeof args, "sched --text --algo rr --quantum 4 %s", path);
	struct run r;
	run_mtask(&r, args);
	unlink(path);
	assert_int_equal(r.status, 0);
	/* Waits 6, 4, 7: average 17/3; responses 0, 4, 7: 11/3. */
	assert_non_null(strstr(r.out, "RR, quantum 4"));
	assert_non_null(strstr(r.out, "|  P1   | P2  | P3  |"));
	assert_non_null(strstr(r.out, "P2       new 0, ready 0, running 4, terminated 7\n"));
	assert_non_null(strstr(r.out, "3.67     5.67"));
	assert_non_null(strstr(r.out, "CPU utilisation 100.0%"));
}

static void sched_prints_json_when_piped(void **state)
{
	skip_without_python();
	char path[64];
	write_temp(path, "P1, 0, 6\nP2, 0, 8\nP3, 0, 7\nP4, 0, 3\n");
	/* SJF's textbook answer: average waiting 7. */
	assert_true(shell_ok("'%s' sched --algo sjf %s | python3 -c 'import json, sys; "
			     "d = json.load(sys.stdin); assert d[\"runs\"][0][\"average\"]"
			     "[\"waiting\"] == 7, d'",
			     MTASK_BIN, path));
	assert_true(shell_ok("'%s' sched --compare --json %s | python3 -c 'import json, sys; "
			     "assert len(json.load(sys.stdin)[\"runs\"]) == 6'",
			     MTASK_BIN, path));
	unlink(path);
}

static void sched_writes_svg_and_a_trace(void **state)
{
	skip_without_python();
	char svg[] = "/tmp/mtask-sched-svg-XXXXXX", trace[] = "/tmp/mtask-sched-trace-XXXXXX";
	close(mkstemp(svg));
	close(mkstemp(trace));
	char args[256];
	snprintf(args, sizeof args, "sched --compare --svg %s --trace %s", svg, trace);
	struct run r;
	run_mtask(&r, args);
	assert_int_equal(r.status, 0);
	assert_true(shell_ok("python3 -c 'import sys, xml.etree.ElementTree as E; "
			     "root = E.parse(sys.argv[1]).getroot(); "
			     "assert root.tag == \"{http://www.w3.org/2000/svg}svg\"' %s",
			     svg));
	assert_true(shell_ok("python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); "
			     "names = {x[\"name\"] for x in e if x.get(\"cat\") == \"sched\"}; "
			     "assert names == {\"ready\", \"running\", \"blocked\"}, names; "
			     "assert len({x[\"pid\"] for x in e}) == 6' %s",
			     trace));
	unlink(svg);
	unlink(trace);
	snprintf(args, sizeof args, "sched --svg /nonexistent/dir/x.svg");
	run_mtask(&r, args);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "cannot write the SVG"));
}

static void tour_has_the_scheduling_scene(void **state)
{
	struct run r;
	run_mtask(&r, "tour --list");
	const char *scene = strstr(r.out, ". scheduling:");
	assert_non_null(scene);
	while (scene > r.out && scene[-1] != '\n')
		scene--;
	char args[64];
	snprintf(args, sizeof args, "tour --only %d", atoi(scene));
	run_mtask(&r, args);
	assert_int_equal(r.status, 0);
	/* The built-in example's averages, as docs/sched.md works them out. */
	assert_non_null(strstr(r.out, "SJF                                5.00"));
	assert_non_null(strstr(r.out, "RR, quantum 2                      6.50"));
}

/* ---- --json, and no progress line off a terminal ---- */

static void tour_json_gives_each_scene_and_the_figures(void **state)
{
	skip_without_python();
	assert_true(shell_ok("'%s' tour --only 7 --json | python3 -c 'import json, sys; "
			     "d = json.load(sys.stdin); s = d[\"scenes\"]; "
			     "assert [x[\"number\"] for x in s] == [7], d; "
			     "assert s[0][\"status\"] == \"ok\" and s[0][\"exitcode\"] == 0, d; "
			     "assert d[\"ok\"] is True and d[\"figures\"] is None, d'",
			     MTASK_BIN));
	assert_true(shell_ok("'%s' tour --only 20 --json | python3 -c 'import json, sys; "
			     "d = json.load(sys.stdin); f = d[\"figures\"]; "
			     "assert f[\"primes_below\"] == 30000, d; "
			     "assert all(v > 0 for v in f.values()), d'",
			     MTASK_BIN));
}

static void primes_json_gives_the_sum_times_and_speedups(void **state)
{
	skip_without_python();
	assert_true(shell_ok("'%s' primes --below 1000 --model thread --json | python3 -c "
			     "'import json, sys; d = json.load(sys.stdin); "
			     "assert d[\"sum\"] == 76127 and d[\"model\"] == \"thread\", d; "
			     "assert [r[\"workers\"] for r in d[\"runs\"]] == [1, 2, 4, 10], d; "
			     "assert d[\"runs\"][0][\"speedup\"] == 1, d; "
			     "assert all(r[\"seconds\"] > 0 for r in d[\"runs\"]), d'",
			     MTASK_BIN));
	assert_true(shell_ok("'%s' primes --below 2000 --workers 3 --json | python3 -c "
			     "'import json, sys; d = json.load(sys.stdin); "
			     "assert d[\"sum\"] == 277050, d; "
			     "assert [r[\"workers\"] for r in d[\"runs\"]] == [3], d; "
			     "assert d[\"runs\"][0][\"speedup\"] is None, d'",
			     MTASK_BIN));
}

/* Scene 11 is quiet for 0.3 s, longer than the progress line's tick: on a
 * terminal the line would show there. */
static void no_escape_byte_when_output_is_not_a_terminal(void **state)
{
	static const char *commands[] = {"tour --only 11", "tour --only 11 --json",
					 "primes --below 3000"};
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		struct run r;
		run_mtask(&r, commands[i]);
		assert_int_equal(r.status, 0);
		assert_null(strchr(r.out, '\033'));
		assert_null(strchr(r.err, '\033'));
		assert_string_equal(r.err, "");
	}
}

static void chat_commands_have_help(void **state)
{
	static const char *commands[] = {"chat-server", "chat"};
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		char args[64];
		struct run r;
		snprintf(args, sizeof args, "%s --help", commands[i]);
		run_mtask(&r, args);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "usage: mtask"));
		assert_non_null(strstr(r.out, "--port"));
	}
}

static void chat_bad_arguments_give_one_line_and_exit_2(void **state)
{
	assert_usage_error("chat-server --port 70000", "--port wants 0-65535");
	assert_usage_error("chat-server --port", "needs a value");
	assert_usage_error("chat-server --max-users 0", "--max-users wants");
	assert_usage_error("chat-server --idle -1", "--idle wants");
	assert_usage_error("chat-server --bogus", "unknown option");
	assert_usage_error("chat-server extra", "unexpected argument");
	assert_usage_error("chat --port 0", "--port wants 1-65535");
	assert_usage_error("chat --idle 5", "unknown option");
	assert_usage_error("chat --host no.such.host.invalid", "cannot resolve");
	assert_usage_error("chat 'bob smith'", "a name may not hold a space");
	assert_usage_error("chat alice bob", "unexpected argument");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_prints_the_version),
		cmocka_unit_test(help_lists_every_command),
		cmocka_unit_test(every_command_has_help),
		cmocka_unit_test(bad_arguments_give_one_line_and_exit_2),
		cmocka_unit_test(tour_lists_and_runs_scenarios),
		cmocka_unit_test(primes_prints_the_sum_in_every_model),
		cmocka_unit_test(the_whole_tour_runs),
		cmocka_unit_test(sched_has_help_and_an_example),
		cmocka_unit_test(sched_bad_arguments_give_one_line_and_exit_2),
		cmocka_unit_test(sched_bad_workload_names_the_line),
		cmocka_unit_test(sched_prints_the_textbook_round_robin),
		cmocka_unit_test(sched_prints_json_when_piped),
		cmocka_unit_test(sched_writes_svg_and_a_trace),
		cmocka_unit_test(tour_has_the_scheduling_scene),
		cmocka_unit_test(tour_json_gives_each_scene_and_the_figures),
		cmocka_unit_test(primes_json_gives_the_sum_times_and_speedups),
		cmocka_unit_test(no_escape_byte_when_output_is_not_a_terminal),
		cmocka_unit_test(chat_commands_have_help),
		cmocka_unit_test(chat_bad_arguments_give_one_line_and_exit_2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
