/* sched_text.c: a simulated schedule in the terminal: the CPU's Gantt
 * chart, each process's states under it on the same time scale, the
 * changes of state through the notes' five states, and the textbook times.
 *
 * Lines are drawn in cells, one per terminal column, so that names in any
 * script line up: a wide character (CJK) fills its cell and leaves the
 * next one empty. */
#include <stdbool.h>
#include <string.h>

#include "sched_render.h"

#define CHART_COLUMNS 64   /* the widest chart; longer schedules are scaled down */
#define MAX_UNIT_COLUMNS 4 /* the most columns one time unit gets */
#define WRAP_COLUMNS 100
#define TRANSITIONS_SHOWN 30 /* per process; a longer history ends with "..." */

typedef char cell[5]; /* one UTF-8 character and its NUL, or "" */

struct line {
	cell cells[CHART_COLUMNS + 16]; /* room for the last time label */
	int width;
};

/* Maps times [start, start + span] onto columns [0, width]. */
struct scale {
	long start, span;
	int width;
};

/* ---- text in cells ---- */

static bool is_wide(unsigned long code)
{
	return (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf) ||
	       (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) ||
	       (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) ||
	       (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1faff) ||
	       code >= 0x20000;
}

/* The byte length of the UTF-8 character at s; its columns in *columns. A
 * stray byte counts as one narrow character. */
static int next_char(const char *s, int *columns)
{
	unsigned char c = (unsigned char)s[0];
	int len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	unsigned long code = len == 1 ? c : c & (0x7f >> len);
	for (int i = 1; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			len = 1;
			code = c;
			break;
		}
		code = code << 6 | ((unsigned char)s[i] & 0x3f);
	}
	*columns = is_wide(code) ? 2 : 1;
	return len;
}

static int text_columns(const char *s)
{
	int total = 0, columns;
	while (*s) {
		s += next_char(s, &columns);
		total += columns;
	}
	return total;
}

/* Prints s and pads it with spaces to `columns`. */
static void print_padded(FILE *out, const char *s, int columns)
{
	fputs(s, out);
	for (int n = text_columns(s); n < columns; n++)
		putc(' ', out);
}

static void line_fill(struct line *l, int width, char c)
{
	l->width = width;
	for (int x = 0; x <= width; x++) {
		l->cells[x][0] = c;
		l->cells[x][1] = '\0';
	}
}

/* Writes s into cells from x on, at most `room` columns of it; returns the
 * columns written. */
static int line_put(struct line *l, int x, const char *s, int room)
{
	int used = 0, columns;
	while (*s && used < room) {
		int len = next_char(s, &columns);
		if (used + columns > room || x + used + columns > l->width + 1)
			break;
		memcpy(l->cells[x + used], s, (size_t)len);
		l->cells[x + used][len] = '\0';
		if (columns == 2)
			l->cells[x + used + 1][0] = '\0';
		used += columns;
		s += len;
	}
	return used;
}

static void line_print(FILE *out, const struct line *l, const char *prefix)
{
	int last = l->width;
	while (last >= 0 && !strcmp(l->cells[last], " "))
		last--;
	fputs(prefix, out);
	for (int x = 0; x <= last; x++)
		fputs(l->cells[x], out);
	putc('\n', out);
}

/* ---- the time scale ---- */

static struct scale make_scale(const struct sched_result *r)
{
	struct scale s = {r->start, r->end - r->start, CHART_COLUMNS};
	long per_unit = CHART_COLUMNS / s.span;
	if (per_unit > MAX_UNIT_COLUMNS)
		per_unit = MAX_UNIT_COLUMNS;
	if (per_unit >= 1)
		s.width = (int)(s.span * per_unit);
	return s;
}

static int column_of(const struct scale *s, long t)
{
	return (int)((t - s->start) * s->width / s->span);
}

/* The time unit a column shows: the one under its middle. */
static long time_at(const struct scale *s, int x)
{
	return s->start + (2L * x + 1) * s->span / (2L * s->width);
}

/* ---- the Gantt chart ---- */

static const char *proc_name(const struct sched_workload *w, int proc)
{
	return proc < 0 ? "idle" : w->procs[proc].name;
}

/* Centres the label in the box between columns a and b, cut to fit. */
static void put_label(struct line *l, int a, int b, const char *label)
{
	int room = b - a - 1;
	int columns = text_columns(label);
	if (room <= 0)
		return;
	int x = a + 1 + (columns < room ? (room - columns) / 2 : 0);
	line_put(l, x, label, room - (x - a - 1));
}

/* Time labels under the chart's boundaries, each where it does not run
 * into the one before or the end's, which always shows. */
