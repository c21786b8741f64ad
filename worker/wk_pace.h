/* wk_pace: per-account pacing of upstream calls, shared by every worker
 * process and host through Redis, so that one customer's agents stay under
 * Jira's burst limits. A token bucket per account (pace:<account_id>): one
 * Lua script per tool call refills it by the milliseconds elapsed (Redis'
 * own clock, so workers' clocks do not matter) and takes one token, or
 * refuses with the wait until the next one. A refused call answers like an
 * upstream 429 without calling upstream. Rules (common/pacerule.h) per
 * credential type (JSMCP_PACE_API_TOKEN, JSMCP_PACE_OAUTH; off by default)
 * and per account ("pace" of the integrated account in the admin API).
 */
#ifndef JSMCP_WK_PACE_H
#define JSMCP_WK_PACE_H

#include <stddef.h>

#include "wk_result.h"
#include "wk_proc.h"

/* The token bucket as a Lua function, for the scripts that take tokens
 * (pacing here, initialize per URL in wk_session.c): bucket(key, rate,
 * burst, now_ms) refills the hash at key (tokens, ts) by the milliseconds
 * elapsed at rate tokens per second up to burst and takes one token:
 * returns 1, 0 or 0, <ms until one is due>. Redis' own clock is the caller's
 * now (TIME), so workers' clocks do not matter. The key expires once the
 * bucket would be full again (then absent = full). */
#define WK_PACE_BUCKET_LUA \
    "local function bucket(key, rate, burst, now)\n" \
    "  local b = redis.call('HMGET', key, 'tokens', 'ts')\n" \
    "  local tokens, ts = tonumber(b[1]), tonumber(b[2])\n" \
    "  if tokens == nil or ts == nil then tokens = burst; ts = now end\n" \
    "  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000); ts = now end\n" \
    "  local ok, wait = 0, 0\n" \
    "  if tokens >= 1 then tokens = tokens - 1; ok = 1\n" \
    "  else wait = math.ceil((1 - tokens) * 1000 / rate) end\n" \
    "  redis.call('HSET', key, 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.0f', ts))\n" \
    "  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)\n" \
    "  return ok, wait\n" \
    "end\n"

/* Loads the script into Redis (SCRIPT LOAD) for EVALSHA; calls before the
 * answer (or after a Redis restart lost it) send the script with EVAL. */
void wk_pace_start(wk_worker_t *w);

/* Takes one token of account_id's bucket under rule. cb runs exactly once,
 * never before this returns (wk_script_run): rc 1 allowed, 0 refused (wait_ms until a
 * token is due), -1 Redis failed (the caller lets the call through: pacing
 * must not turn a Redis hiccup into an outage). */
typedef void (*wk_pace_cb)(int rc, long wait_ms, void *ud);
void wk_pace_take(wk_worker_t *w, const char *account_id, const pace_rule_t *rule, wk_pace_cb cb, void *ud);

/* Pacing by Jira's own signals (no Redis round trip unless they came):
 * an upstream answer saying the account's quota is nearly spent
 * (X-RateLimit-NearLimit: true, or RateLimit: "<policy>";r=R;t=T, which
 * Jira sends after about 80% use), or a quota 429 with Retry-After, makes
 * this process pace that account's calls until the quota's window resets:
 * at R/T calls per second (what is left spread over the time left, burst
 * 1), after a quota 429 one call per Retry-After, with NearLimit alone the
 * JSMCP_PACE_NEAR_LIMIT rule for a minute (renewed by each such answer).
 * The bucket is the account's pace:<account_id> in Redis, shared with every
 * process that saw the signal (each sees it on its own next answer); a
 * stricter configured rule still applies. */
void wk_pace_note(wk_worker_t *w, const char *account_id, const wk_upstream_meta_t *rl, uint64_t now_ms);

/* The signal-derived rule in force for account_id: 1 with *rule, else 0. */
int wk_pace_near(const char *account_id, uint64_t now_ms, pace_rule_t *rule);

/* The reason a call refused under such a rule gets (rate_limit_reason). */
#define WK_PACE_REASON_NEAR "jsmcp-pacing-jira-quota"

#endif
