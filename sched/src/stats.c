/* stats.c - reading and printing the per-worker counters. */
#include "internal.h"

int sp_runtime_stats(const sp_runtime *rt, unsigned w, sp_worker_stats *out) {
  if (!rt || !out || w >= rt->nworkers) return SP_EINVAL;
  const sp__stats *s = &rt->workers[w]->stats;
  uint64_t v[12];
  for (int i = 0; i < 12; i++) v[i] = atomic_load_explicit(&s->v[i], memory_order_relaxed);
  *out = (sp_worker_stats){v[ST_TASKS_RUN], v[ST_SPAWNS],     v[ST_STEALS],      v[ST_STEAL_OPS],
                           v[ST_PARKS],     v[ST_WAKEUPS],    v[ST_GLOBAL_POLLS], v[ST_TIMER_FIRES],
                           v[ST_IO_EVENTS], v[ST_LIFO_RUNS],  v[ST_OVERFLOWS],   v[ST_TAKEOVERS]};
  return 0;
}

void sp_runtime_print_stats(const sp_runtime *rt, FILE *f) {
  for (unsigned i = 0; i < rt->nworkers; i++) {
    sp_worker_stats s;
    sp_runtime_stats(rt, i, &s);
    fprintf(f,
            "spindle: worker=%u tasks_run=%llu spawns=%llu steals=%llu steal_ops=%llu parks=%llu "
            "wakeups=%llu global_polls=%llu timer_fires=%llu io_events=%llu lifo_runs=%llu "
            "overflows=%llu takeovers=%llu\n",
            i, (unsigned long long)s.tasks_run, (unsigned long long)s.spawns,
            (unsigned long long)s.steals, (unsigned long long)s.steal_ops,
            (unsigned long long)s.parks, (unsigned long long)s.wakeups,
            (unsigned long long)s.global_polls, (unsigned long long)s.timer_fires,
            (unsigned long long)s.io_events, (unsigned long long)s.lifo_runs,
            (unsigned long long)s.overflows, (unsigned long long)s.takeovers);
  }
}
