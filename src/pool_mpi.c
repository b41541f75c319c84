/* pool_mpi.c: the MPI backend of pool.h (mpi4py.futures' MPIPoolExecutor
 * in its static-world mode): every rank runs the same program; rank 0
 * keeps the pool and its futures, the other ranks serve its tasks inside
 * mt_pool_new until rank 0 ends the pool. Built into libmtask_mpi only.
 *
 * Transport. The pool works on its own duplicate of MPI_COMM_WORLD, with
 * MPI_ERRORS_RETURN so that a failing call becomes an error here rather
 * than an abort. Rank 0 sends a worker batches (TAG_BATCH: {first tag,
 * count} and count tasks {function's name number, length, bytes}); the
 * worker answers with replies (TAG_REPLY: {first tag, run time, count}
 * and count results {error, length, bytes}), in task order. Then STOP
 * one way and BYE the other end a worker's part; a worker leaves after
 * BYE, and rank 0 frees the communicator once every worker said it (or
 * was given up). Messages between two ranks on one communicator arrive
 * in the order sent, which is what the tags are checked against. STOP
 * has a receive of its own on the worker, so it overtakes batches: the
 * worker looks for it between tasks and drops what it has not begun.
 * Rank 0 sends it once a rank has answered everything (close), at once
 * (terminate: the futures it held read -ECANCELED), or to a rank it gives
 * up.
 *
 * Batches and pipelining. As in the process pool, rank 0 numbers each
 * worker's tasks, keeps the unanswered ones in a ring, and sends a worker
 * a new batch when it has run down to half its depth, so that it always
 * holds the next batch while it runs one: a worker keeps two receives
 * posted. The depth covers QUEUE_AHEAD_NS of work at the measured mean
 * run time (one task, for long tasks, so that none waits behind another
 * while a rank idles). A worker answers a batch in as few replies as fit
 * its reply buffer, and at least every FLUSH_NS, so that results of
 * longer tasks do not wait for the end of their batch.
 *
 * Threads. Only rank 0's MPI thread calls MPI while the pool runs (MPI
 * must give MPI_THREAD_SERIALIZED at least). It takes pending futures
 * under the pool's lock, sends batches, tests replies and settles
 * futures; it owns the ranks' books, so they need no lock. MPI has no
 * descriptor to sleep on, so while tasks are out the thread polls: it
 * spins a few dozen tests, then sleeps from BACKOFF_MIN_NS doubling up to
 * BACKOFF_MAX_NS (mpi4py's default backoff is 1 ms as well); with nothing
 * out it sleeps until a submit or a stop wakes it. A worker waits for its
 * next batch the same way.
 *
 * Failure. With Open MPI's and MPICH's defaults a rank that dies ends the
 * whole job (mpirun kills the others and says which rank died and how):
 * nothing is left to report here. Where the job goes on (Open MPI's
 * mpirun --enable-recovery), a dead rank answers nothing and MPI tells
 * nobody; a pool with a task_timeout then gives up a rank that has
 * answered nothing for that long: the task it runs fails with -ETIMEDOUT,
 * those queued behind it go back to the pool's queue (the STOP it is sent
 * makes a rank that is only slow drop them), it gets no more, and the
 * pool ends without waiting for it. An MPI call that fails on rank 0
 * (MPI_ERRORS_RETURN) fails every task out and every later one with -EIO,
 * and the pool stops waiting for ranks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "mtask/thread.h"
#include "pool_mpi.h"

/* ---- MPI itself ---- */

static _Atomic bool pool_open; /* one MPI pool per process at a time */
static struct mt_pool *_Atomic live_root_pool;

static void finalize_at_exit(void)
{
	struct mt_pool *p = atomic_load(&live_root_pool);
	if (p) /* left open: release the ranks, or MPI_Finalize waits for ever */
		mt_pool_terminate(p);
	int finalized = 0;
	MPI_Finalized(&finalized);
	if (!finalized)
		MPI_Finalize();
}

