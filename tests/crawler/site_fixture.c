/* site_fixture.c - see site_fixture.h. */
#define _GNU_SOURCE
#include "crawler/site_fixture.h"

#include "sched/spt.h"
#include "io/fixture.h"
#include "url.h"

#include <sys/stat.h>
#include <unistd.h>

char *demo_path(const demo_site *s, char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", s->work, name);
  return buf;
}

void demo_site_start(demo_site *s, int hosts, int pages) {
  const char *tmp = fx_tmpdir();
  cr_assert(tmp);
  static int sites; /* in this test process: each its own directories */
  int n = sites++;
  s->hosts = hosts;
  s->pages = pages;
  snprintf(s->dir, sizeof s->dir, "%s/site%s%.0d", tmp, n ? "-" : "", n);
  snprintf(s->work, sizeof s->work, "%s/work%s%.0d", tmp, n ? "-" : "", n);
  mkdir(s->work, 0755);
  char root[800];
  snprintf(root, sizeof root, "%s/www/$host", s->dir);
  cr_assert_eq(fx_nginx_start(&s->web, root, NULL), 0, "nginx did not start");
  s->port = s->web.port;
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/spindle-sitegen' --out '%s' --hosts %d --pages %d --seed 7 --port %d >/dev/null",
           getenv("SPINDLE_BIN_DIR"), s->dir, hosts, pages, s->port);
  cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
  /* The site's hosts, and no other name: a link to a host that is not
   * part of it must not resolve. */
  enum { MAX_HOSTS = 64 };
  cr_assert(hosts >= 1 && hosts <= MAX_HOSTS, "at most %d hosts", MAX_HOSTS);
  static char recs[MAX_HOSTS][64];
  static const char *rp[MAX_HOSTS + 2];
  for (int i = 0; i < hosts; i++) {
    snprintf(recs[i], sizeof recs[i], "host-record=h%d.demo.test,127.0.0.1", i);
    rp[i] = recs[i];
  }
  rp[hosts] = "local-ttl=300";
  rp[hosts + 1] = NULL;
  cr_assert_eq(fx_dnsmasq_start(&s->dns, rp), 0, "dnsmasq did not start");
  snprintf(s->dns_arg, sizeof s->dns_arg, "127.0.0.1:%d", s->dns.port);
  snprintf(s->seed, sizeof s->seed, "http://h0.demo.test:%d/", s->port);
}

/* The dedupe keys of the URLs of the output lines with a given status (the
 * generator's lists are normalised; the output has URLs as found). */
void demo_urls_with_status(const crawl_out *o, long status, strset *s) {
  for (size_t i = 0; i < o->n; i++) {
    if (o->v[i].status != status) continue;
    char *key = NULL;
    cr_assert_eq(crawl_url_normalize(o->v[i].url, &key), 0, "output URL does not parse: %s", o->v[i].url);
    strset_add(s, key);
    free(key);
  }
  strset_sort(s);
}

static bool key_in(const strset *s, const char *url) {
  char *key = NULL;
  if (crawl_url_normalize(url, &key) != 0) return false;
  bool r = strset_has(s, key);
  free(key);
  return r;
}

/* Asserts that no member of a sorted set is there twice. */
static void check_once_each(const strset *all, const char *where) {
  for (size_t i = 1; i < all->n; i++)
    cr_assert(strcmp(all->v[i - 1], all->v[i]) != 0, "twice in %s: %s", where, all->v[i]);
}

void demo_check_no_duplicates(const crawl_out *o) {
  strset all = {0};
  for (size_t i = 0; i < o->n; i++) {
    char *key = NULL;
    cr_assert_eq(crawl_url_normalize(o->v[i].url, &key), 0);
    strset_add(&all, key);
    free(key);
  }
  strset_sort(&all);
  check_once_each(&all, "the output");
  strset_free(&all);
}

void demo_check_output(const demo_site *s, const char *out) {
  char p[800];
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0, "cannot read %s", out);
  cr_assert_eq(o.bad, 0, "%zu malformed output lines", o.bad);
  demo_check_no_duplicates(&o);

  strset expected = {0}, exp404 = {0}, disallowed = {0}, got200 = {0}, got404 = {0};
  snprintf(p, sizeof p, "%s/expected.txt", s->dir);
  cr_assert_eq(strset_read_lines(&expected, p), 0);
  snprintf(p, sizeof p, "%s/expected-404.txt", s->dir);
  cr_assert_eq(strset_read_lines(&exp404, p), 0);
  snprintf(p, sizeof p, "%s/disallowed.txt", s->dir);
  cr_assert_eq(strset_read_lines(&disallowed, p), 0);
  cr_assert(expected.n > (size_t)s->pages / 2, "the generator expects only %zu pages", expected.n);
  demo_urls_with_status(&o, 200, &got200);
  demo_urls_with_status(&o, 404, &got404);
  size_t missing = strset_missing(&expected, &got200, "expected, not fetched", 10);
  size_t extra = strset_missing(&got200, &expected, "fetched, not expected", 10);
  cr_assert(missing == 0 && extra == 0, "%zu expected URLs missing, %zu unexpected ones fetched", missing, extra);
  missing = strset_missing(&exp404, &got404, "broken link not attempted", 10);
  extra = strset_missing(&got404, &exp404, "unexpected 404", 10);
  cr_assert(missing == 0 && extra == 0, "404s: %zu missing, %zu unexpected", missing, extra);
  for (size_t i = 0; i < o.n; i++)
    cr_assert(!key_in(&disallowed, o.v[i].url), "fetched a URL robots.txt disallows: %s", o.v[i].url);
  cr_assert_eq(o.n, got200.n + got404.n, "other outcomes: %zu lines, %zu 200s, %zu 404s", o.n, got200.n, got404.n);
  strset_free(&expected);
  strset_free(&exp404);
  strset_free(&disallowed);
  strset_free(&got200);
  strset_free(&got404);
  crawl_out_free(&o);
}

void demo_check_warc(const char *path, const char *out) {
  warc_census w;
  cr_assert_eq(warc_census_read(&w, path), 0, "%s cannot be read to its end, or a record in it is damaged", path);
  cr_assert_eq(w.warcinfo, 1, "%zu warcinfo records", w.warcinfo);
  cr_assert_eq(w.requests, w.responses, "%zu requests, %zu responses", w.requests, w.responses);
  strset_sort(&w.response_uris);
  check_once_each(&w.response_uris, "the WARC");
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  strset lines = {0};
  for (size_t i = 0; i < o.n; i++) strset_add(&lines, o.v[i].final_url ? o.v[i].final_url : o.v[i].url);
  strset_sort(&lines);
  size_t missing = strset_missing(&lines, &w.response_uris, "in the output, no response in the WARC", 10);
  size_t extra = strset_missing(&w.response_uris, &lines, "a response in the WARC, not in the output", 10);
  cr_assert(missing == 0 && extra == 0, "%zu output lines lack their WARC response, %zu responses lack a line",
            missing, extra);
  strset_free(&lines);
  crawl_out_free(&o);
  warc_census_free(&w);
}
