/*
 * spindle-bench - micro-benchmarks of the runtime, one line per run:
 *
 *   name=NAME workers=N tasks=T wall_ns=W ns_per_op=X rss_kb=R ops=O impl=spindle [...]
 *
 * wall_ns covers the measured region only; ns_per_op = wall_ns / ops;
 * rss_kb is the process's peak RSS so far.  tools/bench/go/ has the same
 * benchmarks for goroutines and tools/bench/compare.sh runs both.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <spindle/spindle.h>

#include "context.h" /* the raw switch, for the `switch` benchmark */

typedef struct {
  const char *name;
  unsigned workers;
  long long iters, tasks, ms, yields, size, n;
} params;

typedef struct {
  long long tasks, ops;
  uint64_t wall_ns;
  char extra[96];
  const char *impl;
} result;

static long rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static void die(const char *what, int err) {
  fprintf(stderr, "spindle-bench: %s: %s\n", what, sp_strerror(err));
  exit(1);
}

static int run_main(const params *p, sp_task_fn fn, void *arg) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = p->workers;
  void *res;
  int err = sp_run_opts(&o, fn, arg, &res);
  if (err) die("runtime", err);
  return (int)(intptr_t)res;
}

/* ------------------------------------------------------------------ switch */

static void *sw_main_sp, *sw_co_sp;

static void sw_entry(void *arg, void *user) {
  (void)arg;
  long long n = *(long long *)user;
  for (long long i = 0; i < n; i++) sp__ctx_switch(&sw_co_sp, sw_main_sp, NULL);
  sp__ctx_switch(&sw_co_sp, sw_main_sp, NULL);
}

static result bench_switch(const params *p) {
  size_t sz = 64 * 1024;
  char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stk == MAP_FAILED) die("mmap", SP_ENOMEM);
  long long n = p->iters;
  sw_co_sp = sp__ctx_make(stk + sz, sw_entry, &n);
  sp__ctx_switch(&sw_main_sp, sw_co_sp, NULL); /* warm up: enter the loop */
  uint64_t t0 = sp_now_ns();
  for (long long i = 0; i < n; i++) sp__ctx_switch(&sw_main_sp, sw_co_sp, NULL);
  uint64_t t1 = sp_now_ns();
  munmap(stk, sz);
  return (result){2, n, t1 - t0, "", "spindle"};
}

#ifdef SPINDLE_BENCH_FCONTEXT
/* Boost.Context's jump_fcontext, the reference for a fast switch. */
typedef struct { void *fctx; void *data; } transfer_t;
extern transfer_t jump_fcontext(void *to, void *vp);
extern void *make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static void fc_entry(transfer_t t) {
  for (;;) t = jump_fcontext(t.fctx, NULL);
}

static result bench_switch_fcontext(const params *p) {
  size_t sz = 64 * 1024;
  char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stk == MAP_FAILED) die("mmap", SP_ENOMEM);
  void *ctx = make_fcontext(stk + sz, sz, fc_entry);
  transfer_t t = jump_fcontext(ctx, NULL);
  uint64_t t0 = sp_now_ns();
  for (long long i = 0; i < p->iters; i++) t = jump_fcontext(t.fctx, NULL);
  uint64_t t1 = sp_now_ns();
  munmap(stk, sz);
  return (result){2, p->iters, t1 - t0, "", "boost-fcontext"};
}
#endif

/* ------------------------------------------------------------------ sleep */

typedef struct {
  const params *p;
  uint64_t wall;
} ctx_t;

static void *sleeper(void *arg) { return (void *)(intptr_t)sp_sleep((uint64_t)(intptr_t)arg * 1000000u); }

