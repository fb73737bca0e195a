/*
 * channel.c - bounded MPMC channels.
 *
 * Invariants, under c->lock:
 *  - receivers wait only while the buffer is empty, senders only while it is
 *    full (for capacity 0: always, until a receiver takes their element);
 *  - so a waiting receiver and a non-empty buffer never coexist, and a send
 *    that finds a claimed receiver copies straight into its buffer;
 *  - a waiter's element pointer (w->data) is valid until it is committed or
 *    has unlinked itself, both of which need the lock.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sp_chan {
  int lock;
  bool closed;
  size_t esz, cap;
  size_t head, count; /* ring of cap elements */
  sp__waitq sendq, recvq;
  unsigned char *buf;
};

int sp_chan_new(sp_chan **out, size_t elem_size, size_t capacity) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (elem_size == 0 || elem_size > 65536) return SP_EINVAL;
  if (capacity > ((size_t)1 << 40) / elem_size) return SP_EINVAL;
  sp_chan *c = calloc(1, sizeof *c);
  if (!c) return SP_ENOMEM;
  if (capacity) {
    c->buf = malloc(capacity * elem_size);
    if (!c->buf) {
      free(c);
      return SP_ENOMEM;
    }
  }
  c->esz = elem_size;
  c->cap = capacity;
  *out = c;
  return 0;
}

void sp_chan_free(sp_chan *c) {
  if (!c) return;
  free(c->buf);
  free(c);
}

static inline unsigned char *slot(sp_chan *c, size_t i) { return c->buf + ((c->head + i) % c->cap) * c->esz; }

/* Lock held.  0 if sent without waiting, SP_EAGAIN if the caller must wait. */
static int send_now(sp_chan *c, const void *elem) {
  if (c->closed) return SP_ECLOSED;
  sp__waiter *r = sp__waitq_claim_one(&c->recvq);
  if (r) {
    memcpy(r->data, elem, c->esz);
    r->status = 0;
    sp__waiter_commit(r, SP_WAKE_OK);
    return 0;
  }
  if (c->count < c->cap) {
    memcpy(slot(c, c->count), elem, c->esz);
    c->count++;
    return 0;
  }
  return SP_EAGAIN;
}

/* Lock held.  0 if received without waiting, SP_EAGAIN if the caller must wait. */
static int recv_now(sp_chan *c, void *elem) {
  if (c->count) {
    memcpy(elem, slot(c, 0), c->esz);
    c->head = (c->head + 1) % c->cap;
    c->count--;
    /* A slot is free: move the first waiting sender's element into it. */
    sp__waiter *s = sp__waitq_claim_one(&c->sendq);
    if (s) {
      memcpy(slot(c, c->count), s->data, c->esz);
      c->count++;
      s->status = 0;
      sp__waiter_commit(s, SP_WAKE_OK);
    }
    return 0;
  }
  sp__waiter *s = sp__waitq_claim_one(&c->sendq); /* capacity 0: rendezvous */
  if (s) {
    memcpy(elem, s->data, c->esz);
    s->status = 0;
    sp__waiter_commit(s, SP_WAKE_OK);
    return 0;
  }
  return c->closed ? SP_ECLOSED : SP_EAGAIN;
}

int sp_chan_try_send(sp_chan *c, const void *elem) {
  sp__spin_lock(&c->lock);
  int r = send_now(c, elem);
  sp__spin_unlock(&c->lock);
  return r;
}

int sp_chan_try_recv(sp_chan *c, void *elem) {
  sp__spin_lock(&c->lock);
  int r = recv_now(c, elem);
  sp__spin_unlock(&c->lock);
  return r;
}

int sp_chan_send(sp_chan *c, const void *elem) {
  sp__spin_lock(&c->lock);
  int r = send_now(c, elem);
  if (r != SP_EAGAIN) {
    sp__spin_unlock(&c->lock);
    return r;
  }
  sp__waiter w;
  sp__waiter_init(&w);
  w.data = (void *)elem;
  int reason = sp__waitq_block(&c->sendq, &c->lock, &w, 0);
  return reason == SP_WAKE_OK ? w.status : sp__wake_to_err(reason);
}

int sp_chan_recv(sp_chan *c, void *elem) {
  sp__spin_lock(&c->lock);
  int r = recv_now(c, elem);
  if (r != SP_EAGAIN) {
    sp__spin_unlock(&c->lock);
    return r;
  }
  sp__waiter w;
  sp__waiter_init(&w);
  w.data = elem;
  int reason = sp__waitq_block(&c->recvq, &c->lock, &w, 0);
  return reason == SP_WAKE_OK ? w.status : sp__wake_to_err(reason);
}

void sp_chan_close(sp_chan *c) {
  sp__spin_lock(&c->lock);
  if (!c->closed) {
    c->closed = true;
    sp__waitq_wake_all(&c->recvq, SP_ECLOSED);
    sp__waitq_wake_all(&c->sendq, SP_ECLOSED);
  }
  sp__spin_unlock(&c->lock);
}

size_t sp_chan_len(sp_chan *c) {
  sp__spin_lock(&c->lock);
  size_t n = c->count;
  sp__spin_unlock(&c->lock);
  return n;
}

size_t sp_chan_cap(const sp_chan *c) { return c->cap; }
