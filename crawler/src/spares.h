/*
 * spares.h - blocks kept between pages, shared by the prefilter (each
 * page's working memory) and the parse arena (its chunks).
 *
 * glibc consolidates its heap (malloc_consolidate) on a free of 64 KiB or
 * more, and before a request of a KiB or more while small freed blocks
 * wait, which cost more than the parse's own allocations.  A few slots per
 * kind; blocks are taken and given back by exchange, so parses on several
 * workers never share one (acquire on taking, release on giving back: the
 * last user's writes happen before the next user's).  Header-only: a few
 * atomics per page, and each user keeps its own static crawl_spares.
 */
#ifndef SPINDLE_CRAWL_SPARES_H
#define SPINDLE_CRAWL_SPARES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define CRAWL_SPARE_SLOTS 4

/* Each slot NULL or a block nobody else holds: one kind of block a set. */
typedef struct crawl_spares {
  _Atomic(void *) slot[CRAWL_SPARE_SLOTS];
} crawl_spares;

/* A kept block, or NULL. */
static inline void *crawl_spare_take(crawl_spares *s) {
  for (int i = 0; i < CRAWL_SPARE_SLOTS; i++) {
    void *p = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
    if (p && (p = atomic_exchange_explicit(&s->slot[i], NULL, memory_order_acquire))) return p;
  }
  return NULL;
}

/* Keeps p if a slot is free; false if none is (the caller frees p). */
static inline bool crawl_spare_keep(crawl_spares *s, void *p) {
  for (int i = 0; i < CRAWL_SPARE_SLOTS; i++) {
    void *none = NULL;
    if (!atomic_load_explicit(&s->slot[i], memory_order_relaxed) &&
        atomic_compare_exchange_strong_explicit(&s->slot[i], &none, p, memory_order_release, memory_order_relaxed))
      return true;
  }
  return false;
}

#endif