static void *sleep_main(void *arg) {
  ctx_t *c = arg;
  long long n = c->p->tasks;
  sp_task **t = calloc((size_t)n, sizeof *t);
  if (!t) return (void *)(intptr_t)SP_ENOMEM;
  uint64_t t0 = sp_now_ns();
  for (long long i = 0; i < n; i++) {
    int err = sp_spawn(&t[i], sleeper, (void *)(intptr_t)c->p->ms);
    if (err) die("spawn", err);
  }
  int err = sp_gather(t, (size_t)n, NULL);
  c->wall = sp_now_ns() - t0;
  free(t);
  return (void *)(intptr_t)err;
}

static result bench_sleep(const params *p) {
  ctx_t c = {p, 0};
  int err = run_main(p, sleep_main, &c);
  if (err) die("sleep", err);
  result r = {p->tasks, p->tasks, c.wall, "", "spindle"};
  snprintf(r.extra, sizeof r.extra, "ms=%lld", p->ms);
  return r;
}

/* ------------------------------------------------------------- spawn-many */

static _Atomic long long spawned_done;
static sp_waitgroup spawn_wg;

static void *tiny(void *arg) {
  (void)arg;
  atomic_fetch_add_explicit(&spawned_done, 1, memory_order_relaxed);
  sp_wg_done(&spawn_wg);
  return NULL;
}

static result bench_spawn_many(const params *p) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = p->workers;
  sp_runtime *rt;
  int err = sp_runtime_new(&o, &rt);
  if (err) die("runtime", err);
  atomic_store(&spawned_done, 0);
  sp_wg_init(&spawn_wg);
  sp_wg_add(&spawn_wg, p->tasks);
  uint64_t t0 = sp_now_ns();
  for (long long i = 0; i < p->tasks; i++)
    if ((err = sp_runtime_spawn(rt, NULL, NULL, tiny, NULL))) die("spawn", err);
  sp_wg_wait(&spawn_wg); /* a foreign thread: blocks on a futex */
  uint64_t wall = sp_now_ns() - t0;
  sp_runtime_free(rt);
  if (atomic_load(&spawned_done) != p->tasks) die("spawn-many: lost tasks", SP_EINVAL);
  return (result){p->tasks, p->tasks, wall, "", "spindle"};
}

/* ------------------------------------------------------------- yield-many */

static void *yielder(void *arg) {
  long long n = (long long)(intptr_t)arg;
  for (long long i = 0; i < n; i++) sp_yield();
  return NULL;
}

static void *yield_main(void *arg) {
  ctx_t *c = arg;
  long long n = c->p->tasks;
  sp_task **t = calloc((size_t)n, sizeof *t);
  uint64_t t0 = sp_now_ns();
  for (long long i = 0; i < n; i++)
    if (sp_spawn(&t[i], yielder, (void *)(intptr_t)c->p->yields)) die("spawn", SP_ENOMEM);
  int err = sp_gather(t, (size_t)n, NULL);
  c->wall = sp_now_ns() - t0;
  free(t);
  return (void *)(intptr_t)err;
}

static result bench_yield_many(const params *p) {
  ctx_t c = {p, 0};
  if (run_main(p, yield_main, &c)) die("yield-many", SP_EINVAL);
  return (result){p->tasks, p->tasks * p->yields, c.wall, "", "spindle"};
}

/* -------------------------------------------------------------- ping-pong */

typedef struct {
  sp_chan *ping, *pong;
  long long n;
} pp_t;

static void *ponger(void *arg) {
  pp_t *pp = arg;
  long long v;
  for (long long i = 0; i < pp->n; i++) {
    if (sp_chan_recv(pp->ping, &v)) return (void *)1;
    v++;
    if (sp_chan_send(pp->pong, &v)) return (void *)1;
  }
  return NULL;
}

