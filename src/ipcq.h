/* ipcq.h: the queue between processes seen from inside, for the fuzz
 * target (fuzz/ipcq_frame.c) and the tests: where its shared memory is,
 * and how often a dead lock holder was recovered from. Never installed. */
#ifndef MTASK_IPCQ_H
#define MTASK_IPCQ_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"
#include "mtask/ipc.h"

/* Where a queue's shared memory is. Everything but the locks is what a
 * buggy process could scribble on and the queue must detect; a lock
 * belongs to the kernel's robust-futex protocol. */
struct mt__ipcq_layout {
	unsigned char *base; /* the mapping */
	size_t size;	     /* its bytes, whole pages */
	size_t locks[3];     /* where each lock starts */
	size_t lock_size;
	size_t ring_offset; /* [ring_offset, ring_end): the ring; */
	size_t ring_end;    /* [ring_end, size) is never used */
};
MT_HIDDEN void mt__ipcq_layout(mt_ipc_queue *q, struct mt__ipcq_layout *layout);

/* How many times a call found a lock's holder dead (-EOWNERDEAD) and
 * took over, over the queue's life, in every process. */
MT_HIDDEN unsigned mt__ipcq_recoveries(mt_ipc_queue *q);

#endif
