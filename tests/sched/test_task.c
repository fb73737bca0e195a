/* test_task.c - spawning, joining, gathering and naming tasks. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt_internal.h"

#include <sys/mman.h>

/* ------------------------------------------------------------ helpers */

static void *add_one(void *arg) { return IPTR(PINT(arg) + 1); }

static void *times_three_after_yields(void *arg) {
  intptr_t i = PINT(arg);
  for (int k = 0; k < (int)(i % 5); k++) CHECK_RC(sp_yield(), 0);
  return IPTR(i * 3);
}

/* --------------------------------------------------------- spawn/join */

static void *main_spawn_join(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(add_one, 41);
  void *res = NULL;
  CHECK_RC(sp_join(t, &res), 0);
  CHECK_EQ(PINT(res), 42);
  /* join with a NULL result pointer is allowed */
  t = SPAWN(add_one, 1);
  CHECK_RC(sp_join(t, NULL), 0);
  return IPTR(777);
}

/* sp_join hands back the task's return value; sp_run hands back main's. */
Test(task, spawn_join_result, .timeout = 30) {
  void *r = spt_run(2, main_spawn_join, NULL);
  cr_assert_eq(PINT(r), 777, "sp_run result %ld, expected 777", (long)PINT(r));
}

static void *main_plain(void *arg) { return IPTR(PINT(arg) * 2); }

/* plain sp_run (default options) runs the main task and returns its value. */
Test(task, sp_run_default_opts, .timeout = 30) {
  void *res = NULL;
  ASSERT_RC(sp_run(main_plain, IPTR(21), &res), 0);
  cr_assert_eq(PINT(res), 42);
  ASSERT_RC(sp_run(main_plain, IPTR(1), NULL), 0);
}

static void *main_join_many(void *arg) {
  int n = (int)PINT(arg);
  sp_task **ts = calloc((size_t)n, sizeof *ts);
  for (int i = 0; i < n; i++) ts[i] = SPAWN(times_three_after_yields, i);
  /* join in reverse order, so most joins wait on already-finished tasks
   * and some on running ones */
  for (int i = n - 1; i >= 0; i--) {
    void *res = NULL;
    CHECK_RC(sp_join(ts[i], &res), 0);
    CHECK_EQ(PINT(res), 3 * i);
  }
  free(ts);
  return NULL;
}

/* Joining many tasks (in reverse spawn order) returns each one's own result. */
Test(task, join_many, .timeout = 60) {
  spt_run(4, main_join_many, IPTR(200 * scale()));
  spt_run(1, main_join_many, IPTR(100 * scale()));
}

/* A task spawned by one task can be joined by another. */
static void *joiner(void *arg) { return spt_join_soon((sp_task *)arg, "the task spawned by main"); }
static void *main_join_elsewhere(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(add_one, 99);
  sp_task *j = SPAWN(joiner, t);
  CHECK_EQ(PINT(spt_join_soon(j, "the joiner")), 100);
  return NULL;
}
Test(task, join_from_other_task, .timeout = 30) { spt_run(2, main_join_elsewhere, NULL); }

/* A joiner parked in sp_join is woken when the task ends, which it does
 * later, on its own (not run by the joiner). */
static sp_event jw_go = SP_EVENT_INIT;
static void *wait_go_then_add(void *arg) {
  CHECK_RC(sp_event_wait(&jw_go), 0);
  return IPTR(PINT(arg) + 1);
}
static atomic_int jw_joined;
static void *parked_joiner(void *arg) {
  void *res = NULL;
  CHECK_RC(sp_join((sp_task *)arg, &res), 0);
  atomic_store(&jw_joined, 1);
  return res;
}
static void *main_join_wakes(void *arg) {
  (void)arg;
  for (int round = 0; round < 20; round++) {
    sp_event_init(&jw_go);
    atomic_store(&jw_joined, 0);
    sp_task *t = SPAWN(wait_go_then_add, round);
    sp_task *j = SPAWN(parked_joiner, t);
    sp_task *both[2] = {t, j};
    if (!CHECK_PARKED(both, 2, "a task in sp_event_wait and its joiner in sp_join")) return NULL;
    sp_event_set(&jw_go);
    CHECK_SOON(atomic_load(&jw_joined), "round %d: a task parked in sp_join was not woken when the joined task ended",
               round);
    CHECK_EQ(PINT(spt_join_soon(j, "the joiner")), round + 1);
  }
  return NULL;
}
Test(task, join_wakes_parked_joiner, .timeout = 60) {
  spt_run(1, main_join_wakes, NULL);
  spt_run(2, main_join_wakes, NULL);
}

