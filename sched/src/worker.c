/*
 * worker.c - scheduling: switching between tasks, parking and waking them,
 * and the workers' search/park protocol.
 *
 * Where a task runs next.  A worker picks, in order: every 61st pick the
 * global queue first (so tasks that keep waking each other cannot starve
 * it); the just-woken slot (`lifo`, at most 3 times in a row); its ring; the
 * global queue; its own poll loop; then, as a *searching* worker, the other
 * workers' rings (steal half, random victim) and finally it parks in its own
 * poll loop until an fd, a timer or its eventfd wakes it.
 *
 * Wakeups are never lost and never wasted (Go's protocol, proc.go): at most
 * half the busy workers search at once; whoever publishes work on a ring or
 * the global queue and sees no searcher wakes one parked worker; a worker
 * that stops searching re-checks every queue after a StoreLoad barrier
 * before it blocks.  Either the publisher sees the searcher gone, or the
 * searcher sees the work.
 *
 * Switching.  A task that parks, yields or exits picks its successor itself
 * and switches straight to it; it passes itself along, and the successor
 * finishes the switch (sp__finish_switch): only once off the old stack may
 * that task be queued, marked parked, or freed.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifdef SP_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef SP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define GLOBAL_QUEUE_INTERVAL 61 /* picks between forced looks at the global queue */
#define LOOP_POLL_INTERVAL 61    /* picks between polls of the loop while busy */
#define LIFO_STREAK_MAX 3        /* consecutive runs from the lifo slot */
#define SEARCH_SPIN_NS 5000      /* how long an idle worker searches before parking */

static __thread sp_worker *tls_worker;

/*
 * A task may resume on another thread, and the compiler may keep the address
 * of a thread-local variable in a register across a call.  Reading the
 * worker through an opaque function with a compiler barrier forces a fresh
 * read of the thread pointer every time.
 */
__attribute__((noinline)) sp_worker *sp__cur_worker(void) {
  sp_worker *w = tls_worker;
  __asm__ __volatile__("" ::: "memory");
  return w;
}

sp_task *sp__cur_task(void) {
  sp_worker *w = sp__cur_worker();
  return w ? w->current : NULL;
}

sp_runtime *sp__cur_runtime(void) {
  sp_worker *w = sp__cur_worker();
  return w ? w->rt : NULL;
}

sp_runtime *sp_runtime_current(void) { return sp__cur_runtime(); }
sp_task *sp_self(void) { return sp__cur_task(); }
int sp_worker_id(void) {
  sp_worker *w = sp__cur_worker();
  return w ? (int)w->id : -1;
}

uint64_t sp_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint32_t rng_next(sp_worker *w) {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return (uint32_t)(w->rng >> 32);
}

/* ----------------------------------------------------------- global queue */

void sp__gq_push(sp_runtime *rt, sp_task *const *tasks, uint32_t n) {
  pthread_mutex_lock(&rt->gq_lock);
  uint32_t len = atomic_load_explicit(&rt->gq_len, memory_order_relaxed);
  if (len + n > rt->gq_cap) {
    uint32_t cap = rt->gq_cap ? rt->gq_cap : 1024;
    while (cap < len + n) cap *= 2;
    sp_task **b = malloc(cap * sizeof *b);
    if (!b) sp__panic(__FILE__, __LINE__, "out of memory growing the global run queue");
    for (uint32_t i = 0; i < len; i++) b[i] = rt->gq_buf[(rt->gq_head + i) % rt->gq_cap];
    free(rt->gq_buf);
    rt->gq_buf = b;
    rt->gq_cap = cap;
    rt->gq_head = 0;
  }
  for (uint32_t i = 0; i < n; i++) rt->gq_buf[(rt->gq_head + len + i) % rt->gq_cap] = tasks[i];
  atomic_store_explicit(&rt->gq_len, len + n, memory_order_relaxed);
  pthread_mutex_unlock(&rt->gq_lock);
}

/* Takes a fair share of the global queue: one task to run, the rest onto
 * the worker's ring (which the caller knows to be empty or nearly). */
static sp_task *gq_take(sp_worker *w) {
  sp_runtime *rt = w->rt;
  if (!atomic_load_explicit(&rt->gq_len, memory_order_relaxed)) return NULL;
  pthread_mutex_lock(&rt->gq_lock);
  uint32_t len = atomic_load_explicit(&rt->gq_len, memory_order_relaxed);
  uint32_t room = SP_RUNQ_SIZE - sp__runq_len(&w->rq);
  uint32_t n = len / rt->nworkers + 1;
  if (n > SP_RUNQ_SIZE / 2) n = SP_RUNQ_SIZE / 2;
  if (n > room) n = room ? room : 1;
  if (n > len) n = len;
  sp_task *run = NULL;
  for (uint32_t i = 0; i < n; i++) {
    sp_task *t = rt->gq_buf[rt->gq_head];
    rt->gq_head = (rt->gq_head + 1) % rt->gq_cap;
    if (!run)
      run = t;
    else if (!sp__runq_push(&w->rq, t))
      SP_ASSERT(!"room on the ring was reserved");
  }
  atomic_store_explicit(&rt->gq_len, len - n, memory_order_relaxed);
  pthread_mutex_unlock(&rt->gq_lock);
  if (run) SP_STAT_ADD(w, ST_GLOBAL_POLLS, 1);
  return run;
}

