/* OAuth refresh is single-flight across API replicas (issue 6): with two
 * API processes on one database and Redis, every access-token expiry costs
 * exactly one token request, and 50 simultaneous refresh requests from
 * workers cost exactly one. The sandbox refuses any reuse of a rotated
 * refresh token (no grace), so a double refresh would show as a denial. */
#include <libpq-fe.h>

#include "test_oauth_common.h"

#define WAIT_MS 30000

static void connect_one(to_env_t *e, const char *tenant, char *id)
{
    ts_resp_t r;
    to_connect(e, tenant, &r);
    cr_assert_eq(r.status, 201, "callback: %ld %s", r.status, r.body);
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
}

Test(oauth_refresh, ahead_of_expiry_once_per_expiry_with_two_apis, .timeout = 120)
{
    to_env_t e;
    char id[64];
    long long refresh, denied;
    /* Tokens live 2 s and are refreshed when under 1 s is left; both API
     * processes scan every 100 ms, so they race for every expiry. */
    to_start(&e, "oauth-ahead", 2, "100", "1000");
    to_start_api2(&e, "oauth-ahead-api2");
    to_set_app(&e);
    connect_one(&e, "cust-a", id);

    long long v = 1;
    for (int i = 0; i < WAIT_MS / 50 && (v = to_pg_version(&e, id)) < 4; i++)
        to_sleep_ms(50);
    cr_assert_geq(v, 4, "three refreshes ahead of expiry (version %lld)", v);
    json_t *blob = to_acct_blob(&e, id);
    cr_assert_str_eq(json_string_value(json_object_get(blob, "status")), "active");
    cr_assert_geq(json_integer_value(json_object_get(blob, "cred_version")), 3);
    json_decref(blob);

    /* With both APIs stopped nothing moves: every token request made
     * exactly one new version, and none was refused. */
    to_stop_apis(&e);
    v = to_pg_version(&e, id);
    to_sb_counts(&e, &refresh, &denied);
    cr_assert_eq(denied, 0, "a rotated refresh token was reused");
    cr_assert_eq(refresh, v - 1, "%lld token requests for %lld refreshes", refresh, v - 1);
    cr_assert(ts_log_count(&e.api.proc, "access token refreshed") + ts_log_count(&e.api2, "access token refreshed") ==
              v - 1);
    cr_assert_eq(ts_stop(&e.sandbox), 0);
}

Test(oauth_refresh, fifty_concurrent_requests_one_refresh, .timeout = 120)
{
    to_env_t e;
    char id[64];
    long long refresh, denied;
    to_start(&e, "oauth-fifty", 3600, "15000", "300000");
    to_start_api2(&e, "oauth-fifty-api2");
    to_set_app(&e);
    connect_one(&e, "cust-f", id);

    /* 50 workers saw a 401 on version 1 at the same moment. */
    to_publish_refresh(&e, id, 1, 50);
    /* Each API process receives all 50: wait until both handled them. */
    long long h1 = 0, h2 = 0;
    for (int i = 0; i < WAIT_MS / 50 && ((h1 = to_refresh_handled(e.api.metrics_url)) < 50 ||
                                         (h2 = to_refresh_handled(e.api2_metrics_url)) < 50); i++)
        to_sleep_ms(50);
    if (h1 != 50) {
        ts_resp_t m;
        ts_http(&m, "GET", e.api.metrics_url, NULL, NULL, 0);
        cr_assert_fail("first API handled %lld: %s", h1, m.body);
    }
    cr_assert_eq(h2, 50, "second API handled %lld", h2);

    to_sb_counts(&e, &refresh, &denied);
    cr_assert_eq(refresh, 1, "%lld token requests", refresh);
    cr_assert_eq(denied, 0);
    cr_assert_eq(to_pg_version(&e, id), 2);
    json_t *blob = to_wait_blob(&e, id, 2);
    cr_assert_eq(json_integer_value(json_object_get(blob, "cred_version")), 2);
    json_decref(blob);
    to_stop(&e);
}

/* Accounts whose credentials came through POST/PATCH /integrated-account
 * (no cred_version in the sealed blob, no access_expires_at) are refreshed
 * by the scan once due, and a worker report with version 0 refreshes once. */
