/* sb_render_jsm: see sb_render_jsm.h. */
#include "sb_render_jsm.h"

#include <stdio.h>
#include <string.h>

#include "sb_jql.h"
#include "sb_jql_eval.h"
#include "sb_pack.h"
#include "sb_render.h"
#include "sb_render_sd.h"
#include "sb_sla.h"

json_t *sb_desk_json(const sb_call_t *c, int p)
{
    const sb_project_t *pr = &c->sb->data->projects[p];
    char self[600], id[16], pid[16];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/servicedesk/%d", c->base, pr->desk_id);
    snprintf(id, sizeof id, "%d", pr->desk_id);
    snprintf(pid, sizeof pid, "%d", pr->id);
    return sb_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "projectId", pid, "projectName", pr->name,
                     "projectKey", pr->key, "_links", "self", self);
}

json_t *sb_queue_json(const sb_call_t *c, const sb_queue_t *q, int with_count)
{
    const sb_project_t *pr = &c->sb->data->projects[q->project];
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/servicedesk/%d/queue/%d", c->base, pr->desk_id, q->id);
    snprintf(id, sizeof id, "%d", q->id);
    json_t *fields = json_array();
    for (int i = 0; i < q->nfields; i++)
        json_array_append_new(fields, json_string(q->fields[i]));
    json_t *o = sb_pack("{s:s, s:s, s:s, s:o, s:{s:s}}", "id", id, "name", q->name, "jql", q->jql, "fields", fields,
                          "_links", "self", self);
    if (with_count) {
        const sb_jql_t *j = sb_queue_jql(c->sb, q);
        sb_jql_env_t env = {c->sb->data, c->user, sb_now(c->sb)};
        int n = 0;
        for (int i = 0; j && i < c->sb->data->nissues; i++)
            n += sb_jql_match(j, &env, c->sb->data->issues[i]);
        json_object_set_new(o, "issueCount", json_integer(n));
    }
    return o;
}

json_t *sb_queue_issue_json(const sb_call_t *c, const sb_queue_t *q, const sb_issue_t *is)
{
    sb_fieldsel_t fs;
    sb_fieldsel_init(&fs, 0);
    for (int i = 0; i < q->nfields; i++)
        if (strcmp(q->fields[i], "issuekey") != 0)
            sb_fieldsel_add(&fs, q->fields[i]);
    json_t *o = sb_issue_json(c, is, &fs, 0, 20);
    json_object_del(o, "expand");
    return o;
}

json_t *sb_jsm_comment_json(const sb_call_t *c, const sb_issue_t *is, const sb_comment_t *cm)
{
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/request/%d/comment/%d", c->base, is->id, cm->id);
    snprintf(id, sizeof id, "%d", cm->id);
    return sb_pack("{s:[s,s], s:s, s:s, s:b, s:o, s:o, s:{s:s}}", "_expands", "attachment", "renderedBody", "id", id,
                     "body", cm->text, "public", cm->public_, "author", sb_user_dto(c, cm->author), "created",
                     sb_date_dto(cm->created), "_links", "self", self);
}

/* requestFieldValues: the request type's visible form fields in the form's
 * order (summary is not always first), with the portal's labels; hidden
 * fields and empty values are left out. Selects and users are objects. */
static json_t *field_values(const sb_call_t *c, const sb_issue_t *is)
{
    const sb_data_t *d = c->sb->data;
    json_t *a = json_array();
    const sb_rtype_t *rt = is->rtype >= 0 ? &d->rtypes[is->rtype] : NULL;
    static const sb_rtfield_t basic[] = {{"summary", 0, "Summary", 1, 1, NULL}, {"description", 0, "Description", 0, 1, NULL}};
    const sb_rtfield_t *layout = rt && rt->nlayout ? rt->layout : basic;
    int n = rt && rt->nlayout ? rt->nlayout : 2;
    for (int i = 0; i < n; i++) {
        const sb_rtfield_t *lf = &layout[i];
        if (!lf->visible)
            continue;
        if (lf->field && !strcmp(lf->field, "summary")) {
            json_array_append_new(a, sb_pack("{s:s, s:s, s:s}", "fieldId", "summary", "label", lf->label, "value",
                                             is->summary));
        } else if (lf->field && !strcmp(lf->field, "description")) {
            if (is->description)
                json_array_append_new(a, sb_pack("{s:s, s:s, s:s, s:{s:o}}", "fieldId", "description", "label",
                                                 lf->label, "value", is->description, "renderedValue", "html",
                                                 sb_html_json(is->description)));
        } else if (lf->field && !strcmp(lf->field, "priority")) {
            json_array_append_new(a, sb_pack("{s:s, s:s, s:o}", "fieldId", "priority", "label", lf->label, "value",
                                             sb_priority_json(c, is->priority)));
        } else if (!lf->field && is->xv[lf->xf].set) {
            json_array_append_new(a, sb_pack("{s:s, s:s, s:o}", "fieldId", d->xfields[lf->xf].id, "label", lf->label,
                                             "value", sb_xvalue_json(c, is, lf->xf)));
        }
    }
    return a;
}

