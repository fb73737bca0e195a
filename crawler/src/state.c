/* state.c - a crawl's state in SQLite (see state.h). */
#include "state.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct crawl_state {
  sqlite3 *db;
  sqlite3_stmt *queue, *done, *pending, *set_meta;
  char path[4096];
  char error[512];  /* the last failure, for crawl_state_error */
  bool spill;       /* crawl_state_open_spill's: one transaction open for its whole life */
  int depth;        /* begin nesting: only the outermost begins and commits */
  /* A statement of the open transaction failed: nothing more of it runs
   * and commit rolls back.  Once set, no statement runs until the
   * outermost commit: after SQLITE_FULL or SQLITE_IOERR, SQLite may have
   * rolled the transaction back already and be in autocommit mode, where
   * each later statement would commit alone - half a page recorded. */
  bool txn_failed;
  int lock_fd;      /* DIR/lock, flock()ed while open: one crawl per state; -1 for spill */
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
    "CREATE INDEX IF NOT EXISTS urls_by_url ON urls(url);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);";

/* After the host column exists (state made by an older spindle-crawl gets
 * it, NULL in its rows, which are then never paged out). */
static const char *const pending_index =
    "CREATE INDEX IF NOT EXISTS urls_pending ON urls(host, seq) WHERE done = 0;";

/* Records SQLite's current error as the state's; returns -1. */
static int fail(crawl_state *s, const char *what) {
  if (s->depth > 0 && s->txn_failed) return -1; /* the first failure says why */
  snprintf(s->error, sizeof s->error, "%s%s%s", what ? what : "", what ? ": " : "",
           s->db ? sqlite3_errmsg(s->db) : "out of memory");
  if (s->depth > 0) s->txn_failed = true;
  return -1;
}

/* Whether a statement of an open transaction may run: none does after one
 * failed (see txn_failed). */
static bool txn_usable(crawl_state *s) { return s->depth == 0 || !s->txn_failed; }

static bool exec(crawl_state *s, const char *sql) {
  if (!txn_usable(s)) return false;
  char *err = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &err) == SQLITE_OK) return true;
  snprintf(s->error, sizeof s->error, "%s", err ? err : sqlite3_errmsg(s->db));
  sqlite3_free(err);
  if (s->depth > 0) s->txn_failed = true;
  return false;
}

const char *crawl_state_path(const crawl_state *s) { return s->path; }
const char *crawl_state_error(const crawl_state *s) { return s->error; }

static bool add_host_column(crawl_state *s) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT host FROM urls LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_finalize(st);
    return true;
  }
  return exec(s, "ALTER TABLE urls ADD COLUMN host TEXT");
}

static bool prepare(crawl_state *s, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK) return true;
  fail(s, NULL);
  return false;
}

/* Prepares s's statements over an open database with the schema. */
static bool prepare_all(crawl_state *s) {
  return prepare(s, "INSERT OR IGNORE INTO urls(key, url, referrer, depth, redirects, host) VALUES (?,?,?,?,?,?)",
                 &s->queue) &&
         prepare(s,
                 "SELECT url, referrer, depth, redirects, seq FROM urls"
                 " WHERE host = ? AND done = 0 AND seq > ? ORDER BY seq LIMIT ?",
                 &s->pending) &&
         prepare(s, "UPDATE urls SET done = 1, line = ? WHERE url = ? AND done = 0", &s->done) &&
         prepare(s, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", &s->set_meta);
}

/* PRAGMA quick_check: SQLite reads every page and checks the b-trees (not
 * the indexes against their tables, which integrity_check adds at several
 * times the cost).  A damaged file must be refused before the crawl trusts
 * it, or it would take unreadable rows for a new crawl and start over. */
static bool check_intact(crawl_state *s) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK) return fail(s, NULL), false;
  int rc = sqlite3_step(st);
  bool ok = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
  if (rc == SQLITE_ROW && !ok)
    snprintf(s->error, sizeof s->error, "%s", (const char *)sqlite3_column_text(st, 0));
  else if (rc != SQLITE_ROW)
    fail(s, NULL);
  sqlite3_finalize(st);
  return ok;
}

