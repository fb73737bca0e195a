/*
 * net.c - socket calls that park the calling task instead of its worker.
 *
 * Every call first tries the system call on the non-blocking fd and parks in
 * sp_wait_fd only when it would block, so data that is already there costs
 * no park and no epoll_ctl.  A timeout is turned into an absolute deadline
 * once, so a call that parks several times still ends on time.
 *
 * errno is thread-local and a parked task may resume on another worker
 * thread.  glibc declares __errno_location() const, so the compiler may keep
 * &errno in a register across a park and then read the old thread's errno:
 * every read goes through errno_now(), which it cannot see into.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spindle/error.h"
#include "spindle/io.h"

#if defined(__has_attribute)
#if __has_attribute(noipa)
#define NET_OPAQUE __attribute__((noinline, noipa))
#endif
#endif
#ifndef NET_OPAQUE
#define NET_OPAQUE __attribute__((noinline))
#endif

#define NET_NEVER UINT64_MAX

static NET_OPAQUE int errno_now(void) { return errno; }

/* ------------------------------------------------------------- deadlines */

static uint64_t deadline_of(uint64_t timeout_ns) {
  if (timeout_ns == NET_NEVER) return NET_NEVER;
  uint64_t now = sp_now_ns();
  /* A timeout so long that it overflows is as good as none. */
  return timeout_ns >= NET_NEVER - now ? NET_NEVER : now + timeout_ns;
}

static uint64_t time_left(uint64_t deadline) {
  if (deadline == NET_NEVER) return NET_NEVER;
  uint64_t now = sp_now_ns();
  return now >= deadline ? 0 : deadline - now;
}

/* --------------------------------------------------------------- waiting */

/* Parks until fd is ready for events or deadline passes.  Returns 0 or an
 * error. */
static int wait_ready(int fd, unsigned events, uint64_t deadline) {
  uint64_t left = time_left(deadline);
  /* Checked here, not left to sp_wait_fd: a spent timeout must not cost a
   * registration and a trip through the timer heap. */
  if (left == 0) return SP_ETIMEDOUT;
  int rc = sp_wait_fd(fd, events, left);
  if (rc != SP_EBUSY) return rc < 0 ? rc : 0;
  /* Another task on this worker already waits on fd: typically a reader
   * parked while this task writes the same socket.  epoll keys its entries
   * by fd number, so a duplicate of fd can be waited on alongside; without
   * it, full-duplex use would fail whenever both tasks share a worker. */
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return -errno_now();
  left = time_left(deadline);
  rc = left == 0 ? SP_ETIMEDOUT : sp_wait_fd(dup, events, left);
  close(dup); /* sp_wait_fd has already removed it from the epoll set */
  return rc < 0 ? rc : 0;
}

/* Sleeps a little, for the rare waits that no fd event announces. */
static int backoff(uint64_t deadline) {
  uint64_t left = time_left(deadline);
  if (left == 0) return SP_ETIMEDOUT;
  return sp_sleep(left < 1000000u ? left : 1000000u);
}

/* The checks shared by every call that may park. */
static int entry_check(int fd) {
  if (sp_self() == NULL) return SP_EPERM;
  if (fd < 0) return -EBADF;
  return 0;
}

/* ------------------------------------------------------------- transfers */

enum xfer_op { XFER_READ, XFER_WRITE, XFER_RECV, XFER_SEND };

/* One system call.  Returns the bytes moved or a negated errno. */
static ssize_t xfer_try(enum xfer_op op, int fd, void *buf, size_t n, int flags) {
  ssize_t k = -1;
  switch (op) {
  case XFER_READ: k = read(fd, buf, n); break;
  case XFER_WRITE: k = write(fd, buf, n); break;
  case XFER_RECV: k = recv(fd, buf, n, flags); break;
  case XFER_SEND: k = send(fd, buf, n, flags | MSG_NOSIGNAL); break;
  }
  return k >= 0 ? k : -errno_now();
}

/* One transfer, parking while fd would block.  Returns bytes or an error. */
static ssize_t xfer(enum xfer_op op, int fd, void *buf, size_t n, int flags, uint64_t deadline) {
  unsigned events = (op == XFER_READ || op == XFER_RECV) ? SP_READABLE : SP_WRITABLE;
  for (;;) {
    ssize_t k = xfer_try(op, fd, buf, n, flags);
    if (k == -EINTR) continue;
    if (k >= 0 || (k != -EAGAIN && k != -EWOULDBLOCK)) return k;
    if (flags & MSG_DONTWAIT) return k; /* the caller asked not to wait */
    int rc = wait_ready(fd, events, deadline);
    if (rc < 0) return rc;
  }
}

ssize_t sp_read(int fd, void *buf, size_t n, uint64_t timeout_ns) {
  int rc = entry_check(fd);
  if (rc < 0) return rc;
  return xfer(XFER_READ, fd, buf, n, 0, deadline_of(timeout_ns));
}

ssize_t sp_recv(int fd, void *buf, size_t n, int flags, uint64_t timeout_ns) {
  int rc = entry_check(fd);
  if (rc < 0) return rc;
  return xfer(XFER_RECV, fd, buf, n, flags, deadline_of(timeout_ns));
}

