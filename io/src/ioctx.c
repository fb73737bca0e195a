/*
 * ioctx.c - per-worker I/O contexts and their driver tasks (io_internal.h
 * explains the design).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

/* The driver's stack: libcurl with OpenSSL needs far more than a typical
 * task; only the pages it touches cost memory. */
#define DRIVER_STACK (512u * 1024u)
#define MAX_IDLE_CONNECTIONS 1024

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_err;

/* libcurl and c-ares global state, once per process.  SIGPIPE: with
 * CURLOPT_NOSIGNAL, a TLS write to a closed peer could raise it, so it is
 * ignored, unless the program installed a handler of its own. */
static void global_init(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    global_err = SP_ENOMEM;
    return;
  }
  if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
    global_err = SP_ENOMEM;
    return;
  }
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

char *sp__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void io_fini(sp_runtime *rt);

/* Frees io's memory (its mutexes are the caller's to destroy, if made). */
static void io_free(sp__io *io) {
  free(io->ctx);
  free(io->dns_tab);
  free(io->dns_servers);
  free(io);
}

sp__io *sp__io_get(sp_runtime *rt) {
  sp__io *io = atomic_load_explicit(&rt->io, memory_order_acquire);
  if (io) return io;
  pthread_once(&global_once, global_init);
  if (global_err) return NULL;
  io = calloc(1, sizeof *io);
  if (!io) return NULL;
  io->rt = rt;
  io->ctx = calloc(rt->nworkers, sizeof *io->ctx);
  io->dns_nbuckets = 256;
  io->dns_tab = calloc(io->dns_nbuckets, sizeof *io->dns_tab);
  const char *env = getenv("SPINDLE_DNS_SERVERS");
  int env_err = env && *env ? sp__dns_servers_canonical(env, &io->dns_servers) : 0;
  /* The same checks as sp_dns_set_servers'; a list that fails them is
   * said once and not used (a variable set by hand must not silently
   * send lookups to some other server). */
  if (env_err == SP_EINVAL)
    fprintf(stderr, "spindle: SPINDLE_DNS_SERVERS='%s' is not ip[:port],... (IPv6 as [ip]:port, ports 1-65535): "
                    "ignored, /etc/resolv.conf is used\n", env);
  if (!io->ctx || !io->dns_tab || env_err == SP_ENOMEM) {
    io_free(io);
    return NULL;
  }
  pthread_mutex_init(&io->make_lock, NULL);
  pthread_mutex_init(&io->dns_lock, NULL);
  void *expected = NULL;
  if (!atomic_compare_exchange_strong(&rt->io, &expected, io)) {
    pthread_mutex_destroy(&io->make_lock);
    pthread_mutex_destroy(&io->dns_lock);
    io_free(io);
    return expected;
  }
  rt->io_fini = io_fini;
  return io;
}

/* ---------------------------------------------------------------- watchers */

/* Loop lock held (see sp__watch_cb): record, wake the driver if it waits. */
static void on_watch_event(void *arg, unsigned rev) {
  sp__iowatch *w = arg;
  sp__ioctx *ctx = w->ctx;
  sp__spin_lock(&ctx->lock);
  w->pending |= rev;
  w->armed = false; /* one-shot: quiet until driver_feed or a change re-arms it */
  if (!w->queued) {
    w->queued = true;
    w->next_pending = ctx->pending;
    ctx->pending = w;
  }
  if (ctx->parked) {
    ctx->parked = false;
    sp__wake(ctx->driver, ctx->park_seq, SP_WAKE_OK);
  }
  sp__spin_unlock(&ctx->lock);
}

sp__iowatch *sp__iowatch_new(sp__ioctx *ctx, int fd, int kind) {
  sp__iowatch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->ctx = ctx;
  w->fd = fd;
  w->id = -1;
  w->kind = kind;
  w->all_next = ctx->watches;
  if (ctx->watches) ctx->watches->all_prev = w;
  ctx->watches = w;
  return w;
}

