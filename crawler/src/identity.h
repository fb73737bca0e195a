/*
 * identity.h - the options that define a crawl: what it starts from, what
 * it may reach, its limits, the robots.txt product token it goes by, and
 * where its records go.
 * They are recorded in the state (meta "options", a JSON object), and a
 * resume with other ones is refused with the list of what differs: a
 * resumed frontier was built under the old ones, so the new ones would
 * hold only for part of the crawl.  Politeness, concurrency, timeouts and
 * retries may change between runs; they are not part of it.
 */
#ifndef SPINDLE_CRAWL_IDENTITY_H
#define SPINDLE_CRAWL_IDENTITY_H

#include <stdio.h>

#include "crawl.h"

/* The identity of a crawl as a compact JSON object (malloc'd), or NULL out
 * of memory.  seeds: the cleaned seed URLs. */
char *crawl_identity(const crawl_config *cfg, char *const *seeds, size_t nseeds);

/* Prints to f one line for each option that differs between two
 * identities ("  --max-depth: 3 before, 0 now").  Returns how many differ
 * (an identity that is not valid JSON differs as a whole: 1). */
int crawl_identity_diff(const char *before, const char *now, FILE *f);

#endif
