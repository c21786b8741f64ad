/* pgpool_conn: the connections of pgpool (see pgpool_int.h): connect
 * (non-blocking, with backoff), send a request (prepared statements cached
 * per connection), read its results (also COPY FROM STDIN's data, sent when
 * the server asks), notice the loss, and move the queues on (pump).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pgpool_int.h"

/* ------------------------------------------------------------ handles */

static void on_conn_timer(uv_timer_t *t);

static void on_poll_closed(uv_handle_t *h)
{
    pollh_t *ph = h->data;
    pgpool_t *p = ph->p;
    free(ph);
    pgpool_handle_closed(p);
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

static void set_down(pgpool_t *p)
{
    if (p->nup > 0 || p->down)
        return;
    p->down = 1;
    LOG_WARN("pgpool", "database unavailable", NULL);
    pgpool_fail_all(&p->q, PGPOOL_ERR_DOWN);
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
        pgpool_conn_lost(c, PGPOOL_ERR_LOST);
        return;
    }
    pgpool_pump(p);
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

void pgpool_conn_connect(pgconn_t *c)
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
    PQsetNoticeProcessor(c->pg, pgpool_notice_sink, NULL);
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
 * COMMIT, ROLLBACK, unprepared queries and anything past the cache run
 * unnamed (planned at each run). */
static int send_statement(pgconn_t *c, req_t *r)
{
    char name[16];
    int slot = -1;
    if (r->copy) /* COPY runs unprepared, its data follows the CopyIn answer (conn_read) */
        return PQsendQuery(c->pg, r->sql) ? 0 : -1;
    if ((r->kind == R_QUERY || r->kind == R_TXQ) && !r->unprepared) {
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

void pgpool_pump(pgpool_t *p)
{
    pgconn_t *c;
    while (!p->closing && p->q.head && (c = idle_conn(p))) {
        if (conn_send(c, p->q.head) != 0) {
            conn_break_later(c);
            continue;
        }
        pgpool_q_pop(&p->q);
    }
}

void pgpool_tx_pump(pgtx_t *tx)
{
    pgconn_t *c = tx->c;
    if (!c || c->state != C_IDLE || !tx->q.head)
        return;
    if (conn_send(c, tx->q.head) != 0) {
        conn_break_later(c);
        return;
    }
    pgpool_q_pop(&tx->q);
}

/* The connection is unusable: fail what it carried, reconnect. */
void pgpool_conn_lost(pgconn_t *c, const char *err)
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
        tx->lost_err = p->closing ? PGPOOL_ERR_CLOSING : PGPOOL_ERR_LOST;
        txq = pgpool_q_take(&tx->q);
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
        pgpool_req_finish(cur, NULL, err);
    req_t *r;
    while ((r = pgpool_q_pop(&txq)))
        pgpool_req_finish(r, NULL, p->closing ? PGPOOL_ERR_CLOSING : PGPOOL_ERR_LOST);
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
                pgpool_conn_lost(c, PGPOOL_ERR_LOST);
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
            err = PGPOOL_ERR_TIMEOUT;
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
    pgpool_req_finish(r, res, err);
    PQclear(res);
    if (p->closing)
        return;
    if (tx && c->tx == tx)
        pgpool_tx_pump(tx);
    pgpool_pump(p);
}

static void conn_read(pgconn_t *c)
{
    if (!PQconsumeInput(c->pg)) {
        pgpool_conn_lost(c, PGPOOL_ERR_LOST);
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
            pgpool_conn_lost(c, PGPOOL_ERR_LOST);
        return;
    }
    while (!PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            if (PQstatus(c->pg) == CONNECTION_BAD)
                pgpool_conn_lost(c, PGPOOL_ERR_LOST);
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
                pgpool_conn_lost(c, PGPOOL_ERR_LOST);
                return;
            }
            continue;
        }
        if (c->res)
            PQclear(c->res);
        c->res = res;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        pgpool_conn_lost(c, PGPOOL_ERR_LOST);
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
        pgpool_conn_lost(c, PGPOOL_ERR_LOST);
        return;
    }
    if (c->state == C_BUSY && (events & UV_WRITABLE)) {
        int fl = PQflush(c->pg);
        if (fl < 0) {
            pgpool_conn_lost(c, PGPOOL_ERR_LOST);
            return;
        }
        if (fl == 0 && poll_watch(c, UV_READABLE) != 0) {
            pgpool_conn_lost(c, PGPOOL_ERR_LOST);
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
        pgpool_conn_connect(c);
        break;
    case C_CONNECTING:
        connect_failed(c, "connect timeout");
        break;
    case C_BUSY:
        pgpool_conn_lost(c, PGPOOL_ERR_TIMEOUT);
        break;
    case C_BROKEN:
        pgpool_conn_lost(c, PGPOOL_ERR_LOST);
        break;
    default:
        break;
    }
}
