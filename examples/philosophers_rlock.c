/* philosophers_rlock.c: the notes' 科学家吃面 (scientists eating noodles),
 * cured with 递归锁 (RLock). As in the usual version of the code the notes
 * fold away, each of 哪吒, egon and yuan runs eat1 (noodles, then fork) and
 * eat2 (fork, a pause, then noodles). With two Locks, eat1 holding the
 * noodles and eat2 holding the fork wait for each other for ever (死锁).
 * The cure is fork_lock = noodle_lock = RLock(): one lock under both names,
 * which a thread that holds it may take again. (One plain Lock under both
 * names would not do: eat1's second acquire would wait for itself.) */
#include <stdio.h>
#include <time.h>

#include "mtask/sync.h"
#include "mtask/thread.h"

enum { SCIENTISTS = 3 };

static mt_rlock noodle_and_fork = MT_RLOCK_INIT;
static mt_rlock *const noodle_lock = &noodle_and_fork;
static mt_rlock *const fork_lock = &noodle_and_fork;
static int meals; /* guarded by the lock */

static void eat(const char *name)
{
	printf("%s 吃面 (eats)\n", name);
	meals++;
}

static int eat1(void *arg)
{
	const char *name = arg;
	mt_rlock_acquire(noodle_lock, -1);
	printf("%s 抢到了面条 (got the noodles)\n", name);
	mt_rlock_acquire(fork_lock, -1); /* the second acquire: count 2 */
	printf("%s 抢到了叉子 (got the fork)\n", name);
	eat(name);
	mt_rlock_release(fork_lock);
	mt_rlock_release(noodle_lock); /* count 0: free for the others */
	return 0;
}

static int eat2(void *arg)
{
	const char *name = arg;
	mt_rlock_acquire(fork_lock, -1);
	printf("%s 抢到了叉子 (got the fork)\n", name);
	/* The notes' time.sleep(1), shortened: with two Locks this is where
	 * an eat1 grabs the noodles and the deadlock closes. */
	nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	mt_rlock_acquire(noodle_lock, -1);
	printf("%s 抢到了面条 (got the noodles)\n", name);
	eat(name);
	mt_rlock_release(noodle_lock);
	mt_rlock_release(fork_lock);
	return 0;
}

int main(void)
{
	static const char *const names[SCIENTISTS] = {"哪吒", "egon", "yuan"};
	mt_thread *threads[2 * SCIENTISTS];

	for (int i = 0; i < SCIENTISTS; i++)
		if (mt_thread_start(&threads[2 * i], eat1, (void *)names[i], NULL) ||
		    mt_thread_start(&threads[2 * i + 1], eat2, (void *)names[i], NULL))
			return 1;
	for (int i = 0; i < 2 * SCIENTISTS; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	printf("no deadlock: %d meals eaten\n", meals);
	return 0;
}
