/* output.c - the JSON lines and WARC files of a crawl (see output.h). */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crawl.h"
#include "policy.h"
#include "seen.h"

/* A path the crawl may cut back and read: a regular file, or none yet
 * (not a pipe, a terminal, /dev/stdout...). */
static bool plain_file(const char *path) {
  struct stat st;
  return stat(path, &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode);
}

/* The size of path, 0 if it does not exist, -1 on another error. */
static off_t size_of(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) return st.st_size;
  return errno == ENOENT ? 0 : -1;
}

/* Cuts a JSON-lines file back to its last complete line (a killed run may
 * have left half a line).  0 (also when the file does not exist) or -1. */
static int repair_jsonl(const char *path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
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
  FILE *f = fopen(path, "re");
  if (!f) return errno == ENOENT ? 0 : -1;
  char *line = NULL;
  size_t cap = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &cap, f) > 0) {
    json_t *o = json_loads(line, 0, NULL);
    const char *u = o ? json_string_value(json_object_get(o, "url")) : NULL;
    if (u && crawl_seen_add(urls, crawl_fingerprint(u)) < 0) rc = -1;
    json_decref(o);
  }
  if (ferror(f)) rc = -1;
  free(line);
  fclose(f);
  return rc;
}

typedef struct reconcile {
  crawl_seen have;
  FILE *f;
  long appended;
  bool failed;
} reconcile;

static void append_missing(void *arg, const char *url, const char *line) {
  reconcile *r = arg;
  if (r->failed || crawl_seen_has(&r->have, crawl_fingerprint(url))) return;
  if (fprintf(r->f, "%s\n", line) < 0) r->failed = true;
  r->appended++;
}

/* Appends to path the lines of done URLs it lacks; how many, or -1. */
static long reconcile_jsonl(crawl_state *s, const char *path) {
  reconcile r = {0};
  if (read_output_urls(path, &r.have) < 0) {
    crawl_seen_free(&r.have);
    return -1;
  }
  r.f = fopen(path, "ae");
  if (!r.f) {
    crawl_seen_free(&r.have);
    return -1;
  }
  if (crawl_state_each_line(s, append_missing, &r) < 0) {
    r.failed = true;
    errno = EIO;
  }
  if (fclose(r.f) != 0) r.failed = true;
  crawl_seen_free(&r.have);
  return r.failed ? -1 : r.appended;
}

/* An --output file that resuming would append to: a regular file, or none. */
static bool resumed_jsonl(const crawl_output *o, const crawl_output_resume *r) {
  return o->jsonl_path && strcmp(o->jsonl_path, "-") != 0 && r->resuming && plain_file(o->jsonl_path);
}

/* An --output that is gone while the state has pages done is refused, not
 * silently written anew: checked before any file is touched. */
static int check_jsonl(const crawl_output *o, const crawl_output_resume *r) {
  if (!resumed_jsonl(o, r) || r->force || r->pages_done == 0 || size_of(o->jsonl_path) != 0) return 0;
  fprintf(stderr,
          "spindle-crawl: %s is missing or empty, but the state %s has %ld pages done: refusing to resume.  "
          "Restore the file, or add --force-resume to write their lines again from the state.\n",
          o->jsonl_path, crawl_state_path(r->state), r->pages_done);
  return -1;
}

/* Brings an existing --output file up to date with the state. */
static int resume_jsonl(crawl_output *o, const crawl_output_resume *r) {
  const char *path = o->jsonl_path;
  if (repair_jsonl(path) < 0) {
    fprintf(stderr, "spindle-crawl: cannot repair %s: %s\n", path, strerror(errno));
    return -1;
  }
  long n = reconcile_jsonl(r->state, path);
  if (n < 0) {
    fprintf(stderr, "spindle-crawl: cannot bring %s up to date with the state %s: %s\n", path,
            crawl_state_path(r->state), crawl_state_error(r->state)[0] ? crawl_state_error(r->state) : strerror(errno));
    return -1;
  }
  if (n > 0 && !r->quiet)
    fprintf(stderr, "spindle-crawl: %s lacked the lines of %ld pages done; appended them from the state\n", path, n);
  return 0;
}