/* Marks w armed before the registration that arms it: an event that the
 * registration lets through then clears the mark after, never before. */
static void set_armed(sp__ioctx *ctx, sp__iowatch *w, bool armed) {
  sp__spin_lock(&ctx->lock);
  w->armed = armed;
  sp__spin_unlock(&ctx->lock);
}

static bool is_armed(sp__ioctx *ctx, sp__iowatch *w) {
  sp__spin_lock(&ctx->lock);
  bool armed = w->armed;
  sp__spin_unlock(&ctx->lock);
  return armed;
}

/* Arms w's registration, one-shot, for events. */
static int arm(sp__ioctx *ctx, sp__iowatch *w, unsigned events) {
  set_armed(ctx, w, true);
  int r = sp__watch_mod(ctx->loop, w->id, w->fd, events | SP__WATCH_ONESHOT);
  if (r != 0) set_armed(ctx, w, false);
  return r;
}

/*
 * Watchers are one-shot (SP__WATCH_ONESHOT): a socket ready for curl stays
 * ready until the driver runs curl on it, maybe on another worker, and a
 * level-triggered registration would have every poll in between report it
 * again.  The driver re-arms a watcher after handing its events over
 * (driver_feed), and any change of interest re-arms it too.
 */
int sp__iowatch_set(sp__ioctx *ctx, sp__iowatch *w, unsigned events) {
  if (events == w->events && (w->id >= 0) == (events != 0) && (!events || is_armed(ctx, w))) return 0;
  int r = 0;
  if (!events) {
    sp__watch_del(ctx->loop, w->id, w->fd);
    w->id = -1;
    set_armed(ctx, w, false);
  } else if (w->id < 0) {
    set_armed(ctx, w, true);
    r = sp__watch_add(ctx->loop, w->fd, events | SP__WATCH_ONESHOT, on_watch_event, w);
    if (r >= 0) {
      w->id = r;
      r = 0;
    } else {
      set_armed(ctx, w, false);
    }
  } else {
    r = arm(ctx, w, events);
  }
  if (r == 0) w->events = events;
  return r;
}

void sp__iowatch_free(sp__ioctx *ctx, sp__iowatch *w) {
  if (w->id >= 0) sp__watch_del(ctx->loop, w->id, w->fd); /* no callback after this */
  w->id = -1;
  if (w->all_prev)
    w->all_prev->all_next = w->all_next;
  else
    ctx->watches = w->all_next;
  if (w->all_next) w->all_next->all_prev = w->all_prev;
  sp__spin_lock(&ctx->lock);
  bool keep = w->queued || w->feeding;
  w->dead = true;
  sp__spin_unlock(&ctx->lock);
  if (!keep) free(w);
}

/* ------------------------------------------------------------ easy handles */

CURL *sp__ioctx_easy_get(sp__ioctx *ctx) {
  CURL *e = NULL;
  sp__spin_lock(&ctx->lock);
  if (ctx->neasy_free) e = ctx->easy_free[--ctx->neasy_free];
  sp__spin_unlock(&ctx->lock);
  if (e) return e;
  e = curl_easy_init();
  if (e) {
    sp__io *io = atomic_load(&ctx->rt->io);
    atomic_fetch_add_explicit(&io->http_stats[3], 1, memory_order_relaxed);
  }
  return e;
}

void sp__ioctx_easy_put(sp__ioctx *ctx, CURL *e) {
  curl_easy_reset(e);
  sp__spin_lock(&ctx->lock);
  if (ctx->neasy_free == ctx->caneasy_free) {
    /* Grow outside the lock's fast path is not worth it: this is rare. */
    int cap = ctx->caneasy_free ? ctx->caneasy_free * 2 : 64;
    CURL **p = realloc(ctx->easy_free, (size_t)cap * sizeof *p);
    if (p) {
      ctx->easy_free = p;
      ctx->caneasy_free = cap;
    }
  }
  bool kept = ctx->neasy_free < ctx->caneasy_free;
  if (kept) ctx->easy_free[ctx->neasy_free++] = e;
  sp__spin_unlock(&ctx->lock);
  if (!kept) curl_easy_cleanup(e);
}

