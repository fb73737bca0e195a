/*
 * prefilter.c - the page shrunk to what gumbo's tree of links depends on
 * (the contract: prefilter.h).
 *
 * A model of gumbo's tokenizer and tree builder reads the page: the tag
 * classes, an estimate of the depth of the stack of open elements ("depth
 * estimate"), the tokenizer's states ("tokenizing") and the insertion mode
 * ("insertion modes").  From it, simplify() copies what decides the tree
 * and shrinks the rest: text runs to at most two bytes, URL values to
 * placeholders, and past the depth cap everything but the link elements
 * ("freezing").  Where the model cannot be sure of gumbo's reading, the
 * page goes on as it is ("unsure"), or the prefilter starts over without
 * freezing (FREEZE_AGAIN): a wrong guess may cost time, never a link.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "prefilter.h"
#include "spares.h"
#include "strset.h"

#include <errno.h>
#include <gumbo.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NEST_CAP 512    /* open elements past which the prefilter freezes the tree */
#define NEST_SEARCH 16  /* how far down an end tag looks for its element */

/* ------------------------------------------------------ tag classes */

/* Elements that never stay open (or that the tree builder merges). */
static bool is_void(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_AREA: case GUMBO_TAG_BASE: case GUMBO_TAG_BR: case GUMBO_TAG_COL:
  case GUMBO_TAG_EMBED: case GUMBO_TAG_HR: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT:
  case GUMBO_TAG_KEYGEN: case GUMBO_TAG_LINK: case GUMBO_TAG_META: case GUMBO_TAG_PARAM:
  case GUMBO_TAG_SOURCE: case GUMBO_TAG_TRACK: case GUMBO_TAG_WBR: case GUMBO_TAG_BASEFONT:
  case GUMBO_TAG_BGSOUND: case GUMBO_TAG_FRAME: case GUMBO_TAG_IMAGE: case GUMBO_TAG_ISINDEX:
  case GUMBO_TAG_HTML: case GUMBO_TAG_HEAD: case GUMBO_TAG_BODY:
    return true;
  default:
    return false;
  }
}

/* Elements whose content is text up to their end tag (RAWTEXT, RCDATA,
 * script data): no tags inside count, and their start tags are never
 * dropped, or a script's strings would turn into markup.  Not noscript:
 * gumbo parses as if scripting were off, so its content is markup. */
static bool is_raw_text(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_XMP: case GUMBO_TAG_IFRAME:
  case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_TITLE:
  case GUMBO_TAG_PLAINTEXT:
    return true;
  default:
    return false;
  }
}

/* HTML's "special" category: an end tag for another element stops there. */
static bool is_special(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_ADDRESS: case GUMBO_TAG_APPLET: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE:
  case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_BUTTON: case GUMBO_TAG_CAPTION: case GUMBO_TAG_CENTER:
  case GUMBO_TAG_COLGROUP: case GUMBO_TAG_DD: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR:
  case GUMBO_TAG_DIV: case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_FIELDSET:
  case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FOOTER: case GUMBO_TAG_FORM:
  case GUMBO_TAG_FRAMESET: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
  case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_HEADER:
  case GUMBO_TAG_HGROUP: case GUMBO_TAG_LI: case GUMBO_TAG_LISTING: case GUMBO_TAG_MAIN:
  case GUMBO_TAG_MARQUEE: case GUMBO_TAG_MENU: case GUMBO_TAG_MENUITEM: case GUMBO_TAG_NAV:
  case GUMBO_TAG_OBJECT: case GUMBO_TAG_OL: case GUMBO_TAG_P: case GUMBO_TAG_PRE:
  case GUMBO_TAG_SECTION: case GUMBO_TAG_SELECT: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_TABLE:
  case GUMBO_TAG_TBODY: case GUMBO_TAG_TD: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_TFOOT:
  case GUMBO_TAG_TH: case GUMBO_TAG_THEAD: case GUMBO_TAG_TR: case GUMBO_TAG_UL:
    return true;
  default:
    return is_void(t) || is_raw_text(t);
  }
}

static bool is_table_part(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_TABLE: case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD: case GUMBO_TAG_TFOOT:
  case GUMBO_TAG_TR: case GUMBO_TAG_TD: case GUMBO_TAG_TH: case GUMBO_TAG_CAPTION: case GUMBO_TAG_COLGROUP:
    return true;
  default:
    return false;
  }
}

/* Where HTML's "has an element in scope" stops looking. */
static bool is_scope_boundary(GumboTag t) {
  return t == GUMBO_TAG_HTML || t == GUMBO_TAG_TABLE || t == GUMBO_TAG_TEMPLATE || t == GUMBO_TAG_APPLET ||
         t == GUMBO_TAG_CAPTION || t == GUMBO_TAG_TD || t == GUMBO_TAG_TH || t == GUMBO_TAG_MARQUEE ||
         t == GUMBO_TAG_OBJECT;
}

/* Start tags that close an open <p> (HTML: "close a p element"). */
static bool closes_p(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BLOCKQUOTE:
  case GUMBO_TAG_CENTER: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR: case GUMBO_TAG_DIV:
  case GUMBO_TAG_DL: case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FIGURE:
  case GUMBO_TAG_FOOTER: case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP: case GUMBO_TAG_MAIN:
  case GUMBO_TAG_MENU: case GUMBO_TAG_NAV: case GUMBO_TAG_OL: case GUMBO_TAG_P:
  case GUMBO_TAG_SECTION: case GUMBO_TAG_SUMMARY: case GUMBO_TAG_UL: case GUMBO_TAG_PRE:
  case GUMBO_TAG_LISTING: case GUMBO_TAG_LI: case GUMBO_TAG_DD: case GUMBO_TAG_DT:
  case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
  case GUMBO_TAG_H5: case GUMBO_TAG_H6:
    return true;
  default:
    return false;
  }
}

static bool is_heading(GumboTag t) { return t >= GUMBO_TAG_H1 && t <= GUMBO_TAG_H6; }

/* Formatting elements: when closed by another's end tag they stay in the
 * list of active formatting elements, and text reopens them. */
