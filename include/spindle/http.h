/*
 * spindle/http.h - HTTP(S) transfers with libcurl that park the calling task.
 *
 * Each worker has one libcurl multi handle whose sockets sit on that worker's
 * epoll and whose timeout is a timer of that worker's loop.  A transfer stays
 * on the multi handle of the worker where it started until it completes
 * (keep-alive connections are reused within a worker's multi handle).  Host
 * names are resolved by spindle's resolver (spindle/dns.h) and handed to
 * libcurl, so libcurl never starts a resolver thread; redirects, when
 * followed, are followed by spindle for the same reason, each new host
 * resolved the same way.
 *
 * libcurl is used with CURLOPT_NOSIGNAL; SIGPIPE is ignored process-wide
 * once the first transfer starts (a write to a closed socket then fails
 * with EPIPE instead of killing the process).
 */
#ifndef SPINDLE_HTTP_H
#define SPINDLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spindle/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Called as body bytes arrive (after content decoding).  Return 0 to go on,
 * anything else to stop the transfer: sp_http_fetch then returns SP_EABORTED.
 * Runs on the I/O driver of the transfer's worker, not in the calling task:
 * it must not park (no sp_sleep, no channel operations); copy and return.
 */
typedef int (*sp_http_body_fn)(void *user, const char *data, size_t len);

enum sp_http_version { SP_HTTP_ANY = 0, SP_HTTP_1_1 = 1, SP_HTTP_2 = 2 };

typedef struct sp_http_request {
  const char *url;              /* http:// or https:// (required); an international host
                                   name (UTF-8) goes out, is resolved and is matched against
                                   `resolve` in its ASCII form (xn--...), in any locale */
  const char *method;           /* NULL: GET, or POST when body is set; a token */
  const char *const *headers;   /* "Name: value" strings (or "Name;" for an empty value),
                                   NULL-terminated, or NULL; the name a token */
  const void *body;             /* request body, or NULL */
  size_t body_len;
  sp_http_body_fn on_body;      /* NULL: collect the body into the response */
  void *user;                   /* passed to on_body */
  size_t max_body;              /* decoded bytes; more: SP_ETOOBIG (default 64 MiB, 0: none) */
  uint64_t connect_timeout_ns;  /* default 10 s; 0: none */
  uint64_t timeout_ns;          /* whole transfer incl. redirects; default 60 s; 0: none */
  long low_speed_bytes;         /* abort below this many bytes/s ... (0: off, the default) */
  uint64_t low_speed_time_ns;   /* ... sustained for this long */
  int max_redirects;            /* 0 (default): return 3xx to the caller; N: follow up to N */
  bool no_compression;          /* do not send Accept-Encoding (default: "gzip, deflate") */
  bool insecure;                /* skip TLS certificate and host verification */
  const char *ca_file;          /* PEM file of CAs to trust instead of the system's, or NULL */
  int http_version;             /* enum sp_http_version */
  const char *user_agent;       /* NULL: "spindle/VERSION" */
  const char *const *resolve;   /* "host:port:addr[,addr...]" entries (as curl's --resolve),
                                   NULL-terminated: these hosts skip the resolver */
  bool capture_request;         /* keep the request's header block in the response */
  int worker;                   /* -1 (default): the calling task's worker; k >= 0: the
                                   multi handle of worker k % workers (host affinity:
                                   all of a host's connections in one pool) */
} sp_http_request;

/* Sets the defaults above. */
void sp_http_request_init(sp_http_request *req);

typedef struct sp_http_timings {
  uint64_t resolve_ns;  /* in spindle's resolver (microseconds from its cache; 0 for an IP literal) */
  uint64_t connect_ns;  /* TCP connected, from the start of the last hop */
  uint64_t tls_ns;      /* TLS handshake done (0 for http://) */
  uint64_t ttfb_ns;     /* first response byte */
  uint64_t total_ns;    /* the whole call, redirects included */
} sp_http_timings;

/*
 * What kind of failure a transfer had, whatever code came with it (a TLS
 * failure may come as SP_EHTTP, a connection refused as -ECONNREFUSED or
 * as SP_EHTTP when the system gave no errno): for callers that sort
 * failures, such as a crawler's retry policy and its report, without
 * knowing libcurl's numbers.
 */
typedef enum sp_http_failure {
  SP_HTTP_OK = 0,           /* a response arrived (any status) */
  SP_HTTP_FAIL_DNS,         /* the name did not resolve (any DNS error) */
  SP_HTTP_FAIL_CONNECT,     /* no connection: refused, unreachable */
  SP_HTTP_FAIL_TLS,         /* the TLS handshake or the certificate failed */
  SP_HTTP_FAIL_TIMEOUT,     /* the request's timeout or deadline passed */
  SP_HTTP_FAIL_RESET,       /* the connection broke (reset, closed, broken pipe) */
  SP_HTTP_FAIL_PROTOCOL,    /* the server broke HTTP (bad headers, cut or malformed body) */
  SP_HTTP_FAIL_TOO_BIG,     /* the body exceeded max_body */
  SP_HTTP_FAIL_REDIRECTS,   /* more redirects than allowed */
  SP_HTTP_FAIL_LOCAL,       /* this process ran short: file descriptors, memory */
  SP_HTTP_FAIL_REQUEST,     /* the request itself was refused (SP_EINVAL) */
  SP_HTTP_FAIL_OTHER        /* cancelled, aborted by on_body, or not told apart */
} sp_http_failure;

