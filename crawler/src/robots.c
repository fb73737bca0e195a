/*
 * robots.c - robots.txt parsing and matching (RFC 9309).
 *
 * One pass over the file keeps only the rules of groups that can apply to
 * the crawler: those naming its product token and those naming "*".  Each
 * rule remembers which of the two kinds of group it came from; once the file
 * is read, the kind that applies (2.2.1) is kept and the rest dropped.  Rules
 * are stored percent-encoding-normalised (2.2.2) and sorted by priority, so
 * that a lookup normalises the path once and returns the verdict of the first
 * rule that matches it.
 */
#include "robots.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 2.5: crawlers MUST parse at least 500 KiB; we parse exactly that much. */
#define ROBOTS_MAX_BYTES ((size_t)500 * 1024)

/* The kinds of group a rule or a crawl-delay came from (bit set). */
enum { FROM_SPECIFIC = 1u, FROM_GLOBAL = 2u };

typedef struct {
  char *pat;      /* normalised, '*' as wildcard, without a final '$' */
  size_t len;     /* octets in pat */
  size_t fixed;   /* octets in pat but '*': no shorter path can match */
  size_t prio;    /* len, plus one for a final '$': 2.2.2's "octets" */
  bool anchored;  /* the pattern ended in '$' */
  bool allow;
  unsigned from;  /* FROM_* bits */
} robots_rule;

struct crawl_robots {
  robots_rule *rules; /* by priority, highest first; allow first on a tie */
  size_t n;
  double delay;       /* seconds, or -1 */
};

typedef struct {
  const char *token;   /* the crawler's product token */
  size_t token_len;
  robots_rule *rules;
  size_t n, cap;
  bool in_agent_lines; /* no rule since the last user-agent line */
  unsigned cur;        /* FROM_* bits of the current group */
  unsigned seen;       /* FROM_* bits of all groups so far */
  double delay_specific, delay_global;
  bool oom;
} robots_parser;

/* ---------------------------------------------------------- characters */

