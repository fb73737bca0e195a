/* tests/io/fault_server.c - a hostile HTTP/1.1 server for the io/ fault
 * injection tests (built as build/bin/fault-server; tests/io/fixture.c's
 * fx_fault_start runs it).  Plain C, one thread per connection, no spindle.
 *
 *   fault-server [--port P]     P = 0 (the default): any free port
 *   fault-server --dns-rcode R [--port P]
 *                               a DNS server on UDP instead: every query is
 *                               answered with its question and RCODE R (2
 *                               SERVFAIL, 5 REFUSED...), no records; one
 *                               line "query" per query on stderr
 *   fault-server --dns-script NAME=STEPS [--port P]
 *                               a DNS server on UDP whose answers for NAME
 *                               follow STEPS, e.g. "ok,refused,ok": the
 *                               k-th lookup of NAME gets step k, the last
 *                               step repeating.  ok: an A query gets the
 *                               record NAME A 127.0.0.1 with TTL 0 (so a
 *                               cache asks again), other types NOERROR and
 *                               no records; refused: RCODE 5.  Lookups are
 *                               counted per query type, a query resent
 *                               with its ID unchanged counting once (c-ares
 *                               sends one A and one AAAA query per
 *                               AF_UNSPEC lookup, and resends after a
 *                               REFUSED; a new lookup that happens to reuse
 *                               the last ID, 1 in 65536, would pass for a
 *                               resend).  Other names: NXDOMAIN.  One line
 *                               "query NAME QTYPE STEP id=ID" per query on
 *                               stderr (QTYPE as a number: 1 A, 28 AAAA;
 *                               ID the query's, the same for a resend)
 *
 * Listens on 127.0.0.1:P and prints "port=N" on stdout once it does.  SIGTERM
 * or SIGINT ends it at once.  At most 1024 connections at a time; more are
 * closed on accept.  Requests are read up to the blank line (a request body
 * announced by Content-Length is skipped, except by /echo, /echo-redirect
 * and /close-after-headers); the response depends on the path
 * (the query string holds the parameters):
 *
 *   /ok                     200, "ok\n" (keep-alive)
 *   /reset-mid-body         200 with Content-Length: 100000, 1000 bytes of the
 *                           body, then RST (SO_LINGER 0 and close)
 *   /never                  reads the request, never answers; closes when
 *                           the client does
 *   /trickle?bytes=N&delay_ms=D
 *                           200 with Content-Length N, one byte every D ms
 *                           (default N=10, D=100; keep-alive)
 *   /endless                200 without Content-Length (Connection: close),
 *                           a body without end, until the client goes away
 *   /cut-headers?kind=K     a header section cut short, then close; K is
 *                             (default) "HTTP/1.1 200 OK\r\nContent-Le" -
 *                               libcurl 7.88 takes that for a complete 200
 *                               with an empty body
 *                             status: "HTTP/1.1 20" (libcurl: error 52)
 *                             len: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
 *                               (libcurl: error 18, body short)
 *   /truncated-gzip         Content-Encoding: gzip; the body is the first half
 *                           of a valid gzip stream of text, Content-Length the
 *                           length of that half; then close (libcurl 7.88
 *                           does not notice: it delivers what inflates, about
 *                           3.5 of the 8 KiB, and succeeds)
 *   /bad-gzip               Content-Encoding: gzip, a body that is not gzip
 *                           (libcurl: error 61)
 *   /gzip-bomb?mib=M        Content-Encoding: gzip, a complete and valid gzip
 *                           body that inflates to M MiB of zeros (default 100,
 *                           at most 4096); about 1/1000 of that on the wire
 *   /malformed-headers?kind=K   a response with a broken header section, then
 *                           close; K is one of
 *                             nocolon (default): a header line without ':'
 *                             space: "Content-Length : 5" (space before ':')
 *                             badlen: "Content-Length: abc"
 *                             twolen: two different Content-Length headers
 *                             status: status line "HTTP/1.1 2xx Wat"
 *                             huge: one header line of 200 KiB
 *                             lf: bare "\n" line ends instead of "\r\n"
 *   /redirect-loop          302 to /redirect-loop itself (keep-alive)
 *   /status?code=N          status N (default 200) with "status N\n"
 *   /delay?ms=D             "ok\n" after D ms (default 1000)
 *   /empty-reply            reads the request, closes without a byte
 *   /hang-after-headers     200 with Content-Length: 100 and no body, then
 *                           silent until the client closes
 *   /gzip-members           a gzip body of two members: "hello, members\n"
 *   /hostile                an HTML page linking to the paths above (and
 *                           /status?code=503, /trap, /garbage)
 *   /trap?n=N               HTML linking to two URLs never seen before
 *                           (n=N+1, and n=N+1&x=N): a link trap
 *   /garbage                64 KiB of pseudo-random bytes as text/html
 *   /gumbo-assert           HTML that fails an assertion inside Debian's gumbo
 *   /echo                   reads the whole request, its body included
 *                           (Content-Length, or Transfer-Encoding: chunked;
 *                           answers "Expect: 100-continue" with a 100), and
 *                           answers 200 text/plain, header X-Method: METHOD,
 *                           with the body
 *                             method METHOD\n
 *                             target TARGET\n
 *                             header NAME: VALUE\n    (each request header,
 *                                                      in order)
 *                             body N\n                 (N body bytes received)
 *                           followed by the N body bytes as received
 *                           (keep-alive; HEAD gets the headers only)
 *   /echo-redirect?code=N&to=PATH
 *                           reads the request and its body like /echo,
 *                           then N (default 307) with Location: PATH
 *                           (default /echo), empty body (keep-alive)
 *   /close-after-headers    reads the request's header section, never its
 *                           body, and closes at once without answering (with
 *                           body bytes unread, the close is an RST)
 *   /deflate?kind=K         the 8 KiB text of /truncated-gzip, whole; K is
 *                             zlib (default): Content-Encoding: deflate,
 *                               a zlib-wrapped stream (RFC 1950)
 *                             raw: Content-Encoding: deflate, a raw deflate
 *                               stream without the wrapper (RFC 1951)
 *                             plain: no Content-Encoding, the text itself
 *   /deflate?kind=K&first=N the same body sent chunked (Transfer-Encoding:
 *                           chunked): its first N bytes in a chunk of their
 *                           own, sent alone, then after 50 ms the rest in
 *                           another (N >= 1; the client's content decoder
 *                           sees the first N bytes as a piece of their own)
 *   /truncated-deflate?kind=K   K zlib or raw as above, Content-Length the
 *                           first half of the stream, then close
 *   anything else           404
 *
 * Compressed bodies come from zlib when built with it (FAULT_HAVE_ZLIB),
 * else from a built-in encoder of stored blocks: valid either way.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef FAULT_HAVE_ZLIB
#include <zlib.h>
#endif

#define MAX_CONNS 1024
#define REQ_MAX 16384 /* request line and headers */

