/*
 * decode.c - content decoding of HTTP bodies (decode.h).
 *
 * Content codings are decoded here, not by libcurl: libcurl does not report
 * a gzip stream cut short (it delivers what inflated and succeeds), and a
 * crawler must not store half a page as a whole one.
 *
 * Split-invariance rests on two things.  zlib's inflate itself is
 * incremental: fed any split of a stream, it produces the same bytes and
 * fails at the same byte.  What is left to get right is the decisions made
 * around it, which must never look at how much of the body one piece holds:
 *   - "deflate" comes zlib-wrapped (RFC 1950, as the RFC says) or raw (RFC
 *     1951, as some servers send it).  The wrapper is decided from the first
 *     two bytes of the body, held until both have come: a zlib header is CM
 *     8 in the low nibble of the first byte and a multiple of 31 as a
 *     big-endian 16-bit number.  A raw stream starting that way would begin
 *     with a non-final stored block with padding bits set, which no encoder
 *     writes.
 *   - inflate is called until it has consumed the piece *and* left room in
 *     the output buffer: with the buffer full it may hold decoded bytes back,
 *     which must not wait for the next piece (there may be none).
 */
#include "decode.h"

#include <string.h>
#include <strings.h>

#define OUT_CHUNK 16384

int sp__coding_from_header(const char *value, size_t len) {
  while (len && (*value == ' ' || *value == '\t')) value++, len--;
  while (len && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\r' || value[len - 1] == '\n'))
    len--;
  if ((len == 4 && strncasecmp(value, "gzip", 4) == 0) || (len == 6 && strncasecmp(value, "x-gzip", 6) == 0))
    return SP__CODING_GZIP;
  if (len == 7 && strncasecmp(value, "deflate", 7) == 0) return SP__CODING_DEFLATE;
  return SP__CODING_NONE;
}

const char *sp__coding_name(int coding) {
  return coding == SP__CODING_GZIP ? "gzip" : coding == SP__CODING_DEFLATE ? "deflate" : "identity";
}

void sp__decoder_init(sp__decoder *d, int coding) {
  memset(d, 0, sizeof *d);
  d->coding = coding;
}

void sp__decoder_end(sp__decoder *d) {
  if (d->z_live) inflateEnd(&d->z);
  d->z_live = false;
}

static int fail(sp__decoder *d, int verdict) {
  d->verdict = verdict;
  return verdict;
}

/* RFC 1950 2.2: CM 8 (deflate), and CMF*256 + FLG a multiple of 31. */
static bool is_zlib_header(unsigned char b0, unsigned char b1) {
  return (b0 & 0x0f) == 8 && (b0 * 256u + b1) % 31 == 0;
}

static int start(sp__decoder *d, int window_bits) {
  memset(&d->z, 0, sizeof d->z);
  if (inflateInit2(&d->z, window_bits) != Z_OK) return fail(d, SP__DECODE_NOMEM);
  d->z_live = true;
  return SP__DECODE_OK;
}

/* Runs n bytes through the live inflate stream. */
static int inflate_bytes(sp__decoder *d, const unsigned char *p, size_t n, sp__decode_sink sink, void *arg) {
  char out[OUT_CHUNK];
  d->z.next_in = (unsigned char *)p;
  d->z.avail_in = (uInt)n;
  bool out_full = false;
  for (;;) {
    if (d->ended) {
      if (d->z.avail_in == 0) return SP__DECODE_OK;
      if (d->coding != SP__CODING_GZIP) return SP__DECODE_OK; /* not part of the body */
      if (inflateReset(&d->z) != Z_OK) return fail(d, SP__DECODE_MALFORMED); /* the next member */
      d->ended = false;
    }
    if (d->z.avail_in == 0 && !out_full) return SP__DECODE_OK;
    d->z.next_out = (unsigned char *)out;
    d->z.avail_out = sizeof out;
    int r = inflate(&d->z, Z_NO_FLUSH);
    size_t got = sizeof out - d->z.avail_out;
    if (got && !sink(arg, out, got)) return fail(d, SP__DECODE_STOPPED);
    out_full = d->z.avail_out == 0;
    if (r == Z_STREAM_END) {
      d->ended = true;
    } else if (r == Z_MEM_ERROR) {
      return fail(d, SP__DECODE_NOMEM);
    } else if (r == Z_BUF_ERROR) {
      /* no progress: everything given is consumed and nothing is held */
      if (d->z.avail_in) return fail(d, SP__DECODE_MALFORMED);
      return SP__DECODE_OK;
    } else if (r != Z_OK) {
      return fail(d, SP__DECODE_MALFORMED); /* Z_DATA_ERROR, Z_NEED_DICT */
    }
  }
}

int sp__decoder_feed(sp__decoder *d, const void *data, size_t len, sp__decode_sink sink, void *arg) {
  if (d->verdict) return d->verdict;
  if (!len) return SP__DECODE_OK;
  const unsigned char *p = data;
  d->in_total += len;
  if (!d->z_live) {
    if (d->coding == SP__CODING_GZIP) {
      if (start(d, 15 + 16)) return d->verdict;
    } else {
      while (d->nhead < sizeof d->head && len) d->head[d->nhead++] = *p++, len--;
      if (d->nhead < sizeof d->head) return SP__DECODE_OK; /* one byte: undecided */
      if (start(d, is_zlib_header(d->head[0], d->head[1]) ? 15 : -15)) return d->verdict;
      int r = inflate_bytes(d, d->head, d->nhead, sink, arg);
      if (r) return r;
    }
  }
  return inflate_bytes(d, p, len, sink, arg);
}

int sp__decoder_finish(const sp__decoder *d) {
  if (d->verdict) return d->verdict;
  if (d->in_total == 0) return SP__DECODE_OK;
  return d->z_live && d->ended ? SP__DECODE_OK : SP__DECODE_CUT_SHORT;
}
