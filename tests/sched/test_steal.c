/* test_steal.c - work stealing, fairness, and serving a busy worker's loop. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt.h"

#include <fcntl.h>
#include <unistd.h>

static sp_worker_stats stats_sum(sp_runtime *rt) {
  sp_worker_stats sum;
  memset(&sum, 0, sizeof sum);
  for (unsigned w = 0; w < sp_runtime_workers(rt); w++) {
    sp_worker_stats s;
    memset(&s, 0, sizeof s);
    CHECK_RC(sp_runtime_stats(rt, w, &s), 0);
    sum.tasks_run += s.tasks_run;
    sum.spawns += s.spawns;
    sum.steals += s.steals;
    sum.steal_ops += s.steal_ops;
    sum.global_polls += s.global_polls;
    sum.timer_fires += s.timer_fires;
    sum.io_events += s.io_events;
    sum.takeovers += s.takeovers;
  }
  return sum;
}

/* --------------------------------------------------------- stealing */

enum { KIDS = 64 };
static int kid_worker[KIDS];
static atomic_int kids_done;

static void *cpu_kid(void *arg) {
  intptr_t i = PINT(arg);
  spin_ns(MS(2));
  kid_worker[i] = sp_worker_id();
  atomic_fetch_add(&kids_done, 1);
  return NULL;
}

static void *main_steal(void *arg) {
  (void)arg;
  sp_runtime *rt = sp_runtime_current();
  int me = sp_worker_id();
  sp_task *ts[KIDS];
  for (int i = 0; i < KIDS; i++) ts[i] = SPAWN(cpu_kid, i);
  /* hog this worker without yielding: the children can only run if stolen */
  uint64_t end = mono_ns() + spt_patience_ns();
  while (atomic_load(&kids_done) < KIDS && mono_ns() < end) spin_ns(US(100));
  CHECK_EQ(sp_worker_id(), me); /* we never parked, so never moved */
  int done_while_hogging = atomic_load(&kids_done);
  CHECKF(done_while_hogging == KIDS,
         "while worker %d was hogged for %.0f s, only %d of its %d queued children ran: the other worker was not "
         "woken, or did not steal them",
         me, spt_patience_s(), done_while_hogging, KIDS);
  CHECK_RC(spt_gather_soon(ts, KIDS, NULL, "the children"), 0);
  int elsewhere = 0;
  for (int i = 0; i < KIDS; i++) elsewhere += kid_worker[i] != me;
  CHECKF(elsewhere == KIDS, "%d of %d children ran on the hogged worker %d", KIDS - elsewhere, KIDS, me);
  sp_worker_stats s = stats_sum(rt);
  CHECKF(s.steals > 0, "stats: steals = %llu", (unsigned long long)s.steals);
  CHECKF(s.steal_ops > 0 && s.steal_ops <= s.steals, "stats: steal_ops = %llu, steals = %llu",
         (unsigned long long)s.steal_ops, (unsigned long long)s.steals);
  CHECKF(s.spawns >= KIDS, "stats: spawns = %llu", (unsigned long long)s.spawns);
  CHECKF(s.tasks_run >= KIDS + 1, "stats: tasks_run = %llu", (unsigned long long)s.tasks_run);
  sp_worker_stats bad;
  CHECK_RC(sp_runtime_stats(rt, sp_runtime_workers(rt), &bad), SP_EINVAL);
  return NULL;
}

/* A task spawns 64 CPU-bound children and hogs its worker: the other worker steals them. */
Test(steal, stealing_happens, .timeout = 60) { spt_run(2, main_steal, NULL); }

/* -------------------------------------------------------- fairness */

static atomic_int fair_flag;
static atomic_int yielder_timed_out;
static atomic_int yielder_started;

