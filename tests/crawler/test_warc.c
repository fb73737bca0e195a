/* test_warc.c - crawl_warc: files read back by a reader written here and
 * by warcio (npm, through tests/crawler/warc_read.mjs), resuming after a
 * killed run, refusing what is not ours, failed writes. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "warc.h"
#include "crawler/crawl_harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define SOFTWARE "spindle-crawl/test"

/* ------------------------------------------------------------ samples */

/* One fetch to write, with what the file must then hold for it. */
struct fetch {
  const char *url, *ip;
  const char *request;   /* as passed */
  const char *want_req;  /* the request record's block */
  const char *headers;   /* as passed (NUL-free) */
  const char *want_head; /* the response block's header part */
  const unsigned char *body;
  size_t body_len;
  int mode;
  const char *status;    /* what warcio reports */
  size_t content_len;    /* the body once warcio undid the codings the headers declare */
};

#define NSAMPLES 7
#define MIB (1024 * 1024)

static const char text[] = "spindle writes WARC records, one gzip member each\n";
static unsigned char *texts;   /* text, 40 times */
static size_t texts_len;
static unsigned char binary[512], *big;
static unsigned char *gz, *chunked;
static size_t gz_len, chunked_len;

/* gzip (one member) of n bytes at p; malloc'd. */
static unsigned char *gzip_of(const void *p, size_t n, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = deflateBound(&z, n);
  unsigned char *out = malloc(cap);
  cr_assert_not_null(out);
  z.next_in = (unsigned char *)p;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  *out_len = cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

/* p in HTTP/1.1 chunked transfer coding, in 100-byte chunks. */
static unsigned char *chunked_of(const unsigned char *p, size_t n, size_t *out_len) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  cr_assert_not_null(f);
  for (size_t i = 0; i < n; i += 100) {
    size_t k = n - i < 100 ? n - i : 100;
    fprintf(f, "%zx\r\n", k);
    fwrite(p + i, 1, k, f);
    fputs("\r\n", f);
  }
  fputs("0\r\n\r\n", f);
  fclose(f);
  *out_len = len;
  return (unsigned char *)out;
}

static void make_bodies(void) {
  if (big) return;
  texts_len = 40 * strlen(text);
  texts = malloc(texts_len);
  cr_assert_not_null(texts);
  for (size_t i = 0; i < texts_len; i++) texts[i] = (unsigned char)text[i % strlen(text)];
  for (size_t i = 0; i < sizeof binary; i++) binary[i] = (unsigned char)i;
  big = malloc(MIB);
  cr_assert_not_null(big);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < MIB; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    big[i] = (unsigned char)(x >> 24);
  }
  gz = gzip_of(texts, texts_len, &gz_len);
  chunked = chunked_of(gz, gz_len, &chunked_len);
}

#define REQ(path) "GET " path " HTTP/1.1\r\nHost: example.test\r\nUser-Agent: " SOFTWARE "\r\nAccept: */*\r\n"

/* The sample fetches: plain, decoded, binary with NULs, 1 MiB, empty,
 * chunked gzip as on the wire, dechunked gzip after a 100 Continue. */
