/* sb_control: the sandbox's control API for tests, benchmarks and the demo.
 * Not part of Jira: no auth, problem+json errors, never rate limited or
 * faulted. See docs in the module list of sb.h and the report:
 *   GET  /__sandbox/state                 site facts (cloudId, custom field ids, desks, queues)
 *   GET|PUT|DELETE /__sandbox/faults      fault/latency injection settings (sb_faults.h)
 *   GET|PUT /__sandbox/limits             rate-limit settings (sb_limits.h)
 *   GET|DELETE /__sandbox/counters        request, write, 429, auth-failure and OAuth token counters,
 *                                         "held": requests held by latency/stall now, and
 *                                         "clientGone": held requests whose client left
 *   POST /__sandbox/release               answers every held request now
 *   GET|DELETE /__sandbox/requests        request log (?since=<seq>&limit=<n>)
 *   POST /__sandbox/reset                 rebuild the data set from the seed
 *   GET|POST /__sandbox/clock             sandbox clock; POST {"advanceSeconds":N}
 *   GET|PUT /__sandbox/transport          {"gzip","gzipMinBytes"}
 *   GET|PUT|DELETE /__sandbox/strict      strict mode: refusals by key; PUT {"enabled","allow"}; DELETE clears counts
 *   GET  /metrics                         Prometheus text
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sb_pack.h"
#include "jsontext.h"
#include "httpresp.h"
#include "sb.h"
#include "sb_faults.h"
#include "sb_limits.h"
#include "sb_oauth.h"
#include "sb_strict.h"
#include "clock.h"

static json_t *ctl_body(sb_call_t *c)
{
    size_t len;
    const char *body = httpd_req_body(c->req, &len);
    char err[200];
    json_t *v = jsontext_parse(body ? body : "", len, 8, err, sizeof err);
    if (!v)
        httpresp_problem(c->req, 400, err, NULL);
    return v;
}

static void h_state(sb_call_t *c)
{
    const sb_data_t *d = c->sb->data;
    json_t *desks = json_array();
    for (int p = 0; p < d->nprojects; p++) {
        json_t *queues = json_array();
        for (int q = 0; q < d->nqueues; q++)
            if (d->queues[q].project == p)
                json_array_append_new(queues, sb_pack("{s:i, s:s}", "id", d->queues[q].id, "name", d->queues[q].name));
        int n = 0;
        for (int i = 0; i < d->nissues; i++)
            n += d->issues[i]->project == p;
        json_array_append_new(desks, sb_pack("{s:i, s:i, s:s, s:s, s:i, s:o}", "id", d->projects[p].desk_id,
                                               "projectId", d->projects[p].id, "projectKey", d->projects[p].key,
                                               "projectName", d->projects[p].name, "issues", n, "queues", queues));
    }
    char now[40], anchor[40];
    clock_format_iso(sb_now(c->sb), 1, now, sizeof now);
    clock_format_iso(d->anchor_ms, 0, anchor, sizeof anchor);
    const sb_user_t *me = &d->users[d->caller];
    json_t *cf = sb_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "requestType", d->cf.request_type, "slaTimeToFirstResponse",
                           d->cf.sla_first_response, "slaTimeToResolution", d->cf.sla_resolution, "organizations",
                           d->cf.organizations, "requestParticipants", d->cf.participants, "approvals", d->cf.approvals);
    json_t *site_fields = json_array(); /* the site's own custom fields (duplicate names included) */
    for (int i = 0; i < d->nxfields; i++) {
        const sb_xfield_t *f = &d->xfields[i];
        json_array_append_new(site_fields, sb_pack("{s:s, s:s, s:s}", "id", f->id, "name", f->name, "project",
                                                   f->project < 0 ? "" : d->projects[f->project].key));
    }
    json_object_set_new(cf, "site", site_fields);
    sb_json(c, 200, sb_pack("{s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:o, s:i, s:i, s:s, s:s}", "seed",
                              (json_int_t)c->sb->cfg.seed, "cloudId", c->sb->cfg.cloud_id, "siteName",
                              c->sb->cfg.site_name, "oauthClientId", c->sb->cfg.oauth_client_id, "email",
                              c->sb->cfg.email, "caller", "accountId", me->account_id, "displayName",
                              me->display_name, "customFields", cf, "desks", desks, "issues", d->nissues, "users",
                              d->nusers, "now", now, "anchor", anchor));
}

static void h_faults_get(sb_call_t *c)
{
    sb_json(c, 200, sb_faults_json(c->sb->faults));
}

static void h_faults_set(sb_call_t *c)
{
    json_t *v = ctl_body(c);
    char err[200];
    if (!v)
        return;
    if (sb_faults_set(c->sb->faults, v, err, sizeof err) != 0)
        httpresp_problem(c->req, 400, err, NULL);
    else
        sb_json(c, 200, sb_faults_json(c->sb->faults));
    json_decref(v);
}

