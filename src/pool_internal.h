/* pool_internal.h: what the pool front (pool.c, pool_map.c), the futures
 * (future.c) and the backends (pool_thread.c, pool_process.c, and later an
 * MPI one) share. Not installed.
 *
 * The backend contract. The front owns the pool's lock, its queue of
 * pending futures (tasks accepted and not yet handed to a worker) and the
 * count of unresolved tasks that join waits for. A backend owns its
 * workers: it takes futures off the pending queue (mt__pool_take), claims
 * each (mt__future_claim: a cancelled one is skipped), runs the task
 * somewhere, and settles the future (mt__future_settle) exactly once, with
 * a result or an error. A backend that loses a claimed task before it ran
 * (a dead worker's queue) gives it back with mt__pool_requeue.
 *
 * A task travels as a function and bytes. A backend that crosses an
 * address space sends the function as a number (mt__pool_fn_id) and turns
 * it back (mt__task_fn_from_id). The process pool's number is the
 * function's address, valid in workers forked from this image; a backend
 * whose workers have other address layouts (MPI ranks: named_tasks) sends
 * the number of the task's registered name (pool_tasks.c), which has the
 * top bit set, so that the number itself says which kind it is. */
#ifndef MTASK_POOL_INTERNAL_H
#define MTASK_POOL_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"
#include "mtask/pool.h"
#include "mtask/sync.h"

/* ---- tasks' results ---- */

struct mt_task_out {
	unsigned char *buf;
	size_t len;    /* the result's bytes in buf */
	size_t cap;    /* buf's room */
	bool growable; /* malloc'ed by the library, may grow (threads) */
	bool too_big;  /* a result did not fit: the task fails, -EMSGSIZE */
	/* A view on part of another result (an item's, in a map chunk):
	 * the bytes go to parent->buf + base, which grows if parent may. */
	struct mt_task_out *parent;
	size_t base;
};

/* A fixed buffer for a process worker's result. */
static inline void mt__task_out_fixed(struct mt_task_out *out, void *buf, size_t cap)
{
	*out = (struct mt_task_out){.buf = buf, .cap = cap};
}

/* Runs fn on arg into out and returns the task's error (-EMSGSIZE when a
 * result did not fit). Inline: map calls it once per item. */
static inline int mt__task_run(mt_task_fn fn, const void *arg, size_t len, struct mt_task_out *out)
{
	int err = fn(arg, len, out);
	if (!err && out->too_big)
		err = -EMSGSIZE;
	return err;
}

/* ---- task numbers (pool_tasks.c) ---- */

#define MT__TASK_NAMED (UINT64_C(1) << 63) /* a registered name's number */

/* The function registered under the name of number id, or NULL (none,
 * or ambiguous). */
MT_HIDDEN mt_task_fn mt__task_fn_by_name_id(uint64_t id);

/* The number of fn's registered name in *id. Returns 0, -ENOSYS (fn is
 * not registered), -ENOTUNIQ (its name is ambiguous). */
MT_HIDDEN int mt__task_name_id(mt_task_fn fn, uint64_t *id);

static inline uint64_t mt__task_fn_id(mt_task_fn fn)
{
	return (uint64_t)(uintptr_t)fn;
}

/* The function of number id, either kind; NULL for an unknown name. */
static inline mt_task_fn mt__task_fn_from_id(uint64_t id)
{
	if (id & MT__TASK_NAMED)
		return mt__task_fn_by_name_id(id);
	return (mt_task_fn)(uintptr_t)id;
}

/* ---- futures (future.c) ---- */

enum future_state {
	FUTURE_PENDING,	  /* queued, cancellable */
	FUTURE_RUNNING,	  /* claimed by a worker */
	FUTURE_SETTLING,  /* one thread writes the outcome */
	FUTURE_FINISHED,  /* done: result or error */
	FUTURE_CANCELLED, /* done: cancelled */
};

#define FUTURE_INLINE_ARG 40
#define FUTURE_INLINE_RESULT 24

struct future_callback;
struct mt_pool;

struct mt_future {
	_Atomic int refs;	/* the user's and the pool's while unresolved */
	_Atomic uint32_t state; /* enum future_state */
	_Atomic uint32_t done;	/* event: state is FINISHED or CANCELLED */
	int error;
	int exitcode; /* a dead worker's, with -EOWNERDEAD */
	unsigned char *result;
	size_t result_len;
	/* The task. */
	mt_task_fn fn;
	unsigned char *arg;
	size_t arg_len;
	struct mt_pool *pool; /* until settled */
	struct mt__list link; /* in the pool's pending queue; pool's lock */
	/* Who is told: guarded by lock. */
	mt_lock lock;
	bool notified; /* callbacks ran (or run now): later ones run at once */
	struct future_callback *callbacks, **callbacks_tail;
	struct mt__list waiters; /* of mt_futures_wait and as_completed */
	int fd;			 /* eventfd, -1 until asked for */
	/* A sink (map's): the first sink_len bytes of a successful result
	 * of at least that length are copied to sink, not kept; guarded by
	 * lock, so that the owner can take it back (mt__future_unsink). */
	unsigned char *sink;
	size_t sink_len;
	unsigned char inline_arg[FUTURE_INLINE_ARG];
	unsigned char inline_result[FUTURE_INLINE_RESULT];
};

/* The bytes of a task's argument, in up to two parts (a header and the
 * items, for map's chunks), copied once into the future. */
struct mt__task_arg {
	const void *head, *body;
	size_t head_len, body_len;
};

/* A new pending future holding a copy of the task; one reference for the
 * caller, one for the pool. NULL when memory is short. */
