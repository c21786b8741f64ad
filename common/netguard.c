/* netguard: see netguard.h. */
#include "netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* a.b.c.d/bits as a host-order address and prefix. */
typedef struct {
    uint32_t net;
    int bits;
} v4net_t;

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static const v4net_t V4_DENY[] = {
    {V4(0, 0, 0, 0), 8},       /* "this network" */
    {V4(10, 0, 0, 0), 8},      /* private */
    {V4(100, 64, 0, 0), 10},   /* carrier-grade NAT */
    {V4(127, 0, 0, 0), 8},     /* loopback */
    {V4(169, 254, 0, 0), 16},  /* link-local, cloud metadata */
    {V4(172, 16, 0, 0), 12},   /* private */
    {V4(192, 0, 0, 0), 24},    /* IETF protocol assignments */
    {V4(192, 0, 2, 0), 24},    /* documentation */
    {V4(192, 88, 99, 0), 24},  /* 6to4 relay anycast */
    {V4(192, 168, 0, 0), 16},  /* private */
    {V4(198, 18, 0, 0), 15},   /* benchmarking */
    {V4(198, 51, 100, 0), 24}, /* documentation */
    {V4(203, 0, 113, 0), 24},  /* documentation */
    {V4(224, 0, 0, 0), 4},     /* multicast */
    {V4(240, 0, 0, 0), 4},     /* reserved, broadcast */
};

static int v4_public(uint32_t a)
{
    for (size_t i = 0; i < sizeof V4_DENY / sizeof *V4_DENY; i++) {
        uint32_t mask = V4_DENY[i].bits ? ~0u << (32 - V4_DENY[i].bits) : 0;
        if ((a & mask) == V4_DENY[i].net)
            return 0;
    }
    return 1;
}

static uint32_t v4_at(const unsigned char *p)
{
    return V4(p[0], p[1], p[2], p[3]);
}

static int v6_public(const unsigned char *a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}; /* ::ffff:0:0/96 (SIIT) */
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 0x01};
    static const unsigned char zero[12] = {0};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_public(v4_at(a + 12));
    /* A local NAT64 prefix (RFC 8215): the network chooses where in it the
     * IPv4 address sits, so which one it reaches cannot be told here. */
    if (memcmp(a, nat64_local, 6) == 0)
        return 0;
    /* 2001::/26, the part of the IETF protocol assignments (2001::/23) in use: Teredo (2001::/32) carries an
     * IPv4 address a relay reaches, ORCHID (2001:10::/28, 2001:20::/28) and
     * benchmarking (2001:2::/48) are no destinations; AMT (2001:3::/32) and
     * AS112 (2001:4:112::/48) are anycast services, not receivers either. */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] < 0x40)
        return 0;
    if (memcmp(a, zero, 12) == 0) /* ::, ::1 and the deprecated IPv4-compatible form */
        return 0;
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: the IPv4 address follows */
        return v4_public(v4_at(a + 2));
    if ((a[0] & 0xfe) == 0xfc)                       /* fc00::/7 unique local */
        return 0;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)       /* fe80::/10 link-local */
        return 0;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)       /* fec0::/10 site-local */
        return 0;
    if (a[0] == 0xff)                                /* multicast */
        return 0;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* documentation */
        return 0;
    if (a[0] == 0x01 && a[1] == 0 && a[2] == 0 && a[3] == 0 && a[4] == 0 && a[5] == 0 && a[6] == 0 && a[7] == 0)
        return 0;                                    /* 100::/64 discard */
    return 1;
}

int netguard_sockaddr_public(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return v4_public(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return v6_public(in6->sin6_addr.s6_addr);
    }
    return 0;
}

int netguard_literal_public(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strchr(host, ':'))
        return inet_pton(AF_INET6, host, &a6) == 1 ? v6_public(a6.s6_addr) : 0; /* ':' is no name */
    if (inet_aton(host, &a4))
        return v4_public(ntohl(a4.s_addr));
    return -1;
}
