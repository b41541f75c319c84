/* condition_producer_consumer.c: the notes' 条件锁, c = threading.Condition()
 * "该机制会使线程等待，只有满足某条件时，才释放" (threads wait until a
 * condition holds): a producer and a consumer share a buffer of two slots,
 * one lock and two conditions, not_full and not_empty, waited on with
 * Condition.wait_for (mt_cond_wait_for). The producer puts 0..9, the
 * consumer takes them out in the same order. */
#include <stdbool.h>
#include <stdio.h>

#include "mtask/sync.h"
#include "mtask/thread.h"

enum { SLOTS = 2, ITEMS = 10 };

/* A ring of SLOTS items; every field but the lock is guarded by it. */
struct buffer {
	mt_lock lock;
	mt_cond not_full;  /* count < SLOTS: the producer may put */
	mt_cond not_empty; /* count > 0: the consumer may take */
	int items[SLOTS];
	int head; /* the oldest item */
	int count;
};

static bool buffer_not_full(void *arg)
{
	return ((struct buffer *)arg)->count < SLOTS;
}

static bool buffer_not_empty(void *arg)
{
	return ((struct buffer *)arg)->count > 0;
}

static int producer(void *arg)
{
	struct buffer *b = arg;
	for (int item = 0; item < ITEMS; item++) {
		mt_lock_acquire(&b->lock, -1);
		/* wait_for checks again after every wake-up: a notify only says
		 * the condition may hold now. */
		mt_cond_wait_for(&b->not_full, &b->lock, buffer_not_full, b, -1);
		b->items[(b->head + b->count) % SLOTS] = item;
		b->count++;
		printf("put %d (in buffer: %d)\n", item, b->count);
		/* Notify with the lock held, as Python requires. */
		mt_cond_notify(&b->not_empty, 1);
		mt_lock_release(&b->lock);
	}
	return 0;
}

static int consumer(void *arg)
{
	struct buffer *b = arg;
	for (int i = 0; i < ITEMS; i++) {
		mt_lock_acquire(&b->lock, -1);
		mt_cond_wait_for(&b->not_empty, &b->lock, buffer_not_empty, b, -1);
		int item = b->items[b->head];
		b->head = (b->head + 1) % SLOTS;
		b->count--;
		printf("took %d (in buffer: %d)\n", item, b->count);
		mt_cond_notify(&b->not_full, 1);
		mt_lock_release(&b->lock);
	}
	return 0;
}

int main(void)
{
	static struct buffer buf = {MT_LOCK_INIT, MT_COND_INIT, MT_COND_INIT, {0}, 0, 0};
	mt_thread *threads[2];

	/* The consumer first: it must wait until something is put. */
	if (mt_thread_start(&threads[0], consumer, &buf, NULL) ||
	    mt_thread_start(&threads[1], producer, &buf, NULL))
		return 1;
	for (int i = 0; i < 2; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	printf("done: %d items through a buffer of %d\n", ITEMS, SLOTS);
	return 0;
}
