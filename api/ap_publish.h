/* ap_publish: the Redis projection of PostgreSQL that workers read.
 *
 * Writes happen inside the request's transaction, before COMMIT: a failed
 * Redis write rolls the transaction back and answers 503, so a record is
 * never in PostgreSQL without being published. The opposite (published but
 * not committed, when COMMIT itself fails) is repaired by reconcile, which
 * runs at start and every JSMCP_RECONCILE_INTERVAL_MS: it republishes what
 * Redis lacks (SET NX, so it never overwrites a newer value) and removes
 * srv:/acct: keys PostgreSQL has not had for JSMCP_RECONCILE_GRACE_MS.
 */
#ifndef JSMCP_AP_PUBLISH_H
#define JSMCP_AP_PUBLISH_H

#include "ap_app.h"

/* SQL expression of the srv:<hash> value over a row of mcp_servers, with
 * the given expiry expression: the worker refuses the token after
 * expires_at_ms itself, whatever Redis' TTL says. */
#define AP_SRV_REDIS_JSON_EXP(exp)                                                                \
    "json_build_object('id', id, 'workspace_id', workspace_id, 'account_id', account_id,"        \
    " 'name', name, 'config', config,"                                                            \
    " 'expires_at_ms', (extract(epoch FROM " exp ") * 1000)::bigint,"                             \
    " 'require_api_token_auth', require_api_token_auth)::text"
/* The current token lives until expires_at; a rotated-out one until the
 * end of its overlap (LEAST ignores a NULL expires_at). */
#define AP_SRV_PREV_EXPIRES "LEAST(expires_at, prev_token_expires_at)"
#define AP_SRV_REDIS_JSON AP_SRV_REDIS_JSON_EXP("expires_at")
#define AP_SRV_PREV_REDIS_JSON AP_SRV_REDIS_JSON_EXP(AP_SRV_PREV_EXPIRES)

/* Runs one Redis command (argv[1] is a key suffix: the prefix is added)
 * for request r; next(r) on success, else rollback and 503. */
void ap_redis(ap_req_t *r, void (*next)(ap_req_t *r), int argc, const char **argv);

/* DEL of the keys (suffixes, prefixed here) for request r; next(r) on
 * success, else rollback and 503. */
void ap_redis_del(ap_req_t *r, void (*next)(ap_req_t *r), char **suffixes, size_t n);

/* Deletes the key (suffix, prefixed here) a failed write had published,
 * then answers status/detail/field (static strings): the client never sees
 * the answer before the key is gone. */
void ap_fail_after_del(ap_req_t *r, const char *suffix, int status, const char *detail, const char *field);

/* The sealed acct:<id> value: {"site_url","auth_type","status","cloud_id"?,
 * "pace"?} merged with the credentials, less any refresh_token. cloud_id and
 * pace (the account's own pacing rule) NULL or "" when it has none. Caller
 * frees; NULL on failure. */
char *ap_account_redis_value(ap_app_t *app, const char *id, const char *site_url, const char *auth_type,
                             const char *status, const char *cloud_id, const char *pace, const json_t *creds);

/* Starts reconcile (now and then periodically). */
void ap_publish_start(ap_app_t *app);
/* Stops the timer; done runs once no reconcile pass is in flight. */
void ap_publish_stop(ap_app_t *app, void (*done)(void *arg), void *arg);

#endif
