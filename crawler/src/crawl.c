/*
 * crawl.c - the crawl engine (crawl.h explains the shape).
 *
 * Invariants, all guarded by C.lock (a spindle mutex: held only for
 * in-memory work, never across a fetch or a write):
 *   - a URL is queued at most once: its fingerprint enters `seen` when it is
 *     queued, and never leaves;
 *   - a host is on the ring exactly when its queue is not empty;
 *   - host->active counts its transfers in flight (robots.txt included) and
 *     never exceeds per_host; `inflight` is the sum over hosts;
 *   - `reserved` counts pages dispatched; it never exceeds max_pages, so
 *     the page limit is exact: a retry reuses its page's reservation.
 * The crawl is over when nothing is queued and nothing is in flight, or,
 * once stopping (SIGINT, --max-time, the page limit), when nothing is in
 * flight.
 */
#include "crawl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spindle/spindle.h>

#include "identity.h"
#include "links.h"
#include "output.h"
#include "robots.h"
#include "seen.h"
#include "state.h"
#include "url.h"
#include "warc.h"

#define HOST_BUCKETS 4096
#define ROBOTS_MAX_BYTES (500u * 1024u) /* RFC 9309 2.5: parse at least 500 KiB */
#define WAIT_SLICE_NS 100000000ull     /* waiting fetchers look at the stop flag this often */
#define MAX_BACKOFF_NS (60ull * 1000000000u)
#define MAX_CRAWL_DELAY_S 60.0          /* a larger robots.txt Crawl-delay is taken as this */
#define SHORTAGE_PAUSE_NS 100000000ull  /* a host waits this long after a transfer found no descriptor */
#define SHORTAGE_GIVE_UP 20             /* failures in a row with one transfer in flight: stop */
#define FD_RESERVE 24                   /* descriptors besides the transfers': stdio, state, outputs... */
#define FD_PER_WORKER 4                 /* ... and each worker's: its poll loop, its wakeup, its DNS sockets */

/* Retry n (from 1) waits 1 s, 2 s, 4 s ... at most a minute. */
static uint64_t backoff_ns(int n) {
  return n >= 7 ? MAX_BACKOFF_NS : (1000000000ull << (n - 1));
}

enum { ROBOTS_UNKNOWN = 0, ROBOTS_FETCHING, ROBOTS_READY };

/* A referrer, shared by the URLs found on one page: a queued URL is small
 * (about 80 bytes here), and a copy of its referrer each would double it. */
typedef struct shared_str {
  atomic_long refs;
  char s[];
} shared_str;

/* What a retry remembers of its last attempt; allocated at the first retry. */
typedef struct retry_note {
  uint64_t not_before; /* backoff */
  char *last_line;     /* the line of its last attempt */
  int last_rc, last_kind;
  long last_status;
} retry_note;

typedef struct item {
  struct item *next;
  shared_str *referrer; /* NULL for a seed */
  retry_note *retry;    /* NULL until retried */
  int depth;
  int redirects;
  int retries;
  char url[];
} item;

typedef struct host {
  char *key;           /* scheme://host:port */
  int robots_state;
  int robots_tries;    /* failed robots.txt fetches retried */
  bool robots_assumed; /* robots.txt unavailable: disallow all, assumed */
  bool unreachable;    /* ... because the host gave no answer at all */
  crawl_robots *robots;
  uint64_t delay_ns;
  unsigned active;
  uint64_t next_ns;    /* earliest start of the next request */
  item *head, *tail;   /* URLs to fetch, first found first */
  long spilled;        /* more URLs to fetch, in the state database only (see page_in) */
  bool no_spill;       /* reading back failed once: its URLs stay in memory */
  int64_t loaded_seq;  /* the last of its URLs in memory (state seq); spilled ones come after */
  item *retries;       /* URLs to fetch again once their not_before has come */
  int worker;          /* the HTTP pool its transfers use */
  bool in_ring;
  struct host *ring_next, *ring_prev;
  struct host *hnext;
} host;

typedef enum { JOB_NONE, JOB_PAGE, JOB_ROBOTS } job_kind;

typedef struct job {
  job_kind kind;
  host *h;
  item *it;
} job;

static struct crawler {
  const crawl_config *cfg;
  sp_mutex lock;
  host *hosts[HOST_BUCKETS];
  host *ring;          /* cursor into the ring of hosts with queued URLs */
  long nring;
  crawl_seen seen;
  crawl_recent seen_raw; /* fingerprints of URLs exactly as found, recently: decided once */
  char **seeds;        /* cleaned seed URLs */
  char **seed_hosts;
  size_t nseed_hosts;  /* of both */
  long queued, inflight, reserved;
  long max_inflight;   /* transfers in flight at most: --concurrency, lowered on a shortage */
  int shortage_streak; /* shortages in a row with one transfer in flight */
  bool shortage_warned;
  long in_memory, in_memory_peak; /* queued URLs held in memory (retries too) */
  bool stopping, finished;
  sp_sem wake;
  long nwaiting;
  uint64_t start_ns, deadline_ns;
  crawl_output out;
  bool failed;         /* the state or an output could not be written: stopping, nothing more recorded */
  crawl_state *state;
  crawl_state *spill;  /* where the frontier's overflow waits: state, or a temporary file */
  bool spill_failed;   /* the temporary file could not be made: everything stays in memory */
  crawl_summary *sum;
  unsigned nworkers;
  shared_str *last_referrer; /* see referrer_ref */
} C;

static atomic_int stop_requested;

void crawl_request_stop(void) { atomic_store(&stop_requested, 1); }

/* The state or an output could not be written.  The crawl stops as on
 * SIGINT (the transfers in flight finish) and records nothing more, so
 * that what was not recorded stays queued in the state: the same command,
 * run again once the cause is gone, fetches it once and writes it once.
 * Lock held, or before the fetchers start. */
static void fail_local(const char *what, const char *why) {
  if (!C.failed) fprintf(stderr, "spindle-crawl: %s failed: %s; stopping\n", what, why);
  C.failed = true;
  C.stopping = true;
  C.sum->interrupted = true;
}

static void fail_state(void) {
  char what[4200];
  snprintf(what, sizeof what, "writing the state %s", crawl_state_path(C.state));
  fail_local(what, crawl_state_error(C.state));
}

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

/* ----------------------------------------------------------------- errors */

enum { EK_DNS, EK_CONNECT, EK_TIMEOUT, EK_TOO_BIG, EK_RESET, EK_TLS, EK_PROTOCOL, EK_REDIRECTS, EK_OTHER, EK_N };
static const char *const kind_names[EK_N] = {"dns", "connect", "timeout", "too_big", "reset",
                                             "tls", "protocol", "redirects", "other"};

static int error_kind(int rc, int curl_code) {
  switch (rc) {
  case SP_ENOTFOUND:
  case SP_ENODATA:
  case SP_EDNS:
  case SP_EDNSREFUSED: return EK_DNS;
  case -ECONNREFUSED:
  case -EHOSTUNREACH:
  case -ENETUNREACH: return EK_CONNECT;
  case SP_ETIMEDOUT: return EK_TIMEOUT;
  case SP_ETOOBIG: return EK_TOO_BIG;
  case -ECONNRESET:
  case -EPIPE: return EK_RESET;
  case SP_EREDIRECTS: return EK_REDIRECTS;
  }
  if (curl_code == 35 || curl_code == 60 || curl_code == 58 || curl_code == 77) return EK_TLS;
  if (curl_code == 7) return EK_CONNECT;
  if (curl_code == 56) return EK_RESET;
  if (rc == SP_EHTTP) return EK_PROTOCOL;
  return EK_OTHER;
}