/* Yields until fair_flag is set (or the patience passes, which counts as starvation). */
static void *yielder(void *arg) {
  (void)arg;
  atomic_store(&yielder_started, 1);
  uint64_t end = mono_ns() + spt_patience_ns();
  while (!atomic_load(&fair_flag)) {
    CHECK_RC(sp_yield(), 0);
    if (mono_ns() > end) {
      atomic_store(&yielder_timed_out, 1);
      break;
    }
  }
  return NULL;
}
static void *set_flag(void *arg) {
  (void)arg;
  atomic_store(&fair_flag, 1);
  return NULL;
}
static void *yielder_spawning(void *arg) {
  CHECK_RC(sp_spawn(NULL, set_flag, NULL), 0);
  return yielder(arg);
}

static void *main_fair_spawned(void *arg) {
  (void)arg;
  sp_task *y = SPAWN(yielder, NULL);
  sp_task *z = SPAWN(set_flag, NULL);
  spt_join_soon(y, "the yielder");
  spt_join_soon(z, "the task setting the flag");
  CHECKF(!atomic_load(&yielder_timed_out), "a spawned task starved behind a yielding task");
  /* the other task is spawned by the yielder itself */
  atomic_store(&fair_flag, 0);
  y = SPAWN(yielder_spawning, NULL);
  spt_join_soon(y, "the yielder");
  CHECKF(!atomic_load(&yielder_timed_out), "a task spawned by a yielding task starved");
  return NULL;
}

/* One worker: a task yielding in a loop does not starve another runnable task. */
Test(steal, fairness_spawned_task, .timeout = 60) { spt_run(1, main_fair_spawned, NULL); }

static atomic_ullong timer_late_ns;
static void *timed_sleeper(void *arg) {
  (void)arg;
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_sleep(MS(10)), 0);
  atomic_store(&timer_late_ns, sp_now_ns() - t0 - MS(10));
  atomic_store(&fair_flag, 1);
  return NULL;
}
static void *main_fair_timer(void *arg) {
  (void)arg;
  sp_task *s = SPAWN(timed_sleeper, NULL);
  sp_task *y = SPAWN(yielder, NULL);
  spt_join_soon(y, "the yielder");
  spt_join_soon(s, "the sleeper");
  CHECKF(!atomic_load(&yielder_timed_out), "a sleeping task never woke while another task yielded");
  CHECKF(atomic_load(&timer_late_ns) < MS(500), "timer fired %.1f ms late under a yield loop",
         atomic_load(&timer_late_ns) / 1e6);
  return NULL;
}

/* One worker: timers still fire (within 500 ms) while a task yields in a loop. */
Test(steal, fairness_timer, .timeout = 60) { spt_run(1, main_fair_timer, NULL); }

static int fio_pipe[2];
static atomic_ullong fio_written_at, fio_woke_at;
static atomic_int fio_waiting;
static void *fio_reader(void *arg) {
  (void)arg;
  atomic_store(&fio_waiting, 1);
  int rc = sp_wait_fd(fio_pipe[0], SP_READABLE, spt_patience_ns());
  atomic_store(&fio_woke_at, mono_ns());
  CHECKF(rc > 0 && (rc & SP_READABLE), "sp_wait_fd: %d (%s)", rc, sp_strerror(rc));
  atomic_store(&fair_flag, 1);
  return NULL;
}
static void *fio_writer_thread(void *arg) {
  (void)arg;
  while (!atomic_load(&fio_waiting)) usleep(1000);
  usleep(10000);
  atomic_store(&fio_written_at, mono_ns());
  CHECK_EQ(write(fio_pipe[1], "x", 1), 1);
  return NULL;
}
static void *main_fair_io(void *arg) {
  (void)arg;
  CHECK_EQ(pipe2(fio_pipe, O_NONBLOCK | O_CLOEXEC), 0);
  pthread_t th;
  sp_task *r = SPAWN(fio_reader, NULL);
  sp_task *y = SPAWN(yielder, NULL);
  CHECK_EQ(pthread_create(&th, NULL, fio_writer_thread, NULL), 0);
  spt_join_soon(y, "the yielder");
  spt_join_soon(r, "the fd reader");
  CHECK_EQ(spt_pthread_join_within(th, NULL, spt_patience_ns()), 0);
  CHECKF(!atomic_load(&yielder_timed_out), "fd readiness never delivered while another task yielded");
  CHECKF(atomic_load(&fio_woke_at) - atomic_load(&fio_written_at) < MS(500), "fd wake %.1f ms after the write",
         (atomic_load(&fio_woke_at) - atomic_load(&fio_written_at)) / 1e6);
  close(fio_pipe[0]);
  close(fio_pipe[1]);
  return NULL;
}

