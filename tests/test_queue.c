/* test_queue.c: Queue, LifoQueue, PriorityQueue and the deque: order,
 * bounds, Full and Empty, timeouts, task_done/join, close, growth, and
 * many producers and consumers losing or duplicating nothing. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdatomic.h>

#include "mtask/mtask.h"
#include "testutil.h"

static void *as_item(intptr_t n)
{
	return (void *)n;
}

static intptr_t take(mt_queue *q)
{
	void *item = as_item(-1);
	assert_int_equal(mt_queue_get(q, &item, 0), 0);
	return (intptr_t)item;
}

static mt_queue *new_queue(int kind, size_t maxsize)
{
	mt_queue *q;
	assert_int_equal(mt_queue_new(&q, kind, maxsize), 0);
	return q;
}

/* ---- kinds and order ---- */

/* The notes' Queue(5): five puts fit, put_nowait is Full, five gets come
 * out in order, get_nowait is Empty. */
static void a_fifo_of_five_refuses_the_sixth_and_returns_in_order(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 5);
	assert_true(mt_queue_empty(q));
	for (intptr_t i = 1; i <= 5; i++)
		assert_int_equal(mt_queue_put(q, as_item(i), -1), 0);
	assert_true(mt_queue_full(q));
	assert_int_equal(mt_queue_qsize(q), 5);
	assert_int_equal(mt_queue_put_nowait(q, as_item(6)), -EAGAIN);
	for (intptr_t i = 1; i <= 5; i++)
		assert_int_equal(take(q), i);
	void *item;
	assert_int_equal(mt_queue_get_nowait(q, &item), -EAGAIN);
	assert_true(mt_queue_empty(q));
	assert_int_equal(mt_queue_maxsize(q), 5);
	mt_queue_free(q);
}

static void a_lifo_returns_the_newest_first(void **state)
{
	mt_queue *q = new_queue(MT_LIFO, 0);
	for (intptr_t i = 1; i <= 3; i++)
		assert_int_equal(mt_queue_put(q, as_item(i), 0), 0);
	assert_int_equal(take(q), 3);
	assert_int_equal(mt_queue_put(q, as_item(4), 0), 0);
	assert_int_equal(take(q), 4);
	assert_int_equal(take(q), 2);
	assert_int_equal(take(q), 1);
	mt_queue_free(q);
}

/* Lower values first; among equal priorities, the order of the puts,
 * across growth of the heap. */
static void a_priority_queue_is_lowest_first_and_stable(void **state)
{
	mt_queue *q = new_queue(MT_PRIORITY, 0);
	enum { N = 3000 };
	for (intptr_t i = 0; i < N; i++)
		assert_int_equal(mt_queue_put_priority(q, (i * 7) % 3 - 1, as_item(i), 0), 0);
	assert_int_equal(mt_queue_put(q, as_item(N), 0), 0); /* priority 0 */
	int64_t last_priority = INT64_MIN;
	intptr_t last_item = -1;
	for (int n = 0; n <= N; n++) {
		void *item;
		int64_t priority;
		assert_int_equal(mt_queue_get_priority(q, &item, &priority, 0), 0);
		assert_true(priority >= last_priority);
		if (priority == last_priority)
			assert_true((intptr_t)item > last_item);
		if ((intptr_t)item < N)
			assert_int_equal(priority, ((intptr_t)item * 7) % 3 - 1);
		last_priority = priority;
		last_item = (intptr_t)item;
	}
	assert_true(mt_queue_empty(q));
	mt_queue_free(q);
}

