/* lockcheck.c: opt-in lock-order checking (MTASK_LOCKCHECK=1).
 *
 * Each thread keeps the stack of locks it holds. When it is about to take
 * lock L while holding H, the order H -> L is recorded as an edge, with the
 * thread's name and a backtrace of the acquisition. If the graph already
 * has a path L -> ... -> H, some thread took these locks the other way
 * round: together the two orders can deadlock, so both acquisition paths
 * are printed now, before anybody waits. A thread about to take a
 * non-reentrant lock it already holds is reported too (it would wait on
 * itself). The graph is small and global, under one mutex: checking is for
 * development runs, and it costs the lock fast path one load when off. */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mtask/sync.h"
#include "mtask/thread.h"

#define MAX_HELD 32    /* locks one thread holds at once, as tracked */
#define MAX_EDGES 2048 /* distinct orders recorded */
#define FRAMES 16

MT_HIDDEN _Atomic bool mt__lockcheck_on;

struct acquisition {
	char thread[MT_THREAD_NAME_MAX];
	int frames;
	void *frame[FRAMES];
};

struct edge {
	const mt_lock *from, *to;
	const char *from_name, *to_name; /* as named when recorded */
	struct acquisition where;
	bool reported;
};

static struct {
	pthread_mutex_t lock;
	struct edge edges[MAX_EDGES];
	int count;
	_Atomic unsigned reports;
	bool full;
} graph = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread struct {
	const mt_lock *locks[MAX_HELD];
	int count;
} held;

bool mt_lockcheck_enable(bool on)
{
	return atomic_exchange(&mt__lockcheck_on, on);
}

unsigned mt_lockcheck_reports(void)
{
	return atomic_load(&graph.reports);
}

void mt__lockcheck_init_from_env(void)
{
	const char *value = getenv("MTASK_LOCKCHECK");
	if (value && *value && strcmp(value, "0") != 0)
		mt_lockcheck_enable(true);
}

const char *mt__lock_name(const mt_lock *l, char *buf, size_t size)
{
	if (l->name)
		return l->name;
	snprintf(buf, size, "lock@%p", (const void *)l);
	return buf;
}

/* Not inlined, so that the frames to skip are always this one and its
 * caller, mt__lockcheck_before: the trace starts at mt_lock_acquire. */
__attribute__((noinline)) static void note_acquisition(struct acquisition *a)
{
	snprintf(a->thread, sizeof a->thread, "%s", mt_thread_name(mt_thread_current()));
	a->frames = backtrace(a->frame, FRAMES);
}

static void print_acquisition(const struct acquisition *a)
{
	fflush(stderr);
	/* Skips the checker's own two frames; writes straight to the
	 * descriptor, without allocating. */
	int skip = a->frames > 2 ? 2 : 0;
	backtrace_symbols_fd((void *const *)a->frame + skip, a->frames - skip, 2);
}

static struct edge *find_edge(const mt_lock *from, const mt_lock *to)
{
	for (int i = 0; i < graph.count; i++)
		if (graph.edges[i].from == from && graph.edges[i].to == to)
			return &graph.edges[i];
	return NULL;
}

/* Depth-first search for a path from -> ... -> to over recorded orders;
 * returns the last edge of the path (the one that reached `to`). */
static struct edge *path_to(const mt_lock *from, const mt_lock *to, int depth)
{
	if (depth > MAX_HELD)
		return NULL;
	for (int i = 0; i < graph.count; i++) {
		struct edge *e = &graph.edges[i];
		if (e->from != from)
			continue;
		if (e->to == to)
			return e;
		struct edge *rest = path_to(e->to, to, depth + 1);
		if (rest)
			return rest;
	}
	return NULL;
}

