/*
 * spt.h - shared helpers for the spindle Criterion tests.
 *
 * Criterion's cr_assert longjmps back into the test's own thread, so it must
 * never be called from a worker thread or a task stack.  Code running inside
 * tasks uses CHECK* instead: a failed check is recorded (and printed to
 * stderr) and the test thread asserts that none failed once the runtime has
 * returned (spt_run does that for you; see ASSERT_NO_TASK_FAILURES).
 *
 * Waits are bounded: a test waits spt_patience_ns() for what should happen
 * at once (CHECK_SOON, ASSERT_SOON, spt_join_soon, spt_gather_soon) and then
 * fails saying what did not happen; the watchdog catches the rest.  Time is
 * asserted only where the feature is about time, with bounds that hold with
 * both cores busy (a sleep never ends early; "promptly" means well within
 * the patience, not within a few milliseconds).
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

/* ------------------------------------------------------- bounded waits */

/*
 * How long a test waits for something that should happen at once: a wakeup,
 * a cancel, a close.  Generous for a loaded 2-core machine and for
 * sanitizers, so it runs out only when the thing is not going to happen;
 * then the test fails within seconds, saying what did not happen, rather
 * than at Criterion's timeout with no message.
 */
static inline uint64_t spt_patience_ns(void) { return sanitized() ? SEC(10) : SEC(5); }
static inline double spt_patience_s(void) { return (double)spt_patience_ns() / 1e9; }

/* Polls cond every 200 us (sp_sleep: a park inside a task, nanosleep on a
 * plain thread) until it holds or `ns` pass; evaluates to its last value. */
#define SPT_AWAIT_NS(cond, ns)                                                   \
  ({                                                                             \
    uint64_t spt_end_ = mono_ns() + (ns);                                        \
    int spt_ok_;                                                                 \
    while (!(spt_ok_ = !!(cond)) && mono_ns() < spt_end_) (void)sp_sleep(US(200)); \
    spt_ok_;                                                                     \
  })
#define SPT_AWAIT(cond) SPT_AWAIT_NS(cond, spt_patience_ns())

