/*
 * url.c - URL resolution and normalisation on libcurl's URL API.
 *
 * libcurl (7.88) parses and resolves, but it takes references as they are:
 * a space in an absolute URL is an error while the same space in a relative
 * one is encoded (and turned into '+' in a query), a backslash is kept, an
 * empty query is dropped, and a base's fragment survives a query-only
 * reference ("http://a/b#f" + "?y" gives "http://a/b#f?y").  So every
 * reference is first brought into a valid RFC 3986 form here (prepare()),
 * the way browsers read what pages contain, and only then handed to curl:
 * the URL fetched is the one found, merely made valid.  The dedupe key is
 * built from the parts curl returns (normalize()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "url.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <spindle/buf.h>

/* ------------------------------------------------------------ characters */

static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c; }

static int hex_val(unsigned char c) {
  if (is_digit(c)) return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

/* Whether libcurl may read host[0..n) as an IPv4 address in one of its
 * number forms ("127.1", "0x7f.1", "2130706433", "017700000001"): only
 * digits, hex digits, 'x' and dots. */
static bool may_be_number(const char *host, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (hex_val((unsigned char)host[i]) < 0 && (host[i] | 0x20) != 'x' && host[i] != '.') return false;
  return n > 0;
}

/* Whether host[0..n) is an IPv4 address as libcurl writes one: four
 * decimal numbers up to 255, without leading zeros. */
static bool is_dotted_quad(const char *host, size_t n) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part && (i >= n || host[i++] != '.')) return false;
    size_t start = i;
    unsigned v = 0;
    while (i < n && is_digit((unsigned char)host[i]) && i - start < 3) v = v * 10 + (unsigned)(host[i++] - '0');
    if (i == start || v > 255 || (host[start] == '0' && i - start > 1)) return false;
  }
  return i == n;
}

/* RFC 3986 2.3: the characters whose percent-encoding means nothing. */
static bool is_unreserved(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Bytes never valid in a URI (RFC 3986 2, 3.3, 3.4): controls, space,
 * non-ASCII and the excluded " < > \ ^ ` { | }.  They are percent-encoded,
 * which is what browsers send for them. */
static bool needs_encoding(unsigned char c) {
  switch (c) {
  case '"': case '<': case '>': case '\\': case '^': case '`': case '{': case '|': case '}':
    return true;
  default:
    return c <= 0x20 || c >= 0x7f;
  }
}

/* What URL parsers strip around a reference: C0 controls and space (the
 * WHATWG URL Standard; a superset of HTML's ASCII whitespace). */
static bool is_trimmed(unsigned char c) { return c <= 0x20; }

/* What the WHATWG URL Standard removes anywhere in a reference, so that
 * "java\nscript:" is still recognised as javascript:. */
static bool is_tab_or_newline(unsigned char c) { return c == '\t' || c == '\n' || c == '\r'; }

/* The length of ref's scheme (RFC 3986 3.1) without its ':', or 0. */
static size_t scheme_len(const char *ref) {
  if (!is_alpha((unsigned char)ref[0])) return 0;
  size_t i = 1;
  while (is_alpha((unsigned char)ref[i]) || is_digit((unsigned char)ref[i]) || ref[i] == '+' || ref[i] == '-' ||
         ref[i] == '.')
    i++;
  return ref[i] == ':' ? i : 0;
}

static bool is_http_scheme(const char *s, size_t n) {
  return (n == 4 && strncasecmp(s, "http", 4) == 0) || (n == 5 && strncasecmp(s, "https", 5) == 0);
}

static int default_port(const char *scheme) { return strcasecmp(scheme, "https") == 0 ? 443 : 80; }

/* ---------------------------------------------------------------- buffer */

/* URLs are built in spindle's sp_buf (no cap: lengths are checked where
 * they matter); a percent escape, and handing the string over. */
static void sb_add_pct(sp_buf *b, unsigned char c) {
  static const char hex[] = "0123456789ABCDEF";
  char e[3] = {'%', hex[c >> 4], hex[c & 15]};
  sp_buf_add(b, e, 3);
}

/* Hands the string over (never NULL on success: "" at least). */
static int sb_finish(sp_buf *b, char **out) {
  *out = sp_buf_take(b, NULL);
  return *out ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------- preparing */

/* Copies s[0..n) with tabs and newlines removed and the fragment cut. */
static void strip_noise(sp_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n && s[i] != '#'; i++)
    if (!is_tab_or_newline((unsigned char)s[i])) sp_buf_addc(b, s[i]);
}

/* Where the path starts in ref (after scheme and authority), so that the
 * authority, which curl validates and decodes itself, is left alone. */
static size_t path_start(const char *ref) {
  size_t i = scheme_len(ref);
  if (i) i++;
  if (ref[i] != '/' || ref[i + 1] != '/') return i;
  i += 2;
  while (ref[i] && ref[i] != '/' && ref[i] != '?') i++;
  return i;
}

/* Percent-encodes what is not valid in the path and query of ref, including
 * a '%' that starts no escape; escapes already there are kept as found. */
static void encode_invalid(sp_buf *b, const char *ref) {
  size_t start = path_start(ref);
  sp_buf_add(b, ref, start);
  for (const char *s = ref + start; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '%' && (hex_val((unsigned char)s[1]) < 0 || hex_val((unsigned char)s[2]) < 0))
      sb_add_pct(b, c);
    else if (needs_encoding(c))
      sb_add_pct(b, c);
    else
      sp_buf_addc(b, (char)c);
  }
}

