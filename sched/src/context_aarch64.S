/*
 * context_aarch64.S - context switch for AArch64, AAPCS64 (Linux).
 *
 * Saved frame, 176 bytes, from the saved stack pointer upwards:
 *   +0   FPCR (8 bytes), 8 bytes padding
 *   +16  d8   +24  d9   +32  d10  +40  d11
 *   +48  d12  +56  d13  +64  d14  +72  d15
 *   +80  x19  +88  x20  +96  x21  +104 x22
 *   +112 x23  +120 x24  +128 x25  +136 x26
 *   +144 x27  +152 x28
 *   +160 x29 (fp)   +168 x30 (resume address)
 * Only the low 64 bits of v8-v15 are callee-saved.  FPSR holds status
 * flags only and is not kept; FPCR's control bits (rounding, FZ, DN,
 * trap enables) are.  x18 is the platform register and is left alone.
 * sp stays 16-byte aligned throughout, as the architecture requires.
 */
        .text

/* void *sp__ctx_switch(void **save_sp, void *to_sp, void *arg) */
        .globl  sp__ctx_switch
        .hidden sp__ctx_switch
        .type   sp__ctx_switch, @function
        .p2align 4
sp__ctx_switch:
        .cfi_startproc
        sub     sp, sp, #176
        .cfi_adjust_cfa_offset 176
        stp     x29, x30, [sp, #160]
        stp     x27, x28, [sp, #144]
        stp     x25, x26, [sp, #128]
        stp     x23, x24, [sp, #112]
        stp     x21, x22, [sp, #96]
        stp     x19, x20, [sp, #80]
        stp     d14, d15, [sp, #64]
        stp     d12, d13, [sp, #48]
        stp     d10, d11, [sp, #32]
        stp     d8, d9, [sp, #16]
        mrs     x10, fpcr
        str     x10, [sp]

        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1

        ldr     x9, [sp]
        cmp     x9, x10         /* writing FPCR can be slow: skip if equal */
        b.eq    1f
        msr     fpcr, x9
1:
        ldp     d8, d9, [sp, #16]
        ldp     d10, d11, [sp, #32]
        ldp     d12, d13, [sp, #48]
        ldp     d14, d15, [sp, #64]
        ldp     x19, x20, [sp, #80]
        ldp     x21, x22, [sp, #96]
        ldp     x23, x24, [sp, #112]
        ldp     x25, x26, [sp, #128]
        ldp     x27, x28, [sp, #144]
        ldp     x29, x30, [sp, #160]
        add     sp, sp, #176
        mov     x0, x2          /* returned in the resumed context, and the
                                   first argument of a fresh trampoline */
        /*
         * br, not ret: ret hints a return and would mispredict (context.h).
         * A br to a plain return site is not BTI-compatible, which is why
         * this object carries no BTI property note.
         */
        br      x30
        .cfi_endproc
        .size   sp__ctx_switch, .-sp__ctx_switch

/*
 * First code run on a fresh stack.  sp__ctx_make left the entry function in
 * x19, its user pointer in x20 and x29 = 0; x0 holds the switch's arg.
 */
        .globl  sp__ctx_trampoline
        .hidden sp__ctx_trampoline
        .type   sp__ctx_trampoline, @function
        .p2align 4
sp__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        mov     x1, x20
        blr     x19
        brk     #0              /* an entry function returned: a bug */
        .cfi_endproc
        .size   sp__ctx_trampoline, .-sp__ctx_trampoline

/* void *sp__ctx_make(void *stack_top, sp__ctx_entry entry, void *user) */
        .globl  sp__ctx_make
        .hidden sp__ctx_make
        .type   sp__ctx_make, @function
        .p2align 4
sp__ctx_make:
        .cfi_startproc
        and     x9, x0, #-16    /* trampoline entry sp must be 16-aligned */
        sub     x0, x9, #176
        stp     xzr, xzr, [x0]          /* FPCR = 0: round to nearest,
                                           no traps, no FZ/DN */
        stp     xzr, xzr, [x0, #16]     /* d8-d15 */
        stp     xzr, xzr, [x0, #32]
        stp     xzr, xzr, [x0, #48]
        stp     xzr, xzr, [x0, #64]
        stp     x1, x2, [x0, #80]       /* x19 = entry, x20 = user */
        stp     xzr, xzr, [x0, #96]     /* x21-x28 */
        stp     xzr, xzr, [x0, #112]
        stp     xzr, xzr, [x0, #128]
        stp     xzr, xzr, [x0, #144]
        adr     x9, sp__ctx_trampoline
        stp     xzr, x9, [x0, #160]     /* x29 = 0 ends the fp chain */
        ret
        .cfi_endproc
        .size   sp__ctx_make, .-sp__ctx_make

        .section .note.GNU-stack,"",@progbits
