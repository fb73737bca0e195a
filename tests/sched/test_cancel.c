/* test_cancel.c - cancellation, deadline scopes and timeouts. */
#define _GNU_SOURCE
#include "spt.h"

/* generous "promptly" bounds: a 2-core VM is noisy, sanitizers are slow */
static uint64_t prompt_ns(void) { return sanitized() ? SEC(5) : MS(500); }
static uint64_t short_ns(void) { return sanitized() ? SEC(2) : MS(100); }

/* ------------------------------------------------ cancelling a sleeper */

static atomic_int victim_rc = 1;
static atomic_ullong victim_el;

static void *sleep_10s_victim(void *arg) {
  (void)arg;
  uint64_t t0 = sp_now_ns();
  atomic_store(&victim_rc, sp_sleep(SEC(10)));
  atomic_store(&victim_el, sp_now_ns() - t0);
  return IPTR(5);
}

static void *main_cancel_sleep(void *arg) {
  (void)arg;
  atomic_store(&victim_rc, 1);
  sp_task *t = SPAWN(sleep_10s_victim, NULL);
  CHECK_RC(sp_sleep(MS(20)), 0);
  uint64_t t1 = sp_now_ns();
  sp_cancel(t);
  void *res = NULL;
  CHECK_RC(sp_join(t, &res), 0);
  uint64_t lat = sp_now_ns() - t1;
  CHECK_EQ(PINT(res), 5);
  CHECK_RC(atomic_load(&victim_rc), SP_ECANCELED);
  CHECKF(lat < prompt_ns(), "cancel of a 10 s sleep took %.1f ms to end the task", lat / 1e6);
  CHECKF(atomic_load(&victim_el) < SEC(5), "victim slept %.1f ms", atomic_load(&victim_el) / 1e6);
  return NULL;
}

/* sp_cancel on a task parked in sp_sleep(10 s) makes the sleep return SP_ECANCELED promptly. */
Test(cancel, cancel_parked_sleep, .timeout = 30) {
  spt_run(1, main_cancel_sleep, NULL);
  spt_run(2, main_cancel_sleep, NULL);
}

/* --------------------------------------------- cancel before it starts */

static atomic_int body_ran;
static void *mark_ran(void *arg) {
  (void)arg;
  atomic_store(&body_ran, 1);
  return IPTR(1);
}

static void *main_cancel_before_start(void *arg) {
  (void)arg;
  /* one worker and no park between spawn and cancel: the task cannot start */
  sp_task *t = SPAWN(mark_ran, NULL);
  sp_cancel(t);
  void *res = IPTR(-1);
  CHECK_RC(sp_join(t, &res), SP_ENOTASK);
  CHECK_EQ(atomic_load(&body_ran), 0);
  /* the runtime still works afterwards */
  t = SPAWN(mark_ran, NULL);
  CHECK_EQ(PINT(spt_join(t)), 1);
  return NULL;
}

/* A task cancelled before it starts never runs; join returns SP_ENOTASK. */
Test(cancel, cancel_before_start, .timeout = 30) {
  spt_run(1, main_cancel_before_start, NULL);
  cr_assert_eq(atomic_load(&body_ran), 1);
}

/* --------------------------------------------------- delivered once */

static int once_rc[3];
static uint64_t once_el2;
static void *cancel_once_victim(void *arg) {
  (void)arg;
  once_rc[0] = sp_sleep(SEC(10));
  uint64_t t0 = sp_now_ns();
  once_rc[1] = sp_sleep(MS(20));
  once_el2 = sp_now_ns() - t0;
  once_rc[2] = sp_yield();
  return NULL;
}
static void *main_cancel_once(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(cancel_once_victim, NULL);
  CHECK_RC(sp_sleep(MS(20)), 0);
  sp_cancel(t);
  spt_join(t);
  CHECK_RC(once_rc[0], SP_ECANCELED);
  CHECK_RC(once_rc[1], 0);
  CHECKF(once_el2 >= MS(20), "second sleep(20 ms) lasted %.3f ms", once_el2 / 1e6);
  CHECK_RC(once_rc[2], 0);
  return NULL;
}

