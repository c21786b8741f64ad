/* sb_routes_platform: Jira platform REST v3 endpoints on one issue the tool
 * catalog calls: get, create, edit, comments, transitions, assignee and
 * worklogs. Search is sb_routes_search.c; users, fields and create metadata
 * sb_routes_users.c; attachments sb_routes_attach.c; links and watchers
 * sb_routes_relations.c. Bodies and messages follow jsm-rest-api.md §1-2. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_adf.h"
#include "buf.h"
#include "sb_pack.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_render.h"
#include "clock.h"

/* ---- issues ---- */
static void h_issue_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    sb_fieldsel_t fs;
    char f[1024], ex[256];
    sb_fieldsel_init(&fs, 1);
    for (int k = 0; k < 16 && httpd_query_param_nth(c->req, "fields", k, f, sizeof f) >= 0; k++)
        sb_fieldsel_add(&fs, f);
    unsigned expand = sb_query(c, "expand", ex, sizeof ex) >= 0 ? sb_expand_parse(ex) : 0;
    sb_json(c, 200, sb_issue_json(c, is, &fs, expand, 0));
}

/* Jira's answer to a text over its limit (32,767 characters). */
#define TEXT_TOO_LONG "The entered text is too long. It exceeds the allowed limit of 32,767 characters."

/* Text of an ADF value (or of a plain string, which v2 accepts); NULL when
 * not ADF, or too long (*too_long = 1). */
static char *adf_or_string(const json_t *v, int *too_long)
{
    *too_long = 0;
    if (json_is_string(v))
        return mem_strdup(json_string_value(v));
    return sb_adf_text(v, too_long);
}

/* Cloud's label rules for a "labels" array: strings without spaces, at most
 * 255 characters each; no small count cap (SB_MAX_LABELS bounds memory). */
static int labels_check(const json_t *v, char *msg, size_t msgsz)
{
    size_t i;
    json_t *l;
    if (!json_is_array(v)) {
        snprintf(msg, msgsz, "Labels must be an array of strings.");
        return -1;
    }
    if (json_array_size(v) > SB_MAX_LABELS) {
        snprintf(msg, msgsz, "An issue can have at most %d labels here.", SB_MAX_LABELS);
        return -1;
    }
    json_array_foreach(v, i, l) {
        if (!json_is_string(l)) {
            snprintf(msg, msgsz, "Labels must be an array of strings.");
            return -1;
        }
        if (sb_label_check(json_string_value(l), msg, msgsz) != 0)
            return -1;
    }
    return 0;
}

