/*
 * fetch - the seed's "asynchronous crawling" in its simplest form: get every
 * URL given, all at once, one task each, and print status, size and time
 * per URL as each finishes, then the total.
 *
 *   fetch [--timeout SEC] [--max-redirects N] [--insecure] [--dns-server IP[:PORT]] URL...
 *
 * Exits 0 when every URL got a response (any status), 1 when some failed,
 * 2 on bad usage.
 */
#include <spindle/spindle.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
  const char *url;
  uint64_t timeout_ns;
  int max_redirects;
  int insecure;
  int rc;
} job;

static void usage(FILE *f) {
  fprintf(f, "usage: fetch [--timeout SEC] [--max-redirects N] [--insecure] [--dns-server IP[:PORT]] URL...\n"
             "Fetches every URL concurrently and prints status, bytes and time for each.\n");
}

static void *fetch_one(void *arg) {
  job *j = arg;
  sp_http_request req;
  sp_http_request_init(&req);
  req.url = j->url;
  req.timeout_ns = j->timeout_ns;
  req.max_redirects = j->max_redirects;
  req.insecure = j->insecure != 0;
  sp_http_response resp;
  j->rc = sp_http_fetch(&req, &resp);
  double ms = (double)resp.timings.total_ns / 1e6;
  if (j->rc == 0)
    printf("%3ld %10zu bytes %9.1f ms  %s%s%s\n", resp.status, resp.body_len, ms, j->url,
           resp.redirects ? " -> " : "", resp.redirects ? resp.url : "");
  else
    printf("ERR %-16s %9.1f ms  %s: %s\n", sp_strerror(j->rc), ms, j->url, resp.error);
  fflush(stdout);
  sp_http_response_free(&resp);
  return NULL;
}

typedef struct plan {
  job *jobs;
  int n;
} plan;

static void *main_task(void *arg) {
  plan *p = arg;
  sp_task **tasks = calloc((size_t)p->n, sizeof *tasks);
  if (!tasks) return (void *)1;
  int spawned = 0;
  for (; spawned < p->n; spawned++)
    if (sp_spawn(&tasks[spawned], fetch_one, &p->jobs[spawned]) != 0) break;
  int err = sp_gather(tasks, (size_t)spawned, NULL);
  free(tasks);
  return (void *)(intptr_t)(err || spawned < p->n);
}

static int parse_uint(const char *s, long max, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > max) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  long timeout_s = 30, redirects = 5;
  int insecure = 0;
  const char *dns = NULL;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--insecure")) {
      insecure = 1;
    } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
      if (parse_uint(argv[++i], 86400, &timeout_s)) {
        fprintf(stderr, "fetch: --timeout wants seconds (0-86400), not '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--max-redirects") && i + 1 < argc) {
      if (parse_uint(argv[++i], 100, &redirects)) {
        fprintf(stderr, "fetch: --max-redirects wants 0-100, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--dns-server") && i + 1 < argc) {
      dns = argv[++i];
    } else if (!strcmp(a, "--")) {
      i++;
      break;
    } else {
      fprintf(stderr, "fetch: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return 2;
  }
  plan p = {calloc((size_t)(argc - i), sizeof(job)), argc - i};
  if (!p.jobs) {
    fprintf(stderr, "fetch: out of memory\n");
    return 1;
  }
  for (int k = 0; k < p.n; k++) {
    p.jobs[k].url = argv[i + k];
    p.jobs[k].timeout_ns = (uint64_t)timeout_s * 1000000000u;
    p.jobs[k].max_redirects = (int)redirects;
    p.jobs[k].insecure = insecure;
  }
  sp_runtime *rt;
  int rc = sp_runtime_new(NULL, &rt);
  if (rc == 0 && dns) {
    rc = sp_dns_set_servers(rt, dns);
    if (rc) fprintf(stderr, "fetch: bad --dns-server '%s': %s\n", dns, sp_strerror(rc));
  }
  uint64_t t0 = sp_now_ns();
  void *res = NULL;
  if (rc == 0) rc = sp_runtime_block_on(rt, main_task, &p, &res);
  if (rt) sp_runtime_free(rt);
  if (rc) {
    fprintf(stderr, "fetch: %s\n", sp_strerror(rc));
    free(p.jobs);
    return 1;
  }
  int failed = 0;
  for (int k = 0; k < p.n; k++) failed += p.jobs[k].rc != 0;
  printf("%d URLs in %.3f s, %d failed\n", p.n, (double)(sp_now_ns() - t0) / 1e9, failed);
  free(p.jobs);
  return failed || res ? 1 : 0;
}
