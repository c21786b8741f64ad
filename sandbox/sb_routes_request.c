/* sb_routes_request: see sb_routes_request.h. */
#include "sb_routes_request.h"

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
#include "sb_render_jsm.h"
#include "sb_render_sd.h"

#define SD "/rest/servicedeskapi"

/* ---- customer requests ---- */

static void h_request_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    char ex[512];
    if (sb_expand_param(c, ex, sizeof ex) != 0)
        return;
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
    if (sb_expand_param(c, ex, sizeof ex) != 0)
        return;
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
        if (rt[0] && strtol(rt, NULL, 10) != d->rtypes[is->rtype].id)
            continue;
        int done = sb_statuses[is->status].cat == SB_CAT_DONE;
        if ((!strcmp(status, "OPEN_REQUESTS") && done) || (!strcmp(status, "CLOSED_REQUESTS") && !done))
            continue;
        if (search[0] && !sb_icontains(is->summary, search))
            continue;
        if (org[0] && (is->org < 0 || d->orgs[is->org].id != strtol(org, NULL, 10)))
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
        if (!ok && member && (o_allorgs || (o_org && org[0] && d->orgs[is->org].id == strtol(org, NULL, 10))))
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
    int too_long = 0;
    char *dtext = json_is_string(desc) ? mem_strdup(json_string_value(desc)) : sb_adf_text(desc, &too_long);
    if (too_long) { /* refused before the request exists, never kept cut */
        for (int x = 0; x < SB_MAX_XFIELDS; x++)
            free(xv[x].s);
        create_fail(c, b, "The entered text is too long. It exceeds the allowed limit of 32,767 characters.",
                    "sd.request.create.error.description.too.long");
        return;
    }
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
    int bad = sb_account_ids(c, b, users, SB_MAX_PARTICIPANTS, &n);
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

static const sb_route_t ROUTES[] = {
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
};

void sb_routes_request(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
