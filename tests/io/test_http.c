/* test_http.c - sp_http_fetch against real nginx, dnsmasq and the fault
 * server on loopback. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

static fx_server web, dns, fault;
static char docroot[600];
static char big_text[200000]; /* compressible, 200 KB */

static void make_site(void) {
  const char *tmp = fx_tmpdir();
  cr_assert(tmp);
  snprintf(docroot, sizeof docroot, "%s/site", tmp);
  char path[700];
  snprintf(path, sizeof path, "%s/hello.txt", docroot);
  cr_assert_eq(fx_write_file(path, "hello, spindle\n", 15), 0);
  for (size_t i = 0; i < sizeof big_text; i++) big_text[i] = "spindle crawls the web\n"[i % 23];
  snprintf(path, sizeof path, "%s/big.txt", docroot);
  cr_assert_eq(fx_write_file(path, big_text, sizeof big_text), 0);
  for (int i = 0; i < 100; i++) {
    char body[64];
    int n = snprintf(body, sizeof body, "page %d\n", i);
    snprintf(path, sizeof path, "%s/p/%d.txt", docroot, i);
    cr_assert_eq(fx_write_file(path, body, (size_t)n), 0);
  }
}

/* nginx serving the site, with redirects; dnsmasq naming web.test and
 * other.test; spindle pointed at that dnsmasq. */
static void start_all(void) {
  make_site();
  const char *extra =
      "location = /r1 { return 302 /r2; }\n"
      "location = /r2 { return 301 http://other.test:$server_port/hello.txt; }\n"
      "location = /see-other { return 303 /hello.txt; }\n"
      "add_header X-Seen-Auth $http_authorization always;\n";
  cr_assert_eq(fx_nginx_start(&web, docroot, extra), 0, "nginx did not start");
  static const char *const recs[] = {"host-record=web.test,127.0.0.1", "host-record=other.test,127.0.0.1",
                                     "local-ttl=60", NULL};
  cr_assert_eq(fx_dnsmasq_start(&dns, recs), 0, "dnsmasq did not start");
  cr_assert_eq(fx_fault_start(&fault), 0, "fault server did not start");
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dns.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void stop_all(void) { fx_stop_all(); }

static char *web_url(char *buf, size_t n, const char *host, const char *path) {
  snprintf(buf, n, "http://%s:%d%s", host, web.port, path);
  return buf;
}

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* --------------------------------------------------------------- basics */

static void *main_basic(void *arg) {
  (void)arg;
  char url[256];
  sp_http_response r;
  CHECK_RC(sp_http_get(web_url(url, sizeof url, "web.test", "/hello.txt"), &r), 0);
  CHECK_EQ(r.status, 200);
  CHECKF(r.body && strcmp(r.body, "hello, spindle\n") == 0, "body '%s'", r.body ? r.body : "(null)");
  CHECK_EQ(r.body_len, 15);
  CHECKF(r.content_type && strncmp(r.content_type, "text/plain", 10) == 0, "type %s", r.content_type);
  CHECKF(strcmp(r.remote_ip, "127.0.0.1") == 0, "remote ip %s", r.remote_ip);
  CHECK_EQ(r.remote_port, web.port);
  CHECKF(r.url && strstr(r.url, "web.test"), "url %s", r.url);
  char v[64] = "";
  CHECKF(sp_http_header(&r, "Content-Type", v, sizeof v) >= 10 && strncmp(v, "text/plain", 10) == 0,
         "content-type header '%s'", v);
  CHECK_EQ(sp_http_header(&r, "x-missing", v, sizeof v), -1);
  CHECK(r.timings.total_ns > 0 && r.timings.ttfb_ns > 0);
  CHECK(r.request_headers == NULL); /* only kept when asked */
  sp_http_response_free(&r);
  {
    sp_http_request q;
    sp_http_request_init(&q);
    q.url = url;
    q.capture_request = true;
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    CHECKF(r.request_headers && strncmp(r.request_headers, "GET /hello.txt HTTP/1.1\r\n", 25) == 0 &&
               strstr(r.request_headers, "Host: web.test:") && strstr(r.request_headers, "\r\n\r\n"),
           "request headers '%s'", r.request_headers ? r.request_headers : "(null)");
  }
  CHECK_EQ(r.error[0], '\0');
  sp_http_response_free(&r);
  /* a 404 is a response, not an error */
  CHECK_RC(sp_http_get(web_url(url, sizeof url, "web.test", "/nope"), &r), 0);
  CHECK_EQ(r.status, 404);
  sp_http_response_free(&r);
  /* a caller's address for a name the resolver does not know, on the
   * multi handle of a chosen worker (5 % 2 workers = worker 1) */
  {
    char entry[128], u2[256];
    snprintf(entry, sizeof entry, "nowhere.test:%d:127.0.0.1", web.port);
    const char *const res[] = {entry, NULL};
    sp_http_request q;
    sp_http_request_init(&q);
    q.url = web_url(u2, sizeof u2, "nowhere.test", "/hello.txt");
    q.resolve = res;
    q.worker = 5;
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    CHECK_EQ(r.status, 200);
    sp_http_response_free(&r);
    q.resolve = NULL;
    CHECK_RC(sp_http_fetch(&q, &r), SP_ENOTFOUND);
    sp_http_response_free(&r);
  }
  /* a name nobody knows */
  CHECK_RC(sp_http_get("http://missing.test/", &r), SP_ENOTFOUND);
  CHECKF(strstr(r.error, "missing.test"), "error '%s'", r.error);
  sp_http_response_free(&r);
  /* bad URLs */
  CHECK_RC(sp_http_get("ftp://web.test/", &r), SP_EINVAL);
  sp_http_response_free(&r);
  CHECK_RC(sp_http_get("http://", &r), SP_EINVAL);
  sp_http_response_free(&r);
  /* nothing listens there */
  CHECK_RC(sp_http_get("http://127.0.0.1:1/", &r), -ECONNREFUSED);
  sp_http_response_free(&r);
  return NULL;
}

/* GET through spindle's resolver: status, body, headers, peer, errors. */
Test(http, get_basics, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_basic, NULL);
}