/* Worth another try later: the server or the path to it may recover. */
static bool retryable(int rc, long status, int curl_code) {
  if (rc == 0) return status >= 500 && status <= 599;
  if (error_kind(rc, curl_code) == EK_TLS) return false; /* the same certificate fails again */
  /* SP_EDNSREFUSED: a SERVFAIL, a REFUSED or an unreachable resolver, often
   * passing (c-ares 1.18 does not tell them apart). */
  return rc == SP_ETIMEDOUT || rc == -ECONNREFUSED || rc == -ECONNRESET || rc == SP_EHTTP || rc == SP_EDNSREFUSED;
}

/* ------------------------------------------------------------------ hosts */

static size_t hash_str(const char *s) {
  size_t h = 5381;
  for (; *s; s++) h = h * 33 + (unsigned char)*s;
  return h;
}

static host *host_get(const char *key) {
  size_t b = hash_str(key) % HOST_BUCKETS;
  for (host *h = C.hosts[b]; h; h = h->hnext)
    if (strcmp(h->key, key) == 0) return h;
  host *h = calloc(1, sizeof *h);
  if (!h || !(h->key = strdup(key))) {
    free(h);
    return NULL;
  }
  h->delay_ns = (uint64_t)(C.cfg->delay_s * 1e9);
  h->robots_state = C.cfg->ignore_robots ? ROBOTS_READY : ROBOTS_UNKNOWN;
  h->worker = (int)(hash_str(key) % (C.nworkers ? C.nworkers : 1));
  h->hnext = C.hosts[b];
  C.hosts[b] = h;
  return h;
}

static void ring_add(host *h) {
  if (h->in_ring) return;
  h->in_ring = true;
  C.nring++;
  if (!C.ring) {
    h->ring_next = h->ring_prev = h;
    C.ring = h;
    return;
  }
  h->ring_prev = C.ring->ring_prev; /* at the back: just before the cursor */
  h->ring_next = C.ring;
  C.ring->ring_prev->ring_next = h;
  C.ring->ring_prev = h;
}

static void ring_remove(host *h) {
  if (!h->in_ring) return;
  h->in_ring = false;
  C.nring--;
  if (h->ring_next == h) {
    C.ring = NULL;
  } else {
    h->ring_prev->ring_next = h->ring_next;
    h->ring_next->ring_prev = h->ring_prev;
    if (C.ring == h) C.ring = h->ring_next;
  }
  h->ring_next = h->ring_prev = NULL;
}

/* A host is on the ring while it has URLs of any kind. */
static void ring_update(host *h) {
  if (h->head || h->retries || h->spilled)
    ring_add(h);
  else
    ring_remove(h);
}

static void count_in_memory(long d) {
  C.in_memory += d;
  if (C.in_memory > C.in_memory_peak) C.in_memory_peak = C.in_memory;
}

static void host_push(host *h, item *it) {
  it->next = NULL;
  if (h->tail)
    h->tail->next = it;
  else
    h->head = it;
  h->tail = it;
  C.queued++;
  count_in_memory(1);
  ring_add(h);
}

/* A retry waits apart, so that its backoff holds up no other URL of its
 * host.  Unordered: a host has few. */
static void host_push_retry(host *h, item *it) {
  it->next = h->retries;
  h->retries = it;
  C.queued++;
  count_in_memory(1);
  ring_add(h);
}

static item *host_pop(host *h) {
  item *it = h->head;
  h->head = it->next;
  if (!h->head) h->tail = NULL;
  C.queued--;
  count_in_memory(-1);
  ring_update(h);
  return it;
}

/* Takes a retry whose time has come, or notes the earliest. */
static item *host_pop_retry(host *h, uint64_t now, uint64_t *wait_until) {
  for (item **pp = &h->retries; *pp; pp = &(*pp)->next) {
    item *it = *pp;
    if (it->retry->not_before <= now) {
      *pp = it->next;
      C.queued--;
      count_in_memory(-1);
      ring_update(h);
      return it;
    }
    if (it->retry->not_before < *wait_until) *wait_until = it->retry->not_before;
  }
  return NULL;
}

static void shared_str_release(shared_str *r) {
  if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) free(r);
}

static void item_free(item *it) {
  if (!it) return;
  if (it->retry) free(it->retry->last_line);
  free(it->retry);
  shared_str_release(it->referrer);
  free(it);
}

/* referrer as a shared string: the links of a page are queued one after
 * another, so the last one made is the one asked for again.  Lock held. */
static shared_str *referrer_ref(const char *referrer) {
  if (!referrer) return NULL;
  shared_str *r = C.last_referrer;
  if (!r || strcmp(r->s, referrer) != 0) {
    size_t n = strlen(referrer) + 1;
    if (!(r = malloc(sizeof *r + n))) return NULL;
    atomic_init(&r->refs, 1); /* the cache's */
    memcpy(r->s, referrer, n);
    shared_str_release(C.last_referrer);
    C.last_referrer = r;
  }
  atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
  return r;
}

/* A queued URL in memory (copies url; shares referrer); NULL out of memory.
 * Lock held. */
static item *item_new(const char *url, const char *referrer, int depth, int redirects) {
  size_t n = strlen(url) + 1;
  item *it = malloc(sizeof *it + n);
  if (!it) return NULL;
  memset(it, 0, sizeof *it);
  memcpy(it->url, url, n);
  if (referrer && !(it->referrer = referrer_ref(referrer))) {
    free(it);
    return NULL;
  }
  it->depth = depth;
  it->redirects = redirects;
  return it;
}

/* Wakes fetchers waiting for work, at most as many as wait. */
static void wake_waiters(long n) {
  while (n-- > 0 && sp_sem_value(&C.wake) < C.nwaiting) sp_sem_release(&C.wake);
}

/* ------------------------------------------------------------------ scope */

/* key: the normalised URL, which --include and --exclude are matched
 * against (so that case and default ports do not matter). */
static bool in_scope(const char *key, const char *hostname) {
  const crawl_config *cfg = C.cfg;
  bool ok = cfg->any_host;
  for (size_t i = 0; !ok && i < C.nseed_hosts; i++) ok = strcasecmp(hostname, C.seed_hosts[i]) == 0;
  for (size_t i = 0; !ok && i < cfg->nallow_domains; i++) ok = crawl_host_in_domain(hostname, cfg->allow_domains[i]);
  if (!ok) return false;
  if (cfg->ninclude) {
    bool any = false;
    for (size_t i = 0; !any && i < cfg->ninclude; i++) any = regexec(&cfg->include[i], key, 0, NULL, 0) == 0;
    if (!any) return false;
  }
  for (size_t i = 0; i < cfg->nexclude; i++)
    if (regexec(&cfg->exclude[i], key, 0, NULL, 0) == 0) return false;
  return true;
}

/*
 * Queues url (absolute, as found) unless out of scope or seen.  Lock held.
 * Returns 1 if queued, 0 if skipped, -1 out of memory.  EQ_RECORD: also
 * store it in the state database; EQ_LOADED: it comes from there (already
 * in the seen set, and queued before: scope is not checked again).
 */
enum { EQ_RECORD = 1, EQ_LOADED = 2 };

/* The scheme, host and port of a normalised key ("scheme://host[:port]/..."
 * with a lower-case host, an IPv6 host in brackets, no default port): read
 * by hand, since most links are seen already and need no second parse. */
static bool split_key(const char *key, char *scheme, size_t ns, char *hostname, size_t nh, int *port) {
  const char *sep = strstr(key, "://");
  if (!sep || (size_t)(sep - key) >= ns) return false;
  memcpy(scheme, key, (size_t)(sep - key));
  scheme[sep - key] = '\0';
  const char *h = sep + 3, *end;
  const char *auth_end = h + strcspn(h, "/?#");
  for (const char *at = h; at < auth_end; at++)
    if (*at == '@') h = at + 1; /* user:password@ is no part of the host */
  if (*h == '[') {
    end = strchr(h, ']');
    if (!end) return false;
    h++; /* the host without its brackets, as crawl_url_split gives it */
  } else {
    end = h + strcspn(h, ":/?");
  }
  size_t hl = (size_t)(end - h);
  if (!hl || hl >= nh) return false;
  memcpy(hostname, h, hl);
  hostname[hl] = '\0';
  if (*end == ']') end++;
  *port = *end == ':' ? atoi(end + 1) : strcmp(scheme, "https") == 0 ? 443 : 80;
  return *port > 0 && *port < 65536;
}

