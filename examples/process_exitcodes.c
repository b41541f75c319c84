/* process_exitcodes.c: the notes' p.exitcode: the function's return value
 * for a normal end, -N when signal N ended the child: terminate() -15,
 * kill() -9, a segfault -11, abort() -6. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "mtask/process.h"

static int return_normally(void *arg)
{
	(void)arg;
	return 3;
}

static int wait_for_a_signal(void *arg)
{
	(void)arg;
	pause(); /* no handler is installed: the signal ends the process */
	return 0;
}

/* A crash we cause on purpose: the default action, and no core file.
 * Sanitizer runtimes install their own SIGSEGV handler to report the
 * crash and exit with a status of their own; the lesson needs the kernel's
 * default action, which kills the process with the signal. */
static void prepare_to_crash(int signo)
{
	signal(signo, SIG_DFL);
	prctl(PR_SET_DUMPABLE, 0);
}

/* Null, but read from a volatile global, so the compiler must emit the
 * store. (A volatile local was not enough: GCC 12 -O2 dropped the store.) */
static int *volatile null_pointer;

/* UBSan would stop at the null store itself, report it and exit 1: let
 * the store reach the hardware, which is the lesson. */
__attribute__((no_sanitize("null"))) static int crash_with_segfault(void *arg)
{
	(void)arg;
	prepare_to_crash(SIGSEGV);
	*null_pointer = 1;
	return 0;
}

static int crash_with_abort(void *arg)
{
	(void)arg;
	prepare_to_crash(SIGABRT);
	abort();
}

static mt_process *start(const char *name, mt_fn fn)
{
	mt_process *p;
	const mt_process_opts opts = {.name = name};
	int err = mt_process_start(&p, fn, NULL, &opts);
	if (err) {
		fprintf(stderr, "start %s: %s\n", name, mt_strerror(err));
		exit(1);
	}
	return p;
}

static void report(mt_process *p)
{
	mt_process_join(p, -1);
	printf("%-10s exitcode %d\n", mt_process_name(p), mt_process_exitcode(p));
	mt_process_free(p);
}

int main(void)
{
	mt_process *p = start("returns-3", return_normally);
	report(p);

	p = start("terminate", wait_for_a_signal);
	/* Python's None: the child runs, no exit code yet. */
	printf("%-10s running, exitcode is MT_NOEXIT: %s\n", mt_process_name(p),
	       mt_process_exitcode(p) == MT_NOEXIT ? "yes" : "no");
	mt_process_terminate(p); /* SIGTERM 15 */
	report(p);

	p = start("kill", wait_for_a_signal);
	mt_process_kill(p); /* SIGKILL 9 */
	report(p);

	report(start("segfault", crash_with_segfault)); /* SIGSEGV 11 */
	report(start("abort", crash_with_abort));	/* SIGABRT 6 */
	return 0;
}
