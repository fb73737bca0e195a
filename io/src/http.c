/*
 * http.c - sp_http_fetch: libcurl easy handles on the calling worker's multi
 * handle, driven by that context's driver task (io_internal.h).
 *
 * One hop (one request/response) is a *transfer* (struct sp__xfer): the
 * requesting task fills an easy handle, queues a START for the driver and
 * parks.  The driver adds the handle to its multi, runs it, and on
 * CURLMSG_DONE removes it and signals the transfer's completion.  Redirects
 * are hops made by sp_http_fetch itself, each host resolved by sp_resolve,
 * so libcurl never resolves a name (no resolver thread) and never reaches a
 * host spindle has not seen.
 *
 * Who owns a transfer: `state` moves RUNNING -> COMPLETED (driver: the
 * transfer ended, the requester may read and free it) or RUNNING ->
 * ABANDONED (requester: it was cancelled or timed out while waiting).  The
 * CAS decides.  An abandoning requester queues a CANCEL and waits,
 * uninterruptibly, for the driver to acknowledge it; only then is the
 * transfer free of the driver and its callbacks (which may call the user's
 * on_body) and can be freed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode.h"
#include "io_internal.h"

#define DEFAULT_MAX_BODY (64u << 20)
#define DEFAULT_CONNECT_TIMEOUT_NS (10ull * 1000000000u)
#define DEFAULT_TIMEOUT_NS (60ull * 1000000000u)
#define HEADERS_MAX (256u << 10) /* a response's header block; more fails it */

enum { X_RUNNING = 0, X_COMPLETED, X_ABANDONED };

/* A one-shot completion a task waits for (the transfer's end, or the
 * acknowledgement of its cancel). */
typedef struct completion {
  int lock;
  bool done;
  bool waiting;
  sp_task *task;
  uint64_t seq;
} completion;

typedef struct sp__xfer {
  sp__iocmd start, cancel;
  sp__ioctx *ctx;
  CURL *easy;
  CURLU *uh; /* the hop's URL as parse_target parsed it; libcurl reads it (CURLOPT_CURLU) rather than parse the string again */
  struct curl_slist *resolve, *headers;
  _Atomic int state;
  bool in_multi;         /* driver only */
  bool orphaned;         /* abandoned at shutdown: io_fini frees it */
  struct sp__xfer *next, *prev; /* ctx->xfers (driver only) */
  completion done;

  /* filled by the driver's callbacks; read by the requester once COMPLETED */
  sp_http_body_fn on_body;
  void *user;
  size_t max_body;
  sp_buf body;           /* without on_body: the body (the cap is checked in deliver, for toobig) */
  size_t body_len;       /* decoded body bytes delivered, also with on_body */
  sp_buf hdrs;           /* the last response's header block, at most HEADERS_MAX - 1 bytes */
  sp_buf reqhdrs;        /* with capture_request: the last request's, as sent */
  bool toobig, aborted, oom;
  bool headers_done;     /* the blank line ending the last header block came */
  bool decode;           /* we asked for compressed bodies */
  int coding;            /* the response's content coding (SP__CODING_*) */
  bool dec_live;         /* dec is initialised: the body's first byte came */
  sp__decoder dec;       /* decodes coding (decode.h) */
  int start_err;
  int sock_errno;        /* errno of the hop's last socket() if it failed, else 0 */
  CURLcode code;
  char errbuf[CURL_ERROR_SIZE];
} sp__xfer;

/* -------------------------------------------------------------- completion */

static void completion_signal(completion *c) {
  sp__spin_lock(&c->lock);
  c->done = true;
  if (c->waiting) {
    c->waiting = false;
    sp__wake(c->task, c->seq, SP_WAKE_OK);
  }
  sp__spin_unlock(&c->lock);
}

/* Parks until signalled.  flags: SP_PARK_UNINTERRUPTIBLE or 0.  Returns 0,
 * or the error that interrupted the wait. */
static int completion_wait(completion *c, int flags) {
  sp_task *t = sp__cur_task();
  sp__spin_lock(&c->lock);
  if (c->done) {
    sp__spin_unlock(&c->lock);
    return 0;
  }
  c->task = t;
  c->seq = sp__park_begin(t, flags);
  c->waiting = true;
  sp__spin_unlock(&c->lock);
  int reason = sp__park(t, SP_NEVER, SP_WAKE_TIMEOUT, flags);
  /* Even when woken, take the lock once: the signaller wakes us while
   * holding it, and the caller may free c as soon as we return. */
  sp__spin_lock(&c->lock);
  c->waiting = false;
  bool done = c->done;
  sp__spin_unlock(&c->lock);
  if (reason == SP_WAKE_OK) return 0;
  return done ? 0 : sp__wake_to_err(reason);
}

/* --------------------------------------------------------- driver callbacks */

/* Hands len decoded body bytes to the caller's callback or the body
 * buffer.  False to stop the transfer.  An sp__decode_sink. */
static bool deliver(void *arg, const char *data, size_t len) {
  sp__xfer *x = arg;
  if (x->max_body && len > x->max_body - x->body_len) {
    x->toobig = true;
    return false;
  }
  if (x->on_body) {
    if (atomic_load_explicit(&x->state, memory_order_relaxed) == X_ABANDONED) return false;
    if (x->on_body(x->user, data, len)) {
      x->aborted = true;
      return false;
    }
    x->body_len += len;
    return true;
  }
  if (sp_buf_add(&x->body, data, len) != 0) {
    x->oom = true;
    return false;
  }
  x->body_len += len;
  return true;
}