/* ------------------------------------------------------------ idle workers */

/* Called after publishing work that others could run. */
static inline void notify_work(sp_runtime *rt) {
  SP_STORELOAD_FENCE(&rt->nsearching);
  if (atomic_load_explicit(&rt->nsearching, memory_order_relaxed) == 0 &&
      atomic_load_explicit(&rt->nidle, memory_order_relaxed) > 0)
    sp__wake_idle_worker(rt);
}

/* Wakes one parked worker, which starts out searching, unless some worker is
 * already searching (it will find the work, and wake another if it finds
 * more than it can run). */
void sp__wake_idle_worker(sp_runtime *rt) {
  int zero = 0;
  if (!atomic_load(&rt->nidle)) return;
  if (!atomic_compare_exchange_strong(&rt->nsearching, &zero, 1)) return;
  pthread_mutex_lock(&rt->idle_lock);
  sp_worker *w = rt->idle_head;
  if (w) {
    rt->idle_head = w->idle_next;
    if (w->idle_next) w->idle_next->idle_prev = NULL;
    w->in_idle_list = false;
    w->woken_searching = true;
    atomic_fetch_sub(&rt->nidle, 1);
  }
  pthread_mutex_unlock(&rt->idle_lock);
  if (!w) {
    atomic_fetch_sub(&rt->nsearching, 1);
    return;
  }
  atomic_fetch_add_explicit(&w->stats.v[ST_WAKEUPS], 1, memory_order_relaxed);
  sp__loop_notify(&w->loop);
}

/* ------------------------------------------------------------ local queue */

static void push_ring(sp_worker *w, sp_task *t) {
  if (SP_LIKELY(sp__runq_push(&w->rq, t))) return;
  /* Full: move half of the ring plus t to the global queue, in one lock. */
  sp_task *batch[SP_RUNQ_SIZE / 2 + 1];
  uint32_t n = sp__runq_grab(&w->rq, batch, SP_RUNQ_SIZE / 2);
  batch[n++] = t;
  sp__gq_push(w->rt, batch, n);
  SP_STAT_ADD(w, ST_OVERFLOWS, 1);
}

static void push_local(sp_worker *w, sp_task *t, bool lifo) {
  if (lifo) {
    /* The lifo slot is not announced: the task that filled it is about to
     * park or yield, and then this worker runs it next, cache-hot. */
    t = atomic_exchange_explicit(&w->lifo, t, memory_order_acq_rel);
    if (!t) return;
  }
  push_ring(w, t);
  /* On a single worker the pusher is the only one who could run it. */
  if (w->rt->nworkers > 1) notify_work(w->rt);
}

void sp__ready(sp_task *t, bool lifo) {
  sp_worker *w = sp__cur_worker();
  sp_runtime *rt = t->rt;
  if (w && w->rt == rt) {
    push_local(w, t, lifo);
  } else {
    /* Once queued, t may run, exit and be reused by another spawn at once:
     * not a field of it is read after the push. */
    sp__gq_push(rt, &t, 1);
    notify_work(rt);
  }
}

/* --------------------------------------------------------- park and wake */

int sp__wake_to_err(int reason) {
  switch (reason) {
  case SP_WAKE_OK: return 0;
  case SP_WAKE_TIMEOUT: return SP_ETIMEDOUT;
  case SP_WAKE_CANCEL: return SP_ECANCELED;
  case SP_WAKE_SHUTDOWN: return SP_ESHUTDOWN;
  default: SP_ASSERT(!"bad wake reason"); return SP_EINVAL;
  }
}

uint64_t sp__park_begin(sp_task *t, int flags) {
  uint64_t seq = ++t->seq;
  /* seq_cst: pairs with sp_cancel's store of cancel_req then load of wait. */
  atomic_store(&t->wait, (seq << 8) | (flags & SP_PARK_UNINTERRUPTIBLE ? SP_WAIT_UNINTERRUPTIBLE : 0));
  return seq;
}

