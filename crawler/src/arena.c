/*
 * arena.c - gumbo's allocator: a budgeted arena, and the parse that runs
 * in it (the contract and gumbo's weaknesses it answers: arena.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arena.h"
#include "spares.h"

#include <errno.h>
#include <gumbo.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARSE_CPU_NS (2ull * 1000000000ull)    /* CPU time one parse may take */
#define PARSE_MEM_BYTES ((size_t)1 << 30)      /* memory one parse may hold */
#define BUDGET_CHECK_EVERY 1024                /* allocations between CPU time checks */

/*
 * Small blocks (most of what gumbo asks for: nodes, attributes, short
 * strings) are carved from 64 KiB chunks and never freed one by one: the
 * whole parse's chunks go at once when it ends, which costs far less than
 * a malloc and a free each.  Larger blocks are malloc'd and linked into a
 * list, so that an aborted parse can free them too.  Every block has a tag
 * word just before it: its size, with SMALL_BIT for chunk blocks.
 */
#define SMALL_MAX 256
#define CHUNK_BYTES 65536
#define SMALL_BIT ((size_t)1 << (sizeof(size_t) * 8 - 1))

typedef crawl_arena arena;
typedef crawl_arena_big big; /* the header of a large block (arena.h) */

typedef struct crawl_arena_chunk {
  struct crawl_arena_chunk *next;
  size_t used;
  max_align_t data[];
} chunk;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _Noreturn void arena_bail(arena *a, int why) {
  a->why = why;
  siglongjmp(*a->bail, 1);
}

/* Parse chunks, kept between parses (see spares.h). */
static crawl_spares spare_chunks;

static chunk *chunk_new(void) {
  chunk *c = crawl_spare_take(&spare_chunks);
  return c ? c : malloc(CHUNK_BYTES);
}

static void chunk_free(chunk *c) {
  if (!crawl_spare_keep(&spare_chunks, c)) free(c);
}

static void *small_alloc(arena *a, size_t size) {
  size_t need = sizeof(max_align_t) + ((size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1));
  chunk *c = a->chunks;
  if (!c || c->used + need > CHUNK_BYTES - sizeof(chunk)) {
    if (CHUNK_BYTES > PARSE_MEM_BYTES - a->live) arena_bail(a, -ENOMEM);
    c = chunk_new();
    if (!c) arena_bail(a, -ENOMEM);
    c->next = a->chunks;
    c->used = 0;
    a->chunks = c;
    a->live += CHUNK_BYTES;
  }
  char *p = (char *)c->data + c->used + sizeof(max_align_t);
  c->used += need;
  ((size_t *)p)[-1] = size | SMALL_BIT;
  return p;
}

static void *arena_alloc(void *ud, size_t size) {
  arena *a = ud;
  /* The thread's CPU clock is a system call, not a vDSO read: it is read
   * only every BUDGET_CHECK_EVERY allocations, from the first of which the
   * budget runs. */
  if (++a->allocs % BUDGET_CHECK_EVERY == 0) {
    uint64_t now = thread_cpu_ns();
    if (!a->cpu_start) a->cpu_start = now;
    else if (now - a->cpu_start > PARSE_CPU_NS) arena_bail(a, -ETIMEDOUT);
  }
  if (size <= SMALL_MAX) return small_alloc(a, size);
  if (size > PARSE_MEM_BYTES - a->live) arena_bail(a, -ENOMEM);
  big *b = malloc(sizeof *b + size);
  if (!b) arena_bail(a, -ENOMEM);
  b->tag = size;
  b->prev = &a->head;
  b->next = a->head.next;
  b->next->prev = b;
  a->head.next = b;
  a->live += size;
  return b + 1;
}

static void arena_free(void *ud, void *p) {
  if (!p || (((size_t *)p)[-1] & SMALL_BIT)) return; /* small: freed with its chunk */
  arena *a = ud;
  big *b = (big *)p - 1;
  b->prev->next = b->next;
  b->next->prev = b->prev;
  a->live -= b->tag;
  free(b);
}

static void arena_init(arena *a) {
  memset(a, 0, sizeof *a);
  a->head.prev = a->head.next = &a->head;
}

/* Frees all that is left: the tree and anything an aborted parse held. */
void crawl_arena_release(crawl_arena *a) {
  for (big *b = a->head.next, *next; b != &a->head; b = next) {
    next = b->next;
    free(b);
  }
  a->head.prev = a->head.next = &a->head;
  for (chunk *c = a->chunks, *next; c; c = next) {
    next = c->next;
    chunk_free(c);
  }
  a->chunks = NULL;
  a->live = 0;
}

/*
 * Debian's gumbo is built with assertions, and some hostile markup trips
 * one (<table><math><select><mi><select><td>: parser.c:714), which would
 * abort the whole crawl.  The parse runs with a SIGABRT handler that, on
 * the thread in the parse, jumps back out of it: gumbo keeps no state
 * outside the arena, which frees it all.  glibc's abort() allows this (it
 * releases its lock before raising, for handlers that do not return), and
 * SA_NODEFER leaves SIGABRT unblocked after the jump.  Elsewhere the handler
 * restores what was there before and aborts as usual.
 */
static _Thread_local arena *parsing;
static struct sigaction abort_before;
static pthread_once_t abort_once = PTHREAD_ONCE_INIT;

static void on_abort(int sig) {
  arena *a = parsing;
  if (a) {
    parsing = NULL;
    a->why = -EPROTO;
    siglongjmp(*a->bail, 1);
  }
  sigaction(sig, &abort_before, NULL);
  raise(sig);
}

static void install_abort_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_abort;
  sa.sa_flags = SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGABRT, &sa, &abort_before);
}

/* Parses html within the budget: the output, or NULL and a->why. */
static GumboOutput *parse(arena *a, const char *html, size_t len) {
  pthread_once(&abort_once, install_abort_handler);
  sigjmp_buf bail; /* no signal mask saved: that would be a system call per page */
  a->bail = &bail;
  if (sigsetjmp(bail, 0)) {
    parsing = NULL;
    return NULL;
  }
  GumboOptions o = kGumboDefaultOptions;
  o.allocator = arena_alloc;
  o.deallocator = arena_free;
  o.userdata = a;
  o.max_errors = 0;
  parsing = a;
  GumboOutput *g = gumbo_parse_with_options(&o, html, len);
  parsing = NULL;
  return g;
}

int crawl_arena_parse(crawl_arena *a, const char *html, size_t len, GumboOutput **out) {
  arena_init(a);
  *out = parse(a, html, len);
  return *out ? 0 : a->why;
}
