/* test_crawl.c - spindle-crawl end to end: a generated site over several
 * hosts served by nginx, names from dnsmasq, the exact reachable set. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"
#include "crawler/crawl_harness.h"
#include "crawler/site_fixture.h"
#include "url.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTS 4
#define PAGES 600

static demo_site S;
static char *site = S.dir, *work = S.work, *dns_arg = S.dns_arg, *seed = S.seed;

static void start_site(void) { demo_site_start(&S, HOSTS, PAGES); }

static void stop_site(void) { fx_stop_all(); }

static char *path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}

static void check_exact_set(const char *out) { demo_check_output(&S, out); }

/* A full crawl fetches exactly the reachable set: every expected URL, no
 * other, nothing disallowed by robots.txt, each once. */

Test(crawl, exact_reachable_set, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], stats[800];
  path_in(out, sizeof out, work, "out.jsonl");
  path_in(stats, sizeof stats, work, "stats.json");
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--stats", stats,
                        "--quiet", "--concurrency", "32", seed, NULL};
  int rc = crawl_exec(argv, work, 100);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s/crawl.stderr)", rc, work);
  check_exact_set(out);
  struct stat st;
  cr_assert_eq(stat(stats, &st), 0, "no --stats file");
}

/* The stats file's frontier_memory_peak. */
static long memory_peak(const char *stats) {
  char buf[8192] = "";
  FILE *f = fopen(stats, "r");
  cr_assert_not_null(f, "no --stats file %s", stats);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  const char *at = strstr(buf, "\"frontier_memory_peak\":");
  cr_assert_not_null(at, "no frontier_memory_peak in %s", buf);
  return strtol(at + strlen("\"frontier_memory_peak\":"), NULL, 10);
}

/* With --state and a small --frontier-memory, queued URLs wait in the state
 * database and are read back in order: the same exact set, with at most
 * the budget (plus one per host paging in while it is spent) in memory. */
Test(crawl, frontier_pages_to_disk, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], stats[800], state[800];
  path_in(out, sizeof out, work, "paged.jsonl");
  path_in(stats, sizeof stats, work, "paged-stats.json");
  path_in(state, sizeof state, work, "paged-state");
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--stats", stats,
                        "--state", state, "--frontier-memory", "5", "--quiet", "--concurrency", "32", seed, NULL};
  int rc = crawl_exec(argv, work, 100);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s/crawl.stderr)", rc, work);
  check_exact_set(out);
  long peak = memory_peak(stats);
  cr_assert(peak >= 1 && peak <= 5 + 4, "%ld queued URLs in memory at once with --frontier-memory 5 (4 hosts)", peak);
}

/* Without --state the overflow waits in a temporary file, which is gone
 * when the crawl ends (it is unlinked as soon as it is opened). */
