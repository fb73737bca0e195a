/*
 * frontier.h - what is left to crawl, and when each of it may be fetched.
 *
 * The frontier owns the URLs of a crawl: which are in scope, which were
 * seen, which wait (per host, breadth-first), which are due (politeness:
 * robots.txt first, --per-host transfers at most, --delay and Crawl-delay
 * between requests, backoff before a retry), and, with a state, their rows
 * in it.  The engine's fetchers take jobs from it and report each job's
 * outcome exactly once: done (with the links found), retry later, or put
 * back (a local shortage).  A second frontier, one shared by many
 * processes through Redis, implements the same operations.
 *
 * This one lives in one process: per-host FIFO queues on a ring of hosts
 * served round-robin, a seen set of URL fingerprints, and queued URLs past
 * --frontier-memory waiting on disk (the state, or a temporary file).
 * Every call takes the frontier's lock (a spindle mutex, never held across
 * a fetch); they may be made from any task of the crawl.
 *
 * Invariants, under the lock:
 *   - a URL is queued at most once: its fingerprint enters the seen set
 *     when it is queued, and never leaves;
 *   - a host is on the ring exactly when it has URLs of any kind;
 *   - a host's jobs taken and not reported (robots.txt included) never
 *     exceed per_host;
 *   - `reserved` counts pages taken, retries not counted again, put-backs
 *     given back: it never exceeds max_pages, so the page limit is exact.
 */
#ifndef SPINDLE_CRAWL_FRONTIER_H
#define SPINDLE_CRAWL_FRONTIER_H

#include <stdbool.h>
#include <stdint.h>

#include "crawl.h"
#include "robots.h"
#include "state.h"

typedef struct crawl_frontier crawl_frontier;
typedef struct crawl_host crawl_host; /* the frontier's own */
typedef struct crawl_item crawl_item; /* the frontier's own */

typedef enum { CRAWL_JOB_NONE, CRAWL_JOB_PAGE, CRAWL_JOB_ROBOTS } crawl_job_kind;

/* Something to fetch, from take until its outcome is reported. */
typedef struct crawl_job {
  crawl_job_kind kind;
  const char *url;      /* a page: the URL as found; robots: the host's key, scheme://host:port */
  const char *referrer; /* NULL for a seed and for robots.txt */
  int depth, redirects; /* links followed from a seed; redirect hops to this URL */
  int retries;          /* attempts before this one */
  int worker;           /* the HTTP connection pool of its host */
  void *note;           /* what the fetcher left with it at its last retry, or NULL */
  crawl_host *host;
  crawl_item *item;
} crawl_job;

typedef struct crawl_frontier_stats {
  long queued;               /* URLs waiting, retries and URLs on disk included */
  long in_memory_peak;       /* queued URLs held in memory at most */
  long robots_skipped;       /* URLs robots.txt disallowed */
  long robots_unavailable;   /* hosts whose robots.txt answered 5xx */
  char robots_failure[1024]; /* the first: "URL: why" */
  long hosts_unreachable;    /* hosts that did not answer robots.txt at all */
  long unreachable_skipped;  /* their URLs */
  char unreachable_failure[1024];
} crawl_frontier_stats;

/* A frontier for cfg's crawl, seeds restricting the hosts (see in_scope in
 * frontier.c); with state, every URL queued is recorded there.  Copies
 * what it keeps of seed_hosts.  notes_free frees what fetchers leave with
 * a retry (see crawl_frontier_retry).  NULL out of memory. */
crawl_frontier *crawl_frontier_new(const crawl_config *cfg, char *const *seed_hosts, size_t nseed_hosts,
                                   crawl_state *state, unsigned workers, void (*notes_free)(void *));
void crawl_frontier_free(crawl_frontier *f);

/* Pages done in earlier runs count against max_pages (a resumed crawl). */
void crawl_frontier_count_done(crawl_frontier *f, long pages);

/* Why the last failed call failed (reading queued URLs back from disk,
 * recording in the state, the temporary frontier file), into buf; "" if
 * none did. */
void crawl_frontier_error(crawl_frontier *f, char *buf, size_t n);