static void decode_end(sp__xfer *x) {
  if (x->dec_live) sp__decoder_end(&x->dec);
  x->dec_live = false;
}

/* Content codings are decoded by decode.c, not by libcurl: libcurl does not
 * report a stream cut short.  False to stop the transfer. */
static bool decode(sp__xfer *x, const char *data, size_t len) {
  if (!x->dec_live) {
    sp__decoder_init(&x->dec, x->coding);
    x->dec_live = true;
  }
  int v = sp__decoder_feed(&x->dec, data, len, deliver, x);
  if (v == SP__DECODE_NOMEM) x->oom = true;
  return v == SP__DECODE_OK; /* STOPPED: deliver has said why */
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg) {
  sp__xfer *x = arg;
  size_t len = size * nmemb;
  bool ok = x->coding ? decode(x, data, len) : deliver(x, data, len);
  return ok ? len : 0; /* 0: CURLE_WRITE_ERROR */
}

/* Keeps the header block of the last response (a 100 Continue, say, is
 * followed by another status line, which starts the block anew). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg) {
  sp__xfer *x = arg;
  size_t len = size * nmemb;
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    sp_buf_reset(&x->hdrs);
    x->headers_done = false;
    x->coding = SP__CODING_NONE;
  }
  if (x->decode && len > 17 && strncasecmp(data, "content-encoding:", 17) == 0)
    x->coding = sp__coding_from_header(data + 17, len - 17);
  if ((len == 2 && data[0] == '\r' && data[1] == '\n') || (len == 1 && data[0] == '\n')) x->headers_done = true;
  int rc = sp_buf_add(&x->hdrs, data, len);
  if (rc == SP_ETOOBIG) x->toobig = true;
  if (rc == SP_ENOMEM) x->oom = true;
  return rc ? 0 : len;
}

/* libcurl's socket(), made as libcurl makes it (close-on-exec added), so
 * that a failure is seen: libcurl reports it as any failed connect,
 * "Couldn't connect to server" with CURLINFO_OS_ERRNO 0, which reads as a
 * dead server when the process is out of descriptors. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
  sp__xfer *x = arg;
  (void)purpose;
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  x->sock_errno = fd == CURL_SOCKET_BAD ? errno : 0;
  return fd;
}

/* libcurl's debug callback, used only to keep the request headers as sent. */
static int on_debug(CURL *e, curl_infotype type, char *data, size_t size, void *arg) {
  (void)e;
  sp__xfer *x = arg;
  if (type == CURLINFO_HEADER_OUT) {
    sp_buf_reset(&x->reqhdrs); /* one block per request; the last one counts */
    if (sp_buf_add(&x->reqhdrs, data, size) != 0) sp_buf_reset(&x->reqhdrs); /* too big: none */
  }
  return 0;
}

static void xfer_link(sp__ioctx *ctx, sp__xfer *x) {
  x->prev = NULL;
  x->next = ctx->xfers;
  if (ctx->xfers) ctx->xfers->prev = x;
  ctx->xfers = x;
}

static void xfer_unlink(sp__ioctx *ctx, sp__xfer *x) {
  if (x->prev)
    x->prev->next = x->next;
  else if (ctx->xfers == x)
    ctx->xfers = x->next;
  if (x->next) x->next->prev = x->prev;
  x->next = x->prev = NULL;
}

/* The transfer has ended: hand it to its requester, unless abandoned (then
 * the CANCEL, queued or coming, acknowledges). */
/* True if this call handed the transfer over. */
static bool xfer_finish(sp__xfer *x) {
  int s = X_RUNNING;
  if (!atomic_compare_exchange_strong(&x->state, &s, X_COMPLETED)) return false;
  completion_signal(&x->done);
  return true;
}

static void run_start(sp__ioctx *ctx, sp__xfer *x) {
  xfer_link(ctx, x);
  if (atomic_load(&x->state) == X_ABANDONED) return; /* its CANCEL follows */
  CURLMcode mc = ctx->draining ? CURLM_OK : curl_multi_add_handle(ctx->multi, x->easy);
  if (ctx->draining || mc != CURLM_OK) {
    x->start_err = ctx->draining ? SP_ESHUTDOWN : (mc == CURLM_OUT_OF_MEMORY ? SP_ENOMEM : SP_EHTTP);
    /* Unlinked only once handed over: abandoned meanwhile, it stays listed
     * for its CANCEL, or for io_fini if the driver is gone. */
    xfer_unlink(ctx, x);
    if (!xfer_finish(x)) xfer_link(ctx, x);
    return;
  }
  x->in_multi = true;
}

static void run_cancel(sp__ioctx *ctx, sp__xfer *x) {
  if (x->in_multi) {
    curl_multi_remove_handle(ctx->multi, x->easy);
    x->in_multi = false;
  }
  xfer_unlink(ctx, x);
  completion_signal(&x->done);
}

void sp__http_run_cmd(sp__ioctx *ctx, sp__iocmd *cmd) {
  if (cmd->op == SP__CMD_HTTP_START)
    run_start(ctx, (sp__xfer *)((char *)cmd - offsetof(sp__xfer, start)));
  else
    run_cancel(ctx, (sp__xfer *)((char *)cmd - offsetof(sp__xfer, cancel)));
}