static atomic_int nconns;

enum { KEEP, CLOSE, CLOSED };

typedef struct conn {
  int fd;
  size_t len; /* bytes in buf */
  char buf[REQ_MAX];
} conn;

typedef struct request {
  char method[16];
  char path[4096];
  char query[4096];
  int close;    /* the client asked for Connection: close, or HTTP/1.0 */
  int head;     /* HEAD: no body in the answer */
  char *head_text; /* /echo: the request's header section (malloc'd) */
  char *body;      /* /echo: the request body as received (malloc'd) */
  size_t body_len;
} request;

static void request_free(request *req) {
  free(req->head_text);
  free(req->body);
  req->head_text = req->body = NULL;
  req->body_len = 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int send_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int send_str(int fd, const char *s) {
  return send_all(fd, s, strlen(s));
}

/* Value of name in a query string "a=1&b=2"; def if absent or not a number. */
static long long qparam(const char *query, const char *name, long long def) {
  size_t nlen = strlen(name);
  for (const char *p = query; p != NULL && *p != '\0';) {
    if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
      char *end;
      errno = 0;
      long long v = strtoll(p + nlen + 1, &end, 10);
      if (errno == 0 && end != p + nlen + 1) return v;
      return def;
    }
    p = strchr(p, '&');
    if (p != NULL) p++;
  }
  return def;
}

static void qstring(const char *query, const char *name, char *out, size_t n, const char *def) {
  size_t nlen = strlen(name);
  for (const char *p = query; p != NULL && *p != '\0';) {
    if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
      size_t len = strcspn(p + nlen + 1, "&");
      if (len >= n) len = n - 1;
      memcpy(out, p + nlen + 1, len);
      out[len] = '\0';
      return;
    }
    p = strchr(p, '&');
    if (p != NULL) p++;
  }
  snprintf(out, n, "%s", def);
}