static void a_deque_reaches_both_ends(void **state)
{
	mt_queue *q = new_queue(MT_DEQUE, 4);
	assert_int_equal(mt_queue_put(q, as_item(2), 0), 0);       /* append */
	assert_int_equal(mt_queue_put_front(q, as_item(1), 0), 0); /* appendleft */
	assert_int_equal(mt_queue_put(q, as_item(3), 0), 0);
	assert_int_equal(mt_queue_put_front(q, as_item(0), 0), 0);
	assert_int_equal(mt_queue_put_front(q, as_item(9), 0), -EAGAIN); /* bounded */
	void *item;
	assert_int_equal(mt_queue_get_back(q, &item, 0), 0); /* pop */
	assert_int_equal((intptr_t)item, 3);
	assert_int_equal(take(q), 0); /* popleft */
	assert_int_equal(take(q), 1);
	assert_int_equal(mt_queue_get_back(q, &item, 0), 0);
	assert_int_equal((intptr_t)item, 2);
	assert_int_equal(mt_queue_get_back(q, &item, 0), -EAGAIN);
	mt_queue_free(q);
}

/* Random operations at both ends of a deque, checked against a plain
 * array, so that the ring wraps and grows in every position. */
static void a_deque_matches_a_model_through_wraps_and_growth(void **state)
{
	enum { OPS = 20000, SPAN = 2 * OPS + 1 };
	static intptr_t model[SPAN];
	size_t front = OPS, back = OPS; /* model[front..back) */
	mt_queue *q = new_queue(MT_DEQUE, 0);
	srand(7);
	for (intptr_t i = 0; i < OPS; i++) {
		int op = rand() % 5; /* grows a little more often than it shrinks */
		void *item;
		if (op == 0) {
			assert_int_equal(mt_queue_put_front(q, as_item(i), 0), 0);
			model[--front] = i;
		} else if (op <= 2) {
			assert_int_equal(mt_queue_put(q, as_item(i), 0), 0);
			model[back++] = i;
		} else if (op == 3) {
			int err = mt_queue_get(q, &item, 0);
			assert_int_equal(err, front == back ? -EAGAIN : 0);
			if (!err)
				assert_int_equal((intptr_t)item, model[front++]);
		} else {
			int err = mt_queue_get_back(q, &item, 0);
			assert_int_equal(err, front == back ? -EAGAIN : 0);
			if (!err)
				assert_int_equal((intptr_t)item, model[--back]);
		}
		assert_int_equal(mt_queue_qsize(q), back - front);
	}
	while (front < back)
		assert_int_equal(take(q), model[front++]);
	mt_queue_free(q);
}

static void null_is_an_item_like_any_other(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 1);
	assert_int_equal(mt_queue_put(q, NULL, 0), 0);
	void *item = &item;
	assert_int_equal(mt_queue_get(q, &item, 0), 0);
	assert_null(item);
	mt_queue_free(q);
}

static void bad_arguments_are_einval(void **state)
{
	mt_queue *q;
	void *item;
	assert_int_equal(mt_queue_new(&q, 42, 0), -EINVAL);
	assert_int_equal(mt_queue_new(NULL, MT_FIFO, 0), -EINVAL);
	q = new_queue(MT_FIFO, 0);
	assert_int_equal(mt_queue_put_priority(q, 1, NULL, 0), -EINVAL);
	assert_int_equal(mt_queue_put_front(q, NULL, 0), -EINVAL);
	assert_int_equal(mt_queue_get_back(q, &item, 0), -EINVAL);
	assert_int_equal(mt_queue_put(q, NULL, NAN), -EINVAL);
	assert_int_equal(mt_queue_get(q, NULL, 0), -EINVAL);
	assert_int_equal(mt_queue_get(q, &item, NAN), -EINVAL);
	assert_int_equal(mt_queue_qsize(q), 0); /* nothing went in */
	mt_queue_free(q);
	mt_queue_free(NULL);
}

/* ---- blocking and timeouts ---- */

static void a_get_on_empty_waits_its_timeout_then_is_empty(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 1);
	void *item;
	double start = now_seconds();
	assert_int_equal(mt_queue_get(q, &item, 0.05), -EAGAIN);
	assert_true(now_seconds() - start >= 0.05);
	assert_int_equal(mt_queue_put(q, NULL, 0), 0);
	start = now_seconds();
	assert_int_equal(mt_queue_put(q, NULL, 0.05), -EAGAIN);
	assert_true(now_seconds() - start >= 0.05);
	assert_int_equal(mt_queue_qsize(q), 1);
	mt_queue_free(q);
}

