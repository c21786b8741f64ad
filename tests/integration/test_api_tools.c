/* Integration tests of the API's view of the tool catalog (issue 5): GET
 * /tools filters like the workers do, and a server whose methods and tags
 * leave no tool is refused (create and PATCH) without writing anything. */
#include "test_api_common.h"

static long tools_count(const ts_api_t *a, const char *key, const char *query)
{
    ts_resp_t r;
    ta_call(&r, a, key, "GET", NULL, "/tools%s", query);
    cr_assert_eq(r.status, 200, "GET /tools%s: %ld %s", query, r.status, r.body);
    long n = (long)json_integer_value(json_object_get(r.json, "count"));
    cr_assert_eq((size_t)n, json_array_size(json_object_get(r.json, "result")));
    ts_resp_free(&r);
    return n;
}

Test(tools, filters_and_empty_configs)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], id[64];
    ta_start(&a, "tools_api", NULL, ws, key, acct);

    long all = tools_count(&a, key, "");
    long read = tools_count(&a, key, "?methods=read");
    long write = tools_count(&a, key, "?methods=write");
    long list = tools_count(&a, key, "?methods=list");
    long get = tools_count(&a, key, "?methods=get");
    cr_assert(all >= 30, "the catalog has %ld tools", all);
    cr_assert_eq(read + write, all, "read and write split the catalog");
    cr_assert_eq(list + get, read, "read is list + get");
    cr_assert_eq(tools_count(&a, key, "?methods=read,write"), all);
    long itsm_read = tools_count(&a, key, "?methods=read&tags=itsm");
    cr_assert(itsm_read > 0 && itsm_read < read, "tags narrow methods (ANDed): %ld of %ld", itsm_read, read);
    cr_assert_eq(tools_count(&a, key, "?tags=no-such-tag"), 0);
    /* projects leave out the five tools whose data has no project
     * (organization by id and its users, attachment by id; creating an
     * organization for the whole site, issue 20; adding users to an
     * organization, issue 22). */
    cr_assert_eq(tools_count(&a, key, "?projects=HW"), all - 5);
    cr_assert_eq(tools_count(&a, key, "?methods=read&projects=HW,ITSM"), read - 3);
    cr_assert_eq(tools_count(&a, key, "?methods=write&projects=HW"), write - 2, "two of them are writes");

    ts_resp_t r;
    ta_call(&r, &a, key, "GET", NULL, "/tools?methods=drop");
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, NULL, "GET", NULL, "/tools");
    cr_assert_eq(r.status, 401);
    ts_resp_free(&r);

    /* A config that leaves nothing is refused and writes nothing. */
    char *before = ta_db_counts(&a);
    int keys_before = ta_redis_count(&a);
    ta_call(&r, &a, key, "POST", "{\"name\":\"empty\",\"config\":{\"tags\":[\"no-such-tag\"]}}",
            "/integrated-account/%s/mcp", acct);
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "field"), "/config");
    cr_assert(strstr(ta_str(&r, "detail"), "no tools"), "%s", r.body);
    ts_resp_free(&r);
    char *after = ta_db_counts(&a);
    cr_assert_str_eq(before, after);
    cr_assert_eq(ta_redis_count(&a), keys_before);
    free(before);
    free(after);

    ta_server(&a, key, acct, "{\"name\":\"ok\",\"config\":{\"methods\":[\"read\"],\"tags\":[\"itsm\"]}}", id, NULL);
    ta_call(&r, &a, key, "PATCH", "{\"config\":{\"methods\":[\"delete\"],\"tags\":[\"no-such-tag\"]}}",
            "/integrated-account/%s/mcp/%s", acct, id);
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s", acct, id);
    json_t *want = json_pack("{s[s]s[s]}", "methods", "read", "tags", "itsm");
    cr_assert(json_equal(json_object_get(r.json, "config"), want), "a refused PATCH changed the config: %s", r.body);
    json_decref(want);
    ts_resp_free(&r);
    ta_stop(&a);
}
