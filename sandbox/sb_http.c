/* sb_http: the request pipeline shared by every sandbox endpoint (see sb.h)
 * and the response/DTO helpers of the three API families. */
#include "sb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"
#include "sb_pack.h"
#include "jsontext.h"
#include "log.h"
#include "httpresp.h"
#include "sb_faults.h"
#include "sb_gzip.h"
#include "sb_jql.h"
#include "sb_limits.h"
#include "sb_strict.h"
#include "sb_oauth.h"
#include "clock.h"

#define GATEWAY_PREFIX "/ex/jira/:cloudId"

/* Router user data: one per route and root; both roots share the bucket. */
typedef struct sb_rt_s {
    sb_t *sb;
    const sb_route_t *def;
    sb_bucket_t *bucket;
    int gateway;
    int owns_bucket;
} sb_rt_t;

/* A request held back by injected latency or a stall. Freed in close_cb. */
typedef struct delayed_s {
    uv_timer_t timer;
    sb_call_t call;
    int stall;
    struct delayed_s *next, *prev;
} delayed_t;

static void run_call(sb_call_t *c);

int64_t sb_now(const sb_t *sb)
{
    return clock_now_ms() + sb->clock_offset_ms;
}

/* ---- registration ---- */
static void keep_ref(sb_t *sb, void *p)
{
    if (sb->nroute_refs == sb->route_refs_cap) {
        sb->route_refs_cap = sb->route_refs_cap ? sb->route_refs_cap * 2 : 64;
        sb->route_refs = mem_realloc(sb->route_refs, (size_t)sb->route_refs_cap * sizeof(void *));
    }
    sb->route_refs[sb->nroute_refs++] = p;
}

static void route_entry(httpd_req_t *req, const router_params_t *params, void *ud);

void sb_routes_register(sb_t *sb, const sb_route_t *routes, int n)
{
    for (int i = 0; i < n; i++) {
        sb_bucket_t *bucket = mem_calloc(1, sizeof *bucket);
        for (int g = 0; g < 2; g++) {
            if (g && (routes[i].flags & SB_R_SITE_ONLY))
                continue;
            sb_rt_t *rt = mem_calloc(1, sizeof *rt);
            rt->sb = sb;
            rt->def = &routes[i];
            rt->bucket = bucket;
            rt->owns_bucket = !g;
            rt->gateway = g;
            keep_ref(sb, rt);
            char pat[512];
            snprintf(pat, sizeof pat, "%s%s", g ? GATEWAY_PREFIX : "", routes[i].pattern);
            router_add(sb->router, routes[i].method, pat, route_entry, rt);
        }
    }
}

