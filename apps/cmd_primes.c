/* cmd_primes.c: `mtask primes`, the notes' exercise: the sum of the primes
 * below N by trial division, with K processes, threads or pool workers.
 * Without --workers it prints the notes' table: 1, 2, 4 and 10 workers,
 * with the speedup over one. With --model mpi, under mpirun, the ranks
 * but 0 are the workers: rank 0 prints, the others serve silently. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mtask/mtask.h"
#include "primes.h"

#define COMMAND "primes"
#ifdef MTASK_HAVE_MPI
#define MTASK_MPI_BUILT 1
#else
#define MTASK_MPI_BUILT 0
#endif
#define DEFAULT_BELOW 100000
#define MAX_BELOW 10000000
#define MAX_WORKERS 256

struct primes_args {
	long below, workers; /* workers 0: the table */
	int model;
	bool help;
};

static void print_help(void)
{
	printf("usage: mtask primes [--below N] [--workers K] [--model process|thread|pool|mpi]\n\n"
	       "The notes' exercise: the sum of the primes below N (default %d) by\n"
	       "trial division (each n divided by 2 .. n-1, as the notes' isPrime),\n"
	       "split into chunks of equal cost over K workers: K processes that\n"
	       "return their part through a shared Array (the default), K threads, or\n"
	       "a process pool of K workers mapping 4K chunks. Prints the sum and the\n"
	       "wall time; without --workers, the times for 1, 2, 4 and 10 workers and\n"
	       "the speedup of each over one.\n\n"
	       "The mpi model maps the same chunks over an MPI pool, whose workers are\n"
	       "the ranks mpirun started (all but rank 0, or the first K with\n"
	       "--workers): run it as `mpirun -np 3 mtask primes --model mpi`. Rank 0\n"
	       "prints the sum and the times; the other ranks print nothing.\n\n"
	       "options:\n"
	       "  --below N     sum the primes below N (2-%d)\n"
	       "  --workers K   one run with K workers (1-%d)\n"
	       "  --model M     process, thread, pool or mpi%s\n",
	       DEFAULT_BELOW, MAX_BELOW, MAX_WORKERS, MTASK_MPI_BUILT ? "" : " (not in this build)");
}

static int parse_args(int argc, char **argv, struct primes_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			a->help = true;
			continue;
		}
		bool below = !strcmp(arg, "--below"), workers = !strcmp(arg, "--workers");
		if (!below && !workers && strcmp(arg, "--model"))
			return cli_usage_error(COMMAND, arg[0] == '-' ? "unknown option '%s'"
								     : "unexpected argument '%s'",
					       arg);
		if (!value)
			return cli_usage_error(COMMAND, "%s needs a value", arg);
		i++;
		if (below && !cli_parse_long(value, 2, MAX_BELOW, &a->below))
			return cli_usage_error(COMMAND, "--below wants 2-%d, not '%s'", MAX_BELOW,
					       value);
		if (workers && !cli_parse_long(value, 1, MAX_WORKERS, &a->workers))
			return cli_usage_error(COMMAND, "--workers wants 1-%d, not '%s'",
					       MAX_WORKERS, value);
		if (!below && !workers && (a->model = primes_model_from_name(value)) < 0)
			return cli_usage_error(COMMAND,
					       "--model wants process, thread, pool or mpi, not '%s'",
					       value);
		if (!below && !workers && a->model == PRIMES_MPI && !MTASK_MPI_BUILT)
			return cli_usage_error(COMMAND, "--model mpi: this mtask was built without MPI "
							"(install libopenmpi-dev, then rebuild)");
	}
	return 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timed run; prints an error and returns -1 when it failed. */
static double timed_run(const struct primes_args *a, int workers, uint64_t *sum)
{
	double start = now_seconds();
	int err = primes_sum((uint64_t)a->below, workers, a->model, sum);
	if (err) {
		fprintf(stderr, "mtask primes: %s\n", mt_strerror(err));
		return -1;
	}
	return now_seconds() - start;
}

static int print_table(const struct primes_args *a)
{
	static const int workers[] = {1, 2, 4, 10};
	double one = 0;
	printf("%-8s %-10s %s\n", "workers", "time", "speedup");
	for (size_t i = 0; i < sizeof workers / sizeof *workers; i++) {
		uint64_t sum;
		double t = timed_run(a, workers[i], &sum);
		if (t < 0)
			return 1;
		if (i == 0) {
			printf("(sum of primes below %ld: %llu; %s model)\n", a->below,
			       (unsigned long long)sum, primes_model_name(a->model));
			one = t;
		}
		printf("%-8d %-10.3f %.2fx\n", workers[i], t, one / t);
		fflush(stdout);
	}
	return 0;
}

/* The mpi model: every rank makes the pool; rank 0 times the sum. */
static int run_mpi(const struct primes_args *a)
{
	double start = now_seconds();
	mt_pool *pool;
	mt_pool_opts opts = {.workers = (int)a->workers};
	int err = mt_pool_new(&pool, MT_POOL_MPI, &opts);
	if (err == MT_POOL_SERVED)
		return 0; /* a worker rank: it served rank 0's chunks */
	if (err) {
		fprintf(stderr, "mtask primes: MPI pool: %s%s\n", mt_strerror(err),
			err == -ECHILD ? ": no worker rank; run it as mpirun -np 3 mtask primes "
					 "--model mpi"
			: err == -EINVAL ? ": --workers is over the ranks mpirun started, less one"
					 : "");
		return 1;
	}
	double started = now_seconds(), t;
	uint64_t sum = 0;
	err = primes_sum_pool(pool, (uint64_t)a->below, &sum);
	t = now_seconds() - started;
	int workers = mt_pool_workers(pool);
	mt_pool_free(pool);
	if (err) {
		fprintf(stderr, "mtask primes: %s\n", mt_strerror(err));
		return 1;
	}
	printf("sum of primes below %ld: %llu\n", a->below, (unsigned long long)sum);
	printf("%d mpi worker%s: %.3f s (the pool's start, MPI's included: %.3f s)\n", workers,
	       workers == 1 ? "" : "s", t, started - start);
	return 0;
}

int cmd_primes(int argc, char **argv)
{
	struct primes_args a = {.below = DEFAULT_BELOW, .model = PRIMES_PROCESS};
	int err = parse_args(argc, argv, &a);
	if (err)
		return err;
	if (a.help) {
		print_help();
		return 0;
	}
	if (a.model == PRIMES_MPI)
		return run_mpi(&a);
	if (!a.workers)
		return print_table(&a);
	uint64_t sum;
	double t = timed_run(&a, (int)a.workers, &sum);
	if (t < 0)
		return 1;
	printf("sum of primes below %ld: %llu\n", a.below, (unsigned long long)sum);
	printf("%ld %s worker%s: %.3f s\n", a.workers, primes_model_name(a.model),
	       a.workers == 1 ? "" : "s", t);
	return 0;
}
