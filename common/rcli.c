/* rcli: see rcli.h for the contract.
 *
 * Design notes (hiredis 0.14, Debian's libhiredis-dev)
 * - Two rconn_t: `cmd` for commands, `sub` for pub/sub (made on the first
 *   rcli_subscribe). Each owns at most one redisAsyncContext at a time.
 * - hiredis frees a context by itself when the connection fails (read/write
 *   error, connect error), calling every pending callback with a NULL reply
 *   and then onDisconnect. We free it ourselves (redisAsyncFree) only on our
 *   own decisions: command timeout, connect timeout, rcli_close. In both
 *   cases the first sign of the end ("gone") sets conn->ac = NULL and the
 *   error text that the NULL replies of that context report; the reconnect
 *   timer is started there. So a callback that runs during the teardown sees
 *   the client as down already and its new commands fail fast.
 * - One cmd_t per command, freed only in on_cmd_reply (hiredis calls it
 *   exactly once per command, with the reply or with NULL). A command that
 *   timed out is marked `done`: its user callback already ran, the later
 *   hiredis callback only frees it.
 * - hiredis 0.14 has no command timeout: pending commands are kept in send
 *   order (all share one timeout, so the head expires first) and one timer
 *   watches the head. A command that timed out drops the connection: replies
 *   come in order, so everything behind it is stuck too.
 * - Commands are accepted while connected, and while the first connect
 *   attempt after start or after the loss of a connection that had lived
 *   RCLI_STABLE_MS runs (hiredis queues them behind AUTH/SELECT). After a
 *   failed attempt they fail fast until a connection is up again.
 * - Subscriptions are our own table (channel -> fn, ud); hiredis only gets
 *   SUBSCRIBE with one shared callback whose privdata is the rcli_t, and the
 *   message is routed through the table. So a subscription can be removed at
 *   any time without hiredis holding a dangling pointer, and after a
 *   reconnect the table is subscribed again.
 * - Pattern subscriptions (rcli_psubscribe: few, e.g. keyspace
 *   notifications) live in a small array beside the table and carry a state
 *   callback: live once Redis confirmed the PSUBSCRIBE on the current
 *   connection, not live as soon as that connection is gone (messages may
 *   have been missed in between, which is what a cache needs to know).
 * - Heartbeat: a pub/sub connection only receives, so a dead one (no FIN
 *   or RST) looks like a quiet one; TCP keepalive notices after ~30 s. Each
 *   client subscribes its own channel (<prefix>rcli:hb:<random>, in the
 *   table like any other) and, every sub_heartbeat_ms while that SUBSCRIBE
 *   is confirmed, PUBLISHes a sequence number to it on the command
 *   connection. The pub/sub connection is dropped and remade when Redis
 *   answers the PUBLISH with 0 receivers (it does not know our
 *   subscription), or when it answered >= 1 and the message has not come
 *   back by the next tick. A PUBLISH that failed or has no answer yet says
 *   nothing about the pub/sub connection (the command connection has its
 *   own timeout). The message may arrive before the PUBLISH reply (two
 *   connections): both are only judged at the tick. hb_gen ties a
 *   heartbeat to the pub/sub connection it tested.
 * - Never free a context from inside onConnect (0.14 would use it after):
 *   nothing here calls user code from onConnect.
 * - The event hooks are our own (ev_*), not <hiredis/adapters/libuv.h>:
 *   0.14's adapter ignores a poll error status, and libuv reports
 *   EPOLLERR (refused connect, reset) exactly that way, so a refused
 *   connect or a reset connection would only be noticed by a timeout. Ours
 *   lets hiredis look at the socket on an error, which fails it at once.
 */
#include "rcli.h"

#include <ctype.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/ioctl.h>

#include "buf.h"
#include "log.h"
#include "url.h"

#define RCLI_BACKOFF_MIN_MS 100
#define RCLI_BACKOFF_MAX_MS 5000
#define RCLI_STABLE_MS 1000 /* a connection that lived this long reconnects at once */
#define RCLI_MAX_PENDING 100000
#define RCLI_MAX_SUBS 100000
#define RCLI_SUB_BUCKETS 1024
#define RCLI_SUB_BATCH 256
#define RCLI_PREFIX_MAX 128
#define RCLI_MAX_PSUBS 8
#define RCLI_SUB_POLL_ROUNDS 64 /* x 16 KB per hiredis read: a bound on one request's catch-up */
#define RCLI_SUB_HEARTBEAT_MS 2000

static const char *const ERR_DOWN = "redis unavailable";
static const char *const ERR_LOST = "redis connection lost";
static const char *const ERR_TIMEOUT = "redis timeout";
static const char *const ERR_CLOSING = "client closing";

