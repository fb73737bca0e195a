/* test_robots.c - robots.txt parsing and matching (RFC 9309): a table of
 * {file, agent, path, verdict} cases (the RFC's section 5 examples, Google's
 * documented path examples, google/robotstxt's ID_* behaviours), then the
 * parts a table does not show: crawl-delay, group selection, line ends,
 * the 500 KiB limit, hostile input and pathological wildcards. */
#define _GNU_SOURCE
#include "sched/spt.h"

#include "links.h"
#include "robots.h"

typedef struct {
  const char *body;
  const char *agent;
  const char *path;
  bool allowed;
} robots_case;

/* RFC 9309 5.1. */
static const char rfc_simple[] =
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
    "EOF\n";

/* RFC 9309 5.2. */
static const char rfc_longest[] =
    "User-Agent: foobot\n"
    "Allow: /example/page/\n"
    "Disallow: /example/page/disallowed.gif\n";

/* google/robotstxt ID_LineSyntax_Groups: blank lines neither end a group
 * nor split user-agent lines; BazBot shares FooBot's second group. */
static const char google_groups[] =
    "allow: /foo/bar/\n"
    "\n"
    "user-agent: FooBot\n"
    "disallow: /\n"
    "allow: /x/\n"
    "user-agent: BarBot\n"
    "disallow: /\n"
    "allow: /y/\n"
    "\n"
    "\n"
    "allow: /w/\n"
    "user-agent: BazBot\n"
    "\n"
    "user-agent: FooBot\n"
    "allow: /z/\n"
    "disallow: /\n";

/* Unknown records and Sitemap do not end a run of user-agent lines. */
static const char google_sitemap[] =
    "User-agent: BarBot\n"
    "Sitemap: https://foo.bar/sitemap\n"
    "User-agent: *\n"
    "Disallow: /\n";
static const char google_unknown[] =
    "User-agent: FooBot\n"
    "Invalid-Unknown-Line: unknown\n"
    "User-agent: *\n"
    "Disallow: /\n";

static const char precedence_tie[] = "user-agent: *\nallow: /folder\ndisallow: /folder\n";
static const char root_only[] = "user-agent: *\nallow: /$\ndisallow: /\n";
static const char star_secondary[] = "user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n";
static const char encoded_utf8[] = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/\xE3\x83\x84\n";
static const char encoded_unreserved[] = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n";
static const char special_chars[] = "User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n";
static const char dollar_end[] = "User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n";
static const char comments[] = "User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n";

/* Google's path-matching examples, each as the only disallow of "*". */
#define DIS(pattern) "user-agent: *\ndisallow: " pattern "\n"

