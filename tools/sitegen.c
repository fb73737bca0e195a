/*
 * spindle-sitegen - a deterministic demo/benchmark web site for spindle-crawl.
 *
 *   spindle-sitegen --out DIR [--hosts N] [--pages P] [--seed S]
 *                   [--domain D] [--agent UA] [--port PORT]
 *
 * Writes, for hosts h0.D .. h{N-1}.D, P HTML pages in all (plus non-HTML
 * files and a robots.txt per host) under DIR/www/HOST/, an nginx.conf that
 * serves them on 127.0.0.1:PORT, dnsmasq arguments that resolve the hosts to
 * 127.0.0.1, and the answer a correct crawl from http://h0.D:PORT/ with scope
 * D must give: DIR/expected.txt (fetched, 200), DIR/expected-404.txt,
 * DIR/disallowed.txt (robots), DIR/offsite.txt (out of scope) and
 * DIR/depth.txt.  The generator knows every link it writes (its target and
 * whether it counts), so the answer is a BFS over its own link graph; how a
 * link is spelt (relative, ../, absolute path, absolute URL, other host case,
 * :80, dot segments, %2D, fragment, <base href>) varies but never changes
 * what it resolves to.  See tools/sitegen/README.md.
 *
 * Same arguments, same bytes: the only randomness is a splitmix64 stream
 * seeded by --seed.  Exit status: 0 done, 1 I/O error, 2 bad arguments.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "spindle-sitegen"
#define MARKER "sitegen.txt"
#define MARKER_LINE "# spindle-sitegen"
#define MAXL 20                /* links per page, at most */
#define MINL 5                 /* ... at least (the wanted count is 5..20) */
#define NQ 4                   /* query variants of a path: none, ?ref=1..3 */
#define MIN_PAGES_PER_HOST 20
#define MAX_HOSTS 1000
#define MAX_PAGES 1000000u
#define NSUB 3                 /* sub-directories per section */
#define NOFFSITE 4

/* ------------------------------------------------------------------ */
/* errors */

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, PROG ": error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry '" PROG " --help'.\n");
  va_end(ap);
  exit(2);
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, PROG ": error: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void die_io(const char *what, const char *path) __attribute__((noreturn));
static void die_io(const char *what, const char *path) {
  die("%s %s: %s", what, path, strerror(errno));
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) die("out of memory (%zu bytes)", n);
  return q;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p == NULL) die("out of memory (%zu x %zu bytes)", n, size);
  return p;
}

#define VEC_PUSH(v, n, cap, x)                                     \
  do {                                                             \
    if ((n) == (cap)) {                                            \
      (cap) = (cap) ? 2 * (cap) : 256;                             \
      (v) = xrealloc((v), (cap) * sizeof *(v));                    \
    }                                                              \
    (v)[(n)++] = (x);                                              \
  } while (0)

/* ------------------------------------------------------------------ */
/* growable byte buffer */

typedef struct {
  char *p;
  size_t n, cap;
} buf;

static void buf_reserve(buf *b, size_t extra) {
  if (b->n + extra + 1 <= b->cap) return;
  size_t c = b->cap ? b->cap : 4096;
  while (c < b->n + extra + 1) c *= 2;
  b->p = xrealloc(b->p, c);
  b->cap = c;
}

static void buf_put(buf *b, const char *s, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_putc(buf *b, char c) { buf_put(b, &c, 1); }

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) die("vsnprintf failed");
  if ((size_t)n < sizeof small) {
    buf_put(b, small, (size_t)n);
    return;
  }
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)n;
}

/* ------------------------------------------------------------------ */
/* splitmix64 */

typedef struct {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* 0 .. n-1 (n >= 1) */
static uint32_t rnd(rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32); }

static bool chance(rng *r, unsigned pct) { return rnd(r, 100) < pct; }

/* ------------------------------------------------------------------ */
/* the model */

/* Options */
static const char *opt_out;
static uint32_t opt_hosts = 4, opt_pages = 2000, opt_port = 8080;
static uint64_t opt_seed = 1;
static char opt_domain[256] = "demo.test";
static char opt_agent[65] = "spindle";
static char portstr[8]; /* ":PORT", or "" for 80 */
static char absdir[PATH_MAX];

/* Strings (paths, directories) live in one arena, referenced by offset. */
static buf arena;
#define STR(off) (arena.p + (off))

static uint32_t arena_add(const char *s, size_t n) {
  size_t off = arena.n;
  buf_put(&arena, s, n);
  buf_putc(&arena, '\0');
  if (arena.n > UINT32_MAX) die("too much text");
  return (uint32_t)off;
}

typedef struct {
  uint32_t off;  /* "/", "/section-3/", "/section-3/sub-1/" */
  uint32_t host;
  bool create;   /* mkdir it (not /gone/) */
} sdir;

enum kind {
  K_ROOT, K_INDEX, K_PAGE,                      /* regular pages */
  K_PRIVATE, K_NOSPIDER, K_PUBLIC, K_OTHERS,    /* robots */
  K_ORPHAN, K_HIDDEN,                           /* never reachable */
  K_PDF, K_PNG, K_TXT                           /* not HTML */
};

/* Categories: each host's files are created category by category, so a
 * category is a range of file indexes (hosts[h].cat[c] .. cat[c + 1]). */
enum cat { C_ROOT, C_INDEX, C_PAGE, C_PRIVATE, C_NOSPIDER, C_PUBLIC, C_OTHERS, C_ORPHAN, C_HIDDEN, C_NONHTML, C_N };

/* meta robots of a page */
enum meta {
  M_NONE,
  M_NOFOLLOW,          /* <meta name="robots" content="nofollow"> */
  M_AGENT_NOFOLLOW,    /* <meta name="AGENT" content="nofollow"> */
  M_NOINDEX_NOFOLLOW,  /* <meta name="robots" content="noindex, nofollow"> */
  M_NOFOLLOW_CASE,     /* <meta name="Robots" content="NoFollow"> */
  M_DECOY_OTHERBOT,    /* <meta name="otherbot" content="nofollow">: links count */
  M_DECOY_NOINDEX,     /* <meta name="robots" content="noindex">: links count */
};
#define META_BLOCKS(m) ((m) >= M_NOFOLLOW && (m) <= M_NOFOLLOW_CASE)

typedef struct {
  uint32_t off;     /* the path, as in the URL ("/section-3/" for an index) */
  uint32_t host;
  uint32_t dir;     /* index into dirs */
  uint32_t base;    /* offset of the last segment within the path ("" for a directory) */
  int32_t file;     /* -1: no such file (404) */
  bool disallowed;  /* by robots.txt for the agent */
} upath;

typedef struct {
  uint32_t host, path, dir, num;
  int32_t alias;       /* "index.html" path of a directory page, or -1 */
  uint32_t trap;       /* text/pdf: the hidden page its text names */
  uint32_t base_host, base_dir;
  uint16_t sec;
  uint8_t kind, meta, nlinks, want;
  bool has_base, base_abs, base_decoy, text_trap;
} sfile;

enum ltype {
  L_NORMAL,    /* counts */
  L_NOFOLLOW,  /* rel="nofollow": does not count */
  L_SELFQ,     /* "?ref=Q": the page itself with a query; counts */
  L_MAILTO,    /* mailto:, tel:, ftp: */
  L_JS,        /* javascript: */
  L_FRAG,      /* "#top" */
  L_OFFSITE,   /* out of scope, aux = which */
};

typedef struct {
  uint32_t path;
  uint8_t q, type, aux;
} slink;

typedef struct {
  char name[300];
  size_t namelen;
  uint32_t budget, s, nsec, npages, nnonhtml, nmissing;
  uint32_t d_root, d_sec, d_private, d_deep, d_nospider, d_others, d_files, d_gone;
  uint32_t cat[C_N + 1];
  uint32_t m_first, m_end; /* missing paths */
} shost;

static shost *hosts;
static sdir *dirs;
static size_t ndirs, capdirs;
static upath *paths;
static size_t npaths, cappaths;
static sfile *files;
static size_t nfiles, capfiles;
static slink *links; /* MAXL per file */
static uint32_t *realmeta; /* pages whose meta robots blocks their links */
static size_t nrealmeta, caprealmeta;

