/* cmd_sched.c: `mtask sched`: the notes' CPU scheduling algorithms (进程调度)
 * simulated on a workload, shown as a Gantt chart, state rows and tables in
 * the terminal, as JSON, SVG or a Perfetto trace. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json_out.h"
#include "mtask/mtask.h"
#include "sched.h"
#include "sched_render.h"
#include "tour.h"

#define COMMAND "sched"
#define FILE_MAX_BYTES (1 << 20)

struct sched_args {
	struct sched_config config;
	bool compare, json, text, example;
	int levels; /* --levels, or 0 */
	int quanta; /* values given to --quanta, or 0 */
	const char *file, *svg, *trace;
};

static void print_help(void)
{
	printf("usage: mtask sched [--algo A | --compare] [--quantum Q] [--levels N]\n"
	       "                   [--quanta Q1,Q2,...] [--aging T] [--preemptive]\n"
	       "                   [--svg FILE] [--trace FILE] [--json | --text] [FILE]\n\n"
	       "Simulates the notes' CPU scheduling algorithms (进程调度) on a workload and\n"
	       "shows the Gantt chart, each process's states (new 新建, ready 就绪, running\n"
	       "运行, blocked 阻塞, terminated 终止), its response, waiting and turnaround\n"
	       "times with their averages, and the CPU utilisation.\n\n"
	       "FILE is CSV, one process a line: name, arrival, burst[, priority]. A burst\n"
	       "may alternate CPU and IO: '5 io3 4' runs 5, blocks for IO 3, runs 4.\n"
	       "'#' starts a comment; FILE '-' reads standard input. Without FILE, a\n"
	       "built-in example runs (--example prints it). Times are whole units.\n\n"
	       "algorithms (--algo A, default fcfs):\n"
	       "  fcfs      先来先服务: first come, first served\n"
	       "  sjf       短作业优先: the shortest next CPU burst, non-preemptive\n"
	       "  srtf      shortest remaining time: SJF that preempts\n"
	       "  rr        时间片轮转: round robin with --quantum Q (default 2)\n"
	       "  mlfq      多级反馈队列: --levels N queues (default 3) with --quanta\n"
	       "            (default Q, 2Q, 4Q, ...) and --aging T (default 0: off)\n"
	       "  priority  优先级: the lowest number first; --preemptive lets a better\n"
	       "            arrival take the CPU\n\n"
	       "options:\n"
	       "  --compare     run every algorithm on the workload, side by side\n"
	       "  --svg FILE    write the Gantt chart and state rows as SVG\n"
	       "  --trace FILE  write the schedule as a Perfetto trace (ui.perfetto.dev)\n"
	       "  --json        print JSON (the default when stdout is not a terminal)\n"
	       "  --text        print text even when stdout is not a terminal\n"
	       "  --example     print the built-in workload and exit\n\n"
	       "docs/sched.md explains the output and the conventions.\n");
}

/* ---- arguments ---- */

static int parse_time(const char *option, const char *text, long min, long *out)
{
	if (!cli_parse_long(text, min, SCHED_TIME_MAX, out))
		return cli_usage_error(COMMAND, "%s wants a whole number from %ld to %d, not '%s'",
				       option, min, SCHED_TIME_MAX, text);
	return 0;
}

static int parse_quanta(struct sched_args *args, const char *text)
{
	char copy[256];
	snprintf(copy, sizeof copy, "%s", text);
	args->quanta = 0;
	for (char *save, *item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		if (args->quanta == SCHED_MAX_LEVELS)
			return cli_usage_error(COMMAND, "--quanta takes at most %d values",
					       SCHED_MAX_LEVELS);
		if (parse_time("--quanta", item, 1, &args->config.quanta[args->quanta++]))
			return CLI_EXIT_USAGE;
	}
	if (args->quanta == 0)
		return cli_usage_error(COMMAND, "--quanta wants values such as 2,4,8");
	return 0;
}

