/*
 * output.h - the files a crawl writes: the JSON lines (--output) and the
 * WARC (--warc), and bringing both back in line with the state when a
 * crawl resumes.
 *
 * The state is the truth: a page is done exactly when its transaction
 * committed (state.h).  Its JSON line is written after the commit, so a
 * kill may leave lines missing or half written: resuming cuts a half line
 * and appends, from the state, the lines the file lacks.  Its WARC records
 * are appended just before the commit, in commit order, and the commit
 * records the WARC's end: resuming cuts the WARC back to that end, so
 * records of a page whose commit never happened go, and the page, fetched
 * again, is stored once.  An output that holds less than the state says
 * was written (deleted, replaced, cut short by hand) is reported and
 * refused, unless the caller forces it.
 */
#ifndef SPINDLE_CRAWL_OUTPUT_H
#define SPINDLE_CRAWL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <spindle/spindle.h>

#include "state.h"
#include "warc.h"

typedef struct crawl_output {
  const char *jsonl_path; /* --output: a path, "-" for stdout, or NULL */
  const char *warc_path;  /* --warc, or NULL */
  FILE *jsonl;
  crawl_warc *warc;
  sp_mutex lock;          /* orders whole lines (tasks on several workers write) */
  int failed;             /* the first write error (-errno), 0 if none */
} crawl_output;

typedef struct crawl_output_resume {
  crawl_state *state;     /* NULL: a crawl without --state */
  bool resuming;          /* the state holds an earlier run's crawl */
  long pages_done;        /* pages the state holds as done with a line */
  long long warc_end;     /* the WARC's committed end in the state, or -1 */
  long long warc_tail;    /* where the records ending there start, or -1 (scan the file) */
  bool force;             /* --force-resume: take outputs that disagree as they are */
  bool quiet;             /* no note of what was repaired */
} crawl_output_resume;

/* Opens the outputs (paths set in o, the rest zeroed), repairing them from
 * the state when resuming.  0, or -1 with a message on stderr; a refusal
 * touches no file. */
int crawl_output_open(crawl_output *o, const crawl_output_resume *r);

/* Writes one JSON line (without its newline) and flushes it.  0, or -errno
 * of the first failure: every later call fails with it too, and the first
 * failure is reported on stderr. */
int crawl_output_line(crawl_output *o, const char *line);

/* Closes both files.  0, or -1 if either could not be written to its end
 * (then also o->failed). */
int crawl_output_close(crawl_output *o);

/* What the output line of one URL attempted says. */
typedef struct crawl_line_info {
  const char *url;            /* as found */
  const char *referrer;       /* NULL for a seed */
  int depth, retries;
  int rc;                     /* sp_http_fetch's result */
  const sp_http_response *r;
  long links;                 /* followable links found */
  bool noindex;
  uint64_t fetch_ns;
} crawl_line_info;

/* The line (one JSON object, malloc'd, no newline), or NULL out of memory:
 * url, final_url, status, content_type, bytes, depth, referrer, links,
 * fetch_ms, ip; redirect, noindex, retries when they apply; error,
 * error_code and message when it failed (docs/crawler.md, Output). */
char *crawl_output_format_line(const crawl_line_info *l);

#endif
