/* test_links.c - crawl_links_extract: a table of small pages, then hostile
 * input (random bytes, NULs, deep nesting, huge attributes). */
#define _GNU_SOURCE
#include "sched/spt.h"

#include <inttypes.h>

#include "links.h"

#define PAGE "http://h.example/dir/page.html"
#define AGENT "spindle/1.0 (+http://spindle.example/bot)"
#define MAX_URLS 8

typedef struct links_case {
  const char *html;
  const char *agent; /* AGENT unless NOAGENT */
  bool noindex, nofollow;
  const char *base; /* NULL: PAGE */
  const char *urls[MAX_URLS]; /* NULL-terminated */
} links_case;

#define NOAGENT ""

static const links_case cases[] = {
    /* 0: relative resolution against the page */
    {"<a href=a>1</a><a href='/b'>2</a><a href=\"../c?x=1#f\">3</a><a href=//other.example/d>4</a>",
     NULL, false, false, NULL,
     {"http://h.example/dir/a", "http://h.example/b", "http://h.example/c?x=1", "http://other.example/d"}},
    /* 1: only the first <base href> counts */
    {"<head><base href=\"http://b.example/x/\"><base href=\"http://c.example/y/\"></head><a href=g>g</a>",
     NULL, false, false, "http://b.example/x/", {"http://b.example/x/g"}},
    /* 2: a relative base, resolved against the page */
    {"<base href=\"/root/\"><a href=g>", NULL, false, false, "http://h.example/root/", {"http://h.example/root/g"}},
    /* 3: the base applies to links before it too */
    {"<a href=g></a><base href=\"/z/\">", NULL, false, false, "http://h.example/z/", {"http://h.example/z/g"}},
    /* 4: a base without href does not count */
    {"<base target=_blank><base href=\"/q/\"><a href=g>", NULL, false, false, "http://h.example/q/",
     {"http://h.example/q/g"}},
    /* 5: an unusable first base leaves the page URL as the base */
    {"<base href=\"javascript:void(0)\"><base href=\"/q/\"><a href=g>", NULL, false, false, NULL,
     {"http://h.example/dir/g"}},
    /* 6: rel=nofollow, as one token among others, any case */
    {"<a href=a rel=nofollow>a</a><a href=b rel=\"external NoFollow noopener\">b</a>"
     "<a href=c rel=nofollowed>c</a><a href=d rel=\"\">d</a>",
     NULL, false, false, NULL, {"http://h.example/dir/c", "http://h.example/dir/d"}},
    /* 7: area, and its nofollow */
    {"<map name=m><area href=a1 rel=nofollow><area href=a2 alt=x><area nohref></map>", NULL, false, false, NULL,
     {"http://h.example/dir/a2"}},
    /* 8: meta robots noindex: links still come */
    {"<meta name=robots content=noindex><a href=a>", NULL, true, false, NULL, {"http://h.example/dir/a"}},
    /* 9: meta robots nofollow: no links */
    {"<meta name=\"robots\" content=\"nofollow\"><a href=a>", NULL, false, true, NULL, {NULL}},
    /* 10: both, upper case, and extra space */
    {"<META NAME=\" ROBOTS \" CONTENT=\"NOINDEX , NOFOLLOW\"><a href=a>", NULL, true, true, NULL, {NULL}},
    /* 11: none means both */
    {"<meta name=robots content=none><a href=a>", NULL, true, true, NULL, {NULL}},
    /* 12: directives for this agent's product token */
    {"<meta name=Spindle content=\"nofollow\"><a href=a>", NULL, false, true, NULL, {NULL}},
    /* 13: directives for another crawler do not apply */
    {"<meta name=googlebot content=\"noindex, nofollow\"><a href=a>", NULL, false, false, NULL,
     {"http://h.example/dir/a"}},
    /* 14: without an agent, only name=robots counts */
    {"<meta name=spindle content=noindex><a href=a>", NOAGENT, false, false, NULL, {"http://h.example/dir/a"}},
    /* 15: index, follow and other values change nothing */
    {"<meta name=robots content=\"index, follow, max-snippet:20\"><a href=a>", NULL, false, false, NULL,
     {"http://h.example/dir/a"}},
    /* 16: a meta in the body counts too */
    {"<body><a href=a></a><meta name=robots content=nofollow></body>", NULL, false, true, NULL, {NULL}},
    /* 17: frames in a frameset */
    {"<frameset><frame src=f1><frame src=\"/f2\"><frame></frameset>", NULL, false, false, NULL,
     {"http://h.example/dir/f1", "http://h.example/f2"}},
    /* 18: iframes; their content is text, not links */
    {"<iframe src=i1><a href=notalink></iframe><iframe src=''></iframe>", NULL, false, false, NULL,
     {"http://h.example/dir/i1"}},
    /* 19: schemes that are not crawled, and references to the page itself */
    {"<a href=\"javascript:void(0)\"><a href=\" JavaScript:x\"><a href=\"mailto:a@b.example\">"
     "<a href=\"data:text/html,x\"><a href=\"tel:123\"><a href=\"ftp://f.example/\"><a href=\"#top\"><a href=\"\">"
     "<a href=ok>",
     NULL, false, false, NULL, {"http://h.example/dir/ok"}},
    /* 20: duplicates removed, first occurrence kept in place */
    {"<a href=a><a href=b><a href=a#x><a href=./a><a href=\"http://h.example/dir/a\"><a href=c><a href=b>", NULL,
     false, false, NULL, {"http://h.example/dir/a", "http://h.example/dir/b", "http://h.example/dir/c"}},
    /* 21: <link>: navigational rel values only */
    {"<link rel=stylesheet href=s.css><link rel=icon href=i.png><link rel=\"alternate stylesheet\" href=alt.css>"
     "<link rel=alternate hreflang=de href=/de/><link rel=canonical href=/canon><link rel=\"Next\" href=p2>"
     "<link rel=prev href=p0><link rel=preload href=x.js><link href=norel>",
     NULL, false, false, NULL,
     {"http://h.example/de/", "http://h.example/canon", "http://h.example/dir/p2", "http://h.example/dir/p0"}},
    /* 22: document order across element kinds */
    {"<link rel=next href=n><a href=a></a><map><area href=r></map><iframe src=i></iframe><a href=z></a>", NULL,
     false, false, NULL,
     {"http://h.example/dir/n", "http://h.example/dir/a", "http://h.example/dir/r", "http://h.example/dir/i",
      "http://h.example/dir/z"}},
    /* 23: malformed markup: unclosed tags, unquoted and odd attributes */
    {"<div><p><a href=x1>one<a href=x2 class=c>two<table><tr><td><a href = 'x3' >three<a href=\"x4\"class=c>"
     "four</b></i><A HREF=X5 HREF=X6>five<a href=x7/><a href=\"x8>", NULL, false, false, NULL,
     {"http://h.example/dir/x1", "http://h.example/dir/x2", "http://h.example/dir/x3", "http://h.example/dir/x4",
      "http://h.example/dir/X5", "http://h.example/dir/x7/"}},
    /* 24: character references and whitespace in attributes */
    {"<a href=\"?a=1&amp;b=2\"><a href=\"  spaced  \"><a href=\"caf&eacute;\"><a href=\"a b\">", NULL, false, false,
     NULL,
     {"http://h.example/dir/page.html?a=1&b=2", "http://h.example/dir/spaced", "http://h.example/dir/caf%C3%A9",
      "http://h.example/dir/a%20b"}},
    /* 25: links in scripts, styles, comments and textareas are text */
    {"<script>document.write('<a href=\"s\">')</script><style>a{}</style><!-- <a href=c> -->"
     "<textarea><a href=t></textarea><a href=yes>",
     NULL, false, false, NULL, {"http://h.example/dir/yes"}},
    /* 26: SVG links (href and xlink:href), noscript and template content */
    {"<svg><a href=s1><text>x</text></a><a xlink:href=s2></a></svg><noscript><a href=n1></a></noscript>"
     "<template><a href=t1></a></template>",
     NULL, false, false, NULL,
     {"http://h.example/dir/s1", "http://h.example/dir/s2", "http://h.example/dir/n1", "http://h.example/dir/t1"}},
    /* 27: elements without their attribute */
    {"<a name=x>x</a><a>y</a><area><iframe></iframe><link rel=next>", NULL, false, false, NULL, {NULL}},
    /* 28: an empty page */
    {"", NULL, false, false, NULL, {NULL}},
    /* 29-32: text before a frameset: whitespace (also as a character
     * reference) keeps it, other text turns it off (frameset-ok) */
    {"<head></head> \n\t <frameset><frame src=f></frameset>", NULL, false, false, NULL, {"http://h.example/dir/f"}},
    {"<head></head>&#32;<frameset><frame src=f></frameset>", NULL, false, false, NULL, {"http://h.example/dir/f"}},
    {"<head></head> words <frameset><frame src=f></frameset>", NULL, false, false, NULL, {NULL}},
    {"<head></head>&#65;<frameset><frame src=f></frameset>", NULL, false, false, NULL, {NULL}},
    /* 33: "</" and a non-letter open a bogus comment up to the first '>' */
    {"</ x <a href=in>text<a href=out>", NULL, false, false, NULL, {"http://h.example/dir/out"}},
    /* a '<' that is text, then text: no tag may start there */
    {"<p>I <3 you <a href=/target>t</a> and a<0.5 <a href=\"/second\">s</a> <$ <# <\xc3\xa9 <a href=third>x</a></p>",
     NULL, false, false, NULL, {"http://h.example/target", "http://h.example/second", "http://h.example/dir/third"}},
    /* an HTML element breaks out of <math>, so <script> is raw text: its
     * "attribute" holds the real </script> */
    {"<math><b><script><t href=</script><a href=e>", NULL, false, false, NULL, {"http://h.example/dir/e"}},
    /* 34: stray text in a table is foster-parented, with the link after it,
     * before the table; whitespace is not */
    {"<table> <tr><td>cell text<a href=c></a></td></tr>stray words<a href=d></a></table>", NULL, false, false, NULL,
     {"http://h.example/dir/d", "http://h.example/dir/c"}},
};

