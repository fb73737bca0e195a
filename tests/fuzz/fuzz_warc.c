/*
 * fuzz_warc.c - the WARC writer and its resume scan (crawler/src/warc.c).
 *
 * The input gives one to three fetches (URL, address, request, response
 * headers, body, body mode), then how the file is damaged: where it is cut
 * and what garbage follows.  Properties, each an abort with a message:
 *   - writing: a fetch is refused only for what warc.h says it refuses,
 *     and every accepted one ends at a gzip member boundary;
 *   - resuming a file cut anywhere, garbage after the cut or not: either
 *     crawl_warc_open refuses (and then the file is as it was), or what it
 *     keeps is a clean sequence of complete gzip members holding WARC
 *     records, with every fetch that ended before the cut still there;
 *   - resuming at a committed end: exactly there; at an end that is no
 *     member boundary, ERANGE and the file as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "warc.h"

#define FAIL(...)                                 \
  do {                                            \
    fprintf(stderr, "fuzz_warc: " __VA_ARGS__);   \
    fputc('\n', stderr);                          \
    abort();                                      \
  } while (0)

/* The input, read as a sequence of length-prefixed pieces. */
typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t byte(reader *r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}

/* A piece of at most max bytes (its length from the input), NUL-terminated
 * into buf (which has max + 1 bytes). */
static size_t piece(reader *r, char *buf, size_t max) {
  size_t len = byte(r);
  len = (len << 8 | byte(r)) % (max + 1);
  if (len > r->n) len = r->n;
  memcpy(buf, r->p, len);
  buf[len] = '\0';
  r->p += len;
  r->n -= len;
  return len;
}

static char path[256];

static off_t size_of(void) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

static char *slurp(size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) FAIL("cannot read %s back", path);
  char *s = NULL;
  FILE *m = open_memstream(&s, len);
  char buf[65536];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, m);
  fclose(f);
  fclose(m);
  return s;
}

/* Whether p[0..n) is complete gzip members, each inflating to a WARC
 * record; how many in *count. */
static bool clean_members(const char *p, size_t n, int *count) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 31) != Z_OK) FAIL("inflateInit2");
  unsigned char out[8192];
  bool ok = true, fresh = true;
  *count = 0;
  z.next_in = (unsigned char *)p;
  z.avail_in = (uInt)n;
  while (ok && z.avail_in > 0) {
    z.next_out = out;
    z.avail_out = sizeof out;
    int zr = inflate(&z, Z_NO_FLUSH);
    if (fresh && sizeof out - z.avail_out >= 7) {
      if (memcmp(out, "WARC/1.", 7) != 0) ok = false;
      fresh = false;
    }
    if (zr == Z_STREAM_END) {
      (*count)++;
      fresh = true;
      inflateReset(&z);
    } else if (zr != Z_OK) {
      ok = false;
    }
  }
  if (!fresh) ok = false; /* a member cut short */
  inflateEnd(&z);
  return ok;
}

/* Writes the file anew: warcinfo, then the fetches of the input; their
 * ends into ends[] (how many in *nends). */
static void write_fetches(reader *r, long long *ends, long long *tails, int *nends) {
  unlink(path);
  crawl_warc *w = crawl_warc_open(path, "fuzz/1", -1, -1);
  if (!w) FAIL("cannot create %s: %s", path, strerror(errno));
  static const char *const ips[] = {NULL, "", "127.0.0.1", "::1", "999.1.1.1", "fe80::1%eth0"};
  int fetches = 1 + byte(r) % 3;
  *nends = 0;
  for (int i = 0; i < fetches; i++) {
    static char url[512], req[2048], head[2048], body[8192];
    piece(r, url, 500);
    size_t rl = piece(r, req, 2000), hl = piece(r, head, 2000), bl = piece(r, body, 8000);
    const char *ip = ips[byte(r) % 6];
    int mode = byte(r) % 4; /* 3 is no mode: refused */
    long long before = crawl_warc_end(w), end = -1;
    crawl_warc_records *recs = NULL;
    int rc = crawl_warc_build_fetch(w, url, ip, req, rl, head, hl, body, bl, mode, &recs);
    if (rc == 0) rc = crawl_warc_append(w, recs, &end);
    crawl_warc_records_free(recs);
    if (rc == -EINVAL) {
      if (crawl_warc_end(w) != before) FAIL("a refused fetch moved the end from %lld to %lld", before, crawl_warc_end(w));
      continue;
    }
    if (rc != 0) FAIL("writing a fetch failed: %s", strerror(-rc));
    if (end <= before) FAIL("an appended fetch ends at %lld, not after %lld", end, before);
    tails[*nends] = before;
    ends[(*nends)++] = end;
  }
  if (crawl_warc_close(w) != 0) FAIL("close failed");
}

