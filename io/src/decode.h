/*
 * decode.h - content decoding of HTTP bodies: gzip (one member or several)
 * and deflate (zlib-wrapped or raw), fed in pieces as they arrive (not
 * installed).
 *
 * The decoder is split-invariant: the same bytes give the same decoded
 * bytes and the same verdict however they are cut into pieces, one piece or
 * one byte at a time.  It depends on zlib and libc only (no other part of
 * io/), so a fuzz harness links it alone.
 *
 * Use: sp__decoder_init, sp__decoder_feed for each piece of the body (as
 * long as it returns SP__DECODE_OK), sp__decoder_finish at the end of the
 * body, sp__decoder_end in every case.
 */
#ifndef SPINDLE_IO_DECODE_H
#define SPINDLE_IO_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

/* The content codings spindle asks for (Accept-Encoding: gzip, deflate). */
enum { SP__CODING_NONE = 0, SP__CODING_GZIP, SP__CODING_DEFLATE };

/* The verdict on a body (or on the body so far). */
enum {
  SP__DECODE_OK = 0,     /* well formed so far; from finish: complete */
  SP__DECODE_MALFORMED,  /* not a valid stream of its coding */
  SP__DECODE_CUT_SHORT,  /* finish only: the stream did not end */
  SP__DECODE_NOMEM,      /* zlib could not allocate its state */
  SP__DECODE_STOPPED,    /* the sink asked to stop */
};

/* Receives decoded bytes; returns false to stop decoding. */
typedef bool (*sp__decode_sink)(void *arg, const char *data, size_t len);

/*
 * Invariant: `head` holds the first bytes of a deflate body while fewer than
 * two have come (the wrapper is decided from two bytes); once `z_live`, the
 * bytes fed so far have all gone to zlib.  `ended`: the last stream (gzip:
 * member) ended and no byte has come since.
 */
typedef struct sp__decoder {
  int coding;              /* SP__CODING_* */
  int verdict;             /* sticky once not SP__DECODE_OK */
  bool z_live;             /* z is initialised */
  bool ended;
  unsigned char head[2];
  size_t nhead;
  uint64_t in_total;       /* body bytes fed */
  z_stream z;
} sp__decoder;

/* The coding named by a Content-Encoding value (len bytes, surrounding
 * spaces, tabs and a line end allowed): gzip, x-gzip, deflate (any case);
 * SP__CODING_NONE for anything else, which is passed through undecoded. */
int sp__coding_from_header(const char *value, size_t len);

/* "gzip", "deflate" or "identity". */
const char *sp__coding_name(int coding);

/* A decoder for coding (SP__CODING_GZIP or SP__CODING_DEFLATE). */
void sp__decoder_init(sp__decoder *d, int coding);

/*
 * Decodes len more bytes of the body, handing the output to sink in pieces.
 * Returns SP__DECODE_OK, or the verdict that ends the body (sticky: later
 * calls return it again and decode nothing).  Bytes after the end of a
 * deflate stream are not part of the body and are ignored; after the end of
 * a gzip member, another member follows (RFC 1952 2.2).
 */
int sp__decoder_feed(sp__decoder *d, const void *data, size_t len, sp__decode_sink sink, void *arg);

/*
 * The verdict on the whole body, once it has ended: SP__DECODE_OK (an empty
 * body is complete too), SP__DECODE_CUT_SHORT when the stream did not end,
 * or the error feed returned.
 */
int sp__decoder_finish(const sp__decoder *d);

/* Frees the decoder's zlib state; d may be initialised again after. */
void sp__decoder_end(sp__decoder *d);

#endif
