/* pool_process.c: the process backend of pool.h (multiprocessing.Pool,
 * ProcessPoolExecutor) whose workers may die at any instant without a
 * task being lost or run twice.
 *
 * Transport. Each worker has its own request ring, an mt_ipc_queue of
 * MESSAGES_OUT messages that only the parent puts into; every worker puts
 * its results into one shared result ring that only the parent's result
 * thread gets from. A request is a batch: {first tag, count} and count
 * tasks {function, length, bytes}, tagged first tag, first tag + 1, ...;
 * a result is {worker, generation, tag, error, run time, bytes}, one per
 * task. Both rings are crash-safe: a message whose put returned is
 * received exactly once, whoever dies.
 *
 * Batches. Tiny tasks cost what their messages and wake-ups cost, so the
 * parent sends them several to a message: a worker that has run down to
 * half its depth (see adapt_depth) is sent the pending tasks up to its
 * depth, its fair share of them, in one message, while it still has the
 * previous one to run; a worker that finds its ring empty so finds, most
 * of the time, a whole batch there in one get. Answers stay one message
 * per task, put before the next task begins: that order is what the
 * crash accounting below stands on.
 *
 * Knowing what a dead worker held. The parent numbers the tasks it sends
 * to each worker (the tag: 0, 1, 2, ...) and keeps them, in order, in the
 * worker's in-flight ring: sent - done of them are out. A worker takes
 * batches in order, runs their tasks in order and answers each before it
 * begins the next, so results arrive as done, done + 1, ... . When a
 * worker dies, the monitor thread (which polls the workers' pidfds) reaps
 * it and puts a DIED message into the result ring. Everything the worker
 * had put is ahead of that message, so when the result thread reads it,
 * every result the worker committed has been handled. The result thread
 * then takes back the batches still in the dead worker's request ring
 * (tasks it never started). Of the unanswered tasks not among them, which
 * belong to the batch the worker had taken, only the first (tag done) can
 * have begun: it was running, or had just finished without its answer
 * committed, and fails with -EOWNERDEAD and the worker's exit code; the
 * ones after it never began. Every task but that one goes back to the
 * head of the pending queue, in order, and a new worker takes the dead
 * one's place. No slot in shared memory has to be written by the worker
 * at the right moment: the rings' own commits are the only points that
 * matter. (Answering a batch in one message would save puts, but a death
 * then would lose the answers of tasks that had run, or run them twice.)
 *
 * Timeouts. With a task_timeout, a worker writes the tag and start time
 * of the task it runs into its page of shared memory, and the monitor,
 * waking a few times per timeout, kills a worker whose task ran too long
 * and remembers the tag; the dead task then fails with -ETIMEDOUT rather
 * than -EOWNERDEAD. (If the task ended in the instant between the look and
 * the kill, the worker's next task is the one that dies: it reads
 * -EOWNERDEAD, signal 9.)
 *
 * Threads. The result thread does all the bookkeeping of results and
 * deaths, forks replacements and settles futures; the monitor only reaps
 * and reports. Batches go to workers from submit (to an idle worker) and
 * from the result thread (as workers run down), under the pool's lock. Stopping closes the request
 * rings (workers leave once they are empty) or kills the workers; either way the DIED messages let
 * the result thread account for the last tasks, and the threads stop once no worker is left. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mtask/ipc.h"
#include "mtask/process.h"
#include "mtask/thread.h"
#include "pool_internal.h"

#define RESULT_RING_SIZE 1024 /* results in flight, across workers */
#define MESSAGES_OUT 2	      /* batches out per worker: one it runs, one waiting */
#define ALIGN 16u	      /* of a task's bytes in a batch, as malloc's */

enum reply_kind { REPLY_RESULT, REPLY_DIED, REPLY_STOP };

/* A request message: a batch of count tasks tagged first_tag, first_tag +
 * 1, ...; each is a task_head and its bytes, padded to ALIGN. */
struct batch_head {
	uint64_t first_tag;
	uint32_t count;
	uint32_t unused;
};

struct task_head {
	uint64_t fn; /* mt__task_fn_id */
	uint64_t len;
};

