/* process.c: child processes with multiprocessing.Process semantics.
 *
 * Reaping without zombies and without stealing. Each child gets a pidfd
 * right after fork. A library thread, the reaper, waits on all pidfds of
 * this process's children in one epoll set (EPOLLONESHOT: one event per
 * child) and reaps each child with waitid(P_PIDFD) as soon as it ends, so a
 * child nobody joins never stays a zombie. Joiners poll the same pidfd and
 * may reap first; the reap_claimed flag lets exactly one of them call
 * waitid, and the others sleep on the `reaped` futex word until the status
 * is published. Nothing here ever waits for "any child", so children that
 * other code started keep their statuses.
 *
 * Ownership. A record has two owners: the user's handle and the reaper's
 * pending epoll event (refs = 2). mt_process_free drops the first, the
 * reaper drops the second after handling the child's end; whoever drops
 * last frees the record and closes its pidfd. The reaper therefore never
 * touches freed memory, whatever the order of exit, join and free.
 *
 * Daemon children are armed with PR_SET_PDEATHSIG, which fires when the
 * *thread* that forked them ends, not the process. So daemon children are
 * forked by the reaper thread, which lives exactly as long as the process:
 * the caller hands it a spawn request through an eventfd and sleeps until
 * the fork is done.
 *
 * Fork hooks (lifecycle.c) keep the registry consistent across any fork:
 * its lock is taken before and released after; in the child, the parent's
 * children are forgotten and their descriptors closed. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "mtask/process.h"

MT_KEEP_LIFECYCLE;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define PROCESS_NAME_MAX 64

/* How long exit waits for daemon children to obey SIGTERM before it
 * sends SIGKILL (Python would wait for ever). */
#define DAEMON_TERM_GRACE_SECONDS 1.0

struct mt_process {
	_Atomic int refs;
	_Atomic int exitcode;     /* MT_NOEXIT until reaped */
	_Atomic uint32_t reaped;  /* futex word: 1 once exitcode is final */
	_Atomic bool reap_claimed;
	_Atomic int joiners; /* threads inside mt_process_join: they reap */
	int pidfd;
	pid_t pid;
	pid_t owner; /* the process that started the child */
	bool daemon;
	bool reaper_pending; /* the reaper still holds a reference; likewise */
	int number;          /* this child's place among its siblings */
	double start_us;
	struct mt__list link; /* in registry.all; guarded by registry.lock */
	char name[PROCESS_NAME_MAX];
};

/* A daemon child to be forked by the reaper thread. */
struct spawn_request {
	struct mt_process *p;
	mt_fn fn;
	void *arg;
	sigset_t mask; /* the caller's signal mask, for the child */
	int result;
	_Atomic uint32_t done; /* futex word */
	struct spawn_request *next;
};

static struct {
	pthread_mutex_t lock;
	struct mt__list all; /* every record of this process not yet freed */
	struct spawn_request *requests;
	int epfd;   /* the reaper's epoll set, -1 until it starts */
	int wakefd; /* eventfd that announces spawn requests */
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER,
	      .all = MT__LIST_INIT(registry.all),
	      .epfd = -1,
	      .wakefd = -1};

/* The process this code runs in, as multiprocessing.current_process(). */
static struct {
	char name[PROCESS_NAME_MAX];
	char identity[48]; /* "" in the first process, "1", "1:2" below */
	bool daemon;
	_Atomic int children_started;
} me = {.name = "MainProcess"};

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal(int pidfd, int signo)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
}

/* ---- records ---- */

static void process_unref(struct mt_process *p)
{
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&registry.lock);
	if (mt__list_linked(&p->link))
		mt__list_del(&p->link);
	pthread_mutex_unlock(&registry.lock);
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p);
}

static struct mt_process *process_new(const mt_process_opts *opts)
{
	struct mt_process *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	atomic_init(&p->refs, 1);
	atomic_init(&p->exitcode, MT_NOEXIT);
	p->pidfd = -1;
	mt__list_init(&p->link);
	p->owner = getpid();
	p->daemon = opts->daemon;
	int n = atomic_fetch_add(&me.children_started, 1) + 1;
	p->number = n;
	if (opts->name)
		snprintf(p->name, sizeof p->name, "%s", opts->name);
	else
		snprintf(p->name, sizeof p->name, "Process-%s%s%d", me.identity,
			 me.identity[0] ? ":" : "", n);
	return p;
}

