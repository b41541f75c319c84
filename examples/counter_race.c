/* counter_race.c: the notes' 数据不安全 and 加锁后计算 (GIL和锁的关系): threads
 * doing n += 1 on one global lose updates, because += is a read, an add
 * and a write, and another thread can come in between; "通过加锁来解决"
 * (cure it with a lock): under an mt_lock every increment counts.
 *
 * usage: counter_race [lock|nolock]   (default: both, unsafe first) */
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mtask/sync.h"
#include "mtask/thread.h"

enum { THREADS = 4, INCREMENTS = 2000 };

static int n;
static mt_lock n_lock = MT_LOCK_INIT;

/* n += 1, taken apart as Python's bytecode takes it apart (load, add,
 * store). A plain int written by two threads would be a C data race, which
 * is undefined behaviour and not the lesson; relaxed atomic loads and
 * stores make each access well defined but, unlike an atomic increment,
 * still let two threads read the same value and both store value + 1: a
 * lost update. sched_yield() between them is the notes' time.sleep(0), the
 * thread "主动让出控制" (giving up the CPU) just where it hurts. */
static void unsafe_increment(void)
{
	int value = __atomic_load_n(&n, __ATOMIC_RELAXED);
	sched_yield();
	__atomic_store_n(&n, value + 1, __ATOMIC_RELAXED);
}

struct worker {
	int id;
	bool use_lock;
};

static int add_ones(void *arg)
{
	const struct worker *w = arg;
	for (int i = 0; i < INCREMENTS; i++) {
		/* The same three steps; the lock lets no other thread in. */
		if (w->use_lock)
			mt_lock_acquire(&n_lock, -1);
		unsafe_increment();
		if (w->use_lock)
			mt_lock_release(&n_lock);
	}
	printf("线程%d: n += 1, %d times\n", w->id, INCREMENTS);
	return 0;
}

static int count_with(bool use_lock)
{
	struct worker workers[THREADS];
	mt_thread *threads[THREADS];

	n = 0; /* no thread runs yet: a plain store is fine */
	for (int i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){.id = i, .use_lock = use_lock};
		if (mt_thread_start(&threads[i], add_ones, &workers[i], NULL))
			return 1;
	}
	for (int i = 0; i < THREADS; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	/* join ordered every thread's last store before this load. */
	printf("%s: %d of %d\n", use_lock ? "with a lock" : "without a lock", n,
	       THREADS * INCREMENTS);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "both";
	bool both = !strcmp(mode, "both");

	if (!both && strcmp(mode, "lock") && strcmp(mode, "nolock")) {
		fprintf(stderr, "usage: counter_race [lock|nolock]\n");
		return 2;
	}
	if ((both || !strcmp(mode, "nolock")) && count_with(false))
		return 1;
	if ((both || !strcmp(mode, "lock")) && count_with(true))
		return 1;
	return 0;
}
