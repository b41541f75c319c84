/* queue.c: `mtask bench queue`: how fast items move through a queue
 * between threads, and messages through a queue between processes, beside
 * what a C programmer writes by hand and Python's queue.Queue and
 * multiprocessing.Queue.
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
 * reported per 1000 items.
 *
 * Between processes, a sample moves IPC_MESSAGES_PER_SAMPLE messages of 16
 * bytes, or of 4 KiB, from the batch's process (pinned to the first CPU)
 * to a consumer process (pinned to the second) that the batch's setup
 * forks; the last message of a sample is marked, and the consumer answers
 * it with a byte on a pipe, so a sample times the whole transfer. The
 * floor is a pipe(2) with one write and one read per message; mtask's row
 * is an mt_ipc_queue of 1024 messages; Python's is a
 * multiprocessing.Queue(1024) of bytes objects. Reported per 1000
 * messages. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/ipc.h"
#include "mtask/queue.h"

#define QUEUE_ROUNDS 10
#define CAPACITY 1024
#define ITEMS_PER_SAMPLE 20000
#define PY_ITEMS_PER_SAMPLE 2000 /* bench/peers/queues.py's ITEMS_PER_SAMPLE */
#define REPORTED_PER 1000
#define MAX_THREADS 4
#define IPC_MESSAGES_PER_SAMPLE 20000
#define PY_IPC_MESSAGES_PER_SAMPLE 2000 /* bench/peers/queues.py's IPC_MESSAGES */
#define SMALL_MESSAGE 16
#define LARGE_MESSAGE 4096 /* both as in bench/peers/queues.py */

