/* futures_executor.c: the notes' ThreadPoolExecutor(3) with submit and
 * map, and concurrent.futures' as_completed, done callbacks and a task
 * that fails.
 *
 *   with ThreadPoolExecutor(3) as executor:
 *       futures = [executor.submit(func, seed) for seed in seeds]
 *       for f in as_completed(futures): print(f.result())
 *
 * The same code runs on processes with MT_POOL_PROCESS (a
 * ProcessPoolExecutor): only the kind changes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mtask/mtask.h"

/* sleeps seed * 50 ms and answers seed * 100; seed 0 fails */
static int func(const void *arg, size_t len, mt_task_out *out)
{
	int seed;
	memcpy(&seed, arg, sizeof seed);
	if (seed == 0)
		return -EDOM;
	struct timespec ts = {0, seed * 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	int answer = seed * 100;
	return mt_task_return(out, &answer, sizeof answer);
}

static void announce(mt_future *f, void *arg)
{
	printf("  callback: seed %d is done\n", *(int *)arg);
}

int main(void)
{
	mt_pool *executor;
	mt_pool_opts opts = {.workers = 3};
	if (mt_pool_new(&executor, MT_POOL_THREAD, &opts))
		return 1;
	static int seeds[4] = {3, 1, 2, 0};
	mt_future *fs[4];
	for (int i = 0; i < 4; i++) {
		mt_pool_submit(executor, func, &seeds[i], sizeof seeds[i], &fs[i]);
		mt_future_add_done_callback(fs[i], announce, &seeds[i]);
	}
	printf("as_completed:\n"); /* in the order they finish */
	mt_as_completed *ac;
	mt_as_completed_new(&ac, fs, 4);
	mt_future *f;
	while (mt_as_completed_next(ac, &f, -1) == 1) {
		const void *data;
		char why[96];
		if (mt_future_result(f, -1, &data, NULL) == 0) {
			int answer;
			memcpy(&answer, data, sizeof answer);
			printf("  result %d\n", answer);
		} else {
			printf("  failed: %s\n", mt_future_describe(f, why, sizeof why));
		}
	}
	mt_as_completed_free(ac);
	for (int i = 0; i < 4; i++)
		mt_future_free(fs[i]);
	int out[3];
	mt_pool_map(executor, func, seeds, sizeof *seeds, 3, 1, out, sizeof *out, -1, NULL);
	printf("executor.map: %d %d %d\n", out[0], out[1], out[2]);
	mt_pool_shutdown(executor, true, false); /* the end of the with block */
	mt_pool_free(executor);
	return 0;
}
