/* wk_refresh: the worker side of OAuth refresh (docs/architecture.md,
 * "Worker protocol"). A call whose access token expired or got an upstream
 * 401 reports it with PUBLISH <prefix>refresh "<account_id> <cred_version>"
 * and waits for a newer acct:<id>: woken by <prefix>refreshed (one
 * subscription per process) and, as a fallback, by polling GET acct:<id>
 * every 200 ms, bypassing the account cache. The worker never calls the
 * token endpoint itself: the API's refresher does, once.
 */
#ifndef JSMCP_WK_REFRESH_H
#define JSMCP_WK_REFRESH_H

#include "wk_store.h"
#include "wk_proc.h"

#define WK_REFRESH_POLL_MS 200
#define WK_REFRESH_GIVEUP_MS 10000

/* Subscribes to <prefix>refreshed (once, at worker start). 0 or -1. */
int wk_refresh_start(wk_worker_t *w);
/* Unsubscribes (drain); waiters still finish by poll or timeout. */
void wk_refresh_stop(wk_worker_t *w);

/* Waits for acct:<account_id> newer than used_version. cb runs exactly once,
 * never before this returns: rc 1 with the new account (valid during the
 * callback), -1/0 with err when the record became unusable (needs_reauth,
 * gone, Redis down: the store's answer), or rc -2 after WK_REFRESH_GIVEUP_MS
 * without a newer version (err: a retryable message). */
void wk_refresh_wait(wk_worker_t *w, const char *account_id, long long used_version, wk_store_account_cb cb,
                     void *ud);

#endif