/* Whether prepare() would change nothing in ref[0..n) but its ends: the
 * common case, which is then one scan and a copy.  Bytes that are never
 * valid, '#', '\\' and '%' (checked as an escape) send it the long way. */
static bool is_valid_as_is(const char *ref, size_t n) {
  /* 1: a byte valid as it is (not needs_encoding, not '#' or '%'); bytes
   * from 0x80 on are all 0. */
  static const unsigned char plain[256] = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,
      0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
  };
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)ref[i];
    if (plain[c]) continue;
    if (c == '%' && i + 2 < n && hex_val((unsigned char)ref[i + 1]) >= 0 && hex_val((unsigned char)ref[i + 2]) >= 0)
      i += 2;
    else
      return false;
  }
  return true;
}

/*
 * Brings a reference as found into a valid form: surrounding C0 controls
 * and spaces trimmed, tabs and newlines removed, the fragment cut, a
 * backslash before the query read as '/' (as browsers do for http), and
 * invalid bytes percent-encoded.  0 and *out (malloc'd); -EINVAL when it is
 * longer than CRAWL_URL_MAX (checked before copying: attributes can be
 * huge), -ENOMEM.
 */
static int prepare(const char *ref, char **out) {
  *out = NULL;
  size_t n = strlen(ref);
  while (n && is_trimmed((unsigned char)ref[0])) ref++, n--;
  while (n && is_trimmed((unsigned char)ref[n - 1])) n--;
  if (n > CRAWL_URL_MAX) return -EINVAL;
  if (is_valid_as_is(ref, n)) {
    *out = strndup(ref, n);
    return *out ? 0 : -ENOMEM;
  }
  sp_buf plain;
  sp_buf_init(&plain, SP_BUF_NO_MAX);
  strip_noise(&plain, ref, n);
  for (size_t i = 0; plain.data && plain.data[i] && plain.data[i] != '?'; i++)
    if (plain.data[i] == '\\') plain.data[i] = '/';
  char *s;
  int rc = sb_finish(&plain, &s);
  if (rc) return rc;
  sp_buf enc;
  sp_buf_init(&enc, SP_BUF_NO_MAX);
  encode_invalid(&enc, s);
  free(s);
  rc = sb_finish(&enc, out);
  if (!rc && enc.len > CRAWL_URL_MAX) {
    free(*out);
    *out = NULL;
    rc = -EINVAL;
  }
  return rc;
}

/* Drops the last segment and its '/' from the output, which starts at
 * base in b (5.2.4 step C). */
static void pop_segment(sp_buf *b, size_t base) {
  while (b->len > base && b->data[b->len - 1] != '/') b->len--;
  if (b->len > base) b->len--;
  if (b->data) b->data[b->len] = '\0';
}

/*
 * RFC 3986 5.2.4 remove_dot_segments on path, appended to b.  For a key,
 * curl removed them already, but the key's path is decoded first (RFC 3986
 * 6.2.2 order), and an encoded dot ("%2E%2E") is a dot once decoded.
 */
static void add_without_dots(sp_buf *b, const char *in) {
  size_t base = b->len;
  while (*in) {
    if (!strncmp(in, "../", 3)) in += 3;
    else if (!strncmp(in, "./", 2)) in += 2;
    else if (!strncmp(in, "/./", 3)) in += 2;
    else if (!strcmp(in, "/.")) in = "/";
    else if (!strncmp(in, "/../", 4) || !strcmp(in, "/..")) {
      in = in[3] ? in + 3 : "/";
      pop_segment(b, base);
    } else if (!strcmp(in, ".") || !strcmp(in, "..")) in += strlen(in);
    else {
      size_t seg = 1 + strcspn(in + 1, "/");
      if (*in != '/') seg = strcspn(in, "/");
      sp_buf_add(b, in, seg);
      in += seg;
    }
  }
}

/* ------------------------------------------------------------------ curl */

static int curl_err(CURLUcode rc) { return rc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL; }

/* A part of h as a malloc'd string; NULL in *out when the part is absent. */
static int get_part(CURLU *h, CURLUPart what, unsigned flags, char **out) {
  char *v = NULL;
  *out = NULL;
  CURLUcode rc = curl_url_get(h, what, &v, flags);
  if (rc == CURLUE_OUT_OF_MEMORY) return -ENOMEM;
  if (rc != CURLUE_OK) return 0;
  *out = strdup(v);
  curl_free(v);
  return *out ? 0 : -ENOMEM;
}

/* Whether h holds an http(s) URL. */
static bool holds_http(CURLU *h) {
  char *scheme = NULL;
  if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) return false;
  bool ok = is_http_scheme(scheme, strlen(scheme));
  curl_free(scheme);
  return ok;
}

/* The base as a curl handle, its fragment dropped (see the top comment). */
static int set_base(CURLU *h, const char *base) {
  char *b;
  int rc = prepare(base, &b);
  if (rc) return rc;
  CURLUcode cr = curl_url_set(h, CURLUPART_URL, b, 0);
  free(b);
  return cr == CURLUE_OK ? 0 : curl_err(cr);
}

/*
 * RFC 3986 5.2.2's non-strict reading, which browsers share: a reference
 * that repeats the base's scheme without an authority ("http:g") is
 * relative.  Returns where the reference proper starts.
 */
