/* test_channel.c - bounded MPMC channels: rendezvous, FIFO, close, contention. */
#define _GNU_SOURCE
#define SPT_RUN_LIMIT_S 20
#include "spt_internal.h"

/* ------------------------------------------------------- rendezvous */

static atomic_ullong rv_send_done_at;
static void *rv_sender(void *arg) {
  sp_chan *c = arg;
  int v = 42;
  CHECK_RC(sp_chan_send(c, &v), 0);
  atomic_store(&rv_send_done_at, sp_now_ns());
  return NULL;
}

static atomic_ullong rv_recv_done_at;
static atomic_int rv_recv_val;
static void *rv_receiver(void *arg) {
  sp_chan *c = arg;
  int v = 0;
  CHECK_RC(sp_chan_recv(c, &v), 0);
  atomic_store(&rv_recv_done_at, sp_now_ns());
  atomic_store(&rv_recv_val, v);
  return NULL;
}

static void *main_rendezvous(void *arg) {
  (void)arg;
  sp_chan *c = NULL;
  CHECK_RC(sp_chan_new(&c, sizeof(int), 0), 0);
  CHECK_EQ(sp_chan_cap(c), 0);
  int v = 1;
  CHECK_RC(sp_chan_try_send(c, &v), SP_EAGAIN); /* nobody receiving */
  CHECK_RC(sp_chan_try_recv(c, &v), SP_EAGAIN); /* nobody sending */

  /* send blocks until a receiver takes the element */
  sp_task *s = SPAWN(rv_sender, c);
  CHECK_PARKED(&s, 1, "the sender on a channel nobody receives from");
  CHECKF(atomic_load(&rv_send_done_at) == 0, "unbuffered send completed with no receiver");
  CHECK_EQ(sp_chan_len(c), 0);
  uint64_t before_recv = sp_now_ns();
  v = 0;
  CHECK_RC(sp_chan_recv(c, &v), 0);
  CHECK_EQ(v, 42);
  CHECK_SOON(atomic_load(&rv_send_done_at) != 0, "the sender parked on a rendezvous channel was not woken when its "
             "element was received");
  spt_join_soon(s, "the parked sender, once its element was received,");
  CHECKF(atomic_load(&rv_send_done_at) >= before_recv, "send finished %.3f ms before the recv started",
         (before_recv - atomic_load(&rv_send_done_at)) / 1e6);

  /* recv blocks until a sender comes */
  sp_task *r = SPAWN(rv_receiver, c);
  CHECK_PARKED(&r, 1, "the receiver on a channel nobody sends on");
  CHECK_EQ(atomic_load(&rv_recv_done_at), 0);
  uint64_t before_send = sp_now_ns();
  v = 99;
  CHECK_RC(sp_chan_send(c, &v), 0);
  CHECK_SOON(atomic_load(&rv_recv_done_at) != 0, "the receiver parked on a rendezvous channel was not woken when an "
             "element was sent to it");
  spt_join_soon(r, "the parked receiver, once sent to,");
  CHECK_EQ(atomic_load(&rv_recv_val), 99);
  CHECK(atomic_load(&rv_recv_done_at) >= before_send);

  /* a parked receiver makes try_send succeed */
  atomic_store(&rv_recv_done_at, 0);
  r = SPAWN(rv_receiver, c);
  CHECK_PARKED(&r, 1, "the receiver on a channel nobody sends on");
  v = 5;
  CHECK_RC(sp_chan_try_send(c, &v), 0);
  spt_join_soon(r, "the parked receiver, once try_send handed it an element,");
  CHECK_EQ(atomic_load(&rv_recv_val), 5);
  /* a parked sender makes try_recv succeed */
  atomic_store(&rv_send_done_at, 0);
  s = SPAWN(rv_sender, c);
  CHECK_PARKED(&s, 1, "the sender on a channel nobody receives from");
  v = 0;
  CHECK_RC(sp_chan_try_recv(c, &v), 0);
  CHECK_EQ(v, 42);
  spt_join_soon(s, "the parked sender, once try_recv took its element,");
  sp_chan_free(c);
  return NULL;
}

/* Capacity 0: send completes only once a receiver takes the element, and vice versa. */
Test(channel, unbuffered_rendezvous, .timeout = 30) {
  spt_run(2, main_rendezvous, NULL);
  atomic_store(&rv_send_done_at, 0);
  atomic_store(&rv_recv_done_at, 0);
  spt_run(1, main_rendezvous, NULL);
}

