/* sb_routes_jsm: /rest/servicedeskapi endpoints (jsm-rest-api.md §3):
 * desks, queues, queue issues, request types and fields, customer requests,
 * request comments, SLA, approvals, participants, transitions, customers
 * and organizations. Paging is start/limit/size/isLastPage/_links. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_sla.h"
#include "sb_adf.h"
#include "buf.h"
#include "sb_pack.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_jql.h"
#include "sb_kb.h"
#include "sb_render.h"

#define SD "/rest/servicedeskapi"

static const struct {
    int id;
    const char *name;
} GROUPS[] = {{1, "Common requests"}, {2, "Access"}, {3, "Problems"}, {11, "Incidents"}, {12, "General"},
              {13, "Hardware and software"}, {14, "Changes and problems"}, {21, "Hardware"},
              {22, "Facilities and network"}};

static void expand_param(sb_call_t *c, char *out, size_t outsz);

static int desk_or_404(sb_call_t *c)
{
    int p = sb_desk_find(c->sb->data, sb_param(c, "desk"));
    if (p < 0)
        sb_err_jsm(c, 404, "The Service Desk you are trying to view does not exist.",
                   "sd.agent.servicedesk.error.servicedesk.missing");
    return p;
}


/* Users from {"accountIds":[...]} ; returns count of unknown ids. */
static int account_ids(sb_call_t *c, const json_t *b, int *out, int max, int *n)
{
    json_t *ids = json_object_get(b, "accountIds"), *v;
    size_t i;
    int bad = 0;
    *n = 0;
    json_array_foreach(ids, i, v) {
        int u = json_is_string(v) ? sb_user_find(c->sb->data, json_string_value(v)) : -1;
        if (u < 0)
            bad++;
        else if (*n < max)
            out[(*n)++] = u;
    }
    return bad;
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
            (group[0] && atoi(group) != rt->group_id))
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
    char ex[128];
    expand_param(c, ex, sizeof ex);
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

/* ---- customer requests ---- */
static void expand_param(sb_call_t *c, char *out, size_t outsz)
{
    buf_t b;
    char one[128];
    buf_init(&b, outsz - 1);
    for (int k = 0; k < 10 && httpd_query_param_nth(c->req, "expand", k, one, sizeof one) >= 0; k++) {
        if (b.len)
            buf_append_str(&b, ",");
        buf_append_str(&b, one);
    }
    snprintf(out, outsz, "%s", b.data ? b.data : "");
    buf_free(&b);
}

static void h_request_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    char ex[512];
    expand_param(c, ex, sizeof ex);
    sb_json(c, 200, sb_request_json(c, is, ex));
}

static int cmp_updated_desc(const void *a, const void *b)
{
    const sb_issue_t *x = *(sb_issue_t *const *)a, *y = *(sb_issue_t *const *)b;
    return (x->updated < y->updated) - (x->updated > y->updated);
}