Test(crawl, frontier_pages_to_a_temporary_file, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], stats[800], tmp[800];
  path_in(out, sizeof out, work, "spilled.jsonl");
  path_in(stats, sizeof stats, work, "spilled-stats.json");
  path_in(tmp, sizeof tmp, work, "tmp");
  cr_assert_eq(mkdir(tmp, 0700), 0);
  setenv("TMPDIR", tmp, 1);
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--stats", stats,
                        "--frontier-memory", "5", "--quiet", "--concurrency", "32", seed, NULL};
  int rc = crawl_exec(argv, work, 100);
  unsetenv("TMPDIR");
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s/crawl.stderr)", rc, work);
  check_exact_set(out);
  long peak = memory_peak(stats);
  cr_assert(peak >= 1 && peak <= 5 + 4, "%ld queued URLs in memory at once with --frontier-memory 5 (4 hosts)", peak);
  DIR *d = opendir(tmp);
  cr_assert_not_null(d);
  struct dirent *e;
  int left = 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) left++;
  closedir(d);
  cr_assert_eq(left, 0, "%d files left in TMPDIR after the crawl", left);
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

  /* --resolve instead of a DNS server: the name never reaches a resolver */
  path_in(out, sizeof out, work, "resolve.jsonl");
  char entry[128];
  snprintf(entry, sizeof entry, "h0.demo.test:%d:127.0.0.1", S.port);
  const char *a5[] = {"--resolve", entry, "--dns-server", "127.0.0.1:9", "--output", out, "--quiet", "--max-pages",
                      "20", seed, NULL};
  cr_assert_eq(crawl_exec(a5, work, 100), 0);
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.n, 20);
  for (size_t i = 0; i < o.n; i++) cr_assert(o.v[i].error == NULL, "%s: %s", o.v[i].url, o.v[i].error);
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
  /* --frontier-memory 3: most of the frontier waits in the state database,
   * and the resumed run reads it back from there too */
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--state", state,
                        "--quiet", "--delay", "0.01", "--per-host", "1", "--frontier-memory", "3", seed, NULL};
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
  demo_check_no_duplicates(&o);
  strset expected = {0}, got = {0};
  cr_assert_eq(strset_read_lines(&expected, path_in(p, sizeof p, site, "expected.txt")), 0);
  demo_urls_with_status(&o, 200, &got);
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
  const char *argv[] = {"--allow-domain", "demo.test", "--dns-server", dns_arg, "--output", out, "--progress",
                        "--delay", "0.05", "--per-host", "1", seed, NULL};
  pid_t pid = crawl_spawn(argv, work);
  cr_assert(pid > 0);
  for (int i = 0; i < 3000 && count_lines(out) < 10; i++) usleep(10000);
  usleep(1300000); /* into a file, the status line is written once a second */
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
  cr_assert(strstr(buf, " queued, ") && strstr(buf, " in flight, "), "no --progress status line: %s", buf);
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

/* ------------------------------------------- politeness, at the server */

/* A spindle server in this process that counts its open connections and
 * notes when each request arrives. */
static atomic_int pol_open, pol_max, pol_requests;
static _Atomic uint64_t pol_arrivals[4096]; /* read by the test thread */
static int pol_fd;
static uint16_t pol_port;

static void pol_respond(int fd, int status, const char *type, const char *body) {
  char head[256];
  int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status, type,
                   strlen(body));
  sp_write(fd, head, (size_t)n, SEC(5));
  sp_write(fd, body, strlen(body), SEC(5));
}

static void *pol_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  int now = atomic_fetch_add(&pol_open, 1) + 1;
  for (int m = atomic_load(&pol_max); now > m && !atomic_compare_exchange_weak(&pol_max, &m, now);) {
  }
  char buf[4096];
  size_t have = 0;
  for (;;) {
    ssize_t r = sp_read(fd, buf + have, sizeof buf - 1 - have, SEC(30));
    if (r <= 0) break;
    have += (size_t)r;
    buf[have] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    int k = atomic_fetch_add(&pol_requests, 1);
    if (k < 4096) atomic_store(&pol_arrivals[k], sp_now_ns());
    char path[256] = "";
    sscanf(buf, "GET %255s", path);
    if (strcmp(path, "/") == 0) {
      static char index[4096];
      size_t off = (size_t)snprintf(index, sizeof index, "<html><body>");
      for (int i = 0; i < 60; i++) off += (size_t)snprintf(index + off, sizeof index - off, "<a href=\"/p/%d\">%d</a>", i, i);
      snprintf(index + off, sizeof index - off, "</body></html>");
      pol_respond(fd, 200, "text/html", index);
    } else if (strncmp(path, "/p/", 3) == 0) {
      sp_sleep(MS(20)); /* slow enough for requests to overlap */
      pol_respond(fd, 200, "text/html", "<html><body>leaf</body></html>");
    } else {
      pol_respond(fd, 404, "text/plain", "no\n");
    }
    size_t used = (size_t)(end + 4 - buf);
    memmove(buf, buf + used, have - used);
    have -= used;
  }
  close(fd);
  atomic_fetch_sub(&pol_open, 1);
  return NULL;
}

