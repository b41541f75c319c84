/* sched.h: the scheduling simulator behind `mtask sched`: a workload parsed
 * from text, the notes' algorithms run on it, and what they produce (each
 * process's states over time, the CPU's Gantt chart, the textbook times).
 * Pure: no IO, no global state; the command and the renderers print. */
#ifndef MTASK_SCHED_H
#define MTASK_SCHED_H

#include <stdbool.h>
#include <stddef.h>

#define SCHED_MAX_PROCS 100
#define SCHED_NAME_MAX 32	 /* bytes of a name, its terminating NUL included */
#define SCHED_MAX_BURSTS 31	 /* CPU, IO, CPU, ...: always an odd count */
#define SCHED_MAX_LEVELS 8	 /* MLFQ queues */
#define SCHED_TIME_MAX 100000	 /* the largest arrival, burst, quantum or period */
#define SCHED_PRIORITY_MAX 99999 /* priorities lie in [-MAX, MAX] */
#define SCHED_WORK_MAX 1000000	 /* the largest sum of a workload's bursts */

enum sched_algo {
	SCHED_FCFS,	/* 先来先服务: first come, first served */
	SCHED_SJF,	/* 短作业优先: shortest next CPU burst, non-preemptive */
	SCHED_SRTF,	/* the same, preemptive: shortest remaining burst */
	SCHED_RR,	/* 时间片轮转: round robin with a quantum */
	SCHED_MLFQ,	/* 多级反馈队列: multilevel feedback queues */
	SCHED_PRIORITY, /* 优先级: lower number first */
	SCHED_ALGO_COUNT
};

/* The notes' five states (五态): 新建, 就绪, 运行, 阻塞, 终止. */
enum sched_state { SCHED_NEW, SCHED_READY, SCHED_RUNNING, SCHED_BLOCKED, SCHED_TERMINATED };

/* One process of a workload, as a line of the file gave it. */
struct sched_proc {
	char name[SCHED_NAME_MAX];
	long arrival;
	long priority;	   /* 0 when the line gave none */
	bool has_priority; /* the line gave one */
	int line;	   /* 1-based line of the workload text */
	int burst_count;   /* odd: CPU bursts at even indexes, IO at odd */
	long bursts[SCHED_MAX_BURSTS];
};

struct sched_workload {
	struct sched_proc procs[SCHED_MAX_PROCS];
	int count;
};

struct sched_config {
	enum sched_algo algo;
	long quantum;		       /* RR's time slice */
	int levels;		       /* MLFQ's queues, 1..SCHED_MAX_LEVELS */
	long quanta[SCHED_MAX_LEVELS]; /* MLFQ's time slice per queue */
	long aging;		       /* MLFQ: ready this long, move up a queue; 0 = never */
	bool preemptive;	       /* priority only: a better arrival takes the CPU */
};

/* A stretch of time a process spent in one state (ready, running or
 * blocked), or, in a CPU chart, that the CPU gave to one process (proc -1:
 * idle). level is the MLFQ queue of a running stretch, else 0. */
struct sched_segment {
	int proc; /* index into the workload */
	enum sched_state state;
	int level;
	long start, end;
};

struct sched_stats {
	long first_run;	 /* when it first got the CPU */
	long finish;	 /* when it terminated */
	long cpu, io;	 /* its total CPU and IO burst time */
	long response;	 /* first_run - arrival */
	long waiting;	 /* time spent ready */
	long turnaround; /* finish - arrival */
};

struct sched_result {
	struct sched_segment *segments; /* every process's stretches, by start */
	size_t segment_count;
	struct sched_segment *cpu; /* the Gantt chart: the CPU's stretches, idle included */
	size_t cpu_count;
	struct sched_stats stats[SCHED_MAX_PROCS];
	int count;    /* processes */
	long start;   /* the first arrival */
	long end;     /* the last termination */
	long busy;    /* time the CPU ran a process */
	int switches; /* times the CPU passed from one process to another */
	double avg_waiting, avg_turnaround, avg_response;
	double utilisation;	     /* busy / (end - start) */
	size_t segment_cap, cpu_cap; /* the arrays' allocated lengths */
};

/* One algorithm's run: its configuration and what it produced. */
struct sched_run {
	struct sched_config config;
	struct sched_result result;
};

/* Parses a workload: one process per line, "name, arrival, burst[,
 * priority]"; a burst is CPU time or a sequence such as "5 io3 4". '#'
 * starts a comment; blank lines and a first line naming the columns are
 * skipped. Returns 0, or -1 with a one-line message naming the line in
 * err ("line 3: arrival '-2' is negative"). */
int sched_parse(const char *text, struct sched_workload *w, char *err, size_t err_size);

/* The built-in example workload's text. */
const char *sched_example_workload(void);

/* The configuration `mtask sched` uses for algo when no option changes
 * it: quantum 2; MLFQ with 3 queues of quanta 2, 4, 8, no aging. */
void sched_config_default(struct sched_config *c, enum sched_algo algo);

/* Runs the algorithm of c on w into r, which it overwrites (free an
 * earlier result first). Returns 0, -EINVAL for a configuration out of
 * range, -ENOMEM, or -E2BIG for a schedule of more than two million
 * stretches (fewer or longer turns make it shorter). */
int sched_simulate(const struct sched_workload *w, const struct sched_config *c,
		   struct sched_result *r);

void sched_result_free(struct sched_result *r);

/* "fcfs", "sjf", ...; and back: -1 for an unknown name. */
const char *sched_algo_name(enum sched_algo algo);
int sched_algo_from_name(const char *name);

/* "new", "ready", "running", "blocked", "terminated". */
const char *sched_state_name(enum sched_state state);

/* Describes c for a title: "RR, quantum 2", "MLFQ, 3 queues, quanta 2 4
 * 8, aging 10", "priority, preemptive". */
void sched_describe(const struct sched_config *c, char *out, size_t size);

/* Writes the bursts of p as the workload file spells them ("5 io3 4"). */
void sched_format_bursts(const struct sched_proc *p, char *out, size_t size);

#endif