static const char *drop_same_scheme(CURLU *h, const char *ref) {
  size_t n = scheme_len(ref);
  if (!n || (ref[n + 1] == '/' && ref[n + 2] == '/')) return ref;
  char *scheme = NULL;
  if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) return ref;
  bool same = strlen(scheme) == n && strncasecmp(scheme, ref, n) == 0;
  curl_free(scheme);
  return same ? ref + n + 1 : ref;
}

/* Sets the prepared reference ref (non-empty, http(s) or schemeless) into
 * h, which holds the base if any.  0, 1 if nothing is left of ref, < 0. */
static int set_ref(CURLU *h, bool have_base, const char *ref) {
  if (have_base) ref = drop_same_scheme(h, ref);
  if (!*ref) return 1;
  CURLUcode cr = curl_url_set(h, CURLUPART_URL, ref, 0);
  return cr == CURLUE_OK ? 0 : curl_err(cr);
}

/*
 * Parses url (as found, absolute) into a new handle: the common first step
 * of normalize and split.  0 and *out, 1 for a reference that is not an
 * http(s) URL, < 0 otherwise.
 */
static int parse_absolute(const char *url, CURLU **out) {
  *out = NULL;
  char *u = NULL;
  /* A URL that prepare() leaves as it is (one resolved already, mostly)
   * goes to curl directly: resolving it alone would parse it twice. */
  size_t n = strlen(url), sn = scheme_len(url);
  bool as_is = n && n <= CRAWL_URL_MAX && url[n - 1] != '?' && is_http_scheme(url, sn) &&
               is_valid_as_is(url, n); /* which refuses the bytes prepare() trims */
  int rc = as_is ? ((u = strdup(url)) ? 0 : -ENOMEM) : crawl_url_resolve(NULL, url, &u);
  if (rc) return rc;
  CURLU *h = curl_url();
  if (!h) {
    free(u);
    return -ENOMEM;
  }
  CURLUcode cr = curl_url_set(h, CURLUPART_URL, u, 0);
  free(u);
  if (cr != CURLUE_OK) {
    curl_url_cleanup(h);
    return curl_err(cr);
  }
  *out = h;
  return 0;
}

/* -------------------------------------------------------------- resolving */

/* 0 if the prepared reference r may be an http(s) URL, 1 if it is empty
 * (or was only a fragment) or names another scheme. */
static int check_ref(const char *r) {
  size_t n = scheme_len(r);
  return !*r || (n && !is_http_scheme(r, n)) ? 1 : 0;
}

/* Resolves the prepared r against base (may be NULL) into *out. */
/*
 * libcurl 7.88 loses the trailing slash of a relative path whose last
 * segment is a dot segment when a query follows: "./?q" against /a/b/p gives
 * /a/b?q, not /a/b/?q (RFC 3986 5.4: "./" is /a/b/).  So a relative path
 * with a query is resolved without it, and the query set afterwards.
 */
static int set_ref_with_query(CURLU *h, bool have_base, const char *r) {
  const char *q = strchr(r, '?');
  if (!have_base || !q || q == r || r[0] == '/' || memchr(r, ':', (size_t)(q - r)))
    return set_ref(h, have_base, r);
  /* Only when the path's last segment is "." or "..", with or without a
   * slash after it: elsewhere libcurl's own handling stands. */
  const char *end = q;
  if (end[-1] == '/') end--;
  const char *seg = end;
  while (seg > r && seg[-1] != '/') seg--;
  size_t n = (size_t)(end - seg);
  if (!((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))) return set_ref(h, have_base, r);
  char *path = strndup(r, (size_t)(q - r));
  if (!path) return -ENOMEM;
  int rc = set_ref(h, have_base, path);
  free(path);
  if (rc) return rc;
  CURLUcode cr = curl_url_set(h, CURLUPART_QUERY, q[1] ? q + 1 : NULL, 0);
  return cr == CURLUE_OK ? 0 : curl_err(cr);
}

/* Whether host, as libcurl holds it (escapes decoded, an IPv6 zone apart),
 * may be a host: no '%' left, no control character or space.  libcurl 7.88
 * decodes a host's escapes once and takes what is left, so "%257a" became
 * "%7a", and the URL with that host became "z" the next time (a key that
 * was not its own key), and "%7f" a DEL it refuses when it is written as
 * it is.  The URL Standard refuses these in a decoded host; so does the
 * crawler. */
static bool is_usable_host(const char *host) {
  for (const char *p = host; *p; p++)
    if (*p == '%' || (unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) return false;
  return true;
}

/* A part of h (curl_free'd by the caller), NULL when absent; false only
 * out of memory. */
static bool part_of(CURLU *h, CURLUPart what, char **out) {
  *out = NULL;
  return curl_url_get(h, what, out, 0) != CURLUE_OUT_OF_MEMORY;
}

/* A host name or address (h[0..n), with or without its ":port") that curl
 * renders as it is stored: letters, digits, '.', '-', '_', or a bracketed
 * IPv6 address. */
static bool is_plain_host(const char *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_alpha((unsigned char)h[i]) && !is_digit((unsigned char)h[i]) && !strchr(".-_[]:", h[i])) return false;
  return true;
}