/* --------------------------------------------- many requests, keep-alive */

static int nreq_total, nreq_conc;
static atomic_int nreq_next, nreq_ok;
static void *req_worker(void *arg) {
  (void)arg;
  char url[256], want[64];
  for (;;) {
    int i = atomic_fetch_add(&nreq_next, 1);
    if (i >= nreq_total) break;
    int page = i % 100;
    char path[32];
    snprintf(path, sizeof path, "/p/%d.txt", page);
    sp_http_response r;
    int rc = sp_http_get(web_url(url, sizeof url, "web.test", path), &r);
    snprintf(want, sizeof want, "page %d\n", page);
    CHECKF(rc == 0 && r.status == 200 && r.body && strcmp(r.body, want) == 0, "request %d: rc %d (%s) status %ld",
           i, rc, r.error, r.status);
    if (rc == 0 && r.status == 200) atomic_fetch_add(&nreq_ok, 1);
    sp_http_response_free(&r);
  }
  return NULL;
}

static atomic_int thread_max, sampling;
static int threads_now(void) { return count_dir("/proc/self/task") - 2; }
static void *thread_sampler(void *arg) {
  (void)arg;
  while (atomic_load(&sampling)) {
    int n = threads_now();
    if (n > atomic_load(&thread_max)) atomic_store(&thread_max, n);
    sp_sleep(US(500));
  }
  return NULL;
}