static void report_inversion(const mt_lock *holding, const mt_lock *taking,
			     struct edge *earlier, const struct acquisition *now)
{
	char a[32], b[32];
	atomic_fetch_add(&graph.reports, 1);
	earlier->reported = true;
	fprintf(stderr,
		"mtask: lock order inversion (a possible deadlock)\n"
		"  thread \"%s\" takes \"%s\" while holding \"%s\":\n",
		now->thread, mt__lock_name(taking, a, sizeof a), mt__lock_name(holding, b, sizeof b));
	print_acquisition(now);
	fprintf(stderr, "  but thread \"%s\" took \"%s\" while holding \"%s\":\n",
		earlier->where.thread, earlier->to_name ? earlier->to_name : "(unnamed)",
		earlier->from_name ? earlier->from_name : "(unnamed)");
	print_acquisition(&earlier->where);
	fprintf(stderr, "  (MTASK_LOCKCHECK=1; each order is reported once)\n");
}

static void report_self_deadlock(const mt_lock *l, const struct acquisition *now)
{
	char a[32];
	atomic_fetch_add(&graph.reports, 1);
	fprintf(stderr,
		"mtask: thread \"%s\" takes \"%s\", which it already holds and which is "
		"not reentrant: it waits on itself (use an RLock)\n",
		now->thread, mt__lock_name(l, a, sizeof a));
	print_acquisition(now);
}

static void record_order(const mt_lock *from, const mt_lock *to,
			 const struct acquisition *now)
{
	if (graph.count == MAX_EDGES) {
		if (!graph.full)
			fprintf(stderr, "mtask: lock-order checking stopped recording "
					"after %d orders\n", MAX_EDGES);
		graph.full = true;
		return;
	}
	struct edge *e = &graph.edges[graph.count++];
	*e = (struct edge){.from = from, .to = to, .where = *now};
	e->from_name = from->name;
	e->to_name = to->name;
}

__attribute__((noinline)) void mt__lockcheck_before(const mt_lock *l)
{
	if (held.count == 0)
		return;
	struct acquisition now;
	note_acquisition(&now);
	pthread_mutex_lock(&graph.lock);
	for (int i = 0; i < held.count; i++) {
		const mt_lock *h = held.locks[i];
		if (h == l) {
			report_self_deadlock(l, &now);
			continue;
		}
		if (find_edge(h, l))
			continue;
		struct edge *earlier = path_to(l, h, 0);
		if (earlier && !earlier->reported)
			report_inversion(h, l, earlier, &now);
		record_order(h, l, &now);
	}
	pthread_mutex_unlock(&graph.lock);
}

void mt__lockcheck_acquired(const mt_lock *l)
{
	if (held.count < MAX_HELD)
		held.locks[held.count] = l;
	held.count++;
}

void mt__lockcheck_released(const mt_lock *l)
{
	int top = held.count < MAX_HELD ? held.count : MAX_HELD;
	for (int i = top - 1; i >= 0; i--) {
		if (held.locks[i] == l) {
			memmove(&held.locks[i], &held.locks[i + 1],
				(size_t)(top - i - 1) * sizeof held.locks[0]);
			held.count--;
			return;
		}
	}
	/* Released by another thread than took it (Python allows it): the
	 * taker's stack keeps it, which can only add reports, never miss one. */
}

/* ---- the deadlock watchdog ----
 *
 * A thread that has slept `watchdog.seconds` on a lock registers what it
 * waits for, then follows the chain: the lock's holder (its owner thread
 * ID), the lock that holder waits for (if it is registered), that lock's
 * holder... A chain that returns to the thread is a deadlock: every thread
 * in it waits for the next. The registry is a small table under a mutex;
 * only threads that already waited long enough touch it. */

#define MAX_WAITERS 64

struct waiter {
	pid_t tid;
	const mt_lock *lock;
	bool reported;
	char thread[MT_THREAD_NAME_MAX];
};

static struct {
	pthread_mutex_t lock;
	struct waiter slots[MAX_WAITERS];
	_Atomic unsigned reports;
	bool abort_on_deadlock;
} waits = {.lock = PTHREAD_MUTEX_INITIALIZER};