/*
 * h's URL, as curl_url_get(CURLUPART_URL) renders it, put together from
 * its parts: libcurl 7.88 formats that string a byte at a time through its
 * printf, which cost more than parsing the URL.  Only the plain form is
 * built here (scheme, host, the port if one was given, path, a non-empty
 * query, no fragment); a URL with user info or an IPv6 zone goes to curl.
 * 0 and *out (malloc'd), or < 0.
 */
static int render_url(CURLU *h, char **out) {
  char *scheme, *user, *pass, *zone, *host, *port, *path, *query;
  /* Every part is asked for (each sets its pointer, freed below), then
   * whether all came. */
  const bool got[] = {part_of(h, CURLUPART_SCHEME, &scheme), part_of(h, CURLUPART_USER, &user),
                      part_of(h, CURLUPART_PASSWORD, &pass), part_of(h, CURLUPART_ZONEID, &zone),
                      part_of(h, CURLUPART_HOST, &host),     part_of(h, CURLUPART_PORT, &port),
                      part_of(h, CURLUPART_PATH, &path),     part_of(h, CURLUPART_QUERY, &query)};
  bool ok = true;
  for (size_t i = 0; i < sizeof got / sizeof *got; i++) ok = ok && got[i];
  int rc = ok ? 0 : -ENOMEM;
  *out = NULL;
  if (!rc && host && !is_usable_host(host)) rc = -EINVAL;
  if (!rc && (user || pass || zone || !scheme || !host || !path || !is_plain_host(host, strlen(host)))) {
    char *u = NULL;
    CURLUcode cr = curl_url_get(h, CURLUPART_URL, &u, 0);
    rc = cr != CURLUE_OK ? curl_err(cr) : (*out = strdup(u)) ? 0 : -ENOMEM;
    curl_free(u);
  } else if (!rc) {
    sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
    sp_buf_adds(&b, scheme);
    sp_buf_adds(&b, "://");
    sp_buf_adds(&b, host);
    if (port) sp_buf_addc(&b, ':'), sp_buf_adds(&b, port);
    if (path[0] != '/') sp_buf_addc(&b, '/');
    sp_buf_adds(&b, path);
    if (query && *query) sp_buf_addc(&b, '?'), sp_buf_adds(&b, query);
    rc = sb_finish(&b, out);
  }
  curl_free(scheme), curl_free(user), curl_free(pass), curl_free(zone);
  curl_free(host), curl_free(port), curl_free(path), curl_free(query);
  return rc;
}

/*
 * A parsed base.  For an http(s) base, relative references are merged with
 * it here, as strings (RFC 3986 5.2.2; dot segments are left to curl), and
 * curl parses the absolute result: handed a relative reference, libcurl
 * 7.88 renders the whole base URL again through its byte-at-a-time printf
 * for every one, which cost more than the parse.  The parts are offsets
 * into url, curl's rendering of the base:
 *   url[0..scheme_end)  "http:"          url[0..origin_end)  "http://host:port"
 *   url[0..path_end)    ... the path      url[0..dir_end)     ... its last '/'
 */
struct crawl_url_base {
  CURLU *h;   /* the base, fragment dropped */
  bool http;  /* its scheme is http(s): so is every relative reference's */
  bool plain; /* http, and its authority is a plain host and port (see render_merged) */
  char *url;  /* NULL unless http */
  size_t scheme_end, origin_end, path_end, dir_end;
};

/* See crawl_url_set_direct: the paths that skip curl (render_merged,
 * render_absolute, normalize_direct). */
static bool direct = true;

void crawl_url_set_direct(bool on) { direct = on; }

/* Splits b->url (an absolute URL as curl renders it) into its parts. */
static void split_base(crawl_url_base *b) {
  const char *u = b->url;
  const char *sep = strstr(u, "://");
  b->scheme_end = sep ? (size_t)(sep - u) + 1 : 0;
  b->origin_end = b->scheme_end + 2 + strcspn(u + b->scheme_end + 2, "/?#");
  b->path_end = b->origin_end + strcspn(u + b->origin_end, "?#");
  b->dir_end = 0;
  for (size_t i = b->origin_end; i < b->path_end; i++)
    if (u[i] == '/') b->dir_end = i + 1;
  /* No user info, no IPv6 zone, no odd host: render_url's plain form.  Nor
   * a number that is no dotted quad: libcurl decoded it from escapes
   * ("2%2e2" is "2.2") and reads it as an address only the next time. */
  const char *host = u + b->scheme_end + 2;
  size_t hn = strcspn(host, ":/?#");
  b->plain = sep && b->origin_end > b->scheme_end + 2 && is_plain_host(host, b->origin_end - b->scheme_end - 2) &&
             (!may_be_number(host, hn) || is_dotted_quad(host, hn));
}

/*
 * Direct rendering, without curl, of a URL curl would change only in ways
 * done here: out holds its origin already; rest is what follows the
 * authority, a path and query valid as they are.  libcurl 7.88 removes the
 * path's dot segments (RFC 3986 5.2.4), renders an empty path as "/" and
 * drops an empty query.  0, or < 0 out of memory.
 */
static int render_rest(sp_buf *out, const char *rest) {
  size_t q = strcspn(rest, "?");
  size_t at = out->len;
  if (rest[0] == '/') {
    char *path = strndup(rest, q);
    if (!path) return -ENOMEM;
    add_without_dots(out, path);
    free(path);
  }
  if (out->len == at) sp_buf_addc(out, '/');
  if (rest[q] == '?' && rest[q + 1]) sp_buf_adds(out, rest + q);
  return 0;
}