/* 2.2: WS is space or horizontal tab. */
static bool is_ws(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, size_t *n) {
  while (*n > 0 && is_ws(**s)) (*s)++, (*n)--;
  while (*n > 0 && is_ws((*s)[*n - 1])) (*n)--;
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Case-insensitive equality of s (n octets) and b (m octets), ASCII only so
 * that the locale cannot change which records are recognised. */
static bool ascii_ieq(const char *s, size_t n, const char *b, size_t m) {
  if (n != m) return false;
  for (size_t i = 0; i < n; i++)
    if (ascii_lower(s[i]) != ascii_lower(b[i])) return false;
  return true;
}

static bool key_is(const char *key, size_t n, const char *name) {
  return ascii_ieq(key, n, name, strlen(name));
}

/* 2.2.1: a product token is 1*(ALPHA / "-" / "_"); the length of the one s
 * starts with (0 if none), which also cuts "Foo/1.2" or "Foo Bar" to "Foo".
 * The same for the crawler's User-Agent and for the user-agent lines of
 * robots.txt, so that both sides of a match are cut alike. */
static size_t product_token_len(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    char c = ascii_lower(s[i]);
    if (!((c >= 'a' && c <= 'z') || c == '-' || c == '_')) break;
    i++;
  }
  return i;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* RFC 3986 2.3 unreserved: the octets whose percent-encoded and plain forms
 * are equivalent. */
static bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* ------------------------------------------------------- normalisation */

static size_t put_encoded(char *out, size_t o, unsigned char c) {
  static const char hex[] = "0123456789ABCDEF";
  out[o++] = '%';
  out[o++] = hex[c >> 4];
  out[o++] = hex[c & 15];
  return o;
}

/* Writes in (n octets) to out (room for 3n + 1) in the one form both
 * patterns and paths are compared in (2.2.2, following RFC 3986 6.2.2.2):
 * "%xx" of an unreserved octet becomes the octet, any other "%xx" gets
 * upper-case hex, and octets that cannot appear raw in a URI (non-ASCII,
 * controls, space, a '%' that starts no escape) are percent-encoded.  In a
 * pattern '*' stays the wildcard; in a path '*' and '$' are encoded, so that
 * a pattern can name them literally as "%2A" and "%24" (2.2.3).  A '$' in a
 * pattern is special only at its end (the caller strips that one), so any
 * other is literal and encoded.  Returns the octets written. */
static size_t normalise(const char *in, size_t n, char *out, bool pattern) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '%' && i + 2 < n && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      unsigned char v = (unsigned char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      if (is_unreserved(v))
        out[o++] = (char)v;
      else
        o = put_encoded(out, o, v);
      i += 2;
    } else if (c == '%' || c <= 0x20 || c >= 0x7f || c == '$' || (c == '*' && !pattern)) {
      o = put_encoded(out, o, c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return o;
}

/* ------------------------------------------------------------ matching */

/* Whether pattern p (pn octets, '*' matching any run of octets) matches all
 * of s (anchored) or a prefix of it.  Greedy, backtracking only to the
 * latest '*': a later '*' can absorb whatever an earlier one would have, so
 * the earlier one never needs revisiting.  O(pn * sn) at worst, about
 * linear in practice, never exponential however many '*' there are. */
static bool wildcard_match(const char *p, size_t pn, const char *s, size_t sn, bool anchored) {
  size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
  for (;;) {
    if (pi == pn && (!anchored || si == sn)) return true;
    if (pi < pn && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < pn && si < sn && p[pi] == s[si]) {
      pi++;
      si++;
    } else if (star != SIZE_MAX && mark < sn) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
}

static bool rule_matches(const robots_rule *r, const char *path, size_t n) {
  return r->fixed <= n && wildcard_match(r->pat, r->len, path, n, r->anchored);
}

/* 2.2.2: "/robots.txt" is implicitly allowed. */
static bool is_robots_txt(const char *path, size_t n) {
  return n == 11 && memcmp(path, "/robots.txt", 11) == 0;
}

static bool verdict(const crawl_robots *r, const char *path, size_t n) {
  if (is_robots_txt(path, n) || r == NULL) return true;
  for (size_t i = 0; i < r->n; i++)
    if (rule_matches(&r->rules[i], path, n)) return r->rules[i].allow;
  return true;
}

/* 2.2.2: the most specific (longest) matching rule wins, and allow wins
 * between equally long ones; sorting so makes the first match the answer. */
static int rule_order(const void *a, const void *b) {
  const robots_rule *x = a, *y = b;
  if (x->prio != y->prio) return x->prio > y->prio ? -1 : 1;
  return (int)y->allow - (int)x->allow;
}

/* ------------------------------------------------------------- parsing */

static void add_rule(robots_parser *p, const char *v, size_t n, bool allow) {
  robots_rule r = {.allow = allow, .from = p->cur};
  if (n > 0 && v[n - 1] == '$') {
    r.anchored = true;
    n--;
  }
  r.pat = malloc(3 * n + 1);
  if (r.pat == NULL) {
    p->oom = true;
    return;
  }
  r.len = normalise(v, n, r.pat, true);
  for (size_t i = 0; i < r.len; i++) r.fixed += r.pat[i] != '*';
  r.prio = r.len + r.anchored;
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    robots_rule *grown = realloc(p->rules, cap * sizeof *grown);
    if (grown == NULL) {
      free(r.pat);
      p->oom = true;
      return;
    }
    p->rules = grown;
    p->cap = cap;
  }
  p->rules[p->n++] = r;
}

/* 2.2.1: consecutive user-agent lines (blank lines between them allowed)
 * name the agents of one group; one after a rule starts the next group. */
static void on_user_agent(robots_parser *p, const char *v, size_t n) {
  if (!p->in_agent_lines) p->cur = 0;
  p->in_agent_lines = true;
  if (n > 0 && v[0] == '*' && (n == 1 || is_ws(v[1]))) {
    p->cur |= FROM_GLOBAL;
  } else {
    size_t t = product_token_len(v, n);
    if (t > 0 && ascii_ieq(v, t, p->token, p->token_len)) p->cur |= FROM_SPECIFIC;
  }
  p->seen |= p->cur;
}

/* 2.2.2: allow/disallow.  A rule before any user-agent line belongs to no
 * group (cur is 0) and is dropped; an empty value is a rule that matches
 * nothing, but still ends the group's run of user-agent lines. */
static void on_rule(robots_parser *p, const char *v, size_t n, bool allow) {
  p->in_agent_lines = false;
  if (n > 0 && p->cur != 0) add_rule(p, v, n, allow);
}

/* A non-negative decimal number of seconds ("10", "0.5", ".5"); anything
 * else (signs, exponents, units, commas) is not understood and ignored. */
static bool parse_seconds(const char *v, size_t n, double *out) {
  double x = 0, scale = 1;
  size_t digits = 0, i = 0;
  for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++) x = x * 10 + (v[i] - '0');
  if (i < n && v[i] == '.')
    for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++) x += (v[i] - '0') * (scale /= 10);
  if (digits == 0 || i != n || !isfinite(x)) return false;
  *out = x;
  return true;
}

