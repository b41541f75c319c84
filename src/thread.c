/* thread.c: threads with Python's threading.Thread semantics on pthreads.
 *
 * Every thread the program can see has a record: the main thread's lives in
 * static storage, threads from mt_thread_start have one allocated by start,
 * and foreign threads get a "dummy" on their first mt_thread_current(),
 * freed by a pthread key destructor when they end. Live records sit in one
 * registry list, which enumerate and active_count walk.
 *
 * A started thread's record has two owners, the handle and the running
 * thread (refs = 2), so that mt_thread_free of a running thread only
 * detaches it. A join with a timeout waits on the `finished` event rather
 * than in pthread_join, which has none; exactly one caller (a joiner or
 * free) reclaims the pthread, as the `reclaim` state machine arbitrates. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "mtask/thread.h"

MT_KEEP_LIFECYCLE;

enum thread_kind { KIND_STARTED, KIND_MAIN, KIND_DUMMY };

/* Who releases the pthread of a started thread: nobody yet, a joiner
 * (pthread_join), or mt_thread_free of a running thread (pthread_detach). */
enum reclaim { RECLAIM_NONE, RECLAIM_JOINED, RECLAIM_DETACHED };

struct mt_thread {
	_Atomic int refs;
	_Atomic int exitcode;
	_Atomic uint32_t finished; /* event: fn returned */
	_Atomic uint32_t started;  /* event: native_id is set */
	_Atomic int native_id;
	_Atomic int reclaim;
	enum thread_kind kind;
	bool daemon;
	bool named; /* given a name: the kernel's thread name follows it */
	unsigned generation; /* mt__fork_generation when the record was made */
	pthread_t handle;
	mt_fn fn;
	void *arg;
	double start_us;
	struct mt__list link; /* in registry.live; guarded by registry.lock */
	char name[MT_THREAD_NAME_MAX];
};

static struct {
	pthread_mutex_t lock;
	struct mt__list live;
	_Atomic int next_thread_number;
	_Atomic int next_dummy_number;
	struct mt__fork_once fork_once;
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER, .live = MT__LIST_INIT(registry.live)};

static struct mt_thread main_record;
static struct mt_thread *main_thread = &main_record;
/* The calling thread's record; lifecycle.c's fork hook reads it too. */
MT_HIDDEN __thread struct mt_thread *mt__self MT_TLS_FAST;
static pthread_key_t dummy_key;
static pthread_once_t dummy_key_once = PTHREAD_ONCE_INIT;

MT_HIDDEN __thread struct mt__tid_cache mt__tid_cache MT_TLS_FAST;

pid_t mt__tid_refresh(void)
{
	mt__tid_cache.tid = gettid();
	mt__tid_cache.generation = mt__fork_generation;
	return mt__tid_cache.tid;
}

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, MT_THREAD_NAME_MAX, "%s", src);
}

/* The kernel keeps 15 bytes of a thread's name: what ps and gdb show. */
static void set_kernel_name(const char *name)
{
	char shortname[16];
	snprintf(shortname, sizeof shortname, "%s", name);
	pthread_setname_np(pthread_self(), shortname);
}

static void publish_native_id(struct mt_thread *t)
{
	atomic_store_explicit(&t->native_id, mt__tid(), memory_order_relaxed);
	mt__event_set(&t->started);
}

/* In a forked child, the forking thread's record stays and it is the
 * child's main thread now, as in Python; the other records are recognised
 * by their generation (is_foreign) and never walked, since another thread
 * of the parent may have been changing the list. */
static void reset_inherited_registry(void)
{
	struct mt_thread *forking = (struct mt_thread *)mt__fork.forking_thread;
	pthread_mutex_init(&registry.lock, NULL);
	mt__list_init(&registry.live);
	if (forking) {
		forking->generation = mt__fork_generation;
		mt__list_add(&registry.live, &forking->link);
		publish_native_id(forking); /* the parent's thread ID until now */
	}
	main_thread = forking ? forking : &main_record;
}

static void registry_lock(void)
{
	mt__after_fork_once(&registry.fork_once, reset_inherited_registry);
	pthread_mutex_lock(&registry.lock);
}

static void registry_add(struct mt_thread *t)
{
	registry_lock();
	mt__list_add(&registry.live, &t->link);
	pthread_mutex_unlock(&registry.lock);
}

static void registry_remove(struct mt_thread *t)
{
	registry_lock();
	if (mt__list_linked(&t->link))
		mt__list_del(&t->link);
	pthread_mutex_unlock(&registry.lock);
}

static void thread_unref(struct mt_thread *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		free(t);
}

static void record_init(struct mt_thread *t, enum thread_kind kind,
			const char *name, bool daemon)
{
	atomic_init(&t->refs, 1);
	atomic_init(&t->exitcode, MT_NOEXIT);
	atomic_init(&t->finished, 0);
	atomic_init(&t->started, 0);
	atomic_init(&t->native_id, 0);
	atomic_init(&t->reclaim, RECLAIM_NONE);
	t->kind = kind;
	t->daemon = daemon;
	t->named = false;
	t->generation = mt__fork_generation;
	mt__list_init(&t->link);
	copy_name(t->name, name);
}

