/* test_http_api.c - what sp_http_fetch sends (method, headers, body), the
 * redirect method rules, connect timeouts and timings, deflate bodies,
 * SIGPIPE, and the io/ examples, against the fault server's /echo and
 * friends (tests/io/fault_server.c) on loopback. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static fx_server fault, dns;

/* The fault server, and dnsmasq naming it fault.test (spindle pointed at it). */
static void start_all(void) {
  cr_assert_eq(fx_fault_start(&fault), 0, "fault server did not start");
  static const char *const recs[] = {"host-record=fault.test,127.0.0.1", "local-ttl=60", NULL};
  cr_assert_eq(fx_dnsmasq_start(&dns, recs), 0, "dnsmasq did not start");
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dns.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void stop_all(void) { fx_stop_all(); }

static char *furl(char *buf, size_t n, const char *path) { return fx_url(buf, n, &fault, path); }

/* ------------------------------------------------------- reading /echo */

typedef struct echo {
  char method[32];
  char target[256];
  const char *headers; /* "header Name: value\n" lines, inside the response body */
  size_t headers_len;
  size_t body_len;     /* what the server says it received */
  const char *body;    /* and those bytes */
  bool ok;
} echo;

/* Parses an /echo response body (format in fault_server.c). */
static echo parse_echo(const sp_http_response *r) {
  echo e;
  memset(&e, 0, sizeof e);
  if (!r->body) return e;
  const char *b = r->body, *end = r->body + r->body_len;
  if (sscanf(b, "method %31s\ntarget %255s\n", e.method, e.target) != 2) return e;
  const char *h = strstr(b, "\nheader ");
  const char *bl = NULL;
  for (const char *p = b; p < end && (p = memmem(p, (size_t)(end - p), "\nbody ", 6)) != NULL; p++) bl = p;
  if (!bl) return e;
  e.headers = h && h < bl ? h + 1 : bl;
  e.headers_len = (size_t)(bl + 1 - e.headers);
  char *nl;
  unsigned long long n = strtoull(bl + 6, &nl, 10);
  if (*nl != '\n' || (size_t)(end - (nl + 1)) != n) return e;
  e.body_len = (size_t)n;
  e.body = nl + 1;
  e.ok = true;
  return e;
}

/* The value of request header `name` as the server saw it, into buf; false
 * if it was not sent. */
static bool echo_header(const echo *e, const char *name, char *buf, size_t n) {
  size_t nl = strlen(name);
  for (const char *p = e->headers; p && p < e->headers + e->headers_len;) {
    const char *eol = memchr(p, '\n', (size_t)(e->headers + e->headers_len - p));
    if (!eol) break;
    if (strncmp(p, "header ", 7) == 0 && strncasecmp(p + 7, name, nl) == 0 && p[7 + nl] == ':') {
      const char *v = p + 8 + nl;
      while (*v == ' ') v++;
      snprintf(buf, n, "%.*s", (int)(eol - v), v);
      return true;
    }
    p = eol + 1;
  }
  return false;
}

static bool echo_has(const echo *e, const char *name) {
  char v[8];
  return echo_header(e, name, v, sizeof v);
}

/* --------------------------------------------------- method, headers, body */

static char bin_body[300000]; /* binary, NULs included */

static void *main_post(void *arg) {
  (void)arg;
  char url[256], v[256];
  for (size_t i = 0; i < sizeof bin_body; i++) bin_body[i] = (char)(i * 131u + (i >> 9));
  sp_http_request q;
  sp_http_response r;
  sp_http_request_init(&q);
  q.url = furl(url, sizeof url, "/echo?x=1");
  /* a body and no method: a POST of exactly those bytes */
  q.body = bin_body;
  q.body_len = sizeof bin_body;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  echo e = parse_echo(&r);
  CHECKF(e.ok, "unparsable echo (%zu bytes)", r.body_len);
  CHECKF(strcmp(e.method, "POST") == 0, "method %s", e.method);
  CHECKF(strcmp(e.target, "/echo?x=1") == 0, "target %s", e.target);
  CHECK_EQ(e.body_len, sizeof bin_body);
  CHECK(e.ok && e.body_len == sizeof bin_body && memcmp(e.body, bin_body, sizeof bin_body) == 0);
  CHECKF(echo_header(&e, "Content-Length", v, sizeof v) && strtoul(v, NULL, 10) == sizeof bin_body,
         "Content-Length '%s'", v);
  sp_http_response_free(&r);
  /* only body_len bytes go, however long the buffer */
  q.body = "abcdefgh";
  q.body_len = 3;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  e = parse_echo(&r);
  CHECKF(e.ok && e.body_len == 3 && memcmp(e.body, "abc", 3) == 0, "short body: %zu bytes", e.body_len);
  sp_http_response_free(&r);
  /* an empty body is still a POST, with Content-Length: 0 */
  q.body = "";
  q.body_len = 0;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  e = parse_echo(&r);
  CHECKF(e.ok && strcmp(e.method, "POST") == 0 && e.body_len == 0, "empty POST: %s, %zu bytes", e.method, e.body_len);
  CHECKF(echo_header(&e, "Content-Length", v, sizeof v) && strcmp(v, "0") == 0, "Content-Length '%s'", v);
  sp_http_response_free(&r);
  /* no body, no method: a GET without Content-Length */
  q.body = NULL;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  e = parse_echo(&r);
  CHECKF(e.ok && strcmp(e.method, "GET") == 0 && e.body_len == 0, "GET: %s, %zu bytes", e.method, e.body_len);
  CHECK(!echo_has(&e, "Content-Length"));
  sp_http_response_free(&r);
  return NULL;
}

/* A body makes a POST that delivers exactly body_len bytes (binary, large,
 * or empty) with a matching Content-Length; no body makes a GET. */
Test(http_api, post_sends_body_exactly, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_post, NULL);
}

