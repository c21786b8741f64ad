/* wk_subscribe: see wk_subscribe.h. */
#include "wk_subscribe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "log.h"
#include "secret.h"
#include "clock.h"
#include "wk_drain.h"
#include "wk_pace.h"
#include "wk_script.h"
#include "wk_store.h"

#define WK_POLL_CLAIM 16        /* resources one claim takes */
#define WK_POLL_INFLIGHT 32     /* polls of one process at a time */
#define WK_POLL_TICK_MS 1000    /* how often a process looks for due resources (at most) */

typedef struct wk_subscribe_s {
    wk_worker_t *w;
    uv_timer_t timer;
    int timer_on, stopping, claiming;
    int inflight;
} wk_subscribe_t;

/* ---- scripts ---- */

/* KEYS: rw, rws, rpoll, ssub. ARGV: th, uri, acct, sid, hash, ttl (ms),
 * interval (ms), rid, cap per resource, cap per session. Returns 1, or 0
 * when a cap is reached. */
static const char SUB_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl, iv = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "if redis.call('SISMEMBER', KEYS[4], ARGV[8]) == 0 and redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[10]) then\n"
    "  return 0 end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "if not redis.call('ZSCORE', KEYS[2], ARGV[4]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[9]) then\n"
    "  return 0 end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  redis.call('HSET', KEYS[1], 'th', ARGV[1], 'uri', ARGV[2], 'acct', ARGV[3], 'h', ARGV[5])\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])\n"
    "redis.call('SADD', KEYS[4], ARGV[8])\n"
    "if not redis.call('ZSCORE', KEYS[3], ARGV[8]) then redis.call('ZADD', KEYS[3], now + iv, ARGV[8]) end\n"
    "redis.call('PEXPIRE', KEYS[1], ttl + 4 * iv)\n"
    "redis.call('PEXPIRE', KEYS[2], ttl + 4 * iv)\n"
    "redis.call('PEXPIRE', KEYS[4], ttl)\n"
    "return 1\n";

/* KEYS: rw, rws, rpoll, ssub. ARGV: sid, rid. */
static const char UNSUB_LUA[] =
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('SREM', KEYS[4], ARGV[2])\n"
    "if redis.call('ZCARD', KEYS[2]) == 0 then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2])\n"
    "  redis.call('ZREM', KEYS[3], ARGV[2])\n"
    "end\n"
    "return 1\n";

/* KEYS: rpoll. ARGV: how many, lease (ms), prefixes of sess:, rw:, rws:,
 * rpace:, the poll rate per second and its burst. Returns {rid, th, uri,
 * hash} for each claimed resource (flattened). Ended sessions leave their
 * resources' sets here; a resource nobody watches leaves rpoll. */
static const char CLAIM_LUA[] =
    WK_PACE_BUCKET_LUA
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))\n"
    "local out = {}\n"
    "for _, rid in ipairs(due) do\n"
    "  local rw, rws = ARGV[4] .. rid, ARGV[5] .. rid\n"
    "  redis.call('ZREMRANGEBYSCORE', rws, '-inf', now)\n"
    "  for _, sid in ipairs(redis.call('ZRANGE', rws, 0, -1)) do\n"
    "    if redis.call('EXISTS', ARGV[3] .. sid) == 0 then redis.call('ZREM', rws, sid) end\n"
    "  end\n"
    "  local f = redis.call('HMGET', rw, 'th', 'uri', 'acct', 'h')\n"
    "  if redis.call('ZCARD', rws) == 0 or not f[1] then\n"
    "    redis.call('DEL', rw, rws)\n"
    "    redis.call('ZREM', KEYS[1], rid)\n"
    "  else\n"
    "    local ok, wait = bucket(ARGV[6] .. f[3], tonumber(ARGV[7]), tonumber(ARGV[8]), now)\n"
    "    if ok == 1 then\n"
    "      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), rid)\n"
    "      table.insert(out, rid); table.insert(out, f[1]); table.insert(out, f[2]); table.insert(out, f[4] or '')\n"
    "    else\n"
    "      redis.call('ZADD', KEYS[1], now + wait, rid)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: rw, rws, rpoll. ARGV: rid, new hash ("" = keep the old one),
 * interval (ms), the notification, the ssech: prefix. Returns the number
 * of sessions notified (0 when nothing changed). */
static const char COMMIT_LUA[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])\n"
    "if ARGV[2] == '' or redis.call('HGET', KEYS[1], 'h') == ARGV[2] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'h', ARGV[2])\n"
    "local n = 0\n"
    "for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do\n"
    "  redis.call('PUBLISH', ARGV[5] .. sid, ARGV[4]); n = n + 1\n"
    "end\n"
    "return n\n";