/* Discards exactly n bytes of request body (buffered ones first). */
static int skip_body(conn *c, unsigned long long n) {
  size_t take = c->len < n ? c->len : (size_t)n;
  memmove(c->buf, c->buf + take, c->len - take);
  c->len -= take;
  n -= take;
  char scratch[4096];
  while (n > 0) {
    ssize_t r = recv(c->fd, scratch, n < sizeof scratch ? (size_t)n : sizeof scratch, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    n -= (unsigned long long)r;
  }
  return 0;
}

/* Takes exactly n bytes of the request body (buffered ones first) into out. */
static int take_bytes(conn *c, char *out, size_t n) {
  size_t take = c->len < n ? c->len : n;
  memcpy(out, c->buf, take);
  memmove(c->buf, c->buf + take, c->len - take);
  c->len -= take;
  for (size_t got = take; got < n;) {
    ssize_t r = recv(c->fd, out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/* Takes one CRLF-ended line (without the CRLF) into line[cap]. */
static int take_line(conn *c, char *line, size_t cap) {
  char *eol;
  while ((eol = memmem(c->buf, c->len, "\r\n", 2)) == NULL) {
    if (c->len == sizeof c->buf) return -1;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c->len += (size_t)r;
  }
  size_t n = (size_t)(eol - c->buf);
  if (n >= cap) return -1;
  memcpy(line, c->buf, n);
  line[n] = '\0';
  memmove(c->buf, eol + 2, c->len - n - 2);
  c->len -= n + 2;
  return 0;
}

#define ECHO_BODY_MAX (64u << 20)

/* Reads a request body into req->body: n bytes, or chunked (n ignored). */
static int keep_body(conn *c, request *req, unsigned long long n, int chunked) {
  if (!chunked) {
    if (n > ECHO_BODY_MAX || (req->body = malloc(n + 1)) == NULL) return -1;
    req->body_len = (size_t)n;
    return take_bytes(c, req->body, (size_t)n);
  }
  size_t cap = 0;
  for (;;) {
    char line[64];
    if (take_line(c, line, sizeof line) != 0) return -1;
    char *end;
    unsigned long long k = strtoull(line, &end, 16);
    if (end == line || k > ECHO_BODY_MAX - req->body_len) return -1;
    if (k == 0) break;
    if (req->body_len + k + 1 > cap) {
      cap = (req->body_len + k + 1) * 2;
      char *b = realloc(req->body, cap);
      if (b == NULL) return -1;
      req->body = b;
    }
    if (take_bytes(c, req->body + req->body_len, (size_t)k) != 0 || take_line(c, line, sizeof line) != 0 ||
        line[0] != '\0')
      return -1;
    req->body_len += (size_t)k;
  }
  for (;;) { /* trailers, up to the blank line */
    char line[1024];
    if (take_line(c, line, sizeof line) != 0) return -1;
    if (line[0] == '\0') return 0;
  }
}

/* Reads one request's head (and skips its body, or keeps it for the paths
 * that look at it).  0, or -1 when the client closed or sent something
 * unusable (then answered 400/431). */
static int read_request(conn *c, request *req) {
  char *end;
  while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
    if (c->len == sizeof c->buf) {
      send_str(c->fd, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return -1;
    }
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c->len += (size_t)r;
  }
  size_t head_len = (size_t)(end - c->buf) + 4;
  char head[REQ_MAX + 1];
  memcpy(head, c->buf, head_len);
  head[head_len] = '\0';
  memmove(c->buf, c->buf + head_len, c->len - head_len);
  c->len -= head_len;

  memset(req, 0, sizeof *req);
  char target[4096], version[16];
  if (sscanf(head, "%15s %4095s %15s", req->method, target, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
    send_str(c->fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return -1;
  }
  char *q = strchr(target, '?');
  if (q != NULL) *q++ = '\0';
  snprintf(req->path, sizeof req->path, "%s", target);
  snprintf(req->query, sizeof req->query, "%s", q ? q : "");
  req->head = strcmp(req->method, "HEAD") == 0;
  int keep_alive_10 = 0, chunked = 0, expect100 = 0;
  unsigned long long body = 0;
  for (char *line = strstr(head, "\r\n"); line != NULL && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
    const char *h = line + 2;
    if (strncasecmp(h, "Content-Length:", 15) == 0) body = strtoull(h + 15, NULL, 10);
    if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strncasecmp(h + 18 + strspn(h + 18, " "), "chunked", 7) == 0)
      chunked = 1;
    if (strncasecmp(h, "Expect:", 7) == 0 && strncasecmp(h + 7 + strspn(h + 7, " "), "100-continue", 12) == 0)
      expect100 = 1;
    if (strncasecmp(h, "Connection:", 11) == 0) {
      const char *v = h + 11;
      const char *eol = strstr(v, "\r\n");
      size_t vlen = eol ? (size_t)(eol - v) : strlen(v);
      char val[64];
      snprintf(val, sizeof val, "%.*s", (int)(vlen < 63 ? vlen : 63), v);
      if (strcasestr(val, "close")) req->close = 1;
      if (strcasestr(val, "keep-alive")) keep_alive_10 = 1;
    }
  }
  if (strcmp(version, "HTTP/1.0") == 0 && !keep_alive_10) req->close = 1;
  if (strcmp(req->path, "/close-after-headers") == 0) return 0; /* the body stays unread */
  if (strcmp(req->path, "/echo") == 0 || strcmp(req->path, "/echo-redirect") == 0) {
    if ((req->head_text = strdup(head)) == NULL) return -1;
    if (expect100 && send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n") != 0) return -1;
    if (keep_body(c, req, body, chunked) != 0) return -1;
    return 0;
  }
  if (body > 0 && skip_body(c, body) != 0) return -1;
  return 0;
}

/* A whole response with a small body. */
static int respond(conn *c, const request *req, int status, const char *reason, const char *extra_headers,
                   const char *body) {
  char head[1024];
  size_t blen = strlen(body);
  snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s%s\r\n", status,
           reason, blen, extra_headers ? extra_headers : "", req->close ? "Connection: close\r\n" : "");
  if (send_str(c->fd, head) != 0) return CLOSE;
  if (!req->head && send_all(c->fd, body, blen) != 0) return CLOSE;
  return req->close ? CLOSE : KEEP;
}

/* Reads (and drops) until the client closes. */
static int wait_for_close(conn *c) {
  char scratch[4096];
  for (;;) {
    ssize_t r = recv(c->fd, scratch, sizeof scratch, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return CLOSE;
  }
}

/* ---- gzip ----------------------------------------------------------------- */

typedef struct buf {
  unsigned char *data;
  size_t len;
} buf;

#ifdef FAULT_HAVE_ZLIB
/* gzip of n bytes from src, or of zeros (src NULL); exits on failure. */
static buf gzip_bytes(const unsigned char *src, unsigned long long n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    fprintf(stderr, "fault-server: deflateInit2 failed\n");
    exit(1);
  }
  static const unsigned char zeros[65536];
  size_t cap = 1 << 16, len = 0;
  unsigned char *out = malloc(cap);
  unsigned long long fed = 0;
  int rc;
  do {
    if (z.avail_in == 0 && fed < n) {
      size_t chunk = n - fed < sizeof zeros ? (size_t)(n - fed) : sizeof zeros;
      z.next_in = (unsigned char *)(src ? src + fed : zeros);
      z.avail_in = (uInt)chunk;
      fed += chunk;
    }
    if (cap - len < 65536) {
      cap *= 2;
      out = realloc(out, cap);
    }
    if (out == NULL) {
      fprintf(stderr, "fault-server: out of memory\n");
      exit(1);
    }
    z.next_out = out + len;
    z.avail_out = (uInt)(cap - len);
    rc = deflate(&z, fed == n && z.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH);
    len = cap - z.avail_out;
  } while (rc != Z_STREAM_END);
  deflateEnd(&z);
  return (buf){out, len};
}
#else
/* Without zlib: a gzip stream written by hand.  Zeros as one fixed-Huffman
 * block (a literal 0, then matches of length 258 at distance 1); other data
 * in stored blocks. */
static uint32_t crc_table[256];

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
  if (crc_table[1] == 0) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      crc_table[i] = c;
    }
  }
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

typedef struct bitw {
  unsigned char *out;
  size_t len, cap;
  uint32_t acc;
  int nbits;
} bitw;

static void bw_byte(bitw *w, unsigned char b) {
  if (w->len == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 4096;
    w->out = realloc(w->out, w->cap);
    if (w->out == NULL) {
      fprintf(stderr, "fault-server: out of memory\n");
      exit(1);
    }
  }
  w->out[w->len++] = b;
}

static void bw_bits(bitw *w, uint32_t v, int n) { /* LSB first */
  w->acc |= v << w->nbits;
  w->nbits += n;
  while (w->nbits >= 8) {
    bw_byte(w, (unsigned char)w->acc);
    w->acc >>= 8;
    w->nbits -= 8;
  }
}

static void bw_huff(bitw *w, uint32_t code, int n) { /* Huffman codes: MSB first */
  uint32_t r = 0;
  for (int i = 0; i < n; i++) r |= ((code >> i) & 1u) << (n - 1 - i);
  bw_bits(w, r, n);
}

static void bw_flush(bitw *w) {
  if (w->nbits > 0) bw_bits(w, 0, 8 - w->nbits);
}

static void bw_le32(bitw *w, uint32_t v) {
  for (int i = 0; i < 4; i++) bw_byte(w, (unsigned char)(v >> (8 * i)));
}

static buf gzip_bytes(const unsigned char *src, unsigned long long n) {
  static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};
  bitw w = {0};
  for (size_t i = 0; i < sizeof header; i++) bw_byte(&w, header[i]);
  uint32_t crc = 0;
  if (src == NULL) {
    static const unsigned char zeros[65536];
    for (unsigned long long done = 0; done < n;) {
      size_t chunk = n - done < sizeof zeros ? (size_t)(n - done) : sizeof zeros;
      crc = crc32_update(crc, zeros, chunk);
      done += chunk;
    }
    bw_bits(&w, 1, 1); /* BFINAL */
    bw_bits(&w, 1, 2); /* BTYPE 01: fixed Huffman */
    unsigned long long left = n;
    if (left > 0) {
      bw_huff(&w, 0x30, 8); /* literal 0 */
      left--;
    }
    for (; left >= 258; left -= 258) {
      bw_huff(&w, 0xc5, 8); /* length symbol 285: 258 */
      bw_huff(&w, 0, 5);    /* distance code 0: 1 */
    }
    for (; left > 0; left--) bw_huff(&w, 0x30, 8);
    bw_huff(&w, 0, 7); /* end of block */
    bw_flush(&w);
  } else {
    crc = crc32_update(0, src, (size_t)n);
    unsigned long long done = 0;
    do {
      size_t chunk = n - done < 65535 ? (size_t)(n - done) : 65535;
      bw_byte(&w, done + chunk == n ? 1 : 0); /* BFINAL, BTYPE 00: stored */
      bw_byte(&w, (unsigned char)chunk);
      bw_byte(&w, (unsigned char)(chunk >> 8));
      bw_byte(&w, (unsigned char)~chunk);
      bw_byte(&w, (unsigned char)(~chunk >> 8));
      for (size_t i = 0; i < chunk; i++) bw_byte(&w, src[done + i]);
      done += chunk;
    } while (done < n);
  }
  bw_le32(&w, crc);
  bw_le32(&w, (uint32_t)n);
  return (buf){w.out, w.len};
}
#endif

/* The gzip bombs made so far, one per size; never freed. */
typedef struct bomb {
  struct bomb *next;
  long long mib;
  buf gz;
} bomb;
static pthread_mutex_t bombs_mu = PTHREAD_MUTEX_INITIALIZER;
static bomb *bombs;

static buf gzip_bomb(long long mib) {
  pthread_mutex_lock(&bombs_mu);
  bomb *b = bombs;
  while (b != NULL && b->mib != mib) b = b->next;
  if (b == NULL && (b = malloc(sizeof *b)) != NULL) {
    b->mib = mib;
    b->gz = gzip_bytes(NULL, (unsigned long long)mib << 20);
    b->next = bombs;
    bombs = b;
  }
  pthread_mutex_unlock(&bombs_mu);
  if (b == NULL) {
    fprintf(stderr, "fault-server: out of memory\n");
    exit(1);
  }
  return b->gz;
}

/* ---- deflate --------------------------------------------------------------- */

/* A deflate stream of n bytes of src: zlib-wrapped (RFC 1950), or raw (RFC
 * 1951); exits on failure. */
#ifdef FAULT_HAVE_ZLIB
static buf deflate_bytes(const unsigned char *src, size_t n, int raw) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, raw ? -15 : 15, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    fprintf(stderr, "fault-server: deflateInit2 failed\n");
    exit(1);
  }
  uLong cap = deflateBound(&z, (uLong)n);
  unsigned char *out = malloc(cap);
  if (out == NULL) {
    fprintf(stderr, "fault-server: out of memory\n");
    exit(1);
  }
  z.next_in = (unsigned char *)src;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
    fprintf(stderr, "fault-server: deflate failed\n");
    exit(1);
  }
  size_t len = cap - z.avail_out;
  deflateEnd(&z);
  return (buf){out, len};
}
#else
/* Without zlib: stored blocks, with the zlib header and Adler-32 unless raw. */
static buf deflate_bytes(const unsigned char *src, size_t n, int raw) {
  size_t cap = 2 + n + 5 * (n / 65535 + 1) + 4;
  unsigned char *out = malloc(cap), *p = out;
  if (out == NULL) {
    fprintf(stderr, "fault-server: out of memory\n");
    exit(1);
  }
  if (!raw) {
    *p++ = 0x78; /* CM 8, 32 KiB window */
    *p++ = 0x01; /* (0x78 * 256 + 0x01) % 31 == 0, no dictionary */
  }
  size_t done = 0;
  do {
    size_t chunk = n - done < 65535 ? n - done : 65535;
    *p++ = done + chunk == n ? 1 : 0; /* BFINAL, BTYPE 00: stored */
    *p++ = (unsigned char)chunk;
    *p++ = (unsigned char)(chunk >> 8);
    *p++ = (unsigned char)~chunk;
    *p++ = (unsigned char)(~chunk >> 8);
    memcpy(p, src + done, chunk);
    p += chunk;
    done += chunk;
  } while (done < n);
  if (!raw) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
      a = (a + src[i]) % 65521;
      b = (b + a) % 65521;
    }
    uint32_t adler = b << 16 | a;
    for (int i = 3; i >= 0; i--) *p++ = (unsigned char)(adler >> (8 * i)); /* big-endian */
  }
  return (buf){out, (size_t)(p - out)};
}
#endif