enum rstate { S_DOWN, S_CONNECTING, S_READY, S_CLOSED };

typedef struct rconn_s rconn_t;
typedef struct cmd_s cmd_t;
typedef struct sub_s sub_t;

struct rconn_s {
    rcli_t *r;
    const char *name; /* "cmd" / "sub", for logs */
    int is_sub;
    enum rstate state;
    redisAsyncContext *ac;
    uv_timer_t timer; /* connect timeout (S_CONNECTING), reconnect (S_DOWN) */
    unsigned backoff_ms; /* 0 until an attempt failed or a connection died young */
    uint64_t up_at;      /* uv_now when it came up */
    const char *gone_err; /* what NULL replies of the last context report */
};

struct cmd_s {
    rcli_t *r;
    rcli_cb cb;
    void *ud;
    uint64_t deadline;
    int done;
    cmd_t *prev, *next;
};

struct sub_s {
    sub_t *next;
    rcli_msg_fn fn;
    void *ud;
    size_t len;
    char channel[]; /* NUL-terminated */
};

typedef struct psub_s {
    char *pattern;
    rcli_msg_fn fn;
    rcli_state_fn state;
    void *ud;
    int live;
} psub_t;

typedef struct rurl_s {
    char host[256];
    int port;
    int db;
    char user[128];
    char pass[256];
} rurl_t;

struct rcli_s {
    uv_loop_t *loop;
    rurl_t url;
    char prefix[RCLI_PREFIX_MAX + 1];
    unsigned connect_timeout_ms;
    unsigned command_timeout_ms;
    rconn_t cmd;
    rconn_t sub;
    int sub_inited;
    uv_timer_t cmd_timer;
    cmd_t *head, *tail; /* pending, not timed out, in send order */
    size_t npending;    /* cmd_t alive (hiredis has not called back yet) */
    sub_t *subs[RCLI_SUB_BUCKETS];
    size_t nsubs;
    psub_t psubs[RCLI_MAX_PSUBS];
    size_t npsubs;
    /* Heartbeat of the pub/sub connection (design notes). */
    unsigned sub_heartbeat_ms;
    uv_timer_t hb_timer;
    char hb_channel[RCLI_PREFIX_MAX + 32];
    unsigned sub_gen;      /* +1 each time the pub/sub connection goes down */
    int hb_confirmed;      /* Redis confirmed SUBSCRIBE hb_channel on this connection */
    int hb_out;            /* a heartbeat was sent and has not come back */
    int hb_published;      /* ... and Redis answered its PUBLISH with >= 1 receiver */
    unsigned hb_gen;       /* sub_gen when it was sent */
    uint64_t hb_seq;       /* its number */
    struct evpoll_s *flush_head; /* contexts with a deferred write (ev_add_write) */
    uv_check_t flush_check;
    uv_prepare_t flush_prepare;
    int closing;
    int open_handles;
    void (*done)(void *);
    void *done_arg;
};

static void conn_connect(rconn_t *c);

/* ------------------------------------------------------------ hiredis <-> libuv */

typedef struct evpoll_s evpoll_t;
struct evpoll_s {
    uv_poll_t h;
    rcli_t *r;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    int events;            /* what the poll handle watches */
    int flushing;          /* inside ev_flush: a new addWrite means "socket full, poll" */
    evpoll_t *flush_next;  /* on r->flush_head while a write is deferred */
    int queued;
};