bool sp__wake_claim(sp_task *t, uint64_t seq, int reason) {
  uint64_t w = atomic_load_explicit(&t->wait, memory_order_relaxed);
  for (;;) {
    if ((w >> 8) != seq || SP_WAKE_REASON(w) != SP_WAKE_PENDING) return false;
    if ((w & SP_WAIT_UNINTERRUPTIBLE) && (reason == SP_WAKE_CANCEL || reason == SP_WAKE_SHUTDOWN))
      return false;
    if (atomic_compare_exchange_weak(&t->wait, &w, (seq << 8) | (uint64_t)reason)) return true;
  }
}

void sp__wake_commit(sp_task *t, bool lifo) {
  SP_PROBE2(wake, t->id, lifo);
  int s = atomic_load(&t->state);
  for (;;) {
    if (s == SP_TS_PARKED) {
      /* Only the claimant of this park may move a PARKED task, so a plain
       * store is enough here. */
      atomic_store_explicit(&t->state, SP_TS_RUNNABLE, memory_order_release);
      sp__ready(t, lifo);
      return;
    } else if (s == SP_TS_RUNNING) {
      /* Still on its way out: whoever finishes its switch will queue it. */
      if (atomic_compare_exchange_weak(&t->state, &s, SP_TS_NOTIFIED)) return;
    } else {
      /* RUNNABLE: a task that has not started yet (park 0); it is queued. */
      SP_ASSERT(s == SP_TS_RUNNABLE);
      return;
    }
  }
}

int sp__park_abandon(sp_task *t) {
  if (sp__wake_claim(t, t->seq, SP_WAKE_OK)) return SP_WAKE_OK;
  /* A waker (a cancel) claimed it first: receive its wake, as a park would. */
  return sp__park(t, SP_NEVER, SP_WAKE_TIMEOUT, SP_PARK_UNINTERRUPTIBLE);
}

bool sp__wake(sp_task *t, uint64_t seq, int reason) {
  if (!sp__wake_claim(t, seq, reason)) return false;
  sp__wake_commit(t, false);
  return true;
}

/* --------------------------------------------------------------- switching */

static inline void san_start_switch(sp_task *from, void **fake_save, const void *to_lo, size_t to_size,
                                    void *to_fiber) {
#ifdef SP_ASAN
  __sanitizer_start_switch_fiber(fake_save, to_lo, to_size);
#else
  (void)fake_save, (void)to_lo, (void)to_size;
#endif
#ifdef SP_TSAN
  __tsan_switch_to_fiber(to_fiber, 0);
#else
  (void)to_fiber;
#endif
  (void)from;
}

static inline void san_finish_switch(void *fake_save) {
#ifdef SP_ASAN
  __sanitizer_finish_switch_fiber(fake_save, NULL, NULL);
#else
  (void)fake_save;
#endif
}

/* t was claimed (sp__claim): it is RUNNING and ours to run. */
static inline void run_prepare(sp_worker *w, sp_task *t) {
  w->current = t;
  w->tick++;
  atomic_store_explicit(&w->tick_pub, w->tick, memory_order_relaxed);
  SP_STAT_ADD(w, ST_TASKS_RUN, 1);
  SP_PROBE2(run, t->id, w->id);
}

static void poll_own_loop(sp_worker *w) {
  sp_loop *l = &w->loop;
  if (!atomic_load_explicit(&l->nfds, memory_order_relaxed) &&
      atomic_load_explicit(&l->next_deadline, memory_order_relaxed) > sp_now_ns())
    return;
  int free_ = 0;
  if (!atomic_compare_exchange_strong(&l->owner, &free_, 1)) return;
  sp__loop_poll(l, 0);
  atomic_store(&l->owner, 0);
}

/* Next queue entry from this worker's own queues, or NULL. */
static sp_task *pick_local_entry(sp_worker *w) {
  sp_task *t;
  if (SP_UNLIKELY(w->tick % GLOBAL_QUEUE_INTERVAL == 0)) {
    if (w->tick % (GLOBAL_QUEUE_INTERVAL * 2) == 0) poll_own_loop(w);
    if ((t = gq_take(w))) return t;
  }
  if (w->lifo_streak < LIFO_STREAK_MAX &&
      atomic_load_explicit(&w->lifo, memory_order_relaxed) &&
      (t = atomic_exchange_explicit(&w->lifo, NULL, memory_order_acq_rel))) {
    w->lifo_streak++;
    SP_STAT_ADD(w, ST_LIFO_RUNS, 1);
    return t;
  }
  if ((t = sp__runq_pop(&w->rq))) {
    w->lifo_streak = 0;
    return t;
  }
  if (atomic_load_explicit(&w->lifo, memory_order_relaxed) &&
      (t = atomic_exchange_explicit(&w->lifo, NULL, memory_order_acq_rel))) {
    w->lifo_streak++;
    SP_STAT_ADD(w, ST_LIFO_RUNS, 1);
    return t;
  }
  return gq_take(w);
}

