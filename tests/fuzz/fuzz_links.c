/*
 * fuzz_links.c - libFuzzer harness for link extraction
 * (crawler/src/links.c).
 *
 * Input: a byte that picks the prefilter's depth cap (the default, 512, for
 * half the values; 1 to 16 for the others, so that small inputs cross it),
 * then the page.  The page is extracted three ways: through the prefilter
 * with the default cap, through it with the chosen cap, and as it is
 * (crawl_links_extract_exact).  Asserted (abort with a message, which
 * libFuzzer reports as a crash): when the exact parse succeeds, both
 * prefiltered ones do too and give exactly its links, in its order, with
 * its base and its noindex and nofollow; every URL is absolute http(s).
 * (The exact parse may fail where the prefilter does not: a gumbo
 * assertion, or the CPU budget, on markup the prefilter never hands gumbo.)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"

#define PAGE "http://h.example/dir/page.html"
#define AGENT "spindle/1.0 (+http://spindle.example/bot)"

static void fail(const char *what, size_t cap, const char *detail) {
  fprintf(stderr, "fuzz_links: %s (depth cap %zu): %s\n", what, cap, detail ? detail : "");
  abort();
}

static void check_urls(const crawl_links *l, size_t cap) {
  for (size_t i = 0; i < l->n; i++)
    if (strncmp(l->urls[i], "http://", 7) && strncmp(l->urls[i], "https://", 8))
      fail("a link is not an absolute http(s) URL", cap, l->urls[i]);
}

/* The prefilter with the depth cap cap gives what the exact parse gave. */
static void check_prefilter(const char *html, size_t len, size_t cap, const crawl_links *want) {
  crawl_links got;
  crawl_links_set_depth_cap(cap);
  int rc = crawl_links_extract(html, len, PAGE, AGENT, &got);
  crawl_links_set_depth_cap(0);
  if (rc) {
    char detail[64];
    snprintf(detail, sizeof detail, "rc %d (%s)", rc, strerror(-rc));
    fail("the prefilter failed where the exact parse did not", cap, detail);
  }
  check_urls(&got, cap);
  if (got.noindex != want->noindex || got.nofollow != want->nofollow) fail("noindex or nofollow differ", cap, NULL);
  if (strcmp(got.base, want->base)) fail("the base differs", cap, got.base);
  for (size_t i = 0; i < got.n && i < want->n; i++)
    if (strcmp(got.urls[i], want->urls[i])) fail("a link differs from the exact parse's", cap, got.urls[i]);
  if (got.n != want->n) {
    char detail[96];
    snprintf(detail, sizeof detail, "%zu links, the exact parse %zu", got.n, want->n);
    fail("the number of links differs", cap, detail);
  }
  crawl_links_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t cap = data[0] < 128 ? 512 : 1 + data[0] % 16;
  const char *html = (const char *)data + 1;
  size_t len = size - 1;
  crawl_links exact;
  if (crawl_links_extract_exact(html, len, PAGE, AGENT, &exact)) return 0;
  check_urls(&exact, 0);
  check_prefilter(html, len, 512, &exact);
  if (cap != 512) check_prefilter(html, len, cap, &exact);
  crawl_links_free(&exact);
  return 0;
}