static void *main_methods(void *arg) {
  (void)arg;
  char url[256];
  sp_http_request q;
  sp_http_response r;
  echo e;
  sp_http_request_init(&q);
  q.url = furl(url, sizeof url, "/echo");
  /* PUT and PATCH with a body */
  static const char *const with_body[] = {"PUT", "PATCH", "PROPFIND"};
  for (int i = 0; i < 3; i++) {
    q.method = with_body[i];
    q.body = "payload";
    q.body_len = 7;
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    e = parse_echo(&r);
    CHECKF(e.ok && strcmp(e.method, with_body[i]) == 0, "sent %s, server saw %s", with_body[i], e.method);
    CHECKF(e.ok && e.body_len == 7 && memcmp(e.body, "payload", 7) == 0, "%s body: %zu bytes", with_body[i],
           e.body_len);
    sp_http_response_free(&r);
  }
  /* DELETE and OPTIONS without one */
  static const char *const without[] = {"DELETE", "OPTIONS", "GET"};
  for (int i = 0; i < 3; i++) {
    q.method = without[i];
    q.body = NULL;
    q.body_len = 0;
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    e = parse_echo(&r);
    CHECKF(e.ok && strcmp(e.method, without[i]) == 0, "sent %s, server saw %s", without[i], e.method);
    CHECKF(e.ok && e.body_len == 0 && !echo_has(&e, "Content-Length"), "%s: %zu body bytes", without[i],
           e.body_len);
    sp_http_response_free(&r);
  }
  /* HEAD: status and headers, no body, and no wait for the body the
   * Content-Length announces */
  q.method = "HEAD";
  q.timeout_ns = SEC(10);
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECKF(sp_now_ns() - t0 < SEC(5), "HEAD took %.0f ms", (double)(sp_now_ns() - t0) / 1e6);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.body_len, 0);
  char v[64] = "";
  CHECKF(sp_http_header(&r, "X-Method", v, sizeof v) > 0 && strcmp(v, "HEAD") == 0, "X-Method '%s'", v);
  CHECKF(sp_http_header(&r, "Content-Length", v, sizeof v) > 0 && strtol(v, NULL, 10) > 0, "Content-Length '%s'", v);
  sp_http_response_free(&r);
  return NULL;
}

/* A custom method reaches the server as given, with the body if any; HEAD
 * returns status and headers without a body, at once. */
Test(http_api, custom_methods_and_head, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_methods, NULL);
}

static void *main_headers(void *arg) {
  (void)arg;
  char url[256], v[256];
  sp_http_request q;
  sp_http_response r;
  echo e;
  sp_http_request_init(&q);
  q.url = furl(url, sizeof url, "/echo");
  /* defaults: spindle's User-Agent, compressed bodies welcome */
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  e = parse_echo(&r);
  CHECKF(echo_header(&e, "User-Agent", v, sizeof v) && strcmp(v, "spindle/" SPINDLE_VERSION_STRING) == 0,
         "default User-Agent '%s'", v);
  CHECKF(echo_header(&e, "Accept-Encoding", v, sizeof v) && strstr(v, "gzip") && strstr(v, "deflate"),
         "Accept-Encoding '%s'", v);
  sp_http_response_free(&r);
  /* the caller's headers, in order, verbatim; a custom User-Agent; no
   * Accept-Encoding with no_compression */
  const char *const hdrs[] = {"X-One: 1", "X-Two: two words", "Accept: application/json", NULL};
  q.headers = hdrs;
  q.user_agent = "test-agent/9.9 (+http://example.test/)";
  q.no_compression = true;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  e = parse_echo(&r);
  CHECKF(echo_header(&e, "X-One", v, sizeof v) && strcmp(v, "1") == 0, "X-One '%s'", v);
  CHECKF(echo_header(&e, "X-Two", v, sizeof v) && strcmp(v, "two words") == 0, "X-Two '%s'", v);
  CHECKF(echo_header(&e, "Accept", v, sizeof v) && strcmp(v, "application/json") == 0,
         "Accept '%s' (the caller's replaces the default)", v);
  const char *one = e.headers ? strstr(e.headers, "header X-One:") : NULL;
  const char *two = e.headers ? strstr(e.headers, "header X-Two:") : NULL;
  CHECKF(one && two && one < two, "caller's headers out of order");
  CHECKF(echo_header(&e, "User-Agent", v, sizeof v) && strcmp(v, q.user_agent) == 0, "custom User-Agent '%s'", v);
  CHECK(!echo_has(&e, "Accept-Encoding"));
  sp_http_response_free(&r);
  return NULL;
}

/* The default User-Agent is spindle/VERSION; the caller's headers and
 * User-Agent arrive as given; Accept-Encoding follows no_compression. */
Test(http_api, request_headers_arrive, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_headers, NULL);
}

/* ----------------------------------------------- header injection refused */

/* Connections waiting on listener fd: accepted (and closed) here. */
static int connections_made(int fd) {
  int n = 0, c;
  while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
    close(c);
    n++;
  }
  return n;
}

