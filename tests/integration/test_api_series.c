/* GET /calls/series (issue 26): a workspace's tool calls counted per time
 * bucket in PostgreSQL — calls, errors, latency p50/p95 (nearest rank),
 * the lowest ratelimit_remaining and the lowest share of the limit left —
 * checked bucket by bucket against rows written straight into tool_calls
 * (the drain that normally writes them is test_api_audit's subject); the
 * search's filters apply; another workspace's calls are never counted, even
 * when it names this one's server; every empty bucket is there; bad input
 * is a 400 problem naming the parameter. */
#include "test_api_common.h"

#define T0 "2026-03-01T00:00:00Z"
#define SRV0 "00000000-0000-4000-8000-0000000000a0"
#define SRV1 "00000000-0000-4000-8000-0000000000a1"
#define ACCT "00000000-0000-4000-8000-0000000000c0"

/* One record of workspace ws at T0 + secs. remaining/limit: -1 for NULL. */
static void call_at(const ts_api_t *a, const char *ws, const char *srv, long secs, double latency,
                    const char *error_class, int limit, int remaining)
{
    static int seq;
    char sql[1024], lim[16] = "NULL", rem[16] = "NULL", err[64] = "NULL";
    if (limit >= 0)
        snprintf(lim, sizeof lim, "%d", limit);
    if (remaining >= 0)
        snprintf(rem, sizeof rem, "%d", remaining);
    if (error_class)
        snprintf(err, sizeof err, "'%s'", error_class);
    seq++;
    snprintf(sql, sizeof sql,
             "INSERT INTO tool_calls (stream_id, call_id, ts, workspace_id, account_id, server_id, tool,"
             " upstream_status, latency_ms, error_class, ratelimit_limit, ratelimit_remaining)"
             " VALUES ('series-%d', md5('series-%d')::uuid, '" T0 "'::timestamptz + %ld * interval '1 second',"
             " '%s', '" ACCT "', '%s', 'search', %s, %g, %s, %s, %s)",
             seq, seq, secs, ws, srv, error_class ? "404" : "200", latency, err, lim, rem);
    free(ts_sql(a->db_url, sql));
}

/* GET /calls/series?<query> as key, asserted 200 with n buckets. */
static json_t *series(ts_resp_t *r, const ts_api_t *a, const char *key, const char *query, size_t n)
{
    ta_call(r, a, key, "GET", NULL, "/calls/series?%s", query);
    cr_assert_eq(r->status, 200, "%s: %ld %s", query, r->status, r->body);
    json_t *b = json_object_get(r->json, "buckets");
    cr_assert_eq(json_array_size(b), n, "%s: %zu buckets, want %zu: %s", query, json_array_size(b), n, r->body);
    return b;
}

static long num(const json_t *bucket, const char *member)
{
    return (long)json_integer_value(json_object_get(bucket, member));
}

/* A number member, or -1 when it is null. */
static double real(const json_t *bucket, const char *member)
{
    const json_t *v = json_object_get(bucket, member);
    cr_assert(v, "bucket without %s", member);
    return json_is_null(v) ? -1 : json_number_value(v);
}

static long total_calls(const json_t *buckets)
{
    long n = 0;
    for (size_t i = 0; i < json_array_size(buckets); i++)
        n += num(json_array_get(buckets, i), "calls");
    return n;
}