static void ev_on_poll(uv_poll_t *h, int status, int events)
{
    evpoll_t *e = h->data;
    /* On an error let hiredis try both ways: its read/write or connect
     * check sees the socket error and fails the context. */
    if (status < 0)
        events = e->events ? e->events : UV_READABLE;
    if (e->ac && (events & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(e->ac);
}

/* uv_poll_start() always removes the fd from epoll and adds it back, so it
 * is called only when the set of events really changes. */
static void ev_update(evpoll_t *e, int events)
{
    if (events == e->events)
        return;
    e->events = events;
    if (events)
        uv_poll_start(&e->h, events, ev_on_poll);
    else
        uv_poll_stop(&e->h);
}

static void ev_add_read(void *d)
{
    evpoll_t *e = d;
    ev_update(e, e->events | UV_READABLE);
}

static void ev_del_read(void *d)
{
    evpoll_t *e = d;
    ev_update(e, e->events & ~UV_READABLE);
}

/* hiredis has output: instead of polling for writability (two epoll_ctl
 * calls and a loop turn per command), the write is made at the end of this
 * loop turn (uv_check) or before the next poll (uv_prepare), together with
 * every other command queued meanwhile. Only a socket that is full (or
 * still connecting) is polled for writability. */
static void ev_add_write(void *d)
{
    evpoll_t *e = d;
    if (e->flushing || !e->ac || !(e->ac->c.flags & REDIS_CONNECTED)) {
        ev_update(e, e->events | UV_WRITABLE);
        return;
    }
    if (!e->queued) {
        e->queued = 1;
        e->flush_next = e->r->flush_head;
        e->r->flush_head = e;
    }
}

static void ev_del_write(void *d)
{
    evpoll_t *e = d;
    ev_update(e, e->events & ~UV_WRITABLE);
}

static void ev_unqueue(evpoll_t *e)
{
    if (!e->queued)
        return;
    for (evpoll_t **pp = &e->r->flush_head; *pp; pp = &(*pp)->flush_next)
        if (*pp == e) {
            *pp = e->flush_next;
            break;
        }
    e->queued = 0;
}

static void ev_flush(rcli_t *r)
{
    while (r->flush_head) {
        evpoll_t *e = r->flush_head;
        r->flush_head = e->flush_next;
        e->queued = 0;
        if (!e->ac)
            continue;
        e->flushing = 1;
        redisAsyncHandleWrite(e->ac); /* may end the context: e stays valid until its close callback */
        e->flushing = 0;
    }
}

static void on_flush_check(uv_check_t *h)
{
    ev_flush(h->data);
}

static void on_flush_prepare(uv_prepare_t *h)
{
    ev_flush(h->data);
}

static void ev_on_closed(uv_handle_t *h)
{
    free(h->data);
}

/* hiredis is done with the socket (it closes it right after). */
static void ev_cleanup(void *d)
{
    evpoll_t *e = d;
    e->ac = NULL;
    ev_unqueue(e);
    uv_close((uv_handle_t *)&e->h, ev_on_closed);
}

static int ev_attach(redisAsyncContext *ac, rcli_t *r)
{
    evpoll_t *e = mem_calloc(1, sizeof *e);
    if (uv_poll_init(r->loop, &e->h, ac->c.fd) != 0) {
        free(e);
        return -1;
    }
    e->h.data = e;
    e->r = r;
    e->ac = ac;
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ------------------------------------------------------------ URL */

/* redis://[[user]:password@]host[:port][/db]; host may be [v6]. */
static int url_parse(const char *url, rurl_t *u, char *err, size_t errsz)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (!url || strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errsz, "redis URL must start with redis://");
        return -1;
    }
    const char *s = url + 8;
    const char *slash = strchr(s, '/');
    const char *auth_end = NULL;
    for (const char *p = s; *p && p != slash; p++)
        if (*p == '@')
            auth_end = p; /* the last '@' before the path */
    if (auth_end) {
        const char *colon = memchr(s, ':', (size_t)(auth_end - s));
        if (!colon) {
            snprintf(err, errsz, "redis URL: credentials must be [user]:password@");
            return -1;
        }
        if (url_decode(s, (size_t)(colon - s), u->user, sizeof u->user, URL_DECODE_NO_NUL) < 0 ||
            url_decode(colon + 1, (size_t)(auth_end - colon - 1), u->pass, sizeof u->pass, URL_DECODE_NO_NUL) < 0) {
            snprintf(err, errsz, "redis URL: bad or too long user or password");
            return -1;
        }
        s = auth_end + 1;
    }
    const char *hend = slash ? slash : s + strlen(s);
    const char *h = s, *portp = NULL;
    size_t hl;
    if (*s == '[') {
        const char *rb = memchr(s, ']', (size_t)(hend - s));
        if (!rb) {
            snprintf(err, errsz, "redis URL: unclosed [ in host");
            return -1;
        }
        h = s + 1;
        hl = (size_t)(rb - h);
        if (rb + 1 < hend) {
            if (rb[1] != ':') {
                snprintf(err, errsz, "redis URL: bad host");
                return -1;
            }
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', (size_t)(hend - s));
        hl = (size_t)((colon ? colon : hend) - s);
        if (colon)
            portp = colon + 1;
    }
    if (hl == 0 || hl >= sizeof u->host) {
        snprintf(err, errsz, "redis URL: missing or too long host");
        return -1;
    }
    memcpy(u->host, h, hl);
    if (portp) {
        char *e;
        long port = strtol(portp, &e, 10);
        if (e == portp || e != hend || port < 1 || port > 65535) {
            snprintf(err, errsz, "redis URL: port must be 1-65535");
            return -1;
        }
        u->port = (int)port;
    }
    if (slash && slash[1]) {
        char *e;
        long db = strtol(slash + 1, &e, 10);
        if (!isdigit((unsigned char)slash[1]) || *e || db < 0 || db > 65535) {
            snprintf(err, errsz, "redis URL: database must be a number");
            return -1;
        }
        u->db = (int)db;
    }
    return 0;
}

/* ------------------------------------------------------------ handles, close */

static void on_timer_closed(uv_handle_t *h)
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

static void timer_init(rcli_t *r, uv_timer_t *t)
{
    uv_timer_init(r->loop, t);
    t->data = r;
    r->open_handles++;
}

/* ------------------------------------------------------------ connections */

static void on_conn_timer(uv_timer_t *t);

/* The pub/sub connection is gone: what it would have received is lost. */
static void psub_lost(rcli_t *r)
{
    for (size_t i = 0; i < r->npsubs; i++) {
        psub_t *p = &r->psubs[i];
        if (p->live) {
            p->live = 0;
            if (p->state)
                p->state(0, p->ud);
        }
    }
}

/* The connection is down (its context, if any, is forgotten): remember what
 * NULL replies report, schedule the reconnect. */
static void conn_down(rconn_t *c, const char *err)
{
    rcli_t *r = c->r;
    int was_ready = c->state == S_READY;
    c->ac = NULL;
    c->gone_err = err;
    uv_timer_stop(&c->timer);
    if (c->is_sub) {
        r->sub_gen++;
        r->hb_confirmed = r->hb_out = 0;
        psub_lost(r);
    }
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
static void conn_gone(rconn_t *c, const redisAsyncContext *ac, const char *err)
{
    if (ac && c->ac == ac)
        conn_down(c, err);
}

/* Our own decision to end the current context (timeout, close). */
static void conn_drop(rconn_t *c, const char *err)
{
    redisAsyncContext *ac = c->ac;
    if (!ac)
        return;
    conn_gone(c, ac, err);
    redisAsyncFree(ac); /* NULL replies now, reported as err */
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rconn_t *c = privdata;
    redisReply *rep = reply;
    if (!rep) {
        conn_gone(c, ac, c->state == S_READY ? ERR_LOST : ERR_DOWN);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        LOG_ERROR("rcli", "connection setup failed (AUTH/SELECT)", "conn", c->name, "error",
                  rep->str, NULL);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void sub_conn_start(rcli_t *r);

/* (Re)subscribes every channel of the table, in batches. */
static void sub_restore(rcli_t *r)
{
    const char *argv[RCLI_SUB_BATCH + 1];
    size_t lens[RCLI_SUB_BATCH + 1];
    int n = 0;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    for (size_t i = 0; i < RCLI_SUB_BUCKETS; i++) {
        for (sub_t *s = r->subs[i]; s; s = s->next) {
            argv[n + 1] = s->channel;
            lens[n + 1] = s->len;
            if (++n == RCLI_SUB_BATCH) {
                redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, n + 1, argv, lens);
                n = 0;
            }
        }
    }
    if (n > 0)
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, n + 1, argv, lens);
    for (size_t i = 0; i < r->npsubs; i++) {
        const char *pv[2] = {"PSUBSCRIBE", r->psubs[i].pattern};
        size_t pl[2] = {10, strlen(r->psubs[i].pattern)};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, pv, pl);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rconn_t *c = ac->data;
    if (c->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this returns; never free it here. */
        conn_gone(c, ac, ERR_DOWN);
        return;
    }
    uv_timer_stop(&c->timer);
    c->state = S_READY;
    c->up_at = uv_now(c->r->loop);
    if (c->backoff_ms)
        LOG_INFO("rcli", "redis available again", "conn", c->name, NULL);
    if (c->is_sub)
        sub_restore(c->r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rconn_t *c = ac->data;
    conn_gone(c, ac, c->state == S_READY ? ERR_LOST : ERR_DOWN);
}

static void conn_connect(rconn_t *c)
{
    rcli_t *r = c->r;
    c->state = S_CONNECTING;
    redisAsyncContext *ac = redisAsyncConnect(r->url.host, r->url.port);
    if (!ac || ac->err || ev_attach(ac, r) != 0) {
        if (ac)
            redisAsyncFree(ac);
        conn_down(c, ERR_DOWN);
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
        conn_connect(c);
    else if (c->state == S_CONNECTING)
        conn_drop(c, ERR_DOWN); /* connect timeout */
}

static void conn_init(rcli_t *r, rconn_t *c, const char *name, int is_sub)
{
    c->r = r;
    c->name = name;
    c->is_sub = is_sub;
    c->state = S_DOWN;
    timer_init(r, &c->timer);
    c->timer.data = c;
}

static void conn_close(rconn_t *c)
{
    conn_drop(c, ERR_CLOSING);
    c->state = S_CLOSED;
    c->timer.data = c->r;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* Commands are accepted when connected, and during the first attempt after
 * start or after a loss (backoff 0): not while Redis is known to be down. */
static int conn_accepts(const rconn_t *c)
{
    return c->ac && (c->state == S_READY || (c->state == S_CONNECTING && c->backoff_ms == 0));
}

/* ------------------------------------------------------------ commands */

static void cmd_unlink(rcli_t *r, cmd_t *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        r->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        r->tail = k->prev;
    k->prev = k->next = NULL;
}

static void on_cmd_timer(uv_timer_t *t);

static void cmd_timer_arm(rcli_t *r)
{
    if (!r->head || r->closing || !r->command_timeout_ms)
        return;
    uint64_t now = uv_now(r->loop);
    uv_timer_start(&r->cmd_timer, on_cmd_timer,
                   r->head->deadline > now ? r->head->deadline - now : 0, 0);
}

/* The one place a cmd_t ends: hiredis calls it once per command. */
static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    cmd_t *k = privdata;
    rcli_t *r = k->r;
    r->npending--;
    if (!reply)
        conn_gone(&r->cmd, ac, r->cmd.state == S_READY ? ERR_LOST : ERR_DOWN);
    if (!k->done) {
        cmd_unlink(r, k);
        if (k->cb)
            k->cb(reply, reply ? NULL : r->cmd.gone_err, k->ud);
    }
    free(k);
}

static void on_cmd_timer(uv_timer_t *t)
{
    rcli_t *r = t->data;
    cmd_t *k = r->head;
    if (!k || r->closing)
        return;
    if (k->deadline > uv_now(r->loop)) {
        cmd_timer_arm(r);
        return;
    }
    cmd_unlink(r, k);
    k->done = 1; /* on_cmd_reply frees it without calling back */
    rcli_cb cb = k->cb;
    void *ud = k->ud;
    LOG_WARN("rcli", "command timed out, reconnecting", NULL);
    /* Drop first (this frees k): the callback then sees the client down,
     * and the commands behind this one fail with the same error. */
    conn_drop(&r->cmd, ERR_TIMEOUT);
    if (cb)
        cb(NULL, ERR_TIMEOUT, ud);
    cmd_timer_arm(r);
}

static cmd_t *cmd_new(rcli_t *r, rcli_cb cb, void *ud)
{
    if (r->closing || !conn_accepts(&r->cmd) || r->npending >= RCLI_MAX_PENDING)
        return NULL;
    cmd_t *k = mem_calloc(1, sizeof *k);
    k->r = r;
    k->cb = cb;
    k->ud = ud;
    return k;
}

/* hiredis took the command: track it for the timeout. */
static void cmd_sent(rcli_t *r, cmd_t *k)
{
    r->npending++;
    k->deadline = uv_now(r->loop) + r->command_timeout_ms;
    k->prev = r->tail;
    if (r->tail)
        r->tail->next = k;
    else
        r->head = k;
    r->tail = k;
    if (k == r->head)
        cmd_timer_arm(r);
}

int rcli_command(rcli_t *r, rcli_cb cb, void *ud, const char *fmt, ...)
{
    cmd_t *k = cmd_new(r, cb, ud);
    if (!k)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->cmd.ac, on_cmd_reply, k, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(k);
        return -1;
    }
    cmd_sent(r, k);
    return 0;
}

/* The command in RESP ("*<argc>\r\n" then "$<len>\r\n<arg>\r\n" per
 * argument) into out, or its length when out is NULL. hiredis formats an
 * argv with an sdscatfmt per argument; an audit record's XADD has ~35
 * arguments and goes out on every tool call, and this costs a fifth as much. */
static size_t resp_format(char *out, int argc, const char **argv, const size_t *argvlen)
{
    char num[24];
    size_t n = fmt_uint(num, (unsigned long long)argc), pos = 0;
    if (out) {
        out[0] = '*';
        memcpy(out + 1, num, n);
        memcpy(out + 1 + n, "\r\n", 2);
    }
    pos = 1 + n + 2;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        n = fmt_uint(num, len);
        if (out) {
            out[pos] = '$';
            memcpy(out + pos + 1, num, n);
            memcpy(out + pos + 1 + n, "\r\n", 2);
            memcpy(out + pos + 1 + n + 2, argv[i], len);
            memcpy(out + pos + 1 + n + 2 + len, "\r\n", 2);
        }
        pos += 1 + n + 2 + len + 2;
    }
    return pos;
}

int rcli_command_argv(rcli_t *r, rcli_cb cb, void *ud, int argc, const char **argv,
                      const size_t *argvlen)
{
    if (argc < 1 || !argv)
        return -1;
    cmd_t *k = cmd_new(r, cb, ud);
    if (!k)
        return -1;
    char small[4096];
    size_t len = resp_format(NULL, argc, argv, argvlen);
    char *cmd = len <= sizeof small ? small : mem_alloc(len);
    resp_format(cmd, argc, argv, argvlen);
    int rc = redisAsyncFormattedCommand(r->cmd.ac, on_cmd_reply, k, cmd, len);
    if (cmd != small)
        free(cmd);
    if (rc != REDIS_OK) {
        free(k);
        return -1;
    }
    cmd_sent(r, k);
    return 0;
}

/* ------------------------------------------------------------ pub/sub */

static size_t sub_hash(const char *s, size_t n)
{
    size_t h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + (unsigned char)s[i];
    return h % RCLI_SUB_BUCKETS;
}

static sub_t **sub_find(rcli_t *r, const char *ch, size_t n)
{
    sub_t **pp = &r->subs[sub_hash(ch, n)];
    while (*pp && !((*pp)->len == n && memcmp((*pp)->channel, ch, n) == 0))
        pp = &(*pp)->next;
    return pp;
}

static psub_t *psub_find(rcli_t *r, const char *pattern, size_t n)
{
    for (size_t i = 0; i < r->npsubs; i++)
        if (strlen(r->psubs[i].pattern) == n && memcmp(r->psubs[i].pattern, pattern, n) == 0)
            return &r->psubs[i];
    return NULL;
}

/* "psubscribe <pattern> <count>" (now live) or "pmessage <pattern> <channel> <msg>". */
static void on_psub_reply(rcli_t *r, redisReply *rep)
{
    psub_t *p = psub_find(r, rep->element[1]->str, rep->element[1]->len);
    if (!p)
        return;
    if (rep->element[0]->str[1] == 's') {
        if (!p->live) {
            p->live = 1;
            if (p->state)
                p->state(1, p->ud);
        }
        return;
    }
    if (rep->elements == 4 && rep->element[2]->type == REDIS_REPLY_STRING &&
        rep->element[3]->type == REDIS_REPLY_STRING)
        p->fn(rep->element[2]->str, rep->element[3]->str, rep->element[3]->len, p->ud);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rcli_t *r = privdata;
    redisReply *rep = reply;
    if (!rep) {
        conn_gone(&r->sub, ac, ERR_LOST);
        return;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 && rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING &&
        (strcmp(rep->element[0]->str, "pmessage") == 0 || strcmp(rep->element[0]->str, "psubscribe") == 0)) {
        on_psub_reply(r, rep);
        return;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 && rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "subscribe") == 0 &&
        strcmp(rep->element[1]->str, r->hb_channel) == 0 && ac == r->sub.ac) {
        r->hb_confirmed = 1;
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, "message") != 0 ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[2]->type != REDIS_REPLY_STRING)
        return; /* subscribe/unsubscribe confirmations */
    sub_t *s = *sub_find(r, rep->element[1]->str, rep->element[1]->len);
    if (s)
        s->fn(s->channel, rep->element[2]->str, rep->element[2]->len, s->ud);
}

/* Into the table (restored on every (re)connect); -1 when taken or full. */
static int sub_insert(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud)
{
    if (r->nsubs >= RCLI_MAX_SUBS)
        return -1;
    size_t n = strlen(channel);
    sub_t **pp = sub_find(r, channel, n);
    if (*pp)
        return -1; /* one subscriber per channel */
    sub_t *s = mem_calloc(1, sizeof *s + n + 1);
    s->fn = fn;
    s->ud = ud;
    s->len = n;
    memcpy(s->channel, channel, n + 1);
    *pp = s;
    r->nsubs++;
    return 0;
}

int rcli_subscribe(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud)
{
    if (r->closing || !channel || !fn || sub_insert(r, channel, fn, ud) != 0)
        return -1;
    size_t n = strlen(channel);
    if (!r->sub_inited) {
        sub_conn_start(r);
    } else if (r->sub.state == S_READY) {
        const char *argv[2] = {"SUBSCRIBE", channel};
        size_t lens[2] = {9, n};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, argv, lens);
    }
    /* Otherwise on_connect subscribes it. */
    return 0;
}