static bool is_formatting(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_A: case GUMBO_TAG_B: case GUMBO_TAG_BIG: case GUMBO_TAG_CODE:
  case GUMBO_TAG_EM: case GUMBO_TAG_FONT: case GUMBO_TAG_I: case GUMBO_TAG_NOBR:
  case GUMBO_TAG_S: case GUMBO_TAG_SMALL: case GUMBO_TAG_STRIKE: case GUMBO_TAG_STRONG:
  case GUMBO_TAG_TT: case GUMBO_TAG_U:
    return true;
  default:
    return false;
  }
}

/* ------------------------------------------------- depth estimate */

/*
 * An estimate of the depth of the tree builder's stack of open elements,
 * which decides only when the prefilter freezes the tree (see "freezing"):
 * it pops only what the HTML algorithm certainly pops too (an end tag's
 * element when found near the top, in the scope the algorithm searches;
 * <p>, <li>, <td> ... closed by their successors when on top; formatting
 * elements stay, as text reopens them), so it counts at least as deep as
 * gumbo for ordinary markup.  Adversarial markup can still outrun it; the
 * parse budget covers that.  Its errors never change the links.
 */
typedef struct nest {
  size_t depth;
  GumboTag tag[NEST_CAP];
  const char *name[NEST_CAP]; /* in the input, for unknown tags */
  size_t len[NEST_CAP];
  bool foreign[NEST_CAP]; /* in <svg> or <math> content, where <title>, <style> and <script> hold markup */
  bool table[NEST_CAP];   /* in a <table>, where <td>, <tr> ... are elements at all */
} nest;

/* The depth past which the prefilter stops following the tree (NEST_CAP;
 * lower only in tests: crawl_links_set_depth_cap). */
static size_t depth_cap = NEST_CAP;

void crawl_prefilter_set_depth_cap(size_t cap) { depth_cap = cap && cap < NEST_CAP ? cap : NEST_CAP; }

static bool in_foreign(const nest *m) { return m->depth && m->foreign[m->depth - 1]; }

/* Whether the start tag t makes the tokenizer read text up to its end tag
 * (in foreign content, elements of those names are ordinary). */
static bool starts_raw_text(const nest *m, GumboTag t) { return is_raw_text(t) && !in_foreign(m); }

static bool top_is(const nest *m, GumboTag t) { return m->depth && m->tag[m->depth - 1] == t; }

static void pop_if(nest *m, GumboTag t) {
  if (top_is(m, t)) m->depth--;
}

/* SVG's and MathML's elements whose content is HTML again (HTML and MathML
 * text integration points). */
static bool is_integration_point(GumboTag t) {
  return t == GUMBO_TAG_FOREIGNOBJECT || t == GUMBO_TAG_DESC || t == GUMBO_TAG_TITLE || t == GUMBO_TAG_MI ||
         t == GUMBO_TAG_MO || t == GUMBO_TAG_MN || t == GUMBO_TAG_MS || t == GUMBO_TAG_MTEXT;
}

/* Stores entry d, its flags inherited from the entry below. */
static void set_entry(nest *m, size_t d, GumboTag t, const char *name, size_t len) {
  bool foreign = d && m->foreign[d - 1];
  m->tag[d] = t;
  m->name[d] = name;
  m->len[d] = len;
  m->foreign[d] = t == GUMBO_TAG_SVG || t == GUMBO_TAG_MATH || (foreign && !is_integration_point(t));
  m->table[d] = (d && m->table[d - 1]) || t == GUMBO_TAG_TABLE;
}

/* The implicit closings a start tag t performs on the current node. */
static void close_before(nest *m, GumboTag t) {
  if (closes_p(t)) pop_if(m, GUMBO_TAG_P);
  if (t == GUMBO_TAG_LI || t == GUMBO_TAG_OPTION || t == GUMBO_TAG_A) pop_if(m, t);
  if (t == GUMBO_TAG_OPTGROUP) pop_if(m, GUMBO_TAG_OPTION);
  if (t == GUMBO_TAG_DD || t == GUMBO_TAG_DT) pop_if(m, GUMBO_TAG_DD), pop_if(m, GUMBO_TAG_DT);
  if (is_heading(t) && m->depth && is_heading(m->tag[m->depth - 1])) m->depth--;
  if (t == GUMBO_TAG_TR || t == GUMBO_TAG_TD || t == GUMBO_TAG_TH) pop_if(m, GUMBO_TAG_TD), pop_if(m, GUMBO_TAG_TH);
  if (t == GUMBO_TAG_TR) pop_if(m, GUMBO_TAG_TR);
}

static void nest_start(nest *m, GumboTag t, const char *name, size_t len) {
  close_before(m, t);
  if (is_void(t) || starts_raw_text(m, t) || m->depth >= depth_cap) return;
  set_entry(m, m->depth, t, name, len);
  m->depth++;
}

static bool same_element(const nest *m, size_t i, GumboTag t, const char *name, size_t len) {
  if (is_heading(t)) return is_heading(m->tag[i]); /* </h2> closes an <h1> too */
  if (m->tag[i] != t) return false;
  return t != GUMBO_TAG_UNKNOWN || (m->len[i] == len && strncasecmp(m->name[i], name, len) == 0);
}

/* Whether the search for the element of end tag t stops at entry u: where
 * HTML's "has an element in (button, list item, table) scope" stops for
 * special elements, at any special element for the others, and always at
 * a <select>, inside which other end tags are ignored. */
static bool ends_search(GumboTag u, GumboTag t) {
  if (u == GUMBO_TAG_SELECT) return true;
  if (is_table_part(t)) return u == GUMBO_TAG_HTML || u == GUMBO_TAG_TABLE || u == GUMBO_TAG_TEMPLATE;
  if (!is_special(t)) return is_special(u);
  if (t == GUMBO_TAG_P && u == GUMBO_TAG_BUTTON) return true;
  if (t == GUMBO_TAG_LI && (u == GUMBO_TAG_OL || u == GUMBO_TAG_UL)) return true;
  return is_scope_boundary(u);
}

/* Removes entries [i, depth) but those kept: the formatting elements,
 * which text reopens, or with only_i everything above i (</form> removes
 * just the form). */
