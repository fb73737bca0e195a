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

typedef struct crawl_state crawl_state;

/* Opens (creating) DIR/state.sqlite; NULL with a message on stderr. */
crawl_state *crawl_state_open(const char *dir);
void crawl_state_close(crawl_state *s);

/* Whether the state holds no URL yet (a new crawl). */
bool crawl_state_is_new(crawl_state *s);
/* URLs done with an output line: the pages a resumed crawl has attempted. */
long crawl_state_pages_done(crawl_state *s);

/* Calls seen(arg, key) for every URL ever queued and item(arg, url,
 * referrer, depth, redirects) for those not done, in queue order. */
void crawl_state_load(crawl_state *s, void (*seen)(void *, const char *),
                      void (*item)(void *, const char *, const char *, int, int), void *arg);

/* Appends to the JSON-lines file at path the lines of done URLs it lacks. */
int crawl_state_reconcile(crawl_state *s, const char *path);

/* A page's outcome, between begin and commit: queue new URLs, mark URLs
 * done (line may be NULL: no output line, e.g. disallowed by robots.txt). */
void crawl_state_begin(crawl_state *s);
void crawl_state_queue(crawl_state *s, const char *key, const char *url, const char *referrer, int depth,
                       int redirects);
void crawl_state_done(crawl_state *s, const char *url, const char *line);
int crawl_state_commit(crawl_state *s);

/* Cuts a JSON-lines file back to its last complete line (a killed run may
 * have left half a line).  0 (also when the file does not exist) or -1. */
int crawl_state_repair_jsonl(const char *path);

#endif