static size_t padded(size_t len)
{
	return (len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

struct reply {
	uint32_t kind;
	uint32_t worker;
	uint32_t generation;
	int32_t error; /* the task's, or REPLY_DIED's exit code */
	uint64_t tag;
	uint64_t run_ns; /* how long the task ran */
};

/* A worker's page of shared memory: what it runs now, for timeouts. */
struct worker_page {
	_Atomic uint64_t running; /* tag + 1; 0 between tasks */
	_Atomic uint64_t started_ns;
};

struct worker {
	int index;
	uint32_t generation;
	mt_process *proc;
	mt_ipc_queue *requests;
	struct worker_page *page;
	struct mt_future **inflight; /* ring of cap: tags done .. sent - 1 */
	uint64_t sent, done;
	uint64_t batch_end[MESSAGES_OUT]; /* ring: the tag after each batch out */
	uint64_t batches_sent, batches_done;
	uint64_t budget;	/* tasks it may still be sent */
	uint64_t timed_out_tag; /* tag + 1 the monitor killed it for */
	bool retiring;		/* no more tasks: its ring is closed */
	bool dead;		/* reaped by the monitor */
	/* What the child reads (its own copy of this record). */
	mt_ipc_queue *results;
	struct mt_pool *pool;
};

struct process_impl {
	mt_ipc_queue *results;
	struct worker **workers; /* by index; NULL where none */
	int slots;		 /* entries of workers */
	int live;		 /* workers not yet accounted dead */
	uint32_t generations;
	size_t inflight_cap; /* prefetch + 1 */
	size_t depth;	     /* tasks out per worker now: see adapt_depth */
	uint64_t avg_run_ns; /* a moving average of tasks' run times */
	bool stopping, killing;
	int wakefd; /* eventfd: the monitor rereads the workers or stops */
	mt_thread *collector, *monitor;
	unsigned char *buf;	 /* the result thread's receive buffer */
	unsigned char *send_buf; /* dispatch's, under p->lock */
	size_t buf_size;
};

static struct process_impl *impl_of(struct mt_pool *p)
{
	return p->impl;
}

/* The longest message either way: one task's or result's bytes and
 * their headers. */
static size_t message_size(const struct mt_pool *p)
{
	size_t request =
		sizeof(struct batch_head) + sizeof(struct task_head) + padded(p->opts.max_message);
	size_t reply = sizeof(struct reply) + p->opts.max_message;
	return request > reply ? request : reply;
}

/* ---- the worker's side ---- */

static uint64_t now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void note_running(struct worker_page *page, uint64_t tag, uint64_t start)
{
	if (!page)
		return;
	atomic_store(&page->started_ns, start);
	atomic_store(&page->running, tag + 1);
}

/* Runs task tag (len bytes at arg) into reply_buf and puts its reply:
 * each task is answered before the next one starts, which is what lets
 * the parent tell, when a worker dies, the one task it was running from
 * those of its batch it never began. */
static int serve(struct worker *w, const struct task_head *th, const unsigned char *arg,
		 uint64_t tag, unsigned char *reply_buf, size_t reply_cap)
{
	uint64_t start = now_ns();
	note_running(w->page, tag, start);
	struct mt_task_out out;
	mt__task_out_fixed(&out, reply_buf + sizeof(struct reply),
			   reply_cap - sizeof(struct reply));
	int err = mt__task_run(mt__task_fn_from_id(th->fn), arg, (size_t)th->len, &out);
	struct reply rp = {REPLY_RESULT, (uint32_t)w->index, w->generation, err,
			   tag,		 now_ns() - start};
	memcpy(reply_buf, &rp, sizeof rp);
	if (w->page)
		atomic_store(&w->page->running, 0);
	return mt_ipc_queue_put(w->results, reply_buf, sizeof rp + (err ? 0 : out.len), -1);
}

/* Runs a batch of len bytes, in order; returns how many tasks it had, or
 * -1 when a reply could not be put or the batch is malformed. */
static long serve_batch(struct worker *w, unsigned char *req, size_t len, unsigned char *reply,
			size_t reply_cap)
{
	struct batch_head bh;
	if (len < sizeof bh)
		return -1;
	memcpy(&bh, req, sizeof bh);
	size_t at = sizeof bh;
	for (uint32_t i = 0; i < bh.count; i++) {
		struct task_head th;
		if (len - at < sizeof th)
			return -1;
		memcpy(&th, req + at, sizeof th);
		at += sizeof th;
		if (th.len > len - at ||
		    serve(w, &th, req + at, bh.first_tag + i, reply, reply_cap))
			return -1;
		at += padded((size_t)th.len);
	}
	return bh.count;
}

static int worker_main(void *arg)
{
	struct worker *w = arg;
	const mt_pool_opts *opts = &w->pool->opts;
	signal(SIGINT, SIG_IGN); /* a Ctrl-C is the parent's to handle */
	if (opts->initializer)
		opts->initializer(opts->initarg);
	size_t size = message_size(w->pool);
	unsigned char *req = malloc(size), *reply = malloc(size);
	if (!req || !reply)
		return 1;
	/* The parent sends no more than max_tasks_per_worker tasks. */
	unsigned max = opts->max_tasks_per_worker;
	for (uint64_t done = 0; !max || done < max;) {
		size_t len;
		if (mt_ipc_queue_get(w->requests, req, size, &len, -1))
			break; /* closed and empty: leave */
		long n = serve_batch(w, req, len, reply, size);
		if (n < 0)
			return 1;
		done += (uint64_t)n;
	}
	return 0;
}

/* ---- the parent's side: workers ---- */

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	mt_process_free(w->proc);
	mt_ipc_queue_free(w->requests);
	if (w->page)
		munmap(w->page, sizeof *w->page);
	free(w->inflight);
	free(w);
}

static void wake_monitor(struct process_impl *pi)
{
	eventfd_write(pi->wakefd, 1);
}

/* Forks a worker at index; p->lock held (or the pool not yet shared). */
static int worker_start(struct mt_pool *p, int index)
{
	struct process_impl *pi = impl_of(p);
	struct worker *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->index = index;
	w->generation = ++pi->generations;
	w->results = pi->results;
	w->pool = p;
	w->budget = p->opts.max_tasks_per_worker ? p->opts.max_tasks_per_worker : UINT64_MAX;
	w->inflight = calloc(pi->inflight_cap, sizeof *w->inflight);
	int err = w->inflight ? mt_ipc_queue_new(&w->requests, MESSAGES_OUT, message_size(p))
			      : -ENOMEM;
	if (!err && p->opts.task_timeout > 0) {
		w->page = mmap(NULL, sizeof *w->page, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		err = w->page == MAP_FAILED ? -ENOMEM : 0;
		if (err)
			w->page = NULL;
	}
	mt_process_opts opts = {.name = NULL, .daemon = true};
	if (!err)
		err = mt_process_start(&w->proc, worker_main, w, &opts);
	if (err) {
		worker_free(w);
		return err;
	}
	pi->workers[index] = w;
	pi->live++;
	wake_monitor(pi);
	return 0;
}

static int grow_slots(struct process_impl *pi, int n)
{
	if (n <= pi->slots)
		return 0;
	struct worker **more = realloc(pi->workers, (size_t)n * sizeof *more);
	if (!more)
		return -ENOMEM;
	for (int i = pi->slots; i < n; i++)
		more[i] = NULL;
	pi->workers = more;
	pi->slots = n;
	return 0;
}

/* Stops sending w tasks; it leaves once its ring is empty. */
static void worker_retire(struct worker *w)
{
	w->retiring = true;
	mt_ipc_queue_close(w->requests);
}

/* ---- dispatch: pending futures to workers with room; p->lock held ---- */

static size_t tasks_out(const struct worker *w)
{
	return (size_t)(w->sent - w->done);
}

/* Whether w takes a new batch: it has a batch slot free and has run down
 * to half its depth (so that batches are large and a worker always has
 * the next one waiting while it runs one), or to nothing when the depth
 * is 1 (long tasks: none waits behind another). */
static bool wants_batch(const struct process_impl *pi, const struct worker *w)
{
	return !w->retiring && !w->dead && w->budget &&
	       w->batches_sent - w->batches_done < MESSAGES_OUT &&
	       tasks_out(w) <= (pi->depth - 1) / 2;
}

static struct worker *least_loaded(struct process_impl *pi, int *takers)
{
	struct worker *best = NULL;
	*takers = 0;
	for (int i = 0; i < pi->slots; i++) {
		struct worker *w = pi->workers[i];
		if (!w || !wants_batch(pi, w))
			continue;
		++*takers;
		if (!best || tasks_out(w) < tasks_out(best))
			best = w;
	}
	return best;
}

/* Packs up to n pending tasks into one batch for w and puts it; false
 * when nothing was sent. */
static bool send_batch(struct mt_pool *p, struct worker *w, size_t n)
{
	struct process_impl *pi = impl_of(p);
	size_t size = message_size(p), at = sizeof(struct batch_head), count = 0;
	unsigned char *buf = pi->send_buf;
	while (count < n && p->pending_count) {
		struct mt_future *f = mt__pool_take(p);
		if (!mt__future_claim(f))
			continue; /* cancelled: its canceller settles it */
		if (count && size - at < sizeof(struct task_head) + padded(f->arg_len)) {
			mt__pool_requeue(p, &f, 1); /* the next batch's */
			break;
		}
		struct task_head th = {mt__task_fn_id(f->fn), f->arg_len};
		memcpy(buf + at, &th, sizeof th);
		if (f->arg_len)
			memcpy(buf + at + sizeof th, f->arg, f->arg_len);
		at += sizeof th + padded(f->arg_len);
		w->inflight[(w->sent + count++) % pi->inflight_cap] = f;
	}
	if (!count)
		return false;
	struct batch_head bh = {w->sent, (uint32_t)count, 0};
	memcpy(buf, &bh, sizeof bh);
	if (mt_ipc_queue_put(w->requests, buf, at, 0)) {
		/* cannot happen: w had a batch slot free */
		for (size_t i = count; i-- > 0;)
			mt__pool_requeue(p, &w->inflight[(w->sent + i) % pi->inflight_cap], 1);
		return false;
	}
	w->sent += count;
	w->budget -= count;
	w->batch_end[w->batches_sent++ % MESSAGES_OUT] = w->sent;
	return true;
}

/* Shares the pending tasks out among the workers that want a batch, the
 * least loaded first, each getting at most its fair share. */
static void dispatch(struct mt_pool *p)
{
	struct process_impl *pi = impl_of(p);
	struct worker *w;
	int takers;
	while (!pi->killing && p->pending_count && (w = least_loaded(pi, &takers))) {
		size_t share = (p->pending_count + (size_t)takers - 1) / (size_t)takers;
		size_t room = pi->depth - tasks_out(w);
		size_t n = share < room ? share : room;
		if (!send_batch(p, w, n < w->budget ? n : (size_t)w->budget))
			break;
	}
}

/* ---- the result thread ---- */

struct verdict {
	struct mt_future *f;
	int error, exitcode;
	bool cancelled;
};

/* How many tasks each worker gets ahead of the one it runs: enough to
 * cover QUEUE_AHEAD_NS of work, so that tiny tasks never leave a worker
 * waiting for the parent's next send, and none for tasks longer than
 * that, which would otherwise wait behind a long one while another worker
 * idles. Until the first results tell, none. */
#define QUEUE_AHEAD_NS 200000u
static void adapt_depth(struct process_impl *pi, uint64_t run_ns)
{
	pi->avg_run_ns = pi->avg_run_ns ? (7 * pi->avg_run_ns + run_ns) / 8 : run_ns + 1;
	uint64_t ahead = QUEUE_AHEAD_NS / (pi->avg_run_ns + 1);
	pi->depth = 1 + (ahead < pi->inflight_cap - 1 ? ahead : pi->inflight_cap - 1);
}

/* Handles one result; returns the future to settle, p->lock held. */
static struct mt_future *take_result(struct mt_pool *p, const struct reply *rp)
{
	struct process_impl *pi = impl_of(p);
	struct worker *w = rp->worker < (uint32_t)pi->slots ? pi->workers[rp->worker] : NULL;
	if (!w || w->generation != rp->generation || rp->tag != w->done || w->done == w->sent)
		return NULL; /* cannot happen: the protocol keeps order */
	struct mt_future *f = w->inflight[w->done % pi->inflight_cap];
	w->done++;
	if (w->done == w->batch_end[w->batches_done % MESSAGES_OUT])
		w->batches_done++;
	adapt_depth(pi, rp->run_ns);
	dispatch(p);
	return f;
}

/* Takes back the batches still queued to dead w: they never began.
 * Returns how many tasks they held. */
static size_t take_back_queued(struct mt_pool *p, struct worker *w)
{
	size_t size = message_size(p), len, k = 0;
	unsigned char *buf = malloc(size);
	struct batch_head bh;
	while (buf && mt_ipc_queue_get(w->requests, buf, size, &len, 0) == 0)
		if (len >= sizeof bh && (memcpy(&bh, buf, sizeof bh), true))
			k += bh.count;
	free(buf);
	return k;
}

/* Accounts for dead worker rp->worker. Its answers are all handled (the
 * DIED message comes after them), so of its unanswered tasks, done ..
 * sent - 1, those still in its ring never began, and so did the rest of
 * the batch it had taken but for the first, the one it was running: that
 * one fails, the others go back to the queue (or are cancelled, when the
 * pool terminates); a successor starts. Fills v; p->lock held. */
static void handle_death(struct mt_pool *p, const struct reply *rp, struct verdict *v,
			 struct mt_future ***orphans, size_t *orphan_count)
{
	struct process_impl *pi = impl_of(p);
	struct worker *w = pi->workers[rp->worker];
	if (!w || w->generation != rp->generation)
		return;
	size_t unanswered = tasks_out(w), queued = take_back_queued(p, w);
	uint64_t first_back = w->done + (queued < unanswered); /* past the one it ran */
	if (queued < unanswered) {
		v->f = w->inflight[w->done % pi->inflight_cap];
		bool timed_out = w->timed_out_tag == w->done + 1;
		v->error = pi->killing ? -ECANCELED : timed_out ? -ETIMEDOUT : -EOWNERDEAD;
		v->exitcode = rp->error;
		v->cancelled = pi->killing;
	}
	size_t back = (size_t)(w->sent - first_back);
	struct mt_future **fs = back ? malloc(back * sizeof *fs) : NULL;
	for (size_t i = 0; fs && i < back; i++)
		fs[i] = w->inflight[(first_back + i) % pi->inflight_cap];
	if (fs && pi->killing) { /* terminate: those are cancelled too */
		*orphans = fs;
		*orphan_count = back;
	} else if (fs) {
		mt__pool_requeue(p, fs, back);
		free(fs);
	}
	pi->workers[rp->worker] = NULL;
	pi->live--;
	bool replace = !w->retiring && !pi->stopping && !mt__pool_exiting();
	worker_free(w);
	if (replace)
		worker_start(p, rp->worker); /* on failure the others go on */
	dispatch(p);
	mt_cond_notify_all(&p->changed);
}

static void settle_orphans(struct mt_future **orphans, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mt__future_settle(orphans[i], -ECANCELED, MT_NOEXIT, NULL, 0, true);
	free(orphans);
}

/* One message from the result ring; false for REPLY_STOP. */
static bool handle_reply(struct mt_pool *p, const unsigned char *msg, size_t len)
{
	struct reply rp;
	memcpy(&rp, msg, sizeof rp);
	if (rp.kind == REPLY_STOP)
		return false;
	struct verdict v = {NULL, 0, MT_NOEXIT, false};
	struct mt_future **orphans = NULL;
	size_t orphan_count = 0;
	mt_lock_acquire(&p->lock, -1);
	if (rp.kind == REPLY_RESULT)
		v.f = take_result(p, &rp);
	else
		handle_death(p, &rp, &v, &orphans, &orphan_count);
	mt_lock_release(&p->lock);
	if (v.f && rp.kind == REPLY_RESULT)
		mt__future_settle(v.f, rp.error, MT_NOEXIT, msg + sizeof rp, len - sizeof rp,
				  false);
	else if (v.f)
		mt__future_settle(v.f, v.error, v.exitcode, NULL, 0, v.cancelled);
	settle_orphans(orphans, orphan_count);
	return true;
}

static int collector_main(void *arg)
{
	struct mt_pool *p = arg;
	struct process_impl *pi = impl_of(p);
	size_t len;
	while (mt_ipc_queue_get(pi->results, pi->buf, pi->buf_size, &len, -1) == 0 &&
	       len >= sizeof(struct reply) && handle_reply(p, pi->buf, len))
		;
	return 0;
}

/* ---- the monitor thread: reaps dead workers, enforces timeouts ---- */

struct watched {
	int index;
	uint32_t generation;
};

/* Fills fds (wakefd first) with the live workers' pidfds; p->lock held. */
static int watch_list(struct mt_pool *p, struct pollfd *fds, struct watched *who, int cap)
{
	struct process_impl *pi = impl_of(p);
	int n = 1;
	fds[0] = (struct pollfd){.fd = pi->wakefd, .events = POLLIN};
	for (int i = 0; i < pi->slots && n < cap; i++) {
		struct worker *w = pi->workers[i];
		if (!w || w->dead)
			continue;
		fds[n] = (struct pollfd){.fd = mt_process_fd(w->proc), .events = POLLIN};
		who[n++] = (struct watched){i, w->generation};
	}
	return n;
}

static void report_death(struct mt_pool *p, struct watched who)
{
	struct process_impl *pi = impl_of(p);
	mt_lock_acquire(&p->lock, -1);
	struct worker *w = pi->workers[who.index];
	bool ours = w && w->generation == who.generation && !w->dead;
	if (ours)
		w->dead = true;
	mt_process *proc = ours ? w->proc : NULL;
	mt_lock_release(&p->lock);
	if (!proc)
		return;
	/* The record stays until the result thread reads DIED: only it frees. */
	mt_process_join(proc, -1);
	struct reply rp = {
		REPLY_DIED, (uint32_t)who.index, who.generation, mt_process_exitcode(proc), 0, 0};
	mt_ipc_queue_put(pi->results, &rp, sizeof rp, -1);
}

/* Kills the workers whose task ran past the timeout; p->lock held. */
static void kill_overdue(struct mt_pool *p)
{
	struct process_impl *pi = impl_of(p);
	uint64_t limit = (uint64_t)(p->opts.task_timeout * 1e9), now = now_ns();
	for (int i = 0; i < pi->slots; i++) {
		struct worker *w = pi->workers[i];
		if (!w || w->dead || !w->page)
			continue;
		uint64_t running = atomic_load(&w->page->running);
		uint64_t started = atomic_load(&w->page->started_ns);
		if (running && now > started && now - started > limit && !w->timed_out_tag) {
			w->timed_out_tag = running;
			mt_process_kill(w->proc);
		}
	}
}

static int monitor_main(void *arg)
{
	struct mt_pool *p = arg;
	struct process_impl *pi = impl_of(p);
	double step = p->opts.task_timeout / 4;
	int timeout_ms = p->opts.task_timeout > 0 ? (int)(step < 0.001 ? 1
							  : step > 0.1 ? 100
								       : step * 1000)
						  : -1;
	for (;;) {
		mt_lock_acquire(&p->lock, -1);
		int cap = pi->slots + 1;
		struct pollfd *fds = malloc((size_t)cap * sizeof *fds);
		struct watched *who = malloc((size_t)cap * sizeof *who);
		int n = fds && who ? watch_list(p, fds, who, cap) : 0;
		bool stop = pi->stopping && pi->live == 0;
		mt_lock_release(&p->lock);
		if (stop || !n) {
			free(fds);
			free(who);
			return 0;
		}
		if (poll(fds, (nfds_t)n, timeout_ms) > 0) {
			eventfd_t ignored;
			if (fds[0].revents)
				eventfd_read(pi->wakefd, &ignored);
			for (int i = 1; i < n; i++)
				if (fds[i].revents)
					report_death(p, who[i]);
		}
		free(fds);
		free(who);
		if (timeout_ms > 0) {
			mt_lock_acquire(&p->lock, -1);
			kill_overdue(p);
			mt_lock_release(&p->lock);
		}
	}
}

/* ---- the backend ---- */

static int start_threads(struct mt_pool *p)
{
	struct process_impl *pi = impl_of(p);
	mt_thread_opts c = {.name = "PoolResults", .daemon = true};
	mt_thread_opts m = {.name = "PoolMonitor", .daemon = true};
	int err = mt_thread_start(&pi->collector, collector_main, p, &c);
	if (!err)
		err = mt_thread_start(&pi->monitor, monitor_main, p, &m);
	return err;
}

static int process_start(struct mt_pool *p)
{
	struct process_impl *pi = calloc(1, sizeof *pi);
	if (!pi)
		return -ENOMEM;
	p->impl = pi;
	pi->inflight_cap = (size_t)p->opts.prefetch + 1;
	pi->depth = 1;
	pi->buf_size = message_size(p);
	pi->buf = malloc(pi->buf_size);
	pi->send_buf = malloc(pi->buf_size);
	pi->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int err = !pi->buf || !pi->send_buf ? -ENOMEM : pi->wakefd < 0 ? -errno : 0;
	if (!err)
		err = mt_ipc_queue_new(&pi->results, RESULT_RING_SIZE, pi->buf_size);
	if (!err)
		err = grow_slots(pi, p->opts.workers);
	for (int i = 0; !err && i < p->opts.workers; i++)
		err = worker_start(p, i);
	if (!err)
		err = start_threads(p);
	if (err) {
		p->backend->stop(p, true);
		p->backend->destroy(p);
	}
	return err;
}

static void process_wake(struct mt_pool *p)
{
	dispatch(p);
}

static int process_resize(struct mt_pool *p, int n)
{
	struct process_impl *pi = impl_of(p);
	int have = 0, err = 0;
	for (int i = 0; i < pi->slots; i++) {
		struct worker *w = pi->workers[i];
		if (w && !w->retiring && have++ >= n)
			worker_retire(w);
	}
	for (int i = 0; have < n && !err; i++) {
		if (i >= pi->slots && (err = grow_slots(pi, i + 1)))
			break;
		if (!pi->workers[i] && !(err = worker_start(p, i)))
			have++;
	}
	dispatch(p);
	return err;
}

static void process_stop(struct mt_pool *p, bool now)
{
	struct process_impl *pi = impl_of(p);
	mt_lock_acquire(&p->lock, -1);
	pi->stopping = true;
	pi->killing = now;
	for (int i = 0; i < pi->slots; i++) {
		struct worker *w = pi->workers[i];
		if (!w)
			continue;
		worker_retire(w);
		if (now)
			mt_process_kill(w->proc);
	}
	while (pi->live > 0 && pi->collector && pi->monitor)
		mt_cond_wait(&p->changed, &p->lock, -1);
	mt_lock_release(&p->lock);
	if (pi->collector) {
		struct reply rp = {REPLY_STOP, 0, 0, 0, 0, 0};
		mt_ipc_queue_put(pi->results, &rp, sizeof rp, -1);
		mt_thread_join(pi->collector, -1);
		mt_thread_free(pi->collector);
		pi->collector = NULL;
	}
	if (pi->monitor) {
		wake_monitor(pi);
		mt_thread_join(pi->monitor, -1);
		mt_thread_free(pi->monitor);
		pi->monitor = NULL;
	}
}

static void process_destroy(struct mt_pool *p)
{
	struct process_impl *pi = impl_of(p);
	if (!pi)
		return;
	for (int i = 0; i < pi->slots; i++) { /* only after a failed start */
		struct worker *w = pi->workers[i];
		if (w && w->proc) {
			mt_process_kill(w->proc);
			mt_process_join(w->proc, -1);
		}
		worker_free(w);
	}
	free(pi->workers);
	mt_ipc_queue_free(pi->results);
	if (pi->wakefd >= 0)
		close(pi->wakefd);
	free(pi->buf);
	free(pi->send_buf);
	free(pi);
	p->impl = NULL;
}

static int process_pids(struct mt_pool *p, int *out, size_t cap)
{
	struct process_impl *pi = impl_of(p);
	int n = 0;
	for (int i = 0; i < pi->slots; i++) {
		struct worker *w = pi->workers[i];
		if (w && !w->dead) {
			if ((size_t)n < cap)
				out[n] = (int)mt_process_pid(w->proc);
			n++;
		}
	}
	return n;
}

const struct mt__pool_backend mt__pool_process_backend = {
	.name = "process",
	.start = process_start,
	.wake = process_wake,
	.resize = process_resize,
	.stop = process_stop,
	.destroy = process_destroy,
	.pids = process_pids,
	.bounded_messages = true,
};
