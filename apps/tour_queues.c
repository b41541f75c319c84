/* tour_queues.c: the tour's queue scenes: the queue module's kinds with
 * Full and Empty, the notes' JoinableQueue producer and customer as two
 * processes, and Pipe, Value and Array. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "mtask/mtask.h"
#include "tour.h"

/* ---- queue.Queue(5): Full, Empty, and the three orders ---- */

static void print_order(const char *label, int kind)
{
	mt_queue *q;
	if (mt_queue_new(&q, kind, 0))
		return;
	static const int put[] = {3, 1, 2};
	for (size_t i = 0; i < sizeof put / sizeof put[0]; i++) {
		void *item = (void *)(intptr_t)put[i];
		if (kind == MT_PRIORITY)
			mt_queue_put_priority(q, put[i], item, 0);
		else
			mt_queue_put_nowait(q, item);
	}
	printf("  %-40s", label);
	void *item;
	while (mt_queue_get_nowait(q, &item) == 0)
		printf(" %d", (int)(intptr_t)item);
	printf("\n");
	mt_queue_free(q);
}

void tour_queues(void)
{
	mt_queue *q;
	if (mt_queue_new(&q, MT_FIFO, 5))
		return;
	for (intptr_t i = 1; i <= 5; i++)
		mt_queue_put_nowait(q, (void *)i);
	printf("  Queue(5) holding 5 items (queue.Full and queue.Empty are EAGAIN):\n");
	printf("    a 6th put_nowait:               %s\n", mt_strerror(mt_queue_put_nowait(q, 0)));
	printf("    a 6th put, timeout 0.05 s:      %s\n", mt_strerror(mt_queue_put(q, NULL, 0.05)));
	void *item;
	while (mt_queue_get_nowait(q, &item) == 0)
		;
	printf("    get_nowait once all 5 are got:  %s\n", mt_strerror(mt_queue_get_nowait(q, &item)));
	mt_queue_free(q);
	print_order("put 3 1 2; Queue (FIFO) gives", MT_FIFO);
	print_order("LifoQueue gives", MT_LIFO);
	print_order("PriorityQueue (priority = value) gives", MT_PRIORITY);
}

/* ---- JoinableQueue(10): the notes' producer and customer ---- */

static int producer(void *arg)
{
	mt_ipc_queue *q = arg;
	for (int i = 0; i < 10; i++)
		if (mt_ipc_queue_put(q, &i, sizeof i, -1))
			return 1;
	return mt_ipc_queue_join(q, 10) ? 2 : 0; /* until the customer did all */
}

static int customer(void *arg)
{
	mt_ipc_queue *q = arg;
	int value;
	size_t len;
	/* The notes' customer loops for ever as a daemon; this one ends when
	 * the queue is closed and drained. */
	while (mt_ipc_queue_get(q, &value, sizeof value, &len, -1) == 0) {
		printf(" %d", value);
		fflush(stdout);
		mt_ipc_queue_task_done(q);
	}
	return 0;
}

void tour_producer_customer(void)
{
	mt_ipc_queue *q;
	if (mt_ipc_queue_new(&q, 10, sizeof(int)))
		return;
	mt_process *p, *c;
	printf("  the customer process got:");
	fflush(stdout);
	if (mt_process_start(&p, producer, q, NULL) == 0) {
		if (mt_process_start(&c, customer, q, NULL) == 0) {
			mt_process_join(p, -1);
			printf("\n  producer exit code %d: its join() saw every task_done\n",
			       mt_process_exitcode(p));
			mt_ipc_queue_close(q);
			mt_process_join(c, -1);
			mt_process_free(c);
		}
		mt_process_free(p);
	}
	printf("  这是主进程 (the main process)\n");
	mt_ipc_queue_free(q);
}

/* ---- Pipe, Value and Array ---- */

struct shared_counts {
	mt_conn *child_end;
	mt_value *counter;
	mt_array *squares;
	int index;
};

static int count_and_answer(void *arg)
{
	struct shared_counts *s = arg;
	for (int i = 0; i < 1000; i++) {
		mt_lock_acquire(mt_value_lock(s->counter), -1);
		++*(int *)mt_value_ptr(s->counter);
		mt_lock_release(mt_value_lock(s->counter));
	}
	double square = (double)s->index * s->index;
	mt_array_set(s->squares, (size_t)s->index, &square);
	/* One reader per end: two processes reading the same end at once
	 * would tear its messages (the notes warn of it). */
	char question[16];
	size_t len;
	if (s->index == 0 && mt_conn_recv(s->child_end, question, sizeof question, &len, 5) == 0) {
		char answer[32];
		int n = snprintf(answer, sizeof answer, "pong to %.*s", (int)len, question);
		mt_conn_send(s->child_end, answer, (size_t)n);
	}
	return 0;
}

static void run_counters(struct shared_counts *s, mt_conn *parent_end)
{
	enum { CHILDREN = 4 };
	mt_process *children[CHILDREN];
	int started = 0;
	for (int i = 0; i < CHILDREN; i++) {
		s->index = i; /* copied into the child as it starts */
		if (mt_process_start(&children[started], count_and_answer, s, NULL) == 0)
			started++;
	}
	static const char question[] = "ping";
	char answer[32];
	size_t len = 0;
	mt_conn_send(parent_end, question, sizeof question - 1);
	int got = mt_conn_recv(parent_end, answer, sizeof answer, &len, 5);
	printf("  parent_conn.send(\"ping\"); parent_conn.recv() -> %s%.*s%s\n", got ? "" : "\"",
	       got ? 0 : (int)len, answer, got ? mt_strerror(got) : "\"");
	for (int i = 0; i < started; i++) {
		mt_process_join(children[i], -1);
		mt_process_free(children[i]);
	}
	int total;
	mt_value_get(s->counter, &total);
	printf("  Value('i', 0) after each added 1 1000 times under its lock: %d\n", total);
	printf("  Array('d', 4) of squares, one written by each:");
	for (int i = 0; i < CHILDREN; i++) {
		double square;
		mt_array_get(s->squares, (size_t)i, &square);
		printf(" %g", square);
	}
	printf("\n");
}

void tour_pipe_value_array(void)
{
	struct shared_counts s = {0};
	mt_conn *parent_end;
	if (mt_pipe_new(&parent_end, &s.child_end, true))
		return;
	if (mt_value_new(&s.counter, sizeof(int), 0) == 0) {
		if (mt_array_new(&s.squares, sizeof(double), 4, 0) == 0) {
			run_counters(&s, parent_end);
			mt_array_free(s.squares);
		}
		mt_value_free(s.counter);
	}
	mt_conn_close(parent_end);
	mt_conn_close(s.child_end);
}
