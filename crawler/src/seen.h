/*
 * seen.h - the set of URLs already queued: 64-bit fingerprints of their
 * normalised keys in an open-addressing table, 8 bytes a slot and between
 * 3/8 and 3/4 of the slots full, so 11 to 22 bytes a URL: tens of millions
 * fit in a few hundred MB.  Two keys share a fingerprint with probability
 * about n^2 / 2^65 (1 in 7,000 at 50 million URLs): such a URL would be
 * skipped as already seen.
 */
#ifndef SPINDLE_CRAWL_SEEN_H
#define SPINDLE_CRAWL_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct crawl_seen {
  uint64_t *slots; /* 0: empty */
  size_t cap;      /* a power of two */
  size_t n;
} crawl_seen;

uint64_t crawl_fingerprint(const char *key);
/* Adds fp; 1 if added, 0 if it was there, -1 out of memory. */
int crawl_seen_add(crawl_seen *s, uint64_t fp);
bool crawl_seen_has(const crawl_seen *s, uint64_t fp);
void crawl_seen_free(crawl_seen *s);

/*
 * A bounded memory of fingerprints, for shortcuts only: it may forget one
 * (a later one takes its place), never claim one it was not given.  Pairs
 * of slots, two ways; it doubles while fewer than 3/4 of its slots are
 * full, up to CRAWL_RECENT_MAX_SLOTS (8 bytes each), then evicts.
 */
#define CRAWL_RECENT_MAX_SLOTS (1u << 20)

typedef struct crawl_recent {
  uint64_t *slots; /* 0: empty */
  size_t cap;      /* a power of two, at least 2 */
  size_t n;        /* slots in use */
} crawl_recent;

/* true if fp is remembered; otherwise remembers it (out of memory: does
 * not) and returns false. */
bool crawl_recent_check_add(crawl_recent *r, uint64_t fp);
void crawl_recent_free(crawl_recent *r);

#endif
