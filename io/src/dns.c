/*
 * dns.c - sp_resolve: c-ares on each worker's loop, a TTL cache shared by
 * all workers, concurrent lookups of one name coalesced into one query.
 *
 * A cache entry is either PENDING (a query is in flight; lookups of the same
 * key wait on its event) or DONE (an answer or an error, valid until
 * `expires`).  The query's completion fills the entry and sets its event,
 * whoever asked first: a lookup that gives up (timeout, cancel) leaves the
 * query running, and its answer still serves the others and the cache.
 *
 * Invariant: an entry is freed when its last reference goes; the table holds
 * one, each waiting lookup one, the query in flight one.  All of an entry's
 * fields but `done` are guarded by io->dns_lock.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io_internal.h"

#define DNS_NAME_MAX 253
#define NEGATIVE_TTL_NS (5ull * 1000000000u) /* NXDOMAIN/NODATA kept this long */
#define MAX_TTL_S 86400u
#define ARES_TIMEOUT_MS 1500
#define ARES_TRIES 2

enum { ENTRY_PENDING = 1, ENTRY_DONE };

typedef struct sp__dns_entry {
  struct sp__dns_entry *next; /* hash chain */
  char *name;                 /* lower-cased */
  int family;
  int state;
  int refs;
  bool in_table;
  int err;
  uint64_t expires;
  sp_addrlist *list;          /* port 0; NULL on error */
  sp_event done;
} sp__dns_entry;

/* A query for the driver: the entry it fills. */
typedef struct dns_query {
  sp__iocmd cmd;
  sp__io *io;
  sp__ioctx *ctx; /* whose channel runs it */
  sp__dns_entry *e;
} dns_query;

/* -------------------------------------------------------------- the cache */

static size_t hash_key(const char *name, int family) {
  size_t h = 1469598103934665603ull ^ (size_t)family;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return h;
}

static void entry_unref_locked(sp__io *io, sp__dns_entry *e) {
  (void)io;
  if (--e->refs > 0) return;
  free(e->name);
  free(e->list);
  free(e);
}

static void table_remove_locked(sp__io *io, sp__dns_entry *e) {
  sp__dns_entry **pp = &io->dns_tab[hash_key(e->name, e->family) % io->dns_nbuckets];
  while (*pp && *pp != e) pp = &(*pp)->next;
  if (*pp) *pp = e->next;
  e->in_table = false;
  io->dns_count--;
  entry_unref_locked(io, e);
}

static sp__dns_entry *table_find_locked(sp__io *io, const char *name, int family) {
  for (sp__dns_entry *e = io->dns_tab[hash_key(name, family) % io->dns_nbuckets]; e; e = e->next)
    if (e->family == family && strcmp(e->name, name) == 0) return e;
  return NULL;
}

/* Grows the table when it gets crowded (rehash under the lock: rare). */
static void table_grow_locked(sp__io *io) {
  if (io->dns_count < io->dns_nbuckets * 2) return;
  size_t n = io->dns_nbuckets * 4;
  sp__dns_entry **tab = calloc(n, sizeof *tab);
  if (!tab) return;
  for (size_t i = 0; i < io->dns_nbuckets; i++) {
    for (sp__dns_entry *e = io->dns_tab[i], *next; e; e = next) {
      next = e->next;
      size_t b = hash_key(e->name, e->family) % n;
      e->next = tab[b];
      tab[b] = e;
    }
  }
  free(io->dns_tab);
  io->dns_tab = tab;
  io->dns_nbuckets = n;
}

/* Drops expired DONE entries of one bucket, so the table stays bounded by
 * the names looked up within a TTL. */
static void bucket_sweep_locked(sp__io *io, size_t b, uint64_t now) {
  for (sp__dns_entry *e = io->dns_tab[b], *next; e; e = next) {
    next = e->next;
    if (e->state == ENTRY_DONE && e->expires <= now) table_remove_locked(io, e);
  }
}