static void *main_many(void *arg) {
  (void)arg;
  /* Warm up one transfer per worker so the I/O drivers exist, then count
   * the threads: no request may add one (libcurl's resolver would). */
  sp_http_response r;
  char url[256];
  CHECK_RC(sp_http_get(web_url(url, sizeof url, "web.test", "/hello.txt"), &r), 0);
  sp_http_response_free(&r);
  int base = threads_now();
  atomic_store(&thread_max, base);
  atomic_store(&sampling, 1);
  sp_task *sampler = SPAWN(thread_sampler, NULL);
  sp_task **t = calloc((size_t)nreq_conc, sizeof *t);
  for (int i = 0; i < nreq_conc; i++) t[i] = SPAWN(req_worker, NULL);
  for (int i = 0; i < nreq_conc; i++) spt_join(t[i]);
  free(t);
  atomic_store(&sampling, 0);
  spt_join(sampler);
  CHECK_EQ(atomic_load(&nreq_ok), nreq_total);
  CHECKF(atomic_load(&thread_max) == base, "threads rose from %d to %d during the requests", base,
         atomic_load(&thread_max));
  sp_http_stats st;
  sp_http_get_stats(sp_runtime_current(), &st);
  /* A new connection only when every kept-alive one of that worker's multi
   * handle is busy: at most one per concurrent task per worker. */
  CHECKF(st.transfers - st.reused <= 2 * (uint64_t)nreq_conc + 2,
         "%llu of %llu transfers opened a new connection (200 tasks, 2 workers)",
         (unsigned long long)(st.transfers - st.reused), (unsigned long long)st.transfers);
  /* Handles are recycled per worker: at most every task's on each. */
  CHECKF(st.handles <= 2 * (uint64_t)nreq_conc + 4, "%llu easy handles made for %d concurrent requests",
         (unsigned long long)st.handles, nreq_conc);
  CHECK_EQ(st.failed, 0);
  return NULL;
}

/* 10,000 requests (2,000 under sanitizers) from 200 concurrent tasks, every
 * response checked; connections are kept alive and reused; libcurl starts
 * no thread; the fds come back to their level once the runtime is gone. */
Test(http, many_concurrent_requests, .init = start_all, .fini = stop_all, .timeout = 300) {
  nreq_total = sanitized() ? 2000 : 10000;
  nreq_conc = 200;
  int fds0 = count_dir("/proc/self/fd");
  spt_run(2, main_many, NULL);
  int fds1 = count_dir("/proc/self/fd");
  cr_assert_eq(fds1, fds0, "fds before %d, after %d", fds0, fds1);
}

/* ------------------------------------------------------------ redirects */

static void *main_redirects(void *arg) {
  (void)arg;
  char url[256];
  sp_http_request q;
  sp_http_response r;
  sp_http_request_init(&q);
  q.url = web_url(url, sizeof url, "web.test", "/r1");
  /* not followed: the 302 comes back with its target */
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 302);
  CHECKF(r.redirect_url && strstr(r.redirect_url, "/r2"), "redirect_url %s", r.redirect_url);
  CHECK_EQ(r.redirects, 0);
  sp_http_response_free(&r);
  /* followed, across hosts, each resolved by spindle */
  q.max_redirects = 5;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.redirects, 2);
  CHECKF(r.url && strstr(r.url, "other.test") && strstr(r.url, "/hello.txt"), "final url %s", r.url);
  CHECKF(r.body && strcmp(r.body, "hello, spindle\n") == 0, "body %s", r.body);
  sp_http_response_free(&r);
  /* too few allowed */
  q.max_redirects = 1;
  CHECK_RC(sp_http_fetch(&q, &r), SP_EREDIRECTS);
  sp_http_response_free(&r);
  /* 303 after a POST continues as GET */
  q.url = web_url(url, sizeof url, "web.test", "/see-other");
  q.body = "x=1";
  q.body_len = 3;
  q.max_redirects = 3;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 200);
  sp_http_response_free(&r);
  /* credentials go along within the origin, never to another one */
  {
    const char *const auth[] = {"Authorization: Bearer s3cret", NULL};
    char seen[64] = "";
    sp_http_request_init(&q);
    q.headers = auth;
    q.max_redirects = 5;
    q.url = web_url(url, sizeof url, "web.test", "/see-other"); /* 303 to /hello.txt, same origin */
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    CHECKF(sp_http_header(&r, "X-Seen-Auth", seen, sizeof seen) > 0 && strcmp(seen, "Bearer s3cret") == 0,
           "same origin: the server saw '%s'", seen);
    sp_http_response_free(&r);
    q.url = web_url(url, sizeof url, "web.test", "/r1"); /* ends on other.test */
    CHECK_RC(sp_http_fetch(&q, &r), 0);
    CHECK_EQ(r.status, 200);
    CHECKF(sp_http_header(&r, "X-Seen-Auth", seen, sizeof seen) < 0, "other origin: the server saw '%s'", seen);
    sp_http_response_free(&r);
  }
  /* a loop ends at the limit */
  sp_http_request_init(&q);
  char furl[256];
  q.url = fx_url(furl, sizeof furl, &fault, "/redirect-loop");
  q.max_redirects = 10;
  CHECK_RC(sp_http_fetch(&q, &r), SP_EREDIRECTS);
  CHECK_EQ(r.redirects, 10);
  sp_http_response_free(&r);
  return NULL;
}

