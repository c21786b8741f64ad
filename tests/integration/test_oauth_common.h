/* test_oauth_common: helpers of the OAuth integration tests
 * (tests/integration/test_oauth*.c): the JSM sandbox standing in for
 * Atlassian's authorization server, the admin API pointed at it, the
 * connect flow driven like a browser would, and readers for the sandbox
 * counters, the API metrics and the sealed acct:<id> blob.
 *
 * Header-only (static inline): each test_*.c is linked on its own.
 */
#ifndef JSMCP_TEST_OAUTH_COMMON_H
#define JSMCP_TEST_OAUTH_COMMON_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "secret.h"
#include "tc.h"
#include "ts.h"

#define TO_CLIENT_ID "sandbox-client-id"
#define TO_CLIENT_SECRET "sandbox-client-secret"
#define TO_CLOUD_ID "11111111-2222-4333-8444-555555555555"

typedef struct to_env_s {
    ts_proc_t sandbox;
    char sb_url[64];     /* http://127.0.0.1:<port> */
    char sb_host[64];    /* 127.0.0.1:<port> */
    ts_api_t api;
    ts_proc_t api2;      /* a second API process on the same database and prefix */
    char api2_metrics_url[96];
    int has_api2;
    char ws[64], key[64];
} to_env_t;

static inline void to_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The OAuth tests need the sandbox (its OAuth server): not built is a
 * failure, never a skip (tests/run.sh). */
static inline void to_need_sandbox(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/jsm-sandbox", ts_getenv("JSMCP_BIN_DIR"));
    cr_assert_eq(access(path, X_OK), 0, "jsm-sandbox is not built in JSMCP_BIN_DIR (%s)", path);
}

/* Starts the sandbox (access token lifetime ttl_s, no grace for rotated
 * refresh tokens so any reuse is refused) and the API pointed at it. */
static inline void to_start(to_env_t *e, const char *name, int ttl_s, const char *interval, const char *ahead)
{
    char sb_env[4][160], api_env[6][160], nm[96];
    memset(e, 0, sizeof *e);
    to_need_sandbox();
    int port = ts_free_port();
    snprintf(e->sb_host, sizeof e->sb_host, "127.0.0.1:%d", port);
    snprintf(e->sb_url, sizeof e->sb_url, "http://127.0.0.1:%d", port);
    snprintf(sb_env[0], sizeof sb_env[0], "JSM_SANDBOX_LISTEN=%s", e->sb_host);
    snprintf(sb_env[1], sizeof sb_env[1], "JSM_SANDBOX_ACCESS_TTL=%d", ttl_s);
    snprintf(sb_env[2], sizeof sb_env[2], "JSM_SANDBOX_REFRESH_LEEWAY=0");
    snprintf(sb_env[3], sizeof sb_env[3], "JSM_SANDBOX_RATE_LIMIT=0");
    const char *senv[6] = {sb_env[0], sb_env[1], sb_env[2], sb_env[3], TS_SANDBOX_STRICT, NULL};
    snprintf(nm, sizeof nm, "%s-sandbox", name);
    ts_spawn(&e->sandbox, nm, "jsm-sandbox", NULL, senv, port);

    snprintf(api_env[0], sizeof api_env[0], "JSMCP_OAUTH_AUTH_URL=%s", e->sb_url);
    snprintf(api_env[1], sizeof api_env[1], "JSMCP_OAUTH_API_URL=%s", e->sb_url);
    snprintf(api_env[2], sizeof api_env[2], "JSMCP_SITE_ALLOWLIST=%s", e->sb_host);
    snprintf(api_env[3], sizeof api_env[3], "JSMCP_OAUTH_REFRESH_INTERVAL_MS=%s", interval);
    snprintf(api_env[4], sizeof api_env[4], "JSMCP_OAUTH_REFRESH_AHEAD_MS=%s", ahead);
    snprintf(api_env[5], sizeof api_env[5], "JSMCP_LOG_LEVEL=debug");
    const char *aenv[7] = {api_env[0], api_env[1], api_env[2], api_env[3], api_env[4], api_env[5], NULL};
    snprintf(nm, sizeof nm, "%s-api", name);
    ts_api_start(&e->api, nm, aenv);
    ts_api_workspace(&e->api, "oauth", e->ws, e->key);
}

