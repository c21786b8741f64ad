/* jsm-sandbox: a local Jira Service Management Cloud site for tests,
 * benchmarks and the demo. Configuration comes from flags or environment
 * (one table below); the server is one libuv loop; SIGTERM/SIGINT close the
 * listener, finish in-flight requests and free everything before exit. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "sb_pack.h"
#include "httpd.h"
#include "log.h"
#include "httpresp.h"
#include "sb.h"
#include "sb_seed.h"
#include "sb_faults.h"
#include "sb_jql.h"
#include "sb_limits.h"
#include "sb_oauth.h"
#include "sb_routes_request.h"
#include "sb_routes_search.h"
#include "sb_routes_users.h"
#include "sb_strict.h"
#include "clock.h"

enum ctype { C_STR, C_LISTEN, C_U64, C_INT, C_DBL, C_BOOL, C_TIME };

typedef struct copt_s {
    const char *flag, *env;
    int type;
    size_t off;
    size_t size; /* strings: buffer size */
    double min, max;
    const char *help;
} copt_t;

#define O(f) offsetof(sb_config_t, f)
#define S(f) sizeof(((sb_config_t *)0)->f)
static const copt_t OPTS[] = {
    {"--listen", "JSM_SANDBOX_LISTEN", C_LISTEN, 0, 0, 0, 0, "host:port (port 0 = any free port)"},
    {"--seed", "JSM_SANDBOX_SEED", C_U64, O(seed), 0, 0, 1e18, "data set seed"},
    {"--email", "JSM_SANDBOX_EMAIL", C_STR, O(email), S(email), 0, 0, "agent email accepted for Basic auth"},
    {"--api-token", "JSM_SANDBOX_API_TOKEN", C_STR, O(api_token), S(api_token), 0, 0, "agent API token"},
    {"--customer-email", "JSM_SANDBOX_CUSTOMER_EMAIL", C_STR, O(customer_email), S(customer_email), 0, 0, "portal customer's email (a seeded customer)"},
    {"--customer-token", "JSM_SANDBOX_CUSTOMER_TOKEN", C_STR, O(customer_token), S(customer_token), 0, 0, "portal customer's API token"},
    {"--cloud-id", "JSM_SANDBOX_CLOUD_ID", C_STR, O(cloud_id), S(cloud_id), 0, 0, "cloudId for /ex/jira/{cloudId}"},
    {"--site-name", "JSM_SANDBOX_SITE", C_STR, O(site_name), S(site_name), 0, 0, "site name ({site}.atlassian.net)"},
    {"--now", "JSM_SANDBOX_NOW", C_TIME, O(anchor_ms), 0, 0, 0, "ISO time the data set is generated for"},
    {"--rate-limit", "JSM_SANDBOX_RATE_LIMIT", C_BOOL, O(rate_enabled), 0, 0, 1, "rate limiting on (1) or off (0)"},
    {"--rate-scale", "JSM_SANDBOX_RATE_SCALE", C_DBL, O(rate_scale), 0, 1e-3, 1e6, "multiplier on Atlassian's burst limits"},
    {"--issue-writes-2s", "JSM_SANDBOX_ISSUE_WRITES_2S", C_INT, O(issue_writes_2s), 0, 1, 1e6, "writes per issue per 2 s"},
    {"--issue-writes-30s", "JSM_SANDBOX_ISSUE_WRITES_30S", C_INT, O(issue_writes_30s), 0, 1, 1e6, "writes per issue per 30 s"},
    {"--quota-points", "JSM_SANDBOX_QUOTA_POINTS", C_INT, O(quota_points), 0, 0, 1e8, "hourly points quota for OAuth apps (0 = off)"},
    {"--oauth-scope-check", "JSM_SANDBOX_OAUTH_SCOPE_CHECK", C_BOOL, O(oauth_scope_check), 0, 0, 1, "gateway calls need the operation's OAuth scope"},
    {"--search-lag-ms", "JSM_SANDBOX_SEARCH_LAG_MS", C_INT, O(search_lag_ms), 0, 0, 600000, "new issues reach search after (eventual consistency)"},
    {"--legacy-search", "JSM_SANDBOX_LEGACY_SEARCH", C_BOOL, O(legacy_search), 0, 0, 1, "serve the removed /search API instead of 410"},
    {"--oauth-client-id", "JSM_SANDBOX_OAUTH_CLIENT_ID", C_STR, O(oauth_client_id), S(oauth_client_id), 0, 0, "OAuth client id"},
    {"--oauth-client-secret", "JSM_SANDBOX_OAUTH_CLIENT_SECRET", C_STR, O(oauth_client_secret), S(oauth_client_secret), 0, 0, "OAuth client secret"},
    {"--access-ttl", "JSM_SANDBOX_ACCESS_TTL", C_INT, O(access_ttl_s), 0, 1, 86400 * 30, "access token lifetime (s)"},
    {"--refresh-leeway", "JSM_SANDBOX_REFRESH_LEEWAY", C_INT, O(refresh_leeway_s), 0, 0, 86400, "old refresh token grace (s)"},
    {"--latency-ms", "JSM_SANDBOX_LATENCY_MS", C_INT, O(latency_ms), 0, 0, 600000, "added latency"},
    {"--jitter-ms", "JSM_SANDBOX_JITTER_MS", C_INT, O(jitter_ms), 0, 0, 600000, "added random latency"},
    {"--error-rate", "JSM_SANDBOX_ERROR_RATE", C_DBL, O(error_rate), 0, 0, 1, "share of requests answered with error-status"},
    {"--error-status", "JSM_SANDBOX_ERROR_STATUS", C_INT, O(error_status), 0, 400, 599, "status for injected errors"},
    {"--reset-rate", "JSM_SANDBOX_RESET_RATE", C_DBL, O(reset_rate), 0, 0, 1, "share of requests answered with a TCP reset"},
    {"--truncate-rate", "JSM_SANDBOX_TRUNCATE_RATE", C_DBL, O(truncate_rate), 0, 0, 1, "share of responses cut off"},
    {"--stall-rate", "JSM_SANDBOX_STALL_RATE", C_DBL, O(stall_rate), 0, 0, 1, "share of requests stalled"},
    {"--stall-ms", "JSM_SANDBOX_STALL_MS", C_INT, O(stall_ms), 0, 0, 3600000, "stall duration"},
    {"--rate429", "JSM_SANDBOX_RATE429", C_DBL, O(r429_rate), 0, 0, 1, "share of requests answered 429"},
    {"--gzip", "JSM_SANDBOX_GZIP", C_BOOL, O(gzip), 0, 0, 1, "gzip responses when Accept-Encoding allows (1, as Cloud)"},
    {"--gzip-min-bytes", "JSM_SANDBOX_GZIP_MIN_BYTES", C_INT, O(gzip_min), 0, 0, 1 << 30, "smallest body compressed"},
    {"--strict", "JSM_SANDBOX_STRICT", C_BOOL, O(strict), 0, 0, 1, "validate requests against the OpenAPI documents"},
    {"--strict-allow", "JSM_SANDBOX_STRICT_ALLOW", C_STR, O(strict_allow), S(strict_allow), 0, 0, "strict refusals let through (key prefixes, comma-separated; temporary)"},
    {"--max-attachment-bytes", "JSM_SANDBOX_MAX_ATTACHMENT_BYTES", C_INT, O(max_attachment), 0, 1, 64 << 20, "largest attachment upload"},
    {"--max-response-bytes", "JSM_SANDBOX_MAX_RESPONSE_BYTES", C_INT, O(max_response), 0, 1024, 64 << 20, "largest JSON response body (500 beyond)"},
};
#undef O
#undef S
#define NOPTS ((int)(sizeof OPTS / sizeof OPTS[0]))

