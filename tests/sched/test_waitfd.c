/* test_waitfd.c - sp_wait_fd on pipes and sockets. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt_internal.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static void make_pipe(int p[2]) {
  int rc = pipe2(p, O_NONBLOCK | O_CLOEXEC);
  CHECKF(rc == 0, "pipe2: %s", strerror(errno));
}

/* --------------------------------------------------------- readable */

static int rd_pipe[2];
static atomic_ullong rd_written_at;
static void *delayed_write(void *arg) {
  (void)arg;
  CHECK_RC(sp_sleep(MS(10)), 0);
  atomic_store(&rd_written_at, sp_now_ns());
  CHECK_EQ(write(rd_pipe[1], "A", 1), 1);
  return NULL;
}
static void *main_readable(void *arg) {
  (void)arg;
  make_pipe(rd_pipe);
  sp_task *w = SPAWN(delayed_write, NULL);
  int rc = sp_wait_fd(rd_pipe[0], SP_READABLE, spt_patience_ns());
  uint64_t woke = sp_now_ns();
  CHECKF(rc == SP_READABLE, "a task waiting for a pipe to become readable was not woken by a write: %d (%s)", rc,
         sp_strerror(rc));
  CHECK(atomic_load(&rd_written_at) != 0 && woke >= atomic_load(&rd_written_at));
  char c = 0;
  CHECK_EQ(read(rd_pipe[0], &c, 1), 1);
  CHECK_EQ(c, 'A');
  spt_join_soon(w, "the writer");
  /* asking for both on a read end with data: only readable is reported */
  CHECK_EQ(write(rd_pipe[1], "B", 1), 1);
  CHECK_EQ(sp_wait_fd(rd_pipe[0], SP_READABLE | SP_WRITABLE, spt_patience_ns()), SP_READABLE);
  CHECK_EQ(read(rd_pipe[0], &c, 1), 1);
  /* hang-up: the read end reports readable and read() returns 0 */
  close(rd_pipe[1]);
  CHECK_EQ(sp_wait_fd(rd_pipe[0], SP_READABLE, spt_patience_ns()), SP_READABLE);
  CHECK_EQ(read(rd_pipe[0], &c, 1), 0);
  close(rd_pipe[0]);
  return NULL;
}

/* sp_wait_fd(READABLE) on a pipe returns once another task writes; hang-up reads as readable. */
Test(waitfd, readable_after_write, .timeout = 30) {
  spt_run(1, main_readable, NULL);
  spt_run(2, main_readable, NULL);
}

static void *main_writable(void *arg) {
  (void)arg;
  int p[2];
  make_pipe(p);
  /* writable at once: neither wait runs into its (60 s) timeout */
  CHECK_EQ(sp_wait_fd(p[1], SP_WRITABLE, SEC(60)), SP_WRITABLE);
  CHECK_EQ(sp_wait_fd(p[1], SP_READABLE | SP_WRITABLE, SEC(60)), SP_WRITABLE);
  /* fill the pipe: no longer writable */
  char buf[4096];
  memset(buf, 'z', sizeof buf);
  while (write(p[1], buf, sizeof buf) > 0) {
  }
  CHECK_RC(sp_wait_fd(p[1], SP_WRITABLE, MS(10)), SP_ETIMEDOUT);
  close(p[0]);
  close(p[1]);
  return NULL;
}

/* An empty pipe's write end is writable at once; a full one is not. */
Test(waitfd, writable_immediately, .timeout = 30) { spt_run(1, main_writable, NULL); }

/* ---------------------------------------------------------- timeouts */

static void *main_timeout(void *arg) {
  (void)arg;
  int p[2];
  make_pipe(p);
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_wait_fd(p[0], SP_READABLE, MS(10)), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(10) && el < spt_patience_ns(), "10 ms fd timeout took %.3f ms", el / 1e6);
  /* the caller's deadline scope also bounds an unlimited wait */
  sp_deadline d;
  t0 = sp_now_ns();
  sp_deadline_push(&d, MS(5));
  CHECK_RC(sp_wait_fd(p[0], SP_READABLE, UINT64_MAX), SP_ETIMEDOUT);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  el = sp_now_ns() - t0;
  CHECKF(el >= MS(5) && el < spt_patience_ns(), "5 ms scope on fd wait took %.3f ms", el / 1e6);
  /* the fd is still usable afterwards (registration cleaned up, no SP_EBUSY) */
  CHECK_EQ(write(p[1], "q", 1), 1);
  CHECK_EQ(sp_wait_fd(p[0], SP_READABLE, spt_patience_ns()), SP_READABLE);
  char c;
  CHECK_EQ(read(p[0], &c, 1), 1);
  CHECK_RC(sp_wait_fd(p[0], SP_READABLE, MS(2)), SP_ETIMEDOUT);
  close(p[0]);
  close(p[1]);
  return NULL;
}

