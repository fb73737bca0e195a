/*
 * io_internal.h - the per-worker I/O context and its driver task (not installed).
 *
 * Each worker gets, on first use, an I/O context: a libcurl multi handle and
 * a c-ares channel whose sockets are watchers on that worker's epoll (see
 * sp__fdslot in sched/src/internal.h).  Neither library is thread-safe per
 * handle, so exactly one task, the context's *driver*, ever calls into them:
 *
 *   - a watcher callback (on the thread serving the loop, loop lock held)
 *     only marks its socket pending and wakes the driver;
 *   - a task that wants a transfer or a lookup queues a command and wakes
 *     the driver, then parks on its own request;
 *   - the driver, on its own stack (so libcurl and OpenSSL never run on a
 *     user's small task stack), runs the commands, feeds the pending sockets
 *     to libcurl/c-ares, fires their timeouts, and completes requests.
 *
 * The driver parks with the earlier of libcurl's and c-ares' deadlines as its
 * timeout.  It may run on any worker (tasks migrate); its sockets stay on the
 * loop of the worker the context belongs to.
 *
 * Lock order: loop lock -> ctx->lock (watcher callbacks).  ctx->lock is a
 * spin lock held for a few instructions; nothing parks or calls libcurl or
 * c-ares under it.
 */
#ifndef SPINDLE_IO_INTERNAL_H
#define SPINDLE_IO_INTERNAL_H

#include <ares.h>
#include <curl/curl.h>
#include <pthread.h>

#include "internal.h"
#include "spindle/dns.h"
#include "spindle/http.h"

typedef struct sp__ioctx sp__ioctx;

enum { SP__W_CURL = 1, SP__W_ARES = 2 };

/* One socket a library asked us to watch.  Owned by the driver; freed once
 * deleted from the loop and off the pending list. */
typedef struct sp__iowatch {
  sp__ioctx *ctx;
  int fd;
  int id;              /* watcher id on ctx->loop, -1 while not registered */
  int kind;            /* SP__W_* */
  unsigned events;     /* registered interest */
  /* guarded by ctx->lock */
  unsigned pending;    /* events seen since the driver last looked */
  bool queued;         /* on ctx->pending */
  bool feeding;        /* its events are being handed to curl or c-ares */
  bool dead;           /* deleted while queued or feeding: the driver frees it */
  bool armed;          /* registered one-shot and not yet reported since */
  struct sp__iowatch *next_pending;
  struct sp__iowatch *all_next, *all_prev; /* ctx->watches (driver only) */
} sp__iowatch;

/* A command for the driver, queued by a task (guarded by ctx->lock). */
typedef struct sp__iocmd {
  struct sp__iocmd *next;
  int op;              /* SP__CMD_* */
  void *arg;
} sp__iocmd;
enum { SP__CMD_HTTP_START = 1, SP__CMD_HTTP_CANCEL, SP__CMD_DNS_QUERY };

struct sp__ioctx {
  sp_runtime *rt;
  unsigned worker;       /* whose loop holds the sockets */
  sp_loop *loop;
  sp_task *driver;

  int lock;              /* spin lock: the fields down to `dead` */
  sp__iocmd *cmds, **cmds_tail;
  sp__iowatch *pending;
  bool parked;           /* the driver is parked waiting for work */
  uint64_t park_seq;
  bool dead;             /* the driver has exited: nothing wakes it */

  /* driver only */
  CURLM *multi;
  uint64_t curl_deadline; /* absolute ns, SP_NEVER: no timer */
  ares_channel ares;
  unsigned ares_servers_gen;
  struct ares_addr_port_node *ares_system; /* the servers it started with */
  int ares_sock_errno;       /* errno of c-ares's last socket() if it failed, else 0 */
  sp__iowatch *watches;      /* every live watcher, registered or not */
  sp__iowatch **ares_byfd;   /* c-ares sockets by fd number */
  int ares_nbyfd;
  struct sp__xfer *xfers;    /* transfers started and not yet acknowledged */
  bool draining;             /* the driver is exiting: start nothing new */