/* The columns of urls as spindle-crawl makes them (host added later, so
 * optional): a damaged schema that SQLite still parses, a seq that is no
 * longer the INTEGER PRIMARY KEY say, passes quick_check and would hand
 * back rows out of order.  true if the table is absent (a new state) or
 * matches. */
static bool schema_ok(crawl_state *s) {
  static const struct {
    const char *name, *type;
    int pk;
  } want[] = {{"seq", "INTEGER", 1}, {"key", "TEXT", 0},       {"url", "TEXT", 0},
              {"referrer", "TEXT", 0}, {"depth", "INTEGER", 0}, {"redirects", "INTEGER", 0},
              {"done", "INTEGER", 0},  {"line", "TEXT", 0},     {"host", "TEXT", 0}};
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "PRAGMA table_info(urls)", -1, &st, NULL) != SQLITE_OK) return fail(s, NULL), false;
  size_t n = 0;
  bool ok = true;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && ok) {
    const char *name = (const char *)sqlite3_column_text(st, 1), *type = (const char *)sqlite3_column_text(st, 2);
    ok = n < sizeof want / sizeof *want && name && type && strcmp(name, want[n].name) == 0 &&
         strcmp(type, want[n].type) == 0 && sqlite3_column_int(st, 5) == want[n].pk;
    n++;
  }
  if (ok && rc != SQLITE_DONE) ok = fail(s, NULL) == 0;
  sqlite3_finalize(st);
  if (ok && n != 0 && n < 8) ok = false; /* too few columns */
  if (!ok && !s->error[0]) snprintf(s->error, sizeof s->error, "its table urls is not the one spindle-crawl makes");
  return ok;
}

crawl_state *crawl_state_open_spill(void) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  crawl_state *s = calloc(1, sizeof *s);
  if (!s) {
    fprintf(stderr, "spindle-crawl: cannot set up the frontier file: out of memory\n");
    return NULL;
  }
  s->lock_fd = -1;
  snprintf(s->path, sizeof s->path, "%s/spindle-crawl-frontier-XXXXXX", tmp);
  int fd = mkstemp(s->path);
  if (fd < 0) {
    fprintf(stderr, "spindle-crawl: cannot create a file for the frontier in %s: %s\n", tmp, strerror(errno));
    free(s);
    return NULL;
  }
  close(fd);
  bool ok = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) == SQLITE_OK &&
            /* no journal: nothing here outlives the process */
            exec(s, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") && exec(s, schema) &&
            exec(s, pending_index) && prepare_all(s) &&
            /* One transaction for the file's whole life: its pages are
             * written when SQLite's cache fills, not at every insert. */
            exec(s, "BEGIN");
  s->spill = ok;
  /* The open database keeps the file; its name goes now, so that no exit
   * path leaves it behind. */
  unlink(s->path);
  if (!ok) {
    fprintf(stderr, "spindle-crawl: cannot set up the frontier file %s: %s\n", s->path,
            s->error[0] ? s->error : s->db ? sqlite3_errmsg(s->db) : "out of memory");
    crawl_state_close(s);
    return NULL;
  }
  return s;
}

/* Two crawls resuming one state at once would fetch the same URLs and
 * interleave their outputs: the second is refused. */
