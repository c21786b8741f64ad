/* pgpool_api: the calls of pgpool.h: create, close (pending work fails
 * before it returns), queries, COPY, transactions. Each makes a request
 * (pgpool_req.c) and lets the connections take it (pgpool_conn.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pgpool_int.h"

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
        pgpool_conn_connect(&p->conns[i]);
    *out = p;
    return 0;
}

int pgpool_ready(const pgpool_t *p)
{
    return p && !p->closing && p->nup > 0;
}

void pgpool_close(pgpool_t *p, void (*done)(void *arg), void *arg)
{
    if (!p || p->closing)
        return;
    p->closing = 1;
    p->done = done;
    p->done_arg = arg;
    pgpool_fail_all(&p->q, PGPOOL_ERR_CLOSING);
    for (int i = 0; i < p->size; i++) {
        pgconn_t *c = &p->conns[i];
        if (c->state == C_CLOSED)
            continue;
        pgpool_conn_lost(c, PGPOOL_ERR_CLOSING);
        c->timer.data = p;
        uv_close((uv_handle_t *)&c->timer, pgpool_on_timer_closed);
    }
    pgpool_maybe_finish_close(p);
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
    req_t *r = pgpool_req_new(R_QUERY, sql, nparams, params);
    r->cb = cb;
    r->ud = ud;
    pgpool_q_push(&p->q, r);
    pgpool_pump(p);
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
    req_t *r = pgpool_req_new(R_QUERY, sql, 0, NULL);
    char *copy = mem_alloc(len + 1);
    memcpy(copy, data, len);
    r->copy = copy;
    r->copy_len = len;
    r->cb = cb;
    r->ud = ud;
    pgpool_q_push(&p->q, r);
    pgpool_pump(p);
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
    req_t *r = pgpool_req_new(R_BEGIN, "BEGIN", 0, NULL);
    r->bcb = cb;
    r->ud = ud;
    pgpool_q_push(&p->q, r);
    pgpool_pump(p);
    return 0;
}

static int tx_query(pgtx_t *tx, const char *sql, int nparams, const char *const *params, int unprepared,
                    pgpool_cb cb, void *ud)
{
    if (tx->ended || check_args(sql, nparams, params) != 0)
        return PGPOOL_EINVAL;
    if (!tx->c)
        return PGPOOL_EDOWN;
    if (tx->q.n >= tx->p->max_queue)
        return PGPOOL_EBUSY;
    req_t *r = pgpool_req_new(R_TXQ, sql, nparams, params);
    r->cb = cb;
    r->ud = ud;
    r->tx = tx;
    r->unprepared = unprepared;
    pgpool_q_push(&tx->q, r);
    pgpool_tx_pump(tx);
    return 0;
}

int pgtx_query(pgtx_t *tx, const char *sql, int nparams, const char *const *params,
               pgpool_cb cb, void *ud)
{
    return tx_query(tx, sql, nparams, params, 0, cb, ud);
}

int pgtx_query_unprepared(pgtx_t *tx, const char *sql, int nparams, const char *const *params,
                          pgpool_cb cb, void *ud)
{
    return tx_query(tx, sql, nparams, params, 1, cb, ud);
}

static void tx_end(pgtx_t *tx, enum req_kind kind, pgpool_cb cb, void *ud)
{
    if (tx->ended) {
        LOG_ERROR("pgpool", "transaction ended twice", NULL);
        return;
    }
    tx->ended = 1;
    req_t *r = pgpool_req_new(kind, kind == R_COMMIT ? "COMMIT" : "ROLLBACK", 0, NULL);
    r->cb = cb;
    r->ud = ud;
    r->tx = tx;
    if (!tx->c) {
        pgpool_defer_fail(tx->p, r, tx->lost_err ? tx->lost_err : PGPOOL_ERR_LOST);
        return;
    }
    pgpool_q_push(&tx->q, r);
    pgpool_tx_pump(tx);
}

void pgtx_commit(pgtx_t *tx, pgpool_cb cb, void *ud)
{
    tx_end(tx, R_COMMIT, cb, ud);
}

void pgtx_rollback(pgtx_t *tx, pgpool_cb cb, void *ud)
{
    tx_end(tx, R_ROLLBACK, cb, ud);
}