/* Applies "fields" of create/edit. Returns 0, or -1 with a field error set. */
static int apply_fields(sb_call_t *c, sb_issue_t *is, json_t *fields, json_t *errors, int64_t now)
{
    const char *k;
    json_t *v;
    char buf[32];
    json_object_foreach(fields, k, v) {
        if (!strcmp(k, "project") || !strcmp(k, "issuetype"))
            continue; /* handled by create */
        if (!strcmp(k, "summary")) {
            if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 255) {
                json_object_set_new(errors, k, json_string("You must specify a summary of the issue."));
                continue;
            }
            free(is->summary);
            is->summary = mem_strdup(json_string_value(v));
        } else if (!strcmp(k, "description")) {
            int too_long = 0;
            char *t = json_is_null(v) ? NULL : adf_or_string(v, &too_long);
            if (!json_is_null(v) && !t) {
                json_object_set_new(errors, k, json_string(too_long ? TEXT_TOO_LONG : "Operation value must be an Atlassian Document (see the Atlassian Document Format)"));
                continue;
            }
            free(is->description);
            is->description = t;
            json_decref(is->description_adf);
            is->description_adf = json_is_object(v) ? json_deep_copy(v) : NULL;
        } else if (!strcmp(k, "priority")) {
            int p = sb_named_find(sb_priorities, sb_npriorities, sb_ref_str(v, buf, sizeof buf));
            if (p < 0) {
                json_object_set_new(errors, k, json_string("Specify a valid priority."));
                continue;
            }
            is->priority = p;
        } else if (!strcmp(k, "labels")) {
            char msg[400];
            if (labels_check(v, msg, sizeof msg) != 0) {
                json_object_set_new(errors, k, json_string(msg));
                continue;
            }
            size_t i;
            json_t *l;
            sb_labels_clear(is);
            json_array_foreach(v, i, l) sb_label_add(is, json_string_value(l));
        } else if (!strcmp(k, "duedate")) {
            int64_t ms;
            char iso[40];
            if (json_is_null(v)) {
                is->due = 0;
                continue;
            }
            snprintf(iso, sizeof iso, "%.10sT00:00:00Z", json_is_string(v) ? json_string_value(v) : "");
            if (!json_is_string(v) || clock_parse_iso(iso, &ms) != 0) {
                json_object_set_new(errors, k, json_string("Error parsing date string: use yyyy-MM-dd."));
                continue;
            }
            is->due = ms;
        } else if (!strcmp(k, "assignee") || !strcmp(k, "reporter")) {
            int u = json_is_null(v) ? -1 : sb_user_find(c->sb->data, jsontext_str(v, "accountId"));
            if ((u < 0 && !json_is_null(v)) || (u < 0 && !strcmp(k, "reporter"))) {
                json_object_set_new(errors, k, json_string("Specify a valid user."));
                continue;
            }
            if (!strcmp(k, "assignee"))
                is->assignee = u;
            else
                is->reporter = u;
        } else if (sb_xfield_find(c->sb->data, k) >= 0 &&
                   sb_xfield_in_project(&c->sb->data->xfields[sb_xfield_find(c->sb->data, k)], is->project)) {
            int xf = sb_xfield_find(c->sb->data, k);
            char msg[300];
            sb_xval_t nv;
            if (sb_xvalue_parse(c, xf, v, &nv, msg, sizeof msg) != 0) {
                json_object_set_new(errors, k, json_string(msg));
                continue;
            }
            free(is->xv[xf].s);
            is->xv[xf] = nv;
        } else {
            char msg[200];
            snprintf(msg, sizeof msg, "Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k);
            json_object_set_new(errors, k, json_string(msg));
        }
    }
    is->updated = now;
    return json_object_size(errors) ? -1 : 0;
}

/* Validates "fields" on a scratch issue so that a bad field changes nothing
 * (Jira validates the whole request first). Returns 0 or -1 with errors set. */
static int check_fields(sb_call_t *c, int project, json_t *fields, json_t *errors, int64_t now)
{
    sb_issue_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.summary = mem_strdup("");
    tmp.project = project;
    int rc = apply_fields(c, &tmp, fields, errors, now);
    free(tmp.summary);
    free(tmp.description);
    json_decref(tmp.description_adf);
    sb_labels_clear(&tmp);
    free(tmp.labels);
    for (int i = 0; i < SB_MAX_XFIELDS; i++)
        free(tmp.xv[i].s);
    return rc;
}

