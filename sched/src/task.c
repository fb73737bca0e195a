/*
 * task.c - the runtime's life cycle and the task API: spawn, join, gather,
 * detach, cancel, deadline scopes.
 */
#include <sched.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef SP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* ---------------------------------------------------------------- runtime */

void sp_runtime_opts_init(sp_runtime_opts *o) {
  memset(o, 0, sizeof *o);
  o->print_stats = -1;
}

static unsigned default_workers(void) {
  const char *env = getenv("SPINDLE_WORKERS");
  if (env && *env) {
    char *end;
    unsigned long n = strtoul(env, &end, 10);
    if (*end == '\0' && n > 0 && n <= 1024) return (unsigned)n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return (unsigned)n;
  }
  return 1;
}

static void runtime_destroy(sp_runtime *rt) {
  if (rt->workers) {
    for (unsigned i = 0; i < rt->nworkers; i++) {
      if (!rt->workers[i]) continue;
      sp__loop_close(&rt->workers[i]->loop);
      free(rt->workers[i]);
    }
    free(rt->workers);
  }
  sp__stacks_destroy(rt);
  sp__tcb_destroy(rt);
  free(rt->gq_buf);
  pthread_mutex_destroy(&rt->gq_lock);
  pthread_mutex_destroy(&rt->idle_lock);
  pthread_mutex_destroy(&rt->done_lock);
  pthread_cond_destroy(&rt->done_cond);
  free(rt);
}

int sp_runtime_new(const sp_runtime_opts *opts, sp_runtime **out) {
  sp_runtime_opts defaults;
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!opts) {
    sp_runtime_opts_init(&defaults);
    opts = &defaults;
  }
  if (opts->workers > 1024) return SP_EINVAL;
  if (opts->stack_size > SP_STACK_SIZE_MAX) return SP_EINVAL;
  if (sp__cur_worker()) return SP_EPERM; /* one runtime per thread */

  sp_runtime *rt = aligned_alloc(SP_CACHELINE, (sizeof *rt + SP_CACHELINE - 1) & ~(size_t)(SP_CACHELINE - 1));
  if (!rt) return SP_ENOMEM;
  memset(rt, 0, sizeof *rt);
  rt->nworkers = opts->workers ? opts->workers : default_workers();
  rt->default_stack = opts->stack_size ? opts->stack_size : SP_STACK_SIZE_DEFAULT;
  if (opts->print_stats >= 0) {
    rt->print_stats = opts->print_stats;
  } else {
    const char *env = getenv("SPINDLE_STATS");
    rt->print_stats = env && env[0] == '1';
  }
  atomic_init(&rt->next_id, 1);
  pthread_mutex_init(&rt->gq_lock, NULL);
  pthread_mutex_init(&rt->idle_lock, NULL);
  pthread_mutex_init(&rt->done_lock, NULL);
  pthread_cond_init(&rt->done_cond, NULL);

  int err = sp__signals_install();
  if (!err) err = sp__stacks_init(rt);
  if (!err) err = sp__tcb_init(rt);
  if (err) goto fail;
  rt->workers = calloc(rt->nworkers, sizeof *rt->workers);
  if (!rt->workers) {
    err = SP_ENOMEM;
    goto fail;
  }
  for (unsigned i = 0; i < rt->nworkers; i++) {
    sp_worker *w = aligned_alloc(SP_CACHELINE, (sizeof *w + SP_CACHELINE - 1) & ~(size_t)(SP_CACHELINE - 1));
    if (!w) {
      err = SP_ENOMEM;
      goto fail;
    }
    memset(w, 0, sizeof *w);
    w->rt = rt;
    w->id = i;
    w->rng = 0x9E3779B97F4A7C15ull * (i + 1) ^ (uintptr_t)w;
    sp__runq_init(&w->rq);
    w->loop.epfd = w->loop.efd = w->loop.tfd = -1;
    rt->workers[i] = w;
    if ((err = sp__loop_init(&w->loop, w))) goto fail;
  }
  if ((err = sp__offload_init(rt, opts->offload_threads ? opts->offload_threads : 64))) goto fail;
  if ((err = sp__monitor_start(rt))) {
    sp__offload_destroy(rt);
    goto fail;
  }
  if ((err = sp__workers_start(rt))) {
    sp__monitor_stop(rt);
    sp__offload_destroy(rt);
    goto fail;
  }
  *out = rt;
  return 0;
