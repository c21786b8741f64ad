/* url: see url.h. */
#include "url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* ---- reading a URL ---- */

/* curl's reading of url: 0 and host (lowercase) and port, or -1. */
static int curl_read(const char *url, url_http_t *out)
{
    CURLU *h = curl_url();
    if (!h)
        return -1;
    int rc = -1;
    char *host = NULL, *port = NULL, *user = NULL;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    /* No userinfo at all (url_parse_http refused '@' already; belt and braces). */
    if (curl_url_get(h, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
        goto out;
    size_t hl = strlen(host);
    if (hl == 0 || hl >= sizeof out->host)
        goto out;
    for (size_t i = 0; i <= hl; i++)
        out->host[i] = (char)tolower((unsigned char)host[i]);
    out->port = 0;
    CURLUcode pc = curl_url_get(h, CURLUPART_PORT, &port, 0);
    if (pc == CURLUE_OK) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || p < 1 || p > 65535)
            goto out;
        out->port = (int)p;
    } else if (pc != CURLUE_NO_PORT) {
        goto out;
    }
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(h);
    return rc;
}

int url_parse_http(const char *url, url_http_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t len = url ? strnlen(url, URL_MAX + 1) : 0;
    if (len == 0 || len > URL_MAX) {
        *why = "must be an http(s) URL of at most 2048 characters";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= ' ' || c >= 0x7f) {
            *why = "must not contain spaces, control characters or non-ASCII characters "
                   "(write an international host name in its xn-- form)";
            return -1;
        }
        if (c == '\\') {
            *why = "must not contain a backslash";
            return -1;
        }
    }
    if (strncmp(url, "https://", 8) == 0)
        out->https = 1;
    else if (strncmp(url, "http://", 7) != 0) {
        *why = "must start with https:// (or http://)";
        return -1;
    }
    out->authority = url + (out->https ? 8 : 7);
    out->authority_len = strcspn(out->authority, "/?#");
    out->rest = out->authority + out->authority_len;
    if (memchr(out->authority, '@', out->authority_len)) {
        *why = "must not contain credentials";
        return -1;
    }
    if (out->authority_len == 0) {
        *why = "has no host";
        return -1;
    }
    if (out->authority_len > URL_HOST_MAX + 6) { /* host and ":65535" */
        *why = "has a host name longer than 253 characters";
        return -1;
    }
    if (curl_read(url, out) != 0) {
        *why = "is not a valid URL";
        return -1;
    }
    /* What curl will connect to must be what is written, byte for byte
     * but for case: this refuses %-encoded hosts, 0x7f.1 and 2130706433,
     * ":0443", an empty port and IPv6 zone ids. */
    char want[sizeof out->host + 8];
    size_t wl = out->port ? (size_t)snprintf(want, sizeof want, "%s:%d", out->host, out->port)
                          : (size_t)snprintf(want, sizeof want, "%s", out->host);
    if (wl != out->authority_len || strncasecmp(want, out->authority, wl) != 0) {
        *why = "must write its host and port plainly (no percent-encoding, numeric shorthand, "
               "leading zeros, empty port or zone id)";
        return -1;
    }
    if (strlen(out->host) > URL_HOST_MAX) {
        *why = "has a host name longer than 253 characters";
        return -1;
    }
    return 0;
}

/* ---- the site rule ---- */

int url_host_listed(const char *hostport, size_t n, const char *list)
{
    const char *p = list ? list : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && n && strncasecmp(p, hostport, n) == 0)
            return 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* 1 when s[0..n) is one DNS label: 1..63 of [a-z0-9-] (already lowercase),
 * not starting or ending with '-'. */
static int dns_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

int url_site(const char *url, const char *allowlist, char *out, size_t outsz, const char **why)
{
    static const char suffix[] = ".atlassian.net";
    const size_t sl = sizeof suffix - 1;
    url_http_t u;
    if (url_parse_http(url, &u, why) != 0)
        return -1;
    if (*u.rest && strcmp(u.rest, "/") != 0) {
        *why = "must be the site root, with no path, query or fragment";
        return -1;
    }
    if (!url_host_listed(u.authority, u.authority_len, allowlist)) {
        size_t hl = strlen(u.host);
        if (!u.https) {
            *why = "must use https";
            return -1;
        }
        if (u.port || hl <= sl || strcmp(u.host + hl - sl, suffix) != 0) {
            *why = "must be https://<site>.atlassian.net (other hosts only through JSMCP_SITE_ALLOWLIST)";
            return -1;
        }
        if (!dns_label(u.host, hl - sl)) {
            *why = "must name its site with one DNS label before .atlassian.net "
                   "(letters, digits and '-', at most 63, not starting or ending with '-')";
            return -1;
        }
    }
    int n = u.port ? snprintf(out, outsz, "%s://%s:%d", u.https ? "https" : "http", u.host, u.port)
                   : snprintf(out, outsz, "%s://%s", u.https ? "https" : "http", u.host);
    if (n < 0 || (size_t)n >= outsz) {
        *why = "is too long";
        return -1;
    }
    return 0;
}

/* ---- percent-encoding ---- */

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int url_encode(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    int rc = buf_error(b);
    /* Runs of unreserved characters go in one append (the worker's hot path). */
    while (i < n && rc == 0) {
        size_t run = i;
        while (run < n && unreserved((unsigned char)s[run]))
            run++;
        rc = buf_append(b, s + i, run - i);
        if (run == n || rc)
            break;
        unsigned char c = (unsigned char)s[run];
        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
        rc = buf_append(b, e, 3);
        i = run + 1;
    }
    return rc;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int url_decode(const char *src, size_t n, char *dst, size_t dstsz, unsigned flags)
{
    size_t o = 0;
    if (dstsz == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (n - i < 3)
                return -1;
            int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && (flags & URL_DECODE_PLUS)) {
            c = ' ';
        }
        if (c == 0 && (flags & URL_DECODE_NO_NUL))
            return -1;
        if (o + 1 >= dstsz)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = 0;
    return o > (size_t)0x7fffffff ? -1 : (int)o;
}
