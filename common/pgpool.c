/* pgpool: see pgpool.h for the contract.
 *
 * Design notes
 * - One req_t per request (query, BEGIN, query in a transaction, COMMIT,
 *   ROLLBACK): sql and parameters are copied into the same allocation, so
 *   callers may pass stack memory. A req_t ends only in req_finish(), which
 *   runs its callback once and frees it.
 * - A pgtx_t is freed only when its COMMIT/ROLLBACK request finishes (in
 *   req_finish), whatever happened to its connection meanwhile. So a tx
 *   handed to the caller stays valid until the caller ended it.
 * - Callbacks never run inside pgpool_query/begin/pgtx_* (only in
 *   pgpool_close, which fails pending work on the spot). When a call made by
 *   the user needs to fail something, it goes on the `deferred` list that a
 *   zero-timeout timer drains; a send failure on a broken connection marks
 *   it C_BROKEN and its timer reports the loss from the loop.
 * - Each connection has a uv_timer whose meaning follows the state: reconnect
 *   delay (C_WAIT), connect timeout (C_CONNECTING), query timeout (C_BUSY),
 *   "report the loss now" (C_BROKEN).
 * - The uv_poll handle is allocated apart (pollh_t) because a connection
 *   outlives many sockets and uv_close finishes later. While connecting it is
 *   recreated after every PQconnectPoll step: libpq may close the socket and
 *   open another one under the same number (next address), which a kept
 *   epoll registration would not notice.
 * - The query timeout is enforced by the server (statement_timeout, sent as a
 *   startup option) so that the connection survives; a client timer one
 *   second later drops the connection if the server did not answer at all.
 *   PQcancel is not used: it connects synchronously.
 * - "Down" (fail fast) is entered when a connect attempt fails while no
 *   connection is up, and left when one comes up. A dropped connection
 *   that had lived PG_STABLE_MS reconnects at once, so a single restart of
 *   a backend does not fail queued work; one that died young backs off.
 * - The user may call anything, pgpool_close included, from a callback. After
 *   every callback the code re-checks p->closing and connection state; memory
 *   of p and its connections is freed only after all handles closed.
 */
#include "pgpool.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define PG_CONNECT_TIMEOUT_MS 5000
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_TIMEOUT_GRACE_MS 1000
#define PG_STABLE_MS 1000 /* a connection that lived this long reconnects at once */
#define PG_MAX_PARAMS 65535

static const char *const ERR_LOST = "database connection lost";
static const char *const ERR_DOWN = "database unavailable";
static const char *const ERR_CLOSING = "pool closing";
static const char *const ERR_TIMEOUT = "database query timed out";

#define PG_MAX_PREPARED 64 /* statements cached per connection; others run unnamed */
#define COPY_CHUNK (32 * 1024) /* bytes per CopyData message of pgpool_copy */

enum req_kind { R_QUERY, R_BEGIN, R_TXQ, R_COMMIT, R_ROLLBACK };
enum conn_state { C_WAIT, C_CONNECTING, C_IDLE, C_BUSY, C_BROKEN, C_CLOSED };

typedef struct req_s req_t;
typedef struct pgconn_s pgconn_t;

struct req_s {
    req_t *next;
    enum req_kind kind;
    pgpool_cb cb;
    pgtx_begin_cb bcb;
    void *ud;
    pgtx_t *tx;
    const char *err; /* for the deferred list */
    const char *sql;
    int nparams;
    const char **params;
    const char *copy;   /* COPY ... FROM STDIN: the data sent once the server asks (pgpool_copy) */
    size_t copy_len;
};

typedef struct reqq_s {
    req_t *head, *tail;
    int n;
} reqq_t;

typedef struct pollh_s {
    uv_poll_t h; /* h.data = this pollh_t */
    pgpool_t *p;
    pgconn_t *c;
} pollh_t;

struct pgconn_s {
    pgpool_t *p;
    int idx;
    enum conn_state state;
    PGconn *pg;
    pollh_t *poll;
    uv_timer_t timer;
    unsigned backoff_ms; /* 0 until an attempt failed or a connection died young */
    uint64_t up_at;      /* uv_now when it came up */
    req_t *cur;    /* sent, waiting for its results */
    PGresult *res; /* last result of cur so far */
    pgtx_t *tx;    /* pinned transaction */
    int preparing; /* cur's statement is being prepared (PQsendPrepare sent) */
    /* Statements prepared on this connection ("s<i>" is stmts[i]): parse
     * and plan once per connection instead of once per query. */
    char *stmts[PG_MAX_PREPARED];
    int nstmts;
};