static size_t count(const char *const *urls) {
  size_t n = 0;
  while (n < MAX_URLS && urls[n]) n++;
  return n;
}

/* Checks l against c, naming the case on failure. */
static void check_case(size_t i, const links_case *c, const crawl_links *l) {
  size_t want = count(c->urls);
  cr_assert_eq(l->noindex, c->noindex, "case %zu (%s): noindex %d, want %d", i, c->html, l->noindex, c->noindex);
  cr_assert_eq(l->nofollow, c->nofollow, "case %zu (%s): nofollow %d, want %d", i, c->html, l->nofollow,
               c->nofollow);
  const char *base = c->base ? c->base : PAGE;
  cr_assert(l->base && !strcmp(l->base, base), "case %zu (%s): base %s, want %s", i, c->html,
            l->base ? l->base : "(null)", base);
  for (size_t k = 0; k < l->n && k < want; k++)
    cr_assert_str_eq(l->urls[k], c->urls[k], "case %zu (%s): url %zu is %s, want %s", i, c->html, k, l->urls[k],
                     c->urls[k]);
  cr_assert_eq(l->n, want, "case %zu (%s): %zu urls (first extra: %s), want %zu", i, c->html, l->n,
               l->n > want ? l->urls[want] : "-", want);
}

Test(links, table, .timeout = 30) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const links_case *c = &cases[i];
    const char *agent = !c->agent ? AGENT : c->agent[0] ? c->agent : NULL;
    crawl_links l;
    int rc = crawl_links_extract(c->html, strlen(c->html), PAGE, agent, &l);
    cr_assert_eq(rc, 0, "case %zu (%s): rc %d", i, c->html, rc);
    check_case(i, c, &l);
    crawl_links_free(&l);
    cr_assert_eq(l.n, 0, "case %zu: free left n = %zu", i, l.n);
    cr_assert_null(l.urls);
  }
}

