/*
 * prefilter.h - the page as gumbo gets it: shorter, with the same links.
 *
 * gumbo (0.10.1) tokenises a character at a time, hundreds of instructions
 * a byte, and its tree builder scans the stack of open elements for most
 * tags, so deep nesting is quadratic (10,000 nested <div> take 0.2 s,
 * 100,000 take 20 s).  The prefilter hands it a page that builds the same
 * tree as far as links and directives are concerned: text shrunk, href and
 * src values moved out behind placeholders, and past the depth cap
 * (NEST_CAP, 512 open elements; browsers cap their DOM depth too, Chromium
 * at 512) only the elements that link or direct ("freezing", prefilter.c).
 *
 * The contract, which the tests and fuzz_links check against
 * crawl_links_extract_exact: the links and directives read from gumbo's
 * tree of crawl_prefiltered.page, with every href and src value read
 * through crawl_prefilter_value and every HTML <link> through
 * crawl_prefilter_stands_for, are those of the page parsed as it is.  The
 * depth estimate behind freezing is approximate: markup that outruns it is
 * not the prefilter's to stop; the parse's budget (arena.h) does.
 *
 * Reentrant: any number of threads may prefilter at once (their working
 * memory is never shared, see spares.h); only the depth cap is global.
 */
#ifndef SPINDLE_CRAWL_PREFILTER_H
#define SPINDLE_CRAWL_PREFILTER_H

#include <gumbo.h>
#include <stdbool.h>
#include <stddef.h>

/* A page's working memory (prefilter.c): the result lives in it. */
typedef struct crawl_prefilter_scratch crawl_prefilter_scratch;

/* What the prefilter made of a page.  A zeroed one stands for the page as
 * it is (nothing moved, never frozen): crawl_links_extract_exact reads its
 * tree through one, and releasing it does nothing. */
typedef struct crawl_prefiltered {
  const char *page; /* what gumbo parses, page[0..len); in sc */
  size_t len;
  const char *vals; /* the href and src values moved out, NUL-terminated, back to back; NULL: none moved */
  size_t vals_len;
  bool frozen;      /* past the depth cap: a <link> may stand for an <a>, <area> or <iframe> */
  crawl_prefilter_scratch *sc; /* held until crawl_prefilter_release; NULL when zeroed */
} crawl_prefiltered;

/* Prefilters html[0..len) (any bytes; the page is not kept).  0, or
 * -ENOMEM with *out zeroed. */
int crawl_prefilter(const char *html, size_t len, crawl_prefiltered *out);

/* Gives pf's working memory back for the next page, page and vals with
 * it: release after the last read of the tree, whose attributes' source
 * spans (original_value) point into page and whose placeholders stand for
 * values in vals. */
void crawl_prefilter_release(crawl_prefiltered *pf);

/* The value of a, an href or src attribute of pf's tree (only those are
 * moved), put back if the prefilter moved it out. */
const char *crawl_prefilter_value(const crawl_prefiltered *pf, const GumboAttribute *a);

/* What an HTML <link> element of pf's tree stands for: GUMBO_TAG_A,
 * GUMBO_TAG_AREA or GUMBO_TAG_IFRAME for a link element frozen into a
 * <link>, GUMBO_TAG_LINK for a <link> of the page. */
GumboTag crawl_prefilter_stands_for(const crawl_prefiltered *pf, const GumboElement *link);

/* The depth cap (default and maximum NEST_CAP; 0 restores the default),
 * for tests: see crawl_links_set_depth_cap.  Not thread-safe. */
void crawl_prefilter_set_depth_cap(size_t cap);

#endif