fail:
  runtime_destroy(rt);
  return err;
}

static void cancel_for_shutdown(sp_task *t, void *arg) {
  (void)arg;
  if (atomic_load(&t->state) == SP_TS_DONE) return;
  sp_cancel(t);
}

/*
 * Live tasks, read without stopping anyone: every exit counter first, then
 * every spawn counter, all of them monotonic.  A task's spawn is counted
 * before it is published and its exit is a release store, so an exit read
 * here brings its spawn into the later reads.  So the result is at least
 * the number live at the moment the exit counters were all read, and 0
 * only if none was live then and none was spawned since.  (One signed sum
 * per worker, as before, was not one snapshot: a spawn on one worker read
 * before it happened and the spawner's exit on another read after could
 * make the sum 0 with a task still live.)
 */
int64_t sp__live_tasks(sp_runtime *rt) {
  uint64_t exited = 0, spawned = 0;
  for (unsigned i = 0; i < rt->nworkers; i++) exited += atomic_load_explicit(&rt->workers[i]->exited, memory_order_acquire);
  spawned = atomic_load_explicit(&rt->spawned_foreign, memory_order_acquire);
  for (unsigned i = 0; i < rt->nworkers; i++)
    spawned += atomic_load_explicit(&rt->workers[i]->spawned, memory_order_acquire);
  return (int64_t)(spawned - exited);
}

int sp_runtime_free(sp_runtime *rt) {
  if (!rt) return SP_EINVAL;
  if (sp__cur_worker()) return SP_EPERM;
  atomic_store(&rt->shutdown, 1);
  /* Cancel everything alive; parks fail from now on, so each task runs to
   * its end.  Rescan: a task spawned during the scan is caught next round. */
  pthread_mutex_lock(&rt->done_lock);
  while (sp__live_tasks(rt) > 0) {
    pthread_mutex_unlock(&rt->done_lock);
    sp__tasks_foreach(rt, cancel_for_shutdown, NULL);
    pthread_mutex_lock(&rt->done_lock);
    if (sp__live_tasks(rt) > 0) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 1000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&rt->done_cond, &rt->done_lock, &ts);
    }
  }
  pthread_mutex_unlock(&rt->done_lock);
  if (rt->io_fini) rt->io_fini(rt);
  sp__workers_stop(rt);
  sp__monitor_stop(rt);
  sp__offload_destroy(rt);
  if (rt->print_stats) sp_runtime_print_stats(rt, stderr);
  runtime_destroy(rt);
#ifdef __GLIBC__
  /* The workers' malloc arenas keep what their tasks freed (tens of MB
   * after 10,000 transfers); give it back now that they are gone. */
  malloc_trim(0);
#endif
  return 0;
}

unsigned sp_runtime_workers(const sp_runtime *rt) { return rt ? rt->nworkers : 0; }

int sp_runtime_block_on(sp_runtime *rt, sp_task_fn fn, void *arg, void **result) {
  if (!rt || !fn) return SP_EINVAL;
  if (sp__cur_worker()) return SP_EPERM;
  sp_task *t;
  sp_spawn_opts o = {0, "main"};
  int err = sp_runtime_spawn(rt, &t, &o, fn, arg);
  if (err) return err;
  return sp_join(t, result);
}

int sp_run_opts(const sp_runtime_opts *opts, sp_task_fn fn, void *arg, void **result) {
  sp_runtime *rt;
  int err = sp_runtime_new(opts, &rt);
  if (err) return err;
  err = sp_runtime_block_on(rt, fn, arg, result);
  sp_runtime_free(rt);
  return err;
}

