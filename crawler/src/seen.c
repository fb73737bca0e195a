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