/*
 * At most --frontier-memory queued URLs are held in memory: once that many
 * are, a URL queued for a host waits on disk only (the host counts it in
 * `spilled`), and so do the host's later ones, so that its queue keeps its
 * order.  When the host's URLs in memory run out, page_in reads the next
 * ones back, after `loaded_seq`.  On disk means the state database with
 * --state (which holds every queued URL anyway), else a temporary file made
 * at the first spill.
 */
static bool spills(const host *h) {
  return !h->no_spill && !C.spill_failed && (h->spilled || C.in_memory >= C.cfg->frontier_memory);
}

/* The spill store, made when first needed; NULL if it cannot be. */
static crawl_state *spill_store(void) {
  if (!C.spill && !C.spill_failed && !(C.spill = crawl_state_open_spill())) C.spill_failed = true;
  return C.spill;
}

static void page_in_item(void *arg, const char *url, const char *referrer, int depth, int redirects,
                         const char *hostkey, int64_t seq) {
  (void)hostkey;
  host *h = arg;
  if (h->spilled <= 0) return; /* cannot happen: every row read back was counted when it spilled */
  item *it = item_new(url, referrer, depth, redirects);
  if (!it) return; /* out of memory: loaded_seq stays, the next page_in reads it again */
  h->spilled--;
  C.queued--; /* host_push counts it again */
  host_push(h, it);
  h->loaded_seq = seq;
}

/* Reads h's next spilled URLs into memory; false if none came. */
static bool page_in(host *h) {
  long room = C.cfg->frontier_memory - C.in_memory;
  long want = room < 1 ? 1 : room > 256 ? 256 : room;
  long n = crawl_state_pending(C.spill, h->key, h->loaded_seq, want, page_in_item, h);
  if (n <= 0 && !h->head) {
    /* The database has none of them, or could not be read: they cannot be
     * fetched this run, and the host keeps its later URLs in memory (rows
     * left behind must never be read back as new ones). */
    char what[4400];
    snprintf(what, sizeof what, "reading %ld queued URLs of %s back from %s", h->spilled, h->key,
             crawl_state_path(C.spill));
    fail_local(what, n < 0 ? crawl_state_error(C.spill) : "they are not there");
    C.queued -= h->spilled;
    h->spilled = 0;
    h->no_spill = true;
    ring_update(h);
  }
  return h->head != NULL;
}

static int enqueue(const char *url, const char *referrer, int depth, int redirects, int flags, int64_t seq) {
  char *key = NULL, scheme[16], hostname[300];
  int port = 0, r = 0;
  /* The same string always gets the same answer (its key, its scope): a
   * page's links mostly repeat what other pages linked, and are dropped
   * here before any parsing.  The memory of them is bounded (links out of
   * scope never reach `seen`, and they can outnumber the crawl's own): one
   * forgotten takes the long way, to the same answer. */
  if (!(flags & EQ_LOADED) && crawl_recent_check_add(&C.seen_raw, crawl_fingerprint(url))) return 0;
  if (crawl_url_normalize(url, &key) != 0) goto out;
  uint64_t fp = crawl_fingerprint(key);
  if (!(flags & EQ_LOADED) && crawl_seen_has(&C.seen, fp)) goto out; /* the common case */
  if (!split_key(key, scheme, sizeof scheme, hostname, sizeof hostname, &port)) goto out;
  if (!(flags & EQ_LOADED) && !in_scope(key, hostname)) goto out;
  int added = crawl_seen_add(&C.seen, fp);
  if (added < 0 || (added == 0 && !(flags & EQ_LOADED))) {
    r = added;
    goto out;
  }
  char hk[600];
  bool v6 = strchr(hostname, ':') != NULL; /* the key is also the base of its robots.txt URL */
  snprintf(hk, sizeof hk, "%s://%s%s%s:%d", scheme, v6 ? "[" : "", hostname, v6 ? "]" : "", port);
  host *h = host_get(hk);
  if (!h) {
    r = -1;
    goto out;
  }
  bool spill = spills(h);
  /* With --state every URL queued is recorded; without, one reaches the
   * disk only when it spills. */
  if (C.state ? (flags & EQ_RECORD) != 0 : spill && spill_store())
    seq = crawl_state_queue(C.spill, key, url, referrer, depth, redirects, hk);
  if (seq < 0 && !C.state) {
    /* The frontier file could not take it: this URL and the later ones
     * stay in memory (with --state, the failed transaction stops the
     * crawl instead). */
    fprintf(stderr, "spindle-crawl: the frontier file %s cannot be written (%s): queued URLs stay in memory\n",
            crawl_state_path(C.spill), crawl_state_error(C.spill));
    C.spill_failed = true;
    seq = 0;
  }
  if (seq > 0 && spill) {
    h->spilled++;
    C.queued++;
    ring_add(h);
    r = 1;
    goto out;
  }
  item *it = item_new(url, referrer, depth, redirects);
  if (!it) {
    r = -1;
    goto out;
  }
  host_push(h, it);
  if (seq > 0) h->loaded_seq = seq;
  r = 1;
out:
  free(key);
  return r;
}

/* ------------------------------------------------------------ dispatching */

static bool over_limits(uint64_t now) {
  if (atomic_load(&stop_requested) || (C.deadline_ns && now >= C.deadline_ns)) {
    if (!C.stopping) C.sum->interrupted = true;
    C.stopping = true;
  }
  if (C.cfg->max_pages && C.reserved >= C.cfg->max_pages) C.stopping = true;
  if (C.failed) C.stopping = true;
  return C.stopping;
}

static const char *url_path(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strpbrk(p + 3, "/?") : NULL;
  return p && *p == '/' ? p : "/";
}

/* Pops h's next URL that robots.txt allows and whose retry time has come;
 * disallowed ones are dropped (and counted).  NULL if none.  Lock held. */
static item *next_allowed(host *h, uint64_t now, uint64_t *wait_until) {
  item *it = host_pop_retry(h, now, wait_until); /* allowed when first taken */
  if (it) return it;
  while (h->head || (h->spilled && page_in(h))) {
    it = host_pop(h);
    if (!h->robots || crawl_robots_allowed(h->robots, url_path(it->url))) return it;
    if (h->unreachable)
      C.sum->unreachable_skipped++;
    else
      C.sum->robots_skipped++;
    /* Disallowed by a robots.txt that was read: done.  Assumed because it
     * could not be fetched: left queued in the state, for a later run. */
    if (C.state && !h->robots_assumed && !C.failed) {
      crawl_state_begin(C.state);
      crawl_state_done(C.state, it->url, NULL);
      if (crawl_state_commit(C.state) < 0) fail_state();
    }
    item_free(it);
  }
  return NULL;
}

/* The next thing to do, or JOB_NONE with *wait_until the earliest time
 * something may become ready (UINT64_MAX when only a completion can make it
 * so).  Hosts are served round-robin from the ring's cursor.  Lock held. */
static job pick(uint64_t now, uint64_t *wait_until) {
  job j = {JOB_NONE, NULL, NULL};
  *wait_until = UINT64_MAX;
  if (over_limits(now) || C.inflight >= C.max_inflight) return j;
  for (long i = 0, n = C.nring; i < n && C.ring; i++) {
    host *h = C.ring;
    C.ring = h->ring_next; /* the cursor moves on whatever happens to h */
    if (h->active >= C.cfg->per_host || h->robots_state == ROBOTS_FETCHING) continue;
    /* The host's delay, or a failed robots.txt's backoff: robots.txt is a
     * request like any other. */
    if (now < h->next_ns) {
      if (h->next_ns < *wait_until) *wait_until = h->next_ns;
      continue;
    }
    if (h->robots_state == ROBOTS_UNKNOWN) {
      h->robots_state = ROBOTS_FETCHING;
      h->active++;
      h->next_ns = now + h->delay_ns;
      j.kind = JOB_ROBOTS;
      j.h = h;
      return j;
    }
    item *it = next_allowed(h, now, wait_until);
    if (!it) continue;
    if (it->retries == 0) C.reserved++; /* a retry keeps its page's reservation */
    h->active++;
    h->next_ns = now + h->delay_ns;
    j.kind = JOB_PAGE;
    j.h = h;
    j.it = it;
    return j;
  }
  return j;
}

