/*
 * spindle-crawl - a fast, polite, resumable parallel web crawler on spindle.
 *
 * Exit status (crawl.h, CRAWL_EXIT_*): 0 when the crawl ran (pages that
 * failed are in the output and the summary); 1 for a local error (the
 * state or an output could not be opened or written); 2 on bad usage; 3
 * with --fail-on-error when some pages failed; 4 when nothing could be
 * fetched at all; 130 when stopped by SIGINT.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spindle/spindle.h>

#include "crawl.h"
#include "robots.h"
#include "url.h"

static void usage(FILE *f) {
  fputs("usage: spindle-crawl [options] URL...\n"
        "       spindle-crawl --robots-check ROBOTS_FILE [--user-agent UA] URL...\n"
        "\n"
        "Crawls breadth-first from the seed URLs, within the seeds' hosts unless told\n"
        "otherwise, obeying robots.txt, and writes one JSON object per URL attempted.\n"
        "\n"
        "Scope and limits:\n"
        "  --allow-domain D     also crawl host D and its subdomains (repeatable)\n"
        "  --any-host           crawl any host\n"
        "  --include RE         only URLs matching this POSIX extended regex (repeatable;\n"
        "                       matched against the normalised URL: see --normalize)\n"
        "  --exclude RE         never URLs matching this regex (repeatable)\n"
        "  --max-pages N        attempt at most N pages (exact; default: no limit)\n"
        "  --max-depth N        follow links at most N deep from a seed (default: no limit)\n"
        "  --max-bytes N        body bytes per page after decoding, K/M/G suffixes (default 10M)\n"
        "  --max-time SEC       stop dispatching after SEC seconds (default: none)\n"
        "  --max-redirects N    redirect hops followed per URL (default 5)\n"
        "Politeness:\n"
        "  --user-agent UA      User-Agent header; its product token is matched in\n"
        "                       robots.txt (default spindle/" CRAWL_VERSION ")\n"
        "  --per-host N         transfers in flight per host (default 4)\n"
        "  --delay SEC          minimum seconds between requests to a host (default 0;\n"
        "                       robots.txt Crawl-delay raises it)\n"
        "Network:\n"
        "  --concurrency N      transfers in flight in all (default 64)\n"
        "  --workers N          worker threads (default: one per CPU)\n"
        "  --timeout SEC        per request (default 30)\n"
        "  --retries N          retries of timeouts, failed connections and 5xx (default 2)\n"
        "  --dns-server IP[:PORT][,...]  DNS servers (default: /etc/resolv.conf)\n"
        "  --resolve HOST:PORT:ADDR      use ADDR for HOST:PORT, as curl (repeatable)\n"
        "  --header 'NAME: VALUE'        extra request header (repeatable)\n"
        "  --insecure           do not verify TLS certificates\n"
        "Output:\n"
        "  --output FILE        JSON lines, one per URL attempted ('-': stdout)\n"
        "  --warc FILE          WARC 1.1 records (gzip per record), e.g. crawl.warc.gz\n"
        "  --state DIR          keep the crawl's state in DIR: run the same command\n"
        "                       again after an interruption to resume\n"
        "  --frontier-memory N  hold at most N queued URLs in memory; the rest wait\n"
        "                       on disk, in DIR with --state, else in a temporary\n"
        "                       file in $TMPDIR (default 100000)\n"
        "  --stats FILE         the final summary as JSON\n"
        "  --force-resume       resume a --state crawl even though the options that define\n"
        "                       it (seeds, scope, limits, user agent, outputs) changed, or\n"
        "                       its outputs hold less than the state says\n"
        "  --quiet              no status line, no summary\n"
        "  --progress           the status line even when stderr is not a terminal\n"
        "                       (then as a plain line each second, for a log)\n"
        "  --fail-on-error      exit 3 when some pages failed (no response, or 5xx after\n"
        "                       the retries) or a host could not be reached\n"
        "Other:\n"
        "  --normalize          print the dedupe key of each URL (or of each line of\n"
        "                       stdin for '-') and exit\n"
        "  --robots-check FILE  print 'allowed' or 'disallowed' for each URL under the\n"
        "                       robots.txt in FILE for --user-agent, and exit\n"
        "  --help, --version\n"
        "\n"
        "Exit status: 0 the crawl ran; 1 a local error (the state or an output could\n"
        "not be opened, read or written: run the same command again to resume once\n"
        "fixed); 2 bad usage, or a --state crawl resumed with other options; 3 some\n"
        "pages failed (only with --fail-on-error); 4 nothing could be fetched (no\n"
        "HTTP response at all: DNS, connection or TLS failures); 130 SIGINT.\n",
        f);
}

static int bad(const char *fmt, const char *arg) {
  fprintf(stderr, "spindle-crawl: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'spindle-crawl --help'.\n");
  return 2;
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double min, double max, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || *end || errno || !(v >= min && v <= max)) return -1;
  *out = v;
  return 0;
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (!*s || errno || *s == '-') return -1;
  unsigned long long mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
  else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
  else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
  if (*end || v == 0 || v > (1ull << 40) / mul) return -1;
  *out = (size_t)(v * mul);
  return 0;
}

/* Appends s to a NULL-terminated array. */
static int push(char ***arr, size_t *n, char *s) {
  char **p = realloc(*arr, (*n + 2) * sizeof *p);
  if (!p) return -1;
  p[(*n)++] = s;
  p[*n] = NULL;
  *arr = p;
  return 0;
}

