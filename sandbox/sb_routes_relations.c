/* sb_routes_relations: an issue's history and relations, and the site's
 * shape an agent needs to fill forms (platform v3):
 *   GET  issue/{key}/changelog                 PageBeanChangelog (oldest first)
 *   GET|POST|DELETE issue/{key}/watchers       Watchers; POST body: "accountId" (a JSON string)
 *   POST issueLink, GET|DELETE issueLink/{id}  links ("A blocks B": inwardIssue A, outwardIssue B)
 *   GET  issueLinkType[/{id}]
 *   GET  project/search                        PageBeanProject (query, keys, typeKey, orderBy)
 *   GET  user/groups?accountId=                [GroupName]
 *   GET  field/{id}/context[/projectmapping]   where a custom field applies
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_adf.h"
#include "buf.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_pack.h"
#include "sb_render.h"

/* ---- changelog ---- */
static void h_changelog(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    long start, max;
    sb_platform_paging(c, 100, 100, &start, &max);
    json_t *v = json_array();
    for (long i = start; i < is->nhistory && i < start + max; i++)
        json_array_append_new(v, sb_change_json(c, &is->history[i]));
    int last = start + (long)json_array_size(v) >= is->nhistory;
    char self[700];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%s/changelog?maxResults=%ld&startAt=%ld", c->base, is->key, max,
             start);
    json_t *r = sb_pack("{s:s, s:I, s:I, s:I, s:b, s:o}", "self", self, "maxResults", (json_int_t)max, "startAt",
                        (json_int_t)start, "total", (json_int_t)is->nhistory, "isLast", last, "values", v);
    if (!last) {
        char next[700];
        snprintf(next, sizeof next, "%s/rest/api/3/issue/%s/changelog?maxResults=%ld&startAt=%ld", c->base, is->key,
                 max, start + max);
        json_object_set_new(r, "nextPage", json_string(next));
    }
    sb_json(c, 200, r);
}

/* ---- watchers ---- */
static void h_watchers(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%s/watchers", c->base, is->key);
    json_t *w = json_array();
    int me = 0;
    for (int i = 0; i < is->nwatchers; i++) {
        json_array_append_new(w, sb_user_json(c, is->watchers[i]));
        me |= is->watchers[i] == c->user;
    }
    sb_json(c, 200, sb_pack("{s:s, s:b, s:i, s:o}", "self", self, "isWatching", me, "watchCount", is->nwatchers,
                            "watchers", w));
}

/* The body is the accountId as a JSON string; an empty body adds the caller. */
static void h_watcher_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    size_t len;
    httpd_req_body(c->req, &len);
    int u = c->user;
    if (len) {
        json_t *b = sb_body_json(c);
        if (!b)
            return;
        u = json_is_string(b) ? sb_user_find(c->sb->data, json_string_value(b)) : -2;
        json_decref(b);
        if (u == -2) {
            sb_err_platform(c, 400, "The request body must be an accountId as a JSON string, e.g. \"5b10ac8d82e05b22cc7d4ef5\".");
            return;
        }
        if (u < 0) {
            sb_err_platform(c, 404, "The user does not exist or you do not have permission to view it.");
            return;
        }
    }
    if (sb_watcher_add(is, u) != 0) {
        sb_err_platform(c, 413, "The issue has reached the maximum number of watchers.");
        return;
    }
    sb_no_content(c);
}

static void h_watcher_remove(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    char acc[100];
    int u = sb_query(c, "accountId", acc, sizeof acc) >= 0 ? sb_user_find(c->sb->data, acc) : -1;
    if (u < 0) {
        sb_err_platform(c, 400, "The query parameter 'accountId' must name an existing user.");
        return;
    }
    sb_watcher_remove(is, u);
    sb_no_content(c);
}