/* ------------------------------------------------------------- detach */

static atomic_int detached_runs;
static sp_event detached_ev1 = SP_EVENT_INIT;
static sp_event detached_ev2 = SP_EVENT_INIT;

static void *detached_body1(void *arg) {
  (void)arg;
  atomic_fetch_add(&detached_runs, 1);
  sp_event_set(&detached_ev1);
  return NULL;
}
static void *detached_body2(void *arg) {
  (void)arg;
  CHECK_RC(sp_sleep(MS(10)), 0);
  atomic_fetch_add(&detached_runs, 1);
  sp_event_set(&detached_ev2);
  return NULL;
}
static void *main_detach(void *arg) {
  (void)arg;
  /* out == NULL: detached at spawn */
  CHECK_RC(sp_spawn(NULL, detached_body1, NULL), 0);
  /* explicit sp_detach on a live handle */
  sp_task *t = SPAWN(detached_body2, NULL);
  sp_detach(t);
  sp_deadline d;
  sp_deadline_push(&d, spt_patience_ns());
  CHECK_RC(sp_event_wait(&detached_ev1), 0);
  CHECK_RC(sp_event_wait(&detached_ev2), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  CHECK_EQ(atomic_load(&detached_runs), 2);
  return NULL;
}

/* Detached tasks (spawned with out=NULL, or sp_detach'ed) still run. */
Test(task, detach_still_runs, .timeout = 30) {
  spt_run(2, main_detach, NULL);
  cr_assert_eq(atomic_load(&detached_runs), 2);
}

/* ------------------------------------------------------------- gather */

static void *gather_body(void *arg) {
  intptr_t i = PINT(arg);
  /* finish out of spawn order: some yield, some sleep briefly */
  if (i % 7 == 0) CHECK_RC(sp_sleep(US(100 + (i % 13) * 50)), 0);
  for (int k = 0; k < (int)(i % 3); k++) CHECK_RC(sp_yield(), 0);
  return IPTR(i * 7 + 1);
}

static void *main_gather(void *arg) {
  size_t n = (size_t)PINT(arg);
  sp_task **ts = calloc(n, sizeof *ts);
  void **res = calloc(n, sizeof *res);
  for (size_t i = 0; i < n; i++) ts[i] = SPAWN(gather_body, i);
  spt_step("gathering 10,000 tasks");
  CHECK_RC(sp_gather(ts, n, res), 0);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    if (PINT(res[i]) != (intptr_t)(i * 7 + 1)) {
      if (bad++ < 5) CHECKF(0, "gather result[%zu] = %ld, expected %ld", i, (long)PINT(res[i]), (long)(i * 7 + 1));
    }
  CHECK_EQ(bad, 0);
  /* results may be NULL */
  for (size_t i = 0; i < 100; i++) ts[i] = SPAWN(gather_body, i);
  CHECK_RC(sp_gather(ts, 100, NULL), 0);
  /* gathering nothing succeeds */
  CHECK_RC(sp_gather(ts, 0, res), 0);
  free(ts);
  free(res);
  return NULL;
}

/* sp_gather over 10,000 tasks returns every result, in spawn order. */
Test(task, gather_10000_in_order, .timeout = 120) {
  spt_run(4, main_gather, IPTR(1000 * scale()));
}

/* ----------------------------------------------------- self, name, id */

static void *report_self(void *arg) {
  (void)arg;
  sp_task *me = sp_self();
  CHECK(me != NULL);
  return me ? IPTR(sp_task_id(me)) : NULL;
}

static char name_seen[64];
static void *read_own_name(void *arg) {
  (void)arg;
  sp_task *me = sp_self();
  CHECK(me != NULL);
  if (me) snprintf(name_seen, sizeof name_seen, "%s", sp_task_name(me));
  return NULL;
}

static void *main_self_name_id(void *arg) {
  (void)arg;
  sp_task *me = sp_self();
  CHECK(me != NULL);
  if (me) CHECK(sp_task_id(me) > 0);

  /* the name is copied at spawn: scribbling over the caller's buffer
   * afterwards must not change it */
  char buf[32];
  strcpy(buf, "worker-alpha");
  struct sp_spawn_opts o = {0, buf};
  sp_task *t = SPAWN_OPTS(&o, read_own_name, NULL);
  memset(buf, 'X', sizeof buf - 1);
  buf[sizeof buf - 1] = '\0';
  CHECKF(strcmp(sp_task_name(t), "worker-alpha") == 0, "name via handle: '%s'", sp_task_name(t));
  spt_join(t);
  CHECKF(strcmp(name_seen, "worker-alpha") == 0, "name seen by task: '%s'", name_seen);

  /* NULL name: "task" */
  struct sp_spawn_opts o2 = {0, NULL};
  t = SPAWN_OPTS(&o2, read_own_name, NULL);
  CHECKF(strcmp(sp_task_name(t), "task") == 0, "default name: '%s'", sp_task_name(t));
  spt_join(t);
  CHECKF(strcmp(name_seen, "task") == 0, "default name seen by task: '%s'", name_seen);
  t = SPAWN(read_own_name, NULL); /* plain sp_spawn: default name too */
  spt_join(t);
  CHECKF(strcmp(name_seen, "task") == 0, "sp_spawn default name: '%s'", name_seen);

  /* long names are cut to at most 31 bytes, keeping the prefix */
  const char *longname = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"; /* 46 bytes */
  struct sp_spawn_opts o3 = {0, longname};
  t = SPAWN_OPTS(&o3, read_own_name, NULL);
  const char *nm = sp_task_name(t);
  CHECKF(strlen(nm) <= 31 && strlen(nm) >= 1 && strncmp(nm, longname, strlen(nm)) == 0,
         "long name came back as '%s'", nm);
  spt_join(t);

  /* ids: unique, > 0, and the handle's id is the id the task sees */
  enum { N = 200 };
  sp_task *ts[N];
  uint64_t hid[N];
  for (int i = 0; i < N; i++) {
    ts[i] = SPAWN(report_self, NULL);
    hid[i] = sp_task_id(ts[i]);
  }
  for (int i = 0; i < N; i++) {
    uint64_t seen = (uint64_t)PINT(spt_join(ts[i]));
    CHECKF(hid[i] > 0, "task id %d is 0", i);
    CHECKF(seen == hid[i], "task %d: id by handle %llu, id seen inside %llu", i,
           (unsigned long long)hid[i], (unsigned long long)seen);
    if (me) CHECKF(hid[i] != sp_task_id(me), "child id equals main task's id");
    for (int j = 0; j < i; j++)
      CHECKF(hid[i] != hid[j], "tasks %d and %d share id %llu", i, j, (unsigned long long)hid[i]);
  }
  return NULL;
}

/* sp_self/sp_task_name/sp_task_id: name copied (default "task"), ids unique and > 0. */
Test(task, self_name_id, .timeout = 30) {
  cr_assert_null(sp_self(), "sp_self() outside a task must be NULL");
  spt_run(2, main_self_name_id, NULL);
  cr_assert_null(sp_self());
}

/* ------------------------------------------------- worker id, runtime */

static void *foreign_thread_probe(void *arg) {
  int *out = arg;
  out[0] = sp_worker_id();
  out[1] = sp_runtime_current() == NULL;
  out[2] = sp_self() == NULL;
  return NULL;
}

static void *report_worker(void *arg) {
  (void)arg;
  CHECK(sp_runtime_current() != NULL);
  for (int k = 0; k < 3; k++) {
    int w = sp_worker_id();
    CHECKF(w >= 0 && w < 4, "sp_worker_id() = %d with 4 workers", w);
    CHECK_RC(sp_yield(), 0);
  }
  spin_ns(US(50));
  return IPTR(sp_worker_id());
}

static void *main_worker_id(void *arg) {
  (void)arg;
  sp_runtime *rt = sp_runtime_current();
  CHECK(rt != NULL);
  if (rt) CHECK_EQ(sp_runtime_workers(rt), 4);
  int w = sp_worker_id();
  CHECKF(w >= 0 && w < 4, "main task worker id %d", w);
  enum { N = 64 };
  sp_task *ts[N];
  for (int i = 0; i < N; i++) ts[i] = SPAWN(report_worker, NULL);
  for (int i = 0; i < N; i++) {
    int wi = (int)PINT(spt_join(ts[i]));
    CHECKF(wi >= 0 && wi < 4, "task %d finished on worker %d", i, wi);
  }
  /* a plain pthread started from a task is foreign to the runtime */
  pthread_t th;
  int probe[3] = {99, 0, 0};
  CHECK_EQ(pthread_create(&th, NULL, foreign_thread_probe, probe), 0);
  pthread_join(th, NULL);
  CHECK_EQ(probe[0], -1);
  CHECK_EQ(probe[1], 1);
  CHECK_EQ(probe[2], 1);
  return NULL;
}

/* sp_worker_id is in [0, workers) in tasks, -1 elsewhere; sp_runtime_current NULL outside. */
Test(task, worker_id_and_runtime_current, .timeout = 30) {
  cr_assert_eq(sp_worker_id(), -1);
  cr_assert_null(sp_runtime_current());
  spt_run(4, main_worker_id, NULL);
  cr_assert_eq(sp_worker_id(), -1);
  cr_assert_null(sp_runtime_current());
}

/* ------------------------------------------------------------- stacks */

/* Uses `bytes` of stack through a volatile array, touching every byte. */
static __attribute__((noinline)) uint64_t use_stack(size_t bytes) {
  volatile unsigned char *buf = __builtin_alloca(bytes);
  for (size_t i = 0; i < bytes; i++) buf[i] = (unsigned char)(i * 31u);
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes; i += 1) sum += buf[i];
  return sum;
}
static uint64_t expected_sum(size_t bytes) {
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes; i++) sum += (unsigned char)(i * 31u);
  return sum;
}