/* ---- the paths ------------------------------------------------------------ */

static int do_reset_mid_body(conn *c) {
  char body[1000];
  memset(body, 'r', sizeof body);
  if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n") !=
          0 ||
      send_all(c->fd, body, sizeof body) != 0)
    return CLOSE;
  sleep_ms(20); /* lets the partial body reach the client before the RST */
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(c->fd);
  return CLOSED;
}

static int do_trickle(conn *c, const request *req) {
  long long n = qparam(req->query, "bytes", 10);
  long long delay = qparam(req->query, "delay_ms", 100);
  if (n < 0) n = 0;
  if (delay < 0) delay = 0;
  char head[256];
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %lld\r\n%s\r\n",
           n, req->close ? "Connection: close\r\n" : "");
  if (send_str(c->fd, head) != 0) return CLOSE;
  if (req->head) return req->close ? CLOSE : KEEP;
  for (long long i = 0; i < n; i++) {
    sleep_ms((long)delay);
    char b = (char)('a' + i % 26);
    if (send_all(c->fd, &b, 1) != 0) return CLOSE;
  }
  return req->close ? CLOSE : KEEP;
}

static int do_endless(conn *c) {
  if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n") != 0)
    return CLOSE;
  char chunk[16384];
  memset(chunk, 'e', sizeof chunk);
  while (send_all(c->fd, chunk, sizeof chunk) == 0) {
  }
  return CLOSE; /* EPIPE or ECONNRESET: the client is gone */
}