/* Redirects: returned, or followed by spindle (bounded), method rules. */
Test(http, redirects, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_redirects, NULL);
}

/* ------------------------------------------------- compression and limits */

static size_t streamed;
static int stream_stop_at;
static int on_chunk(void *user, const char *data, size_t len) {
  (void)user;
  (void)data;
  streamed += len;
  return stream_stop_at && streamed >= (size_t)stream_stop_at;
}

static void *main_bodies(void *arg) {
  (void)arg;
  char url[256], furl[256];
  sp_http_request q;
  sp_http_response r;
  /* gzip: decoded body equals the file, fewer bytes on the wire */
  sp_http_request_init(&q);
  q.url = web_url(url, sizeof url, "web.test", "/big.txt");
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.body_len, sizeof big_text);
  CHECK(r.body && memcmp(r.body, big_text, sizeof big_text) == 0);
  char enc[32] = "";
  sp_http_header(&r, "content-encoding", enc, sizeof enc);
  CHECKF(strcmp(enc, "gzip") == 0, "content-encoding '%s'", enc);
  CHECKF(r.wire_bytes < r.body_len / 10, "wire %llu bytes for %zu decoded", (unsigned long long)r.wire_bytes,
         r.body_len);
  sp_http_response_free(&r);
  /* without compression */
  q.no_compression = true;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.wire_bytes, sizeof big_text);
  sp_http_response_free(&r);
  /* max_body counts decoded bytes */
  sp_http_request_init(&q);
  q.url = url;
  q.max_body = 1000;
  CHECK_RC(sp_http_fetch(&q, &r), SP_ETOOBIG);
  CHECK_EQ(r.status, 200);
  sp_http_response_free(&r);
  /* a compression bomb stops at the limit */
  q.url = fx_url(furl, sizeof furl, &fault, "/gzip-bomb?mib=200");
  q.max_body = 1 << 20;
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_http_fetch(&q, &r), SP_ETOOBIG);
  CHECKF(sp_now_ns() - t0 < SEC(10), "bomb took %.0f ms", (double)(sp_now_ns() - t0) / 1e6);
  sp_http_response_free(&r);
  /* streaming: every byte reaches the callback, none is stored */
  sp_http_request_init(&q);
  q.url = url;
  q.on_body = on_chunk;
  streamed = 0;
  stream_stop_at = 0;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(streamed, sizeof big_text);
  CHECK(r.body == NULL);
  CHECK_EQ(r.body_len, sizeof big_text);
  sp_http_response_free(&r);
  /* ... and the callback can stop an endless body */
  q.url = fx_url(furl, sizeof furl, &fault, "/endless");
  q.max_body = 0;
  streamed = 0;
  stream_stop_at = 100000;
  CHECK_RC(sp_http_fetch(&q, &r), SP_EABORTED);
  CHECKF(streamed >= 100000 && streamed < 100000 + (1 << 20), "streamed %zu", streamed);
  sp_http_response_free(&r);
  return NULL;
}

/* gzip decoding, max_body on decoded bytes, compression bombs, streaming. */
Test(http, bodies_and_limits, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_bodies, NULL);
}

/* --------------------------------------------------------------- faults */

