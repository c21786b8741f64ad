/* The admin audit trail (issue 26; migration 023, api/ap_events.c): every
 * admin write is one event written in the write's transaction, naming the
 * key (id and prefix), the client IP, the action, the object and a diff
 * without secrets; GET /audit-events filters and pages a workspace's
 * events, never another's; bad parameters are 400 naming them; a write that
 * fails leaves no event. */
#include "test_api_common.h"

#define OAPP_BODY(secret)                                                                                  \
    "{\"client_id\":\"cid\",\"client_secret\":\"" secret "\",\"scopes\":[\"read:jira-work\"],"              \
    "\"redirect_url\":\"https://x.test/oauth/callback\"}"

static long events_in_db(const ts_api_t *a)
{
    return ta_sql_long(a, "SELECT count(*) FROM admin_events");
}

/* GET /audit-events?<query>, asserted 200; the caller frees r. */
static void events(ts_resp_t *r, const ts_api_t *a, const char *key, const char *query)
{
    ta_call(r, a, key, "GET", NULL, "/audit-events%s%s", query[0] ? "?" : "", query);
    cr_assert_eq(r->status, 200, "GET /audit-events?%s: %ld %s", query, r->status, r->body);
}

/* The event of r's result with this action and object id (NULL: any). */
static json_t *find(const ts_resp_t *r, const char *action, const char *object_id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r->json, "result"), i, e) {
        const char *act = json_string_value(json_object_get(e, "action"));
        const char *oid = json_string_value(json_object_get(e, "object_id"));
        if (act && strcmp(act, action) == 0 && (!object_id || (oid && strcmp(oid, object_id) == 0)))
            return e;
    }
    return NULL;
}

static const char *diff_str(const json_t *e, const char *field)
{
    return json_string_value(json_object_get(json_object_get(e, "diff"), field));
}

static const json_t *diff_to(const json_t *e, const char *field)
{
    return json_object_get(json_object_get(json_object_get(e, "diff"), field), "to");
}

Test(api_audit_events, every_write_kind_is_one_event_without_secrets, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], prefix[32], key_id[64], newkey_id[64];
    ta_start(&a, "audit_events_kinds", NULL, ws, key, acct);
    ts_api_call(&r, &a, key, "GET", "/api-keys/current", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    snprintf(prefix, sizeof prefix, "%s", ta_str(&r, "prefix"));
    snprintf(key_id, sizeof key_id, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);

    ta_call(&r, &a, key, "PATCH", "{\"context\":{\"team\":\"ops\"}}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_server(&a, key, acct, NULL, srv, NULL);
    ta_call(&r, &a, key, "PATCH", "{\"name\":\"renamed\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "POST", "{}", "/integrated-account/%s/mcp/%s/rotate", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key, "POST", "/api-keys", "{\"name\":\"ci\"}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(newkey_id, sizeof newkey_id, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
    ta_call(&r, &a, key, "DELETE", NULL, "/api-keys/%s", newkey_id);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key, "PUT", "/oauth-app", OAPP_BODY("oauth-secret-1"));
    cr_assert(r.status == 200 || r.status == 201, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key, "DELETE", "/oauth-app", NULL);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* A write the service makes on its own (the refresher marking an
     * account): an event without a key. */
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE integrated_accounts SET status = 'needs_reauth' WHERE id = '%s'", acct);
    free(ts_sql(a.db_url, sql));
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);

    events(&r, &a, key, "limit=100");
    static const struct {
        const char *action, *type;
        int which; /* 0 account, 1 server, 2 new key, 3 workspace (oauth app), 4 the workspace's key */
    } want[] = {
        {"api_key.created", "api_key", 4},   {"account.created", "account", 0},   {"account.updated", "account", 0},  {"server.created", "server", 1},
        {"server.updated", "server", 1},     {"server.rotated", "server", 1},    {"api_key.created", "api_key", 2},
        {"api_key.revoked", "api_key", 2},   {"oauth_app.created", "oauth_app", 3},
        {"oauth_app.deleted", "oauth_app", 3}, {"server.deleted", "server", 1},  {"account.needs_reauth", "account", 0},
        {"account.deleted", "account", 0},
    };
    size_t n = sizeof want / sizeof *want;
    json_t *list = json_object_get(r.json, "result");
    cr_assert_eq(json_array_size(list), n, "one event per write: %s", r.body);
    for (size_t i = 0; i < n; i++) {
        const char *ids[] = {acct, srv, newkey_id, ws, key_id};
        /* Newest first: the last write is the first event. */
        json_t *e = json_array_get(list, n - 1 - i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "action")), want[i].action, "event %zu: %s", i, r.body);
        cr_assert_str_eq(json_string_value(json_object_get(e, "object_type")), want[i].type, "%zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "object_id")), ids[want[i].which], "%zu", i);
        ta_time_ms(e, "created_at");
        if (want[i].which == 4) { /* ta_start made it with the bootstrap key */
            cr_assert(json_is_null(json_object_get(e, "key_id")), "%s", r.body);
            cr_assert_str_eq(json_string_value(json_object_get(e, "key_prefix")), "bootstrap", "%s", r.body);
            continue;
        }
        if (strcmp(want[i].action, "account.needs_reauth") == 0) {
            cr_assert(json_is_null(json_object_get(e, "key_id")), "%s", r.body);
            cr_assert(json_is_null(json_object_get(e, "client_ip")), "%s", r.body);
            continue;
        }
        cr_assert_str_eq(json_string_value(json_object_get(e, "key_id")), key_id, "event %zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "key_prefix")), prefix, "event %zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "client_ip")), "127.0.0.1", "event %zu", i);
    }
    /* Field-level diffs; secrets only as "changed". */
    json_t *e = find(&r, "account.created", acct);
    cr_assert_str_eq(diff_str(e, "credentials"), "changed", "%s", r.body);
    cr_assert_str_eq(json_string_value(diff_to(e, "tenant_id")), "c1", "%s", r.body);
    e = find(&r, "account.updated", acct);
    cr_assert_str_eq(json_string_value(json_object_get(diff_to(e, "context"), "team")), "ops", "%s", r.body);
    cr_assert_eq(json_object_size(json_object_get(e, "diff")), 1, "only the context changed: %s", r.body);
    e = find(&r, "server.updated", srv);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(e, "diff"), "name"), "from")),
                     "srv", "%s", r.body);
    cr_assert_str_eq(json_string_value(diff_to(e, "name")), "renamed", "%s", r.body);
    cr_assert_str_eq(diff_str(find(&r, "server.rotated", srv), "token"), "changed", "%s", r.body);
    cr_assert_str_eq(diff_str(find(&r, "api_key.created", newkey_id), "key"), "changed", "%s", r.body);
    cr_assert_str_eq(diff_str(find(&r, "oauth_app.created", ws), "client_secret"), "changed", "%s", r.body);
    cr_assert_str_eq(json_string_value(diff_to(find(&r, "account.needs_reauth", acct), "status")), "needs_reauth",
                     "%s", r.body);
    static const char *const secrets[] = {TA_API_TOKEN_PREFIX, "oauth-secret-1", "sealed", "hash", "agent@acme.test"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        cr_assert(!strstr(r.body, secrets[i]), "the trail shows %s: %s", secrets[i], r.body);
    ts_resp_free(&r);
    ta_stop(&a);
}