enum queue_row {
	ROW_RING_1x1,
	ROW_MT_QUEUE_1x1,
	ROW_PY_QUEUE_1x1,
	ROW_RING_2x2,
	ROW_MT_QUEUE_2x2,
	ROW_PY_QUEUE_2x2,
	ROW_PIPE_SMALL,
	ROW_MT_IPC_SMALL,
	ROW_PY_IPC_SMALL,
	ROW_PIPE_LARGE,
	ROW_MT_IPC_LARGE,
	ROW_PY_IPC_LARGE,
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

static void pin_to_cpu(int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof one, &one);
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
	int cpu[2] = {0, 0};
	bench_pick_cpus(cpu); /* before pinning: see bench.h */
	if (pinned)
		pin_to_cpu(cpu[0]);
	for (int i = 1; i < producers + consumers; i++) {
		roles[i] = (struct role){.producer = i < producers, .cpu = pinned ? cpu[1] : -1};
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

/* ---- between processes ---- */

static struct {
	size_t size; /* of each message */
	int (*send)(const void *msg, size_t len);
	int acks[2]; /* the consumer's answer to the last message of a sample */
	int pipe[2]; /* the floor's channel */
	mt_ipc_queue *queue;
} ipc;

enum { MESSAGE_PLAIN = 0, MESSAGE_LAST = 1 }; /* a message's first byte */

/* Forks the consumer, pinned to the second CPU, which runs consume() and
 * dies with the batch's process even while it blocks. Returns 0 in the
 * batch's process, or a negative errno. */
static int start_consumer(void (*consume)(void))
{
	pid_t batch = getpid();
	int cpu[2] = {0, 0};
	bench_pick_cpus(cpu);
	if (pipe(ipc.acks) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin_to_cpu(cpu[1]);
		if (getppid() == batch) /* else the batch ended before prctl */
			consume();
		_exit(0);
	}
	pin_to_cpu(cpu[0]);
	return 0;
}

static int ack_last_message(const unsigned char *msg)
{
	return msg[0] == MESSAGE_LAST && write(ipc.acks[1], "", 1) != 1 ? -EIO : 0;
}

static int ipc_transfer(void)
{
	static unsigned char msg[LARGE_MESSAGE];
	int err = 0;
	for (int i = 1; !err && i <= IPC_MESSAGES_PER_SAMPLE; i++) {
		msg[0] = i == IPC_MESSAGES_PER_SAMPLE ? MESSAGE_LAST : MESSAGE_PLAIN;
		err = ipc.send(msg, ipc.size);
	}
	char ack;
	return err ? err : read(ipc.acks[0], &ack, 1) == 1 ? 0 : -EIO;
}

/* The floor: one write and one read per message. A pipe's writes up to
 * PIPE_BUF bytes are whole, so each read of size bytes gets one message. */
static int pipe_send(const void *msg, size_t len)
{
	return write(ipc.pipe[1], msg, len) == (ssize_t)len ? 0 : -EIO;
}

static void pipe_consume(void)
{
	static unsigned char msg[LARGE_MESSAGE];
	while (read(ipc.pipe[0], msg, ipc.size) == (ssize_t)ipc.size && !ack_last_message(msg))
		;
}

static int setup_pipe(size_t size)
{
	ipc.size = size;
	ipc.send = pipe_send;
	return pipe(ipc.pipe) < 0 ? -errno : start_consumer(pipe_consume);
}

static int ipc_queue_send(const void *msg, size_t len)
{
	return mt_ipc_queue_put(ipc.queue, msg, len, -1);
}

static void ipc_queue_consume(void)
{
	static unsigned char msg[LARGE_MESSAGE];
	size_t len;
	while (mt_ipc_queue_get(ipc.queue, msg, sizeof msg, &len, -1) == 0 &&
	       !ack_last_message(msg))
		;
}

static int setup_ipc_queue(size_t size)
{
	ipc.size = size;
	ipc.send = ipc_queue_send;
	int err = mt_ipc_queue_new(&ipc.queue, CAPACITY, size);
	return err ? err : start_consumer(ipc_queue_consume);
}

static int setup_pipe_small(void)
{
	return setup_pipe(SMALL_MESSAGE);
}

static int setup_pipe_large(void)
{
	return setup_pipe(LARGE_MESSAGE);
}

static int setup_ipc_queue_small(void)
{
	return setup_ipc_queue(SMALL_MESSAGE);
}

static int setup_ipc_queue_large(void)
{
	return setup_ipc_queue(LARGE_MESSAGE);
}

#define ONE_TO_ONE "1 producer -> 1 consumer, 2 CPUs, per 1000 items"
#define TWO_TO_TWO "2 producers -> 2 consumers, per 1000 items"
#define FLOOR_RING "pthread mutex+cond ring (floor)"
#define SMALL_IPC "1 producer process -> 1 consumer process, 16-byte messages, per 1000"
#define LARGE_IPC "1 producer process -> 1 consumer process, 4 KiB messages, per 1000"
#define FLOOR_PIPE "pipe(2), a write and a read per message (floor)"

#define C_ROW(op_name, impl, setup_fn, is_floor)                                                  \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .reference = (is_floor),         \
		.setup = (setup_fn), .op = transfer, .batch = 20, .quick_batch = 3                 \
	}

#define IPC_ROW(op_name, impl, setup_fn, is_floor, batch_size)                                     \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .reference = (is_floor),         \
		.setup = (setup_fn), .op = ipc_transfer, .batch = (batch_size), .quick_batch = 2   \
	}

#define PYTHON_ROW(op_name, impl, kind)                                                            \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .peer_script = "queues.py",      \
		.peer_kind = (kind), .batch = 4, .quick_batch = 1                                  \
	}

/* A C sample takes 1.2-4 ms here, a Python one (2000 items) 2.3-2.8 ms.
 * Between processes, mtask's takes 1-3 ms (16 bytes) and 3-12 ms (4 KiB),
 * the pipe's 25-55 ms, Python's (2000 messages) 16-30 ms. */