static void *main_injection(void *arg) {
  (void)arg;
  /* A listener that never answers: a request that got through would be
   * sent, and wait there for its 2 s timeout. */
  uint16_t port = 0;
  int lfd = sp_listen_tcp("127.0.0.1", 0, 16, &port);
  CHECKF(lfd >= 0, "listen: %d (%s)", lfd, sp_strerror(lfd));
  if (lfd < 0) return NULL;
  char url[128], crlf_url[160], ctl_url[160], entry[96], crlf_entry[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
  snprintf(crlf_url, sizeof crlf_url, "http://127.0.0.1:%d/x HTTP/1.1\r\nX-Injected: 1\r\nX: ", port);
  snprintf(ctl_url, sizeof ctl_url, "http://127.0.0.1:%d/x\x1b", port);
  snprintf(entry, sizeof entry, "inj.test:%d:127.0.0.1", port);
  snprintf(crlf_entry, sizeof crlf_entry, "inj.test:%d:127.0.0.1\r\nX-Injected: 1", port);
  static const char *const h_crlf[] = {"X-Ok: 1", "X-Bad: 1\r\nX-Injected: 1", NULL};
  static const char *const h_lf[] = {"X-Bad: 1\nX-Injected: 1", NULL};
  static const char *const h_cr[] = {"X-Bad: 1\rX-Injected: 1", NULL};
  static const char *const h_ctl[] = {"X-Ok: 1", "X-Ok2: 2", "X-Bad: a\x01" "b", NULL};
  static const char *const h_del[] = {"X-Bad: a\x7f", NULL};
  static const char *const h_name_crlf[] = {"X-Bad\r\nX-Injected: 1", NULL};
  static const char *const h_name_space[] = {"X Bad: 1", NULL};
  static const char *const h_no_colon[] = {"X-Bad", NULL};
  static const char *const h_empty_name[] = {": 1", NULL};
  const char *const r_crlf[] = {entry, crlf_entry, NULL};
  struct {
    const char *url, *method, *ua;
    const char *const *headers, *const *resolve;
    const char *want; /* in the error */
  } cases[] = {
      {url, NULL, NULL, h_crlf, NULL, "header 2 contains a line break"},
      {url, NULL, NULL, h_lf, NULL, "header 1 contains a line break"},
      {url, NULL, NULL, h_cr, NULL, "header 1 contains a line break"},
      {url, NULL, NULL, h_ctl, NULL, "header 3 contains a control character (0x01)"},
      {url, NULL, NULL, h_del, NULL, "header 1 contains a control character (0x7f)"},
      {url, NULL, NULL, h_name_crlf, NULL, "header 1 contains a line break"},
      {url, NULL, NULL, h_name_space, NULL, "header 1 is not"},
      {url, NULL, NULL, h_no_colon, NULL, "header 1 is not"},
      {url, NULL, NULL, h_empty_name, NULL, "header 1 is not"},
      {url, NULL, "spindle\r\nX-Injected: 1", NULL, NULL, "user agent contains a line break"},
      {url, NULL, "spindle\x02", NULL, NULL, "user agent contains a control character (0x02)"},
      {crlf_url, NULL, NULL, NULL, NULL, "URL contains a line break"},
      {ctl_url, NULL, NULL, NULL, NULL, "URL contains a control character (0x1b)"},
      {url, "GET /y HTTP/1.1\r\nX-Injected: 1\r\nX:", NULL, NULL, NULL, "method contains a line break"},
      {url, "GE T", NULL, NULL, NULL, "method is not"},
      {url, NULL, NULL, NULL, r_crlf, "resolve entry 2 contains a line break"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sp_http_request q;
    sp_http_response r;
    sp_http_request_init(&q);
    q.url = cases[i].url;
    q.method = cases[i].method;
    q.user_agent = cases[i].ua;
    q.headers = cases[i].headers;
    q.resolve = cases[i].resolve;
    q.timeout_ns = SEC(2);
    int rc = sp_http_fetch(&q, &r);
    CHECKF(rc == SP_EINVAL && strstr(r.error, cases[i].want), "case %zu: rc %d (%s), error '%s', want SP_EINVAL and '%s'",
           i, rc, sp_strerror(rc), r.error, cases[i].want);
    int n = connections_made(lfd);
    CHECKF(n == 0, "case %zu ('%s'): %d connection(s) made, want none", i, cases[i].want, n);
    sp_http_response_free(&r);
  }
  close(lfd);
  /* what is allowed: a tab inside a value, "Name;" (an empty header), and
   * bytes past ASCII in a value */
  static const char *const ok_headers[] = {"X-Tab: a\tb", "X-Empty;", "X-Utf8: caf\xc3\xa9", NULL};
  sp_http_request q;
  sp_http_response r;
  char eurl[256], v[64];
  sp_http_request_init(&q);
  q.url = furl(eurl, sizeof eurl, "/echo");
  q.headers = ok_headers;
  q.user_agent = "spindle\ttest";
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  echo e = parse_echo(&r);
  CHECKF(echo_header(&e, "X-Tab", v, sizeof v) && strcmp(v, "a\tb") == 0, "X-Tab '%s'", v);
  CHECKF(echo_has(&e, "X-Empty"), "X-Empty not sent");
  CHECKF(echo_header(&e, "X-Utf8", v, sizeof v) && strcmp(v, "caf\xc3\xa9") == 0, "X-Utf8 '%s'", v);
  CHECKF(echo_header(&e, "User-Agent", v, sizeof v) && strcmp(v, "spindle\ttest") == 0, "User-Agent '%s'", v);
  CHECK(!echo_has(&e, "X-Injected"));
  sp_http_response_free(&r);
  return NULL;
}

/* A URL, method, user agent, header or resolve entry with a line break or
 * another control character is refused with SP_EINVAL, naming the field,
 * before any connection is made (issue 10, item 4: header injection). */
Test(http_api, control_characters_refused, .init = start_all, .fini = stop_all, .timeout = 120) {
  spt_run(2, main_injection, NULL);
}

/* -------------------------------------------------------------- IDN hosts */

static void *main_idn(void *arg) {
  (void)arg;
  char url[256], entry[128], want[128], v[256];
  snprintf(url, sizeof url, "http://b\xc3\xbc" "cher.test:%d/echo", fault.port); /* bücher.test */
  snprintf(entry, sizeof entry, "xn--bcher-kva.test:%d:127.0.0.1", fault.port);
  const char *const res[] = {entry, NULL};
  sp_http_request q;
  sp_http_response r;
  sp_http_request_init(&q);
  q.url = url;
  q.resolve = res; /* matched by the ASCII name: the Unicode one would miss */
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 200);
  echo e = parse_echo(&r);
  snprintf(want, sizeof want, "xn--bcher-kva.test:%d", fault.port);
  CHECKF(echo_header(&e, "Host", v, sizeof v) && strcmp(v, want) == 0, "Host '%s', want '%s'", v, want);
  sp_http_response_free(&r);
  /* a name libidn2 refuses (not UTF-8) is a bad URL, and says why */
  q.url = "http://a\xff.test/";
  q.resolve = NULL;
  CHECK_RC(sp_http_fetch(&q, &r), SP_EINVAL);
  CHECKF(strstr(r.error, "international domain name") != NULL, "error '%s'", r.error);
  sp_http_response_free(&r);
  return NULL;
}

/* An IDN host is resolved, matched against `resolve` entries and sent in
 * Host: as its ASCII form, in the "C" locale this test runs in (libcurl's
 * own conversion fails there: "A memory function failed"). */
Test(http_api, idn_host_as_ascii, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_idn, NULL);
}

/* --------------------------------------------------- redirect method rules */

/* Fetches /echo-redirect?code=CODE with method and body, following. */
static echo redirect_via(int code, const char *method, const char *body, sp_http_response *r) {
  char path[128], url[256];
  snprintf(path, sizeof path, "/echo-redirect?code=%d", code);
  const char *const hdrs[] = {"Content-Type: application/json", "X-Keep: kept", NULL};
  sp_http_request q;
  sp_http_request_init(&q);
  q.url = furl(url, sizeof url, path);
  q.method = method;
  q.body = body;
  q.body_len = body ? strlen(body) : 0;
  q.headers = hdrs;
  q.max_redirects = 3;
  CHECK_RC(sp_http_fetch(&q, r), 0);
  CHECK_EQ(r->redirects, 1);
  CHECK_EQ(r->status, 200);
  return parse_echo(r);
}