static const robots_case cases[] = {
    /* RFC 9309 5.1 */
    {rfc_simple, "foobot", "/example/page.html", true},
    {rfc_simple, "foobot", "/example/allowed.gif", true},
    {rfc_simple, "foobot", "/example/other.html", false},
    {rfc_simple, "foobot", "/", false},
    {rfc_simple, "foobot", "/robots.txt", true},
    {rfc_simple, "barbot", "/example/page.html", false},
    {rfc_simple, "bazbot", "/example/page.html", false},
    {rfc_simple, "barbot", "/example/other.gif", true},
    {rfc_simple, "quxbot", "/example/page.html", true},
    {rfc_simple, "quxbot", "/images/a.gif", true},
    {rfc_simple, "otherbot", "/example/x", false},
    {rfc_simple, "otherbot", "/images/a.gif", false},
    {rfc_simple, "otherbot", "/images/a.gif?size=2", true},
    {rfc_simple, "otherbot", "/publications/x", true},
    {rfc_simple, "otherbot", "/publications/a.gif", true},
    {rfc_simple, "FooBot/2.1 (+https://foo.example/)", "/example/other.html", false},
    /* RFC 9309 5.2 */
    {rfc_longest, "foobot", "/example/page/", true},
    {rfc_longest, "foobot", "/example/page/disallowed.gif", false},
    {rfc_longest, "foobot", "/example/page/other.gif", true},
    /* Google: /fish */
    {DIS("/fish"), "bot", "/fish", false},
    {DIS("/fish"), "bot", "/fish.html", false},
    {DIS("/fish"), "bot", "/fish/salmon.html", false},
    {DIS("/fish"), "bot", "/fishheads", false},
    {DIS("/fish"), "bot", "/fishheads/yummy.html", false},
    {DIS("/fish"), "bot", "/fish.php?id=anything", false},
    {DIS("/fish"), "bot", "/Fish.asp", true},
    {DIS("/fish"), "bot", "/catfish", true},
    {DIS("/fish"), "bot", "/?id=fish", true},
    {DIS("/fish"), "bot", "/desert/fish", true},
    /* Google: /fish* is /fish */
    {DIS("/fish*"), "bot", "/fish", false},
    {DIS("/fish*"), "bot", "/fishheads/yummy.html", false},
    {DIS("/fish*"), "bot", "/fish.php?id=anything", false},
    {DIS("/fish*"), "bot", "/Fish.asp", true},
    {DIS("/fish*"), "bot", "/catfish", true},
    /* Google: /fish/ */
    {DIS("/fish/"), "bot", "/fish/", false},
    {DIS("/fish/"), "bot", "/fish/?id=anything", false},
    {DIS("/fish/"), "bot", "/fish/salmon.htm", false},
    {DIS("/fish/"), "bot", "/fish", true},
    {DIS("/fish/"), "bot", "/fish.html", true},
    {DIS("/fish/"), "bot", "/animals/fish/", true},
    {DIS("/fish/"), "bot", "/Fish/Salmon.asp", true},
    /* Google: ".php" anywhere ("*.php" after the root slash) */
    {DIS("/*.php"), "bot", "/index.php", false},
    {DIS("/*.php"), "bot", "/filename.php", false},
    {DIS("/*.php"), "bot", "/folder/filename.php", false},
    {DIS("/*.php"), "bot", "/folder/filename.php?parameters", false},
    {DIS("/*.php"), "bot", "/folder/any.php.file.html", false},
    {DIS("/*.php"), "bot", "/filename.php/", false},
    {DIS("/*.php"), "bot", "/", true},
    {DIS("/*.php"), "bot", "/windows.PHP", true},
    /* Google: ".php" at the end ("*.php$" after the root slash) */
    {DIS("/*.php$"), "bot", "/filename.php", false},
    {DIS("/*.php$"), "bot", "/folder/filename.php", false},
    {DIS("/*.php$"), "bot", "/filename.php?parameters", true},
    {DIS("/*.php$"), "bot", "/filename.php/", true},
    {DIS("/*.php$"), "bot", "/filename.php5", true},
    {DIS("/*.php$"), "bot", "/windows.PHP", true},
    /* Google: /fish*.php */
    {DIS("/fish*.php"), "bot", "/fish.php", false},
    {DIS("/fish*.php"), "bot", "/fishheads/catfish.php?parameters", false},
    {DIS("/fish*.php"), "bot", "/Fish.PHP", true},
    /* Google: the root and everything (with or without "*"), the root only */
    {DIS("/"), "bot", "/", false},
    {DIS("/"), "bot", "/any/thing?x", false},
    {DIS("/*"), "bot", "/any/thing?x", false},
    {DIS("/$"), "bot", "/", false},
    {DIS("/$"), "bot", "/page", true},
    {DIS("/$"), "bot", "/?q=1", true},
    /* Precedence (2.2.2; Google's "order of precedence" table) */
    {"user-agent: *\nallow: /p\ndisallow: /\n", "bot", "/page", true},
    {precedence_tie, "bot", "/folder/page", true},
    {"user-agent: *\nallow: /page\ndisallow: /*.htm\n", "bot", "/page.htm", false},
    {"user-agent: *\nallow: /page\ndisallow: /*.ph\n", "bot", "/page.php5", true},
    /* A pattern's octets include its '*' and '$', as in google/robotstxt. */
    {"user-agent: *\nallow: /page\ndisallow: /page$\n", "bot", "/page", false},
    {"user-agent: *\nallow: /page\ndisallow: /page$\n", "bot", "/page2", true},
    {root_only, "bot", "/", true},
    {root_only, "bot", "/page.htm", false},
    /* google/robotstxt ID_LongestMatch */
    {"user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/page.html\n", "FooBot", "/x/page.html", true},
    {"user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", "/x/page.html", true},
    {"user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", "/x/", false},
    {"user-agent: FooBot\ndisallow: \nallow: \n", "FooBot", "/x/page.html", true},
    {"user-agent: FooBot\ndisallow: /\nallow: /\n", "FooBot", "/x/page.html", true},
    {"user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "/x", false},
    {"user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "/x/", true},
    {"user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", "/page.html", false},
    {"user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", "/page", true},
    {"user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", "/x/page.html", true},
    {"user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", "/x/y.html", false},
    {"User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", "/x/page", true},
    {"User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", "/y/page", false},
    /* google/robotstxt ID_LineSyntax_Groups */
    {google_groups, "FooBot", "/x/b", true},
    {google_groups, "FooBot", "/z/d", true},
    {google_groups, "FooBot", "/y/c", false},
    {google_groups, "FooBot", "/foo/bar/", false},
    {google_groups, "BarBot", "/y/c", true},
    {google_groups, "BarBot", "/w/a", true},
    {google_groups, "BarBot", "/z/d", false},
    {google_groups, "BazBot", "/z/d", true},
    {google_groups, "BazBot", "/x/b", false},
    {google_sitemap, "FooBot", "/", false},
    {google_sitemap, "BarBot", "/", false},
    {google_unknown, "FooBot", "/", false},
    {google_unknown, "BarBot", "/", false},
    /* Case: record names and agents insensitive, paths sensitive */
    {"USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n", "FooBot", "/x/y", true},
    {"uSeR-aGeNt: FooBot\nAlLoW: /x/\nDiSaLlOw: /\n", "FooBot", "/a/b", false},
    {"User-Agent: FOO BAR\nAllow: /x/\nDisallow: /\n", "foo", "/x/y", true},
    {"User-Agent: FOO BAR\nAllow: /x/\nDisallow: /\n", "Foo", "/a/b", false},
    {"user-agent: FooBot\ndisallow: /x/\n", "FooBot", "/x/y", false},
    {"user-agent: FooBot\ndisallow: /X/\n", "FooBot", "/x/y", true},
    /* Agent selection (2.2.1) */
    {star_secondary, "FooBot", "/x/y", false},
    {star_secondary, "BarBot", "/x/y", true},
    {"user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\n", "QuxBot", "/x/y", true},
    {"user-agent: Googlebot-Image\ndisallow: /\n", "Googlebot", "/a", true},
    {"user-agent: Googlebot\ndisallow: /\n", "Googlebot-Image", "/a", true},
    {"user-agent: googlebot/2.1\ndisallow: /\n", "Googlebot", "/a", false},
    {"user-agent: *bot\ndisallow: /\n", "bot", "/a", true},
    {"", "FooBot", "/x/y", true},
    /* Percent-encoding (2.2.2; the 1996 draft's table) */
    {encoded_utf8, "FooBot", "/foo/bar/%E3%83%84", true},
    {encoded_utf8, "FooBot", "/foo/bar/%e3%83%84", true},
    {encoded_utf8, "FooBot", "/foo/bar/\xE3\x83\x84", true},
    {encoded_utf8, "FooBot", "/foo/bar/other", false},
    {"User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n", "FooBot", "/foo/bar/\xE3\x83\x84", true},
    {encoded_unreserved, "FooBot", "/foo/bar/baz", true},
    {encoded_unreserved, "FooBot", "/foo/bar/%62%61%7a", true},
    {"User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n", "FooBot",
     "/foo/bar?qux=taz&baz=http://foo.bar?tar&par", true},
    {DIS("/a%3cd.html"), "bot", "/a%3Cd.html", false},
    {DIS("/a%3Cd.html"), "bot", "/a%3cd.html", false},
    {DIS("/a%2fb.html"), "bot", "/a/b.html", true},
    {DIS("/a/b.html"), "bot", "/a%2fb.html", true},
    {DIS("/%7ejoe/index.html"), "bot", "/~joe/index.html", false},
    {DIS("/~joe/index.html"), "bot", "/%7Ejoe/index.html", false},
    /* Special characters (2.2.3) */
    {DIS("/path/file-with-a-%2A.html"), "bot", "/path/file-with-a-*.html", false},
    {DIS("/path/file-with-a-%2A.html"), "bot", "/path/file-with-a-x.html", true},
    {DIS("/path/foo-%24"), "bot", "/path/foo-$", false},
    {DIS("/foo$bar"), "bot", "/foo$bar", false},
    {DIS("/foo$bar"), "bot", "/foo", true},
    {special_chars, "FooBot", "/foo/bar/quz", false},
    {special_chars, "FooBot", "/foo/quz", true},
    {special_chars, "FooBot", "/foo//quz", true},
    {special_chars, "FooBot", "/foo/bax/quz", true},
    {dollar_end, "FooBot", "/foo/bar", false},
    {dollar_end, "FooBot", "/foo/bar/qux", true},
    {dollar_end, "FooBot", "/foo/bar/", true},
    {dollar_end, "FooBot", "/foo/bar/baz", true},
    {comments, "FooBot", "/foo/bar", true},
    {comments, "FooBot", "/foo/quz", false},
    /* Line syntax (2.2) */
    {"user-agent: *\ndisallow:\n", "bot", "/anything", true},
    {"disallow: /\nuser-agent: *\nallow: /x\n", "bot", "/y", true},
    {"user-agent: *\nfoo: bar\nnoindex: /\ndisallow: /x\n", "bot", "/x", false},
    {"user-agent: *\nfoo: bar\nnoindex: /\ndisallow: /x\n", "bot", "/y", true},
    {"user-agent: *\ndisallow /\n", "bot", "/", true},
    {"  User-agent  :\t*  \n\tDisallow   :   /x  # no\n", "bot", "/x", false},
    {"user-agent: *\ndisallow: /a b\n", "bot", "/a%20b", false},
    {"user-agent: a\nuser-agent: b\ndisallow: /x\nuser-agent: c\ndisallow: /y\n", "b", "/y", true},
    {"user-agent: a\nuser-agent: b\ndisallow: /x\nuser-agent: c\ndisallow: /y\n", "c", "/x", true},
    /* /robots.txt is implicitly allowed (2.2.2) */
    {DIS("/"), "bot", "/robots.txt", true},
    {DIS("/"), "bot", "/robots.txt?x", false},
};

/* body with non-printing octets escaped, for failure messages. */
static const char *escaped(const char *s, char *buf, size_t n) {
  size_t o = 0;
  for (; *s && o + 5 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '\n')
      o += (size_t)snprintf(buf + o, n - o, "\\n");
    else if (c < 0x20 || c >= 0x7f)
      o += (size_t)snprintf(buf + o, n - o, "\\x%02X", c);
    else
      buf[o++] = (char)c;
  }
  buf[o] = '\0';
  return buf;
}

static bool allowed(const char *body, const char *agent, const char *path) {
  crawl_robots *r = crawl_robots_parse(body, strlen(body), agent);
  cr_assert_not_null(r, "parse failed for \"%s\"", body);
  bool ok = crawl_robots_allowed(r, path);
  crawl_robots_free(r);
  return ok;
}

Test(robots, table, .timeout = 10) {
  size_t n = sizeof cases / sizeof cases[0];
  cr_assert(n >= 60, "only %zu cases", n);
  for (size_t i = 0; i < n; i++) {
    const robots_case *c = &cases[i];
    char body[2048];
    bool got = allowed(c->body, c->agent, c->path);
    cr_assert_eq(got, c->allowed, "case %zu: agent \"%s\" path \"%s\" in \"%s\": %s, expected %s", i, c->agent,
                 c->path, escaped(c->body, body, sizeof body), got ? "allowed" : "disallowed",
                 c->allowed ? "allowed" : "disallowed");
  }
}

static double delay_of(const char *body, const char *agent) {
  crawl_robots *r = crawl_robots_parse(body, strlen(body), agent);
  cr_assert_not_null(r);
  double d = crawl_robots_crawl_delay(r);
  crawl_robots_free(r);
  return d;
}

Test(robots, crawl_delay, .timeout = 10) {
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: 10\n", "bot"), 10.0);
  cr_assert_eq(delay_of("user-agent: *\nCrawl-Delay :  2.5  # polite\n", "bot"), 2.5);
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: .5\n", "bot"), 0.5);
  cr_assert_eq(delay_of("user-agent: *\ndisallow: /x\n", "bot"), -1.0);
  cr_assert_eq(delay_of("", "bot"), -1.0);
  /* Not a non-negative decimal: ignored. */
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: -3\n", "bot"), -1.0);
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: abc\n", "bot"), -1.0);
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: 1,5\n", "bot"), -1.0);
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: 1e3\n", "bot"), -1.0);
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay:\n", "bot"), -1.0);
  /* Before any group: belongs to none. */
  cr_assert_eq(delay_of("crawl-delay: 4\nuser-agent: *\ndisallow: /\n", "bot"), -1.0);
  /* A delay is credited to the agents named before it in its group. */
  const char *two = "user-agent: *\ncrawl-delay: 7\n\nuser-agent: bot\ncrawl-delay: 3\ndisallow: /x\n";
  cr_assert_eq(delay_of(two, "bot"), 3.0);
  cr_assert_eq(delay_of(two, "other"), 7.0);
  cr_assert_eq(delay_of("user-agent: *\ncrawl-delay: 7\nuser-agent: bot\ndisallow: /\n", "bot"), -1.0);
  /* Merged groups: the longest delay. */
  cr_assert_eq(delay_of("user-agent: bot\ncrawl-delay: 2\ndisallow: /a\nuser-agent: bot\ncrawl-delay: 5\n", "bot"),
               5.0);
  /* Crawl-delay is an other record (2.2.4): it does not end the run of
   * user-agent lines, so a and b share one group for the rules, but the
   * delay is a's, named before it. */
  const char *shared = "user-agent: a\ncrawl-delay: 5\nuser-agent: b\ndisallow: /\n";
  cr_assert_eq(delay_of(shared, "a"), 5.0);
  cr_assert_eq(delay_of(shared, "b"), -1.0);
  cr_assert_eq(allowed(shared, "a", "/x"), false);
  cr_assert_eq(allowed(shared, "b", "/x"), false);
  crawl_robots *all = crawl_robots_allow_all(), *none = crawl_robots_disallow_all();
  cr_assert_eq(crawl_robots_crawl_delay(all), -1.0);
  cr_assert_eq(crawl_robots_crawl_delay(none), -1.0);
  crawl_robots_free(all);
  crawl_robots_free(none);
}

Test(robots, group_merging, .timeout = 10) {
  /* All groups naming the agent merge, wherever they are. */
  const char *body = "user-agent: bot\ndisallow: /a\n\nuser-agent: *\ndisallow: /\n\n"
                     "user-agent: other\nuser-agent: BOT\nallow: /a/ok\ndisallow: /b\n";
  cr_assert_eq(allowed(body, "bot", "/a/x"), false);
  cr_assert_eq(allowed(body, "bot", "/a/ok"), true);
  cr_assert_eq(allowed(body, "bot", "/b"), false);
  cr_assert_eq(allowed(body, "bot", "/c"), true);
  cr_assert_eq(allowed(body, "other", "/a/x"), true);
  cr_assert_eq(allowed(body, "other", "/b"), false);
  /* Several "*" groups merge too. */
  const char *stars = "user-agent: *\ndisallow: /a\nuser-agent: x\ndisallow: /\nuser-agent: *\ndisallow: /b\n";
  cr_assert_eq(allowed(stars, "bot", "/a"), false);
  cr_assert_eq(allowed(stars, "bot", "/b"), false);
  cr_assert_eq(allowed(stars, "bot", "/c"), true);
  /* Across merged groups the longest match still wins. */
  const char *split = "user-agent: bot\nallow: /shop/cart\nuser-agent: bot\ndisallow: /shop/\n";
  cr_assert_eq(allowed(split, "bot", "/shop/cart?id=1"), true);
  cr_assert_eq(allowed(split, "bot", "/shop/item"), false);
}

Test(robots, agent_selection, .timeout = 10) {
  const char *body = "user-agent: *\ndisallow: /\n\nuser-agent: spindle\ndisallow: /private\n";
  /* Only the product token before '/' or a space counts, any case. */
  cr_assert_eq(allowed(body, "spindle", "/public"), true);
  cr_assert_eq(allowed(body, "Spindle/0.1 (+https://example.org/bot)", "/public"), true);
  cr_assert_eq(allowed(body, "SPINDLE crawler", "/private/x"), false);
  cr_assert_eq(allowed(body, "spindlex", "/public"), false);
  cr_assert_eq(allowed(body, "", "/public"), false);
  cr_assert_eq(allowed(body, NULL, "/public"), false);
  /* A group naming the agent applies even when empty: "*" does not. */
  cr_assert_eq(allowed("user-agent: *\ndisallow: /\nuser-agent: spindle\n", "spindle", "/x"), true);
  /* No group for the agent and no "*": all allowed. */
  cr_assert_eq(allowed("user-agent: other\ndisallow: /\n", "spindle", "/x"), true);
  /* A group naming both the agent and "*". */
  cr_assert_eq(allowed("user-agent: *\nuser-agent: spindle\ndisallow: /x\n", "spindle", "/x"), false);
  cr_assert_eq(allowed("user-agent: *\nuser-agent: spindle\ndisallow: /x\n", "other", "/x"), false);
}

/* One product token for the whole crawler (RFC 9309 2.2.1: letters, '-'
 * and '_'): robots.txt groups, <meta name> directives and the command line
 * all cut a User-Agent the same way (issue 11: "Bot2/1.0" was "Bot2" in two
 * places and "Bot" in the third). */
Test(robots, one_product_token, .timeout = 10) {
  cr_assert_eq(crawl_robots_token_len("spindle/0.1 (+https://example.org/bot)"), 7);
  cr_assert_eq(crawl_robots_token_len("Bot2/1.0"), 3);
  cr_assert_eq(crawl_robots_token_len("my-bot_x crawler"), 8);
  cr_assert_eq(crawl_robots_token_len("2bot"), 0);
  cr_assert_eq(crawl_robots_token_len(""), 0);
  cr_assert_eq(crawl_robots_token_len(NULL), 0);
  /* The group "Bot" applies to "Bot2/1.0", as robots.txt's own "Bot2" line
   * is read as "Bot" too. */
  cr_assert_eq(allowed("user-agent: *\ndisallow: /\n\nuser-agent: Bot\ndisallow: /x\n", "Bot2/1.0", "/y"), true);
  cr_assert_eq(allowed("user-agent: *\ndisallow: /\n\nuser-agent: Bot2\ndisallow: /x\n", "Bot2/1.0", "/x"), false);
  crawl_links l;
  static const char page[] = "<meta name=Bot content=nofollow><a href=a>";
  cr_assert_eq(crawl_links_extract(page, sizeof page - 1, "http://h.example/", "Bot2/1.0", &l), 0);
  cr_assert(l.nofollow && l.n == 0, "<meta name=Bot> does not apply to Bot2/1.0: nofollow %d, %zu links", l.nofollow,
            l.n);
  crawl_links_free(&l);
}

Test(robots, fetch_failures, .timeout = 10) {
  crawl_robots *all = crawl_robots_allow_all(), *none = crawl_robots_disallow_all();
  cr_assert_not_null(all);
  cr_assert_not_null(none);
  cr_assert_eq(crawl_robots_allowed(all, "/"), true);
  cr_assert_eq(crawl_robots_allowed(all, "/x?y"), true);
  cr_assert_eq(crawl_robots_allowed(none, "/"), false);
  cr_assert_eq(crawl_robots_allowed(none, "/x?y"), false);
  cr_assert_eq(crawl_robots_allowed(none, ""), false);
  cr_assert_eq(crawl_robots_allowed(none, "/robots.txt"), true);
  crawl_robots_free(all);
  crawl_robots_free(none);
  crawl_robots_free(NULL);
  /* Nothing to parse: all allowed. */
  crawl_robots *empty = crawl_robots_parse(NULL, 0, "bot");
  cr_assert_not_null(empty);
  cr_assert_eq(crawl_robots_allowed(empty, "/x"), true);
  crawl_robots_free(empty);
}

Test(robots, bom, .timeout = 10) {
  cr_assert_eq(allowed("\xEF\xBB\xBFUser-Agent: foo\nDisallow: /AnyValue\n", "foo", "/AnyValue"), false);
  /* A partial BOM is skipped as well. */
  cr_assert_eq(allowed("\xEF\xBBUser-Agent: foo\nDisallow: /AnyValue\n", "foo", "/AnyValue"), false);
  cr_assert_eq(allowed("\xEFUser-Agent: foo\nDisallow: /AnyValue\n", "foo", "/AnyValue"), false);
  /* Only at the very start: a second one spoils its line. */
  cr_assert_eq(allowed("\xEF\xBB\xBF\xEF\xBB\xBFUser-Agent: foo\nDisallow: /AnyValue\n", "foo", "/AnyValue"),
               true);
  cr_assert_eq(allowed("User-Agent: foo\n\xEF\xBB\xBF" "Disallow: /AnyValue\n", "foo", "/AnyValue"), true);
}

Test(robots, line_ends, .timeout = 10) {
  static const char *const bodies[] = {
      "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /\n",
      "User-Agent: foo\r\nAllow: /some/path\r\nUser-Agent: bar\r\n\r\n\r\nDisallow: /\r\n",
      "User-Agent: foo\rAllow: /some/path\rUser-Agent: bar\r\r\rDisallow: /\r",
      "User-Agent: foo\nAllow: /some/path\r\nUser-Agent: bar\r\n\n\rDisallow: /",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    cr_assert_eq(allowed(bodies[i], "foo", "/some/path"), true, "body %zu", i);
    cr_assert_eq(allowed(bodies[i], "foo", "/other"), true, "body %zu", i);
    cr_assert_eq(allowed(bodies[i], "bar", "/some/path"), false, "body %zu", i);
  }
}

/* A body of `size` octets: a "*" group, comment lines as padding, and the
 * line `tail` placed to end `end_at` octets from the start. */
static char *padded(size_t size, size_t end_at, const char *tail) {
  char *b = malloc(size + 1);
  cr_assert_not_null(b);
  memset(b, '\n', size);
  b[size] = '\0';
  const char *head = "user-agent: *\ndisallow: /in\n";
  memcpy(b, head, strlen(head));
  for (size_t i = strlen(head); i + 64 < end_at - strlen(tail); i += 64) {
    memset(b + i, 'x', 63);
    b[i] = '#';
  }
  memcpy(b + end_at - strlen(tail), tail, strlen(tail));
  return b;
}

Test(robots, size_limit, .timeout = 30) {
  const size_t kib500 = 500 * 1024;
  /* A rule ending just within 500 KiB counts; one after it does not. */
  char *b = padded(kib500 + 4096, kib500, "\ndisallow: /last\n");
  memcpy(b + kib500 + 100, "disallow: /out\n", 15);
  crawl_robots *r = crawl_robots_parse(b, kib500 + 4096, "bot");
  cr_assert_not_null(r);
  cr_assert_eq(crawl_robots_allowed(r, "/in"), false);
  cr_assert_eq(crawl_robots_allowed(r, "/last"), false);
  cr_assert_eq(crawl_robots_allowed(r, "/out"), true);
  crawl_robots_free(r);
  free(b);
  /* A line cut by the limit is dropped, not read truncated: its first part,
   * "allow: /in", would otherwise override the disallow of /in. */
  b = padded(kib500 + 4096, kib500 + 10, "\nallow: /in/anything\n");
  r = crawl_robots_parse(b, kib500 + 4096, "bot");
  cr_assert_eq(crawl_robots_allowed(r, "/in"), false);
  crawl_robots_free(r);
  free(b);
  /* A file of exactly 500 KiB whose last line has no line end: all read. */
  b = padded(kib500, kib500, "\ndisallow: /last");
  r = crawl_robots_parse(b, kib500, "bot");
  cr_assert_eq(crawl_robots_allowed(r, "/last"), false);
  crawl_robots_free(r);
  free(b);
  /* The limit counts octets, not lines: one enormous rule line, cut by the
   * limit, is dropped. */
  b = malloc(2 * kib500);
  cr_assert_not_null(b);
  memset(b, 'a', 2 * kib500);
  memcpy(b, "user-agent: *\ndisallow: /", 25);
  r = crawl_robots_parse(b, 2 * kib500, "bot");
  cr_assert_not_null(r);
  cr_assert_eq(crawl_robots_allowed(r, "/aaa"), true);
  crawl_robots_free(r);
  free(b);
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}

/* Parses and queries body; only the absence of a crash (and of sanitizer
 * reports) is checked. */
static void survive(const char *body, size_t len) {
  static const char *const paths[] = {"/", "/a", "/%", "/%4", "/%zz", "/\xFF\xFE", "/a*b$", "", NULL};
  crawl_robots *r = crawl_robots_parse(body, len, "bot");
  cr_assert_not_null(r);
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) (void)crawl_robots_allowed(r, paths[i]);
  double d = crawl_robots_crawl_delay(r);
  cr_assert(d == -1.0 || d >= 0.0);
  crawl_robots_free(r);
}

