/* ap_oauth: see ap_oauth.h.
 *
 * The callback is one request context (ap_req_t) with one connect_t in
 * r->ext: GETDEL state -> load the app -> token endpoint -> accessible-
 * resources -> transaction (lock the tenant's row, insert or update,
 * publish acct:<id>) -> commit and answer. Every secret it holds (client
 * secret, tokens) is wiped when the request is freed. */
#include "ap_oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_input.h"
#include "ap_publish.h"
#include "buf.h"
#include "cfg.h"
#include "jsontext.h"
#include "log.h"
#include "testhook.h"
#include "clock.h"
#include "url.h"

#define STATE_TTL_MS 600000
#define STATE_TTL_TEXT "600000"
#define CONTEXT_MAX 16384
#define TOKEN_MAX 8192
#define SCOPES_MAX 32
#define UPSTREAM_DETAIL_MAX 200
#define TOKEN_TIMEOUT_MS 5000

/* The process's OAuth state (one API process, one token client). */
typedef struct ap_oauth_s {
    char auth_url[AP_OAUTH_URL_MAX]; /* no trailing slash */
    char api_url[AP_OAUTH_URL_MAX];
    httpc_t *http;
    void (*stop_done)(void *arg);
    void *stop_arg;
} ap_oauth_t;

static ap_oauth_t *oa;

#define OAPP_JSON                                                                                  \
    "json_build_object('client_id', client_id, 'client_secret_set', true, 'scopes', scopes,"      \
    " 'redirect_url', redirect_url, 'created_at', " AP_TS("created_at") ","                       \
    " 'updated_at', " AP_TS("updated_at") ")::text"

/* ---- configuration and lifecycle ---- */

static int read_url(const char *name, const char *def, char *out, cfg_err_t *ce)
{
    const char *v = cfg_str(name, def);
    size_t n = strlen(v);
    while (n && v[n - 1] == '/')
        n--;
    if ((strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) || n >= AP_OAUTH_URL_MAX ||
        strpbrk(v, " \t\r\n?#")) {
        cfg_fail(ce, "%s must be an http(s) base URL without query", name);
        return -1;
    }
    snprintf(out, AP_OAUTH_URL_MAX, "%.*s", (int)n, v);
    return 0;
}

int ap_oauth_start(ap_app_t *app)
{
    cfg_err_t ce = {0};
    ap_oauth_t *o = mem_calloc(1, sizeof *o);
    oa = o;
    read_url("JSMCP_OAUTH_AUTH_URL", "https://auth.atlassian.com", o->auth_url, &ce);
    read_url("JSMCP_OAUTH_API_URL", "https://api.atlassian.com", o->api_url, &ce);
    if (ce.n) {
        fprintf(stderr, "jsmcp-api: configuration: %s (%d error%s)\n", ce.msg, ce.n, ce.n > 1 ? "s" : "");
        return -1;
    }
    httpc_config_t hc;
    httpc_config_defaults(&hc);
    hc.timeout_ms = TOKEN_TIMEOUT_MS;
    hc.max_response_bytes = 256 * 1024;
    hc.max_inflight = 1000;
    if (httpc_create(&o->http, app->loop, &hc) != 0) {
        fprintf(stderr, "jsmcp-api: cannot create the HTTP client\n");
        return -1;
    }
    metrics_describe(app->metrics, "jsmcp_api_oauth_connects_total", "counter", "OAuth callbacks by outcome");
    return 0;
}

static void on_http_closed(void *arg)
{
    ap_oauth_t *o = arg;
    void (*done)(void *) = o->stop_done;
    void *darg = o->stop_arg;
    free(o);
    oa = NULL;
    done(darg);
}

/* The refresher stopped first (ap_app.c), its refreshes let finish (the
 * token call times out after 5 s) before the HTTP client closes: an
 * aborted refresh could have rotated the refresh token upstream without us
 * storing the new one. */
void ap_oauth_stop(ap_app_t *app, void (*done)(void *arg), void *arg)
{
    (void)app;
    ap_oauth_t *o = oa;
    o->stop_done = done;
    o->stop_arg = arg;
    httpc_close(o->http, on_http_closed, o);
}

/* ---- token endpoint ---- */

typedef struct tok_call_s {
    ap_token_cb cb;
    void *ud;
} tok_call_t;

