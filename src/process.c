/* process.c: child processes with multiprocessing.Process semantics.
 *
 * Reaping without zombies, without stealing, and without slowing fork.
 * Each child gets a pidfd right after fork and is registered, EPOLLONESHOT,
 * in one epoll set per process: the set reports each ended child once.
 * Nothing here ever waits for "any child", so children that other code
 * started keep their statuses.
 *
 * Who reaps (waitid(P_PIDFD)) a child that ended:
 *  - a thread in mt_process_join, which sleeps on the child's pidfd;
 *  - otherwise the next mt_process_start or mt_process_free, which first
 *    drain the epoll set without blocking ("sweep");
 *  - and, once one exists, the reaper thread, which blocks on the set and
 *    reaps at once. It starts the first time a handle of a running child is
 *    freed (nobody could reap that child otherwise) or a daemon is started
 *    from a thread other than the main one (see below).
 * The reap_claimed flag lets exactly one of them call waitid; the others
 * sleep on the `reaped` futex word until the status is published.
 *
 * Why not always a reaper thread: on the virtual machines this was measured
 * on, a fork costs mostly copy-on-write page faults (~20 us each), and once a
 * process has a second thread, glibc's fork takes its multi-threaded path,
 * which writes to several freshly shared pages: a start+join loop gets 1.4x
 * slower from the thread's mere existence. The same reasoning keeps the fork
 * hooks to one small child handler that writes as little as it can.
 *
 * Ownership. A record has two owners: the user's handle and the child's
 * epoll registration (refs = 2 while `watched`). Whoever consumes the
 * child's one epoll event, or mt_process_free of a reaped child when no
 * reaper thread runs (it then removes the registration itself), drops the
 * second; mt_process_free drops the first; the last one frees the record
 * and closes the pidfd. With a reaper thread running, only the reaper
 * consumes registrations, so it never holds an event for freed memory.
 *
 * Daemon children are armed with PR_SET_PDEATHSIG, which fires when the
 * *thread* that forked them ends, not the process. The main thread lives as
 * long as the process, so daemons started from it are forked in place;
 * daemons started from other threads are forked by the reaper thread, which
 * also lives as long as the process. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
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
	_Atomic int exitcode;    /* MT_NOEXIT until reaped */
	_Atomic uint32_t reaped; /* event: exitcode is final */
	_Atomic bool reap_claimed;
	_Atomic int joiners; /* threads inside mt_process_join: they reap */
	int pidfd;
	pid_t pid;
	pid_t owner; /* the process that started the child */
	unsigned generation; /* mt__fork_generation when the record was made */
	bool daemon;
	bool named;   /* given a name: the kernel's process name follows it */
	bool watched; /* registered in registry.epfd; guarded by registry.lock */
	double start_us;
	char identity[48]; /* "3" for a first process's 3rd child, "3:1" below */
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
	_Atomic uint32_t done; /* event */
	struct spawn_request *next;
};

/* Records live in the registry's own page while they fit, so that the
 * parent's writes between fork and the child's exit (the record's pid and
 * pidfd, the registry's lock and list) land on one page: each distinct page
 * written then costs a copy-on-write fault. Further records are malloc'ed. */
#define RECORD_SLOTS 14

static struct registry {
	pthread_mutex_t lock;
	struct mt__list all; /* every record of this process not yet freed */
	struct spawn_request *requests;
	int epfd;   /* the children's epoll set, -1 until the first start */
	int wakefd; /* eventfd announcing spawn requests, -1 until the reaper */
	bool reaper_running;
	int children_started; /* for names: Process-N */
	struct mt__fork_once fork_once;
	_Atomic uint32_t slots_used; /* bit i: slots[i] holds a record */
	struct mt_process slots[RECORD_SLOTS];
} registry __attribute__((aligned(4096))) = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.all = MT__LIST_INIT(registry.all),
	.epfd = -1,
	.wakefd = -1};

_Static_assert(sizeof(struct registry) <= 4096, "the registry must fit a page");

/* The record of the child this code runs in, NULL in a first process: its
 * name and daemon flag are multiprocessing.current_process()'s. */
static const struct mt_process *current_process(void)
{
	return mt__fork.process;
}

/* In a forked child the parent's children are not ours. Forget them
 * without walking the list (another thread of the parent may have been
 * changing it) and close the copies of the parent's descriptors; records
 * left behind are recognised by their generation, and handles to them
 * answer -ECHILD. The epoll set is shared with the parent, so it is only
 * closed here, never modified. */
static void reset_inherited_registry(void)
{
	if (registry.epfd >= 0)
		close(registry.epfd);
	if (registry.wakefd >= 0)
		close(registry.wakefd);
	registry.epfd = registry.wakefd = -1;
	registry.reaper_running = false;
	registry.requests = NULL;
	registry.children_started = 0;
	mt__list_init(&registry.all);
	pthread_mutex_init(&registry.lock, NULL);
}

