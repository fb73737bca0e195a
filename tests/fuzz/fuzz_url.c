/*
 * fuzz_url.c - libFuzzer harness for URL resolution and normalisation
 * (crawler/src/url.c).
 *
 * Input: "BASE\0REF" (REF up to the next NUL), or REF alone, resolved
 * against a fixed base; an empty BASE means no base.  Asserted (abort with
 * a message, which libFuzzer reports as a crash):
 *  - crawl_url_resolve(BASE, REF) gives what crawl_url_resolve_at gives with
 *    BASE parsed once, and both give what the curl-only path gives
 *    (crawl_url_set_direct(false));
 *  - a resolved URL is absolute http(s), lower-case scheme, no fragment, no
 *    byte outside 0x21-0x7e (but in an IDN host), at most CRAWL_URL_MAX bytes;
 *  - the key (crawl_url_normalize) of REF and of the resolved URL is the
 *    same by both paths, and the key of a key is itself; without a base, REF
 *    and the URL resolved from it have one key;
 *  - the resolved URL and its key split into the same scheme, host and
 *    port (one server, one host entry), and a host (without empty labels)
 *    is in its own domain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

#define DEFAULT_BASE "http://a/b/c/d;p?q"

static void fail(const char *what, const char *base, const char *ref, const char *a, const char *b) {
  fprintf(stderr, "fuzz_url: %s\n  base: %s\n  ref:  %s\n  got:  %s\n  want: %s\n", what, base ? base : "(none)",
          ref, a ? a : "(null)", b ? b : "(null)");
  abort();
}

static bool same(int ra, const char *a, int rb, const char *b) {
  return ra == rb && ((!a && !b) || (a && b && !strcmp(a, b)));
}

/* The key of url by one path (direct or curl only). */
static int key_by(bool direct, const char *url, char **key) {
  crawl_url_set_direct(direct);
  int rc = crawl_url_normalize(url, key);
  crawl_url_set_direct(true);
  return rc;
}

/* url's key, the same by both paths, and its own key; NULL if url has none. */
static char *checked_key(const char *base, const char *ref, const char *url) {
  char *key = NULL, *slow = NULL;
  int rc = key_by(true, url, &key), rs = key_by(false, url, &slow);
  if (!same(rc, key, rs, slow)) fail("the key differs between the direct and the curl path", base, ref, key, slow);
  free(slow);
  if (rc) return NULL;
  for (int direct = 1; direct >= 0; direct--) {
    char *again = NULL;
    int ra = key_by(direct, key, &again);
    if (!same(ra, again, 0, key)) fail("the key of a key is not itself", base, ref, again, key);
    free(again);
  }
  return key;
}

static void check_form(const char *base, const char *ref, const char *u) {
  bool http = !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
  if (!http) fail("a resolved URL is not http(s) with a lower-case scheme", base, ref, u, "http(s)://...");
  if (strlen(u) > CRAWL_URL_MAX) fail("a resolved URL is longer than CRAWL_URL_MAX", base, ref, u, NULL);
  /* an IDN host stays as given (UTF-8); the rest is ASCII */
  const char *path = u + strcspn(u + 8, "/?") + 8;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f || *p == '#' || (p >= path && (unsigned char)*p > 0x7f))
      fail("a resolved URL holds a byte it may not", base, ref, u, NULL);
}

/* The resolved URL u and its key split into one scheme, host and port. */
static void check_split(const char *base, const char *ref, const char *u, const char *key) {
  char *s1 = NULL, *h1 = NULL, *s2 = NULL, *h2 = NULL;
  int p1 = 0, p2 = 0;
  int r1 = crawl_url_split(u, &s1, &h1, &p1, NULL), r2 = crawl_url_split(key, &s2, &h2, &p2, NULL);
  if (r1 || r2) fail("a URL with a key does not split", base, ref, u, key);
  if (strcmp(s1, s2) || strcmp(h1, h2) || p1 != p2)
    fail("a URL and its key split into other hosts", base, ref, h1, h2);
  bool labels = *h1 && *h1 != '.' && !strstr(h1, ".."); /* no empty label: ".", "..080" are in no domain */
  if (labels && !crawl_host_in_domain(h1, h1)) fail("a host is not in its own domain", base, ref, h1, NULL);
  free(s1), free(h1), free(s2), free(h2);
}

static void check(const char *base, const char *ref) {
  char *whole = NULL, *at = NULL, *slow = NULL;
  int rw = crawl_url_resolve(base, ref, &whole);
  crawl_url_base *b = NULL;
  int rb = base ? crawl_url_base_parse(base, &b) : 0;
  int ra = rb ? rb : crawl_url_resolve_at(b, ref, &at);
  if (!same(rw, whole, ra, at)) fail("resolve and resolve_at differ", base, ref, whole, at);
  if (!rb) {
    crawl_url_set_direct(false);
    int rs = crawl_url_resolve_at(b, ref, &slow);
    crawl_url_set_direct(true);
    if (!same(ra, at, rs, slow)) fail("the direct and the curl path resolve differently", base, ref, at, slow);
  }
  crawl_url_base_free(b);
  char *ref_key = checked_key(base, ref, ref);
  if (!rw) {
    check_form(base, ref, whole);
    char *key = checked_key(base, ref, whole);
    if (!key) fail("a resolved URL has no key", base, ref, whole, NULL);
    if (!base && (!ref_key || strcmp(ref_key, key)))
      fail("a URL and the one resolved from it differ in key", base, ref, ref_key, key);
    check_split(base, ref, whole, key);
    free(key);
  }
  free(ref_key);
  free(whole), free(at), free(slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size + 1);
  if (!in) return 0;
  memcpy(in, data, size);
  in[size] = '\0';
  const char *nul = memchr(in, '\0', size);
  if (nul) check(*in ? in : NULL, nul + 1);
  else check(DEFAULT_BASE, in);
  free(in);
  return 0;
}
