/* ap_sweeper: `jsmcp-api sweeper`, the process that deletes MCP servers
 * whose expires_at passed, and ends the overlap of rotated-out tokens.
 *
 * Every JSMCP_SWEEP_INTERVAL_MS (default 1 s, so a server is gone within a
 * few seconds of its expiry) one pass runs in a transaction that first
 * takes pg_try_advisory_xact_lock: with many sweeper replicas exactly one
 * sweeps at a time, the others skip the pass. The rows are deleted (at
 * most SWEEP_BATCH a pass) and the ended overlaps cleared, then, after
 * COMMIT, the changes are published (ap_publish.h): tombstones for the
 * deleted servers' tokens and for rotated-out tokens, and the servers whose
 * overlap ended at their new version. A failed Redis write is repaired by
 * reconcile from the outbox. Workers refuse an expired token on their own
 * regardless (expires_at_ms).
 * Serves /healthz and /metrics on JSMCP_SWEEPER_LISTEN. */
#include "ap_sweeper.h"

#include "ap_req.h"
#include "ap_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "pgpool.h"
#include "rcli.h"
#include "router.h"
#include "clock.h"

#define SWEEP_LOCK_ID "7305222"  /* pg_advisory_xact_lock key of the sweeper */
#define SWEEP_BATCH "1000"

typedef struct sweeper_s {
    uv_loop_t *loop;
    pgpool_t *db;
    rcli_t *redis;
    metrics_t *metrics;
    router_t *router;
    httpd_t *http;
    uv_timer_t timer;
    uint64_t interval_ms;
    int running;   /* a pass is in flight */
    int closing;
    void (*done)(void *arg);
    void *done_arg;
} sweeper_t;

static sweeper_t sw;

/* One pass: its transaction and what it publishes; freed in pass_end(). */
typedef struct pass_s {
    pgtx_t *tx;
    ap_pub_t *pub;
    int deleted;   /* servers deleted */
    int ended;     /* overlaps ended */
    uint64_t t0;
} pass_t;

static void maybe_closed(void);

static void pass_end(pass_t *p, const char *outcome)
{
    char labels[64];
    if (p->tx)
        pgtx_rollback(p->tx, NULL, NULL);
    snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
    metrics_inc(sw.metrics, "jsmcp_sweeper_passes_total", labels, 1);
    metrics_observe(sw.metrics, "jsmcp_sweeper_pass_duration_seconds", "",
                    (double)(uv_hrtime() - p->t0) / 1e9);
    ap_pub_free(p->pub);
    free(p);
    sw.running = 0;
    maybe_closed();
}

static void on_published(long written, const char *err, void *ud)
{
    pass_t *p = ud;
    if (written < 0) {
        LOG_WARN("sweeper", "committed, but not published to Redis (reconcile will)", "err", err ? err : "", NULL);
        pass_end(p, "publish_failed");
        return;
    }
    pass_end(p, "ok");
}

static void on_commit(PGresult *res, const char *err, void *ud)
{
    pass_t *p = ud;
    p->tx = NULL;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        LOG_WARN("sweeper", "commit failed", "err", err ? err : PQresultErrorMessage(res), NULL);
        pass_end(p, "failed");
        return;
    }
    metrics_inc(sw.metrics, "jsmcp_sweeper_deleted_total", "", p->deleted);
    metrics_inc(sw.metrics, "jsmcp_sweeper_overlaps_ended_total", "", p->ended);
    ap_pub_t *pub = p->pub;
    p->pub = NULL;
    int rc = ap_pub_send(pub, sw.redis, on_published, p);
    if (rc != 0)
        pass_end(p, rc > 0 ? "ok" : "publish_failed");
}

static void commit(pass_t *p)
{
    pgtx_t *tx = p->tx;
    pgtx_commit(tx, on_commit, p);
}

/* The pass's next statement (no parameters); a refused one ends the pass. */
static void pass_query(pass_t *p, const char *sql, pgpool_cb cb)
{
    const char *none[1] = {NULL};
    if (pgtx_query(p->tx, sql, 0, none, cb, p) != 0)
        pass_end(p, "failed");
}