static void config_defaults(sb_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 8090;
    c->seed = 1;
    snprintf(c->email, sizeof c->email, "agent@sandbox.test");
    snprintf(c->api_token, sizeof c->api_token, "sandbox-api-token");
    snprintf(c->customer_email, sizeof c->customer_email, "customer01@customer.example.com");
    snprintf(c->customer_token, sizeof c->customer_token, "sandbox-customer-token");
    snprintf(c->cloud_id, sizeof c->cloud_id, "11111111-2222-4333-8444-555555555555");
    snprintf(c->site_name, sizeof c->site_name, "sandbox");
    c->rate_enabled = 1;
    c->rate_scale = 1000;
    c->issue_writes_2s = 20;
    c->issue_writes_30s = 100;
    snprintf(c->oauth_client_id, sizeof c->oauth_client_id, "sandbox-client-id");
    snprintf(c->oauth_client_secret, sizeof c->oauth_client_secret, "sandbox-client-secret");
    c->access_ttl_s = 3600;
    c->refresh_leeway_s = 600;
    c->error_status = 503;
    c->stall_ms = 120000;
    c->gzip = 1;
    c->gzip_min = 32; /* tiny bodies are not worth a gzip header, as edge proxies skip them */
    c->max_attachment = 10 << 20;
    c->max_response = 64 << 20;
}

