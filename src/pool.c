/* pool.c: the front every pool shares, whatever runs its tasks: making
 * and stopping pools (Pool's close/join/terminate, an executor's
 * shutdown), submitting, apply_async, resizing, and the queue of pending
 * futures the backends take their work from. pool_internal.h states the
 * contract between this front and the backends. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtask/process.h"
#include "pool_internal.h"

#define DEFAULT_MAX_MESSAGE (64u * 1024)
#define DEFAULT_PREFETCH 256u

int mt__pool_cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static _Atomic bool exiting;
static pthread_once_t exit_hook_once = PTHREAD_ONCE_INIT;

static void note_exit(void)
{
	atomic_store(&exiting, true);
}

static void install_exit_hook(void)
{
	atexit(note_exit);
}

bool mt__pool_exiting(void)
{
	return atomic_load(&exiting);
}

/* ---- results of tasks ---- */

/* Makes room for len bytes at out->base in a parent view. */
static void *view_result_buffer(mt_task_out *out, size_t len)
{
	mt_task_out *parent = out->parent;
	if (!mt_task_result_buffer(parent, out->base + len)) {
		out->too_big = parent->too_big;
		return NULL;
	}
	out->too_big = false;
	out->len = len;
	return parent->buf + out->base;
}

void *mt_task_result_buffer(mt_task_out *out, size_t len)
{
	if (!out)
		return NULL;
	if (out->parent)
		return view_result_buffer(out, len);
	if (len > out->cap) {
		size_t cap = out->growable && len < 2 * out->cap ? 2 * out->cap : len;
		void *bigger = out->growable ? realloc(out->buf, cap) : NULL;
		if (!bigger) {
			out->too_big = !out->growable;
			return NULL;
		}
		out->buf = bigger;
		out->cap = cap;
	}
	out->too_big = false;
	out->len = len;
	return out->buf ? out->buf : (void *)out; /* len 0: any non-NULL */
}

int mt_task_return(mt_task_out *out, const void *data, size_t len)
{
	if (!out || (len && !data))
		return -EINVAL;
	if (len && len <= out->cap && !out->parent) { /* it fits: map's items, mostly */
		memcpy(out->buf, data, len);
		out->len = len;
		out->too_big = false;
		return 0;
	}
	void *at = mt_task_result_buffer(out, len);
	if (!at)
		return out->too_big ? -EMSGSIZE : -ENOMEM;
	if (len)
		memcpy(at, data, len);
	return 0;
}

/* ---- the pending queue ---- */

struct mt_future *mt__pool_take(struct mt_pool *p)
{
	if (!mt__list_linked(&p->pending))
		return NULL;
	struct mt__list *first = p->pending.next;
	mt__list_del(first);
	p->pending_count--;
	return mt__list_entry(first, struct mt_future, link);
}

void mt__pool_requeue(struct mt_pool *p, struct mt_future **fs, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (!mt__future_unclaim(fs[i]))
			continue; /* settled meanwhile (terminate) */
		mt__list_add(&p->pending, &fs[i]->link);
		p->pending_count++;
	}
}

void mt__pool_forget(struct mt_pool *p, struct mt_future *f)
{
	mt_lock_acquire(&p->lock, -1);
	if (mt__list_linked(&f->link)) { /* cancelled while pending */
		mt__list_del(&f->link);
		p->pending_count--;
	}
	f->pool = NULL;
	if (--p->unresolved == 0)
		mt_cond_notify_all(&p->changed);
	mt_lock_release(&p->lock);
}

/* ---- making a pool ---- */

