/* mtask/coro.h: stackful coroutines on one thread, the C counterpart of
 * Python's greenlet.
 *
 * A coroutine runs a function on a stack of its own and gives the CPU up
 * only when it switches to another coroutine of the same thread:
 * mt_coro_switch(c, value) suspends the caller and resumes c, and value
 * comes out on c's side: as its function's argument the first time, as
 * the return value of c's own pending switch afterwards. When the caller
 * is resumed later, its switch returns whatever the coroutine that
 * resumed it passed.
 *
 * Every thread has an implicit main coroutine (greenlet's main greenlet):
 * the code that runs outside any coroutine. It never finishes and cannot
 * be freed. Each coroutine has a parent, by default the coroutine that
 * was current when it was created. A coroutine whose function returns is
 * dead, and its return value goes to its parent: the parent's pending
 * switch returns it. A dead parent hands over to its own parent, and so
 * on up to the main coroutine.
 *
 * Errors. mt_coro_switch and mt_coro_throw return the value passed back,
 * which is any pointer, NULL included, so they cannot carry an error
 * code: on a misuse (a NULL coroutine, one of another thread) they return
 * NULL at once without switching. mt_coro_switch_checked reports these as
 * -EINVAL and -EPERM. No call sets errno, and errno itself is shared by
 * all coroutines of a thread.
 *
 * Threads. Coroutines belong to the thread that created them; only it
 * may switch to them, throw into them or ask their state. A thread must
 * end in its main coroutine (never call pthread_exit from a coroutine).
 *
 * Stacks are mmap'ed, touched lazily and reused through a per-thread
 * cache; a stack overflow prints a message naming the coroutine and
 * aborts instead of corrupting memory (docs/coro.md: the guard design and
 * its limits).
 *
 * Fork. The child continues in the coroutine that called fork(). The
 * other coroutines of the forking thread are copies, suspended where they
 * were, and may be switched to in the child. Coroutines of the parent's
 * other threads are copies the child must not use (switching to them is
 * -EPERM). */
#ifndef MTASK_CORO_H
#define MTASK_CORO_H

#include <stdbool.h>
#include <stddef.h>

#include "mtask/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_coro mt_coro;

/* A coroutine's function: arg is the value of the first switch into it,
 * and its return value is passed to its parent when it finishes. */
typedef void *(*mt_coro_fn)(void *arg);

/* A cleanup run when a coroutine ends (see mt_coro_defer). */
typedef void (*mt_coro_cleanup_fn)(void *arg);

/* The stack size mt_coro_new gives for a stack_size of 0. */
#define MT_CORO_STACK_DEFAULT (256u * 1024u)
/* The largest stack_size mt_coro_new accepts. */
#define MT_CORO_STACK_MAX (1024u * 1024u * 1024u)

/* How a coroutine's stack overflow is caught (mt_coro_stack_guard):
 *   MT_CORO_GUARD_PAGES     guard pages below the stack: the faulting
 *                           access itself is caught (Linux 6.13's guard
 *                           regions, or mprotect'ed pages);
 *   MT_CORO_GUARD_CANARY    a canary word at the bottom of the stack,
 *                           checked when the coroutine is switched to,
 *                           ends or is freed: caught late, after the
 *                           writes (only where guard pages ran out);
 *   MT_CORO_GUARD_NONE      not a stack of mtask's: the main coroutine. */
enum { MT_CORO_GUARD_PAGES, MT_CORO_GUARD_CANARY, MT_CORO_GUARD_NONE };

/* mt_coro_new - create a coroutine that will run fn on a stack of
 * stack_size bytes (0: MT_CORO_STACK_DEFAULT), rounded up to a power of two
 * of at least 16 KiB; the coroutine's own record (a few hundred bytes)
 * takes the top of it. The stack is virtual memory, touched as it is
 * used. fn does not run until the first switch into the coroutine; its
 * parent is the calling thread's current coroutine. Returns 0, -EINVAL (a
 * NULL argument, a stack_size above MT_CORO_STACK_MAX), -ENOMEM. */
MT_EXPORT int mt_coro_new(mt_coro **c, mt_coro_fn fn, size_t stack_size);

/* mt_coro_switch - suspend the current coroutine and run c, passing value:
 * c's function gets it as its argument if c has not started, c's pending
 * switch returns it otherwise. Returns the value passed back when the
 * caller is resumed: by a switch to it, or as the return value of a child
 * that finished. A dead c stands for its nearest live ancestor (as in
 * greenlet); switching to the current coroutine returns value at once.
 * On a misuse (NULL, or c of another thread) returns NULL without
 * switching: see mt_coro_switch_checked. */
MT_EXPORT void *mt_coro_switch(mt_coro *c, void *value);

/* mt_coro_switch_checked - mt_coro_switch that reports misuse: returns 0
 * with *result the value passed back, -EINVAL (c or result NULL), or
 * -EPERM (c belongs to another thread), without switching. */
