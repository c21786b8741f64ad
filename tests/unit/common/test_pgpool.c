/* pgpool against the real PostgreSQL of tests/run.sh (JSMCP_TEST_PG_URL):
 * concurrency, parameters, SQL errors, transactions, the queue limit, a
 * database that is down, a backend killed from outside, the query timeout
 * and closing with work pending. Every callback is counted: exactly once
 * per accepted request. A guard timer turns a hang into a failure. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpool.h"
#include "tl.h"
#include "ts.h"

static uv_loop_t loop;
static const char *pg_url;
static char table[64];

static void setup(void)
{
    pg_url = getenv("JSMCP_TEST_PG_URL");
    cr_assert_not_null(pg_url, "JSMCP_TEST_PG_URL is not set (run through tests/run.sh)");
    tl_init(&loop);
    snprintf(table, sizeof table, "pgpool_test_%d", (int)getpid());
}

static void teardown(void)
{
    tl_fini();
}

TestSuite(pgpool, .init = setup, .fini = teardown, .timeout = 20);

#define run_until tl_run_until
#define run_for tl_run_for

static int is_ready(const void *p)
{
    return pgpool_ready(p);
}

static pgpool_t *pool(int size, int max_queue, unsigned timeout_ms)
{
    pgpool_config_t cfg = {.conninfo = pg_url, .size = size, .max_queue = max_queue,
                           .query_timeout_ms = timeout_ms};
    pgpool_t *p;
    cr_assert_eq(pgpool_create(&p, &loop, &cfg), 0);
    return p;
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

static void close_pool(pgpool_t *p)
{
    int closed = 0;
    pgpool_close(p, on_closed, &closed);
    run_until(&closed, 1, 5000);
}

/* Blocking helper connection for setup and for killing backends. */
static void exec_blocking(const char *sql)
{
    char err[256];
    PGconn *c = pgpool_connect_blocking(pg_url, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* ------------------------------------------------------------ results */

typedef struct res_s {
    int calls;
    int status;
    char err[256];
    char val[256];
    char sqlstate[8];
    int isnull;
} res_t;

static void on_res(PGresult *res, const char *err, void *ud)
{
    res_t *r = ud;
    r->calls++;
    snprintf(r->err, sizeof r->err, "%s", err ? err : "");
    r->status = res ? (int)PQresultStatus(res) : -1;
    r->val[0] = '\0';
    r->sqlstate[0] = '\0';
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        r->isnull = PQgetisnull(res, 0, 0);
        snprintf(r->val, sizeof r->val, "%s", PQgetvalue(res, 0, 0));
    }
    if (res && PQresultErrorField(res, PG_DIAG_SQLSTATE))
        snprintf(r->sqlstate, sizeof r->sqlstate, "%s", PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

static void query_ok(pgpool_t *p, const char *sql, int n, const char *const *params, res_t *r)
{
    memset(r, 0, sizeof *r);
    cr_assert_eq(pgpool_query(p, sql, n, params, on_res, r), 0);
    run_until(&r->calls, 1, 5000);
    cr_assert_str_eq(r->err, "", "%s: %s", sql, r->err);
}

/* ------------------------------------------------------------ tests */

static struct {
    int want[256];
    int calls, bad;
} M;

static void on_many(PGresult *res, const char *err, void *ud)
{
    const int *want = ud;
    if (err || PQresultStatus(res) != PGRES_TUPLES_OK || atoi(PQgetvalue(res, 0, 0)) != *want + 1)
        M.bad++;
    M.calls++;
}

Test(pgpool, many_concurrent_queries)
{
    pgpool_t *p = pool(4, 1000, 5000);
    char buf[256][12];
    memset(&M, 0, sizeof M);
    for (int i = 0; i < 256; i++) {
        M.want[i] = i;
        snprintf(buf[i], sizeof buf[i], "%d", i);
        const char *params[] = {buf[i]};
        cr_assert_eq(pgpool_query(p, "SELECT $1::int + 1", 1, params, on_many, &M.want[i]), 0);
    }
    memset(buf, 0, sizeof buf); /* parameters were copied */
    run_until(&M.calls, 256, 8000);
    cr_assert_eq(M.bad, 0, "%d wrong answers", M.bad);
    cr_assert(pgpool_ready(p));
    close_pool(p);
}

Test(pgpool, params_null_and_sql_error)
{
    pgpool_t *p = pool(2, 100, 5000);
    res_t r;
    const char *params[] = {NULL, "zwölf 'quoted' \\ text", "x"};
    query_ok(p, "SELECT $1::text IS NULL", 1, params, &r);
    cr_assert_str_eq(r.val, "t");
    query_ok(p, "SELECT $1::text", 1, params, &r);
    cr_assert(r.isnull);
    query_ok(p, "SELECT $2::text || $3::text, $1::int", 3, params, &r);
    cr_assert_str_eq(r.val, "zwölf 'quoted' \\ textx");

    query_ok(p, "SELECT 1/0", 0, NULL, &r);
    cr_assert_eq(r.status, PGRES_FATAL_ERROR, "SQL errors come as a result");
    cr_assert_str_eq(r.sqlstate, "22012");
    query_ok(p, "SELEC nonsense", 0, NULL, &r);
    cr_assert_str_eq(r.sqlstate, "42601");
    query_ok(p, "SELECT 'still fine'", 0, NULL, &r);
    cr_assert_str_eq(r.val, "still fine");

    cr_assert_eq(pgpool_query(p, NULL, 0, NULL, on_res, &r), PGPOOL_EINVAL);
    cr_assert_eq(pgpool_query(p, "SELECT 1", 1, NULL, on_res, &r), PGPOOL_EINVAL);
    close_pool(p);
}

typedef struct txs_s {
    pgtx_t *tx;
    int begun;
    char err[256];
} txs_t;

static void on_begin(pgtx_t *tx, const char *err, void *ud)
{
    txs_t *t = ud;
    t->tx = tx;
    t->begun++;
    snprintf(t->err, sizeof t->err, "%s", err ? err : "");
}

static pgtx_t *begin(pgpool_t *p)
{
    txs_t t = {0};
    cr_assert_eq(pgpool_begin(p, on_begin, &t), 0);
    run_until(&t.begun, 1, 5000);
    cr_assert_not_null(t.tx, "begin failed: %s", t.err);
    return t.tx;
}

static void tx_ok(pgtx_t *tx, const char *sql, res_t *r)
{
    memset(r, 0, sizeof *r);
    cr_assert_eq(pgtx_query(tx, sql, 0, NULL, on_res, r), 0);
    run_until(&r->calls, 1, 5000);
    cr_assert_str_eq(r->err, "", "%s: %s", sql, r->err);
}

static const char *count_sql(void)
{
    static char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return sql;
}

Test(pgpool, transactions)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (v int)", table, table);
    exec_blocking(sql);
    pgpool_t *p = pool(2, 100, 5000);
    res_t r, c;

    pgtx_t *tx = begin(p);
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (1)", table);
    tx_ok(tx, sql, &r);
    cr_assert_eq(r.status, PGRES_COMMAND_OK);
    query_ok(p, count_sql(), 0, NULL, &r); /* the other connection */
    cr_assert_str_eq(r.val, "0", "not visible before commit");
    memset(&c, 0, sizeof c);
    pgtx_commit(tx, on_res, &c);
    run_until(&c.calls, 1, 5000);
    cr_assert_str_eq(c.err, "");
    query_ok(p, count_sql(), 0, NULL, &r);
    cr_assert_str_eq(r.val, "1", "visible after commit");

    /* Queries queued on a tx run in order, rollback discards them. */
    tx = begin(p);
    res_t q1 = {0}, q2 = {0};
    cr_assert_eq(pgtx_query(tx, sql, 0, NULL, on_res, &q1), 0);
    cr_assert_eq(pgtx_query(tx, sql, 0, NULL, on_res, &q2), 0);
    memset(&c, 0, sizeof c);
    pgtx_rollback(tx, on_res, &c);
    run_until(&c.calls, 1, 5000);
    cr_assert(q1.calls == 1 && q2.calls == 1 && c.err[0] == '\0');
    query_ok(p, count_sql(), 0, NULL, &r);
    cr_assert_str_eq(r.val, "1", "rolled back");

    /* A failed statement aborts the tx: commit reports it. */
    tx = begin(p);
    tx_ok(tx, "SELECT 1/0", &r);
    cr_assert_eq(r.status, PGRES_FATAL_ERROR);
    memset(&c, 0, sizeof c);
    pgtx_commit(tx, on_res, &c);
    run_until(&c.calls, 1, 5000);
    cr_assert_str_eq(c.err, "transaction aborted: rolled back");

    /* Commit without a callback. */
    tx = begin(p);
    tx_ok(tx, sql, &r);
    pgtx_commit(tx, NULL, NULL);
    /* It lands on its own connection: counted once it did (bounded). */
    for (int i = 0; i < 600; i++) {
        query_ok(p, count_sql(), 0, NULL, &r);
        if (strcmp(r.val, "2") == 0)
            break;
        run_for(50);
    }
    cr_assert_str_eq(r.val, "2", "a commit without a callback never landed");

    close_pool(p);
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    exec_blocking(sql);
}

Test(pgpool, queue_limit)
{
    pgpool_t *p = pool(1, 5, 5000);
    res_t r[6];
    memset(r, 0, sizeof r);
    /* Nothing is connected before the loop ran: all of them wait. */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pgpool_query(p, "SELECT 1", 0, NULL, on_res, &r[i]), 0);
    cr_assert_eq(pgpool_query(p, "SELECT 1", 0, NULL, on_res, &r[5]), PGPOOL_EBUSY);
    cr_assert_eq(pgpool_begin(p, on_begin, NULL), PGPOOL_EBUSY);
    run_until(&r[4].calls, 1, 5000);
    for (int i = 0; i < 5; i++)
        cr_assert(r[i].calls == 1 && strcmp(r[i].val, "1") == 0);
    cr_assert_eq(r[5].calls, 0);
    close_pool(p);
}

Test(pgpool, database_down_fails_fast)
{
    char url[128];
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/postgres", ts_free_port());
    pgpool_config_t cfg = {.conninfo = url, .size = 2};
    pgpool_t *p;
    cr_assert_eq(pgpool_create(&p, &loop, &cfg), 0);
    res_t r = {0};
    txs_t t = {0};
    cr_assert_eq(pgpool_query(p, "SELECT 1", 0, NULL, on_res, &r), 0);
    cr_assert_eq(pgpool_begin(p, on_begin, &t), 0);
    run_until(&r.calls, 1, 3000);
    run_until(&t.begun, 1, 1000);
    cr_assert_str_eq(r.err, "database unavailable");
    cr_assert_eq(r.status, -1, "no result");
    cr_assert_null(t.tx);
    cr_assert_str_eq(t.err, "database unavailable");
    cr_assert_not(pgpool_ready(p));
    cr_assert_eq(pgpool_query(p, "SELECT 1", 0, NULL, on_res, &r), PGPOOL_EDOWN);
    cr_assert_eq(pgpool_begin(p, on_begin, &t), PGPOOL_EDOWN);
    run_for(300); /* a few reconnect attempts */
    cr_assert_eq(r.calls, 1);
    close_pool(p);
}

/* 1 once the backend arg (a pid) runs a pg_sleep: the query is in flight. */
static int backend_sleeping(const void *arg)
{
    char sql[320], err[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active' AND query LIKE 'SELECT pg_sleep%%'",
             (const char *)arg);
    PGconn *c = pgpool_connect_blocking(pg_url, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    PGresult *r = PQexec(c, sql);
    int busy = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    PQclear(r);
    PQfinish(c);
    return busy;
}

static int not_ready(const void *p)
{
    return !pgpool_ready(p);
}

/* The pool's single connection after its backend was killed: the loss is
 * noticed (not ready), then the pool reconnects. */
static void wait_reconnected(pgpool_t *p)
{
    tl_poll_until(not_ready, p, "the pool noticed its backend was killed");
    tl_run_until_pred(is_ready, p, 0, "reconnected");
}

static void backend_pid(pgpool_t *p, char *pid, size_t n)
{
    res_t r;
    query_ok(p, "SELECT pg_backend_pid()", 0, NULL, &r);
    snprintf(pid, n, "%s", r.val);
}

static void terminate(const char *pid)
{
    char sql[320];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
    exec_blocking(sql);
}

Test(pgpool, reconnects_after_backend_killed)
{
    pgpool_t *p = pool(1, 100, 5000);
    char pid1[256], pid2[256], pid3[256];
    backend_pid(p, pid1, sizeof pid1);

    /* Idle connection killed: noticed, reconnected. */
    terminate(pid1);
    wait_reconnected(p);
    backend_pid(p, pid2, sizeof pid2);
    cr_assert_str_neq(pid1, pid2);

    /* Killed during a query (it would run a minute): that query fails,
     * later ones work. */
    res_t slow = {0};
    cr_assert_eq(pgpool_query(p, "SELECT pg_sleep(60)", 0, NULL, on_res, &slow), 0);
    res_t queued = {0};
    cr_assert_eq(pgpool_query(p, "SELECT 'after'", 0, NULL, on_res, &queued), 0);
    tl_poll_until(backend_sleeping, pid2, "the query running on its backend");
    terminate(pid2);
    run_until(&slow.calls, 1, 3000);
    cr_assert_str_eq(slow.err, "database connection lost");
    run_until(&queued.calls, 1, 3000);
    cr_assert_str_eq(queued.err, "", "a queued query waits for the reconnect");
    cr_assert_str_eq(queued.val, "after");

    /* Killed inside a transaction: the tx fails; ending it still works. */
    pgtx_t *tx = begin(p);
    res_t r;
    tx_ok(tx, "SELECT pg_backend_pid()", &r);
    snprintf(pid3, sizeof pid3, "%s", r.val);
    res_t q = {0};
    cr_assert_eq(pgtx_query(tx, "SELECT pg_sleep(60)", 0, NULL, on_res, &q), 0);
    tl_poll_until(backend_sleeping, pid3, "the transaction's query running on its backend");
    terminate(pid3);
    run_until(&q.calls, 1, 3000);
    cr_assert_str_eq(q.err, "database connection lost");
    cr_assert_eq(pgtx_query(tx, "SELECT 1", 0, NULL, on_res, &q), PGPOOL_EDOWN);
    res_t c = {0};
    pgtx_rollback(tx, on_res, &c);
    cr_assert_eq(c.calls, 0, "never from inside the call");
    run_until(&c.calls, 1, 1000);
    cr_assert_str_eq(c.err, "database connection lost");
    query_ok(p, "SELECT 2", 0, NULL, &r);
    cr_assert_str_eq(r.val, "2");
    close_pool(p);
}

Test(pgpool, query_timeout)
{
    pgpool_t *p = pool(1, 100, 300);
    res_t r = {0};
    query_ok(p, "SHOW statement_timeout", 0, NULL, &r);
    cr_assert_str_eq(r.val, "300ms", "enforced by the server");
    memset(&r, 0, sizeof r);
    cr_assert_eq(pgpool_query(p, "SELECT pg_sleep(3)", 0, NULL, on_res, &r), 0);
    run_until(&r.calls, 1, 2500);
    cr_assert_str_eq(r.err, "database query timed out");
    query_ok(p, "SELECT 'next'", 0, NULL, &r);
    cr_assert_str_eq(r.val, "next");
    close_pool(p);
}

Test(pgpool, close_with_work_pending)
{
    pgpool_t *p = pool(2, 1000, 5000);
    pgtx_t *tx = begin(p);
    res_t r[50];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(pgpool_query(p, "SELECT pg_sleep(0.2)", 0, NULL, on_res, &r[i]), 0);
    res_t tq = {0};
    cr_assert_eq(pgtx_query(tx, "SELECT pg_sleep(1)", 0, NULL, on_res, &tq), 0);
    run_for(50);
    int closed = 0;
    pgpool_close(p, on_closed, &closed);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(r[i].calls, 1, "query %d failed at close", i);
        cr_assert_str_eq(r[i].err, "pool closing");
    }
    cr_assert_eq(tq.calls, 1);
    cr_assert_str_eq(tq.err, "pool closing");
    cr_assert_eq(pgpool_query(p, "SELECT 1", 0, NULL, on_res, &r[0]), PGPOOL_EDOWN);
    run_for(50);
    cr_assert_eq(closed, 0, "waits until the caller ended its transaction");
    res_t c = {0};
    pgtx_rollback(tx, on_res, &c);
    run_until(&closed, 1, 2000);
    cr_assert_eq(c.calls, 1);
    cr_assert_str_eq(c.err, "pool closing");
}

/* Closing from inside a callback: the pool must not touch freed memory
 * afterwards, and everything still pending fails exactly once. */
static pgpool_t *closing_pool;
static int cb_closed;
static void on_close_from_cb(PGresult *res, const char *err, void *ud)
{
    on_res(res, err, ud);
    if (closing_pool) {
        pgpool_t *p = closing_pool;
        closing_pool = NULL;
        pgpool_close(p, on_closed, &cb_closed);
    }
}

Test(pgpool, close_from_inside_a_callback)
{
    pgpool_t *p = pool(2, 100, 5000);
    res_t r;
    query_ok(p, "SELECT 1", 0, NULL, &r); /* connected */
    res_t rs[10];
    memset(rs, 0, sizeof rs);
    closing_pool = p;
    cb_closed = 0;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(pgpool_query(p, "SELECT 1", 0, NULL, on_close_from_cb, &rs[i]), 0);
    run_until(&cb_closed, 1, 3000);
    int ok = 0, closing = 0;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(rs[i].calls, 1, "query %d", i);
        ok += rs[i].err[0] == '\0';
        closing += strcmp(rs[i].err, "pool closing") == 0;
    }
    cr_assert(ok >= 1 && ok + closing == 10, "%d ok, %d closing", ok, closing);
}