Test(robots, garbage, .timeout = 60) {
  uint64_t seed = 42;
  static const char alphabet[] = "user-agent:allow:disallow:crawl-delay:*$%#/\r\n\t \0\xEF\xBB\xBF\xFF";
  for (int round = 0; round < 200 * scale(); round++) {
    size_t len = lcg(&seed) % 4096;
    char *b = malloc(len + 1);
    cr_assert_not_null(b);
    bool from_alphabet = round % 2;
    for (size_t i = 0; i < len; i++)
      b[i] = from_alphabet ? alphabet[lcg(&seed) % (sizeof alphabet - 1)] : (char)lcg(&seed);
    survive(b, len);
    free(b);
  }
  /* NULs inside lines and values. */
  static const char nuls[] = "user-agent: *\0\ndisallow: /x\0y\n\0\0\0allow: \0\ncrawl-delay: 1\0\n";
  survive(nuls, sizeof nuls - 1);
  cr_assert_eq(allowed("user-agent: *\ndisallow: /x\n", "bot", "/x"), false);
  /* Long lines: a 1 MiB key, and a value of nothing but escapes. */
  size_t big = 1 << 20;
  char *b = malloc(big);
  cr_assert_not_null(b);
  memset(b, 'k', big);
  survive(b, big);
  memcpy(b, "user-agent: *\nallow: /", 22);
  for (size_t i = 22; i + 1 < big; i += 2) memcpy(b + i, "%%", 2);
  survive(b, big);
  /* Lines of only separators. */
  memset(b, ':', big);
  survive(b, big);
  free(b);
  /* A long path against a few rules, and through the heap-buffer branch. */
  char *path = malloc(100001);
  cr_assert_not_null(path);
  memset(path, 'x', 100000);
  path[0] = '/';
  path[100000] = '\0';
  crawl_robots *r = crawl_robots_parse(DIS("/x*y"), strlen(DIS("/x*y")), "bot");
  cr_assert_eq(crawl_robots_allowed(r, path), true);
  path[99999] = 'y';
  cr_assert_eq(crawl_robots_allowed(r, path), false);
  crawl_robots_free(r);
  free(path);
}

