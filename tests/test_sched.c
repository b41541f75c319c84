/* test_sched.c: the scheduling simulator of `mtask sched` against answers
 * computed by hand, each written out beside its expectation; IO bursts that
 * block, MLFQ demotion and aging, ties, and the workload parser's errors. */
#include <errno.h>

#include "sched.h"
#include "testutil.h"

static struct sched_workload workload;
static struct sched_result result;
static struct sched_config config;

static int teardown(void **state)
{
	sched_result_free(&result);
	return 0;
}

/* Parses text and runs algo (with config's other settings) on it. */
static void simulate(const char *text, enum sched_algo algo)
{
	char err[256] = "";
	if (sched_parse(text, &workload, err, sizeof err))
		fail_msg("parse: %s", err);
	config.algo = algo;
	sched_result_free(&result);
	assert_int_equal(sched_simulate(&workload, &config, &result), 0);
	for (int i = 0; i < workload.count; i++) {
		const struct sched_stats *st = &result.stats[i];
		/* IO never waits for a device, so a process's life is its
		 * bursts plus its time in the ready queue. */
		assert_int_equal(st->turnaround, st->waiting + st->cpu + st->io);
	}
}

static void run(const char *text, enum sched_algo algo)
{
	sched_config_default(&config, algo);
	simulate(text, algo);
}

static int find(const char *name)
{
	for (int i = 0; i < workload.count; i++)
		if (!strcmp(workload.procs[i].name, name))
			return i;
	fail_msg("no process %s", name);
	return -1;
}

/* The CPU's Gantt chart as "A 0-3, B 3-5, idle 5-6", with "A@1" for a
 * stretch in MLFQ's queue 1. */
static void assert_gantt(const char *expected)
{
	char got[1024] = "";
	size_t n = 0;
	for (size_t k = 0; k < result.cpu_count && n < sizeof got; k++) {
		const struct sched_segment *s = &result.cpu[k];
		const char *name = s->proc < 0 ? "idle" : workload.procs[s->proc].name;
		char level[8] = "";
		if (config.algo == SCHED_MLFQ && s->proc >= 0)
			snprintf(level, sizeof level, "@%d", s->level);
		n += (size_t)snprintf(got + n, sizeof got - n, "%s%s%s %ld-%ld", k ? ", " : "",
				      name, level, s->start, s->end);
	}
	assert_string_equal(got, expected);
}

/* One process's stretches as "running 0-2, blocked 2-5", "ready@1 1-4". */
static void assert_timeline(const char *proc, const char *expected)
{
	int i = find(proc);
	char got[1024] = "";
	size_t n = 0;
	for (size_t k = 0; k < result.segment_count && n < sizeof got; k++) {
		const struct sched_segment *s = &result.segments[k];
		if (s->proc != i)
			continue;
		char level[8] = "";
		if (config.algo == SCHED_MLFQ)
			snprintf(level, sizeof level, "@%d", s->level);
		n += (size_t)snprintf(got + n, sizeof got - n, "%s%s%s %ld-%ld", n ? ", " : "",
				      sched_state_name(s->state), level, s->start, s->end);
	}
	assert_string_equal(got, expected);
}

static void assert_times(const char *proc, long waiting, long turnaround, long response)
{
	const struct sched_stats *st = &result.stats[find(proc)];
	assert_int_equal(st->waiting, waiting);
	assert_int_equal(st->turnaround, turnaround);
	assert_int_equal(st->response, response);
}

static void assert_average(double got, double expected)
{
	assert_true(got > expected - 1e-9 && got < expected + 1e-9);
}

/* ---- the textbook examples ---- */

static const char convoy[] = "P1, 0, 24\nP2, 0, 3\nP3, 0, 3\n";

static void fcfs_convoy_textbook(void **state)
{
	run(convoy, SCHED_FCFS);
	/* P1 0-24, P2 24-27, P3 27-30: waits 0, 24, 27 (avg 17); turnarounds
	 * 24, 27, 30 (avg 27). */
	assert_gantt("P1 0-24, P2 24-27, P3 27-30");
	assert_times("P1", 0, 24, 0);
	assert_times("P2", 24, 27, 24);
	assert_times("P3", 27, 30, 27);
	assert_average(result.avg_waiting, 17);
	assert_average(result.avg_turnaround, 27);
	assert_average(result.utilisation, 1);
	assert_int_equal(result.switches, 2);
}

