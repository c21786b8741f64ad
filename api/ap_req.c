/* ap_req: see ap_req.h. */
#include "ap_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ap_input.h"
#include "clock.h"
#include "httpresp.h"
#include "jsontext.h"
#include "log.h"
#include "testhook.h"

/* ---- finishing ---- */

static void req_free(ap_req_t *r)
{
    if (r->tx) /* a transaction still open means the handler failed */
        pgtx_rollback(r->tx, NULL, NULL);
    json_decref(r->body);
    json_decref(r->out);
    if (r->redis_val) {
        secret_wipe(r->redis_val);
        free(r->redis_val);
    }
    if (r->ext_free)
        r->ext_free(r->ext);
    ap_pub_free(r->pub);
    sodium_memzero(r->token, sizeof r->token);
    free(r);
}

/* Every answer of the API is a workspace's data or about it: a browser
 * (the dashboard) or a proxy must not keep it once the page is gone. */
static void no_store(ap_req_t *r)
{
    httpd_resp_header(r->req, "Cache-Control", "no-store");
}

void ap_ok(ap_req_t *r, int status, json_t *body)
{
    no_store(r);
    httpresp_json(r->req, status, body);
    req_free(r);
}

void ap_no_content(ap_req_t *r)
{
    no_store(r);
    httpd_respond(r->req, 204, NULL, NULL, 0);
    req_free(r);
}

void ap_stream_finish(ap_req_t *r, int complete)
{
    if (complete)
        httpd_stream_end(r->req);
    else
        httpd_stream_cut(r->req);
    req_free(r);
}

void ap_fail(ap_req_t *r, int status, const char *detail, const char *field)
{
    if (status == 401)
        httpd_resp_header(r->req, "WWW-Authenticate", "Bearer realm=\"jsmcp\"");
    no_store(r);
    httpresp_problem(r->req, status, detail, field);
    req_free(r);
}

void ap_fail_ex(ap_req_t *r, int status, const char *detail, const char *field, json_t *extra)
{
    no_store(r);
    httpresp_problem_ex(r->req, status, detail, field, extra);
    req_free(r);
}

int ap_res_ok(const PGresult *res)
{
    if (!res)
        return 0;
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int ap_db_status(ap_req_t *r, PGresult *res, const char *err, const char *conflict_detail, const char **detail,
                 const char **field)
{
    static const char down[] = "the database is unavailable; nothing was written, try again";
    metrics_inc(r->app->metrics, "jsmcp_api_db_errors_total", "", 1);
    *field = NULL;
    if (!res) {
        LOG_WARN("api", "database unavailable", "err", err ? err : "", "request_id", httpd_req_id(r->req), NULL);
        /* A statement sent on a connection that then died (or timed out)
         * may have committed: say so rather than promise nothing changed. */
        int sent = err && (strcmp(err, "database connection lost") == 0 || strcmp(err, "database query timed out") == 0);
        *detail = sent ? "the database connection was lost during the request: the change may or may not have "
                         "been applied; read the record before retrying"
                       : down;
        return 503;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "23505") == 0 && conflict_detail) {
        *detail = conflict_detail;
        *field = r->conflict_field;
        return 409;
    }
    /* 08xxx connection errors and 57P0x shutdowns are outages, not bugs. */
    if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)) {
        *detail = down;
        return 503;
    }
    LOG_ERROR("api", "query failed", "sqlstate", state ? state : "", "err", PQresultErrorMessage(res),
              "request_id", httpd_req_id(r->req), NULL);
    *detail = "internal error; nothing was written";
    return 500;
}

void ap_fail_db(ap_req_t *r, PGresult *res, const char *err, const char *conflict_detail)
{
    const char *detail, *field;
    int status = ap_db_status(r, res, err, conflict_detail, &detail, &field);
    ap_fail(r, status, detail, field);
}

void ap_fail_redis(ap_req_t *r, const char *err)
{
    metrics_inc(r->app->metrics, "jsmcp_api_redis_errors_total", "", 1);
    LOG_WARN("api", "redis unavailable", "err", err ? err : "", "request_id", httpd_req_id(r->req), NULL);
    ap_fail(r, 503, "Redis is unavailable; nothing was written, try again", NULL);
}