/* Initializes MPI unless the program did (then finalized at exit). */
static int ensure_mpi(void)
{
	int initialized = 0, finalized = 0, provided = MPI_THREAD_SINGLE;
	MPI_Initialized(&initialized);
	MPI_Finalized(&finalized);
	if (finalized)
		return -ENOTSUP;
	if (!initialized) {
		if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
			return -EIO;
		atexit(finalize_at_exit);
	} else {
		MPI_Query_thread(&provided);
	}
	/* Rank 0's MPI thread is not the one that initialized MPI. Every
	 * rank asks alike and gets alike, so every rank refuses alike. */
	return provided >= MPI_THREAD_SERIALIZED ? 0 : -ENOTSUP;
}

/* ---- rank 0: the books of each worker rank ---- */

struct rank {
	int rank;
	bool serving;		     /* among the pool's workers (else only stopped) */
	struct mt_future **inflight; /* ring of cap: tags done .. sent - 1 */
	uint64_t sent, done;
	uint64_t batch_end[MESSAGES_OUT]; /* ring: the tag after each batch out */
	uint64_t batches_sent, batches_done;
	unsigned char *batch[MESSAGES_OUT]; /* send buffers, by batch slot */
	MPI_Request batch_req[MESSAGES_OUT];
	unsigned char *reply; /* its posted receive's buffer */
	uint64_t progress_ns; /* it last answered, or was sent work idle */
	bool stop_sent, gone, lost;
};

/* A future to fail once the pool's lock is released. */
struct verdict {
	struct mt_future *f;
	int error;
	bool cancelled;
};

struct mpi_impl {
	MPI_Comm comm;
	struct rank *ranks;	/* world ranks 1 .. count */
	MPI_Request *reply_req; /* by rank index, for MPI_Testsome */
	int count;
	int *done_index;
	MPI_Status *done_status;
	size_t inflight_cap; /* prefetch + 1 */
	size_t depth;	     /* tasks out per worker now: see adapt_depth */
	uint64_t avg_run_ns;
	int error; /* -EIO once an MPI call failed */
	bool stopping, killing, cancelled_out;
	mt_cond work; /* submits and stops wake the MPI thread */
	mt_thread *thread;
	struct verdict *verdicts; /* room for every task that can be out */
	size_t verdict_count;
	mt_task_fn last_fn; /* the last function numbered, and its number */
	uint64_t last_id;
};

static struct mpi_impl *impl_of(struct mt_pool *p)
{
	return p->impl;
}

static size_t tasks_out(const struct rank *w)
{
	return (size_t)(w->sent - w->done);
}

static void add_verdict(struct mpi_impl *mi, struct mt_future *f, int error, bool cancelled)
{
	if (f)
		mi->verdicts[mi->verdict_count++] = (struct verdict){f, error, cancelled};
}

/* Fails every task rank w holds (verdicts), keeping the tags. */
static void fail_held(struct mpi_impl *mi, struct rank *w, int error, bool cancelled)
{
	for (uint64_t t = w->done; t < w->sent; t++) {
		struct mt_future **slot = &w->inflight[t % mi->inflight_cap];
		add_verdict(mi, *slot, error, cancelled);
		*slot = NULL;
	}
}

/* Settles the verdicts; the pool's lock not held. */
static void settle_verdicts(struct mpi_impl *mi)
{
	for (size_t i = 0; i < mi->verdict_count; i++) {
		struct verdict *v = &mi->verdicts[i];
		mt__future_settle(v->f, v->error, MT_NOEXIT, NULL, 0, v->cancelled);
	}
	mi->verdict_count = 0;
}

/* An MPI call failed: every task out fails, and every rank is given up. */
static void break_pool(struct mt_pool *p, const char *what, int code)
{
	struct mpi_impl *mi = impl_of(p);
	if (!mi->error)
		mi->error = mt__mpi_report_error(what, code);
	for (int i = 0; i < mi->count; i++) {
		fail_held(mi, &mi->ranks[i], -EIO, false);
		mi->ranks[i].lost = true;
	}
}

