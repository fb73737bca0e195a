/*
 * resume.c - what a crawl opens before its first request: its state,
 * checked (damage, the options it was started with), and its outputs,
 * repaired from it.  A refusal leaves every file as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "identity.h"

/* Whether path can be written, found out before the crawl rather than
 * after it.  Never creates or follows anything it would leave behind: an
 * existing file is opened for appending; a missing one is created
 * exclusively (which refuses a dangling symlink) and removed again; a
 * FIFO without a reader (ENXIO) or an existing symlink to nothing
 * (EEXIST) cannot be checked, and passes. */
static bool can_write(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd >= 0) {
      close(fd);
      unlink(path);
      return true;
    }
  }
  if (fd >= 0) {
    close(fd);
    return true;
  }
  return errno == ENXIO || errno == EEXIST;
}

static int state_unreadable(crawl_state *s) {
  fprintf(stderr, "spindle-crawl: cannot read the state %s: %s\n", crawl_state_path(s), crawl_state_error(s));
  return -EACCES;
}

/* A resume with options other than the crawl's own is refused, listing
 * what differs (see identity.h), unless forced.  0, or an error (said). */
static int check_identity(crawl_engine *e, const char *now) {
  const crawl_config *cfg = e->cfg;
  char *before = NULL;
  int got = crawl_state_get_meta(e->state, "options", &before);
  if (got < 0) return state_unreadable(e->state);
  if (got == 0) return 0; /* made by an older spindle-crawl: nothing to compare */
  int rc = 0;
  if (strcmp(before, now) != 0) {
    bool force = cfg->force_resume;
    if (!force || !cfg->quiet) {
      fprintf(stderr, "spindle-crawl: the crawl in %s was started with other options:\n", cfg->state_dir);
      crawl_identity_diff(before, now, stderr);
    }
    if (!force) {
      fprintf(stderr, "Run it with the options it was started with to resume it, or add --force-resume to go on "
                      "with these (what was queued under the old ones stays queued).\n");
      rc = SP_EINVAL;
    } else if (!cfg->quiet) {
      fprintf(stderr, "spindle-crawl: --force-resume: going on with the new options\n");
    }
  }
  free(before);
  return rc;
}

/* An offset in the WARC that the state recorded (key "warc_end" or
 * "warc_tail") into *off (-1: none recorded, a state of an older
 * spindle-crawl).  0, or an error (said): an end that cannot be read or is
 * not a number would let a resume keep records of uncommitted pages. */
static int warc_offset(crawl_state *s, const char *key, long long *off) {
  char *v = NULL, *stop = NULL;
  int got = crawl_state_get_meta(s, key, &v);
  *off = -1;
  if (got < 0) return state_unreadable(s);
  if (got == 1) {
    errno = 0;
    *off = strtoll(v, &stop, 10);
    if (errno || !*v || *stop || *off < 0) {
      fprintf(stderr, "spindle-crawl: the state %s holds '%s' for %s, which is no offset: refusing to resume\n",
              crawl_state_path(s), v, key);
      free(v);
      return -EACCES;
    }
  }
  free(v);
  return 0;
}

/* Records what defines the crawl and where its WARC ends, before the first
 * request.  0 or an error (said). */
static int record_identity(crawl_engine *e, const char *identity) {
  crawl_state_begin(e->state);
  crawl_state_set_meta(e->state, "options", identity);
  if (e->out.warc) {
    char v[32], t[32];
    snprintf(v, sizeof v, "%lld", crawl_warc_end(e->out.warc));
    snprintf(t, sizeof t, "%lld", crawl_warc_tail(e->out.warc));
    crawl_state_set_meta(e->state, "warc_end", v);
    crawl_state_set_meta(e->state, "warc_tail", t);
  }
  if (crawl_state_commit(e->state) == 0) return 0;
  fprintf(stderr, "spindle-crawl: cannot write the state %s: %s\n", crawl_state_path(e->state),
          crawl_state_error(e->state));
  return -EACCES;
}

/* The state, checked against these options: what resuming means for the
 * outputs into *r; the identity to record into *identity. */
static int open_state(crawl_engine *e, crawl_output_resume *r, char **identity) {
  const crawl_config *cfg = e->cfg;
  e->state = crawl_state_open(cfg->state_dir);
  if (!e->state) return -EACCES; /* it said why */
  int fresh = crawl_state_is_new(e->state);
  long done = crawl_state_pages_done(e->state);
  if (fresh < 0 || done < 0) return state_unreadable(e->state);
  if (!(*identity = crawl_identity(cfg, e->seeds, e->nseeds))) return SP_ENOMEM;
  *r = (crawl_output_resume){e->state, !fresh, done, -1, -1, cfg->force_resume, cfg->quiet};
  if (r->resuming) {
    int rc = check_identity(e, *identity);
    if (!rc) rc = warc_offset(e->state, "warc_end", &r->warc_end);
    if (!rc) rc = warc_offset(e->state, "warc_tail", &r->warc_tail);
    if (rc) return rc;
  }
  e->sum->resumed = r->resuming;
  e->sum->pages_before = done;
  return 0;
}

int crawl_resume_open(crawl_engine *e) {
  const crawl_config *cfg = e->cfg;
  crawl_output_resume r = {.warc_end = -1, .warc_tail = -1, .force = cfg->force_resume, .quiet = cfg->quiet};
  char *identity = NULL;
  int rc = cfg->state_dir ? open_state(e, &r, &identity) : 0;
  e->out.jsonl_path = cfg->output_path;
  e->out.warc_path = cfg->warc_path;
  /* After the state (--stats may name a file in its new directory), and
   * before the outputs, which opening may change. */
  if (rc == 0 && cfg->stats_path && !can_write(cfg->stats_path)) {
    fprintf(stderr, "spindle-crawl: cannot write %s: %s\n", cfg->stats_path, strerror(errno));
    rc = -EACCES;
  }
  if (rc == 0 && crawl_output_open(&e->out, &r) < 0) rc = -EACCES;
  if (rc == 0 && e->state) rc = record_identity(e, identity);
  free(identity);
  return rc;
}
