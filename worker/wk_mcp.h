/* wk_mcp: JSON-RPC 2.0 / MCP message handling, independent of the HTTP
 * transport (Streamable HTTP and legacy SSE both feed it).
 *
 * Methods: initialize (version negotiation), ping, tools/list (filtered by
 * the server's config, paginated), tools/call (a catalog tool runs as one
 * state machine, wk_call.h; the conformance fixtures, wk_fixtures.h). Everything else is
 * -32601. Prompts, resources, completion and logging/setLevel are answered
 * by wk_methods.h before it hands the rest to wk_mcp_dispatch.
 * Notifications and responses from the client need no answer.
 */
#ifndef JSMCP_WK_MCP_H
#define JSMCP_WK_MCP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wk_record.h"
#include "wk_result.h"
#include "wk_rpc.h"
#include "wk_push.h"
#include "wk_session.h"
#include "wk_proc.h"

#define WK_PV_LATEST "2025-11-25"
#define WK_PV_LEGACY "2024-11-05"

/* 1 when v is a protocol version this worker speaks. */
int wk_mcp_version_known(const char *v);
/* The version to answer an initialize asking for requested (may be NULL). */
const char *wk_mcp_negotiate(const char *requested);

/* Checks a tools/call request's params against the catalog and the
 * server's filters. On success *tool and *args (new reference) are set and
 * 0 is returned; otherwise a JSON-RPC error code with err set. When the
 * tool is one this server offers and only its arguments are wrong, *tool is
 * set all the same (and *args NULL): the caller answers with
 * wk_result_invalid_args, a tool error the model can act on, where an
 * unknown tool (*tool NULL) is a protocol error. */
int wk_mcp_prepare_call(const wk_catalog_t *cat, const json_t *config, const json_t *params,
                        const wk_tool_t **tool, json_t **args, char *err, size_t errsz);

/* Answers one request. done runs exactly once, never before this returns
 * (the tree's callback rule; an answer known at once is given from the
 * loop), with the response (stolen; for a tools/call result, its
 * envelope and the typed result, stolen, else NULL: wk_call_done_fn) and,
 * for tools/call, the upstream rate-limit facts (else NULL). The message is borrowed for the call only.
 * request_id (the HTTP request's X-Request-Id) goes upstream and into the
 * audit record; traceparent (W3C, this worker's span in the client's trace,
 * or NULL) goes upstream and its trace id into the logs; both are
 * borrowed for the call only, like the message (what keeps one copies it:
 * the caller's may be on its stack). Every tools/call
 * of a catalog tool appends one audit entry. sess is the request's
 * session (the new one for initialize); push carries the request's
 * progress and log messages (wk_push.h) and stays valid until done ran.
 * A tools/call the client cancels (notifications/cancelled, wk_push.h)
 * gets no response: done runs with response and result NULL. */
typedef void (*wk_mcp_done_fn)(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl,
                               void *ud);
void wk_mcp_dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                     const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                     void *ud);

/* Runs catalog tool name for the worker itself (a resource read, a
 * completion, a subscription's poll) on the path of tools/call: the
 * server's filters and the tool's input schema, the account, pacing, OAuth
 * refresh, scope checks and the audit record, without JSON-RPC framing.
 * request_id and traceparent (or NULL) as for wk_mcp_dispatch.
 * args is stolen. cb runs exactly once, never before this returns, with
 * the CallToolResult (stolen; an upstream failure is an isError result), or
 * with result NULL and the JSON-RPC error the call got instead (code,
 * message): the tool is not offered, the arguments are invalid. */
typedef void (*wk_mcp_tool_cb)(json_t *result, int code, const char *message, void *ud);
void wk_mcp_run_tool(wk_worker_t *w, const wk_server_t *srv, const char *name, json_t *args,
                     const char *request_id, const char *traceparent, wk_mcp_tool_cb cb, void *ud);
/* The callback rule for an answer of that shape known at once (a refused
 * tool here; a refused URI, cursor or completion, a fixture or a cache hit
 * in wk_resources, wk_complete and wk_subscribe): cb(result, code,
 * message, ud) runs from the loop (defer.h). result is stolen, message
 * copied. */
void wk_mcp_tool_answer(wk_worker_t *w, json_t *result, int code, const char *message, wk_mcp_tool_cb cb,
                        void *ud);

/* The callback rule for an answer known at once (a refusal, a method
 * answered locally): done(response, result, NULL, ud) runs from the loop
 * (defer.h). response and result are stolen. */
void wk_mcp_answer(wk_worker_t *w, json_t *response, wk_tool_result_t *result, wk_mcp_done_fn done, void *ud);

/* The capabilities an initialize result declares (a new object). */
json_t *wk_mcp_capabilities(void);

#endif
