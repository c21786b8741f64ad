/* sb_gzip: see sb_gzip.h. */
#include "sb_gzip.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "buf.h"

/* One coding of the list: name and whether its q allows it. */
static int coding_ok(const char *s, size_t n, int *match)
{
    size_t nl = 0;
    while (nl < n && s[nl] != ';')
        nl++;
    while (nl && isspace((unsigned char)s[nl - 1]))
        nl--;
    *match = (nl == 4 && !strncasecmp(s, "gzip", 4)) || (nl == 6 && !strncasecmp(s, "x-gzip", 6)) ||
             (nl == 1 && s[0] == '*');
    const char *q = s + nl;
    while (q < s + n) { /* ;q=0, ;q=0.0, ;q=0.000 refuse */
        q++;
        while (q < s + n && isspace((unsigned char)*q))
            q++;
        if (q + 1 < s + n && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
            double v = strtod(q + 2, NULL);
            return v > 0;
        }
        while (q < s + n && *q != ';')
            q++;
    }
    return 1;
}

int sb_accepts_gzip(const char *ae)
{
    int star = 0, gzip = -1;
    for (const char *p = ae; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int match, ok = coding_ok(p, n, &match);
        if (match && p[0] == '*')
            star = ok;
        else if (match)
            gzip = ok;
        p += n;
    }
    return gzip >= 0 ? gzip : star; /* an explicit gzip entry wins over "*" */
}

char *sb_gzip(const char *in, size_t len, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)len) + 32; /* + the gzip header and trailer */
    char *out = mem_alloc(bound);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *outlen = bound - z.avail_out;
    return out;
}