static void h_faults_clear(sb_call_t *c)
{
    sb_faults_clear(c->sb->faults);
    sb_no_content(c);
}

static void h_limits_get(sb_call_t *c)
{
    sb_json(c, 200, sb_limits_json(c->sb->limits));
}

static void h_limits_set(sb_call_t *c)
{
    json_t *v = ctl_body(c);
    char err[200];
    if (!v)
        return;
    if (sb_limits_set(c->sb->limits, v, err, sizeof err) != 0)
        httpresp_problem(c->req, 400, err, NULL);
    else
        sb_json(c, 200, sb_limits_json(c->sb->limits));
    json_decref(v);
}

static void h_counters(sb_call_t *c)
{
    sb_t *sb = c->sb;
    sb_json(c, 200, sb_pack("{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:o, s:I, s:I, s:I}", "requests",
                              (json_int_t)sb->nrequests, "writes", (json_int_t)sb->nwrites,
                              "rateLimited", (json_int_t)sb->n429, "authFailures", (json_int_t)sb->nauth_fail,
                              "tokenRequests", "total", (json_int_t)sb->ntoken_requests, "authorization_code",
                              (json_int_t)sb->ntoken_by_grant[0], "refresh_token", (json_int_t)sb->ntoken_by_grant[1],
                              "oauth", sb_oauth_stats(sb->oauth), "strictRefusals",
                              (json_int_t)(sb->strict ? sb_strict_refused(sb->strict) : 0), "held",
                              (json_int_t)sb_http_held(sb), "clientGone", (json_int_t)sb->nclient_gone));
}

static void h_release(sb_call_t *c)
{
    size_t n = sb_http_release(c->sb);
    sb_json(c, 200, sb_pack("{s:I}", "released", (json_int_t)n));
}

static void h_counters_reset(sb_call_t *c)
{
    sb_t *sb = c->sb;
    sb->nrequests = sb->nwrites = sb->n429 = sb->nauth_fail = sb->ntoken_requests = 0;
    sb->ntoken_by_grant[0] = sb->ntoken_by_grant[1] = 0;
    sb->nclient_gone = 0;
    sb_no_content(c);
}

static void h_requests(sb_call_t *c)
{
    long since = sb_query_long(c, "since", 0, NULL), limit = sb_query_long(c, "limit", 500, NULL);
    if (since < 0)
        since = 0;
    if (limit <= 0 || limit > SB_REQLOG_MAX)
        limit = SB_REQLOG_MAX;
    sb_json(c, 200, sb_reqlog_json(c->sb->reqlog, (uint64_t)since, (size_t)limit));
}

static void h_requests_clear(sb_call_t *c)
{
    sb_reqlog_clear(c->sb->reqlog);
    sb_no_content(c);
}

static void h_reset(sb_call_t *c)
{
    sb_reset_data(c->sb);
    sb_json(c, 200, sb_pack("{s:i}", "issues", c->sb->data->nissues));
}

static void h_clock(sb_call_t *c)
{
    char now[40];
    clock_format_iso(sb_now(c->sb), 1, now, sizeof now);
    sb_json(c, 200, sb_pack("{s:s, s:I, s:I}", "now", now, "epochMillis", (json_int_t)sb_now(c->sb), "offsetMs",
                              (json_int_t)c->sb->clock_offset_ms));
}

static void h_clock_set(sb_call_t *c)
{
    json_t *v = ctl_body(c);
    if (!v)
        return;
    json_t *a = json_object_get(v, "advanceSeconds");
    if (!json_is_integer(a) || json_integer_value(a) < 0 || json_integer_value(a) > 10LL * 365 * 86400) {
        json_decref(v);
        httpresp_problem(c->req, 400, "advanceSeconds must be an integer between 0 and 10 years", "advanceSeconds");
        return;
    }
    c->sb->clock_offset_ms += json_integer_value(a) * 1000;
    json_decref(v);
    h_clock(c);
}

static void h_transport(sb_call_t *c)
{
    sb_json(c, 200, sb_pack("{s:b, s:I}", "gzip", c->sb->gzip, "gzipMinBytes", (json_int_t)c->sb->gzip_min));
}

static void h_transport_set(sb_call_t *c)
{
    json_t *v = ctl_body(c);
    if (!v)
        return;
    json_t *g = json_object_get(v, "gzip"), *m = json_object_get(v, "gzipMinBytes");
    if ((g && !json_is_boolean(g)) ||
        (m && (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > (1 << 30)))) {
        json_decref(v);
        httpresp_problem(c->req, 400, "gzip must be a boolean and gzipMinBytes an integer between 0 and 2^30", NULL);
        return;
    }
    if (g)
        c->sb->gzip = json_is_true(g);
    if (m)
        c->sb->gzip_min = (size_t)json_integer_value(m);
    json_decref(v);
    h_transport(c);
}

