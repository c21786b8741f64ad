/* Workspace isolation and authentication of the admin API: a key of one
 * workspace gets 404 (never 403) on every route for another workspace's
 * records and changes nothing; workspace keys get 403 on /workspaces;
 * missing or bad keys get 401 with WWW-Authenticate; the operational
 * routes need no key. */
#include "test_api_common.h"

/* What a foreign key could have changed: row counts, the account and
 * server rows themselves, and the published Redis values of workspace A.
 * (api_keys.last_used_at moves with every use, so api_keys is counted only.) */
static char *snapshot(const ts_api_t *a, const char *acct, const char *srv_key)
{
    char *counts = ta_db_counts(a);
    char *rows = ts_sql(a->db_url, "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM "
                                   "integrated_accounts t), '') || coalesce((SELECT string_agg(t::text, '|' "
                                   "ORDER BY t.id) FROM mcp_servers t), ''))");
    char *srv = ts_redis("GET %s", srv_key);
    char *sealed = tc_sealed(ts_redis("GET %sacct:%s", a->redis_prefix, acct));
    char *out = NULL;
    cr_assert(asprintf(&out, "%s\n%s\n%s\n%s\n%d", counts, rows, srv ? srv : "(nil)", sealed ? sealed : "(nil)",
                       ta_redis_count(a)) > 0);
    free(counts);
    free(rows);
    free(srv);
    free(sealed);
    return out;
}

Test(api_isolation, foreign_workspace_key_gets_404_everywhere, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws_a[64], key_a[64], ws_b[64], key_b[64], acct_a[64], acct_b[64], srv_a[64], tok_a[64], srv_b[64],
        srv_key[256];
    ta_start(&a, "isolation", NULL, ws_a, key_a, NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    ta_account(&a, key_a, "cust-a", acct_a);
    ta_account(&a, key_b, "cust-b", acct_b);
    ta_server(&a, key_a, acct_a, NULL, srv_a, tok_a);
    ta_server(&a, key_b, acct_b, NULL, srv_b, NULL);
    ta_srv_key(&a, tok_a, srv_key, sizeof srv_key);
    char *before = snapshot(&a, acct_a, srv_key);

    static const struct {
        const char *method, *fmt, *body;
        int acct_b_first; /* path starts with B's own account, then A's server */
    } calls[] = {
        {"GET", "/integrated-account/%s", NULL, 0},
        {"PATCH", "/integrated-account/%s", "{\"context\":{\"x\":1}}", 0},
        {"PATCH", "/integrated-account/%s", "{\"tenant_id\":\"stolen\"}", 0},
        {"DELETE", "/integrated-account/%s", NULL, 0},
        {"GET", "/integrated-account/%s/mcp", NULL, 0},
        {"POST", "/integrated-account/%s/mcp", "{\"name\":\"intruder\"}", 0},
        {"GET", "/integrated-account/%s/mcp/%s", NULL, 0},
        {"PATCH", "/integrated-account/%s/mcp/%s", "{\"name\":\"stolen\"}", 0},
        {"PATCH", "/integrated-account/%s/mcp/%s", "{\"expires_at\":null}", 0},
        {"DELETE", "/integrated-account/%s/mcp/%s", NULL, 0},
        /* B's own account with A's server id */
        {"GET", "/integrated-account/%s/mcp/%s", NULL, 1},
        {"PATCH", "/integrated-account/%s/mcp/%s", "{\"name\":\"stolen\"}", 1},
        {"DELETE", "/integrated-account/%s/mcp/%s", NULL, 1},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char what[160];
        const char *acct = calls[i].acct_b_first ? acct_b : acct_a;
        ta_call(&r, &a, key_b, calls[i].method, calls[i].body, calls[i].fmt, acct, srv_a);
        snprintf(what, sizeof what, "%s %s (foreign, case %zu)", calls[i].method, calls[i].fmt, i);
        ta_expect_problem(&r, 404, NULL, what);
        ts_resp_free(&r);
    }
    /* A's account with B's server, by A's key: 404 too */
    ta_call(&r, &a, key_a, "GET", NULL, "/integrated-account/%s/mcp/%s", acct_a, srv_b);
    ta_expect_problem(&r, 404, NULL, "A's account with B's server");
    ts_resp_free(&r);
    /* B's lists do not show A's records */
    ts_api_call(&r, &a, key_b, "GET", "/integrated-account", NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(!strstr(r.body, acct_a), "B's list shows A's account: %s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &a, key_b, "GET", "/integrated-account?tenant_id=cust-a", NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "tenant filter crosses workspaces: %s",
                 r.body);
    ts_resp_free(&r);

    char *after = snapshot(&a, acct_a, srv_key);
    cr_assert_str_eq(after, before, "a foreign key changed workspace A's records");
    free(after);
    free(before);

    /* A still sees and manages its own */
    ta_call(&r, &a, key_a, "GET", NULL, "/integrated-account/%s/mcp/%s", acct_a, srv_a);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "name"), "srv");
    ts_resp_free(&r);
    ta_stop(&a);
}