void sb_routes_free(sb_t *sb)
{
    for (int i = 0; i < sb->nroute_refs; i++) {
        sb_rt_t *rt = sb->route_refs[i];
        if (rt->owns_bucket)
            free(rt->bucket);
        free(rt);
    }
    free(sb->route_refs);
    sb->route_refs = NULL;
    sb->nroute_refs = 0;
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

#define SB_MAX_RESPONSE (64u << 20)

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
    buf_t b;
    buf_init(&b, SB_MAX_RESPONSE);
    if (!v || jsontext_dump_buf(&b, v) != 0 || !b.data) {
        json_decref(v);
        buf_free(&b);
        httpresp_problem(req, 500, "response could not be serialised", NULL);
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
static json_t *checked_str(const char *msg)
{
    json_t *v = json_string(msg);
    return v ? v : json_string("The request contains text that is not valid UTF-8.");
}

void sb_err_platform(sb_call_t *c, int status, const char *msg)
{
    sb_respond_json(c->req, status, sb_pack("{s:[o], s:{}}", "errorMessages", checked_str(msg), "errors"));
}

void sb_err_platform_field(sb_call_t *c, int status, const char *field, const char *msg)
{
    json_t *errors = json_object();
    json_object_set_new(errors, field, checked_str(msg));
    sb_respond_json(c->req, status, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
}

void sb_err_jsm(sb_call_t *c, int status, const char *msg, const char *key)
{
    sb_respond_json(c->req, status, sb_pack("{s:o, s:{s:s, s:[]}}", "errorMessage", checked_str(msg), "i18nErrorMessage",
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

/* The API gateway's own limiter: its error shape, no Retry-After and none
 * of Jira's rate-limit headers. */
static void respond_429_gateway(httpd_req_t *req)
{
    sb_respond_json(req, 429, sb_pack("{s:i, s:s}", "code", 429, "message", "Too Many Requests"));
}

/* The old HTML error page Jira served for 429s (body class "error429"). */
static void respond_429_html(httpd_req_t *req, int retry_after_s)
{
    static const char page[] =
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Oops - an error has occurred</title>"
        "<meta name=\"decorator\" content=\"none\" /></head><body class=\" error-page error429\"><div id=\"page\">"
        "<section id=\"content\" role=\"main\"><div id=\"error-state\"><span class=\"error-type\"></span>"
        "<h1>Something went wrong</h1><p>Try reloading the page, then check our "
        "<a href=\"https://status.atlassian.com\">Statuspage</a> for any current outages.</p></div></section>"
        "</div></body></html>";
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after_s);
        httpd_resp_header(req, "Retry-After", v);
    }
    sb_send(req, 429, "text/html;charset=UTF-8", page, sizeof page - 1);
}

/* ---- pipeline ---- */
static void set_base(sb_call_t *c)
{
    const char *host = httpd_req_header(c->req, "Host");
    char h[128];
    /* Host is client input: keep only characters a host:port can have. */
    size_t n = 0;
    for (const char *p = host ? host : ""; *p && n < sizeof h - 1; p++)
        if (isalnum((unsigned char)*p) || strchr(".-:[]", *p))
            h[n++] = *p;
    h[n] = 0;
    if (!n)
        snprintf(h, sizeof h, "%s:%d", c->sb->cfg.host, httpd_port(c->sb->httpd));
    snprintf(c->base, sizeof c->base, "http://%s%s%s", h, c->gateway ? "/ex/jira/" : "",
             c->gateway ? c->sb->cfg.cloud_id : "");
}

static void site_401(sb_call_t *c, int had_credentials)
{
    char realm[200];
    c->sb->nauth_fail++;
    if (had_credentials)
        httpd_resp_header(c->req, "X-Seraph-LoginReason", "AUTHENTICATED_FAILED");
    snprintf(realm, sizeof realm, "OAuth realm=\"https%%3A%%2F%%2F%s.atlassian.net\"", c->sb->cfg.site_name);
    httpd_resp_header(c->req, "WWW-Authenticate", realm);
    const char *msg = "Client must be authenticated to access this resource.";
    httpd_respond(c->req, 401, "text/plain;charset=UTF-8", msg, strlen(msg));
}

/* Basic email:api_token; returns 1 when it matches the configured pair. */
/* Basic email:api_token: 1 = the agent, 2 = the portal customer, 0 = neither. */
static int basic_ok(const sb_t *sb, const char *b64)
{
    unsigned char dec[512];
    size_t n = 0;
    char want[600];
    if (sodium_base642bin(dec, sizeof dec - 1, b64, strlen(b64), " ", &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return 0;
    int wl = snprintf(want, sizeof want, "%s:%s", sb->cfg.email, sb->cfg.api_token);
    if ((int)n == wl && sodium_memcmp(dec, want, n) == 0)
        return 1;
    wl = snprintf(want, sizeof want, "%s:%s", sb->cfg.customer_email, sb->cfg.customer_token);
    if ((int)n == wl && sodium_memcmp(dec, want, n) == 0)
        return 2;
    return 0;
}

/* Sets c->user for a Basic login; 0 when the credentials are good. */
static int basic_login(sb_call_t *c, const char *b64)
{
    int who = basic_ok(c->sb, b64);
    if (who == 2)
        c->user = sb_user_find_any(c->sb->data, c->sb->cfg.customer_email);
    return who && c->user >= 0 ? 0 : -1;
}

/* The classic scope an operation needs (x-atlassian-oauth2-scopes, simplified
 * per family and method). */
static const char *route_scope(const sb_route_t *r)
{
    int read = !strcmp(r->method, "GET");
    if (strstr(r->pattern, "/customer") || strstr(r->pattern, "/organization"))
        return read ? "read:servicedesk-request" : "manage:servicedesk-customer";
    if (r->family == SB_FAM_JSM)
        return strstr(r->pattern, "/queue") || strstr(r->pattern, "/sla") ? "read:jira-work"
               : read                                                    ? "read:servicedesk-request"
                                                                         : "write:servicedesk-request";
    if (strstr(r->pattern, "/user") || strstr(r->pattern, "/myself"))
        return "read:jira-user";
    return read || strstr(r->pattern, "/search") ? "read:jira-work" : "write:jira-work";
}

static int scope_ok(const sb_call_t *c, const char *granted)
{
    const char *need = route_scope(c->route);
    size_t n = strlen(need);
    for (const char *p = granted; (p = strstr(p, need)); p += n)
        if ((p == granted || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
            return 1;
    return 0;
}

/* Returns 0 when authenticated (c->user set); otherwise has responded. */
static int authenticate(sb_call_t *c)
{
    sb_t *sb = c->sb;
    const char *auth = httpd_req_header(c->req, "Authorization");
    c->user = sb->data->caller;
    if (c->route->flags & SB_R_NOAUTH)
        return 0;
    if (c->gateway) {
        if (strcmp(sb_param(c, "cloudId"), sb->cfg.cloud_id) != 0) {
            sb->nauth_fail++;
            sb_err_gateway(c->req, 404, "Not Found");
            return -1;
        }
        int user;
        if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
            char scope[256];
            if (sb_oauth_check_bearer(sb->oauth, auth + 7, sb_now(sb), &user, scope, sizeof scope) == 0) {
                c->user = user;
                c->oauth = 1;
                if (sb->cfg.oauth_scope_check && !scope_ok(c, scope)) {
                    sb->nauth_fail++;
                    sb_err_gateway(c->req, 401, "Unauthorized; scope does not match");
                    return -1;
                }
                return 0;
            }
        } else if (auth && strncasecmp(auth, "Basic ", 6) == 0 && basic_login(c, auth + 6) == 0) {
            return 0; /* scoped API token through the gateway */
        }
        sb->nauth_fail++;
        sb_err_gateway(c->req, 401, "Unauthorized");
        return -1;
    }
    if (auth && strncasecmp(auth, "Basic ", 6) == 0 && basic_login(c, auth + 6) == 0)
        return 0;
    site_401(c, auth != NULL);
    return -1;
}

static int limited(sb_call_t *c)
{
    sb_t *sb = c->sb;
    sb_limit_result_t burst, r;
    if (!c->bucket || (c->route->flags & SB_R_NOLIMIT))
        return 0;
    int64_t now = sb_now(sb);
    if (sb_limits_burst(sb->limits, c->bucket, c->route->method, c->route->rps, now, &burst)) {
        sb->n429++;
        sb_respond_429(c->req, burst.limit, burst.retry_after_s, burst.reason, 1, now);
        return 1;
    }
    if (c->route->flags & SB_R_ISSUE_WRITE) {
        sb_issue_t *is = sb_issue_find(sb->data, sb_param(c, "key"));
        if (is && sb_limits_issue_write(sb->limits, is, now, &r)) {
            sb->n429++;
            sb_respond_429(c->req, r.limit, r.retry_after_s, r.reason, 1, now);
            return 1;
        }
    }
    int near = 0; /* X-RateLimit-NearLimit: less than 20% of the points quota left (quota traffic only) */
    if (c->oauth) { /* points quota: OAuth apps only, API tokens are exempt */
        if (sb_limits_quota(sb->limits, c->route->cost, now, &r)) {
            sb->n429++;
            sb_respond_429(c->req, r.limit, r.retry_after_s, r.reason, 1, now);
            return 1;
        }
        if (r.limit) {
            char v[128];
            snprintf(v, sizeof v, "\"tenant-app-quota\";q=%d;w=3600", r.limit);
            httpd_resp_header(c->req, "RateLimit-Policy", v);
            if (r.remaining <= r.limit / 5) { /* r appears after ~80% use */
                snprintf(v, sizeof v, "\"tenant-app-quota\";r=%d;t=%d", r.remaining, r.retry_after_s);
                httpd_resp_header(c->req, "RateLimit", v);
                near = 1;
            }
        }
    }
    char v[24];
    snprintf(v, sizeof v, "%d", burst.limit);
    httpd_resp_header(c->req, "X-RateLimit-Limit", v);
    snprintf(v, sizeof v, "%d", burst.remaining);
    httpd_resp_header(c->req, "X-RateLimit-Remaining", v);
    if (near)
        httpd_resp_header(c->req, "X-RateLimit-NearLimit", "true");
    return 0;
}

/* Strict mode (sb_strict.h): 1 when the request was refused and answered
 * (400 in the family's error shape, naming the offending part). */
static int strict_refuse(sb_t *sb, httpd_req_t *req, sb_call_t *c)
{
    const char *path = httpd_req_path(req);
    if (!strncmp(path, "/ex/", 4)) { /* the gateway root: validate what follows it */
        const char *p = strstr(path, "/rest/");
        path = p ? p : path;
    }
    if (!sb->strict || !sb_strict_applies(path))
        return 0;
    size_t len;
    const char *body = httpd_req_body(req, &len), *fam;
    char msg[800];
    int r = sb_strict_check(sb->strict, httpd_req_method(req), path, httpd_req_query(req),
                            httpd_req_header(req, "Content-Type"), body, len, msg, sizeof msg, &fam);
    if (r == SB_STRICT_OK)
        return 0;
    LOG_WARN("sandbox", r == SB_STRICT_ALLOWED ? "strict mode: allowed by the allow-list" : "strict mode refused",
             "method", httpd_req_method(req), "path", path, "reason", msg, NULL);
    if (r == SB_STRICT_ALLOWED)
        return 0;
    httpd_resp_header(req, "X-Sandbox-Strict", "refused");
    if (!strcmp(fam, "jsm"))
        sb_respond_json(req, 400, sb_pack("{s:o, s:{s:s, s:[]}}", "errorMessage", checked_str(msg), "i18nErrorMessage",
                                          "i18nKey", "sandbox.strict.refused", "parameters"));
    else
        sb_respond_json(req, 400, sb_pack("{s:[o], s:{}}", "errorMessages", checked_str(msg), "errors"));
    (void)c;
    return 1;
}

int sb_strict_unrouted(sb_t *sb, httpd_req_t *req)
{
    return strict_refuse(sb, req, NULL);
}

static void run_call(sb_call_t *c)
{
    if (authenticate(c) != 0)
        return;
    if (!(c->route->flags & SB_R_NOAUTH))
        httpd_resp_header(c->req, "X-AAccountId", c->sb->data->users[c->user].account_id);
    if (limited(c))
        return;
    if (strict_refuse(c->sb, c->req, c))
        return;
    if ((c->route->flags & SB_R_AGENT) && sb_is_customer(c)) {
        sb_err_jsm(c, 403, "You do not have permission to perform this operation: it is for agents only.",
                   "sd.agent.permission.denied");
        return;
    }
    if (c->route->flags & SB_R_EXPERIMENTAL) {
        const char *x = httpd_req_header(c->req, "X-ExperimentalApi");
        if (!x || strcasecmp(x, "opt-in") != 0) {
            sb_err_jsm(c, 412,
                       "This API is experimental. Experimental APIs are not guaranteed to be stable within the preview "
                       "period. You must set the header 'X-ExperimentalApi: opt-in' to opt into using this API.",
                       "sd.api.experimental.optin.required");
            return;
        }
    }
    c->route->fn(c);
}

static void delayed_close_cb(uv_handle_t *h)
{
    free(h->data);
}

static void delayed_unlink(sb_t *sb, delayed_t *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        sb->delayed = d->next;
    if (d->next)
        d->next->prev = d->prev;
}

static void delayed_fire(delayed_t *d)
{
    delayed_unlink(d->call.sb, d);
    if (d->stall)
        sb_err_platform(&d->call, 503, "Service Unavailable");
    else
        run_call(&d->call);
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, delayed_close_cb);
}

static void delayed_timer_cb(uv_timer_t *t)
{
    delayed_fire(t->data);
}

static void defer_call(sb_call_t *c, unsigned ms, int stall)
{
    delayed_t *d = mem_calloc(1, sizeof *d);
    d->call = *c;
    d->stall = stall;
    d->timer.data = d;
    uv_timer_init(c->sb->loop, &d->timer);
    d->next = c->sb->delayed;
    if (d->next)
        d->next->prev = d;
    c->sb->delayed = d;
    uv_timer_start(&d->timer, delayed_timer_cb, ms, 0);
}

void sb_quota_charge(sb_call_t *c, int points)
{
    if (c->oauth)
        sb_limits_quota_charge(c->sb->limits, points, sb_now(c->sb));
}

void sb_http_shutdown(sb_t *sb)
{
    while (sb->delayed) {
        delayed_t *d = sb->delayed;
        d->stall = 1; /* answer 503 now rather than run the handler */
        delayed_fire(d);
    }
}

size_t sb_http_held(const sb_t *sb)
{
    size_t n = 0;
    for (const delayed_t *d = sb->delayed; d; d = d->next)
        n++;
    return n;
}

size_t sb_http_release(sb_t *sb)
{
    size_t n = 0;
    while (sb->delayed) {
        delayed_fire(sb->delayed);
        n++;
    }
    return n;
}

/* A 200 whose chunked body stops in the middle: the connection closes
 * before the last chunk. */
static void fault_truncate(sb_call_t *c)
{
    static const char part[] = "{\"errorMessages\":[\"";
    if (httpd_stream_begin(c->req, 200, "application/json;charset=UTF-8") == 0)
        httpd_stream_write(c->req, part, sizeof part - 1);
    httpd_stream_cut(c->req);
}

static void route_entry(httpd_req_t *req, const router_params_t *params, void *ud)
{
    sb_rt_t *rt = ud;
    sb_call_t c;
    memset(&c, 0, sizeof c);
    c.sb = rt->sb;
    c.req = req;
    c.route = rt->def;
    c.params = *params;
    c.gateway = rt->gateway;
    c.bucket = rt->bucket;
    set_base(&c);
    unsigned delay = 0;
    int fault = (rt->def->flags & SB_R_NOLIMIT) ? SB_FAULT_NONE
                                                 : sb_faults_pick(c.sb->faults, httpd_req_path(req), &delay);
    switch (fault) {
    case SB_FAULT_ERROR: {
        int st = sb_faults_error_status(c.sb->faults), ra = sb_faults_error_retry_after(c.sb->faults);
        if (ra > 0) { /* e.g. a 503 when a resource limit is reached */
            char v[16];
            snprintf(v, sizeof v, "%d", ra);
            httpd_resp_header(req, "Retry-After", v);
        }
        if (c.gateway)
            sb_err_gateway(req, st, httpd_status_text(st));
        else
            sb_err_platform(&c, st, httpd_status_text(st));
        return;
    }
    case SB_FAULT_RESET:
        httpd_reset(req);
        return;
    case SB_FAULT_TRUNCATE:
        fault_truncate(&c);
        return;
    case SB_FAULT_STALL:
        defer_call(&c, sb_faults_stall_ms(c.sb->faults), 1);
        return;
    case SB_FAULT_429: {
        int ra = sb_faults_429_retry_after(c.sb->faults), style = sb_faults_429_style(c.sb->faults);
        c.sb->n429++;
        if (style == SB_429_GATEWAY)
            respond_429_gateway(req);
        else if (style == SB_429_HTML)
            respond_429_html(req, ra);
        else
            sb_respond_429(req, 100, ra > 0 ? ra : 1, "jira-burst-based", ra > 0, sb_now(c.sb));
        return;
    }
    default:
        break;
    }
    if (delay)
        defer_call(&c, delay, 0);
    else
        run_call(&c);
}

void sb_dispatch(httpd_req_t *req, void *ud)
{
    sb_t *sb = ud;
    sb->nrequests++;
    httpd_req_set_data(req, sb); /* sb_send reads the transport settings */
    if (strcmp(httpd_req_path(req), "/healthz") == 0) {
        httpd_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
        return;
    }
    router_dispatch(sb->router, req);
}

/* A JSM API request that may change data, whatever its answer: every
 * method but GET/HEAD on /rest/ or /ex/jira/ paths, except the POSTs that
 * only read (JQL search and count). The counters' "writes" (tests prove with
 * it that refused tool calls wrote nothing). */
static int is_write(const char *method, const char *path)
{
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
        return 0;
    if (strncmp(path, "/rest/", 6) != 0 && strncmp(path, "/ex/jira/", 9) != 0)
        return 0;
    static const char *const reads[] = {"/search/jql", "/search/approximate-count", "/search", NULL};
    size_t n = strlen(path);
    for (int i = 0; reads[i]; i++) {
        size_t m = strlen(reads[i]);
        if (n >= m && !strcmp(path + n - m, reads[i]))
            return 0;
    }
    return 1;
}

void sb_on_complete(httpd_req_t *req, int status, void *ud)
{
    sb_t *sb = ud;
    const char *path = httpd_req_path(req);
    if (strcmp(path, "/healthz") == 0 || strncmp(path, "/__sandbox", 10) == 0)
        return;
    const char *auth = httpd_req_header(req, "Authorization");
    const char *kind = !auth ? "none" : strncasecmp(auth, "Basic ", 6) == 0 ? "basic"
                                     : strncasecmp(auth, "Bearer ", 7) == 0 ? "bearer" : "other";
    uint64_t dur = (uv_hrtime() - httpd_req_start_ns(req)) / 1000;
    sb_reqlog_add(sb->reqlog, clock_now_ms(), httpd_req_method(req), path, httpd_req_query(req), status, kind,
                  httpd_req_id(req), httpd_req_header(req, "traceparent"), dur);
    if (is_write(httpd_req_method(req), path))
        sb->nwrites++;
    char labels[64];
    snprintf(labels, sizeof labels, "status=\"%d\"", status);
    metrics_inc(sb->metrics, "jsm_sandbox_requests_total", labels, 1);
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
    buf_init(&b, 8192);
    const char *path = httpd_req_path(c->req);
    if (c->gateway) { /* c->base already holds /ex/jira/<cloudId> */
        const char *p = strstr(path, "/rest/");
        path = p ? p : path;
    }
    buf_printf(&b, "%s%s?", c->base, path);
    const char *q = httpd_req_query(c->req);
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
    json_t *s = json_string(b.data ? b.data : "");
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

/* ---- queue JQL ---- */
void sb_queues_compile(sb_t *sb)
{
    sb->queue_jql = mem_calloc((size_t)sb->data->nqueues, sizeof(sb_jql_t *));
    for (int i = 0; i < sb->data->nqueues; i++) {
        char err[512];
        if (sb_jql_parse(sb->data, sb->data->queues[i].jql, &sb->queue_jql[i], err, sizeof err) != 0)
            LOG_ERROR("sandbox", "queue JQL does not parse", "queue", sb->data->queues[i].name, "error", err, NULL);
    }
}

void sb_queues_free(sb_t *sb)
{
    if (!sb->queue_jql)
        return;
    for (int i = 0; i < sb->data->nqueues; i++)
        sb_jql_free(sb->queue_jql[i]);
    free(sb->queue_jql);
    sb->queue_jql = NULL;
}

const sb_jql_t *sb_queue_jql(const sb_t *sb, const sb_queue_t *q)
{
    return sb->queue_jql[q - sb->data->queues];
}

void sb_reset_data(sb_t *sb)
{
    sb_queues_free(sb);
    sb_data_free(sb->data);
    sb->data = sb_data_new(sb->cfg.seed, sb->cfg.anchor_ms, sb->cfg.email);
    sb_queues_compile(sb);
}
