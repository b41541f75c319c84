/* future.c: futures (concurrent.futures.Future, Pool's AsyncResult), and
 * waiting on many of them (wait, as_completed).
 *
 * A future's life is one atomic state word: PENDING -> RUNNING when a
 * worker claims it, and from either to SETTLING -> FINISHED or CANCELLED
 * exactly once: the compare-and-swap into SETTLING elects the one thread
 * that writes the outcome, so a cancel racing a claim, a result racing a
 * terminate, or a dead worker's task reported twice can never settle it
 * twice. Readers look at the outcome only after seeing FINISHED or
 * CANCELLED (acquire), which the settler stores after writing it
 * (release).
 *
 * Waking costs nothing when nobody waits: result() sleeps on the `done`
 * event, which wakes only sleepers; the eventfd of mt_future_fd exists
 * only once asked for; the callback and waiter lists are looked at under
 * the future's lock only by the settler. Waiters of mt_futures_wait and
 * as_completed hang a node on each future, called under that lock, which
 * pushes the future into their set's ready array and wakes the set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pool_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/* A result() that finds its future not done watches it this many pauses
 * (~20 ns each on the two-CPU machine of docs/benchmarks.md) before it
 * sleeps: a wake-up costs ~17 us, and a process pool settles a tiny task
 * every microsecond or two, so a caller collecting results in order
 * would otherwise sleep and be woken once per result. */
#define WAIT_SPINS 256

struct future_callback {
	mt_future_cb fn;
	void *arg;
	struct future_callback *next;
};

/* ---- making and releasing ---- */

struct mt_future *mt__future_new(struct mt_pool *pool, mt_task_fn fn,
				 const struct mt__task_arg *arg)
{
	struct mt_future *f = malloc(sizeof *f);
	if (!f)
		return NULL;
	size_t len = arg->head_len + arg->body_len;
	f->arg = len <= FUTURE_INLINE_ARG ? f->inline_arg : malloc(len);
	if (!f->arg) {
		free(f);
		return NULL;
	}
	if (arg->head_len)
		memcpy(f->arg, arg->head, arg->head_len);
	if (arg->body_len)
		memcpy(f->arg + arg->head_len, arg->body, arg->body_len);
	atomic_init(&f->refs, 2);
	atomic_init(&f->state, FUTURE_PENDING);
	atomic_init(&f->done, 0);
	f->error = 0;
	f->exitcode = MT_NOEXIT;
	f->result = NULL;
	f->result_len = 0;
	f->fn = fn;
	f->arg_len = len;
	f->pool = pool;
	mt__list_init(&f->link);
	f->lock = (mt_lock)MT_LOCK_INIT;
	f->notified = false;
	f->callbacks = NULL;
	f->callbacks_tail = &f->callbacks;
	mt__list_init(&f->waiters);
	f->fd = -1;
	f->sink = NULL;
	f->sink_len = 0;
	return f;
}

void mt__future_unsink(struct mt_future *f)
{
	mt_lock_acquire(&f->lock, -1);
	f->sink = NULL;
	mt_lock_release(&f->lock);
}

/* Copies the head of a successful result to f's sink, if f still has one,
 * and says how much of it is left to keep. */
static size_t drain_to_sink(struct mt_future *f, const unsigned char *result, size_t len)
{
	if (!f->sink_len || len < f->sink_len)
		return 0;
	mt_lock_acquire(&f->lock, -1);
	if (f->sink)
		memcpy(f->sink, result, f->sink_len);
	mt_lock_release(&f->lock);
	return f->sink_len;
}

static void drop_task(struct mt_future *f)
{
	if (f->arg != f->inline_arg)
		free(f->arg);
	f->arg = NULL;
}

