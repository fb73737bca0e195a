/* tests/io/fixture.h - real servers on loopback for the io/ tests.
 *
 * The io/ tests talk to real servers, started and stopped by the test
 * itself: nginx (/usr/sbin/nginx), dnsmasq (/usr/sbin/dnsmasq, Debian
 * package dnsmasq-base) and the fault server (tests/io/fault_server.c, built
 * as build/bin/fault-server).  tools/setup.sh installs nginx and dnsmasq.
 *
 * Plain C with fork/exec/waitpid: no Criterion and no spindle calls, so the
 * functions work whether or not a spindle runtime runs in the process.  They
 * block (for at most about 10 s), so a test inside a spindle task blocks its
 * worker while it starts a server; start servers before sp_run, or in a
 * Criterion .init, where that matters.  They are thread-safe.
 *
 * Every server gets its own directory inside fx_tmpdir() (a fresh directory
 * under $TMPDIR or /tmp, one per process): its configuration, logs and pid
 * and temp files live there, so nothing outside it is touched, also as root.
 *
 * Cleanup: the first start registers fx_stop_all with atexit, which stops
 * every server this process started and removes fx_tmpdir(), also when a
 * test fails through an assertion (Criterion exits the test's process).
 * Criterion forks one process per test: servers belong to the process that
 * started them, and a forked child neither stops them nor removes their
 * directory.  Servers started on the process's main thread also get
 * PR_SET_PDEATHSIG (SIGTERM), so they die with the test process even when
 * atexit handlers do not run: a crash, a kill at a timeout, or _exit (as
 * tests/tsan/runner.c ends each test: call fx_stop_all in a .fini there).
 * Such a process leaves its directory behind; the next process that creates
 * one removes those of its user whose owner is gone (each holds a flock()ed
 * .lock while its process lives) and that are older than 30 s.
 *
 * All functions return 0 on success; on failure -1, after printing what
 * went wrong to stderr (with the tail of the server's logs).
 */
#ifndef SPINDLE_TESTS_IO_FIXTURE_H
#define SPINDLE_TESTS_IO_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct fx_server {
  pid_t pid;      /* the server process; 0 for fx_dead_udp_port */
  int port;       /* its port on ip (TCP; UDP and TCP for dnsmasq) */
  char ip[16];    /* "127.0.0.1" */
  int fd;         /* fx_dead_udp_port's socket; -1 otherwise */
  char dir[512];  /* its directory inside fx_tmpdir(); "" for fx_dead_udp_port */
  char log[512];  /* its log: nginx's error log, dnsmasq's log (--log-queries),
                   * the fault server's stderr; "" for fx_dead_udp_port */
} fx_server;

/* The process's temp directory (created on first use, mode 0700), or NULL
 * with a message on stderr.  fx_stop_all removes it with everything in it;
 * a test may keep its own files there (fx_write_file). */
const char *fx_tmpdir(void);

/* Writes len bytes of data to path (created, or truncated), creating its
 * parent directories (mode 0755).  Returns 0 or -1. */
int fx_write_file(const char *path, const void *data, size_t len);

/* Starts nginx serving docroot (an absolute path; NULL: an empty directory
 * in the server's own dir) on 127.0.0.1 at a free port, and waits until it
 * answers HTTP (at most 10 s).  One process (master_process off, daemon
 * off), keepalive_requests 100000, gzip on for text/html, text/plain and
 * application/json from 0 bytes on (gzip_min_length 0), .html/.txt/.json
 * typed as such and everything else application/octet-stream.  access_log
 * is out->dir/access.log.  extra_conf (may be NULL) is inserted verbatim
 * inside the server {} block, after the fixture's own directives, e.g.
 *   "location /redirect/ { return 302 /hello.txt; }"
 * The location /.fx-ready is the fixture's own (its readiness probe).
 * If the port is taken meanwhile, retries with other ports. */
int fx_nginx_start(fx_server *out, const char *docroot, const char *extra_conf);

/* Starts dnsmasq on 127.0.0.1 at a free port (UDP and TCP) and waits until
 * it answers a DNS query (at most 10 s).  records is a NULL-terminated list
 * of dnsmasq options without the leading "--" (may be NULL), each passed as
 * "--RECORD", e.g.
 *   "host-record=ttl.test,127.0.0.2"   A (and AAAA if an IPv6 address is
 *                                      listed too) for exactly that name;
 *                                      other types: NOERROR without answers
 *   "address=/good.test/127.0.0.1"     good.test and all its subdomains;
 *                                      beware: AAAA answers NXDOMAIN
 *   "cname=alias.test,ttl.test"
 *   "local-ttl=2"                      TTL of the answers (default 0)
 *   "server=/fwd.test/127.0.0.1#PORT"  forward fwd.test to another server
 * Every name that no record answers gets NXDOMAIN (--local=/#/): nothing is
 * forwarded (--no-resolv, --no-hosts, --conf-file=/dev/null).  Queries are
 * logged to out->log (--log-queries). */
int fx_dnsmasq_start(fx_server *out, const char *const *records);

/* A UDP socket bound to 127.0.0.1 (out->port) that the fixture keeps open
 * and never reads: datagrams sent there are never answered (they queue,
 * then are dropped; no ICMP port unreachable), so a DNS client pointed at
 * it times out.  out->pid is 0,
 * out->fd the socket; fx_stop closes it. */
int fx_dead_udp_port(fx_server *out);

/* Starts $SPINDLE_BIN_DIR/fault-server --port 0 (ctest sets SPINDLE_BIN_DIR,
 * see tests/CMakeLists.txt) and waits for its "port=N" line (at most 10 s).
 * Its paths (/ok, /reset-mid-body, /never, /trickle?bytes=N&delay_ms=D,
 * /endless, /cut-headers, /truncated-gzip, /gzip-bomb, /malformed-headers,
 * /redirect-loop, ...) are listed at the top of tests/io/fault_server.c. */
int fx_fault_start(fx_server *out);

/* The fault server as a DNS server on UDP 127.0.0.1:out->port that answers
 * every query with RCODE rcode (2 SERVFAIL, 5 REFUSED) and no records, and
 * writes a line "query" to out->log for each, before answering. */
int fx_dns_rcode_start(fx_server *out, int rcode);

/* The fault server as a DNS server on UDP 127.0.0.1:out->port whose answers
 * for one name follow a script: spec is "NAME=STEPS", e.g.
 * "site.test=ok,refused,ok", the k-th lookup of NAME getting step k (the
 * last repeating); ok answers A 127.0.0.1 with TTL 0, refused RCODE 5; other
 * names get NXDOMAIN (see --dns-script in tests/io/fault_server.c).  A line
 * "query NAME QTYPE STEP" for each query goes to out->log. */
int fx_dns_script_start(fx_server *out, const char *spec);

/* "http://127.0.0.1:PORT" followed by path (which should start with '/'),
 * into buf; returns buf (cut short, still terminated, if n is too small). */
char *fx_url(char *buf, size_t n, const fx_server *s, const char *path);

/* Stops s: SIGTERM to its process, up to 5 s for it to exit, then SIGKILL,
 * and reaps it; for fx_dead_udp_port closes the socket.  Only acts on
 * servers this process started (and has not stopped yet); a no-op on one
 * stopped before, or one whose start failed.  Leaves s->dir (fx_stop_all
 * removes it). */
void fx_stop(fx_server *s);

/* Stops every server this process started, then removes fx_tmpdir().
 * Registered with atexit when the temp directory is first made (by the
 * first fx_ call); may also be called directly, e.g. in a Criterion .fini
 * (a later call makes a new temp directory). */
void fx_stop_all(void);

#endif