/* KEYS: rw, rws, rpoll. ARGV: rid. A resource whose server is gone. */
static const char DROP_LUA[] =
    "redis.call('DEL', KEYS[1], KEYS[2])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "return 1\n";

static wk_script_t sub_script = {.src = SUB_LUA};
static wk_script_t unsub_script = {.src = UNSUB_LUA};
static wk_script_t claim_script = {.src = CLAIM_LUA};
static wk_script_t commit_script = {.src = COMMIT_LUA};
static wk_script_t drop_script = {.src = DROP_LUA};

typedef struct keys_s {
    char rid[SECRET_HASH_HEX_LEN + 1];
    char rw[160], rws[160], rpoll[96], ssub[128];
} keys_t;

static void make_keys(wk_worker_t *w, const char *th, const char *uri, const char *sid, keys_t *k)
{
    if (th && uri) {
        buf_t b;
        buf_init(&b, 4096);
        buf_printf(&b, "%s\n%s", th, uri);
        secret_hash_hex(b.data ? b.data : "", b.data ? b.len : 0, k->rid);
        buf_free(&b);
    }
    rcli_key(w->redis, k->rw, sizeof k->rw, "rw:%s", k->rid);
    rcli_key(w->redis, k->rws, sizeof k->rws, "rws:%s", k->rid);
    rcli_key(w->redis, k->rpoll, sizeof k->rpoll, "rpoll");
    rcli_key(w->redis, k->ssub, sizeof k->ssub, "ssub:%s", sid ? sid : "");
}

/* The hash a poll compares: of a readable answer, or of "not found" (a
 * resource that disappears or comes back is a change too); "" for a
 * passing failure, which changes nothing. */
static void answer_hash(const json_t *result, int code, char *out)
{
    out[0] = 0;
    if (result) {
        char *s = jsontext_dump(json_object_get(result, "contents"));
        secret_hash_hex(s ? s : "", s ? strlen(s) : 0, out);
        free(s);
    } else if (code == WK_RPC_RESOURCE_NOT_FOUND || code == WK_RPC_INVALID_PARAMS) {
        secret_hash_hex("not found", 9, out);
    }
}

/* ---- subscribe / unsubscribe ---- */

typedef struct sub_op_s {
    wk_worker_t *w;
    char th[SECRET_HASH_HEX_LEN + 1];
    char acct[64];
    char sid[WK_SESSION_ID_LEN + 1];
    char uri[1024];
    wk_resources_cb cb;
    void *ud;
} sub_op_t;

static void sub_end(sub_op_t *op, json_t *result, int code, const char *msg)
{
    wk_resources_cb cb = op->cb;
    void *ud = op->ud;
    free(op);
    cb(result, code, msg, ud);
}

static void on_subscribed(redisReply *reply, const char *err, void *ud)
{
    sub_op_t *op = ud;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        sub_end(op, json_object(), 0, NULL);
    } else if (reply && reply->type == REDIS_REPLY_INTEGER) {
        char msg[200];
        snprintf(msg, sizeof msg, "Too many subscriptions: a session may watch %d resources, a resource %d sessions",
                 WK_SUB_PER_SESSION, WK_SUB_PER_RESOURCE);
        sub_end(op, NULL, WK_RPC_INVALID_PARAMS, msg);
    } else {
        metrics_inc(op->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
        sub_end(op, NULL, WK_RPC_INTERNAL, "The subscription store is unavailable; try again");
    }
}

/* The first read: the resource exists and is in scope, and its hash is the
 * one later polls compare with (unless another session's is there). */
static void on_first_read(json_t *result, int code, const char *message, void *ud)
{
    sub_op_t *op = ud;
    if (!result) {
        sub_end(op, NULL, code, message);
        return;
    }
    char h[SECRET_HASH_HEX_LEN + 1], ttl[32], iv[32], capr[16], caps[16];
    answer_hash(result, 0, h);
    json_decref(result);
    keys_t k;
    make_keys(op->w, op->th, op->uri, op->sid, &k);
    snprintf(ttl, sizeof ttl, "%lld", (long long)op->w->cfg->session_ttl_s * 1000);
    snprintf(iv, sizeof iv, "%ld", op->w->cfg->resource_poll_ms);
    snprintf(capr, sizeof capr, "%d", WK_SUB_PER_RESOURCE);
    snprintf(caps, sizeof caps, "%d", WK_SUB_PER_SESSION);
    const char *argv[] = {k.rw, k.rws, k.rpoll, k.ssub, op->th, op->uri, op->acct, op->sid, h, ttl, iv, k.rid,
                          capr, caps};
    wk_script_run(op->w, &sub_script, 4, 14, argv, on_subscribed, op);
}

