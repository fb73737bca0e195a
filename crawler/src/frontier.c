/* frontier.c - the local frontier (see frontier.h). */
#include "frontier.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <spindle/spindle.h>

#include "seen.h"
#include "url.h"

#define HOST_BUCKETS 4096
#define MAX_CRAWL_DELAY_S 60.0 /* a larger robots.txt Crawl-delay is taken as this */

enum { ROBOTS_UNKNOWN = 0, ROBOTS_FETCHING, ROBOTS_READY };

/* A referrer, shared by the URLs found on one page: a queued URL is small
 * (about 80 bytes here), and a copy of its referrer each would double it. */
typedef struct shared_str {
  atomic_long refs;
  char s[];
} shared_str;

struct crawl_item {
  struct crawl_item *next;
  shared_str *referrer; /* NULL for a seed */
  void *note;           /* the fetcher's, kept across a retry */
  uint64_t not_before;  /* a retry: its backoff */
  int depth;
  int redirects;
  int retries;
  char url[];
};
typedef struct crawl_item item;

struct crawl_host {
  char *key;           /* scheme://host:port */
  int robots_state;
  int robots_tries;    /* failed robots.txt fetches retried */
  bool robots_assumed; /* robots.txt unavailable: disallow all, assumed */
  bool unreachable;    /* ... because the host gave no answer at all */
  crawl_robots *robots;
  uint64_t delay_ns;
  unsigned active;     /* jobs taken and not reported */
  uint64_t next_ns;    /* earliest start of the next request */
  item *head, *tail;   /* URLs to fetch, first found first */
  long spilled;        /* more URLs to fetch, on disk only (see page_in) */
  bool no_spill;       /* reading back failed once: its URLs stay in memory */
  int64_t loaded_seq;  /* the last of its URLs in memory (state seq); spilled ones come after */
  item *retries;       /* URLs to fetch again once their not_before has come */
  int worker;          /* the HTTP pool its transfers use */
  bool in_ring;
  struct crawl_host *ring_next, *ring_prev;
  struct crawl_host *hnext;
};
typedef struct crawl_host host;

struct crawl_frontier {
  sp_mutex lock;
  const crawl_config *cfg;
  char **seed_hosts;
  size_t nseed_hosts;
  unsigned nworkers;
  void (*notes_free)(void *);
  host *hosts[HOST_BUCKETS];
  host *ring;          /* cursor into the ring of hosts with queued URLs */
  long nring;
  crawl_seen seen;
  crawl_recent seen_raw; /* fingerprints of URLs exactly as found, recently: decided once */
  long queued, reserved;
  long out;            /* jobs taken and not reported: the sum of the hosts' active */
  long in_memory;      /* queued URLs held in memory (retries too) */
  crawl_state *state;
  crawl_state *spill;  /* where the overflow waits: state, or a temporary file */
  bool spill_failed;   /* the temporary file could not be made or written: everything stays in memory */
  bool failed;         /* queued URLs could not be read back */
  shared_str *last_referrer; /* see referrer_ref */
  crawl_frontier_stats stats;
  char error[1024];
};

/* ------------------------------------------------------------------ hosts */

static size_t hash_str(const char *s) {
  size_t h = 5381;
  for (; *s; s++) h = h * 33 + (unsigned char)*s;
  return h;
}

static host *host_get(crawl_frontier *f, const char *key) {
  size_t b = hash_str(key) % HOST_BUCKETS;
  for (host *h = f->hosts[b]; h; h = h->hnext)
    if (strcmp(h->key, key) == 0) return h;
  host *h = calloc(1, sizeof *h);
  if (!h || !(h->key = strdup(key))) {
    free(h);
    return NULL;
  }
  h->delay_ns = (uint64_t)(f->cfg->delay_s * 1e9);
  h->robots_state = f->cfg->ignore_robots ? ROBOTS_READY : ROBOTS_UNKNOWN;
  h->worker = (int)(hash_str(key) % (f->nworkers ? f->nworkers : 1));
  h->hnext = f->hosts[b];
  f->hosts[b] = h;
  return h;
}

