/* fifo.h: the lock-free ring behind a bounded FIFO mt_queue (queue.c
 * keeps one lock for the other kinds and for unbounded or very large
 * queues). Same contract as queue.h's calls: items are pointers, NULL
 * included; 0, -EAGAIN (full or empty at the deadline), -EPIPE (closed),
 * -ETIMEDOUT from join. */
#ifndef MTASK_FIFO_H
#define MTASK_FIFO_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* The largest maxsize served by the ring: its cells are allocated up
 * front (16 bytes each), which a larger bound should not cost. */
#define MT__FIFO_MAX 16384

struct mt__fifo;

MT_HIDDEN int mt__fifo_new(struct mt__fifo **f, size_t maxsize);
MT_HIDDEN void mt__fifo_free(struct mt__fifo *f);
/* timeout as queue.h's, but never NaN: the caller checks. */
MT_HIDDEN int mt__fifo_put(struct mt__fifo *f, void *item, double timeout);
MT_HIDDEN int mt__fifo_get(struct mt__fifo *f, void **item, double timeout);
MT_HIDDEN size_t mt__fifo_count(struct mt__fifo *f);
MT_HIDDEN size_t mt__fifo_unfinished(struct mt__fifo *f);
MT_HIDDEN int mt__fifo_task_done(struct mt__fifo *f);
MT_HIDDEN int mt__fifo_join(struct mt__fifo *f, const mt__deadline *deadline);
MT_HIDDEN void mt__fifo_close(struct mt__fifo *f);
MT_HIDDEN bool mt__fifo_closed(struct mt__fifo *f);

#endif