void sp__http_reap(sp__ioctx *ctx) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(ctx->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *e = m->easy_handle;
    CURLcode code = m->data.result;
    sp__xfer *x = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(ctx->multi, e);
    if (!x) continue;
    x->in_multi = false;
    x->code = code;
    if (atomic_load(&x->state) != X_ABANDONED) xfer_unlink(ctx, x);
    xfer_finish(x);
  }
}

static sp__xfer *xfer_new(void) {
  sp__xfer *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  sp_buf_init(&x->body, SP_BUF_NO_MAX);
  sp_buf_init(&x->hdrs, HEADERS_MAX - 1);
  sp_buf_init(&x->reqhdrs, HEADERS_MAX - 1);
  return x;
}

static void xfer_free(sp__xfer *x) {
  decode_end(x);
  curl_url_cleanup(x->uh);
  curl_slist_free_all(x->resolve);
  curl_slist_free_all(x->headers);
  sp_buf_free(&x->body);
  sp_buf_free(&x->hdrs);
  sp_buf_free(&x->reqhdrs);
  free(x);
}

void sp__http_ctx_abandon(sp__ioctx *ctx) {
  /* Only abandoned transfers can be left: every requester has returned. */
  while (ctx->xfers) {
    sp__xfer *x = ctx->xfers;
    xfer_unlink(ctx, x);
    if (x->in_multi) curl_multi_remove_handle(ctx->multi, x->easy);
    curl_easy_cleanup(x->easy);
    xfer_free(x);
  }
}

/* ---------------------------------------------------------------- requests */

void sp_http_request_init(sp_http_request *req) {
  memset(req, 0, sizeof *req);
  req->max_body = DEFAULT_MAX_BODY;
  req->connect_timeout_ns = DEFAULT_CONNECT_TIMEOUT_NS;
  req->timeout_ns = DEFAULT_TIMEOUT_NS;
  req->worker = -1;
}

static sp_http_failure failure_of(int err, int curl_code);

static void set_error(sp_http_response *r, int err, const char *fmt, const char *arg) {
  r->err = err;
  r->failure = failure_of(err, r->curl_code);
  snprintf(r->error, sizeof r->error, fmt, arg ? arg : "");
}

/* A failed socket()'s errno as spindle's code: SP_ENOMEM for want of
 * memory, else the negated errno (-EMFILE, -ENFILE...). */
static int errno_error(int e) { return e == ENOMEM || e == ENOBUFS ? SP_ENOMEM : -e; }

/* What an error means, in words; for a local failure (a socket or lookup
 * that could not start), what ran out. */
static const char *local_failure(int err) {
  if (err == -EMFILE) return "the process ran out of file descriptors (EMFILE: RLIMIT_NOFILE, ulimit -n, reached)";
  if (err == -ENFILE) return "the system ran out of file descriptors (ENFILE: its limit of open files reached)";
  if (err == SP_ENOMEM) return "out of memory";
  return sp_strerror(err);
}

/*
 * Request smuggling and header injection.  libcurl puts the URL's path, the
 * method, the user agent and the caller's header lines on the wire as they
 * are: a CR or LF in any of them ends the line early and starts a header (or
 * a request) of the caller's input's choosing.  So every such string is
 * checked before anything is sent: no C0 control character and no DEL
 * anywhere (HTAB only inside header values, RFC 9110 5.5), header names and
 * the method must be tokens.  resolve entries are checked the same way
 * (libcurl parses them; a line break there has no business either).
 */

/* Why s cannot go into a request, or NULL if it can; allow_tab: HTAB may
 * appear (a field value). */
static const char *bad_chars(const char *s, bool allow_tab, char *why, size_t n) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '\r' || *p == '\n') return "contains a line break";
    if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7f) {
      snprintf(why, n, "contains a control character (0x%02x)", *p);
      return why;
    }
  }
  return NULL;
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_len(const char *s) {
  size_t i = 0;
  while (is_tchar((unsigned char)s[i])) i++;
  return i;
}

#define NOT_A_HEADER "is not \"Name: value\" (a name of letters, digits or !#$%&'*+-.^_`|~, then ':' or ';')"

/* Why header line h cannot be sent, or NULL.  "Name;" is libcurl's way to
 * send a header with an empty value. */
static const char *bad_header(const char *h, char *why, size_t n) {
  const char *bad = bad_chars(h, true, why, n);
  if (bad) return bad;
  size_t name = token_len(h);
  return name && (h[name] == ':' || h[name] == ';') ? NULL : NOT_A_HEADER;
}

/* SP_EINVAL, with the field and why in r->error. */
static int refuse(sp_http_response *r, const char *field, int index, const char *why) {
  r->err = SP_EINVAL;
  if (index)
    snprintf(r->error, sizeof r->error, "%s %d %s", field, index, why);
  else
    snprintf(r->error, sizeof r->error, "%s %s", field, why);
  return SP_EINVAL;
}

/* 0 if nothing in req can break a request's lines, else SP_EINVAL naming
 * the field (headers and resolve entries counted from 1). */
