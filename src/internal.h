/* internal.h: helpers shared between mtask's source files (the mt__
 * namespace). Never installed; nothing here is part of the API. */
#ifndef MTASK_INTERNAL_H
#define MTASK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MT_HIDDEN __attribute__((visibility("hidden")))
#define MT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- intrusive doubly linked lists (the registries of every module) ---- */

/* A node or a list head. A head links to itself when the list is empty; a
 * node links to itself when it is on no list, so "is it listed" needs no
 * flag of its own. */
struct mt__list {
	struct mt__list *prev, *next;
};

#define MT__LIST_INIT(head) {&(head), &(head)}
#define mt__list_entry(node, type, member) \
	((type *)((char *)(node) - offsetof(type, member)))
#define mt__list_for_each(node, head) \
	for (struct mt__list *node = (head)->next; node != (head); node = node->next)

static inline void mt__list_init(struct mt__list *node)
{
	node->prev = node->next = node;
}

static inline bool mt__list_linked(const struct mt__list *node)
{
	return node->next != node;
}

static inline void mt__list_add(struct mt__list *head, struct mt__list *node)
{
	node->next = head->next;
	node->prev = head;
	head->next->prev = node;
	head->next = node;
}

static inline void mt__list_del(struct mt__list *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	mt__list_init(node);
}

/* ---- clock.c: one absolute monotonic deadline per blocking call ---- */

/* A deadline made from a public timeout in seconds on entry to a call. */
typedef struct mt__deadline {
	bool forever;       /* timeout < 0 */
	struct timespec at; /* CLOCK_MONOTONIC, when !forever */
} mt__deadline;

/* Turns a timeout (< 0 forever, 0 poll, > 0 seconds) into a deadline.
 * Returns 0, or -EINVAL for NaN. */
MT_HIDDEN int mt__deadline_init(mt__deadline *d, double timeout);

/* Time left until d, clamped at zero; false once it passed (never false
 * for a forever deadline, for which *left is untouched). */
MT_HIDDEN bool mt__deadline_left(const mt__deadline *d, struct timespec *left);

/* CLOCK_MONOTONIC now, in nanoseconds and in microseconds. */
MT_HIDDEN uint64_t mt__now_ns(void);
MT_HIDDEN double mt__now_us(void);

/* ---- futex.c: sleeping on a 32-bit word ---- */

/* Sleeps while *word == expected, until woken or the deadline (NULL: for
 * ever). Returns 0 when woken or when *word already differed (callers
 * recheck their condition), -ETIMEDOUT at the deadline. EINTR is absorbed.
 * shared: the word may live in memory shared between processes. */
MT_HIDDEN int mt__futex_wait(_Atomic uint32_t *word, uint32_t expected,
			     const mt__deadline *deadline, bool shared);

/* Wakes up to n sleepers on word (INT32_MAX: all). */
MT_HIDDEN void mt__futex_wake(_Atomic uint32_t *word, int n, bool shared);

/* A one-shot event on a futex word, set once and never reset: 0 not set,
 * MT__EVENT_SET set, 2 not set and somebody sleeps. The setter makes a
 * wake-up system call only when somebody sleeps. Private to a process. */
#define MT__EVENT_SET 1u
static inline bool mt__event_is_set(const _Atomic uint32_t *word)
{
	return atomic_load_explicit((_Atomic uint32_t *)word, memory_order_acquire) ==
	       MT__EVENT_SET;
}
MT_HIDDEN void mt__event_set(_Atomic uint32_t *word);
/* Returns 0 once set, -ETIMEDOUT at the deadline (NULL: none). */
MT_HIDDEN int mt__event_wait(_Atomic uint32_t *word, const mt__deadline *deadline);

/* ---- lifecycle.c: load, exit and fork hooks in a fixed order ---- */

/* Every module that needs the hooks references lifecycle.o through this,
 * so that a static link never drops it (and with it the hooks). */
