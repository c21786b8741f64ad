/* rcli_int: what the rcli files share and callers must not see (they use
 * rcli.h). Include it only from common/rcli*.c.
 *
 * The files, from the bottom up; each calls only the ones listed before it:
 *   rcli_url.c     the redis:// URL
 *   rcli.c         what needs no client: rcli_connect_blocking
 *   rcli_ev.c      hiredis' event hooks on libuv (our own adapter)
 *   rcli_conn.c    one connection (command or pub/sub): connect, setup
 *                  (AUTH/SELECT), loss, reconnect with backoff, close
 *   rcli_cmd.c     commands: rcli_command*, their timeout, RESP formatting
 *   rcli_sub.c     pub/sub: the subscription table, patterns, heartbeat
 *   rcli_client.c  the client: rcli_create, rcli_close, keys
 * The pub/sub connection is told it came up or went down through two hooks
 * (rconn_t.on_up/on_down) that rcli_sub.c sets, so that rcli_conn.c needs
 * nothing above it.
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
 * - The event hooks are our own (rcli_ev.c), not <hiredis/adapters/libuv.h>:
 *   0.14's adapter ignores a poll error status, and libuv reports
 *   EPOLLERR (refused connect, reset) exactly that way, so a refused
 *   connect or a reset connection would only be noticed by a timeout. Ours
 *   lets hiredis look at the socket on an error, which fails it at once.
 */
#ifndef JSMCP_RCLI_INT_H
#define JSMCP_RCLI_INT_H

#include <hiredis/async.h>
#include <uv.h>

#include "rcli.h"
#include "rcli_url.h"

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

#define RCLI_ERR_DOWN "redis unavailable"
#define RCLI_ERR_LOST "redis connection lost"
#define RCLI_ERR_TIMEOUT "redis timeout"
#define RCLI_ERR_CLOSING "client closing"

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
    /* The pub/sub connection's hooks (rcli_sub.c): on_up once it is ready
     * (subscribe the table again), on_down when it is gone (what it would
     * have received is lost). NULL for the command connection. */
    void (*on_up)(rcli_t *r);
    void (*on_down)(rcli_t *r);
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


struct rcli_s {
    uv_loop_t *loop;
    rcli_url_t url;
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

/* ---- rcli_ev.c: hiredis' event hooks on libuv ---- */
/* Attaches ac's socket to r's loop. 0, or -1 (ac is then the caller's). */
int rcli_ev_attach(redisAsyncContext *ac, rcli_t *r);
/* Deferred writes go out at the end of a loop turn (check) or before the
 * next poll (prepare): both handles of r run these. */
void rcli_ev_flush_check(uv_check_t *h);
void rcli_ev_flush_prepare(uv_prepare_t *h);

/* ---- rcli_conn.c: one connection ---- */
/* A timer of r (counted in r->open_handles, closed with rcli_on_handle_closed). */
void rcli_timer_init(rcli_t *r, uv_timer_t *t);
/* The close callback of r's handles: the last one frees r and calls done. */
void rcli_on_handle_closed(uv_handle_t *h);
void rcli_conn_init(rcli_t *r, rconn_t *c, const char *name, int is_sub);
/* Starts a connect attempt (S_CONNECTING); a failure schedules the next. */
void rcli_conn_connect(rconn_t *c);
/* Ends the current context and closes c's timer (rcli_close). */
void rcli_conn_close(rconn_t *c);
/* First sign that context ac ended (later ones are no-ops): c is down. */
void rcli_conn_gone(rconn_t *c, const redisAsyncContext *ac, const char *err);
/* Our own decision to end c's context (timeout, close): NULL replies now. */
void rcli_conn_drop(rconn_t *c, const char *err);
/* 1 when commands may be sent on c now. */
int rcli_conn_accepts(const rconn_t *c);

#endif
