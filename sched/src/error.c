/* error.c - sp_strerror: a message for every code spindle returns. */
#include <string.h>

#include "spindle/error.h"

const char *sp_strerror(int err) {
  switch (err) {
  case SP_OK: return "success";
  case SP_ENOMEM: return "out of memory";
  case SP_EINVAL: return "invalid argument";
  case SP_EAGAIN: return "operation would have to wait";
  case SP_ETIMEDOUT: return "timed out";
  case SP_ECANCELED: return "task was cancelled";
  case SP_EPERM: return "not allowed from this thread (a task or a runtime thread is required, or forbidden)";
  case SP_EBUSY: return "resource busy: another task is already waiting on it";
  case SP_ECLOSED: return "channel is closed";
  case SP_ESHUTDOWN: return "runtime is shutting down";
  case SP_EJOINED: return "task handle was already joined or detached";
  case SP_ENOTASK: return "task was cancelled before it started";
  case SP_ENOTFOUND: return "host not found (the name does not exist: NXDOMAIN)";
  case SP_ENODATA: return "host has no address of the requested family";
  case SP_EDNSREFUSED: return "DNS servers refused the query, failed it (SERVFAIL) or were unreachable";
  case SP_EDNS: return "DNS lookup failed (server failure, malformed answer or bad name)";
  case SP_EHTTP: return "HTTP transfer failed";
  case SP_ETOOBIG: return "larger than the allowed maximum (a response body, a buffer)";
  case SP_EABORTED: return "transfer stopped by the body callback";
  case SP_EREDIRECTS: return "too many redirects";
  }
  if (err < 0 && err > SP_ERR_BASE) {
    /* A negated errno passed through from the system. */
    static const char *const unknown = "unknown system error";
    const char *s = strerrordesc_np(-err);
    return s ? s : unknown;
  }
  return "unknown spindle error";
}