static void *main_redirect_methods(void *arg) {
  (void)arg;
  sp_http_response r;
  char v[64];
  static const char json[] = "{\"k\": 1}";
  /* 303 after POST, and 301/302 after POST: a GET without the body or the
   * body's headers; the caller's other headers stay */
  static const int to_get[] = {303, 302, 301};
  for (int i = 0; i < 3; i++) {
    echo e = redirect_via(to_get[i], NULL, json, &r);
    CHECKF(e.ok && strcmp(e.method, "GET") == 0, "POST + %d: %s", to_get[i], e.method);
    CHECKF(e.ok && e.body_len == 0, "POST + %d: %zu body bytes", to_get[i], e.body_len);
    CHECKF(!echo_has(&e, "Content-Length") && !echo_has(&e, "Content-Type"), "POST + %d: body headers sent",
           to_get[i]);
    CHECKF(echo_header(&e, "X-Keep", v, sizeof v) && strcmp(v, "kept") == 0, "POST + %d: X-Keep '%s'", to_get[i], v);
    sp_http_response_free(&r);
  }
  /* 307 and 308 keep method and body */
  static const int keep[] = {307, 308};
  for (int i = 0; i < 2; i++) {
    echo e = redirect_via(keep[i], NULL, json, &r);
    CHECKF(e.ok && strcmp(e.method, "POST") == 0, "POST + %d: %s", keep[i], e.method);
    CHECKF(e.ok && e.body_len == strlen(json) && memcmp(e.body, json, strlen(json)) == 0, "POST + %d: %zu bytes",
           keep[i], e.body_len);
    CHECKF(echo_header(&e, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0,
           "POST + %d: Content-Type '%s'", keep[i], v);
    sp_http_response_free(&r);
  }
  /* 302 after PUT: only POST turns into GET */
  echo e = redirect_via(302, "PUT", json, &r);
  CHECKF(e.ok && strcmp(e.method, "PUT") == 0 && e.body_len == strlen(json), "PUT + 302: %s, %zu bytes", e.method,
         e.body_len);
  sp_http_response_free(&r);
  /* 303 after DELETE: GET */
  e = redirect_via(303, "DELETE", NULL, &r);
  CHECKF(e.ok && strcmp(e.method, "GET") == 0, "DELETE + 303: %s", e.method);
  sp_http_response_free(&r);
  /* 303 after HEAD stays HEAD */
  {
    char url[256];
    sp_http_request q;
    sp_http_request_init(&q);
    q.url = furl(url, sizeof url, "/echo-redirect?code=303");
    q.method = "HEAD";
    q.max_redirects = 3;
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    CHECK_EQ(r.redirects, 1);
    CHECKF(sp_http_header(&r, "X-Method", v, sizeof v) > 0 && strcmp(v, "HEAD") == 0, "HEAD + 303: %s", v);
    CHECK_EQ(r.body_len, 0);
    sp_http_response_free(&r);
  }
  return NULL;
}

/* Followed redirects: 303 (and 301/302 after POST) continue as GET without
 * the body and its headers; 307/308 resend method and body; other methods
 * survive 301/302; HEAD stays HEAD. */
Test(http_api, redirect_method_rules, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_redirect_methods, NULL);
}

/* --------------------------------------------------- connect timeout, timings */

static int full_lfd = -1, full_port;
static int full_fillers[8];

/* A listener whose accept queue is full and never drained: the kernel drops
 * further SYNs, so a connect to it neither succeeds nor fails. */
