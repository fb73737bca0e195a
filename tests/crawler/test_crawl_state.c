/* test_crawl_state.c - spindle-crawl --state when things go wrong: a full
 * disk, a damaged database, a resume with other options, outputs that
 * disagree with the state, kill -9 at random moments, a second crawl on
 * the same state, too few file descriptors.  Each run gets a directory of
 * its own (runs/N), with its stdout and stderr. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"
#include "crawler/crawl_harness.h"
#include "crawler/site_fixture.h"

#include <sched.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTS 4
#define PAGES 600

static demo_site S;
static void start_site(void) { demo_site_start(&S, HOSTS, PAGES); }
static void start_big_site(void) { demo_site_start(&S, HOSTS, 3000); }
static void stop_site(void) { fx_stop_all(); }

/* ------------------------------------------------------------- helpers */

typedef struct args {
  const char *v[48];
  int n;
} args;

static void add(args *a, const char *x) {
  cr_assert(a->n < 46, "too many arguments");
  a->v[a->n++] = x;
}

/* A crawl of the demo site with these files (NULL: not used), with its
 * summary or without (--quiet). */
static args site_args_summary(const char *out, const char *warc, const char *state, bool summary) {
  args a = {.n = 0};
  add(&a, "--allow-domain");
  add(&a, "demo.test");
  add(&a, "--dns-server");
  add(&a, S.dns_arg);
  if (!summary) add(&a, "--quiet");
  if (out) add(&a, "--output"), add(&a, out);
  if (warc) add(&a, "--warc"), add(&a, warc);
  if (state) add(&a, "--state"), add(&a, state);
  return a;
}

static args site_args(const char *out, const char *warc, const char *state) {
  return site_args_summary(out, warc, state, false);
}

/* a with the seed at its end: the array to pass to crawl_exec (a itself
 * is not extended, so it may be used again). */
static const char *const *with_seed(args *a, const char *seed) {
  a->v[a->n] = seed ? seed : S.seed;
  a->v[a->n + 1] = NULL;
  return a->v;
}

static int run_no;

/* A fresh directory for one run's stdout and stderr. */
static char *run_dir(char *buf, size_t n) {
  char runs[800];
  demo_path(&S, runs, sizeof runs, "runs");
  mkdir(runs, 0755);
  snprintf(buf, n, "%s/%d", runs, ++run_no);
  cr_assert_eq(mkdir(buf, 0755), 0, "mkdir %s", buf);
  return buf;
}

/* Runs a crawl; its exit status, and its stderr into err (n bytes). */
static int crawl(const char *const *argv, char *err, size_t n) {
  char dir[900], path[1000];
  run_dir(dir, sizeof dir);
  int rc = crawl_exec(argv, dir, 150);
  snprintf(path, sizeof path, "%s/crawl.stderr", dir);
  FILE *f = fopen(path, "r");
  size_t k = f ? fread(err, 1, n - 1, f) : 0;
  err[k] = '\0';
  if (f) fclose(f);
  return rc;
}

/* The whole file, malloc'd, and its size (NULL, 0 if missing). */
static char *slurp(const char *path, size_t *len) {
  *len = 0;
  return file_read(path, len);
}

/* Asserts that path holds exactly what it held when before was read. */
static void check_unchanged(const char *path, const char *before, size_t before_len) {
  size_t len;
  char *now = slurp(path, &len);
  cr_assert(now, "%s is gone", path);
  cr_assert(len == before_len && memcmp(now, before, len) == 0, "%s was changed: %zu bytes before, %zu now", path,
            before_len, len);
  free(now);
}

static long expected_lines(void) {
  char p[800];
  snprintf(p, sizeof p, "%s/expected.txt", S.dir);
  long n = count_lines(p);
  snprintf(p, sizeof p, "%s/expected-404.txt", S.dir);
  return n + count_lines(p);
}

/* ----------------------------------------------------------- full disk */