static void on_token_answer(const httpc_response_t *resp, void *ud)
{
    tok_call_t *t = ud;
    ap_token_res_t res = {.status = resp->status, .err = resp->err};
    json_t *v = NULL;
    if (!resp->err && resp->body_len) {
        char err[128];
        v = jsontext_parse(resp->body, resp->body_len, 8, err, sizeof err);
        if (!json_is_object(v)) {
            json_decref(v);
            v = NULL;
        }
    }
    res.json = v;
    res.error = v ? jsontext_str(v, "error") : NULL;
    t->cb(&res, t->ud);
    ap_oauth_free_json(v); /* the body holds tokens */
    free(t);
}

static int send_json(ap_app_t *app, const char *url, const json_t *body, const char *bearer, httpc_cb cb, void *ud)
{
    char *text = body ? jsontext_dump(body) : NULL;
    char auth[TOKEN_MAX + 32];
    const char *hdr[4] = {"Accept: application/json", NULL, NULL, NULL};
    int nh = 1;
    if (text)
        hdr[nh++] = "Content-Type: application/json";
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdr[nh++] = auth;
    }
    httpc_request_t rq = {.method = body ? "POST" : "GET", .url = url, .headers = hdr, .body = text,
                          .body_len = text ? strlen(text) : 0};
    int rc = httpc_request(oa->http, &rq, cb, ud);
    if (bearer)
        secret_wipe(auth);
    secret_wipe(text);
    free(text);
    return rc == 0 ? 0 : -1;
}

int ap_oauth_token(ap_app_t *app, const json_t *body, ap_token_cb cb, void *ud)
{
    char url[AP_OAUTH_URL_MAX + 32];
    snprintf(url, sizeof url, "%s/oauth/token", oa->auth_url);
    if (!body)
        return -1;
    tok_call_t *t = mem_alloc(sizeof *t);
    t->cb = cb;
    t->ud = ud;
    if (send_json(app, url, body, NULL, on_token_answer, t) != 0) {
        free(t);
        return -1;
    }
    return 0;
}

/* A token endpoint member that may go into an Authorization header. */
static int short_str(const json_t *v, const char *key, size_t max)
{
    const char *s = jsontext_str(v, key);
    return s && *s && strlen(s) <= max && ap_in_header_safe(s);
}

int ap_oauth_token_ok(const ap_token_res_t *res)
{
    const json_t *e = res->json ? json_object_get(res->json, "expires_in") : NULL;
    return res->status == 200 && res->json && short_str(res->json, "access_token", TOKEN_MAX) &&
           json_is_integer(e) && json_integer_value(e) > 0 && json_integer_value(e) < 366LL * 86400;
}

json_t *ap_oauth_creds(const json_t *tok, const json_t *prev, const char *cloud_id, int64_t cred_version)
{
    int64_t exp = clock_now_ms() + (int64_t)json_integer_value(json_object_get(tok, "expires_in")) * 1000;
    json_t *c = json_pack("{sssIsssI}", "access_token", jsontext_str(tok, "access_token"), "expires_at_ms",
                          (json_int_t)exp, "cloud_id", cloud_id, "cred_version", (json_int_t)cred_version);
    /* Atlassian rotates refresh tokens; when an answer carries none the old one stays valid. */
    const char *rt = short_str(tok, "refresh_token", TOKEN_MAX) ? jsontext_str(tok, "refresh_token")
                                                                 : (prev ? jsontext_str(prev, "refresh_token") : NULL);
    const char *scope = short_str(tok, "scope", 2048) ? jsontext_str(tok, "scope") : (prev ? jsontext_str(prev, "scope") : NULL);
    if (rt)
        json_object_set_new(c, "refresh_token", json_string(rt));
    if (scope)
        json_object_set_new(c, "scope", json_string(scope));
    return c;
}

/* ---- sealing ---- */

static char *seal_json(ap_app_t *app, const char *ad, const json_t *v)
{
    char *pt = jsontext_dump(v);
    char *sealed = pt ? secret_seal(app->keys, ad, pt, strlen(pt)) : NULL;
    secret_wipe(pt);
    free(pt);
    return sealed;
}

static json_t *open_json(ap_app_t *app, const char *ad, const char *sealed)
{
    size_t n;
    char *pt = secret_open(app->keys, ad, sealed, &n, NULL, 0);
    json_t *v = pt ? json_loadb(pt, n, 0, NULL) : NULL;
    secret_wipe(pt);
    free(pt);
    return v;
}

char *ap_oauth_seal_creds(ap_app_t *app, const char *id, const json_t *creds)
{
    char ad[64];
    snprintf(ad, sizeof ad, "acct:%s", id);
    return seal_json(app, ad, creds);
}