static void *big_locals_200k(void *arg) {
  (void)arg;
  volatile unsigned char big[200 * 1024];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 31u);
  CHECK_RC(sp_yield(), 0); /* switch away and back with the big frame live */
  uint64_t sum = 0;
  for (size_t i = 0; i < sizeof big; i++) sum += big[i];
  return IPTR(sum == expected_sum(sizeof big));
}

static void *stack_user(void *arg) {
  size_t bytes = (size_t)PINT(arg);
  uint64_t s = use_stack(bytes);
  CHECK_RC(sp_yield(), 0);
  return IPTR(s == expected_sum(bytes));
}

static void *main_stacks(void *arg) {
  (void)arg;
  /* custom small stack, used moderately */
  struct sp_spawn_opts o = {32 * 1024, "small-stack"};
  sp_task *t = SPAWN_OPTS(&o, stack_user, 12 * 1024);
  CHECK_EQ(PINT(spt_join(t)), 1);
  /* below the minimum: rounded up, still works */
  struct sp_spawn_opts tiny = {1024, "tiny-stack"};
  t = SPAWN_OPTS(&tiny, stack_user, 4 * 1024);
  CHECK_EQ(PINT(spt_join(t)), 1);
  /* big stack holding 200 KiB of locals across a switch */
  struct sp_spawn_opts big = {1024 * 1024, "big-stack"};
  t = SPAWN_OPTS(&big, big_locals_200k, NULL);
  CHECK_EQ(PINT(spt_join(t)), 1);
  /* several at once */
  sp_task *ts[8];
  for (int i = 0; i < 8; i++) ts[i] = SPAWN_OPTS(&big, stack_user, 600 * 1024);
  for (int i = 0; i < 8; i++) CHECK_EQ(PINT(spt_join(ts[i])), 1);
  /* over the maximum: SP_EINVAL */
  struct sp_spawn_opts huge = {SP_STACK_SIZE_MAX + 4096, "huge"};
  sp_task *h = NULL;
  CHECK_RC(sp_spawn_with(&h, &huge, add_one, NULL), SP_EINVAL);
  return NULL;
}