static void *pol_server(void *arg) {
  (void)arg;
  for (;;) {
    int c = sp_accept(pol_fd, NULL, NULL, UINT64_MAX);
    if (c < 0) break; /* cancelled at shutdown */
    sp_task *t;
    if (sp_spawn(&t, pol_conn, (void *)(intptr_t)c) == 0) sp_detach(t);
  }
  return NULL;
}

/* A crawl of the politeness server, of at most max_pages (61: all). */
static void pol_crawl_pages(const char *per_host, const char *delay, const char *tag, const char *max_pages) {
  atomic_store(&pol_open, 0);
  atomic_store(&pol_max, 0);
  atomic_store(&pol_requests, 0);
  char dir[800], out[900], url[64];
  snprintf(dir, sizeof dir, "%s/pol-%s", fx_tmpdir(), tag);
  mkdir(dir, 0755);
  snprintf(out, sizeof out, "%s/out.jsonl", dir);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", pol_port);
  const char *argv[] = {"--per-host", per_host, "--delay",  delay, "--concurrency", "32", "--quiet",
                        "--output",   out,      "--max-pages", max_pages, url, NULL};
  int rc = crawl_exec(argv, dir, 60);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s)", rc, dir);
  cr_assert_eq(count_lines(out), atol(max_pages), "%ld pages, expected %s", count_lines(out), max_pages);
}

static void pol_crawl(const char *per_host, const char *delay, const char *tag) {
  pol_crawl_pages(per_host, delay, tag, "61");
}

/* --per-host N: never more than N connections open at the server at once
 * (each host's transfers share one connection pool); --delay spaces the
 * requests to one host. */
Test(crawl, politeness_at_the_server, .timeout = 120) {
  sp_runtime *rt;
  cr_assert_eq(sp_runtime_new(NULL, &rt), 0);
  pol_fd = sp_listen_tcp("127.0.0.1", 0, 128, &pol_port);
  cr_assert(pol_fd >= 0);
  sp_task *srv;
  cr_assert_eq(sp_runtime_spawn(rt, &srv, NULL, pol_server, NULL), 0);

  pol_crawl("2", "0", "two");
  cr_assert(atomic_load(&pol_max) >= 1 && atomic_load(&pol_max) <= 2, "%d connections at once with --per-host 2",
            atomic_load(&pol_max));
  pol_crawl("5", "0", "five");
  cr_assert(atomic_load(&pol_max) <= 5, "%d connections at once with --per-host 5", atomic_load(&pol_max));
  cr_assert(atomic_load(&pol_max) >= 2, "only %d connection with --per-host 5: no parallelism", atomic_load(&pol_max));
  pol_crawl("4", "0.03", "delay");
  /* Measured at the server, so with the jitter of the way there: the first
   * request (robots.txt) also opens the connection and sets up the
   * worker's HTTP state, which under TSan takes tens of ms, so the gaps
   * are checked from the first page on: no two requests in a burst, and
   * all of them spread over at least every gap but 20 ms (less than one
   * gap, so one missing gap shows). */
  int n = atomic_load(&pol_requests);
  cr_assert(n == 62, "%d requests (robots.txt, /, 60 pages)", n);
  for (int i = 2; i < n && i < 4096; i++)
    cr_assert(pol_arrivals[i] - pol_arrivals[i - 1] >= MS(10), "requests %d and %d %.1f ms apart with --delay 0.03",
              i - 1, i, (double)(pol_arrivals[i] - pol_arrivals[i - 1]) / 1e6);
  uint64_t span = pol_arrivals[n - 1] - pol_arrivals[1];
  cr_assert(span + MS(20) >= (uint64_t)(n - 2) * MS(30), "%d requests within %.0f ms with --delay 0.03", n - 1,
            (double)span / 1e6);
  /* robots.txt to the first page: a delay far longer than what the first
   * connection's setup can take off it. */
  pol_crawl_pages("4", "0.3", "first-gap", "1");
  cr_assert_eq(atomic_load(&pol_requests), 2, "%d requests (robots.txt, /)", atomic_load(&pol_requests));
  cr_assert(pol_arrivals[1] - pol_arrivals[0] >= MS(150), "robots.txt and the first page %.1f ms apart with --delay 0.3",
            (double)(pol_arrivals[1] - pol_arrivals[0]) / 1e6);

  sp_cancel(srv);
  cr_assert_eq(sp_join(srv, NULL), 0);
  close(pol_fd);
  cr_assert_eq(sp_runtime_free(rt), 0);
}

