/* sb_routes_jsm: /rest/servicedeskapi endpoints (jsm-rest-api.md §3) around
 * the service desk: info, desks, queues and their issues, request types and
 * their fields and groups, customers, organizations and the knowledge base.
 * The customer requests themselves are sb_routes_request.c. Paging is
 * start/limit/size/isLastPage/_links. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_pack.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_jql.h"
#include "sb_jql_order.h"
#include "sb_kb.h"
#include "sb_render.h"
#include "sb_render_jsm.h"
#include "sb_render_sd.h"

#define SD "/rest/servicedeskapi"

static const struct {
    int id;
    const char *name;
} GROUPS[] = {{1, "Common requests"}, {2, "Access"}, {3, "Problems"}, {11, "Incidents"}, {12, "General"},
              {13, "Hardware and software"}, {14, "Changes and problems"}, {21, "Hardware"},
              {22, "Facilities and network"}};

static int desk_or_404(sb_call_t *c)
{
    int p = sb_desk_find(c->sb->data, sb_param(c, "desk"));
    if (p < 0)
        sb_err_jsm(c, 404, "The Service Desk you are trying to view does not exist.",
                   "sd.agent.servicedesk.error.servicedesk.missing");
    return p;
}



/* ---- desks, queues ---- */
static void h_info(sb_call_t *c)
{
    char self[600];
    snprintf(self, sizeof self, "%s" SD "/info", c->base);
    sb_json(c, 200, sb_pack("{s:s, s:s, s:o, s:s, s:b, s:{s:s}}", "version", "10.0.0", "platformVersion",
                              "1001.0.0-SNAPSHOT", "buildDate", sb_date_dto(c->sb->data->anchor_ms), "buildChangeSet",
                              "sandbox", "isLicensedForUse", 1, "_links", "self", self));
}

static json_t *desk_item(const sb_call_t *c, const void *ud, long i)
{
    (void)ud;
    return sb_desk_json(c, (int)i);
}

static void h_desks(sb_call_t *c)
{
    sb_jsm_list(c, 50, 100, c->sb->data->nprojects, desk_item, NULL);
}

static void h_desk(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p >= 0)
        sb_json(c, 200, sb_desk_json(c, p));
}

static void h_queues(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 50);
    int with = sb_query_bool(c, "includeCount", 0);
    for (int i = 0; i < c->sb->data->nqueues; i++) {
        const sb_queue_t *q = &c->sb->data->queues[i];
        if (q->project != p)
            continue;
        if (sb_pager_take(&pg))
            json_array_append_new(pg.values, sb_queue_json(c, q, with));
    }
    sb_pager_send(c, &pg);
}

static const sb_queue_t *queue_or_404(sb_call_t *c, int p)
{
    char *end;
    long id = strtol(sb_param(c, "queue"), &end, 10);
    const sb_queue_t *q = *end ? NULL : sb_queue_find(c->sb->data, p, (int)id);
    if (!q)
        sb_err_jsm(c, 404, "The queue you are trying to view does not exist.", "sd.queue.error.queue.not.found");
    return q;
}

static void h_queue(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    const sb_queue_t *q = queue_or_404(c, p);
    if (q)
        sb_json(c, 200, sb_queue_json(c, q, sb_query_bool(c, "includeCount", 0)));
}

static void h_queue_issues(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    const sb_queue_t *q = queue_or_404(c, p);
    if (!q)
        return;
    long start, limit;
    sb_jsm_paging(c, 50, 50, &start, &limit);
    sb_issue_t **v;
    sb_jql_env_t env = {c->sb->data, c->user, sb_now(c->sb)};
    const sb_jql_t *j = sb_queue_jql(c->sb, q);
    size_t n = j ? sb_jql_run(j, &env, &v) : 0;
    json_t *arr = json_array();
    for (long i = start; j && i < (long)n && i < start + limit; i++)
        json_array_append_new(arr, sb_queue_issue_json(c, q, v[i]));
    if (j)
        free(v);
    sb_json(c, 200, sb_jsm_page(c, arr, start, limit, (long)n));
}