static int open_jsonl(crawl_output *o, const crawl_output_resume *r) {
  if (!o->jsonl_path) return 0;
  if (strcmp(o->jsonl_path, "-") == 0) {
    o->jsonl = stdout;
    return 0;
  }
  bool plain = plain_file(o->jsonl_path);
  /* A resumed crawl appends; a new one starts the file afresh. */
  if (resumed_jsonl(o, r) && resume_jsonl(o, r) < 0) return -1;
  o->jsonl = fopen(o->jsonl_path, r->resuming || !plain ? "ae" : "we");
  if (!o->jsonl) {
    fprintf(stderr, "spindle-crawl: cannot open %s: %s\n", o->jsonl_path, strerror(errno));
    return -1;
  }
  return 0;
}

static int open_warc(crawl_output *o, const crawl_output_resume *r) {
  if (!o->warc_path) return 0;
  long long committed = r->resuming ? r->warc_end : -1, tail = r->resuming ? r->warc_tail : -1;
  /* A file the state says holds records must be there: opening would
   * create an empty one. */
  off_t size = size_of(o->warc_path);
  if (committed > 0 && size < committed && r->force) committed = tail = -1;
  if (committed > 0 && size < committed) {
    fprintf(stderr,
            "spindle-crawl: %s holds %lld bytes, but the state %s recorded %lld bytes of WARC records: refusing "
            "to resume.  Restore the file, or add --force-resume to go on without those records.\n",
            o->warc_path, (long long)(size < 0 ? 0 : size), crawl_state_path(r->state), committed);
    return -1;
  }
  o->warc = crawl_warc_open(o->warc_path, "spindle-crawl/" CRAWL_VERSION, committed, tail);
  if (!o->warc && errno == ERANGE && r->force)
    o->warc = crawl_warc_open(o->warc_path, "spindle-crawl/" CRAWL_VERSION, -1, -1);
  if (!o->warc) {
    if (errno == ERANGE)
      fprintf(stderr,
              "spindle-crawl: %s does not match the state %s (no record ends where the state's last one did, at "
              "byte %lld): refusing to resume.  Restore the file, or add --force-resume to go on with it as it "
              "is.\n",
              o->warc_path, crawl_state_path(r->state), committed);
    else if (errno == EBADMSG)
      fprintf(stderr, "spindle-crawl: %s is damaged before its last record; it was left as it is\n", o->warc_path);
    else if (errno == EINVAL)
      fprintf(stderr, "spindle-crawl: %s is not a WARC file written with one gzip member per record; it was left "
                      "as it is\n", o->warc_path);
    else
      fprintf(stderr, "spindle-crawl: cannot open %s: %s\n", o->warc_path, strerror(errno));
    return -1;
  }
  long long dropped = crawl_warc_dropped(o->warc);
  if (dropped > 0 && r->resuming && !r->quiet)
    fprintf(stderr, "spindle-crawl: cut %lld bytes of records of unfinished pages off the end of %s\n", dropped,
            o->warc_path);
  return 0;
}

int crawl_output_open(crawl_output *o, const crawl_output_resume *r) {
  sp_mutex_init(&o->lock);
  o->failed = 0;
  /* What may refuse comes first, so that a refusal touches no file: the
   * JSON lines' check, then the WARC (which refuses untouched, or cuts off
   * the records of uncommitted pages), then the JSON lines' repair. */
  if (check_jsonl(o, r) < 0 || open_warc(o, r) < 0 || open_jsonl(o, r) < 0) return -1;
  return 0;
}

int crawl_output_line(crawl_output *o, const char *line) {
  if (!o->jsonl || !line) return 0;
  sp_mutex_lock(&o->lock);
  int rc = o->failed;
  if (rc == 0) {
    errno = 0;
    /* flushed: a killed crawl loses no line it reported */
    bool ok = fputs(line, o->jsonl) >= 0 && fputc('\n', o->jsonl) != EOF && fflush(o->jsonl) == 0;
    if (!ok) {
      rc = o->failed = errno ? -errno : -EIO;
      fprintf(stderr, "spindle-crawl: writing %s failed: %s; stopping\n",
              strcmp(o->jsonl_path, "-") == 0 ? "the output" : o->jsonl_path, strerror(-rc));
    }
  }
  sp_mutex_unlock(&o->lock);
  return rc;
}

