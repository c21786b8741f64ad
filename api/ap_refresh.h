/* ap_refresh: OAuth access-token refresh that never loses a rotated
 * refresh token, single-flight across every API replica.
 *
 * Runs in each API process:
 * - a scan every JSMCP_OAUTH_REFRESH_INTERVAL_MS (default 15 s) for active
 *   oauth2 accounts whose access token expires within
 *   JSMCP_OAUTH_REFRESH_AHEAD_MS (default 5 min);
 * - a subscription to the channel <prefix>refresh where workers PUBLISH
 *   "<account_id> <cred_version>" after an upstream 401 (0 = the version
 *   is unknown). See docs/architecture.md for the worker protocol.
 *
 * One refresh of account A (one rop_t):
 *   1. SET lock:refresh:<A> <nonce> NX PX 15000 — not acquired: another
 *      process is on it, done.
 *   2. Read the row (sealed credentials, cred_version, status, app).
 *      A reported version that is not the current one is stale: someone
 *      refreshed already, so only acct:<A> is republished (a worker may
 *      have missed it). A scheduled refresh of a token that is no longer
 *      due is dropped.
 *   3. POST the refresh token to the token endpoint.
 *   4. UPDATE ... SET credentials_sealed = new, cred_version = v + 1
 *      WHERE id = A AND cred_version = v: the new refresh token is
 *      committed before anything uses the new access token.
 *   5. SET acct:<A> (new access token, cred_version v + 1), then PUBLISH
 *      <prefix>refreshed "<A> <v+1> active" so waiting workers wake up.
 *   6. Release the lock (compare-and-delete on the nonce).
 * invalid_grant in 3 sets status needs_reauth (same compare-and-set) and
 * publishes it. Other failures hold the account back for
 * JSMCP_OAUTH_RETRY_MS (default 1 min) via refresh_retry_at.
 *
 * Outcomes are counted in jsmcp_api_oauth_refresh_total{outcome}.
 */
#ifndef JSMCP_AP_REFRESH_H
#define JSMCP_AP_REFRESH_H

#include <stddef.h>

#include "ap_req.h"

/* Reads its settings (JSMCP_OAUTH_REFRESH_AHEAD_MS,
 * JSMCP_OAUTH_REFRESH_INTERVAL_MS, JSMCP_OAUTH_RETRY_MS), subscribes and
 * starts the scan; after ap_oauth_start (its token calls use ap_oauth's
 * client). -1 (reason on stderr) on bad configuration or no subscription. */
int ap_refresh_start(ap_app_t *app);
/* Stops the scan and the subscription; done(arg) once no refresh is in
 * flight, never before this returns. Before ap_oauth_stop. */
void ap_refresh_stop(ap_app_t *app, void (*done)(void *arg), void *arg);

/* Parses a refresh request "<uuid> <version>" (version 0..2^53). 0 and the
 * parts, or -1 for anything else. Pure; unit tested. */
int ap_refresh_parse(const char *msg, size_t len, char *id_out, long long *version_out);

#endif
