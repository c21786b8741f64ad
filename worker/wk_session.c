/* wk_session: see wk_session.h. */
#include "wk_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wk_cache.h"

typedef struct sess_op_s {
    wk_worker_t *w;
    uint64_t ticket; /* wk_cache_ticket() when a lookup was sent */
    wk_session_t s;
    wk_session_cb cb;
    void *ud;
} sess_op_t;

void wk_session_new_id(char *out, size_t outsz)
{
    secret_random_b64(24, out, outsz);
}

int wk_session_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n == WK_SESSION_ID_LEN &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static sess_op_t *op_new(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud)
{
    sess_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    snprintf(op->s.id, sizeof op->s.id, "%s", id);
    op->cb = cb;
    op->ud = ud;
    return op;
}

static int reply_failed(sess_op_t *op, redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return 0;
    metrics_inc(op->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
    return 1;
}

static void finish(sess_op_t *op, int rc)
{
    if (op->cb)
        op->cb(rc, rc == 1 ? &op->s : NULL, op->ud);
    free(op);
}

static void on_created(redisReply *reply, const char *err, void *ud)
{
    sess_op_t *op = ud;
    finish(op, reply_failed(op, reply) || reply->type != REDIS_REPLY_INTEGER || reply->integer != 1 ? -1 : 1);
}

void wk_session_create(wk_worker_t *w, const wk_session_t *s, wk_session_cb cb, void *ud)
{
    char key[128], ttl[32];
    sess_op_t *op = op_new(w, s->id, cb, ud);
    op->s = *s;
    rcli_key(w->redis, key, sizeof key, "sess:%s", s->id);
    snprintf(ttl, sizeof ttl, "%ld", w->cfg->session_ttl_s);
    /* Pipelined (one round trip); the answer to EXPIRE says both ran. */
    if (rcli_command(w->redis, NULL, NULL, "HSET %s th %s pv %s legacy %d", key,
                     s->token_hash, s->pv, s->legacy) != 0 ||
        rcli_command(w->redis, on_created, op, "EXPIRE %s %s", key, ttl) != 0)
        on_created(NULL, "redis unavailable", op);
}

static void on_got(redisReply *reply, const char *err, void *ud)
{
    sess_op_t *op = ud;
    if (reply_failed(op, reply) || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        finish(op, -1);
        return;
    }
    redisReply **e = reply->element;
    if (e[0]->type != REDIS_REPLY_STRING || e[0]->len != SECRET_HASH_HEX_LEN) {
        finish(op, 0);
        return;
    }
    memcpy(op->s.token_hash, e[0]->str, SECRET_HASH_HEX_LEN);
    if (e[1]->type == REDIS_REPLY_STRING && e[1]->len < sizeof op->s.pv)
        memcpy(op->s.pv, e[1]->str, e[1]->len);
    op->s.legacy = e[2]->type == REDIS_REPLY_STRING && e[2]->len == 1 && e[2]->str[0] == '1';
    wk_cache_session_put(op->w, op->ticket, &op->s);
    finish(op, 1);
}

static void on_count(redisReply *reply, const char *err, void *ud)
{
    sess_op_t *op = ud;
    if (reply_failed(op, reply) || reply->type != REDIS_REPLY_INTEGER)
        finish(op, -1);
    else
        finish(op, reply->integer > 0);
}

/* Runs fmt (one %s: the key sess:<id>) for a well-formed id, else rc 0 at once. */
static void session_command(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud,
                            rcli_cb reply_cb, const char *fmt)
{
    char key[128];
    sess_op_t *op = op_new(w, id, cb, ud);
    if (!wk_session_id_ok(id)) {
        finish(op, 0);
        return;
    }
    rcli_key(w->redis, key, sizeof key, "sess:%s", id);
    op->ticket = wk_cache_ticket(w);
    if (rcli_command(w->redis, reply_cb, op, fmt, key) != 0)
        reply_cb(NULL, "redis unavailable", op);
}

void wk_session_get(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud)
{
    wk_session_t hit;
    if (wk_session_id_ok(id) && wk_cache_session_get(w, id, &hit)) {
        cb(1, &hit, ud);
        return;
    }
    session_command(w, id, cb, ud, on_got, "HMGET %s th pv legacy");
}

void wk_session_delete(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud)
{
    wk_cache_session_forget(w, id);
    session_command(w, id, cb, ud, on_count, "DEL %s");
}

void wk_session_channel(wk_worker_t *w, const char *id, char *out, size_t outsz)
{
    rcli_key(w->redis, out, outsz, "ssech:%s", id);
}

void wk_session_publish(wk_worker_t *w, const char *id, const char *msg, size_t len,
                        wk_session_cb cb, void *ud)
{
    char ch[128];
    sess_op_t *op = op_new(w, id, cb, ud);
    wk_session_channel(w, id, ch, sizeof ch);
    if (rcli_command(w->redis, on_count, op, "PUBLISH %s %b", ch, msg, len) != 0)
        on_count(NULL, "redis unavailable", op);
}
