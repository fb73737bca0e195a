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
 *
 * A second table, meta, holds named values of the crawl as a whole: the
 * options that define it (so that a resume with other ones can be refused)
 * and how far the WARC file was committed (so that a resume can cut off
 * records of pages whose transaction never committed).
 *
 * Errors: a statement that fails inside a transaction marks it failed; no
 * later statement of it runs (SQLite may have rolled it back on its own, and
 * would commit each later one alone), and crawl_state_commit rolls back what
 * is left and returns -1: a page is recorded entirely or not at all.
 * crawl_state_error says why (SQLite's message, e.g. "database or disk is
 * full").
 */
#ifndef SPINDLE_CRAWL_STATE_H
#define SPINDLE_CRAWL_STATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct crawl_state crawl_state;

/* Opens (creating) DIR/state.sqlite and checks it (PRAGMA quick_check): a
 * damaged database is refused.  NULL with a message on stderr that names
 * the file and the cause. */
crawl_state *crawl_state_open(const char *dir);
/* A database for the frontier alone, for a crawl without DIR: a file in
 * $TMPDIR (else /tmp), unlinked at once, no journal.  Only
 * crawl_state_queue and crawl_state_pending are used on it. */
crawl_state *crawl_state_open_spill(void);
void crawl_state_close(crawl_state *s);

/* The database's path, for messages. */
const char *crawl_state_path(const crawl_state *s);
/* Why the last failed call failed ("" if none did). */
const char *crawl_state_error(const crawl_state *s);

/* Whether the state holds no URL yet (a new crawl); -1 if it cannot be read. */
int crawl_state_is_new(crawl_state *s);
/* URLs done with an output line: the pages a resumed crawl has attempted;
 * -1 if it cannot be read. */
long crawl_state_pages_done(crawl_state *s);

/* A queued URL: as found, referrer, depth, redirect hops, its host key
 * ("scheme://host:port"; NULL in rows of an older spindle-crawl) and its
 * place in the queue (seq, increasing). */
typedef void (*crawl_state_item_fn)(void *arg, const char *url, const char *referrer, int depth, int redirects,
                                    const char *host, int64_t seq);

/* Calls seen(arg, key) for every URL ever queued and item() for those not
 * done, in queue order.  0, or -1 if the table could not be read to its end
 * (see crawl_state_error). */
int crawl_state_load(crawl_state *s, void (*seen)(void *, const char *), crawl_state_item_fn item, void *arg);

/* Pages the frontier in: calls item() for up to limit URLs of host not done
 * whose seq is above after, in queue order.  Returns how many, or -1. */
long crawl_state_pending(crawl_state *s, const char *host, int64_t after, long limit, crawl_state_item_fn item,
                         void *arg);

/* Calls line(arg, url, line) for every URL done with an output line, in
 * queue order.  0, or -1 if the table could not be read to its end. */
int crawl_state_each_line(crawl_state *s, void (*line)(void *, const char *, const char *), void *arg);

/* A page's outcome, between begin and commit: queue new URLs, mark URLs
 * done (line may be NULL: no output line, e.g. disallowed by robots.txt).
 * Begin and commit nest: only the outermost pair opens and commits. */
void crawl_state_begin(crawl_state *s);
/* Returns the new URL's seq, 0 if its key was there already, -1 on error
 * (the transaction is then failed). */
int64_t crawl_state_queue(crawl_state *s, const char *key, const char *url, const char *referrer, int depth,
                          int redirects, const char *host);
/* 0, or -1 on error (the transaction is then failed). */
int crawl_state_done(crawl_state *s, const char *url, const char *line);
/* Sets meta value key; 0, or -1 (the transaction is then failed).  Outside
 * a transaction it is committed at once. */
int crawl_state_set_meta(crawl_state *s, const char *key, const char *value);
/* *value (malloc'd) of meta key: 1 if set, 0 if not (*value NULL), -1 on
 * error. */
int crawl_state_get_meta(crawl_state *s, const char *key, char **value);
/* Whether a transaction is open in SQLite (for the frontier file's
 * lifelong one: false once SQLite rolled it back after a full disk). */
bool crawl_state_in_transaction(crawl_state *s);
/* Fails the open transaction for a reason outside SQLite (what had to be
 * recorded with it could not be): nothing more of it runs, and the commit
 * rolls it back.  why becomes crawl_state_error's, unless a statement
 * failed first. */
void crawl_state_fail(crawl_state *s, const char *why);
/* Commits the outermost transaction: 0; or -1 if it or any statement in it
 * failed, and then nothing of it was recorded (it is rolled back).  An inner
 * commit commits nothing: 0, or -1 if the transaction has failed so far. */
int crawl_state_commit(crawl_state *s);

#endif