struct pgtx_s {
    pgpool_t *p;
    pgconn_t *c; /* NULL once the connection is gone */
    const char *lost_err;
    reqq_t q;    /* not yet sent */
    int ended;   /* COMMIT/ROLLBACK requested */
};

struct pgpool_s {
    uv_loop_t *loop;
    char *conninfo;
    char options[64];
    int size;
    int max_queue;
    unsigned query_timeout_ms;
    unsigned connect_timeout_ms;
    pgconn_t *conns;
    reqq_t q;        /* waiting for a connection */
    reqq_t deferred; /* failures to report from the loop */
    uv_timer_t defer;
    int nup;
    int down;
    int ntx;
    int closing;
    int defer_closing;
    int open_handles;
    void (*done)(void *);
    void *done_arg;
};

static void conn_connect(pgconn_t *c);
static void conn_lost(pgconn_t *c, const char *err);
static void pump(pgpool_t *p);
static void tx_pump(pgtx_t *tx);

/* ------------------------------------------------------------ queues */

static void q_push(reqq_t *q, req_t *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
}

static req_t *q_pop(reqq_t *q)
{
    req_t *r = q->head;
    if (r) {
        q->head = r->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
        r->next = NULL;
    }
    return r;
}

/* Takes everything out of q (so callbacks that queue more do not loop). */
static reqq_t q_take(reqq_t *q)
{
    reqq_t all = *q;
    memset(q, 0, sizeof *q);
    return all;
}

static req_t *req_new(enum req_kind kind, const char *sql, int nparams,
                      const char *const *params)
{
    size_t sqlen = strlen(sql) + 1, sz = sizeof(req_t) + (size_t)nparams * sizeof(char *) + sqlen;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            sz += strlen(params[i]) + 1;
    req_t *r = mem_calloc(1, sz);
    char *p = (char *)(r + 1) + (size_t)nparams * sizeof(char *);
    r->kind = kind;
    r->nparams = nparams;
    r->params = nparams ? (const char **)(r + 1) : NULL;
    memcpy(p, sql, sqlen);
    r->sql = p;
    p += sqlen;
    for (int i = 0; i < nparams; i++) {
        if (!params[i])
            continue;
        size_t l = strlen(params[i]) + 1;
        memcpy(p, params[i], l);
        r->params[i] = p;
        p += l;
    }
    return r;
}

static void maybe_finish_close(pgpool_t *p);

/* The one place a request ends (and, for COMMIT/ROLLBACK, its tx). */
static void req_finish(req_t *r, PGresult *res, const char *err)
{
    pgtx_t *tx = r->tx;
    if (r->kind == R_BEGIN) {
        r->bcb(err ? NULL : tx, err, r->ud);
    } else if (r->cb) {
        r->cb(err ? NULL : res, err, r->ud);
    }
    free((char *)r->copy);
    if ((r->kind == R_COMMIT || r->kind == R_ROLLBACK) && tx) {
        pgpool_t *p = tx->p;
        /* The connection was unpinned before the callback ran. */
        free(tx);
        p->ntx--;
        maybe_finish_close(p);
    }
    free(r);
}

static void fail_all(reqq_t *q, const char *err)
{
    reqq_t all = q_take(q);
    req_t *r;
    while ((r = q_pop(&all)))
        req_finish(r, NULL, err);
}

static void on_defer(uv_timer_t *t)
{
    pgpool_t *p = t->data;
    reqq_t all = q_take(&p->deferred);
    req_t *r;
    while ((r = q_pop(&all)))
        req_finish(r, NULL, r->err);
}

/* Reports err for r from the loop, not from inside the caller's call. */
static void defer_fail(pgpool_t *p, req_t *r, const char *err)
{
    r->err = err;
    q_push(&p->deferred, r);
    uv_timer_start(&p->defer, on_defer, 0, 0);
}

/* ------------------------------------------------------------ handles */

