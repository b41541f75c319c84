/* sched_render.c: a simulated schedule as an SVG picture and as a Perfetto
 * trace. Names need no escaping in either: the workload parser refuses
 * quotes, backslashes, markup characters and control bytes. */
#include <errno.h>
#include <string.h>

#include "sched_render.h"

/* ---- SVG ---- */

#define SVG_CHART_WIDTH 720.0
#define SVG_ROW 22 /* height of a row of boxes */
#define SVG_ROW_GAP 4
#define SVG_TITLE 26
#define SVG_AXIS 30
#define SVG_CHAR 7.5 /* width of a character of the 12px font, about */
#define SVG_TICKS_MAX 16

static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
};
#define PALETTE_SIZE (sizeof palette / sizeof palette[0])

/* Where the runs are drawn: names on the left, time from t0 across. */
struct svg_frame {
	double left;
	long t0, span;
};

static double svg_x(const struct svg_frame *f, long t)
{
	return f->left + (double)(t - f->t0) * SVG_CHART_WIDTH / (double)f->span;
}

static const char *colour_of(int proc)
{
	return proc < 0 ? "none" : palette[(size_t)proc % PALETTE_SIZE];
}

static void svg_box(FILE *out, const struct svg_frame *f, const struct sched_segment *s, double y,
		    const char *label)
{
	double x = svg_x(f, s->start), width = svg_x(f, s->end) - x;
	const char *fill = s->state == SCHED_BLOCKED ? "url(#io)" : colour_of(s->proc);
	fprintf(out,
		"<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"%s "
		"stroke=\"#333\" stroke-width=\"0.5\"><title>%s %s %ld-%ld</title></rect>\n",
		x, y, width, SVG_ROW, fill, s->state == SCHED_READY ? " fill-opacity=\"0.25\"" : "",
		label, sched_state_name(s->state), s->start, s->end);
	if (s->state == SCHED_RUNNING && width >= SVG_CHAR * (double)strlen(label) + 4)
		fprintf(out,
			"<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\" "
			"fill=\"#fff\">%s</text>\n",
			x + width / 2, y + 15, label);
}

static long tick_step(long span)
{
	for (long scale = 1;; scale *= 10)
		for (int m = 0; m < 3; m++) {
			long step = scale * (long[]){1, 2, 5}[m];
			if (span / step <= SVG_TICKS_MAX)
				return step;
		}
}

static void svg_axis(FILE *out, const struct svg_frame *f, double y)
{
	long step = tick_step(f->span);
	fprintf(out, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
		f->left, y, svg_x(f, f->t0 + f->span), y);
	for (long t = (f->t0 + step - 1) / step * step; t <= f->t0 + f->span; t += step)
		fprintf(out,
			"<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#333\"/>"
			"<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%ld</text>\n",
			svg_x(f, t), y, svg_x(f, t), y + 4, svg_x(f, t), y + 16, t);
}

static void svg_label(FILE *out, double y, const char *text)
{
	fprintf(out, "<text x=\"8\" y=\"%.1f\">%s</text>\n", y + 15, text);
}

/* One run: its title, the CPU row, a row per process, the time axis.
 * Returns the height it took. */
static double svg_run(FILE *out, const struct svg_frame *f, const struct sched_workload *w,
		      const struct sched_run *run, double y)
{
	const struct sched_result *r = &run->result;
	char title[160];
	sched_describe(&run->config, title, sizeof title);
	fprintf(out,
		"<text x=\"8\" y=\"%.1f\" font-weight=\"bold\">%s: average waiting %.2f, "
		"turnaround %.2f, response %.2f, CPU %.1f%%</text>\n",
		y + 16, title, r->avg_waiting, r->avg_turnaround, r->avg_response,
		100 * r->utilisation);
	double row = y + SVG_TITLE;
	svg_label(out, row, "CPU");
	for (size_t k = 0; k < r->cpu_count; k++)
		if (r->cpu[k].proc >= 0)
			svg_box(out, f, &r->cpu[k], row, w->procs[r->cpu[k].proc].name);
	for (int i = 0; i < w->count; i++) {
		row += SVG_ROW + SVG_ROW_GAP;
		svg_label(out, row, w->procs[i].name);
		for (size_t k = 0; k < r->segment_count; k++)
			if (r->segments[k].proc == i)
				svg_box(out, f, &r->segments[k], row, w->procs[i].name);
	}
	svg_axis(out, f, row + SVG_ROW + 4);
	return row + SVG_ROW + SVG_AXIS - y;
}

static void svg_legend(FILE *out, const struct svg_frame *f)
{
	static const struct {
		const char *fill, *opacity, *text;
	} keys[] = {
		{"#4e79a7", "1", "running"},
		{"#4e79a7", "0.25", "ready"},
		{"url(#io)", "1", "blocked (IO)"},
	};
	double x = f->left;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++, x += 150)
		fprintf(out,
			"<rect x=\"%.1f\" y=\"8\" width=\"14\" height=\"14\" fill=\"%s\" "
			"fill-opacity=\"%s\" stroke=\"#333\" stroke-width=\"0.5\"/>"
			"<text x=\"%.1f\" y=\"20\">%s</text>\n",
			x, keys[i].fill, keys[i].opacity, x + 20, keys[i].text);
}

