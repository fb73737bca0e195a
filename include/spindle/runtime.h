/*
 * spindle/runtime.h - the work-stealing coroutine runtime.
 *
 * A runtime owns one worker thread per CPU.  Each worker runs stackful
 * coroutines ("tasks") from its own run queue, has its own poll loop (epoll
 * plus nanosecond timers), and steals work from the others when idle.  The
 * API mirrors Python's asyncio:
 *
 *   asyncio.run(main())          sp_run(main, arg, &result)
 *   asyncio.create_task(c())     sp_spawn(&t, fn, arg)
 *   await task                   sp_join(t, &result)
 *   asyncio.gather(*tasks)       sp_gather(tasks, n, results)
 *   asyncio.sleep(s)             sp_sleep(ns)
 *   asyncio.sleep(0)             sp_yield()
 *   task.cancel()                sp_cancel(t)
 *   asyncio.wait_for(t, s)       sp_join_timeout(t, ns, &result)
 *   asyncio.timeout(s)           sp_deadline_push(&scope, ns) ... sp_deadline_pop(&scope)
 *   asyncio.to_thread(f)         sp_offload(fn, arg, &result)
 *
 * Waiting ("parking") suspends only the calling task; its worker runs other
 * tasks meanwhile.  A parked task may resume on a different worker thread, so
 * never keep a pointer to thread-local data (errno included) across a call
 * that may park.
 *
 * Every function that may park returns an int: 0, or SP_ECANCELED when the
 * task was cancelled, SP_ETIMEDOUT when a deadline expired, SP_ESHUTDOWN when
 * the runtime is being torn down.  See spindle/error.h.
 */
#ifndef SPINDLE_RUNTIME_H
#define SPINDLE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "spindle/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_runtime sp_runtime;
typedef struct sp_task sp_task;

/* A task's body.  Its return value is handed to whoever joins the task. */
typedef void *(*sp_task_fn)(void *arg);

/*
 * Default task stack size.  Stacks are reserved address space: only the pages
 * a task touches use memory (typically one 4 KiB page for a task that just
 * sleeps), so a generous default costs nothing per idle task.
 */
#define SP_STACK_SIZE_DEFAULT ((size_t)256 * 1024)
/* Smallest stack accepted; smaller requests are rounded up. */
#define SP_STACK_SIZE_MIN ((size_t)16 * 1024)
/* Largest stack accepted; larger requests fail with SP_EINVAL. */
#define SP_STACK_SIZE_MAX ((size_t)1024 * 1024 * 1024)

/* ---------------------------------------------------------------- runtime */

typedef struct sp_runtime_opts {
  /* Worker threads.  0: the SPINDLE_WORKERS environment variable if set,
   * else one per CPU in the process's affinity mask. */
  unsigned workers;
  /* Default task stack size in bytes.  0: SP_STACK_SIZE_DEFAULT. */
  size_t stack_size;
  /* Most threads of the blocking-call pool (sp_offload).  0: 64. */
  unsigned offload_threads;
  /* Print per-worker counters to stderr when the runtime is freed:
   * 1 yes, 0 no, -1 (the default) only if SPINDLE_STATS=1. */
  int print_stats;
} sp_runtime_opts;

/* Fills *opts with the defaults described above. */
void sp_runtime_opts_init(sp_runtime_opts *opts);

/*
 * Runs fn(arg) as the main task of a fresh runtime, blocks the calling thread
 * until it returns, then shuts the runtime down (see sp_runtime_free) and
 * stores fn's return value in *result (if result is not NULL).
 * Returns 0, or an error if the runtime could not start.
 */
int sp_run(sp_task_fn fn, void *arg, void **result);
int sp_run_opts(const sp_runtime_opts *opts, sp_task_fn fn, void *arg, void **result);

/* Creates a runtime and starts its workers.  opts may be NULL. */
int sp_runtime_new(const sp_runtime_opts *opts, sp_runtime **out);

/*
 * From a thread that is not one of rt's workers: runs fn(arg) as a task on
 * rt and blocks the thread until it returns.  Several threads may do this at
 * once.  Returns SP_EPERM when called from inside a task.
 */
int sp_runtime_block_on(sp_runtime *rt, sp_task_fn fn, void *arg, void **result);

/*
 * Shuts rt down and frees it.  Tasks still alive are cancelled; from then on
 * every park in them fails at once with SP_ESHUTDOWN, so each runs to its
 * end.  Waits for all of them, then stops the workers.  Handles not joined
 * become invalid.  Must not be called from one of rt's own threads.
 */
int sp_runtime_free(sp_runtime *rt);

/* The runtime the calling thread works for, or NULL on a foreign thread. */
sp_runtime *sp_runtime_current(void);

/* Number of worker threads of rt. */
unsigned sp_runtime_workers(const sp_runtime *rt);

/* Index of the calling worker thread in [0, workers), or -1 on other threads. */
int sp_worker_id(void);

/* ------------------------------------------------------------------ tasks */

typedef struct sp_spawn_opts {
  size_t stack_size; /* 0: the runtime's default */
  const char *name;  /* copied, up to 31 bytes; NULL: "task" */
} sp_spawn_opts;

/*
 * Spawns fn(arg) as a new task on the calling task's runtime.  With out not
 * NULL, *out receives a handle that must be passed to exactly one of
 * sp_join, sp_join_timeout, sp_gather or sp_detach; with out NULL the task is
 * detached.  The new task is queued on the calling worker and may be stolen
 * by others.  Returns SP_EPERM outside a runtime thread (see
 * sp_runtime_spawn), SP_ENOMEM, SP_ESHUTDOWN.
 */
