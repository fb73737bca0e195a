/*
 * offload.c - the blocking-call pool behind sp_offload (asyncio.to_thread).
 *
 * Threads are started on demand up to a maximum and stay for the runtime's
 * life, idle ones waiting on a condition variable.  A job lives on the
 * calling task's stack; the task parks uninterruptibly, so the job stays
 * valid until the pool thread has finished with it and woken the task.
 */
#include <stdlib.h>

#include "internal.h"

typedef struct sp_job {
  struct sp_job *next;
  sp_task_fn fn;
  void *arg;
  void *result;
  sp__waiter waiter;
} sp_job;

struct sp_offload_pool {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  sp_job *head, *tail;
  unsigned nthreads, nidle, max;
  bool stop;
  pthread_t *threads;
};

static void *pool_main(void *arg) {
  struct sp_offload_pool *p = arg;
  pthread_setname_np(pthread_self(), "spindle-off");
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->head && !p->stop) {
      p->nidle++;
      pthread_cond_wait(&p->cond, &p->lock);
      p->nidle--;
    }
    if (!p->head) break; /* stopping and drained */
    sp_job *j = p->head;
    p->head = j->next;
    if (!p->head) p->tail = NULL;
    pthread_mutex_unlock(&p->lock);
    j->result = j->fn(j->arg);
    if (sp__waiter_claim(&j->waiter, SP_WAKE_OK)) sp__waiter_commit(&j->waiter, SP_WAKE_OK);
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int sp__offload_init(sp_runtime *rt, unsigned max_threads) {
  struct sp_offload_pool *p = calloc(1, sizeof *p);
  if (!p) return SP_ENOMEM;
  p->threads = calloc(max_threads, sizeof *p->threads);
  if (!p->threads) {
    free(p);
    return SP_ENOMEM;
  }
  p->max = max_threads;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  rt->offload = p;
  return 0;
}

void sp__offload_destroy(sp_runtime *rt) {
  struct sp_offload_pool *p = rt->offload;
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->lock);
  free(p->threads);
  free(p);
  rt->offload = NULL;
}

int sp_offload(sp_task_fn fn, void *arg, void **result) {
  sp_task *t = sp__cur_task();
  if (!fn) return SP_EINVAL;
  if (!t) return SP_EPERM;
  struct sp_offload_pool *p = t->rt->offload;
  sp_job j = {.fn = fn, .arg = arg};
  sp__waiter_init(&j.waiter);
  j.waiter.seq = sp__park_begin(t, SP_PARK_UNINTERRUPTIBLE);
  pthread_mutex_lock(&p->lock);
  if (!p->nidle && p->nthreads < p->max &&
      pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) == 0)
    p->nthreads++;
  if (!p->nthreads) {
    pthread_mutex_unlock(&p->lock);
    sp__park_abandon(t); /* uninterruptible: nobody else can have claimed it */
    return SP_ENOMEM;
  }
  if (p->tail)
    p->tail->next = &j;
  else
    p->head = &j;
  p->tail = &j;
  pthread_cond_signal(&p->cond);
  pthread_mutex_unlock(&p->lock);
  int reason = sp__park(t, SP_NEVER, SP_WAKE_OK, SP_PARK_UNINTERRUPTIBLE);
  SP_ASSERT(reason == SP_WAKE_OK);
  if (result) *result = j.result;
  return 0;
}
