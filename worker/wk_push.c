/* wk_push: see wk_push.h. */
#include "wk_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "log.h"
#include "secret.h"

#define WK_PUSH_MAX_PENDING 1000  /* server requests waiting per process */
#define WK_PUSH_MAX_MSG (1u << 20) /* a routed client answer larger than this is dropped */

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error",
                                          "critical", "alert", "emergency", NULL};

/* A server request waiting for the client's answer. Freed in one place
 * (on_pending_closed), after its timer handle closed. */
typedef struct pending_s {
    struct wk_push_state_s *st;
    char id[48];
    char sid[WK_SESSION_ID_LEN + 1];
    wk_push_t *push;            /* NULL once the request it belongs to ended */
    wk_push_reply_fn cb;
    void *ud;
    uv_timer_t timer;
    char err[160];              /* why it ends without an answer (set before the timer fires early) */
    struct pending_s *prev, *next;
} pending_t;

typedef struct wk_push_state_s {
    wk_worker_t *w;
    char instance[20];          /* random, names this process in request ids */
    char channel[200];          /* <prefix>wkpush:<instance> */
    char pattern[400];          /* the same, glob characters escaped */
    int live;                   /* Redis confirmed the subscription: answers can be routed here */
    unsigned long long seq;
    pending_t *pending;
    size_t npending;
    char cancel_channel[200];   /* <prefix>wkcancel, every process's */
    wk_push_t *cancellable;     /* requests that can be cancelled (wk_push_on_cancel) */
} wk_push_state_t;

int wk_push_level(const char *name)
{
    for (int i = 0; name && level_names[i]; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *wk_push_level_name(int level)
{
    return level >= 0 && level <= WK_LOG_EMERGENCY ? level_names[level] : "info";
}

void wk_push_init(wk_push_t *p, wk_worker_t *w, const wk_session_t *sess, const json_t *msg)
{
    memset(p, 0, sizeof *p);
    p->w = w;
    p->level = -1;
    if (sess) {
        str_copy(p->sid, sizeof p->sid, sess->id);
        p->level = wk_push_level(sess->level);
        p->caps = sess->caps;
    }
    const json_t *tok = json_object_get(json_object_get(json_object_get(msg, "params"), "_meta"), "progressToken");
    if (json_is_string(tok) || json_is_integer(tok))
        p->progress_token = json_incref((json_t *)tok);
    const json_t *id = json_object_get(msg, "id");
    if (json_is_string(id) || json_is_integer(id))
        p->request_id = json_incref((json_t *)id);
}

/* ---- cancellation ---- */

static void cancellable_unlink(wk_push_t *p)
{
    wk_push_state_t *st = p->w ? p->w->push : NULL;
    if (!p->cancel || !st)
        return;
    if (p->cprev)
        p->cprev->cnext = p->cnext;
    else
        st->cancellable = p->cnext;
    if (p->cnext)
        p->cnext->cprev = p->cprev;
    p->cprev = p->cnext = NULL;
    p->cancel = NULL;
    p->cancel_ud = NULL;
}

void wk_push_on_cancel(wk_push_t *p, void (*fn)(void *ud), void *ud)
{
    wk_push_state_t *st = p->w ? p->w->push : NULL;
    cancellable_unlink(p);
    if (!fn || !st || p->ended || !p->request_id || !*p->sid)
        return;
    p->cancel = fn;
    p->cancel_ud = ud;
    p->cnext = st->cancellable;
    if (st->cancellable)
        st->cancellable->cprev = p;
    st->cancellable = p;
}

/* Cancels the request of session sid with id here: 1, or 0 when this
 * process has none. */
static int cancel_local(wk_push_state_t *st, const char *sid, const json_t *id)
{
    for (wk_push_t *p = st->cancellable; p; p = p->cnext) {
        if (strcmp(p->sid, sid) != 0 || !json_equal(p->request_id, (json_t *)id))
            continue;
        void (*fn)(void *) = p->cancel;
        void *ud = p->cancel_ud;
        cancellable_unlink(p);
        fn(ud);
        return 1;
    }
    return 0;
}

void wk_push_cancel(wk_worker_t *w, const char *sid, const json_t *request_id)
{
    wk_push_state_t *st = w->push;
    if (!st || !(json_is_string(request_id) || json_is_integer(request_id)) || cancel_local(st, sid, request_id))
        return;
    char *id = json_dumps(request_id, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!id)
        return;
    if (strlen(id) <= 512) { /* a longer id was never one of ours to cancel */
        buf_t b;
        buf_init(&b, 1024);
        buf_printf(&b, "%s\n%s", sid, id);
        if (b.data)
            rcli_command(w->redis, NULL, NULL, "PUBLISH %s %b", st->cancel_channel, b.data, b.len);
        buf_free(&b);
    }
    free(id);
}

/* A message one process published for another: "<sid>\n<json>". The
 * JSON (at most depth deep), with the session id in sid, or NULL. */
static json_t *routed_parse(const char *msg, size_t len, int depth, char sid[WK_SESSION_ID_LEN + 1])
{
    const char *nl = memchr(msg, '\n', len);
    if (!nl || (size_t)(nl - msg) > WK_SESSION_ID_LEN)
        return NULL;
    char err[128];
    memcpy(sid, msg, (size_t)(nl - msg));
    sid[nl - msg] = 0;
    return jsontext_parse(nl + 1, len - (size_t)(nl - msg) - 1, depth, err, sizeof err);
}

/* A cancel published by the process that took the POST: the request id. */
static void on_cancel_msg(const char *channel, const char *msg, size_t len, void *ud)
{
    (void)channel;
    char sid[WK_SESSION_ID_LEN + 1];
    json_t *id = routed_parse(msg, len, 2, sid);
    if (id)
        cancel_local(ud, sid, id);
    json_decref(id);
}

static int push_write(wk_push_t *p, json_t *msg)
{
    int rc = -1;
    if (!p->ended && p->write) {
        char *s = jsontext_dump(msg);
        if (s)
            rc = p->write(p, s, strlen(s));
        free(s);
    }
    json_decref(msg);
    return rc;
}

int wk_push_log(wk_push_t *p, int level, const char *logger, json_t *data)
{
    if (p->level < 0 || level < p->level) {
        json_decref(data);
        return -1;
    }
    json_t *params = json_object();
    json_object_set_new(params, "level", json_string(wk_push_level_name(level)));
    if (logger)
        json_object_set_new(params, "logger", json_string(logger));
    json_object_set_new(params, "data", data ? data : json_null());
    return push_write(p, json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "notifications/message",
                                   "params", params));
}

int wk_push_progress(wk_push_t *p, double progress, double total, const char *message)
{
    if (!p->progress_token || (p->sent_progress && progress <= p->progress))
        return -1;
    json_t *params = json_object();
    json_object_set(params, "progressToken", p->progress_token);
    json_object_set_new(params, "progress", json_real(progress));
    if (total > 0)
        json_object_set_new(params, "total", json_real(total));
    if (message)
        json_object_set_new(params, "message", json_string(message));
    p->progress = progress;
    p->sent_progress = 1;
    return push_write(p, json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "notifications/progress",
                                   "params", params));
}