/* ------------------------------------------------------ hostile input */

/* xorshift64: the same bytes every run. */
static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Every URL extracted is an absolute http(s) URL. */
static void check_urls(const char *what, const crawl_links *l) {
  for (size_t i = 0; i < l->n; i++)
    cr_assert(!strncmp(l->urls[i], "http://", 7) || !strncmp(l->urls[i], "https://", 8), "%s: url %zu is %s", what,
              i, l->urls[i]);
}

static void extract_ok(const char *what, const char *html, size_t len, crawl_links *l, double max_ms) {
  uint64_t t0 = mono_ns();
  int rc = crawl_links_extract(html, len, PAGE, AGENT, l);
  double ms = ms_since(t0);
  cr_log_info("%s: %zu bytes, %zu urls, %.1f ms", what, len, l->n, ms);
  cr_assert_eq(rc, 0, "%s: rc %d", what, rc);
  cr_assert(ms < max_ms, "%s: took %.0f ms (limit %.0f)", what, ms, max_ms);
  check_urls(what, l);
}

/* 1 MiB of random bytes, then 1 MiB drawn from markup characters, which
 * make many more (broken) tags. */
Test(links, random_bytes, .timeout = 120) {
  static const char markup[] = "<<>>/=\"' \n\tabhrefsi!-&#;x\0";
  size_t n = 1 << 20;
  char *buf = malloc(n);
  cr_assert_not_null(buf);
  for (int round = 0; round < 2; round++) {
    uint64_t seed = 0x5eed5eed12345678ull + (uint64_t)round;
    for (size_t i = 0; i < n; i++) {
      uint64_t r = next_rand(&seed);
      buf[i] = round == 0 ? (char)(r >> 24) : markup[(r >> 24) % (sizeof markup - 1)];
    }
    crawl_links l;
    extract_ok(round == 0 ? "random bytes" : "random markup", buf, n, &l, 60000);
    crawl_links_free(&l);
  }
  free(buf);
}