struct handoff {
	mt_queue *q;
	intptr_t first, count;
};

static int put_later(void *arg)
{
	struct handoff *h = arg;
	for (intptr_t i = 0; i < h->count; i++) {
		usleep(2000);
		if (mt_queue_put(h->q, as_item(h->first + i), -1))
			return 1;
	}
	return 0;
}

static int get_later(void *arg)
{
	struct handoff *h = arg;
	for (intptr_t i = 0; i < h->count; i++) {
		usleep(2000);
		void *item;
		if (mt_queue_get(h->q, &item, -1) || (intptr_t)item != h->first + i)
			return 1;
	}
	return 0;
}

static void a_blocked_get_takes_what_another_thread_puts(void **state)
{
	struct handoff h = {new_queue(MT_FIFO, 0), 100, 5};
	mt_thread *t = start_thread(put_later, &h);
	for (intptr_t i = 0; i < 5; i++) {
		void *item;
		assert_int_equal(mt_queue_get(h.q, &item, 30), 0);
		assert_int_equal((intptr_t)item, 100 + i);
	}
	assert_int_equal(join_thread(t), 0);
	mt_queue_free(h.q);
}

static void a_blocked_put_goes_in_once_another_thread_gets(void **state)
{
	struct handoff h = {new_queue(MT_FIFO, 1), 0, 6};
	mt_thread *t = start_thread(get_later, &h);
	for (intptr_t i = 0; i < 6; i++)
		assert_int_equal(mt_queue_put(h.q, as_item(i), 30), 0);
	assert_int_equal(join_thread(t), 0);
	assert_true(mt_queue_empty(h.q));
	mt_queue_free(h.q);
}

/* ---- task_done and join ---- */

static int finish_each(void *arg)
{
	mt_queue *q = arg;
	for (;;) {
		void *item;
		if (mt_queue_get(q, &item, -1))
			return 1;
		if (!item)
			return mt_queue_task_done(q); /* the sentinel */
		usleep(1000);
		if (mt_queue_task_done(q))
			return 1;
	}
}

static void join_returns_once_every_item_is_done(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 3);
	assert_int_equal(mt_queue_task_done(q), -EINVAL);
	assert_int_equal(mt_queue_join(q, 0), 0); /* nothing owed */
	for (intptr_t i = 1; i <= 3; i++)
		assert_int_equal(mt_queue_put(q, as_item(i), 0), 0);
	assert_int_equal(mt_queue_unfinished(q), 3);
	assert_int_equal(mt_queue_join(q, 0.02), -ETIMEDOUT);
	mt_thread *t = start_thread(finish_each, q);
	for (intptr_t i = 4; i <= 10; i++)
		assert_int_equal(mt_queue_put(q, as_item(i), 30), 0);
	assert_int_equal(mt_queue_join(q, 30), 0);
	assert_int_equal(mt_queue_unfinished(q), 0);
	assert_int_equal(mt_queue_put(q, NULL, 30), 0);
	assert_int_equal(join_thread(t), 0);
	assert_int_equal(mt_queue_task_done(q), -EINVAL); /* one too many */
	mt_queue_free(q);
}

/* ---- close ---- */

static int get_until_closed(void *arg)
{
	void *item;
	return -mt_queue_get(arg, &item, 30);
}

static int put_until_closed(void *arg)
{
	return -mt_queue_put(arg, NULL, 30);
}

/* Waits until thread t sleeps in the kernel (state S in /proc), which is
 * where a blocked get or put is; fails after 10 s. */
static void wait_until_asleep(mt_thread *t)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)mt_thread_native_id(t));
	for (int i = 0; i < 10000; i++) {
		FILE *f = fopen(path, "r");
		assert_non_null(f);
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *after_name = strrchr(buf, ')');
		if (after_name && after_name[1] == ' ' && after_name[2] == 'S')
			return;
		usleep(1000);
	}
	fail_msg("thread %d never went to sleep", (int)mt_thread_native_id(t));
}

