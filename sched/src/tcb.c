/*
 * tcb.c - the pool of task control blocks.
 *
 * Blocks come in chunks that live as long as the runtime, so a pointer to a
 * block is always safe to dereference (sp__tasks_foreach relies on it; the
 * `live` flag says whether it currently holds a task).  Each worker keeps a
 * small cache; the shared free list is guarded by a mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_TASKS 256

typedef struct sp_tcb_chunk {
  struct sp_tcb_chunk *next;
  sp_task *tasks; /* CHUNK_TASKS blocks, cache-line aligned */
} sp_tcb_chunk;

struct sp_tcb_pool {
  pthread_mutex_t lock;
  sp_task *free;                  /* linked through ->next */
  _Atomic(sp_tcb_chunk *) chunks; /* newest first; only ever prepended */
};

int sp__tcb_init(sp_runtime *rt) {
  struct sp_tcb_pool *p = calloc(1, sizeof *p);
  if (!p) return SP_ENOMEM;
  pthread_mutex_init(&p->lock, NULL);
  rt->tcbs = p;
  return 0;
}

void sp__tcb_destroy(sp_runtime *rt) {
  struct sp_tcb_pool *p = rt->tcbs;
  if (!p) return;
  for (sp_tcb_chunk *c = atomic_load(&p->chunks), *n; c; c = n) {
    n = c->next;
    free(c->tasks);
    free(c);
  }
  pthread_mutex_destroy(&p->lock);
  free(p);
  rt->tcbs = NULL;
}

/* Lock held.  Adds a chunk of blocks to the free list. */
static bool grow(struct sp_tcb_pool *p) {
  sp_tcb_chunk *c = malloc(sizeof *c);
  sp_task *t = aligned_alloc(SP_CACHELINE, CHUNK_TASKS * sizeof(sp_task));
  if (!c || !t) {
    free(c);
    free(t);
    return false;
  }
  memset(t, 0, CHUNK_TASKS * sizeof(sp_task));
  for (int i = 0; i < CHUNK_TASKS; i++) {
    t[i].next = p->free;
    p->free = &t[i];
  }
  c->tasks = t;
  c->next = atomic_load_explicit(&p->chunks, memory_order_relaxed);
  atomic_store_explicit(&p->chunks, c, memory_order_release);
  return true;
}

sp_task *sp__tcb_alloc(sp_runtime *rt, sp_worker *w) {
  struct sp_tcb_pool *p = rt->tcbs;
  if (w && w->ntcb_cache) return w->tcb_cache[--w->ntcb_cache];
  pthread_mutex_lock(&p->lock);
  if (!p->free && !grow(p)) {
    pthread_mutex_unlock(&p->lock);
    return NULL;
  }
  sp_task *t = p->free;
  p->free = t->next;
  /* Refill the worker's cache in the same critical section. */
  while (w && p->free && w->ntcb_cache < SP_TCB_CACHE / 2) {
    w->tcb_cache[w->ntcb_cache++] = p->free;
    p->free = p->free->next;
  }
  pthread_mutex_unlock(&p->lock);
  return t;
}

void sp__tcb_free(sp_runtime *rt, sp_worker *w, sp_task *t) {
  struct sp_tcb_pool *p = rt->tcbs;
  atomic_store_explicit(&t->live, 0, memory_order_relaxed);
  if (w && w->rt == rt) {
    if (w->ntcb_cache < SP_TCB_CACHE) {
      w->tcb_cache[w->ntcb_cache++] = t;
      return;
    }
    pthread_mutex_lock(&p->lock);
    while (w->ntcb_cache > SP_TCB_CACHE / 2) {
      sp_task *x = w->tcb_cache[--w->ntcb_cache];
      x->next = p->free;
      p->free = x;
    }
  } else {
    pthread_mutex_lock(&p->lock);
  }
  t->next = p->free;
  p->free = t;
  pthread_mutex_unlock(&p->lock);
}

void sp__tcb_publish(sp_task *t) { atomic_store_explicit(&t->live, 1, memory_order_release); }

void sp__tasks_foreach(sp_runtime *rt, void (*fn)(sp_task *, void *), void *arg) {
  for (sp_tcb_chunk *c = atomic_load_explicit(&rt->tcbs->chunks, memory_order_acquire); c; c = c->next)
    for (int i = 0; i < CHUNK_TASKS; i++)
      if (atomic_load_explicit(&c->tasks[i].live, memory_order_acquire)) fn(&c->tasks[i], arg);
}