static int parse_algo(struct sched_args *args, const char *name)
{
	int algo = sched_algo_from_name(name);
	if (algo < 0)
		return cli_usage_error(
			COMMAND, "unknown algorithm '%s' (fcfs, sjf, srtf, rr, mlfq, priority)",
			name);
	args->config.algo = (enum sched_algo)algo;
	return 0;
}

enum {
	OPT_ALGO = 256,
	OPT_QUANTUM,
	OPT_LEVELS,
	OPT_QUANTA,
	OPT_AGING,
	OPT_PREEMPTIVE,
	OPT_COMPARE,
	OPT_SVG,
	OPT_TRACE,
	OPT_JSON,
	OPT_TEXT,
	OPT_EXAMPLE,
	OPT_HELP,
};

static const struct option options[] = {
	{"algo", required_argument, NULL, OPT_ALGO},
	{"quantum", required_argument, NULL, OPT_QUANTUM},
	{"levels", required_argument, NULL, OPT_LEVELS},
	{"quanta", required_argument, NULL, OPT_QUANTA},
	{"aging", required_argument, NULL, OPT_AGING},
	{"preemptive", no_argument, NULL, OPT_PREEMPTIVE},
	{"compare", no_argument, NULL, OPT_COMPARE},
	{"svg", required_argument, NULL, OPT_SVG},
	{"trace", required_argument, NULL, OPT_TRACE},
	{"json", no_argument, NULL, OPT_JSON},
	{"text", no_argument, NULL, OPT_TEXT},
	{"example", no_argument, NULL, OPT_EXAMPLE},
	{"help", no_argument, NULL, OPT_HELP},
	{0},
};

/* One option; returns 0, CLI_EXIT_USAGE, or -1 for --help. */
static int apply_option(struct sched_args *args, int opt, const char *value)
{
	struct sched_config *c = &args->config;
	long number;
	switch (opt) {
	case OPT_ALGO:
		return parse_algo(args, value);
	case OPT_QUANTUM:
		return parse_time("--quantum", value, 1, &c->quantum);
	case OPT_LEVELS:
		if (!cli_parse_long(value, 1, SCHED_MAX_LEVELS, &number))
			return cli_usage_error(COMMAND, "--levels wants 1-%d, not '%s'",
					       SCHED_MAX_LEVELS, value);
		args->levels = (int)number;
		return 0;
	case OPT_QUANTA:
		return parse_quanta(args, value);
	case OPT_AGING:
		return parse_time("--aging", value, 0, &c->aging);
	case OPT_PREEMPTIVE:
		c->preemptive = true;
		return 0;
	case OPT_COMPARE:
		args->compare = true;
		return 0;
	case OPT_SVG:
		args->svg = value;
		return 0;
	case OPT_TRACE:
		args->trace = value;
		return 0;
	case OPT_JSON:
	case OPT_TEXT:
		*(opt == OPT_JSON ? &args->json : &args->text) = true;
		return 0;
	case OPT_EXAMPLE:
		args->example = true;
		return 0;
	default:
		return -1;
	}
}

/* MLFQ's queues: as many as --levels or --quanta say, each slice twice
 * the one above unless --quanta gives them. */
static int settle_queues(struct sched_args *args)
{
	struct sched_config *c = &args->config;
	if (args->levels && args->quanta && args->levels != args->quanta)
		return cli_usage_error(COMMAND, "--levels %d but --quanta gives %d value%s",
				       args->levels, args->quanta, args->quanta == 1 ? "" : "s");
	c->levels = args->quanta ? args->quanta : args->levels ? args->levels : c->levels;
	for (int i = args->quanta; i < SCHED_MAX_LEVELS; i++) {
		long q = c->quantum << i;
		c->quanta[i] = q < SCHED_TIME_MAX ? q : SCHED_TIME_MAX;
	}
	return 0;
}

