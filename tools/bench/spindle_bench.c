/*
 * spindle-bench - micro-benchmarks of the runtime, one line per run:
 *
 *   name=NAME workers=N tasks=T wall_ns=W ns_per_op=X rss_kb=R ops=O impl=spindle [...]
 *
 * wall_ns covers the measured region only; ns_per_op = wall_ns / ops;
 * rss_kb is the process's peak RSS so far.  tools/bench/go/ has the same
 * benchmarks for goroutines and tools/bench/compare.sh runs both.
 *
 * The I/O benchmarks (http-get, resolve) need a server: tools/bench/io_compare.sh
 * starts nginx and dnsmasq on loopback and runs them beside wrk, curl
 * --parallel and getaddrinfo (tools/bench/gai_bench.c).
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spindle/spindle.h>

#include "context.h" /* the raw switch, for the `switch` benchmark */

typedef struct {
  const char *name;
  unsigned workers;
  long long iters, tasks, ms, yields, size, n;
  /* http-get, resolve */
  const char *url, *dns_server;
  long long concurrency, requests, timeout_s, names, lookups;
  int family;
  bool no_cache;
} params;

typedef struct {
  long long tasks, ops;
  uint64_t wall_ns;
  char extra[448];
  const char *impl;
} result;

/* The exit status: set to 1 when a run failed but still printed its line
 * (http-get and resolve count failed operations). */
static int bench_status;

static long rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Open file descriptors of this process (entries of /proc/self/fd, less the
 * one reading the directory), or -1 if it cannot be read. */
static long count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  long n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

/* The current (not peak) resident set, in KiB, or -1. */
static long rss_now_kb(void) {
  FILE *f = fopen("/proc/self/statm", "re");
  if (!f) return -1;
  long pages = -1, resident = -1;
  int got = fscanf(f, "%ld %ld", &pages, &resident);
  fclose(f);
  if (got != 2) return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Bytes the allocator has handed out and not got back, in KiB (glibc), or -1:
 * unlike RSS, this falls back when everything allocated is freed. */
static long heap_kb(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  return (long)((mi.uordblks + mi.hblkhd) / 1024);
#else
  return -1;
#endif
}

/* Gives the allocator's free memory back to the system (glibc keeps what the
 * worker threads' arenas freed) and returns the RSS then, in KiB, or -1. */
static long rss_trimmed_kb(void) {
#ifdef __GLIBC__
  malloc_trim(0);
  return rss_now_kb();
#else
  return -1;
#endif
}

/* Raises the soft limit on open files to the hard limit (10,000 concurrent
 * transfers need 10,000 sockets). */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("spindle-bench: setrlimit(RLIMIT_NOFILE)");
  }
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

/* --------------------------------------------------------------- http-get */

/* Errors of the I/O benchmarks: counted; the first one's message is kept. */
typedef struct {
  _Atomic long long count;
  _Atomic int claimed;
  char first[384];
} errlog;

#define IO_MAX_ERRORS 100 /* the tasks stop taking new operations after this many */

static void errlog_add(errlog *l, const char *fmt, ...) {
  atomic_fetch_add_explicit(&l->count, 1, memory_order_relaxed);
  int no = 0;
  if (!atomic_compare_exchange_strong(&l->claimed, &no, 1)) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->first, sizeof l->first, fmt, ap);
  va_end(ap);
}

static bool errlog_full(errlog *l) {
  return atomic_load_explicit(&l->count, memory_order_relaxed) >= IO_MAX_ERRORS;
}

typedef struct {
  const params *p;
  _Atomic long long next; /* index of the next operation to start */
  _Atomic long long done; /* operations finished, failed or not */
  _Atomic long long inflight, max_inflight; /* operations started and not finished */
  errlog errs;
  uint64_t wall;
  sp_http_stats hs;
  sp_dns_stats ds;
} io_ctx;

/* Takes the next operation's index, or -1 when all are taken (or too many
 * failed). */
static long long io_take(io_ctx *c, long long total) {
  if (errlog_full(&c->errs)) return -1;
  long long i = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
  return i < total ? i : -1;
}

