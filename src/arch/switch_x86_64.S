/* switch_x86_64.S: the coroutine context switch for x86-64, System V ABI
 * (the contract is in switch.h).
 *
 * A suspended context's saved stack pointer sp points at this frame,
 * pushed onto its own stack:
 *
 *   sp + 64  ...      the suspended code's stack, 16-byte aligned
 *   sp + 56  resume address (in a fresh frame: mt__coro_trampoline)
 *   sp + 48  rbp      (fresh: 0, the end of the frame-pointer chain)
 *   sp + 40  rbx
 *   sp + 32  r12      (fresh or rerouted: the entry function)
 *   sp + 24  r13
 *   sp + 16  r14
 *   sp + 8   r15
 *   sp + 4   x87 control word (2 bytes), then 2 unused bytes
 *   sp + 0   MXCSR (4 bytes)
 *
 * Only the callee-saved registers are kept: the caller of mt__coro_swap
 * has already saved the others, as for any call. The FP control state
 * (rounding mode, exception masks) is per coroutine, as Boost.Context's;
 * the x87 status and the MXCSR flags come along with it.
 *
 * The resume address is popped and jumped to rather than returned to: a
 * `ret` to another stack's call site would mispredict on every switch
 * and leave the return-stack buffer out of step for the returns after it.
 * (This is incompatible with CET shadow stacks, which Debian does not
 * enable.) */

#include "switch.h"

	.text

#ifdef MT__CORO_SWITCH_IN_ASM
/* void *mt_coro_switch(mt_coro *c, void *value): coro.c's C version in
 * the same steps (c not NULL, its key this thread's id, c not the
 * current coroutine; then current = c), falling into mt__coro_swap with
 * save = &current->sp and to = c->sp, where the C version made a call:
 * ~5% of a switch, measured against Boost's jump_fcontext. Anything else
 * goes to mt__coro_switch_slowly with rdi and rsi untouched. */
	.globl	mt_coro_switch
	.type	mt_coro_switch, @function
	.p2align 4
mt_coro_switch:
	.cfi_startproc
	testq	%rdi, %rdi
	jz	.Lslowly
	movq	mt__coro_tls@gottpoff(%rip), %rax
	movq	%fs:MT__TLS_ID(%rax), %rdx
	cmpq	%rdx, MT__CORO_KEY(%rdi)
	jne	.Lslowly
	movq	%fs:MT__TLS_CURRENT(%rax), %rcx
	cmpq	%rdi, %rcx
	je	.Lslowly
	movq	%rdi, %fs:MT__TLS_CURRENT(%rax)
	movq	MT__CORO_SP(%rdi), %rdx
	leaq	MT__CORO_SP(%rcx), %rdi
	.cfi_endproc
	/* on into mt__coro_swap, right below */
	.size	mt_coro_switch, .-mt_coro_switch
#else
	.p2align 4
#endif

/* void *mt__coro_swap(void **save, void *value, void *to)
 * rdi = save, rsi = value, rdx = to; value comes out in rax on the
 * other side. */
	.globl	mt__coro_swap
	.hidden	mt__coro_swap
	.type	mt__coro_swap, @function
