/* crawl_harness.h - running spindle-crawl and reading what it wrote, for
 * the crawler's end-to-end tests.  Plain C, no spindle. */
#ifndef SPINDLE_TESTS_CRAWL_HARNESS_H
#define SPINDLE_TESTS_CRAWL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A set of strings (sorted array). */
typedef struct strset {
  char **v;
  size_t n, cap;
} strset;

void strset_add(strset *s, const char *x);
void strset_sort(strset *s);
bool strset_has(const strset *s, const char *x); /* sorted */
void strset_free(strset *s);
/* Reads one string per line (sorted afterwards); -1 if unreadable. */
int strset_read_lines(strset *s, const char *path);
/* Prints up to max members of a not in b to stderr, returns how many. */
size_t strset_missing(const strset *a, const strset *b, const char *what, size_t max);

/* One output line of spindle-crawl. */
typedef struct crawl_line {
  char *url, *final_url, *referrer, *error;
  long status, depth, links, bytes;
  char *content_type, *redirect, *ip, *message; /* NULL when absent or null */
  long error_code, retries;                     /* 0 when absent */
  double fetch_ms;                              /* -1 when absent */
} crawl_line;

typedef struct crawl_out {
  crawl_line *v;
  size_t n;
  size_t bad;            /* lines that did not parse as JSON objects */
} crawl_out;

int crawl_out_read(crawl_out *o, const char *path);
void crawl_out_free(crawl_out *o);

/* Runs $SPINDLE_BIN_DIR/spindle-crawl with argv (NULL-terminated, without
 * the program name), stdout and stderr to files in dir; waits at most
 * timeout_s.  Returns the exit status, 128+signal if killed, -1 if it could
 * not run or timed out (then it is killed). */
int crawl_exec(const char *const *argv, const char *dir, double timeout_s);
/* Starts it without waiting: returns the pid. */
pid_t crawl_spawn(const char *const *argv, const char *dir);
/* Waits for pid at most timeout_s; exit status as crawl_exec.  Sets
 * crawl_last_maxrss_kb to the child's peak RSS. */
int crawl_wait(pid_t pid, double timeout_s);
extern long crawl_last_maxrss_kb;
/* Lines in a file now (0 if missing). */
long count_lines(const char *path);
/* The whole file, malloc'd and NUL-terminated, its size in *len (if not
 * NULL); NULL if it cannot be read. */
char *file_read(const char *path, size_t *len);

/* warcio (npm), the independent WARC reader of the tests: its install
 * directory ($SPINDLE_NPM_DIR, default /tmp/spindle-npm), and
 * warcio_ensure, which installs warcio@2 there unless it is (once per
 * machine, under a lock, as test processes may get there at once).
 * 0, or -1 with why (node or npm missing, npm failed: its output's tail)
 * in err.  A failed install is remembered for 10 minutes
 * ($SPINDLE_NPM_DIR/.spindle-warcio-failed), so that the tests of one run
 * fail at once with its reason instead of each waiting for npm. */
const char *warcio_npm_dir(void);
int warcio_ensure(char *err, size_t n);

/* What a WARC file holds, read member by member with zlib (independently
 * of the crawler's own reader): records by type, and the target URI of
 * every response record, repeats included (unsorted). */
typedef struct warc_census {
  size_t warcinfo, requests, responses, other;
  strset response_uris;
} warc_census;

/* 0, or -1 if the file cannot be read or a member is damaged or cut. */
int warc_census_read(warc_census *w, const char *path);
void warc_census_free(warc_census *w);

#endif