static int check_request(const sp_http_request *req, sp_http_response *r) {
  char why[64];
  const char *bad;
  if ((bad = bad_chars(req->url, false, why, sizeof why))) return refuse(r, "URL", 0, bad);
  if (req->method) {
    if ((bad = bad_chars(req->method, false, why, sizeof why))) return refuse(r, "method", 0, bad);
    if (!req->method[0] || req->method[token_len(req->method)])
      return refuse(r, "method", 0, "is not a token (letters, digits or !#$%&'*+-.^_`|~)");
  }
  if (req->user_agent && (bad = bad_chars(req->user_agent, true, why, sizeof why)))
    return refuse(r, "user agent", 0, bad);
  int i = 1;
  for (const char *const *h = req->headers; h && *h; h++, i++)
    if ((bad = bad_header(*h, why, sizeof why))) return refuse(r, "header", i, bad);
  i = 1;
  for (const char *const *e = req->resolve; e && *e; e++, i++)
    if ((bad = bad_chars(*e, false, why, sizeof why))) return refuse(r, "resolve entry", i, bad);
  return 0;
}

/*
 * IDN hosts.  libcurl converts a host to its ASCII form (xn--...) with
 * libidn2's idn2_lookup_ul, which reads the name in the thread's locale: in
 * a program that never called setlocale (the "C" locale) every non-ASCII
 * name fails, and curl_url_get reports "A memory function failed".  So the
 * conversion runs under a UTF-8 locale, for this thread and this call only,
 * and the URL then carries the ASCII name: libcurl's own conversion during
 * the transfer (on the driver's thread, in the same "C" locale) has nothing
 * left to do, and the name resolved, sent in Host: and cached is one.
 */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void) { utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }

static bool is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return false;
  return true;
}

/* u's host in ASCII (freed with curl_free); an IDN host is converted and
 * written back into u.  *idn_failed tells a name libidn2 refused. */
static CURLUcode ascii_host(CURLU *u, char **host, bool *idn_failed) {
  *idn_failed = false;
  CURLUcode uc = curl_url_get(u, CURLUPART_HOST, host, 0);
  if (uc != CURLUE_OK || is_ascii(*host)) return uc;
  curl_free(*host);
  *host = NULL;
  pthread_once(&utf8_once, utf8_locale_init);
  locale_t before = utf8_locale ? uselocale(utf8_locale) : (locale_t)0;
  uc = curl_url_get(u, CURLUPART_HOST, host, CURLU_PUNYCODE);
  if (utf8_locale) uselocale(before);
  if (uc != CURLUE_OK) {
    *idn_failed = true;
    return uc;
  }
  return curl_url_set(u, CURLUPART_HOST, *host, 0);
}

/* url parsed into *uh, its host and port (host freed with curl_free), and
 * its origin, "scheme://host:port" in lower case, into origin[size]. */
static int parse_target(const char *url, CURLU **uh, char **host, long *port, char *origin, size_t size,
                        sp_http_response *r) {
  CURLU *u = *uh = curl_url();
  if (!u) return SP_ENOMEM;
  int err = 0;
  char *scheme = NULL, *portstr = NULL;
  bool idn_failed = false;
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc == CURLUE_OK) uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  /* An IDN host as the resolver and libcurl's cache know it (xn--...). */
  if (uc == CURLUE_OK) uc = ascii_host(u, host, &idn_failed);
  if (uc == CURLUE_OK) uc = curl_url_get(u, CURLUPART_PORT, &portstr, CURLU_DEFAULT_PORT);
  if (idn_failed) {
    set_error(r, SP_EINVAL, "bad URL: %s: its host is not a valid international domain name", url);
    err = SP_EINVAL;
  } else if (uc != CURLUE_OK) {
    set_error(r, SP_EINVAL, "bad URL: %s", curl_url_strerror(uc));
    err = SP_EINVAL;
  } else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
    set_error(r, SP_EINVAL, "unsupported URL scheme '%s' (http and https only)", scheme);
    err = SP_EINVAL;
  } else {
    *port = strtol(portstr, NULL, 10);
    snprintf(origin, size, "%s://%s:%ld", scheme, *host, *port);
    for (char *p = origin; *p; p++) *p = (char)tolower((unsigned char)*p);
  }
  curl_free(scheme);
  curl_free(portstr);
  if (err) {
    curl_url_cleanup(u);
    *uh = NULL;
    curl_free(*host);
    *host = NULL;
  }
  return err;
}

/* "host:port:addr,addr..." for CURLOPT_RESOLVE, from spindle's resolver. */
static int resolve_entry(const char *host, long port, uint64_t timeout_ns, struct curl_slist **out,
                         sp_http_response *r) {
  sp_addrlist *l;
  uint64_t t0 = sp_now_ns();
  int err = sp_resolve(host, (uint16_t)port, AF_UNSPEC, timeout_ns, &l);
  r->timings.resolve_ns += sp_now_ns() - t0;
  if (err) {
    r->err = err;
    snprintf(r->error, sizeof r->error, "could not resolve %.*s: %s", 120, host, local_failure(err));
    return err;
  }
  size_t cap = strlen(host) + 16 + l->n * (INET6_ADDRSTRLEN + 3);
  char *s = malloc(cap);
  if (!s) {
    sp_addrlist_free(l);
    return SP_ENOMEM;
  }
  /* "+": an entry that expires like any DNS answer; without it libcurl keeps
   * it in the multi handle's cache for good, one per host ever fetched. */
  size_t off = (size_t)snprintf(s, cap, "+%s:%ld:", host, port);
  for (size_t i = 0; i < l->n; i++) {
    char ip[INET6_ADDRSTRLEN];
    const void *a = l->addrs[i].family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)&l->addrs[i].sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)&l->addrs[i].sa)->sin6_addr;
    inet_ntop(l->addrs[i].family, a, ip, sizeof ip);
    off += (size_t)snprintf(s + off, cap - off, l->addrs[i].family == AF_INET6 ? "%s[%s]" : "%s%s",
                            i ? "," : "", ip);
  }
  sp_addrlist_free(l);
  *out = curl_slist_append(NULL, s);
  free(s);
  return *out ? 0 : SP_ENOMEM;
}

