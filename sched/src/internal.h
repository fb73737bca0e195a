/*
 * internal.h - data structures of the runtime (not installed).
 *
 * Vocabulary.  A *task* is a stackful coroutine.  A *worker* is an OS thread
 * that runs tasks; each has a local run queue (runq.c), a one-task "just
 * woken" slot, and a poll loop (loop.c: epoll + timer heap).  A task *parks*
 * when it waits; whatever ends the wait *wakes* it, which makes it runnable
 * on the waking thread's worker.  The scheduler itself (worker.c) runs on
 * the worker thread's own stack, the *idle context*; tasks switch directly
 * to one another and fall back to the idle context only when their worker
 * has nothing else to run.
 */
#ifndef SPINDLE_INTERNAL_H
#define SPINDLE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spindle/spindle.h"
#include "context.h"

#define SP_CACHELINE 64
#define SP_NEVER UINT64_MAX

#define SP_LIKELY(x) __builtin_expect(!!(x), 1)
#define SP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SP_UNUSED(x) ((void)(x))

#if defined(__SANITIZE_THREAD__)
#define SP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SP_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SP_ASAN 1
#endif
#endif

/* Broken invariant: print where, then abort.  The only abort in the library. */
#define SP_ASSERT(cond)                                                                \
  do {                                                                                 \
    if (SP_UNLIKELY(!(cond))) sp__panic(__FILE__, __LINE__, #cond);                    \
  } while (0)
_Noreturn void sp__panic(const char *file, int line, const char *what);

/*
 * A full StoreLoad barrier between "publish work" and "look for sleepers"
 * (and symmetrically "stop searching" and "look for work").  ThreadSanitizer
 * does not model stand-alone fences, so under TSan we use a seq_cst RMW on
 * a shared word instead, which TSan does understand.
 */
#ifdef SP_TSAN
#define SP_STORELOAD_FENCE(word) ((void)atomic_fetch_add_explicit((word), 0, memory_order_seq_cst))
#else
#define SP_STORELOAD_FENCE(word) ((void)(word), atomic_thread_fence(memory_order_seq_cst))
#endif

static inline void sp__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* ------------------------------------------------------------ USDT probes */
#ifdef SPINDLE_HAVE_SDT
#include <sys/sdt.h>
#define SP_PROBE2(name, a, b) DTRACE_PROBE2(spindle, name, a, b)
#define SP_PROBE3(name, a, b, c) DTRACE_PROBE3(spindle, name, a, b, c)
#else
#define SP_PROBE2(name, a, b) ((void)(a), (void)(b))
#define SP_PROBE3(name, a, b, c) ((void)(a), (void)(b), (void)(c))
#endif

typedef struct sp_worker sp_worker;
typedef struct sp_loop sp_loop;

/* -------------------------------------------------------------- spinlock */

/* Test-and-test-and-set lock for critical sections of a few instructions.
 * Never held across a park or a system call. */
static inline void sp__spin_lock(int *l) {
  for (;;) {
    if (!__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) return;
    while (__atomic_load_n(l, __ATOMIC_RELAXED)) sp__cpu_relax();
  }
}
static inline bool sp__spin_trylock(int *l) { return !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE); }
static inline void sp__spin_unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* ----------------------------------------------------------------- timers */

/* A timer lives inside the task that armed it; at most one per task. */
typedef struct sp__timer {
  uint64_t deadline;
  int32_t idx;      /* position in the loop's heap, -1 when not armed */
  int reason;       /* wake reason delivered when it fires */
  sp_loop *loop;    /* loop whose heap holds it, valid while armed */
  sp_task *task;
  uint64_t seq;     /* park sequence number it was armed for */
} sp__timer;

/* ------------------------------------------------------------------ tasks */

/* Why a task switched away (read by whoever finishes the switch). */
enum { SP_WHY_PARK = 1, SP_WHY_YIELD, SP_WHY_EXIT };

/*
 * Task run state.  Only the thread running a task moves it out of RUNNING;
 * wakers move PARKED -> RUNNABLE (and queue it) or RUNNING -> NOTIFIED
 * (when the task is still on its way out: whoever finishes its switch sees
 * NOTIFIED and queues it instead of parking it).
 */