static void registry_lock(void)
{
	mt__after_fork_once(&registry.fork_once, reset_inherited_registry);
	pthread_mutex_lock(&registry.lock);
}

static void registry_unlock(void)
{
	pthread_mutex_unlock(&registry.lock);
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal(int pidfd, int signo)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
}

/* True for records made in this process, false for copies a fork left. */
static bool is_ours(const struct mt_process *p)
{
	return p->generation == mt__fork_generation;
}

/* ---- records ---- */

/* A zeroed record, from the registry's page if a slot is free. Slots that
 * a fork's parent used stay taken in the child until their handles are
 * freed there, so a child never hands out memory that a handle it
 * inherited still points to. */
static struct mt_process *record_alloc(void)
{
	uint32_t used = atomic_load(&registry.slots_used);
	for (int i = 0; i < RECORD_SLOTS; i++) {
		uint32_t bit = 1u << i;
		if (!(used & bit) && !(atomic_fetch_or(&registry.slots_used, bit) & bit)) {
			memset(&registry.slots[i], 0, sizeof registry.slots[i]);
			return &registry.slots[i];
		}
	}
	return calloc(1, sizeof(struct mt_process));
}

static void record_free(struct mt_process *p)
{
	ptrdiff_t i = p - registry.slots;
	if (i >= 0 && i < RECORD_SLOTS)
		atomic_fetch_and(&registry.slots_used, ~(1u << i));
	else
		free(p);
}

static void release_locked(struct mt_process *p)
{
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (is_ours(p) && mt__list_linked(&p->link))
		mt__list_del(&p->link);
	if (p->pidfd >= 0)
		close(p->pidfd);
	record_free(p);
}

/* Appends text at buf + *len, cut to fit, and keeps buf terminated; no
 * snprintf, whose deep stack frame would touch one more shared page. */
static void append_text(char *buf, size_t size, size_t *len, const char *text)
{
	while (*text && *len + 1 < size)
		buf[(*len)++] = *text++;
	buf[*len] = '\0';
}

static void append_number(char *buf, size_t size, size_t *len, unsigned n)
{
	char digits[12];
	int i = (int)sizeof digits - 1;
	digits[i] = '\0';
	do
		digits[--i] = (char)('0' + n % 10);
	while ((n /= 10) && i > 0);
	append_text(buf, size, len, digits + i);
}

/* Python's naming: a first process's 3rd child is "Process-3" (identity
 * "3"), that child's first child "Process-3:1". */
static void name_record(struct mt_process *p, const char *name, unsigned n)
{
	const struct mt_process *parent = current_process();
	size_t len = 0;
	if (parent) {
		append_text(p->identity, sizeof p->identity, &len, parent->identity);
		append_text(p->identity, sizeof p->identity, &len, ":");
	}
	append_number(p->identity, sizeof p->identity, &len, n);
	len = 0;
	p->named = name != NULL;
	append_text(p->name, sizeof p->name, &len, name ? name : "Process-");
	if (!name)
		append_text(p->name, sizeof p->name, &len, p->identity);
}

static struct mt_process *process_new(const mt_process_opts *opts)
{
	registry_lock();
	struct mt_process *p = record_alloc();
	unsigned n = p ? (unsigned)++registry.children_started : 0;
	registry_unlock();
	if (!p)
		return NULL;
	atomic_init(&p->refs, 1);
	atomic_init(&p->exitcode, MT_NOEXIT);
	p->pidfd = -1;
	mt__list_init(&p->link);
	p->owner = getpid();
	p->generation = mt__fork_generation;
	p->daemon = opts->daemon;
	name_record(p, opts->name, n);
	return p;
}

/* ---- reaping ---- */

static int exitcode_from(const siginfo_t *info)
{
	if (info->si_code == CLD_EXITED)
		return info->si_status;
	return -info->si_status; /* CLD_KILLED, CLD_DUMPED: the signal */
}

static bool is_reaped(const struct mt_process *p)
{
	return mt__event_is_set(&p->reaped);
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
	mt__event_set(&p->reaped);
}

/* Handles the one epoll event of an ended child: reaps it (unless a joiner
 * is awake on it and will) and drops the registration's reference. */
static void consume_exit_event_locked(struct mt_process *p)
{
	if (!atomic_load(&p->joiners))
		try_reap(p);
	p->watched = false;
	release_locked(p);
}

/* Reaps the children that ended, without blocking. */
static void sweep_locked(void)
{
	struct epoll_event events[16];
	int n;
	if (registry.epfd < 0 || registry.reaper_running)
		return;
	do {
		n = epoll_wait(registry.epfd, events, MT_ARRAY_LEN(events), 0);
		for (int i = 0; i < n; i++)
			consume_exit_event_locked(events[i].data.ptr);
	} while (n == (int)MT_ARRAY_LEN(events));
}

