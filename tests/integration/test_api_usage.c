/* Usage metering and ratelimit.burst (issue 26), both maintained by the
 * audit drain's transaction (migrations/022_usage.sql; since 030 the drain
 * appends its sums to usage_pending and folds move them into usage_daily,
 * GET /usage reads both through usage_all): records appended to
 * the Redis stream as workers append them — some twice (a worker's spool
 * replay: same call_id) — are drained by two API replicas at once, and
 * GET /usage then matches the raw rows of tool_calls for every grouping;
 * isolation and bad input. A run of upstream 429s for an account becomes
 * one ratelimit.burst webhook event. */
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "test_api_common.h"
#include "tr.h"

/* n records from first on, spread over the given servers (server i of
 * account acct[i]) and three tools; status 429 every `every429`th. */
static void xadd(const ts_api_t *a, const char *ws, char (*acct)[64], char (*srv)[64], int nsrv, int first, int n,
                 int every429)
{
    static const char *const tools[] = {"search", "get_issue", "list_queues"};
    redisContext *c = ts_redis_connect();
    char key[128], ts[32];
    snprintf(key, sizeof key, "%saudit", a->redis_prefix);
    for (int i = first; i < first + n; i++) {
        int s = i % nsrv, st = every429 && i % every429 == 0 ? 429 : i % 17 == 0 ? 500 : 200;
        snprintf(ts, sizeof ts, "%lld", ta_record_ms(i));
        redisAppendCommand(c,
                           "XADD %s * ts_ms %s workspace_id %s account_id %s server_id %s tool %s"
                           " upstream_status %d latency_ms %d.25 error_class %s result_bytes %d call_id %032x",
                           key, ts, ws, acct[s], srv[s], tools[i % 3], st, i % 50,
                           st == 429 ? "rate_limited" : st == 500 ? "upstream_5xx" : "", i * 3 % 1000, i);
    }
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK);
        cr_assert(r->type == REDIS_REPLY_STRING, "XADD failed");
        freeReplyObject(r);
    }
    redisFree(c);
}

static void wait_rows(const ts_api_t *a, long n)
{
    int64_t deadline = clock_now_ms() + 120000;
    while (ta_sql_long(a, "SELECT count(*) FROM tool_calls") < n && clock_now_ms() < deadline)
        ta_sleep_ms(100);
    cr_assert_eq(ta_sql_long(a, "SELECT count(*) FROM tool_calls"), n, "records not drained");
}

/* GET /usage?<query> against the same figures computed from tool_calls
 * (n: the tool_names row of a row's tool_id). */
static void check_usage(const ts_api_t *a, const char *key, const char *ws, const char *query, const char *keycols)
{
    ts_resp_t r;
    ta_call(&r, a, key, "GET", NULL, "/usage?%s", query);
    cr_assert_eq(r.status, 200, "%s: %ld %s", query, r.status, r.body);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(json_agg(x ORDER BY k), '[]')::text FROM (SELECT concat_ws(',', %s) AS k, count(*) AS calls,"
             " count(*) FILTER (WHERE error_class IS NOT NULL) AS errors,"
             " count(*) FILTER (WHERE error_class = 'rate_limited') AS rate_limited,"
             " round(sum(latency_ms)::numeric, 3) AS upstream_ms, sum(result_bytes) AS bytes_to_model"
             " FROM tool_calls LEFT JOIN tool_names n ON n.id = tool_id WHERE workspace_id = '%s' GROUP BY %s) x",
             keycols, ws, keycols);
    char *raw = ts_sql(a->db_url, sql);
    json_t *want = json_loads(raw, 0, NULL);
    free(raw);
    json_t *got = json_object_get(r.json, "result");
    cr_assert_eq(json_array_size(got), json_array_size(want), "%s: %zu groups, raw rows give %zu: %s", query,
                 json_array_size(got), json_array_size(want), r.body);
    cr_assert(!json_is_true(json_object_get(r.json, "truncated")));
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        static const char *const figs[] = {"calls", "errors", "rate_limited", "bytes_to_model"};
        for (size_t f = 0; f < 4; f++)
            cr_assert_eq(json_integer_value(json_object_get(g, figs[f])),
                         json_integer_value(json_object_get(w, figs[f])), "%s group %s: %s", query,
                         json_string_value(json_object_get(w, "k")), figs[f]);
        double gu = json_number_value(json_object_get(g, "upstream_ms"));
        double wu = json_number_value(json_object_get(w, "upstream_ms"));
        cr_assert(gu > wu - 0.01 && gu < wu + 0.01, "%s: upstream_ms %f vs %f", query, gu, wu);
    }
    json_decref(want);
    ts_resp_free(&r);
}