static void future_unref(struct mt_future *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	drop_task(f);
	if (f->result != f->inline_result)
		free(f->result);
	while (f->callbacks) {
		struct future_callback *cb = f->callbacks;
		f->callbacks = cb->next;
		free(cb);
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

void mt_future_free(mt_future *f)
{
	if (f)
		future_unref(f);
}

/* ---- settling ---- */

struct waiter_node;
typedef void (*waiter_fn)(struct waiter_node *node, struct mt_future *f);
struct waiter_node {
	struct mt__list link; /* in the future's waiters; its lock */
	waiter_fn fn;
	void *set;
};

/* Tells everyone, in this order: result() sleepers, waiter nodes and the
 * eventfd under the lock, then the callbacks outside it. */
static void notify(struct mt_future *f)
{
	mt__event_set(&f->done);
	mt_lock_acquire(&f->lock, -1);
	f->notified = true;
	while (mt__list_linked(&f->waiters)) {
		struct mt__list *first = f->waiters.next;
		mt__list_del(first);
		struct waiter_node *node = mt__list_entry(first, struct waiter_node, link);
		node->fn(node, f);
	}
	if (f->fd >= 0)
		eventfd_write(f->fd, 1);
	struct future_callback *cb = f->callbacks;
	f->callbacks = NULL;
	f->callbacks_tail = &f->callbacks;
	mt_lock_release(&f->lock);
	while (cb) {
		struct future_callback *next = cb->next;
		cb->fn(f, cb->arg);
		free(cb);
		cb = next;
	}
}

static bool begin_settling(struct mt_future *f)
{
	uint32_t s = atomic_load(&f->state);
	while (s == FUTURE_PENDING || s == FUTURE_RUNNING)
		if (atomic_compare_exchange_weak(&f->state, &s, FUTURE_SETTLING))
			return true;
	return false;
}

static void end_settling(struct mt_future *f, bool cancelled)
{
	drop_task(f);
	atomic_store_explicit(&f->state, cancelled ? FUTURE_CANCELLED : FUTURE_FINISHED,
			      memory_order_release);
	struct mt_pool *pool = f->pool;
	notify(f);
	if (pool)
		mt__pool_forget(pool, f);
	future_unref(f); /* the pool's reference */
}

bool mt__future_settle(struct mt_future *f, int error, int exitcode, const void *result, size_t len,
		       bool cancelled)
{
	if (!begin_settling(f))
		return false;
	f->error = cancelled ? -ECANCELED : error;
	f->exitcode = exitcode;
	if (!f->error) {
		size_t sunk = drain_to_sink(f, result, len);
		result = (const unsigned char *)result + sunk;
		len -= sunk;
	}
	if (!f->error && len) {
		f->result = len <= FUTURE_INLINE_RESULT ? f->inline_result : malloc(len);
		if (f->result)
			memcpy(f->result, result, len);
		else
			f->error = -ENOMEM;
		f->result_len = f->result ? len : 0;
	}
	end_settling(f, cancelled);
	return true;
}

bool mt__future_settle_owned(struct mt_future *f, int error, void *result, size_t len)
{
	if (!begin_settling(f)) {
		free(result);
		return false;
	}
	f->error = error;
	size_t sunk = error ? 0 : drain_to_sink(f, result, len);
	if (sunk) { /* keep the rest, at the front */
		len -= sunk;
		memmove(result, (unsigned char *)result + sunk, len);
	}
	if (!error && len <= FUTURE_INLINE_RESULT) {
		if (len)
			memcpy(f->inline_result, result, len);
		free(result);
		result = f->inline_result;
	} else if (error) {
		free(result);
		result = NULL;
		len = 0;
	}
	f->result = result;
	f->result_len = len;
	end_settling(f, false);
	return true;
}

/* ---- the API ---- */

static bool is_done_state(uint32_t s)
{
	return s == FUTURE_FINISHED || s == FUTURE_CANCELLED;
}

static uint32_t load_state(const mt_future *f)
{
	return atomic_load_explicit(&((mt_future *)f)->state, memory_order_acquire);
}

bool mt_future_done(const mt_future *f)
{
	return f && is_done_state(load_state(f));
}

bool mt_future_running(const mt_future *f)
{
	if (!f)
		return false;
	uint32_t s = load_state(f);
	return s == FUTURE_RUNNING || s == FUTURE_SETTLING;
}

bool mt_future_cancelled(const mt_future *f)
{
	return f && load_state(f) == FUTURE_CANCELLED;
}

int mt_future_wait(mt_future *f, double timeout)
{
	if (!f)
		return -EINVAL;
	for (int i = 0; i < WAIT_SPINS && timeout != 0; i++) {
		if (mt__event_is_set(&f->done))
			return 0;
		cpu_relax();
	}
	if (mt__event_is_set(&f->done))
		return 0;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	return mt__event_wait(&f->done, &deadline);
}

int mt_future_result(mt_future *f, double timeout, const void **data, size_t *len)
{
	int err = mt_future_wait(f, timeout);
	if (err)
		return err;
	if (data)
		*data = f->error ? NULL : f->result;
	if (len)
		*len = f->error ? 0 : f->result_len;
	return f->error;
}

int mt_future_error(const mt_future *f)
{
	return f && is_done_state(load_state(f)) ? f->error : 0;
}

int mt_future_exitcode(const mt_future *f)
{
	return mt_future_error(f) == -EOWNERDEAD ? f->exitcode : MT_NOEXIT;
}

const char *mt_future_describe(const mt_future *f, char *buf, size_t size)
{
	int err = mt_future_error(f);
	if (!f || !mt_future_done(f))
		snprintf(buf, size, "%s", mt_future_running(f) ? "running" : "pending");
	else if (mt_future_cancelled(f))
		snprintf(buf, size, "cancelled");
	else if (err == -EOWNERDEAD && f->exitcode < 0)
		snprintf(buf, size, "worker died: killed by signal %d (SIG%s)", -f->exitcode,
			 sigabbrev_np(-f->exitcode) ? sigabbrev_np(-f->exitcode) : "?");
	else if (err == -EOWNERDEAD)
		snprintf(buf, size, "worker died: exited with code %d", f->exitcode);
	else if (err == -ETIMEDOUT)
		snprintf(buf, size, "timed out: its worker was killed and replaced");
	else if (err)
		snprintf(buf, size, "task error: %s", mt_strerror(err));
	else
		snprintf(buf, size, "done");
	return buf;
}

int mt_future_cancel(mt_future *f)
{
	if (!f)
		return -EINVAL;
	uint32_t s = FUTURE_PENDING;
	if (!atomic_compare_exchange_strong(&f->state, &s, FUTURE_SETTLING))
		return s == FUTURE_CANCELLED ? 0 : -EALREADY;
	f->error = -ECANCELED;
	end_settling(f, true);
	return 0;
}

int mt_future_add_done_callback(mt_future *f, mt_future_cb cb, void *arg)
{
	if (!f || !cb)
		return -EINVAL;
	struct future_callback *node = malloc(sizeof *node);
	if (!node)
		return -ENOMEM;
	*node = (struct future_callback){cb, arg, NULL};
	mt_lock_acquire(&f->lock, -1);
	bool now = f->notified;
	if (!now) {
		*f->callbacks_tail = node;
		f->callbacks_tail = &node->next;
	}
	mt_lock_release(&f->lock);
	if (now) {
		cb(f, arg);
		free(node);
	}
	return 0;
}

int mt_future_fd(mt_future *f)
{
	if (!f)
		return -EINVAL;
	int err = 0;
	mt_lock_acquire(&f->lock, -1);
	if (f->fd < 0) {
		f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (f->fd < 0)
			err = -errno;
		else if (f->notified || mt__event_is_set(&f->done))
			eventfd_write(f->fd, 1); /* a settler may write too: harmless */
	}
	int fd = f->fd;
	mt_lock_release(&f->lock);
	return err ? err : fd;
}

/* ---- waiting on many: a set of nodes, one per future ---- */

struct wait_set {
	_Atomic uint32_t seq;	     /* bumped and woken per done future */
	_Atomic size_t ready_count;  /* futures pushed into ready */
	_Atomic(mt_future *) *ready; /* in the order they were done */
	_Atomic bool failed;	     /* one failed or was cancelled */
	size_t n;
	struct waiter_node *nodes;
};

static void node_done(struct waiter_node *node, struct mt_future *f)
{
	struct wait_set *ws = node->set;
	if (f->error)
		atomic_store(&ws->failed, true);
	size_t at = atomic_fetch_add(&ws->ready_count, 1);
	atomic_store_explicit(&ws->ready[at], f, memory_order_release);
	atomic_fetch_add(&ws->seq, 1);
	mt__futex_wake(&ws->seq, INT32_MAX, false);
}

static int wait_set_init(struct wait_set *ws, mt_future *const *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!fs[i])
			return -EINVAL;
	*ws = (struct wait_set){.n = n};
	ws->ready = calloc(n ? n : 1, sizeof *ws->ready);
	ws->nodes = calloc(n ? n : 1, sizeof *ws->nodes);
	if (!ws->ready || !ws->nodes) {
		free(ws->ready);
		free(ws->nodes);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct waiter_node *node = &ws->nodes[i];
		mt__list_init(&node->link);
		node->fn = node_done;
		node->set = ws;
		mt_lock_acquire(&fs[i]->lock, -1);
		if (fs[i]->notified)
			node_done(node, fs[i]);
		else
			mt__list_add(fs[i]->waiters.prev, &node->link);
		mt_lock_release(&fs[i]->lock);
	}
	return 0;
}

/* Unhooks every node still on a future: after this no settler touches ws. */
static void wait_set_destroy(struct wait_set *ws, mt_future *const *fs)
{
	for (size_t i = 0; i < ws->n; i++) {
		mt_lock_acquire(&fs[i]->lock, -1);
		if (mt__list_linked(&ws->nodes[i].link))
			mt__list_del(&ws->nodes[i].link);
		mt_lock_release(&fs[i]->lock);
	}
	free(ws->ready);
	free(ws->nodes);
}

/* Sleeps until ws changes after seen, or the deadline. */
static int wait_set_sleep(struct wait_set *ws, uint32_t seen, const mt__deadline *deadline)
{
	if (!deadline->forever && !mt__deadline_left(deadline, &(struct timespec){0}))
		return -ETIMEDOUT;
	return mt__futex_wait(&ws->seq, seen, deadline, false);
}

static bool condition_holds(struct wait_set *ws, int return_when)
{
	size_t done = atomic_load(&ws->ready_count);
	if (return_when == MT_FIRST_COMPLETED)
		return done > 0 || ws->n == 0;
	if (return_when == MT_FIRST_EXCEPTION && atomic_load(&ws->failed))
		return true;
	return done == ws->n;
}

int mt_futures_wait(mt_future *const *fs, size_t n, int return_when, double timeout)
{
	if ((n && !fs) || return_when < MT_FIRST_COMPLETED || return_when > MT_ALL_COMPLETED)
		return -EINVAL;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	struct wait_set ws;
	if (err || (err = wait_set_init(&ws, fs, n)))
		return err;
	for (;;) {
		uint32_t seen = atomic_load(&ws.seq);
		if (condition_holds(&ws, return_when))
			break;
		if ((err = wait_set_sleep(&ws, seen, &deadline)) == -ETIMEDOUT) {
			if (condition_holds(&ws, return_when))
				err = 0;
			break;
		}
	}
	wait_set_destroy(&ws, fs);
	if (err)
		return err;
	int done = 0;
	for (size_t i = 0; i < n; i++)
		done += mt_future_done(fs[i]);
	return done;
}

struct mt_as_completed {
	struct wait_set ws;
	mt_future **fs;
	size_t given;
};

int mt_as_completed_new(mt_as_completed **out, mt_future *const *fs, size_t n)
{
	if (!out || (n && !fs))
		return -EINVAL;
	mt_as_completed *ac = calloc(1, sizeof *ac);
	if (!ac)
		return -ENOMEM;
	ac->fs = malloc((n ? n : 1) * sizeof *ac->fs);
	int err = ac->fs ? 0 : -ENOMEM;
	if (!err) {
		memcpy(ac->fs, fs, n * sizeof *fs);
		err = wait_set_init(&ac->ws, ac->fs, n);
	}
	if (err) {
		free(ac->fs);
		free(ac);
		return err;
	}
	*out = ac;
	return 0;
}

int mt_as_completed_next(mt_as_completed *ac, mt_future **f, double timeout)
{
	if (!ac || !f)
		return -EINVAL;
	if (ac->given == ac->ws.n)
		return 0;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	for (;;) {
		uint32_t seen = atomic_load(&ac->ws.seq);
		mt_future *next =
			atomic_load_explicit(&ac->ws.ready[ac->given], memory_order_acquire);
		if (next) {
			ac->given++;
			*f = next;
			return 1;
		}
		if (wait_set_sleep(&ac->ws, seen, &deadline) == -ETIMEDOUT &&
		    !atomic_load(&ac->ws.ready[ac->given]))
			return -ETIMEDOUT;
	}
}

void mt_as_completed_free(mt_as_completed *ac)
{
	if (!ac)
		return;
	wait_set_destroy(&ac->ws, ac->fs);
	free(ac->fs);
	free(ac);
}