static void sjf_textbook(void **state)
{
	run("P1, 0, 6\nP2, 0, 8\nP3, 0, 7\nP4, 0, 3\n", SCHED_SJF);
	/* Shortest first: P4 0-3, P1 3-9, P3 9-16, P2 16-24. Waits: P1 3,
	 * P2 16, P3 9, P4 0 = 28/4 = 7. */
	assert_gantt("P4 0-3, P1 3-9, P3 9-16, P2 16-24");
	assert_times("P1", 3, 9, 3);
	assert_times("P2", 16, 24, 16);
	assert_average(result.avg_waiting, 7);
	assert_average(result.avg_turnaround, 13);
}

static void sjf_does_not_preempt(void **state)
{
	run("A, 0, 8\nB, 1, 1\n", SCHED_SJF);
	/* B is shorter but arrives while A runs: A 0-8, B 8-9; B waits 7. */
	assert_gantt("A 0-8, B 8-9");
	assert_times("B", 7, 8, 7);
}

static void srtf_textbook(void **state)
{
	run("P1, 0, 8\nP2, 1, 4\nP3, 2, 9\nP4, 3, 5\n", SCHED_SRTF);
	/* t=1: P2 (4) < P1's 7 left: preempt. P2 1-5; then P4 (5) < P1 (7)
	 * < P3 (9): P4 5-10, P1 10-17, P3 17-26. Waits: P1 10-1 = 9, P2 0,
	 * P3 17-2 = 15, P4 5-3 = 2: 26/4 = 6.5. */
	assert_gantt("P1 0-1, P2 1-5, P4 5-10, P1 10-17, P3 17-26");
	assert_times("P1", 9, 17, 0);
	assert_times("P3", 15, 24, 15);
	assert_times("P4", 2, 7, 2);
	assert_average(result.avg_waiting, 6.5);
}

static void srtf_tie_keeps_the_running_process(void **state)
{
	run("A, 0, 4\nB, 1, 3\n", SCHED_SRTF);
	/* t=1: A has 3 left, B needs 3: not strictly shorter, A keeps the CPU. */
	assert_gantt("A 0-4, B 4-7");
}

static void rr_textbook_quantum_4(void **state)
{
	sched_config_default(&config, SCHED_RR);
	config.quantum = 4;
	simulate(convoy, SCHED_RR);
	/* P1 0-4, P2 4-7, P3 7-10, then P1 alone 10-30 (its turns join).
	 * Waits: P1 10-4 = 6, P2 4, P3 7: 17/3. Responses 0, 4, 7. */
	assert_gantt("P1 0-4, P2 4-7, P3 7-10, P1 10-30");
	assert_times("P1", 6, 30, 0);
	assert_times("P2", 4, 7, 4);
	assert_times("P3", 7, 10, 7);
	assert_average(result.avg_waiting, 17.0 / 3);
	assert_average(result.avg_response, 11.0 / 3);
	assert_int_equal(result.switches, 3);
}

static void rr_arrival_queues_before_the_preempted(void **state)
{
	run("A, 0, 3\nB, 2, 2\n", SCHED_RR);
	/* Quantum 2. t=2: A's quantum ends as B arrives; B joins the queue
	 * first, then A: B 2-4, A 4-5. */
	assert_gantt("A 0-2, B 2-4, A 4-5");
	assert_times("A", 2, 5, 0);
	assert_times("B", 0, 2, 0);
}

static void rr_lone_process_keeps_the_cpu(void **state)
{
	run("A, 0, 5\n", SCHED_RR);
	/* Each quantum ends with nobody else ready: one stretch, no switch. */
	assert_gantt("A 0-5");
	assert_timeline("A", "running 0-5");
	assert_int_equal(result.switches, 0);
}

static void priority_textbook(void **state)
{
	run("P1, 0, 10, 3\nP2, 0, 1, 1\nP3, 0, 2, 4\nP4, 0, 1, 5\nP5, 0, 5, 2\n", SCHED_PRIORITY);
	/* Lower number first: P2 0-1, P5 1-6, P1 6-16, P3 16-18, P4 18-19.
	 * Waits 6, 0, 16, 18, 1: 41/5 = 8.2. */
	assert_gantt("P2 0-1, P5 1-6, P1 6-16, P3 16-18, P4 18-19");
	assert_average(result.avg_waiting, 8.2);
}

static const char priority_arrivals[] = "A, 0, 5, 3\nB, 1, 2, 1\nC, 2, 2, 2\n";