/* The workspace of these tests: account acct[0] (ta_start's) with server
 * srv[0], account acct[1] (= acct[2]) with servers srv[1] and srv[2]. */
static void three_servers(const ts_api_t *a, const char *key, char (*acct)[64], char (*srv)[64])
{
    ta_account(a, key, "c2", acct[1]);
    memcpy(acct[2], acct[1], 64);
    for (int i = 0; i < 3; i++)
        ta_server(a, key, acct[i], NULL, srv[i], NULL);
}

Test(api_usage, rollup_matches_raw_rows_two_replicas, .timeout = 240)
{
    ts_api_t a, b;
    ts_resp_t r;
    char ws[64], key[64], acct[3][64], srv[3][64], ws_b[64], key_b[64];
    static const char *const env[] = {"JSMCP_AUDIT_DRAIN_MS=20", "JSMCP_AUDIT_BATCH=200", NULL};
    ta_start(&a, "usage_r1", env, ws, key, acct[0]);
    ts_api_replica(&b, &a, "usage_r2", env);
    three_servers(&a, key, acct, srv);
    ts_api_workspace(&a, "beta", ws_b, key_b);

    /* 12,000 records, then 1,000 of them again (a spool replay). */
    xadd(&a, ws, acct, srv, 3, 0, 12000, 7);
    xadd(&a, ws, acct, srv, 3, 5000, 1000, 7);
    wait_rows(&a, 12000);
    char today[40];
    ta_iso_in(0, today, sizeof today);
    today[10] = 0;
    char q[256];
    snprintf(q, sizeof q, "group_by=account&from=%s&to=%s", today, today);
    check_usage(&a, key, ws, q, "account_id");
    check_usage(&a, key, ws, "group_by=server", "server_id");
    /* a row's tool: its name, or its number in tool_names (migration 028) */
    check_usage(&a, key, ws, "group_by=tool&granularity=total", "coalesce(tool, n.name)");
    cr_assert_eq(ta_sql_long(&a, "SELECT sum(calls) FROM usage_all"), 12000, "a replayed record counted twice");

    /* Per day: today's row. */
    ta_call(&r, &a, key, "GET", NULL, "/usage?group_by=tool&granularity=day");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *row = json_array_get(json_object_get(r.json, "result"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(row, "day")), today, "%s", r.body);
    ts_resp_free(&r);

    /* Another workspace: nothing, whatever it asks. */
    ta_call(&r, &a, key_b, "GET", NULL, "/usage?group_by=account");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "%s", r.body);
    ts_resp_free(&r);
    /* A day without calls. */
    ta_call(&r, &a, key, "GET", NULL, "/usage?group_by=account&from=2020-01-01&to=2020-01-31");
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "%s", r.body);
    ts_resp_free(&r);

    static const char *const bad[][2] = {
        {"", "group_by"},
        {"group_by=day", "group_by"},
        {"group_by=tool&granularity=hour", "granularity"},
        {"group_by=tool&from=2026-02-30", "from"},
        {"group_by=tool&from=yesterday", "from"},
        {"group_by=tool&to=2026-1-1", "to"},
        {"group_by=tool&from=2026-03-02&to=2026-03-01", "from"},
        {"group_by=tool&from=2024-01-01&to=2026-01-01", "from"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ta_call(&r, &a, key, "GET", NULL, "/usage?%s", bad[i][0]);
        ta_expect_problem(&r, 400, bad[i][1], bad[i][0]);
        ts_resp_free(&r);
    }
    ta_stop(&b);
    ta_stop(&a);
}

