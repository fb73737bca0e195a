/*
 * fuzz_http_decode.c - libFuzzer harness for HTTP body decoding
 * (io/src/decode.h): split-invariance.
 *
 * Property: a body decodes to the same bytes, with the same verdict (ok,
 * malformed, cut short), however it is cut into pieces.  Each input is
 *
 *   byte 0      bit 0: the coding (0 gzip, 1 deflate);
 *               bits 1-2: how to cut (0 at one position, 1 one byte at a
 *               time, 2 pieces of byte-2 % 7 + 1 bytes, 3 at two positions)
 *   bytes 1-2   the cut position (little-endian, modulo the body's length + 1)
 *   the rest    the body
 *
 * The body is decoded in one piece and in pieces; any difference aborts
 * with both results.  Decoded output is bounded (OUT_MAX: the sink stops
 * there, in both runs at the same byte), so bombs cost little.
 *
 * Seeds: tests/fuzz/corpus/http_decode/ (gzip, two gzip members, zlib and
 * raw deflate, stored blocks, cut short, corrupted, a preset-dictionary
 * header, zeros), made once with Python's zlib module in this layout.
 *
 * By hand, without the build's fuzz option:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I io/src \
 *     tests/fuzz/fuzz_http_decode.c io/src/decode.c -lz -o fuzz_http_decode
 *   ./fuzz_http_decode -max_total_time=600 tests/fuzz/corpus/http_decode
 * (a copy of the corpus directory as the first argument keeps what it finds).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define OUT_MAX (1u << 20)
#define HEADER 3

typedef struct sinkbuf {
  unsigned char *p;
  size_t len;
} sinkbuf;

static bool keep(void *arg, const char *data, size_t n) {
  sinkbuf *b = arg;
  size_t room = OUT_MAX - b->len;
  memcpy(b->p + b->len, data, n < room ? n : room);
  b->len += n < room ? n : room;
  return n <= room;
}

/* Decodes body[n] cut at the ascending positions cuts[ncuts] (or, with
 * step, step bytes at a time) into out; the verdict. */
static int decode(int coding, const uint8_t *body, size_t n, const size_t *cuts, size_t ncuts, size_t step,
                  sinkbuf *out) {
  sp__decoder d;
  sp__decoder_init(&d, coding);
  out->len = 0;
  size_t off = 0;
  int v = SP__DECODE_OK;
  if (step) {
    for (; off < n && !v; off += step) v = sp__decoder_feed(&d, body + off, n - off < step ? n - off : step, keep, out);
  } else {
    for (size_t i = 0; i <= ncuts && !v; i++) {
      size_t end = i < ncuts ? cuts[i] : n;
      v = sp__decoder_feed(&d, body + off, end - off, keep, out);
      off = end;
    }
  }
  int verdict = sp__decoder_finish(&d);
  if (v != SP__DECODE_OK && v != verdict) {
    fprintf(stderr, "feed said %d, finish %d\n", v, verdict);
    abort();
  }
  sp__decoder_end(&d);
  return verdict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned char whole_buf[OUT_MAX], split_buf[OUT_MAX];
  if (size < HEADER) return 0;
  int coding = data[0] & 1 ? SP__CODING_DEFLATE : SP__CODING_GZIP;
  int how = (data[0] >> 1) & 3;
  const uint8_t *body = data + HEADER;
  size_t n = size - HEADER;
  size_t cut = ((size_t)data[1] | (size_t)data[2] << 8) % (n + 1);
  size_t cuts[2] = {cut, cut}, ncuts = 1, step = 0;
  if (how == 1) step = 1;
  if (how == 2) step = data[2] % 7 + 1;
  if (how == 3) {
    cuts[0] = cut / 2;
    ncuts = 2;
  }

  sinkbuf whole = {whole_buf, 0}, split = {split_buf, 0};
  int vw = decode(coding, body, n, NULL, 0, 0, &whole);
  int vs = decode(coding, body, n, cuts, ncuts, step, &split);
  if (vw != vs || whole.len != split.len || memcmp(whole.p, split.p, whole.len) != 0) {
    fprintf(stderr,
            "split-invariance broken: %s body of %zu bytes; in one piece verdict %d, %zu bytes out; "
            "cut (how %d, at %zu/%zu, step %zu) verdict %d, %zu bytes out\n",
            sp__coding_name(coding), n, vw, whole.len, how, cuts[0], cuts[1], step, vs, split.len);
    abort();
  }
  return 0;
}
