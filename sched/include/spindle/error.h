/*
 * spindle/error.h - error codes shared by every spindle module.
 *
 * Every fallible spindle function returns an int: 0 (SP_OK) on success or a
 * negative code.  Codes in the errno range are negated errno values, so a
 * system call's failure can be passed straight through (-errno); codes of
 * spindle's own start at SP_ERR_BASE.  sp_strerror() names every code.
 */
#ifndef SPINDLE_ERROR_H
#define SPINDLE_ERROR_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sp_err {
  SP_OK = 0,
  SP_ENOMEM = -ENOMEM,       /* out of memory (or stack address space) */
  SP_EINVAL = -EINVAL,       /* bad argument */
  SP_EAGAIN = -EAGAIN,       /* a try-operation would have to wait */
  SP_ETIMEDOUT = -ETIMEDOUT, /* a timeout or deadline expired first */
  SP_ECANCELED = -ECANCELED, /* the calling task was cancelled */
  SP_EPERM = -EPERM,         /* called outside a task where a task is needed */
  SP_EBUSY = -EBUSY,         /* the object is still in use */

  SP_ERR_BASE = -10000,
  SP_ECLOSED = SP_ERR_BASE - 1,   /* the channel is closed */
  SP_ESHUTDOWN = SP_ERR_BASE - 2, /* the runtime is shutting down */
  SP_EJOINED = SP_ERR_BASE - 3,   /* the task handle was already joined or detached */
  SP_ENOTASK = SP_ERR_BASE - 4    /* the task was cancelled before it ever ran */
};

/*
 * Returns a static, human-readable string for any code returned by spindle,
 * including plain negated errno values.  Never returns NULL.
 */
const char *sp_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
