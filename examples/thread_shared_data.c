/* thread_shared_data.c: the notes' 数据的共享问题: ten threads add 1 to one
 * global, and each sees the others' increments, because threads of a
 * process share its memory (processes do not: see process_isolation.c). */
#include <pthread.h>
#include <stdio.h>

#include "mtask/thread.h"

enum { THREADS = 10 };

static int data;
/* The notes' Python gets away without a lock thanks to the GIL. In C,
 * data += 1 from two threads at once can lose an update; that race, and
 * the locks that cure it, are the sync module's lesson (mtask/sync.h).
 * Here the mutex keeps the program correct and free of data races. */
static pthread_mutex_t data_lock = PTHREAD_MUTEX_INITIALIZER;

static int func(void *arg)
{
	const char *name = arg;
	pthread_mutex_lock(&data_lock);
	data += 1;
	/* Printed under the lock, so the lines come out in counting order. */
	printf("%s : %d\n", name, data);
	pthread_mutex_unlock(&data_lock);
	return 0;
}

int main(void)
{
	static char names[THREADS][32];
	mt_thread *threads[THREADS];

	for (int i = 0; i < THREADS; i++) {
		snprintf(names[i], sizeof names[i], "线程%d", i);
		const mt_thread_opts opts = {.name = names[i]};
		if (mt_thread_start(&threads[i], func, names[i], &opts))
			return 1;
	}
	for (int i = 0; i < THREADS; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	printf("main thread sees data = %d\n", data);
	return 0;
}