int ap_res_one(ap_req_t *r, PGresult *res, const char *err, const char *conflict_detail, const char *notfound)
{
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, conflict_detail);
        return -1;
    }
    if (PQntuples(res) != 1) {
        ap_fail(r, 404, notfound, NULL);
        return -1;
    }
    return 0;
}

json_t *ap_res_json(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, NULL);
}

/* ---- queries ---- */

const char *ap_param(const ap_req_t *r, const char *name)
{
    const char *v = router_param(&r->params, name);
    return v ? v : "";
}

/* ---- the actor of a write (migration 023, the admin audit trail) ----
 * Every write transaction of a request first sets jsmcp.actor for that
 * transaction only; the triggers of migration 023 read it into the event
 * they write. A write route's single statement (ap_query) therefore runs in
 * its own transaction: BEGIN, the actor, the statement, COMMIT, and only then
 * the handler's callback, with a copy of the statement's result. */

static int is_write(const ap_req_t *r)
{
    return r->route && strcmp(r->route->method, "GET") != 0 && strcmp(r->route->method, "HEAD") != 0;
}

static void on_actor_set(PGresult *res, const char *err, void *ud)
{
    (void)res; /* a failure here fails the statements queued after it */
    (void)err;
    (void)ud;
}

static void set_actor(ap_req_t *r, pgtx_t *tx)
{
    const char *ip = httpd_req_remote(r->req);
    json_t *a = json_pack("{s:s?, s:s?, s:s?, s:s?}", "key_id", r->key_id[0] ? r->key_id : NULL, "key_prefix",
                          r->key_prefix[0] ? r->key_prefix : NULL, "client_ip", ip && *ip ? ip : NULL, "route",
                          r->route ? r->route->name : NULL);
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    const char *p[1] = {text ? text : "{}"};
    pgtx_query(tx, "SELECT set_config('jsmcp.actor', $1, true)", 1, p, on_actor_set, NULL);
    free(text);
    json_decref(a);
}

typedef struct write_ctx_s {
    ap_req_t *r;
    pgpool_cb cb;
    char *sql;
    int n;
    char **params;
    pgtx_t *tx;
    PGresult *copy; /* the statement's result, kept across COMMIT */
} write_ctx_t;

static void write_free(write_ctx_t *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->params[i]);
    free(w->params);
    free(w->sql);
    if (w->copy)
        PQclear(w->copy);
    free(w);
}

static void on_write_commit(PGresult *res, const char *err, void *ud)
{
    write_ctx_t *w = ud;
    if (!ap_res_ok(res))
        w->cb(NULL, err ? err : "commit failed", w->r);
    else
        w->cb(w->copy, NULL, w->r);
    write_free(w);
}

static void on_write_stmt(PGresult *res, const char *err, void *ud)
{
    write_ctx_t *w = ud;
    if (!ap_res_ok(res)) { /* answer with the statement's own error, then roll back */
        w->cb(res, err, w->r);
        pgtx_rollback(w->tx, NULL, NULL);
        write_free(w);
        return;
    }
    w->copy = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    if (!w->copy) {
        w->cb(NULL, "out of memory", w->r);
        pgtx_rollback(w->tx, NULL, NULL);
        write_free(w);
        return;
    }
    pgtx_commit(w->tx, on_write_commit, w);
}

static void on_write_begin(pgtx_t *tx, const char *err, void *ud)
{
    write_ctx_t *w = ud;
    if (!tx) {
        w->cb(NULL, err, w->r);
        write_free(w);
        return;
    }
    w->tx = tx;
    w->r->read_ms = clock_now_ms();
    set_actor(w->r, tx);
    if (pgtx_query(tx, w->sql, w->n, (const char *const *)w->params, on_write_stmt, w) != 0) {
        w->cb(NULL, "database connection lost", w->r);
        pgtx_rollback(tx, NULL, NULL);
        write_free(w);
    }
}

void ap_query(ap_req_t *r, const char *sql, int n, const char *const *params, pgpool_cb cb)
{
    r->read_ms = clock_now_ms();
    if (!is_write(r) || r->tx) {
        if (pgpool_query(r->app->db, sql, n, params, cb, r) != 0)
            ap_fail_db(r, NULL, "pool busy or down", NULL);
        return;
    }
    write_ctx_t *w = mem_calloc(1, sizeof *w);
    w->r = r;
    w->cb = cb;
    w->sql = mem_strdup(sql);
    w->n = n;
    w->params = n > 0 ? mem_calloc((size_t)n, sizeof *w->params) : NULL;
    for (int i = 0; i < n; i++)
        w->params[i] = params[i] ? mem_strdup(params[i]) : NULL;
    if (pgpool_begin(r->app->db, on_write_begin, w) != 0) {
        write_free(w);
        ap_fail_db(r, NULL, "pool busy or down", NULL);
    }
}