static void samples(struct fetch s[NSAMPLES]) {
  make_bodies();
  static char want_head[4][256];
  snprintf(want_head[0], sizeof want_head[0],
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Accept-Encoding\r\n"
           "Content-Length: %zu\r\n\r\n", texts_len);
  snprintf(want_head[1], sizeof want_head[1],
           "HTTP/2 200 \r\ncontent-type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", MIB);
  snprintf(want_head[2], sizeof want_head[2],
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
           "Content-Length: %zu\r\n\r\n", gz_len);
  s[0] = (struct fetch){
      .url = "http://example.test/", .ip = "192.0.2.1",
      .request = REQ("/") "\r\n", .want_req = REQ("/") "\r\n",
      .headers = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n",
      .want_head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n",
      .body = (const unsigned char *)"<p>hello, warc</p>\n", .body_len = 19,
      .mode = CRAWL_WARC_RAW, .status = "200", .content_len = 19};
  s[1] = (struct fetch){
      .url = "https://example.test/decoded?q=1&r=%C3%A9", .ip = "2001:db8::1",
      .request = REQ("/decoded?q=1&r=%C3%A9") "\r\n", .want_req = REQ("/decoded?q=1&r=%C3%A9") "\r\n",
      .headers = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                 "Transfer-Encoding: chunked\r\nVary: Accept-Encoding\r\n\r\n",
      .want_head = want_head[0], .body = texts, .body_len = texts_len,
      .mode = CRAWL_WARC_DECODED, .status = "200", .content_len = texts_len};
  s[2] = (struct fetch){
      .url = "http://example.test/bin", .ip = "192.0.2.2",
      .request = REQ("/bin") "\r\n", .want_req = REQ("/bin") "\r\n",
      .headers = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 512\r\n\r\n",
      .want_head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 512\r\n\r\n",
      .body = binary, .body_len = sizeof binary,
      .mode = CRAWL_WARC_RAW, .status = "200", .content_len = sizeof binary};
  s[3] = (struct fetch){
      .url = "https://example.test/big", .ip = NULL,
      .request = REQ("/big") "\r\n", .want_req = REQ("/big") "\r\n",
      .headers = "HTTP/2 200 \r\ncontent-type: application/octet-stream\r\ncontent-length: 99\r\n"
                 "content-encoding: br\r\n\r\n",
      .want_head = want_head[1], .body = big, .body_len = MIB,
      .mode = CRAWL_WARC_DECODED, .status = "200", .content_len = MIB};
  s[4] = (struct fetch){
      .url = "http://example.test/empty", .ip = "",
      .request = REQ("/empty"), .want_req = REQ("/empty") "\r\n",
      .headers = "HTTP/1.1 204 No Content\r\nServer: test\r\n",
      .want_head = "HTTP/1.1 204 No Content\r\nServer: test\r\n\r\n",
      .body = NULL, .body_len = 0, .mode = CRAWL_WARC_RAW, .status = "204", .content_len = 0};
  s[5] = (struct fetch){
      .url = "http://example.test/wire", .ip = "192.0.2.3",
      .request = REQ("/wire") "\r\n", .want_req = REQ("/wire") "\r\n",
      .headers = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
      .want_head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
      .body = chunked, .body_len = chunked_len,
      .mode = CRAWL_WARC_RAW, .status = "200", .content_len = texts_len};
  s[6] = (struct fetch){
      .url = "http://example.test/dechunked", .ip = "192.0.2.4",
      .request = REQ("/dechunked") "\r\n", .want_req = REQ("/dechunked") "\r\n",
      .headers = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
      .want_head = want_head[2], .body = gz, .body_len = gz_len,
      .mode = CRAWL_WARC_DECHUNKED, .status = "200", .content_len = texts_len};
}

static void write_fetch(crawl_warc *w, const struct fetch *f) {
  int rc = crawl_warc_write_fetch(w, f->url, f->ip, f->request, strlen(f->request), f->headers,
                                  strlen(f->headers), (const char *)f->body, f->body_len, f->mode);
  cr_assert_eq(rc, 0, "write_fetch(%s) = %d (%s)", f->url, rc, strerror(-rc));
}

/* ----------------------------------------------------------- files */

static char tmpdir[256];

static void make_tmpdir(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/spindle-warc-XXXXXX", t && *t ? t : "/tmp");
  cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp(%s): %s", tmpdir, strerror(errno));
}

/* Removes the test's directory (left behind when a test fails, to look at). */
static void remove_tmpdir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}

static char *path_in_tmp(const char *name) {
  static char p[8][320];
  static int next;
  char *out = p[next++ % 8];
  snprintf(out, sizeof p[0], "%s/%s", tmpdir, name);
  return out;
}

static unsigned char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
  struct stat st;
  cr_assert_eq(fstat(fd, &st), 0);
  unsigned char *p = malloc((size_t)st.st_size + 1);
  cr_assert_not_null(p);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t k = read(fd, p + got, (size_t)st.st_size - got);
    cr_assert(k > 0, "read %s: %s", path, strerror(errno));
    got += (size_t)k;
  }
  close(fd);
  *len = got;
  return p;
}

static void append_bytes(const char *path, const void *p, size_t n) {
  int fd = open(path, O_WRONLY | O_APPEND);
  cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
  cr_assert_eq(write(fd, p, n), (ssize_t)n);
  close(fd);
}

static off_t file_size(const char *path) {
  struct stat st;
  cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
  return st.st_size;
}

/* Writes a new file: warcinfo, then fetches [from, to) of the samples. */
static void write_file(const char *path, const struct fetch *s, int from, int to) {
  crawl_warc *w = crawl_warc_open(path, SOFTWARE, -1, -1);
  cr_assert_not_null(w, "crawl_warc_open(%s): %s", path, strerror(errno));
  cr_assert_eq(crawl_warc_dropped(w), 0);
  for (int i = from; i < to; i++) write_fetch(w, &s[i]);
  cr_assert_eq(crawl_warc_close(w), 0);
}

/* --------------------------------------------------- the C reader */

struct rec {
  size_t off, end;      /* the gzip member in the file */
  char *head;           /* WARC header block, NUL-terminated */
  unsigned char *block;
  size_t block_len;
};

struct warc {
  struct rec *r;
  size_t n;
};

