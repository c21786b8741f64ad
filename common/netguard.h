/* netguard: which network addresses a server may be made to call on a
 * tenant's behalf (the SSRF guard of webhook deliveries).
 *
 * "Public" excludes everything that reaches this host, its private
 * networks or special-purpose ranges: loopback, RFC 1918, carrier-grade
 * NAT, link-local (cloud metadata at 169.254.169.254), unspecified,
 * documentation, benchmarking, multicast, reserved and broadcast; for IPv6
 * also unique-local, link- and site-local, multicast, and IPv4 addresses
 * carried in IPv6 (mapped, NAT64, 6to4), judged by their IPv4 part. Pure
 * functions, unit tested in tests/unit/common/test_netguard.c. */
#ifndef JSMCP_NETGUARD_H
#define JSMCP_NETGUARD_H

#include <sys/socket.h>

/* 1 when sa (AF_INET or AF_INET6) is a public address, else 0. */
int netguard_sockaddr_public(const struct sockaddr *sa);

/* A URL's host as written (no brackets for IPv6): 1 when it is an IP
 * literal of a public address, 0 when it is a literal of any other, -1 when
 * it is not an IP literal (a name). IPv4 literals are read as inet_aton
 * reads them ("0x7f.1", "2130706433" are 127.0.0.1), as resolvers do. */
int netguard_literal_public(const char *host);

#endif