/* About 8 KiB of text, and valid gzip, zlib and raw deflate streams of it,
 * made once. */
static char text_plain[8192];
static size_t text_len;
static buf text_gz, text_zlib, text_raw;

static void make_text_gz(void) {
  size_t len = 0;
  for (int i = 0; len + 80 < sizeof text_plain; i++)
    len += (size_t)snprintf(text_plain + len, sizeof text_plain - len,
                            "line %d: the quick brown fox jumps over the lazy dog %d\n", i, i * 7919 % 10007);
  text_len = len;
  text_gz = gzip_bytes((const unsigned char *)text_plain, len);
  text_zlib = deflate_bytes((const unsigned char *)text_plain, len, 0);
  text_raw = deflate_bytes((const unsigned char *)text_plain, len, 1);
}
static pthread_once_t text_once = PTHREAD_ONCE_INIT;

static int do_truncated_gzip(conn *c) {
  pthread_once(&text_once, make_text_gz);
  size_t half = text_gz.len / 2;
  char head[256];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n"
           "Connection: close\r\n\r\n",
           half);
  if (send_str(c->fd, head) == 0) send_all(c->fd, text_gz.data, half);
  return CLOSE;
}

/* The text as a deflate stream (zlib-wrapped or raw), or plain; whole, or
 * its first half and then close. */
/* data[len] as two chunks of a chunked body, the first of first bytes (1 to
 * len - 1), sent alone, then the rest 50 ms later; 0, or -1. */
static int send_two_chunks(int fd, const unsigned char *data, size_t len, size_t first) {
  char size[32];
  snprintf(size, sizeof size, "%zx\r\n", first);
  if (send_str(fd, size) != 0 || send_all(fd, data, first) != 0 || send_str(fd, "\r\n") != 0) return -1;
  sleep_ms(50); /* TCP_NODELAY: the first chunk leaves (and arrives) alone */
  snprintf(size, sizeof size, "%zx\r\n", len - first);
  if (send_str(fd, size) != 0 || send_all(fd, data + first, len - first) != 0) return -1;
  return send_str(fd, "\r\n0\r\n\r\n");
}

static int do_deflate(conn *c, const request *req, int truncated) {
  pthread_once(&text_once, make_text_gz);
  char kind[16];
  qstring(req->query, "kind", kind, sizeof kind, "zlib");
  const buf *b = strcmp(kind, "raw") == 0 ? &text_raw : &text_zlib;
  int plain = !truncated && strcmp(kind, "plain") == 0;
  const unsigned char *data = plain ? (const unsigned char *)text_plain : b->data;
  size_t len = plain ? text_len : truncated ? b->len / 2 : b->len;
  int close_after = truncated || req->close;
  long long first = truncated ? 0 : qparam(req->query, "first", 0);
  if (first > 0 && (size_t)first < len) {
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%sTransfer-Encoding: chunked\r\n%s\r\n",
             plain ? "" : "Content-Encoding: deflate\r\n", close_after ? "Connection: close\r\n" : "");
    if (send_str(c->fd, head) != 0) return CLOSE;
    if (!req->head && send_two_chunks(c->fd, data, len, (size_t)first) != 0) return CLOSE;
    return close_after ? CLOSE : KEEP;
  }
  char head[256];
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%sContent-Length: %zu\r\n%s\r\n",
           plain ? "" : "Content-Encoding: deflate\r\n", len, close_after ? "Connection: close\r\n" : "");
  if (send_str(c->fd, head) != 0) return CLOSE;
  if (!req->head && send_all(c->fd, data, len) != 0) return CLOSE;
  return close_after ? CLOSE : KEEP;
}

/* What the request was: method, target, headers, body (see /echo). */
static int do_echo(conn *c, const request *req) {
  const char *h = req->head_text;
  char target[4096];
  if (sscanf(h, "%*s %4095s", target) != 1) target[0] = '\0';
  size_t cap = strlen(h) * 2 + req->body_len + 256, len = 0;
  char *out = malloc(cap);
  if (out == NULL) return CLOSE;
  len += (size_t)snprintf(out + len, cap - len, "method %s\ntarget %s\n", req->method, target);
  for (const char *line = strstr(h, "\r\n"); line != NULL && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
    const char *eol = strstr(line + 2, "\r\n");
    int n = eol ? (int)(eol - (line + 2)) : (int)strlen(line + 2);
    len += (size_t)snprintf(out + len, cap - len, "header %.*s\n", n, line + 2);
  }
  len += (size_t)snprintf(out + len, cap - len, "body %zu\n", req->body_len);
  if (req->body_len) memcpy(out + len, req->body, req->body_len);
  len += req->body_len;
  char head[256];
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Method: %s\r\nContent-Length: %zu\r\n%s\r\n",
           req->method, len, req->close ? "Connection: close\r\n" : "");
  int ok = send_str(c->fd, head) == 0 && (req->head || send_all(c->fd, out, len) == 0);
  free(out);
  return !ok || req->close ? CLOSE : KEEP;
}

static int do_echo_redirect(conn *c, const request *req) {
  long long code = qparam(req->query, "code", 307);
  if (code < 300 || code > 399) code = 307;
  char to[1024], loc[1100];
  qstring(req->query, "to", to, sizeof to, "/echo");
  snprintf(loc, sizeof loc, "Location: %s\r\n", to);
  return respond(c, req, (int)code, "Redirect", loc, "");
}