static bool is_html_kind(int k) { return k <= K_HIDDEN; }

static uint32_t sec_dir(const shost *h, uint32_t sec) { return h->d_sec + sec * (NSUB + 1); }
static uint32_t sub_dir(const shost *h, uint32_t sec, uint32_t sub) { return h->d_sec + sec * (NSUB + 1) + 1 + sub; }

static uint32_t add_dir(uint32_t host, const char *s, bool create) {
  sdir d = {arena_add(s, strlen(s)), host, create};
  VEC_PUSH(dirs, ndirs, capdirs, d);
  return (uint32_t)(ndirs - 1);
}

/* The robots.txt group for the agent (see write_robots): Allow
 * /no-spindle/public.html, Disallow /no-spindle/, Disallow /private/. */
static bool robots_disallowed(const char *path) {
  if (strncmp(path, "/no-spindle/public.html", 23) == 0) return false;
  return strncmp(path, "/no-spindle/", 12) == 0 || strncmp(path, "/private/", 9) == 0;
}

static uint32_t add_path(uint32_t host, uint32_t dir, const char *basename, int32_t file) {
  char tmp[512];
  int n = snprintf(tmp, sizeof tmp, "%s%s", STR(dirs[dir].off), basename);
  if (n < 0 || (size_t)n >= sizeof tmp) die("internal error: path too long");
  upath p = {0};
  p.off = arena_add(tmp, (size_t)n);
  p.host = host;
  p.dir = dir;
  p.base = (uint32_t)strlen(STR(dirs[dir].off));
  p.file = file;
  p.disallowed = robots_disallowed(tmp);
  VEC_PUSH(paths, npaths, cappaths, p);
  return (uint32_t)(npaths - 1);
}

static uint32_t add_file(uint32_t host, uint32_t dir, const char *basename, int kind, uint32_t num, uint32_t sec) {
  sfile f = {0};
  f.host = host;
  f.dir = dir;
  f.kind = (uint8_t)kind;
  f.num = num;
  f.sec = (uint16_t)sec;
  f.alias = -1;
  VEC_PUSH(files, nfiles, capfiles, f);
  uint32_t fi = (uint32_t)(nfiles - 1);
  files[fi].path = add_path(host, dir, basename, (int32_t)fi);
  if (kind == K_ROOT || kind == K_INDEX) files[fi].alias = (int32_t)add_path(host, dir, "index.html", (int32_t)fi);
  return fi;
}

static uint32_t cat_count(const shost *h, int c) { return h->cat[c + 1] - h->cat[c]; }

static uint32_t pick_in(rng *r, const shost *h, int c) { return h->cat[c] + rnd(r, cat_count(h, c)); }

/* A regular page (root, section index, page) of host h. */
static uint32_t pick_regular(rng *r, const shost *h) { return h->cat[C_ROOT] + rnd(r, h->cat[C_PAGE + 1] - h->cat[C_ROOT]); }

/* The path to link a page by: its own, or now and then its index.html. */
static uint32_t link_path(rng *r, uint32_t fi) {
  if (files[fi].alias >= 0 && chance(r, 10)) return (uint32_t)files[fi].alias;
  return files[fi].path;
}

static bool add_link(uint32_t fi, uint32_t path, unsigned q, unsigned type, unsigned aux) {
  sfile *f = &files[fi];
  if (f->nlinks >= MAXL) return false;
  slink l = {path, (uint8_t)q, (uint8_t)type, (uint8_t)aux};
  links[(size_t)fi * MAXL + f->nlinks++] = l;
  return true;
}

/* ------------------------------------------------------------------ */
/* structure */

static void build_host(rng *r, uint32_t hi) {
  shost *h = &hosts[hi];
  uint32_t B = h->budget;
  h->s = B / 100 ? B / 100 : 1;
  h->nsec = B / 40;
  if (h->nsec < 2) h->nsec = 2;
  if (h->nsec > 12) h->nsec = 12;
  uint32_t s = h->s, S = h->nsec;
  /* root + S indexes + pages + private s + no-spindle s + public 1 +
   * others-disallowed s + orphan s + hidden 2s == B */
  h->npages = B - 1 - S - (6 * s + 1);
  h->nnonhtml = B / 25 > 3 ? B / 25 : 3;
  h->nmissing = B / 40 > 2 ? B / 40 : 2;

  char name[64];
  h->d_root = add_dir(hi, "/", true);
  h->d_sec = (uint32_t)ndirs;
  for (uint32_t k = 0; k < S; k++) {
    snprintf(name, sizeof name, "/section-%u/", k);
    add_dir(hi, name, true);
    for (uint32_t t = 0; t < NSUB; t++) {
      snprintf(name, sizeof name, "/section-%u/sub-%u/", k, t);
      add_dir(hi, name, true);
    }
  }
  h->d_private = add_dir(hi, "/private/", true);
  h->d_deep = add_dir(hi, "/private/deep/", true);
  h->d_nospider = add_dir(hi, "/no-spindle/", true);
  h->d_others = add_dir(hi, "/others-disallowed/", true);
  h->d_files = add_dir(hi, "/files/", true);
  h->d_gone = add_dir(hi, "/gone/", false);

  h->cat[C_ROOT] = (uint32_t)nfiles;
  add_file(hi, h->d_root, "", K_ROOT, 0, 0);
  h->cat[C_INDEX] = (uint32_t)nfiles;
  for (uint32_t k = 0; k < S; k++) add_file(hi, sec_dir(h, k), "", K_INDEX, k, k);
  h->cat[C_PAGE] = (uint32_t)nfiles;
  for (uint32_t j = 0; j < h->npages; j++) {
    uint32_t k = j % S;
    /* the first four pages of a section stay in it (the index links them) */
    uint32_t d = (j / S < 4 || chance(r, 60)) ? sec_dir(h, k) : sub_dir(h, k, rnd(r, NSUB));
    snprintf(name, sizeof name, "page-%u.html", j);
    add_file(hi, d, name, K_PAGE, j, k);
  }
  h->cat[C_PRIVATE] = (uint32_t)nfiles;
  for (uint32_t i = 0; i < s; i++) {
    snprintf(name, sizeof name, "page-%u.html", i);
    add_file(hi, i % 2 ? h->d_deep : h->d_private, name, K_PRIVATE, i, 0);
  }
  h->cat[C_NOSPIDER] = (uint32_t)nfiles;
  for (uint32_t i = 0; i < s; i++) {
    snprintf(name, sizeof name, "page-%u.html", i);
    add_file(hi, h->d_nospider, name, K_NOSPIDER, i, 0);
  }
  h->cat[C_PUBLIC] = (uint32_t)nfiles;
  add_file(hi, h->d_nospider, "public.html", K_PUBLIC, 0, 0);
  h->cat[C_OTHERS] = (uint32_t)nfiles;
  for (uint32_t i = 0; i < s; i++) {
    snprintf(name, sizeof name, "page-%u.html", i);
    add_file(hi, h->d_others, name, K_OTHERS, i, 0);
  }
  h->cat[C_ORPHAN] = (uint32_t)nfiles;
  for (uint32_t i = 0; i < s; i++) {
    snprintf(name, sizeof name, "orphan-%u.html", i);
    add_file(hi, sec_dir(h, i % S), name, K_ORPHAN, i, i % S);
  }
  h->cat[C_HIDDEN] = (uint32_t)nfiles;
  for (uint32_t i = 0; i < 2 * s; i++) {
    uint32_t k = rnd(r, S);
    snprintf(name, sizeof name, "hidden-%u.html", i);
    add_file(hi, chance(r, 70) ? sec_dir(h, k) : sub_dir(h, k, rnd(r, NSUB)), name, K_HIDDEN, i, k);
  }
  h->cat[C_NONHTML] = (uint32_t)nfiles;
  for (uint32_t i = 0; i < h->nnonhtml; i++) {
    static const char *const fmt[3] = {"doc-%u.pdf", "img-%u.png", "notes-%u.txt"};
    static const int kinds[3] = {K_PDF, K_PNG, K_TXT};
    uint32_t k = rnd(r, S);
    snprintf(name, sizeof name, fmt[i % 3], i);
    add_file(hi, chance(r, 50) ? h->d_files : sec_dir(h, k), name, kinds[i % 3], i, k);
  }
  h->cat[C_N] = (uint32_t)nfiles;

  h->m_first = (uint32_t)npaths;
  for (uint32_t i = 0; i < h->nmissing; i++) {
    uint32_t d;
    switch (i % 5) {
    case 0:
    case 1:
      d = sec_dir(h, rnd(r, S));
      snprintf(name, sizeof name, "missing-%u.html", i);
      break;
    case 2:
      d = h->d_gone;
      snprintf(name, sizeof name, "page-%u.html", i);
      break;
    case 3:
      d = h->d_files;
      snprintf(name, sizeof name, "missing-%u.pdf", i);
      break;
    default: /* disallowed: never attempted */
      d = h->d_private;
      snprintf(name, sizeof name, "missing-%u.html", i);
      break;
    }
    add_path(hi, d, name, -1);
  }
  h->m_end = (uint32_t)npaths;
}

