/* Unit tests of the worker pieces that need no network: projection, the
 * embedded catalog, the executor's request building and result shaping,
 * JSON-RPC classification / tools/call preparation, and the merge of the
 * worker processes' metrics. */
#include <criterion/criterion.h>
#include <string.h>

#include "httpc.h"
#include "jsontext.h"
#include "projection.h"
#include "clock.h"
#include "wk_catalog.h"
#include "wk_request.h"
#include "wk_result.h"
#include "wk_record.h"
#include "wk_rpc.h"
#include "wk_mcp.h"
#include "wk_metrics.h"
#include "wk_test.h"

/* ---- projection ---- */

Test(projection, paths_users_dates_adf)
{
    json_t *src = J("{\"key\":\"ITSM-1\",\"fields\":{\"summary\":\"VPN\",\"assignee\":null,"
                    "\"reporter\":{\"accountId\":\"a1\",\"displayName\":\"Mia\",\"timeZone\":\"Europe/Berlin\",\"active\":false,\"avatarUrls\":{}},"
                    "\"created\":\"2023-11-02T10:02:34.255+0100\",\"labels\":[\"a\",\"b\"],"
                    "\"description\":{\"type\":\"doc\",\"version\":1,\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"line one\"},{\"type\":\"hardBreak\"},{\"type\":\"text\",\"text\":\"two\"}]},"
                    "{\"type\":\"bulletList\",\"content\":[{\"type\":\"listItem\",\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"item\"}]}]}]}]}}}");
    json_t *tmpl = J("{\"key\":\"key\",\"summary\":\"fields.summary\",\"assignee\":{\"$user\":\"fields.assignee\"},"
                     "\"reporter\":{\"$user\":\"fields.reporter\"},\"created\":{\"$date\":\"fields.created\"},"
                     "\"first_label\":\"fields.labels.0\",\"n\":{\"$count\":\"fields.labels\"},"
                     "\"text\":{\"$adf\":\"fields.description\"},\"kind\":{\"$const\":\"issue\"},"
                     "\"pick\":{\"$first\":[\"fields.nope\",\"fields.summary\"]},\"empty\":{\"x\":\"fields.none\"}}");
    char err[200];
    cr_assert_eq(proj_check(tmpl, err, sizeof err), 0, "%s", err);
    json_t *out = proj_apply(tmpl, src);
    cr_assert_str_eq(jsontext_str(out, "key"), "ITSM-1");
    cr_assert_null(json_object_get(out, "assignee"), "null members are left out");
    cr_assert_null(json_object_get(out, "empty"), "empty objects are left out");
    json_t *rep = json_object_get(out, "reporter");
    cr_assert_str_eq(jsontext_str(rep, "name"), "Mia");
    cr_assert_str_eq(jsontext_str(rep, "accountId"), "a1");
    cr_assert_str_eq(jsontext_str(rep, "timeZone"), "Europe/Berlin");
    cr_assert(json_is_false(json_object_get(rep, "active")));
    cr_assert_null(json_object_get(rep, "avatarUrls"));
    cr_assert_str_eq(jsontext_str(out, "created"), "2023-11-02T09:02:34Z");
    cr_assert_str_eq(jsontext_str(out, "first_label"), "a");
    cr_assert_eq(jsontext_int(out, "n", -1), 2);
    cr_assert_str_eq(jsontext_str(out, "text"), "line one\ntwo\n- item");
    cr_assert_str_eq(jsontext_str(out, "kind"), "issue");
    cr_assert_str_eq(jsontext_str(out, "pick"), "VPN");
    json_decref(out);
    json_decref(tmpl);
    json_decref(src);
}

Test(projection, each_and_jsm_dates_and_bounds)
{
    json_t *src = J("{\"values\":[{\"d\":{\"iso8601\":\"2015-10-08T14:42:00+0700\",\"epochMillis\":1444290120000}},{\"d\":\"2026-01-31\"},{}]}");
    json_t *tmpl = J("{\"$each\":\"values\",\"map\":{\"d\":{\"$date\":\"d\"}}}");
    json_t *out = proj_apply(tmpl, src);
    cr_assert_eq(json_array_size(out), 2, "items that project to nothing are dropped");
    cr_assert_str_eq(jsontext_str(json_array_get(out, 0), "d"), "2015-10-08T07:42:00Z");
    cr_assert_str_eq(jsontext_str(json_array_get(out, 1), "d"), "2026-01-31");
    json_decref(out);
    json_decref(tmpl);
    json_decref(src);

    json_t *str = json_string("abcdefghij"), *num = json_integer(3);
    char *t = proj_adf_text(str, 4);
    cr_assert_str_eq(t, "abcd...");
    free(t);
    /* The bound counts characters, whatever their bytes, and a cut never
     * splits one: the text stays valid UTF-8. */
    json_t *utf = json_string("ab\xc3\xa9\xe2\x82\xac!");
    t = proj_adf_text(utf, 3);
    cr_assert_str_eq(t, "ab\xc3\xa9...", "three characters: the 2-byte e-acute whole");
    free(t);
    t = proj_adf_text(utf, 4);
    cr_assert_str_eq(t, "ab\xc3\xa9\xe2\x82\xac...", "four: the 3-byte euro sign whole");
    free(t);
    t = proj_adf_text(utf, 5);
    cr_assert_str_eq(t, "ab\xc3\xa9\xe2\x82\xac!", "five characters fit five");
    free(t);
    json_decref(utf);
    json_t *doc = J("{\"type\":\"doc\",\"content\":[{\"type\":\"paragraph\",\"content\":"
                    "[{\"type\":\"text\",\"text\":\"x\u00e9\u00e9\"}]}]}");
    t = proj_adf_text(doc, 2);
    cr_assert_str_eq(t, "x\xc3\xa9...");
    free(t);
    json_t *tm = J("{\"d\":{\"$adf\":\".\"}}");
    json_t *o = proj_apply(tm, doc);
    cr_assert_str_eq(jsontext_str(o, "d"), "x\xc3\xa9\xc3\xa9");
    json_decref(o);
    json_decref(tm);
    json_decref(doc);
    cr_assert_null(proj_adf_text(num, 10));
    json_decref(str);
    json_decref(num);

    char err[200];
    json_t *bad = J("{\"$nope\":\"x\"}");
    cr_assert_eq(proj_check(bad, err, sizeof err), -1);
    cr_assert(strstr(err, "$nope"));
    json_decref(bad);
}

/* ---- catalog ---- */

