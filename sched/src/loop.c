/*
 * loop.c - a worker's poll loop: epoll for fds, a binary heap for timers.
 *
 * Timers have nanosecond deadlines.  epoll_wait's timeout is in
 * milliseconds, which would round every short sleep up to a whole
 * millisecond (Go's issue #44343), so the loop blocks in epoll_pwait2, whose
 * timeout is a timespec; on kernels without it (< 5.11) a timerfd in the
 * epoll set carries the deadline instead.
 *
 * fd waits register with EPOLLONESHOT and carry (slot index, generation) in
 * the event, never a pointer: an event dequeued just before its waiter gave
 * up refers to a slot whose generation has moved on and is ignored.
 * Watchers (persistent registrations with a callback, for libraries that
 * manage their own sockets: libcurl, c-ares) use the same slots.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define EV_WAKE UINT64_MAX          /* the eventfd */
#define EV_TIMERFD (UINT64_MAX - 1) /* the fallback timerfd */

static int have_pwait2 = -1; /* -1 unknown, 0 no, 1 yes */

int sp__loop_init(sp_loop *l, sp_worker *w) {
  memset(l, 0, sizeof *l);
  l->w = w;
  l->tfd = -1;
  l->free_slot = -1;
  atomic_init(&l->next_deadline, SP_NEVER);
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) return -errno;
  l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->efd < 0) {
    int e = -errno;
    close(l->epfd);
    return e;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_WAKE};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev) < 0) goto fail;
  if (__atomic_load_n(&have_pwait2, __ATOMIC_RELAXED) < 0) {
    struct epoll_event e;
    struct timespec ts = {0, 0};
    long r = syscall(SYS_epoll_pwait2, l->epfd, &e, 1, &ts, NULL, (size_t)(_NSIG / 8));
    __atomic_store_n(&have_pwait2, (r < 0 && errno == ENOSYS) ? 0 : 1, __ATOMIC_RELAXED);
    if (r > 0) { /* consumed nothing: the eventfd is level-triggered */ }
  }
  if (!__atomic_load_n(&have_pwait2, __ATOMIC_RELAXED)) {
    l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (l->tfd < 0) goto fail;
    ev.data.u64 = EV_TIMERFD;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) < 0) goto fail;
  }
  return 0;
fail:;
  int e = -errno;
  sp__loop_close(l);
  return e;
}

void sp__loop_close(sp_loop *l) {
  if (l->tfd >= 0) close(l->tfd);
  if (l->efd >= 0) close(l->efd);
  if (l->epfd >= 0) close(l->epfd);
  l->tfd = l->efd = l->epfd = -1;
  free(l->heap);
  free(l->slots);
  l->heap = NULL;
  l->slots = NULL;
}

void sp__loop_notify(sp_loop *l) {
  uint64_t one = 1;
  ssize_t r = write(l->efd, &one, sizeof one);
  (void)r; /* EAGAIN: the counter is already non-zero, the wakeup is pending */
}

/* ------------------------------------------------------------ timer heap */

static void heap_set(sp_loop *l, uint32_t i, uint64_t d, sp__timer *t) {
  l->heap[i].deadline = d;
  l->heap[i].t = t;
  t->idx = (int32_t)i;
}

static void heap_up(sp_loop *l, uint32_t i) {
  uint64_t d = l->heap[i].deadline;
  sp__timer *t = l->heap[i].t;
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (l->heap[p].deadline <= d) break;
    heap_set(l, i, l->heap[p].deadline, l->heap[p].t);
    i = p;
  }
  heap_set(l, i, d, t);
}

static void heap_down(sp_loop *l, uint32_t i) {
  uint64_t d = l->heap[i].deadline;
  sp__timer *t = l->heap[i].t;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= l->nheap) break;
    if (c + 1 < l->nheap && l->heap[c + 1].deadline < l->heap[c].deadline) c++;
    if (l->heap[c].deadline >= d) break;
    heap_set(l, i, l->heap[c].deadline, l->heap[c].t);
    i = c;
  }
  heap_set(l, i, d, t);
}