int rcli_unsubscribe(rcli_t *r, const char *channel)
{
    if (r->closing || !channel)
        return -1;
    size_t n = strlen(channel);
    sub_t **pp = sub_find(r, channel, n);
    sub_t *s = *pp;
    if (!s)
        return -1;
    *pp = s->next;
    free(s);
    r->nsubs--;
    if (r->sub.state == S_READY) {
        const char *argv[2] = {"UNSUBSCRIBE", channel};
        size_t lens[2] = {11, n};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, argv, lens);
    }
    return 0;
}

/* ------------------------------------------------------------ heartbeat */

static void on_hb_msg(const char *channel, const char *msg, size_t len, void *ud)
{
    (void)channel;
    rcli_t *r = ud;
    char seq[24];
    size_t n = fmt_uint(seq, r->hb_seq);
    if (r->hb_out && r->hb_gen == r->sub_gen && len == n && memcmp(msg, seq, n) == 0)
        r->hb_out = 0;
}

static void sub_silent(rcli_t *r, const char *why)
{
    LOG_WARN("rcli", "pub/sub connection dropped: it no longer receives, reconnecting", "why", why, NULL);
    conn_drop(&r->sub, ERR_LOST);
}

static void on_hb_published(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    rcli_t *r = ud;
    if (r->closing || !r->hb_out || r->hb_gen != r->sub_gen)
        return;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        r->hb_out = 0; /* says nothing about the pub/sub connection */
        return;
    }
    if (reply->integer > 0) {
        r->hb_published = 1;
        return;
    }
    r->hb_out = 0;
    if (r->hb_confirmed && r->sub.state == S_READY)
        sub_silent(r, "redis has no subscriber for its heartbeat channel");
}