/*
 * Claims.  A queue entry is a claim ticket, not the task itself: whoever
 * takes an entry must still move the task RUNNABLE -> RUNNING (sp__claim)
 * before running it.  That lets a joiner run the very task it waits for
 * when it is still queued somewhere (sp__park_helping), which turns
 * fork-join code depth-first; the entry it leaves behind is stale and is
 * skipped when it comes up.  Every RUNNABLE episode of a task has at least
 * one entry, so each is claimed, and only once.  Entries may outlive the
 * task: control blocks are never unmapped, and a recycled block becomes
 * RUNNABLE only once fully initialised (release), so a stale claim is safe.
 */
static sp_task *pick_local(sp_worker *w) {
  sp_task *t;
  while ((t = pick_local_entry(w)) && !sp__claim(t)) {
  }
  return t;
}

/* t: an entry taken by a steal or from the global queue (others may have
 * come along onto our ring). */
static sp_task *claimed_or_local(sp_worker *w, sp_task *t) {
  if (t && sp__claim(t)) return t;
  return t ? pick_local(w) : NULL;
}

static void report_canary_overflow(sp_task *t);

/*
 * A task about to run for the first time gets its stack here, on the worker
 * that runs it.  If none can be had the task ends at once and its join
 * reports SP_ENOMEM; returns false then.
 */
static bool first_run_setup(sp_worker *w, sp_task *t) {
  if (SP_UNLIKELY(!sp__stack_attach(w->rt, w, t))) {
    t->start_err = SP_ENOMEM;
    sp__task_finish_exit(w, t);
    return false;
  }
  t->sp = sp__ctx_make(t->stack_lo + t->stack_size, sp__task_entry, t);
  return true;
}

/*
 * The calling task leaves the CPU (park, yield or exit) and the worker runs
 * its successor, or its idle context.  Returns when the task is resumed,
 * possibly on another worker.  A yield with nothing else to run returns
 * at once.
 */
static void switch_out(sp_worker *w, sp_task *cur, int why, sp_task *help) {
  sp_task *next = help && sp__claim(help) ? help : pick_local(w);
  while (SP_UNLIKELY(next && !next->sp) && !first_run_setup(w, next)) next = pick_local(w);
  if (!next && why == SP_WHY_YIELD) {
    w->tick++;
    if (w->tick % LOOP_POLL_INTERVAL == 0) poll_own_loop(w);
    return;
  }
  cur->why = why;
  if (why == SP_WHY_PARK) SP_PROBE2(park, cur->id, w->id);
  if (SP_UNLIKELY(!sp__stack_canary_ok(cur))) report_canary_overflow(cur);
  void *to;
#ifdef SP_ASAN
  void **fake = why == SP_WHY_EXIT ? NULL : &cur->asan_fake_stack;
#else
  void **fake = NULL;
#endif
  if (next) {
    run_prepare(w, next);
    to = next->sp;
#ifdef SP_TSAN
    san_start_switch(cur, fake, next->stack_lo, next->stack_size, next->tsan_fiber);
#else
    san_start_switch(cur, fake, next->stack_lo, next->stack_size, NULL);
#endif
  } else {
    w->current = NULL;
    atomic_store_explicit(&w->in_task, 0, memory_order_relaxed);
    to = w->idle_sp;
#ifdef SP_TSAN
    san_start_switch(cur, fake, w->idle_stack_lo, w->idle_stack_size, w->tsan_fiber);
#else
    san_start_switch(cur, fake, w->idle_stack_lo, w->idle_stack_size, NULL);
#endif
  }
  sp_task *prev = sp__ctx_switch(&cur->sp, to, cur);
#ifdef SP_ASAN
  san_finish_switch(cur->asan_fake_stack);
#endif
  sp__finish_switch(prev);
}

void sp__finish_switch(sp_task *prev) {
  if (!prev) return;
  sp_worker *w = sp__cur_worker();
  switch (prev->why) {
  case SP_WHY_YIELD:
    atomic_store_explicit(&prev->state, SP_TS_RUNNABLE, memory_order_release);
    push_local(w, prev, false);
    break;
  case SP_WHY_PARK: {
    int s = SP_TS_RUNNING;
    if (!atomic_compare_exchange_strong(&prev->state, &s, SP_TS_PARKED)) {
      /* Woken while switching out (NOTIFIED): run it again later. */
      SP_ASSERT(s == SP_TS_NOTIFIED);
      atomic_store_explicit(&prev->state, SP_TS_RUNNABLE, memory_order_release);
      push_local(w, prev, false);
    }
    break;
  }
  case SP_WHY_EXIT:
    sp__task_finish_exit(w, prev);
    break;
  default:
    SP_ASSERT(!"bad switch reason");
  }
}

