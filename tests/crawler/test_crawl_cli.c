/* test_crawl_cli.c - spindle-crawl end to end, one behaviour per test:
 * redirects, retries, DNS failures, flags, Crawl-delay, output fields,
 * WARC, SIGINT, the progress line, hostile headers, URLs as found,
 * keep-alive.
 *
 * Servers: nginx (a small site with redirects, its access log counts
 * requests), the fault server (also as a scripted DNS server), and
 * "lsrv", a logging HTTP/1.1 server in this process (plain pthreads) for
 * what nginx cannot log through the fixture (log_format is only allowed in
 * nginx's http{} block, and extra_conf goes inside server{}): arrival
 * times, connections, requests in flight, request headers. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"
#include "crawler/crawl_harness.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh directory for one run (crawl_spawn appends to its files). */
static char *workdir(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", fx_tmpdir(), name);
  cr_assert(mkdir(buf, 0755) == 0, "mkdir %s", buf);
  return buf;
}

static char *in_dir(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}

/* The whole file, malloc'd ("" if missing). */
static char *slurp(const char *path) {
  char *s = file_read(path, NULL);
  return s ? s : strdup("");
}

static char *run_stderr(const char *dir) {
  char p[900];
  return slurp(in_dir(p, sizeof p, dir, "crawl.stderr"));
}

/* Lines of a file that contain needle. */
static int count_matching(const char *path, const char *needle) {
  char *s = slurp(path);
  int n = 0;
  for (char *line = s, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (strstr(line, needle)) n++;
  }
  free(s);
  return n;
}

/* The output line whose url is exactly url, or NULL. */
static const crawl_line *line_for(const crawl_out *o, const char *url) {
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->v[i].url, url) == 0) return &o->v[i];
  return NULL;
}

static const crawl_line *need_line(const crawl_out *o, const char *url) {
  const crawl_line *l = line_for(o, url);
  cr_assert_not_null(l, "no output line for %s (%zu lines)", url, o->n);
  return l;
}

/* A JSON file (--stats), parsed. */
static json_t *read_json(const char *path) {
  json_error_t e;
  json_t *j = json_load_file(path, 0, &e);
  cr_assert_not_null(j, "%s: %s", path, e.text);
  return j;
}

static long jint(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  cr_assert(json_is_integer(v), "no integer %s in the stats", k);
  return (long)json_integer_value(v);
}

/* ------------------------------------------------------ the nginx site */

static fx_server web, fault;
static char www[700], base[128], seed[160], other_resolve[128];

#define BIG_LEN 300000

static const char site_conf[] =
    "location = /r/in { return 302 /target.html; }\n"
    "location = /r/out { return 302 http://other.test:$server_port/x.html; }\n"
    "location = /r/robots { return 302 /private/secret.html; }\n"
    "location = /r/seen { return 302 /a.html; }\n"
    "location = /r/c1 { return 302 /r/c2; }\n"
    "location = /r/c2 { return 302 /r/c3; }\n"
    "location = /r/c3 { return 302 /chain-end.html; }\n";

static char index_html[2048];
static const char a_html[] = "<html><body><a href=\"b.html\">b</a> <a href=\"/\">home</a> <a href=\"d.html\">d</a>"
                             "</body></html>\n";
static const char leaf_html[] = "<html><body>leaf</body></html>\n";

static void put(const char *name, const void *data, size_t len) {
  char p[900];
  snprintf(p, sizeof p, "%s/%s", www, name);
  cr_assert_eq(fx_write_file(p, data, len), 0, "cannot write %s", p);
}

/* The site: index -> pages, a binary, a 404, redirects in scope, out of
 * scope, to a disallowed path, to a page seen already, a 3-hop chain, and
 * three spellings of one URL (/~c.html?q=~). */
static void start_site(void) {
  snprintf(www, sizeof www, "%s/www", fx_tmpdir());
  cr_assert_eq(mkdir(www, 0755), 0);
  cr_assert_eq(fx_nginx_start(&web, www, site_conf), 0, "nginx did not start");
  fx_url(base, sizeof base, &web, "");
  snprintf(seed, sizeof seed, "%s/", base);
  snprintf(other_resolve, sizeof other_resolve, "other.test:%d:127.0.0.1", web.port);
  snprintf(index_html, sizeof index_html,
           "<html><head><title>i</title></head><body>\n"
           "<a href=\"/a.html\">a</a> <a href=\"/b.html\">b</a> <a href=\"/big.bin\">big</a>\n"
           "<a href=\"/missing.html\">m</a> <a href=\"/r/in\">in</a> <a href=\"/r/out\">out</a>\n"
           "<a href=\"/r/robots\">robots</a> <a href=\"/r/seen\">seen</a> <a href=\"/r/c1\">chain</a>\n"
           "<a href=\"/%%7ec.html?q=%%7e\">c</a> <a href=\"/~c.html?q=~\">c</a>\n"
           "<a href=\"HTTP://127.0.0.1:%d/%%7Ec.html?q=%%7E\">c</a>\n"
           "</body></html>\n",
           web.port);
  put("index.html", index_html, strlen(index_html));
  put("a.html", a_html, strlen(a_html));
  const char *leaves[] = {"b.html", "d.html", "target.html", "chain-end.html", "x.html", "private/secret.html",
                          "~c.html"};
  for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++) put(leaves[i], leaf_html, strlen(leaf_html));
  static char big[BIG_LEN];
  memset(big, 'z', sizeof big);
  put("big.bin", big, sizeof big);
  const char robots[] = "User-agent: *\nDisallow: /private/\n";
  put("robots.txt", robots, strlen(robots));
}

static void stop_all(void) { fx_stop_all(); }

/* What a full crawl of the site must attempt: path and status. */
static const struct {
  const char *path;
  long status;
} site_set[] = {
    {"/", 200},         {"/a.html", 200},         {"/b.html", 200},        {"/d.html", 200},
    {"/big.bin", 200},  {"/missing.html", 404},   {"/r/in", 302},          {"/target.html", 200},
    {"/r/out", 302},    {"/r/robots", 302},       {"/r/seen", 302},        {"/r/c1", 302},
    {"/r/c2", 302},     {"/r/c3", 302},           {"/chain-end.html", 200}, {"/%7ec.html?q=%7e", 200},
};
#define SITE_N (sizeof site_set / sizeof *site_set)

static char *site_url(char *buf, size_t n, const char *path) {
  snprintf(buf, n, "%s%s", base, path);
  return buf;
}

/* The access log's request lines for a path, exactly ("GET path "). */
static int requests_for(const char *path) {
  char log[900], needle[600];
  snprintf(log, sizeof log, "%s/access.log", web.dir);
  snprintf(needle, sizeof needle, "\"GET %s HTTP/1.1\"", path);
  return count_matching(log, needle);
}

/* Runs a crawl of the site in a new directory; its output read into o. */
static void crawl_site(const char *name, const char *const *extra, crawl_out *o, char *dir, size_t ndir) {
  char out[900];
  workdir(dir, ndir, name);
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[40];
  size_t k = 0;
  argv[k++] = "--quiet";
  argv[k++] = "--output";
  argv[k++] = out;
  argv[k++] = "--resolve";
  argv[k++] = other_resolve;
  for (; extra && *extra && k < 36; extra++) argv[k++] = *extra;
  argv[k++] = seed;
  argv[k] = NULL;
  int rc = crawl_exec(argv, dir, 60);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s/crawl.stderr)", rc, dir);
  cr_assert_eq(crawl_out_read(o, out), 0);
  cr_assert_eq(o->bad, 0, "%zu malformed output lines", o->bad);
}

/* The crawl attempted exactly the site's set, each URL once. */
static void check_site_set(const crawl_out *o) {
  char u[600];
  for (size_t i = 0; i < SITE_N; i++) {
    const crawl_line *l = need_line(o, site_url(u, sizeof u, site_set[i].path));
    cr_assert_eq(l->status, site_set[i].status, "%s: status %ld", u, l->status);
  }
  cr_assert_eq(o->n, SITE_N, "%zu lines, expected %zu", o->n, SITE_N);
}

/* Redirects are followed by the crawler as new URLs: the target of an
 * in-scope 3xx gets its own line (depth of the redirecting URL, which is
 * its referrer); a target out of scope, disallowed by robots.txt or seen
 * already is not fetched; a 3-hop chain is followed to its end. */
