/* lifecycle.c: the library's hooks into the life of the program, in one
 * place so that their order is explicit: load (the main thread's record,
 * MTASK_TRACE), fork (the registries' locks), and exit (join threads, then
 * children, then close the trace). */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

MT_HIDDEN const char mt__lifecycle_linked;

void mt__shutdown_tasks(void)
{
	/* Threads first: a thread may still be starting or joining children,
	 * as Python's threading._shutdown runs before multiprocessing's. */
	mt__threads_shutdown();
	mt__children_shutdown();
}

static void at_program_exit(void)
{
	mt__shutdown_tasks();
	mt__trace_at_exit();
}

static void before_fork(void)
{
	mt__trace_before_fork();
	mt__threads_before_fork();
	mt__children_before_fork();
}

static void after_fork_in_parent(void)
{
	mt__children_after_fork_parent();
	mt__threads_after_fork_parent();
	mt__trace_after_fork_parent();
}

static void after_fork_in_child(void)
{
	mt__children_after_fork_child();
	mt__threads_after_fork_child();
	mt__trace_after_fork_child();
}

/* Runs before main (or at dlopen), so at_program_exit is registered before
 * any of the program's own atexit handlers and therefore runs after them. */
__attribute__((constructor)) static void library_loaded(void)
{
	mt__threads_init();
	mt__trace_init_from_env();
	pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
	atexit(at_program_exit);
}