void ap_txquery(ap_req_t *r, const char *sql, int n, const char *const *params, pgpool_cb cb)
{
    r->read_ms = clock_now_ms();
    if (pgtx_query(r->tx, sql, n, params, cb, r) != 0)
        ap_fail_db(r, NULL, "connection lost", NULL);
}

static void on_one(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        ap_fail(r, 404, r->notfound, NULL);
        return;
    }
    ap_ok(r, 200, ap_res_json(res, 0, 0));
}

void ap_query_one(ap_req_t *r, const char *sql, int n, const char *const *params, const char *notfound)
{
    r->notfound = notfound;
    ap_query(r, sql, n, params, on_one);
}

/* One page of a listing. r->notfound set (ap_query_page_owned): the page
 * is under a parent record that must be the caller's, and the first row's
 * fourth column (owner_ok, ap_req.h) says whether it is; a row with only
 * that marker (its JSON NULL) is an empty page. */
static void on_page(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    ap_page_t pg;
    int owned = r->notfound != NULL;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (owned && (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 3), "t") != 0)) {
        ap_fail(r, 404, r->notfound, NULL);
        return;
    }
    /* The page parameters were validated before the query. */
    if (ap_page_parse(r, &pg) != 0)
        return;
    if (owned && PQgetisnull(res, 0, 0)) {
        ap_ok(r, 200, json_pack("{s[]sn}", "result", "next_cursor"));
        return;
    }
    ap_ok(r, 200, ap_page_result(res, &pg));
}

void ap_query_page(ap_req_t *r, const char *sql, int n, const char *const *params)
{
    r->notfound = NULL; /* a plain page: no owner marker */
    ap_query(r, sql, n, params, on_page);
}

void ap_query_page_owned(ap_req_t *r, const char *sql, int n, const char *const *params, const char *notfound)
{
    r->notfound = notfound;
    ap_query(r, sql, n, params, on_page);
}

/* ---- query parameters ---- */

int ap_qread(const ap_req_t *r, const char *name, char *out, size_t outsz)
{
    int n = httpd_query_param(r->req, name, out, outsz);
    char second[1];
    /* A second occurrence is refused, not ignored: with the first one
     * winning, "outcome=ok&outcome=bogus" was answered 200 as if only "ok"
     * had been sent, the bogus filter unnoticed. */
    int rc = n == -1 ? AP_Q_ABSENT
             : httpd_query_param_nth(r->req, name, 1, second, sizeof second) != -1 ? AP_Q_REPEATED
             : n < 0 ? AP_Q_TOO_LONG
             : n == 0 ? AP_Q_EMPTY
             : !ap_in_utf8_text(out, (size_t)n) ? AP_Q_NOT_TEXT
                                                 : AP_Q_PRESENT;
    if (rc != AP_Q_PRESENT && rc != AP_Q_EMPTY)
        out[0] = 0;
    return rc;
}

int ap_qfail(ap_req_t *r, const char *name, int rc, const char *detail)
{
    char text[200];
    if (rc == AP_Q_REPEATED) {
        snprintf(text, sizeof text, "%s is given more than once; give it once", name);
        detail = text;
    } else if (rc == AP_Q_NOT_TEXT) {
        snprintf(text, sizeof text, "%s must be UTF-8 text without NUL bytes (%%00)", name);
        detail = text;
    }
    ap_fail(r, 400, detail, name);
    return -1;
}

int ap_qparam(ap_req_t *r, const char *name, char *out, size_t outsz, const char *what)
{
    int rc = ap_qread(r, name, out, outsz);
    if (rc >= 0)
        return rc;
    char detail[240];
    snprintf(detail, sizeof detail, "%s must be %s", name, what);
    return ap_qfail(r, name, rc, detail);
}

int ap_qbad(ap_req_t *r, const char *name, const char *what)
{
    char detail[240];
    snprintf(detail, sizeof detail, "%s must be %s", name, what);
    ap_fail(r, 400, detail, name);
    return -1;
}