/* Returns 0, CLI_EXIT_USAGE after a one-line error, or -1 for --help. */
static int parse_args(int argc, char **argv, struct sched_args *args)
{
	sched_config_default(&args->config, SCHED_FCFS);
	int opt, err;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == ':')
			return cli_usage_error(COMMAND, "%s needs a value", argv[optind - 1]);
		if (opt == '?')
			return cli_usage_error(COMMAND, "unknown option '%s'", argv[optind - 1]);
		if ((err = apply_option(args, opt == 'h' ? OPT_HELP : opt, optarg)))
			return err;
	}
	if (optind < argc)
		args->file = argv[optind++];
	if (optind < argc)
		return cli_usage_error(COMMAND, "unexpected argument '%s' (one FILE only)",
				       argv[optind]);
	if (args->json && args->text)
		return cli_usage_error(COMMAND, "--json and --text exclude each other");
	return settle_queues(args);
}

/* ---- the workload ---- */

static char *read_stream(FILE *f, size_t *size)
{
	char *text = malloc(FILE_MAX_BYTES + 1);
	if (!text)
		return NULL;
	*size = fread(text, 1, FILE_MAX_BYTES + 1, f);
	text[*size <= FILE_MAX_BYTES ? *size : FILE_MAX_BYTES] = '\0';
	return text;
}

/* Reads and parses the workload; 0, or CLI_EXIT_USAGE after a one-line
 * error naming the file and the line. */
static int load_workload(const char *path, struct sched_workload *w)
{
	const char *label = path ? path : "the built-in example";
	char *text = NULL;
	size_t size = 0;
	FILE *f = !path ? NULL : strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (path && !f)
		return cli_usage_error(COMMAND, "cannot read '%s': %s", path, strerror(errno));
	text = path ? read_stream(f, &size) : strdup(sched_example_workload());
	bool failed = f && ferror(f);
	if (f && f != stdin)
		fclose(f);
	int err = 0;
	char message[256];
	if (!text || failed)
		err = cli_usage_error(COMMAND, "cannot read '%s'", label);
	else if (size > FILE_MAX_BYTES)
		err = cli_usage_error(COMMAND, "%s: larger than %d bytes", label, FILE_MAX_BYTES);
	else if (strlen(text) != size && path)
		err = cli_usage_error(COMMAND, "%s: holds a NUL byte: not a text file", label);
	else if (sched_parse(text, w, message, sizeof message))
		err = cli_usage_error(COMMAND, "%s: %s", label, message);
	free(text);
	return err;
}

/* ---- JSON ---- */

static void json_stretch(FILE *out, const struct sched_workload *w, const struct sched_run *run,
			 const struct sched_segment *s, bool first, bool gantt)
{
	fprintf(out, "%s{", first ? "" : ",");
	if (gantt && s->proc < 0)
		fprintf(out, "\"process\":null");
	else if (gantt)
		fprintf(out, "\"process\":\"%s\"", w->procs[s->proc].name);
	else
		fprintf(out, "\"state\":\"%s\"", sched_state_name(s->state));
	fprintf(out, ",\"start\":%ld,\"end\":%ld", s->start, s->end);
	if (run->config.algo == SCHED_MLFQ && s->proc >= 0)
		fprintf(out, ",\"queue\":%d", s->level);
	putc('}', out);
}

static void json_process(FILE *out, const struct sched_workload *w, const struct sched_run *run,
			 int i)
{
	const struct sched_result *r = &run->result;
	const struct sched_stats *st = &r->stats[i];
	fprintf(out,
		"    {\"name\":\"%s\",\"arrival\":%ld,\"first_run\":%ld,\"finish\":%ld,"
		"\"response\":%ld,\"waiting\":%ld,\"turnaround\":%ld,\"timeline\":[",
		w->procs[i].name, w->procs[i].arrival, st->first_run, st->finish, st->response,
		st->waiting, st->turnaround);
	bool first = true;
	for (size_t k = 0; k < r->segment_count; k++) {
		if (r->segments[k].proc == i) {
			json_stretch(out, w, run, &r->segments[k], first, false);
			first = false;
		}
	}
	fprintf(out, "]}");
}

