/* test_loop_fd.c - white-box tests of the poll loop's watchers
 * (sched/src/loop.c) when fds change behind its back, as libcurl and c-ares
 * do: registered twice, closed and reused, closed while watched. */
#define _GNU_SOURCE
#include "sched/spt.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "internal.h"

static int hits[4];
static unsigned last_rev[4];
static void on_ready(void *ctx, unsigned revents) {
  hits[(intptr_t)ctx]++;
  last_rev[(intptr_t)ctx] = revents;
}

static sp_loop *loop;
static sp_worker *worker;

static void new_loop(void) {
  loop = calloc(1, sizeof *loop);
  worker = calloc(1, sizeof *worker);
  cr_assert(loop && worker);
  cr_assert_eq(sp__loop_init(loop, worker), 0);
  memset(hits, 0, sizeof hits);
}

static void free_loop(void) {
  sp__loop_close(loop);
  free(loop);
  free(worker);
}

static void poll_n(int n) {
  for (int i = 0; i < n; i++) sp__loop_poll(loop, 0);
}

/* A new pipe into p whose read end is numbered fd (fd is closed): the
 * number reused, for certain. */
static void pipe_at(int fd, int p[2]) {
  cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  if (p[0] != fd) {
    cr_assert_eq(dup3(p[0], fd, O_CLOEXEC), fd);
    close(p[0]);
    p[0] = fd;
  }
}

/* A second sp__watch_add for an fd the epoll set already holds (EEXIST)
 * takes the registration over: it succeeds, and readiness goes to the new
 * watcher only. */
Test(loop_fd, add_on_registered_fd_takes_over, .init = new_loop, .fini = free_loop, .timeout = 30) {
  int p[2];
  cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  int old = sp__watch_add(loop, p[0], SP_READABLE, on_ready, IPTR(0));
  cr_assert(old >= 0, "first add: %d", old);
  int id = sp__watch_add(loop, p[0], SP_READABLE, on_ready, IPTR(1));
  cr_assert(id >= 0, "add on a registered fd: %d (%s)", id, strerror(-id));
  cr_assert_neq(id, old);
  cr_assert_eq(write(p[1], "x", 1), 1);
  poll_n(3);
  cr_assert_eq(hits[1], 3, "new watcher reported %d times", hits[1]);
  cr_assert_eq(hits[0], 0, "old watcher reported %d times", hits[0]);
  cr_assert(last_rev[1] & SP_READABLE);
  sp__watch_del(loop, id, p[0]);
  close(p[0]);
  close(p[1]);
}

/* sp__watch_mod of an fd the epoll set no longer holds (closed, its number
 * reused by a new pipe: ENOENT) registers it again, and the watcher reports
 * the new pipe's readiness. */
Test(loop_fd, mod_on_reused_fd_readds, .init = new_loop, .fini = free_loop, .timeout = 30) {
  int a[2], b[2];
  cr_assert_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
  int fd = a[0];
  int id = sp__watch_add(loop, fd, SP_READABLE, on_ready, IPTR(0));
  cr_assert(id >= 0);
  close(a[0]); /* the only reference: epoll drops the registration */
  pipe_at(fd, b);
  struct epoll_event probe = {.events = EPOLLIN};
  cr_assert_eq(epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &probe), -1);
  cr_assert_eq(errno, ENOENT, "the reused fd is still in the epoll set");
  int rc = sp__watch_mod(loop, id, fd, SP_READABLE);
  cr_assert_eq(rc, 0, "mod on a reused fd: %d (%s)", rc, strerror(-rc));
  poll_n(2);
  cr_assert_eq(hits[0], 0, "reported before any data");
  cr_assert_eq(write(b[1], "y", 1), 1);
  poll_n(2);
  cr_assert_eq(hits[0], 2, "watcher reported %d times after the write", hits[0]);
  /* a one-shot re-arm goes through the same path */
  close(fd);
  int c[2];
  pipe_at(fd, c);
  cr_assert_eq(write(c[1], "z", 1), 1);
  cr_assert_eq(sp__watch_mod(loop, id, fd, SP_READABLE | SP__WATCH_ONESHOT), 0);
  poll_n(3);
  cr_assert_eq(hits[0], 3, "one-shot re-armed on a reused fd reported %d times", hits[0] - 2);
  sp__watch_del(loop, id, fd);
  close(fd);
  close(a[1]);
  close(b[1]);
  close(c[1]);
}

