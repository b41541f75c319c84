/* queue.c: Queue, LifoQueue, PriorityQueue and a blocking deque, as
 * CPython's queue.Queue builds them: one lock, a condition each for "not
 * empty", "not full" and "all tasks done". mt_cond wakes only threads
 * that wait, so a put or get that finds nobody waiting makes no system
 * call.
 *
 * Storage is a ring of pointers whose size is a power of two, grown by
 * doubling (FIFO, LIFO and deque use its two ends), or, for the priority
 * kind, a binary min-heap ordered by (priority, arrival), which makes
 * equal priorities come out in the order they went in. A bounded queue
 * grows its storage as it fills, up to its maxsize, so a large bound costs
 * nothing until it is used.
 *
 * A bounded FIFO of at most MT__FIFO_MAX items, the common case between
 * producer and consumer threads, has no lock at all: it is the ring of
 * fifo.c, and every call below hands it over at its top. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fifo.h"
#include "internal.h"
#include "mtask/queue.h"
#include "mtask/sync.h"

#define FIRST_CAPACITY 16

enum end { BACK, FRONT };

struct ranked {
	int64_t priority;
	uint64_t arrival; /* ties: first in, first out */
	void *item;
};

struct mt_queue {
	mt_lock lock;
	mt_cond not_empty, not_full, all_done;
	int kind;
	size_t maxsize;
	/* Changed under the lock; read without it for the snapshots. */
	_Atomic size_t count;
	_Atomic size_t unfinished;
	_Atomic bool closed;
	size_t capacity; /* slots in ring or heap */
	size_t head;     /* the ring's front slot */
	void **ring;
	struct ranked *heap;
	uint64_t arrivals;
	struct mt__fifo *fifo; /* not NULL: the lock-free ring serves this queue */
	/* mt_queue_fd's eventfd (-1 until asked for), and whether it is
	 * signalled: only a put that finds it clear writes to it. */
	_Atomic int fd;
	_Atomic bool fd_signalled;
};

int mt_queue_new(mt_queue **qp, int kind, size_t maxsize)
{
	if (!qp || kind < MT_FIFO || kind > MT_DEQUE)
		return -EINVAL;
	mt_queue *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	q->kind = kind;
	q->maxsize = maxsize;
	q->lock = (mt_lock)MT_LOCK_INIT;
	q->not_empty = q->not_full = q->all_done = (mt_cond)MT_COND_INIT;
	atomic_init(&q->fd, -1);
	if (kind == MT_FIFO && maxsize > 0 && maxsize <= MT__FIFO_MAX) {
		int err = mt__fifo_new(&q->fifo, maxsize);
		if (err) {
			free(q);
			return err;
		}
	}
	*qp = q;
	return 0;
}

void mt_queue_free(mt_queue *q)
{
	if (!q)
		return;
	mt__fifo_free(q->fifo);
	if (atomic_load(&q->fd) >= 0)
		close(atomic_load(&q->fd));
	free(q->ring);
	free(q->heap);
	free(q);
}

size_t mt_queue_maxsize(const mt_queue *q)
{
	return q->maxsize;
}

static size_t count_of(mt_queue *q)
{
	if (q->fifo)
		return mt__fifo_count(q->fifo);
	return atomic_load_explicit(&q->count, memory_order_relaxed);
}

static void count_add(mt_queue *q, long delta)
{
	atomic_store_explicit(&q->count, count_of(q) + (size_t)delta, memory_order_relaxed);
}

static bool is_full(mt_queue *q)
{
	return q->maxsize && count_of(q) >= q->maxsize;
}

/* ---- storage, under the lock ---- */

static int grow(mt_queue *q)
{
	size_t capacity = q->capacity ? 2 * q->capacity : FIRST_CAPACITY;
	if (q->kind == MT_PRIORITY) {
		struct ranked *heap = realloc(q->heap, capacity * sizeof *heap);
		if (!heap)
			return -ENOMEM;
		q->heap = heap;
	} else {
		void **ring = malloc(capacity * sizeof *ring);
		if (!ring)
			return -ENOMEM;
		/* Unwrap: the items go to slots 0..count-1 of the new ring. */
		size_t n = count_of(q);
		for (size_t i = 0; i < n; i++)
			ring[i] = q->ring[(q->head + i) & (q->capacity - 1)];
		free(q->ring);
		q->ring = ring;
		q->head = 0;
	}
	q->capacity = capacity;
	return 0;
}

static bool ranks_before(const struct ranked *a, const struct ranked *b)
{
	return a->priority < b->priority ||
	       (a->priority == b->priority && a->arrival < b->arrival);
}

static void swap_ranked(struct ranked *a, struct ranked *b)
{
	struct ranked t = *a;
	*a = *b;
	*b = t;
}

