/* switch.h: the contract between coro.c and the context switch of each
 * CPU (switch_x86_64.S, switch_aarch64.S, or switch_ucontext.c where
 * there is no assembly). Private to the library.
 *
 * A suspended context is one pointer, its "saved stack pointer": the
 * assembly pushes the callee-saved registers and the floating-point
 * control state onto the suspended stack and keeps the address (each .S
 * draws its layout at the top). A fresh context is a stack prepared so
 * that resuming it calls entry(value) on that stack; entry must never
 * return. */
#ifndef MTASK_ARCH_SWITCH_H
#define MTASK_ARCH_SWITCH_H

/* Where the CPU's assembly also holds mt_coro_switch's fast path (the
 * checks of coro.c's C version, then the switch with no call between):
 * x86-64, unless a sanitizer wants its fiber hooks around each switch.
 * It reads these offsets, which coro.c checks against its records. */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if !__has_feature(address_sanitizer) && !__has_feature(thread_sanitizer)
#define MT__CORO_SWITCH_IN_ASM 1
#endif
#else
#define MT__CORO_SWITCH_IN_ASM 1
#endif
#endif
#define MT__CORO_SP 0	  /* mt_coro: the saved stack pointer */
#define MT__CORO_KEY 8	  /* mt_coro: the thread's id, if a fast switch may go there */
#define MT__TLS_CURRENT 0 /* the thread's mt__coro_tls: the running coroutine */
#define MT__TLS_ID 8	  /* mt__coro_tls: the thread's id */

#ifndef __ASSEMBLER__
#define MT_ARCH_HIDDEN __attribute__((visibility("hidden")))

/* Saves the calling context, stores its saved stack pointer in *save,
 * resumes the context saved at to and hands it value: a suspended
 * context's own mt__coro_swap call returns value, a fresh one calls its
 * entry(value). Returns, once the caller's context is resumed in turn,
 * the value its resumer passed. (value comes second because the public
 * switch has it there already: one register move less.) */
MT_ARCH_HIDDEN void *mt__coro_swap(void **save, void *value, void *to);

/* Prepares the stack [lo, top) (top 16-byte aligned) as a fresh context
 * that calls entry(value) when first resumed, with the caller's
 * floating-point control state (rounding, exception masks). Returns its
 * saved stack pointer. */
MT_ARCH_HIDDEN void *mt__coro_make(void *lo, void *top, void (*entry)(void *value));

/* Makes the suspended context saved at sp resume by calling entry(value)
 * right below the frames it had, instead of returning from its pending
 * mt__coro_swap; those frames stay intact above it. */
MT_ARCH_HIDDEN void mt__coro_reroute(void *sp, void (*entry)(void *value));

/* mt_coro_switch when a check fails (coro.c): the fast path in assembly
 * jumps there with its arguments untouched. */
struct mt_coro;
MT_ARCH_HIDDEN void *mt__coro_switch_slowly(struct mt_coro *c, void *value);
#endif /* __ASSEMBLER__ */

#endif
