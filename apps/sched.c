/* sched.c: the scheduling simulator: one CPU, the notes' algorithms, and
 * IO devices that never make anyone wait for them.
 *
 * Time is whole units. The simulation jumps from instant to instant (an
 * arrival, the end of a burst or of an IO, a quantum running out, an aging
 * period ending) and at each instant does, in this order:
 *
 *   1. the running process's turn ends if its CPU burst is done (it blocks
 *      for its next IO burst, or terminates) or its quantum is spent;
 *   2. processes arriving now and processes whose IO ends now become ready,
 *      in order of arrival time, then name;
 *   3. the process whose quantum ran out goes to the back of its ready
 *      queue (after those of step 2, the textbook convention), one queue
 *      lower in MLFQ;
 *   4. MLFQ aging: ready processes that waited a whole period move up one
 *      queue, to its back (in arrival order, then name);
 *   5. a preemptive algorithm takes the CPU from the running process if a
 *      ready one is strictly better (ties keep the running one);
 *   6. an idle CPU takes the best ready process.
 *
 * Every algorithm is the same choice: the ready process with the smallest
 * key, ties broken by the order in which processes became ready (`seq`).
 * FCFS and RR: key 0, so the order alone; SJF and SRTF: what is left of the
 * current CPU burst; priority: its number; MLFQ: its queue. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

#define NEVER LONG_MAX
#define SEGMENTS_MAX 2000000 /* a schedule this long is no use to read */

struct task {
	enum sched_state state;
	int burst;   /* index of the current (or next) CPU burst */
	long left;   /* CPU time left in that burst */
	long io_end; /* when a blocked process's IO ends */
	int level;   /* MLFQ queue, 0 the highest */
	long slice;  /* CPU time used in the current turn */
	long aged;   /* time ready in this queue, for aging */
	long seq;    /* when it became ready, as a sequence number */
	size_t open; /* its current segment, or SIZE_MAX */
};

struct sim {
	const struct sched_workload *w;
	const struct sched_config *c;
	struct sched_result *r;
	struct task tasks[SCHED_MAX_PROCS];
	int order[SCHED_MAX_PROCS]; /* indexes by arrival, then name */
	int running;		    /* index, or -1 when the CPU is idle */
	int done;
	long now;
	long next_seq;
	int err; /* -ENOMEM or -E2BIG once a segment could not be stored */
};

static const char *const algo_names[SCHED_ALGO_COUNT] = {
	[SCHED_FCFS] = "fcfs", [SCHED_SJF] = "sjf",   [SCHED_SRTF] = "srtf",
	[SCHED_RR] = "rr",     [SCHED_MLFQ] = "mlfq", [SCHED_PRIORITY] = "priority",
};

static const char *const state_names[] = {
	[SCHED_NEW] = "new",	     [SCHED_READY] = "ready",		[SCHED_RUNNING] = "running",
	[SCHED_BLOCKED] = "blocked", [SCHED_TERMINATED] = "terminated",
};

const char *sched_algo_name(enum sched_algo algo)
{
	return algo >= 0 && algo < SCHED_ALGO_COUNT ? algo_names[algo] : "?";
}

int sched_algo_from_name(const char *name)
{
	for (int i = 0; i < SCHED_ALGO_COUNT; i++)
		if (!strcmp(name, algo_names[i]))
			return i;
	return -1;
}

const char *sched_state_name(enum sched_state state)
{
	return state >= SCHED_NEW && state <= SCHED_TERMINATED ? state_names[state] : "?";
}

void sched_config_default(struct sched_config *c, enum sched_algo algo)
{
	memset(c, 0, sizeof *c);
	c->algo = algo;
	c->quantum = 2;
	c->levels = 3;
	for (int i = 0; i < SCHED_MAX_LEVELS; i++)
		c->quanta[i] = 2L << i; /* the notes: each queue's slice twice the last */
}

/* Appends to the string being built in out. */
__attribute__((format(printf, 3, 4))) static void append(char *out, size_t size, const char *fmt,
							 ...)
{
	size_t n = strlen(out);
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out + n, size - n, fmt, ap);
	va_end(ap);
}

