/*
 * crawl.c - a crawl's life (crawl.h explains the shape): opening its state
 * and outputs, its fetcher tasks taking jobs from the frontier, the status
 * line, and the end.  What one job does is fetch.c's; what is queued and
 * when it is due, frontier.c's; the files, output.c's.
 *
 * A fetcher takes a slot (at most max_inflight transfers at once), then a
 * job from the frontier, fetches it and reports its outcome.  With nothing
 * due it parks on the engine's semaphore with a timeout: the earliest time
 * a delayed host or a retry becomes due, at most WAIT_SLICE_NS so that a
 * stop request is seen.  The crawl is over when the frontier is idle
 * (nothing queued and no job out, or, once stopping, no job out).
 */
#include "crawl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <spindle/spindle.h>

#include "engine.h"
#include "policy.h"
#include "url.h"

#define WAIT_SLICE_NS 100000000ull /* waiting fetchers look at the stop flag this often */
#define SHORTAGE_GIVE_UP 20        /* shortages in a row with one transfer in flight: stop */
#define FD_RESERVE 24              /* descriptors besides the transfers': stdio, state, outputs... */
#define FD_PER_WORKER 4            /* ... and each worker's: its poll loop, its wakeup, its DNS sockets */

/* SIGINT: every crawl of the process stops. */
static atomic_int stop_requested;

void crawl_request_stop(void) { atomic_store(&stop_requested, 1); }

void crawl_config_init(crawl_config *c) {
  memset(c, 0, sizeof *c);
  c->concurrency = 64;
  c->per_host = 4;
  c->max_depth = -1;
  c->max_bytes = 10u << 20;
  c->timeout_s = 30;
  c->retries = 2;
  c->max_redirects = 5;
  c->frontier_memory = 100000;
  c->user_agent = "spindle-crawl/" CRAWL_VERSION;
}

/* ---------------------------------------------------------- the counts */

/* Wakes fetchers waiting for work, at most as many as wait.  Lock held. */
static void wake_waiters(crawl_engine *e, long n) {
  while (n-- > 0 && sp_sem_value(&e->wake) < e->nwaiting) sp_sem_release(&e->wake);
}

static void fail_locked(crawl_engine *e, const char *what, const char *why) {
  if (what && !atomic_load(&e->failed)) {
    if (*what)
      fprintf(stderr, "spindle-crawl: %s failed: %s; stopping\n", what, why);
    else
      fprintf(stderr, "spindle-crawl: %s; stopping\n", why);
  }
  atomic_store(&e->failed, true);
  e->stopping = true;
  e->sum->interrupted = true;
}

void crawl_engine_fail(crawl_engine *e, const char *what, const char *why) {
  sp_mutex_lock(&e->lock);
  fail_locked(e, what, why);
  sp_mutex_unlock(&e->lock);
}

void crawl_engine_job_done(crawl_engine *e, int rc, long status, long ready) {
  sp_mutex_lock(&e->lock);
  e->sum->attempts++;
  if (rc == 0 || status > 0) e->sum->responses++;
  e->shortage_streak = 0;
  e->inflight--;
  wake_waiters(e, ready);
  sp_mutex_unlock(&e->lock);
}

/* Half of the transfers in flight when one found no descriptor left, so
 * that they fit; gives up when even one alone keeps failing. */
void crawl_engine_shortage(crawl_engine *e, int rc, const sp_http_response *r) {
  sp_mutex_lock(&e->lock);
  long in_flight = e->inflight; /* this one included */
  long next = in_flight / 2 > 0 ? in_flight / 2 : 1;
  if (next < e->max_inflight) e->max_inflight = next;
  e->sum->local_requeues++;
  e->sum->concurrency = (unsigned)e->max_inflight;
  if (in_flight > 1)
    e->shortage_streak = 0;
  else if (++e->shortage_streak >= SHORTAGE_GIVE_UP)
    fail_locked(e, "starting a transfer even with no other in flight", r->error[0] ? r->error : sp_strerror(rc));
  if (!e->shortage_warned) {
    e->shortage_warned = true;
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    fprintf(stderr,
            "spindle-crawl: out of file descriptors (%s) with %ld transfers in flight, the limit being %llu (ulimit "
            "-n): lowering the concurrency to %ld\n",
            rc == -ENFILE ? "the system's" : "the process's", in_flight, (unsigned long long)rl.rlim_cur,
            e->max_inflight);
  }
  e->inflight--;
  wake_waiters(e, 1);
  sp_mutex_unlock(&e->lock);
}