/* Picks distinct pages of host h (kind K_PAGE, no meta, no base yet) and
 * lets set() mark them. */
static uint32_t pick_plain_page(rng *r, const shost *h) {
  for (int tries = 0; tries < 64; tries++) {
    uint32_t fi = pick_in(r, h, C_PAGE);
    if (files[fi].meta == M_NONE && !files[fi].has_base) return fi;
  }
  return UINT32_MAX;
}

static void choose_page_features(rng *r, uint32_t hi) {
  shost *h = &hosts[hi];
  uint32_t n = h->npages;
  uint32_t nmeta = n / 50 ? n / 50 : 1, ndecoy = n / 60 ? n / 60 : 1, nbase = n / 40 ? n / 40 : 1;
  for (uint32_t i = 0; i < nmeta; i++) {
    uint32_t fi = pick_plain_page(r, h);
    if (fi == UINT32_MAX) break;
    files[fi].meta = (uint8_t)(M_NOFOLLOW + i % 4);
    VEC_PUSH(realmeta, nrealmeta, caprealmeta, fi);
  }
  for (uint32_t i = 0; i < ndecoy; i++) {
    uint32_t fi = pick_plain_page(r, h);
    if (fi == UINT32_MAX) break;
    files[fi].meta = (uint8_t)(M_DECOY_OTHERBOT + i % 2);
  }
  for (uint32_t i = 0; i < nbase; i++) {
    uint32_t fi = pick_plain_page(r, h);
    if (fi == UINT32_MAX) break;
    sfile *f = &files[fi];
    f->has_base = true;
    f->base_host = chance(r, 60) ? hi : rnd(r, opt_hosts);
    const shost *bh = &hosts[f->base_host];
    uint32_t x = rnd(r, 4);
    uint32_t sec = rnd(r, bh->nsec);
    f->base_dir = x == 0 ? bh->d_root : x == 1 ? sub_dir(bh, sec, rnd(r, NSUB)) : sec_dir(bh, sec);
    /* "/section-2/" only resolves to the page's own host */
    f->base_abs = f->base_host != hi || chance(r, 50);
    f->base_decoy = chance(r, 50); /* a <base target> without href before it */
  }
  for (uint32_t fi = h->cat[C_PAGE]; fi < h->cat[C_PAGE + 1]; fi++)
    if (files[fi].meta == M_NONE && chance(r, 3)) files[fi].text_trap = true;
}

/* A page of host ch (or any host) whose links count and that has room. */
static uint32_t pick_carrier(rng *r, uint32_t ch) {
  for (int tries = 0; tries < 200; tries++) {
    const shost *h = &hosts[tries < 100 && chance(r, 70) ? ch : rnd(r, opt_hosts)];
    uint32_t fi = pick_regular(r, h);
    if (!META_BLOCKS(files[fi].meta) && files[fi].nlinks < MAXL - 2) return fi;
  }
  for (uint32_t fi = 0; fi < nfiles; fi++)
    if (files[fi].kind <= K_PAGE && !META_BLOCKS(files[fi].meta) && files[fi].nlinks < MAXL) return fi;
  die("internal error: no room for links (too few pages per host)");
}

static void tree_links(uint32_t hi) {
  shost *h = &hosts[hi];
  uint32_t root = h->cat[C_ROOT], S = h->nsec;
  for (uint32_t k = 0; k < S; k++) add_link(root, files[h->cat[C_INDEX] + k].path, 0, L_NORMAL, 0);
  for (uint32_t j = 0; j < h->npages; j++) {
    uint32_t k = j % S, i = j / S;
    uint32_t parent = i < 4 ? h->cat[C_INDEX] + k : h->cat[C_PAGE] + k + (i / 4 - 1) * S;
    if (!add_link(parent, files[h->cat[C_PAGE] + j].path, 0, L_NORMAL, 0)) die("internal error: tree link");
  }
  /* host roots: h_j from h_{(j-1)/3} */
  if (hi > 0) add_link(hosts[(hi - 1) / 3].cat[C_ROOT], files[root].path, 0, L_NORMAL, 0);
}

/* Links that make every special file show up somewhere. */
static void must_links(rng *r, uint32_t hi) {
  shost *h = &hosts[hi];
  for (uint32_t fi = h->cat[C_PRIVATE]; fi < h->cat[C_ORPHAN]; fi++) {
    unsigned n = 1 + rnd(r, 2);
    for (unsigned i = 0; i < n; i++) add_link(pick_carrier(r, hi), files[fi].path, 0, L_NORMAL, 0);
  }
  for (uint32_t fi = h->cat[C_NONHTML]; fi < h->cat[C_N]; fi++) {
    unsigned n = 1 + rnd(r, 2);
    for (unsigned i = 0; i < n; i++) {
      uint32_t carrier = pick_carrier(r, hi);
      add_link(carrier, files[fi].path, chance(r, 5), L_NORMAL, 0);
    }
  }
  for (uint32_t p = h->m_first; p < h->m_end; p++) add_link(pick_carrier(r, hi), p, 0, L_NORMAL, 0);
  for (uint32_t fi = h->cat[C_HIDDEN]; fi < h->cat[C_NONHTML]; fi++) {
    uint32_t x = rnd(r, 100), path = files[fi].path;
    bool done = false;
    if (x < 25 && nrealmeta) { /* a plain link, on a page whose meta robots says nofollow */
      for (int tries = 0; tries < 8 && !done; tries++) done = add_link(realmeta[rnd(r, (uint32_t)nrealmeta)], path, 0, L_NORMAL, 0);
    } else if (x < 40) { /* a plain link, on a page robots.txt disallows */
      done = add_link(chance(r, 50) ? pick_in(r, h, C_PRIVATE) : pick_in(r, h, C_NOSPIDER), path, 0, L_NORMAL, 0);
    }
    if (!done) {
      uint32_t carrier = pick_carrier(r, hi);
      add_link(carrier, path, 0, L_NOFOLLOW, rnd(r, 4));
    }
  }
  for (uint32_t fi = h->cat[C_NONHTML]; fi < h->cat[C_N]; fi++) files[fi].trap = files[pick_in(r, h, C_HIDDEN)].path;
}

static unsigned pick_q(rng *r) { return rnd(r, 1000) < 12 ? 1 + rnd(r, NQ - 1) : 0; }