static int has_expand(const char *expand, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = expand; p && (p = strstr(p, name)); p += n)
        if ((p == expand || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

json_t *sb_jsm_attachment_json(const sb_call_t *c, const sb_attachment_t *a)
{
    char content[600], aself[600];
    snprintf(content, sizeof content, "%s/rest/api/3/attachment/content/%d", c->base, a->id);
    snprintf(aself, sizeof aself, "%s/rest/api/3/attachment/%d", c->base, a->id);
    return sb_pack("{s:s, s:o, s:o, s:i, s:s, s:{s:s, s:s, s:s}}", "filename", a->filename, "author",
                   sb_user_dto(c, a->author), "created", sb_date_dto(a->created), "size", a->size, "mimeType", a->mime,
                   "_links", "jiraRest", aself, "content", content, "self", aself);
}

json_t *sb_request_json(const sb_call_t *c, const sb_issue_t *is, const char *expand)
{
    const sb_data_t *d = c->sb->data;
    const sb_project_t *pr = &d->projects[is->project];
    char id[16], rt[16], desk[16], self[600], jira[600], web[600];
    snprintf(id, sizeof id, "%d", is->id);
    snprintf(rt, sizeof rt, "%d", is->rtype >= 0 ? d->rtypes[is->rtype].id : 0);
    snprintf(desk, sizeof desk, "%d", pr->desk_id);
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/request/%d", c->base, is->id);
    snprintf(jira, sizeof jira, "%s/rest/api/2/issue/%d", c->base, is->id);
    snprintf(web, sizeof web, "%s/servicedesk/customer/portal/%d/%s", c->base, pr->desk_id, is->key);
    json_t *o = sb_pack("{s:[s,s,s,s,s,s,s,s], s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:{s:s, s:s, s:s, s:s}}",
                          "_expands", "participant", "status", "sla", "requestType", "serviceDesk", "attachment",
                          "action", "comment", "issueId", id, "issueKey", is->key, "requestTypeId", rt,
                          "serviceDeskId", desk, "createdDate", sb_date_dto(is->created), "reporter",
                          sb_user_dto(c, is->reporter), "requestFieldValues", field_values(c, is), "currentStatus",
                          sb_current_status_json(is), "_links", "jiraRest", jira, "web", web, "self", self, "agent", jira);
    if (!expand || !*expand)
        return o;
    if (has_expand(expand, "serviceDesk"))
        json_object_set_new(o, "serviceDesk", sb_desk_json(c, is->project));
    if (has_expand(expand, "requestType") && is->rtype >= 0)
        json_object_set_new(o, "requestType", sb_rtype_json(c, &d->rtypes[is->rtype]));
    if (has_expand(expand, "participant")) {
        json_t *v = json_array();
        for (int i = 0; i < is->nparticipants; i++)
            json_array_append_new(v, sb_user_dto(c, is->participants[i]));
        json_object_set_new(o, "participants", sb_jsm_page(c, v, 0, 50, is->nparticipants));
    }
    if (has_expand(expand, "sla")) {
        json_t *v = json_array();
        for (int m = 0; m < SB_NSLA; m++)
            json_array_append_new(v, sb_sla_json(c, is, m));
        json_object_set_new(o, "sla", sb_jsm_page(c, v, 0, 50, SB_NSLA));
    }
    if (has_expand(expand, "status")) {
        json_t *v = json_array();
        json_array_append_new(v, sb_current_status_json(is));
        json_object_set_new(o, "status", sb_jsm_page(c, v, 0, 50, 1));
    }
    if (has_expand(expand, "comment")) {
        json_t *v = json_array();
        for (int i = 0; i < is->ncomments; i++)
            json_array_append_new(v, sb_jsm_comment_json(c, is, &is->comments[i]));
        json_object_set_new(o, "comments", sb_jsm_page(c, v, 0, is->ncomments > 50 ? is->ncomments : 50, is->ncomments));
    }
    if (has_expand(expand, "attachment")) {
        json_t *v = json_array();
        for (int i = 0; i < is->nattachments; i++)
            json_array_append_new(v, sb_jsm_attachment_json(c, &is->attachments[i]));
        json_object_set_new(o, "attachments", sb_jsm_page(c, v, 0, 50, is->nattachments));
    }
    if (has_expand(expand, "action"))
        json_object_set_new(o, "actions", sb_pack("{s:{s:b}, s:{s:b}, s:{s:b}, s:{s:b}}", "addAttachment", "allowed", 1,
                                                    "addComment", "allowed", 1, "addParticipant", "allowed", 1,
                                                    "removeParticipant", "allowed", 1));
    return o;
}
