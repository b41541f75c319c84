/* mtask/pool.h: pools of workers and futures, the C counterpart of
 * multiprocessing.Pool, multiprocessing.dummy.Pool and concurrent.futures'
 * ThreadPoolExecutor and ProcessPoolExecutor.
 *
 * One task API for every kind of pool: a task is a function and the bytes
 * of its argument; it answers bytes, or an error code. Submitting a task
 * gives a future. A thread pool (MT_POOL_THREAD) runs tasks on threads of
 * this process; a process pool (MT_POOL_PROCESS) runs them in worker
 * processes forked from this one, and the argument and result bytes travel
 * through shared-memory rings (mtask/ipc.h): nothing is serialised beyond
 * the bytes you give.
 *
 * Task functions. A process pool sends the function's address to workers
 * forked from the same program image, so a task function must be a
 * function of the program (or of a library loaded before the pool was
 * made), and the task must not rely on pointers inside its argument
 * bytes: the worker has its own copy of memory, as it was when the worker
 * was forked. An MPI pool (MT_POOL_MPI, docs/cluster.md) runs tasks in
 * other processes of the same program, on this machine or others, whose
 * addresses differ: there a task function is sent by name, and must be
 * registered with MT_TASK_REGISTER. Write tasks as "bytes in, bytes out"
 * and they run unchanged on threads, processes and other machines.
 *
 * Workers that die. When a worker process dies while it runs a task
 * (SIGKILL, the OOM killer, a segfault, exit()), that task's future fails
 * with -EOWNERDEAD and mt_future_exitcode() tells how the worker ended
 * (-9 for SIGKILL, as Process.exitcode); the worker is replaced, and every
 * other task, queued or to come, still runs exactly once. A task that
 * runs longer than the pool's task_timeout has its worker killed and
 * replaced, and fails with -ETIMEDOUT. Worker processes are daemons: they
 * die with the pool's process whatever ends it (Ctrl-C, SIGKILL, a crash),
 * and their shared memory goes with them. They ignore SIGINT, so that a
 * Ctrl-C at a terminal is the parent's to handle.
 *
 * Done callbacks run on the thread that completes the future: the worker
 * thread that ran the task in a thread pool, the pool's result thread in a
 * process pool, the pool's MPI thread in an MPI pool, the thread calling mt_future_cancel or mt_pool_terminate
 * for a future those end, and the calling thread at once when the future
 * is already done when the callback is added (as in Python). A callback
 * must not block for long: in a process pool it holds up every other
 * result while it runs.
 *
 * Fork: a pool belongs to the process that made it. A child forked from
 * it gets an unusable copy (its workers are the parent's): do not use it
 * there, not even to free it. Inside a worker process the pool's other
 * objects are copies too; a task uses only its argument.
 *
 * Timeouts are seconds as everywhere in mtask: < 0 waits for ever, 0 only
 * looks. Every call is safe from any thread of the process that made the
 * pool, unless said otherwise. */
#ifndef MTASK_POOL_H
#define MTASK_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_pool mt_pool;
typedef struct mt_future mt_future;
typedef struct mt_task_out mt_task_out;

/* A task: reads its argument (len bytes at arg, which it must not keep),
 * writes its result through out (mt_task_return), and returns 0, or an
 * error code that becomes its future's error (a negative errno is the
 * convention; any nonzero int is passed on as it is). */
typedef int (*mt_task_fn)(const void *arg, size_t len, mt_task_out *out);

/* mt_task_return - set the running task's result to len bytes copied from
 * data (replacing any earlier result). Returns 0, or -EMSGSIZE when a
 * process pool's max_message cannot hold it (the task then fails with
 * -EMSGSIZE unless it sets a shorter result), -ENOMEM. Call it only from
 * the task that got out, while it runs. */
MT_EXPORT int mt_task_return(mt_task_out *out, const void *data, size_t len);

/* mt_task_result_buffer - room for a len-byte result, to be written in
 * place (saves the copy of mt_task_return). Returns NULL when it does not
 * fit (process pools) or memory is short; the result is then unchanged. */
MT_EXPORT void *mt_task_result_buffer(mt_task_out *out, size_t len);

/* ---- task registration: the same name for a task on every rank ---- */

/* A registered task: its name and function. The macros below make one
 * in static storage; the other fields are the registry's. */
