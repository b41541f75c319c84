/* test_tour_run.c: how `mtask tour` plays its scenes (apps/tour_run.c),
 * with scenes made to succeed, fail, crash and hang: each outcome reported
 * (JSON, or stderr beside the relayed output), the exit status, --only,
 * and the progress line on a terminal shared with the scenes' output,
 * which it must never garble. The tour runs in a child whose stdout and
 * stderr the test holds; SCENE_TIMEOUT is 1 s here (CMakeLists.txt). */
#include <signal.h>

#include "pty_testutil.h"
#include "testutil.h"
#include "tour.h"

#define WAIT 10.0 /* seconds, for what must show up */

static void say_hello(void)
{
	printf("hello\n");
}

static void exit_three(void)
{
	printf("leaving\n");
	exit(3);
}

static void die_by_sigkill(void)
{
	raise(SIGKILL);
}

static void hang(void)
{
	for (;;)
		pause();
}

static int gate[2]; /* wait_at_gate reads a byte from gate[0] */

static void wait_at_gate(void)
{
	char byte;
	printf("before\n");
	fflush(stdout);
	if (read(gate[0], &byte, 1) == 1)
		printf("after\n");
}

static const struct tour_scene scenes[] = {
	{"say \"hello\"", say_hello},
	{"exit 3", exit_three},
	{"SIGKILL", die_by_sigkill},
	{"hang", hang},
};

struct tour_call {
	const struct tour_scene *scenes;
	int count, only;
	bool json;
	int out, err; /* the tour's stdout and stderr */
};

static int run_tour(void *arg)
{
	struct tour_call *c = arg;
	dup2(c->out, STDOUT_FILENO);
	dup2(c->err, STDERR_FILENO);
	return tour_run(c->scenes, c->count, c->only, c->json);
}

static mt_process *start_tour(struct tour_call *c)
{
	mt_process *p;
	fflush(stdout); /* cmocka's, or the child prints it again */
	assert_int_equal(mt_process_start(&p, run_tour, c, NULL), 0);
	return p;
}

static void read_file(FILE *f, char *buf, size_t cap)
{
	rewind(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Runs the tour with stdout and stderr in files; its exit code. */
static int tour(struct tour_call c, char *out, char *err, size_t cap)
{
	FILE *out_file = tmpfile(), *err_file = tmpfile();
	assert_true(out_file && err_file);
	c.out = fileno(out_file);
	c.err = fileno(err_file);
	mt_process *p = start_tour(&c);
	assert_int_equal(mt_process_join(p, 60), 0);
	int code = mt_process_exitcode(p);
	mt_process_free(p);
	read_file(out_file, out, cap);
	read_file(err_file, err, cap);
	return code;
}

static void json_reports_every_outcome_and_nothing_else(void **state)
{
	static char out[8192], err[8192];
	struct tour_call c = {.scenes = scenes, .count = 4, .json = true};
	assert_int_equal(tour(c, out, err, sizeof out), 1);
	assert_non_null(strstr(out, "{\"number\": 1, \"title\": \"say \\\"hello\\\"\", "
				    "\"status\": \"ok\", \"exitcode\": 0, \"seconds\": "));
	assert_non_null(strstr(out, "{\"number\": 2, \"title\": \"exit 3\", "
				    "\"status\": \"failed\", \"exitcode\": 3, "));
	assert_non_null(strstr(out, "{\"number\": 3, \"title\": \"SIGKILL\", "
				    "\"status\": \"failed\", \"exitcode\": -9, "));
	assert_non_null(strstr(out, "{\"number\": 4, \"title\": \"hang\", "
				    "\"status\": \"timed out\", \"exitcode\": -9, "));
	assert_non_null(strstr(out, "\n], \"figures\": null, \"ok\": false}\n"));
	assert_int_equal(strncmp(out, "{\"scenes\": [\n  {", 16), 0);
	assert_null(strstr(out, "hello\n")); /* the scenes' own output is dropped */
	assert_null(strstr(out, "leaving"));
	assert_string_equal(err, ""); /* no progress line off a terminal */
}

static void text_relays_the_output_and_reports_failures_on_stderr(void **state)
{
	static char out[8192], err[8192];
	struct tour_call c = {.scenes = scenes, .count = 2};
	assert_int_equal(tour(c, out, err, sizeof out), 1);
	assert_string_equal(out, "1. say \"hello\"\nhello\n\n2. exit 3\nleaving\n");
	assert_string_equal(err, "mtask tour: scene 2 failed: exitcode 3\n");

	c.only = 1;
	assert_int_equal(tour(c, out, err, sizeof out), 0);
	assert_string_equal(out, "1. say \"hello\"\nhello\n");
	assert_string_equal(err, "");
}

/* Stdout and stderr on one terminal, as in a user's shell: the line shows
 * while the scene is quiet at a line's start, and is erased before the
 * scene's next output and at the end. */
static void the_progress_line_never_garbles_the_scenes_output(void **state)
{
	static const struct tour_scene gated[] = {{"gated", wait_at_gate}};
	static char buf[16384];
	int master = -1, slave = -1;
	assert_int_equal(pty_open(&master, &slave, 80), 0);
	assert_int_equal(pipe(gate), 0);
	struct tour_call c = {.scenes = gated, .count = 1, .out = slave, .err = slave};
	mt_process *p = start_tour(&c);
	close(slave);
	close(gate[0]);
	size_t len = 0;
	bool drawn = pty_read_until(master, buf, sizeof buf, &len, 0, "scene 1/1: gated (", WAIT);
	assert_int_equal(write(gate[1], "x", 1), 1);
	close(gate[1]);
	bool after = pty_read_until(master, buf, sizeof buf, &len, 0, "after\r\n", WAIT);
	assert_int_equal(mt_process_join(p, WAIT), 0);
	assert_int_equal(mt_process_exitcode(p), 0);
	mt_process_free(p);
	pty_read_until(master, buf, sizeof buf, &len, len, "(never)", 0.5); /* the rest */
	close(master);
	assert_true(drawn);
	assert_true(after);
	assert_int_equal(strncmp(buf, "1. gated\r\nbefore\r\n\r\033[Kscene 1/1: gated (", 39), 0);
	const char *resumed = strstr(buf, "after\r\n");
	assert_int_equal(strncmp(resumed - 4, "\r\033[K", 4), 0);
	const char *last_line = buf;
	for (const char *s; (s = strstr(last_line + 1, "scene 1/1"));)
		last_line = s;
	assert_non_null(strstr(last_line, "\r\033[K")); /* erased after its last drawing */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_reports_every_outcome_and_nothing_else),
		cmocka_unit_test(text_relays_the_output_and_reports_failures_on_stderr),
		cmocka_unit_test(the_progress_line_never_garbles_the_scenes_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