static void priority_waits_for_the_burst_without_preemption(void **state)
{
	run(priority_arrivals, SCHED_PRIORITY);
	/* A 0-5 (nobody may take it), then B (1) before C (2): B 5-7, C 7-9. */
	assert_gantt("A 0-5, B 5-7, C 7-9");
	assert_times("C", 5, 7, 5);
}

static void preemptive_priority_takes_the_cpu(void **state)
{
	sched_config_default(&config, SCHED_PRIORITY);
	config.preemptive = true;
	simulate(priority_arrivals, SCHED_PRIORITY);
	/* t=1: B (1) beats A (3): B 1-3. t=3: C (2) beats A: C 3-5, A 5-9.
	 * A waits 1-5 = 4; C waits 2-3 = 1. */
	assert_gantt("A 0-1, B 1-3, C 3-5, A 5-9");
	assert_times("A", 4, 9, 0);
	assert_times("B", 0, 2, 0);
	assert_times("C", 1, 3, 1);
}

/* ---- ties ---- */

static void fcfs_ties_go_by_name(void **state)
{
	run("B, 0, 2\nA, 0, 2\nC, 1, 1\n", SCHED_FCFS);
	/* A and B arrive together: A first by name, whatever the file's order. */
	assert_gantt("A 0-2, B 2-4, C 4-5");
}

static void sjf_ties_go_by_arrival_then_name(void **state)
{
	run("A, 0, 3\nD, 0, 2\nC, 1, 2\nB, 1, 2\n", SCHED_SJF);
	/* t=0: D (2) is shorter than A (3): D 0-2. t=2: A 3, B 2, C 2, D done:
	 * B and C tie on length and arrival, B by name: B 2-4, C 4-6, A 6-9. */
	assert_gantt("D 0-2, B 2-4, C 4-6, A 6-9");
}

/* ---- IO: the blocked state ---- */

static void io_burst_blocks_and_returns_to_ready(void **state)
{
	run("A, 0, 2 io3 2\nB, 0, 4\n", SCHED_FCFS);
	/* A 0-2 then blocks for IO 2-5; B runs 2-6; A, ready at 5, waits for
	 * the CPU until 6 and runs 6-8. A: waiting 1, turnaround 8. */
	assert_gantt("A 0-2, B 2-6, A 6-8");
	assert_timeline("A", "running 0-2, blocked 2-5, ready 5-6, running 6-8");
	assert_timeline("B", "ready 0-2, running 2-6");
	assert_times("A", 1, 8, 0);
	assert_times("B", 2, 6, 2);
	assert_int_equal(result.stats[find("A")].io, 3);
	assert_average(result.utilisation, 1);
}

static void io_bursts_overlap_without_contention(void **state)
{
	run("A, 0, 1 io5 1\nB, 0, 1 io5 1\n", SCHED_FCFS);
	/* A 0-1, B 1-2; their IO (1-6 and 2-7) overlap, as on separate
	 * devices; A 6-7, B 7-8. Busy 4 of 8: 50%. */
	assert_gantt("A 0-1, B 1-2, idle 2-6, A 6-7, B 7-8");
	assert_int_equal(result.busy, 4);
	assert_average(result.utilisation, 0.5);
}

static void utilisation_counts_from_the_first_arrival(void **state)
{
	run("A, 3, 2\nB, 7, 1\n", SCHED_FCFS);
	/* From 3 to 8: A 3-5, idle 5-7, B 7-8: busy 3 of 5. */
	assert_gantt("A 3-5, idle 5-7, B 7-8");
	assert_int_equal(result.start, 3);
	assert_int_equal(result.end, 8);
	assert_average(result.utilisation, 0.6);
}

/* ---- MLFQ ---- */

static void set_mlfq(int levels, const long *quanta, long aging)
{
	sched_config_default(&config, SCHED_MLFQ);
	config.levels = levels;
	for (int i = 0; i < levels; i++)
		config.quanta[i] = quanta[i];
	config.aging = aging;
}

static void mlfq_demotes_after_a_whole_slice(void **state)
{
	set_mlfq(3, (long[]){1, 2, 4}, 0);
	simulate("A, 0, 5\nB, 1, 2\n", SCHED_MLFQ);
	/* t=1: A used its slice of 1: down to queue 1; B arrives in queue 0
	 * and runs 1-2, uses its slice: queue 1, behind A. A 2-4 (slice 2),
	 * down to queue 2; B 4-5 finishes in queue 1; A 5-7 in queue 2.
	 * A waits 1-2 and 4-5 = 2; B waits 2-4 = 2. */
	assert_gantt("A@0 0-1, B@0 1-2, A@1 2-4, B@1 4-5, A@2 5-7");
	assert_timeline("A", "running@0 0-1, ready@1 1-2, running@1 2-4, ready@2 4-5, "
			     "running@2 5-7");
	assert_times("A", 2, 7, 0);
	assert_times("B", 2, 4, 0);
}