mt__coro_swap:
	.cfi_startproc
	leaq	-56(%rsp), %rsp		/* the frame, below the return address */
	.cfi_adjust_cfa_offset 56
	movq	%r15, 8(%rsp)
	movq	%r14, 16(%rsp)
	movq	%r13, 24(%rsp)
	movq	%r12, 32(%rsp)
	movq	%rbx, 40(%rsp)
	movq	%rbp, 48(%rsp)
	/* The FP control words after the registers, not before: measured on
	 * the bench machine (AMD EPYC), the other order costs ~5% a switch,
	 * as does storing them after sp. */
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	.cfi_rel_offset r15, 8
	.cfi_rel_offset r14, 16
	.cfi_rel_offset r13, 24
	.cfi_rel_offset r12, 32
	.cfi_rel_offset rbx, 40
	.cfi_rel_offset rbp, 48

	movq	%rsp, (%rdi)		/* suspended: this stack is now saved */
	movzwl	4(%rsp), %r8d		/* our x87 control word, to compare */
	movq	%rdx, %rsp		/* from here on, the other stack */

	/* The resume address first, so that the jump's target is known
	 * while the rest loads. */
	movq	56(%rsp), %rcx
	ldmxcsr	(%rsp)
	/* fldcw only when the control word differs, as it almost never
	 * does: an fldcw after the ldmxcsr costs ~7% of a switch on the
	 * bench machine. The MXCSR cannot be compared the same way: a load
	 * of what stmxcsr just stored waits for the store to leave the
	 * core (1.3x a switch), where fnstcw's is forwarded. */
	cmpw	%r8w, 4(%rsp)
	jne	.Lload_x87_control
.Lx87_control_loaded:
	movq	8(%rsp), %r15
	movq	16(%rsp), %r14
	movq	24(%rsp), %r13
	movq	32(%rsp), %r12
	movq	40(%rsp), %rbx
	movq	48(%rsp), %rbp
	leaq	64(%rsp), %rsp
	movq	%rsi, %rax
	jmpq	*%rcx
.Lload_x87_control:
	fldcw	4(%rsp)
	jmp	.Lx87_control_loaded
	.cfi_endproc
	.size	mt__coro_swap, .-mt__coro_swap

#ifdef MT__CORO_SWITCH_IN_ASM
.Lslowly:
	jmp	mt__coro_switch_slowly
#endif

/* void *mt__coro_make(void *lo, void *top, void (*entry)(void *))
 * rdi = lo (unused here), rsi = top, rdx = entry. */
	.globl	mt__coro_make
	.hidden	mt__coro_make
	.type	mt__coro_make, @function
	.p2align 4
mt__coro_make:
	.cfi_startproc
	leaq	-64(%rsi), %rax
	stmxcsr	(%rax)
	fnstcw	4(%rax)
	movw	$0, 6(%rax)
	xorl	%ecx, %ecx
	movq	%rcx, 8(%rax)		/* r15 */
	movq	%rcx, 16(%rax)		/* r14 */
	movq	%rcx, 24(%rax)		/* r13 */
	movq	%rdx, 32(%rax)		/* r12: the entry */
	movq	%rcx, 40(%rax)		/* rbx */
	movq	%rcx, 48(%rax)		/* rbp */
	leaq	mt__coro_trampoline(%rip), %rcx
	movq	%rcx, 56(%rax)
	ret
	.cfi_endproc
	.size	mt__coro_make, .-mt__coro_make

/* void mt__coro_reroute(void *sp, void (*entry)(void *))
 * rdi = sp, rsi = entry. The suspended code's saved r12 is lost, which is
 * fine: it is never returned to. */
	.globl	mt__coro_reroute
	.hidden	mt__coro_reroute
	.type	mt__coro_reroute, @function
	.p2align 4
mt__coro_reroute:
	.cfi_startproc
	movq	%rsi, 32(%rdi)
	leaq	mt__coro_trampoline(%rip), %rcx
	movq	%rcx, 56(%rdi)
	ret
	.cfi_endproc
	.size	mt__coro_reroute, .-mt__coro_reroute

/* Where a fresh or rerouted context starts, with rsp 16-byte aligned (the
 * top of a fresh stack, or where the suspended code's call to
 * mt__coro_swap had left it) and the value in rax. The call keeps the
 * ABI's alignment at entry; the entry never returns. Unwinders stop
 * here: there is no caller. */
	.type	mt__coro_trampoline, @function
	.p2align 4
mt__coro_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%rax, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	mt__coro_trampoline, .-mt__coro_trampoline

	.section .note.GNU-stack,"",@progbits