/* sp_wait_fd times out with SP_ETIMEDOUT (own timeout or scope) and the fd stays usable. */
Test(waitfd, timeout, .timeout = 30) { spt_run(1, main_timeout, NULL); }

static atomic_int cw_rc = 1;
static int cw_pipe[2];
static void *cancel_waiter(void *arg) {
  (void)arg;
  atomic_store(&cw_rc, sp_wait_fd(cw_pipe[0], SP_READABLE, UINT64_MAX));
  return NULL;
}
static void *main_cancel_wait(void *arg) {
  (void)arg;
  make_pipe(cw_pipe);
  sp_task *t = SPAWN(cancel_waiter, NULL);
  CHECK_PARKED(&t, 1, "a task in sp_wait_fd on an empty pipe");
  sp_cancel(t);
  spt_join_soon(t, "a task in sp_wait_fd, cancelled,");
  CHECK_RC(atomic_load(&cw_rc), SP_ECANCELED);
  CHECK_EQ(write(cw_pipe[1], "x", 1), 1);
  CHECK_EQ(sp_wait_fd(cw_pipe[0], SP_READABLE, spt_patience_ns()), SP_READABLE);
  close(cw_pipe[0]);
  close(cw_pipe[1]);
  return NULL;
}

/* A task parked in sp_wait_fd is cancellable (SP_ECANCELED) and the fd can be waited on again. */
Test(waitfd, cancel, .timeout = 30) { spt_run(2, main_cancel_wait, NULL); }

/* ------------------------------------------------------------ errors */

static void *main_errors(void *arg) {
  (void)arg;
  CHECK_RC(sp_wait_fd(-1, SP_READABLE, MS(10)), -EBADF);
  int p[2];
  make_pipe(p);
  int closed = p[0];
  close(p[0]);
  close(p[1]);
  CHECK_RC(sp_wait_fd(closed, SP_READABLE, MS(10)), -EBADF);
  /* the park it began is closed: no later cancel can claim it (one at
   * shutdown did, while the task was exiting, and broke an invariant) */
  CHECKF(SP_WAKE_REASON(atomic_load(&sp_self()->wait)) != SP_WAKE_PENDING, "a failed wait left its park pending");
  /* regular files cannot be polled: epoll_ctl's -EPERM */
  char path[] = "/tmp/spindle-waitfd-XXXXXX";
  int f = mkstemp(path);
  CHECK(f >= 0);
  if (f >= 0) {
    unlink(path);
    CHECK_RC(sp_wait_fd(f, SP_READABLE, MS(10)), -EPERM);
    close(f);
  }
  return NULL;
}

/* Invalid fds give -EBADF, regular files -EPERM. */
Test(waitfd, invalid_fd, .timeout = 30) { spt_run(1, main_errors, NULL); }

static void *just_wait(void *arg) {
  int fd = (int)PINT(arg);
  return IPTR(sp_wait_fd(fd, SP_READABLE, UINT64_MAX));
}
/* Outside a task: SP_EPERM. */
Test(waitfd, outside_task_eperm, .timeout = 10) {
  int p[2];
  cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
  ASSERT_RC(sp_wait_fd(p[0], SP_READABLE, MS(10)), SP_EPERM);
  close(p[0]);
  close(p[1]);
}

static void *main_busy(void *arg) {
  (void)arg;
  int p[2];
  make_pipe(p);
  sp_task *t = SPAWN(just_wait, p[0]);
  CHECK_PARKED(&t, 1, "a task in sp_wait_fd on an empty pipe"); /* on this (only) worker */
  CHECK_RC(sp_wait_fd(p[0], SP_READABLE, MS(10)), SP_EBUSY);
  CHECK_EQ(write(p[1], "x", 1), 1);
  CHECK_EQ(PINT(spt_join_soon(t, "a task waiting on a pipe, once written to,")), SP_READABLE);
  close(p[0]);
  close(p[1]);
  return NULL;
}

/* One worker: a second task waiting on an fd another task already waits on gets SP_EBUSY. */
Test(waitfd, second_waiter_ebusy, .timeout = 30) { spt_run(1, main_busy, NULL); }

/* ------------------------------------------------------- many pipes */

enum { NPIPES = 100 };
static int mp_pipes[NPIPES][2];
static atomic_int mp_waiting;

static void *pipe_waiter(void *arg) {
  intptr_t i = PINT(arg);
  atomic_fetch_add(&mp_waiting, 1);
  int rc = sp_wait_fd(mp_pipes[i][0], SP_READABLE, UINT64_MAX);
  CHECKF(rc == SP_READABLE, "waiter %ld: sp_wait_fd %d (%s)", (long)i, rc, sp_strerror(rc));
  unsigned char c = 0;
  CHECK_EQ(read(mp_pipes[i][0], &c, 1), 1);
  CHECK_EQ(c, (unsigned char)i);
  return IPTR(i + 1000);
}