/* ----------------------------------------------------------------- output */

/* Writes a line after its page was recorded.  A failure (a full disk, a
 * reader of --output - that went away) stops the crawl: crawling on would
 * fetch pages nobody can read of; with --state, a resume writes the lines
 * the file lacks.  Lock not held. */
static void write_line(const char *line) {
  if (crawl_output_line(&C.out, line) == 0) return;
  sp_mutex_lock(&C.lock); /* crawl_output_line said why */
  C.failed = true;
  C.stopping = true;
  C.sum->interrupted = true;
  sp_mutex_unlock(&C.lock);
}

/* Reals with 15 significant digits, not jansson's default 17: a double
 * holds 15 exactly, so fetch_ms 0.344 is written "0.344", not
 * "0.34399999999999997". */
#define JSON_REAL_FORMAT JSON_REAL_PRECISION(15)

/* A JSON string of s; bytes that are not UTF-8 (from a server's headers,
 * or a seed as typed) are written as %XX, so the line stays valid. */
static json_t *jstr(const char *s) {
  if (!s) return json_null();
  json_t *j = json_string(s);
  if (j) return j;
  size_t n = strlen(s);
  char *e = malloc(n * 3 + 1), *p = e;
  if (!e) return json_null();
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    p += *c < 0x80 ? (size_t)sprintf(p, "%c", *c) : (size_t)sprintf(p, "%%%02X", *c);
  j = json_string(e);
  free(e);
  return j ? j : json_null();
}

/* The output line of an attempted URL (malloc'd), or NULL. */
static char *make_line(const item *it, const sp_http_response *r, int rc, long nlinks, bool noindex, uint64_t ns) {
  json_t *o = json_object();
  json_object_set_new(o, "url", jstr(it->url));
  json_object_set_new(o, "final_url", jstr(r->url));
  json_object_set_new(o, "status", json_integer(r->status));
  json_object_set_new(o, "content_type", jstr(r->content_type));
  json_object_set_new(o, "bytes", json_integer((json_int_t)r->body_len));
  json_object_set_new(o, "depth", json_integer(it->depth));
  json_object_set_new(o, "referrer", jstr(it->referrer ? it->referrer->s : NULL));
  json_object_set_new(o, "links", json_integer(nlinks));
  json_object_set_new(o, "fetch_ms", json_real((double)(ns / 1000u) / 1e3)); /* microseconds */
  json_object_set_new(o, "ip", r->remote_ip[0] ? json_string(r->remote_ip) : json_null());
  if (r->redirect_url) json_object_set_new(o, "redirect", jstr(r->redirect_url));
  if (noindex) json_object_set_new(o, "noindex", json_true());
  if (it->retries) json_object_set_new(o, "retries", json_integer(it->retries));
  if (rc) {
    json_object_set_new(o, "error", json_string(kind_names[error_kind(rc, r->curl_code)]));
    json_object_set_new(o, "error_code", json_integer(rc));
    json_object_set_new(o, "message", jstr(r->error[0] ? r->error : sp_strerror(rc)));
  }
  char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_FORMAT);
  json_decref(o);
  return line;
}

/* ---------------------------------------------------------------- fetching */

static void base_request(sp_http_request *q, const host *h) {
  const crawl_config *cfg = C.cfg;
  sp_http_request_init(q);
  q->headers = (const char *const *)cfg->headers;
  q->resolve = (const char *const *)cfg->resolve;
  q->user_agent = cfg->user_agent;
  q->insecure = cfg->insecure;
  q->timeout_ns = (uint64_t)(cfg->timeout_s * 1e9);
  q->connect_timeout_ns = q->timeout_ns < 10000000000ull ? q->timeout_ns : 10000000000ull;
  q->worker = h->worker;
}

/* ------------------------------------------------------------- shortages */

/* A transfer that could not start for want of a local resource (file
 * descriptors, memory): no fault of the page's, which must not be recorded
 * as failed, or a resume would never fetch it. */
static bool local_shortage(int rc) { return rc == -EMFILE || rc == -ENFILE; }

/* Fewer transfers at once, so that they fit: half of those in flight when
 * one found nothing left.  Warns once, naming the limit.  Gives up when
 * even one transfer alone keeps failing.  Lock held. */
static void lower_concurrency(int rc, const sp_http_response *r) {
  long in_flight = C.inflight; /* this one included */
  long next = in_flight / 2 > 0 ? in_flight / 2 : 1;
  if (next < C.max_inflight) C.max_inflight = next;
  C.sum->local_requeues++;
  C.sum->concurrency = (unsigned)C.max_inflight;
  const char *why = r->error[0] ? r->error : sp_strerror(rc);
  if (in_flight > 1)
    C.shortage_streak = 0;
  else if (++C.shortage_streak >= SHORTAGE_GIVE_UP)
    fail_local("starting a transfer even with no other in flight", why);
  if (C.shortage_warned) return;
  C.shortage_warned = true;
  struct rlimit rl = {0, 0};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rc == SP_ENOMEM)
    fprintf(stderr, "spindle-crawl: out of memory with %ld transfers in flight (%s): lowering the concurrency to %ld\n",
            in_flight, why, C.max_inflight);
  else
    fprintf(stderr,
            "spindle-crawl: out of file descriptors (%s) with %ld transfers in flight, the limit being %llu (ulimit "
            "-n): lowering the concurrency to %ld\n",
            rc == -ENFILE ? "the system's" : "the process's", in_flight, (unsigned long long)rl.rlim_cur,
            C.max_inflight);
}

static void host_push_front(host *h, item *it) {
  it->next = h->head;
  h->head = it;
  if (!h->tail) h->tail = it;
  C.queued++;
  count_in_memory(1);
  ring_add(h);
}

/* The end of a transfer, whatever became of it.  Lock held. */
static void transfer_done(host *h) {
  h->active--;
  C.inflight--;
}

/* A page whose transfer found no resource goes back to the front of its
 * host's queue, unrecorded and uncounted, and its host pauses a little. */
static void put_back_page(host *h, item *it, int rc, const sp_http_response *r) {
  sp_mutex_lock(&C.lock);
  lower_concurrency(rc, r);
  transfer_done(h);
  if (it->retries == 0) C.reserved--;
  host_push_front(h, it);
  uint64_t later = sp_now_ns() + SHORTAGE_PAUSE_NS;
  if (h->next_ns < later) h->next_ns = later;
  wake_waiters(1);
  sp_mutex_unlock(&C.lock);
}

static void put_back_robots(host *h, int rc, const sp_http_response *r) {
  sp_mutex_lock(&C.lock);
  lower_concurrency(rc, r);
  transfer_done(h);
  h->robots_state = ROBOTS_UNKNOWN;
  uint64_t later = sp_now_ns() + SHORTAGE_PAUSE_NS;
  if (h->next_ns < later) h->next_ns = later;
  wake_waiters(1);
  sp_mutex_unlock(&C.lock);
}

/* Counts a request that was made (not put back).  Lock held. */
static void count_request(int rc, long status) {
  C.sum->attempts++;
  if (rc == 0 || status > 0) C.sum->responses++;
}

typedef struct robots_body {
  char *buf;
  size_t len;
} robots_body;

