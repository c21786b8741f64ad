/* wk_http: the worker's HTTP face.
 *
 *   POST|GET|DELETE /mcp/<token>     Streamable HTTP (MCP 2025-03-26 .. 2025-11-25)
 *   POST|GET|DELETE /mcp/<token>/mcp the same, for clients that take the
 *                                    transport from a path ending in /mcp
 *                                    (the MCP Inspector's CLI before 2.0)
 *   GET  /mcp/<token>/sse            legacy HTTP+SSE stream (2024-11-05)
 *   POST /mcp/<token>/messages?sessionId=<id>   legacy messages, answered on the stream
 *   GET  /healthz
 *   (GET /metrics only on its own listener, JSMCP_WORKER_METRICS_LISTEN:
 *   it names every tenant's accounts; the public port answers it 404)
 *
 * Every /mcp request: Host/Origin check (403), token -> SHA-256 -> srv:<hash>
 * in Redis (404 JSON when unknown, revoked or expired), the workspace API
 * key when the server requires one (401 + WWW-Authenticate), then the
 * session from Redis. Legacy answers reach the stream through Redis pub/sub
 * when the POST landed on another worker process.
 */
#ifndef JSMCP_WK_HTTP_H
#define JSMCP_WK_HTTP_H

#include "httpd.h"
#include "wk_proc.h"

/* The request handler and completion hook given to httpd (ud = worker). */
void wk_http_handle(httpd_req_t *req, void *ud);
void wk_http_complete(httpd_req_t *req, int status, void *ud);
/* The metrics listener's handler: GET /metrics (the pool's, merged), else 404. */
void wk_http_metrics_handle(httpd_req_t *req, void *ud);

/* Sends an SSE comment on every open stream (keep-alive; ends slow ones). */
void wk_http_keepalive(wk_worker_t *w);
/* Ends every open stream (drain on SIGTERM). */
void wk_http_end_streams(wk_worker_t *w);

#endif
