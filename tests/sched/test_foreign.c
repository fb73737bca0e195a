/* test_foreign.c - runtimes driven from plain threads; shutdown; sp_offload. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt_internal.h"

#include <unistd.h>

static sp_runtime *new_rt(unsigned workers, unsigned offload_threads) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = workers;
  o.offload_threads = offload_threads;
  sp_runtime *rt = NULL;
  int rc = sp_runtime_new(&o, &rt);
  cr_assert_eq(rc, 0, "sp_runtime_new: %d (%s)", rc, sp_strerror(rc));
  cr_assert_not_null(rt);
  return rt;
}

/* sp_runtime_free under the watchdog: it must end once every task has. */
static void free_rt(sp_runtime *rt) {
  int armed = spt_watchdog_arm("sp_runtime_free", 2 * spt_patience_ns());
  ASSERT_RC(sp_runtime_free(rt), 0);
  if (armed) spt_watchdog_disarm();
}

/* Joins t from this (plain) thread, failing the test after the patience. */
static void *join_here(sp_task *t, const char *what) {
  void *res = NULL;
  int rc = spt_join_from_thread_within(t, &res, spt_patience_ns());
  cr_assert_neq(rc, SP_ETIMEDOUT, "%s did not end within %.0f s (joined from a plain thread)", what,
                spt_patience_s());
  cr_assert_eq(rc, 0, "joining %s: %d (%s)", what, rc, sp_strerror(rc));
  return res;
}

/* ----------------------------------------- spawn + join from pthreads */

enum { FT_THREADS = 4 };
static atomic_int *ft_ran;
static int ft_per_thread;
static sp_runtime *ft_rt;

static void *ft_task(void *arg) {
  intptr_t i = PINT(arg);
  atomic_fetch_add(&ft_ran[i], 1);
  if (i % 16 == 0) CHECK_RC(sp_yield(), 0);
  if (i % 101 == 0) CHECK_RC(sp_sleep(US(200)), 0);
  return IPTR(i + 1);
}

static void *ft_thread(void *arg) {
  intptr_t th = PINT(arg);
  sp_task **ts = calloc((size_t)ft_per_thread, sizeof *ts);
  for (int k = 0; k < ft_per_thread; k++) {
    intptr_t idx = th * ft_per_thread + k;
    int rc = sp_runtime_spawn(ft_rt, &ts[k], NULL, ft_task, IPTR(idx));
    CHECK_RC(rc, 0);
    if (rc != 0) ts[k] = NULL;
  }
  for (int k = 0; k < ft_per_thread; k++) {
    if (!ts[k]) continue;
    void *res = NULL;
    CHECK_RC(sp_join(ts[k], &res), 0); /* blocks this foreign thread */
    CHECK_EQ(PINT(res), th * ft_per_thread + k + 1);
  }
  free(ts);
  return NULL;
}

/* 4 plain threads spawn 10,000 tasks concurrently and join them: each ran exactly once. */
Test(foreign, spawn_and_join_from_pthreads, .timeout = 120) {
  ft_per_thread = 250 * scale();
  int total = FT_THREADS * ft_per_thread;
  ft_ran = calloc((size_t)total, sizeof *ft_ran);
  ft_rt = new_rt(2, 0);
  cr_assert_eq(sp_runtime_workers(ft_rt), 2u);
  pthread_t th[FT_THREADS];
  for (int i = 0; i < FT_THREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, ft_thread, IPTR(i)), 0);
  for (int i = 0; i < FT_THREADS; i++) {
    int rc = spt_pthread_join_within(th[i], NULL, 4 * spt_patience_ns());
    cr_assert_eq(rc, 0,
                 "plain thread %d, spawning and joining %d tasks, did not finish within %.0f s: a task it spawned "
                 "never ran, or its join was not woken; first failed check: %s",
                 i, ft_per_thread, 4 * spt_patience_s(), spt_first_failure);
  }
  ASSERT_NO_TASK_FAILURES();
  int bad = 0, first_bad = -1;
  for (int i = 0; i < total; i++)
    if (atomic_load(&ft_ran[i]) != 1 && bad++ == 0) first_bad = i;
  cr_assert_eq(bad, 0, "%d tasks did not run exactly once (first: %d ran %d times)", bad, first_bad,
               first_bad >= 0 ? atomic_load(&ft_ran[first_bad]) : 0);
  free_rt(ft_rt);
  free(ft_ran);
}

