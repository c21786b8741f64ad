/* Unit tests of the JQL guardrails (wk_jql), the argument pre-step
 * (wk_exec_prepare), the body operators ($adf, $merge) and the catalog's
 * derived parts (annotations, outputSchema, discovery search). */
#include <criterion/criterion.h>
#include <string.h>

#include "ju.h"
#include "wk_catalog.h"
#include "wk_exec.h"
#include "wk_jql.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    cr_assert(j, "bad test JSON: %s", e.text);
    return j;
}

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

static wk_catalog_t *cat(void)
{
    wk_catalog_t *c = NULL;
    char err[300];
    cr_assert_eq(wk_catalog_load_embedded(&c, err, sizeof err), 0, "%s", err);
    return c;
}

Test(prepare, fields_argument_and_issue_scope)
{
    wk_catalog_t *c = cat();
    json_t *f = J(FIELDS);
    json_t *cfg = J("{\"projects\":[\"ITSM\"]}");
    char err[600];
    const wk_tool_t *upd = wk_catalog_find(c, "update_a_jira_service_management_issue_by_id");
    json_t *a = J("{\"id\":\"ITSM-1\",\"fields\":{\"Request Type\":\"x\",\"summary\":\"s\"}}");
    json_t *out = wk_exec_prepare(upd, a, f, cfg, err, sizeof err);
    cr_assert(out, "%s", err);
    cr_assert_str_eq(ju_str(json_object_get(out, "fields"), "customfield_10010"), "x");
    json_decref(out);
    json_decref(a);
    a = J("{\"id\":\"HELP-1\"}");
    cr_assert_null(wk_exec_prepare(upd, a, f, cfg, err, sizeof err));
    cr_assert(strstr(err, "limited to the projects"), "%s", err);
    json_decref(a);
    a = J("{\"id\":\"ITSM-1\",\"fields\":{\"Reqest Type\":\"x\"}}");
    cr_assert_null(wk_exec_prepare(upd, a, f, cfg, err, sizeof err));
    cr_assert(strstr(err, "closest fields: \"Request Type\""), "%s", err);
    json_decref(a);

    /* The body: $adf turns text into a document, $merge adds the translated fields. */
    a = J("{\"id\":\"ITSM-1\",\"description\":\"line 1\\nline 2\",\"fields\":{\"customfield_10010\":\"x\"}}");
    wk_call_t call;
    cr_assert_eq(wk_exec_build(upd, a, "http://h", &call, err, sizeof err), 0, "%s", err);
    json_t *body = J(call.body);
    json_t *fl = json_object_get(body, "fields");
    cr_assert_str_eq(ju_str(fl, "customfield_10010"), "x");
    cr_assert_str_eq(ju_str(json_object_get(fl, "description"), "type"), "doc");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(fl, "description"), "content")), 2);
    cr_assert_null(json_object_get(fl, "priority"), "absent arguments leave no empty object");
    json_decref(body);
    wk_call_clear(&call);
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
        cr_assert_str_eq(ju_str(json_object_get(l, "outputSchema"), "type"), "object", "%s", c->tools[i].name);
        cr_assert(strlen(c->tools[i].name) <= 64);
        cr_assert(ju_str(l, "title"), "%s", c->tools[i].name);
    }
    json_t *cfg = J("{\"tool_exposure\":\"discovery\",\"methods\":[\"read\"]}");
    char err[100];
    json_t *list = wk_catalog_list(c, cfg, NULL, 50, err, sizeof err);
    cr_assert_eq(json_array_size(json_object_get(list, "tools")), 3);
    json_t *found = wk_catalog_search(c, cfg, "sla request", 5);
    cr_assert_str_eq(ju_str(json_array_get(json_object_get(found, "tools"), 0), "name"),
                     "list_all_jira_service_management_request_slas");
    json_t *none = wk_catalog_search(c, cfg, "internal note", 50);
    for (size_t i = 0; i < json_array_size(json_object_get(none, "tools")); i++)
        cr_assert_str_neq(ju_str(json_array_get(json_object_get(none, "tools"), i), "name"),
                          "create_a_jira_service_management_internal_note", "write tool hidden by methods");
    json_decref(none);
    json_decref(found);
    json_decref(list);
    json_decref(cfg);
    wk_catalog_free(c);
}