static int fork_child(struct mt_process *p, mt_fn fn, void *arg,
		      const sigset_t *child_mask);

static void serve_spawn_requests(void)
{
	uint64_t count;
	if (read(registry.wakefd, &count, sizeof count) < 0)
		return;
	registry_lock();
	struct spawn_request *req = registry.requests;
	registry.requests = NULL;
	registry_unlock();
	while (req) {
		struct spawn_request *next = req->next;
		req->result = fork_child(req->p, req->fn, req->arg, &req->mask);
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
		registry_lock();
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr)
				consume_exit_event_locked(events[i].data.ptr);
			else
				spawn_requested = true;
		}
		registry_unlock();
		if (spawn_requested)
			serve_spawn_requests();
	}
	return NULL;
}

/* The epoll set, made on the first start (again in a forked child). */
static int open_child_set_locked(void)
{
	if (registry.epfd >= 0)
		return 0;
	registry.epfd = epoll_create1(EPOLL_CLOEXEC);
	return registry.epfd < 0 ? -errno : 0;
}

/* Starts the reaper thread, once per process. Called with the lock held. */
static int start_reaper_locked(void)
{
	if (registry.reaper_running)
		return 0;
	int wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (wakefd < 0)
		return -errno;
	if (epoll_ctl(registry.epfd, EPOLL_CTL_ADD, wakefd, &ev)) {
		int err = -errno;
		close(wakefd);
		return err;
	}
	/* Published before the thread exists, which reads it unlocked. */
	registry.wakefd = wakefd;
	/* The reaper takes no signals: they belong to the program's threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_t thread;
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = -pthread_create(&thread, NULL, reaper_main,
				  (void *)(intptr_t)registry.epfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		epoll_ctl(registry.epfd, EPOLL_CTL_DEL, wakefd, NULL);
		close(wakefd);
		registry.wakefd = -1;
		return err;
	}
	pthread_detach(thread);
	registry.reaper_running = true;
	return 0;
}

/* Registers p's pidfd, which then owns a second reference. */
static int watch_child_locked(struct mt_process *p)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = p};
	if (epoll_ctl(registry.epfd, EPOLL_CTL_ADD, p->pidfd, &ev))
		return -errno;
	atomic_fetch_add(&p->refs, 1);
	p->watched = true;
	return 0;
}

/* ---- the child's side ---- */

/* Python flushes sys.stdout and sys.stderr around a fork; so do we, and
 * only when they hold text, because locking a stream writes to a page the
 * fork has just shared, and each such write costs a page copy. */
static bool has_pending_output(FILE *stream)
{
#ifdef __GLIBC__
	/* __fpending's test, inline: in a child, the first call into a libc
	 * code page the child has not run yet costs one more page fault. */
	return stream->_IO_write_ptr > stream->_IO_write_base;
#else
	return __fpending(stream) > 0;
#endif
}

static void flush_std_streams(void)
{
	if (has_pending_output(stdout))
		fflush(stdout);
	if (has_pending_output(stderr))
		fflush(stderr);
}

/* Everything the child learns about itself is in p, its copy of the
 * record: one pointer to it is the only write (on the fork hook's page). */
static void become_child(const struct mt_process *p)
{
	mt__fork.process = p;
	if (!p->named)
		return; /* default names stay in mtask, as in Python */
	char kernel_name[16]; /* the kernel keeps 15 bytes */
	memcpy(kernel_name, p->name, sizeof kernel_name - 1);
	kernel_name[sizeof kernel_name - 1] = '\0';
	/* Through syscall(), which the parent has resolved already: the first
	 * call of a libc function in a process binds its symbol, and that
	 * lookup writes pages the fork shares, in every child anew. */
	syscall(SYS_prctl, PR_SET_NAME, kernel_name, 0, 0, 0);
}

static _Noreturn void child_main(struct mt_process *p, mt_fn fn, void *arg,
				 pid_t parent, const sigset_t *mask)
{
	if (p->daemon) {
		syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent) /* the parent died before the prctl */
			raise(SIGKILL);
		if (mask) /* forked by the reaper, which blocks all signals */
			pthread_sigmask(SIG_SETMASK, mask, NULL);
	}
	become_child(p);
	double start_us = mt__trace_on() ? mt__now_us() : 0;
	if (mt__trace_on())
		mt__trace_process_name(getpid(), p->name);
	int code = fn(arg);
	if (mt__fork.resets) /* fn used threads or processes of its own */
		mt__shutdown_tasks();
	if (mt__trace_on())
		mt__trace_span("process", "run", getpid(), getpid(), start_us,
			       mt__now_us(), code & 0xff);
	flush_std_streams();
	_exit(code & 0xff);
}