static int push_regex(regex_t **arr, char ***src, size_t *n, char *re, const char *opt) {
  regex_t *p = realloc(*arr, (*n + 1) * sizeof *p);
  if (!p) return -1;
  *arr = p;
  char **q = realloc(*src, (*n + 1) * sizeof *q);
  if (!q) return -1;
  *src = q;
  q[*n] = re;
  int rc = regcomp(&p[*n], re, REG_EXTENDED | REG_NOSUB);
  if (rc) {
    char msg[256];
    regerror(rc, &p[*n], msg, sizeof msg);
    fprintf(stderr, "spindle-crawl: bad %s regex '%s': %s\n", opt, re, msg);
    return -2;
  }
  (*n)++;
  return 0;
}

/* The robots.txt product token of a User-Agent (robots.h). */
static char *product_token(const char *ua) { return strndup(ua, crawl_robots_token_len(ua)); }

static int robots_check(const char *file, const char *ua, char **urls, int n) {
  FILE *f = fopen(file, "rb");
  if (!f) {
    fprintf(stderr, "spindle-crawl: cannot read %s: %s\n", file, strerror(errno));
    return 1;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 65536) {
      char *p = realloc(buf, cap += 65536);
      if (!p) {
        fclose(f);
        free(buf);
        fprintf(stderr, "spindle-crawl: out of memory\n");
        return 1;
      }
      buf = p;
    }
    size_t r = fread(buf + len, 1, cap - len, f);
    if (!r) break;
    len += r;
  }
  fclose(f);
  char *token = product_token(ua);
  crawl_robots *rules = crawl_robots_parse(buf ? buf : "", len, token);
  free(buf);
  if (!rules || !token) {
    fprintf(stderr, "spindle-crawl: out of memory\n");
    free(token);
    return 1;
  }
  int bad = 0;
  for (int i = 0; i < n; i++) {
    char *path = NULL; /* path and query, as the crawler matches them */
    if (crawl_url_split(urls[i], NULL, NULL, NULL, &path) != 0) {
      fprintf(stderr, "spindle-crawl: not an absolute http(s) URL: %s\n", urls[i]);
      bad = 1;
      continue;
    }
    printf("%s %s\n", crawl_robots_allowed(rules, path) ? "allowed" : "disallowed", urls[i]);
    free(path);
  }
  crawl_robots_free(rules);
  free(token);
  return bad;
}

static int print_key(const char *url) {
  char *key = NULL;
  if (crawl_url_normalize(url, &key) != 0) {
    fprintf(stderr, "spindle-crawl: not an absolute http(s) URL: %s\n", url);
    return 1;
  }
  printf("%s\n", key);
  free(key);
  return 0;
}

static int normalize(char **urls, int n) {
  int bad = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(urls[i], "-") != 0) {
      bad |= print_key(urls[i]);
      continue;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
      while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
      if (len) bad |= print_key(line);
    }
    free(line);
  }
  return bad;
}

/* Whether s may go into a request header as it is: no control characters
 * but HTAB (RFC 9110 5.5), so no CR or LF that would start another header
 * or request.  Checked here so that bad input ends with a message before
 * anything is sent; the HTTP layer refuses it too. */
