/* test_crawl_engine.c - the crawl engine as an object: two crawls at once
 * in one process, on one spindle runtime, each of its own site with its
 * own options and files, and each gets exactly its site's pages. */
#define _GNU_SOURCE
#include "sched/spt.h"
#include "io/fixture.h"
#include "crawler/crawl_harness.h"
#include "crawler/site_fixture.h"
#include "crawl.h"

#include <sys/stat.h>

static demo_site A, B;

static void start_sites(void) {
  demo_site_start(&A, 4, 600);
  demo_site_start(&B, 3, 300); /* the names of A's dnsmasq: h0..h2.demo.test, on B's port */
}

static void stop_sites(void) { fx_stop_all(); }

typedef struct crawl_task {
  crawl_engine *e;
  int rc;
} crawl_task;

static void *run_crawl(void *arg) {
  crawl_task *t = arg;
  t->rc = crawl_engine_run(t->e);
  return NULL;
}

static void *two_crawls(void *arg) {
  (void)arg;
  char a_out[800], a_warc[800], b_out[800], b_state[800];
  demo_path(&A, a_out, sizeof a_out, "a.jsonl");
  demo_path(&A, a_warc, sizeof a_warc, "a.warc.gz");
  demo_path(&B, b_out, sizeof b_out, "b.jsonl");
  demo_path(&B, b_state, sizeof b_state, "b-state");
  static char *a_seeds[1], *b_seeds[1], *domain[] = {"demo.test"};
  a_seeds[0] = A.seed;
  b_seeds[0] = B.seed;
  /* Different in everything but the scope rule: concurrency, politeness,
   * files, --state and a frontier paged to disk for one of them. */
  crawl_config ca, cb;
  crawl_config_init(&ca);
  ca.seeds = a_seeds, ca.nseeds = 1, ca.allow_domains = domain, ca.nallow_domains = 1;
  ca.concurrency = 32, ca.per_host = 4, ca.output_path = a_out, ca.warc_path = a_warc, ca.quiet = true;
  ca.robots_agent = "spindle";
  crawl_config_init(&cb);
  cb.seeds = b_seeds, cb.nseeds = 1, cb.allow_domains = domain, cb.nallow_domains = 1;
  cb.concurrency = 8, cb.per_host = 1, cb.delay_s = 0.001, cb.output_path = b_out, cb.state_dir = b_state;
  cb.frontier_memory = 5, cb.quiet = true, cb.robots_agent = "spindle";
  crawl_summary sa, sb;
  crawl_task ta = {NULL, -1}, tb = {NULL, -1};
  sp_runtime *rt = sp_runtime_current();
  CHECKF(crawl_engine_open(&ca, &sa, rt, &ta.e) == 0, "the first crawl did not open");
  CHECKF(crawl_engine_open(&cb, &sb, rt, &tb.e) == 0, "the second crawl did not open");
  if (!ta.e || !tb.e) return NULL;
  sp_task *t[2];
  CHECKF(sp_spawn(&t[0], run_crawl, &ta) == 0 && sp_spawn(&t[1], run_crawl, &tb) == 0, "spawn");
  sp_gather(t, 2, NULL);
  CHECKF(ta.rc == 0 && tb.rc == 0, "the crawls returned %d and %d", ta.rc, tb.rc);
  CHECKF(crawl_engine_close(ta.e) == 0 && crawl_engine_close(tb.e) == 0, "closing lost output");
  CHECKF(sa.pages == count_lines(a_out) && sb.pages == count_lines(b_out),
         "summaries of %ld and %ld pages, outputs of %ld and %ld lines", sa.pages, sb.pages, count_lines(a_out),
         count_lines(b_out));
  CHECKF(sb.frontier_memory_peak <= 5 + 3, "the second crawl held %ld URLs in memory", sb.frontier_memory_peak);
  return NULL;
}

/* Each crawl reaches exactly its own site: every page of it once, nothing
 * of the other (same host names, other ports), its own WARC. */
Test(engine, two_crawls_in_one_process, .init = start_sites, .fini = stop_sites, .timeout = 180) {
  char env[64];
  snprintf(env, sizeof env, "%s", A.dns_arg);
  setenv("SPINDLE_DNS_SERVERS", env, 1);
  spt_run(2, two_crawls, NULL);
  char a_out[800], a_warc[800], b_out[800];
  demo_check_output(&A, demo_path(&A, a_out, sizeof a_out, "a.jsonl"));
  demo_check_warc(demo_path(&A, a_warc, sizeof a_warc, "a.warc.gz"), a_out);
  demo_check_output(&B, demo_path(&B, b_out, sizeof b_out, "b.jsonl"));
}