/* Every handle's close ends here; the last one frees the pool. */
static void handle_closed(pgpool_t *p)
{
    if (--p->open_handles == 0 && p->closing) {
        void (*done)(void *) = p->done;
        void *arg = p->done_arg;
        free(p->conns);
        free(p->conninfo);
        free(p);
        if (done)
            done(arg);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_poll_closed(uv_handle_t *h)
{
    pollh_t *ph = h->data;
    pgpool_t *p = ph->p;
    free(ph);
    handle_closed(p);
}

static void poll_close(pgconn_t *c)
{
    if (c->poll) {
        uv_close((uv_handle_t *)&c->poll->h, on_poll_closed);
        c->poll = NULL;
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

static int poll_watch(pgconn_t *c, int events)
{
    if (!c->poll) {
        int fd = PQsocket(c->pg);
        if (fd < 0)
            return -1;
        pollh_t *ph = mem_calloc(1, sizeof *ph);
        ph->p = c->p;
        ph->c = c;
        if (uv_poll_init(c->p->loop, &ph->h, fd) != 0) {
            free(ph);
            return -1;
        }
        ph->h.data = ph;
        c->p->open_handles++;
        c->poll = ph;
    }
    return uv_poll_start(&c->poll->h, events, on_poll) == 0 ? 0 : -1;
}

/* Drops the libpq connection and its socket watcher. */
static void conn_drop(pgconn_t *c)
{
    poll_close(c); /* before PQfinish: never poll a closed fd */
    if (c->res) {
        PQclear(c->res);
        c->res = NULL;
    }
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    /* A new connection starts with no prepared statements. */
    for (int i = 0; i < c->nstmts; i++)
        free(c->stmts[i]);
    c->nstmts = 0;
    c->preparing = 0;
    uv_timer_stop(&c->timer);
}

/* ------------------------------------------------------------ connect */

static void on_conn_timer(uv_timer_t *t);

static void set_down(pgpool_t *p)
{
    if (p->nup > 0 || p->down)
        return;
    p->down = 1;
    LOG_WARN("pgpool", "database unavailable", NULL);
    fail_all(&p->q, ERR_DOWN);
}

static unsigned backoff_next(pgconn_t *c)
{
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : PG_BACKOFF_MIN_MS;
    if (c->backoff_ms > PG_BACKOFF_MAX_MS)
        c->backoff_ms = PG_BACKOFF_MAX_MS;
    return c->backoff_ms;
}

static void connect_failed(pgconn_t *c, const char *why)
{
    pgpool_t *p = c->p;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", why && *why ? why : "unknown error");
    msg[strcspn(msg, "\n")] = '\0';
    conn_drop(c);
    c->state = C_WAIT;
    uv_timer_start(&c->timer, on_conn_timer, backoff_next(c), 0);
    if (!p->down)
        LOG_WARN("pgpool", "connect failed", "error", msg, NULL);
    set_down(p);
}

static void conn_up(pgconn_t *c)
{
    pgpool_t *p = c->p;
    uv_timer_stop(&c->timer);
    PQsetnonblocking(c->pg, 1);
    c->state = C_IDLE;
    c->up_at = uv_now(p->loop);
    p->nup++;
    if (p->down) {
        p->down = 0;
        LOG_INFO("pgpool", "database available again", NULL);
    }
    if (poll_watch(c, UV_READABLE) != 0) {
        conn_lost(c, ERR_LOST);
        return;
    }
    pump(p);
}

static void connect_step(pgconn_t *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    if (st == PGRES_POLLING_OK) {
        conn_up(c);
        return;
    }
    if (st == PGRES_POLLING_FAILED) {
        connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    poll_close(c); /* see the design notes: the socket may have changed */
    if (poll_watch(c, st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE) != 0)
        connect_failed(c, "cannot watch the socket");
}

static void notice_sink(void *arg, const char *message)
{
    LOG_DEBUG("pgpool", "notice", "message", message, NULL);
}

static void conn_connect(pgconn_t *c)
{
    pgpool_t *p = c->p;
    /* Keepalives notice a dead server on an idle connection within about a
     * minute instead of the OS default of hours. Later keys override what
     * the expanded conninfo says. */
    const char *keys[] = {"dbname", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "options", NULL};
    const char *vals[] = {p->conninfo, "30", "10", "3", p->options, NULL};
    if (!p->options[0])
        keys[4] = NULL;
    c->state = C_CONNECTING;
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        connect_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->pg, notice_sink, NULL);
    uv_timer_start(&c->timer, on_conn_timer, p->connect_timeout_ms, 0);
    /* libpq: start as if PQconnectPoll had returned PGRES_POLLING_WRITING. */
    if (poll_watch(c, UV_WRITABLE) != 0)
        connect_failed(c, "cannot watch the socket");
}

/* ------------------------------------------------------------ queries */

/* The cache slot of sql on c, or -1. */
static int stmt_find(const pgconn_t *c, const char *sql)
{
    for (int i = 0; i < c->nstmts; i++)
        if (strcmp(c->stmts[i], sql) == 0)
            return i;
    return -1;
}

/* Queries run as prepared statements, prepared on first use per
 * connection (the application's SQL is a fixed set of strings); BEGIN,
 * COMMIT, ROLLBACK and anything past the cache run unnamed. */
static int send_statement(pgconn_t *c, req_t *r)
{
    char name[16];
    int slot = -1;
    if (r->copy) /* COPY runs unprepared, its data follows the CopyIn answer (conn_read) */
        return PQsendQuery(c->pg, r->sql) ? 0 : -1;
    if (r->kind == R_QUERY || r->kind == R_TXQ) {
        slot = stmt_find(c, r->sql);
        if (slot < 0 && c->nstmts < PG_MAX_PREPARED) {
            snprintf(name, sizeof name, "s%d", c->nstmts);
            c->preparing = 1;
            return PQsendPrepare(c->pg, name, r->sql, r->nparams, NULL) ? 0 : -1;
        }
    }
    if (slot < 0)
        return PQsendQueryParams(c->pg, r->sql, r->nparams, NULL, r->params, NULL, NULL, 0) ? 0 : -1;
    snprintf(name, sizeof name, "s%d", slot);
    return PQsendQueryPrepared(c->pg, name, r->nparams, r->params, NULL, NULL, 0) ? 0 : -1;
}

static int conn_send(pgconn_t *c, req_t *r)
{
    pgpool_t *p = c->p;
    if (send_statement(c, r) != 0)
        return -1;
    int fl = PQflush(c->pg);
    if (fl < 0)
        return -1;
    if (poll_watch(c, fl ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
        return -1;
    c->cur = r;
    c->state = C_BUSY;
    if (p->query_timeout_ms)
        uv_timer_start(&c->timer, on_conn_timer, p->query_timeout_ms + PG_TIMEOUT_GRACE_MS, 0);
    return 0;
}

/* A send failed on a connection that looked idle: report the loss from the
 * loop (the caller may be user code). The request stays queued. */
static void conn_break_later(pgconn_t *c)
{
    c->state = C_BROKEN;
    /* libpq may have closed the socket already (EOF seen while sending):
     * stop watching that fd number now, before an accept() in this loop
     * turn reuses it and its events reach this connection's watcher. */
    poll_close(c);
    uv_timer_start(&c->timer, on_conn_timer, 0, 0);
}

static pgconn_t *idle_conn(pgpool_t *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].state == C_IDLE && !p->conns[i].tx)
            return &p->conns[i];
    return NULL;
}

static void pump(pgpool_t *p)
{
    pgconn_t *c;
    while (!p->closing && p->q.head && (c = idle_conn(p))) {
        if (conn_send(c, p->q.head) != 0) {
            conn_break_later(c);
            continue;
        }
        q_pop(&p->q);
    }
}

static void tx_pump(pgtx_t *tx)
{
    pgconn_t *c = tx->c;
    if (!c || c->state != C_IDLE || !tx->q.head)
        return;
    if (conn_send(c, tx->q.head) != 0) {
        conn_break_later(c);
        return;
    }
    q_pop(&tx->q);
}

/* The connection is unusable: fail what it carried, reconnect. */
static void conn_lost(pgconn_t *c, const char *err)
{
    pgpool_t *p = c->p;
    int was_up = c->state == C_IDLE || c->state == C_BUSY || c->state == C_BROKEN;
    req_t *cur = c->cur;
    pgtx_t *tx = c->tx;
    c->cur = NULL;
    c->tx = NULL;
    conn_drop(c);
    if (was_up)
        p->nup--;
    reqq_t txq = {0};
    if (tx) {
        tx->c = NULL;
        tx->lost_err = p->closing ? ERR_CLOSING : ERR_LOST;
        txq = q_take(&tx->q);
    }
    if (p->closing) {
        c->state = C_CLOSED;
    } else {
        LOG_WARN("pgpool", "connection lost", "error", err, NULL);
        c->state = C_WAIT;
        /* Reconnect at once after a connection that lived (a restarted
         * server, a killed backend); back off when they die young, so a
         * server that accepts and drops is not hammered. */
        unsigned delay = 0;
        if (was_up && uv_now(p->loop) - c->up_at >= PG_STABLE_MS)
            c->backoff_ms = 0;
        else
            delay = backoff_next(c);
        uv_timer_start(&c->timer, on_conn_timer, delay, 0);
    }
    /* Everything is consistent now: run the callbacks. A COMMIT/ROLLBACK
     * among them frees tx, so it is not touched after this point. */
    if (cur)
        req_finish(cur, NULL, err);
    req_t *r;
    while ((r = q_pop(&txq)))
        req_finish(r, NULL, p->closing ? ERR_CLOSING : ERR_LOST);
}

/* cur's results are all in: hand them over, then move on. */
static void conn_complete(pgconn_t *c)
{
    pgpool_t *p = c->p;
    req_t *r = c->cur;
    if (c->preparing) {
        /* The statement is prepared: cache it and run the query itself. An
         * error (bad SQL) is the query's answer, as it would be unprepared. */
        c->preparing = 0;
        if (c->res && PQresultStatus(c->res) == PGRES_COMMAND_OK) {
            PQclear(c->res);
            c->res = NULL;
            c->stmts[c->nstmts++] = mem_strdup(r->sql);
            char name[16];
            snprintf(name, sizeof name, "s%d", c->nstmts - 1);
            int fl = PQsendQueryPrepared(c->pg, name, r->nparams, r->params, NULL, NULL, 0) ? PQflush(c->pg) : -1;
            if (fl < 0 || poll_watch(c, fl ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
                conn_lost(c, ERR_LOST);
            return;
        }
    }
    PGresult *res = c->res;
    c->cur = NULL;
    c->res = NULL;
    uv_timer_stop(&c->timer);
    c->state = C_IDLE;
    const char *err = NULL;
    if (!res) {
        err = "no result";
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        /* 57014 query_canceled: our statement_timeout fired. */
        if (PQresultStatus(res) == PGRES_FATAL_ERROR && state && strcmp(state, "57014") == 0)
            err = ERR_TIMEOUT;
    }
    pgtx_t *tx = r->tx;
    switch (r->kind) {
    case R_BEGIN:
        if (!err && PQresultStatus(res) != PGRES_COMMAND_OK)
            err = PQresultErrorMessage(res);
        if (!err) {
            tx = mem_calloc(1, sizeof *tx);
            tx->p = p;
            tx->c = c;
            c->tx = tx;
            p->ntx++;
            r->tx = tx;
        }
        break;
    case R_COMMIT:
    case R_ROLLBACK:
        c->tx = NULL;
        tx->c = NULL;
        tx = NULL; /* req_finish frees it */
        /* COMMIT of a transaction that had an error answers "ROLLBACK". */
        if (!err && r->kind == R_COMMIT && PQresultStatus(res) == PGRES_COMMAND_OK &&
            strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
            err = "transaction aborted: rolled back";
        else if (!err && PQresultStatus(res) != PGRES_COMMAND_OK)
            err = PQresultErrorMessage(res);
        break;
    default:
        break;
    }
    req_finish(r, res, err);
    PQclear(res);
    if (p->closing)
        return;
    if (tx && c->tx == tx)
        tx_pump(tx);
    pump(p);
}

static void conn_read(pgconn_t *c)
{
    if (!PQconsumeInput(c->pg)) {
        conn_lost(c, ERR_LOST);
        return;
    }
    if (c->state == C_IDLE) {
        PGnotify *n;
        while ((n = PQnotifies(c->pg)))
            PQfreemem(n);
        /* A FATAL from the server (pg_terminate_backend) can arrive while
         * idle; the EOF right after it makes PQconsumeInput fail. */
        PGresult *res;
        while (!PQisBusy(c->pg) && (res = PQgetResult(c->pg)))
            PQclear(res);
        if (PQstatus(c->pg) == CONNECTION_BAD)
            conn_lost(c, ERR_LOST);
        return;
    }
    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            if (PQstatus(c->pg) == CONNECTION_BAD)
                conn_lost(c, ERR_LOST);
            else
                conn_complete(c);
            return;
        }
        if (PQresultStatus(res) == PGRES_COPY_IN) {
            /* The server takes the data now: queue it all (libpq grows its
             * buffer) in CopyData messages of at most COPY_CHUNK bytes, end
             * the copy, and flush as the socket allows. One message of the
             * whole data made the backend grow its message buffer to that
             * size, in fresh memory, for every COPY: page faults and copies
             * that cost it ~5% of the audit drain's CPU. */
            PQclear(res);
            req_t *r = c->cur;
            int ok = r && r->copy;
            for (size_t off = 0; ok && off < r->copy_len; off += COPY_CHUNK) {
                size_t n = r->copy_len - off < COPY_CHUNK ? r->copy_len - off : COPY_CHUNK;
                ok = PQputCopyData(c->pg, r->copy + off, (int)n) == 1;
            }
            ok = ok && PQputCopyEnd(c->pg, NULL) == 1;
            int fl = ok ? PQflush(c->pg) : -1;
            if (fl < 0 || poll_watch(c, fl ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0) {
                conn_lost(c, ERR_LOST);
                return;
            }
            continue;
        }
        if (c->res)
            PQclear(c->res);
        c->res = res;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        conn_lost(c, ERR_LOST);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    pollh_t *ph = h->data;
    pgconn_t *c = ph->c;
    if (c->p->closing || c->poll != ph)
        return;
    if (c->state == C_CONNECTING) {
        /* Even on a poll error: PQconnectPoll says what went wrong. */
        connect_step(c);
        return;
    }
    if (c->state != C_IDLE && c->state != C_BUSY)
        return; /* C_BROKEN: its timer reports the loss */
    if (status < 0) {
        conn_lost(c, ERR_LOST);
        return;
    }
    if (c->state == C_BUSY && (events & UV_WRITABLE)) {
        int fl = PQflush(c->pg);
        if (fl < 0) {
            conn_lost(c, ERR_LOST);
            return;
        }
        if (fl == 0 && poll_watch(c, UV_READABLE) != 0) {
            conn_lost(c, ERR_LOST);
            return;
        }
    }
    if (events & UV_READABLE)
        conn_read(c);
}

static void on_conn_timer(uv_timer_t *t)
{
    pgconn_t *c = t->data;
    if (c->p->closing)
        return;
    switch (c->state) {
    case C_WAIT:
        conn_connect(c);
        break;
    case C_CONNECTING:
        connect_failed(c, "connect timeout");
        break;
    case C_BUSY:
        conn_lost(c, ERR_TIMEOUT);
        break;
    case C_BROKEN:
        conn_lost(c, ERR_LOST);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------ public API */

int pgpool_create(pgpool_t **out, uv_loop_t *loop, const pgpool_config_t *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->conninfo)
        return -1;
    pgpool_t *p = mem_calloc(1, sizeof *p);
    p->loop = loop;
    p->conninfo = mem_strdup(cfg->conninfo);
    p->size = cfg->size > 0 ? cfg->size : 4;
    p->max_queue = cfg->max_queue > 0 ? cfg->max_queue : 10000;
    p->query_timeout_ms = cfg->query_timeout_ms;
    p->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms
                                                    : PG_CONNECT_TIMEOUT_MS;
    if (p->query_timeout_ms)
        snprintf(p->options, sizeof p->options, "-c statement_timeout=%u", p->query_timeout_ms);
    uv_timer_init(loop, &p->defer);
    p->defer.data = p;
    p->open_handles++;
    p->conns = mem_calloc((size_t)p->size, sizeof *p->conns);
    for (int i = 0; i < p->size; i++) {
        pgconn_t *c = &p->conns[i];
        c->p = p;
        c->idx = i;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        p->open_handles++;
    }
    for (int i = 0; i < p->size; i++)
        conn_connect(&p->conns[i]);
    *out = p;
    return 0;
}

int pgpool_ready(const pgpool_t *p)
{
    return p && !p->closing && p->nup > 0;
}

static void maybe_finish_close(pgpool_t *p)
{
    if (!p->closing || p->ntx > 0 || p->deferred.head || p->defer_closing)
        return;
    p->defer_closing = 1;
    uv_close((uv_handle_t *)&p->defer, on_timer_closed);
}

void pgpool_close(pgpool_t *p, void (*done)(void *arg), void *arg)
{
    if (!p || p->closing)
        return;
    p->closing = 1;
    p->done = done;
    p->done_arg = arg;
    fail_all(&p->q, ERR_CLOSING);
    for (int i = 0; i < p->size; i++) {
        pgconn_t *c = &p->conns[i];
        if (c->state == C_CLOSED)
            continue;
        conn_lost(c, ERR_CLOSING);
        c->timer.data = p;
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    }
    maybe_finish_close(p);
}

static int check_args(const char *sql, int nparams, const char *const *params)
{
    return !sql || nparams < 0 || nparams > PG_MAX_PARAMS || (nparams > 0 && !params) ? -1 : 0;
}

int pgpool_query(pgpool_t *p, const char *sql, int nparams, const char *const *params,
                 pgpool_cb cb, void *ud)
{
    if (check_args(sql, nparams, params) != 0)
        return PGPOOL_EINVAL;
    if (p->closing || p->down)
        return PGPOOL_EDOWN;
    if (p->q.n >= p->max_queue)
        return PGPOOL_EBUSY;
    req_t *r = req_new(R_QUERY, sql, nparams, params);
    r->cb = cb;
    r->ud = ud;
    q_push(&p->q, r);
    pump(p);
    return 0;
}

int pgpool_copy(pgpool_t *p, const char *sql, const char *data, size_t len, pgpool_cb cb, void *ud)
{
    if (!sql || !data || len > INT_MAX)
        return PGPOOL_EINVAL;
    if (p->closing || p->down)
        return PGPOOL_EDOWN;
    if (p->q.n >= p->max_queue)
        return PGPOOL_EBUSY;
    req_t *r = req_new(R_QUERY, sql, 0, NULL);
    char *copy = mem_alloc(len + 1);
    memcpy(copy, data, len);
    r->copy = copy;
    r->copy_len = len;
    r->cb = cb;
    r->ud = ud;
    q_push(&p->q, r);
    pump(p);
    return 0;
}

int pgpool_begin(pgpool_t *p, pgtx_begin_cb cb, void *ud)
{
    if (!cb)
        return PGPOOL_EINVAL; /* the tx would have no owner */
    if (p->closing || p->down)
        return PGPOOL_EDOWN;
    if (p->q.n >= p->max_queue)
        return PGPOOL_EBUSY;
    req_t *r = req_new(R_BEGIN, "BEGIN", 0, NULL);
    r->bcb = cb;
    r->ud = ud;
    q_push(&p->q, r);
    pump(p);
    return 0;
}

int pgtx_query(pgtx_t *tx, const char *sql, int nparams, const char *const *params,
               pgpool_cb cb, void *ud)
{
    if (tx->ended || check_args(sql, nparams, params) != 0)
        return PGPOOL_EINVAL;
    if (!tx->c)
        return PGPOOL_EDOWN;
    if (tx->q.n >= tx->p->max_queue)
        return PGPOOL_EBUSY;
    req_t *r = req_new(R_TXQ, sql, nparams, params);
    r->cb = cb;
    r->ud = ud;
    r->tx = tx;
    q_push(&tx->q, r);
    tx_pump(tx);
    return 0;
}

static void tx_end(pgtx_t *tx, enum req_kind kind, pgpool_cb cb, void *ud)
{
    if (tx->ended) {
        LOG_ERROR("pgpool", "transaction ended twice", NULL);
        return;
    }
    tx->ended = 1;
    req_t *r = req_new(kind, kind == R_COMMIT ? "COMMIT" : "ROLLBACK", 0, NULL);
    r->cb = cb;
    r->ud = ud;
    r->tx = tx;
    if (!tx->c) {
        defer_fail(tx->p, r, tx->lost_err ? tx->lost_err : ERR_LOST);
        return;
    }
    q_push(&tx->q, r);
    tx_pump(tx);
}

void pgtx_commit(pgtx_t *tx, pgpool_cb cb, void *ud)
{
    tx_end(tx, R_COMMIT, cb, ud);
}

void pgtx_rollback(pgtx_t *tx, pgpool_cb cb, void *ud)
{
    tx_end(tx, R_ROLLBACK, cb, ud);
}

PGconn *pgpool_connect_blocking(const char *conninfo, char *err, size_t errsz)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (pg && PQstatus(pg) == CONNECTION_OK) {
        PQsetNoticeProcessor(pg, notice_sink, NULL);
        return pg;
    }
    snprintf(err, errsz, "%s", pg ? PQerrorMessage(pg) : "out of memory");
    err[strcspn(err, "\n")] = '\0';
    PQfinish(pg);
    return NULL;
}
