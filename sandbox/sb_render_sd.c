/* sb_render_sd: see sb_render_sd.h. */
#include "sb_render_sd.h"

#include <stdio.h>
#include <string.h>

#include "sb_pack.h"
#include "sb_sla.h"

json_t *sb_status_category_jsm(int status)
{
    int cat = sb_statuses[status].cat;
    return json_string(cat == SB_CAT_NEW ? "NEW" : cat == SB_CAT_DONE ? "DONE" : "INDETERMINATE");
}

json_t *sb_rtype_json(const sb_call_t *c, const sb_rtype_t *rt)
{
    const sb_data_t *d = c->sb->data;
    const sb_project_t *pr = &d->projects[rt->project];
    char self[600], id[16], desk[16], grp[16], icon[600];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/servicedesk/%d/requesttype/%d", c->base, pr->desk_id, rt->id);
    snprintf(id, sizeof id, "%d", rt->id);
    snprintf(desk, sizeof desk, "%d", pr->desk_id);
    snprintf(grp, sizeof grp, "%d", rt->group_id);
    snprintf(icon, sizeof icon, "%s/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/%d", c->base, 10500 + rt->id);
    return sb_pack("{s:[], s:s, s:{s:s}, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s, s:{s:{s:s, s:s, s:s, s:s}}}}",
                     "_expands", "id", id, "_links", "self", self, "name", rt->name, "description", rt->desc,
                     "helpText", "", "issueTypeId", sb_issuetypes[rt->issuetype].id, "serviceDeskId", desk,
                     "portalId", desk, "groupIds", grp, "icon", "id", id, "_links", "iconUrls", "48x48", icon,
                     "24x24", icon, "16x16", icon, "32x32", icon);
}

static json_t *sla_cycle(const sb_sla_t *s, int completed, int paused)
{
    json_t *o = sb_pack("{s:o, s:o, s:b, s:o, s:o, s:o}", "startTime", sb_date_dto(s->start), "breachTime",
                          sb_date_dto(s->start + s->goal_ms), "breached", s->breached, "goalDuration",
                          sb_duration_dto(s->goal_ms), "elapsedTime", sb_duration_dto(s->elapsed_ms), "remainingTime",
                          sb_duration_dto(s->remaining_ms));
    if (completed) {
        json_object_set_new(o, "stopTime", sb_date_dto(s->stop));
    } else {
        json_object_set_new(o, "paused", json_boolean(paused));
        json_object_set_new(o, "withinCalendarHours", json_true());
    }
    return o;
}

/* completedCycles oldest first, then the ongoing cycle while the request
 * is open: a reopened request has several completed cycles. */
json_t *sb_sla_json(const sb_call_t *c, const sb_issue_t *is, int metric)
{
    sb_sla_t cyc[SB_MAX_SLA_CYCLES];
    char self[600], id[16];
    int n = sb_issue_sla_cycles(is, metric, sb_now(c->sb), cyc, SB_MAX_SLA_CYCLES);
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/request/%d/sla/%d", c->base, is->id, metric + 1);
    snprintf(id, sizeof id, "%d", metric + 1);
    json_t *done = json_array();
    json_t *o = sb_pack("{s:s, s:s, s:{s:s}, s:o, s:s}", "id", id, "name", sb_sla_names[metric], "_links", "self",
                        self, "completedCycles", done, "slaDisplayFormat", "NEW_SLA_FORMAT");
    int paused = !strcmp(sb_statuses[is->status].name, "Waiting for customer");
    for (int i = 0; i < n; i++) {
        if (cyc[i].stop)
            json_array_append_new(done, sla_cycle(&cyc[i], 1, 0));
        else
            json_object_set_new(o, "ongoingCycle", sla_cycle(&cyc[i], 0, paused));
    }
    return o;
}

json_t *sb_approval_json(const sb_call_t *c, const sb_issue_t *is, const sb_approval_t *a)
{
    static const char *const DEC[] = {"pending", "approved", "declined"};
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/request/%d/approval/%d", c->base, is->id, a->id);
    snprintf(id, sizeof id, "%d", a->id);
    json_t *approvers = json_array();
    int can = 0;
    for (int i = 0; i < a->napprovers; i++) {
        json_array_append_new(approvers, sb_pack("{s:o, s:s}", "approver", sb_user_dto(c, a->approvers[i]),
                                                   "approverDecision", DEC[a->decisions[i]]));
        if (a->approvers[i] == c->user && a->decisions[i] == SB_PENDING && a->final == SB_PENDING)
            can = 1;
    }
    json_t *o = sb_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:{s:s}}", "id", id, "name", a->name, "finalDecision",
                          DEC[a->final], "canAnswerApproval", can, "approvers", approvers, "createdDate",
                          sb_date_dto(a->created), "_links", "self", self);
    if (a->completed)
        json_object_set_new(o, "completedDate", sb_date_dto(a->completed));
    return o;
}

json_t *sb_current_status_json(const sb_issue_t *is)
{
    return sb_pack("{s:s, s:o, s:o}", "status", sb_statuses[is->status].name, "statusCategory",
                     sb_status_category_jsm(is->status), "statusDate", sb_date_dto(is->status_changed));
}

json_t *sb_org_json(const sb_call_t *c, const sb_org_t *o)
{
    char self[600], id[16], uuid[48];
    snprintf(self, sizeof self, "%s/rest/servicedeskapi/organization/%d", c->base, o->id);
    snprintf(id, sizeof id, "%d", o->id);
    snprintf(uuid, sizeof uuid, "0a0b0c0d-%04x-4000-8000-%012x", o->id, o->id * 7919);
    return sb_pack("{s:s, s:s, s:s, s:o, s:{s:s}}", "id", id, "name", o->name, "uuid", uuid, "created",
                     sb_date_dto(o->created), "_links", "self", self);
}