int sp_run(sp_task_fn fn, void *arg, void **result) { return sp_run_opts(NULL, fn, arg, result); }

/* ------------------------------------------------------------------ spawn */

sp_task *sp__task_create(sp_runtime *rt, sp_worker *w, const sp_spawn_opts *opts, sp_task_fn fn,
                         void *arg, int flags, int *err) {
  size_t size = opts && opts->stack_size ? opts->stack_size : rt->default_stack;
  if (size > SP_STACK_SIZE_MAX) {
    *err = SP_EINVAL;
    return NULL;
  }
  if (size < SP_STACK_SIZE_MIN) size = SP_STACK_SIZE_MIN;
  sp_task *t = sp__tcb_alloc(rt, w);
  if (!t) {
    *err = SP_ENOMEM;
    return NULL;
  }
  /* Blocks are recycled: set every field.  The stack comes at first run. */
  t->sp = NULL;
  t->why = 0;
  /* Not RUNNABLE until spawn_on has finished it: a stale queue entry
   * could otherwise claim a half-made task. */
  atomic_store_explicit(&t->state, SP_TS_DONE, memory_order_relaxed);
  /* Park 0 pending: not started.  A system task's start cannot be
   * cancelled: the cancel waits for its first interruptible park. */
  atomic_store_explicit(&t->wait, (flags & SP__SPAWN_SYSTEM) ? SP_WAIT_UNINTERRUPTIBLE : 0, memory_order_relaxed);
  t->seq = 0;
  atomic_store_explicit(&t->cancel_req, 0, memory_order_relaxed);
  t->cancelled_before_run = 0;
  t->started = false;
  t->canary = false;
  t->deadline = SP_NEVER;
  t->timer.idx = -1;
  t->timer.loop = NULL;
  t->fn = fn;
  t->arg = arg;
  t->result = NULL;
  t->rt = rt;
  t->next = NULL;
  t->joinq = (sp__waitq)SP__WAITQ_INIT;
  t->done = false;
  t->stack_req = size;
  t->slab = NULL;
  t->stack_lo = NULL;
  t->stack_size = 0;
  t->start_err = 0;
#ifdef SP_ASAN
  t->asan_fake_stack = NULL;
#endif
  t->id = atomic_fetch_add_explicit(&rt->next_id, 1, memory_order_relaxed);
  const char *name = opts && opts->name ? opts->name : "task";
  size_t nl = strnlen(name, SP_TASK_NAME_MAX - 1);
  memcpy(t->name, name, nl);
  t->name[nl] = '\0';
#ifdef SP_TSAN
  t->tsan_fiber = __tsan_create_fiber(0);
  __tsan_set_fiber_name(t->tsan_fiber, t->name);
#endif
  /* Counted before the task is published (release): see sp__live_tasks. */
  if (w)
    atomic_store_explicit(&w->spawned, atomic_load_explicit(&w->spawned, memory_order_relaxed) + 1,
                          memory_order_relaxed);
  else
    atomic_fetch_add(&rt->spawned_foreign, 1);
  sp__tcb_publish(t);
  return t;
}

static int spawn_on(sp_runtime *rt, sp_worker *w, sp_task **out, const sp_spawn_opts *opts,
                    sp_task_fn fn, void *arg, int flags) {
  if (!fn) return SP_EINVAL;
  if (out) *out = NULL;
  if (atomic_load(&rt->shutdown)) return SP_ESHUTDOWN;
  int err = 0;
  sp_task *t = sp__task_create(rt, w, opts, fn, arg, flags, &err);
  if (!t) return err;
  atomic_store_explicit(&t->refs, out ? 2 : 1, memory_order_relaxed);
  atomic_store_explicit(&t->state, SP_TS_RUNNABLE, memory_order_release);
  if (out) *out = t;
  SP_PROBE2(spawn, t->id, w ? (long)w->id : -1L);
  if (w) SP_STAT_ADD(w, ST_SPAWNS, 1);
  sp__ready(t, false);
  return 0;
}

