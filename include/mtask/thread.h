/* mtask/thread.h: threads, the C counterpart of threading.Thread.
 *
 * A thread runs fn(arg); its return value is kept as the thread's exit code.
 * Every thread of the program, including the main thread and threads that
 * mtask did not start, has a record that mt_thread_current() returns, named
 * as Python names them ("MainThread", "Thread-N", "Dummy-N" for foreign
 * threads).
 *
 * Program exit, as in Python: when the program exits normally (return from
 * main or exit()), the library waits for every non-daemon thread it started
 * to finish; daemon threads are not waited for and end with the process.
 * The mechanism is an atexit handler installed when the library is loaded,
 * so it runs after the program's own atexit handlers. A program that ends
 * through _exit(), a fatal signal or pthread_exit() from main does not get
 * this wait (after pthread_exit() from main, the process lives on until its
 * last thread of either kind ends, as POSIX says).
 *
 * Fork: in a child process only the forking thread goes on; the records of
 * the other threads read as ended, and the forking thread's record is kept.
 *
 * Thread safety: every call is safe from any thread, with two exceptions
 * said at the calls: mt_thread_free must be the last call on a handle, and
 * mt_thread_set_name must not race with readers of the same name. */
#ifndef MTASK_THREAD_H
#define MTASK_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_thread mt_thread;

/* Options for mt_thread_start; a NULL pointer means all defaults. */
typedef struct mt_thread_opts {
	const char *name;  /* NULL: "Thread-N"; at most 63 bytes are kept; a
			    * name given here is also the kernel's (15 bytes) */
	bool daemon;       /* not waited for at program exit */
	size_t stack_size; /* 0: the system default; else rounded up to pages */
} mt_thread_opts;

/* Room for a thread name, terminating NUL included. */
#define MT_THREAD_NAME_MAX 64

/* A snapshot of one live thread, as mt_thread_enumerate reports it. */
typedef struct mt_thread_info {
	char name[MT_THREAD_NAME_MAX];
	unsigned long ident; /* pthread_t as a number: Thread.ident */
	pid_t native_id;     /* the kernel's thread ID: Thread.native_id */
	bool daemon;
	bool is_main;
} mt_thread_info;

/* mt_thread_start - start a thread that runs fn(arg).
 *
 * Stores a new handle in *t and returns 0. The thread is counted by
 * mt_thread_active_count before this returns. Errors: -EINVAL for a NULL t
 * or fn, -EAGAIN when the system cannot create another thread, -ENOMEM.
 * Free the handle with mt_thread_free. */
MT_EXPORT int mt_thread_start(mt_thread **t, mt_fn fn, void *arg,
			      const mt_thread_opts *opts);

/* mt_thread_join - wait until the thread finished.
 *
 * timeout in seconds: < 0 waits for ever, 0 only checks. Returns 0 once the
 * thread has finished, -ETIMEDOUT if it still runs at the deadline (it stays
 * joinable), -EDEADLK when a thread joins itself, -EINVAL when t is not a
 * thread started by mt_thread_start (the main thread, a dummy) or the
 * timeout is NaN. Several threads may join the same thread. */
MT_EXPORT int mt_thread_join(mt_thread *t, double timeout);

/* mt_thread_is_alive - true from mt_thread_start until fn returned (for
 * the main thread and dummies: while the thread exists). */
MT_EXPORT bool mt_thread_is_alive(mt_thread *t);

/* mt_thread_exitcode - fn's return value, or MT_NOEXIT while it runs (and
 * for the main thread and dummies). */
MT_EXPORT int mt_thread_exitcode(const mt_thread *t);

/* mt_thread_name - the thread's name, valid until the next
 * mt_thread_set_name on it or mt_thread_free. */
MT_EXPORT const char *mt_thread_name(const mt_thread *t);

/* mt_thread_set_name - rename the thread (at most 63 bytes are kept). When
 * t is the calling thread the kernel's name (15 bytes, seen by ps and gdb)
 * follows. Not safe against concurrent mt_thread_name calls on the same
 * thread from other threads. Returns 0 or -EINVAL for a NULL name. */
MT_EXPORT int mt_thread_set_name(mt_thread *t, const char *name);

/* mt_thread_ident - pthread_t as a number (Thread.ident). */
MT_EXPORT unsigned long mt_thread_ident(const mt_thread *t);

/* mt_thread_native_id - the kernel thread ID (Thread.native_id). For a
 * thread just started this may wait briefly until the thread runs. In a
 * forked child, the thread that forked reports its new ID, as in Python. */
MT_EXPORT pid_t mt_thread_native_id(mt_thread *t);

/* mt_thread_daemon - the daemon flag (dummies and the main thread: see the
 * file comment; dummies are daemon as in Python, the main thread is not). */
MT_EXPORT bool mt_thread_daemon(const mt_thread *t);

/* mt_thread_current - the calling thread's record (threading.current_thread).
 * Never NULL. The record belongs to the library: do not free it. */
MT_EXPORT mt_thread *mt_thread_current(void);

/* mt_thread_main - the main thread's record (threading.main_thread). */
MT_EXPORT mt_thread *mt_thread_main(void);

/* mt_thread_enumerate - snapshot the live threads (threading.enumerate):
 * the main thread, threads started by mt_thread_start that have not
 * finished, and foreign threads that called mt_thread_current. Writes up to
 * cap entries into out (out may be NULL when cap is 0) and returns the number
 * of live threads, which may exceed cap. */
MT_EXPORT int mt_thread_enumerate(mt_thread_info *out, size_t cap);

/* mt_thread_active_count - the number of live threads, as enumerate counts
 * them (threading.active_count). */
MT_EXPORT int mt_thread_active_count(void);

/* mt_thread_free - release a handle from mt_thread_start. A thread still
 * running goes on (detached) and releases its own resources when it ends; a
 * non-daemon one is still waited for at program exit. Handles of the main
 * thread and of dummies, and NULL, are ignored. */
MT_EXPORT void mt_thread_free(mt_thread *t);

#ifdef __cplusplus
}
#endif
#endif