static int lock_dir(crawl_state *s, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/lock", dir);
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->lock_fd < 0) {
    fprintf(stderr, "spindle-crawl: cannot create %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) return 0;
  if (errno == EWOULDBLOCK)
    fprintf(stderr, "spindle-crawl: another spindle-crawl is using the state in %s\n", dir);
  else
    fprintf(stderr, "spindle-crawl: cannot lock %s: %s\n", path, strerror(errno));
  return -1;
}

crawl_state *crawl_state_open(const char *dir) {
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    fprintf(stderr, "spindle-crawl: cannot create state directory %s: %s\n", dir, strerror(errno));
    return NULL;
  }
  crawl_state *s = calloc(1, sizeof *s);
  if (!s) {
    fprintf(stderr, "spindle-crawl: cannot open the state in %s: out of memory\n", dir);
    return NULL;
  }
  s->lock_fd = -1;
  if (lock_dir(s, dir) < 0) {
    crawl_state_close(s);
    return NULL;
  }
  snprintf(s->path, sizeof s->path, "%s/state.sqlite", dir);
  if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
      SQLITE_OK) {
    fail(s, NULL);
  } else {
    sqlite3_busy_timeout(s->db, 5000);
    if (!check_intact(s) || !schema_ok(s)) {
      fprintf(stderr,
              "spindle-crawl: the state database %s is damaged (SQLite: %s); refusing to resume from it, and no "
              "output file was touched.  Move it away to start the crawl anew.\n",
              s->path, s->error);
      crawl_state_close(s);
      return NULL;
    }
    if (exec(s, durable) && exec(s, schema) && add_host_column(s) && exec(s, pending_index) && prepare_all(s))
      return s;
  }
  fprintf(stderr, "spindle-crawl: cannot open the state database %s: %s\n", s->path, s->error);
  crawl_state_close(s);
  return NULL;
}

void crawl_state_close(crawl_state *s) {
  if (!s) return;
  if (s->spill) exec(s, "COMMIT");
  sqlite3_finalize(s->queue);
  sqlite3_finalize(s->done);
  sqlite3_finalize(s->pending);
  sqlite3_finalize(s->set_meta);
  sqlite3_close(s->db);
  if (s->lock_fd >= 0) close(s->lock_fd);
  free(s);
}

static long count(crawl_state *s, const char *sql) {
  sqlite3_stmt *st;
  long n = -1;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, NULL);
  if (sqlite3_step(st) == SQLITE_ROW)
    n = (long)sqlite3_column_int64(st, 0);
  else
    fail(s, NULL);
  sqlite3_finalize(st);
  return n;
}

int crawl_state_is_new(crawl_state *s) {
  long n = count(s, "SELECT COUNT(*) FROM urls");
  return n < 0 ? -1 : n == 0;
}

long crawl_state_pages_done(crawl_state *s) {
  return count(s, "SELECT COUNT(*) FROM urls WHERE done = 1 AND line IS NOT NULL");
}

int crawl_state_load(crawl_state *s, void (*seen)(void *, const char *), crawl_state_item_fn item, void *arg) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT key, url, referrer, depth, redirects, done, host, seq FROM urls ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    return fail(s, "reading the queue");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(st, 0);
    const char *url = (const char *)sqlite3_column_text(st, 1);
    if (!key || !url) continue; /* NOT NULL columns: only a damaged row lacks them */
    seen(arg, key);
    if (!sqlite3_column_int(st, 5))
      item(arg, url, (const char *)sqlite3_column_text(st, 2), sqlite3_column_int(st, 3),
           sqlite3_column_int(st, 4), (const char *)sqlite3_column_text(st, 6), sqlite3_column_int64(st, 7));
  }
  if (rc != SQLITE_DONE) fail(s, "reading the queue");
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

long crawl_state_pending(crawl_state *s, const char *host, int64_t after, long limit, crawl_state_item_fn item,
                         void *arg) {
  sqlite3_bind_text(s->pending, 1, host, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s->pending, 2, after);
  sqlite3_bind_int64(s->pending, 3, limit);
  long n = 0;
  int rc;
  while ((rc = sqlite3_step(s->pending)) == SQLITE_ROW) {
    const char *url = (const char *)sqlite3_column_text(s->pending, 0);
    if (!url) continue;
    item(arg, url, (const char *)sqlite3_column_text(s->pending, 1), sqlite3_column_int(s->pending, 2),
         sqlite3_column_int(s->pending, 3), host, sqlite3_column_int64(s->pending, 4));
    n++;
  }
  if (rc != SQLITE_DONE) fail(s, "reading queued URLs back");
  sqlite3_reset(s->pending);
  sqlite3_clear_bindings(s->pending);
  return rc == SQLITE_DONE ? n : -1;
}