/* One worker: fd readiness is still delivered while a task yields in a loop. */
Test(steal, fairness_io, .timeout = 60) { spt_run(1, main_fair_io, NULL); }

static atomic_ullong gq_ran_at;
static void *set_flag_timed(void *arg) {
  (void)arg;
  atomic_store(&gq_ran_at, mono_ns());
  atomic_store(&fair_flag, 1);
  return NULL;
}

/* One worker: a task spawned from a foreign thread (global queue) runs despite a yield loop. */
Test(steal, fairness_global_queue, .timeout = 60) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = 1;
  sp_runtime *rt = NULL;
  ASSERT_RC(sp_runtime_new(&o, &rt), 0);
  sp_task *y = NULL, *z = NULL;
  ASSERT_RC(sp_runtime_spawn(rt, &y, NULL, yielder, NULL), 0);
  ASSERT_SOON(atomic_load(&yielder_started), "the yielder spawned from this thread never started");
  usleep(10000);
  uint64_t t0 = mono_ns();
  ASSERT_RC(sp_runtime_spawn(rt, &z, NULL, set_flag_timed, NULL), 0);
  ASSERT_SOON(atomic_load(&fair_flag), "a task from the global queue starved behind a yield loop");
  cr_assert_eq(spt_join_from_thread_within(z, NULL, spt_patience_ns()), 0, "joining the global-queue task");
  cr_assert_eq(spt_join_from_thread_within(y, NULL, spt_patience_ns()), 0, "joining the yielder");
  cr_assert(!atomic_load(&yielder_timed_out), "a task from the global queue starved behind a yield loop");
  double lat = (double)(atomic_load(&gq_ran_at) - t0) / 1e6;
  cr_assert(lat < 500, "global-queue task ran %.1f ms after sp_runtime_spawn", lat);
  ASSERT_RC(sp_runtime_free(rt), 0);
  ASSERT_NO_TASK_FAILURES();
}

/* ------------------------------------ a busy worker's loop is served */

typedef struct busy_setup {
  int w;                     /* worker A ran on */
  sp_task *b;                /* B's handle */
  atomic_int b_stolen;       /* B did not run on w: setup failed */
  atomic_ullong b_start, b_end;
  uint64_t a_woke;           /* when A's wait ended */
  int a_rc;
  int a_wake_worker;
  int b_done_at_wake;
  int use_fd;
  int pipe[2];
  atomic_int a_waiting;
  atomic_ullong written_at;
} busy_setup;

static busy_setup bs;
static int busy_attempts; /* for the log: how many tries the setup took */

/* B: busy-loops 500 ms without yielding, but only on A's worker. */
static void *hog_b(void *arg) {
  busy_setup *s = arg;
  if (sp_worker_id() != s->w) {
    atomic_store(&s->b_stolen, 1);
    return NULL;
  }
  atomic_store(&s->b_start, mono_ns());
  spin_ns(MS(500));
  atomic_store(&s->b_end, mono_ns());
  return NULL;
}