void sp_dns_cache_clear(sp_runtime *rt) {
  if (!rt) return;
  sp__io *io = atomic_load(&rt->io);
  if (!io) return;
  pthread_mutex_lock(&io->dns_lock);
  for (size_t i = 0; i < io->dns_nbuckets; i++)
    while (io->dns_tab[i]) table_remove_locked(io, io->dns_tab[i]);
  pthread_mutex_unlock(&io->dns_lock);
}

void sp__dns_fini(sp__io *io) {
  sp_dns_cache_clear(io->rt);
}

/* ---------------------------------------------------------------- answers */

static sp_addrlist *list_with_port(const sp_addrlist *l, uint16_t port) {
  size_t sz = sizeof *l + l->n * sizeof l->addrs[0];
  sp_addrlist *c = malloc(sz);
  if (!c) return NULL;
  memcpy(c, l, sz);
  for (size_t i = 0; i < c->n; i++) {
    if (c->addrs[i].family == AF_INET)
      ((struct sockaddr_in *)&c->addrs[i].sa)->sin_port = htons(port);
    else
      ((struct sockaddr_in6 *)&c->addrs[i].sa)->sin6_port = htons(port);
  }
  return c;
}

void sp_addrlist_free(sp_addrlist *list) { free(list); }

/* The answer as a list, IPv4 addresses first, duplicates dropped. */
static sp_addrlist *list_from_ares(const struct ares_addrinfo *ai) {
  size_t n = 0;
  for (const struct ares_addrinfo_node *p = ai ? ai->nodes : NULL; p; p = p->ai_next) n++;
  sp_addrlist *l = calloc(1, sizeof *l + n * sizeof l->addrs[0]);
  if (!l) return NULL;
  l->ttl_s = MAX_TTL_S;
  for (int pass = 0; pass < 2; pass++) {
    int want = pass == 0 ? AF_INET : AF_INET6;
    for (const struct ares_addrinfo_node *p = ai ? ai->nodes : NULL; p; p = p->ai_next) {
      if (p->ai_family != want || !p->ai_addr) continue;
      if ((size_t)p->ai_addrlen > sizeof l->addrs[0].sa) continue;
      bool dup = false;
      for (size_t i = 0; i < l->n && !dup; i++)
        dup = l->addrs[i].len == (socklen_t)p->ai_addrlen && memcmp(&l->addrs[i].sa, p->ai_addr, p->ai_addrlen) == 0;
      if (dup) continue;
      sp_addr *a = &l->addrs[l->n++];
      memcpy(&a->sa, p->ai_addr, p->ai_addrlen);
      a->len = (socklen_t)p->ai_addrlen;
      a->family = want;
      uint32_t ttl = p->ai_ttl < 0 ? 0 : (uint32_t)p->ai_ttl;
      if (ttl < l->ttl_s) l->ttl_s = ttl;
    }
  }
  if (!l->n) l->ttl_s = 0;
  return l;
}

static int map_ares_status(int status) {
  switch (status) {
  case ARES_SUCCESS: return 0;
  case ARES_ENOTFOUND: return SP_ENOTFOUND;
  case ARES_ENODATA: return SP_ENODATA;
  case ARES_ETIMEOUT: return SP_ETIMEDOUT;
  case ARES_EREFUSED: return SP_EDNSREFUSED;
  /* c-ares 1.18 ends a query with ECONNREFUSED when every server either
   * answered REFUSED, SERVFAIL or NOTIMP, or was unreachable (port closed):
   * it keeps no other status for those answers. */
  case ARES_ECONNREFUSED: return SP_EDNSREFUSED;
  case ARES_ENOMEM: return SP_ENOMEM;
  case ARES_EBADNAME: return SP_EINVAL;
  case ARES_ECANCELLED:
  case ARES_EDESTRUCTION: return SP_ESHUTDOWN;
  default: return SP_EDNS;
  }
}