/* ------------------------------------------------------ hostile servers */

static fx_server hostile;
static void start_hostile(void) { cr_assert_eq(fx_fault_start(&hostile), 0, "fault server did not start"); }

/* Redirect loops, endless and trickling bodies, a compression bomb,
 * truncated and malformed responses, silence, garbage as HTML, markup that
 * fails an assertion inside gumbo and a link trap: the crawl ends in
 * bounded time and memory, each is recorded, and the crawl goes on. */
Test(crawl, hostile_servers, .init = start_hostile, .fini = stop_site, .timeout = 180) {
  char dir[800], out[900], seedurl[128];
  snprintf(dir, sizeof dir, "%s/hostile", fx_tmpdir());
  mkdir(dir, 0755);
  snprintf(out, sizeof out, "%s/out.jsonl", dir);
  fx_url(seedurl, sizeof seedurl, &hostile, "/hostile");
  const char *argv[] = {"--timeout", "3", "--retries", "1", "--max-bytes", "1M", "--max-depth", "8", "--per-host",
                        "16", "--concurrency", "16", "--quiet", "--output", out, seedurl, NULL};
  int rc = crawl_exec(argv, dir, 150);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s)", rc, dir);
  cr_assert(crawl_last_maxrss_kb < 200 * 1024, "peak RSS %ld KB", crawl_last_maxrss_kb);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.bad, 0);
  static const struct {
    const char *path;
    bool ok; /* a response is fine; otherwise an error must be recorded */
  } want[] = {
      {"/ok", true},          {"/redirect-loop", true}, {"/endless", false},          {"/trickle", false},
      {"/gzip-bomb", false},  {"/bad-gzip", false},     {"/cut-headers", false},      {"/reset-mid-body", false},
      {"/never", false},      {"/empty-reply", false},  {"/hang-after-headers", false}, {"/garbage", true},
      {"/gumbo-assert", true}, /* the parse is abandoned, not the crawl */
  };
  for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
    bool found = false;
    for (size_t i = 0; i < o.n && !found; i++) {
      const char *p = strstr(o.v[i].url, want[w].path);
      if (!p || (p[strlen(want[w].path)] != '\0' && p[strlen(want[w].path)] != '?')) continue;
      found = true;
      if (want[w].ok)
        cr_assert(o.v[i].error == NULL, "%s: error %s", o.v[i].url, o.v[i].error);
      else
        cr_assert(o.v[i].error != NULL, "%s: no error recorded (status %ld, %ld bytes)", o.v[i].url, o.v[i].status,
                  o.v[i].bytes);
    }
    cr_assert(found, "no output line for %s", want[w].path);
  }
  long trap = 0, loop = 0, maxd = 0;
  for (size_t i = 0; i < o.n; i++) {
    if (strstr(o.v[i].url, "/trap")) trap++;
    if (strstr(o.v[i].url, "/redirect-loop")) loop++;
    if (o.v[i].depth > maxd) maxd = o.v[i].depth;
  }
  /* every trap page leads to new URLs: only --max-depth ends it */
  cr_assert(trap >= 8 && maxd == 8, "link trap: %ld pages, depth %ld", trap, maxd);
  cr_assert_eq(loop, 1, "the redirect loop was fetched %ld times (its target is itself: seen)", loop);
  crawl_out_free(&o);
}

