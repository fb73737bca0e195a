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
#include <strings.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

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
    c->content_type = dup_field(j, "content_type");
    c->redirect = dup_field(j, "redirect");
    c->ip = dup_field(j, "ip");
    c->message = dup_field(j, "message");
    c->error_code = (long)json_integer_value(json_object_get(j, "error_code"));
    c->retries = (long)json_integer_value(json_object_get(j, "retries"));
    json_t *ms = json_object_get(j, "fetch_ms");
    c->fetch_ms = json_is_number(ms) ? json_number_value(ms) : -1;
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
    free(o->v[i].content_type);
    free(o->v[i].redirect);
    free(o->v[i].ip);
    free(o->v[i].message);
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

char *file_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&s, &n);
  char buf[65536];
  size_t k;
  while (m && (k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, m);
  fclose(f);
  if (!m || fclose(m) != 0) return NULL;
  if (len) *len = n;
  return s;
}

/* ---------------------------------------------------------------- warcio */

const char *warcio_npm_dir(void) {
  const char *d = getenv("SPINDLE_NPM_DIR");
  return d && *d ? d : "/tmp/spindle-npm";
}

static bool have_command(const char *name) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
  return system(cmd) == 0;
}

static int mkdirs(const char *dir) {
  char p[512];
  snprintf(p, sizeof p, "%s", dir);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* The last n bytes of the file at path into err (empty if unreadable). */
static void tail_into(const char *path, char *err, size_t n) {
  size_t at = strlen(err);
  FILE *f = fopen(path, "r");
  if (!f || at + 1 >= n) {
    if (f) fclose(f);
    return;
  }
  size_t room = n - at - 1;
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    fseek(f, size > (long)room ? size - (long)room : 0, SEEK_SET);
  }
  size_t k = fread(err + at, 1, room, f);
  err[at + k] = '\0';
  fclose(f);
}

/* npm gives up on an unreachable registry after one try and 30 s, not
 * after its default retries (about 71 s a test); tools/test.sh uses the
 * same flags. */
#define WARCIO_NPM_FLAGS "--no-audit --no-fund --fetch-retries=0 --fetch-timeout=30000"
/* How long a failed install is remembered: one test run. */
#define WARCIO_RETRY_AFTER_S 600

int warcio_ensure(char *err, size_t n) {
  err[0] = '\0';
  if (!have_command("node")) {
    snprintf(err, n, "node is not installed: the WARC tests read their files with warcio (npm); "
                     "`bash tools/setup.sh` installs nodejs and npm");
    return -1;
  }
  const char *dir = warcio_npm_dir();
  if (strchr(dir, '\'') || mkdirs(dir) != 0) {
    snprintf(err, n, "SPINDLE_NPM_DIR '%s': no quotes allowed, and it must be a directory we can make", dir);
    return -1;
  }
  char p[600];
  snprintf(p, sizeof p, "%s/.spindle-install.lock", dir);
  int lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) {
    snprintf(err, n, "lock %s: %s", p, strerror(errno));
    if (lock >= 0) close(lock);
    return -1;
  }
  /* A marker written after npm succeeded: an install killed half way
   * leaves node_modules behind, but not the marker. */
  char marker[600], failed[600];
  snprintf(marker, sizeof marker, "%s/.spindle-warcio-installed", dir);
  snprintf(failed, sizeof failed, "%s/.spindle-warcio-failed", dir);
  int rc = 0;
  struct stat st_failed;
  if (access(marker, R_OK) != 0 && stat(failed, &st_failed) == 0 &&
      time(NULL) - st_failed.st_mtime < WARCIO_RETRY_AFTER_S) {
    /* npm failed a moment ago (tools/test.sh, or another test of this
     * run): say why at once rather than wait for it to fail again. */
    snprintf(err, n, "warcio could not be installed a moment ago (npm is tried again after %d s): ",
             WARCIO_RETRY_AFTER_S);
    tail_into(failed, err, n);
    rc = -1;
  } else if (access(marker, R_OK) != 0) {
    if (!have_command("npm")) {
      snprintf(err, n, "npm is not installed: `bash tools/setup.sh` installs nodejs and npm");
      rc = -1;
    } else {
      char cmd[1400];
      snprintf(cmd, sizeof cmd, "npm install --prefix '%s' warcio@2 " WARCIO_NPM_FLAGS " >'%s/npm-install.log' 2>&1",
               dir, dir);
      int st = system(cmd);
      if (st != 0) {
        snprintf(err, n, "npm install warcio@2 into %s failed (exit status %d); its output ends:\n", dir,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        snprintf(p, sizeof p, "%s/npm-install.log", dir);
        tail_into(p, err, n);
        FILE *f = fopen(failed, "w");
        if (f) {
          fputs(err, f);
          fclose(f);
        }
        rc = -1;
      } else {
        unlink(failed);
        int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
          snprintf(err, n, "open %s: %s", marker, strerror(errno));
          rc = -1;
        } else {
          close(fd);
        }
      }
    }
  }
  close(lock);
  return rc;
}

/* ------------------------------------------------------------ WARC census */

/* The value of a WARC header field in a record's head, into out. */
static void warc_field(const char *head, const char *name, char *out, size_t n) {
  out[0] = '\0';
  size_t k = strlen(name);
  for (const char *p = head; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
    if (strncasecmp(p, name, k) == 0 && p[k] == ':') {
      p += k + 1;
      while (*p == ' ') p++;
      size_t len = strcspn(p, "\r\n");
      if (len >= n) len = n - 1;
      memcpy(out, p, len);
      out[len] = '\0';
      return;
    }
    if (p[0] == '\r' && p[1] == '\n') return; /* the end of the head */
  }
}

static void census_count(warc_census *w, const char *head) {
  char type[32], uri[4096];
  warc_field(head, "WARC-Type", type, sizeof type);
  if (strcmp(type, "warcinfo") == 0) {
    w->warcinfo++;
  } else if (strcmp(type, "request") == 0) {
    w->requests++;
  } else if (strcmp(type, "response") == 0) {
    w->responses++;
    warc_field(head, "WARC-Target-URI", uri, sizeof uri);
    strset_add(&w->response_uris, uri);
  } else {
    w->other++;
  }
}

int warc_census_read(warc_census *w, const char *path) {
  memset(w, 0, sizeof *w);
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  enum { CHUNK = 1 << 16, HEAD = 8192 };
  unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
  char head[HEAD + 1];
  size_t head_len = 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  int rc = in && out && inflateInit2(&z, 31) == Z_OK ? 0 : -1;
  bool inside = false; /* a member started and did not end yet */
  while (rc == 0) {
    if (z.avail_in == 0) {
      size_t n = fread(in, 1, CHUNK, f);
      if (n == 0) break;
      z.next_in = in;
      z.avail_in = (uInt)n;
    }
    inside = true;
    z.next_out = out;
    z.avail_out = CHUNK;
    int zr = inflate(&z, Z_NO_FLUSH);
    size_t got = CHUNK - z.avail_out, take = got < HEAD - head_len ? got : HEAD - head_len;
    memcpy(head + head_len, out, take);
    head_len += take;
    if (zr == Z_STREAM_END) {
      head[head_len] = '\0';
      census_count(w, head);
      head_len = 0;
      inside = false;
      inflateReset(&z);
    } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
      rc = -1;
    }
  }
  if (inside || ferror(f)) rc = -1;
  inflateEnd(&z);
  free(in);
  free(out);
  fclose(f);
  return rc;
}

void warc_census_free(warc_census *w) { strset_free(&w->response_uris); }
