/* ap_req: the admin API's shared handles (configuration, PostgreSQL pool,
 * Redis, keyring, metrics) and the per-request context that every route
 * handler works on, with the helpers that answer, query, page and commit
 * for a request. Every route module and background subsystem of the API
 * builds on this; it knows none of them (ap_app.c, the top, wires them up).
 *
 * Request flow: httpd -> router -> ap_app's route entry (auth: bootstrap
 * key or workspace API key looked up by hash) -> the route's handler with
 * an ap_req_t. The handler chains async callbacks (pgpool, rcli) on that
 * one context and ends with exactly one of ap_ok(), ap_fail(),
 * ap_fail_db(), ap_no_content(), ap_stream_finish(): they answer and free
 * the context. Nothing else frees it.
 *
 * Callbacks: like common/, nothing here calls back before the call that
 * was given the callback returns (a refusal is answered at once and the
 * callback never runs).
 */
#ifndef JSMCP_AP_REQ_H
#define JSMCP_AP_REQ_H

#include <jansson.h>
#include <stdint.h>

#include "ap_publish.h"
#include "httpd.h"
#include "metrics.h"
#include "pgpool.h"
#include "rcli.h"
#include "router.h"
#include "secret.h"

#define AP_UUID_LEN 36
#define AP_MAX_ALLOW 16

typedef struct ap_config_s {
    char listen_host[64];
    int listen_port;
    char metrics_host[64];           /* JSMCP_API_METRICS_LISTEN: GET /metrics, never the public listener */
    int metrics_port;
    int metrics_on;                  /* 0: JSMCP_API_METRICS_LISTEN=off */
    const char *metrics_token;       /* JSMCP_API_METRICS_TOKEN: NULL = the metrics listener needs none */
    const char *database_url;
    const char *redis_url;
    const char *redis_prefix;
    const char *bootstrap_key;       /* NULL: no bootstrap access */
    const char *public_worker_url;
    const char *site_allowlist;      /* "host:port,host2" */
    const char *webhook_allowlist;   /* JSMCP_WEBHOOK_ALLOWLIST: receivers exempt from the SSRF guard */
    int pg_pool_size;
    unsigned reconcile_interval_ms;      /* incremental passes (the outbox) */
    unsigned reconcile_hint_gap_ms;      /* least time between passes started by NOTIFY hints */
    unsigned reconcile_full_interval_ms; /* full passes (every row against Redis) */
    int64_t min_lifetime_ms;             /* shortest expires_at lifetime of a server or API key */
} ap_config_t;


typedef struct ap_app_s {
    uv_loop_t *loop;
    ap_config_t cfg;
    pgpool_t *db;
    rcli_t *redis;
    secret_keyring_t *keys;
    metrics_t *metrics;
    router_t *router;
    httpd_t *http;
    router_t *metrics_router;
    httpd_t *metrics_http;         /* the metrics listener, NULL when off */
    char metrics_token_hash[SECRET_HASH_HEX_LEN + 1];
    char bootstrap_hash[SECRET_HASH_HEX_LEN + 1];
    int closing;
} ap_app_t;

/* AP_ROLE_PUBLIC: no key at all (the OAuth callback, authenticated by its state). */
enum ap_role { AP_ROLE_NONE = 0, AP_ROLE_BOOTSTRAP, AP_ROLE_WORKSPACE, AP_ROLE_PUBLIC };

typedef struct ap_req_s ap_req_t;
typedef void (*ap_handler_fn)(ap_req_t *r);

/* One route: which key it needs and its handler. */
typedef struct ap_route_s {
    const char *method;
    const char *pattern;
    enum ap_role role;     /* AP_ROLE_BOOTSTRAP or AP_ROLE_WORKSPACE */
    ap_handler_fn fn;
    const char *name;      /* metrics label */
} ap_route_t;

/* The context of one admin request: everything the handler's callbacks
 * need, freed once by ap_ok/ap_fail*. */
