/* pool.c: `mtask bench pool`: what a task costs through a thread pool and
 * a process pool, beside Python's ThreadPoolExecutor, ProcessPoolExecutor
 * and multiprocessing.Pool.map, and how the notes' prime sum speeds up
 * with 1, 2 and 4 pool workers.
 *
 * Every pool has two workers (the machine's two CPUs) and is made, and
 * warmed up, by the batch's setup: a sample times tasks, never the start
 * of workers, as bench/peers/pools.py does for Python.
 *   - submit + result: a sample submits TASKS_PER_SAMPLE trivial tasks
 *     (8 bytes in, the same 8 bytes out), then waits for each result;
 *     reported per 1000 tasks. mtask's process pool is the reference.
 *   - map: a sample maps MAP_ITEMS 8-byte items through the identity with
 *     the default chunksize (Python's rule, items / (4 * workers), cut to
 *     fit the pool's 64 KiB messages); reported per 1000 items.
 *   - primes: one sample is primes_sum(PRIMES_BELOW) through a process
 *     pool of K workers (its start included, ~1 ms), K = 1, 2, 4. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bench.h"
#include "mtask/pool.h"
#include "primes.h"

#define POOL_ROUNDS 5
#define WORKERS 2
#define TASKS_PER_SAMPLE 1000 /* bench/peers/pools.py's TASKS */
#define MAP_ITEMS 100000      /* and MAP_ITEMS */
#define REPORTED_PER 1000
#define PRIMES_BELOW 50000

enum pool_row {
	ROW_MT_PROCESS_TASKS,
	ROW_MT_THREAD_TASKS,
	ROW_PY_PPE_TASKS,
	ROW_PY_TPE_TASKS,
	ROW_MT_PROCESS_MAP,
	ROW_MT_THREAD_MAP,
	ROW_PY_POOL_MAP,
	ROW_PRIMES_1,
	ROW_PRIMES_2,
	ROW_PRIMES_4,
	ROW_COUNT
};

static mt_pool *pool;
static int64_t items[MAP_ITEMS], results[MAP_ITEMS];

static int identity(const void *arg, size_t len, mt_task_out *out)
{
	return mt_task_return(out, arg, len);
}

int bench_pool_submit_and_wait(mt_pool *p, mt_task_fn fn, int count, mt_future **fs)
{
	int err = 0;
	for (int64_t i = 0; i < count && !err; i++)
		err = mt_pool_submit(p, fn, &i, sizeof i, &fs[i]);
	for (int i = 0; i < count; i++) {
		if (!err)
			err = mt_future_result(fs[i], -1, NULL, NULL);
		mt_future_free(fs[i]);
		fs[i] = NULL;
	}
	return err;
}

static int submit_and_wait(void)
{
	static mt_future *fs[TASKS_PER_SAMPLE];
	return bench_pool_submit_and_wait(pool, identity, TASKS_PER_SAMPLE, fs);
}

static int map_items(void)
{
	return mt_pool_map(pool, identity, items, sizeof *items, MAP_ITEMS, 0, results,
			   sizeof *results, -1, NULL);
}

static int setup_pool(int kind)
{
	mt_pool_opts opts = {.workers = WORKERS};
	int err = mt_pool_new(&pool, kind, &opts);
	for (int i = 0; i < MAP_ITEMS; i++)
		items[i] = i;
	return err ? err : submit_and_wait(); /* warm: workers up, depth adapted */
}

static int setup_process_pool(void)
{
	return setup_pool(MT_POOL_PROCESS);
}

static int setup_thread_pool(void)
{
	return setup_pool(MT_POOL_THREAD);
}

static int primes_with(int workers)
{
	uint64_t sum;
	int err = primes_sum(PRIMES_BELOW, workers, PRIMES_POOL, &sum);
	return err ? err : sum == 121013308 ? 0 : -EPROTO; /* the sum below 50000 */
}

static int primes_1(void)
{
	return primes_with(1);
}

static int primes_2(void)
{
	return primes_with(2);
}

static int primes_4(void)
{
	return primes_with(4);
}

#define TASKS "submit + result, trivial task, 2 workers, per 1000 tasks"
#define MAP "map, 8-byte items, 2 workers, per 1000 items"
#define PRIMES "sum of primes below 50000 (notes' trial division), pool of K"

#define C_ROW(op_name, impl, setup_fn, fn, is_floor, n)                                            \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .reference = (is_floor),         \
		.setup = (setup_fn), .op = (fn), .batch = (n), .quick_batch = 2                    \
	}

#define PYTHON_ROW(op_name, impl, kind, n)                                                         \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .peer_script = "pools.py",       \
		.peer_kind = (kind), .batch = (n), .quick_batch = 1                                \
	}

static const struct bench_impl pool_impls[ROW_COUNT] = {
	[ROW_MT_PROCESS_TASKS] = C_ROW(TASKS, "mt_pool, processes", setup_process_pool,
				       submit_and_wait, true, 20),
	[ROW_MT_THREAD_TASKS] = C_ROW(TASKS, "mt_pool, threads", setup_thread_pool,
				      submit_and_wait, false, 20),
	[ROW_PY_PPE_TASKS] = PYTHON_ROW(TASKS, "Python ProcessPoolExecutor", "ppe", 2),
	[ROW_PY_TPE_TASKS] = PYTHON_ROW(TASKS, "Python ThreadPoolExecutor", "tpe", 4),
	[ROW_MT_PROCESS_MAP] = C_ROW(MAP, "mt_pool_map, processes", setup_process_pool, map_items,
				     true, 10),
	[ROW_MT_THREAD_MAP] = C_ROW(MAP, "mt_pool_map, threads", setup_thread_pool, map_items,
				    false, 10),
	[ROW_PY_POOL_MAP] = PYTHON_ROW(MAP, "Python multiprocessing.Pool.map", "poolmap", 3),
	[ROW_PRIMES_1] = C_ROW(PRIMES, "mt_pool, 1 worker", NULL, primes_1, true, 1),
	[ROW_PRIMES_2] = C_ROW(PRIMES, "mt_pool, 2 workers", NULL, primes_2, false, 1),
	[ROW_PRIMES_4] = C_ROW(PRIMES, "mt_pool, 4 workers", NULL, primes_4, false, 1),
};

static uint64_t per_sample(int row)
{
	if (row <= ROW_PY_TPE_TASKS)
		return TASKS_PER_SAMPLE / REPORTED_PER;
	return row <= ROW_PY_POOL_MAP ? MAP_ITEMS / REPORTED_PER : 1;
}

int bench_pool(const struct bench_config *config, struct bench_result *result)
{
	int err = bench_run_rounds(config, result, pool_impls, ROW_COUNT, POOL_ROUNDS);
	for (int i = 0; i < ROW_COUNT; i++)
		bench_row_scale(&result->rows[i], per_sample(i));
	bench_add_target(result, "tasks/s: process pool over ProcessPoolExecutor",
			 ROW_PY_PPE_TASKS, ROW_MT_PROCESS_TASKS, BENCH_AT_LEAST, 100);
	bench_add_target(result, "items/s: process pool map over Pool.map", ROW_PY_POOL_MAP,
			 ROW_MT_PROCESS_MAP, BENCH_AT_LEAST, 20);
	bench_add_target(result, "primes: 2 workers over 1", ROW_PRIMES_1, ROW_PRIMES_2,
			 BENCH_AT_LEAST, 1.8);
	return err;
}
