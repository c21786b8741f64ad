/* sb_http: the request pipeline shared by every sandbox endpoint (see sb.h):
 * route registration, authentication, limits, strict mode, injected faults
 * and the request log. The helpers a handler uses are sb_call.c's. */
#include "sb.h"
#include "sb_seed.h"

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
        sb_respond_json(req, 400, sb_pack("{s:o, s:{s:s, s:[]}}", "errorMessage", sb_checked_str(msg), "i18nErrorMessage",
                                          "i18nKey", "sandbox.strict.refused", "parameters"));
    else
        sb_respond_json(req, 400, sb_pack("{s:[o], s:{}}", "errorMessages", sb_checked_str(msg), "errors"));
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

/* The client of a held request went away (a worker cancelled the call,
 * or gave up): counted ("clientGone", GET /__sandbox/counters) and the
 * hold ends without running the handler. The latency stands for the way
 * to Jira, so an abandoned request never reached the site; the request
 * log records it with status 499 (nginx's "client closed request"). */
static void delayed_abort(httpd_req_t *req, void *ud)
{
    delayed_t *d = ud;
    d->call.sb->nclient_gone++;
    delayed_unlink(d->call.sb, d);
    httpd_respond(req, 499, "text/plain", "", 0);
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, delayed_close_cb);
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
    httpd_req_on_abort(c->req, delayed_abort, d);
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
    case SB_FAULT_ANSWER: {
        /* The body as set, whatever it is; a 204 has none. */
        int st = sb_faults_answer_status(c.sb->faults);
        const char *b = st == 204 ? "" : sb_faults_answer_body(c.sb->faults);
        httpd_respond(req, st, "application/json;charset=UTF-8", b, strlen(b));
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
    sb->data = sb_seed_data(sb->cfg.seed, sb->cfg.anchor_ms, sb->cfg.email);
    sb_queues_compile(sb);
}
