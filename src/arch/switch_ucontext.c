/* switch_ucontext.c: the context switch for CPUs without one in assembly
 * (the contract is in switch.h), on top of swapcontext(3).
 *
 * Only a fallback: swapcontext saves and restores the signal mask with a
 * system call on every switch, a microsecond where the assembly takes
 * nanoseconds. The build uses it only when src/arch/ has no .S file for
 * the target CPU.
 *
 * A saved context is a struct uc_frame on the suspended stack: the
 * ucontext_t of a pending mt__coro_swap (a local of that call), or, for
 * a fresh context, one placed at the top of its stack. The value in
 * flight and the frame being started pass through thread-local variables,
 * which is safe because a switch never leaves its thread. */
#include <stdlib.h>
#include <ucontext.h>

#include "arch/switch.h"

struct uc_frame {
	ucontext_t context;
	void (*entry)(void *value); /* fresh or rerouted: what to call */
};

static __thread void *value_in_flight;
static __thread struct uc_frame *frame_starting;

/* Runs on a fresh stack: makecontext passes no pointer portably, so the
 * frame comes through frame_starting. */
static void start_fresh_context(void)
{
	struct uc_frame *frame = frame_starting;
	frame->entry(value_in_flight);
	abort(); /* an entry never returns */
}

void *mt__coro_swap(void **save, void *value, void *to)
{
	struct uc_frame here = {.entry = NULL};
	*save = &here;
	value_in_flight = value;
	frame_starting = to;
	if (swapcontext(&here.context, &((struct uc_frame *)to)->context) < 0)
		abort(); /* only fails for a bad context: a library bug */
	if (here.entry)
		here.entry(value_in_flight); /* rerouted: never returns */
	return value_in_flight;
}

void *mt__coro_make(void *lo, void *top, void (*entry)(void *value))
{
	struct uc_frame *frame = (struct uc_frame *)top - 1;
	frame = (struct uc_frame *)((unsigned long)frame & ~15ul);
	if (getcontext(&frame->context) < 0)
		abort();
	frame->entry = entry;
	frame->context.uc_link = NULL;
	frame->context.uc_stack.ss_sp = lo;
	frame->context.uc_stack.ss_size = (size_t)((char *)frame - (char *)lo);
	makecontext(&frame->context, start_fresh_context, 0);
	return frame;
}

void mt__coro_reroute(void *sp, void (*entry)(void *value))
{
	((struct uc_frame *)sp)->entry = entry;
}
