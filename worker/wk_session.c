/* wk_session: see wk_session.h. */
#include "wk_session.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "clock.h"
#include "wk_cache.h"
#include "wk_pace.h"
#include "wk_script.h"

typedef struct sess_op_s {
    defer_entry_t later; /* an answer known at once: from the loop */
    int rc;              /* that answer */
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

static void finish_run(defer_entry_t *e)
{
    sess_op_t *op = (sess_op_t *)((char *)e - offsetof(sess_op_t, later));
    finish(op, op->rc);
}

/* An answer known before the call returns (a malformed id, a cache hit,
 * Redis unavailable): given from the loop, as the tree's rule wants. */
static void finish_later(sess_op_t *op, int rc)
{
    if (rc < 0)
        metrics_inc(op->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
    op->rc = rc;
    defer_call(&op->w->defer, op->w->loop, &op->later, finish_run);
}

/* KEYS: sess:<id>, tsess:<token_hash>, initrate:<token_hash>. ARGV: token
 * hash, protocol version, legacy, TTL (s), session cap (0 none), initialize
 * rate per second (0 none), its burst, the session id, the sess: key prefix,
 * the client's capabilities (WK_CAP_* bits).
 * Returns {1, 0, evicted} or {0, ms until an initialize is allowed, 0}. */
static const char CREATE_LUA[] =
    WK_PACE_BUCKET_LUA
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local rate, ttl, cap = tonumber(ARGV[6]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "if rate > 0 then\n"
    "  local ok, wait = bucket(KEYS[3], rate, tonumber(ARGV[7]), now)\n"
    "  if ok == 0 then return {0, wait, 0} end\n"
    "end\n"
    "local evicted = 0\n"
    "if cap > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)\n"
    "  local n = redis.call('ZCARD', KEYS[2])\n"
    "  if n >= cap then\n"
    "    local old = redis.call('ZPOPMIN', KEYS[2], n - cap + 1)\n"
    "    for i = 1, #old, 2 do redis.call('DEL', ARGV[9] .. old[i]); evicted = evicted + 1 end\n"
    "  end\n"
    "  redis.call('ZADD', KEYS[2], now, ARGV[8])\n"
    "  redis.call('PEXPIRE', KEYS[2], ttl * 1000)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'th', ARGV[1], 'pv', ARGV[2], 'legacy', ARGV[3], 'cc', ARGV[10])\n"
    "redis.call('EXPIRE', KEYS[1], ttl)\n"
    "return {1, 0, evicted}\n";

static wk_script_t create_script = {.src = CREATE_LUA};

typedef struct create_op_s {
    wk_worker_t *w;
    wk_session_create_cb cb;
    void *ud;
} create_op_t;

static void on_created(redisReply *reply, const char *err, void *ud)
{
    create_op_t *op = ud;
    int rc = -1;
    long wait = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[1]->type == REDIS_REPLY_INTEGER &&
        reply->element[2]->type == REDIS_REPLY_INTEGER) {
        rc = reply->element[0]->integer == 1;
        wait = (long)reply->element[1]->integer;
        if (reply->element[2]->integer > 0)
            metrics_inc(op->w->metrics, "jsmcp_worker_sessions_evicted_total", "",
                        (double)reply->element[2]->integer);
        if (!rc)
            metrics_inc(op->w->metrics, "jsmcp_worker_limited_total", "what=\"initialize\"", 1);
    } else {
        metrics_inc(op->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
    }
    op->cb(rc, wait, op->ud);
    free(op);
}

void wk_session_create(wk_worker_t *w, const wk_session_t *s, wk_session_create_cb cb, void *ud)
{
    const wk_config_t *cfg = w->cfg;
    char key[128], tkey[160], rkey[160], ttl[32], cap[32], rate[48], burst[32], legacy[4], prefix[96], caps[16];
    rcli_key(w->redis, key, sizeof key, "sess:%s", s->id);
    rcli_key(w->redis, tkey, sizeof tkey, "tsess:%s", s->token_hash);
    rcli_key(w->redis, rkey, sizeof rkey, "initrate:%s", s->token_hash);
    rcli_key(w->redis, prefix, sizeof prefix, "sess:");
    snprintf(ttl, sizeof ttl, "%ld", cfg->session_ttl_s);
    snprintf(cap, sizeof cap, "%ld", cfg->sessions_per_token);
    snprintf(rate, sizeof rate, "%.9g", cfg->init_rate.per_s);
    snprintf(burst, sizeof burst, "%ld", cfg->init_rate.burst);
    snprintf(legacy, sizeof legacy, "%d", s->legacy);
    snprintf(caps, sizeof caps, "%u", s->caps);
    create_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->cb = cb;
    op->ud = ud;
    const char *argv[] = {key, tkey, rkey, s->token_hash, s->pv, legacy, ttl, cap, rate, burst, s->id, prefix, caps};
    wk_script_run(w, &create_script, 3, 13, argv, on_created, op);
}

/* Last touch per session in this process (a collision only touches again). */
#define TOUCH_SLOTS 1024
#define TOUCH_EVERY_MS 60000

static struct {
    char id[WK_SESSION_ID_LEN + 1];
    uint64_t at_ms;
} touched[TOUCH_SLOTS];

void wk_session_touch(wk_worker_t *w, const wk_session_t *s)
{
    if (w->cfg->sessions_per_token <= 0)
        return;
    unsigned h = 2166136261u;
    for (const char *p = s->id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h %= TOUCH_SLOTS;
    uint64_t now = (uint64_t)clock_now_ms();
    if (strcmp(touched[h].id, s->id) == 0 && now - touched[h].at_ms < TOUCH_EVERY_MS)
        return;
    snprintf(touched[h].id, sizeof touched[h].id, "%s", s->id);
    touched[h].at_ms = now;
    char tkey[160], score[32];
    rcli_key(w->redis, tkey, sizeof tkey, "tsess:%s", s->token_hash);
    snprintf(score, sizeof score, "%llu", (unsigned long long)now);
    /* XX: a session evicted meanwhile is not put back. */
    rcli_command(w->redis, NULL, NULL, "ZADD %s XX %s %s", tkey, score, s->id);
}

static void on_got(redisReply *reply, const char *err, void *ud)
{
    sess_op_t *op = ud;
    if (reply_failed(op, reply) || reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
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
    if (e[3]->type == REDIS_REPLY_STRING && e[3]->len < sizeof op->s.level)
        memcpy(op->s.level, e[3]->str, e[3]->len);
    if (e[4]->type == REDIS_REPLY_STRING)
        op->s.caps = (unsigned)strtoul(e[4]->str, NULL, 10) & 0xffu;
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

/* Runs fmt (one %s: the key sess:<id>) for a well-formed id, else rc 0 (from the loop). */
static void session_command(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud,
                            rcli_cb reply_cb, const char *fmt)
{
    char key[128];
    sess_op_t *op = op_new(w, id, cb, ud);
    if (!wk_session_id_ok(id)) {
        finish_later(op, 0);
        return;
    }
    rcli_key(w->redis, key, sizeof key, "sess:%s", id);
    op->ticket = wk_cache_ticket(w);
    if (rcli_command(w->redis, reply_cb, op, fmt, key) != 0)
        finish_later(op, -1);
}

void wk_session_get(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud)
{
    wk_session_t hit;
    if (wk_session_id_ok(id) && wk_cache_session_get(w, id, &hit)) {
        sess_op_t *op = op_new(w, id, cb, ud);
        op->s = hit;
        finish_later(op, 1);
        return;
    }
    session_command(w, id, cb, ud, on_got, "HMGET %s th pv legacy lvl cc");
}

void wk_session_delete(wk_worker_t *w, const char *id, const char *token_hash, wk_session_cb cb, void *ud)
{
    wk_cache_session_forget(w, id);
    if (token_hash && wk_session_id_ok(id)) {
        char tkey[160];
        rcli_key(w->redis, tkey, sizeof tkey, "tsess:%s", token_hash);
        rcli_command(w->redis, NULL, NULL, "ZREM %s %s", tkey, id);
    }
    session_command(w, id, cb, ud, on_count, "DEL %s");
}

unsigned wk_session_caps(const json_t *c)
{
    unsigned caps = 0;
    const json_t *el = json_object_get(c, "elicitation");
    if (json_is_object(json_object_get(c, "sampling")))
        caps |= WK_CAP_SAMPLING;
    if (json_is_object(el)) {
        /* 2025-11-25: {"form":{},"url":{}}; an empty object means form only. */
        int url = json_is_object(json_object_get(el, "url"));
        if (json_object_size(el) == 0 || json_is_object(json_object_get(el, "form")) || !url)
            caps |= WK_CAP_ELICIT;
        if (url)
            caps |= WK_CAP_ELICIT_URL;
    }
    if (json_is_object(json_object_get(c, "roots")))
        caps |= WK_CAP_ROOTS;
    return caps;
}

/* KEYS: sess:<id>. ARGV: level. A session deleted meanwhile is not made
 * again (a hash without its TTL would stay for ever). */
static const char LEVEL_LUA[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'lvl', ARGV[1])\n"
    "return 1\n";

static wk_script_t level_script = {.src = LEVEL_LUA};

static void on_level(redisReply *reply, const char *err, void *ud)
{
    sess_op_t *op = ud;
    on_count(reply, err, op);
}

void wk_session_set_level(wk_worker_t *w, const char *id, const char *level, wk_session_cb cb, void *ud)
{
    char key[128];
    sess_op_t *op = op_new(w, id, cb, ud);
    if (!wk_session_id_ok(id)) {
        finish_later(op, 0);
        return;
    }
    wk_cache_session_forget(w, id);
    rcli_key(w->redis, key, sizeof key, "sess:%s", id);
    const char *argv[] = {key, level};
    wk_script_run(w, &level_script, 1, 2, argv, on_level, op);
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
        finish_later(op, -1);
}

/* ---- stream leases ---- */

/* KEYS: tstream:<token_hash>. ARGV: lease id, cap, lease (ms). Returns 1
 * (taken) or 0 (the URL has cap live leases). */
static const char ACQUIRE_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n";

/* KEYS: tstream:<token_hash>. ARGV: lease id, lease (ms): extends a live lease. */
static const char RENEW_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 1\n";

static wk_script_t acquire_script = {.src = ACQUIRE_LUA};
static wk_script_t renew_script = {.src = RENEW_LUA};

void wk_stream_lease_id(char *out, size_t outsz)
{
    secret_random_b64(12, out, outsz);
}

/* A lease lasts three keep-alive periods (each keep-alive renews it). */
static void lease_ms(const wk_worker_t *w, char *out, size_t outsz)
{
    snprintf(out, outsz, "%ld", 3 * w->cfg->sse_keepalive_ms);
}

typedef struct stream_op_s {
    defer_entry_t later; /* no limit to check: granted from the loop */
    wk_worker_t *w;
    wk_stream_cb cb;
    void *ud;
} stream_op_t;

static void on_acquired(redisReply *reply, const char *err, void *ud)
{
    stream_op_t *op = ud;
    int rc = 1;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        rc = reply->integer == 1;
        if (!rc)
            metrics_inc(op->w->metrics, "jsmcp_worker_limited_total", "what=\"stream\"", 1);
    } else {
        metrics_inc(op->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
        LOG_WARN("worker", "stream limit check failed; the stream opens",
                 "why", reply && reply->type == REDIS_REPLY_ERROR ? reply->str : err ? err : "unexpected reply", NULL);
    }
    op->cb(rc, op->ud);
    free(op);
}

static void granted(defer_entry_t *e)
{
    stream_op_t *op = (stream_op_t *)((char *)e - offsetof(stream_op_t, later));
    op->cb(1, op->ud);
    free(op);
}

void wk_stream_acquire(wk_worker_t *w, const char *token_hash, const char *lease, wk_stream_cb cb, void *ud)
{
    stream_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->cb = cb;
    op->ud = ud;
    if (w->cfg->streams_per_token <= 0) {
        defer_call(&w->defer, w->loop, &op->later, granted);
        return;
    }
    char key[160], cap[32], ms[32];
    rcli_key(w->redis, key, sizeof key, "tstream:%s", token_hash);
    snprintf(cap, sizeof cap, "%ld", w->cfg->streams_per_token);
    lease_ms(w, ms, sizeof ms);
    const char *argv[] = {key, lease, cap, ms};
    wk_script_run(w, &acquire_script, 1, 4, argv, on_acquired, op);
}

static void on_renewed(redisReply *reply, const char *err, void *ud)
{
}

void wk_stream_renew(wk_worker_t *w, const char *token_hash, const char *lease)
{
    if (w->cfg->streams_per_token <= 0 || !lease || !*lease)
        return;
    char key[160], ms[32];
    rcli_key(w->redis, key, sizeof key, "tstream:%s", token_hash);
    lease_ms(w, ms, sizeof ms);
    const char *argv[] = {key, lease, ms};
    wk_script_run(w, &renew_script, 1, 3, argv, on_renewed, NULL);
}

void wk_stream_release(wk_worker_t *w, const char *token_hash, const char *lease)
{
    if (w->cfg->streams_per_token <= 0 || !lease || !*lease)
        return;
    char key[160];
    rcli_key(w->redis, key, sizeof key, "tstream:%s", token_hash);
    rcli_command(w->redis, NULL, NULL, "ZREM %s %s", key, lease);
}