/* -------------------------------------------------------- buffered */

typedef struct elem24 {
  uint64_t seq;
  uint64_t check;
  char tag[8];
} elem24;

static void *fifo_producer(void *arg) {
  sp_chan *c = arg;
  int n = 100 * scale();
  for (int i = 0; i < n; i++) {
    elem24 e = {(uint64_t)i, ~(uint64_t)i * 2654435761u, "abcdefg"};
    CHECK_RC(sp_chan_send(c, &e), 0);
  }
  return NULL;
}

static void *main_fifo(void *arg) {
  (void)arg;
  sp_chan *c = NULL;
  CHECK_RC(sp_chan_new(&c, sizeof(elem24), 16), 0);
  CHECK_EQ(sp_chan_cap(c), 16);
  CHECK_EQ(sp_chan_len(c), 0);
  /* buffered sends do not wait for a receiver */
  for (int i = 0; i < 3; i++) {
    elem24 e = {(uint64_t)(1000 + i), 0, "x"};
    CHECK_RC(sp_chan_send(c, &e), 0);
  }
  CHECK_EQ(sp_chan_len(c), 3);
  for (int i = 0; i < 3; i++) {
    elem24 e;
    memset(&e, 0, sizeof e);
    CHECK_RC(sp_chan_recv(c, &e), 0);
    CHECK_EQ(e.seq, 1000 + i);
  }
  CHECK_EQ(sp_chan_len(c), 0);
  /* a producer task and this consumer: strict FIFO, all 24 bytes copied */
  sp_task *p = SPAWN(fifo_producer, c);
  int n = 100 * scale();
  for (int i = 0; i < n; i++) {
    elem24 e;
    memset(&e, 0xee, sizeof e);
    sp_deadline d;
    sp_deadline_push(&d, spt_patience_ns());
    int rc = sp_chan_recv(c, &e);
    sp_deadline_pop(&d);
    CHECKF(rc == 0, "element %d of %d: sp_chan_recv returned %d (%s)", i, n, rc, sp_strerror(rc));
    if (rc != 0) break;
    CHECKF(e.seq == (uint64_t)i, "element %d came out as %llu", i, (unsigned long long)e.seq);
    CHECK(e.check == ~(uint64_t)i * 2654435761u);
    CHECK(strcmp(e.tag, "abcdefg") == 0);
    if (i % 37 == 0) CHECK_RC(sp_sleep(US(100)), 0); /* let the buffer fill up */
  }
  spt_join_soon(p, "the producer");
  sp_chan_free(c);
  return NULL;
}

/* A buffered channel delivers elements in FIFO order and copies them whole. */
Test(channel, buffered_fifo, .timeout = 30) { spt_run(2, main_fifo, NULL); }

static void *main_try(void *arg) {
  (void)arg;
  sp_chan *c = NULL;
  CHECK_RC(sp_chan_new(&c, sizeof(int), 2), 0);
  int a = 1, b = 2, x = 3, v = 0;
  CHECK_RC(sp_chan_try_send(c, &a), 0);
  CHECK_RC(sp_chan_try_send(c, &b), 0);
  CHECK_RC(sp_chan_try_send(c, &x), SP_EAGAIN);
  CHECK_EQ(sp_chan_len(c), 2);
  CHECK_RC(sp_chan_try_recv(c, &v), 0);
  CHECK_EQ(v, 1);
  CHECK_RC(sp_chan_try_recv(c, &v), 0);
  CHECK_EQ(v, 2);
  v = -5;
  CHECK_RC(sp_chan_try_recv(c, &v), SP_EAGAIN);
  sp_chan_free(c);
  return NULL;
}

/* try_send on a full channel and try_recv on an empty one return SP_EAGAIN. */
Test(channel, try_ops_eagain, .timeout = 30) { spt_run(1, main_try, NULL); }

/* ------------------------------------------------------------ close */