/* ---- links ---- */
static void h_linktypes(sb_call_t *c)
{
    json_t *a = json_array();
    for (int i = 0; i < sb_nlinktypes; i++)
        json_array_append_new(a, sb_linktype_json(c, i));
    sb_json(c, 200, sb_pack("{s:o}", "issueLinkTypes", a));
}

static void h_linktype(sb_call_t *c)
{
    int t = sb_linktype_find(sb_param(c, "id"));
    if (t < 0 || strcmp(sb_linktypes[t].id, sb_param(c, "id")) != 0) {
        sb_err_platform(c, 404, "No issue link type with this id was found.");
        return;
    }
    sb_json(c, 200, sb_linktype_json(c, t));
}

static sb_issue_t *linked_or_null(sb_call_t *c, const json_t *ref)
{
    char buf[32];
    sb_issue_t *is = sb_issue_find(c->sb->data, sb_ref_str(ref, buf, sizeof buf));
    return is && sb_visible(c, is) ? is : NULL;
}

/* {"type":{"name"|"id"}, "inwardIssue":{"key"}, "outwardIssue":{"key"},
 * "comment"?}: "<inwardIssue> <type's outward phrase> <outwardIssue>"
 * ("A blocks B"). 201 with no body; an existing link is not doubled. */
static void h_link_create(sb_call_t *c)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *type = json_object_get(b, "type");
    int t = sb_linktype_find(jsontext_str(type, "id") ? jsontext_str(type, "id") : jsontext_str(type, "name"));
    /* from: the issue the type's outward phrase describes ("from blocks to") */
    sb_issue_t *from = linked_or_null(c, json_object_get(b, "inwardIssue"));
    sb_issue_t *to = linked_or_null(c, json_object_get(b, "outwardIssue"));
    json_t *comment = json_object_get(json_object_get(b, "comment"), "body");
    int too_long = 0;
    char *ctext = comment ? sb_adf_text(comment, &too_long) : NULL;
    const char *msg = t < 0 ? "No issue link type with this name or id was found."
                      : !from || !to ? "Issue does not exist or you do not have permission to see it."
                      : from == to ? "You cannot link an issue to itself."
                      : too_long ? "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
                      : comment && (!ctext || !*ctext) ? "The comment must be an Atlassian Document with some text."
                      : NULL;
    if (msg) {
        free(ctext);
        json_decref(b);
        sb_err_platform(c, t < 0 || !from || !to ? 404 : 400, msg);
        return;
    }
    sb_data_t *d = c->sb->data;
    int exists = 0;
    for (int i = 0; i < d->nlinks; i++)
        exists |= !d->links[i].deleted && d->links[i].type == t && d->links[i].outward == from->index &&
                  d->links[i].inward == to->index;
    int64_t now = sb_now(c->sb);
    if (!exists && sb_link_add(d, t, from->index, to->index) < 0) {
        free(ctext);
        json_decref(b);
        sb_err_platform(c, 413, "The site has reached its issue link limit.");
        return;
    }
    if (!exists) { /* both issues' history say so */
        char text[200];
        snprintf(text, sizeof text, "This issue %s %s", sb_linktypes[t].outward, to->key);
        sb_change_t *ch = sb_history_begin(d, from, c->user, now);
        if (ch)
            sb_history_item(ch, "Link", NULL, 0, NULL, NULL, to->key, text);
        snprintf(text, sizeof text, "This issue %s %s", sb_linktypes[t].inward, from->key);
        if ((ch = sb_history_begin(d, to, c->user, now)))
            sb_history_item(ch, "Link", NULL, 0, NULL, NULL, from->key, text);
    }
    if (ctext) /* the API documents the comment on the outwardIssue */
        sb_comment_add(d, to, c->user, ctext, comment, 1, now);
    free(ctext);
    json_decref(b);
    httpd_respond(c->req, 201, NULL, "", 0);
}