Test(cli, redirects_followed_by_the_crawler, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600], r[600];
  crawl_site("redir", NULL, &o, dir, sizeof dir);
  check_site_set(&o);
  const crawl_line *in = need_line(&o, site_url(u, sizeof u, "/r/in"));
  cr_assert_eq(in->error, NULL);
  cr_assert(in->redirect && strcmp(in->redirect, site_url(r, sizeof r, "/target.html")) == 0, "redirect %s",
            in->redirect);
  const crawl_line *t = need_line(&o, r);
  cr_assert_eq(t->depth, in->depth, "target depth %ld, redirect's %ld", t->depth, in->depth);
  cr_assert(t->referrer && strcmp(t->referrer, in->url) == 0, "target's referrer %s", t->referrer);
  cr_assert_eq(requests_for("/target.html"), 1);
  /* out of scope: other.test resolves to nginx, yet is not asked */
  const crawl_line *out = need_line(&o, site_url(u, sizeof u, "/r/out"));
  cr_assert(out->redirect && strstr(out->redirect, "://other.test:"), "redirect %s", out->redirect);
  for (size_t i = 0; i < o.n; i++) cr_assert(!strstr(o.v[i].url, "other.test"), "fetched %s", o.v[i].url);
  cr_assert_eq(requests_for("/x.html"), 0, "the out-of-scope redirect target was fetched");
  /* disallowed by robots.txt */
  cr_assert_eq(requests_for("/private/secret.html"), 0, "a redirect led into /private/");
  /* seen already: /a.html is asked once, though linked and redirected to */
  cr_assert_eq(requests_for("/a.html"), 1, "/a.html fetched %d times", requests_for("/a.html"));
  /* the chain, each hop one deeper in redirects but not in depth */
  const crawl_line *end = need_line(&o, site_url(u, sizeof u, "/chain-end.html"));
  cr_assert_eq(end->depth, 1);
  cr_assert(end->referrer && strstr(end->referrer, "/r/c3"), "chain end's referrer %s", end->referrer);
  crawl_out_free(&o);
}

/* --max-redirects N follows at most N hops of a chain: with 2, /r/c1 ->
 * /r/c2 -> /r/c3 and no further; with 0, none. */
Test(cli, max_redirects_bounds_a_chain, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600];
  const char *two[] = {"--max-redirects", "2", NULL};
  crawl_site("redir2", two, &o, dir, sizeof dir);
  need_line(&o, site_url(u, sizeof u, "/r/c3"));
  cr_assert_null(line_for(&o, site_url(u, sizeof u, "/chain-end.html")), "a third hop with --max-redirects 2");
  cr_assert_eq(requests_for("/chain-end.html"), 0);
  need_line(&o, site_url(u, sizeof u, "/target.html")); /* one hop: still followed */
  crawl_out_free(&o);

  const char *zero[] = {"--max-redirects", "0", NULL};
  crawl_site("redir0", zero, &o, dir, sizeof dir);
  need_line(&o, site_url(u, sizeof u, "/r/c1"));
  cr_assert_null(line_for(&o, site_url(u, sizeof u, "/r/c2")), "a hop with --max-redirects 0");
  cr_assert_null(line_for(&o, site_url(u, sizeof u, "/target.html")), "a hop with --max-redirects 0");
  crawl_out_free(&o);
}

/* --any-host: the redirect to other.test is followed (its own robots.txt,
 * then the page), so scope is what held it back without the flag. */
Test(cli, any_host_follows_other_hosts, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600];
  const char *any[] = {"--any-host", NULL};
  crawl_site("any", any, &o, dir, sizeof dir);
  snprintf(u, sizeof u, "http://other.test:%d/x.html", web.port);
  const crawl_line *x = need_line(&o, u);
  cr_assert_eq(x->status, 200);
  cr_assert_eq(requests_for("/x.html"), 1);
  cr_assert_eq(o.n, SITE_N + 1);
  crawl_out_free(&o);
}

/* Every "fetch_ms" in the file at path is written as milliseconds with at
 * most three decimals (microseconds), never a double's binary expansion
 * such as 0.34399999999999997: the count of those seen. */
static int fetch_ms_written_exactly(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert(f, "%s: %s", path, strerror(errno));
  char line[8192];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "\"fetch_ms\":");
    if (!p) continue;
    p += strlen("\"fetch_ms\":");
    size_t whole = strspn(p, "0123456789"), frac = 0;
    if (p[whole] == '.') frac = strspn(p + whole + 1, "0123456789");
    const char *end = p + whole + (p[whole] == '.' ? 1 + frac : 0);
    cr_assert(whole > 0 && frac <= 3 && (*end == ',' || *end == '}'), "fetch_ms written as %.30s", p);
    n++;
  }
  fclose(f);
  return n;
}

/* Every field of an output line: url as found, final_url, status,
 * content_type, bytes (decoded: the file's size, though nginx gzips
 * HTML), depth, referrer, links (links on the page), fetch_ms (to the
 * microsecond), ip; a failure has error, error_code and message; a 404 is
 * no error. */
Test(cli, output_line_fields, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600];
  const char *mb[] = {"--max-bytes", "100K", NULL};
  crawl_site("fields", mb, &o, dir, sizeof dir);
  const crawl_line *ix = need_line(&o, seed);
  cr_assert_str_eq(ix->final_url, seed);
  cr_assert_eq(ix->status, 200);
  cr_assert(ix->content_type && strncmp(ix->content_type, "text/html", 9) == 0, "content_type %s",
            ix->content_type);
  cr_assert_eq(ix->bytes, (long)strlen(index_html), "bytes %ld, the file has %zu", ix->bytes, strlen(index_html));
  cr_assert_eq(ix->depth, 0);
  cr_assert_null(ix->referrer);
  cr_assert_eq(ix->links, 12, "links %ld, the page has 12", ix->links);
  cr_assert(ix->fetch_ms > 0, "fetch_ms %f", ix->fetch_ms);
  cr_assert(ix->ip && strcmp(ix->ip, "127.0.0.1") == 0, "ip %s", ix->ip);
  cr_assert_null(ix->error);
  cr_assert_null(ix->redirect);

  const crawl_line *a = need_line(&o, site_url(u, sizeof u, "/a.html"));
  cr_assert_eq(a->bytes, (long)strlen(a_html));
  cr_assert_eq(a->depth, 1);
  cr_assert(a->referrer && strcmp(a->referrer, seed) == 0, "referrer %s", a->referrer);
  cr_assert_eq(a->links, 3);
  const crawl_line *d = need_line(&o, site_url(u, sizeof u, "/d.html"));
  cr_assert_eq(d->depth, 2);
  cr_assert(d->referrer && strcmp(d->referrer, a->url) == 0, "referrer %s", d->referrer);
  cr_assert_eq(d->links, 0);

  const crawl_line *m = need_line(&o, site_url(u, sizeof u, "/missing.html"));
  cr_assert_eq(m->status, 404);
  cr_assert_null(m->error, "a 404 is an answer, not an error: %s", m->error);

  /* --max-bytes 100K: the 300000-byte file fails as too_big */
  const crawl_line *big = need_line(&o, site_url(u, sizeof u, "/big.bin"));
  cr_assert(big->error && strcmp(big->error, "too_big") == 0, "big.bin: error %s, %ld bytes", big->error, big->bytes);
  cr_assert(big->error_code < 0, "error_code %ld", big->error_code);
  cr_assert(big->message && *big->message, "no message");
  char out[900];
  in_dir(out, sizeof out, dir, "out.jsonl");
  cr_assert_eq(fetch_ms_written_exactly(out), (int)o.n, "a line without fetch_ms");
  crawl_out_free(&o);
}

/* --max-bytes N applies below the 10M default: without it the same file
 * is fetched whole. */