/* A counter of the API's /metrics, 0 while it has no sample yet. */
static double metric0(const ts_api_t *a, const char *series)
{
    double v = ta_metric(a, series);
    return v < 0 ? 0 : v;
}

/* GET /usage?<query>'s body. */
static char *usage_body(const ts_api_t *a, const char *key, const char *query)
{
    ts_resp_t r;
    ta_call(&r, a, key, "GET", NULL, "/usage?%s", query);
    cr_assert_eq(r.status, 200, "%s: %ld %s", query, r.status, r.body);
    char *body = strdup(r.body);
    ts_resp_free(&r);
    return body;
}

/* Migration 030: the drain's transactions only append to usage_pending; a
 * fold moves the sums into usage_daily. With the API's folds an hour apart,
 * everything drained is still pending, and GET /usage (usage_all) already
 * counts it exactly; one fold moves all of it, and every answer stays the
 * same byte for byte. */
Test(api_usage, pending_sums_count_before_and_after_a_fold, .timeout = 180)
{
    ts_api_t a;
    char ws[64], key[64], acct[3][64], srv[3][64];
    static const char *const env[] = {"JSMCP_AUDIT_DRAIN_MS=20", "JSMCP_AUDIT_BATCH=300", "JSMCP_USAGE_FOLD_MS=3600000",
                                      NULL};
    ta_start(&a, "usage_pend", env, ws, key, acct[0]);
    three_servers(&a, key, acct, srv);
    xadd(&a, ws, acct, srv, 3, 0, 3000, 7);
    xadd(&a, ws, acct, srv, 3, 1000, 500, 7); /* a replay */
    wait_rows(&a, 3000);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM usage_daily"), 0, "a drain upserted usage_daily itself");
    cr_assert_gt(ta_sql_long(&a, "SELECT count(*) FROM usage_pending"), 0);
    cr_assert_eq(ta_sql_long(&a, "SELECT sum(calls) FROM usage_pending"), 3000, "pending sums count each call once");
    check_usage(&a, key, ws, "group_by=account", "account_id");
    check_usage(&a, key, ws, "group_by=server", "server_id");
    check_usage(&a, key, ws, "group_by=tool", "coalesce(tool, n.name)");
    static const char *const queries[] = {"group_by=account", "group_by=server&granularity=day", "group_by=tool"};
    char *before[3];
    for (int i = 0; i < 3; i++)
        before[i] = usage_body(&a, key, queries[i]);

    long pending = ta_sql_long(&a, "SELECT count(*) FROM usage_pending");
    cr_assert_eq(ta_sql_long(&a, "SELECT jsmcp_usage_fold(1000000)"), pending, "a fold moves every pending row");
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM usage_pending"), 0, "a fold left pending rows");
    cr_assert_eq(ta_sql_long(&a, "SELECT sum(calls) FROM usage_daily"), 3000);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM usage_daily"),
                 ta_sql_long(&a, "SELECT count(*) FROM usage_all"), "one usage_daily row per key");
    for (int i = 0; i < 3; i++) {
        char *after = usage_body(&a, key, queries[i]);
        cr_assert_str_eq(after, before[i], "%s changed with the fold", queries[i]);
        free(after);
        free(before[i]);
    }
    ta_stop(&a);
}

/* One value of a query on conn. */
static long conn_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql,
              PQresultErrorMessage(r));
    long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

/* Two replicas drain and fold every 20 ms while the test folds too, in
 * slices: never a row counted twice or lost. Then a fold the test holds
 * open (its rows deleted, its keys locked, not committed) while a replica's
 * fold waits on those rows: GET /usage stays exact meanwhile, and after the
 * COMMIT the waiting fold skips the rows already moved. */