Test(catalog, six_tools_load_and_filter)
{
    wk_catalog_t *c = cat();
    static const char *const names[] = {
        "list_all_jira_service_management_search_issues", "get_single_jira_service_management_issue_by_id",
        "list_all_jira_service_management_issue_comments", "list_all_jira_service_management_queues",
        "list_all_jira_service_management_queue_issues", "get_single_jira_service_management_user_by_id"};
    for (size_t i = 0; i < 6; i++)
        cr_assert(wk_catalog_find(c, names[i]), "%s", names[i]);

    json_t *read = J("{\"methods\":[\"read\"]}");
    json_t *get = J("{\"methods\":[\"get\"]}");
    json_t *write = J("{\"methods\":[\"write\"]}");
    json_t *users = J("{\"methods\":[\"read\"],\"tags\":[\"users\"]}");
    const wk_tool_t *user = wk_catalog_find(c, names[5]), *search = wk_catalog_find(c, names[0]);
    cr_assert(wk_catalog_allowed(search, read));
    cr_assert(!wk_catalog_allowed(search, get));
    cr_assert(wk_catalog_allowed(user, get));
    cr_assert(!wk_catalog_allowed(user, write));
    cr_assert(wk_catalog_allowed(user, users));
    cr_assert(!wk_catalog_allowed(search, users));
    cr_assert(wk_catalog_allowed(search, NULL), "no config = everything");

    /* Pagination over the whole catalog, 30 per page. */
    char err[200];
    cr_assert_gt(c->n, 30);
    json_t *p1 = wk_catalog_list(c, NULL, NULL, 30, err, sizeof err);
    cr_assert_eq(json_array_size(json_object_get(p1, "tools")), 30);
    const char *cur = jsontext_str(p1, "nextCursor");
    cr_assert(cur);
    json_t *p2 = wk_catalog_list(c, NULL, cur, 30, err, sizeof err);
    cr_assert_eq(json_array_size(json_object_get(p2, "tools")), c->n - 30);
    cr_assert_null(json_object_get(p2, "nextCursor"));
    cr_assert_null(wk_catalog_list(c, NULL, "bogus!", 30, err, sizeof err));
    cr_assert(strstr(err, "Invalid cursor"));
    /* Listed tools carry only MCP fields. */
    json_t *t0 = json_array_get(json_object_get(p1, "tools"), 0);
    cr_assert(json_object_get(t0, "inputSchema") && json_object_get(t0, "annotations"));
    cr_assert_null(json_object_get(t0, "http"));
    json_t *only_users = wk_catalog_list(c, users, NULL, 50, err, sizeof err);
    /* user get, user search, myself, an issue's watchers */
    cr_assert_eq(json_array_size(json_object_get(only_users, "tools")), 4);
    json_decref(only_users);
    json_decref(p1);
    json_decref(p2);
    json_decref(read);
    json_decref(get);
    json_decref(write);
    json_decref(users);
    wk_catalog_free(c);
}

Test(catalog, bad_rows_are_refused)
{
    wk_catalog_t *c = NULL;
    char err[300];
    const char *bad[] = {
        "{\"tools\":[]}",
        "{\"tools\":[{\"name\":\"x\",\"kind\":\"fly\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\"},\"http\":{\"method\":\"GET\",\"path\":\"/a\"},\"output\":{\"object\":\"a\"}}]}",
        "{\"tools\":[{\"name\":\"x\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\"},\"http\":{\"method\":\"GET\",\"path\":\"a\"},\"output\":{\"object\":\"a\"}}]}",
        "{\"tools\":[{\"name\":\"x\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\"},\"http\":{\"method\":\"GET\",\"path\":\"/a\"},\"output\":{\"object\":{\"$template\":\"missing\"}}}]}",
        "{\"tools\":[{\"name\":\"bad name\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\"},\"http\":{\"method\":\"GET\",\"path\":\"/a\"},\"output\":{\"object\":\"a\"}}]}",
        /* Issue 20: a path argument without an argument kind (a pattern) ... */
        "{\"tools\":[{\"name\":\"x\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}}},\"http\":{\"method\":\"GET\",\"path\":\"/a/{id}\"},\"output\":{\"object\":\"a\"}}]}",
        /* ... an unknown kind, a kind whose checks a property overrides, a pattern that is not anchored */
        "{\"arg_kinds\":{},\"tools\":[{\"name\":\"x\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"id\":{\"$kind\":\"nope\"}}},\"http\":{\"method\":\"GET\",\"path\":\"/a/{id}\"},\"output\":{\"object\":\"a\"}}]}",
        "{\"arg_kinds\":{\"n\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"}},\"tools\":[{\"name\":\"x\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"id\":{\"$kind\":\"n\",\"pattern\":\"^.*$\"}}},\"http\":{\"method\":\"GET\",\"path\":\"/a/{id}\"},\"output\":{\"object\":\"a\"}}]}",
        "{\"tools\":[{\"name\":\"x\",\"kind\":\"get\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"pattern\":\"[0-9]+\"}}},\"http\":{\"method\":\"GET\",\"path\":\"/a/{id}\"},\"output\":{\"object\":\"a\"}}]}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        cr_assert_eq(wk_catalog_load(&c, bad[i], strlen(bad[i]), err, sizeof err), -1, "row %d", i);
        cr_assert_null(c);
    }
}

/* ---- executor ---- */

