/* test_sync.c - mutex, semaphore, wait group and event, on 4 workers. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt_internal.h"

/* ------------------------------------------------------------ mutex */

static sp_mutex mu_static = SP_MUTEX_INIT;
static sp_mutex mu_dynamic;
static long counter_static, counter_dynamic; /* deliberately not atomic */
static int mu_iters;

static void *mutex_worker(void *arg) {
  int dyn = (int)PINT(arg);
  sp_mutex *m = dyn ? &mu_dynamic : &mu_static;
  long *ctr = dyn ? &counter_dynamic : &counter_static;
  for (int i = 0; i < mu_iters; i++) {
    CHECK_RC(sp_mutex_lock(m), 0);
    long v = *ctr;
    if (i % 3 == 0) CHECK_RC(sp_yield(), 0); /* others run while we hold the lock */
    if (i % 97 == 0) CHECK_RC(sp_sleep(US(50)), 0);
    *ctr = v + 1;
    sp_mutex_unlock(m);
  }
  return NULL;
}

static void *main_mutex(void *arg) {
  (void)arg;
  sp_mutex_init(&mu_dynamic);
  enum { T = 16 };
  sp_task *ts[2 * T];
  for (int i = 0; i < 2 * T; i++) ts[i] = SPAWN(mutex_worker, i % 2);
  spt_step("32 tasks incrementing counters under two mutexes");
  CHECK_RC(sp_gather(ts, 2 * T, NULL), 0);
  CHECK_EQ(counter_static, (long)T * mu_iters);
  CHECK_EQ(counter_dynamic, (long)T * mu_iters);
  return NULL;
}

/* 16 tasks x N increments of a plain counter, yielding inside the lock, lose nothing. */
Test(sync, mutex_protects_counter, .timeout = 120) {
  mu_iters = 200 * scale();
  spt_run(4, main_mutex, NULL);
}

static sp_mutex tl_mu = SP_MUTEX_INIT;
static void *try_from_other(void *arg) {
  (void)arg;
  int rc = sp_mutex_trylock(&tl_mu);
  if (rc == 0) sp_mutex_unlock(&tl_mu);
  return IPTR(rc);
}
static void *main_trylock(void *arg) {
  (void)arg;
  CHECK_RC(sp_mutex_trylock(&tl_mu), 0);
  CHECK_RC(sp_mutex_trylock(&tl_mu), SP_EAGAIN);
  sp_task *t = SPAWN(try_from_other, NULL);
  CHECK_RC((int)PINT(spt_join_soon(t, "a task calling sp_mutex_trylock")), SP_EAGAIN);
  sp_mutex_unlock(&tl_mu);
  t = SPAWN(try_from_other, NULL);
  CHECK_RC((int)PINT(spt_join_soon(t, "a task calling sp_mutex_trylock")), 0); /* free: the other task took and released it */
  CHECK_RC(sp_mutex_trylock(&tl_mu), 0);
  sp_mutex_unlock(&tl_mu);
  return NULL;
}

/* sp_mutex_trylock succeeds on a free mutex and returns SP_EAGAIN on a held one. */
Test(sync, mutex_trylock, .timeout = 30) { spt_run(4, main_trylock, NULL); }

static sp_mutex fifo_mu = SP_MUTEX_INIT;
static int fifo_order[10];
static atomic_int fifo_n;
static void *fifo_locker(void *arg) {
  CHECK_RC(sp_mutex_lock(&fifo_mu), 0);
  fifo_order[atomic_fetch_add(&fifo_n, 1)] = (int)PINT(arg);
  sp_mutex_unlock(&fifo_mu);
  return NULL;
}
static void *main_mutex_fifo(void *arg) {
  (void)arg;
  enum { N = 10 };
  CHECK_RC(sp_mutex_lock(&fifo_mu), 0);
  sp_task *ts[N];
  for (int i = 0; i < N; i++) {
    ts[i] = SPAWN(fifo_locker, i);
    CHECK_PARKED(&ts[i], 1, "a task in sp_mutex_lock on a held mutex"); /* queued behind the ones before */
  }
  sp_mutex_unlock(&fifo_mu);
  /* each unlock hands the lock to the next waiter, which unlocks in turn */
  CHECK_SOON(atomic_load(&fifo_n) == N, "mutex unlock did not hand the lock down the %d parked waiters: %d got it",
             N, atomic_load(&fifo_n));
  spt_gather_soon(ts, N, NULL, "the lockers");
  for (int i = 0; i < atomic_load(&fifo_n); i++)
    CHECKF(fifo_order[i] == i, "waiter %d got the lock in position %d", fifo_order[i], i);
  return NULL;
}

