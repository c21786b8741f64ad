/* The whole CRUD of the admin API over real HTTP against real PostgreSQL
 * and Redis (docs/admin-api.md): workspaces and API keys, integrated
 * accounts, MCP servers with their Redis publication and cursor paging
 * (the migrations: test_api_migrate.c). */
#include <pthread.h>

#include "test_api_common.h"

/* Follows next_cursor from path (which already has "?limit=n") and
 * returns the ids of every page in one array; asserts no page is larger
 * than limit and that the last page says next_cursor null. */
static json_t *collect_pages(const ts_api_t *a, const char *key, const char *path, int limit, int *pages)
{
    json_t *ids = json_array();
    char cursor[512] = "";
    *pages = 0;
    for (int guard = 0; guard < 100; guard++) {
        ts_resp_t r;
        if (*cursor)
            ta_call(&r, a, key, "GET", NULL, "%s&next_cursor=%s", path, cursor);
        else
            ta_call(&r, a, key, "GET", NULL, "%s", path);
        cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
        json_t *res = json_object_get(r.json, "result");
        cr_assert(json_is_array(res), "no result array: %s", r.body);
        cr_assert(json_array_size(res) <= (size_t)limit, "page larger than limit %d: %s", limit, r.body);
        size_t i;
        json_t *it;
        json_array_foreach(res, i, it) json_array_append(ids, json_object_get(it, "id"));
        (*pages)++;
        json_t *nc = json_object_get(r.json, "next_cursor");
        cr_assert(nc && (json_is_null(nc) || json_is_string(nc)), "next_cursor absent or not string/null: %s",
                  r.body);
        if (json_is_null(nc)) {
            ts_resp_free(&r);
            return ids;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
        ts_resp_free(&r);
    }
    cr_assert_fail("paging of %s did not end", path);
    return ids;
}

/* Every id of want appears exactly once in got. */
static void assert_same_ids(json_t *got, json_t *want)
{
    size_t i, j;
    json_t *w, *g;
    cr_assert_eq(json_array_size(got), json_array_size(want), "paged %zu ids, expected %zu",
                 json_array_size(got), json_array_size(want));
    json_array_foreach(want, i, w)
    {
        int n = 0;
        json_array_foreach(got, j, g) n += json_equal(g, w);
        cr_assert_eq(n, 1, "id %s paged %d times", json_string_value(w), n);
    }
}

/* The object has the listed members and nothing else but last_used_at
 * (a harmless extra the API shows on keys and servers). */
static void assert_members(const json_t *obj, const char *const *names, const char *what)
{
    size_t n = 0;
    for (; names[n]; n++)
        cr_assert(json_object_get(obj, names[n]), "%s lacks '%s'", what, names[n]);
    n += json_object_get(obj, "last_used_at") && json_object_size(obj) > n;
    cr_assert_eq(json_object_size(obj), n, "%s has %zu members, expected %zu: %s", what, json_object_size(obj), n,
                 json_dumps(obj, JSON_COMPACT));
}

/* The acct:<id> record the workers read, opened with the test's master
 * keys (caller decrefs). */
static json_t *acct_blob(const ts_api_t *a, const char *acct)
{
    char err[128], ad[128];
    secret_keyring_t *kr = secret_keyring_parse(a->master_keys, err, sizeof err);
    cr_assert(kr, "%s", err);
    snprintf(ad, sizeof ad, "acct:%s", acct);
    char *sealed = tc_sealed(ts_redis("GET %sacct:%s", a->redis_prefix, acct));
    size_t n;
    char *pt = sealed ? secret_open(kr, ad, sealed, &n, NULL, 0) : NULL;
    cr_assert(pt, "acct record missing or does not open");
    json_t *j = json_loads(pt, 0, NULL);
    cr_assert(j, "acct record is not JSON");
    free(pt);
    free(sealed);
    secret_keyring_free(kr);
    return j;
}

/* 1 when the workers see apikey as a key of workspace ws: a live
 * wskey:<hash> record naming it (api/ap_publish.h). */
static int sismember(const ts_api_t *a, const char *ws, const char *apikey)
{
    char hex[SECRET_HASH_HEX_LEN + 1];
    secret_hash_hex(apikey, strlen(apikey), hex);
    char *s = ts_redis("GET %swskey:%s", a->redis_prefix, hex);
    json_t *rec = s ? json_loads(s, 0, NULL) : NULL;
    const char *w = json_string_value(json_object_get(rec, "workspace_id"));
    int v = tc_live(s) && w && strcmp(w, ws) == 0;
    json_decref(rec);
    free(s);
    return v;
}

Test(api_crud, workspaces_and_api_keys, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    ts_api_start(&a, "crud_ws", NULL);
    cr_assert(secret_init() == 0);

    /* create + get */
    ts_api_call(&r, &a, a.bootstrap_key, "POST", "/workspaces", "{\"name\":\"acme\"}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    static const char *const ws_members[] = {"id", "name", "created_at", NULL};
    assert_members(r.json, ws_members, "workspace");
    cr_assert_str_eq(ta_str(&r, "name"), "acme");
    ta_time_ms(r.json, "created_at");
    char ws[64];
    snprintf(ws, sizeof ws, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
    ta_call(&r, &a, a.bootstrap_key, "GET", NULL, "/workspaces/%s", ws);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "id"), ws);
    cr_assert_str_eq(ta_str(&r, "name"), "acme");
    ts_resp_free(&r);
    ta_call(&r, &a, a.bootstrap_key, "GET", NULL, "/workspaces/00000000-0000-4000-8000-000000000000");
    ta_expect_problem(&r, 404, NULL, "GET unknown workspace");
    ts_resp_free(&r);

    /* paging: 7 workspaces in pages of 3 */
    json_t *want = json_array();
    json_array_append_new(want, json_string(ws));
    for (int i = 0; i < 6; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"name\":\"ws%d\"}", i);
        ts_api_call(&r, &a, a.bootstrap_key, "POST", "/workspaces", body);
        cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
        json_array_append(want, json_object_get(r.json, "id"));
        ts_resp_free(&r);
    }
    int pages;
    json_t *got = collect_pages(&a, a.bootstrap_key, "/workspaces?limit=3", 3, &pages);
    assert_same_ids(got, want);
    cr_assert(pages >= 3, "7 workspaces in %d pages of 3", pages);
    json_decref(got);
    json_decref(want);
    /* default limit 20 holds all 7 in one page */
    ts_api_call(&r, &a, a.bootstrap_key, "GET", "/workspaces", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 7, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "next_cursor")), "%s", r.body);
    ts_resp_free(&r);

    /* API keys: shown once, prefix, hash in wskeys */
    ta_call(&r, &a, a.bootstrap_key, "POST", "{\"name\":\"ci\"}", "/workspaces/%s/api-keys", ws);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    static const char *const key_created[] = {"id", "name", "prefix", "scope", "expires_at", "expired", "key",
                                              "created_at", NULL};
    assert_members(r.json, key_created, "created api key");
    char key[64], key_id[64];
    snprintf(key, sizeof key, "%s", ta_str(&r, "key"));
    snprintf(key_id, sizeof key_id, "%s", ta_str(&r, "id"));
    cr_assert_eq(strlen(key), 4 + 43, "key %s", key);
    cr_assert(strncmp(key, "jsk_", 4) == 0 && strspn(key + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                              "0123456789-_") == 43,
              "key %s is not jsk_ + 43 base64url", key);
    cr_assert(strncmp(ta_str(&r, "prefix"), key, 8) == 0 && strlen(ta_str(&r, "prefix")) == 8, "prefix %s",
              ta_str(&r, "prefix"));
    ts_resp_free(&r);
    cr_assert_eq(sismember(&a, ws, key), 1, "wskeys lacks the new key's hash");

    /* the key works for its workspace; a list shows it without the key */
    ts_api_call(&r, &a, key, "GET", "/integrated-account", NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, a.bootstrap_key, "POST", "{\"name\":\"second\"}", "/workspaces/%s/api-keys", ws);
    cr_assert_eq(r.status, 201);
    char key2[64];
    snprintf(key2, sizeof key2, "%s", ta_str(&r, "key"));
    ts_resp_free(&r);
    ta_call(&r, &a, a.bootstrap_key, "GET", NULL, "/workspaces/%s/api-keys?limit=1", ws);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    cr_assert(json_is_string(json_object_get(r.json, "next_cursor")), "2 keys, limit 1: %s", r.body);
    static const char *const key_listed[] = {"id", "name", "prefix", "scope", "expires_at", "expired",
                                             "created_at", "last_used_at", NULL};
    assert_members(json_array_get(json_object_get(r.json, "result"), 0), key_listed, "listed api key");
    cr_assert(!strstr(r.body, key + 8) && !strstr(r.body, key2 + 8), "a key list shows a key: %s", r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, a.bootstrap_key, "GET", NULL, "/workspaces/00000000-0000-4000-8000-000000000000/api-keys");
    ta_expect_problem(&r, 404, NULL, "GET api-keys of an unknown workspace");
    ts_resp_free(&r);

    /* revoke: 401 at once, gone from wskeys, second delete 404 */
    ta_call(&r, &a, a.bootstrap_key, "DELETE", NULL, "/workspaces/%s/api-keys/%s", ws, key_id);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key, "GET", "/integrated-account", NULL);
    ta_expect_problem(&r, 401, NULL, "revoked key");
    char hdr[128];
    cr_assert(ts_resp_header(&r, "WWW-Authenticate", hdr, sizeof hdr), "401 without WWW-Authenticate");
    ts_resp_free(&r);
    cr_assert_eq(sismember(&a, ws, key), 0, "revoked key still in wskeys");
    cr_assert_eq(sismember(&a, ws, key2), 1, "the other key left wskeys");
    ta_call(&r, &a, a.bootstrap_key, "DELETE", NULL, "/workspaces/%s/api-keys/%s", ws, key_id);
    ta_expect_problem(&r, 404, NULL, "second delete of a key");
    ts_resp_free(&r);
    ts_api_call(&r, &a, key2, "GET", "/integrated-account", NULL);
    cr_assert_eq(r.status, 200, "the other key: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    ta_stop(&a);
}