static sb_link_t *link_or_404(sb_call_t *c)
{
    char *end;
    long id = strtol(sb_param(c, "id"), &end, 10);
    sb_data_t *d = c->sb->data;
    for (int i = 0; !*end && i < d->nlinks; i++) {
        sb_link_t *l = &d->links[i];
        if (l->id == id && !l->deleted && sb_visible(c, d->issues[l->outward]) && sb_visible(c, d->issues[l->inward]))
            return l;
    }
    sb_err_platform(c, 404, "No issue link with this id exists.");
    return NULL;
}

static void h_link(sb_call_t *c)
{
    sb_link_t *l = link_or_404(c);
    if (l)
        sb_json(c, 200, sb_issuelink_json(c, l, -1));
}

static void h_link_delete(sb_call_t *c)
{
    sb_link_t *l = link_or_404(c);
    if (!l)
        return;
    l->deleted = 1;
    sb_no_content(c);
}

/* ---- projects ---- */
/* Order of two projects: by key or name (by_name), descending when desc. */
static int project_before(const sb_project_t *x, const sb_project_t *y, int by_name, int desc)
{
    int r = by_name ? strcasecmp(x->name, y->name) : strcmp(x->key, y->key);
    return desc ? r > 0 : r < 0;
}

/* The projects the caller can browse: every one for an agent, the desks a
 * customer is a customer of otherwise. */
static void h_project_search(sb_call_t *c)
{
    const sb_data_t *d = c->sb->data;
    char q[128] = "", type[32] = "", order[32] = "key", keys[512] = "", one[64];
    sb_query(c, "query", q, sizeof q);
    sb_query(c, "typeKey", type, sizeof type);
    if (sb_query(c, "orderBy", order, sizeof order) < 0 || !order[0])
        snprintf(order, sizeof order, "key");
    for (int k = 0; k < 20 && httpd_query_param_nth(c->req, "keys", k, one, sizeof one) >= 0; k++)
        if (strlen(keys) + strlen(one) + 2 < sizeof keys)
            snprintf(keys + strlen(keys), sizeof keys - strlen(keys), ",%s,", one);
    const char *ob = order[0] == '-' || order[0] == '+' ? order + 1 : order;
    if (strcmp(ob, "key") && strcmp(ob, "name")) {
        sb_err_platform(c, 400, "orderBy must be key or name, optionally with + or - (other orders are not simulated).");
        return;
    }
    int idx[64], n = 0;
    for (int p = 0; p < d->nprojects && n < 64; p++) {
        const sb_project_t *pr = &d->projects[p];
        char ck[32];
        snprintf(ck, sizeof ck, ",%s,", pr->key);
        if ((sb_is_customer(c) && !pr->customers[c->user]) || (type[0] && strcmp(type, "service_desk")) ||
            (q[0] && !sb_icontains(pr->key, q) && !sb_icontains(pr->name, q)) || (keys[0] && !strstr(keys, ck)))
            continue;
        idx[n++] = p;
    }
    for (int i = 1; i < n; i++) /* a handful of projects: insertion sort */
        for (int k = i; k > 0 && project_before(&d->projects[idx[k]], &d->projects[idx[k - 1]], !strcmp(ob, "name"),
                                                 order[0] == '-'); k--) {
            int t = idx[k];
            idx[k] = idx[k - 1];
            idx[k - 1] = t;
        }
    long start, max;
    sb_platform_paging(c, 50, 100, &start, &max);
    json_t *v = json_array();
    for (long i = start; i < n && i < start + max; i++) {
        json_t *pj = sb_project_json(c, idx[i]);
        json_object_set_new(pj, "style", json_string("classic"));
        json_object_set_new(pj, "isPrivate", json_false());
        json_array_append_new(v, pj);
    }
    int last = start + (long)json_array_size(v) >= n;
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/project/search?startAt=%ld&maxResults=%ld", c->base, start, max);
    json_t *r = sb_pack("{s:s, s:I, s:I, s:I, s:b, s:o}", "self", self, "maxResults", (json_int_t)max, "startAt",
                        (json_int_t)start, "total", (json_int_t)n, "isLast", last, "values", v);
    if (!last) {
        char next[600];
        snprintf(next, sizeof next, "%s/rest/api/3/project/search?startAt=%ld&maxResults=%ld", c->base, start + max, max);
        json_object_set_new(r, "nextPage", json_string(next));
    }
    sb_json(c, 200, r);
}