Test(api_isolation, roles_and_authentication, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], hdr[256];
    ta_start(&a, "auth", NULL, ws, key, acct);
    char *before = ta_db_counts(&a);
    int keys_before = ta_redis_count(&a);
    char *keys_list = ts_redis("KEYS %s*", a.redis_prefix);

    /* a workspace key on /workspaces...: 403 */
    static const struct {
        const char *method, *fmt, *body;
    } ws_calls[] = {
        {"POST", "/workspaces", "{\"name\":\"x\"}"},
        {"GET", "/workspaces", NULL},
        {"GET", "/workspaces/%s", NULL},
        {"POST", "/workspaces/%s/api-keys", "{\"name\":\"x\"}"},
        {"GET", "/workspaces/%s/api-keys", NULL},
        {"DELETE", "/workspaces/%s/api-keys/00000000-0000-4000-8000-000000000000", NULL},
    };
    for (size_t i = 0; i < sizeof ws_calls / sizeof ws_calls[0]; i++) {
        char what[160];
        ta_call(&r, &a, key, ws_calls[i].method, ws_calls[i].body, ws_calls[i].fmt, ws);
        snprintf(what, sizeof what, "workspace key on %s %s", ws_calls[i].method, ws_calls[i].fmt);
        ta_expect_problem(&r, 403, NULL, what);
        ts_resp_free(&r);
    }
    /* the bootstrap key on /integrated-account...: refused (401 or 403) */
    static const struct {
        const char *method, *fmt, *body;
    } acct_calls[] = {
        {"GET", "/integrated-account", NULL},
        {"POST", "/integrated-account",
         "{\"tenant_id\":\"b\",\"site_url\":\"" TA_SITE "\",\"auth\":{\"type\":\"api_token\",\"email\":\"a@b.c\","
         "\"api_token\":\"t\"}}"},
        {"GET", "/integrated-account/%s", NULL},
        {"DELETE", "/integrated-account/%s", NULL},
        {"POST", "/integrated-account/%s/mcp", "{\"name\":\"x\"}"},
    };
    for (size_t i = 0; i < sizeof acct_calls / sizeof acct_calls[0]; i++) {
        ta_call(&r, &a, a.bootstrap_key, acct_calls[i].method, acct_calls[i].body, acct_calls[i].fmt, acct);
        cr_expect(r.status == 403 || r.status == 401, "bootstrap key on %s %s: %ld %s", acct_calls[i].method,
                  acct_calls[i].fmt, r.status, r.body);
        ts_resp_free(&r);
    }

    /* no key, malformed and unknown keys: 401 with the challenge */
    char unknown[64] = "jsk_";
    memset(unknown + 4, 'A', 43);
    unknown[47] = 0;
    char bad_boot[64];
    snprintf(bad_boot, sizeof bad_boot, "%s", a.bootstrap_key);
    bad_boot[strlen(bad_boot) - 1] ^= 1;
    char trunc[64];
    snprintf(trunc, sizeof trunc, "%.*s", (int)strlen(key) - 1, key);
    char auth_basic[128], auth_nobearer[128], auth_unknown[128], auth_bad_boot[128], auth_trunc[128];
    snprintf(auth_basic, sizeof auth_basic, "Authorization: Basic %s", key);
    snprintf(auth_nobearer, sizeof auth_nobearer, "Authorization: %s", key);
    snprintf(auth_unknown, sizeof auth_unknown, "Authorization: Bearer %s", unknown);
    snprintf(auth_bad_boot, sizeof auth_bad_boot, "Authorization: Bearer %s", bad_boot);
    snprintf(auth_trunc, sizeof auth_trunc, "Authorization: Bearer %s", trunc);
    const char *auths[] = {NULL,          "Authorization: Bearer ", "Authorization: Bearer  ", auth_basic,
                           auth_nobearer, auth_unknown,             auth_bad_boot,             auth_trunc};
    const char *paths[] = {"/integrated-account", "/workspaces"};
    for (size_t i = 0; i < sizeof auths / sizeof auths[0]; i++)
        for (size_t j = 0; j < 2; j++) {
            char url[256], what[256];
            const char *h[] = {auths[i] ? auths[i] : "X-None: 1", NULL};
            snprintf(url, sizeof url, "%s%s", a.url, paths[j]);
            ts_http(&r, "GET", url, h, NULL, 0);
            snprintf(what, sizeof what, "GET %s with '%s'", paths[j], auths[i] ? auths[i] : "no Authorization");
            if (ta_expect_problem(&r, 401, NULL, what)) {
                const char *v = ts_resp_header(&r, "WWW-Authenticate", hdr, sizeof hdr);
                cr_expect(v && strcmp(v, "Bearer realm=\"jsmcp\"") == 0, "%s: WWW-Authenticate '%s'", what,
                          v ? v : "(absent)");
            }
            ts_resp_free(&r);
        }
    /* a bad key on a write changes nothing */
    ts_api_call(&r, &a, unknown, "POST", "/workspaces", "{\"name\":\"x\"}");
    ta_expect_problem(&r, 401, NULL, "POST /workspaces with an unknown key");
    ts_resp_free(&r);

    char *after = ta_db_counts(&a);
    cr_assert_str_eq(after, before, "refused requests changed rows: before %s, after %s", before, after);
    char *keys_after = ts_redis("KEYS %s*", a.redis_prefix);
    cr_assert_eq(ta_redis_count(&a), keys_before, "refused requests changed Redis keys: before\n%s\nafter\n%s",
                 keys_list ? keys_list : "", keys_after ? keys_after : "");
    free(keys_list);
    free(keys_after);
    free(before);
    free(after);
    ta_stop(&a);
}

