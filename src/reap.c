/* reap.c: the registry of a process's children, and who reaps them.
 *
 * Each child gets a pidfd right after fork (process.c) and is registered,
 * EPOLLONESHOT, in one epoll set per process: the set reports each ended
 * child once. Nothing here ever waits for "any child", so children that
 * other code started keep their statuses.
 *
 * Who reaps (waitid(P_PIDFD)) a child that ended:
 *  - a thread in mt_process_join, which sleeps on the child's pidfd;
 *  - otherwise the next mt_process_start or mt_process_free, which first
 *    drain the epoll set without blocking ("sweep");
 *  - and, once one exists, the reaper thread, which blocks on the set and
 *    reaps at once. It starts the first time a handle of a running child is
 *    freed (nobody could reap that child otherwise) or a daemon is started
 *    from a thread other than the main one (process.c says why).
 * The reap_claimed flag lets exactly one of them call waitid; the others
 * sleep on the `reaped` event until the status is published.
 *
 * Why not always a reaper thread: on the virtual machines this was measured
 * on, a fork costs mostly copy-on-write page faults (~20 us each), and once a
 * process has a second thread, glibc's fork takes its multi-threaded path,
 * which writes to several freshly shared pages: a start+join loop gets 1.4x
 * slower from the thread's mere existence. For the same reason the registry
 * and the first records share one page (the parent's writes between fork
 * and the child's exit land there), and the fork hook is one small child
 * handler that writes one page (lifecycle.c).
 *
 * Ownership. A record has two owners: the user's handle and the child's
 * epoll registration (refs = 2 while `watched`). Whoever consumes the
 * child's one epoll event, or mt_process_free of a reaped child when no
 * reaper thread runs (it then removes the registration itself), drops the
 * second; mt_process_free drops the first; the last one frees the record
 * and closes the pidfd. With a reaper thread running, only the reaper
 * consumes registrations, so it never holds an event for freed memory. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "children.h"

struct mt__children mt__children __attribute__((aligned(4096))) = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.all = MT__LIST_INIT(mt__children.all),
	.epfd = -1,
	.wakefd = -1};

_Static_assert(sizeof(struct mt__children) <= 4096, "the registry must fit a page");

/* How long exit waits for daemon children to obey SIGTERM before it
 * sends SIGKILL (Python would wait for ever). */
#define DAEMON_TERM_GRACE_SECONDS 1.0

/* In a forked child the parent's children are not ours. Forget them
 * without walking the list (another thread of the parent may have been
 * changing it) and close the copies of the parent's descriptors; records
 * left behind are recognised by their generation, and handles to them
 * answer -ECHILD. The epoll set is shared with the parent, so it is only
 * closed here, never modified. */
static void reset_inherited_registry(void)
{
	if (mt__children.epfd >= 0)
		close(mt__children.epfd);
	if (mt__children.wakefd >= 0)
		close(mt__children.wakefd);
	mt__children.epfd = mt__children.wakefd = -1;
	mt__children.reaper_running = false;
	mt__children.requests = NULL;
	mt__children.children_started = 0;
	mt__list_init(&mt__children.all);
	pthread_mutex_init(&mt__children.lock, NULL);
}

void mt__children_lock(void)
{
	mt__after_fork_once(&mt__children.fork_once, reset_inherited_registry);
	pthread_mutex_lock(&mt__children.lock);
}

void mt__children_unlock(void)
{
	pthread_mutex_unlock(&mt__children.lock);
}

/* ---- records ---- */

/* A zeroed record, from the registry's page if a slot is free. Slots that
 * a fork's parent used stay taken in the child until their handles are
 * freed there, so a child never hands out memory that a handle it
 * inherited still points to. */
struct mt_process *mt__record_alloc(void)
{
	uint32_t used = atomic_load(&mt__children.slots_used);
	for (int i = 0; i < RECORD_SLOTS; i++) {
		uint32_t bit = 1u << i;
		if (!(used & bit) && !(atomic_fetch_or(&mt__children.slots_used, bit) & bit)) {
			memset(&mt__children.slots[i], 0, sizeof mt__children.slots[i]);
			return &mt__children.slots[i];
		}
	}
	return calloc(1, sizeof(struct mt_process));
}

