/* wk_http: see wk_http.h. */
#include "wk_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsontext.h"
#include "log.h"
#include "httpresp.h"
#include "clock.h"
#include "router.h"
#include "wk_cache.h"
#include "wk_mcp.h"
#include "wk_drain.h"
#include "wk_methods.h"
#include "wk_origin.h"
#include "wk_push.h"
#include "wk_sse.h"
#include "wk_session.h"
#include "wk_store.h"

#define WK_JSON_DEPTH 32
/* Messages in one JSON-RPC batch (protocol version 2025-03-26): each
 * request of a batch is a call in flight, as many as as many POSTs. */
#define WK_BATCH_MAX 32
#define WK_BATCH_MAX_S "32"
/* A batch's JSON array at most, as one response (wk_rpc_dump) */
#define WK_BATCH_ANSWER_MAX (64u << 20)
#define WK_PV_BATCH "2025-03-26"

enum httpreq_kind { MR_POST, MR_GET, MR_DELETE, MR_SSE_OPEN, MR_SSE_POST };

/* One HTTP request to an MCP URL, from the first check to the answer
 * (wk_http.h says what it owns). Freed in httpreq_free() only; for legacy
 * POSTs it outlives the HTTP request (the answer goes to the stream after
 * the 202). */
typedef struct wk_httpreq_s {
    wk_worker_t *w;
    httpd_req_t *req;            /* NULL once answered */
    enum httpreq_kind kind;
    char token_hash[SECRET_HASH_HEX_LEN + 1];
    wk_server_t srv;
    /* The session: its id as the request names it (header or sessionId),
     * or a new one; the rest once read from Redis or created. */
    wk_session_t sess;
    json_t *msg;
    enum wk_msg_kind mkind;
    /* The session is fetched together with the server record (one round
     * trip): pending counts the two lookups, the results wait here. */
    int prefetch, pending, srv_rc, sess_rc;
    char base_path[WK_URL_TOKEN_MAX + 8]; /* "/mcp/<token>" as requested (legacy endpoint) */
    /* Messages about the request in flight (progress, log messages, server
     * requests: wk_push.h). A Streamable HTTP POST whose client accepts
     * text/event-stream is answered with an event stream once the first
     * one is written, the response as its last event; until then (and
     * without one) with plain JSON. */
    wk_push_t push;
    int pushing;                 /* push is initialized (wk_push_end is due) */
    int sse_ok;                  /* the client accepts text/event-stream */
    int streaming;               /* the answer is an event stream already */
    char lease[24];              /* a stream's lease, taken before it opens */
    /* A JSON-RPC batch (mkind WK_MSG_BATCH, msg the array): its requests
     * in flight, each with its own way back, and the answers not yet
     * written (answered together as a JSON array, or one event each once
     * the answer is an event stream). */
    struct batch_item_s *items;
    size_t nitems, nanswers, answer_bytes;
    int batch_pending;           /* requests not answered yet, +1 while they are being started */
    char **answers;
    size_t *answer_lens;
} wk_httpreq_t;

/* One request of a batch, from its dispatch to its answer. Owned by the
 * batch's POST (m->items), freed with it. */
typedef struct batch_item_s {
    wk_httpreq_t *m;
    const json_t *msg;           /* the request (in m->msg) */
    wk_push_t push;
    int pushing;
} batch_item_t;

/* The ids a call takes from its HTTP request (wk_mcp_dispatch copies
 * them): read while the request is still there, for the call to start. */
typedef struct httpreq_ids_s {
    char rid[72];                /* X-Request-Id */
    char traceparent[64];        /* this worker's span in the client's trace (W3C), for upstream calls */
} httpreq_ids_t;

static void dispatch(wk_httpreq_t *m, const httpreq_ids_t *ids);

/* ---- small helpers ---- */

static void httpreq_free(wk_httpreq_t *m)
{
    if (m->pushing)
        wk_push_end(&m->push);
    for (size_t i = 0; i < m->nitems; i++)
        if (m->items[i].pushing)
            wk_push_end(&m->items[i].push);
    for (size_t i = 0; i < m->nanswers; i++)
        free(m->answers[i]);
    free(m->items);
    free(m->answers);
    free(m->answer_lens);
    wk_server_clear(&m->srv);
    json_decref(m->msg);
    free(m);
}

#define WK_UNKNOWN_SERVER "This MCP server URL is unknown, revoked or expired."

/* 404 with a JSON body that says what is missing. */
static void not_found(httpd_req_t *req, const char *message)
{
    httpresp_json(req, 404, json_pack("{s:s,s:s}", "error", "not_found", "message", message));
}

/* An HTTP-level refusal in JSON-RPC form (id null), as MCP clients expect. */
static void rpc_refuse(wk_httpreq_t *m, int status, int code, const char *message)
{
    httpresp_json(m->req, status, wk_rpc_error(NULL, code, message, NULL));
    m->req = NULL;
    httpreq_free(m);
}

/* The same for a refusal of what a request is, not of the session it
 * names, with the request's id when the body (parsed here, or later for
 * the initialize check) is one request with a string or integer id: JSON-RPC
 * 2.0 wants the request's id whenever it can be read, and MCP's schema
 * has no null id (2025-11-25: a RequestId, or none), so a client that
 * checks the answer against it (the AI SDK's, whose first request is
 * server/discover in a protocol version the worker refuses) can match the
 * error to its request instead of reporting an unreadable message. A
 * refused session (404) keeps the null id: clients act on its status. */