static bool field_value_ok(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p < 0x20 && *p != '\t') || *p == 0x7f) return false;
  return true;
}

/* "Name: value" with a token for a name (RFC 9110 5.6.2). */
static bool header_ok(const char *h) {
  static const char tchar[] = "!#$%&'*+-.^_`|~";
  const char *colon = strchr(h, ':');
  if (!colon || colon == h) return false;
  for (const char *p = h; p < colon; p++)
    if (!isalnum((unsigned char)*p) && !strchr(tchar, *p)) return false;
  return field_value_ok(colon + 1);
}

/* Whether s is a list of IP addresses, as --resolve's ADDR: "a[,b...]",
 * an IPv6 one bare or in brackets. */
static bool ip_list_ok(const char *s) {
  for (;;) {
    size_t n = strcspn(s, ",");
    char ip[64];
    if (n == 0 || n >= sizeof ip) return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    char *a = ip;
    if (a[0] == '[' && a[n - 1] == ']') {
      a[n - 1] = '\0';
      a++;
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, a, buf) != 1 && inet_pton(AF_INET6, a, buf) != 1) return false;
    if (!s[n]) return true;
    s += n + 1;
  }
}

static volatile sig_atomic_t sigints;

static void on_sigint(int sig) {
  (void)sig;
  if (sigints++) _exit(130); /* the second one: at once */
  crawl_request_stop();
  static const char msg[] = "\nspindle-crawl: stopping: finishing the transfers in flight (^C again to quit now)\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void)r;
}

enum {
  O_ALLOW = 256, O_ANY, O_INCLUDE, O_EXCLUDE, O_MAXPAGES, O_MAXDEPTH, O_MAXBYTES, O_MAXTIME, O_MAXREDIR, O_UA,
  O_PERHOST, O_DELAY, O_CONC, O_WORKERS, O_TIMEOUT, O_RETRIES, O_DNS, O_RESOLVE, O_HEADER, O_INSECURE, O_OUTPUT,
  O_WARC, O_STATE, O_STATS, O_QUIET, O_PROGRESS, O_ROBOTS, O_HELP, O_VERSION, O_NORMALIZE, O_FRONTIER,
  O_FORCE_RESUME, O_FAIL_ON_ERROR
};

static const struct option options[] = {
    {"allow-domain", required_argument, 0, O_ALLOW}, {"any-host", no_argument, 0, O_ANY},
    {"include", required_argument, 0, O_INCLUDE},    {"exclude", required_argument, 0, O_EXCLUDE},
    {"max-pages", required_argument, 0, O_MAXPAGES}, {"max-depth", required_argument, 0, O_MAXDEPTH},
    {"max-bytes", required_argument, 0, O_MAXBYTES}, {"max-time", required_argument, 0, O_MAXTIME},
    {"max-redirects", required_argument, 0, O_MAXREDIR}, {"user-agent", required_argument, 0, O_UA},
    {"per-host", required_argument, 0, O_PERHOST},   {"delay", required_argument, 0, O_DELAY},
    {"concurrency", required_argument, 0, O_CONC},   {"workers", required_argument, 0, O_WORKERS},
    {"timeout", required_argument, 0, O_TIMEOUT},    {"retries", required_argument, 0, O_RETRIES},
    {"dns-server", required_argument, 0, O_DNS},     {"resolve", required_argument, 0, O_RESOLVE},
    {"header", required_argument, 0, O_HEADER},      {"insecure", no_argument, 0, O_INSECURE},
    {"output", required_argument, 0, O_OUTPUT},      {"warc", required_argument, 0, O_WARC},
    {"state", required_argument, 0, O_STATE},        {"stats", required_argument, 0, O_STATS},
    {"quiet", no_argument, 0, O_QUIET},              {"progress", no_argument, 0, O_PROGRESS},
    {"robots-check", required_argument, 0, O_ROBOTS}, {"help", no_argument, 0, O_HELP},
    {"version", no_argument, 0, O_VERSION},          {"normalize", no_argument, 0, O_NORMALIZE},
    {"frontier-memory", required_argument, 0, O_FRONTIER},
    {"force-resume", no_argument, 0, O_FORCE_RESUME}, {"fail-on-error", no_argument, 0, O_FAIL_ON_ERROR},
    {0, 0, 0, 0},
};