typedef struct mt_task_entry {
	const char *name; /* the same on every process of the program */
	mt_task_fn fn;
	/* The registry's own; zero before registration. */
	unsigned long long id;
	struct mt_task_entry *next;
	int state;
} mt_task_entry;

/* MT_TASK_REGISTER(fn) - register the task function fn (of this file,
 * static or not) under its own name, at program load (a constructor), so
 * that an MPI pool can send it by name and every rank runs the same
 * function whatever its address there. Use it at file scope, once per
 * function, after fn is declared. MT_TASK_REGISTER_AS(fn, "name") gives
 * another name (two functions named alike in different files need it:
 * a name that two different functions registered is refused for both). */
#define MT_TASK_REGISTER_AS(fn, task_name)                                                         	static mt_task_entry mt__task_entry_##fn = {task_name, fn, 0, 0, 0};                       	__attribute__((constructor)) static void mt__task_register_##fn(void)                      	{                                                                                          		mt_task_register(&mt__task_entry_##fn);                                            	}
#define MT_TASK_REGISTER(fn) MT_TASK_REGISTER_AS(fn, #fn)

/* mt_task_register - add entry (a name and a function, in storage that
 * outlives its use: the macros' static one) to the registry of tasks
 * that MPI pools send by name. Registering the same function under the
 * same name again is harmless. Returns 0, -EINVAL (no name or function),
 * -ENOTUNIQ (another function has that name, or one whose 63-bit hash
 * is the same: neither can then be sent by name). Safe from any thread. */
MT_EXPORT int mt_task_register(mt_task_entry *entry);

/* mt_task_lookup - the function registered under name, or NULL when
 * there is none (or two functions claimed it). Safe from any thread. */
MT_EXPORT mt_task_fn mt_task_lookup(const char *name);

/* ---- pools ---- */

enum {
	MT_POOL_THREAD,	 /* threads of this process: multiprocessing.dummy */
	MT_POOL_PROCESS, /* forked worker processes: multiprocessing.Pool */
	MT_POOL_MPI,	 /* the other ranks of an MPI job: mpi4py.futures'
			  * MPIPoolExecutor (libmtask_mpi; docs/cluster.md) */
};

/* What mt_pool_new returns on an MPI worker rank once it has served the
 * root's pool to its end: *pool is then NULL, and the rank has nothing
 * more to do with that pool (see mt_pool_new). */
#define MT_POOL_SERVED 1

/* Options for mt_pool_new; a NULL pointer means all defaults. */
typedef struct mt_pool_opts {
	int workers;	     /* 0: the number of CPUs the process may use (an
			      * MPI pool: every rank but the root) */
	mt_fn initializer;   /* run once by each worker before its first task */
	void *initarg;	     /* its argument (a process worker's own copy; an
			      * MPI rank's own object at that address) */
	unsigned max_tasks_per_worker; /* a worker ends after that many tasks
					* and is replaced; 0: never (not
					* for MPI pools: ranks are fixed) */
	double task_timeout; /* > 0: a task running longer has its worker
			      * killed and fails with -ETIMEDOUT (process
			      * pools; threads cannot be killed; an MPI pool
			      * stops using a rank that answers no task for
			      * that long, see docs/cluster.md) */
	size_t max_message;  /* process and MPI pools: the longest argument
			      * or result, in bytes; 0: 64 KiB */
	unsigned prefetch;   /* process and MPI pools: at most this many
			      * tasks queued to a worker ahead of the one it
			      * runs; 0: 256. The pool queues ahead only as
			      * many as cover ~0.2 ms of work (1 ms for MPI;
			      * none for longer tasks, so a task never waits
			      * behind a long one while another worker
			      * idles), sent several to a message. */
} mt_pool_opts;