Test(api_crud, integrated_accounts, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64];
    ta_start(&a, "crud_acct", NULL, ws, key, NULL);

    const char *body = "{\"tenant_id\":\"cust-42\",\"site_url\":\"https://x.atlassian.net\",\"auth\":{\"type\":"
                       "\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"tok-1\"},\"context\":{\"plan\":\"gold\"},"
                       "\"pace\":\"10/s burst 20\"}";
    ts_api_call(&r, &a, key, "POST", "/integrated-account", body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    static const char *const acct_members[] = {"id",      "tenant_id",  "site_url",   "auth_type", "status", "pace",
                                               "context", "created_at", "updated_at", NULL};
    assert_members(r.json, acct_members, "account");
    cr_assert_str_eq(ta_str(&r, "tenant_id"), "cust-42");
    cr_assert_str_eq(ta_str(&r, "site_url"), "https://x.atlassian.net");
    cr_assert_str_eq(ta_str(&r, "auth_type"), "api_token");
    cr_assert_str_eq(ta_str(&r, "status"), "active");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "context"), "plan")), "gold");
    cr_assert(!strstr(r.body, "tok-1") && !strstr(r.body, "a@b.c"), "credentials returned: %s", r.body);
    int64_t created = ta_time_ms(r.json, "created_at");
    char acct[64], rkey[256];
    snprintf(acct, sizeof acct, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
    snprintf(rkey, sizeof rkey, "%sacct:%s", a.redis_prefix, acct);
    char *sealed1 = ts_redis("GET %s", rkey);
    cr_assert(sealed1 && *sealed1, "acct key %s not published", rkey);
    json_t *blob = acct_blob(&a, acct);
    cr_assert_str_eq(json_string_value(json_object_get(blob, "pace")), "10/s burst 20", "the workers' rule");
    json_decref(blob);

    /* duplicate tenant_id in the same workspace: 409 */
    ts_api_call(&r, &a, key, "POST", "/integrated-account", body);
    ta_expect_problem(&r, 409, "/tenant_id", "duplicate tenant_id");
    ts_resp_free(&r);
    /* the same tenant_id in another workspace is fine */
    char ws2[64], key2[64];
    ts_api_workspace(&a, "other", ws2, key2);
    ts_api_call(&r, &a, key2, "POST", "/integrated-account", body);
    cr_assert_eq(r.status, 201, "same tenant_id in another workspace: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    /* get */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    assert_members(r.json, acct_members, "fetched account");
    cr_assert_str_eq(ta_str(&r, "id"), acct);
    ts_resp_free(&r);

    /* list with paging and the tenant_id filter */
    json_t *want = json_array();
    json_array_append_new(want, json_string(acct));
    for (int i = 0; i < 6; i++) {
        char tenant[32], id[64];
        snprintf(tenant, sizeof tenant, "t%d", i);
        ta_account(&a, key, tenant, id);
        json_array_append_new(want, json_string(id));
    }
    int pages;
    json_t *got = collect_pages(&a, key, "/integrated-account?limit=3", 3, &pages);
    assert_same_ids(got, want);
    cr_assert(pages >= 3, "7 accounts in %d pages of 3", pages);
    json_decref(got);
    json_decref(want);
    ts_api_call(&r, &a, key, "GET", "/integrated-account?tenant_id=t3", NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "tenant filter: %s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "result"), 0),
                                                       "tenant_id")),
                     "t3");
    ts_resp_free(&r);

    /* site_url alone cannot move the stored credentials to another host (issue 20) */
    ta_call(&r, &a, key, "PATCH", "{\"site_url\":\"https://y.atlassian.net\"}", "/integrated-account/%s", acct);
    ta_expect_problem(&r, 400, "/auth", "site_url without credentials");
    ts_resp_free(&r);
    /* the same site again is no change */
    ta_call(&r, &a, key, "PATCH", "{\"site_url\":\"https://X.atlassian.net/\"}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* patch context and site_url, with the new site's credentials */
    ta_call(&r, &a, key, "PATCH", "{\"context\":{\"plan\":\"silver\"},\"site_url\":\"https://y.atlassian.net\","
            "\"auth\":{\"type\":\"api_token\",\"email\":\"y@b.c\",\"api_token\":\"tok-y\"}}",
            "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    assert_members(r.json, acct_members, "patched account");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "context"), "plan")), "silver");
    cr_assert_str_eq(ta_str(&r, "site_url"), "https://y.atlassian.net");
    cr_assert_str_eq(ta_str(&r, "tenant_id"), "cust-42");
    cr_assert(ta_time_ms(r.json, "updated_at") >= created);
    ts_resp_free(&r);
    /* a new auth replaces the credentials and republishes a new blob */
    ta_call(&r, &a, key, "PATCH", "{\"auth\":{\"type\":\"api_token\",\"email\":\"n@b.c\",\"api_token\":\"tok-2\"}}",
            "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(!strstr(r.body, "tok-2"), "credentials returned: %s", r.body);
    ts_resp_free(&r);
    char *sealed2 = ts_redis("GET %s", rkey);
    cr_assert(sealed2 && strcmp(sealed1, sealed2) != 0, "acct key not republished after a new auth");
    free(sealed1);
    free(sealed2);
    /* its own pacing rule: validated, kept across other changes, "off", then back to the type's (null) */
    static const char *const bad_pace[] = {"\"\"", "\"10\"", "\"10/h\"", "\"0/s\"", "\"10/s burst 0\"",
                                           "\"10/s burst 5 more\"", "12", "[\"1/s\"]", NULL};
    for (int i = 0; bad_pace[i]; i++) {
        char pb[128];
        snprintf(pb, sizeof pb, "{\"pace\":%s}", bad_pace[i]);
        ta_call(&r, &a, key, "PATCH", pb, "/integrated-account/%s", acct);
        ta_expect_problem(&r, 400, "/pace", bad_pace[i]);
        ts_resp_free(&r);
    }
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s", acct);
    cr_assert_str_eq(ta_str(&r, "pace"), "10/s burst 20", "a refused PATCH changed the rule: %s", r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "PATCH", "{\"pace\":\"off\"}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "pace"), "off");
    ts_resp_free(&r);
    blob = acct_blob(&a, acct);
    cr_assert_str_eq(json_string_value(json_object_get(blob, "pace")), "off");
    json_decref(blob);
    ta_call(&r, &a, key, "PATCH", "{\"pace\":null}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(json_is_null(json_object_get(r.json, "pace")), "pace not reset: %s", r.body);
    ts_resp_free(&r);
    blob = acct_blob(&a, acct);
    cr_assert_null(json_object_get(blob, "pace"), "a reset rule is still published");
    cr_assert_str_eq(json_string_value(json_object_get(blob, "email")), "n@b.c", "credentials kept");
    json_decref(blob);

    /* tenant_id onto another account's: 409, nothing changed */
    ta_call(&r, &a, key, "PATCH", "{\"tenant_id\":\"t1\"}", "/integrated-account/%s", acct);
    ta_expect_problem(&r, 409, "/tenant_id", "PATCH tenant_id to a taken one");
    ts_resp_free(&r);
    ta_call(&r, &a, key, "PATCH", "{\"tenant_id\":\"cust-43\"}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "tenant_id"), "cust-43");
    ts_resp_free(&r);

    /* delete cascades to its servers, rows and Redis keys */
    char s1[64], t1[64], s2[64], t2[64], k1[256], k2[256];
    ta_server(&a, key, acct, NULL, s1, t1);
    ta_server(&a, key, acct, "{\"name\":\"two\",\"expires_at\":null}", s2, t2);
    ta_srv_key(&a, t1, k1, sizeof k1);
    ta_srv_key(&a, t2, k2, sizeof k2);
    cr_assert(ta_redis_exists(k1) && ta_redis_exists(k2), "servers not published");
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s", acct);
    ta_expect_problem(&r, 404, NULL, "GET deleted account");
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s", acct, s1);
    ta_expect_problem(&r, 404, NULL, "GET server of deleted account");
    ts_resp_free(&r);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM mcp_servers WHERE account_id = '%s'", acct);
    cr_assert_eq(ta_sql_long(&a, sql), 0, "server rows left after account delete");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM integrated_accounts WHERE id = '%s'", acct);
    cr_assert_eq(ta_sql_long(&a, sql), 0, "account row left");
    cr_assert(!ta_redis_exists(k1) && !ta_redis_exists(k2), "srv keys left after account delete");
    cr_assert(!ta_redis_exists(rkey), "acct key left after account delete");
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s", acct);
    ta_expect_problem(&r, 404, NULL, "second delete of an account");
    ts_resp_free(&r);

    ta_stop(&a);
}

/* The srv: key of token: exists, its JSON, and PEXPIRETIME (-1 = none). */
static json_t *srv_record(const ts_api_t *a, const char *token, long long *pexpiretime)
{
    char k[256];
    ta_srv_key(a, token, k, sizeof k);
    char *v = ts_redis("GET %s", k);
    cr_assert(v, "%s not published", k);
    json_t *j = json_loads(v, 0, NULL);
    cr_assert(json_is_object(j), "%s is not JSON: %s", k, v);
    free(v);
    char *t = ts_redis("PEXPIRETIME %s", k);
    *pexpiretime = t ? atoll(t) : -2;
    free(t);
    return j;
}

Test(api_crud, mcp_servers, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], acct2[64], exp[48], exp2[48], body[1024];
    ta_start(&a, "crud_srv", NULL, ws, key, acct);
    ta_account(&a, key, "cust-2", acct2);

    ta_iso_in(3600, exp, sizeof exp);
    snprintf(body, sizeof body,
             "{\"name\":\"support desk\",\"config\":{\"methods\":[\"read\",\"create\"],\"tags\":[\"itsm\"],"
             "\"projects\":[\"ITSM\"],\"tool_exposure\":\"all\"},\"expires_at\":\"%s\",\"require_api_token_auth\":true}",
             exp);
    ta_call(&r, &a, key, "POST", body, "/integrated-account/%s/mcp", acct);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    static const char *const created_members[] = {"id",         "account_id", "name",       "url",
                                                  "config",     "expires_at", "require_api_token_auth",
                                                  "created_at", "updated_at", NULL};
    assert_members(r.json, created_members, "created server");
    const char *url = ta_str(&r, "url");
    char want_prefix[128];
    snprintf(want_prefix, sizeof want_prefix, "%s/mcp/", a.worker_url);
    cr_assert(url && strncmp(url, want_prefix, strlen(want_prefix)) == 0, "url %s does not start with %s", url,
              want_prefix);
    const char *token = url + strlen(want_prefix);
    cr_assert(strlen(token) == 43 && strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                   "0123456789-_") == 43,
              "token %s is not 43 base64url chars", token);
    char tok[64], srv[64];
    snprintf(tok, sizeof tok, "%s", token);
    snprintf(srv, sizeof srv, "%s", ta_str(&r, "id"));
    cr_assert_str_eq(ta_str(&r, "account_id"), acct);
    cr_assert_eq(json_is_true(json_object_get(r.json, "require_api_token_auth")), 1);
    int64_t exp_ms = ta_time_ms(r.json, "expires_at");
    int64_t want_ms = 0;
    clock_parse_iso(exp, &want_ms);
    cr_assert_eq(exp_ms, want_ms, "expires_at %s, sent %s", ta_str(&r, "expires_at"), exp);
    json_t *methods = json_object_get(json_object_get(r.json, "config"), "methods");
    cr_assert_eq(json_array_size(methods), 2, "config.methods: %s", r.body);
    ts_resp_free(&r);

    /* stored as a hash only; published with PXAT expires_at + the tombstone TTL */
    char hex[SECRET_HASH_HEX_LEN + 1], sql[256];
    secret_hash_hex(tok, strlen(tok), hex);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM mcp_servers WHERE token_hash = '%s' AND id = '%s'", hex, srv);
    cr_assert_eq(ta_sql_long(&a, sql), 1, "token hash not stored");
    long long pxt;
    json_t *rec = srv_record(&a, tok, &pxt);
    cr_assert_eq(pxt, (long long)want_ms + tc_tombstone_ttl_ms(), "PEXPIRETIME %lld, expires_at %lld", pxt,
                 (long long)want_ms);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "id")), srv);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "workspace_id")), ws);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "account_id")), acct);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "name")), "support desk");
    cr_assert_eq(json_integer_value(json_object_get(rec, "expires_at_ms")), want_ms);
    cr_assert(json_is_true(json_object_get(rec, "require_api_token_auth")));
    cr_assert(json_is_object(json_object_get(rec, "config")));
    json_decref(rec);

    /* get: no url */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    static const char *const srv_members[] = {"id",         "account_id", "name",
                                              "config",     "expires_at", "require_api_token_auth",
                                              "created_at", "updated_at", NULL};
    assert_members(r.json, srv_members, "fetched server");
    cr_assert(!strstr(r.body, tok), "GET returns the token");
    ts_resp_free(&r);
    /* under another account of the same workspace: 404 */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s", acct2, srv);
    ta_expect_problem(&r, 404, NULL, "server under the wrong account");
    ts_resp_free(&r);

    /* patch: expires_at null -> no TTL */
    ta_call(&r, &a, key, "PATCH", "{\"expires_at\":null}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    assert_members(r.json, srv_members, "patched server");
    cr_assert(json_is_null(json_object_get(r.json, "expires_at")), "%s", r.body);
    ts_resp_free(&r);
    rec = srv_record(&a, tok, &pxt);
    cr_assert_eq(pxt, -1, "PEXPIRETIME after expires_at null: %lld", pxt);
    cr_assert(json_is_null(json_object_get(rec, "expires_at_ms")), "expires_at_ms not null");
    json_decref(rec);
    /* patch: a new expiry, config and name -> republished */
    ta_iso_in(7200, exp2, sizeof exp2);
    snprintf(body, sizeof body,
             "{\"name\":\"renamed\",\"config\":{\"methods\":[\"write\"],\"tool_exposure\":\"discovery\"},"
             "\"expires_at\":\"%s\",\"require_api_token_auth\":false}",
             exp2);
    ta_call(&r, &a, key, "PATCH", body, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "name"), "renamed");
    cr_assert(json_is_false(json_object_get(r.json, "require_api_token_auth")));
    ts_resp_free(&r);
    clock_parse_iso(exp2, &want_ms);
    rec = srv_record(&a, tok, &pxt);
    cr_assert_eq(pxt, (long long)want_ms + tc_tombstone_ttl_ms(), "PEXPIRETIME %lld after PATCH, expires_at %lld",
                 pxt, (long long)want_ms);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "name")), "renamed");
    json_t *cfg = json_object_get(rec, "config");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cfg, "methods"), 0)), "write",
                     "config not republished");
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "tool_exposure")), "discovery");
    cr_assert(json_is_false(json_object_get(rec, "require_api_token_auth")));
    json_decref(rec);
    /* patch of one member keeps the others */
    ta_call(&r, &a, key, "PATCH", "{\"name\":\"again\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(ta_time_ms(r.json, "expires_at"), want_ms);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "config"), "tool_exposure")),
                     "discovery");
    ts_resp_free(&r);

    /* list with paging: 5 servers on acct in pages of 2; none on acct2 */
    json_t *want = json_array();
    json_array_append_new(want, json_string(srv));
    for (int i = 0; i < 4; i++) {
        char id[64];
        ta_server(&a, key, acct, NULL, id, NULL);
        json_array_append_new(want, json_string(id));
    }
    int pages;
    char path[256];
    snprintf(path, sizeof path, "/integrated-account/%s/mcp?limit=2", acct);
    json_t *got = collect_pages(&a, key, path, 2, &pages);
    assert_same_ids(got, want);
    cr_assert_eq(pages, 3, "5 servers in %d pages of 2", pages);
    json_decref(got);
    json_decref(want);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp", acct2);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "%s", r.body);
    cr_assert(!strstr(r.body, "\"url\""), "list shows urls: %s", r.body);
    ts_resp_free(&r);

    /* delete: row and key gone */
    char k[256];
    ta_srv_key(&a, tok, k, sizeof k);
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM mcp_servers WHERE id = '%s'", srv);
    cr_assert_eq(ta_sql_long(&a, sql), 0, "server row left after delete");
    cr_assert(!ta_redis_exists(k), "srv key left after delete");
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    ta_expect_problem(&r, 404, NULL, "GET deleted server");
    ts_resp_free(&r);
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    ta_expect_problem(&r, 404, NULL, "second delete of a server");
    ts_resp_free(&r);

    ta_stop(&a);
}

