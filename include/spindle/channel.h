/*
 * spindle/channel.h - bounded multi-producer multi-consumer channels.
 *
 * A channel carries fixed-size elements (copied in and out) through a ring
 * of `capacity` slots.  Capacity 0 makes a rendezvous channel: a send
 * completes only when a receiver takes the element, as in Go.  Senders park
 * while the channel is full, receivers while it is empty; both honour the
 * caller's deadline scope and cancellation.  Works from tasks and from
 * threads foreign to the runtime (which block).
 *
 * Closing wakes everyone: sends fail with SP_ECLOSED at once, receives drain
 * what is buffered and then fail with SP_ECLOSED.
 */
#ifndef SPINDLE_CHANNEL_H
#define SPINDLE_CHANNEL_H

#include "spindle/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_chan sp_chan;

/* elem_size must be in [1, 65536]. */
int sp_chan_new(sp_chan **out, size_t elem_size, size_t capacity);
/* Frees c.  No task may be using it any more. */
void sp_chan_free(sp_chan *c);

int sp_chan_send(sp_chan *c, const void *elem); /* 0, SP_ECLOSED, SP_ECANCELED, SP_ETIMEDOUT, SP_ESHUTDOWN */
int sp_chan_recv(sp_chan *c, void *elem);       /* 0, SP_ECLOSED, SP_ECANCELED, SP_ETIMEDOUT, SP_ESHUTDOWN */
int sp_chan_try_send(sp_chan *c, const void *elem); /* 0, SP_EAGAIN, SP_ECLOSED */
int sp_chan_try_recv(sp_chan *c, void *elem);       /* 0, SP_EAGAIN, SP_ECLOSED */

/* Closes c; idempotent. */
void sp_chan_close(sp_chan *c);

size_t sp_chan_len(sp_chan *c); /* elements buffered now */
size_t sp_chan_cap(const sp_chan *c);

#ifdef __cplusplus
}
#endif
#endif