/* ---- reaping ---- */

static int exitcode_from(const siginfo_t *info)
{
	if (info->si_code == CLD_EXITED)
		return info->si_status;
	return -info->si_status; /* CLD_KILLED, CLD_DUMPED: the signal */
}

/* Reaps p if nobody else is doing it; returns at once otherwise. */
static void try_reap(struct mt_process *p)
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
	atomic_store_explicit(&p->reaped, 1, memory_order_release);
	mt__futex_wake(&p->reaped, INT32_MAX, false);
}

static bool is_reaped(const struct mt_process *p)
{
	return atomic_load_explicit(&p->reaped, memory_order_acquire);
}

static void reaper_saw_exit(struct mt_process *p)
{
	/* A joiner is awake on the same pidfd: let it reap, which saves it a
	 * futex sleep and wake-up on the critical path. A joiner that leaves
	 * checks the pidfd once more (leave_join), so no child is skipped. */
	if (!atomic_load(&p->joiners))
		try_reap(p);
	pthread_mutex_lock(&registry.lock);
	p->reaper_pending = false;
	pthread_mutex_unlock(&registry.lock);
	process_unref(p);
}

static int fork_child(struct mt_process *p, mt_fn fn, void *arg,
		      const sigset_t *child_mask);

static void serve_spawn_requests(void)
{
	uint64_t count;
	if (read(registry.wakefd, &count, sizeof count) < 0)
		return;
	pthread_mutex_lock(&registry.lock);
	struct spawn_request *req = registry.requests;
	registry.requests = NULL;
	pthread_mutex_unlock(&registry.lock);
	while (req) {
		struct spawn_request *next = req->next;
		req->result = fork_child(req->p, req->fn, req->arg, &req->mask);
		atomic_store_explicit(&req->done, 1, memory_order_release);
		mt__futex_wake(&req->done, 1, false);
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
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr)
				reaper_saw_exit(events[i].data.ptr);
			else
				serve_spawn_requests();
		}
	}
	return NULL;
}

/* Starts the reaper on first use (and again in a child that starts its own
 * children). Called with registry.lock held. */
static int start_reaper_locked(void)
{
	if (registry.epfd >= 0)
		return 0;
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	int wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int err = 0;
	if (epfd < 0 || wakefd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev))
		err = -errno;
	/* Published before the thread exists, which reads them unlocked. */
	registry.epfd = epfd;
	registry.wakefd = wakefd;
	/* The reaper takes no signals: they belong to the program's threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_t thread;
	if (!err) {
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = -pthread_create(&thread, NULL, reaper_main, (void *)(intptr_t)epfd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (err) {
		if (epfd >= 0)
			close(epfd);
		if (wakefd >= 0)
			close(wakefd);
		registry.epfd = registry.wakefd = -1;
		return err;
	}
	pthread_detach(thread);
	return 0;
}

/* Hands p to the reaper, which then owns a second reference. */
static int watch_child_locked(struct mt_process *p)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = p};
	atomic_fetch_add(&p->refs, 1);
	p->reaper_pending = true;
	if (epoll_ctl(registry.epfd, EPOLL_CTL_ADD, p->pidfd, &ev) == 0)
		return 0;
	p->reaper_pending = false;
	atomic_fetch_sub(&p->refs, 1);
	return -errno;
}

/* ---- the child's side ---- */

static _Noreturn void child_main(struct mt_process *p, mt_fn fn, void *arg,
				 pid_t parent, const sigset_t *mask)
{
	if (p->daemon) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* the parent died before the prctl */
			raise(SIGKILL);
	}
	pthread_sigmask(SIG_SETMASK, mask, NULL);
	char identity[sizeof me.identity];
	snprintf(identity, sizeof identity, "%s%s%d", me.identity,
		 me.identity[0] ? ":" : "", p->number);
	snprintf(me.identity, sizeof me.identity, "%s", identity);
	snprintf(me.name, sizeof me.name, "%s", p->name);
	me.daemon = p->daemon;
	atomic_store(&me.children_started, 0);
	char kernel_name[16];
	snprintf(kernel_name, sizeof kernel_name, "%s", p->name);
	prctl(PR_SET_NAME, kernel_name);

	double start_us = mt__now_us();
	if (mt__trace_on())
		mt__trace_process_name(getpid(), p->name);
	int code = fn(arg);
	mt__shutdown_tasks();
	if (mt__trace_on())
		mt__trace_span("process", "run", getpid(), getpid(), start_us,
			       mt__now_us(), code & 0xff);
	fflush(NULL);
	_exit(code & 0xff);
}