/* Queries are prepared once per connection and the plan reused: the same
 * SQL many times leaves one prepared statement; a new SQL adds one; bad SQL
 * still answers its error; after a reconnect statements are prepared anew. */
Test(pgpool, prepared_statements_per_connection)
{
    pgpool_t *p = pool(1, 100, 5000);
    res_t r;
    static const char count_sql[] = "SELECT count(*) FROM pg_prepared_statements WHERE name ~ '^s[0-9]+$'";
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *params[] = {v};
        query_ok(p, "SELECT $1::int * 2", 1, params, &r);
        cr_assert_eq(atoi(r.val), i * 2);
    }
    query_ok(p, count_sql, 0, NULL, &r);
    cr_assert_str_eq(r.val, "2", "one statement for the repeated query, one for the count");
    query_ok(p, count_sql, 0, NULL, &r);
    cr_assert_str_eq(r.val, "2", "the count query itself is reused");

    /* Bad SQL: the preparation fails and that is the query's answer. */
    memset(&r, 0, sizeof r);
    cr_assert_eq(pgpool_query(p, "SELEC 1", 0, NULL, on_res, &r), 0);
    run_until(&r.calls, 1, 3000);
    cr_assert_eq(r.status, PGRES_FATAL_ERROR);
    cr_assert_str_eq(r.sqlstate, "42601");
    query_ok(p, "SELECT $1::int * 2", 1, (const char *const[]){"21"}, &r);
    cr_assert_str_eq(r.val, "42", "the connection still serves prepared queries");

    /* A new connection has none: they are prepared again. */
    char pid[256];
    backend_pid(p, pid, sizeof pid);
    terminate(pid);
    wait_reconnected(p);
    query_ok(p, "SELECT $1::int * 2", 1, (const char *const[]){"5"}, &r);
    cr_assert_str_eq(r.val, "10");
    query_ok(p, count_sql, 0, NULL, &r);
    cr_assert_str_eq(r.val, "2", "the repeated query's and the count's, prepared on the new connection");
    close_pool(p);
}

