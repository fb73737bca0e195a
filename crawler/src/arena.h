/*
 * arena.h - one gumbo parse within a budget, in memory that goes at once.
 *
 * gumbo (0.10.1) trusts its input in three ways that a crawler cannot, and
 * the prefilter (prefilter.h) takes none of them away:
 *  - time and memory: what the prefilter's approximate depth estimate
 *    misses, a budget catches: gumbo allocates through the arena, which
 *    checks the thread's CPU time and the memory in use and, past
 *    PARSE_CPU_NS (2 s) or PARSE_MEM_BYTES (1 GiB), longjmps out of the
 *    parse and frees everything gumbo allocated (gumbo keeps no state
 *    elsewhere).  The same path handles malloc failure, which gumbo does
 *    not check;
 *  - it records every parse error with a copy of the open-element stack,
 *    which exhausts memory on deep garbage (100,000 unclosed <div> are
 *    killed for memory): the parse runs with max_errors = 0;
 *  - Debian builds it with assertions, and some markup fails one, which
 *    would abort the process: a SIGABRT handler leaves the parse instead
 *    (arena.c, parse()).
 * The tree is freed with the arena, not gumbo_destroy_output, whose
 * recursion would follow the tree's depth on a task's small stack.
 *
 * The contract: after crawl_arena_parse, whatever it returned, the arena
 * holds every byte gumbo allocated, the tree included, until
 * crawl_arena_release frees them all; nothing of a parse outlives that.
 * An arena is one thread's, for one parse; any number of threads may parse
 * at once, each in its own.  The first parse in the process installs a
 * SIGABRT handler, once: on a thread inside a parse it leaves the parse;
 * elsewhere it restores the disposition that was there before and aborts
 * as usual.
 */
#ifndef SPINDLE_CRAWL_ARENA_H
#define SPINDLE_CRAWL_ARENA_H

#include <gumbo.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* A large block's header, just before the block (arena.c).  pad keeps the
 * block as aligned as malloc's: the header is four words. */
typedef struct crawl_arena_big {
  struct crawl_arena_big *prev, *next;
  size_t pad;
  size_t tag; /* just before the block, as for small ones */
} crawl_arena_big;

typedef struct crawl_arena_chunk crawl_arena_chunk;

/* The fields are arena.c's; callers only place an arena (on their stack). */
typedef struct crawl_arena {
  crawl_arena_big head;      /* circular list of large blocks */
  crawl_arena_chunk *chunks; /* the current one first */
  size_t live, allocs;       /* bytes held: chunks whole, large blocks while live */
  uint64_t cpu_start;        /* 0 until the first check: most pages never make one */
  sigjmp_buf *bail;
  int why; /* the error longjmp'd with */
} crawl_arena;

/* Parses html[0..len) with gumbo in a (set up here, whatever it held).
 * 0 with *out the tree; or *out NULL and -ENOMEM (out of memory, or past
 * the memory budget), -ETIMEDOUT (past the CPU budget) or -EPROTO (gumbo
 * failed one of its own assertions; glibc still prints it).  Either way,
 * crawl_arena_release(a) after.  html must live as long as the tree: its
 * nodes point into it (original_text, original_value). */
int crawl_arena_parse(crawl_arena *a, const char *html, size_t len, GumboOutput **out);

/* Frees all that a parse left: the tree and anything an abandoned parse
 * held. */
void crawl_arena_release(crawl_arena *a);

#endif
