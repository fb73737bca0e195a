/*
 * warc.h - WARC 1.1 output: one gzip member per record, request and response
 * records with WARC-Block-Digest and WARC-Payload-Digest (sha1, base32), as
 * standard WARC tools (warcio, wget --warc-file) read them.
 *
 * Crash safety: each fetch (its request and response records, two gzip
 * members) reaches the file through one write() loop, and a failed write is
 * cut back off the file, so a killed process leaves at most one partial
 * fetch at the end, which crawl_warc_open removes when the crawl resumes.
 *
 * Thread safety: one crawl_warc may be used from several threads or tasks at
 * once.  Records are compressed by the calling thread; only the write itself
 * is serialised (a pthread mutex held for the write() calls, never across a
 * park), so the records of one fetch are adjacent in the file.
 */
#ifndef SPINDLE_CRAWL_WARC_H
#define SPINDLE_CRAWL_WARC_H

#include <stddef.h>
#include <stdint.h>

typedef struct crawl_warc crawl_warc;

/* What the body passed to crawl_warc_write_fetch is, relative to the
 * response headers passed with it. */
enum crawl_warc_body {
  /* Exactly as on the wire (chunked and/or content-encoded as the headers
   * say): header block and body are stored unchanged. */
  CRAWL_WARC_RAW = 0,
  /* The entity decoded (no transfer coding, no content coding: what
   * libcurl delivers with CURLOPT_ACCEPT_ENCODING set): Content-Encoding,
   * Transfer-Encoding and Content-Length are replaced by a Content-Length of
   * the body as stored. */
  CRAWL_WARC_DECODED = 1,
  /* Transfer coding removed, content coding kept (libcurl's body without
   * CURLOPT_ACCEPT_ENCODING): Transfer-Encoding and Content-Length are
   * replaced by a Content-Length of the body; Content-Encoding stays. */
  CRAWL_WARC_DECHUNKED = 2,
};

/* Opens path for appending (a resumed crawl appends).  An existing file is
 * scanned member by member first (it is inflated once, start to end): a
 * file that ends in a partial or corrupt gzip member from a killed run is
 * truncated back to its last complete member, and a request record left at
 * the end without its response goes too (the resumed crawl fetches that URL
 * again).  With committed >= 0 (the end of the file as a crawl's state last
 * recorded it, see crawl_warc_append), the file is cut back to exactly
 * there instead: a member must end at committed, and everything after it
 * goes, complete records too, since their pages were never recorded as
 * done.  committed = -1: no such end is known.  With tail >= 0 as well
 * (where the records that end at committed start: crawl_warc_tail when the
 * state recorded committed), the file is not scanned: only those records
 * and the first one (the warcinfo) are read, so that a resume costs the
 * same whatever the file's size; damage before tail, which no kill causes,
 * goes unseen then.  tail = -1: the whole file is scanned.
 * Writes a warcinfo record (software, e.g. "spindle-crawl/VERSION";
 * NULL: "spindle-crawl") when the file is new or has no warcinfo first; a
 * resumed file's records refer to its existing warcinfo.  Holds an
 * exclusive flock() on the file while open.
 * NULL with errno on failure: EINVAL (bad arguments, or an existing file
 * that is not a gzip WARC: it is left untouched), EBADMSG (damage before
 * the last record, which no crash causes: left untouched too, as cutting
 * there would lose the records after it), ERANGE (no member ends at
 * committed: the file is shorter than the state says, or another file;
 * left untouched), EWOULDBLOCK (another crawl_warc has the file open),
 * ENOMEM, EIO (libcrypto or zlib failed), or the errno of
 * open/read/ftruncate/write. */
crawl_warc *crawl_warc_open(const char *path, const char *software, long long committed, long long tail);

/* One fetch: the request as sent (request line and headers) and the
 * response as received (status line and headers), then the body, described
 * by `decoded` (enum crawl_warc_body; when not CRAWL_WARC_RAW, 1xx interim
 * header blocks before the final one are dropped too).  Header blocks
 * lacking their terminating blank line get one.  Writes a request record
 * and a response record, each naming the other in WARC-Concurrent-To, both
 * with WARC-Target-URI, WARC-Date (now, UTC, second precision as WARC 1.1
 * allows), WARC-Warcinfo-ID, and WARC-IP-Address when ip is not NULL/"".
 * The response's WARC-Payload-Digest covers the body as stored.
 * Returns 0 or -errno: -EINVAL (NULL or empty url or header blocks, a url
 * with spaces or control characters, ip not an IPv4/IPv6 address, body
 * NULL with body_len > 0, decoded not one of enum crawl_warc_body),
 * -ENOMEM, -EIO (libcrypto or zlib, or the file could not be restored after
 * a failed write: every later call fails too), or write()'s errno (the
 * file is cut back to its previous end, so a later call may succeed). */
int crawl_warc_write_fetch(crawl_warc *w, const char *url, const char *ip,
                           const char *request, size_t request_len,
                           const char *resp_headers, size_t resp_headers_len,
                           const char *body, size_t body_len, int decoded);

/* The same in two steps, so that a caller can compress outside its own
 * locks and order the appends itself (spindle-crawl appends under the lock
 * that orders its state commits, so that the committed end covers exactly
 * the committed pages).  crawl_warc_build_fetch checks and compresses into
 * *out (0, or -EINVAL/-ENOMEM/-EIO as above); crawl_warc_append writes
 * them and sets *end (if not NULL) to the file's end after them, also on
 * failure (then the end before them); crawl_warc_records_free frees. */
typedef struct crawl_warc_records crawl_warc_records;
int crawl_warc_build_fetch(crawl_warc *w, const char *url, const char *ip,
                           const char *request, size_t request_len,
                           const char *resp_headers, size_t resp_headers_len,
                           const char *body, size_t body_len, int decoded,
                           crawl_warc_records **out);
int crawl_warc_append(crawl_warc *w, const crawl_warc_records *r, long long *end);
void crawl_warc_records_free(crawl_warc_records *r);

/* The file's end after the last complete append; -1 for NULL. */
long long crawl_warc_end(crawl_warc *w);
/* Where the records of the last complete append (or the file's last kept
 * fetch, or its warcinfo) start: with crawl_warc_end, what lets a resume
 * skip the scan; -1 for NULL. */
long long crawl_warc_tail(crawl_warc *w);
/* Cuts the file back to end, tail (an earlier crawl_warc_end and
 * crawl_warc_tail): what a caller does with records whose page it could not
 * record.  0, -EINVAL, or -EIO (then every later call fails too). */
int crawl_warc_cut(crawl_warc *w, long long end, long long tail);

/* Bytes that crawl_warc_open cut off the end of an existing file (a partial
 * record, an orphaned request, records past committed); 0 for a new or
 * intact file. */
long long crawl_warc_dropped(const crawl_warc *w);

/* Flushes (fdatasync) and closes; frees w in every case.  0 or -errno. */
int crawl_warc_close(crawl_warc *w);

#endif
