/* test_seen.c - the crawler's seen set: no URL lost, bounded memory. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "seen.h"

static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Millions of fingerprints: each added once, found again, absent ones not
 * found, and the table stays within 22 bytes a URL (8 bytes a slot, the
 * load between 3/8 right after growing and 3/4). */
Test(seen, millions_of_urls, .timeout = 120) {
  size_t n = sanitized() ? 1000000 : 10000000;
  crawl_seen s = {0};
  uint64_t r = 1;
  for (size_t i = 0; i < n; i++) cr_assert_eq(crawl_seen_add(&s, next_rand(&r) | 1), 1, "lost at %zu", i);
  cr_assert_eq(s.n, n);
  cr_assert(s.cap * sizeof(uint64_t) <= n * 22 + 8192, "%zu bytes for %zu URLs", s.cap * sizeof(uint64_t), n);
  r = 1;
  for (size_t i = 0; i < n; i++) {
    uint64_t fp = next_rand(&r) | 1;
    cr_assert(crawl_seen_has(&s, fp), "forgot %zu", i);
    cr_assert_eq(crawl_seen_add(&s, fp), 0);
  }
  size_t false_hits = 0;
  for (size_t i = 0; i < 100000; i++) false_hits += crawl_seen_has(&s, next_rand(&r) | 1);
  cr_assert_eq(false_hits, 0);
  crawl_seen_free(&s);
}

/* Fingerprints of distinct keys differ (no collision among a million
 * URL-like keys), equal keys match. */
Test(seen, fingerprints, .timeout = 60) {
  crawl_seen s = {0};
  char key[128];
  for (int i = 0; i < 1000000; i++) {
    snprintf(key, sizeof key, "http://h%d.demo.test/section-%d/page-%d.html?ref=%d", i % 8, i % 97, i, i % 3);
    cr_assert_eq(crawl_seen_add(&s, crawl_fingerprint(key)), 1, "collision at %s", key);
  }
  cr_assert_eq(crawl_fingerprint("http://a/"), crawl_fingerprint("http://a/"));
  cr_assert_neq(crawl_fingerprint("http://a/"), 0);
  crawl_seen_free(&s);
}

/* The bounded table of recent fingerprints: it never claims one it was not
 * given, remembers what came recently, and stops growing at its maximum
 * however many it is given. */
Test(seen, recent_is_bounded_and_never_invents, .timeout = 120) {
  size_t n = sanitized() ? 2000000 : 10000000;
  crawl_recent r = {0};
  uint64_t s = 7;
  for (size_t i = 0; i < n; i++) {
    uint64_t fp = next_rand(&s) | 1;
    cr_assert(!crawl_recent_check_add(&r, fp), "fingerprint %zu claimed before it was given", i);
    cr_assert(crawl_recent_check_add(&r, fp), "fingerprint %zu forgotten at once", i);
  }
  cr_assert_eq(r.cap, CRAWL_RECENT_MAX_SLOTS, "%zu slots after %zu fingerprints", r.cap, n);
  /* the last ones given are mostly still there: at most one in a pair was
   * pushed out by each later one */
  size_t kept = 0;
  s = 7;
  for (size_t i = 0; i < n; i++) {
    uint64_t fp = next_rand(&s) | 1;
    if (i >= n - 1000) kept += crawl_recent_check_add(&r, fp);
  }
  cr_assert(kept >= 990, "only %zu of the last 1,000 remembered", kept);
  size_t false_hits = 0;
  for (size_t i = 0; i < 100000; i++) false_hits += crawl_recent_check_add(&r, (next_rand(&s) | 1) ^ 0x5555);
  cr_assert(false_hits < 5, "%zu fingerprints never given were claimed", false_hits);
  crawl_recent_free(&r);
}