Test(exec, builds_requests_from_rows)
{
    wk_catalog_t *c = cat();
    char err[300];
    wk_request_t call;
    json_t *a = J("{\"id\":\"ITSM 1/x\"}");
    cr_assert_eq(wk_request_build(wk_catalog_find(c, "get_single_jira_service_management_issue_by_id"), a,
                               "http://h:1", &call, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(call.method, "GET");
    cr_assert(strncmp(call.url, "http://h:1/rest/api/3/issue/ITSM%201%2Fx?fields=summary%2Cstatus", 63) == 0, "%s", call.url);
    cr_assert_null(call.body);
    wk_request_clear(&call);
    json_decref(a);

    a = J("{\"id\":\"5b10:abc\"}");
    cr_assert_eq(wk_request_build(wk_catalog_find(c, "get_single_jira_service_management_user_by_id"), a,
                               "http://h", &call, err, sizeof err), 0);
    cr_assert_str_eq(call.url, "http://h/rest/api/3/user?accountId=5b10%3Aabc");
    wk_request_clear(&call);
    json_decref(a);

    a = J("{\"jql\":\"project = ITSM\",\"limit\":5}");
    const wk_tool_t *search = wk_catalog_find(c, "list_all_jira_service_management_search_issues");
    cr_assert_eq(wk_request_build(search, a, "http://h", &call, err, sizeof err), 0);
    cr_assert_str_eq(call.method, "POST");
    json_t *body = J(call.body);
    cr_assert_str_eq(jsontext_str(body, "jql"), "project = ITSM");
    cr_assert_eq(jsontext_int(body, "maxResults", 0), 5);
    cr_assert_null(json_object_get(body, "nextPageToken"));
    json_decref(body);
    wk_request_clear(&call);
    json_decref(a);

    a = J("{\"service_desk_id\":\"2\",\"queue_id\":\"7\",\"limit\":1000}");
    cr_assert_eq(wk_request_build(wk_catalog_find(c, "list_all_jira_service_management_queue_issues"), a,
                               "http://h", &call, err, sizeof err), 0);
    cr_assert_str_eq(call.url, "http://h/rest/servicedeskapi/servicedesk/2/queue/7/issue?limit=50",
                     "limit clamped to the row's max");
    wk_request_clear(&call);
    json_decref(a);

    a = J("{\"jql\":\"project = ITSM\",\"next_cursor\":\"czox\"}"); /* an 's:' cursor on a token tool */
    cr_assert_eq(wk_request_build(search, a, "http://h", &call, err, sizeof err), -1);
    cr_assert(strstr(err, "next_cursor"));
    json_decref(a);
    wk_catalog_free(c);
}


/* A typed tool result as the CallToolResult JSON a client reads. */
static json_t *RJ(wk_tool_result_t *r)
{
    json_t *j = wk_result_json(r);
    wk_result_free(r);
    return j;
}

static httpc_response_t resp(int status, const char *body, const char *headers)
{
    httpc_response_t r = {.status = status, .body = body, .body_len = strlen(body),
                          .headers = headers, .headers_len = strlen(headers)};
    return r;
}

Test(exec, results_paging_errors_and_429)
{
    wk_catalog_t *c = cat();
    wk_upstream_meta_t rl;
    const wk_tool_t *search = wk_catalog_find(c, "list_all_jira_service_management_search_issues");
    const wk_tool_t *comments = wk_catalog_find(c, "list_all_jira_service_management_issue_comments");
    const wk_tool_t *queues = wk_catalog_find(c, "list_all_jira_service_management_queues");
    json_t *args = J("{\"jql\":\"project = ITSM\"}");

    httpc_response_t r = resp(200, "{\"issues\":[{\"key\":\"ITSM-1\",\"fields\":{\"summary\":\"s\"}}],\"nextPageToken\":\"T1\",\"isLast\":false}", "HTTP/1.1 200 OK\r\n\r\n");
    json_t *res = RJ(wk_result_upstream(search, args, NULL, &r, &rl));
    json_t *sc = json_object_get(res, "structuredContent");
    cr_assert_str_eq(jsontext_str(json_array_get(json_object_get(sc, "issues"), 0), "key"), "ITSM-1");
    const char *next = jsontext_str(sc, "next_cursor");
    cr_assert(next);
    cr_assert_null(json_object_get(res, "isError"));
    cr_assert_str_eq(jsontext_str(json_array_get(json_object_get(res, "content"), 0), "type"), "text");
    /* The cursor goes back in as nextPageToken. */
    json_t *a2 = J("{\"jql\":\"project = ITSM\"}");
    json_object_set_new(a2, "next_cursor", json_string(next));
    wk_request_t call;
    char err[300];
    cr_assert_eq(wk_request_build(search, a2, "http://h", &call, err, sizeof err), 0);
    json_t *body = J(call.body);
    cr_assert_str_eq(jsontext_str(body, "nextPageToken"), "T1");
    json_decref(body);
    wk_request_clear(&call);
    json_decref(a2);
    json_decref(res);

    r = resp(200, "{\"issues\":[],\"isLast\":true}", "");
    res = RJ(wk_result_upstream(search, args, NULL, &r, &rl));
    cr_assert_null(json_object_get(json_object_get(res, "structuredContent"), "next_cursor"));
    json_decref(res);

    /* startAt/total: 2 of 3 -> more; JSM start/isLastPage. */
    json_t *ca = J("{\"id\":\"ITSM-1\"}");
    r = resp(200, "{\"startAt\":0,\"total\":3,\"comments\":[{\"id\":\"1\"},{\"id\":\"2\"}]}", "");
    res = RJ(wk_result_upstream(comments, ca, NULL, &r, &rl));
    cr_assert(jsontext_str(json_object_get(res, "structuredContent"), "next_cursor"));
    json_decref(res);
    r = resp(200, "{\"startAt\":1,\"total\":3,\"comments\":[{\"id\":\"2\"},{\"id\":\"3\"}]}", "");
    res = RJ(wk_result_upstream(comments, ca, NULL, &r, &rl));
    cr_assert_null(json_object_get(json_object_get(res, "structuredContent"), "next_cursor"));
    json_decref(res);
    r = resp(200, "{\"start\":0,\"size\":1,\"isLastPage\":false,\"values\":[{\"id\":\"10\",\"name\":\"Network Outages\",\"issueCount\":4}]}", "");
    res = RJ(wk_result_upstream(queues, ca, NULL, &r, &rl));
    json_t *q = json_array_get(json_object_get(json_object_get(res, "structuredContent"), "queues"), 0);
    cr_assert_str_eq(jsontext_str(q, "name"), "Network Outages");
    cr_assert_eq(jsontext_int(q, "issueCount", 0), 4);
    cr_assert(jsontext_str(json_object_get(res, "structuredContent"), "next_cursor"));
    json_decref(res);
    json_decref(ca);

    /* Upstream error: Jira's members verbatim plus a hint. */
    r = resp(400, "{\"errorMessages\":[\"Unbounded JQL queries are not allowed here.\"],\"errors\":{}}", "");
    res = RJ(wk_result_upstream(search, args, NULL, &r, &rl));
    cr_assert(json_is_true(json_object_get(res, "isError")));
    json_t *e = json_object_get(json_object_get(res, "structuredContent"), "error");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "errorMessages"), 0)),
                     "Unbounded JQL queries are not allowed here.");
    cr_assert(jsontext_str(e, "hint"));
    cr_assert(strstr(jsontext_str(json_array_get(json_object_get(res, "content"), 0), "text"), "Unbounded JQL"));
    cr_assert(!rl.limited);
    json_decref(res);

    /* 429: no retry, retry_after_s, reason, and the facts for the HTTP headers. */
    char reset[40], hdrs[400];
    clock_format_iso(clock_now_ms() + 10500, 0, reset, sizeof reset);
    snprintf(hdrs, sizeof hdrs, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nX-RateLimit-Limit: 100\r\n"
             "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: %s\r\nRateLimit-Reason: jira-burst-based\r\n\r\n", reset);
    r = resp(429, "{\"errorMessages\":[\"The request has been rate-limited. Please try again later.\"],\"errors\":{},\"status\":429}", hdrs);
    res = RJ(wk_result_upstream(search, args, NULL, &r, &rl));
    e = json_object_get(json_object_get(res, "structuredContent"), "error");
    cr_assert_eq(jsontext_int(e, "retry_after_s", 0), 7);
    cr_assert_str_eq(jsontext_str(e, "rate_limit_reason"), "jira-burst-based");
    cr_assert(rl.limited);
    cr_assert_str_eq(rl.limit, "100");
    cr_assert_str_eq(rl.remaining, "0");
    cr_assert(rl.reset_s >= 10 && rl.reset_s <= 11, "reset %ld", rl.reset_s);
    json_decref(res);

    /* No answer at all. */
    httpc_response_t none = {.status = 0, .err = "connect timeout", .body = ""};
    res = RJ(wk_result_upstream(search, args, NULL, &none, &rl));
    cr_assert(json_is_true(json_object_get(res, "isError")));
    json_decref(res);
    json_decref(args);
    wk_catalog_free(c);
}

