/* sb_routes_users: see sb_routes_users.h. */
#include "sb_routes_users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_pack.h"
#include "sb.h"
#include "sb_render.h"

/* ---- users, fields, create metadata ---- */
static void h_user(sb_call_t *c)
{
    int u = sb_user_param_or_error(c);
    if (u < 0)
        return;
    json_t *o = sb_user_json(c, u);
    char ex[64] = "";
    sb_query(c, "expand", ex, sizeof ex);
    if (strstr(ex, "groups")) /* {"size", "items": [GroupName]} */
        json_object_set_new(o, "groups", sb_user_groups_page(c, u));
    sb_json(c, 200, o);
}

static void h_myself(sb_call_t *c)
{
    json_t *u = sb_user_json(c, c->user);
    json_object_set_new(u, "locale", json_string("en_US"));
    sb_json(c, 200, u);
}

static void h_user_search(sb_call_t *c)
{
    char q[200] = "", acc[100] = "", prop[100] = "";
    int hq = sb_query(c, "query", q, sizeof q) >= 0, ha = sb_query(c, "accountId", acc, sizeof acc) >= 0,
        hp = sb_query(c, "property", prop, sizeof prop) >= 0;
    if (!hq && !ha && !hp) {
        sb_err_platform(c, 400, "One of 'query' or 'accountId' or 'property' query parameters must be provided.");
        return;
    }
    if (hq && ha) {
        sb_err_platform(c, 400, "The 'query' and 'accountId' query parameters cannot be used together.");
        return;
    }
    long start, max;
    sb_platform_paging(c, 50, 1000, &start, &max);
    json_t *a = json_array();
    long seen = 0;
    const sb_data_t *d = c->sb->data;
    for (int i = 0; i < d->nusers && seen < 1000 && (long)json_array_size(a) < max; i++) {
        const sb_user_t *u = &d->users[i];
        if (!u->active)
            continue;
        if (ha && strcmp(u->account_id, acc))
            continue;
        /* Cloud matches prefixes of the display name's words and of the
         * email, and never a hidden email (privacy). */
        const char *email = sb_user_email(d, i, c->user);
        if (hq && !sb_prefix_match(u->display_name, q) && !(email && sb_prefix_match(email, q)))
            continue;
        if (seen++ >= start)
            json_array_append_new(a, sb_user_json(c, i));
    }
    sb_json(c, 200, a);
}

static void h_fields(sb_call_t *c)
{
    sb_json(c, 200, sb_fields_json(c));
}

static json_t *issuetype_item(const sb_call_t *c, const void *ud, long i)
{
    (void)ud;
    return sb_issuetype_json(c, (int)i);
}

static void h_createmeta_types(sb_call_t *c)
{
    int p = sb_project_find(c->sb->data, sb_param(c, "project"));
    if (p < 0) {
        sb_err_platform(c, 404, "No project could be found with key or id.");
        return;
    }
    sb_platform_list(c, 50, 200, "issueTypes", sb_nissuetypes, issuetype_item, NULL);
}

/* The fields createmeta describes, in Jira's order. */
static const struct {
    const char *id, *name;
    int required;
} CREATEMETA_FIELDS[] = {{"summary", "Summary", 1}, {"issuetype", "Issue Type", 1}, {"project", "Project", 1},
                         {"description", "Description", 0}, {"priority", "Priority", 0}, {"labels", "Labels", 0},
                         {"duedate", "Due date", 0}, {"assignee", "Assignee", 0}, {"reporter", "Reporter", 1}};