static void h_requests(sb_call_t *c)
{
    sb_data_t *d = c->sb->data;
    char own[40], status[40] = "", search[200] = "", desk[32] = "", rt[16] = "", appr[40] = "", org[16] = "", ex[512];
    /* requestOwnership as the API documents it: OWNED_REQUESTS (the caller
     * reported it), PARTICIPATED_REQUESTS, ORGANIZATION (shared with the
     * organization named by organizationId, of which the caller is a member:
     * nothing without organizationId), ALL_ORGANIZATIONS (shared with any of
     * the caller's organizations), APPROVER, ALL_REQUESTS (everything the
     * caller may see; deprecated). Default: OWNED + PARTICIPATED +
     * ALL_ORGANIZATIONS, so an agent sees little by default. */
    int o_owned = 0, o_part = 0, o_org = 0, o_allorgs = 0, o_appr = 0, o_all = 0, any = 0;
    for (int k = 0; k < 8 && httpd_query_param_nth(c->req, "requestOwnership", k, own, sizeof own) >= 0; k++) {
        any = 1;
        if (!strcmp(own, "OWNED_REQUESTS"))
            o_owned = 1;
        else if (!strcmp(own, "PARTICIPATED_REQUESTS"))
            o_part = 1;
        else if (!strcmp(own, "ORGANIZATION"))
            o_org = 1;
        else if (!strcmp(own, "ALL_ORGANIZATIONS"))
            o_allorgs = 1;
        else if (!strcmp(own, "APPROVER"))
            o_appr = 1;
        else if (!strcmp(own, "ALL_REQUESTS"))
            o_all = 1;
        else {
            sb_err_jsm(c, 400, "The requestOwnership parameter is invalid.", "sd.request.list.error.ownership");
            return;
        }
    }
    if (!any)
        o_owned = o_part = o_allorgs = 1;
    sb_query(c, "requestStatus", status, sizeof status);
    if (status[0] && strcmp(status, "OPEN_REQUESTS") && strcmp(status, "CLOSED_REQUESTS") &&
        strcmp(status, "ALL_REQUESTS")) {
        sb_err_jsm(c, 400, "The requestStatus parameter must be OPEN_REQUESTS, CLOSED_REQUESTS or ALL_REQUESTS.",
                   "sd.request.list.error.status");
        return;
    }
    sb_query(c, "searchTerm", search, sizeof search);
    sb_query(c, "serviceDeskId", desk, sizeof desk);
    sb_query(c, "requestTypeId", rt, sizeof rt);
    sb_query(c, "approvalStatus", appr, sizeof appr);
    sb_query(c, "organizationId", org, sizeof org);
    expand_param(c, ex, sizeof ex);
    if (appr[0] && !o_appr) {
        sb_err_jsm(c, 400, "The approvalStatus parameter can only be used with requestOwnership APPROVER.",
                   "sd.request.list.error.approvalstatus");
        return;
    }
    int dp = desk[0] ? sb_desk_find(d, desk) : -1;
    if (desk[0] && dp < 0) {
        sb_err_jsm(c, 404, "The Service Desk you are trying to view does not exist.",
                   "sd.agent.servicedesk.error.servicedesk.missing");
        return;
    }
    long start, limit;
    sb_jsm_paging(c, 50, 100, &start, &limit);
    sb_issue_t **v = mem_alloc((size_t)(d->nissues ? d->nissues : 1) * sizeof *v);
    size_t n = 0;
    for (int i = 0; i < d->nissues; i++) {
        sb_issue_t *is = d->issues[i];
        if (is->rtype < 0 || (dp >= 0 && is->project != dp))
            continue;
        if (rt[0] && atoi(rt) != d->rtypes[is->rtype].id)
            continue;
        int done = sb_statuses[is->status].cat == SB_CAT_DONE;
        if ((!strcmp(status, "OPEN_REQUESTS") && done) || (!strcmp(status, "CLOSED_REQUESTS") && !done))
            continue;
        if (search[0] && !sb_icontains(is->summary, search))
            continue;
        if (org[0] && (is->org < 0 || d->orgs[is->org].id != atoi(org)))
            continue;
        if (!sb_visible(c, is))
            continue;
        int ok = o_all || (o_owned && is->reporter == c->user);
        for (int k = 0; !ok && o_part && k < is->nparticipants; k++)
            ok = is->participants[k] == c->user;
        for (int a = 0; !ok && o_appr && a < is->napprovals; a++)
            for (int k = 0; k < is->approvals[a].napprovers; k++)
                if (is->approvals[a].approvers[k] == c->user &&
                    (strcmp(appr, "MY_PENDING_APPROVAL") || is->approvals[a].decisions[k] == SB_PENDING) &&
                    (strcmp(appr, "MY_HISTORY_APPROVAL") || is->approvals[a].decisions[k] != SB_PENDING))
                    ok = 1;
        int member = 0;
        for (int m = 0; is->org >= 0 && m < d->orgs[is->org].nmembers; m++)
            member |= d->orgs[is->org].members[m] == c->user;
        if (!ok && member && (o_allorgs || (o_org && org[0] && d->orgs[is->org].id == atoi(org))))
            ok = 1;
        if (ok)
            v[n++] = is;
    }
    qsort(v, n, sizeof *v, cmp_updated_desc);
    json_t *arr = json_array();
    for (long i = start; i < (long)n && i < start + limit; i++)
        json_array_append_new(arr, sb_request_json(c, v[i], ex));
    free(v);
    sb_json(c, 200, sb_jsm_page(c, arr, start, limit, (long)n));
}

