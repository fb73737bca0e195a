/*
 * spindle/sync.h - mutex, semaphore, wait group and event for tasks.
 *
 * Each blocks by parking the calling task, never its worker thread; each
 * also works from threads foreign to the runtime, which block instead.
 * Waits honour the caller's deadline scope and cancellation (see
 * spindle/runtime.h) and then return SP_ETIMEDOUT / SP_ECANCELED without
 * having acquired anything.  Waiters are served in FIFO order.
 *
 * The structures are public so they can be embedded and statically
 * initialised; their fields are private.
 */
#ifndef SPINDLE_SYNC_H
#define SPINDLE_SYNC_H

#include "spindle/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A FIFO of parked waiters guarded by a spin lock (private). */
struct sp__waiter;
typedef struct sp__waitq {
  int lock;
  struct sp__waiter *head, *tail;
} sp__waitq;
#define SP__WAITQ_INIT {0, NULL, NULL}

/* ------------------------------------------------------------------ mutex */

/* Ownership passes directly to the longest waiter on unlock: fair, and a
 * waiter can never miss the unlock. */
typedef struct sp_mutex {
  sp__waitq q;
  int locked;
} sp_mutex;
#define SP_MUTEX_INIT {SP__WAITQ_INIT, 0}

void sp_mutex_init(sp_mutex *m);
int sp_mutex_lock(sp_mutex *m);    /* 0, SP_ECANCELED, SP_ETIMEDOUT, SP_ESHUTDOWN */
int sp_mutex_trylock(sp_mutex *m); /* 0 or SP_EAGAIN */
void sp_mutex_unlock(sp_mutex *m);

/* -------------------------------------------------------------- semaphore */

typedef struct sp_sem {
  sp__waitq q;
  long count;
} sp_sem;
#define SP_SEM_INIT(n) {SP__WAITQ_INIT, (n)}

void sp_sem_init(sp_sem *s, long count);
int sp_sem_acquire(sp_sem *s);     /* takes one unit, parking while none */
int sp_sem_try_acquire(sp_sem *s); /* 0 or SP_EAGAIN */
void sp_sem_release(sp_sem *s);    /* gives one unit back */
long sp_sem_value(sp_sem *s);      /* units available now */

/* ------------------------------------------------------------- wait group */

/* Like Go's sync.WaitGroup: add before starting work, done when it ends,
 * wait until the count is zero. */
typedef struct sp_waitgroup {
  sp__waitq q;
  long count;
} sp_waitgroup;
#define SP_WAITGROUP_INIT {SP__WAITQ_INIT, 0}

void sp_wg_init(sp_waitgroup *wg);
void sp_wg_add(sp_waitgroup *wg, long n);
void sp_wg_done(sp_waitgroup *wg);
int sp_wg_wait(sp_waitgroup *wg);

/* ------------------------------------------------------------------ event */

/* Like asyncio.Event: set wakes every waiter; waits return at once while set. */
typedef struct sp_event {
  sp__waitq q;
  int set;
} sp_event;
#define SP_EVENT_INIT {SP__WAITQ_INIT, 0}

void sp_event_init(sp_event *e);
void sp_event_set(sp_event *e);
void sp_event_clear(sp_event *e);
int sp_event_is_set(sp_event *e);
int sp_event_wait(sp_event *e);

#ifdef __cplusplus
}
#endif
#endif
