/* sb_multipart: see sb_multipart.h. */
#include "sb_multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_BOUNDARY 70 /* RFC 2046 */

static int fail(char *err, size_t errsz, const char *msg)
{
    snprintf(err, errsz, "%s", msg);
    return -1;
}

/* The value of param (boundary, name, filename) in a header value: quoted
 * or a token. 0 when found. */
static int header_param(const char *v, size_t vlen, const char *param, char *out, size_t outsz)
{
    size_t pl = strlen(param);
    for (size_t i = 0; i + pl < vlen; i++) {
        if ((i && v[i - 1] != ';' && v[i - 1] != ' ' && v[i - 1] != '\t') || strncasecmp(v + i, param, pl) ||
            v[i + pl] != '=')
            continue;
        const char *p = v + i + pl + 1, *end = v + vlen;
        size_t n = 0;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                if (n + 1 < outsz)
                    out[n++] = *p;
            }
            if (p >= end)
                return -1; /* unterminated quote */
        } else {
            for (; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++)
                if (n + 1 < outsz)
                    out[n++] = *p;
        }
        out[n] = 0;
        return 0;
    }
    return -1;
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    return nlen <= hlen ? memmem(hay, hlen, needle, nlen) : NULL;
}

/* The part's headers, from p up to the blank line; *body_at gets the data. */
static int part_headers(const char *p, const char *end, sb_part_t *part, const char **body_at, char *err,
                        size_t errsz)
{
    int disposition = 0;
    for (;;) {
        const char *eol = find(p, (size_t)(end - p), "\r\n", 2);
        if (!eol || eol - p > 1024)
            return fail(err, errsz, "a multipart part's headers are malformed or too long");
        if (eol == p) { /* the blank line */
            *body_at = eol + 2;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            return fail(err, errsz, "a multipart header line has no ':'");
        size_t nlen = (size_t)(colon - p);
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        if (nlen == 19 && !strncasecmp(p, "Content-Disposition", 19)) {
            if ((size_t)(eol - v) < 9 || strncasecmp(v, "form-data", 9))
                return fail(err, errsz, "a multipart part is not form-data");
            if (header_param(v, (size_t)(eol - v), "name", part->name, sizeof part->name) != 0)
                return fail(err, errsz, "a multipart part has no name");
            header_param(v, (size_t)(eol - v), "filename", part->filename, sizeof part->filename);
            disposition = 1;
        } else if (nlen == 12 && !strncasecmp(p, "Content-Type", 12)) {
            snprintf(part->ctype, sizeof part->ctype, "%.*s", (int)(eol - v), v);
        }
        p = eol + 2;
    }
    return disposition ? 0 : fail(err, errsz, "a multipart part has no Content-Disposition");
}

int sb_multipart_parse(const char *content_type, const char *body, size_t len, sb_part_t *parts, int max,
                       char *err, size_t errsz)
{
    char boundary[MAX_BOUNDARY + 1], delim[MAX_BOUNDARY + 5];
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19))
        return fail(err, errsz, "expected Content-Type multipart/form-data");
    if (header_param(content_type, strlen(content_type), "boundary", boundary, sizeof boundary) != 0 ||
        !boundary[0] || strlen(content_type) > 1000)
        return fail(err, errsz, "the multipart Content-Type has no boundary");
    int dl = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const char *end = body + len;
    /* The first delimiter may start the body (no preamble, no CRLF before it). */
    const char *p = len >= (size_t)(dl - 2) && !memcmp(body, delim + 2, (size_t)(dl - 2))
                        ? body + dl - 2
                        : find(body, len, delim, (size_t)dl);
    if (p != body + dl - 2) {
        if (!p)
            return fail(err, errsz, "the multipart body has no boundary");
        p += dl;
    }
    int n = 0;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return n; /* the close delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return fail(err, errsz, "a multipart boundary line is malformed");
        p += 2;
        if (n == max)
            return fail(err, errsz, "too many multipart parts");
        sb_part_t *part = &parts[n];
        memset(part, 0, sizeof *part);
        const char *data;
        if (part_headers(p, end, part, &data, err, errsz) != 0)
            return -1;
        const char *next = find(data, (size_t)(end - data), delim, (size_t)dl);
        if (!next)
            return fail(err, errsz, "a multipart part is not terminated by the boundary");
        part->data = data;
        part->len = (size_t)(next - data);
        n++;
        p = next + dl;
    }
}
