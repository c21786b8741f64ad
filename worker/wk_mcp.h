/* wk_mcp: JSON-RPC 2.0 / MCP message handling, independent of the HTTP
 * transport (Streamable HTTP and legacy SSE both feed it).
 *
 * Methods: initialize (version negotiation), ping, tools/list (filtered by
 * the server's config, paginated), tools/call (catalog tools through
 * wk_exec; the conformance fixtures, wk_fixtures.h). Everything else is
 * -32601. Prompts, resources, completion and logging/setLevel are answered
 * by wk_methods.h before it hands the rest to wk_mcp_dispatch.
 * Notifications and responses from the client need no answer.
 */
#ifndef JSMCP_WK_MCP_H
#define JSMCP_WK_MCP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wk_exec.h"
#include "wk_push.h"
#include "wk_session.h"
#include "wk_worker.h"

#define WK_RPC_PARSE (-32700)
#define WK_RPC_INVALID_REQUEST (-32600)
#define WK_RPC_METHOD_NOT_FOUND (-32601)
#define WK_RPC_INVALID_PARAMS (-32602)
#define WK_RPC_INTERNAL (-32603)
#define WK_RPC_SERVER (-32000)
#define WK_RPC_SESSION_NOT_FOUND (-32001)

#define WK_PV_LATEST "2025-11-25"
#define WK_PV_LEGACY "2024-11-05"

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

enum wk_msg_kind { WK_MSG_INVALID = 0, WK_MSG_REQUEST, WK_MSG_NOTIFICATION, WK_MSG_RESPONSE };

/* Classifies one parsed JSON-RPC message; for WK_MSG_INVALID writes why. */
enum wk_msg_kind wk_mcp_classify(const json_t *msg, char *err, size_t errsz);

/* 1 when v is a protocol version this worker speaks. */
int wk_mcp_version_known(const char *v);
/* The version to answer an initialize asking for requested (may be NULL). */
const char *wk_mcp_negotiate(const char *requested);

/* Builders (new references). id may be NULL (serialised as null). */
json_t *wk_mcp_error(const json_t *id, int code, const char *message, json_t *data);
json_t *wk_mcp_result(const json_t *id, json_t *result);

/* Serialises a response (compact JSON; caller frees; NULL past 64 MiB).
 * A tool result in wk_exec_structured_result's shape gets its text here:
 * structuredContent serialised once, written escaped and raw. */
char *wk_mcp_dump(const json_t *response, size_t *len);

/* Checks a tools/call request's params against the catalog and the
 * server's filters. On success *tool and *args (new reference) are set and
 * 0 is returned; otherwise a JSON-RPC error code with err set. */
int wk_mcp_prepare_call(const wk_catalog_t *cat, const json_t *config, const json_t *params,
                        const wk_tool_t **tool, json_t **args, char *err, size_t errsz);

/* Answers one request. done runs exactly once (possibly before this
 * returns) with the response (stolen) and, for tools/call, the upstream
 * rate-limit facts (else NULL). The message is borrowed for the call only.
 * request_id (the HTTP request's X-Request-Id) goes upstream and into the
 * audit record; traceparent (W3C, this worker's span in the client's trace,
 * or NULL) goes upstream and its trace id into the logs. Every tools/call
 * of a catalog tool appends one audit entry. sess is the request's
 * session (the new one for initialize); push carries the request's
 * progress and log messages (wk_push.h) and stays valid until done ran. */
typedef void (*wk_mcp_done_fn)(json_t *response, const wk_ratelimit_t *rl, void *ud);
void wk_mcp_dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                     const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                     void *ud);

/* Runs catalog tool name for the worker itself (a resource read, a
 * completion, a subscription's poll) on the path of tools/call: the
 * server's filters and the tool's input schema, the account, pacing, OAuth
 * refresh, scope checks and the audit record, without JSON-RPC framing.
 * request_id and traceparent (or NULL) as for wk_mcp_dispatch.
 * args is stolen. cb runs exactly once, possibly before this returns, with
 * the CallToolResult (stolen; an upstream failure is an isError result), or
 * with result NULL and the JSON-RPC error the call got instead (code,
 * message): the tool is not offered, the arguments are invalid. */
typedef void (*wk_mcp_tool_cb)(json_t *result, int code, const char *message, void *ud);
void wk_mcp_run_tool(wk_worker_t *w, const wk_server_t *srv, const char *name, json_t *args,
                     const char *request_id, const char *traceparent, wk_mcp_tool_cb cb, void *ud);

/* The capabilities an initialize result declares (a new object). */
json_t *wk_mcp_capabilities(void);

#endif