static void put_times(struct line *l, const struct scale *s, const struct sched_result *r)
{
	char text[24];
	int end_x = column_of(s, r->end), free_from = 0;
	for (size_t k = 0; k < r->cpu_count; k++) {
		int x = column_of(s, r->cpu[k].start);
		int len = snprintf(text, sizeof text, "%ld", r->cpu[k].start);
		if (x < free_from || x + len >= end_x)
			continue;
		line_put(l, x, text, len);
		free_from = x + len + 1;
	}
	int len = snprintf(text, sizeof text, "%ld", r->end);
	line_put(l, end_x, text, len);
}

static void print_gantt(FILE *out, const struct sched_workload *w, const struct sched_result *r,
			const struct scale *s, int name_columns)
{
	static struct line border, boxes, times;
	line_fill(&border, s->width, '-');
	line_fill(&boxes, s->width, ' ');
	line_fill(&times, s->width + 8, ' ');
	for (size_t k = 0; k < r->cpu_count; k++) {
		int a = column_of(s, r->cpu[k].start), b = column_of(s, r->cpu[k].end);
		if ((r->cpu[k].end - r->cpu[k].start) * s->width < s->span)
			continue; /* shorter than a column */
		strcpy(border.cells[a], "+");
		strcpy(border.cells[b], "+");
		strcpy(boxes.cells[a], "|");
		strcpy(boxes.cells[b], "|");
		put_label(&boxes, a, b, proc_name(w, r->cpu[k].proc));
	}
	put_times(&times, s, r);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "  %*s", name_columns + 1, "");
	line_print(out, &border, prefix);
	fprintf(out, "  ");
	print_padded(out, "CPU", name_columns + 1);
	line_print(out, &boxes, "");
	line_print(out, &border, prefix);
	line_print(out, &times, prefix);
}

/* ---- states ---- */

static char state_mark(enum sched_state state)
{
	return state == SCHED_RUNNING ? '#' : state == SCHED_READY ? '.' : '~';
}

/* Process i's row: its state in each column, blank before it arrives and
 * after it ends. Its stretches are in time order, so one pass finds them. */
static void print_state_row(FILE *out, const struct sched_workload *w, const struct sched_result *r,
			    const struct scale *s, int i, int name_columns)
{
	static struct line row;
	line_fill(&row, s->width - 1, ' ');
	size_t k = 0;
	for (int x = 0; x < s->width; x++) {
		long t = time_at(s, x);
		while (k < r->segment_count &&
		       (r->segments[k].proc != i || r->segments[k].end <= t))
			k++;
		if (k < r->segment_count && r->segments[k].start <= t)
			row.cells[x][0] = state_mark(r->segments[k].state);
	}
	fprintf(out, "  ");
	print_padded(out, w->procs[i].name, name_columns + 1); /* under the chart's columns */
	line_print(out, &row, "");
}

/* Prints one "state time" step of a history, wrapping long lines. */
static void print_step(FILE *out, int *column, int indent, const char *step)
{
	int len = text_columns(step);
	if (*column + len + 2 > WRAP_COLUMNS) {
		fprintf(out, ",\n%*s", indent, "");
		*column = indent;
	} else if (*column > indent) {
		fputs(", ", out);
		*column += 2;
	}
	fputs(step, out);
	*column += len;
}

static void print_change(FILE *out, int *column, int indent, bool queues, struct sched_segment seg)
{
	char step[64];
	if (queues)
		snprintf(step, sizeof step, "%s(q%d) %ld", sched_state_name(seg.state), seg.level,
			 seg.start);
	else
		snprintf(step, sizeof step, "%s %ld", sched_state_name(seg.state), seg.start);
	print_step(out, column, indent, step);
}

static void print_history(FILE *out, const struct sched_workload *w, const struct sched_run *run,
			  int i, int name_columns)
{
	const struct sched_result *r = &run->result;
	bool queues = run->config.algo == SCHED_MLFQ;
	int indent = name_columns + 4, column = indent, shown = 0, more = 0;
	char step[64];
	fprintf(out, "  ");
	print_padded(out, w->procs[i].name, name_columns + 2);
	snprintf(step, sizeof step, "new %ld", w->procs[i].arrival);
	print_step(out, &column, indent, step);
	enum sched_state last = SCHED_NEW;
	for (size_t k = 0; k < r->segment_count; k++) {
		struct sched_segment seg = r->segments[k];
		if (seg.proc != i)
			continue;
		/* A process dispatched the instant it arrives or its IO ends
		 * still passed through ready: the stretch had no length. */
		if (seg.state == SCHED_RUNNING && last != SCHED_READY)
			print_change(out, &column, indent, queues,
				     (struct sched_segment){i, SCHED_READY, seg.level, seg.start,
							    seg.start});
		last = seg.state;
		if (shown++ < TRANSITIONS_SHOWN)
			print_change(out, &column, indent, queues, seg);
		else
			more++;
	}
	if (more) {
		snprintf(step, sizeof step, "... %d more", more);
		print_step(out, &column, indent, step);
	}
	snprintf(step, sizeof step, "terminated %ld", r->stats[i].finish);
	print_step(out, &column, indent, step);
	putc('\n', out);
}

/* ---- tables ---- */