/* Keeps the first ROBOTS_MAX_BYTES of robots.txt, then stops the transfer:
 * RFC 9309 2.5 has a crawler parse at least 500 KiB, and what follows may
 * be ignored. */
static int robots_chunk(void *user, const char *data, size_t len) {
  robots_body *b = user;
  size_t room = ROBOTS_MAX_BYTES - b->len;
  size_t n = len < room ? len : room;
  if (!b->buf && !(b->buf = malloc(ROBOTS_MAX_BYTES + 1))) return 1;
  memcpy(b->buf + b->len, data, n);
  b->len += n;
  return b->len >= ROBOTS_MAX_BYTES;
}

static void do_robots(host *h) {
  uint64_t started = sp_now_ns();
  char url[700];
  snprintf(url, sizeof url, "%s/robots.txt", h->key);
  sp_http_request q;
  base_request(&q, h);
  q.url = url;
  q.max_redirects = 5; /* RFC 9309 2.3.1.2: at least five */
  q.max_body = 0;      /* robots_chunk keeps what counts */
  robots_body body = {0};
  q.on_body = robots_chunk;
  q.user = &body;
  sp_http_response r;
  int rc = sp_http_fetch(&q, &r);
  if (rc == SP_EABORTED && body.len >= ROBOTS_MAX_BYTES) rc = 0; /* cut at the limit: parse that */
  if (local_shortage(rc)) {
    free(body.buf);
    put_back_robots(h, rc, &r);
    sp_http_response_free(&r);
    return;
  }
  crawl_robots *rules = NULL;
  bool failed = false;
  if (rc == 0 && r.status >= 200 && r.status < 300)
    rules = crawl_robots_parse(body.buf ? body.buf : "", body.len, C.cfg->robots_agent);
  else if (rc == 0 && r.status >= 400 && r.status < 500)
    rules = crawl_robots_allow_all();
  else
    failed = true; /* 5xx or unreachable: disallow all, once retries (as for a page) are spent */
  bool retry = failed && retryable(rc, r.status, r.curl_code) && h->robots_tries < C.cfg->retries;
  char why[256] = "";
  if (failed && !retry) {
    rules = crawl_robots_disallow_all();
    if (rc)
      snprintf(why, sizeof why, "%s", r.error[0] ? r.error : sp_strerror(rc));
    else
      snprintf(why, sizeof why, "status %ld", (long)r.status);
  }
  long r_status = r.status;
  free(body.buf);
  sp_http_response_free(&r);
  sp_mutex_lock(&C.lock);
  count_request(rc, r_status);
  if (retry) {
    h->robots_tries++;
    C.sum->retries++;
    h->robots_state = ROBOTS_UNKNOWN;
    h->next_ns = sp_now_ns() + backoff_ns(h->robots_tries);
  } else {
    h->robots = rules;
    h->robots_assumed = failed;
    /* No answer at all (a name that does not exist, a refused connection,
     * TLS): the host could not be reached, which is not what robots.txt
     * disallowing it is. */
    h->unreachable = failed && rc != 0;
    if (h->unreachable && !C.sum->hosts_unreachable++)
      snprintf(C.sum->unreachable_failure, sizeof C.sum->unreachable_failure, "%s: %s", url, why);
    else if (failed && !h->unreachable && !C.sum->robots_unavailable++)
      snprintf(C.sum->robots_failure, sizeof C.sum->robots_failure, "%s: %s", url, why);
    double cd = rules ? crawl_robots_crawl_delay(rules) : -1;
    if (cd > MAX_CRAWL_DELAY_S) cd = MAX_CRAWL_DELAY_S;
    if (cd > 0 && (uint64_t)(cd * 1e9) > h->delay_ns) h->delay_ns = (uint64_t)(cd * 1e9);
    /* robots.txt was a request too: the first page waits the delay it
     * asks for from when robots.txt was asked for. */
    if (started + h->delay_ns > h->next_ns) h->next_ns = started + h->delay_ns;
    h->robots_state = ROBOTS_READY;
  }
  transfer_done(h);
  wake_waiters(C.cfg->per_host + 1);
  sp_mutex_unlock(&C.lock);
}

static bool is_html(const char *ct) {
  if (!ct) return false;
  while (*ct == ' ') ct++;
  return strncasecmp(ct, "text/html", 9) == 0 || strncasecmp(ct, "application/xhtml+xml", 21) == 0;
}

/* The WARC records of a fetch, compressed, outside any lock; NULL when
 * there is nothing to write, or (after stopping the crawl) when they
 * cannot be built. */
static crawl_warc_records *warc_records(const sp_http_response *r, const char *url) {
  if (!C.out.warc || !r->headers || !r->request_headers) return NULL;
  crawl_warc_records *recs = NULL;
  int rc = crawl_warc_build_fetch(C.out.warc, r->url ? r->url : url, r->remote_ip, r->request_headers,
                                  r->request_headers_len, r->headers, r->headers_len, r->body, r->body_len,
                                  CRAWL_WARC_DECODED, &recs);
  if (rc < 0) {
    sp_mutex_lock(&C.lock);
    fail_local("making the WARC records", sp_strerror(rc));
    sp_mutex_unlock(&C.lock);
  }
  return recs;
}

/* Appends a fetch's records.  With --state this runs under the lock, just
 * before the commit that records the page and the WARC's new end: appends
 * and commits happen in one order, so the committed end covers exactly
 * the records of committed pages (see output.h).  0, or -1 after stopping
 * the crawl (the file is as it was before). */
static int append_warc(const crawl_warc_records *recs, long long *end) {
  int rc = crawl_warc_append(C.out.warc, recs, end);
  if (rc == 0) return 0;
  char what[4200];
  snprintf(what, sizeof what, "writing the WARC file %s", C.out.warc_path);
  fail_local(what, sp_strerror(rc));
  return -1;
}

/* Counts a URL's final outcome in the summary.  Lock held. */
static void count_outcome(int rc, int kind, long status, size_t bytes) {
  crawl_summary *s = C.sum;
  s->pages++;
  s->bytes += bytes;
  if (rc) {
    s->failed++;
    s->errors_by_code[kind]++;
  } else if (status >= 500) {
    s->server_errors++;
  } else if (status >= 400) {
    s->client_errors++;
  } else if (status >= 300) {
    s->redirects++;
  } else {
    s->ok++;
  }
}

/* The crawl stopped (page limit, --max-time, SIGINT) with retries still
 * waiting: each was attempted, so each gets the line of its last attempt
 * rather than vanishing.  After the fetchers are done. */
static void flush_pending_retries(void) {
  sp_mutex_lock(&C.lock);
  for (size_t b = 0; b < HOST_BUCKETS && !C.failed; b++) {
    for (host *h = C.hosts[b]; h && !C.failed; h = h->hnext) {
      for (item *it = h->retries; it && !C.failed; it = it->next) {
        retry_note *rn = it->retry;
        if (!rn->last_line) continue;
        if (C.state) {
          crawl_state_begin(C.state);
          crawl_state_done(C.state, it->url, rn->last_line);
          if (crawl_state_commit(C.state) < 0) {
            fail_state();
            break;
          }
        }
        count_outcome(rn->last_rc, rn->last_kind, rn->last_status, 0);
        write_line(rn->last_line);
        free(rn->last_line);
        rn->last_line = NULL;
        C.queued--;
      }
    }
  }
  sp_mutex_unlock(&C.lock);
}

/* Records a page's outcome: its links queued, itself done with its line,
 * its WARC records appended, as one transaction.  false if it could not be
 * recorded (the crawl is then stopping, and a resume fetches the page
 * again).  Lock held. */