static void pop_to(nest *m, size_t i, bool only_i) {
  size_t d = i;
  for (size_t j = i + 1; j < m->depth; j++) {
    if (!only_i && !is_formatting(m->tag[j])) continue;
    set_entry(m, d++, m->tag[j], m->name[j], m->len[j]);
  }
  m->depth = d;
}

/* An end tag: pops down to its element if that is near the top and the
 * HTML algorithm would reach it.  Table parts count only inside a table:
 * elsewhere the tree builder ignores both their start and end tags. */
static void nest_end(nest *m, GumboTag t, const char *name, size_t len) {
  for (size_t k = 0; k < NEST_SEARCH && k < m->depth; k++) {
    size_t i = m->depth - 1 - k;
    if (same_element(m, i, t, name, len)) {
      if (t == GUMBO_TAG_TABLE || !is_table_part(t) || (i && m->table[i - 1])) pop_to(m, i, t == GUMBO_TAG_FORM);
      return;
    }
    if (ends_search(m->tag[i], t)) return;
  }
}

/* ------------------------------------------------ tokenizing */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
static bool is_alpha(char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

#define UNFINISHED ((size_t)-1)

/* Past the '>' that ends the tag whose name ends at i, skipping attribute
 * values in quotes as the HTML tokenizer does; UNFINISHED if the input ends
 * first (the tokenizer then drops the tag). */
static size_t tag_end(const char *s, size_t i, size_t n) {
  while (i < n) {
    if (s[i] == '>') return i + 1;
    if (is_space(s[i]) || s[i] == '/') {
      i++;
      continue;
    }
    i++; /* the name's first character may be '=' */
    while (i < n && !is_space(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '=') i++;
    size_t j = i;
    while (j < n && is_space(s[j])) j++;
    if (j == n || s[j] != '=') {
      i = j;
      continue;
    }
    for (j++; j < n && is_space(s[j]); j++) {}
    if (j < n && (s[j] == '"' || s[j] == '\'')) {
      const char *q = memchr(s + j + 1, s[j], n - j - 1);
      if (!q) return UNFINISHED;
      i = (size_t)(q - s) + 1;
    } else {
      while (j < n && !is_space(s[j]) && s[j] != '>') j++;
      i = j;
    }
  }
  return UNFINISHED;
}

/*
 * The length of the comment that starts at at ("<!--"), within the n bytes
 * left: gumbo's comment states, one byte at a time (a byte of a multibyte
 * character is "anything else" as the character is).  "<!-->" and
 * "<!--->" end at once; after that "-->" or "--!>" ends it, but "<!--!>"
 * does not: the dashes of "<!--" do not count.
 */
static size_t comment_len(const char *at, size_t n) {
  enum { START, START_DASH, TEXT, END_DASH, END, END_BANG } st = START;
  for (size_t i = 4; i < n; i++) {
    char c = at[i];
    switch (st) {
    case START: st = c == '-' ? START_DASH : TEXT; if (c == '>') return i + 1; break;
    case START_DASH: st = c == '-' ? END : TEXT; if (c == '>') return i + 1; break;
    case TEXT: if (c == '-') st = END_DASH; break;
    case END_DASH: st = c == '-' ? END : TEXT; break;
    case END:
      if (c == '>') return i + 1;
      st = c == '!' ? END_BANG : c == '-' ? END : TEXT;
      break;
    case END_BANG:
      if (c == '>') return i + 1;
      st = c == '-' ? END_DASH : TEXT;
      break;
    }
  }
  return n;
}

/* The length of the comment, CDATA section (in foreign content), doctype
 * or bogus comment that starts at at ("<!" or "<?"), within the n bytes
 * left. */
static size_t markup_len(const nest *m, const char *at, size_t n) {
  const char *e = NULL;
  if (n >= 4 && !memcmp(at, "<!--", 4)) {
    return comment_len(at, n);
  } else if (in_foreign(m) && n >= 9 && !memcmp(at, "<![CDATA[", 9)) {
    e = memmem(at + 9, n - 9, "]]>", 3);
    e = e ? e + 3 : NULL;
  } else {
    e = memchr(at, '>', n);
    e = e ? e + 1 : NULL;
  }
  return e ? (size_t)(e - at) : n;
}

/* Where the end tag of the raw text element name starts, from i; n if none. */
static size_t raw_text_end(const char *s, size_t i, size_t n, const char *name, size_t len) {
  while (i < n) {
    const char *lt = memchr(s + i, '<', n - i);
    if (!lt) return n;
    size_t p = (size_t)(lt - s);
    if (p + 2 + len < n && s[p + 1] == '/' && !strncasecmp(s + p + 2, name, len) &&
        (is_space(s[p + 2 + len]) || s[p + 2 + len] == '/' || s[p + 2 + len] == '>'))
      return p;
    i = p + 1;
  }
  return n;
}

static size_t name_end(const char *s, size_t i, size_t n) {
  while (i < n && !is_space(s[i]) && s[i] != '/' && s[i] != '>') i++;
  return i;
}

static GumboTag tag_of(const char *name, size_t len) {
  return len > 32 ? GUMBO_TAG_UNKNOWN : gumbo_tagn_enum(name, (unsigned)len);
}

/* ------------------------------------------------ insertion modes */

/*
 * The tree builder's insertion mode, followed exactly (gumbo 0.10.1's
 * parser.c) as long as the page stays where that is simple: before and in
 * the head, and in the body.  A table, select, template, frameset or foreign
 * content (<svg>, <math>) ends the following: MODE_LOST, for the rest of the
 * page.  "after body" and "after after body" are MODE_IN_BODY: everything
 * but whitespace, comments and </html> sends gumbo back to "in body", and
 * those three change nothing that links depend on.
 */
typedef enum mode {
  MODE_BEFORE_HTML, /* and "initial": the same but for the doctype */
  MODE_BEFORE_HEAD,
  MODE_IN_HEAD,
  MODE_IN_HEAD_NOSCRIPT,
  MODE_AFTER_HEAD,
  MODE_IN_BODY,
  MODE_LOST,
} mode;

typedef struct modes {
  mode now;
  bool frameset_off; /* gumbo's frameset-ok flag is certainly off (it may be off when this is false) */
} modes;

/* Start tags that turn frameset-ok off when processed "in body" (input
 * only when not type=hidden: tag[0..len) is the whole tag, and with
 * "hidden" anywhere in it the flag is left as possibly on). */
static bool turns_frameset_off(GumboTag t, const char *tag, size_t len) {
  switch (t) {
  case GUMBO_TAG_BODY: case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING: case GUMBO_TAG_LI: case GUMBO_TAG_DD:
  case GUMBO_TAG_DT: case GUMBO_TAG_BUTTON: case GUMBO_TAG_APPLET: case GUMBO_TAG_MARQUEE: case GUMBO_TAG_OBJECT:
  case GUMBO_TAG_AREA: case GUMBO_TAG_BR: case GUMBO_TAG_EMBED: case GUMBO_TAG_IMG: case GUMBO_TAG_IMAGE:
  case GUMBO_TAG_KEYGEN: case GUMBO_TAG_WBR: case GUMBO_TAG_HR: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_XMP:
  case GUMBO_TAG_IFRAME:
    return true;
  case GUMBO_TAG_INPUT:
    for (size_t i = 0; i + 6 <= len; i++)
      if (!strncasecmp(tag + i, "hidden", 6)) return false;
    return true;
  default:
    return false;
  }
}

/* A start tag "in body": the mode after it. */
static mode body_start(modes *md, GumboTag t, const char *tag, size_t len) {
  switch (t) {
  case GUMBO_TAG_TABLE: case GUMBO_TAG_SELECT: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
    return MODE_LOST;
  case GUMBO_TAG_FRAMESET: /* replaces the body unless frameset-ok is off (then it is ignored) */
    return md->frameset_off ? MODE_IN_BODY : MODE_LOST;
  default:
    if (turns_frameset_off(t, tag, len)) md->frameset_off = true;
    return MODE_IN_BODY;
  }
}

/* Tags the head takes ("in head": base, basefont, bgsound, menuitem, link,
 * meta, title, noframes, style, script). */
static bool is_head_content(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_BASE: case GUMBO_TAG_BASEFONT: case GUMBO_TAG_BGSOUND: case GUMBO_TAG_MENUITEM:
  case GUMBO_TAG_LINK: case GUMBO_TAG_META: case GUMBO_TAG_TITLE: case GUMBO_TAG_NOFRAMES:
  case GUMBO_TAG_STYLE: case GUMBO_TAG_SCRIPT:
    return true;
  default:
    return false;
  }
}

/* The start tag t (the whole tag: tag[0..len)): updates md->now, following
 * gumbo's "reprocess the token" from mode to mode. */
static void mode_start(modes *md, GumboTag t, const char *tag, size_t len) {
  for (;;) {
    switch (md->now) {
    case MODE_BEFORE_HTML:
      md->now = MODE_BEFORE_HEAD;
      if (t == GUMBO_TAG_HTML) return;
      continue;
    case MODE_BEFORE_HEAD:
      md->now = MODE_IN_HEAD;
      if (t == GUMBO_TAG_HEAD) return;
      continue;
    case MODE_IN_HEAD:
      if (t == GUMBO_TAG_HTML || t == GUMBO_TAG_HEAD || is_head_content(t)) return;
      if (t == GUMBO_TAG_NOSCRIPT) md->now = MODE_IN_HEAD_NOSCRIPT;
      else if (t == GUMBO_TAG_TEMPLATE) md->now = MODE_LOST;
      else {
        md->now = MODE_AFTER_HEAD;
        continue;
      }
      return;
    case MODE_IN_HEAD_NOSCRIPT:
      if (t == GUMBO_TAG_HTML || t == GUMBO_TAG_BASEFONT || t == GUMBO_TAG_BGSOUND || t == GUMBO_TAG_LINK ||
          t == GUMBO_TAG_META || t == GUMBO_TAG_NOFRAMES || t == GUMBO_TAG_STYLE || t == GUMBO_TAG_HEAD ||
          t == GUMBO_TAG_NOSCRIPT)
        return;
      md->now = MODE_IN_HEAD;
      continue;
    case MODE_AFTER_HEAD:
      if (t == GUMBO_TAG_HTML || t == GUMBO_TAG_HEAD) return;
      if (t == GUMBO_TAG_BODY) {
        md->frameset_off = true;
        md->now = MODE_IN_BODY;
      } else if (t == GUMBO_TAG_FRAMESET || t == GUMBO_TAG_TEMPLATE) {
        md->now = MODE_LOST;
      } else if (t == GUMBO_TAG_MENUITEM || !is_head_content(t)) { /* menuitem: not among "after head"'s */
        md->now = MODE_IN_BODY;
        continue;
      }
      return;
    case MODE_IN_BODY:
      md->now = body_start(md, t, tag, len);
      return;
    case MODE_LOST:
      return;
    }
  }
}

/* The end tag t: updates md->now. */
static void mode_end(modes *md, GumboTag t) {
  bool implies = t == GUMBO_TAG_HEAD || t == GUMBO_TAG_BODY || t == GUMBO_TAG_HTML || t == GUMBO_TAG_BR;
  for (;;) {
    switch (md->now) {
    case MODE_BEFORE_HTML:
    case MODE_BEFORE_HEAD:
      if (!implies) return;
      md->now = md->now == MODE_BEFORE_HTML ? MODE_BEFORE_HEAD : MODE_IN_HEAD;
      continue;
    case MODE_IN_HEAD:
      if (t == GUMBO_TAG_HEAD) md->now = MODE_AFTER_HEAD;
      if (t != GUMBO_TAG_BODY && t != GUMBO_TAG_HTML && t != GUMBO_TAG_BR) return;
      md->now = MODE_AFTER_HEAD;
      continue;
    case MODE_IN_HEAD_NOSCRIPT:
      if (t == GUMBO_TAG_NOSCRIPT) md->now = MODE_IN_HEAD;
      if (t != GUMBO_TAG_BR) return;
      md->now = MODE_IN_HEAD;
      continue;
    case MODE_AFTER_HEAD:
      if (t == GUMBO_TAG_BODY || t == GUMBO_TAG_HTML || t == GUMBO_TAG_BR) md->now = MODE_IN_BODY;
      return; /* "in body" changes nothing for an end tag */
    case MODE_IN_BODY:
    case MODE_LOST:
      return;
    }
  }
}

/* Text s[0..n) (in the data state: character references not decoded).
 * Before the body, its first character that is not whitespace (a NUL is
 * not) starts the body; in the body, a character that is neither
 * whitespace nor NUL turns frameset-ok off.  A character reference might
 * decode to either: where it decides, the mode is lost (and the flag left). */
static void mode_text(modes *md, const char *s, size_t n) {
  size_t i = 0;
  while (i < n && is_space(s[i])) i++;
  if (i == n || md->now == MODE_LOST) return;
  if (md->now != MODE_IN_BODY) md->now = s[i] == '&' ? MODE_LOST : MODE_IN_BODY;
  while (i < n && (is_space(s[i]) || s[i] == '\0')) i++;
  if (i < n && s[i] != '&' && md->now == MODE_IN_BODY) md->frameset_off = true;
}


/* ------------------------------------------------ prefilter */

/*
 * gumbo's tokenizer emits a token for every character of text, and its tree
 * builder appends them one at a time: on ordinary pages text is most of
 * the parse's cost (a 1.7 KB page of paragraphs and a dozen links: 680,000
 * instructions in gumbo, 3.1 times less with its text shrunk).  Links live
 * in tags; text matters to the tree only by being whitespace or not (it
 * ends "in head", is foster-parented in tables, turns frameset-ok off), and
 * only through the first whitespace byte and the first other one in a run.
 * So each run of plain text that the model reads as text in the data state
 * becomes at most two bytes: its first byte if that is whitespace, then a
 * '.' if any byte is not (not a letter: after a '<' that is text, a letter
 * would start a tag).
 *
 * Where the model misreads the tokenizer's state (text really inside a
 * tag, comment or escaped script), the shrinking must not move a state's
 * end: every byte that can end or change one (kept_byte) is copied as it
 * is, and so is the run after a '&', whose character reference may decode
 * to whitespace ("&#32;").  Raw text elements' contents, comments, tags and
 * anything unfinished are copied whole.
 */
static const bool kept_byte[256] = {
    [0] = true,    ['<'] = true, ['>'] = true, ['&'] = true, ['"'] = true, ['\''] = true, ['-'] = true,
    ['='] = true, ['/'] = true, ['!'] = true, ['?'] = true, [']'] = true, ['`'] = true,
};

/* A page's working memory: the nesting model, the simplified page and the
 * moved values, kept between pages (spares.h).  Buffers larger than
 * SCRATCH_KEEP are not kept. */
#define SCRATCH_KEEP (256u * 1024u)

typedef struct crawl_prefilter_scratch {
  nest m;
  char *out, *vals;
  size_t out_cap, vals_cap;
} scratch;

static crawl_spares spare_scratch;

static scratch *scratch_take(void) {
  scratch *sc = crawl_spare_take(&spare_scratch);
  return sc ? sc : calloc(1, sizeof(scratch));
}

static void scratch_free(scratch *sc) {
  free(sc->out);
  free(sc->vals);
  free(sc);
}

static void scratch_give(scratch *sc) {
  if (!sc) return;
  if (sc->out_cap > SCRATCH_KEEP) free(sc->out), sc->out = NULL, sc->out_cap = 0;
  if (sc->vals_cap > SCRATCH_KEEP) free(sc->vals), sc->vals = NULL, sc->vals_cap = 0;
  if (!crawl_spare_keep(&spare_scratch, sc)) scratch_free(sc);
}

/* Makes *buf hold need bytes (its contents are not kept). */
static bool scratch_fit(char **buf, size_t *cap, size_t need) {
  if (*cap >= need) return true;
  free(*buf);
  *buf = malloc(need);
  *cap = *buf ? need : 0;
  return *buf != NULL;
}

typedef struct simplified {
  scratch *sc;
  char *p; /* sc->out: before freezing never longer than the input, after it a few bytes more a link */
  size_t len;
  char *vals;     /* href and src values moved out, NUL-terminated, back to back; NULL: none moved */
  size_t vals_len;
  bool may_move;  /* the input has no VALUE_MARK byte of its own */
  bool frozen;    /* past the depth cap: only link elements, as links of a kind (see freezing) */
  bool unsure;    /* raw text and CDATA may be read otherwise from here (see copy_rest) */
  size_t in_len;  /* the input's length: what vals may need at most */
  crawl_strset moved;   /* the values in vals, so that equal ones share a placeholder */
} simplified;

/* Makes room for n more bytes in the output (keeping what is there). */
static bool reserve(simplified *o, size_t n) {
  scratch *sc = o->sc;
  if (o->len + n <= sc->out_cap) return true;
  size_t cap = sc->out_cap * 2 > o->len + n ? sc->out_cap * 2 : o->len + n;
  char *p = realloc(sc->out, cap);
  if (!p) return false;
  sc->out = o->p = p;
  sc->out_cap = cap;
  return true;
}

/* Appends s[0..n): reserve() made room. */
static void put(simplified *o, const char *s, size_t n) {
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

/*
 * URLs are most of what is left once text is shrunk, and gumbo spends
 * hundreds of instructions on each byte of an attribute value.  So an href
 * or src value that gumbo would take as it is (printable ASCII, tabs and
 * newlines, no '&' to decode) moves out to o->vals, and the tag keeps a
 * placeholder: VALUE_MARK and the value's offset in decimal, in the same
 * quotes.  Equal values share one placeholder, so the tree builder, which
 * compares attribute values only for equality (the Noah's Ark clause),
 * decides as it would on the page.  A page holding VALUE_MARK itself moves
 * nothing.
 */
/* U+E000, a private-use character: valid, so gumbo keeps it (it replaces
 * control characters with U+FFFD), and no page has a reason to hold it. */
#define VALUE_MARK "\xee\x80\x80"
#define VALUE_MARK_LEN 3

/* Whether s[0..n) holds VALUE_MARK (memchr on its rare first byte is
 * several times faster than memmem). */
static bool has_mark(const char *s, size_t n) {
  for (const char *p = s, *end = s + n; (p = memchr(p, VALUE_MARK[0], (size_t)(end - p))); p++)
    if ((size_t)(end - p) >= VALUE_MARK_LEN && !memcmp(p, VALUE_MARK, VALUE_MARK_LEN)) return true;
  return false;
}

static bool is_url_attr(const char *name, size_t n) {
  return (n == 4 && !strncasecmp(name, "href", 4)) || (n == 3 && !strncasecmp(name, "src", 3));
}

/* Whether gumbo's value of v[0..n) would be those very bytes. */
static bool is_movable(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '&' || c == 0x7f || (c < 0x20 && c != '\t' && c != '\n')) return false;
    if (c > 0x7f) return false;
    /* as for dropped tags: where the model misreads raw text as a tag, the
     * value could hold the real end tag (</script>) */
    if (c == '<') return false;
  }
  return true;
}

