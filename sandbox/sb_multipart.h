/* sb_multipart: multipart/form-data bodies (RFC 7578), as the attachment
 * endpoints take them (`curl -F file=@x`). Parts point into the body; the
 * body must outlive them. Bounded: SB_MULTIPART_MAX_PARTS parts, header
 * lines of at most 1 KiB; anything malformed is an error, not a guess.
 */
#ifndef JSMCP_SB_MULTIPART_H
#define JSMCP_SB_MULTIPART_H

#include <stddef.h>

#define SB_MULTIPART_MAX_PARTS 16

typedef struct sb_part_s {
    char name[64];        /* the form field ("file") */
    char filename[256];   /* "" when the part is not a file */
    char ctype[100];      /* the part's Content-Type; "" when absent */
    const char *data;     /* into the body */
    size_t len;
} sb_part_t;

/* Parses body with the boundary of content_type ("multipart/form-data;
 * boundary=..."). Returns the number of parts (at most max), or -1 with a
 * message in err. */
int sb_multipart_parse(const char *content_type, const char *body, size_t len, sb_part_t *parts, int max,
                       char *err, size_t errsz);

#endif