static int set_opt(sb_config_t *c, const copt_t *o, const char *v, char *err, size_t errsz)
{
    char *p = (char *)c + o->off, *end;
    errno = 0;
    switch (o->type) {
    case C_STR:
        if (strlen(v) >= o->size || !*v) {
            snprintf(err, errsz, "%s: must be 1..%zu bytes", o->flag, o->size - 1);
            return -1;
        }
        memcpy(p, v, strlen(v) + 1);
        return 0;
    case C_LISTEN: {
        const char *colon = strrchr(v, ':');
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == v || (size_t)(colon - v) >= sizeof c->host || *end || port < 0 || port > 65535) {
            snprintf(err, errsz, "%s: expected host:port, got '%s'", o->flag, v);
            return -1;
        }
        memcpy(c->host, v, (size_t)(colon - v));
        c->host[colon - v] = 0;
        c->port = (int)port;
        return 0;
    }
    case C_TIME: {
        int64_t ms;
        if (clock_parse_iso(v, &ms) != 0) {
            snprintf(err, errsz, "%s: expected an ISO 8601 time, got '%s'", o->flag, v);
            return -1;
        }
        *(int64_t *)p = ms;
        return 0;
    }
    default: break;
    }
    double d = strtod(v, &end);
    if (!*v || *end || errno || d < o->min || d > o->max) {
        snprintf(err, errsz, "%s: expected a number in [%g, %g], got '%s'", o->flag, o->min, o->max, v);
        return -1;
    }
    if (o->type == C_U64)
        *(uint64_t *)p = (uint64_t)d;
    else if (o->type == C_DBL)
        *(double *)p = d;
    else if (o->type == C_INT || o->type == C_BOOL) {
        if (o->off == offsetof(sb_config_t, latency_ms) || o->off == offsetof(sb_config_t, jitter_ms) ||
            o->off == offsetof(sb_config_t, stall_ms))
            *(unsigned *)p = (unsigned)d;
        else
            *(int *)p = (int)d;
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: jsm-sandbox [options]   (each option also reads its environment variable)\n");
    for (int i = 0; i < NOPTS; i++)
        fprintf(out, "  %-24s %-32s %s\n", OPTS[i].flag, OPTS[i].env, OPTS[i].help);
    fprintf(out, "  %-24s %-32s %s\n", "--help, --version", "", "this text; the version and commit");
}

/* Environment first, then flags over it. Returns the exit status when the
 * process is done (--help, --version, a bad option or value), else -1. */
static int config_load(sb_config_t *c, int argc, char **argv)
{
    static const cli_t CLI = {"jsm-sandbox", usage};
    char err[256], env_err[512] = "";
    config_defaults(c);
    for (int i = 0; i < NOPTS; i++) {
        const char *v = getenv(OPTS[i].env);
        /* Reported after the flags: --help answers even with a bad variable. */
        if (v && *v && set_opt(c, &OPTS[i], v, err, sizeof err) != 0 && !*env_err)
            snprintf(env_err, sizeof env_err, "%s (from %s)", err, OPTS[i].env);
    }
    for (int a = 1; a < argc; a++) {
        if (cli_is_common(argv[a]))
            return cli_arg(&CLI, argv[a]);
        const char *eq = strchr(argv[a], '=');
        size_t fl = eq ? (size_t)(eq - argv[a]) : strlen(argv[a]);
        int found = 0;
        for (int i = 0; i < NOPTS && !found; i++) {
            if (strlen(OPTS[i].flag) != fl || strncmp(OPTS[i].flag, argv[a], fl) != 0)
                continue;
            found = 1;
            const char *v = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
            if (!v || set_opt(c, &OPTS[i], v, err, sizeof err) != 0) {
                if (!v)
                    snprintf(err, sizeof err, "%s: missing value", OPTS[i].flag);
                fprintf(stderr, "jsm-sandbox: %s\n", err);
                return 2;
            }
        }
        if (!found)
            return cli_arg(&CLI, argv[a]);
    }
    if (*env_err) {
        fprintf(stderr, "jsm-sandbox: %s\n", env_err);
        return 2;
    }
    if (!c->anchor_ms)
        c->anchor_ms = clock_now_ms() / 3600000 * 3600000; /* the data set is stable within the hour */
    return -1;
}

/* ---- lifecycle ---- */
typedef struct app_s {
    sb_t sb;
    uv_signal_t sigterm, sigint;
    int stopping;
} app_t;

static void not_found(httpd_req_t *req, const router_params_t *p, void *ud)
{
    const char *path = httpd_req_path(req);
    (void)p;
    if (sb_strict_unrouted(ud, req))
        return;
    if (strncmp(path, "/ex/", 4) == 0)
        sb_err_gateway(req, 404, "Not Found");
    else if (strncmp(path, "/__sandbox", 10) == 0)
        httpresp_problem(req, 404, "no such control endpoint", NULL);
    else
        sb_respond_json(req, 404, sb_pack("{s:[s], s:{}}", "errorMessages", "null for uri: the requested resource was not found", "errors"));
}