/* Mutex waiters get the lock in FIFO order. */
Test(sync, mutex_fifo_handoff, .timeout = 30) { spt_run(4, main_mutex_fifo, NULL); }

/* -------------------------------------------------------- semaphore */

enum { SEM_LIMIT = 3 };
static sp_sem lim_sem = SP_SEM_INIT(SEM_LIMIT);
static atomic_int inflight, max_inflight;
static int sem_iters;

static void *sem_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < sem_iters; i++) {
    CHECK_RC(sp_sem_acquire(&lim_sem), 0);
    int now = atomic_fetch_add(&inflight, 1) + 1;
    int m = atomic_load(&max_inflight);
    while (now > m && !atomic_compare_exchange_weak(&max_inflight, &m, now)) {
    }
    for (int k = 0; k < 3; k++) CHECK_RC(sp_yield(), 0);
    if (i % 5 == 0) CHECK_RC(sp_sleep(US(200)), 0);
    atomic_fetch_sub(&inflight, 1);
    sp_sem_release(&lim_sem);
  }
  return NULL;
}

static void *main_sem(void *arg) {
  (void)arg;
  enum { T = 32 };
  sp_task *ts[T];
  for (int i = 0; i < T; i++) ts[i] = SPAWN(sem_worker, NULL);
  spt_step("32 tasks taking turns through a semaphore of 3");
  CHECK_RC(sp_gather(ts, T, NULL), 0);
  CHECK_EQ(atomic_load(&max_inflight), SEM_LIMIT);
  CHECK_EQ(sp_sem_value(&lim_sem), SEM_LIMIT);

  sp_sem s;
  sp_sem_init(&s, 1);
  CHECK_EQ(sp_sem_value(&s), 1);
  CHECK_RC(sp_sem_try_acquire(&s), 0);
  CHECK_RC(sp_sem_try_acquire(&s), SP_EAGAIN);
  CHECK_EQ(sp_sem_value(&s), 0);
  sp_sem_release(&s);
  sp_sem_release(&s);
  CHECK_EQ(sp_sem_value(&s), 2);
  return NULL;
}

/* A semaphore of 3 admits exactly 3 concurrent holders at most (and that many are reached). */
Test(sync, semaphore_limits_concurrency, .timeout = 60) {
  sem_iters = 20 * scale();
  spt_run(4, main_sem, NULL);
}

static sp_sem hand_sem = SP_SEM_INIT(0);
static atomic_int hand_got;
static void *sem_taker(void *arg) {
  (void)arg;
  CHECK_RC(sp_sem_acquire(&hand_sem), 0);
  atomic_fetch_add(&hand_got, 1);
  return NULL;
}
static void *main_sem_handoff(void *arg) {
  (void)arg;
  enum { N = 8 };
  sp_task *ts[N];
  for (int i = 0; i < N; i++) ts[i] = SPAWN(sem_taker, NULL);
  CHECK_PARKED(ts, N, "tasks in sp_sem_acquire on an empty semaphore");
  for (int i = 1; i <= N; i++) {
    sp_sem_release(&hand_sem);
    CHECK_SOON(atomic_load(&hand_got) == i,
               "sp_sem_release number %d did not wake one of the %d tasks parked in sp_sem_acquire: %d woke", i,
               N - i + 1, atomic_load(&hand_got) - (i - 1));
  }
  spt_gather_soon(ts, N, NULL, "the semaphore takers");
  CHECK_EQ(sp_sem_value(&hand_sem), 0);
  return NULL;
}

/* Each release wakes exactly one task parked in sp_sem_acquire: the unit goes to it, not to the count. */
Test(sync, semaphore_release_wakes_waiter, .timeout = 60) {
  spt_run(1, main_sem_handoff, NULL);
  atomic_store(&hand_got, 0);
  spt_run(4, main_sem_handoff, NULL);
}

/* A task and a plain thread pass a turn back and forth through two
 * semaphores.  The thread runs truly in parallel, so its releases often
 * land while the task is still switching out of its park (NOTIFIED); the
 * task must then be queued once the switch ends.  Main watches the
 * progress: a lost wakeup stalls it.  (Two tasks would not show this: the
 * one woken goes to the waker's lifo slot and runs on the same worker.) */
