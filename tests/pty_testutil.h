/* pty_testutil.h: a pseudo-terminal for tests of what the mtask program
 * draws on a terminal: open a pair of a given width, and read the
 * terminal's side (the master) until a text shows up, within a bound. */
#ifndef MTASK_PTY_TESTUTIL_H
#define MTASK_PTY_TESTUTIL_H

#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Opens a pseudo-terminal `columns` wide: *master is the terminal's side,
 * *slave the program's. Returns 0, or -1. */
static inline int pty_open(int *master, int *slave, int columns)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return -1;
	struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)columns};
	const char *name = grantpt(*master) == 0 && unlockpt(*master) == 0 ? ptsname(*master) : NULL;
	*slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	if (*slave < 0 || ioctl(*slave, TIOCSWINSZ, &ws) < 0) {
		close(*master);
		if (*slave >= 0)
			close(*slave);
		return -1;
	}
	return 0;
}

static inline double pty_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends what the master reads to buf (*len bytes so far, kept
 * NUL-terminated) until buf holds `needle` after byte `from`, or `timeout`
 * seconds passed, or the slave side is closed. True when it showed up. */
static inline bool pty_read_until(int master, char *buf, size_t cap, size_t *len, size_t from,
				  const char *needle, double timeout)
{
	double end = pty_now() + timeout;
	buf[*len] = '\0';
	while (!strstr(buf + from, needle)) {
		double left = end - pty_now();
		struct pollfd pfd = {.fd = master, .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			return false;
		ssize_t n = read(master, buf + *len, cap - 1 - *len);
		if (n <= 0)
			return false; /* EIO: no slave is open any more */
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return true;
}

#endif