/* One more link for page fi. */
static void extra_link(rng *r, uint32_t fi) {
  const sfile *f = &files[fi];
  uint32_t hi = f->host;
  const shost *h = &hosts[hi];
  /* Links that never count: they may point at hidden pages. */
  if ((META_BLOCKS(f->meta) || f->kind == K_PRIVATE || f->kind == K_NOSPIDER) && chance(r, 15)) {
    add_link(fi, files[pick_in(r, h, C_HIDDEN)].path, 0, L_NORMAL, 0);
    return;
  }
  /* (one draw per statement: the order in which a call's arguments are
   * evaluated is unspecified, and the output must not depend on it) */
  uint32_t x = rnd(r, 1000), t;
  if (x < 400) {
    t = link_path(r, pick_regular(r, h));
    add_link(fi, t, pick_q(r), L_NORMAL, 0);
  } else if (x < 550) {
    t = link_path(r, pick_regular(r, &hosts[rnd(r, opt_hosts)]));
    add_link(fi, t, pick_q(r), L_NORMAL, 0);
  } else if (x < 610) {
    const shost *th = chance(r, 70) ? h : &hosts[rnd(r, opt_hosts)];
    t = files[pick_in(r, th, C_NONHTML)].path;
    add_link(fi, t, chance(r, 5), L_NORMAL, 0);
  } else if (x < 635) {
    t = h->m_first + rnd(r, h->m_end - h->m_first);
    add_link(fi, t, chance(r, 10), L_NORMAL, 0);
  } else if (x < 680) {
    t = chance(r, 50) ? files[pick_in(r, h, C_HIDDEN)].path : link_path(r, pick_regular(r, h));
    add_link(fi, t, 0, L_NOFOLLOW, rnd(r, 4));
  } else if (x < 710) {
    add_link(fi, 0, 0, L_MAILTO, rnd(r, 4));
  } else if (x < 740) {
    add_link(fi, 0, 0, L_JS, rnd(r, 2));
  } else if (x < 770 && !f->has_base) {
    add_link(fi, 0, 0, L_FRAG, rnd(r, 3));
  } else if (x < 775 && !f->has_base && f->kind == K_PAGE) {
    add_link(fi, f->path, 1 + rnd(r, NQ - 1), L_SELFQ, 0);
  } else if (x < 815) {
    add_link(fi, 0, 0, L_OFFSITE, rnd(r, NOFFSITE));
  } else if (x < 835) {
    static const int cats[4] = {C_PRIVATE, C_NOSPIDER, C_PUBLIC, C_OTHERS};
    add_link(fi, files[pick_in(r, h, cats[rnd(r, 4)])].path, 0, L_NORMAL, 0);
  } else {
    add_link(fi, link_path(r, pick_regular(r, h)), 0, L_NORMAL, 0);
  }
}

static void build(void) {
  rng r = {opt_seed};
  hosts = xcalloc(opt_hosts, sizeof *hosts);
  for (uint32_t hi = 0; hi < opt_hosts; hi++) {
    shost *h = &hosts[hi];
    h->budget = opt_pages / opt_hosts + (hi < opt_pages % opt_hosts);
    int n = snprintf(h->name, sizeof h->name, "h%u.%s", hi, opt_domain);
    h->namelen = (size_t)n;
  }
  for (uint32_t hi = 0; hi < opt_hosts; hi++) build_host(&r, hi);
  links = xcalloc(nfiles * (size_t)MAXL, sizeof *links);
  for (uint32_t hi = 0; hi < opt_hosts; hi++) choose_page_features(&r, hi);
  for (uint32_t fi = 0; fi < nfiles; fi++) files[fi].want = (uint8_t)(MINL + rnd(&r, MAXL - MINL + 1));
  for (uint32_t hi = 0; hi < opt_hosts; hi++) tree_links(hi);
  for (uint32_t hi = 0; hi < opt_hosts; hi++) must_links(&r, hi);
  for (uint32_t fi = 0; fi < nfiles; fi++) {
    if (!is_html_kind(files[fi].kind)) continue;
    for (int tries = 0; files[fi].nlinks < files[fi].want && tries < 100; tries++) extra_link(&r, fi);
    /* shuffle, so that tree links are not always first */
    slink *l = &links[(size_t)fi * MAXL];
    for (uint32_t i = files[fi].nlinks; i > 1; i--) {
      uint32_t j = rnd(&r, i);
      slink t = l[i - 1];
      l[i - 1] = l[j];
      l[j] = t;
    }
  }
}

/* ------------------------------------------------------------------ */
/* the crawl the site calls for */

enum { ST_NONE, ST_OK, ST_404, ST_DISALLOWED };
static int32_t *depth;   /* per node (path * NQ + q) */
static uint8_t *status;
static bool offsite_hit[NOFFSITE];
static int32_t max_depth;

static void bfs(void) {
  size_t nn = npaths * NQ;
  depth = xcalloc(nn, sizeof *depth);
  status = xcalloc(nn, 1);
  uint32_t *queue = xcalloc(nn, sizeof *queue);
  for (size_t i = 0; i < nn; i++) depth[i] = -1;
  size_t qh = 0, qt = 0;
  uint32_t seed = files[hosts[0].cat[C_ROOT]].path * NQ;
  depth[seed] = 0;
  queue[qt++] = seed;
  while (qh < qt) {
    uint32_t n = queue[qh++], p = n / NQ;
    if (depth[n] > max_depth) max_depth = depth[n];
    if (paths[p].disallowed) {
      status[n] = ST_DISALLOWED;
      continue;
    }
    if (paths[p].file < 0) {
      status[n] = ST_404;
      continue;
    }
    status[n] = ST_OK;
    const sfile *f = &files[paths[p].file];
    if (!is_html_kind(f->kind) || META_BLOCKS(f->meta)) continue;
    const slink *l = &links[(size_t)paths[p].file * MAXL];
    for (unsigned i = 0; i < f->nlinks; i++) {
      if (l[i].type == L_OFFSITE) offsite_hit[l[i].aux] = true;
      if (l[i].type != L_NORMAL && l[i].type != L_SELFQ) continue;
      uint32_t t = l[i].path * NQ + l[i].q;
      if (depth[t] < 0) {
        depth[t] = depth[n] + 1;
        queue[qt++] = t;
      }
    }
  }
  free(queue);
  /* the generator's own promises */
  for (size_t i = 0; i < nn; i++) {
    if (status[i] != ST_OK) continue;
    int k = files[paths[i / NQ].file].kind;
    if (k == K_PRIVATE || k == K_NOSPIDER || k == K_ORPHAN || k == K_HIDDEN)
      die("internal error: %s is reachable", STR(paths[i / NQ].off));
  }
}

/* ------------------------------------------------------------------ */
/* spelling URLs */

/* The normalised URL (the crawler's dedupe key) of a node. */
static void put_key(buf *b, uint32_t path, unsigned q) {
  const upath *p = &paths[path];
  const shost *h = &hosts[p->host];
  buf_puts(b, "http://");
  buf_put(b, h->name, h->namelen);
  buf_puts(b, portstr);
  buf_puts(b, STR(p->off));
  if (q) buf_printf(b, "?ref=%u", q);
}

static void put_offsite(buf *b, unsigned which, bool key) {
  switch (which) {
  case 0: buf_puts(b, key ? "http://example.com/" : "http://Example.COM"); break;
  case 1: buf_puts(b, "https://www.example.org/about.html"); break;
  case 2: buf_printf(b, "http://not%s%s/", opt_domain, portstr); break;  /* not under D */
  default: buf_printf(b, "http://h0.%s.invalid/", opt_domain); break;    /* nor is this */
  }
}

static void put_host(rng *r, buf *b, const shost *h, bool vary) {
  if (!vary) {
    buf_put(b, h->name, h->namelen);
    return;
  }
  size_t start = b->n;
  buf_put(b, h->name, h->namelen);
  for (size_t i = start; i < b->n; i++)
    if (chance(r, 50)) b->p[i] = (char)toupper((unsigned char)b->p[i]);
  b->p[start] = 'H'; /* at least one letter differs */
}

static void put_port(rng *r, buf *b) {
  if (opt_port != 80) buf_puts(b, portstr);
  else if (chance(r, 50)) buf_puts(b, ":80");
}