json_t *ap_oauth_open_creds(ap_app_t *app, const char *id, const char *sealed)
{
    char ad[64];
    snprintf(ad, sizeof ad, "acct:%s", id);
    return open_json(app, ad, sealed);
}

char *ap_oauth_record(ap_app_t *app, const char *id, long long version, const char *site_url, const char *status,
                      const char *cloud_id, const char *pace, const json_t *creds)
{
    return ap_account_record(app->keys, id, version, site_url, "oauth2", status, cloud_id, pace, creds);
}

char *ap_oauth_open_secret(ap_app_t *app, const char *ws_id, const char *sealed)
{
    char ad[64];
    size_t n;
    snprintf(ad, sizeof ad, "oauthapp:%s", ws_id);
    return secret_open(app->keys, ad, sealed, &n, NULL, 0);
}

void ap_oauth_free_json(json_t *v)
{
    const char *k;
    json_t *m;
    if (!v)
        return;
    /* Only the top level: token answers and credentials are flat objects. */
    json_object_foreach(v, k, m)
        if (json_is_string(m))
            secret_wipe((char *)json_string_value(m));
    json_decref(v);
}

static void free_secret(char **s)
{
    if (*s) {
        secret_wipe(*s);
        free(*s);
        *s = NULL;
    }
}

/* ---- /oauth-app ---- */

static int valid_scope(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 100)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(":._-", *p)))
            return 0;
    return 1;
}

/* An absolute http(s) URL without fragment, spaces or control characters. */
static int valid_redirect(const char *s)
{
    const char *host = strncmp(s, "https://", 8) == 0 ? s + 8 : strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
    if (!host || !*host || *host == '/' || strchr(s, '#'))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* Validated scopes as a JSON array, offline_access added (the refresher
 * needs refresh tokens). NULL with e set on bad input. */
static json_t *read_scopes(const json_t *v, ap_in_err_t *e)
{
    size_t i;
    json_t *s;
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > SCOPES_MAX) {
        snprintf(e->field, sizeof e->field, "/scopes");
        snprintf(e->detail, sizeof e->detail, "scopes must be an array of 1 to %d scope names", SCOPES_MAX);
        return NULL;
    }
    json_t *out = json_array();
    int offline = 0;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s) || !valid_scope(json_string_value(s))) {
            snprintf(e->field, sizeof e->field, "/scopes/%zu", i);
            snprintf(e->detail, sizeof e->detail, "a scope is 1 to 100 of letters, digits and : . _ -");
            json_decref(out);
            return NULL;
        }
        offline |= strcmp(json_string_value(s), "offline_access") == 0;
        json_array_append(out, s);
    }
    if (!offline)
        json_array_append_new(out, json_string("offline_access"));
    return out;
}

/* What a PUT writes, owned by the request (r->ext). */
typedef struct oapp_w_s {
    char *sealed;
    char *scopes;
} oapp_w_t;

static void oapp_w_free(void *p)
{
    oapp_w_t *w = p;
    free_secret(&w->sealed);
    free(w->scopes);
    free(w);
}

static void on_oapp_put(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23502") == 0) {
        ap_fail(r, 400, "client_secret is required the first time the OAuth app is set", "/client_secret");
        return;
    }
    if (!ap_res_ok(res) || PQntuples(res) != 1) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    ap_ok(r, 200, ap_res_json(res, 0, 0));
}

