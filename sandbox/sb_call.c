/* sb_call: see sb.h ("call helpers", "responses", "DTO helpers"): what an
 * endpoint handler uses on its call — parameters, bodies, the three
 * families' responses and errors, visibility, Jira's 429, and the DTOs and
 * pages of the platform and JSM APIs. Knows nothing of the pipeline
 * (sb_http.c) that calls the handlers. */
#include "sb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "clock.h"
#include "httpresp.h"
#include "jsontext.h"
#include "log.h"
#include "sb_gzip.h"
#include "sb_pack.h"

int64_t sb_now(const sb_t *sb)
{
    return clock_now_ms() + sb->clock_offset_ms;
}

/* ---- helpers ---- */
const char *sb_param(const sb_call_t *c, const char *name)
{
    return router_param(&c->params, name);
}

int sb_query(const sb_call_t *c, const char *name, char *out, size_t outsz)
{
    int n = httpd_query_param(c->req, name, out, outsz);
    if (n < 0) {
        if (outsz)
            out[0] = 0;
        return -1;
    }
    return n;
}

long sb_query_long(const sb_call_t *c, const char *name, long dflt, int *bad)
{
    char v[32], *end;
    if (httpd_query_param(c->req, name, v, sizeof v) < 0 || !v[0])
        return dflt;
    long x = strtol(v, &end, 10);
    if (*end) {
        if (bad)
            *bad = 1;
        return -1;
    }
    return x;
}

int sb_query_bool(const sb_call_t *c, const char *name, int dflt)
{
    char v[16];
    if (httpd_query_param(c->req, name, v, sizeof v) < 0)
        return dflt;
    return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

json_t *sb_body_json(sb_call_t *c)
{
    size_t len;
    const char *body = httpd_req_body(c->req, &len);
    char err[200];
    json_t *v = jsontext_parse(body ? body : "", len, JSONTEXT_MAX_DEPTH_DEFAULT, err, sizeof err);
    if (v)
        return v;
    if (c->route->family == SB_FAM_JSM)
        sb_err_jsm(c, 400, "Invalid request payload. Refer to the REST API documentation and try again.",
                   "sd.rest.error.invalid.payload");
    else
        sb_err_platform(c, 400, len ? "Unexpected character in the request body." : "No content to map due to end-of-input");
    return NULL;
}

const char *sb_ref_str(const json_t *obj, char *buf, size_t bufsz)
{
    /* {"id":"3"} / {"name":"High"} / {"key":"ITSM"} / {"accountId":..} */
    const char *keys[] = {"id", "key", "name", "accountId", "value"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (json_is_string(v))
            return json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(buf, bufsz, "%lld", (long long)json_integer_value(v));
            return buf;
        }
    }
    return NULL;
}

int sb_expand_param(sb_call_t *c, char *out, size_t outsz)
{
    buf_t b;
    char one[128];
    int r = -1;
    buf_init(&b, outsz - 1);
    for (int k = 0; k < 10 && (r = httpd_query_param_nth(c->req, "expand", k, one, sizeof one)) >= 0; k++) {
        if (b.len)
            buf_append_str(&b, ",");
        buf_append_str(&b, one);
    }
    out[0] = 0;
    if (r == -2 || !buf_ok(&b)) { /* refused: a cut list could drop or mangle a name */
        buf_free(&b);
        sb_err_jsm(c, 400, "The expand parameter is too long.", "sd.request.expand.error.too.long");
        return -1;
    }
    str_copy(out, outsz, b.data ? b.data : ""); /* whole (checked); NULL when no expand was given */
    buf_free(&b);
    return 0;
}

int sb_account_ids(sb_call_t *c, const json_t *b, int *out, int max, int *n)
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

int sb_user_param_or_error(sb_call_t *c)
{
    char acc[100];
    if (sb_query(c, "accountId", acc, sizeof acc) < 0 || !acc[0]) {
        sb_err_platform_field(c, 400, "accountId", "The query parameter 'accountId' is required.");
        return -1;
    }
    int u = sb_user_find(c->sb->data, acc);
    if (u < 0)
        sb_err_platform(c, 404, "Specified user does not exist or you do not have required permissions");
    return u;
}