/* ---- server requests and their answers ---- */

static void on_pending_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The one place a pending request leaves the table. */
static void pending_remove(pending_t *pe)
{
    wk_push_state_t *st = pe->st;
    if (pe->prev)
        pe->prev->next = pe->next;
    else
        st->pending = pe->next;
    if (pe->next)
        pe->next->prev = pe->prev;
    st->npending--;
    uv_timer_stop(&pe->timer);
    uv_close((uv_handle_t *)&pe->timer, on_pending_closed);
}

/* Timed out, or failed early (wk_push_end, drain): err says why. */
static void on_pending_timer(uv_timer_t *t)
{
    pending_t *pe = t->data;
    wk_push_reply_fn cb = pe->cb;
    void *ud = pe->ud;
    char err[sizeof pe->err];
    str_copy(err, sizeof err, pe->err[0] ? pe->err : "the client did not answer in time");
    pending_remove(pe);
    cb(NULL, err, ud);
}

static void pending_fail_soon(pending_t *pe, const char *why)
{
    str_copy(pe->err, sizeof pe->err, why);
    pe->push = NULL;
    uv_timer_stop(&pe->timer);
    uv_timer_start(&pe->timer, on_pending_timer, 0, 0);
}

int wk_push_request(wk_push_t *p, const char *method, json_t *params, long timeout_ms, wk_push_reply_fn cb,
                    void *ud)
{
    wk_push_state_t *st = p->w->push;
    if (p->ended || !p->write || !st || !st->live || st->npending >= WK_PUSH_MAX_PENDING || !*p->sid) {
        json_decref(params);
        return -1;
    }
    pending_t *pe = mem_calloc(1, sizeof *pe);
    pe->st = st;
    snprintf(pe->id, sizeof pe->id, "%s.%llu", st->instance, ++st->seq);
    str_copy(pe->sid, sizeof pe->sid, p->sid);
    json_t *req = json_pack("{s:s,s:s,s:s,s:o}", "jsonrpc", "2.0", "id", pe->id, "method", method, "params",
                            params ? params : json_object());
    if (push_write(p, req) != 0) {
        free(pe);
        return -1;
    }
    pe->push = p;
    pe->cb = cb;
    pe->ud = ud;
    uv_timer_init(p->w->loop, &pe->timer);
    pe->timer.data = pe;
    uv_timer_start(&pe->timer, on_pending_timer, (uint64_t)(timeout_ms > 0 ? timeout_ms : 1), 0);
    pe->next = st->pending;
    if (st->pending)
        st->pending->prev = pe;
    st->pending = pe;
    st->npending++;
    return 0;
}