Test(cli, max_bytes_default_and_flag, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600];
  crawl_site("bytes-default", NULL, &o, dir, sizeof dir);
  const crawl_line *big = need_line(&o, site_url(u, sizeof u, "/big.bin"));
  cr_assert_null(big->error, "big.bin: %s", big->error);
  cr_assert_eq(big->bytes, BIG_LEN);
  cr_assert(big->content_type && strcmp(big->content_type, "application/octet-stream") == 0);
  crawl_out_free(&o);
  const char *mb[] = {"--max-bytes", "299999", NULL};
  crawl_site("bytes-limit", mb, &o, dir, sizeof dir);
  big = need_line(&o, site_url(u, sizeof u, "/big.bin"));
  cr_assert(big->error && strcmp(big->error, "too_big") == 0, "one byte over --max-bytes: error %s", big->error);
  crawl_out_free(&o);
}

/* The summary on stderr and --stats agree with the output lines. */
Test(cli, summary_and_stats, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], out[900], stats[900];
  workdir(dir, sizeof dir, "stats");
  in_dir(out, sizeof out, dir, "out.jsonl");
  in_dir(stats, sizeof stats, dir, "stats.json");
  const char *argv[] = {"--output", out, "--stats", stats, "--max-bytes", "100K", "--resolve", other_resolve, seed,
                        NULL};
  cr_assert_eq(crawl_exec(argv, dir, 60), 0);
  cr_assert_eq(crawl_out_read(&o, out), 0);
  long ok = 0, redir = 0, c4 = 0, failed = 0, bytes = 0;
  for (size_t i = 0; i < o.n; i++) {
    const crawl_line *l = &o.v[i];
    bytes += l->bytes;
    if (l->error) failed++;
    else if (l->status >= 400) c4++;
    else if (l->status >= 300) redir++;
    else ok++;
  }
  cr_assert_eq(o.n, SITE_N);
  cr_assert(ok == 7 && redir == 7 && c4 == 1 && failed == 1, "ok %ld, redirects %ld, 4xx %ld, failed %ld", ok, redir,
            c4, failed);
  json_t *s = read_json(stats);
  cr_assert_eq(jint(s, "pages"), (long)o.n);
  cr_assert_eq(jint(s, "ok"), ok);
  cr_assert_eq(jint(s, "redirects"), redir);
  cr_assert_eq(jint(s, "client_errors"), c4);
  cr_assert_eq(jint(s, "server_errors"), 0);
  cr_assert_eq(jint(s, "failed"), failed);
  cr_assert_eq(jint(s, "bytes"), bytes, "stats bytes %ld, lines sum to %ld", jint(s, "bytes"), bytes);
  cr_assert_eq(jint(json_object_get(s, "errors"), "too_big"), 1);
  cr_assert_eq(jint(json_object_get(s, "errors"), "timeout"), 0);
  cr_assert_eq(jint(s, "robots_skipped"), 1, "the redirect into /private/");
  cr_assert_eq(jint(s, "retries"), 0);
  cr_assert_eq(jint(s, "queued"), 0);
  cr_assert(json_is_false(json_object_get(s, "interrupted")));
  cr_assert(json_number_value(json_object_get(s, "seconds")) > 0);
  cr_assert(json_number_value(json_object_get(s, "pages_per_second")) > 0);
  json_decref(s);
  char *err = run_stderr(dir), want[1000];
  snprintf(want, sizeof want, "spindle-crawl: %zu pages in ", o.n);
  cr_assert(strstr(err, want), "summary: %s", err);
  cr_assert(strstr(err, " pages/s), "), "no pages/s: %s", err);
  snprintf(want, sizeof want, "%ld ok, %ld redirects, %ld client errors (4xx), 0 server errors (5xx), %ld failed (too_big 1)",
           ok, redir, c4, failed);
  cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
  cr_assert(strstr(err, "1 disallowed by robots.txt"), "%s", err);
  snprintf(want, sizeof want, "  output: %s", out);
  cr_assert(strstr(err, want), "%s", err);
  free(err);
  crawl_out_free(&o);
}

/* --include keeps only matching URLs (the seed included), --exclude drops
 * matching ones; checked at the server too. */
Test(cli, include_and_exclude, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600];
  const char *inc[] = {"--include", "/$|/[ab]\\.html$", NULL};
  crawl_site("include", inc, &o, dir, sizeof dir);
  cr_assert_eq(o.n, 3, "%zu lines with --include", o.n);
  need_line(&o, seed);
  need_line(&o, site_url(u, sizeof u, "/a.html"));
  need_line(&o, site_url(u, sizeof u, "/b.html"));
  cr_assert_eq(requests_for("/d.html"), 0);
  cr_assert_eq(requests_for("/r/in"), 0);
  crawl_out_free(&o);

  const char *exc[] = {"--exclude", "/r/|\\.bin$", NULL};
  crawl_site("exclude", exc, &o, dir, sizeof dir);
  for (size_t i = 0; i < o.n; i++)
    cr_assert(!strstr(o.v[i].url, "/r/") && !strstr(o.v[i].url, ".bin"), "excluded, yet fetched: %s", o.v[i].url);
  need_line(&o, site_url(u, sizeof u, "/d.html"));
  /* gone: 7 redirects, the 2 pages only they lead to, big.bin */
  cr_assert_eq(o.n, SITE_N - 10, "%zu lines with --exclude", o.n);
  crawl_out_free(&o);
}

/* --workers 1 and --workers 3 attempt the same exact set. */
Test(cli, workers_same_exact_set, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800];
  const char *w1[] = {"--workers", "1", NULL};
  crawl_site("w1", w1, &o, dir, sizeof dir);
  check_site_set(&o);
  crawl_out_free(&o);
  const char *w3[] = {"--workers", "3", "--concurrency", "8", NULL};
  crawl_site("w3", w3, &o, dir, sizeof dir);
  check_site_set(&o);
  crawl_out_free(&o);
}

/* The URL fetched is the one found (percent-encoding as written), while
 * its normalised key dedupes the other spellings of it. */
Test(cli, url_fetched_as_found, .init = start_site, .fini = stop_all, .timeout = 90) {
  crawl_out o;
  char dir[800], u[600];
  crawl_site("asfound", NULL, &o, dir, sizeof dir);
  need_line(&o, site_url(u, sizeof u, "/%7ec.html?q=%7e"));
  cr_assert_null(line_for(&o, site_url(u, sizeof u, "/~c.html?q=~")), "a second spelling was fetched");
  for (size_t i = 0; i < o.n; i++) cr_assert(strncmp(o.v[i].url, "HTTP:", 5) != 0, "fetched %s", o.v[i].url);
  cr_assert_eq(requests_for("/%7ec.html?q=%7e"), 1, "not asked as found");
  cr_assert_eq(requests_for("/~c.html?q=~"), 0, "asked for the normalised key");
  cr_assert_eq(requests_for("/%7Ec.html?q=%7E"), 0, "asked for another spelling");
  crawl_out_free(&o);
}

/* --warc: one request and one response record per URL answered, each
 * with its URL as target, read back by warcio. */
Test(cli, warc_of_a_real_crawl, .init = start_site, .fini = stop_all, .timeout = 120) {
  char err[4096];
  cr_assert_eq(warcio_ensure(err, sizeof err), 0, "%s", err);
  const char *npm = warcio_npm_dir();
  crawl_out o;
  char dir[800], warc[900];
  workdir(dir, sizeof dir, "warc-run");
  in_dir(warc, sizeof warc, dir, "crawl.warc.gz");
  const char *w[] = {"--warc", warc, "--max-bytes", "100K", NULL};
  crawl_site("warc", w, &o, dir, sizeof dir);
  char cmd[2600], script[600];
  char *copy = strdup(__FILE__);
  snprintf(script, sizeof script, "%s/warc_read.mjs", dirname(copy));
  free(copy);
  snprintf(cmd, sizeof cmd, "SPINDLE_NPM_DIR='%s' node '%s' '%s' > '%s/warcio.txt'", npm, script, warc, dir);
  cr_assert_eq(system(cmd), 0, "%s failed", cmd);
  char p[900];
  char *listing = slurp(in_dir(p, sizeof p, dir, "warcio.txt"));
  strset req = {0}, resp = {0}, want = {0};
  int nreq = 0, nresp = 0;
  for (char *line = listing, *next; *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    else next = line + strlen(line);
    char type[32], target[700], status[32], a[32], b[32], block[64], payload[64];
    if (sscanf(line, "%31[^\t]\t%699[^\t]\t%31[^\t]\t%31[^\t]\t%31[^\t]\t%63[^\t]\t%63[^\t]", type, target, status, a,
               b, block, payload) != 7)
      continue;
    if (strcmp(type, "request") == 0) {
      nreq++;
      strset_add(&req, target);
      cr_assert_str_eq(status, "GET");
    } else if (strcmp(type, "response") == 0) {
      nresp++;
      strset_add(&resp, target);
      cr_assert(strcmp(block, "ok") == 0 && strcmp(payload, "ok") == 0, "digests of %s: %s %s", target, block,
                payload);
    }
  }
  free(listing);
  strset_sort(&req);
  strset_sort(&resp);
  for (size_t i = 0; i < o.n; i++)
    if (!o.v[i].error) strset_add(&want, o.v[i].url);
  strset_sort(&want);
  cr_assert_eq(want.n, SITE_N - 1, "%zu answered URLs", want.n); /* big.bin failed: no record */
  cr_assert(nreq == (int)want.n && nresp == (int)want.n, "%d requests, %d responses for %zu URLs", nreq, nresp,
            want.n);
  size_t miss = strset_missing(&want, &resp, "no response record", 10) + strset_missing(&want, &req, "no request record", 10);
  cr_assert_eq(miss, 0);
  strset_free(&req);
  strset_free(&resp);
  strset_free(&want);
  crawl_out_free(&o);
}