/* ---- request types ---- */
static void list_rtypes(sb_call_t *c, int p)
{
    sb_pager_t pg;
    char search[128] = "", group[16] = "";
    sb_pager_init(c, &pg, 50, 100);
    sb_query(c, "searchQuery", search, sizeof search);
    sb_query(c, "groupId", group, sizeof group);
    for (int i = 0; i < c->sb->data->nrtypes; i++) {
        const sb_rtype_t *rt = &c->sb->data->rtypes[i];
        if ((p >= 0 && rt->project != p) || (search[0] && !sb_icontains(rt->name, search)) ||
            (group[0] && strtol(group, NULL, 10) != rt->group_id))
            continue;
        if (sb_pager_take(&pg))
            json_array_append_new(pg.values, sb_rtype_json(c, rt));
    }
    sb_pager_send(c, &pg);
}

static void h_rtypes(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p >= 0)
        list_rtypes(c, p);
}

static void h_all_rtypes(sb_call_t *c)
{
    list_rtypes(c, -1);
}

static const sb_rtype_t *rtype_or_404(sb_call_t *c, int p)
{
    int r = sb_rtype_find(c->sb->data, p, sb_param(c, "rt"));
    char *end;
    strtol(sb_param(c, "rt"), &end, 10);
    if (r < 0 || *end) {
        sb_err_jsm(c, 404, "The request type you are trying to view does not exist.",
                   "sd.admin.requesttype.error.not.found");
        return NULL;
    }
    return &c->sb->data->rtypes[r];
}

static void h_rtype(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    const sb_rtype_t *rt = rtype_or_404(c, p);
    if (rt)
        sb_json(c, 200, sb_rtype_json(c, rt));
}

/* One form field as RequestTypeFieldDTO. */
static json_t *rtype_field_json(const sb_call_t *c, const sb_rtfield_t *lf)
{
    const sb_data_t *d = c->sb->data;
    json_t *valid = json_array(), *schema;
    const char *id, *desc = "";
    if (lf->field) {
        id = lf->field;
        int prio = !strcmp(id, "priority");
        schema = sb_pack("{s:s, s:s}", "type", prio ? "priority" : "string", "system", id);
        for (int i = 0; prio && i < sb_npriorities; i++)
            json_array_append_new(valid, sb_pack("{s:s, s:s, s:[]}", "value", sb_priorities[i].id, "label",
                                                 sb_priorities[i].name, "children"));
        desc = !strcmp(id, "summary") ? "A short summary of your request" : "";
    } else {
        const sb_xfield_t *f = &d->xfields[lf->xf];
        id = f->id;
        schema = sb_field_schema(c, f->id);
        for (int i = 0; i < f->noptions; i++) {
            char v[16];
            snprintf(v, sizeof v, "%d", f->option0 + i);
            json_array_append_new(valid, sb_pack("{s:s, s:s, s:[]}", "value", v, "label", f->options[i], "children"));
        }
    }
    json_t *dflt = json_array();
    if (!lf->visible && lf->preset)
        json_array_append_new(dflt, sb_pack("{s:s, s:s, s:[]}", "value", lf->preset, "label", lf->preset, "children"));
    return sb_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "fieldId", id, "name", lf->label, "description", desc,
                   "required", lf->required, "visible", lf->visible, "validValues", valid, "defaultValues", dflt,
                   "jiraSchema", schema);
}

/* The request type's form in its order; hidden fields only with
 * expand=hiddenFields. */
static void h_rtype_fields(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    const sb_rtype_t *rt = rtype_or_404(c, p);
    if (!rt)
        return;
    char ex[512];
    if (sb_expand_param(c, ex, sizeof ex) != 0)
        return;
    int hidden = strstr(ex, "hiddenFields") != NULL;
    json_t *f = json_array();
    for (int i = 0; i < rt->nlayout; i++)
        if (rt->layout[i].visible || hidden)
            json_array_append_new(f, rtype_field_json(c, &rt->layout[i]));
    sb_json(c, 200, sb_pack("{s:o, s:b, s:b}", "requestTypeFields", f, "canRaiseOnBehalfOf", 1,
                              "canAddRequestParticipants", 1));
}