/* mt_pool_new - start a pool of kind MT_POOL_THREAD or MT_POOL_PROCESS
 * (Pool(processes, initializer, initargs, maxtasksperchild),
 * ThreadPoolExecutor(max_workers, initializer=...)). Its workers start at
 * once. Returns 0, -EINVAL (an unknown kind, workers < 0, a task_timeout on
 * a thread pool), -EPERM (a process pool inside a daemon process, such as
 * another pool's worker, as in Python), -ENOMEM, or the error of starting
 * a thread or a process.
 *
 * MT_POOL_MPI (a program linked with libmtask_mpi, run by mpirun): every
 * rank calls mt_pool_new alike, as MPI's collective calls are made. Rank 0
 * gets the pool and returns 0; each other rank serves rank 0's tasks in
 * this call until rank 0 frees or terminates the pool, then returns
 * MT_POOL_SERVED with *pool NULL. MPI is initialized here when the program
 * has not done it (and finalized at exit). Tasks must be registered
 * (MT_TASK_REGISTER). Also returns -ENOTSUP (libmtask without MPI, or an
 * MPI that gives less than MPI_THREAD_SERIALIZED), -ECHILD (a job of one
 * rank: no worker), -EBUSY (an MPI pool is open already), -EINVAL
 * (workers over the ranks there are, max_tasks_per_worker), -EIO (an MPI
 * call failed). One thread per process at a time. */
MT_EXPORT int mt_pool_new(mt_pool **pool, int kind, const mt_pool_opts *opts);

/* mt_pool_submit - queue fn with a copy of the len bytes at arg, and give
 * its future in *future (free it with mt_future_free; future may be NULL
 * when the result is not wanted: fire and forget). Returns 0, -EPIPE after
 * mt_pool_close, mt_pool_shutdown or mt_pool_terminate (Python's
 * RuntimeError), -EMSGSIZE (len over a process or MPI pool's
 * max_message), -ENOSYS (an MPI pool: fn is not registered), -ENOTUNIQ
 * (an MPI pool: fn's name is claimed twice), -EINVAL, -ENOMEM. */
MT_EXPORT int mt_pool_submit(mt_pool *pool, mt_task_fn fn, const void *arg, size_t len,
			     mt_future **future);

/* A result callback of mt_pool_apply_async: the result's bytes (valid
 * during the call) and the argument given. */
typedef void (*mt_result_cb)(const void *result, size_t len, void *arg);
/* An error callback: the task's error (see mt_future_error). */
typedef void (*mt_error_cb)(int error, void *arg);

/* mt_pool_apply_async - Pool.apply_async(fn, args, callback=...,
 * error_callback=...): mt_pool_submit, then callback(result) when the task
 * succeeds or error_callback(error) when it fails, either on the thread
 * that completes the future (see the file comment). Both may be NULL;
 * future may be NULL. Returns as mt_pool_submit. */
MT_EXPORT int mt_pool_apply_async(mt_pool *pool, mt_task_fn fn, const void *arg, size_t len,
				  mt_result_cb callback, mt_error_cb error_callback,
				  void *cb_arg, mt_future **future);

/* mt_pool_map - Pool.map / Executor.map on an array: runs fn on each of
 * the n items of item_size bytes at items, in chunks of chunksize items
 * per task (0: about four chunks per worker, as Python chooses), and
 * stores item i's result in results + i * result_size (results shorter
 * than result_size are zero-padded, longer ones are an error). A struct
 * item holding several values is starmap. Waits up to timeout seconds for
 * the whole map. Returns 0 when every item succeeded; else the error of
 * the first failing item in order (its index in *failed when failed is
 * not NULL), -EMSGSIZE for a result longer than result_size, -ETIMEDOUT,
 * or mt_pool_submit's errors. On a timeout or error the tasks not yet
 * started are cancelled. */
MT_EXPORT int mt_pool_map(mt_pool *pool, mt_task_fn fn, const void *items, size_t item_size,
			  size_t n, size_t chunksize, void *results, size_t result_size,
			  double timeout, size_t *failed);

typedef struct mt_imap mt_imap;

/* mt_pool_imap - Pool.imap (ordered true) or Pool.imap_unordered (false)
 * over the same array as mt_pool_map: the items are copied and sent in
 * chunks of chunksize (0 is 1, as Python's) at most a few per worker
 * ahead of the consumer, and results come out one at a time through
 * mt_imap_next, in item order or as they are done. Returns 0, -EINVAL,
 * -ENOMEM, or mt_pool_submit's errors. */
MT_EXPORT int mt_pool_imap(mt_pool *pool, mt_task_fn fn, const void *items, size_t item_size,
			   size_t n, size_t chunksize, bool ordered, mt_imap **it);