static void heap_push(mt_queue *q, int64_t priority, void *item)
{
	size_t i = count_of(q);
	q->heap[i] = (struct ranked){priority, q->arrivals++, item};
	while (i > 0 && ranks_before(&q->heap[i], &q->heap[(i - 1) / 2])) {
		swap_ranked(&q->heap[i], &q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static struct ranked heap_pop(mt_queue *q)
{
	struct ranked top = q->heap[0];
	size_t n = count_of(q) - 1;
	q->heap[0] = q->heap[n];
	for (size_t i = 0;;) {
		size_t least = i, left = 2 * i + 1, right = left + 1;
		if (left < n && ranks_before(&q->heap[left], &q->heap[least]))
			least = left;
		if (right < n && ranks_before(&q->heap[right], &q->heap[least]))
			least = right;
		if (least == i)
			break;
		swap_ranked(&q->heap[i], &q->heap[least]);
		i = least;
	}
	return top;
}

static int push(mt_queue *q, enum end end, int64_t priority, void *item)
{
	int err;
	if (count_of(q) == q->capacity && (err = grow(q)))
		return err;
	size_t mask = q->capacity - 1;
	if (q->kind == MT_PRIORITY) {
		heap_push(q, priority, item);
	} else if (end == FRONT) {
		q->head = (q->head - 1) & mask;
		q->ring[q->head] = item;
	} else {
		q->ring[(q->head + count_of(q)) & mask] = item;
	}
	count_add(q, 1);
	return 0;
}

static void *pop(mt_queue *q, enum end end, int64_t *priority)
{
	void *item;
	*priority = 0;
	if (q->kind == MT_PRIORITY) {
		struct ranked top = heap_pop(q);
		*priority = top.priority;
		item = top.item;
	} else if (end == FRONT) {
		item = q->ring[q->head];
		q->head = (q->head + 1) & (q->capacity - 1);
	} else {
		item = q->ring[(q->head + count_of(q) - 1) & (q->capacity - 1)];
	}
	count_add(q, -1);
	return item;
}

/* ---- put and get ---- */

static bool closed(mt_queue *q)
{
	if (q->fifo)
		return mt__fifo_closed(q->fifo);
	return atomic_load_explicit(&q->closed, memory_order_relaxed);
}

/* Waits on c, the lock held, while blocked(q) and the queue is open.
 * Returns 0 once not blocked, -EPIPE if closed, -EAGAIN at the deadline. */
static int wait_while(mt_queue *q, bool (*blocked)(mt_queue *), mt_cond *c,
		      const mt__deadline *deadline, bool poll_only)
{
	bool timed_out = false;
	while (blocked(q)) {
		if (closed(q))
			return -EPIPE;
		if (poll_only || timed_out)
			return -EAGAIN;
		timed_out = mt__cond_wait_until(c, &q->lock, deadline) == -ETIMEDOUT;
	}
	return 0;
}

static bool is_empty(mt_queue *q)
{
	return count_of(q) == 0;
}

/* ---- the descriptor of mt_queue_fd ---- */

/* After a put (or a close): make the descriptor readable, unless it is. */
static void signal_fd(mt_queue *q)
{
	int fd = atomic_load_explicit(&q->fd, memory_order_acquire);
	if (fd >= 0 && !atomic_exchange(&q->fd_signalled, true))
		(void)!write(fd, &(uint64_t){1}, sizeof(uint64_t));
}

/* After a get found q empty: clear the descriptor, then look again, so
 * that a put racing the clear cannot leave an item behind a quiet one. */
static void clear_fd(mt_queue *q)
{
	int fd = atomic_load_explicit(&q->fd, memory_order_acquire);
	uint64_t count;
	if (fd < 0 || !atomic_exchange(&q->fd_signalled, false))
		return;
	(void)!read(fd, &count, sizeof count);
	if (!is_empty(q) || closed(q))
		signal_fd(q);
}

int mt_queue_fd(mt_queue *q)
{
	if (!q)
		return -EINVAL;
	int fd = atomic_load_explicit(&q->fd, memory_order_acquire);
	if (fd >= 0)
		return fd;
	int made = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (made < 0)
		return -errno;
	if (!atomic_compare_exchange_strong(&q->fd, &fd, made)) {
		close(made); /* another thread made one first */
		return fd;
	}
	if (!is_empty(q) || closed(q))
		signal_fd(q);
	return made;
}

static int queue_put_item(mt_queue *q, enum end end, int64_t priority, void *item,
			  double timeout)
{
	if (q->fifo && !isnan(timeout))
		return mt__fifo_put(q->fifo, item, timeout);
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	mt_lock_acquire(&q->lock, -1);
	err = wait_while(q, is_full, &q->not_full, &deadline, timeout == 0);
	if (!err && closed(q))
		err = -EPIPE; /* not full, but closed */
	if (!err && !(err = push(q, end, priority, item))) {
		atomic_fetch_add_explicit(&q->unfinished, 1, memory_order_relaxed);
		mt_cond_notify(&q->not_empty, 1);
	}
	mt_lock_release(&q->lock);
	return err;
}

static int queue_get_item(mt_queue *q, enum end end, void **item, int64_t *priority,
			  double timeout)
{
	if (q->fifo && !isnan(timeout)) {
		if (priority)
			*priority = 0;
		return mt__fifo_get(q->fifo, item, timeout);
	}
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	int64_t rank;
	mt_lock_acquire(&q->lock, -1);
	err = wait_while(q, is_empty, &q->not_empty, &deadline, timeout == 0);
	if (!err) {
		*item = pop(q, end, &rank);
		if (priority)
			*priority = rank;
		mt_cond_notify(&q->not_full, 1);
	}
	mt_lock_release(&q->lock);
	return err;
}

/* ---- put and get, with the descriptor kept in step ---- */

static int queue_put(mt_queue *q, enum end end, int64_t priority, void *item, double timeout)
{
	int err = queue_put_item(q, end, priority, item, timeout);
	if (err == 0)
		signal_fd(q);
	return err;
}

static int queue_get(mt_queue *q, enum end end, void **item, int64_t *priority, double timeout)
{
	int err = queue_get_item(q, end, item, priority, timeout);
	if (err == -EAGAIN || err == -EPIPE)
		clear_fd(q);
	return err;
}

int mt_queue_put(mt_queue *q, void *item, double timeout)
{
	return q ? queue_put(q, BACK, 0, item, timeout) : -EINVAL;
}

int mt_queue_get(mt_queue *q, void **item, double timeout)
{
	return mt_queue_get_priority(q, item, NULL, timeout);
}

int mt_queue_put_nowait(mt_queue *q, void *item)
{
	return mt_queue_put(q, item, 0);
}

int mt_queue_get_nowait(mt_queue *q, void **item)
{
	return mt_queue_get(q, item, 0);
}

int mt_queue_put_priority(mt_queue *q, int64_t priority, void *item, double timeout)
{
	if (!q || q->kind != MT_PRIORITY)
		return -EINVAL;
	return queue_put(q, BACK, priority, item, timeout);
}

int mt_queue_get_priority(mt_queue *q, void **item, int64_t *priority, double timeout)
{
	if (!q || !item)
		return -EINVAL;
	return queue_get(q, q->kind == MT_LIFO ? BACK : FRONT, item, priority, timeout);
}

int mt_queue_put_front(mt_queue *q, void *item, double timeout)
{
	if (!q || q->kind != MT_DEQUE)
		return -EINVAL;
	return queue_put(q, FRONT, 0, item, timeout);
}

int mt_queue_get_back(mt_queue *q, void **item, double timeout)
{
	if (!q || !item || q->kind != MT_DEQUE)
		return -EINVAL;
	return queue_get(q, BACK, item, NULL, timeout);
}

/* ---- sizes, tasks, close ---- */

size_t mt_queue_qsize(mt_queue *q)
{
	return count_of(q);
}

bool mt_queue_empty(mt_queue *q)
{
	return is_empty(q);
}

bool mt_queue_full(mt_queue *q)
{
	return is_full(q);
}

size_t mt_queue_unfinished(mt_queue *q)
{
	if (q->fifo)
		return mt__fifo_unfinished(q->fifo);
	return atomic_load_explicit(&q->unfinished, memory_order_relaxed);
}

int mt_queue_task_done(mt_queue *q)
{
	if (q->fifo)
		return mt__fifo_task_done(q->fifo);
	int err = 0;
	mt_lock_acquire(&q->lock, -1);
	size_t left = mt_queue_unfinished(q);
	if (left == 0)
		err = -EINVAL;
	else
		atomic_store_explicit(&q->unfinished, left - 1, memory_order_relaxed);
	if (left == 1)
		mt_cond_notify_all(&q->all_done);
	mt_lock_release(&q->lock);
	return err;
}

int mt_queue_join(mt_queue *q, double timeout)
{
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	if (q->fifo)
		return mt__fifo_join(q->fifo, &deadline);
	mt_lock_acquire(&q->lock, -1);
	while (!err && mt_queue_unfinished(q) > 0)
		err = mt__cond_wait_until(&q->all_done, &q->lock, &deadline);
	if (mt_queue_unfinished(q) == 0)
		err = 0; /* finished just as the deadline came */
	mt_lock_release(&q->lock);
	return err;
}

void mt_queue_close(mt_queue *q)
{
	if (q->fifo) {
		mt__fifo_close(q->fifo);
		signal_fd(q);
		return;
	}
	mt_lock_acquire(&q->lock, -1);
	atomic_store_explicit(&q->closed, true, memory_order_relaxed);
	mt_cond_notify_all(&q->not_empty);
	mt_cond_notify_all(&q->not_full);
	mt_lock_release(&q->lock);
	signal_fd(q);
}

bool mt_queue_closed(mt_queue *q)
{
	return closed(q);
}
