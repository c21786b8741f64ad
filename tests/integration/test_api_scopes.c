/* Scoped API keys (issue 26): a read-only key reads everything of its
 * workspace and gets 403 naming its scope on every write, changing nothing;
 * an expiring key stops working at its expiry (401 saying so); a workspace's
 * full key manages its own workspace's keys under /api-keys (CRUD,
 * isolation: another workspace's key id is 404) and bad input is refused
 * naming the field. */
#include "test_api_common.h"

/* Creates a key of ws with the bootstrap key; body is the JSON to send.
 * Writes the key (>= 64 bytes) and its id (>= 64 bytes). */
static void boot_key(const ts_api_t *a, const char *ws, const char *body, char *key, char *id)
{
    ts_resp_t r;
    ta_call(&r, a, a->bootstrap_key, "POST", body, "/workspaces/%s/api-keys", ws);
    cr_assert_eq(r.status, 201, "create key %s: %ld %s", body, r.status, r.body);
    snprintf(key, 64, "%s", ta_str(&r, "key"));
    if (id)
        snprintf(id, 64, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
}

Test(api_scopes, read_only_key_reads_and_cannot_write, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], rkey[64], rid[64];
    ta_start(&a, "scopes_read", NULL, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, NULL);
    boot_key(&a, ws, "{\"name\":\"viewer\",\"scope\":\"read\"}", rkey, rid);

    /* Reads work. */
    static const char *const reads[] = {"/integrated-account", "/integrated-account/%s", "/integrated-account/%s/mcp",
                                        "/api-keys", "/tools?methods=read", "/api-keys/current", "/webhooks"};
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        ta_call(&r, &a, rkey, "GET", NULL, reads[i], acct);
        cr_expect_eq(r.status, 200, "read key GET %s: %ld %s", reads[i], r.status, r.body);
        ts_resp_free(&r);
    }
    ta_call(&r, &a, rkey, "GET", NULL, "/api-keys/current");
    cr_assert_str_eq(ta_str(&r, "scope"), "read", "%s", r.body);
    cr_assert_str_eq(ta_str(&r, "id"), rid, "%s", r.body);
    cr_assert_null(json_object_get(r.json, "key"), "the key itself is never shown again: %s", r.body);
    ts_resp_free(&r);

    char *before = ta_db_counts(&a);
    int keys_before = ta_redis_count(&a);
    static const struct {
        const char *method, *fmt, *body;
    } writes[] = {
        {"POST", "/integrated-account",
         "{\"tenant_id\":\"c2\",\"site_url\":\"" TA_SITE "\",\"auth\":{\"type\":\"api_token\",\"email\":\"a@b.c\","
         "\"api_token\":\"t\"}}"},
        {"PATCH", "/integrated-account/%s", "{\"context\":{\"x\":1}}"},
        {"DELETE", "/integrated-account/%s", NULL},
        {"POST", "/integrated-account/%s/mcp", "{\"name\":\"x\"}"},
        {"PATCH", "/integrated-account/%s/mcp/%s", "{\"name\":\"y\"}"},
        {"DELETE", "/integrated-account/%s/mcp/%s", NULL},
        {"POST", "/integrated-account/%s/mcp/%s/rotate", "{}"},
        {"PUT", "/oauth-app", "{\"client_id\":\"c\",\"client_secret\":\"s\",\"scopes\":[\"read:jira-work\"],"
                              "\"redirect_url\":\"https://x.test/cb\"}"},
        {"DELETE", "/oauth-app", NULL},
        {"POST", "/integrated-account/connect", "{\"tenant_id\":\"o\",\"site_url\":\"" TA_SITE "\"}"},
        {"POST", "/api-keys", "{\"name\":\"escalate\",\"scope\":\"full\"}"},
        {"DELETE", "/api-keys/%s", NULL},
        {"POST", "/webhooks", "{\"url\":\"https://hooks.example.com/x\",\"events\":[\"server.deleted\"]}"},
        {"PATCH", "/webhooks/%s", "{\"enabled\":false}"},
        {"DELETE", "/webhooks/%s", NULL},
        {"POST", "/webhooks/%s/test", "{}"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
        char what[160];
        const char *first = strstr(writes[i].fmt, "api-keys") ? rid : acct;
        ta_call(&r, &a, rkey, writes[i].method, writes[i].body, writes[i].fmt, first, srv);
        snprintf(what, sizeof what, "read key %s %s", writes[i].method, writes[i].fmt);
        if (ta_expect_problem(&r, 403, NULL, what)) {
            cr_expect_str_eq(ta_str(&r, "scope"), "read", "%s: %s", what, r.body);
            cr_expect_str_eq(ta_str(&r, "required_scope"), "full", "%s: %s", what, r.body);
            cr_expect(strstr(ta_str(&r, "detail"), "read-only"), "%s: %s", what, r.body);
        }
        ts_resp_free(&r);
    }
    char *after = ta_db_counts(&a);
    cr_assert_str_eq(after, before, "a read-only key changed rows");
    cr_assert_eq(ta_redis_count(&a), keys_before, "a read-only key changed Redis");
    free(before);
    free(after);

    /* The same writes with the full key still work (one of them). */
    ta_call(&r, &a, key, "PATCH", "{\"name\":\"renamed\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_stop(&a);
}

Test(api_scopes, expiring_key_stops_at_its_expiry, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], soon[40], body[160], ekey[64], past[40];
    static const char *const env[] = {"JSMCP_MIN_LIFETIME_MS=1000", NULL};
    ta_start(&a, "scopes_expiry", env, ws, key, NULL);
    ta_iso_in(3, soon, sizeof soon);
    snprintf(body, sizeof body, "{\"name\":\"short\",\"expires_at\":\"%s\"}", soon);
    boot_key(&a, ws, body, ekey, NULL);
    ts_api_call(&r, &a, ekey, "GET", "/api-keys/current", NULL);
    cr_assert_eq(r.status, 200, "before its expiry: %ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "expires_at"), soon, "%s", r.body);
    cr_assert(json_is_false(json_object_get(r.json, "expired")), "%s", r.body);
    ts_resp_free(&r);
    /* Refused from its expiry on, saying so (polled: the clock decides). */
    for (int i = 0;; i++) {
        ts_api_call(&r, &a, ekey, "GET", "/integrated-account", NULL);
        if (r.status != 200 || i > 200)
            break;
        ts_resp_free(&r);
        ta_sleep_ms(50);
    }
    ta_expect_problem(&r, 401, NULL, "expired key");
    cr_assert(strstr(ta_str(&r, "detail"), "expired"), "%s", r.body);
    ts_resp_free(&r);
    /* The listing still shows it, as expired. */
    ts_api_call(&r, &a, key, "GET", "/api-keys", NULL);
    cr_assert_eq(r.status, 200);
    size_t i;
    json_t *k;
    int seen = 0;
    json_array_foreach(json_object_get(r.json, "result"), i, k) {
        if (strcmp(json_string_value(json_object_get(k, "name")), "short") == 0) {
            seen = 1;
            cr_assert(json_is_true(json_object_get(k, "expired")), "%s", r.body);
        }
    }
    cr_assert(seen, "%s", r.body);
    ts_resp_free(&r);
    /* An expiry in the past or too soon is refused at creation. */
    ta_iso_in(-60, past, sizeof past);
    snprintf(body, sizeof body, "{\"name\":\"x\",\"expires_at\":\"%s\"}", past);
    ts_api_call(&r, &a, key, "POST", "/api-keys", body);
    ta_expect_problem(&r, 400, "/expires_at", "expiry in the past");
    ts_resp_free(&r);
    ta_stop(&a);
}

Test(api_scopes, workspace_manages_its_own_keys, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws_a[64], key_a[64], ws_b[64], key_b[64], newkey[64], newid[64], bid[64], bkey[64];
    ta_start(&a, "scopes_crud", NULL, ws_a, key_a, NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    boot_key(&a, ws_b, "{\"name\":\"b2\"}", bkey, bid);

    /* Create: the key once, its scope, the default scope full. */
    ts_api_call(&r, &a, key_a, "POST", "/api-keys", "{\"name\":\"ci\",\"scope\":\"read\"}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(newkey, sizeof newkey, "%s", ta_str(&r, "key"));
    snprintf(newid, sizeof newid, "%s", ta_str(&r, "id"));
    cr_assert(strncmp(newkey, "jsk_", 4) == 0 && strlen(newkey) == 47, "%s", newkey);
    cr_assert_str_eq(ta_str(&r, "scope"), "read");
    cr_assert(strncmp(ta_str(&r, "prefix"), newkey, 8) == 0, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "expires_at")), "%s", r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key_a, "POST", "/api-keys", "{\"name\":\"deploy\"}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "scope"), "full");
    ts_resp_free(&r);
    /* Only the hash is stored. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM api_keys WHERE key_hash = '%s' OR prefix = '%s'", newkey, newkey);
    cr_assert_eq(ta_sql_long(&a, sql), 0, "the key is stored in clear");

    /* List: A sees its three keys, never B's. */
    ts_api_call(&r, &a, key_a, "GET", "/api-keys?limit=2", NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 2, "%s", r.body);
    cr_assert(json_is_string(json_object_get(r.json, "next_cursor")), "%s", r.body);
    cr_assert(!strstr(r.body, bid) && !strstr(r.body, "key\":"), "%s", r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key_b, "GET", "/api-keys", NULL);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 2, "%s", r.body);
    cr_assert(!strstr(r.body, newid), "B lists A's key: %s", r.body);
    ts_resp_free(&r);

    /* Isolation: B's key cannot revoke A's key (404), A's key not B's. */
    ta_call(&r, &a, key_b, "DELETE", NULL, "/api-keys/%s", newid);
    ta_expect_problem(&r, 404, NULL, "B revokes A's key");
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "DELETE", NULL, "/api-keys/%s", bid);
    ta_expect_problem(&r, 404, NULL, "A revokes B's key");
    ts_resp_free(&r);
    ts_api_call(&r, &a, bkey, "GET", "/api-keys/current", NULL);
    cr_assert_eq(r.status, 200, "B's key still works: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    /* Revoke: 204, then the key is refused and not listed. */
    ts_api_call(&r, &a, newkey, "GET", "/integrated-account", NULL);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "DELETE", NULL, "/api-keys/%s", newid);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, newkey, "GET", "/integrated-account", NULL);
    ta_expect_problem(&r, 401, NULL, "revoked key");
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "DELETE", NULL, "/api-keys/%s", newid);
    ta_expect_problem(&r, 404, NULL, "revoked twice");
    ts_resp_free(&r);

    /* Bad input: field named, nothing written. */
    char *before = ta_db_counts(&a);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{}", "/name"},
        {"{\"name\":\"\"}", "/name"},
        {"{\"name\":\"x\",\"scope\":\"admin\"}", "/scope"},
        {"{\"name\":\"x\",\"scope\":7}", "/scope"},
        {"{\"name\":\"x\",\"expires_at\":\"tomorrow\"}", "/expires_at"},
        {"{\"name\":\"x\",\"expires_at\":12}", "/expires_at"},
        {"{\"name\":\"x\",\"owner\":\"me\"}", "/owner"},
        {"[1]", "/"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char what[200];
        ts_api_call(&r, &a, key_a, "POST", "/api-keys", bad[i].body);
        snprintf(what, sizeof what, "POST /api-keys %s", bad[i].body);
        ta_expect_problem(&r, 400, bad[i].field, what);
        ts_resp_free(&r);
        ta_call(&r, &a, a.bootstrap_key, "POST", bad[i].body, "/workspaces/%s/api-keys", ws_a);
        snprintf(what, sizeof what, "POST /workspaces/:id/api-keys %s", bad[i].body);
        ta_expect_problem(&r, 400, bad[i].field, what);
        ts_resp_free(&r);
    }
    ts_api_call(&r, &a, key_a, "DELETE", "/api-keys/not-a-uuid", NULL);
    ta_expect_problem(&r, 404, NULL, "DELETE a malformed key id");
    ts_resp_free(&r);
    ts_api_call(&r, &a, key_a, "GET", "/api-keys?limit=0", NULL);
    ta_expect_problem(&r, 400, "limit", "limit=0");
    ts_resp_free(&r);
    char *after = ta_db_counts(&a);
    cr_assert_str_eq(after, before, "bad input wrote rows");
    free(before);
    free(after);
    ta_stop(&a);
}