enum { SP_TS_RUNNABLE = 1, SP_TS_RUNNING, SP_TS_NOTIFIED, SP_TS_PARKED, SP_TS_DONE };

/*
 * Wake reasons.  Each park has a sequence number; its wait word holds
 * (seq << 8) | reason, reason 0 while pending.  The first party to CAS the
 * word from (seq, 0) to (seq, reason) owns the wakeup: exactly one wake per
 * park, and a stale waker (timer of an old park) can never win.
 */
enum { SP_WAKE_PENDING = 0, SP_WAKE_OK, SP_WAKE_TIMEOUT, SP_WAKE_CANCEL, SP_WAKE_SHUTDOWN };
#define SP_WAKE_REASON(word) ((int)((word)&0xf))
/* Set in a pending word: the park ignores cancellation (it stays pending
 * and is delivered at the next interruptible park). */
#define SP_WAIT_UNINTERRUPTIBLE 0x10u

#define SP_TASK_NAME_MAX 32

/*
 * Task control blocks live in a dense pool (tcb.c), a few per page.  A
 * task's stack is attached only when it first runs, by the worker that runs
 * it, and detached as soon as it exits: spawning touches no stack memory,
 * the page faults of fresh stacks spread over the workers, and a finished
 * task waiting to be joined holds no stack.
 */
struct sp_task {
  _Alignas(SP_CACHELINE) void *sp; /* saved stack pointer; NULL before the first run */
  int why;                  /* SP_WHY_*, written before switching out */
  _Atomic int state;        /* SP_TS_* */
  _Atomic uint64_t wait;    /* (seq << 8) | reason */
  uint64_t seq;             /* current park's sequence number (owner only) */
  _Atomic int cancel_req;   /* a cancel waits to be delivered */
  _Atomic int refs;         /* 1 for the runtime until exit, 1 for the handle */
  int cancelled_before_run; /* never started: join reports SP_ENOTASK */
  bool started;
  bool canary;              /* its slot has no guard page: check the canary */
  uint64_t deadline;        /* innermost deadline scope, SP_NEVER if none */
  sp__timer timer;
  sp_task_fn fn;
  void *arg;
  void *result;
  sp_runtime *rt;
  sp_task *next;            /* link in the control-block free list */
  sp__waitq joinq;          /* joiners; `done` is guarded by joinq.lock */
  bool done;
  /* stack slot, attached while the task runs or is parked */
  size_t stack_req;         /* requested size */
  struct sp_slab *slab;     /* NULL while no stack is attached */
  uint32_t slot;
  char *stack_lo;           /* lowest usable byte (canary sits here) */
  size_t stack_size;        /* usable bytes */
  int start_err;            /* no stack could be attached: join returns it */
  _Atomic unsigned char live; /* visible to sp__tasks_foreach (tcb.c) */
  uint64_t id;
#ifdef SP_ASAN
  void *asan_fake_stack;
#endif
#ifdef SP_TSAN
  void *tsan_fiber;
#endif
  char name[SP_TASK_NAME_MAX];
};

/* A parked party: a task, or a thread foreign to the runtime. */
typedef struct sp__waiter {
  sp_task *task;             /* NULL for a foreign thread */
  uint64_t seq;              /* the task's park sequence number */
  _Atomic uint32_t word;     /* foreign thread: its wake reason (futex word) */
  struct sp__waiter *next, *prev;
  bool linked;               /* on a wait queue (guarded by its lock) */
  void *data;                /* per-primitive payload (channel element) */
  int status;                /* per-primitive result set by the waker */
} sp__waiter;

/* ------------------------------------------------------------- run queue */

#define SP_RUNQ_SIZE 256u
#define SP_RUNQ_MASK (SP_RUNQ_SIZE - 1u)

/*
 * Bounded single-producer multi-consumer ring (Go's runq).  The owner pushes
 * at `tail`; the owner and thieves consume from `head` with a CAS.
 * Invariant: 0 <= tail - head <= SP_RUNQ_SIZE (indices wrap modulo 2^32).
 */