int main(int argc, char **argv) {
  /* static: what the options allocated stays reachable when a usage error
   * returns early, so LeakSanitizer does not turn exit 2 into 1 */
  static crawl_config cfg;
  crawl_config_init(&cfg);
  cfg.user_agent = "spindle/" CRAWL_VERSION;
  const char *robots_file = NULL;
  bool normalize_only = false, fail_on_error = false;
  size_t nheaders = 0, nresolve = 0;
  long l;
  int c, rc;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    const char *a = optarg;
    switch (c) {
    case O_ALLOW:
      if (push(&cfg.allow_domains, &cfg.nallow_domains, optarg)) return 1;
      break;
    case O_ANY: cfg.any_host = true; break;
    case O_INCLUDE:
      if ((rc = push_regex(&cfg.include, &cfg.include_src, &cfg.ninclude, optarg, "--include")))
        return rc == -2 ? 2 : 1;
      break;
    case O_EXCLUDE:
      if ((rc = push_regex(&cfg.exclude, &cfg.exclude_src, &cfg.nexclude, optarg, "--exclude")))
        return rc == -2 ? 2 : 1;
      break;
    case O_MAXPAGES:
      if (parse_long(a, 1, 1L << 40, &l)) return bad("--max-pages wants a positive number, not '%s'", a);
      cfg.max_pages = l;
      break;
    case O_MAXDEPTH:
      if (parse_long(a, 0, 1000000, &l)) return bad("--max-depth wants a number >= 0, not '%s'", a);
      cfg.max_depth = (int)l;
      break;
    case O_MAXBYTES:
      if (parse_size(a, &cfg.max_bytes)) return bad("--max-bytes wants a size such as 500K or 10M, not '%s'", a);
      break;
    case O_MAXTIME:
      if (parse_double(a, 0.001, 1e9, &cfg.max_time_s)) return bad("--max-time wants seconds > 0, not '%s'", a);
      break;
    case O_MAXREDIR:
      if (parse_long(a, 0, 100, &l)) return bad("--max-redirects wants 0-100, not '%s'", a);
      cfg.max_redirects = (int)l;
      break;
    case O_UA:
      if (!*a) return bad("--user-agent must not be empty%s", "");
      if (!crawl_robots_token_len(a))
        return bad("--user-agent must begin with a product token (letters, '-', '_'), which robots.txt names "
                   "(RFC 9309 2.2.1), not '%s'", a);
      if (!field_value_ok(a))
        return bad("--user-agent must not hold control characters (CR, LF...): '%s' would inject headers", a);
      cfg.user_agent = a;
      break;
    case O_PERHOST:
      if (parse_long(a, 1, 10000, &l)) return bad("--per-host wants 1-10000, not '%s'", a);
      cfg.per_host = (unsigned)l;
      break;
    case O_DELAY:
      if (parse_double(a, 0, 86400, &cfg.delay_s)) return bad("--delay wants seconds (0-86400), not '%s'", a);
      break;
    case O_CONC:
      if (parse_long(a, 1, 100000, &l)) return bad("--concurrency wants 1-100000, not '%s'", a);
      cfg.concurrency = (unsigned)l;
      break;
    case O_WORKERS:
      if (parse_long(a, 1, 1024, &l)) return bad("--workers wants 1-1024, not '%s'", a);
      cfg.workers = (unsigned)l;
      break;
    case O_TIMEOUT:
      if (parse_double(a, 0.001, 86400, &cfg.timeout_s)) return bad("--timeout wants seconds > 0, not '%s'", a);
      break;
    case O_RETRIES:
      if (parse_long(a, 0, 100, &l)) return bad("--retries wants 0-100, not '%s'", a);
      cfg.retries = (int)l;
      break;
    case O_DNS: cfg.dns_servers = a; break;
    case O_RESOLVE: {
      /* HOST:PORT:ADDR, ADDR possibly an [IPv6] or a list */
      const char *p1 = strchr(a, ':');
      const char *p2 = p1 ? strchr(p1 + 1, ':') : NULL;
      if (!p1 || !p2 || p1 == a || p2 == p1 + 1 || !p2[1] || parse_long(strndupa(p1 + 1, (size_t)(p2 - p1 - 1)), 1, 65535, &l))
        return bad("--resolve wants HOST:PORT:ADDR, not '%s'", a);
      if (!ip_list_ok(p2 + 1)) return bad("--resolve wants IP addresses after HOST:PORT:, not '%s'", a);
      if (!field_value_ok(a)) return bad("--resolve must not hold control characters: '%s'", a);
      if (push(&cfg.resolve, &nresolve, optarg)) return 1;
      break;
    }
    case O_HEADER:
      if (!header_ok(a))
        return bad("--header wants 'Name: value', a name of letters, digits and !#$%%&'*+-.^_`|~ and a value "
                   "without control characters (CR, LF...), not '%s'", a);
      if (push(&cfg.headers, &nheaders, optarg)) return 1;
      break;
    case O_INSECURE: cfg.insecure = true; break;
    case O_OUTPUT: cfg.output_path = a; break;
    case O_WARC: cfg.warc_path = a; break;
    case O_STATE: cfg.state_dir = a; break;
    case O_FRONTIER:
      if (parse_long(a, 1, 1L << 40, &l)) return bad("--frontier-memory wants a positive number, not '%s'", a);
      cfg.frontier_memory = l;
      break;
    case O_STATS: cfg.stats_path = a; break;
    case O_FORCE_RESUME: cfg.force_resume = true; break;
    case O_FAIL_ON_ERROR: fail_on_error = true; break;
    case O_QUIET: cfg.quiet = true; break;
    case O_PROGRESS: cfg.progress = true; break;
    case O_ROBOTS: robots_file = a; break;
    case O_NORMALIZE: normalize_only = true; break;
    case O_HELP: usage(stdout); return 0;
    case O_VERSION: printf("spindle-crawl %s\n", CRAWL_VERSION); return 0;
    default:
      if (optopt && optopt < 256) return bad("unknown option '-%c'", (char[]){(char)optopt, 0});
      return bad("unknown option or missing argument: '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  if (normalize_only) return normalize(argv + optind, argc - optind);
  if (robots_file) return robots_check(robots_file, cfg.user_agent, argv + optind, argc - optind);

  cfg.seeds = argv + optind;
  cfg.nseeds = (size_t)(argc - optind);
  for (size_t i = 0; i < cfg.nseeds; i++)
    if (!field_value_ok(cfg.seeds[i]) || strchr(cfg.seeds[i], '\t'))
      return bad("a seed URL must not hold control characters (CR, LF, TAB...): '%s'", cfg.seeds[i]);
  cfg.robots_agent = product_token(cfg.user_agent);
  if (!cfg.robots_agent) return 1;
  if (!cfg.quiet && strlen(cfg.robots_agent) != strcspn(cfg.user_agent, "/ \t"))
    fprintf(stderr, "spindle-crawl: note: robots.txt rules for '%s' apply, the product token of --user-agent '%s' "
                    "(letters, '-' and '_' only: RFC 9309 2.2.1)\n", cfg.robots_agent, cfg.user_agent);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);

  crawl_summary sum;
  rc = crawl_run(&cfg, &sum);
  /* A bad seed, --dns-server, or other options than the state's: it said
   * which.  Nothing ran. */
  if (rc && rc != -EIO) return crawl_exit_status(rc, &sum, fail_on_error, false);
  if (!cfg.quiet) {
    crawl_print_summary(&sum, stderr);
    if (cfg.output_path && strcmp(cfg.output_path, "-") != 0) fprintf(stderr, "  output: %s\n", cfg.output_path);
    if (cfg.warc_path) fprintf(stderr, "  WARC: %s\n", cfg.warc_path);
    if (cfg.state_dir) fprintf(stderr, "  state: %s\n", cfg.state_dir);
  }
  if (cfg.stats_path && crawl_write_stats(&sum, cfg.stats_path) != 0) {
    fprintf(stderr, "spindle-crawl: cannot write %s\n", cfg.stats_path);
    return 1;
  }
  free(cfg.robots_agent);
  free(cfg.allow_domains);
  free(cfg.headers);
  free(cfg.resolve);
  for (size_t i = 0; i < cfg.ninclude; i++) regfree(&cfg.include[i]);
  for (size_t i = 0; i < cfg.nexclude; i++) regfree(&cfg.exclude[i]);
  free(cfg.include);
  free(cfg.exclude);
  free(cfg.include_src);
  free(cfg.exclude_src);
  /* -EIO: crawled, but the state or an output failed: it said which */
  return crawl_exit_status(rc, &sum, fail_on_error, sigints > 0);
}