/* Crawl-delay is not part of RFC 9309.  As an "other record" (2.2.4) it
 * must not interfere with the parsing of the defined ones, so it neither
 * starts nor ends a group (user-agent lines after it still join the group
 * for allow and disallow).  It is credited to the agents named before it,
 * which is what "User-agent: *, Crawl-delay: 10, (blank), User-agent: x,
 * ..." means; merged groups take the longest delay, the polite choice. */
static void on_crawl_delay(robots_parser *p, const char *v, size_t n) {
  double d;
  if (p->cur == 0 || !parse_seconds(v, n, &d)) return;
  if ((p->cur & FROM_SPECIFIC) && d > p->delay_specific) p->delay_specific = d;
  if ((p->cur & FROM_GLOBAL) && d > p->delay_global) p->delay_global = d;
}

/* One line without its line end: "key : value # comment" (2.2). */
static void parse_line(robots_parser *p, const char *line, size_t n) {
  const char *hash = memchr(line, '#', n);
  if (hash != NULL) n = (size_t)(hash - line);
  const char *colon = memchr(line, ':', n);
  if (colon == NULL) return;
  const char *key = line, *val = colon + 1;
  size_t klen = (size_t)(colon - line), vlen = n - klen - 1;
  trim(&key, &klen);
  trim(&val, &vlen);
  if (key_is(key, klen, "user-agent"))
    on_user_agent(p, val, vlen);
  else if (key_is(key, klen, "allow"))
    on_rule(p, val, vlen, true);
  else if (key_is(key, klen, "disallow"))
    on_rule(p, val, vlen, false);
  else if (key_is(key, klen, "crawl-delay"))
    on_crawl_delay(p, val, vlen);
  /* Sitemap and any other record: ignored, and no error (2.2.4). */
}

/* Octets to parse: all, up to 500 KiB.  Past that, parsing stops at the
 * last line end within the limit: a line cut short is not the line the site
 * wrote (a truncated allow could allow more than the whole one). */
static size_t parse_extent(const char *body, size_t len) {
  if (len <= ROBOTS_MAX_BYTES) return len;
  size_t end = ROBOTS_MAX_BYTES;
  if (body[end] == '\n' || body[end] == '\r') return end;
  while (end > 0 && body[end - 1] != '\n' && body[end - 1] != '\r') end--;
  return end;
}

/* A UTF-8 byte order mark (or the start of one, as some editors leave) at
 * the very start is not part of the first line. */
static size_t skip_bom(const char *body, size_t len) {
  static const char bom[] = "\xEF\xBB\xBF";
  size_t i = 0;
  while (i < len && i < 3 && body[i] == bom[i]) i++;
  return i;
}