static bool record_page(item *it, int rc, const sp_http_response *r, const crawl_links *links, const char *line,
                        const crawl_warc_records *recs, long *added) {
  const crawl_config *cfg = C.cfg;
  if (C.failed) return false; /* nothing more is recorded: see fail_local */
  if (C.state) crawl_state_begin(C.state);
  if (rc == 0 && r->status >= 300 && r->status < 400 && r->redirect_url && it->redirects < cfg->max_redirects)
    *added += enqueue(r->redirect_url, it->url, it->depth, it->redirects + 1, EQ_RECORD, 0) > 0;
  for (size_t i = 0; links && i < links->n; i++)
    *added += enqueue(links->urls[i], it->url, it->depth + 1, 0, EQ_RECORD, 0) > 0;
  if (!C.state) return !recs || append_warc(recs, NULL) == 0;
  crawl_state_done(C.state, it->url, line);
  long long warc_before = crawl_warc_end(C.out.warc), warc_end = -1;
  if (recs) {
    if (append_warc(recs, &warc_end) < 0) {
      crawl_state_commit(C.state); /* rolls back: the transaction is not committed */
      return false;
    }
    char v[32];
    snprintf(v, sizeof v, "%lld", warc_end);
    crawl_state_set_meta(C.state, "warc_end", v);
  }
  /* Committed before the line is written: see state.h. */
  if (crawl_state_commit(C.state) == 0) return true;
  fail_state();
  /* The page is not done in the state: its records must not stay in the
   * WARC, where a resume would find them twice. */
  if (recs) crawl_warc_cut(C.out.warc, warc_before);
  return false;
}

static void do_page(host *h, item *it) {
  const crawl_config *cfg = C.cfg;
  sp_http_request q;
  base_request(&q, h);
  q.url = it->url;
  q.max_body = cfg->max_bytes;
  q.capture_request = C.out.warc != NULL;
  sp_http_response r;
  uint64_t t0 = sp_now_ns();
  int rc = sp_http_fetch(&q, &r);
  uint64_t took = sp_now_ns() - t0;
  if (local_shortage(rc)) {
    put_back_page(h, it, rc, &r);
    sp_http_response_free(&r);
    return;
  }

  crawl_links links = {0};
  bool parsed = false;
  if (rc == 0 && r.status >= 200 && r.status < 300 && is_html(r.content_type) && r.body &&
      (cfg->max_depth < 0 || it->depth < cfg->max_depth)) {
    parsed = crawl_links_extract(r.body, r.body_len, r.url ? r.url : it->url, cfg->robots_agent, &links) == 0;
  }
  bool retry = retryable(rc, r.status, r.curl_code) && it->retries < cfg->retries;
  if (retry && !it->retry && !(it->retry = calloc(1, sizeof *it->retry))) retry = false; /* out of memory */
  crawl_warc_records *recs = !retry && rc == 0 ? warc_records(&r, it->url) : NULL;
  char *line = make_line(it, &r, rc, parsed ? (long)links.n : 0, parsed && links.noindex, took);

  sp_mutex_lock(&C.lock);
  count_request(rc, r.status);
  long added = 0;
  if (retry) {
    /* Kept, in case the crawl stops before the retry: its line then says
     * how the last attempt ended (see flush_pending_retries). */
    retry_note *rn = it->retry;
    free(rn->last_line);
    rn->last_line = line;
    line = NULL;
    rn->last_rc = rc;
    rn->last_kind = error_kind(rc, r.curl_code);
    rn->last_status = r.status;
    it->retries++;
    C.sum->retries++;
    rn->not_before = sp_now_ns() + backoff_ns(it->retries);
    host_push_retry(h, it);
    added++;
    it = NULL;
  } else if (record_page(it, rc, &r, parsed ? &links : NULL, line, recs, &added)) {
    count_outcome(rc, error_kind(rc, r.curl_code), r.status, r.body_len);
  } else {
    free(line); /* not recorded, so not written: a resume fetches it again */
    line = NULL;
  }
  transfer_done(h);
  wake_waiters(added + 1);
  sp_mutex_unlock(&C.lock);
  write_line(line);
  free(line);
  crawl_warc_records_free(recs);
  if (parsed) crawl_links_free(&links);
  sp_http_response_free(&r);
  item_free(it);
}

/* Parks until woken or until (at most WAIT_SLICE_NS past) until. */
static void wait_for_work(uint64_t until) {
  uint64_t now = sp_now_ns();
  uint64_t d = until > now ? until - now : 0;
  if (d > WAIT_SLICE_NS) d = WAIT_SLICE_NS;
  if (!d) return;
  sp_deadline scope;
  sp_deadline_push(&scope, d);
  sp_sem_acquire(&C.wake);
  sp_deadline_pop(&scope);
}

static void *fetcher(void *arg) {
  (void)arg;
  for (;;) {
    sp_mutex_lock(&C.lock);
    uint64_t until;
    job j = pick(sp_now_ns(), &until);
    if (j.kind == JOB_NONE) {
      bool idle = C.inflight == 0 && (C.stopping || C.queued == 0);
      if (idle || C.finished) {
        C.finished = true;
        wake_waiters(C.nwaiting);
        sp_mutex_unlock(&C.lock);
        return NULL;
      }
      C.nwaiting++;
      sp_mutex_unlock(&C.lock);
      wait_for_work(until);
      sp_mutex_lock(&C.lock);
      C.nwaiting--;
      sp_mutex_unlock(&C.lock);
      continue;
    }
    C.inflight++;
    sp_mutex_unlock(&C.lock);
    if (j.kind == JOB_ROBOTS)
      do_robots(j.h);
    else
      do_page(j.h, j.it);
  }
}

/* ---------------------------------------------------------------- progress */

/* The status line: on a terminal, rewritten in place four times a second;
 * elsewhere (--progress into a log), a plain line a second. */
static void *progress(void *arg) {
  (void)arg;
  bool tty = isatty(2);
  uint64_t last_t = sp_now_ns();
  long last_pages = 0;
  while (!C.finished) {
    if (sp_sleep(tty ? 250000000u : 1000000000u) != 0) break;
    sp_mutex_lock(&C.lock);
    long pages = C.sum->pages, queued = C.queued, inflight = C.inflight;
    long errors = C.sum->failed + C.sum->server_errors + C.sum->client_errors;
    uint64_t bytes = C.sum->bytes;
    bool done = C.finished;
    sp_mutex_unlock(&C.lock);
    if (done) break;
    uint64_t now = sp_now_ns();
    double el = (double)(now - C.start_ns) / 1e9;
    double rate = (double)(pages - last_pages) / ((double)(now - last_t) / 1e9);
    fprintf(stderr, "%s%ld pages, %ld queued, %ld in flight, %.0f pages/s, %.1f MB/s, %ld errors%s",
            tty ? "\r\033[K" : "", pages, queued, inflight, rate, el > 0 ? (double)bytes / el / 1e6 : 0.0, errors,
            tty ? "" : "\n");
    last_t = now;
    last_pages = pages;
  }
  if (tty) fprintf(stderr, "\r\033[K");
  return NULL;
}

/* ------------------------------------------------------------------- run */

typedef struct run_ctx {
  int err;
} run_ctx;

/* Records seed i, as crawl_url_resolve cleans it (as typed, it may hold
 * spaces or bytes that are not URL characters), and its host. */
static int add_seed(const char *url) {
  char *clean = NULL, *hostname = NULL;
  if (crawl_url_resolve(NULL, url, &clean) != 0) return -1;
  if (crawl_url_split(clean, NULL, &hostname, NULL, NULL) != 0) {
    free(clean);
    return -1;
  }
  char **q = realloc(C.seeds, (C.nseed_hosts + 1) * sizeof *q);
  if (!q) {
    free(clean);
    free(hostname);
    return -1;
  }
  C.seeds = q;
  C.seeds[C.nseed_hosts] = clean;
  char **p = realloc(C.seed_hosts, (C.nseed_hosts + 1) * sizeof *p);
  if (!p) {
    free(hostname);
    return -1;
  }
  C.seed_hosts = p;
  C.seed_hosts[C.nseed_hosts++] = hostname;
  return 0;
}