static void rpc_refuse_req(wk_httpreq_t *m, int status, int code, const char *message)
{
    json_t *parsed = NULL;
    const json_t *msg = m->msg;
    if (!msg && m->kind == MR_POST) {
        size_t len;
        const char *body = httpd_req_body(m->req, &len);
        char err[8];
        if (body && len)
            parsed = jsontext_parse(body, len, WK_JSON_DEPTH, err, sizeof err);
        msg = parsed;
    }
    const json_t *id = json_is_object(msg) && json_object_get(msg, "method") ? json_object_get(msg, "id") : NULL;
    httpresp_json(m->req, status, wk_rpc_error(json_is_string(id) || json_is_integer(id) ? id : NULL, code, message, NULL));
    json_decref(parsed);
    m->req = NULL;
    httpreq_free(m);
}

/* A message holding \u0000 in a string (valid JSON; jsontext_parse_nul).
 * A request: in a tool's arguments it is that tool's argument error, given
 * once the server and session are known (wk_mcp_prepare_call); anywhere
 * else in it (a method, a URI, a name, a progress token would be cut short
 * where C reads it) the request is refused here with its id, wherever the
 * arguments are in the message. A response or a notification cannot be
 * refused to anyone (a tool call waiting on the client's answer would wait
 * for its timeout, a cancellation would be lost): its NULs become U+FFFD,
 * so the whole string is read, and matches no id, token or answer it would
 * have matched cut short. 1 when the message was refused. */
static json_t *nul_error(json_t *msg, enum wk_msg_kind kind)
{
    char path[200], text[300];
    if (kind != WK_MSG_REQUEST) {
        jsontext_replace_nul(msg);
        return NULL;
    }
    const json_t *args = strcmp(jsontext_str(msg, "method"), "tools/call") == 0
                             ? json_object_get(json_object_get(msg, "params"), "arguments")
                             : NULL;
    if (!jsontext_find_nul(msg, args, path, sizeof path))
        return NULL;
    json_t *spath = jsontext_string_lossy(path, strlen(path));
    snprintf(text, sizeof text, "Invalid params: %s holds \\u0000 (U+0000), which no string here may contain",
             json_string_value(spath) ? json_string_value(spath) : "a string");
    json_decref(spath);
    return wk_rpc_error(json_object_get(msg, "id"), WK_RPC_INVALID_PARAMS, text, NULL);
}

static int nul_refused(wk_httpreq_t *m)
{
    json_t *e = nul_error(m->msg, m->mkind);
    if (!e)
        return 0;
    httpresp_json(m->req, 400, e);
    m->req = NULL;
    httpreq_free(m);
    return 1;
}

/* The headers whose value decides which server, session, version or
 * origin a request is for: each may come once. With two, the worker would
 * read the first and a proxy or log in front of it maybe the last, and
 * the two would disagree on what the request was. */
static const char *const single_headers[] = {"Host", "Origin", "Content-Type", "Authorization", "Mcp-Session-Id",
                                             "MCP-Protocol-Version", "Last-Event-ID", NULL};

/* The first of single_headers the request has more than once, or NULL. */
static const char *header_repeated(const httpd_req_t *req)
{
    size_t n = httpd_req_header_count(req);
    for (const char *const *h = single_headers; *h; h++) {
        int seen = 0;
        for (size_t i = 0; i < n; i++) {
            const char *name, *value;
            httpd_req_header_at(req, i, &name, &value);
            if (strcasecmp(name, *h) == 0 && ++seen > 1)
                return *h;
        }
    }
    return NULL;
}

static int header_has(const char *v, const char *needle)
{
    return v && strcasestr(v, needle) != NULL;
}

static void ids_of(httpd_req_t *req, httpreq_ids_t *ids)
{
    str_copy(ids->rid, sizeof ids->rid, httpd_req_id(req));
    httpd_req_child_traceparent(req, ids->traceparent, sizeof ids->traceparent);
}

/* ---- answering messages ---- */

static void add_ratelimit_headers(httpd_req_t *req, const wk_upstream_meta_t *rl)
{
    char v[32];
    if (!rl || !rl->limited)
        return;
    if (*rl->limit)
        httpd_resp_header(req, "RateLimit-Limit", rl->limit);
    if (*rl->remaining)
        httpd_resp_header(req, "RateLimit-Remaining", rl->remaining);
    snprintf(v, sizeof v, "%ld", rl->reset_s);
    httpd_resp_header(req, "RateLimit-Reset", v);
    snprintf(v, sizeof v, "%ld", rl->retry_after_s);
    httpd_resp_header(req, "Retry-After", v);
}

