/* OAuth 2.0 (3LO) connect flow and refresh outcomes against the JSM
 * sandbox standing in for Atlassian (issue 6): the full connect flow,
 * single-use state, failures, rotation without reuse, invalid_grant ->
 * needs_reauth, and no secret in any log line. */
#include "test_oauth_common.h"

#define WAIT_MS 30000

/* Waits until the account's cred_version in PostgreSQL reaches want. */
static long long wait_version(to_env_t *e, const char *id, long long want)
{
    long long v = -1;
    for (int i = 0; i < WAIT_MS / 50 && (v = to_pg_version(e, id)) < want; i++)
        to_sleep_ms(50);
    return v;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The admin audit trail (migration 023): the actions of the events about
 * account id, oldest first, each with "-" when no key made it
 * ("account.connected-,account.needs_reauth-"). Caller frees. */
static char *audit_actions(const to_env_t *e, const char *id)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(action || coalesce(key_id::text, '-'), ',' ORDER BY created_at, id)"
             " FROM admin_events WHERE object_id = '%s'", id);
    char *s = ts_sql(e->api.db_url, sql);
    return s ? s : strdup("(none)");
}

/* The callback's answer is read by the customer's browser: the account's
 * id and state (id, site_url, auth_type, status, created_at, updated_at)
 * and nothing of the operator's (context, tenant_id, pace) nor any token. */
static void browser_answer_is_public(const ts_resp_t *r)
{
    static const char *const shown[] = {"id", "site_url", "auth_type", "status", "created_at", "updated_at", NULL};
    cr_assert(json_is_object(r->json), "%s", r->body);
    for (int i = 0; shown[i]; i++)
        cr_assert(json_object_get(r->json, shown[i]), "%s missing: %s", shown[i], r->body);
    cr_assert_eq(json_object_size(r->json), 6, "only the public members: %s", r->body);
    cr_assert(!strstr(r->body, "context") && !strstr(r->body, "op-private-4711") && !strstr(r->body, "gold"),
              "the operator's context reached the browser: %s", r->body);
    cr_assert(!strstr(r->body, "tenant_id") && !strstr(r->body, "cust-1") && !strstr(r->body, "pace"),
              "the operator's data reached the browser: %s", r->body);
    cr_assert(!strstr(r->body, "token"), "%s", r->body);
}

