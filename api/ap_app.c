/* ap_app: see ap_app.h. */
#include "ap_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ap_audit.h"
#include "ap_calls.h"
#include "ap_delivery.h"
#include "ap_events.h"
#include "ap_input.h"
#include "ap_oauth.h"
#include "ap_publish.h"
#include "ap_reconcile.h"
#include "ap_tools.h"
#include "ap_usage.h"
#include "ap_web.h"
#include "ap_webhooks.h"
#include "buf.h"
#include "cfg.h"
#include "embed.h"
#include "jsontext.h"
#include "log.h"
#include "httpresp.h"
#include "clock.h"

#define AP_MAX_BODY (1024 * 1024)
#define AP_JSON_DEPTH 32

extern const embed_file_t api_embedded[];

/* ---- finishing ---- */

static void req_free(ap_req_t *r)
{
    if (r->tx) /* a transaction still open means the handler failed */
        pgtx_rollback(r->tx, NULL, NULL);
    json_decref(r->body);
    json_decref(r->out);
    if (r->redis_val) {
        ap_wipe(r->redis_val);
        free(r->redis_val);
    }
    if (r->ext_free)
        r->ext_free(r->ext);
    ap_pub_free(r->pub);
    sodium_memzero(r->token, sizeof r->token);
    free(r);
}

void ap_ok(ap_req_t *r, int status, json_t *body)
{
    httpresp_json(r->req, status, body);
    req_free(r);
}

void ap_no_content(ap_req_t *r)
{
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
    httpresp_problem(r->req, status, detail, field);
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

static void on_page(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    ap_page_t pg;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    /* The page parameters were validated before the query. */
    if (ap_page_parse(r, &pg) == 0)
        ap_ok(r, 200, ap_page_result(res, &pg));
}

void ap_query_page(ap_req_t *r, const char *sql, int n, const char *const *params)
{
    ap_query(r, sql, n, params, on_page);
}

static void on_owned_page(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    ap_page_t pg;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
        ap_fail(r, 404, r->notfound, NULL);
        return;
    }
    if (ap_page_parse(r, &pg) != 0)
        return;
    if (PQgetisnull(res, 0, 0)) { /* only the owner marker: an empty page */
        ap_ok(r, 200, json_pack("{s[]sn}", "result", "next_cursor"));
        return;
    }
    ap_ok(r, 200, ap_page_result(res, &pg));
}

void ap_query_page_owned(ap_req_t *r, const char *sql, int n, const char *const *params, const char *notfound)
{
    r->notfound = notfound;
    ap_query(r, sql, n, params, on_owned_page);
}

/* ---- query parameters ---- */

/* Reads query parameter name into out; 0 absent, 1 present, -1 answered 400. */
int ap_qparam(ap_req_t *r, const char *name, char *out, size_t outsz, const char *what)
{
    int n = httpd_query_param(r->req, name, out, outsz);
    if (n == -1) {
        out[0] = 0;
        return 0;
    }
    if (n <= 0) {
        char detail[200];
        snprintf(detail, sizeof detail, "%s must be %s", name, what);
        ap_fail(r, 400, detail, name);
        return -1;
    }
    return 1;
}

int ap_qbad(ap_req_t *r, const char *name, const char *what)
{
    char detail[240];
    snprintf(detail, sizeof detail, "%s must be %s", name, what);
    ap_fail(r, 400, detail, name);
    return -1;
}

/* A time bound: RFC 3339, passed to PostgreSQL as given once it parsed. */
int ap_qtime(ap_req_t *r, const char *name, char *out, size_t outsz)
{
    int64_t ms;
    static const char what[] = "an RFC 3339 time such as 2026-01-31T00:00:00Z";
    int rc = ap_qparam(r, name, out, outsz, what);
    if (rc == 1 && clock_parse_iso(out, &ms) != 0)
        return ap_qbad(r, name, what);
    return rc;
}

/* ---- paging ---- */