int crawl_output_close(crawl_output *o) {
  int rc = 0;
  if (o->jsonl && o->jsonl != stdout && fclose(o->jsonl) != 0) rc = -1;
  if (o->jsonl == stdout && fflush(stdout) != 0) rc = -1;
  if (o->warc && crawl_warc_close(o->warc) != 0) rc = -1;
  o->jsonl = NULL;
  o->warc = NULL;
  if (rc < 0 && !o->failed) o->failed = -EIO;
  return rc;
}

/* ------------------------------------------------------------ lines */

/* Reals with 15 significant digits, not jansson's default 17: a double
 * holds 15 exactly, so fetch_ms 0.344 is written "0.344", not
 * "0.34399999999999997". */
#define JSON_REAL_FORMAT JSON_REAL_PRECISION(15)

/* A JSON string of s; bytes that are not UTF-8 (from a server's headers,
 * or a seed as typed) are written as %XX, so the line stays valid. */
static json_t *jstr(const char *s) {
  if (!s) return json_null();
  json_t *j = json_string(s);
  if (j) return j;
  size_t n = strlen(s);
  char *e = malloc(n * 3 + 1), *p = e;
  if (!e) return json_null();
  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    p += *c < 0x80 ? (size_t)sprintf(p, "%c", *c) : (size_t)sprintf(p, "%%%02X", *c);
  j = json_string(e);
  free(e);
  return j ? j : json_null();
}

char *crawl_output_format_line(const crawl_line_info *l) {
  const sp_http_response *r = l->r;
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "url", jstr(l->url));
  json_object_set_new(o, "final_url", jstr(r->url));
  json_object_set_new(o, "status", json_integer(r->status));
  json_object_set_new(o, "content_type", jstr(r->content_type));
  json_object_set_new(o, "bytes", json_integer((json_int_t)r->body_len));
  json_object_set_new(o, "depth", json_integer(l->depth));
  json_object_set_new(o, "referrer", jstr(l->referrer));
  json_object_set_new(o, "links", json_integer(l->links));
  json_object_set_new(o, "fetch_ms", json_real((double)(l->fetch_ns / 1000u) / 1e3)); /* microseconds */
  json_object_set_new(o, "ip", r->remote_ip[0] ? json_string(r->remote_ip) : json_null());
  if (r->redirect_url) json_object_set_new(o, "redirect", jstr(r->redirect_url));
  if (l->noindex) json_object_set_new(o, "noindex", json_true());
  if (l->retries) json_object_set_new(o, "retries", json_integer(l->retries));
  if (l->rc) {
    json_object_set_new(o, "error", json_string(crawl_error_name(crawl_error_kind_of(r->failure))));
    json_object_set_new(o, "error_code", json_integer(l->rc));
    json_object_set_new(o, "message", jstr(r->error[0] ? r->error : sp_strerror(l->rc)));
  }
  char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_FORMAT);
  json_decref(o);
  return line;
}

/* ---------------------------------------------------- summary and stats */

/* A resumed crawl that found nothing left to do. */
static bool complete_before(const crawl_summary *s) {
  return s->resumed && s->attempts == 0 && s->pages == 0 && s->queued == 0 && !s->interrupted;
}