void crawl_engine_count_page(crawl_engine *e, int rc, sp_http_failure failure, long status, size_t bytes) {
  sp_mutex_lock(&e->lock);
  crawl_summary *s = e->sum;
  s->pages++;
  s->bytes += bytes;
  if (rc) {
    s->failed++;
    s->errors_by_code[crawl_error_kind_of(failure)]++;
  } else if (status >= 500) {
    s->server_errors++;
  } else if (status >= 400) {
    s->client_errors++;
  } else if (status >= 300) {
    s->redirects++;
  } else {
    s->ok++;
  }
  sp_mutex_unlock(&e->lock);
}

void crawl_engine_count_retry(crawl_engine *e) {
  sp_mutex_lock(&e->lock);
  e->sum->retries++;
  sp_mutex_unlock(&e->lock);
}

/* ------------------------------------------------------------ fetchers */

/* Whether to take no more jobs (SIGINT, --max-time, a failure).  Lock held. */
static bool over_limits(crawl_engine *e, uint64_t now) {
  if (atomic_load(&stop_requested) || (e->deadline_ns && now >= e->deadline_ns)) {
    if (!e->stopping) e->sum->interrupted = true;
    e->stopping = true;
  }
  return e->stopping;
}

/* Parks until woken or until (at most WAIT_SLICE_NS past) until. */
static void wait_for_work(crawl_engine *e, uint64_t until) {
  uint64_t now = sp_now_ns();
  uint64_t d = until > now ? until - now : 0;
  if (d > WAIT_SLICE_NS) d = WAIT_SLICE_NS;
  if (!d) return;
  sp_deadline scope;
  sp_deadline_push(&scope, d);
  sp_sem_acquire(&e->wake);
  sp_deadline_pop(&scope);
}

/* Nothing to do now (t says why): the crawl is over, or this fetcher
 * waits (it is counted in nwaiting already).  false when it is over. */
static bool idle_or_wait(crawl_engine *e, crawl_take t, uint64_t until) {
  if (t == CRAWL_TAKE_FAILED) {
    char why[1024];
    crawl_frontier_error(e->frontier, why, sizeof why);
    crawl_engine_fail(e, "", why);
  }
  sp_mutex_lock(&e->lock);
  if (t == CRAWL_TAKE_LIMIT) e->stopping = true;
  bool stopping = e->stopping;
  sp_mutex_unlock(&e->lock);
  bool over = crawl_frontier_idle(e->frontier, stopping);
  sp_mutex_lock(&e->lock);
  if (over || e->finished) {
    e->finished = true;
    e->nwaiting--;
    wake_waiters(e, e->nwaiting);
    sp_mutex_unlock(&e->lock);
    return false;
  }
  sp_mutex_unlock(&e->lock);
  wait_for_work(e, until);
  sp_mutex_lock(&e->lock);
  e->nwaiting--;
  sp_mutex_unlock(&e->lock);
  return true;
}

/* A fetcher counts itself waiting before it asks the frontier, not after
 * it found nothing: an outcome reported while it asks then wakes it (its
 * semaphore release waits for it), where it would otherwise park on a
 * wakeup sent before it counted, and idle until the wait's timeout. */