static void add_approval(sb_data_t *d, sb_issue_t *is, int64_t now)
{
    is->approvals = mem_calloc(1, sizeof *is->approvals);
    is->napprovals = 1;
    sb_approval_t *a = is->approvals;
    a->id = d->next_approval_id++;
    snprintf(a->name, sizeof a->name, "Please approve this request");
    a->approvers[0] = d->projects[is->project].lead;
    a->approvers[1] = d->caller;
    a->napprovers = 2;
    a->created = now;
}

/* A JSM error answered, the body freed: -1 for the caller to return. */
static int create_fail(sb_call_t *c, json_t *b, const char *msg, const char *key)
{
    json_decref(b);
    sb_err_jsm(c, 400, msg, key);
    return -1;
}

/* requestFieldValues against the request type's form: only its visible
 * fields, every required one, values of the field's type. Fills xv (site
 * custom fields) and *priority; hidden fields get their preset. */
static int check_field_values(sb_call_t *c, const sb_rtype_t *rt, const json_t *fv, sb_xval_t *xv, int *priority,
                              char *msg, size_t msgsz)
{
    const sb_data_t *d = c->sb->data;
    const char *k;
    json_t *val;
    char buf[32];
    json_object_foreach((json_t *)fv, k, val) {
        int known = 0;
        for (int i = 0; i < rt->nlayout; i++) {
            const sb_rtfield_t *lf = &rt->layout[i];
            const char *id = lf->field ? lf->field : d->xfields[lf->xf].id;
            known |= lf->visible && !strcmp(id, k);
        }
        if (!known) {
            snprintf(msg, msgsz, "The field '%.60s' is not valid for this request type.", k);
            return -1;
        }
    }
    for (int i = 0; i < rt->nlayout; i++) {
        const sb_rtfield_t *lf = &rt->layout[i];
        const char *id = lf->field ? lf->field : d->xfields[lf->xf].id;
        json_t *v = json_object_get(fv, id);
        if (!lf->visible) {
            if (!lf->field) { /* the preset value every request of the type gets */
                json_t *preset = json_string(lf->preset);
                sb_xvalue_parse(c, lf->xf, preset, &xv[lf->xf], msg, msgsz);
                json_decref(preset);
            }
            continue;
        }
        if (lf->required && (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))) {
            snprintf(msg, msgsz, "%s: You must specify a value for this field (%s).", lf->label, id);
            return -1;
        }
        if (!v || !lf->field)
            continue;
        if (!strcmp(id, "summary") && (!json_is_string(v) || json_string_length(v) > 255)) {
            snprintf(msg, msgsz, "%s: The summary must be a string of at most 255 characters.", lf->label);
            return -1;
        }
        if (!strcmp(id, "priority")) {
            *priority = sb_named_find(sb_priorities, sb_npriorities,
                                      json_is_string(v) ? json_string_value(v) : sb_ref_str(v, buf, sizeof buf));
            if (*priority < 0) {
                snprintf(msg, msgsz, "%s: Specify a valid priority.", lf->label);
                return -1;
            }
        }
    }
    for (int i = 0; i < rt->nlayout; i++) {
        const sb_rtfield_t *lf = &rt->layout[i];
        json_t *v = lf->field || !lf->visible ? NULL : json_object_get(fv, d->xfields[lf->xf].id);
        char err[240];
        if (v && sb_xvalue_parse(c, lf->xf, v, &xv[lf->xf], err, sizeof err) != 0) {
            snprintf(msg, msgsz, "%s: %s", lf->label, err);
            return -1;
        }
    }
    return 0;
}

