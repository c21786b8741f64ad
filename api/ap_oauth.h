/* ap_oauth: OAuth 2.0 (3LO) for integrated accounts — the per-workspace
 * app settings, the connect flow and the token endpoint client the
 * refresher (ap_refresh) shares.
 *
 * Routes (docs/admin-api.md):
 * - PUT/GET/DELETE /oauth-app (workspace key): client_id, client_secret
 *   (sealed, ad "oauthapp:<workspace_id>", never returned), scopes,
 *   redirect_url.
 * - POST /integrated-account/connect (workspace key) {tenant_id, site_url?,
 *   context?} -> {authorization_url, expires_at}. The URL's state is a
 *   random 256-bit token; what it stands for (workspace, tenant, site,
 *   context, redirect URL) is sealed in Redis under oauthstate:<sha256> for
 *   10 minutes and taken with GETDEL, so a state works once.
 * - GET /oauth/callback?code&state (no key: the state authenticates):
 *   exchanges the code, finds the cloudId through accessible-resources,
 *   creates the account (or reconnects the workspace's account with that
 *   tenant_id) and publishes acct:<id>.
 *
 * Configuration: JSMCP_OAUTH_AUTH_URL (authorize and token endpoints,
 * default https://auth.atlassian.com), JSMCP_OAUTH_API_URL
 * (accessible-resources, default https://api.atlassian.com), and the
 * refresher's own settings (ap_refresh.h).
 *
 * Sealed credentials of an oauth2 account (PostgreSQL and acct:<id>):
 * {"access_token","refresh_token","expires_at_ms","cloud_id","scope",
 *  "cred_version"}; cred_version equals the row's cred_version. The copy in
 * acct:<id> (what workers read) leaves refresh_token out.
 *
 * Callbacks (ap_oauth_token, ap_oauth_stop's done): never before the call
 * returns; a refused call returns -1 and its callback never runs (the
 * contract of the whole tree, like libuv's).
 */
#ifndef JSMCP_AP_OAUTH_H
#define JSMCP_AP_OAUTH_H

#include <jansson.h>
#include <stdint.h>

#include "ap_req.h"
#include "httpc.h"

#define AP_OAUTH_URL_MAX 512

/* Reads the configuration and creates the token endpoint's HTTP client
 * (one per process); -1 (reason on stderr) on bad configuration. */
int ap_oauth_start(ap_app_t *app);
/* Closes the HTTP client (letting token calls in flight finish), then
 * done(arg), never before this returns. Stop the refresher first
 * (ap_refresh_stop): its refreshes use this client. */
void ap_oauth_stop(ap_app_t *app, void (*done)(void *arg), void *arg);

extern const ap_route_t ap_oauth_routes[];

/* ---- shared with ap_refresh ---- */

/* The answer of the token endpoint, valid during the callback. */
typedef struct ap_token_res_s {
    int status;         /* HTTP status, 0 when there was no answer */
    const char *err;    /* transport error, or NULL */
    const json_t *json; /* the body when it is a JSON object, else NULL */
    const char *error;  /* its OAuth "error" member ("invalid_grant"), or NULL */
} ap_token_res_t;
typedef void (*ap_token_cb)(const ap_token_res_t *res, void *ud);

/* POSTs body (JSON) to <auth_url>/oauth/token. 0 and cb runs once later,
 * or -1 and cb never runs. */
int ap_oauth_token(ap_app_t *app, const json_t *body, ap_token_cb cb, void *ud);

/* 1 when a token answer is usable: 200 with access_token (<= 8 KiB) and
 * expires_in > 0. */
int ap_oauth_token_ok(const ap_token_res_t *res);
/* The credentials to seal from a token answer; refresh_token and scope
 * fall back to prev's (NULL when none). */
json_t *ap_oauth_creds(const json_t *tok, const json_t *prev, const char *cloud_id, int64_t cred_version);

/* Seal / open the sealed credentials of account id (ad "acct:<id>").
 * Callers wipe and free / decref. NULL on failure. */
char *ap_oauth_seal_creds(ap_app_t *app, const char *id, const json_t *creds);
json_t *ap_oauth_open_creds(ap_app_t *app, const char *id, const char *sealed);
/* The acct:<id> record of an oauth2 account at the row's version
 * (ap_account_record): without the refresh token — workers never refresh,
 * so the token that can mint new access tokens stays in PostgreSQL only.
 * Caller wipes and frees. */
char *ap_oauth_record(ap_app_t *app, const char *id, long long version, const char *site_url, const char *status,
                      const char *cloud_id, const char *pace, const json_t *creds);
/* Wipes the top-level strings of a JSON object (tokens) and decrefs it;
 * NULL is fine. */
void ap_oauth_free_json(json_t *v);
/* Opens a workspace's sealed client secret; caller wipes and frees. */
char *ap_oauth_open_secret(ap_app_t *app, const char *ws_id, const char *sealed);

#endif
