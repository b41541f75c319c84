/* ticket_grabbing.c: the notes' 抢票 (grabbing train tickets): ten buyer
 * processes race for one ticket. Each reads how many are left, waits a
 * moment (the network), and writes back one fewer. Without a lock they all
 * read "1" and all buy it; with a multiprocessing.Lock (here an mt_lock in
 * shared memory, MT_PSHARED) exactly one does.
 *
 * usage: ticket_grabbing [nolock] */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mtask/process.h"
#include "mtask/sync.h"

#define BUYERS 10

struct station {
	mt_lock lock; /* the notes' mutex = Lock() */
	int tickets;  /* the notes keep it in a file: db.json */
	int sold;
	int use_lock;
};

static void network_delay(void)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	nanosleep(&pause, NULL);
}

static int buy(void *arg)
{
	struct station *st = arg;
	if (st->use_lock)
		mt_lock_acquire(&st->lock, -1);
	int left = st->tickets; /* search(): read the count */
	network_delay();
	if (left > 0) { /* get(): write it back */
		st->tickets = left - 1;
		__atomic_add_fetch(&st->sold, 1, __ATOMIC_RELAXED);
		printf("%d 买到票了 (got a ticket)\n", getpid());
	} else {
		printf("%d 没票了 (none left)\n", getpid());
	}
	if (st->use_lock)
		mt_lock_release(&st->lock);
	return 0;
}

int main(int argc, char **argv)
{
	struct station *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return 1;
	mt_lock_init(&st->lock, MT_PSHARED);
	st->tickets = 1;
	st->use_lock = !(argc > 1 && !strcmp(argv[1], "nolock"));

	mt_process *buyers[BUYERS];
	for (int i = 0; i < BUYERS; i++)
		if (mt_process_start(&buyers[i], buy, st, NULL))
			return 1;
	for (int i = 0; i < BUYERS; i++) {
		mt_process_join(buyers[i], -1);
		mt_process_free(buyers[i]);
	}
	printf("%s: 1 ticket, %d sold\n", st->use_lock ? "with a lock" : "without a lock",
	       st->sold);
	return 0;
}