static int resolve_opts(mt_pool *p, int kind, const mt_pool_opts *opts)
{
	static const mt_pool_opts defaults;
	p->opts = opts ? *opts : defaults;
	if (p->opts.workers < 0 || p->opts.task_timeout < 0 ||
	    p->opts.task_timeout != p->opts.task_timeout)
		return -EINVAL;
	if (kind == MT_POOL_THREAD && p->opts.task_timeout > 0)
		return -EINVAL; /* a thread cannot be killed */
	if (kind == MT_POOL_PROCESS && mt_process_current_daemon())
		return -EPERM;
	if (!p->opts.workers && kind != MT_POOL_MPI) /* MPI: every other rank */
		p->opts.workers = mt__pool_cpu_count();
	if (!p->opts.max_message)
		p->opts.max_message = DEFAULT_MAX_MESSAGE;
	if (!p->opts.prefetch)
		p->opts.prefetch = DEFAULT_PREFETCH;
	return 0;
}

int mt_pool_new(mt_pool **out, int kind, const mt_pool_opts *opts)
{
	if (!out || kind < 0 || kind >= (int)MT_ARRAY_LEN(mt__pool_backends))
		return -EINVAL;
	*out = NULL;
	if (!mt__pool_backends[kind])
		return -ENOTSUP; /* MT_POOL_MPI in libmtask: link libmtask_mpi */
	pthread_once(&exit_hook_once, install_exit_hook);
	mt_pool *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	int err = resolve_opts(p, kind, opts);
	if (err)
		goto out_free;
	p->kind = kind;
	p->backend = mt__pool_backends[kind];
	p->lock = (mt_lock)MT_LOCK_INIT;
	p->changed = (mt_cond)MT_COND_INIT;
	mt__list_init(&p->pending);
	p->state = POOL_OPEN;
	/* An MPI worker rank serves inside start and answers MT_POOL_SERVED,
	 * having released what it made. */
	if ((err = p->backend->start(p)))
		goto out_free;
	*out = p;
	return 0;
out_free:
	free(p);
	return err;
}

/* ---- submitting ---- */

int mt__pool_submit(mt_pool *p, mt_task_fn fn, const struct mt__task_arg *arg, void *sink,
		    size_t sink_len, mt_future **out)
{
	size_t limit = mt__pool_message_limit(p);
	if (limit && arg->head_len + arg->body_len > limit)
		return -EMSGSIZE;
	uint64_t id;
	int err = mt__pool_fn_id(p, fn, &id); /* only to refuse unregistered ones */
	if (err)
		return err;
	struct mt_future *f = mt__future_new(p, fn, arg);
	if (!f)
		return -ENOMEM;
	f->sink = sink;
	f->sink_len = sink ? sink_len : 0;
	mt_lock_acquire(&p->lock, -1);
	if (p->state != POOL_OPEN) {
		mt_lock_release(&p->lock);
		atomic_store(&f->refs, 1);
		mt_future_free(f);
		return -EPIPE;
	}
	mt__list_add(p->pending.prev, &f->link);
	p->pending_count++;
	p->unresolved++;
	p->backend->wake(p);
	mt_lock_release(&p->lock);
	if (out)
		*out = f;
	else
		mt_future_free(f);
	return 0;
}

int mt_pool_submit(mt_pool *p, mt_task_fn fn, const void *arg, size_t len, mt_future **out)
{
	if (!p || !fn || (len && !arg))
		return -EINVAL;
	struct mt__task_arg parts = {.head = arg, .head_len = len};
	return mt__pool_submit(p, fn, &parts, NULL, 0, out);
}

struct apply_callbacks {
	mt_result_cb on_result;
	mt_error_cb on_error;
	void *arg;
};

static void apply_done(mt_future *f, void *arg)
{
	struct apply_callbacks *cbs = arg;
	int err = mt_future_error(f);
	if (err && cbs->on_error)
		cbs->on_error(err, cbs->arg);
	else if (!err && cbs->on_result)
		cbs->on_result(f->result, f->result_len, cbs->arg);
	free(cbs);
}

int mt_pool_apply_async(mt_pool *p, mt_task_fn fn, const void *arg, size_t len,
			mt_result_cb callback, mt_error_cb error_callback, void *cb_arg,
			mt_future **out)
{
	struct apply_callbacks *cbs = malloc(sizeof *cbs);
	if (!cbs)
		return -ENOMEM;
	*cbs = (struct apply_callbacks){callback, error_callback, cb_arg};
	mt_future *f;
	int err = mt_pool_submit(p, fn, arg, len, &f);
	if (!err)
		err = mt_future_add_done_callback(f, apply_done, cbs);
	if (err) {
		free(cbs);
		return err;
	}
	if (out)
		*out = f;
	else
		mt_future_free(f);
	return 0;
}