typedef struct sp_runq {
  _Alignas(SP_CACHELINE) _Atomic uint32_t head;
  _Alignas(SP_CACHELINE) _Atomic uint32_t tail;
  _Atomic(sp_task *) buf[SP_RUNQ_SIZE];
} sp_runq;

void sp__runq_init(sp_runq *q);
bool sp__runq_push(sp_runq *q, sp_task *t);  /* false when full */
sp_task *sp__runq_pop(sp_runq *q);
uint32_t sp__runq_len(sp_runq *q);
/* Moves half of the victim's tasks into `into` (which must be empty) and
 * returns one of them to run, or NULL. */
sp_task *sp__runq_steal(sp_runq *victim, sp_runq *into, uint32_t *nstolen);
/* Owner only: removes up to n tasks into out[] (for overflow). */
uint32_t sp__runq_grab(sp_runq *q, sp_task **out, uint32_t n);

/* ------------------------------------------------------------- poll loop */

/*
 * A watcher: a persistent, level-triggered registration of an fd whose
 * events call cb(ctx, revents) on whichever thread serves the loop (the
 * worker, or another thread while the worker is stuck in a long task), with
 * the loop's lock held.  So cb must be short and must not block, take any
 * lock but a leaf spin lock, or call sp__watch_*; it records the event and
 * wakes a task (sp__wake).  Holding the lock makes deletion synchronous:
 * once sp__watch_del returns, cb will not run for that watcher again, and
 * ctx may be freed.
 */
typedef void (*sp__watch_cb)(void *ctx, unsigned revents);

typedef struct sp__fdslot {
  sp_task *task;    /* fd wait: the task; NULL for a watcher or a free slot */
  sp__watch_cb cb;  /* watcher: its callback, else NULL */
  void *ctx;
  uint64_t seq;
  uint32_t gen;     /* bumped on free; stale events carry an old gen */
  uint32_t revents;
  int next_free;
} sp__fdslot;

/*
 * One per worker.  `lock` guards the timer heap and the fd slots.  `owner`
 * is a try-lock deciding which thread may epoll_wait on epfd: the worker
 * itself, or another thread serving the loop while the worker is stuck in a
 * long task.  Timers are only added by tasks running on this worker, so a
 * blocked epoll_wait never needs to learn of an earlier deadline.
 */
struct sp_loop {
  int epfd;
  int efd;                       /* eventfd: wakes a parked worker */
  int tfd;                       /* timerfd when epoll_pwait2 is missing, else -1 */
  _Atomic int owner;
  int lock;
  struct { uint64_t deadline; sp__timer *t; } *heap;
  uint32_t nheap, capheap;
  _Atomic uint64_t next_deadline; /* heap top, or SP_NEVER; read without the lock */
  sp__fdslot *slots;
  int nslots, free_slot;
  _Atomic int nfds;               /* fds registered now */
  sp_worker *w;
};

int sp__loop_init(sp_loop *l, sp_worker *w);
void sp__loop_close(sp_loop *l);
/* Polls (timeout 0 or up to deadline): fires due timers and ready fds.
 * Caller holds l->owner.  Returns the number of tasks woken. */
int sp__loop_poll(sp_loop *l, uint64_t deadline);
/* Fires due timers only (caller need not own the loop). */
int sp__loop_fire_timers(sp_loop *l, uint64_t now);
void sp__timer_arm(sp_loop *l, sp__timer *t);
void sp__timer_disarm(sp__timer *t);
void sp__loop_notify(sp_loop *l); /* wakes a thread blocked on the loop */
/* Watchers (see sp__fdslot).  events: SP_READABLE | SP_WRITABLE, and
 * SP__WATCH_ONESHOT for a watcher that reports once and then stays quiet
 * until sp__watch_mod arms it again: a level-triggered fd whose consumer
 * runs later (on another thread) would otherwise be reported by every poll
 * until then, and an idle worker would spin on it.  add returns a watcher
 * id (>= 0) or a negated errno; an fd the epoll set still holds (closed
 * and reused behind our back) is taken over.  mod and del tolerate an fd
 * that was closed meanwhile. */