struct ap_req_s {
    ap_app_t *app;
    httpd_req_t *req;
    const ap_route_t *route;
    router_params_t params;
    char ws_id[AP_UUID_LEN + 1];   /* the caller's workspace (workspace keys) */
    char key_id[AP_UUID_LEN + 1];  /* the caller's API key ("" for the bootstrap key) */
    char key_prefix[16];           /* its first characters, as listings show them */
    int key_read_only;             /* scope "read": only GET routes */
    json_t *body;                  /* parsed request body, NULL when none */
    pgtx_t *tx;                    /* open transaction, rolled back on failure */
    /* handler scratch, released with the context */
    json_t *out;                   /* the response being built */
    char *redis_val;               /* value to publish */
    char id[AP_UUID_LEN + 1];
    char hash[SECRET_HASH_HEX_LEN + 1];
    char token[64];                /* a new secret: returned once, never logged */
    int64_t expires_ms;            /* -1 = none */
    int64_t read_ms;               /* when the last query was sent (ap_publish.h: read_ms) */
    ap_pub_t *pub;                 /* records to publish once committed (ap_commit_publish_answer) */
    int status;                    /* status to answer on success */
    const char *notfound;          /* 404 detail of ap_query_one */
    const char *conflict_field;    /* the field a 409 from a unique violation names */
    void *ext;                     /* handler-specific state, released by ext_free */
    void (*ext_free)(void *ext);
};

/* ---- finishing a request (each answers and frees r) ---- */
void ap_ok(ap_req_t *r, int status, json_t *body);  /* steals body */
void ap_no_content(ap_req_t *r);
void ap_fail(ap_req_t *r, int status, const char *detail, const char *field);
/* Finishes a request that streams its answer (httpd_stream_begin):
 * complete, or cut short (the client sees the body end early). */
void ap_stream_finish(ap_req_t *r, int complete);
/* A failed query: 503 when the database is unreachable, 409 for unique
 * violations (conflict_detail), 500 otherwise. */
void ap_fail_db(ap_req_t *r, PGresult *res, const char *err, const char *conflict_detail);
/* The status, detail and field ap_fail_db would answer (logged and counted). */
int ap_db_status(ap_req_t *r, PGresult *res, const char *err, const char *conflict_detail, const char **detail,
                 const char **field);
/* 503 for Redis. */
void ap_fail_redis(ap_req_t *r, const char *err);

/* For a write or read that must hit exactly one row: 0 when res is that
 * row, else answers (ap_fail_db with conflict_detail, or 404 with notfound)
 * and returns -1. */
int ap_res_one(ap_req_t *r, PGresult *res, const char *err, const char *conflict_detail, const char *notfound);
/* 1 when res is a successful query result (command or tuples). */
int ap_res_ok(const PGresult *res);
/* Parses a one-column JSON text cell (row i) into a new reference. */
json_t *ap_res_json(const PGresult *res, int row, int col);

/* SQL: an integrated account as the API shows it (over a row of integrated_accounts). */
#define AP_ACCT_JSON                                                                                \
    "json_build_object('id', id, 'tenant_id', tenant_id, 'site_url', site_url, 'auth_type', auth_type," \
    " 'status', status, 'pace', pace, 'context', context, 'created_at', " AP_TS("created_at") ","   \
    " 'updated_at', " AP_TS("updated_at") ")::text"

/* SQL: a timestamptz column as "2026-12-31T23:59:59Z". */
#define AP_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* ---- cursor paging over (created_at, id) ---- */
typedef struct ap_page_s {
    int limit;                 /* 1..100, default 20 */
    char after_ts[64];         /* "" for the first page */
    char after_id[AP_UUID_LEN + 1];
    char limit_plus_one[16];   /* SQL parameter: fetch one more to know if there is more */
} ap_page_t;
/* Reads ?limit= and ?next_cursor=; -1 when r was answered with 400. */
int ap_page_parse(ap_req_t *r, ap_page_t *pg);
/* The SQL parameter for after_ts/after_id (NULL on the first page). */
const char *ap_page_ts(const ap_page_t *pg);
const char *ap_page_id(const ap_page_t *pg);
/* Rows (col 0 JSON text, col 1 created_at::text, col 2 id) -> {"result": [...], "next_cursor"}. */
json_t *ap_page_result(const PGresult *res, const ap_page_t *pg);
/* SQL condition on (created_at, id) after the cursor, with parameters $a, $b. */
#define AP_PAGE_AFTER(a, b) "(" a "::timestamptz IS NULL OR (created_at, id) > (" a "::timestamptz, " b "::uuid))"
/* The same for newest-first lists (ORDER BY created_at DESC, id DESC). */
#define AP_PAGE_BEFORE(a, b) "(" a "::timestamptz IS NULL OR (created_at, id) < (" a "::timestamptz, " b "::uuid))"

/* ---- query parameters (each -1 when r was answered 400 naming it) ----
 * Every query parameter of every route is read through ap_qread, so none
 * that is not text reaches a query (PostgreSQL refuses invalid UTF-8 with
 * an error, and a C string ends at "%00": "tool=a%00b" would filter on "a"). */