/* The in-flight gauge: its peak says how many operations really overlapped. */
static void io_begin(io_ctx *c) {
  long long n = atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed) + 1;
  long long m = atomic_load_explicit(&c->max_inflight, memory_order_relaxed);
  while (n > m && !atomic_compare_exchange_weak_explicit(&c->max_inflight, &m, n, memory_order_relaxed,
                                                         memory_order_relaxed)) {
  }
}

static void io_end(io_ctx *c) {
  atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->done, 1, memory_order_relaxed);
}

static void *http_client(void *arg) {
  io_ctx *c = arg;
  sp_http_request req;
  sp_http_request_init(&req);
  req.url = c->p->url;
  req.timeout_ns = (uint64_t)c->p->timeout_s * 1000000000u;
  for (long long i; (i = io_take(c, c->p->requests)) >= 0;) {
    io_begin(c);
    sp_http_response resp;
    int err = sp_http_fetch(&req, &resp);
    if (err)
      errlog_add(&c->errs, "request %lld: %s: %s", i, sp_strerror(err), resp.error[0] ? resp.error : "-");
    else if (resp.status != 200)
      errlog_add(&c->errs, "request %lld: HTTP status %ld (expected 200)", i, resp.status);
    sp_http_response_free(&resp);
    io_end(c);
  }
  return NULL;
}

/* Spawns min(concurrency, total) copies of fn and gathers them; c->wall
 * covers both. */
static int io_spawn_gather(io_ctx *c, sp_task_fn fn, long long total) {
  long long n = c->p->concurrency < total ? c->p->concurrency : total;
  sp_task **t = calloc((size_t)n, sizeof *t);
  if (!t) return SP_ENOMEM;
  uint64_t t0 = sp_now_ns();
  long long spawned = 0;
  int err = 0;
  for (; spawned < n; spawned++)
    if ((err = sp_spawn(&t[spawned], fn, c))) break;
  int gerr = sp_gather(t, (size_t)spawned, NULL);
  c->wall = sp_now_ns() - t0;
  free(t);
  if (err) {
    fprintf(stderr, "spindle-bench: spawned only %lld of %lld tasks: %s\n", spawned, n, sp_strerror(err));
    return err;
  }
  return gerr;
}

/* --dns-server: the runtime's resolver asks IP:PORT (0, or an error). */
static int io_set_dns(const params *p) {
  if (!p->dns_server) return 0;
  int err = sp_dns_set_servers(sp_runtime_current(), p->dns_server);
  if (err) fprintf(stderr, "spindle-bench: --dns-server '%s': %s\n", p->dns_server, sp_strerror(err));
  return err;
}

static void *http_main(void *arg) {
  io_ctx *c = arg;
  int err = io_set_dns(c->p);
  if (err) return (void *)(intptr_t)err;
  err = io_spawn_gather(c, http_client, c->p->requests);
  sp_http_get_stats(sp_runtime_current(), &c->hs);
  return (void *)(intptr_t)err;
}

static result bench_http_get(const params *p) {
  io_ctx *c = calloc(1, sizeof *c);
  if (!c) die("http-get", SP_ENOMEM);
  c->p = p;
  long fds_before = count_fds(), rss_before = rss_now_kb(), heap_before = heap_kb();
  int err = run_main(p, http_main, c); /* the runtime is freed when it returns */
  long fds_after = count_fds(), rss_after = rss_now_kb(), heap_after = heap_kb();
  long rss_trimmed = rss_trimmed_kb(); /* last: it changes the RSS */
  if (err) die("http-get", err);
  long long ops = atomic_load(&c->done), errors = atomic_load(&c->errs.count);
  result r = {p->concurrency < p->requests ? p->concurrency : p->requests, ops, c->wall, "", "spindle"};
  snprintf(r.extra, sizeof r.extra,
           "rps=%.0f errors=%lld max_inflight=%lld fds_before=%ld fds_after=%ld rss_before_kb=%ld rss_after_kb=%ld "
           "rss_trimmed_kb=%ld heap_before_kb=%ld heap_after_kb=%ld transfers=%" PRIu64 " reused=%" PRIu64
           " easy_handles=%" PRIu64,
           c->wall ? (double)ops * 1e9 / (double)c->wall : 0.0, errors, atomic_load(&c->max_inflight), fds_before,
           fds_after, rss_before, rss_after, rss_trimmed, heap_before, heap_after, c->hs.transfers, c->hs.reused,
           c->hs.handles);
  if (errors) {
    fprintf(stderr, "spindle-bench: http-get: %lld of %lld requests failed%s; first: %s\n", errors, ops,
            errors >= IO_MAX_ERRORS ? " (stopped early)" : "", c->errs.first);
    bench_status = 1;
  }
  free(c);
  return r;
}