static char ft_name[64];
static _Atomic int ft_name_set; /* release after ft_name is written */
static void *record_name(void *arg) {
  (void)arg;
  snprintf(ft_name, sizeof ft_name, "%s", sp_task_name(sp_self()));
  atomic_store(&ft_name_set, 1);
  CHECK(sp_worker_id() >= 0);
  CHECK(sp_runtime_current() != NULL);
  return IPTR(5);
}

/* sp_runtime_spawn honours opts (name) and NULL out (detached) from a plain thread. */
Test(foreign, runtime_spawn_opts_and_detached, .timeout = 30) {
  sp_runtime *rt = new_rt(2, 0);
  struct sp_spawn_opts o = {64 * 1024, "from-outside"};
  sp_task *t = NULL;
  ASSERT_RC(sp_runtime_spawn(rt, &t, &o, record_name, NULL), 0);
  cr_assert_eq(PINT(join_here(t, "a task spawned from a plain thread")), 5);
  cr_assert_str_eq(ft_name, "from-outside");
  ft_name[0] = '\0';
  atomic_store(&ft_name_set, 0);
  ASSERT_RC(sp_runtime_spawn(rt, NULL, NULL, record_name, NULL), 0);
  ASSERT_SOON(atomic_load(&ft_name_set), "a detached task spawned from a plain thread never ran");
  cr_assert_str_eq(ft_name, "task");
  free_rt(rt);
  ASSERT_NO_TASK_FAILURES();
}

/* workers = 0 takes SPINDLE_WORKERS from the environment. */
Test(foreign, workers_from_environment, .timeout = 30) {
  setenv("SPINDLE_WORKERS", "3", 1);
  sp_runtime *rt = new_rt(0, 0);
  cr_assert_eq(sp_runtime_workers(rt), 3u);
  free_rt(rt);
  unsetenv("SPINDLE_WORKERS");
  rt = new_rt(0, 0);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cr_assert(sp_runtime_workers(rt) >= 1 && (long)sp_runtime_workers(rt) <= cpus, "workers %u, cpus %ld",
            sp_runtime_workers(rt), cpus);
  free_rt(rt);
}

/* ------------------------------------- waking a parked runtime from outside */

/*
 * Work that a plain thread hands to a runtime whose workers are all parked
 * (idle in their poll loops, no timer due) goes to the global queue, and
 * one worker must be woken for it: nothing else would wake one, since even
 * the monitor sleeps while every worker is parked.  One lost wakeup and the
 * work never runs.  Each round parks the workers again, so one of many
 * wakeups lost is caught too.
 */
enum { WAKE_ROUNDS = 40 };
static atomic_int pw_ran;
static sp_event pw_event = SP_EVENT_INIT;

static atomic_int pw_children;
static void *count_child(void *arg) {
  (void)arg;
  atomic_fetch_add(&pw_children, 1);
  return NULL;
}
/* Spawns `arg` children first, so that rounds differ in how many wakeups
 * they ask for: a wakeup lost every k-th time cannot fall on the same
 * step of every round. */
static void *count_run(void *arg) {
  for (intptr_t i = 0; i < PINT(arg); i++) CHECK_RC(sp_spawn(NULL, count_child, NULL), 0);
  atomic_fetch_add(&pw_ran, 1);
  return NULL;
}

/* Waits until every worker of rt is parked, and then a little more, so that
 * they are blocked in the kernel rather than on their way there. */
static void wait_all_parked(sp_runtime *rt, int round) {
  ASSERT_SOON(spt_all_workers_parked(rt), "round %d: only %d of %u workers went idle with nothing to run", round,
              spt_workers_parked(rt), sp_runtime_workers(rt));
  usleep(500);
}