void sp__task_entry(void *prev, void *user) {
  sp_task *t = user;
  san_finish_switch(NULL);
  sp__finish_switch(prev);
  t->started = true;
  /* Close park 0 ("not started"); losing means a cancel came first. */
  if (!sp__wake_claim(t, 0, SP_WAKE_OK))
    t->cancelled_before_run = 1;
  else
    t->result = t->fn(t->arg);
  /* Hand the result to the joiner and run it next: fork-join stays
   * depth-first, and the joiner's wait ends without a trip through a queue. */
  switch_out(sp__cur_worker(), t, SP_WHY_EXIT, sp__task_complete(t));
  SP_ASSERT(!"an exited task was resumed");
}

static int park(sp_task *t, uint64_t deadline, int deadline_reason, int flags, sp_task *help) {
  sp_runtime *rt = t->rt;
  uint64_t seq = t->seq;
  int self = 0;
  if (!(flags & SP_PARK_UNINTERRUPTIBLE)) {
    if (atomic_load(&t->cancel_req))
      self = SP_WAKE_CANCEL;
    else if (atomic_load(&rt->shutdown))
      self = SP_WAKE_SHUTDOWN;
    else if (t->deadline < deadline) {
      deadline = t->deadline;
      deadline_reason = SP_WAKE_TIMEOUT;
    }
  }
  if (!self && deadline != SP_NEVER && deadline <= sp_now_ns()) self = deadline_reason;
  if (self) {
    if (sp__wake_claim(t, seq, self)) {
      if (self == SP_WAKE_CANCEL) atomic_store(&t->cancel_req, 0);
      return self;
    }
    /* A waker won the race: its wake is on its way; park to receive it. */
  } else if (deadline != SP_NEVER) {
    t->timer.deadline = deadline;
    t->timer.reason = deadline_reason;
    t->timer.task = t;
    t->timer.seq = seq;
    sp__timer_arm(&sp__cur_worker()->loop, &t->timer);
  }
  switch_out(sp__cur_worker(), t, SP_WHY_PARK, help);
  if (t->timer.loop) sp__timer_disarm(&t->timer);
  int reason = SP_WAKE_REASON(atomic_load(&t->wait));
  SP_ASSERT(reason != SP_WAKE_PENDING);
  if (reason == SP_WAKE_CANCEL) atomic_store(&t->cancel_req, 0);
  return reason;
}

int sp__park(sp_task *t, uint64_t deadline, int deadline_reason, int flags) {
  return park(t, deadline, deadline_reason, flags, NULL);
}

int sp__park_helping(sp_task *t, sp_task *help, int flags) {
  return park(t, SP_NEVER, SP_WAKE_TIMEOUT, flags, help->rt == t->rt ? help : NULL);
}

int sp_yield(void) {
  sp_task *t = sp__cur_task();
  if (!t) {
    sched_yield();
    return 0;
  }
  int one = 1;
  if (atomic_load_explicit(&t->cancel_req, memory_order_relaxed) &&
      atomic_compare_exchange_strong(&t->cancel_req, &one, 0))
    return SP_ECANCELED;
  switch_out(sp__cur_worker(), t, SP_WHY_YIELD, NULL);
  return 0;
}

int sp_sleep_until(uint64_t deadline_ns) {
  sp_task *t = sp__cur_task();
  if (!t) {
    uint64_t now = sp_now_ns();
    if (deadline_ns > now) {
      struct timespec ts = {(time_t)((deadline_ns - now) / 1000000000u),
                            (long)((deadline_ns - now) % 1000000000u)};
      while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
      }
    }
    return 0;
  }
  sp__park_begin(t, 0);
  return sp__wake_to_err(sp__park(t, deadline_ns, SP_WAKE_OK, 0));
}

int sp_sleep(uint64_t ns) {
  uint64_t now = sp_now_ns();
  return sp_sleep_until(ns > SP_NEVER - now ? SP_NEVER - 1 : now + ns);
}

/* ------------------------------------------------------------- searching */

static sp_task *steal_pass(sp_worker *w) {
  sp_runtime *rt = w->rt;
  unsigned n = rt->nworkers;
  unsigned start = rng_next(w) % n;
  for (unsigned i = 0; i < n; i++) {
    sp_worker *v = rt->workers[(start + i) % n];
    if (v == w) continue;
    uint32_t got;
    sp_task *t = sp__runq_steal(&v->rq, &w->rq, &got);
    if (t) {
      SP_STAT_ADD(w, ST_STEALS, got);
      SP_STAT_ADD(w, ST_STEAL_OPS, 1);
      SP_PROBE3(steal, v->id, got, w->id);
      return t;
    }
  }
  return NULL;
}

