/*
 * fuzz_robots.c - libFuzzer harness for robots.txt parsing and matching
 * (crawler/src/robots.c).
 *
 * Input: a byte that picks the crawler's product token and how it is
 * spelled, then the file, then (after a NUL each) up to 8 paths to ask
 * about.  Asserted (abort with a message, which libFuzzer reports as a
 * crash), besides no crash and bounded time (libFuzzer's -timeout):
 *  - the same bytes parsed twice give the same answers and Crawl-delay
 *    (a finite number >= 0, or -1);
 *  - line ends do not matter: CR and CRLF read as LF give the same answers;
 *  - the agent string counts only by its product token, case-insensitively:
 *    "spindle" and "SpInDlE/2.0 (+http://x)" give the same answers;
 *  - a path's spelling does not matter: unreserved characters written as
 *    escapes, or escapes with lower-case hex, give the same answer;
 *  - with no '*', '?' or '$' in the file, the query never matters (but for
 *    /robots.txt, which is allowed only as it is);
 *  - /robots.txt is always allowed; crawl_robots_allow_all allows every
 *    path, crawl_robots_disallow_all none but /robots.txt;
 *  - matching agrees with a plain reference (longest match, allow on a tie,
 *    '*' and a final '$') on a file of two rules and a path made from the
 *    input over the alphabet a, b, '/', '*' and '$'.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robots.h"

#define MAX_PATHS 8

static const char *const tokens[] = {"spindle", "FooBot", "a", "x-y_z"};

static void fail(const char *what, const char *path) {
  fprintf(stderr, "fuzz_robots: %s (path \"%s\")\n", what, path ? path : "");
  abort();
}

/* An agent string for token i, spelled plainly (0) or oddly (1). */
static void agent_for(size_t i, int odd, char *out, size_t n) {
  const char *t = tokens[i];
  if (!odd) {
    snprintf(out, n, "%s", t);
    return;
  }
  size_t k = 0;
  for (; t[k] && k + 1 < n; k++) {
    bool letter = (t[k] | 0x20) >= 'a' && (t[k] | 0x20) <= 'z';
    out[k] = letter ? (char)(k % 2 ? t[k] | 0x20 : t[k] & ~0x20) : t[k];
  }
  snprintf(out + k, n - k, "/2.0 (+http://x)");
}

/* body with every CR read as LF (lf_to_crlf: every LF written as CRLF). */
static char *line_ends(const char *body, size_t len, bool lf_to_crlf, size_t *out_len) {
  char *out = malloc(2 * len + 1);
  if (!out) abort();
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (lf_to_crlf && body[i] == '\n') out[o++] = '\r';
    out[o++] = !lf_to_crlf && body[i] == '\r' ? '\n' : body[i];
  }
  *out_len = o;
  return out;
}

static bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* path respelled: every other unreserved character as an escape, the hex
 * of escapes already there in the other case. */