static void load_state_item(void *arg, const char *url, const char *referrer, int depth, int redirects,
                            const char *hostkey, int64_t seq) {
  (void)arg;
  /* Rows of an older spindle-crawl have no host: they stay in memory. */
  enqueue(url, referrer, depth, redirects, EQ_LOADED, hostkey ? seq : 0);
}

static void mark_seen(void *arg, const char *key) {
  (void)arg;
  crawl_seen_add(&C.seen, crawl_fingerprint(key));
}

static void *crawl_main(void *arg) {
  run_ctx *rc = arg;
  const crawl_config *cfg = C.cfg;
  sp_mutex_lock(&C.lock);
  /* Resume: everything ever queued is seen; what was queued and not done
   * goes back into the frontier. */
  if (C.state && crawl_state_load(C.state, mark_seen, load_state_item, NULL) < 0) {
    fail_local("reading the state", crawl_state_error(C.state));
  } else {
    if (C.state) crawl_state_begin(C.state);
    for (size_t i = 0; i < C.nseed_hosts; i++) enqueue(C.seeds[i], NULL, 0, 0, EQ_RECORD, 0);
    if (C.state && crawl_state_commit(C.state) < 0) fail_state();
  }
  bool failed = C.failed;
  sp_mutex_unlock(&C.lock);
  if (failed) {
    rc->err = -EIO;
    return NULL;
  }

  sp_task *prog = NULL;
  if (!cfg->quiet && (cfg->progress || isatty(2))) sp_spawn(&prog, progress, NULL);
  unsigned n = cfg->concurrency ? cfg->concurrency : 1;
  sp_task **t = calloc(n, sizeof *t);
  if (!t) {
    rc->err = SP_ENOMEM;
    return NULL;
  }
  unsigned started = 0;
  for (; started < n; started++)
    if (sp_spawn(&t[started], fetcher, NULL) != 0) break;
  sp_gather(t, started, NULL);
  free(t);
  flush_pending_retries();
  if (prog) {
    sp_cancel(prog);
    sp_join(prog, NULL);
  }
  return NULL;
}

static void crawler_free(void) {
  for (size_t b = 0; b < HOST_BUCKETS; b++) {
    for (host *h = C.hosts[b], *n; h; h = n) {
      n = h->hnext;
      for (item *it = h->head, *in; it; it = in) {
        in = it->next;
        item_free(it);
      }
      for (item *it = h->retries, *in; it; it = in) {
        in = it->next;
        item_free(it);
      }
      crawl_robots_free(h->robots);
      free(h->key);
      free(h);
    }
    C.hosts[b] = NULL;
  }
  for (size_t i = 0; i < C.nseed_hosts; i++) {
    free(C.seed_hosts[i]);
    free(C.seeds[i]);
  }
  free(C.seed_hosts);
  free(C.seeds);
  crawl_seen_free(&C.seen);
  crawl_recent_free(&C.seen_raw);
  shared_str_release(C.last_referrer);
  C.last_referrer = NULL;
}

/* Whether path can be written, found out before the crawl rather than
 * after it.  Never creates or follows anything it would leave behind: an
 * existing file is opened for appending; a missing one is created
 * exclusively (which refuses a dangling symlink) and removed again; a
 * FIFO without a reader (ENXIO) or an existing symlink to nothing
 * (EEXIST) cannot be checked, and passes. */
static bool can_write(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd >= 0) {
      close(fd);
      unlink(path);
      return true;
    }
  }
  if (fd >= 0) {
    close(fd);
    return true;
  }
  return errno == ENXIO || errno == EEXIST;
}

/* A resume with options other than the crawl's own is refused, listing
 * what differs (see identity.h), unless forced.  0, or -1 (refused). */
static int check_identity(const char *now) {
  char *before = NULL;
  int got = crawl_state_get_meta(C.state, "options", &before);
  if (got < 0) {
    fprintf(stderr, "spindle-crawl: cannot read the state %s: %s\n", crawl_state_path(C.state),
            crawl_state_error(C.state));
    return -1;
  }
  if (got == 0) return 0; /* made by an older spindle-crawl: nothing to compare */
  int rc = 0;
  if (strcmp(before, now) != 0) {
    bool force = C.cfg->force_resume;
    if (!force || !C.cfg->quiet)
      fprintf(stderr, "spindle-crawl: the crawl in %s was started with other options:\n", C.cfg->state_dir);
    if (!force || !C.cfg->quiet) crawl_identity_diff(before, now, stderr);
    if (!force) {
      fprintf(stderr, "Run it with the options it was started with to resume it, or add --force-resume to go on "
                      "with these (what was queued under the old ones stays queued).\n");
      rc = -1;
    } else if (!C.cfg->quiet) {
      fprintf(stderr, "spindle-crawl: --force-resume: going on with the new options\n");
    }
  }
  free(before);
  return rc;
}

/* The WARC's committed end recorded in the state, or -1. */
static long long warc_committed(void) {
  char *v = NULL;
  long long end = -1;
  if (crawl_state_get_meta(C.state, "warc_end", &v) == 1) end = atoll(v);
  free(v);
  return end;
}

/* Records what defines the crawl and where its WARC ends, before the first
 * request.  0 or -1. */
static int record_identity(const char *identity) {
  crawl_state_begin(C.state);
  crawl_state_set_meta(C.state, "options", identity);
  if (C.out.warc) {
    char v[32];
    snprintf(v, sizeof v, "%lld", crawl_warc_end(C.out.warc));
    crawl_state_set_meta(C.state, "warc_end", v);
  }
  if (crawl_state_commit(C.state) == 0) return 0;
  fprintf(stderr, "spindle-crawl: cannot write the state %s: %s\n", crawl_state_path(C.state),
          crawl_state_error(C.state));
  return -1;
}

/* Opens the state (checking it against these options) and the outputs
 * (repairing them from the state).  0; -1 when something could not be
 * opened or does not match; -2 when the options differ from the state's.
 * A refusal leaves every file as it was. */
static int open_outputs(const crawl_config *cfg) {
  crawl_output_resume r = {.warc_end = -1, .force = cfg->force_resume, .quiet = cfg->quiet};
  char *identity = NULL;
  if (cfg->state_dir) {
    C.state = crawl_state_open(cfg->state_dir);
    if (!C.state) return -1; /* it printed why */
    C.spill = C.state;
    int fresh = crawl_state_is_new(C.state);
    long done = crawl_state_pages_done(C.state);
    if (fresh < 0 || done < 0) {
      fprintf(stderr, "spindle-crawl: cannot read the state %s: %s\n", crawl_state_path(C.state),
              crawl_state_error(C.state));
      return -1;
    }
    identity = crawl_identity(cfg, C.seeds, C.nseed_hosts);
    if (!identity) return -1;
    r = (crawl_output_resume){C.state, !fresh, done, -1, cfg->force_resume, cfg->quiet};
    if (r.resuming && check_identity(identity) < 0) {
      free(identity);
      return -2;
    }
    if (r.resuming) r.warc_end = warc_committed();
    C.sum->resumed = r.resuming;
    C.sum->pages_before = done;
    /* --max-pages counts the whole crawl, not this run. */
    C.reserved = done;
  }
  C.out.jsonl_path = cfg->output_path;
  C.out.warc_path = cfg->warc_path;
  int rc = crawl_output_open(&C.out, &r);
  /* After the state: --stats may name a file in its new directory. */
  if (rc == 0 && cfg->stats_path && !can_write(cfg->stats_path)) {
    fprintf(stderr, "spindle-crawl: cannot write %s: %s\n", cfg->stats_path, strerror(errno));
    rc = -1;
  }
  if (rc == 0 && C.state) rc = record_identity(identity);
  free(identity);
  return rc;
}

/* 0, or -1 if an output could not be written to its end. */
static int close_outputs(void) {
  int rc = crawl_output_close(&C.out);
  if (C.spill && C.spill != C.state) crawl_state_close(C.spill);
  if (C.state) crawl_state_close(C.state);
  C.state = C.spill = NULL;
  C.spill_failed = false;
  return rc;
}

