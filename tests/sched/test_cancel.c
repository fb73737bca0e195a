/* test_cancel.c - cancellation, deadline scopes and timeouts. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt_internal.h"

#include <fcntl.h>
#include <unistd.h>

/* "Promptly": far below the 60 s the victims would otherwise wait, and far
 * above what a loaded 2-core machine or a sanitizer adds to a wakeup. */
static uint64_t prompt_ns(void) { return sanitized() ? SEC(5) : SEC(2); }

/* ------------------------------------------------ cancelling a sleeper */

static atomic_int victim_rc = 1;
static atomic_ullong victim_el;

static void *sleep_60s_victim(void *arg) {
  (void)arg;
  uint64_t t0 = sp_now_ns();
  atomic_store(&victim_rc, sp_sleep(SEC(60)));
  atomic_store(&victim_el, sp_now_ns() - t0);
  return IPTR(5);
}

static void *main_cancel_sleep(void *arg) {
  (void)arg;
  atomic_store(&victim_rc, 1);
  sp_task *t = SPAWN(sleep_60s_victim, NULL);
  CHECK_PARKED(&t, 1, "the victim of sp_sleep(60 s)");
  uint64_t t1 = sp_now_ns();
  sp_cancel(t);
  CHECK_EQ(PINT(spt_join_soon(t, "a task in sp_sleep(60 s), cancelled,")), 5);
  uint64_t lat = sp_now_ns() - t1;
  CHECK_RC(atomic_load(&victim_rc), SP_ECANCELED);
  CHECKF(lat < prompt_ns(), "cancel of a 60 s sleep took %.1f ms to end the task", lat / 1e6);
  return NULL;
}