static void close_wakes_blocked_gets_with_epipe(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 0);
	mt_thread *t[2] = {start_thread(get_until_closed, q), start_thread(get_until_closed, q)};
	wait_until_asleep(t[0]);
	wait_until_asleep(t[1]);
	mt_queue_close(q);
	assert_int_equal(join_thread(t[0]), EPIPE);
	assert_int_equal(join_thread(t[1]), EPIPE);
	mt_queue_free(q);
}

static void close_wakes_blocked_puts_with_epipe(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 1);
	assert_int_equal(mt_queue_put(q, NULL, 0), 0);
	mt_thread *t = start_thread(put_until_closed, q);
	wait_until_asleep(t);
	mt_queue_close(q);
	assert_int_equal(join_thread(t), EPIPE);
	assert_int_equal(mt_queue_qsize(q), 1);
	mt_queue_free(q);
}

static void a_closed_queue_refuses_puts_and_drains_then_epipe(void **state)
{
	mt_queue *q = new_queue(MT_LIFO, 0);
	assert_int_equal(mt_queue_put(q, as_item(1), 0), 0);
	assert_int_equal(mt_queue_put(q, as_item(2), 0), 0);
	assert_false(mt_queue_closed(q));
	mt_queue_close(q);
	mt_queue_close(q); /* idempotent */
	assert_true(mt_queue_closed(q));
	assert_int_equal(mt_queue_put(q, as_item(3), -1), -EPIPE);
	assert_int_equal(take(q), 2);
	assert_int_equal(take(q), 1);
	void *item;
	assert_int_equal(mt_queue_get(q, &item, -1), -EPIPE);
	assert_int_equal(mt_queue_get(q, &item, 0), -EPIPE);
	/* The items still owe their task_done; closing does not end a join. */
	assert_int_equal(mt_queue_join(q, 0), -ETIMEDOUT);
	assert_int_equal(mt_queue_task_done(q), 0);
	assert_int_equal(mt_queue_task_done(q), 0);
	assert_int_equal(mt_queue_join(q, 0), 0);
	mt_queue_free(q);
}

/* ---- many producers and consumers ---- */

enum { PRODUCERS = 3, CONSUMERS = 3, PER_PRODUCER = 20000 };

struct traffic {
	mt_queue *q;
	_Atomic int producer;
	_Atomic unsigned char seen[PRODUCERS * PER_PRODUCER];
	_Atomic long duplicates, out_of_order;
};

static int produce(void *arg)
{
	struct traffic *t = arg;
	intptr_t base = atomic_fetch_add(&t->producer, 1) * PER_PRODUCER;
	for (intptr_t i = 0; i < PER_PRODUCER; i++)
		if (mt_queue_put(t->q, as_item(base + i + 1), -1))
			return 1;
	return 0;
}

/* Gets until the queue is closed and drained. What one consumer gets from
 * one producer must come in the order it was put: the queue is FIFO. */
static int consume(void *arg)
{
	struct traffic *t = arg;
	intptr_t last[PRODUCERS] = {0};
	for (;;) {
		void *item;
		int err = mt_queue_get(t->q, &item, -1);
		if (err == -EPIPE)
			return 0;
		if (err)
			return 1;
		intptr_t n = (intptr_t)item - 1;
		if (atomic_exchange(&t->seen[n], 1))
			atomic_fetch_add(&t->duplicates, 1);
		intptr_t *latest = &last[n / PER_PRODUCER]; /* 1 + the last seen, or 0 */
		if (*latest && n < *latest)
			atomic_fetch_add(&t->out_of_order, 1);
		*latest = n + 1;
	}
}

/* Through a queue of maxsize items: 1024, 64 and 5 are served by the
 * lock-free ring (waiters gathering batches up to 512, 32 and 2 cells; 5
 * is a bound below the ring's capacity), 0 by the lock. */