Test(robots, pathological_wildcards, .timeout = 30) {
  size_t n = 200000;
  char *path = malloc(n + 1);
  cr_assert_not_null(path);
  path[0] = '/';
  memset(path + 1, 'a', n - 1);
  path[n] = '\0';
  const char *body = DIS("/*a*a*a*a*a*a*a*a*b") "allow: /*a*a*a*a*a*a*a*a*a$\n";
  crawl_robots *r = crawl_robots_parse(body, strlen(body), "bot");
  cr_assert_not_null(r);
  uint64_t t0 = mono_ns();
  cr_assert_eq(crawl_robots_allowed(r, path), true);
  path[n - 1] = 'b';
  cr_assert_eq(crawl_robots_allowed(r, path), false);
  double ms = ms_since(t0);
  cr_assert(ms < 2000, "two lookups took %.0f ms", ms);
  crawl_robots_free(r);
  /* Many rules of many '*', a long pattern, against a long path. */
  size_t cap = 1 << 20, len = 0;
  char *many = malloc(cap);
  cr_assert_not_null(many);
  len += (size_t)sprintf(many, "user-agent: *\n");
  for (int i = 0; i < 2000; i++)
    len += (size_t)sprintf(many + len, "disallow: /*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a%d\n", i);
  len += (size_t)sprintf(many + len, "disallow: /");
  for (int i = 0; i < 50000; i++) many[len++] = "*a"[i % 2];
  many[len++] = 'c';
  r = crawl_robots_parse(many, len, "bot");
  cr_assert_not_null(r);
  path[n - 1] = 'a';
  path[4000] = '\0';
  t0 = mono_ns();
  cr_assert_eq(crawl_robots_allowed(r, path), true);
  ms = ms_since(t0);
  cr_assert(ms < 5000, "lookup against 2001 rules took %.0f ms", ms);
  crawl_robots_free(r);
  free(many);
  free(path);
}