#define SP__WATCH_ONESHOT 0x100u
int sp__watch_add(sp_loop *l, int fd, unsigned events, sp__watch_cb cb, void *ctx);
int sp__watch_mod(sp_loop *l, int id, int fd, unsigned events);
void sp__watch_del(sp_loop *l, int id, int fd);

/* ----------------------------------------------------------------- stacks */

/* A stack slot: slot `idx` of a slab. */
typedef struct sp__slotref {
  struct sp_slab *slab;
  uint32_t idx;
} sp__slotref;

typedef enum { SP_GUARD_MADVISE = 1, SP_GUARD_MPROTECT, SP_GUARD_CANARY } sp_guard_mode;

struct sp_stack_pool;
int sp__stacks_init(sp_runtime *rt);
void sp__stacks_destroy(sp_runtime *rt);
/* Attaches a stack of at least t->stack_req bytes to t (sets the slab,
 * slot, stack_lo, stack_size and canary fields).  False when out of memory. */
bool sp__stack_attach(sp_runtime *rt, sp_worker *w, sp_task *t);
void sp__stack_detach(sp_runtime *rt, sp_worker *w, sp_task *t);

/* Task control blocks (tcb.c). */
int sp__tcb_init(sp_runtime *rt);
void sp__tcb_destroy(sp_runtime *rt);
sp_task *sp__tcb_alloc(sp_runtime *rt, sp_worker *w);
void sp__tcb_free(sp_runtime *rt, sp_worker *w, sp_task *t);
/* Marks a fully initialised task visible to sp__tasks_foreach. */
void sp__tcb_publish(sp_task *t);
/* Calls fn on every published task; blocks live for the runtime's life. */
void sp__tasks_foreach(sp_runtime *rt, void (*fn)(sp_task *, void *), void *arg);
bool sp__stack_canary_ok(const sp_task *t);
/* Returns memory of surplus free stacks to the kernel (from idle workers). */
void sp__stacks_trim(sp_runtime *rt, sp_worker *w);
const char *sp__guard_mode_name(sp_guard_mode m);
void sp__signals_thread_init(void);
void sp__signals_thread_fini(void);
int sp__signals_install(void);

/* ----------------------------------------------------------------- worker */

typedef struct sp__stats {
  _Atomic uint64_t v[12]; /* same order as sp_worker_stats */
} sp__stats;
enum {
  ST_TASKS_RUN, ST_SPAWNS, ST_STEALS, ST_STEAL_OPS, ST_PARKS, ST_WAKEUPS,
  ST_GLOBAL_POLLS, ST_TIMER_FIRES, ST_IO_EVENTS, ST_LIFO_RUNS, ST_OVERFLOWS, ST_TAKEOVERS
};
/* Owner-written counter: a plain load+store, no locked instruction. */
#define SP_STAT_ADD(w, k, n)                                                              \
  atomic_store_explicit(&(w)->stats.v[k],                                                \
                        atomic_load_explicit(&(w)->stats.v[k], memory_order_relaxed) + (n), \
                        memory_order_relaxed)

enum { SP_WS_RUNNING = 0, SP_WS_PARKED = 1 };

#define SP_STACK_CACHE 32
#define SP_CACHED_CLASSES 8
#define SP_TCB_CACHE 64

