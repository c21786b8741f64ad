/* wk_result: the result shaping stage of a tool call (pure, unit tested).
 * An upstream answer becomes an MCP CallToolResult: a text block plus
 * structuredContent (the row's projection, list items of other projects
 * left out, a next_cursor for paged tools), or an isError result that
 * carries Jira's own error members verbatim with a hint an agent can act
 * on. Also the results of calls that end before any upstream answer
 * (pacing, the account, a refused argument) and the rate-limit facts of an
 * answer.
 */
#ifndef JSMCP_WK_RESULT_H
#define JSMCP_WK_RESULT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "httpc.h"
#include "jsontext.h"
#include "wk_catalog.h"

/* How deep an upstream JSON answer may nest. */
#define WK_UPSTREAM_DEPTH 64

/* What the upstream answer says about itself, besides its payload: the
 * rate-limit facts (limited and retry_after_s for a 429, which become the
 * MCP HTTP response headers; the X-RateLimit-* values and Jira's quota
 * signals, which pace the account's next calls) and the upstream request id
 * (the audit record). A call refused by jsmcp's own pacing fills the same
 * rate-limit members. */
typedef struct wk_upstream_meta_s {
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
} wk_upstream_meta_t;

/* Atlassian's advice for a 429 without Retry-After: back off from 2 s,
 * doubling (4, 8, 16 s) with jitter while it repeats. */
#define WK_RETRY_DEFAULT_S 2
/* The longest wait a JSM answer can impose (Retry-After, X-RateLimit-Reset,
 * RateLimit's t=): Jira's quota windows are an hour. */
#define WK_RETRY_MAX_S 3600L

/* The quota signals of any answer into rl (near_limit, quota_remaining,
 * quota_reset_s): X-RateLimit-NearLimit: true, and the smallest r (with its
 * t) of RateLimit: "<policy>";r=R;t=T[, ...] (the IETF draft's structured
 * form Atlassian uses; the "Beta-" forms are only informational and are not
 * read). */
void wk_result_quota(const httpc_response_t *r, wk_upstream_meta_t *rl);

/* The facts every upstream answer adds to rl: the X-RateLimit-* values not
 * set yet, X-RateLimit-Reset (unless limited), the upstream request id and
 * the quota signals. */
void wk_result_note_upstream(const httpc_response_t *r, wk_upstream_meta_t *rl);

/* What of a tool's upstream payload its result reads (its projection and
 * the paging members): wk_result_upstream builds only that (jsontext_parse_keep). */
jsontext_keep_t *wk_result_keep_new(const wk_tool_t *t);
/* on: every result is also computed from the fully parsed payload and a
 * difference logged as an error (JSMCP_CHECK_KEEP=1; tests use it). */
void wk_result_check_keep(int on);

/* A tool's result (an MCP CallToolResult), typed: it travels so from the
 * stage that shapes it to the one that writes the answer (wk_call.h's and
 * wk_mcp.h's done callbacks), and its JSON is written in one place,
 * wk_result_dump. structured is structuredContent (NULL: none, only with a
 * text); text is the text block's (a JSON string; NULL: structured
 * serialised, which wk_result_dump writes once and uses twice, escaped as
 * the text and raw as structuredContent). */
typedef struct wk_tool_result_s {
    json_t *structured;
    json_t *text;
    int is_error;
    char *raw;      /* structured serialised (wk_result_render), or NULL */
    size_t raw_len;
} wk_tool_result_t;

/* A result (free with wk_result_free): structured (stolen, may be NULL
 * with a text), text (copied; NULL, or not UTF-8: structured serialised). */
wk_tool_result_t *wk_result_new(json_t *structured, const char *text, int is_error);
void wk_result_free(wk_tool_result_t *r);
/* Serialises structured once, when it is the text (text NULL), before the
 * answer is written: the audit record counts the bytes the model gets
 * (result_bytes) before the answer goes out, and wk_result_dump then uses
 * these bytes instead of serialising again. 0, or -1 when the text would
 * pass the answer's limit (wk_result_dump then fails as it would have). */
int wk_result_render(wk_tool_result_t *r);
/* The bytes of the result's text block (what the model reads): the text's
 * length, or the rendered structured content's. */
size_t wk_result_text_bytes(const wk_tool_result_t *r);

/* A successful result of structured (stolen; NULL: {}). */
wk_tool_result_t *wk_result_structured(json_t *structured);

/* The result as a CallToolResult JSON object, text filled in (a new
 * reference), for those that read it as JSON (wk_mcp_run_tool). */
json_t *wk_result_json(const wk_tool_result_t *r);

/* Serialises a JSON-RPC response: with r, the envelope response
 * ({"jsonrpc","id"}) answered with r as its result; without, response as
 * it is (wk_rpc_dump). Compact JSON; caller frees; NULL past 64 MiB. */
char *wk_result_dump(const json_t *response, const wk_tool_result_t *r, size_t *len);

/* Turns an upstream response into a tool result (wk_result_free;
 * a structured one on success). rl is filled for a 429. config
 * (the server's, may be NULL): its projects leave out list items of other
 * projects (t->scope_items). A 2xx of a get or list tool whose payload is
 * not the shape the tool reads (a get: no body, an array or a scalar
 * instead of one object; a list: no items array) is an isError result with
 * error.reason "unexpected_answer" and the HTTP status, never an empty
 * success; write tools' 2xx are results whatever their body. */
wk_tool_result_t *wk_result_upstream(const wk_tool_t *t, const json_t *args, const json_t *config, const httpc_response_t *r,
                           wk_upstream_meta_t *rl);
/* The same; the parsed payload, which the result shares values with, goes
 * to *payload for the caller to release once the answer is out: freeing a
 * few hundred nodes is work the answer need not wait for. */
wk_tool_result_t *wk_result_upstream_payload(const wk_tool_t *t, const json_t *args, const json_t *config,
                                             const httpc_response_t *r, wk_upstream_meta_t *rl, json_t **payload);

/* The CallToolResult of a call refused by jsmcp's own pacing: the shape of
 * an upstream 429 (error.status 429, retry_after_s, rate_limit_reason,
 * hint) from rl (limited, retry_after_s and reason set by the caller). */
wk_tool_result_t *wk_result_paced(const wk_tool_t *t, const wk_upstream_meta_t *rl);

/* An isError CallToolResult for a failure before any upstream answer (the
 * account must be reconnected, no refreshed token came, ...): the text
 * "<tool>: <msg>" and structuredContent.error {reason, message, hint}.
 * A " Hint: ..." tail of msg becomes the hint, else a generic one. */
wk_tool_result_t *wk_result_tool_error(const wk_tool_t *t, const char *reason, const char *msg);

/* The isError CallToolResult for arguments the tool refuses before any
 * request (its inputSchema, a forged cursor, content that is not base64, an
 * idempotency key reused with other arguments): reason "invalid_arguments",
 * so that the model reads what to fix and calls again (MCP 2025-11-25,
 * SEP-1303: input validation errors are tool errors, not protocol errors;
 * an unknown tool stays a protocol error). tool is the name called. */
wk_tool_result_t *wk_result_invalid_args(const char *tool, const char *msg);
/* 1 when result is an error of that reason (structuredContent.error.reason). */
int wk_result_reason_is(const wk_tool_result_t *result, const char *reason);

/* An isError CallToolResult for a pre-step that failed or refused (the
 * text "<tool>: <msg>", structuredContent.error {status, message, hint}). */
wk_tool_result_t *wk_result_step_error(const wk_tool_t *t, int status, const char *msg, const char *hint);

#endif
