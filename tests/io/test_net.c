/* test_net.c - the socket calls of spindle/io.h over loopback. */
#define _GNU_SOURCE
#include "sched/spt.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static struct sockaddr_in lo4(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* A listener on 127.0.0.1 at a port the system picks; *port gets it. */
static int listen_lo(uint16_t *port) {
  int fd = sp_listen_tcp("127.0.0.1", 0, 512, port);
  CHECKF(fd >= 0, "sp_listen_tcp: %d (%s)", fd, sp_strerror(fd));
  return fd;
}

/* A connected loopback TCP pair, made inside one task: the kernel completes
 * the handshake into the listen queue before anyone accepts. */
static int tcp_pair(int *client, int *server) {
  uint16_t port = 0;
  int lfd = listen_lo(&port);
  if (lfd < 0) return -1;
  struct sockaddr_in a = lo4(port);
  *client = sp_connect_tcp_addr((struct sockaddr *)&a, sizeof a, SEC(10));
  CHECKF(*client >= 0, "sp_connect_tcp_addr: %d (%s)", *client, sp_strerror(*client));
  *server = *client >= 0 ? sp_accept(lfd, NULL, NULL, SEC(10)) : -1;
  CHECKF(*client < 0 || *server >= 0, "sp_accept: %d (%s)", *server, sp_strerror(*server));
  close(lfd);
  if (*client >= 0 && *server >= 0) return 0;
  if (*client >= 0) close(*client);
  return -1;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (unsigned char)x;
  }
}

static int nonblocking_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
  return fl >= 0 && fdfl >= 0 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC);
}

/* ----------------------------------------------------------- echo server */

/* Echoes one connection until the peer's end of file, then closes it. */
static void *echo_handler(void *arg) {
  int fd = (int)PINT(arg);
  char buf[16384];
  for (;;) {
    ssize_t n = sp_read(fd, buf, sizeof buf, SEC(60));
    CHECKF(n >= 0, "echo sp_read: %zd (%s)", n, sp_strerror((int)n));
    if (n <= 0) break;
    ssize_t w = sp_write(fd, buf, (size_t)n, SEC(60));
    CHECKF(w == n, "echo sp_write: %zd of %zd (%s)", w, n, sp_strerror((int)w));
    if (w != n) break;
  }
  close(fd);
  return NULL;
}

struct server {
  int lfd;
  int nconns;
};

/* Accepts nconns connections, one echo task each, and waits for all. */
static void *echo_server(void *arg) {
  struct server *s = arg;
  sp_task **h = calloc((size_t)s->nconns, sizeof *h);
  CHECK(h != NULL);
  int k = 0;
  while (h && k < s->nconns) {
    int c = sp_accept(s->lfd, NULL, NULL, SEC(60));
    CHECKF(c >= 0, "sp_accept #%d: %d (%s)", k, c, sp_strerror(c));
    if (c < 0) break;
    CHECK(nonblocking_cloexec(c));
    h[k++] = SPAWN(echo_handler, c);
  }
  if (h) CHECK_RC(sp_gather(h, (size_t)k, NULL), 0);
  free(h);
  return NULL;
}

struct wjob {
  int fd;
  const unsigned char *buf;
  size_t len;
};

static void *writer_task(void *arg) {
  struct wjob *w = arg;
  ssize_t n = sp_write(w->fd, w->buf, w->len, SEC(60));
  CHECKF(n == (ssize_t)w->len, "client sp_write: %zd (%s)", n, sp_strerror((int)n));
  CHECK_EQ(shutdown(w->fd, SHUT_WR), 0);
  return NULL;
}

/* Connects, sends len bytes from a second task while this one reads the
 * echo back to end of file, compares.  Returns 1 if all came back intact. */
static int echo_client(uint16_t port, size_t len, unsigned seed) {
  struct sockaddr_in a = lo4(port);
  int fd = sp_connect_tcp_addr((struct sockaddr *)&a, sizeof a, SEC(30));
  CHECKF(fd >= 0, "client %u: sp_connect_tcp_addr: %d (%s)", seed, fd, sp_strerror(fd));
  if (fd < 0) return 0;
  CHECK(nonblocking_cloexec(fd));
  /* Small buffers: the writer has to park many times mid-payload. */
  int small = 32 * 1024;
  CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  unsigned char *out = malloc(len), *in = malloc(len + 1);
  CHECK(out && in);
  size_t got = 0;
  if (out && in) {
    fill(out, len, seed);
    struct wjob w = {fd, out, len};
    sp_task *wt = SPAWN(writer_task, &w);
    for (;;) {
      ssize_t n = sp_read(fd, in + got, len + 1 - got, SEC(60));
      CHECKF(n >= 0, "client %u: sp_read: %zd (%s)", seed, n, sp_strerror((int)n));
      if (n <= 0) break;
      got += (size_t)n;
      if (got > len) break;
    }
    spt_join(wt);
  }
  int ok = out && in && got == len && memcmp(in, out, len) == 0;
  CHECKF(ok, "client %u: %zu of %zu bytes came back, equal: %d", seed, got, len,
         got == len && out && in && memcmp(in, out, len) == 0);
  close(fd);
  free(out);
  free(in);
  return ok;
}