struct sp_worker {
  sp_runq rq;
  _Alignas(SP_CACHELINE) _Atomic(sp_task *) lifo;
  sp_runtime *rt;
  unsigned id;
  unsigned lifo_streak;
  uint32_t tick;
  uint64_t rng;
  bool searching;
  sp_task *current;
  void *idle_sp;                  /* idle context's saved stack pointer */
  _Atomic uint32_t tick_pub;      /* tick, for the monitor */
  _Atomic int in_task;            /* a task (not the idle context) is running */
  _Atomic int wstate;             /* SP_WS_* */
  bool woken_searching;           /* set by the waker under idle_lock */
  bool in_idle_list;              /* guarded by rt->idle_lock */
  sp_worker *idle_next, *idle_prev;
  sp__slotref stack_cache[SP_CACHED_CLASSES][SP_STACK_CACHE]; /* free slots per size class */
  unsigned nstack_cache[SP_CACHED_CLASSES];
  sp_task *tcb_cache[SP_TCB_CACHE];
  unsigned ntcb_cache;
  sp_loop loop;
  pthread_t thread;
  void *idle_stack_lo;
  size_t idle_stack_size;
#ifdef SP_ASAN
  void *asan_fake_stack;
#endif
#ifdef SP_TSAN
  void *tsan_fiber;
#endif
  sp__stats stats;
  /* Tasks spawned here, and tasks that exited here: monotonic, written
   * only by this worker's thread; see sp__live_tasks. */
  _Atomic uint64_t spawned, exited;
};

/* ----------------------------------------------------------------- runtime */

struct sp_runtime {
  unsigned nworkers;
  sp_worker **workers;
  size_t default_stack;
  int print_stats;

  /* Global queue: tasks from outside, overflow of local queues.  A ring of
   * pointers, not a list through the tasks: a task may have a stale entry
   * here while it is queued again elsewhere (see "Claims" in worker.c). */
  _Alignas(SP_CACHELINE) pthread_mutex_t gq_lock;
  sp_task **gq_buf;
  uint32_t gq_cap, gq_head; /* gq_len entries from gq_head, modulo gq_cap */
  _Atomic uint32_t gq_len;

  /* Idle workers and searching ("spinning") workers, Go's protocol. */
  _Alignas(SP_CACHELINE) _Atomic int nsearching;
  _Atomic int nidle;
  pthread_mutex_t idle_lock;
  sp_worker *idle_head;

  _Alignas(SP_CACHELINE) _Atomic int shutdown;  /* parks fail with SP_ESHUTDOWN */
  _Atomic int stopping;                          /* workers exit when idle */
  _Atomic uint64_t spawned_foreign;              /* spawned outside workers; see sp__live_tasks */
  _Atomic uint64_t next_id;
  pthread_mutex_t done_lock;
  pthread_cond_t done_cond;

  /* Monitor thread: serves the loops of workers stuck in long tasks. */
  pthread_t monitor;
  pthread_mutex_t mon_lock;
  pthread_cond_t mon_cond;
  _Atomic int mon_sleeping;
  bool mon_stop;

  struct sp_stack_pool *stacks;
  struct sp_tcb_pool *tcbs;
  struct sp_offload_pool *offload;

  /* io/ state (io/src/ioctx.c), made on first use; io_fini releases it at
   * shutdown once every task has ended, while the loops still exist. */
  _Atomic(void *) io;
  void (*io_fini)(sp_runtime *rt);
};

/* ------------------------------------------------- scheduler entry points */

sp_worker *sp__cur_worker(void);   /* never cached across a park */
sp_task *sp__cur_task(void);
sp_runtime *sp__cur_runtime(void);

/* Starts a park for the calling task: returns its sequence number.  Must be
 * called before the task is published anywhere a waker can find it. */
uint64_t sp__park_begin(sp_task *t, int flags);
/* Parks until woken, an extra deadline (SP_NEVER for none) or the task's
 * deadline scope passes, or a cancel.  Returns the SP_WAKE_* reason. */
#define SP_PARK_UNINTERRUPTIBLE 1 /* ignore cancel and deadline scope */
int sp__park(sp_task *t, uint64_t deadline, int deadline_reason, int flags);
/* Closes a park begun with sp__park_begin that will not happen (the wait
 * could not be set up): a pending park left open could be claimed later by
 * a cancel, even while the task exits.  Returns SP_WAKE_OK, or the reason
 * of a waker that claimed it first (its wake received). */
int sp__park_abandon(sp_task *t);
/* sp__park that first tries to run `help` (if it is runnable) in its place:
 * a joiner runs the task it waits for. */