/* JSMCP_SITE_ALLOWLIST opens exactly the listed host:port (http too, the
 * sandbox); everything else stays https://<name>.atlassian.net only. A
 * PATCH of site_url is republished in the sealed acct record. */
Test(api_crud, site_allowlist_and_republished_site, .timeout = 60)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64];
    static const char *const env[] = {"JSMCP_SITE_ALLOWLIST=127.0.0.1:8090,jsm.local", NULL};
    ta_start(&a, "crud_allow", env, ws, key, acct);
    static const struct {
        const char *site;
        long status;
    } sites[] = {
        {"http://127.0.0.1:8090", 200},      {"https://jsm.local", 200},       {"http://127.0.0.1:8091", 400},
        {"http://127.0.0.1", 400},           {"http://jsm.local:8090", 400},   {"https://x.atlassian.net/", 200},
        {"http://127.0.0.1:8090/rest", 400}, {"http://u@127.0.0.1:8090", 400},
    };
    for (size_t i = 0; i < sizeof sites / sizeof sites[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"site_url\":\"%s\",\"auth\":{\"type\":\"api_token\",\"email\":\"a@b.c\","
                 "\"api_token\":\"t%zu\"}}", sites[i].site, i);
        ta_call(&r, &a, key, "PATCH", body, "/integrated-account/%s", acct);
        if (sites[i].status == 200)
            cr_expect_eq(r.status, 200, "allowlisted %s: %ld %s", sites[i].site, r.status, r.body);
        else
            ta_expect_problem(&r, 400, "/site_url", sites[i].site);
        ts_resp_free(&r);
    }
    /* the last accepted one, normalised without the trailing slash */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s", acct);
    cr_assert_str_eq(ta_str(&r, "site_url"), "https://x.atlassian.net", "%s", r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "PATCH", "{\"site_url\":\"http://127.0.0.1:8090\",\"auth\":{\"type\":\"api_token\","
            "\"email\":\"a@b.c\",\"api_token\":\"t-last\"}}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    json_t *j = acct_blob(&a, acct);
    cr_assert_str_eq(json_string_value(json_object_get(j, "site_url")), "http://127.0.0.1:8090",
                     "site_url not republished: %s", json_dumps(j, JSON_COMPACT));
    json_decref(j);
    ta_stop(&a);
}