Test(api_isolation, api_without_bootstrap_key, .timeout = 60)
{
    ts_api_t a;
    ts_resp_t r;
    static const char *const env[] = {"JSMCP_BOOTSTRAP_KEY=", NULL};
    ts_api_start(&a, "no_bootstrap", env);
    /* an empty bootstrap key must not open /workspaces to an empty bearer */
    const char *h[] = {"Authorization: Bearer ", NULL};
    char url[128];
    snprintf(url, sizeof url, "%s/workspaces", a.url);
    ts_http(&r, "GET", url, h, NULL, 0);
    ta_expect_problem(&r, 401, NULL, "empty bearer with no bootstrap key");
    ts_resp_free(&r);
    ts_api_call(&r, &a, a.bootstrap_key, "GET", "/workspaces", NULL);
    ta_expect_problem(&r, 401, NULL, "former bootstrap key with no bootstrap key configured");
    ts_resp_free(&r);
    ta_stop(&a);
}

Test(api_isolation, public_routes, .timeout = 60)
{
    ts_api_t a;
    ts_resp_t r;
    char url[128], ct[128];
    ts_api_start(&a, "public", NULL);
    snprintf(url, sizeof url, "%s/healthz", a.url);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(ta_str(&r, "status"), "ok", "%s", r.body);
    ts_resp_free(&r);
    /* Ready once the pool and Redis have connected, which may come a
     * little after the listener (a loaded machine): poll, bounded. */
    snprintf(url, sizeof url, "%s/readyz", a.url);
    for (int i = 0;; i++) {
        ts_http(&r, "GET", url, NULL, NULL, 0);
        if (r.status == 200 || i == 600)
            break;
        ts_resp_free(&r);
        usleep(50000);
    }
    cr_assert_eq(r.status, 200, "readyz with PostgreSQL and Redis up: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* /metrics: on its own listener only (JSMCP_API_METRICS_LISTEN), never the public one */
    snprintf(url, sizeof url, "%s/ui/app.js", a.url);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    ts_http(&r, "GET", a.metrics_url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(ts_resp_header(&r, "Content-Type", ct, sizeof ct) && strncmp(ct, "text/plain", 10) == 0, "%s", ct);
    cr_assert(strstr(r.body, "# TYPE"), "metrics: %.200s", r.body);
    /* per-route labels: the route patterns served so far, never an id */
    cr_assert(strstr(r.body, "jsmcp_api_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"}"),
              "no route label: %s", r.body);
    cr_assert(strstr(r.body, "jsmcp_api_request_duration_seconds_count{route=\"/healthz\"}"), "%s", r.body);
    cr_assert(strstr(r.body, "jsmcp_api_requests_total{route=\"/ui/*\",method=\"GET\",status=\"200\"} 1"), "%s",
              r.body);
    ts_resp_free(&r);
    snprintf(url, sizeof url, "%s/metrics", a.url);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 404, "/metrics on the public listener: %ld", r.status);
    ts_resp_free(&r);
    /* /openapi.json is the committed document */
    snprintf(url, sizeof url, "%s/openapi.json", a.url);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    json_t *doc = json_load_file("api/openapi.json", 0, NULL);
    cr_assert(doc, "api/openapi.json does not parse (run from the repo root)");
    cr_assert(r.json && json_equal(r.json, doc), "served /openapi.json differs from api/openapi.json");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_decref(doc);
    ts_resp_free(&r);
    ta_stop(&a);
}

/* 1 when the OpenAPI template ("/integrated-account/{id}") matches the
 * concrete path segment by segment ({...} takes any non-empty segment). */
static int template_matches(const char *tmpl, const char *path)
{
    while (*tmpl == '/' && *path == '/') {
        tmpl++;
        path++;
        size_t tn = strcspn(tmpl, "/"), pn = strcspn(path, "/");
        if (!(tmpl[0] == '{' && pn > 0) && (tn != pn || strncmp(tmpl, path, tn) != 0))
            return 0;
        tmpl += tn;
        path += pn;
    }
    return *tmpl == 0 && *path == 0;
}

/* api/openapi.json and the router agree: on every documented path, each
 * undocumented method answers 405 with an Allow header listing exactly the
 * methods documented for the templates that match the path, or, when one
 * of those documents it (e.g. GET /integrated-account/connect is GET
 * /integrated-account/{id}), is routed there: a record 404; and a
 * documented GET is routed (no 405, not the unknown-route 404). */
Test(api_isolation, openapi_paths_match_the_routes, .timeout = 60)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], key_id[64];
    ta_start(&a, "openapi_routes", NULL, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, NULL);
    ta_call(&r, &a, a.bootstrap_key, "GET", NULL, "/workspaces/%s/api-keys", ws);
    cr_assert_eq(r.status, 200);
    snprintf(key_id, sizeof key_id, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r.json, "result"), 0), "id")));
    ts_resp_free(&r);

    /* the unknown-route answer, to tell it from a record 404 */
    ta_call(&r, &a, key, "GET", NULL, "/no/such/route");
    cr_assert_eq(r.status, 404);
    char route404[256];
    snprintf(route404, sizeof route404, "%s", ta_str(&r, "detail"));
    ts_resp_free(&r);