extern const char mt__lifecycle_linked;
#define MT_KEEP_LIFECYCLE \
	__attribute__((used)) static const char *const keep_lifecycle_linked = \
		&mt__lifecycle_linked

/* What a forked child must know, in one place so that the fork hook, the
 * only one, writes a single page (each page written in a child while its
 * parent runs costs a page copy). generation is incremented in every forked
 * child: records made before the fork carry an older one, so a child tells
 * the parent's copies from its own without walking or writing them. */
struct mt__fork_state {
	unsigned generation;
	unsigned resets;            /* module states reset in this process */
	const void *forking_thread; /* thread.c's record of it, if any */
	const void *process;        /* process.c's record of this child, if any */
};
extern struct mt__fork_state mt__fork;
#define mt__fork_generation (mt__fork.generation)

/* Resets a module's per-process state lazily, once per fork generation,
 * at its first use in a child: reset runs in one thread while others that
 * arrive meanwhile wait for it. A program's first process never resets. */
struct mt__fork_once {
	_Atomic unsigned claimed, ready;
};
MT_HIDDEN void mt__after_fork_once(struct mt__fork_once *once, void (*reset)(void));
static inline bool mt__fork_once_stale(struct mt__fork_once *once)
{
	return atomic_load_explicit(&once->ready, memory_order_acquire) !=
	       mt__fork_generation;
}

/* The calling thread's kernel ID, cached per thread and per fork
 * generation (a forked child's thread has a new one). Inline: locks read it
 * on every acquisition. */
struct mt__tid_cache {
	unsigned generation;
	pid_t tid;
};
extern __thread struct mt__tid_cache mt__tid_cache __attribute__((tls_model("initial-exec")));
MT_HIDDEN pid_t mt__tid_refresh(void);
static inline pid_t mt__tid(void)
{
	if (__builtin_expect(mt__tid_cache.tid != 0 &&
				     mt__tid_cache.generation == mt__fork.generation, 1))
		return mt__tid_cache.tid;
	return mt__tid_refresh();
}

/* Runs at normal program exit and when an mtask child finishes: waits for
 * non-daemon threads, then ends and reaps the process's children. */
MT_HIDDEN void mt__shutdown_tasks(void);

/* ---- thread.c ---- */
MT_HIDDEN void mt__threads_shutdown(void);   /* join non-daemon threads */
MT_HIDDEN void mt__threads_init(void);        /* at load: the main thread */
/* The calling thread's record, NULL before its first mtask call. Initial-
 * exec TLS: the fork hook reads it without calling into the dynamic
 * linker. */
#define MT_TLS_FAST __attribute__((tls_model("initial-exec")))
struct mt_thread;
extern __thread struct mt_thread *mt__self MT_TLS_FAST;


/* ---- process.c: the registry of child processes and its reaper ---- */
MT_HIDDEN void mt__children_shutdown(void);  /* SIGTERM daemons, join all */

/* ---- sync.c, shared with barrier.c ---- */
struct mt_cond;
struct mt_lock;
/* Condition wait on a plain Lock until an absolute deadline; the caller
 * holds l. Returns 0 when notified, -ETIMEDOUT, or -EOWNERDEAD (a shared
 * lock's holder died), l held again. */
MT_HIDDEN int mt__cond_wait_until(struct mt_cond *c, struct mt_lock *l,
				  const mt__deadline *deadline);

/* ---- robust.c: MT_PSHARED locks on the kernel's robust-futex list ---- */

/* Announces that the calling thread is about to take (or free) l, so that
 * its death in between is handled too; NULL: done. */
MT_HIDDEN void mt__robust_pending(struct mt_lock *l);
/* One attempt to take l's word for thread tid. sleeping: the caller sleeps
 * if it fails, so the word is marked as slept on. Returns 0, -EOWNERDEAD
 * (taken from a dead holder), or -EBUSY with *sleep_on the word's value to
 * sleep on. */
MT_HIDDEN int mt__robust_claim(struct mt_lock *l, pid_t tid, bool sleeping,
			       uint32_t *sleep_on);
