/* Unit tests of the worker logic issue 22 added where JSM Cloud differs
 * from what the catalog assumed: the projection operators ($find, $values,
 * "last", "max", negative indexes) and their keep paths, the transition
 * screen check, shared custom field names settled by project context, the
 * request building (arrays in queries, $int, $jiradate, $default, uploads,
 * include), and the answers (429 without Retry-After, the HTML 429, 503
 * Retry-After, quota signals, files, notes). No network. */
#include <criterion/criterion.h>
#include <time.h>
#include <string.h>

#include "httpc.h"
#include "jsontext.h"
#include "projection.h"
#include "wk_catalog.h"
#include "wk_request.h"
#include "wk_result.h"
#include "wk_jql.h"
#include "wk_pace.h"
#include "wk_steps.h"
#include "wk_test.h"


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

/* The template's result from the full source and from one parsed with
 * the template's keep paths are the same. */
static void same_with_keep(const json_t *tmpl, const char *src)
{
    char err[200];
    jsontext_keep_t *k = jsontext_keep_new();
    proj_keep(k, tmpl);
    json_t *full = jsontext_parse(src, strlen(src), 64, err, sizeof err), *kept = jsontext_parse_keep(src, strlen(src), 64, k, err, sizeof err);
    json_t *a = proj_apply(tmpl, full), *b = proj_apply(tmpl, kept);
    cr_assert(json_equal(a, b), "keep paths miss something: %s vs %s", jsontext_dump(a), jsontext_dump(b));
    json_decref(a);
    json_decref(b);
    json_decref(full);
    json_decref(kept);
    jsontext_keep_free(k);
}

Test(projection, find_values_last_max_and_negative_indexes)
{
    const char *src = "{\"requestFieldValues\":[{\"fieldId\":\"customfield_1\",\"value\":{\"self\":\"x\",\"value\":\"Laptop\",\"id\":\"9\"}},"
                      "{\"fieldId\":\"summary\",\"value\":\"A laptop\"}],"
                      "\"completedCycles\":[{\"breached\":true,\"goal\":\"24h\"},{\"breached\":false,\"goal\":\"8h\"}],"
                      "\"fields\":{\"resolution\":{\"name\":\"Resolution\",\"required\":true},\"comment\":{\"name\":\"Comment\"}},"
                      "\"comments\":[{\"id\":\"1\"},{\"id\":\"2\"},{\"id\":\"3\"},{\"id\":\"4\"}],\"text\":\"abcdefghij\"}";
    json_t *tmpl = J("{\"summary\":{\"$find\":\"requestFieldValues\",\"where\":{\"fieldId\":\"summary\"},\"map\":\"value\"},"
                     "\"device\":{\"$find\":\"requestFieldValues\",\"where\":{\"fieldId\":\"customfield_1\"},\"map\":"
                     "{\"$first\":[\"value.value\",\"value\"]}},"
                     "\"none\":{\"$find\":\"requestFieldValues\",\"where\":{\"fieldId\":\"nope\"}},"
                     "\"last\":\"completedCycles.-1.breached\",\"first\":\"completedCycles.0.breached\",\"beyond\":\"completedCycles.-3\","
                     "\"screen\":{\"$values\":\"fields\",\"map\":{\"name\":\"name\",\"required\":\"required\"}},"
                     "\"latest\":{\"$each\":\"comments\",\"last\":2,\"map\":\"id\"},\"short\":{\"$adf\":\"text\",\"max\":4}}");
    char err[200];
    cr_assert_eq(proj_check(tmpl, err, sizeof err), 0, "%s", err);
    json_t *s = J(src), *out = proj_apply(tmpl, s);
    cr_assert_str_eq(jsontext_str(out, "summary"), "A laptop", "by fieldId, not position");
    cr_assert_str_eq(jsontext_str(out, "device"), "Laptop");
    cr_assert_null(json_object_get(out, "none"));
    cr_assert(json_is_false(json_object_get(out, "last")), "-1 is the most recent cycle");
    cr_assert(json_is_true(json_object_get(out, "first")));
    cr_assert_null(json_object_get(out, "beyond"));
    json_t *screen = json_object_get(out, "screen");
    cr_assert_eq(json_array_size(screen), 2);
    cr_assert_str_eq(jsontext_str(json_array_get(screen, 0), "name"), "Resolution");
    json_t *latest = json_object_get(out, "latest");
    cr_assert_eq(json_array_size(latest), 2);
    cr_assert_str_eq(json_string_value(json_array_get(latest, 0)), "3");
    cr_assert_str_eq(jsontext_str(out, "short"), "abcd...");
    same_with_keep(tmpl, src);
    json_decref(out);
    json_decref(s);
    json_decref(tmpl);
    /* Operators with members they do not take are refused at load. */
    static const char *const bad[] = {"{\"$find\":\"a\",\"map\":\"b\"}", "{\"$find\":\"a\",\"where\":{\"x\":1}}",
                                      "{\"$each\":\"a\",\"last\":0}", "{\"$adf\":\"a\",\"last\":2}",
                                      "{\"$values\":\"a\",\"where\":{}}", "{\"$user\":\"a\",\"map\":\"b\"}", NULL};
    for (int i = 0; bad[i]; i++) {
        json_t *b = J(bad[i]);
        cr_assert_eq(proj_check(b, err, sizeof err), -1, "%s", bad[i]);
        json_decref(b);
    }
}