void crawl_print_summary(const crawl_summary *s, FILE *f) {
  if (complete_before(s)) {
    fprintf(f, "spindle-crawl: the crawl is complete: %ld pages were done before; nothing left to fetch\n",
            s->pages_before);
    return;
  }
  fprintf(f, "spindle-crawl: %ld pages in %.2f s (%.0f pages/s), %.1f MB%s\n", s->pages, s->seconds,
          s->seconds > 0 ? (double)s->pages / s->seconds : 0.0, (double)s->bytes / 1e6,
          s->interrupted ? ", stopped early" : "");
  if (s->resumed)
    fprintf(f, "  resumed: %ld pages done before, %ld in this run, %ld in all\n", s->pages_before, s->pages,
            s->pages_before + s->pages);
  fprintf(f, "  %ld ok, %ld redirects, %ld client errors (4xx), %ld server errors (5xx), %ld failed", s->ok,
          s->redirects, s->client_errors, s->server_errors, s->failed);
  bool any = false; /* the first kind listed opens the parenthesis, whichever it is */
  for (int k = 0; k < CRAWL_ERR_N; k++) {
    if (!s->errors_by_code[k]) continue;
    fprintf(f, "%s%s %ld", any ? ", " : " (", crawl_error_name(k), s->errors_by_code[k]);
    any = true;
  }
  fprintf(f, "%s\n", any ? ")" : "");
  fprintf(f, "  %ld disallowed by robots.txt, %ld retries, %ld left in the queue\n", s->robots_skipped, s->retries,
          s->queued);
  if (s->hosts_unreachable)
    fprintf(f, "  %ld host%s could not be reached (%s%s): %ld URL%s not crawled\n", s->hosts_unreachable,
            s->hosts_unreachable == 1 ? "" : "s", s->hosts_unreachable == 1 ? "" : "the first, ",
            s->unreachable_failure, s->unreachable_skipped, s->unreachable_skipped == 1 ? "" : "s");
  if (s->robots_unavailable == 1)
    fprintf(f, "  1 host whose robots.txt could not be fetched (%s): its URLs were not crawled\n",
            s->robots_failure);
  else if (s->robots_unavailable)
    fprintf(f, "  %ld hosts whose robots.txt could not be fetched (the first, %s): their URLs were not crawled\n",
            s->robots_unavailable, s->robots_failure);
  if (s->local_requeues)
    fprintf(f, "  %ld transfers put back for want of file descriptors or memory; at most %u at once in the end\n",
            s->local_requeues, s->concurrency);
}

int crawl_write_stats(const crawl_summary *s, const char *path) {
  json_t *o = json_object();
  json_object_set_new(o, "pages", json_integer(s->pages));
  json_object_set_new(o, "ok", json_integer(s->ok));
  json_object_set_new(o, "redirects", json_integer(s->redirects));
  json_object_set_new(o, "client_errors", json_integer(s->client_errors));
  json_object_set_new(o, "server_errors", json_integer(s->server_errors));
  json_object_set_new(o, "failed", json_integer(s->failed));
  json_t *kinds = json_object();
  for (int k = 0; k < CRAWL_ERR_N; k++)
    json_object_set_new(kinds, crawl_error_name(k), json_integer(s->errors_by_code[k]));
  json_object_set_new(o, "errors", kinds);
  json_object_set_new(o, "robots_skipped", json_integer(s->robots_skipped));
  json_object_set_new(o, "robots_unavailable", json_integer(s->robots_unavailable));
  json_object_set_new(o, "robots_failure", s->robots_failure[0] ? jstr(s->robots_failure) : json_null());
  json_object_set_new(o, "hosts_unreachable", json_integer(s->hosts_unreachable));
  json_object_set_new(o, "unreachable_skipped", json_integer(s->unreachable_skipped));
  json_object_set_new(o, "unreachable_failure",
                      s->unreachable_failure[0] ? jstr(s->unreachable_failure) : json_null());
  json_object_set_new(o, "responses", json_integer(s->responses));
  json_object_set_new(o, "local_requeues", json_integer(s->local_requeues));
  json_object_set_new(o, "concurrency", json_integer(s->concurrency));
  json_object_set_new(o, "resumed", json_boolean(s->resumed));
  json_object_set_new(o, "pages_before", json_integer(s->pages_before));
  json_object_set_new(o, "complete_before", json_boolean(complete_before(s)));
  json_object_set_new(o, "retries", json_integer(s->retries));
  json_object_set_new(o, "queued", json_integer(s->queued));
  json_object_set_new(o, "frontier_memory_peak", json_integer(s->frontier_memory_peak));
  json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes));
  json_object_set_new(o, "seconds", json_real(s->seconds));
  json_object_set_new(o, "pages_per_second", json_real(s->seconds > 0 ? (double)s->pages / s->seconds : 0));
  json_object_set_new(o, "interrupted", json_boolean(s->interrupted));
  int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_REAL_FORMAT);
  json_decref(o);
  return rc;
}