MT_HIDDEN _Atomic uint64_t mt__watchdog_ns; /* 0: off */

int mt_watchdog_enable(double seconds, bool abort_on_deadlock)
{
	if (!(seconds >= 0) || seconds > 1e6)
		return -EINVAL;
	waits.abort_on_deadlock = abort_on_deadlock;
	atomic_store(&mt__watchdog_ns, (uint64_t)(seconds * 1e9));
	return 0;
}

unsigned mt_watchdog_reports(void)
{
	return atomic_load(&waits.reports);
}

void mt__watchdog_init_from_env(void)
{
	const char *value = getenv("MTASK_WATCHDOG");
	const char *abort_value = getenv("MTASK_WATCHDOG_ABORT");
	if (value && *value)
		mt_watchdog_enable(strtod(value, NULL),
				   abort_value && *abort_value && strcmp(abort_value, "0"));
}

/* The registered waiter with thread ID tid; tid 0 (a free lock, or a free
 * slot when asked for) is nobody, unless `free_slot` is what is wanted. */
static struct waiter *find_slot(pid_t tid)
{
	for (int i = 0; i < MAX_WAITERS; i++)
		if (waits.slots[i].tid == tid)
			return &waits.slots[i];
	return NULL;
}

static struct waiter *waiter_of(pid_t tid)
{
	return tid ? find_slot(tid) : NULL;
}

static pid_t holder_of(const mt_lock *l)
{
	return atomic_load_explicit((_Atomic int32_t *)&l->owner, memory_order_relaxed);
}

static void print_cycle(struct waiter *me)
{
	char name[32];
	fprintf(stderr, "mtask: deadlock: these threads wait for each other\n");
	struct waiter *w = me;
	for (int hops = 0; w && hops < MAX_WAITERS; hops++) {
		pid_t holder = holder_of(w->lock);
		struct waiter *next = waiter_of(holder);
		fprintf(stderr, "  thread \"%s\" (%d) waits for \"%s\", held by thread \"%s\" (%d)\n",
			w->thread, w->tid, mt__lock_name(w->lock, name, sizeof name),
			next ? next->thread : "?", holder);
		w->reported = true;
		w = next == me ? NULL : next;
	}
}

/* True when the chain of holders from me comes back to me. */
static bool in_cycle(struct waiter *me)
{
	struct waiter *w = me;
	for (int hops = 0; hops < MAX_WAITERS; hops++) {
		w = waiter_of(holder_of(w->lock));
		if (!w || w->reported)
			return false;
		if (w == me)
			return true;
	}
	return false;
}

/* Called by a thread that has waited long for l; it stays registered until
 * mt__watchdog_done. */
void mt__watchdog_check(const mt_lock *l)
{
	pid_t me_tid = mt__tid();
	pthread_mutex_lock(&waits.lock);
	struct waiter *me = waiter_of(me_tid);
	if (!me && (me = find_slot(0))) {
		*me = (struct waiter){.tid = me_tid, .lock = l};
		snprintf(me->thread, sizeof me->thread, "%s",
			 mt_thread_name(mt_thread_current()));
	}
	bool deadlock = me && !me->reported && in_cycle(me);
	if (deadlock) {
		atomic_fetch_add(&waits.reports, 1);
		print_cycle(me);
	}
	pthread_mutex_unlock(&waits.lock);
	if (deadlock && waits.abort_on_deadlock) {
		fprintf(stderr, "mtask: aborting (MTASK_WATCHDOG_ABORT)\n");
		abort();
	}
}

void mt__watchdog_done(void)
{
	pid_t me_tid = mt__tid();
	pthread_mutex_lock(&waits.lock);
	struct waiter *me = waiter_of(me_tid);
	if (me)
		*me = (struct waiter){0};
	pthread_mutex_unlock(&waits.lock);
}