Test(oauth, connect_flow_reconnect_and_no_secret_in_logs, .timeout = 120)
{
    to_env_t e;
    ts_resp_t r;
    char path[128], id[64];
    to_start(&e, "oauth-connect", 3600, "15000", "300000");
    to_set_app(&e);

    ts_api_call(&r, &e.api, e.key, "GET", "/oauth-app", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(str(r.json, "client_id"), TO_CLIENT_ID);
    cr_assert(json_is_true(json_object_get(r.json, "client_secret_set")));
    cr_assert(!strstr(r.body, TO_CLIENT_SECRET), "secret returned: %s", r.body);
    cr_assert(strstr(r.body, "offline_access"), "offline_access added: %s", r.body);
    ts_resp_free(&r);

    /* The browser's trip; the callback creates the account. The operator's
     * context goes with the connect. */
    char *cb = to_authorize_ctx(&e, "cust-1", "{\"crm_id\":\"op-private-4711\",\"plan\":\"gold\"}");
    ts_http(&r, "GET", cb, NULL, NULL, 0);
    if (r.status != 201) {
        json_t *l = to_sb_get(&e, "/__sandbox/requests");
        char *d = json_dumps(l, 0);
        cr_assert_fail("callback: %ld %s sandbox: %s", r.status, r.body, d);
    }
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    cr_assert_str_eq(str(r.json, "auth_type"), "oauth2");
    char *acts = audit_actions(&e, id);
    cr_assert_str_eq(acts, "account.connected-", "the connect is one event, made by no key");
    free(acts);
    cr_assert_str_eq(str(r.json, "status"), "active");
    cr_assert_str_eq(str(r.json, "site_url"), e.sb_url);
    browser_answer_is_public(&r);
    ts_resp_free(&r);

    /* The state works once. */
    ts_http(&r, "GET", cb, NULL, NULL, 0);
    cr_assert_eq(r.status, 400, "reused state: %ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "already used"), "%s", r.body);
    ts_resp_free(&r);

    /* The operator still reads its own data through the admin API. */
    snprintf(path, sizeof path, "/integrated-account/%s", id);
    ts_api_call(&r, &e.api, e.key, "GET", path, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(str(r.json, "status"), "active");
    cr_assert_str_eq(str(r.json, "tenant_id"), "cust-1");
    cr_assert_str_eq(str(json_object_get(r.json, "context"), "crm_id"), "op-private-4711", "%s", r.body);
    cr_assert_str_eq(str(json_object_get(r.json, "context"), "plan"), "gold", "%s", r.body);
    cr_assert(!strstr(r.body, "token"), "credentials in the account: %s", r.body);
    ts_resp_free(&r);

    /* Workers' view: sealed blob with the access token, cloud id and version. */
    json_t *blob = to_acct_blob(&e, id);
    cr_assert(blob, "acct blob missing");
    cr_assert_str_eq(str(blob, "auth_type"), "oauth2");
    cr_assert_str_eq(str(blob, "status"), "active");
    cr_assert_str_eq(str(blob, "cloud_id"), TO_CLOUD_ID);
    cr_assert_eq(json_integer_value(json_object_get(blob, "cred_version")), 1);
    cr_assert(*str(blob, "access_token"));
    cr_assert(!json_object_get(blob, "refresh_token"), "workers never see the refresh token");
    cr_assert(json_integer_value(json_object_get(blob, "expires_at_ms")) > 0);
    char access[128], refresh[128], state[64];
    snprintf(access, sizeof access, "%s", str(blob, "access_token"));
    json_decref(blob);
    json_t *creds = to_pg_creds(&e, id);
    snprintf(refresh, sizeof refresh, "%s", str(creds, "refresh_token"));
    cr_assert(*refresh);
    json_decref(creds);
    cr_assert_eq(to_pg_version(&e, id), 1);
    /* Nothing readable at rest in PostgreSQL either. */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT credentials_sealed FROM integrated_accounts WHERE id = '%s'", id);
    char *sealed = ts_sql(e.api.db_url, sql);
    cr_assert(sealed && !strstr(sealed, access) && !strstr(sealed, refresh));
    free(sealed);
    char *app_sealed = ts_sql(e.api.db_url, "SELECT client_secret_sealed FROM oauth_apps");
    cr_assert(app_sealed && !strstr(app_sealed, TO_CLIENT_SECRET));
    free(app_sealed);

    /* The access token works at the sandbox (accessible-resources). */
    char auth[200], url[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", access);
    snprintf(url, sizeof url, "%s/oauth/token/accessible-resources", e.sb_url);
    const char *hdr[2] = {auth, NULL};
    ts_http(&r, "GET", url, hdr, NULL, 0);
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);

    /* Reconnecting the same tenant updates the same account, and keeps its own pacing rule. */
    snprintf(path, sizeof path, "/integrated-account/%s", id);
    ts_api_call(&r, &e.api, e.key, "PATCH", path, "{\"pace\":\"4/m\"}");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    to_connect(&e, "cust-1", &r);
    cr_assert_eq(r.status, 200, "reconnect: %ld %s", r.status, r.body);
    cr_assert_str_eq(str(r.json, "id"), id);
    browser_answer_is_public(&r); /* the account keeps its context: still not shown */
    ts_resp_free(&r);
    cr_assert_eq(to_pg_version(&e, id), 2);
    blob = to_acct_blob(&e, id);
    cr_assert_eq(json_integer_value(json_object_get(blob, "cred_version")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(blob, "pace")), "4/m", "the reconnect dropped the rule");
    json_decref(blob);

    char *st = strstr(cb, "state=");
    snprintf(state, sizeof state, "%.43s", st + 6);
    free(cb);
    to_stop(&e);
    /* No secret in any log line of the API. */
    cr_assert(!ts_file_contains(e.api.proc.log, TO_CLIENT_SECRET), "client secret logged");
    cr_assert(!ts_file_contains(e.api.proc.log, access), "access token logged");
    cr_assert(!ts_file_contains(e.api.proc.log, refresh), "refresh token logged");
    cr_assert(!ts_file_contains(e.api.proc.log, state), "state logged");
    cr_assert(ts_log_count(&e.api.proc, "account connected") == 1, "log has the connect event");
}

Test(oauth, connect_failures, .timeout = 120)
{
    to_env_t e;
    ts_resp_t r;
    char url[512];
    to_start(&e, "oauth-fail", 3600, "15000", "300000");

    /* Refusals before any OAuth flow: no app yet, bad app settings (the
     * secret is required the first time), bad connect input, no key. */
    static const struct {
        const char *method, *path, *body;
        long status;
        const char *field;
    } cases[] = {
        {"POST", "/integrated-account/connect", "{\"tenant_id\":\"t1\"}", 409, NULL},
        {"GET", "/oauth-app", NULL, 404, NULL},
        {"PUT", "/oauth-app", "{\"client_id\":\"c\",\"scopes\":[\"read:jira-work\"],\"redirect_url\":\"https://x.test/cb\"}",
         400, "/client_secret"},
        {"PUT", "/oauth-app",
         "{\"client_id\":\"c\",\"client_secret\":\"s\",\"scopes\":[\"bad scope\"],\"redirect_url\":\"https://x.test/cb\"}",
         400, "/scopes/0"},
        {"PUT", "/oauth-app",
         "{\"client_id\":\"c\",\"client_secret\":\"s\",\"scopes\":[\"a\"],\"redirect_url\":\"javascript:x\"}", 400,
         "/redirect_url"},
        {"PUT", "/oauth-app", "{\"client_id\":\"c\",\"client_secret\":\"s\",\"scopes\":[],\"redirect_url\":\"https://x/cb\"}",
         400, "/scopes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_api_call(&r, &e.api, e.key, cases[i].method, cases[i].path, cases[i].body);
        cr_assert_eq(r.status, cases[i].status, "case %zu: %ld %s", i, r.status, r.body);
        if (cases[i].field)
            cr_assert_str_eq(str(r.json, "field"), cases[i].field, "case %zu", i);
        ts_resp_free(&r);
    }
    to_set_app(&e);
    /* Updating without the secret keeps it (the flows below use it). */
    snprintf(url, sizeof url,
             "{\"client_id\":\"%s\",\"scopes\":[\"read:jira-work\"],\"redirect_url\":\"%s/oauth/callback\"}",
             TO_CLIENT_ID, e.api.url);
    ts_api_call(&r, &e.api, e.key, "PUT", "/oauth-app", url);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    static const struct {
        const char *key, *body;
        long status;
        const char *field;
    } connects[] = {
        {"ws", "{\"tenant_id\":\"a b\"}", 400, "/tenant_id"},
        {"ws", "{\"tenant_id\":\"t1\",\"site_url\":\"http://169.254.169.254\"}", 400, "/site_url"}, /* SSRF guard */
        {"ws", "{\"tenant_id\":\"t1\",\"other\":1}", 400, NULL},
        {"ws", "{\"tenant_id\":\"t1\",\"context\":[1]}", 400, "/context"},
        {NULL, "{\"tenant_id\":\"t1\"}", 401, NULL},
    };
    for (size_t i = 0; i < sizeof connects / sizeof connects[0]; i++) {
        ts_api_call(&r, &e.api, connects[i].key ? e.key : NULL, "POST", "/integrated-account/connect",
                    connects[i].body);
        cr_assert_eq(r.status, connects[i].status, "connect %zu: %ld %s", i, r.status, r.body);
        if (connects[i].field)
            cr_assert_str_eq(str(r.json, "field"), connects[i].field, "connect %zu", i);
        ts_resp_free(&r);
    }

    /* Callbacks with a bad, unknown or missing state, or a refusal. */
    const char *bad[] = {"/oauth/callback?code=x",
                         "/oauth/callback?code=x&state=short",
                         "/oauth/callback?code=x&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "/oauth/callback?error=access_denied&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        snprintf(url, sizeof url, "%s%s", e.api.url, bad[i]);
        ts_http(&r, "GET", url, NULL, NULL, 0);
        cr_assert_eq(r.status, 400, "%s: %ld %s", bad[i], r.status, r.body);
        cr_assert(strstr(r.body, "connect"), "%s: says what to do: %s", bad[i], r.body);
        ts_resp_free(&r);
    }

    /* A valid state with a code the token endpoint refuses: its error is passed on. */
    char *cb = to_authorize(&e, "t1");
    char *code = strstr(cb, "code=");
    cr_assert(code);
    code[5] = code[5] == 'x' ? 'y' : 'x'; /* spoil the code */
    ts_http(&r, "GET", cb, NULL, NULL, 0);
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "invalid_grant"), "%s", r.body);
    ts_resp_free(&r);
    free(cb);

    /* Site asked for that the customer did not grant. */
    ts_api_call(&r, &e.api, e.key, "POST", "/integrated-account/connect",
                "{\"tenant_id\":\"t2\",\"site_url\":\"https://other.atlassian.net\"}");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_t a;
    char loc[2048];
    ts_http(&a, "GET", str(r.json, "authorization_url"), NULL, NULL, 0);
    cr_assert_eq(a.status, 302);
    cr_assert(ts_resp_header(&a, "Location", loc, sizeof loc));
    ts_resp_free(&a);
    ts_resp_free(&r);
    ts_http(&r, "GET", loc, NULL, NULL, 0);
    cr_assert_eq(r.status, 409, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "site_url"), "%s", r.body);
    ts_resp_free(&r);
    to_stop(&e);
}

Test(oauth, rotation_never_reuses_and_invalid_grant_needs_reauth, .timeout = 120)
{
    to_env_t e;
    ts_resp_t r;
    char id[64], path[128], old_rt[128], body[512], url[128];
    long long refresh, denied;
    to_start(&e, "oauth-rotate", 3600, "15000", "300000");
    to_set_app(&e);
    to_connect(&e, "cust-r", &r);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    ts_resp_free(&r);
    json_t *blob = to_pg_creds(&e, id);
    snprintf(old_rt, sizeof old_rt, "%s", str(blob, "refresh_token"));
    json_decref(blob);

    /* A worker reports a 401 on version 1: one refresh, version 2. */
    to_publish_refresh(&e, id, 1, 1);
    cr_assert_eq(wait_version(&e, id, 2), 2);
    blob = to_wait_blob(&e, id, 2);
    cr_assert_eq(json_integer_value(json_object_get(blob, "cred_version")), 2);
    cr_assert(!json_object_get(blob, "refresh_token"));
    json_decref(blob);
    blob = to_pg_creds(&e, id);
    cr_assert_str_neq(str(blob, "refresh_token"), old_rt, "refresh token rotated");
    cr_assert_eq(json_integer_value(json_object_get(blob, "cred_version")), 2);
    json_decref(blob);
    /* A stale report (version 1 again) changes nothing. */
    to_publish_refresh(&e, id, 1, 1);
    for (int i = 0; i < 400 && to_refresh_handled(e.api.metrics_url) < 2; i++)
        to_sleep_ms(50);
    to_sb_counts(&e, &refresh, &denied);
    cr_assert_eq(refresh, 1);
    cr_assert_eq(denied, 0, "the refresher reused a refresh token");
    cr_assert_eq(to_pg_version(&e, id), 2);

    /* The sandbox does detect reuse: the rotated-away token is refused. */
    snprintf(body, sizeof body,
             "{\"grant_type\":\"refresh_token\",\"client_id\":\"%s\",\"client_secret\":\"%s\",\"refresh_token\":\"%s\"}",
             TO_CLIENT_ID, TO_CLIENT_SECRET, old_rt);
    snprintf(url, sizeof url, "%s/oauth/token", e.sb_url);
    const char *hdr[2] = {"Content-Type: application/json", NULL};
    ts_http(&r, "POST", url, hdr, body, strlen(body));
    cr_assert_eq(r.status, 403, "%ld %s", r.status, r.body);
    cr_assert(strstr(r.body, "invalid_grant"));
    ts_resp_free(&r);

    /* Refresh tokens die 365 days after the grant: invalid_grant -> needs_reauth. */
    snprintf(url, sizeof url, "%s/__sandbox/clock", e.sb_url);
    const char *adv = "{\"advanceSeconds\":31622400}";
    ts_http(&r, "POST", url, hdr, adv, strlen(adv));
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    to_publish_refresh(&e, id, 2, 1);
    snprintf(path, sizeof path, "/integrated-account/%s", id);
    int reauth = 0;
    for (int i = 0; i < WAIT_MS / 50 && !reauth; i++) {
        ts_api_call(&r, &e.api, e.key, "GET", path, NULL);
        reauth = strcmp(str(r.json, "status"), "needs_reauth") == 0;
        ts_resp_free(&r);
        if (!reauth)
            to_sleep_ms(50);
    }
    cr_assert(reauth, "account not marked needs_reauth");
    /* The trail: the connect, the needs_reauth (by the refresher: no key);
     * the successful refresh before it is routine, not an event. */
    char *acts = audit_actions(&e, id);
    cr_assert_str_eq(acts, "account.connected-,account.needs_reauth-");
    free(acts);
    blob = to_acct_blob(&e, id);
    for (int i = 0; i < 600 && strcmp(str(blob, "status"), "needs_reauth") != 0; i++) {
        json_decref(blob);
        to_sleep_ms(50);
        blob = to_acct_blob(&e, id);
    }
    cr_assert_str_eq(str(blob, "status"), "needs_reauth", "workers see needs_reauth");
    json_decref(blob);
    /* Further reports do not call the token endpoint again. */
    long long handled = to_refresh_handled(e.api.metrics_url);
    to_publish_refresh(&e, id, 2, 3);
    for (int i = 0; i < 400 && to_refresh_handled(e.api.metrics_url) < handled + 3; i++)
        to_sleep_ms(50);
    to_sb_counts(&e, &refresh, &denied);
    /* ours that worked, the test's reuse above, ours that was refused: no retries */
    cr_assert_eq(refresh, 3, "%lld refresh requests", refresh);

    /* Reconnecting makes the account active again. */
    to_connect(&e, "cust-r", &r);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(str(r.json, "status"), "active");
    ts_resp_free(&r);
    blob = to_acct_blob(&e, id);
    cr_assert_str_eq(str(blob, "status"), "active");
    json_decref(blob);
    to_stop(&e);
    cr_assert(!ts_file_contains(e.api.proc.log, old_rt), "refresh token logged");
    cr_assert(!ts_file_contains(e.api.proc.log, TO_CLIENT_SECRET), "client secret logged");
}

/* A refresh failing for another reason than invalid_grant (here the
 * operator's wrong client secret: 401 access_denied) keeps the account
 * active, holds it back from the scan, and works once the app is fixed. */
Test(oauth, other_refresh_failures_do_not_need_reauth, .timeout = 120)
{
    to_env_t e;
    ts_resp_t r;
    char id[64], body[512], sql[200];
    to_start(&e, "oauth-wrongsecret", 3600, "15000", "300000");
    to_set_app(&e);
    to_connect(&e, "cust-w", &r);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    ts_resp_free(&r);

    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"wrong-secret-value\",\"scopes\":[\"read:jira-work\"],"
             "\"redirect_url\":\"%s/oauth/callback\"}",
             TO_CLIENT_ID, e.api.url);
    ts_api_call(&r, &e.api, e.key, "PUT", "/oauth-app", body);
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    to_publish_refresh(&e, id, 1, 1);
    for (int i = 0; i < WAIT_MS / 50 && to_refresh_handled(e.api.metrics_url) < 1; i++)
        to_sleep_ms(50);
    snprintf(sql, sizeof sql, "SELECT status || ' ' || (refresh_retry_at > now()) FROM integrated_accounts WHERE id = '%s'",
             id);
    char *row = NULL;
    for (int i = 0; i < 600 && (!row || strcmp(row, "active true") != 0); i++) {
        free(row);
        to_sleep_ms(50);
        row = ts_sql(e.api.db_url, sql);
    }
    cr_assert_str_eq(row ? row : "(none)", "active true", "still active, held back from the scan");
    free(row);
    char *acts = audit_actions(&e, id);
    cr_assert_str_eq(acts, "account.connected-,account.refresh_failed-", "the failed refresh is one event");
    free(acts);
    cr_assert_eq(to_pg_version(&e, id), 1);

    to_set_app(&e);
    to_publish_refresh(&e, id, 1, 1);
    cr_assert_eq(wait_version(&e, id, 2), 2, "a worker's report is not held back");
    to_stop(&e);
    cr_assert_eq(ts_log_count(&e.api.proc, "refresh failed; will retry"), 1);
    cr_assert(!ts_file_contains(e.api.proc.log, "wrong-secret-value"), "client secret logged");
    cr_assert(!ts_file_contains(e.api.proc.log, TO_CLIENT_SECRET), "client secret logged");
}
