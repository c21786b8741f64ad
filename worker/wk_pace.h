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