/* ---- rank 0: sending; p->lock held ---- */

static bool wants_batch(const struct mpi_impl *mi, const struct rank *w)
{
	return w->serving && !w->lost && !w->stop_sent &&
	       w->batches_sent - w->batches_done < MESSAGES_OUT &&
	       tasks_out(w) <= (mi->depth - 1) / 2;
}

static struct rank *least_loaded(struct mpi_impl *mi, int *takers)
{
	struct rank *best = NULL;
	*takers = 0;
	for (int i = 0; i < mi->count; i++) {
		struct rank *w = &mi->ranks[i];
		if (!wants_batch(mi, w))
			continue;
		++*takers;
		if (!best || tasks_out(w) < tasks_out(best))
			best = w;
	}
	return best;
}

static uint64_t name_number(struct mpi_impl *mi, mt_task_fn fn)
{
	if (fn != mi->last_fn) {
		uint64_t id = 0; /* not registered (submit refused it): -ENOSYS there */
		mt__task_name_id(fn, &id);
		mi->last_fn = fn;
		mi->last_id = id;
	}
	return mi->last_id;
}

/* Packs up to n pending tasks into batch slot of w; returns the bytes,
 * 0 when none was left. */
static size_t pack_batch(struct mt_pool *p, struct rank *w, unsigned char *buf, size_t n)
{
	struct mpi_impl *mi = impl_of(p);
	size_t size = mt__mpi_batch_size(p), at = sizeof(struct batch_head), count = 0;
	while (count < n && p->pending_count) {
		struct mt_future *f = mt__pool_take(p);
		if (!mt__future_claim(f))
			continue; /* cancelled: its canceller settles it */
		if (count && size - at < sizeof(struct task_head) + mt__mpi_padded(f->arg_len)) {
			mt__pool_requeue(p, &f, 1); /* the next batch's */
			break;
		}
		struct task_head th = {name_number(mi, f->fn), f->arg_len};
		memcpy(buf + at, &th, sizeof th);
		if (f->arg_len)
			memcpy(buf + at + sizeof th, f->arg, f->arg_len);
		at += sizeof th + mt__mpi_padded(f->arg_len);
		w->inflight[(w->sent + count++) % mi->inflight_cap] = f;
	}
	struct batch_head bh = {w->sent, (uint32_t)count, 0};
	memcpy(buf, &bh, sizeof bh);
	return count ? at : 0;
}

static bool send_batch(struct mt_pool *p, struct rank *w, size_t n)
{
	struct mpi_impl *mi = impl_of(p);
	int slot = (int)(w->batches_sent % MESSAGES_OUT);
	/* The batch that used this slot was answered: its send is done. */
	int err = MPI_Wait(&w->batch_req[slot], MPI_STATUS_IGNORE);
	if (!w->batch[slot] && !(w->batch[slot] = malloc(mt__mpi_batch_size(p))))
		return false;
	size_t len = err ? 0 : pack_batch(p, w, w->batch[slot], n);
	if (!len)
		goto out_failed;
	if (!tasks_out(w))
		w->progress_ns = mt__now_ns();
	w->sent += ((struct batch_head *)w->batch[slot])->count;
	w->batch_end[w->batches_sent++ % MESSAGES_OUT] = w->sent;
	err = MPI_Isend(w->batch[slot], (int)len, MPI_BYTE, w->rank, TAG_BATCH, mi->comm,
			&w->batch_req[slot]);
	if (!err)
		return true;
out_failed:
	if (err)
		break_pool(p, "sending a batch", err);
	return false;
}

/* Shares the pending tasks out among the ranks that want a batch, the
 * least loaded first, each getting at most its fair share. */
