/* rcli: the part of rcli.h that needs no client: a blocking connection
 * for start-up and tests (rcli_connect_blocking). The client itself is in
 * the files rcli_int.h lists; this one is at their bottom, so that every
 * one of them may include rcli.h.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "rcli.h"
#include "rcli_url.h"

redisContext *rcli_connect_blocking(const char *url, char *err, size_t errsz)
{
    rcli_url_t u;
    if (rcli_url_parse(url, &u, err, errsz) != 0)
        return NULL;
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    if (!c || c->err) {
        snprintf(err, errsz, "redis %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
        goto fail;
    }
    redisReply *rep = NULL;
    if (u.pass[0]) {
        rep = u.user[0] ? redisCommand(c, "AUTH %s %s", u.user, u.pass)
                        : redisCommand(c, "AUTH %s", u.pass);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errsz, "redis AUTH: %s", rep ? rep->str : c->errstr);
            goto fail_reply;
        }
        freeReplyObject(rep);
    }
    if (u.db) {
        rep = redisCommand(c, "SELECT %d", u.db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errsz, "redis SELECT: %s", rep ? rep->str : c->errstr);
            goto fail_reply;
        }
        freeReplyObject(rep);
    }
    memset(&u, 0, sizeof u);
    return c;
fail_reply:
    if (rep)
        freeReplyObject(rep);
fail:
    if (c)
        redisFree(c);
    memset(&u, 0, sizeof u);
    return NULL;
}