static const struct bench_impl queue_impls[ROW_COUNT] = {
	[ROW_RING_1x1] = C_ROW(ONE_TO_ONE, FLOOR_RING, setup_ring_1x1, true),
	[ROW_MT_QUEUE_1x1] = C_ROW(ONE_TO_ONE, "mt_queue", setup_mt_queue_1x1, false),
	[ROW_PY_QUEUE_1x1] = PYTHON_ROW(ONE_TO_ONE, "Python queue.Queue", "1x1"),
	[ROW_RING_2x2] = C_ROW(TWO_TO_TWO, FLOOR_RING, setup_ring_2x2, true),
	[ROW_MT_QUEUE_2x2] = C_ROW(TWO_TO_TWO, "mt_queue", setup_mt_queue_2x2, false),
	[ROW_PY_QUEUE_2x2] = PYTHON_ROW(TWO_TO_TWO, "Python queue.Queue", "2x2"),
	[ROW_PIPE_SMALL] = IPC_ROW(SMALL_IPC, FLOOR_PIPE, setup_pipe_small, true, 10),
	[ROW_MT_IPC_SMALL] = IPC_ROW(SMALL_IPC, "mt_ipc_queue", setup_ipc_queue_small, false, 10),
	[ROW_PY_IPC_SMALL] = PYTHON_ROW(SMALL_IPC, "Python multiprocessing.Queue", "mp16"),
	[ROW_PIPE_LARGE] = IPC_ROW(LARGE_IPC, FLOOR_PIPE, setup_pipe_large, true, 4),
	[ROW_MT_IPC_LARGE] = IPC_ROW(LARGE_IPC, "mt_ipc_queue", setup_ipc_queue_large, false, 4),
	[ROW_PY_IPC_LARGE] = PYTHON_ROW(LARGE_IPC, "Python multiprocessing.Queue", "mp4k"),
};

/* What one sample of row i moves. */
static int items_per_sample(int i)
{
	bool python = queue_impls[i].peer_script != NULL;
	if (i >= ROW_PIPE_SMALL)
		return python ? PY_IPC_MESSAGES_PER_SAMPLE : IPC_MESSAGES_PER_SAMPLE;
	return python ? PY_ITEMS_PER_SAMPLE : ITEMS_PER_SAMPLE;
}

int bench_queue(const struct bench_config *config, struct bench_result *result)
{
	_Static_assert(ITEMS_PER_SAMPLE % (2 * REPORTED_PER) == 0, "whole shares and scale");
	_Static_assert(PY_ITEMS_PER_SAMPLE % REPORTED_PER == 0, "whole scale");
	_Static_assert(IPC_MESSAGES_PER_SAMPLE % REPORTED_PER == 0, "whole scale");
	_Static_assert(PY_IPC_MESSAGES_PER_SAMPLE % REPORTED_PER == 0, "whole scale");
	int err = bench_run_rounds(config, result, queue_impls, ROW_COUNT, QUEUE_ROUNDS);
	for (int i = 0; i < ROW_COUNT; i++)
		bench_row_scale(&result->rows[i], items_per_sample(i) / REPORTED_PER);
	bench_add_target(result, "mt_queue vs pthread ring, 1 -> 1", ROW_MT_QUEUE_1x1, ROW_RING_1x1,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "mt_queue vs pthread ring, 2 -> 2", ROW_MT_QUEUE_2x2, ROW_RING_2x2,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "speedup over Python queue.Queue, 1 -> 1", ROW_PY_QUEUE_1x1,
			 ROW_MT_QUEUE_1x1, BENCH_AT_LEAST, 50.0);
	bench_add_target(result, "speedup over Python queue.Queue, 2 -> 2", ROW_PY_QUEUE_2x2,
			 ROW_MT_QUEUE_2x2, BENCH_AT_LEAST, 50.0);
	bench_add_target(result, "speedup over Python multiprocessing.Queue, 16 bytes",
			 ROW_PY_IPC_SMALL, ROW_MT_IPC_SMALL, BENCH_AT_LEAST, 50.0);
	return err;
}
