/* test_dns_errors.c - DNS failures mapped to spindle's errors and messages,
 * against a tiny UDP DNS server inside the test that answers every query
 * with one RCODE (REFUSED, SERVFAIL). */
#define _GNU_SOURCE
#include "sched/spt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { RCODE_SERVFAIL = 2, RCODE_REFUSED = 5 };

/* The responder: one thread, one UDP socket on 127.0.0.1. */
static int rs_fd = -1, rs_port, rs_rcode;
static atomic_int rs_stop, rs_queries;
static pthread_t rs_thread;
static bool rs_running;

/* Answers each query with its header and question, QR set, rs_rcode. */
static void *responder(void *arg) {
  (void)arg;
  unsigned char q[1500];
  while (!atomic_load(&rs_stop)) {
    struct pollfd p = {rs_fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(rs_fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
    if (n < 12) continue;
    /* the end of the first question: QNAME labels, then QTYPE, QCLASS */
    size_t off = 12;
    while (off < (size_t)n && q[off] != 0 && q[off] < 64) off += 1u + q[off];
    off += 1 + 4;
    if (off > (size_t)n) continue;
    atomic_fetch_add(&rs_queries, 1);
    q[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, the query's opcode and RD */
    q[3] = (unsigned char)(0x80 | rs_rcode);      /* RA, RCODE */
    memset(q + 6, 0, 6);                          /* no answer, authority, additional */
    sendto(rs_fd, q, off, 0, (struct sockaddr *)&from, flen);
  }
  return NULL;
}

static void start_responder(int rcode) {
  rs_rcode = rcode;
  rs_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  cr_assert(rs_fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  cr_assert_eq(bind(rs_fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(getsockname(rs_fd, (struct sockaddr *)&a, &len), 0);
  rs_port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&rs_thread, NULL, responder, NULL), 0);
  rs_running = true;
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", rs_port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void start_refused(void) { start_responder(RCODE_REFUSED); }
static void start_servfail(void) { start_responder(RCODE_SERVFAIL); }

static void stop_responder(void) {
  if (rs_running) {
    atomic_store(&rs_stop, 1);
    pthread_join(rs_thread, NULL);
    rs_running = false;
  }
  if (rs_fd >= 0) close(rs_fd);
  rs_fd = -1;
}

/* ------------------------------------------------------------------ tests */

/* What sp_resolve returned for a server's error answer: SP_EDNSREFUSED.
 * Debian's c-ares 1.18.1 ends REFUSED and SERVFAIL alike with
 * ARES_ECONNREFUSED (the status it also gives an unreachable server), so
 * dns.c cannot tell them apart; before, that came out as -ECONNREFUSED,
 * which read as a failed HTTP connection. */
static void check_rcode_error(int rc, const char *what) {
  CHECKF(rc == SP_EDNSREFUSED, "%s: %d (%s), want SP_EDNSREFUSED", what, rc, sp_strerror(rc));
}

static void *main_rcode(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  uint64_t t0 = sp_now_ns();
  int rc = sp_resolve("bad.test", 80, AF_INET, SEC(20), &l);
  check_rcode_error(rc, "A lookup");
  CHECK(l == NULL);
  /* an answer, not a timeout: well within c-ares's own retry time (2 x 1.5 s) */
  CHECKF(sp_now_ns() - t0 < SEC(2), "the error answer took %.0f ms", (double)(sp_now_ns() - t0) / 1e6);
  CHECKF(atomic_load(&rs_queries) >= 1, "the server saw %d queries", atomic_load(&rs_queries));
  check_rcode_error(sp_resolve("bad2.test", 80, AF_UNSPEC, SEC(20), &l), "AF_UNSPEC lookup");
  /* not cached: the next lookup of the name asks again */
  int before = atomic_load(&rs_queries);
  CHECK_RC(sp_resolve("bad.test", 80, AF_INET, SEC(20), &l), rc);
  CHECKF(atomic_load(&rs_queries) > before, "a second lookup sent no query (%d before, %d after)", before,
         atomic_load(&rs_queries));
  sp_dns_stats st;
  sp_dns_get_stats(sp_runtime_current(), &st);
  CHECKF(st.failures >= 3, "failures %llu", (unsigned long long)st.failures);
  /* an HTTP fetch of such a host names it and the lookup's error */
  sp_http_response r;
  CHECK_RC(sp_http_get("http://bad.test/", &r), rc);
  CHECKF(strstr(r.error, "bad.test") && strstr(r.error, sp_strerror(rc)), "error '%s'", r.error);
  sp_http_response_free(&r);
  return NULL;
}

/* A server answering REFUSED: an error at once, not cached, named in an
 * HTTP fetch's error. */
Test(dns_errors, refused_answer_fails_fast, .init = start_refused, .fini = stop_responder, .timeout = 60) {
  spt_run(2, main_rcode, NULL);
}

/* The same for SERVFAIL. */
Test(dns_errors, servfail_answer_fails_fast, .init = start_servfail, .fini = stop_responder, .timeout = 60) {
  spt_run(2, main_rcode, NULL);
}

/* Every DNS error has its own clear message, and none is the message of an
 * unknown code. */
Test(dns_errors, messages_distinct, .timeout = 30) {
  const int codes[] = {SP_ENOTFOUND, SP_ENODATA, SP_ETIMEDOUT, SP_EDNSREFUSED, SP_EDNS};
  const char *unknown = sp_strerror(SP_ERR_BASE - 999);
  enum { N = sizeof codes / sizeof codes[0] };
  for (int i = 0; i < N; i++) {
    const char *m = sp_strerror(codes[i]);
    cr_assert(m && strlen(m) >= 8, "code %d: message '%s'", codes[i], m ? m : "(null)");
    cr_assert(!unknown || strcmp(m, unknown) != 0, "code %d has the unknown-code message '%s'", codes[i], m);
    for (int j = 0; j < i; j++)
      cr_assert(strcmp(m, sp_strerror(codes[j])) != 0, "codes %d and %d share the message '%s'", codes[i], codes[j],
                m);
  }
  cr_assert(strstr(sp_strerror(SP_ENOTFOUND), "NXDOMAIN") || strstr(sp_strerror(SP_ENOTFOUND), "not found"));
  cr_assert(strstr(sp_strerror(SP_EDNSREFUSED), "refused"));
  cr_assert(strstr(sp_strerror(SP_ETIMEDOUT), "timed out"));
}
