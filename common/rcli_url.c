/* rcli_url: parsing the Redis URL (see rcli_url.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcli_url.h"
#include "url.h"

/* redis://[[user]:password@]host[:port][/db]; host may be [v6]. */
int rcli_url_parse(const char *url, rcli_url_t *u, char *err, size_t errsz)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (!url || strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errsz, "redis URL must start with redis://");
        return -1;
    }
    const char *s = url + 8;
    const char *slash = strchr(s, '/');
    const char *auth_end = NULL;
    for (const char *p = s; *p && p != slash; p++)
        if (*p == '@')
            auth_end = p; /* the last '@' before the path */
    if (auth_end) {
        const char *colon = memchr(s, ':', (size_t)(auth_end - s));
        if (!colon) {
            snprintf(err, errsz, "redis URL: credentials must be [user]:password@");
            return -1;
        }
        if (url_decode(s, (size_t)(colon - s), u->user, sizeof u->user, URL_DECODE_NO_NUL) < 0 ||
            url_decode(colon + 1, (size_t)(auth_end - colon - 1), u->pass, sizeof u->pass, URL_DECODE_NO_NUL) < 0) {
            snprintf(err, errsz, "redis URL: bad or too long user or password");
            return -1;
        }
        s = auth_end + 1;
    }
    const char *hend = slash ? slash : s + strlen(s);
    const char *h = s, *portp = NULL;
    size_t hl;
    if (*s == '[') {
        const char *rb = memchr(s, ']', (size_t)(hend - s));
        if (!rb) {
            snprintf(err, errsz, "redis URL: unclosed [ in host");
            return -1;
        }
        h = s + 1;
        hl = (size_t)(rb - h);
        if (rb + 1 < hend) {
            if (rb[1] != ':') {
                snprintf(err, errsz, "redis URL: bad host");
                return -1;
            }
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', (size_t)(hend - s));
        hl = (size_t)((colon ? colon : hend) - s);
        if (colon)
            portp = colon + 1;
    }
    if (hl == 0 || hl >= sizeof u->host) {
        snprintf(err, errsz, "redis URL: missing or too long host");
        return -1;
    }
    memcpy(u->host, h, hl);
    if (portp) {
        char *e;
        long port = strtol(portp, &e, 10);
        if (e == portp || e != hend || port < 1 || port > 65535) {
            snprintf(err, errsz, "redis URL: port must be 1-65535");
            return -1;
        }
        u->port = (int)port;
    }
    if (slash && slash[1]) {
        char *e;
        long db = strtol(slash + 1, &e, 10);
        if (!isdigit((unsigned char)slash[1]) || *e || db < 0 || db > 65535) {
            snprintf(err, errsz, "redis URL: database must be a number");
            return -1;
        }
        u->db = (int)db;
    }
    return 0;
}
