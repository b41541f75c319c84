/* mpi.c: `mtask bench mpi`: what a task costs through the MPI pool, beside
 * the process pool on the same machine and mpi4py.futures'
 * MPIPoolExecutor, the design it follows.
 *
 * Both MPI rows run under mpirun, 3 ranks on this machine over shared
 * memory (MTASK_BENCH_MPI_BTL=self,tcp: over TCP on loopback instead;
 * rank 0 submits, 2 serve: the process pool's 2 workers), which
 * `mtask bench mpi` starts itself for each batch: mtask's own ranks as
 * this program with MTASK_BENCH_MPI_RANK=KIND:COUNT in the environment
 * (cmd_bench hands that to bench_mpi_rank), mpi4py's as `python3 -m
 * mpi4py.futures bench/peers/mpipool.py KIND COUNT`. Either prints the
 * samples as the Python peers do (peer.c). The pools are made and warmed
 * up before the timing, as in `mtask bench pool`: a sample times tasks,
 * never the start of MPI or of workers.
 *   - tasks: a sample submits TASKS trivial tasks (8 bytes in and out),
 *     then waits for each result; reported per task: the per-task
 *     overhead, whose inverse is the pool's tasks/s.
 *   - map: MAP_ITEMS 8-byte items through the identity, the default
 *     chunksize; reported per 1000 items.
 *   - spin: SPIN_TASKS tasks of SPIN_NS of busy work each, submitted and
 *     waited for: with 2 workers the floor is SPIN_NS / 2 per task, and
 *     what exceeds it is the overhead at a realistic grain. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/pool.h"

#define MPI_ROUNDS 3
#define RANKS "3"
#define TASKS 1000
#define MAP_ITEMS 100000
#define SPIN_TASKS 200
#define SPIN_NS 100000u
/* Debian's python3-mpi4py is for Debian's interpreter, which may not be
 * the python3 first on PATH; $MTASK_MPI4PY_PYTHON names another. */
#define MPI4PY_PYTHON "/usr/bin/python3"

enum mpi_row {
	ROW_PROCESS_TASKS,
	ROW_MPI_TASKS,
	ROW_MPI4PY_TASKS,
	ROW_PROCESS_MAP,
	ROW_MPI_MAP,
	ROW_MPI4PY_MAP,
	ROW_PROCESS_SPIN,
	ROW_MPI_SPIN,
	ROW_MPI4PY_SPIN,
	ROW_COUNT
};

static mt_pool *pool;
static int64_t items[MAP_ITEMS], results[MAP_ITEMS];

static int identity(const void *arg, size_t len, mt_task_out *out)
{
	return mt_task_return(out, arg, len);
}
MT_TASK_REGISTER_AS(identity, "bench.mpi.identity")

static int spin(const void *arg, size_t len, mt_task_out *out)
{
	uint64_t until = bench_now_ns() + SPIN_NS;
	while (bench_now_ns() < until)
		;
	return 0;
}
MT_TASK_REGISTER_AS(spin, "bench.mpi.spin")

/* Submits count tasks of fn, then waits for each. */
static int submit_and_wait(mt_task_fn fn, int count)
{
	static mt_future *fs[TASKS];
	return bench_pool_submit_and_wait(pool, fn, count, fs);
}

static int tasks_sample(void)
{
	return submit_and_wait(identity, TASKS);
}

static int map_sample(void)
{
	return mt_pool_map(pool, identity, items, sizeof *items, MAP_ITEMS, 0, results,
			   sizeof *results, -1, NULL);
}

static int spin_sample(void)
{
	return submit_and_wait(spin, SPIN_TASKS);
}

static const struct {
	const char *kind;
	int (*sample)(void);
} samples[] = {{"tasks", tasks_sample}, {"map", map_sample}, {"spin", spin_sample}};

static int setup_process_pool(void)
{
	mt_pool_opts opts = {.workers = 2};
	int err = mt_pool_new(&pool, MT_POOL_PROCESS, &opts);
	for (int i = 0; i < MAP_ITEMS; i++)
		items[i] = i;
	return err ? err : tasks_sample(); /* warm: workers up, depth adapted */
}

/* Inside mpirun: rank 0 times count samples of kind on an MPI pool of
 * the other ranks and prints them; the other ranks serve. */
static int time_on_mpi_pool(int (*sample)(void), const char *kind, int count)
{
	uint64_t *ns = calloc((size_t)count, sizeof *ns);
	int err = ns ? tasks_sample() : -ENOMEM;
	for (int i = 0; i < MAP_ITEMS; i++)
		items[i] = i;
	for (int i = 0; !err && i < count; i++) {
		uint64_t start = bench_now_ns();
		err = sample();
		ns[i] = bench_now_ns() - start;
	}
	if (!err) {
		printf("{\"kind\": \"%s\", \"ns\": [", kind);
		for (int i = 0; i < count; i++)
			printf("%s%llu", i ? ", " : "", (unsigned long long)ns[i]);
		printf("]}\n");
	}
	free(ns);
	return err;
}

int bench_mpi_rank(const char *spec)
{
	char kind[16];
	int count = 0;
	size_t which = 0;
	if (sscanf(spec, "%15[a-z]:%d", kind, &count) != 2 || count < 1)
		return 2;
	while (which < sizeof samples / sizeof *samples && strcmp(samples[which].kind, kind))
		which++;
	if (which == sizeof samples / sizeof *samples)
		return 2;
	int err = mt_pool_new(&pool, MT_POOL_MPI, NULL);
	if (err == MT_POOL_SERVED)
		return 0;
	if (!err)
		err = time_on_mpi_pool(samples[which].sample, kind, count);
	if (err)
		fprintf(stderr, "mtask bench mpi: %s: %s\n", kind, mt_strerror(err));
	mt_pool_free(pool);
	return err ? 1 : 0;
}