Test(api_usage, concurrent_folds_exact, .timeout = 240)
{
    ts_api_t a, b;
    char ws[64], key[64], acct[3][64], srv[3][64];
    static const char *const env[] = {"JSMCP_AUDIT_DRAIN_MS=20", "JSMCP_AUDIT_BATCH=200", "JSMCP_USAGE_FOLD_MS=20",
                                      NULL};
    ta_start(&a, "usage_fold1", env, ws, key, acct[0]);
    ts_api_replica(&b, &a, "usage_fold2", env);
    three_servers(&a, key, acct, srv);
    xadd(&a, ws, acct, srv, 3, 0, 12000, 7);
    xadd(&a, ws, acct, srv, 3, 4000, 1000, 7);
    int64_t deadline = clock_now_ms() + 120000;
    while (ta_sql_long(&a, "SELECT count(*) FROM tool_calls") < 12000 && clock_now_ms() < deadline)
        (void)ta_sql_long(&a, "SELECT jsmcp_usage_fold(250)");
    wait_rows(&a, 12000);
    check_usage(&a, key, ws, "group_by=server&granularity=day", "server_id");
    check_usage(&a, key, ws, "group_by=tool", "coalesce(tool, n.name)");
    /* The replicas' folds empty usage_pending on their own. */
    while (ta_sql_long(&a, "SELECT count(*) FROM usage_pending") > 0 && clock_now_ms() < deadline)
        ta_sleep_ms(20);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM usage_pending"), 0, "rows left pending");
    cr_assert_eq(ta_sql_long(&a, "SELECT sum(calls) FROM usage_daily"), 12000, "a row counted twice or lost");
    cr_assert_gt(metric0(&a, "jsmcp_api_usage_folded_rows_total") + metric0(&b, "jsmcp_api_usage_folded_rows_total"), 0,
                 "the replicas never folded");

    /* A held fold: rows inserted as the drain does (its trigger), taken by
     * the test's fold before a replica's (retried when a replica was first). */
    PGconn *c = PQconnectdb(a.db_url);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    char ins[1024];
    snprintf(ins, sizeof ins,
             "INSERT INTO tool_calls (call_id, ts, workspace_id, account_id, server_id, tool, latency_ms, result_bytes)"
             " SELECT gen_random_uuid(), now(), '%s', '%s', '%s', 'held_' || (i %% 5), 1.5, 10"
             " FROM generate_series(1, 500) i",
             ws, acct[0], srv[0]);
    long held = 0;
    for (int tries = 0; tries < 200 && held == 0; tries++) {
        (void)conn_long(c, ins);
        (void)conn_long(c, "BEGIN");
        held = conn_long(c, "SELECT jsmcp_usage_fold(1000000)");
        if (held == 0)
            (void)conn_long(c, "ROLLBACK");
    }
    cr_assert_gt(held, 0, "the test's fold never got pending rows before the replicas'");
    long waiting = 0;
    while (waiting == 0 && clock_now_ms() < deadline) {
        waiting = ta_sql_long(&a, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                  " AND query LIKE '%jsmcp_usage_fold%' AND pid <> pg_backend_pid()");
        if (waiting == 0)
            ta_sleep_ms(10);
    }
    cr_assert_gt(waiting, 0, "no replica's fold waited on the held fold's rows");
    check_usage(&a, key, ws, "group_by=tool", "coalesce(tool, n.name)");
    (void)conn_long(c, "COMMIT");
    PQfinish(c);
    long total = ta_sql_long(&a, "SELECT count(*) FROM tool_calls");
    while ((ta_sql_long(&a, "SELECT count(*) FROM usage_pending") > 0 ||
            ta_sql_long(&a, "SELECT sum(calls) FROM usage_daily") != total) && clock_now_ms() < deadline)
        ta_sleep_ms(20);
    cr_assert_eq(ta_sql_long(&a, "SELECT sum(calls) FROM usage_daily"), total, "a held fold's rows counted twice");
    check_usage(&a, key, ws, "group_by=account", "account_id");
    check_usage(&a, key, ws, "group_by=tool", "coalesce(tool, n.name)");
    cr_assert_eq(metric0(&a, "jsmcp_api_usage_fold_failures_total") + metric0(&b, "jsmcp_api_usage_fold_failures_total"),
                 0, "a fold failed (a deadlock between folders?)");
    /* Each fold that moved rows is followed by a VACUUM of usage_pending
     * (without it the table keeps every dead row until autovacuum's round):
     * it ran, and never failed. */
    cr_assert_gt(ta_sql_long(&a, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'usage_pending'"), 0,
                 "usage_pending was never vacuumed after a fold");
    cr_assert_eq(ts_log_count(&a.proc, "VACUUM of usage_pending failed") + ts_log_count(&b.proc, "VACUUM of usage_pending failed"),
                 0, "a VACUUM after a fold failed: see %s", a.proc.log);
    ta_stop(&b);
    ta_stop(&a);
}

Test(api_usage, ratelimit_burst_once_per_run, .timeout = 180)
{
    ts_api_t a;
    tr_t *rx = tr_start();
    char ws[64], key[64], acct[2][64], srv[2][64], ws_b[64], key_b[64], acct_b[1][64], srv_b[1][64];
    char allow[128], url[128], body[512];
    snprintf(allow, sizeof allow, "JSMCP_WEBHOOK_ALLOWLIST=127.0.0.1:%d", tr_port(rx));
    const char *env[] = {allow, "JSMCP_WEBHOOK_POLL_MS=50", "JSMCP_AUDIT_DRAIN_MS=20", NULL};
    ta_start(&a, "usage_burst", env, ws, key, acct[0]);
    ta_account(&a, key, "c2", acct[1]);
    ta_server(&a, key, acct[0], NULL, srv[0], NULL);
    ta_server(&a, key, acct[1], NULL, srv[1], NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    ta_account(&a, key_b, "b1", acct_b[0]);
    ta_server(&a, key_b, acct_b[0], NULL, srv_b[0], NULL);
    ts_resp_t r;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/a", tr_port(rx));
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"ratelimit.burst\"]}", url);
    ts_api_call(&r, &a, key, "POST", "/webhooks", body);
    cr_assert_eq(r.status, 201, "%s", r.body);
    ts_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/b", tr_port(rx));
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"ratelimit.burst\"]}", url);
    ts_api_call(&r, &a, key_b, "POST", "/webhooks", body);
    cr_assert_eq(r.status, 201, "%s", r.body);
    ts_resp_free(&r);

    /* Account 0: 9 429s (below the run's 10), drained, then 11
     * more: one event. Account 1: 429s on 1 record in 7 of 200, 29 in all:
     * also one event. Beta's account: 5, none. */
    xadd(&a, ws, acct, srv, 1, 0, 9, 1);
    wait_rows(&a, 9);
    xadd(&a, ws, acct, srv, 1, 100, 11, 1);
    xadd(&a, ws, acct + 1, srv + 1, 1, 1000, 200, 7);
    xadd(&a, ws_b, acct_b, srv_b, 1, 5000, 5, 1);
    wait_rows(&a, 9 + 11 + 200 + 5);
    cr_assert(tr_wait(rx, 2, 30000), "ratelimit.burst: %zu events, 2 expected", tr_count(rx));
    /* Nothing more comes: the runs go on, but each was announced. */
    xadd(&a, ws, acct, srv, 1, 200, 30, 1);
    wait_rows(&a, 9 + 11 + 200 + 5 + 30);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM webhook_deliveries WHERE event = 'ratelimit.burst'"), 2);
    int seen[2] = {0, 0};
    for (size_t i = 0; i < tr_count(rx); i++) {
        tr_req_t q;
        cr_assert(tr_get(rx, i, &q));
        cr_assert_str_eq(q.path, "/a", "another workspace got the event: %s", q.body);
        json_t *ev = json_loads(q.body, 0, NULL);
        cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "ratelimit.burst");
        const char *id = json_string_value(json_object_get(json_object_get(json_object_get(ev, "data"), "account"), "id"));
        for (int k = 0; k < 2; k++)
            seen[k] += id && strcmp(id, acct[k]) == 0;
        cr_assert(json_integer_value(json_object_get(json_object_get(ev, "data"), "count")) >= 10, "%s", q.body);
        json_decref(ev);
        tr_req_free(&q);
    }
    cr_assert(seen[0] == 1 && seen[1] == 1, "events per account: %d, %d", seen[0], seen[1]);
    ta_stop(&a);
    tr_stop(rx);
}
