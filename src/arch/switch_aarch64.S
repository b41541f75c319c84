/* switch_aarch64.S: the coroutine context switch for AArch64, AAPCS64
 * (the contract is in switch.h).
 *
 * A suspended context's saved stack pointer sp points at this frame of
 * 176 bytes, pushed onto its own stack (sp stays 16-byte aligned):
 *
 *   sp + 176  ...        the suspended code's stack
 *   sp + 160  FPCR, then 8 unused bytes
 *   sp + 144  d14, d15
 *   sp + 128  d12, d13
 *   sp + 112  d10, d11
 *   sp + 96   d8,  d9    (only their low 64 bits are callee-saved)
 *   sp + 80   x29, x30   (x30: the resume address; fresh: the
 *                         trampoline, and x29 0, the end of the frame
 *                         chain)
 *   sp + 64   x27, x28
 *   sp + 48   x25, x26
 *   sp + 32   x23, x24
 *   sp + 16   x21, x22
 *   sp + 0    x19, x20   (x19 in a fresh or rerouted frame: the entry)
 *
 * Only the callee-saved registers are kept: the caller of mt__coro_swap
 * has already saved the others. FPCR (rounding mode, flush-to-zero,
 * trap enables) is per coroutine; it is written back only when it
 * differs, as an MSR to it may be slow. FPSR (the sticky flags) is left
 * to whoever runs. Pointer authentication and BTI need nothing here:
 * x30 is stored and reloaded as it is, and every jump lands by `ret` or
 * `blr` into C code compiled for them. */

	.text

/* void *mt__coro_swap(void **save, void *value, void *to)
 * x0 = save, x1 = value, x2 = to; value comes out in x0 on the other
 * side. */
	.globl	mt__coro_swap
	.hidden	mt__coro_swap
	.type	mt__coro_swap, %function
	.p2align 4
mt__coro_swap:
	.cfi_startproc
	sub	sp, sp, #176
	.cfi_def_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	.cfi_offset x29, -96
	.cfi_offset x30, -88
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]

	mov	x10, sp
	str	x10, [x0]		/* suspended: this stack is now saved */
	mov	sp, x2			/* from here on, the other stack */

	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldr	x9, [sp, #160]
	mrs	x10, fpcr
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x9
1:	add	sp, sp, #176
	mov	x0, x1
	ret
	.cfi_endproc
	.size	mt__coro_swap, .-mt__coro_swap

/* void *mt__coro_make(void *lo, void *top, void (*entry)(void *))
 * x0 = lo (unused here), x1 = top, x2 = entry. */
	.globl	mt__coro_make
	.hidden	mt__coro_make
	.type	mt__coro_make, %function
	.p2align 4
mt__coro_make:
	.cfi_startproc
	sub	x0, x1, #176
	stp	x2, xzr, [x0, #0]	/* x19: the entry; x20 */
	stp	xzr, xzr, [x0, #16]
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	adr	x9, mt__coro_trampoline
	stp	xzr, x9, [x0, #80]	/* x29 = 0, x30 = the trampoline */
	stp	xzr, xzr, [x0, #96]
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	mrs	x9, fpcr
	stp	x9, xzr, [x0, #160]
	ret
	.cfi_endproc
	.size	mt__coro_make, .-mt__coro_make

/* void mt__coro_reroute(void *sp, void (*entry)(void *))
 * x0 = sp, x1 = entry. The suspended code's saved x19 is lost, which is
 * fine: it is never returned to. */
	.globl	mt__coro_reroute
	.hidden	mt__coro_reroute
	.type	mt__coro_reroute, %function
	.p2align 4
mt__coro_reroute:
	.cfi_startproc
	str	x1, [x0, #0]
	adr	x9, mt__coro_trampoline
	str	x9, [x0, #88]
	ret
	.cfi_endproc
	.size	mt__coro_reroute, .-mt__coro_reroute

/* Where a fresh or rerouted context starts, the value in x0 and sp where
 * the frame above ends (16-byte aligned). The entry never returns.
 * Unwinders stop here: there is no caller. */
	.type	mt__coro_trampoline, %function
	.p2align 4
mt__coro_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	blr	x19
	brk	#0x3c
	.cfi_endproc
	.size	mt__coro_trampoline, .-mt__coro_trampoline

	.section .note.GNU-stack,"",%progbits