/* The merged URL m (the plain base's origin, then a prepared reference's
 * path and query) as curl would render it.  0 and *out, 1 when m is not of
 * that form, < 0. */
static int render_merged(const crawl_url_base *b, const char *m, char **out) {
  if (!is_valid_as_is(m, strlen(m)) || m[b->origin_end] != '/') return 1;
  sp_buf ob;
  sp_buf_init(&ob, SP_BUF_NO_MAX);
  sp_buf_add(&ob, m, b->origin_end);
  int rc = render_rest(&ob, m + b->origin_end);
  return rc ? (sp_buf_free(&ob), rc) : sb_finish(&ob, out);
}

/* Whether curl takes host (n bytes) as it is: letters, digits, '-' and '.',
 * and not a number libcurl would rewrite as an IPv4 address ("0x7f.1"): a
 * letter past 'f' (other than 'x') or a '-' rules that out. */
static bool is_plain_name(const char *host, size_t n) {
  bool not_number = false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)host[i];
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.') return false;
    if (c == '-' || (is_alpha(c) && (c | 0x20) > 'f' && (c | 0x20) != 'x')) not_number = true;
  }
  return n && not_number;
}

/* The prepared absolute http(s) reference r as curl would render it: scheme
 * lower-cased, a plain host as it is, a port without leading zeros.  0 and
 * *out, 1 when r is not of that form, < 0. */
static int render_absolute(const char *r, size_t sn, char **out) {
  const char *auth = r + sn + 3, *end = auth + strcspn(auth, "/?");
  const char *colon = memchr(auth, ':', (size_t)(end - auth));
  const char *host_end = colon ? colon : end;
  if (!is_plain_name(auth, (size_t)(host_end - auth)) || !is_valid_as_is(r, strlen(r))) return 1;
  if (colon) {
    size_t pn = (size_t)(end - colon - 1);
    long port = 0;
    if (pn < 1 || pn > 5 || colon[1] == '0') return 1;
    for (size_t i = 1; i <= pn; i++) {
      if (!is_digit((unsigned char)colon[i])) return 1;
      port = port * 10 + (colon[i] - '0');
    }
    if (port > 65535) return 1;
  }
  sp_buf ob;
  sp_buf_init(&ob, SP_BUF_NO_MAX);
  for (size_t i = 0; i < sn; i++) sp_buf_addc(&ob, lower(r[i]));
  sp_buf_add(&ob, r + sn, (size_t)(end - r - sn));
  int rc = render_rest(&ob, end);
  return rc ? (sp_buf_free(&ob), rc) : sb_finish(&ob, out);
}

/* The prepared relative reference r (no scheme) merged with b as an
 * absolute URL (malloc'd), or NULL out of memory. */
static char *merge(const crawl_url_base *b, const char *r) {
  size_t keep;
  const char *mid = "";
  if (r[0] == '/' && r[1] == '/') keep = b->scheme_end;       /* network-path */
  else if (r[0] == '/') keep = b->origin_end;                 /* absolute path */
  else if (r[0] == '?') keep = b->path_end;                   /* query only */
  else if (b->dir_end) keep = b->dir_end;                     /* relative path */
  else keep = b->origin_end, mid = "/";                       /* base path empty */
  size_t rl = strlen(r), ml = strlen(mid);
  char *m = malloc(keep + ml + rl + 1);
  if (!m) return NULL;
  memcpy(m, b->url, keep);
  memcpy(m + keep, mid, ml);
  memcpy(m + keep + ml, r, rl + 1);
  return m;
}

int crawl_url_base_parse(const char *base, crawl_url_base **out) {
  if (!out) return -EINVAL;
  *out = NULL;
  if (!base) return -EINVAL;
  crawl_url_base *b = calloc(1, sizeof *b);
  if (!b || !(b->h = curl_url())) {
    free(b);
    return -ENOMEM;
  }
  int rc = set_base(b->h, base);
  if (!rc) {
    CURLUcode cr = curl_url_set(b->h, CURLUPART_FRAGMENT, NULL, 0);
    rc = cr == CURLUE_OK ? 0 : curl_err(cr);
  }
  if (rc) {
    crawl_url_base_free(b);
    return rc;
  }
  b->http = holds_http(b->h);
  if (b->http) {
    char *u = NULL;
    CURLUcode cr = curl_url_get(b->h, CURLUPART_URL, &u, 0);
    if (cr == CURLUE_OK && !(b->url = strdup(u))) cr = CURLUE_OUT_OF_MEMORY;
    curl_free(u);
    if (cr != CURLUE_OK) {
      crawl_url_base_free(b);
      return curl_err(cr);
    }
    split_base(b);
  }
  *out = b;
  return 0;
}

void crawl_url_base_free(crawl_url_base *b) {
  if (!b) return;
  curl_url_cleanup(b->h);
  free(b->url);
  free(b);
}

/* The curl path of resolve_prepared: merged (the absolute URL r makes
 * with base) if there is one, else r itself, against base. */
static int resolve_with_curl(const crawl_url_base *base, const char *r, const char *merged, char **u) {
  CURLU *h = base && !merged ? curl_url_dup(base->h) : curl_url();
  if (!h) return -ENOMEM;
  int rc = merged ? set_ref(h, false, merged) : set_ref_with_query(h, base != NULL, r);
  /* r's own scheme was checked (check_ref); without one, it is the base's. */
  if (!rc && !(base && base->http && !scheme_len(r)) && !holds_http(h)) rc = 1;
  if (!rc) {
    CURLUcode cr = curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0);
    rc = cr == CURLUE_OK ? render_url(h, u) : curl_err(cr);
  }
  curl_url_cleanup(h);
  return rc;
}