static void start_full_listener(void) {
  start_all();
  full_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert(full_lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  cr_assert_eq(bind(full_lfd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(full_lfd, 0), 0);
  cr_assert_eq(getsockname(full_lfd, (struct sockaddr *)&a, &len), 0);
  full_port = ntohs(a.sin_port);
  /* backlog 0 holds one connection; the others wait in SYN_SENT */
  for (int i = 0; i < 8; i++) {
    full_fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert(full_fillers[i] >= 0);
    int rc = connect(full_fillers[i], (struct sockaddr *)&a, sizeof a);
    cr_assert(rc == 0 || errno == EINPROGRESS, "filler connect: %s", strerror(errno));
    usleep(20000);
  }
}

static void stop_full_listener(void) {
  for (int i = 0; i < 8; i++)
    if (full_fillers[i] > 0) close(full_fillers[i]);
  if (full_lfd >= 0) close(full_lfd);
  stop_all();
}

static void *main_connect_timeout(void *arg) {
  (void)arg;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", full_port);
  sp_http_request q;
  sp_http_response r;
  sp_http_request_init(&q);
  q.url = url;
  q.connect_timeout_ns = MS(400);
  q.timeout_ns = SEC(30); /* the connect timeout alone must end it */
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_http_fetch(&q, &r), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(380) && el < SEC(5), "connect timed out after %.0f ms", (double)el / 1e6);
  CHECKF(r.curl_code == CURLE_OPERATION_TIMEDOUT, "curl code %d: %s", r.curl_code, r.error);
  CHECK_EQ(r.status, 0);
  CHECK(r.error[0] != '\0');
  sp_http_response_free(&r);
  /* the default (10 s) is no shorter than a second */
  sp_http_request_init(&q);
  q.url = url;
  q.timeout_ns = SEC(30);
  sp_deadline d;
  sp_deadline_push(&d, SEC(1));
  t0 = sp_now_ns();
  CHECK_RC(sp_http_fetch(&q, &r), SP_ETIMEDOUT);
  CHECKF(sp_now_ns() - t0 >= MS(950), "default connect timeout ended after %.0f ms",
         (double)(sp_now_ns() - t0) / 1e6);
  sp_deadline_pop(&d);
  sp_http_response_free(&r);
  return NULL;
}

/* connect_timeout_ns ends a connect the peer never answers (SYNs dropped
 * by a full accept queue), well before the total timeout. */
Test(http_api, connect_timeout, .init = start_full_listener, .fini = stop_full_listener, .timeout = 60) {
  spt_run(2, main_connect_timeout, NULL);
}

static void *main_timings(void *arg) {
  (void)arg;
  char url[256];
  sp_http_response r;
  /* by name: a lookup, a connect, then the first byte 150 ms later */
  snprintf(url, sizeof url, "http://fault.test:%d/delay?ms=150", fault.port);
  CHECK_RC(sp_http_get(url, &r), 0);
  sp_http_timings t = r.timings;
  CHECKF(t.resolve_ns > 0 && t.resolve_ns < t.total_ns, "resolve %llu of total %llu ns",
         (unsigned long long)t.resolve_ns, (unsigned long long)t.total_ns);
  CHECKF(t.connect_ns > 0 && t.connect_ns + MS(100) <= t.ttfb_ns, "connect %.1f ms, ttfb %.1f ms",
         (double)t.connect_ns / 1e6, (double)t.ttfb_ns / 1e6);
  CHECKF(t.ttfb_ns >= MS(145) && t.ttfb_ns <= t.total_ns, "ttfb %.1f ms, total %.1f ms", (double)t.ttfb_ns / 1e6,
         (double)t.total_ns / 1e6);
  CHECK_EQ(t.tls_ns, 0);
  CHECK(!r.reused);
  sp_http_response_free(&r);
  /* an address needs no lookup */
  CHECK_RC(sp_http_get(furl(url, sizeof url, "/ok"), &r), 0);
  CHECK_EQ(r.timings.resolve_ns, 0);
  CHECK(r.timings.connect_ns > 0 && r.timings.connect_ns <= r.timings.total_ns);
  sp_http_response_free(&r);
  return NULL;
}

/* Timings: resolve (only for names), connect, first byte and total, in
 * that order and where they happened. */
Test(http_api, timings_are_set, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(1, main_timings, NULL);
}

/* ------------------------------------------------------------------ deflate */

static void *main_deflate(void *arg) {
  (void)arg;
  char url[256], enc[32];
  sp_http_response plain, r;
  CHECK_RC(sp_http_get(furl(url, sizeof url, "/deflate?kind=plain"), &plain), 0);
  CHECKF(plain.body_len > 4000, "plain text: %zu bytes", plain.body_len);
  CHECK_EQ(sp_http_header(&plain, "Content-Encoding", enc, sizeof enc), -1);
  static const char *const kinds[] = {"zlib", "raw"};
  for (int i = 0; i < 2; i++) {
    char path[64];
    snprintf(path, sizeof path, "/deflate?kind=%s", kinds[i]);
    CHECK_RC(sp_http_get(furl(url, sizeof url, path), &r), 0);
    CHECKF(sp_http_header(&r, "Content-Encoding", enc, sizeof enc) > 0 && strcmp(enc, "deflate") == 0,
           "%s: Content-Encoding '%s'", kinds[i], enc);
    CHECKF(r.body_len == plain.body_len && r.body && plain.body && memcmp(r.body, plain.body, plain.body_len) == 0,
           "%s deflate: %zu bytes decoded, expected the %zu of the text", kinds[i], r.body_len, plain.body_len);
    CHECKF(r.wire_bytes > 0 && r.wire_bytes != r.body_len, "%s: %llu bytes on the wire for %zu decoded", kinds[i],
           (unsigned long long)r.wire_bytes, r.body_len);
    sp_http_response_free(&r);
    /* cut short: an error, never half a body as a whole one */
    snprintf(path, sizeof path, "/truncated-deflate?kind=%s", kinds[i]);
    int rc = sp_http_get(furl(url, sizeof url, path), &r);
    CHECKF(rc == SP_EHTTP && strstr(r.error, "cut short"), "truncated %s deflate: rc %d (%s), %zu bytes", kinds[i],
           rc, r.error, r.body_len);
    sp_http_response_free(&r);
  }
  sp_http_response_free(&plain);
  return NULL;
}

/* Content-Encoding: deflate is decoded whether zlib-wrapped or raw, and a
 * deflate stream cut short is an error. */
Test(http_api, deflate_bodies, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_deflate, NULL);
}

/* The same deflate bodies sent chunked, their first bytes in a chunk of
 * their own (issue 10, item 6: a raw stream whose first byte came alone was
 * "malformed compressed body"). */
static void *main_deflate_split(void *arg) {
  (void)arg;
  char url[256];
  sp_http_response plain, r;
  CHECK_RC(sp_http_get(furl(url, sizeof url, "/deflate?kind=plain"), &plain), 0);
  static const char *const kinds[] = {"zlib", "raw"};
  static const int firsts[] = {1, 2, 3, 100};
  for (int i = 0; i < 2; i++) {
    for (size_t j = 0; j < sizeof firsts / sizeof firsts[0]; j++) {
      char path[64];
      snprintf(path, sizeof path, "/deflate?kind=%s&first=%d", kinds[i], firsts[j]);
      int rc = sp_http_get(furl(url, sizeof url, path), &r);
      CHECKF(rc == 0 && r.status == 200, "%s: rc %d (%s), status %ld", path, rc, r.error, r.status);
      CHECKF(r.body_len == plain.body_len && r.body && plain.body && memcmp(r.body, plain.body, plain.body_len) == 0,
             "%s: %zu bytes decoded, expected the %zu of the text", path, r.body_len, plain.body_len);
      sp_http_response_free(&r);
    }
  }
  sp_http_response_free(&plain);
  return NULL;
}

/* A deflate body decodes whatever its chunking: zlib-wrapped or raw, with
 * its first 1, 2, 3 or 100 bytes arriving alone. */
Test(http_api, deflate_split_bodies, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_deflate_split, NULL);
}

/* --------------------------------------------------- descriptor exhaustion */

/* The highest fd open in this process, or -1. */
static int highest_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int hi = -1;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) > hi) hi = atoi(e->d_name);
  closedir(d);
  return hi;
}

#define FILL_MAX 256
static int fillers[FILL_MAX], nfillers;

/* Lowers RLIMIT_NOFILE to a few past the fds open and fills every free fd
 * below it but `free_left`: the process then has that many fds to spare. */
static bool exhaust_fds(struct rlimit *saved, int free_left) {
  if (getrlimit(RLIMIT_NOFILE, saved) != 0) return false;
  struct rlimit low = *saved;
  low.rlim_cur = (rlim_t)highest_fd() + 8; /* the fds above, and holes below, are filled */
  if (setrlimit(RLIMIT_NOFILE, &low) != 0) return false;
  int fd;
  while (nfillers < FILL_MAX && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) fillers[nfillers++] = fd;
  if (nfillers == FILL_MAX || errno != EMFILE) return false;
  for (; free_left > 0 && nfillers > 0; free_left--) close(fillers[--nfillers]);
  return true;
}