static void ring_add(crawl_frontier *f, host *h) {
  if (h->in_ring) return;
  h->in_ring = true;
  f->nring++;
  if (!f->ring) {
    h->ring_next = h->ring_prev = h;
    f->ring = h;
    return;
  }
  h->ring_prev = f->ring->ring_prev; /* at the back: just before the cursor */
  h->ring_next = f->ring;
  f->ring->ring_prev->ring_next = h;
  f->ring->ring_prev = h;
}

static void ring_remove(crawl_frontier *f, host *h) {
  if (!h->in_ring) return;
  h->in_ring = false;
  f->nring--;
  if (h->ring_next == h) {
    f->ring = NULL;
  } else {
    h->ring_prev->ring_next = h->ring_next;
    h->ring_next->ring_prev = h->ring_prev;
    if (f->ring == h) f->ring = h->ring_next;
  }
  h->ring_next = h->ring_prev = NULL;
}

/* A host is on the ring while it has URLs of any kind. */
static void ring_update(crawl_frontier *f, host *h) {
  if (h->head || h->retries || h->spilled)
    ring_add(f, h);
  else
    ring_remove(f, h);
}

static void count_in_memory(crawl_frontier *f, long d) {
  f->in_memory += d;
  if (f->in_memory > f->stats.in_memory_peak) f->stats.in_memory_peak = f->in_memory;
}

/* One more URL of h queued in memory. */
static void queued_in_memory(crawl_frontier *f, host *h) {
  f->queued++;
  count_in_memory(f, 1);
  ring_add(f, h);
}

static void host_push(crawl_frontier *f, host *h, item *it) {
  it->next = NULL;
  if (h->tail)
    h->tail->next = it;
  else
    h->head = it;
  h->tail = it;
  queued_in_memory(f, h);
}

static void host_push_front(crawl_frontier *f, host *h, item *it) {
  it->next = h->head;
  h->head = it;
  if (!h->tail) h->tail = it;
  queued_in_memory(f, h);
}

/* A retry waits apart, so that its backoff holds up no other URL of its
 * host.  Unordered: a host has few. */
static void host_push_retry(crawl_frontier *f, host *h, item *it) {
  it->next = h->retries;
  h->retries = it;
  queued_in_memory(f, h);
}

static item *host_pop(crawl_frontier *f, host *h) {
  item *it = h->head;
  h->head = it->next;
  if (!h->head) h->tail = NULL;
  f->queued--;
  count_in_memory(f, -1);
  ring_update(f, h);
  return it;
}

/* Takes a retry whose time has come (any, with now UINT64_MAX), or notes
 * the earliest. */
static item *host_pop_retry(crawl_frontier *f, host *h, uint64_t now, uint64_t *wait_until) {
  for (item **pp = &h->retries; *pp; pp = &(*pp)->next) {
    item *it = *pp;
    if (it->not_before <= now) {
      *pp = it->next;
      f->queued--;
      count_in_memory(f, -1);
      ring_update(f, h);
      return it;
    }
    if (it->not_before < *wait_until) *wait_until = it->not_before;
  }
  return NULL;
}

/* ------------------------------------------------------------------ items */

static void shared_str_release(shared_str *r) {
  if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) free(r);
}

static void item_free(crawl_frontier *f, item *it) {
  if (!it) return;
  if (it->note && f->notes_free) f->notes_free(it->note);
  shared_str_release(it->referrer);
  free(it);
}

/* referrer as a shared string: the links of a page are queued one after
 * another, so the last one made is the one asked for again. */
static shared_str *referrer_ref(crawl_frontier *f, const char *referrer) {
  if (!referrer) return NULL;
  shared_str *r = f->last_referrer;
  if (!r || strcmp(r->s, referrer) != 0) {
    size_t n = strlen(referrer) + 1;
    if (!(r = malloc(sizeof *r + n))) return NULL;
    atomic_init(&r->refs, 1); /* the cache's */
    memcpy(r->s, referrer, n);
    shared_str_release(f->last_referrer);
    f->last_referrer = r;
  }
  atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
  return r;
}

/* A queued URL in memory (copies url; shares referrer); NULL out of memory. */
static item *item_new(crawl_frontier *f, const char *url, const char *referrer, int depth, int redirects) {
  size_t n = strlen(url) + 1;
  item *it = malloc(sizeof *it + n);
  if (!it) return NULL;
  memset(it, 0, sizeof *it);
  memcpy(it->url, url, n);
  if (referrer && !(it->referrer = referrer_ref(f, referrer))) {
    free(it);
    return NULL;
  }
  it->depth = depth;
  it->redirects = redirects;
  return it;
}

