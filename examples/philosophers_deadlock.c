/* philosophers_deadlock.c: the notes' 科学家吃面 with two Locks, the
 * version that 死锁 (deadlocks). 哪吒, egon and yuan each run eat1
 * (noodles, then fork) and eat2 (fork, a pause, then noodles); an eat1
 * holding the noodles and an eat2 holding the fork wait for each other.
 *
 * Here the lock-order checker is on (as MTASK_LOCKCHECK=1 would turn it
 * on): the first time a thread takes the two locks in the order opposite
 * to one seen before, it prints both acquisition paths to standard error,
 * before it waits, whether or not this run then hangs. So that the
 * program ends, the second acquire gives up after 0.2 s (Python's
 * acquire(timeout=0.2)); philosophers_rlock.c is the cure. */
#include <stdio.h>
#include <time.h>

#include "mtask/sync.h"
#include "mtask/thread.h"

enum { SCIENTISTS = 3 };

static mt_lock noodle_lock = MT_LOCK_INIT_NAMED("noodle");
static mt_lock fork_lock = MT_LOCK_INIT_NAMED("fork");
static mt_lock print_lock = MT_LOCK_INIT_NAMED("print");

static void say(const char *what)
{
	mt_lock_acquire(&print_lock, -1);
	printf("%s %s\n", mt_thread_name(mt_thread_current()), what);
	fflush(stdout);
	mt_lock_release(&print_lock);
}

/* Takes first, then second; eats only with both. */
static void meal(mt_lock *first, const char *got_first, mt_lock *second,
		 const char *got_second, double pause)
{
	mt_lock_acquire(first, -1);
	say(got_first);
	nanosleep(&(struct timespec){0, (long)(pause * 1e9)}, NULL);
	if (mt_lock_acquire(second, 0.2) == 0) {
		say(got_second);
		say("吃面 (eats)");
		mt_lock_release(second);
	} else {
		say("死锁了, 放下 (deadlock: gives up after 0.2 s)");
	}
	mt_lock_release(first);
}

static int eat1(void *arg)
{
	meal(&noodle_lock, "抢到了面条 (got the noodles)", &fork_lock,
	     "抢到了叉子 (got the fork)", 0);
	return 0;
}

static int eat2(void *arg)
{
	/* The notes' time.sleep(1), shortened: while this thread holds the
	 * fork, an eat1 grabs the noodles. */
	meal(&fork_lock, "抢到了叉子 (got the fork)", &noodle_lock,
	     "抢到了面条 (got the noodles)", 0.05);
	return 0;
}

int main(void)
{
	static const char *const names[2 * SCIENTISTS] = {
		"哪吒.eat1", "哪吒.eat2", "egon.eat1", "egon.eat2", "yuan.eat1", "yuan.eat2"};
	mt_thread *threads[2 * SCIENTISTS];

	mt_lockcheck_enable(true);
	for (int i = 0; i < 2 * SCIENTISTS; i++) {
		mt_thread_opts opts = {.name = names[i]};
		if (mt_thread_start(&threads[i], i % 2 ? eat2 : eat1, NULL, &opts))
			return 1;
	}
	for (int i = 0; i < 2 * SCIENTISTS; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	printf("lock-order reports: %u\n", mt_lockcheck_reports());
	return 0;
}