/* Forks and opens the child's pidfd. Runs in the caller's thread, or in
 * the reaper's for a daemon started off the main thread. */
static int fork_child(struct mt_process *p, mt_fn fn, void *arg,
		      const sigset_t *child_mask)
{
	pid_t parent = getpid();
	p->start_us = mt__trace_on() ? mt__now_us() : 0;
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
	registry_lock();
	int err = start_reaper_locked();
	if (!err) {
		req.next = registry.requests;
		registry.requests = &req;
	}
	registry_unlock();
	uint64_t one = 1;
	if (err)
		return err;
	if (write(registry.wakefd, &one, sizeof one) < 0)
		return -errno; /* cannot happen: the counter would have to overflow */
	mt__event_wait(&req.done, NULL);
	return req.result;
}

static bool on_main_thread(void)
{
	return mt__gettid() == getpid();
}

/* ---- the API ---- */

int mt_process_start(mt_process **out, mt_fn fn, void *arg,
		     const mt_process_opts *opts)
{
	static const mt_process_opts defaults;
	if (!out || !fn)
		return -EINVAL;
	if (mt_process_current_daemon())
		return -EPERM;
	struct mt_process *p = process_new(opts ? opts : &defaults);
	if (!p)
		return -ENOMEM;
	registry_lock();
	int err = open_child_set_locked();
	sweep_locked();
	registry_unlock();
	if (err)
		goto out_free;
	flush_std_streams(); /* or the child would print them a second time */
	if (p->daemon && !on_main_thread())
		err = fork_daemon_in_reaper(p, fn, arg);
	else
		err = fork_child(p, fn, arg, NULL);
	if (err)
		goto out_free;
	registry_lock();
	mt__list_add(&registry.all, &p->link);
	err = watch_child_locked(p);
	registry_unlock();
	if (err) /* cannot watch it: take it back rather than risk a zombie */
		goto out_kill;
	*out = p;
	return 0;
out_kill:
	pidfd_send_signal(p->pidfd, SIGKILL);
	try_reap(p);
	mt_process_free(p);
	return err;
out_free:
	record_free(p);
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
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static bool child_has_ended(const struct mt_process *p)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	return poll(&pfd, 1, 0) == 1;
}

/* The last joiner to leave reaps a child that ended meanwhile, in case an
 * epoll event for it was consumed while joiners were present and left the
 * reaping to them. */
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
	if (!is_ours(p) || p->owner != getpid())
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
		if (!is_reaped(p) && (err = mt__event_wait(&p->reaped, &deadline)))
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
	if (!is_ours(p) || p->owner != getpid())
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
	if (!p || !is_ours(p) || p->owner != getpid() || is_reaped(p))
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

/* Drops the handle's reference. A child still running needs someone to
 * reap it when it ends: the reaper thread, started now if need be (should
 * that fail, the next sweep or program exit reaps it). A reaped child's
 * registration goes too, unless the reaper owns registrations. */
void mt_process_free(mt_process *p)
{
	if (!p)
		return;
	if (!is_ours(p)) { /* a copy left by fork: only the memory is ours */
		if (p->pidfd >= 0)
			close(p->pidfd);
		record_free(p);
		return;
	}
	registry_lock();
	if (!is_reaped(p)) {
		start_reaper_locked();
	} else if (p->watched && !registry.reaper_running) {
		epoll_ctl(registry.epfd, EPOLL_CTL_DEL, p->pidfd, NULL);
		p->watched = false;
		release_locked(p);
	}
	sweep_locked();
	release_locked(p);
	registry_unlock();
}

const char *mt_process_current_name(void)
{
	const struct mt_process *p = current_process();
	return p ? p->name : "MainProcess";
}

bool mt_process_current_daemon(void)
{
	const struct mt_process *p = current_process();
	return p && p->daemon;
}

/* ---- program exit and fork ---- */

/* References every live child of this process that matches `daemon`. */
static size_t collect_live_children(struct mt_process **out, size_t cap,
				    bool daemon)
{
	size_t n = 0;
	registry_lock();
	mt__list_for_each(node, &registry.all) {
		struct mt_process *p = mt__list_entry(node, struct mt_process, link);
		if (n < cap && p->daemon == daemon && !is_reaped(p)) {
			atomic_fetch_add(&p->refs, 1);
			out[n++] = p;
		}
	}
	registry_unlock();
	return n;
}

static void drop_collected(struct mt_process **batch, size_t n)
{
	registry_lock();
	for (size_t i = 0; i < n; i++)
		release_locked(batch[i]);
	registry_unlock();
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
	if (mt__fork_once_stale(&registry.fork_once))
		return; /* a fresh child: none of the listed children are its own */
	end_daemon_children();
	join_other_children();
}
