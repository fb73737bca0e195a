/*
 * fetch.c - one job of a crawl, from its transfer to its reported outcome:
 * a host's robots.txt (RFC 9309), or a page (its links, its retry, its
 * line, its WARC records).  Redirects are not followed here: a 3xx is an
 * outcome, and its Location is queued like a link, so every hop passes the
 * frontier's scope, robots.txt and seen set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <spindle/spindle.h>

#include "engine.h"
#include "links.h"
#include "policy.h"
#include "robots.h"
#include "warc.h"

#define ROBOTS_MAX_BYTES (500u * 1024u)   /* RFC 9309 2.5: parse at least 500 KiB */
#define SHORTAGE_PAUSE_NS 100000000ull   /* a host waits this long after a transfer found no descriptor */

static void base_request(const crawl_engine *e, sp_http_request *q, const crawl_job *job) {
  const crawl_config *cfg = e->cfg;
  sp_http_request_init(q);
  q->headers = (const char *const *)cfg->headers;
  q->resolve = (const char *const *)cfg->resolve;
  q->user_agent = cfg->user_agent;
  q->insecure = cfg->insecure;
  q->timeout_ns = (uint64_t)(cfg->timeout_s * 1e9);
  q->connect_timeout_ns = q->timeout_ns < 10000000000ull ? q->timeout_ns : 10000000000ull;
  q->worker = job->worker;
}

/* The job found no file descriptor: back to the frontier, unrecorded. */
static void put_back(crawl_engine *e, crawl_job *job, int rc, const sp_http_response *r) {
  crawl_frontier_put_back(e->frontier, job, sp_now_ns() + SHORTAGE_PAUSE_NS);
  crawl_engine_shortage(e, rc, r);
}

/* ---------------------------------------------------------- robots.txt */

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

/* 2xx is parsed for the crawler's product token, 4xx allows everything,
 * 5xx or no answer is retried when a page would be, and then disallows
 * everything (assumed: with --state those URLs stay queued). */
void crawl_fetch_robots(crawl_engine *e, crawl_job *job) {
  const crawl_config *cfg = e->cfg;
  uint64_t started = sp_now_ns();
  char url[700];
  snprintf(url, sizeof url, "%s/robots.txt", job->url);
  sp_http_request q;
  base_request(e, &q, job);
  q.url = url;
  q.max_redirects = 5; /* RFC 9309 2.3.1.2: at least five */
  q.max_body = 0;      /* robots_chunk keeps what counts */
  robots_body body = {0};
  q.on_body = robots_chunk;
  q.user = &body;
  sp_http_response r;
  int rc = sp_http_fetch(&q, &r);
  if (rc == SP_EABORTED && body.len >= ROBOTS_MAX_BYTES) rc = 0; /* cut at the limit: parse that */
  if (crawl_local_shortage(rc)) {
    free(body.buf);
    put_back(e, job, rc, &r);
    sp_http_response_free(&r);
    return;
  }
  crawl_robots *rules = NULL;
  bool answered = rc == 0 && ((r.status >= 200 && r.status < 300) || (r.status >= 400 && r.status < 500));
  if (rc == 0 && r.status >= 200 && r.status < 300)
    rules = crawl_robots_parse(body.buf ? body.buf : "", body.len, cfg->robots_agent);
  /* 4xx allows everything; so does a robots.txt there was no memory to
   * parse, as before (the host is not at fault). */
  if (answered && !rules) rules = crawl_robots_allow_all();
  bool failed = !answered;
  bool retry = failed && crawl_retryable(rc, r.status, r.failure) && job->retries < cfg->retries;
  char why[256];
  if (rc)
    snprintf(why, sizeof why, "%s", r.error[0] ? r.error : sp_strerror(rc));
  else
    snprintf(why, sizeof why, "status %ld", (long)r.status);
  long status = r.status;
  sp_http_failure r_failure = r.failure;
  free(body.buf);
  sp_http_response_free(&r);
  if (retry) {
    crawl_frontier_robots_retry(e->frontier, job, sp_now_ns() + crawl_backoff_ns(job->retries + 1));
    crawl_engine_count_retry(e);
  } else {
    double delay = rules ? crawl_robots_crawl_delay(rules) : -1;
    /* Unreachable: no HTTP exchange at all.  A timeout, a reset or broken
     * HTTP came from a host that was there. */
    bool unreachable = r_failure == SP_HTTP_FAIL_DNS || r_failure == SP_HTTP_FAIL_CONNECT ||
                       r_failure == SP_HTTP_FAIL_TLS;
    crawl_frontier_robots_done(e->frontier, job, failed ? NULL : rules, delay, unreachable, why, started);
  }
  crawl_engine_job_done(e, rc, status, cfg->per_host + 1);
}