void wk_push_end(wk_push_t *p)
{
    wk_push_state_t *st = p->w ? p->w->push : NULL;
    for (pending_t *pe = st ? st->pending : NULL; pe; pe = pe->next)
        if (pe->push == p)
            pending_fail_soon(pe, "the request ended before the client answered");
    cancellable_unlink(p);
    p->ended = 1;
    json_decref(p->progress_token);
    p->progress_token = NULL;
    json_decref(p->request_id);
    p->request_id = NULL;
}

/* An answer for a request of this process. */
static void deliver(wk_push_state_t *st, const char *sid, const json_t *msg)
{
    const char *id = jsontext_str(msg, "id");
    pending_t *pe = st->pending;
    while (pe && !(id && strcmp(pe->id, id) == 0 && strcmp(pe->sid, sid) == 0))
        pe = pe->next;
    if (!pe) {
        LOG_DEBUG("worker", "client answer for no waiting request", "id", id ? id : "", NULL);
        return;
    }
    wk_push_reply_fn cb = pe->cb;
    void *ud = pe->ud;
    const json_t *result = json_object_get(msg, "result");
    const json_t *error = json_object_get(msg, "error");
    char err[300] = "";
    if (!json_is_object(result)) {
        snprintf(err, sizeof err, "the client answered with an error: %.200s",
                 jsontext_str(error, "message") ? jsontext_str(error, "message") : "(no message)");
        result = NULL;
    }
    pending_remove(pe);
    cb(result, result ? NULL : err, ud);
}

void wk_push_response(wk_worker_t *w, const char *sid, const json_t *msg)
{
    wk_push_state_t *st = w->push;
    const char *id = jsontext_str(msg, "id");
    const char *dot = id ? strchr(id, '.') : NULL;
    if (!st || !dot || (size_t)(dot - id) >= sizeof st->instance)
        return; /* not an id this service gave out: nothing waits for it */
    if ((size_t)(dot - id) == strlen(st->instance) && strncmp(id, st->instance, (size_t)(dot - id)) == 0) {
        deliver(st, sid, msg);
        return;
    }
    char inst[sizeof st->instance], ch[240];
    memcpy(inst, id, (size_t)(dot - id));
    inst[dot - id] = 0;
    if (strspn(inst, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(inst))
        return;
    char *body = jsontext_dump(msg);
    if (!body)
        return;
    buf_t b;
    buf_init(&b, WK_PUSH_MAX_MSG + 64);
    buf_printf(&b, "%s\n%s", sid, body);
    free(body);
    rcli_key(w->redis, ch, sizeof ch, "wkpush:%s", inst);
    if (b.data && b.len <= WK_PUSH_MAX_MSG)
        rcli_command(w->redis, NULL, NULL, "PUBLISH %s %b", ch, b.data, b.len);
    buf_free(&b);
}

/* "<sid>\n<json>" from another process that took the client's POST. */
static void on_routed(const char *channel, const char *msg, size_t len, void *ud)
{
    char sid[WK_SESSION_ID_LEN + 1];
    json_t *m = routed_parse(msg, len, 64, sid);
    if (m)
        deliver(ud, sid, m);
    json_decref(m);
}

static void on_state(int live, void *ud)
{
    wk_push_state_t *st = ud;
    st->live = live;
}

void wk_push_session(wk_worker_t *w, const char *sid, json_t *notification)
{
    char *s = jsontext_dump(notification);
    json_decref(notification);
    if (s && wk_session_id_ok(sid))
        wk_session_publish(w, sid, s, strlen(s), NULL, NULL);
    free(s);
}

int wk_push_start(wk_worker_t *w)
{
    wk_push_state_t *st = mem_calloc(1, sizeof *st);
    st->w = w;
    w->push = st;
    secret_random_b64(9, st->instance, sizeof st->instance);
    rcli_key(w->redis, st->channel, sizeof st->channel, "wkpush:%s", st->instance);
    /* A pattern subscription, because it reports when Redis confirmed it:
     * until then no request is sent whose answer could not come back. */
    size_t n = 0;
    for (const char *c = st->channel; *c && n + 2 < sizeof st->pattern; c++) {
        if (strchr("*?[]\\", *c))
            st->pattern[n++] = '\\';
        st->pattern[n++] = *c;
    }
    st->pattern[n] = 0;
    rcli_key(w->redis, st->cancel_channel, sizeof st->cancel_channel, "wkcancel");
    if (rcli_subscribe(w->redis, st->cancel_channel, on_cancel_msg, st) != 0)
        return -1;
    return rcli_psubscribe(w->redis, st->pattern, on_routed, on_state, st);
}

void wk_push_stop(wk_worker_t *w)
{
    wk_push_state_t *st = w->push;
    for (pending_t *pe = st ? st->pending : NULL; pe; pe = pe->next)
        if (pe->err[0] == 0)
            pending_fail_soon(pe, "the worker is shutting down");
}

void wk_push_free(wk_worker_t *w)
{
    free(w->push);
    w->push = NULL;
}