/* The state on a 2 MB tmpfs fills up: the crawl stops with exit 1 and a
 * message naming the state file and the cause.  With room again, the same
 * command finishes, and every page is in the output once and in the WARC
 * once.  (The tmpfs lives in a mount namespace of this test process's own,
 * which the crawls, its children, share.) */
static char mounted[4][800]; /* tmpfs mounts, unmounted before the fixture removes their directories */

static void stop_site_unmount(void) {
  for (int i = 0; i < 4; i++)
    if (mounted[i][0]) umount2(mounted[i], MNT_DETACH);
  fx_stop_all();
}

/* A tmpfs of size (e.g. "2m") on dir (made here), in a mount namespace of
 * this test process's own, which the crawls, its children, share. */
static void mount_tmpfs(const char *dir, const char *size) {
  cr_assert_eq(geteuid(), 0, "this test mounts a small tmpfs to fill it: it needs root (CI runs as root)");
  cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s", dir);
  static bool unshared;
  if (!unshared) {
    cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
    cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "mount --make-rprivate /: %s",
                 strerror(errno));
    unshared = true;
  }
  char opt[32];
  snprintf(opt, sizeof opt, "size=%s", size);
  cr_assert_eq(mount("tmpfs", dir, "tmpfs", 0, opt), 0, "mount a tmpfs of %s: %s", size, strerror(errno));
  for (int i = 0; i < 4; i++)
    if (!mounted[i][0]) {
      snprintf(mounted[i], sizeof mounted[i], "%s", dir);
      break;
    }
}

/* Makes the tmpfs on dir size (e.g. "64m"): room again. */
static void grow_tmpfs(const char *dir, const char *size) {
  char opt[32];
  snprintf(opt, sizeof opt, "size=%s", size);
  cr_assert_eq(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, opt), 0, "remount %s: %s", dir, strerror(errno));
}

Test(state, full_disk_stops_then_resumes_exactly, .init = start_site, .fini = stop_site_unmount, .timeout = 300) {
  char out[800], warc[800], state[800], err[16384];
  demo_path(&S, out, sizeof out, "full.jsonl");
  demo_path(&S, warc, sizeof warc, "full.warc.gz");
  demo_path(&S, state, sizeof state, "full-state");
  mount_tmpfs(state, "2m");

  args a = site_args(out, warc, state);
  const char *const *argv = with_seed(&a, NULL);
  int rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 1, "a crawl whose state filled the disk exited %d: %s", rc, err);
  cr_assert(strstr(err, "state.sqlite") && strstr(err, "database or disk is full"),
            "the message names neither the state file nor the cause: %s", err);
  long first = count_lines(out);
  cr_assert(first < expected_lines(), "the state did not fill up: %ld of %ld pages done", first, expected_lines());

  grow_tmpfs(state, "64m");
  rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 0, "the resumed crawl exited %d: %s", rc, err);
  demo_check_output(&S, out);
  demo_check_warc(warc, out);
}

/* The WARC on a 1 MB tmpfs fills up: the pages whose records could not be
 * written are not recorded in the state either (review: they were, and a
 * resume then wrote their lines from the state without their records). */
Test(state, full_warc_disk_page_not_recorded, .init = start_site, .fini = stop_site_unmount, .timeout = 300) {
  char out[800], warcdir[800], warc[900], state[800], err[16384];
  demo_path(&S, out, sizeof out, "wfull.jsonl");
  demo_path(&S, warcdir, sizeof warcdir, "wfull-warc");
  snprintf(warc, sizeof warc, "%s/w.warc.gz", warcdir);
  demo_path(&S, state, sizeof state, "wfull-state");
  mount_tmpfs(warcdir, "1m");
  args a = site_args(out, warc, state);
  const char *const *argv = with_seed(&a, NULL);
  int rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 1, "a crawl whose WARC filled the disk exited %d: %s", rc, err);
  cr_assert(strstr(err, "writing the WARC file") && strstr(err, "No space left on device"), "%s", err);
  grow_tmpfs(warcdir, "64m");
  rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 0, "the resumed crawl exited %d: %s", rc, err);
  demo_check_output(&S, out);
  demo_check_warc(warc, out);
}

