/* thread_vs_process.c: the notes' 进程和线程效率的比较: the time to start
 * and join a thread against a process, each running the same func. */
#include <stdio.h>
#include <time.h>

#include "mtask/process.h"
#include "mtask/thread.h"

enum { ROUNDS = 20 };

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int func(void *arg)
{
	if (arg)
		printf("func\n");
	return 0;
}

/* One start + join; verbose prints the notes' lines. */
static double time_thread(void *verbose)
{
	double start = now_seconds();
	mt_thread *th;
	if (mt_thread_start(&th, func, verbose, NULL))
		return -1;
	if (verbose)
		printf("线程执行 (thread started)\n");
	mt_thread_join(th, -1);
	mt_thread_free(th);
	return now_seconds() - start;
}

static double time_process(void *verbose)
{
	double start = now_seconds();
	mt_process *p;
	if (mt_process_start(&p, func, verbose, NULL))
		return -1;
	if (verbose)
		printf("进程执行 (process started)\n");
	mt_process_join(p, -1);
	mt_process_free(p);
	return now_seconds() - start;
}

/* The mean of ROUNDS quiet runs: one run is mostly noise. */
static double mean_time(double (*measure)(void *))
{
	double sum = 0;
	for (int i = 0; i < ROUNDS; i++)
		sum += measure(NULL);
	return sum / ROUNDS;
}

int main(void)
{
	/* As in the notes, a single run of each that shows its output. */
	printf("执行时间 (elapsed) thread:  %.6f s\n", time_thread("yes"));
	printf("执行时间 (elapsed) process: %.6f s\n", time_process("yes"));

	double thread_mean = mean_time(time_thread);
	double process_mean = mean_time(time_process);
	printf("mean of %d runs: thread %.1f us, process %.1f us (%.1fx)\n", ROUNDS,
	       thread_mean * 1e6, process_mean * 1e6, process_mean / thread_mean);
	return 0;
}