/* A task spawned from a plain thread while every worker is parked runs (1 and 4 workers, 40 rounds). */
Test(foreign, spawn_wakes_parked_worker, .timeout = 60) {
  for (unsigned workers = 1; workers <= 4; workers += 3) {
    sp_runtime *rt = new_rt(workers, 0);
    atomic_store(&pw_ran, 0);
    for (int round = 1; round <= WAKE_ROUNDS; round++) {
      wait_all_parked(rt, round);
      ASSERT_RC(sp_runtime_spawn(rt, NULL, NULL, count_run, IPTR(round % 4)), 0);
      ASSERT_SOON(atomic_load(&pw_ran) == round,
                  "%u worker(s), round %d: a task spawned from a plain thread while every worker was parked did "
                  "not run: no worker was woken for it",
                  workers, round);
    }
    free_rt(rt);
  }
  ASSERT_NO_TASK_FAILURES();
}

static atomic_int pw_woke;
static void *wait_pw_event(void *arg) {
  CHECK_RC(sp_event_wait(&pw_event), 0);
  for (intptr_t i = 0; i < PINT(arg); i++) CHECK_RC(sp_spawn(NULL, count_child, NULL), 0); /* see count_run */
  atomic_fetch_add(&pw_woke, 1);
  return NULL;
}

/* A task parked on an event that a plain thread sets, while every worker is parked, wakes and runs
 * (1 and 4 workers, 40 rounds). */
Test(foreign, event_set_from_thread_wakes_parked_task, .timeout = 60) {
  for (unsigned workers = 1; workers <= 4; workers += 3) {
    sp_runtime *rt = new_rt(workers, 0);
    atomic_store(&pw_woke, 0);
    for (int round = 1; round <= WAKE_ROUNDS; round++) {
      sp_event_init(&pw_event);
      sp_task *t = NULL;
      ASSERT_RC(sp_runtime_spawn(rt, &t, NULL, wait_pw_event, IPTR(round % 4)), 0);
      ASSERT_SOON(spt_parked(t), "%u worker(s), round %d: the task spawned from this thread never parked on the event",
                  workers, round);
      wait_all_parked(rt, round);
      sp_event_set(&pw_event);
      ASSERT_SOON(atomic_load(&pw_woke) == round,
                  "%u worker(s), round %d: a task parked on an event set by a plain thread, while every worker was "
                  "parked, did not run: no worker was woken for it",
                  workers, round);
      join_here(t, "the event waiter");
    }
    free_rt(rt);
  }
  ASSERT_NO_TASK_FAILURES();
}

/* -------------------------------------------------------- block_on */

static sp_event bo_a = SP_EVENT_INIT, bo_b = SP_EVENT_INIT;
static sp_runtime *bo_rt;

static void *bo_fn(void *arg) {
  intptr_t who = PINT(arg);
  sp_event *mine = who == 1 ? &bo_a : &bo_b, *theirs = who == 1 ? &bo_b : &bo_a;
  /* block_on from inside a task is refused */
  CHECK_RC(sp_runtime_block_on(bo_rt, bo_fn, arg, NULL), SP_EPERM);
  sp_event_set(mine);
  sp_deadline d;
  sp_deadline_push(&d, spt_patience_ns());
  int rc = sp_event_wait(theirs); /* only completes if both run at once */
  sp_deadline_pop(&d);
  CHECK_RC(rc, 0);
  return IPTR(who * 10);
}

static void *bo_thread(void *arg) {
  void *res = NULL;
  CHECK_RC(sp_runtime_block_on(bo_rt, bo_fn, arg, &res), 0);
  return res;
}

/* Two plain threads in sp_runtime_block_on at once: both tasks run concurrently and return. */
Test(foreign, block_on_two_threads, .timeout = 60) {
  bo_rt = new_rt(2, 0);
  pthread_t a, b;
  cr_assert_eq(pthread_create(&a, NULL, bo_thread, IPTR(1)), 0);
  cr_assert_eq(pthread_create(&b, NULL, bo_thread, IPTR(2)), 0);
  void *ra = NULL, *rb = NULL;
  cr_assert_eq(spt_pthread_join_within(a, &ra, 2 * spt_patience_ns()), 0,
               "sp_runtime_block_on from plain thread 1 did not return within %.0f s; first failed check: %s",
               2 * spt_patience_s(), spt_first_failure);
  cr_assert_eq(spt_pthread_join_within(b, &rb, 2 * spt_patience_ns()), 0,
               "sp_runtime_block_on from plain thread 2 did not return within %.0f s; first failed check: %s",
               2 * spt_patience_s(), spt_first_failure);
  ASSERT_NO_TASK_FAILURES();
  cr_assert_eq(PINT(ra), 10);
  cr_assert_eq(PINT(rb), 20);
  free_rt(bo_rt);
}