/* Inflates the member at buf[off]; returns the offset after it. */
static size_t inflate_member(const unsigned char *buf, size_t size, size_t off,
                             unsigned char **out, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  cr_assert_eq(inflateInit2(&z, 31), Z_OK);
  z.next_in = (unsigned char *)buf + off;
  z.avail_in = (uInt)(size - off);
  size_t cap = 1 << 16, len = 0;
  unsigned char *p = malloc(cap);
  int zrc;
  do {
    if (len == cap) p = realloc(p, cap *= 2);
    cr_assert_not_null(p);
    z.next_out = p + len;
    z.avail_out = (uInt)(cap - len);
    zrc = inflate(&z, Z_NO_FLUSH);
    len = cap - z.avail_out;
    cr_assert(zrc == Z_OK || zrc == Z_STREAM_END || (zrc == Z_BUF_ERROR && z.avail_out == 0),
              "gzip member at offset %zu: zlib error %d (%s)", off, zrc, z.msg ? z.msg : "");
  } while (zrc != Z_STREAM_END);
  size_t next = size - z.avail_in;
  inflateEnd(&z);
  *out = p;
  *out_len = len;
  return next;
}

/* The value of header field name in a WARC or HTTP header block, copied into
 * buf; NULL when absent.  Fails the test if the field is there twice. */
static const char *field(const char *head, const char *name, char *buf, size_t cap) {
  const char *found = NULL;
  size_t nlen = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
      cr_assert_null(found, "field %s twice in:\n%s", name, head);
      found = line + nlen + 1;
    }
  }
  if (!found) return NULL;
  while (*found == ' ') found++;
  size_t vlen = strcspn(found, "\r");
  cr_assert(vlen < cap);
  memcpy(buf, found, vlen);
  buf[vlen] = '\0';
  return buf;
}

/* field() for a field the record must have. */
static const char *need(const char *head, const char *name, char *buf, size_t cap) {
  const char *v = field(head, name, buf, cap);
  cr_assert_not_null(v, "no %s in:\n%s", name, head);
  return v;
}

/* Splits one member's content into a record: exactly one WARC/1.1 record,
 * its block as long as Content-Length says, then CRLF CRLF and nothing. */
static void parse_record(unsigned char *p, size_t n, struct rec *r) {
  cr_assert(n > 9 && memcmp(p, "WARC/1.1\r\n", 10) == 0, "member at %zu is no WARC/1.1 record", r->off);
  unsigned char *end = memmem(p, n, "\r\n\r\n", 4);
  cr_assert_not_null(end, "record at %zu: no end of header", r->off);
  size_t hlen = (size_t)(end - p) + 4;
  r->head = malloc(hlen + 1);
  cr_assert_not_null(r->head);
  memcpy(r->head, p, hlen);
  r->head[hlen] = '\0';
  char v[64];
  cr_assert_not_null(field(r->head, "Content-Length", v, sizeof v), "record at %zu", r->off);
  r->block_len = strtoull(v, NULL, 10);
  cr_assert_eq(n, hlen + r->block_len + 4, "record at %zu: Content-Length %zu, member holds %zu",
               r->off, r->block_len, n - hlen - 4);
  cr_assert(memcmp(p + hlen + r->block_len, "\r\n\r\n", 4) == 0, "record at %zu: no CRLF CRLF after the block", r->off);
  r->block = malloc(r->block_len + 1);
  cr_assert_not_null(r->block);
  memcpy(r->block, p + hlen, r->block_len);
}

static struct warc read_warc(const char *path) {
  size_t size;
  unsigned char *buf = slurp(path, &size);
  struct warc f = {0};
  for (size_t off = 0; off < size;) {
    f.r = realloc(f.r, (f.n + 1) * sizeof *f.r);
    cr_assert_not_null(f.r);
    struct rec *r = &f.r[f.n++];
    unsigned char *p;
    size_t n;
    r->off = off;
    r->end = off = inflate_member(buf, size, off, &p, &n);
    parse_record(p, n, r);
    free(p);
  }
  free(buf);
  return f;
}

static void free_warc(struct warc *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->r[i].head);
    free(f->r[i].block);
  }
  free(f->r);
}

/* ------------------------------------------------- record checks */

static void sha1_b32(const void *p, size_t n, char out[40]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  cr_assert_eq(EVP_Digest(p, n, md, &mdlen, EVP_sha1(), NULL), 1);
  cr_assert_eq(mdlen, 20);
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  strcpy(out, "sha1:");
  char *o = out + 5;
  for (int i = 0; i < 160; i += 5) {
    int byte = i / 8, bit = i % 8;
    unsigned v = ((unsigned)md[byte] << 8 | (byte + 1 < 20 ? md[byte + 1] : 0)) >> (11 - bit);
    *o++ = a[v & 31];
  }
  *o = '\0';
}

static bool is_record_id(const char *s) {
  if (strlen(s) != 47 || strncmp(s, "<urn:uuid:", 10) != 0 || s[46] != '>') return false;
  const char *u = s + 10;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !(isdigit((unsigned char)u[i]) || (u[i] >= 'a' && u[i] <= 'f'))) return false;
  }
  return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

