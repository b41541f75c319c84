/* semaphore_limit.c: the notes' 信号量, semaphore = threading.BoundedSemaphore(5)
 * "最多允许5个线程同时运行" (at most 5 threads run at once). Here ten workers
 * share a BoundedSemaphore(3): with 10 workers, a bound of 3 makes the
 * queueing plain to see (5 would leave just two rounds). The program counts
 * how many are inside at once and prints the most it saw. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "mtask/sync.h"
#include "mtask/thread.h"

enum { WORKERS = 10, BOUND = 3 };

static mt_sem semaphore;
/* The starting gun: every worker exists before any takes the semaphore,
 * so that a slow thread start cannot keep the first three apart. */
static mt_event start;
/* Guards the two counters, and keeps each line in step with them. */
static mt_lock count_lock = MT_LOCK_INIT;
static int inside;
static int most_inside;

static void sleep_ms(long ms)
{
	struct timespec pause = {0, ms * 1000 * 1000};
	nanosleep(&pause, NULL);
}

static int worker(void *arg)
{
	long id = (long)arg;

	mt_event_wait(&start, -1);
	mt_sem_acquire(&semaphore, -1);
	mt_lock_acquire(&count_lock, -1);
	inside++;
	if (inside > most_inside)
		most_inside = inside;
	printf("worker %ld enters (inside: %d)\n", id, inside);
	mt_lock_release(&count_lock);

	/* The work. Long enough that the first three are surely all inside
	 * before any leaves, so the bound is reached, not just respected. */
	sleep_ms(50);

	mt_lock_acquire(&count_lock, -1);
	inside--;
	printf("worker %ld leaves (inside: %d)\n", id, inside);
	mt_lock_release(&count_lock);
	mt_sem_release(&semaphore, 1);
	return 0;
}

int main(void)
{
	mt_thread *threads[WORKERS];

	mt_sem_init_bounded(&semaphore, BOUND, 0);
	mt_event_init(&start, 0);
	for (long i = 0; i < WORKERS; i++)
		if (mt_thread_start(&threads[i], worker, (void *)i, NULL))
			return 1;
	mt_event_set(&start);
	for (int i = 0; i < WORKERS; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	printf("most inside at once: %d (BoundedSemaphore(%d))\n", most_inside, BOUND);

	/* What "Bounded" adds: one release more than acquired is refused
	 * (Python raises ValueError), where a plain Semaphore would grow. */
	int err = mt_sem_release(&semaphore, 1);
	printf("one release too many: %s\n", err == -EINVAL ? "refused (ValueError)" : "accepted");
	return err == -EINVAL ? 0 : 1;
}