static void h_rtype_groups(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    for (size_t g = 0; g < sizeof GROUPS / sizeof GROUPS[0]; g++) {
        int used = 0;
        for (int i = 0; i < c->sb->data->nrtypes; i++)
            used |= c->sb->data->rtypes[i].project == p && c->sb->data->rtypes[i].group_id == GROUPS[g].id;
        if (!used)
            continue;
        if (sb_pager_take(&pg)) {
            char id[16];
            snprintf(id, sizeof id, "%d", GROUPS[g].id);
            json_array_append_new(pg.values, sb_pack("{s:s, s:s}", "id", id, "name", GROUPS[g].name));
        }
    }
    sb_pager_send(c, &pg);
}

/* ---- customers ---- */
static void h_customer_create(sb_call_t *c)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    const char *email = jsontext_str(b, "email");
    const char *name = jsontext_str(b, "displayName") ? jsontext_str(b, "displayName") : jsontext_str(b, "fullName");
    if (!email || !strchr(email, '@') || strlen(email) >= 96 || !name || !*name || strlen(name) >= 64) {
        json_decref(b);
        sb_err_jsm(c, 400, "A valid email and displayName are required.", "sd.customer.error.invalid");
        return;
    }
    if (sb_user_find_any(c->sb->data, email) >= 0) {
        json_decref(b);
        int strict = sb_query_bool(c, "strictConflictStatusCode", 0);
        sb_err_jsm(c, strict ? 409 : 400, "An account already exists for this email.", "sd.customer.error.exists");
        return;
    }
    int u = sb_user_add(c->sb->data, email, name, 1);
    json_decref(b);
    if (u < 0) {
        sb_err_jsm(c, 413, "The site has reached its user limit.", "sd.customer.error.limit");
        return;
    }
    sb_json(c, 201, sb_user_dto(c, u));
}

static void h_desk_customers(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    char q[128] = "";
    sb_query(c, "query", q, sizeof q);
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    const sb_data_t *d = c->sb->data;
    for (int u = 0; u < d->nusers; u++) {
        if (!d->projects[p].customers[u])
            continue;
        const char *email = sb_user_email(d, u, c->user);
        if (q[0] && !sb_prefix_match(d->users[u].display_name, q) && !(email && sb_prefix_match(email, q)))
            continue;
        if (sb_pager_take(&pg))
            json_array_append_new(pg.values, sb_user_dto(c, u));
    }
    sb_pager_send(c, &pg);
}

static void h_desk_customers_change(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    int users[SB_MAX_USERS], n;
    int bad = sb_account_ids(c, b, users, SB_MAX_USERS, &n);
    json_decref(b);
    int add = !strcmp(httpd_req_method(c->req), "POST");
    for (int i = 0; i < n; i++)
        c->sb->data->projects[p].customers[users[i]] = (unsigned char)add;
    if (bad) { /* the valid ones were still applied, as JSM does */
        sb_err_jsm(c, 400, "One or more of the accountIds are not valid users.", "sd.customer.error.invalid.user");
        return;
    }
    sb_no_content(c);
}

/* ---- organizations ---- */
static sb_org_t *org_or_404(sb_call_t *c)
{
    char *end;
    long id = strtol(sb_param(c, "org"), &end, 10);
    int o = *end ? -1 : sb_org_find(c->sb->data, (int)id);
    if (o < 0) {
        sb_err_jsm(c, 404, "The organization you are trying to view does not exist.", "sd.organization.error.not.found");
        return NULL;
    }
    return &c->sb->data->orgs[o];
}

