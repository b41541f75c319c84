/* lifecycle.c: the library's hooks into the life of the program, in one
 * place so that their order is explicit: load (the main thread's record,
 * MTASK_TRACE), fork (the child's reset), and exit (join threads, then
 * children, then close the trace). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "internal.h"

MT_HIDDEN const char mt__lifecycle_linked;
MT_HIDDEN struct mt__fork_state mt__fork;

void mt__after_fork_once(struct mt__fork_once *once, void (*reset)(void))
{
	unsigned generation = mt__fork_generation;
	if (!mt__fork_once_stale(once))
		return;
	unsigned seen = atomic_load(&once->claimed);
	if (seen != generation &&
	    atomic_compare_exchange_strong(&once->claimed, &seen, generation)) {
		reset();
		mt__fork.resets++; /* guarded by the claim: one resetter at a time */
		atomic_store_explicit(&once->ready, generation, memory_order_release);
		return;
	}
	while (mt__fork_once_stale(once))
		sched_yield();
}

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

/* The only fork hook, and only in the child: nothing in the parent, whose
 * every write after fork would copy a page it now shares with the child.
 * Nor does it take locks before the fork. It writes mt__fork and nothing
 * else, and calls nothing (each code page a child runs is one more fault);
 * modules reset their own state at
 * their first use in the child (mt__after_fork_once) and never walk lists
 * another thread of the parent may have been changing. */
static void after_fork_in_child(void)
{
	mt__fork_generation++;
	mt__fork.resets = 0;
	mt__fork.forking_thread = mt__self;
}

/* Runs before main (or at dlopen), so at_program_exit is registered before
 * any of the program's own atexit handlers and therefore runs after them. */
__attribute__((constructor)) static void library_loaded(void)
{
	mt__threads_init();
	mt__trace_init_from_env();
	mt__lockcheck_init_from_env();
	mt__watchdog_init_from_env();
	mt__hub_monitor_init_from_env();
	pthread_atfork(NULL, NULL, after_fork_in_child);
	atexit(at_program_exit);
}