Test(api_audit_events, filters_paging_and_isolation, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    char ws_a[64], key_a[64], ws_b[64], key_b[64], acct[64], acct_b[64], srv[64], q[640];
    ta_start(&a, "audit_events_paging", NULL, ws_a, key_a, acct);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    ta_account(&a, key_b, "b1", acct_b);
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"name\":\"s%d\"}", i);
        ta_server(&a, key_a, acct, body, srv, NULL);
    }
    /* A's key, its account and 5 servers: walk them two at a time, newest first. */
    char cursor[512] = "";
    json_t *seen = json_array();
    for (int page = 0; page < 10; page++) {
        snprintf(q, sizeof q, "limit=2%s%s", cursor[0] ? "&next_cursor=" : "", cursor);
        events(&r, &a, key_a, q);
        json_t *list = json_object_get(r.json, "result"), *e;
        size_t i;
        cr_assert(json_array_size(list) <= 2, "%s", r.body);
        json_array_foreach(list, i, e) json_array_append(seen, e);
        json_t *next = json_object_get(r.json, "next_cursor");
        if (!json_is_string(next)) {
            ts_resp_free(&r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        ts_resp_free(&r);
    }
    cr_assert_eq(json_array_size(seen), 7, "every event once");
    for (size_t i = 1; i < json_array_size(seen); i++) {
        json_t *prev = json_array_get(seen, i - 1), *cur = json_array_get(seen, i);
        cr_assert(strcmp(json_string_value(json_object_get(prev, "created_at")),
                         json_string_value(json_object_get(cur, "created_at"))) >= 0,
                  "newest first");
        cr_assert(strcmp(json_string_value(json_object_get(prev, "id")), json_string_value(json_object_get(cur, "id"))),
                  "an event twice");
    }
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 5), "action")), "account.created");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 6), "action")), "api_key.created");
    json_decref(seen);

    /* Filters. */
    events(&r, &a, key_a, "action=server.created");
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 5, "%s", r.body);
    ts_resp_free(&r);
    snprintf(q, sizeof q, "object_id=%s", srv);
    events(&r, &a, key_a, q);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    cr_assert(find(&r, "server.created", srv), "%s", r.body);
    ts_resp_free(&r);
    events(&r, &a, key_a, "until=2000-01-01T00:00:00Z");
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "%s", r.body);
    ts_resp_free(&r);
    events(&r, &a, key_a, "since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&action=account.created");
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    ts_resp_free(&r);

    /* Isolation: B sees only its own key's and account's events, never A's. */
    events(&r, &a, key_b, "limit=100");
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 2, "%s", r.body);
    cr_assert(find(&r, "account.created", acct_b), "%s", r.body);
    cr_assert(!strstr(r.body, acct) && !strstr(r.body, srv), "B sees A's events: %s", r.body);
    ts_resp_free(&r);
    snprintf(q, sizeof q, "object_id=%s", acct);
    events(&r, &a, key_b, q);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "B reads A's object: %s", r.body);
    ts_resp_free(&r);
    ta_stop(&a);
}