static void h_orgs(sb_call_t *c)
{
    char acc[100] = "";
    int who = sb_query(c, "accountId", acc, sizeof acc) >= 0 ? sb_user_find(c->sb->data, acc) : -2;
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    for (int o = 0; o < c->sb->data->norgs; o++) {
        const sb_org_t *org = &c->sb->data->orgs[o];
        if (org->deleted)
            continue;
        if (who != -2) {
            int m = 0;
            for (int i = 0; i < org->nmembers; i++)
                m |= org->members[i] == who;
            if (!m)
                continue;
        }
        if (sb_pager_take(&pg))
            json_array_append_new(pg.values, sb_org_json(c, org));
    }
    sb_pager_send(c, &pg);
}

static void h_org_create(sb_call_t *c)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    const char *name = jsontext_str(b, "name");
    if (!name || !*name || strlen(name) >= 64) {
        json_decref(b);
        sb_err_jsm(c, 400, "The organization name must be 1 to 63 characters.", "sd.organization.error.name.invalid");
        return;
    }
    for (int o = 0; o < c->sb->data->norgs; o++)
        if (!c->sb->data->orgs[o].deleted && !strcasecmp(c->sb->data->orgs[o].name, name)) {
            json_decref(b);
            sb_err_jsm(c, 409, "An organization with this name already exists.", "sd.organization.error.name.exists");
            return;
        }
    int o = sb_org_add(c->sb->data, name, sb_now(c->sb));
    json_decref(b);
    if (o < 0) {
        sb_err_jsm(c, 413, "The site has reached its organization limit.", "sd.organization.error.limit");
        return;
    }
    sb_json(c, 201, sb_org_json(c, &c->sb->data->orgs[o]));
}

static void h_org(sb_call_t *c)
{
    sb_org_t *o = org_or_404(c);
    if (o)
        sb_json(c, 200, sb_org_json(c, o));
}

static void h_org_delete(sb_call_t *c)
{
    sb_org_t *o = org_or_404(c);
    if (!o)
        return;
    o->deleted = 1;
    sb_no_content(c);
}

static void h_org_users(sb_call_t *c)
{
    sb_org_t *o = org_or_404(c);
    if (!o)
        return;
    sb_jsm_list(c, 50, 100, o->nmembers, sb_user_dto_item, o->members);
}

static void h_org_users_change(sb_call_t *c)
{
    sb_org_t *o = org_or_404(c);
    if (!o)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    int users[SB_MAX_USERS], n;
    int bad = sb_account_ids(c, b, users, SB_MAX_USERS, &n);
    json_decref(b);
    int add = !strcmp(httpd_req_method(c->req), "POST");
    for (int i = 0; i < n; i++) {
        if (add)
            sb_org_add_member(o, users[i]);
        else
            sb_org_remove_member(o, users[i]);
    }
    if (bad) {
        sb_err_jsm(c, 400, "One or more of the accountIds are not valid users.", "sd.organization.error.invalid.user");
        return;
    }
    sb_no_content(c);
}

static void h_desk_orgs(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    sb_project_t *pr = &c->sb->data->projects[p];
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    for (int i = 0; i < pr->norgs; i++) {
        int o = sb_org_find(c->sb->data, pr->orgs[i]);
        if (o < 0)
            continue;
        if (sb_pager_take(&pg))
            json_array_append_new(pg.values, sb_org_json(c, &c->sb->data->orgs[o]));
    }
    sb_pager_send(c, &pg);
}

static void h_desk_orgs_change(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    long id = (long)jsontext_int(b, "organizationId", -1);
    json_decref(b);
    if (sb_org_find(c->sb->data, (int)id) < 0) {
        sb_err_jsm(c, 404, "The organization you are trying to view does not exist.", "sd.organization.error.not.found");
        return;
    }
    sb_project_t *pr = &c->sb->data->projects[p];
    int at = -1;
    for (int i = 0; i < pr->norgs; i++)
        if (pr->orgs[i] == id)
            at = i;
    if (!strcmp(httpd_req_method(c->req), "POST")) {
        if (at < 0 && pr->norgs < SB_MAX_ORGS)
            pr->orgs[pr->norgs++] = (int)id;
    } else if (at >= 0) {
        memmove(&pr->orgs[at], &pr->orgs[at + 1], (size_t)(--pr->norgs - at) * sizeof(int));
    }
    sb_no_content(c);
}