static void h_request_create(sb_call_t *c)
{
    sb_data_t *d = c->sb->data;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    char buf[32], rbuf[32], msg[400];
    json_t *sd = json_object_get(b, "serviceDeskId"), *rtv = json_object_get(b, "requestTypeId");
    const char *sds = json_is_string(sd) ? json_string_value(sd) : NULL;
    const char *rts = json_is_string(rtv) ? json_string_value(rtv) : NULL;
    if (json_is_integer(sd))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(sd)), sds = buf;
    int p = sds ? sb_desk_find(d, sds) : -1;
    if (p < 0) {
        create_fail(c, b, "The serviceDeskId is invalid or you do not have permission to view it.",
                    "sd.request.create.error.servicedesk.invalid");
        return;
    }
    if (json_is_integer(rtv))
        snprintf(rbuf, sizeof rbuf, "%lld", (long long)json_integer_value(rtv)), rts = rbuf;
    int rt = rts ? sb_rtype_find(d, p, rts) : -1;
    if (rt < 0) {
        create_fail(c, b, "The requestTypeId is invalid or you do not have permission to view it.",
                    "sd.request.create.error.requesttype.invalid");
        return;
    }
    json_t *fv = json_object_get(b, "requestFieldValues");
    sb_xval_t xv[SB_MAX_XFIELDS];
    int priority = -1;
    memset(xv, 0, sizeof xv);
    if (check_field_values(c, &d->rtypes[rt], fv, xv, &priority, msg, sizeof msg) != 0) {
        for (int i = 0; i < SB_MAX_XFIELDS; i++)
            free(xv[i].s);
        create_fail(c, b, msg, "sd.request.create.error.field.invalid");
        return;
    }
    int reporter = c->user, parts[SB_MAX_PARTICIPANTS], np = 0;
    /* raiseOnBehalfOf and requestParticipants take accountIds only: Cloud
     * does not resolve emails or names there. */
    const char *behalf = jsontext_str(b, "raiseOnBehalfOf"), *bad_part = NULL;
    json_t *pl = json_object_get(b, "requestParticipants"), *pv;
    size_t i;
    json_array_foreach(pl, i, pv) {
        int u = json_is_string(pv) ? sb_user_find(d, json_string_value(pv)) : -1;
        if (u < 0) {
            bad_part = json_is_string(pv) ? json_string_value(pv) : "?";
            break;
        }
        if (np < SB_MAX_PARTICIPANTS)
            parts[np++] = u;
    }
    if ((behalf && (reporter = sb_user_find(d, behalf)) < 0) || bad_part) {
        const char *who = behalf && reporter < 0 ? behalf : bad_part;
        snprintf(msg, sizeof msg, "The user '%.80s' specified in %s does not exist: it takes an accountId%s.", who,
                 who == behalf ? "raiseOnBehalfOf" : "requestParticipants",
                 strchr(who, '@') ? ", not an email address" : "");
        for (int x = 0; x < SB_MAX_XFIELDS; x++)
            free(xv[x].s);
        create_fail(c, b, msg, who == behalf ? "sd.request.create.error.raiseonbehalfof.invalid"
                                             : "sd.request.create.error.participants");
        return;
    }
    json_t *desc = json_object_get(fv, "description");
    char *dtext = json_is_string(desc) ? mem_strdup(json_string_value(desc)) : sb_adf_text(desc);
    int64_t now = sb_now(c->sb);
    sb_issue_t *is = sb_issue_create(d, p, d->rtypes[rt].issuetype, rt, reporter, jsontext_str(fv, "summary"), dtext, now);
    free(dtext);
    if (!is) {
        for (int x = 0; x < SB_MAX_XFIELDS; x++)
            free(xv[x].s);
        json_decref(b);
        sb_err_jsm(c, 413, "The site has reached its request limit.", "sd.request.create.error.limit");
        return;
    }
    memcpy(is->xv, xv, sizeof xv);
    is->creator = c->user;
    is->indexed_at = now + c->sb->cfg.search_lag_ms;
    if (priority >= 0)
        is->priority = priority;
    memcpy(is->participants, parts, (size_t)np * sizeof(int));
    is->nparticipants = np;
    if (d->rtypes[rt].approval)
        add_approval(d, is, now);
    json_decref(b);
    sb_json(c, 201, sb_request_json(c, is, NULL));
}