static void *main_many_pipes(void *arg) {
  (void)arg;
  sp_task *ts[NPIPES];
  for (int i = 0; i < NPIPES; i++) make_pipe(mp_pipes[i]);
  for (int i = 0; i < NPIPES; i++) ts[i] = SPAWN(pipe_waiter, i);
  CHECK_PARKED(ts, NPIPES, "tasks in sp_wait_fd on their own empty pipe");
  int perm[NPIPES];
  for (int i = 0; i < NPIPES; i++) perm[i] = i;
  unsigned seed = 4242;
  for (int i = NPIPES - 1; i > 0; i--) {
    int j = rand_r(&seed) % (i + 1);
    int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int i = 0; i < NPIPES; i++) {
    unsigned char c = (unsigned char)perm[i];
    CHECK_EQ(write(mp_pipes[perm[i]][1], &c, 1), 1);
    if (i % 7 == 0) CHECK_RC(sp_yield(), 0);
  }
  void *res[NPIPES];
  CHECK_RC(spt_gather_soon(ts, NPIPES, res, "tasks waiting on pipes, once every pipe was written to"), 0);
  for (int i = 0; i < NPIPES; i++) CHECK_EQ(PINT(res[i]), i + 1000);
  for (int i = 0; i < NPIPES; i++) {
    close(mp_pipes[i][0]);
    close(mp_pipes[i][1]);
  }
  return NULL;
}

/* 100 tasks each wait on their own pipe; woken in random order, all complete. */
Test(waitfd, hundred_pipes_random_order, .timeout = 30) { spt_run(2, main_many_pipes, NULL); }

/* ------------------------------------------------------- ping-pong */

static int pp_sock[2];
static int pp_rounds;

/* errno of the calling thread, re-read each time: a task may resume on
 * another worker thread, so the compiler must not reuse &errno across a park. */
static __attribute__((noinline, noipa)) int cur_errno(void) { return errno; }

/* Reads exactly 8 bytes from a non-blocking fd, parking with sp_wait_fd. */
static int read_u64(int fd, uint64_t *v) {
  size_t got = 0;
  unsigned char *p = (unsigned char *)v;
  while (got < sizeof *v) {
    ssize_t k = read(fd, p + got, sizeof *v - got);
    if (k > 0) {
      got += (size_t)k;
      continue;
    }
    if (k == 0) return -1;
    int e = cur_errno();
    if (e != EAGAIN) return -e;
    int rc = sp_wait_fd(fd, SP_READABLE, SEC(10));
    if (rc < 0) return rc;
  }
  return 0;
}
static int write_u64(int fd, uint64_t v) {
  size_t put = 0;
  const unsigned char *p = (const unsigned char *)&v;
  while (put < sizeof v) {
    ssize_t k = write(fd, p + put, sizeof v - put);
    if (k > 0) {
      put += (size_t)k;
      continue;
    }
    if (k < 0) {
      int e = cur_errno();
      if (e != EAGAIN) return -e;
    }
    int rc = sp_wait_fd(fd, SP_WRITABLE, SEC(10));
    if (rc < 0) return rc;
  }
  return 0;
}

static void *ponger(void *arg) {
  (void)arg;
  for (int i = 0; i < pp_rounds; i++) {
    uint64_t v = 0;
    int rc = read_u64(pp_sock[1], &v);
    CHECK_RC(rc, 0);
    if (rc) return NULL;
    CHECK_EQ(v, 2 * (uint64_t)i);
    rc = write_u64(pp_sock[1], v + 1);
    CHECK_RC(rc, 0);
    if (rc) return NULL;
  }
  return NULL;
}
static void *pinger(void *arg) {
  (void)arg;
  long ok = 0;
  for (int i = 0; i < pp_rounds; i++) {
    int rc = write_u64(pp_sock[0], 2 * (uint64_t)i);
    CHECK_RC(rc, 0);
    if (rc) break;
    uint64_t v = 0;
    rc = read_u64(pp_sock[0], &v);
    CHECK_RC(rc, 0);
    if (rc) break;
    CHECK_EQ(v, 2 * (uint64_t)i + 1);
    ok += v == 2 * (uint64_t)i + 1;
  }
  return IPTR(ok);
}
static void *main_ping_pong(void *arg) {
  (void)arg;
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pp_sock), 0);
  sp_task *b = SPAWN(ponger, NULL);
  sp_task *a = SPAWN(pinger, NULL);
  spt_step("ping-pong over a socketpair");
  CHECK_EQ(PINT(spt_join(a)), pp_rounds);
  spt_join(b);
  close(pp_sock[0]);
  close(pp_sock[1]);
  return NULL;
}

/* Two tasks on 2 workers ping-pong 10,000 messages over a socketpair with sp_wait_fd. */
Test(waitfd, socketpair_ping_pong, .timeout = 120) {
  pp_rounds = 1000 * scale();
  spt_run(2, main_ping_pong, NULL);
}
