/*
 * links.c - link extraction with gumbo (HTML5 tree construction): the base,
 * the robots directives and the links read from the tree, resolved and
 * deduplicated.
 *
 * gumbo (0.10.1) is slow, a character at a time, so the page it parses is
 * first shrunk to what decides the links (prefilter.h).  It has four
 * weaknesses with hostile pages: its tree builder is quadratic in the depth
 * of the tree, which the prefilter answers by freezing the tree past
 * NEST_CAP (512) open elements with the links kept (prefilter.h); and it
 * sets no bound on time or memory, records every parse error with a copy
 * of the stack of open elements, and fails assertions that would abort the
 * process, which the arena it parses in answers (arena.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "links.h"
#include "arena.h"
#include "prefilter.h"
#include "robots.h"
#include "strset.h"

#include <errno.h>
#include <gumbo.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

#define LINKS_MAX 100000 /* URLs kept per page */

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
  crawl_arena a;
  GumboOutput *g;
  rc = crawl_arena_parse(&a, exact ? html : pf.page, exact ? len : pf.len, &g);
  if (!rc) rc = extract(g->document, &pf, page_url, agent, out);
  crawl_arena_release(&a);
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