static void run_traffic(size_t maxsize)
{
	static struct traffic t;
	memset(&t, 0, sizeof t);
	t.q = new_queue(MT_FIFO, maxsize);
	mt_thread *producers[PRODUCERS], *consumers[CONSUMERS];
	for (int i = 0; i < CONSUMERS; i++)
		consumers[i] = start_thread(consume, &t);
	for (int i = 0; i < PRODUCERS; i++)
		producers[i] = start_thread(produce, &t);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(join_thread(producers[i]), 0);
	mt_queue_close(t.q); /* consumers drain, then see -EPIPE */
	for (int i = 0; i < CONSUMERS; i++)
		assert_int_equal(join_thread(consumers[i]), 0);
	assert_int_equal(t.duplicates, 0);
	assert_int_equal(t.out_of_order, 0);
	for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
		assert_int_equal(t.seen[i], 1);
	assert_int_equal(mt_queue_unfinished(t.q), PRODUCERS * PER_PRODUCER);
	assert_int_equal(mt_queue_qsize(t.q), 0);
	mt_queue_free(t.q);
}

static void every_item_arrives_exactly_once_through_many_threads(void **state)
{
	run_traffic(1024);
	run_traffic(64);
	run_traffic(5);
	run_traffic(0);
}

/* A bound that is not a power of two holds exactly that many, lap after
 * lap of the ring, and one far above the ring's limit still holds. */
static void a_bounded_fifo_is_full_at_exactly_its_maxsize(void **state)
{
	size_t bounds[] = {1, 3, 5, 100, 16384, 16385};
	for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
		mt_queue *q = new_queue(MT_FIFO, bounds[b]);
		intptr_t next_in = 0, next_out = 0;
		for (int lap = 0; lap < 3; lap++) {
			while (mt_queue_put_nowait(q, as_item(next_in)) == 0)
				next_in++;
			assert_int_equal(mt_queue_qsize(q), bounds[b]);
			assert_true(mt_queue_full(q));
			for (size_t i = 0; i < bounds[b] / 2 + 1; i++)
				assert_int_equal(take(q), next_out++);
		}
		while (next_out < next_in)
			assert_int_equal(take(q), next_out++);
		assert_true(mt_queue_empty(q));
		mt_queue_free(q);
	}
}

/* task_done and join across threads, on the ring: join returns only once
 * the consumers marked every item done. */
static int get_and_finish(void *arg)
{
	mt_queue *q = arg;
	void *item;
	int err;
	while ((err = mt_queue_get(q, &item, -1)) == 0)
		if (mt_queue_task_done(q))
			return 1;
	return err == -EPIPE ? 0 : 1;
}

static void join_waits_for_every_consumer_on_the_ring(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 32);
	mt_thread *t[2] = {start_thread(get_and_finish, q), start_thread(get_and_finish, q)};
	for (int round = 0; round < 50; round++) {
		for (intptr_t i = 0; i < 100; i++)
			assert_int_equal(mt_queue_put(q, as_item(i), 30), 0);
		assert_int_equal(mt_queue_join(q, 30), 0);
		assert_int_equal(mt_queue_unfinished(q), 0);
	}
	mt_queue_close(q);
	assert_int_equal(join_thread(t[0]), 0);
	assert_int_equal(join_thread(t[1]), 0);
	assert_int_equal(mt_queue_task_done(q), -EINVAL);
	mt_queue_free(q);
}

/* ---- polling a queue's descriptor ---- */

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static int put_42_later(void *arg)
{
	usleep(20000);
	return mt_queue_put(arg, as_item(42), -1);
}

/* The ring (a bound of 8), the lock (unbounded) and a LIFO behave alike:
 * readable while an item waits, quiet once a get found it empty, woken
 * by another thread's put, readable for good once closed. */