static void *pingpong_main(void *arg) {
  ctx_t *c = arg;
  pp_t pp = {NULL, NULL, c->p->iters};
  if (sp_chan_new(&pp.ping, sizeof(long long), 0) || sp_chan_new(&pp.pong, sizeof(long long), 0))
    die("chan", SP_ENOMEM);
  sp_task *t;
  uint64_t t0 = sp_now_ns();
  if (sp_spawn(&t, ponger, &pp)) die("spawn", SP_ENOMEM);
  long long v = 0, sum = 0;
  for (long long i = 0; i < pp.n; i++) {
    if (sp_chan_send(pp.ping, &v) || sp_chan_recv(pp.pong, &v)) die("ping-pong", SP_EINVAL);
    sum += v;
  }
  void *res;
  sp_join(t, &res);
  c->wall = sp_now_ns() - t0;
  sp_chan_free(pp.ping);
  sp_chan_free(pp.pong);
  if (res || v != pp.n) die("ping-pong: wrong result", SP_EINVAL);
  (void)sum;
  return NULL;
}

static result bench_ping_pong(const params *p) {
  ctx_t c = {p, 0};
  run_main(p, pingpong_main, &c);
  return (result){2, p->iters, c.wall, "", "spindle"};
}

/* ---------------------------------------------------------- chained-spawn */

static sp_event chain_done;

static void *chain(void *arg) {
  long long left = (long long)(intptr_t)arg;
  if (left == 0) {
    sp_event_set(&chain_done);
    return NULL;
  }
  int err = sp_spawn(NULL, chain, (void *)(intptr_t)(left - 1));
  if (err) die("spawn", err);
  return NULL;
}

static void *chain_main(void *arg) {
  ctx_t *c = arg;
  sp_event_init(&chain_done);
  uint64_t t0 = sp_now_ns();
  if (sp_spawn(NULL, chain, (void *)(intptr_t)(c->p->tasks - 1))) die("spawn", SP_ENOMEM);
  sp_event_wait(&chain_done);
  c->wall = sp_now_ns() - t0;
  return NULL;
}

static result bench_chained_spawn(const params *p) {
  ctx_t c = {p, 0};
  run_main(p, chain_main, &c);
  return (result){p->tasks, p->tasks, c.wall, "", "spindle"};
}

/* ----------------------------------------------------------------- skynet */

typedef struct {
  long long num, size;
} sky_arg;

static _Atomic long long sky_nodes;

static void *skynet(void *arg) {
  sky_arg a = *(sky_arg *)arg;
  atomic_fetch_add_explicit(&sky_nodes, 1, memory_order_relaxed);
  if (a.size == 1) return (void *)(intptr_t)a.num;
  sp_task *t[10];
  sky_arg args[10];
  long long sub = a.size / 10;
  for (int i = 0; i < 10; i++) {
    args[i] = (sky_arg){a.num + i * sub, sub};
    if (sp_spawn(&t[i], skynet, &args[i])) die("spawn", SP_ENOMEM);
  }
  long long sum = 0;
  for (int i = 0; i < 10; i++) {
    void *r;
    if (sp_join(t[i], &r)) die("join", SP_EINVAL);
    sum += (long long)(intptr_t)r;
  }
  return (void *)(intptr_t)sum;
}

typedef struct {
  ctx_t c;
  long long sum;
} sky_ctx;

static void *skynet_main(void *arg) {
  sky_ctx *s = arg;
  sky_arg a = {0, s->c.p->size};
  uint64_t t0 = sp_now_ns();
  s->sum = (long long)(intptr_t)skynet(&a);
  s->c.wall = sp_now_ns() - t0;
  return NULL;
}

static result bench_skynet(const params *p) {
  sky_ctx s = {{p, 0}, 0};
  atomic_store(&sky_nodes, 0);
  run_main(p, skynet_main, &s);
  long long expect = p->size * (p->size - 1) / 2;
  long long nodes = atomic_load(&sky_nodes);
  result r = {nodes, nodes, s.c.wall, "", "spindle"};
  snprintf(r.extra, sizeof r.extra, "result=%lld", s.sum);
  if (s.sum != expect) {
    printf("name=skynet error=wrong_result result=%lld expected=%lld\n", s.sum, expect);
    exit(1);
  }
  return r;
}