/* Checks what every record must have; returns its WARC-Type. */
static const char *check_common(const struct rec *r, time_t t0, char type[32]) {
  char v[128], digest[40];
  cr_assert_not_null(field(r->head, "WARC-Type", type, 32), "no WARC-Type:\n%s", r->head);
  cr_assert_not_null(field(r->head, "WARC-Record-ID", v, sizeof v));
  cr_assert(is_record_id(v), "WARC-Record-ID %s", v);
  cr_assert_not_null(field(r->head, "WARC-Date", v, sizeof v));
  struct tm tm = {0};
  const char *e = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cr_assert(e && *e == '\0' && strlen(v) == 20, "WARC-Date %s", v);
  time_t t = timegm(&tm);
  cr_assert(t >= t0 - 2 && t <= time(NULL) + 2, "WARC-Date %s is not now", v);
  sha1_b32(r->block, r->block_len, digest);
  cr_assert_not_null(field(r->head, "WARC-Block-Digest", v, sizeof v));
  cr_assert_str_eq(v, digest, "WARC-Block-Digest of the %s record at %zu", type, r->off);
  return type;
}

static void check_warcinfo(const struct rec *r, const char *path, time_t t0) {
  char type[32], v[128];
  cr_assert_str_eq(check_common(r, t0, type), "warcinfo");
  cr_assert_str_eq(need(r->head, "Content-Type", v, sizeof v), "application/warc-fields");
  char *copy = strdup(path);
  cr_assert_str_eq(need(r->head, "WARC-Filename", v, sizeof v), basename(copy));
  free(copy);
  cr_assert_null(field(r->head, "WARC-Payload-Digest", v, sizeof v));
  const char *want = "software: " SOFTWARE "\r\nformat: WARC File Format 1.1\r\n"
                     "conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n";
  cr_assert_eq(r->block_len, strlen(want));
  cr_assert(memcmp(r->block, want, r->block_len) == 0, "warcinfo block:\n%s", (char *)r->block);
}

/* Checks a fetch's request and response records against what was written. */
static void check_fetch(const struct rec *req, const struct rec *resp, const struct fetch *f,
                        const char *info_id, time_t t0) {
  char type[32], v[128], a[128], b[128], digest[40];
  cr_assert_str_eq(check_common(req, t0, type), "request");
  cr_assert_str_eq(check_common(resp, t0, type), "response");
  const struct rec *both[2] = {req, resp};
  for (int i = 0; i < 2; i++) {
    const char *h = both[i]->head;
    cr_assert_str_eq(need(h, "WARC-Target-URI", v, sizeof v), f->url);
    cr_assert_str_eq(need(h, "WARC-Warcinfo-ID", v, sizeof v), info_id);
    if (f->ip && *f->ip)
      cr_assert_str_eq(need(h, "WARC-IP-Address", v, sizeof v), f->ip);
    else
      cr_assert_null(field(h, "WARC-IP-Address", v, sizeof v));
  }
  cr_assert_str_eq(need(req->head, "Content-Type", v, sizeof v), "application/http;msgtype=request");
  cr_assert_str_eq(need(resp->head, "Content-Type", v, sizeof v), "application/http;msgtype=response");
  /* Each names the other. */
  cr_assert_str_eq(need(req->head, "WARC-Concurrent-To", a, sizeof a), need(resp->head, "WARC-Record-ID", b, sizeof b));
  cr_assert_str_eq(need(resp->head, "WARC-Concurrent-To", a, sizeof a), need(req->head, "WARC-Record-ID", b, sizeof b));

  cr_assert_eq(req->block_len, strlen(f->want_req), "%s: request block", f->url);
  cr_assert(memcmp(req->block, f->want_req, req->block_len) == 0, "%s: request block:\n%s", f->url, (char *)req->block);
  cr_assert_null(field(req->head, "WARC-Payload-Digest", v, sizeof v));

  size_t hlen = strlen(f->want_head);
  cr_assert_eq(resp->block_len, hlen + f->body_len, "%s: response block length", f->url);
  cr_assert(memcmp(resp->block, f->want_head, hlen) == 0, "%s: response headers:\n%.*s", f->url, (int)hlen,
            (char *)resp->block);
  cr_assert(f->body_len == 0 || memcmp(resp->block + hlen, f->body, f->body_len) == 0, "%s: body differs", f->url);
  sha1_b32(f->body ? (const void *)f->body : "", f->body_len, digest);
  cr_assert_str_eq(need(resp->head, "WARC-Payload-Digest", v, sizeof v), digest, "%s", f->url);
}