int sp_spawn_with(sp_task **out, const sp_spawn_opts *opts, sp_task_fn fn, void *arg) {
  sp_worker *w = sp__cur_worker();
  if (!w) {
    if (out) *out = NULL;
    return SP_EPERM;
  }
  return spawn_on(w->rt, w, out, opts, fn, arg, 0);
}

int sp__spawn_system(sp_task **out, const sp_spawn_opts *opts, sp_task_fn fn, void *arg) {
  sp_worker *w = sp__cur_worker();
  if (!w) return SP_EPERM;
  return spawn_on(w->rt, w, out, opts, fn, arg, SP__SPAWN_SYSTEM);
}

int sp_spawn(sp_task **out, sp_task_fn fn, void *arg) { return sp_spawn_with(out, NULL, fn, arg); }

int sp_runtime_spawn(sp_runtime *rt, sp_task **out, const sp_spawn_opts *opts, sp_task_fn fn,
                     void *arg) {
  if (!rt) return SP_EINVAL;
  sp_worker *w = sp__cur_worker();
  return spawn_on(rt, w && w->rt == rt ? w : NULL, out, opts, fn, arg, 0);
}

/* ----------------------------------------------------------- exit and join */

void sp__task_release(sp_task *t) {
  /* The last reference needs no atomic RMW: nobody else can drop it. */
  if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1 ||
      atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
    sp__tcb_free(t->rt, sp__cur_worker(), t);
}

/*
 * Still on the exiting task's stack.  Joiners may run and release their
 * handle at once: the runtime's reference keeps the control block alive
 * until sp__task_finish_exit, and nobody but t touches its stack.
 */
sp_task *sp__task_complete(sp_task *t) {
  sp_task *first = NULL;
  sp__spin_lock(&t->joinq.lock);
  t->done = true;
  sp__waiter *w;
  while ((w = sp__waitq_claim_one(&t->joinq))) {
    sp_task *jt = w->task; /* read before the commit: w may vanish after */
    w->status = 0;
    sp__waiter_commit(w, SP_WAKE_OK);
    if (!first && jt && jt->rt == t->rt) first = jt;
  }
  sp__spin_unlock(&t->joinq.lock);
  return first;
}

/* Runs on the next context's stack, after t switched away for good. */
void sp__task_finish_exit(sp_worker *w, sp_task *t) {
  sp__stack_detach(t->rt, w, t); /* the stack is free as soon as the task ends */
#ifdef SP_TSAN
  __tsan_destroy_fiber(t->tsan_fiber);
  t->tsan_fiber = NULL;
#endif
  if (!t->done) sp__task_complete(t); /* never ran: no stack could be attached */
  atomic_store_explicit(&t->state, SP_TS_DONE, memory_order_release);
  /* Release: shutdown reads the counts with acquire, so once it sees every
   * task gone it also sees everything the tasks wrote (io/ frees the state
   * its driver tasks left behind). */
  atomic_store_explicit(&w->exited, atomic_load_explicit(&w->exited, memory_order_relaxed) + 1,
                        memory_order_release);
  sp__task_release(t);
}

/* A joining task runs t itself if t is still waiting in a queue. */
static int join_wait(sp_task *t, int flags) {
  sp__waiter w;
  sp__waiter_init(&w);
  sp__spin_lock(&t->joinq.lock);
  if (t->done) {
    sp__spin_unlock(&t->joinq.lock);
    return SP_WAKE_OK;
  }
  if (!w.task) return sp__waitq_block(&t->joinq, &t->joinq.lock, &w, flags);
  w.seq = sp__park_begin(w.task, flags);
  sp__waitq_push(&t->joinq, &w);
  sp__spin_unlock(&t->joinq.lock);
  int reason = sp__park_helping(w.task, t, flags);
  if (reason != SP_WAKE_OK) {
    sp__spin_lock(&t->joinq.lock);
    sp__waitq_remove(&t->joinq, &w);
    sp__spin_unlock(&t->joinq.lock);
  }
  return reason;
}

