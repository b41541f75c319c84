/* tour_table.c: the tour's last scene, a table of what the notes' choices
 * cost on this machine: starting a thread or a process, switching between
 * coroutines or between threads, and the notes' prime sum with 1, 2 and 4
 * pool workers.
 *
 * Everything is measured in a fresh child, which starts with one thread
 * like a program that has just begun (glibc's fork is slower in a process
 * that ever had more than one, see docs/benchmarks.md, and this scene
 * may run where others ran before it); it sends its figures back through
 * shared memory. Each figure is the median of many short samples, so a
 * noisy moment of a shared machine moves it little. The figures stay in
 * that shared page afterwards, for `mtask tour --json` (tour_table_share). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "primes.h"
#include "tour.h"
#include "mtask/mtask.h"

#define SWITCHES_PER_SAMPLE 2000 /* coroutine switches timed together */
#define HANDOFFS_PER_SAMPLE 200	 /* thread round trips timed together */
#define SWITCH_SAMPLES 21
#define PRIMES_BELOW 30000 /* ~0.1 s for one worker */

enum figure {
	PROCESS_START,
	THREAD_START,
	CORO_SWITCH,
	THREAD_SWITCH,
	PRIMES_1, /* then PRIMES_2, PRIMES_4 */
	FIGURES = PRIMES_1 + 3
};

/* The figures' names in the JSON document, in enum figure's order. */
static const char *const figure_names[FIGURES] = {
	"process_start_join", "thread_start_join", "coroutine_switch", "thread_switch",
	"primes_1_pool_worker", "primes_2_pool_workers", "primes_4_pool_workers",
};

/* One shared page: measured by a child, read by its parent and, when
 * tour_table_share made it before the tour's scene process started, by
 * the tour itself. */
struct figures {
	bool measured;
	double seconds[FIGURES];
};

static struct figures *shared_figures;

void tour_table_share(void)
{
	if (shared_figures)
		return;
	struct figures *f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (f != MAP_FAILED)
		shared_figures = f;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *samples, int count)
{
	qsort(samples, (size_t)count, sizeof samples[0], compare_doubles);
	return samples[count / 2];
}

static int return_zero(void *arg)
{
	(void)arg;
	return 0;
}

static double median_start_join(bool process, int rounds)
{
	double samples[200];
	for (int i = 0; i < rounds; i++) {
		double t0 = now_seconds();
		if (process) {
			mt_process *p;
			if (mt_process_start(&p, return_zero, NULL, NULL) == 0) {
				mt_process_join(p, -1);
				mt_process_free(p);
			}
		} else {
			mt_thread *t;
			if (mt_thread_start(&t, return_zero, NULL, NULL) == 0) {
				mt_thread_join(t, -1);
				mt_thread_free(t);
			}
		}
		samples[i] = now_seconds() - t0;
	}
	return median(samples, rounds);
}

/* ---- coroutine switch: greenlet's ping-pong ---- */

static mt_coro *main_coro;

static void *echo_forever(void *value)
{
	for (;;)
		value = mt_coro_switch(main_coro, value);
	return NULL;
}

static double median_coro_switch(void)
{
	double samples[SWITCH_SAMPLES];
	mt_coro *partner;
	main_coro = mt_coro_current();
	if (!main_coro || mt_coro_new(&partner, echo_forever, 0))
		return 0;
	for (int s = 0; s < SWITCH_SAMPLES; s++) {
		double t0 = now_seconds();
		for (int i = 0; i < SWITCHES_PER_SAMPLE / 2; i++)
			mt_coro_switch(partner, NULL);
		samples[s] = (now_seconds() - t0) / SWITCHES_PER_SAMPLE;
	}
	mt_coro_kill(partner);
	mt_coro_free(partner);
	return median(samples, SWITCH_SAMPLES);
}

/* ---- thread switch: two threads hand a turn back and forth ---- */

static struct {
	mt_sem ping, pong;
	int round_trips;
} turns;

static int answer_pings(void *arg)
{
	(void)arg;
	for (int i = 0; i < turns.round_trips; i++) {
		mt_sem_acquire(&turns.ping, -1);
		mt_sem_release(&turns.pong, 1);
	}
	return 0;
}