/* ---- knowledge base ---- */
static void kb_search(sb_call_t *c, int project)
{
    char q[200];
    if (sb_query(c, "query", q, sizeof q) < 0 || !q[0]) {
        sb_err_jsm(c, 400, "The query parameter is required.", "sd.kb.search.error.query.required");
        return;
    }
    int highlight = sb_query_bool(c, "highlight", 0);
    int hits[64], n = sb_kb_search(q, project, hits, 64);
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    for (int i = 0; i < n; i++) {
        const sb_article_t *a = &sb_articles[hits[i]];
        /* a portal customer searches the knowledge bases of their desks */
        if (sb_is_customer(c) && !c->sb->data->projects[a->project].customers[c->user])
            continue;
        if (!sb_pager_take(&pg))
            continue;
        char excerpt[512], iframe[600];
        sb_kb_excerpt(a, q, highlight, excerpt, sizeof excerpt);
        snprintf(iframe, sizeof iframe, "%s/rest/servicedeskapi/knowledgebase/article/view/%s", c->base, a->page_id);
        json_array_append_new(pg.values, sb_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s}}", "title", a->title,
                                                 "excerpt", excerpt, "source", "type", "confluence", "pageId",
                                                 a->page_id, "spaceKey", a->space, "content", "iframeSrc", iframe));
    }
    sb_pager_send(c, &pg);
}

static void h_kb_all(sb_call_t *c)
{
    kb_search(c, -1);
}

static void h_kb_desk(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p >= 0)
        kb_search(c, p);
}

static const sb_route_t ROUTES[] = {
    {"GET", SD "/knowledgebase/article", h_kb_all, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk/knowledgebase/article", h_kb_desk, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/info", h_info, SB_FAM_JSM, SB_R_NOAUTH, 0, 0},
    {"GET", SD "/servicedesk", h_desks, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk", h_desk, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk/queue", h_queues, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/servicedesk/:desk/queue/:queue", h_queue, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/servicedesk/:desk/queue/:queue/issue", h_queue_issues, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/servicedesk/:desk/requesttype", h_rtypes, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk/requesttype/:rt", h_rtype, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk/requesttype/:rt/field", h_rtype_fields, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk/requesttypegroup", h_rtype_groups, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/servicedesk/:desk/customer", h_desk_customers, SB_FAM_JSM, SB_R_EXPERIMENTAL | SB_R_AGENT, 5, 0},
    {"POST", SD "/servicedesk/:desk/customer", h_desk_customers_change, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"DELETE", SD "/servicedesk/:desk/customer", h_desk_customers_change, SB_FAM_JSM, SB_R_EXPERIMENTAL | SB_R_AGENT, 0, 0},
    {"GET", SD "/servicedesk/:desk/organization", h_desk_orgs, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"POST", SD "/servicedesk/:desk/organization", h_desk_orgs_change, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"DELETE", SD "/servicedesk/:desk/organization", h_desk_orgs_change, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/requesttype", h_all_rtypes, SB_FAM_JSM, SB_R_EXPERIMENTAL, 0, 0},
    {"POST", SD "/customer", h_customer_create, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/organization", h_orgs, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"POST", SD "/organization", h_org_create, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/organization/:org", h_org, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"DELETE", SD "/organization/:org", h_org_delete, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/organization/:org/user", h_org_users, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"POST", SD "/organization/:org/user", h_org_users_change, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"DELETE", SD "/organization/:org/user", h_org_users_change, SB_FAM_JSM, SB_R_AGENT, 0, 0},
};

void sb_routes_jsm(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
