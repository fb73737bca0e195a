/*
 * waitq.c - FIFO wait queues shared by every blocking primitive, and the
 * waiter that parks either a task or a foreign thread.
 *
 * Protocol.  A waiter is linked on a queue under the primitive's spin lock
 * and then parks with the lock released.  A waker, under the same lock, pops
 * waiters and *claims* one (a CAS on its park word, which fails if a timeout
 * or a cancel got there first, in which case the waker moves on: no wakeup
 * is lost); fills in the hand-over (element, status); then *commits*, which
 * makes the waiter runnable.  A waiter whose park ended otherwise takes the
 * lock and unlinks itself if still linked: it cannot return, and so its
 * stack record stays valid, while a waker holding the lock still sees it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define TW_CLAIMED 0xffu /* foreign-thread waiter: claimed, not yet committed */

void sp__futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t deadline) {
  struct timespec ts, *tsp = NULL;
  if (deadline != SP_NEVER) {
    uint64_t now = sp_now_ns();
    uint64_t d = deadline > now ? deadline - now : 0;
    ts.tv_sec = (time_t)(d / 1000000000u);
    ts.tv_nsec = (long)(d % 1000000000u);
    tsp = &ts;
  }
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

void sp__futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void sp__waiter_init(sp__waiter *w) {
  w->task = sp__cur_task();
  w->seq = 0;
  atomic_init(&w->word, SP_WAKE_PENDING);
  w->next = w->prev = NULL;
  w->linked = false;
  w->data = NULL;
  w->status = 0;
}

bool sp__waiter_claim(sp__waiter *w, int reason) {
  if (w->task) return sp__wake_claim(w->task, w->seq, reason);
  uint32_t expect = SP_WAKE_PENDING;
  (void)reason;
  return atomic_compare_exchange_strong(&w->word, &expect, TW_CLAIMED);
}

void sp__waiter_commit(sp__waiter *w, int reason) {
  if (w->task) {
    sp__wake_commit(w->task, true);
    return;
  }
  /* After this store the thread may return and its record vanish; waking a
   * futex at a dead address is harmless (waiters re-check their word). */
  _Atomic uint32_t *word = &w->word;
  atomic_store(word, (uint32_t)reason);
  sp__futex_wake(word, 1);
}

static int thread_wait(sp__waiter *w) {
  for (;;) {
    uint32_t v = atomic_load(&w->word);
    if (v != SP_WAKE_PENDING && v != TW_CLAIMED) return (int)v;
    sp__futex_wait(&w->word, v, SP_NEVER);
  }
}

void sp__waitq_push(sp__waitq *q, sp__waiter *w) {
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  w->linked = true;
}

void sp__waitq_remove(sp__waitq *q, sp__waiter *w) {
  if (!w->linked) return;
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->next = w->prev = NULL;
  w->linked = false;
}

sp__waiter *sp__waitq_pop(sp__waitq *q) {
  sp__waiter *w = q->head;
  if (w) sp__waitq_remove(q, w);
  return w;
}

sp__waiter *sp__waitq_claim_one(sp__waitq *q) {
  sp__waiter *w;
  while ((w = sp__waitq_pop(q)))
    if (sp__waiter_claim(w, SP_WAKE_OK)) return w;
  return NULL;
}

void sp__waitq_wake_all(sp__waitq *q, int status) {
  sp__waiter *w;
  while ((w = sp__waitq_claim_one(q))) {
    w->status = status;
    sp__waiter_commit(w, SP_WAKE_OK);
  }
}

int sp__waitq_block(sp__waitq *q, int *lock, sp__waiter *w, int flags) {
  if (w->task)
    w->seq = sp__park_begin(w->task, flags);
  else
    atomic_store(&w->word, SP_WAKE_PENDING);
  sp__waitq_push(q, w);
  sp__spin_unlock(lock);
  int reason = w->task ? sp__park(w->task, SP_NEVER, SP_WAKE_TIMEOUT, flags) : thread_wait(w);
  if (reason != SP_WAKE_OK) {
    sp__spin_lock(lock);
    sp__waitq_remove(q, w);
    sp__spin_unlock(lock);
  }
  return reason;
}
