/*
 * spindle/buf.h - one growable byte buffer, with a size cap per use (as
 * curl's dynbuf): an append that would pass the cap, or finds no memory,
 * fails, and the failure sticks, so that building a string or a record is
 * a run of appends with one check at the end.  The bytes are always
 * followed by a NUL (not counted in len), so text can be used as a string.
 *
 *   sp_buf b;
 *   sp_buf_init(&b, 64 * 1024);
 *   sp_buf_adds(&b, "GET ");
 *   sp_buf_printf(&b, "%s HTTP/1.1\r\n", path);
 *   char *s = sp_buf_take(&b, NULL); // NULL if an append failed: b.err says why
 */
#ifndef SPINDLE_BUF_H
#define SPINDLE_BUF_H

#include <stddef.h>

#include "spindle/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_buf {
  char *data; /* the bytes, NUL-terminated; NULL until the first */
  size_t len; /* bytes held */
  size_t cap; /* bytes allocated (never more than max + 1) */
  size_t max; /* the most bytes it may hold */
  int err;    /* 0, or the first failure: SP_ETOOBIG (past max), SP_ENOMEM */
} sp_buf;

/* No cap but memory. */
#define SP_BUF_NO_MAX (((size_t)-1) / 4)

/* An empty buffer that may hold up to max bytes (SP_BUF_NO_MAX: no cap). */
void sp_buf_init(sp_buf *b, size_t max);

/* Appends n bytes (data may be NULL when n is 0).  0, or b->err: the
 * first failure (then nothing more is appended, ever, until sp_buf_take or
 * sp_buf_reset). */
int sp_buf_add(sp_buf *b, const void *data, size_t n);
/* Appends a string without its NUL. */
int sp_buf_adds(sp_buf *b, const char *s);
/* Appends printf's output. */
int sp_buf_printf(sp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one byte: the common case (room left) inline, for byte loops. */
static inline int sp_buf_addc(sp_buf *b, char c) {
  if (b->err == 0 && b->len + 2 <= b->cap) {
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
  }
  return sp_buf_add(b, &c, 1);
}

/* Hands the bytes over (malloc'd, NUL-terminated, "" for none; their
 * length into *len if not NULL) and leaves b empty, with no failure; NULL
 * when an append had failed (b->err says why; the bytes are freed). */
char *sp_buf_take(sp_buf *b, size_t *len);
/* Empties b (its memory kept for reuse) and clears its failure. */
void sp_buf_reset(sp_buf *b);
/* Frees b's memory; b is then as after sp_buf_init with the same max. */
void sp_buf_free(sp_buf *b);

#ifdef __cplusplus
}
#endif
#endif