static void h_issue_create(sb_call_t *c)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    sb_data_t *d = c->sb->data;
    json_t *fields = json_object_get(b, "fields");
    json_t *errors = json_object();
    char buf[32];
    int p = -1, it = -1;
    if (!json_is_object(fields)) {
        json_decref(b);
        json_decref(errors);
        sb_err_platform(c, 400, "Fields are required to create an issue.");
        return;
    }
    p = sb_project_find(d, sb_ref_str(json_object_get(fields, "project"), buf, sizeof buf));
    if (p < 0)
        json_object_set_new(errors, "project", json_string("Specify a valid project ID or key"));
    it = sb_named_find(sb_issuetypes, sb_nissuetypes, sb_ref_str(json_object_get(fields, "issuetype"), buf, sizeof buf));
    if (it < 0)
        json_object_set_new(errors, "issuetype", json_string("Specify an issue type"));
    if (!json_is_string(json_object_get(fields, "summary")))
        json_object_set_new(errors, "summary", json_string("You must specify a summary of the issue."));
    if (!json_object_size(errors))
        check_fields(c, p, fields, errors, sb_now(c->sb));
    for (int x = 0; !json_object_size(errors) && x < d->nxfields; x++) { /* required on this create screen */
        const sb_xfield_t *f = &d->xfields[x];
        json_t *given = json_object_get(fields, f->id);
        if (f->required_for == it && f->project == p && (!given || json_is_null(given))) {
            char msg[120];
            snprintf(msg, sizeof msg, "%s is required.", f->name);
            json_object_set_new(errors, f->id, json_string(msg));
        }
    }
    if (json_object_size(errors)) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
        return;
    }
    int64_t now = sb_now(c->sb);
    sb_issue_t *is = sb_issue_create(d, p, it, -1, c->user, "", NULL, now);
    if (!is) {
        json_decref(b);
        json_decref(errors);
        sb_err_platform(c, 413, "The site has reached its issue limit.");
        return;
    }
    apply_fields(c, is, fields, errors, now); /* validated above: cannot fail */
    is->indexed_at = now + c->sb->cfg.search_lag_ms;
    json_decref(b);
    json_decref(errors);
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%d", c->base, is->id);
    snprintf(id, sizeof id, "%d", is->id);
    sb_json(c, 201, sb_pack("{s:s, s:s, s:s}", "id", id, "key", is->key, "self", self));
}

static int comment_internal(const json_t *props)
{
    size_t i;
    json_t *p;
    json_array_foreach(props, i, p) {
        const char *k = jsontext_str(p, "key");
        if (k && !strcmp(k, "sd.public.comment") && json_is_true(json_object_get(json_object_get(p, "value"), "internal")))
            return 1;
    }
    return 0;
}

/* Validates the "update" operations Jira takes on edit: labels
 * add/remove/set (Cloud's label rules) and comment add (an ADF body). */
static int check_update(const json_t *update, json_t *errors)
{
    size_t i;
    json_t *op;
    char msg[400];
    json_array_foreach(json_object_get(update, "labels"), i, op) {
        json_t *add = json_object_get(op, "add"), *set = json_object_get(op, "set");
        if ((add && (!json_is_string(add) || sb_label_check(json_string_value(add), msg, sizeof msg) != 0)) ||
            (set && labels_check(set, msg, sizeof msg) != 0)) {
            if (add && !json_is_string(add))
                snprintf(msg, sizeof msg, "Labels must be strings.");
            json_object_set_new(errors, "labels", json_string(msg));
            return -1;
        }
    }
    json_array_foreach(json_object_get(update, "comment"), i, op) {
        json_t *body = json_object_get(json_object_get(op, "add"), "body");
        int too_long = 0;
        char *t = json_is_object(body) ? sb_adf_text(body, &too_long) : NULL;
        int ok = t && *t && strlen(t) < SB_MAX_TEXT;
        too_long |= t && strlen(t) >= SB_MAX_TEXT;
        free(t);
        if (!ok) {
            json_object_set_new(errors, "comment",
                                json_string(too_long ? TEXT_TOO_LONG
                                            : json_is_object(body) ? "Comment body can not be empty!"
                                                                   : "Operation value must be an Atlassian Document (see the Atlassian Document Format)"));
            return -1;
        }
    }
    return 0;
}

/* Applies checked "update" operations. */
static void apply_update(sb_call_t *c, sb_issue_t *is, const json_t *update, int64_t now)
{
    size_t i, k;
    json_t *op, *l;
    json_array_foreach(json_object_get(update, "labels"), i, op) {
        const char *add = jsontext_str(op, "add"), *rm = jsontext_str(op, "remove");
        json_t *set = json_object_get(op, "set");
        if (set) {
            sb_labels_clear(is);
            json_array_foreach(set, k, l) sb_label_add(is, json_string_value(l));
        }
        if (add)
            sb_label_add(is, add);
        if (rm)
            sb_label_remove(is, rm);
    }
    json_array_foreach(json_object_get(update, "comment"), i, op) {
        json_t *body = json_object_get(json_object_get(op, "add"), "body");
        char *t = sb_adf_text(body, NULL); /* checked by check_update */
        if (t)
            sb_comment_add(c->sb->data, is, c->user, t, body, 1, now);
        free(t);
    }
}