ssize_t sp_send(int fd, const void *buf, size_t n, int flags, uint64_t timeout_ns) {
  int rc = entry_check(fd);
  if (rc < 0) return rc;
  return xfer(XFER_SEND, fd, (void *)buf, n, flags, deadline_of(timeout_ns));
}

ssize_t sp_write(int fd, const void *buf, size_t n, uint64_t timeout_ns) {
  int rc = entry_check(fd);
  if (rc < 0) return rc;
  if (n > SSIZE_MAX) return SP_EINVAL; /* the count would not fit the result */
  uint64_t deadline = deadline_of(timeout_ns);
  /* send(MSG_NOSIGNAL) keeps a vanished peer from killing the process with
   * SIGPIPE; only sockets take it, so the first ENOTSOCK switches to write. */
  enum xfer_op op = XFER_SEND;
  size_t done = 0;
  while (done < n) {
    ssize_t k = xfer(op, fd, (char *)buf + done, n - done, 0, deadline);
    if (k == -ENOTSOCK && op == XFER_SEND) {
      op = XFER_WRITE;
      continue;
    }
    if (k < 0) return k;
    done += (size_t)k;
  }
  return (ssize_t)n;
}

/* ----------------------------------------------------------- connections */

int sp_socket(int domain, int type, int protocol) {
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  return fd >= 0 ? fd : -errno_now();
}

/* After a non-blocking connect began: waits for the outcome, which the
 * kernel reports as writability plus SO_ERROR. */
static int connect_finish(int fd, uint64_t deadline) {
  int rc = wait_ready(fd, SP_WRITABLE, deadline);
  if (rc < 0) return rc;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno_now();
  return -err;
}

int sp_connect(int fd, const struct sockaddr *sa, socklen_t len, uint64_t timeout_ns) {
  int rc = entry_check(fd);
  if (rc < 0) return rc;
  if (sa == NULL) return SP_EINVAL;
  uint64_t deadline = deadline_of(timeout_ns);
  for (;;) {
    if (connect(fd, sa, len) == 0) return 0;
    int e = errno_now();
    /* An interrupted connect goes on in the background, like one in
     * progress; EALREADY lets a caller resume a connect that timed out. */
    if (e == EINPROGRESS || e == EINTR || e == EALREADY) return connect_finish(fd, deadline);
    if (e != EAGAIN) return -e;
    /* A Unix socket whose listener's backlog is full: no event says when
     * it has room, so retry after a short sleep. */
    rc = backoff(deadline);
    if (rc < 0) return rc;
  }
}

/* Errors accept4 reports for a connection that failed while queued (see
 * accept(2)): they concern that connection, not the listener. */
static int accept_error_is_transient(int e) {
  switch (e) {
  case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
  case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case ENETUNREACH:
    return 1;
  default:
    return 0;
  }
}

int sp_accept(int fd, struct sockaddr *sa, socklen_t *len, uint64_t timeout_ns) {
  int rc = entry_check(fd);
  if (rc < 0) return rc;
  uint64_t deadline = deadline_of(timeout_ns);
  for (;;) {
    int c = accept4(fd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) return c;
    int e = errno_now();
    if (e == EINTR || accept_error_is_transient(e)) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) return -e;
    rc = wait_ready(fd, SP_READABLE, deadline);
    if (rc < 0) return rc;
  }
}

/* Parses a literal IPv4 or IPv6 address ("::1" or "[::1]") with port into
 * *ss.  Returns the address length, or 0 if ip is not such a literal. */
static socklen_t parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (ip == NULL) return 0;
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    return sizeof *in4;
  }
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(ip);
  if (n >= 2 && n < sizeof buf && ip[0] == '[' && ip[n - 1] == ']') {
    memcpy(buf, ip + 1, n - 2);
    buf[n - 2] = '\0';
    ip = buf;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return sizeof *in6;
  }
  return 0;
}

/* Stores the port fd is bound to in *port.  Returns 0 or -1 with errno set. */
static int local_port(int fd, uint16_t *port) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
  if (ss.ss_family == AF_INET)
    *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  else
    *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

int sp_listen_tcp(const char *ip, uint16_t port, int backlog, uint16_t *bound_port) {
  struct sockaddr_storage ss;
  socklen_t len = parse_ip(ip, port, &ss);
  if (len == 0) return SP_EINVAL;
  int fd = sp_socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return fd;
  /* A restarted server can bind again while old connections sit in
   * TIME_WAIT. */
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&ss, len) < 0 ||
      listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0 ||
      (bound_port != NULL && local_port(fd, bound_port) < 0)) {
    int e = errno_now();
    close(fd);
    return -e;
  }
  return fd;
}

int sp_connect_tcp_addr(const struct sockaddr *sa, socklen_t len, uint64_t timeout_ns) {
  if (sp_self() == NULL) return SP_EPERM;
  if (sa == NULL || len < sizeof(sa_family_t)) return SP_EINVAL;
  if (!(sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) &&
      !(sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)))
    return SP_EINVAL;
  int fd = sp_socket(sa->sa_family, SOCK_STREAM, 0);
  if (fd < 0) return fd;
  int rc = sp_connect(fd, sa, len, timeout_ns);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  return fd;
}
