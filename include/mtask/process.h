/* mtask/process.h: child processes, the C counterpart of os.fork and
 * multiprocessing.Process.
 *
 * A process runs fn(arg) in a forked copy of the caller and exits with fn's
 * return value. The library reaps every child itself, joined or not, so a
 * program using this module never accumulates zombies: a joined child is
 * reaped by the join; a child whose handle was freed while it ran is reaped
 * as soon as it ends (by a library thread started for that purpose); any
 * other child that ended is reaped by the next mt_process_start or
 * mt_process_free, by mt_process_is_alive, and at the latest at program
 * exit. The library waits only for its own children (through a pidfd per
 * child) and never calls waitpid(-1), so the statuses of children started
 * by other code are left alone.
 *
 * Lifetime, as in Python:
 *  - at normal program exit (return from main, exit()), daemon children are
 *    sent SIGTERM and every child is then waited for, so non-daemon children
 *    hold up the parent's exit;
 *  - a daemon child also dies (SIGKILL) when its parent process dies for any
 *    reason, SIGKILL included (PR_SET_PDEATHSIG, which follows the forking
 *    thread: daemons are forked by the main thread, or by a library thread
 *    when started elsewhere, both of which live as long as the process);
 *  - a daemon process may not start processes of its own (-EPERM), as in
 *    Python, because it would leave them orphaned when it is killed.
 *
 * In the child: only the thread that called mt_process_start exists (for a
 * daemon started off the main thread, a library thread); locks that other
 * threads held at the fork stay locked forever. glibc's malloc and stdio and
 * all of mtask are safe to use in the child; other libraries' locks may not
 * be. stdout and stderr are flushed before the fork (so nothing is printed
 * twice) and after fn returns, as Python does; flush other streams
 * yourself. Descriptors the parent had are inherited as with any fork,
 * mtask's own (pidfds of the parent's other children) included. The child leaves through _exit(): the parent's atexit handlers do
 * not run in it, so return from fn rather than calling exit(). Handles to
 * the parent's other children are not joinable in the child (-ECHILD).
 *
 * Thread safety: every call is safe from any thread. A handle may be used
 * by several threads at once, except that mt_process_free must be the last
 * call on it. */
#ifndef MTASK_PROCESS_H
#define MTASK_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_process mt_process;

/* Options for mt_process_start; a NULL pointer means all defaults. */
typedef struct mt_process_opts {
	const char *name; /* NULL: "Process-N" ("Process-1:2" in a child) */
	bool daemon;      /* end with the parent, see the file comment */
} mt_process_opts;

/* mt_process_start - fork a child that runs fn(arg) and exits with its
 * return value (the low 8 bits, like exit(3)).
 *
 * On success stores a new handle in *p and returns 0. Errors: -EAGAIN or
 * -ENOMEM when the kernel refuses the fork, -EPERM when called from a
 * daemon process, -EINVAL for a NULL p or fn, -EMFILE when no file
 * descriptor is left for the child's pidfd. Free the handle with
 * mt_process_free. */
MT_EXPORT int mt_process_start(mt_process **p, mt_fn fn, void *arg,
			       const mt_process_opts *opts);

/* mt_process_join - wait until the child ended.
 *
 * timeout is in seconds: < 0 waits for ever, 0 only checks. Returns 0 once
 * the child has ended (at once if it already had), -ETIMEDOUT if it is still
 * running at the deadline (it stays joinable), -ECHILD if the handle belongs
 * to another process (a copy inherited through fork), -EINVAL for a NaN
 * timeout. Several threads may join the same child. */
MT_EXPORT int mt_process_join(mt_process *p, double timeout);

/* mt_process_exitcode - fn's return value once the child ended, -N if a
 * signal N killed it (-9 after mt_process_kill, -11 for a segfault), or
 * MT_NOEXIT while it runs. Does not wait and does not reap. */
MT_EXPORT int mt_process_exitcode(const mt_process *p);

/* mt_process_terminate / mt_process_kill - send SIGTERM / SIGKILL. Returns
 * 0, also when the child already ended (nothing is sent then, and a reused
 * PID is never hit: the signal goes through the pidfd), or -ECHILD for a
 * handle of another process. */
MT_EXPORT int mt_process_terminate(mt_process *p);
MT_EXPORT int mt_process_kill(mt_process *p);

/* mt_process_signal - send any signal, with the rules of mt_process_kill. */
MT_EXPORT int mt_process_signal(mt_process *p, int signo);

/* mt_process_is_alive - true while the child has not ended; reaps it when
 * it has. */
MT_EXPORT bool mt_process_is_alive(mt_process *p);

/* mt_process_pid - the child's process ID (valid even after it ended; the
 * kernel may reuse the number once the child was reaped). */
MT_EXPORT pid_t mt_process_pid(const mt_process *p);

/* mt_process_name / mt_process_daemon - the options the child started
 * with. The name string lives as long as the handle. */
MT_EXPORT const char *mt_process_name(const mt_process *p);
MT_EXPORT bool mt_process_daemon(const mt_process *p);

/* mt_process_fd - a file descriptor that becomes readable (POLLIN) when
 * the child ends: multiprocessing's sentinel, for poll/epoll beside other
 * descriptors. It belongs to the handle: do not close it. */
MT_EXPORT int mt_process_fd(const mt_process *p);

/* mt_process_free - release the handle. Never leaves a zombie: a child
 * that is still running goes on, is reaped by a library thread as soon as
 * it ends (started on the first such free), and is still waited for (or, if
 * daemon, terminated) at program exit. NULL is ignored. */
MT_EXPORT void mt_process_free(mt_process *p);

/* mt_process_current_name - "MainProcess" in a program's first process,
 * the child's name inside a child started by mt_process_start
 * (multiprocessing.current_process().name). */
MT_EXPORT const char *mt_process_current_name(void);

/* mt_process_current_daemon - true inside a daemon child. */
MT_EXPORT bool mt_process_current_daemon(void);

#ifdef __cplusplus
}
#endif
#endif