static void oapp_put(ap_req_t *r)
{
    static const char *const allowed[] = {"client_id", "client_secret", "scopes", "redirect_url", NULL};
    ap_in_err_t e;
    const char *client_id, *secret, *redirect;
    if (!r->body) {
        ap_fail(r, 400, "send {client_id, client_secret, scopes, redirect_url}", "/");
        return;
    }
    if (ap_in_only(r->body, allowed, "", &e) || ap_in_str(r->body, "client_id", "", 200, 1, &client_id, &e) ||
        ap_in_str(r->body, "client_secret", "", 1024, 0, &secret, &e) ||
        ap_in_str(r->body, "redirect_url", "", 2048, 1, &redirect, &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    if (!valid_redirect(redirect)) {
        ap_fail(r, 400, "redirect_url must be an absolute http(s) URL without fragment (your /oauth/callback)",
                "/redirect_url");
        return;
    }
    json_t *scopes = read_scopes(json_object_get(r->body, "scopes"), &e);
    if (!scopes) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    oapp_w_t *w = mem_calloc(1, sizeof *w);
    r->ext = w;
    r->ext_free = oapp_w_free;
    w->scopes = jsontext_dump(scopes);
    json_decref(scopes);
    if (secret) {
        char ad[64];
        snprintf(ad, sizeof ad, "oauthapp:%s", r->ws_id);
        w->sealed = secret_seal(r->app->keys, ad, secret, strlen(secret));
        if (!w->sealed) {
            ap_fail(r, 500, "could not encrypt the client secret", NULL);
            return;
        }
    }
    const char *p[6] = {r->ws_id, client_id, w->sealed, secret_keyring_active_kid(r->app->keys), w->scopes, redirect};
    ap_query(r,
             "INSERT INTO oauth_apps (workspace_id, client_id, client_secret_sealed, key_id, scopes, redirect_url)"
             " VALUES ($1, $2, COALESCE($3, (SELECT client_secret_sealed FROM oauth_apps WHERE workspace_id = $1)),"
             " $4, $5::jsonb, $6) ON CONFLICT (workspace_id) DO UPDATE SET"
             " client_id = EXCLUDED.client_id, client_secret_sealed = EXCLUDED.client_secret_sealed,"
             " key_id = CASE WHEN $3::text IS NULL THEN oauth_apps.key_id ELSE EXCLUDED.key_id END,"
             " scopes = EXCLUDED.scopes, redirect_url = EXCLUDED.redirect_url, updated_at = now()"
             " RETURNING " OAPP_JSON,
             6, p, on_oapp_put);
}

#define NO_APP "no OAuth app is set for this workspace: PUT /oauth-app first"

static void oapp_get(ap_req_t *r)
{
    const char *p[1] = {r->ws_id};
    ap_query_one(r, "SELECT " OAPP_JSON " FROM oauth_apps WHERE workspace_id = $1", 1, p, NO_APP);
}

static void on_oapp_deleted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        ap_fail(r, 404, NO_APP, NULL);
        return;
    }
    ap_no_content(r);
}

static void oapp_delete(ap_req_t *r)
{
    const char *p[1] = {r->ws_id};
    ap_query(r, "DELETE FROM oauth_apps WHERE workspace_id = $1 RETURNING 1", 1, p, on_oapp_deleted);
}

/* ---- POST /integrated-account/connect ---- */

static void connect_stored(ap_req_t *r)
{
    json_t *out = r->out;
    r->out = NULL;
    ap_ok(r, 200, out);
}

static void on_connect_app(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        ap_fail(r, 409, NO_APP, NULL);
        return;
    }
    const char *redirect = PQgetvalue(res, 0, 2);
    json_t *scopes = ap_res_json(res, 0, 1);
    /* The state record: what the callback needs, sealed in Redis. */
    json_t *rec = json_pack("{sssssssI}", "workspace_id", r->ws_id, "tenant_id", jsontext_str(r->body, "tenant_id"),
                            "redirect_url", redirect, "expires_at_ms", (json_int_t)(clock_now_ms() + STATE_TTL_MS));
    const char *site = jsontext_str(r->body, "site_url"); /* normalised by oauth_connect */
    if (site)
        json_object_set_new(rec, "site_url", json_string(site));
    json_t *ctx = json_object_get(r->body, "context");
    if (ctx)
        json_object_set(rec, "context", ctx);

    secret_token(r->token);
    secret_hash_hex(r->token, strlen(r->token), r->hash);
    r->redis_val = seal_json(r->app, "oauthstate", rec);
    json_decref(rec);
    if (!r->redis_val) {
        json_decref(scopes);
        ap_fail(r, 500, "could not encrypt the connect state", NULL);
        return;
    }

    buf_t u;
    buf_init(&u, 65536); /* 32 scopes, redirect URL and client id, all percent-encoded, fit */
    buf_printf(&u, "%s/authorize?audience=api.atlassian.com&client_id=", oa->auth_url);
    url_encode(&u, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
    buf_append_str(&u, "&scope=");
    size_t i;
    json_t *s;
    json_array_foreach(scopes, i, s) {
        if (i)
            buf_append_str(&u, "%20");
        url_encode(&u, json_string_value(s), json_string_length(s));
    }
    json_decref(scopes);
    buf_append_str(&u, "&redirect_uri=");
    url_encode(&u, redirect, strlen(redirect));
    buf_printf(&u, "&state=%s&response_type=code&prompt=consent", r->token);
    size_t ulen;
    char *url = buf_steal(&u, &ulen); /* NULL when an append failed: never a cut URL */
    if (!url) {
        ap_fail(r, 500, "the authorization URL would be too long", NULL);
        return;
    }
    char exp[40];
    clock_format_iso(clock_now_ms() + STATE_TTL_MS, 0, exp, sizeof exp);
    r->out = json_pack("{s:s%, s:s}", "authorization_url", url, ulen, "expires_at", exp);
    free(url);

    char key[96];
    snprintf(key, sizeof key, "oauthstate:%s", r->hash);
    const char *argv[5] = {"SET", key, r->redis_val, "PX", STATE_TTL_TEXT};
    ap_redis(r, connect_stored, 5, argv);
}

