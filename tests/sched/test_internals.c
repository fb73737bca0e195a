/*
 * test_internals.c - white-box tests of the runtime's parts: the context
 * switch, the run queue under concurrent stealing, the timer heap at a
 * million timers, and the USDT probes in the built library.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spt.h"

#include "context.h"
#include "internal.h"

/* --------------------------------------------------------- context switch */

static void *ctx_main_sp, *ctx_co_sp;
static long ctx_counter;
static double ctx_fp;

static void ctx_entry(void *arg, void *user) {
  long *seen = user;
  long v = (long)(intptr_t)arg; /* what the first switch passed */
  double acc = 1.0;
  for (;;) {
    seen[0] = v;
    acc *= 1.0000001; /* floating-point state lives across switches */
    ctx_fp = acc;
    ctx_counter++;
    v = (long)(intptr_t)sp__ctx_switch(&ctx_co_sp, ctx_main_sp, (void *)(intptr_t)(v + 1));
  }
}

/* Values travel both ways through sp__ctx_switch, locals survive, and the
 * fresh context starts 16-byte aligned with the frame-pointer chain ended. */
Test(internals, context_switch_round_trips, .timeout = 30) {
  size_t sz = 64 * 1024;
  char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(stk != MAP_FAILED);
  long seen[1] = {0};
  for (int misalign = 0; misalign < 16; misalign++) {
    ctx_co_sp = sp__ctx_make(stk + sz - misalign, ctx_entry, seen);
    cr_assert_eq(((uintptr_t)ctx_co_sp) & 15, 0, "initial sp not 16-byte aligned");
    ctx_counter = 0;
    long local = 12345 + misalign; /* a callee-saved candidate across switches */
    long v = 1;
    for (int i = 0; i < 100000; i++) {
      long back = (long)(intptr_t)sp__ctx_switch(&ctx_main_sp, ctx_co_sp, (void *)(intptr_t)v);
      cr_assert_eq(seen[0], v, "entry saw %ld, expected %ld", seen[0], v);
      cr_assert_eq(back, v + 1);
      v = back + 1;
    }
    cr_assert_eq(local, 12345 + misalign);
    cr_assert_eq(ctx_counter, 100000);
    cr_assert(ctx_fp > 1.0);
  }
  munmap(stk, sz);
}

static uintptr_t ctx_fp_chain_end;
static void ctx_fp_probe(void *arg, void *user) {
  (void)arg;
  (void)user;
  /* Our frame's saved frame pointer is the chain's end: must be 0. */
  uintptr_t *fp = __builtin_frame_address(0);
  ctx_fp_chain_end = fp[0];
  ctx_counter = ((uintptr_t)fp & 15) == 0;
  sp__ctx_switch(&ctx_co_sp, ctx_main_sp, NULL);
  for (;;) sp__ctx_switch(&ctx_co_sp, ctx_main_sp, NULL);
}

/* The entry trampoline ends the frame-pointer chain, so perf -g stops there. */
Test(internals, context_fresh_frame_chain_ends, .timeout = 10) {
  size_t sz = 64 * 1024;
  char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ctx_fp_chain_end = 1;
  ctx_co_sp = sp__ctx_make(stk + sz, ctx_fp_probe, NULL);
  sp__ctx_switch(&ctx_main_sp, ctx_co_sp, NULL);
  cr_assert_eq(ctx_fp_chain_end, 0, "frame-pointer chain does not end at the trampoline");
  cr_assert_eq(ctx_counter, 1, "entry frame not 16-byte aligned");
  munmap(stk, sz);
}

/* ---------------------------------------------- run queue under stealing */

/* Fake tasks: only their identity matters to the ring. */
#define RQ_TASKS 4096
static sp_task *rq_tasks;
static _Atomic uint32_t *rq_runs;
static sp_runq rq_owner;
static _Atomic int rq_done;
static _Atomic uint64_t rq_stolen;

static void rq_run(sp_task *t) { atomic_fetch_add_explicit(&rq_runs[t - rq_tasks], 1, memory_order_relaxed); }

static void *rq_thief(void *arg) {
  sp_runq *mine = arg;
  sp__runq_init(mine);
  while (!atomic_load(&rq_done) || sp__runq_len(&rq_owner)) {
    uint32_t n;
    sp_task *t = sp__runq_steal(&rq_owner, mine, &n);
    if (!t) continue;
    atomic_fetch_add_explicit(&rq_stolen, n, memory_order_relaxed);
    rq_run(t);
    while ((t = sp__runq_pop(mine))) rq_run(t);
  }
  return NULL;
}