/* The prefilter (text shrunk, deep tags cut) gives the links that gumbo
 * finds in the page as it is: random documents built from markup that
 * moves the tokenizer and the tree builder between states (text,
 * character references, comments, raw text, tables, framesets, foreign
 * content), each extracted both ways. */
static const char *const pieces[] = {
    "<html>", "<head>", "</head>", "<body>", "</body>", "<frameset>", "</frameset>", "<frame src=f%d>",
    "<iframe src=i%d>", "</iframe>", "<table>", "</table>", "<tr>", "<td>", "</td>", "<a href=a%d>",
    "<a href='q%d'>", "<a href=\"d%d\">", "</a>", "<p>", "</p>", "<div>", "</div>", "<pre>", "</pre>",
    "<script>", "</script>", "<style>", "</style>", "<title>", "</title>", "<textarea>", "</textarea>", "<svg>",
    "</svg>", "<math>", "</math>", "<!--", "-->", "--!>", "<!-- c -->", "<!DOCTYPE html>", "<?pi>", "</ x>",
    "</>", "< ", "<", "&amp;", "&#32;", "&#x20;", "&Tab;", "&NewLine;", "&nbsp;", "&", " ", "\n", "\t", "\r\n",
    "hello", " world ", "x", "'", "\"", "=", ">", "/", "-", "!", "]]>", "<![CDATA[", "<base href=/b%d/>",
    "<meta name=robots content=nofollow>", "<link rel=next href=l%d>", "<area href=r%d>", "<select>",
    "</select>", "<option>", "<noscript>", "</noscript>", "<plaintext>", "<colgroup>", "<caption>",
    "<a title='x>y' href=t%d>", "<a href=u%d title=\"a b\">", "<xmp>", "</xmp>", "<noframes>", "</noframes>",
    "<template>", "</template>", "<li>", "<ul>", "<b>", "</b>", "text - with = signs", "`", "?", "<p/>",
    "<br/>", "<a\nhref=n%d>", "<A HREF=up%d>", "</scri", "<script><!--<script>", "</script >", "&#9;", "&#65;",
    /* href and src values, moved out of the parse or not */
    "<a href=\"x&amp;y%d\">", "<a href=same-long-value>", "<b href=same-long-value>", "<a HREF=dup%d href=other>",
    "<a href='&#xE000;5'>", "<a href='&#57344;12'>", ("<a href=\"\xee\x80\x80" "12\">"), "<iframe src=a-longer-src-%d>",
    "<a href=\"tab\tand\nnewline%d\">", "<a href=\"cr\rhere%d\">", "<a href=caf\xc3\xa9-%d>",
    "<a href = \"spaced-value-%d\" >", "<a href=unquoted-long-%d/>", "<base href=/base-long-path-%d/>",
    "<frameset><frame src=frame-long-%d>", "<a href=''>", "<a href=>", "<area href=\"/area-long-%d\">",
    /* a '<' that is text, followed by text of every kind */
    "<3", " <0.5 ", "a<b", "<$", "<#", "<.", "<\xc3\xa9", "<_", "< x", "<t href=</script>",
};