static void heap_remove_at(sp_loop *l, uint32_t i) {
  l->heap[i].t->idx = -1;
  l->nheap--;
  if (i != l->nheap) {
    heap_set(l, i, l->heap[l->nheap].deadline, l->heap[l->nheap].t);
    if (i > 0 && l->heap[(i - 1) / 2].deadline > l->heap[i].deadline)
      heap_up(l, i);
    else
      heap_down(l, i);
  }
}

static void publish_next_deadline(sp_loop *l) {
  atomic_store_explicit(&l->next_deadline, l->nheap ? l->heap[0].deadline : SP_NEVER,
                        memory_order_release);
}

void sp__timer_arm(sp_loop *l, sp__timer *t) {
  sp__spin_lock(&l->lock);
  if (l->nheap == l->capheap) {
    uint32_t cap = l->capheap ? l->capheap * 2 : 64;
    void *p = realloc(l->heap, cap * sizeof l->heap[0]);
    if (!p) sp__panic(__FILE__, __LINE__, "out of memory growing the timer heap");
    l->heap = p;
    l->capheap = cap;
  }
  t->loop = l;
  uint32_t i = l->nheap++;
  heap_set(l, i, t->deadline, t);
  heap_up(l, i);
  publish_next_deadline(l);
  sp__spin_unlock(&l->lock);
}

void sp__timer_disarm(sp__timer *t) {
  sp_loop *l = t->loop;
  if (!l) return;
  sp__spin_lock(&l->lock);
  if (t->idx >= 0) {
    heap_remove_at(l, (uint32_t)t->idx);
    publish_next_deadline(l);
  }
  t->loop = NULL;
  sp__spin_unlock(&l->lock);
}

/*
 * The heap is mutated only under l->lock; a timer removed here is never
 * touched again by the loop, so its task may resume and reuse it.
 *
 * Woken tasks go to the firing worker's ring.  A big batch would overflow it,
 * and overflow moves the *oldest* tasks to the global queue, behind the
 * newer ones: so the owner fires no more timers than its ring has room for.
 * The rest stay due and fire, in order, once the ring has drained.
 */
int sp__loop_fire_timers(sp_loop *l, uint64_t now) {
  if (atomic_load_explicit(&l->next_deadline, memory_order_acquire) > now) return 0;
  uint32_t budget = UINT32_MAX;
  if (sp__cur_worker() == l->w) budget = SP_RUNQ_SIZE - 1 - sp__runq_len(&l->w->rq);
  int woken = 0;
  sp__spin_lock(&l->lock);
  while (l->nheap && l->heap[0].deadline <= now && budget--) {
    sp__timer *t = l->heap[0].t;
    heap_remove_at(l, 0);
    if (sp__wake(t->task, t->seq, t->reason)) woken++;
  }
  publish_next_deadline(l);
  sp__spin_unlock(&l->lock);
  if (woken) atomic_fetch_add_explicit(&l->w->stats.v[ST_TIMER_FIRES], (uint64_t)woken, memory_order_relaxed);
  return woken;
}

/* --------------------------------------------------------------- fd waits */

static int slot_alloc(sp_loop *l) {
  if (l->free_slot < 0) {
    int n = l->nslots ? l->nslots * 2 : 16;
    sp__fdslot *s = realloc(l->slots, (size_t)n * sizeof *s);
    if (!s) return -ENOMEM;
    for (int i = l->nslots; i < n; i++) {
      s[i].task = NULL;
      s[i].cb = NULL;
      s[i].gen = 0;
      s[i].next_free = i + 1 < n ? i + 1 : -1;
    }
    l->free_slot = l->nslots;
    l->slots = s;
    l->nslots = n;
  }
  int i = l->free_slot;
  l->free_slot = l->slots[i].next_free;
  return i;
}

static void slot_free(sp_loop *l, int i) {
  l->slots[i].task = NULL;
  l->slots[i].cb = NULL;
  l->slots[i].gen++;
  l->slots[i].next_free = l->free_slot;
  l->free_slot = i;
}

static uint32_t to_epoll(unsigned ev) {
  uint32_t e = EPOLLONESHOT;
  if (ev & SP_READABLE) e |= EPOLLIN | EPOLLRDHUP;
  if (ev & SP_WRITABLE) e |= EPOLLOUT;
  if (ev & SP__WATCH_ONESHOT) e |= EPOLLONESHOT;
  return e;
}

