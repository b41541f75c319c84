/* cmd_primes.c: `mtask primes`, the notes' exercise: the sum of the primes
 * below N by trial division, with K processes, threads or pool workers.
 * Without --workers it prints the notes' table: 1, 2, 4 and 10 workers,
 * with the speedup over one; with --json, one JSON document instead. On a
 * terminal, a run that takes long shows a progress line on stderr. With
 * --model mpi, under mpirun, the ranks but 0 are the workers: rank 0
 * prints, the others serve silently. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mtask/mtask.h"
#include "primes.h"
#include "primes_progress.h"

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
	bool json;
};

/* What the runs measured, for --json. */
struct primes_runs {
	uint64_t sum;
	int count;
	struct primes_run {
		int workers;
		double seconds;
	} run[4];
};

static void print_help(void)
{
	printf("usage: mtask primes [--below N] [--workers K] [--model process|thread|pool|mpi]\n"
	       "                    [--json]\n\n"
	       "The notes' exercise: the sum of the primes below N (default %d) by\n"
	       "trial division (each n divided by 2 .. n-1, as the notes' isPrime),\n"
	       "split into chunks of equal cost over K workers: K processes that\n"
	       "return their part through a shared Array (the default), K threads, or\n"
	       "a process pool of K workers mapping 4K chunks. Prints the sum and the\n"
	       "wall time; without --workers, the times for 1, 2, 4 and 10 workers and\n"
	       "the speedup of each over one.\n\n"
	       "When standard error is a terminal, a run that takes longer than half\n"
	       "a second shows a progress line there (its workers, the share of the\n"
	       "work done, the time so far), erased before the run's result prints.\n\n"
	       "The mpi model maps the same chunks over an MPI pool, whose workers are\n"
	       "the ranks mpirun started (all but rank 0, or the first K with\n"
	       "--workers): run it as `mpirun -np 3 mtask primes --model mpi`. Rank 0\n"
	       "prints the sum and the times; the other ranks print nothing.\n\n"
	       "options:\n"
	       "  --below N     sum the primes below N (2-%d)\n"
	       "  --workers K   one run with K workers (1-%d)\n"
	       "  --model M     process, thread, pool or mpi%s\n"
	       "  --json        print one JSON document instead of text: below, model,\n"
	       "                sum, and per run workers, seconds and speedup over one\n"
	       "                worker (null without a one-worker run)\n",
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
		if (!strcmp(arg, "--json")) {
			a->json = true;
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

/* A run's line of text as it ends: in the table (after its heading and,
 * under the first row, the sum), or the single run's two lines. */
static void print_text(const struct primes_args *a, const struct primes_runs *r)
{
	const struct primes_run *last = &r->run[r->count - 1];
	if (a->workers) {
		printf("sum of primes below %ld: %llu\n", a->below, (unsigned long long)r->sum);
		printf("%ld %s worker%s: %.3f s\n", a->workers, primes_model_name(a->model),
		       a->workers == 1 ? "" : "s", last->seconds);
		return;
	}
	if (r->count == 1)
		printf("(sum of primes below %ld: %llu; %s model)\n", a->below,
		       (unsigned long long)r->sum, primes_model_name(a->model));
	printf("%-8d %-10.3f %.2fx\n", last->workers, last->seconds,
	       r->run[0].seconds / last->seconds);
	fflush(stdout);
}

static void print_json(const struct primes_args *a, const struct primes_runs *r)
{
	double one = r->run[0].workers == 1 ? r->run[0].seconds : 0;
	printf("{\"below\": %ld, \"model\": \"%s\", \"sum\": %llu, \"runs\": [", a->below,
	       primes_model_name(a->model), (unsigned long long)r->sum);
	for (int i = 0; i < r->count; i++) {
		printf("%s{\"workers\": %d, \"seconds\": %.6f, \"speedup\": ", i ? ", " : "",
		       r->run[i].workers, r->run[i].seconds);
		one > 0 ? printf("%.4f}", one / r->run[i].seconds) : printf("null}");
	}
	printf("]}\n");
}

/* Runs `count` runs of workers[i] workers in turn into r, each timed, and
 * prints each one's text as it ends (not with --json). The progress line
 * shows between the rows. 0, or 1 after an error on stderr. */
static int run_all(const struct primes_args *a, const int *workers, int count,
		   struct primes_runs *r)
{
	struct primes_progress *progress =
		primes_progress_start(a->below, primes_model_name(a->model));
	int status = 0;
	if (!a->json && !a->workers) {
		printf("%-8s %-10s %s\n", "workers", "time", "speedup");
		fflush(stdout);
	}
	for (int i = 0; i < count && !status; i++) {
		uint64_t sum;
		primes_progress_begin(progress, workers[i], i + 1, count);
		double t = timed_run(a, workers[i], &sum);
		primes_progress_end(progress);
		status = t < 0;
		if (!status && i > 0 && sum != r->sum) {
			fprintf(stderr, "mtask primes: %d workers summed %llu, %d summed %llu\n",
				workers[i], (unsigned long long)sum, workers[0],
				(unsigned long long)r->sum);
			status = 1;
		}
		if (status)
			break;
		r->sum = sum;
		r->run[r->count++] = (struct primes_run){workers[i], t};
		if (!a->json)
			print_text(a, r);
	}
	primes_progress_stop(progress);
	if (!status && a->json)
		print_json(a, r);
	return status;
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
	if (a->json) {
		struct primes_runs r = {.sum = sum, .count = 1, .run = {{workers, t}}};
		print_json(a, &r);
		return 0;
	}
	printf("sum of primes below %ld: %llu\n", a->below, (unsigned long long)sum);
	printf("%d mpi worker%s: %.3f s (the pool's start, MPI's included: %.3f s)\n", workers,
	       workers == 1 ? "" : "s", t, started - start);
	return 0;
}

int cmd_primes(int argc, char **argv)
{
	static const int table[] = {1, 2, 4, 10};
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
	struct primes_runs runs = {0};
	int one[] = {(int)a.workers};
	if (a.workers)
		return run_all(&a, one, 1, &runs);
	return run_all(&a, table, (int)(sizeof table / sizeof *table), &runs);
}