/* ---- request comments ---- */
static void h_req_comments(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    int pub = sb_query_bool(c, "public", 1), internal = sb_query_bool(c, "internal", 1) && !sb_is_customer(c);
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    for (int i = 0; i < is->ncomments; i++) {
        const sb_comment_t *cm = &is->comments[i];
        if ((cm->public_ && !pub) || (!cm->public_ && !internal))
            continue;
        if (sb_pager_take(&pg))
            json_array_append_new(pg.values, sb_jsm_comment_json(c, is, cm));
    }
    sb_pager_send(c, &pg);
}

static void h_req_comment(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    long id = strtol(sb_param(c, "id"), NULL, 10);
    for (int i = 0; i < is->ncomments; i++)
        if (is->comments[i].id == id) {
            sb_json(c, 200, sb_jsm_comment_json(c, is, &is->comments[i]));
            return;
        }
    sb_err_jsm(c, 404, "The comment you are trying to view does not exist.", "sd.comment.error.not.found");
}

static void h_req_comment_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *body = json_object_get(b, "body"), *pub = json_object_get(b, "public");
    if (!json_is_string(body) || !json_string_length(body)) {
        json_decref(b);
        sb_err_jsm(c, 400, "The comment body cannot be empty.", "sd.comment.error.body.empty");
        return;
    }
    if (!json_is_boolean(pub)) {
        json_decref(b);
        sb_err_jsm(c, 400, "The 'public' field is required and must be true or false.", "sd.comment.error.public.required");
        return;
    }
    if (!json_is_true(pub) && sb_is_customer(c)) {
        json_decref(b);
        sb_err_jsm(c, 400, "Customers can only add public comments.", "sd.comment.error.customer.internal");
        return;
    }
    if (json_string_length(body) >= SB_MAX_TEXT) {
        json_decref(b);
        sb_err_jsm(c, 400, "The comment is too long.", "sd.comment.error.body.too.long");
        return;
    }
    sb_comment_t *cm = sb_comment_add(c->sb->data, is, c->user, json_string_value(body), NULL, json_is_true(pub),
                                      sb_now(c->sb));
    json_decref(b);
    if (!cm) {
        sb_err_jsm(c, 413, "The request has reached the maximum number of comments.", "sd.comment.error.limit");
        return;
    }
    sb_json(c, 201, sb_jsm_comment_json(c, is, cm));
}

/* ---- SLA, status, approvals, participants, transitions ---- */
static json_t *sla_item(const sb_call_t *c, const void *is, long m)
{
    return sb_sla_json(c, is, (int)m);
}

static void h_sla(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    sb_jsm_list(c, 50, 100, SB_NSLA, sla_item, is);
}

static void h_sla_one(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    long m = strtol(sb_param(c, "sla"), NULL, 10);
    if (m < 1 || m > SB_NSLA) {
        sb_err_jsm(c, 404, "The SLA metric you are trying to view does not exist.", "sd.sla.error.metric.not.found");
        return;
    }
    sb_json(c, 200, sb_sla_json(c, is, (int)m - 1));
}

/* The statuses the request went through, most recent (current) first, as
 * the API documents: one per status change, then the status it was created in. */
