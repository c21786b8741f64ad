/* wk_sse: see wk_sse.h. */
#include "wk_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "httpresp.h"
#include "log.h"
#include "wk_listwatch.h"
#include "wk_rpc.h"

#define WK_SUBSCRIBE_WAIT_MS 3000
/* A control message on a session's channel (never written to a client):
 * "\x01get <opened_ms> <lease>", sent by a GET stream as it opens. */
#define SSE_CTL '\x01'

struct wk_sse_s {
    wk_worker_t *w;
    httpd_req_t *req;
    char sid[WK_SESSION_ID_LEN + 1];
    char token_hash[SECRET_HASH_HEX_LEN + 1];
    char lease[24];              /* its lease among the URL's streams (wk_session.h) */
    char channel[160];
    char endpoint[WK_URL_TOKEN_MAX + 80]; /* legacy: sent once the subscription is live */
    int legacy;
    int64_t opened_ms;           /* GET streams: when it opened (which of two is newer) */
    wk_sse_t *prev, *next;
};

static void sse_unlink(wk_sse_t *s)
{
    wk_worker_t *w = s->w;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->nstreams--;
    metrics_set(w->metrics, "jsmcp_worker_sse_streams", "", (double)w->nstreams);
}

/* The one place a stream ends: legacy sessions die with their stream. */
static void sse_close(wk_sse_t *s)
{
    sse_unlink(s);
    wk_stream_release(s->w, s->token_hash, s->lease);
    wk_listwatch_close(s->w, s->sid);
    if (s->channel[0])
        rcli_unsubscribe(s->w->redis, s->channel);
    if (s->legacy)
        wk_session_delete(s->w, s->sid, s->token_hash, NULL, NULL);
    httpd_stream_end(s->req);
    free(s);
}

static void sse_on_abort(httpd_req_t *req, void *ud)
{
    sse_close(ud);
}

int wk_sse_write(httpd_req_t *req, const char *event, const char *data, size_t len)
{
    buf_t b;
    buf_init(&b, len + 64);
    buf_append_str(&b, "event: ");
    buf_append_str(&b, event);
    buf_append_str(&b, "\ndata: ");
    buf_append(&b, data, len);
    buf_append_str(&b, "\n\n");
    int rc = buf_ok(&b) ? httpd_stream_write(req, b.data, b.len) : HTTPD_ESLOW;
    buf_free(&b);
    return rc;
}

/* This process's stream of session sid: its legacy SSE stream (legacy 1)
 * or its Streamable HTTP GET stream (legacy 0). */
static wk_sse_t *sse_find(wk_worker_t *w, const char *sid, int legacy)
{
    for (wk_sse_t *s = w->streams; s; s = s->next)
        if (s->legacy == legacy && strcmp(s->sid, sid) == 0)
            return s;
    return NULL;
}

/* A message for a local legacy stream (directly or from pub/sub). */
static void sse_deliver(wk_sse_t *s, const char *msg, size_t len)
{
    if (wk_sse_write(s->req, "message", msg, len) == HTTPD_ESLOW)
        sse_close(s); /* HTTPD_ECLOSED: the abort callback closed it already */
}

void wk_sse_to_session(wk_worker_t *w, const char *sid, const char *json, size_t len)
{
    wk_sse_t *local = sse_find(w, sid, 1);
    if (local)
        sse_deliver(local, json, len);
    else
        wk_session_publish(w, sid, json, len, NULL, NULL);
}

/* Another GET stream of s's session opened (a control message): the
 * newer of the two stays, by when it opened, then by its lease, so two
 * processes that hear of each other agree on which one goes. */
static void sse_on_control(wk_sse_t *s, const char *msg, size_t len)
{
    char text[96], lease[24];
    long long opened;
    if (s->legacy || len >= sizeof text)
        return;
    memcpy(text, msg, len);
    text[len] = 0;
    if (sscanf(text, "\x01get %lld %23s", &opened, lease) != 2 || strcmp(lease, s->lease) == 0)
        return;
    if (opened > s->opened_ms || (opened == s->opened_ms && strcmp(lease, s->lease) > 0))
        sse_close(s);
}

static void on_channel(const char *channel, const char *msg, size_t len, void *ud)
{
    wk_sse_t *s = ud;
    if (len > 0 && msg[0] == SSE_CTL)
        sse_on_control(s, msg, len);
    else if (len > 0) /* the empty probe of confirm_subscription carries nothing */
        sse_deliver(s, msg, len);
}

/* The endpoint event may go out only once our SUBSCRIBE reached Redis: a
 * POST to another worker publishes the answer, and Redis drops messages
 * for channels nobody listens to yet (the pub/sub connection is even made
 * on the first subscribe). PUBLISH answers how many subscribers got the
 * (empty) probe; the channel is this stream's alone, so 1 means live. */
typedef struct confirm_s {
    wk_worker_t *w;
    char sid[WK_SESSION_ID_LEN + 1];
    uint64_t t0;
} confirm_t;

