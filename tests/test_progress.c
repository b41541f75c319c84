/* test_progress.c: the mtask program's progress line (bench/progress.c) and
 * `mtask primes`'s (apps/primes_progress.c): drawn in place and erased on a
 * terminal, cut to its width, and never a byte when standard error is a
 * pipe. Standard error is swapped for a pseudo-terminal or a pipe around
 * each case. */
#include "primes.h"
#include "primes_progress.h"
#include "progress.h"
#include "pty_testutil.h"
#include "testutil.h"

#define WAIT 10.0 /* seconds, for what must show up */

static int saved_stderr = -1;

static void swap_stderr(int fd)
{
	fflush(stderr);
	if (saved_stderr < 0)
		saved_stderr = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
}

static void restore_stderr(void)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
}

/* Standard error on a pseudo-terminal `columns` wide; the master's fd. */
static int stderr_on_terminal(int columns)
{
	int master = -1, slave = -1;
	assert_int_equal(pty_open(&master, &slave, columns), 0);
	swap_stderr(slave);
	return master;
}

/* The terminal got exactly `expected`; puts stderr back and closes it. */
static void assert_terminal_got(int master, const char *expected)
{
	char buf[256];
	size_t len = 0;
	bool shown = pty_read_until(master, buf, sizeof buf, &len, 0, expected, WAIT);
	restore_stderr();
	close(master);
	assert_true(shown);
	assert_string_equal(buf, expected);
}

static void nothing_is_drawn_when_stderr_is_a_pipe(void **state)
{
	int fds[2];
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	swap_stderr(fds[1]);
	bool wanted = progress_wanted();
	progress_show(wanted, "step %d", 1);
	progress_clear(wanted);
	struct primes_progress *p = primes_progress_start(1000, "thread");
	restore_stderr();
	assert_false(wanted);
	assert_null(p); /* and the calls that take it do nothing */
	primes_progress_begin(p, 1, 1, 1);
	primes_progress_end(p);
	primes_progress_stop(p);
	char byte;
	assert_int_equal(read(fds[0], &byte, 1), 0); /* its end, and not a byte */
	close(fds[0]);
}

static void the_line_is_redrawn_in_place_and_erased(void **state)
{
	int master = stderr_on_terminal(80);
	assert_true(progress_wanted());
	progress_show(true, "step %d of %d", 1, 2);
	progress_show(true, "step %d of %d", 2, 2);
	progress_clear(true);
	assert_terminal_got(master, "\r\033[Kstep 1 of 2\r\033[Kstep 2 of 2\r\033[K");
}

/* A line wider than the terminal would wrap, and "\r" would leave its
 * first row behind; wide characters count two columns. */
static void a_long_line_is_cut_to_the_terminal_width(void **state)
{
	int master = stderr_on_terminal(20);
	progress_show(true, "科学家吃面 and a long tail");
	progress_clear(true);
	assert_terminal_got(master, "\r\033[K科学家吃面 and a lo\r\033[K"); /* 10 + 9 columns */
}

/* The line appears once the run has taken half a second, with the share
 * of the work the workers counted, and _end erases it. */
static void primes_progress_shows_the_work_done_then_erases_it(void **state)
{
	int master = stderr_on_terminal(100);
	struct primes_progress *p = primes_progress_start(1000, "thread");
	assert_non_null(p);
	primes_progress_begin(p, 2, 1, 4);
	primes_sum_range(0, 500); /* n < 500 weigh 124750 of 499500: 25% */
	char buf[4096];
	size_t len = 0;
	bool drawn = pty_read_until(master, buf, sizeof buf, &len, 0,
				    "primes below 1000: 2 thread workers (run 1/4):  25% in", WAIT);
	primes_progress_end(p);
	size_t after = len;
	bool erased = pty_read_until(master, buf, sizeof buf, &len, after, "\r\033[K", WAIT);
	primes_progress_stop(p);
	restore_stderr();
	assert_true(drawn);
	assert_true(erased);
	assert_int_equal(strncmp(buf, "\r\033[K", 4), 0); /* in place from the start */
	close(master);
}

static void primes_sum_range_counts_work_only_when_asked(void **state)
{
	uint64_t counter = 0;
	primes_count_work(&counter);
	assert_int_equal(primes_sum_range(0, 1000), 76127);
	primes_count_work(NULL);
	primes_sum_range(0, 1000);
	assert_int_equal(counter, primes_total_work(1000));
	assert_int_equal(primes_total_work(1000), 499500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_is_drawn_when_stderr_is_a_pipe),
		cmocka_unit_test(the_line_is_redrawn_in_place_and_erased),
		cmocka_unit_test(a_long_line_is_cut_to_the_terminal_width),
		cmocka_unit_test(primes_progress_shows_the_work_done_then_erases_it),
		cmocka_unit_test(primes_sum_range_counts_work_only_when_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