/* Labels as one space-separated string, for history items. */
static char *labels_string(const sb_issue_t *is)
{
    size_t need = 1;
    for (int i = 0; i < is->nlabels; i++)
        need += strlen(is->labels[i]) + 1;
    buf_t b;
    buf_init(&b, need); /* exact: only running out of memory can fail */
    buf_append_str(&b, "");
    for (int i = 0; i < is->nlabels; i++)
        buf_printf(&b, "%s%s", i ? " " : "", is->labels[i]);
    char *s = buf_steal(&b, NULL);
    if (!s) /* out of memory: aborts as mem_alloc() does, never a NULL strcmp */
        abort();
    return s;
}

/* History of an edit: what changed between before and is. */
static void record_edit(sb_call_t *c, sb_issue_t *is, const char *summary0, int priority0, const char *labels0,
                        int64_t now)
{
    char *labels1 = labels_string(is);
    int sum = strcmp(summary0, is->summary) != 0, pri = priority0 != is->priority, lab = strcmp(labels0, labels1) != 0;
    sb_change_t *ch = sum || pri || lab ? sb_history_begin(c->sb->data, is, c->user, now) : NULL;
    if (ch && sum)
        sb_history_item(ch, "summary", "summary", 0, NULL, summary0, NULL, is->summary);
    if (ch && pri)
        sb_history_item(ch, "priority", "priority", 0, sb_priorities[priority0].id, sb_priorities[priority0].name,
                        sb_priorities[is->priority].id, sb_priorities[is->priority].name);
    if (ch && lab)
        sb_history_item(ch, "labels", "labels", 0, NULL, labels0, NULL, labels1);
    free(labels1);
}

static void h_issue_edit(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *errors = json_object();
    int64_t now = sb_now(c->sb);
    json_t *fields = json_object_get(b, "fields"), *update = json_object_get(b, "update");
    if ((json_is_object(fields) && check_fields(c, is->project, fields, errors, now) != 0) ||
        check_update(update, errors) != 0) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
        return;
    }
    char *summary0 = mem_strdup(is->summary), *labels0 = labels_string(is);
    int priority0 = is->priority;
    if (json_is_object(fields))
        apply_fields(c, is, fields, errors, now); /* checked above: cannot fail */
    apply_update(c, is, update, now);
    record_edit(c, is, summary0, priority0, labels0, now);
    free(summary0);
    free(labels0);
    is->updated = now;
    json_decref(b);
    json_decref(errors);
    sb_no_content(c);
}

/* ---- comments ---- */
static void h_comments_list(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    long start, max;
    char order[32] = "", ex[64] = "";
    sb_platform_paging(c, 100, 5000, &start, &max);
    sb_query(c, "orderBy", order, sizeof order);
    if (order[0] && strcmp(order, "created") && strcmp(order, "-created") && strcmp(order, "+created")) {
        sb_err_platform(c, 400, "Invalid orderBy value. Valid values are: created, -created, +created.");
        return;
    }
    sb_query(c, "expand", ex, sizeof ex);
    int desc = order[0] == '-';
    json_t *arr = json_array();
    for (long i = start; i < is->ncomments && i < start + max; i++) {
        int idx = desc ? is->ncomments - 1 - (int)i : (int)i;
        json_array_append_new(arr, sb_comment_json(c, is, &is->comments[idx], strstr(ex, "renderedBody") != NULL));
    }
    sb_json(c, 200, sb_pack("{s:I, s:I, s:i, s:o}", "startAt", (json_int_t)start, "maxResults", (json_int_t)max,
                              "total", is->ncomments, "comments", arr));
}