static void restore_fds(const struct rlimit *saved) {
  while (nfillers > 0) close(fillers[--nfillers]);
  setrlimit(RLIMIT_NOFILE, saved);
}

static atomic_int emfile_ok, emfile_emfile, emfile_other;

static void *fetch_slow(void *arg) {
  (void)arg;
  char url[256];
  sp_http_response r;
  int rc = sp_http_get(furl(url, sizeof url, "/delay?ms=300"), &r);
  if (rc == 0 && r.status == 200)
    atomic_fetch_add(&emfile_ok, 1);
  else if (rc == -EMFILE && strstr(r.error, "file descriptors"))
    atomic_fetch_add(&emfile_emfile, 1);
  else {
    atomic_fetch_add(&emfile_other, 1);
    CHECKF(0, "a fetch with no fd to spare: rc %d (%s), curl_code %d, error '%s'; want 0 or -EMFILE", rc,
           sp_strerror(rc), r.curl_code, r.error);
  }
  sp_http_response_free(&r);
  return NULL;
}

static void *main_emfile(void *arg) {
  (void)arg;
  char url[256], nurl[256];
  sp_http_response r;
  sp_http_request q;
  static const char *const close_hdr[] = {"Connection: close", NULL};
  /* everything this runtime makes once (I/O context, multi handle, c-ares
   * channel) is made before the limit, and no connection is kept */
  sp_http_request_init(&q);
  q.url = furl(url, sizeof url, "/ok");
  q.headers = close_hdr;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  sp_http_response_free(&r);

  struct rlimit saved;
  bool exhausted = exhaust_fds(&saved, 1);
  CHECKF(exhausted, "could not exhaust the fds (%d fillers): %s", nfillers, strerror(errno));
  if (!exhausted) {
    restore_fds(&saved);
    return NULL;
  }
  /* one fd to spare: one transfer gets its socket, the others cannot */
  enum { N = 4 };
  sp_task *t[N];
  for (int i = 0; i < N; i++) t[i] = SPAWN(fetch_slow, NULL);
  for (int i = 0; i < N; i++) spt_join(t[i]);
  /* none to spare: a lookup cannot open its socket either */
  if (nfillers < FILL_MAX) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) fillers[nfillers++] = fd;
  }
  sp_addrlist *l = NULL;
  int dns_rc = sp_resolve("fault.test", 80, AF_INET, SEC(10), &l);
  snprintf(nurl, sizeof nurl, "http://fault.test:%d/ok", fault.port);
  int name_rc = sp_http_get(nurl, &r);
  char name_err[256];
  snprintf(name_err, sizeof name_err, "%s", r.error);
  sp_http_response_free(&r);
  restore_fds(&saved);

  CHECKF(atomic_load(&emfile_emfile) >= N - 2 && atomic_load(&emfile_other) == 0,
         "of %d fetches with one fd to spare: %d ok, %d -EMFILE, %d other", N, atomic_load(&emfile_ok),
         atomic_load(&emfile_emfile), atomic_load(&emfile_other));
  CHECKF(dns_rc == -EMFILE, "a lookup with no fd to spare: %d (%s), want -EMFILE", dns_rc, sp_strerror(dns_rc));
  if (!dns_rc) sp_addrlist_free(l);
  CHECKF(name_rc == -EMFILE, "a fetch by name with no fd to spare: %d (%s), '%s'; want -EMFILE", name_rc,
         sp_strerror(name_rc), name_err);
  /* with the limit back, both work again */
  CHECK_RC(sp_http_get(furl(url, sizeof url, "/ok"), &r), 0);
  sp_http_response_free(&r);
  CHECK_RC(sp_http_get(nurl, &r), 0);
  sp_http_response_free(&r);
  return NULL;
}

/* Out of file descriptors (RLIMIT_NOFILE reached), a transfer that cannot
 * open its socket, and a lookup that cannot, end with -EMFILE and say the
 * process ran out of file descriptors: not a connect failure (issue 10,
 * item 9: the crawler recorded such pages as dead servers).  With the limit
 * raised again, fetches work. */
Test(http_api, descriptor_exhaustion_is_emfile, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(1, main_emfile, NULL);
}

/* ------------------------------------------------------------------ SIGPIPE */