static void dispatch(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	struct rank *w;
	int takers;
	while (!mi->killing && !mi->error && p->pending_count && (w = least_loaded(mi, &takers))) {
		size_t share = (p->pending_count + (size_t)takers - 1) / (size_t)takers;
		size_t room = mi->depth - tasks_out(w);
		if (!send_batch(p, w, share < room ? share : room))
			break;
	}
}

/* A broken pool runs nothing: what is still pending fails. */
static void fail_pending(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	struct mt_future *f;
	while (mi->error && mi->verdict_count < (size_t)mi->count * mi->inflight_cap &&
	       (f = mt__pool_take(p)))
		if (mt__future_claim(f))
			add_verdict(mi, f, mi->error, false);
}

/* Tells w to leave. A rank given up may never take it: the send goes on
 * without us (MPI_Request_free), and nobody waits for its BYE. */
static void send_stop(struct mt_pool *p, struct rank *w)
{
	struct mpi_impl *mi = impl_of(p);
	MPI_Request req;
	w->stop_sent = true;
	int err = MPI_Isend(NULL, 0, MPI_BYTE, w->rank, TAG_STOP, mi->comm, &req);
	if (!err)
		err = w->lost ? MPI_Request_free(&req) : MPI_Wait(&req, MPI_STATUS_IGNORE);
	if (err && !w->lost)
		break_pool(p, "stopping a rank", err);
}

/* Stops the ranks that are done: the idle ones at once, the others once
 * stopping and every task of theirs answered (terminate: at once, their
 * tasks cancelled). */
static void send_stops(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	if (mi->killing && !mi->cancelled_out) {
		mi->cancelled_out = true;
		for (int i = 0; i < mi->count; i++)
			fail_held(mi, &mi->ranks[i], -ECANCELED, true);
	}
	for (int i = 0; i < mi->count; i++) {
		struct rank *w = &mi->ranks[i];
		bool done = mi->stopping && (mi->killing || (!tasks_out(w) && !p->pending_count));
		if (!w->stop_sent && (!w->serving || w->lost || done))
			send_stop(p, w);
	}
}

/* Gives up the ranks that answered nothing for task_timeout. */
static void give_up_late_ranks(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	if (p->opts.task_timeout <= 0)
		return;
	uint64_t limit = (uint64_t)(p->opts.task_timeout * 1e9), now = mt__now_ns();
	for (int i = 0; i < mi->count; i++) {
		struct rank *w = &mi->ranks[i];
		if (w->lost || !tasks_out(w) || now - w->progress_ns <= limit)
			continue;
		fprintf(stderr, "mtask: MPI pool: rank %d answered nothing for %.3g s: given up\n",
			w->rank, p->opts.task_timeout);
		/* The oldest task ran too long (or its rank died); those behind
		 * it never began (STOP makes the rank drop them if it lives):
		 * back to the queue, newest first so that they keep their order. */
		for (uint64_t t = w->sent; t-- > w->done + 1;) {
			struct mt_future **slot = &w->inflight[t % mi->inflight_cap];
			if (*slot)
				mt__pool_requeue(p, slot, 1);
			*slot = NULL;
		}
		fail_held(mi, w, -ETIMEDOUT, false);
		w->lost = true;
	}
	bool any = false;
	for (int i = 0; i < mi->count; i++)
		any |= mi->ranks[i].serving && !mi->ranks[i].lost;
	if (!any && !mi->error)
		mi->error = -ECHILD; /* no rank left: later tasks fail */
}

/* ---- rank 0: receiving ---- */

/* How many tasks each worker gets ahead of the one it runs: see the
 * file comment. Until the first replies tell, one. */
static void adapt_depth(struct mpi_impl *mi, uint64_t run_ns, uint32_t count)
{
	uint64_t mean = run_ns / count;
	mi->avg_run_ns = mi->avg_run_ns ? (7 * mi->avg_run_ns + mean) / 8 : mean + 1;
	uint64_t ahead = QUEUE_AHEAD_NS / (mi->avg_run_ns + 1);
	mi->depth = 1 + (ahead < mi->inflight_cap - 1 ? ahead : mi->inflight_cap - 1);
}