/* Two gzip members back to back (RFC 1952 2.2): "hello, " then "members\n". */
static int do_gzip_members(conn *c, const request *req) {
  buf a = gzip_bytes((const unsigned char *)"hello, ", 7);
  buf b = gzip_bytes((const unsigned char *)"members\n", 8);
  char head[256];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n%s\r\n",
           a.len + b.len, req->close ? "Connection: close\r\n" : "");
  int r = send_str(c->fd, head) == 0 && send_all(c->fd, a.data, a.len) == 0 && send_all(c->fd, b.data, b.len) == 0;
  free(a.data);
  free(b.data);
  return !r ? CLOSE : req->close ? CLOSE : KEEP;
}

static int do_gzip_bomb(conn *c, const request *req) {
  long long mib = qparam(req->query, "mib", 100);
  if (mib < 1) mib = 1;
  if (mib > 4096) mib = 4096;
  buf gz = gzip_bomb(mib);
  char head[256];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\n"
           "Content-Length: %zu\r\n%s\r\n",
           gz.len, req->close ? "Connection: close\r\n" : "");
  if (send_str(c->fd, head) != 0) return CLOSE;
  if (!req->head && send_all(c->fd, gz.data, gz.len) != 0) return CLOSE;
  return req->close ? CLOSE : KEEP;
}

static int do_malformed_headers(conn *c, const request *req) {
  char kind[32];
  qstring(req->query, "kind", kind, sizeof kind, "nocolon");
  if (strcmp(kind, "nocolon") == 0) {
    send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nthis header line has no colon\r\n"
                    "Content-Length: 5\r\n\r\nhello");
  } else if (strcmp(kind, "space") == 0) {
    send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length : 5\r\n\r\nhello");
  } else if (strcmp(kind, "badlen") == 0) {
    send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: abc\r\n\r\nhello");
  } else if (strcmp(kind, "twolen") == 0) {
    send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"
                    "hello");
  } else if (strcmp(kind, "status") == 0) {
    send_str(c->fd, "HTTP/1.1 2xx Wat\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  } else if (strcmp(kind, "huge") == 0) {
    enum { HUGE = 200 * 1024 };
    char *line = malloc(HUGE + 16);
    if (line == NULL) return CLOSE;
    size_t n = (size_t)snprintf(line, 16, "X-Huge: ");
    memset(line + n, 'h', HUGE);
    n += HUGE;
    memcpy(line + n, "\r\n", 2);
    n += 2;
    if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n") == 0 && send_all(c->fd, line, n) == 0)
      send_str(c->fd, "Content-Length: 5\r\n\r\nhello");
    free(line);
  } else if (strcmp(kind, "lf") == 0) {
    send_str(c->fd, "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello");
  } else {
    return respond(c, req, 400, "Bad Request", NULL, "unknown kind\n");
  }
  return CLOSE;
}

/* An HTML response (the crawler's hostile-site tests). */
static int respond_html(conn *c, const request *req, const char *body, size_t blen) {
  char head[512];
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n%s\r\n", blen,
           req->close ? "Connection: close\r\n" : "");
  if (send_str(c->fd, head) != 0 || send_all(c->fd, body, blen) != 0) return CLOSE;
  return req->close ? CLOSE : KEEP;
}

/* A link trap: every page links to two pages never seen before. */
static int do_trap(conn *c, const request *req) {
  long long n = qparam(req->query, "n", 0);
  char body[512];
  int len = snprintf(body, sizeof body,
                     "<html><body><a href=\"/trap?n=%lld\">next</a> <a href=\"/trap?n=%lld&amp;x=%lld\">other</a>"
                     "</body></html>\n",
                     n + 1, n + 1, n);
  return respond_html(c, req, body, (size_t)len);
}

/* Pseudo-random bytes served as HTML. */
static int do_garbage(conn *c, const request *req) {
  enum { N = 65536 };
  char *b = malloc(N);
  if (b == NULL) return CLOSE;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < N; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b[i] = (char)(x >> 32);
  }
  int r = respond_html(c, req, b, N);
  free(b);
  return r;
}

/* A page linking to every hostile path, for a crawler to walk into. */
static int do_hostile_index(conn *c, const request *req) {
  static const char body[] =
      "<html><body>\n"
      "<a href=\"/ok\">ok</a>\n"
      "<a href=\"/redirect-loop\">redirect loop</a>\n"
      "<a href=\"/endless\">endless</a>\n"
      "<a href=\"/trickle?bytes=100000&amp;delay_ms=200\">trickle</a>\n"
      "<a href=\"/gzip-bomb?mib=500\">bomb</a>\n"
      "<a href=\"/truncated-gzip\">truncated gzip</a>\n"
      "<a href=\"/bad-gzip\">bad gzip</a>\n"
      "<a href=\"/cut-headers\">cut headers</a>\n"
      "<a href=\"/malformed-headers?kind=nocolon\">m1</a> <a href=\"/malformed-headers?kind=twolen\">m2</a>\n"
      "<a href=\"/malformed-headers?kind=huge\">m3</a> <a href=\"/malformed-headers?kind=status\">m4</a>\n"
      "<a href=\"/reset-mid-body\">reset</a>\n"
      "<a href=\"/never\">never</a>\n"
      "<a href=\"/empty-reply\">empty</a>\n"
      "<a href=\"/hang-after-headers\">hang</a>\n"
      "<a href=\"/garbage\">garbage</a>\n"
      "<a href=\"/gumbo-assert\">gumbo assert</a>\n"
      "<a href=\"/trap?n=0\">trap</a>\n"
      "<a href=\"/status?code=503\">unavailable</a>\n"
      "</body></html>\n";
  return respond_html(c, req, body, sizeof body - 1);
}