/* The cancel request is delivered once: the next sleep after handling it works normally. */
Test(cancel, delivered_once, .timeout = 30) { spt_run(2, main_cancel_once, NULL); }

/* ------------------------------------------------------ sp_yield */

static atomic_int yv_started;
static int yv_rc, yv_after, yv_iters;
static void *yield_victim(void *arg) {
  (void)arg;
  atomic_store(&yv_started, 1);
  int i, rc = 0;
  for (i = 0; i < 100000; i++)
    if ((rc = sp_yield()) != 0) break;
  yv_rc = rc;
  yv_iters = i;
  yv_after = sp_yield();
  return NULL;
}
static void *main_yield_cancel(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(yield_victim, NULL);
  for (int i = 0; i < 100000 && !atomic_load(&yv_started); i++) CHECK_RC(sp_yield(), 0);
  CHECK_EQ(atomic_load(&yv_started), 1);
  sp_cancel(t);
  spt_join(t);
  CHECKF(yv_rc == SP_ECANCELED, "victim's sp_yield loop ended with %d (%s) after %d yields", yv_rc,
         sp_strerror(yv_rc), yv_iters);
  CHECK_RC(yv_after, 0);
  return NULL;
}

/* A yielding task sees SP_ECANCELED from sp_yield after it is cancelled, once. */
Test(cancel, yield_returns_canceled, .timeout = 30) { spt_run(1, main_yield_cancel, NULL); }

static _Atomic(sp_task *) spinner_handle;
static atomic_int spinner_cancel_sent;
static int spinner_rc, spinner_after;
static void *foreign_canceller(void *arg) {
  (void)arg;
  sp_cancel(atomic_load(&spinner_handle));
  atomic_store(&spinner_cancel_sent, 1);
  return NULL;
}
static void *busy_spinner(void *arg) {
  (void)arg;
  while (atomic_load(&spinner_handle) == NULL) spin_ns(US(10));
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, foreign_canceller, NULL), 0);
  uint64_t end = mono_ns() + SEC(10);
  while (!atomic_load(&spinner_cancel_sent) && mono_ns() < end) spin_ns(US(10)); /* no parking */
  pthread_join(th, NULL);
  spinner_rc = sp_yield();
  spinner_after = sp_sleep(MS(1));
  return NULL;
}
static void *main_spinner(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(busy_spinner, NULL);
  atomic_store(&spinner_handle, t);
  spt_join(t);
  CHECK_RC(spinner_rc, SP_ECANCELED);
  CHECK_RC(spinner_after, 0);
  return NULL;
}

/* A cancel sent (from a foreign thread) while the task runs is delivered at its next sp_yield. */
Test(cancel, pending_cancel_delivered_at_yield, .timeout = 30) {
  spt_run(1, main_spinner, NULL);
  spt_run(2, main_spinner, NULL);
}

/* ------------------------------------------------------ deadline scopes */