/* "../../section-1/page-3.html", "./", "page-3.html" */
static void put_relative(rng *r, buf *b, const char *from, const char *to, const char *base) {
  const char *a = from + 1, *t = to + 1;
  for (;;) {
    const char *ea = strchr(a, '/'), *et = strchr(t, '/');
    if (ea == NULL || et == NULL || ea - a != et - t || memcmp(a, t, (size_t)(ea - a)) != 0) break;
    a = ea + 1;
    t = et + 1;
  }
  unsigned ups = 0;
  for (const char *p = a; *p; p++) ups += *p == '/';
  if (ups == 0 && (chance(r, 30) || (!*t && !*base))) buf_puts(b, "./");
  for (unsigned i = 0; i < ups; i++) buf_puts(b, "../");
  buf_puts(b, t);
  buf_puts(b, base);
}

/* An absolute path, now and then with dot segments. */
static void put_abs_path(rng *r, buf *b, const char *dir, const char *base, bool dots) {
  if (dots) {
    switch (rnd(r, 3)) {
    case 0: buf_puts(b, "/a/.."); break;
    case 1: buf_puts(b, "/."); break;
    default:
      buf_puts(b, dir);
      buf_puts(b, "./");
      buf_puts(b, base);
      return;
    }
  }
  buf_puts(b, dir);
  buf_puts(b, base);
}

/* An href for path (+ query q) as seen from a document whose base URL is
 * in directory cdir of host chost. */
static void put_href(rng *r, buf *b, uint32_t chost, uint32_t cdir, uint32_t path, unsigned q, bool frag) {
  const upath *p = &paths[path];
  const shost *th = &hosts[p->host];
  char dir[256], base[256];
  snprintf(dir, sizeof dir, "%.*s", (int)p->base, STR(p->off));
  snprintf(base, sizeof base, "%s", STR(p->off) + p->base);
  /* "page%2D3.html": the crawler decodes unreserved characters */
  char *dash = strchr(base, '-');
  if (dash && !p->disallowed && chance(r, 4)) {
    char tail[256];
    snprintf(tail, sizeof tail, "%s", dash + 1);
    snprintf(dash, sizeof base - (size_t)(dash - base), "%s%s", chance(r, 50) ? "%2D" : "%2d", tail);
  }
  uint32_t x = rnd(r, 100);
  if (p->host == chost && x < 35) {
    put_relative(r, b, STR(dirs[cdir].off), dir, base);
  } else if (p->host == chost && x < 60) {
    put_abs_path(r, b, dir, base, false);
  } else if (p->host == chost && x < 67) {
    put_abs_path(r, b, dir, base, true);
  } else {
    /* absolute URL: http://HOST[:PORT]/path, with variations */
    uint32_t y = rnd(r, 100);
    bool vary = y >= 60 && y < 85, dots = y >= 85 && y < 92, schemeless = y >= 92;
    buf_puts(b, schemeless ? "//" : "http://");
    put_host(r, b, th, vary);
    put_port(r, b);
    if (!strcmp(dir, "/") && !*base && !q && !frag && chance(r, 30)) return; /* "http://h1.D:PORT" */
    put_abs_path(r, b, dir, base, dots || (vary && chance(r, 50)));
  }
  if (q) buf_printf(b, "?ref=%u", q);
}

/* ------------------------------------------------------------------ */
/* writing */

static const char *const words[] = {
    "coroutine", "scheduler", "spindle",  "thread",   "yield",    "resume",  "socket",    "buffer",
    "crawler",   "frontier",  "robots",   "anchor",   "harbour",  "lantern", "meadow",    "copper",
    "river",     "quiet",     "northern", "garden",   "signal",   "orbit",   "paper",     "winter",
    "the",       "of",        "and",      "a",        "to",       "in",      "is",        "with",
    "every",     "small",     "careful",  "distant",  "fast",     "simple",  "hidden",    "open",
    "page",      "section",   "link",     "host",     "queue",    "depth",   "timeout",   "latency",
    "measured",  "written",   "served",   "parsed",   "followed", "ignored", "resolved",  "fetched",
    "green",     "stone",     "bridge",   "window",   "engine",   "signal",  "harvest",   "compass",
};
#define NWORDS (sizeof words / sizeof words[0])

static void put_words(rng *r, buf *b, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    if (i) buf_putc(b, ' ');
    buf_puts(b, words[rnd(r, NWORDS)]);
  }
}

static void put_title(buf *b, const sfile *f) {
  const shost *h = &hosts[f->host];
  switch (f->kind) {
  case K_ROOT: buf_printf(b, "%s home", h->name); break;
  case K_INDEX: buf_printf(b, "%s section %u", h->name, f->num); break;
  case K_PAGE: buf_printf(b, "%s section %u page %u", h->name, f->sec, f->num); break;
  case K_PRIVATE: buf_printf(b, "%s private page %u", h->name, f->num); break;
  case K_NOSPIDER: buf_printf(b, "%s no-%s page %u", h->name, opt_agent, f->num); break;
  case K_PUBLIC: buf_printf(b, "%s public page", h->name); break;
  case K_OTHERS: buf_printf(b, "%s page %u, disallowed for other agents", h->name, f->num); break;
  case K_ORPHAN: buf_printf(b, "%s orphan page %u", h->name, f->num); break;
  default: buf_printf(b, "%s hidden page %u", h->name, f->num); break;
  }
}

static const char *const rel_nofollow[4] = {"nofollow", "noopener nofollow", "NoFollow", "external nofollow"};

static void put_anchor(rng *r, buf *b, const sfile *f, const slink *l, uint32_t chost, uint32_t cdir) {
  buf href = {0};
  bool frag = false;
  switch (l->type) {
  case L_NORMAL:
  case L_NOFOLLOW:
    frag = chance(r, 12);
    put_href(r, &href, chost, cdir, l->path, l->q, frag);
    break;
  case L_SELFQ: buf_printf(&href, "?ref=%u", l->q); frag = chance(r, 12); break;
  case L_MAILTO:
    switch (l->aux) {
    case 0: buf_printf(&href, "mailto:webmaster@%s", hosts[f->host].name); break;
    case 1: buf_puts(&href, "MAILTO:info@example.com?subject=Hello"); break;
    case 2: buf_puts(&href, "tel:+15550100"); break;
    default: buf_printf(&href, "ftp://%s/pub/file.txt", hosts[f->host].name); break;
    }
    break;
  case L_JS: buf_puts(&href, l->aux ? "JavaScript:history.back()" : "javascript:void(0)"); break;
  case L_FRAG: buf_puts(&href, l->aux == 0 ? "#top" : l->aux == 1 ? "#" : "#links"); break;
  default: put_offsite(&href, l->aux, false); break;
  }
  if (frag) buf_puts(&href, chance(r, 50) ? "#top" : "#links");

  bool upper = chance(r, 5);
  buf_puts(b, upper ? "<A " : "<a ");
  if (l->type == L_NOFOLLOW) buf_printf(b, "rel=\"%s\" ", rel_nofollow[l->aux % 4]);
  else if (chance(r, 3)) buf_puts(b, chance(r, 50) ? "rel=\"noopener\" " : "rel=\"external\" ");
  uint32_t style = rnd(r, 100);
  const char *attr = upper ? "HREF" : "href";
  if (style < 80) buf_printf(b, "%s=\"%s\"", attr, href.p);
  else if (style < 88) buf_printf(b, "%s='%s'", attr, href.p);
  else if (style < 94 && !strchr(href.p, '=')) buf_printf(b, "%s=%s", attr, href.p);
  else buf_printf(b, "%s=\"  %s \"", attr, href.p); /* the crawler trims */
  buf_puts(b, ">");
  put_words(r, b, 1 + rnd(r, 3));
  buf_puts(b, upper ? "</A>" : "</a>");
  free(href.p);
}