static int join_finish(sp_task *t, void **result) {
  if (result) *result = t->result;
  int rc = t->start_err ? t->start_err : t->cancelled_before_run ? SP_ENOTASK : 0;
  sp__task_release(t);
  return rc;
}

int sp_join(sp_task *t, void **result) {
  if (!t) return SP_EINVAL;
  int r = join_wait(t, 0);
  if (r != SP_WAKE_OK) return sp__wake_to_err(r);
  return join_finish(t, result);
}

int sp_join_timeout(sp_task *t, uint64_t timeout_ns, void **result) {
  if (!t) return SP_EINVAL;
  sp_deadline scope;
  sp_deadline_push(&scope, timeout_ns);
  int r = join_wait(t, 0);
  sp_deadline_pop(&scope);
  if (r == SP_WAKE_OK) return join_finish(t, result);
  if (r != SP_WAKE_TIMEOUT) return sp__wake_to_err(r);
  sp_cancel(t);
  join_wait(t, SP_PARK_UNINTERRUPTIBLE);
  join_finish(t, result);
  return SP_ETIMEDOUT;
}

int sp_gather(sp_task *const *tasks, size_t n, void **results) {
  if (n && !tasks) return SP_EINVAL;
  int first_err = 0;
  size_t i = 0;
  for (; i < n; i++) {
    int r = join_wait(tasks[i], 0);
    if (r != SP_WAKE_OK) {
      first_err = sp__wake_to_err(r);
      break;
    }
    int rc = join_finish(tasks[i], results ? &results[i] : NULL);
    if (rc && !first_err) first_err = rc;
  }
  if (i < n) {
    /* Interrupted: cancel the rest, then still wait for every one. */
    for (size_t j = i; j < n; j++) sp_cancel(tasks[j]);
    for (size_t j = i; j < n; j++) {
      join_wait(tasks[j], SP_PARK_UNINTERRUPTIBLE);
      join_finish(tasks[j], results ? &results[j] : NULL);
    }
  }
  return first_err;
}

void sp_detach(sp_task *t) {
  if (t) sp__task_release(t);
}

void sp_cancel(sp_task *t) {
  if (!t) return;
  /* seq_cst store then load; sp__park_begin does the mirror image, so
   * either we see the pending park or the park sees the request. */
  atomic_store(&t->cancel_req, 1);
  uint64_t w = atomic_load(&t->wait);
  if (SP_WAKE_REASON(w) != SP_WAKE_PENDING) return;
  if ((w >> 8) == 0)
    sp__wake_claim(t, 0, SP_WAKE_CANCEL); /* not started: it is queued, and will see this */
  else
    sp__wake(t, w >> 8, SP_WAKE_CANCEL);
}

const char *sp_task_name(const sp_task *t) { return t ? t->name : ""; }
uint64_t sp_task_id(const sp_task *t) { return t ? t->id : 0; }

/* -------------------------------------------------------------- deadlines */

void sp_deadline_push(sp_deadline *scope, uint64_t timeout_ns) {
  sp_task *t = sp__cur_task();
  uint64_t now = sp_now_ns();
  scope->deadline_ns = timeout_ns >= SP_NEVER - now ? SP_NEVER : now + timeout_ns;
  if (!t) {
    scope->saved_ns = SP_NEVER;
    return;
  }
  scope->saved_ns = t->deadline;
  if (scope->deadline_ns < t->deadline) t->deadline = scope->deadline_ns;
}

int sp_deadline_pop(sp_deadline *scope) {
  sp_task *t = sp__cur_task();
  if (t) t->deadline = scope->saved_ns;
  return scope->deadline_ns != SP_NEVER && sp_now_ns() >= scope->deadline_ns;
}

int sp_wait_for(uint64_t timeout_ns, sp_task_fn fn, void *arg, void **result) {
  if (!fn) return SP_EINVAL;
  sp_deadline scope;
  sp_deadline_push(&scope, timeout_ns);
  void *r = fn(arg);
  int expired = sp_deadline_pop(&scope);
  if (result) *result = r;
  return expired ? SP_ETIMEDOUT : 0;
}
