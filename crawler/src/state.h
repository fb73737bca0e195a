/*
 * state.h - a crawl's state in SQLite (--state DIR), so that a crawl killed
 * at any moment (kill -9) resumes where it was.
 *
 * One table holds every URL ever queued (its normalised key, the URL as
 * found, referrer, depth, redirect hops), whether it is done, and, once done,
 * its output line.  A page's outcome - its new links queued, itself marked
 * done with its line - is one transaction, committed before the line is
 * written to the output file.  So after a kill: a URL is done exactly when
 * its transaction committed; resuming re-appends the lines of done URLs that
 * the output file lacks (killed between commit and write), loads every key
 * into the seen set and every URL not done into the frontier.  WAL mode with
 * synchronous=OFF: a killed process loses nothing committed (the kernel has
 * it); only a power failure could.
 */
#ifndef SPINDLE_CRAWL_STATE_H
#define SPINDLE_CRAWL_STATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct crawl_state crawl_state;

/* Opens (creating) DIR/state.sqlite; NULL with a message on stderr. */
crawl_state *crawl_state_open(const char *dir);
/* A database for the frontier alone, for a crawl without DIR: a file in
 * $TMPDIR (else /tmp), unlinked at once, no journal.  Only
 * crawl_state_queue and crawl_state_pending are used on it. */
crawl_state *crawl_state_open_spill(void);
void crawl_state_close(crawl_state *s);

/* Whether the state holds no URL yet (a new crawl). */
bool crawl_state_is_new(crawl_state *s);
/* URLs done with an output line: the pages a resumed crawl has attempted. */
long crawl_state_pages_done(crawl_state *s);

/* A queued URL: as found, referrer, depth, redirect hops, its host key
 * ("scheme://host:port"; NULL in rows of an older spindle-crawl) and its
 * place in the queue (seq, increasing). */
typedef void (*crawl_state_item_fn)(void *arg, const char *url, const char *referrer, int depth, int redirects,
                                    const char *host, int64_t seq);

/* Calls seen(arg, key) for every URL ever queued and item() for those not
 * done, in queue order. */
void crawl_state_load(crawl_state *s, void (*seen)(void *, const char *), crawl_state_item_fn item, void *arg);

/* Pages the frontier in: calls item() for up to limit URLs of host not done
 * whose seq is above after, in queue order.  Returns how many, or -1. */
long crawl_state_pending(crawl_state *s, const char *host, int64_t after, long limit, crawl_state_item_fn item,
                         void *arg);

/* Appends to the JSON-lines file at path the lines of done URLs it lacks. */
int crawl_state_reconcile(crawl_state *s, const char *path);

/* A page's outcome, between begin and commit: queue new URLs, mark URLs
 * done (line may be NULL: no output line, e.g. disallowed by robots.txt). */
void crawl_state_begin(crawl_state *s);
/* Returns the new URL's seq, 0 if its key was there already. */
int64_t crawl_state_queue(crawl_state *s, const char *key, const char *url, const char *referrer, int depth,
                          int redirects, const char *host);
void crawl_state_done(crawl_state *s, const char *url, const char *line);
int crawl_state_commit(crawl_state *s);

/* Cuts a JSON-lines file back to its last complete line (a killed run may
 * have left half a line).  0 (also when the file does not exist) or -1. */
int crawl_state_repair_jsonl(const char *path);

#endif