/* A page with 40,000 links, its state on a 3 MB tmpfs: the transaction
 * fills the disk half way.  All of the page is recorded or none of it:
 * after a resume with room, the state holds the page done and every one of
 * its links (review: SQLite had rolled the transaction back on its own,
 * the later statements committed one by one, and the state held the page
 * done with 135 of its links). */
static long state_count(const char *db, const char *sql) {
  sqlite3 *h;
  cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "open %s", db);
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  long n = (long)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

Test(state, page_transaction_all_or_nothing, .init = start_site, .fini = stop_site_unmount, .timeout = 300) {
  enum { LINKS = 40000 };
  char hub[900], seed[256], out[800], state[800], db[900], err[16384];
  snprintf(hub, sizeof hub, "%s/www/h0.demo.test/hub.html", S.dir);
  FILE *f = fopen(hub, "w");
  cr_assert(f, "cannot write %s", hub);
  fputs("<html><body>", f);
  /* Long paths: the transaction outgrows SQLite's page cache and spills to
   * the WAL, so the disk fills in the middle of it, not at its commit. */
  char pad[201];
  memset(pad, 'a', 200);
  pad[200] = '\0';
  for (int i = 0; i < LINKS; i++) fprintf(f, "<a href=\"/hub/%s-%05d.html\">x</a>\n", pad, i);
  fputs("</body></html>\n", f);
  fclose(f);
  snprintf(seed, sizeof seed, "http://h0.demo.test:%d/hub.html", S.port);
  demo_path(&S, out, sizeof out, "hub.jsonl");
  demo_path(&S, state, sizeof state, "hub-state");
  snprintf(db, sizeof db, "%s/state.sqlite", state);
  mount_tmpfs(state, "3m");
  char warc[800];
  demo_path(&S, warc, sizeof warc, "hub.warc.gz");
  args a = site_args(out, warc, state);
  add(&a, "--max-pages");
  add(&a, "1");
  const char *const *argv = with_seed(&a, seed);
  int rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 1, "a page whose transaction filled the disk: exit %d: %s", rc, err);
  cr_assert(strstr(err, "database or disk is full"), "%s", err);
  /* Nothing of the page: only its own row, queued as the seed, not done;
   * the WARC's recorded end is where the file ends. */
  long rows = state_count(db, "SELECT COUNT(*) FROM urls");
  long done = state_count(db, "SELECT COUNT(*) FROM urls WHERE done = 1");
  long end = state_count(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'warc_end'");
  struct stat st;
  cr_assert_eq(stat(warc, &st), 0);
  cr_assert(rows == 1 && done == 0, "after the failed transaction the state holds %ld URLs, %ld done", rows, done);
  cr_assert_eq(end, (long)st.st_size, "the state says the WARC ends at %ld, it has %ld bytes", end, (long)st.st_size);
  grow_tmpfs(state, "64m");
  rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 0, "the resumed crawl exited %d: %s", rc, err);
  done = state_count(db, "SELECT COUNT(*) FROM urls WHERE done = 1");
  long queued = state_count(db, "SELECT COUNT(*) FROM urls");
  cr_assert(done == 1 && queued == 1 + LINKS, "the state holds %ld URLs, %ld done: the page was recorded in part",
            queued, done);
  cr_assert_eq(count_lines(out), 1);
  demo_check_warc(warc, out);
}

/* ----------------------------------------------------- damaged state */

/* Three 4 KiB pages of state.sqlite overwritten: the crawl refuses to
 * start, exit 1, and neither the output nor the WARC changes. */
