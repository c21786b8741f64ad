/* pgpool: a small pool of non-blocking libpq connections driven by uv_poll.
 *
 * Queries use PQsendQueryParams with text parameters and text results.
 * A query callback runs exactly once: with res != NULL on success (also for
 * SQL errors: check PQresultStatus), or res == NULL and err set when the
 * connection failed or the pool is closing. The callback must not PQclear
 * res: pgpool does after the callback returns.
 *
 * Transactions pin one connection: pgpool_begin() hands out a pgtx_t once
 * BEGIN ran; queries on it run in order; pgtx_commit()/pgtx_rollback() end
 * it and return the connection. A lost connection fails every queued query
 * of the transaction and the pool reconnects with backoff.
 *
 * Requests wait in a bounded queue (max_queue) when all connections are
 * busy; beyond that pgpool_query returns PGPOOL_EBUSY. When no connection can
 * be made (PostgreSQL down), queued and new queries fail fast with
 * err = "database unavailable" so the API can answer 503.
 *
 * Details callers rely on:
 * - err (res NULL) is one of "database unavailable" (no connection could be
 *   made), "database connection lost", "database query timed out",
 *   "pool closing", "transaction aborted: rolled back" (pgtx_commit of a
 *   transaction in which a statement failed), or libpq's message when
 *   BEGIN/COMMIT/ROLLBACK itself failed.
 * - query_timeout_ms is sent as statement_timeout (the server cancels the
 *   statement, the connection stays); a client timer one second later drops
 *   the connection if the server did not answer at all.
 * - Callbacks never run inside pgpool_query/pgpool_begin/pgtx_*: always
 *   later from the loop. Only pgpool_close() runs them before it returns.
 * - PGPOOL_EDOWN: the database is known down, or the pool is closing.
 *   Until the first connect attempt failed, queries wait in the queue.
 * - A pgtx_t stays valid until the callback of its pgtx_commit/rollback
 *   ran, also after its connection was lost (then pgtx_query returns
 *   PGPOOL_EDOWN and commit/rollback report "database connection lost").
 *   Every pgtx_t handed out must be ended: pgpool_close's done runs once
 *   they all are.
 * - No multi-statement SQL (extended protocol), no LISTEN. COPY ... FROM
 *   STDIN only through pgpool_copy (outside transactions).
 */
#ifndef JSMCP_PGPOOL_H
#define JSMCP_PGPOOL_H

#include <libpq-fe.h>
#include <uv.h>

#define PGPOOL_EBUSY (-1)
#define PGPOOL_EDOWN (-2)
#define PGPOOL_EINVAL (-3) /* sql NULL, bad nparams, or a tx already ended */

typedef struct pgpool_s pgpool_t;
typedef struct pgtx_s pgtx_t;

typedef void (*pgpool_cb)(PGresult *res, const char *err, void *ud);
typedef void (*pgtx_begin_cb)(pgtx_t *tx, const char *err, void *ud); /* tx NULL on err */

typedef struct pgpool_config_s {
    const char *conninfo;    /* "postgresql://..." */
    int size;                /* connections; default 4 */
    int max_queue;           /* waiting requests; default 10000 */
    unsigned query_timeout_ms; /* 0 = none; default 10000 */
    unsigned connect_timeout_ms; /* default 5000 */
} pgpool_config_t;

int pgpool_create(pgpool_t **out, uv_loop_t *loop, const pgpool_config_t *cfg);
/* Fails pending work with "pool closing", closes connections, frees. */
void pgpool_close(pgpool_t *p, void (*done)(void *arg), void *arg);
/* 1 when at least one connection is up. */
int pgpool_ready(const pgpool_t *p);

/* params: nparams text values (NULL = SQL NULL). Returns 0 (cb will run) or
 * PGPOOL_EBUSY / PGPOOL_EDOWN (cb will not run). */
int pgpool_query(pgpool_t *p, const char *sql, int nparams, const char *const *params,
                 pgpool_cb cb, void *ud);

/* COPY <table> (...) FROM STDIN with data (len bytes, in the format the
 * statement names; copied): one round trip plus the data, much cheaper for
 * PostgreSQL per row than an INSERT of arrays. cb gets the COPY's result
 * (PGRES_COMMAND_OK, or the error: a unique violation fails the whole
 * copy). Returns as pgpool_query. */
int pgpool_copy(pgpool_t *p, const char *sql, const char *data, size_t len, pgpool_cb cb, void *ud);
int pgpool_begin(pgpool_t *p, pgtx_begin_cb cb, void *ud);
int pgtx_query(pgtx_t *tx, const char *sql, int nparams, const char *const *params,
               pgpool_cb cb, void *ud);
/* As pgtx_query, but planned by PostgreSQL at each run instead of prepared
 * once per connection: for a statement whose best plan changes with a
 * table's size. A prepared statement without parameters keeps the plan
 * made at its first run (until the table's statistics change), e.g. a seq
 * scan of a queue that was empty then and holds 50,000 rows now. */
int pgtx_query_unprepared(pgtx_t *tx, const char *sql, int nparams, const char *const *params,
                          pgpool_cb cb, void *ud);
/* cb(res, err, ud): res is the COMMIT result; err on failure. cb may be NULL. */
void pgtx_commit(pgtx_t *tx, pgpool_cb cb, void *ud);
void pgtx_rollback(pgtx_t *tx, pgpool_cb cb, void *ud);

/* libpq's notice processor for every connection of pgpool (also of
 * pgpool_connect_blocking): notices go to the log at debug level instead of
 * stderr. */
void pgpool_notice_sink(void *arg, const char *message);

/* Synchronous helpers for start-up only (migrations, tests): never on a
 * request path. */
PGconn *pgpool_connect_blocking(const char *conninfo, char *err, size_t errsz);

#endif
