/* test_crawl.c - spindle-crawl end to end: a generated site over several
 * hosts served by nginx, names from dnsmasq, the exact reachable set. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"
#include "crawler/crawl_harness.h"
#include "url.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTS 4
#define PAGES 600

static fx_server web, dns;
static char site[700], work[700], dns_arg[64], seed[256];

static void run_or_die(const char *cmd) { cr_assert_eq(system(cmd), 0, "failed: %s", cmd); }

/* Generates the site for nginx's port, then serves every host from its
 * directory ($host) and names them in dnsmasq. */
static void start_site(void) {
  const char *tmp = fx_tmpdir();
  cr_assert(tmp);
  snprintf(site, sizeof site, "%s/site", tmp);
  snprintf(work, sizeof work, "%s/work", tmp);
  mkdir(work, 0755);
  char root[800];
  snprintf(root, sizeof root, "%s/www/$host", site);
  cr_assert_eq(fx_nginx_start(&web, root, NULL), 0, "nginx did not start");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/spindle-sitegen' --out '%s' --hosts %d --pages %d --seed 7 --port %d >/dev/null",
           getenv("SPINDLE_BIN_DIR"), site, HOSTS, PAGES, web.port);
  run_or_die(cmd);
  static char recs[HOSTS][64];
  static const char *rp[HOSTS + 2];
  for (int i = 0; i < HOSTS; i++) {
    snprintf(recs[i], sizeof recs[i], "host-record=h%d.demo.test,127.0.0.1", i);
    rp[i] = recs[i];
  }
  rp[HOSTS] = "local-ttl=300";
  rp[HOSTS + 1] = NULL;
  cr_assert_eq(fx_dnsmasq_start(&dns, rp), 0, "dnsmasq did not start");
  snprintf(dns_arg, sizeof dns_arg, "127.0.0.1:%d", dns.port);
  snprintf(seed, sizeof seed, "http://h0.demo.test:%d/", web.port);
}

static void stop_site(void) { fx_stop_all(); }

static char *path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}

/* The dedupe keys of the URLs of the output lines with a given status (the
 * generator's lists are normalised; the output has URLs as found). */
static void urls_with_status(const crawl_out *o, long status, strset *s) {
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

static void check_no_duplicates(const crawl_out *o) {
  strset all = {0};
  for (size_t i = 0; i < o->n; i++) {
    char *key = NULL;
    cr_assert_eq(crawl_url_normalize(o->v[i].url, &key), 0);
    strset_add(&all, key);
    free(key);
  }
  strset_sort(&all);
  for (size_t i = 1; i < all.n; i++) cr_assert(strcmp(all.v[i - 1], all.v[i]) != 0, "fetched twice: %s", all.v[i]);
  strset_free(&all);
}

/* A full crawl fetches exactly the reachable set: every expected URL, no
 * other, nothing disallowed by robots.txt, each once. */
Test(crawl, exact_reachable_set, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], stats[800], p[800];
  path_in(out, sizeof out, work, "out.jsonl");
  path_in(stats, sizeof stats, work, "stats.json");
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--stats", stats,
                        "--quiet", "--concurrency", "32", seed, NULL};
  int rc = crawl_exec(argv, work, 100);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s/crawl.stderr)", rc, work);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.bad, 0, "%zu malformed output lines", o.bad);
  check_no_duplicates(&o);

  strset expected = {0}, exp404 = {0}, disallowed = {0}, got200 = {0}, got404 = {0};
  cr_assert_eq(strset_read_lines(&expected, path_in(p, sizeof p, site, "expected.txt")), 0);
  cr_assert_eq(strset_read_lines(&exp404, path_in(p, sizeof p, site, "expected-404.txt")), 0);
  cr_assert_eq(strset_read_lines(&disallowed, path_in(p, sizeof p, site, "disallowed.txt")), 0);
  cr_assert(expected.n > PAGES / 2, "the generator expects only %zu pages", expected.n);
  urls_with_status(&o, 200, &got200);
  urls_with_status(&o, 404, &got404);
  size_t missing = strset_missing(&expected, &got200, "expected, not fetched", 10);
  size_t extra = strset_missing(&got200, &expected, "fetched, not expected", 10);
  cr_assert(missing == 0 && extra == 0, "%zu expected URLs missing, %zu unexpected ones fetched", missing, extra);
  missing = strset_missing(&exp404, &got404, "broken link not attempted", 10);
  extra = strset_missing(&got404, &exp404, "unexpected 404", 10);
  cr_assert(missing == 0 && extra == 0, "404s: %zu missing, %zu unexpected", missing, extra);
  for (size_t i = 0; i < o.n; i++)
    cr_assert(!key_in(&disallowed, o.v[i].url), "fetched a URL robots.txt disallows: %s", o.v[i].url);
  cr_assert_eq(o.n, got200.n + got404.n, "other outcomes: %zu lines, %zu 200s, %zu 404s", o.n, got200.n, got404.n);
  struct stat st;
  cr_assert_eq(stat(stats, &st), 0, "no --stats file");
  strset_free(&expected);
  strset_free(&exp404);
  strset_free(&disallowed);
  strset_free(&got200);
  strset_free(&got404);
  crawl_out_free(&o);
}

