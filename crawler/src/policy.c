/* policy.c - what the crawler makes of a fetch's outcome (see policy.h). */
#include "policy.h"

#include <errno.h>

#define MAX_BACKOFF_NS (60ull * 1000000000u)

static const char *const names[CRAWL_ERR_N] = {
    [CRAWL_ERR_DNS] = "dns",         [CRAWL_ERR_CONNECT] = "connect",   [CRAWL_ERR_TIMEOUT] = "timeout",
    [CRAWL_ERR_TOO_BIG] = "too_big", [CRAWL_ERR_RESET] = "reset",       [CRAWL_ERR_TLS] = "tls",
    [CRAWL_ERR_PROTOCOL] = "protocol", [CRAWL_ERR_REDIRECTS] = "redirects", [CRAWL_ERR_OTHER] = "other",
};

const char *crawl_error_name(crawl_error_kind k) { return (unsigned)k < CRAWL_ERR_N ? names[k] : "other"; }

crawl_error_kind crawl_error_kind_of(sp_http_failure f) {
  switch (f) {
  case SP_HTTP_FAIL_DNS: return CRAWL_ERR_DNS;
  case SP_HTTP_FAIL_CONNECT: return CRAWL_ERR_CONNECT;
  case SP_HTTP_FAIL_TLS: return CRAWL_ERR_TLS;
  case SP_HTTP_FAIL_TIMEOUT: return CRAWL_ERR_TIMEOUT;
  case SP_HTTP_FAIL_RESET: return CRAWL_ERR_RESET;
  case SP_HTTP_FAIL_PROTOCOL: return CRAWL_ERR_PROTOCOL;
  case SP_HTTP_FAIL_TOO_BIG: return CRAWL_ERR_TOO_BIG;
  case SP_HTTP_FAIL_REDIRECTS: return CRAWL_ERR_REDIRECTS;
  default: return CRAWL_ERR_OTHER;
  }
}

bool crawl_retryable(int rc, long status, sp_http_failure f) {
  if (rc == 0) return status >= 500 && status <= 599;
  switch (f) {
  case SP_HTTP_FAIL_TLS: return false;
  case SP_HTTP_FAIL_TIMEOUT:
  case SP_HTTP_FAIL_PROTOCOL: return true;
  case SP_HTTP_FAIL_RESET: return rc == -ECONNRESET || rc == SP_EHTTP;
  /* Refused, not unreachable: a server restarting.  SP_EDNSREFUSED: a
   * SERVFAIL, a REFUSED or an unreachable resolver, often passing (c-ares
   * 1.18 does not tell them apart); NXDOMAIN is an answer. */
  case SP_HTTP_FAIL_CONNECT: return rc == -ECONNREFUSED || rc == SP_EHTTP;
  case SP_HTTP_FAIL_DNS: return rc == SP_EDNSREFUSED;
  default: return false;
  }
}

bool crawl_local_shortage(int rc) { return rc == -EMFILE || rc == -ENFILE; }

uint64_t crawl_backoff_ns(int n) { return n >= 7 ? MAX_BACKOFF_NS : (1000000000ull << (n - 1)); }
