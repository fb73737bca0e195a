/*
 * spindle/io.h - waiting for file descriptors without blocking the worker.
 *
 * sp_wait_fd parks the calling task until fd is ready, registering it on the
 * poll loop of the worker the task runs on.  If that worker is busy running a
 * long task, another thread serves its loop, so the wait still ends on time.
 */
#ifndef SPINDLE_IO_H
#define SPINDLE_IO_H

#include <stdint.h>

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

#ifdef __cplusplus
}
#endif
#endif