MT_EXPORT int mt_coro_switch_checked(mt_coro *c, void *value, void **result);

/* mt_coro_throw - end c early, greenlet's throw(): c resumes inside its
 * pending switch, but instead of returning from it runs its deferred
 * cleanups (mt_coro_defer), newest first, and finishes with value as its
 * result, which its parent's switch returns as for any finished
 * coroutine; mt_coro_thrown(c) is then true. The frames c's function had
 * on its stack are abandoned, not unwound: only the cleanups run. A
 * never-started c is only marked dead (its function never runs) and
 * value is returned at once; a dead c is left alone and value returned
 * at once; c the current coroutine ends itself and the call never
 * returns. Returns the value passed back when the caller is resumed, as
 * mt_coro_switch. Returns NULL without doing anything for NULL, the main
 * coroutine or a coroutine of another thread. */
MT_EXPORT void *mt_coro_throw(mt_coro *c, void *value);

/* mt_coro_kill - mt_coro_throw(c, NULL), gevent's kill(): once the caller
 * is resumed, c is dead. Meant for c's parent, to which c hands over when
 * it ends; c the current coroutine ends itself and the call never
 * returns. Returns 0, -EINVAL (NULL, or a main coroutine), -EPERM (c of
 * another thread). */
MT_EXPORT int mt_coro_kill(mt_coro *c);

/* mt_coro_current - the calling thread's running coroutine: its main
 * coroutine outside any other. NULL only if the thread's coroutine state
 * cannot be allocated. */
MT_EXPORT mt_coro *mt_coro_current(void);

/* mt_coro_parent - c's parent, to which it hands over when it ends; NULL
 * for a main coroutine. */
MT_EXPORT mt_coro *mt_coro_parent(const mt_coro *c);

/* mt_coro_set_parent - make parent c's parent. Returns 0, -EINVAL (NULL
 * arguments, c a main coroutine, or a cycle: parent is c or one of its
 * descendants), -EPERM (either belongs to another thread). */
MT_EXPORT int mt_coro_set_parent(mt_coro *c, mt_coro *parent);

/* mt_coro_dead - c's function returned or c was thrown into or killed. */
MT_EXPORT bool mt_coro_dead(const mt_coro *c);

/* mt_coro_started - c has been switched into at least once (a main
 * coroutine always has). A dead coroutine may never have started. */
MT_EXPORT bool mt_coro_started(const mt_coro *c);

/* mt_coro_thrown - c ended through mt_coro_throw or mt_coro_kill rather
 * than by returning. */
MT_EXPORT bool mt_coro_thrown(const mt_coro *c);

/* mt_coro_defer - register fn(arg) to run when the current coroutine ends,
 * however it ends: its function returning, a throw, a kill, or
 * mt_coro_free of a suspended coroutine. Cleanups run newest first, on
 * the coroutine's own stack, before it hands over to its parent. Returns
 * 0, -EINVAL (fn NULL), -EPERM (called in a main coroutine, which never
 * ends), -ENOMEM. */
MT_EXPORT int mt_coro_defer(mt_coro_cleanup_fn fn, void *arg);

/* mt_coro_undefer - forget the current coroutine's newest cleanup, running
 * it first if run is true (pthread_cleanup_pop). Returns 0, or -ENOENT
 * when it has none left. */
MT_EXPORT int mt_coro_undefer(bool run);

/* mt_coro_set_name - name c for messages and traces (at most 31 bytes
 * are kept). Returns 0, -EINVAL. */
MT_EXPORT int mt_coro_set_name(mt_coro *c, const char *name);

/* mt_coro_name - c's name: the one given, else "main" for a main
 * coroutine and "coro-N" for the N-th coroutine the process created. */
MT_EXPORT const char *mt_coro_name(const mt_coro *c);

/* mt_coro_stack_size - the bytes of stack c's function may use (0 for a
 * main coroutine). */
MT_EXPORT size_t mt_coro_stack_size(const mt_coro *c);

/* mt_coro_stack_guard - how an overflow of c's stack is caught:
 * MT_CORO_GUARD_PAGES, MT_CORO_GUARD_CANARY or MT_CORO_GUARD_NONE. */
MT_EXPORT int mt_coro_stack_guard(const mt_coro *c);

/* mt_coro_free - release c and its stack. A suspended coroutine is first
 * ended as by mt_coro_kill, with the caller as its parent for the
 * occasion, so that its cleanups run and control comes back here. c's
 * children get c's parent as theirs. NULL, a main coroutine and the
 * current coroutine are ignored. Call it from c's thread, or from another
 * once c's thread has ended (then a suspended c's cleanups do not run). */
MT_EXPORT void mt_coro_free(mt_coro *c);

#ifdef __cplusplus
}
#endif
#endif
