/* sb_gzip: response compression as Atlassian's edge does it. Cloud answers
 * gzip whenever the client's Accept-Encoding allows it, so a client's
 * response-size cap and decoder are exercised end to end only when the
 * sandbox compresses too.
 */
#ifndef JSMCP_SB_GZIP_H
#define JSMCP_SB_GZIP_H

#include <stddef.h>

/* 1 when an Accept-Encoding header value admits gzip: a "gzip", "x-gzip"
 * or "*" coding whose q is not 0. NULL (no header) admits nothing. */
int sb_accepts_gzip(const char *accept_encoding);

/* len bytes of in compressed with gzip framing (RFC 1952): a malloc'd
 * buffer of *outlen bytes, or NULL when zlib fails. */
char *sb_gzip(const char *in, size_t len, size_t *outlen);

#endif
