/*
 * links.c - link extraction with gumbo (HTML5 tree construction).
 *
 * gumbo (0.10.1) is slow, a character at a time, so the page it parses is
 * first shrunk to what decides the links (prefilter.h).  It has four
 * weaknesses with hostile pages, handled by the prefilter and here:
 *  - its tree builder scans the stack of open elements for most start and
 *    end tags, so deep nesting is quadratic: 10,000 nested <div> take
 *    0.2 s, 100,000 take 20 s.  Past NEST_CAP (512) open elements (browsers cap
 *    their DOM depth too; Chromium at 512) the prefilter stops handing
 *    gumbo the page's structure and hands it only the elements that link
 *    or direct, in an equivalent form that leaves its tree as it is (see
 *    "freezing" in prefilter.c): the links are those of the page as it is;
 *  - what that approximate depth estimate misses, a budget catches: gumbo
 *    allocates through our allocator, which checks the thread's CPU time and the
 *    memory in use and, past PARSE_CPU_NS or PARSE_MEM_BYTES, longjmps out
 *    of the parse and frees everything gumbo allocated (gumbo keeps no
 *    state elsewhere).  The same path handles malloc failure, which gumbo
 *    does not check;
 *  - it records every parse error with a copy of the open-element stack,
 *    which exhausts memory on deep garbage (100,000 unclosed <div> are
 *    killed for memory): max_errors = 0 turns that off;
 *  - Debian builds it with assertions, and some markup fails one, which
 *    would abort the process: a SIGABRT handler leaves the parse instead
 *    (see parse()).
 * The tree is freed through the same allocator, not gumbo_destroy_output,
 * whose recursion would follow the tree's depth on a task's small stack.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "links.h"
#include "prefilter.h"
#include "robots.h"
#include "spares.h"
#include "strset.h"

#include <errno.h>
#include <gumbo.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "url.h"

#define LINKS_MAX 100000                      /* URLs kept per page */
#define PARSE_CPU_NS (2ull * 1000000000ull)    /* CPU time one parse may take */
#define PARSE_MEM_BYTES ((size_t)1 << 30)      /* memory one parse may hold */
#define BUDGET_CHECK_EVERY 1024                /* allocations between CPU time checks */

/* ------------------------------------------------ budgeted allocation */

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

typedef struct big {
  struct big *prev, *next;
  size_t pad;
  size_t tag; /* just before the block, as for small ones */
} big;

typedef struct chunk {
  struct chunk *next;
  size_t used;
  max_align_t data[];
} chunk;

typedef struct arena {
  big head;           /* circular list of large blocks */
  chunk *chunks;      /* the current one first */
  size_t live, allocs; /* bytes held: chunks whole, large blocks while live */
  uint64_t cpu_start; /* 0 until the first check: most pages never make one */
  sigjmp_buf *bail;
  int why; /* the error longjmp'd with */
} arena;

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
static void arena_release(arena *a) {
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

/* ------------------------------------------------ tree walking */

/* Calls visit on every element in document order, with an explicit stack:
 * the tree may be as deep as the input is long.  A non-zero visit result
 * stops the walk and is returned (> 0: done early, < 0: an error). */
typedef int (*visit_fn)(const GumboNode *el, void *ctx);

static const GumboVector *children_of(const GumboNode *n) {
  if (n->type == GUMBO_NODE_DOCUMENT) return &n->v.document.children;
  if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) return &n->v.element.children;
  return NULL;
}

static int walk(const GumboNode *root, visit_fn visit, void *ctx) {
  const GumboNode *local[64]; /* enough for most pages, and no malloc */
  size_t cap = sizeof local / sizeof local[0], top = 0;
  const GumboNode **stack = local;
  stack[top++] = root;
  int rc = 0;
  while (!rc && top) {
    const GumboNode *n = stack[--top];
    if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) rc = visit(n, ctx);
    const GumboVector *kids = children_of(n);
    if (rc || !kids) continue;
    if (top + kids->length > cap) {
      while (top + kids->length > cap) cap *= 2;
      const GumboNode **s = realloc(stack == local ? NULL : stack, cap * sizeof *stack);
      if (!s) {
        rc = -ENOMEM;
        break;
      }
      if (stack == local) memcpy(s, local, top * sizeof *s);
      stack = s;
    }
    for (unsigned i = kids->length; i-- > 0;) stack[top++] = kids->data[i];
  }
  if (stack != local) free(stack);
  return rc;
}