/* ------------------------------------------ lsrv: a logging server here */

#define LS_MAX 1024

typedef struct ls_req {
  double t;      /* arrival (CLOCK_MONOTONIC, s) */
  int conn;      /* connection number, from 1 */
  char path[256];
  char ua[128];
  char xtest[64];
} ls_req;

static struct {
  pthread_mutex_t mu;
  int fd, port;
  pthread_t acceptor;
  bool stop;
  int nconn, live, inflight, max_inflight, nreq;
  ls_req req[LS_MAX];
  /* what it answers */
  int robots_status;
  const char *robots_body;
  int npages, page_ms;
} LS = {.mu = PTHREAD_MUTEX_INITIALIZER};

static bool ls_stopping(void) {
  pthread_mutex_lock(&LS.mu);
  bool s = LS.stop;
  pthread_mutex_unlock(&LS.mu);
  return s;
}

static void ls_sleep_ms(long ms) {
  for (; ms > 0 && !ls_stopping(); ms -= 10) usleep(10000);
}

static void ls_send(int fd, int status, const char *type, const char *body) {
  char head[256];
  int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status,
                   type, strlen(body));
  send(fd, head, (size_t)n, MSG_NOSIGNAL);
  send(fd, body, strlen(body), MSG_NOSIGNAL);
}

/* The value of header name in the header block h, into out. */
static void ls_header(const char *h, const char *name, char *out, size_t n) {
  out[0] = '\0';
  char pat[64];
  snprintf(pat, sizeof pat, "\r\n%s:", name);
  const char *p = strcasestr(h, pat);
  if (!p) return;
  p += strlen(pat);
  while (*p == ' ') p++;
  size_t k = strcspn(p, "\r\n");
  snprintf(out, n, "%.*s", (int)k, p);
}

static void ls_answer(int fd, const char *path) {
  if (strcmp(path, "/robots.txt") == 0) {
    ls_send(fd, LS.robots_status, "text/plain", LS.robots_body ? LS.robots_body : "");
  } else if (strcmp(path, "/") == 0) {
    static char index[8192];
    size_t off = (size_t)snprintf(index, sizeof index, "<html><body>");
    for (int i = 0; i < LS.npages && off < sizeof index - 64; i++)
      off += (size_t)snprintf(index + off, sizeof index - off, "<a href=\"/p/%d\">%d</a>", i, i);
    snprintf(index + off, sizeof index - off, "</body></html>");
    ls_send(fd, 200, "text/html", index);
  } else if (strncmp(path, "/p/", 3) == 0) {
    ls_sleep_ms(LS.page_ms);
    ls_send(fd, 200, "text/html", "<html><body>leaf</body></html>");
  } else if (strcmp(path, "/503") == 0) {
    ls_send(fd, 503, "text/plain", "busy\n");
  } else if (strncmp(path, "/hang?ms=", 9) == 0) {
    ls_sleep_ms(atol(path + 9));
    ls_send(fd, 200, "text/html", "<html><body>done</body></html>");
  } else {
    ls_send(fd, 404, "text/plain", "no\n");
  }
}

static void *ls_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  pthread_mutex_lock(&LS.mu);
  int id = ++LS.nconn;
  pthread_mutex_unlock(&LS.mu);
  char buf[8192];
  size_t have = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
    if (r <= 0) break;
    have += (size_t)r;
    buf[have] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) {
      if (have == sizeof buf - 1) break;
      continue;
    }
    end[2] = '\0'; /* the header block ends with its last "\r\n" */
    ls_req q = {.t = mono_s(), .conn = id};
    sscanf(buf, "GET %255s", q.path);
    ls_header(buf, "User-Agent", q.ua, sizeof q.ua);
    ls_header(buf, "X-Test", q.xtest, sizeof q.xtest);
    pthread_mutex_lock(&LS.mu);
    if (LS.nreq < LS_MAX) LS.req[LS.nreq++] = q;
    if (++LS.inflight > LS.max_inflight) LS.max_inflight = LS.inflight;
    pthread_mutex_unlock(&LS.mu);
    ls_answer(fd, q.path);
    pthread_mutex_lock(&LS.mu);
    LS.inflight--;
    pthread_mutex_unlock(&LS.mu);
    size_t used = (size_t)(end + 4 - buf);
    memmove(buf, buf + used, have - used);
    have -= used;
  }
  close(fd);
  pthread_mutex_lock(&LS.mu);
  LS.live--;
  pthread_mutex_unlock(&LS.mu);
  return NULL;
}

static void *ls_accept(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(LS.fd, NULL, NULL);
    if (c < 0) {
      if (ls_stopping()) return NULL;
      usleep(1000);
      continue;
    }
    pthread_mutex_lock(&LS.mu);
    LS.live++;
    pthread_mutex_unlock(&LS.mu);
    pthread_t t;
    if (pthread_create(&t, NULL, ls_conn, (void *)(intptr_t)c) == 0) {
      pthread_detach(t);
    } else {
      close(c);
      pthread_mutex_lock(&LS.mu);
      LS.live--;
      pthread_mutex_unlock(&LS.mu);
    }
  }
}

/* Starts lsrv on 127.0.0.1 with robots.txt answering robots_status and
 * robots_body, "/" linking to npages pages that each take page_ms. */
static void ls_start(int robots_status, const char *robots_body, int npages, int page_ms) {
  pthread_mutex_lock(&LS.mu);
  LS.stop = false;
  LS.nconn = LS.live = LS.inflight = LS.max_inflight = LS.nreq = 0;
  LS.robots_status = robots_status;
  LS.robots_body = robots_body;
  LS.npages = npages;
  LS.page_ms = page_ms;
  pthread_mutex_unlock(&LS.mu);
  LS.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert(LS.fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  cr_assert_eq(bind(LS.fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(LS.fd, 128), 0);
  cr_assert_eq(getsockname(LS.fd, (struct sockaddr *)&a, &al), 0);
  LS.port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&LS.acceptor, NULL, ls_accept, NULL), 0);
}

/* Stops accepting and waits (a while) for the connections to end. */
static void ls_stop(void) {
  pthread_mutex_lock(&LS.mu);
  LS.stop = true;
  pthread_mutex_unlock(&LS.mu);
  shutdown(LS.fd, SHUT_RDWR);
  pthread_join(LS.acceptor, NULL);
  close(LS.fd);
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&LS.mu);
    int live = LS.live;
    pthread_mutex_unlock(&LS.mu);
    if (!live) break;
    usleep(10000);
  }
}

static char *ls_url(char *buf, size_t n, const char *path) {
  snprintf(buf, n, "http://127.0.0.1:%d%s", LS.port, path);
  return buf;
}

/* A copy of the requests logged so far, in arrival order. */
static int ls_requests(ls_req *out) {
  pthread_mutex_lock(&LS.mu);
  int n = LS.nreq;
  memcpy(out, LS.req, (size_t)n * sizeof *out);
  pthread_mutex_unlock(&LS.mu);
  return n;
}

