/* Uses an installed spindle: one task that sleeps 1 ms and returns 42. */
#include <spindle/spindle.h>

#include <stdint.h>
#include <stdio.h>

static void *sleepy(void *arg) {
  (void)arg;
  int rc = sp_sleep(1000000); /* 1 ms */
  if (rc != 0) {
    fprintf(stderr, "consumer: sp_sleep: %s\n", sp_strerror(rc));
    return NULL;
  }
  return (void *)(intptr_t)42;
}

int main(void) {
  void *result = NULL;
  int rc = sp_run(sleepy, NULL, &result);
  if (rc != 0) {
    fprintf(stderr, "consumer: sp_run: %s\n", sp_strerror(rc));
    return 1;
  }
  if ((intptr_t)result != 42) {
    fprintf(stderr, "consumer: the task returned %ld, not 42\n", (long)(intptr_t)result);
    return 1;
  }
  printf("consumer: spindle %s ok, the task returned 42\n", SPINDLE_VERSION_STRING);
  return 0;
}
