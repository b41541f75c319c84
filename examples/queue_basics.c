/* queue_basics.c: the notes' Queue(5) lesson: five puts fill it, a sixth
 * put_nowait is refused (queue.Full: the notes keep the refused item in a
 * list of their own so that it is not lost), five gets empty it, and a
 * get_nowait is refused (queue.Empty). Then LifoQueue and PriorityQueue
 * with the same items. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "mtask/queue.h"

static void *item(intptr_t n)
{
	return (void *)n;
}

static void drain(const char *name, mt_queue *q)
{
	void *got;
	printf("%s:", name);
	while (mt_queue_get_nowait(q, &got) == 0)
		printf(" %ld", (long)(intptr_t)got);
	printf("\n");
}

int main(void)
{
	mt_queue *q;
	if (mt_queue_new(&q, MT_FIFO, 5))
		return 1;
	for (intptr_t i = 1; i <= 5; i++)
		mt_queue_put(q, item(i), -1);
	printf("阻塞前 (before): qsize %zu, full %d\n", mt_queue_qsize(q), mt_queue_full(q));
	int err = mt_queue_put_nowait(q, item(6));
	printf("put_nowait(6): %s, so 6 goes to a list of our own\n", mt_strerror(err));
	printf("阻塞后 (after)\n");
	drain("get x5", q);
	void *got;
	printf("get_nowait(): %s\n", mt_strerror(mt_queue_get_nowait(q, &got)));
	mt_queue_free(q);

	/* The same three items into a LifoQueue and a PriorityQueue. */
	if (mt_queue_new(&q, MT_LIFO, 0))
		return 1;
	for (intptr_t i = 1; i <= 3; i++)
		mt_queue_put(q, item(i), -1);
	drain("LifoQueue (last in, first out)", q);
	mt_queue_free(q);

	if (mt_queue_new(&q, MT_PRIORITY, 0))
		return 1;
	mt_queue_put_priority(q, 3, item(30), -1); /* q.put((3, 30)) */
	mt_queue_put_priority(q, 1, item(10), -1);
	mt_queue_put_priority(q, 2, item(20), -1);
	mt_queue_put_priority(q, 1, item(11), -1); /* same priority: after 10 */
	drain("PriorityQueue (smallest number first)", q);
	mt_queue_free(q);
	return err == -EAGAIN ? 0 : 1;
}