static void on_overlaps_ended(PGresult *res, const char *err, void *ud)
{
    pass_t *p = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pass_end(p, "failed");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *dead[1] = {PQgetvalue(res, i, 1)};
        ap_pub_server(p->pub, res, i, 2, dead, 1);
        LOG_INFO("sweeper", "rotation overlap ended; previous URL removed", "server", PQgetvalue(res, i, 0), NULL);
    }
    p->ended = PQntuples(res);
    commit(p);
}

static void on_expired_deleted(PGresult *res, const char *err, void *ud)
{
    pass_t *p = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pass_end(p, "failed");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *h[2] = {PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2)};
        ap_pub_server_gone(p->pub, h, 2, strtoll(PQgetvalue(res, i, 6), NULL, 10) + 1);
        LOG_INFO("sweeper", "expired MCP server deleted", "server", PQgetvalue(res, i, 0), "workspace",
                 PQgetvalue(res, i, 3), "account", PQgetvalue(res, i, 4), "expired_at", PQgetvalue(res, i, 5), NULL);
    }
    p->deleted = PQntuples(res);
    /* The old values come from the CTE, which locks the rows it reads;
     * RETURNING gives the row as the UPDATE left it (its new version). */
    pass_query(p,
               "WITH o AS (SELECT id AS oid, prev_token_hash AS old_prev FROM mcp_servers WHERE prev_token_hash IS NOT NULL"
               "  AND prev_token_expires_at <= now() LIMIT " SWEEP_BATCH " FOR UPDATE)"
               " UPDATE mcp_servers m SET prev_token_hash = NULL, prev_token_expires_at = NULL FROM o"
               " WHERE m.id = o.oid RETURNING m.id, o.old_prev, " AP_SRV_PUB_COLS,
               on_overlaps_ended);
}

static void on_lock(PGresult *res, const char *err, void *ud)
{
    pass_t *p = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pass_end(p, "failed");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        pass_end(p, "not_leader"); /* another replica is sweeping */
        return;
    }
    pass_query(p,
               "DELETE FROM mcp_servers WHERE id IN (SELECT id FROM mcp_servers WHERE expires_at <= now()"
               "  ORDER BY expires_at LIMIT " SWEEP_BATCH " FOR UPDATE SKIP LOCKED)"
               " RETURNING id, token_hash, prev_token_hash, workspace_id, account_id, " AP_TS("expires_at") ", version",
               on_expired_deleted);
}

static void on_begin(pgtx_t *tx, const char *err, void *ud)
{
    pass_t *p = ud;
    if (!tx) {
        pass_end(p, "db_down");
        return;
    }
    p->tx = tx;
    pass_query(p, "SELECT pg_try_advisory_xact_lock(" SWEEP_LOCK_ID ")", on_lock);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (sw.running || sw.closing)
        return;
    if (!pgpool_ready(sw.db) || !rcli_ready(sw.redis)) {
        metrics_inc(sw.metrics, "jsmcp_sweeper_passes_total", "outcome=\"skipped_down\"", 1);
        return;
    }
    pass_t *p = mem_calloc(1, sizeof *p);
    p->t0 = uv_hrtime();
    p->pub = ap_pub_new(rcli_prefix(sw.redis), clock_now_ms());
    sw.running = 1;
    if (pgpool_begin(sw.db, on_begin, p) != 0)
        pass_end(p, "db_down");
}

/* ---- HTTP: health and metrics ---- */

static void h_healthz(httpd_req_t *req, const router_params_t *p, void *ud)
{
    (void)p;
    (void)ud;
    static const char ok[] = "{\"status\":\"ok\"}";
    httpd_respond(req, 200, "application/json", ok, sizeof ok - 1);
}