/* Forks and opens the child's pidfd. Runs in the caller's thread, or in
 * the reaper's for a daemon. */
static int fork_child(struct mt_process *p, mt_fn fn, void *arg,
		      const sigset_t *child_mask)
{
	pid_t parent = getpid();
	p->start_us = mt__now_us();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_main(p, fn, arg, parent, child_mask);
	int fd = pidfd_open(pid);
	if (fd < 0) {
		int err = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	p->pid = pid;
	p->pidfd = fd;
	return 0;
}

static int fork_daemon_in_reaper(struct mt_process *p, mt_fn fn, void *arg)
{
	struct spawn_request req = {.p = p, .fn = fn, .arg = arg};
	pthread_sigmask(SIG_SETMASK, NULL, &req.mask);
	pthread_mutex_lock(&registry.lock);
	req.next = registry.requests;
	registry.requests = &req;
	pthread_mutex_unlock(&registry.lock);
	uint64_t one = 1;
	if (write(registry.wakefd, &one, sizeof one) < 0)
		return -errno; /* cannot happen: the counter would have to overflow */
	while (!atomic_load_explicit(&req.done, memory_order_acquire))
		mt__futex_wait(&req.done, 0, NULL, false);
	return req.result;
}

/* ---- the API ---- */

int mt_process_start(mt_process **out, mt_fn fn, void *arg,
		     const mt_process_opts *opts)
{
	static const mt_process_opts defaults;
	if (!out || !fn)
		return -EINVAL;
	if (me.daemon)
		return -EPERM;
	struct mt_process *p = process_new(opts ? opts : &defaults);
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&registry.lock);
	int err = start_reaper_locked();
	pthread_mutex_unlock(&registry.lock);
	if (err)
		goto out_free;
	fflush(NULL); /* or the child would print the parent's buffered output */
	if (p->daemon) {
		err = fork_daemon_in_reaper(p, fn, arg);
	} else {
		sigset_t mask;
		pthread_sigmask(SIG_SETMASK, NULL, &mask);
		err = fork_child(p, fn, arg, &mask);
	}
	if (err)
		goto out_free;
	pthread_mutex_lock(&registry.lock);
	mt__list_add(&registry.all, &p->link);
	err = watch_child_locked(p);
	pthread_mutex_unlock(&registry.lock);
	if (err) /* cannot watch it: take it back rather than risk a zombie */
		goto out_kill;
	*out = p;
	return 0;
out_kill:
	pidfd_send_signal(p->pidfd, SIGKILL);
	try_reap(p);
	process_unref(p);
	return err;
out_free:
	free(p);
	return err;
}

/* Waits until the pidfd is readable (the child ended) or the deadline. */
static int wait_child_end(struct mt_process *p, const mt__deadline *deadline)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	struct timespec left;
	for (;;) {
		bool time_left = mt__deadline_left(deadline, &left);
		int n = ppoll(&pfd, 1, deadline->forever ? NULL : &left, NULL);
		if (n > 0)
			return 0;
		if (n == 0 && !time_left)
			return -ETIMEDOUT;
		if (n == 0)
			continue;
		if (errno != EINTR)
			return -errno;
	}
}

static bool child_has_ended(const struct mt_process *p)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	return poll(&pfd, 1, 0) == 1;
}

/* The last joiner to leave reaps a child that ended meanwhile, in case the
 * reaper saw it end while joiners were present and left it to them. */
static void leave_join(struct mt_process *p)
{
	if (atomic_fetch_sub(&p->joiners, 1) == 1 && !is_reaped(p) &&
	    child_has_ended(p))
		try_reap(p);
}

int mt_process_join(mt_process *p, double timeout)
{
	if (!p)
		return -EINVAL;
	if (p->owner != getpid())
		return -ECHILD;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	atomic_fetch_add(&p->joiners, 1);
	while (!is_reaped(p)) {
		err = wait_child_end(p, &deadline);
		if (err)
			break;
		try_reap(p);
		/* If another thread holds the claim, it publishes shortly. */
		if (!is_reaped(p) &&
		    (err = mt__futex_wait(&p->reaped, 0, &deadline, false)))
			break;
	}
	leave_join(p);
	return is_reaped(p) ? 0 : err;
}