static int ls_count(const char *path) {
  static ls_req r[LS_MAX];
  int n = ls_requests(r), k = 0;
  for (int i = 0; i < n; i++) k += strcmp(r[i].path, path) == 0;
  return k;
}

/* Waits (at most 20 s) until path has been asked for. */
static void ls_wait_for(const char *path) {
  for (int i = 0; i < 2000 && ls_count(path) == 0; i++) usleep(10000);
  cr_assert(ls_count(path) > 0, "%s never asked for", path);
}

static void ls_fini(void) {
  ls_stop();
  fx_stop_all();
}

/* Runs spindle-crawl with argv in a new directory; exit status 0. */
static void crawl_ok(const char *const *argv, const char *dir) {
  int rc = crawl_exec(argv, dir, 60);
  cr_assert_eq(rc, 0, "spindle-crawl exited %d (see %s/crawl.stderr)", rc, dir);
}

/* --retries N: a URL that always answers 503 is attempted N+1 times, 1 s
 * then 2 s apart (backoff; lower bounds), its line says how many retries. */
Test(cli, retries_with_backoff, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 0, 0);
  char dir[800], out[900], stats[900], url[128];
  workdir(dir, sizeof dir, "retries");
  in_dir(out, sizeof out, dir, "out.jsonl");
  in_dir(stats, sizeof stats, dir, "stats.json");
  const char *argv[] = {"--quiet", "--retries", "2", "--output", out, "--stats", stats, ls_url(url, sizeof url, "/503"),
                        NULL};
  crawl_ok(argv, dir);
  static ls_req r[LS_MAX];
  int n = ls_requests(r);
  double t[8];
  int k = 0;
  for (int i = 0; i < n; i++)
    if (strcmp(r[i].path, "/503") == 0 && k < 8) t[k++] = r[i].t;
  cr_assert_eq(k, 3, "/503 attempted %d times with --retries 2", k);
  cr_assert(t[1] - t[0] >= 0.9, "retry 1 after %.3f s", t[1] - t[0]);
  cr_assert(t[2] - t[1] >= 1.8, "retry 2 after %.3f s", t[2] - t[1]);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.n, 1, "%zu lines for one URL", o.n);
  cr_assert_eq(o.v[0].status, 503);
  cr_assert_eq(o.v[0].retries, 2);
  crawl_out_free(&o);
  json_t *s = read_json(stats);
  cr_assert_eq(jint(s, "retries"), 2);
  cr_assert_eq(jint(s, "server_errors"), 1);
  json_decref(s);

  /* --retries 0: once, no retries field */
  workdir(dir, sizeof dir, "retries0");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *a0[] = {"--quiet", "--retries", "0", "--output", out, url, NULL};
  crawl_ok(a0, dir);
  cr_assert_eq(ls_count("/503"), 4, "--retries 0 still retried");
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert(o.n == 1 && o.v[0].retries == 0);
  crawl_out_free(&o);
}

/* A failed DNS lookup of a page, its host resolved for robots.txt just
 * before: lsrv serves the host, named DNS_HOST by the fault server's
 * scripted DNS mode (TTL 0 answers, so each fetch asks again). */
#define DNS_HOST "dnsretry.test"

static fx_server dns_script;

/* Crawls DNS_HOST's "/" (robots.txt 404, no links) in a new directory
 * name, with --retries retries and the DNS answering steps in turn (see
 * fx_dns_script_start); its output read into o, its stats returned. */
static json_t *crawl_dns_script(const char *name, const char *steps, const char *retries, crawl_out *o) {
  ls_start(404, NULL, 0, 0);
  char spec[128], server[64], dir[800], out[900], stats[900], url[128];
  snprintf(spec, sizeof spec, "%s=%s", DNS_HOST, steps);
  cr_assert_eq(fx_dns_script_start(&dns_script, spec), 0, "the DNS server did not start");
  snprintf(server, sizeof server, "127.0.0.1:%d", dns_script.port);
  snprintf(url, sizeof url, "http://%s:%d/", DNS_HOST, LS.port);
  workdir(dir, sizeof dir, name);
  in_dir(out, sizeof out, dir, "out.jsonl");
  in_dir(stats, sizeof stats, dir, "stats.json");
  const char *argv[] = {"--quiet", "--retries", retries, "--dns-server", server, "--output", out,
                        "--stats", stats, url, NULL};
  crawl_ok(argv, dir);
  cr_assert_eq(crawl_out_read(o, out), 0);
  cr_assert_eq(o->n, 1, "%zu lines for one URL", o->n);
  cr_assert_eq(ls_count("/robots.txt"), 1, "robots.txt asked for %d times", ls_count("/robots.txt"));
  return read_json(stats);
}

/* Lookups the DNS server logged on lines containing needle, a query that
 * c-ares sent again (after a REFUSED, or a late answer) counted once: its
 * ID is the same. */
static int dns_lookups(const char *needle) {
  char *s = slurp(dns_script.log);
  int ids[256], n = 0;
  for (char *line = s, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    const char *id = strstr(line, " id=");
    if (!id || !strstr(line, needle)) continue;
    int v = atoi(id + 4), i = 0;
    while (i < n && ids[i] != v) i++;
    if (i == n && n < 256) ids[n++] = v;
  }
  free(s);
  return n;
}

/* Lookups of DNS_HOST's A record answered with step ("ok", "refused"). */
static int dns_a_queries(const char *step) {
  char needle[64];
  snprintf(needle, sizeof needle, "query %s 1 %s ", DNS_HOST, step);
  return dns_lookups(needle);
}

/* A page whose lookup the DNS server refuses (SP_EDNSREFUSED), its host
 * resolved fine for robots.txt, is retried like a failed connection: the
 * retry's lookup succeeds and the page is fetched, its line saying so. */
Test(cli, dns_refused_page_retried, .fini = ls_fini, .timeout = 60) {
  crawl_out o;
  json_t *s = crawl_dns_script("dnsretry", "ok,refused,ok", "2", &o);
  cr_assert(o.v[0].status == 200 && !o.v[0].error, "status %ld, error %s (%s)", o.v[0].status, o.v[0].error,
            o.v[0].message);
  cr_assert_eq(o.v[0].retries, 1);
  cr_assert_eq(ls_count("/"), 1, "/ asked for %d times: the refused attempt never reached it", ls_count("/"));
  cr_assert_eq(dns_a_queries("ok"), 2, "robots.txt's and the retry's lookups");
  cr_assert_eq(dns_a_queries("refused"), 1, "the page's first lookup");
  cr_assert_eq(jint(s, "ok"), 1);
  cr_assert_eq(jint(s, "failed"), 0);
  cr_assert_eq(jint(s, "retries"), 1);
  json_decref(s);
  crawl_out_free(&o);
}

/* Refused on every retry too: the page's line is a dns error (the code of
 * SP_EDNSREFUSED) after its retries, counted as dns in the stats. */
Test(cli, dns_refused_page_fails_after_retries, .fini = ls_fini, .timeout = 60) {
  crawl_out o;
  json_t *s = crawl_dns_script("dnsfail", "ok,refused", "1", &o);
  const crawl_line *l = &o.v[0];
  cr_assert(l->status == 0 && l->error && strcmp(l->error, "dns") == 0, "status %ld, error %s", l->status,
            l->error);
  cr_assert_eq(l->error_code, SP_EDNSREFUSED);
  cr_assert(l->message && strstr(l->message, DNS_HOST), "message %s", l->message);
  cr_assert_eq(l->retries, 1);
  cr_assert_eq(ls_count("/"), 0, "/ fetched although its host never resolved");
  cr_assert_eq(dns_a_queries("refused"), 2, "refused lookups for two attempts");
  cr_assert_eq(jint(s, "failed"), 1);
  cr_assert_eq(jint(json_object_get(s, "errors"), "dns"), 1);
  cr_assert_eq(jint(s, "retries"), 1);
  json_decref(s);
  crawl_out_free(&o);
}

/* A host whose name does not exist (NXDOMAIN) is not asked about again:
 * its robots.txt fails at once, not after --retries backoffs, the summary
 * gives the reason, and a crawl that reached nothing exits 4. */
