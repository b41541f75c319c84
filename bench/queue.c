/* queue.c: `mtask bench queue`: how fast items move through a queue
 * between threads, beside what a C programmer writes by hand and Python's
 * queue.Queue.
 *
 * A sample moves ITEMS_PER_SAMPLE pointers from producer threads to
 * consumer threads through one bounded FIFO (CAPACITY slots): with one
 * producer and one consumer pinned to the two CPUs, and with two of each
 * (four threads on two CPUs, unpinned). Each producer puts its share and
 * then a NULL sentinel; a consumer stops at its first sentinel, which, the
 * queue being FIFO per producer, comes after everything its producer put.
 * The main thread is the first producer; the other threads are started by
 * the batch's setup and meet the main thread at a start and an end
 * barrier, so a sample times the transfer and two barrier wake-ups (a few
 * tens of microseconds out of milliseconds), never a thread start.
 *
 * The floor is a ring of pointers under one pthread mutex with two
 * pthread condition variables, the textbook bounded buffer. Samples are
 * reported per 1000 items. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bench.h"
#include "mtask/queue.h"

#define QUEUE_ROUNDS 10
#define CAPACITY 1024
#define ITEMS_PER_SAMPLE 20000
#define PY_ITEMS_PER_SAMPLE 2000 /* bench/peers/queues.py's ITEMS_PER_SAMPLE */
#define REPORTED_PER 1000
#define MAX_THREADS 4

enum queue_row {
	ROW_RING_1x1,
	ROW_MT_QUEUE_1x1,
	ROW_PY_QUEUE_1x1,
	ROW_RING_2x2,
	ROW_MT_QUEUE_2x2,
	ROW_PY_QUEUE_2x2,
	ROW_COUNT
};

/* ---- the floor: a bounded buffer on pthread mutex and conditions ---- */

static struct {
	pthread_mutex_t mutex;
	pthread_cond_t not_empty, not_full;
	void *slots[CAPACITY];
	size_t head, count;
} ring = {.mutex = PTHREAD_MUTEX_INITIALIZER,
	  .not_empty = PTHREAD_COND_INITIALIZER,
	  .not_full = PTHREAD_COND_INITIALIZER};

static int ring_put(void *item)
{
	pthread_mutex_lock(&ring.mutex);
	while (ring.count == CAPACITY)
		pthread_cond_wait(&ring.not_full, &ring.mutex);
	ring.slots[(ring.head + ring.count++) % CAPACITY] = item;
	pthread_cond_signal(&ring.not_empty);
	pthread_mutex_unlock(&ring.mutex);
	return 0;
}

static int ring_get(void **item)
{
	pthread_mutex_lock(&ring.mutex);
	while (ring.count == 0)
		pthread_cond_wait(&ring.not_empty, &ring.mutex);
	*item = ring.slots[ring.head];
	ring.head = (ring.head + 1) % CAPACITY;
	ring.count--;
	pthread_cond_signal(&ring.not_full);
	pthread_mutex_unlock(&ring.mutex);
	return 0;
}

/* ---- mtask ---- */

static mt_queue *queue;

static int mt_put(void *item)
{
	return mt_queue_put(queue, item, -1);
}

static int mt_get(void **item)
{
	return mt_queue_get(queue, item, -1);
}

/* ---- the transfer ---- */

static struct {
	int (*put)(void *item);
	int (*get)(void **item);
	int producers, consumers;
	pthread_barrier_t start, end;
	_Atomic long received;
	_Atomic int failed;
} traffic;

static void produce_share(void)
{
	long share = ITEMS_PER_SAMPLE / traffic.producers;
	int failed = 0;
	for (long i = 1; i <= share; i++)
		failed |= traffic.put((void *)(intptr_t)i);
	failed |= traffic.put(NULL);
	if (failed)
		atomic_store(&traffic.failed, 1);
}

static void consume_until_sentinel(void)
{
	long received = 0;
	for (;;) {
		void *item;
		if (traffic.get(&item)) {
			atomic_store(&traffic.failed, 1);
			break;
		}
		if (!item)
			break;
		received++;
	}
	atomic_fetch_add(&traffic.received, received);
}

static void pin_to_cpu(int nth)
{
	cpu_set_t allowed, one;
	if (sched_getaffinity(0, sizeof allowed, &allowed))
		return;
	for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &allowed) && seen++ == nth) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			sched_setaffinity(0, sizeof one, &one);
			return;
		}
	}
}

struct role {
	bool producer;
	int cpu; /* -1: unpinned */
};

static void *partner(void *arg)
{
	const struct role *role = arg;
	if (role->cpu >= 0)
		pin_to_cpu(role->cpu);
	for (;;) {
		pthread_barrier_wait(&traffic.start);
		if (role->producer)
			produce_share();
		else
			consume_until_sentinel();
		pthread_barrier_wait(&traffic.end);
	}
	return NULL;
}

/* Starts the partners of a producers x consumers transfer through put and
 * get; the main thread is the first producer. One pair is pinned to the
 * two CPUs; more threads than CPUs run where the scheduler puts them. */