static int name_columns_of(const struct sched_workload *w)
{
	int columns = 7; /* "process", "average" */
	for (int i = 0; i < w->count; i++) {
		int n = text_columns(w->procs[i].name);
		columns = n > columns ? n : columns;
	}
	return columns;
}

static bool shows_priority(const struct sched_workload *w, const struct sched_config *c)
{
	if (c->algo == SCHED_PRIORITY)
		return true;
	for (int i = 0; i < w->count; i++)
		if (w->procs[i].has_priority)
			return true;
	return false;
}

static void print_times(FILE *out, const struct sched_workload *w, const struct sched_run *run,
			int name_columns)
{
	const struct sched_result *r = &run->result;
	bool priority = shows_priority(w, &run->config);
	int burst_columns = 6;
	char bursts[SCHED_MAX_BURSTS * 12];
	for (int i = 0; i < w->count; i++) {
		sched_format_bursts(&w->procs[i], bursts, sizeof bursts);
		int n = (int)strlen(bursts);
		burst_columns = n > burst_columns ? n : burst_columns;
	}
	fprintf(out, "  ");
	print_padded(out, "process", name_columns + 2);
	fprintf(out, "arrival  %-*s  %s%10s %7s %9s %8s %11s\n", burst_columns, "bursts",
		priority ? "priority" : "", "first run", "finish", "response", "waiting",
		"turnaround");
	for (int i = 0; i < w->count; i++) {
		const struct sched_proc *p = &w->procs[i];
		const struct sched_stats *st = &r->stats[i];
		sched_format_bursts(p, bursts, sizeof bursts);
		fprintf(out, "  ");
		print_padded(out, p->name, name_columns + 2);
		fprintf(out, "%7ld  %-*s  ", p->arrival, burst_columns, bursts);
		if (priority)
			fprintf(out, "%8ld", p->priority);
		fprintf(out, "%10ld %7ld %9ld %8ld %11ld\n", st->first_run, st->finish,
			st->response, st->waiting, st->turnaround);
	}
	fprintf(out, "  ");
	print_padded(out, "average", name_columns + 2);
	fprintf(out, "%*s%9.2f %8.2f %11.2f\n", 7 + 2 + burst_columns + 2 + (priority ? 8 : 0) + 19,
		"", r->avg_response, r->avg_waiting, r->avg_turnaround);
	fprintf(out,
		"\n  CPU utilisation %.1f%%: busy %ld of the %ld units from %ld to %ld; "
		"%d context switch%s\n",
		100 * r->utilisation, r->busy, r->end - r->start, r->start, r->end, r->switches,
		r->switches == 1 ? "" : "es");
}

void sched_print_run(FILE *out, const struct sched_workload *w, const struct sched_run *run)
{
	const struct sched_result *r = &run->result;
	struct scale s = make_scale(r);
	int name_columns = name_columns_of(w);
	fprintf(out, "Gantt chart (the CPU's time, one box per turn):\n\n");
	if (s.width < s.span)
		fprintf(out,
			"  (scaled down: a column is %.1f units; shorter turns are not drawn)\n\n",
			(double)s.span / s.width);
	print_gantt(out, w, r, &s, name_columns);
	fprintf(out, "\nStates over time (# running 运行, . ready 就绪, ~ blocked 阻塞):\n\n");
	for (int i = 0; i < w->count; i++)
		print_state_row(out, w, r, &s, i, name_columns);
	fprintf(out,
		"\nState changes through the five states (new 新建, ready 就绪, running 运行,\n"
		"blocked 阻塞, terminated 终止), each with the time it began:\n\n");
	for (int i = 0; i < w->count; i++)
		print_history(out, w, run, i, name_columns);
	fprintf(out, "\nTimes (response = first run - arrival, waiting = time ready, "
		     "turnaround = finish - arrival):\n\n");
	print_times(out, w, run, name_columns);
}

void sched_print_comparison(FILE *out, const struct sched_workload *w, const struct sched_run *runs,
			    int count)
{
	int name_columns = name_columns_of(w);
	char title[128];
	for (int k = 0; k < count; k++) {
		struct scale s = make_scale(&runs[k].result);
		sched_describe(&runs[k].config, title, sizeof title);
		fprintf(out, "%s:\n", title);
		print_gantt(out, w, &runs[k].result, &s, name_columns);
		putc('\n', out);
	}
	fprintf(out, "  %-36s %8s %10s %8s %8s %8s %8s\n", "average over processes", "waiting",
		"turnaround", "response", "CPU use", "switches", "finish");
	for (int k = 0; k < count; k++) {
		const struct sched_result *r = &runs[k].result;
		sched_describe(&runs[k].config, title, sizeof title);
		fprintf(out, "  %-36s %8.2f %10.2f %8.2f %7.1f%% %8d %8ld\n", title, r->avg_waiting,
			r->avg_turnaround, r->avg_response, 100 * r->utilisation, r->switches,
			r->end);
	}
}
