/*
 * fuzz_state.c - the state loader on damaged files (crawler/src/state.c).
 *
 * A state database is made once, as a crawl leaves it (URLs queued, some
 * done with their lines, the meta values); each input damages a copy of it
 * (bytes overwritten at chosen offsets, the file cut short or grown), and
 * the loader runs over it as a resume would: open (with its quick_check),
 * count, load the queue, read the lines and the meta values, page URLs back
 * in, record one more page.  Whatever the damage, every call must either
 * work or fail with -1 and a message - no crash, no undefined behaviour,
 * no leak - and a state that opened and loaded must hand back only rows it
 * holds (no more URLs than were queued, seq increasing).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

#define FAIL(...)                                 \
  do {                                            \
    fprintf(stderr, "fuzz_state: " __VA_ARGS__);  \
    fputc('\n', stderr);                          \
    abort();                                      \
  } while (0)

#define URLS 120

static char dir[256], db[300];
static unsigned char *tmpl;
static size_t tmpl_len;

static void remove_files(void) {
  char p[320];
  unlink(db);
  snprintf(p, sizeof p, "%s-wal", db);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", db);
  unlink(p);
}

/* The state a crawl leaves: URLs over three hosts, a third done. */
static void make_template(void) {
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/fuzz_state.%d", base, (int)getpid());
  snprintf(db, sizeof db, "%s/state.sqlite", dir);
  mkdir(dir, 0755);
  remove_files();
  crawl_state *s = crawl_state_open(dir);
  if (!s) FAIL("cannot make the template state in %s", dir);
  crawl_state_begin(s);
  crawl_state_set_meta(s, "options", "{\"seeds\":[\"http://a.test/\"],\"max_depth\":-1}");
  crawl_state_set_meta(s, "warc_end", "12345");
  for (int i = 0; i < URLS; i++) {
    char key[128], url[128], host[64], line[256];
    snprintf(host, sizeof host, "http://h%d.test:80", i % 3);
    snprintf(key, sizeof key, "%s/page-%d.html", host, i);
    snprintf(url, sizeof url, "http://H%d.test/page-%d.html", i % 3, i);
    if (crawl_state_queue(s, key, url, i ? "http://a.test/" : NULL, i / 10, i % 2, host) <= 0) FAIL("queue %d", i);
    if (i % 3 == 0) {
      snprintf(line, sizeof line, "{\"url\":\"%s\",\"status\":200,\"bytes\":%d}", url, i * 100);
      if (crawl_state_done(s, url, line) != 0) FAIL("done %d", i);
    }
  }
  if (crawl_state_commit(s) != 0) FAIL("commit: %s", crawl_state_error(s));
  crawl_state_close(s);
  FILE *f = fopen(db, "rb");
  if (!f) FAIL("no %s", db);
  char *buf = NULL;
  FILE *m = open_memstream(&buf, &tmpl_len);
  char chunk[65536];
  size_t k;
  while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, k, m);
  fclose(f);
  fclose(m);
  tmpl = (unsigned char *)buf;
  if (tmpl_len < 4096 * 3) FAIL("template of %zu bytes", tmpl_len);
}

typedef struct loaded {
  long seen, items;
  int64_t last_seq;
  bool order_broken;
} loaded;

static void on_seen(void *arg, const char *key) {
  loaded *l = arg;
  if (!key) FAIL("a NULL key");
  l->seen++;
}

static void on_item(void *arg, const char *url, const char *referrer, int depth, int redirects, const char *host,
                    int64_t seq) {
  (void)referrer, (void)depth, (void)redirects, (void)host;
  loaded *l = arg;
  if (!url) FAIL("a NULL url");
  if (seq <= l->last_seq) l->order_broken = true;
  l->last_seq = seq;
  l->items++;
}

static void on_line(void *arg, const char *url, const char *line) {
  if (!url || !line) FAIL("a NULL url or line");
  (*(long *)arg)++;
}

/* Damage from the input: (offset, length, byte) triples overwrite, then
 * maybe a cut or an extension. */
static size_t damage(unsigned char *file, size_t len, const uint8_t *data, size_t size) {
  size_t i = 0;
  while (i + 6 <= size) {
    size_t off = ((size_t)data[i] << 16 | (size_t)data[i + 1] << 8 | data[i + 2]) % len;
    size_t n = data[i + 3] % 64 + 1;
    if (data[i + 4] == 0xff) { /* a cut */
      return off;
    }
    for (size_t k = 0; k < n && off + k < len; k++) file[off + k] = data[i + 5] ^ (unsigned char)(k * 31);
    i += 6;
  }
  return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!tmpl) make_template();
  unsigned char *file = malloc(tmpl_len);
  memcpy(file, tmpl, tmpl_len);
  size_t len = damage(file, tmpl_len, data, size);
  remove_files();
  FILE *f = fopen(db, "wb");
  if (!f || fwrite(file, 1, len, f) != len || fclose(f) != 0) FAIL("cannot write %s", db);
  free(file);

  crawl_state *s = crawl_state_open(dir);
  if (!s) return 0; /* refused, with a message: what a damaged state should get */
  int fresh = crawl_state_is_new(s);
  long done = crawl_state_pages_done(s);
  if (fresh < -1 || fresh > 1 || done < -1 || done > URLS) FAIL("is_new %d, pages_done %ld", fresh, done);
  loaded l = {0};
  int rc = crawl_state_load(s, on_seen, on_item, &l);
  if (rc != 0 && rc != -1) FAIL("load returned %d", rc);
  if (rc == 0 && (l.seen > URLS || l.items > l.seen || l.order_broken))
    FAIL("load handed back %ld keys, %ld queued, order %s", l.seen, l.items, l.order_broken ? "broken" : "kept");
  if (rc != 0 && !crawl_state_error(s)[0]) FAIL("a failed load without a reason");
  long lines = 0;
  rc = crawl_state_each_line(s, on_line, &lines);
  if ((rc != 0 && rc != -1) || lines > URLS) FAIL("each_line %d, %ld lines", rc, lines);
  char *v = NULL;
  rc = crawl_state_get_meta(s, "options", &v);
  if (rc < -1 || rc > 1 || (rc == 1) != (v != NULL)) FAIL("get_meta %d", rc);
  free(v);
  loaded p = {0};
  long n = crawl_state_pending(s, "http://h1.test:80", 0, 50, on_item, &p);
  if (n < -1 || n > 50 || (n >= 0 && n != p.items)) FAIL("pending %ld, %ld items", n, p.items);
  crawl_state_begin(s);
  crawl_state_queue(s, "http://new.test/", "http://new.test/", NULL, 0, 0, "http://new.test:80");
  crawl_state_done(s, "http://H1.test/page-1.html", "{\"url\":\"x\"}");
  crawl_state_set_meta(s, "warc_end", "99");
  rc = crawl_state_commit(s);
  if (rc != 0 && rc != -1) FAIL("commit returned %d", rc);
  crawl_state_close(s);
  return 0;
}
