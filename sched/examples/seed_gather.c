/*
 * seed-gather [SCALE] - the seed tutorial's second program: two coroutines
 * gathered.  Coroutine 1 waits 5 s and coroutine 2 waits 4 s; both wait at
 * the same time, so the whole takes 5 s, not 9.  SCALE (default 1) shrinks
 * the waits for tests; the printed texts stay those of the seed.
 *
 * Like asyncio's loop it runs on one worker, which fixes the order in which
 * the two start; with more workers they would start in parallel.
 */
#include <stdio.h>

#include <spindle/spindle.h>

static double scale = 1.0;

static void *coroutine_1(void *arg) {
  (void)arg;
  printf("coroutine 1 start\n");
  printf("coroutine 1 paused, waiting 5 s\n");
  fflush(stdout);
  sp_sleep((uint64_t)(5e9 * scale));
  printf("coroutine 1 resumed\n");
  fflush(stdout);
  return NULL;
}

static void *coroutine_2(void *arg) {
  (void)arg;
  printf("coroutine 2 start\n");
  printf("coroutine 2 paused, waiting 4 s\n");
  fflush(stdout);
  sp_sleep((uint64_t)(4e9 * scale));
  printf("coroutine 2 resumed\n");
  fflush(stdout);
  return NULL;
}

static void *gather_both(void *arg) {
  (void)arg;
  sp_task *t[2];
  int err = sp_spawn(&t[0], coroutine_1, NULL);
  if (!err) err = sp_spawn(&t[1], coroutine_2, NULL);
  if (!err) err = sp_gather(t, 2, NULL);
  return (void *)(intptr_t)err;
}

int main(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && (sscanf(argv[1], "%lf", &scale) != 1 || scale <= 0 || scale > 100))) {
    fprintf(stderr, "usage: seed-gather [SCALE]   (0 < SCALE <= 100, default 1)\n");
    return 2;
  }
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = 1;
  uint64_t start = sp_now_ns();
  void *res;
  int err = sp_run_opts(&o, gather_both, NULL, &res);
  if (!err) err = (int)(intptr_t)res;
  if (err) {
    fprintf(stderr, "seed-gather: %s\n", sp_strerror(err));
    return 1;
  }
  printf("time taken: %.3f s\n", (double)(sp_now_ns() - start) / 1e9);
  return 0;
}