Test(cli, nxdomain_robots_not_retried, .fini = stop_all, .timeout = 60) {
  char spec[128], server[64], dir[800], out[900], stats[900], url[128];
  snprintf(spec, sizeof spec, "%s=ok", DNS_HOST); /* every other name: NXDOMAIN */
  cr_assert_eq(fx_dns_script_start(&dns_script, spec), 0, "the DNS server did not start");
  snprintf(server, sizeof server, "127.0.0.1:%d", dns_script.port);
  snprintf(url, sizeof url, "http://nx.%s:1/", DNS_HOST);
  workdir(dir, sizeof dir, "nxdomain");
  in_dir(out, sizeof out, dir, "out.jsonl");
  in_dir(stats, sizeof stats, dir, "stats.json");
  const char *argv[] = {"--retries", "2", "--dns-server", server, "--output", out, "--stats", stats, url, NULL};
  int rc = crawl_exec(argv, dir, 60);
  cr_assert_eq(rc, 4, "a crawl of one name that does not exist exited %d", rc);
  json_t *s = read_json(stats);
  cr_assert_eq(jint(s, "hosts_unreachable"), 1);
  cr_assert_eq(jint(s, "unreachable_skipped"), 1);
  cr_assert_eq(jint(s, "robots_unavailable"), 0, "an unreachable host was filed as robots.txt unavailable");
  cr_assert_eq(jint(s, "robots_skipped"), 0, "the seed was filed as disallowed by robots.txt");
  cr_assert_eq(jint(s, "retries"), 0, "an NXDOMAIN was retried");
  const char *why = json_string_value(json_object_get(s, "unreachable_failure"));
  cr_assert(why && strstr(why, "NXDOMAIN"), "unreachable_failure %s", why);
  json_decref(s);
  char needle[64]; /* asked at all (retries would be answered by the resolver's negative cache) */
  snprintf(needle, sizeof needle, "query nx.%s 1 nxdomain ", DNS_HOST);
  cr_assert_eq(dns_lookups(needle), 1, "A lookups for the missing name");
  cr_assert_eq(count_lines(out), 0);
}

/* robots.txt Crawl-delay: 1 spaces the host's requests by a second at the
 * server, even with --per-host 4: robots.txt itself is a request, so the
 * first page waits a second after it too. */
Test(cli, crawl_delay_honoured, .fini = ls_fini, .timeout = 60) {
  ls_start(200, "User-agent: *\nCrawl-delay: 1\n", 3, 0);
  char dir[800], out[900], url[128];
  workdir(dir, sizeof dir, "cdelay");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[] = {"--quiet", "--per-host", "4", "--output", out, ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(argv, dir);
  cr_assert_eq(count_lines(out), 4);
  static ls_req r[LS_MAX];
  int n = ls_requests(r);
  cr_assert_eq(n, 5, "%d requests (robots.txt, /, 3 pages)", n);
  cr_assert_str_eq(r[0].path, "/robots.txt");
  for (int i = 1; i < n; i++)
    cr_assert(r[i].t - r[i - 1].t >= 0.9, "%s and %s %.3f s apart with Crawl-delay: 1", r[i - 1].path, r[i].path,
              r[i].t - r[i - 1].t);
}

/* robots.txt answering 5xx (retries spent) disallows the whole host:
 * nothing but robots.txt is asked for, and the summary says so. */
Test(cli, robots_5xx_disallows_all, .fini = ls_fini, .timeout = 60) {
  ls_start(503, "", 3, 0);
  char dir[800], out[900], stats[900], url[128];
  workdir(dir, sizeof dir, "r5xx");
  in_dir(out, sizeof out, dir, "out.jsonl");
  in_dir(stats, sizeof stats, dir, "stats.json");
  const char *argv[] = {"--retries", "0", "--output", out, "--stats", stats, ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(argv, dir);
  static ls_req r[LS_MAX];
  int n = ls_requests(r);
  cr_assert(n == 1 && strcmp(r[0].path, "/robots.txt") == 0, "%d requests, the first %s", n, n ? r[0].path : "-");
  cr_assert_eq(count_lines(out), 0);
  json_t *s = read_json(stats);
  cr_assert_eq(jint(s, "robots_unavailable"), 1);
  const char *why = json_string_value(json_object_get(s, "robots_failure"));
  cr_assert(why && strstr(why, "/robots.txt: status 503"), "robots_failure %s", why);
  cr_assert_eq(jint(s, "pages"), 0);
  json_decref(s);
  char *err = run_stderr(dir);
  cr_assert(strstr(err, "1 host whose robots.txt could not be fetched") && strstr(err, "/robots.txt: status 503"),
            "%s", err);
  free(err);
}

/* A robots.txt that answers 5xx is asked for again after the retry
 * backoff (1 s for the first retry), as a page would be, not at once. */
Test(cli, robots_retry_backs_off, .fini = ls_fini, .timeout = 60) {
  ls_start(503, "", 3, 0);
  char dir[800], out[900], url[128];
  workdir(dir, sizeof dir, "rretry");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[] = {"--quiet", "--retries", "1", "--output", out, ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(argv, dir);
  static ls_req r[LS_MAX];
  int n = ls_requests(r);
  cr_assert(n == 2 && strcmp(r[0].path, "/robots.txt") == 0 && strcmp(r[1].path, "/robots.txt") == 0,
            "%d requests, the first %s", n, n ? r[0].path : "-");
  cr_assert(r[1].t - r[0].t >= 0.9, "robots.txt asked for again %.3f s after a 503", r[1].t - r[0].t);
  cr_assert_eq(count_lines(out), 0);
}

/* An --output, --warc or --stats that cannot be written (its directory
 * does not exist) ends the run before any request: exit 1, the path named,
 * no summary of a crawl that did not happen.  --stats inside a new --state
 * directory is fine: the state is made first. */
Test(cli, unwritable_outputs_fail_before_crawling, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 3, 0);
  static const char *const opts[] = {"--output", "--warc", "--stats"};
  for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
    char dir[800], missing[900], url[128];
    workdir(dir, sizeof dir, opts[i] + 2);
    in_dir(missing, sizeof missing, dir, "no-such-dir/file");
    const char *argv[] = {opts[i], missing, ls_url(url, sizeof url, "/"), NULL};
    int rc = crawl_exec(argv, dir, 20);
    char *err = run_stderr(dir);
    cr_assert_eq(rc, 1, "%s to a missing directory: exit %d (%s)", opts[i], rc, err);
    cr_assert(strstr(err, missing) && strstr(err, "No such file or directory"), "%s: %s", opts[i], err);
    cr_assert(!strstr(err, "pages in"), "%s: a summary of a crawl that did not run: %s", opts[i], err);
    cr_assert_eq(ls_count("/robots.txt") + ls_count("/"), 0, "%s: the crawl ran", opts[i]);
    free(err);
  }
  char dir[800], state[900], stats[900], url[128];
  workdir(dir, sizeof dir, "stats-in-state");
  in_dir(state, sizeof state, dir, "st.d");
  in_dir(stats, sizeof stats, dir, "st.d/stats.json");
  const char *argv[] = {"--quiet", "--state", state, "--stats", stats, ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(argv, dir);
  json_t *s = read_json(stats);
  cr_assert(jint(s, "pages") >= 1, "pages %ld", (long)jint(s, "pages"));
  json_decref(s);
}

/* Output that cannot be written (here /dev/full: ENOSPC) stops the crawl
 * as SIGINT would, rather than fetching the whole site for nobody: exit 1,
 * the error named, the summary says it stopped early. */
Test(cli, failed_output_stops_the_crawl, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 20, 50);
  char dir[800], url[128];
  workdir(dir, sizeof dir, "full");
  const char *argv[] = {"--per-host", "1", "--output", "/dev/full", ls_url(url, sizeof url, "/"), NULL};
  int rc = crawl_exec(argv, dir, 30);
  char *err = run_stderr(dir);
  cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
  cr_assert(strstr(err, "/dev/full failed: No space left on device; stopping"), "%s", err);
  cr_assert(strstr(err, "stopped early"), "%s", err);
  static ls_req r[LS_MAX];
  int pages = ls_requests(r) - ls_count("/robots.txt");
  cr_assert(pages >= 1 && pages <= 3, "%d of the 21 pages fetched; the output failed on the first", pages);
  free(err);
}

/* --user-agent and --header reach the server on every request,
 * robots.txt included. */
Test(cli, user_agent_and_header_at_the_server, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 3, 0);
  char dir[800], out[900], url[128];
  workdir(dir, sizeof dir, "ua");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[] = {"--quiet", "--user-agent", "TestBot/9.1 (+http://x.test/)", "--header", "X-Test: v42",
                        "--output", out, ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(argv, dir);
  static ls_req r[LS_MAX];
  int n = ls_requests(r);
  cr_assert_eq(n, 5);
  for (int i = 0; i < n; i++) {
    cr_assert_str_eq(r[i].ua, "TestBot/9.1 (+http://x.test/)", "%s: User-Agent '%s'", r[i].path, r[i].ua);
    cr_assert_str_eq(r[i].xtest, "v42", "%s: X-Test '%s'", r[i].path, r[i].xtest);
  }
}

/* Header injection: a --header, --user-agent, or seed holding CR, LF or
 * another control character would add headers (or a request) of the
 * user's to every request.  Each is refused with exit 2 and a message,
 * before anything is sent. */
Test(cli, header_injection_refused, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 3, 0);
  char url[128], bad_seed[256];
  ls_url(url, sizeof url, "/");
  snprintf(bad_seed, sizeof bad_seed, "%sa\r\nX-Injected: 1", url);
  static const char *const opts[][2] = {
      {"--header", "X-Test: v\r\nX-Injected: 1"}, {"--header", "X-Test: v\nX-Injected: 1"},
      {"--header", "X-Test: v\rX-Injected: 1"},    {"--header", "X Test: v"},
      {"--header", "X-Test\r\nX-Injected: 1"},    {"--user-agent", "bot/1\r\nX-Injected: 1"},
      {"--user-agent", "bot/1\nX-Injected: 1"},    {"--header", "X-Test: v\x01"},
      {"--resolve", "a\r\nb:80:127.0.0.1"},       {NULL, NULL},
  };
  for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
    char dir[800], name[32];
    snprintf(name, sizeof name, "inject%zu", i);
    workdir(dir, sizeof dir, name);
    const char *argv[6] = {"--quiet"};
    int k = 1;
    if (opts[i][0]) argv[k++] = opts[i][0], argv[k++] = opts[i][1];
    argv[k++] = opts[i][0] ? url : bad_seed;
    argv[k] = NULL;
    int rc = crawl_exec(argv, dir, 20);
    char *err = run_stderr(dir);
    cr_assert_eq(rc, 2, "%s '%s': exit %d: %s", opts[i][0] ? opts[i][0] : "seed", opts[i][0] ? opts[i][1] : bad_seed,
                 rc, err);
    cr_assert(strstr(err, "control character") || strstr(err, "--header wants"), "no reason given: %s", err);
    free(err);
  }
  static ls_req r[LS_MAX];
  cr_assert_eq(ls_requests(r), 0, "a request reached the server");
}