static int route(conn *c, const request *req) {
  const char *p = req->path;
  if (strcmp(p, "/hostile") == 0) return do_hostile_index(c, req);
  if (strcmp(p, "/trap") == 0) return do_trap(c, req);
  if (strcmp(p, "/garbage") == 0) return do_garbage(c, req);
  if (strcmp(p, "/gumbo-assert") == 0) {
    /* markup that fails an assertion in Debian's gumbo 0.10.1 (parser.c:714) */
    static const char trap[] = "<table><math><select><mi><select><td><a href=\"/ok?after-assert\">x</a>";
    return respond_html(c, req, trap, sizeof trap - 1);
  }
  if (strcmp(p, "/ok") == 0) return respond(c, req, 200, "OK", NULL, "ok\n");
  if (strcmp(p, "/reset-mid-body") == 0) return do_reset_mid_body(c);
  if (strcmp(p, "/never") == 0) return wait_for_close(c);
  if (strcmp(p, "/trickle") == 0) return do_trickle(c, req);
  if (strcmp(p, "/endless") == 0) return do_endless(c);
  if (strcmp(p, "/cut-headers") == 0) {
    char kind[32];
    qstring(req->query, "kind", kind, sizeof kind, "");
    if (strcmp(kind, "status") == 0)
      send_str(c->fd, "HTTP/1.1 20");
    else if (strcmp(kind, "len") == 0)
      send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n");
    else
      send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Le");
    return CLOSE;
  }
  if (strcmp(p, "/bad-gzip") == 0)
    return respond(c, req, 200, "OK", "Content-Encoding: gzip\r\n", "this is not a gzip stream, not at all\n");
  if (strcmp(p, "/truncated-gzip") == 0) return do_truncated_gzip(c);
  if (strcmp(p, "/gzip-bomb") == 0) return do_gzip_bomb(c, req);
  if (strcmp(p, "/gzip-members") == 0) return do_gzip_members(c, req);
  if (strcmp(p, "/deflate") == 0) return do_deflate(c, req, 0);
  if (strcmp(p, "/truncated-deflate") == 0) return do_deflate(c, req, 1);
  if (strcmp(p, "/echo") == 0) return do_echo(c, req);
  if (strcmp(p, "/echo-redirect") == 0) return do_echo_redirect(c, req);
  if (strcmp(p, "/close-after-headers") == 0) return CLOSE;
  if (strcmp(p, "/malformed-headers") == 0) return do_malformed_headers(c, req);
  if (strcmp(p, "/redirect-loop") == 0)
    return respond(c, req, 302, "Found", "Location: /redirect-loop\r\n", "");
  if (strcmp(p, "/status") == 0) {
    long long code = qparam(req->query, "code", 200);
    if (code < 100 || code > 999) code = 200;
    char body[32];
    snprintf(body, sizeof body, "status %lld\n", code);
    /* 1xx, 204 and 304 carry no body */
    if (code < 200 || code == 204 || code == 304) body[0] = '\0';
    return respond(c, req, (int)code, "Status", NULL, body);
  }
  if (strcmp(p, "/delay") == 0) {
    long long ms = qparam(req->query, "ms", 1000);
    sleep_ms(ms < 0 ? 0 : (long)ms);
    return respond(c, req, 200, "OK", NULL, "ok\n");
  }
  if (strcmp(p, "/empty-reply") == 0) return CLOSE;
  if (strcmp(p, "/hang-after-headers") == 0) {
    if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n") != 0)
      return CLOSE;
    return wait_for_close(c);
  }
  return respond(c, req, 404, "Not Found", NULL, "not found\n");
}

static void *conn_main(void *arg) {
  conn *c = arg;
  request req;
  int state = KEEP;
  memset(&req, 0, sizeof req);
  while (state == KEEP) {
    int r = read_request(c, &req);
    if (r == 0) state = route(c, &req);
    request_free(&req);
    if (r != 0) break;
  }
  if (state != CLOSED) close(c->fd);
  free(c);
  atomic_fetch_sub(&nconns, 1);
  return NULL;
}

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void usage(FILE *f) {
  fputs("usage: fault-server [--port P] [--dns-rcode R | --dns-script NAME=STEPS]   "
        "(P = 0: any free port; prints port=N)\n",
        f);
}

#define DNS_TYPE_A 1
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_REFUSED 5

/* The first question of query q (n bytes): its name, dotted, into name
 * (NULL: not wanted), its type into *qtype.  Returns the offset just past
 * it (QNAME labels, QTYPE, QCLASS), or 0 if q is cut short. */
static size_t dns_question(const unsigned char *q, size_t n, char name[256], int *qtype) {
  size_t off = 12, len = 0;
  while (off < n && q[off] != 0 && q[off] < 64) {
    size_t lab = q[off];
    if (off + 1 + lab > n) return 0;
    if (name && len + lab + 1 < 256) {
      if (len) name[len++] = '.';
      memcpy(name + len, q + off + 1, lab);
      len += lab;
    }
    off += 1 + lab;
  }
  if (name) name[len] = '\0';
  off += 1 + 4;
  if (off > n) return 0;
  *qtype = q[off - 4] << 8 | q[off - 3];
  return off;
}

/* Answers query q: its header and first question (qend bytes), QR set,
 * rcode, and with a_ttl0 set one answer, A 127.0.0.1 with TTL 0. */
static void dns_reply(int fd, const unsigned char *q, size_t qend, int rcode, int a_ttl0,
                      const struct sockaddr_storage *to, socklen_t tolen) {
  static const unsigned char a_rr[] = {
      0xc0, 12,          /* NAME: the question's */
      0, 1, 0, 1,        /* TYPE A, CLASS IN */
      0, 0, 0, 0,        /* TTL 0 */
      0, 4, 127, 0, 0, 1 /* RDATA 127.0.0.1 */
  };
  unsigned char r[1500 + sizeof a_rr];
  memcpy(r, q, qend);
  r[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, the query's opcode and RD */
  r[3] = (unsigned char)(0x80 | rcode);         /* RA, RCODE */
  memset(r + 6, 0, 6);                          /* no answer, authority, additional */
  size_t len = qend;
  if (a_ttl0) {
    r[7] = 1;
    memcpy(r + len, a_rr, sizeof a_rr);
    len += sizeof a_rr;
  }
  sendto(fd, r, len, 0, (const struct sockaddr *)to, tolen);
}

/* --dns-rcode: answers each query on fd with rcode; until SIGTERM. */
static _Noreturn void dns_main(int fd, int rcode) {
  unsigned char q[1500];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
    int qtype;
    size_t qend = n < 12 ? 0 : dns_question(q, (size_t)n, NULL, &qtype);
    if (!qend) continue;
    fputs("query\n", stderr); /* before the answer: a client that has it sees the line */
    fflush(stderr);
    dns_reply(fd, q, qend, rcode, 0, &from, flen);
  }
}