static void *fetcher(void *arg) {
  crawl_engine *e = arg;
  for (;;) {
    uint64_t now = sp_now_ns(), until = UINT64_MAX;
    sp_mutex_lock(&e->lock);
    bool slot = !over_limits(e, now) && !e->finished && e->inflight < e->max_inflight;
    if (slot) e->inflight++; /* given back below when nothing is due */
    e->nwaiting++;
    sp_mutex_unlock(&e->lock);
    crawl_job job;
    crawl_take t = slot ? crawl_frontier_take(e->frontier, now, &job, &until) : CRAWL_TAKE_WAIT;
    if (t == CRAWL_TAKE_JOB) {
      sp_mutex_lock(&e->lock);
      e->nwaiting--;
      sp_mutex_unlock(&e->lock);
      if (job.kind == CRAWL_JOB_ROBOTS)
        crawl_fetch_robots(e, &job);
      else
        crawl_fetch_page(e, &job);
      continue;
    }
    if (slot) {
      sp_mutex_lock(&e->lock);
      e->inflight--;
      sp_mutex_unlock(&e->lock);
    }
    if (!idle_or_wait(e, t, until)) return NULL;
  }
}

/* The status line: on a terminal, rewritten in place four times a second;
 * elsewhere (--progress into a log), a plain line a second. */
static void *progress(void *arg) {
  crawl_engine *e = arg;
  bool tty = isatty(2);
  uint64_t last_t = sp_now_ns();
  long last_pages = 0;
  for (;;) {
    if (sp_sleep(tty ? 250000000u : 1000000000u) != 0) break;
    crawl_frontier_stats fs;
    crawl_frontier_get_stats(e->frontier, &fs);
    sp_mutex_lock(&e->lock);
    long pages = e->sum->pages, inflight = e->inflight;
    long errors = e->sum->failed + e->sum->server_errors + e->sum->client_errors;
    uint64_t bytes = e->sum->bytes;
    bool done = e->finished;
    sp_mutex_unlock(&e->lock);
    if (done) break;
    uint64_t now = sp_now_ns();
    double el = (double)(now - e->start_ns) / 1e9;
    double rate = (double)(pages - last_pages) / ((double)(now - last_t) / 1e9);
    fprintf(stderr, "%s%ld pages, %ld queued, %ld in flight, %.0f pages/s, %.1f MB/s, %ld errors%s",
            tty ? "\r\033[K" : "", pages, fs.queued, inflight, rate, el > 0 ? (double)bytes / el / 1e6 : 0.0,
            errors, tty ? "" : "\n");
    last_t = now;
    last_pages = pages;
  }
  if (tty) fprintf(stderr, "\r\033[K");
  return NULL;
}

int crawl_engine_run(crawl_engine *e) {
  const crawl_config *cfg = e->cfg;
  e->start_ns = sp_now_ns();
  e->deadline_ns = cfg->max_time_s > 0 ? e->start_ns + (uint64_t)(cfg->max_time_s * 1e9) : 0;
  /* Resume: everything ever queued is seen, and what was not done is
   * queued again; then the seeds, which are seen already if so. */
  if (crawl_frontier_load(e->frontier) < 0 || crawl_frontier_add_seeds(e->frontier, e->seeds, e->nseeds) < 0) {
    char why[1024];
    crawl_frontier_error(e->frontier, why, sizeof why);
    crawl_engine_fail(e, "", why);
    return -EIO;
  }
  sp_task *prog = NULL;
  if (!cfg->quiet && (cfg->progress || isatty(2))) sp_spawn(&prog, progress, e);
  unsigned n = cfg->concurrency ? cfg->concurrency : 1;
  sp_task **t = calloc(n, sizeof *t);
  if (!t) return SP_ENOMEM;
  unsigned started = 0;
  for (; started < n; started++)
    if (sp_spawn(&t[started], fetcher, e) != 0) break;
  sp_gather(t, started, NULL);
  free(t);
  crawl_fetch_finish_retries(e);
  if (prog) {
    sp_cancel(prog);
    sp_join(prog, NULL);
  }
  e->sum->seconds = (double)(sp_now_ns() - e->start_ns) / 1e9;
  return 0;
}