/* --concurrency 1: never two requests in flight at the server; the same
 * crawl with --concurrency 4 does overlap (the measure can see it). */
Test(cli, concurrency_one_is_serial, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 12, 40);
  char dir[800], out[900], url[128];
  workdir(dir, sizeof dir, "c1");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *a1[] = {"--quiet", "--concurrency", "1", "--per-host", "4", "--output", out,
                      ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(a1, dir);
  cr_assert_eq(count_lines(out), 13);
  pthread_mutex_lock(&LS.mu);
  int m1 = LS.max_inflight;
  LS.max_inflight = 0;
  pthread_mutex_unlock(&LS.mu);
  cr_assert_eq(m1, 1, "%d requests in flight at once with --concurrency 1", m1);
  workdir(dir, sizeof dir, "c4");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *a4[] = {"--quiet", "--concurrency", "4", "--per-host", "4", "--output", out, url, NULL};
  crawl_ok(a4, dir);
  pthread_mutex_lock(&LS.mu);
  int m4 = LS.max_inflight;
  pthread_mutex_unlock(&LS.mu);
  cr_assert(m4 >= 2 && m4 <= 4, "%d in flight at once with --concurrency 4", m4);
}

/* Keep-alive: 42 requests to a host travel over at most --per-host
 * connections (plus one of slack). */
Test(cli, keepalive_reused, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 40, 0);
  char dir[800], out[900], url[128];
  workdir(dir, sizeof dir, "ka");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[] = {"--quiet", "--per-host", "2", "--concurrency", "8", "--output", out,
                        ls_url(url, sizeof url, "/"), NULL};
  crawl_ok(argv, dir);
  cr_assert_eq(count_lines(out), 41);
  pthread_mutex_lock(&LS.mu);
  int conns = LS.nconn, reqs = LS.nreq;
  pthread_mutex_unlock(&LS.mu);
  cr_assert_eq(reqs, 42);
  cr_assert(conns >= 1 && conns <= 3, "%d connections for %d requests with --per-host 2", conns, reqs);
}

/* The status line: not on stderr that is no terminal, unless --progress,
 * and then as whole lines for a log; never with --quiet (which also drops
 * the summary). */
Test(cli, progress_line_rules, .fini = ls_fini, .timeout = 90) {
  ls_start(404, NULL, 20, 120);
  char dir[800], out[900], url[128];
  ls_url(url, sizeof url, "/");
  const char *flags[3][3] = {{NULL}, {"--progress", NULL}, {"--progress", "--quiet", NULL}};
  const char *names[3] = {"prog-none", "prog-on", "prog-quiet"};
  for (int c = 0; c < 3; c++) {
    workdir(dir, sizeof dir, names[c]);
    in_dir(out, sizeof out, dir, "out.jsonl");
    /* --per-host 1: about 2.5 s, two lines or more */
    const char *argv[10] = {"--per-host", "1", "--output", out};
    int k = 4;
    for (int f = 0; flags[c][f]; f++) argv[k++] = flags[c][f];
    argv[k++] = url;
    argv[k] = NULL;
    crawl_ok(argv, dir);
    cr_assert_eq(count_lines(out), 21);
    char *err = run_stderr(dir);
    bool status = strstr(err, " queued, ") && strstr(err, " in flight, ");
    bool summary = strstr(err, " pages in ") != NULL;
    if (c == 0) cr_assert(!status && summary, "no terminal, no --progress: %s", err);
    /* not a terminal: whole lines, no carriage returns or escapes */
    if (c == 1)
      cr_assert(status && summary && strstr(err, " errors\n") && !strchr(err, '\r') && !strstr(err, "\033"),
                "--progress: %s", err);
    if (c == 2) cr_assert(!status && !summary && !strstr(err, "\033[K"), "--quiet --progress: %s", err);
    free(err);
  }
}

/* A second SIGINT exits at once (130), though a transfer is in flight. */
Test(cli, second_sigint_exits_at_once, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 0, 0);
  char dir[800], out[900], url[128];
  workdir(dir, sizeof dir, "int2");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[] = {"--quiet", "--timeout", "60", "--output", out, ls_url(url, sizeof url, "/hang?ms=30000"),
                        NULL};
  pid_t pid = crawl_spawn(argv, dir);
  cr_assert(pid > 0);
  ls_wait_for("/hang?ms=30000");
  kill(pid, SIGINT);
  usleep(500000);
  int st;
  cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "gone after one SIGINT with a transfer in flight");
  double t0 = mono_s();
  kill(pid, SIGINT);
  int rc = crawl_wait(pid, 20);
  double took = mono_s() - t0;
  cr_assert_eq(rc, 130, "exit %d after a second SIGINT", rc);
  cr_assert(took < 5, "%.1f s to exit after the second SIGINT", took);
}

/* After one SIGINT the transfer in flight finishes and is written; what is
 * queued is not started; exit 130. */
