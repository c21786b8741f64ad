/* rcli_conn: one connection of rcli, the command or the pub/sub one (see
 * rcli_int.h): connect with a timeout, AUTH/SELECT, notice the loss,
 * reconnect at once or with backoff, close. Knows nothing of commands or
 * subscriptions: the pub/sub connection's own work runs in its hooks.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rcli_int.h"

/* ------------------------------------------------------------ handles, close */

void rcli_on_handle_closed(uv_handle_t *h)
{
    rcli_t *r = h->data;
    if (--r->open_handles > 0)
        return;
    for (size_t i = 0; i < RCLI_SUB_BUCKETS; i++) {
        sub_t *s = r->subs[i];
        while (s) {
            sub_t *n = s->next;
            free(s);
            s = n;
        }
    }
    for (size_t i = 0; i < r->npsubs; i++)
        free(r->psubs[i].pattern);
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    memset(&r->url, 0, sizeof r->url); /* the password */
    free(r);
    if (done)
        done(arg);
}

void rcli_timer_init(rcli_t *r, uv_timer_t *t)
{
    uv_timer_init(r->loop, t);
    t->data = r;
    r->open_handles++;
}

/* ------------------------------------------------------------ connections */

static void on_conn_timer(uv_timer_t *t);

/* The connection is down (its context, if any, is forgotten): remember what
 * NULL replies report, schedule the reconnect. */
static void conn_down(rconn_t *c, const char *err)
{
    rcli_t *r = c->r;
    int was_ready = c->state == S_READY;
    c->ac = NULL;
    c->gone_err = err;
    uv_timer_stop(&c->timer);
    if (c->on_down)
        c->on_down(r);
    if (r->closing) {
        c->state = S_CLOSED;
        return;
    }
    c->state = S_DOWN;
    if (was_ready)
        LOG_WARN("rcli", "connection lost", "conn", c->name, NULL);
    if (was_ready && uv_now(r->loop) - c->up_at >= RCLI_STABLE_MS) {
        /* A connection that lived reconnects at once: a Redis restart or
         * CLIENT KILL should cost one round trip. One that died young
         * (maxclients, a server shutting down) backs off like a failure. */
        c->backoff_ms = 0;
        uv_timer_start(&c->timer, on_conn_timer, 0, 0);
    } else {
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RCLI_BACKOFF_MIN_MS;
        if (c->backoff_ms > RCLI_BACKOFF_MAX_MS)
            c->backoff_ms = RCLI_BACKOFF_MAX_MS;
        if (c->backoff_ms == RCLI_BACKOFF_MIN_MS)
            LOG_WARN("rcli", "redis unavailable", "conn", c->name, "host", r->url.host, NULL);
        uv_timer_start(&c->timer, on_conn_timer, c->backoff_ms, 0);
    }
}

/* First sign that context ac ended. Later signs are no-ops. */
void rcli_conn_gone(rconn_t *c, const redisAsyncContext *ac, const char *err)
{
    if (ac && c->ac == ac)
        conn_down(c, err);
}

/* Our own decision to end the current context (timeout, close). */
void rcli_conn_drop(rconn_t *c, const char *err)
{
    redisAsyncContext *ac = c->ac;
    if (!ac)
        return;
    rcli_conn_gone(c, ac, err);
    redisAsyncFree(ac); /* NULL replies now, reported as err */
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rconn_t *c = privdata;
    redisReply *rep = reply;
    if (!rep) {
        rcli_conn_gone(c, ac, c->state == S_READY ? RCLI_ERR_LOST : RCLI_ERR_DOWN);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        LOG_ERROR("rcli", "connection setup failed (AUTH/SELECT)", "conn", c->name, "error",
                  rep->str, NULL);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rconn_t *c = ac->data;
    if (c->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this returns; never free it here. */
        rcli_conn_gone(c, ac, RCLI_ERR_DOWN);
        return;
    }
    uv_timer_stop(&c->timer);
    c->state = S_READY;
    c->up_at = uv_now(c->r->loop);
    if (c->backoff_ms)
        LOG_INFO("rcli", "redis available again", "conn", c->name, NULL);
    if (c->on_up)
        c->on_up(c->r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rconn_t *c = ac->data;
    rcli_conn_gone(c, ac, c->state == S_READY ? RCLI_ERR_LOST : RCLI_ERR_DOWN);
}

void rcli_conn_connect(rconn_t *c)
{
    rcli_t *r = c->r;
    c->state = S_CONNECTING;
    redisAsyncContext *ac = redisAsyncConnect(r->url.host, r->url.port);
    if (!ac || ac->err || rcli_ev_attach(ac, r) != 0) {
        if (ac)
            redisAsyncFree(ac);
        conn_down(c, RCLI_ERR_DOWN);
        return;
    }
    ac->data = c;
    c->ac = ac;
    /* A dead peer is then noticed in about 30 s, also on the pub/sub
     * connection that sends nothing. */
    redisEnableKeepAlive(&ac->c);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued before anything else, so they run first once connected. */
    if (r->url.pass[0]) {
        if (r->url.user[0])
            redisAsyncCommand(ac, on_setup_reply, c, "AUTH %s %s", r->url.user, r->url.pass);
        else
            redisAsyncCommand(ac, on_setup_reply, c, "AUTH %s", r->url.pass);
    }
    if (r->url.db && !c->is_sub)
        redisAsyncCommand(ac, on_setup_reply, c, "SELECT %d", r->url.db);
    uv_timer_start(&c->timer, on_conn_timer, r->connect_timeout_ms, 0);
}

static void on_conn_timer(uv_timer_t *t)
{
    rconn_t *c = t->data;
    if (c->r->closing)
        return;
    if (c->state == S_DOWN)
        rcli_conn_connect(c);
    else if (c->state == S_CONNECTING)
        rcli_conn_drop(c, RCLI_ERR_DOWN); /* connect timeout */
}

void rcli_conn_init(rcli_t *r, rconn_t *c, const char *name, int is_sub)
{
    c->r = r;
    c->name = name;
    c->is_sub = is_sub;
    c->state = S_DOWN;
    rcli_timer_init(r, &c->timer);
    c->timer.data = c;
}

void rcli_conn_close(rconn_t *c)
{
    rcli_conn_drop(c, RCLI_ERR_CLOSING);
    c->state = S_CLOSED;
    c->timer.data = c->r;
    uv_close((uv_handle_t *)&c->timer, rcli_on_handle_closed);
}

/* Commands are accepted when connected, and during the first attempt after
 * start or after a loss (backoff 0): not while Redis is known to be down. */
int rcli_conn_accepts(const rconn_t *c)
{
    return c->ac && (c->state == S_READY || (c->state == S_CONNECTING && c->backoff_ms == 0));
}