void mt__threads_init(void)
{
	if (mt__tid() != getpid())
		return; /* loaded by dlopen in another thread: see thread_main_record */
	record_init(&main_record, KIND_MAIN, "MainThread", false);
	main_record.handle = pthread_self();
	publish_native_id(&main_record);
	mt__self = &main_record;
	registry_add(&main_record);
}

/* ---- starting and finishing ---- */

static void thread_finish(struct mt_thread *t, int code)
{
	if (mt__trace_on())
		mt__trace_span("thread", t->name, getpid(),
			       atomic_load(&t->native_id), t->start_us,
			       mt__now_us(), code);
	/* Leave the registry before announcing the end, so that a joiner sees
	 * active_count without this thread as soon as join returns. */
	registry_remove(t);
	atomic_store_explicit(&t->exitcode, code, memory_order_relaxed);
	mt__event_set(&t->finished);
	thread_unref(t);
}

static void *thread_main(void *arg)
{
	struct mt_thread *t = arg;
	mt__self = t;
	publish_native_id(t);
	if (t->named)
		set_kernel_name(t->name);
	if (mt__trace_on())
		mt__trace_thread_name(getpid(), mt__tid(), t->name);
	thread_finish(t, t->fn(t->arg));
	return NULL;
}

static int make_attr(pthread_attr_t *attr, size_t stack_size)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = stack_size < (size_t)PTHREAD_STACK_MIN ? (size_t)PTHREAD_STACK_MIN
						     : stack_size;
	size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	int err = pthread_attr_init(attr);
	if (!err)
		err = pthread_attr_setstacksize(attr, size);
	return -err;
}

int mt_thread_start(mt_thread **out, mt_fn fn, void *arg,
		    const mt_thread_opts *opts)
{
	static const mt_thread_opts defaults;
	if (!out || !fn)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	struct mt_thread *t = malloc(sizeof *t);
	if (!t)
		return -ENOMEM;
	char fallback[32];
	if (!opts->name)
		snprintf(fallback, sizeof fallback, "Thread-%d",
			 atomic_fetch_add(&registry.next_thread_number, 1) + 1);
	record_init(t, KIND_STARTED, opts->name ? opts->name : fallback,
		    opts->daemon);
	t->named = opts->name != NULL;
	atomic_init(&t->refs, 2); /* the handle and the running thread */
	t->fn = fn;
	t->arg = arg;
	t->start_us = mt__now_us();

	pthread_attr_t attr;
	int err = 0;
	if (opts->stack_size && (err = make_attr(&attr, opts->stack_size)))
		goto out_free;
	registry_add(t);
	err = -pthread_create(&t->handle, opts->stack_size ? &attr : NULL,
			      thread_main, t);
	if (opts->stack_size)
		pthread_attr_destroy(&attr);
	if (err) {
		registry_remove(t);
		goto out_free;
	}
	*out = t;
	return 0;
out_free:
	free(t);
	return err;
}

/* Releases the pthread of a finished thread, once, whoever asks first. */
static bool claim_reclaim(struct mt_thread *t, enum reclaim how)
{
	int none = RECLAIM_NONE;
	return atomic_compare_exchange_strong(&t->reclaim, &none, how);
}

static void reclaim_finished(struct mt_thread *t)
{
	if (claim_reclaim(t, RECLAIM_JOINED))
		pthread_join(t->handle, NULL);
}

/* A record copied by fork from the parent, whose thread is not here. */
static bool is_foreign(const struct mt_thread *t)
{
	return t != mt__self && t->generation != mt__fork_generation;
}

int mt_thread_join(mt_thread *t, double timeout)
{
	if (!t || t->kind != KIND_STARTED)
		return -EINVAL;
	if (t == mt__self)
		return -EDEADLK;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err || is_foreign(t))
		return err; /* a thread of the parent: gone in this process */
	/* The common join, for ever and alone, sleeps once, in pthread_join;
	 * the thread announced its end before it exits. */
	if (deadline.forever && claim_reclaim(t, RECLAIM_JOINED)) {
		pthread_join(t->handle, NULL);
		return 0;
	}
	err = mt__event_wait(&t->finished, &deadline);
	if (!err)
		reclaim_finished(t);
	return err;
}

void mt_thread_free(mt_thread *t)
{
	if (!t || t->kind != KIND_STARTED)
		return;
	if (is_foreign(t)) { /* its thread never runs here: only memory is ours */
		free(t);
		return;
	}
	if (mt__event_is_set(&t->finished))
		reclaim_finished(t);
	else if (claim_reclaim(t, RECLAIM_DETACHED))
		pthread_detach(t->handle);
	thread_unref(t);
}