/* pgtx_query_unprepared runs its SQL with its parameters but never as a
 * prepared statement (PostgreSQL plans it at each run); the same SQL
 * through pgtx_query on the same connection is prepared. */
Test(pgpool, unprepared_query_in_a_transaction)
{
    pgpool_t *p = pool(1, 100, 5000);
    static const char sql[] = "SELECT $1::int * 3 AS unprepared_probe";
    /* the pattern does not match the count's own text */
    static const char count_sql[] = "SELECT count(*) FROM pg_prepared_statements WHERE statement ~ 'unprepared_[p]robe'";
    res_t r;
    pgtx_t *tx = begin(p);
    for (int i = 0; i < 3; i++) {
        memset(&r, 0, sizeof r);
        cr_assert_eq(pgtx_query_unprepared(tx, sql, 1, (const char *const[]){"7"}, on_res, &r), 0);
        run_until(&r.calls, 1, 5000);
        cr_assert_str_eq(r.err, "", "%s", r.err);
        cr_assert_str_eq(r.val, "21");
    }
    tx_ok(tx, count_sql, &r);
    cr_assert_str_eq(r.val, "0", "an unprepared query left a prepared statement");
    memset(&r, 0, sizeof r);
    cr_assert_eq(pgtx_query(tx, sql, 1, (const char *const[]){"7"}, on_res, &r), 0);
    run_until(&r.calls, 1, 5000);
    cr_assert_str_eq(r.val, "21");
    tx_ok(tx, count_sql, &r);
    cr_assert_str_eq(r.val, "1", "pgtx_query prepares it");
    res_t c = {0};
    pgtx_commit(tx, on_res, &c);
    run_until(&c.calls, 1, 5000);
    cr_assert_str_eq(c.err, "");
    close_pool(p);
}