static int post_reply_receive(struct mpi_impl *mi, int i, size_t size)
{
	return MPI_Irecv(mi->ranks[i].reply, (int)size, MPI_BYTE, mi->ranks[i].rank, MPI_ANY_TAG,
			 mi->comm, &mi->reply_req[i]);
}

/* Settles the results of one reply of len bytes from w, in tag order.
 * Returns false when the reply breaks the protocol. */
static bool take_reply(struct mt_pool *p, struct rank *w, size_t len)
{
	struct mpi_impl *mi = impl_of(p);
	struct reply_head rh;
	if (len < sizeof rh)
		return false;
	memcpy(&rh, w->reply, sizeof rh);
	if (rh.first_tag != w->done || rh.count > tasks_out(w))
		return false;
	size_t at = sizeof rh;
	for (uint32_t k = 0; k < rh.count; k++) {
		struct result_head res;
		if (len - at < sizeof res)
			return false;
		memcpy(&res, w->reply + at, sizeof res);
		at += sizeof res;
		if (res.len > len - at)
			return false;
		struct mt_future **slot = &w->inflight[w->done % mi->inflight_cap];
		struct mt_future *f = *slot;
		*slot = NULL;
		if (++w->done == w->batch_end[w->batches_done % MESSAGES_OUT])
			w->batches_done++;
		if (f) /* NULL: cancelled by terminate, or its rank given up */
			mt__future_settle(f, res.error, MT_NOEXIT, w->reply + at, res.len, false);
		at += mt__mpi_padded(res.len);
	}
	if (rh.count)
		adapt_depth(mi, rh.run_ns, rh.count);
	w->progress_ns = mt__now_ns();
	return true;
}

/* Tests every posted receive; handles what came. Returns how many
 * messages came, or -1 when the pool broke. */
static int collect_replies(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	int n = 0;
	int err = MPI_Testsome(mi->count, mi->reply_req, &n, mi->done_index, mi->done_status);
	if (err != MPI_SUCCESS) {
		mt_lock_acquire(&p->lock, -1);
		break_pool(p, "receiving replies", err);
		mt_lock_release(&p->lock);
		return -1;
	}
	for (int k = 0; n != MPI_UNDEFINED && k < n; k++) {
		int i = mi->done_index[k], len = 0;
		struct rank *w = &mi->ranks[i];
		if (mi->done_status[k].MPI_TAG == TAG_BYE) {
			w->gone = true;
			continue;
		}
		MPI_Get_count(&mi->done_status[k], MPI_BYTE, &len);
		bool ok = take_reply(p, w, (size_t)len);
		err = ok ? post_reply_receive(mi, i, mt__mpi_reply_size(p)) : MPI_ERR_OTHER;
		if (err) {
			mt_lock_acquire(&p->lock, -1);
			break_pool(p, ok ? "receiving replies" : "a reply out of order", err);
			mt_lock_release(&p->lock);
			return -1;
		}
	}
	return n == MPI_UNDEFINED ? 0 : n;
}

/* ---- rank 0: the MPI thread ---- */

static bool all_ranks_left(const struct mpi_impl *mi)
{
	for (int i = 0; i < mi->count; i++)
		if (!mi->ranks[i].gone && !mi->ranks[i].lost)
			return false;
	return true;
}

static bool any_task_out(const struct mpi_impl *mi)
{
	for (int i = 0; i < mi->count; i++)
		if (tasks_out(&mi->ranks[i]) && !mi->ranks[i].lost)
			return true;
	return false;
}

/* One turn under the lock: send, stop, give up; then settle. Returns
 * false once every rank has left. */
static bool send_turn(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	mt_lock_acquire(&p->lock, -1);
	dispatch(p);
	fail_pending(p);
	give_up_late_ranks(p);
	send_stops(p);
	/* Broken or not, the thread stays until stop: later submits fail. */
	bool more = !(mi->stopping && all_ranks_left(mi));
	mt_lock_release(&p->lock);
	settle_verdicts(mi);
	return more;
}