/* A second API process sharing the first one's database, Redis prefix and keys. */
static inline void to_start_api2(to_env_t *e, const char *name)
{
    const char *env[TS_MAX_ENV + 3];
    char listen[64], mlisten[64];
    ts_api_env(&e->api, env, TS_MAX_ENV + 1);
    size_t n = 0;
    while (env[n])
        n++;
    int port = ts_free_port(), mport = ts_free_port();
    snprintf(listen, sizeof listen, "JSMCP_API_LISTEN=127.0.0.1:%d", port);
    snprintf(mlisten, sizeof mlisten, "JSMCP_API_METRICS_LISTEN=127.0.0.1:%d", mport);
    snprintf(e->api2_metrics_url, sizeof e->api2_metrics_url, "http://127.0.0.1:%d/metrics", mport);
    env[n++] = listen; /* later entries win (putenv) */
    env[n++] = mlisten;
    env[n] = NULL;
    ts_spawn(&e->api2, name, "jsmcp-api", NULL, env, port);
    e->has_api2 = 1;
}

/* Stops the API processes (clean exit: sanitizers found nothing). */
static inline void to_stop_apis(to_env_t *e)
{
    if (e->has_api2)
        cr_expect_eq(ts_stop(&e->api2), 0, "second API exit status (sanitizers?), log %s", e->api2.log);
    e->has_api2 = 0;
    cr_expect_eq(ts_api_stop(&e->api), 0, "API exit status (sanitizers?), log %s", e->api.proc.log);
}

static inline void to_stop(to_env_t *e)
{
    to_stop_apis(e);
    cr_expect_eq(ts_sandbox_strict_refused(e->sb_url), 0, "requests the sandbox refused in strict mode (stderr)");
    cr_expect_eq(ts_stop(&e->sandbox), 0, "sandbox exit status, log %s", e->sandbox.log);
}

static inline void to_set_app(to_env_t *e)
{
    char body[512];
    ts_resp_t r;
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"scopes\":[\"read:jira-work\",\"write:jira-work\"],"
             "\"redirect_url\":\"%s/oauth/callback\"}",
             TO_CLIENT_ID, TO_CLIENT_SECRET, e->api.url);
    ts_api_call(&r, &e->api, e->key, "PUT", "/oauth-app", body);
    cr_assert_eq(r.status, 200, "PUT /oauth-app: %ld %s", r.status, r.body);
    ts_resp_free(&r);
}

/* POST /integrated-account/connect (with the operator's context, a JSON
 * object's text, when not NULL), then the browser's trip: the sandbox's
 * /authorize answers 302 to our callback. Returns the callback URL
 * (caller frees). */
static inline char *to_authorize_ctx(to_env_t *e, const char *tenant, const char *context)
{
    char body[1024], loc[4096];
    ts_resp_t r;
    if (context)
        snprintf(body, sizeof body, "{\"tenant_id\":\"%s\",\"context\":%s}", tenant, context);
    else
        snprintf(body, sizeof body, "{\"tenant_id\":\"%s\"}", tenant);
    ts_api_call(&r, &e->api, e->key, "POST", "/integrated-account/connect", body);
    cr_assert_eq(r.status, 200, "connect: %ld %s", r.status, r.body);
    const char *url = json_string_value(json_object_get(r.json, "authorization_url"));
    cr_assert(url && strncmp(url, e->sb_url, strlen(e->sb_url)) == 0, "authorization_url %s", url ? url : "(none)");
    cr_assert(strstr(url, "state=") && strstr(url, "offline_access"), "authorization_url %s", url);
    ts_resp_t a;
    ts_http(&a, "GET", url, NULL, NULL, 0);
    cr_assert_eq(a.status, 302, "authorize: %ld %s", a.status, a.body);
    cr_assert(ts_resp_header(&a, "Location", loc, sizeof loc), "no Location");
    ts_resp_free(&a);
    ts_resp_free(&r);
    cr_assert(strncmp(loc, e->api.url, strlen(e->api.url)) == 0, "redirect to %s", loc);
    return strdup(loc);
}

/* to_authorize without a context. */
static inline char *to_authorize(to_env_t *e, const char *tenant)
{
    return to_authorize_ctx(e, tenant, NULL);
}

/* The full connect flow; returns the callback's response (caller frees). */
static inline void to_connect(to_env_t *e, const char *tenant, ts_resp_t *out)
{
    char *cb = to_authorize(e, tenant);
    ts_http(out, "GET", cb, NULL, NULL, 0);
    free(cb);
}