int sp_wait_fd(int fd, unsigned events, uint64_t timeout_ns) {
  sp_task *t = sp__cur_task();
  if (!t) return SP_EPERM;
  if (fd < 0) return -EBADF;
  if (!(events & (SP_READABLE | SP_WRITABLE)) || (events & ~(SP_READABLE | SP_WRITABLE)))
    return SP_EINVAL;
  sp_loop *l = &sp__cur_worker()->loop;
  uint64_t seq = sp__park_begin(t, 0);

  sp__spin_lock(&l->lock);
  int i = slot_alloc(l);
  if (i >= 0) {
    l->slots[i].task = t;
    l->slots[i].seq = seq;
    l->slots[i].revents = 0;
  }
  uint32_t gen = i >= 0 ? l->slots[i].gen : 0;
  sp__spin_unlock(&l->lock);
  if (i < 0) {
    int reason = sp__park_abandon(t);
    return reason == SP_WAKE_OK ? SP_ENOMEM : sp__wake_to_err(reason);
  }

  struct epoll_event ev = {.events = to_epoll(events), .data.u64 = ((uint64_t)gen << 32) | (uint32_t)i};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno == EEXIST ? SP_EBUSY : -errno;
    sp__spin_lock(&l->lock);
    slot_free(l, i);
    sp__spin_unlock(&l->lock);
    int reason = sp__park_abandon(t);
    return reason == SP_WAKE_OK ? e : sp__wake_to_err(reason);
  }
  atomic_fetch_add_explicit(&l->nfds, 1, memory_order_relaxed);
  uint64_t deadline = timeout_ns == SP_NEVER ? SP_NEVER : sp_now_ns() + timeout_ns;
  int reason = sp__park(t, deadline, SP_WAKE_TIMEOUT, 0);

  /* We may now run on another worker: `l` is the loop we registered on. */
  if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != ENOENT && errno != EBADF) {
    /* Nothing else can be done: the fd stays registered until closed. */
  }
  atomic_fetch_sub_explicit(&l->nfds, 1, memory_order_relaxed);
  sp__spin_lock(&l->lock);
  uint32_t rev = l->slots[i].revents;
  slot_free(l, i);
  sp__spin_unlock(&l->lock);
  if (reason != SP_WAKE_OK) return sp__wake_to_err(reason);
  return (int)(rev & events);
}

static uint32_t from_epoll(uint32_t ev) {
  uint32_t rev = 0;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) rev |= SP_READABLE;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) rev |= SP_WRITABLE;
  if (ev & (EPOLLHUP | EPOLLERR)) rev |= SP_READABLE | SP_WRITABLE;
  return rev;
}

static void fd_event(sp_loop *l, uint64_t data, uint32_t ev) {
  int i = (int)(uint32_t)data;
  uint32_t gen = (uint32_t)(data >> 32);
  sp__spin_lock(&l->lock);
  if (i < l->nslots && l->slots[i].gen == gen) {
    sp__fdslot *s = &l->slots[i];
    if (s->cb) {
      s->cb(s->ctx, from_epoll(ev));
    } else if (s->task) {
      uint32_t rev = from_epoll(ev);
      if (sp__wake(s->task, s->seq, SP_WAKE_OK)) s->revents = rev;
    }
  }
  sp__spin_unlock(&l->lock);
}

/* ---------------------------------------------------------------- watchers */

static uint32_t watch_events(unsigned ev) {
  uint32_t e = 0;
  if (ev & SP_READABLE) e |= EPOLLIN | EPOLLRDHUP;
  if (ev & SP_WRITABLE) e |= EPOLLOUT;
  if (ev & SP__WATCH_ONESHOT) e |= EPOLLONESHOT;
  return e;
}

static uint64_t slot_data(sp_loop *l, int i) { return ((uint64_t)l->slots[i].gen << 32) | (uint32_t)i; }

