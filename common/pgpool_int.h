/* pgpool_int: what the pgpool files share and callers must not see (they
 * use pgpool.h). Include it only from common/pgpool*.c.
 *
 * The files, from the bottom up; each calls only the ones listed before it:
 *   pgpool.c       what needs no pool: the notice processor,
 *                  pgpool_connect_blocking
 *   pgpool_req.c   requests and their queues; the one place a request ends
 *   pgpool_conn.c  connections: connect, send, read results, loss, pump
 *   pgpool_api.c   the calls of pgpool.h (create, close, query, copy, tx)
 *
 * Design notes
 * - One req_t per request (query, BEGIN, query in a transaction, COMMIT,
 *   ROLLBACK): sql and parameters are copied into the same allocation, so
 *   callers may pass stack memory. A req_t ends only in pgpool_req_finish(),
 *   which runs its callback once and frees it.
 * - A pgtx_t is freed only when its COMMIT/ROLLBACK request finishes (in
 *   pgpool_req_finish), whatever happened to its connection meanwhile. So a tx
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
#ifndef JSMCP_PGPOOL_INT_H
#define JSMCP_PGPOOL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pgpool.h"

#define PG_CONNECT_TIMEOUT_MS 5000
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_TIMEOUT_GRACE_MS 1000
#define PG_STABLE_MS 1000 /* a connection that lived this long reconnects at once */
#define PG_MAX_PARAMS 65535

#define PGPOOL_ERR_LOST "database connection lost"
#define PGPOOL_ERR_DOWN "database unavailable"
#define PGPOOL_ERR_CLOSING "pool closing"
#define PGPOOL_ERR_TIMEOUT "database query timed out"

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
    int unprepared;     /* planned at each run, never cached (pgtx_query_unprepared) */
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

/* ---- pgpool_req.c: requests, queues, the pool's end ---- */
void pgpool_q_push(reqq_t *q, req_t *r);
req_t *pgpool_q_pop(reqq_t *q);
/* Takes everything out of q (so callbacks that queue more do not loop). */
reqq_t pgpool_q_take(reqq_t *q);
/* A request with sql and params copied into the same allocation. */
req_t *pgpool_req_new(enum req_kind kind, const char *sql, int nparams, const char *const *params);
/* The one place a request ends: runs its callback once and frees it (and,
 * for COMMIT/ROLLBACK, its tx). */
void pgpool_req_finish(req_t *r, PGresult *res, const char *err);
/* Finishes every request of q with err. */
void pgpool_fail_all(reqq_t *q, const char *err);
/* Reports err for r from the loop, not from inside the caller's call. */
void pgpool_defer_fail(pgpool_t *p, req_t *r, const char *err);
/* A closing pool with no transaction or deferred failure left closes its
 * last own handle. */
void pgpool_maybe_finish_close(pgpool_t *p);
/* The close callback of the pool's timers; the last handle frees the pool. */
void pgpool_on_timer_closed(uv_handle_t *h);
/* A handle of p closed (the last one frees p and calls done). */
void pgpool_handle_closed(pgpool_t *p);

/* ---- pgpool_conn.c: connections ---- */
/* Starts connecting c (non-blocking); a failure schedules the next try. */
void pgpool_conn_connect(pgconn_t *c);
/* The connection is unusable: fail what it carried, reconnect. */
void pgpool_conn_lost(pgconn_t *c, const char *err);
/* Sends waiting requests to idle connections. */
void pgpool_pump(pgpool_t *p);
/* Sends tx's next request on its pinned connection when that is idle. */
void pgpool_tx_pump(pgtx_t *tx);

#endif
