/* test_sleep.c - timer accuracy, ordering and scale. */
#define _GNU_SOURCE
#include "spt.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* sp_now_ns is CLOCK_MONOTONIC in nanoseconds. */
Test(sleep, now_is_clock_monotonic, .timeout = 10) {
  uint64_t a = mono_ns();
  uint64_t s = sp_now_ns();
  uint64_t b = mono_ns();
  cr_assert(s >= a && s <= b, "sp_now_ns %llu not within CLOCK_MONOTONIC [%llu, %llu]",
            (unsigned long long)s, (unsigned long long)a, (unsigned long long)b);
  uint64_t prev = sp_now_ns();
  for (int i = 0; i < 10000; i++) {
    uint64_t n = sp_now_ns();
    cr_assert(n >= prev, "sp_now_ns went backwards");
    prev = n;
  }
}

/* ------------------------------------------------------------ accuracy */

static void *main_accuracy_2ms(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++) {
    uint64_t t0 = sp_now_ns();
    CHECK_RC(sp_sleep(MS(2)), 0);
    uint64_t el = sp_now_ns() - t0;
    CHECKF(el >= MS(2), "sp_sleep(2 ms) returned after %.3f ms", el / 1e6);
    CHECKF(el < (sanitized() ? MS(500) : MS(50)), "sp_sleep(2 ms) took %.3f ms", el / 1e6);
  }
  return NULL;
}

/* sp_sleep(2 ms) lasts at least 2 ms and under 50 ms. */
Test(sleep, accuracy_2ms, .timeout = 30) {
  spt_run(1, main_accuracy_2ms, NULL);
  spt_run(4, main_accuracy_2ms, NULL);
}

static void *main_sub_ms(void *arg) {
  (void)arg;
  enum { N = 20 };
  uint64_t el[N];
  for (int i = 0; i < N; i++) {
    uint64_t t0 = sp_now_ns();
    CHECK_RC(sp_sleep(US(200)), 0);
    el[i] = sp_now_ns() - t0;
    CHECKF(el[i] >= US(200), "sp_sleep(200 us) returned after %.1f us", el[i] / 1e3);
  }
  qsort(el, N, sizeof el[0], cmp_u64);
  uint64_t median = el[N / 2];
  if (!sanitized())
    CHECKF(median < US(1000),
           "median sp_sleep(200 us) = %.1f us: timers rounded up to milliseconds?", median / 1e3);
  return NULL;
}

/* sp_sleep(200 us) lasts >= 200 us and, by the median of 20, under 1 ms (sub-ms timers). */
Test(sleep, sub_millisecond, .timeout = 30) { spt_run(1, main_sub_ms, NULL); }

/* ------------------------------------------------------------- ordering */

enum { ORDER_N = 1000 };
static uint64_t order_dur[ORDER_N], order_deadline[ORDER_N], order_wake[ORDER_N];

static void *order_sleeper(void *arg) {
  intptr_t i = PINT(arg);
  /* sp_sleep_until, so that the recorded deadline is exactly the timer's
   * (a preemption between reading the clock and sp_sleep would skew it) */
  order_deadline[i] = sp_now_ns() + order_dur[i];
  CHECK_RC(sp_sleep_until(order_deadline[i]), 0);
  order_wake[i] = sp_now_ns();
  return NULL;
}

static uint64_t order_takeovers; /* for the failure message */
static const uint64_t *order_key;
static int cmp_by_key(const void *a, const void *b) {
  uint64_t x = order_key[*(const int *)a], y = order_key[*(const int *)b];
  return x < y ? -1 : x > y;
}

static void *main_order(void *arg) {
  (void)arg;
  unsigned seed = 12345;
  for (int i = 0; i < ORDER_N; i++) order_dur[i] = (uint64_t)(rand_r(&seed) % 50001) * 1000u; /* 0..50 ms */
  sp_task **ts = calloc(ORDER_N, sizeof *ts);
  for (int i = 0; i < ORDER_N; i++) ts[i] = SPAWN(order_sleeper, i);
  CHECK_RC(sp_gather(ts, ORDER_N, NULL), 0);
  free(ts);
  sp_worker_stats st;
  if (sp_runtime_stats(sp_runtime_current(), 0, &st) == 0) order_takeovers = st.takeovers;
  return NULL;
}

/* 1000 timers of random 0..50 ms: each wakes at/after its deadline, and in deadline order (2 ms tolerance).
 * The order is a timing property: under sanitizers (a worker many times slower, its loop
 * served by other threads) only "never early" is checked. */