static void *main_close_drain(void *arg) {
  (void)arg;
  sp_chan *c = NULL;
  CHECK_RC(sp_chan_new(&c, sizeof(int), 4), 0);
  int a = 10, b = 20, v = 0;
  CHECK_RC(sp_chan_send(c, &a), 0);
  CHECK_RC(sp_chan_send(c, &b), 0);
  sp_chan_close(c);
  CHECK_RC(sp_chan_send(c, &a), SP_ECLOSED);
  CHECK_RC(sp_chan_try_send(c, &a), SP_ECLOSED);
  CHECK_RC(sp_chan_recv(c, &v), 0);
  CHECK_EQ(v, 10);
  CHECK_RC(sp_chan_try_recv(c, &v), 0);
  CHECK_EQ(v, 20);
  CHECK_RC(sp_chan_recv(c, &v), SP_ECLOSED);
  CHECK_RC(sp_chan_try_recv(c, &v), SP_ECLOSED);
  sp_chan_close(c); /* idempotent */
  CHECK_RC(sp_chan_recv(c, &v), SP_ECLOSED);
  sp_chan_free(c);
  return NULL;
}

/* After close: sends fail SP_ECLOSED, receivers drain the buffer, then get SP_ECLOSED. */
Test(channel, close_drain, .timeout = 30) { spt_run(1, main_close_drain, NULL); }

static atomic_int closed_wakes;
static atomic_int other_rc;
static void *parked_recv(void *arg) {
  int v;
  int rc = sp_chan_recv((sp_chan *)arg, &v);
  if (rc == SP_ECLOSED) atomic_fetch_add(&closed_wakes, 1);
  else atomic_store(&other_rc, rc == 0 ? 1 : rc);
  return NULL;
}
static void *parked_send(void *arg) {
  int v = 1;
  int rc = sp_chan_send((sp_chan *)arg, &v);
  if (rc == SP_ECLOSED) atomic_fetch_add(&closed_wakes, 1);
  else atomic_store(&other_rc, rc == 0 ? 1 : rc);
  return NULL;
}

static void *main_close_wakes(void *arg) {
  (void)arg;
  enum { N = 10 };
  for (size_t cap = 0; cap <= 1; cap++) {
    /* receivers parked on an empty channel */
    sp_chan *c = NULL;
    CHECK_RC(sp_chan_new(&c, sizeof(int), cap), 0);
    atomic_store(&closed_wakes, 0);
    sp_task *ts[N];
    for (int i = 0; i < N; i++) ts[i] = SPAWN(parked_recv, c);
    CHECK_PARKED(ts, N, "receivers on an empty channel");
    CHECK_EQ(atomic_load(&closed_wakes), 0);
    sp_chan_close(c);
    /* Counted before joining: a joiner runs a runnable task itself, so a
     * woken task that was lost on its way to a queue would still end. */
    CHECK_SOON(atomic_load(&closed_wakes) == N,
               "channel close (capacity %zu) did not wake the %d receivers parked on it: %d woke", cap, N,
               atomic_load(&closed_wakes));
    /* one that close did not wake stays parked until the gather gives up and cancels it */
    spt_gather_soon(ts, N, NULL, "receivers after the close");
    sp_chan_free(c);

    /* senders parked on a full (or rendezvous) channel */
    CHECK_RC(sp_chan_new(&c, sizeof(int), cap), 0);
    int v = 0;
    if (cap == 1) CHECK_RC(sp_chan_try_send(c, &v), 0);
    atomic_store(&closed_wakes, 0);
    for (int i = 0; i < N; i++) ts[i] = SPAWN(parked_send, c);
    CHECK_PARKED(ts, N, "senders on a full channel");
    CHECK_EQ(atomic_load(&closed_wakes), 0);
    sp_chan_close(c);
    CHECK_SOON(atomic_load(&closed_wakes) == N,
               "channel close (capacity %zu) did not wake the %d senders parked on it: %d woke", cap, N,
               atomic_load(&closed_wakes));
    spt_gather_soon(ts, N, NULL, "senders after the close");
    if (cap == 1) {
      /* the element buffered before the close is still delivered */
      CHECK_RC(sp_chan_try_recv(c, &v), 0);
      CHECK_RC(sp_chan_try_recv(c, &v), SP_ECLOSED);
    }
    sp_chan_free(c);
    int other = atomic_load(&other_rc);
    CHECKF(other == 0, "a parked party ended otherwise than with SP_ECLOSED: %d (%s)", other, sp_strerror(other));
    atomic_store(&other_rc, 0);
  }
  return NULL;
}

/* Closing wakes every parked receiver and sender with SP_ECLOSED (capacity 0 and 1). */
Test(channel, close_wakes_parked, .timeout = 30) { spt_run(2, main_close_wakes, NULL); }

