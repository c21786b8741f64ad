/* wk_record: the records the admin API publishes to Redis for workers, as
 * wk_store loads them: an MCP server (srv:<token_hash>) and its integrated
 * account (acct:<account_id>, sealed; the decrypted JSON parsed here).
 * Pure: parsing and clearing only, no I/O.
 */
#ifndef JSMCP_WK_RECORD_H
#define JSMCP_WK_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

/* The srv:<token_hash> record published by the admin API. */
typedef struct wk_server_s {
    json_t *rec;                 /* owned */
    const char *id, *workspace_id, *account_id, *name;
    const json_t *config;
    int require_api_token_auth;
    int64_t expires_at_ms;       /* 0 = none */
    int64_t not_after_ms;        /* 0 = none */
    char token_hash[SECRET_HASH_HEX_LEN + 1];
} wk_server_t;

/* Parses a srv record (takes rec). -1 when malformed (rec freed). */
int wk_server_parse(wk_server_t *s, json_t *rec, const char *token_hash);
void wk_server_clear(wk_server_t *s);
/* 1 when expired at now_ms (the worker checks itself, not only the TTL). */
int wk_server_expired(const wk_server_t *s, int64_t now_ms);

/* Where and how to call the customer's site (from the sealed acct: record). */
typedef struct wk_account_s {
    char *base_url;   /* "https://x.atlassian.net", or the OAuth gateway base */
    char *user;       /* the email of an api_token account, else NULL */
    char *auth_header;/* "Authorization: Basic ..." (api_token) or "Authorization: Bearer ..." (OAuth) */
    int oauth;              /* an OAuth 2.0 account: a 401 or an expired token asks for a refresh */
    long long expires_at_ms;/* the access token's expiry (OAuth), 0 unknown */
    long long cred_version; /* the blob's cred_version, 0 when it has none */
    double pace_per_s;      /* the account's own pacing rule ("pace" in the blob, wk_pace.h), */
    long pace_burst;        /* overriding JSMCP_PACE_*; pace_set 0 = none ("off" sets per_s 0) */
    int pace_set;
} wk_account_t;

/* Parses the decrypted account JSON. site_url must be https://<x>.atlassian.net
 * or an http(s) URL whose host[:port] is in allowlist (comma separated).
 * 0, or -1 with err (no secret in it): an account whose status is not
 * active (needs_reauth) gets the agent-facing "must reconnect" message.
 * OAuth accounts with a cloud_id call <oauth_api_url>/ex/jira/<cloud_id>
 * (JSMCP_OAUTH_API_URL); when that is NULL, https://api.atlassian.com for
 * *.atlassian.net sites and the allowlisted site's own gateway otherwise. */
int wk_account_parse(wk_account_t *a, const json_t *acct, const char *allowlist, const char *oauth_api_url,
                     char *err, size_t errsz);
void wk_account_clear(wk_account_t *a);

#endif