/* ---- stopping ---- */

/* Cancels every pending future: taken off the queue under the lock,
 * settled outside it (settling takes the lock). */
static void cancel_pending(mt_pool *p)
{
	mt_lock_acquire(&p->lock, -1);
	size_t n = p->pending_count, taken = 0;
	struct mt_future **fs = n ? malloc(n * sizeof *fs) : NULL;
	struct mt_future *f;
	while (taken < n && fs && (f = mt__pool_take(p)))
		fs[taken++] = f;
	mt_lock_release(&p->lock);
	for (size_t i = 0; i < taken; i++) {
		atomic_fetch_add(&fs[i]->refs, 1);
		mt_future_cancel(fs[i]);
		mt_future_free(fs[i]);
	}
	free(fs);
}

int mt_pool_close(mt_pool *p)
{
	if (!p)
		return -EINVAL;
	mt_lock_acquire(&p->lock, -1);
	if (p->state == POOL_OPEN)
		p->state = POOL_CLOSED;
	mt_lock_release(&p->lock);
	return 0;
}

/* Stops the backend once, whoever asks first. */
static void stop_backend(mt_pool *p, bool now)
{
	mt_lock_acquire(&p->lock, -1);
	bool first = !p->stopped;
	p->stopped = true;
	mt_lock_release(&p->lock);
	if (first)
		p->backend->stop(p, now);
}

int mt_pool_join(mt_pool *p, double timeout)
{
	if (!p)
		return -EINVAL;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	mt_lock_acquire(&p->lock, -1);
	if (p->state == POOL_OPEN)
		err = -EINVAL;
	while (!err && p->unresolved && !p->stopped) {
		struct timespec left = {0, 0};
		if (!mt__deadline_left(&deadline, &left))
			err = -ETIMEDOUT;
		else
			mt__cond_wait_until(&p->changed, &p->lock, &deadline);
	}
	mt_lock_release(&p->lock);
	if (!err)
		stop_backend(p, false);
	return err;
}

int mt_pool_terminate(mt_pool *p)
{
	if (!p)
		return -EINVAL;
	mt_lock_acquire(&p->lock, -1);
	p->state = POOL_TERMINATED;
	mt_lock_release(&p->lock);
	cancel_pending(p);
	stop_backend(p, true);
	return 0;
}

int mt_pool_shutdown(mt_pool *p, bool wait, bool cancel_futures)
{
	if (!p)
		return -EINVAL;
	mt_pool_close(p);
	if (cancel_futures)
		cancel_pending(p);
	return wait ? mt_pool_join(p, -1) : 0;
}

int mt_pool_resize(mt_pool *p, int workers)
{
	if (!p || workers <= 0)
		return -EINVAL;
	mt_lock_acquire(&p->lock, -1);
	int err = p->state == POOL_OPEN ? p->backend->resize(p, workers) : -EPIPE;
	if (!err)
		p->opts.workers = workers;
	mt_lock_release(&p->lock);
	return err;
}

int mt_pool_workers(const mt_pool *p)
{
	return p ? p->opts.workers : 0;
}

int mt_pool_worker_pids(mt_pool *p, int *out, size_t cap)
{
	if (!p || (cap && !out))
		return -EINVAL;
	if (!p->backend->pids)
		return 0;
	mt_lock_acquire(&p->lock, -1);
	int n = p->backend->pids(p, out, cap);
	mt_lock_release(&p->lock);
	return n;
}

void mt_pool_free(mt_pool *p)
{
	if (!p)
		return;
	if (p->state != POOL_TERMINATED)
		mt_pool_shutdown(p, true, false);
	stop_backend(p, true);
	p->backend->destroy(p);
	free(p);
}