int sp__park_helping(sp_task *t, sp_task *help, int flags);
/* Tries to wake t's park `seq` with `reason`.  True if this call won. */
bool sp__wake(sp_task *t, uint64_t seq, int reason);
/* The two halves of sp__wake: claim the wakeup (after which the task cannot
 * resume until commit), then make it runnable.  Lets a waker hand data to
 * the task in between. */
bool sp__wake_claim(sp_task *t, uint64_t seq, int reason);
void sp__wake_commit(sp_task *t, bool lifo);
/* Makes a woken task runnable on the calling thread's worker (or the global
 * queue from a foreign thread).  lifo: run it next. */
void sp__ready(sp_task *t, bool lifo);
int sp__wake_to_err(int reason);

/* Waiter helpers (waitq.c): tasks park, foreign threads block on a futex. */
void sp__waiter_init(sp__waiter *w);
/* Claim/commit as for tasks: between them the waker may fill w->data and
 * w->status; the waiter cannot return before the commit. */
bool sp__waiter_claim(sp__waiter *w, int reason);
void sp__waiter_commit(sp__waiter *w, int reason);
/* Queue operations; the caller holds the queue's lock. */
void sp__waitq_push(sp__waitq *q, sp__waiter *w);
void sp__waitq_remove(sp__waitq *q, sp__waiter *w);
sp__waiter *sp__waitq_pop(sp__waitq *q);
/* Pops waiters until one can be claimed; returns it claimed (with reason OK)
 * but not committed, or NULL. */
sp__waiter *sp__waitq_claim_one(sp__waitq *q);
/* Wakes every waiter with status `status` (each committed).  Lock held. */
void sp__waitq_wake_all(sp__waitq *q, int status);
/* Parks on q: *lock is held on entry and released inside.  Returns the
 * SP_WAKE_* reason; on anything but OK the waiter is off the queue. */
int sp__waitq_block(sp__waitq *q, int *lock, sp__waiter *w, int flags);

void sp__gq_push(sp_runtime *rt, sp_task *const *tasks, uint32_t n);
/* Claims a queued (RUNNABLE) task for running: false if a stale entry. */
static inline bool sp__claim(sp_task *t) {
  int s = SP_TS_RUNNABLE;
  return atomic_compare_exchange_strong_explicit(&t->state, &s, SP_TS_RUNNING, memory_order_acquire,
                                                 memory_order_relaxed);
}
void sp__wake_idle_worker(sp_runtime *rt);
void sp__task_finish_exit(sp_worker *w, sp_task *t);
/* On the exiting task's own stack: marks it done and wakes its joiners;
 * returns the first joining task (to run next), or NULL. */
sp_task *sp__task_complete(sp_task *t);
void sp__task_release(sp_task *t);
int64_t sp__live_tasks(sp_runtime *rt);
#define SP__SPAWN_SYSTEM 1 /* the runtime's own task: its start cannot be cancelled */
sp_task *sp__task_create(sp_runtime *rt, sp_worker *w, const sp_spawn_opts *opts,
                         sp_task_fn fn, void *arg, int flags, int *err);
/* Spawns a task of the runtime's own (io/'s drivers) from a task: like
 * sp_spawn_with, but a cancel that comes before it starts (at shutdown)
 * reaches it at its first interruptible park instead of stopping it from
 * ever running, so it always gets to run its clean-up. */
int sp__spawn_system(sp_task **out, const sp_spawn_opts *opts, sp_task_fn fn, void *arg);
void sp__task_entry(void *prev, void *user);
void sp__finish_switch(sp_task *prev);

int sp__workers_start(sp_runtime *rt);
void sp__workers_stop(sp_runtime *rt);
int sp__monitor_start(sp_runtime *rt);
void sp__monitor_stop(sp_runtime *rt);
void sp__monitor_kick(sp_runtime *rt);

int sp__offload_init(sp_runtime *rt, unsigned max_threads);
void sp__offload_destroy(sp_runtime *rt);

/* futex helpers */
void sp__futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t deadline);
void sp__futex_wake(_Atomic uint32_t *addr, int n);

#endif