static void same_links(const char *doc, size_t len, uint64_t k) {
  crawl_links a, b;
  cr_assert_eq(crawl_links_extract(doc, len, PAGE, AGENT, &a), 0, "doc %" PRIu64 ": %s", k, doc);
  cr_assert_eq(crawl_links_extract_exact(doc, len, PAGE, AGENT, &b), 0, "doc %" PRIu64 ": %s", k, doc);
  cr_assert(a.noindex == b.noindex && a.nofollow == b.nofollow && !strcmp(a.base, b.base),
            "doc %" PRIu64 ": directives or base differ: %s", k, doc);
  cr_assert_eq(a.n, b.n, "doc %" PRIu64 ": %zu urls, exact parse %zu: %s", k, a.n, b.n, doc);
  for (size_t i = 0; i < a.n; i++)
    cr_assert_str_eq(a.urls[i], b.urls[i], "doc %" PRIu64 ", url %zu: %s", k, i, doc);
  crawl_links_free(&a);
  crawl_links_free(&b);
}

/* Appends a random piece to doc (len bytes so far, cap in all); the new length. */
static size_t add_piece(char *doc, size_t len, size_t cap, const char *const *set, size_t n, uint64_t *seed) {
  const char *p = set[next_rand(seed) % n];
  int w = snprintf(doc + len, cap - len, p, (int)(next_rand(seed) % 100));
  return len + (size_t)w;
}

/* A document of 1 to 120 random pieces. */
static size_t random_doc(char *doc, size_t cap, uint64_t *seed) {
  size_t len = 0, count = 1 + next_rand(seed) % 120;
  for (size_t i = 0; i < count && len < cap - 64; i++)
    len = add_piece(doc, len, cap, pieces, sizeof pieces / sizeof pieces[0], seed);
  return len;
}

Test(links, prefilter_matches_exact_parse, .timeout = 300) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  char doc[8192];
  for (uint64_t k = 0; k < 20000; k++) {
    size_t len = random_doc(doc, sizeof doc, &seed);
    same_links(doc, len, k);
  }
}

/* The same with the depth cap at 1 to 8, so that almost every document
 * crosses it somewhere (before, inside or after its head, in text, tables,
 * foreign content...): whatever the cap, the links are the same. */
Test(links, prefilter_matches_exact_parse_low_cap, .timeout = 300) {
  uint64_t seed = 0x2545f4914f6cdd1dull;
  char doc[8192];
  for (uint64_t k = 0; k < 20000; k++) {
    size_t len = random_doc(doc, sizeof doc, &seed);
    crawl_links_set_depth_cap(1 + k % 8);
    same_links(doc, len, k);
  }
  crawl_links_set_depth_cap(0);
}

/* Markup that builds the stack of open elements up (or, for the few end
 * tags and text among them, not quite). */