Test(state, damaged_database_refused_outputs_untouched, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], warc[800], state[800], db[900], err[16384];
  demo_path(&S, out, sizeof out, "dmg.jsonl");
  demo_path(&S, warc, sizeof warc, "dmg.warc.gz");
  demo_path(&S, state, sizeof state, "dmg-state");
  snprintf(db, sizeof db, "%s/state.sqlite", state);
  args a = site_args(out, warc, state);
  add(&a, "--max-pages");
  add(&a, "400");
  const char *const *argv = with_seed(&a, NULL);
  cr_assert_eq(crawl(argv, err, sizeof err), 0, "%s", err);
  cr_assert_eq(count_lines(out), 400);

  struct stat st;
  cr_assert_eq(stat(db, &st), 0);
  long pages = (long)(st.st_size / 4096);
  cr_assert(pages >= 16, "the state is only %ld pages", pages);
  FILE *f = fopen(db, "r+b");
  cr_assert(f);
  char junk[4096];
  memset(junk, 0x5a, sizeof junk);
  long at[] = {pages / 4, pages / 2, pages * 3 / 4};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(fseek(f, at[i] * 4096, SEEK_SET), 0);
    cr_assert_eq(fwrite(junk, 1, sizeof junk, f), sizeof junk);
  }
  fclose(f);

  size_t out_len, warc_len;
  char *out_before = slurp(out, &out_len), *warc_before = slurp(warc, &warc_len);
  int rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 1, "a damaged state was taken: exit %d: %s", rc, err);
  cr_assert(strstr(err, "is damaged") && strstr(err, db), "no message naming the damaged file: %s", err);
  check_unchanged(out, out_before, out_len);
  check_unchanged(warc, warc_before, warc_len);
  free(out_before);
  free(warc_before);
}

/* ---------------------------------------------------- other options */

/* A resume with another seed and --max-depth 0 is refused (exit 2) with
 * the list of what differs, touching nothing; --force-resume goes on, and
 * the options it went on with are the crawl's from then on. */
Test(state, other_options_refused_unless_forced, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], state[800], err[16384], other_seed[256];
  demo_path(&S, out, sizeof out, "opt.jsonl");
  demo_path(&S, state, sizeof state, "opt-state");
  snprintf(other_seed, sizeof other_seed, "http://h1.demo.test:%d/", S.port);
  args a = site_args(out, NULL, state);
  add(&a, "--max-pages");
  add(&a, "200");
  cr_assert_eq(crawl(with_seed(&a, NULL), err, sizeof err), 0, "%s", err);
  size_t len;
  char *before = slurp(out, &len);

  args b = site_args(out, NULL, state);
  add(&b, "--max-pages");
  add(&b, "200");
  add(&b, "--max-depth");
  add(&b, "0");
  int rc = crawl(with_seed(&b, other_seed), err, sizeof err);
  cr_assert_eq(rc, 2, "a resume with other options exited %d: %s", rc, err);
  cr_assert(strstr(err, "was started with other options"), "%s", err);
  cr_assert(strstr(err, "--max-depth: no limit before, 0 now"), "the depth change is not listed: %s", err);
  cr_assert(strstr(err, "seed URLs: ") && strstr(err, other_seed), "the seed change is not listed: %s", err);
  cr_assert(strstr(err, "--force-resume"), "no word of --force-resume: %s", err);
  check_unchanged(out, before, len);
  free(before);

  args c = site_args(out, NULL, state);
  add(&c, "--max-pages");
  add(&c, "200");
  add(&c, "--max-depth");
  add(&c, "0");
  add(&c, "--force-resume");
  rc = crawl(with_seed(&c, other_seed), err, sizeof err);
  cr_assert_eq(rc, 0, "--force-resume exited %d: %s", rc, err);
  rc = crawl(with_seed(&b, other_seed), err, sizeof err);
  cr_assert_eq(rc, 0, "the options forced in were not recorded: exit %d: %s", rc, err);
}

/* The order of the seeds and the User-Agent beyond its product token do
 * not define a crawl: a resume with them changed goes on. */
