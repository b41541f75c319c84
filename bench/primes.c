/* primes.c: the notes' prime-sum exercise in three models of workers:
 * K processes (the notes' Prime(Process) class, with the partial sums in
 * a shared Array instead of the notes' list, which each child only
 * appended to in its own copy), K threads, and a process pool mapping
 * chunks. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtask/mtask.h"
#include "primes.h"

#define POOL_CHUNKS_PER_WORKER 4

static const char *const model_names[PRIMES_MODELS] = {"process", "thread", "pool", "mpi"};

const char *primes_model_name(enum primes_model model)
{
	return model < PRIMES_MODELS ? model_names[model] : "?";
}

int primes_model_from_name(const char *name)
{
	for (int i = 0; i < PRIMES_MODELS; i++)
		if (!strcmp(name, model_names[i]))
			return i;
	return -1;
}

bool primes_is_prime(uint64_t n)
{
	if (n <= 1)
		return false;
	for (uint64_t i = 2; i < n; i++)
		if (n % i == 0)
			return false;
	return true;
}

static uint64_t *work_counter; /* primes_count_work's */

void primes_count_work(uint64_t *counter)
{
	work_counter = counter;
}

uint64_t primes_total_work(uint64_t below)
{
	return below < 2 ? 0 : below * (below - 1) / 2;
}

static void add_work(uint64_t work)
{
	if (work_counter)
		__atomic_fetch_add(work_counter, work, __ATOMIC_RELAXED);
}

uint64_t primes_sum_range(uint64_t lo, uint64_t hi)
{
	uint64_t sum = 0, work = 0;
	for (uint64_t n = lo; n < hi; n++) {
		if (primes_is_prime(n))
			sum += n;
		work += n;
		if (n % 1024 == 1023) { /* a shared cache line: not at every n */
			add_work(work);
			work = 0;
		}
	}
	add_work(work);
	return sum;
}

/* Chunk k of `chunks` over [0, below): the cost up to x grows as x^2. */
static uint64_t chunk_bound(uint64_t below, int k, int chunks)
{
	if (k >= chunks)
		return below;
	return (uint64_t)((double)below * sqrt((double)k / chunks));
}

struct range {
	uint64_t lo, hi;
	uint64_t *sum; /* where a process or thread puts its part */
};

static int run_range(void *arg)
{
	struct range *r = arg;
	*r->sum = primes_sum_range(r->lo, r->hi);
	return 0;
}

static int sum_with_processes(struct range *ranges, int k)
{
	mt_array *sums; /* shared: a child's writes must reach the parent */
	int err = mt_array_new(&sums, sizeof(uint64_t), (size_t)k, MT_IPC_RAW);
	if (err)
		return err;
	mt_process **procs = calloc((size_t)k, sizeof *procs);
	struct range *in_child = calloc((size_t)k, sizeof *in_child);
	err = procs && in_child ? 0 : -ENOMEM;
	uint64_t *shared = mt_array_data(sums);
	int started = 0;
	for (; started < k && !err; started++) {
		in_child[started] = (struct range){ranges[started].lo, ranges[started].hi,
						   &shared[started]};
		err = mt_process_start(&procs[started], run_range, &in_child[started], NULL);
	}
	started -= err ? 1 : 0;
	for (int i = 0; i < started; i++) {
		mt_process_join(procs[i], -1);
		if (!err && mt_process_exitcode(procs[i]) != 0)
			err = -ECHILD;
		mt_process_free(procs[i]);
	}
	for (int i = 0; i < k && !err; i++)
		*ranges[i].sum = shared[i];
	free(procs);
	free(in_child);
	mt_array_free(sums);
	return err;
}

static int sum_with_threads(struct range *ranges, int k)
{
	mt_thread **threads = calloc((size_t)k, sizeof *threads);
	int err = threads ? 0 : -ENOMEM, started = 0;
	for (; started < k && !err; started++)
		err = mt_thread_start(&threads[started], run_range, &ranges[started], NULL);
	started -= err ? 1 : 0;
	for (int i = 0; i < started; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	free(threads);
	return err;
}

/* A pool task: a range in, its sum out. */
static int pool_range(const void *arg, size_t len, mt_task_out *out)
{
	uint64_t bounds[2];
	if (len != sizeof bounds)
		return -EINVAL;
	memcpy(bounds, arg, sizeof bounds);
	uint64_t sum = primes_sum_range(bounds[0], bounds[1]);
	return mt_task_return(out, &sum, sizeof sum);
}

MT_TASK_REGISTER(pool_range)

int primes_sum_pool(mt_pool *pool, uint64_t below, uint64_t *sum)
{
	int chunks = mt_pool_workers(pool) * POOL_CHUNKS_PER_WORKER;
	uint64_t(*bounds)[2] = calloc((size_t)chunks, sizeof *bounds);
	uint64_t *sums = calloc((size_t)chunks, sizeof *sums);
	int err = bounds && sums ? 0 : -ENOMEM;
	for (int i = 0; i < chunks && !err; i++) {
		/* Biggest first, so that no worker starts a long chunk last. */
		bounds[i][0] = chunk_bound(below, chunks - 1 - i, chunks);
		bounds[i][1] = chunk_bound(below, chunks - i, chunks);
	}
	if (!err)
		err = mt_pool_map(pool, pool_range, bounds, sizeof *bounds, (size_t)chunks, 1, sums,
				  sizeof *sums, -1, NULL);
	*sum = 0;
	for (int i = 0; i < chunks && !err; i++)
		*sum += sums[i];
	free(bounds);
	free(sums);
	return err;
}

static int sum_with_pool(uint64_t below, int k, uint64_t *sum)
{
	mt_pool *pool = NULL;
	mt_pool_opts opts = {.workers = k};
	int err = mt_pool_new(&pool, MT_POOL_PROCESS, &opts);
	if (!err)
		err = primes_sum_pool(pool, below, sum);
	mt_pool_free(pool);
	return err;
}

int primes_sum(uint64_t below, int workers, enum primes_model model, uint64_t *sum)
{
	if (workers < 1 || model >= PRIMES_MODELS || model == PRIMES_MPI || !sum)
		return -EINVAL;
	*sum = 0;
	if (model == PRIMES_POOL)
		return sum_with_pool(below, workers, sum);
	struct range *ranges = calloc((size_t)workers, sizeof *ranges);
	uint64_t *parts = calloc((size_t)workers, sizeof *parts);
	int err = ranges && parts ? 0 : -ENOMEM;
	for (int i = 0; i < workers && !err; i++)
		ranges[i] = (struct range){chunk_bound(below, i, workers),
					   chunk_bound(below, i + 1, workers), &parts[i]};
	if (!err)
		err = model == PRIMES_PROCESS ? sum_with_processes(ranges, workers)
					      : sum_with_threads(ranges, workers);
	for (int i = 0; i < workers && !err; i++)
		*sum += parts[i];
	free(ranges);
	free(parts);
	return err;
}
