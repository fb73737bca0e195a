/* crawl_harness.c - see crawl_harness.h. */
#define _GNU_SOURCE
#include "crawl_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void strset_add(strset *s, const char *x) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) abort();
  }
  s->v[s->n++] = strdup(x);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void strset_sort(strset *s) {
  if (s->n) qsort(s->v, s->n, sizeof *s->v, cmp);
}

bool strset_has(const strset *s, const char *x) {
  return s->n && bsearch(&x, s->v, s->n, sizeof *s->v, cmp) != NULL;
}

void strset_free(strset *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

int strset_read_lines(strset *s, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n) strset_add(s, line);
  }
  free(line);
  fclose(f);
  strset_sort(s);
  return 0;
}

size_t strset_missing(const strset *a, const strset *b, const char *what, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < a->n; i++) {
    if (strset_has(b, a->v[i])) continue;
    if (k++ < max) fprintf(stderr, "  %s: %s\n", what, a->v[i]);
  }
  return k;
}

static char *dup_field(json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v ? strdup(v) : NULL;
}

int crawl_out_read(crawl_out *o, const char *path) {
  memset(o, 0, sizeof *o);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char *line = NULL;
  size_t cap = 0, vcap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_t *j = json_loads(line, 0, NULL);
    if (!json_is_object(j) || !json_string_value(json_object_get(j, "url"))) {
      o->bad++;
      json_decref(j);
      continue;
    }
    if (o->n == vcap) {
      vcap = vcap ? vcap * 2 : 256;
      o->v = realloc(o->v, vcap * sizeof *o->v);
      if (!o->v) abort();
    }
    crawl_line *c = &o->v[o->n++];
    c->url = dup_field(j, "url");
    c->final_url = dup_field(j, "final_url");
    c->referrer = dup_field(j, "referrer");
    c->error = dup_field(j, "error");
    c->status = (long)json_integer_value(json_object_get(j, "status"));
    c->depth = (long)json_integer_value(json_object_get(j, "depth"));
    c->links = (long)json_integer_value(json_object_get(j, "links"));
    c->bytes = (long)json_integer_value(json_object_get(j, "bytes"));
    json_decref(j);
  }
  free(line);
  fclose(f);
  return 0;
}

void crawl_out_free(crawl_out *o) {
  for (size_t i = 0; i < o->n; i++) {
    free(o->v[i].url);
    free(o->v[i].final_url);
    free(o->v[i].referrer);
    free(o->v[i].error);
  }
  free(o->v);
  memset(o, 0, sizeof *o);
}

pid_t crawl_spawn(const char *const *argv, const char *dir) {
  const char *bin = getenv("SPINDLE_BIN_DIR");
  if (!bin) {
    fprintf(stderr, "crawl_spawn: SPINDLE_BIN_DIR is not set (ctest sets it)\n");
    return -1;
  }
  char prog[4096], out[4096], err[4096];
  snprintf(prog, sizeof prog, "%s/spindle-crawl", bin);
  snprintf(out, sizeof out, "%s/crawl.stdout", dir);
  snprintf(err, sizeof err, "%s/crawl.stderr", dir);
  size_t n = 0;
  while (argv[n]) n++;
  char **args = calloc(n + 2, sizeof *args);
  if (!args) return -1;
  args[0] = prog;
  for (size_t i = 0; i < n; i++) args[i + 1] = (char *)argv[i];
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    execv(prog, args);
    _exit(127);
  }
  free(args);
  return pid;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long crawl_last_maxrss_kb;

int crawl_wait(pid_t pid, double timeout_s) {
  double end = now_s() + timeout_s;
  int st;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  for (;;) {
    pid_t r = wait4(pid, &st, WNOHANG, &ru);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (now_s() > end) {
      fprintf(stderr, "crawl_wait: spindle-crawl (pid %d) still running after %.0f s: killed\n", (int)pid,
              timeout_s);
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    usleep(10000);
  }
  crawl_last_maxrss_kb = ru.ru_maxrss;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

int crawl_exec(const char *const *argv, const char *dir, double timeout_s) {
  pid_t pid = crawl_spawn(argv, dir);
  if (pid < 0) return -1;
  return crawl_wait(pid, timeout_s);
}

long count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  long n = 0;
  int c;
  while ((c = getc(f)) != EOF)
    if (c == '\n') n++;
  fclose(f);
  return n;
}