/* ---- queries ---- */

static bool record_alive(const struct mt_thread *t)
{
	if (t->kind == KIND_STARTED)
		return !is_foreign(t) && !mt__event_is_set(&t->finished);
	return true; /* the main thread and dummies live while they can ask */
}

bool mt_thread_is_alive(mt_thread *t)
{
	return t && record_alive(t);
}

int mt_thread_exitcode(const mt_thread *t)
{
	if (!t || !mt__event_is_set(&t->finished))
		return MT_NOEXIT;
	return atomic_load_explicit(&t->exitcode, memory_order_relaxed);
}

const char *mt_thread_name(const mt_thread *t)
{
	return t ? t->name : "";
}

int mt_thread_set_name(mt_thread *t, const char *name)
{
	if (!t || !name)
		return -EINVAL;
	copy_name(t->name, name);
	if (t == mt__self)
		set_kernel_name(name);
	return 0;
}

unsigned long mt_thread_ident(const mt_thread *t)
{
	return t ? (unsigned long)t->handle : 0;
}

pid_t mt_thread_native_id(mt_thread *t)
{
	if (!t)
		return 0;
	mt__after_fork_once(&registry.fork_once, reset_inherited_registry);
	mt__event_wait(&t->started, NULL);
	return atomic_load_explicit(&t->native_id, memory_order_relaxed);
}

bool mt_thread_daemon(const mt_thread *t)
{
	return t && t->daemon;
}

/* ---- the current thread, the main thread, dummies ---- */

static void dummy_thread_ended(void *arg)
{
	struct mt_thread *t = arg;
	registry_remove(t);
	thread_unref(t);
}

static void make_dummy_key(void)
{
	pthread_key_create(&dummy_key, dummy_thread_ended);
}

/* The record of a thread that mtask did not start, made on first use. */
static struct mt_thread *adopt_current_thread(void)
{
	static struct mt_thread out_of_memory_record = {.kind = KIND_DUMMY,
							.daemon = true,
							.name = "Dummy"};
	if (mt__tid() == getpid()) {
		/* The main thread when the library was loaded from another one,
		 * or the forking thread in a child: it is the main thread now. */
		record_init(&main_record, KIND_MAIN, "MainThread", false);
		main_record.handle = pthread_self();
		publish_native_id(&main_record);
		main_thread = &main_record;
		registry_add(&main_record);
		return &main_record;
	}
	struct mt_thread *t = malloc(sizeof *t);
	if (!t)
		return &out_of_memory_record;
	char name[32];
	snprintf(name, sizeof name, "Dummy-%d",
		 atomic_fetch_add(&registry.next_dummy_number, 1) + 1);
	record_init(t, KIND_DUMMY, name, true);
	t->handle = pthread_self();
	publish_native_id(t);
	pthread_once(&dummy_key_once, make_dummy_key);
	pthread_setspecific(dummy_key, t);
	registry_add(t);
	return t;
}

mt_thread *mt_thread_current(void)
{
	if (!mt__self)
		mt__self = adopt_current_thread();
	return mt__self;
}

mt_thread *mt_thread_main(void)
{
	mt__after_fork_once(&registry.fork_once, reset_inherited_registry);
	return main_thread;
}

int mt_thread_enumerate(mt_thread_info *out, size_t cap)
{
	mt_thread_current(); /* a foreign caller counts itself, as in Python */
	int n = 0;
	registry_lock();
	mt__list_for_each(node, &registry.live) {
		struct mt_thread *t = mt__list_entry(node, struct mt_thread, link);
		if ((size_t)n++ >= cap)
			continue;
		mt_thread_info *info = &out[n - 1];
		copy_name(info->name, t->name);
		info->ident = (unsigned long)t->handle;
		info->native_id = atomic_load(&t->native_id);
		info->daemon = t->daemon;
		info->is_main = t->kind == KIND_MAIN;
	}
	pthread_mutex_unlock(&registry.lock);
	return n;
}

int mt_thread_active_count(void)
{
	return mt_thread_enumerate(NULL, 0);
}

/* ---- program exit and fork ---- */

static struct mt_thread *first_nondaemon_started(void)
{
	mt__list_for_each(node, &registry.live) {
		struct mt_thread *t = mt__list_entry(node, struct mt_thread, link);
		if (t->kind == KIND_STARTED && !t->daemon && t != mt__self)
			return t;
	}
	return NULL;
}

void mt__threads_shutdown(void)
{
	if (mt__fork_once_stale(&registry.fork_once))
		return; /* a fresh child has started no thread yet */
	for (;;) {
		registry_lock();
		struct mt_thread *t = first_nondaemon_started();
		if (t)
			atomic_fetch_add(&t->refs, 1);
		pthread_mutex_unlock(&registry.lock);
		if (!t)
			return;
		mt__event_wait(&t->finished, NULL);
		reclaim_finished(t); /* a handle never joined nor freed */
		thread_unref(t);
	}
}