static sp_sem pp_sem[2];
static atomic_int pp_turns;
static int pp_n;
static void *pp_play(int me) {
  for (int i = 0; i < pp_n; i++) {
    if (sp_sem_acquire(&pp_sem[me]) != 0) break;
    atomic_fetch_add(&pp_turns, 1);
    sp_sem_release(&pp_sem[!me]);
  }
  return NULL;
}
static void *pp_task(void *arg) { return pp_play((int)PINT(arg)); }
static void *pp_thread(void *arg) { return pp_play((int)PINT(arg)); }
static void *main_sem_ping_pong(void *arg) {
  (void)arg;
  pp_n = 2000 * scale();
  sp_sem_init(&pp_sem[0], 1);
  sp_sem_init(&pp_sem[1], 0);
  atomic_store(&pp_turns, 0);
  sp_task *t = SPAWN(pp_task, 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, pp_thread, IPTR(1)), 0);
  for (int last = 0; last < 2 * pp_n; last = atomic_load(&pp_turns))
    if (!CHECK_SOON(atomic_load(&pp_turns) != last,
                    "a task and a plain thread passing a turn through semaphores stalled after %d of %d turns: a "
                    "wakeup was lost",
                    last, 2 * pp_n))
      break;
  spt_join_soon(t, "the task passing turns"); /* a lost task is run by its joiner: the thread can finish */
  CHECKF(spt_pthread_join_within(th, NULL, spt_patience_ns()) == 0, "the plain thread passing turns did not end");
  return NULL;
}

/* A task and a plain thread pass a turn back and forth 20,000 times through semaphores; no wakeup is lost. */
Test(sync, semaphore_ping_pong_with_thread, .timeout = 60) {
  spt_run(1, main_sem_ping_pong, NULL);
  spt_run(2, main_sem_ping_pong, NULL);
}

/* ------------------------------------------------------- wait group */

static sp_waitgroup wg = SP_WAITGROUP_INIT;
static atomic_int wg_finished;
static void *wg_worker(void *arg) {
  unsigned seed = (unsigned)PINT(arg);
  CHECK_RC(sp_sleep(US(rand_r(&seed) % 5000)), 0);
  atomic_fetch_add(&wg_finished, 1);
  sp_wg_done(&wg);
  return NULL;
}
static void *main_wg(void *arg) {
  (void)arg;
  enum { N = 1000 };
  CHECK_RC(sp_wg_wait(&wg), 0); /* zero count: returns at once */
  sp_wg_add(&wg, N);
  for (int i = 0; i < N; i++) CHECK_RC(sp_spawn(NULL, wg_worker, IPTR(i + 1)), 0);
  sp_deadline d;
  sp_deadline_push(&d, MS(5) + spt_patience_ns());
  int rc = sp_wg_wait(&wg);
  sp_deadline_pop(&d);
  CHECKF(rc == 0, "sp_wg_wait was not woken within %.0f s after the %d tasks' last sleep: %d (%s), %d called done",
         spt_patience_s(), N, rc, sp_strerror(rc), atomic_load(&wg_finished));
  if (rc) CHECK_SOON(atomic_load(&wg_finished) == N, "the %d tasks did not all finish", N); /* before wg goes */
  CHECK_EQ(atomic_load(&wg_finished), N);
  CHECK_RC(sp_wg_wait(&wg), 0);
  return NULL;
}

/* sp_wg_wait returns only after all 1000 tasks called sp_wg_done. */
Test(sync, waitgroup_1000, .timeout = 60) { spt_run(4, main_wg, NULL); }

/* ------------------------------------------------------------ event */