void sched_describe(const struct sched_config *c, char *out, size_t size)
{
	static const char *const titles[SCHED_ALGO_COUNT] = {
		"FCFS", "SJF", "SRTF", "RR", "MLFQ", "priority",
	};
	out[0] = '\0';
	append(out, size, "%s", c->algo >= 0 && c->algo < SCHED_ALGO_COUNT ? titles[c->algo] : "?");
	switch (c->algo) {
	case SCHED_RR:
		append(out, size, ", quantum %ld", c->quantum);
		break;
	case SCHED_PRIORITY:
		append(out, size, ", %spreemptive", c->preemptive ? "" : "non-");
		break;
	case SCHED_MLFQ:
		append(out, size, ", %d queue%s, quanta", c->levels, c->levels == 1 ? "" : "s");
		for (int i = 0; i < c->levels; i++)
			append(out, size, " %ld", c->quanta[i]);
		if (c->aging)
			append(out, size, ", aging %ld", c->aging);
		break;
	default:
		break;
	}
}

static bool config_valid(const struct sched_config *c)
{
	bool valid = c->algo >= 0 && c->algo < SCHED_ALGO_COUNT && c->quantum >= 1 &&
		     c->quantum <= SCHED_TIME_MAX && c->levels >= 1 &&
		     c->levels <= SCHED_MAX_LEVELS && c->aging >= 0 && c->aging <= SCHED_TIME_MAX;
	for (int i = 0; valid && i < c->levels; i++)
		valid = c->quanta[i] >= 1 && c->quanta[i] <= SCHED_TIME_MAX;
	return valid;
}

/* ---- segments ---- */

static struct sched_segment *grow(struct sched_segment **array, size_t *cap, size_t count)
{
	if (count == *cap) {
		size_t want = *cap ? *cap * 2 : 64;
		struct sched_segment *bigger = realloc(*array, want * sizeof **array);
		if (!bigger)
			return NULL;
		*array = bigger;
		*cap = want;
	}
	return &(*array)[count];
}

/* Moves process i into state (and, for MLFQ, queue level) at s->now:
 * closes its stretch in the old state and opens one in the new. */
static void set_state(struct sim *s, int i, enum sched_state state)
{
	struct task *t = &s->tasks[i];
	struct sched_result *r = s->r;
	if (t->open != SIZE_MAX) {
		struct sched_segment *open = &r->segments[t->open];
		if (open->state == state && open->level == t->level)
			return;
		open->end = s->now;
	}
	t->state = state;
	t->open = SIZE_MAX;
	if (state == SCHED_NEW || state == SCHED_TERMINATED)
		return;
	struct sched_segment *seg = NULL;
	if (r->segment_count < SEGMENTS_MAX)
		seg = grow(&r->segments, &r->segment_cap, r->segment_count);
	else
		s->err = -E2BIG;
	if (!seg) {
		s->err = s->err ? s->err : -ENOMEM;
		return;
	}
	*seg = (struct sched_segment){i, state, t->level, s->now, s->now};
	t->open = r->segment_count++;
}

/* ---- the choice ---- */

static long key(const struct sim *s, int i)
{
	switch (s->c->algo) {
	case SCHED_SJF:
	case SCHED_SRTF:
		return s->tasks[i].left;
	case SCHED_PRIORITY:
		return s->w->procs[i].priority;
	case SCHED_MLFQ:
		return s->tasks[i].level;
	default:
		return 0;
	}
}

/* The ready process with the smallest key, the earliest ready among
 * equals; -1 when none is ready. */
static int pick(const struct sim *s)
{
	int best = -1;
	long best_key = 0;
	for (int i = 0; i < s->w->count; i++) {
		if (s->tasks[i].state != SCHED_READY)
			continue;
		long k = key(s, i);
		if (best < 0 || k < best_key ||
		    (k == best_key && s->tasks[i].seq < s->tasks[best].seq)) {
			best = i;
			best_key = k;
		}
	}
	return best;
}

static long quantum_of(const struct sim *s, int i)
{
	if (s->c->algo == SCHED_RR)
		return s->c->quantum;
	if (s->c->algo == SCHED_MLFQ)
		return s->c->quanta[s->tasks[i].level];
	return NEVER;
}

static bool preemptive(const struct sched_config *c)
{
	return c->algo == SCHED_SRTF || c->algo == SCHED_MLFQ ||
	       (c->algo == SCHED_PRIORITY && c->preemptive);
}

/* ---- one instant ---- */

static void make_ready(struct sim *s, int i)
{
	struct task *t = &s->tasks[i];
	set_state(s, i, SCHED_READY);
	t->seq = s->next_seq++;
	t->aged = 0;
	t->slice = 0;
}