/* ------------------------------------------------------------------ driver */

bool sp__ioctx_submit(sp__ioctx *ctx, sp__iocmd *cmd) {
  cmd->next = NULL;
  sp__spin_lock(&ctx->lock);
  bool ok = !ctx->dead;
  if (ok) {
    *ctx->cmds_tail = cmd;
    ctx->cmds_tail = &cmd->next;
    if (ctx->parked) {
      ctx->parked = false;
      sp__wake(ctx->driver, ctx->park_seq, SP_WAKE_OK);
    }
  }
  sp__spin_unlock(&ctx->lock);
  return ok;
}

/* libcurl's one timer: a new value replaces the old, -1 deletes it.  Only
 * recorded here; the driver parks until the earliest deadline. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *arg) {
  (void)multi;
  sp__ioctx *ctx = arg;
  ctx->curl_deadline = timeout_ms < 0 ? SP_NEVER : sp_now_ns() + (uint64_t)timeout_ms * 1000000u;
  return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp) {
  (void)easy;
  sp__ioctx *ctx = arg;
  sp__iowatch *w = sockp;
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      curl_multi_assign(ctx->multi, fd, NULL);
      sp__iowatch_free(ctx, w);
    }
    return 0;
  }
  /* Never -1: libcurl would mark the whole multi handle dead and stop its
   * timer, hanging every transfer of this worker.  A socket we cannot watch
   * ends its transfer at its timeout instead. */
  if (!w) {
    w = sp__iowatch_new(ctx, fd, SP__W_CURL);
    if (!w) return 0;
    curl_multi_assign(ctx->multi, fd, w);
  }
  unsigned ev = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= SP_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= SP_WRITABLE;
  sp__iowatch_set(ctx, w, ev);
  return 0;
}

/* Takes the pending commands and sockets, or parks until there are some or
 * the deadline passes.  Returns false when the driver must exit. */
static bool driver_wait(sp__ioctx *ctx, sp__iocmd **cmds, sp__iowatch **pending, bool *timed_out) {
  sp_task *self = sp__cur_task();
  *timed_out = false;
  for (;;) {
    uint64_t now = sp_now_ns();
    uint64_t deadline = ctx->curl_deadline;
    uint64_t d2 = sp__dns_deadline(ctx, now);
    if (d2 < deadline) deadline = d2;
    sp__spin_lock(&ctx->lock);
    *cmds = ctx->cmds;
    *pending = ctx->pending;
    ctx->cmds = NULL;
    ctx->cmds_tail = &ctx->cmds;
    ctx->pending = NULL;
    if (*cmds || *pending || deadline <= now) {
      sp__spin_unlock(&ctx->lock);
      *timed_out = deadline <= now;
      return true;
    }
    ctx->park_seq = sp__park_begin(self, 0);
    ctx->parked = true;
    sp__spin_unlock(&ctx->lock);
    int reason = sp__park(self, deadline, SP_WAKE_TIMEOUT, 0);
    sp__spin_lock(&ctx->lock);
    ctx->parked = false;
    sp__spin_unlock(&ctx->lock);
    if (reason == SP_WAKE_SHUTDOWN ||
        (reason == SP_WAKE_CANCEL && atomic_load(&ctx->rt->shutdown)))
      return false;
  }
}

/* After w's events were handed over: frees w if it was deleted meanwhile,
 * else arms it again unless a change of interest did already. */
