/* sched_workload.c: the workload file of `mtask sched` (CSV: name, arrival,
 * burst, optional priority), parsed with errors that name the line, and the
 * built-in example. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sched.h"

/* Four processes, one of them interactive (it blocks for IO twice), so that
 * every algorithm differs and all five states appear. */
static const char example_workload[] =
	"# name, arrival, burst, priority\n"
	"# a burst is CPU time, or CPU and IO bursts in turn: 2 io3 2 blocks for 3\n"
	"editor,   0, 2 io3 2 io3 1, 1\n"
	"compiler, 1, 9,             3\n"
	"backup,   2, 4,             4\n"
	"shell,    4, 2,             2\n";

const char *sched_example_workload(void)
{
	return example_workload;
}

#define FIELDS_MAX 4
#define LINE_MAX_BYTES 1024

struct line_parser {
	struct sched_workload *w;
	int line;
	long work; /* the sum of the bursts so far */
	char *err;
	size_t err_size;
};

__attribute__((format(printf, 2, 3))) static int fail(struct line_parser *lp, const char *fmt, ...)
{
	int n = snprintf(lp->err, lp->err_size, "line %d: ", lp->line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < lp->err_size)
		vsnprintf(lp->err + n, lp->err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* A whole decimal number in [min, max] for the field `what`. */
static int parse_number(struct line_parser *lp, const char *text, const char *what, long min,
			long max, long *out)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (!*text || *end || errno)
		return fail(lp, "%s '%s' is not a whole number", what, text);
	if (value < 0 && min >= 0)
		return fail(lp, "%s '%s' is negative", what, text);
	if (value < min || value > max)
		return fail(lp, "%s '%s' is out of range (%ld to %ld)", what, text, min, max);
	*out = value;
	return 0;
}

/* A name is printed in a terminal, JSON and SVG: no quotes, backslashes,
 * markup characters or control bytes, so that it never needs escaping. */
static int parse_name(struct line_parser *lp, const char *name, struct sched_proc *p)
{
	if (!*name)
		return fail(lp, "the process name is empty");
	if (strlen(name) >= SCHED_NAME_MAX)
		return fail(lp, "the name '%s' is longer than %d bytes", name, SCHED_NAME_MAX - 1);
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || strchr("\"\\<>&", *c))
			return fail(lp, "the name '%s' holds a character among \" \\ < > &", name);
	for (int i = 0; i < lp->w->count; i++)
		if (!strcmp(lp->w->procs[i].name, name))
			return fail(lp, "the name '%s' is already used on line %d", name,
				    lp->w->procs[i].line);
	strcpy(p->name, name);
	return 0;
}

/* "5 io3 4": CPU bursts and "io" bursts in turn, starting and ending with
 * CPU; each at least 1. */
static int parse_bursts(struct line_parser *lp, char *text, struct sched_proc *p)
{
	p->burst_count = 0;
	for (char *save, *word = strtok_r(text, " \t", &save); word;
	     word = strtok_r(NULL, " \t", &save)) {
		bool io = p->burst_count % 2 == 1;
		bool says_io = strncasecmp(word, "io", 2) == 0;
		if (io != says_io)
			return fail(lp,
				    "burst '%s' is out of turn: CPU and ioN bursts alternate, "
				    "like '5 io3 4'",
				    word);
		if (p->burst_count == SCHED_MAX_BURSTS)
			return fail(lp, "more than %d bursts", SCHED_MAX_BURSTS);
		long *burst = &p->bursts[p->burst_count++];
		if (parse_number(lp, word + (io ? 2 : 0), io ? "IO burst" : "burst", 0,
				 SCHED_TIME_MAX, burst))
			return -1;
		if (*burst == 0)
			return fail(lp, "%s '%s' must be at least 1", io ? "IO burst" : "burst",
				    word);
	}
	for (int i = 0; i < p->burst_count; i++)
		lp->work += p->bursts[i];
	if (lp->work > SCHED_WORK_MAX)
		return fail(lp, "the bursts of the workload add up to more than %d",
			    SCHED_WORK_MAX);
	if (p->burst_count == 0)
		return fail(lp, "the burst is empty");
	if (p->burst_count % 2 == 0)
		return fail(lp, "the bursts end with IO: add the CPU burst that follows it");
	return 0;
}

static int split_fields(char *line, char **fields)
{
	int n = 0;
	for (char *c = line;; n++) {
		char *comma = strchr(c, ',');
		if (comma)
			*comma = '\0';
		if (n < FIELDS_MAX)
			fields[n] = trim(c);
		if (!comma)
			return n + 1;
		c = comma + 1;
	}
}

/* The first line may name the columns instead of giving a process. */
static bool is_header(const struct line_parser *lp, char **fields, int n)
{
	return lp->w->count == 0 && n >= 3 && strcasecmp(fields[1], "arrival") == 0;
}

static int parse_line(struct line_parser *lp, char *line)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	line = trim(line);
	if (!*line)
		return 0;
	char *fields[FIELDS_MAX];
	int n = split_fields(line, fields);
	if (n < 3 || n > FIELDS_MAX)
		return fail(lp, "expected 'name, arrival, burst[, priority]', found %d field%s", n,
			    n == 1 ? "" : "s");
	if (is_header(lp, fields, n))
		return 0;
	if (lp->w->count == SCHED_MAX_PROCS)
		return fail(lp, "more than %d processes", SCHED_MAX_PROCS);
	struct sched_proc *p = &lp->w->procs[lp->w->count];
	memset(p, 0, sizeof *p);
	p->line = lp->line;
	p->has_priority = n == 4 && *fields[3];
	if (parse_name(lp, fields[0], p) ||
	    parse_number(lp, fields[1], "arrival", 0, SCHED_TIME_MAX, &p->arrival) ||
	    parse_bursts(lp, fields[2], p) ||
	    (p->has_priority && parse_number(lp, fields[3], "priority", -SCHED_PRIORITY_MAX,
					     SCHED_PRIORITY_MAX, &p->priority)))
		return -1;
	lp->w->count++;
	return 0;
}

int sched_parse(const char *text, struct sched_workload *w, char *err, size_t err_size)
{
	struct line_parser lp = {.w = w, .err = err, .err_size = err_size};
	w->count = 0;
	for (const char *at = text; *at;) {
		const char *eol = strchr(at, '\n');
		size_t len = eol ? (size_t)(eol - at) : strlen(at);
		char line[LINE_MAX_BYTES];
		lp.line++;
		if (len >= sizeof line)
			return fail(&lp, "longer than %d bytes", LINE_MAX_BYTES - 1);
		memcpy(line, at, len);
		line[len] = '\0';
		if (parse_line(&lp, line))
			return -1;
		at += len + (eol != NULL);
	}
	if (w->count == 0) {
		snprintf(err, err_size, "no processes (expected lines 'name, arrival, burst')");
		return -1;
	}
	return 0;
}

void sched_format_bursts(const struct sched_proc *p, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < p->burst_count && n < size; i++) {
		int len = snprintf(out + n, size - n, "%s%s%ld", i ? " " : "", i % 2 ? "io" : "",
				   p->bursts[i]);
		if (len < 0)
			break;
		n += (size_t)len;
	}
}