/* Each transfer holds a descriptor (its connection), and the rest of the
 * process about FD_RESERVE plus FD_PER_WORKER a worker (measured: 23 in
 * all for one transfer on two workers, with --state and two outputs);
 * idle kept-alive connections hold more, which lower_concurrency copes
 * with.  As Go's runtime does, the soft limit is raised to the hard one;
 * when even that is too low for --concurrency, the crawl runs fewer
 * transfers at once and says so.  Returns how many. */
static long fd_budget(unsigned want, unsigned workers) {
  if (!workers) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    workers = n > 0 ? (unsigned)n : 1;
  }
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
          want, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
          (unsigned long long)rl.rlim_max, fit);
  return fit;
}

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

int crawl_run(const crawl_config *cfg, crawl_summary *sum) {
  memset(&C, 0, sizeof C);
  memset(sum, 0, sizeof *sum);
  C.cfg = cfg;
  C.sum = sum;
  sp_mutex_init(&C.lock);
  sp_sem_init(&C.wake, 0);
  for (size_t i = 0; i < cfg->nseeds; i++) {
    if (add_seed(cfg->seeds[i]) < 0) {
      fprintf(stderr, "spindle-crawl: not an http(s) URL: %s\n", cfg->seeds[i]);
      crawler_free();
      return SP_EINVAL;
    }
  }
  C.max_inflight = fd_budget(cfg->concurrency ? cfg->concurrency : 1, cfg->workers);
  sum->concurrency = (unsigned)C.max_inflight;
  sp_runtime *rt = NULL;
  int err = start_runtime(cfg, &rt);
  if (!err) {
    int opened = open_outputs(cfg);
    /* nothing crawled: not -EIO, which says output of a crawl was lost */
    if (opened < 0) err = opened == -2 ? SP_EINVAL : -EACCES;
  }
  run_ctx rc = {0};
  if (!err) {
    C.nworkers = sp_runtime_workers(rt);
    C.start_ns = sp_now_ns();
    C.deadline_ns = cfg->max_time_s > 0 ? C.start_ns + (uint64_t)(cfg->max_time_s * 1e9) : 0;
    err = sp_runtime_block_on(rt, crawl_main, &rc, NULL);
    if (!err) err = rc.err;
    sum->seconds = (double)(sp_now_ns() - C.start_ns) / 1e9;
    if (err && err != -EIO) fprintf(stderr, "spindle-crawl: %s\n", sp_strerror(err));
  }
  if (rt) sp_runtime_free(rt);
  sum->queued = C.queued;
  sum->frontier_memory_peak = C.in_memory_peak;
  bool lost = close_outputs() < 0 || C.failed;
  crawler_free();
  if (err) return err;
  return lost ? -EIO : 0;
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

/* ----------------------------------------------------------------- summary */

/* A resumed crawl that found nothing left to do. */
static bool complete_before(const crawl_summary *s) {
  return s->resumed && s->attempts == 0 && s->pages == 0 && s->queued == 0 && !s->interrupted;
}

void crawl_print_summary(const crawl_summary *s, FILE *f) {
  if (complete_before(s)) {
    fprintf(f, "spindle-crawl: the crawl is complete: %ld pages were done before; nothing left to fetch\n",
            s->pages_before);
    return;
  }
  fprintf(f, "spindle-crawl: %ld pages in %.2f s (%.0f pages/s), %.1f MB%s\n", s->pages, s->seconds,
          s->seconds > 0 ? (double)s->pages / s->seconds : 0.0, (double)s->bytes / 1e6,
          s->interrupted ? ", stopped early" : "");
  if (s->resumed)
    fprintf(f, "  resumed: %ld pages done before, %ld in this run, %ld in all\n", s->pages_before, s->pages,
            s->pages_before + s->pages);
  fprintf(f, "  %ld ok, %ld redirects, %ld client errors (4xx), %ld server errors (5xx), %ld failed", s->ok,
          s->redirects, s->client_errors, s->server_errors, s->failed);
  bool any = false; /* the first kind listed opens the parenthesis, whichever it is */
  for (int k = 0; k < EK_N; k++) {
    if (!s->errors_by_code[k]) continue;
    fprintf(f, "%s%s %ld", any ? ", " : " (", kind_names[k], s->errors_by_code[k]);
    any = true;
  }
  fprintf(f, "%s\n", any ? ")" : "");
  fprintf(f, "  %ld disallowed by robots.txt, %ld retries, %ld left in the queue\n", s->robots_skipped, s->retries,
          s->queued);
  if (s->hosts_unreachable)
    fprintf(f, "  %ld host%s could not be reached (%s%s): %ld URL%s not crawled\n", s->hosts_unreachable,
            s->hosts_unreachable == 1 ? "" : "s", s->hosts_unreachable == 1 ? "" : "the first, ",
            s->unreachable_failure, s->unreachable_skipped, s->unreachable_skipped == 1 ? "" : "s");
  if (s->robots_unavailable == 1)
    fprintf(f, "  1 host whose robots.txt could not be fetched (%s): its URLs were not crawled\n",
            s->robots_failure);
  else if (s->robots_unavailable)
    fprintf(f, "  %ld hosts whose robots.txt could not be fetched (the first, %s): their URLs were not crawled\n",
            s->robots_unavailable, s->robots_failure);
  if (s->local_requeues)
    fprintf(f, "  %ld transfers put back for want of file descriptors or memory; at most %u at once in the end\n",
            s->local_requeues, s->concurrency);
}

int crawl_write_stats(const crawl_summary *s, const char *path) {
  json_t *o = json_object();
  json_object_set_new(o, "pages", json_integer(s->pages));
  json_object_set_new(o, "ok", json_integer(s->ok));
  json_object_set_new(o, "redirects", json_integer(s->redirects));
  json_object_set_new(o, "client_errors", json_integer(s->client_errors));
  json_object_set_new(o, "server_errors", json_integer(s->server_errors));
  json_object_set_new(o, "failed", json_integer(s->failed));
  json_t *kinds = json_object();
  for (int k = 0; k < EK_N; k++) json_object_set_new(kinds, kind_names[k], json_integer(s->errors_by_code[k]));
  json_object_set_new(o, "errors", kinds);
  json_object_set_new(o, "robots_skipped", json_integer(s->robots_skipped));
  json_object_set_new(o, "robots_unavailable", json_integer(s->robots_unavailable));
  json_object_set_new(o, "robots_failure", s->robots_failure[0] ? jstr(s->robots_failure) : json_null());
  json_object_set_new(o, "hosts_unreachable", json_integer(s->hosts_unreachable));
  json_object_set_new(o, "unreachable_skipped", json_integer(s->unreachable_skipped));
  json_object_set_new(o, "unreachable_failure",
                      s->unreachable_failure[0] ? jstr(s->unreachable_failure) : json_null());
  json_object_set_new(o, "responses", json_integer(s->responses));
  json_object_set_new(o, "local_requeues", json_integer(s->local_requeues));
  json_object_set_new(o, "concurrency", json_integer(s->concurrency));
  json_object_set_new(o, "resumed", json_boolean(s->resumed));
  json_object_set_new(o, "pages_before", json_integer(s->pages_before));
  json_object_set_new(o, "complete_before", json_boolean(complete_before(s)));
  json_object_set_new(o, "retries", json_integer(s->retries));
  json_object_set_new(o, "queued", json_integer(s->queued));
  json_object_set_new(o, "frontier_memory_peak", json_integer(s->frontier_memory_peak));
  json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
  json_object_set_new(o, "seconds", json_real(s->seconds));
  json_object_set_new(o, "pages_per_second", json_real(s->seconds > 0 ? (double)s->pages / s->seconds : 0));
  json_object_set_new(o, "interrupted", json_boolean(s->interrupted));
  int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_REAL_FORMAT);
  json_decref(o);
  return rc;
}