static char *respelled(const char *path) {
  size_t n = strlen(path);
  char *out = malloc(3 * n + 1);
  if (!out) abort();
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)path[i];
    if (c == '%' && i + 2 < n && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
      out[o++] = '%';
      out[o++] = (char)(path[i + 1] ^ (path[i + 1] >= 'A' ? 0x20 : 0));
      out[o++] = (char)(path[i + 2] ^ (path[i + 2] >= 'A' ? 0x20 : 0));
      i += 2;
    } else if (is_unreserved(c) && i % 2) {
      o += (size_t)sprintf(out + o, "%%%02x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

static bool same_delay(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void check_delay(const crawl_robots *r) {
  double d = crawl_robots_crawl_delay(r);
  if (!(d == -1 || (isfinite(d) && d >= 0)))
    fail("a Crawl-delay that is neither -1 nor a finite number >= 0", NULL);
}

/* ------------------------------------------------------ reference */

/* Whether p[0..pn) ('*': any run) matches all of s[0..sn) (anchored) or a
 * prefix of it: dynamic programming over both, no cleverness. */
static bool ref_match(const char *p, size_t pn, const char *s, size_t sn, bool anchored) {
  /* m[j]: p[0..i) matches s[0..j) exactly */
  bool m[80], next[80];
  for (size_t j = 0; j <= sn; j++) m[j] = j == 0;
  for (size_t i = 0; i < pn; i++) {
    bool run = false;
    for (size_t j = 0; j <= sn; j++) {
      if (p[i] == '*') {
        run = run || m[j];
        next[j] = run;
      } else {
        next[j] = j > 0 && m[j - 1] && s[j - 1] == p[i];
      }
    }
    memcpy(m, next, sizeof m);
  }
  if (anchored) return m[sn];
  for (size_t j = 0; j <= sn; j++)
    if (m[j]) return true;
  return false;
}

/* Letters of the reference's alphabet, from input bytes. */
static size_t ref_string(const uint8_t *d, size_t n, char *out, size_t max, bool pattern) {
  static const char alpha[] = "ab/*$";
  size_t k = 0;
  for (; k < n && k < max; k++) {
    char c = alpha[d[k] % (pattern ? 5 : 3)];
    out[k] = c == '$' && k + 1 < n && k + 1 < max ? 'a' : c; /* '$' only at the end */
  }
  out[k] = '\0';
  return k;
}

/* A file of a disallow and an allow rule, and a path, from d[0..n); the
 * parser's answer against the reference's. */
static void check_reference(const uint8_t *d, size_t n) {
  if (n < 3) return;
  char dis[24], al[24], path[40], file[128];
  size_t a = d[0] % 12, b = d[1] % 12, rest = n - 2;
  const uint8_t *q = d + 2;
  size_t dl = ref_string(q, a < rest ? a : rest, dis, 20, true);
  q += dl, rest -= dl;
  size_t al_len = ref_string(q, b < rest ? b : rest, al, 20, true);
  q += al_len, rest -= al_len;
  path[0] = '/';
  size_t pl = 1 + ref_string(q, rest, path + 1, 30, false);
  snprintf(file, sizeof file, "User-agent: *\nDisallow: %s\nAllow: %s\n", dis, al);
  crawl_robots *r = crawl_robots_parse(file, strlen(file), "spindle");
  if (!r) abort();
  bool got = crawl_robots_allowed(r, path);
  crawl_robots_free(r);
  /* the reference: an empty rule is none; '$' at the end anchors; the
   * longest pattern (the '$' counted) wins, allow on a tie */
  long best = -1;
  bool want = true;
  const char *pats[2] = {dis, al};
  for (int i = 0; i < 2; i++) {
    size_t len = strlen(pats[i]);
    if (!len) continue;
    bool anchored = pats[i][len - 1] == '$';
    if (!ref_match(pats[i], len - anchored, path, pl, anchored)) continue;
    if ((long)len > best || ((long)len == best && i == 1)) best = (long)len, want = i == 1;
  }
  if (got != want) {
    fprintf(stderr, "fuzz_robots: disallow \"%s\", allow \"%s\": %s, the reference %s\n", dis, al,
            got ? "allowed" : "disallowed", want ? "allowed" : "disallowed");
    fail("matching differs from the reference", path);
  }
}

/* -------------------------------------------------------- harness */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t token = data[0] % (sizeof tokens / sizeof tokens[0]);
  char *in = malloc(size);
  if (!in) return 0;
  memcpy(in, data + 1, size - 1);
  in[size - 1] = '\0';
  size_t body_len = strnlen(in, size - 1);
  const char *paths[MAX_PATHS + 5];
  size_t np = 0;
  for (size_t i = body_len; i < size - 1 && np < MAX_PATHS; i += strlen(in + i + 1) + 1)
    paths[np++] = in + i + 1;
  paths[np++] = "/";
  paths[np++] = "/robots.txt";
  paths[np++] = "/a/b?c=d";
  paths[np++] = "/%7Ex/%2f";

  char plain[64], odd[64];
  agent_for(token, 0, plain, sizeof plain);
  agent_for(token, 1, odd, sizeof odd);
  size_t cr_len, crlf_len;
  char *cr = line_ends(in, body_len, false, &cr_len), *crlf = line_ends(in, body_len, true, &crlf_len);
  crawl_robots *r[5] = {
      crawl_robots_parse(in, body_len, plain),     crawl_robots_parse(in, body_len, plain),
      crawl_robots_parse(cr, cr_len, plain),       crawl_robots_parse(crlf, crlf_len, plain),
      crawl_robots_parse(in, body_len, odd),
  };
  for (int k = 0; k < 5; k++) {
    if (!r[k]) abort(); /* out of memory only */
    check_delay(r[k]);
    if (!same_delay(crawl_robots_crawl_delay(r[k]), crawl_robots_crawl_delay(r[0])))
      fail("Crawl-delay differs between equivalent files or agents", NULL);
  }
  bool free_of_patterns = !memchr(in, '*', body_len) && !memchr(in, '?', body_len) && !memchr(in, '$', body_len);
  crawl_robots *all = crawl_robots_allow_all(), *none = crawl_robots_disallow_all();
  if (!all || !none) abort();
  for (size_t i = 0; i < np; i++) {
    char *path = malloc(strlen(paths[i]) + 2);
    if (!path) abort();
    sprintf(path, "%s%s", paths[i][0] == '/' ? "" : "/", paths[i]);
    bool v = crawl_robots_allowed(r[0], path);
    for (int k = 1; k < 5; k++)
      if (crawl_robots_allowed(r[k], path) != v) fail("equivalent files or agents answer differently", path);
    char *other = respelled(path);
    if (crawl_robots_allowed(r[0], other) != v) fail("another spelling of the path is answered differently", other);
    free(other);
    if (free_of_patterns && strcmp(path, "/robots.txt")) { /* only that exact path is special */
      path[strcspn(path, "?")] = '\0';
      bool bare = crawl_robots_allowed(r[0], path);
      char *queried = malloc(strlen(path) + 8);
      if (!queried) abort();
      sprintf(queried, "%s?q=1&r", path);
      if (crawl_robots_allowed(r[0], queried) != bare)
        fail("the query changed the answer of a file without patterns", queried);
      free(queried);
    }
    if (!crawl_robots_allowed(all, path)) fail("allow_all disallows", path);
    if (crawl_robots_allowed(none, path) && strcmp(path, "/robots.txt")) fail("disallow_all allows", path);
    free(path);
  }
  if (!crawl_robots_allowed(r[0], "/robots.txt")) fail("/robots.txt is disallowed", "/robots.txt");
  check_reference(data + 1, size - 1);
  for (int k = 0; k < 5; k++) crawl_robots_free(r[k]);
  crawl_robots_free(all);
  crawl_robots_free(none);
  free(cr), free(crlf), free(in);
  return 0;
}