/* Concurrent writes on the same server: PATCHes racing each other and a
 * DELETE must leave Redis equal to PostgreSQL right away (no republished
 * record of a deleted server, no stale config), without waiting for
 * reconcile. Each request runs on its own thread with a blocking client. */
typedef struct {
    const ts_api_t *a;
    const char *key, *method, *path, *body;
    long status;
} race_req_t;

static void *race_run(void *arg)
{
    race_req_t *q = arg;
    ts_resp_t r;
    ts_api_call(&r, q->a, q->key, q->method, q->path, q->body);
    q->status = r.status;
    ts_resp_free(&r);
    return NULL;
}

Test(api_crud, concurrent_writes_keep_redis_equal_to_postgres, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64];
    enum { NSRV = 12, NREQ = 4 };
    char ids[NSRV][64], toks[NSRV][64], paths[NSRV][256];
    ta_start(&a, "crud_race", NULL, ws, key, acct);
    for (int i = 0; i < NSRV; i++) {
        ta_server(&a, key, acct, NULL, ids[i], toks[i]);
        snprintf(paths[i], sizeof paths[i], "/integrated-account/%s/mcp/%s", acct, ids[i]);
    }
    static const char *const bodies[] = {"{\"name\":\"p1\",\"config\":{\"methods\":[\"read\"]}}",
                                         "{\"name\":\"p2\",\"config\":{\"methods\":[\"write\"]},\"expires_at\":null}",
                                         "{\"name\":\"p3\",\"require_api_token_auth\":true}"};
    race_req_t reqs[NSRV][NREQ];
    pthread_t th[NSRV][NREQ];
    for (int i = 0; i < NSRV; i++)
        for (int j = 0; j < NREQ; j++) {
            /* every other server is also deleted in the middle of its PATCHes */
            int del = (i % 2 == 0) && j == 1;
            reqs[i][j] = (race_req_t){&a, key, del ? "DELETE" : "PATCH", paths[i], del ? NULL : bodies[j % 3], 0};
            cr_assert(pthread_create(&th[i][j], NULL, race_run, &reqs[i][j]) == 0);
        }
    for (int i = 0; i < NSRV; i++)
        for (int j = 0; j < NREQ; j++)
            pthread_join(th[i][j], NULL);

    for (int i = 0; i < NSRV; i++) {
        char k[256];
        ta_srv_key(&a, toks[i], k, sizeof k);
        for (int j = 0; j < NREQ; j++)
            cr_expect(reqs[i][j].status == 200 || reqs[i][j].status == 204 || reqs[i][j].status == 404,
                      "server %d: %s answered %ld", i, reqs[i][j].method, reqs[i][j].status);
        ta_call(&r, &a, key, "GET", NULL, "%s", paths[i]);
        if (i % 2 == 0) {
            cr_expect_eq(r.status, 404, "deleted server %d still there: %s", i, r.body);
            cr_expect(!ta_redis_exists(k), "deleted server %d republished by a racing PATCH", i);
        } else {
            cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
            char *v = ts_redis("GET %s", k);
            json_t *rec = v ? json_loads(v, 0, NULL) : NULL;
            cr_expect(rec, "server %d not published", i);
            if (rec) {
                cr_expect_str_eq(json_string_value(json_object_get(rec, "name")), ta_str(&r, "name"),
                                 "server %d: Redis name differs from PostgreSQL", i);
                cr_expect(json_equal(json_object_get(rec, "config"), json_object_get(r.json, "config")),
                          "server %d: Redis config differs from PostgreSQL", i);
                cr_expect_eq(json_is_true(json_object_get(rec, "require_api_token_auth")),
                             json_is_true(json_object_get(r.json, "require_api_token_auth")),
                             "server %d: Redis require_api_token_auth differs", i);
            }
            json_decref(rec);
            free(v);
        }
        ts_resp_free(&r);
    }
    ta_stop(&a);
}

