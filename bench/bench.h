/* bench.h: the harness behind `mtask bench`: the registry of benchmarks,
 * rows of per-operation samples, interleaved rounds, peers in Python, and
 * the table or JSON report.
 *
 * A benchmark describes its implementations (mtask, the raw-syscall floor,
 * the Python peers) in a table of struct bench_impl and hands it to
 * bench_run_rounds(), which runs one batch of each implementation per
 * round, rotating their order, so that the noise of a shared two-CPU
 * virtual machine hits mtask and its peers alike. Every operation is timed
 * on its own; the report gives the median and the 10th and 90th
 * percentiles of all samples, and each row's ratio to its operation's
 * reference row (the floor).
 *
 * Each batch of a C implementation runs in a fresh child of the harness,
 * which itself never starts a thread: state one implementation leaves
 * behind (mtask's reaper thread, malloc arenas, a second thread that makes
 * every later fork dearer) never leaks into another's figures, and the
 * floor is measured the way a program without mtask would see it. */
#ifndef MTASK_BENCH_H
#define MTASK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mtask/pool.h"

/* Every benchmark, in the order `mtask bench` runs them: X(name, summary).
 * Adding a benchmark is one line here plus its file, bench/NAME.c (listed
 * in bench/CMakeLists.txt), which defines
 * int bench_NAME(const struct bench_config *, struct bench_result *). */
/* clang-format off */
#define BENCH_LIST(X) \
	X(spawn, "start a trivial process or thread and wait for it to end") \
	X(sync, "Lock, Condition and Event against pthreads, futexes and Python") \
	X(queue, "items through queues between threads and processes, against pthreads and Python") \
	X(coro, "coroutine switch, spawn and memory, greenlet spawn+join, against Boost.Context, ucontext, greenlet and gevent") \
	X(pipe, "a Pipe round trip between two processes, against pipe(2), eventfd and Python") \
	X(pool, "tasks and maps through thread and process pools, against Python's executors and Pool") \
	X(hubio, "the hub's IO on epoll and on io_uring: greenlet round trips, connections") \
	X(http, "mtask serve's four models answering HTTP under wrk, beside nginx with one worker") \
	X(mpi, "tasks through the MPI pool under mpirun, beside the process pool and mpi4py.futures")
/* clang-format on */

#define BENCH_ROWS_MAX 16
#define BENCH_TARGETS_MAX 8
#define BENCH_TEXT_MAX 160

/* How the user asked the benchmarks to run. */
struct bench_config {
	bool quick;    /* few rounds and small batches: a smoke test */
	bool progress; /* a progress line on stderr (a terminal) */
	int rounds;    /* interleaved rounds; 0: the benchmark's default */
};

/* One implementation of one operation, and its samples. */
struct bench_row {
	const char *operation;	    /* "process start+join" */
	const char *implementation; /* "fork+waitpid" */
	bool reference;		    /* the floor the operation's ratios use */
	uint64_t *ns;		    /* one sample per operation, nanoseconds */
	size_t count, capacity;
	char skipped[BENCH_TEXT_MAX]; /* not empty: why it was not measured */
};

enum bench_comparison { BENCH_AT_MOST, BENCH_AT_LEAST };

/* A claim the benchmark checks: the ratio of the medians of rows[row] and
 * rows[versus] is at most (or at least) bound. */
struct bench_target {
	const char *label;
	int row, versus;
	enum bench_comparison comparison;
	double bound;
};

/* What one benchmark measured. */
struct bench_result {
	const char *name, *summary;
	struct bench_row rows[BENCH_ROWS_MAX];
	int row_count;
	struct bench_target targets[BENCH_TARGETS_MAX];
	int target_count;
	char peers[BENCH_TEXT_MAX]; /* e.g. "Python 3.11.7 (python3)" */
};

/* How to time one operation: a C function, or a kind of a Python peer
 * script (bench/peers/SCRIPT KIND ITERATIONS prints {"ns": [...]}). */
