/*
 * strset.h - a hash set of strings it does not own, shared by the prefilter
 * (equal moved values share one placeholder) and link extraction (URLs and
 * references deduplicated by exact string).  Header-only: both use it per
 * attribute, where a call into another file would be most of the cost.
 *
 * Open addressing with linear probing; cap is 0 or a power of two, and the
 * load stays <= 1/2 (callers grow before adding), so a probe always ends at
 * an empty slot.  The strings must outlive the set and never change.
 */
#ifndef SPINDLE_CRAWL_STRSET_H
#define SPINDLE_CRAWL_STRSET_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "seen.h"

typedef struct crawl_strset {
  const char **slot;
  size_t cap, n;
} crawl_strset;

/* The slot holding s, or the empty one where it goes. */
static inline const char **crawl_strset_slot(const char **slot, size_t cap, const char *s) {
  size_t i = (size_t)crawl_fingerprint(s) & (cap - 1);
  while (slot[i] && strcmp(slot[i], s)) i = (i + 1) & (cap - 1);
  return &slot[i];
}

static inline int crawl_strset_grow(crawl_strset *set) {
  size_t cap = set->cap ? set->cap * 2 : 64;
  const char **slot = calloc(cap, sizeof *slot);
  if (!slot) return -ENOMEM;
  for (size_t i = 0; i < set->cap; i++)
    if (set->slot[i]) *crawl_strset_slot(slot, cap, set->slot[i]) = set->slot[i];
  free(set->slot);
  set->slot = slot;
  set->cap = cap;
  return 0;
}

/* Adds s: 1 if added, 0 if there already, -ENOMEM. */
static inline int crawl_strset_add(crawl_strset *set, const char *s) {
  if ((set->n + 1) * 2 > set->cap && crawl_strset_grow(set)) return -ENOMEM;
  const char **slot = crawl_strset_slot(set->slot, set->cap, s);
  if (*slot) return 0;
  *slot = s;
  set->n++;
  return 1;
}

#endif