static void *main_sigpipe(void *arg) {
  (void)arg;
  enum { BIG = 16 << 20 };
  char *big = malloc(BIG);
  CHECK(big != NULL);
  if (!big) return NULL;
  memset(big, 'p', BIG);
  char url[256];
  const char *const no_expect[] = {"Expect:", NULL}; /* send the body at once, no 100-continue wait */
  sp_http_request q;
  sp_http_response r;
  for (int i = 0; i < 5; i++) {
    sp_http_request_init(&q);
    q.url = furl(url, sizeof url, "/close-after-headers");
    q.body = big;
    q.body_len = BIG;
    q.headers = no_expect;
    q.timeout_ns = SEC(20);
    int rc = sp_http_fetch(&q, &r);
    CHECKF(rc == -EPIPE || rc == -ECONNRESET || rc == SP_EHTTP, "POST to a closed peer: %d (%s) %s", rc,
           sp_strerror(rc), r.error);
    CHECK_EQ(r.status, 0);
    sp_http_response_free(&r);
  }
  free(big);
  /* and the process goes on: another transfer works */
  CHECK_RC(sp_http_get(furl(url, sizeof url, "/ok"), &r), 0);
  CHECK_EQ(r.status, 200);
  sp_http_response_free(&r);
  struct sigaction sa;
  CHECK(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
  return NULL;
}

/* A large POST to a server that closes after reading the headers: the
 * write fails, the fetch reports an error, and the process (which installs
 * no SIGPIPE handling of its own) is not killed: SIGPIPE is ignored. */
Test(http_api, sigpipe_never_kills, .init = start_all, .fini = stop_all, .timeout = 90) {
  struct sigaction sa;
  cr_assert_eq(sigaction(SIGPIPE, NULL, &sa), 0);
  cr_assert(sa.sa_handler == SIG_DFL, "SIGPIPE is not at its default before the runtime starts");
  spt_run(2, main_sigpipe, NULL);
}

/* ----------------------------------------------------------- the examples */

/* The line of out that ends with "  URL" (fetch's per-URL line), or NULL. */
static const char *line_for(const char *out, const char *url, char *buf, size_t n) {
  char pat[300];
  snprintf(pat, sizeof pat, "  %s\n", url);
  const char *hit = strstr(out, pat);
  if (!hit) return NULL;
  const char *start = hit;
  while (start > out && start[-1] != '\n') start--;
  snprintf(buf, n, "%.*s", (int)(hit + strlen(pat) - 1 - start), start);
  return buf;
}

/* fetch URL...: one line per URL with status, size and time, all fetched at
 * once, a summary, and exit 1 when one failed. */
Test(http_api, fetch_example, .init = start_all, .fini = stop_all, .timeout = 120) {
  char prog[512], u_ok[128], u_404[128], u_d1[128], u_d2[128], u_d3[128], line[512];
  spt_bin_path(prog, sizeof prog, "fetch");
  furl(u_ok, sizeof u_ok, "/ok");
  furl(u_404, sizeof u_404, "/status?code=404");
  furl(u_d1, sizeof u_d1, "/delay?ms=1500&n=1");
  furl(u_d2, sizeof u_d2, "/delay?ms=1500&n=2");
  furl(u_d3, sizeof u_d3, "/delay?ms=1500&n=3");
  spt_prog *r = calloc(1, sizeof *r);
  cr_assert(r);
  /* three 1.5 s responses in parallel, a 404 (a response, not a failure) */
  char *const argv1[] = {prog, "--timeout", "20", u_ok, u_404, u_d1, u_d2, u_d3, NULL};
  spt_run_prog(argv1, r, 60);
  cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "fetch exited 0x%x:\n%s", r->status, r->out);
  int status;
  size_t bytes;
  double ms;
  cr_assert(line_for(r->out, u_ok, line, sizeof line), "no line for %s:\n%s", u_ok, r->out);
  cr_assert(sscanf(line, "%d %zu bytes %lf ms", &status, &bytes, &ms) == 3 && status == 200 && bytes == 3 && ms >= 0,
            "line '%s'", line);
  cr_assert(line_for(r->out, u_404, line, sizeof line), "no line for %s:\n%s", u_404, r->out);
  cr_assert(sscanf(line, "%d %zu bytes %lf ms", &status, &bytes, &ms) == 3 && status == 404 && bytes == 11,
            "line '%s'", line);
  const char *slow[] = {u_d1, u_d2, u_d3};
  for (int i = 0; i < 3; i++) {
    cr_assert(line_for(r->out, slow[i], line, sizeof line), "no line for %s:\n%s", slow[i], r->out);
    cr_assert(sscanf(line, "%d %zu bytes %lf ms", &status, &bytes, &ms) == 3 && status == 200 && ms >= 1450,
              "line '%s'", line);
  }
  double total;
  int nurls, failed;
  const char *sum = strstr(r->out, " URLs in ");
  while (sum > r->out && sum[-1] != '\n') sum--;
  cr_assert(sum && sscanf(sum, "%d URLs in %lf s, %d failed", &nurls, &total, &failed) == 3, "summary:\n%s", r->out);
  cr_assert(nurls == 5 && failed == 0, "summary:\n%s", r->out);
  /* concurrent: well under the 4.5 s the slow ones take one after another */
  cr_assert(total >= 1.45 && total < 4.0, "5 URLs took %.2f s:\n%s", total, r->out);
  /* a URL that fails: ERR with the reason, exit status 1 */
  char u_refused[] = "http://127.0.0.1:1/";
  char *const argv2[] = {prog, u_ok, u_refused, NULL};
  spt_run_prog(argv2, r, 60);
  cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1, "fetch exited 0x%x:\n%s", r->status, r->out);
  cr_assert(line_for(r->out, u_ok, line, sizeof line) && strncmp(line, "200 ", 4) == 0, "output:\n%s", r->out);
  cr_assert(strstr(r->out, "ERR ") && strstr(r->out, "127.0.0.1:1/: "), "no ERR line:\n%s", r->out);
  cr_assert(strstr(r->out, "2 URLs in ") && strstr(r->out, ", 1 failed"), "summary:\n%s", r->out);
  /* bad usage: exit 2 */
  char *const argv3[] = {prog, NULL};
  spt_run_prog(argv3, r, 30);
  cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 2, "fetch without URLs exited 0x%x", r->status);
  free(r);
}

static pid_t echo_pid;
static void stop_echo(void) {
  if (echo_pid > 0) {
    kill(echo_pid, SIGTERM);
    waitpid(echo_pid, NULL, 0);
    echo_pid = 0;
  }
}

#define ECHO_CLIENTS 8
#define ECHO_BYTES (256 * 1024)
static int echo_port;
static atomic_int echo_ok;

/* One client: writes ECHO_BYTES of its own pattern while reading them back. */
static void *echo_client(void *arg) {
  int id = (int)(intptr_t)arg;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)echo_port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    fprintf(stderr, "echo client %d: connect: %s\n", id, strerror(errno));
    if (fd >= 0) close(fd);
    return NULL;
  }
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  char *out = malloc(ECHO_BYTES), *in = malloc(ECHO_BYTES);
  size_t sent = 0, got = 0;
  for (size_t i = 0; out && i < ECHO_BYTES; i++) out[i] = (char)(i * 7 + (size_t)id * 13 + (i >> 11));
  bool fail = !out || !in;
  while (!fail && got < ECHO_BYTES) {
    if (sent < ECHO_BYTES) {
      size_t n = ECHO_BYTES - sent < 16384 ? ECHO_BYTES - sent : 16384;
      ssize_t k = send(fd, out + sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) sent += (size_t)k;
      else if (k < 0 && errno != EAGAIN && errno != EINTR) fail = true;
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, sent < ECHO_BYTES ? 1 : 10000) < 0) continue;
    if (p.revents) {
      ssize_t k = recv(fd, in + got, ECHO_BYTES - got, MSG_DONTWAIT);
      if (k > 0) got += (size_t)k;
      else if (k == 0 || (errno != EAGAIN && errno != EINTR)) fail = true;
    } else if (sent == ECHO_BYTES) {
      fail = true; /* 10 s without a byte back */
    }
  }
  if (!fail && memcmp(in, out, ECHO_BYTES) == 0) atomic_fetch_add(&echo_ok, 1);
  else fprintf(stderr, "echo client %d: sent %zu, got %zu back%s\n", id, sent, got, fail ? " (failed)" : ", differ");
  free(in);
  free(out);
  close(fd);
  return NULL;
}

