/*
 * spt_internal.h - white-box helpers for the scheduler tests: what the
 * runtime's own state says about tasks and workers.  A test that must act
 * while a task is parked (cancel it, close the channel it waits on, hand it
 * a unit) waits until the task really is parked, instead of sleeping a few
 * milliseconds and hoping: on a loaded machine the task may not have run yet.
 */
#ifndef SPINDLE_TESTS_SPT_INTERNAL_H
#define SPINDLE_TESTS_SPT_INTERNAL_H

#include "spt.h"

#include "internal.h"

/* Whether t has switched out in a park that no waker has ended yet. */
static inline int spt_parked(sp_task *t) { return atomic_load(&t->state) == SP_TS_PARKED; }

static inline int spt_count_parked(sp_task *const *ts, int n) {
  int k = 0;
  for (int i = 0; i < n; i++) k += spt_parked(ts[i]);
  return k;
}

/* In a task: waits until all n tasks are parked; otherwise records a
 * failure naming `what`.  Evaluates to whether they all parked. */
#define CHECK_PARKED(ts, n, what)                                                              \
  CHECK_SOON(spt_count_parked((ts), (n)) == (n), "%s: %d of %d tasks parked", (what),          \
             spt_count_parked((ts), (n)), (n))

/* Whether every worker of rt is parked in its poll loop, with nothing to do. */
static inline int spt_all_workers_parked(sp_runtime *rt) {
  for (unsigned i = 0; i < rt->nworkers; i++)
    if (atomic_load(&rt->workers[i]->wstate) != SP_WS_PARKED) return 0;
  return 1;
}

/* The number of workers of rt parked in their poll loops. */
static inline int spt_workers_parked(sp_runtime *rt) {
  int k = 0;
  for (unsigned i = 0; i < rt->nworkers; i++) k += atomic_load(&rt->workers[i]->wstate) == SP_WS_PARKED;
  return k;
}

#endif