static void h_status_history(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    sb_pager_t pg;
    sb_pager_init(c, &pg, 50, 100);
    const char *first = NULL;
    for (int h = is->nhistory - 1; h >= 0; h--)
        for (int i = is->history[h].nitems - 1; i >= 0; i--) {
            const sb_change_item_t *it = &is->history[h].items[i];
            if (strcmp(it->field, "status") != 0)
                continue;
            int st = sb_status_find(it->to);
            first = it->from;
            if (st >= 0 && sb_pager_take(&pg))
                json_array_append_new(pg.values, sb_pack("{s:s, s:o, s:o}", "status", sb_statuses[st].name,
                                                         "statusCategory", sb_status_category_jsm(st), "statusDate",
                                                         sb_date_dto(is->history[h].created)));
        }
    int st0 = first ? sb_status_find(first) : is->status;
    if (st0 >= 0 && sb_pager_take(&pg))
        json_array_append_new(pg.values, sb_pack("{s:s, s:o, s:o}", "status", sb_statuses[st0].name, "statusCategory",
                                                 sb_status_category_jsm(st0), "statusDate", sb_date_dto(is->created)));
    sb_pager_send(c, &pg);
}

static json_t *approval_item(const sb_call_t *c, const void *ud, long i)
{
    const sb_issue_t *is = ud;
    return sb_approval_json(c, is, &is->approvals[i]);
}

static void h_approvals(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    sb_jsm_list(c, 50, 100, is->napprovals, approval_item, is);
}

static sb_approval_t *approval_or_404(sb_call_t *c, sb_issue_t *is)
{
    long id = strtol(sb_param(c, "approval"), NULL, 10);
    for (int i = 0; i < is->napprovals; i++)
        if (is->approvals[i].id == id)
            return &is->approvals[i];
    sb_err_jsm(c, 404, "The approval you are trying to view does not exist.", "sd.approval.error.not.found");
    return NULL;
}

static void h_approval(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    sb_approval_t *a = is ? approval_or_404(c, is) : NULL;
    if (a)
        sb_json(c, 200, sb_approval_json(c, is, a));
}

static void h_approval_answer(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    sb_approval_t *a = is ? approval_or_404(c, is) : NULL;
    if (!a)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    const char *dec = jsontext_str(b, "decision");
    int d = dec && !strcmp(dec, "approve") ? SB_APPROVED : dec && !strcmp(dec, "decline") ? SB_DECLINED : -1;
    json_decref(b);
    if (d < 0) {
        sb_err_jsm(c, 400, "The decision must be 'approve' or 'decline'.", "sd.approval.error.decision.invalid");
        return;
    }
    int slot = -1;
    for (int i = 0; i < a->napprovers; i++)
        if (a->approvers[i] == c->user)
            slot = i;
    if (slot < 0 || a->final != SB_PENDING || a->decisions[slot] != SB_PENDING) {
        sb_err_jsm(c, 409, "You cannot answer this approval: it is already decided or you are not an approver.",
                   "sd.approval.error.cannot.answer");
        return;
    }
    int64_t now = sb_now(c->sb);
    a->decisions[slot] = d;
    a->final = d; /* one approver decides, JSM's default "1 approver" rule */
    a->completed = now;
    is->updated = now;
    sb_json(c, 200, sb_approval_json(c, is, a));
}

static void participants_page(sb_call_t *c, sb_issue_t *is)
{
    sb_jsm_list(c, 50, 100, is->nparticipants, sb_user_dto_item, is->participants);
}

static void h_participants(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (is)
        participants_page(c, is);
}

static void h_participants_change(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    int users[SB_MAX_PARTICIPANTS], n;
    int bad = account_ids(c, b, users, SB_MAX_PARTICIPANTS, &n);
    json_decref(b);
    if (bad) {
        sb_err_jsm(c, 400, "One or more of the accountIds are not valid users.", "sd.participants.error.invalid.user");
        return;
    }
    int add = !strcmp(httpd_req_method(c->req), "POST");
    for (int i = 0; i < n; i++) {
        int at = -1;
        for (int k = 0; k < is->nparticipants; k++)
            if (is->participants[k] == users[i])
                at = k;
        if (add && at < 0 && is->nparticipants < SB_MAX_PARTICIPANTS)
            is->participants[is->nparticipants++] = users[i];
        else if (!add && at >= 0)
            memmove(&is->participants[at], &is->participants[at + 1],
                    (size_t)(--is->nparticipants - at) * sizeof(int));
    }
    is->updated = sb_now(c->sb);
    participants_page(c, is);
}