/* The uri param, or NULL with the refusal answered from the loop. */
static const char *uri_param(wk_worker_t *w, const json_t *params, wk_resources_cb cb, void *ud)
{
    const char *uri = jsontext_str(params, "uri");
    if (!uri || strlen(uri) >= 1024) {
        wk_mcp_tool_answer(w, NULL, WK_RPC_INVALID_PARAMS,
                            "Invalid params: \"uri\" (a string of at most 1023 bytes) is required", cb, ud);
        return NULL;
    }
    return uri;
}

void wk_subscribe(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, const json_t *params,
                  const char *request_id, const char *traceparent, wk_resources_cb cb, void *ud)
{
    const char *uri = uri_param(w, params, cb, ud);
    if (!uri)
        return;
    char err[600];
    if (wk_resources_check(w, srv->config, uri, err, sizeof err) != 0) {
        wk_mcp_tool_answer(w, NULL, WK_RPC_INVALID_PARAMS, err, cb, ud);
        return;
    }
    sub_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    str_copy(op->th, sizeof op->th, srv->token_hash);
    str_copy(op->acct, sizeof op->acct, srv->account_id);
    str_copy(op->sid, sizeof op->sid, sess->id);
    str_copy(op->uri, sizeof op->uri, uri);
    op->cb = cb;
    op->ud = ud;
    wk_resources_read(w, srv, uri, request_id, traceparent, on_first_read, op);
}

static void on_unsubscribed(redisReply *reply, const char *err, void *ud)
{
    sub_op_t *op = ud;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        sub_end(op, json_object(), 0, NULL);
    else
        sub_end(op, NULL, WK_RPC_INTERNAL, "The subscription store is unavailable; try again");
}

void wk_unsubscribe(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, const json_t *params,
                    wk_resources_cb cb, void *ud)
{
    const char *uri = uri_param(w, params, cb, ud);
    if (!uri)
        return;
    sub_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->cb = cb;
    op->ud = ud;
    keys_t k;
    make_keys(w, srv->token_hash, uri, sess->id, &k);
    const char *argv[] = {k.rw, k.rws, k.rpoll, k.ssub, sess->id, k.rid};
    wk_script_run(w, &unsub_script, 4, 6, argv, on_unsubscribed, op);
}

/* ---- polling ---- */

/* One claimed resource being read; freed in poll_end only. */
typedef struct poll_op_s {
    wk_worker_t *w;
    char rid[SECRET_HASH_HEX_LEN + 1];
    char th[SECRET_HASH_HEX_LEN + 1];
    char uri[1024];
    char rqid[48];
} poll_op_t;

static void poll_end(poll_op_t *op)
{
    wk_worker_t *w = op->w;
    wk_subscribe_t *s = w->subscribe;
    if (s)
        s->inflight--;
    free(op);
    /* A poll is no HTTP request: the drain waits for it like a detached call. */
    w->detached_calls--;
    wk_drain_maybe_stop(w);
}

static void on_committed(redisReply *reply, const char *err, void *ud)
{
    poll_op_t *op = ud;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        metrics_inc(op->w->metrics, "jsmcp_worker_resource_updates_total", "", 1);
        LOG_DEBUG("worker", "resource changed", "uri", op->uri, NULL);
    } else if (!reply || reply->type == REDIS_REPLY_ERROR) {
        metrics_inc(op->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
    }
    poll_end(op);
}

static void commit(poll_op_t *op, const char *hash)
{
    keys_t k;
    str_copy(k.rid, sizeof k.rid, op->rid);
    make_keys(op->w, NULL, NULL, NULL, &k);
    char iv[32], prefix[96];
    snprintf(iv, sizeof iv, "%ld", op->w->cfg->resource_poll_ms);
    rcli_key(op->w->redis, prefix, sizeof prefix, "ssech:");
    json_t *n = json_pack("{s:s,s:s,s:{s:s}}", "jsonrpc", "2.0", "method", "notifications/resources/updated", "params",
                          "uri", op->uri);
    char *note = jsontext_dump(n);
    json_decref(n);
    const char *argv[] = {k.rw, k.rws, k.rpoll, op->rid, hash, iv, note ? note : "{}", prefix};
    wk_script_run(op->w, &commit_script, 3, 8, argv, on_committed, op);
    free(note);
}

static void on_polled(json_t *result, int code, const char *message, void *ud)
{
    poll_op_t *op = ud;
    char h[SECRET_HASH_HEX_LEN + 1];
    answer_hash(result, code, h);
    json_decref(result);
    metrics_inc(op->w->metrics, "jsmcp_worker_resource_polls_total", "", 1);
    commit(op, h);
}