/* Whether a resolved URL may be fetched: not longer than CRAWL_URL_MAX, and
 * no control character or space.  prepare() encoded those in the path and
 * query, but the authority is curl's, and libcurl 7.88 takes a DEL in the
 * host of "http:/\x7fb/x" (one slash), giving a URL it refuses itself. */
static bool is_usable(const char *u) {
  size_t n = 0;
  for (; u[n]; n++)
    if ((unsigned char)u[n] <= 0x20 || (unsigned char)u[n] == 0x7f) return false;
  return n <= CRAWL_URL_MAX;
}

/* Resolves the prepared r against base (may be NULL) into *out.  A copy of
 * the parsed base costs a few string copies; parsing it again, far more. */
static int resolve_prepared(const crawl_url_base *base, const char *r, char **out) {
  /* "http:g" against an http base is the relative "g" (see drop_same_scheme). */
  size_t sn = scheme_len(r);
  if (base && base->url && sn && !(r[sn + 1] == '/' && r[sn + 2] == '/') && sn + 1 == base->scheme_end &&
      !strncasecmp(r, base->url, sn))
    r += sn + 1;
  if (base && base->url && !*r) return 1;
  char *merged = NULL;
  if (base && base->url && !scheme_len(r) && !(merged = merge(base, r))) return -ENOMEM;
  sn = scheme_len(r);
  bool absolute = sn && r[sn + 1] == '/' && r[sn + 2] == '/' && is_http_scheme(r, sn);
  char *u = NULL;
  int rc = 1; /* 1 from a direct path: not its form, curl's turn */
  if (direct && ((merged && base->plain && !(r[0] == '/' && r[1] == '/')) || absolute))
    rc = merged ? render_merged(base, merged, &u) : render_absolute(r, sn, &u);
  if (rc > 0) rc = resolve_with_curl(base, r, merged, &u);
  free(merged);
  if (!rc && !is_usable(u)) rc = -EINVAL;
  if (!rc) *out = u;
  else free(u);
  return rc;
}

int crawl_url_resolve_at(const crawl_url_base *base, const char *ref, char **out) {
  if (!out) return -EINVAL;
  *out = NULL;
  if (!ref) return -EINVAL;
  char *r;
  int rc = prepare(ref, &r);
  if (!rc) rc = check_ref(r);
  if (!rc) rc = resolve_prepared(base, r, out);
  free(r);
  return rc;
}

int crawl_url_resolve(const char *base, const char *ref, char **out) {
  if (!out) return -EINVAL;
  *out = NULL;
  if (!ref) return -EINVAL;
  crawl_url_base *b = NULL;
  int rc = base ? crawl_url_base_parse(base, &b) : 0;
  if (!rc) rc = crawl_url_resolve_at(b, ref, out);
  crawl_url_base_free(b);
  return rc;
}

/* ------------------------------------------------------------ normalising */

/* Appends s with escapes of unreserved characters decoded and the others'
 * hex digits upper-cased (RFC 3986 6.2.2.1 and 6.2.2.2), and a '%' that
 * starts no escape encoded (as prepare() does in the path and query; left
 * as it is, decoding "%5%39" would make "%59", a new escape). */
static void add_pct_normalized(sp_buf *b, const char *s) {
  for (; *s; s++) {
    size_t run = strcspn(s, "%"); /* copied as it is */
    if (run) {
      sp_buf_add(b, s, run);
      s += run - 1;
      continue;
    }
    int hi, lo;
    if (*s == '%' && (hi = hex_val((unsigned char)s[1])) >= 0 && (lo = hex_val((unsigned char)s[2])) >= 0) {
      unsigned char c = (unsigned char)(hi << 4 | lo);
      if (is_unreserved(c))
        sp_buf_addc(b, (char)c);
      else
        sb_add_pct(b, c);
      s += 2;
    } else {
      sb_add_pct(b, '%');
    }
  }
}

static void add_path_key(sp_buf *b, const char *path) {
  sp_buf dec;
  sp_buf_init(&dec, SP_BUF_NO_MAX);
  add_pct_normalized(&dec, path ? path : "");
  if (dec.err && !b->err) b->err = dec.err;
  size_t at = b->len;
  add_without_dots(b, dec.data ? dec.data : "");
  sp_buf_free(&dec);
  if (b->len == at) sp_buf_addc(b, '/');
}

/* host[0..n) as curl renders the host of "http://HOST/": a number it reads
 * as an IPv4 address becomes dotted decimal.  Appended to b. */
static void add_as_curl_host(sp_buf *b, const char *host, size_t n) {
  char *url = malloc(n + 9), *h = NULL;
  CURLU *u = url ? curl_url() : NULL;
  if (!u) {
    free(url);
    b->err = SP_ENOMEM;
    return;
  }
  memcpy(url, "http://", 7);
  memcpy(url + 7, host, n);
  memcpy(url + 7 + n, "/", 2);
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
    sp_buf_adds(b, h);
  else
    sp_buf_add(b, host, n);
  curl_free(h);
  curl_url_cleanup(u);
  free(url);
}