/* The answer to a Streamable HTTP POST request. */
static void on_post_done(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl, void *ud)
{
    wk_httpreq_t *m = ud;
    if (m->kind == MR_SSE_POST) {
        /* Legacy: the HTTP request got its 202 already; the answer goes to
         * the stream, wherever it is (none for a cancelled call). */
        size_t len = 0;
        char *s = response ? wk_result_dump(response, result, &len) : NULL;
        json_decref(response);
        wk_result_free(result);
        if (s)
            wk_sse_to_session(m->w, m->sess.id, s, len);
        free(s);
        wk_worker_t *w = m->w;
        httpreq_free(m);
        w->detached_calls--;
        wk_drain_maybe_stop(w);
        return;
    }
    if (m->pushing) {
        wk_push_end(&m->push); /* nothing about this request is written after its answer */
        m->pushing = 0;
    }
    if (!response && !m->streaming && m->req) {
        /* A cancelled call gets no response (MCP): its POST ends as an
         * event stream without one (a client that takes JSON only, with
         * 202 and no body). */
        if (m->sse_ok && httpd_stream_begin(m->req, 200, "text/event-stream") == 0) {
            m->streaming = 1;
        } else {
            httpd_respond(m->req, 202, NULL, NULL, 0);
            m->req = NULL;
            httpreq_free(m);
            return;
        }
    }
    if (m->streaming) {
        /* The answer is an event stream (post_write): the response is its
         * last event. Its headers went out before, so a 429's RateLimit-*
         * headers cannot follow; the tool result carries retry_after_s. */
        size_t len = 0;
        char *body = response ? wk_result_dump(response, result, &len) : NULL;
        json_decref(response);
        wk_result_free(result);
        if (body)
            wk_sse_write(m->req, "message", body, len);
        free(body);
        httpd_stream_end(m->req);
        m->req = NULL;
        httpreq_free(m);
        return;
    }
    if (m->mkind == WK_MSG_REQUEST && strcmp(jsontext_str(m->msg, "method"), "initialize") == 0 &&
        json_object_get(response, "result"))
        httpd_resp_header(m->req, "MCP-Session-Id", m->sess.id);
    add_ratelimit_headers(m->req, rl);
    size_t len;
    char *body = wk_result_dump(response, result, &len);
    json_decref(response);
    wk_result_free(result);
    if (body)
        httpd_respond(m->req, 200, "application/json", body, len);
    else
        httpd_respond(m->req, 500, "application/json", "{}", 2);
    free(body);
    m->req = NULL;
    httpreq_free(m);
}

/* A 429 for a limit of this MCP URL (wk_session.h), with Retry-After. */
static void refuse_limited(wk_httpreq_t *m, long retry_after_s, const char *what)
{
    char ra[24], msg[300];
    if (retry_after_s < 1)
        retry_after_s = 1;
    snprintf(ra, sizeof ra, "%ld", retry_after_s);
    snprintf(msg, sizeof msg, "Too Many Requests: %s for this MCP server URL; retry after %ld s", what, retry_after_s);
    httpd_resp_header(m->req, "Retry-After", ra);
    rpc_refuse(m, 429, WK_RPC_SERVER, msg);
}

static void on_session_created(int rc, long retry_after_ms, void *ud)
{
    wk_httpreq_t *m = ud;
    if (rc == 0) {
        wk_stream_release(m->w, m->token_hash, m->lease);
        refuse_limited(m, (retry_after_ms + 999) / 1000, "too many new sessions");
        return;
    }
    if (rc != 1) {
        wk_stream_release(m->w, m->token_hash, m->lease);
        rpc_refuse(m, 503, WK_RPC_SERVER, "Session store unavailable, try again");
        return;
    }
    if (m->kind == MR_SSE_OPEN) {
        wk_sse_open(m->w, m->req, &m->sess, m->token_hash, m->lease, 1, m->base_path, m->srv.config);
        m->req = NULL;
        httpreq_free(m);
        return;
    }
    httpreq_ids_t ids;
    ids_of(m->req, &ids);
    dispatch(m, &ids);
}

/* DELETE of a session: the DEL answered (a lost DEL leaves it to its TTL). */
static void on_session_deleted(int rc, const wk_session_t *sess, void *ud)
{
    wk_httpreq_t *m = ud;
    if (rc < 0)
        rpc_refuse(m, 503, WK_RPC_SERVER, "Session store unavailable, try again");
    else {
        httpd_respond(m->req, 200, "application/json", "{}", 2);
        m->req = NULL;
        httpreq_free(m);
    }
}

/* One message on the answer to Streamable HTTP POST m, which turns into an
 * event stream with the first one (a batch's answers kept until then go
 * first, one event each). 0, or -1 when there is no stream. */
static int stream_write(wk_httpreq_t *m, const char *json, size_t len)
{
    if (!m->req || !m->sse_ok || httpd_req_aborted(m->req))
        return -1;
    if (!m->streaming) {
        httpd_resp_header(m->req, "Cache-Control", "no-cache, no-transform");
        httpd_resp_header(m->req, "X-Accel-Buffering", "no");
        if (httpd_stream_begin(m->req, 200, "text/event-stream") != 0)
            return -1;
        m->streaming = 1;
        for (size_t i = 0; i < m->nanswers; i++) {
            wk_sse_write(m->req, "message", m->answers[i], m->answer_lens[i]);
            free(m->answers[i]);
        }
        m->nanswers = 0;
    }
    return wk_sse_write(m->req, "message", json, len) == 0 ? 0 : -1;
}

/* wk_push writer of a Streamable HTTP POST. */
static int post_write(wk_push_t *p, const char *json, size_t len)
{
    return stream_write(p->transport, json, len);
}

/* wk_push writer of a legacy POST: to the session's stream, wherever it is. */
static int legacy_write(wk_push_t *p, const char *json, size_t len)
{
    wk_httpreq_t *m = p->transport;
    wk_sse_to_session(m->w, m->sess.id, json, len);
    return 0;
}

/* The client left while its POST was being answered: server requests
 * waiting for it fail now rather than at their timeout. */
static void post_aborted(httpd_req_t *req, void *ud)
{
    wk_httpreq_t *m = ud;
    if (m->pushing)
        wk_push_end(&m->push);
}

/* Hands a request to the methods, with its way back for messages. */
static void dispatch(wk_httpreq_t *m, const httpreq_ids_t *ids)
{
    wk_push_init(&m->push, m->w, &m->sess, m->msg);
    m->pushing = 1;
    m->push.transport = m;
    m->push.write = m->kind == MR_SSE_POST ? legacy_write : post_write;
    if (m->req)
        httpd_req_on_abort(m->req, post_aborted, m);
    wk_methods_dispatch(m->w, &m->srv, &m->sess, &m->push, m->msg, ids->rid, ids->traceparent, on_post_done,
                        m);
}