/* The page limit is exact; depth and scope limits hold. */
Test(crawl, limits_and_scope, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800];
  path_in(out, sizeof out, work, "pages.jsonl");
  const char *a1[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--quiet",
                      "--max-pages", "37", seed, NULL};
  cr_assert_eq(crawl_exec(a1, work, 100), 0);
  cr_assert_eq(count_lines(out), 37, "--max-pages 37 wrote %ld lines", count_lines(out));

  path_in(out, sizeof out, work, "depth.jsonl");
  const char *a2[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--quiet",
                      "--max-depth", "1", seed, NULL};
  cr_assert_eq(crawl_exec(a2, work, 100), 0);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert(o.n > 1, "depth 1 crawled %zu pages", o.n);
  long maxd = 0;
  for (size_t i = 0; i < o.n; i++) maxd = o.v[i].depth > maxd ? o.v[i].depth : maxd;
  cr_assert(maxd <= 1, "a page of depth %ld with --max-depth 1", maxd);
  crawl_out_free(&o);

  /* without --allow-domain: only the seed's host */
  path_in(out, sizeof out, work, "scope.jsonl");
  const char *a3[] = {"--dns-server", dns_arg, "--output", out, "--quiet", seed, NULL};
  cr_assert_eq(crawl_exec(a3, work, 100), 0);
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert(o.n > 1);
  for (size_t i = 0; i < o.n; i++) cr_assert(strcasestr(o.v[i].url, "://h0.demo.test:") != NULL, "out of scope: %s", o.v[i].url);
  crawl_out_free(&o);

  /* --exclude */
  path_in(out, sizeof out, work, "exclude.jsonl");
  const char *a4[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--quiet",
                      "--exclude", "h[123]\\.demo", seed, NULL};
  cr_assert_eq(crawl_exec(a4, work, 100), 0);
  cr_assert_eq(crawl_out_read(&o, out), 0);
  for (size_t i = 0; i < o.n; i++) cr_assert(strcasestr(o.v[i].url, "://h0.demo.test:") != NULL, "excluded: %s", o.v[i].url);
  crawl_out_free(&o);
}

/* kill -9 in the middle, then the same command again: every reachable
 * page ends up in the output exactly once, the file intact. */