/*
 * The host as the key has it: ASCII lower-cased (IDN names stay as given),
 * trailing dots dropped.  n: how much of host to take.  libcurl reads a
 * number as an IPv4 address only as it is written, without a trailing dot
 * and without escapes ("127.1." and "%31%32%37.1" stay names, "127.1" is
 * 127.0.0.1), so what may be a number is read again as the key writes it:
 * the key of a key is then itself, and one server one host.
 */
static void add_host_key(sp_buf *b, const char *host, size_t n) {
  while (n > 1 && host[n - 1] == '.') n--;
  size_t at = b->len;
  for (size_t i = 0; i < n; i++) sp_buf_addc(b, lower(host[i]));
  if (!may_be_number(host, n) || is_dotted_quad(host, n) || b->err) return;
  char *name = strndup(b->data + at, n);
  if (!name) {
    b->err = SP_ENOMEM;
    return;
  }
  b->len = at;
  b->data[at] = '\0';
  add_as_curl_host(b, name, n);
  free(name);
}

/* Appends the host of h's URL; an IPv6 zone goes back inside the brackets
 * ("[fe80::1%25eth0]"), where curl takes it out. */
static void add_host(sp_buf *b, const char *host, const char *zone) {
  size_t n = strlen(host);
  if (!zone || host[0] != '[' || host[n - 1] != ']') {
    add_host_key(b, host, n);
    return;
  }
  add_host_key(b, host, n - 1);
  sp_buf_adds(b, "%25");
  sp_buf_adds(b, zone);
  sp_buf_addc(b, ']');
}

/* Appends the authority of h's URL in its normal form. */
static int add_authority(sp_buf *b, CURLU *h, const char *scheme) {
  char *user = NULL, *pass = NULL, *host = NULL, *zone = NULL, *port = NULL;
  int rc = get_part(h, CURLUPART_USER, 0, &user);
  if (!rc) rc = get_part(h, CURLUPART_PASSWORD, 0, &pass);
  if (!rc) rc = get_part(h, CURLUPART_HOST, 0, &host);
  if (!rc) rc = get_part(h, CURLUPART_ZONEID, 0, &zone);
  if (!rc) rc = get_part(h, CURLUPART_PORT, 0, &port);
  if (!rc && host && !is_usable_host(host)) rc = -EINVAL;
  if (!rc && user) {
    add_pct_normalized(b, user);
    if (pass) sp_buf_addc(b, ':'), add_pct_normalized(b, pass);
    sp_buf_addc(b, '@');
  }
  if (!rc && host) add_host(b, host, zone);
  if (!rc && port && atoi(port) != default_port(scheme)) sp_buf_addc(b, ':'), sp_buf_adds(b, port);
  free(user), free(pass), free(host), free(zone), free(port);
  return rc;
}

/*
 * The key of url without curl, when url is an absolute http(s) URL that
 * render_absolute takes: curl's parts would be the pieces of that
 * rendering.  0 and *key, 1 when url is not of that form, < 0.
 */
static int normalize_direct(const char *url, char **key) {
  if (strlen(url) > CRAWL_URL_MAX) return 1; /* the curl path refuses it, as prepare() does */
  size_t sn = scheme_len(url);
  if (!sn || !is_http_scheme(url, sn) || url[sn + 1] != '/' || url[sn + 2] != '/') return 1;
  char *r;
  int rc = render_absolute(url, sn, &r);
  if (rc) return rc;
  const char *host = r + sn + 3, *rest = host + strcspn(host, "/");
  const char *colon = memchr(host, ':', (size_t)(rest - host));
  size_t q = strcspn(rest, "?");
  char *path = strndup(rest, q);
  sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
  sp_buf_add(&b, r, sn + 3); /* lower case already */
  add_host_key(&b, host, (size_t)((colon ? colon : rest) - host));
  if (colon && atoi(colon + 1) != default_port(r[sn - 1] == 's' ? "https" : "http"))
    sp_buf_add(&b, colon, (size_t)(rest - colon));
  if (path) add_path_key(&b, path);
  if (rest[q] == '?') sp_buf_addc(&b, '?'), add_pct_normalized(&b, rest + q + 1);
  free(path);
  free(r);
  if (!path) {
    sp_buf_free(&b);
    return -ENOMEM;
  }
  return sb_finish(&b, key);
}

int crawl_url_normalize(const char *url, char **key) {
  if (!key) return -EINVAL;
  *key = NULL;
  if (!url) return -EINVAL;
  int drc = direct ? normalize_direct(url, key) : 1;
  if (drc <= 0) return drc;
  CURLU *h;
  int rc = parse_absolute(url, &h);
  if (rc) return rc > 0 ? -EINVAL : rc;
  char *scheme = NULL, *path = NULL, *query = NULL;
  rc = get_part(h, CURLUPART_SCHEME, 0, &scheme);
  if (!rc) rc = get_part(h, CURLUPART_PATH, 0, &path);
  if (!rc) rc = get_part(h, CURLUPART_QUERY, 0, &query);
  if (!rc && !scheme) rc = -EINVAL;
  sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
  if (!rc) {
    for (const char *s = scheme; *s; s++) sp_buf_addc(&b, lower(*s));
    sp_buf_adds(&b, "://");
    rc = add_authority(&b, h, scheme);
    add_path_key(&b, path);
    if (query) sp_buf_addc(&b, '?'), add_pct_normalized(&b, query);
  }
  free(scheme), free(path), free(query);
  curl_url_cleanup(h);
  if (rc) {
    sp_buf_free(&b);
    return rc;
  }
  return sb_finish(&b, key);
}