/* A 2xx whose payload is not the shape the tool reads is a tool error that
 * says so with the HTTP status, not an empty success: {} from a get would
 * tell the model the item exists and is empty, [] from a list that there
 * are none. The test asserts isError, error.reason "unexpected_answer",
 * error.status and the text; an object (and an empty list) stay results,
 * and a write's 204 stays its constant result. */
static void check_shape_error(const wk_tool_t *t, const json_t *args, int status, const char *body, const char *what)
{
    wk_upstream_meta_t rl;
    httpc_response_t r = resp(status, body, "");
    json_t *res = RJ(wk_result_upstream(t, args, NULL, &r, &rl));
    cr_assert(json_is_true(json_object_get(res, "isError")), "%s: %s answered %d %s is an error", what, t->name,
              status, body);
    json_t *e = json_object_get(json_object_get(res, "structuredContent"), "error");
    cr_assert_str_eq(jsontext_str(e, "reason"), "unexpected_answer", "%s", what);
    cr_assert_eq(jsontext_int(e, "status", 0), status, "%s", what);
    cr_assert(jsontext_str(e, "hint"));
    const char *text = jsontext_str(json_array_get(json_object_get(res, "content"), 0), "text");
    char want[64];
    snprintf(want, sizeof want, "JSM answered HTTP %d with an unexpected shape", status);
    cr_assert(text && strstr(text, want), "%s: %s", what, text);
    cr_assert(strstr(text, what), "the text names what came: %s not in %s", what, text);
    json_decref(res);
}

Test(exec, non_object_2xx_of_get_and_list_tools_are_errors)
{
    wk_catalog_t *c = cat();
    wk_upstream_meta_t rl;
    const wk_tool_t *get = wk_catalog_find(c, "get_single_jira_service_management_issue_by_id");
    const wk_tool_t *desk = wk_catalog_find(c, "get_single_jira_service_management_service_desk_by_id");
    const wk_tool_t *comments = wk_catalog_find(c, "list_all_jira_service_management_issue_comments");
    const wk_tool_t *fields = wk_catalog_find(c, "list_all_jira_service_management_fields");
    const wk_tool_t *assign = wk_catalog_find(c, "update_a_jira_service_management_issue_assignee_by_id");
    json_t *args = J("{\"id\":\"ITSM-1\"}");
    json_t *raw = J("{\"id\":\"ITSM-1\",\"raw\":true}");

    check_shape_error(get, args, 200, "[1,2]", "a JSON array where a JSON object was expected");
    check_shape_error(get, raw, 200, "[1,2]", "a JSON array where a JSON object was expected");
    check_shape_error(get, args, 200, "\"ITSM-1\"", "a JSON string where a JSON object was expected");
    check_shape_error(get, args, 200, "42", "a JSON number where a JSON object was expected");
    check_shape_error(get, args, 200, "null", "JSON null where a JSON object was expected");
    check_shape_error(get, args, 204, "", "an empty body where a JSON object was expected");
    check_shape_error(desk, args, 200, "[]", "a JSON array where a JSON object was expected");

    /* Lists: the items array missing, the payload not an object, no body;
     * a bare-array list given an object. */
    check_shape_error(comments, args, 200, "{\"startAt\":0,\"total\":3}", "a JSON object without the array comments");
    check_shape_error(comments, args, 200, "{\"comments\":{}}", "a JSON object without the array comments");
    check_shape_error(comments, args, 200, "[1,2]", "a JSON array where a JSON object with the array comments");
    check_shape_error(comments, args, 204, "", "an empty body where a list was expected");
    check_shape_error(fields, args, 200, "{\"id\":\"summary\"}", "a JSON object where a JSON array was expected");

    /* An object is still a result, and so is an empty list. */
    httpc_response_t r = resp(200, "{\"key\":\"ITSM-1\",\"fields\":{\"summary\":\"VPN\"}}", "");
    json_t *res = RJ(wk_result_upstream(get, args, NULL, &r, &rl));
    cr_assert_null(json_object_get(res, "isError"));
    cr_assert_str_eq(jsontext_str(json_object_get(res, "structuredContent"), "key"), "ITSM-1");
    json_decref(res);
    r = resp(200, "{\"startAt\":0,\"total\":0,\"comments\":[]}", "");
    res = RJ(wk_result_upstream(comments, args, NULL, &r, &rl));
    cr_assert_null(json_object_get(res, "isError"));
    cr_assert_eq(json_array_size(json_object_get(json_object_get(res, "structuredContent"), "comments")), 0);
    json_decref(res);
    r = resp(200, "[]", "");
    res = RJ(wk_result_upstream(fields, args, NULL, &r, &rl));
    cr_assert_null(json_object_get(res, "isError"));
    json_decref(res);

    /* A write's 204: the write was made; its result is the row's constant. */
    r = resp(204, "", "");
    res = RJ(wk_result_upstream(assign, args, NULL, &r, &rl));
    cr_assert_null(json_object_get(res, "isError"));
    cr_assert(json_is_true(json_object_get(json_object_get(res, "structuredContent"), "assigned")));
    json_decref(res);

    json_decref(raw);
    json_decref(args);
    wk_catalog_free(c);
}

/* Issue 20, second line of defence: with config.projects every answer is
 * checked item by item, compact or raw; a get of another project's item is
 * refused; nothing malformed reaches a URL path. */
