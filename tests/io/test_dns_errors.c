/* test_dns_errors.c - DNS failures mapped to spindle's errors and messages,
 * against the fault server in its DNS mode, which answers every query with
 * one RCODE (REFUSED, SERVFAIL). */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"

#include <errno.h>

enum { RCODE_SERVFAIL = 2, RCODE_REFUSED = 5 };

/* The responder: the fault server in its DNS mode (fixture.h). */
static fx_server dns = {.fd = -1};

/* Queries the responder has answered so far: its log's lines. */
static int queries(void) {
  FILE *f = fopen(dns.log, "r");
  int n = 0, c;
  if (!f) return 0;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}

static void start_responder(int rcode) {
  cr_assert_eq(fx_dns_rcode_start(&dns, rcode), 0, "the DNS responder did not start");
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dns.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void start_refused(void) { start_responder(RCODE_REFUSED); }
static void start_servfail(void) { start_responder(RCODE_SERVFAIL); }
static void stop_responder(void) { fx_stop_all(); }

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
  CHECKF(queries() >= 1, "the server saw %d queries", queries());
  check_rcode_error(sp_resolve("bad2.test", 80, AF_UNSPEC, SEC(20), &l), "AF_UNSPEC lookup");
  /* not cached: the next lookup of the name asks again */
  int before = queries();
  CHECK_RC(sp_resolve("bad.test", 80, AF_INET, SEC(20), &l), rc);
  CHECKF(queries() > before, "a second lookup sent no query (%d before, %d after)", before,
         queries());
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