/* A resumed crawl: every URL ever queued enters the seen set, those not
 * done go back in the queues.  0, or -1 (see crawl_frontier_error). */
int crawl_frontier_load(crawl_frontier *f);

/* Queues the seeds (cleaned URLs), recording them in the state.  0, or -1
 * when the state could not record them. */
int crawl_frontier_add_seeds(crawl_frontier *f, char *const *seeds, size_t n);

typedef enum {
  CRAWL_TAKE_JOB,     /* *job is something to fetch now */
  CRAWL_TAKE_WAIT,    /* nothing due before *wait_until (UINT64_MAX: until a report) */
  CRAWL_TAKE_LIMIT,   /* the page budget (max_pages) is spent */
  CRAWL_TAKE_FAILED,  /* queued URLs are lost, or the state failed: see crawl_frontier_error */
} crawl_take;

/* The next job that is due at now.  Hosts are served round-robin from the
 * ring's cursor; a host's robots.txt comes before its pages; URLs that
 * robots.txt disallows are dropped (and counted) on the way. */
crawl_take crawl_frontier_take(crawl_frontier *f, uint64_t now, crawl_job *job, uint64_t *wait_until);

/* Whether the crawl is over: no job is out (taken and not reported) and,
 * unless stopping, nothing is queued either.  Decided at one instant, under
 * the frontier's lock: only jobs add URLs, so once true it stays true. */
bool crawl_frontier_idle(crawl_frontier *f, bool stopping);

/* --- outcomes: each job taken is reported once, by one of these --- */

/* robots.txt of job's host: rules (NULL: assumed, disallow all), crawl
 * delay (seconds, <= 0: none), unreachable (no answer at all), why (for
 * the summary when assumed), started (when it was asked for: the delay
 * counts from there).  The frontier takes rules. */
void crawl_frontier_robots_done(crawl_frontier *f, crawl_job *job, crawl_robots *rules, double crawl_delay,
                                bool unreachable, const char *why, uint64_t started);
/* robots.txt is asked for again, not before not_before. */
void crawl_frontier_robots_retry(crawl_frontier *f, crawl_job *job, uint64_t not_before);

/* A page's outcome to record: the links to queue (absolute, as found,
 * depth + 1), the redirect to follow (same depth, one more hop; NULL:
 * none), and its output line (NULL: none). */
typedef struct crawl_page_done {
  const char *const *links;
  size_t nlinks;
  const char *redirect;
  const char *line;
  /* Called inside the page's state transaction, after its rows and before
   * the commit (the lock held): what must be recorded with the page, and
   * in its order (the WARC records and their end).  0, or -1: nothing of
   * the page is recorded.  NULL: none. */
  int (*before_commit)(void *ctx, crawl_state *state);
  /* Called when the transaction failed after before_commit succeeded (the
   * lock still held): undo what it did outside the state.  NULL: none. */
  void (*after_rollback)(void *ctx);
  void *ctx;
} crawl_page_done;

/* Records the page as done, its links and redirect queued, in one state
 * transaction.  Returns how many URLs were queued (>= 0), or -1 when the
 * page could not be recorded (the state failed, see crawl_frontier_error;
 * or before_commit failed): it is then as if it had not been fetched, and
 * stays queued in the state. */
long crawl_frontier_page_done(crawl_frontier *f, crawl_job *job, const crawl_page_done *d);

/* The page is fetched again, not before not_before; note (or NULL) is
 * kept with it, handed back with the job, and freed with notes_free. */
void crawl_frontier_retry(crawl_frontier *f, crawl_job *job, uint64_t not_before, void *note);

/* The job could not start for want of a local resource: it goes back to
 * the front of its host's queue, unrecorded and uncounted (a page gives
 * its reservation back), and the host waits until not_before. */
void crawl_frontier_put_back(crawl_frontier *f, crawl_job *job, uint64_t not_before);

/* After the fetchers are done: each retry still waiting, as a job taken
 * (to be reported with crawl_frontier_page_done, whose line is its last
 * attempt's), with its note.  false when none is left. */
bool crawl_frontier_take_waiting_retry(crawl_frontier *f, crawl_job *job);

void crawl_frontier_get_stats(crawl_frontier *f, crawl_frontier_stats *out);

#endif