/* -------------------------------------------------------- shutdown */

static atomic_int sd_parked, sd_finished;
static atomic_int sd_rc[4] = {1, 1, 1, 1};
static sp_event sd_never = SP_EVENT_INIT;
static sp_chan *sd_chan;

static void *sd_sleeper(void *arg) {
  (void)arg;
  atomic_fetch_add(&sd_parked, 1);
  atomic_store(&sd_rc[0], sp_sleep(SEC(60)));
  atomic_store(&sd_rc[1], sp_sleep(SEC(1)));
  atomic_store(&sd_rc[2], sp_event_wait(&sd_never));
  atomic_fetch_add(&sd_finished, 1);
  return NULL;
}
static void *sd_receiver(void *arg) {
  (void)arg;
  int v;
  atomic_fetch_add(&sd_parked, 1);
  atomic_store(&sd_rc[3], sp_chan_recv(sd_chan, &v));
  int rc = sp_chan_recv(sd_chan, &v);
  CHECKF(rc == SP_ESHUTDOWN, "recv after shutdown cancel: %d (%s)", rc, sp_strerror(rc));
  atomic_fetch_add(&sd_finished, 1);
  return NULL;
}

/* sp_runtime_free cancels parked tasks promptly: SP_ECANCELED first, then SP_ESHUTDOWN for every park. */
Test(foreign, free_cancels_parked_tasks, .timeout = 30) {
  sp_runtime *rt = new_rt(2, 0);
  cr_assert_eq(sp_chan_new(&sd_chan, sizeof(int), 0), 0);
  sp_task *kept = NULL;
  ASSERT_RC(sp_runtime_spawn(rt, &kept, NULL, sd_sleeper, NULL), 0); /* handle never joined */
  ASSERT_RC(sp_runtime_spawn(rt, NULL, NULL, sd_receiver, NULL), 0);
  ASSERT_SOON(atomic_load(&sd_parked) == 2, "the two tasks spawned from this thread did not both start");
  ASSERT_SOON(spt_all_workers_parked(rt), "the workers did not go idle: the two tasks did not both park");
  uint64_t t0 = mono_ns();
  free_rt(rt);
  double el = ms_since(t0);
  cr_assert(el < spt_patience_s() * 1000, "sp_runtime_free took %.1f ms with a task in sp_sleep(60 s)", el);
  cr_assert_eq(atomic_load(&sd_finished), 2, "sp_runtime_free returned before its tasks ended");
  ASSERT_NO_TASK_FAILURES();
  int r0 = atomic_load(&sd_rc[0]), r1 = atomic_load(&sd_rc[1]), r2 = atomic_load(&sd_rc[2]),
      r3 = atomic_load(&sd_rc[3]);
  cr_assert_eq(r0, SP_ECANCELED, "parked sleep got %d (%s), expected SP_ECANCELED", r0, sp_strerror(r0));
  cr_assert_eq(r1, SP_ESHUTDOWN, "next sleep got %d (%s), expected SP_ESHUTDOWN", r1, sp_strerror(r1));
  cr_assert_eq(r2, SP_ESHUTDOWN, "event wait got %d (%s), expected SP_ESHUTDOWN", r2, sp_strerror(r2));
  cr_assert_eq(r3, SP_ECANCELED, "parked recv got %d (%s), expected SP_ECANCELED", r3, sp_strerror(r3));
  sp_chan_free(sd_chan);
}

/* Chains of tasks, each spawning the next and yielding (so that it may end
 * on another worker than its child was counted on) until spawns fail. */
static atomic_long ch_started, ch_finished;

static void *chain_link(void *arg) {
  atomic_fetch_add(&ch_started, 1);
  sp_spawn(NULL, chain_link, arg);
  sp_yield();
  atomic_fetch_add(&ch_finished, 1);
  return NULL;
}

/* sp_runtime_free returns only once no task runs any more, also while tasks
 * keep spawning as it counts: its count of live tasks is one snapshot (a
 * per-worker sum was not, and could read 0 with a task live).  A task that
 * never started may be dropped; one that started has ended. */