static void render_html(rng *r, buf *b, uint32_t fi) {
  const sfile *f = &files[fi];
  const shost *h = &hosts[f->host];
  uint32_t chost = f->host, cdir = f->dir;
  buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
  put_title(b, f);
  buf_puts(b, "</title>\n");
  switch (f->meta) {
  case M_NOFOLLOW: buf_puts(b, "<meta name=\"robots\" content=\"nofollow\">\n"); break;
  case M_AGENT_NOFOLLOW: buf_printf(b, "<meta name=\"%s\" content=\"nofollow\">\n", opt_agent); break;
  case M_NOINDEX_NOFOLLOW: buf_puts(b, "<meta name=\"robots\" content=\"noindex, nofollow\">\n"); break;
  case M_NOFOLLOW_CASE: buf_puts(b, "<meta name=\"Robots\" content=\"NoFollow\">\n"); break;
  case M_DECOY_OTHERBOT: buf_puts(b, "<meta name=\"otherbot\" content=\"nofollow\">\n"); break;
  case M_DECOY_NOINDEX: buf_puts(b, "<meta name=\"robots\" content=\"noindex\">\n"); break;
  default: break;
  }
  if (f->has_base) {
    if (f->base_decoy) buf_puts(b, "<base target=\"_self\">\n");
    buf_puts(b, "<base href=\"");
    if (f->base_abs) {
      buf_puts(b, "http://");
      buf_put(b, hosts[f->base_host].name, hosts[f->base_host].namelen);
      buf_puts(b, portstr);
    }
    buf_puts(b, STR(dirs[f->base_dir].off));
    buf_puts(b, "\">\n");
    chost = f->base_host;
    cdir = f->base_dir;
  }
  buf_puts(b, "</head>\n<body>\n<h1 id=\"top\">");
  put_title(b, f);
  buf_puts(b, "</h1>\n");
  unsigned np = 1 + rnd(r, 3);
  for (unsigned i = 0; i < np; i++) {
    buf_puts(b, "<p>");
    put_words(r, b, 12 + rnd(r, 30));
    buf_puts(b, ".</p>\n");
  }
  if (f->text_trap) {
    /* neither is a link: a crawler must not fetch it */
    uint32_t hp = files[pick_in(r, h, C_HIDDEN)].path;
    buf_puts(b, "<p>Plain text, not a link: <code>http://");
    buf_put(b, h->name, h->namelen);
    buf_printf(b, "%s%s</code></p>\n<!-- <a href=\"%s\">old link</a> -->\n", portstr, STR(paths[hp].off),
               STR(paths[hp].off));
  }
  const slink *l = &links[(size_t)fi * MAXL];
  unsigned n = f->nlinks, i = 0;
  buf_puts(b, "<nav>\n");
  for (; i < n && i < 3; i++) {
    put_anchor(r, b, f, &l[i], chost, cdir);
    buf_putc(b, '\n');
  }
  buf_puts(b, "</nav>\n");
  if (i < n) {
    buf_puts(b, "<p>");
    put_words(r, b, 5 + rnd(r, 10));
    buf_putc(b, ' ');
    put_anchor(r, b, f, &l[i++], chost, cdir);
    buf_putc(b, ' ');
    put_words(r, b, 3 + rnd(r, 8));
    buf_puts(b, ".</p>\n");
  }
  if (i < n) {
    buf_puts(b, "<ul id=\"links\">\n");
    for (; i < n; i++) {
      buf_puts(b, "<li>");
      put_anchor(r, b, f, &l[i], chost, cdir);
      buf_puts(b, "</li>\n");
    }
    buf_puts(b, "</ul>\n");
  }
  buf_puts(b, "<footer>");
  put_words(r, b, 4 + rnd(r, 6));
  buf_puts(b, "</footer>\n</body>\n</html>\n");
}

static const unsigned char png1x1[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01,
    0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static void render_other(buf *b, uint32_t fi) {
  const sfile *f = &files[fi];
  const shost *h = &hosts[f->host];
  const char *trap = STR(paths[f->trap].off);
  switch (f->kind) {
  case K_TXT:
    buf_printf(b,
               "Notes %u for %s\n\nThis is text/plain: a crawler must not look for links in it.\n"
               "<a href=\"%s\">not a link</a>\nhttp://%s%s%s\n",
               f->num, h->name, trap, h->name, portstr, trap);
    break;
  case K_PDF:
    buf_printf(b,
               "%%PDF-1.4\n%% spindle-sitegen document %u for %s\n"
               "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
               "2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
               "3 0 obj << /S /URI /URI (http://%s%s%s) >> endobj\n"
               "%% <a href=\"%s\">not a link</a>\ntrailer << /Root 1 0 R >>\n%%%%EOF\n",
               f->num, h->name, h->name, portstr, trap, trap);
    break;
  default: buf_put(b, (const char *)png1x1, sizeof png1x1); break;
  }
}

static void write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die_io("cannot create", path);
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      die_io("cannot write", path);
    }
    data += w;
    len -= (size_t)w;
  }
  if (close(fd) != 0) die_io("cannot write", path);
}

/* snprintf into a PATH_MAX buffer; a path that does not fit is an error. */
static void fmt_path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fmt_path(char *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, PATH_MAX, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= PATH_MAX) die("path too long under %s", absdir);
}

static void make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die_io("cannot create directory", path);
}

static void write_out(const char *name, const buf *b) {
  char path[PATH_MAX];
  fmt_path(path, "%s/%s", absdir, name);
  write_file(path, b->p ? b->p : "", b->n);
}

static void write_robots(buf *b, const shost *h) {
  b->n = 0;
  buf_printf(b,
             "# robots.txt for %s, written by spindle-sitegen.\n"
             "User-agent: *\n"
             "Disallow: /private/\n"
             "Disallow: /others-disallowed/\n"
             "\n"
             "# %s has a group of its own, so the \"*\" group does not apply to it\n"
             "# (RFC 9309 2.2.1): /private/ is repeated here, /others-disallowed/ is not.\n"
             "User-agent: %s\n"
             "Allow: /no-spindle/public.html\n"
             "Disallow: /no-spindle/\n"
             "Disallow: /private/\n",
             h->name, opt_agent, opt_agent);
}

/* Renders and writes files lo..hi-1.  Each file draws from its own stream,
 * so the bytes do not depend on the order or on who writes them. */
static void write_files(uint32_t lo, uint32_t hi) {
  char path[PATH_MAX];
  buf b = {0};
  for (uint32_t fi = lo; fi < hi; fi++) {
    const sfile *f = &files[fi];
    const char *p = STR(paths[f->path].off);
    fmt_path(path, "%s/www/%s%s%s", absdir, hosts[f->host].name, p, p[strlen(p) - 1] == '/' ? "index.html" : "");
    rng r = {opt_seed ^ 0x6a09e667f3bcc908ULL ^ ((uint64_t)fi << 32)};
    rng_next(&r);
    b.n = 0;
    if (is_html_kind(f->kind)) render_html(&r, &b, fi);
    else render_other(&b, fi);
    write_file(path, b.p, b.n);
  }
  free(b.p);
}

/* Creating files is most of the time, and mostly waiting on the file system:
 * a few processes write slices of the files side by side. */
#define WRITERS 8

