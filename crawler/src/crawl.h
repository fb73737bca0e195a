/*
 * crawl.h - the crawl engine behind spindle-crawl.
 *
 * A crawl runs `concurrency` fetcher tasks on a spindle runtime.  They share
 * one frontier: per-host FIFO queues (breadth-first within a host) on a ring
 * of hosts served round-robin, a seen set of URL fingerprints, and per-host
 * politeness state (robots.txt rules, connections in flight, the earliest
 * time of the next request).  Each host is pinned to one worker's HTTP
 * connection pool, so the per-host limit holds at the server.
 */
#ifndef SPINDLE_CRAWL_CRAWL_H
#define SPINDLE_CRAWL_CRAWL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <spindle/spindle.h>

#define CRAWL_VERSION SPINDLE_VERSION_STRING

typedef struct crawl_config {
  char **seeds;               /* seed URLs */
  size_t nseeds;
  unsigned workers;           /* runtime workers; 0: one per CPU */
  unsigned concurrency;       /* transfers in flight (fetcher tasks) */
  unsigned per_host;          /* transfers in flight per host */
  double delay_s;             /* minimum seconds between requests to one host */
  long max_pages;             /* pages attempted at most (0: no limit) */
  int max_depth;              /* links followed from a seed (-1: no limit) */
  size_t max_bytes;           /* decoded body bytes per page */
  double max_time_s;          /* stop dispatching after this long (0: none) */
  double timeout_s;           /* per request */
  int retries;                /* for timeouts, connection failures and 5xx */
  int max_redirects;          /* hops followed per URL */
  char **allow_domains;       /* hosts allowed besides the seeds' (subdomains too) */
  size_t nallow_domains;
  bool any_host;              /* no host scope at all */
  regex_t *include;           /* a URL must match one of these, if any */
  char **include_src;         /* their sources, as given (ninclude) */
  size_t ninclude;
  regex_t *exclude;           /* and none of these */
  char **exclude_src;
  size_t nexclude;
  const char *user_agent;     /* full User-Agent header */
  char *robots_agent;         /* product token matched in robots.txt */
  bool ignore_robots;
  char **headers;             /* extra request headers, NULL-terminated */
  char **resolve;             /* host:port:addr entries, NULL-terminated */
  const char *dns_servers;
  bool insecure;
  const char *output_path;    /* JSON lines, "-" for stdout, NULL: none */
  const char *warc_path;
  const char *state_dir;
  bool force_resume;          /* resume even where the options or the outputs disagree with the state */
  long frontier_memory;       /* queued URLs held in memory at most; the rest wait on disk (state_dir, else a temporary file) */
  const char *stats_path;
  bool quiet;
  bool progress;              /* force the status line even when not a terminal */
} crawl_config;

void crawl_config_init(crawl_config *c);

typedef struct crawl_summary {
  long pages;                 /* URLs attempted (lines written) in this run */
  long pages_before;          /* pages done in earlier runs of a resumed crawl */
  bool resumed;               /* --state held an earlier run's crawl */
  long responses;             /* HTTP responses received in this run, robots.txt included */
  long attempts;              /* requests made in this run, robots.txt included */
  long ok;                    /* 2xx */
  long redirects;             /* 3xx */
  long client_errors;         /* 4xx */
  long server_errors;         /* 5xx */
  long failed;                /* no response: DNS, connect, timeout, too big ... */
  long robots_skipped;        /* URLs disallowed by robots.txt */
  long robots_unavailable;    /* hosts whose robots.txt answered 5xx (all disallowed) */
  char robots_failure[1024];  /* the first of those: "URL: why", or "" */
  long hosts_unreachable;     /* hosts that gave no answer at all (DNS, connect, TLS...) */
  long unreachable_skipped;   /* URLs not fetched because their host was unreachable */
  char unreachable_failure[1024]; /* the first of those hosts: "URL: why", or "" */
  long local_requeues;        /* transfers put back for a local shortage (file descriptors, memory) */
  unsigned concurrency;       /* transfers in flight at most, at the end (lowered on a shortage) */
  long queued;                /* left in the frontier (stopped early, or limits) */
  long frontier_memory_peak;  /* most queued URLs held in memory at once */
  long retries;
  uint64_t bytes;             /* decoded body bytes */
  double seconds;
  bool interrupted;           /* SIGINT or --max-time */
  long errors_by_code[16];    /* failed, by kind (see crawl_error_kind) */
} crawl_summary;

/* Runs the crawl; fills *sum.  Returns 0; SP_EINVAL for a bad seed or
 * setup, or a resume whose options differ from the state's (message on
 * stderr); -EACCES when the output, the WARC or the state could not be
 * opened or does not match the state (message on stderr, nothing crawled,
 * no file touched); -EIO when the state or an output could not be written
 * (the crawl stopped, and said so on stderr: what was not recorded is
 * fetched again by a resume). */
int crawl_run(const crawl_config *cfg, crawl_summary *sum);

/* The exit status of spindle-crawl for a crawl_run result and summary
 * (see --help and docs/crawler.md): 0 done; 1 a local error (state,
 * outputs); 2 bad usage; 3 some pages failed (only with fail_on_error);
 * 4 nothing could be fetched (no HTTP response at all); 130 SIGINT. */
enum {
  CRAWL_EXIT_OK = 0,
  CRAWL_EXIT_LOCAL = 1,
  CRAWL_EXIT_USAGE = 2,
  CRAWL_EXIT_PAGES_FAILED = 3,
  CRAWL_EXIT_UNREACHABLE = 4,
  CRAWL_EXIT_SIGINT = 130,
};
int crawl_exit_status(int rc, const crawl_summary *sum, bool fail_on_error, bool sigint);

/* The same in steps, for a program that runs crawls on a spindle runtime
 * of its own, several at once if it likes (each with its own state and
 * outputs; the runtime's DNS servers are theirs too).  open checks the
 * seeds and opens and repairs the files (results as crawl_run's), and
 * resets *sum, which the crawl fills; run crawls to the end from a task
 * of rt (0, or -EIO when the state or an output failed); close closes and
 * frees (0, or -EIO when something written was lost). */
typedef struct crawl_engine crawl_engine;
int crawl_engine_open(const crawl_config *cfg, crawl_summary *sum, sp_runtime *rt, crawl_engine **out);
/* From a task that is neither cancelled nor under a deadline scope while it
 * runs (the crawl's locks are taken in it): crawl_request_stop ends a crawl
 * early. */
int crawl_engine_run(crawl_engine *e);
int crawl_engine_close(crawl_engine *e);

/* Asks every running crawl to stop dispatching (SIGINT): in-flight
 * transfers finish, everything is flushed.  Async-signal-safe. */
void crawl_request_stop(void);

/* Prints the summary (human-readable) and writes it as JSON to path. */
void crawl_print_summary(const crawl_summary *sum, FILE *f);
int crawl_write_stats(const crawl_summary *sum, const char *path);

#endif