/* Cut at `cut`, garbage appended, resumed without a committed end. */
static void check_resume_after_damage(reader *r, const long long *ends, int nends) {
  off_t size = size_of();
  uint32_t c = (uint32_t)byte(r) << 16 | (uint32_t)byte(r) << 8 | byte(r);
  off_t cut = (off_t)(c % (uint32_t)(size + 1));
  static char garbage[512];
  size_t gl = piece(r, garbage, 500);
  if (truncate(path, cut) != 0) FAIL("truncate");
  if (gl) {
    FILE *f = fopen(path, "ab");
    fwrite(garbage, 1, gl, f);
    fclose(f);
  }
  size_t before_len;
  char *before = slurp(&before_len);
  crawl_warc *w = crawl_warc_open(path, "fuzz/1", -1, -1);
  if (!w) {
    int e = errno;
    size_t now_len;
    char *now = slurp(&now_len);
    if (now_len != before_len || memcmp(now, before, now_len) != 0)
      FAIL("a refused file was changed (errno %d: %s)", e, strerror(e));
    free(now);
    free(before);
    return;
  }
  if (crawl_warc_close(w) != 0) FAIL("close after resume failed");
  size_t len;
  char *kept = slurp(&len);
  int members;
  if (!clean_members(kept, len, &members))
    FAIL("after resuming a file cut at %lld (+%zu bytes of garbage), it is not complete WARC members", (long long)cut,
         gl);
  /* Only a cut without garbage promises to keep what came before it:
   * garbage may look like a member, and then the damage is in the middle. */
  for (int i = 0; !gl && i < nends; i++)
    if (ends[i] <= cut && (long long)len < ends[i])
      FAIL("fetch %d ended at %lld, before the cut at %lld, but only %zu bytes were kept", i, ends[i], (long long)cut,
           len);
  free(kept);
  free(before);
}

/* Resumed at each committed end, with its tail (no scan) or without:
 * exactly there; one byte further, or a tail one byte off (no boundary):
 * ERANGE, untouched. */
static void check_committed_ends(reader *r, const long long *ends, const long long *tails, int nends) {
  for (int i = nends - 1; i >= 0; i--) {
    uint8_t how = byte(r);
    long long off_by = how % 2, tail = how & 2 ? tails[i] : -1, tail_off = tail >= 0 && (how & 4);
    off_t size = size_of();
    crawl_warc *w = crawl_warc_open(path, "fuzz/1", ends[i] + off_by, tail >= 0 ? tail + tail_off : -1);
    if ((off_by || tail_off) && w)
      FAIL("resumed at %lld (tail %lld), which is no fetch's", ends[i] + off_by, tail + tail_off);
    if (off_by || tail_off) {
      if (w) crawl_warc_close(w);
      if (size_of() != size) FAIL("a refused committed end changed the file");
      w = crawl_warc_open(path, "fuzz/1", ends[i], tail);
    }
    if (!w) FAIL("resuming at the committed end %lld failed: %s", ends[i], strerror(errno));
    if (crawl_warc_end(w) != ends[i]) FAIL("resumed at %lld, the end is %lld", ends[i], crawl_warc_end(w));
    crawl_warc_close(w);
    if (size_of() != ends[i]) FAIL("resumed at %lld, the file has %lld bytes", ends[i], (long long)size_of());
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!path[0]) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/fuzz_warc.%d.warc.gz", dir, (int)getpid());
  }
  reader r = {data, size};
  long long ends[3], tails[3];
  int nends;
  bool committed_first = byte(&r) & 1;
  write_fetches(&r, ends, tails, &nends);
  if (committed_first)
    check_committed_ends(&r, ends, tails, nends);
  else
    check_resume_after_damage(&r, ends, nends);
  unlink(path);
  return 0;
}