/* Fills the entry and wakes its waiters.  Called by the driver, or at
 * shutdown for queries that never ran. */
static void query_complete(dns_query *q, int err, sp_addrlist *list) {
  sp__io *io = q->io;
  sp__dns_entry *e = q->e;
  uint64_t now = sp_now_ns();
  if (!err && list && list->n == 0) {
    err = SP_ENODATA;
    free(list);
    list = NULL;
  }
  pthread_mutex_lock(&io->dns_lock);
  e->err = err;
  e->list = list;
  if (!err)
    e->expires = now + (uint64_t)list->ttl_s * 1000000000u;
  else if (err == SP_ENOTFOUND || err == SP_ENODATA)
    e->expires = now + NEGATIVE_TTL_NS;
  else
    e->expires = now; /* failures are not cached */
  e->state = ENTRY_DONE;
  pthread_mutex_unlock(&io->dns_lock);
  if (err && err != SP_ESHUTDOWN) atomic_fetch_add_explicit(&io->dns_stats[4], 1, memory_order_relaxed);
  sp_event_set(&e->done);
  pthread_mutex_lock(&io->dns_lock);
  entry_unref_locked(io, e);
  pthread_mutex_unlock(&io->dns_lock);
  free(q);
}

/* A query that ended because no server could be reached, when the last
 * socket c-ares tried to open failed for want of descriptors or memory:
 * that local condition, not "refused". */
static int local_cause(const dns_query *q, int status) {
  if (status != ARES_ECONNREFUSED || !q->ctx) return 0;
  int e = q->ctx->ares_sock_errno;
  if (e == EMFILE || e == ENFILE) return -e;
  if (e == ENOMEM || e == ENOBUFS) return SP_ENOMEM;
  return 0;
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
  (void)timeouts;
  dns_query *q = arg;
  sp_addrlist *list = NULL;
  int err = local_cause(q, status);
  if (!err) err = map_ares_status(status);
  if (!err) {
    list = list_from_ares(res);
    if (!list) err = SP_ENOMEM;
  }
  if (res) ares_freeaddrinfo(res);
  query_complete(q, err, list);
}

/* ------------------------------------------------------ c-ares on the loop */

static void on_ares_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
  sp__ioctx *ctx = data;
  if (fd < 0) return;
  if (fd >= ctx->ares_nbyfd) {
    if (!readable && !writable) return;
    int n = ctx->ares_nbyfd ? ctx->ares_nbyfd : 64;
    while (n <= fd) n *= 2;
    sp__iowatch **p = realloc(ctx->ares_byfd, (size_t)n * sizeof *p);
    if (!p) return; /* the query times out instead */
    memset(p + ctx->ares_nbyfd, 0, (size_t)(n - ctx->ares_nbyfd) * sizeof *p);
    ctx->ares_byfd = p;
    ctx->ares_nbyfd = n;
  }
  sp__iowatch *w = ctx->ares_byfd[fd];
  if (!readable && !writable) {
    if (w) {
      ctx->ares_byfd[fd] = NULL;
      sp__iowatch_free(ctx, w);
    }
    return;
  }
  if (!w) {
    w = sp__iowatch_new(ctx, fd, SP__W_ARES);
    if (!w) return;
    ctx->ares_byfd[fd] = w;
  }
  sp__iowatch_set(ctx, w, (readable ? SP_READABLE : 0u) | (writable ? SP_WRITABLE : 0u));
}

/* Applies the runtime's server list to ctx's channel when it changed.
 * c-ares 1.18 refuses to change servers (ARES_ENOTIMP) while a query is
 * outstanding: the change is then tried again at the next lookup, and this
 * one goes to the servers in place. */
