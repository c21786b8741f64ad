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

#include "wk_worker.h"

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
 * possibly before this returns: rc 1 allowed, 0 refused (wait_ms until a
 * token is due), -1 Redis failed (the caller lets the call through: pacing
 * must not turn a Redis hiccup into an outage). */
typedef void (*wk_pace_cb)(int rc, long wait_ms, void *ud);
void wk_pace_take(wk_worker_t *w, const char *account_id, const pace_rule_t *rule, wk_pace_cb cb, void *ud);

#endif