static bool work_visible(sp_worker *w) {
  sp_runtime *rt = w->rt;
  if (atomic_load_explicit(&rt->gq_len, memory_order_relaxed)) return true;
  if (atomic_load_explicit(&w->lifo, memory_order_relaxed) || sp__runq_len(&w->rq)) return true;
  for (unsigned i = 0; i < rt->nworkers; i++)
    if (sp__runq_len(&rt->workers[i]->rq)) return true;
  return false;
}

static void stop_searching(sp_worker *w) {
  if (!w->searching) return;
  w->searching = false;
  /* The last searcher to find work wakes another, in case there is more. */
  if (atomic_fetch_sub(&w->rt->nsearching, 1) == 1) sp__wake_idle_worker(w->rt);
}

static bool try_start_searching(sp_worker *w) {
  sp_runtime *rt = w->rt;
  if (w->searching) return true;
  int ns = atomic_load(&rt->nsearching);
  int busy = (int)rt->nworkers - atomic_load(&rt->nidle);
  if (2 * ns >= busy) return false;
  atomic_fetch_add(&rt->nsearching, 1);
  w->searching = true;
  return true;
}

static void unpark_self(sp_worker *w) {
  sp_runtime *rt = w->rt;
  pthread_mutex_lock(&rt->idle_lock);
  if (w->in_idle_list) {
    if (w->idle_prev)
      w->idle_prev->idle_next = w->idle_next;
    else
      rt->idle_head = w->idle_next;
    if (w->idle_next) w->idle_next->idle_prev = w->idle_prev;
    w->in_idle_list = false;
    atomic_fetch_sub(&rt->nidle, 1);
  } else if (w->woken_searching) {
    w->searching = true; /* the waker counted us in nsearching */
  }
  w->woken_searching = false;
  pthread_mutex_unlock(&rt->idle_lock);
  atomic_store(&w->wstate, SP_WS_RUNNING);
}

/* Blocks the worker in its poll loop until something may be runnable. */
static void park_worker(sp_worker *w) {
  sp_runtime *rt = w->rt;
  pthread_mutex_lock(&rt->idle_lock);
  w->idle_prev = NULL;
  w->idle_next = rt->idle_head;
  if (rt->idle_head) rt->idle_head->idle_prev = w;
  rt->idle_head = w;
  w->in_idle_list = true;
  w->woken_searching = false;
  atomic_fetch_add(&rt->nidle, 1);
  pthread_mutex_unlock(&rt->idle_lock);
  atomic_store(&w->wstate, SP_WS_PARKED);

  if (w->searching) {
    w->searching = false;
    atomic_fetch_sub(&rt->nsearching, 1); /* seq_cst RMW: the StoreLoad */
  } else {
    SP_STORELOAD_FENCE(&rt->nsearching);
  }
  if (work_visible(w) || atomic_load(&rt->stopping)) {
    unpark_self(w);
    sp__monitor_kick(rt); /* the monitor may have seen it parked */
    return;
  }
  sp__stacks_trim(rt, w);
  sp_loop *l = &w->loop;
  int free_ = 0;
  if (atomic_compare_exchange_strong(&l->owner, &free_, 1)) {
    SP_STAT_ADD(w, ST_PARKS, 1);
    sp__loop_poll(l, SP_NEVER);
    atomic_store(&l->owner, 0);
  } else {
    sched_yield(); /* another thread is serving our loop right now */
  }
  unpark_self(w);
  sp__monitor_kick(rt);
}

/* The idle context's search: returns a task to run, or NULL to exit. */
static sp_task *find_work(sp_worker *w) {
  sp_runtime *rt = w->rt;
  for (;;) {
    sp_task *t = pick_local(w);
    if (t) goto found;
    poll_own_loop(w);
    if ((t = pick_local(w))) goto found;
    if (try_start_searching(w)) {
      uint64_t until = sp_now_ns() + SEARCH_SPIN_NS;
      do {
        if ((t = claimed_or_local(w, steal_pass(w)))) goto found;
        if ((t = claimed_or_local(w, gq_take(w)))) goto found;
        if ((t = pick_local(w))) goto found;
        for (int i = 0; i < 64; i++) sp__cpu_relax();
      } while (sp_now_ns() < until);
    }
    if (atomic_load(&rt->stopping) && !work_visible(w)) {
      if (w->searching) {
        w->searching = false;
        atomic_fetch_sub(&rt->nsearching, 1);
      }
      return NULL;
    }
    park_worker(w);
    continue;
  found:
    stop_searching(w);
    return t;
  }
}