  /* recycled easy handles (guarded by lock) */
  CURL **easy_free;
  int neasy_free, caneasy_free;
};

/* Runtime-wide io state, rt->io. */
typedef struct sp__io {
  sp_runtime *rt;
  _Atomic(sp__ioctx *) *ctx;     /* one per worker, made on first use */
  pthread_mutex_t make_lock;

  /* DNS */
  pthread_mutex_t dns_lock;
  char *dns_servers;             /* csv, or NULL for the system's */
  _Atomic unsigned dns_servers_gen;
  struct sp__dns_entry **dns_tab;
  size_t dns_nbuckets, dns_count;
  _Atomic uint64_t dns_stats[5]; /* order of sp_dns_stats */

  _Atomic uint64_t http_stats[4];  /* order of sp_http_stats */
} sp__io;

/* Returns rt's io state, making it on first use; NULL when out of memory. */
sp__io *sp__io_get(sp_runtime *rt);
/* The I/O context of the calling task's worker, made (with its driver) on
 * first use.  Errors: SP_EPERM outside a task, SP_ENOMEM, SP_ESHUTDOWN. */
int sp__ioctx_current(sp__ioctx **out);
/* The I/O context of worker `worker` (modulo the number of workers; < 0:
 * the calling task's), made on first use.  Same errors. */
int sp__ioctx_get(int worker, sp__ioctx **out);
/* Queues a command and wakes the driver.  False if the driver is gone
 * (shutdown): the command was not queued. */
bool sp__ioctx_submit(sp__ioctx *ctx, sp__iocmd *cmd);
/* Recycled easy handles of ctx (reset), or a new one; NULL if out of memory. */
CURL *sp__ioctx_easy_get(sp__ioctx *ctx);
void sp__ioctx_easy_put(sp__ioctx *ctx, CURL *e);

/* Driver hooks into the modules (dns.c, http.c). */
int sp__dns_ctx_init(sp__ioctx *ctx);
void sp__dns_ctx_fini(sp__ioctx *ctx);
void sp__dns_run_cmd(sp__ioctx *ctx, sp__iocmd *cmd);
void sp__dns_on_ready(sp__ioctx *ctx, int fd, unsigned rev);
void sp__dns_on_timeout(sp__ioctx *ctx, uint64_t now);
uint64_t sp__dns_deadline(sp__ioctx *ctx, uint64_t now);
void sp__dns_fini(sp__io *io);
/* Runs an HTTP command; ctx->draining: fail starts with SP_ESHUTDOWN. */
void sp__http_run_cmd(sp__ioctx *ctx, sp__iocmd *cmd);
/* Completes every finished transfer of ctx's multi handle. */
void sp__http_reap(sp__ioctx *ctx);
/* At shutdown, with no driver: ends the transfers still in ctx->multi. */
void sp__http_ctx_abandon(sp__ioctx *ctx);

/* Watchers for a library's socket: ensure w is registered for events
 * (0: unregister).  Called by the driver only. */
int sp__iowatch_set(sp__ioctx *ctx, sp__iowatch *w, unsigned events);
/* Unregisters w and frees it (now, or when the driver next pops it). */
void sp__iowatch_free(sp__ioctx *ctx, sp__iowatch *w);
sp__iowatch *sp__iowatch_new(sp__ioctx *ctx, int fd, int kind);

/* Whether host is a literal IPv4 or IPv6 address (IPv6 with or without
 * brackets); if so and out is not NULL, *out is it with port.  dns.c. */
int sp__ip_literal(const char *host, uint16_t port, sp_addr *out);

/* A list of DNS servers as sp_dns_set_servers takes it, checked (every
 * address by inet_pton, every port in 1..65535, no empty entry) and written
 * as c-ares reads it without guessing ("IPv4:port,[IPv6]:port", port 53
 * unless given) into *out (malloc'd).  0, SP_EINVAL or SP_ENOMEM.  dns.c. */
int sp__dns_servers_canonical(const char *list, char **out);

/* A copy of s, or NULL. */
char *sp__strdup(const char *s);

#endif