static void h_comment_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    const char *id = sb_param(c, "id");
    for (int i = 0; i < is->ncomments; i++) {
        char s[16];
        snprintf(s, sizeof s, "%d", is->comments[i].id);
        if (!strcmp(s, id)) {
            sb_json(c, 200, sb_comment_json(c, is, &is->comments[i], 0));
            return;
        }
    }
    char msg[120];
    snprintf(msg, sizeof msg, "Can not find a comment for the id: %.40s.", id);
    sb_err_platform(c, 404, msg);
}

static void h_comment_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *body = json_object_get(b, "body");
    int too_long = 0;
    char *text = json_is_object(body) ? sb_adf_text(body, &too_long) : NULL;
    if (too_long || (text && strlen(text) >= SB_MAX_TEXT)) {
        free(text);
        json_decref(b);
        sb_err_platform_field(c, 400, "comment", TEXT_TOO_LONG);
        return;
    }
    if (!text || !*text) {
        const char *msg = body && !json_is_object(body)
                              ? "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                              : "Comment body can not be empty!";
        free(text);
        json_decref(b);
        sb_err_platform_field(c, 400, "comment", msg);
        return;
    }
    int internal = comment_internal(json_object_get(b, "properties"));
    sb_comment_t *cm = sb_comment_add(c->sb->data, is, c->user, text, body, !internal, sb_now(c->sb));
    free(text);
    json_decref(b);
    if (!cm) {
        sb_err_platform(c, 413, "The issue has reached the maximum number of comments.");
        return;
    }
    sb_json(c, 201, sb_comment_json(c, is, cm, 0));
}

/* ---- transitions, assignee ---- */
static void h_transitions_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    int t[16], n = sb_transitions_for(is, t, 16);
    char only[16] = "", ex[128] = "";
    sb_query(c, "transitionId", only, sizeof only);
    sb_query(c, "expand", ex, sizeof ex);
    int with_fields = strstr(ex, "transitions.fields") != NULL;
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        if (!only[0] || !strcmp(only, sb_transitions[t[i]].id))
            json_array_append_new(a, sb_transition_json(c, t[i], with_fields));
    sb_json(c, 200, sb_pack("{s:s, s:o}", "expand", "transitions", "transitions", a));
}

/* Cloud's checks before a transition runs, all before anything changes:
 * the id must be available; "fields" may only name fields on the
 * transition's screen (Resolution on the resolve screen; none elsewhere);
 * a required Resolution must be given; update.comment bodies are ADF. */
static int check_transition(sb_call_t *c, const sb_transition_t *tr, json_t *b, int *resolution, json_t *errors,
                            json_t *messages)
{
    char buf[32];
    const char *k;
    json_t *v;
    *resolution = SB_RES_AUTO;
    json_object_foreach(json_object_get(b, "fields"), k, v) {
        if (!tr->screen || strcmp(k, "resolution") != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "Field '%.60s' cannot be set. It is not on the appropriate screen, or unknown.", k);
            json_object_set_new(errors, k, json_string(msg));
            continue;
        }
        int r = sb_named_find(sb_resolutions, sb_nresolutions, sb_ref_str(v, buf, sizeof buf));
        if (r < 0)
            json_object_set_new(errors, k, json_string("Could not find valid 'id' or 'name' in resolution object."));
        *resolution = r;
    }
    if (tr->screen && *resolution == SB_RES_AUTO && !json_object_size(errors))
        json_array_append_new(messages, json_string("Field Resolution is required."));
    if (!tr->screen && tr->post_resolution >= 0)
        *resolution = tr->post_resolution;
    (void)c;
    return json_object_size(errors) || json_array_size(messages) ? -1 : 0;
}