static int apply_servers(sp__ioctx *ctx) {
  sp__io *io = atomic_load(&ctx->rt->io);
  unsigned gen = atomic_load(&io->dns_servers_gen);
  if (ctx->ares_servers_gen == gen + 1) return 0; /* +1: 0 means never applied */
  pthread_mutex_lock(&io->dns_lock);
  char *csv = io->dns_servers ? sp__strdup(io->dns_servers) : NULL;
  bool oom = io->dns_servers && !csv;
  pthread_mutex_unlock(&io->dns_lock);
  if (oom) return SP_ENOMEM;
  int r = csv ? ares_set_servers_ports_csv(ctx->ares, csv)
          : ctx->ares_system ? ares_set_servers_ports(ctx->ares, ctx->ares_system)
                             : ARES_SUCCESS;
  free(csv);
  if (r == ARES_ENOTIMP) return 0;
  ctx->ares_servers_gen = gen + 1;
  return r == ARES_SUCCESS ? 0 : SP_EINVAL;
}

/*
 * c-ares's socket calls, made as c-ares makes them, so that a socket() that
 * fails is seen: c-ares 1.18 then skips the server and ends the query with
 * ARES_ECONNREFUSED, the status of servers that refused, and keeps no errno.
 * Out of descriptors, every lookup would read as "refused".
 */
static ares_socket_t ares_open(int domain, int type, int protocol, void *arg) {
  sp__ioctx *ctx = arg;
  int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
  ctx->ares_sock_errno = fd < 0 ? errno : 0;
  return fd < 0 ? ARES_SOCKET_BAD : fd;
}

static int ares_close(ares_socket_t fd, void *arg) {
  (void)arg;
  return close(fd);
}

static int ares_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *arg) {
  (void)arg;
  return connect(fd, sa, len);
}

static ares_ssize_t ares_recvfrom(ares_socket_t fd, void *buf, size_t n, int flags, struct sockaddr *from,
                                  ares_socklen_t *from_len, void *arg) {
  (void)arg;
  return recvfrom(fd, buf, n, flags, from, from_len);
}

static ares_ssize_t ares_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *arg) {
  (void)arg;
  struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
  return sendmsg(fd, &m, MSG_NOSIGNAL);
}

/* c-ares keeps the pointer: static. */
static const struct ares_socket_functions ares_socket_calls = {ares_open, ares_close, ares_connect, ares_recvfrom,
                                                               ares_sendv};

int sp__dns_ctx_init(sp__ioctx *ctx) {
  struct ares_options o;
  memset(&o, 0, sizeof o);
  o.sock_state_cb = on_ares_sock_state;
  o.sock_state_cb_data = ctx;
  o.timeout = ARES_TIMEOUT_MS;
  o.tries = ARES_TRIES;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  int r = ares_init_options(&ctx->ares, &o, mask);
  if (r != ARES_SUCCESS) return r == ARES_ENOMEM ? SP_ENOMEM : SP_EDNS;
  ares_set_socket_functions(ctx->ares, &ares_socket_calls, ctx);
  /* The system's servers, for sp_dns_set_servers(rt, NULL) after a list. */
  if (ares_get_servers_ports(ctx->ares, &ctx->ares_system) != ARES_SUCCESS) ctx->ares_system = NULL;
  return 0;
}

void sp__dns_ctx_fini(sp__ioctx *ctx) {
  if (!ctx->ares) return;
  ares_destroy(ctx->ares); /* completes queries with ARES_EDESTRUCTION; closes its sockets */
  ctx->ares = NULL;
  ares_free_data(ctx->ares_system);
  ctx->ares_system = NULL;
  for (int i = 0; i < ctx->ares_nbyfd; i++)
    if (ctx->ares_byfd[i]) sp__iowatch_free(ctx, ctx->ares_byfd[i]);
  free(ctx->ares_byfd);
  ctx->ares_byfd = NULL;
  ctx->ares_nbyfd = 0;
}

