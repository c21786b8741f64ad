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
    /* Jira's quota signals may pace any account (wk_pace_note). */
    wk_script_load(w, &pace_script);
}

/* The accounts this process saw a quota signal for, with the rule and
 * until when it applies: a small table, the oldest entry replaced. */
#define NEAR_N 256
static struct {
    char account[64];
    pace_rule_t rule;
    uint64_t until_ms;
} near_tab[NEAR_N];
static unsigned near_next;

void wk_pace_note(wk_worker_t *w, const char *account_id, const wk_upstream_meta_t *rl, uint64_t now_ms)
{
    pace_rule_t r;
    long window_s;
    if (!rl || !account_id || !*account_id || strlen(account_id) >= sizeof near_tab[0].account)
        return;
    if (rl->quota_remaining >= 0 && rl->quota_reset_s > 0) {
        /* What is left, spread over the time left; none left: one call
         * when the window resets. */
        window_s = rl->quota_reset_s;
        r.per_s = (rl->quota_remaining > 0 ? (double)rl->quota_remaining : 1.0) / (double)window_s;
        r.burst = 1;
    } else if (rl->limited && strstr(rl->reason, "quota") && rl->retry_after_s > 0) {
        /* A quota 429: "pause everything until the reset" (Atlassian). */
        window_s = rl->retry_after_s;
        r.per_s = 1.0 / (double)window_s;
        r.burst = 1;
    } else if (rl->near_limit && w->cfg->pace_near.per_s > 0) {
        window_s = 60;
        r = w->cfg->pace_near;
    } else {
        return;
    }
    int slot = -1;
    for (int i = 0; i < NEAR_N && slot < 0; i++)
        if (strcmp(near_tab[i].account, account_id) == 0)
            slot = i;
    if (slot < 0) {
        slot = (int)near_next;
        near_next = (near_next + 1) % NEAR_N;
        snprintf(near_tab[slot].account, sizeof near_tab[slot].account, "%s", account_id);
        LOG_INFO("pace", "Jira says the account's quota is nearly spent; pacing its calls", "account", account_id,
                 NULL);
    }
    near_tab[slot].rule = r;
    near_tab[slot].until_ms = now_ms + (uint64_t)window_s * 1000;
}

int wk_pace_near(const char *account_id, uint64_t now_ms, pace_rule_t *rule)
{
    for (int i = 0; i < NEAR_N; i++)
        if (near_tab[i].account[0] && strcmp(near_tab[i].account, account_id) == 0) {
            if (near_tab[i].until_ms <= now_ms)
                return 0;
            *rule = near_tab[i].rule;
            return 1;
        }
    return 0;
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
