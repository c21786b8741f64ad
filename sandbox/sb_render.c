/* sb_render: see sb_render.h. Field definitions are one table; custom field
 * ids come from the data set (they differ per seed, like per site). */
#include "sb_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sb_adf.h"
#include "buf.h"
#include "sb_pack.h"
#include "sb_render_sd.h"

#define ICON "https://sandbox.atlassian.net/images/icons"

/* ---- field table ---- */
enum cfkind { CF_NONE, CF_RTYPE, CF_SLA_FR, CF_SLA_RES, CF_ORGS, CF_PARTS, CF_APPROVALS, CF_SAT };
typedef struct fdef_s {
    const char *id; /* system id; NULL for custom */
    int cf;
    const char *name;
    int navigable;
    const char *type, *items, *sys_or_custom;
} fdef_t;

static const fdef_t FDEFS[] = {
    {"summary", 0, "Summary", 1, "string", NULL, "summary"},
    {"description", 0, "Description", 1, "string", NULL, "description"},
    {"status", 0, "Status", 1, "status", NULL, "status"},
    {"statuscategorychangedate", 0, "Status Category Changed", 1, "datetime", NULL, "statuscategorychangedate"},
    {"priority", 0, "Priority", 1, "priority", NULL, "priority"},
    {"issuetype", 0, "Issue Type", 1, "issuetype", NULL, "issuetype"},
    {"project", 0, "Project", 1, "project", NULL, "project"},
    {"assignee", 0, "Assignee", 1, "user", NULL, "assignee"},
    {"reporter", 0, "Reporter", 1, "user", NULL, "reporter"},
    {"creator", 0, "Creator", 1, "user", NULL, "creator"},
    {"created", 0, "Created", 1, "datetime", NULL, "created"},
    {"updated", 0, "Updated", 1, "datetime", NULL, "updated"},
    {"resolution", 0, "Resolution", 1, "resolution", NULL, "resolution"},
    {"resolutiondate", 0, "Resolved", 1, "datetime", NULL, "resolutiondate"},
    {"duedate", 0, "Due date", 1, "date", NULL, "duedate"},
    {"labels", 0, "Labels", 1, "array", "string", "labels"},
    {"components", 0, "Components", 1, "array", "component", "components"},
    {"issuelinks", 0, "Linked Issues", 1, "array", "issuelinks", "issuelinks"},
    {"subtasks", 0, "Sub-tasks", 1, "array", "issuelinks", "subtasks"},
    {"watches", 0, "Watchers", 1, "watches", NULL, "watches"},
    {"environment", 0, "Environment", 1, "string", NULL, "environment"},
    {"lastViewed", 0, "Last Viewed", 1, "datetime", NULL, "lastViewed"},
    {"comment", 0, "Comment", 0, "comments-page", NULL, "comment"},
    {"worklog", 0, "Log Work", 0, "array", "worklog", "worklog"},
    {"attachment", 0, "Attachment", 0, "array", "attachment", "attachment"},
    {"timetracking", 0, "Time tracking", 0, "timetracking", NULL, "timetracking"},
    {NULL, CF_RTYPE, "Request Type", 1, "sd-customerrequesttype", NULL, "com.atlassian.servicedesk:vp-origin"},
    {NULL, CF_SLA_FR, "Time to first response", 1, "sd-servicelevelagreement", NULL, "com.atlassian.servicedesk:sd-sla-field"},
    {NULL, CF_SLA_RES, "Time to resolution", 1, "sd-servicelevelagreement", NULL, "com.atlassian.servicedesk:sd-sla-field"},
    {NULL, CF_ORGS, "Organizations", 1, "array", "sd-customerorganization", "com.atlassian.servicedesk:sd-customer-organizations"},
    {NULL, CF_PARTS, "Request participants", 1, "array", "user", "com.atlassian.servicedesk:sd-request-participants"},
    {NULL, CF_APPROVALS, "Approvals", 1, "sd-approvals", NULL, "com.atlassian.servicedesk.approvals-plugin:sd-approvals"},
    {NULL, CF_SAT, "Satisfaction", 1, "sd-feedback", NULL, "com.atlassian.servicedesk:sd-request-feedback"},
};
#define NFDEFS ((int)(sizeof FDEFS / sizeof FDEFS[0]))

static int cf_num(const sb_data_t *d, int cf)
{
    switch (cf) {
    case CF_RTYPE: return d->cf.request_type;
    case CF_SLA_FR: return d->cf.sla_first_response;
    case CF_SLA_RES: return d->cf.sla_resolution;
    case CF_ORGS: return d->cf.organizations;
    case CF_PARTS: return d->cf.participants;
    case CF_APPROVALS: return d->cf.approvals;
    default: return d->cf.satisfaction;
    }
}

