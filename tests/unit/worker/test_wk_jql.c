/* Unit tests of the JQL guardrails (wk_jql), the argument pre-step
 * (wk_request_prepare), the body operators ($adf, $merge) and the catalog's
 * derived parts (annotations, outputSchema, discovery search). */
#include <criterion/criterion.h>
#include <string.h>

#include "jsontext.h"
#include "wk_catalog.h"
#include "wk_request.h"
#include "wk_result.h"
#include "wk_jql.h"
#include "wk_test.h"

static const char FIELDS[] =
    "[{\"id\":\"summary\",\"key\":\"summary\",\"name\":\"Summary\",\"custom\":false,\"clauseNames\":[\"summary\"]},"
    "{\"id\":\"status\",\"name\":\"Status\",\"clauseNames\":[\"status\"]},"
    "{\"id\":\"customfield_10010\",\"name\":\"Request Type\",\"custom\":true,\"clauseNames\":[\"cf[10010]\",\"Request Type\"]},"
    "{\"id\":\"customfield_10011\",\"name\":\"Time to first response\",\"custom\":true},"
    "{\"id\":\"customfield_10020\",\"name\":\"Organizations\",\"custom\":true}]";

Test(jql, custom_field_names_become_ids)
{
    json_t *f = J(FIELDS);
    char err[600];
    char *q = wk_jql_rewrite("project = ITSM AND \"Request Type\" = \"Get IT help\" ORDER BY created ASC", f,
                             NULL, err, sizeof err);
    cr_assert(q, "%s", err);
    cr_assert_str_eq(q, "project = ITSM AND cf[10010] = \"Get IT help\" ORDER BY created ASC");
    free(q);
    /* Values that look like field names are left alone; in-lists and NOT groups parse. */
    q = wk_jql_rewrite("status in (\"Request Type\", Open) AND NOT (summary ~ \"Status\") OR cf[10010] is EMPTY",
                       f, NULL, err, sizeof err);
    cr_assert(q, "%s", err);
    cr_assert_str_eq(q, "status in (\"Request Type\", Open) AND NOT (summary ~ \"Status\") OR cf[10010] is EMPTY");
    free(q);
    json_decref(f);
}

Test(jql, a_site_field_id_too_long_is_refused_not_overread)
{
    /* The field list is the site's: an id longer than any real
     * customfield_<digits> (fuzz/corpus/jsonrpc/crash-long-customfield-id
     * read past a 64-byte stack buffer) is an error, never cut or overread. */
    char id[200];
    memset(id, '9', sizeof id);
    memcpy(id, "customfield_", 12);
    id[sizeof id - 1] = 0;
    json_t *f = json_pack("[{s:s,s:s,s:b}]", "id", id, "name", "Long Field", "custom", 1);
    char err[600];
    cr_assert_null(wk_jql_rewrite("\"Long Field\" = x", f, NULL, err, sizeof err));
    cr_assert(strstr(err, "too long"), "%s", err);
    json_decref(f);
}

Test(jql, unknown_field_lists_closest)
{
    json_t *f = J(FIELDS);
    char err[600];
    cr_assert_null(wk_jql_rewrite("\"Request Typ\" = x", f, NULL, err, sizeof err));
    cr_assert(strstr(err, "unknown field \"Request Typ\""), "%s", err);
    cr_assert(strstr(err, "\"Request Type\""), "%s", err);
    cr_assert_null(wk_jql_rewrite("summary ~ \"unterminated", f, NULL, err, sizeof err));
    cr_assert(strstr(err, "unterminated"), "%s", err);
    json_decref(f);
}

Test(jql, projects_scope_every_query)
{
    json_t *p = J("[\"ITSM\",\"HW\"]");
    char err[300];
    char *q = wk_jql_rewrite("status = Open OR project = HELP ORDER BY created", NULL, p, err, sizeof err);
    cr_assert(q, "%s", err);
    cr_assert_str_eq(q, "project in (\"ITSM\", \"HW\") AND (status = Open OR project = HELP) ORDER BY created");
    free(q);
    q = wk_jql_rewrite("", NULL, p, err, sizeof err);
    cr_assert_str_eq(q, "project in (\"ITSM\", \"HW\")");
    free(q);
    json_decref(p);
}

/* Issue 20: the project clause binds the whole query by construction; what
 * could close the scope's parenthesis, or leave a string open, is refused. */