int sp__watch_add(sp_loop *l, int fd, unsigned events, sp__watch_cb cb, void *ctx) {
  if (fd < 0) return -EBADF;
  sp__spin_lock(&l->lock);
  int i = slot_alloc(l);
  if (i >= 0) {
    l->slots[i].cb = cb;
    l->slots[i].ctx = ctx;
  }
  uint64_t data = i >= 0 ? slot_data(l, i) : 0;
  sp__spin_unlock(&l->lock);
  if (i < 0) return -ENOMEM;
  struct epoll_event ev = {.events = watch_events(events), .data.u64 = data};
  int r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
  /* EEXIST: the fd number was closed and reused while an old registration
   * of a dup'ed description lingered; take the registration over. */
  if (r < 0 && errno == EEXIST) r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
  if (r < 0) {
    int e = -errno;
    sp__spin_lock(&l->lock);
    slot_free(l, i);
    sp__spin_unlock(&l->lock);
    return e;
  }
  atomic_fetch_add_explicit(&l->nfds, 1, memory_order_relaxed);
  return i;
}

int sp__watch_mod(sp_loop *l, int id, int fd, unsigned events) {
  sp__spin_lock(&l->lock);
  uint64_t data = slot_data(l, id);
  sp__spin_unlock(&l->lock);
  struct epoll_event ev = {.events = watch_events(events), .data.u64 = data};
  int r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
  /* ENOENT: the fd was closed (which drops it from the set) and reused. */
  if (r < 0 && errno == ENOENT) r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
  return r < 0 ? -errno : 0;
}

void sp__watch_del(sp_loop *l, int id, int fd) {
  /* EBADF/ENOENT: already closed, which removed it from the set. */
  if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF && errno != ENOENT) {
    /* EPERM and the like cannot happen for an fd that was added. */
  }
  sp__spin_lock(&l->lock);
  slot_free(l, id);
  sp__spin_unlock(&l->lock);
  atomic_fetch_sub_explicit(&l->nfds, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------- poll */

static void set_timerfd(sp_loop *l, uint64_t deadline) {
  struct itimerspec its = {{0, 0}, {0, 0}};
  if (deadline != SP_NEVER) {
    its.it_value.tv_sec = (time_t)(deadline / 1000000000u);
    its.it_value.tv_nsec = (long)(deadline % 1000000000u);
    if (!its.it_value.tv_sec && !its.it_value.tv_nsec) its.it_value.tv_nsec = 1;
  }
  timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int sp__loop_poll(sp_loop *l, uint64_t deadline) {
  struct epoll_event evs[128];
  uint64_t now = sp_now_ns();
  int woken = sp__loop_fire_timers(l, now);
  uint64_t next = atomic_load_explicit(&l->next_deadline, memory_order_acquire);
  if (woken) deadline = now; /* there is work: do not block */
  if (next < deadline) deadline = next;

  int n;
  if (deadline <= now) {
    if (!atomic_load_explicit(&l->nfds, memory_order_relaxed)) return woken;
    n = epoll_wait(l->epfd, evs, 128, 0);
  } else if (l->tfd < 0) {
    struct timespec ts, *tsp = NULL;
    if (deadline != SP_NEVER) {
      uint64_t d = deadline - now;
      ts.tv_sec = (time_t)(d / 1000000000u);
      ts.tv_nsec = (long)(d % 1000000000u);
      tsp = &ts;
    }
    n = (int)syscall(SYS_epoll_pwait2, l->epfd, evs, 128, tsp, NULL, (size_t)(_NSIG / 8));
  } else {
    set_timerfd(l, deadline);
    n = epoll_wait(l->epfd, evs, 128, -1);
  }
  if (n < 0) n = 0; /* EINTR: treat as a spurious wakeup */
  int io = 0;
  for (int i = 0; i < n; i++) {
    uint64_t d = evs[i].data.u64;
    if (d == EV_WAKE) {
      uint64_t v;
      ssize_t r = read(l->efd, &v, sizeof v);
      (void)r;
    } else if (d == EV_TIMERFD) {
      uint64_t v;
      ssize_t r = read(l->tfd, &v, sizeof v);
      (void)r;
    } else {
      fd_event(l, d, evs[i].events);
      io++;
    }
  }
  if (io) atomic_fetch_add_explicit(&l->w->stats.v[ST_IO_EVENTS], (uint64_t)io, memory_order_relaxed);
  return woken + sp__loop_fire_timers(l, sp_now_ns()) + io;
}