Test(state, seed_order_and_agent_version_do_not_matter, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], state[800], err[16384], second[256];
  demo_path(&S, out, sizeof out, "order.jsonl");
  demo_path(&S, state, sizeof state, "order-state");
  snprintf(second, sizeof second, "http://h1.demo.test:%d/", S.port);
  args a = site_args(out, NULL, state);
  add(&a, "--max-pages");
  add(&a, "50");
  add(&a, S.seed);
  cr_assert_eq(crawl(with_seed(&a, second), err, sizeof err), 0, "%s", err);
  args b = site_args(out, NULL, state);
  add(&b, "--max-pages");
  add(&b, "50");
  add(&b, "--user-agent");
  add(&b, "spindle/9.9 (+http://example.test/bot)");
  add(&b, second);
  int rc = crawl(with_seed(&b, S.seed), err, sizeof err);
  cr_assert_eq(rc, 0, "a resume with the seeds in another order and another agent version exited %d: %s", rc, err);
}

/* Without --state, queued URLs past --frontier-memory wait in a temporary
 * file; when its disk fills, SQLite rolls back its one transaction and
 * those URLs are gone: the crawl says so and exits 1 (review: it said they
 * stayed in memory, then failed to read them back).  The file is written
 * only once SQLite's page cache (2 MB) overflows: a 30,000-page site. */
static void start_huge_site(void) { demo_site_start(&S, HOSTS, 30000); }

Test(state, full_frontier_file_says_what_was_lost, .init = start_huge_site, .fini = stop_site_unmount,
     .timeout = 300) {
  char out[800], tmp[800], err[16384];
  demo_path(&S, out, sizeof out, "spill.jsonl");
  demo_path(&S, tmp, sizeof tmp, "spill-tmp");
  mount_tmpfs(tmp, "256k");
  setenv("TMPDIR", tmp, 1);
  args a = site_args(out, NULL, NULL);
  add(&a, "--frontier-memory");
  add(&a, "20");
  int rc = crawl(with_seed(&a, NULL), err, sizeof err);
  unsetenv("TMPDIR");
  if (strstr(err, "cannot set up the frontier file")) {
    /* The disk was full before the file could hold anything (seen under
     * TSan): every URL stayed in memory, nothing was lost. */
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    demo_check_output(&S, out);
    return;
  }
  cr_assert_eq(rc, 1, "a crawl whose frontier file lost its URLs exited %d: %s", rc, err);
  cr_assert(strstr(err, "writing the frontier file") && strstr(err, "are lost"), "%s", err);
}

/* ------------------------------------------- outputs that disagree */

/* The state says 150 pages were written: an --output that is gone, or a
 * WARC cut short, is refused (exit 1) rather than silently restarted;
 * --force-resume writes the lines again from the state. */
Test(state, outputs_short_of_the_state_refused, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], warc[800], state[800], err[16384];
  demo_path(&S, out, sizeof out, "short.jsonl");
  demo_path(&S, warc, sizeof warc, "short.warc.gz");
  demo_path(&S, state, sizeof state, "short-state");
  args a = site_args(out, warc, state);
  add(&a, "--max-pages");
  add(&a, "150");
  const char *const *argv = with_seed(&a, NULL);
  cr_assert_eq(crawl(argv, err, sizeof err), 0, "%s", err);
  cr_assert_eq(count_lines(out), 150);

  /* What a kill in the middle of a WARC write leaves: part of a record
   * past the committed end, which a resume cuts off - but not a refused
   * one, which touches nothing. */
  FILE *w = fopen(warc, "ab");
  cr_assert(w);
  fwrite("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03partial", 1, 17, w);
  fclose(w);
  size_t warc_len;
  char *warc_before = slurp(warc, &warc_len);
  cr_assert_eq(unlink(out), 0);
  int rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 1, "a resume whose output is gone exited %d: %s", rc, err);
  cr_assert(strstr(err, "is missing or empty") && strstr(err, "150 pages done"), "%s", err);
  check_unchanged(warc, warc_before, warc_len);

  args f = site_args(out, warc, state);
  add(&f, "--max-pages");
  add(&f, "150");
  add(&f, "--force-resume");
  rc = crawl(with_seed(&f, NULL), err, sizeof err);
  cr_assert_eq(rc, 0, "--force-resume exited %d: %s", rc, err);
  cr_assert_eq(count_lines(out), 150, "the lines were not written again from the state");
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  demo_check_no_duplicates(&o);
  crawl_out_free(&o);

  size_t out_len;
  char *out_before = slurp(out, &out_len);
  cr_assert_eq(truncate(warc, (off_t)warc_len / 2), 0);
  free(warc_before);
  warc_before = slurp(warc, &warc_len);
  rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 1, "a resume whose WARC was cut short exited %d: %s", rc, err);
  cr_assert(strstr(err, "but the state") && strstr(err, "bytes of WARC records"), "%s", err);
  check_unchanged(out, out_before, out_len);
  check_unchanged(warc, warc_before, warc_len);
  free(out_before);
  free(warc_before);
}