/* ---------------------------------------------------------------- parts */

/* The host for split: lower-case, IPv6 without brackets, no trailing dot. */
static int split_host(CURLU *h, char **out) {
  char *host;
  int rc = get_part(h, CURLUPART_HOST, 0, &host);
  if (rc || !host) return rc ? rc : -EINVAL;
  if (!is_usable_host(host)) {
    free(host);
    return -EINVAL;
  }
  sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
  if (host[0] == '[') {
    size_t n = strlen(host);
    for (size_t i = 1; i + 1 < n; i++) sp_buf_addc(&b, lower(host[i]));
  } else {
    add_host_key(&b, host, strlen(host));
  }
  free(host);
  return sb_finish(&b, out);
}

static int split_port(CURLU *h, int *port) {
  char *p;
  int rc = get_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT, &p);
  if (rc || !p) return rc ? rc : -EINVAL;
  *port = atoi(p);
  free(p);
  return 0;
}

static int split_path(CURLU *h, char **out) {
  char *path, *query;
  int rc = get_part(h, CURLUPART_PATH, 0, &path);
  if (!rc) rc = get_part(h, CURLUPART_QUERY, 0, &query);
  if (rc) {
    free(path);
    return rc;
  }
  sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
  sp_buf_adds(&b, path && *path ? path : "/");
  if (query) sp_buf_addc(&b, '?'), sp_buf_adds(&b, query);
  free(path), free(query);
  return sb_finish(&b, out);
}

static int split_scheme(CURLU *h, char **out) {
  char *s;
  int rc = get_part(h, CURLUPART_SCHEME, 0, &s);
  if (rc || !s) return rc ? rc : -EINVAL;
  for (char *p = s; *p; p++) *p = lower(*p);
  *out = s;
  return 0;
}

int crawl_url_split(const char *url, char **scheme, char **host, int *port, char **path) {
  char *sc = NULL, *ho = NULL, *pa = NULL;
  int po = 0;
  if (scheme) *scheme = NULL;
  if (host) *host = NULL;
  if (path) *path = NULL;
  if (!url) return -EINVAL;
  CURLU *h;
  int rc = parse_absolute(url, &h);
  if (rc) return rc > 0 ? -EINVAL : rc;
  if (scheme) rc = split_scheme(h, &sc);
  if (!rc && host) rc = split_host(h, &ho);
  if (!rc && port) rc = split_port(h, &po);
  if (!rc && path) rc = split_path(h, &pa);
  curl_url_cleanup(h);
  if (rc) {
    free(sc), free(ho), free(pa);
    return rc;
  }
  if (scheme) *scheme = sc;
  if (host) *host = ho;
  if (port) *port = po;
  if (path) *path = pa;
  return 0;
}

/* ---------------------------------------------------------------- domains */

/* An IP literal is only ever "in" itself: "2.3.4" is no parent of "1.2.3.4". */
static bool is_ip_literal(const char *host, size_t n) {
  if (memchr(host, ':', n) || (n && host[0] == '[')) return true;
  for (size_t i = 0; i < n; i++)
    if (!is_digit((unsigned char)host[i]) && host[i] != '.') return false;
  return true;
}

bool crawl_host_in_domain(const char *host, const char *domain) {
  if (!host || !domain) return false;
  if (*domain == '.') domain++;
  size_t hn = strlen(host), dn = strlen(domain);
  if (hn && host[hn - 1] == '.') hn--;
  if (dn && domain[dn - 1] == '.') dn--;
  if (!hn || !dn || dn > hn) return false;
  if (hn == dn) return strncasecmp(host, domain, dn) == 0;
  if (is_ip_literal(host, hn)) return false;
  return host[hn - dn - 1] == '.' && strncasecmp(host + hn - dn, domain, dn) == 0;
}

/* Read by hand: the key is known to be in the form crawl_url_normalize
 * writes, and the frontier asks for the parts of every new URL. */
bool crawl_url_key_parts(const char *key, char *scheme, size_t ns, char *hostname, size_t nh, int *port) {
  const char *sep = strstr(key, "://");
  if (!sep || (size_t)(sep - key) >= ns) return false;
  memcpy(scheme, key, (size_t)(sep - key));
  scheme[sep - key] = '\0';
  const char *h = sep + 3, *end;
  const char *auth_end = h + strcspn(h, "/?#");
  for (const char *at = h; at < auth_end; at++)
    if (*at == '@') h = at + 1; /* user:password@ is no part of the host */
  size_t hl;
  if (*h == '[') {
    end = strchr(h, ']');
    if (!end) return false;
    h++; /* the host without its brackets or its zone ("%25eth0"), as crawl_url_split gives it */
    const char *zone = memchr(h, '%', (size_t)(end - h));
    hl = (size_t)((zone ? zone : end) - h);
  } else {
    end = h + strcspn(h, ":/?");
    hl = (size_t)(end - h);
  }
  if (!hl || hl >= nh) return false;
  memcpy(hostname, h, hl);
  hostname[hl] = '\0';
  if (*end == ']') end++;
  *port = *end == ':' ? atoi(end + 1) : strcmp(scheme, "https") == 0 ? 443 : 80;
  return *port > 0 && *port < 65536;
}