static void *main_faults(void *arg) {
  (void)arg;
  char furl[256];
  sp_http_request q;
  sp_http_response r;
  sp_http_request_init(&q);
  /* a server that never answers */
  q.url = fx_url(furl, sizeof furl, &fault, "/never");
  q.timeout_ns = MS(500);
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_http_fetch(&q, &r), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(450) && el < SEC(5), "timed out after %.0f ms", (double)el / 1e6);
  sp_http_response_free(&r);
  /* a slow trickle: the low-speed limit ends it */
  sp_http_request_init(&q);
  q.url = fx_url(furl, sizeof furl, &fault, "/trickle?bytes=100000&delay_ms=50");
  q.low_speed_bytes = 1000;
  q.low_speed_time_ns = SEC(1);
  t0 = sp_now_ns();
  CHECK_RC(sp_http_fetch(&q, &r), SP_ETIMEDOUT);
  CHECKF(sp_now_ns() - t0 < SEC(10), "trickle took %.0f ms", (double)(sp_now_ns() - t0) / 1e6);
  sp_http_response_free(&r);
  /* connection reset mid-body: an error, never a short success */
  sp_http_request_init(&q);
  q.url = fx_url(furl, sizeof furl, &fault, "/reset-mid-body");
  int rc = sp_http_fetch(&q, &r);
  CHECKF(rc == -ECONNRESET || rc == SP_EHTTP, "reset mid-body: %d (%s) %s", rc, sp_strerror(rc), r.error);
  sp_http_response_free(&r);
  /* headers cut short, an empty reply: errors */
  q.url = fx_url(furl, sizeof furl, &fault, "/cut-headers");
  rc = sp_http_fetch(&q, &r);
  CHECKF(rc != 0, "cut headers: rc %d status %ld", rc, r.status);
  sp_http_response_free(&r);
  q.url = fx_url(furl, sizeof furl, &fault, "/empty-reply");
  rc = sp_http_fetch(&q, &r);
  CHECKF(rc == SP_EHTTP, "empty reply: rc %d (%s)", rc, r.error);
  sp_http_response_free(&r);
  /* a gzip body cut short: libcurl alone reports success with half a body */
  q.url = fx_url(furl, sizeof furl, &fault, "/truncated-gzip");
  rc = sp_http_fetch(&q, &r);
  CHECKF(rc == SP_EHTTP && strstr(r.error, "cut short"), "truncated gzip: rc %d (%s), %zu bytes", rc, r.error,
         r.body_len);
  sp_http_response_free(&r);
  /* two gzip members: both are the body */
  q.url = fx_url(furl, sizeof furl, &fault, "/gzip-members");
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECKF(r.body && strcmp(r.body, "hello, members\n") == 0, "gzip members: '%s'", r.body ? r.body : "(null)");
  sp_http_response_free(&r);
  /* not gzip at all */
  q.url = fx_url(furl, sizeof furl, &fault, "/bad-gzip");
  rc = sp_http_fetch(&q, &r);
  CHECKF(rc == SP_EHTTP, "bad gzip: rc %d (%s)", rc, r.error);
  sp_http_response_free(&r);
  /* the server still works for a normal request */
  q.url = fx_url(furl, sizeof furl, &fault, "/ok");
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 200);
  sp_http_response_free(&r);
  return NULL;
}

/* Never-answering, trickling, resetting and truncating servers end in
 * bounded time with an error. */
Test(http, faults_end_in_errors, .init = start_all, .fini = stop_all, .timeout = 90) {
  spt_run(2, main_faults, NULL);
}

/* ----------------------------------------------------- cancel, deadline */

static void *fetch_never(void *arg) {
  sp_http_response r;
  int rc = sp_http_get((const char *)arg, &r);
  sp_http_response_free(&r);
  return (void *)(intptr_t)rc;
}

static void *main_cancel(void *arg) {
  (void)arg;
  static char furl[256];
  fx_url(furl, sizeof furl, &fault, "/never");
  sp_task *t = SPAWN(fetch_never, furl);
  CHECK_RC(sp_sleep(MS(200)), 0);
  sp_cancel(t);
  CHECK_EQ((intptr_t)spt_join(t), SP_ECANCELED);
  /* a deadline scope ends it as a timeout */
  sp_deadline d;
  sp_deadline_push(&d, MS(300));
  sp_http_response r;
  CHECK_RC(sp_http_get(furl, &r), SP_ETIMEDOUT);
  sp_http_response_free(&r);
  sp_deadline_pop(&d);
  /* left in flight when the runtime shuts down */
  sp_task *u;
  CHECK_RC(sp_spawn(&u, fetch_never, furl), 0);
  sp_detach(u);
  CHECK_RC(sp_sleep(MS(100)), 0);
  return NULL;
}