enum ap_qread_rc {
    AP_Q_ABSENT = 0,
    AP_Q_PRESENT = 1,
    AP_Q_EMPTY = -1,
    AP_Q_TOO_LONG = -2,   /* does not fit in out */
    AP_Q_REPEATED = -3,   /* given more than once */
    AP_Q_NOT_TEXT = -4,   /* a NUL byte or invalid UTF-8 once decoded */
};
/* Reads query parameter name into out ("" unless AP_Q_PRESENT or
 * AP_Q_EMPTY) without answering: for a route that answers its own way. */
int ap_qread(const ap_req_t *r, const char *name, char *out, size_t outsz);
/* Answers 400 naming name for an ap_qread failure rc: its own detail for
 * AP_Q_REPEATED and AP_Q_NOT_TEXT, else detail; returns -1. */
int ap_qfail(ap_req_t *r, const char *name, int rc, const char *detail);
/* Reads query parameter name into out: 0 absent, 1 present, -1 empty, too
 * long ("<name> must be <what>"), repeated or not text. */
int ap_qparam(ap_req_t *r, const char *name, char *out, size_t outsz, const char *what);
/* Answers 400 "<name> must be <what>" naming name; returns -1. */
int ap_qbad(ap_req_t *r, const char *name, const char *what);
/* An RFC 3339 time bound as clock_parse_iso takes it, written back into out
 * in its canonical form ("2026-01-31T00:00:00.000Z", outsz >= 25): the
 * query gets that, never the text given. */
int ap_qtime(ap_req_t *r, const char *name, char *out, size_t outsz);

/* A path parameter ("" when absent). */
const char *ap_param(const ap_req_t *r, const char *name);

/* Queries for request r; when the pool refuses (busy, down), r is answered
 * 503 at once and cb never runs. */
void ap_query(ap_req_t *r, const char *sql, int n, const char *const *params, pgpool_cb cb);
void ap_txquery(ap_req_t *r, const char *sql, int n, const char *const *params, pgpool_cb cb);
/* Answers 200 with the JSON of the one row's first column, or 404 with
 * notfound as the detail. */
void ap_query_one(ap_req_t *r, const char *sql, int n, const char *const *params, const char *notfound);
/* Answers a page: rows as ap_page_result() takes them. */
void ap_query_page(ap_req_t *r, const char *sql, int n, const char *const *params);
/* The same for a list under a parent record that must exist and be the
 * caller's: the SQL returns (json, created_at::text, id, owner_ok) with a
 * LEFT JOIN, so an empty page still has one row carrying owner_ok; a false
 * owner_ok answers 404 with notfound (which must not be NULL). */
void ap_query_page_owned(ap_req_t *r, const char *sql, int n, const char *const *params, const char *notfound);

/* ---- transactions: begin, then commit and answer ---- */
/* For writes that publish to Redis: 503 at once when Redis is down (so
 * nothing is written), else begins a transaction and calls next. Redis is
 * written after COMMIT (ap_commit_publish_answer). */
void ap_begin_write(ap_req_t *r, void (*next)(ap_req_t *r));
void ap_begin(ap_req_t *r, void (*next)(ap_req_t *r));
/* Commits r->tx; on success answers status with r->out (or 204 when NULL). */
void ap_commit_and_answer(ap_req_t *r);
/* Commits r->tx; on success publishes r->pub (ap_publish_and_answer), then
 * answers status with r->out (or 204). A failed COMMIT publishes nothing. */
void ap_commit_publish_answer(ap_req_t *r);
/* For a request whose write committed: publishes p (taken), then answers
 * r->status with r->out (204 when NULL). A failed publication is logged and
 * counted (jsmcp_api_publish_failures_total) and still answered with the
 * committed result: reconcile publishes it from the outbox. */
void ap_publish_and_answer(ap_req_t *r, ap_pub_t *p);
/* For writes outside a transaction that publish once they committed: 503
 * at once (and -1) when Redis is down, so nothing is written. */
int ap_need_redis(ap_req_t *r);

/* Runs one Redis command (argv[1] is a key suffix: the prefix is added)
 * for request r; next(r) on success, else 503. For request-scoped state
 * (OAuth connect state, API key sets), not for published records
 * (ap_publish.h). */
void ap_redis(ap_req_t *r, void (*next)(ap_req_t *r), int argc, const char **argv);

/* Answers status with a problem (httpresp_problem_ex: extra members
 * taken) and frees r. */
void ap_fail_ex(ap_req_t *r, int status, const char *detail, const char *field, json_t *extra);

/* A random version-4 UUID (out: 37 bytes). */
void ap_uuid(char *out);
/* 1 when s is a UUID in canonical form (any version). */
int ap_is_uuid(const char *s);

#endif
