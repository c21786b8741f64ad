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
#include "ap_accounts.h"
#include "ap_input.h"
#include "ap_keys.h"
#include "ap_oauth.h"
#include "ap_publish.h"
#include "ap_reconcile.h"
#include "ap_refresh.h"
#include "ap_servers.h"
#include "ap_tools.h"
#include "ap_usage.h"
#include "ap_web.h"
#include "ap_webhooks.h"
#include "ap_workspaces.h"
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

/* ---- request entry: body, auth, dispatch ---- */

/* Parses the body when the route takes one: 415 without a JSON content
 * type, 400 for bad JSON; an empty body is {}. Returns 0 to go on, -1 when
 * r was answered. */
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
    /* No body at all is an empty object, whether or not the request says
     * it is JSON (fetch and axios send the header on every POST): a route
     * whose body is optional takes it as {}, one that needs members names
     * the first one missing. */
    if (len == 0 && (!ct || json_ct)) {
        r->body = json_object();
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
    ap_fail_ex(r, 403, detail, NULL, extra);
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
    c->reconcile_hint_gap_ms = (unsigned)cfg_ms("JSMCP_RECONCILE_HINT_GAP_MS", 50, 0, 60000, &ce);
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
    if (ap_oauth_start(app) != 0)
        return -1;
    return ap_refresh_start(app);
}

/* ---- shutdown: http, then webhook deliveries, oauth refresher, oauth client, audit drain, reconcile timer, db, redis ---- */

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

/* The refresher stops before the token client closes: its refreshes in
 * flight use that client. */
static void on_refresh_stopped(void *arg)
{
    close_ctx_t *c = arg;
    ap_oauth_stop(c->app, on_oauth_stopped, c);
}

static void on_delivery_stopped(void *arg)
{
    close_ctx_t *c = arg;
    ap_refresh_stop(c->app, on_refresh_stopped, c);
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