Test(cli, sigint_records_in_flight, .fini = ls_fini, .timeout = 60) {
  ls_start(404, NULL, 0, 0);
  char dir[800], out[900], u1[128], u2[128];
  workdir(dir, sizeof dir, "int1");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[] = {"--per-host", "1", "--output", out, ls_url(u1, sizeof u1, "/hang?ms=1500"),
                        ls_url(u2, sizeof u2, "/hang?ms=1"), NULL};
  pid_t pid = crawl_spawn(argv, dir);
  cr_assert(pid > 0);
  ls_wait_for("/hang?ms=1500");
  kill(pid, SIGINT);
  int rc = crawl_wait(pid, 30);
  cr_assert_eq(rc, 130, "exit %d after SIGINT", rc);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  const crawl_line *l = need_line(&o, u1);
  cr_assert(l->status == 200 && !l->error && l->bytes > 0, "in flight at SIGINT: status %ld, error %s", l->status,
            l->error);
  cr_assert_null(line_for(&o, u2), "a queued URL was started after SIGINT");
  cr_assert_eq(ls_count("/hang?ms=1"), 0);
  crawl_out_free(&o);
  char *err = run_stderr(dir);
  cr_assert(strstr(err, "stopped early"), "%s", err);
  free(err);
}

/* ---------------------------------------------- the fault server, flags */

static void start_fault(void) { cr_assert_eq(fx_fault_start(&fault), 0, "fault server did not start"); }

/* --max-time bounds a crawl of an endless link trap, which says it
 * stopped early (summary and stats). */
Test(cli, max_time_ends_a_link_trap, .init = start_fault, .fini = stop_all, .timeout = 60) {
  char dir[800], out[900], stats[900], url[128];
  workdir(dir, sizeof dir, "maxtime");
  in_dir(out, sizeof out, dir, "out.jsonl");
  in_dir(stats, sizeof stats, dir, "stats.json");
  fx_url(url, sizeof url, &fault, "/trap?n=0");
  const char *argv[] = {"--max-time", "1.5", "--output", out, "--stats", stats, url, NULL};
  double t0 = mono_s();
  int rc = crawl_exec(argv, dir, 40);
  double took = mono_s() - t0;
  cr_assert_eq(rc, 0, "exit %d", rc);
  cr_assert(took >= 1.4 && took < 20, "a 1.5 s crawl took %.1f s", took);
  cr_assert(count_lines(out) >= 5, "%ld trap pages", count_lines(out));
  json_t *s = read_json(stats);
  cr_assert(json_is_true(json_object_get(s, "interrupted")), "--max-time not reported in the stats");
  cr_assert(jint(s, "queued") > 0, "the trap left nothing queued?");
  json_decref(s);
  char *err = run_stderr(dir);
  cr_assert(strstr(err, "stopped early"), "%s", err);
  free(err);
}

/* Malformed header sections and a truncated gzip body are each recorded
 * as an error; the two that libcurl tolerates as 200s; the crawl goes on. */
Test(cli, malformed_headers_and_truncated_gzip, .init = start_fault, .fini = stop_all, .timeout = 60) {
  static const struct {
    const char *path, *error; /* NULL: an answer, 200 with 5 bytes */
  } want[] = {
      {"/malformed-headers?kind=nocolon", "protocol"}, {"/malformed-headers?kind=badlen", "protocol"},
      {"/malformed-headers?kind=twolen", "protocol"},  {"/malformed-headers?kind=status", "other"},
      {"/malformed-headers?kind=huge", "other"},       {"/truncated-gzip", "protocol"},
      {"/malformed-headers?kind=space", NULL},         {"/malformed-headers?kind=lf", NULL},
  };
  enum { N = sizeof want / sizeof *want };
  char dir[800], out[900], urls[N + 1][160];
  workdir(dir, sizeof dir, "malformed");
  in_dir(out, sizeof out, dir, "out.jsonl");
  const char *argv[N + 10] = {"--quiet", "--retries", "0", "--timeout", "10", "--output", out};
  int k = 7;
  for (int i = 0; i < N; i++) argv[k++] = fx_url(urls[i], sizeof urls[i], &fault, want[i].path);
  argv[k++] = fx_url(urls[N], sizeof urls[N], &fault, "/ok");
  argv[k] = NULL;
  crawl_ok(argv, dir);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  cr_assert_eq(o.bad, 0);
  cr_assert_eq(o.n, N + 1);
  for (int i = 0; i < N; i++) {
    const crawl_line *l = need_line(&o, urls[i]);
    if (want[i].error) {
      cr_assert(l->error && strcmp(l->error, want[i].error) == 0, "%s: error %s (status %ld, %ld bytes)",
                want[i].path, l->error, l->status, l->bytes);
      cr_assert(l->error_code != 0 && l->message && *l->message, "%s: no error_code or message", want[i].path);
    } else {
      cr_assert(!l->error && l->status == 200 && l->bytes == 5, "%s: error %s, status %ld", want[i].path, l->error,
                l->status);
    }
  }
  const crawl_line *ok = need_line(&o, urls[N]);
  cr_assert(ok->status == 200 && !ok->error);
  crawl_out_free(&o);
}

/* --help: exit 0, usage on stdout naming every flag; --version: exit 0;
 * bad flags and values: exit 2, a message on stderr, nothing on stdout. */
Test(cli, help_version_and_bad_usage, .timeout = 60) {
  char dir[800], p[900];
  workdir(dir, sizeof dir, "help");
  const char *h[] = {"--help", NULL};
  cr_assert_eq(crawl_exec(h, dir, 20), 0);
  char *usage = slurp(in_dir(p, sizeof p, dir, "crawl.stdout"));
  static const char *const flags[] = {
      "--allow-domain", "--any-host", "--include", "--exclude", "--max-pages", "--max-depth", "--max-bytes",
      "--max-time", "--max-redirects", "--user-agent", "--per-host", "--delay", "--concurrency", "--workers",
      "--timeout", "--retries", "--dns-server", "--resolve", "--header", "--insecure", "--output", "--warc",
      "--state", "--frontier-memory", "--stats", "--quiet", "--progress", "--normalize", "--robots-check",
      "--help", "--version"};
  cr_assert(strstr(usage, "usage: spindle-crawl"), "%s", usage);
  for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) cr_assert(strstr(usage, flags[i]), "--help lacks %s", flags[i]);
  free(usage);

  workdir(dir, sizeof dir, "version");
  const char *v[] = {"--version", NULL};
  cr_assert_eq(crawl_exec(v, dir, 20), 0);
  char *ver = slurp(in_dir(p, sizeof p, dir, "crawl.stdout"));
  cr_assert(strncmp(ver, "spindle-crawl ", 14) == 0 && strlen(ver) > 15, "--version: %s", ver);
  free(ver);

  static const char *const bad[][4] = {
      {"--concurrency", "0"}, {"--workers", "abc"}, {"--max-bytes", "10X"}, {"--max-time", "-1"},
      {"--retries", "101"}, {"--per-host", ""}, {"--delay", "x"}, {"--max-redirects", "-1"},
      {"--include", "("}, {"--exclude", "a["}, {"--header", "novalue"}, {"--resolve", "host:80"},
      {"--resolve", "host:80:notanip"}, {"--resolve", "host:80:127.0.0.1,"}, {"--dns-server", "bogus"},
      {"--user-agent", ""}, {"--bogus"}, {"--timeout", "0"}, {"--max-depth", "-2"},
      {"--dns-server", "999.1.1.1"}, {"--dns-server", "1.2.3.4:99999"}, {"--dns-server", "1.2.3.4:0"},
      {"--user-agent", "2bot/1.0"},
      /* after options that allocated: still 2 (under ASan too) */
      {"--include", "x", "--exclude", "("}, {"--include", "x", "--concurrency", "0"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu", i);
    workdir(dir, sizeof dir, name);
    const char *argv[6];
    int k = 0;
    for (int j = 0; j < 4 && bad[i][j]; j++) argv[k++] = bad[i][j];
    argv[k++] = "http://127.0.0.1:1/";
    argv[k] = NULL;
    int rc = crawl_exec(argv, dir, 20);
    char *err = run_stderr(dir), *sout = slurp(in_dir(p, sizeof p, dir, "crawl.stdout"));
    cr_assert_eq(rc, 2, "%s %s %s: exit %d", bad[i][0], bad[i][1] ? bad[i][1] : "", bad[i][2] ? bad[i][2] : "", rc);
    cr_assert(strstr(err, "spindle-crawl: "), "%s: no message on stderr", bad[i][0]);
    cr_assert_eq(sout[0], '\0', "%s: stdout %s", bad[i][0], sout);
    free(err);
    free(sout);
  }
}