/* The stream's lease is taken (or refused): a Streamable HTTP GET stream
 * opens, a legacy one first gets its session. */
static void on_stream_admitted(int rc, void *ud)
{
    wk_httpreq_t *m = ud;
    if (rc != 1) {
        refuse_limited(m, m->w->cfg->sse_keepalive_ms / 1000, "too many open streams");
        return;
    }
    if (m->kind == MR_SSE_OPEN) {
        wk_session_create(m->w, &m->sess, on_session_created, m);
        return;
    }
    wk_sse_open(m->w, m->req, &m->sess, m->token_hash, m->lease, 0, m->base_path, m->srv.config);
    m->req = NULL;
    httpreq_free(m);
}

/* A client's notification or response (accepted with 202 whatever it
 * says): a response answers one of our requests, notifications/cancelled
 * cancels one of the session's calls (wk_push.h); other notifications
 * (initialized, roots/list_changed) need nothing. */
static void client_message(wk_httpreq_t *m, const json_t *msg, enum wk_msg_kind kind)
{
    if (kind == WK_MSG_RESPONSE)
        wk_push_response(m->w, m->sess.id, msg);
    else if (strcmp(jsontext_str(msg, "method"), "notifications/cancelled") == 0)
        wk_push_cancel(m->w, m->sess.id, json_object_get(json_object_get(msg, "params"), "requestId"));
}

/* ---- JSON-RPC batches (protocol version 2025-03-26 only) ----
 * Each message of the array is taken as if it had come alone: a
 * notification or response at once, a request dispatched with a way back
 * of its own (progress, server requests, cancellation by its id). The POST
 * is answered once every request is: a JSON array of the responses, or,
 * once a request wrote a message (stream_write), an event stream with one
 * event per response. A batch with no request (or whose calls were all
 * cancelled) gets 202. */

/* The POST is over: answered, or its client gone. */
static void batch_finish(wk_httpreq_t *m)
{
    if (m->streaming) {
        httpd_stream_end(m->req);
    } else if (m->nanswers == 0) {
        httpd_respond(m->req, 202, NULL, NULL, 0);
    } else {
        buf_t b;
        buf_init(&b, WK_BATCH_ANSWER_MAX + WK_BATCH_MAX + 2);
        buf_append(&b, "[", 1);
        for (size_t i = 0; i < m->nanswers; i++) {
            if (i)
                buf_append(&b, ",", 1);
            buf_append(&b, m->answers[i], m->answer_lens[i]);
        }
        buf_append(&b, "]", 1);
        if (buf_ok(&b))
            httpd_respond(m->req, 200, "application/json", b.data, b.len);
        else
            httpd_respond(m->req, 500, "application/json", "{}", 2);
        buf_free(&b);
    }
    m->req = NULL;
    httpreq_free(m);
}

/* One response of the batch (text taken) to the request with this id:
 * written now on the event stream, or kept for the JSON array; one that
 * would take the array past WK_BATCH_ANSWER_MAX is kept as an error that
 * says so instead. */
static void batch_answer(wk_httpreq_t *m, const json_t *id, char *text, size_t len)
{
    if (!text)
        return;
    if (m->streaming) {
        wk_sse_write(m->req, "message", text, len);
        free(text);
        return;
    }
    if (len > WK_BATCH_ANSWER_MAX - m->answer_bytes) {
        free(text);
        json_t *e = wk_rpc_error(id, WK_RPC_INTERNAL, "Internal error: this answer would make the batch's answer "
                                 "larger than 64 MiB; send the request alone", NULL);
        text = wk_rpc_dump(e, &len);
        json_decref(e);
        if (!text || len > WK_BATCH_ANSWER_MAX - m->answer_bytes) {
            free(text);
            return;
        }
    }
    m->answer_bytes += len;
    m->answers[m->nanswers] = text;
    m->answer_lens[m->nanswers++] = len;
}

static void batch_settle(wk_httpreq_t *m)
{
    if (--m->batch_pending == 0)
        batch_finish(m);
}

static void batch_answer_json(wk_httpreq_t *m, json_t *response)
{
    size_t len = 0;
    char *text = wk_rpc_dump(response, &len);
    batch_answer(m, json_object_get(response, "id"), text, len);
    json_decref(response);
}

static void on_batch_item_done(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl, void *ud)
{
    (void)rl; /* several calls share the answer's headers: each tool result carries its retry_after_s */
    batch_item_t *it = ud;
    if (it->pushing) {
        wk_push_end(&it->push); /* nothing about this request is written after its answer */
        it->pushing = 0;
    }
    size_t len = 0;
    char *text = response ? wk_result_dump(response, result, &len) : NULL;
    json_decref(response);
    wk_result_free(result);
    batch_answer(it->m, json_object_get(it->msg, "id"), text, len);
    batch_settle(it->m);
}

static int batch_write(wk_push_t *p, const char *json, size_t len)
{
    batch_item_t *it = p->transport;
    return stream_write(it->m, json, len);
}

static void batch_aborted(httpd_req_t *req, void *ud)
{
    (void)req;
    wk_httpreq_t *m = ud;
    for (size_t i = 0; i < m->nitems; i++)
        if (m->items[i].pushing) {
            wk_push_end(&m->items[i].push);
            m->items[i].pushing = 0;
        }
}