int ap_qtime(ap_req_t *r, const char *name, char *out, size_t outsz)
{
    int64_t ms;
    static const char what[] = "an RFC 3339 time such as 2026-01-31T00:00:00Z (years 0001 to 9999 in UTC, "
                               "offsets up to 15:59)";
    int rc = ap_qparam(r, name, out, outsz, what);
    if (rc != 1)
        return rc;
    if (clock_parse_iso(out, &ms) != 0)
        return ap_qbad(r, name, what);
    clock_format_iso(ms, 1, out, outsz);
    return 1;
}

/* ---- paging ---- */

int ap_page_parse(ap_req_t *r, ap_page_t *pg)
{
    static const char bad_limit[] = "limit must be a whole number from 1 to 100";
    static const char bad_cursor[] = "next_cursor is not a cursor this API returned";
    char v[256];
    memset(pg, 0, sizeof *pg);
    pg->limit = 20;
    int rc = ap_qread(r, "limit", v, sizeof v);
    if (rc == AP_Q_PRESENT) {
        char *end;
        long l = strtol(v, &end, 10);
        if (*end || l < 1 || l > 100)
            return ap_qfail(r, "limit", rc, bad_limit);
        pg->limit = (int)l;
    } else if (rc != AP_Q_ABSENT) {
        return ap_qfail(r, "limit", rc, bad_limit);
    }
    rc = ap_qread(r, "next_cursor", v, sizeof v);
    if (rc != AP_Q_ABSENT && (rc != AP_Q_PRESENT || ap_cursor_decode(v, pg->after_ts, sizeof pg->after_ts,
                                                                      pg->after_id, sizeof pg->after_id) != 0))
        return ap_qfail(r, "next_cursor", rc, bad_cursor);
    snprintf(pg->limit_plus_one, sizeof pg->limit_plus_one, "%d", pg->limit + 1);
    return 0;
}

const char *ap_page_ts(const ap_page_t *pg)
{
    return pg->after_ts[0] ? pg->after_ts : NULL;
}

const char *ap_page_id(const ap_page_t *pg)
{
    return pg->after_ts[0] ? pg->after_id : NULL;
}

json_t *ap_page_result(const PGresult *res, const ap_page_t *pg)
{
    json_t *list = json_array();
    int rows = PQntuples(res);
    int shown = rows > pg->limit ? pg->limit : rows;
    for (int i = 0; i < shown; i++) {
        json_t *item = ap_res_json(res, i, 0);
        if (item)
            json_array_append_new(list, item);
    }
    json_t *out = json_pack("{so}", "result", list);
    if (rows > pg->limit) {
        char cur[256];
        ap_cursor_encode(PQgetvalue(res, shown - 1, 1), PQgetvalue(res, shown - 1, 2), cur, sizeof cur);
        json_object_set_new(out, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    return out;
}

/* ---- transactions ---- */

typedef void (*ap_next_fn)(ap_req_t *r);

typedef struct begin_ctx_s {
    ap_req_t *r;
    ap_next_fn next;
} begin_ctx_t;

static void on_begin(pgtx_t *tx, const char *err, void *ud)
{
    begin_ctx_t *b = ud;
    ap_req_t *r = b->r;
    ap_next_fn next = b->next;
    free(b);
    if (!tx) {
        ap_fail_db(r, NULL, err, NULL);
        return;
    }
    r->tx = tx;
    set_actor(r, tx);
    next(r);
}

void ap_begin(ap_req_t *r, void (*next)(ap_req_t *r))
{
    begin_ctx_t *b = mem_alloc(sizeof *b);
    b->r = r;
    b->next = next;
    if (pgpool_begin(r->app->db, on_begin, b) != 0) {
        free(b);
        ap_fail_db(r, NULL, "pool busy or down", NULL);
    }
}

int ap_need_redis(ap_req_t *r)
{
    if (rcli_ready(r->app->redis))
        return 0;
    ap_fail_redis(r, "not connected");
    return -1;
}

void ap_begin_write(ap_req_t *r, void (*next)(ap_req_t *r))
{
    if (ap_need_redis(r) == 0)
        ap_begin(r, next);
}

/* The answer of a write that committed: r->out (200, or r->status), or 204
 * when the route had nothing to show. */
static void answer_out(ap_req_t *r)
{
    if (!r->out) {
        ap_no_content(r);
        return;
    }
    json_t *out = r->out;
    r->out = NULL;
    ap_ok(r, r->status ? r->status : 200, out);
}

static void on_commit(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    r->tx = NULL; /* commit ends the transaction whatever its outcome */
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    answer_out(r);
}

void ap_commit_and_answer(ap_req_t *r)
{
    pgtx_t *tx = r->tx;
    pgtx_commit(tx, on_commit, r);
}

static void on_commit_publish(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    r->tx = NULL;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL); /* rolled back: nothing to publish */
        return;
    }
    ap_pub_t *p = r->pub;
    r->pub = NULL;
    ap_publish_and_answer(r, p);
}