static void run_from_idle(sp_worker *w, sp_task *t) {
  if (SP_UNLIKELY(!t->sp) && !first_run_setup(w, t)) return;
  run_prepare(w, t);
  atomic_store_explicit(&w->in_task, 1, memory_order_relaxed);
#ifdef SP_ASAN
  void **fake = &w->asan_fake_stack;
#else
  void **fake = NULL;
#endif
#ifdef SP_TSAN
  san_start_switch(NULL, fake, t->stack_lo, t->stack_size, t->tsan_fiber);
#else
  san_start_switch(NULL, fake, t->stack_lo, t->stack_size, NULL);
#endif
  sp_task *prev = sp__ctx_switch(&w->idle_sp, t->sp, NULL);
#ifdef SP_ASAN
  san_finish_switch(w->asan_fake_stack);
#endif
  sp__finish_switch(prev);
}

/* ---------------------------------------------------------- worker thread */

static void *worker_main(void *arg) {
  sp_worker *w = arg;
  char name[16];
  snprintf(name, sizeof name, "spindle-w%u", w->id);
  pthread_setname_np(pthread_self(), name);
  tls_worker = w;
  sp__signals_thread_init();
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &w->idle_stack_lo, &w->idle_stack_size);
    pthread_attr_destroy(&attr);
  }
#ifdef SP_TSAN
  w->tsan_fiber = __tsan_get_current_fiber();
#endif
  sp_task *t;
  while ((t = find_work(w))) run_from_idle(w, t);
  sp__signals_thread_fini();
  tls_worker = NULL;
  return NULL;
}

static void report_canary_overflow(sp_task *t) {
  char msg[256];
  int n = snprintf(msg, sizeof msg,
                   "spindle: stack overflow in task \"%s\" (id %llu): the canary at the bottom of "
                   "its %zu-byte stack was overwritten; spawn it with a larger "
                   "sp_spawn_opts.stack_size\n",
                   t->name, (unsigned long long)t->id, t->stack_size);
  if (n > 0) {
    ssize_t r = write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    (void)r;
  }
  abort();
}

_Noreturn void sp__panic(const char *file, int line, const char *what) {
  fprintf(stderr, "spindle: internal error at %s:%d: %s\n", file, line, what);
  fflush(stderr);
  abort();
}

int sp__workers_start(sp_runtime *rt) {
  for (unsigned i = 0; i < rt->nworkers; i++) {
    sp_worker *w = rt->workers[i];
    int e = pthread_create(&w->thread, NULL, worker_main, w);
    if (e) {
      atomic_store(&rt->stopping, 1);
      for (unsigned j = 0; j < i; j++) sp__loop_notify(&rt->workers[j]->loop);
      for (unsigned j = 0; j < i; j++) pthread_join(rt->workers[j]->thread, NULL);
      return -e;
    }
  }
  return 0;
}

void sp__workers_stop(sp_runtime *rt) {
  atomic_store(&rt->stopping, 1);
  for (unsigned i = 0; i < rt->nworkers; i++) sp__loop_notify(&rt->workers[i]->loop);
  for (unsigned i = 0; i < rt->nworkers; i++) pthread_join(rt->workers[i]->thread, NULL);
}

/* ---------------------------------------------------------------- monitor */

/*
 * A worker that runs one task for a long time cannot serve its loop.  The
 * monitor notices (a task is running and the worker's tick has not moved
 * for MONITOR_STUCK_NS; a worker in its idle context serves itself) and serves
 * it: fires due timers, polls its fds, moves its lifo task to the global
 * queue and wakes idle workers to run what that woke.  It sleeps until the
 * earliest of those deadlines, or until kicked when every worker is idle.
 *
 * Its period backs off, as Go's sysmon does: each wakeup is a context switch
 * on a CPU that a worker (or a server beside it) wants.  It starts at the
 * minimum and doubles after each round that found no worker stuck, up to the
 * maximum, so a worker stuck after a quiet spell is served within about two
 * maximum periods (Go's sysmon: up to 10 ms asleep, then 10 ms to preempt),
 * and every MONITOR_PERIOD_MIN_NS while it stays stuck.
 * On the crawl bench (2 workers) the backoff halved the process's context
 * switches, 6,300 to 3,400.
 */
#define MONITOR_PERIOD_MIN_NS 1000000u
#define MONITOR_PERIOD_MAX_NS 8000000u
#define MONITOR_STUCK_NS 1000000u

static void serve_stuck_worker(sp_runtime *rt, sp_worker *w, uint64_t now) {
  bool served = false;
  sp_task *t = atomic_exchange(&w->lifo, NULL);
  if (t) {
    sp__gq_push(rt, &t, 1);
    served = true;
  }
  sp_loop *l = &w->loop;
  int free_ = 0;
  if ((atomic_load_explicit(&l->next_deadline, memory_order_relaxed) <= now ||
       atomic_load_explicit(&l->nfds, memory_order_relaxed)) &&
      atomic_compare_exchange_strong(&l->owner, &free_, 1)) {
    if (sp__loop_poll(l, 0) > 0) served = true;
    atomic_store(&l->owner, 0);
  }
  if (sp__runq_len(&w->rq) || served) {
    atomic_fetch_add_explicit(&w->stats.v[ST_TAKEOVERS], 1, memory_order_relaxed);
    SP_STORELOAD_FENCE(&rt->nsearching);
    sp__wake_idle_worker(rt);
  }
}