Test(exec, answers_of_other_projects_are_left_out)
{
    wk_catalog_t *c = cat();
    wk_upstream_meta_t rl;
    json_t *cfg = J("{\"projects\":[\"ITSM\"]}");
    const wk_tool_t *search = wk_catalog_find(c, "list_all_jira_service_management_search_issues");
    json_t *args = J("{\"jql\":\"x = y\"}");
    httpc_response_t r = resp(200, "{\"issues\":[{\"key\":\"ITSM-1\",\"fields\":{}},{\"key\":\"HELP-2\",\"fields\":{}},"
                                   "{\"fields\":{}},{\"key\":\"ITSMX-3\"}],\"nextPageToken\":\"T\",\"isLast\":false}", "");
    json_t *res = RJ(wk_result_upstream(search, args, cfg, &r, &rl));
    json_t *issues = json_object_get(json_object_get(res, "structuredContent"), "issues");
    cr_assert_eq(json_array_size(issues), 1);
    cr_assert_str_eq(jsontext_str(json_array_get(issues, 0), "key"), "ITSM-1");
    cr_assert(jsontext_str(json_object_get(res, "structuredContent"), "next_cursor"), "paging is upstream's");
    json_decref(res);
    json_object_set_new(args, "raw", json_true());
    res = RJ(wk_result_upstream(search, args, cfg, &r, &rl));
    issues = json_object_get(json_object_get(json_object_get(res, "structuredContent"), "raw"), "issues");
    cr_assert_eq(json_array_size(issues), 1, "raw: true is filtered too");
    cr_assert_str_eq(jsontext_str(json_array_get(issues, 0), "key"), "ITSM-1");
    json_decref(res);
    /* Without projects nothing is left out. */
    res = RJ(wk_result_upstream(search, args, NULL, &r, &rl));
    cr_assert_eq(json_array_size(json_object_get(json_object_get(json_object_get(res, "structuredContent"), "raw"),
                                                 "issues")), 4);
    json_decref(res);
    json_decref(args);

    const wk_tool_t *desks = wk_catalog_find(c, "list_all_jira_service_management_service_desks");
    args = J("{\"raw\":true}");
    r = resp(200, "{\"start\":0,\"size\":3,\"isLastPage\":true,\"values\":[{\"id\":\"1\",\"projectKey\":\"HELP\"},"
                  "{\"id\":\"2\",\"projectKey\":\"ITSM\"},{\"id\":\"3\",\"projectKey\":\"HW\"}]}", "");
    res = RJ(wk_result_upstream(desks, args, cfg, &r, &rl));
    json_t *vals = json_object_get(json_object_get(json_object_get(res, "structuredContent"), "raw"), "values");
    cr_assert_eq(json_array_size(vals), 1);
    cr_assert_str_eq(jsontext_str(json_array_get(vals, 0), "projectKey"), "ITSM");
    json_decref(res);
    json_decref(args);

    /* A get whose answer is another project's (a moved issue) is refused, compact or raw. */
    const wk_tool_t *get = wk_catalog_find(c, "get_single_jira_service_management_issue_by_id");
    const char *moved = "{\"key\":\"HELP-7\",\"fields\":{\"summary\":\"secret\",\"project\":{\"key\":\"HELP\"}}}";
    for (int raw = 0; raw < 2; raw++) {
        args = raw ? J("{\"id\":\"ITSM-5\",\"raw\":true}") : J("{\"id\":\"ITSM-5\"}");
        r = resp(200, moved, "");
        res = RJ(wk_result_upstream(get, args, cfg, &r, &rl));
        cr_assert(json_is_true(json_object_get(res, "isError")));
        char *dump = jsontext_dump(res);
        cr_assert_null(strstr(dump, "secret"), "%s", dump);
        cr_assert_null(strstr(dump, "HELP-7"), "%s", dump);
        free(dump);
        json_decref(res);
        json_decref(args);
    }

    /* Dot segments and empty ids never reach a path, even past the schema. */
    wk_request_t call;
    char err[300];
    const wk_tool_t *qi = wk_catalog_find(c, "list_all_jira_service_management_queue_issues");
    static const char *const dots[] = {"..", ".", ""};
    for (int i = 0; i < 3; i++) {
        args = json_pack("{s:s,s:s}", "service_desk_id", "2", "queue_id", dots[i]);
        cr_assert_eq(wk_request_build(qi, args, "http://h", &call, err, sizeof err), -1, "[%s]", dots[i]);
        cr_assert(strstr(err, "queue_id"), "%s", err);
        json_decref(args);
    }
    /* The desk's organizations come from the desk's own endpoint. */
    const wk_tool_t *orgs = wk_catalog_find(c, "list_all_jira_service_management_organizations");
    args = J("{\"service_desk_id\":\"2\"}");
    cr_assert_eq(wk_request_build(orgs, args, "http://h", &call, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(call.url, "http://h/rest/servicedeskapi/servicedesk/2/organization?limit=25");
    wk_request_clear(&call);
    json_decref(args);
    args = J("{}");
    cr_assert_eq(wk_request_build(orgs, args, "http://h", &call, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(call.url, "http://h/rest/servicedeskapi/organization?limit=25");
    wk_request_clear(&call);
    json_decref(args);

    /* The project of a new issue comes from project_key only. */
    const wk_tool_t *create = wk_catalog_find(c, "create_a_jira_service_management_issue");
    json_t *fl = J("[{\"id\":\"project\",\"name\":\"Project\"},{\"id\":\"summary\",\"name\":\"Summary\"}]");
    args = J("{\"project_key\":\"ITSM\",\"summary\":\"s\",\"issue_type\":\"Task\",\"fields\":{\"Project\":{\"key\":\"HELP\"}}}");
    cr_assert_null(wk_request_prepare(create, args, fl, cfg, err, sizeof err));
    cr_assert(strstr(err, "project cannot be set through fields"), "%s", err);
    json_decref(args);
    json_decref(fl);
    json_decref(cfg);
    wk_catalog_free(c);
}

Test(exec, accounts_and_site_allowlist)
{
    wk_account_t a;
    char err[512];
    json_t *ok = J("{\"site_url\":\"https://acme.atlassian.net/\",\"auth_type\":\"api_token\",\"email\":\"e@x\",\"api_token\":\"t\"}");
    cr_assert_eq(wk_account_parse(&a, ok, "", NULL, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.base_url, "https://acme.atlassian.net");
    cr_assert_str_eq(a.user, "e@x");
    cr_assert_str_eq(a.auth_header, "Authorization: Basic ZUB4OnQ=", "base64 of e@x:t, encoded once");
    {
        /* A record with a credential that would leave its header line is refused. */
        wk_account_t b;
        json_t *crlf = J("{\"site_url\":\"https://acme.atlassian.net\",\"auth_type\":\"oauth2\","
                         "\"access_token\":\"AT\\r\\nX-Evil: 1\",\"cloud_id\":\"c1\"}");
        cr_assert_eq(wk_account_parse(&b, crlf, "", NULL, err, sizeof err), -1);
        cr_assert(strstr(err, "control characters"), "%s", err);
        json_decref(crlf);
    }
    wk_account_clear(&a);
    json_t *sandbox = J("{\"site_url\":\"http://127.0.0.1:8090\",\"auth_type\":\"api_token\",\"email\":\"e\",\"api_token\":\"t\"}");
    cr_assert_eq(wk_account_parse(&a, sandbox, "", NULL, err, sizeof err), -1, "not allowlisted");
    cr_assert_eq(wk_account_parse(&a, sandbox, "127.0.0.1:8090", NULL, err, sizeof err), 0);
    wk_account_clear(&a);
    json_t *evil = J("{\"site_url\":\"https://evil.com/.atlassian.net\",\"email\":\"e\",\"api_token\":\"t\"}");
    cr_assert_eq(wk_account_parse(&a, evil, "", NULL, err, sizeof err), -1);
    json_t *plain = J("{\"site_url\":\"http://acme.atlassian.net\",\"email\":\"e\",\"api_token\":\"t\"}");
    cr_assert_eq(wk_account_parse(&a, plain, "", NULL, err, sizeof err), -1, "https only");
    json_t *oauth = J("{\"site_url\":\"https://acme.atlassian.net\",\"auth_type\":\"oauth2\",\"access_token\":\"AT\",\"cloud_id\":\"c1\"}");
    cr_assert_eq(wk_account_parse(&a, oauth, "", NULL, err, sizeof err), 0);
    cr_assert_str_eq(a.base_url, "https://api.atlassian.com/ex/jira/c1");
    cr_assert_str_eq(a.auth_header, "Authorization: Bearer AT");
    cr_assert_null(a.user);
    wk_account_clear(&a);
    cr_assert_eq(wk_account_parse(&a, oauth, "", "http://127.0.0.1:8090/", err, sizeof err), 0);
    cr_assert_str_eq(a.base_url, "http://127.0.0.1:8090/ex/jira/c1", "JSMCP_OAUTH_API_URL is the gateway");
    wk_account_clear(&a);
    json_t *reauth = J("{\"site_url\":\"https://acme.atlassian.net\",\"auth_type\":\"api_token\",\"email\":\"e\",\"api_token\":\"t\",\"status\":\"needs_reauth\"}");
    cr_assert_eq(wk_account_parse(&a, reauth, "", NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "the customer must reconnect this Jira site"), "%s", err);
    json_t *oreauth = J("{\"site_url\":\"https://acme.atlassian.net\",\"auth_type\":\"oauth2\",\"status\":\"needs_reauth\"}");
    cr_assert_eq(wk_account_parse(&a, oreauth, "", NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "must reconnect") && strstr(err, "OAuth"), "%s", err);
    json_decref(oreauth);
    json_t *ofacts = J("{\"site_url\":\"https://acme.atlassian.net\",\"auth_type\":\"oauth2\",\"access_token\":\"AT\","
                       "\"cloud_id\":\"c1\",\"expires_at_ms\":1700000000000,\"cred_version\":7,\"status\":\"active\"}");
    cr_assert_eq(wk_account_parse(&a, ofacts, "", NULL, err, sizeof err), 0, "%s", err);
    cr_assert(a.oauth && a.expires_at_ms == 1700000000000LL && a.cred_version == 7);
    cr_assert_not(a.pace_set, "no own pacing rule");
    wk_account_clear(&a);
    json_decref(ofacts);
    json_t *paced = J("{\"site_url\":\"https://acme.atlassian.net\",\"email\":\"e\",\"api_token\":\"t\",\"pace\":\"5/s burst 9\"}");
    cr_assert_eq(wk_account_parse(&a, paced, "", NULL, err, sizeof err), 0, "%s", err);
    cr_assert(a.pace_set && a.pace_per_s == 5.0 && a.pace_burst == 9);
    wk_account_clear(&a);
    json_decref(paced);
    json_t *badpace = J("{\"site_url\":\"https://acme.atlassian.net\",\"email\":\"e\",\"api_token\":\"t\",\"pace\":\"fast\"}");
    cr_assert_eq(wk_account_parse(&a, badpace, "", NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "pacing rule"), "%s", err);
    json_decref(badpace);
    json_decref(reauth);
    json_decref(ok);
    json_decref(sandbox);
    json_decref(evil);
    json_decref(plain);
    json_decref(oauth);
}

/* ---- JSON-RPC ---- */

Test(mcp, classify_messages)
{
    char err[200];
    struct { const char *msg; enum wk_msg_kind kind; } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", WK_MSG_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/list\",\"params\":{}}", WK_MSG_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", WK_MSG_NOTIFICATION},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", WK_MSG_RESPONSE},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"x\"}}", WK_MSG_RESPONSE},
        {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", WK_MSG_INVALID},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", WK_MSG_INVALID},
        {"{\"id\":1,\"method\":\"ping\"}", WK_MSG_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", WK_MSG_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", WK_MSG_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", WK_MSG_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", WK_MSG_INVALID},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", WK_MSG_INVALID},
        {"\"hello\"", WK_MSG_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *m = J(cases[i].msg);
        err[0] = 0;
        cr_assert_eq(wk_rpc_classify(m, err, sizeof err), cases[i].kind, "%s", cases[i].msg);
        if (cases[i].kind == WK_MSG_INVALID)
            cr_assert(strstr(err, "Invalid Request"), "%s: %s", cases[i].msg, err);
        json_decref(m);
    }
    cr_assert_str_eq(wk_mcp_negotiate("2025-06-18"), "2025-06-18");
    cr_assert_str_eq(wk_mcp_negotiate("2024-11-05"), "2024-11-05");
    cr_assert_str_eq(wk_mcp_negotiate("1999-01-01"), "2025-11-25");
    cr_assert_str_eq(wk_mcp_negotiate(NULL), "2025-11-25");
    cr_assert(!wk_mcp_version_known("1999-01-01"));
}

Test(mcp, prepare_call_validates)
{
    wk_catalog_t *c = cat();
    const wk_tool_t *t;
    json_t *args;
    char err[400];
    json_t *cfg = J("{\"methods\":[\"read\"],\"tags\":[]}");
    json_t *getonly = J("{\"methods\":[\"get\"]}");
    struct { const char *params; int code; const char *needle; } cases[] = {
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"ITSM-1\"}}", 0, NULL},
        {"{\"name\":\"nope\"}", WK_RPC_INVALID_PARAMS, "Unknown tool: nope"},
        {"{}", WK_RPC_INVALID_PARAMS, "name"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\"}", WK_RPC_INVALID_PARAMS, "'id'"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":[]}", WK_RPC_INVALID_PARAMS, "must be an object"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":7}}", WK_RPC_INVALID_PARAMS, "/id"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"AB-1\",\"x\":1}}", WK_RPC_INVALID_PARAMS, "x"},
        /* Issue 20: every id argument matches its kind before any URL is built. */
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"..\"}}", WK_RPC_INVALID_PARAMS, "/id: must match the pattern"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"ITSM-1/../HELP-1\"}}", WK_RPC_INVALID_PARAMS, "/id"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"itsm-1\"}}", WK_RPC_INVALID_PARAMS, "/id"},
        {"{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"10042\"}}", 0, NULL},
        {"{\"name\":\"list_all_jira_service_management_queue_issues\",\"arguments\":{\"service_desk_id\":\"2\",\"queue_id\":\"..\"}}", WK_RPC_INVALID_PARAMS, "/queue_id"},
        {"{\"name\":\"list_all_jira_service_management_queues\",\"arguments\":{\"service_desk_id\":\"ITSM\"}}", WK_RPC_INVALID_PARAMS, "/service_desk_id"},
        {"{\"name\":\"get_single_jira_service_management_user_by_id\",\"arguments\":{\"id\":\"../../myself\"}}", WK_RPC_INVALID_PARAMS, "/id"},
        {"{\"name\":\"get_single_jira_service_management_user_by_id\",\"arguments\":{\"id\":\"557058:f58131cb-b67d-43c7-b30d-6b58d40bd077\"}}", 0, NULL},
        {"{\"name\":\"get_single_jira_service_management_user_by_id\",\"arguments\":{\"id\":\"qm:a713c8ea-1075-4e30-9d96-891a7d181739:5ad6d69abfa3980ce712caae\"}}", 0, NULL},
        {"{\"name\":\"get_single_jira_service_management_user_by_id\",\"arguments\":{\"id\":\"5b10a2844c20165700ede21g\"}}", 0, NULL},
        {"{\"name\":\"list_all_jira_service_management_search_issues\",\"arguments\":{\"jql\":\"p = A\",\"limit\":0}}", WK_RPC_INVALID_PARAMS, "/limit"},
        {"{\"name\":\"list_all_jira_service_management_search_issues\",\"arguments\":{\"jql\":\"\"}}", WK_RPC_INVALID_PARAMS, "/jql"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *p = J(cases[i].params);
        int code = wk_mcp_prepare_call(c, cfg, p, &t, &args, err, sizeof err);
        cr_assert_eq(code, cases[i].code, "%s -> %d %s", cases[i].params, code, err);
        if (code == 0) {
            cr_assert(t && args);
            json_decref(args);
        } else {
            cr_assert(strstr(err, cases[i].needle), "%s: %s", cases[i].params, err);
        }
        json_decref(p);
    }
    /* A tool outside the server's filters is unknown to it. */
    json_t *p = J("{\"name\":\"list_all_jira_service_management_search_issues\",\"arguments\":{\"jql\":\"p = A\"}}");
    cr_assert_eq(wk_mcp_prepare_call(c, getonly, p, &t, &args, err, sizeof err), WK_RPC_INVALID_PARAMS);
    cr_assert(strstr(err, "Unknown tool"));
    json_decref(p);
    json_decref(cfg);
    json_decref(getonly);
    wk_catalog_free(c);
}

Test(mcp, server_records)
{
    wk_server_t s;
    json_t *rec = J("{\"id\":\"s\",\"workspace_id\":\"w\",\"account_id\":\"a\",\"config\":{},\"expires_at_ms\":1000,\"require_api_token_auth\":true}");
    cr_assert_eq(wk_server_parse(&s, rec, "h"), 0);
    cr_assert(s.require_api_token_auth);
    cr_assert(!wk_server_expired(&s, 999));
    cr_assert(wk_server_expired(&s, 1000));
    wk_server_clear(&s);
    rec = J("{\"id\":\"s\",\"workspace_id\":\"w\",\"account_id\":\"a\",\"expires_at_ms\":null}");
    cr_assert_eq(wk_server_parse(&s, rec, "h"), 0);
    cr_assert(!wk_server_expired(&s, clock_now_ms()));
    wk_server_clear(&s);
    rec = J("{\"id\":\"s\"}");
    cr_assert_eq(wk_server_parse(&s, rec, "h"), -1);
}

/* ---- pool-wide /metrics ---- */

Test(metrics, merge_sums_series_across_processes)
{
    const char *a = "# HELP req_total requests\n# TYPE req_total counter\nreq_total{s=\"200\"} 3\n"
                    "# TYPE lat_seconds histogram\nlat_seconds_bucket{le=\"0.1\"} 1\nlat_seconds_sum 0.25\nlat_seconds_count 1\n"
                    "untyped 1\n";
    const char *b = "# HELP req_total requests\n# TYPE req_total counter\nreq_total{s=\"200\"} 4\nreq_total{s=\"404\"} 1\n"
                    "# TYPE lat_seconds histogram\nlat_seconds_bucket{le=\"0.1\"} 2\nlat_seconds_sum 0.5\nlat_seconds_count 2\n";
    const char *texts[] = {a, NULL, b};
    size_t len;
    char *m = wk_metrics_merge(texts, 3, &len);
    cr_assert_eq(strlen(m), len);
    cr_assert(strstr(m, "# HELP req_total requests\n# TYPE req_total counter\nreq_total{s=\"200\"} 7\nreq_total{s=\"404\"} 1\n"), "%s", m);
    cr_assert(strstr(m, "lat_seconds_bucket{le=\"0.1\"} 3\nlat_seconds_sum 0.75\nlat_seconds_count 3\n"), "%s", m);
    cr_assert(strstr(m, "untyped 1\n"), "%s", m);
    cr_assert_eq(strstr(m, "# TYPE req_total") , strstr(m, "# TYPE req_total counter"), "one TYPE line");
    free(m);

    /* Through shared slots, as the processes do it. */
    wk_metrics_shm_t *shm = wk_metrics_shm_create(2);
    cr_assert(shm);
    metrics_t *m0 = metrics_new(100), *m1 = metrics_new(100);
    metrics_inc(m0, "calls_total", "", 2);
    metrics_inc(m1, "calls_total", "", 5);
    wk_metrics_publish(shm, 1, m1);
    char *all = wk_metrics_render_all(shm, 0, m0, &len);
    cr_assert(strstr(all, "calls_total 7\n"), "%s", all);
    free(all);
    metrics_free(m0);
    metrics_free(m1);
    wk_metrics_shm_free(shm);
}

Test(mcp, typed_result_dump_equals_generic_dump)
{
    /* wk_result_dump writes a typed result's text once (the structured
     * content serialised, escaped) and its structuredContent raw: the same
     * bytes as the generic dump of the whole CallToolResult as JSON. */
    wk_catalog_t *c = cat();
    const wk_tool_t *t = wk_catalog_find(c, "get_single_jira_service_management_issue_by_id");
    wk_upstream_meta_t rl;
    json_t *args = J("{\"id\":\"ITSM-1\"}");
    const char *bodies[] = {
        "{\"key\":\"ITSM-1\",\"fields\":{\"summary\":\"quote \\\" backslash \\\\ tab \\t nl \\n \\u00e9 \\u0001\"}}",
        "{\"errorMessages\":[\"nope\"],\"errors\":{}}",
    };
    int status[] = {200, 404};
    wk_tool_result_t *res[4];
    for (int i = 0; i < 2; i++) {
        httpc_response_t r = resp(status[i], bodies[i], "");
        res[i] = wk_result_upstream(t, args, NULL, &r, &rl);
    }
    cr_assert_null(res[0]->text, "a success's text is its structured content, written by the dump");
    cr_assert(res[1]->is_error && res[1]->text);
    /* A text that is not UTF-8 is made one (U+FFFD for the byte), so the
     * error keeps its words, and stays an error. */
    res[2] = wk_result_tool_error(t, "account_unavailable", "gone \xff");
    cr_assert(res[2]->is_error && res[2]->text);
    cr_assert(strstr(json_string_value(res[2]->text), "gone \xef\xbf\xbd"));
    res[3] = wk_result_new(NULL, "a text, no structured content", 1);
    for (int i = 0; i < 4; i++) {
        json_t *id = i % 2 ? json_integer(i) : json_string("req-1");
        json_t *env = wk_rpc_envelope(id);
        size_t len, glen;
        char *fast = wk_result_dump(env, res[i], &len);
        cr_assert(fast);
        cr_assert_eq(strlen(fast), len);
        json_t *full = wk_rpc_result(id, wk_result_json(res[i]));
        char *generic = wk_rpc_dump(full, &glen);
        cr_assert_str_eq(fast, generic, "case %d", i);
        json_t *back = J(fast);
        const json_t *result = json_object_get(back, "result");
        const char *text = jsontext_str(json_array_get(json_object_get(result, "content"), 0), "text");
        if (!res[i]->text) {
            json_t *parsed = J(text);
            cr_assert(json_equal(parsed, json_object_get(result, "structuredContent")), "%s", fast);
            json_decref(parsed);
        }
        cr_assert_eq(json_is_true(json_object_get(result, "isError")), res[i]->is_error, "%s", fast);
        if (i == 0)
            cr_assert(strstr(text, "quote \\\" backslash"), "%s", fast);
        /* Rendered before the audit (wk_call): the same bytes, and the
         * text's byte count is the text block's length. */
        cr_assert_eq(wk_result_render(res[i]), 0);
        size_t rlen;
        char *rendered = wk_result_dump(env, res[i], &rlen);
        cr_assert_str_eq(rendered, fast, "case %d rendered", i);
        cr_assert_eq(wk_result_text_bytes(res[i]), strlen(text), "case %d: %zu bytes, text %zu", i,
                     wk_result_text_bytes(res[i]), strlen(text));
        free(rendered);
        json_decref(back);
        free(fast);
        free(generic);
        json_decref(full);
        json_decref(env);
        json_decref(id);
        wk_result_free(res[i]);
    }
    json_t *other = J("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[]}}");
    size_t len;
    char *s = wk_result_dump(other, NULL, &len);
    cr_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[]}}");
    free(s);
    json_decref(other);
    json_decref(args);
    wk_catalog_free(c);
}

