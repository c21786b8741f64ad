/* sb_routes_jsm: /rest/servicedeskapi endpoints (jsm-rest-api.md §3):
 * desks, queues, queue issues, request types and fields, customer requests,
 * request comments, SLA, approvals, participants, transitions, customers
 * and organizations. Paging is start/limit/size/isLastPage/_links. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "sb_pack.h"
#include "ju.h"
#include "sb.h"
#include "sb_jql.h"
#include "sb_render.h"

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

static void h_rtype_fields(sb_call_t *c)
{
    int p = desk_or_404(c);
    if (p < 0)
        return;
    const sb_rtype_t *rt = rtype_or_404(c, p);
    if (!rt)
        return;
    json_t *prio = json_array();
    for (int i = 0; i < sb_npriorities; i++)
        json_array_append_new(prio, sb_pack("{s:s, s:s, s:[]}", "value", sb_priorities[i].id, "label",
                                              sb_priorities[i].name, "children"));
    json_t *f = sb_pack("[{s:s, s:s, s:s, s:b, s:b, s:[], s:[], s:{s:s, s:s}},"
                          " {s:s, s:s, s:s, s:b, s:b, s:[], s:[], s:{s:s, s:s}},"
                          " {s:s, s:s, s:s, s:b, s:b, s:o, s:[], s:{s:s, s:s}}]",
                          "fieldId", "summary", "name", "Summary", "description", "A short summary of your request",
                          "required", 1, "visible", 1, "validValues", "defaultValues", "jiraSchema", "type", "string",
                          "system", "summary", "fieldId", "description", "name", "Description", "description",
                          "Tell us more about your request", "required", 0, "visible", 1, "validValues",
                          "defaultValues", "jiraSchema", "type", "string", "system", "description", "fieldId",
                          "priority", "name", "Priority", "description", "How urgent is it?", "required", 0, "visible",
                          1, "validValues", prio, "defaultValues", "jiraSchema", "type", "priority", "system",
                          "priority");
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
    int o_owned = 0, o_part = 0, o_org = 0, o_appr = 0, o_all = 0, any = 0;
    for (int k = 0; k < 8 && httpd_query_param_nth(c->req, "requestOwnership", k, own, sizeof own) >= 0; k++) {
        any = 1;
        if (!strcmp(own, "OWNED_REQUESTS"))
            o_owned = 1;
        else if (!strcmp(own, "PARTICIPATED_REQUESTS"))
            o_part = 1;
        else if (!strcmp(own, "ORGANIZATION") || !strcmp(own, "ALL_ORGANIZATIONS"))
            o_org = 1;
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
        o_owned = o_part = o_org = 1;
    sb_query(c, "requestStatus", status, sizeof status);
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
        int ok = o_all || (o_owned && is->reporter == c->user);
        for (int k = 0; !ok && o_part && k < is->nparticipants; k++)
            ok = is->participants[k] == c->user;
        for (int a = 0; !ok && o_appr && a < is->napprovals; a++)
            for (int k = 0; k < is->approvals[a].napprovers; k++)
                if (is->approvals[a].approvers[k] == c->user &&
                    (strcmp(appr, "MY_PENDING_APPROVAL") || is->approvals[a].decisions[k] == SB_PENDING) &&
                    (strcmp(appr, "MY_HISTORY_APPROVAL") || is->approvals[a].decisions[k] != SB_PENDING))
                    ok = 1;
        if (!ok && o_org && is->org >= 0)
            for (int m = 0; m < d->orgs[is->org].nmembers; m++)
                ok |= d->orgs[is->org].members[m] == c->user;
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

static void h_request_create(sb_call_t *c)
{
    sb_data_t *d = c->sb->data;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    char buf[32];
    json_t *sd = json_object_get(b, "serviceDeskId"), *rtv = json_object_get(b, "requestTypeId");
    const char *sds = json_is_string(sd) ? json_string_value(sd) : NULL;
    const char *rts = json_is_string(rtv) ? json_string_value(rtv) : NULL;
    if (json_is_integer(sd))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(sd)), sds = buf;
    int p = sds ? sb_desk_find(d, sds) : -1;
    if (p < 0) {
        json_decref(b);
        sb_err_jsm(c, 400, "The serviceDeskId is invalid or you do not have permission to view it.",
                   "sd.request.create.error.servicedesk.invalid");
        return;
    }
    char rbuf[32];
    if (json_is_integer(rtv))
        snprintf(rbuf, sizeof rbuf, "%lld", (long long)json_integer_value(rtv)), rts = rbuf;
    int rt = rts ? sb_rtype_find(d, p, rts) : -1;
    if (rt < 0) {
        json_decref(b);
        sb_err_jsm(c, 400, "The requestTypeId is invalid or you do not have permission to view it.",
                   "sd.request.create.error.requesttype.invalid");
        return;
    }
    json_t *fv = json_object_get(b, "requestFieldValues");
    const char *summary = ju_str(fv, "summary");
    json_t *desc = json_object_get(fv, "description");
    const char *k;
    json_t *val;
    json_object_foreach(fv, k, val) {
        if (strcmp(k, "summary") && strcmp(k, "description") && strcmp(k, "priority")) {
            char msg[200];
            snprintf(msg, sizeof msg, "The field '%.60s' is not valid for this request type.", k);
            json_decref(b);
            sb_err_jsm(c, 400, msg, "sd.request.create.error.field.invalid");
            return;
        }
    }
    if (!summary || !*summary || strlen(summary) > 255) {
        json_decref(b);
        sb_err_jsm(c, 400, "Summary: You must specify a summary of the issue.", "sd.request.create.error.summary.required");
        return;
    }
    int reporter = c->user;
    const char *behalf = ju_str(b, "raiseOnBehalfOf");
    if (behalf) {
        reporter = sb_user_find_any(d, behalf);
        if (reporter < 0) {
            json_decref(b);
            sb_err_jsm(c, 400, "The user specified in raiseOnBehalfOf does not exist.",
                       "sd.request.create.error.raiseonbehalfof.invalid");
            return;
        }
    }
    int parts[SB_MAX_PARTICIPANTS], np = 0;
    json_t *pl = json_object_get(b, "requestParticipants"), *pv;
    size_t i;
    json_array_foreach(pl, i, pv) {
        int u = json_is_string(pv) ? sb_user_find_any(d, json_string_value(pv)) : -1;
        if (u < 0) {
            json_decref(b);
            sb_err_jsm(c, 400, "One or more request participants do not exist.", "sd.request.create.error.participants");
            return;
        }
        if (np < SB_MAX_PARTICIPANTS)
            parts[np++] = u;
    }
    char *dtext = json_is_string(desc) ? mem_strdup(json_string_value(desc)) : sb_adf_text(desc);
    int64_t now = sb_now(c->sb);
    sb_issue_t *is = sb_issue_create(d, p, d->rtypes[rt].issuetype, rt, reporter, summary, dtext, now);
    free(dtext);
    if (!is) {
        json_decref(b);
        sb_err_jsm(c, 413, "The site has reached its request limit.", "sd.request.create.error.limit");
        return;
    }
    is->creator = c->user;
    is->indexed_at = now + c->sb->cfg.search_lag_ms;
    json_t *prio = json_object_get(fv, "priority");
    int pr = sb_named_find(sb_priorities, sb_npriorities, json_is_string(prio) ? json_string_value(prio) : ju_str(prio, "id") ? ju_str(prio, "id") : ju_str(prio, "name"));
    if (pr >= 0)
        is->priority = pr;
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

static void h_status_history(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    long start, limit;
    sb_jsm_paging(c, 50, 100, &start, &limit);
    json_t *v = json_array();
    if (start == 0)
        json_array_append_new(v, sb_pack("{s:s, s:o, s:o}", "status", sb_statuses[is->status].name, "statusCategory",
                                           sb_status_category_jsm(is->status), "statusDate",
                                           sb_date_dto(is->status_changed)));
    sb_json(c, 200, sb_jsm_page(c, v, start, limit, 1));
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
    const char *dec = ju_str(b, "decision");
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

static void h_req_transitions(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    int t[16], n = sb_transitions_for(is, t, 16);
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
    const char *id = ju_str(b, "id");
    int t[16], n = sb_transitions_for(is, t, 16), found = -1;
    for (int i = 0; id && i < n; i++)
        if (!strcmp(sb_transitions[t[i]].id, id))
            found = t[i];
    if (found < 0) {
        json_decref(b);
        sb_err_jsm(c, 400, "The transition is not valid for this request.", "sd.request.transition.error.invalid");
        return;
    }
    int64_t now = sb_now(c->sb);
    sb_issue_set_status(is, sb_transitions[found].to, now);
    const char *body = ju_str(json_object_get(b, "additionalComment"), "body");
    if (body && *body && strlen(body) < SB_MAX_TEXT)
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
    const char *email = ju_str(b, "email");
    const char *name = ju_str(b, "displayName") ? ju_str(b, "displayName") : ju_str(b, "fullName");
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
        if (q[0] && !sb_icontains(d->users[u].display_name, q) && !sb_icontains(d->users[u].email, q))
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
    const char *name = ju_str(b, "name");
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
    long id = (long)ju_int(b, "organizationId", -1);
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

static const sb_route_t ROUTES[] = {
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