static void oauth_connect(ap_req_t *r)
{
    static const char *const allowed[] = {"tenant_id", "site_url", "context", NULL};
    ap_in_err_t e;
    const char *tenant, *site;
    char norm[300];
    if (ap_in_only(r->body, allowed, "", &e) || ap_in_str(r->body, "tenant_id", "", 200, 1, &tenant, &e) ||
        ap_in_str(r->body, "site_url", "", 2048, 0, &site, &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    if (!ap_in_tenant_id(tenant)) {
        ap_fail(r, 400, "tenant_id may only hold letters, digits and . _ : @ -", "/tenant_id");
        return;
    }
    if (site && ap_in_site_url(site, r->app->cfg.site_allowlist, norm, sizeof norm, "/site_url", &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    const json_t *ctx = json_object_get(r->body, "context");
    if (ctx) {
        char *text = json_is_object(ctx) ? jsontext_dump(ctx) : NULL;
        size_t n = text ? strlen(text) : 0;
        free(text);
        if (!json_is_object(ctx) || n > CONTEXT_MAX) {
            ap_fail(r, 400, "context must be an object of at most 16384 bytes", "/context");
            return;
        }
    }
    if (site)
        json_object_set_new(r->body, "site_url", json_string(norm));
    if (!rcli_ready(r->app->redis)) {
        ap_fail_redis(r, "not connected");
        return;
    }
    const char *p[1] = {r->ws_id};
    ap_query(r, "SELECT client_id, scopes::text, redirect_url FROM oauth_apps WHERE workspace_id = $1", 1, p,
             on_connect_app);
}

/* ---- GET /oauth/callback ---- */

/* The callback's state, r->ext. */
typedef struct connect_s {
    char code[2048];
    json_t *state;      /* the opened state record */
    char *client_id;
    char *secret;       /* client secret, wiped */
    json_t *tok;        /* token answer (copy), strings wiped */
    char site_url[300];
    char cloud_id[80];
    char *sealed;       /* credentials for PostgreSQL */
    int64_t version;
    int64_t expires_ms; /* the access token's expiry */
    int existed;
    json_t *pub_creds;  /* the credentials the acct: record carries (no refresh token) */
} connect_t;

static void connect_free(void *p)
{
    connect_t *c = p;
    secret_wipe(c->code);
    json_decref(c->state);
    free(c->client_id);
    free_secret(&c->secret);
    ap_oauth_free_json(c->tok);
    free_secret(&c->sealed);
    ap_oauth_free_json(c->pub_creds);
    free(c);
}

static void cb_fail(ap_req_t *r, int status, const char *outcome, const char *detail, const char *field)
{
    char l[64], st[8];
    snprintf(l, sizeof l, "outcome=\"%s\"", outcome);
    snprintf(st, sizeof st, "%d", status);
    metrics_inc(r->app->metrics, "jsmcp_api_oauth_connects_total", l, 1);
    LOG_WARN("oauth", "connect failed", "outcome", outcome, "status", st, "request_id", httpd_req_id(r->req), NULL);
    ap_fail(r, status, detail, field);
}

static void on_cb_written(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    char suffix[64];
    if (!ap_res_ok(res) || PQntuples(res) != 1) {
        ap_fail_db(r, res, err, "an integrated account with this tenant_id was created meanwhile; connect again");
        return;
    }
    /* The record carries the row's version: built now, published after COMMIT. */
    char *rec = ap_account_record(r->app->keys, r->id, strtoll(PQgetvalue(res, 0, 1), NULL, 10), c->site_url,
                                  "oauth2", "active", c->cloud_id, PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2),
                                  c->pub_creds);
    if (!rec) {
        ap_fail(r, 500, "could not encrypt the credentials", NULL);
        return;
    }
    r->pub = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    snprintf(suffix, sizeof suffix, "acct:%s", r->id);
    ap_pub_record(r->pub, suffix, rec, 0);
    secret_wipe(rec);
    free(rec);
    r->out = ap_res_json(res, 0, 0);
    metrics_inc(r->app->metrics, "jsmcp_api_oauth_connects_total", "outcome=\"ok\"", 1);
    LOG_INFO("oauth", c->existed ? "account reconnected" : "account connected", "account", r->id, "workspace",
             r->ws_id, NULL);
    ap_commit_publish_answer(r);
}

/* The callback's answer goes to the customer's browser, not to the
 * operator: the account's id and state only, never what is the operator's
 * own (context, tenant_id, pace), which the operator reads with
 * GET /integrated-account/:id. */
#define CONNECTED_JSON                                                                              \
    "json_build_object('id', id, 'site_url', site_url, 'auth_type', auth_type, 'status', status,"  \
    " 'created_at', " AP_TS("created_at") ", 'updated_at', " AP_TS("updated_at") ")::text"

static void cb_write(void *ud);

static void on_cb_locked(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    c->existed = PQntuples(res) == 1;
    if (c->existed) {
        snprintf(r->id, sizeof r->id, "%s", PQgetvalue(res, 0, 0));
        c->version = strtoll(PQgetvalue(res, 0, 1), NULL, 10) + 1;
    } else {
        ap_uuid(r->id);
        c->version = 1;
    }
    json_t *creds = ap_oauth_creds(c->tok, NULL, c->cloud_id, c->version);
    c->sealed = ap_oauth_seal_creds(r->app, r->id, creds);
    c->expires_ms = (int64_t)json_integer_value(json_object_get(creds, "expires_at_ms"));
    /* Workers never see the refresh token (ap_account_record drops it too). */
    c->pub_creds = json_copy(creds);
    json_object_del(c->pub_creds, "refresh_token");
    json_decref(creds);
    if (!c->sealed) {
        ap_fail(r, 500, "could not encrypt the credentials", NULL);
        return;
    }
    /* Tests pause here, between the read and the write (testhook.h). */
    if (!th_wait(r->app->loop, "oauth_connect_write", cb_write, r))
        cb_write(r);
}

static void cb_write(void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    char exp[32], ver[32];
    snprintf(exp, sizeof exp, "%lld", (long long)c->expires_ms);
    snprintf(ver, sizeof ver, "%lld", (long long)c->version);
    json_t *ctx = json_object_get(c->state, "context");
    char *ctext = ctx ? jsontext_dump(ctx) : NULL;
    const char *p[10] = {r->id, r->ws_id, jsontext_str(c->state, "tenant_id"), c->site_url, c->sealed,
                         secret_keyring_active_kid(r->app->keys), ver, c->cloud_id, ctext, exp};
    r->status = c->existed ? 200 : 201;
    ap_txquery(r,
               c->existed
                   ? "UPDATE integrated_accounts SET site_url = $4, auth_type = 'oauth2', credentials_sealed = $5,"
                     " key_id = $6, cred_version = $7, cloud_id = $8, status = 'active',"
                     " context = COALESCE($9::jsonb, context), access_expires_at = to_timestamp($10::bigint / 1000.0),"
                     " refresh_retry_at = NULL, updated_at = now()"
                     " WHERE id = $1 AND workspace_id = $2 AND tenant_id = $3 RETURNING " CONNECTED_JSON ", version, pace"
                   : "INSERT INTO integrated_accounts (id, workspace_id, tenant_id, site_url, auth_type,"
                     " credentials_sealed, key_id, cred_version, cloud_id, context, access_expires_at)"
                     " VALUES ($1, $2, $3, $4, 'oauth2', $5, $6, $7, $8, COALESCE($9::jsonb, '{}'),"
                     " to_timestamp($10::bigint / 1000.0)) RETURNING " CONNECTED_JSON ", version, pace",
               10, p, on_cb_written);
    free(ctext);
}

static void on_cb_serialized(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    const char *p[2] = {r->ws_id, jsontext_str(c->state, "tenant_id")};
    ap_txquery(r,
               "SELECT id, cred_version, COALESCE(pace, '') FROM integrated_accounts"
               " WHERE workspace_id = $1 AND tenant_id = $2 FOR UPDATE",
               2, p, on_cb_locked);
}

/* Two callbacks for one new tenant (two connects, or a double-clicked
 * consent) would both find no account, and the second INSERT fail: its
 * grant, already spent at the token endpoint, lost, and the customer asked
 * to consent again. The transaction first takes a lock on the workspace
 * and tenant, held to its end; the read that follows, a statement of its
 * own, sees the other callback's account once it committed, and this
 * callback reconnects it (200) with its own fresh tokens. FOR UPDATE alone
 * locks no row that does not exist yet. */
static void cb_lock(ap_req_t *r)
{
    connect_t *c = r->ext;
    const char *p[2] = {r->ws_id, jsontext_str(c->state, "tenant_id")};
    ap_txquery(r, "SELECT pg_advisory_xact_lock(hashtextextended('oauth-connect/' || $1 || '/' || $2, 0))", 2, p,
               on_cb_serialized);
}

/* Picks the site: the one asked for, else the only usable one. */
static void on_cb_resources(const httpc_response_t *resp, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    char err[128], detail[320];
    if (resp->err || resp->status != 200) {
        snprintf(detail, sizeof detail, "accessible-resources answered %d%s%s: no site could be found", resp->status,
                 resp->err ? " " : "", resp->err ? resp->err : "");
        cb_fail(r, 502, "resources", detail, NULL);
        return;
    }
    json_t *list = jsontext_parse(resp->body, resp->body_len, 8, err, sizeof err);
    const char *want = jsontext_str(c->state, "site_url");
    size_t i, usable = 0;
    json_t *s;
    json_array_foreach(list, i, s) {
        char norm[300];
        ap_in_err_t e;
        const char *url = jsontext_str(s, "url"), *id = jsontext_str(s, "id");
        if (!url || !id || strlen(id) >= sizeof c->cloud_id || !ap_in_uuid(id) ||
            ap_in_site_url(url, r->app->cfg.site_allowlist, norm, sizeof norm, "/url", &e) != 0)
            continue;
        if (want && strcmp(norm, want) != 0)
            continue;
        if (usable++ == 0) {
            snprintf(c->site_url, sizeof c->site_url, "%s", norm);
            snprintf(c->cloud_id, sizeof c->cloud_id, "%s", id);
        }
    }
    json_decref(list);
    if (usable == 0) {
        cb_fail(r, 409, "no_site",
                want ? "the customer did not grant access to the site_url given to connect"
                     : "the customer granted access to no Jira site this service may use",
                NULL);
        return;
    }
    if (usable > 1 && !want) {
        cb_fail(r, 409, "several_sites",
                "the customer granted several sites: connect again with the site_url to use", NULL);
        return;
    }
    ap_begin_write(r, cb_lock);
}

static void on_cb_token(const ap_token_res_t *res, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    char detail[480];
    if (res->err || (res->status != 200 && res->status != 400 && res->status != 401 && res->status != 403)) {
        snprintf(detail, sizeof detail, "the token endpoint did not answer (%d %s); connect again later", res->status,
                 res->err ? res->err : "");
        cb_fail(r, 502, "token_unavailable", detail, NULL);
        return;
    }
    if (res->status != 200) {
        const char *d = res->json ? jsontext_str(res->json, "error_description") : NULL;
        snprintf(detail, sizeof detail, "the token endpoint refused the authorization code (%d %s: %.*s)",
                 res->status, res->error ? res->error : "no error code", UPSTREAM_DETAIL_MAX, d ? d : "");
        cb_fail(r, 400, "token_refused", detail, NULL);
        return;
    }
    if (!ap_oauth_token_ok(res) || !short_str(res->json, "refresh_token", TOKEN_MAX)) {
        cb_fail(r, 502, "token_incomplete",
                "the token endpoint answered without access_token, expires_in or refresh_token"
                " (does the OAuth app's scopes include offline_access?)",
                NULL);
        return;
    }
    c->tok = json_deep_copy(res->json);
    char url[AP_OAUTH_URL_MAX + 64];
    snprintf(url, sizeof url, "%s/oauth/token/accessible-resources", oa->api_url);
    if (send_json(r->app, url, NULL, jsontext_str(c->tok, "access_token"), on_cb_resources, r) != 0)
        cb_fail(r, 502, "resources", "could not call accessible-resources", NULL);
}

static void on_cb_app(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        cb_fail(r, 409, "no_app", "the workspace's OAuth app was removed during the connect", NULL);
        return;
    }
    c->client_id = mem_strdup(PQgetvalue(res, 0, 0));
    c->secret = ap_oauth_open_secret(r->app, r->ws_id, PQgetvalue(res, 0, 1));
    if (!c->secret) {
        LOG_ERROR("oauth", "cannot open the OAuth client secret (unknown master key?)", "workspace", r->ws_id, NULL);
        ap_fail(r, 500, "the stored client secret cannot be decrypted with the configured master keys", NULL);
        return;
    }
    json_t *body = json_pack("{ssssssssss}", "grant_type", "authorization_code", "client_id", c->client_id,
                             "client_secret", c->secret, "code", c->code, "redirect_uri",
                             jsontext_str(c->state, "redirect_url"));
    int rc = ap_oauth_token(r->app, body, on_cb_token, r);
    ap_oauth_free_json(body);
    if (rc != 0)
        cb_fail(r, 502, "token_unavailable", "could not call the token endpoint", NULL);
}

#define BAD_STATE "unknown, expired or already used state: start again with POST /integrated-account/connect"

static void on_state(redisReply *reply, const char *err, void *ud)
{
    ap_req_t *r = ud;
    connect_t *c = r->ext;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        ap_fail_redis(r, reply ? reply->str : err);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        cb_fail(r, 400, "bad_state", BAD_STATE, "state");
        return;
    }
    c->state = open_json(r->app, "oauthstate", reply->str);
    const char *ws = c->state ? jsontext_str(c->state, "workspace_id") : NULL;
    if (!ws || !ap_is_uuid(ws) || !jsontext_str(c->state, "tenant_id") || !jsontext_str(c->state, "redirect_url") ||
        jsontext_int(c->state, "expires_at_ms", 0) < clock_now_ms()) {
        cb_fail(r, 400, "bad_state", BAD_STATE, "state");
        return;
    }
    snprintf(r->ws_id, sizeof r->ws_id, "%s", ws);
    const char *p[1] = {r->ws_id};
    ap_query(r, "SELECT client_id, client_secret_sealed FROM oauth_apps WHERE workspace_id = $1", 1, p, on_cb_app);
}

static void oauth_callback(ap_req_t *r)
{
    char state[64], error[80];
    connect_t *c = mem_calloc(1, sizeof *c);
    r->ext = c;
    r->ext_free = connect_free;
    int el = ap_qread(r, "error", error, sizeof error);
    if (el != AP_Q_ABSENT) {
        int plain = el == AP_Q_PRESENT && strspn(error, "abcdefghijklmnopqrstuvwxyz_") == strlen(error);
        char detail[256];
        snprintf(detail, sizeof detail, "the customer did not grant access (%s); start again with POST "
                 "/integrated-account/connect", plain ? error : "error");
        cb_fail(r, 400, "denied", detail, "error");
        return;
    }
    if (ap_qread(r, "state", state, sizeof state) != AP_Q_PRESENT || strlen(state) != SECRET_TOKEN_LEN ||
        strspn(state, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != SECRET_TOKEN_LEN) {
        cb_fail(r, 400, "bad_state", BAD_STATE, "state");
        return;
    }
    /* Checked before the state is taken (GETDEL): a bad code leaves it. */
    int cl = ap_qread(r, "code", c->code, sizeof c->code);
    if (cl != AP_Q_PRESENT) {
        cb_fail(r, 400, "bad_code",
                cl == AP_Q_NOT_TEXT ? "code must be UTF-8 text without NUL bytes (%00)"
                                    : "code is missing or longer than 2047 bytes",
                "code");
        return;
    }
    secret_hash_hex(state, SECRET_TOKEN_LEN, r->hash);
    secret_wipe(state);
    char key[128];
    rcli_key(r->app->redis, key, sizeof key, "oauthstate:%s", r->hash);
    /* GETDEL: the state works once, even with callbacks racing on several replicas. */
    if (rcli_command(r->app->redis, on_state, r, "GETDEL %s", key) != 0)
        ap_fail_redis(r, "redis unavailable");
}

const ap_route_t ap_oauth_routes[] = {
    {"PUT", "/oauth-app", AP_ROLE_WORKSPACE, oapp_put, "oauth_app_put"},
    {"GET", "/oauth-app", AP_ROLE_WORKSPACE, oapp_get, "oauth_app_get"},
    {"DELETE", "/oauth-app", AP_ROLE_WORKSPACE, oapp_delete, "oauth_app_delete"},
    {"POST", "/integrated-account/connect", AP_ROLE_WORKSPACE, oauth_connect, "account_connect"},
    {"GET", "/oauth/callback", AP_ROLE_PUBLIC, oauth_callback, "oauth_callback"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