/* ------------------------------------------------------------ round trip */

static void *main_round_trip(void *arg) {
  size_t len = (size_t)PINT(arg);
  uint16_t port = 0;
  int lfd = listen_lo(&port);
  if (lfd < 0) return NULL;
  CHECK(port != 0);
  struct server s = {lfd, 1};
  sp_task *srv = SPAWN(echo_server, &s);
  CHECK_EQ(echo_client(port, len, 7), 1);
  spt_join(srv);
  close(lfd);
  return NULL;
}

/* 1 MiB through a loopback echo server and back, intact, on 1 and 4 workers. */
Test(net, echo_round_trip_1mib, .timeout = 60) {
  spt_run(1, main_round_trip, IPTR(1 << 20));
  spt_run(4, main_round_trip, IPTR(1 << 20));
}

/* ------------------------------------------------------- many clients */

enum { NCLIENTS = 200, CLIENT_BYTES = 64 * 1024 };
static uint16_t mc_port;

static void *client_task(void *arg) { return IPTR(echo_client(mc_port, CLIENT_BYTES, (unsigned)PINT(arg))); }

static void *main_many_clients(void *arg) {
  (void)arg;
  int lfd = listen_lo(&mc_port);
  if (lfd < 0) return NULL;
  struct server s = {lfd, NCLIENTS};
  sp_task *srv = SPAWN(echo_server, &s);
  sp_task *c[NCLIENTS];
  for (int i = 0; i < NCLIENTS; i++) c[i] = SPAWN(client_task, i + 100);
  void *res[NCLIENTS];
  CHECK_RC(sp_gather(c, NCLIENTS, res), 0);
  int ok = 0;
  for (int i = 0; i < NCLIENTS; i++) ok += PINT(res[i]) == 1;
  CHECK_EQ(ok, NCLIENTS);
  spt_join(srv);
  close(lfd);
  return NULL;
}

/* 200 client tasks at once against one server, each echoing 64 KiB. */
Test(net, two_hundred_clients, .timeout = 120) { spt_run(4, main_many_clients, NULL); }

/* ---------------------------------------------------------- full duplex */

static void *duplex_reader(void *arg) {
  int fd = (int)PINT(arg);
  size_t len = 1 << 20, got = 0;
  unsigned char *in = malloc(len), *want = malloc(len);
  CHECK(in && want);
  if (!in || !want) return NULL;
  fill(want, len, 3);
  while (got < len) {
    ssize_t n = sp_read(fd, in + got, len - got, SEC(30));
    CHECKF(n > 0, "duplex sp_read: %zd (%s)", n, sp_strerror((int)n));
    if (n <= 0) break;
    got += (size_t)n;
  }
  CHECK(got == len && memcmp(in, want, len) == 0);
  free(in);
  free(want);
  return NULL;
}

static void *main_duplex(void *arg) {
  (void)arg;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  /* The reader parks on sv[0] first; the writer's 1 MiB exceeds the socket
   * buffers, so it must park on the same fd while the reader waits. */
  sp_task *r = SPAWN(duplex_reader, sv[0]);
  CHECK_RC(sp_yield(), 0);
  sp_task *e = SPAWN(echo_handler, sv[1]);
  size_t len = 1 << 20;
  unsigned char *out = malloc(len);
  CHECK(out != NULL);
  if (out) {
    fill(out, len, 3);
    ssize_t n = sp_write(sv[0], out, len, SEC(30));
    CHECKF(n == (ssize_t)len, "duplex sp_write: %zd (%s)", n, sp_strerror((int)n));
  }
  spt_join(r);
  shutdown(sv[0], SHUT_WR);
  spt_join(e);
  close(sv[0]);
  free(out);
  return NULL;
}