#define IS_ROUTE_404(r) ((r).status == 404 && ta_str(&(r), "detail") && strcmp(ta_str(&(r), "detail"), route404) == 0)

    json_t *doc = json_load_file("api/openapi.json", 0, NULL);
    cr_assert(doc, "api/openapi.json does not parse (run from the repo root)");
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    const char *tmpl;
    json_t *item;
    int npaths = 0;
    json_object_foreach(json_object_get(doc, "paths"), tmpl, item)
    {
        /* {id} is the workspace under /workspaces, else the account */
        char path[256] = "";
        int is_ws = strncmp(tmpl, "/workspaces", 11) == 0;
        const char *key_for = is_ws ? a.bootstrap_key : key;
        for (const char *p = tmpl; *p;) {
            const char *v = NULL;
            size_t skip = 0;
            if (strncmp(p, "{id}", 4) == 0)
                v = is_ws ? ws : acct, skip = 4;
            else if (strncmp(p, "{key_id}", 8) == 0)
                v = key_id, skip = 8;
            else if (strncmp(p, "{mcp_id}", 8) == 0)
                v = srv, skip = 8;
            if (v) {
                strncat(path, v, sizeof path - strlen(path) - 1);
                p += skip;
            } else {
                strncat(path, p, 1);
                p++;
            }
        }
        /* The methods documented for this path, and for every other
         * documented template that matches it too (a parameter segment
         * takes any literal: /integrated-account/connect is also
         * /integrated-account/{id}): the router routes a method to the
         * first of those that has it, and lists them all in Allow. */
        char documented[64] = "", matching[64] = "", allow[5][128];
        const char *tmpl2;
        json_t *item2;
        json_object_foreach(json_object_get(doc, "paths"), tmpl2, item2)
        {
            int same = strcmp(tmpl2, tmpl) == 0;
            if (!same && !template_matches(tmpl2, path))
                continue;
            for (size_t m = 0; m < 5; m++) {
                char lower[8], want[16];
                for (size_t i = 0; i <= strlen(methods[m]); i++)
                    lower[i] = (char)(methods[m][i] >= 'A' && methods[m][i] <= 'Z' ? methods[m][i] + 32 : methods[m][i]);
                snprintf(want, sizeof want, "%s,", methods[m]);
                if (!json_object_get(item2, lower))
                    continue;
                if (same)
                    strcat(documented, want);
                if (!strstr(matching, want))
                    strcat(matching, want);
            }
        }
        /* every undocumented method, and GET when documented */
        long status[5];
        for (size_t m = 0; m < 5; m++) {
            char want[16], what[300];
            snprintf(want, sizeof want, "%s,", methods[m]);
            int doc_has = strstr(documented, want) != NULL, sibling_has = !doc_has && strstr(matching, want);
            status[m] = -1;
            allow[m][0] = 0;
            if (doc_has && strcmp(methods[m], "GET") != 0)
                continue; /* writes are covered by the other tests */
            ta_call(&r, &a, key_for, methods[m], doc_has ? NULL : "{}", "%s", path);
            status[m] = r.status;
            ts_resp_header(&r, "Allow", allow[m], sizeof allow[m]);
            snprintf(what, sizeof what, "%s %s (concrete %s)", methods[m], tmpl, path);
            if (doc_has)
                cr_expect(r.status != 405 && !IS_ROUTE_404(r), "documented %s is not routed: %ld %s", what,
                          r.status, r.body);
            else if (sibling_has)
                /* routed to the parameterised sibling: no such record there */
                cr_expect(r.status == 404 && !IS_ROUTE_404(r), "%s: expected the sibling's record 404, got %ld %s",
                          what, r.status, r.body);
            else
                ta_expect_problem(&r, 405, NULL, what);
            ts_resp_free(&r);
        }
        /* Allow lists exactly the methods of the matching templates */
        for (size_t m = 0; m < 5; m++) {
            if (status[m] != 405)
                continue;
            for (size_t k = 0; k < 5; k++) {
                char want[16];
                snprintf(want, sizeof want, "%s,", methods[k]);
                int in_doc = strstr(matching, want) != NULL, in_allow = 0;
                for (char *tok = allow[m]; (tok = strstr(tok, methods[k])); tok++) {
                    char after = tok[strlen(methods[k])];
                    if ((tok == allow[m] || tok[-1] == ' ' || tok[-1] == ',') &&
                        (after == 0 || after == ',' || after == ' '))
                        in_allow = 1;
                }
                cr_expect_eq(in_allow, in_doc, "%s %s: Allow '%s' %s %s (documented there: %s)", methods[m], tmpl,
                             allow[m], in_doc ? "lacks" : "has undocumented", methods[k], matching);
            }
        }
        npaths++;
    }