/* -------------------------------------------------------------------- fib */

static _Atomic long long fib_spawns;

static void *fib(void *arg) {
  long long n = (long long)(intptr_t)arg;
  if (n < 2) return (void *)(intptr_t)n;
  sp_task *t;
  if (sp_spawn(&t, fib, (void *)(intptr_t)(n - 1))) die("spawn", SP_ENOMEM);
  atomic_fetch_add_explicit(&fib_spawns, 1, memory_order_relaxed);
  long long b = (long long)(intptr_t)fib((void *)(intptr_t)(n - 2));
  void *a;
  if (sp_join(t, &a)) die("join", SP_EINVAL);
  return (void *)(intptr_t)((long long)(intptr_t)a + b);
}

typedef struct {
  ctx_t c;
  long long value;
} fib_ctx;

static void *fib_main(void *arg) {
  fib_ctx *f = arg;
  uint64_t t0 = sp_now_ns();
  f->value = (long long)(intptr_t)fib((void *)(intptr_t)f->c.p->n);
  f->c.wall = sp_now_ns() - t0;
  return NULL;
}

static result bench_fib(const params *p) {
  fib_ctx f = {{p, 0}, 0};
  atomic_store(&fib_spawns, 0);
  run_main(p, fib_main, &f);
  long long a = 0, b = 1;
  for (long long i = 0; i < p->n; i++) {
    long long c = a + b;
    a = b;
    b = c;
  }
  long long spawns = atomic_load(&fib_spawns);
  result r = {spawns, spawns, f.c.wall, "", "spindle"};
  snprintf(r.extra, sizeof r.extra, "n=%lld result=%lld", p->n, f.value);
  if (f.value != a) {
    printf("name=fib error=wrong_result result=%lld expected=%lld\n", f.value, a);
    exit(1);
  }
  return r;
}

/* ---------------------------------------------------------------- driver */

static void usage(FILE *f) {
  fprintf(f,
          "usage: spindle-bench NAME [--workers N] [--runs R] [options]\n"
          "  switch        [--iters N]            raw context-switch round trip (default 10000000)\n"
          "  sleep         [--tasks N] [--ms M]   N tasks sleep M ms, gathered (10000, 1000)\n"
          "  spawn-many    [--tasks N]            spawns from a thread outside the runtime (100000)\n"
          "  yield-many    [--tasks T] [--yields Y] T tasks yield Y times each (200, 1000)\n"
          "  ping-pong     [--iters N]            round trips over two rendezvous channels (1000000)\n"
          "  chained-spawn [--tasks N]            each task spawns the next (100000)\n"
          "  skynet        [--size N]             1M-leaf task tree, 10 children per node (1000000)\n"
          "  fib           [N]                    recursive fib, one spawn+join per call (30)\n"
          "Every run prints: name= workers= tasks= wall_ns= ns_per_op= rss_kb= ops= impl=\n");
}

