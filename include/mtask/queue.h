/* mtask/queue.h: queues between threads, the C counterpart of Python's
 * queue module: Queue (FIFO), LifoQueue, PriorityQueue, and a
 * double-ended queue with the same rules (collections.deque's four ends,
 * blocking and bounded).
 *
 * Items are pointers, passed as they are: the queue never copies, frees
 * or looks at what they point to. NULL is a valid item (a sentinel, say).
 *
 * Blocking calls take a timeout in seconds, as Python: < 0 waits for
 * ever, 0 only tries (put_nowait / get_nowait). When the queue stays full
 * (put) or empty (get) until the deadline they return -EAGAIN, Python's
 * Full and Empty, whether they only tried or waited. A NaN timeout is
 * -EINVAL.
 *
 * task_done and join count work as Python's do: every successful put adds
 * an unfinished task, every task_done ends one, and join waits until none
 * is left.
 *
 * Closing (Python 3.13's shutdown()) refuses further puts with -EPIPE and
 * wakes every thread blocked in a put or get: a put returns -EPIPE; a get
 * returns the items still queued, and -EPIPE once the queue is empty. So a
 * consumer loop ends by itself once the queue is closed and drained.
 *
 * Every call is safe from any thread. A queue lives in one process: a
 * forked child gets a copy that it must not use (use mtask/ipc.h between
 * processes). */
#ifndef MTASK_QUEUE_H
#define MTASK_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_queue mt_queue;

/* The kinds of queue. mt_queue_put and mt_queue_get work on all of them:
 *   MT_FIFO      queue.Queue: get returns the oldest item;
 *   MT_LIFO      queue.LifoQueue: get returns the newest item;
 *   MT_PRIORITY  queue.PriorityQueue: get returns the item of lowest
 *                priority value, the oldest among equal priorities (as
 *                Python's (priority, count) tuples); mt_queue_put uses
 *                priority 0;
 *   MT_DEQUE     a blocking, bounded collections.deque: put appends at the
 *                back, get takes from the front, and mt_queue_put_front /
 *                mt_queue_get_back reach the other ends. */
enum { MT_FIFO, MT_LIFO, MT_PRIORITY, MT_DEQUE };

/* mt_queue_new - a queue of the given kind holding at most maxsize items
 * (0: unbounded). Returns 0, -EINVAL for an unknown kind, -ENOMEM. */
MT_EXPORT int mt_queue_new(mt_queue **q, int kind, size_t maxsize);

/* mt_queue_put - add item, waiting up to timeout seconds for room. Returns
 * 0, -EAGAIN (still full: Python's Full), -EPIPE (closed), -ENOMEM
 * (an unbounded queue could not grow), -EINVAL. */
MT_EXPORT int mt_queue_put(mt_queue *q, void *item, double timeout);

/* mt_queue_get - take the next item (see the kinds), waiting up to timeout
 * seconds for one. Returns 0 with *item set, -EAGAIN (still empty:
 * Python's Empty), -EPIPE (closed and empty), -EINVAL. */
MT_EXPORT int mt_queue_get(mt_queue *q, void **item, double timeout);

/* mt_queue_put_nowait, mt_queue_get_nowait - the same with timeout 0. */
MT_EXPORT int mt_queue_put_nowait(mt_queue *q, void *item);
MT_EXPORT int mt_queue_get_nowait(mt_queue *q, void **item);

/* mt_queue_put_priority - MT_PRIORITY's put with a priority: lower values
 * come out first, equal ones in the order they were put. -EINVAL for other
 * kinds; otherwise as mt_queue_put. */
MT_EXPORT int mt_queue_put_priority(mt_queue *q, int64_t priority, void *item,
				    double timeout);

/* mt_queue_get_priority - mt_queue_get that also tells the item's priority
 * (the whole (priority, item) tuple Python returns). priority may be NULL;
 * for other kinds than MT_PRIORITY it is set to 0. */
MT_EXPORT int mt_queue_get_priority(mt_queue *q, void **item, int64_t *priority,
				    double timeout);

/* mt_queue_put_front, mt_queue_get_back - MT_DEQUE's appendleft and pop:
 * the same rules as put and get, at the other ends. -EINVAL for other
 * kinds. */
MT_EXPORT int mt_queue_put_front(mt_queue *q, void *item, double timeout);
MT_EXPORT int mt_queue_get_back(mt_queue *q, void **item, double timeout);

/* mt_queue_qsize, mt_queue_empty, mt_queue_full - snapshots, as Python's:
 * another thread may change the answer at once. A queue without a maxsize
 * is never full. */
MT_EXPORT size_t mt_queue_qsize(mt_queue *q);
MT_EXPORT bool mt_queue_empty(mt_queue *q);
MT_EXPORT bool mt_queue_full(mt_queue *q);

/* mt_queue_maxsize - the bound given to mt_queue_new (0: none). */
MT_EXPORT size_t mt_queue_maxsize(const mt_queue *q);

/* mt_queue_task_done - a consumer finished an item it got. Returns 0, or
 * -EINVAL when called more times than items were put (Python's
 * ValueError). */
MT_EXPORT int mt_queue_task_done(mt_queue *q);

/* mt_queue_join - wait up to timeout seconds until every item put has been
 * marked done. Returns 0, -ETIMEDOUT, -EINVAL. Closing the queue does not
 * end a join: the items already put still owe their task_done. */
MT_EXPORT int mt_queue_join(mt_queue *q, double timeout);

/* mt_queue_unfinished - items put and not yet marked done (a snapshot). */
MT_EXPORT size_t mt_queue_unfinished(mt_queue *q);

/* mt_queue_close - refuse further puts and wake every blocked put and get
 * (see the top of this file). Idempotent. */
MT_EXPORT void mt_queue_close(mt_queue *q);

/* mt_queue_closed - true once mt_queue_close was called. */
MT_EXPORT bool mt_queue_closed(mt_queue *q);

/* mt_queue_fd - a descriptor that polls readable (POLLIN) while q may
 * hold an item, or once it is closed: to wait for a queue beside sockets,
 * process sentinels and futures (mt_future_fd). Readable is a hint, as for
 * a socket several threads read: when poll says so, take items with
 * timeout 0 until -EAGAIN; the get that finds the queue empty clears the
 * descriptor, and the next put makes it readable again. Made on the first
 * call (an eventfd), owned by q (mt_queue_free closes it). Until then,
 * puts and gets pay nothing for it; afterwards a put into a queue that
 * was drained, and a get that finds it empty, make one system call.
 * Returns the descriptor, or -EMFILE/-ENFILE/-ENOMEM. Thread-safe. */
MT_EXPORT int mt_queue_fd(mt_queue *q);

/* mt_queue_free - release q and its storage (not the items). No thread may
 * be using q, or use it afterwards. NULL is ignored. */
MT_EXPORT void mt_queue_free(mt_queue *q);

#ifdef __cplusplus
}
#endif
#endif
