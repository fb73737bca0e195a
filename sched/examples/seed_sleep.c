/*
 * seed-sleep [SECONDS] - the seed tutorial's first program:
 *
 *   async def sleep(): await asyncio.sleep(10)
 *   loop.run_until_complete(sleep()); print(f"{end - start}s")
 *
 * One task parks for SECONDS (default 10) and the elapsed time is printed.
 */
#include <stdio.h>
#include <stdlib.h>

#include <spindle/spindle.h>

static void *sleeper(void *arg) {
  double secs = *(double *)arg;
  int err = sp_sleep((uint64_t)(secs * 1e9));
  if (err) fprintf(stderr, "seed-sleep: sleep failed: %s\n", sp_strerror(err));
  return NULL;
}

int main(int argc, char **argv) {
  double secs = 10;
  if (argc > 2 || (argc == 2 && (sscanf(argv[1], "%lf", &secs) != 1 || secs < 0 || secs > 86400))) {
    fprintf(stderr, "usage: seed-sleep [SECONDS]   (0..86400, default 10)\n");
    return 2;
  }
  uint64_t start = sp_now_ns();
  int err = sp_run(sleeper, &secs, NULL);
  if (err) {
    fprintf(stderr, "seed-sleep: %s\n", sp_strerror(err));
    return 1;
  }
  printf("%.3f s\n", (double)(sp_now_ns() - start) / 1e9);
  return 0;
}