static void on_confirm(int rc, const wk_session_t *sess, void *ud)
{
    confirm_t *c = ud;
    wk_sse_t *st = sse_find(c->w, c->sid, 1); /* NULL: the client left meanwhile */
    if (st && rc == 1) {
        if (wk_sse_write(st->req, "endpoint", st->endpoint, strlen(st->endpoint)) == HTTPD_ESLOW)
            sse_close(st);
    } else if (st && (rc < 0 || uv_now(c->w->loop) - c->t0 > WK_SUBSCRIBE_WAIT_MS)) {
        LOG_WARN("worker", "legacy SSE subscription not confirmed; closing the stream", NULL);
        sse_close(st);
    } else if (st) {
        wk_session_publish(c->w, c->sid, "", 0, on_confirm, c);
        return;
    }
    free(c);
}

static void confirm_subscription(wk_sse_t *st)
{
    confirm_t *c = mem_calloc(1, sizeof *c);
    c->w = st->w;
    snprintf(c->sid, sizeof c->sid, "%s", st->sid);
    c->t0 = uv_now(st->w->loop);
    wk_session_publish(c->w, c->sid, "", 0, on_confirm, c);
}

/* Begins the event stream on req; NULL (lease released, req answered or
 * ended) when it cannot. */
static wk_sse_t *sse_begin(wk_worker_t *w, httpd_req_t *req, const wk_session_t *sess, const char *token_hash,
                           const char *lease, int legacy)
{
    if (w->draining) {
        /* The streams were ended when the drain began; a new one would keep
         * this process alive for as long as its client stays. */
        wk_stream_release(w, token_hash, lease);
        httpd_resp_close(req);
        httpresp_json(req, 503, wk_rpc_error(NULL, WK_RPC_SERVER, "This worker is shutting down; reconnect", NULL));
        return NULL;
    }
    httpd_resp_header(req, "Cache-Control", "no-cache, no-transform");
    httpd_resp_header(req, "X-Accel-Buffering", "no");
    if (!legacy)
        httpd_resp_header(req, "MCP-Session-Id", sess->id);
    if (httpd_stream_begin(req, 200, "text/event-stream") != 0) {
        wk_stream_release(w, token_hash, lease);
        httpd_stream_end(req);
        return NULL;
    }
    wk_sse_t *s = mem_calloc(1, sizeof *s);
    s->w = w;
    s->req = req;
    s->legacy = legacy;
    snprintf(s->sid, sizeof s->sid, "%s", sess->id);
    str_copy(s->token_hash, sizeof s->token_hash, token_hash);
    str_copy(s->lease, sizeof s->lease, lease);
    s->next = w->streams;
    if (w->streams)
        w->streams->prev = s;
    w->streams = s;
    w->nstreams++;
    metrics_set(w->metrics, "jsmcp_worker_sse_streams", "", (double)w->nstreams);
    httpd_req_on_abort(req, sse_on_abort, s);
    return s;
}

void wk_sse_open(wk_worker_t *w, httpd_req_t *req, const wk_session_t *sess, const char *token_hash,
                 const char *lease, int legacy, const char *base_path, const json_t *config)
{
    if (legacy) {
        wk_sse_t *st = sse_begin(w, req, sess, token_hash, lease, 1);
        if (!st)
            return;
        wk_session_channel(w, sess->id, st->channel, sizeof st->channel);
        snprintf(st->endpoint, sizeof st->endpoint, "%s/messages?sessionId=%s", base_path, sess->id);
        if (rcli_subscribe(w->redis, st->channel, on_channel, st) != 0) {
            st->channel[0] = 0;
            sse_close(st);
        } else {
            wk_listwatch_open(w, st->sid, st->token_hash, config);
            confirm_subscription(st);
        }
        return;
    }
    /* A new GET stream of a session replaces the one it had (a client
     * reconnecting after a network failure the server did not notice
     * yet): here at once, in another process when it hears of this one on
     * the session's channel. Else both would stay open, each with its list
     * watch, and every unsolicited message (list_changed,
     * resources/updated), which reaches a stream through that channel
     * wherever it starts, would go out on both, each twice: MCP sends a
     * message on one stream only. */
    wk_sse_t *old = sse_find(w, sess->id, 0);
    if (old)
        sse_close(old);
    wk_sse_t *st = sse_begin(w, req, sess, token_hash, lease, 0);
    if (st) {
        char ctl[96];
        st->opened_ms = clock_now_ms();
        wk_session_channel(w, sess->id, st->channel, sizeof st->channel);
        if (rcli_subscribe(w->redis, st->channel, on_channel, st) != 0)
            st->channel[0] = 0;
        wk_listwatch_open(w, st->sid, st->token_hash, config);
        int n = snprintf(ctl, sizeof ctl, "%cget %lld %s", SSE_CTL, (long long)st->opened_ms, st->lease);
        wk_session_publish(w, st->sid, ctl, (size_t)n, NULL, NULL);
    }
}

void wk_sse_keepalive(wk_worker_t *w)
{
    for (wk_sse_t *s = w->streams, *next; s; s = next) {
        next = s->next;
        if (httpd_stream_write(s->req, ": keepalive\n\n", 13) == HTTPD_ESLOW)
            sse_close(s);
        else
            wk_stream_renew(w, s->token_hash, s->lease);
    }
}

void wk_sse_end_all(wk_worker_t *w)
{
    while (w->streams)
        sse_close(w->streams);
}