/* ------------------------------------------------------- elem_size */

static void *main_elem_size(void *arg) {
  (void)arg;
  sp_chan *c = NULL;
  CHECK_RC(sp_chan_new(&c, 0, 4), SP_EINVAL);
  CHECK_RC(sp_chan_new(&c, 65537, 4), SP_EINVAL);
  c = NULL;
  CHECK_RC(sp_chan_new(&c, 1, 4), 0);
  CHECK(c != NULL);
  if (c) {
    unsigned char b = 0xab, r = 0;
    CHECK_RC(sp_chan_send(c, &b), 0);
    CHECK_RC(sp_chan_recv(c, &r), 0);
    CHECK_EQ(r, 0xab);
    sp_chan_free(c);
  }
  c = NULL;
  CHECK_RC(sp_chan_new(&c, 65536, 2), 0);
  CHECK(c != NULL);
  if (c) {
    unsigned char *in = malloc(65536), *out = calloc(1, 65536);
    for (int i = 0; i < 65536; i++) in[i] = (unsigned char)(i * 7 + 3);
    CHECK_RC(sp_chan_send(c, in), 0);
    CHECK_RC(sp_chan_recv(c, out), 0);
    CHECK(memcmp(in, out, 65536) == 0);
    free(in);
    free(out);
    sp_chan_free(c);
  }
  return NULL;
}

/* elem_size must be in [1, 65536]: 0 and 65537 are SP_EINVAL, the bounds work. */
Test(channel, elem_size_checks, .timeout = 30) { spt_run(1, main_elem_size, NULL); }

/* ----------------------------------------------------------- MPMC */

enum { MP_PRODUCERS = 8, MP_CONSUMERS = 8 };
static int mp_per; /* values per producer */
static atomic_uchar *mp_seen;
static atomic_llong mp_sum;
static atomic_long mp_count;
static atomic_int mp_closed; /* consumers whose loop ended with SP_ECLOSED */

static void *mp_producer(void *arg) {
  sp_chan *c = arg;
  static atomic_int next_id;
  int p = atomic_fetch_add(&next_id, 1) % MP_PRODUCERS;
  for (int i = 0; i < mp_per; i++) {
    int64_t v = (int64_t)p * mp_per + i;
    CHECK_RC(sp_chan_send(c, &v), 0);
  }
  return NULL;
}
static void *mp_consumer(void *arg) {
  sp_chan *c = arg;
  long total = (long)MP_PRODUCERS * mp_per;
  for (;;) {
    int64_t v = -1;
    int rc = sp_chan_recv(c, &v);
    if (rc == SP_ECLOSED) {
      atomic_fetch_add(&mp_closed, 1);
      break;
    }
    if (rc == SP_ECANCELED) break; /* the gather gave up on the close: reported there */
    CHECK_RC(rc, 0);
    if (rc != 0) break;
    CHECKF(v >= 0 && v < total, "received out-of-range value %lld", (long long)v);
    if (v < 0 || v >= total) continue;
    int was = atomic_fetch_add(&mp_seen[v], 1);
    CHECKF(was == 0, "value %lld received twice", (long long)v);
    atomic_fetch_add(&mp_sum, v);
    atomic_fetch_add(&mp_count, 1);
  }
  return NULL;
}

static void *main_mpmc(void *arg) {
  size_t cap = (size_t)PINT(arg);
  long total = (long)MP_PRODUCERS * mp_per;
  mp_seen = calloc((size_t)total, sizeof *mp_seen);
  sp_chan *c = NULL;
  CHECK_RC(sp_chan_new(&c, sizeof(int64_t), cap), 0);
  sp_task *prod[MP_PRODUCERS], *cons[MP_CONSUMERS];
  for (int i = 0; i < MP_CONSUMERS; i++) cons[i] = SPAWN(mp_consumer, c);
  for (int i = 0; i < MP_PRODUCERS; i++) prod[i] = SPAWN(mp_producer, c);
  atomic_store(&mp_closed, 0);
  spt_step("producers sending");
  CHECK_RC(spt_gather_soon(prod, MP_PRODUCERS, NULL, "producers sending their values"), 0);
  sp_chan_close(c);
  CHECK_SOON(atomic_load(&mp_closed) == MP_CONSUMERS,
             "channel close did not end the receive loops of the %d consumers: %d ended", MP_CONSUMERS,
             atomic_load(&mp_closed));
  spt_gather_soon(cons, MP_CONSUMERS, NULL, "consumers after the close");
  CHECK_EQ(atomic_load(&mp_count), total);
  CHECK_EQ(atomic_load(&mp_sum), (long long)total * (total - 1) / 2);
  long missing = 0;
  for (long v = 0; v < total; v++)
    if (atomic_load(&mp_seen[v]) != 1) missing++;
  CHECKF(missing == 0, "%ld values not received exactly once", missing);
  sp_chan_free(c);
  free(mp_seen);
  return NULL;
}