/* Appends the placeholder of v[0..n), moving it to o->vals; false (nothing
 * appended) when the placeholder would be no shorter or memory is short. */
static bool put_moved(simplified *o, const char *v, size_t n) {
  if (!o->vals) {
    if (!scratch_fit(&o->sc->vals, &o->sc->vals_cap, o->in_len + 1)) return false;
    o->vals = o->sc->vals;
  }
  char *at = o->vals + o->vals_len;
  memcpy(at, v, n);
  at[n] = '\0';
  if ((o->moved.n + 1) * 2 > o->moved.cap && crawl_strset_grow(&o->moved)) return false;
  const char **slot = crawl_strset_slot(o->moved.slot, o->moved.cap, at);
  if (!*slot) {
    *slot = at;
    o->moved.n++;
    o->vals_len += n + 1;
  }
  char digits[24];
  size_t nd = 0;
  for (size_t off = (size_t)(*slot - o->vals); nd == 0 || off; off /= 10) digits[nd++] = (char)('0' + off % 10);
  if (nd + VALUE_MARK_LEN >= n) return false; /* not shorter: the value stays in vals, harmlessly */
  put(o, VALUE_MARK, VALUE_MARK_LEN);
  while (nd) o->p[o->len++] = digits[--nd];
  return true;
}