static void batch_run(wk_httpreq_t *m)
{
    if (strcmp(m->sess.pv, WK_PV_BATCH) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "Invalid Request: JSON-RPC batches are part of protocol version " WK_PV_BATCH
                 " only; this session uses %s", m->sess.pv);
        rpc_refuse(m, 400, WK_RPC_INVALID_REQUEST, msg);
        return;
    }
    size_t n = json_array_size(m->msg);
    httpreq_ids_t ids;
    ids_of(m->req, &ids);
    m->items = mem_calloc(n, sizeof *m->items);
    m->answers = mem_calloc(n, sizeof *m->answers);
    m->answer_lens = mem_calloc(n, sizeof *m->answer_lens);
    m->nitems = n;
    m->batch_pending = 1;
    httpd_req_on_abort(m->req, batch_aborted, m);
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(m->msg, i);
        char err[300];
        enum wk_msg_kind kind = wk_rpc_classify(msg, err, sizeof err);
        if (kind == WK_MSG_INVALID) {
            json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
            batch_answer_json(m, wk_rpc_error(json_is_string(id) || json_is_integer(id) ? id : NULL,
                                              WK_RPC_INVALID_REQUEST, err, NULL));
            continue;
        }
        json_t *e = nul_error(msg, kind);
        if (e) {
            batch_answer_json(m, e);
            continue;
        }
        if (kind != WK_MSG_REQUEST) {
            client_message(m, msg, kind);
            continue;
        }
        if (strcmp(jsontext_str(msg, "method"), "initialize") == 0) {
            batch_answer_json(m, wk_rpc_error(json_object_get(msg, "id"), WK_RPC_INVALID_REQUEST,
                                              "Invalid Request: initialize must not be part of a batch", NULL));
            continue;
        }
        batch_item_t *it = &m->items[i];
        it->m = m;
        it->msg = msg;
        wk_push_init(&it->push, m->w, &m->sess, msg);
        it->pushing = 1;
        it->push.transport = it;
        it->push.write = batch_write;
        m->batch_pending++;
        wk_methods_dispatch(m->w, &m->srv, &m->sess, &it->push, msg, ids.rid, ids.traceparent, on_batch_item_done,
                            it);
    }
    batch_settle(m); /* the +1: the answer waits until every request was started */
}

/* Everything after the server (and API key) checks passed. */
static void on_session(int rc, const wk_session_t *s, void *ud)
{
    wk_httpreq_t *m = ud;
    if (rc < 0) {
        rpc_refuse(m, 503, WK_RPC_SERVER, "Session store unavailable, try again");
        return;
    }
    if (rc == 0 || strcmp(s->token_hash, m->token_hash) != 0 ||
        s->legacy != (m->kind == MR_SSE_POST)) {
        rpc_refuse(m, 404, WK_RPC_SESSION_NOT_FOUND,
                   "Session not found: it ended or expired; start a new one with initialize");
        return;
    }
    m->sess = *s;
    wk_session_touch(m->w, &m->sess);
    switch (m->kind) {
    case MR_DELETE:
        /* The session was there a moment ago; answer once it is deleted, so
         * a request the client sends next (to any worker) finds it gone. */
        wk_session_delete(m->w, m->sess.id, m->token_hash, on_session_deleted, m);
        return;
    case MR_GET:
        wk_stream_lease_id(m->lease, sizeof m->lease);
        wk_stream_acquire(m->w, m->token_hash, m->lease, on_stream_admitted, m);
        return;
    case MR_SSE_POST: {
        httpreq_ids_t ids;
        ids_of(m->req, &ids); /* before the 202 ends the HTTP request */
        httpd_respond(m->req, 202, "text/plain", "Accepted", 8);
        m->req = NULL;
        if (m->mkind != WK_MSG_REQUEST) {
            client_message(m, m->msg, m->mkind);
            httpreq_free(m);
            return;
        }
        m->w->detached_calls++; /* on_post_done counts it down */
        dispatch(m, &ids);
        return;
    }
    default:
        break;
    }
    if (m->mkind == WK_MSG_BATCH) {
        batch_run(m);
        return;
    }
    if (m->mkind != WK_MSG_REQUEST) {
        client_message(m, m->msg, m->mkind);
        httpd_respond(m->req, 202, NULL, NULL, 0);
        m->req = NULL;
        httpreq_free(m);
        return;
    }
    httpreq_ids_t ids;
    ids_of(m->req, &ids);
    dispatch(m, &ids);
}

static void after_auth(wk_httpreq_t *m)
{
    int is_init = m->kind == MR_POST && m->mkind == WK_MSG_REQUEST &&
                  strcmp(jsontext_str(m->msg, "method"), "initialize") == 0;
    if (is_init || m->kind == MR_SSE_OPEN) {
        wk_session_new_id(m->sess.id, sizeof m->sess.id);
        snprintf(m->sess.token_hash, sizeof m->sess.token_hash, "%s", m->token_hash);
        m->sess.legacy = m->kind == MR_SSE_OPEN;
        snprintf(m->sess.pv, sizeof m->sess.pv, "%s",
                 m->sess.legacy ? WK_PV_LEGACY
                                : wk_mcp_negotiate(jsontext_str(json_object_get(m->msg, "params"),
                                                          "protocolVersion")));
        m->sess.caps = wk_session_caps(json_object_get(json_object_get(m->msg, "params"), "capabilities"));
        if (m->kind == MR_SSE_OPEN) {
            wk_stream_lease_id(m->lease, sizeof m->lease);
            wk_stream_acquire(m->w, m->token_hash, m->lease, on_stream_admitted, m);
            return;
        }
        wk_session_create(m->w, &m->sess, on_session_created, m);
        return;
    }
    if (!*m->sess.id) {
        rpc_refuse(m, 400, WK_RPC_SERVER,
                   m->kind == MR_SSE_POST ? "Bad Request: sessionId query parameter is required"
                                          : "Bad Request: Mcp-Session-Id header is required");
        return;
    }
    if (m->prefetch) {
        on_session(m->sess_rc, m->sess_rc == 1 ? &m->sess : NULL, m);
    } else {
        wk_cache_sync(m->w); /* the server lookup may have waited for Redis */
        wk_session_get(m->w, m->sess.id, on_session, m);
    }
}