/* Millions of push/pop/steal operations: every task runs exactly once. */
Test(internals, runq_concurrent_steal_exactly_once, .timeout = 120) {
  rq_tasks = calloc(RQ_TASKS, sizeof *rq_tasks);
  rq_runs = calloc(RQ_TASKS, sizeof *rq_runs);
  sp__runq_init(&rq_owner);
  enum { THIEVES = 3 };
  static sp_runq thief_q[THIEVES];
  pthread_t th[THIEVES];
  for (int i = 0; i < THIEVES; i++) pthread_create(&th[i], NULL, rq_thief, &thief_q[i]);
  long rounds = sanitized() ? 100 : 1000; /* x 4096 tasks x (push + pop|steal) */
  uint64_t expect = 0;
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < RQ_TASKS; i++) {
      sp_task *t = &rq_tasks[i];
      if (!sp__runq_push(&rq_owner, t)) {
        /* Full: the owner drains half into a list, as overflow does. */
        sp_task *batch[SP_RUNQ_SIZE / 2];
        uint32_t n = sp__runq_grab(&rq_owner, batch, SP_RUNQ_SIZE / 2);
        for (uint32_t k = 0; k < n; k++) rq_run(batch[k]);
        rq_run(t);
      }
      if ((i & 3) == 0) {
        sp_task *p = sp__runq_pop(&rq_owner);
        if (p) rq_run(p);
      }
    }
    sp_task *p;
    while ((p = sp__runq_pop(&rq_owner))) rq_run(p);
    expect += 1;
    /* Wait until this round is fully accounted for before reusing tasks. */
    uint64_t end = mono_ns() + spt_patience_ns();
    int missing = -1;
    for (;;) {
      missing = -1;
      for (int i = 0; i < RQ_TASKS && missing < 0; i++)
        if (atomic_load(&rq_runs[i]) < expect) missing = i;
      if (missing < 0 || mono_ns() > end) break;
      sched_yield();
    }
    if (missing >= 0) {
      atomic_store(&rq_done, 1); /* let the thieves go */
      cr_assert(0, "round %ld: task %d was pushed but never run by the owner or a thief within %.0f s (a steal lost it?)",
                r + 1, missing, spt_patience_s());
    }
  }
  atomic_store(&rq_done, 1);
  for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < RQ_TASKS; i++)
    cr_assert_eq(atomic_load(&rq_runs[i]), (uint32_t)rounds, "task %d ran %u times, expected %ld", i,
                 atomic_load(&rq_runs[i]), rounds);
  cr_assert(atomic_load(&rq_stolen) > 0, "no steal ever succeeded");
  cr_log_info("runq: %ld x %d tasks, %llu stolen", rounds, RQ_TASKS, (unsigned long long)atomic_load(&rq_stolen));
  free(rq_tasks);
  free((void *)rq_runs);
}

/* ------------------------------------------------------- a million timers */

static uint64_t tm_rng = 88172645463325252ull;
static uint64_t tm_next(void) {
  tm_rng ^= tm_rng << 13;
  tm_rng ^= tm_rng >> 7;
  tm_rng ^= tm_rng << 17;
  return tm_rng;
}

/* The heap fires a million timers in deadline order, minus the disarmed. */
Test(internals, million_timers_fire_in_order, .timeout = 120) {
  size_t n = sanitized() ? 100000 : 1000000;
  sp_loop *l = calloc(1, sizeof *l);
  sp_worker *w = calloc(1, sizeof *w);
  atomic_init(&l->next_deadline, SP_NEVER);
  l->w = w;
  sp__timer *tm = calloc(n, sizeof *tm);
  sp_task *tasks = calloc(n, sizeof *tasks);
  cr_assert(tm && tasks);
  for (size_t i = 0; i < n; i++) {
    tm[i].deadline = 1000 + tm_next() % 1000000000u;
    tm[i].idx = -1;
    tm[i].task = &tasks[i];
    tm[i].seq = 1;
    tm[i].reason = SP_WAKE_TIMEOUT;
    atomic_init(&tasks[i].wait, (uint64_t)1 << 8); /* park 1, pending */
    atomic_init(&tasks[i].state, SP_TS_RUNNING);   /* a wake only marks it */
    tasks[i].rt = NULL;
    sp__timer_arm(l, &tm[i]);
  }
  cr_assert_eq(l->nheap, n);
  size_t disarmed = 0;
  for (size_t i = 0; i < n; i += 7) {
    sp__timer_disarm(&tm[i]);
    cr_assert_eq(tm[i].idx, -1);
    disarmed++;
  }
  /* Pop in steps, checking the heap invariant through what fires. */
  uint64_t last = 0;
  size_t fired = 0;
  for (uint64_t now = 0; l->nheap; now += 1000000) {
    while (l->nheap && l->heap[0].deadline <= now) {
      sp__timer *t = l->heap[0].t;
      cr_assert(t->deadline >= last, "timer out of order");
      last = t->deadline;
      /* Fire up to this deadline: only timers due exactly now may go. */
      int k = sp__loop_fire_timers(l, t->deadline);
      cr_assert(k >= 1, "a due timer did not fire");
      cr_assert_eq(atomic_load(&t->task->wait) & 0xf, SP_WAKE_TIMEOUT);
      fired += (size_t)k;
    }
  }
  cr_assert_eq(fired + disarmed, n, "fired %zu + disarmed %zu != %zu", fired, disarmed, n);
  cr_assert_eq(atomic_load(&l->next_deadline), SP_NEVER);
  free(tm);
  free(tasks);
  free(l->heap);
  free(l);
  free(w);
}