/* spawn with custom stack sizes works, incl. 200 KiB of locals on a 1 MiB stack; > max is EINVAL. */
Test(task, custom_stack_sizes, .timeout = 60) { spt_run(2, main_stacks, NULL); }

static void *main_default_stack(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(stack_user, 700 * 1024);
  CHECK_EQ(PINT(spt_join(t)), 1);
  return NULL;
}

/* sp_runtime_opts.stack_size sets the default stack (700 KiB used on a 1 MiB default). */
Test(task, runtime_default_stack_size, .timeout = 60) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = 2;
  o.stack_size = 1024 * 1024;
  ASSERT_RC(sp_run_opts(&o, main_default_stack, NULL, NULL), 0);
  ASSERT_NO_TASK_FAILURES();
}

/* sp_runtime_opts_init fills the documented defaults. */
Test(task, runtime_opts_init_defaults, .timeout = 10) {
  sp_runtime_opts o;
  memset(&o, 0xa5, sizeof o);
  sp_runtime_opts_init(&o);
  cr_assert_eq(o.workers, 0u);
  cr_assert(o.stack_size == 0 || o.stack_size == SP_STACK_SIZE_DEFAULT, "stack_size %zu", o.stack_size);
  cr_assert(o.offload_threads == 0 || o.offload_threads == 64, "offload_threads %u", o.offload_threads);
  cr_assert_eq(o.print_stats, -1);
}

/* ------------------------------------------------------ outside tasks */