Test(jql, unbalanced_or_truncated_input_is_refused)
{
    json_t *p = J("[\"ITSM\"]");
    char err[600];
    static const char *const bad[] = {
        "key = ITSM-994) OR (project = HELP",
        "project = HELP) OR (project = ITSM",
        ") OR project = HELP OR (",
        "(project = HELP",
        "status = Open)) OR ((project = HELP",
        "project = HELP ORDER BY created) OR (project = HELP",
        "key = ITSM-1 ORDER BY key ASC) OR (project = HW",
        "(key = ITSM-1 ORDER BY key) OR project = HELP",
        "project = HELP ORDER BY key ORDER BY created",
        "summary ~ \"unterminated",
        "summary ~ 'x\\') OR (project = HELP",
        "summary ~ \"x\\\\\") OR (project = HELP OR summary ~ (\"",
        "key = ITSM-1 \\) OR \\( project = HELP",
        "summary ~ \"bad escape \\q\"",
        "key = ITSM-1\"\" ) OR (project = HELP",
        "assignee = currentUser()) OR (project = HELP",
        "assignee in membersOf(\"x\" OR project = HELP",
        "status in (Open, ) OR project = HELP",
        "status in (Open",
        "status =",
        "project = HELP OR",
        "AND project = HELP",
        "project = HELP | project = HW",
        "project = HELP & project = HW",
        "summary ~ \"a\tb\"",
        "key = ITSM-1 \x01) OR (project = HELP",
        "()",
        "NOT",
        "project = HELP ORDER BY",
        "project = HELP ORDER BY key,",
        "project = HELP ORDER BY key DESC x",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        err[0] = 0;
        char *q = wk_jql_rewrite(bad[i], NULL, p, err, sizeof err);
        cr_expect_null(q, "accepted [%s] as [%s]", bad[i], q ? q : "");
        free(q);
        cr_expect(strncmp(err, "JQL: ", 5) == 0, "[%s]: a clear error, got [%s]", bad[i], err);
    }
    /* The error says where. */
    cr_assert_null(wk_jql_rewrite("key = ITSM-994) OR (project = HELP", NULL, p, err, sizeof err));
    cr_assert(strstr(err, "')'") && strstr(err, "character 15"), "%s", err);
    json_decref(p);
}

Test(jql, scope_binds_the_whole_query_and_order_by_stays_last)
{
    json_t *p = J("[\"ITSM\"]");
    char err[600];
    static const char *const cases[][2] = {
        {"status = Open OR project = HELP ORDER BY created DESC, key",
         "project in (\"ITSM\") AND (status = Open OR project = HELP) ORDER BY created DESC, key"},
        {"ORDER BY created", "project in (\"ITSM\") ORDER BY created"},
        {"  ", "project in (\"ITSM\")"},
        {"key = ITSM-1 || project = HELP && NOT project = HW",
         "project in (\"ITSM\") AND (key = ITSM-1 OR project = HELP AND NOT project = HW)"},
        {"! (project = HELP)", "project in (\"ITSM\") AND (NOT (project = HELP))"},
        {"summary ~ \"x\\\") OR (project = HELP\"",
         "project in (\"ITSM\") AND (summary ~ \"x\\\") OR (project = HELP\")"},
        {"summary ~ 'it''s'", NULL},
        {"issuekey in (HELP-1, HW-1,ITSM-994)", "project in (\"ITSM\") AND (issuekey in (HELP-1, HW-1, ITSM-994))"},
        {"assignee = currentUser() AND created >= startOfDay(-1d) AND status CHANGED FROM Open TO \"In Progress\" "
         "AFTER -2d",
         "project in (\"ITSM\") AND (assignee = currentUser() AND created >= startOfDay(-1d) AND status CHANGED "
         "FROM Open TO \"In Progress\" AFTER -2d)"},
        {"assignee WAS NOT IN (a, b) DURING (\"2024-01-01\", \"2024-02-01\") AND resolution is not EMPTY",
         "project in (\"ITSM\") AND (assignee WAS NOT IN (a, b) DURING (\"2024-01-01\", \"2024-02-01\") AND "
         "resolution is NOT EMPTY)"},
        {"key = ITSM-994 \xef\xbc\x89 OR \xef\xbc\x88 project = HELP", NULL},
        {"project = \xef\xbc\xa8\xef\xbc\xa5\xef\xbc\xac\xef\xbc\xb0",
         "project in (\"ITSM\") AND (project = \"\xef\xbc\xa8\xef\xbc\xa5\xef\xbc\xac\xef\xbc\xb0\")"},
        {"summary ~ \"\\u0029 \\n \\\\\" ORDER BY \"Time to resolution\" ASC",
         "project in (\"ITSM\") AND (summary ~ \"\\u0029 \\n \\\\\") ORDER BY \"Time to resolution\" ASC"},
        {"cf[10010] = x AND issue.property[foo].bar = 1",
         "project in (\"ITSM\") AND (cf[10010] = x AND issue.property[foo].bar = 1)"},
        {NULL, NULL},
    };
    for (int i = 0; cases[i][0]; i++) {
        char *q = wk_jql_rewrite(cases[i][0], NULL, p, err, sizeof err);
        if (!cases[i][1]) {
            cr_expect_null(q, "[%s] should be refused, got [%s]", cases[i][0], q ? q : "");
        } else {
            cr_expect(q, "[%s]: %s", cases[i][0], err);
            if (q)
                cr_expect_str_eq(q, cases[i][1]);
        }
        free(q);
    }
    /* Nesting is bounded. */
    char deep[400] = "";
    for (int i = 0; i < 150; i++)
        strcat(deep, "(");
    strcat(deep, "a = b");
    for (int i = 0; i < 150; i++)
        strcat(deep, ")");
    cr_assert_null(wk_jql_rewrite(deep, NULL, p, err, sizeof err));
    cr_assert(strstr(err, "nested"), "%s", err);
    json_decref(p);
}

