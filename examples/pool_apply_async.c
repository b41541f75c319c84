/* pool_apply_async.c: the notes' process pool: Pool(4), apply_async for
 * each i, close, join; then map and imap over the same numbers.
 *
 *   p = Pool(4)
 *   for i in range(8):
 *       p.apply_async(work, args=(i,), callback=done)
 *   p.close()
 *   p.join()
 *
 * A task is bytes in, bytes out: here an int in, its square out. The
 * callback runs in the parent (on the pool's result thread), as Python's
 * does. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mtask/mtask.h"

static int work(const void *arg, size_t len, mt_task_out *out)
{
	int i;
	memcpy(&i, arg, sizeof i);
	int square = i * i;
	return mt_task_return(out, &square, sizeof square);
}

static _Atomic int total;

static void done(const void *result, size_t len, void *arg)
{
	int square;
	memcpy(&square, result, sizeof square);
	atomic_fetch_add(&total, square);
}

int main(void)
{
	mt_pool *p;
	mt_pool_opts opts = {.workers = 4};
	if (mt_pool_new(&p, MT_POOL_PROCESS, &opts))
		return 1;
	for (int i = 0; i < 8; i++)
		mt_pool_apply_async(p, work, &i, sizeof i, done, NULL, NULL, NULL);
	mt_pool_close(p); /* join() needs close() or terminate() first */
	mt_pool_join(p, -1);
	printf("apply_async x8, then close and join: sum of squares %d\n", atomic_load(&total));
	mt_pool_free(p);

	/* p.map(work, range(8)) and p.imap(work, range(8)) on a new pool */
	mt_pool_new(&p, MT_POOL_PROCESS, &opts);
	int in[8] = {0, 1, 2, 3, 4, 5, 6, 7}, out[8];
	if (mt_pool_map(p, work, in, sizeof *in, 8, 0, out, sizeof *out, -1, NULL) == 0) {
		printf("map:");
		for (int i = 0; i < 8; i++)
			printf(" %d", out[i]);
		printf("\n");
	}
	mt_imap *it;
	if (mt_pool_imap(p, work, in, sizeof *in, 8, 2, true, &it) == 0) {
		printf("imap:");
		int square;
		while (mt_imap_next(it, &square, sizeof square, NULL, NULL, -1) == 1)
			printf(" %d", square);
		printf("\n");
		mt_imap_free(it);
	}
	mt_pool_terminate(p); /* stop at once */
	mt_pool_free(p);
	return 0;
}
