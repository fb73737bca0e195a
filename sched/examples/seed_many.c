/*
 * seed-many [--tasks N] [--seconds S] [--workers W] - the seed tutorial's
 * third program: N tasks (default 10,000) each sleep S seconds (default 1),
 * all gathered.  They sleep at the same time, so the whole takes about S.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spindle/spindle.h>

static size_t ntasks = 10000;
static double secs = 1.0;

static void *sleeper(void *arg) {
  (void)arg;
  return (void *)(intptr_t)sp_sleep((uint64_t)(secs * 1e9));
}

static void *gather_all(void *arg) {
  (void)arg;
  sp_task **t = calloc(ntasks, sizeof *t);
  if (!t) return (void *)(intptr_t)SP_ENOMEM;
  size_t n = 0;
  int err = 0;
  for (; n < ntasks; n++)
    if ((err = sp_spawn(&t[n], sleeper, NULL))) break;
  int gerr = sp_gather(t, n, NULL);
  free(t);
  return (void *)(intptr_t)(err ? err : gerr);
}

static int usage(void) {
  fprintf(stderr, "usage: seed-many [--tasks N] [--seconds S] [--workers W]\n");
  return 2;
}

int main(int argc, char **argv) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  for (int i = 1; i < argc; i++) {
    char *end;
    if (i + 1 >= argc) return usage();
    if (!strcmp(argv[i], "--tasks")) {
      unsigned long long v = strtoull(argv[++i], &end, 10);
      if (*end || v == 0 || v > 100000000ull) return usage();
      ntasks = (size_t)v;
    } else if (!strcmp(argv[i], "--seconds")) {
      secs = strtod(argv[++i], &end);
      if (*end || secs < 0 || secs > 3600) return usage();
    } else if (!strcmp(argv[i], "--workers")) {
      unsigned long v = strtoul(argv[++i], &end, 10);
      if (*end || v == 0 || v > 1024) return usage();
      o.workers = (unsigned)v;
    } else {
      return usage();
    }
  }
  uint64_t start = sp_now_ns();
  void *res;
  int err = sp_run_opts(&o, gather_all, NULL, &res);
  if (!err) err = (int)(intptr_t)res;
  if (err) {
    fprintf(stderr, "seed-many: %s\n", sp_strerror(err));
    return 1;
  }
  printf("%zu tasks slept %g s each: done in %.3f s\n", ntasks, secs,
         (double)(sp_now_ns() - start) / 1e9);
  return 0;
}
