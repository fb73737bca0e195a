/*
 * engine.h - a crawl as one object, inside the crawler: what crawl.c (its
 * life and its fetcher tasks) and fetch.c (one job's transfer and
 * outcome) share.  Nothing here is process-global: two engines run side
 * by side in one process, each with its own frontier, state and outputs.
 *
 * After crawl_engine_open, the fields above `lock` are read-only.  The
 * frontier has its own lock (frontier.h); when both are taken, the
 * frontier's comes first (a page's before_commit may report a failure to
 * the engine), so no code calls the frontier with the engine's lock held.
 */
#ifndef SPINDLE_CRAWL_ENGINE_H
#define SPINDLE_CRAWL_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <spindle/spindle.h>

#include "crawl.h"
#include "frontier.h"
#include "output.h"
#include "state.h"

struct crawl_engine {
  const crawl_config *cfg;
  crawl_summary *sum;
  char **seeds;          /* cleaned seed URLs */
  char **seed_hosts;     /* and their hosts */
  size_t nseeds;
  crawl_state *state;    /* --state, or NULL */
  crawl_frontier *frontier;
  crawl_output out;
  uint64_t start_ns, deadline_ns;

  /* Guarded by lock (a spindle mutex, never held across a fetch or a
   * write): the counts in *sum and what follows. */
  sp_mutex lock;
  long inflight;         /* jobs taken and not reported */
  long max_inflight;     /* --concurrency, lowered on a shortage */
  int shortage_streak;   /* shortages in a row with one transfer in flight */
  bool shortage_warned;
  bool stopping;         /* take no more jobs: SIGINT, --max-time, the page limit, a failure */
  bool finished;         /* the fetchers are done */
  long nwaiting;         /* fetchers parked on wake, or asking the frontier (see fetcher) */
  sp_sem wake;
  /* The state or an output could not be written: stopping, and nothing
   * more is recorded (read without the lock by fetchers about to record). */
  atomic_bool failed;
};

/* Stops the crawl for a local failure, as on SIGINT: the transfers in
 * flight finish, nothing more is recorded, and the run ends with -EIO.
 * Says so once: "WHAT failed: WHY; stopping", or "WHY; stopping" when
 * what is "" (why says what failed and how), nothing when what is NULL (the
 * caller said it).  Takes the engine's lock. */
void crawl_engine_fail(crawl_engine *e, const char *what, const char *why);

/* A job's transfer is over and its outcome reported: counts the request
 * (rc, status: whether an answer came) and wakes up to `ready` fetchers
 * for the work it may have made due. */
void crawl_engine_job_done(crawl_engine *e, int rc, long status, long ready);

/* A job could not start for want of a file descriptor (rc, r): fewer
 * transfers at once from now on (warned once, naming the limit). */
void crawl_engine_shortage(crawl_engine *e, int rc, const sp_http_response *r);

/* Counts a URL's final outcome in the summary: a line was written. */
void crawl_engine_count_page(crawl_engine *e, int rc, sp_http_failure failure, long status, size_t bytes);
/* Counts a retry made. */
void crawl_engine_count_retry(crawl_engine *e);

/* resume.c: opens the state (refused when damaged, or started with other
 * options unless --force-resume) and the outputs (repaired from the
 * state), and records the crawl's options in the state.  0; SP_EINVAL for
 * other options; -EACCES when something could not be opened or does not
 * match; SP_ENOMEM.  Said on stderr; a refusal touches no file. */
int crawl_resume_open(crawl_engine *e);

/* fetch.c: one job, from its transfer to its reported outcome. */
void crawl_fetch_robots(crawl_engine *e, crawl_job *job);
void crawl_fetch_page(crawl_engine *e, crawl_job *job);
/* After the fetchers: each retry still waiting gets the line of its last
 * attempt rather than vanishing (the crawl stopped before its turn). */
void crawl_fetch_finish_retries(crawl_engine *e);
/* What a retry keeps of its last attempt (frontier.h's notes). */
void crawl_fetch_note_free(void *note);

#endif