static void on_hb_timer(uv_timer_t *t)
{
    rcli_t *r = t->data;
    if (r->closing || r->sub.state != S_READY || !r->hb_confirmed)
        return;
    if (r->hb_out) {
        if (r->hb_published) {
            r->hb_out = 0;
            sub_silent(r, "its heartbeat did not come back");
        }
        return; /* the PUBLISH has no answer yet: the command timeout decides */
    }
    char seq[24];
    size_t n = fmt_uint(seq, ++r->hb_seq);
    const char *argv[3] = {"PUBLISH", r->hb_channel, seq};
    size_t lens[3] = {7, strlen(r->hb_channel), n};
    r->hb_out = 1;
    r->hb_published = 0;
    r->hb_gen = r->sub_gen;
    if (rcli_command_argv(r, on_hb_published, r, 3, argv, lens) != 0)
        r->hb_out = 0;
}

static void sub_conn_start(rcli_t *r)
{
    if (r->sub_inited)
        return;
    r->sub_inited = 1;
    unsigned char raw[8];
    char hex[2 * sizeof raw + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    str_join(r->hb_channel, sizeof r->hb_channel, r->prefix, "rcli:hb:", hex, NULL);
    (void)sub_insert(r, r->hb_channel, on_hb_msg, r);
    uv_timer_start(&r->hb_timer, on_hb_timer, r->sub_heartbeat_ms, r->sub_heartbeat_ms);
    conn_init(r, &r->sub, "sub", 1);
    conn_connect(&r->sub);
}

int rcli_psubscribe(rcli_t *r, const char *pattern, rcli_msg_fn fn, rcli_state_fn state, void *ud)
{
    if (r->closing || !pattern || !fn || r->npsubs >= RCLI_MAX_PSUBS ||
        psub_find(r, pattern, strlen(pattern)))
        return -1;
    psub_t *p = &r->psubs[r->npsubs++];
    p->pattern = mem_strdup(pattern);
    p->fn = fn;
    p->state = state;
    p->ud = ud;
    p->live = 0;
    if (r->sub_inited && r->sub.state == S_READY) {
        const char *argv[2] = {"PSUBSCRIBE", pattern};
        size_t lens[2] = {10, strlen(pattern)};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, argv, lens);
    }
    sub_conn_start(r); /* otherwise on_connect subscribes it */
    return 0;
}