int sb_xvalue_parse(const sb_call_t *c, int xf, const json_t *v, sb_xval_t *out, char *err, size_t errsz)
{
    const sb_xfield_t *f = &c->sb->data->xfields[xf];
    char buf[32];
    memset(out, 0, sizeof *out);
    if (json_is_null(v))
        return 0; /* cleared */
    out->set = 1;
    switch (f->type) {
    case SB_XT_SELECT:
        out->i = sb_xfield_option(f, json_is_string(v) ? json_string_value(v) : sb_ref_str(v, buf, sizeof buf));
        if (out->i >= 0)
            return 0;
        snprintf(err, errsz, "Specify a valid 'id' or 'name' for %s", f->name);
        return -1;
    case SB_XT_USER:
        out->i = sb_user_find(c->sb->data, json_is_string(v) ? json_string_value(v) : jsontext_str(v, "accountId"));
        if (out->i >= 0)
            return 0;
        snprintf(err, errsz, "Specify a valid accountId for %s", f->name);
        return -1;
    case SB_XT_NUMBER:
        if (json_is_number(v) && json_number_value(v) >= -1e9 && json_number_value(v) <= 1e9) {
            out->i = (int)json_number_value(v);
            return 0;
        }
        snprintf(err, errsz, "Operation value must be a number");
        return -1;
    default:
        if (json_is_string(v) && json_string_length(v) <= 255) {
            out->s = mem_strdup(json_string_value(v));
            return 0;
        }
        snprintf(err, errsz, "Operation value must be a string of at most 255 characters");
        return -1;
    }
}

void sb_send(httpd_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    const sb_t *sb = httpd_req_data(req);
    if (sb && sb->gzip && len && len >= sb->gzip_min && sb_accepts_gzip(httpd_req_header(req, "Accept-Encoding"))) {
        size_t zlen;
        char *z = sb_gzip(body, len, &zlen);
        if (z) {
            httpd_resp_header(req, "Content-Encoding", "gzip");
            httpd_resp_header(req, "Vary", "Accept-Encoding");
            httpd_respond(req, status, ctype, z, zlen);
            free(z);
            return;
        }
    }
    httpd_respond(req, status, ctype, body, len);
}

void sb_respond_json(httpd_req_t *req, int status, json_t *v)
{
    const sb_t *sb = httpd_req_data(req);
    buf_t b;
    buf_init(&b, sb && sb->cfg.max_response > 0 ? (size_t)sb->cfg.max_response : (64u << 20));
    if (!v || jsontext_dump_buf(&b, v) != 0 || !buf_ok(&b) || !b.data) {
        /* A 500 problem, never a cut body: the dump leaves the buffer in
         * error (data NULL) when the body passes --max-response-bytes. */
        int too_big = buf_error(&b) == BUF_ETOOBIG;
        json_decref(v);
        buf_free(&b);
        httpresp_problem(req, 500, too_big ? "response body larger than the sandbox's --max-response-bytes"
                                           : "response could not be serialised", NULL);
        return;
    }
    json_decref(v);
    sb_send(req, status, "application/json;charset=UTF-8", b.data, b.len);
    buf_free(&b);
}

void sb_json(sb_call_t *c, int status, json_t *v)
{
    sb_respond_json(c->req, status, v);
}

void sb_no_content(sb_call_t *c)
{
    httpd_respond(c->req, 204, NULL, "", 0);
}

/* Error texts may quote client input (a JQL query from the URL): checked. */
json_t *sb_checked_str(const char *msg)
{
    json_t *v = json_string(msg);
    return v ? v : json_string("The request contains text that is not valid UTF-8.");
}

void sb_err_platform(sb_call_t *c, int status, const char *msg)
{
    sb_respond_json(c->req, status, sb_pack("{s:[o], s:{}}", "errorMessages", sb_checked_str(msg), "errors"));
}