static void run_mpmc(size_t cap) {
  mp_per = 500 * scale();
  spt_run(4, main_mpmc, IPTR(cap));
}

/* 8 producers x 8 consumers on 4 workers, capacity 1: every value exactly once. */
Test(channel, mpmc_cap1, .timeout = 120) { run_mpmc(1); }
/* 8 producers x 8 consumers on 4 workers, capacity 16: every value exactly once. */
Test(channel, mpmc_cap16, .timeout = 120) { run_mpmc(16); }
/* 8 producers x 8 consumers on 4 workers, rendezvous: every value exactly once. */
Test(channel, mpmc_cap0, .timeout = 120) { run_mpmc(0); }

/* ------------------------------------------------ foreign threads */

static void *foreign_sender(void *arg) {
  sp_chan *c = arg;
  int n = 100 * scale();
  for (int i = 0; i < n; i++) CHECK_RC(sp_chan_send(c, &i), 0);
  sp_chan_close(c);
  return NULL;
}
static void *foreign_receiver(void *arg) {
  sp_chan *c = arg;
  int n = 100 * scale();
  for (int i = 0; i < n; i++) {
    int v = -1;
    CHECK_RC(sp_chan_recv(c, &v), 0);
    CHECK_EQ(v, i);
  }
  int v;
  CHECK_RC(sp_chan_recv(c, &v), SP_ECLOSED);
  return NULL;
}

static void *main_foreign(void *arg) {
  (void)arg;
  int n = 100 * scale();
  for (size_t cap = 0; cap <= 4; cap += 4) {
    /* a plain thread sends, this task receives */
    sp_chan *c = NULL;
    CHECK_RC(sp_chan_new(&c, sizeof(int), cap), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_sender, c), 0);
    int got = 0, rc;
    sp_deadline d;
    sp_deadline_push(&d, spt_patience_ns());
    for (;;) {
      int v = -1;
      if ((rc = sp_chan_recv(c, &v)) != 0) break;
      CHECK_EQ(v, got);
      got++;
    }
    sp_deadline_pop(&d);
    CHECKF(rc == SP_ECLOSED,
           "capacity %zu: a task receiving from a plain thread got %d of %d elements, then %d (%s): a send or the "
           "close did not wake it",
           cap, got, n, rc, sp_strerror(rc));
    CHECK_EQ(got, n);
    if (spt_pthread_join_within(th, NULL, spt_patience_ns()) != 0) {
      CHECKF(0, "capacity %zu: the sending thread did not end within %.0f s", cap, spt_patience_s());
      return NULL; /* it may still use the channel: leave it */
    }
    sp_chan_free(c);

    /* this task sends, a plain thread receives */
    CHECK_RC(sp_chan_new(&c, sizeof(int), cap), 0);
    CHECK_EQ(pthread_create(&th, NULL, foreign_receiver, c), 0);
    sp_deadline_push(&d, spt_patience_ns());
    int i;
    for (i = 0, rc = 0; i < n && rc == 0; i++) rc = sp_chan_send(c, &i);
    sp_deadline_pop(&d);
    CHECKF(rc == 0, "capacity %zu: a task sending to a plain thread stopped at element %d of %d: %d (%s); a "
           "receive did not wake it",
           cap, i - 1, n, rc, sp_strerror(rc));
    sp_chan_close(c);
    if (spt_pthread_join_within(th, NULL, spt_patience_ns()) != 0) {
      CHECKF(0, "capacity %zu: the receiving thread did not end within %.0f s", cap, spt_patience_s());
      return NULL;
    }
    sp_chan_free(c);
  }
  return NULL;
}

/* A channel works between a task and a plain pthread, both directions, capacity 0 and 4. */
Test(channel, foreign_thread, .timeout = 60) { spt_run(2, main_foreign, NULL); }
