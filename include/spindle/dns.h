/*
 * spindle/dns.h - name resolution that parks the calling task, not its worker.
 *
 * Lookups go through c-ares on the poll loop of the worker the task runs on
 * (one c-ares channel per worker).  Answers are kept in a cache shared by all
 * workers for their DNS TTL, and concurrent lookups of the same name and
 * family share one query.  /etc/hosts is consulted first.
 *
 * Servers: /etc/resolv.conf, unless SPINDLE_DNS_SERVERS=ip[:port],... is set
 * in the environment when the runtime first resolves, or sp_dns_set_servers()
 * was called.  IPv6 servers are written [ip]:port.
 */
#ifndef SPINDLE_DNS_H
#define SPINDLE_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "spindle/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One address, ready for connect(): the port is already filled in. */
typedef struct sp_addr {
  struct sockaddr_storage sa;
  socklen_t len;
  int family; /* AF_INET or AF_INET6 */
} sp_addr;

/* The answer to one lookup: n addresses, IPv4 first for AF_UNSPEC. */
typedef struct sp_addrlist {
  size_t n;
  uint32_t ttl_s; /* the smallest TTL of the answer, in seconds */
  sp_addr addrs[]; /* n entries */
} sp_addrlist;

/*
 * Resolves host (a name or a literal address) for port.  family is AF_INET,
 * AF_INET6 or AF_UNSPEC (both).  timeout_ns bounds the wait (UINT64_MAX: only
 * the deadline scope and the servers' own retry limits).  On success *out is
 * a list that the caller frees with sp_addrlist_free.
 *
 * Errors: SP_ENOTFOUND (NXDOMAIN), SP_ENODATA (no address of that family),
 * SP_ETIMEDOUT (no answer in time: timeout_ns, or the servers did not
 * answer), SP_EDNSREFUSED (every server answered REFUSED or SERVFAIL, or
 * could not be reached), SP_EDNS, SP_EINVAL (empty or too long name, bad
 * family), SP_ECANCELED, SP_ESHUTDOWN, SP_ENOMEM, SP_EPERM (not in a task).
 * A query that could reach no server because its socket could not be
 * opened returns -EMFILE (the process's RLIMIT_NOFILE reached), -ENFILE (the
 * system's limit) or SP_ENOMEM, not SP_EDNSREFUSED; such failures are not
 * cached.
 */
int sp_resolve(const char *host, uint16_t port, int family, uint64_t timeout_ns, sp_addrlist **out);
void sp_addrlist_free(sp_addrlist *list);

/*
 * Sets the DNS servers of rt: "ip[:port],..." (IPv6 as [ip]:port, or a bare
 * IPv6 address without a port; port 53 when none is given), or NULL for the
 * system's.  Takes effect for lookups started afterwards, and clears the
 * cache.  Returns 0, SP_EINVAL or SP_ENOMEM.  SP_EINVAL for a list with an
 * empty entry (",", a leading or trailing comma), an address inet_pton does
 * not take ("999.1.1.1", a name, "[1.2.3.4]", a scope "%eth0"), or a port
 * that is not 1 to 65535 in decimal digits ("1.2.3.4:99999", ":0", ":");
 * the servers in place then stay.
 */
int sp_dns_set_servers(sp_runtime *rt, const char *servers);

/* Forgets every cached answer of rt (lookups in flight go on). */
void sp_dns_cache_clear(sp_runtime *rt);

typedef struct sp_dns_stats {
  uint64_t lookups;     /* sp_resolve calls that reached the resolver */
  uint64_t cache_hits;  /* answered from the cache */
  uint64_t coalesced;   /* joined a query already in flight */
  uint64_t queries;     /* c-ares queries started */
  uint64_t failures;    /* queries that ended in an error */
} sp_dns_stats;
void sp_dns_get_stats(sp_runtime *rt, sp_dns_stats *out);

#ifdef __cplusplus
}
#endif
#endif
