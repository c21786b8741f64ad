/* wk_pace: see wk_pace.h. */
#include "wk_pace.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

/* KEYS[1] = pace:<account_id>; ARGV = tokens per second, burst.
 * Returns {1, 0} (taken) or {0, ms until a token is due}. The key expires
 * once the bucket would be full again (then absent = full). */
static const char PACE_LUA[] =
    "local rate = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')\n"
    "local tokens, ts = tonumber(b[1]), tonumber(b[2])\n"
    "if tokens == nil or ts == nil then tokens = burst; ts = now end\n"
    "if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000); ts = now end\n"
    "local ok, wait = 0, 0\n"
    "if tokens >= 1 then tokens = tokens - 1; ok = 1\n"
    "else wait = math.ceil((1 - tokens) * 1000 / rate) end\n"
    "redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.0f', ts))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)\n"
    "return {ok, wait}\n";

static void on_loaded(redisReply *reply, const char *err, void *ud)
{
    wk_worker_t *w = ud;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len < sizeof w->pace_sha)
        snprintf(w->pace_sha, sizeof w->pace_sha, "%s", reply->str);
}

void wk_pace_start(wk_worker_t *w)
{
    if (w->cfg->pace_api_token.per_s > 0 || w->cfg->pace_oauth.per_s > 0)
        rcli_command(w->redis, on_loaded, w, "SCRIPT LOAD %s", PACE_LUA);
}

typedef struct pace_op_s {
    wk_worker_t *w;
    char key[200];
    char rate[48], burst[24];
    int evaled;       /* sent with EVAL (the script itself) */
    wk_pace_cb cb;
    void *ud;
} pace_op_t;

static void on_reply(redisReply *reply, const char *err, void *ud);

static int pace_send(pace_op_t *op)
{
    wk_worker_t *w = op->w;
    if (w->pace_sha[0] && !op->evaled)
        return rcli_command(w->redis, on_reply, op, "EVALSHA %s 1 %s %s %s", w->pace_sha, op->key, op->rate,
                            op->burst);
    op->evaled = 1;
    return rcli_command(w->redis, on_reply, op, "EVAL %s 1 %s %s %s", PACE_LUA, op->key, op->rate, op->burst);
}

static void on_reply(redisReply *reply, const char *err, void *ud)
{
    pace_op_t *op = ud;
    wk_worker_t *w = op->w;
    if (reply && reply->type == REDIS_REPLY_ERROR && !op->evaled && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* Redis restarted or was flushed: send the script, and load it again. */
        w->pace_sha[0] = 0;
        wk_pace_start(w);
        if (pace_send(op) == 0)
            return;
        reply = NULL;
    }
    int rc = -1;
    long wait = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[1]->type == REDIS_REPLY_INTEGER) {
        rc = reply->element[0]->integer == 1;
        wait = (long)reply->element[1]->integer;
    } else {
        metrics_inc(w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
        LOG_WARN("worker", "pacing check failed; the call goes ahead",
                 "why", reply && reply->type == REDIS_REPLY_ERROR ? reply->str : err ? err : "unexpected reply",
                 NULL);
    }
    op->cb(rc, wait, op->ud);
    free(op);
}

void wk_pace_take(wk_worker_t *w, const char *account_id, const pace_rule_t *rule, wk_pace_cb cb, void *ud)
{
    pace_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    rcli_key(w->redis, op->key, sizeof op->key, "pace:%s", account_id);
    snprintf(op->rate, sizeof op->rate, "%.9g", rule->per_s);
    snprintf(op->burst, sizeof op->burst, "%ld", rule->burst);
    op->cb = cb;
    op->ud = ud;
    if (pace_send(op) != 0)
        on_reply(NULL, "redis unavailable", op);
}
