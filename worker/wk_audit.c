/* wk_audit: see wk_audit.h.
 *
 * A record is one XADD command, copied into one allocation (rec_t). It is
 * sent at once; when Redis cannot take it (not connected, connection lost,
 * timed out) it waits in a FIFO and a 200 ms timer sends the queue again
 * once Redis is back. Redis error replies (a bug, not an outage) are not
 * retried. At most WK_AUDIT_MAX_PENDING records wait; beyond that, and for
 * what is still queued when the worker stops with Redis down, records are
 * dropped and counted (jsmcp_worker_audit_dropped_total). */
#include "wk_audit.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define WK_AUDIT_MAX_PENDING 100000
#define WK_AUDIT_RETRY_MS 200
#define WK_AUDIT_DRAIN_WAIT_MS 3000 /* how long a stopping worker waits for replies */

typedef struct rec_s {
    struct rec_s *next;
    struct wk_audit_s *a;
    void (*sent)(void *ud); /* the caller's, once; NULL after */
    void *ud;
    int argc;
    const char **argv;
    size_t *len;
} rec_t;

struct wk_audit_s {
    wk_worker_t *w;
    rec_t *head, *tail;
    size_t queued, inflight;
    uv_timer_t timer;
    int stopping;
    uint64_t stop_at;
    void (*done)(wk_worker_t *w);
};

/* Tells the caller its record is handled (in Redis, queued or dropped). */
static void rec_sent(rec_t *r)
{
    void (*sent)(void *) = r->sent;
    r->sent = NULL;
    if (sent)
        sent(r->ud);
}

static void rec_free(rec_t *r)
{
    rec_sent(r);
    free(r);
}

static void enqueue(wk_audit_t *a, rec_t *r)
{
    if (a->queued >= WK_AUDIT_MAX_PENDING) {
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_dropped_total", "", 1);
        rec_free(r);
        return;
    }
    r->next = NULL;
    if (a->tail)
        a->tail->next = r;
    else
        a->head = r;
    a->tail = r;
    a->queued++;
    rec_sent(r); /* the answer need not wait for the outage to end */
}

static void maybe_done(wk_audit_t *a);
static void send_rec(wk_audit_t *a, rec_t *r);

static void on_reply(redisReply *reply, const char *err, void *ud)
{
    rec_t *r = ud;
    wk_audit_t *a = r->a;
    a->inflight--;
    if (reply) {
        if (reply->type == REDIS_REPLY_ERROR) {
            LOG_WARN("audit", "Redis refused an audit record", "err", reply->str, NULL);
            metrics_inc(a->w->metrics, "jsmcp_worker_audit_dropped_total", "", 1);
        }
        rec_free(r);
    } else if (a->stopping && uv_now(a->w->loop) >= a->stop_at) {
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_dropped_total", "", 1);
        rec_free(r);
    } else {
        (void)err; /* outage: keep it for the next try */
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_retried_total", "", 1);
        enqueue(a, r);
    }
    maybe_done(a);
}

static void send_rec(wk_audit_t *a, rec_t *r)
{
    a->inflight++;
    if (rcli_command_argv(a->w->redis, on_reply, r, r->argc, r->argv, r->len) != 0) {
        a->inflight--;
        enqueue(a, r);
    }
}

/* Sends what waits, if Redis is there. */
static void flush(wk_audit_t *a)
{
    if (!rcli_ready(a->w->redis))
        return;
    rec_t *r = a->head;
    a->head = a->tail = NULL;
    size_t n = a->queued;
    a->queued = 0;
    while (r && n--) {
        rec_t *next = r->next;
        send_rec(a, r);
        r = next;
    }
}

static void on_timer(uv_timer_t *t)
{
    wk_audit_t *a = t->data;
    flush(a);
    metrics_set(a->w->metrics, "jsmcp_worker_audit_pending", "", (double)a->queued);
    if (a->stopping)
        maybe_done(a);
}

void wk_audit_append(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud), void *ud)
{
    wk_audit_t *a = w->audit;
    size_t sz = sizeof(rec_t) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++)
        sz += strlen(argv[i]) + 1;
    rec_t *r = mem_alloc(sz);
    r->a = a;
    r->sent = sent;
    r->ud = ud;
    r->argc = argc;
    r->argv = (const char **)(r + 1);
    r->len = (size_t *)(r->argv + argc);
    char *p = (char *)(r->len + argc);
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(argv[i]);
        memcpy(p, argv[i], l + 1);
        r->argv[i] = p;
        r->len[i] = l;
        p += l + 1;
    }
    if (a->head) { /* keep the order while others wait */
        enqueue(a, r);
        return;
    }
    send_rec(a, r);
}

int wk_audit_start(wk_worker_t *w)
{
    wk_audit_t *a = mem_calloc(1, sizeof *a);
    a->w = w;
    w->audit = a;
    metrics_describe(w->metrics, "jsmcp_worker_audit_pending", "gauge", "Audit records waiting for Redis");
    metrics_describe(w->metrics, "jsmcp_worker_audit_retried_total", "counter", "Audit records sent again after a Redis outage");
    metrics_describe(w->metrics, "jsmcp_worker_audit_dropped_total", "counter", "Audit records given up (queue full, or Redis down at exit)");
    uv_timer_init(w->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_timer, WK_AUDIT_RETRY_MS, WK_AUDIT_RETRY_MS);
    uv_unref((uv_handle_t *)&a->timer);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    wk_audit_t *a = h->data;
    void (*done)(wk_worker_t *) = a->done;
    wk_worker_t *w = a->w;
    w->audit = NULL;
    free(a);
    done(w);
}

static void maybe_done(wk_audit_t *a)
{
    if (!a->stopping || a->stopping == 2)
        return;
    int late = uv_now(a->w->loop) >= a->stop_at;
    if (a->inflight > 0 || (a->queued > 0 && !late))
        return;
    /* Everything is in Redis, or the wait is over: what is left is lost. */
    if (a->queued)
        LOG_WARN("audit", "audit records dropped at exit: Redis unavailable", NULL);
    for (rec_t *r = a->head, *next; r; r = next) {
        next = r->next;
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_dropped_total", "", 1);
        rec_free(r);
    }
    a->head = a->tail = NULL;
    a->queued = 0;
    a->stopping = 2;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
}

void wk_audit_stop(wk_worker_t *w, void (*done)(wk_worker_t *w))
{
    wk_audit_t *a = w->audit;
    a->stopping = 1;
    a->done = done;
    a->stop_at = uv_now(w->loop) + WK_AUDIT_DRAIN_WAIT_MS;
    uv_ref((uv_handle_t *)&a->timer); /* keep the loop alive while records wait */
    flush(a);
    maybe_done(a);
}