int crawl_state_each_line(crawl_state *s, void (*line)(void *, const char *, const char *), void *arg) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT url, line FROM urls WHERE done = 1 AND line IS NOT NULL ORDER BY seq", -1,
                         &st, NULL) != SQLITE_OK)
    return fail(s, "reading the output lines");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *u = (const char *)sqlite3_column_text(st, 0), *l = (const char *)sqlite3_column_text(st, 1);
    if (u && l) line(arg, u, l);
  }
  if (rc != SQLITE_DONE) fail(s, "reading the output lines");
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

void crawl_state_begin(crawl_state *s) {
  if (s->depth++ > 0) return;
  s->txn_failed = false;
  exec(s, "BEGIN"); /* a failed BEGIN fails the transaction: nothing of it runs */
}

bool crawl_state_in_transaction(crawl_state *s) { return !sqlite3_get_autocommit(s->db); }

void crawl_state_fail(crawl_state *s, const char *why) {
  if (s->depth == 0) return;
  if (!s->txn_failed) snprintf(s->error, sizeof s->error, "%s", why);
  s->txn_failed = true;
}

int crawl_state_commit(crawl_state *s) {
  if (--s->depth > 0) return s->txn_failed ? -1 : 0;
  bool ok = !s->txn_failed && exec(s, "COMMIT");
  /* After a failed COMMIT (SQLITE_FULL, SQLITE_IOERR) SQLite may or may not
   * have rolled back already: whatever is left of the transaction goes, so
   * that the next one starts clean and nothing of this one is kept. */
  if (!ok && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  s->txn_failed = false;
  return ok ? 0 : -1;
}

/* Runs a bound statement that returns no rows; false (and the transaction
 * failed) if it did not complete. */
static bool step_done(crawl_state *s, sqlite3_stmt *st, const char *what) {
  if (!txn_usable(s)) {
    sqlite3_clear_bindings(st);
    return false;
  }
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  if (!ok) fail(s, what);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return ok;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

int64_t crawl_state_queue(crawl_state *s, const char *key, const char *url, const char *referrer, int depth,
                          int redirects, const char *host) {
  sqlite3_bind_text(s->queue, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->queue, 2, url, -1, SQLITE_STATIC);
  bind_text_or_null(s->queue, 3, referrer);
  sqlite3_bind_int(s->queue, 4, depth);
  sqlite3_bind_int(s->queue, 5, redirects);
  bind_text_or_null(s->queue, 6, host);
  if (!step_done(s, s->queue, "queueing a URL")) return -1;
  return sqlite3_changes(s->db) > 0 ? sqlite3_last_insert_rowid(s->db) : 0;
}

int crawl_state_done(crawl_state *s, const char *url, const char *line) {
  bind_text_or_null(s->done, 1, line);
  sqlite3_bind_text(s->done, 2, url, -1, SQLITE_STATIC);
  return step_done(s, s->done, "recording a page") ? 0 : -1;
}

int crawl_state_set_meta(crawl_state *s, const char *key, const char *value) {
  crawl_state_begin(s);
  sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->set_meta, 2, value, -1, SQLITE_STATIC);
  step_done(s, s->set_meta, "recording the crawl's settings");
  return crawl_state_commit(s);
}

int crawl_state_get_meta(crawl_state *s, const char *key, char **value) {
  *value = NULL;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
    return fail(s, "reading the crawl's settings");
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    r = v && (*value = strdup(v)) ? 1 : -1;
    if (r < 0) snprintf(s->error, sizeof s->error, "out of memory");
  } else if (rc != SQLITE_DONE) {
    r = fail(s, "reading the crawl's settings");
  }
  sqlite3_finalize(st);
  return r;
}
