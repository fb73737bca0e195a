/*
 * robots.h - robots.txt (RFC 9309) parsing and matching.
 *
 * A parsed file keeps only the group that applies to one product token (the
 * crawler's user-agent name): the group(s) naming it (case-insensitive; all
 * groups naming it are merged), else the "*" group(s), else nothing (all
 * allowed).  Matching uses the longest matching rule; on a tie, allow wins;
 * "*" matches any sequence and a trailing "$" anchors the end.  Paths are
 * compared after percent-encoding normalisation (RFC 9309 2.2.2).
 */
#ifndef SPINDLE_CRAWL_ROBOTS_H
#define SPINDLE_CRAWL_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct crawl_robots crawl_robots;

/* The length of the product token a User-Agent starts with, as RFC 9309
 * 2.2.1 defines it: its leading letters, '-' and '_' ("spindle/0.1 (+x)":
 * "spindle"; "Bot2/1.0": "Bot"), 0 if none.  The one definition of the
 * crawler's name: robots.txt groups and <meta name> robots directives are
 * matched against it. */
size_t crawl_robots_token_len(const char *user_agent);

/* Parses body (len bytes, need not be NUL-terminated, may hold anything) for
 * the product token agent (e.g. "spindle"; only its leading [A-Za-z_-] part
 * counts, so "spindle/0.1 (+url)" is "spindle").  Only the first 500 KiB are
 * read (RFC 9309 2.5), up to the last line end within them.  Never fails but
 * for memory: NULL then. */
crawl_robots *crawl_robots_parse(const char *body, size_t len, const char *agent);
/* Rules for an unavailable robots.txt: 4xx allows all, 5xx or unreachable
 * disallows all (RFC 9309 2.3.1). */
crawl_robots *crawl_robots_allow_all(void);
crawl_robots *crawl_robots_disallow_all(void);
/* Whether path (path plus query, starting with '/', as in the URL; NULL or
 * "" is "/") may be fetched.  "/robots.txt" is always allowed.  r NULL
 * allows all; false also when a long path cannot be normalised for lack of
 * memory. */
bool crawl_robots_allowed(const crawl_robots *r, const char *path);
/* The group's Crawl-delay in seconds (the largest, when several groups
 * merged), or -1 if none.  Not part of RFC 9309, but honoured. */
double crawl_robots_crawl_delay(const crawl_robots *r);
void crawl_robots_free(crawl_robots *r);

#endif