/* Ends an acquisition that returned got: links a taken lock in the
 * thread's list and applies its health. Returns 0, -EOWNERDEAD,
 * -ENOTRECOVERABLE (not held), or got's error. */
MT_HIDDEN int mt__robust_taken(struct mt_lock *l, int got);
/* Frees l, held by the calling thread, and wakes one sleeper. */
MT_HIDDEN void mt__robust_release(struct mt_lock *l);
MT_HIDDEN bool mt__robust_held_by(const struct mt_lock *l, pid_t tid);
/* Marks an inconsistent lock consistent: 0, or -EINVAL if it was not. */
MT_HIDDEN int mt__robust_consistent(struct mt_lock *l);

/* ---- lockcheck.c: lock-order checking, MTASK_LOCKCHECK=1 ---- */
struct mt_lock;
extern _Atomic bool mt__lockcheck_on;
static inline bool mt__lockcheck_active(void)
{
	return atomic_load_explicit(&mt__lockcheck_on, memory_order_relaxed);
}
MT_HIDDEN void mt__lockcheck_init_from_env(void);
MT_HIDDEN void mt__lockcheck_before(const struct mt_lock *l);
MT_HIDDEN void mt__lockcheck_acquired(const struct mt_lock *l);
MT_HIDDEN void mt__lockcheck_released(const struct mt_lock *l);
/* The lock's name for reports and traces: its own, or "lock@ADDRESS"
 * written into buf. */
MT_HIDDEN const char *mt__lock_name(const struct mt_lock *l, char *buf, size_t size);

/* The deadlock watchdog: a lock wait longer than mt__watchdog_ns checks
 * for a cycle of waiting threads (0: off). */
extern _Atomic uint64_t mt__watchdog_ns;
MT_HIDDEN void mt__watchdog_init_from_env(void);
MT_HIDDEN void mt__watchdog_check(const struct mt_lock *l);
MT_HIDDEN void mt__watchdog_done(void);

/* hubmonitor.c: MTASK_HUB_MONITOR=SECONDS starts the hub monitor. */
MT_HIDDEN void mt__hub_monitor_init_from_env(void);

/* ---- trace.c: the small internal trace API every module uses ---- */

/* The trace file's descriptor, -1 while off. Read inline so that checking
 * costs a load, not a call (and, in a forked child, no code page). */
extern _Atomic int mt__trace_fd;
static inline bool mt__trace_on(void)
{
	return atomic_load_explicit(&mt__trace_fd, memory_order_relaxed) >= 0;
}
MT_HIDDEN void mt__trace_init_from_env(void);
MT_HIDDEN void mt__trace_at_exit(void);

/* A complete span ("ph":"X") on track (pid, tid). exitcode is added as an
 * argument unless it is MT_NOEXIT. cat names the module ("process"). */
MT_HIDDEN void mt__trace_span(const char *cat, const char *name, int pid,
			      int tid, double start_us, double end_us,
			      int exitcode);

/* A span on the calling thread's track, from start_us to now, for a wait
 * that ended with err (0, or -ETIMEDOUT, noted in its arguments). */
MT_HIDDEN void mt__trace_wait(const char *cat, const char *name, double start_us, int err);

/* Names a process or a thread track (metadata events). */
MT_HIDDEN void mt__trace_process_name(int pid, const char *name);
MT_HIDDEN void mt__trace_thread_name(int pid, int tid, const char *name);

/* A wait on a track of its own: a nestable async span ("ph":"b" and "e",
 * written together when the wait has ended) in category cat, named name
 * (what was waited for), from start_us to now. id keys the track (one per
 * waiting task), owner names the task in the begin's arguments, and the
 * end's say how it ended: "result" ok (result >= 0), timeout
 * (-ETIMEDOUT), cancelled (-ECANCELED), or error with its errno. */
MT_HIDDEN void mt__trace_async_wait(const char *cat, const char *name, uint64_t id,
				    const char *owner, double start_us, int result);

#endif