Test(exec, transition_screen_check)
{
    json_t *tr = J("{\"id\":\"51\",\"name\":\"Resolve this issue\",\"hasScreen\":true,\"fields\":{\"resolution\":{\"required\":true,"
                   "\"name\":\"Resolution\",\"key\":\"resolution\",\"hasDefaultValue\":false,\"allowedValues\":[{\"name\":\"Done\"},"
                   "{\"name\":\"Won't Do\"}]},\"customfield_5\":{\"required\":true,\"name\":\"Root cause\",\"hasDefaultValue\":true}}}");
    json_t *plain = J("{\"id\":\"21\",\"name\":\"Start progress\",\"hasScreen\":false,\"fields\":{}}");
    char err[2000];
    json_t *a = J("{}");
    cr_assert_eq(wk_steps_screen_check(tr, a, err, sizeof err), -1);
    cr_assert(strstr(err, "\"Resolve this issue\" (51) has a screen with required fields this call does not give: "
                          "Resolution (resolution; one of: Done, Won't Do)"), "%s", err);
    cr_assert_null(strstr(err, "Root cause"), "a required field with a default is not asked for");
    json_decref(a);
    a = J("{\"resolution\":\"won't do\"}");
    cr_assert_eq(wk_steps_screen_check(tr, a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(jsontext_str(a, "resolution"), "Won't Do", "the screen's spelling goes to Jira");
    json_decref(a);
    a = J("{\"fields\":{\"resolution\":{\"id\":\"1\"}}}");
    cr_assert_eq(wk_steps_screen_check(tr, a, err, sizeof err), 0, "given by id in fields");
    json_decref(a);
    a = J("{\"resolution\":\"Fixed\"}");
    cr_assert_eq(wk_steps_screen_check(tr, a, err, sizeof err), -1);
    cr_assert(strstr(err, "\"Fixed\" is not a resolution of this site; one of: Done, Won't Do"), "%s", err);
    json_decref(a);
    a = J("{\"resolution\":\"Done\"}");
    cr_assert_eq(wk_steps_screen_check(plain, a, err, sizeof err), -1);
    cr_assert(strstr(err, "\"Start progress\" (21) cannot set a resolution: it has no screen"), "%s", err);
    json_decref(a);
    a = J("{\"comment\":\"x\"}");
    cr_assert_eq(wk_steps_screen_check(plain, a, err, sizeof err), 0);
    json_decref(a);
    json_decref(tr);
    json_decref(plain);
}

/* A screen with more required fields than the message's buffer holds
 * (upstream text, unbounded) still fails the check: with buf's sticky
 * error an unchecked list would be empty and the transition let through. */
Test(exec, transition_screen_check_with_too_many_fields_to_name)
{
    json_t *fields = json_object();
    char key[32], name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "customfield_%d", i);
        json_object_set_new(fields, key, json_pack("{s:b,s:s,s:b}", "required", 1, "name", name, "hasDefaultValue", 0));
    }
    json_t *tr = json_pack("{s:s,s:s,s:b,s:o}", "id", "61", "name", "Close", "hasScreen", 1, "fields", fields);
    json_t *a = J("{}");
    char err[2000];
    cr_assert_eq(wk_steps_screen_check(tr, a, err, sizeof err), -1, "a screen too long to describe passed");
    cr_assert(strstr(err, "\"Close\" (61) has a screen with more required fields than this message can name"), "%s",
              err);
    json_decref(a);
    json_decref(tr);
}