static const char *fdef_id(const sb_data_t *d, const fdef_t *f, char *buf, size_t bufsz)
{
    (void)buf;
    (void)bufsz;
    /* CF_RTYPE..CF_SAT follow sb_cf_t's order, whose ids are rendered once */
    return f->id ? f->id : d->cf.ids[f->cf - CF_RTYPE];
}

static const fdef_t *fdef_find(const sb_data_t *d, const char *id)
{
    char b[48];
    for (int i = 0; i < NFDEFS; i++)
        if (strcmp(fdef_id(d, &FDEFS[i], b, sizeof b), id) == 0)
            return &FDEFS[i];
    return NULL;
}

/* ---- field selection ---- */
void sb_fieldsel_init(sb_fieldsel_t *fs, int default_all)
{
    memset(fs, 0, sizeof *fs);
    fs->all = default_all;
}

void sb_fieldsel_add(sb_fieldsel_t *fs, const char *spec)
{
    const char *p = spec;
    if (!fs->given) { /* an explicit fields parameter replaces the default */
        fs->given = 1;
        fs->all = 0;
    }
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        char tok[48];
        if (n && n < sizeof tok) {
            memcpy(tok, p, n);
            tok[n] = 0;
            if (!strcmp(tok, "*all"))
                fs->all = 1;
            else if (!strcmp(tok, "*navigable"))
                fs->navigable = 1;
            else if (tok[0] == '-' && fs->nexc < SB_FS_MAX)
                snprintf(fs->exc[fs->nexc++], sizeof fs->exc[0], "%s", tok + 1);
            else if (tok[0] != '-' && fs->ninc < SB_FS_MAX)
                snprintf(fs->inc[fs->ninc++], sizeof fs->inc[0], "%s", tok);
        }
        p = comma ? comma + 1 : NULL;
    }
}

static int fs_want(const sb_fieldsel_t *fs, const char *id, int navigable)
{
    for (int i = 0; i < fs->nexc; i++)
        if (!strcmp(fs->exc[i], id))
            return 0;
    if (fs->all || (fs->navigable && navigable))
        return 1;
    for (int i = 0; i < fs->ninc; i++)
        if (!strcmp(fs->inc[i], id))
            return 1;
    return 0;
}

int sb_fieldsel_ids_only(const sb_fieldsel_t *fs)
{
    if (fs->all || fs->navigable)
        return 0;
    for (int i = 0; i < fs->ninc; i++)
        if (strcmp(fs->inc[i], "id") && strcmp(fs->inc[i], "key"))
            return 0;
    return 1;
}

unsigned sb_expand_parse(const char *s)
{
    unsigned e = 0;
    if (!s)
        return 0;
    if (strstr(s, "renderedFields"))
        e |= SB_EXP_RENDERED;
    if (strstr(s, "names"))
        e |= SB_EXP_NAMES;
    if (strstr(s, "schema"))
        e |= SB_EXP_SCHEMA;
    if (strstr(s, "transitions"))
        e |= SB_EXP_TRANSITIONS;
    if (strstr(s, "operations"))
        e |= SB_EXP_OPERATIONS;
    if (strstr(s, "editmeta"))
        e |= SB_EXP_EDITMETA;
    if (strstr(s, "changelog"))
        e |= SB_EXP_CHANGELOG;
    return e;
}

/* ---- small objects ---- */
static json_t *status_category(const sb_call_t *c, int cat)
{
    char self[600];
    const char *key = cat == SB_CAT_NEW ? "new" : cat == SB_CAT_DONE ? "done" : "indeterminate";
    const char *color = cat == SB_CAT_NEW ? "blue-gray" : cat == SB_CAT_DONE ? "green" : "yellow";
    const char *name = cat == SB_CAT_NEW ? "To Do" : cat == SB_CAT_DONE ? "Done" : "In Progress";
    snprintf(self, sizeof self, "%s/rest/api/3/statuscategory/%d", c->base, cat);
    return sb_pack("{s:s, s:i, s:s, s:s, s:s}", "self", self, "id", cat, "key", key, "colorName", color, "name", name);
}

json_t *sb_status_json(const sb_call_t *c, int st)
{
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/status/%s", c->base, sb_statuses[st].id);
    return sb_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "self", self, "description", "", "iconUrl",
                     ICON "/statuses/generic.png", "name", sb_statuses[st].name, "id", sb_statuses[st].id,
                     "statusCategory", status_category(c, sb_statuses[st].cat));
}

