/*
 * gai-bench - getaddrinfo() on a pool of threads, the peer of
 * `spindle-bench resolve` (tools/bench/io_compare.sh runs both):
 *
 *   gai-bench [--threads T] [--names N] [--lookups M] [--family 4|6|any]
 *
 * M getaddrinfo() calls spread over T threads, cycling through the names
 * n0.bench.test ... n{N-1}.bench.test, and one line in spindle-bench's format:
 *
 *   name=resolve workers=T tasks=T wall_ns= ns_per_op= rss_kb= ops=M impl=getaddrinfo lps= errors=
 *
 * glibc's getaddrinfo caches nothing (without nscd), so every call asks the
 * servers of /etc/resolv.conf.  Exits 1 if any lookup failed (the first
 * error on stderr), 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_ERRORS 100 /* threads stop taking new lookups after this many */

typedef struct {
  long long names, lookups;
  int family;
  _Atomic long long next, done, errors;
  _Atomic int claimed;
  char first[320];
} bench;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_error(bench *b, long long i, const char *name, const char *msg) {
  atomic_fetch_add_explicit(&b->errors, 1, memory_order_relaxed);
  int no = 0;
  if (atomic_compare_exchange_strong(&b->claimed, &no, 1))
    snprintf(b->first, sizeof b->first, "lookup %lld of %s: %s", i, name, msg);
}

static void *worker(void *arg) {
  bench *b = arg;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = b->family;
  hints.ai_socktype = SOCK_STREAM;
  char name[64];
  for (;;) {
    if (atomic_load_explicit(&b->errors, memory_order_relaxed) >= MAX_ERRORS) break;
    long long i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
    if (i >= b->lookups) break;
    snprintf(name, sizeof name, "n%lld.bench.test", i % b->names);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(name, "80", &hints, &res);
    if (rc != 0)
      note_error(b, i, name, gai_strerror(rc));
    else if (!res)
      note_error(b, i, name, "no addresses");
    if (res) freeaddrinfo(res);
    atomic_fetch_add_explicit(&b->done, 1, memory_order_relaxed);
  }
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f, "usage: gai-bench [--threads T] [--names N] [--lookups M] [--family 4|6|any]\n"
             "  M getaddrinfo() calls on T threads over n0.bench.test ... n{N-1}.bench.test\n"
             "  (defaults: 100, 1000, 100000, 4); the servers are those of /etc/resolv.conf.\n"
             "Prints: name=resolve workers=T tasks=T wall_ns= ns_per_op= rss_kb= ops= impl=getaddrinfo lps= errors=\n"
             "Exits 1 if any lookup failed (first error on stderr; stops after %d errors).\n",
             MAX_ERRORS);
}

static long long parse_num(const char *s, const char *what, long long min, long long max) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < min || v > max) {
    fprintf(stderr, "gai-bench: bad value for %s: '%s' (%lld-%lld)\n", what, s, min, max);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  static bench b;
  long long threads = 100;
  b.names = 1000;
  b.lookups = 100000;
  b.family = AF_INET;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    const char *v = NULL;
    char opt[32];
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    if (len >= sizeof opt) len = sizeof opt - 1;
    memcpy(opt, a, len);
    opt[len] = '\0';
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "gai-bench: unexpected argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
    if (eq)
      v = eq + 1;
    else if (i + 1 < argc)
      v = argv[++i];
    else {
      fprintf(stderr, "gai-bench: %s needs a value\n", opt);
      return 2;
    }
    if (!strcmp(opt, "--threads"))
      threads = parse_num(v, opt, 1, 10000);
    else if (!strcmp(opt, "--names"))
      b.names = parse_num(v, opt, 1, 1000000000);
    else if (!strcmp(opt, "--lookups"))
      b.lookups = parse_num(v, opt, 1, INT64_MAX / 2);
    else if (!strcmp(opt, "--family")) {
      if (!strcmp(v, "4")) b.family = AF_INET;
      else if (!strcmp(v, "6")) b.family = AF_INET6;
      else if (!strcmp(v, "any")) b.family = AF_UNSPEC;
      else {
        fprintf(stderr, "gai-bench: --family must be 4, 6 or any, not '%s'\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "gai-bench: unknown option '%s'\n", opt);
      usage(stderr);
      return 2;
    }
  }
  if (threads > b.lookups) threads = b.lookups;

  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (!tids) {
    fprintf(stderr, "gai-bench: out of memory\n");
    return 1;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024); /* glibc's resolver needs some; 8 MiB is the default */
  uint64_t t0 = now_ns();
  long long started = 0;
  for (; started < threads; started++) {
    int rc = pthread_create(&tids[started], &attr, worker, &b);
    if (rc != 0) {
      fprintf(stderr, "gai-bench: pthread_create (thread %lld of %lld): %s\n", started + 1, threads, strerror(rc));
      atomic_store(&b.errors, MAX_ERRORS); /* stop the others */
      break;
    }
  }
  for (long long i = 0; i < started; i++) pthread_join(tids[i], NULL);
  uint64_t wall = now_ns() - t0;
  pthread_attr_destroy(&attr);
  free(tids);
  if (started < threads) return 1;

  long long ops = atomic_load(&b.done), errors = atomic_load(&b.errors);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("name=resolve workers=%lld tasks=%lld wall_ns=%" PRIu64 " ns_per_op=%.2f rss_kb=%ld ops=%lld "
         "impl=getaddrinfo lps=%.0f errors=%lld names=%lld\n",
         threads, threads, wall, ops ? (double)wall / (double)ops : 0.0, ru.ru_maxrss, ops,
         wall ? (double)ops * 1e9 / (double)wall : 0.0, errors, b.names);
  fflush(stdout);
  if (errors) {
    fprintf(stderr, "gai-bench: %lld of %lld lookups failed%s; first: %s\n", errors, ops,
            errors >= MAX_ERRORS ? " (stopped early)" : "", b.first);
    return 1;
  }
  return 0;
}
