/* example_run.h: what the example tests share: running a built example
 * with a deadline, capturing its output, and asserting on that output. */
#ifndef MTASK_EXAMPLE_RUN_H
#define MTASK_EXAMPLE_RUN_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four headers it needs */

#ifndef EXAMPLES_DIR
#error "EXAMPLES_DIR must name the directory of the built examples"
#endif

/* No example should come near this; a hung one fails instead of blocking. */
#define RUN_TIMEOUT_SECONDS 10.0

struct run {
	char out[64 * 1024];
	size_t len;
	int status;	/* as from waitpid */
	double seconds; /* from start until stdout closed and the exit */
};

static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline pid_t spawn_example(const char *name, const char *arg, int out_fd)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", EXAMPLES_DIR, name);
	char *argv[] = {path, (char *)arg, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out_fd, STDOUT_FILENO);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

/* Reads fd until EOF, which comes when the example and every process it
 * left behind have closed their stdout. False on timeout. */
static inline bool read_all(int fd, struct run *r, double deadline)
{
	for (;;) {
		int left_ms = (int)((deadline - now_seconds()) * 1000);
		if (left_ms <= 0)
			return false;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, left_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		ssize_t got = read(fd, r->out + r->len, sizeof r->out - 1 - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return true;
		r->len += (size_t)got;
		r->out[r->len] = '\0';
	}
}

/* Runs examples/NAME [ARG], captures its stdout, and fails the test unless
 * it exits with status 0 in time. stderr passes through, so that sanitizer
 * reports land in the test log. */
static inline void run_example(struct run *r, const char *name, const char *arg)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	memset(r, 0, sizeof *r);
	fflush(NULL);
	double start = now_seconds();
	pid_t pid = spawn_example(name, arg, pipefd[1]);
	assert_true(pid > 0);
	close(pipefd[1]);
	bool complete = read_all(pipefd[0], r, start + RUN_TIMEOUT_SECONDS);
	close(pipefd[0]);
	if (!complete)
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	r->seconds = now_seconds() - start;
	print_message("---- %s %s (%.2f s)\n%s", name, arg ? arg : "", r->seconds, r->out);
	if (!complete)
		fail_msg("%s did not finish within %.0f s", name, RUN_TIMEOUT_SECONDS);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("%s ended with wait status 0x%x", name, r->status);
}

/* The offset of needle in the output, or fails the test. */
static inline size_t position_of(const struct run *r, const char *needle)
{
	const char *at = strstr(r->out, needle);
	if (!at)
		fail_msg("output lacks \"%s\"", needle);
	return (size_t)(at - r->out);
}

static inline void assert_absent(const struct run *r, const char *needle)
{
	if (strstr(r->out, needle))
		fail_msg("output should not hold \"%s\"", needle);
}

static inline void assert_in_order(const struct run *r, const char *first, const char *second)
{
	if (position_of(r, first) >= position_of(r, second))
		fail_msg("\"%s\" should come before \"%s\"", first, second);
}

static inline int count_of(const struct run *r, const char *needle)
{
	int n = 0;
	for (const char *at = r->out; (at = strstr(at, needle)); at += strlen(needle))
		n++;
	return n;
}

/* The start of the first line of the output that contains needle, or
 * fails the test. */
static inline const char *line_with(const struct run *r, const char *needle)
{
	const char *line = r->out + position_of(r, needle);
	while (line > r->out && line[-1] != '\n')
		line--;
	return line;
}

/* Parses the line that contains needle with a scanf format (a literal)
 * that must fill `fields` conversions and match to its end: the %n
 * catches a mismatch in the text after the last conversion. */
#define scan_line(r, needle, fields, format, ...)                                                  \
	do {                                                                                       \
		const char *line_ = line_with(r, needle);                                          \
		int end_ = -1;                                                                     \
		int got_ = sscanf(line_, format "%n", __VA_ARGS__, &end_);                         \
		if (got_ != (fields) || end_ < 0)                                                  \
			fail_msg("cannot parse \"%.60s\" as \"%s\"", line_, format);               \
	} while (0)

/* TSan sleeps 1 s at exit in every process that still has a second
 * thread (mtask's reaper); that is noise for the examples run here, and
 * adds up. Call first in main. */
static inline void quiet_tsan_exit_of_examples(void)
{
#ifdef __SANITIZE_THREAD__
	const char *old = getenv("TSAN_OPTIONS");
	char options[512];
	snprintf(options, sizeof options, "%s%satexit_sleep_ms=0", old ? old : "",
		 old && *old ? ":" : "");
	setenv("TSAN_OPTIONS", options, 1);
#endif
}

#endif