void sp__dns_run_cmd(sp__ioctx *ctx, sp__iocmd *cmd) {
  dns_query *q = (dns_query *)cmd;
  if (!ctx) {
    query_complete(q, SP_ESHUTDOWN, NULL);
    return;
  }
  int err = apply_servers(ctx);
  if (err) {
    query_complete(q, err, NULL);
    return;
  }
  struct ares_addrinfo_hints h;
  memset(&h, 0, sizeof h);
  h.ai_family = q->e->family;
  h.ai_socktype = SOCK_STREAM;
  atomic_fetch_add_explicit(&q->io->dns_stats[3], 1, memory_order_relaxed);
  /* May complete at once (/etc/hosts, bad name): on_addrinfo runs inside. */
  ares_getaddrinfo(ctx->ares, q->e->name, NULL, &h, on_addrinfo, q);
}

void sp__dns_on_ready(sp__ioctx *ctx, int fd, unsigned rev) {
  ares_process_fd(ctx->ares, (rev & SP_READABLE) ? fd : ARES_SOCKET_BAD,
                  (rev & SP_WRITABLE) ? fd : ARES_SOCKET_BAD);
}

uint64_t sp__dns_deadline(sp__ioctx *ctx, uint64_t now) {
  struct timeval tv, *tvp = ares_timeout(ctx->ares, NULL, &tv);
  if (!tvp) return SP_NEVER;
  return now + (uint64_t)tvp->tv_sec * 1000000000u + (uint64_t)tvp->tv_usec * 1000u;
}

void sp__dns_on_timeout(sp__ioctx *ctx, uint64_t now) {
  if (sp__dns_deadline(ctx, now) <= now) ares_process_fd(ctx->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

/* ------------------------------------------------------------------ lookup */

/* A literal address needs no lookup. */
int sp__ip_literal(const char *host, uint16_t port, sp_addr *out) {
  sp_addr a;
  memset(&a, 0, sizeof a);
  struct sockaddr_in *s4 = (struct sockaddr_in *)&a.sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.sa;
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    host = buf;
  }
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    a.len = sizeof *s4;
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    a.len = sizeof *s6;
    a.family = AF_INET6;
  } else {
    return 0;
  }
  if (out) *out = a;
  return 1;
}

/* A literal address needs no lookup: 0 and *out, 1 if host is a name. */
static int parse_literal(const char *host, uint16_t port, int family, sp_addrlist **out) {
  sp_addr a;
  if (!sp__ip_literal(host, port, &a)) return 1;
  if (family != AF_UNSPEC && family != a.family) return SP_ENODATA;
  sp_addrlist *l = malloc(sizeof *l + sizeof l->addrs[0]);
  if (!l) return SP_ENOMEM;
  l->n = 1;
  l->ttl_s = MAX_TTL_S;
  l->addrs[0] = a;
  *out = l;
  return 0;
}

static int normalise_name(const char *host, char *out) {
  size_t n = strlen(host);
  if (n && host[n - 1] == '.') n--; /* "example.com." is "example.com" */
  if (n == 0 || n > DNS_NAME_MAX) return SP_EINVAL;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)host[i];
    if (c <= ' ' || c == 0x7f || c == '/' || c == '\\') return SP_EINVAL;
    out[i] = (char)tolower(c);
  }
  out[n] = '\0';
  return 0;
}

/* Starts a query for a new entry on the calling worker's driver. */
static int start_query(sp__io *io, sp__dns_entry *e) {
  sp__ioctx *ctx;
  int err = sp__ioctx_current(&ctx);
  if (err) return err;
  dns_query *q = calloc(1, sizeof *q);
  if (!q) return SP_ENOMEM;
  q->cmd.op = SP__CMD_DNS_QUERY;
  q->io = io;
  q->ctx = ctx;
  q->e = e;
  if (!sp__ioctx_submit(ctx, &q->cmd)) {
    free(q);
    return SP_ESHUTDOWN;
  }
  return 0;
}

/* Looks name up in the cache; joins or starts a query.  Returns 0 with the
 * entry referenced in *out (to wait on), or an error. */
