/* primes_pool.c: the notes' exercise, the sum of the primes below 100000
 * (or below argv[1]) by the notes' isPrime (divide by 2 .. n-1), with 1
 * process and with 4, here on a process pool. Bigger numbers cost more, so the range is cut
 * into 16 chunks of about equal cost (chunk k ends near N * sqrt(k / 16))
 * and the pool hands them out as workers free up. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtask/mtask.h"

#define CHUNKS 16

static uint64_t below = 100000;

static int is_prime(uint64_t n)
{
	if (n <= 1)
		return 0;
	for (uint64_t i = 2; i < n; i++)
		if (n % i == 0)
			return 0;
	return 1;
}

/* [lo, hi) in, the sum of its primes out */
static int sum_primes(const void *arg, size_t len, mt_task_out *out)
{
	uint64_t range[2], sum = 0;
	memcpy(range, arg, sizeof range);
	for (uint64_t n = range[0]; n < range[1]; n++)
		if (is_prime(n))
			sum += n;
	return mt_task_return(out, &sum, sizeof sum);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t run(int workers, double *seconds)
{
	uint64_t ranges[CHUNKS][2], sums[CHUNKS], total = 0;
	for (int k = 0; k < CHUNKS; k++) { /* the biggest chunks first */
		ranges[k][0] = (uint64_t)(below * sqrt((CHUNKS - 1 - k) / (double)CHUNKS));
		ranges[k][1] = k ? ranges[k - 1][0] : below;
	}
	double start = now();
	mt_pool *p;
	mt_pool_opts opts = {.workers = workers};
	if (mt_pool_new(&p, MT_POOL_PROCESS, &opts) ||
	    mt_pool_map(p, sum_primes, ranges, sizeof *ranges, CHUNKS, 1, sums, sizeof *sums, -1,
			NULL))
		return 0;
	mt_pool_free(p);
	*seconds = now() - start;
	for (int k = 0; k < CHUNKS; k++)
		total += sums[k];
	return total;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		below = strtoull(argv[1], NULL, 10);
	double one, four;
	uint64_t a = run(1, &one), b = run(4, &four);
	printf("sum of primes below %llu: %llu (1 worker), %llu (4 workers)\n",
	       (unsigned long long)below, (unsigned long long)a, (unsigned long long)b);
	fprintf(stderr, "1 worker: %.3f s, 4 workers: %.3f s\n", one, four);
	return a && b == a ? 0 : 1; /* below 100000: 454396537, the notes' answer */
}