static void json_config(FILE *out, const struct sched_config *c)
{
	char title[128];
	sched_describe(c, title, sizeof title);
	fprintf(out, "\"algorithm\":\"%s\",\"description\":\"%s\"", sched_algo_name(c->algo),
		title);
	if (c->algo == SCHED_RR)
		fprintf(out, ",\"quantum\":%ld", c->quantum);
	if (c->algo == SCHED_PRIORITY)
		fprintf(out, ",\"preemptive\":%s", c->preemptive ? "true" : "false");
	if (c->algo != SCHED_MLFQ)
		return;
	fprintf(out, ",\"levels\":%d,\"quanta\":[", c->levels);
	for (int i = 0; i < c->levels; i++)
		fprintf(out, "%s%ld", i ? "," : "", c->quanta[i]);
	fprintf(out, "],\"aging\":%ld", c->aging);
}

static void json_run(FILE *out, const struct sched_workload *w, const struct sched_run *run)
{
	const struct sched_result *r = &run->result;
	fprintf(out, "  {");
	json_config(out, &run->config);
	fprintf(out,
		",\"start\":%ld,\"end\":%ld,\"busy\":%ld,\"cpu_utilisation\":%.4f,"
		"\"switches\":%d,\n   \"average\":{\"waiting\":%.4f,\"turnaround\":%.4f,"
		"\"response\":%.4f},\n   \"gantt\":[",
		r->start, r->end, r->busy, r->utilisation, r->switches, r->avg_waiting,
		r->avg_turnaround, r->avg_response);
	for (size_t k = 0; k < r->cpu_count; k++)
		json_stretch(out, w, run, &r->cpu[k], k == 0, true);
	fprintf(out, "],\n   \"processes\":[\n");
	for (int i = 0; i < w->count; i++) {
		json_process(out, w, run, i);
		fprintf(out, "%s\n", i + 1 < w->count ? "," : "");
	}
	fprintf(out, "  ]}");
}

static void print_json(FILE *out, const struct sched_workload *w, const char *source,
		       const struct sched_run *runs, int count)
{
	fprintf(out, "{\"source\":");
	json_string(out, source);
	fprintf(out, ",\"workload\":[\n");
	for (int i = 0; i < w->count; i++) {
		const struct sched_proc *p = &w->procs[i];
		char bursts[SCHED_MAX_BURSTS * 12];
		sched_format_bursts(p, bursts, sizeof bursts);
		fprintf(out,
			"  "
			"{\"name\":\"%s\",\"arrival\":%ld,\"bursts\":\"%s\",\"priority\":%ld}%s\n",
			p->name, p->arrival, bursts, p->priority, i + 1 < w->count ? "," : "");
	}
	fprintf(out, "],\"runs\":[\n");
	for (int k = 0; k < count; k++) {
		json_run(out, w, &runs[k]);
		fprintf(out, "%s\n", k + 1 < count ? "," : "");
	}
	fprintf(out, "]}\n");
}

/* ---- running ---- */

/* Runs the algorithm asked for, or with --compare all of them; returns
 * the number of runs, or a negative errno. */
static int simulate_runs(const struct sched_args *args, const struct sched_workload *w,
			 struct sched_run *runs)
{
	int count = args->compare ? SCHED_ALGO_COUNT : 1;
	for (int k = 0; k < count; k++) {
		runs[k].config = args->config;
		if (args->compare)
			runs[k].config.algo = (enum sched_algo)k;
		int err = sched_simulate(w, &runs[k].config, &runs[k].result);
		if (err) {
			while (k-- > 0)
				sched_result_free(&runs[k].result);
			return err;
		}
	}
	return count;
}