static void on_poll_server(int rc, wk_server_t *srv, void *ud)
{
    poll_op_t *op = ud;
    if (rc == 1 && !wk_server_expired(srv, clock_now_ms())) {
        wk_resources_read(op->w, srv, op->uri, op->rqid, NULL, on_polled, op); /* no client's trace */
        wk_server_clear(srv);
        return;
    }
    if (rc == 1)
        wk_server_clear(srv);
    if (rc < 0) {
        commit(op, ""); /* Redis trouble: try at the next interval */
        return;
    }
    /* The server URL is gone (deleted, rotated out, expired): so are its subscriptions. */
    keys_t k;
    str_copy(k.rid, sizeof k.rid, op->rid);
    make_keys(op->w, NULL, NULL, NULL, &k);
    const char *argv[] = {k.rw, k.rws, k.rpoll, op->rid};
    wk_script_run(op->w, &drop_script, 3, 4, argv, on_committed, op);
}

static void on_claimed(redisReply *reply, const char *err, void *ud)
{
    wk_subscribe_t *s = ud;
    s->claiming = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            metrics_inc(s->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
        return;
    }
    for (size_t i = 0; i + 3 < reply->elements; i += 4) {
        redisReply **e = reply->element + i;
        if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING || e[2]->type != REDIS_REPLY_STRING ||
            e[0]->len != SECRET_HASH_HEX_LEN || e[1]->len != SECRET_HASH_HEX_LEN || e[2]->len >= 1024)
            continue;
        poll_op_t *op = mem_calloc(1, sizeof *op);
        op->w = s->w;
        memcpy(op->rid, e[0]->str, e[0]->len);
        memcpy(op->th, e[1]->str, e[1]->len);
        memcpy(op->uri, e[2]->str, e[2]->len);
        snprintf(op->rqid, sizeof op->rqid, "poll-%.16s", op->rid);
        s->inflight++;
        s->w->detached_calls++;
        wk_store_server(s->w, op->th, on_poll_server, op);
    }
}

static void on_tick(uv_timer_t *t)
{
    wk_subscribe_t *s = t->data;
    wk_worker_t *w = s->w;
    if (s->stopping || s->claiming || s->inflight >= WK_POLL_INFLIGHT || !rcli_ready(w->redis))
        return;
    char rpoll[96], sp[96], rwp[96], rwsp[96], pacep[96], n[16], lease[32], rate[48], burst[32];
    rcli_key(w->redis, rpoll, sizeof rpoll, "rpoll");
    rcli_key(w->redis, sp, sizeof sp, "sess:");
    rcli_key(w->redis, rwp, sizeof rwp, "rw:");
    rcli_key(w->redis, rwsp, sizeof rwsp, "rws:");
    rcli_key(w->redis, pacep, sizeof pacep, "rpace:");
    int room = WK_POLL_INFLIGHT - s->inflight;
    snprintf(n, sizeof n, "%d", room < WK_POLL_CLAIM ? room : WK_POLL_CLAIM);
    /* Long enough for the read to end (a refresh wait and a retry included). */
    snprintf(lease, sizeof lease, "%ld", 2 * w->cfg->upstream_timeout_ms + 5000);
    snprintf(rate, sizeof rate, "%.9g", w->cfg->resource_poll_rate.per_s);
    snprintf(burst, sizeof burst, "%ld", w->cfg->resource_poll_rate.burst);
    const char *argv[] = {rpoll, n, lease, sp, rwp, rwsp, pacep, rate, burst};
    s->claiming = 1;
    wk_script_run(w, &claim_script, 1, 9, argv, on_claimed, s);
}

void wk_subscribe_start(wk_worker_t *w)
{
    wk_subscribe_t *s = mem_calloc(1, sizeof *s);
    s->w = w;
    w->subscribe = s;
    long tick = w->cfg->resource_poll_ms / 2;
    if (tick > WK_POLL_TICK_MS)
        tick = WK_POLL_TICK_MS;
    if (tick < 50)
        tick = 50;
    uv_timer_init(w->loop, &s->timer);
    s->timer.data = s;
    s->timer_on = 1;
    uv_timer_start(&s->timer, on_tick, (uint64_t)tick, (uint64_t)tick);
    uv_unref((uv_handle_t *)&s->timer);
}

void wk_subscribe_stop(wk_worker_t *w)
{
    wk_subscribe_t *s = w->subscribe;
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    if (s->timer_on) {
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, NULL);
    }
}

void wk_subscribe_free(wk_worker_t *w)
{
    free(w->subscribe);
    w->subscribe = NULL;
}