static void rearm_after_feed(sp__ioctx *ctx, sp__iowatch *w) {
  sp__spin_lock(&ctx->lock);
  w->feeding = false;
  bool dead = w->dead, queued = w->queued, armed = w->armed;
  sp__spin_unlock(&ctx->lock);
  if (dead) {
    if (!queued) free(w);
    return;
  }
  if (armed || w->id < 0) return;
  arm(ctx, w, w->events);
}

static void driver_feed(sp__ioctx *ctx, sp__iowatch *list) {
  while (list) {
    sp__iowatch *w = list;
    sp__spin_lock(&ctx->lock);
    list = w->next_pending;
    unsigned rev = w->pending;
    bool dead = w->dead;
    w->pending = 0;
    w->queued = false;
    w->feeding = !dead;
    sp__spin_unlock(&ctx->lock);
    if (dead) {
      free(w);
      continue;
    }
    if (w->kind == SP__W_CURL) {
      int flags = 0;
      if (rev & SP_READABLE) flags |= CURL_CSELECT_IN;
      if (rev & SP_WRITABLE) flags |= CURL_CSELECT_OUT;
      int running;
      curl_multi_socket_action(ctx->multi, w->fd, flags, &running);
    } else {
      sp__dns_on_ready(ctx, w->fd, rev);
    }
    rearm_after_feed(ctx, w);
  }
}

/* Runs a list of commands.  A query with no driver to run it (ctx->draining)
 * fails; HTTP commands see ctx->draining themselves. */
static void run_cmds(sp__ioctx *ctx, sp__iocmd *cmds) {
  while (cmds) {
    sp__iocmd *c = cmds;
    cmds = c->next;
    if (c->op == SP__CMD_DNS_QUERY)
      sp__dns_run_cmd(ctx->draining ? NULL : ctx, c);
    else
      sp__http_run_cmd(ctx, c);
  }
}