/* ------------------------------------------------- kill -9, resume */

/* kill -9 at random moments (20 ms to SPINDLE_KILL_MS, default 500, after
 * the start), each time the same command again, on a 3,000-page site at
 * concurrency 64, 16 per host, until SPINDLE_KILLS kills (default 6) have
 * landed in the middle of the crawl (the output grew, and the crawl was
 * not over; at most eight times as many tries): at the end the output and
 * the WARC each hold every page exactly once - no record of a page whose
 * commit the kill prevented is left in the WARC. */
Test(state, random_kills_leave_output_and_warc_exact, .init = start_big_site, .fini = stop_site, .timeout = 600) {
  char out[800], warc[800], state[800], err[16384], dir[900];
  demo_path(&S, out, sizeof out, "kill.jsonl");
  demo_path(&S, warc, sizeof warc, "kill.warc.gz");
  demo_path(&S, state, sizeof state, "kill-state");
  args a = site_args(out, warc, state);
  add(&a, "--concurrency");
  add(&a, "64");
  add(&a, "--per-host");
  add(&a, "16");
  const char *const *argv = with_seed(&a, NULL);
  const char *k = getenv("SPINDLE_KILLS");
  int kills = k && atoi(k) > 0 ? atoi(k) : 6;
  const char *ms = getenv("SPINDLE_KILL_MS");
  unsigned max_us = (ms && atoi(ms) > 20 ? (unsigned)atoi(ms) : 500) * 1000u;
  unsigned seed0 = (unsigned)getpid(), seed = seed0;
  long total = expected_lines(), killed_mid_way = 0;
  int tries = 0;
  for (; killed_mid_way < kills && tries < 8 * kills; tries++) {
    int i = tries;
    long before = count_lines(out);
    pid_t pid = crawl_spawn(argv, run_dir(dir, sizeof dir));
    cr_assert(pid > 0);
    usleep(20000 + (useconds_t)(rand_r(&seed) % (max_us - 20000)));
    kill(pid, SIGKILL);
    int rc = crawl_wait(pid, 30);
    cr_assert(rc == 128 + SIGKILL || rc == 0, "run %d exited %d", i + 1, rc);
    long after = count_lines(out);
    if (rc == 128 + SIGKILL && after > before && after < total) killed_mid_way++;
    if (rc == 0) break; /* it finished before the kill */
  }
  fprintf(stderr, "random_kills: %d tries, %ld kills landed in the middle of the crawl (%ld of %ld lines), seed %u\n",
          tries, killed_mid_way, count_lines(out), total, seed0);
  cr_assert(killed_mid_way > 0, "no kill landed in the middle of a crawl");
  int rc = crawl(argv, err, sizeof err);
  cr_assert_eq(rc, 0, "the last run exited %d: %s", rc, err);
  demo_check_output(&S, out);
  demo_check_warc(warc, out);
}

/* ------------------------------------------- resumed, and complete */

