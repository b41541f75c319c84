/* tour_pool.c: the tour's pool scenes: Pool.map and futures on a process
 * pool, a worker killed in the middle of a task (the future says how it
 * died, the pool goes on), and the notes' prime-sum exercise with one and
 * two workers. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtask/mtask.h"
#include "primes.h"
#include "tour.h"

#define TOUR_PRIMES_BELOW 30000

static int square(const void *arg, size_t len, mt_task_out *out)
{
	int64_t x;
	memcpy(&x, arg, sizeof x);
	x *= x;
	return mt_task_return(out, &x, sizeof x);
}

static int die_by_sigkill(const void *arg, size_t len, mt_task_out *out)
{
	raise(SIGKILL);
	return 0;
}

void tour_pool(void)
{
	mt_pool *pool;
	mt_pool_opts opts = {.workers = 2};
	int err = mt_pool_new(&pool, MT_POOL_PROCESS, &opts);
	if (err) {
		printf("  cannot start a pool: %s\n", mt_strerror(err));
		return;
	}
	int64_t in[8] = {0, 1, 2, 3, 4, 5, 6, 7}, out[8];
	err = mt_pool_map(pool, square, in, sizeof *in, 8, 0, out, sizeof *out, 30, NULL);
	printf("  Pool(2).map(square, range(8)):");
	for (int i = 0; i < 8 && !err; i++)
		printf(" %lld", (long long)out[i]);
	printf("\n");
	mt_future *doomed, *after;
	int64_t x = 12;
	mt_pool_submit(pool, die_by_sigkill, NULL, 0, &doomed);
	mt_pool_submit(pool, square, &x, sizeof x, &after);
	char text[96];
	mt_future_wait(doomed, 30);
	printf("  a task whose worker was SIGKILLed: %s\n",
	       mt_future_describe(doomed, text, sizeof text));
	const void *result;
	if (mt_future_result(after, 30, &result, NULL) == 0) {
		memcpy(&x, result, sizeof x);
		printf("  the next task still ran: square(12) = %lld, on a replacement worker\n",
		       (long long)x);
	}
	mt_future_free(doomed);
	mt_future_free(after);
	mt_pool_free(pool);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tour_primes(void)
{
	double one = 0;
	for (int workers = 1; workers <= 2; workers++) {
		uint64_t sum;
		double start = now_seconds();
		if (primes_sum(TOUR_PRIMES_BELOW, workers, PRIMES_POOL, &sum))
			return;
		double t = now_seconds() - start;
		one = workers == 1 ? t : one;
		printf("  primes below %d with %d pool worker%s: sum %llu in %.3f s (%.2fx)\n",
		       TOUR_PRIMES_BELOW, workers, workers == 1 ? " " : "s",
		       (unsigned long long)sum, t, one / t);
	}
	printf("  (mtask primes runs the notes' full table: 1, 2, 4 and 10 workers)\n");
}
