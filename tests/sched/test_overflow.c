/* test_overflow.c - a task overflowing its stack is caught and named, in every guard mode. */
#define _GNU_SOURCE
#include "spt.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ child side */

static volatile long depth_limit = LONG_MAX; /* never reached: the recursion is unbounded */
static volatile long max_depth_seen;

/* One ~1 KiB frame per level; the result is used after the call, so this
 * cannot become a loop.  With yield_each, every frame parks via sp_yield()
 * (a switch, where canary mode checks the stack). */
static __attribute__((noinline)) long recurse(long depth, int yield_each) {
  volatile char buf[1024];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(depth + (long)i);
  max_depth_seen = depth;
  if (yield_each) (void)sp_yield();
  if (depth >= depth_limit) return buf[7];
  return recurse(depth + 1, yield_each) + buf[depth & 1023];
}

static void *deep_task(void *arg) { return IPTR(recurse(0, (int)PINT(arg))); }

/* Uses about `arg` KiB of stack in 1 KiB frames, yielding at each, then returns. */
static __attribute__((noinline)) long bounded(long depth, long max) {
  volatile char buf[1024];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(depth + (long)i);
  (void)sp_yield();
  if (depth >= max) return buf[3];
  return bounded(depth + 1, max) + buf[depth & 1023];
}
static void *bounded_task(void *arg) { return IPTR(bounded(0, PINT(arg))); }

static atomic_int companion_stop;
static void *companion(void *arg) {
  (void)arg;
  while (!atomic_load(&companion_stop))
    if (sp_yield() != 0) break;
  return NULL;
}

typedef struct child_cfg {
  sp_task_fn fn;
  intptr_t arg;
} child_cfg;

static void *child_main(void *arg) {
  child_cfg *cfg = arg;
  /* a second runnable task, so that every sp_yield really switches */
  sp_task *c = NULL;
  if (sp_spawn(&c, companion, NULL) != 0) _exit(90);
  struct sp_spawn_opts o = {64 * 1024, "deep-recursion"};
  sp_task *t = NULL;
  int rc = sp_spawn_with(&t, &o, cfg->fn, IPTR(cfg->arg));
  if (rc != 0) {
    fprintf(stderr, "child: spawn failed: %s\n", sp_strerror(rc));
    _exit(91);
  }
  rc = sp_join(t, NULL);
  atomic_store(&companion_stop, 1);
  sp_join(c, NULL);
  fprintf(stderr, "child: task returned (join %d)\n", rc);
  return NULL;
}

/* Runs in the forked child: never returns. */
static void __attribute__((noreturn)) child_run(const char *guard, sp_task_fn fn, intptr_t arg) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  if (guard) setenv("SPINDLE_STACK_GUARD", guard, 1);
  else unsetenv("SPINDLE_STACK_GUARD");
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = 1;
  child_cfg cfg = {fn, arg};
  int rc = sp_run_opts(&o, child_main, &cfg, NULL);
  fprintf(stderr, "child: runtime returned %d, max depth %ld\n", rc, (long)max_depth_seen);
  fflush(stderr);
  _exit(rc == 0 ? 0 : 92);
}

/* ----------------------------------------------------------- parent side */

typedef struct child_result {
  int status;
  char err[1 << 16];
} child_result;

static void run_in_child(const char *guard, sp_task_fn fn, intptr_t arg, child_result *r) {
  memset(r, 0, sizeof *r);
  int p[2];
  cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    close(p[0]);
    dup2(p[1], STDERR_FILENO);
    child_run(guard, fn, arg);
  }
  close(p[1]);
  int timed_out;
  spt_collect(p[0], pid, r->err, sizeof r->err, mono_ns() + SEC(sanitized() ? 60 : 20), &timed_out);
  close(p[0]);
  waitpid(pid, &r->status, 0);
  cr_assert(!timed_out, "child (guard=%s) hung: neither overflow detection nor exit; stderr:\n%s",
            guard ? guard : "default", r->err);
}

static void expect_overflow_report(const char *guard, const child_result *r) {
  const char *g = guard ? guard : "default";
  cr_log_info("guard=%s: child status 0x%x, stderr:\n%s", g, r->status, r->err);
  int ours = strstr(r->err, "stack overflow") != NULL && strstr(r->err, "deep-recursion") != NULL;
  if (sanitized()) {
    /* a sanitizer may catch the overflow (or the fault) itself */
    int died = WIFSIGNALED(r->status) || (WIFEXITED(r->status) && WEXITSTATUS(r->status) != 0);
    int asan = strstr(r->err, "stack-overflow") != NULL;
    cr_assert(died, "guard=%s: child survived a stack overflow (status 0x%x); stderr:\n%s", g, r->status, r->err);
    cr_assert(ours || asan, "guard=%s: child died without naming the overflow; stderr:\n%s", g, r->err);
    return;
  }
  cr_assert(WIFSIGNALED(r->status), "guard=%s: child was not killed by a signal (status 0x%x); stderr:\n%s", g,
            r->status, r->err);
  int sig = WTERMSIG(r->status);
  cr_assert(sig == SIGABRT || sig == SIGSEGV, "guard=%s: child died of signal %d (%s); stderr:\n%s", g, sig,
            strsignal(sig), r->err);
  cr_assert(strstr(r->err, "stack overflow") != NULL, "guard=%s: stderr lacks \"stack overflow\":\n%s", g, r->err);
  cr_assert(strstr(r->err, "deep-recursion") != NULL, "guard=%s: stderr lacks the task name \"deep-recursion\":\n%s",
            g, r->err);
}

static child_result res; /* 64 KiB: keep it off the test's stack */

/* Default guard: unbounded recursion on a 64 KiB stack dies by signal, naming the task. */
Test(overflow, default_guard, .timeout = 90) {
  run_in_child(NULL, deep_task, 0, &res);
  expect_overflow_report(NULL, &res);
}

/* SPINDLE_STACK_GUARD=mprotect: the same overflow is caught and named. */
Test(overflow, mprotect_guard, .timeout = 90) {
  run_in_child("mprotect", deep_task, 0, &res);
  expect_overflow_report("mprotect", &res);
}

/* SPINDLE_STACK_GUARD=canary: a task that overruns its stack bottom by < 4 KiB and then
 * parks via sp_yield() is caught at that switch and named. */
Test(overflow, canary_guard, .timeout = 90) {
  run_in_child("canary", deep_task, 1, &res);
  expect_overflow_report("canary", &res);
}

/* No false positives: 40 KiB of a 64 KiB stack, yielding at every frame, exits cleanly in each mode. */
Test(overflow, no_false_positive, .timeout = 90) {
  const char *modes[] = {NULL, "mprotect", "canary"};
  for (int i = 0; i < 3; i++) {
    run_in_child(modes[i], bounded_task, 40, &res);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0,
              "guard=%s: a task using 40 KiB of 64 KiB failed (status 0x%x); stderr:\n%s",
              modes[i] ? modes[i] : "default", res.status, res.err);
    cr_assert(strstr(res.err, "stack overflow") == NULL, "guard=%s: false overflow report:\n%s",
              modes[i] ? modes[i] : "default", res.err);
  }
}