json_t *sb_issuetype_json(const sb_call_t *c, int it)
{
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/issuetype/%s", c->base, sb_issuetypes[it].id);
    return sb_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:i}", "self", self, "id", sb_issuetypes[it].id,
                     "description", sb_issuetypes[it].desc, "iconUrl", ICON "/issuetypes/task.svg", "name",
                     sb_issuetypes[it].name, "subtask", 0, "avatarId", 10553 + it, "hierarchyLevel", 0);
}

json_t *sb_project_json(const sb_call_t *c, int p)
{
    const sb_project_t *pr = &c->sb->data->projects[p];
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/project/%d", c->base, pr->id);
    snprintf(id, sizeof id, "%d", pr->id);
    const char *av = "https://sandbox.atlassian.net/rest/api/3/universal_avatar/view/type/project/avatar/10400";
    return sb_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s, s:s, s:s}}", "self", self, "id", id, "key", pr->key,
                     "name", pr->name, "projectTypeKey", "service_desk", "simplified", 0, "avatarUrls", "48x48", av,
                     "24x24", av, "16x16", av, "32x32", av);
}

json_t *sb_priority_json(const sb_call_t *c, int p)
{
    char self[600], icon[200];
    snprintf(self, sizeof self, "%s/rest/api/3/priority/%s", c->base, sb_priorities[p].id);
    snprintf(icon, sizeof icon, ICON "/priorities/%s.svg", sb_priorities[p].name);
    for (char *q = icon + sizeof ICON; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
    return sb_pack("{s:s, s:s, s:s, s:s}", "self", self, "iconUrl", icon, "name", sb_priorities[p].name, "id",
                     sb_priorities[p].id);
}

static json_t *time_json(int64_t ms)
{
    if (!ms)
        return json_null();
    char t[40];
    sb_fmt_jira_time(ms, t, sizeof t);
    return json_string(t);
}

static json_t *date_only(int64_t ms)
{
    if (!ms)
        return json_null();
    char t[40];
    sb_fmt_jira_time(ms, t, sizeof t);
    t[10] = 0;
    return json_string(t);
}

static void html_escape(buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_append_str(b, "&lt;"); break;
        case '>': buf_append_str(b, "&gt;"); break;
        case '&': buf_append_str(b, "&amp;"); break;
        case '"': buf_append_str(b, "&quot;"); break;
        case '\n': buf_append_str(b, s[1] == '\n' ? "</p>\n<p>" : "<br/>\n"); if (s[1] == '\n') s++; break;
        default: buf_append(b, s, 1);
        }
    }
}

json_t *sb_html_json(const char *text)
{
    text = text ? text : "";
    buf_t b;
    /* Sized for the worst case (every byte a '"' or a lone newline: 6
     * bytes), so no text is ever too long for it: only running out of
     * memory can fail, and that aborts as mem_alloc() does. The limit
     * used to be 4 x SB_MAX_TEXT: a description of quotes rendered as ""
     * (issue 24). */
    buf_init(&b, 6 * strlen(text) + 8);
    buf_append_str(&b, "<p>");
    html_escape(&b, text);
    buf_append_str(&b, "</p>");
    if (!buf_ok(&b))
        abort();
    json_t *s = json_string(b.data);
    buf_free(&b);
    return s;
}

static json_t *adf_of(const char *text, const json_t *adf)
{
    return adf ? json_deep_copy(adf) : sb_adf_from_text(text);
}

json_t *sb_comment_json(const sb_call_t *c, const sb_issue_t *is, const sb_comment_t *cm, int rendered)
{
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%d/comment/%d", c->base, is->id, cm->id);
    snprintf(id, sizeof id, "%d", cm->id);
    json_t *o = sb_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "self", self, "id", id, "author",
                          sb_user_json(c, cm->author), "body", adf_of(cm->text, cm->adf), "updateAuthor",
                          sb_user_json(c, cm->author), "created", time_json(cm->created), "updated",
                          time_json(cm->updated), "jsdPublic", cm->public_);
    if (rendered)
        json_object_set_new(o, "renderedBody", sb_html_json(cm->text));
    return o;
}

