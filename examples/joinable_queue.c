/* joinable_queue.c: the notes' JoinableQueue(10) between processes, with
 * mtask/ipc.h:
 *
 *     def producer(q):
 *         for i in range(10):
 *             q.put(i)
 *         q.join()
 *
 *     def customer(q):
 *         while True:
 *             res = q.get()
 *             print(res)
 *             q.task_done()
 *
 * The producer process puts 0..9, then waits in join until the customer
 * process has called task_done for each; the main process joins the
 * producer and prints 这是主进程. The notes' customer loops for ever, so
 * their program never ends; here the main process then closes the queue:
 * the customer's next get returns -EPIPE and it ends too. */
#include <stdio.h>

#include "mtask/ipc.h"
#include "mtask/process.h"

static int producer(void *arg)
{
	mt_ipc_queue *q = arg;
	for (int i = 0; i < 10; i++)
		mt_ipc_queue_put(q, &i, sizeof i, -1);
	mt_ipc_queue_join(q, -1); /* until all ten are done */
	printf("producer: all 10 done\n");
	return 0;
}

static int customer(void *arg)
{
	mt_ipc_queue *q = arg;
	int res;
	size_t len;
	while (mt_ipc_queue_get(q, &res, sizeof res, &len, -1) == 0) {
		printf("%d\n", res);
		fflush(stdout); /* before task_done: the producer prints next */
		mt_ipc_queue_task_done(q);
	}
	return 0; /* -EPIPE: closed and empty */
}

int main(void)
{
	mt_ipc_queue *q;
	mt_process *p, *c;
	if (mt_ipc_queue_new(&q, 10, sizeof(int)) || mt_process_start(&p, producer, q, NULL) ||
	    mt_process_start(&c, customer, q, NULL))
		return 1;
	mt_process_join(p, -1);
	printf("这是主进程 (the main process)\n");
	fflush(stdout);
	mt_ipc_queue_close(q);
	mt_process_join(c, -1);
	int failed = mt_process_exitcode(p) || mt_process_exitcode(c);
	mt_process_free(p);
	mt_process_free(c);
	mt_ipc_queue_free(q);
	return failed;
}