Test(api_series, buckets_filters_isolation_bad_input, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], ws2[64], key2[64];
    /* The records are dated T0, a fixed day that ages past the default
     * 90-day retention: without this the API's retention pass deletes them
     * while they are written (from 2026-05-30 on, it did). */
    static const char *const env[] = {"JSMCP_AUDIT_RETENTION_DAYS=36500", NULL};
    ta_start(&a, "series", env, ws, key, NULL);
    ts_api_workspace(&a, "beta", ws2, key2);

    /* Bucket 0 [T0, T0+10 min): six calls, two of them errors; latencies
     * 10..60 ms; rate limits 80 and 40 left of 100, and 5 left with no limit sent. */
    call_at(&a, ws, SRV0, 0, 40, NULL, 100, 80);
    call_at(&a, ws, SRV0, 30, 10, "upstream_4xx", 100, 40);
    call_at(&a, ws, SRV0, 60, 60, NULL, -1, 5);
    call_at(&a, ws, SRV0, 90, 20, NULL, -1, -1);
    call_at(&a, ws, SRV0, 120, 50, "rate_limited", -1, -1);
    call_at(&a, ws, SRV0, 599, 30, NULL, -1, -1);
    /* Bucket 1 empty; bucket 2: one call of the other server. */
    call_at(&a, ws, SRV1, 1500, 7, NULL, -1, -1);
    /* Outside [T0, T0+30 min): one second before, and at the end (excluded). */
    call_at(&a, ws, SRV0, -1, 999, NULL, 100, 0);
    call_at(&a, ws, SRV0, 1800, 999, NULL, 100, 0);
    /* The other workspace: 50 slow, rate-limited calls of the same server
     * id in bucket 0. None may count for this workspace. */
    for (int i = 0; i < 50; i++)
        call_at(&a, ws2, SRV0, i, 5000, "rate_limited", 100, 0);

    json_t *b = series(&r, &a, key, "since=" T0 "&until=2026-03-01T00:30:00Z&step=600", 3);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "step_s")), 600, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "since")), "2026-03-01T00:00:00.000Z");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "until")), "2026-03-01T00:30:00.000Z");
    static const struct {
        const char *t;
        long calls, errors;
        double p50, p95, rl_min, rl_pct;
    } want[] = {
        {"2026-03-01T00:00:00.000Z", 6, 2, 30, 60, 5, 40},
        {"2026-03-01T00:10:00.000Z", 0, 0, -1, -1, -1, -1},
        {"2026-03-01T00:20:00.000Z", 1, 0, 7, 7, -1, -1},
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_array_get(b, i);
        cr_assert_str_eq(json_string_value(json_object_get(x, "t")), want[i].t, "bucket %zu: %s", i, r.body);
        cr_assert_eq(num(x, "calls"), want[i].calls, "bucket %zu calls: %s", i, r.body);
        cr_assert_eq(num(x, "errors"), want[i].errors, "bucket %zu errors: %s", i, r.body);
        cr_assert_eq(real(x, "p50_ms"), want[i].p50, "bucket %zu p50: %s", i, r.body);
        cr_assert_eq(real(x, "p95_ms"), want[i].p95, "bucket %zu p95: %s", i, r.body);
        cr_assert_eq(real(x, "ratelimit_remaining_min"), want[i].rl_min, "bucket %zu remaining: %s", i, r.body);
        cr_assert_eq(real(x, "ratelimit_headroom_pct"), want[i].rl_pct, "bucket %zu headroom: %s", i, r.body);
    }
    ts_resp_free(&r);

    /* The search's filters: one server, one outcome, an upstream status class. */
    b = series(&r, &a, key, "since=" T0 "&until=2026-03-01T00:30:00Z&step=600&server_id=" SRV1, 3);
    cr_assert_eq(num(json_array_get(b, 0), "calls"), 0, "%s", r.body);
    cr_assert_eq(num(json_array_get(b, 2), "calls"), 1, "%s", r.body);
    ts_resp_free(&r);
    b = series(&r, &a, key, "since=" T0 "&until=2026-03-01T00:30:00Z&step=600&outcome=ok", 3);
    cr_assert_eq(num(json_array_get(b, 0), "calls"), 4, "%s", r.body);
    cr_assert_eq(num(json_array_get(b, 0), "errors"), 0, "%s", r.body);
    ts_resp_free(&r);
    b = series(&r, &a, key, "since=" T0 "&until=2026-03-01T00:30:00Z&step=600&upstream_status=4xx&account_id=" ACCT, 3);
    cr_assert_eq(total_calls(b), 2, "%s", r.body);
    ts_resp_free(&r);

    /* Defaults: step = the range in 60 buckets; since = 24 hours before until. */
    b = series(&r, &a, key, "since=" T0 "&until=2026-03-01T00:30:00Z", 60);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "step_s")), 30, "%s", r.body);
    cr_assert_eq(total_calls(b), 7, "%s", r.body);
    ts_resp_free(&r);
    b = series(&r, &a, key, "until=2026-03-01T00:30:00Z", 60);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "since")), "2026-02-28T00:30:00.000Z");
    cr_assert_eq(total_calls(b), 8, "the call a second before T0 too: %s", r.body);
    ts_resp_free(&r);

    /* Isolation: the other workspace sees its 50 only, never these, even
     * when it filters on the same server id; this one never sees its 50. */
    b = series(&r, &a, key2, "since=" T0 "&until=2026-03-01T00:30:00Z&step=600", 3);
    cr_assert_eq(num(json_array_get(b, 0), "calls"), 50, "%s", r.body);
    cr_assert_eq(real(json_array_get(b, 0), "p50_ms"), 5000, "%s", r.body);
    cr_assert_eq(total_calls(b), 50, "%s", r.body);
    ts_resp_free(&r);
    b = series(&r, &a, key2, "since=" T0 "&until=2026-03-01T00:30:00Z&step=600&server_id=" SRV1, 3);
    cr_assert_eq(total_calls(b), 0, "another workspace's server: %s", r.body);
    ts_resp_free(&r);

    /* Bad input: 400 problem+json naming the parameter; nothing runs. */
    static const struct {
        const char *query, *field;
    } bad[] = {
        {"step=0", "step"},
        {"step=abc", "step"},
        {"step=86401", "step"},
        {"step=-5", "step"},
        {"since=" T0 "&until=2026-03-03T00:00:00Z&step=1", "step"}, /* 172,800 buckets */
        {"since=" T0 "&until=" T0, "until"},
        {"since=2026-03-02T00:00:00Z&until=" T0, "until"},
        {"since=2026-01-01T00:00:00Z&until=" T0 "&step=86400", "since"}, /* 59 days */
        {"since=yesterday", "since"},
        {"until=soon", "until"},
        {"server_id=nope", "server_id"},
        {"account_id=1", "account_id"},
        {"outcome=great", "outcome"},
        {"upstream_status=6xx", "upstream_status"},
        {"step=60&step=120", "step"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ta_call(&r, &a, key, "GET", NULL, "/calls/series?%s", bad[i].query);
        ta_expect_problem(&r, 400, bad[i].field, bad[i].query);
        ts_resp_free(&r);
    }
    /* Without a key: 401. */
    ta_call(&r, &a, NULL, "GET", NULL, "/calls/series?since=" T0);
    cr_assert_eq(r.status, 401, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_stop(&a);
}