static void a_queue_fd_polls_readable_while_items_wait(void **state)
{
	int kinds[] = {MT_FIFO, MT_FIFO, MT_LIFO};
	size_t bounds[] = {8, 0, 0};
	int fds_before = count_open_fds();
	for (int k = 0; k < 3; k++) {
		mt_queue *q = new_queue(kinds[k], bounds[k]);
		assert_int_equal(mt_queue_put(q, as_item(1), 0), 0); /* before the fd */
		int fd = mt_queue_fd(q);
		assert_true(fd >= 0);
		assert_int_equal(mt_queue_fd(q), fd);
		assert_true(readable(fd, 0));
		assert_int_equal(take(q), 1);
		void *item;
		assert_int_equal(mt_queue_get_nowait(q, &item), -EAGAIN);
		assert_false(readable(fd, 0));
		mt_thread *t = start_thread(put_42_later, q);
		assert_true(readable(fd, 10000));
		assert_int_equal(take(q), 42);
		assert_int_equal(join_thread(t), 0);
		assert_int_equal(mt_queue_get_nowait(q, &item), -EAGAIN);
		assert_false(readable(fd, 0));
		mt_queue_close(q);
		assert_true(readable(fd, 0));
		assert_int_equal(mt_queue_get_nowait(q, &item), -EPIPE);
		assert_true(readable(fd, 0)); /* closed stays readable */
		mt_queue_free(q);
	}
	assert_int_equal(mt_queue_fd(NULL), -EINVAL);
	assert_int_equal(count_open_fds(), fds_before); /* free closed each */
}

#define SLEEPING_GETS 100

static int get_while_asleep(void *arg)
{
	for (intptr_t i = 0; i < SLEEPING_GETS; i++) {
		void *item;
		/* A lost wake-up shows as a get that waits its whole timeout. */
		if (mt_queue_get(arg, &item, 10) || (intptr_t)item != i)
			return 1;
	}
	return 0;
}

/* The ring's wakers take no fence; the sleeper pays for both (membarrier):
 * each put here finds the consumer asleep in the kernel. */
static void a_consumer_asleep_on_the_ring_is_woken_by_each_put(void **state)
{
	mt_queue *q = new_queue(MT_FIFO, 64);
	mt_thread *t = start_thread(get_while_asleep, q);
	for (intptr_t i = 0; i < SLEEPING_GETS; i++) {
		wait_until_asleep(t);
		assert_int_equal(mt_queue_put(q, as_item(i), 0), 0);
	}
	assert_int_equal(join_thread(t), 0);
	mt_queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_fifo_of_five_refuses_the_sixth_and_returns_in_order),
		cmocka_unit_test(a_lifo_returns_the_newest_first),
		cmocka_unit_test(a_priority_queue_is_lowest_first_and_stable),
		cmocka_unit_test(a_deque_reaches_both_ends),
		cmocka_unit_test(a_deque_matches_a_model_through_wraps_and_growth),
		cmocka_unit_test(null_is_an_item_like_any_other),
		cmocka_unit_test(bad_arguments_are_einval),
		cmocka_unit_test(a_get_on_empty_waits_its_timeout_then_is_empty),
		cmocka_unit_test(a_blocked_get_takes_what_another_thread_puts),
		cmocka_unit_test(a_blocked_put_goes_in_once_another_thread_gets),
		cmocka_unit_test(join_returns_once_every_item_is_done),
		cmocka_unit_test(close_wakes_blocked_gets_with_epipe),
		cmocka_unit_test(close_wakes_blocked_puts_with_epipe),
		cmocka_unit_test(a_closed_queue_refuses_puts_and_drains_then_epipe),
		cmocka_unit_test(every_item_arrives_exactly_once_through_many_threads),
		cmocka_unit_test(a_bounded_fifo_is_full_at_exactly_its_maxsize),
		cmocka_unit_test(join_waits_for_every_consumer_on_the_ring),
		cmocka_unit_test(a_queue_fd_polls_readable_while_items_wait),
		cmocka_unit_test(a_consumer_asleep_on_the_ring_is_woken_by_each_put),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