/* ----------------------------------------------------------- opening */

/* Records a seed, as crawl_url_resolve cleans it (as typed, it may hold
 * spaces or bytes that are not URL characters), and its host. */
static int add_seed(crawl_engine *e, const char *url) {
  char *clean = NULL, *hostname = NULL;
  if (crawl_url_resolve(NULL, url, &clean) != 0) return -1;
  char **q = realloc(e->seeds, (e->nseeds + 1) * sizeof *q);
  if (q) e->seeds = q;
  char **p = q ? realloc(e->seed_hosts, (e->nseeds + 1) * sizeof *p) : NULL;
  if (p) e->seed_hosts = p;
  if (!p || crawl_url_split(clean, NULL, &hostname, NULL, NULL) != 0) {
    free(clean);
    return -1;
  }
  e->seeds[e->nseeds] = clean;
  e->seed_hosts[e->nseeds++] = hostname;
  return 0;
}

/* Each transfer holds a descriptor (its connection), and the rest of the
 * process about FD_RESERVE plus FD_PER_WORKER a worker (measured: 23 in
 * all for one transfer on two workers, with --state and two outputs);
 * idle kept-alive connections hold more, which crawl_engine_shortage
 * copes with.  As Go's runtime does, the soft limit is raised to the hard
 * one; when even that is too low for --concurrency, the crawl runs fewer
 * transfers at once and says so.  Returns how many. */
static long fd_budget(unsigned want, unsigned workers) {
  rlim_t reserve = FD_RESERVE + (rlim_t)FD_PER_WORKER * workers;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = {rl.rlim_max, rl.rlim_max};
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20)) raised.rlim_cur = 1u << 20;
    if (raised.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = raised.rlim_cur;
  }
  rlim_t need = (rlim_t)want + reserve;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return want;
  long fit = rl.rlim_cur > reserve ? (long)(rl.rlim_cur - reserve) : 1;
  fprintf(stderr,
          "spindle-crawl: --concurrency %u needs about %llu file descriptors, but the limit is %llu (ulimit -n; "
          "hard limit %llu): running at most %ld transfers at once\n",
          want, (unsigned long long)need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, fit);
  return fit;
}

int crawl_engine_open(const crawl_config *cfg, crawl_summary *sum, sp_runtime *rt, crawl_engine **out) {
  *out = NULL;
  memset(sum, 0, sizeof *sum);
  crawl_engine *e = calloc(1, sizeof *e);
  if (!e) return SP_ENOMEM;
  e->cfg = cfg;
  e->sum = sum;
  sp_mutex_init(&e->lock);
  sp_sem_init(&e->wake, 0);
  atomic_init(&e->failed, false);
  for (size_t i = 0; i < cfg->nseeds; i++) {
    if (add_seed(e, cfg->seeds[i]) < 0) {
      fprintf(stderr, "spindle-crawl: not an http(s) URL: %s\n", cfg->seeds[i]);
      crawl_engine_close(e);
      return SP_EINVAL;
    }
  }
  unsigned workers = sp_runtime_workers(rt);
  e->max_inflight = fd_budget(cfg->concurrency ? cfg->concurrency : 1, workers);
  sum->concurrency = (unsigned)e->max_inflight;
  /* nothing crawled: not -EIO, which says output of a crawl was lost */
  int rc = crawl_resume_open(e);
  if (rc == 0 && !(e->frontier = crawl_frontier_new(cfg, e->seed_hosts, e->nseeds, e->state, workers,
                                                       crawl_fetch_note_free)))
    rc = SP_ENOMEM;
  /* --max-pages counts the whole crawl, not this run. */
  if (rc == 0) crawl_frontier_count_done(e->frontier, sum->pages_before);
  if (rc) {
    crawl_engine_close(e);
    return rc;
  }
  *out = e;
  return 0;
}