/* mt_imap_next - the next result, copied into buf (cap bytes), waiting up
 * to timeout seconds. Returns 1 with *len and *index (either may be NULL)
 * set to the result's length and its item's index; 0 when every item was
 * returned (StopIteration); the item's error when its task failed (*index
 * set; the iteration goes on with the next call); -EMSGSIZE when cap is
 * too small (*len set; the result stays for the next call); -ETIMEDOUT.
 * One thread at a time per iterator. */
MT_EXPORT int mt_imap_next(mt_imap *it, void *buf, size_t cap, size_t *len, size_t *index,
			   double timeout);

/* mt_imap_free - cancel the chunks that have not started and release
 * the iterator (running chunks finish; their results are dropped). NULL
 * is ignored. */
MT_EXPORT void mt_imap_free(mt_imap *it);

/* mt_pool_close - accept no more tasks (Pool.close); queued ones still
 * run. Returns 0. */
MT_EXPORT int mt_pool_close(mt_pool *pool);

/* mt_pool_join - after mt_pool_close or mt_pool_terminate, wait up to
 * timeout seconds until every task is done and every worker has ended
 * (Pool.join). Returns 0, -EINVAL when the pool is still open (Python's
 * ValueError), -ETIMEDOUT. */
MT_EXPORT int mt_pool_join(mt_pool *pool, double timeout);

/* mt_pool_terminate - stop at once (Pool.terminate): tasks that have not
 * started are cancelled; a process pool's workers are killed (SIGKILL)
 * and reaped, and the tasks they ran or had queued read -ECANCELED; a
 * thread pool's running tasks finish (a thread cannot be killed) and keep
 * their results; an MPI pool's tasks held by ranks read -ECANCELED at
 * once, and the ranks leave after the tasks they hold (whose results are
 * dropped). Returns 0 once every worker has ended. */
MT_EXPORT int mt_pool_terminate(mt_pool *pool);

/* mt_pool_shutdown - Executor.shutdown(wait, cancel_futures): close; if
 * cancel_futures, cancel the tasks that have not started; if wait, join.
 * Returns 0. */
MT_EXPORT int mt_pool_shutdown(mt_pool *pool, bool wait, bool cancel_futures);

/* mt_pool_resize - change the number of workers to workers (> 0) while
 * the pool runs: new workers start at once; surplus ones end after their
 * current task (process workers also run what was queued to them first).
 * Returns 0, -EINVAL, -EPIPE (closed), -ENOTSUP (an MPI pool: its ranks
 * are mpirun's), or the error of starting one. */
MT_EXPORT int mt_pool_resize(mt_pool *pool, int workers);

/* mt_pool_workers - the number of workers the pool keeps. */
MT_EXPORT int mt_pool_workers(const mt_pool *pool);

/* mt_pool_worker_pids - the process IDs of a process pool's live
 * workers: writes up to cap into out and returns how many there are (0
 * for a thread pool). A snapshot, for tests and tools. */
MT_EXPORT int mt_pool_worker_pids(mt_pool *pool, int *out, size_t cap);

/* mt_pool_free - shut the pool down as mt_pool_shutdown(pool, true,
 * false) does (queued tasks still run) unless it was terminated, and
 * release it. Futures stay valid until freed. NULL is ignored. */
MT_EXPORT void mt_pool_free(mt_pool *pool);

/* ---- futures (concurrent.futures.Future, AsyncResult) ---- */

/* mt_future_wait - wait up to timeout seconds until f is done (finished,
 * failed or cancelled). Returns 0 or -ETIMEDOUT (-EINVAL for NaN). */
MT_EXPORT int mt_future_wait(mt_future *f, double timeout);

/* mt_future_result - wait like mt_future_wait, then give the result:
 * *data (owned by f, valid until mt_future_free) and *len; either may be
 * NULL. Returns 0, -ETIMEDOUT (not done yet), or mt_future_error's code.
 * A task may itself return -ETIMEDOUT: mt_future_done tells them apart. */
MT_EXPORT int mt_future_result(mt_future *f, double timeout, const void **data, size_t *len);

/* mt_future_error - what a done future failed with, without waiting
 * (Future.exception): 0 for success or not done yet, the task's own error
 * code, -ECANCELED (cancelled or terminated), -EOWNERDEAD (its worker
 * process died while running it: see mt_future_exitcode), -ETIMEDOUT (it
 * ran past the pool's task_timeout), -EMSGSIZE (its result did not fit),
 * -ENOSYS (an MPI rank knew no task of that name). */