static void on_wskey(int rc, void *ud)
{
    wk_httpreq_t *m = ud;
    if (rc < 0) {
        rpc_refuse(m, 503, WK_RPC_SERVER, "Key store unavailable, try again");
        return;
    }
    if (rc == 0) {
        httpd_resp_header(m->req, "WWW-Authenticate",
                          "Bearer realm=\"jsmcp\", error=\"invalid_token\", "
                          "error_description=\"an API key of the workspace that owns this MCP server is required\"");
        rpc_refuse(m, 401, WK_RPC_SERVER,
                   "Unauthorized: this MCP server requires Authorization: Bearer <workspace API key>");
        return;
    }
    after_auth(m);
}

/* Both lookups are in (or the only one, without a session header). */
static void server_ready(wk_httpreq_t *m)
{
    int rc = m->srv_rc;
    if (rc < 0 || (m->prefetch && m->sess_rc < 0)) {
        rpc_refuse(m, 503, WK_RPC_SERVER, "Server store unavailable, try again");
        return;
    }
    if (rc == 1 && wk_server_expired(&m->srv, clock_now_ms()))
        rc = 0;
    if (rc == 0) {
        not_found(m->req, WK_UNKNOWN_SERVER);
        m->req = NULL;
        httpreq_free(m);
        return;
    }
    if (m->srv.require_api_token_auth) {
        const char *auth = httpd_req_header(m->req, "Authorization");
        char hash[SECRET_HASH_HEX_LEN + 1];
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) == 0 ||
            strlen(auth + 7) > 512) {
            on_wskey(0, m);
            return;
        }
        secret_hash_hex(auth + 7, strlen(auth + 7), hash);
        wk_store_wskey(m->w, m->srv.workspace_id, hash, on_wskey, m);
        return;
    }
    after_auth(m);
}

static void on_server(int rc, wk_server_t *srv, void *ud)
{
    wk_httpreq_t *m = ud;
    m->srv_rc = rc;
    if (rc == 1)
        m->srv = *srv; /* takes the record */
    if (m->prefetch && --m->pending > 0)
        return;
    server_ready(m);
}

static void on_session_prefetched(int rc, const wk_session_t *s, void *ud)
{
    wk_httpreq_t *m = ud;
    m->sess_rc = rc;
    if (rc == 1)
        m->sess = *s;
    if (--m->pending > 0)
        return;
    server_ready(m);
}

/* ---- entry ---- */

static int token_ok(const char *t)
{
    size_t n = strlen(t);
    return n > 0 && n <= WK_URL_TOKEN_MAX &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~") == n;
}