static void h_transitions_do(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    char buf[32];
    json_t *tv = json_object_get(b, "transition");
    const char *id = json_is_string(json_object_get(tv, "id")) || json_is_integer(json_object_get(tv, "id"))
                         ? sb_ref_str(tv, buf, sizeof buf)
                         : NULL;
    if (!id) {
        json_decref(b);
        sb_err_platform(c, 400, "Missing 'transition' identifier");
        return;
    }
    int t[16], n = sb_transitions_for(is, t, 16), found = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(sb_transitions[t[i]].id, id))
            found = t[i];
    if (found < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Transition id '%.40s' is not valid for this issue.", id);
        json_decref(b);
        sb_err_platform(c, 400, msg);
        return;
    }
    json_t *errors = json_object(), *messages = json_array();
    int resolution;
    if (check_transition(c, &sb_transitions[found], b, &resolution, errors, messages) != 0 ||
        check_update(json_object_get(b, "update"), errors) != 0) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:o, s:o}", "errorMessages", messages, "errors", errors));
        return;
    }
    json_decref(errors);
    json_decref(messages);
    int64_t now = sb_now(c->sb);
    sb_issue_set_status(c->sb->data, is, sb_transitions[found].to, resolution, c->user, now);
    apply_update(c, is, json_object_get(b, "update"), now);
    json_decref(b);
    sb_no_content(c);
}

static void h_assignee(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *acc = json_object_get(b, "accountId");
    int was = is->assignee;
    if (!json_is_object(b) || (!json_is_null(acc) && !json_is_string(acc))) {
        json_decref(b);
        sb_err_platform(c, 400, "accountId must be a string or null.");
        return;
    }
    if (json_is_null(acc) || !acc) {
        is->assignee = -1;
    } else if (!strcmp(json_string_value(acc), "-1")) {
        is->assignee = c->sb->data->projects[is->project].lead; /* project default */
    } else {
        int u = sb_user_find(c->sb->data, json_string_value(acc));
        if (u < 0 || c->sb->data->users[u].customer || !c->sb->data->users[u].active) {
            char msg[200];
            snprintf(msg, sizeof msg, "User '%s' cannot be assigned issues.", json_string_value(acc));
            json_decref(b);
            sb_err_platform_field(c, 400, "assignee", msg);
            return;
        }
        is->assignee = u;
    }
    int64_t now = sb_now(c->sb);
    if (was != is->assignee) {
        const sb_data_t *d = c->sb->data;
        sb_change_t *ch = sb_history_begin(c->sb->data, is, c->user, now);
        if (ch)
            sb_history_item(ch, "assignee", "assignee", 0, was >= 0 ? d->users[was].account_id : NULL,
                            was >= 0 ? d->users[was].display_name : NULL,
                            is->assignee >= 0 ? d->users[is->assignee].account_id : NULL,
                            is->assignee >= 0 ? d->users[is->assignee].display_name : NULL);
    }
    is->updated = now;
    json_decref(b);
    sb_no_content(c);
}

/* ---- worklogs, attachments ---- */
static json_t *worklog_item(const sb_call_t *c, const void *ud, long i)
{
    const sb_issue_t *is = ud;
    return sb_worklog_json(c, is, &is->worklogs[i]);
}

static void h_worklogs_list(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    int bad = 0;
    long after = sb_query_long(c, "startedAfter", -1, &bad), before = sb_query_long(c, "startedBefore", -1, &bad);
    if (bad) {
        sb_err_platform(c, 400, "startedAfter and startedBefore are times in UNIX milliseconds.");
        return;
    }
    if (after < 0 && before < 0) {
        sb_platform_list(c, 5000, 5000, "worklogs", is->nworklogs, worklog_item, is);
        return;
    }
    long start, max;
    sb_platform_paging(c, 5000, 5000, &start, &max);
    json_t *arr = json_array();
    long total = 0;
    for (int i = 0; i < is->nworklogs; i++) { /* startedAfter inclusive, startedBefore exclusive */
        const sb_worklog_t *w = &is->worklogs[i];
        if ((after >= 0 && w->started < after) || (before >= 0 && w->started >= before))
            continue;
        if (total++ >= start && (long)json_array_size(arr) < max)
            json_array_append_new(arr, sb_worklog_json(c, is, w));
    }
    sb_json(c, 200, sb_pack("{s:I, s:I, s:I, s:o}", "startAt", (json_int_t)start, "maxResults", (json_int_t)max,
                            "total", (json_int_t)total, "worklogs", arr));
}

/* The longest worklog, as timeSpentSeconds or timeSpent: ten years. */
#define SPENT_MAX_S (10LL * 365 * 86400)

