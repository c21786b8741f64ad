/* rcli_url: the Redis URL, redis://[[user]:password@]host[:port][/db]
 * (host may be [v6]; user and password percent-decoded). Synchronous.
 */
#ifndef JSMCP_RCLI_URL_H
#define JSMCP_RCLI_URL_H

#include <stddef.h>

typedef struct rcli_url_s {
    char host[256];
    int port;
    int db;
    char user[128];
    char pass[256]; /* callers clear it (memset) when done */
} rcli_url_t;

/* Fills u from url. 0, or -1 with the reason in err. */
int rcli_url_parse(const char *url, rcli_url_t *u, char *err, size_t errsz);

#endif