static void write_site(void) {
  char path[PATH_MAX];
  buf b = {0};
  fmt_path(path, "%s/www", absdir);
  make_dir(path);
  fmt_path(path, "%s/tmp", absdir);
  make_dir(path);
  for (uint32_t hi = 0; hi < opt_hosts; hi++) {
    const shost *h = &hosts[hi];
    fmt_path(path, "%s/www/%s", absdir, h->name);
    make_dir(path);
    for (size_t d = h->d_root; d < ndirs && dirs[d].host == hi; d++) {
      if (!dirs[d].create || d == h->d_root) continue;
      fmt_path(path, "%s/www/%s%s", absdir, h->name, STR(dirs[d].off));
      make_dir(path);
    }
    write_robots(&b, h);
    fmt_path(path, "%s/www/%s/robots.txt", absdir, h->name);
    write_file(path, b.p, b.n);
  }
  free(b.p);
  uint32_t n = (uint32_t)nfiles;
  if (n < 1000) {
    write_files(0, n);
    return;
  }
  /* The writers are children, the parent waits for them all: whichever
   * fails says why and exits 1, the others finish. */
  pid_t pids[WRITERS];
  fflush(NULL);
  for (uint32_t w = 0; w < WRITERS; w++) {
    pids[w] = fork();
    if (pids[w] < 0) die("fork: %s", strerror(errno));
    if (pids[w] == 0) {
      write_files((uint32_t)((uint64_t)n * w / WRITERS), (uint32_t)((uint64_t)n * (w + 1) / WRITERS));
      _exit(0);
    }
  }
  bool failed = false;
  for (uint32_t w = 0; w < WRITERS; w++) {
    int st;
    while (waitpid(pids[w], &st, 0) < 0)
      if (errno != EINTR) die("waitpid: %s", strerror(errno));
    if (WIFSIGNALED(st)) fprintf(stderr, PROG ": error: a writer process died of signal %d\n", WTERMSIG(st));
    failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  if (failed) exit(1); /* the writer said why */
}

/* sorted lists */

static const char *sort_base;
static int cmp_off(const void *a, const void *b) {
  return strcmp(sort_base + *(const size_t *)a, sort_base + *(const size_t *)b);
}

typedef struct {
  buf text;
  size_t *offs;
  size_t n, cap;
} lines;

static void lines_add_key(lines *ls, uint32_t path, unsigned q) {
  size_t off = ls->text.n;
  put_key(&ls->text, path, q);
  buf_putc(&ls->text, '\0');
  VEC_PUSH(ls->offs, ls->n, ls->cap, off);
}

static void lines_write(lines *ls, const char *name) {
  sort_base = ls->text.p;
  qsort(ls->offs, ls->n, sizeof *ls->offs, cmp_off);
  buf out = {0};
  for (size_t i = 0; i < ls->n; i++) {
    buf_puts(&out, ls->text.p + ls->offs[i]);
    buf_putc(&out, '\n');
  }
  write_out(name, &out);
  free(out.p);
}

static void lines_free(lines *ls) {
  free(ls->text.p);
  free(ls->offs);
}

typedef struct {
  size_t ok, ok_query, ok_nonhtml, nf, dis, off;
} counts;

static counts write_lists(void) {
  counts c = {0};
  lines ok = {0}, nf = {0}, dis = {0}, dep = {0}, off = {0};
  for (size_t i = 0; i < npaths * NQ; i++) {
    uint32_t p = (uint32_t)(i / NQ);
    unsigned q = (unsigned)(i % NQ);
    if (status[i] == ST_OK) {
      lines_add_key(&ok, p, q);
      c.ok++;
      c.ok_query += q != 0;
      c.ok_nonhtml += !is_html_kind(files[paths[p].file].kind);
    } else if (status[i] == ST_404) {
      lines_add_key(&nf, p, q);
      c.nf++;
    } else if (status[i] == ST_DISALLOWED) {
      lines_add_key(&dis, p, q);
      c.dis++;
    }
    if (status[i] == ST_OK || status[i] == ST_404) {
      size_t o = dep.text.n;
      put_key(&dep.text, p, q);
      buf_printf(&dep.text, " %d %d", depth[i], status[i] == ST_OK ? 200 : 404);
      buf_putc(&dep.text, '\0');
      VEC_PUSH(dep.offs, dep.n, dep.cap, o);
    }
  }
  for (unsigned i = 0; i < NOFFSITE; i++) {
    if (!offsite_hit[i]) continue;
    size_t o = off.text.n;
    put_offsite(&off.text, i, true);
    buf_putc(&off.text, '\0');
    VEC_PUSH(off.offs, off.n, off.cap, o);
    c.off++;
  }
  lines_write(&ok, "expected.txt");
  lines_write(&nf, "expected-404.txt");
  lines_write(&dis, "disallowed.txt");
  lines_write(&dep, "depth.txt");
  lines_write(&off, "offsite.txt");
  lines_free(&ok);
  lines_free(&nf);
  lines_free(&dis);
  lines_free(&dep);
  lines_free(&off);
  return c;
}

static void write_nginx_conf(void) {
  buf b = {0};
  const char *d = absdir;
  buf_printf(&b,
             "# nginx.conf for the spindle-sitegen site in %s:\n"
             "# hosts h0.%s .. h%u.%s on 127.0.0.1:%u.  Run (in the foreground; stop it by PID):\n"
             "#   nginx -p %s -c %s/nginx.conf -e %s/error.log\n"
             "daemon off;\n"
             "master_process off;\n"
             "worker_processes 1;\n"
             "user root root;\n"
             "worker_rlimit_nofile 65536;\n"
             "pid \"%s/nginx.pid\";\n"
             "error_log \"%s/error.log\" warn;\n"
             "events {\n"
             "    worker_connections 16384;\n"
             "    multi_accept on;\n"
             "}\n"
             "http {\n"
             "    types {\n"
             "        text/html html htm;\n"
             "        text/plain txt;\n"
             "        application/pdf pdf;\n"
             "        image/png png;\n"
             "    }\n"
             "    default_type application/octet-stream;\n"
             "    charset utf-8;\n"
             "    log_format sitegen '$remote_addr [$time_local] $host \"$request\" $status $body_bytes_sent';\n"
             "    access_log \"%s/access.log\" sitegen buffer=64k flush=1s;\n"
             "    log_not_found off; # the 404s are deliberate\n"
             "    client_body_temp_path \"%s/tmp/client_body\";\n"
             "    proxy_temp_path \"%s/tmp/proxy\";\n"
             "    fastcgi_temp_path \"%s/tmp/fastcgi\";\n"
             "    uwsgi_temp_path \"%s/tmp/uwsgi\";\n"
             "    scgi_temp_path \"%s/tmp/scgi\";\n"
             "    sendfile on;\n"
             "    tcp_nopush on;\n"
             "    keepalive_timeout 75s;\n"
             "    keepalive_requests 100000;\n"
             "    gzip on;\n"
             "    gzip_types text/plain; # text/html: always\n"
             "    gzip_min_length 256;\n"
             "    open_file_cache max=1000 inactive=20s; # few fds: worker_rlimit_nofile needs a master\n"
             "    server_tokens off;\n"
             "    # a Host that is none of the site's: 421\n"
             "    server {\n"
             "        listen 127.0.0.1:%u default_server backlog=4096;\n"
             "        server_name _;\n"
             "        return 421;\n"
             "    }\n",
             d, opt_domain, opt_hosts - 1, opt_domain, opt_port, d, d, d, d, d, d, d, d, d, d, d, opt_port);
  for (uint32_t hi = 0; hi < opt_hosts; hi++)
    buf_printf(&b,
               "    server {\n"
               "        listen 127.0.0.1:%u;\n"
               "        server_name %s;\n"
               "        root \"%s/www/%s\";\n"
               "        index index.html;\n"
               "    }\n",
               opt_port, hosts[hi].name, d, hosts[hi].name);
  buf_puts(&b, "}\n");
  write_out("nginx.conf", &b);
  b.n = 0;
  for (uint32_t hi = 0; hi < opt_hosts; hi++) buf_printf(&b, "--host-record=%s,127.0.0.1\n", hosts[hi].name);
  buf_puts(&b, "--local-ttl=300\n");
  write_out("dnsmasq.args", &b);
  free(b.p);
}

static void put_params(buf *b) {
  buf_printf(b, MARKER_LINE " --hosts %u --pages %u --seed %" PRIu64 " --domain %s --agent %s --port %u\n", opt_hosts,
             opt_pages, opt_seed, opt_domain, opt_agent, opt_port);
}

/* ------------------------------------------------------------------ */
/* the output directory */

static void mkdir_p(const char *dir) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) die_usage("--out: path too long");
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    make_dir(tmp);
    *p = '/';
  }
  make_dir(tmp);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
  if (rc != 0) die_io("cannot remove", path);
  return 0;
}

/* DIR must be new, empty, or an earlier output of this program (its www/ is
 * then removed, so that no stale page answers 200). */
static bool nginx_unsafe(const char *p) {
  for (; *p; p++)
    if (*p == '"' || *p == '\\' || *p == '$' || *p == '{' || *p == '}' || *p == ';' || (unsigned char)*p < 0x20)
      return true;
  return false;
}