static json_t *createmeta_field_item(const sb_call_t *c, const void *ud, long i)
{
    const int *ctx = ud; /* {project, issue type} */
    long nsys = (long)(sizeof CREATEMETA_FIELDS / sizeof CREATEMETA_FIELDS[0]);
    if (i >= nsys) { /* the site custom fields whose context covers the project */
        const sb_data_t *d = c->sb->data;
        long want = i - nsys;
        int k = 0;
        for (int x = 0; x < d->nxfields; x++)
            if (sb_xfield_in_project(&d->xfields[x], ctx[0]) && want-- == 0) {
                k = x;
                break;
            }
        const sb_xfield_t *f = &d->xfields[k];
        json_t *m = sb_pack("{s:s, s:s, s:s, s:b, s:b, s:[s], s:o}", "fieldId", f->id, "key", f->id, "name", f->name,
                            "required", f->required_for == ctx[1] && f->project == ctx[0], "hasDefaultValue", 0,
                            "operations", "set", "schema", sb_field_schema(c, f->id));
        if (f->type == SB_XT_SELECT) {
            json_t *av = json_array();
            for (int o = 0; o < f->noptions; o++)
                json_array_append_new(av, sb_xoption_json(c, f, o));
            json_object_set_new(m, "allowedValues", av);
        } else if (f->type == SB_XT_USER) {
            char url[600];
            snprintf(url, sizeof url, "%s/rest/api/3/user/search?query=", c->base);
            json_object_set_new(m, "autoCompleteUrl", json_string(url));
        }
        return m;
    }
    const char *id = CREATEMETA_FIELDS[i].id;
    json_t *ops = !strcmp(id, "labels") ? sb_pack("[s,s,s]", "add", "set", "remove") : sb_pack("[s]", "set");
    json_t *schema = sb_field_schema(c, id);
    json_t *m = sb_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:o}", "fieldId", id, "key", id, "name",
                        CREATEMETA_FIELDS[i].name, "required", CREATEMETA_FIELDS[i].required, "hasDefaultValue",
                        !strcmp(id, "priority"), "operations", ops, "schema",
                        schema ? schema : sb_pack("{s:s}", "type", "string"));
    if (!strcmp(id, "priority")) {
        json_t *av = json_array();
        for (int k = 0; k < sb_npriorities; k++)
            json_array_append_new(av, sb_pack("{s:s, s:s}", "id", sb_priorities[k].id, "name", sb_priorities[k].name));
        json_object_set_new(m, "allowedValues", av);
    }
    return m;
}

/* The create screen of an issue type in a project: the system fields, then
 * the site's custom fields in the project's context, some required there
 * ("Change risk" for a Change in ITSM). */
static void h_createmeta_fields(sb_call_t *c)
{
    int p = sb_project_find(c->sb->data, sb_param(c, "project"));
    int it = sb_named_find(sb_issuetypes, sb_nissuetypes, sb_param(c, "type"));
    if (p < 0 || it < 0) {
        sb_err_platform(c, 404, "Issue type with id does not exist or you do not have permission to see it.");
        return;
    }
    long n = (long)(sizeof CREATEMETA_FIELDS / sizeof CREATEMETA_FIELDS[0]);
    for (int x = 0; x < c->sb->data->nxfields; x++)
        n += sb_xfield_in_project(&c->sb->data->xfields[x], p);
    int ctx[2] = {p, it};
    sb_platform_list(c, 50, 200, "fields", n, createmeta_field_item, ctx);
}

static void h_tenant_info(sb_call_t *c)
{
    sb_json(c, 200, sb_pack("{s:s}", "cloudId", c->sb->cfg.cloud_id));
}

static const sb_route_t ROUTES[] = {
    {"GET", "/rest/api/3/issue/createmeta/:project/issuetypes", h_createmeta_types, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/createmeta/:project/issuetypes/:type", h_createmeta_fields, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/user", h_user, SB_FAM_PLATFORM, 0, 150, 3},
    {"GET", "/rest/api/3/user/search", h_user_search, SB_FAM_PLATFORM, 0, 0, 3},
    {"GET", "/rest/api/3/myself", h_myself, SB_FAM_PLATFORM, 0, 0, 3},
    {"GET", "/rest/api/3/field", h_fields, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/_edge/tenant_info", h_tenant_info, SB_FAM_PLATFORM, SB_R_NOAUTH | SB_R_SITE_ONLY, 0, 0},
};

void sb_routes_users(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