/* Waits for a reason to go on: a submit or a stop (mi->work), or, while
 * tasks are out, the next test after a backoff. */
static void idle_wait(struct mt_pool *p, unsigned idle)
{
	struct mpi_impl *mi = impl_of(p);
	if (idle < SPIN_TESTS)
		return;
	mt_lock_acquire(&p->lock, -1);
	bool nothing = !p->pending_count && !mi->stopping;
	if (nothing && !any_task_out(mi)) {
		mt_cond_wait(&mi->work, &p->lock, -1);
	} else if (nothing || !least_loaded(mi, &(int){0})) {
		mt_cond_wait(&mi->work, &p->lock, (double)mt__mpi_backoff_ns(idle) / 1e9);
	}
	mt_lock_release(&p->lock);
}

static int mpi_thread_main(void *arg)
{
	struct mt_pool *p = arg;
	prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
	unsigned idle = 0;
	while (send_turn(p)) {
		int got = collect_replies(p);
		idle = got ? 0 : idle + 1;
		if (!got)
			idle_wait(p, idle);
	}
	return 0;
}

/* ---- the backend ---- */

/* Lets the ranks waiting in serve go when rank 0 cannot start: STOP to
 * each, and its BYE. */
static void release_ranks(MPI_Comm comm, int size)
{
	for (int r = 1; r < size; r++) {
		MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, comm);
		MPI_Recv(NULL, 0, MPI_BYTE, r, TAG_BYE, comm, MPI_STATUS_IGNORE);
	}
}

static int root_start(struct mt_pool *p, MPI_Comm comm, int size)
{
	struct mpi_impl *mi = calloc(1, sizeof *mi);
	if (!mi)
		return -ENOMEM;
	p->impl = mi;
	*mi = (struct mpi_impl){.comm = comm,
				.count = size - 1,
				.depth = 1,
				.inflight_cap = (size_t)p->opts.prefetch + 1,
				.work = (mt_cond)MT_COND_INIT};
	mi->ranks = calloc((size_t)mi->count, sizeof *mi->ranks);
	mi->reply_req = calloc((size_t)mi->count, sizeof *mi->reply_req);
	mi->done_index = calloc((size_t)mi->count, sizeof *mi->done_index);
	mi->done_status = calloc((size_t)mi->count, sizeof *mi->done_status);
	mi->verdicts = calloc((size_t)mi->count * mi->inflight_cap, sizeof *mi->verdicts);
	int err = mi->ranks && mi->reply_req && mi->done_index && mi->done_status && mi->verdicts
			  ? 0
			  : -ENOMEM;
	for (int i = 0; !err && i < mi->count; i++) {
		struct rank *w = &mi->ranks[i];
		*w = (struct rank){.rank = i + 1, .serving = i < p->opts.workers};
		w->batch_req[0] = w->batch_req[1] = mi->reply_req[i] = MPI_REQUEST_NULL;
		w->inflight = calloc(mi->inflight_cap, sizeof *w->inflight);
		w->reply = malloc(mt__mpi_reply_size(p));
		err = w->inflight && w->reply ? 0 : -ENOMEM;
	}
	if (err) {
		release_ranks(comm, size);
		return err;
	}
	for (int i = 0; i < mi->count; i++)
		post_reply_receive(mi, i, mt__mpi_reply_size(p));
	mt_thread_opts opts = {.name = "PoolMPI", .daemon = true};
	if ((err = mt_thread_start(&mi->thread, mpi_thread_main, p, &opts))) {
		for (int i = 0; i < mi->count; i++) {
			MPI_Cancel(&mi->reply_req[i]);
			MPI_Wait(&mi->reply_req[i], MPI_STATUS_IGNORE);
		}
		release_ranks(comm, size);
	}
	return err;
}