/* Writes a picture or trace file; 0, or 1 after a one-line error. */
static int write_file(const char *path, const char *what,
		      int (*write)(FILE *, const struct sched_workload *, const struct sched_run *,
				   int),
		      const struct sched_workload *w, const struct sched_run *runs, int count)
{
	FILE *f = fopen(path, "w");
	int err = f ? write(f, w, runs, count) : -errno;
	if (f && fclose(f) && !err)
		err = -EIO;
	if (err) {
		fprintf(stderr, "mtask %s: cannot write the %s to '%s': %s\n", COMMAND, what, path,
			mt_strerror(err));
		return 1;
	}
	return 0;
}

static void print_text(const struct sched_args *args, const struct sched_workload *w,
		       const struct sched_run *runs, int count)
{
	char title[128];
	const char *source = args->file ? args->file : "the built-in example";
	sched_describe(&runs[0].config, title, sizeof title);
	printf("mtask sched: %s on %s (%d process%s)\n\n",
	       args->compare ? "every algorithm" : title, source, w->count,
	       w->count == 1 ? "" : "es");
	if (args->compare)
		sched_print_comparison(stdout, w, runs, count);
	else
		sched_print_run(stdout, w, &runs[0]);
}

int cmd_sched(int argc, char **argv)
{
	static struct sched_args args;
	static struct sched_workload workload;
	static struct sched_run runs[SCHED_ALGO_COUNT];
	memset(&args, 0, sizeof args);
	int err = parse_args(argc, argv, &args);
	if (err < 0)
		print_help();
	if (err)
		return err < 0 ? 0 : err;
	if (args.example) {
		fputs(sched_example_workload(), stdout);
		return 0;
	}
	if ((err = load_workload(args.file, &workload)))
		return err;
	int count = simulate_runs(&args, &workload, runs);
	if (count == -E2BIG) {
		fprintf(stderr,
			"mtask %s: the schedule changes state too often to show: use "
			"fewer or shorter bursts, or longer quanta\n",
			COMMAND);
		return 1;
	}
	if (count < 0) {
		fprintf(stderr, "mtask %s: cannot simulate: %s\n", COMMAND, mt_strerror(count));
		return 1;
	}
	if (args.json || (!args.text && !cli_interactive()))
		print_json(stdout, &workload, args.file ? args.file : "built-in", runs, count);
	else
		print_text(&args, &workload, runs, count);
	fflush(stdout);
	if (args.svg)
		err |= write_file(args.svg, "SVG", sched_write_svg, &workload, runs, count);
	if (args.trace)
		err |= write_file(args.trace, "trace", sched_write_trace, &workload, runs, count);
	for (int k = 0; k < count; k++)
		sched_result_free(&runs[k].result);
	return err;
}

/* The tour's scene: the notes' four algorithms on the built-in example,
 * their averages in a few lines. */
void tour_sched(void)
{
	static const enum sched_algo algos[] = {SCHED_FCFS, SCHED_SJF, SCHED_RR, SCHED_MLFQ};
	static struct sched_workload w;
	char err[128], title[128];
	if (sched_parse(sched_example_workload(), &w, err, sizeof err))
		return;
	printf("  4 processes, one of them blocking for IO (mtask sched --example)\n");
	printf("  %-30s %8s %11s %9s\n", "algorithm", "waiting", "turnaround", "response");
	for (size_t k = 0; k < sizeof algos / sizeof algos[0]; k++) {
		struct sched_run run;
		sched_config_default(&run.config, algos[k]);
		if (sched_simulate(&w, &run.config, &run.result))
			return;
		sched_describe(&run.config, title, sizeof title);
		printf("  %-30s %8.2f %11.2f %9.2f\n", title, run.result.avg_waiting,
		       run.result.avg_turnaround, run.result.avg_response);
		sched_result_free(&run.result);
	}
	printf("  the Gantt charts and five-state timelines: mtask sched --compare\n");
}
