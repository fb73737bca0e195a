/* state.c - a crawl's state in SQLite (see state.h). */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seen.h"
#include "url.h"

struct crawl_state {
  sqlite3 *db;
  sqlite3_stmt *queue, *done, *pending;
  bool spill; /* crawl_state_open_spill's: one transaction open for its whole life */
  int depth; /* begin nesting: only the outermost begins and commits */
};

static const char *const durable = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;";

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS urls("
    "  seq INTEGER PRIMARY KEY,"      /* queue order */
    "  key TEXT NOT NULL UNIQUE,"     /* normalised URL: the dedupe key */
    "  url TEXT NOT NULL,"            /* as found */
    "  referrer TEXT,"
    "  depth INTEGER NOT NULL,"
    "  redirects INTEGER NOT NULL,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  line TEXT,"                    /* the output line, once done */
    "  host TEXT);"                   /* scheme://host:port, for paging the frontier in */
    "CREATE INDEX IF NOT EXISTS urls_by_url ON urls(url);";

/* After the host column exists (state made by an older spindle-crawl gets
 * it, NULL in its rows, which are then never paged out). */
static const char *const pending_index =
    "CREATE INDEX IF NOT EXISTS urls_pending ON urls(host, seq) WHERE done = 0;";

static bool exec(crawl_state *s, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &err) == SQLITE_OK) return true;
  fprintf(stderr, "spindle-crawl: state database: %s\n", err ? err : sqlite3_errmsg(s->db));
  sqlite3_free(err);
  return false;
}

static bool add_host_column(crawl_state *s) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT host FROM urls LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_finalize(st);
    return true;
  }
  return exec(s, "ALTER TABLE urls ADD COLUMN host TEXT");
}

/* Prepares s's statements over an open database with the schema. */
static bool prepare_all(crawl_state *s) {
  return sqlite3_prepare_v2(s->db,
                            "INSERT OR IGNORE INTO urls(key, url, referrer, depth, redirects, host) VALUES (?,?,?,?,?,?)",
                            -1, &s->queue, NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(s->db,
                            "SELECT url, referrer, depth, redirects, seq FROM urls"
                            " WHERE host = ? AND done = 0 AND seq > ? ORDER BY seq LIMIT ?",
                            -1, &s->pending, NULL) == SQLITE_OK &&
         sqlite3_prepare_v2(s->db, "UPDATE urls SET done = 1, line = ? WHERE url = ? AND done = 0", -1, &s->done,
                            NULL) == SQLITE_OK;
}

crawl_state *crawl_state_open_spill(void) {
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/spindle-crawl-frontier-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    fprintf(stderr, "spindle-crawl: cannot create a file for the frontier in %s: %s\n", tmp && *tmp ? tmp : "/tmp",
            strerror(errno));
    return NULL;
  }
  close(fd);
  crawl_state *s = calloc(1, sizeof *s);
  bool ok = s && sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) == SQLITE_OK &&
            /* no journal: nothing here outlives the process */
            exec(s, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") && exec(s, schema) &&
            exec(s, pending_index) && prepare_all(s) &&
            /* One transaction for the file's whole life: its pages are
             * written when SQLite's cache fills, not at every insert. */
            exec(s, "BEGIN");
  if (s) s->spill = ok;
  /* The open database keeps the file; its name goes now, so that no exit
   * path leaves it behind. */
  unlink(path);
  if (!ok) {
    fprintf(stderr, "spindle-crawl: cannot set up the frontier file: %s\n",
            s && s->db ? sqlite3_errmsg(s->db) : "out of memory");
    crawl_state_close(s);
    return NULL;
  }
  return s;
}

crawl_state *crawl_state_open(const char *dir) {
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    fprintf(stderr, "spindle-crawl: cannot create state directory %s: %s\n", dir, strerror(errno));
    return NULL;
  }
  crawl_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/state.sqlite", dir);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
          SQLITE_OK ||
      !exec(s, durable) || !exec(s, schema) || !add_host_column(s) || !exec(s, pending_index) || !prepare_all(s)) {
    fprintf(stderr, "spindle-crawl: cannot open state database %s: %s\n", path,
            s->db ? sqlite3_errmsg(s->db) : "out of memory");
    crawl_state_close(s);
    return NULL;
  }
  sqlite3_busy_timeout(s->db, 5000);
  return s;
}

void crawl_state_close(crawl_state *s) {
  if (!s) return;
  if (s->spill) exec(s, "COMMIT");
  sqlite3_finalize(s->queue);
  sqlite3_finalize(s->done);
  sqlite3_finalize(s->pending);
  sqlite3_close(s->db);
  free(s);
}