static void end_burst(struct sim *s, int i)
{
	struct task *t = &s->tasks[i];
	const struct sched_proc *p = &s->w->procs[i];
	if (t->burst + 1 == p->burst_count) {
		set_state(s, i, SCHED_TERMINATED);
		s->r->stats[i].finish = s->now;
		s->done++;
		return;
	}
	t->io_end = s->now + p->bursts[t->burst + 1];
	t->burst += 2;
	t->left = p->bursts[t->burst];
	set_state(s, i, SCHED_BLOCKED);
}

/* Step 1: ends the running process's turn if its burst or quantum is
 * over. Returns the process whose quantum ran out, or -1. */
static int end_turn(struct sim *s)
{
	int i = s->running;
	if (i < 0)
		return -1;
	struct task *t = &s->tasks[i];
	if (t->left == 0) {
		s->running = -1;
		end_burst(s, i);
		return -1;
	}
	if (t->slice < quantum_of(s, i))
		return -1;
	if (s->c->algo == SCHED_MLFQ && t->level + 1 < s->c->levels)
		t->level++; /* used a whole slice: 多级反馈 moves it down */
	s->running = -1;
	return i;
}

/* Step 2: arrivals and finished IO, in arrival order, then name. */
static void admit(struct sim *s)
{
	for (int k = 0; k < s->w->count; k++) {
		int i = s->order[k];
		struct task *t = &s->tasks[i];
		if ((t->state == SCHED_NEW && s->w->procs[i].arrival == s->now) ||
		    (t->state == SCHED_BLOCKED && t->io_end == s->now))
			make_ready(s, i);
	}
}

static bool ages(const struct sim *s, int i)
{
	return s->c->algo == SCHED_MLFQ && s->c->aging > 0 && s->tasks[i].state == SCHED_READY &&
	       s->tasks[i].level > 0;
}

/* Step 4: MLFQ aging. */
static void age(struct sim *s)
{
	for (int k = 0; k < s->w->count; k++) {
		int i = s->order[k];
		if (ages(s, i) && s->tasks[i].aged >= s->c->aging) {
			s->tasks[i].level--;
			make_ready(s, i);
		}
	}
}

/* Steps 5 and 6. */
static void dispatch(struct sim *s)
{
	int best = pick(s);
	if (best < 0)
		return;
	if (s->running >= 0) {
		if (!preemptive(s->c) || key(s, best) >= key(s, s->running))
			return;
		make_ready(s, s->running);
		s->running = -1;
		best = pick(s);
	}
	s->running = best;
	s->tasks[best].slice = 0;
	set_state(s, best, SCHED_RUNNING);
	struct sched_stats *st = &s->r->stats[best];
	if (st->first_run < 0)
		st->first_run = s->now;
}

static long min_long(long a, long b)
{
	return a < b ? a : b;
}

/* The time from now to the next instant at which anything happens. */
static long next_delta(const struct sim *s)
{
	long delta = NEVER;
	if (s->running >= 0) {
		const struct task *t = &s->tasks[s->running];
		delta = min_long(t->left, quantum_of(s, s->running) - t->slice);
	}
	for (int i = 0; i < s->w->count; i++) {
		const struct task *t = &s->tasks[i];
		if (t->state == SCHED_NEW)
			delta = min_long(delta, s->w->procs[i].arrival - s->now);
		else if (t->state == SCHED_BLOCKED)
			delta = min_long(delta, t->io_end - s->now);
		else if (ages(s, i))
			delta = min_long(delta, s->c->aging - t->aged);
	}
	return delta;
}

static void advance(struct sim *s, long delta)
{
	if (s->running >= 0) {
		s->tasks[s->running].left -= delta;
		s->tasks[s->running].slice += delta;
		s->r->busy += delta;
	}
	for (int i = 0; i < s->w->count; i++) {
		if (s->tasks[i].state == SCHED_READY) {
			s->tasks[i].aged += delta;
			s->r->stats[i].waiting += delta;
		}
	}
	s->now += delta;
}

/* ---- setting up and summing up ---- */

static int by_arrival_then_name(const void *a, const void *b, void *arg)
{
	const struct sched_workload *w = arg;
	const struct sched_proc *p = &w->procs[*(const int *)a];
	const struct sched_proc *q = &w->procs[*(const int *)b];
	if (p->arrival != q->arrival)
		return p->arrival < q->arrival ? -1 : 1;
	return strcmp(p->name, q->name);
}

