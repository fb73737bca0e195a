/* site_fixture.h - the generated demo site (tools/sitegen.c) for the
 * crawler's end-to-end tests: served by nginx on loopback, its hosts named
 * by dnsmasq, and the checks of a crawl against the exact set of pages the
 * generator says it must reach.  Criterion asserts inside. */
#ifndef SPINDLE_TESTS_SITE_FIXTURE_H
#define SPINDLE_TESTS_SITE_FIXTURE_H

#include <stddef.h>

#include "crawler/crawl_harness.h"
#include "io/fixture.h"

typedef struct demo_site {
  fx_server web, dns; /* nginx, and dnsmasq naming the hosts */
  char dir[700];     /* the generator's output: www/, expected.txt ... */
  char work[700];    /* a directory for the crawls' files */
  char dns_arg[64];  /* the value of --dns-server */
  char seed[256];    /* http://h0.demo.test:PORT/ */
  int port;
  int hosts, pages;
} demo_site;

/* Generates a site of pages over hosts h0..h{hosts-1}.demo.test and
 * starts its servers (stopped by fx_stop_all).  Several sites may run at
 * once: each in a directory of its own under the fixture's, on its own
 * port. */
void demo_site_start(demo_site *s, int hosts, int pages);

/* A path in s->work, into buf. */
char *demo_path(const demo_site *s, char *buf, size_t n, const char *name);

/* Asserts that the JSON lines at out are exactly the site's reachable set:
 * every expected page once (200), every broken link once (404), nothing
 * disallowed, nothing else. */
void demo_check_output(const demo_site *s, const char *out);

/* The dedupe keys of the URLs of the output lines with a given status,
 * sorted (the generator's lists are normalised; the output has URLs as
 * found). */
void demo_urls_with_status(const crawl_out *o, long status, strset *s);
/* Asserts that no URL has two lines. */
void demo_check_no_duplicates(const crawl_out *o);

/* Asserts that the WARC at path holds one response for each line of out,
 * and no URI twice. */
void demo_check_warc(const char *path, const char *out);

#endif