static double median_thread_switch(void)
{
	double samples[SWITCH_SAMPLES];
	mt_thread *t;
	mt_sem_init(&turns.ping, 0, 0);
	mt_sem_init(&turns.pong, 0, 0);
	turns.round_trips = SWITCH_SAMPLES * HANDOFFS_PER_SAMPLE;
	if (mt_thread_start(&t, answer_pings, NULL, NULL))
		return 0;
	for (int s = 0; s < SWITCH_SAMPLES; s++) {
		double t0 = now_seconds();
		for (int i = 0; i < HANDOFFS_PER_SAMPLE; i++) {
			mt_sem_release(&turns.ping, 1);
			mt_sem_acquire(&turns.pong, -1);
		}
		samples[s] = (now_seconds() - t0) / (2.0 * HANDOFFS_PER_SAMPLE);
	}
	mt_thread_join(t, -1);
	mt_thread_free(t);
	return median(samples, SWITCH_SAMPLES);
}

/* The time of primes_sum through a pool of `workers`, pool start
 * included, as `mtask primes` times it; 0 when it failed. */
static double time_primes(int workers)
{
	uint64_t sum;
	double t0 = now_seconds();
	if (primes_sum(PRIMES_BELOW, workers, PRIMES_POOL, &sum))
		return 0;
	return now_seconds() - t0;
}

static int measure_in_child(void *arg)
{
	struct figures *f = arg;
	double *figures = f->seconds;
	for (int i = 0; i < 3; i++)
		figures[PRIMES_1 + i] = time_primes(1 << i);
	figures[PROCESS_START] = median_start_join(true, 100);
	figures[THREAD_START] = median_start_join(false, 200);
	figures[CORO_SWITCH] = median_coro_switch();
	figures[THREAD_SWITCH] = median_thread_switch();
	f->measured = true;
	return 0;
}

static void print_row(const char *operation, double seconds)
{
	if (seconds >= 1e-3)
		printf("  %-34s %9.1f ms\n", operation, seconds * 1e3);
	else if (seconds >= 1e-6)
		printf("  %-34s %9.1f us\n", operation, seconds * 1e6);
	else
		printf("  %-34s %9.1f ns\n", operation, seconds * 1e9);
}

static void print_table(const double *figures)
{
	printf("  %-34s %12s\n", "operation (median)", "time");
	print_row("thread start + join", figures[THREAD_START]);
	print_row("process start + join", figures[PROCESS_START]);
	print_row("thread switch (semaphore turns)", figures[THREAD_SWITCH]);
	print_row("coroutine switch (mt_coro_switch)", figures[CORO_SWITCH]);
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof what, "primes below %d, %d pool worker%s", PRIMES_BELOW,
			 1 << i, i ? "s" : "");
		print_row(what, figures[PRIMES_1 + i]);
	}
	printf("  a process start costs %.0fx a thread start here;\n"
	       "  a thread switch costs %.0fx a coroutine switch;\n"
	       "  2 and 4 pool workers sum the primes %.2fx and %.2fx as fast as 1\n",
	       figures[PROCESS_START] / figures[THREAD_START],
	       figures[THREAD_SWITCH] / figures[CORO_SWITCH], figures[PRIMES_1] / figures[PRIMES_1 + 1],
	       figures[PRIMES_1] / figures[PRIMES_1 + 2]);
}

void tour_table(void)
{
	tour_table_share();
	struct figures *f = shared_figures;
	mt_process *p;
	if (!f)
		return;
	memset(f, 0, sizeof *f);
	if (mt_process_start(&p, measure_in_child, f, NULL))
		return;
	mt_process_join(p, -1);
	int code = mt_process_exitcode(p);
	mt_process_free(p);
	if (f->measured)
		print_table(f->seconds);
	else
		printf("  the measuring process failed (exitcode %d)\n", code);
}

void tour_table_print_json(FILE *out)
{
	if (!shared_figures || !shared_figures->measured) {
		fprintf(out, "null");
		return;
	}
	fprintf(out, "{\"primes_below\": %d", PRIMES_BELOW);
	for (int i = 0; i < FIGURES; i++)
		fprintf(out, ", \"%s_seconds\": %.6g", figure_names[i], shared_figures->seconds[i]);
	fprintf(out, "}");
}