Test(prepare, fields_argument_and_issue_scope)
{
    wk_catalog_t *c = cat();
    json_t *f = J(FIELDS);
    json_t *cfg = J("{\"projects\":[\"ITSM\"]}");
    char err[600];
    const wk_tool_t *upd = wk_catalog_find(c, "update_a_jira_service_management_issue_by_id");
    json_t *a = J("{\"id\":\"ITSM-1\",\"fields\":{\"Request Type\":\"x\",\"summary\":\"s\"}}");
    json_t *out = wk_request_prepare(upd, a, f, cfg, err, sizeof err);
    cr_assert(out, "%s", err);
    cr_assert_str_eq(jsontext_str(json_object_get(out, "fields"), "customfield_10010"), "x");
    json_decref(out);
    json_decref(a);
    a = J("{\"id\":\"HELP-1\"}");
    cr_assert_null(wk_request_prepare(upd, a, f, cfg, err, sizeof err));
    cr_assert(strstr(err, "limited to the projects"), "%s", err);
    json_decref(a);
    a = J("{\"id\":\"ITSM-1\",\"fields\":{\"Reqest Type\":\"x\"}}");
    cr_assert_null(wk_request_prepare(upd, a, f, cfg, err, sizeof err));
    cr_assert(strstr(err, "closest fields: \"Request Type\""), "%s", err);
    json_decref(a);

    /* The body: $adf turns text into a document, $merge adds the translated fields. */
    a = J("{\"id\":\"ITSM-1\",\"description\":\"line 1\\nline 2\",\"fields\":{\"customfield_10010\":\"x\"}}");
    wk_request_t call;
    cr_assert_eq(wk_request_build(upd, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    json_t *body = J(call.body);
    json_t *fl = json_object_get(body, "fields");
    cr_assert_str_eq(jsontext_str(fl, "customfield_10010"), "x");
    cr_assert_str_eq(jsontext_str(json_object_get(fl, "description"), "type"), "doc");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(fl, "description"), "content")), 2);
    cr_assert_null(json_object_get(fl, "priority"), "absent arguments leave no empty object");
    json_decref(body);
    wk_request_clear(&call);
    json_decref(a);
    json_decref(cfg);
    json_decref(f);
    wk_catalog_free(c);
}

Test(catalog, every_tool_has_annotations_and_output_schema)
{
    wk_catalog_t *c = cat();
    for (size_t i = 0; i < c->n; i++) {
        const json_t *l = c->tools[i].listed;
        const json_t *ann = json_object_get(l, "annotations");
        cr_assert(json_is_boolean(json_object_get(ann, "readOnlyHint")), "%s", c->tools[i].name);
        cr_assert(json_is_boolean(json_object_get(ann, "destructiveHint")), "%s", c->tools[i].name);
        cr_assert(json_is_boolean(json_object_get(ann, "idempotentHint")), "%s", c->tools[i].name);
        cr_assert(json_is_boolean(json_object_get(ann, "openWorldHint")), "%s", c->tools[i].name);
        cr_assert_eq(json_is_true(json_object_get(ann, "readOnlyHint")), !(c->tools[i].kind & WK_KIND_WRITE));
        cr_assert_str_eq(jsontext_str(json_object_get(l, "outputSchema"), "type"), "object", "%s", c->tools[i].name);
        cr_assert(strlen(c->tools[i].name) <= 64);
        cr_assert(jsontext_str(l, "title"), "%s", c->tools[i].name);
    }
    json_t *cfg = J("{\"tool_exposure\":\"discovery\",\"methods\":[\"read\"]}");
    char err[100];
    json_t *list = wk_catalog_list(c, cfg, NULL, 50, err, sizeof err);
    cr_assert_eq(json_array_size(json_object_get(list, "tools")), 3);
    json_t *found = wk_catalog_search(c, cfg, "sla request", 5);
    cr_assert_str_eq(jsontext_str(json_array_get(json_object_get(found, "tools"), 0), "name"),
                     "list_all_jira_service_management_request_slas");
    json_t *none = wk_catalog_search(c, cfg, "internal note", 50);
    for (size_t i = 0; i < json_array_size(json_object_get(none, "tools")); i++)
        cr_assert_str_neq(jsontext_str(json_array_get(json_object_get(none, "tools"), i), "name"),
                          "create_a_jira_service_management_internal_note", "write tool hidden by methods");
    json_decref(none);
    json_decref(found);
    json_decref(list);
    json_decref(cfg);
    wk_catalog_free(c);
}
