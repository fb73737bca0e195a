/*
 * links.h - link extraction from HTML with a real parser (gumbo, HTML5).
 */
#ifndef SPINDLE_CRAWL_LINKS_H
#define SPINDLE_CRAWL_LINKS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct crawl_links {
  char **urls;        /* absolute URLs, resolved against the base, no fragment, in document order, duplicates removed */
  size_t n;
  bool noindex;       /* <meta name="robots"> (or name="spindle"-like agent) says noindex */
  bool nofollow;      /* ... says nofollow: urls is then empty */
  char *base;         /* the base URL used (the first <base href>, else the page URL) */
} crawl_links;

/* Extracts the links of a, area, link, frame and iframe elements (href, or
 * src for frames) from html (len bytes, any content: garbage never crashes),
 * resolved against the first <base href> or else page_url.  Skips
 * rel="nofollow" links and references that are not http(s) (see
 * crawl_url_resolve).  agent: the crawler's product token, for
 * <meta name="AGENT"> robots directives besides name="robots".
 * Returns 0, or < 0 out of memory.
 *
 * Details:
 *  - <link> counts only with a rel of alternate, next, prev, previous or
 *    canonical (other pages), never with stylesheet; icons, preloads,
 *    manifests and the like are resources, not pages.  <a> counts in SVG
 *    too; the rest only as HTML elements (a <frame> only in a frameset).
 *  - rel is a space-separated token list compared ASCII case-insensitively;
 *    "nofollow" in it skips the element.
 *  - Only the first <base> with an href sets the base (HTML); if that href
 *    is not a usable http(s) URL, the page URL is the base.
 *  - <meta name="robots"> and <meta name="AGENT"> (AGENT: agent's product
 *    token, before any '/' or space; names and values case-insensitive)
 *    with content tokens (split at commas and whitespace) "noindex",
 *    "nofollow" or "none" (both) set noindex and nofollow; with nofollow,
 *    no URLs are returned.
 *  - URLs are deduplicated by exact string, in document order, at most
 *    100,000 per page.
 *  - Before parsing, text is shrunk to what the tree builder looks at
 *    (per run: one whitespace byte, one other), and past 512 open elements
 *    in the body the parser gets only the link, base and meta elements
 *    (gumbo's tree builder is quadratic in depth): the links are the same
 *    as those of the page parsed as it is.  A page that has a table,
 *    select, template, <svg> or <math> (or a frameset that could replace
 *    the body) before or in that depth is parsed whole; a parse that takes
 *    over 2 s of CPU time or 1 GiB of memory is abandoned.
 * Errors: -ENOMEM; -ETIMEDOUT for a parse abandoned for time; -EPROTO when
 * gumbo failed one of its own assertions on the page (the parse is
 * abandoned, not the process; glibc still prints the assertion); -EINVAL
 * for a NULL out or page_url.  On error *out is empty (nothing to free). */
int crawl_links_extract(const char *html, size_t len, const char *page_url, const char *agent, crawl_links *out);
/* crawl_links_extract with gumbo given html exactly as it is: no text
 * shrinking and no nesting cap (so no defence against deep nesting).  The
 * reference the prefilter is tested against; the crawler never uses it. */
int crawl_links_extract_exact(const char *html, size_t len, const char *page_url, const char *agent,
                              crawl_links *out);
void crawl_links_free(crawl_links *l);
/* For tests: the nesting depth at which the prefilter stops following the
 * page's tree (default and maximum 512; 0 restores the default).  Not
 * thread-safe: set it before extracting. */
void crawl_links_set_depth_cap(size_t cap);

#endif