/* echo-server --port 0: says where it listens, and sends every byte of
 * several concurrent clients back to each, in order. */
Test(http_api, echo_server_example, .fini = stop_echo, .timeout = 120) {
  char prog[512];
  spt_bin_path(prog, sizeof prog, "echo-server");
  int p[2];
  cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
  echo_pid = fork();
  cr_assert_neq(echo_pid, -1);
  if (echo_pid == 0) {
    dup2(p[1], STDOUT_FILENO);
    execl(prog, prog, "--port", "0", (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  char line[256] = "";
  size_t len = 0;
  uint64_t limit = mono_ns() + SEC(20);
  while (!memchr(line, '\n', len) && mono_ns() < limit && len < sizeof line - 1) {
    struct pollfd pfd = {p[0], POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    ssize_t k = read(p[0], line + len, sizeof line - 1 - len);
    if (k <= 0) break;
    len += (size_t)k;
  }
  line[len] = '\0';
  close(p[0]);
  unsigned port = 0;
  cr_assert(sscanf(line, "listening on 127.0.0.1:%u", &port) == 1 && port > 0 && port < 65536,
            "echo-server said '%s'", line);
  echo_port = (int)port;
  pthread_t t[ECHO_CLIENTS];
  for (int i = 0; i < ECHO_CLIENTS; i++) cr_assert_eq(pthread_create(&t[i], NULL, echo_client, IPTR(i)), 0);
  for (int i = 0; i < ECHO_CLIENTS; i++) pthread_join(t[i], NULL);
  cr_assert_eq(atomic_load(&echo_ok), ECHO_CLIENTS, "%d of %d clients got their bytes back", atomic_load(&echo_ok),
               ECHO_CLIENTS);
  int st;
  cr_assert_eq(waitpid(echo_pid, &st, WNOHANG), 0, "echo-server exited (0x%x)", st);
}

/* ------------------------------------------------- failure categories */

/* A listener that answers every connection with a line of plain text and
 * closes it: what a TLS client meets when it speaks to a server that does
 * not speak TLS. */
static int plain_fd;
static uint16_t plain_port;

static void *plain_server(void *arg) {
  (void)arg;
  for (;;) {
    int c = sp_accept(plain_fd, NULL, NULL, UINT64_MAX);
    if (c < 0) break; /* cancelled */
    static const char line[] = "this is not TLS\r\n";
    sp_write(c, line, sizeof line - 1, SEC(5));
    close(c);
  }
  return NULL;
}

/* Every way a fetch fails has its kind in resp->failure, whatever code
 * came with it: a caller sorts failures without libcurl's numbers. */
static void *main_failures(void *arg) {
  (void)arg;
  char url[256], https[128];
  static const struct {
    const char *path;
    sp_http_failure want;
    uint64_t timeout_ns;
    size_t max_body;
  } cases[] = {
      {"/ok", SP_HTTP_OK, 0, 0},
      {"/never", SP_HTTP_FAIL_TIMEOUT, 300000000ull, 0},
      {"/reset-mid-body", SP_HTTP_FAIL_RESET, 0, 0},
      {"/cut-headers?kind=status", SP_HTTP_FAIL_PROTOCOL, 0, 0},
      {"/truncated-gzip", SP_HTTP_FAIL_PROTOCOL, 0, 0},
      {"/endless", SP_HTTP_FAIL_TOO_BIG, 0, 1000},
      {"/redirect-loop", SP_HTTP_FAIL_REDIRECTS, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sp_http_request q;
    sp_http_request_init(&q);
    q.url = furl(url, sizeof url, cases[i].path);
    if (cases[i].timeout_ns) q.timeout_ns = cases[i].timeout_ns;
    if (cases[i].max_body) q.max_body = cases[i].max_body;
    q.max_redirects = 3;
    sp_http_response r;
    int rc = sp_http_fetch(&q, &r);
    CHECKF(r.failure == cases[i].want, "%s: failure %s (rc %d, curl %d: %s), want %s", cases[i].path,
           sp_http_failure_name(r.failure), rc, r.curl_code, r.error, sp_http_failure_name(cases[i].want));
    sp_http_response_free(&r);
  }
  sp_http_response r;
  sp_http_get("http://127.0.0.1:1/", &r);
  CHECKF(r.failure == SP_HTTP_FAIL_CONNECT, "refused: %s (%s)", sp_http_failure_name(r.failure), r.error);
  sp_http_response_free(&r);
  sp_http_get("http://nx.fault.test/", &r);
  CHECKF(r.failure == SP_HTTP_FAIL_DNS, "NXDOMAIN: %s (%s)", sp_http_failure_name(r.failure), r.error);
  sp_http_response_free(&r);
  /* TLS to a server that does not speak it: the handshake fails. */
  plain_fd = sp_listen_tcp("127.0.0.1", 0, 16, &plain_port);
  CHECKF(plain_fd >= 0, "listen");
  sp_task *srv;
  CHECKF(sp_spawn(&srv, plain_server, NULL) == 0, "spawn");
  snprintf(https, sizeof https, "https://127.0.0.1:%u/ok", plain_port);
  sp_http_get(https, &r);
  sp_cancel(srv);
  sp_join(srv, NULL);
  close(plain_fd);
  CHECKF(r.failure == SP_HTTP_FAIL_TLS, "TLS: %s (rc %d, curl %d: %s)", sp_http_failure_name(r.failure), r.err,
         r.curl_code, r.error);
  sp_http_response_free(&r);
  sp_http_get("http://a.test/\r\nX: y", &r);
  CHECKF(r.failure == SP_HTTP_FAIL_REQUEST, "CR LF in the URL: %s", sp_http_failure_name(r.failure));
  CHECKF(strcmp(sp_http_failure_name(r.failure), "request") == 0, "name %s", sp_http_failure_name(r.failure));
  sp_http_response_free(&r);
  return NULL;
}

Test(http_api, failure_kinds, .init = start_all, .fini = stop_all, .timeout = 60) { spt_run(2, main_failures, NULL); }