/* Appends the attributes of a tag, s[ne..end) (from the end of its name
 * to past its '>'), with its URL values moved out.  The walk is tag_end's. */
static void put_attributes(simplified *o, const char *s, size_t ne, size_t end) {
  size_t i = ne;
  while (i < end) {
    if (s[i] == '>' || is_space(s[i]) || s[i] == '/') {
      o->p[o->len++] = s[i++];
      continue;
    }
    size_t ns = i++;
    while (i < end && !is_space(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '=') i++;
    bool url = o->may_move && is_url_attr(s + ns, i - ns);
    size_t j = i;
    while (j < end && is_space(s[j])) j++;
    if (j == end || s[j] != '=') {
      put(o, s + ns, j - ns);
      i = j;
      continue;
    }
    for (j++; j < end && is_space(s[j]); j++) {}
    put(o, s + ns, j - ns);
    char q = j < end && (s[j] == '"' || s[j] == '\'') ? s[j] : 0;
    size_t vs = q ? j + 1 : j, ve = vs;
    if (q) ve = (size_t)((const char *)memchr(s + vs, q, end - vs) - s);
    else
      while (ve < end && !is_space(s[ve]) && s[ve] != '>') ve++;
    if (q) o->p[o->len++] = q;
    if (!(url && ve > vs && is_movable(s + vs, ve - vs) && put_moved(o, s + vs, ve - vs))) put(o, s + vs, ve - vs);
    if (q) o->p[o->len++] = q;
    i = q ? ve + 1 : ve;
  }
}

/* Appends the tag s[p..end) (name ending at ne). */
static void put_tag(simplified *o, const char *s, size_t p, size_t ne, size_t end) {
  put(o, s + p, ne - p);
  put_attributes(o, s, ne, end);
}

/* Appends the text s[i..end) shrunk as described above. */
static void put_text(simplified *o, const char *s, size_t i, size_t end) {
  bool after_amp = false;
  while (i < end) {
    unsigned char c = (unsigned char)s[i];
    if (kept_byte[c]) {
      o->p[o->len++] = (char)c;
      after_amp = c == '&';
      i++;
      continue;
    }
    /* Whitespace first; once a byte is not, only the run's end matters. */
    size_t j = i;
    while (j < end && is_space(s[j])) j++;
    bool text = j < end && !kept_byte[(unsigned char)s[j]];
    if (text)
      while (++j < end && !kept_byte[(unsigned char)s[j]]) {}
    if (after_amp) put(o, s + i, j - i);
    else {
      if (is_space(s[i])) o->p[o->len++] = s[i];
      if (text) o->p[o->len++] = '.'; /* not a letter: after a '<' that is text, no tag may start */
    }
    after_amp = false;
    i = j;
  }
}

/* One piece of markup at p ('<' and what follows), as gumbo's tokenizer
 * reads it. */
typedef enum token_kind {
  TOKEN_LT,    /* a '<' that is text */
  TOKEN_OTHER, /* a comment, doctype, CDATA section, "</>", or a tag the input ends in */
  TOKEN_END,   /* an end tag */
  TOKEN_START, /* a start tag, with the text of a raw text element */
} token_kind;

typedef struct token {
  token_kind kind;
  GumboTag tag;
  size_t ne, end; /* start tag: where its name and the tag end */
  size_t next;    /* where the markup ends: past a raw text element's text */
  bool unsure;    /* a script whose text has "<!--": its end, by the escape rules, is not followed */
} token;

static void read_markup(const nest *m, const char *s, size_t p, size_t n, token *tk) {
  memset(tk, 0, sizeof *tk);
  char c = p + 1 < n ? s[p + 1] : '\0';
  bool end_tag = c == '/' && p + 2 < n && is_alpha(s[p + 2]);
  tk->kind = TOKEN_OTHER;
  /* "</" not followed by a letter starts a bogus comment (or "</>",
   * nothing), as "<!" and "<?" do. */
  if (c == '!' || c == '?' || (c == '/' && !end_tag)) {
    tk->next = p + markup_len(m, s + p, n - p);
  } else if (end_tag) {
    size_t ne = name_end(s, p + 2, n), end = tag_end(s, ne, n);
    tk->tag = tag_of(s + p + 2, ne - p - 2);
    tk->ne = ne;
    tk->kind = end == UNFINISHED ? TOKEN_OTHER : TOKEN_END;
    tk->next = end == UNFINISHED ? n : end;
  } else if (!is_alpha(c)) {
    tk->kind = TOKEN_LT;
    tk->next = p + 1;
  } else {
    size_t ne = name_end(s, p + 1, n), end = tag_end(s, ne, n);
    tk->next = n; /* a tag the input ends in: the tokenizer drops it */
    if (end == UNFINISHED) return;
    tk->kind = TOKEN_START;
    tk->tag = tag_of(s + p + 1, ne - p - 1);
    tk->ne = ne;
    tk->end = tk->next = end;
    if (!starts_raw_text(m, tk->tag)) return;
    tk->next = tk->tag == GUMBO_TAG_PLAINTEXT ? n : raw_text_end(s, end, n, s + p + 1, ne - p - 1);
    tk->unsure = tk->tag == GUMBO_TAG_SCRIPT && memmem(s + end, tk->next - end, "<!--", 4);
  }
}

/*
 * Freezing.  Past the depth cap, gumbo gets no more of the page's
 * structure: its tree stays as it was, and only the elements that links
 * and directives are read from reach it, in a form that changes nothing
 * else.  That gives the page's links exactly when gumbo, given the page,
 * would stay "in body" (or after it) to the end, and the prefilter freezes
 * only there and gives up freezing (the caller starts over without it)
 * when the page leaves it.  "In body":
 *  - every <a>, <area>, <iframe>, <link>, <base> and <meta> start tag makes
 *    an element, in the HTML namespace, with the tag's attributes, whatever
 *    the stack of open elements holds (<frame> makes none);
 *  - each is inserted at the end of the document order: as the last child
 *    of the current node, the deepest open element, which is the last
 *    element in document order (no foster parenting outside tables; the
 *    adoption agency algorithm moves a suffix of the document, keeping its
 *    order).  Elements the tree builder clones (formatting elements
 *    reopened, or split by the adoption agency) come after their original,
 *    with its attributes: the same URL again, which deduplication drops;
 *  - the tokenizer's states follow from the start tags alone (raw text
 *    elements; no CDATA outside foreign content).
 * What leaves it: <table>, <select>, <template>, <svg>, <math>, and
 * <frameset> while frameset-ok is on (it replaces the body and all that
 * is in it).  What the page does to the stack otherwise (end tags, </body>,
 * </html>, <form>, <plaintext>, misnested formatting, head elements in the
 * body) changes where elements go in the tree, never which link elements
 * there are or their order.
 *
 * So once frozen, an <a>, <area> or <iframe> becomes a <link> whose first
 * attribute, VALUE_MARK and the element's name, says what it stands for
 * (a <link> "in body" is inserted and closed at once, wherever), followed
 * by the tag's own attributes; the marker has a quoted value, after which
 * the tokenizer reads what follows as it did after the tag's name (a bare
 * attribute name would take a following " = x" as its value); <link>,
 * <base> and <meta> stay as they are;
 * the rest, text included, is left out.  A page holding VALUE_MARK itself
 * is never frozen, so such an attribute is always the prefilter's.
 */
#define FREEZE_AGAIN 1 /* simplify: the page left "in body" after freezing; start over without */

/* The name a link element takes when frozen, NULL for a tag kept as it is. */
static const char *frozen_as(GumboTag t) {
  switch (t) {
  case GUMBO_TAG_A: return VALUE_MARK "a";
  case GUMBO_TAG_AREA: return VALUE_MARK "area";
  case GUMBO_TAG_IFRAME: return VALUE_MARK "iframe";
  default: return NULL;
  }
}

/* The markup tk at p, once frozen: 0, FREEZE_AGAIN or -ENOMEM. */
static int put_frozen(simplified *o, modes *md, const char *s, size_t p, const token *tk) {
  if (tk->kind == TOKEN_LT) mode_text(md, "<", 1);
  if (tk->kind != TOKEN_START) return 0;
  md->now = body_start(md, tk->tag, s + p, tk->end - p);
  if (md->now != MODE_IN_BODY || tk->unsure) return FREEZE_AGAIN;
  const char *as = frozen_as(tk->tag);
  bool kept = tk->tag == GUMBO_TAG_LINK || tk->tag == GUMBO_TAG_BASE || tk->tag == GUMBO_TAG_META;
  if (!as && !kept) return 0;
  if (!reserve(o, tk->end - p + 24)) return -ENOMEM;
  if (kept) {
    put_tag(o, s, p, tk->ne, tk->end);
  } else {
    put(o, "<link ", 6);
    put(o, as, strlen(as));
    put(o, "=\"\"", 3);
    put_attributes(o, s, tk->ne, tk->end);
  }
  return 0;
}

/*
 * Where the prefilter's reading of the tokenizer stops being certain.
 * Whether a <style>, <script>, <title>, <textarea>, <xmp>, <iframe>,
 * <noembed>, <noframes> or <plaintext> makes gumbo read raw text, and
 * whether "<![CDATA[" starts a CDATA section, depends on where the tree
 * builder is: in foreign content (<svg>, <math>) neither is what it is in
 * HTML, and in a <select> or a frameset those start tags are ignored, so
 * their contents are markup.  Before any of those four start tags both are
 * read exactly; after one (unless it is a <frameset> that gumbo certainly
 * ignores), the first such decision could be wrong, and a wrong one can
 * leave the prefilter reading text where gumbo is inside a tag: shrinking
 * that text would change an attribute value, a link.  So from the first
 * uncertain decision on (and after a script with "<!--", whose end the
 * escape rules decide) the page goes to gumbo as it is.
 */
static bool makes_tokens_unsure(const modes *md, GumboTag t) {
  if (t == GUMBO_TAG_FRAMESET) return !(md->now == MODE_IN_BODY && md->frameset_off);
  return t == GUMBO_TAG_SELECT || t == GUMBO_TAG_SVG || t == GUMBO_TAG_MATH;
}

/* Whether the markup tk at p makes a decision that o->unsure makes
 * uncertain, or an uncertain one in any case. */
static bool is_unsure_decision(const simplified *o, const char *s, size_t p, size_t n, const token *tk) {
  if (tk->unsure) return true;
  if (!o->unsure) return false;
  if (tk->kind == TOKEN_START) return is_raw_text(tk->tag);
  return tk->kind == TOKEN_OTHER && n - p >= 9 && !memcmp(s + p, "<![CDATA[", 9);
}

/* The markup tk at p, as it is (but for moved values), following the
 * insertion mode and the depth; freezes when it is time.  0 or -ENOMEM. */
static int put_markup(simplified *o, modes *md, nest *m, bool may_freeze, const char *s, size_t p,
                      const token *tk) {
  if (!reserve(o, tk->next - p)) return -ENOMEM;
  if (tk->kind == TOKEN_LT) mode_text(md, "<", 1);
  if (tk->kind == TOKEN_END) {
    nest_end(m, tk->tag, s + p + 2, tk->ne - p - 2);
    mode_end(md, tk->tag);
  }
  if (tk->kind != TOKEN_START) {
    put(o, s + p, tk->next - p);
    return 0;
  }
  nest_start(m, tk->tag, s + p + 1, tk->ne - p - 1);
  if (makes_tokens_unsure(md, tk->tag)) o->unsure = true;
  mode_start(md, tk->tag, s + p, tk->end - p);
  if (tk->unsure) md->now = MODE_LOST;
  put_tag(o, s, p, tk->ne, tk->end);
  put(o, s + tk->end, tk->next - tk->end);
  if (may_freeze && md->now == MODE_IN_BODY && m->depth >= depth_cap) o->frozen = true;
  return 0;
}

/* The input as gumbo gets it: text shrunk, and past the depth cap (with
 * may_freeze) frozen.  0, FREEZE_AGAIN or -ENOMEM. */
static int simplify(const char *s, size_t n, simplified *o, scratch *sc, bool may_freeze) {
  nest *m = &sc->m; /* entries are written before they are read: no zeroing */
  m->depth = 0;
  memset(o, 0, sizeof *o);
  o->sc = sc;
  o->in_len = n;
  if (!scratch_fit(&sc->out, &sc->out_cap, n ? n : 1)) return -ENOMEM;
  o->p = sc->out;
  o->may_move = !has_mark(s, n);
  may_freeze = may_freeze && o->may_move;
  modes md = {.now = MODE_BEFORE_HTML};
  size_t i = 0;
  int rc = 0;
  while (i < n && !rc) {
    const char *lt = memchr(s + i, '<', n - i);
    size_t p = lt ? (size_t)(lt - s) : n;
    mode_text(&md, s + i, p - i);
    if (!o->frozen && !reserve(o, p - i)) {
      rc = -ENOMEM;
      break;
    }
    if (!o->frozen) put_text(o, s, i, p);
    if (p == n) break;
    token tk;
    read_markup(m, s, p, n, &tk);
    bool uncertain = !o->frozen && is_unsure_decision(o, s, p, n, &tk);
    rc = o->frozen ? put_frozen(o, &md, s, p, &tk) : put_markup(o, &md, m, may_freeze, s, p, &tk);
    i = tk.next;
    if (!rc && uncertain) { /* the rest as it is */
      rc = reserve(o, n - i) ? 0 : -ENOMEM;
      if (!rc) put(o, s + i, n - i);
      break;
    }
  }
  free(o->moved.slot);
  o->moved = (crawl_strset){0};
  return rc;
}

/* ------------------------------------------------ the prefilter's result */

int crawl_prefilter(const char *html, size_t len, crawl_prefiltered *out) {
  memset(out, 0, sizeof *out);
  scratch *sc = scratch_take();
  if (!sc) return -ENOMEM;
  simplified in;
  int rc = simplify(html, len, &in, sc, true);
  if (rc == FREEZE_AGAIN) rc = simplify(html, len, &in, sc, false);
  if (rc) {
    scratch_give(sc);
    return rc;
  }
  *out = (crawl_prefiltered){
      .page = in.p, .len = in.len, .vals = in.vals, .vals_len = in.vals_len, .frozen = in.frozen, .sc = sc};
  return 0;
}

void crawl_prefilter_release(crawl_prefiltered *pf) {
  scratch_give(pf->sc);
  memset(pf, 0, sizeof *pf);
}

/* The mark must be in the attribute's source text too: a character
 * reference (&#xE000;) decodes to it, and such a value was never moved. */
const char *crawl_prefilter_value(const crawl_prefiltered *pf, const GumboAttribute *a) {
  const char *v = a->value;
  if (!v || !pf->vals || strncmp(v, VALUE_MARK, VALUE_MARK_LEN) != 0 ||
      !has_mark(a->original_value.data, a->original_value.length))
    return v;
  char *end;
  unsigned long long off = strtoull(v + VALUE_MARK_LEN, &end, 10);
  return !*end && off < pf->vals_len ? pf->vals + off : v;
}

/* A frozen link element's first attribute's name is VALUE_MARK and the
 * element's (see freezing); a page's own <link> never starts with one. */
GumboTag crawl_prefilter_stands_for(const crawl_prefiltered *pf, const GumboElement *link) {
  const GumboVector *attrs = &link->attributes;
  if (!pf->frozen || !attrs->length) return GUMBO_TAG_LINK;
  const char *name = ((const GumboAttribute *)attrs->data[0])->name;
  if (strncmp(name, VALUE_MARK, VALUE_MARK_LEN)) return GUMBO_TAG_LINK;
  name += VALUE_MARK_LEN;
  return !strcmp(name, "a") ? GUMBO_TAG_A : !strcmp(name, "area") ? GUMBO_TAG_AREA : GUMBO_TAG_IFRAME;
}