Test(oauth_refresh, accounts_set_through_the_crud_api, .timeout = 120)
{
    to_env_t e;
    ts_resp_t r;
    char a[64], b[64], body[1024], path[128], rt[128];
    long long refresh, denied;
    to_start(&e, "oauth-crud", 3600, "100", "300000");
    to_set_app(&e);
    connect_one(&e, "cust-a", a);
    json_t *blob = to_pg_creds(&e, a);
    snprintf(rt, sizeof rt, "%s", json_string_value(json_object_get(blob, "refresh_token")));
    json_decref(blob);

    /* An account created with an already expired access token: the scan refreshes it. */
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"manual\",\"site_url\":\"%s\",\"auth\":{\"type\":\"oauth2\",\"access_token\":\"expired\","
             "\"refresh_token\":\"%s\",\"cloud_id\":\"%s\",\"expires_at\":\"2020-01-01T00:00:00Z\"},"
             "\"pace\":\"3/s\"}",
             e.sb_url, rt, TO_CLOUD_ID);
    ts_api_call(&r, &e.api, e.key, "POST", "/integrated-account", body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(b, sizeof b, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    long long v = 0;
    for (int i = 0; i < WAIT_MS / 50 && (v = to_pg_version(&e, b)) < 2; i++)
        to_sleep_ms(50);
    cr_assert_eq(v, 2, "scan refreshed the expired account");
    blob = to_wait_blob(&e, b, 2);
    cr_assert_eq(json_integer_value(json_object_get(blob, "cred_version")), 2);
    cr_assert_str_neq(json_string_value(json_object_get(blob, "access_token")), "expired");
    cr_assert_str_eq(json_string_value(json_object_get(blob, "pace")), "3/s", "the refresh dropped the account's rule");
    json_decref(blob);
    blob = to_pg_creds(&e, b);
    snprintf(rt, sizeof rt, "%s", json_string_value(json_object_get(blob, "refresh_token")));
    json_decref(blob);

    /* PATCHed credentials (valid for years: not due) carry no version; a
     * worker reporting version 0 gets exactly one refresh. */
    snprintf(body, sizeof body,
             "{\"auth\":{\"type\":\"oauth2\",\"access_token\":\"patched\",\"refresh_token\":\"%s\",\"cloud_id\":\"%s\","
             "\"expires_at\":\"2099-01-01T00:00:00Z\"}}",
             rt, TO_CLOUD_ID);
    snprintf(path, sizeof path, "/integrated-account/%s", b);
    ts_api_call(&r, &e.api, e.key, "PATCH", path, body);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert_eq(to_pg_version(&e, b), 3);
    long long before = to_refresh_handled(e.api.metrics_url);
    to_publish_refresh(&e, b, 0, 1);
    for (int i = 0; i < WAIT_MS / 50 && (v = to_pg_version(&e, b)) < 4; i++)
        to_sleep_ms(50);
    cr_assert_eq(v, 4);
    /* The same report again is stale now: no token request. */
    for (int i = 0; i < 600 && to_refresh_handled(e.api.metrics_url) < before + 1; i++)
        to_sleep_ms(50);
    before = to_refresh_handled(e.api.metrics_url);
    to_publish_refresh(&e, b, 0, 1);
    for (int i = 0; i < 600 && to_refresh_handled(e.api.metrics_url) < before + 1; i++)
        to_sleep_ms(50);
    to_stop_apis(&e);
    to_sb_counts(&e, &refresh, &denied);
    cr_assert_eq(refresh, 2, "%lld token requests", refresh);
    cr_assert_eq(denied, 0);
    cr_assert_eq(to_pg_version(&e, b), 4);
    cr_assert_eq(ts_stop(&e.sandbox), 0);
}

/* The rotated refresh token exists only in the refresher's memory between
 * the token answer and the compare-and-set: a lost database connection
 * there is retried, not dropped. The test holds the row locked so the
 * UPDATE waits, kills that connection, then lets go. */
Test(oauth_refresh, store_survives_a_lost_database_connection, .timeout = 120)
{
    to_env_t e;
    char id[64], sql[300];
    long long refresh, denied;
    to_start(&e, "oauth-store", 3600, "15000", "300000");
    to_set_app(&e);
    connect_one(&e, "cust-s", id);

    PGconn *hold = PQconnectdb(e.api.db_url);
    cr_assert(PQstatus(hold) == CONNECTION_OK);
    PQclear(PQexec(hold, "BEGIN"));
    snprintf(sql, sizeof sql, "SELECT 1 FROM integrated_accounts WHERE id = '%s' FOR UPDATE", id);
    PGresult *res = PQexec(hold, sql);
    cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);

    to_publish_refresh(&e, id, 1, 1);
    const char *waiting = "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                          " AND query LIKE 'UPDATE integrated_accounts SET credentials_sealed%'";
    char *pid = NULL;
    snprintf(sql, sizeof sql, "SELECT pid::text %s", waiting);
    for (int i = 0; i < WAIT_MS / 50 && !(pid = ts_sql(e.api.db_url, sql)); i++)
        to_sleep_ms(50);
    cr_assert(pid, "the refresher's UPDATE never waited on the lock");
    free(pid);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid)::text %s", waiting);
    free(ts_sql(e.api.db_url, sql));
    PQclear(PQexec(hold, "ROLLBACK"));
    PQfinish(hold);

    long long v = 1;
    for (int i = 0; i < WAIT_MS / 50 && (v = to_pg_version(&e, id)) < 2; i++)
        to_sleep_ms(50);
    cr_assert_eq(v, 2, "the refreshed credentials were stored after the retry");
    json_t *blob = to_wait_blob(&e, id, 2);
    json_decref(blob);
    to_stop_apis(&e);
    to_sb_counts(&e, &refresh, &denied);
    cr_assert_eq(refresh, 1);
    cr_assert_eq(denied, 0);
    cr_assert_geq(ts_log_count(&e.api.proc, "storing refreshed credentials; retrying"), 1);
    cr_assert_eq(ts_stop(&e.sandbox), 0);
}