/* ---- users' groups ---- */
static void h_user_groups(sb_call_t *c)
{
    int u = sb_user_param_or_error(c);
    if (u < 0)
        return;
    sb_json(c, 200, sb_groups_json(c, u));
}

/* ---- custom field contexts ---- */
/* The site custom field named by param "field", or -1 having answered 404. */
static int xfield_or_404(sb_call_t *c)
{
    int xf = sb_xfield_find(c->sb->data, sb_param(c, "field"));
    if (xf < 0)
        sb_err_platform(c, 404, "The custom field was not found.");
    return xf;
}

/* A PageBean holding all of v (one item here). */
static void one_page(sb_call_t *c, json_t *v)
{
    sb_json(c, 200, sb_pack("{s:i, s:i, s:I, s:b, s:o}", "maxResults", 50, "startAt", 0, "total",
                            (json_int_t)json_array_size(v), "isLast", 1, "values", v));
}

/* One context per field: global, or the one project its context covers. */
static void h_field_contexts(sb_call_t *c)
{
    int xf = xfield_or_404(c);
    if (xf < 0)
        return;
    const sb_xfield_t *f = &c->sb->data->xfields[xf];
    char id[16], name[120];
    snprintf(id, sizeof id, "%d", 10100 + xf);
    snprintf(name, sizeof name, "%s context", f->project < 0 ? "Default Configuration Scheme for" : "Project");
    json_t *v = sb_pack("[{s:s, s:s, s:s, s:b, s:b}]", "id", id, "name", name, "description", "", "isGlobalContext",
                        f->project < 0, "isAnyIssueType", 1);
    one_page(c, v);
}

static void h_field_context_projects(sb_call_t *c)
{
    int xf = xfield_or_404(c);
    if (xf < 0)
        return;
    const sb_xfield_t *f = &c->sb->data->xfields[xf];
    char id[16], pid[16];
    snprintf(id, sizeof id, "%d", 10100 + xf);
    json_t *v = json_array();
    if (f->project < 0) {
        json_array_append_new(v, sb_pack("{s:s, s:b}", "contextId", id, "isGlobalContext", 1));
    } else {
        snprintf(pid, sizeof pid, "%d", c->sb->data->projects[f->project].id);
        json_array_append_new(v, sb_pack("{s:s, s:s, s:b}", "contextId", id, "projectId", pid, "isGlobalContext", 0));
    }
    one_page(c, v);
}

static const sb_route_t ROUTES[] = {
    {"GET", "/rest/api/3/issue/:key/changelog", h_changelog, SB_FAM_PLATFORM, 0, 200, 0},
    {"GET", "/rest/api/3/issue/:key/watchers", h_watchers, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/watchers", h_watcher_add, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"DELETE", "/rest/api/3/issue/:key/watchers", h_watcher_remove, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"POST", "/rest/api/3/issueLink", h_link_create, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issueLink/:id", h_link, SB_FAM_PLATFORM, 0, 0, 0},
    {"DELETE", "/rest/api/3/issueLink/:id", h_link_delete, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issueLinkType", h_linktypes, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issueLinkType/:id", h_linktype, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/project/search", h_project_search, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/user/groups", h_user_groups, SB_FAM_PLATFORM, 0, 0, 3},
    {"GET", "/rest/api/3/field/:field/context", h_field_contexts, SB_FAM_PLATFORM, SB_R_AGENT, 0, 0},
    {"GET", "/rest/api/3/field/:field/context/projectmapping", h_field_context_projects, SB_FAM_PLATFORM, SB_R_AGENT, 0, 0},
};

void sb_routes_relations(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