static sp_event ev = SP_EVENT_INIT;
static atomic_int ev_woken;
static void *ev_waiter(void *arg) {
  (void)arg;
  CHECK_RC(sp_event_wait(&ev), 0);
  atomic_fetch_add(&ev_woken, 1);
  return NULL;
}
static void *main_event(void *arg) {
  (void)arg;
  enum { N = 100 };
  CHECK_EQ(sp_event_is_set(&ev), 0);
  sp_task *ts[N];
  for (int i = 0; i < N; i++) ts[i] = SPAWN(ev_waiter, NULL);
  CHECK_PARKED(ts, N, "tasks in sp_event_wait on an unset event");
  CHECK_EQ(atomic_load(&ev_woken), 0);
  sp_event_set(&ev);
  CHECK(sp_event_is_set(&ev) != 0);
  /* counted before joining, which would run a woken task that got lost */
  CHECK_SOON(atomic_load(&ev_woken) == N, "sp_event_set did not wake the %d tasks parked on the event: %d woke", N,
             atomic_load(&ev_woken));
  spt_gather_soon(ts, N, NULL, "the event waiters");
  /* while set, waits return at once */
  CHECK_RC(sp_event_wait(&ev), 0);
  sp_event_clear(&ev);
  CHECK_EQ(sp_event_is_set(&ev), 0);
  /* after clear, a wait blocks again */
  sp_deadline d;
  sp_deadline_push(&d, MS(10));
  CHECK_RC(sp_event_wait(&ev), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  /* and a second set/wait cycle works */
  sp_task *t = SPAWN(ev_waiter, NULL);
  CHECK_PARKED(&t, 1, "a task in sp_event_wait after a clear");
  sp_event_set(&ev);
  spt_join_soon(t, "the event waiter, once the event was set again,");
  CHECK_EQ(atomic_load(&ev_woken), N + 1);
  return NULL;
}

/* sp_event_set wakes all 100 waiters; clear resets it; is_set reports the state. */
Test(sync, event_wakes_all, .timeout = 30) { spt_run(4, main_event, NULL); }

/* ------------------------------------------------- foreign threads */

static sp_mutex fm = SP_MUTEX_INIT;
static sp_event fev = SP_EVENT_INIT;
static sp_sem fsem = SP_SEM_INIT(0);
static sp_waitgroup fwg = SP_WAITGROUP_INIT;
static atomic_int f_in_lock;
static atomic_int f_step;

static void *foreign_sync_thread(void *arg) {
  (void)arg;
  CHECK_RC(sp_event_wait(&fev), 0); /* blocks this plain thread until a task sets it */
  atomic_store(&f_step, 1);
  CHECK_RC(sp_mutex_lock(&fm), 0); /* the task holds it for ~20 ms */
  atomic_store(&f_in_lock, 1);
  sp_mutex_unlock(&fm);
  CHECK_RC(sp_sem_acquire(&fsem), 0); /* a task releases one unit */
  atomic_store(&f_step, 2);
  CHECK_RC(sp_wg_wait(&fwg), 0);
  atomic_store(&f_step, 3);
  return NULL;
}

static void *main_foreign_sync(void *arg) {
  (void)arg;
  pthread_t th;
  sp_wg_add(&fwg, 1);
  CHECK_EQ(pthread_create(&th, NULL, foreign_sync_thread, NULL), 0);
  CHECK_RC(sp_sleep(MS(10)), 0);
  CHECK_EQ(atomic_load(&f_step), 0); /* the event is not set: it cannot have passed */
  CHECK_RC(sp_mutex_lock(&fm), 0);
  sp_event_set(&fev);
  CHECK_SOON(atomic_load(&f_step) == 1, "sp_event_set did not wake a plain thread blocked in sp_event_wait");
  CHECK_RC(sp_sleep(MS(10)), 0);
  CHECK_EQ(atomic_load(&f_in_lock), 0); /* this task holds the mutex */
  sp_mutex_unlock(&fm);
  CHECK_SOON(atomic_load(&f_in_lock) == 1, "sp_mutex_unlock did not wake a plain thread blocked in sp_mutex_lock");
  CHECK_RC(sp_sleep(MS(10)), 0);
  CHECK_EQ(atomic_load(&f_step), 1); /* no unit yet: still in sp_sem_acquire */
  sp_sem_release(&fsem);
  CHECK_SOON(atomic_load(&f_step) >= 2, "sp_sem_release did not wake a plain thread blocked in sp_sem_acquire");
  CHECK_RC(sp_sleep(MS(10)), 0);
  CHECK_EQ(atomic_load(&f_step), 2); /* the count is 1: still in sp_wg_wait */
  sp_wg_done(&fwg);
  CHECK_SOON(atomic_load(&f_step) == 3, "sp_wg_done did not wake a plain thread blocked in sp_wg_wait");
  if (spt_pthread_join_within(th, NULL, spt_patience_ns()) != 0)
    CHECKF(0, "the plain thread did not end within %.0f s (left blocked at step %d)", spt_patience_s(),
           atomic_load(&f_step));
  return NULL;
}

/* Event, mutex, semaphore and wait group block and wake a plain (foreign) thread correctly. */
Test(sync, foreign_thread_blocks, .timeout = 60) { spt_run(4, main_foreign_sync, NULL); }