/* ------------------------------------------------ attributes */

static const char *attr(const GumboNode *el, const char *name) {
  const GumboAttribute *a = gumbo_get_attribute(&el->v.element.attributes, name);
  return a ? a->value : NULL;
}

/* An href or src attribute, its value put back if the prefilter moved it
 * out. */
static const char *url_attr(const GumboNode *el, const char *name, const crawl_prefiltered *pf) {
  const GumboAttribute *a = gumbo_get_attribute(&el->v.element.attributes, name);
  return a ? crawl_prefilter_value(pf, a) : NULL;
}

static bool is_html(const GumboNode *el, GumboTag t) {
  return el->v.element.tag == t && el->v.element.tag_namespace == GUMBO_NAMESPACE_HTML;
}

/* Whether the list s, split at any of seps, holds token (ASCII
 * case-insensitive). */
static bool has_token(const char *s, const char *seps, const char *token) {
  size_t tl = strlen(token);
  while (s && *s) {
    s += strspn(s, seps);
    size_t n = strcspn(s, seps);
    if (n == tl && !strncasecmp(s, token, tl)) return true;
    s += n;
  }
  return false;
}

#define REL_SEPS " \t\n\f\r"
#define CONTENT_SEPS ", \t\n\f\r"

/* <link> types that lead to other pages (alternate versions, a series'
 * next and previous, the canonical URL); stylesheets, icons, preloads,
 * manifests and the like are resources, not pages to crawl. */
static bool is_navigational_link(const char *rel) {
  if (has_token(rel, REL_SEPS, "stylesheet")) return false;
  return has_token(rel, REL_SEPS, "alternate") || has_token(rel, REL_SEPS, "next") ||
         has_token(rel, REL_SEPS, "prev") || has_token(rel, REL_SEPS, "previous") ||
         has_token(rel, REL_SEPS, "canonical");
}

/* The URL attribute of a link-bearing element, NULL for others. */
static const char *link_of(const GumboNode *el, const crawl_prefiltered *pf) {
  const GumboElement *e = &el->v.element;
  if (is_html(el, GUMBO_TAG_LINK)) {
    GumboTag t = crawl_prefilter_stands_for(pf, e);
    if (t == GUMBO_TAG_A || t == GUMBO_TAG_AREA) return url_attr(el, "href", pf);
    if (t == GUMBO_TAG_IFRAME) return url_attr(el, "src", pf);
  }
  if (e->tag == GUMBO_TAG_A && (e->tag_namespace == GUMBO_NAMESPACE_HTML || e->tag_namespace == GUMBO_NAMESPACE_SVG))
    return url_attr(el, "href", pf);
  if (is_html(el, GUMBO_TAG_AREA)) return url_attr(el, "href", pf);
  if (is_html(el, GUMBO_TAG_FRAME) || is_html(el, GUMBO_TAG_IFRAME)) return url_attr(el, "src", pf);
  if (is_html(el, GUMBO_TAG_LINK) && is_navigational_link(attr(el, "rel"))) return url_attr(el, "href", pf);
  return NULL;
}

/* ------------------------------------------------ directives pass */

typedef struct directives {
  const crawl_prefiltered *pf;
  const char *base_href; /* the first <base href>, in the tree */
  const char *agent;     /* product token, NULL for none */
  size_t agent_len;
  bool noindex, nofollow;
} directives;

/* Whether a <meta name> addresses this crawler: "robots" or its token. */
static bool meta_is_ours(const directives *d, const char *name) {
  if (!name) return false;
  name += strspn(name, REL_SEPS);
  size_t n = strcspn(name, REL_SEPS);
  if (n == 6 && !strncasecmp(name, "robots", 6)) return true;
  return d->agent_len && n == d->agent_len && !strncasecmp(name, d->agent, n);
}

static int visit_directives(const GumboNode *el, void *ctx) {
  directives *d = ctx;
  if (is_html(el, GUMBO_TAG_BASE) && !d->base_href) d->base_href = url_attr(el, "href", d->pf);
  if (is_html(el, GUMBO_TAG_META) && meta_is_ours(d, attr(el, "name"))) {
    const char *content = attr(el, "content");
    bool none = has_token(content, CONTENT_SEPS, "none");
    d->noindex |= none || has_token(content, CONTENT_SEPS, "noindex");
    d->nofollow |= none || has_token(content, CONTENT_SEPS, "nofollow");
  }
  return 0;
}

