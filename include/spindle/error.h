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
  SP_ENOTASK = SP_ERR_BASE - 4,   /* the task was cancelled before it ever ran */

  /* io/: DNS (spindle/dns.h) */
  SP_ENOTFOUND = SP_ERR_BASE - 20,   /* the name does not exist (NXDOMAIN) */
  SP_ENODATA = SP_ERR_BASE - 21,     /* the name exists but has no address of that family */
  SP_EDNSREFUSED = SP_ERR_BASE - 22, /* every DNS server refused or failed the query, or was unreachable */
  SP_EDNS = SP_ERR_BASE - 23,        /* DNS failure: server failure, bad answer, bad name */

  /* io/: HTTP (spindle/http.h) */
  SP_EHTTP = SP_ERR_BASE - 40,       /* the transfer failed: see sp_http_response.error */
  SP_ETOOBIG = SP_ERR_BASE - 41,     /* the body exceeded the request's max_body */
  SP_EABORTED = SP_ERR_BASE - 42,    /* the body callback asked to stop */
  SP_EREDIRECTS = SP_ERR_BASE - 43   /* more redirects than the request allows */
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
