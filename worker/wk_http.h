/* wk_http: the worker's HTTP face.
 *
 *   POST|GET|DELETE /mcp/<token>     Streamable HTTP (MCP 2025-03-26 .. 2025-11-25)
 *   POST|GET|DELETE /mcp/<token>/mcp the same, for clients that take the
 *                                    transport from a path ending in /mcp
 *                                    (the MCP Inspector's CLI before 2.0)
 *   GET  /mcp/<token>/sse            legacy HTTP+SSE stream (2024-11-05)
 *   POST /mcp/<token>/messages?sessionId=<id>   legacy messages, answered on the stream
 *   GET  /healthz, GET /readyz
 *   (GET /metrics only on its own listener, JSMCP_WORKER_METRICS_LISTEN:
 *   it names every tenant's accounts; the public port answers it 404)
 *
 * Every /mcp request: Host/Origin check (403), token -> SHA-256 -> srv:<hash>
 * in Redis (404 JSON when unknown, revoked or expired), the workspace API
 * key when the server requires one (401 + WWW-Authenticate), then the
 * session from Redis. Legacy answers reach the stream through Redis pub/sub
 * when the POST landed on another worker process (wk_sse.h).
 *
 * Routing is common/router's, one table (wk_http.c): tokens are taken as
 * the path has them (ROUTER_RAW_PARAMS: not decoded, any length), HEAD is
 * not GET (ROUTER_EXACT_METHOD), and the misses are this module's answers
 * (router_set_fallback): 404 JSON, or 405 + Allow in JSON-RPC form under
 * a token, never the router's problem+json.
 *
 * Who owns what, for one request to an MCP URL:
 *   wk_httpreq_t (wk_http.c; one per HTTP request, freed in one place):
 *     the parsed JSON-RPC message, the token's hash, the server record
 *     (taken from the store), the session (its id as the request names
 *     it, then the record read or created), the push channel of messages
 *     about the request (wk_push.h), a stream's lease until the stream
 *     takes it, the legacy endpoint's base path. It lives until the
 *     answer; a legacy POST's until the answer reaches the stream.
 *   wk_call_t (wk_call_int.h; one per tool call): the call's own ids and
 *     headers, copied at its start from the HTTP request's id and trace
 *     context, which wk_httpreq_t does not keep: they are read from httpd
 *     when the request is handed to the methods (before a legacy POST's
 *     202) and passed along on the stack (wk_mcp.h: borrowed for the call).
 *   wk_sse_t (wk_sse.c; one per open stream): the stream's session id,
 *     token hash, lease and channel, its own copies, as it outlives the
 *     request that opened it.
 */
#ifndef JSMCP_WK_HTTP_H
#define JSMCP_WK_HTTP_H

#include "httpd.h"
#include "wk_proc.h"

/* Builds the routes of both listeners (w->router, w->metrics_router)
 * before httpd serves; wk_http_free frees them. */
void wk_http_start(wk_worker_t *w);
void wk_http_free(wk_worker_t *w);

/* The request handler and completion hook given to httpd (ud = worker). */
void wk_http_handle(httpd_req_t *req, void *ud);
void wk_http_complete(httpd_req_t *req, int status, void *ud);
/* The metrics listener's handler: GET /metrics (the pool's, merged), else 404. */
void wk_http_metrics_handle(httpd_req_t *req, void *ud);

#endif