static void closed_cb(void *arg)
{
    app_t *app = arg;
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    if (app->stopping)
        return;
    app->stopping = 1;
    LOG_INFO("sandbox", "shutting down", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    sb_http_shutdown(&app->sb);
    httpd_close(app->sb.httpd, closed_cb, app);
}

int main(int argc, char **argv)
{
    static app_t app;
    sb_t *sb = &app.sb;
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    log_init("jsm-sandbox");
    int rc = config_load(&sb->cfg, argc, argv);
    if (rc >= 0)
        return rc;
    sb->loop = uv_default_loop();
    sb->data = sb_seed_data(sb->cfg.seed, sb->cfg.anchor_ms, sb->cfg.email);
    sb_queues_compile(sb);
    sb->metrics = metrics_new(1000);
    sb->limits = sb_limits_new(sb->cfg.rate_enabled, sb->cfg.rate_scale, sb->cfg.issue_writes_2s,
                               sb->cfg.issue_writes_30s, sb->cfg.quota_points);
    sb->faults = sb_faults_new(sb->cfg.seed);
    json_t *fj = sb_pack("{s:I, s:I, s:f, s:i, s:f, s:f, s:f, s:I, s:f}", "latencyMs", (json_int_t)sb->cfg.latency_ms,
                           "jitterMs", (json_int_t)sb->cfg.jitter_ms, "errorRate", sb->cfg.error_rate, "errorStatus",
                           sb->cfg.error_status, "resetRate", sb->cfg.reset_rate, "truncateRate", sb->cfg.truncate_rate,
                           "stallRate", sb->cfg.stall_rate,
                           "stallMs", (json_int_t)sb->cfg.stall_ms, "rate429", sb->cfg.r429_rate);
    if (sb_faults_set(sb->faults, fj, err, sizeof err) != 0) {
        fprintf(stderr, "jsm-sandbox: %s\n", err);
        return 2;
    }
    json_decref(fj);
    sb->reqlog = sb_reqlog_new();
    sb->gzip = sb->cfg.gzip;
    sb->gzip_min = (size_t)sb->cfg.gzip_min;
    if (sb->cfg.strict || sb->cfg.strict_allow[0]) {
        sb->strict = sb_strict_new_embedded(err, sizeof err);
        if (!sb->strict || sb_strict_set_allow(sb->strict, sb->cfg.strict_allow, err, sizeof err) != 0) {
            fprintf(stderr, "jsm-sandbox: %s\n", err);
            return 2;
        }
        if (!sb->cfg.strict) { /* an allow-list alone does not turn strict mode on */
            sb_strict_free(sb->strict);
            sb->strict = NULL;
        }
    }
    sb->oauth = sb_oauth_new(sb);
    sb->router = router_new();
    sb_routes_search(sb);
    sb_routes_users(sb); /* before platform: issue/createmeta/... before issue/{key}/... */
    sb_routes_platform(sb);
    sb_routes_jsm(sb);
    sb_routes_request(sb);
    sb_routes_attach(sb);
    sb_routes_relations(sb);
    sb_routes_register(sb, sb_oauth_routes, sb_oauth_nroutes);
    sb_routes_control(sb);
    router_add(sb->router, "*", "/*", not_found, sb);

    httpd_config_t hc;
    httpd_config_defaults(&hc);
    hc.host = sb->cfg.host;
    hc.port = sb->cfg.port;
    hc.server_name = "jsm-sandbox";
    hc.max_body_bytes = (size_t)sb->cfg.max_attachment + (1u << 20); /* multipart uploads; JSON stays smaller */
    hc.on_complete = sb_on_complete;
    rc = httpd_create(&sb->httpd, sb->loop, &hc, sb_dispatch, sb);
    if (rc != 0) {
        LOG_ERROR("sandbox", "cannot listen", "listen", sb->cfg.host, "error", uv_strerror(rc), NULL);
        return 1;
    }
    char port[16], seed[24];
    snprintf(port, sizeof port, "%d", httpd_port(sb->httpd));
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)sb->cfg.seed);
    LOG_INFO("sandbox", "listening", "host", sb->cfg.host, "port", port, "seed", seed, "cloud_id", sb->cfg.cloud_id,
             "strict", sb->strict ? "on" : "off", NULL);

    app.sigterm.data = app.sigint.data = &app;
    uv_signal_init(sb->loop, &app.sigterm);
    uv_signal_init(sb->loop, &app.sigint);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_run(sb->loop, UV_RUN_DEFAULT);

    sb_routes_free(sb);
    router_free(sb->router);
    sb_oauth_free(sb->oauth);
    sb_reqlog_free(sb->reqlog);
    sb_strict_free(sb->strict);
    sb_faults_free(sb->faults);
    sb_limits_free(sb->limits);
    metrics_free(sb->metrics);
    sb_queues_free(sb);
    sb_data_free(sb->data);
    rc = uv_loop_close(sb->loop);
    LOG_INFO("sandbox", "stopped", "loop_close", rc == 0 ? "ok" : uv_strerror(rc), NULL);
    return 0;
}