static void handle_mcp(wk_worker_t *w, httpd_req_t *req, const char *token, enum httpreq_kind kind)
{
    if (strlen(token) > WK_URL_TOKEN_MAX) {
        not_found(req, WK_UNKNOWN_SERVER); /* not a token: before any other check */
        return;
    }
    wk_httpreq_t *m = mem_calloc(1, sizeof *m);
    m->w = w;
    m->req = req;
    m->kind = kind;
    str_join(m->base_path, sizeof m->base_path, "/mcp/", token, NULL);
    const char *twice = header_repeated(req);
    if (twice) {
        char msg[120];
        snprintf(msg, sizeof msg, "Bad Request: the %s header may appear once", twice);
        rpc_refuse(m, 400, WK_RPC_SERVER, msg);
        return;
    }
    if (!wk_origin_ok(w->cfg, httpd_req_header(req, "Host"), httpd_req_header(req, "Origin"))) {
        rpc_refuse(m, 403, WK_RPC_SERVER, "Forbidden: Origin/Host not allowed");
        return;
    }
    if (!token_ok(token)) {
        not_found(req, WK_UNKNOWN_SERVER);
        m->req = NULL;
        httpreq_free(m);
        return;
    }
    secret_hash_hex(token, strlen(token), m->token_hash);

    const char *accept = httpd_req_header(req, "Accept");
    const char *pv = httpd_req_header(req, "MCP-Protocol-Version");
    if (pv && kind != MR_SSE_OPEN && kind != MR_SSE_POST && !wk_mcp_version_known(pv)) {
        char msg[200];
        snprintf(msg, sizeof msg, "Bad Request: Unsupported protocol version: %.40s (supported "
                 "versions: 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)", pv);
        rpc_refuse_req(m, 400, WK_RPC_SERVER, msg);
        return;
    }
    const char *sid = httpd_req_header(req, "MCP-Session-Id");
    if (kind == MR_SSE_POST) {
        char q[WK_SESSION_ID_LEN + 1];
        int qn = httpd_query_param(req, "sessionId", q, sizeof q);
        sid = qn > 0 ? q : NULL;
        if (qn == -2 || (sid && !wk_session_id_ok(sid))) {
            rpc_refuse(m, 404, WK_RPC_SESSION_NOT_FOUND, "Session not found");
            return;
        }
        if (sid)
            str_copy(m->sess.id, sizeof m->sess.id, sid);
    } else if (sid) {
        if (!wk_session_id_ok(sid)) {
            rpc_refuse(m, 404, WK_RPC_SESSION_NOT_FOUND,
                       "Session not found: it ended or expired; start a new one with initialize");
            return;
        }
        str_copy(m->sess.id, sizeof m->sess.id, sid);
    }

    if (kind == MR_GET || kind == MR_SSE_OPEN) {
        if (accept && !header_has(accept, "text/event-stream") && !header_has(accept, "*/*")) {
            rpc_refuse(m, 406, WK_RPC_SERVER, "Not Acceptable: Client must accept text/event-stream");
            return;
        }
    }
    if (kind == MR_POST || kind == MR_SSE_POST) {
        const char *ct = httpd_req_header(req, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
            rpc_refuse(m, 415, WK_RPC_SERVER,
                       "Unsupported Media Type: Content-Type must be application/json");
            return;
        }
        if (kind == MR_POST && accept && !header_has(accept, "*/*") &&
            !(header_has(accept, "application/json") && header_has(accept, "text/event-stream"))) {
            rpc_refuse(m, 406, WK_RPC_SERVER,
                       "Not Acceptable: Client must accept both application/json and text/event-stream");
            return;
        }
        size_t len;
        const char *body = httpd_req_body(req, &len);
        char err[300];
        int nul;
        m->msg = jsontext_parse_nul(body, len, WK_JSON_DEPTH, &nul, err, sizeof err);
        if (!m->msg) {
            char msg[340];
            snprintf(msg, sizeof msg, "Parse error: %s", err);
            rpc_refuse(m, 400, WK_RPC_PARSE, msg);
            return;
        }
        if (json_is_array(m->msg) && kind == MR_POST) {
            /* A batch: its messages are checked one by one once the
             * session's protocol version is known (batch_run). */
            size_t n = json_array_size(m->msg);
            if (n == 0 || n > WK_BATCH_MAX) {
                rpc_refuse(m, 400, WK_RPC_INVALID_REQUEST,
                           n == 0 ? "Invalid Request: an empty batch"
                                  : "Invalid Request: a batch holds at most " WK_BATCH_MAX_S " messages");
                return;
            }
            m->mkind = WK_MSG_BATCH;
            nul = 0;
        } else {
            m->mkind = wk_rpc_classify(m->msg, err, sizeof err);
        }
        if (m->mkind == WK_MSG_INVALID) {
            json_t *id = json_is_object(m->msg) ? json_object_get(m->msg, "id") : NULL;
            json_t *e = wk_rpc_error(json_is_string(id) || json_is_integer(id) ? id : NULL,
                                     WK_RPC_INVALID_REQUEST, err, NULL);
            httpresp_json(req, 400, e);
            m->req = NULL;
            httpreq_free(m);
            return;
        }
        if (nul && nul_refused(m))
            return;
        if (kind == MR_POST && m->mkind == WK_MSG_REQUEST && *m->sess.id &&
            strcmp(jsontext_str(m->msg, "method"), "initialize") == 0) {
            rpc_refuse_req(m, 400, WK_RPC_INVALID_REQUEST,
                           "Invalid Request: initialize must not carry an Mcp-Session-Id");
            return;
        }
        m->sse_ok = kind == MR_POST && accept && (header_has(accept, "text/event-stream") || header_has(accept, "*/*"));
    }
    int is_init = m->mkind == WK_MSG_REQUEST && strcmp(jsontext_str(m->msg, "method"), "initialize") == 0;
    wk_cache_sync(w); /* changes Redis announced before this request are applied */
    if (*m->sess.id && !is_init) {
        m->prefetch = 1;
        m->pending = 2;
        wk_session_get(w, m->sess.id, on_session_prefetched, m);
    }
    wk_store_server(w, m->token_hash, on_server, m);
}

/* The metrics label of a request, by the path's shape rather than the
 * route that served it (httpd_req_route): a miss under a token (404, 405)
 * counts under the label of the URL it aimed at, as it always has. */
static const char *route_of(const char *path)
{
    if (strncmp(path, "/mcp/", 5) == 0) {
        size_t n = strlen(path);
        if (n > 4 && strcmp(path + n - 4, "/sse") == 0)
            return "/mcp/:token/sse";
        if (n > 9 && strcmp(path + n - 9, "/messages") == 0)
            return "/mcp/:token/messages";
        return "/mcp/:token";
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0)
        return path;
    return "other";
}

void wk_http_complete(httpd_req_t *req, int status, void *ud)
{
    wk_worker_t *w = ud;
    char labels[160], st[24];
    const char *route = route_of(httpd_req_path(req));
    fmt_int(st, status);
    str_join(labels, sizeof labels, "route=\"", route, "\",method=\"", httpd_req_method(req), "\",status=\"", st, "\"",
             NULL);
    metrics_inc(w->metrics, "jsmcp_worker_requests_total", labels, 1);
    str_join(labels, sizeof labels, "route=\"", route, "\"", NULL);
    if (strcmp(httpd_req_method(req), "GET") != 0 || strstr(route, "/mcp") == NULL)
        metrics_observe(w->metrics, "jsmcp_worker_request_duration_seconds", labels,
                        (double)(uv_hrtime() - httpd_req_start_ns(req)) / 1e9);
}

/* ---- routes ---- */

