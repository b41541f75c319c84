/* robust_lock.c: a process dies holding a shared lock, halfway through an
 * update. With Python's multiprocessing.Lock everybody would wait for
 * ever. With an MT_PSHARED mt_lock the next acquire returns -EOWNERDEAD
 * with the lock held: the new holder repairs the data, marks the lock
 * consistent, and everybody goes on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mtask/process.h"
#include "mtask/sync.h"

struct bank {
	mt_lock lock;
	mt_event inside; /* the first clerk is halfway through */
	long alice, bob; /* always 100 together, under the lock */
	long in_flight;  /* what a transfer took from alice and not yet gave */
};

/* Moves 30 from alice to bob in two steps, and is killed between them. */
static int clerk_killed_midway(void *arg)
{
	struct bank *b = arg;
	mt_lock_acquire(&b->lock, -1);
	b->alice -= 30;
	b->in_flight = 30;
	mt_event_set(&b->inside);
	for (;;)
		pause(); /* SIGKILL lands here: the lock is held */
	return 0;
}

static int clerk_moves_ten(void *arg)
{
	struct bank *b = arg;
	int got = mt_lock_acquire(&b->lock, 5);
	if (got == -EOWNERDEAD) {
		printf("clerk %d: %s; repairs the books\n", getpid(), mt_strerror(got));
		b->bob += b->in_flight; /* finish the dead clerk's transfer */
		b->in_flight = 0;
		mt_lock_consistent(&b->lock);
	} else if (got) {
		printf("clerk %d: %s\n", getpid(), mt_strerror(got));
		return 1;
	}
	b->alice -= 10;
	b->bob += 10;
	mt_lock_release(&b->lock);
	return 0;
}

int main(void)
{
	struct bank *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return 1;
	mt_lock_init(&b->lock, MT_PSHARED);
	mt_event_init(&b->inside, MT_PSHARED);
	b->alice = 100;

	mt_process *first;
	if (mt_process_start(&first, clerk_killed_midway, b, NULL))
		return 1;
	mt_event_wait(&b->inside, -1);
	mt_process_kill(first);
	mt_process_join(first, -1);
	printf("first clerk killed holding the lock (exit code %d): alice %ld, bob %ld\n",
	       mt_process_exitcode(first), b->alice, b->bob);
	mt_process_free(first);

	mt_process *clerks[3];
	for (int i = 0; i < 3; i++)
		if (mt_process_start(&clerks[i], clerk_moves_ten, b, NULL))
			return 1;
	int failed = 0;
	for (int i = 0; i < 3; i++) {
		mt_process_join(clerks[i], -1);
		failed += mt_process_exitcode(clerks[i]) != 0;
		mt_process_free(clerks[i]);
	}
	printf("three more transfers of 10: alice %ld, bob %ld, total %ld\n", b->alice,
	       b->bob, b->alice + b->bob);
	return failed;
}
