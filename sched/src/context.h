/*
 * context.h - the hand-written machine context switch (internal).
 *
 * A context is just a saved stack pointer: sp__ctx_switch pushes the
 * callee-saved registers and the FPU control words onto the running stack,
 * stores the stack pointer in *save_sp, loads to_sp and pops the same frame
 * from there.  Everything else a C function may clobber is, by the ABI,
 * already dead at the call.  Control resumes with a jump, not `ret`: a `ret`
 * would consult the return-stack predictor, which always guesses the caller
 * of *this* switch and so mispredicts on every switch.
 *
 * The value `arg` travels with the switch: sp__ctx_switch returns, in the
 * resumed context, the arg that the switching side passed.  The scheduler
 * uses it to hand over "the context we just left" so that the resumed side
 * can finish that context's bookkeeping once it is safely off its stack.
 */
#ifndef SPINDLE_CONTEXT_H
#define SPINDLE_CONTEXT_H

#include <stddef.h>

/* Entry of a fresh context: `arg` is what the first switch to it passed,
 * `user` what sp__ctx_make was given.  It must never return. */
typedef void (*sp__ctx_entry)(void *arg, void *user);

void *sp__ctx_switch(void **save_sp, void *to_sp, void *arg);

/*
 * Lays out an initial frame at the top of a stack whose highest usable
 * address is stack_top, such that the first sp__ctx_switch to the returned
 * stack pointer calls entry(arg, user) on that stack.  The entry trampoline
 * ends the frame-pointer chain (frame pointer 0) and its unwind info marks
 * the return address undefined, so perf, gdb and libunwind stop there.
 */
void *sp__ctx_make(void *stack_top, sp__ctx_entry entry, void *user);

#endif