static int lookup_entry(sp__io *io, const char *name, int family, sp__dns_entry **out, bool *hit) {
  uint64_t now = sp_now_ns();
  pthread_mutex_lock(&io->dns_lock);
  size_t b = hash_key(name, family) % io->dns_nbuckets;
  bucket_sweep_locked(io, b, now);
  sp__dns_entry *e = table_find_locked(io, name, family);
  *hit = e != NULL;
  if (e) {
    e->refs++;
    pthread_mutex_unlock(&io->dns_lock);
    atomic_fetch_add_explicit(&io->dns_stats[e->state == ENTRY_DONE ? 1 : 2], 1, memory_order_relaxed);
    *out = e;
    return 0;
  }
  e = calloc(1, sizeof *e);
  char *nm = sp__strdup(name);
  if (!e || !nm) {
    pthread_mutex_unlock(&io->dns_lock);
    free(e);
    free(nm);
    return SP_ENOMEM;
  }
  e->name = nm;
  e->family = family;
  e->state = ENTRY_PENDING;
  e->refs = 3; /* table, this lookup, the query */
  e->in_table = true;
  sp_event_init(&e->done);
  b = hash_key(name, family) % io->dns_nbuckets;
  e->next = io->dns_tab[b];
  io->dns_tab[b] = e;
  io->dns_count++;
  table_grow_locked(io);
  pthread_mutex_unlock(&io->dns_lock);
  int err = start_query(io, e);
  if (err) {
    pthread_mutex_lock(&io->dns_lock);
    e->state = ENTRY_DONE;
    e->err = err;
    e->expires = 0;
    if (e->in_table) table_remove_locked(io, e);
    pthread_mutex_unlock(&io->dns_lock);
    sp_event_set(&e->done); /* lookups that joined meanwhile see err */
    pthread_mutex_lock(&io->dns_lock);
    e->refs--;                 /* the query's (never the last: ours remains) */
    entry_unref_locked(io, e); /* ours */
    pthread_mutex_unlock(&io->dns_lock);
    return err;
  }
  *out = e;
  return 0;
}

int sp_resolve(const char *host, uint16_t port, int family, uint64_t timeout_ns, sp_addrlist **out) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!host || (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC)) return SP_EINVAL;
  int r = parse_literal(host, port, family, out);
  if (r <= 0) return r;
  char name[DNS_NAME_MAX + 1];
  if ((r = normalise_name(host, name))) return r;
  if (!sp__cur_task()) return SP_EPERM;
  sp__io *io = sp__io_get(sp__cur_runtime());
  if (!io) return SP_ENOMEM;
  atomic_fetch_add_explicit(&io->dns_stats[0], 1, memory_order_relaxed);

  sp__dns_entry *e;
  bool hit;
  if ((r = lookup_entry(io, name, family, &e, &hit))) return r;
  sp_deadline scope;
  if (timeout_ns != UINT64_MAX) sp_deadline_push(&scope, timeout_ns);
  int wr = sp_event_wait(&e->done);
  if (timeout_ns != UINT64_MAX) sp_deadline_pop(&scope); /* an answer that came counts */
  pthread_mutex_lock(&io->dns_lock);
  if (!wr) {
    r = e->err;
    if (!r) {
      *out = list_with_port(e->list, port);
      if (!*out) r = SP_ENOMEM;
    }
  } else {
    r = wr;
  }
  entry_unref_locked(io, e);
  pthread_mutex_unlock(&io->dns_lock);
  return r;
}

/* One server, "IPv4[:port]", "[IPv6][:port]" or a bare "IPv6" (without a
 * port), as c-ares reads it without guessing, "IPv4:port" or "[IPv6]:port"
 * (port 53 unless given), into out[size].  0, or SP_EINVAL: not an address
 * inet_pton takes, or a port not in 1..65535. */