/* ------------------------------------------------ edges found in review */

static void read_file(const char *path, char *buf, size_t n) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t k = fread(buf, 1, n - 1, f);
  buf[k] = '\0';
  fclose(f);
}

/* An IPv6 host is crawled (its robots.txt URL keeps the brackets). */
Test(crawl, ipv6_host, .timeout = 60) {
  sp_runtime *rt;
  cr_assert_eq(sp_runtime_new(NULL, &rt), 0);
  pol_fd = sp_listen_tcp("::1", 0, 128, &pol_port);
  cr_assert(pol_fd >= 0, "no IPv6 loopback here: %s", sp_strerror(pol_fd));
  sp_task *srv;
  cr_assert_eq(sp_runtime_spawn(rt, &srv, NULL, pol_server, NULL), 0);
  char dir[800], out[900], url[64];
  snprintf(dir, sizeof dir, "%s/v6", fx_tmpdir());
  mkdir(dir, 0755);
  snprintf(out, sizeof out, "%s/out.jsonl", dir);
  snprintf(url, sizeof url, "http://[::1]:%u/", pol_port);
  const char *argv[] = {"--quiet", "--max-pages", "10", "--output", out, url, NULL};
  cr_assert_eq(crawl_exec(argv, dir, 60), 0);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.n, 10);
  for (size_t i = 0; i < o.n; i++) cr_assert(o.v[i].status == 200 && strstr(o.v[i].url, "[::1]"), "%s", o.v[i].url);
  crawl_out_free(&o);
  sp_cancel(srv);
  sp_join(srv, NULL);
  close(pol_fd);
  cr_assert_eq(sp_runtime_free(rt), 0);
}

/* A retry still waiting when the page limit stops the crawl is written
 * with its last attempt's outcome, not lost; output that cannot be written
 * makes the exit status 1; an unreachable host's robots.txt is reported. */
Test(crawl, retries_limits_and_failures, .init = start_hostile, .fini = stop_site, .timeout = 120) {
  char dir[800], out[900], url[256], err[900], buf[8192];
  snprintf(dir, sizeof dir, "%s/edges", fx_tmpdir());
  mkdir(dir, 0755);
  snprintf(out, sizeof out, "%s/out.jsonl", dir);
  snprintf(err, sizeof err, "%s/crawl.stderr", dir);
  fx_url(url, sizeof url, &hostile, "/status?code=503");
  const char *a1[] = {"--quiet", "--retries", "1", "--max-pages", "1", "--output", out, url, NULL};
  cr_assert_eq(crawl_exec(a1, dir, 60), 0);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.n, 1, "%zu lines for one page that kept failing", o.n);
  cr_assert_eq(o.v[0].status, 503);
  crawl_out_free(&o);

  fx_url(url, sizeof url, &hostile, "/ok");
  const char *a2[] = {"--quiet", "--output", "/dev/full", url, NULL};
  cr_assert_eq(crawl_exec(a2, dir, 60), 1, "output lost, yet exit 0");

  /* Nothing answered at all: exit 4, and the summary says the host could
   * not be reached rather than that robots.txt disallowed it. */
  unlink(err);
  const char *a3[] = {"--retries", "0", "http://127.0.0.1:1/", NULL};
  int rc = crawl_exec(a3, dir, 60);
  read_file(err, buf, sizeof buf);
  cr_assert_eq(rc, 4, "a crawl whose only host refused connections exited %d: %s", rc, buf);
  cr_assert(strstr(buf, "1 host could not be reached (http://127.0.0.1:1/robots.txt: "), "summary: %s", buf);
  cr_assert(strstr(buf, "1 URL not crawled"), "summary: %s", buf);
  cr_assert(strstr(buf, "0 disallowed by robots.txt"), "the seed was filed as disallowed: %s", buf);
}