int ap_page_parse(ap_req_t *r, ap_page_t *pg)
{
    char v[256];
    memset(pg, 0, sizeof *pg);
    pg->limit = 20;
    int n = httpd_query_param(r->req, "limit", v, sizeof v);
    if (n >= 0) {
        char *end;
        long l = strtol(v, &end, 10);
        if (n == 0 || *end || l < 1 || l > 100) {
            ap_fail(r, 400, "limit must be a whole number from 1 to 100", "limit");
            return -1;
        }
        pg->limit = (int)l;
    } else if (n == -2) {
        ap_fail(r, 400, "limit must be a whole number from 1 to 100", "limit");
        return -1;
    }
    n = httpd_query_param(r->req, "next_cursor", v, sizeof v);
    if (n == -2 || (n >= 0 && ap_cursor_decode(v, pg->after_ts, sizeof pg->after_ts, pg->after_id,
                                               sizeof pg->after_id) != 0)) {
        ap_fail(r, 400, "next_cursor is not a cursor this API returned", "next_cursor");
        return -1;
    }
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

static void on_commit(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    r->tx = NULL; /* commit ends the transaction whatever its outcome */
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (!r->out) {
        ap_no_content(r);
        return;
    }
    json_t *out = r->out;
    r->out = NULL;
    ap_ok(r, r->status ? r->status : 200, out);
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

void ap_wipe(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
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

/* ---- request entry: body, auth, dispatch ---- */

/* Parses the body when the route takes one: 415 without a JSON content
 * type, 400 for bad JSON. Returns 0 to go on, -1 when r was answered. */
static int read_body(ap_req_t *r)
{
    size_t len = 0;
    const char *body = httpd_req_body(r->req, &len);
    const char *m = httpd_req_method(r->req);
    const char *ct = httpd_req_header(r->req, "Content-Type");
    int json_ct = ct && strncasecmp(ct, "application/json", 16) == 0 && (!ct[16] || ct[16] == ';' || ct[16] == ' ');
    if (strcmp(m, "POST") != 0 && strcmp(m, "PATCH") != 0 && strcmp(m, "PUT") != 0) {
        /* Methods without a body: ignore a JSON one, refuse anything else. */
        if (len > 0 && !json_ct) {
            ap_fail(r, 415, "this request takes no body (a body must be JSON with Content-Type: application/json)", NULL);
            return -1;
        }
        return 0;
    }
    if (len == 0 && !ct) {
        r->body = json_object(); /* no body at all is an empty object */
        return 0;
    }
    if (!json_ct) {
        ap_fail(r, 415, "send the body as JSON with Content-Type: application/json", NULL);
        return -1;
    }
    char err[256];
    r->body = jsontext_parse(body ? body : "", len, AP_JSON_DEPTH, err, sizeof err);
    if (!r->body) {
        ap_fail(r, 400, err, NULL);
        return -1;
    }
    if (!json_is_object(r->body)) {
        ap_fail(r, 400, "the body must be a JSON object", "/");
        return -1;
    }
    return 0;
}

/* A read-only key may call GET routes only: every other method changes
 * something. The problem names the key's scope and the one needed. */
static int scope_refused(ap_req_t *r)
{
    const char *m = httpd_req_method(r->req);
    if (!r->key_read_only || strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return 0;
    char detail[256];
    snprintf(detail, sizeof detail,
             "this API key is read-only (scope \"read\"): %s %s needs a key with scope \"full\"", m,
             r->route->pattern);
    json_t *extra = json_pack("{ssss}", "scope", "read", "required_scope", "full");
    httpresp_problem_ex(r->req, 403, detail, NULL, extra);
    req_free(r);
    return -1;
}

static void on_key_lookup(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        ap_fail(r, 401, "unknown or revoked API key", NULL);
        return;
    }
    if (!PQgetisnull(res, 0, 4)) {
        char detail[128];
        snprintf(detail, sizeof detail, "this API key expired at %s; use another key", PQgetvalue(res, 0, 4));
        ap_fail(r, 401, detail, NULL);
        return;
    }
    if (r->route->role == AP_ROLE_BOOTSTRAP) {
        ap_fail(r, 403, "workspaces are managed with the bootstrap key, not a workspace API key", NULL);
        return;
    }
    snprintf(r->ws_id, sizeof r->ws_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(r->key_id, sizeof r->key_id, "%s", PQgetvalue(res, 0, 1));
    snprintf(r->key_prefix, sizeof r->key_prefix, "%s", PQgetvalue(res, 0, 2));
    r->key_read_only = strcmp(PQgetvalue(res, 0, 3), "read") == 0;
    if (scope_refused(r) == 0 && read_body(r) == 0)
        r->route->fn(r);
}

/* Looks the key up by hash and touches last_used_at at most once a minute
 * (not for an expired key), in one round trip. Column 4 is the expiry of
 * an expired key, NULL for a usable one. */
static const char SQL_KEY_LOOKUP[] =
    "WITH k AS (SELECT id, workspace_id, prefix, scope, expires_at, last_used_at,"
    "   expires_at IS NOT NULL AND expires_at <= now() AS expired FROM api_keys WHERE key_hash = $1),"
    " u AS (UPDATE api_keys SET last_used_at = now() WHERE id IN (SELECT id FROM k WHERE NOT expired AND"
    "   (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')))"
    " SELECT workspace_id, id, prefix, scope, CASE WHEN expired THEN " AP_TS("expires_at") " END FROM k";

static void route_entry(httpd_req_t *req, const router_params_t *params, void *ud)
{
    const ap_route_t *route = ud;
    ap_app_t *app = httpd_req_data(req);
    ap_req_t *r = mem_calloc(1, sizeof *r);
    r->app = app;
    r->req = req;
    r->route = route;
    r->params = *params;
    r->expires_ms = -1;

    if (route->role == AP_ROLE_PUBLIC) {
        route->fn(r);
        return;
    }
    const char *auth = httpd_req_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        ap_fail(r, 401, "send Authorization: Bearer <API key>", NULL);
        return;
    }
    const char *key = auth + 7;
    while (*key == ' ')
        key++;
    char hash[SECRET_HASH_HEX_LEN + 1];
    secret_hash_hex(key, strlen(key), hash);
    int is_bootstrap = app->bootstrap_hash[0] && secret_equal(hash, app->bootstrap_hash) == 0;

    if (is_bootstrap) {
        snprintf(r->key_prefix, sizeof r->key_prefix, "bootstrap");
        if (route->role != AP_ROLE_BOOTSTRAP) {
            ap_fail(r, 403, "the bootstrap key only manages workspaces; use a workspace API key", NULL);
            return;
        }
        if (read_body(r) == 0)
            route->fn(r);
        return;
    }
    if (strlen(key) > 256) {
        ap_fail(r, 401, "unknown or revoked API key", NULL);
        return;
    }
    const char *p[1] = {hash};
    if (pgpool_query(app->db, SQL_KEY_LOOKUP, 1, p, on_key_lookup, r) != 0)
        ap_fail_db(r, NULL, "pool busy or down", NULL);
}

/* ---- operational routes ---- */

static void h_healthz(httpd_req_t *req, const router_params_t *p, void *ud)
{
    (void)p;
    (void)ud;
    static const char ok[] = "{\"status\":\"ok\"}";
    httpd_respond(req, 200, "application/json", ok, sizeof ok - 1);
}

static void h_readyz(httpd_req_t *req, const router_params_t *p, void *ud)
{
    ap_app_t *app = httpd_req_data(req);
    (void)p;
    (void)ud;
    int db = pgpool_ready(app->db), rd = rcli_ready(app->redis);
    if (db && rd) {
        static const char ok[] = "{\"status\":\"ready\",\"postgres\":true,\"redis\":true}";
        httpd_respond(req, 200, "application/json", ok, sizeof ok - 1);
        return;
    }
    json_t *extra = json_pack("{sbsb}", "postgres", db, "redis", rd);
    httpresp_problem_ex(req, 503, db ? "Redis is unavailable" : "PostgreSQL is unavailable", NULL, extra);
}

/* GET /metrics, on the metrics listener only: its series name routes and
 * counts, nothing of a tenant, but it is still nobody else's business.
 * With JSMCP_API_METRICS_TOKEN set, a scrape must send it as a bearer. */
static void h_metrics(httpd_req_t *req, const router_params_t *p, void *ud)
{
    ap_app_t *app = ud;
    size_t len;
    (void)p;
    if (app->metrics_token_hash[0]) {
        const char *auth = httpd_req_header(req, "Authorization");
        char hash[SECRET_HASH_HEX_LEN + 1];
        const char *tok = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "";
        secret_hash_hex(tok, strlen(tok), hash);
        if (secret_equal(hash, app->metrics_token_hash) != 0) {
            httpd_resp_header(req, "WWW-Authenticate", "Bearer realm=\"jsmcp-metrics\"");
            httpresp_problem(req, 401, "send Authorization: Bearer <JSMCP_API_METRICS_TOKEN>", NULL);
            return;
        }
    }
    metrics_set(app->metrics, "jsmcp_api_postgres_up", "", pgpool_ready(app->db));
    metrics_set(app->metrics, "jsmcp_api_redis_up", "", rcli_ready(app->redis));
    metrics_set(app->metrics, "jsmcp_api_connections", "", (double)httpd_conn_count(app->http));
    char *text = metrics_render(app->metrics, &len);
    httpd_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static void h_openapi(httpd_req_t *req, const router_params_t *p, void *ud)
{
    (void)p;
    (void)ud;
    const embed_file_t *f = embed_find(api_embedded, "api/openapi.json");
    if (!f) {
        httpresp_problem(req, 404, "this build has no OpenAPI document", NULL);
        return;
    }
    httpd_respond(req, 200, "application/json", f->data, f->len);
}

/* ---- the HTTP server ---- */

static void on_http_request(httpd_req_t *req, void *ud)
{
    ap_app_t *app = ud;
    httpd_req_set_data(req, app);
    router_dispatch(app->router, req);
}

/* Request metrics by route pattern (a bounded label set: the patterns of
 * the route tables, "unmatched" for the rest), method and status. */
static void on_http_complete(httpd_req_t *req, int status, void *ud)
{
    ap_app_t *app = ud;
    char labels[256], route[160], rlabel[192];
    double secs = (double)(uv_hrtime() - httpd_req_start_ns(req)) / 1e9;
    const char *m = httpd_req_method(req);
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL};
    int known = 0;
    for (size_t i = 0; methods[i] && !known; i++)
        known = strcmp(m, methods[i]) == 0;
    metrics_label_escape(httpd_req_route(req) ? httpd_req_route(req) : "unmatched", route, sizeof route);
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"", route, known ? m : "other", status);
    metrics_inc(app->metrics, "jsmcp_api_requests_total", labels, 1);
    snprintf(rlabel, sizeof rlabel, "route=\"%s\"", route);
    metrics_observe(app->metrics, "jsmcp_api_request_duration_seconds", rlabel, secs);
    if (log_min_level <= LOG_LVL_DEBUG) {
        /* The path only: a query may carry an OAuth code or state. */
        char st[16], ms[32];
        snprintf(st, sizeof st, "%d", status);
        snprintf(ms, sizeof ms, "%.1f", secs * 1e3);
        LOG_DEBUG("api", "request", "request_id", httpd_req_id(req), "method", httpd_req_method(req), "path",
                  httpd_req_path(req), "status", st, "ms", ms, NULL);
    }
}

static void add_routes(ap_app_t *app, const ap_route_t *routes)
{
    for (; routes->method; routes++)
        router_add(app->router, routes->method, routes->pattern, route_entry, (void *)routes);
}

/* The metrics listener: GET /metrics and nothing else. */
static void on_metrics_request(httpd_req_t *req, void *ud)
{
    ap_app_t *app = ud;
    router_dispatch(app->metrics_router, req);
}

static int start_metrics_listener(ap_app_t *app)
{
    if (!app->cfg.metrics_on)
        return 0;
    if (app->cfg.metrics_token)
        secret_hash_hex(app->cfg.metrics_token, strlen(app->cfg.metrics_token), app->metrics_token_hash);
    app->metrics_router = router_new();
    router_add(app->metrics_router, "GET", "/metrics", h_metrics, app);
    httpd_config_t hc;
    httpd_config_defaults(&hc);
    hc.host = app->cfg.metrics_host;
    hc.port = app->cfg.metrics_port;
    hc.max_body_bytes = 1024;
    hc.max_conns = 64;
    hc.server_name = "jsmcp-api";
    int rc = httpd_create(&app->metrics_http, app->loop, &hc, on_metrics_request, app);
    if (rc != 0) {
        fprintf(stderr, "jsmcp-api: cannot listen for /metrics on %s:%d (JSMCP_API_METRICS_LISTEN): %s\n",
                app->cfg.metrics_host, app->cfg.metrics_port, uv_strerror(rc));
        return -1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", httpd_port(app->metrics_http));
    LOG_INFO("api", "metrics listening", "host", app->cfg.metrics_host, "port", port, NULL);
    return 0;
}

static int read_config(ap_config_t *c)
{
    cfg_err_t ce = {0};
    cfg_listen("JSMCP_API_LISTEN", "127.0.0.1:8080", c->listen_host, sizeof c->listen_host,
               &c->listen_port, &ce);
    const char *ml = cfg_str("JSMCP_API_METRICS_LISTEN", "127.0.0.1:9463");
    c->metrics_on = strcmp(ml, "off") != 0;
    if (c->metrics_on)
        cfg_listen("JSMCP_API_METRICS_LISTEN", "127.0.0.1:9463", c->metrics_host, sizeof c->metrics_host,
                   &c->metrics_port, &ce);
    c->metrics_token = cfg_str("JSMCP_API_METRICS_TOKEN", NULL);
    if (c->metrics_token && strlen(c->metrics_token) < 16)
        cfg_fail(&ce, "JSMCP_API_METRICS_TOKEN must be at least 16 characters");
    c->database_url = cfg_str("JSMCP_DATABASE_URL", "postgresql:///jsmcp");
    c->redis_url = cfg_str("JSMCP_REDIS_URL", "redis://127.0.0.1:6379/0");
    c->redis_prefix = cfg_str("JSMCP_REDIS_PREFIX", "jsmcp:");
    c->bootstrap_key = cfg_str("JSMCP_BOOTSTRAP_KEY", NULL);
    c->public_worker_url = cfg_str("JSMCP_PUBLIC_WORKER_URL", "http://127.0.0.1:8081");
    c->site_allowlist = cfg_str("JSMCP_SITE_ALLOWLIST", "");
    c->webhook_allowlist = cfg_str("JSMCP_WEBHOOK_ALLOWLIST", "");
    c->pg_pool_size = (int)cfg_int("JSMCP_PG_POOL_SIZE", 8, 1, 128, &ce);
    c->reconcile_interval_ms = (unsigned)cfg_ms("JSMCP_RECONCILE_INTERVAL_MS", 1000, 10, 86400000, &ce);
    c->reconcile_full_interval_ms = (unsigned)cfg_ms("JSMCP_RECONCILE_FULL_INTERVAL_MS", 3600000, 10, 7 * 86400000U, &ce);
    /* Lowered only by tests, to watch expiry without waiting. */
    c->min_lifetime_ms = (int64_t)cfg_ms("JSMCP_MIN_LIFETIME_MS", AP_MIN_LIFETIME_MS, 1000, 86400000, &ce);
    if (c->bootstrap_key && strlen(c->bootstrap_key) < 16)
        cfg_fail(&ce, "JSMCP_BOOTSTRAP_KEY must be at least 16 characters");
    if (ce.n) {
        fprintf(stderr, "jsmcp-api: configuration: %s (%d error%s)\n", ce.msg, ce.n, ce.n > 1 ? "s" : "");
        return -1;
    }
    return 0;
}

int ap_app_init(ap_app_t *app, uv_loop_t *loop)
{
    char err[256];
    memset(app, 0, sizeof *app);
    app->loop = loop;
    if (read_config(&app->cfg) != 0)
        return -1;
    app->keys = secret_keyring_from_env(err, sizeof err);
    if (!app->keys) {
        fprintf(stderr, "jsmcp-api: master keys: %s\n", err);
        return -1;
    }
    if (app->cfg.bootstrap_key)
        secret_hash_hex(app->cfg.bootstrap_key, strlen(app->cfg.bootstrap_key), app->bootstrap_hash);

    app->metrics = metrics_new(4096);
    metrics_describe(app->metrics, "jsmcp_api_requests_total", "counter",
                     "Admin API requests by route pattern, method and status");
    metrics_describe(app->metrics, "jsmcp_api_request_duration_seconds", "histogram",
                     "Admin API request latency by route pattern");
    metrics_describe(app->metrics, "jsmcp_api_db_errors_total", "counter", "Failed PostgreSQL queries");
    metrics_describe(app->metrics, "jsmcp_api_calls_exported_rows_total", "counter",
                     "Tool-call records sent by GET /calls exports (NDJSON, CSV)");
    metrics_describe(app->metrics, "jsmcp_api_redis_errors_total", "counter", "Failed Redis commands");
    metrics_describe(app->metrics, "jsmcp_api_publish_failures_total", "counter",
                     "Committed writes whose publication to Redis failed (reconcile publishes them)");

    pgpool_config_t pc = {.conninfo = app->cfg.database_url, .size = app->cfg.pg_pool_size,
                          .max_queue = 10000, .query_timeout_ms = 10000};
    if (pgpool_create(&app->db, loop, &pc) != 0) {
        fprintf(stderr, "jsmcp-api: cannot create the PostgreSQL pool\n");
        return -1;
    }
    rcli_config_t rc = {.url = app->cfg.redis_url, .prefix = app->cfg.redis_prefix};
    if (rcli_create(&app->redis, loop, &rc) != 0) {
        fprintf(stderr, "jsmcp-api: bad JSMCP_REDIS_URL\n");
        return -1;
    }

    app->router = router_new();
    router_add(app->router, "GET", "/healthz", h_healthz, NULL);
    router_add(app->router, "GET", "/readyz", h_readyz, NULL);
    router_add(app->router, "GET", "/openapi.json", h_openapi, NULL);
    add_routes(app, ap_workspace_routes);
    add_routes(app, ap_key_routes);
    add_routes(app, ap_account_routes);
    add_routes(app, ap_server_routes);
    add_routes(app, ap_oauth_routes);
    add_routes(app, ap_calls_routes);
    add_routes(app, ap_usage_routes);
    add_routes(app, ap_events_routes);
    add_routes(app, ap_webhook_routes);
    ap_web_add_routes(app->router);
    add_routes(app, ap_tools_routes);

    httpd_config_t hc;
    httpd_config_defaults(&hc);
    hc.host = app->cfg.listen_host;
    hc.port = app->cfg.listen_port;
    hc.max_body_bytes = AP_MAX_BODY;
    hc.server_name = "jsmcp-api";
    hc.on_complete = on_http_complete;
    int rc2 = httpd_create(&app->http, loop, &hc, on_http_request, app);
    if (rc2 != 0) {
        fprintf(stderr, "jsmcp-api: cannot listen on %s:%d: %s\n", app->cfg.listen_host,
                app->cfg.listen_port, uv_strerror(rc2));
        return -1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", httpd_port(app->http));
    LOG_INFO("api", "listening", "host", app->cfg.listen_host, "port", port, NULL);
    if (start_metrics_listener(app) != 0)
        return -1;
    ap_reconcile_start(app);
    if (ap_audit_start(app) != 0 || ap_delivery_start(app) != 0)
        return -1;
    return ap_oauth_start(app);
}

/* ---- shutdown: http, then webhook deliveries, oauth refresher, audit drain, reconcile timer, db, redis ---- */

typedef struct close_ctx_s {
    ap_app_t *app;
    void (*done)(void *arg);
    void *arg;
} close_ctx_t;

static void on_redis_closed(void *arg)
{
    close_ctx_t *c = arg;
    ap_app_t *app = c->app;
    router_free(app->router);
    if (app->metrics_router)
        router_free(app->metrics_router);
    ap_tools_free();
    metrics_free(app->metrics);
    secret_keyring_free(app->keys);
    c->done(c->arg);
    free(c);
}

/* The database goes first: a query it fails while closing may still send
 * a Redis command from its callback (e.g. undoing a published key). */
static void on_db_closed(void *arg)
{
    close_ctx_t *c = arg;
    rcli_close(c->app->redis, on_redis_closed, c);
}

static void on_publish_stopped(void *arg)
{
    close_ctx_t *c = arg;
    pgpool_close(c->app->db, on_db_closed, c);
}

static void on_audit_stopped(void *arg)
{
    close_ctx_t *c = arg;
    ap_reconcile_stop(c->app, on_publish_stopped, c);
}

static void on_oauth_stopped(void *arg)
{
    ap_audit_stop(on_audit_stopped, arg);
}

static void on_delivery_stopped(void *arg)
{
    close_ctx_t *c = arg;
    ap_oauth_stop(c->app, on_oauth_stopped, c);
}

static void on_http_closed(void *arg)
{
    ap_delivery_stop(on_delivery_stopped, arg);
}

static void on_metrics_http_closed(void *arg)
{
    close_ctx_t *c = arg;
    httpd_close(c->app->http, on_http_closed, c);
}

void ap_app_close(ap_app_t *app, void (*done)(void *arg), void *arg)
{
    close_ctx_t *c = mem_alloc(sizeof *c);
    c->app = app;
    c->done = done;
    c->arg = arg;
    app->closing = 1;
    if (app->metrics_http)
        httpd_close(app->metrics_http, on_metrics_http_closed, c);
    else
        httpd_close(app->http, on_http_closed, c);
}