int mt_process_exitcode(const mt_process *p)
{
	if (!p || !is_reaped(p))
		return MT_NOEXIT;
	return atomic_load_explicit(&p->exitcode, memory_order_relaxed);
}

int mt_process_signal(mt_process *p, int signo)
{
	if (!p)
		return -EINVAL;
	if (p->owner != getpid())
		return -ECHILD;
	if (is_reaped(p))
		return 0;
	/* ESRCH: it ended a moment ago (not yet reaped): nothing to do. */
	if (pidfd_send_signal(p->pidfd, signo) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

int mt_process_terminate(mt_process *p)
{
	return mt_process_signal(p, SIGTERM);
}

int mt_process_kill(mt_process *p)
{
	return mt_process_signal(p, SIGKILL);
}

bool mt_process_is_alive(mt_process *p)
{
	if (!p || p->owner != getpid() || is_reaped(p))
		return false;
	if (child_has_ended(p)) {
		try_reap(p);
		return false;
	}
	return true;
}

pid_t mt_process_pid(const mt_process *p)
{
	return p ? p->pid : 0;
}

const char *mt_process_name(const mt_process *p)
{
	return p ? p->name : "";
}

bool mt_process_daemon(const mt_process *p)
{
	return p && p->daemon;
}

int mt_process_fd(const mt_process *p)
{
	return p ? p->pidfd : -1;
}

void mt_process_free(mt_process *p)
{
	if (p)
		process_unref(p);
}

const char *mt_process_current_name(void)
{
	return me.name;
}

bool mt_process_current_daemon(void)
{
	return me.daemon;
}

/* ---- program exit and fork ---- */

/* References every live child of this process that matches `daemon`. */
static size_t collect_live_children(struct mt_process **out, size_t cap,
				    bool daemon)
{
	size_t n = 0;
	pid_t self = getpid();
	pthread_mutex_lock(&registry.lock);
	mt__list_for_each(node, &registry.all) {
		struct mt_process *p = mt__list_entry(node, struct mt_process, link);
		if (n < cap && p->owner == self && p->daemon == daemon && !is_reaped(p)) {
			atomic_fetch_add(&p->refs, 1);
			out[n++] = p;
		}
	}
	pthread_mutex_unlock(&registry.lock);
	return n;
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
			process_unref(batch[i]);
		}
	}
}

static void join_other_children(void)
{
	struct mt_process *batch[64];
	size_t n;
	while ((n = collect_live_children(batch, MT_ARRAY_LEN(batch), false))) {
		for (size_t i = 0; i < n; i++) {
			mt_process_join(batch[i], -1);
			process_unref(batch[i]);
		}
	}
}

void mt__children_shutdown(void)
{
	end_daemon_children();
	join_other_children();
}

void mt__children_before_fork(void)
{
	pthread_mutex_lock(&registry.lock);
}

void mt__children_after_fork_parent(void)
{
	pthread_mutex_unlock(&registry.lock);
}

/* The parent's children are not ours: forget them, close their pidfds, and
 * drop the references their (absent) reaper held. Handles the child still
 * holds stay valid and answer -ECHILD. The reaper's epoll set is shared
 * with the parent, so it is only closed here, never modified. */
void mt__children_after_fork_child(void)
{
	struct mt__list *node = registry.all.next;
	while (node != &registry.all) {
		struct mt_process *p = mt__list_entry(node, struct mt_process, link);
		node = node->next;
		mt__list_init(&p->link);
		if (p->pidfd >= 0)
			close(p->pidfd);
		p->pidfd = -1;
		if (p->reaper_pending) {
			p->reaper_pending = false;
			if (atomic_fetch_sub(&p->refs, 1) == 1)
				free(p);
		}
	}
	mt__list_init(&registry.all);
	registry.requests = NULL;
	if (registry.epfd >= 0)
		close(registry.epfd);
	if (registry.wakefd >= 0)
		close(registry.wakefd);
	registry.epfd = registry.wakefd = -1;
	/* The forking thread took the lock in before_fork; a normal mutex can
	 * be unlocked by the child's only thread. */
	pthread_mutex_unlock(&registry.lock);
}
