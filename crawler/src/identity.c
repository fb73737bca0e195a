/* identity.c - the options that define a crawl (see identity.h). */
#include "identity.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A list in sorted order: the seeds, domains and patterns are sets (the
 * order they were given in changes nothing of the crawl). */
static json_t *string_list(char *const *v, size_t n) {
  json_t *a = json_array();
  char **sorted = n ? malloc(n * sizeof *sorted) : NULL;
  if (n && !sorted) {
    json_decref(a);
    return NULL;
  }
  if (n) memcpy(sorted, v, n * sizeof *sorted);
  if (n) qsort(sorted, n, sizeof *sorted, by_string);
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(sorted[i]));
  free(sorted);
  return a;
}

/* An output path as the same file wherever the command is run from. */
static json_t *abs_path(const char *path) {
  if (!path) return json_null();
  if (path[0] == '/' || strcmp(path, "-") == 0) return json_string(path);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return json_string(path);
  size_t n = strlen(cwd) + strlen(path) + 2;
  char *p = malloc(n);
  if (!p) return NULL;
  snprintf(p, n, "%s/%s", cwd, path);
  json_t *j = json_string(p);
  free(p);
  return j;
}

/* The option each field of the identity comes from, in the order they are
 * compared and listed. */
static const struct field {
  const char *key, *option;
} fields[] = {
    {"seeds", "seed URLs"},
    {"allow_domain", "--allow-domain"},
    {"any_host", "--any-host"},
    {"include", "--include"},
    {"exclude", "--exclude"},
    {"max_pages", "--max-pages"},
    {"max_depth", "--max-depth"},
    {"max_bytes", "--max-bytes"},
    {"max_redirects", "--max-redirects"},
    {"robots_agent", "--user-agent (its robots.txt product token)"},
    {"output", "--output"},
    {"warc", "--warc"},
};

char *crawl_identity(const crawl_config *cfg, char *const *seeds, size_t nseeds) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "seeds", string_list(seeds, nseeds));
  json_object_set_new(o, "allow_domain", string_list(cfg->allow_domains, cfg->nallow_domains));
  json_object_set_new(o, "any_host", json_boolean(cfg->any_host));
  json_object_set_new(o, "include", string_list(cfg->include_src, cfg->ninclude));
  json_object_set_new(o, "exclude", string_list(cfg->exclude_src, cfg->nexclude));
  json_object_set_new(o, "max_pages", json_integer(cfg->max_pages));
  json_object_set_new(o, "max_depth", json_integer(cfg->max_depth));
  json_object_set_new(o, "max_bytes", json_integer((json_int_t)cfg->max_bytes));
  json_object_set_new(o, "max_redirects", json_integer(cfg->max_redirects));
  /* The product token, not the whole User-Agent: it decides which rules of
   * robots.txt apply; the rest (a version, a contact URL) may change. */
  json_object_set_new(o, "robots_agent", json_string(cfg->robots_agent));
  json_object_set_new(o, "output", abs_path(cfg->output_path));
  json_object_set_new(o, "warc", abs_path(cfg->warc_path));
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  return s;
}

/* A value as the user wrote it: none, a number, a string, or a list.
 * Limits of 0 pages or -1 levels are no limit. */
static void print_value(FILE *f, const char *key, const json_t *v) {
  if (json_is_integer(v) && (json_integer_value(v) < 0 || (json_integer_value(v) == 0 && !strcmp(key, "max_pages")))) {
    fputs("no limit", f);
    return;
  }
  if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) || json_is_false(v)) {
    fputs("none", f);
  } else if (json_is_true(v)) {
    fputs("yes", f);
  } else if (json_is_integer(v)) {
    fprintf(f, "%lld", (long long)json_integer_value(v));
  } else if (json_is_string(v)) {
    fputs(json_string_value(v), f);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) fprintf(f, "%s%s", i ? " " : "", json_string_value(x) ? json_string_value(x) : "?");
  }
}

int crawl_identity_diff(const char *before, const char *now, FILE *f) {
  json_t *a = json_loads(before, 0, NULL), *b = json_loads(now, 0, NULL);
  int n = 0;
  if (!json_is_object(a) || !json_is_object(b)) {
    fprintf(f, "  the options recorded in the state cannot be read\n");
    n = 1;
  } else {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
      json_t *x = json_object_get(a, fields[i].key), *y = json_object_get(b, fields[i].key);
      if (json_equal(x, y) || (!x && !y)) continue;
      fprintf(f, "  %s: ", fields[i].option);
      print_value(f, fields[i].key, x);
      fputs(" before, ", f);
      print_value(f, fields[i].key, y);
      fputs(" now\n", f);
      n++;
    }
  }
  json_decref(a);
  json_decref(b);
  return n;
}
