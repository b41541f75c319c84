/* progress.c: the progress line of the mtask program (see progress.h). */
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define ERASE_ROW "\r\033[K" /* to the row's start, then erase to its end */
#define LINE_MAX_BYTES 512

bool progress_wanted(void)
{
	return isatty(STDERR_FILENO);
}

double progress_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Columns of the terminal on standard error (80 when it does not say). */
static int terminal_columns(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* The length of the longest prefix of the UTF-8 text that fits in `columns`
 * and ends between characters. A line that wrapped would leave its first
 * row behind, as "\r" only goes back to the start of the last one. Counts a
 * character of three or four bytes (CJK mostly) as two columns: too many
 * at times, never too few. */
static size_t fitting_prefix(const char *text, int columns)
{
	size_t i = 0;
	int used = 0;
	while (text[i]) {
		unsigned char lead = (unsigned char)text[i];
		size_t bytes = lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
		int width = bytes >= 3 ? 2 : 1;
		if (used + width > columns)
			break;
		used += width;
		for (size_t k = 0; k < bytes && text[i]; k++)
			i++;
	}
	return i;
}

void progress_show(bool on, const char *fmt, ...)
{
	if (!on)
		return;
	char line[LINE_MAX_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* The last column stays free: writing there wraps on some terminals. */
	size_t len = fitting_prefix(line, terminal_columns() - 1);
	fprintf(stderr, ERASE_ROW "%.*s", (int)len, line);
	fflush(stderr);
}

void progress_clear(bool on)
{
	if (!on)
		return;
	fputs(ERASE_ROW, stderr);
	fflush(stderr);
}