Test(jql, shared_field_names_by_project_context)
{
    json_t *f = J("[{\"id\":\"status\",\"name\":\"Status\",\"clauseNames\":[\"status\"]},"
                  "{\"id\":\"customfield_10018\",\"name\":\"Impact\",\"custom\":true,\"clauseNames\":[\"cf[10018]\",\"Impact\"],\"schema\":{\"type\":\"option\"}},"
                  "{\"id\":\"customfield_10020\",\"name\":\"Impact\",\"custom\":true,\"clauseNames\":[\"cf[10020]\",\"Impact\"],\"schema\":{\"type\":\"number\"}},"
                  "{\"id\":\"customfield_10021\",\"name\":\"Urgency\",\"custom\":true,\"clauseNames\":[\"cf[10021]\",\"Urgency\"],\"schema\":{\"type\":\"option\"},"
                  "\"scope\":{\"type\":\"PROJECT\",\"project\":{\"id\":\"10001\"}}}]");
    const char *id;
    char err[1500];
    json_t *need = json_array(), *hw = J("[\"HW\"]"), *itsm = J("[\"ITSM\"]");
    /* An id, a key or a name only one field has: no ambiguity. */
    cr_assert_eq(wk_jql_field_resolve(f, "customfield_10020", NULL, &id, need, err, sizeof err), 1);
    cr_assert_str_eq(id, "customfield_10020");
    cr_assert_eq(wk_jql_field_resolve(f, "urgency", hw, &id, need, err, sizeof err), 1);
    cr_assert_eq(wk_jql_field_resolve(f, "Nope", NULL, &id, need, err, sizeof err), 0);
    /* A shared name: first the contexts are asked for ... */
    cr_assert_eq(wk_jql_field_resolve(f, "Impact", itsm, &id, need, err, sizeof err), -1);
    cr_assert_eq(json_array_size(need), 2);
    cr_assert_null(wk_jql_field_id(f, "Impact"), "never the first of the name");
    /* ... then they settle it, or the candidates are named. */
    json_object_set_new(json_array_get(f, 1), WK_JQL_CONTEXT, J("{\"global\":true}"));
    json_object_set_new(json_array_get(f, 2), WK_JQL_CONTEXT, J("{\"projects\":[\"HW\"]}"));
    json_array_clear(need);
    cr_assert_eq(wk_jql_field_resolve(f, "Impact", itsm, &id, need, err, sizeof err), 1);
    cr_assert_str_eq(id, "customfield_10018", "only the global field applies to ITSM");
    cr_assert_eq(wk_jql_field_resolve(f, "Impact", hw, &id, need, err, sizeof err), -1);
    cr_assert(strstr(err, "\"Impact\" is ambiguous: 2 fields have it: customfield_10018 (option; all projects), "
                          "customfield_10020 (number; projects HW); more than one applies to HW"), "%s", err);
    cr_assert_eq(json_array_size(need), 0, "contexts known: nothing more to look up");
    cr_assert_eq(wk_jql_field_resolve(f, "Impact", NULL, &id, need, err, sizeof err), -1, "anywhere: ambiguous");
    /* JQL: the name becomes cf[N] when settled, an error naming the candidates otherwise. */
    char *q = wk_jql_rewrite("Impact = High", f, itsm, err, sizeof err);
    cr_assert(q && strstr(q, "cf[10018] = High"), "%s", q ? q : err);
    free(q);
    cr_assert_null(wk_jql_rewrite("Impact = High", f, hw, err, sizeof err));
    cr_assert(strstr(err, "JQL: the field name \"Impact\" is ambiguous"), "%s", err);
    /* A context that could not be read stays unknown, and is said. */
    json_object_set_new(json_array_get(f, 2), WK_JQL_CONTEXT, J("{\"unknown\":true}"));
    cr_assert_eq(wk_jql_field_resolve(f, "Impact", itsm, &id, need, err, sizeof err), -1);
    cr_assert(strstr(err, "customfield_10020 (number; project context unknown)"), "%s", err);
    cr_assert_eq(json_array_size(need), 0, "not looked up again");
    json_decref(need);
    json_decref(hw);
    json_decref(itsm);
    json_decref(f);
}