int crawl_engine_close(crawl_engine *e) {
  if (!e) return 0;
  crawl_frontier_stats fs = {0};
  if (e->frontier) crawl_frontier_get_stats(e->frontier, &fs);
  crawl_summary *s = e->sum;
  s->queued = fs.queued;
  s->frontier_memory_peak = fs.in_memory_peak;
  s->robots_skipped = fs.robots_skipped;
  s->robots_unavailable = fs.robots_unavailable;
  s->hosts_unreachable = fs.hosts_unreachable;
  s->unreachable_skipped = fs.unreachable_skipped;
  memcpy(s->robots_failure, fs.robots_failure, sizeof s->robots_failure);
  memcpy(s->unreachable_failure, fs.unreachable_failure, sizeof s->unreachable_failure);
  crawl_frontier_free(e->frontier);
  bool lost = crawl_output_close(&e->out) < 0 || atomic_load(&e->failed);
  crawl_state_close(e->state);
  for (size_t i = 0; i < e->nseeds; i++) {
    free(e->seeds[i]);
    free(e->seed_hosts[i]);
  }
  free(e->seeds);
  free(e->seed_hosts);
  free(e);
  return lost ? -EIO : 0;
}

/* ---------------------------------------------------------------- run */

/* The runtime, with the DNS servers asked for: before any file is opened,
 * so that a bad --dns-server touches nothing.  0, or an error (said). */
static int start_runtime(const crawl_config *cfg, sp_runtime **rt) {
  sp_runtime_opts o;
  sp_runtime_opts_init(&o);
  o.workers = cfg->workers;
  int err = sp_runtime_new(&o, rt);
  if (err) {
    fprintf(stderr, "spindle-crawl: cannot start the runtime: %s\n", sp_strerror(err));
    return err;
  }
  if (cfg->dns_servers && (err = sp_dns_set_servers(*rt, cfg->dns_servers)) != 0) {
    fprintf(stderr, "spindle-crawl: bad --dns-server '%s' (want IP[:PORT][,IP[:PORT]...]): %s\n", cfg->dns_servers,
            sp_strerror(err));
    return SP_EINVAL;
  }
  return 0;
}

typedef struct run_ctx {
  crawl_engine *e;
  int err;
} run_ctx;

static void *run_main(void *arg) {
  run_ctx *r = arg;
  r->err = crawl_engine_run(r->e);
  return NULL;
}

int crawl_run(const crawl_config *cfg, crawl_summary *sum) {
  memset(sum, 0, sizeof *sum);
  sp_runtime *rt = NULL;
  crawl_engine *e = NULL;
  int err = start_runtime(cfg, &rt);
  if (!err) err = crawl_engine_open(cfg, sum, rt, &e);
  run_ctx r = {e, 0};
  if (!err) {
    err = sp_runtime_block_on(rt, run_main, &r, NULL);
    if (!err) err = r.err;
    if (err && err != -EIO) fprintf(stderr, "spindle-crawl: %s\n", sp_strerror(err));
  }
  if (rt) sp_runtime_free(rt);
  int closed = crawl_engine_close(e);
  return err ? err : closed;
}

int crawl_exit_status(int rc, const crawl_summary *sum, bool fail_on_error, bool sigint) {
  if (rc == SP_EINVAL) return CRAWL_EXIT_USAGE;
  if (rc) return CRAWL_EXIT_LOCAL;
  if (sigint) return CRAWL_EXIT_SIGINT;
  /* Requests were made and not one got an answer: every host was a name
   * that does not exist, refused, or failed TLS. */
  if (sum->attempts > 0 && sum->responses == 0) return CRAWL_EXIT_UNREACHABLE;
  if (fail_on_error && (sum->failed > 0 || sum->server_errors > 0 || sum->hosts_unreachable > 0))
    return CRAWL_EXIT_PAGES_FAILED;
  return CRAWL_EXIT_OK;
}