void sb_err_platform_field(sb_call_t *c, int status, const char *field, const char *msg)
{
    json_t *errors = json_object();
    json_object_set_new(errors, field, sb_checked_str(msg));
    sb_respond_json(c->req, status, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
}

void sb_err_jsm(sb_call_t *c, int status, const char *msg, const char *key)
{
    sb_respond_json(c->req, status, sb_pack("{s:o, s:{s:s, s:[]}}", "errorMessage", sb_checked_str(msg), "i18nErrorMessage",
                                      "i18nKey", key, "parameters"));
}

void sb_err_gateway(httpd_req_t *req, int status, const char *msg)
{
    sb_respond_json(req, status, sb_pack("{s:i, s:s}", "code", status, "message", msg));
}

void sb_err_issue_missing(sb_call_t *c)
{
    if (c->route->family == SB_FAM_JSM)
        sb_err_jsm(c, 404, "The request could not be found or you do not have permission to view it.",
                   "sd.customerview.error.requestNotFound");
    else
        sb_err_platform(c, 404, "Issue does not exist or you do not have permission to see it.");
}

int sb_is_customer(const sb_call_t *c)
{
    return c->sb->data->users[c->user].customer;
}

int sb_visible(const sb_call_t *c, const sb_issue_t *is)
{
    if (!sb_is_customer(c) || is->reporter == c->user)
        return 1;
    for (int i = 0; i < is->nparticipants; i++)
        if (is->participants[i] == c->user)
            return 1;
    if (is->org >= 0) { /* shared with the customer's organization */
        const sb_org_t *o = &c->sb->data->orgs[is->org];
        for (int i = 0; i < o->nmembers; i++)
            if (o->members[i] == c->user)
                return 1;
    }
    return 0;
}

sb_issue_t *sb_issue_or_404(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_find(c->sb->data, sb_param(c, "key"));
    if (!is || !sb_visible(c, is)) {
        sb_err_issue_missing(c);
        return NULL;
    }
    return is;
}

void sb_respond_429(httpd_req_t *req, int limit, int retry_after_s, const char *reason, int with_retry_after,
                    int64_t now_ms)
{
    char v[64], reset[40];
    if (with_retry_after) {
        snprintf(v, sizeof v, "%d", retry_after_s);
        httpd_resp_header(req, "Retry-After", v);
    }
    snprintf(v, sizeof v, "%d", limit);
    httpd_resp_header(req, "X-RateLimit-Limit", v);
    httpd_resp_header(req, "X-RateLimit-Remaining", "0");
    clock_format_iso(now_ms + (int64_t)(retry_after_s > 0 ? retry_after_s : 1) * 1000, 0, reset, sizeof reset);
    httpd_resp_header(req, "X-RateLimit-Reset", reset);
    /* Only the cost-based (points quota) limiter says NearLimit, also on its
     * 429 (JRACLOUD-83791); burst and per-issue 429s do not. */
    if (strstr(reason, "quota"))
        httpd_resp_header(req, "X-RateLimit-NearLimit", "true");
    httpd_resp_header(req, "RateLimit-Reason", reason);
    if (strstr(reason, "quota"))
        snprintf(v, sizeof v, "\"tenant-app-quota\";q=%d;w=3600", limit);
    else
        snprintf(v, sizeof v, "\"%s\";q=%d;w=%d", reason, limit, strstr(reason, "issue") ? 2 : 1);
    httpd_resp_header(req, "RateLimit-Policy", v);
    sb_respond_json(req, 429, sb_pack("{s:[s], s:{}, s:i}", "errorMessages",
                                  "The request has been rate-limited. Please try again later.", "errors", "status", 429));
}

/* ---- DTOs ---- */
static void civil(int64_t ms, int *y, int *mo, int *d, int *h, int *mi, int *s, int *msr)
{
    int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    int64_t rem = ms - days * 86400000;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*mo <= 2));
    *h = (int)(rem / 3600000);
    *mi = (int)(rem / 60000 % 60);
    *s = (int)(rem / 1000 % 60);
    *msr = (int)(rem % 1000);
}

void sb_fmt_jira_time(int64_t ms, char *out, size_t outsz)
{
    int y, mo, d, h, mi, s, msr;
    civil(ms, &y, &mo, &d, &h, &mi, &s, &msr);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", y, mo, d, h, mi, s, msr);
}