/* sp_cancel on a task parked in sp_sleep(60 s) makes the sleep return SP_ECANCELED promptly. */
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
  CHECK_EQ(PINT(spt_join_soon(t, "a task spawned after a cancelled one")), 1);
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
  once_rc[0] = sp_sleep(SEC(60));
  uint64_t t0 = sp_now_ns();
  once_rc[1] = sp_sleep(MS(20));
  once_el2 = sp_now_ns() - t0;
  once_rc[2] = sp_yield();
  return NULL;
}
static void *main_cancel_once(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(cancel_once_victim, NULL);
  CHECK_PARKED(&t, 1, "the victim of sp_sleep(60 s)");
  sp_cancel(t);
  spt_join_soon(t, "a task in sp_sleep(60 s), cancelled,");
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
  spt_join_soon(t, "a yielding task, cancelled,");
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
  uint64_t end = mono_ns() + spt_patience_ns();
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
  spt_join_soon(t, "the spinning task cancelled from a plain thread");
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
  CHECK_RC(sp_sleep(SEC(60)), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECK_EQ(sp_deadline_pop(&d), 1);
  CHECKF(el >= MS(5), "deadline of 5 ms expired after %.3f ms", el / 1e6);
  CHECKF(el < prompt_ns(), "deadline of 5 ms expired after %.3f ms", el / 1e6);
  /* the popped scope no longer applies */
  CHECK_RC(sp_sleep(MS(10)), 0);
  /* a park shorter than the scope is unaffected, and pop reports "not passed" */
  sp_deadline_push(&d, SEC(1));
  CHECK_RC(sp_sleep(MS(1)), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  return NULL;
}

/* sp_deadline_push(5 ms) around sp_sleep(60 s) gives SP_ETIMEDOUT after >= 5 ms, promptly; pop returns 1. */
Test(cancel, deadline_scope, .timeout = 30) { spt_run(1, main_deadline, NULL); }

/* The longer scope of a nested pair.  Which scope ended a sleep shows in
 * "never early": had the longer one applied, the sleep would have lasted
 * at least that long. */
static uint64_t long_scope_ns(void) { return sanitized() ? SEC(2) : MS(500); }

static void *main_nested(void *arg) {
  (void)arg;
  sp_deadline outer, inner;
  uint64_t lng = long_scope_ns();
  /* outer long, inner 5 ms: the inner one wins */
  uint64_t t0 = sp_now_ns();
  sp_deadline_push(&outer, lng);
  sp_deadline_push(&inner, MS(5));
  CHECK_RC(sp_sleep(SEC(60)), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(5) && el < lng, "inner 5 ms scope under an outer %.0f ms one fired after %.3f ms", lng / 1e6,
         el / 1e6);
  CHECK_EQ(sp_deadline_pop(&inner), 1);
  /* back under the outer scope only: fires when it passes, counted from its push */
  CHECK_RC(sp_sleep(SEC(60)), SP_ETIMEDOUT);
  el = sp_now_ns() - t0;
  CHECKF(el >= lng && el < lng + prompt_ns(), "outer %.0f ms scope fired after %.3f ms", lng / 1e6, el / 1e6);
  CHECK_EQ(sp_deadline_pop(&outer), 1);

  /* outer 5 ms, inner long: the outer (earlier) one still applies */
  t0 = sp_now_ns();
  sp_deadline_push(&outer, MS(5));
  sp_deadline_push(&inner, lng);
  CHECK_RC(sp_sleep(SEC(60)), SP_ETIMEDOUT);
  el = sp_now_ns() - t0;
  CHECKF(el >= MS(5) && el < lng, "outer 5 ms scope under an inner %.0f ms one fired after %.3f ms", lng / 1e6,
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
  wf_inner_rc = sp_sleep(SEC(60));
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
  CHECKF(el >= MS(5) && el < prompt_ns(), "sp_wait_for(5 ms) took %.3f ms", el / 1e6);
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
  atomic_store(&jt_victim_rc, sp_sleep(SEC(60)));
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
  CHECKF(el >= MS(20) && el < prompt_ns(), "join_timeout(20 ms) on a 60 s task took %.3f ms", el / 1e6);
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
  spt_join_soon(s, "the sender");
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
static sp_event tm_release = SP_EVENT_INIT;
static void *hold_mutex_until_told(void *arg) {
  (void)arg;
  CHECK_RC(sp_mutex_lock(&tm_mu), 0);
  atomic_store(&tm_held, 1);
  CHECK_RC(sp_event_wait(&tm_release), 0);
  sp_mutex_unlock(&tm_mu);
  return NULL;
}
static void *main_mutex_timeout(void *arg) {
  (void)arg;
  sp_task *h = SPAWN(hold_mutex_until_told, NULL);
  CHECK_SOON(atomic_load(&tm_held), "the holder never took the mutex");
  sp_deadline d;
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_mutex_lock(&tm_mu), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  sp_event_set(&tm_release);
  /* the timed-out waiter must not be handed the lock on unlock */
  sp_deadline_push(&d, spt_patience_ns());
  CHECK_RC(sp_mutex_lock(&tm_mu), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  sp_mutex_unlock(&tm_mu);
  spt_join_soon(h, "the mutex holder, told to unlock,");
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
  sp_deadline_push(&d, spt_patience_ns());
  CHECK_RC(sp_sem_acquire(&ts_sem), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  spt_join_soon(r, "the releaser");
  CHECK_EQ(sp_sem_value(&ts_sem), 0);
  CHECK_RC(sp_sem_try_acquire(&ts_sem), SP_EAGAIN);
  /* time out again with a releaser racing: exactly one unit in the end */
  r = SPAWN(release_after_20ms, NULL);
  sp_deadline_push(&d, MS(2));
  int rc = sp_sem_acquire(&ts_sem);
  sp_deadline_pop(&d);
  spt_join_soon(r, "the releaser");
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
  CHECK_PARKED(&w, 1, "the waiter in sp_sem_acquire");
  sp_cancel(w);
  spt_join_soon(w, "a task in sp_sem_acquire, cancelled,");
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
  sp_deadline_push(&d, spt_patience_ns());
  CHECK_RC(sp_event_wait(&e), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);

  sp_waitgroup wg;
  sp_wg_init(&wg);
  sp_wg_add(&wg, 1);
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_wg_wait(&wg), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  sp_wg_done(&wg);
  sp_deadline_push(&d, spt_patience_ns());
  CHECK_RC(sp_wg_wait(&wg), 0);
  CHECK_EQ(sp_deadline_pop(&d), 0);
  return NULL;
}

/* sp_event_wait and sp_wg_wait time out under a scope and work normally afterwards. */
Test(cancel, event_and_waitgroup_timeouts, .timeout = 30) { spt_run(2, main_event_wg_timeout, NULL); }

static atomic_int slow9_rc = 1;
static sp_event slow9_go = SP_EVENT_INIT;
static void *slow_9(void *arg) {
  (void)arg;
  atomic_store(&slow9_rc, sp_event_wait(&slow9_go));
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
  sp_event_set(&slow9_go);
  CHECK_EQ(PINT(spt_join_soon(t, "the joined task, after its event was set,")), 9);
  CHECK_RC(atomic_load(&slow9_rc), 0);
  return NULL;
}

/* sp_join under an expiring scope returns SP_ETIMEDOUT, keeps the handle, leaves the task alone. */
Test(cancel, join_timeout_under_scope, .timeout = 30) { spt_run(2, main_join_scope, NULL); }

static atomic_int gs_rc[2] = {1, 1};
static void *gather_sleeper(void *arg) {
  atomic_store(&gs_rc[PINT(arg)], sp_sleep(SEC(60)));
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
  sp_task *inner = SPAWN(sleep_60s_victim, NULL);
  sp_task *j = SPAWN(join_victim, inner);
  CHECK_PARKED(&j, 1, "the task joining a 60 s sleeper");
  sp_cancel(j);
  spt_join_soon(j, "a task in sp_join, cancelled,");
  CHECK_RC(atomic_load(&jc_rc), SP_ECANCELED);
  CHECK_RC(atomic_load(&victim_rc), SP_ECANCELED);
  return NULL;
}

/* A task cancelled while parked in sp_join gets SP_ECANCELED and keeps the handle. */
Test(cancel, cancel_during_join, .timeout = 30) { spt_run(2, main_join_cancel, NULL); }

/* ------------------------------------------- a cancel on every kind of wait */

/*
 * Every wait a task can park in ends with SP_ECANCELED when the task is
 * cancelled: when the cancel comes while it is parked (the canceller claims
 * the park), and when the cancel was requested before it parked (the
 * canceller found no park to claim, so the park itself must see the pending
 * request).  Each wait here would otherwise last 60 s or forever.  It must
 * end promptly, leave what it waited on as it was (no unit taken, no waiter
 * left behind) and take the cancel with it: the task's next park is not
 * cancelled again.
 */
typedef struct wait_kind {
  const char *name;
  int parks;            /* 0: never parks (sp_yield), so no "while parked" case */
  void (*setup)(void);  /* main task, before the target starts */
  int (*wait)(void);    /* the target's wait; returns its status */
  void (*after)(void);  /* main task, once the target has ended: checks, cleanup */
} wait_kind;

static sp_chan *wk_chan;
static sp_mutex wk_mutex;
static sp_sem wk_sem;
static sp_event wk_event, wk_other_go;
static sp_waitgroup wk_wg;
static sp_task *wk_other; /* joined by the target: runs until told to end */
static atomic_int wk_other_rc;
static int wk_pipe[2];

static void nothing(void) {}
static void no_receiver_left(void) {
  int x = 1;
  CHECK_RC(sp_chan_try_send(wk_chan, &x), SP_EAGAIN); /* no receiver left on the channel */
  sp_chan_free(wk_chan);
}
static void no_sender_left(void) {
  int v = 0;
  CHECK_RC(sp_chan_try_recv(wk_chan, &v), SP_EAGAIN); /* no sender left on the channel */
  sp_chan_free(wk_chan);
}

static void chan_rendezvous(void) { CHECK_RC(sp_chan_new(&wk_chan, sizeof(int), 0), 0); }
static int wait_recv(void) {
  int v = 0;
  return sp_chan_recv(wk_chan, &v);
}
static int wait_send(void) {
  int v = 8;
  return sp_chan_send(wk_chan, &v);
}

static void chan_empty(void) { CHECK_RC(sp_chan_new(&wk_chan, sizeof(int), 1), 0); }
static void empty_chan_untouched(void) {
  int x = 5, v = 0;
  CHECK_RC(sp_chan_try_send(wk_chan, &x), 0); /* buffered, not handed to a ghost receiver */
  CHECK_EQ(sp_chan_len(wk_chan), 1);
  CHECK_RC(sp_chan_try_recv(wk_chan, &v), 0);
  CHECK_EQ(v, 5);
  sp_chan_free(wk_chan);
}

static void chan_full(void) {
  int x = 7;
  CHECK_RC(sp_chan_new(&wk_chan, sizeof(int), 1), 0);
  CHECK_RC(sp_chan_try_send(wk_chan, &x), 0);
}
static void full_chan_untouched(void) {
  int v = 0;
  CHECK_EQ(sp_chan_len(wk_chan), 1);
  CHECK_RC(sp_chan_try_recv(wk_chan, &v), 0);
  CHECK_EQ(v, 7);
  CHECK_RC(sp_chan_try_recv(wk_chan, &v), SP_EAGAIN); /* the cancelled send did not sneak in */
  sp_chan_free(wk_chan);
}

static void mutex_held(void) {
  sp_mutex_init(&wk_mutex);
  CHECK_RC(sp_mutex_lock(&wk_mutex), 0);
}
static int wait_mutex(void) { return sp_mutex_lock(&wk_mutex); }
static void mutex_free_after_unlock(void) {
  sp_mutex_unlock(&wk_mutex);
  CHECK_RC(sp_mutex_trylock(&wk_mutex), 0); /* not handed to the cancelled waiter */
  sp_mutex_unlock(&wk_mutex);
}

static void sem_empty(void) { sp_sem_init(&wk_sem, 0); }
static int wait_sem(void) { return sp_sem_acquire(&wk_sem); }
static void sem_unit_not_swallowed(void) {
  sp_sem_release(&wk_sem);
  CHECK_EQ(sp_sem_value(&wk_sem), 1);
  CHECK_RC(sp_sem_try_acquire(&wk_sem), 0);
}

static void event_clear(void) { sp_event_init(&wk_event); }
static int wait_event(void) { return sp_event_wait(&wk_event); }
static void event_still_clear(void) { CHECK_EQ(sp_event_is_set(&wk_event), 0); }

static void wg_one(void) {
  sp_wg_init(&wk_wg);
  sp_wg_add(&wk_wg, 1);
}
static int wait_wg(void) { return sp_wg_wait(&wk_wg); }
static void wg_done_after(void) {
  sp_wg_done(&wk_wg);
  CHECK_RC(sp_wg_wait(&wk_wg), 0);
}

static void *run_until_told(void *arg) {
  (void)arg;
  atomic_store(&wk_other_rc, sp_event_wait(&wk_other_go));
  return IPTR(77);
}
static void other_running(void) {
  sp_event_init(&wk_other_go);
  atomic_store(&wk_other_rc, 1);
  wk_other = SPAWN(run_until_told, NULL);
  CHECK_PARKED(&wk_other, 1, "the task to be joined, in sp_event_wait");
}
static int wait_join(void) { return sp_join(wk_other, NULL); }
static int wait_join_timeout(void) { return sp_join_timeout(wk_other, SEC(60), NULL); }
static void other_kept_and_joinable(void) {
  /* the handle was kept, and the joined task was left alone */
  sp_event_set(&wk_other_go);
  CHECK_EQ(PINT(spt_join_soon(wk_other, "the joined task, once told to end,")), 77);
  CHECK_RC(atomic_load(&wk_other_rc), 0);
}
static int wait_gather(void) { return sp_gather(&wk_other, 1, NULL); }
static void other_cancelled_by_gather(void) {
  /* an interrupted gather cancels what it gathers and waits for it */
  CHECK_RC(atomic_load(&wk_other_rc), SP_ECANCELED);
}

static void pipe_empty(void) { CHECK_EQ(pipe2(wk_pipe, O_NONBLOCK | O_CLOEXEC), 0); }
static int wait_fd_readable(void) { return sp_wait_fd(wk_pipe[0], SP_READABLE, UINT64_MAX); }
static void fd_waitable_again(void) {
  CHECK_EQ(write(wk_pipe[1], "x", 1), 1);
  CHECK_EQ(sp_wait_fd(wk_pipe[0], SP_READABLE, spt_patience_ns()), SP_READABLE); /* registration gone */
  close(wk_pipe[0]);
  close(wk_pipe[1]);
}

static int wait_sleep(void) { return sp_sleep(SEC(60)); }
static int wait_sleep_until(void) { return sp_sleep_until(sp_now_ns() + SEC(60)); }
static int wait_under_scope(void) {
  sp_deadline d;
  sp_deadline_push(&d, SEC(60));
  int rc = sp_sleep(SEC(120));
  sp_deadline_pop(&d);
  return rc; /* SP_ECANCELED, not the scope's SP_ETIMEDOUT */
}
static void *sleep_120s_into(void *arg) {
  *(int *)arg = sp_sleep(SEC(120));
  return NULL;
}
static int wait_in_wait_for(void) {
  int inner = 1;
  int rc = sp_wait_for(SEC(60), sleep_120s_into, &inner, NULL);
  CHECK_RC(rc, 0); /* fn ended before the 60 s passed */
  return inner;
}
static int wait_yield(void) { return sp_yield(); }

static const wait_kind k_sleep = {"sp_sleep(60 s)", 1, nothing, wait_sleep, nothing};
static const wait_kind k_sleep_until = {"sp_sleep_until(now + 60 s)", 1, nothing, wait_sleep_until, nothing};
static const wait_kind k_recv0 = {"sp_chan_recv (capacity 0)", 1, chan_rendezvous, wait_recv, no_receiver_left};
static const wait_kind k_send0 = {"sp_chan_send (capacity 0)", 1, chan_rendezvous, wait_send, no_sender_left};
static const wait_kind k_recv1 = {"sp_chan_recv (capacity 1, empty)", 1, chan_empty, wait_recv, empty_chan_untouched};
static const wait_kind k_send1 = {"sp_chan_send (capacity 1, full)", 1, chan_full, wait_send, full_chan_untouched};
static const wait_kind k_mutex = {"sp_mutex_lock (held)", 1, mutex_held, wait_mutex, mutex_free_after_unlock};
static const wait_kind k_sem = {"sp_sem_acquire (no units)", 1, sem_empty, wait_sem, sem_unit_not_swallowed};
static const wait_kind k_event = {"sp_event_wait (not set)", 1, event_clear, wait_event, event_still_clear};
static const wait_kind k_wg = {"sp_wg_wait (count 1)", 1, wg_one, wait_wg, wg_done_after};
static const wait_kind k_join = {"sp_join (task running)", 1, other_running, wait_join, other_kept_and_joinable};
static const wait_kind k_join_timeout = {"sp_join_timeout(60 s)", 1, other_running, wait_join_timeout,
                                         other_kept_and_joinable};
static const wait_kind k_gather = {"sp_gather (task running)", 1, other_running, wait_gather,
                                   other_cancelled_by_gather};
static const wait_kind k_wait_fd = {"sp_wait_fd (empty pipe)", 1, pipe_empty, wait_fd_readable, fd_waitable_again};
static const wait_kind k_scope = {"sp_sleep(120 s) under a 60 s deadline scope", 1, nothing, wait_under_scope,
                                  nothing};
static const wait_kind k_wait_for = {"sp_sleep(120 s) in sp_wait_for(60 s)", 1, nothing, wait_in_wait_for, nothing};
static const wait_kind k_yield = {"sp_yield", 0, nothing, wait_yield, nothing};

/* How the cancel meets the wait. */
enum wk_mode {
  WK_SELF,    /* the task cancels itself, then waits: pending when it parks */
  WK_RUNNING, /* another task cancels it while it runs, then it waits: pending */
  WK_PARKED,  /* another task cancels it once it is parked */
};
static const char *const wk_mode_name[] = {"cancelled itself before waiting",
                                           "cancelled by another task before waiting",
                                           "cancelled while parked"};

typedef struct wk_run {
  const wait_kind *k;
  enum wk_mode mode;
} wk_run;

static atomic_int wk_rc, wk_next_rc, wk_running, wk_cancel_sent;
static atomic_ullong wk_el;

static void *wk_target(void *arg) {
  const wk_run *r = arg;
  if (r->mode == WK_SELF) {
    sp_cancel(sp_self()); /* nothing to claim: the request stays pending */
  } else if (r->mode == WK_RUNNING) {
    atomic_store(&wk_running, 1);
    /* run, without parking, until the other task has sent its cancel */
    uint64_t end = mono_ns() + spt_patience_ns();
    while (!atomic_load(&wk_cancel_sent) && mono_ns() < end) spin_ns(US(20));
    CHECKF(atomic_load(&wk_cancel_sent),
           "the main task did not cancel the running target within %.0f s (if it was queued behind the target, "
           "which does not park, only the monitor could move it to the idle worker)",
           spt_patience_s());
  }
  uint64_t t0 = sp_now_ns();
  atomic_store(&wk_rc, r->k->wait());
  atomic_store(&wk_el, sp_now_ns() - t0);
  atomic_store(&wk_next_rc, sp_sleep(US(100))); /* the cancel was taken by the wait */
  return NULL;
}

static void *main_wait_kind(void *arg) {
  const wk_run *r = arg;
  const char *kind = r->k->name, *how = wk_mode_name[r->mode];
  atomic_store(&wk_rc, 1);
  atomic_store(&wk_next_rc, 1);
  atomic_store(&wk_running, 0);
  atomic_store(&wk_cancel_sent, 0);
  r->k->setup();
  sp_task *t = SPAWN(wk_target, r);
  if (r->mode == WK_RUNNING) {
    CHECK_SOON(atomic_load(&wk_running), "%s: the target never started", kind);
    sp_cancel(t);
    atomic_store(&wk_cancel_sent, 1);
  } else if (r->mode == WK_PARKED) {
    if (CHECK_PARKED(&t, 1, kind)) sp_cancel(t);
  }
  /* seen to return before joining it: a joiner would run a woken task that got lost */
  CHECK_SOON(atomic_load(&wk_rc) != 1, "%s, %s: the wait did not return", kind, how);
  char what[256];
  snprintf(what, sizeof what, "a task in %s, %s,", kind, how);
  spt_join_soon(t, what);
  int rc = atomic_load(&wk_rc);
  CHECKF(rc == SP_ECANCELED, "%s, %s: returned %d (%s), expected SP_ECANCELED", kind, how, rc, sp_strerror(rc));
  CHECKF(atomic_load(&wk_el) < prompt_ns(), "%s, %s: ended after %.1f ms", kind, how, atomic_load(&wk_el) / 1e6);
  rc = atomic_load(&wk_next_rc);
  CHECKF(rc == 0, "%s, %s: the next park (sp_sleep(100 us)) returned %d (%s): the cancel was delivered twice",
         kind, how, rc, sp_strerror(rc));
  r->k->after();
  return NULL;
}

/* A cancel requested before the wait parks: by the task itself (one worker,
 * so nothing else runs in between) and by another task while the target
 * runs (two workers). */
static void run_pending(const wait_kind *k) {
  wk_run self = {k, WK_SELF}, running = {k, WK_RUNNING};
  spt_run(1, main_wait_kind, &self);
  spt_run(2, main_wait_kind, &running);
}

/* A cancel while the wait is parked, on one worker and on two. */
static void run_parked(const wait_kind *k) {
  wk_run parked = {k, WK_PARKED};
  spt_run(1, main_wait_kind, &parked);
  spt_run(2, main_wait_kind, &parked);
}

/* Each kind of wait: a pending cancel ends it at its park, and a cancel
 * while parked ends it, with SP_ECANCELED, promptly, once. */
#define WAIT_KIND_TESTS(kind)                                                                      \
  Test(cancel, pending_cancel_ends_##kind, .timeout = 60) { run_pending(&k_##kind); }              \
  Test(cancel, parked_cancel_ends_##kind, .timeout = 60) { run_parked(&k_##kind); }

WAIT_KIND_TESTS(sleep)
WAIT_KIND_TESTS(sleep_until)
WAIT_KIND_TESTS(recv0)
WAIT_KIND_TESTS(send0)
WAIT_KIND_TESTS(recv1)
WAIT_KIND_TESTS(send1)
WAIT_KIND_TESTS(mutex)
WAIT_KIND_TESTS(sem)
WAIT_KIND_TESTS(event)
WAIT_KIND_TESTS(wg)
WAIT_KIND_TESTS(join)
WAIT_KIND_TESTS(join_timeout)
WAIT_KIND_TESTS(gather)
WAIT_KIND_TESTS(wait_fd)
WAIT_KIND_TESTS(scope)
WAIT_KIND_TESTS(wait_for)

/* sp_yield never parks; a pending cancel is still returned by it, once. */
Test(cancel, pending_cancel_ends_yield, .timeout = 60) { run_pending(&k_yield); }