Test(exec, tool_errors_before_upstream_and_pacing)
{
    wk_catalog_t *c = cat();
    const wk_tool_t *t = wk_catalog_find(c, "get_single_jira_service_management_issue_by_id");
    cr_assert(t);
    json_t *r = RJ(wk_result_tool_error(t, "needs_reauth", "the customer must reconnect this Jira site. Hint: do not retry."));
    cr_assert(json_is_true(json_object_get(r, "isError")));
    const json_t *e = json_object_get(json_object_get(r, "structuredContent"), "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "reason")), "needs_reauth");
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "the customer must reconnect this Jira site.");
    cr_assert_str_eq(json_string_value(json_object_get(e, "hint")), "do not retry.");
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(r, "content"), 0), "text"));
    cr_assert(text && strncmp(text, "get_single_jira_service_management_issue_by_id: the customer must", 65) == 0, "%s", text);
    json_decref(r);
    r = RJ(wk_result_tool_error(t, "account_unavailable", "gone"));
    e = json_object_get(json_object_get(r, "structuredContent"), "error");
    cr_assert(strstr(json_string_value(json_object_get(e, "hint")), "Try again"), "a generic hint");
    json_decref(r);

    wk_upstream_meta_t rl = {.limited = 1, .retry_after_s = 7, .reset_s = 7};
    snprintf(rl.reason, sizeof rl.reason, "jsmcp-pacing");
    r = RJ(wk_result_paced(t, &rl));
    e = json_object_get(json_object_get(r, "structuredContent"), "error");
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 429);
    cr_assert_eq(json_integer_value(json_object_get(e, "retry_after_s")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(e, "rate_limit_reason")), "jsmcp-pacing");
    cr_assert(json_is_true(json_object_get(r, "isError")));
    json_decref(r);
    wk_catalog_free(c);
}

