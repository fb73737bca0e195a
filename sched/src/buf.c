/* buf.c - the growable byte buffer (spindle/buf.h). */
#include "spindle/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sp_buf_init(sp_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max < SP_BUF_NO_MAX ? max : SP_BUF_NO_MAX;
}

/* Room for n more bytes and the NUL: doubles, but never past max + 1. */
static int reserve(sp_buf *b, size_t n) {
  if (b->err) return b->err;
  if (n > b->max - b->len) return b->err = SP_ETOOBIG;
  size_t need = b->len + n + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  if (cap > b->max + 1) cap = b->max + 1;
  char *p = realloc(b->data, cap);
  if (!p) return b->err = SP_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int sp_buf_add(sp_buf *b, const void *data, size_t n) {
  int rc = reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int sp_buf_adds(sp_buf *b, const char *s) { return sp_buf_add(b, s, strlen(s)); }

int sp_buf_printf(sp_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 && !b->err) b->err = SP_EINVAL;
  int rc = n < 0 ? b->err : reserve(b, (size_t)n);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *sp_buf_take(sp_buf *b, size_t *len) {
  char *p = NULL;
  if (!b->err && !b->data) reserve(b, 0);
  if (!b->err) {
    p = b->data;
    p[b->len] = '\0';
    if (len) *len = b->len;
  } else {
    free(b->data);
  }
  size_t max = b->max;
  sp_buf_init(b, max);
  return p;
}

void sp_buf_reset(sp_buf *b) {
  b->len = 0;
  b->err = 0;
  if (b->data) b->data[0] = '\0';
}

void sp_buf_free(sp_buf *b) {
  free(b->data);
  sp_buf_init(b, b->max);
}
