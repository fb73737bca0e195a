/*
 * spindle/io.h - waiting for file descriptors, and socket calls built on it,
 * without blocking the worker.
 *
 * sp_wait_fd parks the calling task until fd is ready, registering it on the
 * poll loop of the worker the task runs on.  If that worker is busy running a
 * long task, another thread serves its loop, so the wait still ends on time.
 */
#ifndef SPINDLE_IO_H
#define SPINDLE_IO_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "spindle/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_READABLE 0x1u /* data to read, a peer hang-up, or an error */
#define SP_WRITABLE 0x2u /* room to write, or an error */

/*
 * Parks until fd is ready for any of events (SP_READABLE | SP_WRITABLE), or
 * until timeout_ns passes (UINT64_MAX: no timeout besides the caller's
 * deadline scope).  Returns the ready subset of events (> 0), or
 * SP_ETIMEDOUT, SP_ECANCELED, SP_ESHUTDOWN, SP_EPERM (not in a task),
 * SP_EBUSY (another task is already waiting for this fd on this worker), or a
 * negated errno from epoll_ctl (for example -EBADF, -EPERM for regular
 * files).  Error and hang-up conditions report as ready for every requested
 * event so that the following read or write returns the error.
 */
int sp_wait_fd(int fd, unsigned events, uint64_t timeout_ns);

/* ---------------------------------------------------------------- sockets
 *
 * Socket calls that park the calling task instead of blocking its worker.
 * The fd must be non-blocking (sp_socket, sp_accept, sp_listen_tcp and
 * sp_connect_tcp_addr make them so): each call tries the system call first
 * and parks in sp_wait_fd only when it would block, so ready data costs no
 * park.  timeout_ns bounds the whole call, however many parks it takes
 * (UINT64_MAX: no limit besides the caller's deadline scope).  Interrupted
 * system calls (EINTR) are retried.
 *
 * Errors are negative: a negated errno (-ECONNREFUSED, -EBADF, ...) or
 * SP_ETIMEDOUT, SP_ECANCELED, SP_ESHUTDOWN, and SP_EPERM when called outside
 * a task.  A call that timed out or was cancelled may have transferred part
 * of the data (sp_write) or left a connection half-made (sp_connect): close
 * the socket.  A reader task and a writer task may use one socket at once.
 */

/*
 * Creates a socket like socket(2), non-blocking and close-on-exec.  Works
 * outside tasks too.  Returns the fd, or a negated errno.
 */
int sp_socket(int domain, int type, int protocol);

/*
 * Connects fd to sa, parking until the connection is made or fails.
 * Returns 0, or the connection's error (-ECONNREFUSED, -ENETUNREACH, ...),
 * SP_ETIMEDOUT, SP_ECANCELED, SP_ESHUTDOWN, SP_EPERM, -EBADF.
 */
int sp_connect(int fd, const struct sockaddr *sa, socklen_t len, uint64_t timeout_ns);

/*
 * Accepts one connection on the listening socket fd, parking until one
 * arrives; sa and len (may be NULL) receive the peer's address as with
 * accept(2).  Returns the new fd, non-blocking and close-on-exec, or a
 * negated errno (-EMFILE, -EINVAL for a socket not listening, ...),
 * SP_ETIMEDOUT, SP_ECANCELED, SP_ESHUTDOWN, SP_EPERM.
 */
int sp_accept(int fd, struct sockaddr *sa, socklen_t *len, uint64_t timeout_ns);

/*
 * Reads once, parking until fd has data.  Returns the bytes read (1..n),
 * 0 at end of file, or a negated errno, SP_ETIMEDOUT, SP_ECANCELED,
 * SP_ESHUTDOWN, SP_EPERM.
 */
ssize_t sp_read(int fd, void *buf, size_t n, uint64_t timeout_ns);

/*
 * Writes all n bytes, parking whenever fd is full.  Sockets are written
 * with send(MSG_NOSIGNAL), so a closed peer gives -EPIPE (or -ECONNRESET)
 * and never SIGPIPE; other fds (pipes) with write(2), whose SIGPIPE is the
 * process's business.  Returns n, or a negated errno, SP_ETIMEDOUT,
 * SP_ECANCELED, SP_ESHUTDOWN, SP_EPERM, SP_EINVAL (n > SSIZE_MAX); after an
 * error, how much was written is unknown.
 */
ssize_t sp_write(int fd, const void *buf, size_t n, uint64_t timeout_ns);

/*
 * recv(2) once with flags, parking until fd has data (with MSG_DONTWAIT it
 * never parks and returns -EAGAIN instead).  Returns like sp_read.
 */
ssize_t sp_recv(int fd, void *buf, size_t n, int flags, uint64_t timeout_ns);

/*
 * send(2) once with flags | MSG_NOSIGNAL, parking until fd has room (with
 * MSG_DONTWAIT it never parks and returns -EAGAIN instead).  Returns the
 * bytes sent, which may be fewer than n, or errors as sp_write.
 */
ssize_t sp_send(int fd, const void *buf, size_t n, int flags, uint64_t timeout_ns);

/*
 * Opens a non-blocking, close-on-exec TCP socket listening on ip (a literal
 * IPv4 or IPv6 address, such as "127.0.0.1", "::1", "0.0.0.0") and port,
 * with SO_REUSEADDR.  Port 0 lets the system pick one; *bound_port (may be
 * NULL) receives the port bound.  backlog <= 0 means SOMAXCONN.  Works
 * outside tasks too.  Returns the fd, or SP_EINVAL (ip NULL or not a
 * literal address), or a negated errno (-EADDRINUSE, ...).
 */
int sp_listen_tcp(const char *ip, uint16_t port, int backlog, uint16_t *bound_port);

/*
 * Opens a TCP socket and connects it to sa (AF_INET or AF_INET6), as
 * sp_connect.  Returns the connected fd, non-blocking and close-on-exec, or
 * SP_EINVAL (sa NULL, another family, len too short) and sp_connect's errors.
 */
int sp_connect_tcp_addr(const struct sockaddr *sa, socklen_t len, uint64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif
