/* pool_mpi.h: what the two sides of the MPI pool share (pool_mpi.c,
 * rank 0's side and the backend; pool_mpi_worker.c, the other ranks'):
 * the messages, their sizes and the polling. Not installed; built into
 * libmtask_mpi only. pool_mpi.c's comment tells the protocol. */
#ifndef MTASK_POOL_MPI_H
#define MTASK_POOL_MPI_H

#include <mpi.h>

#include "pool_internal.h"

enum { TAG_BATCH = 1, TAG_STOP, TAG_REPLY, TAG_BYE };

#define ROOT 0
#define MESSAGES_OUT 2		/* batches out per worker: one it runs, one waiting */
#define ALIGN 8u		/* of a task's or result's bytes in a message */
#define QUEUE_AHEAD_NS 1000000u /* work queued to a worker ahead of its task */
#define FLUSH_NS 500000u	/* a worker answers at least this often */
#define STOP_TEST_NS 20000u	/* and looks for STOP between tasks this often */
#define SPIN_TESTS 64		/* tests before the first sleep */
#define BACKOFF_MIN_NS 16000u	/* first sleep, doubled up to... */
#define BACKOFF_MAX_NS 1000000u /* ...this */
#define TIMER_SLACK_NS 1000u	/* so that short sleeps are short */

struct batch_head {
	uint64_t first_tag;
	uint32_t count;
	uint32_t unused;
};

struct task_head {
	uint64_t fn; /* the number of the task's registered name */
	uint64_t len;
};

struct reply_head {
	uint64_t first_tag;
	uint64_t run_ns; /* the run time of the count tasks, added */
	uint32_t count;
	uint32_t unused;
};

struct result_head {
	int32_t error;
	uint32_t len;
};

static inline size_t mt__mpi_padded(size_t len)
{
	return (len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* The longest batch: one task of max_message bytes (or several smaller). */
static inline size_t mt__mpi_batch_size(const struct mt_pool *p)
{
	return sizeof(struct batch_head) + sizeof(struct task_head) +
	       mt__mpi_padded(p->opts.max_message);
}

/* A reply holds up to two longest results, and many short ones. */
static inline size_t mt__mpi_reply_size(const struct mt_pool *p)
{
	return sizeof(struct reply_head) +
	       2 * (sizeof(struct result_head) + mt__mpi_padded(p->opts.max_message));
}

/* Prints what failed and MPI's words for code on stderr; returns -EIO. */
MT_HIDDEN int mt__mpi_report_error(const char *what, int code);

/* How long to sleep after idle empty tests in a row: 0 while spinning
 * (SPIN_TESTS), then from BACKOFF_MIN_NS doubling to BACKOFF_MAX_NS. */
MT_HIDDEN uint64_t mt__mpi_backoff_ns(unsigned idle);

/* A worker rank's part of mt_pool_new: runs the initializer, serves
 * rank 0's batches on comm until STOP, says BYE, and returns 0. When it
 * cannot (memory, an MPI call failing) it says so on stderr and aborts
 * the job (MPI_Abort): rank 0 would otherwise wait for it for ever. */
MT_HIDDEN int mt__mpi_serve(struct mt_pool *p, MPI_Comm comm);

#endif