static const char *const openers[] = {
    "<div>", "<span>", "<b>", "<i>", "<ul>", "<x-y>", "<em>", "<section>", "<center>", "<font>", "<nobr>",
    "<button>", "<object>", "<a href=o%d>", "<p>", "<li>", "<dd>", "<form>", "<h2>", "<noscript>", "<option>",
    "<pre>", "</p>", "</b>", "</div>", "</x-z>", "x", " ", "<br>", "</form>",
};

/* At the real cap (512): documents that nest past it, either a deep
 * prefix then random pieces, or openers and pieces mixed. */
Test(links, prefilter_matches_exact_parse_past_cap, .timeout = 300) {
  uint64_t seed = 0x853c49e6748fea9bull;
  size_t cap = 32768, no = sizeof openers / sizeof openers[0], np = sizeof pieces / sizeof pieces[0];
  char *doc = malloc(cap);
  cr_assert_not_null(doc);
  for (uint64_t k = 0; k < 1500; k++) {
    size_t len = 0, deep = 520 + next_rand(&seed) % 400;
    bool mixed = k % 2;
    for (size_t i = 0; i < deep; i++) {
      bool opener = !mixed || next_rand(&seed) % 10 < 8;
      /* the prefix proper: the 13 openers that always nest */
      len = opener ? add_piece(doc, len, cap, openers, mixed ? no : 13, &seed)
                   : add_piece(doc, len, cap, pieces, np, &seed);
    }
    size_t tail = 1 + next_rand(&seed) % 60;
    for (size_t i = 0; i < tail && len < cap - 64; i++) len = add_piece(doc, len, cap, pieces, np, &seed);
    same_links(doc, len, k);
  }
  free(doc);
}

/* Debian's gumbo asserts on some hostile markup; the parse is abandoned
 * (-EPROTO) instead of the process, and the next parse works. */
Test(links, gumbo_assertion_is_caught, .timeout = 30) {
  static const char trap[] = "<table><math><select><mi><select><td>";
  for (int round = 0; round < 3; round++) {
    crawl_links l;
    int rc = crawl_links_extract(trap, sizeof trap - 1, PAGE, AGENT, &l);
    cr_assert_eq(rc, -EPROTO, "round %d: rc %d, want -EPROTO", round, rc);
    cr_assert_eq(l.n, 0);
    const char ok[] = "<a href=after>";
    cr_assert_eq(crawl_links_extract(ok, sizeof ok - 1, PAGE, AGENT, &l), 0);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.urls[0], "http://h.example/dir/after");
    crawl_links_free(&l);
  }
}

/* NULs anywhere: in text, in attribute values, in tag names. */
Test(links, nul_bytes, .timeout = 30) {
  static const char html[] = "\0<a href=\"x\0y\">\0</a><d\0iv><a href=z\0>";
  crawl_links l;
  extract_ok("NULs", html, sizeof html - 1, &l, 10000);
  cr_assert_eq(l.n, 2);
  cr_assert_str_eq(l.urls[0], "http://h.example/dir/x%EF%BF%BDy"); /* U+FFFD, as the parser replaces NUL */
  cr_assert_str_eq(l.urls[1], "http://h.example/dir/z%EF%BF%BD");
  crawl_links_free(&l);
  cr_assert_eq(crawl_links_extract(NULL, 0, PAGE, AGENT, &l), 0);
  cr_assert_eq(l.n, 0);
  crawl_links_free(&l);
  cr_assert(crawl_links_extract("<a href=x>", 10, NULL, AGENT, &l) < 0);
  cr_assert_eq(l.n, 0);
}

/* count copies of unit, then tail. */
static char *repeat(const char *unit, size_t count, const char *tail, size_t *len) {
  size_t ul = strlen(unit), tl = strlen(tail);
  char *s = malloc(ul * count + tl + 1);
  cr_assert_not_null(s);
  for (size_t i = 0; i < count; i++) memcpy(s + i * ul, unit, ul);
  memcpy(s + ul * count, tail, tl + 1);
  *len = ul * count + tl;
  return s;
}

typedef struct nesting_case {
  const char *unit;
  size_t count;
  bool link_kept; /* whether the link after the nesting must survive (as in the exact parse) */
} nesting_case;