Test(sleep, timers_fire_in_deadline_order, .timeout = 60) {
  spt_run(1, main_order, NULL);
  int idx[ORDER_N];
  for (int i = 0; i < ORDER_N; i++) {
    idx[i] = i;
    cr_assert(order_wake[i] >= order_deadline[i], "task %d woke %.3f ms before its deadline", i,
              (double)(order_deadline[i] - order_wake[i]) / 1e6);
    if (!sanitized())
      cr_assert(order_wake[i] - order_deadline[i] < MS(100), "task %d woke %.3f ms late", i,
                (double)(order_wake[i] - order_deadline[i]) / 1e6);
  }
  order_key = order_deadline;
  qsort(idx, ORDER_N, sizeof idx[0], cmp_by_key);
  /* for each task j (by deadline), every task i whose deadline is at least
   * 2 ms earlier must have woken no later than j */
  uint64_t max_wake = 0;
  int max_from = -1;
  int k = 0;
  for (int jj = 0; jj < ORDER_N; jj++) {
    int j = idx[jj];
    while (k < jj && order_deadline[idx[k]] + MS(2) <= order_deadline[j]) {
      if (order_wake[idx[k]] > max_wake) {
        max_wake = order_wake[idx[k]];
        max_from = idx[k];
      }
      k++;
    }
    if (max_from >= 0 && !sanitized())
      cr_assert(order_wake[j] >= max_wake,
                "out of order: task %d (deadline +%.3f ms) woke %.3f ms before task %d (deadline +%.3f ms "
                "earlier); worker takeovers during the run: %llu",
                j, (double)(order_deadline[j] - order_deadline[idx[0]]) / 1e6,
                (double)(max_wake - order_wake[j]) / 1e6, max_from,
                (double)(order_deadline[j] - order_deadline[max_from]) / 1e6,
                (unsigned long long)order_takeovers);
  }
}

/* ------------------------------------------------------------ many sleepers */

static sp_waitgroup many_wg = SP_WAITGROUP_INIT;
static atomic_long many_ok;

static void *sleeper_200ms(void *arg) {
  (void)arg;
  int rc = sp_sleep(MS(200));
  if (rc == 0) atomic_fetch_add(&many_ok, 1);
  else CHECK_RC(rc, 0);
  sp_wg_done(&many_wg);
  return NULL;
}

static void *main_many(void *arg) {
  long n = (long)PINT(arg);
  atomic_store(&many_ok, 0);
  uint64_t t0 = sp_now_ns();
  sp_wg_add(&many_wg, n);
  for (long i = 0; i < n; i++) {
    int rc = sp_spawn(NULL, sleeper_200ms, NULL);
    if (rc != 0) {
      CHECKF(0, "spawn %ld of %ld failed: %d (%s)", i, n, rc, sp_strerror(rc));
      sp_wg_add(&many_wg, -(n - i));
      break;
    }
  }
  CHECK_RC(sp_wg_wait(&many_wg), 0);
  uint64_t el = sp_now_ns() - t0;
  CHECK_EQ(atomic_load(&many_ok), n);
  CHECKF(el >= MS(200), "%ld sleepers of 200 ms done after %.1f ms", n, el / 1e6);
  return IPTR(el);
}

/* 100,000 concurrent 200 ms sleepers (default stacks) all complete, in < 2 s wall time
 * (best of 3 runs, so one stall of a loaded VM does not decide). */
Test(sleep, hundred_thousand_sleepers, .timeout = 180) {
  long n = 10000 * scale();
  uint64_t best = UINT64_MAX;
  for (int a = 0; a < (sanitized() ? 1 : 3) && best >= SEC(2); a++) {
    uint64_t el = (uint64_t)PINT(spt_run(2, main_many, IPTR(n)));
    if (el < best) best = el;
  }
  if (!sanitized()) cr_assert(best < SEC(2), "%ld sleepers of 200 ms took %.1f ms (>= 2 s)", n, best / 1e6);
}

/* ----------------------------------------------------------- sleep_until */

static void *main_until(void *arg) {
  (void)arg;
  uint64_t min_el = UINT64_MAX;
  for (int i = 0; i < 10; i++) {
    uint64_t t0 = sp_now_ns();
    CHECK_RC(sp_sleep_until(t0 - MS(1)), 0);
    uint64_t el = sp_now_ns() - t0;
    if (el < min_el) min_el = el;
    CHECKF(el < MS(20), "sp_sleep_until(past) took %.3f ms", el / 1e6);
  }
  if (!sanitized()) CHECKF(min_el < US(200), "sp_sleep_until(past) took at least %.1f us", min_el / 1e3);
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_sleep_until(0), 0);
  CHECK_RC(sp_sleep(0), 0);
  CHECKF(sp_now_ns() - t0 < MS(20), "sleep_until(0)+sleep(0) took %.3f ms", (sp_now_ns() - t0) / 1e6);
  /* a future absolute deadline is honoured */
  uint64_t dl = sp_now_ns() + MS(3);
  CHECK_RC(sp_sleep_until(dl), 0);
  uint64_t now = sp_now_ns();
  CHECKF(now >= dl, "sp_sleep_until woke %.3f ms early", (dl - now) / 1e6);
  CHECKF(now - dl < (sanitized() ? MS(500) : MS(50)), "sp_sleep_until woke %.3f ms late", (now - dl) / 1e6);
  return NULL;
}

/* sp_sleep_until with a past deadline returns at once; a future one waits until it. */
Test(sleep, sleep_until, .timeout = 30) { spt_run(1, main_until, NULL); }