static json_t *transition_item(const sb_call_t *c, const void *ud, long i)
{
    const int *t = ud;
    (void)c;
    return sb_pack("{s:s, s:s}", "id", sb_transitions[t[i]].id, "name", sb_transitions[t[i]].name);
}

/* Customer transitions: the ones the portal offers (resolve, cancel,
 * reopen), with no screen; the workflow's post functions set resolutions. */
static void h_req_transitions(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    int t[16], n = sb_customer_transitions_for(is, t, 16);
    sb_jsm_list(c, 50, 100, n, transition_item, t);
}

static void h_req_transition_do(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    const char *id = jsontext_str(b, "id");
    int t[16], n = sb_customer_transitions_for(is, t, 16), found = -1;
    for (int i = 0; id && i < n; i++)
        if (!strcmp(sb_transitions[t[i]].id, id))
            found = t[i];
    json_t *ac = json_object_get(b, "additionalComment");
    const char *body = jsontext_str(ac, "body");
    if (found < 0 || (ac && (!body || strlen(body) >= SB_MAX_TEXT))) {
        json_decref(b);
        sb_err_jsm(c, 400,
                   found < 0 ? "The transition is not valid for this request."
                             : "additionalComment.body must be a string of at most 32,767 characters.",
                   found < 0 ? "sd.request.transition.error.invalid" : "sd.comment.error.body.invalid");
        return;
    }
    int64_t now = sb_now(c->sb);
    sb_issue_set_status(c->sb->data, is, sb_transitions[found].to, SB_RES_AUTO, c->user, now);
    if (body && *body) /* a public comment, as the portal posts it */
        sb_comment_add(c->sb->data, is, c->user, body, NULL, 1, now);
    json_decref(b);
    sb_no_content(c);
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
    int bad = account_ids(c, b, users, SB_MAX_USERS, &n);
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
    int bad = account_ids(c, b, users, SB_MAX_USERS, &n);
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
    {"GET", SD "/request", h_requests, SB_FAM_JSM, 0, 0, 0},
    {"POST", SD "/request", h_request_create, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/request/:key", h_request_get, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/request/:key/comment", h_req_comments, SB_FAM_JSM, 0, 0, 0},
    {"POST", SD "/request/:key/comment", h_req_comment_add, SB_FAM_JSM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", SD "/request/:key/comment/:id", h_req_comment, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/request/:key/sla", h_sla, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/request/:key/sla/:sla", h_sla_one, SB_FAM_JSM, SB_R_AGENT, 0, 0},
    {"GET", SD "/request/:key/status", h_status_history, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/request/:key/approval", h_approvals, SB_FAM_JSM, 0, 0, 0},
    {"GET", SD "/request/:key/approval/:approval", h_approval, SB_FAM_JSM, 0, 0, 0},
    {"POST", SD "/request/:key/approval/:approval", h_approval_answer, SB_FAM_JSM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", SD "/request/:key/participant", h_participants, SB_FAM_JSM, 0, 0, 0},
    {"POST", SD "/request/:key/participant", h_participants_change, SB_FAM_JSM, SB_R_ISSUE_WRITE, 0, 0},
    {"DELETE", SD "/request/:key/participant", h_participants_change, SB_FAM_JSM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", SD "/request/:key/transition", h_req_transitions, SB_FAM_JSM, 0, 0, 0},
    {"POST", SD "/request/:key/transition", h_req_transition_do, SB_FAM_JSM, SB_R_ISSUE_WRITE, 0, 0},
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