/* ------------------------------------------------ links pass */

/* The URLs so far, deduplicated by exact string; and the references seen,
 * so that a link repeated all over a page is resolved once. */
typedef struct collector {
  const crawl_prefiltered *pf;
  crawl_links *out;
  crawl_url_base *base; /* out->base, parsed */
  size_t cap;
  crawl_strset urls, refs;
} collector;

/* Takes url (malloc'd) unless the page already has it. */
static int add_url(collector *c, char *url) {
  crawl_links *o = c->out;
  if (o->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    char **urls = realloc(o->urls, cap * sizeof *urls);
    if (!urls) {
      free(url);
      return -ENOMEM;
    }
    o->urls = urls;
    c->cap = cap;
  }
  int added = crawl_strset_add(&c->urls, url);
  if (added > 0) o->urls[o->n++] = url;
  else free(url);
  return added < 0 ? added : 0;
}

static int visit_links(const GumboNode *el, void *ctx) {
  collector *c = ctx;
  if (c->out->n >= LINKS_MAX) return 1;
  const char *ref = link_of(el, c->pf);
  if (!ref || has_token(attr(el, "rel"), REL_SEPS, "nofollow")) return 0;
  int fresh = crawl_strset_add(&c->refs, ref);
  if (fresh <= 0) return fresh;
  char *url;
  int rc = crawl_url_resolve_at(c->base, ref, &url);
  if (rc == -ENOMEM) return rc;
  return rc ? 0 : add_url(c, url);
}

/* ------------------------------------------------ extraction */

void crawl_links_set_depth_cap(size_t cap) { crawl_prefilter_set_depth_cap(cap); }

void crawl_links_free(crawl_links *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) free(l->urls[i]);
  free(l->urls);
  free(l->base);
  memset(l, 0, sizeof *l);
}

/* Sets out->base: the first <base href> resolved against the page, else
 * the page URL (also when that href is not a usable URL, as in HTML). */
static int set_base(crawl_links *out, const char *page_url, const char *href) {
  char *b = NULL;
  int rc = href ? crawl_url_resolve(page_url, href, &b) : 1;
  if (rc == -ENOMEM) return rc;
  if (rc) b = strdup(page_url);
  out->base = b;
  return b ? 0 : -ENOMEM;
}

static int extract(const GumboNode *root, const crawl_prefiltered *pf, const char *page_url, const char *agent,
                   crawl_links *out) {
  directives d = {.pf = pf, .agent = agent, .agent_len = crawl_robots_token_len(agent)};
  int rc = walk(root, visit_directives, &d);
  if (!rc) rc = set_base(out, page_url, d.base_href);
  if (rc) return rc;
  out->noindex = d.noindex;
  out->nofollow = d.nofollow;
  if (d.nofollow) return 0;
  collector c = {.pf = pf, .out = out};
  rc = crawl_url_base_parse(out->base, &c.base);
  if (rc == -ENOMEM) return rc;
  if (rc) return 0; /* no reference resolves against an unusable page URL */
  rc = walk(root, visit_links, &c);
  crawl_url_base_free(c.base);
  free(c.urls.slot);
  free(c.refs.slot);
  return rc < 0 ? rc : 0;
}

static int extract_from(const char *html, size_t len, const char *page_url, const char *agent, crawl_links *out,
                        bool exact) {
  if (!out) return -EINVAL;
  memset(out, 0, sizeof *out);
  if (!page_url || (!html && len)) return -EINVAL;
  if (!html) html = "";
  crawl_prefiltered pf = {0}; /* exact: the page as it is */
  int rc = exact ? 0 : crawl_prefilter(html, len, &pf);
  if (rc) return rc;
  arena a;
  arena_init(&a);
  GumboOutput *g = exact ? parse(&a, html, len) : parse(&a, pf.page, pf.len);
  rc = g ? extract(g->document, &pf, page_url, agent, out) : a.why;
  arena_release(&a);
  crawl_prefilter_release(&pf);
  if (rc) crawl_links_free(out);
  return rc;
}

int crawl_links_extract(const char *html, size_t len, const char *page_url, const char *agent, crawl_links *out) {
  return extract_from(html, len, page_url, agent, out, false);
}

int crawl_links_extract_exact(const char *html, size_t len, const char *page_url, const char *agent,
                              crawl_links *out) {
  return extract_from(html, len, page_url, agent, out, true);
}