static void mpi_destroy(struct mt_pool *p);

static int mpi_start(struct mt_pool *p)
{
	int err = ensure_mpi();
	if (err)
		return err;
	if (atomic_exchange(&pool_open, true))
		return -EBUSY;
	int size = 0, rank = 0;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	/* Every rank checks the same things, so that all refuse alike
	 * before the first collective call. */
	if (size < 2)
		err = -ECHILD;
	else if (p->opts.workers > size - 1 || p->opts.max_tasks_per_worker)
		err = -EINVAL;
	MPI_Comm comm = MPI_COMM_NULL;
	if (!err && MPI_Comm_dup(MPI_COMM_WORLD, &comm) != MPI_SUCCESS)
		err = -EIO;
	if (!err) {
		MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
		if (!p->opts.workers)
			p->opts.workers = size - 1;
		err = rank == ROOT ? root_start(p, comm, size) : mt__mpi_serve(p, comm);
	}
	if (rank == ROOT && !err) {
		atomic_store(&live_root_pool, p);
		return 0;
	}
	if (rank == ROOT)
		mpi_destroy(p);
	else if (comm != MPI_COMM_NULL)
		MPI_Comm_free(&comm);
	atomic_store(&pool_open, false);
	return err ? err : MT_POOL_SERVED;
}

static void mpi_wake(struct mt_pool *p)
{
	mt_cond_notify(&impl_of(p)->work, 1);
}

static int mpi_resize(struct mt_pool *p, int n)
{
	return -ENOTSUP; /* the ranks are mpirun's */
}

static void mpi_stop(struct mt_pool *p, bool now)
{
	struct mpi_impl *mi = impl_of(p);
	mt_lock_acquire(&p->lock, -1);
	mi->stopping = true;
	mi->killing |= now;
	mt_cond_notify_all(&mi->work);
	mt_lock_release(&p->lock);
	if (mi->thread) {
		mt_thread_join(mi->thread, -1);
		mt_thread_free(mi->thread);
		mi->thread = NULL;
	}
	/* Only ranks given up (or a broken pool) leave requests behind. */
	for (int i = 0; i < mi->count; i++) {
		struct rank *w = &mi->ranks[i];
		if (mi->reply_req[i] != MPI_REQUEST_NULL) {
			MPI_Cancel(&mi->reply_req[i]);
			MPI_Wait(&mi->reply_req[i], MPI_STATUS_IGNORE);
		}
		for (int k = 0; k < MESSAGES_OUT; k++) {
			if (w->batch_req[k] == MPI_REQUEST_NULL || !w->lost)
				MPI_Wait(&w->batch_req[k], MPI_STATUS_IGNORE);
			else if (MPI_Request_free(&w->batch_req[k]) == MPI_SUCCESS)
				w->batch[k] = NULL; /* MPI may still read it: kept */
		}
	}
	MPI_Comm_free(&mi->comm);
	atomic_store(&live_root_pool, NULL);
	atomic_store(&pool_open, false);
}

static void mpi_destroy(struct mt_pool *p)
{
	struct mpi_impl *mi = impl_of(p);
	if (!mi)
		return;
	for (int i = 0; mi->ranks && i < mi->count; i++) {
		free(mi->ranks[i].inflight);
		free(mi->ranks[i].reply);
		for (int k = 0; k < MESSAGES_OUT; k++)
			free(mi->ranks[i].batch[k]);
	}
	free(mi->ranks);
	free(mi->reply_req);
	free(mi->done_index);
	free(mi->done_status);
	free(mi->verdicts);
	free(mi);
	p->impl = NULL;
}

const struct mt__pool_backend mt__pool_mpi_backend = {
	.name = "mpi",
	.start = mpi_start,
	.wake = mpi_wake,
	.resize = mpi_resize,
	.stop = mpi_stop,
	.destroy = mpi_destroy,
	.pids = NULL,
	.bounded_messages = true,
	.named_tasks = true,
};
