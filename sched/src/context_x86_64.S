/*
 * context_x86_64.S - context switch for x86-64, System V ABI.
 *
 * Saved frame, from the saved stack pointer upwards:
 *   +0  MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes padding
 *   +8  r15   +16 r14   +24 r13   +32 r12   +40 rbx   +48 rbp
 *   +56 resume address
 * The status flags of MXCSR/x87 are not callee-saved, but their control
 * bits (rounding, exception masks) are, per the ABI; we keep both words.
 */
        .text

/* void *sp__ctx_switch(void **save_sp, void *to_sp, void *arg) */
        .globl  sp__ctx_switch
        .hidden sp__ctx_switch
        .type   sp__ctx_switch, @function
        .p2align 4
sp__ctx_switch:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)

        movq    %rsp, (%rdi)
        movq    %rsi, %rsp

        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        popq    %rcx
        movq    %rdx, %rax      /* returned in the resumed context */
        movq    %rdx, %rdi      /* first argument of a fresh trampoline */
        jmpq    *%rcx
        .cfi_endproc
        .size   sp__ctx_switch, .-sp__ctx_switch

/*
 * First code run on a fresh stack.  sp__ctx_make left the entry function in
 * rbx, its user pointer in r12 and rbp = 0; rdi holds the switch's arg.
 */
        .globl  sp__ctx_trampoline
        .hidden sp__ctx_trampoline
        .type   sp__ctx_trampoline, @function
        .p2align 4
sp__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rsi
        callq   *%rbx
        ud2                     /* an entry function returned: a bug */
        .cfi_endproc
        .size   sp__ctx_trampoline, .-sp__ctx_trampoline

/* void *sp__ctx_make(void *stack_top, sp__ctx_entry entry, void *user) */
        .globl  sp__ctx_make
        .hidden sp__ctx_make
        .type   sp__ctx_make, @function
        .p2align 4
sp__ctx_make:
        .cfi_startproc
        movq    %rdi, %rax
        andq    $-16, %rax      /* trampoline entry rsp must be 16-aligned */
        subq    $64, %rax
        movl    $0x1f80, (%rax)         /* MXCSR: all exceptions masked */
        movw    $0x037f, 4(%rax)        /* x87 CW: default */
        movw    $0, 6(%rax)
        movq    $0, 8(%rax)             /* r15 */
        movq    $0, 16(%rax)            /* r14 */
        movq    $0, 24(%rax)            /* r13 */
        movq    %rdx, 32(%rax)          /* r12 = user */
        movq    %rsi, 40(%rax)          /* rbx = entry */
        movq    $0, 48(%rax)            /* rbp = 0 ends the fp chain */
        leaq    sp__ctx_trampoline(%rip), %rcx
        movq    %rcx, 56(%rax)
        ret
        .cfi_endproc
        .size   sp__ctx_make, .-sp__ctx_make

        .section .note.GNU-stack,"",@progbits
