/* ipc_producer_consumer.c: the notes' producer/consumer model
 * (生产者消费者模型) between processes, with multiprocessing.Queue's C
 * counterpart. Two producer processes put what they make into one
 * mt_ipc_queue; two consumer processes take it out. Once the producers
 * are done, the main process puts one sentinel per consumer, an empty
 * message (Python's q.put(None)), and each consumer stops at the first it
 * gets:
 *
 *     def consumer(q, name):
 *         while (item := q.get()) is not None:
 *             print(name, 'ate', item)
 *
 * Messages are bytes: a struct goes in and comes out as it is, nothing is
 * pickled. The queue is made before the processes, which inherit it. */
#include <stdio.h>
#include <string.h>

#include "mtask/ipc.h"
#include "mtask/process.h"

#define PRODUCERS 2
#define CONSUMERS 2
#define PER_PRODUCER 5

struct item {
	int producer, number;
	char name[24];
};

struct role {
	mt_ipc_queue *q;
	int id;
};

static int producer(void *arg)
{
	const struct role *me = arg;
	for (int i = 0; i < PER_PRODUCER; i++) {
		struct item it = {me->id, i, ""};
		snprintf(it.name, sizeof it.name, "包子 %d-%d", me->id, i);
		printf("producer %d made %s\n", me->id, it.name);
		fflush(stdout); /* lines in the order things happen */
		if (mt_ipc_queue_put(me->q, &it, sizeof it, -1))
			return 1;
	}
	return 0;
}

static int consumer(void *arg)
{
	const struct role *me = arg;
	struct item it;
	size_t len;
	while (mt_ipc_queue_get(me->q, &it, sizeof it, &len, -1) == 0) {
		if (len == 0) { /* the sentinel */
			printf("consumer %d: no more\n", me->id);
			return 0;
		}
		printf("consumer %d ate %s\n", me->id, it.name);
		fflush(stdout);
	}
	return 1;
}

int main(void)
{
	mt_ipc_queue *q;
	mt_process *producers[PRODUCERS], *consumers[CONSUMERS];
	struct role roles[PRODUCERS + CONSUMERS];
	if (mt_ipc_queue_new(&q, 4, sizeof(struct item)))
		return 1;
	for (int i = 0; i < CONSUMERS; i++) {
		roles[i] = (struct role){q, i + 1};
		if (mt_process_start(&consumers[i], consumer, &roles[i], NULL))
			return 1;
	}
	for (int i = 0; i < PRODUCERS; i++) {
		roles[CONSUMERS + i] = (struct role){q, i + 1};
		if (mt_process_start(&producers[i], producer, &roles[CONSUMERS + i], NULL))
			return 1;
	}
	int failed = 0;
	for (int i = 0; i < PRODUCERS; i++) {
		mt_process_join(producers[i], -1);
		failed |= mt_process_exitcode(producers[i]);
		mt_process_free(producers[i]);
	}
	for (int i = 0; i < CONSUMERS; i++) /* one sentinel each */
		mt_ipc_queue_put(q, NULL, 0, -1);
	for (int i = 0; i < CONSUMERS; i++) {
		mt_process_join(consumers[i], -1);
		failed |= mt_process_exitcode(consumers[i]);
		mt_process_free(consumers[i]);
	}
	printf("主进程 (main): every 包子 eaten, finished\n");
	mt_ipc_queue_free(q);
	return failed != 0;
}