static void h_post(httpd_req_t *req, const router_params_t *p, void *ud)
{
    handle_mcp(ud, req, router_param(p, "token"), MR_POST);
}

static void h_get(httpd_req_t *req, const router_params_t *p, void *ud)
{
    handle_mcp(ud, req, router_param(p, "token"), MR_GET);
}

static void h_delete(httpd_req_t *req, const router_params_t *p, void *ud)
{
    handle_mcp(ud, req, router_param(p, "token"), MR_DELETE);
}

static void h_sse_open(httpd_req_t *req, const router_params_t *p, void *ud)
{
    handle_mcp(ud, req, router_param(p, "token"), MR_SSE_OPEN);
}

static void h_sse_post(httpd_req_t *req, const router_params_t *p, void *ud)
{
    handle_mcp(ud, req, router_param(p, "token"), MR_SSE_POST);
}

static void h_healthz(httpd_req_t *req, const router_params_t *p, void *ud)
{
    wk_worker_t *w = ud;
    httpd_respond(req, w->draining ? 503 : 200, "application/json",
                  w->draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}", w->draining ? 21 : 15);
}

/* Ready = this process can serve MCP: not draining, and its Redis
 * connection is up (every request starts with a Redis read of the
 * token). Load balancers and Kubernetes readiness probes use it; /healthz
 * stays the liveness answer, so a Redis outage does not restart workers. */
static void h_readyz(httpd_req_t *req, const router_params_t *p, void *ud)
{
    wk_worker_t *w = ud;
    static const char ready[] = "{\"status\":\"ready\",\"redis\":true}";
    static const char draining[] = "{\"status\":\"draining\"}";
    static const char no_redis[] = "{\"status\":\"unavailable\",\"redis\":false}";
    if (w->draining)
        httpd_respond(req, 503, "application/json", draining, sizeof draining - 1);
    else if (!rcli_ready(w->redis))
        httpd_respond(req, 503, "application/json", no_redis, sizeof no_redis - 1);
    else
        httpd_respond(req, 200, "application/json", ready, sizeof ready - 1);
}

/* The public port's misses. Outside /mcp/ everything is 404, methods
 * included (/metrics too: it names every tenant's accounts, so it is
 * served on its own listener only); under a token too long to be one, the
 * URL is unknown whatever follows; under a token, a known path with
 * another method is 405 in JSON-RPC form, as MCP clients expect. */
static void on_miss(httpd_req_t *req, int status, const char *allow, void *ud)
{
    const char *path = httpd_req_path(req);
    if (strncmp(path, "/mcp/", 5) != 0) {
        not_found(req, "No such endpoint; MCP servers live at /mcp/<token>.");
        return;
    }
    size_t n = strcspn(path + 5, "/");
    if (n == 0 || n > WK_URL_TOKEN_MAX) {
        not_found(req, WK_UNKNOWN_SERVER);
        return;
    }
    if (status == 405) {
        httpd_resp_header(req, "Allow", allow);
        httpresp_json(req, 405, wk_rpc_error(NULL, WK_RPC_SERVER, "Method Not Allowed", NULL));
        return;
    }
    not_found(req, "No such endpoint under this MCP server URL.");
}

static void on_metrics_miss(httpd_req_t *req, int status, const char *allow, void *ud)
{
    not_found(req, "No such endpoint; this listener serves GET /metrics.");
}

static void h_metrics(httpd_req_t *req, const router_params_t *p, void *ud)
{
    wk_worker_t *w = ud;
    size_t len;
    char *text = wk_metrics_render_all(w->shm, w->slot, w->metrics, &len);
    httpd_respond(req, 200, "text/plain; version=0.0.4", text ? text : "", text ? len : 0);
    free(text);
}

/* Methods in the order a 405's Allow lists them. The token is taken as
 * the path has it (raw: never decoded, any length; handle_mcp checks it),
 * so that a token of any form is answered as the worker always did. */
static const struct {
    const char *method, *pattern;
    router_fn fn;
} routes[] = {
    {"GET", "/healthz", h_healthz},
    {"GET", "/readyz", h_readyz},
    {"GET", "/mcp/:token", h_get},
    {"POST", "/mcp/:token", h_post},
    {"DELETE", "/mcp/:token", h_delete},
    {"GET", "/mcp/:token/mcp", h_get},
    {"POST", "/mcp/:token/mcp", h_post},
    {"DELETE", "/mcp/:token/mcp", h_delete},
    {"GET", "/mcp/:token/sse", h_sse_open},
    {"POST", "/mcp/:token/messages", h_sse_post},
};

void wk_http_start(wk_worker_t *w)
{
    w->router = router_new_with(ROUTER_RAW_PARAMS | ROUTER_EXACT_METHOD);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        router_add(w->router, routes[i].method, routes[i].pattern, routes[i].fn, w);
    router_set_fallback(w->router, on_miss, w);
    w->metrics_router = router_new_with(ROUTER_RAW_PARAMS | ROUTER_EXACT_METHOD);
    router_add(w->metrics_router, "GET", "/metrics", h_metrics, w);
    router_set_fallback(w->metrics_router, on_metrics_miss, w);
}

void wk_http_free(wk_worker_t *w)
{
    router_free(w->router);
    router_free(w->metrics_router);
    w->router = w->metrics_router = NULL;
}

void wk_http_metrics_handle(httpd_req_t *req, void *ud)
{
    wk_worker_t *w = ud;
    router_dispatch(w->metrics_router, req);
}

void wk_http_handle(httpd_req_t *req, void *ud)
{
    wk_worker_t *w = ud;
    router_dispatch(w->router, req);
}