MT_HIDDEN struct mt_future *mt__future_new(struct mt_pool *pool, mt_task_fn fn,
					   const struct mt__task_arg *arg);

/* Takes f's sink back: after this no settler writes to it. */
MT_HIDDEN void mt__future_unsink(struct mt_future *f);

/* PENDING -> RUNNING; false when it was cancelled meanwhile. */
static inline bool mt__future_claim(struct mt_future *f)
{
	uint32_t pending = FUTURE_PENDING;
	return atomic_compare_exchange_strong(&f->state, &pending, FUTURE_RUNNING);
}

/* RUNNING -> PENDING, for a task given back before it ran; false when
 * it was settled meanwhile (terminate). */
static inline bool mt__future_unclaim(struct mt_future *f)
{
	uint32_t running = FUTURE_RUNNING;
	return atomic_compare_exchange_strong(&f->state, &running, FUTURE_PENDING);
}

/* Settles f once (a later settle does nothing and returns false): error
 * 0 with the result's bytes, or an error (exitcode for -EOWNERDEAD);
 * cancelled marks it cancelled. Then wakes waiters, runs callbacks, tells
 * the pool (mt__pool_forget) and drops the pool's reference. Must be
 * called with no pool lock held. */
MT_HIDDEN bool mt__future_settle(struct mt_future *f, int error, int exitcode, const void *result,
				 size_t len, bool cancelled);

/* The same, handing over a result buffer malloc'ed by the task's runner
 * (freed here if f was settled already). */
MT_HIDDEN bool mt__future_settle_owned(struct mt_future *f, int error, void *result, size_t len);

/* ---- the pool front (pool.c) ---- */

enum pool_state { POOL_OPEN, POOL_CLOSED, POOL_TERMINATED };

struct mt__pool_backend {
	const char *name;
	/* Starts opts.workers workers; p->lock not held. */
	int (*start)(struct mt_pool *p);
	/* Pending futures arrived (or a worker may take more); p->lock held. */
	void (*wake)(struct mt_pool *p);
	/* Keep n workers; p->lock held. */
	int (*resize)(struct mt_pool *p, int n);
	/* End every worker: after the queue is empty, or at once (terminate).
	 * Returns when they have ended; p->lock not held. */
	void (*stop)(struct mt_pool *p, bool now);
	/* Release what start made; the workers have ended. */
	void (*destroy)(struct mt_pool *p);
	/* Live workers' PIDs (NULL: not processes); p->lock held. */
	int (*pids)(struct mt_pool *p, int *out, size_t cap);
	/* Task arguments and results cross in buffers of opts.max_message
	 * bytes (processes, MPI); false: no limit (threads). */
	bool bounded_messages;
	/* Tasks travel by registered name (mt__pool_fn_id). */
	bool named_tasks;
};

struct mt_pool {
	const struct mt__pool_backend *backend;
	void *impl; /* the backend's state */
	int kind;
	mt_pool_opts opts; /* workers resolved */
	mt_lock lock;
	mt_cond changed;	 /* unresolved reached 0, workers ended */
	struct mt__list pending; /* futures not yet handed to a worker */
	size_t pending_count;
	size_t unresolved; /* submitted and not settled */
	enum pool_state state;
	bool stopped; /* the backend's stop ran */
};

/* The longest argument a task of p may have (0: no limit). */
static inline size_t mt__pool_message_limit(const struct mt_pool *p)
{
	return p->backend->bounded_messages ? p->opts.max_message : 0;
}

MT_HIDDEN extern const struct mt__pool_backend mt__pool_thread_backend;
MT_HIDDEN extern const struct mt__pool_backend mt__pool_process_backend;
/* By kind (MT_POOL_THREAD ...); an entry is NULL when this library was
 * built without that backend (pool_backends.c, built once per flavour:
 * libmtask without MPI, libmtask_mpi with it). */
MT_HIDDEN extern const struct mt__pool_backend *const mt__pool_backends[3];

/* The number fn travels as in p's tasks: its address, or its registered
 * name's number when p's backend has named_tasks. Returns 0, or
 * mt__task_name_id's errors. */
static inline int mt__pool_fn_id(const struct mt_pool *p, mt_task_fn fn, uint64_t *id)
{
	if (p->backend->named_tasks)
		return mt__task_name_id(fn, id);
	*id = mt__task_fn_id(fn);
	return 0;
}

/* The oldest pending future, removed from the queue, or NULL; p->lock
 * held. The caller claims it (it may have been cancelled). */
MT_HIDDEN struct mt_future *mt__pool_take(struct mt_pool *p);

/* Puts claimed futures that never ran back at the head of the queue, in
 * their order; p->lock held. */
MT_HIDDEN void mt__pool_requeue(struct mt_pool *p, struct mt_future **fs, size_t n);

/* mt_pool_submit with the argument in parts and, when sink is not NULL,
 * the first sink_len bytes of the result copied to sink (see struct
 * mt_future). */
MT_HIDDEN int mt__pool_submit(struct mt_pool *p, mt_task_fn fn, const struct mt__task_arg *arg,
			      void *sink, size_t sink_len, struct mt_future **out);

/* A settled future leaves the pool's books (mt__future_settle calls it). */
MT_HIDDEN void mt__pool_forget(struct mt_pool *p, struct mt_future *f);

/* True once the program is exiting (an atexit handler, installed by the
 * first pool, runs before the library's own): the library is about to end
 * every child, and a pool must not replace its workers then. */
MT_HIDDEN bool mt__pool_exiting(void);

/* The number of CPUs this process may run on. */
MT_HIDDEN int mt__pool_cpu_count(void);

#endif