static void h_metrics(httpd_req_t *req, const router_params_t *p, void *ud)
{
    size_t len;
    (void)p;
    (void)ud;
    metrics_set(sw.metrics, "jsmcp_sweeper_postgres_up", "", pgpool_ready(sw.db));
    metrics_set(sw.metrics, "jsmcp_sweeper_redis_up", "", rcli_ready(sw.redis));
    char *text = metrics_render(sw.metrics, &len);
    httpd_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static void on_http(httpd_req_t *req, void *ud)
{
    (void)ud;
    router_dispatch(sw.router, req);
}

int ap_sweeper_start(uv_loop_t *loop)
{
    cfg_err_t ce = {0};
    char host[64];
    int port;
    memset(&sw, 0, sizeof sw);
    sw.loop = loop;
    cfg_listen("JSMCP_SWEEPER_LISTEN", "127.0.0.1:8082", host, sizeof host, &port, &ce);
    sw.interval_ms = cfg_ms("JSMCP_SWEEP_INTERVAL_MS", 1000, 50, 3600000, &ce);
    if (ce.n) {
        fprintf(stderr, "jsmcp-api sweeper: configuration: %s\n", ce.msg);
        return -1;
    }
    pgpool_config_t pc = {.conninfo = cfg_str("JSMCP_DATABASE_URL", "postgresql:///jsmcp"), .size = 2,
                          .max_queue = 100, .query_timeout_ms = 30000};
    rcli_config_t rc = {.url = cfg_str("JSMCP_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        .prefix = cfg_str("JSMCP_REDIS_PREFIX", "jsmcp:")};
    if (pgpool_create(&sw.db, loop, &pc) != 0 || rcli_create(&sw.redis, loop, &rc) != 0) {
        fprintf(stderr, "jsmcp-api sweeper: bad database or Redis URL\n");
        return -1;
    }
    sw.metrics = metrics_new(256);
    metrics_describe(sw.metrics, "jsmcp_sweeper_passes_total", "counter", "Sweep passes by outcome");
    metrics_describe(sw.metrics, "jsmcp_sweeper_deleted_total", "counter", "Expired MCP servers deleted");
    metrics_describe(sw.metrics, "jsmcp_sweeper_overlaps_ended_total", "counter", "Rotated-out URLs removed");
    metrics_describe(sw.metrics, "jsmcp_sweeper_pass_duration_seconds", "histogram", "Sweep pass latency");
    sw.router = router_new();
    router_add(sw.router, "GET", "/healthz", h_healthz, NULL);
    router_add(sw.router, "GET", "/metrics", h_metrics, NULL);
    httpd_config_t hc;
    httpd_config_defaults(&hc);
    hc.host = host;
    hc.port = port;
    hc.server_name = "jsmcp-sweeper";
    int err = httpd_create(&sw.http, loop, &hc, on_http, NULL);
    if (err != 0) {
        fprintf(stderr, "jsmcp-api sweeper: cannot listen on %s:%d: %s\n", host, port, uv_strerror(err));
        return -1;
    }
    char ps[16], iv[24];
    snprintf(ps, sizeof ps, "%d", httpd_port(sw.http));
    snprintf(iv, sizeof iv, "%llu", (unsigned long long)sw.interval_ms);
    LOG_INFO("sweeper", "started", "port", ps, "interval_ms", iv, NULL);
    uv_timer_init(loop, &sw.timer);
    uv_timer_start(&sw.timer, on_tick, sw.interval_ms, sw.interval_ms);
    return 0;
}

/* ---- shutdown: timer and HTTP, then the in-flight pass, Redis, PostgreSQL ---- */

static void on_db_closed(void *arg)
{
    (void)arg;
    router_free(sw.router);
    metrics_free(sw.metrics);
    sw.done(sw.done_arg);
}

static void on_redis_closed(void *arg)
{
    (void)arg;
    pgpool_close(sw.db, on_db_closed, NULL);
}

static int http_closed;

static void maybe_closed(void)
{
    if (sw.closing != 1 || sw.running || !http_closed)
        return;
    sw.closing = 2; /* once */
    rcli_close(sw.redis, on_redis_closed, NULL);
}

static void on_http_closed(void *arg)
{
    (void)arg;
    http_closed = 1;
    if (sw.closing == 1)
        maybe_closed();
}

void ap_sweeper_stop(void (*done)(void *arg), void *arg)
{
    sw.done = done;
    sw.done_arg = arg;
    sw.closing = 1;
    uv_timer_stop(&sw.timer);
    uv_close((uv_handle_t *)&sw.timer, NULL);
    httpd_close(sw.http, on_http_closed, NULL);
}