/* --dns-script NAME=STEPS, parsed. */
enum { STEP_OK, STEP_REFUSED };
#define SCRIPT_MAX 32

typedef struct dns_script {
  char name[256];
  int steps[SCRIPT_MAX];
  int nsteps;
} dns_script;

/* Parses "NAME=ok,refused,..." into sc; 0, or -1 if malformed. */
static int parse_script(const char *spec, dns_script *sc) {
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof sc->name) return -1;
  memcpy(sc->name, spec, (size_t)(eq - spec));
  sc->name[eq - spec] = '\0';
  sc->nsteps = 0;
  for (const char *p = eq + 1;; p++) {
    size_t k = strcspn(p, ",");
    if (sc->nsteps == SCRIPT_MAX) return -1;
    if (k == 2 && strncmp(p, "ok", 2) == 0)
      sc->steps[sc->nsteps++] = STEP_OK;
    else if (k == 7 && strncmp(p, "refused", 7) == 0)
      sc->steps[sc->nsteps++] = STEP_REFUSED;
    else
      return -1;
    p += k;
    if (*p == '\0') return 0;
  }
}

/* Where lookups of one query type are in the script: lookups seen, and
 * the ID of the last query. */
typedef struct script_pos {
  int lookups;
  int last_id;
} script_pos;

/* The step of a query with ID id: a new ID is the next lookup; a resend
 * (the same ID again) stays in its lookup's step. */
static int script_step(const dns_script *sc, script_pos *p, int id) {
  if (!p->lookups || p->last_id != id) {
    p->last_id = id;
    p->lookups++;
  }
  return sc->steps[p->lookups <= sc->nsteps ? p->lookups - 1 : sc->nsteps - 1];
}

/* --dns-script: answers each query on fd as the script says; until SIGTERM. */
static _Noreturn void dns_script_main(int fd, const dns_script *sc) {
  unsigned char q[1500];
  script_pos pos[2] = {{0}}; /* A; every other type (AAAA) */
  for (;;) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
    char name[256];
    int qtype;
    size_t qend = n < 12 ? 0 : dns_question(q, (size_t)n, name, &qtype);
    if (!qend) continue;
    int ours = strcasecmp(name, sc->name) == 0;
    int step = ours ? script_step(sc, &pos[qtype != DNS_TYPE_A], q[0] << 8 | q[1]) : -1;
    fprintf(stderr, "query %s %d %s id=%d\n", name, qtype, !ours ? "nxdomain" : step == STEP_OK ? "ok" : "refused",
            q[0] << 8 | q[1]);
    fflush(stderr); /* before the answer, as dns_main */
    int rcode = !ours ? DNS_RCODE_NXDOMAIN : step == STEP_REFUSED ? DNS_RCODE_REFUSED : 0;
    dns_reply(fd, q, qend, rcode, step == STEP_OK && qtype == DNS_TYPE_A, &from, flen);
  }
}

/* A UDP socket bound to 127.0.0.1:port; prints "port=N".  -1 on failure. */
static int dns_socket(long port) {
  int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &ua.sin_addr);
  socklen_t ulen = sizeof ua;
  if (ufd < 0 || bind(ufd, (struct sockaddr *)&ua, sizeof ua) != 0 ||
      getsockname(ufd, (struct sockaddr *)&ua, &ulen) != 0) {
    fprintf(stderr, "fault-server: UDP on 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return -1;
  }
  printf("port=%d\n", ntohs(ua.sin_port));
  fflush(stdout);
  return ufd;
}

/* s as a decimal number in [lo, hi] into *out; 0, or -1 if it is not one. */
static int number_in(const char *s, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  long port = 0, rcode = -1;
  static dns_script script;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      if (number_in(argv[++i], 0, 65535, &port) != 0) {
        usage(stderr);
        return 2;
      }
    } else if (strcmp(argv[i], "--dns-rcode") == 0 && i + 1 < argc) {
      if (number_in(argv[++i], 0, 15, &rcode) != 0) {
        usage(stderr);
        return 2;
      }
    } else if (strcmp(argv[i], "--dns-script") == 0 && i + 1 < argc) {
      if (parse_script(argv[++i], &script) != 0) {
        usage(stderr);
        return 2;
      }
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (rcode >= 0 && script.nsteps) {
    usage(stderr); /* one DNS mode at a time */
    return 2;
  }
  if (rcode >= 0 || script.nsteps) {
    int ufd = dns_socket(port);
    if (ufd < 0) return 1;
    if (script.nsteps) dns_script_main(ufd, &script);
    dns_main(ufd, (int)rcode);
  }

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) {
    perror("fault-server: socket");
    return 1;
  }
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t alen = sizeof addr;
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1024) != 0 ||
      getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
    fprintf(stderr, "fault-server: listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return 1;
  }
  printf("port=%d\n", ntohs(addr.sin_port));
  fflush(stdout);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) sleep_ms(10);
      continue;
    }
    if (atomic_fetch_add(&nconns, 1) >= MAX_CONNS) {
      atomic_fetch_sub(&nconns, 1);
      close(fd);
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = malloc(sizeof *c);
    pthread_t t;
    if (c == NULL) {
      close(fd);
      atomic_fetch_sub(&nconns, 1);
      continue;
    }
    c->fd = fd;
    c->len = 0;
    if (pthread_create(&t, &attr, conn_main, c) != 0) {
      close(fd);
      free(c);
      atomic_fetch_sub(&nconns, 1);
    }
  }
}