static void mlfq_higher_queue_arrival_preempts(void **state)
{
	set_mlfq(3, (long[]){2, 4, 8}, 0);
	simulate("A, 0, 10\nB, 4, 1\n", SCHED_MLFQ);
	/* A 0-2 in queue 0, then queue 1 from 2. t=4: B enters queue 0 and
	 * takes the CPU; A goes back to queue 1's end. B 4-5. A 5-9, a whole
	 * new slice of 4, then queue 2: 9-11. */
	assert_gantt("A@0 0-2, A@1 2-4, B@0 4-5, A@1 5-9, A@2 9-11");
	assert_times("A", 1, 11, 0);
	assert_times("B", 0, 1, 0);
}

static void mlfq_blocking_keeps_the_queue(void **state)
{
	set_mlfq(3, (long[]){2, 4, 8}, 0);
	simulate("A, 0, 1 io2 3\n", SCHED_MLFQ);
	/* A blocks before its slice ends: it stays in queue 0. Back at 3, it
	 * uses a whole slice 3-5 and goes down for its last unit 5-6. */
	assert_gantt("A@0 0-1, idle 1-3, A@0 3-5, A@1 5-6");
	assert_timeline("A", "running@0 0-1, blocked@0 1-3, running@0 3-5, running@1 5-6");
}

static const char starving[] = "L, 0, 2\nS1, 1, 1\nS2, 2, 1\nS3, 3, 1\n"
			       "S4, 4, 1\nS5, 5, 1\nS6, 6, 1\n";

static void mlfq_without_aging_starves_the_long_job(void **state)
{
	set_mlfq(2, (long[]){1, 10}, 0);
	simulate(starving, SCHED_MLFQ);
	/* L drops to queue 1 at t=1, and a short job in queue 0 every unit
	 * keeps it waiting until 7: L 7-8, waiting 6. */
	assert_gantt("L@0 0-1, S1@0 1-2, S2@0 2-3, S3@0 3-4, S4@0 4-5, S5@0 5-6, "
		     "S6@0 6-7, L@1 7-8");
	assert_times("L", 6, 8, 0);
}

static void mlfq_aging_lifts_the_starved_job(void **state)
{
	set_mlfq(2, (long[]){1, 10}, 3);
	simulate(starving, SCHED_MLFQ);
	/* L ready in queue 1 from 1; at 4 it has waited 3: up to queue 0, to
	 * its back, behind S4 which arrived at that same instant. S4 4-5,
	 * L 5-6 (ahead of S5, which arrives at 5), S5 6-7, S6 7-8. */
	assert_gantt("L@0 0-1, S1@0 1-2, S2@0 2-3, S3@0 3-4, S4@0 4-5, L@0 5-6, "
		     "S5@0 6-7, S6@0 7-8");
	assert_timeline("L", "running@0 0-1, ready@1 1-4, ready@0 4-5, running@0 5-6");
	assert_times("L", 4, 6, 0);
}

/* ---- the built-in example and configurations ---- */

static void example_runs_under_every_algorithm(void **state)
{
	for (int a = 0; a < SCHED_ALGO_COUNT; a++) {
		run(sched_example_workload(), (enum sched_algo)a);
		assert_int_equal(result.count, 4);
		assert_true(result.utilisation > 0 && result.utilisation <= 1);
		for (int i = 0; i < result.count; i++)
			assert_true(result.stats[i].finish > 0);
	}
}

static void example_file_is_the_built_in_workload(void **state)
{
	FILE *f = fopen(MTASK_SOURCE_DIR "/docs/sched-example.csv", "r");
	assert_non_null(f);
	char text[4096];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_string_equal(text, sched_example_workload());
}

static void example_worked_by_hand_in_the_docs(void **state)
{
	run(sched_example_workload(), SCHED_RR);
	/* docs/sched.md's worked example: RR, quantum 2. */
	assert_gantt("editor 0-2, compiler 2-4, backup 4-6, shell 6-8, compiler 8-10, "
		     "editor 10-12, backup 12-14, compiler 14-16, editor 16-17, compiler 17-20");
	assert_times("editor", 6, 17, 0);
	assert_times("compiler", 10, 19, 1);
	assert_times("backup", 8, 12, 2);
	assert_times("shell", 2, 4, 2);
	assert_average(result.avg_waiting, 6.5);
	assert_int_equal(result.switches, 9);
}