/* Reads path back: one warcinfo, then fetches s[order[0]], s[order[1]]... */
static struct warc check_file(const char *path, const struct fetch *s, const int *order, int n, time_t t0) {
  struct warc f = read_warc(path);
  cr_assert_eq(f.n, (size_t)(1 + 2 * n), "%s: %zu records, want %d", path, f.n, 1 + 2 * n);
  check_warcinfo(&f.r[0], path, t0);
  char info_id[64];
  need(f.r[0].head, "WARC-Record-ID", info_id, sizeof info_id);
  for (int i = 0; i < n; i++) check_fetch(&f.r[1 + 2 * i], &f.r[2 + 2 * i], &s[order[i]], info_id, t0);
  /* Record IDs are unique across the file. */
  for (size_t i = 0; i < f.n; i++)
    for (size_t j = i + 1; j < f.n; j++) {
      char a[64], b[64];
      cr_assert(strcmp(need(f.r[i].head, "WARC-Record-ID", a, sizeof a),
                       need(f.r[j].head, "WARC-Record-ID", b, sizeof b)) != 0, "duplicate ID %s", a);
    }
  return f;
}

/* ---------------------------------------------------------- warcio */

/* The reader script, next to this file. */
static const char *reader_script(void) {
  static char p[600];
  char *copy = strdup(__FILE__);
  snprintf(p, sizeof p, "%s/warc_read.mjs", dirname(copy));
  free(copy);
  cr_assert_eq(access(p, R_OK), 0, "%s: %s (a relative __FILE__ is relative to the source root: run from there)",
               p, strerror(errno));
  return p;
}

/* Runs warc_read.mjs on path; its stdout, malloc'd.  Its stderr (warnings
 * from node, a stack trace) goes to the test's stderr, out of the way of
 * the comparison. */
static char *run_warcio(const char *path) {
  char err[4096];
  cr_assert_eq(warcio_ensure(err, sizeof err), 0, "%s", err);
  char cmd[2000], *out = NULL;
  snprintf(cmd, sizeof cmd, "SPINDLE_NPM_DIR='%s' node '%s' '%s'", warcio_npm_dir(), reader_script(), path);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p, "popen: %s", strerror(errno));
  size_t len = 0;
  FILE *m = open_memstream(&out, &len);
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p)) > 0) fwrite(buf, 1, k, m);
  fclose(m);
  int st = pclose(p);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (status %d; its stderr is above), stdout:\n%s", cmd, st, out);
  return out;
}

/* What warc_read.mjs must print for a file that check_file accepted. */
static char *warcio_expected(const struct warc *f, const struct fetch *s, const int *order) {
  char *out = NULL, id[64], other[64];
  size_t len = 0;
  FILE *m = open_memstream(&out, &len);
  need(f->r[0].head, "WARC-Record-ID", id, sizeof id);
  fprintf(m, "warcinfo\t-\t-\t%zu\t%zu\tok\tnone\t%s\t-\n", f->r[0].block_len, f->r[0].block_len, id);
  for (size_t i = 1; i + 1 < f->n; i += 2) {
    const struct fetch *x = &s[order[(i - 1) / 2]];
    need(f->r[i].head, "WARC-Record-ID", id, sizeof id);
    need(f->r[i + 1].head, "WARC-Record-ID", other, sizeof other);
    fprintf(m, "request\t%s\tGET\t0\t0\tok\tnone\t%s\t%s\n", x->url, id, other);
    fprintf(m, "response\t%s\t%s\t%zu\t%zu\tok\tok\t%s\t%s\n", x->url, x->status, x->body_len,
            x->content_len, other, id);
  }
  fprintf(m, "records %zu\n", f->n);
  fclose(m);
  return out;
}

/* Compares warcio's view of path with what was written, line by line. */
static void check_with_warcio(const char *path, const struct warc *f, const struct fetch *s, const int *order) {
  char *got = run_warcio(path), *want = warcio_expected(f, s, order);
  if (strcmp(got, want) != 0) {
    const char *g = got, *w = want;
    int line = 1;
    while (*g && *g == *w) line += *g++ == '\n', w++;
    cr_assert(0, "warcio read %s differently, from line %d on.\nwarcio:\n%s\nexpected:\n%s", path, line, got, want);
  }
  free(got);
  free(want);
}

/* ------------------------------------------------------------- tests */

static const int all[NSAMPLES] = {0, 1, 2, 3, 4, 5, 6};

Test(warc, read_back_in_c, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, NSAMPLES);
  struct warc f = check_file(path, s, all, NSAMPLES, t0);
  free_warc(&f);
  remove_tmpdir();
}

Test(warc, read_back_with_warcio, .timeout = 300) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, NSAMPLES);
  struct warc f = check_file(path, s, all, NSAMPLES, t0);
  check_with_warcio(path, &f, s, all);
  free_warc(&f);
  remove_tmpdir();
}

/* Reopens path (expecting `dropped` bytes cut off), appends sample 3, and
 * checks with both readers that the file holds fetches 0, 1, 2, 3. */