json_t *sb_date_dto(int64_t ms)
{
    static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int y, mo, d, h, mi, s, msr;
    char iso[40], jira[40], friendly[40];
    civil(ms, &y, &mo, &d, &h, &mi, &s, &msr);
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d+0000", y, mo, d, h, mi, s);
    sb_fmt_jira_time(ms, jira, sizeof jira);
    snprintf(friendly, sizeof friendly, "%02d/%s/%02d %d:%02d %s", d, MON[mo - 1], y % 100, h % 12 ? h % 12 : 12, mi,
             h < 12 ? "AM" : "PM");
    return sb_pack("{s:s, s:s, s:s, s:I}", "iso8601", iso, "jira", jira, "friendly", friendly, "epochMillis",
                     (json_int_t)ms);
}

json_t *sb_duration_dto(int64_t ms)
{
    char f[48];
    int64_t a = ms < 0 ? -ms : ms;
    int64_t h = a / 3600000, m = a / 60000 % 60;
    const char *sg = ms < 0 ? "-" : "";
    if (h && m)
        snprintf(f, sizeof f, "%s%lldh %s%lldm", sg, (long long)h, sg, (long long)m);
    else if (h)
        snprintf(f, sizeof f, "%s%lldh", sg, (long long)h);
    else
        snprintf(f, sizeof f, "%s%lldm", sg, (long long)m);
    return sb_pack("{s:I, s:s}", "millis", (json_int_t)ms, "friendly", f);
}

json_t *sb_avatar_urls(const sb_call_t *c, int user)
{
    (void)c;
    (void)user;
    static const char *u = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/default-avatar.png";
    return sb_pack("{s:s, s:s, s:s, s:s}", "48x48", u, "24x24", u, "16x16", u, "32x32", u);
}

/* Users as the caller may see them: emailAddress and timeZone are left
 * out when the profile hides them (Atlassian account privacy), as Cloud does
 * for many users and most customers; a user always sees their own. */
static void user_private_fields(const sb_call_t *c, int user, json_t *o)
{
    const char *email = sb_user_email(c->sb->data, user, c->user), *tz = sb_user_tz(c->sb->data, user, c->user);
    if (email)
        json_object_set_new(o, "emailAddress", json_string(email));
    if (tz)
        json_object_set_new(o, "timeZone", json_string(tz));
}

json_t *sb_user_json(const sb_call_t *c, int user)
{
    if (user < 0)
        return json_null();
    const sb_user_t *u = &c->sb->data->users[user];
    char self[600];
    snprintf(self, sizeof self, "%s/rest/api/3/user?accountId=%s", c->base, u->account_id);
    json_t *o = sb_pack("{s:s, s:s, s:o, s:s, s:b, s:s}", "self", self, "accountId", u->account_id, "avatarUrls",
                        sb_avatar_urls(c, user), "displayName", u->display_name, "active", u->active, "accountType",
                        u->customer ? "customer" : "atlassian");
    user_private_fields(c, user, o);
    return o;
}

json_t *sb_user_dto(const sb_call_t *c, int user)
{
    if (user < 0)
        return json_null();
    const sb_user_t *u = &c->sb->data->users[user];
    char self[600], jira[600];
    snprintf(self, sizeof self, "%s/rest/api/3/user?accountId=%s", c->base, u->account_id);
    snprintf(jira, sizeof jira, "%s/rest/api/2/user?accountId=%s", c->base, u->account_id);
    json_t *o = sb_pack("{s:s, s:s, s:b, s:{s:s, s:o, s:s}}", "accountId", u->account_id, "displayName",
                        u->display_name, "active", u->active, "_links", "jiraRest", jira, "avatarUrls",
                        sb_avatar_urls(c, user), "self", self);
    user_private_fields(c, user, o);
    return o;
}

void sb_platform_paging(const sb_call_t *c, long dflt, long max, long *start, long *limit)
{
    *start = sb_query_long(c, "startAt", 0, NULL);
    *limit = sb_query_long(c, "maxResults", dflt, NULL);
    if (*start < 0)
        *start = 0;
    if (*limit < 0)
        *limit = dflt;
    if (*limit > max)
        *limit = max;
}

void sb_jsm_paging(sb_call_t *c, long dflt, long max, long *start, long *limit)
{
    *start = sb_query_long(c, "start", 0, NULL);
    *limit = sb_query_long(c, "limit", dflt, NULL);
    if (*start < 0)
        *start = 0;
    if (*limit <= 0)
        *limit = dflt;
    if (*limit > 1000000)
        *limit = 1000000;
    if (*start > 1000000000)
        *start = 1000000000;
    c->jsm_limit_asked = *limit;
    if (*limit > max)
        *limit = max;
    c->jsm_limit_used = *limit;
}