static void *main_deadline(void *arg) {
  (void)arg;
  sp_deadline d;
  uint64_t t0 = sp_now_ns();
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_sleep(SEC(10)), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECKF(el >= MS(5), "deadline of 5 ms expired after %.3f ms", el / 1e6);
  CHECKF(el < short_ns(), "deadline of 5 ms expired after %.3f ms", el / 1e6);
  /* the popped scope no longer applies */
  CHECK_RC(sp_sleep(MS(10)), 0);
  /* a park shorter than the scope is unaffected, and pop reports "not passed" */
  sp_deadline_push(&d, SEC(1));
  CHECK_RC(sp_sleep(MS(1)), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  return NULL;
}

/* sp_deadline_push(5 ms) around sp_sleep(10 s) gives SP_ETIMEDOUT after ~5 ms; pop returns 1. */
Test(cancel, deadline_scope, .timeout = 30) { spt_run(1, main_deadline, NULL); }

static void *main_nested(void *arg) {
  (void)arg;
  sp_deadline outer, inner;
  /* outer 50 ms, inner 5 ms: the inner one wins */
  uint64_t t0 = sp_now_ns();
  sp_deadline_push(&outer, MS(50));
  sp_deadline_push(&inner, MS(5));
  CHECK_RC(sp_sleep(SEC(10)), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(5) && (sanitized() || el < MS(40)), "inner 5 ms scope fired after %.3f ms", el / 1e6);
  CHECK_EQ(sp_deadline_pop(&inner), 1);
  /* back under the outer scope only: fires at ~50 ms from its push */
  CHECK_RC(sp_sleep(SEC(10)), SP_ETIMEDOUT);
  el = sp_now_ns() - t0;
  CHECKF(el >= MS(50) && el < MS(50) + short_ns(), "outer 50 ms scope fired after %.3f ms", el / 1e6);
  CHECK_EQ(sp_deadline_pop(&outer), 1);

  /* outer 5 ms, inner 100 ms: the outer (earlier) one still applies */
  t0 = sp_now_ns();
  sp_deadline_push(&outer, MS(5));
  sp_deadline_push(&inner, MS(100));
  CHECK_RC(sp_sleep(SEC(10)), SP_ETIMEDOUT);
  el = sp_now_ns() - t0;
  CHECKF(el >= MS(5) && (sanitized() || el < MS(60)), "outer 5 ms scope under inner 100 ms fired after %.3f ms",
         el / 1e6);
  (void)sp_deadline_pop(&inner); /* own deadline not passed; value not asserted (see report) */
  CHECK_EQ(sp_deadline_pop(&outer), 1);
  /* no scope left */
  CHECK_RC(sp_sleep(MS(5)), 0);
  return NULL;
}

/* Nested scopes: the earliest deadline applies; pop restores the enclosing one. */
Test(cancel, nested_deadlines, .timeout = 30) { spt_run(1, main_nested, NULL); }

/* ------------------------------------------------------- sp_wait_for */

static int wf_inner_rc = 1;
static void *slow_fn(void *arg) {
  (void)arg;
  wf_inner_rc = sp_sleep(SEC(10));
  return IPTR(0x1234);
}
static void *fast_fn(void *arg) {
  (void)arg;
  CHECK_RC(sp_sleep(MS(1)), 0);
  return IPTR(77);
}
static void *main_wait_for(void *arg) {
  (void)arg;
  void *res = NULL;
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_wait_for(MS(5), slow_fn, NULL, &res), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECK_EQ(PINT(res), 0x1234); /* fn's result is handed back even on timeout */
  CHECK_RC(wf_inner_rc, SP_ETIMEDOUT);
  CHECKF(el >= MS(5) && el < short_ns(), "sp_wait_for(5 ms) took %.3f ms", el / 1e6);
  res = NULL;
  CHECK_RC(sp_wait_for(SEC(1), fast_fn, NULL, &res), 0);
  CHECK_EQ(PINT(res), 77);
  CHECK_RC(sp_wait_for(SEC(1), fast_fn, NULL, NULL), 0);
  CHECK_RC(sp_sleep(MS(5)), 0); /* scope closed again */
  return NULL;
}

/* sp_wait_for returns SP_ETIMEDOUT plus fn's result on timeout, 0 plus the result otherwise. */
Test(cancel, wait_for, .timeout = 30) { spt_run(1, main_wait_for, NULL); }

/* ----------------------------------------------------- sp_join_timeout */

static atomic_int jt_victim_rc = 1;
static atomic_int jt_victim_done;
static void *jt_victim(void *arg) {
  (void)arg;
  atomic_store(&jt_victim_rc, sp_sleep(SEC(10)));
  /* keep going a little after the cancel: join_timeout must wait for this */
  CHECK_RC(sp_sleep(MS(30)), 0);
  atomic_store(&jt_victim_done, 1);
  return IPTR(3);
}
static void *quick_42(void *arg) {
  (void)arg;
  CHECK_RC(sp_sleep(MS(1)), 0);
  return IPTR(42);
}
static void *main_join_timeout(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(jt_victim, NULL);
  uint64_t t0 = sp_now_ns();
  void *res = NULL;
  CHECK_RC(sp_join_timeout(t, MS(20), &res), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(20) && el < prompt_ns(), "join_timeout(20 ms) on a 10 s task took %.3f ms", el / 1e6);
  CHECK_RC(atomic_load(&jt_victim_rc), SP_ECANCELED);
  CHECK_EQ(atomic_load(&jt_victim_done), 1); /* it waited for the task to end */

  t = SPAWN(quick_42, NULL);
  res = NULL;
  t0 = sp_now_ns();
  CHECK_RC(sp_join_timeout(t, SEC(2), &res), 0);
  CHECK_EQ(PINT(res), 42);
  CHECKF(sp_now_ns() - t0 < prompt_ns(), "join_timeout on a 1 ms task took %.3f ms", (sp_now_ns() - t0) / 1e6);
  return NULL;
}

/* sp_join_timeout: cancels and awaits a slow task (SP_ETIMEDOUT), returns a fast one's result. */
Test(cancel, join_timeout, .timeout = 30) { spt_run(2, main_join_timeout, NULL); }

/* ------------------------------------ timeouts on every blocking primitive */

static void *send_int(void *arg) {
  sp_chan *c = arg;
  int v = 7;
  CHECK_RC(sp_chan_send(c, &v), 0);
  return NULL;
}

static void *main_chan_timeouts(void *arg) {
  (void)arg;
  sp_deadline d;
  int v = 0, x = 11;
  /* rendezvous recv times out; no ghost receiver stays behind */
  sp_chan *c0 = NULL;
  CHECK_RC(sp_chan_new(&c0, sizeof(int), 0), 0);
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_chan_recv(c0, &v), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECK_RC(sp_chan_try_send(c0, &x), SP_EAGAIN);
  sp_task *s = SPAWN(send_int, c0);
  v = 0;
  CHECK_RC(sp_chan_recv(c0, &v), 0);
  CHECK_EQ(v, 7);
  spt_join(s);
  /* rendezvous send times out; no ghost sender stays behind */
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_chan_send(c0, &x), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECK_RC(sp_chan_try_recv(c0, &v), SP_EAGAIN);
  sp_chan_free(c0);

  /* buffered: send on a full channel times out and does not sneak in */
  sp_chan *c1 = NULL;
  CHECK_RC(sp_chan_new(&c1, sizeof(int), 1), 0);
  x = 1;
  CHECK_RC(sp_chan_try_send(c1, &x), 0);
  x = 2;
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_chan_send(c1, &x), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECK_EQ(sp_chan_len(c1), 1);
  CHECK_RC(sp_chan_recv(c1, &v), 0);
  CHECK_EQ(v, 1);
  CHECK_RC(sp_chan_try_recv(c1, &v), SP_EAGAIN);
  /* buffered recv on an empty channel times out, then a send/recv pair works */
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_chan_recv(c1, &v), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  x = 3;
  CHECK_RC(sp_chan_send(c1, &x), 0);
  CHECK_EQ(sp_chan_len(c1), 1);
  CHECK_RC(sp_chan_recv(c1, &v), 0);
  CHECK_EQ(v, 3);
  sp_chan_free(c1);
  return NULL;
}

/* sp_chan_recv/sp_chan_send time out under a scope and leave the channel fully usable. */
Test(cancel, channel_timeouts, .timeout = 30) { spt_run(2, main_chan_timeouts, NULL); }

static sp_mutex tm_mu = SP_MUTEX_INIT;
static atomic_int tm_held;
static void *hold_mutex_50ms(void *arg) {
  (void)arg;
  CHECK_RC(sp_mutex_lock(&tm_mu), 0);
  atomic_store(&tm_held, 1);
  CHECK_RC(sp_sleep(MS(50)), 0);
  sp_mutex_unlock(&tm_mu);
  return NULL;
}
static void *main_mutex_timeout(void *arg) {
  (void)arg;
  sp_task *h = SPAWN(hold_mutex_50ms, NULL);
  while (!atomic_load(&tm_held)) CHECK_RC(sp_sleep(US(200)), 0);
  sp_deadline d;
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_mutex_lock(&tm_mu), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  /* the timed-out waiter must not be handed the lock on unlock */
  sp_deadline_push(&d, SEC(2));
  CHECK_RC(sp_mutex_lock(&tm_mu), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  sp_mutex_unlock(&tm_mu);
  spt_join(h);
  CHECK_RC(sp_mutex_trylock(&tm_mu), 0);
  sp_mutex_unlock(&tm_mu);
  CHECK_RC(sp_mutex_lock(&tm_mu), 0);
  sp_mutex_unlock(&tm_mu);
  return NULL;
}

/* sp_mutex_lock times out under a scope; the mutex can be locked/unlocked afterwards. */
Test(cancel, mutex_timeout, .timeout = 30) { spt_run(2, main_mutex_timeout, NULL); }

static sp_sem ts_sem = SP_SEM_INIT(0);
static void *release_after_20ms(void *arg) {
  (void)arg;
  CHECK_RC(sp_sleep(MS(20)), 0);
  sp_sem_release(&ts_sem);
  return NULL;
}
static void *main_sem_timeout(void *arg) {
  (void)arg;
  sp_deadline d;
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_sem_acquire(&ts_sem), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECK_EQ(sp_sem_value(&ts_sem), 0);
  /* a unit released now must not go to the timed-out waiter */
  sp_sem_release(&ts_sem);
  CHECK_EQ(sp_sem_value(&ts_sem), 1);
  CHECK_RC(sp_sem_try_acquire(&ts_sem), 0);
  CHECK_RC(sp_sem_try_acquire(&ts_sem), SP_EAGAIN);
  /* a unit released later by another task is acquired exactly once */
  sp_task *r = SPAWN(release_after_20ms, NULL);
  sp_deadline_push(&d, SEC(2));
  CHECK_RC(sp_sem_acquire(&ts_sem), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  spt_join(r);
  CHECK_EQ(sp_sem_value(&ts_sem), 0);
  CHECK_RC(sp_sem_try_acquire(&ts_sem), SP_EAGAIN);
  /* time out again with a releaser racing: exactly one unit in the end */
  r = SPAWN(release_after_20ms, NULL);
  sp_deadline_push(&d, MS(2));
  int rc = sp_sem_acquire(&ts_sem);
  sp_deadline_pop(&d);
  spt_join(r);
  if (rc == SP_ETIMEDOUT) {
    CHECK_EQ(sp_sem_value(&ts_sem), 1);
    CHECK_RC(sp_sem_try_acquire(&ts_sem), 0);
  } else {
    CHECK_RC(rc, 0);
  }
  CHECK_RC(sp_sem_try_acquire(&ts_sem), SP_EAGAIN);
  return NULL;
}

/* sp_sem_acquire times out under a scope without losing or duplicating a unit. */
Test(cancel, semaphore_timeout, .timeout = 30) { spt_run(2, main_sem_timeout, NULL); }

static sp_sem cs_sem = SP_SEM_INIT(0);
static atomic_int cs_rc = 1;
static void *sem_waiter(void *arg) {
  (void)arg;
  atomic_store(&cs_rc, sp_sem_acquire(&cs_sem));
  return NULL;
}
static void *main_sem_cancel(void *arg) {
  (void)arg;
  sp_task *w = SPAWN(sem_waiter, NULL);
  CHECK_RC(sp_sleep(MS(10)), 0);
  sp_cancel(w);
  spt_join(w);
  CHECK_RC(atomic_load(&cs_rc), SP_ECANCELED);
  sp_sem_release(&cs_sem);
  CHECK_EQ(sp_sem_value(&cs_sem), 1);
  CHECK_RC(sp_sem_try_acquire(&cs_sem), 0);
  return NULL;
}

/* A cancelled sp_sem_acquire returns SP_ECANCELED and does not swallow a later unit. */
Test(cancel, semaphore_cancel, .timeout = 30) { spt_run(2, main_sem_cancel, NULL); }

static void *main_event_wg_timeout(void *arg) {
  (void)arg;
  sp_deadline d;
  sp_event e;
  sp_event_init(&e);
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_event_wait(&e), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECK_EQ(sp_event_is_set(&e), 0);
  sp_event_set(&e);
  sp_deadline_push(&d, SEC(1));
  CHECK_RC(sp_event_wait(&e), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);

  sp_waitgroup wg;
  sp_wg_init(&wg);
  sp_wg_add(&wg, 1);
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_wg_wait(&wg), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  sp_wg_done(&wg);
  sp_deadline_push(&d, SEC(1));
  CHECK_RC(sp_wg_wait(&wg), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  return NULL;
}

/* sp_event_wait and sp_wg_wait time out under a scope and work normally afterwards. */
Test(cancel, event_and_waitgroup_timeouts, .timeout = 30) { spt_run(2, main_event_wg_timeout, NULL); }

static atomic_int slow9_rc = 1;
static void *slow_9(void *arg) {
  (void)arg;
  atomic_store(&slow9_rc, sp_sleep(MS(100)));
  return IPTR(9);
}
static void *main_join_scope(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(slow_9, NULL);
  sp_deadline d;
  sp_deadline_push(&d, MS(5));
  void *res = NULL;
  CHECK_RC(sp_join(t, &res), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  /* the handle is kept and the task was not cancelled */
  CHECK_RC(sp_join(t, &res), 0);
  CHECK_EQ(PINT(res), 9);
  CHECK_RC(atomic_load(&slow9_rc), 0);
  return NULL;
}

/* sp_join under an expiring scope returns SP_ETIMEDOUT, keeps the handle, leaves the task alone. */
Test(cancel, join_timeout_under_scope, .timeout = 30) { spt_run(2, main_join_scope, NULL); }

static atomic_int gs_rc[2] = {1, 1};
static void *gather_sleeper(void *arg) {
  atomic_store(&gs_rc[PINT(arg)], sp_sleep(SEC(10)));
  return NULL;
}
static void *main_gather_deadline(void *arg) {
  (void)arg;
  sp_task *ts[3] = {SPAWN(quick_42, NULL), SPAWN(gather_sleeper, 0), SPAWN(gather_sleeper, 1)};
  sp_deadline d;
  uint64_t t0 = sp_now_ns();
  sp_deadline_push(&d, MS(10));
  CHECK_RC(sp_gather(ts, 3, NULL), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECKF(sp_now_ns() - t0 < prompt_ns(), "gather under a 10 ms scope took %.1f ms", (sp_now_ns() - t0) / 1e6);
  /* the unfinished tasks were cancelled and awaited before gather returned */
  CHECK_RC(atomic_load(&gs_rc[0]), SP_ECANCELED);
  CHECK_RC(atomic_load(&gs_rc[1]), SP_ECANCELED);
  return NULL;
}

/* sp_gather whose deadline expires cancels and awaits the unfinished tasks. */
Test(cancel, gather_deadline, .timeout = 30) { spt_run(2, main_gather_deadline, NULL); }

static atomic_int jc_rc = 1;
static void *join_victim(void *arg) {
  sp_task *inner = arg;
  void *res = NULL;
  atomic_store(&jc_rc, sp_join(inner, &res));
  /* the handle was kept: cancel the inner task and join it for real */
  sp_cancel(inner);
  CHECK_RC(sp_join(inner, &res), 0);
  CHECK_EQ(PINT(res), 5);
  return NULL;
}
static void *main_join_cancel(void *arg) {
  (void)arg;
  atomic_store(&victim_rc, 1);
  sp_task *inner = SPAWN(sleep_10s_victim, NULL);
  sp_task *j = SPAWN(join_victim, inner);
  CHECK_RC(sp_sleep(MS(10)), 0);
  sp_cancel(j);
  spt_join(j);
  CHECK_RC(atomic_load(&jc_rc), SP_ECANCELED);
  CHECK_RC(atomic_load(&victim_rc), SP_ECANCELED);
  return NULL;
}

/* A task cancelled while parked in sp_join gets SP_ECANCELED and keeps the handle. */
Test(cancel, cancel_during_join, .timeout = 30) { spt_run(2, main_join_cancel, NULL); }
