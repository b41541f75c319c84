/* queue_producer_consumer.c: the notes' producer and consumer around a
 * JoinableQueue(10), with threads and mtask/queue.h. The producer puts
 * 0..9 and then waits in join() until the consumer has marked each one
 * task_done(); the consumer is a daemon-style loop that never ends by
 * itself. The main thread joins the producer and prints 这是主进程.
 *
 * The notes' consumer loops for ever (the process exits under it). Here
 * the main thread closes the queue at the end, which makes the consumer's
 * next get return -EPIPE, so the program also shows the clean shutdown:
 * every thread joined, nothing left behind. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "mtask/queue.h"
#include "mtask/thread.h"

static int producer(void *arg)
{
	mt_queue *q = arg;
	for (intptr_t i = 0; i < 10; i++)
		mt_queue_put(q, (void *)i, -1);
	mt_queue_join(q, -1); /* until all ten are done */
	printf("producer: all 10 done\n");
	return 0;
}

static int customer(void *arg)
{
	mt_queue *q = arg;
	void *res;
	while (mt_queue_get(q, &res, -1) == 0) {
		printf("%ld\n", (long)(intptr_t)res);
		mt_queue_task_done(q);
	}
	return 0; /* -EPIPE: closed and empty */
}

int main(void)
{
	mt_queue *q;
	mt_thread *p, *c;
	if (mt_queue_new(&q, MT_FIFO, 10) || mt_thread_start(&p, producer, q, NULL) ||
	    mt_thread_start(&c, customer, q, NULL))
		return 1;
	mt_thread_join(p, -1);
	printf("这是主进程 (the main thread)\n");
	mt_queue_close(q);
	mt_thread_join(c, -1);
	mt_thread_free(p);
	mt_thread_free(c);
	mt_queue_free(q);
	return 0;
}