/* A watched fd closed behind the loop's back: deleting its watcher is
 * harmless (EBADF/ENOENT tolerated), the loop's fd count comes back, and a
 * new fd with the same number can be watched and reports. */
Test(loop_fd, closed_fd_deleted_and_reused, .init = new_loop, .fini = free_loop, .timeout = 30) {
  int a[2], b[2];
  cr_assert_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
  int fd = a[0];
  int nfds0 = atomic_load(&loop->nfds);
  int id = sp__watch_add(loop, fd, SP_READABLE, on_ready, IPTR(0));
  cr_assert(id >= 0);
  cr_assert_eq(atomic_load(&loop->nfds), nfds0 + 1);
  close(a[0]);
  sp__watch_del(loop, id, fd); /* EBADF */
  cr_assert_eq(atomic_load(&loop->nfds), nfds0);
  pipe_at(fd, b);
  int id2 = sp__watch_add(loop, fd, SP_READABLE, on_ready, IPTR(1));
  cr_assert(id2 >= 0, "add on a reused fd: %d", id2);
  close(fd);
  int c[2];
  pipe_at(fd, c); /* the set dropped fd on its close */
  sp__watch_del(loop, id2, fd); /* ENOENT: another file now */
  int id3 = sp__watch_add(loop, fd, SP_READABLE, on_ready, IPTR(2));
  cr_assert(id3 >= 0);
  cr_assert_eq(write(c[1], "w", 1), 1);
  poll_n(2);
  cr_assert_eq(hits[2], 2, "watcher of the reused fd reported %d times", hits[2]);
  cr_assert_eq(hits[0] + hits[1], 0, "stale watchers reported (%d, %d)", hits[0], hits[1]);
  sp__watch_del(loop, id3, fd);
  cr_assert_eq(atomic_load(&loop->nfds), nfds0);
  close(fd);
  close(a[1]);
  close(b[1]);
  close(c[1]);
}

/* A watcher's stale event is ignored: a dup keeps the old registration
 * alive in the epoll set after the fd's close, so the set still reports
 * the old file under the old watcher's slot; once that watcher is deleted
 * and its slot reused, those events must reach nobody. */
Test(loop_fd, stale_slot_events_ignored, .init = new_loop, .fini = free_loop, .timeout = 30) {
  int a[2], b[2];
  cr_assert_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
  int id = sp__watch_add(loop, a[0], SP_READABLE, on_ready, IPTR(0));
  cr_assert(id >= 0);
  int keep = dup(a[0]); /* the description lives on: epoll keeps reporting it */
  cr_assert(keep >= 0);
  int fd = a[0];
  close(a[0]);
  sp__watch_del(loop, id, fd); /* EBADF: the registration cannot be removed by number */
  cr_assert_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
  int id2 = sp__watch_add(loop, b[0], SP_READABLE, on_ready, IPTR(1));
  cr_assert(id2 >= 0);
  cr_assert_eq(write(a[1], "s", 1), 1); /* the old file becomes readable */
  poll_n(3);
  cr_assert_eq(hits[0], 0, "a deleted watcher reported %d times", hits[0]);
  cr_assert_eq(hits[1], 0, "the slot's new watcher got the old file's events (%d)", hits[1]);
  cr_assert_eq(write(b[1], "t", 1), 1);
  poll_n(1);
  cr_assert_eq(hits[1], 1, "new watcher reported %d times", hits[1]);
  sp__watch_del(loop, id2, b[0]);
  close(keep);
  close(a[1]);
  close(b[0]);
  close(b[1]);
}