/* sp_spawn outside a runtime returns SP_EPERM. */
Test(task, spawn_outside_runtime_eperm, .timeout = 10) {
  sp_task *t = NULL;
  ASSERT_RC(sp_spawn(&t, add_one, NULL), SP_EPERM);
  struct sp_spawn_opts o = {0, "x"};
  ASSERT_RC(sp_spawn_with(&t, &o, add_one, NULL), SP_EPERM);
  ASSERT_RC(sp_spawn(NULL, add_one, NULL), SP_EPERM);
  ASSERT_RC(sp_offload(add_one, NULL, NULL), SP_EPERM);
}

/* ------------------------------------------------------------ errors */

/* sp_strerror names every code distinctly and never returns NULL. */
Test(task, strerror_distinct, .timeout = 10) {
  const int codes[] = {SP_OK,       SP_ENOMEM,    SP_EINVAL,  SP_EAGAIN,
                       SP_ETIMEDOUT, SP_ECANCELED, SP_EPERM,  SP_EBUSY,
                       SP_ECLOSED,  SP_ESHUTDOWN, SP_EJOINED, SP_ENOTASK,
                       -ENOENT};
  const size_t n = sizeof codes / sizeof codes[0];
  const char *s[sizeof codes / sizeof codes[0]];
  for (size_t i = 0; i < n; i++) {
    s[i] = sp_strerror(codes[i]);
    cr_assert_not_null(s[i], "sp_strerror(%d) is NULL", codes[i]);
    cr_assert(s[i][0] != '\0', "sp_strerror(%d) is empty", codes[i]);
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      cr_assert(strcmp(s[i], s[j]) != 0, "sp_strerror(%d) == sp_strerror(%d) == \"%s\"", codes[i],
                codes[j], s[i]);
  /* codes nobody defined still get a string */
  cr_assert_not_null(sp_strerror(SP_ERR_BASE - 999));
  cr_assert_not_null(sp_strerror(-123456));
  cr_assert_not_null(sp_strerror(12345));
  cr_assert_not_null(sp_strerror(-EBADF));
}

/* ------------------------------------------------------- joiners help */

static _Atomic int help_order[2], help_seq;
static void *record_start(void *arg) {
  help_order[PINT(arg)] = atomic_fetch_add(&help_seq, 1) + 1;
  return NULL;
}
static void *main_join_runs_child(void *arg) {
  (void)arg;
  atomic_store(&help_seq, 0);
  sp_task *a = SPAWN(record_start, 0);
  sp_task *b = SPAWN(record_start, 1);
  /* FIFO would start a first; joining b, still queued, runs it now. */
  spt_join(b);
  CHECK_EQ(atomic_load(&help_order[1]), 1);
  spt_join(a);
  CHECK_EQ(atomic_load(&help_order[0]), 2);
  return NULL;
}

/* A task that joins a still-queued task runs it itself, ahead of the queue. */
Test(task, joiner_runs_queued_task, .timeout = 30) { spt_run(1, main_join_runs_child, NULL); }

static _Atomic long fj_live, fj_peak;
static void *fj_fib(void *arg) {
  long n = PINT(arg);
  long live = atomic_fetch_add(&fj_live, 1) + 1;
  long peak = atomic_load(&fj_peak);
  while (live > peak && !atomic_compare_exchange_weak(&fj_peak, &peak, live)) {
  }
  long r;
  if (n < 2) {
    r = n;
  } else {
    sp_task *t = SPAWN(fj_fib, n - 1);
    long b = PINT(fj_fib(IPTR(n - 2)));
    r = PINT(spt_join(t)) + b;
  }
  atomic_fetch_sub(&fj_live, 1);
  return IPTR(r);
}
static void *main_fork_join(void *arg) {
  long n = PINT(arg);
  CHECK_EQ(PINT(fj_fib(IPTR(n))), n == 20 ? 6765L : 610L);
  return NULL;
}

/* Recursive spawn+join gives the right answer on 4 workers; on one worker,
 * where stealing cannot blur it, joiners running their children keep the
 * tree depth-first: live calls stay near the depth, not the 10,945 spawns. */
Test(task, fork_join_tree_depth_first, .timeout = 60) {
  long n = sanitized() ? 15 : 20;
  atomic_store(&fj_live, 0);
  atomic_store(&fj_peak, 0);
  spt_run(4, main_fork_join, IPTR(n));
  atomic_store(&fj_live, 0);
  atomic_store(&fj_peak, 0);
  spt_run(1, main_fork_join, IPTR(n));
  cr_log_info("fork-join fib(%ld) on 1 worker: peak %ld live calls", n, atomic_load(&fj_peak));
  cr_assert(atomic_load(&fj_peak) <= 4 * n, "peak of %ld live calls: the tree ran breadth-first",
            atomic_load(&fj_peak));
}