MT_EXPORT int mt_future_error(const mt_future *f);

/* mt_future_exitcode - after -EOWNERDEAD, how the worker ended: its exit
 * code, or -N when signal N killed it (-9 for SIGKILL); else MT_NOEXIT. */
MT_EXPORT int mt_future_exitcode(const mt_future *f);

/* mt_future_describe - a one-line account of f's outcome in buf, such as
 * "done", "pending", "task error: Invalid argument (EINVAL)" or "worker
 * died: killed by signal 9 (SIGKILL)". Returns buf. */
MT_EXPORT const char *mt_future_describe(const mt_future *f, char *buf, size_t size);

/* mt_future_done, mt_future_running, mt_future_cancelled - Future.done()
 * (finished, failed or cancelled), running() (handed to a worker and not
 * done; in a process pool that includes waiting in a worker's queue, as
 * ProcessPoolExecutor counts it), cancelled(). */
MT_EXPORT bool mt_future_done(const mt_future *f);
MT_EXPORT bool mt_future_running(const mt_future *f);
MT_EXPORT bool mt_future_cancelled(const mt_future *f);

/* mt_future_cancel - cancel f if no worker has it yet (Future.cancel):
 * returns 0 when f is cancelled (now or before; its done callbacks run in
 * this thread), -EALREADY when it runs or has finished. */
MT_EXPORT int mt_future_cancel(mt_future *f);

/* A done callback: the future (do not free it there) and the argument. */
typedef void (*mt_future_cb)(mt_future *f, void *arg);

/* mt_future_add_done_callback - call cb(f, arg) once f is done, on the
 * thread the file comment names; at once, in this thread, if it is done
 * already. Callbacks run in the order they were added. Returns 0, -EINVAL,
 * -ENOMEM. */
MT_EXPORT int mt_future_add_done_callback(mt_future *f, mt_future_cb cb, void *arg);

/* mt_future_fd - a descriptor that polls readable (POLLIN) once f is done,
 * to wait for a future beside sockets and process sentinels. Made on the
 * first call (an eventfd), owned by f. Returns it, or -EMFILE/-ENOMEM. */
MT_EXPORT int mt_future_fd(mt_future *f);

/* mt_future_free - release the caller's reference. A task still queued or
 * running goes on; its result is dropped. NULL is ignored. */
MT_EXPORT void mt_future_free(mt_future *f);

/* What mt_futures_wait waits for (concurrent.futures.wait's return_when). */
enum {
	MT_FIRST_COMPLETED,
	MT_FIRST_EXCEPTION, /* a failure or a cancel; else all done */
	MT_ALL_COMPLETED,
};

/* mt_futures_wait - wait up to timeout seconds until, among the n futures
 * (concurrent.futures.wait), one is done (MT_FIRST_COMPLETED), one failed
 * or all are done (MT_FIRST_EXCEPTION), or all are done
 * (MT_ALL_COMPLETED). Returns how many are done then (ask each with
 * mt_future_done), or -ETIMEDOUT when the condition still does not hold at
 * the deadline, -EINVAL. */
MT_EXPORT int mt_futures_wait(mt_future *const *fs, size_t n, int return_when, double timeout);

typedef struct mt_as_completed mt_as_completed;

/* mt_as_completed_new - concurrent.futures.as_completed over n futures:
 * mt_as_completed_next gives each as it is done (those done already first,
 * in array order). The futures must outlive the iterator. Returns 0,
 * -EINVAL, -ENOMEM. */
MT_EXPORT int mt_as_completed_new(mt_as_completed **ac, mt_future *const *fs, size_t n);

/* mt_as_completed_next - wait up to timeout seconds for the next done
 * future. Returns 1 with *f set, 0 when all were given, -ETIMEDOUT. */
MT_EXPORT int mt_as_completed_next(mt_as_completed *ac, mt_future **f, double timeout);

/* mt_as_completed_free - release the iterator. NULL is ignored. */
MT_EXPORT void mt_as_completed_free(mt_as_completed *ac);

#ifdef __cplusplus
}
#endif
#endif