struct bench_impl {
	const char *operation;
	const char *implementation;
	bool reference;
	int (*op)(void);	 /* one operation: 0, or a negative errno */
	int (*setup)(void);	 /* NULL, or run once before a batch, untimed */
	const char *peer_script; /* when op is NULL: "spawn.py" */
	const char *peer_kind;	 /* "mp-fork" */
	int batch;		 /* operations per round */
	int quick_batch;	 /* the same under --quick */
	/* When op and peer_script are NULL: runs `batch` samples of
	 * peer_kind some other way (bench/mpi.c: under mpirun), appending
	 * them to row, or marks the row skipped. */
	int (*peer)(struct bench_row *row, const char *kind, int iterations, char *peers);
};

/* One registered benchmark. */
struct bench {
	const char *name;
	const char *summary;
	int (*run)(const struct bench_config *config, struct bench_result *result);
};

#define BENCH_DECLARE(name, summary)                                                               \
	int bench_##name(const struct bench_config *config, struct bench_result *result);
BENCH_LIST(BENCH_DECLARE)
#undef BENCH_DECLARE

#define BENCH_PLUS_ONE(name, summary) +1
enum { BENCH_COUNT = 0 BENCH_LIST(BENCH_PLUS_ONE) };
#undef BENCH_PLUS_ONE

extern const struct bench bench_registry[BENCH_COUNT];

/* Looks a benchmark up by name; NULL if there is none. */
const struct bench *bench_find(const char *name);

/* Runs `rounds` interleaved rounds of impls (a row is added for each, in
 * order, so impls[i] is rows[first + i] with first the row count before the
 * call). Returns 0, or a negative errno when a C operation failed (the
 * message is on stderr); a Python peer that cannot run only marks its rows
 * skipped. */
int bench_run_rounds(const struct bench_config *config, struct bench_result *result,
		     const struct bench_impl *impls, int impl_count, int rounds);

/* Adds a target; rows are indexes into result->rows. */
void bench_add_target(struct bench_result *result, const char *label, int row, int versus,
		      enum bench_comparison comparison, double bound);

/* Releases the samples of every row. */
void bench_result_free(struct bench_result *result);

/* The reports: a table for people, or one JSON object per benchmark. */
void bench_print_machine(void);
void bench_print_table(const struct bench_result *result);
void bench_print_json_begin(void);
void bench_print_json(const struct bench_result *result, bool first);
void bench_print_json_end(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* The first two CPUs this process may run on into cpu[0] and cpu[1]; with
 * only one, both are it. Ask before any thread pins itself: a thread
 * starts with its creator's affinity, so a partner asking after the main
 * thread pinned itself would find only that CPU. Returns 0 or a negative
 * errno (cpu untouched). */
int bench_pick_cpus(int cpu[2]);

/* Runs the Python peer: `python SCRIPT KIND ITERATIONS`, appending the
 * printed per-operation times to row. Returns 0, or -ENOENT and the like
 * with row->skipped saying why ("python3 not found"). The interpreter's
 * version goes into peers (size BENCH_TEXT_MAX) once known. */
int bench_peer_python(struct bench_row *row, const char *script, const char *kind, int iterations,
		      char *peers);

/* Runs argv (argv[0] a path) with its stdout on a pipe and appends the
 * "ns" samples it prints (peer.c's protocol) to row. Returns 0, with the
 * whole output in *output (to free) when output is not NULL; or a
 * negative errno with row->skipped saying why (what names the command). */
int bench_peer_command(struct bench_row *row, char *const argv[], const char *what,
		       int iterations, char **output);

/* Submits count tasks of fn to p, the i-th with the 8 bytes of i, then
 * waits for each and frees its future; fs has room for count (pool.c,
 * shared with mpi.c). Returns 0 or the first error. */
int bench_pool_submit_and_wait(mt_pool *p, mt_task_fn fn, int count, mt_future **fs);

/* `mtask bench mpi`'s part inside mpirun: see bench/mpi.c. */
int bench_mpi_rank(const char *spec);

/* Waits for child pid; returns its exit status, 128 + N if signal N
 * killed it (as a shell says), or a negative errno. */
int bench_wait_exit_status(pid_t pid);

/* Divides every sample of row by divisor, rounding to the nearest
 * nanosecond: a sample timed over many operations becomes a time per
 * fewer. Dividing keeps the samples sorted. */
void bench_row_scale(struct bench_row *row, uint64_t divisor);

/* Appends one sample to row. Returns 0 or -ENOMEM. */
int bench_row_add_sample(struct bench_row *row, uint64_t ns);

#endif