static void *monitor_main(void *arg) {
  sp_runtime *rt = arg;
  pthread_setname_np(pthread_self(), "spindle-mon");
  unsigned n = rt->nworkers;
  uint32_t *last_tick = calloc(n, sizeof *last_tick);
  uint64_t *since = calloc(n, sizeof *since);
  if (!last_tick || !since) {
    free(last_tick);
    free(since);
    return NULL;
  }
  unsigned all_idle_rounds = 0;
  uint64_t period = MONITOR_PERIOD_MIN_NS;
  pthread_mutex_lock(&rt->mon_lock);
  while (!rt->mon_stop) {
    pthread_mutex_unlock(&rt->mon_lock);
    uint64_t now = sp_now_ns();
    uint64_t wake_at = now + period;
    unsigned running = 0;
    bool stuck = false;
    for (unsigned i = 0; i < n; i++) {
      sp_worker *w = rt->workers[i];
      if (atomic_load(&w->wstate) == SP_WS_PARKED ||
          !atomic_load_explicit(&w->in_task, memory_order_relaxed)) {
        since[i] = now;
        continue;
      }
      running++;
      uint32_t tick = atomic_load_explicit(&w->tick_pub, memory_order_relaxed);
      if (tick != last_tick[i]) {
        last_tick[i] = tick;
        since[i] = now;
        continue;
      }
      if (now - since[i] >= MONITOR_STUCK_NS) {
        serve_stuck_worker(rt, w, now);
        stuck = true;
        uint64_t d = atomic_load_explicit(&w->loop.next_deadline, memory_order_relaxed);
        if (d > now && d < wake_at) wake_at = d;
      }
    }
    all_idle_rounds = running ? 0 : all_idle_rounds + 1;
    period = stuck ? MONITOR_PERIOD_MIN_NS : period * 2 > MONITOR_PERIOD_MAX_NS ? MONITOR_PERIOD_MAX_NS : period * 2;
    if (wake_at > now + period) wake_at = now + period; /* a worker just found stuck: look again soon */
    pthread_mutex_lock(&rt->mon_lock);
    if (rt->mon_stop) break;
    if (all_idle_rounds >= 2) {
      /* Every worker parked: sleep until one starts running again.  seq_cst
       * store, then loads of wstate; sp__monitor_kick's worker stored its
       * wstate, then loads mon_sleeping: one of the two sees the other, so
       * a worker that unparked meanwhile is not left unserved. */
      atomic_store(&rt->mon_sleeping, 1);
      bool awake = false;
      for (unsigned i = 0; i < n; i++) awake |= atomic_load(&rt->workers[i]->wstate) != SP_WS_PARKED;
      if (!awake) pthread_cond_wait(&rt->mon_cond, &rt->mon_lock);
      atomic_store(&rt->mon_sleeping, 0);
      all_idle_rounds = 0;
      period = MONITOR_PERIOD_MIN_NS;
    } else {
      struct timespec ts = {(time_t)(wake_at / 1000000000u), (long)(wake_at % 1000000000u)};
      pthread_cond_timedwait(&rt->mon_cond, &rt->mon_lock, &ts);
    }
  }
  pthread_mutex_unlock(&rt->mon_lock);
  free(last_tick);
  free(since);
  return NULL;
}

void sp__monitor_kick(sp_runtime *rt) {
  /* seq_cst load: see the sleep in monitor_main. */
  if (rt->nworkers < 2 || !atomic_load(&rt->mon_sleeping)) return;
  pthread_mutex_lock(&rt->mon_lock);
  pthread_cond_signal(&rt->mon_cond);
  pthread_mutex_unlock(&rt->mon_lock);
}

/* With one worker there is nobody to hand a stuck worker's wakeups to:
 * serving its loop would only reorder them, so no monitor runs then. */
int sp__monitor_start(sp_runtime *rt) {
  if (rt->nworkers < 2) return 0;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&rt->mon_cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&rt->mon_lock, NULL);
  return -pthread_create(&rt->monitor, NULL, monitor_main, rt);
}

void sp__monitor_stop(sp_runtime *rt) {
  if (rt->nworkers < 2) return;
  pthread_mutex_lock(&rt->mon_lock);
  rt->mon_stop = true;
  pthread_cond_signal(&rt->mon_cond);
  pthread_mutex_unlock(&rt->mon_lock);
  pthread_join(rt->monitor, NULL);
  pthread_cond_destroy(&rt->mon_cond);
  pthread_mutex_destroy(&rt->mon_lock);
}