/* "dns", "connect", "tls", "timeout", "reset", "protocol", "too_big",
 * "redirects", "local", "request", "other"; "" for SP_HTTP_OK. */
const char *sp_http_failure_name(sp_http_failure f);

typedef struct sp_http_response {
  long status;            /* HTTP status of the last response; 0 if none arrived */
  int http_version;       /* 1 (HTTP/1.x) or 2 */
  char *url;              /* the last URL requested (after redirects) */
  char *redirect_url;     /* Location of a 3xx that was not followed, or NULL */
  char *content_type;     /* or NULL */
  char *headers;          /* the last response's header block, "Name: value\r\n"... */
  size_t headers_len;
  char *request_headers;  /* with capture_request: the last request's header block as sent */
  size_t request_headers_len;
  char *body;             /* collected body (NUL-terminated), NULL with on_body */
  size_t body_len;        /* decoded body bytes received (also with on_body) */
  uint64_t wire_bytes;    /* body bytes as received, before decoding */
  char remote_ip[64];     /* the peer's address of the last hop, or "" */
  int remote_port;
  int redirects;          /* redirects followed */
  bool reused;            /* the last hop reused a kept-alive connection */
  sp_http_timings timings;
  int err;                /* what sp_http_fetch returned */
  sp_http_failure failure; /* the kind of failure err is (SP_HTTP_OK: none) */
  int curl_code;          /* libcurl's CURLcode for the last hop (0: none) */
  char error[256];        /* a message for err, "" on success */
} sp_http_response;

/*
 * Performs req from the calling task, parking it until the transfer ends.
 * Returns 0 when a response arrived (whatever its status), else an error and
 * resp->error says what happened: SP_ETIMEDOUT, SP_ETOOBIG, SP_EABORTED,
 * SP_EREDIRECTS, a DNS error (SP_ENOTFOUND...), -ECONNREFUSED, -ECONNRESET,
 * SP_EHTTP (any other libcurl failure; see curl_code), SP_EINVAL (bad URL or
 * request), SP_ECANCELED, SP_ESHUTDOWN, SP_EPERM (not in a task).  The
 * response must be freed with sp_http_response_free in every case.
 *
 * Nothing the caller passes can add a line to the request (header
 * injection, request smuggling): a url, method, user_agent, header line or
 * resolve entry holding a CR, an LF or any other control character (0x00 to
 * 0x1f, 0x7f; only HTAB is allowed, inside user_agent and header values), a
 * header whose name is not a token followed by ':' or ';', or a method that
 * is not a token, is refused with SP_EINVAL before anything is sent (no
 * lookup, no connection), and resp->error names the field and why, e.g.
 * "header 2 contains a line break", "user agent contains a control character
 * (0x1b)", "URL contains a line break", "resolve entry 1 contains a line
 * break", "method is not a token ..." (headers and resolve entries counted
 * from 1).  A redirect's Location is checked the same way ("redirect URL
 * ...").
 *
 * Local exhaustion is not a network failure: a hop whose socket cannot be
 * opened returns -EMFILE (the process's RLIMIT_NOFILE reached), -ENFILE (the
 * system's limit) or SP_ENOMEM (ENOMEM, ENOBUFS), with curl_code 7
 * (CURLE_COULDNT_CONNECT) and resp->error "could not open a socket: the
 * process ran out of file descriptors (EMFILE: ...)"; any other socket()
 * failure returns its negated errno the same way.  A host name whose lookup
 * cannot open its socket returns the same codes (see sp_resolve), with
 * "could not resolve HOST: the process ran out of file descriptors ...".
 * That hop sent nothing (earlier hops of a redirect chain did): the request
 * may be tried again once descriptors are free.
 */
int sp_http_fetch(const sp_http_request *req, sp_http_response *resp);

/* sp_http_fetch of a GET with the default settings. */
int sp_http_get(const char *url, sp_http_response *resp);

/* The value of the first header `name` (case-insensitive) of the response,
 * copied into buf (truncated to size); its full length, or -1 if absent. */
long sp_http_header(const sp_http_response *resp, const char *name, char *buf, size_t size);

void sp_http_response_free(sp_http_response *resp);

typedef struct sp_http_stats {
  uint64_t transfers;   /* hops started */
  uint64_t reused;      /* of which on a kept-alive connection */
  uint64_t failed;
  uint64_t handles;     /* easy handles created (the rest were recycled) */
} sp_http_stats;
void sp_http_get_stats(sp_runtime *rt, sp_http_stats *out);

#ifdef __cplusplus
}
#endif
#endif