/* Rebuilds the request URL with start/limit replaced, for _links. */
static json_t *page_link(const sb_call_t *c, long start, long limit)
{
    buf_t b;
    const char *path = httpd_req_path(c->req);
    if (c->gateway) { /* c->base already holds /ex/jira/<cloudId> */
        const char *p = strstr(path, "/rest/");
        path = p ? p : path;
    }
    const char *q = httpd_req_query(c->req);
    /* Sized from what goes in (start= and limit= at most 2 x 20 digits and
     * 15 bytes more), so only running out of memory can fail, and that
     * aborts as mem_alloc() does: a link is never cut or empty. */
    buf_init(&b, strlen(c->base) + strlen(path) + (q ? strlen(q) : 0) + 64);
    buf_printf(&b, "%s%s?", c->base, path);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (!(n >= 6 && strncmp(q, "start=", 6) == 0) && !(n >= 6 && strncmp(q, "limit=", 6) == 0) && n) {
            buf_append(&b, q, n);
            buf_append_str(&b, "&");
        }
        q = amp ? amp + 1 : NULL;
    }
    buf_printf(&b, "start=%ld&limit=%ld", start, limit);
    if (!buf_ok(&b))
        abort();
    json_t *s = json_string(b.data);
    buf_free(&b);
    return s;
}

void sb_jsm_list(sb_call_t *c, long dflt, long max, long n, sb_item_fn item, const void *ud)
{
    long start, limit;
    sb_jsm_paging(c, dflt, max, &start, &limit);
    json_t *v = json_array();
    for (long i = start; i < n && i < start + limit; i++)
        json_array_append_new(v, item(c, ud, i));
    sb_json(c, 200, sb_jsm_page(c, v, start, limit, n));
}

void sb_platform_list(sb_call_t *c, long dflt, long max, const char *key, long n, sb_item_fn item, const void *ud)
{
    long start, limit;
    sb_platform_paging(c, dflt, max, &start, &limit);
    json_t *v = json_array();
    for (long i = start; i < n && i < start + limit; i++)
        json_array_append_new(v, item(c, ud, i));
    sb_json(c, 200, sb_pack("{s:I, s:I, s:I, s:o}", "startAt", (json_int_t)start, "maxResults", (json_int_t)limit,
                            "total", (json_int_t)n, key, v));
}

json_t *sb_user_dto_item(const sb_call_t *c, const void *users, long i)
{
    return sb_user_dto(c, ((const int *)users)[i]);
}

void sb_pager_init(sb_call_t *c, sb_pager_t *pg, long dflt, long max)
{
    sb_jsm_paging(c, dflt, max, &pg->start, &pg->limit);
    pg->total = 0;
    pg->values = json_array();
}

int sb_pager_take(sb_pager_t *pg)
{
    long k = pg->total++;
    return k >= pg->start && k < pg->start + pg->limit;
}

void sb_pager_send(sb_call_t *c, sb_pager_t *pg)
{
    sb_json(c, 200, sb_jsm_page(c, pg->values, pg->start, pg->limit, pg->total));
}

json_t *sb_jsm_page(const sb_call_t *c, json_t *values, long start, long limit, long total)
{
    long size = (long)json_array_size(values);
    int last = start + size >= total;
    if (limit == c->jsm_limit_used && c->jsm_limit_asked > limit)
        limit = c->jsm_limit_asked; /* JSM echoes the asked limit and returns fewer */
    char basel[600];
    snprintf(basel, sizeof basel, "%s/rest/servicedeskapi", c->base);
    json_t *links = sb_pack("{s:s, s:s, s:o}", "base", basel, "context", "", "self", page_link(c, start, limit));
    if (!last)
        json_object_set_new(links, "next", page_link(c, start + size, limit));
    if (start > 0)
        json_object_set_new(links, "prev", page_link(c, start - limit > 0 ? start - limit : 0, limit));
    return sb_pack("{s:[], s:i, s:i, s:i, s:b, s:o, s:o}", "_expands", "size", (int)size, "start", (int)start,
                     "limit", (int)limit, "isLastPage", last, "_links", links, "values", values);
}