int sched_write_svg(FILE *out, const struct sched_workload *w, const struct sched_run *runs,
		    int count)
{
	struct svg_frame f = {.left = 8 + SVG_CHAR * 4, .t0 = runs[0].result.start, .span = 1};
	for (int i = 0; i < w->count; i++) {
		double width = 16 + SVG_CHAR * (double)strlen(w->procs[i].name);
		f.left = width > f.left ? width : f.left;
	}
	double height = 32;
	for (int k = 0; k < count; k++) {
		long span = runs[k].result.end - f.t0;
		f.span = span > f.span ? span : f.span;
		height += SVG_TITLE + (w->count + 1) * (SVG_ROW + SVG_ROW_GAP) + SVG_AXIS + 8;
	}
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<defs><pattern id=\"io\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ddd\"/>"
		"<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#777\" stroke-width=\"2\"/>"
		"</pattern></defs>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
		f.left + SVG_CHART_WIDTH + 24, height);
	svg_legend(out, &f);
	double y = 32;
	for (int k = 0; k < count; k++)
		y += svg_run(out, &f, w, &runs[k], y) + 8;
	fprintf(out, "</svg>\n");
	return ferror(out) ? -EIO : 0;
}

/* ---- Perfetto trace ---- */

#define US_PER_UNIT 1000.0 /* a simulated unit shows as a millisecond */
#define CPU_TID 1

static void trace_name(FILE *out, const char *what, int pid, int tid, const char *name)
{
	fprintf(out,
		"{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
		"\"args\":{\"name\":\"%s\"}},\n",
		what, pid, tid, name);
}

static void trace_sort(FILE *out, const char *what, int pid, int tid, int index)
{
	fprintf(out,
		"{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
		"\"args\":{\"sort_index\":%d}},\n",
		what, pid, tid, index);
}

static void trace_span(FILE *out, const char *cat, const char *name, int pid, int tid,
		       const struct sched_segment *s, bool queues)
{
	fprintf(out,
		"{\"ph\":\"X\",\"cat\":\"%s\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
		"\"ts\":%.3f,\"dur\":%.3f,\"args\":{",
		cat, name, pid, tid, (double)s->start * US_PER_UNIT,
		(double)(s->end - s->start) * US_PER_UNIT);
	if (queues)
		fprintf(out, "\"queue\":%d", s->level);
	fprintf(out, "}},\n");
}

static void trace_instant(FILE *out, const char *name, int pid, int tid, long t)
{
	fprintf(out,
		"{\"ph\":\"i\",\"s\":\"t\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
		"\"ts\":%.3f},\n",
		name, pid, tid, (double)t * US_PER_UNIT);
}

/* A run is a trace process: a CPU track, then a track per simulated
 * process with its states as spans and its creation and end as instants. */
static void trace_run(FILE *out, const struct sched_workload *w, const struct sched_run *run,
		      int pid)
{
	const struct sched_result *r = &run->result;
	bool queues = run->config.algo == SCHED_MLFQ;
	char title[160] = "mtask sched: ";
	sched_describe(&run->config, title + strlen(title), sizeof title - strlen(title));
	trace_name(out, "process_name", pid, CPU_TID, title);
	trace_sort(out, "process_sort_index", pid, CPU_TID, pid);
	trace_name(out, "thread_name", pid, CPU_TID, "CPU");
	trace_sort(out, "thread_sort_index", pid, CPU_TID, 0);
	for (size_t k = 0; k < r->cpu_count; k++)
		if (r->cpu[k].proc >= 0)
			trace_span(out, "cpu", w->procs[r->cpu[k].proc].name, pid, CPU_TID,
				   &r->cpu[k], queues);
	for (int i = 0; i < w->count; i++) {
		int tid = CPU_TID + 1 + i;
		trace_name(out, "thread_name", pid, tid, w->procs[i].name);
		trace_sort(out, "thread_sort_index", pid, tid, i + 1);
		trace_instant(out, "new", pid, tid, w->procs[i].arrival);
		for (size_t k = 0; k < r->segment_count; k++)
			if (r->segments[k].proc == i)
				trace_span(out, "sched", sched_state_name(r->segments[k].state),
					   pid, tid, &r->segments[k], queues);
		trace_instant(out, "terminated", pid, tid, r->stats[i].finish);
	}
}

int sched_write_trace(FILE *out, const struct sched_workload *w, const struct sched_run *runs,
		      int count)
{
	long end = 0;
	fputs("[\n", out);
	for (int k = 0; k < count; k++) {
		trace_run(out, w, &runs[k], k + 1);
		end = runs[k].result.end > end ? runs[k].result.end : end;
	}
	/* Closed like the library's traces: a last event, then the bracket. */
	fprintf(out,
		"{\"ph\":\"i\",\"s\":\"g\",\"name\":\"trace end\",\"pid\":1,\"tid\":%d,"
		"\"ts\":%.3f}]\n",
		CPU_TID, (double)end * US_PER_UNIT);
	return ferror(out) ? -EIO : 0;
}