/* Deep nesting the tree builder would take minutes over. */
static const nesting_case nesting_cases[] = {
    {"<div>", 100000, true},
    {"<span>", 100000, true},
    {"<x-custom>", 100000, true},
    {"<div><a href=/in>", 50000, true},
    {"<table><tr><td>", 30000, true},
    {"<ul><li><p>", 50000, true},
    {"<b><i><u>", 50000, true},
    {"<p><b></p>x", 50000, true},
    {"<x><div></x>", 50000, true},
    {"<form><div></form>", 50000, true},
    {"<svg><g>", 50000, true},
    /* foreign content is never frozen (gumbo nests it in linear time) */
    {"<svg><title><div>", 30000, true},
    /* text before the nesting and in it, <frameset> in the nesting (ignored:
     * the text turned frameset-ok off) */
    {"x<div><frameset>", 50000, true},
    {"<div><a href=/x>y</a><img>", 30000, true},
};

Test(links, deep_nesting, .timeout = 300) {
  for (size_t i = 0; i < sizeof nesting_cases / sizeof nesting_cases[0]; i++) {
    const nesting_case *c = &nesting_cases[i];
    size_t len;
    char *html = repeat(c->unit, c->count, "<a href=/end>end</a>", &len);
    char what[96];
    snprintf(what, sizeof what, "case %zu (%zu x %s)", i, c->count, c->unit);
    crawl_links l;
    extract_ok(what, html, len, &l, 20000);
    bool found = false;
    for (size_t k = 0; k < l.n; k++) found |= !strcmp(l.urls[k], "http://h.example/end");
    cr_assert(found || !c->link_kept, "%s: the link after the nesting was lost (%zu urls)", what, l.n);
    crawl_links_free(&l);
    free(html);
  }
}

/* Issue 10, item 8: past 600 nested <div>s the <frameset> is past the
 * depth cap, but gumbo still takes it (frameset-ok holds: nothing before it
 * turned it off), and it replaces the body: the page has no links.  The
 * prefilter found the body's two. */
Test(links, frameset_past_depth_cap, .timeout = 30) {
  size_t len;
  char *html = repeat("<div>", 600, "<a href=c><frameset><a href=deep>", &len);
  crawl_links a, b;
  cr_assert_eq(crawl_links_extract_exact(html, len, PAGE, AGENT, &b), 0);
  cr_assert_eq(b.n, 0, "the exact parse found %zu links", b.n);
  cr_assert_eq(crawl_links_extract(html, len, PAGE, AGENT, &a), 0);
  cr_assert_eq(a.n, 0, "the prefilter found %zu links (the first: %s), the exact parse none", a.n,
               a.n ? a.urls[0] : "-");
  crawl_links_free(&a);
  crawl_links_free(&b);
  free(html);
  /* with text before it, frameset-ok is off: the <frameset> is ignored */
  html = repeat("<div>", 600, "x<a href=c><frameset><a href=deep>", &len);
  same_links(html, len, 0);
  cr_assert_eq(crawl_links_extract(html, len, PAGE, AGENT, &a), 0);
  cr_assert_eq(a.n, 2);
  crawl_links_free(&a);
  free(html);
}

/* Past the cap an <a>, <area> or <iframe> reaches gumbo as a <link> that
 * says what it stands for; its attributes must read as they did after the
 * tag's name.  Found by fuzz_links: in <a = href=e> the '=' starts an
 * attribute of its own, but after the marker it gave the marker the value
 * "href=e", and the link was lost. */
Test(links, frozen_link_keeps_attributes, .timeout = 30) {
  static const char *const tails[] = {
      "<a = href=e>", "<a =x href=e>", "<a/href=e>", "<a\thref=e>", "<a>", "<a href=e/>", "<a href=e =>",
      "<iframe =a src=i></iframe>", "<area = href=r>", "<a\n=\nhref=e>", "<a href = e>", "<a/ = /href=e>",
  };
  char doc[256];
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    snprintf(doc, sizeof doc, "<i><l><i><v>%s<a href=after>", tails[i]);
    for (size_t cap = 1; cap <= 5; cap++) {
      crawl_links_set_depth_cap(cap);
      same_links(doc, strlen(doc), i * 10 + cap);
    }
  }
  crawl_links_set_depth_cap(0);
}

