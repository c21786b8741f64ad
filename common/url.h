/* url: http(s) URLs we are given, JSM site URLs, percent-encoding.
 *
 * One module so that every part of jsmcp reads a URL the same way: the admin
 * API when it stores a site, the worker before it sends credentials there,
 * and the API's webhook URL check (ap_in_webhook_url). Pure functions: no
 * I/O, no allocation that outlives a call, thread-safe.
 *
 * The parser is libcurl's URL API (curl_url), so a URL means here what it
 * means to the libcurl transfer that fetches it. curl is lenient where we
 * must not be (it decodes "%2e" in a host, reads "0x7f.1" as 127.0.0.1,
 * drops an empty port or zone id, accepts unicode hosts), so
 * url_parse_http() first refuses anything surprising byte by byte and then
 * checks that the host and port curl found are exactly the ones written.
 * It refuses rather than trims: no whitespace is stripped anywhere.
 *
 * Error texts ("why") are static strings that complete a sentence starting
 * with the field's name: "site_url " + why.
 */
#ifndef JSMCP_URL_H
#define JSMCP_URL_H

#include <stddef.h>

#include "buf.h"

#define URL_MAX 2048     /* longest URL url_parse_http() reads */
#define URL_HOST_MAX 253 /* longest host name (DNS) */
#define URL_SITE_MAX 300 /* room for url_site()'s output: scheme://host[:port] */

/* An absolute http(s) URL, as url_parse_http() read it. */
typedef struct url_http_s {
    int https;                   /* 1 for https, 0 for http */
    char host[URL_HOST_MAX + 1]; /* lowercase; an IPv6 literal keeps its [] */
    int port;                    /* 0 when the URL names none */
    const char *authority;       /* host[:port] as written (points into the URL) */
    size_t authority_len;
    const char *rest;            /* path, query and fragment as written; "" when none */
} url_http_t;

/* Reads url, an absolute "https://" or "http://" URL (scheme in lowercase)
 * of at most URL_MAX bytes of printable ASCII with no space and no
 * backslash, with no userinfo, a host of 1..URL_HOST_MAX bytes and a port
 * of 1..65535 written as curl reads them (no percent-encoding, no numeric
 * shorthand, no leading zeros, no empty port, no IPv6 zone id). Unicode
 * hosts must come in their xn-- form. 0 and *out, or -1 and *why. */
int url_parse_http(const char *url, url_http_t *out, const char **why);

/* 1 when host[:port] (hostport[0..n)) is an entry of the comma-separated
 * list, compared without regard to case. Spaces and tabs around an entry
 * are ignored; nothing else is trimmed. list may be NULL (empty). */
int url_host_listed(const char *hostport, size_t n, const char *list);

/* The JSM site rule (the SSRF guard of issue 6), the same for the API and
 * the worker: url must be https://<label>.atlassian.net, where <label> is
 * one DNS label (1..63 letters, digits and '-', not starting or ending with
 * '-'), with no port and nothing after the host but an optional "/"; or,
 * only when its host[:port] is listed in allowlist (url_host_listed),
 * http(s)://host[:port] with nothing after it but an optional "/".
 * Writes the normalised site, scheme://host[:port] in lowercase without a
 * trailing "/", into out (outsz >= URL_SITE_MAX always suffices).
 * 0, or -1 and *why. */
int url_site(const char *url, const char *allowlist, char *out, size_t outsz, const char **why);

/* Appends s[0..n) percent-encoded to b: the RFC 3986 unreserved characters
 * (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX (upper-case
 * hex), what curl_easy_escape() writes. Fit for a query value, a path
 * segment or a form field. Returns buf_append's result (b's sticky error). */
int url_encode(buf_t *b, const char *s, size_t n);

#define URL_DECODE_PLUS 1u   /* '+' is a space (query strings, forms) */
#define URL_DECODE_NO_NUL 2u /* "%00" is an error (the result is a C string) */

/* Percent-decodes src[0..n) into dst (dstsz counts the NUL it always adds).
 * Returns the decoded length, or -1 for a '%' not followed by two hex
 * digits, for a NUL byte ("%00") with URL_DECODE_NO_NUL, or when dst is too
 * small. */
int url_decode(const char *src, size_t n, char *dst, size_t dstsz, unsigned flags);

#endif
