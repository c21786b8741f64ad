/* wk_push: what the server sends a client besides its answers.
 *
 * - About a request in flight (progress, log messages, and the server's own
 *   requests: sampling/createMessage, elicitation/create): on that request's
 *   stream. A Streamable HTTP POST's answer turns into text/event-stream
 *   when the first such message is written (wk_http), so a call that sends
 *   none is still answered with plain JSON; a legacy client gets them on its
 *   SSE stream.
 * - About nothing in flight (list_changed, resources/updated): to the
 *   session's own stream (its GET stream, or its legacy SSE stream), in
 *   whichever worker process holds it, through the session's channel
 *   ssech:<session id> (wk_session.h).
 * - A client's answer to a server request comes back as a POST, to any
 *   worker process of any host: it is routed to the process that asked
 *   through that process's channel wkpush:<instance>, whose name is part of
 *   the request id ("<instance>.<n>").
 *
 * - A client's notifications/cancelled comes as a POST too, to any worker
 *   process: the request it names is looked up among this process's
 *   cancellable requests (wk_push_on_cancel), else the cancellation is
 *   published on the broadcast channel wkcancel, which every process
 *   subscribes to (cancellations are rare; no per-call Redis write is
 *   needed to know where a call runs).
 *
 * Log messages go out only at or above the session's level
 * (logging/setLevel, kept in sess:<id>); a session that never set one gets
 * none.
 */
#ifndef JSMCP_WK_PUSH_H
#define JSMCP_WK_PUSH_H

#include <jansson.h>
#include <stddef.h>

#include "wk_session.h"
#include "wk_proc.h"

typedef struct wk_push_s wk_push_t;

/* The way back to the client for one request, filled by the transport
 * (wk_http) and valid until the request is answered. */
struct wk_push_s {
    /* Writes one JSON-RPC message (notification or request) on the stream
     * of the request being answered: 0, or -1 when there is none (the
     * client accepts no event stream, or it left). */
    int (*write)(wk_push_t *p, const char *json, size_t len);
    void *transport;            /* the transport's own (its request) */
    wk_worker_t *w;
    char sid[WK_SESSION_ID_LEN + 1];
    int level;                  /* lowest log level sent (WK_LOG_*), -1 = none */
    unsigned caps;              /* the client's capabilities (WK_CAP_*) */
    json_t *progress_token;     /* params._meta.progressToken of the request, or NULL (own reference) */
    double progress;            /* the last progress sent: it must grow */
    int sent_progress;
    int ended;                  /* wk_push_end ran: nothing more is written */
    json_t *request_id;         /* the JSON-RPC id of the request (own reference), or NULL */
    /* Set while the request can be cancelled (wk_push_on_cancel): then p is
     * in its process's list of cancellable requests. */
    void (*cancel)(void *ud);
    void *cancel_ud;
    wk_push_t *cprev, *cnext;
};

/* RFC 5424 levels, lowest first, as MCP names them. */
enum { WK_LOG_DEBUG, WK_LOG_INFO, WK_LOG_NOTICE, WK_LOG_WARNING, WK_LOG_ERROR, WK_LOG_CRITICAL,
       WK_LOG_ALERT, WK_LOG_EMERGENCY };
/* The index of a level name, or -1. */
int wk_push_level(const char *name);
const char *wk_push_level_name(int level);

/* Fills p for request msg of session sess (NULL before there is one). The
 * transport sets write and transport afterwards. */
void wk_push_init(wk_push_t *p, wk_worker_t *w, const wk_session_t *sess, const json_t *msg);
/* The request is over (answered, or its client left): server requests of
 * p still waiting are failed (their callbacks run later, from the loop,
 * with err set), and nothing more is written. Frees what p holds. */
void wk_push_end(wk_push_t *p);

/* Makes the request cancellable: a notifications/cancelled of its session
 * naming its id runs fn(ud) once, from the loop (never from inside this
 * call), after which it is no longer cancellable. fn NULL: not cancellable
 * any more (no-op when it was not). wk_push_end does the same. */
void wk_push_on_cancel(wk_push_t *p, void (*fn)(void *ud), void *ud);
/* notifications/cancelled from session sid's client for request_id: the
 * request is cancelled here or in the process that runs it; a request
 * that is not (or no longer) cancellable is left alone, as MCP allows. */
void wk_push_cancel(wk_worker_t *w, const char *sid, const json_t *request_id);

/* notifications/message at level (sent only at or above the session's
 * level); data is stolen. 0 sent, -1 not. */
int wk_push_log(wk_push_t *p, int level, const char *logger, json_t *data);
/* notifications/progress for the request's progressToken (none: nothing
 * sent); progress must grow, total <= 0 leaves it out, message may be
 * NULL. 0 sent, -1 not. */
int wk_push_progress(wk_push_t *p, double progress, double total, const char *message);

/* A request to the client (sampling/createMessage, elicitation/create) on
 * the stream of the request in flight. cb runs exactly once, never before
 * this returns: with the client's result (borrowed), or with err (its
 * JSON-RPC error message, a timeout after timeout_ms, or the request ended).
 * Returns 0, or -1 without calling cb when it cannot be sent (no stream,
 * the answer could not be routed back, too many waiting). params stolen. */
typedef void (*wk_push_reply_fn)(const json_t *result, const char *err, void *ud);
int wk_push_request(wk_push_t *p, const char *method, json_t *params, long timeout_ms, wk_push_reply_fn cb,
                    void *ud);

/* A JSON-RPC response POSTed by session sid's client: handed to the
 * waiting request here, or published to the process that sent it. */
void wk_push_response(wk_worker_t *w, const char *sid, const json_t *msg);

/* An unsolicited notification for session sid (stolen), to its GET or
 * legacy SSE stream wherever that is open; dropped when none is. */
void wk_push_session(wk_worker_t *w, const char *sid, json_t *notification);

/* Subscribes this process's channel (wkpush:<instance>); 0 or -1. */
int wk_push_start(wk_worker_t *w);
/* Fails every waiting request (drain). */
void wk_push_stop(wk_worker_t *w);
void wk_push_free(wk_worker_t *w);

#endif
