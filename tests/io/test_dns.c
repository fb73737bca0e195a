/* test_dns.c - sp_resolve against a real dnsmasq on loopback. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <strings.h>

static fx_server dns;

static const char *const records[] = {
    "host-record=good.test,127.0.0.7",
    "host-record=dual.test,127.0.0.8,::1",
    "host-record=v4only.test,127.0.0.9",
    "host-record=ttl.test,127.0.0.10",
    "local-ttl=2",
    NULL,
};

/* Points spindle at the fixture's dnsmasq (before the runtime starts). */
static void start_dns(void) {
  cr_assert_eq(fx_dnsmasq_start(&dns, records), 0, "dnsmasq did not start");
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dns.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void stop_dns(void) { fx_stop_all(); }

static const char *ip_of(const sp_addr *a, char *buf, size_t n) {
  const void *p = a->family == AF_INET ? (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr
                                       : (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
  return inet_ntop(a->family, p, buf, (socklen_t)n);
}

static int port_of(const sp_addr *a) {
  return ntohs(a->family == AF_INET ? ((const struct sockaddr_in *)&a->sa)->sin_port
                                    : ((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

/* Counts the A queries dnsmasq logged for name. */
static int queries_logged(const char *name) {
  FILE *f = fopen(dns.log, "r");
  if (!f) return -1;
  char line[1024], pat[300];
  snprintf(pat, sizeof pat, "query[A] %s from", name);
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, pat)) n++;
  fclose(f);
  return n;
}

/* ------------------------------------------------------------ answers */

static void *main_names(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  char ip[64];
  CHECK_RC(sp_resolve("good.test", 8080, AF_INET, SEC(5), &l), 0);
  if (l) {
    CHECK_EQ(l->n, 1);
    CHECKF(strcmp(ip_of(&l->addrs[0], ip, sizeof ip), "127.0.0.7") == 0, "good.test -> %s", ip);
    CHECK_EQ(port_of(&l->addrs[0]), 8080);
    CHECK_EQ(l->ttl_s, 2);
    sp_addrlist_free(l);
  }
  /* case and a trailing dot do not matter */
  CHECK_RC(sp_resolve("GOOD.test.", 1, AF_INET, SEC(5), &l), 0);
  if (l) {
    CHECKF(strcmp(ip_of(&l->addrs[0], ip, sizeof ip), "127.0.0.7") == 0, "GOOD.test. -> %s", ip);
    sp_addrlist_free(l);
  }
  /* both families, IPv4 first */
  CHECK_RC(sp_resolve("dual.test", 443, AF_UNSPEC, SEC(5), &l), 0);
  if (l) {
    CHECK_EQ(l->n, 2);
    CHECK_EQ(l->addrs[0].family, AF_INET);
    if (l->n == 2) {
      CHECK_EQ(l->addrs[1].family, AF_INET6);
      CHECKF(strcmp(ip_of(&l->addrs[1], ip, sizeof ip), "::1") == 0, "dual.test AAAA -> %s", ip);
      CHECK_EQ(port_of(&l->addrs[1]), 443);
    }
    sp_addrlist_free(l);
  }
  CHECK_RC(sp_resolve("dual.test", 443, AF_INET6, SEC(5), &l), 0);
  if (l) {
    CHECK_EQ(l->n, 1);
    CHECK_EQ(l->addrs[0].family, AF_INET6);
    sp_addrlist_free(l);
  }
  /* literals need no server */
  CHECK_RC(sp_resolve("192.0.2.1", 80, AF_UNSPEC, SEC(5), &l), 0);
  if (l) {
    CHECKF(strcmp(ip_of(&l->addrs[0], ip, sizeof ip), "192.0.2.1") == 0, "literal -> %s", ip);
    sp_addrlist_free(l);
  }
  CHECK_RC(sp_resolve("[::1]", 80, AF_UNSPEC, SEC(5), &l), 0);
  if (l) sp_addrlist_free(l);
  CHECK_RC(sp_resolve("192.0.2.1", 80, AF_INET6, SEC(5), &l), SP_ENODATA);
  /* errors */
  CHECK_RC(sp_resolve("missing.test", 80, AF_INET, SEC(5), &l), SP_ENOTFOUND);
  CHECK(l == NULL);
  CHECK_RC(sp_resolve("v4only.test", 80, AF_INET6, SEC(5), &l), SP_ENODATA);
  CHECK_RC(sp_resolve("", 80, AF_INET, SEC(5), &l), SP_EINVAL);
  CHECK_RC(sp_resolve("a b.test", 80, AF_INET, SEC(5), &l), SP_EINVAL);
  CHECK_RC(sp_resolve("good.test", 80, 12345, SEC(5), &l), SP_EINVAL);
  return NULL;
}

/* Names, families, case, literals, NXDOMAIN and NODATA answered right. */
Test(dns, names_and_errors, .init = start_dns, .fini = stop_dns, .timeout = 60) {
  spt_run(2, main_names, NULL);
}

/* /etc/hosts is consulted before the servers: "localhost" resolves though
 * dnsmasq would answer NXDOMAIN for it.  That needs the machine's
 * /etc/hosts to name localhost, which the test checks first, so that a
 * machine without it fails at once and says so. */
#define HOSTS_NEED "this test needs /etc/hosts to map localhost to 127.0.0.1 / ::1"

/* The addresses path maps localhost to ("a, b"), into maps[n]: "" if none;
 * *v4: one is 127.0.0.1.  False if path cannot be read. */
static bool hosts_localhost(const char *path, char *maps, size_t n, bool *v4) {
  FILE *f = fopen(path, "r");
  maps[0] = '\0';
  *v4 = false;
  if (!f) return false;
  char line[1024];
  size_t len = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "#\n")] = '\0';
    char *save = NULL, *addr = strtok_r(line, " \t", &save), *name;
    while (addr && (name = strtok_r(NULL, " \t", &save)))
      if (strcasecmp(name, "localhost") == 0) {
        *v4 = *v4 || strcmp(addr, "127.0.0.1") == 0;
        if (len + strlen(addr) + 3 < n) len += (size_t)snprintf(maps + len, n - len, "%s%s", len ? ", " : "", addr);
        break;
      }
  }
  fclose(f);
  return true;
}

static void *main_hosts(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  char ip[64];
  int rc = sp_resolve("localhost", 80, AF_INET, SEC(5), &l);
  CHECKF(rc == 0, HOSTS_NEED ", and it does, but sp_resolve(\"localhost\", AF_INET) gave %d (%s)", rc, sp_strerror(rc));
  if (l) {
    CHECKF(strcmp(ip_of(&l->addrs[0], ip, sizeof ip), "127.0.0.1") == 0,
           HOSTS_NEED ", and it does, but sp_resolve(\"localhost\", AF_INET) gave %s", ip);
    sp_addrlist_free(l);
  }
  CHECKF(queries_logged("localhost") == 0, "localhost was asked of the DNS server %d time(s), not read from /etc/hosts",
         queries_logged("localhost"));
  return NULL;
}

Test(dns, etc_hosts_first, .init = start_dns, .fini = stop_dns, .timeout = 60) {
  char maps[256];
  bool v4;
  bool readable = hosts_localhost("/etc/hosts", maps, sizeof maps, &v4);
  cr_assert(readable, HOSTS_NEED "; it cannot be read (%s)", strerror(errno));
  cr_assert(v4, HOSTS_NEED "; it maps localhost to %s", maps[0] ? maps : "nothing");
  spt_run(2, main_hosts, NULL);
}

/* ------------------------------------------------- cache and coalescing */

static void *main_cache_ttl(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  CHECK_RC(sp_resolve("ttl.test", 80, AF_INET, SEC(5), &l), 0);
  sp_addrlist_free(l);
  for (int i = 0; i < 20; i++) {
    CHECK_RC(sp_resolve("ttl.test", 80, AF_INET, SEC(5), &l), 0);
    sp_addrlist_free(l);
  }
  CHECKF(queries_logged("ttl.test") == 1, "queries within the TTL: %d, expected 1", queries_logged("ttl.test"));
  sp_dns_stats st;
  sp_dns_get_stats(sp_runtime_current(), &st);
  CHECKF(st.cache_hits >= 20, "cache hits %llu", (unsigned long long)st.cache_hits);
  /* past the TTL (2 s) the name is asked again */
  CHECK_RC(sp_sleep(MS(2500)), 0);
  CHECK_RC(sp_resolve("ttl.test", 80, AF_INET, SEC(5), &l), 0);
  sp_addrlist_free(l);
  CHECKF(queries_logged("ttl.test") == 2, "queries after the TTL: %d, expected 2", queries_logged("ttl.test"));
  /* clearing the cache forgets it at once */
  sp_dns_cache_clear(sp_runtime_current());
  CHECK_RC(sp_resolve("ttl.test", 80, AF_INET, SEC(5), &l), 0);
  sp_addrlist_free(l);
  CHECKF(queries_logged("ttl.test") == 3, "queries after clearing: %d, expected 3", queries_logged("ttl.test"));
  return NULL;
}

/* Answers are cached for their TTL, and asked again after it. */
Test(dns, cache_honours_ttl, .init = start_dns, .fini = stop_dns, .timeout = 60) {
  spt_run(2, main_cache_ttl, NULL);
}

#define NCOAL 200
static atomic_int coal_ok;
static void *coal_lookup(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  int rc = sp_resolve("good.test", 80, AF_INET, SEC(10), &l);
  CHECK_RC(rc, 0);
  if (!rc) {
    atomic_fetch_add(&coal_ok, 1);
    sp_addrlist_free(l);
  }
  return NULL;
}
static void *main_coalesce(void *arg) {
  (void)arg;
  sp_task *t[NCOAL];
  for (int i = 0; i < NCOAL; i++) t[i] = SPAWN(coal_lookup, NULL);
  for (int i = 0; i < NCOAL; i++) spt_join(t[i]);
  CHECK_EQ(atomic_load(&coal_ok), NCOAL);
  CHECKF(queries_logged("good.test") == 1, "%d concurrent lookups sent %d queries, expected 1", NCOAL,
         queries_logged("good.test"));
  sp_dns_stats st;
  sp_dns_get_stats(sp_runtime_current(), &st);
  CHECKF(st.queries == 1, "c-ares queries %llu", (unsigned long long)st.queries);
  CHECKF(st.coalesced + st.cache_hits == NCOAL - 1, "coalesced %llu + hits %llu", (unsigned long long)st.coalesced,
         (unsigned long long)st.cache_hits);
  return NULL;
}

/* 200 concurrent lookups of one name on two workers make one query. */
Test(dns, concurrent_lookups_coalesce, .init = start_dns, .fini = stop_dns, .timeout = 60) {
  spt_run(2, main_coalesce, NULL);
}

/* ----------------------------------------------------- dead server, timeout */

static fx_server dead;
static void start_dead(void) {
  cr_assert_eq(fx_dead_udp_port(&dead), 0);
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dead.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
}

static void *main_dead(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  /* the caller's timeout */
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_resolve("nobody.test", 80, AF_INET, MS(300), &l), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(300) && el < SEC(3), "timed out after %.1f ms", (double)el / 1e6);
  /* the resolver's own retries give up too: no timeout from the caller */
  t0 = sp_now_ns();
  CHECK_RC(sp_resolve("other.test", 80, AF_INET, UINT64_MAX, &l), SP_ETIMEDOUT);
  el = sp_now_ns() - t0;
  CHECKF(el < SEC(20), "resolver gave up after %.1f ms", (double)el / 1e6);
  /* a deadline scope bounds it as well */
  sp_deadline d;
  sp_deadline_push(&d, MS(200));
  CHECK_RC(sp_resolve("third.test", 80, AF_INET, UINT64_MAX, &l), SP_ETIMEDOUT);
  sp_deadline_pop(&d);
  return NULL;
}

/* A server that never answers: lookups end with SP_ETIMEDOUT, bounded. */
Test(dns, dead_server_times_out, .init = start_dead, .fini = stop_dns, .timeout = 90) {
  spt_run(2, main_dead, NULL);
}

/* Cancelling a task waiting on a lookup returns SP_ECANCELED to it, and the
 * runtime shuts down cleanly with the query still in flight. */
static void *cancel_target(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  CHECK_RC(sp_resolve("slow.test", 80, AF_INET, UINT64_MAX, &l), SP_ECANCELED);
  return NULL;
}
static void *main_cancel(void *arg) {
  (void)arg;
  sp_task *t = SPAWN(cancel_target, NULL);
  CHECK_RC(sp_sleep(MS(100)), 0);
  sp_cancel(t);
  spt_join(t);
  /* left in flight at shutdown */
  sp_task *u;
  CHECK_RC(sp_spawn(&u, cancel_target, NULL), 0);
  sp_detach(u);
  CHECK_RC(sp_sleep(MS(50)), 0);
  sp_cancel(u);
  return NULL;
}

Test(dns, cancel_while_waiting, .init = start_dead, .fini = stop_dns, .timeout = 60) {
  spt_run(2, main_cancel, NULL);
}

static void *main_not_task(void *arg) {
  (void)arg;
  return NULL;
}

/* Outside a task sp_resolve refuses; sp_dns_set_servers validates. */
Test(dns, misuse, .timeout = 30) {
  sp_addrlist *l = NULL;
  cr_assert_eq(sp_resolve("good.test", 80, AF_INET, SEC(1), &l), SP_EPERM);
  cr_assert_eq(sp_resolve(NULL, 80, AF_INET, SEC(1), &l), SP_EINVAL);
  sp_runtime *rt;
  cr_assert_eq(sp_runtime_new(NULL, &rt), 0);
  cr_assert_eq(sp_dns_set_servers(rt, "not a server"), SP_EINVAL);
  cr_assert_eq(sp_dns_set_servers(rt, "127.0.0.1:53,[::1]:53"), 0);
  cr_assert_eq(sp_dns_set_servers(rt, NULL), 0);
  cr_assert_eq(sp_runtime_block_on(rt, main_not_task, NULL, NULL), 0);
  cr_assert_eq(sp_runtime_free(rt), 0);
}

/* sp_dns_set_servers range-checks every address and port (issue 10, item
 * 11: "999.1.1.1" and "1.2.3.4:99999" were accepted, and failed only at
 * the next lookup, as something else). */
static const char *const bad_servers[] = {
    "999.1.1.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.4:99999", "1.2.3.4:65536", "1.2.3.4:0", "1.2.3.4:",
    "1.2.3.4:-1", "1.2.3.4:+53", "1.2.3.4:53a", "1.2.3.4:53:53", "1.2.3.4: 53", "", ",127.0.0.1", "127.0.0.1,",
    "127.0.0.1,,127.0.0.2", "[::1", "[::1]:", "[::1]x", "[::1]:0", "[::1]:70000", "[127.0.0.1]:53", "[]:53",
    "::1:99999", "fe80::1%eth0", "dns.example", "localhost:53",
};

static void *main_bad_servers(void *arg) {
  (void)arg;
  char live[64];
  snprintf(live, sizeof live, "127.0.0.1:%d", dns.port);
  sp_runtime *rt = sp_runtime_current();
  CHECK_RC(sp_dns_set_servers(rt, live), 0);
  for (size_t i = 0; i < sizeof bad_servers / sizeof bad_servers[0]; i++)
    CHECKF(sp_dns_set_servers(rt, bad_servers[i]) == SP_EINVAL, "'%s' was accepted: %d", bad_servers[i],
           sp_dns_set_servers(rt, bad_servers[i]));
  /* the servers before are still in place: dnsmasq answers */
  sp_addrlist *l = NULL;
  CHECK_RC(sp_resolve("good.test", 80, AF_INET, SEC(5), &l), 0);
  sp_addrlist_free(l);
  /* the good forms, each after dnsmasq in a list c-ares must take whole */
  static const char *const good[] = {"127.0.0.1", "127.0.0.1:53", "[::1]:53", "[::1]", "::1", "fe80::1",
                                     "::ffff:127.0.0.1", "127.0.0.1:1", "127.0.0.1:65535"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char list[128];
    snprintf(list, sizeof list, "%s,%s", live, good[i]);
    CHECKF(sp_dns_set_servers(rt, list) == 0, "'%s' was refused", list);
    int rc = sp_resolve("good.test", 80, AF_INET, SEC(5), &l); /* set_servers cleared the cache */
    CHECKF(rc == 0, "with servers '%s': %d (%s)", list, rc, sp_strerror(rc));
    if (!rc) sp_addrlist_free(l);
  }
  return NULL;
}

Test(dns, bad_servers_refused, .init = start_dns, .fini = stop_dns, .timeout = 60) {
  spt_run(1, main_bad_servers, NULL);
}

/* Changing servers while a query is in flight (c-ares 1.18 refuses then):
 * no lookup fails for it, and the change applies once the channel is idle. */
static fx_server dead2;
static void *slow_lookup(void *arg) {
  (void)arg;
  sp_addrlist *l = NULL;
  CHECK_RC(sp_resolve("stuck.test", 80, AF_INET, UINT64_MAX, &l), SP_ETIMEDOUT);
  return NULL;
}
static void *main_change(void *arg) {
  (void)arg;
  char live[64];
  snprintf(live, sizeof live, "127.0.0.1:%d", dns.port);
  sp_task *t = SPAWN(slow_lookup, NULL); /* to the dead server: in flight for seconds */
  CHECK_RC(sp_sleep(MS(100)), 0);
  CHECK_RC(sp_dns_set_servers(sp_runtime_current(), live), 0);
  sp_addrlist *l = NULL;
  int rc = sp_resolve("good.test", 80, AF_INET, MS(500), &l);
  CHECKF(rc == 0 || rc == SP_ETIMEDOUT, "a lookup during the change: %d (%s)", rc, sp_strerror(rc));
  sp_addrlist_free(l);
  spt_join(t);
  /* the lookup above may still be asking the old server (its answer would
   * go to the cache): once it has given up too, the channel is idle */
  CHECK_RC(sp_sleep(SEC(1)), 0);
  CHECK_RC(sp_resolve("v4only.test", 80, AF_INET, SEC(5), &l), 0); /* the new servers */
  sp_addrlist_free(l);
  return NULL;
}

Test(dns, servers_change_in_flight, .timeout = 60) {
  cr_assert_eq(fx_dnsmasq_start(&dns, records), 0, "dnsmasq did not start");
  cr_assert_eq(fx_dead_udp_port(&dead2), 0);
  char env[64];
  snprintf(env, sizeof env, "127.0.0.1:%d", dead2.port);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
  spt_run(1, main_change, NULL);
  fx_stop_all();
}