static void init_sim(struct sim *s)
{
	const struct sched_workload *w = s->w;
	for (int i = 0; i < w->count; i++) {
		const struct sched_proc *p = &w->procs[i];
		s->tasks[i] =
			(struct task){.state = SCHED_NEW, .left = p->bursts[0], .open = SIZE_MAX};
		s->r->stats[i].first_run = -1;
		for (int b = 0; b < p->burst_count; b++)
			*(b % 2 ? &s->r->stats[i].io : &s->r->stats[i].cpu) += p->bursts[b];
		s->order[i] = i;
	}
	qsort_r(s->order, (size_t)w->count, sizeof s->order[0], by_arrival_then_name, (void *)w);
	s->running = -1;
	s->now = w->procs[s->order[0]].arrival;
	s->r->start = s->now;
	s->r->count = w->count;
}

/* Drops stretches of no length (a process preempted and chosen again at
 * the same instant) and joins the stretches that then touch. */
static void compact_segments(struct sched_result *r)
{
	size_t last[SCHED_MAX_PROCS], kept = 0;
	for (int i = 0; i < SCHED_MAX_PROCS; i++)
		last[i] = SIZE_MAX;
	for (size_t k = 0; k < r->segment_count; k++) {
		struct sched_segment seg = r->segments[k];
		if (seg.end == seg.start)
			continue;
		size_t j = last[seg.proc];
		if (j != SIZE_MAX && r->segments[j].state == seg.state &&
		    r->segments[j].level == seg.level && r->segments[j].end == seg.start) {
			r->segments[j].end = seg.end;
			continue;
		}
		r->segments[kept] = seg;
		last[seg.proc] = kept++;
	}
	r->segment_count = kept;
}

static int add_cpu(struct sched_result *r, int proc, int level, long start, long end)
{
	struct sched_segment *seg = grow(&r->cpu, &r->cpu_cap, r->cpu_count);
	if (!seg)
		return -ENOMEM;
	*seg = (struct sched_segment){proc, SCHED_RUNNING, level, start, end};
	r->cpu_count++;
	return 0;
}

/* The Gantt chart: the running stretches in order, idle gaps between. */
static int build_cpu_chart(struct sched_result *r)
{
	long at = r->start;
	int previous = -1;
	for (size_t k = 0; k < r->segment_count; k++) {
		const struct sched_segment *seg = &r->segments[k];
		if (seg->state != SCHED_RUNNING)
			continue;
		if ((seg->start > at && add_cpu(r, -1, 0, at, seg->start)) ||
		    add_cpu(r, seg->proc, seg->level, seg->start, seg->end))
			return -ENOMEM;
		r->switches += previous >= 0 && previous != seg->proc;
		previous = seg->proc;
		at = seg->end;
	}
	return 0;
}

static void sum_up(const struct sched_workload *w, struct sched_result *r)
{
	double waiting = 0, turnaround = 0, response = 0;
	for (int i = 0; i < w->count; i++) {
		struct sched_stats *st = &r->stats[i];
		st->response = st->first_run - w->procs[i].arrival;
		st->turnaround = st->finish - w->procs[i].arrival;
		waiting += (double)st->waiting;
		turnaround += (double)st->turnaround;
		response += (double)st->response;
		if (st->finish > r->end)
			r->end = st->finish;
	}
	r->avg_waiting = waiting / w->count;
	r->avg_turnaround = turnaround / w->count;
	r->avg_response = response / w->count;
	r->utilisation = (double)r->busy / (double)(r->end - r->start);
}

int sched_simulate(const struct sched_workload *w, const struct sched_config *c,
		   struct sched_result *r)
{
	memset(r, 0, sizeof *r);
	if (!config_valid(c) || w->count < 1 || w->count > SCHED_MAX_PROCS)
		return -EINVAL;
	struct sim *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	*s = (struct sim){.w = w, .c = c, .r = r};
	init_sim(s);
	for (;;) {
		int expired = end_turn(s);
		admit(s);
		if (expired >= 0)
			make_ready(s, expired);
		age(s);
		dispatch(s);
		if (s->err || s->done == w->count)
			break;
		long delta = next_delta(s);
		if (delta == NEVER) { /* nothing left to happen: cannot be */
			s->err = -EINVAL;
			break;
		}
		advance(s, delta);
	}
	int err = s->err;
	free(s);
	if (!err) {
		compact_segments(r);
		err = build_cpu_chart(r);
	}
	if (err) {
		sched_result_free(r);
		return err;
	}
	sum_up(w, r);
	return 0;
}

void sched_result_free(struct sched_result *r)
{
	free(r->segments);
	free(r->cpu);
	memset(r, 0, sizeof *r);
}