/* The caller's "host:port:addrs" entry for host and port, as a list for
 * CURLOPT_RESOLVE, or NULL. */
static struct curl_slist *resolve_override(const sp_http_request *req, const char *host, long port) {
  char prefix[300];
  int n = snprintf(prefix, sizeof prefix, "%s:%ld:", host, port);
  if (n < 0 || (size_t)n >= sizeof prefix) return NULL;
  for (const char *const *e = req->resolve; e && *e; e++) {
    if (strncasecmp(*e, prefix, (size_t)n) != 0 || !(*e)[n]) continue;
    char plus[1024];
    snprintf(plus, sizeof plus, "+%s", *e); /* expires, as above */
    return curl_slist_append(NULL, plus);
  }
  return NULL;
}

static uint64_t remaining(uint64_t start, uint64_t total) {
  if (!total) return UINT64_MAX;
  uint64_t el = sp_now_ns() - start;
  return el >= total ? 0 : total - el;
}

static long ms_ceil(uint64_t ns) { return (long)((ns + 999999u) / 1000000u); }

static int configure(sp__xfer *x, const sp_http_request *req, const char *method,
                     bool with_body, uint64_t left_ns) {
  CURL *e = x->easy;
  curl_easy_setopt(e, CURLOPT_CURLU, x->uh); /* url, parsed */
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*"); /* a proxy would be resolved by libcurl */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_RESOLVE, x->resolve);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
  curl_easy_setopt(e, CURLOPT_USERAGENT, req->user_agent ? req->user_agent : "spindle/" SPINDLE_VERSION_STRING);
  x->decode = !req->no_compression;
  if (x->decode) {
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L); /* decoded in on_write */
  }
  if (req->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
  if (req->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  long ver = req->http_version == SP_HTTP_1_1 ? CURL_HTTP_VERSION_1_1
             : req->http_version == SP_HTTP_2 ? CURL_HTTP_VERSION_2_0
                                              : CURL_HTTP_VERSION_2TLS;
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, ver);
  if (req->connect_timeout_ns) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms_ceil(req->connect_timeout_ns));
  if (left_ns != UINT64_MAX) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms_ceil(left_ns) ? ms_ceil(left_ns) : 1L);
  if (req->low_speed_bytes > 0 && req->low_speed_time_ns) {
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, req->low_speed_bytes);
    long secs = (long)((req->low_speed_time_ns + 999999999u) / 1000000000u);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
  }
  if (x->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  if (req->capture_request) {
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, x);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  }
  if (strcasecmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (with_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    if (strcasecmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (strcasecmp(method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  return 0;
}

/* Maps a finished hop's outcome to spindle's codes and a message. */
static int hop_error(sp__xfer *x, sp_http_response *r) {
  if (x->start_err) {
    set_error(r, x->start_err, "could not start the transfer: %s", sp_strerror(x->start_err));
    return x->start_err;
  }
  r->curl_code = (int)x->code;
  if (x->code == CURLE_OK && !x->headers_done) {
    /* libcurl takes a connection closed inside the headers for a complete
     * (empty) response. */
    set_error(r, SP_EHTTP, "connection closed inside the response headers%s", NULL);
    return SP_EHTTP;
  }
  if (x->code == CURLE_OK && x->dec_live && sp__decoder_finish(&x->dec) == SP__DECODE_CUT_SHORT) {
    set_error(r, SP_EHTTP, "compressed body cut short (the %s stream did not end)", sp__coding_name(x->coding));
    return SP_EHTTP;
  }
  if (x->code == CURLE_OK) return 0;
  if (x->code == CURLE_COULDNT_CONNECT && x->sock_errno) {
    int err = errno_error(x->sock_errno);
    snprintf(r->error, sizeof r->error, "could not open a socket: %s", local_failure(err));
    r->err = err;
    return err;
  }
  const char *msg = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->code);
  long oserr = 0;
  curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
  int err;
  if (x->toobig)
    err = SP_ETOOBIG, msg = "response larger than the allowed maximum";
  else if (x->aborted)
    err = SP_EABORTED, msg = "stopped by the body callback";
  else if (x->oom)
    err = SP_ENOMEM, msg = "out of memory storing the response";
  else if (x->dec_live && x->dec.verdict == SP__DECODE_MALFORMED)
    err = SP_EHTTP, msg = "malformed compressed body";
  else if (x->code == CURLE_OPERATION_TIMEDOUT)
    err = SP_ETIMEDOUT;
  else if (x->code == CURLE_URL_MALFORMAT || x->code == CURLE_UNSUPPORTED_PROTOCOL)
    err = SP_EINVAL;
  else if ((x->code == CURLE_COULDNT_CONNECT || x->code == CURLE_RECV_ERROR || x->code == CURLE_SEND_ERROR) &&
           oserr > 0)
    err = (int)-oserr;
  else if (x->code == CURLE_OUT_OF_MEMORY)
    err = SP_ENOMEM;
  else
    err = SP_EHTTP;
  set_error(r, err, "%s", msg);
  return err;
}

/* A block the caller gets, or NULL when none came (or it could not be
 * kept); b is empty again. */
static char *take_or_null(sp_buf *b, size_t *len) {
  *len = 0;
  if (b->len == 0 || b->err) {
    sp_buf_reset(b);
    return NULL;
  }
  return sp_buf_take(b, len);
}

static char *dup_info_str(CURL *e, CURLINFO what) {
  char *s = NULL;
  if (curl_easy_getinfo(e, what, &s) != CURLE_OK || !s) return NULL;
  return sp__strdup(s);
}

static uint64_t info_us(CURL *e, CURLINFO what) {
  curl_off_t v = 0;
  curl_easy_getinfo(e, what, &v);
  return v > 0 ? (uint64_t)v * 1000u : 0;
}

/* Copies the hop's response into r (replacing an earlier hop's). */
static void hop_result(sp__xfer *x, sp_http_response *r) {
  CURL *e = x->easy;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
  long ver = 0;
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &ver);
  r->http_version = ver == CURL_HTTP_VERSION_2_0 ? 2 : ver ? 1 : 0;
  free(r->url);
  free(r->content_type);
  free(r->redirect_url);
  r->url = dup_info_str(e, CURLINFO_EFFECTIVE_URL);
  r->content_type = dup_info_str(e, CURLINFO_CONTENT_TYPE);
  r->redirect_url = dup_info_str(e, CURLINFO_REDIRECT_URL);
  char *ip = NULL;
  r->remote_ip[0] = '\0';
  if (curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
    snprintf(r->remote_ip, sizeof r->remote_ip, "%s", ip);
  long port = 0, nconn = 0;
  curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &port);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn);
  r->remote_port = (int)port;
  r->reused = r->status != 0 && nconn == 0;
  curl_off_t wire = 0;
  curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &wire);
  r->wire_bytes = wire > 0 ? (uint64_t)wire : 0;
  r->timings.connect_ns = info_us(e, CURLINFO_CONNECT_TIME_T);
  r->timings.tls_ns = info_us(e, CURLINFO_APPCONNECT_TIME_T);
  r->timings.ttfb_ns = info_us(e, CURLINFO_STARTTRANSFER_TIME_T);
  free(r->headers);
  free(r->body);
  free(r->request_headers);
  r->request_headers = take_or_null(&x->reqhdrs, &r->request_headers_len);
  r->headers = take_or_null(&x->hdrs, &r->headers_len);
  r->body = x->on_body ? NULL : sp_buf_take(&x->body, NULL); /* an empty body is "", not NULL */
  r->body_len = x->body_len;
  x->body_len = 0;
}

