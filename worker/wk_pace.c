/* wk_pace: see wk_pace.h. */
#include "wk_pace.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "wk_script.h"

/* KEYS[1] = pace:<account_id>; ARGV = tokens per second, burst.
 * Returns {1, 0} (taken) or {0, ms until a token is due}. */
static const char PACE_LUA[] =
    WK_PACE_BUCKET_LUA
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ok, wait = bucket(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now)\n"
    "return {ok, wait}\n";

static wk_script_t pace_script = {.src = PACE_LUA};

void wk_pace_start(wk_worker_t *w)
{
    if (w->cfg->pace_api_token.per_s > 0 || w->cfg->pace_oauth.per_s > 0)
        wk_script_load(w, &pace_script);
}

typedef struct pace_op_s {
    wk_worker_t *w;
    wk_pace_cb cb;
    void *ud;
} pace_op_t;

static void on_reply(redisReply *reply, const char *err, void *ud)
{
    pace_op_t *op = ud;
    wk_worker_t *w = op->w;
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
    char key[200], rate[48], burst[24];
    rcli_key(w->redis, key, sizeof key, "pace:%s", account_id);
    snprintf(rate, sizeof rate, "%.9g", rule->per_s);
    snprintf(burst, sizeof burst, "%ld", rule->burst);
    pace_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->cb = cb;
    op->ud = ud;
    const char *argv[] = {key, rate, burst};
    wk_script_run(w, &pace_script, 1, 3, argv, on_reply, op);
}