/* Runs a batch under mpirun: mtask's ranks (kind "tasks") or mpi4py's
 * (kind "py-tasks"). */
static int mpi_peer(struct bench_row *row, const char *kind, int iterations, char *peers)
{
#ifndef MTASK_HAVE_MPI
	snprintf(row->skipped, sizeof row->skipped, "mtask was built without MPI");
	return -ENOTSUP;
#else
	char self[PATH_MAX], count[16], spec[64], script[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	const char *python = getenv("MTASK_MPI4PY_PYTHON"), *dir = getenv("MTASK_BENCH_PEERS");
	snprintf(script, sizeof script, "%s/mpipool.py", dir && *dir ? dir : MTASK_BENCH_PEERS_DIR);
	snprintf(count, sizeof count, "%d", iterations);
	bool py = !strncmp(kind, "py-", 3);
	const char *btl = getenv("MTASK_BENCH_MPI_BTL"); /* self,tcp: TCP on loopback */
	char *argv[32] = {MTASK_MPIEXEC,
			  "--oversubscribe",
			  "--allow-run-as-root",
			  "--timeout",
			  "600",
			  "--mca",
			  "btl",
			  (char *)(btl && *btl ? btl : "self,vader"),
			  "--mca",
			  "oob_tcp_if_include",
			  "lo",
			  "--mca",
			  "btl_tcp_if_include",
			  "lo",
			  "-np",
			  RANKS};
	int at = 16;
	if (py) { /* python3 -m mpi4py.futures mpipool.py KIND COUNT */
		argv[at++] = (char *)(python && *python ? python : MPI4PY_PYTHON);
		argv[at++] = "-m";
		argv[at++] = "mpi4py.futures";
		argv[at++] = script;
		argv[at++] = (char *)kind + 3;
		argv[at++] = count;
	} else { /* this program, as bench_mpi_rank */
		argv[at++] = self;
		argv[at++] = "bench";
		argv[at++] = "mpi";
	}
	snprintf(spec, sizeof spec, "%s:%d", kind, iterations);
	if (!py)
		setenv("MTASK_BENCH_MPI_RANK", spec, 1);
	int err = bench_peer_command(row, argv, py ? "mpi4py.futures" : "mtask's ranks", iterations,
				     NULL);
	unsetenv("MTASK_BENCH_MPI_RANK");
	return err;
#endif
}

#define TASKS_OP "submit + result, trivial task, 2 workers, per task"
#define MAP_OP "map, 8-byte items, 2 workers, per 1000 items"
#define SPIN_OP "submit + result, 100 us tasks, 2 workers, per task"

#define PROCESS_ROW(op_name, fn, n)                                                                \
	{                                                                                          \
		.operation = (op_name), .implementation = "mt_pool, processes", .reference = true, \
		.setup = setup_process_pool, .op = (fn), .batch = (n), .quick_batch = 2            \
	}

#define RANKS_ROW(op_name, impl, kind, n)                                                          \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .peer = mpi_peer,                \
		.peer_kind = (kind), .batch = (n), .quick_batch = 2                                \
	}

static const struct bench_impl mpi_impls[ROW_COUNT] = {
	[ROW_PROCESS_TASKS] = PROCESS_ROW(TASKS_OP, tasks_sample, 10),
	[ROW_MPI_TASKS] = RANKS_ROW(TASKS_OP, "mt_pool, MPI ranks", "tasks", 10),
	[ROW_MPI4PY_TASKS] = RANKS_ROW(TASKS_OP, "mpi4py MPIPoolExecutor", "py-tasks", 3),
	[ROW_PROCESS_MAP] = PROCESS_ROW(MAP_OP, map_sample, 5),
	[ROW_MPI_MAP] = RANKS_ROW(MAP_OP, "mt_pool_map, MPI ranks", "map", 5),
	[ROW_MPI4PY_MAP] = RANKS_ROW(MAP_OP, "mpi4py MPIPoolExecutor.map", "py-map", 2),
	[ROW_PROCESS_SPIN] = PROCESS_ROW(SPIN_OP, spin_sample, 5),
	[ROW_MPI_SPIN] = RANKS_ROW(SPIN_OP, "mt_pool, MPI ranks", "spin", 5),
	[ROW_MPI4PY_SPIN] = RANKS_ROW(SPIN_OP, "mpi4py MPIPoolExecutor", "py-spin", 2),
};

static uint64_t per_sample(int row)
{
	if (row <= ROW_MPI4PY_TASKS)
		return TASKS;
	return row <= ROW_MPI4PY_MAP ? MAP_ITEMS / 1000 : SPIN_TASKS;
}

int bench_mpi(const struct bench_config *config, struct bench_result *result)
{
	int err = bench_run_rounds(config, result, mpi_impls, ROW_COUNT, MPI_ROUNDS);
	for (int i = 0; i < ROW_COUNT; i++)
		bench_row_scale(&result->rows[i], per_sample(i));
	const char *python = getenv("MTASK_MPI4PY_PYTHON");
	snprintf(result->peers, sizeof result->peers, "mpi4py.futures (%s), mpirun -np %s",
		 python && *python ? python : MPI4PY_PYTHON, RANKS);
	bench_add_target(result, "per task: MPI pool over mpi4py.futures", ROW_MPI4PY_TASKS,
			 ROW_MPI_TASKS, BENCH_AT_LEAST, 10);
	bench_add_target(result, "per task: MPI pool within 3x of the process pool", ROW_MPI_TASKS,
			 ROW_PROCESS_TASKS, BENCH_AT_MOST, 3);
	return err;
}