int sp_spawn(sp_task **out, sp_task_fn fn, void *arg);
int sp_spawn_with(sp_task **out, const sp_spawn_opts *opts, sp_task_fn fn, void *arg);

/* Spawns on rt from any thread, including threads foreign to rt.  opts may be NULL. */
int sp_runtime_spawn(sp_runtime *rt, sp_task **out, const sp_spawn_opts *opts,
                     sp_task_fn fn, void *arg);

/*
 * Waits for t to finish and stores its return value in *result (if not
 * NULL), then releases the handle.  Works from tasks and from foreign
 * threads (which block).  Returns 0; SP_ENOTASK (handle released) if t was
 * cancelled before it ever started; or, with the handle kept, SP_ECANCELED /
 * SP_ETIMEDOUT / SP_ESHUTDOWN if the waiting itself was interrupted.
 */
int sp_join(sp_task *t, void **result);

/*
 * Like asyncio.wait_for: waits at most timeout_ns for t.  On timeout, cancels
 * t, waits for it to end, releases the handle and returns SP_ETIMEDOUT.
 */
int sp_join_timeout(sp_task *t, uint64_t timeout_ns, void **result);

/*
 * Waits for all n tasks and releases every handle, like asyncio.gather.
 * results (may be NULL) receives each return value, in order.  Returns 0, or
 * the first non-zero join status.  If the waiting task is cancelled or its
 * deadline expires, every task not yet done is cancelled and still awaited,
 * and the error is returned.
 */
int sp_gather(sp_task *const *tasks, size_t n, void **results);

/* Releases the handle; the task runs on and is freed when it ends. */
void sp_detach(sp_task *t);

/*
 * Requests cancellation of t.  The request is delivered once: t's current
 * park (or its next one, or its next sp_yield) returns SP_ECANCELED, and t
 * decides what to do.  A task cancelled before it started never runs.
 * Safe from any thread, on a handle the caller still holds.
 */
void sp_cancel(sp_task *t);

/* The calling task, or NULL outside a task. */
sp_task *sp_self(void);
/* A task's name and its unique id (ids start at 1). */
const char *sp_task_name(const sp_task *t);
uint64_t sp_task_id(const sp_task *t);

/* ------------------------------------------------------------ time, yield */

/* CLOCK_MONOTONIC in nanoseconds: the clock of every spindle deadline. */
uint64_t sp_now_ns(void);

/* Parks the calling task for ns nanoseconds (sub-microsecond resolution). */
int sp_sleep(uint64_t ns);
/* Parks the calling task until sp_now_ns() >= deadline_ns. */
int sp_sleep_until(uint64_t deadline_ns);

/*
 * Lets every other runnable task on this worker run, then continues.
 * Returns 0, or SP_ECANCELED if a cancellation request was pending.
 */
int sp_yield(void);

/* ------------------------------------------------------ deadlines (scopes) */

/*
 * A deadline scope bounds every park in the calling task while it is open,
 * like asyncio.timeout(): parks that would last past the deadline return
 * SP_ETIMEDOUT when it arrives.  Scopes nest; the earliest deadline applies.
 * Close scopes in reverse order of opening, in the same task.
 */
typedef struct sp_deadline {
  uint64_t deadline_ns; /* this scope's absolute deadline */
  uint64_t saved_ns;    /* the enclosing deadline, restored by pop */
} sp_deadline;

void sp_deadline_push(sp_deadline *scope, uint64_t timeout_ns);
/* Closes the scope; returns 1 if its deadline has passed, else 0. */
int sp_deadline_pop(sp_deadline *scope);

/*
 * Runs fn(arg) in the calling task under a deadline scope of timeout_ns.
 * Returns SP_ETIMEDOUT if the deadline passed before fn returned, else 0;
 * fn's return value goes to *result (if not NULL) either way.
 */
int sp_wait_for(uint64_t timeout_ns, sp_task_fn fn, void *arg, void **result);

/* ---------------------------------------------------------------- offload */

/*
 * Runs a blocking fn(arg) on the runtime's blocking-call pool (like
 * asyncio.to_thread) and parks the calling task until it returns.  The call
 * cannot be interrupted: a cancel request arriving meanwhile is delivered at
 * the task's next park.  Returns 0, SP_ENOMEM, or SP_EPERM outside a task.
 */
int sp_offload(sp_task_fn fn, void *arg, void **result);

/* ------------------------------------------------------------ observation */

/* Per-worker event counters (monotonic since the runtime started). */
typedef struct sp_worker_stats {
  uint64_t tasks_run;    /* times a task was switched to */
  uint64_t spawns;       /* tasks spawned by this worker */
  uint64_t steals;       /* tasks taken from other workers' queues */
  uint64_t steal_ops;    /* successful steal operations (batches) */
  uint64_t parks;        /* times the worker blocked in its poll loop */
  uint64_t wakeups;      /* times another thread woke this worker */
  uint64_t global_polls; /* times the global queue gave this worker work */
  uint64_t timer_fires;  /* timers expired on this worker's loop */
  uint64_t io_events;    /* fd readiness events handled */
  uint64_t lifo_runs;    /* tasks run from the just-woken slot */
  uint64_t overflows;    /* batches moved from the local to the global queue */
  uint64_t takeovers;    /* times another thread served this worker's loop */
} sp_worker_stats;

/* Copies worker w's counters into *out.  Returns SP_EINVAL for a bad w. */
int sp_runtime_stats(const sp_runtime *rt, unsigned w, sp_worker_stats *out);
/* Prints every worker's counters, one line each, to f. */
void sp_runtime_print_stats(const sp_runtime *rt, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