void rcli_sub_poll(rcli_t *r)
{
    /* FIONREAD first: when nothing waits (the usual case) that is the one
     * system call. Otherwise read until the socket is empty: hiredis reads
     * at most 16 KB per call, and a burst of notifications can be longer
     * than that, with the one this request depends on at its end. */
    for (int round = 0; round < RCLI_SUB_POLL_ROUNDS; round++) {
        if (!r || r->closing || !r->sub_inited || r->sub.state != S_READY || !r->sub.ac)
            return;
        int pending = 0;
        if (ioctl(r->sub.ac->c.fd, FIONREAD, &pending) != 0 || pending <= 0)
            return;
        redisAsyncHandleRead(r->sub.ac);
    }
}

/* ------------------------------------------------------------ public API */

int rcli_create(rcli_t **out, uv_loop_t *loop, const rcli_config_t *cfg)
{
    *out = NULL;
    char err[256];
    rurl_t url;
    if (!cfg || url_parse(cfg->url, &url, err, sizeof err) != 0) {
        LOG_ERROR("rcli", "bad redis URL", "error", cfg ? err : "no config", NULL);
        return -1;
    }
    const char *prefix = cfg->prefix ? cfg->prefix : "jsmcp:";
    if (strlen(prefix) > RCLI_PREFIX_MAX) {
        LOG_ERROR("rcli", "redis key prefix too long", NULL);
        return -1;
    }
    if (sodium_init() < 0) { /* the heartbeat channel's name is random */
        LOG_ERROR("rcli", "libsodium failed to start", NULL);
        return -1;
    }
    rcli_t *r = mem_calloc(1, sizeof *r);
    r->loop = loop;
    r->url = url;
    memset(&url, 0, sizeof url);
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    r->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000;
    r->command_timeout_ms = cfg->command_timeout_ms ? cfg->command_timeout_ms : 5000;
    r->sub_heartbeat_ms = cfg->sub_heartbeat_ms ? cfg->sub_heartbeat_ms : RCLI_SUB_HEARTBEAT_MS;
    timer_init(r, &r->cmd_timer);
    timer_init(r, &r->hb_timer);
    uv_unref((uv_handle_t *)&r->hb_timer);
    uv_check_init(loop, &r->flush_check);
    uv_prepare_init(loop, &r->flush_prepare);
    r->flush_check.data = r->flush_prepare.data = r;
    r->open_handles += 2;
    uv_check_start(&r->flush_check, on_flush_check);
    uv_prepare_start(&r->flush_prepare, on_flush_prepare);
    uv_unref((uv_handle_t *)&r->flush_check);
    uv_unref((uv_handle_t *)&r->flush_prepare);
    conn_init(r, &r->cmd, "cmd", 0);
    conn_connect(&r->cmd);
    *out = r;
    return 0;
}

