/* process.c: child processes with multiprocessing.Process semantics: the
 * API, the fork, and the child's side. reap.c keeps the registry of
 * children and reaps them; its file comment explains the design.
 *
 * Daemon children are armed with PR_SET_PDEATHSIG, which fires when the
 * *thread* that forked them ends, not the process. The main thread lives as
 * long as the process, so daemons started from it are forked in place;
 * daemons started from other threads are forked by the reaper thread, which
 * also lives as long as the process.
 *
 * The child's side is written for fork's cost on virtual machines, where
 * each page a child writes (or each code page it first runs) while its
 * parent lives costs a copy-on-write or a page fault: the child formats
 * nothing, calls no libc function the parent has not called, and keeps its
 * identity in its own copy of the record. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "children.h"

MT_KEEP_LIFECYCLE;

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal(int pidfd, int signo)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
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
	const struct mt_process *parent = mt__current_process();
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
	mt__children_lock();
	struct mt_process *p = mt__record_alloc();
	unsigned n = p ? (unsigned)++mt__children.children_started : 0;
	mt__children_unlock();
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
int mt__process_fork_child(struct mt_process *p, mt_fn fn, void *arg,
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

static bool on_main_thread(void)
{
	return mt__tid() == getpid();
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
	mt__children_lock();
	int err = mt__children_open_set_locked();
	mt__children_sweep_locked();
	mt__children_unlock();
	if (err)
		goto out_free;
	flush_std_streams(); /* or the child would print them a second time */
	if (p->daemon && !on_main_thread())
		err = mt__reaper_fork_daemon(p, fn, arg);
	else
		err = mt__process_fork_child(p, fn, arg, NULL);
	if (err)
		goto out_free;
	mt__children_lock();
	mt__list_add(&mt__children.all, &p->link);
	err = mt__children_watch_locked(p);
	mt__children_unlock();
	if (err) /* cannot watch it: take it back rather than risk a zombie */
		goto out_kill;
	*out = p;
	return 0;
out_kill:
	pidfd_send_signal(p->pidfd, SIGKILL);
	mt__process_reap(p);
	mt_process_free(p);
	return err;
out_free:
	mt__record_free(p);
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
	if (atomic_fetch_sub(&p->joiners, 1) == 1 && !mt__process_is_reaped(p) &&
	    child_has_ended(p))
		mt__process_reap(p);
}

int mt_process_join(mt_process *p, double timeout)
{
	if (!p)
		return -EINVAL;
	if (!mt__process_is_ours(p) || p->owner != getpid())
		return -ECHILD;
	mt__deadline deadline;
	int err = mt__deadline_init(&deadline, timeout);
	if (err)
		return err;
	atomic_fetch_add(&p->joiners, 1);
	while (!mt__process_is_reaped(p)) {
		err = wait_child_end(p, &deadline);
		if (err)
			break;
		mt__process_reap(p);
		/* If another thread holds the claim, it publishes shortly. */
		if (!mt__process_is_reaped(p) && (err = mt__event_wait(&p->reaped, &deadline)))
			break;
	}
	leave_join(p);
	return mt__process_is_reaped(p) ? 0 : err;
}

int mt_process_exitcode(const mt_process *p)
{
	if (!p || !mt__process_is_reaped(p))
		return MT_NOEXIT;
	return atomic_load_explicit(&p->exitcode, memory_order_relaxed);
}

int mt_process_signal(mt_process *p, int signo)
{
	if (!p)
		return -EINVAL;
	if (!mt__process_is_ours(p) || p->owner != getpid())
		return -ECHILD;
	if (mt__process_is_reaped(p))
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
	if (!p || !mt__process_is_ours(p) || p->owner != getpid() || mt__process_is_reaped(p))
		return false;
	if (child_has_ended(p)) {
		mt__process_reap(p);
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
	if (!p)
		return;
	if (!mt__process_is_ours(p)) { /* a copy left by fork: only the memory is ours */
		if (p->pidfd >= 0)
			close(p->pidfd);
		mt__record_free(p);
		return;
	}
	mt__children_drop_handle(p);
}

const char *mt_process_current_name(void)
{
	const struct mt_process *p = mt__current_process();
	return p ? p->name : "MainProcess";
}

bool mt_process_current_daemon(void)
{
	const struct mt_process *p = mt__current_process();
	return p && p->daemon;
}