static int server_canonical(const char *s, size_t n, char *out, size_t size) {
  const char *end = s + n, *a, *aend, *after;
  int family;
  if (n && s[0] == '[') {
    a = s + 1;
    aend = memchr(a, ']', n - 1);
    if (!aend) return SP_EINVAL;
    after = aend + 1;
    family = AF_INET6;
  } else {
    const char *colon = memchr(s, ':', n);
    bool v6 = colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)); /* two colons: bare IPv6 */
    a = s;
    aend = after = colon && !v6 ? colon : end;
    family = v6 ? AF_INET6 : AF_INET;
  }
  const char *port = NULL; /* after the address: nothing, or ":port" */
  if (after < end) {
    if (*after != ':' || after + 1 == end) return SP_EINVAL;
    port = after + 1;
  }
  char addr[INET6_ADDRSTRLEN];
  size_t alen = (size_t)(aend - a);
  if (alen == 0 || alen >= sizeof addr) return SP_EINVAL;
  memcpy(addr, a, alen);
  addr[alen] = '\0';
  unsigned char bin[16];
  if (inet_pton(family, addr, bin) != 1 || !inet_ntop(family, bin, addr, sizeof addr)) return SP_EINVAL;
  long p = 53;
  if (port) {
    if (end - port > 5) return SP_EINVAL;
    p = 0;
    for (const char *c = port; c < end; c++) {
      if (*c < '0' || *c > '9') return SP_EINVAL;
      p = p * 10 + (*c - '0');
    }
    if (p < 1 || p > 65535) return SP_EINVAL;
  }
  int w = snprintf(out, size, family == AF_INET6 ? "[%s]:%ld" : "%s:%ld", addr, p);
  return w > 0 && (size_t)w < size ? 0 : SP_EINVAL;
}

int sp__dns_servers_canonical(const char *list, char **out) {
  *out = NULL;
  size_t n = strlen(list);
  if (!n || n > 4096) return SP_EINVAL;
  /* each entry grows to at most "[" INET6_ADDRSTRLEN "]:65535," */
  size_t cap = (n / 2 + 1) * (INET6_ADDRSTRLEN + 9) + 1, len = 0;
  char *csv = malloc(cap);
  if (!csv) return SP_ENOMEM;
  for (const char *p = list;;) {
    size_t k = strcspn(p, ",");
    if (!k || server_canonical(p, k, csv + len, cap - len - 1) != 0) { /* "" or ",,": no server */
      free(csv);
      return SP_EINVAL;
    }
    len += strlen(csv + len);
    p += k;
    if (!*p) break;
    csv[len++] = ',';
    p++;
  }
  csv[len] = '\0';
  *out = csv;
  return 0;
}

int sp_dns_set_servers(sp_runtime *rt, const char *servers) {
  if (!rt) return SP_EINVAL;
  char *csv = NULL;
  if (servers) {
    int err = sp__dns_servers_canonical(servers, &csv);
    if (err) return err; /* the servers in place stay */
  }
  sp__io *io = sp__io_get(rt);
  if (!io) {
    free(csv);
    return SP_ENOMEM;
  }
  pthread_mutex_lock(&io->dns_lock);
  free(io->dns_servers);
  io->dns_servers = csv;
  atomic_fetch_add(&io->dns_servers_gen, 1);
  pthread_mutex_unlock(&io->dns_lock);
  sp_dns_cache_clear(rt);
  return 0;
}

void sp_dns_get_stats(sp_runtime *rt, sp_dns_stats *out) {
  memset(out, 0, sizeof *out);
  sp__io *io = rt ? atomic_load(&rt->io) : NULL;
  if (!io) return;
  out->lookups = atomic_load(&io->dns_stats[0]);
  out->cache_hits = atomic_load(&io->dns_stats[1]);
  out->coalesced = atomic_load(&io->dns_stats[2]);
  out->queries = atomic_load(&io->dns_stats[3]);
  out->failures = atomic_load(&io->dns_stats[4]);
}