void rcli_close(rcli_t *r, void (*done)(void *arg), void *arg)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    r->done = done;
    r->done_arg = arg;
    uv_close((uv_handle_t *)&r->cmd_timer, on_timer_closed);
    uv_close((uv_handle_t *)&r->hb_timer, on_timer_closed);
    uv_close((uv_handle_t *)&r->flush_check, on_timer_closed);
    uv_close((uv_handle_t *)&r->flush_prepare, on_timer_closed);
    /* Pending commands get their NULL reply ("client closing") right here,
     * or, when called from inside a reply callback, as soon as it returns. */
    conn_close(&r->cmd);
    if (r->sub_inited)
        conn_close(&r->sub);
}

int rcli_ready(const rcli_t *r)
{
    return r && !r->closing && r->cmd.state == S_READY;
}

const char *rcli_prefix(const rcli_t *r)
{
    return r->prefix;
}

char *rcli_key(const rcli_t *r, char *out, size_t outsz, const char *fmt, ...)
{
    int n = snprintf(out, outsz, "%s", r->prefix);
    if (n < 0 || (size_t)n >= outsz) {
        LOG_ERROR("rcli", "key buffer too small", NULL);
        return out;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + n, outsz - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= outsz - (size_t)n)
        LOG_ERROR("rcli", "key buffer too small", NULL);
    return out;
}

redisContext *rcli_connect_blocking(const char *url, char *err, size_t errsz)
{
    rurl_t u;
    if (url_parse(url, &u, err, errsz) != 0)
        return NULL;
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    if (!c || c->err) {
        snprintf(err, errsz, "redis %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
        goto fail;
    }
    redisReply *rep = NULL;
    if (u.pass[0]) {
        rep = u.user[0] ? redisCommand(c, "AUTH %s %s", u.user, u.pass)
                        : redisCommand(c, "AUTH %s", u.pass);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errsz, "redis AUTH: %s", rep ? rep->str : c->errstr);
            goto fail_reply;
        }
        freeReplyObject(rep);
    }
    if (u.db) {
        rep = redisCommand(c, "SELECT %d", u.db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errsz, "redis SELECT: %s", rep ? rep->str : c->errstr);
            goto fail_reply;
        }
        freeReplyObject(rep);
    }
    memset(&u, 0, sizeof u);
    return c;
fail_reply:
    if (rep)
        freeReplyObject(rep);
fail:
    if (c)
        redisFree(c);
    memset(&u, 0, sizeof u);
    return NULL;
}