Test(crawl, kill_and_resume, .init = start_site, .fini = stop_site, .timeout = 180) {
  char out[800], state[800], p[800];
  path_in(out, sizeof out, work, "resume.jsonl");
  path_in(state, sizeof state, work, "state");
  /* --delay keeps it slow enough to be killed mid-way */
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--state", state,
                        "--quiet", "--delay", "0.01", "--per-host", "1", seed, NULL};
  pid_t pid = crawl_spawn(argv, work);
  cr_assert(pid > 0);
  for (int i = 0; i < 3000 && count_lines(out) < 60; i++) usleep(10000);
  long before = count_lines(out);
  kill(pid, SIGKILL);
  cr_assert_eq(crawl_wait(pid, 10), 128 + SIGKILL);
  cr_assert(before >= 60, "only %ld lines before the kill", before);
  int rc = crawl_exec(argv, work, 150);
  cr_assert_eq(rc, 0, "the resumed crawl exited %d", rc);

  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.bad, 0, "%zu malformed lines after kill -9 and resume", o.bad);
  check_no_duplicates(&o);
  strset expected = {0}, got = {0};
  cr_assert_eq(strset_read_lines(&expected, path_in(p, sizeof p, site, "expected.txt")), 0);
  urls_with_status(&o, 200, &got);
  size_t missing = strset_missing(&expected, &got, "lost by the kill", 10);
  cr_assert_eq(missing, 0, "%zu pages never fetched after resume", missing);
  cr_assert(o.n > (size_t)before, "the second run added nothing");
  strset_free(&expected);
  strset_free(&got);
  crawl_out_free(&o);
}

/* SIGINT: in-flight transfers finish, everything is flushed, exit 130. */
Test(crawl, sigint_stops_gracefully, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800];
  path_in(out, sizeof out, work, "int.jsonl");
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out,
                        "--delay", "0.05", "--per-host", "1", seed, NULL};
  pid_t pid = crawl_spawn(argv, work);
  cr_assert(pid > 0);
  for (int i = 0; i < 3000 && count_lines(out) < 10; i++) usleep(10000);
  kill(pid, SIGINT);
  int rc = crawl_wait(pid, 30);
  cr_assert_eq(rc, 130, "exit %d after SIGINT", rc);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.bad, 0);
  cr_assert(o.n >= 10 && o.n < PAGES, "%zu lines", o.n);
  crawl_out_free(&o);
  char err[800];
  path_in(err, sizeof err, work, "crawl.stderr");
  FILE *f = fopen(err, "r");
  cr_assert(f);
  char buf[8192] = "";
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  cr_assert(strstr(buf, "stopped early") != NULL, "no summary saying it stopped early: %s", buf);
}

/* --robots-check prints allowed/disallowed per URL. */
Test(crawl, robots_check, .timeout = 30) {
  const char *tmp = fx_tmpdir();
  char robots[800], dir[800];
  snprintf(robots, sizeof robots, "%s/robots.txt", tmp);
  snprintf(dir, sizeof dir, "%s/rc", tmp);
  mkdir(dir, 0755);
  const char body[] = "User-agent: *\nDisallow: /private/\n\nUser-agent: special\nDisallow: /\nAllow: /open$\n";
  cr_assert_eq(fx_write_file(robots, body, sizeof body - 1), 0);
  const char *argv[] = {"--robots-check", robots, "--user-agent", "special/1.0", "http://x.test/open",
                        "http://x.test/open/more", "http://x.test/", NULL};
  cr_assert_eq(crawl_exec(argv, dir, 20), 0);
  char out[900];
  snprintf(out, sizeof out, "%s/crawl.stdout", dir);
  strset lines = {0};
  cr_assert_eq(strset_read_lines(&lines, out), 0);
  cr_assert(strset_has(&lines, "allowed http://x.test/open"));
  cr_assert(strset_has(&lines, "disallowed http://x.test/open/more"));
  cr_assert(strset_has(&lines, "disallowed http://x.test/"));
  strset_free(&lines);
  /* bad usage: exit 2 with a message */
  const char *bad[] = {"--max-pages", "zero", "http://x.test/", NULL};
  cr_assert_eq(crawl_exec(bad, dir, 20), 2);
  const char *none[] = {NULL};
  cr_assert_eq(crawl_exec(none, dir, 20), 2);
}