static void prepare_out(void) {
  static const char unsafe_msg[] =
      "the path may not contain '\"', '\\', '$', '{', '}', ';' or control characters (it goes into nginx.conf)";
  if (nginx_unsafe(opt_out)) die_usage("--out: %s: %s", opt_out, unsafe_msg);
  mkdir_p(opt_out);
  if (realpath(opt_out, absdir) == NULL) die_io("cannot resolve", opt_out);
  if (nginx_unsafe(absdir)) die_usage("--out: %s: %s", absdir, unsafe_msg);
  if (strlen(absdir) > PATH_MAX - 512) die_usage("--out: %s: path too long", absdir);
  DIR *dp = opendir(absdir);
  if (dp == NULL) die_io("cannot open directory", absdir);
  bool empty = true;
  struct dirent *e;
  while ((e = readdir(dp)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
  closedir(dp);
  char path[PATH_MAX];
  if (!empty) {
    fmt_path(path, "%s/%s", absdir, MARKER);
    FILE *f = fopen(path, "re");
    char line[64] = "";
    if (f) {
      if (!fgets(line, sizeof line, f)) line[0] = '\0';
      fclose(f);
    }
    if (strncmp(line, MARKER_LINE, strlen(MARKER_LINE)) != 0)
      die_usage("--out: %s is not empty and holds no %s from an earlier run: give a new or empty directory", absdir,
                MARKER);
    fmt_path(path, "%s/www", absdir);
    struct stat st;
    if (lstat(path, &st) == 0 && nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) die_io("cannot remove", path);
  }
  /* the marker first: a run that fails half-way may be run again */
  buf b = {0};
  put_params(&b);
  write_out(MARKER, &b);
  free(b.p);
}

/* ------------------------------------------------------------------ */
/* arguments */

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " --out DIR [--hosts N] [--pages P] [--seed S] [--domain D]\n"
          "                       [--agent UA] [--port PORT]\n"
          "\n"
          "Writes a deterministic web site for crawler demos and benchmarks: P HTML pages\n"
          "in all over the hosts h0.D .. h{N-1}.D (DIR/www/HOST/), a robots.txt per host,\n"
          "DIR/nginx.conf (127.0.0.1:PORT), DIR/dnsmasq.args, and what a crawl from\n"
          "http://h0.D:PORT/ limited to D must find: DIR/expected.txt (200),\n"
          "DIR/expected-404.txt, DIR/disallowed.txt, DIR/offsite.txt, DIR/depth.txt.\n"
          "\n"
          "  --out DIR      output directory: new, empty, or an earlier output (its www/ is\n"
          "                 replaced)\n"
          "  --hosts N      number of hosts, 1..%d (default 4)\n"
          "  --pages P      HTML pages in all, %d per host at least, at most %u (default 2000)\n"
          "  --seed S       seed of the pseudo-random choices (default 1)\n"
          "  --domain D     domain of the hosts (default demo.test)\n"
          "  --agent UA     the crawler's robots.txt product token (default spindle)\n"
          "  --port PORT    port nginx listens on, on 127.0.0.1 (default 8080)\n"
          "\n"
          "Exit status: 0 done, 1 I/O error, 2 bad arguments.\n",
          MAX_HOSTS, MIN_PAGES_PER_HOST, MAX_PAGES);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi) {
  if (*s == '\0' || *s == '-' || *s == '+' || isspace((unsigned char)*s)) die_usage("%s: '%s' is not a number", opt, s);
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 0);
  if (*end != '\0') die_usage("%s: '%s' is not a number", opt, s);
  if (errno == ERANGE || v < lo || v > hi)
    die_usage("%s: %s is out of range (%" PRIu64 "..%" PRIu64 ")", opt, s, lo, hi);
  return v;
}

static void parse_domain(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 200) die_usage("--domain: '%s': want 1..200 characters", s);
  size_t label = 0;
  for (size_t i = 0; i <= n; i++) {
    char c = s[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || label > 63 || s[i - 1] == '-') die_usage("--domain: '%s' is not a valid domain name", s);
      label = 0;
      opt_domain[i] = c;
      continue;
    }
    if (!(isalnum((unsigned char)c) || (c == '-' && label > 0))) die_usage("--domain: '%s' is not a valid domain name", s);
    label++;
    opt_domain[i] = (char)tolower((unsigned char)c);
  }
  opt_domain[n] = '\0';
}

static void parse_args(int argc, char **argv) {
  bool seen_pages = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    static const char *const opts[] = {"--out", "--hosts", "--pages", "--seed", "--domain", "--agent", "--port"};
    const char *val = NULL;
    int which = -1;
    for (int k = 0; k < 7; k++) {
      size_t n = strlen(opts[k]);
      if (!strcmp(a, opts[k])) {
        if (i + 1 >= argc) die_usage("%s needs a value", opts[k]);
        val = argv[++i];
      } else if (!strncmp(a, opts[k], n) && a[n] == '=') {
        val = a + n + 1;
      } else {
        continue;
      }
      which = k;
      break;
    }
    if (which < 0) die_usage("unknown argument '%s'", a);
    switch (which) {
    case 0:
      if (!*val) die_usage("--out: empty path");
      opt_out = val;
      break;
    case 1: opt_hosts = (uint32_t)parse_num("--hosts", val, 1, MAX_HOSTS); break;
    case 2:
      opt_pages = (uint32_t)parse_num("--pages", val, 1, MAX_PAGES);
      seen_pages = true;
      break;
    case 3: opt_seed = parse_num("--seed", val, 0, UINT64_MAX); break;
    case 4: parse_domain(val); break;
    case 5: {
      size_t n = strlen(val);
      if (n == 0 || n >= sizeof opt_agent) die_usage("--agent: want 1..%zu characters", sizeof opt_agent - 1);
      for (size_t k = 0; k < n; k++)
        if (!isalnum((unsigned char)val[k]) && val[k] != '-' && val[k] != '_')
          die_usage("--agent: '%s': a robots.txt product token is letters, digits, '-' and '_'", val);
      memcpy(opt_agent, val, n + 1);
      break;
    }
    default: opt_port = (uint32_t)parse_num("--port", val, 1, 65535); break;
    }
  }
  if (opt_out == NULL) die_usage("--out DIR is required");
  if (opt_pages < opt_hosts * MIN_PAGES_PER_HOST)
    die_usage("--pages %u is too few for %u hosts: give %u at least (%d per host)%s", opt_pages, opt_hosts,
              opt_hosts * MIN_PAGES_PER_HOST, MIN_PAGES_PER_HOST, seen_pages ? "" : " (or fewer --hosts)");
  if (opt_port == 80) portstr[0] = '\0';
  else snprintf(portstr, sizeof portstr, ":%u", opt_port);
}

int main(int argc, char **argv) {
  signal(SIGXFSZ, SIG_IGN); /* a file size limit: EFBIG, an I/O error like any other */
  parse_args(argc, argv);
  prepare_out();
  build();
  bfs();
  write_site();
  counts c = write_lists();
  write_nginx_conf();

  size_t nonhtml = 0;
  for (uint32_t hi = 0; hi < opt_hosts; hi++) nonhtml += hosts[hi].nnonhtml;
  buf b = {0};
  put_params(&b);
  buf_printf(&b,
             "seed-url http://h0.%s%s/\n"
             "hosts %u\nhtml-pages %u\nother-files %zu\n"
             "expected %zu\nexpected-query %zu\nexpected-nonhtml %zu\nexpected-404 %zu\ndisallowed %zu\n"
             "offsite %zu\nmax-depth %d\n",
             opt_domain, portstr, opt_hosts, opt_pages, nonhtml, c.ok, c.ok_query, c.ok_nonhtml, c.nf, c.dis, c.off,
             max_depth);
  write_out(MARKER, &b);
  free(b.p);
  printf(PROG ": %s: %u hosts, %u HTML pages, %zu other files; from http://h0.%s%s/ a crawl fetches %zu URLs "
         "(%zu with a query, %zu not HTML), gets 404 for %zu, may not fetch %zu (robots.txt); depth %d at most\n",
         absdir, opt_hosts, opt_pages, nonhtml, opt_domain, portstr, c.ok, c.ok_query, c.ok_nonhtml, c.nf, c.dis,
         max_depth);
  return 0;
}