/* Cancel and deadlines end a transfer in flight; shutdown with one pending. */
Test(http, cancel_and_deadline, .init = start_all, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_cancel, NULL);
}

/* ------------------------------------------------------- TLS and HTTP/2 */

static fx_server tls_web;
static int tls_port;
static char cert[700];

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* nginx with a self-signed certificate for tls.test, HTTP/2 on TLS. */
static void start_tls(void) {
  make_site();
  const char *tmp = fx_tmpdir();
  char key[700], cmd[2400], extra[2400];
  snprintf(cert, sizeof cert, "%s/cert.pem", tmp);
  snprintf(key, sizeof key, "%s/key.pem", tmp);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tls.test "
           "-addext subjectAltName=DNS:tls.test -keyout '%s' -out '%s' >/dev/null 2>&1",
           key, cert);
  cr_assert_eq(system(cmd), 0, "openssl could not make a certificate (Debian: openssl)");
  tls_port = free_port();
  cr_assert(tls_port > 0);
  snprintf(extra, sizeof extra, "listen 127.0.0.1:%d ssl http2;\nssl_certificate %s;\nssl_certificate_key %s;\n",
           tls_port, cert, key);
  cr_assert_eq(fx_nginx_start(&tls_web, docroot, extra), 0, "nginx (TLS) did not start");
  static const char *const recs[] = {"host-record=tls.test,127.0.0.1", "local-ttl=60", NULL};
  cr_assert_eq(fx_dnsmasq_start(&dns, recs), 0, "dnsmasq did not start");
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dns.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void *main_tls(void *arg) {
  (void)arg;
  char url[256];
  snprintf(url, sizeof url, "https://tls.test:%d/hello.txt", tls_port);
  sp_http_request q;
  sp_http_response r;
  sp_http_request_init(&q);
  q.url = url;
  /* verification is on by default: a self-signed certificate fails */
  CHECK_RC(sp_http_fetch(&q, &r), SP_EHTTP);
  CHECKF(r.curl_code == CURLE_PEER_FAILED_VERIFICATION, "curl code %d: %s", r.curl_code, r.error);
  sp_http_response_free(&r);
  /* trusting it: verified, and HTTP/2 since the server offers it */
  q.ca_file = cert;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.http_version, 2);
  CHECKF(r.body && strcmp(r.body, "hello, spindle\n") == 0, "body %s", r.body);
  CHECK(r.timings.tls_ns > 0);
  sp_http_response_free(&r);
  /* HTTP/1.1 when asked */
  q.http_version = SP_HTTP_1_1;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.http_version, 1);
  sp_http_response_free(&r);
  /* insecure skips verification */
  q.ca_file = NULL;
  q.insecure = true;
  q.http_version = SP_HTTP_ANY;
  CHECK_RC(sp_http_fetch(&q, &r), 0);
  CHECK_EQ(r.status, 200);
  sp_http_response_free(&r);
  /* a certificate for another name fails even when trusted */
  snprintf(url, sizeof url, "https://127.0.0.1:%d/hello.txt", tls_port);
  q.insecure = false;
  q.ca_file = cert;
  CHECK_RC(sp_http_fetch(&q, &r), SP_EHTTP);
  sp_http_response_free(&r);
  return NULL;
}

/* TLS is verified by default; a trusted CA file, HTTP/2 over TLS, HTTP/1.1
 * on request, insecure mode. */
Test(http, tls_and_http2, .init = start_tls, .fini = stop_all, .timeout = 60) {
  spt_run(2, main_tls, NULL);
}

/* Outside a task: SP_EPERM, with a message. */
Test(http, misuse, .timeout = 30) {
  sp_http_response r;
  cr_assert_eq(sp_http_get("http://127.0.0.1/", &r), SP_EPERM);
  cr_assert(r.error[0] != '\0');
  sp_http_response_free(&r);
  cr_assert_eq(sp_http_fetch(NULL, &r), SP_EINVAL);
  sp_http_response_free(&r);
}