/* GET on the sandbox, parsed. */
static inline json_t *to_sb_get(to_env_t *e, const char *path)
{
    char url[256];
    ts_resp_t r;
    snprintf(url, sizeof url, "%s%s", e->sb_url, path);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200, "%s: %ld", path, r.status);
    json_t *v = json_incref(r.json);
    ts_resp_free(&r);
    return v;
}

/* tokenRequests.refresh_token and oauth.refreshDenied of the sandbox. */
static inline void to_sb_counts(to_env_t *e, long long *refresh, long long *denied)
{
    json_t *c = to_sb_get(e, "/__sandbox/counters");
    *refresh = json_integer_value(json_object_get(json_object_get(c, "tokenRequests"), "refresh_token"));
    *denied = json_integer_value(json_object_get(json_object_get(c, "oauth"), "refreshDenied"));
    json_decref(c);
}

/* Opens a value sealed for account id (ad "acct:<id>"); takes sealed. */
static inline json_t *to_open_acct(to_env_t *e, const char *id, char *sealed)
{
    char err[128], ad[64];
    secret_keyring_t *k = secret_keyring_parse(e->api.master_keys, err, sizeof err);
    cr_assert(k, "keyring: %s", err);
    size_t n;
    snprintf(ad, sizeof ad, "acct:%s", id);
    char *pt = secret_open(k, ad, sealed, &n, NULL, 0);
    cr_assert(pt, "sealed value of %s does not open", id);
    json_t *v = json_loadb(pt, n, 0, NULL);
    free(pt);
    free(sealed);
    secret_keyring_free(k);
    return v;
}

/* The opened acct:<id> blob (NULL when absent). */
static inline json_t *to_acct_blob(to_env_t *e, const char *id)
{
    char *sealed = tc_sealed(ts_redis("GET %sacct:%s", e->api.redis_prefix, id));
    return sealed ? to_open_acct(e, id, sealed) : NULL;
}

/* Waits (up to 30 s) until acct:<id> has cred_version >= want; returns
 * the blob. Redis follows PostgreSQL: the refresher publishes after commit. */
static inline json_t *to_wait_blob(to_env_t *e, const char *id, long long want)
{
    json_t *blob = to_acct_blob(e, id);
    for (int i = 0; i < 600 && (!blob || json_integer_value(json_object_get(blob, "cred_version")) < want); i++) {
        json_decref(blob);
        to_sleep_ms(50);
        blob = to_acct_blob(e, id);
    }
    cr_assert(blob, "acct:%s missing", id);
    return blob;
}

/* The account's credentials as sealed in PostgreSQL (with the refresh token). */
static inline json_t *to_pg_creds(to_env_t *e, const char *id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT credentials_sealed FROM integrated_accounts WHERE id = '%s'", id);
    char *sealed = ts_sql(e->api.db_url, sql);
    cr_assert(sealed, "no account %s", id);
    return to_open_acct(e, id, sealed);
}

static inline long long to_pg_version(to_env_t *e, const char *id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT cred_version FROM integrated_accounts WHERE id = '%s'", id);
    char *v = ts_sql(e->api.db_url, sql);
    long long n = v ? atoll(v) : -1;
    free(v);
    return n;
}

/* Sum of jsmcp_api_oauth_refresh_total over outcomes, from the API's /metrics at url. */
static inline long long to_refresh_handled(const char *metrics_url)
{
    ts_resp_t r;
    long long sum = 0;
    ts_http(&r, "GET", metrics_url, NULL, NULL, 0);
    for (char *l = r.body; l && *l;) {
        char *eol = strchr(l, '\n');
        if (eol)
            *eol = 0;
        char *sp = strrchr(l, ' ');
        if (strncmp(l, "jsmcp_api_oauth_refresh_total{", 30) == 0 && sp)
            sum += atoll(sp + 1);
        l = eol ? eol + 1 : NULL;
    }
    ts_resp_free(&r);
    return sum;
}

/* PUBLISHes "<id> <version>" n times on the refresh channel, pipelined on
 * one connection so the messages arrive together. */
static inline void to_publish_refresh(to_env_t *e, const char *id, long long version, int n)
{
    char msg[96], ch[128];
    redisContext *c = ts_redis_connect();
    snprintf(ch, sizeof ch, "%srefresh", e->api.redis_prefix);
    snprintf(msg, sizeof msg, "%s %lld", id, version);
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "PUBLISH %s %s", ch, msg);
    for (int i = 0; i < n; i++) {
        redisReply *rep;
        cr_assert(redisGetReply(c, (void **)&rep) == REDIS_OK);
        freeReplyObject(rep);
    }
    redisFree(c);
}

#endif