static void example_under_sjf_and_srtf(void **state)
{
	run(sched_example_workload(), SCHED_SJF);
	/* editor 0-2 (blocks until 5); backup (4) beats compiler (9) 2-6; at 6
	 * shell and editor both need 2, shell was ready first (4 < 5): shell
	 * 6-8, editor 8-10 (blocks until 13); compiler 10-19, editor 19-20.
	 * Waits: editor 5-8 + 13-19 = 9, compiler 1-10 = 9, backup 0, shell
	 * 4-6 = 2: 20/4 = 5. */
	assert_gantt("editor 0-2, backup 2-6, shell 6-8, editor 8-10, compiler 10-19, "
		     "editor 19-20");
	assert_average(result.avg_waiting, 5);
	run(sched_example_workload(), SCHED_SRTF);
	/* As SJF until 13, when editor (1) returns and preempts compiler (6
	 * left): editor 13-14, compiler 14-20. Waits 3, 10, 0, 2: 3.75. */
	assert_gantt("editor 0-2, backup 2-6, shell 6-8, editor 8-10, compiler 10-13, "
		     "editor 13-14, compiler 14-20");
	assert_average(result.avg_waiting, 3.75);
	run(sched_example_workload(), SCHED_FCFS);
	/* editor 0-2, compiler 2-11, backup 11-15, shell 15-17, editor 17-19
	 * (ready since 5), then nobody is ready until editor's IO ends at 22:
	 * idle 19-22, editor 22-23. Busy 20 of 23. */
	assert_gantt("editor 0-2, compiler 2-11, backup 11-15, shell 15-17, editor 17-19, "
		     "idle 19-22, editor 22-23");
	assert_average(result.utilisation, 20.0 / 23);
}

static void bad_configuration_is_einval(void **state)
{
	assert_int_equal(sched_parse("A, 0, 1", &workload, (char[64]){0}, 64), 0);
	sched_config_default(&config, SCHED_RR);
	config.quantum = 0;
	assert_int_equal(sched_simulate(&workload, &config, &result), -EINVAL);
	sched_config_default(&config, SCHED_MLFQ);
	config.levels = SCHED_MAX_LEVELS + 1;
	assert_int_equal(sched_simulate(&workload, &config, &result), -EINVAL);
	sched_config_default(&config, SCHED_MLFQ);
	config.quanta[1] = 0;
	assert_int_equal(sched_simulate(&workload, &config, &result), -EINVAL);
	assert_int_equal(sched_algo_from_name("srtf"), SCHED_SRTF);
	assert_int_equal(sched_algo_from_name("lottery"), -1);
}

/* ---- the parser ---- */

static void parser_reads_comments_header_and_priorities(void **state)
{
	static const char text[] = "name, arrival, burst, priority\r\n"
				   "# a comment\n"
				   "\n"
				   "  editor , 0 , 2 IO3 2 , -1   # trailing comment\r\n"
				   "batch,5,7,\n"
				   "shell,1,1";
	char err[128] = "";
	if (sched_parse(text, &workload, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(workload.count, 3);
	const struct sched_proc *p = &workload.procs[0];
	assert_string_equal(p->name, "editor");
	assert_int_equal(p->line, 4);
	assert_int_equal(p->burst_count, 3);
	assert_int_equal(p->bursts[1], 3);
	assert_true(p->has_priority);
	assert_int_equal(p->priority, -1);
	assert_false(workload.procs[1].has_priority);
	assert_int_equal(workload.procs[2].line, 6);
	char bursts[64];
	sched_format_bursts(p, bursts, sizeof bursts);
	assert_string_equal(bursts, "2 io3 2");
}

static void parser_errors_name_the_line(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"A, 0\n", "line 1: expected 'name, arrival, burst[, priority]', found 2 fields"},
		{"# c\n\nA, -1, 3\n", "line 3: arrival '-1' is negative"},
		{"A, 0, 3\nB, 1, -2\n", "line 2: burst '-2' is negative"},
		{"A, x, 3", "line 1: arrival 'x' is not a whole number"},
		{"A, 0, 3 io2", "line 1: the bursts end with IO"},
		{"A, 0, io2 3", "line 1: burst 'io2' is out of turn"},
		{"A, 0, 3 4", "line 1: burst '4' is out of turn"},
		{"A, 0, 0", "line 1: burst '0' must be at least 1"},
		{"A, 0, 3 io-2 1", "line 1: IO burst '-2' is negative"},
		{"A, 0, 3\n\nA, 1, 2", "line 3: the name 'A' is already used on line 1"},
		{"A, 0, 3, 1, 9", "line 1: expected 'name, arrival, burst[, priority]', found 5"},
		{"A, 0, 3, high", "line 1: priority 'high' is not a whole number"},
		{", 0, 3", "line 1: the process name is empty"},
		{"a<b, 0, 3", "line 1: the name 'a<b' holds a character"},
		{"A, 0, 100001", "line 1: burst '100001' is out of range"},
		{"A, 0, ", "line 1: the burst is empty"},
		{"# nothing\n", "no processes"},
		{"", "no processes"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		assert_int_equal(sched_parse(cases[i].text, &workload, err, sizeof err), -1);
		if (strncmp(err, cases[i].error, strlen(cases[i].error)))
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err, cases[i].error);
		assert_null(strchr(err, '\n'));
	}
}

