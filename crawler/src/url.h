/*
 * url.h - URL resolution and normalisation for the crawler, on libcurl's URL
 * API (curl_url).  The URL fetched is the one found (resolved against its
 * page); the normalised form is only the dedupe key.
 */
#ifndef SPINDLE_CRAWL_URL_H
#define SPINDLE_CRAWL_URL_H

#include <stdbool.h>
#include <stddef.h>

/* The longest URL handled, in bytes once made valid (trimmed, fragment cut,
 * invalid bytes percent-encoded): servers commonly refuse longer request
 * lines, and a page's attributes can be megabytes long. */
#define CRAWL_URL_MAX 8192

/* Resolves ref (as found in a page: relative or absolute, surrounding
 * whitespace trimmed) against base.  Returns 0 and a malloc'd absolute
 * http(s) URL without its fragment in *out; 1 when the reference is not one
 * to crawl (javascript:, mailto:, data:, tel:, ftp:, any non-http(s) scheme,
 * empty or fragment-only); a negative code for a malformed URL.
 *
 * The URL is the one found, made valid the way browsers read pages: C0
 * controls and spaces around it trimmed, tabs and newlines in it removed,
 * '\' before the query read as '/', bytes never valid in a URI (controls,
 * space, non-ASCII, " < > \ ^ ` { | }) and a '%' that starts no escape
 * percent-encoded in path and query; escapes found are kept as they are.
 * "http:g" against an http base is relative (RFC 3986 5.2.2, non-strict).
 * base may be NULL for an absolute ref.  Errors: -EINVAL (malformed, or
 * longer than CRAWL_URL_MAX), -ENOMEM. */
int crawl_url_resolve(const char *base, const char *ref, char **out);

/* A base URL parsed once, for resolving many references against it (a
 * page's links): crawl_url_resolve_at(b, ref, out) gives what
 * crawl_url_resolve(base, ref, out) does.  parse: 0, -EINVAL (malformed),
 * -ENOMEM.  resolve_at: b may be NULL (no base); returns as
 * crawl_url_resolve. */
typedef struct crawl_url_base crawl_url_base;
int crawl_url_base_parse(const char *base, crawl_url_base **out);
int crawl_url_resolve_at(const crawl_url_base *b, const char *ref, char **out);
void crawl_url_base_free(crawl_url_base *b);
/* For tests: false sends every URL through curl's parser, the reference
 * the direct paths are checked against (resolving a relative reference
 * against a plain base, an absolute one with a plain host, and the key of
 * such a URL are done without curl: see url.c). */
void crawl_url_set_direct(bool on);

/* The dedupe key of an absolute http(s) URL: scheme and host lower-cased,
 * default port dropped, dot segments removed, empty path as "/",
 * percent-encoding hex upper-cased and unreserved characters decoded, the
 * fragment dropped; the query kept as is.  0 and a malloc'd key, or < 0.
 * Also: a trailing dot of the host dropped, IDN hosts kept as given (ASCII
 * lower-cased only), the query's escapes normalised as the path's, the
 * user info kept; url is made valid first as by crawl_url_resolve, so a URL
 * as found and the one resolved from it have the same key.  -EINVAL for a
 * relative or non-http(s) URL. */
int crawl_url_normalize(const char *url, char **key);

/* The parts of an absolute URL: malloc'd lower-case scheme and host (IPv6
 * without brackets), the port (the scheme's default when absent) and the
 * path plus query ("/" at least).  Any out pointer may be NULL.
 * The host loses a trailing dot, as in the key; the path is as in the URL
 * resolved (made valid, dot segments removed, escapes as found).  0, or
 * -EINVAL (not an absolute http(s) URL), -ENOMEM. */
int crawl_url_split(const char *url, char **scheme, char **host, int *port, char **path);

/* The scheme, host (IPv6 without its brackets) and port of a key as
 * crawl_url_normalize makes it ("scheme://host[:port]/...", lower-case
 * host, no default port), into the buffers; false if it is not one or a
 * part does not fit.  No allocation, no second parse. */
bool crawl_url_key_parts(const char *key, char *scheme, size_t ns, char *host, size_t nh, int *port);

/* Whether host equals domain or is a subdomain of it (case-insensitive,
 * on label boundaries: "a.example.com" is in "example.com",
 * "badexample.com" is not).  A trailing dot on either and a leading dot on
 * domain are ignored; an IP address is only in itself. */
bool crawl_host_in_domain(const char *host, const char *domain);

#endif