Test(api_audit_events, bad_input_and_failed_writes_leave_no_event, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64];
    ta_start(&a, "audit_events_bad", NULL, ws, key, acct);
    static const struct {
        const char *query, *field;
    } bad[] = {
        {"object_id=nope", "object_id"},         {"object_id=", "object_id"},
        {"action=DROP%20TABLE", "action"},       {"action=created", "action"},
        {"since=yesterday", "since"},            {"until=2026-13-01T00:00:00Z", "until"},
        {"limit=0", "limit"},                    {"limit=101", "limit"},
        {"limit=x", "limit"},                    {"next_cursor=garbage", "next_cursor"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ta_call(&r, &a, key, "GET", NULL, "/audit-events?%s", bad[i].query);
        ta_expect_problem(&r, 400, bad[i].field, bad[i].query);
        ts_resp_free(&r);
    }
    ts_api_call(&r, &a, NULL, "GET", "/audit-events", NULL);
    cr_assert_eq(r.status, 401, "no key: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    long before = events_in_db(&a);
    cr_assert_eq(before, 2, "the key's and the account's creation");
    /* A write PostgreSQL refuses (a unique violation: the statement ran in
     * its transaction and rolled back), one refused before SQL, and a
     * transaction-wrapped write (account PATCH) that finds no row. */
    char body[512];
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"c1\",\"site_url\":\"" TA_SITE "\",\"auth\":{\"type\":\"api_token\","
             "\"email\":\"a@b.c\",\"api_token\":\"t\"}}");
    ts_api_call(&r, &a, key, "POST", "/integrated-account", body);
    cr_assert_eq(r.status, 409, "duplicate tenant: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "POST", "{\"name\":\"\"}", "/integrated-account/%s/mcp", acct);
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "PATCH", "{\"context\":{}}", "/integrated-account/%s", "00000000-0000-4000-8000-000000000000");
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert_eq(events_in_db(&a), before, "a failed write left an event");
    ta_stop(&a);
}

/* Retention (JSMCP_ADMIN_EVENTS_RETENTION_DAYS, here 30, a pass every
 * 200 ms): an event older than that goes, a newer one stays, in every
 * workspace; the test waits on the API's count of finished retention
 * passes, not on time. */
Test(api_audit_events, retention_deletes_old_events_only, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], ws2[64], key2[64];
    const char *env[] = {"JSMCP_ADMIN_EVENTS_RETENTION_DAYS=30", "JSMCP_RETENTION_INTERVAL_MS=200", NULL};
    ta_start(&a, "audit_events_retention", env, ws, key, NULL);
    ts_api_workspace(&a, "beta", ws2, key2);
    char sql[1024];
    /* 31 and 29 days old, in both workspaces (object ids name them). */
    snprintf(sql, sizeof sql,
             "WITH ins AS (INSERT INTO admin_events (workspace_id, created_at, action, object_type, object_id)"
             " SELECT w::uuid, now() - d * interval '1 day', 'server.created', 'server',"
             "  ('00000000-0000-4000-8000-0000000000' || d)::uuid"
             " FROM unnest(ARRAY['%s', '%s']) w, unnest(ARRAY[31, 29]) d RETURNING 1) SELECT count(*) FROM ins",
             ws, ws2);
    cr_assert_eq(ta_sql_long(&a, sql), 4);
    static const char passes[] = "jsmcp_api_retention_passes_total{table=\"admin_events\"}";
    double p0 = ta_metric(&a, passes);
    /* Two more passes: the second began after the rows were there. */
    double p = p0;
    for (int i = 0; i < 600 && p < p0 + 2; i++) {
        ta_sleep_ms(100);
        p = ta_metric(&a, passes);
    }
    cr_assert_geq(p, p0 + 2, "retention passes: %g -> %g within 60 s", p0, p);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM admin_events WHERE object_id ="
                                 " '00000000-0000-4000-8000-000000000031'"), 0, "31 days old: deleted");
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM admin_events WHERE object_id ="
                                 " '00000000-0000-4000-8000-000000000029'"), 2, "29 days old: kept in both");
    cr_assert_geq(ta_metric(&a, "jsmcp_api_admin_events_deleted_total"), 2);
    /* Today's events (the workspaces' keys) stay, and the API lists the kept one. */
    ts_api_call(&r, &a, key, "GET", "/audit-events?limit=100", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 2, "the key's creation and the 29-day one: %s", r.body);
    cr_assert(strstr(r.body, "000000000029") && !strstr(r.body, "000000000031"), "%s", r.body);
    ts_resp_free(&r);
    ta_stop(&a);
}