/* ---------------------------------------------------------------- pages */

/* What a retry keeps of its last attempt: its line, should the crawl stop
 * before its turn comes again, and what to count then. */
typedef struct retry_note {
  char *last_line;
  int last_rc;
  sp_http_failure last_failure;
  long last_status;
} retry_note;

void crawl_fetch_note_free(void *note) {
  retry_note *n = note;
  if (n) free(n->last_line);
  free(n);
}

static bool is_html(const char *ct) {
  if (!ct) return false;
  while (*ct == ' ') ct++;
  return strncasecmp(ct, "text/html", 9) == 0 || strncasecmp(ct, "application/xhtml+xml", 21) == 0;
}

/* The WARC records of a fetch, compressed here, outside every lock; NULL
 * when there is nothing to write, or (after stopping the crawl) when they
 * cannot be built. */
static crawl_warc_records *warc_records(crawl_engine *e, const sp_http_response *r, const char *url) {
  if (!e->out.warc || !r->headers || !r->request_headers) return NULL;
  crawl_warc_records *recs = NULL;
  int rc = crawl_warc_build_fetch(e->out.warc, r->url ? r->url : url, r->remote_ip, r->request_headers,
                                  r->request_headers_len, r->headers, r->headers_len, r->body, r->body_len,
                                  CRAWL_WARC_DECODED, &recs);
  if (rc < 0) crawl_engine_fail(e, "making the WARC records", sp_strerror(rc));
  return recs;
}

typedef struct warc_commit {
  crawl_engine *e;
  const crawl_warc_records *recs;
  long long before, before_tail; /* the WARC's end and tail before this page's records */
  bool appended;
} warc_commit;

/* What is recorded with a page, inside its state transaction and under
 * the frontier's lock, which orders the commits:
 *   - nothing, once the crawl failed: nothing more is recorded then, so
 *     that a resume finds the state as the failure left it;
 *   - its WARC records: so the WARC's end recorded with the page covers
 *     exactly the records of committed pages, and a resume cuts off the
 *     records of a page whose commit a kill prevented (output.h). */
static int commit_page(void *ctx, crawl_state *state) {
  warc_commit *w = ctx;
  if (atomic_load(&w->e->failed)) return -1;
  if (!w->recs) return 0;
  crawl_warc *warc = w->e->out.warc;
  long long end = -1;
  w->before = crawl_warc_end(warc);
  w->before_tail = crawl_warc_tail(warc);
  int rc = crawl_warc_append(warc, w->recs, &end);
  if (rc < 0) {
    char what[4200];
    snprintf(what, sizeof what, "writing the WARC file %s", w->e->out.warc_path);
    crawl_engine_fail(w->e, what, sp_strerror(rc));
    return -1;
  }
  w->appended = true;
  if (!state) return 0;
  /* Where this page's records end and start: a resume checks and cuts
   * there without reading the rest of the file. */
  char v[32], t[32];
  snprintf(v, sizeof v, "%lld", end);
  snprintf(t, sizeof t, "%lld", w->before);
  crawl_state_set_meta(state, "warc_end", v);
  return crawl_state_set_meta(state, "warc_tail", t);
}

/* The page's transaction failed after its records were appended: they go,
 * before any other page appends (the frontier's lock is still held), or a
 * resume would find them twice. */
static void cut_warc(void *ctx) {
  warc_commit *w = ctx;
  if (w->appended) crawl_warc_cut(w->e->out.warc, w->before, w->before_tail);
}

/* Records a page done (its links queued, its line, its WARC records) and
 * writes its line; the page is counted only once recorded.  The outcome
 * counted: rc, failure, status, bytes. */