static void resume_and_check(const char *path, const struct fetch *s, long long dropped, time_t t0) {
  off_t before = file_size(path);
  crawl_warc *w = crawl_warc_open(path, SOFTWARE, -1, -1);
  cr_assert_not_null(w, "reopen: %s", strerror(errno));
  cr_assert_eq(crawl_warc_dropped(w), dropped, "dropped %lld of %lld bytes, want %lld",
               crawl_warc_dropped(w), (long long)before, dropped);
  write_fetch(w, &s[3]);
  cr_assert_eq(crawl_warc_close(w), 0);
  static const int order[] = {0, 1, 2, 3};
  struct warc f = check_file(path, s, order, 4, t0);
  check_with_warcio(path, &f, s, order);
  free_warc(&f);
}

Test(warc, resume_after_partial_member, .timeout = 300) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, 3);
  /* A killed run: the first half of a gzip member holding a record. */
  char rec[600];
  int n = snprintf(rec, sizeof rec, "WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 100\r\n\r\n%0100d\r\n\r\n", 7);
  size_t gzn;
  unsigned char *member = gzip_of(rec, (size_t)n, &gzn);
  append_bytes(path, member, gzn / 2);
  free(member);
  resume_and_check(path, s, (long long)(gzn / 2), t0);
  remove_tmpdir();
}

Test(warc, resume_after_garbage, .timeout = 300) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, 3);
  unsigned char junk[1000];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 7 + 3);
  append_bytes(path, junk, sizeof junk);
  resume_and_check(path, s, sizeof junk, t0);
  remove_tmpdir();
}

/* Killed between a fetch's request and the end of its response: the request
 * is complete, the response not.  The request goes too. */
Test(warc, resume_drops_orphaned_request, .timeout = 300) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, 4);
  struct warc f = read_warc(path);
  cr_assert_eq(f.n, 9);
  size_t req_off = f.r[7].off, cut = f.r[8].off + (f.r[8].end - f.r[8].off) / 2;
  free_warc(&f);
  cr_assert_eq(truncate(path, (off_t)cut), 0);
  resume_and_check(path, s, (long long)(cut - req_off), t0);
  remove_tmpdir();
}

/* Killed inside the first record: nothing to keep, a new warcinfo. */
Test(warc, resume_inside_warcinfo, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, 0);
  off_t size = file_size(path);
  cr_assert_eq(truncate(path, size - 9), 0); /* into the gzip trailer */
  crawl_warc *w = crawl_warc_open(path, SOFTWARE, -1, -1);
  cr_assert_not_null(w, "reopen: %s", strerror(errno));
  cr_assert_eq(crawl_warc_dropped(w), size - 9);
  write_fetch(w, &s[0]);
  cr_assert_eq(crawl_warc_close(w), 0);
  struct warc f = check_file(path, s, all, 1, t0);
  free_warc(&f);
  remove_tmpdir();
}

/* A resumed file keeps its warcinfo; an intact one loses nothing. */
Test(warc, resume_intact_file, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, 2);
  crawl_warc *w = crawl_warc_open(path, "another/1.0", -1, -1);
  cr_assert_not_null(w, "reopen: %s", strerror(errno));
  cr_assert_eq(crawl_warc_dropped(w), 0);
  write_fetch(w, &s[2]);
  cr_assert_eq(crawl_warc_close(w), 0);
  struct warc f = check_file(path, s, all, 3, t0);
  free_warc(&f);
  remove_tmpdir();
}

/* Damage before the end is no crash (a crash damages the last record
 * only): refused, as cutting there would lose the records after it. */
Test(warc, refuses_damage_in_the_middle, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  const char *path = path_in_tmp("crawl.warc.gz");
  write_file(path, s, 0, 3);
  struct warc f = read_warc(path);
  size_t mid = (f.r[2].off + f.r[2].end) / 2;
  free_warc(&f);
  size_t len;
  unsigned char *before = slurp(path, &len);
  int fd = open(path, O_WRONLY);
  cr_assert(fd >= 0);
  unsigned char flipped = before[mid] ^ 0x55;
  cr_assert_eq(pwrite(fd, &flipped, 1, (off_t)mid), 1);
  close(fd);
  before[mid] = flipped;
  errno = 0;
  cr_assert_null(crawl_warc_open(path, SOFTWARE, -1, -1), "a file damaged in the middle was accepted");
  cr_assert_eq(errno, EBADMSG, "errno %d (%s)", errno, strerror(errno));
  size_t now_len;
  unsigned char *now = slurp(path, &now_len);
  cr_assert(now_len == len && memcmp(now, before, len) == 0, "the damaged file was modified");
  free(before);
  free(now);
  remove_tmpdir();
}

