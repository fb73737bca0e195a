/*
 * sync.c - mutex, semaphore, wait group and event on wait queues.
 *
 * Each keeps its state and its waiters under the queue's spin lock.  Units
 * (the mutex itself, semaphore units) are handed straight to the first
 * waiter that can be claimed, so a release can never be lost to a waiter
 * that is timing out at the same moment.
 */
#include <stdio.h>

#include "internal.h"

void sp_mutex_init(sp_mutex *m) { *m = (sp_mutex)SP_MUTEX_INIT; }

int sp_mutex_trylock(sp_mutex *m) {
  sp__spin_lock(&m->q.lock);
  int ok = !m->locked;
  m->locked = 1;
  sp__spin_unlock(&m->q.lock);
  return ok ? 0 : SP_EAGAIN;
}

int sp_mutex_lock(sp_mutex *m) {
  sp__waiter w;
  sp__spin_lock(&m->q.lock);
  if (!m->locked) {
    m->locked = 1;
    sp__spin_unlock(&m->q.lock);
    return 0;
  }
  sp__waiter_init(&w);
  return sp__wake_to_err(sp__waitq_block(&m->q, &m->q.lock, &w, 0));
}

void sp_mutex_unlock(sp_mutex *m) {
  sp__spin_lock(&m->q.lock);
  sp__waiter *w = sp__waitq_claim_one(&m->q);
  if (!w) m->locked = 0; /* else ownership passes to w: stays locked */
  sp__spin_unlock(&m->q.lock);
  if (w) sp__waiter_commit(w, SP_WAKE_OK);
}

void sp_sem_init(sp_sem *s, long count) { *s = (sp_sem)SP_SEM_INIT(count); }

int sp_sem_try_acquire(sp_sem *s) {
  sp__spin_lock(&s->q.lock);
  int ok = s->count > 0;
  if (ok) s->count--;
  sp__spin_unlock(&s->q.lock);
  return ok ? 0 : SP_EAGAIN;
}

int sp_sem_acquire(sp_sem *s) {
  sp__waiter w;
  sp__spin_lock(&s->q.lock);
  if (s->count > 0) {
    s->count--;
    sp__spin_unlock(&s->q.lock);
    return 0;
  }
  sp__waiter_init(&w);
  return sp__wake_to_err(sp__waitq_block(&s->q, &s->q.lock, &w, 0));
}

void sp_sem_release(sp_sem *s) {
  sp__spin_lock(&s->q.lock);
  sp__waiter *w = sp__waitq_claim_one(&s->q);
  if (!w) s->count++;
  sp__spin_unlock(&s->q.lock);
  if (w) sp__waiter_commit(w, SP_WAKE_OK);
}

long sp_sem_value(sp_sem *s) {
  sp__spin_lock(&s->q.lock);
  long v = s->count;
  sp__spin_unlock(&s->q.lock);
  return v;
}

void sp_wg_init(sp_waitgroup *wg) { *wg = (sp_waitgroup)SP_WAITGROUP_INIT; }

/*
 * The counter is updated without the lock; only the update that brings it
 * to zero takes the lock to wake waiters.  A waiter reads the counter and
 * queues itself under the lock, so it either sees zero or is queued before
 * that update's wakeup looks at the queue.
 */
void sp_wg_add(sp_waitgroup *wg, long n) {
  long v = __atomic_add_fetch(&wg->count, n, __ATOMIC_ACQ_REL);
  if (v < 0) {
    fprintf(stderr, "spindle: sp_wg_add/sp_wg_done: wait group counter went negative\n");
    sp__panic(__FILE__, __LINE__, "negative wait group counter");
  }
  if (v == 0) {
    sp__spin_lock(&wg->q.lock);
    if (__atomic_load_n(&wg->count, __ATOMIC_ACQUIRE) == 0) sp__waitq_wake_all(&wg->q, 0);
    sp__spin_unlock(&wg->q.lock);
  }
}

void sp_wg_done(sp_waitgroup *wg) { sp_wg_add(wg, -1); }

int sp_wg_wait(sp_waitgroup *wg) {
  sp__waiter w;
  if (__atomic_load_n(&wg->count, __ATOMIC_ACQUIRE) == 0) return 0;
  sp__spin_lock(&wg->q.lock);
  if (__atomic_load_n(&wg->count, __ATOMIC_ACQUIRE) == 0) {
    sp__spin_unlock(&wg->q.lock);
    return 0;
  }
  sp__waiter_init(&w);
  return sp__wake_to_err(sp__waitq_block(&wg->q, &wg->q.lock, &w, 0));
}

void sp_event_init(sp_event *e) { *e = (sp_event)SP_EVENT_INIT; }

void sp_event_set(sp_event *e) {
  sp__spin_lock(&e->q.lock);
  e->set = 1;
  sp__waitq_wake_all(&e->q, 0);
  sp__spin_unlock(&e->q.lock);
}

void sp_event_clear(sp_event *e) {
  sp__spin_lock(&e->q.lock);
  e->set = 0;
  sp__spin_unlock(&e->q.lock);
}

int sp_event_is_set(sp_event *e) {
  sp__spin_lock(&e->q.lock);
  int v = e->set;
  sp__spin_unlock(&e->q.lock);
  return v;
}

int sp_event_wait(sp_event *e) {
  sp__waiter w;
  sp__spin_lock(&e->q.lock);
  if (e->set) {
    sp__spin_unlock(&e->q.lock);
    return 0;
  }
  sp__waiter_init(&w);
  return sp__wake_to_err(sp__waitq_block(&e->q, &e->q.lock, &w, 0));
}