static inline void __attribute__((format(printf, 3, 4)))
spt_fail_waited(const char *file, int line, const char *fmt, ...) {
  char msg[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  spt_fail(file, line, "%s (waited %.0f s)", msg, spt_patience_s());
}

/* In a task: waits up to spt_patience_ns() for cond; if it never holds,
 * records a failure with the message.  Evaluates to whether it held. */
#define CHECK_SOON(cond, ...)                                                    \
  ({                                                                             \
    int spt_held_ = SPT_AWAIT(cond);                                             \
    if (!spt_held_) spt_fail_waited(__FILE__, __LINE__, __VA_ARGS__);            \
    spt_held_;                                                                   \
  })

/* On the test thread: the same, as an assertion. */
#define ASSERT_SOON(cond, fmt, ...)                                              \
  cr_assert(SPT_AWAIT(cond), fmt " (waited %.0f s)", ##__VA_ARGS__, spt_patience_s())

/* Joins t from a task, waiting at most `ns` (a deadline scope: sp_join
 * then returns SP_ETIMEDOUT and keeps the handle).  Past that, records
 * "`what` did not end" first, then cancels t and waits for it to end.
 * Returns t's result. */
static inline void *spt_join_within_(const char *file, int line, sp_task *t, uint64_t ns, const char *what) {
  void *res = NULL;
  sp_deadline d;
  sp_deadline_push(&d, ns);
  int rc = sp_join(t, &res);
  sp_deadline_pop(&d);
  if (rc == SP_ETIMEDOUT) {
    spt_fail(file, line, "%s did not end within %.1f s (cancelling it)", what, (double)ns / 1e9);
    sp_cancel(t);
    rc = sp_join(t, &res);
  }
  if (rc != 0) spt_fail(file, line, "joining %s: %d (%s)", what, rc, sp_strerror(rc));
  return res;
}
#define spt_join_within(t, ns, what) spt_join_within_(__FILE__, __LINE__, (t), (ns), (what))
#define spt_join_soon(t, what) spt_join_within((t), spt_patience_ns(), (what))

/* Joins n tasks from a task (as sp_gather), waiting at most `ns` in all.
 * Past that, records "`what`: not all ended" first, then cancels the
 * rest and waits for them.  Returns 0, SP_ETIMEDOUT, or the first other
 * join status. */
static inline int spt_gather_within_(const char *file, int line, sp_task *const *ts, size_t n, void **results,
                                     uint64_t ns, const char *what) {
  sp_deadline d;
  sp_deadline_push(&d, ns);
  size_t i = 0;
  int rc = 0, first = 0;
  for (; i < n; i++) {
    rc = sp_join(ts[i], results ? &results[i] : NULL);
    if (rc == SP_ETIMEDOUT) break;
    if (rc && !first) first = rc;
  }
  sp_deadline_pop(&d);
  if (i == n) return first;
  spt_fail(file, line, "%s: not all %zu tasks ended within %.1f s (number %zu had not; cancelling the rest)", what,
           n, (double)ns / 1e9, i);
  for (size_t j = i; j < n; j++) sp_cancel(ts[j]);
  for (size_t j = i; j < n; j++) sp_join(ts[j], results ? &results[j] : NULL);
  return SP_ETIMEDOUT;
}
#define spt_gather_within(ts, n, results, ns, what) \
  spt_gather_within_(__FILE__, __LINE__, (ts), (n), (results), (ns), (what))
#define spt_gather_soon(ts, n, results, what) spt_gather_within((ts), (n), (results), spt_patience_ns(), (what))

/* Joins a plain thread, waiting at most `ns`: 0, or ETIMEDOUT (the thread
 * is left running; the caller must not free what it uses). */
static inline int spt_pthread_join_within(pthread_t th, void **res, uint64_t ns) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns;
  ts.tv_sec = (time_t)(at / 1000000000ull);
  ts.tv_nsec = (long)(at % 1000000000ull);
  return pthread_timedjoin_np(th, res, &ts);
}

typedef struct spt_far_join {
  sp_task *t;
  void *res;
  int rc;
} spt_far_join;

SPT_UNUSED static void *spt_far_join_main(void *arg) {
  spt_far_join *j = arg;
  j->rc = sp_join(j->t, &j->res);
  return NULL;
}

/* On a plain thread: sp_join(t), giving up after `ns`.  The join runs on a
 * helper thread, waited for with a timeout.  Returns sp_join's status, or
 * SP_ETIMEDOUT: then the helper stays blocked in the join and the handle
 * must not be used again. */
static inline int spt_join_from_thread_within(sp_task *t, void **res, uint64_t ns) {
  spt_far_join *j = calloc(1, sizeof *j);
  if (!j) return SP_ENOMEM;
  j->t = t;
  pthread_t th;
  if (pthread_create(&th, NULL, spt_far_join_main, j) != 0) {
    free(j);
    return SP_EAGAIN;
  }
  if (spt_pthread_join_within(th, NULL, ns) != 0) return SP_ETIMEDOUT; /* j stays with the helper */
  int rc = j->rc;
  if (res) *res = j->res;
  free(j);
  return rc;
}

/* ------------------------------------------------------------ watchdog */

/*
 * The last resort against a hang the bounded waits cannot catch (the test
 * thread itself blocked in sp_join or in sp_run): armed around such a call,
 * it prints what did not finish, the last step the test named with
 * spt_step() and the first failed check, then aborts the test's process.
 * One per process (Criterion runs each test in its own).
 */
static _Atomic uint64_t spt_wd_deadline SPT_UNUSED; /* mono_ns(); 0: disarmed */
static _Atomic uint64_t spt_wd_limit SPT_UNUSED;
static const char *_Atomic spt_wd_what SPT_UNUSED;
static const char *_Atomic spt_wd_step SPT_UNUSED;
static pthread_once_t spt_wd_once SPT_UNUSED = PTHREAD_ONCE_INIT;

/* Names what the test is about to wait for, for the watchdog's report. */
static inline void spt_step(const char *step) { atomic_store(&spt_wd_step, step); }

/* Where spt_run's main task is, for the watchdog's report. */
enum { SPT_MAIN_NONE, SPT_MAIN_SPAWNED, SPT_MAIN_RUNNING, SPT_MAIN_RETURNED };
static atomic_int spt_main_state SPT_UNUSED;
static const char *const spt_main_state_name[] SPT_UNUSED = {
    "", "; the main task never started (spawned from the test thread, no worker ran it)",
    "; the main task was running", "; the main task had returned, the runtime did not shut down"};

SPT_UNUSED static void *spt_wd_main(void *arg) {
  (void)arg;
  for (;;) {
    usleep(20000);
    uint64_t d = atomic_load(&spt_wd_deadline);
    if (!d || mono_ns() < d) continue;
    const char *step = atomic_load(&spt_wd_step);
    pthread_mutex_lock(&spt_fail_lock);
    fprintf(stderr,
            "spt watchdog: %s did not finish within %.0f s%s; last step: %s; failed checks: %d%s%s\n",
            atomic_load(&spt_wd_what), (double)atomic_load(&spt_wd_limit) / 1e9,
            spt_main_state_name[atomic_load(&spt_main_state)], step ? step : "(none named)",
            atomic_load(&spt_failures), atomic_load(&spt_failures) ? ", first: " : "", spt_first_failure);
    fflush(stderr);
    abort();
  }
  return NULL;
}

SPT_UNUSED static void spt_wd_start(void) {
  pthread_t th;
  if (pthread_create(&th, NULL, spt_wd_main, NULL) == 0) pthread_detach(th);
}

/* Arms the watchdog for `ns` unless it is armed already; returns whether
 * this call armed it (and so must disarm it). */
static inline int spt_watchdog_arm(const char *what, uint64_t ns) {
  pthread_once(&spt_wd_once, spt_wd_start);
  if (atomic_load(&spt_wd_deadline)) return 0;
  atomic_store(&spt_wd_what, what);
  atomic_store(&spt_wd_limit, ns);
  atomic_store(&spt_wd_deadline, mono_ns() + ns);
  return 1;
}
static inline void spt_watchdog_disarm(void) { atomic_store(&spt_wd_deadline, 0); }

/* ------------------------------------------------------------- running */

#ifdef SPT_RUN_LIMIT_S
static inline uint64_t spt_run_limit_ns(void) { return SEC(SPT_RUN_LIMIT_S) * (sanitized() ? 3 : 1); }
#endif

/* Runs fn(arg) as the main task of a runtime with `workers` workers, asserts
 * that the runtime ran and no in-task check failed; returns fn's result.
 * A file that defines SPT_RUN_LIMIT_S before including this header has the
 * watchdog abort the test, with a report, when the main task has not
 * returned within that many seconds (three times as many under sanitizers,
 * which on a loaded machine made 10,000 sleepers take 20 s). */
typedef struct spt_main_call {
  sp_task_fn fn;
  void *arg;
} spt_main_call;

SPT_UNUSED static void *spt_main_trampoline(void *arg) {
  spt_main_call *c = arg;
  atomic_store(&spt_main_state, SPT_MAIN_RUNNING);
  void *res = c->fn(c->arg);
  atomic_store(&spt_main_state, SPT_MAIN_RETURNED);
  return res;
}

static inline void *spt_run(unsigned workers, sp_task_fn fn, void *arg) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = workers;
  void *res = NULL;
  spt_main_call call = {fn, arg};
  atomic_store(&spt_main_state, SPT_MAIN_SPAWNED);
#ifdef SPT_RUN_LIMIT_S
  int armed = spt_watchdog_arm("spt_run", spt_run_limit_ns());
#endif
  int rc = sp_run_opts(&o, spt_main_trampoline, &call, &res);
#ifdef SPT_RUN_LIMIT_S
  if (armed) spt_watchdog_disarm();
#endif
  atomic_store(&spt_main_state, SPT_MAIN_NONE);
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
