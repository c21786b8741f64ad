/* wk_sse: this process's open SSE streams, for MCP clients.
 *
 * Two kinds, each one per session: the Streamable HTTP GET stream
 * (unsolicited messages: list_changed, resources/updated) and the legacy
 * HTTP+SSE stream (2024-11-05), which carries the answers to the session's
 * POSTs. Messages reach a stream through the session's Redis channel
 * (wk_session.h), so a POST on another worker process can answer on it.
 *
 * A stream (wk_sse_t) is owned by w->streams from its opening until
 * wk_sse_close's one place ends it: the client left (httpd's abort), a
 * write found it too slow, the session's new GET stream replaced it (in
 * this process or, told on the session's channel, in another), or
 * the drain. Ending it releases its lease (the URL's stream cap), its
 * subscription, its list watch and, for a legacy stream, the session.
 * No function here calls back into its caller.
 */
#ifndef JSMCP_WK_SSE_H
#define JSMCP_WK_SSE_H

#include <jansson.h>

#include "httpd.h"
#include "wk_proc.h"
#include "wk_session.h"

/* Answers req with session sess's event stream (legacy 0: the Streamable
 * HTTP GET stream, replacing the one this process holds for the session;
 * legacy 1: the legacy stream, whose endpoint event names
 * "<base_path>/messages?sessionId=<id>" once its subscription is live).
 * The stream takes lease (taken for token_hash's streams): released when
 * the stream ends, or at once when it cannot open (a draining worker
 * answers 503). config: the server's, for the list watch. req is answered
 * either way. */
void wk_sse_open(wk_worker_t *w, httpd_req_t *req, const wk_session_t *sess, const char *token_hash,
                 const char *lease, int legacy, const char *base_path, const json_t *config);

/* Writes one event (data: one line of JSON) on an open event stream; also
 * for a POST answered as an event stream. httpd_stream_write's result. */
int wk_sse_write(httpd_req_t *req, const char *event, const char *data, size_t len);

/* A message for session sid's legacy stream: written here when this
 * process holds it, else published on the session's channel. */
void wk_sse_to_session(wk_worker_t *w, const char *sid, const char *json, size_t len);

/* Sends an SSE comment on every open stream (keep-alive; ends slow ones). */
void wk_sse_keepalive(wk_worker_t *w);
/* Ends every open stream (drain on SIGTERM). */
void wk_sse_end_all(wk_worker_t *w);

#endif