void mt__record_free(struct mt_process *p)
{
	ptrdiff_t i = p - mt__children.slots;
	if (i >= 0 && i < RECORD_SLOTS)
		atomic_fetch_and(&mt__children.slots_used, ~(1u << i));
	else
		free(p);
}

void mt__record_release_locked(struct mt_process *p)
{
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (mt__process_is_ours(p) && mt__list_linked(&p->link))
		mt__list_del(&p->link);
	if (p->pidfd >= 0)
		close(p->pidfd);
	mt__record_free(p);
}

/* ---- reaping ---- */

static int exitcode_from(const siginfo_t *info)
{
	if (info->si_code == CLD_EXITED)
		return info->si_status;
	return -info->si_status; /* CLD_KILLED, CLD_DUMPED: the signal */
}

/* Reaps p if nobody else is doing it; returns at once otherwise. */
void mt__process_reap(struct mt_process *p)
{
	if (atomic_exchange(&p->reap_claimed, true))
		return;
	siginfo_t info;
	memset(&info, 0, sizeof info);
	/* 255 if other code in the program reaped the child with a blanket
	 * waitpid(-1) first: its status is lost then. */
	int code = 255;
	while (waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED) < 0 && errno == EINTR)
		;
	if (info.si_pid == p->pid)
		code = exitcode_from(&info);
	if (mt__trace_on()) {
		mt__trace_process_name(p->pid, p->name);
		mt__trace_span("process", p->name, p->pid, p->pid, p->start_us,
			       mt__now_us(), code);
	}
	atomic_store_explicit(&p->exitcode, code, memory_order_relaxed);
	mt__event_set(&p->reaped);
}

/* Handles the one epoll event of an ended child: reaps it (unless a joiner
 * is awake on it and will) and drops the registration's reference. */
static void consume_exit_event_locked(struct mt_process *p)
{
	if (!atomic_load(&p->joiners))
		mt__process_reap(p);
	p->watched = false;
	mt__record_release_locked(p);
}

/* Reaps the children that ended, without blocking. */
void mt__children_sweep_locked(void)
{
	struct epoll_event events[16];
	int n;
	if (mt__children.epfd < 0 || mt__children.reaper_running)
		return;
	do {
		n = epoll_wait(mt__children.epfd, events, MT_ARRAY_LEN(events), 0);
		for (int i = 0; i < n; i++)
			consume_exit_event_locked(events[i].data.ptr);
	} while (n == (int)MT_ARRAY_LEN(events));
}

static void serve_spawn_requests(void)
{
	uint64_t count;
	if (read(mt__children.wakefd, &count, sizeof count) < 0)
		return;
	mt__children_lock();
	struct spawn_request *req = mt__children.requests;
	mt__children.requests = NULL;
	mt__children_unlock();
	while (req) {
		struct spawn_request *next = req->next;
		req->result = mt__process_fork_child(req->p, req->fn, req->arg, &req->mask);
		mt__event_set(&req->done);
		req = next; /* req itself may be gone: the caller was woken */
	}
}

static void *reaper_main(void *arg)
{
	int epfd = (int)(intptr_t)arg;
	pthread_setname_np(pthread_self(), "mtask-reaper");
	struct epoll_event events[16];
	for (;;) {
		int n = epoll_wait(epfd, events, MT_ARRAY_LEN(events), -1);
		bool spawn_requested = false;
		mt__children_lock();
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr)
				consume_exit_event_locked(events[i].data.ptr);
			else
				spawn_requested = true;
		}
		mt__children_unlock();
		if (spawn_requested)
			serve_spawn_requests();
	}
	return NULL;
}

/* The epoll set, made on the first start (again in a forked child). */
int mt__children_open_set_locked(void)
{
	if (mt__children.epfd >= 0)
		return 0;
	mt__children.epfd = epoll_create1(EPOLL_CLOEXEC);
	return mt__children.epfd < 0 ? -errno : 0;
}

