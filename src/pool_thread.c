/* pool_thread.c: the thread backend of pool.h (multiprocessing.dummy,
 * ThreadPoolExecutor): worker threads that take futures straight off the
 * front's pending queue, under the pool's lock, and run them in this
 * process.
 *
 * A worker sleeps on `work` only when the queue is empty; a submit wakes
 * one (mt_cond wakes nobody when nobody sleeps). A worker that reached
 * max_tasks_per_worker starts its successor before it leaves; a resize
 * down asks the surplus workers to leave after their current task. Every
 * worker's handle is kept until stop joins it (ended ones are pruned as
 * new ones start), so that stop returns only once no worker runs. */
#include <errno.h>
#include <stdlib.h>

#include "mtask/thread.h"
#include "pool_internal.h"

struct thread_impl {
	mt_cond work;	    /* pending futures arrived, or a reason to leave */
	mt_thread **threads; /* every worker not joined yet */
	size_t count, cap;
	int live;	    /* workers running their loop */
	int retire;	    /* workers asked to leave (resize down) */
	bool stopping;	    /* leave once the queue is empty */
	struct mt_pool *pool;
};

static int worker_main(void *arg);

/* Forgets the handles of workers that ended; p->lock held. */
static void prune_ended(struct thread_impl *t)
{
	size_t kept = 0;
	for (size_t i = 0; i < t->count; i++) {
		if (mt_thread_join(t->threads[i], 0) == 0)
			mt_thread_free(t->threads[i]);
		else
			t->threads[kept++] = t->threads[i];
	}
	t->count = kept;
}

/* Starts one worker; p->lock held. */
static int start_worker(struct thread_impl *t)
{
	prune_ended(t);
	if (t->count == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;
		mt_thread **more = realloc(t->threads, cap * sizeof *more);
		if (!more)
			return -ENOMEM;
		t->threads = more;
		t->cap = cap;
	}
	mt_thread_opts opts = {.name = "PoolWorker", .daemon = true};
	int err = mt_thread_start(&t->threads[t->count], worker_main, t->pool, &opts);
	if (err)
		return err;
	t->count++;
	t->live++;
	return 0;
}

/* The next future to run, or NULL when this worker should leave;
 * p->lock held. */
static struct mt_future *next_task(struct mt_pool *p, struct thread_impl *t)
{
	for (;;) {
		if (t->retire > 0) {
			t->retire--;
			return NULL;
		}
		struct mt_future *f = mt__pool_take(p);
		if (f && mt__future_claim(f))
			return f;
		if (f)
			continue; /* cancelled: its canceller settles it */
		if (t->stopping)
			return NULL;
		mt_cond_wait(&t->work, &p->lock, -1);
	}
}

static void run_task(struct mt_future *f)
{
	struct mt_task_out out = {.growable = true};
	int err = mt__task_run(f->fn, f->arg, f->arg_len, &out);
	mt__future_settle_owned(f, err, out.buf, out.len);
}

static int worker_main(void *arg)
{
	struct mt_pool *p = arg;
	struct thread_impl *t = p->impl;
	if (p->opts.initializer)
		p->opts.initializer(p->opts.initarg);
	unsigned done = 0, max = p->opts.max_tasks_per_worker;
	mt_lock_acquire(&p->lock, -1);
	struct mt_future *f;
	while ((f = next_task(p, t))) {
		mt_lock_release(&p->lock);
		run_task(f);
		mt_lock_acquire(&p->lock, -1);
		if (max && ++done == max) {
			if (!t->stopping)
				start_worker(t); /* the successor; on failure the
						  * others go on */
			break;
		}
	}
	t->live--;
	mt_cond_notify_all(&t->work); /* a stop may wait for live == 0 */
	mt_lock_release(&p->lock);
	return 0;
}

static int thread_start(struct mt_pool *p)
{
	struct thread_impl *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->work = (mt_cond)MT_COND_INIT;
	t->pool = p;
	p->impl = t;
	int err = 0;
	mt_lock_acquire(&p->lock, -1);
	for (int i = 0; i < p->opts.workers && !err; i++)
		err = start_worker(t);
	mt_lock_release(&p->lock);
	if (err) {
		p->backend->stop(p, true);
		p->backend->destroy(p);
	}
	return err;
}

static void thread_wake(struct mt_pool *p)
{
	struct thread_impl *t = p->impl;
	mt_cond_notify(&t->work, 1);
}

static int thread_resize(struct mt_pool *p, int n)
{
	struct thread_impl *t = p->impl;
	int err = 0;
	int have = t->live - t->retire;
	for (; have < n && !err; have++)
		err = t->retire > 0 ? (t->retire--, 0) : start_worker(t);
	if (have > n) {
		t->retire += have - n;
		mt_cond_notify_all(&t->work);
	}
	return err;
}

static void thread_stop(struct mt_pool *p, bool now)
{
	(void)now; /* threads cannot be killed: running tasks finish */
	struct thread_impl *t = p->impl;
	mt_lock_acquire(&p->lock, -1);
	t->stopping = true;
	mt_cond_notify_all(&t->work);
	mt_lock_release(&p->lock);
	/* New workers start only under the lock and not once stopping, so
	 * the handles seen here are all there will be. */
	for (size_t i = 0; i < t->count; i++) {
		mt_thread_join(t->threads[i], -1);
		mt_thread_free(t->threads[i]);
	}
	t->count = 0;
}

static void thread_destroy(struct mt_pool *p)
{
	struct thread_impl *t = p->impl;
	if (!t)
		return;
	free(t->threads);
	free(t);
	p->impl = NULL;
}

const struct mt__pool_backend mt__pool_thread_backend = {
	.name = "thread",
	.start = thread_start,
	.wake = thread_wake,
	.resize = thread_resize,
	.stop = thread_stop,
	.destroy = thread_destroy,
	.pids = NULL,
};