/* Where the prefilter cannot know how gumbo's tokenizer reads a raw text
 * element or a CDATA section (after <svg>, <math>, <select> or <frameset>,
 * or in a script with "<!--"), a wrong guess must not shrink what gumbo
 * reads as an attribute value.  Found by fuzz_links: after <svg><i> gumbo
 * is back in HTML (<i> breaks out of foreign content), so <![CDATA[> is a
 * comment and the href holds "]]>\xff"; the prefilter read a CDATA section
 * up to "]]>" and shrank the \xff after it as text. */
Test(links, misread_raw_text_keeps_values, .timeout = 30) {
  static const char *const docs[] = {
      "<svg><i><![CDATA[><a href=\"]]>\xff\">",
      "<svg><desc><span></svg></span><![CDATA[><a href=\"]]>\xff\">",
      "<select><style></select><a href=\"</style>\xff\">",
      "<select><title></select><a href=\"</title>\xff x\">",
      "<frameset><style><frame src=\"</style>\xff\">",
      "<math><p><style><a href=\"</style>\xff\">",
      "<script><!--<script></script><a title=\"</script><a href='x\">\xff'>",
  };
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) same_links(docs[i], strlen(docs[i]), i);
}

/* A megabyte-long href is no URL; a megabyte-long other attribute is fine. */
Test(links, huge_attributes, .timeout = 60) {
  size_t n = 1 << 20;
  char *html = malloc(2 * n + 100);
  cr_assert_not_null(html);
  char *p = html;
  p += sprintf(p, "<a href=\"");
  memset(p, 'a', n), p += n;
  p += sprintf(p, "\">x</a><a title=\"");
  memset(p, 't', n), p += n;
  p += sprintf(p, "\" href=ok>y</a>");
  crawl_links l;
  extract_ok("huge attributes", html, (size_t)(p - html), &l, 20000);
  cr_assert_eq(l.n, 1);
  cr_assert_str_eq(l.urls[0], "http://h.example/dir/ok");
  crawl_links_free(&l);
  free(html);
}

/* A tag with 100,000 attributes: the tree builder checks each against all
 * before it (quadratic), so the parse runs out of its CPU budget and is
 * abandoned, in bounded time, with nothing to free. */
Test(links, parse_budget, .timeout = 120) {
  size_t cap = 100000 * 8 + 64, len = 0;
  char *html = malloc(cap);
  cr_assert_not_null(html);
  len += (size_t)sprintf(html, "<div");
  for (int i = 0; i < 100000; i++) len += (size_t)sprintf(html + len, " a%d", i);
  len += (size_t)sprintf(html + len, "><a href=x>");
  crawl_links l;
  uint64_t t0 = mono_ns();
  int rc = crawl_links_extract(html, len, PAGE, AGENT, &l);
  double ms = ms_since(t0);
  cr_log_info("attribute bomb: rc %d after %.0f ms", rc, ms);
  cr_assert_eq(rc, -ETIMEDOUT, "rc %d", rc);
  cr_assert_eq(l.n, 0);
  cr_assert_null(l.urls);
  cr_assert_null(l.base);
  free(html);
}

/* At most 100,000 URLs per page, the first ones. */
Test(links, url_cap, .timeout = 300) {
  size_t n = 100005, len = 0;
  char *html = malloc(n * 24 + 1);
  cr_assert_not_null(html);
  for (size_t i = 0; i < n; i++) len += (size_t)sprintf(html + len, "<a href=/%zu></a>", i);
  crawl_links l;
  extract_ok("100,005 links", html, len, &l, 120000);
  cr_assert_eq(l.n, 100000);
  cr_assert_str_eq(l.urls[0], "http://h.example/0");
  cr_assert_str_eq(l.urls[99999], "http://h.example/99999");
  crawl_links_free(&l);
  free(html);
}