/* One worker: a task writes a socket while another is parked reading it (no SP_EBUSY). */
Test(net, full_duplex_one_worker, .timeout = 60) { spt_run(1, main_duplex, NULL); }

/* -------------------------------------------------------------- timeouts */

static void *main_read_timeout(void *arg) {
  (void)arg;
  int c, s;
  if (tcp_pair(&c, &s) < 0) return NULL;
  char buf[16];
  uint64_t t0 = sp_now_ns();
  ssize_t n = sp_read(c, buf, sizeof buf, MS(100));
  uint64_t el = sp_now_ns() - t0;
  CHECK_RC((int)n, SP_ETIMEDOUT);
  CHECKF(el >= MS(100) && el < MS(100) + SEC(2), "100 ms sp_read timeout took %.3f ms", el / 1e6);
  /* The caller's deadline scope bounds a read without its own timeout. */
  sp_deadline d;
  t0 = sp_now_ns();
  sp_deadline_push(&d, MS(50));
  n = sp_recv(c, buf, sizeof buf, 0, UINT64_MAX);
  CHECK_EQ(sp_deadline_pop(&d), 1);
  el = sp_now_ns() - t0;
  CHECK_RC((int)n, SP_ETIMEDOUT);
  CHECKF(el >= MS(50) && el < MS(50) + SEC(2), "50 ms scope on sp_recv took %.3f ms", el / 1e6);
  /* Zero: one try, no park. */
  CHECK_RC((int)sp_read(c, buf, sizeof buf, 0), SP_ETIMEDOUT);
  /* The socket still works after the timeouts. */
  CHECK_EQ(sp_write(s, "hello", 5, SEC(5)), 5);
  n = sp_read(c, buf, sizeof buf, SEC(5));
  CHECK_EQ(n, 5);
  CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
  close(c);
  close(s);
  return NULL;
}

/* sp_read with nothing to read times out with SP_ETIMEDOUT after about the time asked. */
Test(net, read_timeout, .timeout = 30) { spt_run(2, main_read_timeout, NULL); }

static void *main_accept_timeout(void *arg) {
  (void)arg;
  uint16_t port;
  int lfd = listen_lo(&port);
  if (lfd < 0) return NULL;
  uint64_t t0 = sp_now_ns();
  CHECK_RC(sp_accept(lfd, NULL, NULL, MS(50)), SP_ETIMEDOUT);
  uint64_t el = sp_now_ns() - t0;
  CHECKF(el >= MS(50) && el < MS(50) + SEC(2), "50 ms sp_accept timeout took %.3f ms", el / 1e6);
  close(lfd);
  return NULL;
}

/* sp_accept with no client times out with SP_ETIMEDOUT. */
Test(net, accept_timeout, .timeout = 30) { spt_run(1, main_accept_timeout, NULL); }

static void *main_connect_timeout(void *arg) {
  (void)arg;
  /* A listener with a backlog of 1 that never accepts: once its queue is
   * full the kernel drops further SYNs, so a connect hangs until its
   * timeout. */
  uint16_t port;
  int lfd = sp_listen_tcp("127.0.0.1", 0, 1, &port);
  CHECKF(lfd >= 0, "sp_listen_tcp: %d", lfd);
  if (lfd < 0) return NULL;
  struct sockaddr_in a = lo4(port);
  int fds[16], nfds = 0, timed_out = 0;
  while (nfds < 16 && !timed_out) {
    int fd = sp_socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    if (fd < 0) break;
    fds[nfds++] = fd;
    uint64_t t0 = sp_now_ns();
    int rc = sp_connect(fd, (struct sockaddr *)&a, sizeof a, MS(200));
    uint64_t el = sp_now_ns() - t0;
    if (rc == SP_ETIMEDOUT) {
      timed_out = 1;
      CHECKF(el >= MS(200) && el < MS(200) + SEC(2), "200 ms sp_connect timeout took %.3f ms", el / 1e6);
    } else {
      CHECK_RC(rc, 0);
    }
  }
  CHECKF(timed_out, "no connect timed out in %d attempts against a full backlog", nfds);
  for (int i = 0; i < nfds; i++) close(fds[i]);
  close(lfd);
  return NULL;
}

/* sp_connect to a listener whose queue is full times out with SP_ETIMEDOUT. */
Test(net, connect_timeout, .timeout = 30) { spt_run(1, main_connect_timeout, NULL); }

/* ---------------------------------------------------------------- errors */

