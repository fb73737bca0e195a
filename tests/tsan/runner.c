/*
 * runner.c - the test runner behind tests/tsan/criterion/criterion.h: one
 * forked process per test, killed at its timeout, Criterion's output lines.
 * Options: --filter SUITE/NAME (a prefix match), --jobs N (accepted, tests
 * run one at a time).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criterion/criterion.h"

static struct crc_test *head, **tailp = &head;

void crc_register(struct crc_test *t) {
  t->next = NULL;
  *tailp = t;
  tailp = &t->next;
}

static struct crc_test *crc_current; /* in a test's process: its test */

void crc_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
  fprintf(stderr, "[----] %s:%d: Assertion failed: %s", file, line, expr);
  if (fmt && *fmt) {
    va_list ap;
    va_start(ap, fmt);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
  fflush(stderr);
  if (crc_current && crc_current->fini) crc_current->fini();
  fflush(NULL);
  _exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *filter = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--filter") && i + 1 < argc)
      filter = argv[++i];
    else if (!strncmp(argv[i], "--filter=", 9))
      filter = argv[i] + 9;
    else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
      i++;
    else if (strncmp(argv[i], "--jobs=", 7) && strncmp(argv[i], "-j", 2)) {
      fprintf(stderr, "usage: %s [--filter SUITE/NAME] [--jobs N]\n", argv[0]);
      return 2;
    }
  }
  int tested = 0, passed = 0, failed = 0, crashed = 0;
  for (struct crc_test *t = head; t; t = t->next) {
    char full[256];
    snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
    if (filter && strncmp(full, filter, strlen(filter))) continue;
    tested++;
    fflush(NULL);
    double start = now_s();
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) {
      if (t->timeout > 0) alarm((unsigned)(t->timeout + 0.999));
      crc_current = t;
      if (t->init) t->init();
      t->fn();
      if (t->fini) t->fini();
      fflush(NULL);
      _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
    }
    double took = now_s() - start;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      passed++;
      printf("[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, took);
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
      failed++;
      printf("[FAIL] %s::%s: Timed out. (%.2fs)\n", t->suite, t->name, took);
    } else if (WIFSIGNALED(st)) {
      crashed++;
      failed++;
      printf("[FAIL] %s::%s: CRASH! (signal %d)\n", t->suite, t->name, WTERMSIG(st));
    } else {
      failed++;
      printf("[FAIL] %s::%s: (exit %d)\n", t->suite, t->name, WEXITSTATUS(st));
    }
    fflush(stdout);
  }
  printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n", tested, passed,
         failed, crashed);
  return failed || !tested ? 1 : 0;
}