/* ------------------------------------------------------------------ scope */

/* key: the normalised URL, which --include and --exclude are matched
 * against (so that case and default ports do not matter). */
static bool in_scope(crawl_frontier *f, const char *key, const char *hostname) {
  const crawl_config *cfg = f->cfg;
  bool ok = cfg->any_host;
  for (size_t i = 0; !ok && i < f->nseed_hosts; i++) ok = strcasecmp(hostname, f->seed_hosts[i]) == 0;
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

/* ------------------------------------------------------ memory and disk */

/*
 * At most --frontier-memory queued URLs are held in memory: once that many
 * are, a URL queued for a host waits on disk only (the host counts it in
 * `spilled`), and so do the host's later ones, so that its queue keeps its
 * order.  When the host's URLs in memory run out, page_in reads the next
 * ones back, after `loaded_seq`.  On disk means the state database with
 * --state (which holds every queued URL anyway), else a temporary file made
 * at the first spill.
 */
static bool spills(const crawl_frontier *f, const host *h) {
  return !h->no_spill && !f->spill_failed && (h->spilled || f->in_memory >= f->cfg->frontier_memory);
}

/* The spill store, made when first needed; NULL if it cannot be. */
static crawl_state *spill_store(crawl_frontier *f) {
  if (!f->spill && !f->spill_failed && !(f->spill = crawl_state_open_spill())) f->spill_failed = true;
  return f->spill;
}

typedef struct page_in_ctx {
  crawl_frontier *f;
  host *h;
} page_in_ctx;

static void page_in_item(void *arg, const char *url, const char *referrer, int depth, int redirects,
                         const char *hostkey, int64_t seq) {
  (void)hostkey;
  page_in_ctx *c = arg;
  host *h = c->h;
  if (h->spilled <= 0) return; /* cannot happen: every row read back was counted when it spilled */
  item *it = item_new(c->f, url, referrer, depth, redirects);
  if (!it) return; /* out of memory: loaded_seq stays, the next page_in reads it again */
  h->spilled--;
  c->f->queued--; /* host_push counts it again */
  host_push(c->f, h, it);
  h->loaded_seq = seq;
}

/* Reads h's next spilled URLs into memory; false if none came. */
static bool page_in(crawl_frontier *f, host *h) {
  long room = f->cfg->frontier_memory - f->in_memory;
  long want = room < 1 ? 1 : room > 256 ? 256 : room;
  page_in_ctx c = {f, h};
  long n = crawl_state_pending(f->spill, h->key, h->loaded_seq, want, page_in_item, &c);
  if (n <= 0 && !h->head) {
    /* The database has none of them, or could not be read: they cannot be
     * fetched this run, and the host keeps its later URLs in memory (rows
     * left behind must never be read back as new ones).  The crawl stops:
     * see crawl_frontier_take. */
    snprintf(f->error, sizeof f->error, "reading %ld queued URLs of %s back from %s failed: %s", h->spilled, h->key,
             crawl_state_path(f->spill), n < 0 ? crawl_state_error(f->spill) : "they are not there");
    f->failed = true;
    f->queued -= h->spilled;
    h->spilled = 0;
    h->no_spill = true;
    ring_update(f, h);
  }
  return h->head != NULL;
}

/* ---------------------------------------------------------------- queueing */

/*
 * Queues url (absolute, as found) unless out of scope or seen.  Returns 1
 * if queued, 0 if skipped, -1 out of memory.  EQ_RECORD: also store it in
 * the state; EQ_LOADED: it comes from there (already in the seen set, and
 * queued before: scope is not checked again; seq its row's).
 */
enum { EQ_RECORD = 1, EQ_LOADED = 2 };

static int enqueue(crawl_frontier *f, const char *url, const char *referrer, int depth, int redirects, int flags,
                   int64_t seq) {
  char *key = NULL, scheme[16], hostname[300];
  int port = 0, r = 0;
  /* The same string always gets the same answer (its key, its scope): a
   * page's links mostly repeat what other pages linked, and are dropped
   * here before any parsing.  The memory of them is bounded (links out of
   * scope never reach `seen`, and they can outnumber the crawl's own): one
   * forgotten takes the long way, to the same answer. */
  if (!(flags & EQ_LOADED) && crawl_recent_check_add(&f->seen_raw, crawl_fingerprint(url))) return 0;
  if (crawl_url_normalize(url, &key) != 0) goto out;
  uint64_t fp = crawl_fingerprint(key);
  if (!(flags & EQ_LOADED) && crawl_seen_has(&f->seen, fp)) goto out; /* the common case */
  if (!crawl_url_key_parts(key, scheme, sizeof scheme, hostname, sizeof hostname, &port)) goto out;
  if (!(flags & EQ_LOADED) && !in_scope(f, key, hostname)) goto out;
  int added = crawl_seen_add(&f->seen, fp);
  if (added < 0 || (added == 0 && !(flags & EQ_LOADED))) {
    r = added;
    goto out;
  }
  char hk[600];
  bool v6 = strchr(hostname, ':') != NULL; /* the key is also the base of its robots.txt URL */
  snprintf(hk, sizeof hk, "%s://%s%s%s:%d", scheme, v6 ? "[" : "", hostname, v6 ? "]" : "", port);
  host *h = host_get(f, hk);
  if (!h) {
    r = -1;
    goto out;
  }
  bool spill = spills(f, h);
  /* With --state every URL queued is recorded; without, one reaches the
   * disk only when it spills. */
  if (f->state ? (flags & EQ_RECORD) != 0 : spill && spill_store(f))
    seq = crawl_state_queue(f->spill, key, url, referrer, depth, redirects, hk);
  if (seq < 0 && !f->state) {
    /* The frontier file could not take it: this URL and the later ones
     * stay in memory (with --state, the failed transaction stops the
     * crawl instead).  But when SQLite rolled the file's one transaction
     * back (a full disk), the URLs that waited in it are gone: the crawl
     * cannot be complete, and stops saying so. */
    if (crawl_state_in_transaction(f->spill)) {
      fprintf(stderr, "spindle-crawl: the frontier file %s cannot be written (%s): queued URLs stay in memory\n",
              crawl_state_path(f->spill), crawl_state_error(f->spill));
    } else {
      snprintf(f->error, sizeof f->error,
               "writing the frontier file %s failed: %s; the URLs that waited in it are lost (give $TMPDIR room, a "
               "larger --frontier-memory, or --state DIR)",
               crawl_state_path(f->spill), crawl_state_error(f->spill));
      f->failed = true;
    }
    f->spill_failed = true;
    seq = 0;
  }
  if (seq > 0 && spill) {
    h->spilled++;
    f->queued++;
    ring_add(f, h);
    r = 1;
    goto out;
  }
  item *it = item_new(f, url, referrer, depth, redirects);
  if (!it) {
    r = -1;
    goto out;
  }
  host_push(f, h, it);
  if (seq > 0) h->loaded_seq = seq;
  r = 1;
out:
  free(key);
  return r;
}

/* --------------------------------------------------------------- life */

crawl_frontier *crawl_frontier_new(const crawl_config *cfg, char *const *seed_hosts, size_t nseed_hosts,
                                   crawl_state *state, unsigned workers, void (*notes_free)(void *)) {
  crawl_frontier *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  sp_mutex_init(&f->lock);
  f->cfg = cfg;
  f->state = f->spill = state;
  f->nworkers = workers;
  f->notes_free = notes_free;
  f->seed_hosts = calloc(nseed_hosts + 1, sizeof *f->seed_hosts);
  bool ok = f->seed_hosts != NULL;
  for (size_t i = 0; ok && i < nseed_hosts; i++) ok = (f->seed_hosts[f->nseed_hosts++] = strdup(seed_hosts[i]));
  if (!ok) {
    crawl_frontier_free(f);
    return NULL;
  }
  return f;
}

static void host_free(crawl_frontier *f, host *h) {
  for (item *it = h->head, *in; it; it = in) {
    in = it->next;
    item_free(f, it);
  }
  for (item *it = h->retries, *in; it; it = in) {
    in = it->next;
    item_free(f, it);
  }
  crawl_robots_free(h->robots);
  free(h->key);
  free(h);
}

void crawl_frontier_free(crawl_frontier *f) {
  if (!f) return;
  for (size_t b = 0; b < HOST_BUCKETS; b++) {
    for (host *h = f->hosts[b], *n; h; h = n) {
      n = h->hnext;
      host_free(f, h);
    }
  }
  for (size_t i = 0; f->seed_hosts && i < f->nseed_hosts; i++) free(f->seed_hosts[i]);
  free(f->seed_hosts);
  crawl_seen_free(&f->seen);
  crawl_recent_free(&f->seen_raw);
  shared_str_release(f->last_referrer);
  if (f->spill && f->spill != f->state) crawl_state_close(f->spill);
  free(f);
}

void crawl_frontier_error(crawl_frontier *f, char *buf, size_t n) {
  sp_mutex_lock(&f->lock);
  snprintf(buf, n, "%s", f->error);
  sp_mutex_unlock(&f->lock);
}

void crawl_frontier_count_done(crawl_frontier *f, long pages) {
  sp_mutex_lock(&f->lock);
  f->reserved += pages;
  sp_mutex_unlock(&f->lock);
}

static void state_failed(crawl_frontier *f) {
  snprintf(f->error, sizeof f->error, "writing the state %s failed: %s", crawl_state_path(f->state),
           crawl_state_error(f->state));
}

static void load_item(void *arg, const char *url, const char *referrer, int depth, int redirects,
                      const char *hostkey, int64_t seq) {
  /* Rows of an older spindle-crawl have no host: they stay in memory. */
  enqueue(arg, url, referrer, depth, redirects, EQ_LOADED, hostkey ? seq : 0);
}

static void mark_seen(void *arg, const char *key) {
  crawl_frontier *f = arg;
  crawl_seen_add(&f->seen, crawl_fingerprint(key));
}

int crawl_frontier_load(crawl_frontier *f) {
  if (!f->state) return 0;
  sp_mutex_lock(&f->lock);
  int rc = crawl_state_load(f->state, mark_seen, load_item, f);
  if (rc < 0)
    snprintf(f->error, sizeof f->error, "reading the state %s failed: %s", crawl_state_path(f->state),
             crawl_state_error(f->state));
  sp_mutex_unlock(&f->lock);
  return rc;
}

int crawl_frontier_add_seeds(crawl_frontier *f, char *const *seeds, size_t n) {
  sp_mutex_lock(&f->lock);
  if (f->state) crawl_state_begin(f->state);
  for (size_t i = 0; i < n; i++) enqueue(f, seeds[i], NULL, 0, 0, EQ_RECORD, 0);
  int rc = f->state ? crawl_state_commit(f->state) : 0;
  if (rc < 0) state_failed(f);
  sp_mutex_unlock(&f->lock);
  return rc;
}

/* ------------------------------------------------------------- taking */

static const char *url_path(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strpbrk(p + 3, "/?") : NULL;
  return p && *p == '/' ? p : "/";
}

/* Pops h's next URL that robots.txt allows and whose retry time has come;
 * disallowed ones are dropped (and counted).  NULL if none. */
static item *next_allowed(crawl_frontier *f, host *h, uint64_t now, uint64_t *wait_until) {
  item *it = host_pop_retry(f, h, now, wait_until); /* allowed when first taken */
  if (it) return it;
  while (h->head || (h->spilled && page_in(f, h))) {
    it = host_pop(f, h);
    if (!h->robots || crawl_robots_allowed(h->robots, url_path(it->url))) return it;
    if (h->unreachable)
      f->stats.unreachable_skipped++;
    else
      f->stats.robots_skipped++;
    /* Disallowed by a robots.txt that was read: done.  Assumed because it
     * could not be fetched: left queued in the state, for a later run. */
    if (f->state && !h->robots_assumed) {
      crawl_state_begin(f->state);
      crawl_state_done(f->state, it->url, NULL);
      if (crawl_state_commit(f->state) < 0) {
        state_failed(f);
        f->failed = true;
      }
    }
    item_free(f, it);
  }
  return NULL;
}

static void job_of(crawl_job *job, crawl_job_kind kind, host *h, item *it) {
  *job = (crawl_job){.kind = kind, .url = it ? it->url : h->key, .worker = h->worker, .host = h, .item = it};
  if (it) {
    job->referrer = it->referrer ? it->referrer->s : NULL;
    job->depth = it->depth;
    job->redirects = it->redirects;
    job->retries = it->retries;
    job->note = it->note;
  } else {
    job->retries = h->robots_tries;
  }
}

crawl_take crawl_frontier_take(crawl_frontier *f, uint64_t now, crawl_job *job, uint64_t *wait_until) {
  sp_mutex_lock(&f->lock);
  *wait_until = UINT64_MAX;
  job->kind = CRAWL_JOB_NONE;
  crawl_take r = CRAWL_TAKE_WAIT;
  if (f->cfg->max_pages && f->reserved >= f->cfg->max_pages) r = CRAWL_TAKE_LIMIT;
  for (long i = 0, n = f->nring; r == CRAWL_TAKE_WAIT && !f->failed && i < n && f->ring; i++) {
    host *h = f->ring;
    f->ring = h->ring_next; /* the cursor moves on whatever happens to h */
    if (h->active >= f->cfg->per_host || h->robots_state == ROBOTS_FETCHING) continue;
    /* The host's delay, or a failed robots.txt's backoff: robots.txt is a
     * request like any other. */
    if (now < h->next_ns) {
      if (h->next_ns < *wait_until) *wait_until = h->next_ns;
      continue;
    }
    if (h->robots_state == ROBOTS_UNKNOWN) {
      h->robots_state = ROBOTS_FETCHING;
      job_of(job, CRAWL_JOB_ROBOTS, h, NULL);
    } else {
      item *it = next_allowed(f, h, now, wait_until);
      if (!it) continue;
      if (it->retries == 0) f->reserved++; /* a retry keeps its page's reservation */
      job_of(job, CRAWL_JOB_PAGE, h, it);
    }
    h->active++;
    f->out++;
    h->next_ns = now + h->delay_ns;
    r = CRAWL_TAKE_JOB;
  }
  if (f->failed && r != CRAWL_TAKE_JOB) r = CRAWL_TAKE_FAILED;
  sp_mutex_unlock(&f->lock);
  return r;
}

bool crawl_frontier_idle(crawl_frontier *f, bool stopping) {
  sp_mutex_lock(&f->lock);
  bool idle = f->out == 0 && (stopping || f->queued == 0);
  sp_mutex_unlock(&f->lock);
  return idle;
}

/* ------------------------------------------------------------ outcomes */

void crawl_frontier_robots_done(crawl_frontier *f, crawl_job *job, crawl_robots *rules, double crawl_delay,
                                bool unreachable, const char *why, uint64_t started) {
  host *h = job->host;
  sp_mutex_lock(&f->lock);
  bool assumed = rules == NULL;
  h->robots = rules ? rules : crawl_robots_disallow_all();
  h->robots_assumed = assumed;
  /* No answer at all (a name that does not exist, a refused connection,
   * TLS): the host could not be reached, which is not what robots.txt
   * disallowing it is. */
  h->unreachable = assumed && unreachable;
  crawl_frontier_stats *s = &f->stats;
  if (h->unreachable && !s->hosts_unreachable++)
    snprintf(s->unreachable_failure, sizeof s->unreachable_failure, "%s/robots.txt: %s", h->key, why);
  else if (assumed && !h->unreachable && !s->robots_unavailable++)
    snprintf(s->robots_failure, sizeof s->robots_failure, "%s/robots.txt: %s", h->key, why);
  if (crawl_delay > MAX_CRAWL_DELAY_S) crawl_delay = MAX_CRAWL_DELAY_S;
  if (crawl_delay > 0 && (uint64_t)(crawl_delay * 1e9) > h->delay_ns) h->delay_ns = (uint64_t)(crawl_delay * 1e9);
  /* robots.txt was a request too: the first page waits the delay it asks
   * for from when robots.txt was asked for. */
  if (started + h->delay_ns > h->next_ns) h->next_ns = started + h->delay_ns;
  h->robots_state = ROBOTS_READY;
  h->active--;
  f->out--;
  sp_mutex_unlock(&f->lock);
}

void crawl_frontier_robots_retry(crawl_frontier *f, crawl_job *job, uint64_t not_before) {
  host *h = job->host;
  sp_mutex_lock(&f->lock);
  h->robots_tries++;
  h->robots_state = ROBOTS_UNKNOWN;
  h->next_ns = not_before;
  h->active--;
  f->out--;
  sp_mutex_unlock(&f->lock);
}

/* Queues the page's links and redirect, records it done and whatever goes
 * with it; 0 or -1 (then the transaction is rolled back, or, without a
 * state, what before_commit did not record is lost with the run). */
static int record_page(crawl_frontier *f, item *it, const crawl_page_done *d, long *added) {
  if (f->state) crawl_state_begin(f->state);
  if (d->redirect && it->redirects < f->cfg->max_redirects)
    *added += enqueue(f, d->redirect, it->url, it->depth, it->redirects + 1, EQ_RECORD, 0) > 0;
  for (size_t i = 0; i < d->nlinks; i++)
    *added += enqueue(f, d->links[i], it->url, it->depth + 1, 0, EQ_RECORD, 0) > 0;
  if (!f->state) return d->before_commit ? d->before_commit(d->ctx, NULL) : 0;
  crawl_state_done(f->state, it->url, d->line);
  if (d->before_commit && d->before_commit(d->ctx, f->state) < 0) {
    /* What goes with the page could not be recorded: neither is the page. */
    crawl_state_fail(f->state, "what goes with the page could not be recorded");
    crawl_state_commit(f->state); /* rolls back */
    state_failed(f);
    if (d->after_rollback) d->after_rollback(d->ctx);
    return -1;
  }
  /* Committed before the line is written: see state.h. */
  if (crawl_state_commit(f->state) == 0) return 0;
  state_failed(f);
  if (d->after_rollback) d->after_rollback(d->ctx);
  return -1;
}

long crawl_frontier_page_done(crawl_frontier *f, crawl_job *job, const crawl_page_done *d) {
  sp_mutex_lock(&f->lock);
  long added = 0;
  int rc = record_page(f, job->item, d, &added);
  job->host->active--;
  f->out--;
  item_free(f, job->item);
  job->item = NULL;
  sp_mutex_unlock(&f->lock);
  return rc < 0 ? -1 : added;
}

void crawl_frontier_retry(crawl_frontier *f, crawl_job *job, uint64_t not_before, void *note) {
  item *it = job->item;
  sp_mutex_lock(&f->lock);
  if (it->note && it->note != note && f->notes_free) f->notes_free(it->note);
  it->note = note;
  it->retries++;
  it->not_before = not_before;
  host_push_retry(f, job->host, it);
  job->host->active--;
  f->out--;
  job->item = NULL;
  sp_mutex_unlock(&f->lock);
}

void crawl_frontier_put_back(crawl_frontier *f, crawl_job *job, uint64_t not_before) {
  host *h = job->host;
  sp_mutex_lock(&f->lock);
  if (job->kind == CRAWL_JOB_ROBOTS) {
    h->robots_state = ROBOTS_UNKNOWN;
  } else if (job->item->retries == 0) {
    f->reserved--;
    host_push_front(f, h, job->item);
    job->item = NULL;
  } else {
    /* A retry stays one, with its note: should the crawl stop before its
     * turn, it still gets the line of its last attempt. */
    job->item->not_before = not_before;
    host_push_retry(f, h, job->item);
    job->item = NULL;
  }
  if (h->next_ns < not_before) h->next_ns = not_before;
  h->active--;
  f->out--;
  sp_mutex_unlock(&f->lock);
}

bool crawl_frontier_take_waiting_retry(crawl_frontier *f, crawl_job *job) {
  sp_mutex_lock(&f->lock);
  bool found = false;
  for (size_t b = 0; b < HOST_BUCKETS && !found; b++) {
    for (host *h = f->hosts[b]; h && !found; h = h->hnext) {
      for (item **pp = &h->retries; *pp; pp = &(*pp)->next) {
        item *it = *pp;
        if (!it->note) continue;
        *pp = it->next;
        f->queued--;
        count_in_memory(f, -1);
        ring_update(f, h);
        h->active++;
        f->out++;
        job_of(job, CRAWL_JOB_PAGE, h, it);
        found = true;
        break;
      }
    }
  }
  sp_mutex_unlock(&f->lock);
  return found;
}

void crawl_frontier_get_stats(crawl_frontier *f, crawl_frontier_stats *out) {
  sp_mutex_lock(&f->lock);
  *out = f->stats;
  out->queued = f->queued;
  sp_mutex_unlock(&f->lock);
}