json_t *sb_worklog_json(const sb_call_t *c, const sb_issue_t *is, const sb_worklog_t *w)
{
    char self[600], id[16], iid[16], spent[32];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%d/worklog/%d", c->base, is->id, w->id);
    snprintf(id, sizeof id, "%d", w->id);
    snprintf(iid, sizeof iid, "%d", is->id);
    int h = w->seconds / 3600, m = w->seconds / 60 % 60;
    if (h && m)
        snprintf(spent, sizeof spent, "%dh %dm", h, m);
    else if (h)
        snprintf(spent, sizeof spent, "%dh", h);
    else
        snprintf(spent, sizeof spent, "%dm", m);
    json_t *o = sb_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:i, s:s, s:s}", "self", self, "author",
                          sb_user_json(c, w->author), "updateAuthor", sb_user_json(c, w->author), "created",
                          time_json(w->created), "updated", time_json(w->created), "started", time_json(w->started),
                          "timeSpent", spent, "timeSpentSeconds", w->seconds, "id", id, "issueId", iid);
    if (w->text)
        json_object_set_new(o, "comment", sb_adf_from_text(w->text));
    return o;
}

json_t *sb_attachment_json(const sb_call_t *c, const sb_attachment_t *a, int id_string)
{
    char self[600], content[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/attachment/%d", c->base, a->id);
    snprintf(content, sizeof content, "%s/rest/api/3/attachment/content/%d", c->base, a->id);
    snprintf(id, sizeof id, "%d", a->id);
    json_t *o = sb_pack("{s:s, s:o, s:s, s:o, s:o, s:i, s:s, s:s}", "self", self, "id",
                        id_string ? json_string(id) : json_integer(a->id),
                          "filename", a->filename, "author", sb_user_json(c, a->author), "created",
                          time_json(a->created), "size", a->size, "mimeType", a->mime, "content", content);
    return o;
}

json_t *sb_resolution_json(const sb_call_t *c, int r)
{
    if (r < 0)
        return json_null();
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/resolution/%s", c->base, sb_resolutions[r].id);
    return sb_pack("{s:s, s:s, s:s, s:s}", "self", self, "id", sb_resolutions[r].id, "description",
                     sb_resolutions[r].desc, "name", sb_resolutions[r].name);
}

/* The transition screen's fields (expand=transitions.fields): Resolution,
 * required, on the resolve screen; {} for transitions without a screen. */
static json_t *transition_fields(const sb_call_t *c, const sb_transition_t *tr)
{
    json_t *f = json_object();
    if (!tr->screen)
        return f;
    json_t *allowed = json_array();
    for (int i = 0; i < sb_nresolutions; i++)
        json_array_append_new(allowed, sb_resolution_json(c, i));
    json_object_set_new(f, "resolution",
                        sb_pack("{s:b, s:{s:s, s:s}, s:s, s:s, s:b, s:[s], s:o}", "required", 1, "schema", "type",
                                "resolution", "system", "resolution", "name", "Resolution", "key", "resolution",
                                "hasDefaultValue", 0, "operations", "set", "allowedValues", allowed));
    return f;
}

json_t *sb_change_json(const sb_call_t *c, const sb_change_t *ch)
{
    char id[16];
    snprintf(id, sizeof id, "%d", ch->id);
    json_t *items = json_array();
    for (int i = 0; i < ch->nitems; i++) {
        const sb_change_item_t *it = &ch->items[i];
        json_t *o = sb_pack("{s:s, s:s}", "field", it->field, "fieldtype", it->custom ? "custom" : "jira");
        if (it->field_id)
            json_object_set_new(o, "fieldId", json_string(it->field_id));
        /* the schema's strings: an empty side is left out */
        if (it->from)
            json_object_set_new(o, "from", json_string(it->from));
        if (it->from_s)
            json_object_set_new(o, "fromString", json_string(it->from_s));
        if (it->to)
            json_object_set_new(o, "to", json_string(it->to));
        if (it->to_s)
            json_object_set_new(o, "toString", json_string(it->to_s));
        json_array_append_new(items, o);
    }
    json_t *o = sb_pack("{s:s, s:o, s:o}", "id", id, "created", time_json(ch->created), "items", items);
    if (ch->author >= 0)
        json_object_set_new(o, "author", sb_user_json(c, ch->author));
    return o;
}

json_t *sb_linktype_json(const sb_call_t *c, int t)
{
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/issueLinkType/%s", c->base, sb_linktypes[t].id);
    return sb_pack("{s:s, s:s, s:s, s:s, s:s}", "id", sb_linktypes[t].id, "name", sb_linktypes[t].name, "inward",
                   sb_linktypes[t].inward, "outward", sb_linktypes[t].outward, "self", self);
}

/* The other issue of a link, as a LinkedIssue with a few fields. */
static json_t *linked_issue(const sb_call_t *c, const sb_issue_t *is)
{
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%d", c->base, is->id);
    snprintf(id, sizeof id, "%d", is->id);
    return sb_pack("{s:s, s:s, s:s, s:{s:s, s:o, s:o, s:o}}", "id", id, "key", is->key, "self", self, "fields",
                   "summary", is->summary, "status", sb_status_json(c, is->status), "priority",
                   sb_priority_json(c, is->priority), "issuetype", sb_issuetype_json(c, is->issuetype));
}

json_t *sb_issuelink_json(const sb_call_t *c, const sb_link_t *l, int from)
{
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/issueLink/%d", c->base, l->id);
    snprintf(id, sizeof id, "%d", l->id);
    json_t *o = sb_pack("{s:s, s:s, s:o}", "id", id, "self", self, "type", sb_linktype_json(c, l->type));
    const sb_data_t *d = c->sb->data;
    /* From the outward issue the other one is the outwardIssue ("A causes B"
     * shows B there), and the other way round; from < 0: both. */
    if (from != l->inward)
        json_object_set_new(o, "outwardIssue", linked_issue(c, d->issues[l->inward]));
    if (from != l->outward)
        json_object_set_new(o, "inwardIssue", linked_issue(c, d->issues[l->outward]));
    return o;
}

json_t *sb_transition_json(const sb_call_t *c, int t, int with_fields)
{
    const sb_transition_t *tr = &sb_transitions[t];
    json_t *o = sb_pack("{s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:b, s:b}", "id", tr->id, "name", tr->name, "to",
                        sb_status_json(c, tr->to), "hasScreen", tr->screen, "isGlobal", tr->from_status < 0,
                        "isInitial", 0, "isAvailable", 1, "isConditional", 0, "isLooped", 0);
    if (with_fields)
        json_object_set_new(o, "fields", transition_fields(c, tr));
    return o;
}

static json_t *rtype_field_value(const sb_call_t *c, const sb_issue_t *is)
{
    if (is->rtype < 0)
        return json_null();
    const sb_rtype_t *rt = &c->sb->data->rtypes[is->rtype];
    char self[600], jira[600];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/request/%d", c->base, is->id);
    snprintf(jira, sizeof jira, "%s/rest/api/2/issue/%d", c->base, is->id);
    return sb_pack("{s:{s:s, s:s, s:s, s:s}, s:o, s:o}", "_links", "jiraRest", jira, "web", self, "agent", jira,
                     "self", self, "requestType", sb_rtype_json(c, rt), "currentStatus", sb_current_status_json(is));
}

static json_t *org_list(const sb_call_t *c, const sb_issue_t *is)
{
    json_t *a = json_array();
    if (is->org >= 0)
        json_array_append_new(a, sb_org_json(c, &c->sb->data->orgs[is->org]));
    return a;
}

/* Value of one field of an issue; NULL when the field id is unknown. */
static json_t *field_value(const sb_call_t *c, const sb_issue_t *is, const fdef_t *f, int comment_cap)
{
    const sb_data_t *d = c->sb->data;
    if (!f->id) {
        switch (f->cf) {
        case CF_RTYPE: return rtype_field_value(c, is);
        case CF_SLA_FR: return sb_sla_json(c, is, 0);
        case CF_SLA_RES: return sb_sla_json(c, is, 1);
        case CF_ORGS: return org_list(c, is);
        case CF_PARTS: {
            json_t *a = json_array();
            for (int i = 0; i < is->nparticipants; i++)
                json_array_append_new(a, sb_user_json(c, is->participants[i]));
            return a;
        }
        case CF_APPROVALS: {
            json_t *a = json_array();
            for (int i = 0; i < is->napprovals; i++)
                json_array_append_new(a, sb_approval_json(c, is, &is->approvals[i]));
            return a;
        }
        default: return json_null();
        }
    }
    const char *id = f->id;
    if (!strcmp(id, "summary"))
        return json_string(is->summary);
    if (!strcmp(id, "description"))
        return is->description || is->description_adf ? adf_of(is->description, is->description_adf) : json_null();
    if (!strcmp(id, "status"))
        return sb_status_json(c, is->status);
    if (!strcmp(id, "statuscategorychangedate"))
        return time_json(is->status_changed);
    if (!strcmp(id, "priority"))
        return sb_priority_json(c, is->priority);
    if (!strcmp(id, "issuetype"))
        return sb_issuetype_json(c, is->issuetype);
    if (!strcmp(id, "project"))
        return sb_project_json(c, is->project);
    if (!strcmp(id, "assignee"))
        return sb_user_json(c, is->assignee);
    if (!strcmp(id, "reporter"))
        return sb_user_json(c, is->reporter);
    if (!strcmp(id, "creator"))
        return sb_user_json(c, is->creator);
    if (!strcmp(id, "created"))
        return time_json(is->created);
    if (!strcmp(id, "updated"))
        return time_json(is->updated);
    if (!strcmp(id, "resolution"))
        return sb_resolution_json(c, is->resolution);
    if (!strcmp(id, "resolutiondate"))
        return time_json(is->resolved);
    if (!strcmp(id, "duedate"))
        return date_only(is->due);
    if (!strcmp(id, "labels")) {
        json_t *a = json_array();
        for (int i = 0; i < is->nlabels; i++)
            json_array_append_new(a, json_string(is->labels[i]));
        return a;
    }
    if (!strcmp(id, "issuelinks")) {
        json_t *a = json_array();
        for (int i = 0; i < d->nlinks; i++) {
            const sb_link_t *l = &d->links[i];
            if (!l->deleted && (l->outward == is->index || l->inward == is->index))
                json_array_append_new(a, sb_issuelink_json(c, l, is->index));
        }
        return a;
    }
    if (!strcmp(id, "components") || !strcmp(id, "subtasks"))
        return json_array();
    if (!strcmp(id, "environment") || !strcmp(id, "lastViewed"))
        return json_null();
    if (!strcmp(id, "watches")) {
        char self[600];
        snprintf(self, sizeof self, "%s/rest/api/3/issue/%s/watchers", c->base, is->key);
        int me = 0;
        for (int i = 0; i < is->nwatchers; i++)
            me |= is->watchers[i] == c->user;
        return sb_pack("{s:s, s:i, s:b}", "self", self, "watchCount", is->nwatchers, "isWatching", me);
    }
    if (!strcmp(id, "timetracking")) {
        int spent = 0;
        for (int i = 0; i < is->nworklogs; i++)
            spent += is->worklogs[i].seconds;
        if (!spent)
            return json_object();
        char s[32];
        snprintf(s, sizeof s, "%dh %dm", spent / 3600, spent / 60 % 60);
        return sb_pack("{s:s, s:i}", "timeSpent", s, "timeSpentSeconds", spent);
    }
    if (!strcmp(id, "comment")) {
        json_t *arr = json_array();
        int start = comment_cap > 0 && is->ncomments > comment_cap ? is->ncomments - comment_cap : 0;
        for (int i = start; i < is->ncomments; i++)
            json_array_append_new(arr, sb_comment_json(c, is, &is->comments[i], 0));
        char self[600];
        snprintf(self, sizeof self, "%s/rest/api/3/issue/%d/comment", c->base, is->id);
        return sb_pack("{s:o, s:s, s:i, s:i, s:i}", "comments", arr, "self", self, "maxResults",
                         (int)json_array_size(arr), "total", is->ncomments, "startAt", start);
    }
    if (!strcmp(id, "worklog")) {
        json_t *arr = json_array();
        for (int i = 0; i < is->nworklogs && i < 20; i++)
            json_array_append_new(arr, sb_worklog_json(c, is, &is->worklogs[i]));
        return sb_pack("{s:i, s:i, s:i, s:o}", "startAt", 0, "maxResults", 20, "total", is->nworklogs, "worklogs", arr);
    }
    if (!strcmp(id, "attachment")) {
        json_t *arr = json_array();
        for (int i = 0; i < is->nattachments; i++)
            json_array_append_new(arr, sb_attachment_json(c, &is->attachments[i], 1));
        return arr;
    }
    (void)d;
    return NULL;
}

/* ---- site custom fields (sb_xfield_t) ---- */
static const char *const XT_TYPE[] = {"option", "user", "string", "number"};
static const char *const XT_CUSTOM[] = {"com.atlassian.jira.plugin.system.customfieldtypes:select",
                                        "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
                                        "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                                        "com.atlassian.jira.plugin.system.customfieldtypes:float"};

static json_t *xfield_schema(const sb_xfield_t *f)
{
    return sb_pack("{s:s, s:s, s:I}", "type", XT_TYPE[f->type], "custom", XT_CUSTOM[f->type], "customId",
                   (json_int_t)f->num);
}

json_t *sb_xoption_json(const sb_call_t *c, const sb_xfield_t *f, int opt)
{
    char self[600], id[16];
    snprintf(id, sizeof id, "%d", f->option0 + opt);
    snprintf(self, sizeof self, "%s/rest/api/3/customFieldOption/%s", c->base, id);
    return sb_pack("{s:s, s:s, s:s}", "self", self, "value", f->options[opt], "id", id);
}

json_t *sb_xvalue_json(const sb_call_t *c, const sb_issue_t *is, int xf)
{
    const sb_xfield_t *f = &c->sb->data->xfields[xf];
    const sb_xval_t *v = &is->xv[xf];
    if (!v->set)
        return json_null();
    switch (f->type) {
    case SB_XT_SELECT: return v->i >= 0 && v->i < f->noptions ? sb_xoption_json(c, f, v->i) : json_null();
    case SB_XT_USER: return sb_user_json(c, v->i);
    case SB_XT_NUMBER: return json_real((double)v->i);
    default: return json_string(v->s ? v->s : "");
    }
}

json_t *sb_field_schema(const sb_call_t *c, const char *id)
{
    const fdef_t *f = fdef_find(c->sb->data, id);
    int xf = f ? -1 : sb_xfield_find(c->sb->data, id);
    if (xf >= 0)
        return xfield_schema(&c->sb->data->xfields[xf]);
    if (!f)
        return NULL;
    json_t *s = sb_pack("{s:s}", "type", f->type);
    if (f->items)
        json_object_set_new(s, "items", json_string(f->items));
    if (f->id) {
        json_object_set_new(s, "system", json_string(f->sys_or_custom));
    } else {
        json_object_set_new(s, "custom", json_string(f->sys_or_custom));
        json_object_set_new(s, "customId", json_integer(cf_num(c->sb->data, f->cf)));
    }
    return s;
}

const char *sb_field_name(const sb_call_t *c, const char *id)
{
    const fdef_t *f = fdef_find(c->sb->data, id);
    int xf = f ? -1 : sb_xfield_find(c->sb->data, id);
    return f ? f->name : xf >= 0 ? c->sb->data->xfields[xf].name : NULL;
}

/* Calls fn for each selected field: the fixed ones (f), then the site's
 * custom fields (f NULL, xf their index). */
typedef void (*field_fn)(const sb_call_t *c, const fdef_t *f, int xf, const char *id, void *arg);
static void each_selected(const sb_call_t *c, const sb_fieldsel_t *fs, field_fn fn, void *arg)
{
    char b[48];
    const sb_data_t *d = c->sb->data;
    for (int i = 0; i < NFDEFS; i++) {
        const char *id = fdef_id(d, &FDEFS[i], b, sizeof b);
        if (fs_want(fs, id, FDEFS[i].navigable))
            fn(c, &FDEFS[i], -1, id, arg);
    }
    for (int i = 0; i < d->nxfields; i++)
        if (fs_want(fs, d->xfields[i].id, 1))
            fn(c, NULL, i, d->xfields[i].id, arg);
}

static void add_name(const sb_call_t *c, const fdef_t *f, int xf, const char *id, void *arg)
{
    json_object_set_new(arg, id, json_string(f ? f->name : c->sb->data->xfields[xf].name));
}

static void add_schema(const sb_call_t *c, const fdef_t *f, int xf, const char *id, void *arg)
{
    (void)f;
    (void)xf;
    json_object_set_new(arg, id, sb_field_schema(c, id));
}

json_t *sb_names_json(const sb_call_t *c, const sb_fieldsel_t *fs)
{
    json_t *o = json_object();
    each_selected(c, fs, add_name, o);
    return o;
}

json_t *sb_schema_json(const sb_call_t *c, const sb_fieldsel_t *fs)
{
    json_t *o = json_object();
    each_selected(c, fs, add_schema, o);
    return o;
}

typedef struct fill_s {
    const sb_issue_t *is;
    json_t *fields, *rendered;
    int comment_cap;
} fill_t;

static void add_field(const sb_call_t *c, const fdef_t *f, int xf, const char *id, void *arg)
{
    fill_t *fl = arg;
    if (!f) { /* a site custom field: present (null when empty) where its context covers the project */
        if (sb_xfield_in_project(&c->sb->data->xfields[xf], fl->is->project))
            json_object_set_new(fl->fields, id, sb_xvalue_json(c, fl->is, xf));
        return;
    }
    json_t *v = field_value(c, fl->is, f, fl->comment_cap);
    if (v)
        json_object_set_new(fl->fields, id, v);
    if (fl->rendered) {
        if (!strcmp(id, "description"))
            json_object_set_new(fl->rendered, id, fl->is->description ? sb_html_json(fl->is->description) : json_null());
        else if (!strcmp(id, "created") || !strcmp(id, "updated"))
            json_object_set_new(fl->rendered, id, json_string("just now"));
    }
}

json_t *sb_issue_json(const sb_call_t *c, const sb_issue_t *is, const sb_fieldsel_t *fs, unsigned expand,
                      int comment_cap)
{
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%d", c->base, is->id);
    snprintf(id, sizeof id, "%d", is->id);
    json_t *fields = json_object();
    fill_t fl = {is, fields, (expand & SB_EXP_RENDERED) ? json_object() : NULL, comment_cap};
    each_selected(c, fs, add_field, &fl);
    json_t *o = sb_pack("{s:s, s:s, s:s, s:s, s:o}", "expand",
                          "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations", "id", id,
                          "self", self, "key", is->key, "fields", fields);
    if (fl.rendered)
        json_object_set_new(o, "renderedFields", fl.rendered);
    if (expand & SB_EXP_NAMES)
        json_object_set_new(o, "names", sb_names_json(c, fs));
    if (expand & SB_EXP_SCHEMA)
        json_object_set_new(o, "schema", sb_schema_json(c, fs));
    if (expand & SB_EXP_TRANSITIONS) {
        int t[16], n = sb_transitions_for(is, t, 16);
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a, sb_transition_json(c, t[i], 0));
        json_object_set_new(o, "transitions", a);
    }
    if (expand & SB_EXP_OPERATIONS)
        json_object_set_new(o, "operations", sb_pack("{s:[]}", "linkGroups"));
    if (expand & SB_EXP_EDITMETA)
        json_object_set_new(o, "editmeta", sb_pack("{s:{}}", "fields"));
    if (expand & SB_EXP_CHANGELOG) { /* the latest 100 (20 inside search results), oldest first */
        int cap = comment_cap > 0 ? comment_cap : 100, from = is->nhistory > cap ? is->nhistory - cap : 0;
        json_t *h = json_array();
        for (int i = from; i < is->nhistory; i++)
            json_array_append_new(h, sb_change_json(c, &is->history[i]));
        json_object_set_new(o, "changelog", sb_pack("{s:i, s:i, s:i, s:o}", "startAt", from, "maxResults",
                                                    (int)json_array_size(h), "total", is->nhistory, "histories", h));
    }
    return o;
}

json_t *sb_fields_json(const sb_call_t *c)
{
    json_t *a = json_array();
    char b[48];
    for (int i = 0; i < NFDEFS; i++) {
        const fdef_t *f = &FDEFS[i];
        const char *id = fdef_id(c->sb->data, f, b, sizeof b);
        json_t *clauses = json_array();
        if (f->id) {
            json_array_append_new(clauses, json_string(f->id));
        } else {
            char cf[32];
            snprintf(cf, sizeof cf, "cf[%d]", cf_num(c->sb->data, f->cf));
            json_array_append_new(clauses, json_string(cf));
            json_array_append_new(clauses, json_string(f->name));
        }
        json_array_append_new(a, sb_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:o, s:o}", "id", id, "key", id,
                                           "name", f->name, "custom", f->id == NULL, "orderable", 1, "navigable",
                                           f->navigable, "searchable", 1, "clauseNames", clauses, "schema",
                                           sb_field_schema(c, id)));
    }
    for (int i = 0; i < c->sb->data->nxfields; i++) {
        const sb_xfield_t *f = &c->sb->data->xfields[i];
        char cf[32];
        snprintf(cf, sizeof cf, "cf[%d]", f->num);
        json_t *o = sb_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:[s,s], s:o}", "id", f->id, "key", f->id,
                            "name", f->name, "custom", 1, "orderable", 1, "navigable", 1,
                            "searchable", 1, "clauseNames", cf, f->name, "schema", xfield_schema(f));
        if (f->team_managed) { /* a team-managed project's own field */
            char pid[16];
            snprintf(pid, sizeof pid, "%d", c->sb->data->projects[f->project].id);
            json_object_set_new(o, "scope", sb_pack("{s:s, s:{s:s}}", "type", "PROJECT", "project", "id", pid));
        }
        json_array_append_new(a, o);
    }
    json_array_append_new(a, sb_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:[s,s,s,s]}", "id", "issuekey", "key",
                                       "issuekey", "name", "Key", "custom", 0, "orderable", 0, "navigable", 1,
                                       "searchable", 0, "clauseNames", "id", "issue", "issuekey", "key"));
    return a;
}

json_t *sb_groups_json(const sb_call_t *c, int user)
{
    json_t *a = json_array();
    for (int g = 0; g < sb_ngroups; g++)
        if (c->sb->data->users[user].groups & (1u << g)) {
            char self[600];
            snprintf(self, sizeof self, "%s/rest/api/3/group?groupId=%s", c->base, sb_groups[g].id);
            json_array_append_new(a, sb_pack("{s:s, s:s, s:s}", "name", sb_groups[g].name, "groupId", sb_groups[g].id,
                                             "self", self));
        }
    return a;
}

json_t *sb_user_groups_page(const sb_call_t *c, int user)
{
    json_t *items = sb_groups_json(c, user);
    return sb_pack("{s:i, s:o, s:i}", "size", (int)json_array_size(items), "items", items, "max-results", 1000);
}