static long count(crawl_state *s, const char *sql) {
  sqlite3_stmt *st;
  long n = -1;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  if (sqlite3_step(st) == SQLITE_ROW) n = (long)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

bool crawl_state_is_new(crawl_state *s) { return count(s, "SELECT COUNT(*) FROM urls") == 0; }

long crawl_state_pages_done(crawl_state *s) {
  return count(s, "SELECT COUNT(*) FROM urls WHERE done = 1 AND line IS NOT NULL");
}

void crawl_state_load(crawl_state *s, void (*seen)(void *, const char *), crawl_state_item_fn item, void *arg) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT key, url, referrer, depth, redirects, done, host, seq FROM urls ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    return;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(st, 0);
    seen(arg, key);
    if (!sqlite3_column_int(st, 5))
      item(arg, (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
           sqlite3_column_int(st, 3), sqlite3_column_int(st, 4), (const char *)sqlite3_column_text(st, 6),
           sqlite3_column_int64(st, 7));
  }
  sqlite3_finalize(st);
}

long crawl_state_pending(crawl_state *s, const char *host, int64_t after, long limit, crawl_state_item_fn item,
                         void *arg) {
  sqlite3_bind_text(s->pending, 1, host, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s->pending, 2, after);
  sqlite3_bind_int64(s->pending, 3, limit);
  long n = 0;
  int rc;
  while ((rc = sqlite3_step(s->pending)) == SQLITE_ROW) {
    item(arg, (const char *)sqlite3_column_text(s->pending, 0), (const char *)sqlite3_column_text(s->pending, 1),
         sqlite3_column_int(s->pending, 2), sqlite3_column_int(s->pending, 3), host,
         sqlite3_column_int64(s->pending, 4));
    n++;
  }
  sqlite3_reset(s->pending);
  sqlite3_clear_bindings(s->pending);
  return rc == SQLITE_DONE ? n : -1;
}

void crawl_state_begin(crawl_state *s) {
  if (s->depth++ == 0) exec(s, "BEGIN");
}

int crawl_state_commit(crawl_state *s) {
  if (--s->depth > 0) return 0;
  return exec(s, "COMMIT") ? 0 : -1;
}

int64_t crawl_state_queue(crawl_state *s, const char *key, const char *url, const char *referrer, int depth,
                          int redirects, const char *host) {
  sqlite3_bind_text(s->queue, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->queue, 2, url, -1, SQLITE_STATIC);
  if (referrer)
    sqlite3_bind_text(s->queue, 3, referrer, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s->queue, 3);
  sqlite3_bind_int(s->queue, 4, depth);
  sqlite3_bind_int(s->queue, 5, redirects);
  sqlite3_bind_text(s->queue, 6, host, -1, SQLITE_STATIC);
  bool added = sqlite3_step(s->queue) == SQLITE_DONE && sqlite3_changes(s->db) > 0;
  sqlite3_reset(s->queue);
  return added ? sqlite3_last_insert_rowid(s->db) : 0;
}

void crawl_state_done(crawl_state *s, const char *url, const char *line) {
  if (line)
    sqlite3_bind_text(s->done, 1, line, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s->done, 1);
  sqlite3_bind_text(s->done, 2, url, -1, SQLITE_STATIC);
  sqlite3_step(s->done);
  sqlite3_reset(s->done);
}

int crawl_state_repair_jsonl(const char *path) {
  int fd = open(path, O_RDWR);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  off_t end = lseek(fd, 0, SEEK_END), keep = end;
  char buf[4096];
  /* Back to just after the last newline. */
  while (keep > 0) {
    off_t from = keep > (off_t)sizeof buf ? keep - (off_t)sizeof buf : 0;
    ssize_t n = pread(fd, buf, (size_t)(keep - from), from);
    if (n <= 0) break;
    ssize_t i = n;
    while (i > 0 && buf[i - 1] != '\n') i--;
    if (i > 0) {
      keep = from + i;
      break;
    }
    keep = from;
  }
  int rc = keep < end ? ftruncate(fd, keep) : 0;
  close(fd);
  return rc;
}

/* The fingerprints of the "url" fields of every line of a JSON-lines file. */
static int read_output_urls(const char *path, crawl_seen *urls) {
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : -1;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_t *o = json_loads(line, 0, NULL);
    const char *u = o ? json_string_value(json_object_get(o, "url")) : NULL;
    if (u) crawl_seen_add(urls, crawl_fingerprint(u));
    json_decref(o);
  }
  free(line);
  fclose(f);
  return 0;
}

int crawl_state_reconcile(crawl_state *s, const char *path) {
  crawl_seen have = {0};
  if (read_output_urls(path, &have) < 0) return -1;
  FILE *f = fopen(path, "a");
  if (!f) {
    crawl_seen_free(&have);
    return -1;
  }
  sqlite3_stmt *st;
  int rc = 0;
  if (sqlite3_prepare_v2(s->db, "SELECT url, line FROM urls WHERE done = 1 AND line IS NOT NULL ORDER BY seq", -1,
                         &st, NULL) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *u = (const char *)sqlite3_column_text(st, 0);
      if (crawl_seen_has(&have, crawl_fingerprint(u))) continue;
      fprintf(f, "%s\n", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
  } else {
    rc = -1;
  }
  if (fclose(f) != 0) rc = -1;
  crawl_seen_free(&have);
  return rc;
}
