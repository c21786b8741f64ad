/* wk_exec: the generic tool executor. Any catalog row (wk_catalog.h) becomes
 * one upstream JSM request through common/httpc, and the upstream answer
 * becomes an MCP CallToolResult: a text block plus structuredContent (the
 * row's projection), or an isError result that carries Jira's own error
 * members verbatim with a hint an agent can act on.
 *
 * The pure halves (wk_exec_build, wk_exec_result) need no network and are
 * unit tested; wk_exec_start joins them over httpc. Two pure parts live in
 * their own modules so that this file keeps the request's life cycle only:
 * filling a row's templates with arguments (wk_body.h) and matching a
 * pre-step's answer, with the transition screen check (wk_steps.h). Both
 * depend on nothing here, so nothing calls back into wk_exec.
 */
#ifndef JSMCP_WK_EXEC_H
#define JSMCP_WK_EXEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "httpc.h"
#include "wk_catalog.h"

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

/* One upstream request. */
typedef struct wk_call_s {
    const char *method;
    char *url;
    char *body;       /* JSON or NULL */
    size_t body_len;
    httpc_part_t part;/* nparts 1: the file of an upload (http.multipart), */
    size_t nparts;    /* its data decoded from base64 (owned) */
} wk_call_t;

/* Builds the request for tool t with validated arguments args. -1 with err
 * for an argument the schema cannot catch (a forged next_cursor, content
 * that is not base64). A tool with http.multipart gets its file as the
 * one part of a multipart/form-data body. */
int wk_exec_build(const wk_tool_t *t, const json_t *args, const char *base_url, wk_call_t *out,
                  char *err, size_t errsz);
void wk_call_clear(wk_call_t *c);

/* Rate-limit facts of the upstream answer: limited and retry_after_s for a
 * 429 (the MCP HTTP response headers), the X-RateLimit-* values and the
 * upstream request id of any answer (the audit record). */
typedef struct wk_ratelimit_s {
    int limited;
    char request_id[80];   /* upstream X-ARequestId (or the echoed X-Request-Id), "" unknown */
    long retry_after_s;    /* -1 unknown */
    long reset_s;          /* delta seconds, -1 unknown */
    char limit[32];        /* "" unknown */
    char remaining[32];
    char reason[96];
    /* Any answer: Jira says the account's quota is nearly spent
     * (X-RateLimit-NearLimit: true) and, in RateLimit: "<policy>";r=R;t=T,
     * how much is left and for how long (-1 unknown). wk_pace paces the
     * account's next calls by them. */
    int near_limit;
    long quota_remaining;
    long quota_reset_s;
} wk_ratelimit_t;

/* Atlassian's advice for a 429 without Retry-After: back off from 2 s,
 * doubling (4, 8, 16 s) with jitter while it repeats. */
#define WK_RETRY_DEFAULT_S 2

/* The quota signals of any answer into rl (near_limit, quota_remaining,
 * quota_reset_s): X-RateLimit-NearLimit: true, and the smallest r (with its
 * t) of RateLimit: "<policy>";r=R;t=T[, ...] (the IETF draft's structured
 * form Atlassian uses; the "Beta-" forms are only informational and are not
 * read). */
void wk_exec_quota(const httpc_response_t *r, wk_ratelimit_t *rl);

/* What of a tool's upstream payload its result reads (its projection and
 * the paging members): wk_exec_result builds only that (jsontext_parse_keep). */
jsontext_keep_t *wk_exec_keep_new(const wk_tool_t *t);
/* on: every result is also computed from the fully parsed payload and a
 * difference logged as an error (JSMCP_CHECK_KEEP=1; tests use it). */
void wk_exec_check_keep(int on);

/* A successful CallToolResult with structured (stolen). Its text block has
 * no "text" member yet: the text is structured serialised, which
 * wk_mcp_dump writes once and uses twice (escaped as the text, raw as
 * structuredContent), instead of serialising it here and again there.
 * Every response leaves the worker through wk_mcp_dump. */
json_t *wk_exec_structured_result(json_t *structured);

/* Turns an upstream response into a CallToolResult (new reference;
 * wk_exec_structured_result's shape on success). rl is filled for a 429. config (the server's, may be NULL): its projects leave
 * out list items of other projects (t->scope_items). */
json_t *wk_exec_result(const wk_tool_t *t, const json_t *args, const json_t *config, const httpc_response_t *r,
                       wk_ratelimit_t *rl);

/* The CallToolResult of a call refused by jsmcp's own pacing: the shape of
 * an upstream 429 (error.status 429, retry_after_s, rate_limit_reason,
 * hint) from rl (limited, retry_after_s and reason set by the caller). */
json_t *wk_exec_paced_result(const wk_tool_t *t, const wk_ratelimit_t *rl);

/* An isError CallToolResult for a failure before any upstream answer (the
 * account must be reconnected, no refreshed token came, ...): the text
 * "<tool>: <msg>" and structuredContent.error {reason, message, hint}.
 * A " Hint: ..." tail of msg becomes the hint, else a generic one. */
json_t *wk_exec_tool_error(const wk_tool_t *t, const char *reason, const char *msg);

/* Per-worker cache of each account's field list (GET /rest/api/3/field),
 * for JQL and write-argument field names. */
typedef struct wk_fieldcache_s wk_fieldcache_t;
wk_fieldcache_t *wk_fieldcache_new(long ttl_ms);
void wk_fieldcache_free(wk_fieldcache_t *fc);

/* What a call needs besides the tool and its arguments (all borrowed for
 * the wk_exec_start call only; copied as needed). */
typedef struct wk_exec_ctx_s {
    const json_t *config;        /* server config (projects) or NULL */
    const char *account_id;      /* field cache key */
    const char *request_id;      /* sent upstream as X-Request-Id, or NULL */
    const char *traceparent;     /* sent upstream as traceparent (W3C), or NULL */
    wk_fieldcache_t *fields;     /* may be NULL: fetched for every call that needs it */
    uint64_t now_ms;             /* for the cache TTL */
} wk_exec_ctx_t;

/* Runs the call: first, when the tool needs them, the pre-steps (the
 * site's field list for JQL/field names, config.projects scoping, name ->
 * id resolution through a search), then the tool's own request. cb runs
 * exactly once when 0 is returned (possibly before this returns), with the result (stolen),
 * the rate-limit facts and the upstream status of the last request (0 when
 * there was no response). Returns -1 with err for bad arguments (cb will
 * not run) or -2 when httpc refused the request (busy or closing). */
typedef void (*wk_exec_cb)(json_t *result, const wk_ratelimit_t *rl, int upstream_status,
                           void *ud);
int wk_exec_start(httpc_t *hc, const wk_tool_t *t, const json_t *args, const wk_account_t *acct,
                  const wk_exec_ctx_t *ctx, wk_exec_cb cb, void *ud, char *err, size_t errsz);

/* The pure pre-step on arguments: JQL field names and config.projects
 * scoping, field names in the fields argument, the issue key scope. Returns
 * a new arguments object, or NULL with err (an agent-facing message).
 * fields may be NULL (names are not translated). */
json_t *wk_exec_prepare(const wk_tool_t *t, const json_t *args, const json_t *fields,
                        const json_t *config, char *err, size_t errsz);

#endif