/* Server creates racing the DELETE of their account: afterwards every
 * srv: key under the prefix belongs to a row PostgreSQL still has (no
 * record published for a server the cascade removed). */
Test(api_crud, creates_racing_account_delete_leave_no_orphan, .timeout = 120)
{
    ts_api_t a;
    char ws[64], key[64];
    enum { NACCT = 4, NCREATE = 6 };
    char accts[NACCT][64], paths[NACCT][320], apaths[NACCT][320];
    ta_start(&a, "crud_race_acct", NULL, ws, key, NULL);
    for (int i = 0; i < NACCT; i++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "r%d", i);
        ta_account(&a, key, tenant, accts[i]);
        snprintf(paths[i], sizeof paths[i], "/integrated-account/%s/mcp", accts[i]);
        snprintf(apaths[i], sizeof apaths[i], "/integrated-account/%s", accts[i]);
    }
    race_req_t reqs[NACCT][NCREATE + 1];
    pthread_t th[NACCT][NCREATE + 1];
    for (int i = 0; i < NACCT; i++)
        for (int j = 0; j <= NCREATE; j++) {
            int del = j == NCREATE / 2;
            reqs[i][j] = (race_req_t){&a, key, del ? "DELETE" : "POST", del ? apaths[i] : paths[i],
                                      del ? NULL : "{\"name\":\"racer\"}", 0};
            cr_assert(pthread_create(&th[i][j], NULL, race_run, &reqs[i][j]) == 0);
        }
    for (int i = 0; i < NACCT; i++)
        for (int j = 0; j <= NCREATE; j++) {
            pthread_join(th[i][j], NULL);
            /* a create that loses the race is a 404 (the account is gone) */
            cr_expect(reqs[i][j].status == 201 || reqs[i][j].status == 204 || reqs[i][j].status == 404,
                      "%s %s racing the account's DELETE answered %ld", reqs[i][j].method, reqs[i][j].path,
                      reqs[i][j].status);
        }
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM integrated_accounts"), 0);
    cr_expect_eq(ta_sql_long(&a, "SELECT count(*) FROM mcp_servers"), 0, "server rows outlived their account");
    char pattern[128];
    snprintf(pattern, sizeof pattern, "%ssrv:*", a.redis_prefix);
    int left = ta_live_count(pattern);
    /* a server inserted while the DELETE waits must not keep a key the
     * DELETE did not see (it would live until reconcile's grace period) */
    cr_expect_eq(left, 0, "%d srv keys left published for servers of a deleted account", left);
    ta_stop(&a);
}