static void parser_bounds_the_workload(void **state)
{
	static char text[SCHED_MAX_PROCS * 24 + 64];
	size_t n = 0;
	for (int i = 0; i <= SCHED_MAX_PROCS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "p%d, 0, 1\n", i);
	char err[256] = "";
	assert_int_equal(sched_parse(text, &workload, err, sizeof err), -1);
	assert_string_equal(err, "line 101: more than 100 processes");
	snprintf(text, sizeof text,
		 "A, 0, 100000 io100000 100000 io100000 100000 io100000 "
		 "100000 io100000 100000 io100000 100000\n");
	assert_int_equal(sched_parse(text, &workload, err, sizeof err), -1);
	assert_non_null(strstr(err, "add up to more than 1000000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(fcfs_convoy_textbook, teardown),
		cmocka_unit_test_teardown(sjf_textbook, teardown),
		cmocka_unit_test_teardown(sjf_does_not_preempt, teardown),
		cmocka_unit_test_teardown(srtf_textbook, teardown),
		cmocka_unit_test_teardown(srtf_tie_keeps_the_running_process, teardown),
		cmocka_unit_test_teardown(rr_textbook_quantum_4, teardown),
		cmocka_unit_test_teardown(rr_arrival_queues_before_the_preempted, teardown),
		cmocka_unit_test_teardown(rr_lone_process_keeps_the_cpu, teardown),
		cmocka_unit_test_teardown(priority_textbook, teardown),
		cmocka_unit_test_teardown(priority_waits_for_the_burst_without_preemption,
					  teardown),
		cmocka_unit_test_teardown(preemptive_priority_takes_the_cpu, teardown),
		cmocka_unit_test_teardown(fcfs_ties_go_by_name, teardown),
		cmocka_unit_test_teardown(sjf_ties_go_by_arrival_then_name, teardown),
		cmocka_unit_test_teardown(io_burst_blocks_and_returns_to_ready, teardown),
		cmocka_unit_test_teardown(io_bursts_overlap_without_contention, teardown),
		cmocka_unit_test_teardown(utilisation_counts_from_the_first_arrival, teardown),
		cmocka_unit_test_teardown(mlfq_demotes_after_a_whole_slice, teardown),
		cmocka_unit_test_teardown(mlfq_higher_queue_arrival_preempts, teardown),
		cmocka_unit_test_teardown(mlfq_blocking_keeps_the_queue, teardown),
		cmocka_unit_test_teardown(mlfq_without_aging_starves_the_long_job, teardown),
		cmocka_unit_test_teardown(mlfq_aging_lifts_the_starved_job, teardown),
		cmocka_unit_test_teardown(example_runs_under_every_algorithm, teardown),
		cmocka_unit_test_teardown(example_file_is_the_built_in_workload, teardown),
		cmocka_unit_test_teardown(example_worked_by_hand_in_the_docs, teardown),
		cmocka_unit_test_teardown(example_under_sjf_and_srtf, teardown),
		cmocka_unit_test_teardown(bad_configuration_is_einval, teardown),
		cmocka_unit_test(parser_reads_comments_header_and_priorities),
		cmocka_unit_test(parser_errors_name_the_line),
		cmocka_unit_test(parser_bounds_the_workload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