static long long parse_num(const char *s, const char *what) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < 0) {
    fprintf(stderr, "spindle-bench: bad value for %s: '%s'\n", what, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  params p = {argv[1], 0, 10000000, 0, 1000, 1000, 1000000, 30};
  const char *name = argv[1];
  bool is_switch = !strcmp(name, "switch"), is_sleep = !strcmp(name, "sleep"),
       is_spawn = !strcmp(name, "spawn-many"), is_yield = !strcmp(name, "yield-many"),
       is_pp = !strcmp(name, "ping-pong"), is_chain = !strcmp(name, "chained-spawn"),
       is_sky = !strcmp(name, "skynet"), is_fib = !strcmp(name, "fib");
  if (!(is_switch || is_sleep || is_spawn || is_yield || is_pp || is_chain || is_sky || is_fib)) {
    fprintf(stderr, "spindle-bench: unknown benchmark '%s'\n", name);
    usage(stderr);
    return 2;
  }
  p.tasks = is_sleep ? 10000 : is_yield ? 200 : 100000;
  if (is_pp) p.iters = 1000000;
  long long runs = 1;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    char opt[32];
    if (!strncmp(a, "--", 2)) {
      const char *eq = strchr(a, '=');
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      if (len >= sizeof opt) len = sizeof opt - 1;
      memcpy(opt, a, len);
      opt[len] = 0;
      if (eq)
        v = eq + 1;
      else if (i + 1 < argc)
        v = argv[++i];
      else {
        fprintf(stderr, "spindle-bench: %s needs a value\n", opt);
        return 2;
      }
      bool ok = true;
      if (!strcmp(opt, "--workers")) p.workers = (unsigned)parse_num(v, opt);
      else if (!strcmp(opt, "--runs")) runs = parse_num(v, opt);
      else if (!strcmp(opt, "--iters") && (is_switch || is_pp)) p.iters = parse_num(v, opt);
      else if (!strcmp(opt, "--tasks") && (is_sleep || is_spawn || is_yield || is_chain)) p.tasks = parse_num(v, opt);
      else if (!strcmp(opt, "--ms") && is_sleep) p.ms = parse_num(v, opt);
      else if (!strcmp(opt, "--yields") && is_yield) p.yields = parse_num(v, opt);
      else if (!strcmp(opt, "--size") && is_sky) p.size = parse_num(v, opt);
      else ok = false;
      if (!ok) {
        fprintf(stderr, "spindle-bench: %s does not take %s\n", name, opt);
        return 2;
      }
    } else if (is_fib) {
      p.n = parse_num(a, "N");
      if (p.n > 60) {
        fprintf(stderr, "spindle-bench: fib N must be <= 60\n");
        return 2;
      }
    } else {
      fprintf(stderr, "spindle-bench: unexpected argument '%s'\n", a);
      return 2;
    }
  }
  if (is_sky) {
    long long s = p.size;
    while (s > 1 && s % 10 == 0) s /= 10;
    if (s != 1) {
      fprintf(stderr, "spindle-bench: skynet --size must be a power of 10\n");
      return 2;
    }
  }
  if (!p.workers) {
    sp_runtime *rt;
    if (sp_runtime_new(NULL, &rt) == 0) {
      p.workers = sp_runtime_workers(rt);
      sp_runtime_free(rt);
    }
  }
  for (long long r = 0; r < runs; r++) {
    result res;
    if (is_switch) res = bench_switch(&p);
    else if (is_sleep) res = bench_sleep(&p);
    else if (is_spawn) res = bench_spawn_many(&p);
    else if (is_yield) res = bench_yield_many(&p);
    else if (is_pp) res = bench_ping_pong(&p);
    else if (is_chain) res = bench_chained_spawn(&p);
    else if (is_sky) res = bench_skynet(&p);
    else res = bench_fib(&p);
    printf("name=%s workers=%u tasks=%lld wall_ns=%" PRIu64 " ns_per_op=%.2f rss_kb=%ld ops=%lld impl=%s%s%s\n",
           name, p.workers, res.tasks, res.wall_ns, res.ops ? (double)res.wall_ns / (double)res.ops : 0.0,
           rss_kb(), res.ops, res.impl, res.extra[0] ? " " : "", res.extra);
#ifdef SPINDLE_BENCH_FCONTEXT
    if (is_switch) {
      res = bench_switch_fcontext(&p);
      printf("name=switch-fcontext workers=%u tasks=2 wall_ns=%" PRIu64 " ns_per_op=%.2f rss_kb=%ld ops=%lld impl=%s\n",
             p.workers, res.wall_ns, (double)res.wall_ns / (double)res.ops, rss_kb(), res.ops, res.impl);
    }
#endif
    fflush(stdout);
  }
  return 0;
}