static void h_strict(sb_call_t *c)
{
    sb_json(c, 200, c->sb->strict ? sb_strict_json(c->sb->strict)
                                  : sb_pack("{s:b, s:i, s:i, s:i, s:[], s:[]}", "enabled", 0, "checked", 0, "refused",
                                            0, "allowed", 0, "allow", "refusals"));
}

/* {"enabled": bool, "allow": "k1,k2" or ["k1","k2"]}: on/off at run time
 * (the table is loaded on first use) and the temporary allow-list. */
static void h_strict_set(sb_call_t *c)
{
    json_t *v = ctl_body(c);
    char err[200], list[1024] = "";
    if (!v)
        return;
    json_t *en = json_object_get(v, "enabled"), *allow = json_object_get(v, "allow"), *x;
    size_t i, n = 0;
    if (json_is_string(allow))
        snprintf(list, sizeof list, "%s", json_string_value(allow));
    json_array_foreach(allow, i, x) if (json_is_string(x) && n + json_string_length(x) + 2 < sizeof list)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? "," : "", json_string_value(x));
    if ((en && !json_is_boolean(en)) || (allow && !json_is_string(allow) && !json_is_array(allow))) {
        json_decref(v);
        httpresp_problem(c->req, 400, "enabled must be a boolean and allow a string or an array of strings", NULL);
        return;
    }
    if (json_is_true(en) && !c->sb->strict && !(c->sb->strict = sb_strict_new_embedded(err, sizeof err))) {
        json_decref(v);
        httpresp_problem(c->req, 500, err, NULL);
        return;
    }
    if (json_is_false(en)) {
        sb_strict_free(c->sb->strict);
        c->sb->strict = NULL;
    }
    if (allow && c->sb->strict && sb_strict_set_allow(c->sb->strict, list, err, sizeof err) != 0) {
        json_decref(v);
        httpresp_problem(c->req, 400, err, "allow");
        return;
    }
    json_decref(v);
    h_strict(c);
}

static void h_strict_clear(sb_call_t *c)
{
    if (c->sb->strict)
        sb_strict_reset(c->sb->strict);
    sb_no_content(c);
}

static void h_metrics(sb_call_t *c)
{
    size_t len;
    metrics_set(c->sb->metrics, "jsm_sandbox_issues", "", c->sb->data->nissues);
    char *text = metrics_render(c->sb->metrics, &len);
    httpd_respond(c->req, 200, "text/plain; version=0.0.4", text ? text : "", text ? len : 0);
    free(text);
}

#define CTL (SB_R_NOAUTH | SB_R_SITE_ONLY | SB_R_NOLIMIT)
static const sb_route_t ROUTES[] = {
    {"GET", "/__sandbox/state", h_state, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/faults", h_faults_get, SB_FAM_PLAIN, CTL, 0, 0},
    {"PUT", "/__sandbox/faults", h_faults_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"POST", "/__sandbox/faults", h_faults_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"DELETE", "/__sandbox/faults", h_faults_clear, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/limits", h_limits_get, SB_FAM_PLAIN, CTL, 0, 0},
    {"PUT", "/__sandbox/limits", h_limits_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"POST", "/__sandbox/limits", h_limits_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/counters", h_counters, SB_FAM_PLAIN, CTL, 0, 0},
    {"DELETE", "/__sandbox/counters", h_counters_reset, SB_FAM_PLAIN, CTL, 0, 0},
    {"POST", "/__sandbox/release", h_release, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/requests", h_requests, SB_FAM_PLAIN, CTL, 0, 0},
    {"DELETE", "/__sandbox/requests", h_requests_clear, SB_FAM_PLAIN, CTL, 0, 0},
    {"POST", "/__sandbox/reset", h_reset, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/clock", h_clock, SB_FAM_PLAIN, CTL, 0, 0},
    {"POST", "/__sandbox/clock", h_clock_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/transport", h_transport, SB_FAM_PLAIN, CTL, 0, 0},
    {"PUT", "/__sandbox/transport", h_transport_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/__sandbox/strict", h_strict, SB_FAM_PLAIN, CTL, 0, 0},
    {"PUT", "/__sandbox/strict", h_strict_set, SB_FAM_PLAIN, CTL, 0, 0},
    {"DELETE", "/__sandbox/strict", h_strict_clear, SB_FAM_PLAIN, CTL, 0, 0},
    {"GET", "/metrics", h_metrics, SB_FAM_PLAIN, CTL, 0, 0},
};

void sb_routes_control(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