/* Not a gzip WARC: refused, and left exactly as it was. */
static void check_refused(const char *path, const void *content, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, content, n), (ssize_t)n);
  close(fd);
  errno = 0;
  cr_assert_null(crawl_warc_open(path, SOFTWARE, -1, -1), "%s was accepted", path);
  cr_assert_eq(errno, EINVAL, "%s: errno %d (%s)", path, errno, strerror(errno));
  size_t len;
  unsigned char *now = slurp(path, &len);
  cr_assert(len == n && memcmp(now, content, n) == 0, "%s was modified", path);
  free(now);
}

Test(warc, refuses_foreign_files, .timeout = 60) {
  make_tmpdir();
  const char *notes = "just some notes, not a WARC file\n";
  check_refused(path_in_tmp("notes.txt"), notes, strlen(notes));
  size_t n;
  unsigned char *z = gzip_of(notes, strlen(notes), &n);
  check_refused(path_in_tmp("notes.gz"), z, n);
  /* Cut short, as a crash would leave it, but inflating to no WARC record. */
  check_refused(path_in_tmp("notes-cut.gz"), z, n - 9);
  free(z);
  errno = 0;
  cr_assert_null(crawl_warc_open(tmpdir, SOFTWARE, -1, -1));
  cr_assert_eq(errno, EISDIR, "errno %d (%s)", errno, strerror(errno));
  remove_tmpdir();
}

Test(warc, rejects_bad_arguments, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  const char *path = path_in_tmp("crawl.warc.gz");
  errno = 0;
  cr_assert_null(crawl_warc_open(path, "evil\r\nWARC-Type: response", -1, -1));
  cr_assert_eq(errno, EINVAL);
  crawl_warc *w = crawl_warc_open(path, NULL, -1, -1);
  cr_assert_not_null(w, "%s", strerror(errno));
  /* A second writer on the same file would interleave records. */
  errno = 0;
  cr_assert_null(crawl_warc_open(path, SOFTWARE, -1, -1));
  cr_assert_eq(errno, EWOULDBLOCK, "errno %d (%s)", errno, strerror(errno));
  const char *rq = s[0].request, *h = s[0].headers, *b = (const char *)s[0].body;
  size_t rl = strlen(rq), hl = strlen(h), bl = s[0].body_len;
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/x y", NULL, rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/\r\nWARC-Type: x", NULL, rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "", NULL, rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, NULL, NULL, rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/", "example.test", rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/", "1.2.3.4\r\n", rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/", NULL, NULL, 0, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/", NULL, rq, rl, h, 0, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/", NULL, rq, rl, h, hl, NULL, 5, 0), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(w, "http://a.test/", NULL, rq, rl, h, hl, b, bl, 3), -EINVAL);
  cr_assert_eq(crawl_warc_write_fetch(NULL, "http://a.test/", NULL, rq, rl, h, hl, b, bl, 0), -EINVAL);
  cr_assert_eq(crawl_warc_close(w), 0);
  struct warc f = read_warc(path);
  cr_assert_eq(f.n, 1, "rejected calls wrote records");
  char v[64];
  cr_assert_not_null(strstr((char *)f.r[0].block, "software: spindle-crawl\r\n"));
  cr_assert_str_eq(need(f.r[0].head, "WARC-Type", v, sizeof v), "warcinfo");
  free_warc(&f);
  remove_tmpdir();
}

/* A resume that knows where the last committed fetch ends and starts (its
 * end and tail, as a crawl's state records them) reads only that fetch and
 * the warcinfo: damage earlier in the file, which a full scan refuses, goes
 * unseen, which shows the scan was skipped; a tail that is no fetch's is
 * refused and changes nothing; records past the end are cut off. */
Test(warc, resume_at_a_known_end_reads_only_its_tail, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  const char *path = path_in_tmp("known.warc.gz");
  crawl_warc *w = crawl_warc_open(path, SOFTWARE, -1, -1);
  cr_assert_not_null(w, "%s", strerror(errno));
  long long ends[3], tails[3];
  for (int i = 0; i < 3; i++) {
    write_fetch(w, &s[i]);
    ends[i] = crawl_warc_end(w);
    tails[i] = crawl_warc_tail(w);
    cr_assert(tails[i] < ends[i] && (i == 0 || tails[i] == ends[i - 1]), "fetch %d: tail %lld, end %lld", i,
              tails[i], ends[i]);
  }
  cr_assert_eq(crawl_warc_close(w), 0);
  /* Damage inside the first fetch's records. */
  FILE *f = fopen(path, "r+b");
  cr_assert(f);
  cr_assert_eq(fseek(f, (long)(tails[0] + ends[0]) / 2, SEEK_SET), 0);
  fputs("DAMAGE", f);
  fclose(f);
  errno = 0;
  cr_assert_null(crawl_warc_open(path, SOFTWARE, -1, -1), "a full scan took the damaged file");
  cr_assert_eq(errno, EBADMSG, "errno %d", errno);
  off_t size = file_size(path);
  cr_assert_null(crawl_warc_open(path, SOFTWARE, ends[1], tails[1] + 1), "a tail that is no fetch's was taken");
  cr_assert_eq(errno, ERANGE);
  cr_assert_eq(file_size(path), size, "a refused open changed the file");
  w = crawl_warc_open(path, SOFTWARE, ends[1], tails[1]);
  cr_assert_not_null(w, "resuming at a known end and tail: %s", strerror(errno));
  cr_assert_eq(crawl_warc_end(w), ends[1]);
  cr_assert_eq(crawl_warc_tail(w), tails[1]);
  cr_assert_eq(crawl_warc_dropped(w), size - ends[1], "the third fetch, past the committed end, is cut off");
  cr_assert_eq(crawl_warc_close(w), 0);
  cr_assert_eq(file_size(path), ends[1]);
  remove_tmpdir();
}