/* timeSpent ("1w 2d 3h 30m"; Jira's week is 5 days of 8 hours) in seconds;
 * -1 when malformed or over SPENT_MAX_S. Summed in 64 bits: "100000w" alone
 * is 1.44e10 s, which overflowed the int it was summed in (undefined
 * behaviour, a UBSan abort of the sanitizer build). */
static int parse_spent(const char *s)
{
    int64_t total = 0;
    while (s && *s) {
        while (*s == ' ')
            s++;
        char *end;
        long n = strtol(s, &end, 10);
        if (end == s || n < 0 || n > 100000)
            return -1;
        int64_t unit;
        switch (*end) {
        case 'w': unit = 5 * 8 * 3600; break;
        case 'd': unit = 8 * 3600; break;
        case 'h': unit = 3600; break;
        case 'm': unit = 60; break;
        default: return -1;
        }
        total += n * unit;
        if (total > SPENT_MAX_S)
            return -1;
        s = end + 1;
    }
    return (int)total;
}

/* yyyy-MM-dd'T'HH:mm:ss.SSS+hhmm (or -hhmm), as Jira writes and reads it. */
static int jira_time_ok(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddd+dddd";
    if (strlen(s) != sizeof pat - 1)
        return 0;
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        char p = pat[i], x = s[i];
        if (p == 'd' ? !isdigit((unsigned char)x) : p == '+' ? (x != '+' && x != '-') : x != p)
            return 0;
    }
    return 1;
}

static void h_worklog_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    long long asked = jsontext_int(b, "timeSpentSeconds", -1);
    int secs = asked > 0 && asked <= SPENT_MAX_S ? (int)asked : -1;
    if (asked < 0 && jsontext_str(b, "timeSpent"))
        secs = parse_spent(jsontext_str(b, "timeSpent"));
    if (secs <= 0) {
        json_decref(b);
        sb_err_platform_field(c, 400, "timeLogged", "You must indicate the time spent working.");
        return;
    }
    /* started: Jira's own format (2021-01-17T12:34:00.000+0000); absent = now. */
    int64_t now = sb_now(c->sb), started = now;
    json_t *st = json_object_get(b, "started");
    if (st && (!json_is_string(st) || !jira_time_ok(json_string_value(st)) ||
               clock_parse_iso(json_string_value(st), &started) != 0)) {
        json_decref(b);
        sb_err_platform_field(c, 400, "started",
                              "Started must be a date and time in Jira's format yyyy-MM-dd'T'HH:mm:ss.SSSZ, e.g. "
                              "2021-01-17T12:34:00.000+0000.");
        return;
    }
    int too_long = 0;
    char *text = json_object_get(b, "comment") ? adf_or_string(json_object_get(b, "comment"), &too_long) : NULL;
    if (too_long) { /* refused before anything is written, never kept cut */
        json_decref(b);
        sb_err_platform_field(c, 400, "comment", TEXT_TOO_LONG);
        return;
    }
    sb_worklog_t *w = sb_worklog_add(c->sb->data, is, c->user, secs, text, started, now);
    free(text);
    json_decref(b);
    if (!w) {
        sb_err_platform(c, 413, "The issue has reached the maximum number of worklogs.");
        return;
    }
    sb_json(c, 201, sb_worklog_json(c, is, w));
}

static const sb_route_t ROUTES[] = {
    {"POST", "/rest/api/3/issue", h_issue_create, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/:key", h_issue_get, SB_FAM_PLATFORM, 0, 150, 2},
    {"PUT", "/rest/api/3/issue/:key", h_issue_edit, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/issue/:key/comment", h_comments_list, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/comment", h_comment_add, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/issue/:key/comment/:id", h_comment_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/:key/transitions", h_transitions_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/transitions", h_transitions_do, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"PUT", "/rest/api/3/issue/:key/assignee", h_assignee, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/issue/:key/worklog", h_worklogs_list, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/worklog", h_worklog_add, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
};

void sb_routes_platform(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