static int start_traffic(int (*put)(void *), int (*get)(void **), int producers,
			 int consumers)
{
	static struct role roles[MAX_THREADS];
	bool pinned = producers + consumers == 2;
	traffic.put = put;
	traffic.get = get;
	traffic.producers = producers;
	traffic.consumers = consumers;
	unsigned parties = (unsigned)(producers + consumers);
	if (pthread_barrier_init(&traffic.start, NULL, parties) ||
	    pthread_barrier_init(&traffic.end, NULL, parties))
		return -ENOMEM;
	if (pinned)
		pin_to_cpu(0);
	for (int i = 1; i < producers + consumers; i++) {
		roles[i] = (struct role){.producer = i < producers, .cpu = pinned ? 1 : -1};
		pthread_t t;
		int err = pthread_create(&t, NULL, partner, &roles[i]);
		if (err)
			return -err;
		pthread_detach(t);
	}
	return 0;
}

static int transfer(void)
{
	atomic_store(&traffic.received, 0);
	pthread_barrier_wait(&traffic.start);
	produce_share();
	pthread_barrier_wait(&traffic.end);
	long expected = ITEMS_PER_SAMPLE / traffic.producers * traffic.producers;
	return atomic_load(&traffic.failed) || atomic_load(&traffic.received) != expected
		       ? -EPROTO
		       : 0;
}

static int setup_mt_queue(int producers, int consumers)
{
	int err = mt_queue_new(&queue, MT_FIFO, CAPACITY);
	return err ? err : start_traffic(mt_put, mt_get, producers, consumers);
}

static int setup_ring_1x1(void)
{
	return start_traffic(ring_put, ring_get, 1, 1);
}

static int setup_ring_2x2(void)
{
	return start_traffic(ring_put, ring_get, 2, 2);
}

static int setup_mt_queue_1x1(void)
{
	return setup_mt_queue(1, 1);
}

static int setup_mt_queue_2x2(void)
{
	return setup_mt_queue(2, 2);
}

#define ONE_TO_ONE "1 producer -> 1 consumer, 2 CPUs, per 1000 items"
#define TWO_TO_TWO "2 producers -> 2 consumers, per 1000 items"
#define FLOOR_RING "pthread mutex+cond ring (floor)"

#define C_ROW(op_name, impl, setup_fn, is_floor)                                                  \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .reference = (is_floor),         \
		.setup = (setup_fn), .op = transfer, .batch = 20, .quick_batch = 3                 \
	}

#define PYTHON_ROW(op_name, kind)                                                                  \
	{                                                                                          \
		.operation = (op_name), .implementation = "Python queue.Queue",                    \
		.peer_script = "queues.py", .peer_kind = (kind), .batch = 4, .quick_batch = 1       \
	}

/* A C sample takes 1.2-4 ms here, a Python one (2000 items) 2.3-2.8 ms. */
static const struct bench_impl queue_impls[ROW_COUNT] = {
	[ROW_RING_1x1] = C_ROW(ONE_TO_ONE, FLOOR_RING, setup_ring_1x1, true),
	[ROW_MT_QUEUE_1x1] = C_ROW(ONE_TO_ONE, "mt_queue", setup_mt_queue_1x1, false),
	[ROW_PY_QUEUE_1x1] = PYTHON_ROW(ONE_TO_ONE, "1x1"),
	[ROW_RING_2x2] = C_ROW(TWO_TO_TWO, FLOOR_RING, setup_ring_2x2, true),
	[ROW_MT_QUEUE_2x2] = C_ROW(TWO_TO_TWO, "mt_queue", setup_mt_queue_2x2, false),
	[ROW_PY_QUEUE_2x2] = PYTHON_ROW(TWO_TO_TWO, "2x2"),
};

int bench_queue(const struct bench_config *config, struct bench_result *result)
{
	_Static_assert(ITEMS_PER_SAMPLE % (2 * REPORTED_PER) == 0, "whole shares and scale");
	_Static_assert(PY_ITEMS_PER_SAMPLE % REPORTED_PER == 0, "whole scale");
	int err = bench_run_rounds(config, result, queue_impls, ROW_COUNT, QUEUE_ROUNDS);
	for (int i = 0; i < ROW_COUNT; i++) {
		bool python = queue_impls[i].peer_script != NULL;
		bench_row_scale(&result->rows[i],
				(python ? PY_ITEMS_PER_SAMPLE : ITEMS_PER_SAMPLE) / REPORTED_PER);
	}
	bench_add_target(result, "mt_queue vs pthread ring, 1 -> 1", ROW_MT_QUEUE_1x1, ROW_RING_1x1,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "mt_queue vs pthread ring, 2 -> 2", ROW_MT_QUEUE_2x2, ROW_RING_2x2,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "speedup over Python queue.Queue, 1 -> 1", ROW_PY_QUEUE_1x1,
			 ROW_MT_QUEUE_1x1, BENCH_AT_LEAST, 50.0);
	bench_add_target(result, "speedup over Python queue.Queue, 2 -> 2", ROW_PY_QUEUE_2x2,
			 ROW_MT_QUEUE_2x2, BENCH_AT_LEAST, 50.0);
	return err;
}