/* A resumed run's summary says how many pages were done before; running a
 * finished crawl again says it is complete and fetches nothing. */
Test(state, resume_says_so_and_complete_crawl_says_so, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], state[800], err[16384], want[256];
  demo_path(&S, out, sizeof out, "say.jsonl");
  demo_path(&S, state, sizeof state, "say-state");
  args a = site_args_summary(out, NULL, state, true);
  add(&a, "--delay");
  add(&a, "0.01");
  add(&a, "--max-time");
  add(&a, "1");
  int rc = crawl(with_seed(&a, NULL), err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  long first = count_lines(out), total = expected_lines();
  cr_assert(first > 0 && first < total, "the first run did %ld of %ld pages", first, total);

  args b = site_args_summary(out, NULL, state, true);
  rc = crawl(with_seed(&b, NULL), err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  snprintf(want, sizeof want, "resumed: %ld pages done before, %ld in this run, %ld in all", first, total - first,
           total);
  cr_assert(strstr(err, want), "no '%s' in the summary: %s", want, err);

  rc = crawl(with_seed(&b, NULL), err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  snprintf(want, sizeof want, "the crawl is complete: %ld pages were done before; nothing left to fetch", total);
  cr_assert(strstr(err, want), "no '%s': %s", want, err);
  cr_assert_eq(count_lines(out), total, "a complete crawl wrote more lines");
}

/* ------------------------------------------------- one crawl a state */

Test(state, second_crawl_on_the_same_state_refused, .init = start_site, .fini = stop_site, .timeout = 120) {
  char out[800], out2[800], state[800], err[16384], dir[900];
  demo_path(&S, out, sizeof out, "one.jsonl");
  demo_path(&S, out2, sizeof out2, "two.jsonl");
  demo_path(&S, state, sizeof state, "one-state");
  args a = site_args(out, NULL, state);
  add(&a, "--delay");
  add(&a, "0.05");
  pid_t pid = crawl_spawn(with_seed(&a, NULL), run_dir(dir, sizeof dir));
  cr_assert(pid > 0);
  for (int i = 0; i < 1000 && count_lines(out) < 5; i++) usleep(10000);
  args b = site_args(out2, NULL, state);
  int rc = crawl(with_seed(&b, NULL), err, sizeof err);
  kill(pid, SIGINT);
  int first = crawl_wait(pid, 60);
  cr_assert_eq(rc, 1, "a second crawl on a state in use exited %d: %s", rc, err);
  cr_assert(strstr(err, "another spindle-crawl is using the state"), "%s", err);
  cr_assert_eq(count_lines(out2), 0);
  cr_assert_eq(first, 130, "the first crawl exited %d after SIGINT", first);
}

/* ------------------------------------------------ file descriptors */

/* Under ulimit -n 64 with --concurrency 1000 and --per-host 100, no page
 * is recorded as failed: the crawl runs as many transfers as fit, says so
 * naming the limit, and gets every page. */
Test(state, too_few_descriptors_is_not_a_page_failure, .init = start_site, .fini = stop_site, .timeout = 180) {
  char out[800], err[16384];
  demo_path(&S, out, sizeof out, "fds.jsonl");
  struct rlimit rl = {64, 64};
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
  args a = site_args(out, NULL, NULL);
  add(&a, "--concurrency");
  add(&a, "1000");
  add(&a, "--per-host");
  add(&a, "100");
  int rc = crawl(with_seed(&a, NULL), err, sizeof err);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
  cr_assert(strstr(err, "file descriptors") && strstr(err, "ulimit -n"), "no word of the limit: %s", err);
  crawl_out o;
  cr_assert_eq(crawl_out_read(&o, out), 0);
  for (size_t i = 0; i < o.n; i++)
    cr_assert(!o.v[i].error, "%s failed: %s (%s)", o.v[i].url, o.v[i].error, o.v[i].message);
  crawl_out_free(&o);
  demo_check_output(&S, out);
}
