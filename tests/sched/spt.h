/*
 * spt.h - shared helpers for the spindle Criterion tests.
 *
 * Criterion's cr_assert longjmps back into the test's own thread, so it must
 * never be called from a worker thread or a task stack.  Code running inside
 * tasks uses CHECK* instead: a failed check is recorded (and printed to
 * stderr) and the test thread asserts that none failed once the runtime has
 * returned (spt_run does that for you; see ASSERT_NO_TASK_FAILURES).
 *
 * Every test file must define _GNU_SOURCE before including anything.
 */
#ifndef SPINDLE_TESTS_SPT_H
#define SPINDLE_TESTS_SPT_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spindle/spindle.h>

#define SPT_UNUSED __attribute__((unused))

#define US(x) ((uint64_t)(x) * 1000ull)
#define MS(x) ((uint64_t)(x) * 1000000ull)
#define SEC(x) ((uint64_t)(x) * 1000000000ull)

/* Non-zero when the tests were built with a sanitizer (SPINDLE_SANITIZE set). */
static inline int sanitized(void) {
  const char *s = getenv("SPINDLE_SANITIZE");
  return s != NULL && s[0] != '\0';
}

/* Iteration multiplier: 10 normally, 1 under sanitizers. */
static inline int scale(void) { return sanitized() ? 1 : 10; }

/* CLOCK_MONOTONIC in ns, independent of the library under test. */
static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double ms_since(uint64_t t0) { return (double)(mono_ns() - t0) / 1e6; }

/* Burns CPU for about ns nanoseconds without parking or yielding. */
static inline uint64_t spin_ns(uint64_t ns) {
  uint64_t end = mono_ns() + ns;
  volatile uint64_t acc = 1;
  while (mono_ns() < end)
    for (int i = 0; i < 256; i++) acc = acc * 6364136223846793005ull + 1442695040888963407ull;
  return acc;
}

/* ----------------------------------------------- checks usable in tasks */

static pthread_mutex_t spt_fail_lock SPT_UNUSED = PTHREAD_MUTEX_INITIALIZER;
static atomic_int spt_failures SPT_UNUSED;
static char spt_first_failure[1024] SPT_UNUSED;

static inline void __attribute__((format(printf, 3, 4)))
spt_fail(const char *file, int line, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&spt_fail_lock);
  int n = atomic_fetch_add(&spt_failures, 1);
  if (n == 0) snprintf(spt_first_failure, sizeof spt_first_failure, "%s:%d: %s", file, line, msg);
  pthread_mutex_unlock(&spt_fail_lock);
  if (n < 20) fprintf(stderr, "CHECK FAILED %s:%d: %s\n", file, line, msg);
}

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) spt_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);    \
  } while (0)

#define CHECKF(cond, ...)                                                    \
  do {                                                                       \
    if (!(cond)) spt_fail(__FILE__, __LINE__, __VA_ARGS__);                  \
  } while (0)

#define CHECK_EQ(a, b)                                                       \
  do {                                                                       \
    long long spt_a_ = (long long)(a), spt_b_ = (long long)(b);              \
    if (spt_a_ != spt_b_)                                                    \
      spt_fail(__FILE__, __LINE__, "%s == %s: got %lld, expected %lld", #a,  \
               #b, spt_a_, spt_b_);                                          \
  } while (0)

/* Checks a spindle status code and names both codes on a mismatch. */
#define CHECK_RC(expr, want)                                                 \
  do {                                                                       \
    int spt_g_ = (expr), spt_w_ = (want);                                    \
    if (spt_g_ != spt_w_)                                                    \
      spt_fail(__FILE__, __LINE__, "%s: got %d (%s), expected %d (%s)",     \
               #expr, spt_g_, sp_strerror(spt_g_), spt_w_,                   \
               sp_strerror(spt_w_));                                         \
  } while (0)

/* On the test thread: fails the test if any CHECK inside a task failed. */
#define ASSERT_NO_TASK_FAILURES()                                            \
  cr_assert_eq(atomic_load(&spt_failures), 0,                               \
               "%d check(s) failed inside tasks/threads; first: %s",         \
               atomic_load(&spt_failures), spt_first_failure)

/* Asserts on the test thread that a spindle call returned `want`. */
#define ASSERT_RC(expr, want)                                                \
  do {                                                                       \
    int spt_g_ = (expr), spt_w_ = (want);                                    \
    cr_assert_eq(spt_g_, spt_w_, "%s: got %d (%s), expected %d (%s)", #expr, \
                 spt_g_, sp_strerror(spt_g_), spt_w_, sp_strerror(spt_w_));  \
  } while (0)

/* ------------------------------------------------------------- running */

/* Runs fn(arg) as the main task of a runtime with `workers` workers, asserts
 * that the runtime ran and no in-task check failed; returns fn's result. */
static inline void *spt_run(unsigned workers, sp_task_fn fn, void *arg) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = workers;
  void *res = NULL;
  int rc = sp_run_opts(&o, fn, arg, &res);
  cr_assert_eq(rc, 0, "sp_run_opts(workers=%u) = %d (%s)", workers, rc, sp_strerror(rc));
  ASSERT_NO_TASK_FAILURES();
  return res;
}