Test(foreign, free_waits_for_tasks_spawned_while_it_counts, .timeout = 120) {
  for (int round = 0; round < 300; round++) {
    atomic_store(&ch_started, 0);
    atomic_store(&ch_finished, 0);
    sp_runtime *rt = new_rt(2, 0);
    for (int i = 0; i < 8; i++) ASSERT_RC(sp_runtime_spawn(rt, NULL, NULL, chain_link, NULL), 0);
    usleep((useconds_t)(round % 7) * 100);
    free_rt(rt);
    long started = atomic_load(&ch_started), finished = atomic_load(&ch_finished);
    cr_assert_eq(finished, started, "round %d: sp_runtime_free returned with %ld of %ld started tasks running",
                 round, started - finished, started);
  }
}

static atomic_int q_done;
static void *sd_sleeper_once(void *arg) {
  (void)arg;
  return IPTR(sp_sleep(SEC(60)));
}
static void *quick_task(void *arg) {
  (void)arg;
  atomic_fetch_add(&q_done, 1);
  return NULL;
}

/* A foreign thread can sp_cancel a task and sp_join it (blocking). */
Test(foreign, cancel_and_join_from_pthread, .timeout = 30) {
  sp_runtime *rt = new_rt(2, 0);
  sp_task *t = NULL;
  ASSERT_RC(sp_runtime_spawn(rt, &t, NULL, sd_sleeper_once, NULL), 0);
  ASSERT_SOON(spt_parked(t), "the task spawned from this thread never parked in sp_sleep(60 s)");
  uint64_t t0 = mono_ns();
  sp_cancel(t);
  void *res = join_here(t, "a task in sp_sleep(60 s) cancelled from a plain thread");
  cr_assert(ms_since(t0) < spt_patience_s() * 1000, "cancel+join from a pthread took %.1f ms", ms_since(t0));
  cr_assert_eq(PINT(res), SP_ECANCELED, "the task's sleep returned %ld", (long)PINT(res));
  /* the runtime keeps working */
  for (int i = 0; i < 10; i++) ASSERT_RC(sp_runtime_spawn(rt, NULL, NULL, quick_task, NULL), 0);
  ASSERT_SOON(atomic_load(&q_done) == 10, "of 10 tasks spawned from this thread after the cancel, %d ran",
              atomic_load(&q_done));
  free_rt(rt);
}

/* --------------------------------------------------------- offload */

static atomic_int ticks, tick_stop;
static void *ticker(void *arg) {
  (void)arg;
  while (!atomic_load(&tick_stop)) {
    CHECK_RC(sp_sleep(MS(1)), 0);
    atomic_fetch_add(&ticks, 1);
  }
  return NULL;
}

static pthread_t off_worker_thread;
static atomic_int off_fn_worker_id = 99, off_fn_same_thread = -1, off_ticks_seen = -1;

/* Blocks its thread until the ticker, a task, has ticked 5 more times: it
 * can only do that if the one worker is not the thread blocked here. */
static void *block_until_5_ticks(void *arg) {
  atomic_store(&off_fn_worker_id, sp_worker_id());
  atomic_store(&off_fn_same_thread, pthread_equal(pthread_self(), off_worker_thread) != 0);
  int from = atomic_load(&ticks);
  uint64_t end = mono_ns() + spt_patience_ns();
  while (atomic_load(&ticks) - from < 5 && mono_ns() < end) usleep(200);
  atomic_store(&off_ticks_seen, atomic_load(&ticks) - from);
  return IPTR(PINT(arg) + 1);
}

static void *main_offload(void *arg) {
  (void)arg;
  sp_task *tk = SPAWN(ticker, NULL);
  CHECK_SOON(atomic_load(&ticks) > 0, "the ticker never ticked");
  off_worker_thread = pthread_self();
  void *res = NULL;
  CHECK_RC(sp_offload(block_until_5_ticks, IPTR(0xbeef), &res), 0);
  CHECK_EQ(PINT(res), 0xbeef + 1);
  CHECKF(atomic_load(&off_ticks_seen) >= 5,
         "while an offloaded call blocked its thread for %.0f s, the ticker task ran only %d times (1 worker)",
         spt_patience_s(), atomic_load(&off_ticks_seen));
  CHECK_EQ(atomic_load(&off_fn_worker_id), -1);
  CHECK_EQ(atomic_load(&off_fn_same_thread), 0);
  atomic_store(&tick_stop, 1);
  spt_join_soon(tk, "the ticker, told to stop,");
  return NULL;
}

