/* test_decode.c - the content decoder (io/src/decode.h) is split-invariant:
 * a body gives the same decoded bytes and the same verdict whether it comes
 * in one piece, in two cut at any position, or one byte at a time. */
#define _GNU_SOURCE
#include "sched/spt.h"

#include <zlib.h>

#include "decode.h"

#define OUT_MAX (4u << 20) /* what a sink keeps; more stops the decoder */

typedef struct bytes {
  unsigned char *p;
  size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    cr_assert(b->p, "out of memory");
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}

/* A stream of the coding of src: window_bits 15 + 16 gzip, 15 zlib, -15 raw. */
static bytes compress_bytes(const void *src, size_t n, int window_bits, int level) {
  z_stream z;
  memset(&z, 0, sizeof z);
  cr_assert_eq(deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  bytes out = {0};
  out.cap = deflateBound(&z, (uLong)n) + 64;
  out.p = malloc(out.cap);
  cr_assert(out.p);
  z.next_in = (unsigned char *)src;
  z.avail_in = (uInt)n;
  z.next_out = out.p;
  z.avail_out = (uInt)out.cap;
  cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.len = out.cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

/* About 24 KiB of text that compresses, but not to nothing. */
static bytes make_text(void) {
  bytes t = {0};
  char line[128];
  for (int i = 0; t.len < 24000; i++) {
    int n = snprintf(line, sizeof line, "line %d: the quick brown fox jumps over the lazy dog %d\n", i,
                     i * 7919 % 10007);
    bytes_add(&t, line, (size_t)n);
  }
  return t;
}

/* ------------------------------------------------------------- decoding */

static bool sink_keep(void *arg, const char *data, size_t len) {
  bytes *out = arg;
  if (out->len + len > OUT_MAX) return false;
  bytes_add(out, data, len);
  return true;
}

typedef struct result {
  int verdict;
  bytes out;
} result;

/* Decodes body in pieces: cut at `cut` (0 or len: one piece), or, with
 * `step`, step bytes at a time. */
static result decode_pieces(int coding, const bytes *body, size_t cut, size_t step) {
  sp__decoder d;
  sp__decoder_init(&d, coding);
  result r = {0};
  int v = SP__DECODE_OK;
  if (step) {
    for (size_t off = 0; off < body->len && !v; off += step) {
      size_t n = body->len - off < step ? body->len - off : step;
      v = sp__decoder_feed(&d, body->p + off, n, sink_keep, &r.out);
    }
  } else {
    v = sp__decoder_feed(&d, body->p, cut, sink_keep, &r.out);
    if (!v) v = sp__decoder_feed(&d, body->p + cut, body->len - cut, sink_keep, &r.out);
  }
  r.verdict = sp__decoder_finish(&d);
  cr_assert_eq(v == SP__DECODE_OK || v == r.verdict, 1, "feed said %d, finish %d", v, r.verdict);
  sp__decoder_end(&d);
  return r;
}

static bool same_bytes(const bytes *a, const bytes *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static const char *verdict_name(int v) {
  static const char *const names[] = {"ok", "malformed", "cut short", "no memory", "stopped"};
  return v >= 0 && v <= SP__DECODE_STOPPED ? names[v] : "?";
}

/* Decodes body in one piece, checks the verdict (and, given, the output),
 * then requires the same of every two-piece cut and of one byte at a time. */
static void check_split_invariant(const char *what, int coding, const bytes *body, int want, const bytes *want_out) {
  result whole = decode_pieces(coding, body, body->len, 0);
  cr_assert_eq(whole.verdict, want, "%s in one piece: %s, expected %s", what, verdict_name(whole.verdict),
               verdict_name(want));
  if (want_out)
    cr_assert(same_bytes(&whole.out, want_out),
              "%s in one piece: %zu bytes decoded, expected %zu", what, whole.out.len, want_out->len);
  for (size_t cut = 0; cut <= body->len + 1; cut++) {
    bool bytewise = cut == body->len + 1;
    result r = bytewise ? decode_pieces(coding, body, 0, 1) : decode_pieces(coding, body, cut, 0);
    char how[64];
    if (bytewise)
      snprintf(how, sizeof how, "one byte at a time");
    else
      snprintf(how, sizeof how, "cut at %zu of %zu", cut, body->len);
    cr_assert_eq(r.verdict, whole.verdict, "%s %s: %s, in one piece %s", what, how, verdict_name(r.verdict),
                 verdict_name(whole.verdict));
    cr_assert(same_bytes(&r.out, &whole.out),
              "%s %s: %zu bytes decoded, in one piece %zu (or other bytes)", what, how, r.out.len, whole.out.len);
    free(r.out.p);
  }
  free(whole.out.p);
}

/* ------------------------------------------------------------------ tests */

Test(decode, gzip_any_split, .timeout = 120) {
  bytes text = make_text();
  bytes gz = compress_bytes(text.p, text.len, 15 + 16, 6);
  check_split_invariant("gzip", SP__CODING_GZIP, &gz, SP__DECODE_OK, &text);
  free(gz.p);
  free(text.p);
}

Test(decode, gzip_two_members_any_split, .timeout = 120) {
  bytes text = make_text();
  size_t half = text.len / 3;
  bytes a = compress_bytes(text.p, half, 15 + 16, 6);
  bytes b = compress_bytes(text.p + half, text.len - half, 15 + 16, 6);
  bytes_add(&a, b.p, b.len);
  check_split_invariant("two gzip members", SP__CODING_GZIP, &a, SP__DECODE_OK, &text);
  /* trailing bytes that start no member: malformed, wherever they fall */
  bytes_add(&a, "garbage", 7);
  check_split_invariant("gzip and garbage", SP__CODING_GZIP, &a, SP__DECODE_MALFORMED, NULL);
  free(a.p);
  free(b.p);
  free(text.p);
}

Test(decode, zlib_deflate_any_split, .timeout = 120) {
  bytes text = make_text();
  bytes z = compress_bytes(text.p, text.len, 15, 6);
  check_split_invariant("zlib deflate", SP__CODING_DEFLATE, &z, SP__DECODE_OK, &text);
  free(z.p);
  free(text.p);
}

/* The case of issue 10, item 6: the raw stream's first byte alone was taken
 * for a bad zlib header. */
Test(decode, raw_deflate_any_split, .timeout = 120) {
  bytes text = make_text();
  bytes raw = compress_bytes(text.p, text.len, -15, 6);
  check_split_invariant("raw deflate", SP__CODING_DEFLATE, &raw, SP__DECODE_OK, &text);
  free(raw.p);
  /* stored blocks (level 0): the stream starts with a block header byte 0 */
  raw = compress_bytes(text.p, 3000, -15, 0);
  bytes want = {.p = text.p, .len = 3000};
  check_split_invariant("raw deflate, stored", SP__CODING_DEFLATE, &raw, SP__DECODE_OK, &want);
  /* after the end of a deflate stream, bytes are not part of the body */
  bytes_add(&raw, "trailing", 8);
  check_split_invariant("raw deflate and trailing bytes", SP__CODING_DEFLATE, &raw, SP__DECODE_OK, &want);
  free(raw.p);
  free(text.p);
}

/* A few bytes that inflate to much more: when a piece is used up with the
 * output buffer full, inflate may still hold the rest of a match, which
 * must come out now (before, a raw stream cut at some positions was
 * "cut short": its last piece's final match never came out, and the end of
 * the stream was never reached). */
Test(decode, zeros_any_split, .timeout = 120) {
  size_t n = 200000;
  bytes zeros = {.p = calloc(1, n), .len = n};
  cr_assert(zeros.p);
  zeros.p[n / 2] = 1;
  bytes gz = compress_bytes(zeros.p, n, 15 + 16, 9);
  check_split_invariant("gzip of zeros", SP__CODING_GZIP, &gz, SP__DECODE_OK, &zeros);
  bytes raw = compress_bytes(zeros.p, n, -15, 9);
  check_split_invariant("raw deflate of zeros", SP__CODING_DEFLATE, &raw, SP__DECODE_OK, &zeros);
  free(gz.p);
  free(raw.p);
  free(zeros.p);
}

Test(decode, cut_short_any_split, .timeout = 120) {
  bytes text = make_text();
  static const int bits[] = {15 + 16, 15, -15};
  static const char *const names[] = {"gzip cut short", "zlib deflate cut short", "raw deflate cut short"};
  for (int i = 0; i < 3; i++) {
    bytes s = compress_bytes(text.p, text.len, bits[i], 6);
    s.len /= 2;
    check_split_invariant(names[i], i ? SP__CODING_DEFLATE : SP__CODING_GZIP, &s, SP__DECODE_CUT_SHORT, NULL);
    /* the checksum missing is cut short too */
    bytes whole = compress_bytes(text.p, text.len, bits[i], 6);
    if (bits[i] != -15) {
      whole.len -= 2;
      check_split_invariant(names[i], i ? SP__CODING_DEFLATE : SP__CODING_GZIP, &whole, SP__DECODE_CUT_SHORT,
                            NULL);
    }
    free(whole.p);
    free(s.p);
  }
  /* one byte of a deflate body: the wrapper is not even decided */
  bytes one = {.p = (unsigned char *)"\x78", .len = 1};
  check_split_invariant("one byte of deflate", SP__CODING_DEFLATE, &one, SP__DECODE_CUT_SHORT, NULL);
  free(text.p);
}

Test(decode, malformed_any_split, .timeout = 120) {
  bytes text = make_text();
  /* not gzip at all */
  bytes junk = {0};
  bytes_add(&junk, "this is not a gzip stream, not at all\n", 38);
  check_split_invariant("not gzip", SP__CODING_GZIP, &junk, SP__DECODE_MALFORMED, NULL);
  free(junk.p);
  /* a zlib stream with a byte changed mid-way: a data error or a checksum
   * mismatch, at the same byte whatever the split */
  static const int bits[] = {15 + 16, 15};
  for (int i = 0; i < 2; i++) {
    bytes z = compress_bytes(text.p, text.len, bits[i], 6);
    z.p[z.len / 2] ^= 0x55;
    check_split_invariant(i ? "zlib deflate, corrupted" : "gzip, corrupted", i ? SP__CODING_DEFLATE : SP__CODING_GZIP,
                          &z, SP__DECODE_MALFORMED, NULL);
    free(z.p);
  }
  /* a zlib header asking for a preset dictionary */
  bytes dict = {0};
  bytes_add(&dict, "\x78\xbb\x00\x00\x00\x01\x03\x00", 8);
  check_split_invariant("zlib with a dictionary", SP__CODING_DEFLATE, &dict, SP__DECODE_MALFORMED, NULL);
  free(dict.p);
  free(text.p);
}

/* An empty body is complete whatever its coding (a HEAD, a 304). */
Test(decode, empty_body_is_complete, .timeout = 30) {
  for (int c = SP__CODING_GZIP; c <= SP__CODING_DEFLATE; c++) {
    sp__decoder d;
    sp__decoder_init(&d, c);
    bytes out = {0};
    cr_assert_eq(sp__decoder_feed(&d, "", 0, sink_keep, &out), SP__DECODE_OK);
    cr_assert_eq(sp__decoder_finish(&d), SP__DECODE_OK, "%s", sp__coding_name(c));
    cr_assert_eq(out.len, 0);
    sp__decoder_end(&d);
  }
}

static bool sink_stop(void *arg, const char *data, size_t len) {
  (void)data;
  *(size_t *)arg += len;
  return false;
}

/* A sink that says stop ends decoding, and the verdict stays. */
Test(decode, sink_stops, .timeout = 30) {
  bytes text = make_text();
  bytes gz = compress_bytes(text.p, text.len, 15 + 16, 6);
  sp__decoder d;
  sp__decoder_init(&d, SP__CODING_GZIP);
  size_t got = 0;
  cr_assert_eq(sp__decoder_feed(&d, gz.p, gz.len, sink_stop, &got), SP__DECODE_STOPPED);
  cr_assert(got > 0);
  size_t before = got;
  cr_assert_eq(sp__decoder_feed(&d, gz.p, gz.len, sink_stop, &got), SP__DECODE_STOPPED);
  cr_assert_eq(got, before, "decoded more after stopping");
  cr_assert_eq(sp__decoder_finish(&d), SP__DECODE_STOPPED);
  sp__decoder_end(&d);
  free(gz.p);
  free(text.p);
}

Test(decode, coding_from_header, .timeout = 30) {
  static const struct {
    const char *v;
    int coding;
  } cases[] = {
      {"gzip", SP__CODING_GZIP},         {" GZip\r\n", SP__CODING_GZIP},  {"\tx-gzip ", SP__CODING_GZIP},
      {"deflate", SP__CODING_DEFLATE},   {"Deflate\r\n", SP__CODING_DEFLATE}, {"br", SP__CODING_NONE},
      {"identity", SP__CODING_NONE},     {"gzip, deflate", SP__CODING_NONE},  {"", SP__CODING_NONE},
      {"gzipx", SP__CODING_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    cr_assert_eq(sp__coding_from_header(cases[i].v, strlen(cases[i].v)), cases[i].coding, "'%s'", cases[i].v);
  cr_assert_str_eq(sp__coding_name(SP__CODING_GZIP), "gzip");
  cr_assert_str_eq(sp__coding_name(SP__CODING_DEFLATE), "deflate");
}
