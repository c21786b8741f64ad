/* pgpool_req: the requests of pgpool (see pgpool_int.h): made with their
 * SQL and parameters copied in, queued, finished in one place
 * (pgpool_req_finish runs the callback and frees them), failures deferred
 * to the loop; and the end of a closing pool once its last handle closed.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pgpool_int.h"

/* ------------------------------------------------------------ queues */

void pgpool_q_push(reqq_t *q, req_t *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
}

req_t *pgpool_q_pop(reqq_t *q)
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
reqq_t pgpool_q_take(reqq_t *q)
{
    reqq_t all = *q;
    memset(q, 0, sizeof *q);
    return all;
}

req_t *pgpool_req_new(enum req_kind kind, const char *sql, int nparams,
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

/* The one place a request ends (and, for COMMIT/ROLLBACK, its tx). */
void pgpool_req_finish(req_t *r, PGresult *res, const char *err)
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
        pgpool_maybe_finish_close(p);
    }
    free(r);
}

void pgpool_fail_all(reqq_t *q, const char *err)
{
    reqq_t all = pgpool_q_take(q);
    req_t *r;
    while ((r = pgpool_q_pop(&all)))
        pgpool_req_finish(r, NULL, err);
}

static void on_defer(uv_timer_t *t)
{
    pgpool_t *p = t->data;
    reqq_t all = pgpool_q_take(&p->deferred);
    req_t *r;
    while ((r = pgpool_q_pop(&all)))
        pgpool_req_finish(r, NULL, r->err);
}

/* Reports err for r from the loop, not from inside the caller's call. */
void pgpool_defer_fail(pgpool_t *p, req_t *r, const char *err)
{
    r->err = err;
    pgpool_q_push(&p->deferred, r);
    uv_timer_start(&p->defer, on_defer, 0, 0);
}

/* ------------------------------------------------------------ the pool's end */

void pgpool_maybe_finish_close(pgpool_t *p)
{
    if (!p->closing || p->ntx > 0 || p->deferred.head || p->defer_closing)
        return;
    p->defer_closing = 1;
    uv_close((uv_handle_t *)&p->defer, pgpool_on_timer_closed);
}

/* Every handle's close ends here; the last one frees the pool. */
void pgpool_handle_closed(pgpool_t *p)
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

void pgpool_on_timer_closed(uv_handle_t *h)
{
    pgpool_handle_closed(h->data);
}