/* Keeps the rules of the groups that apply (2.2.1): those naming the
 * crawler, merged; else the "*" ones, merged; else none.  A group naming the
 * crawler applies even when it has no rules. */
static crawl_robots *finish(robots_parser *p) {
  unsigned want = (p->seen & FROM_SPECIFIC) ? FROM_SPECIFIC : (p->seen & FROM_GLOBAL) ? FROM_GLOBAL : 0;
  size_t kept = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (p->rules[i].from & want)
      p->rules[kept++] = p->rules[i];
    else
      free(p->rules[i].pat);
  }
  crawl_robots *r = malloc(sizeof *r);
  if (r == NULL) {
    for (size_t i = 0; i < kept; i++) free(p->rules[i].pat);
    free(p->rules);
    return NULL;
  }
  r->rules = p->rules;
  r->n = kept;
  r->delay = want == FROM_SPECIFIC ? p->delay_specific : want == FROM_GLOBAL ? p->delay_global : -1;
  if (kept > 1) qsort(r->rules, kept, sizeof *r->rules, rule_order);
  return r;
}

static void discard(robots_parser *p) {
  for (size_t i = 0; i < p->n; i++) free(p->rules[i].pat);
  free(p->rules);
}

size_t crawl_robots_token_len(const char *user_agent) {
  return user_agent ? product_token_len(user_agent, strlen(user_agent)) : 0;
}

crawl_robots *crawl_robots_parse(const char *body, size_t len, const char *agent) {
  if (agent == NULL) agent = "";
  if (body == NULL) len = 0;
  robots_parser p = {
      .token = agent,
      .token_len = product_token_len(agent, strlen(agent)),
      .delay_specific = -1,
      .delay_global = -1,
  };
  size_t end = parse_extent(body, len);
  /* Lines end at CR, LF or CRLF (2.2); a CRLF read as two line ends only
   * adds an empty line, which changes nothing. */
  for (size_t i = skip_bom(body, end); i < end && !p.oom;) {
    size_t j = i;
    while (j < end && body[j] != '\n' && body[j] != '\r') j++;
    parse_line(&p, body + i, j - i);
    i = j + 1;
  }
  if (p.oom) {
    discard(&p);
    return NULL;
  }
  return finish(&p);
}

/* ----------------------------------------------------------- the rest */

crawl_robots *crawl_robots_allow_all(void) {
  crawl_robots *r = calloc(1, sizeof *r);
  if (r != NULL) r->delay = -1;
  return r;
}

crawl_robots *crawl_robots_disallow_all(void) {
  crawl_robots *r = crawl_robots_allow_all();
  if (r == NULL) return NULL;
  r->rules = calloc(1, sizeof *r->rules);
  char *pat = malloc(2);
  if (r->rules == NULL || pat == NULL) {
    free(pat);
    crawl_robots_free(r);
    return NULL;
  }
  memcpy(pat, "/", 2);
  r->rules[0] = (robots_rule){.pat = pat, .len = 1, .fixed = 1, .prio = 1, .allow = false};
  r->n = 1;
  return r;
}

bool crawl_robots_allowed(const crawl_robots *r, const char *path) {
  if (path == NULL || path[0] == '\0') path = "/";
  size_t n = strlen(path);
  char local[1024], *buf = local;
  if (n > (SIZE_MAX - 1) / 3) return false;
  if (3 * n + 1 > sizeof local && (buf = malloc(3 * n + 1)) == NULL) return false;
  size_t m = normalise(path, n, buf, false);
  bool ok = verdict(r, buf, m);
  if (buf != local) free(buf);
  return ok;
}

double crawl_robots_crawl_delay(const crawl_robots *r) { return r != NULL ? r->delay : -1; }

void crawl_robots_free(crawl_robots *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n; i++) free(r->rules[i].pat);
  free(r->rules);
  free(r);
}
