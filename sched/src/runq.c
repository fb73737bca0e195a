/*
 * runq.c - a worker's bounded local run queue.
 *
 * Single producer (the owning worker) at `tail`, multiple consumers (the
 * owner and thieves) at `head`.  Memory ordering, and why each is enough:
 *
 *  - push: the slot store is relaxed; the tail store is a release.  A thief
 *    or the owner that acquires `tail` therefore sees the slot and
 *    everything written to the task before it was pushed.
 *  - pop/steal: consumers read slots (relaxed) between an acquire of `head`
 *    and a CAS of `head`.  A slot can only be overwritten by the owner after
 *    head has moved past it; if anyone moved head meanwhile, the CAS fails and
 *    what was read is discarded.  The CAS is acq_rel: release so the owner,
 *    which acquires `head` before reusing a slot, cannot reuse it before the
 *    consumer's reads; acquire so a consumer sees the task's contents.
 *
 * Slots are atomics (relaxed) only so that a read racing with an overwrite
 * is defined behaviour; on x86-64 and AArch64 they are plain moves.
 */
#include "internal.h"

void sp__runq_init(sp_runq *q) {
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
  for (unsigned i = 0; i < SP_RUNQ_SIZE; i++) atomic_init(&q->buf[i], NULL);
}

bool sp__runq_push(sp_runq *q, sp_task *t) {
  uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
  uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
  if (tl - h >= SP_RUNQ_SIZE) return false;
  atomic_store_explicit(&q->buf[tl & SP_RUNQ_MASK], t, memory_order_relaxed);
  atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
  return true;
}

sp_task *sp__runq_pop(sp_runq *q) {
  uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
  for (;;) {
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (h == tl) return NULL;
    sp_task *t = atomic_load_explicit(&q->buf[h & SP_RUNQ_MASK], memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_acq_rel,
                                              memory_order_acquire))
      return t;
  }
}

uint32_t sp__runq_len(sp_runq *q) {
  uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
  uint32_t tl = atomic_load_explicit(&q->tail, memory_order_acquire);
  uint32_t n = tl - h;
  return n > SP_RUNQ_SIZE ? 0 : n; /* a torn pair of reads; callers only hint */
}

sp_task *sp__runq_steal(sp_runq *victim, sp_runq *into, uint32_t *nstolen) {
  uint32_t dst_tail = atomic_load_explicit(&into->tail, memory_order_relaxed);
  uint32_t h = atomic_load_explicit(&victim->head, memory_order_acquire);
  for (;;) {
    uint32_t tl = atomic_load_explicit(&victim->tail, memory_order_acquire);
    uint32_t n = tl - h;
    n = n - n / 2; /* take the larger half: one task when there is one */
    if (n == 0) {
      *nstolen = 0;
      return NULL;
    }
    if (n > SP_RUNQ_SIZE / 2) { /* head and tail read at different times */
      h = atomic_load_explicit(&victim->head, memory_order_acquire);
      continue;
    }
    for (uint32_t i = 0; i < n; i++) {
      sp_task *t = atomic_load_explicit(&victim->buf[(h + i) & SP_RUNQ_MASK], memory_order_relaxed);
      atomic_store_explicit(&into->buf[(dst_tail + i) & SP_RUNQ_MASK], t, memory_order_relaxed);
    }
    if (atomic_compare_exchange_weak_explicit(&victim->head, &h, h + n, memory_order_acq_rel,
                                              memory_order_acquire)) {
      /* Keep the last stolen task to run now; publish the rest. */
      n--;
      sp_task *run = atomic_load_explicit(&into->buf[(dst_tail + n) & SP_RUNQ_MASK],
                                          memory_order_relaxed);
      if (n) atomic_store_explicit(&into->tail, dst_tail + n, memory_order_release);
      *nstolen = n + 1;
      return run;
    }
  }
}

uint32_t sp__runq_grab(sp_runq *q, sp_task **out, uint32_t n) {
  uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
  for (;;) {
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint32_t avail = tl - h;
    uint32_t k = avail < n ? avail : n;
    if (k == 0) return 0;
    for (uint32_t i = 0; i < k; i++)
      out[i] = atomic_load_explicit(&q->buf[(h + i) & SP_RUNQ_MASK], memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + k, memory_order_acq_rel,
                                              memory_order_acquire))
      return k;
  }
}