static void *driver_main(void *arg) {
  sp__ioctx *ctx = arg;
  sp__iocmd *cmds;
  sp__iowatch *pending;
  bool timed_out;
  while (driver_wait(ctx, &cmds, &pending, &timed_out)) {
    run_cmds(ctx, cmds);
    driver_feed(ctx, pending);
    uint64_t now = sp_now_ns();
    if (ctx->curl_deadline <= now) {
      int running;
      ctx->curl_deadline = SP_NEVER; /* the call re-arms it as needed */
      curl_multi_socket_action(ctx->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    sp__dns_on_timeout(ctx, now);
    sp__http_reap(ctx);
    (void)timed_out;
  }
  /* Shutdown: from now on nothing may wake or feed us.  Commands already
   * queued still run (a cancel's requester waits for its acknowledgement;
   * starts and queries fail); io_fini cleans up the rest. */
  sp__spin_lock(&ctx->lock);
  ctx->dead = true;
  ctx->parked = false;
  cmds = ctx->cmds;
  ctx->cmds = NULL;
  ctx->cmds_tail = &ctx->cmds;
  sp__spin_unlock(&ctx->lock);
  ctx->draining = true;
  run_cmds(ctx, cmds);
  return NULL;
}

static void ctx_free(sp__ioctx *ctx) {
  /* Commands can only be left behind by a driver that never ran, and then
   * nobody waits for them: every task has ended.  Fail them all the same. */
  ctx->draining = true;
  run_cmds(ctx, ctx->cmds);
  ctx->cmds = NULL;
  if (ctx->multi) {
    sp__http_ctx_abandon(ctx);
    curl_multi_cleanup(ctx->multi); /* may call curl_socket_cb: loops still exist */
  }
  sp__dns_ctx_fini(ctx);
  /* Sockets the libraries never told us to forget. */
  while (ctx->watches) sp__iowatch_free(ctx, ctx->watches);
  for (int i = 0; i < ctx->neasy_free; i++) curl_easy_cleanup(ctx->easy_free[i]);
  free(ctx->easy_free);
  /* Sockets deleted while queued, never popped by the (gone) driver. */
  for (sp__iowatch *w = ctx->pending, *n; w; w = n) {
    n = w->next_pending;
    if (w->dead) free(w);
  }
  free(ctx);
}

static int ctx_make(sp__io *io, unsigned wid, sp__ioctx **out) {
  sp__ioctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return SP_ENOMEM;
  ctx->rt = io->rt;
  ctx->worker = wid;
  ctx->loop = &io->rt->workers[wid]->loop;
  ctx->cmds_tail = &ctx->cmds;
  ctx->curl_deadline = SP_NEVER;
  ctx->multi = curl_multi_init();
  if (!ctx->multi) {
    free(ctx);
    return SP_ENOMEM;
  }
  curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
  curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETDATA, ctx);
  curl_multi_setopt(ctx->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
  curl_multi_setopt(ctx->multi, CURLMOPT_TIMERDATA, ctx);
  /* Idle connections kept for reuse.  libcurl's default follows the number
   * of transfers in the multi handle at the moment, so a lull closes
   * connections that the next burst must open again. */
  curl_multi_setopt(ctx->multi, CURLMOPT_MAXCONNECTS, (long)MAX_IDLE_CONNECTIONS);
  int err = sp__dns_ctx_init(ctx);
  if (err) {
    curl_multi_cleanup(ctx->multi);
    free(ctx);
    return err;
  }
  char name[32];
  snprintf(name, sizeof name, "io-driver/%u", wid);
  sp_spawn_opts o = {DRIVER_STACK, name};
  sp_task *t;
  /* The driver exists before ctx is published, so submitters can wake it. */
  err = sp__spawn_system(&t, &o, driver_main, ctx);
  if (err) {
    sp__dns_ctx_fini(ctx);
    curl_multi_cleanup(ctx->multi);
    free(ctx);
    return err;
  }
  ctx->driver = t;
  sp_detach(t);
  *out = ctx;
  return 0;
}

int sp__ioctx_get(int worker, sp__ioctx **out) {
  sp_worker *w = sp__cur_worker();
  if (!w || !sp__cur_task()) return SP_EPERM;
  sp_runtime *rt = w->rt;
  if (atomic_load(&rt->shutdown)) return SP_ESHUTDOWN;
  unsigned wid = worker < 0 ? w->id : (unsigned)worker % rt->nworkers;
  sp__io *io = sp__io_get(rt);
  if (!io) return SP_ENOMEM;
  sp__ioctx *ctx = atomic_load_explicit(&io->ctx[wid], memory_order_acquire);
  if (ctx) {
    *out = ctx;
    return 0;
  }
  /* Made under a mutex held across no park (the driver is spawned, not run). */
  pthread_mutex_lock(&io->make_lock);
  ctx = atomic_load_explicit(&io->ctx[wid], memory_order_acquire);
  int err = 0;
  if (!ctx) {
    err = ctx_make(io, wid, &ctx);
    if (!err) atomic_store_explicit(&io->ctx[wid], ctx, memory_order_release);
  }
  pthread_mutex_unlock(&io->make_lock);
  if (!err) *out = ctx;
  return err;
}

int sp__ioctx_current(sp__ioctx **out) { return sp__ioctx_get(-1, out); }

/* At shutdown: every task (drivers included) has ended; the loops are
 * still open, so the libraries' socket callbacks can unregister. */
static void io_fini(sp_runtime *rt) {
  sp__io *io = atomic_load(&rt->io);
  if (!io) return;
  for (unsigned i = 0; i < rt->nworkers; i++) {
    sp__ioctx *ctx = atomic_load(&io->ctx[i]);
    if (ctx) ctx_free(ctx);
  }
  sp__dns_fini(io);
  pthread_mutex_destroy(&io->make_lock);
  pthread_mutex_destroy(&io->dns_lock);
  io_free(io);
  atomic_store(&rt->io, NULL);
  rt->io_fini = NULL;
}