#undef IS_ROUTE_404
    cr_assert(npaths >= 10, "only %d paths documented", npaths);
    json_decref(doc);
    ta_stop(&a);
}

/* The metrics listener with JSMCP_API_METRICS_TOKEN: a scrape without the
 * token, or with another, gets 401; with it, the series, build_info among
 * them. With JSMCP_API_METRICS_LISTEN=off there is no listener at all. */
Test(api_isolation, metrics_token_and_build_info, .timeout = 60)
{
    ts_api_t a;
    ts_resp_t r;
    static const char *const env[] = {"JSMCP_API_METRICS_TOKEN=scrape-token-0123456789", NULL};
    ts_api_start(&a, "metrics_token", env);
    const char *none[] = {"X-None: 1", NULL}, *wrong[] = {"Authorization: Bearer scrape-token-012345678", NULL},
               *right[] = {"Authorization: Bearer scrape-token-0123456789", NULL};
    ts_http(&r, "GET", a.metrics_url, none, NULL, 0);
    ta_expect_problem(&r, 401, NULL, "scrape without the token");
    ts_resp_free(&r);
    ts_http(&r, "GET", a.metrics_url, wrong, NULL, 0);
    ta_expect_problem(&r, 401, NULL, "scrape with another token");
    ts_resp_free(&r);
    ts_http(&r, "GET", a.metrics_url, right, NULL, 0);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    const char *bi = strstr(r.body, "\njsmcp_api_build_info{version=\"");
    cr_assert(bi, "no build_info: %.300s", r.body);
    cr_assert(strstr(bi, "\",commit=\"") && strstr(bi, "\"} 1\n"), "%.200s", bi);
    ts_resp_free(&r);
    ta_stop(&a);

    static const char *const off[] = {"JSMCP_API_METRICS_LISTEN=off", NULL};
    ts_api_start(&a, "metrics_off", off);
    ts_http(&r, "GET", a.metrics_url, NULL, NULL, 0);
    cr_assert_eq(r.status, 0, "a metrics listener with JSMCP_API_METRICS_LISTEN=off: %ld", r.status);
    ts_resp_free(&r);
    ta_stop(&a);
}