/* ---------------------------------------------------------------- resolve */

static void *dns_client(void *arg) {
  io_ctx *c = arg;
  const params *p = c->p;
  uint64_t timeout = p->timeout_s ? (uint64_t)p->timeout_s * 1000000000u : UINT64_MAX;
  char name[64];
  for (long long i; (i = io_take(c, p->lookups)) >= 0;) {
    long long k = i % p->names;
    /* --no-cache: each round over the names starts from an empty cache, so
     * every lookup of the round asks the server. */
    if (p->no_cache && k == 0) sp_dns_cache_clear(sp_runtime_current());
    snprintf(name, sizeof name, "n%lld.bench.test", k);
    sp_addrlist *l = NULL;
    io_begin(c);
    int err = sp_resolve(name, 80, p->family, timeout, &l);
    if (err)
      errlog_add(&c->errs, "lookup %lld of %s: %s", i, name, sp_strerror(err));
    else if (l->n == 0)
      errlog_add(&c->errs, "lookup %lld of %s: no addresses", i, name);
    sp_addrlist_free(l);
    io_end(c);
  }
  return NULL;
}

static void *dns_main(void *arg) {
  io_ctx *c = arg;
  sp_runtime *rt = sp_runtime_current();
  int err = io_set_dns(c->p);
  if (err) return (void *)(intptr_t)err;
  err = io_spawn_gather(c, dns_client, c->p->lookups);
  sp_dns_get_stats(rt, &c->ds);
  return (void *)(intptr_t)err;
}