/* ------------------------------------------------------------- watchers */

static int watch_hits[2];
static void count_watch(void *ctx, unsigned revents) {
  (void)revents;
  watch_hits[(intptr_t)ctx]++;
}

/* A one-shot watcher on a readable pipe reports once, however often the
 * loop is polled, until it is armed again; a level-triggered one reports at
 * every poll (what made an idle worker spin on a socket whose consumer had
 * not run yet). */
Test(internals, oneshot_watcher_reports_once_until_rearmed, .timeout = 30) {
  sp_loop *l = calloc(1, sizeof *l);
  sp_worker *w = calloc(1, sizeof *w);
  cr_assert(l && w);
  cr_assert_eq(sp__loop_init(l, w), 0);
  int a[2], b[2];
  cr_assert_eq(pipe2(a, O_NONBLOCK), 0);
  cr_assert_eq(pipe2(b, O_NONBLOCK), 0);
  cr_assert_eq(write(a[1], "x", 1), 1);
  cr_assert_eq(write(b[1], "x", 1), 1);
  int once = sp__watch_add(l, a[0], SP_READABLE | SP__WATCH_ONESHOT, count_watch, (void *)0);
  int level = sp__watch_add(l, b[0], SP_READABLE, count_watch, (void *)1);
  cr_assert(once >= 0 && level >= 0);
  for (int i = 0; i < 5; i++) sp__loop_poll(l, 0);
  cr_assert_eq(watch_hits[0], 1, "one-shot watcher reported %d times", watch_hits[0]);
  cr_assert_eq(watch_hits[1], 5, "level-triggered watcher reported %d times", watch_hits[1]);
  cr_assert_eq(sp__watch_mod(l, once, a[0], SP_READABLE | SP__WATCH_ONESHOT), 0);
  for (int i = 0; i < 5; i++) sp__loop_poll(l, 0);
  cr_assert_eq(watch_hits[0], 2, "re-armed one-shot watcher reported %d times", watch_hits[0] - 1);
  sp__watch_del(l, once, a[0]);
  sp__watch_del(l, level, b[0]);
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
  sp__loop_close(l);
  free(l);
  free(w);
}

/* -------------------------------------------------------------- USDT probes */

/* The library carries the USDT probes perf probe sdt_spindle:* expects. */
Test(internals, usdt_probes_present, .timeout = 30) {
  const char *lib = getenv("SPINDLE_LIB");
  cr_assert(lib && *lib, "SPINDLE_LIB not set by the test harness");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "readelf -n '%s' 2>&1", lib);
  FILE *p = popen(cmd, "r");
  cr_assert(p);
  char line[512];
  int found[5] = {0};
  const char *names[5] = {"spawn", "run", "park", "wake", "steal"};
  char prov[64] = "";
  while (fgets(line, sizeof line, p)) {
    char name[64];
    if (sscanf(line, " Provider: %63s", prov) == 1) continue;
    if (sscanf(line, " Name: %63s", name) == 1 && !strcmp(prov, "spindle"))
      for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i])) found[i] = 1;
  }
  pclose(p);
  const char *have = getenv("SPINDLE_HAVE_SDT");
  if (have && !strcmp(have, "0")) {
    /* Configured without <sys/sdt.h>: CMake warned; the library must then
     * carry no half-made probes either. */
    cr_log_info("USDT probes were not compiled in (install systemtap-sdt-dev)");
    for (int i = 0; i < 5; i++) cr_assert(!found[i], "unexpected probe spindle:%s", names[i]);
    return;
  }
  for (int i = 0; i < 5; i++) cr_assert(found[i], "probe spindle:%s missing from %s", names[i], lib);
}