Test(exec, request_building_for_issue_22)
{
    wk_catalog_t *c = cat();
    wk_request_t call;
    char err[300];
    /* Worklog started in Jira's own form; absent: left out. */
    json_t *a = J("{\"id\":\"ITSM-1\",\"time_spent_seconds\":600,\"started\":\"2026-01-05T10:30:00+01:00\"}");
    const wk_tool_t *wl = wk_catalog_find(c, "create_a_jira_service_management_issue_worklog");
    cr_assert_eq(wk_request_build(wl, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    json_t *b = J(call.body);
    cr_assert_str_eq(jsontext_str(b, "started"), "2026-01-05T09:30:00.000+0000");
    cr_assert_null(json_object_get(b, "comment"));
    json_decref(b);
    wk_request_clear(&call);
    json_decref(a);
    /* A transition: resolution by name, a comment as ADF; neither: just the transition. */
    const wk_tool_t *tr = wk_catalog_find(c, "update_a_jira_service_management_issue_status_by_id");
    a = J("{\"id\":\"ITSM-1\",\"transition_id\":\"51\",\"resolution\":\"Done\",\"comment\":\"fixed\"}");
    cr_assert_eq(wk_request_build(tr, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    b = J(call.body);
    cr_assert_str_eq(jsontext_str(json_object_get(json_object_get(b, "fields"), "resolution"), "name"), "Done");
    json_t *add = json_object_get(json_array_get(json_object_get(json_object_get(b, "update"), "comment"), 0), "add");
    cr_assert_str_eq(jsontext_str(json_object_get(add, "body"), "type"), "doc");
    json_decref(b);
    wk_request_clear(&call);
    json_decref(a);
    a = J("{\"id\":\"ITSM-1\",\"transition_id\":\"21\"}");
    cr_assert_eq(wk_request_build(tr, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(call.body, "{\"transition\":{\"id\":\"21\"}}", "no empty fields or update");
    wk_request_clear(&call);
    json_decref(a);
    /* requestOwnership: an array repeats the parameter. */
    const wk_tool_t *reqs = wk_catalog_find(c, "list_all_jira_service_management_customer_requests");
    a = J("{\"ownership\":[\"OWNED_REQUESTS\",\"ORGANIZATION\"],\"organization_id\":\"4\"}");
    cr_assert_eq(wk_request_build(reqs, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(call.url, "requestOwnership=OWNED_REQUESTS&requestOwnership=ORGANIZATION"), "%s", call.url);
    cr_assert(strstr(call.url, "organizationId=4"), "%s", call.url);
    wk_request_clear(&call);
    json_decref(a);
    /* An organization id as the integer the schema types. */
    a = J("{\"service_desk_id\":\"2\",\"organization_id\":\"17\"}");
    cr_assert_eq(wk_request_build(wk_catalog_find(c, "create_a_jira_service_management_service_desk_organization"), a, "http://h",
                               &call, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(call.body, "{\"organizationId\":17}");
    wk_request_clear(&call);
    json_decref(a);
    /* A watcher: the body is the accountId as a JSON string. */
    a = J("{\"id\":\"ITSM-1\",\"account_id\":\"5b10ac8d82e05b22cc7d4ef5\"}");
    cr_assert_eq(wk_request_build(wk_catalog_find(c, "create_a_jira_service_management_issue_watcher"), a, "http://h", &call,
                               err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(call.body, "\"5b10ac8d82e05b22cc7d4ef5\"");
    wk_request_clear(&call);
    json_decref(a);
    /* include adds the fields a search asks for. */
    a = J("{\"jql\":\"project = ITSM\",\"include\":[\"comments\",\"description\"]}");
    cr_assert_eq(wk_request_build(wk_catalog_find(c, "list_all_jira_service_management_search_issues"), a, "http://h", &call,
                               err, sizeof err), 0, "%s", err);
    b = J(call.body);
    char *fields = jsontext_dump(json_object_get(b, "fields"));
    cr_assert(strstr(fields, "\"comment\"") && strstr(fields, "\"description\""), "%s", fields);
    free(fields);
    json_decref(b);
    wk_request_clear(&call);
    json_decref(a);
    /* An upload: the file decoded from base64 as the one part; refusals. */
    const wk_tool_t *up = wk_catalog_find(c, "create_a_jira_service_management_issue_attachment");
    a = J("{\"id\":\"ITSM-1\",\"filename\":\"logs.txt\",\"content_base64\":\"aGVs\\nbG8=\",\"mime_type\":\"text/plain\"}");
    cr_assert_eq(wk_request_build(up, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    cr_assert_eq(call.nparts, 1);
    cr_assert_eq(call.part.len, 5);
    cr_assert(memcmp(call.part.data, "hello", 5) == 0);
    cr_assert_str_eq(call.part.name, "file");
    cr_assert_str_eq(call.part.filename, "logs.txt");
    cr_assert_str_eq(call.part.type, "text/plain");
    cr_assert_null(call.body);
    wk_request_clear(&call);
    json_decref(a);
    static const char *const refused[] = {
        "{\"id\":\"ITSM-1\",\"filename\":\"x\",\"content_base64\":\"not base64!\"}",
        "{\"id\":\"ITSM-1\",\"filename\":\"a/b\",\"content_base64\":\"eA==\"}",
        "{\"id\":\"ITSM-1\",\"filename\":\"a\\r\\nX: y\",\"content_base64\":\"eA==\"}",
        "{\"id\":\"ITSM-1\",\"filename\":\"a\\\"b\",\"content_base64\":\"eA==\"}",
        "{\"id\":\"ITSM-1\",\"filename\":\"..\",\"content_base64\":\"eA==\"}", NULL};
    for (int i = 0; refused[i]; i++) {
        a = J(refused[i]);
        cr_assert_eq(wk_request_build(up, a, "http://h", &call, err, sizeof err), -1, "%s", refused[i]);
        json_decref(a);
    }
    /* The JSM upload's main request is JSON: the file went up in a step. */
    const wk_tool_t *jsm = wk_catalog_find(c, "create_a_jira_service_management_request_attachment");
    cr_assert(jsm->multipart && json_array_size(jsm->resolve) == 2);
    wk_catalog_free(c);
}

Test(exec, answers_for_issue_22)
{
    wk_catalog_t *c = cat();
    wk_upstream_meta_t rl;
    const wk_tool_t *get = wk_catalog_find(c, "get_single_jira_service_management_issue_by_id");
    json_t *args = J("{\"id\":\"ITSM-1\"}");
    /* The API gateway's 429: no Retry-After, no reset: Atlassian's first backoff step, said as such. */
    httpc_response_t r = resp(429, "{\"code\":429,\"message\":\"Too Many Requests\"}", "HTTP/1.1 429 x\r\nContent-Type: application/json\r\n\r\n");
    json_t *res = RJ(wk_result_upstream(get, args, NULL, &r, &rl));
    json_t *e = json_object_get(json_object_get(res, "structuredContent"), "error");
    cr_assert_eq(jsontext_int(e, "retry_after_s", 0), WK_RETRY_DEFAULT_S);
    cr_assert(json_is_false(json_object_get(e, "retry_after_known")));
    cr_assert(strstr(jsontext_str(e, "hint"), "double the wait"));
    cr_assert(rl.limited && rl.retry_after_s == WK_RETRY_DEFAULT_S);
    json_decref(res);
    /* The old HTML 429 page: no markup for the agent. */
    r = resp(429, "<html><body class=\" error-page error429\">Too many</body></html>", "HTTP/1.1 429 x\r\nContent-Type: text/html;charset=UTF-8\r\n\r\n");
    res = RJ(wk_result_upstream(get, args, NULL, &r, &rl));
    e = json_object_get(json_object_get(res, "structuredContent"), "error");
    cr_assert_str_eq(jsontext_str(e, "body"), "(an HTML error page, not shown)");
    cr_assert_null(strstr(jsontext_str(json_array_get(json_object_get(res, "content"), 0), "text"), "error429"));
    json_decref(res);
    /* A 503 with Retry-After. */
    r = resp(503, "{\"errorMessages\":[\"busy\"]}", "HTTP/1.1 503 x\r\nRetry-After: 7\r\n\r\n");
    res = RJ(wk_result_upstream(get, args, NULL, &r, &rl));
    e = json_object_get(json_object_get(res, "structuredContent"), "error");
    cr_assert_eq(jsontext_int(e, "retry_after_s", 0), 7);
    cr_assert(!rl.limited, "a 503 is not a rate limit");
    json_decref(res);
    /* An absurd wait is at most Jira's hour: one 429 must not stop an
     * account's calls for years (the pacing takes retry_after_s). An
     * HTTP-date is read; any other form is as if absent. */
    char date[64], hdr[256];
    time_t soon = time(NULL) + 120;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&soon));
    struct {
        const char *retry_after, *reset;
        long lo, hi;
    } waits[] = {
        {"99999999", NULL, WK_RETRY_MAX_S, WK_RETRY_MAX_S},
        {"99999999999999999999", NULL, WK_RETRY_MAX_S, WK_RETRY_MAX_S},
        {"3600", NULL, 3600, 3600},
        {date, NULL, 115, 121},
        {"Sun, 06 Nov 1994 08:49:37 GMT", NULL, 0, 0},
        {"Sunday, 06-Nov-94 08:49:37 GMT", NULL, WK_RETRY_DEFAULT_S, WK_RETRY_DEFAULT_S},
        {"-5", NULL, WK_RETRY_DEFAULT_S, WK_RETRY_DEFAULT_S},
        {NULL, "9999-12-31T23:59:59Z", WK_RETRY_MAX_S, WK_RETRY_MAX_S},
    };
    for (size_t i = 0; i < sizeof waits / sizeof *waits; i++) {
        snprintf(hdr, sizeof hdr, "HTTP/1.1 429 x\r\nRateLimit-Reason: jira-quota-tenant-based\r\n%s%s%s%s%s\r\n",
                 waits[i].retry_after ? "Retry-After: " : "", waits[i].retry_after ? waits[i].retry_after : "",
                 waits[i].retry_after ? "\r\n" : "", waits[i].reset ? "X-RateLimit-Reset: " : "",
                 waits[i].reset ? waits[i].reset : "");
        if (waits[i].reset)
            strcat(hdr, "\r\n");
        r = resp(429, "{}", hdr);
        res = RJ(wk_result_upstream(get, args, NULL, &r, &rl));
        e = json_object_get(json_object_get(res, "structuredContent"), "error");
        long got = (long)jsontext_int(e, "retry_after_s", -7);
        cr_assert(got >= waits[i].lo && got <= waits[i].hi, "Retry-After %s, reset %s: retry_after_s %ld",
                  waits[i].retry_after ? waits[i].retry_after : "-", waits[i].reset ? waits[i].reset : "-", got);
        cr_assert(rl.retry_after_s >= waits[i].lo && rl.retry_after_s <= waits[i].hi && rl.reset_s <= WK_RETRY_MAX_S,
                  "the pacing's wait: %ld, reset %ld", rl.retry_after_s, rl.reset_s);
        json_decref(res);
    }
    /* RateLimit's window too. */
    r = resp(200, "{}", "HTTP/1.1 200 OK\r\nRateLimit: \"tenant-app-quota\";r=0;t=99999999999\r\n\r\n");
    memset(&rl, 0, sizeof rl);
    wk_result_quota(&r, &rl);
    cr_assert_eq(rl.quota_reset_s, WK_RETRY_MAX_S);
    /* Quota signals of a normal answer. */
    r = resp(200, "{}", "HTTP/1.1 200 OK\r\nX-RateLimit-NearLimit: true\r\nRateLimit: \"tenant-app-quota\";r=300;t=600, \"global-app-quota\";r=9000;t=600\r\n\r\n");
    memset(&rl, 0, sizeof rl);
    wk_result_quota(&r, &rl);
    cr_assert(rl.near_limit);
    cr_assert_eq(rl.quota_remaining, 300, "the smallest remainder");
    cr_assert_eq(rl.quota_reset_s, 600);
    r = resp(200, "{}", "HTTP/1.1 200 OK\r\nBeta-RateLimit: \"x\";r=1;t=9\r\n\r\n");
    wk_result_quota(&r, &rl);
    cr_assert(!rl.near_limit && rl.quota_remaining == -1, "Beta- headers are informational only");
    json_decref(args);
    /* A file: base64 up to the cap, with its type; beyond it, its size. */
    const wk_tool_t *content = wk_catalog_find(c, "get_single_jira_service_management_attachment_content_by_id");
    args = J("{\"issue\":\"ITSM-1\",\"id\":\"10\"}");
    r = resp(200, "hello", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    res = RJ(wk_result_upstream(content, args, NULL, &r, &rl));
    json_t *sc = json_object_get(res, "structuredContent");
    cr_assert_str_eq(jsontext_str(sc, "contentBase64"), "aGVsbG8=");
    cr_assert_eq(jsontext_int(sc, "size", 0), 5);
    cr_assert_str_eq(jsontext_str(sc, "mimeType"), "text/plain");
    json_decref(res);
    char *big = malloc(262145 + 1);
    memset(big, 'x', 262145);
    big[262145] = 0;
    r = resp(200, big, "HTTP/1.1 200 OK\r\n\r\n");
    res = RJ(wk_result_upstream(content, args, NULL, &r, &rl));
    cr_assert(json_is_true(json_object_get(res, "isError")));
    cr_assert(strstr(jsontext_str(json_object_get(json_object_get(res, "structuredContent"), "error"), "message"),
                     "the file is 262145 bytes; this tool returns files of at most 262144 bytes"));
    json_decref(res);
    free(big);
    json_decref(args);
    /* A worklog without started says so. */
    const wk_tool_t *wl = wk_catalog_find(c, "create_a_jira_service_management_issue_worklog");
    args = J("{\"id\":\"ITSM-1\",\"time_spent_seconds\":60}");
    r = resp(201, "{\"id\":\"5\",\"timeSpentSeconds\":60,\"started\":\"2026-01-05T09:30:00.000+0000\"}", "HTTP/1.1 201 x\r\n\r\n");
    res = RJ(wk_result_upstream(wl, args, NULL, &r, &rl));
    cr_assert(strstr(json_string_value(json_array_get(json_object_get(json_object_get(res, "structuredContent"), "notes"), 0)),
                     "started was not given"));
    json_decref(res);
    json_object_set_new(args, "started", json_string("2026-01-05T09:30:00Z"));
    res = RJ(wk_result_upstream(wl, args, NULL, &r, &rl));
    cr_assert_null(json_object_get(json_object_get(res, "structuredContent"), "notes"));
    json_decref(res);
    json_decref(args);
    /* Links to other projects' issues are left out with config.projects. */
    const wk_tool_t *links = wk_catalog_find(c, "list_all_jira_service_management_issue_links");
    args = J("{\"id\":\"ITSM-1\"}");
    json_t *cfg = J("{\"projects\":[\"ITSM\"]}");
    r = resp(200, "{\"key\":\"ITSM-1\",\"fields\":{\"issuelinks\":[{\"id\":\"1\",\"type\":{\"name\":\"Blocks\"},\"outwardIssue\":{\"key\":\"HW-2\"}},"
                  "{\"id\":\"2\",\"type\":{\"name\":\"Blocks\"},\"inwardIssue\":{\"key\":\"ITSM-3\"}}]}}", "HTTP/1.1 200 OK\r\n\r\n");
    res = RJ(wk_result_upstream(links, args, cfg, &r, &rl));
    json_t *l = json_object_get(json_object_get(res, "structuredContent"), "links");
    cr_assert_eq(json_array_size(l), 1);
    cr_assert_str_eq(jsontext_str(json_object_get(json_array_get(l, 0), "inwardIssue"), "key"), "ITSM-3");
    json_decref(res);
    json_decref(cfg);
    json_decref(args);
    wk_catalog_free(c);
}

Test(pace, quota_signals_make_a_rule)
{
    wk_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.pace_near.per_s = 1;
    cfg.pace_near.burst = 2;
    wk_worker_t w;
    memset(&w, 0, sizeof w);
    w.cfg = &cfg;
    pace_rule_t rule;
    wk_upstream_meta_t rl;
    memset(&rl, 0, sizeof rl);
    rl.quota_remaining = rl.quota_reset_s = -1;
    wk_pace_note(&w, "acct-1", &rl, 1000);
    cr_assert_eq(wk_pace_near("acct-1", 1000, &rule), 0, "no signal, no rule");
    rl.near_limit = 1;
    rl.quota_remaining = 300;
    rl.quota_reset_s = 600;
    wk_pace_note(&w, "acct-1", &rl, 1000);
    cr_assert_eq(wk_pace_near("acct-1", 2000, &rule), 1);
    cr_assert_float_eq(rule.per_s, 0.5, 1e-9, "300 left over 600 s");
    cr_assert_eq(rule.burst, 1);
    cr_assert_eq(wk_pace_near("acct-1", 1000 + 600000, &rule), 0, "over when the window resets");
    cr_assert_eq(wk_pace_near("acct-2", 2000, &rule), 0, "per account");
    /* NearLimit alone: the configured rule for a minute. */
    rl.quota_remaining = rl.quota_reset_s = -1;
    wk_pace_note(&w, "acct-3", &rl, 1000);
    cr_assert_eq(wk_pace_near("acct-3", 2000, &rule), 1);
    cr_assert_float_eq(rule.per_s, 1.0, 1e-9);
    cr_assert_eq(wk_pace_near("acct-3", 62000, &rule), 0);
    /* A quota 429: one call per Retry-After. */
    memset(&rl, 0, sizeof rl);
    rl.quota_remaining = rl.quota_reset_s = -1;
    rl.limited = 1;
    rl.retry_after_s = 100;
    snprintf(rl.reason, sizeof rl.reason, "jira-quota-tenant-based");
    wk_pace_note(&w, "acct-4", &rl, 1000);
    cr_assert_eq(wk_pace_near("acct-4", 2000, &rule), 1);
    cr_assert_float_eq(rule.per_s, 0.01, 1e-9);
    /* A burst 429 is not a quota signal. */
    snprintf(rl.reason, sizeof rl.reason, "jira-burst-based");
    wk_pace_note(&w, "acct-5", &rl, 1000);
    cr_assert_eq(wk_pace_near("acct-5", 2000, &rule), 0);
}
