/*
 * policy.h - what the crawler makes of a fetch's outcome: the kind of error
 * its output line names, whether it is tried again and after how long, and
 * whether it was no fault of the page's at all (a local shortage).  Fed by
 * the HTTP layer's failure kinds (sp_http_failure), never libcurl's
 * numbers.
 */
#ifndef SPINDLE_CRAWL_POLICY_H
#define SPINDLE_CRAWL_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <spindle/spindle.h>

/* The "error" of an output line, and the summary's counts of failures. */
typedef enum {
  CRAWL_ERR_DNS,
  CRAWL_ERR_CONNECT,
  CRAWL_ERR_TIMEOUT,
  CRAWL_ERR_TOO_BIG,
  CRAWL_ERR_RESET,
  CRAWL_ERR_TLS,
  CRAWL_ERR_PROTOCOL,
  CRAWL_ERR_REDIRECTS,
  CRAWL_ERR_OTHER,
  CRAWL_ERR_N
} crawl_error_kind;

/* "dns", "connect", "timeout", "too_big", "reset", "tls", "protocol",
 * "redirects", "other". */
const char *crawl_error_name(crawl_error_kind k);

crawl_error_kind crawl_error_kind_of(sp_http_failure f);

/* Worth another try later (the server or the path to it may recover): a
 * 5xx, a timeout, a refused or reset connection, a protocol failure, a DNS
 * server that failed or refused (not a name that does not exist), never a
 * TLS failure (the same certificate fails again). */
bool crawl_retryable(int rc, long status, sp_http_failure f);

/* A transfer that could not start for want of a file descriptor: no fault
 * of the page's, which is put back, not failed.  (Memory is not: libcurl
 * reports a header too large as out of memory.) */
bool crawl_local_shortage(int rc);

/* Retry n (from 1) waits 1 s, 2 s, 4 s ... at most a minute. */
uint64_t crawl_backoff_ns(int n);

#endif