static void record(crawl_engine *e, crawl_job *job, const crawl_page_done *d, int rc, sp_http_failure failure,
                   long status, size_t bytes, long *ready) {
  /* After a failure nothing more is recorded: a resume fetches the page. */
  if (atomic_load(&e->failed)) {
    crawl_frontier_put_back(e->frontier, job, 0);
    return;
  }
  long added = crawl_frontier_page_done(e->frontier, job, d);
  if (added < 0) {
    char why[1024];
    crawl_frontier_error(e->frontier, why, sizeof why);
    if (why[0]) crawl_engine_fail(e, "", why);
    return; /* not recorded, so not written */
  }
  *ready += added;
  crawl_engine_count_page(e, rc, failure, status, bytes);
  if (d->line && crawl_output_line(&e->out, d->line) < 0) crawl_engine_fail(e, NULL, NULL); /* it said why */
}

void crawl_fetch_page(crawl_engine *e, crawl_job *job) {
  const crawl_config *cfg = e->cfg;
  sp_http_request q;
  base_request(e, &q, job);
  q.url = job->url;
  q.max_body = cfg->max_bytes;
  q.capture_request = e->out.warc != NULL;
  sp_http_response r;
  uint64_t t0 = sp_now_ns();
  int rc = sp_http_fetch(&q, &r);
  uint64_t took = sp_now_ns() - t0;
  if (crawl_local_shortage(rc)) {
    put_back(e, job, rc, &r);
    sp_http_response_free(&r);
    return;
  }

  crawl_links links = {0};
  bool parsed = false;
  if (rc == 0 && r.status >= 200 && r.status < 300 && is_html(r.content_type) && r.body &&
      (cfg->max_depth < 0 || job->depth < cfg->max_depth)) {
    parsed = crawl_links_extract(r.body, r.body_len, r.url ? r.url : job->url, cfg->robots_agent, &links) == 0;
  }
  crawl_line_info li = {job->url, job->referrer, job->depth, job->retries, rc, &r, parsed ? (long)links.n : 0,
                        parsed && links.noindex, took};
  char *line = crawl_output_format_line(&li);
  bool retry = crawl_retryable(rc, r.status, r.failure) && job->retries < cfg->retries;
  retry_note *note = retry ? (job->note ? job->note : calloc(1, sizeof *note)) : NULL;
  long ready = 1;
  if (note) {
    /* Kept, in case the crawl stops before the retry: its line then says
     * how the last attempt ended (see crawl_fetch_finish_retries). */
    free(note->last_line);
    *note = (retry_note){line, rc, r.failure, r.status};
    line = NULL;
    crawl_frontier_retry(e->frontier, job, sp_now_ns() + crawl_backoff_ns(job->retries + 1), note);
    crawl_engine_count_retry(e);
  } else {
    crawl_warc_records *recs = rc == 0 ? warc_records(e, &r, job->url) : NULL;
    warc_commit wc = {e, recs, -1, -1, false};
    const char *redirect = rc == 0 && r.status >= 300 && r.status < 400 ? r.redirect_url : NULL;
    crawl_page_done d = {(const char *const *)(parsed ? links.urls : NULL), parsed ? links.n : 0, redirect, line,
                         commit_page, cut_warc, &wc};
    record(e, job, &d, rc, r.failure, r.status, r.body_len, &ready);
    crawl_warc_records_free(recs);
  }
  crawl_engine_job_done(e, rc, r.status, ready);
  free(line);
  if (parsed) crawl_links_free(&links);
  sp_http_response_free(&r);
}

void crawl_fetch_finish_retries(crawl_engine *e) {
  crawl_job job;
  long ready = 0;
  while (!atomic_load(&e->failed) && crawl_frontier_take_waiting_retry(e->frontier, &job)) {
    /* The note goes with the item once the page is recorded: what is
     * needed of it is taken first. */
    retry_note *n = job.note, last = *n;
    n->last_line = NULL;
    warc_commit wc = {e, NULL, -1, -1, false};
    crawl_page_done d = {NULL, 0, NULL, last.last_line, commit_page, cut_warc, &wc};
    record(e, &job, &d, last.last_rc, last.last_failure, last.last_status, 0, &ready);
    free(last.last_line);
  }
}