/* Starts the reaper thread, once per process. Called with the lock held. */
int mt__reaper_start_locked(void)
{
	if (mt__children.reaper_running)
		return 0;
	int wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (wakefd < 0)
		return -errno;
	if (epoll_ctl(mt__children.epfd, EPOLL_CTL_ADD, wakefd, &ev)) {
		int err = -errno;
		close(wakefd);
		return err;
	}
	/* Published before the thread exists, which reads it unlocked. */
	mt__children.wakefd = wakefd;
	/* The reaper takes no signals: they belong to the program's threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_t thread;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = -pthread_create(&thread, NULL, reaper_main,
				  (void *)(intptr_t)mt__children.epfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		epoll_ctl(mt__children.epfd, EPOLL_CTL_DEL, wakefd, NULL);
		close(wakefd);
		mt__children.wakefd = -1;
		return err;
	}
	pthread_detach(thread);
	mt__children.reaper_running = true;
	return 0;
}

/* Registers p's pidfd, which then owns a second reference. */
int mt__children_watch_locked(struct mt_process *p)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = p};
	if (epoll_ctl(mt__children.epfd, EPOLL_CTL_ADD, p->pidfd, &ev))
		return -errno;
	atomic_fetch_add(&p->refs, 1);
	p->watched = true;
	return 0;
}

int mt__reaper_fork_daemon(struct mt_process *p, mt_fn fn, void *arg)
{
	struct spawn_request req = {.p = p, .fn = fn, .arg = arg};
	pthread_sigmask(SIG_SETMASK, NULL, &req.mask);
	mt__children_lock();
	int err = mt__reaper_start_locked();
	if (!err) {
		req.next = mt__children.requests;
		mt__children.requests = &req;
	}
	mt__children_unlock();
	uint64_t one = 1;
	if (err)
		return err;
	if (write(mt__children.wakefd, &one, sizeof one) < 0)
		return -errno; /* cannot happen: the counter would have to overflow */
	mt__event_wait(&req.done, NULL);
	return req.result;
}

/* Drops the handle's reference. A child still running needs someone to
 * reap it when it ends: the reaper thread, started now if need be (should
 * that fail, the next sweep or program exit reaps it). A reaped child's
 * registration goes too, unless the reaper owns registrations. */
void mt__children_drop_handle(struct mt_process *p)
{
	mt__children_lock();
	if (!mt__process_is_reaped(p)) {
		mt__reaper_start_locked();
	} else if (p->watched && !mt__children.reaper_running) {
		epoll_ctl(mt__children.epfd, EPOLL_CTL_DEL, p->pidfd, NULL);
		p->watched = false;
		mt__record_release_locked(p);
	}
	mt__children_sweep_locked();
	mt__record_release_locked(p);
	mt__children_unlock();
}

/* ---- program exit and fork ---- */

/* References every live child of this process that matches `daemon`. */
static size_t collect_live_children(struct mt_process **out, size_t cap,
				    bool daemon)
{
	size_t n = 0;
	mt__children_lock();
	mt__list_for_each(node, &mt__children.all) {
		struct mt_process *p = mt__list_entry(node, struct mt_process, link);
		if (n < cap && p->daemon == daemon && !mt__process_is_reaped(p)) {
			atomic_fetch_add(&p->refs, 1);
			out[n++] = p;
		}
	}
	mt__children_unlock();
	return n;
}

static void drop_collected(struct mt_process **batch, size_t n)
{
	mt__children_lock();
	for (size_t i = 0; i < n; i++)
		mt__record_release_locked(batch[i]);
	mt__children_unlock();
}

static void end_daemon_children(void)
{
	struct mt_process *batch[64];
	size_t n;
	while ((n = collect_live_children(batch, MT_ARRAY_LEN(batch), true))) {
		for (size_t i = 0; i < n; i++)
			mt_process_terminate(batch[i]);
		for (size_t i = 0; i < n; i++) {
			if (mt_process_join(batch[i], DAEMON_TERM_GRACE_SECONDS))
				mt_process_kill(batch[i]);
			mt_process_join(batch[i], -1);
		}
		drop_collected(batch, n);
	}
}

static void join_other_children(void)
{
	struct mt_process *batch[64];
	size_t n;
	while ((n = collect_live_children(batch, MT_ARRAY_LEN(batch), false))) {
		for (size_t i = 0; i < n; i++)
			mt_process_join(batch[i], -1);
		drop_collected(batch, n);
	}
}

void mt__children_shutdown(void)
{
	if (mt__fork_once_stale(&mt__children.fork_once))
		return; /* a fresh child: none of the listed children are its own */
	end_daemon_children();
	join_other_children();
}