void ap_commit_publish_answer(ap_req_t *r)
{
    pgtx_t *tx = r->tx;
    pgtx_commit(tx, on_commit_publish, r);
}

/* ---- publishing what a request committed ---- */

static void on_published_barrier(redisReply *reply, const char *err, void *ud)
{
    (void)reply;
    (void)err;
    answer_out(ud);
}

static void on_request_published(long written, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (written < 0 && r) {
        /* PostgreSQL has the change (and its outbox row): reconcile
         * publishes it. The client is told what was committed. */
        metrics_inc(r->app->metrics, "jsmcp_api_publish_failures_total", "", 1);
        LOG_WARN("publish", "committed, but not yet published to Redis (reconcile will)", "err", err ? err : "",
                 "request_id", httpd_req_id(r->req), NULL);
    }
    /* A write the workers must obey before the client hears back (a DELETE
     * refuses the next call on every worker: wk_cache.h): the keyspace
     * notifications of the records just written go out on the workers'
     * subscription connections, and Redis writes every client's pending
     * output in the same pass (beforeSleep) that sent this reply, but one
     * socket after another: on a busy machine the client could be answered,
     * and call a worker, before Redis wrote that worker's notification. The
     * reply to a PING sent now comes from a later pass, so by then every
     * notification is in the workers' sockets. One round trip per admin
     * write; answered whatever the PING's outcome. */
    const char *ping[1] = {"PING"};
    size_t len[1] = {4};
    if (written > 0 && rcli_command_argv(r->app->redis, on_published_barrier, r, 1, ping, len) == 0)
        return;
    answer_out(r);
}

void ap_publish_and_answer(ap_req_t *r, ap_pub_t *p)
{
    /* Test build only: the publication of a request's write fails as when
     * Redis refuses writes, while reconcile's go on (common/testhook.h). */
    if (th_armed("request_publish_refused")) {
        ap_pub_free(p);
        on_request_published(-1, "refused (test hook request_publish_refused)", r);
        return;
    }
    int rc = ap_pub_send(p, r->app->redis, on_request_published, r);
    if (rc != 0) /* nothing to publish, or Redis gone since the write began */
        on_request_published(rc < 0 ? -1 : 0, "redis unavailable", r);
}

/* ---- request-scoped Redis commands ---- */

typedef struct redis_step_s {
    ap_req_t *r;
    void (*next)(ap_req_t *r);
} redis_step_t;

static void on_redis_step(redisReply *reply, const char *err, void *ud)
{
    redis_step_t *s = ud;
    ap_req_t *r = s->r;
    void (*next)(ap_req_t *r) = s->next;
    free(s);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        ap_fail_redis(r, reply ? reply->str : err);
        return;
    }
    next(r);
}

void ap_redis(ap_req_t *r, void (*next)(ap_req_t *r), int argc, const char **argv)
{
    char key[256];
    const char *av[16];
    size_t avl[16];
    if (argc > 16 || argc < 2) {
        ap_fail(r, 500, "internal error", NULL);
        return;
    }
    rcli_key(r->app->redis, key, sizeof key, "%s", argv[1]);
    for (int i = 0; i < argc; i++) {
        av[i] = i == 1 ? key : argv[i];
        avl[i] = strlen(av[i]);
    }
    redis_step_t *s = mem_alloc(sizeof *s);
    s->r = r;
    s->next = next;
    if (rcli_command_argv(r->app->redis, on_redis_step, s, argc, av, avl) != 0) {
        free(s);
        ap_fail_redis(r, "redis unavailable");
    }
}

/* ---- ids ---- */

void ap_uuid(char *out)
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, AP_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int ap_is_uuid(const char *s)
{
    return ap_in_uuid(s);
}