/* A: registers a timer (or an fd) on its worker, with B queued right behind it. */
static void *waiter_a(void *arg) {
  busy_setup *s = arg;
  s->w = sp_worker_id();
  s->b = SPAWN(hog_b, s); /* queued on this worker */
  if (s->use_fd) {
    atomic_store(&s->a_waiting, 1);
    s->a_rc = sp_wait_fd(s->pipe[0], SP_READABLE, SEC(5));
  } else {
    s->a_rc = sp_sleep(MS(10));
  }
  s->a_woke = mono_ns();
  s->a_wake_worker = sp_worker_id();
  s->b_done_at_wake = atomic_load(&s->b_end) != 0;
  return NULL;
}

static void *delayed_writer(void *arg) {
  busy_setup *s = arg;
  while (!atomic_load(&s->a_waiting)) usleep(200);
  usleep(10000);
  atomic_store(&s->written_at, mono_ns());
  CHECK_EQ(write(s->pipe[1], "x", 1), 1);
  return NULL;
}

static void *main_busy_loop(void *arg) {
  int use_fd = (int)PINT(arg);
  sp_runtime *rt = sp_runtime_current();
  int arranged = 0;
  for (int attempt = 0; attempt < 25 && !arranged; attempt++) {
    memset(&bs, 0, sizeof bs);
    bs.use_fd = use_fd;
    pthread_t th;
    if (use_fd) {
      CHECK_EQ(pipe2(bs.pipe, O_NONBLOCK | O_CLOEXEC), 0);
      CHECK_EQ(pthread_create(&th, NULL, delayed_writer, &bs), 0);
    }
    uint64_t a_start = mono_ns();
    sp_task *a = SPAWN(waiter_a, &bs);
    spt_join_soon(a, "A");
    spt_join_within(bs.b, SEC(1) + spt_patience_ns(), "B");
    if (use_fd) {
      CHECK_EQ(spt_pthread_join_within(th, NULL, spt_patience_ns()), 0);
      close(bs.pipe[0]);
      close(bs.pipe[1]);
    }
    uint64_t b_start = atomic_load(&bs.b_start);
    /* valid only if B really ran on A's worker and was hogging it while A waited */
    if (atomic_load(&bs.b_stolen) || b_start == 0 || b_start > bs.a_woke) continue;
    arranged = 1;
    busy_attempts = attempt + 1;
    uint64_t ref = use_fd ? atomic_load(&bs.written_at) : a_start + MS(10);
    double lat = (double)(bs.a_woke - ref) / 1e6;
    if (use_fd) CHECKF(bs.a_rc > 0 && (bs.a_rc & SP_READABLE), "sp_wait_fd: %d (%s)", bs.a_rc, sp_strerror(bs.a_rc));
    else CHECK_RC(bs.a_rc, 0);
    CHECKF(!bs.b_done_at_wake, "A (%s on worker %d) woke only after the 500 ms hog on that worker ended (%.1f ms late)",
           use_fd ? "fd wait" : "10 ms sleep", bs.w, lat);
  }
  CHECKF(arranged, "could not get B to run on A's worker in 25 attempts (B always stolen or late)");
  sp_worker_stats s = stats_sum(rt);
  CHECKF(s.takeovers > 0, "stats: takeovers = %llu after a busy worker's loop was served",
         (unsigned long long)s.takeovers);
  return NULL;
}

/* Two workers: a timer on a worker hogged by a 500 ms task still fires before the hog ends. */
Test(steal, busy_worker_timer_served, .timeout = 60) {
  spt_run(2, main_busy_loop, IPTR(0));
  cr_log_info("arranged in %d attempt(s); A waited on worker %d, woke on worker %d", busy_attempts, bs.w,
              bs.a_wake_worker);
}

/* Two workers: fd readiness on a worker hogged by a 500 ms task is delivered before the hog ends. */
Test(steal, busy_worker_fd_served, .timeout = 60) {
  spt_run(2, main_busy_loop, IPTR(1));
  cr_log_info("arranged in %d attempt(s); A waited on worker %d, woke on worker %d", busy_attempts, bs.w,
              bs.a_wake_worker);
}