/* Runs one hop on the calling worker's driver and waits for it. */
static int run_hop(sp__xfer *x, sp__ioctx *ctx, sp_http_response *r) {
  int err;
  x->ctx = ctx;
  atomic_store(&x->state, X_RUNNING);
  memset(&x->done, 0, sizeof x->done);
  x->start.op = SP__CMD_HTTP_START;
  x->cancel.op = SP__CMD_HTTP_CANCEL;
  x->toobig = x->aborted = x->oom = x->headers_done = false;
  decode_end(x);
  x->coding = SP__CODING_NONE;
  x->start_err = 0;
  x->sock_errno = 0;
  x->code = CURLE_OK;
  x->errbuf[0] = '\0';
  if (!sp__ioctx_submit(ctx, &x->start)) {
    set_error(r, SP_ESHUTDOWN, "%s", sp_strerror(SP_ESHUTDOWN));
    return SP_ESHUTDOWN;
  }
  sp__io *io = atomic_load(&ctx->rt->io);
  atomic_fetch_add_explicit(&io->http_stats[0], 1, memory_order_relaxed);
  int werr = completion_wait(&x->done, 0);
  if (werr) {
    int s = X_RUNNING;
    if (atomic_compare_exchange_strong(&x->state, &s, X_ABANDONED)) {
      memset(&x->done, 0, sizeof x->done); /* now it waits for the cancel's ack */
      if (sp__ioctx_submit(ctx, &x->cancel)) {
        completion_wait(&x->done, SP_PARK_UNINTERRUPTIBLE);
      } else {
        /* The driver is gone (shutdown) and runs no more callbacks; the
         * transfer stays on ctx's list and io_fini frees it. */
        x->orphaned = true;
        atomic_fetch_add_explicit(&io->http_stats[2], 1, memory_order_relaxed);
        set_error(r, werr, "%s", sp_strerror(werr));
        return werr;
      }
      atomic_fetch_add_explicit(&io->http_stats[2], 1, memory_order_relaxed);
      set_error(r, werr, "%s", sp_strerror(werr));
      return werr;
    }
    completion_wait(&x->done, SP_PARK_UNINTERRUPTIBLE); /* it just completed */
  }
  err = hop_error(x, r);
  if (err) atomic_fetch_add_explicit(&io->http_stats[2], 1, memory_order_relaxed);
  return err;
}

static bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static bool header_is(const char *h, const char *name) {
  size_t n = strlen(name);
  return strncasecmp(h, name, n) == 0 && (h[n] == ':' || h[n] == ';');
}

/* The caller's headers, less credentials once a redirect has left the
 * origin they were meant for (as libcurl does when it follows), and less
 * the body's headers once the request has become a GET. */
static int build_headers(const sp_http_request *req, bool other_origin, bool no_body, struct curl_slist **out) {
  *out = NULL;
  for (const char *const *h = req->headers; h && *h; h++) {
    if (other_origin && (header_is(*h, "Authorization") || header_is(*h, "Cookie") ||
                         header_is(*h, "Proxy-Authorization")))
      continue;
    if (no_body && (header_is(*h, "Content-Type") || header_is(*h, "Content-Length"))) continue;
    struct curl_slist *n = curl_slist_append(*out, *h);
    if (!n) {
      curl_slist_free_all(*out);
      *out = NULL;
      return SP_ENOMEM;
    }
    *out = n;
  }
  return 0;
}

int sp_http_fetch(const sp_http_request *req, sp_http_response *resp) {
  if (!resp) return SP_EINVAL;
  memset(resp, 0, sizeof *resp);
  if (!req || !req->url) {
    set_error(resp, SP_EINVAL, "no URL%s", NULL);
    return SP_EINVAL;
  }
  if (check_request(req, resp)) {
    resp->failure = SP_HTTP_FAIL_REQUEST;
    return SP_EINVAL;
  }
  if (!sp__cur_task()) {
    set_error(resp, SP_EPERM, "sp_http_fetch must be called from a task%s", NULL);
    return SP_EPERM;
  }
  uint64_t start = sp_now_ns();
  const char *method = req->method ? req->method : (req->body ? "POST" : "GET");
  bool with_body = req->body != NULL;
  char *url = sp__strdup(req->url);
  sp__xfer *x = xfer_new();
  int err = (!url || !x) ? SP_ENOMEM : build_headers(req, false, false, &x->headers);
  if (err) {
    set_error(resp, err, "%s", sp_strerror(err));
    free(url);
    if (x) xfer_free(x);
    return err;
  }
  x->on_body = req->on_body;
  x->user = req->user;
  x->max_body = req->max_body;
  sp__ioctx *home = NULL;

  char origin[320] = ""; /* the first hop's */
  bool left_origin = false;
  for (;;) {
    char *host = NULL, hop_origin[sizeof origin];
    long port = 0;
    uint64_t left = remaining(start, req->timeout_ns);
    CURLU *uh;
    char why[64];
    const char *bad = resp->redirects ? bad_chars(url, false, why, sizeof why) : NULL;
    if (bad) { /* a Location libcurl let through */
      err = refuse(resp, "redirect URL", 0, bad);
      break;
    }
    if ((err = parse_target(url, &uh, &host, &port, hop_origin, sizeof hop_origin, resp))) break;
    if (!origin[0]) {
      memcpy(origin, hop_origin, sizeof origin);
    } else {
      /* A followed redirect: once it has left the origin, credentials stay
       * behind; once the request is a GET, its body's headers too. */
      left_origin = left_origin || strcmp(origin, hop_origin) != 0;
      if (left_origin || !with_body) {
        curl_slist_free_all(x->headers);
        err = build_headers(req, left_origin, !with_body, &x->headers);
      }
    }
    curl_slist_free_all(x->resolve);
    x->resolve = NULL;
    if (!err && !sp__ip_literal(host, 0, NULL) && !(x->resolve = resolve_override(req, host, port)))
      err = resolve_entry(host, port, left, &x->resolve, resp);
    curl_free(host);
    if (!err && !left) {
      err = SP_ETIMEDOUT;
      set_error(resp, err, "timed out%s", NULL);
    }
    if (err) {
      curl_url_cleanup(uh);
      break;
    }
    /* The easy handle comes from (and goes back to) the hop's worker; put
     * back, it no longer refers to the last hop's URL handle. */
    if (x->easy) sp__ioctx_easy_put(home, x->easy);
    x->easy = NULL;
    curl_url_cleanup(x->uh);
    x->uh = uh;
    if ((err = sp__ioctx_get(req->worker, &home))) {
      set_error(resp, err, "%s", sp_strerror(err));
      break;
    }
    if (!(x->easy = sp__ioctx_easy_get(home))) {
      err = SP_ENOMEM;
      set_error(resp, err, "%s", sp_strerror(err));
      break;
    }
    configure(x, req, method, with_body, remaining(start, req->timeout_ns));
    err = run_hop(x, home, resp);
    if (x->orphaned) { /* abandoned at shutdown: io_fini owns x now */
      x = NULL;
      break;
    }
    if (err) break;
    hop_result(x, resp);
    if (resp->reused) {
      sp__io *io = atomic_load(&home->rt->io);
      atomic_fetch_add_explicit(&io->http_stats[1], 1, memory_order_relaxed);
    }
    if (!is_redirect(resp->status) || !resp->redirect_url || req->max_redirects <= 0) break;
    if (resp->redirects >= req->max_redirects) {
      err = SP_EREDIRECTS;
      char n[32];
      snprintf(n, sizeof n, "%d", req->max_redirects);
      set_error(resp, err, "more than %s redirects", n);
      break;
    }
    resp->redirects++;
    free(url);
    url = resp->redirect_url;
    resp->redirect_url = NULL;
    /* 303, and 301/302 after a POST, continue as GET (as browsers do). */
    if (resp->status == 303 || ((resp->status == 301 || resp->status == 302) && strcasecmp(method, "POST") == 0)) {
      if (strcasecmp(method, "HEAD") != 0) method = "GET";
      with_body = false;
    }
    if (!url) {
      err = SP_ENOMEM;
      break;
    }
  }
  if (x) {
    if (x->easy) {
      if (err && !resp->status) {
        /* Keep what arrived of a failed hop (status, peer) for the caller. */
        long st = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
        resp->status = st;
      }
      sp__ioctx_easy_put(home, x->easy);
    }
    xfer_free(x);
  }
  if (!resp->url) resp->url = url;
  else free(url);
  resp->timings.total_ns = sp_now_ns() - start;
  resp->err = err;
  resp->failure = failure_of(err, resp->curl_code);
  if (!err) resp->error[0] = '\0';
  return err;
}