static result bench_resolve(const params *p) {
  io_ctx *c = calloc(1, sizeof *c);
  if (!c) die("resolve", SP_ENOMEM);
  c->p = p;
  int err = run_main(p, dns_main, c);
  if (err) die("resolve", err);
  long long ops = atomic_load(&c->done), errors = atomic_load(&c->errs.count);
  result r = {p->concurrency < p->lookups ? p->concurrency : p->lookups, ops, c->wall, "", "spindle"};
  snprintf(r.extra, sizeof r.extra,
           "lps=%.0f errors=%lld max_inflight=%lld names=%lld cache=%s queries=%" PRIu64 " cache_hits=%" PRIu64
           " coalesced=%" PRIu64 " failures=%" PRIu64,
           c->wall ? (double)ops * 1e9 / (double)c->wall : 0.0, errors, atomic_load(&c->max_inflight), p->names,
           p->no_cache ? "off" : "on", c->ds.queries, c->ds.cache_hits, c->ds.coalesced, c->ds.failures);
  if (errors) {
    fprintf(stderr, "spindle-bench: resolve: %lld of %lld lookups failed%s; first: %s\n", errors, ops,
            errors >= IO_MAX_ERRORS ? " (stopped early)" : "", c->errs.first);
    bench_status = 1;
  }
  free(c);
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
          "  http-get      --url U [--concurrency C] [--requests N] [--timeout S] [--dns-server IP:PORT]\n"
          "                N GETs of U spread over C tasks, each must answer 200 (-, 100, 100000, 30 s);\n"
          "                adds rps= errors= max_inflight= (most requests in flight at once)\n"
          "                fds_before= fds_after= rss_before_kb= rss_after_kb= rss_trimmed_kb= (after\n"
          "                malloc_trim) heap_before_kb= heap_after_kb= (malloc'd, in use) transfers=\n"
          "                reused= easy_handles=; fds and memory are measured before the runtime\n"
          "                starts and after it is freed\n"
          "  resolve       [--names N] [--lookups M] [--concurrency C] [--dns-server IP:PORT]\n"
          "                [--family 4|6|any] [--no-cache] [--timeout S]\n"
          "                M lookups over C tasks of n0.bench.test ... n{N-1}.bench.test\n"
          "                (1000, 100000, 100, the system's servers, 4, cache on, 30 s); --no-cache\n"
          "                empties the cache before each round over the N names; adds lps= errors=\n"
          "                max_inflight= names= cache= queries= cache_hits= coalesced= failures=\n"
          "Every run prints: name= workers= tasks= wall_ns= ns_per_op= rss_kb= ops= impl=\n"
          "(http-get and resolve: op = one request or one lookup; rss_kb is the peak; exit status 1\n"
          "if any failed, with the first error on stderr; they stop after %d errors)\n",
          IO_MAX_ERRORS);
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
  params p = {argv[1], 0, 10000000, 0, 1000, 1000, 1000000, 30, NULL, NULL, 100, 100000, 30, 1000, 100000,
              AF_INET, false};
  const char *name = argv[1];
  bool is_switch = !strcmp(name, "switch"), is_sleep = !strcmp(name, "sleep"),
       is_spawn = !strcmp(name, "spawn-many"), is_yield = !strcmp(name, "yield-many"),
       is_pp = !strcmp(name, "ping-pong"), is_chain = !strcmp(name, "chained-spawn"),
       is_sky = !strcmp(name, "skynet"), is_fib = !strcmp(name, "fib"), is_http = !strcmp(name, "http-get"),
       is_dns = !strcmp(name, "resolve"), is_io = is_http || is_dns;
  if (!(is_switch || is_sleep || is_spawn || is_yield || is_pp || is_chain || is_sky || is_fib || is_io)) {
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
    if (!strcmp(a, "--no-cache")) { /* the one option without a value */
      if (!is_dns) {
        fprintf(stderr, "spindle-bench: %s does not take --no-cache\n", name);
        return 2;
      }
      p.no_cache = true;
    } else if (!strncmp(a, "--", 2)) {
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
      else if (!strcmp(opt, "--url") && is_http) p.url = v;
      else if (!strcmp(opt, "--requests") && is_http) p.requests = parse_num(v, opt);
      else if (!strcmp(opt, "--concurrency") && is_io) p.concurrency = parse_num(v, opt);
      else if (!strcmp(opt, "--timeout") && is_io) p.timeout_s = parse_num(v, opt);
      else if (!strcmp(opt, "--dns-server") && is_io) p.dns_server = v;
      else if (!strcmp(opt, "--names") && is_dns) p.names = parse_num(v, opt);
      else if (!strcmp(opt, "--lookups") && is_dns) p.lookups = parse_num(v, opt);
      else if (!strcmp(opt, "--family") && is_dns) {
        if (!strcmp(v, "4")) p.family = AF_INET;
        else if (!strcmp(v, "6")) p.family = AF_INET6;
        else if (!strcmp(v, "any")) p.family = AF_UNSPEC;
        else {
          fprintf(stderr, "spindle-bench: --family must be 4, 6 or any, not '%s'\n", v);
          return 2;
        }
      }
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
  if (is_io) {
    if (is_http && (!p.url || !*p.url)) {
      fprintf(stderr, "spindle-bench: http-get needs --url URL\n");
      return 2;
    }
    if (p.concurrency < 1 || (is_http && p.requests < 1) || (is_dns && (p.lookups < 1 || p.names < 1))) {
      fprintf(stderr, "spindle-bench: --concurrency, --requests, --lookups and --names must be at least 1\n");
      return 2;
    }
    if (p.timeout_s > 86400) {
      fprintf(stderr, "spindle-bench: --timeout must be at most 86400 seconds (0: none)\n");
      return 2;
    }
    if (p.dns_server && !*p.dns_server) {
      fprintf(stderr, "spindle-bench: --dns-server needs IP[:PORT]\n");
      return 2;
    }
    raise_nofile();
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
    else if (is_http) res = bench_http_get(&p);
    else if (is_dns) res = bench_resolve(&p);
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
  return bench_status;
}