/* A write that fails half way (here: the file size limit) is cut back off
 * the file, so the next fetch appends to a readable file. */
Test(warc, failed_write_is_cut_back, .timeout = 60) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  crawl_warc *w = crawl_warc_open(path, SOFTWARE, -1, -1);
  cr_assert_not_null(w, "%s", strerror(errno));
  write_fetch(w, &s[0]);
  off_t size = file_size(path);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = {(rlim_t)size + 4096, RLIM_INFINITY};
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0, "%s", strerror(errno));
  const struct fetch *f = &s[3]; /* 1 MiB of random bytes: far past the limit */
  int rc = crawl_warc_write_fetch(w, f->url, f->ip, f->request, strlen(f->request), f->headers,
                                  strlen(f->headers), (const char *)f->body, f->body_len, f->mode);
  cr_assert_eq(rc, -EFBIG, "rc %d (%s)", rc, strerror(-rc));
  cr_assert_eq(file_size(path), size, "the partial fetch was not cut back");
  lim.rlim_cur = RLIM_INFINITY;
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  write_fetch(w, &s[1]);
  cr_assert_eq(crawl_warc_close(w), 0);
  static const int order[] = {0, 1};
  struct warc rf = check_file(path, s, order, 2, t0);
  free_warc(&rf);
  remove_tmpdir();
}

/* Several threads writing at once: every fetch's two records adjacent and
 * intact. */
#define WRITERS 4
#define PER_WRITER 25

struct writer {
  crawl_warc *w;
  const struct fetch *s;
  int id, failures;
};

static void *writer_main(void *arg) {
  struct writer *x = arg;
  for (int i = 0; i < PER_WRITER; i++) {
    const struct fetch *f = &x->s[(x->id + i) % NSAMPLES];
    if (f->body_len > 100000) f = &x->s[0];
    char url[128];
    snprintf(url, sizeof url, "http://example.test/w%d/%d", x->id, i);
    if (crawl_warc_write_fetch(x->w, url, f->ip, f->request, strlen(f->request), f->headers,
                               strlen(f->headers), (const char *)f->body, f->body_len, f->mode) != 0)
      x->failures++;
  }
  return NULL;
}

Test(warc, concurrent_writers, .timeout = 120) {
  struct fetch s[NSAMPLES];
  samples(s);
  make_tmpdir();
  time_t t0 = time(NULL);
  const char *path = path_in_tmp("crawl.warc.gz");
  crawl_warc *w = crawl_warc_open(path, SOFTWARE, -1, -1);
  cr_assert_not_null(w, "%s", strerror(errno));
  pthread_t t[WRITERS];
  struct writer x[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    x[i] = (struct writer){w, s, i, 0};
    cr_assert_eq(pthread_create(&t[i], NULL, writer_main, &x[i]), 0);
  }
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(t[i], NULL);
    cr_assert_eq(x[i].failures, 0, "writer %d: %d failed writes", i, x[i].failures);
  }
  cr_assert_eq(crawl_warc_close(w), 0);
  struct warc f = read_warc(path);
  cr_assert_eq(f.n, 1 + 2 * WRITERS * PER_WRITER);
  char type[32], a[128], b[128];
  check_common(&f.r[0], t0, type);
  for (size_t i = 1; i < f.n; i += 2) {
    cr_assert_str_eq(check_common(&f.r[i], t0, type), "request");
    cr_assert_str_eq(check_common(&f.r[i + 1], t0, type), "response");
    cr_assert_str_eq(need(f.r[i].head, "WARC-Concurrent-To", a, sizeof a),
                     need(f.r[i + 1].head, "WARC-Record-ID", b, sizeof b));
    cr_assert_str_eq(need(f.r[i].head, "WARC-Target-URI", a, sizeof a),
                     need(f.r[i + 1].head, "WARC-Target-URI", b, sizeof b));
  }
  free_warc(&f);
  remove_tmpdir();
}
