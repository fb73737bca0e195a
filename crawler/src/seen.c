/* seen.c - the seen set (see seen.h). */
#include "seen.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, then a 64-bit finaliser (splitmix64's) so that keys differing in
 * their last bytes spread over the whole table. */
uint64_t crawl_fingerprint(const char *key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h ? h : 1; /* 0 marks an empty slot */
}

static size_t probe(const uint64_t *slots, size_t cap, uint64_t fp) {
  size_t i = (size_t)fp & (cap - 1);
  while (slots[i] && slots[i] != fp) i = (i + 1) & (cap - 1);
  return i;
}

static int grow(crawl_seen *s) {
  size_t cap = s->cap ? s->cap * 2 : 1024;
  uint64_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < s->cap; i++)
    if (s->slots[i]) slots[probe(slots, cap, s->slots[i])] = s->slots[i];
  free(s->slots);
  s->slots = slots;
  s->cap = cap;
  return 0;
}

int crawl_seen_add(crawl_seen *s, uint64_t fp) {
  if ((s->n + 1) * 4 > s->cap * 3 && grow(s) < 0) return -1;
  size_t i = probe(s->slots, s->cap, fp);
  if (s->slots[i]) return 0;
  s->slots[i] = fp;
  s->n++;
  return 1;
}

bool crawl_seen_has(const crawl_seen *s, uint64_t fp) {
  return s->cap && s->slots[probe(s->slots, s->cap, fp)] == fp;
}

void crawl_seen_free(crawl_seen *s) {
  free(s->slots);
  memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- recent */

/* Puts fp into one of its pair's two slots: an empty one, else the one
 * fp's bit 32 names (so neither way always loses). */
static void recent_put(uint64_t *slots, size_t cap, uint64_t fp, size_t *n) {
  size_t i = (size_t)fp & (cap - 2);
  if (!slots[i] || !slots[i + 1]) {
    slots[slots[i] ? i + 1 : i] = fp;
    ++*n;
  } else {
    slots[i + ((fp >> 32) & 1)] = fp;
  }
}

static void recent_grow(crawl_recent *r) {
  size_t cap = r->cap ? r->cap * 2 : 1024;
  uint64_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return; /* stays the size it is */
  size_t n = 0;
  for (size_t i = 0; i < r->cap; i++)
    if (r->slots[i]) recent_put(slots, cap, r->slots[i], &n);
  free(r->slots);
  r->slots = slots;
  r->cap = cap;
  r->n = n;
}

bool crawl_recent_check_add(crawl_recent *r, uint64_t fp) {
  if (r->cap) {
    size_t i = (size_t)fp & (r->cap - 2);
    if (r->slots[i] == fp || r->slots[i + 1] == fp) return true;
  }
  if (!r->cap || ((r->n + 1) * 4 > r->cap * 3 && r->cap < CRAWL_RECENT_MAX_SLOTS)) recent_grow(r);
  if (r->cap) recent_put(r->slots, r->cap, fp, &r->n);
  return false;
}

void crawl_recent_free(crawl_recent *r) {
  free(r->slots);
  memset(r, 0, sizeof *r);
}