static const char *const failure_names[] = {
    [SP_HTTP_OK] = "",           [SP_HTTP_FAIL_DNS] = "dns",       [SP_HTTP_FAIL_CONNECT] = "connect",
    [SP_HTTP_FAIL_TLS] = "tls",  [SP_HTTP_FAIL_TIMEOUT] = "timeout", [SP_HTTP_FAIL_RESET] = "reset",
    [SP_HTTP_FAIL_PROTOCOL] = "protocol", [SP_HTTP_FAIL_TOO_BIG] = "too_big",
    [SP_HTTP_FAIL_REDIRECTS] = "redirects", [SP_HTTP_FAIL_LOCAL] = "local",
    [SP_HTTP_FAIL_REQUEST] = "request",   [SP_HTTP_FAIL_OTHER] = "other",
};

const char *sp_http_failure_name(sp_http_failure f) {
  return (unsigned)f < sizeof failure_names / sizeof *failure_names ? failure_names[f] : "other";
}

/* The kind of a fetch's failure, from its code and, where the code says
 * too little (SP_EHTTP, or no errno from the system), libcurl's. */
static sp_http_failure failure_of(int err, int curl_code) {
  switch (err) {
  case 0: return SP_HTTP_OK;
  case SP_ENOTFOUND:
  case SP_ENODATA:
  case SP_EDNS:
  case SP_EDNSREFUSED: return SP_HTTP_FAIL_DNS;
  case -ECONNREFUSED:
  case -EHOSTUNREACH:
  case -ENETUNREACH:
  case -EADDRNOTAVAIL: return SP_HTTP_FAIL_CONNECT;
  case SP_ETIMEDOUT: return SP_HTTP_FAIL_TIMEOUT;
  case SP_ETOOBIG: return SP_HTTP_FAIL_TOO_BIG;
  case -ECONNRESET:
  case -EPIPE: return SP_HTTP_FAIL_RESET;
  case SP_EREDIRECTS: return SP_HTTP_FAIL_REDIRECTS;
  case -EMFILE:
  case -ENFILE:
  case SP_ENOMEM: return SP_HTTP_FAIL_LOCAL;
  case SP_EINVAL: return SP_HTTP_FAIL_REQUEST;
  }
  switch (curl_code) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE: return SP_HTTP_FAIL_TLS;
  case CURLE_COULDNT_CONNECT: return SP_HTTP_FAIL_CONNECT;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR: return SP_HTTP_FAIL_RESET;
  }
  return err == SP_EHTTP ? SP_HTTP_FAIL_PROTOCOL : SP_HTTP_FAIL_OTHER;
}

int sp_http_get(const char *url, sp_http_response *resp) {
  sp_http_request req;
  sp_http_request_init(&req);
  req.url = url;
  return sp_http_fetch(&req, resp);
}

long sp_http_header(const sp_http_response *resp, const char *name, char *buf, size_t size) {
  if (!resp || !resp->headers || !name) return -1;
  size_t nl = strlen(name);
  const char *p = resp->headers;
  while (*p) {
    const char *eol = strstr(p, "\n");
    const char *end = eol ? eol : p + strlen(p);
    if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      const char *ve = end;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t len = (size_t)(ve - v);
      if (buf && size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
      }
      return (long)len;
    }
    if (!eol) break;
    p = eol + 1;
  }
  return -1;
}

void sp_http_response_free(sp_http_response *resp) {
  if (!resp) return;
  free(resp->url);
  free(resp->redirect_url);
  free(resp->content_type);
  free(resp->headers);
  free(resp->body);
  free(resp->request_headers);
  resp->url = resp->redirect_url = resp->content_type = resp->headers = resp->body = NULL;
  resp->request_headers = NULL;
}

void sp_http_get_stats(sp_runtime *rt, sp_http_stats *out) {
  memset(out, 0, sizeof *out);
  sp__io *io = rt ? atomic_load(&rt->io) : NULL;
  if (!io) return;
  out->transfers = atomic_load(&io->http_stats[0]);
  out->reused = atomic_load(&io->http_stats[1]);
  out->failed = atomic_load(&io->http_stats[2]);
  out->handles = atomic_load(&io->http_stats[3]);
}