Test(exec, step_request_is_its_row_alone)
{
    /* A pre-step's request: the catalog row's method, path and query, with
     * none of the tool's paging (limit, next_cursor go nowhere). */
    json_t *http = J("{\"method\":\"GET\",\"path\":\"/rest/api/3/issue/{id}\",\"query\":{\"fields\":\"project\"}}");
    json_t *args = J("{\"id\":\"ITSM-1\",\"limit\":5,\"next_cursor\":\"forged\"}");
    wk_request_t rq;
    char err[300];
    cr_assert_eq(wk_request_build_step(http, NULL, "a_tool", args, "http://h", &rq, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(rq.method, "GET");
    cr_assert_str_eq(rq.url, "http://h/rest/api/3/issue/ITSM-1?fields=project");
    cr_assert_null(rq.body);
    cr_assert_eq(rq.nparts, 0);
    wk_request_clear(&rq);
    json_t *bad = J("{\"method\":\"GET\",\"path\":\"/rest/api/3/issue/{id\"}");
    cr_assert_eq(wk_request_build_step(bad, NULL, "a_tool", args, "http://h", &rq, err, sizeof err), -1);
    cr_assert(strstr(err, "catalog row a_tool has a malformed path"), "%s", err);
    json_decref(bad);
    json_decref(args);
    json_decref(http);
}