/* Spawns from inside a task; a failed spawn is fatal (there is no handle to
 * continue with), so it is reported and the process aborts. */
static inline sp_task *spt_spawn_named(const char *what, sp_task_fn fn, void *arg,
                                       const struct sp_spawn_opts *opts) {
  sp_task *t = NULL;
  int rc = opts ? sp_spawn_with(&t, opts, fn, arg) : sp_spawn(&t, fn, arg);
  if (rc != 0 || t == NULL) {
    spt_fail(__FILE__, __LINE__, "spawn %s: %d (%s), handle %p", what, rc, sp_strerror(rc), (void *)t);
    fprintf(stderr, "aborting: cannot continue without a task handle\n");
    abort();
  }
  return t;
}
#define SPAWN(fn, arg) spt_spawn_named(#fn, (fn), (void *)(intptr_t)(arg), NULL)
#define SPAWN_OPTS(opts, fn, arg) spt_spawn_named(#fn, (fn), (void *)(intptr_t)(arg), (opts))

/* Joins from inside a task, checking the status; returns the result. */
static inline void *spt_join(sp_task *t) {
  void *res = NULL;
  CHECK_RC(sp_join(t, &res), 0);
  return res;
}

#define IPTR(x) ((void *)(intptr_t)(x))
#define PINT(p) ((intptr_t)(p))

/* ------------------------------------------------ running programs */

/* What a program run by spt_run_prog printed and how it ended. */
typedef struct spt_prog {
  char out[1 << 16]; /* stdout, NUL-terminated (cut at 64 KiB) */
  size_t len;
  int status;    /* waitpid status */
  double wall_s; /* wall time as seen from here */
} spt_prog;

/* Reads fd (a child's output) into buf, NUL-terminated, until end of file,
 * a full buffer or limit (mono_ns()); at the limit kills pid and sets
 * *timed_out.  Returns the bytes read. */
SPT_UNUSED static size_t spt_collect(int fd, pid_t pid, char *buf, size_t cap, uint64_t limit, int *timed_out) {
  size_t len = 0;
  *timed_out = 0;
  for (;;) {
    uint64_t now = mono_ns();
    if (now >= limit) {
      *timed_out = 1;
      kill(pid, SIGKILL);
      break;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)((limit - now) / 1000000 + 1)) <= 0) continue;
    ssize_t k = read(fd, buf + len, cap - 1 - len);
    if (k <= 0 || (len += (size_t)k) == cap - 1) break;
  }
  buf[len] = '\0';
  return len;
}

/* Path of a program built into $SPINDLE_BIN_DIR (the examples); asserts it
 * exists.  Test thread only. */
SPT_UNUSED static void spt_bin_path(char *buf, size_t cap, const char *name) {
  const char *dir = getenv("SPINDLE_BIN_DIR");
  cr_assert_not_null(dir, "SPINDLE_BIN_DIR is not set (run the tests through ctest)");
  snprintf(buf, cap, "%s/%s", dir, name);
  cr_assert_eq(access(buf, X_OK), 0, "program %s is missing or not executable", buf);
}

/* Runs argv (argv[0] a path) with stdout captured; kills it and fails the
 * test if it runs past timeout_s.  The exit status is the caller's to
 * check.  Test thread only. */
SPT_UNUSED static void spt_run_prog(char *const argv[], spt_prog *r, int timeout_s) {
  memset(r, 0, sizeof *r);
  int p[2];
  cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
  uint64_t t0 = mono_ns();
  pid_t pid = fork();
  cr_assert_neq(pid, -1, "fork failed");
  if (pid == 0) {
    dup2(p[1], STDOUT_FILENO);
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  int timed_out;
  r->len = spt_collect(p[0], pid, r->out, sizeof r->out, t0 + SEC(timeout_s), &timed_out);
  close(p[0]);
  waitpid(pid, &r->status, 0);
  r->wall_s = (double)(mono_ns() - t0) / 1e9;
  cr_assert(!timed_out, "%s timed out after %d s; output so far:\n%s", argv[0], timeout_s, r->out);
}

#endif