/* sp_offload runs a blocking call on another thread; the single worker keeps running tasks. */
Test(foreign, offload_keeps_worker_free, .timeout = 30) { spt_run(1, main_offload, NULL); }

static atomic_int oc_rc = 1, oc_after = 1, oc_in_offload, oc_cancel_sent;
/* Blocks until the task that offloaded it has been cancelled. */
static void *block_until_cancel_sent(void *arg) {
  atomic_store(&oc_in_offload, 1);
  uint64_t end = mono_ns() + spt_patience_ns();
  while (!atomic_load(&oc_cancel_sent) && mono_ns() < end) usleep(200);
  return IPTR(PINT(arg) + 1);
}
static void *offload_then_park(void *arg) {
  (void)arg;
  void *res = NULL;
  atomic_store(&oc_rc, sp_offload(block_until_cancel_sent, IPTR(1), &res));
  CHECK_EQ(PINT(res), 2);
  atomic_store(&oc_after, sp_sleep(MS(1)));
  return NULL;
}
static void *main_offload_cancel(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(offload_then_park, NULL);
  CHECK_SOON(atomic_load(&oc_in_offload), "the offloaded call never started");
  sp_cancel(t);
  atomic_store(&oc_cancel_sent, 1);
  spt_join_soon(t, "a task in sp_offload, cancelled,");
  CHECK_RC(atomic_load(&oc_rc), 0);
  CHECK_RC(atomic_load(&oc_after), SP_ECANCELED);
  return NULL;
}

/* A cancel during sp_offload does not interrupt it; it is delivered at the next park. */
Test(foreign, offload_cancel_delivered_later, .timeout = 30) { spt_run(2, main_offload_cancel, NULL); }

static atomic_int off_conc, off_max;
static void *blocking_50ms(void *arg) {
  int now = atomic_fetch_add(&off_conc, 1) + 1;
  int m = atomic_load(&off_max);
  while (now > m && !atomic_compare_exchange_weak(&off_max, &m, now)) {
  }
  usleep(50 * 1000);
  atomic_fetch_sub(&off_conc, 1);
  return arg;
}
static void *offload_50ms_task(void *arg) {
  void *res = NULL;
  CHECK_RC(sp_offload(blocking_50ms, arg, &res), 0);
  CHECK(res == arg);
  return NULL;
}
static void *main_offload_many(void *arg) {
  int n = (int)PINT(arg);
  sp_task **ts = calloc((size_t)n, sizeof *ts);
  uint64_t t0 = sp_now_ns();
  for (int i = 0; i < n; i++) ts[i] = SPAWN(offload_50ms_task, i + 1);
  CHECK_RC(spt_gather_soon(ts, (size_t)n, NULL, "tasks each offloading a 50 ms call"), 0);
  free(ts);
  return IPTR(sp_now_ns() - t0);
}

/* 50 concurrent offloads of usleep(50 ms) run in parallel: many at once, and in less than 50 x 50 ms. */
Test(foreign, fifty_offloads_parallel, .timeout = 60) {
  uint64_t el = (uint64_t)PINT(spt_run(2, main_offload_many, IPTR(50)));
  cr_assert(el >= MS(50));
  cr_assert(atomic_load(&off_max) > 2, "at most %d offloads ran at once", atomic_load(&off_max));
  if (!sanitized()) cr_assert(el < MS(2500), "50 offloads of 50 ms took %.1f ms: one after the other?", el / 1e6);
}

/* offload_threads bounds the pool: with 2 threads, 10 offloads of 50 ms take >= 250 ms. */
Test(foreign, offload_threads_limit, .timeout = 60) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = 2;
  o.offload_threads = 2;
  void *res = NULL;
  ASSERT_RC(sp_run_opts(&o, main_offload_many, IPTR(10), &res), 0);
  ASSERT_NO_TASK_FAILURES();
  uint64_t el = (uint64_t)PINT(res);
  cr_assert(atomic_load(&off_max) <= 2, "%d offloads ran at once with offload_threads = 2", atomic_load(&off_max));
  cr_assert(el >= MS(250) - MS(5), "10 offloads of 50 ms on 2 threads took only %.1f ms", el / 1e6);
}