static void *main_refused(void *arg) {
  (void)arg;
  /* Bound but not listening: the port stays ours, and a SYN to it gets a reset. */
  int b = sp_socket(AF_INET, SOCK_STREAM, 0);
  CHECK(b >= 0);
  struct sockaddr_in a = lo4(0);
  CHECK_EQ(bind(b, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t alen = sizeof a;
  CHECK_EQ(getsockname(b, (struct sockaddr *)&a, &alen), 0);
  CHECK_RC(sp_connect_tcp_addr((struct sockaddr *)&a, sizeof a, SEC(5)), -ECONNREFUSED);
  int fd = sp_socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  CHECK_RC(sp_connect(fd, (struct sockaddr *)&a, sizeof a, SEC(5)), -ECONNREFUSED);
  close(fd);
  close(b);
  return NULL;
}

/* Connecting to a loopback port nobody listens on gives -ECONNREFUSED. */
Test(net, connect_refused, .timeout = 30) { spt_run(1, main_refused, NULL); }

static void *acceptor(void *arg) {
  int c = sp_accept((int)PINT(arg), NULL, NULL, UINT64_MAX);
  if (c >= 0) close(c);
  return IPTR(c);
}

static void *main_accept_cancel(void *arg) {
  (void)arg;
  uint16_t port;
  int lfd = listen_lo(&port);
  if (lfd < 0) return NULL;
  sp_task *t = SPAWN(acceptor, lfd);
  CHECK_RC(sp_sleep(MS(20)), 0);
  sp_cancel(t);
  CHECK_RC((int)PINT(spt_join(t)), SP_ECANCELED);
  /* The listener is still usable: no registration was left behind. */
  struct sockaddr_in a = lo4(port);
  int c = sp_connect_tcp_addr((struct sockaddr *)&a, sizeof a, SEC(5));
  CHECK(c >= 0);
  struct sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  int s = sp_accept(lfd, (struct sockaddr *)&peer, &plen, SEC(5));
  CHECKF(s >= 0, "sp_accept after cancel: %d (%s)", s, sp_strerror(s));
  CHECK_EQ(peer.ss_family, AF_INET);
  CHECK_EQ(plen, sizeof(struct sockaddr_in));
  if (s >= 0) close(s);
  if (c >= 0) close(c);
  close(lfd);
  return NULL;
}

/* A task parked in sp_accept is cancelled with SP_ECANCELED; the listener still works. */
Test(net, accept_cancel, .timeout = 30) { spt_run(2, main_accept_cancel, NULL); }

static int sigpipe_is_default(void) {
  struct sigaction sa;
  return sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

static void *main_closed_peer(void *arg) {
  (void)arg;
  /* The runtime ignores SIGPIPE when it starts (if it was at the default):
   * put the default back, so a SIGPIPE would kill this test. */
  CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
  CHECK(sigpipe_is_default());
  int c, s;
  if (tcp_pair(&c, &s) < 0) return NULL;
  close(s);
  static unsigned char buf[64 * 1024];
  ssize_t rc = 0;
  for (int i = 0; i < 1000 && rc >= 0; i++) {
    rc = sp_write(c, buf, sizeof buf, SEC(5));
    if (rc >= 0) CHECK_RC(sp_sleep(MS(1)), 0);
  }
  CHECKF(rc == -EPIPE || rc == -ECONNRESET, "sp_write to a closed peer: %zd (%s)", rc, sp_strerror((int)rc));
  rc = sp_send(c, "x", 1, 0, SEC(5));
  CHECKF(rc == -EPIPE || rc == -ECONNRESET, "sp_send to a closed peer: %zd (%s)", rc, sp_strerror((int)rc));
  CHECK(sigpipe_is_default());
  close(c);
  return NULL;
}

/* Writing to a peer that closed gives -EPIPE/-ECONNRESET; SIGPIPE (set back
 * to SIG_DFL, which would kill the process) never fires. */
Test(net, write_closed_peer_no_sigpipe, .timeout = 30) { spt_run(2, main_closed_peer, NULL); }

static void *main_bad_args(void *arg) {
  (void)arg;
  char buf[8];
  CHECK_RC((int)sp_read(-1, buf, sizeof buf, MS(10)), -EBADF);
  CHECK_RC((int)sp_write(-1, "x", 1, MS(10)), -EBADF);
  CHECK_RC((int)sp_recv(-1, buf, sizeof buf, 0, MS(10)), -EBADF);
  CHECK_RC((int)sp_send(-1, "x", 1, 0, MS(10)), -EBADF);
  CHECK_RC(sp_accept(-1, NULL, NULL, MS(10)), -EBADF);
  struct sockaddr_in a = lo4(1);
  CHECK_RC(sp_connect(-1, (struct sockaddr *)&a, sizeof a, MS(10)), -EBADF);
  /* an fd number that is not open */
  int fd = sp_socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  close(fd);
  CHECK_RC((int)sp_read(fd, buf, sizeof buf, MS(10)), -EBADF);
  CHECK_RC((int)sp_write(fd, "x", 1, MS(10)), -EBADF);
  CHECK_RC(sp_accept(fd, NULL, NULL, MS(10)), -EBADF);
  /* accept on a socket that is not listening */
  fd = sp_socket(AF_INET, SOCK_STREAM, 0);
  CHECK_RC(sp_accept(fd, NULL, NULL, MS(10)), -EINVAL);
  CHECK_RC(sp_connect(fd, NULL, 0, MS(10)), SP_EINVAL);
  close(fd);
  /* only TCP addresses */
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  CHECK_RC(sp_connect_tcp_addr(NULL, 0, MS(10)), SP_EINVAL);
  CHECK_RC(sp_connect_tcp_addr((struct sockaddr *)&un, sizeof un, MS(10)), SP_EINVAL);
  CHECK_RC(sp_connect_tcp_addr((struct sockaddr *)&a, 4, MS(10)), SP_EINVAL);
  CHECK_RC(sp_socket(-1, SOCK_STREAM, 0), -EAFNOSUPPORT);
  return NULL;
}

/* Bad fds give -EBADF, bad addresses SP_EINVAL. */
Test(net, invalid_args, .timeout = 30) { spt_run(1, main_bad_args, NULL); }

/* Outside a task the parking calls give SP_EPERM; sp_socket and sp_listen_tcp work. */
Test(net, outside_task_eperm, .timeout = 10) {
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  char buf[8];
  struct sockaddr_in a = lo4(1);
  ASSERT_RC((int)sp_read(sv[0], buf, sizeof buf, MS(10)), SP_EPERM);
  ASSERT_RC((int)sp_write(sv[0], "x", 1, MS(10)), SP_EPERM);
  ASSERT_RC((int)sp_recv(sv[0], buf, sizeof buf, 0, MS(10)), SP_EPERM);
  ASSERT_RC((int)sp_send(sv[0], "x", 1, 0, MS(10)), SP_EPERM);
  ASSERT_RC(sp_accept(sv[0], NULL, NULL, MS(10)), SP_EPERM);
  ASSERT_RC(sp_connect(sv[0], (struct sockaddr *)&a, sizeof a, MS(10)), SP_EPERM);
  ASSERT_RC(sp_connect_tcp_addr((struct sockaddr *)&a, sizeof a, MS(10)), SP_EPERM);
  close(sv[0]);
  close(sv[1]);
  int fd = sp_socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(fd >= 0, "sp_socket outside a task: %d", fd);
  cr_assert(nonblocking_cloexec(fd));
  close(fd);
}

/* ---------------------------------------------------------------- listen */

static void *main_listen_v6(void *arg) {
  (void)arg;
  uint16_t port = 0;
  int lfd = sp_listen_tcp("::1", 0, 16, &port);
  if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT) {
    fprintf(stderr, "no IPv6 loopback here (%s): skipping the ::1 part\n", sp_strerror(lfd));
    return NULL;
  }
  CHECKF(lfd >= 0, "sp_listen_tcp(::1): %d (%s)", lfd, sp_strerror(lfd));
  if (lfd < 0) return NULL;
  CHECK(port != 0);
  struct sockaddr_in6 a6;
  memset(&a6, 0, sizeof a6);
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(port);
  a6.sin6_addr = in6addr_loopback;
  int c = sp_connect_tcp_addr((struct sockaddr *)&a6, sizeof a6, SEC(5));
  CHECKF(c >= 0, "connect [::1]:%u: %d (%s)", port, c, sp_strerror(c));
  int s = sp_accept(lfd, NULL, NULL, SEC(5));
  CHECK(s >= 0);
  char b = 0;
  CHECK_EQ(sp_send(c, "6", 1, 0, SEC(5)), 1);
  CHECK_EQ(sp_read(s, &b, 1, SEC(5)), 1);
  CHECK_EQ(b, '6');
  if (c >= 0) close(c);
  if (s >= 0) close(s);
  close(lfd);
  int l2 = sp_listen_tcp("[::1]", 0, 0, NULL); /* the bracketed form too */
  CHECKF(l2 >= 0, "sp_listen_tcp([::1]): %d (%s)", l2, sp_strerror(l2));
  if (l2 >= 0) close(l2);
  return NULL;
}

/* Port 0 binds a port the system picks, reported in *bound_port; IPv4 and IPv6. */
Test(net, listen_port_zero, .timeout = 30) {
  uint16_t port = 0;
  int lfd = sp_listen_tcp("127.0.0.1", 0, 0, &port);
  cr_assert(lfd >= 0, "sp_listen_tcp: %d (%s)", lfd, sp_strerror(lfd));
  cr_assert_neq(port, 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
  cr_assert_eq(ntohs(a.sin_port), port);
  cr_assert_eq(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
  int listening = 0;
  socklen_t ilen = sizeof listening;
  cr_assert_eq(getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen), 0);
  cr_assert_eq(listening, 1);
  cr_assert(nonblocking_cloexec(lfd));
  /* the same port again, while it listens */
  ASSERT_RC(sp_listen_tcp("127.0.0.1", port, 0, NULL), -EADDRINUSE);
  close(lfd);
  ASSERT_RC(sp_listen_tcp(NULL, 0, 0, &port), SP_EINVAL);
  ASSERT_RC(sp_listen_tcp("localhost", 0, 0, &port), SP_EINVAL);
  ASSERT_RC(sp_listen_tcp("127.0.0", 0, 0, &port), SP_EINVAL);
  ASSERT_RC(sp_listen_tcp("", 0, 0, &port), SP_EINVAL);
  spt_run(1, main_listen_v6, NULL);
}

/* ------------------------------------------------------ pipes and flags */

static int pw_pipe[2];
enum { PIPE_BYTES = 1 << 20 };

static void *pipe_reader(void *arg) {
  (void)arg;
  unsigned char *in = malloc(PIPE_BYTES), *want = malloc(PIPE_BYTES);
  CHECK(in && want);
  size_t got = 0;
  while (in && got < PIPE_BYTES) {
    ssize_t n = sp_read(pw_pipe[0], in + got, PIPE_BYTES - got, SEC(30));
    CHECKF(n > 0, "pipe sp_read: %zd (%s)", n, sp_strerror((int)n));
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (in && want) {
    fill(want, PIPE_BYTES, 9);
    CHECK(got == PIPE_BYTES && memcmp(in, want, PIPE_BYTES) == 0);
  }
  free(in);
  free(want);
  return NULL;
}

static void *main_pipe(void *arg) {
  (void)arg;
  CHECK_EQ(pipe2(pw_pipe, O_NONBLOCK | O_CLOEXEC), 0);
  sp_task *r = SPAWN(pipe_reader, NULL);
  unsigned char *out = malloc(PIPE_BYTES);
  CHECK(out != NULL);
  if (out) {
    fill(out, PIPE_BYTES, 9);
    CHECK_EQ(sp_write(pw_pipe[1], out, PIPE_BYTES, SEC(30)), PIPE_BYTES);
  }
  spt_join(r);
  free(out);
  close(pw_pipe[0]);
  close(pw_pipe[1]);
  return NULL;
}

/* sp_write on a pipe (not a socket) falls back to write(2) and parks while the pipe is full. */
Test(net, write_pipe, .timeout = 30) { spt_run(1, main_pipe, NULL); }

static void *main_flags(void *arg) {
  (void)arg;
  int c, s;
  if (tcp_pair(&c, &s) < 0) return NULL;
  char buf[16];
  uint64_t t0 = sp_now_ns();
  CHECK_RC((int)sp_recv(c, buf, sizeof buf, MSG_DONTWAIT, SEC(5)), -EAGAIN);
  CHECKF(sp_now_ns() - t0 < SEC(1), "MSG_DONTWAIT parked for %.3f ms", (sp_now_ns() - t0) / 1e6);
  CHECK_EQ(sp_send(s, "hello", 5, 0, SEC(5)), 5);
  CHECK_EQ(sp_recv(c, buf, sizeof buf, MSG_PEEK, SEC(5)), 5);
  CHECK_EQ(sp_recv(c, buf, sizeof buf, 0, SEC(5)), 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  close(s);
  CHECK_EQ(sp_read(c, buf, sizeof buf, SEC(5)), 0); /* end of file */
  close(c);
  return NULL;
}

/* sp_recv honours MSG_DONTWAIT (no park) and MSG_PEEK; a closed peer reads as 0. */
Test(net, recv_flags_and_eof, .timeout = 30) { spt_run(1, main_flags, NULL); }
