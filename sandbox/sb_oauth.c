/* sb_oauth: see sb_oauth.h. Tokens are "<kind><slot>.<32 hex>": the slot
 * makes lookup O(1), the random part makes them unguessable. */
#include "sb_oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"
#include "sb_pack.h"
#include "jsontext.h"
#include "log.h"
#include "url.h"

#define DAY_MS (24LL * 3600 * 1000)
#define CODE_TTL_MS (10LL * 60 * 1000)

enum { K_CODE, K_ACCESS, K_REFRESH, K_N };
static const char KIND_CH[K_N] = {'c', 'a', 'r'};

typedef struct otok_s {
    char token[64];
    int live;
    int user;
    int64_t created;
    int64_t expires;      /* code/access expiry */
    int64_t grant_start;  /* refresh: absolute 365-day limit from here */
    int64_t last_used;    /* refresh: 90-day idle limit */
    int64_t rotated_at;   /* refresh: 0 = current */
    char scope[256];
    char redirect[256];   /* code: must match at exchange */
} otok_t;

struct sb_oauth_s {
    sb_t *sb;
    otok_t *ring[K_N];
    unsigned next[K_N];
    uint64_t issued_access, issued_refresh, refresh_ok, refresh_denied, codes_issued;
};

sb_oauth_t *sb_oauth_new(sb_t *sb)
{
    if (sodium_init() < 0)
        abort();
    sb_oauth_t *o = mem_calloc(1, sizeof *o);
    o->sb = sb;
    for (int k = 0; k < K_N; k++)
        o->ring[k] = mem_calloc(SB_OAUTH_MAX, sizeof(otok_t));
    return o;
}

void sb_oauth_free(sb_oauth_t *o)
{
    if (!o)
        return;
    for (int k = 0; k < K_N; k++) {
        sodium_memzero(o->ring[k], SB_OAUTH_MAX * sizeof(otok_t));
        free(o->ring[k]);
    }
    free(o);
}

static otok_t *issue(sb_oauth_t *o, int kind, int64_t now)
{
    unsigned slot = o->next[kind]++ % SB_OAUTH_MAX;
    otok_t *t = &o->ring[kind][slot];
    unsigned char rnd[16];
    char hex[33];
    memset(t, 0, sizeof *t);
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(t->token, sizeof t->token, "%c%u.%s", KIND_CH[kind], slot, hex);
    t->live = 1;
    t->created = now;
    return t;
}

static otok_t *find(sb_oauth_t *o, int kind, const char *token)
{
    char *end;
    if (!token || token[0] != KIND_CH[kind])
        return NULL;
    unsigned long slot = strtoul(token + 1, &end, 10);
    if (end == token + 1 || *end != '.' || slot >= SB_OAUTH_MAX)
        return NULL;
    otok_t *t = &o->ring[kind][slot];
    size_t n = strlen(t->token);
    if (!t->live || strlen(token) != n || sodium_memcmp(t->token, token, n) != 0)
        return NULL;
    return t;
}

int sb_oauth_check_bearer(sb_oauth_t *o, const char *token, int64_t now_ms, int *user, char *scope, size_t scopesz)
{
    otok_t *t = find(o, K_ACCESS, token);
    if (!t)
        return -1;
    if (now_ms >= t->expires)
        return -2;
    *user = t->user;
    if (scope)
        snprintf(scope, scopesz, "%s", t->scope);
    return 0;
}

json_t *sb_oauth_stats(const sb_oauth_t *o)
{
    return sb_pack("{s:I, s:I, s:I, s:I, s:I}", "codesIssued", (json_int_t)o->codes_issued, "accessTokensIssued",
                     (json_int_t)o->issued_access, "refreshTokensIssued", (json_int_t)o->issued_refresh,
                     "refreshGranted", (json_int_t)o->refresh_ok, "refreshDenied", (json_int_t)o->refresh_denied);
}

static void oauth_error(sb_call_t *c, int status, const char *error, const char *desc)
{
    sb_json(c, status, sb_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

/* GET /authorize: consent is implied; redirect back with code and state. */
static void h_authorize(sb_call_t *c)
{
    sb_oauth_t *o = c->sb->oauth;
    char client[160], redirect[256], state[256], scope[256], rtype[32];
    if (sb_query(c, "client_id", client, sizeof client) < 0 || strcmp(client, c->sb->cfg.oauth_client_id) != 0) {
        oauth_error(c, 400, "invalid_request", "Invalid client_id.");
        return;
    }
    if (sb_query(c, "response_type", rtype, sizeof rtype) < 0 || strcmp(rtype, "code") != 0) {
        oauth_error(c, 400, "unsupported_response_type", "response_type must be code.");
        return;
    }
    if (sb_query(c, "redirect_uri", redirect, sizeof redirect) < 0 ||
        (strncmp(redirect, "http://", 7) != 0 && strncmp(redirect, "https://", 8) != 0)) {
        oauth_error(c, 400, "invalid_request", "redirect_uri must be an absolute http(s) URL.");
        return;
    }
    if (sb_query(c, "scope", scope, sizeof scope) < 0)
        scope[0] = 0;
    if (sb_query(c, "state", state, sizeof state) < 0)
        state[0] = 0;
    otok_t *t = issue(o, K_CODE, sb_now(c->sb));
    t->expires = t->created + CODE_TTL_MS;
    t->user = c->sb->data->caller;
    snprintf(t->scope, sizeof t->scope, "%s", scope);
    snprintf(t->redirect, sizeof t->redirect, "%s", redirect);
    o->codes_issued++;
    buf_t loc;
    buf_init(&loc, 2048);
    buf_printf(&loc, "%s%scode=%s", redirect, strchr(redirect, '?') ? "&" : "?", t->token);
    if (state[0]) {
        buf_append_str(&loc, "&state=");
        url_encode(&loc, state, strlen(state));
    }
    /* Over 2 KB: the redirect without a code (the client's flow fails
     * visibly), never a cut one. */
    httpd_resp_header(c->req, "Location", buf_ok(&loc) ? loc.data : redirect);
    buf_free(&loc);
    httpd_respond(c->req, 302, "text/plain", "", 0);
}

/* Token request fields from a JSON or form body. */
typedef struct treq_s {
    char grant[40], client_id[160], client_secret[160], code[80], redirect[256], refresh[80];
} treq_t;

static void form_get(const char *body, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = body;
    out[0] = 0;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            if (url_decode(p + nl + 1, len - nl - 1, out, outsz, URL_DECODE_PLUS) < 0)
                out[0] = 0;
            return;
        }
        p = amp ? amp + 1 : NULL;
    }
}

static int parse_treq(sb_call_t *c, treq_t *t)
{
    size_t len;
    const char *body = httpd_req_body(c->req, &len);
    const char *ct = httpd_req_header(c->req, "Content-Type");
    memset(t, 0, sizeof *t);
    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        form_get(body, "grant_type", t->grant, sizeof t->grant);
        form_get(body, "client_id", t->client_id, sizeof t->client_id);
        form_get(body, "client_secret", t->client_secret, sizeof t->client_secret);
        form_get(body, "code", t->code, sizeof t->code);
        form_get(body, "redirect_uri", t->redirect, sizeof t->redirect);
        form_get(body, "refresh_token", t->refresh, sizeof t->refresh);
        return 0;
    }
    char err[160];
    json_t *v = jsontext_parse(body ? body : "", len, 8, err, sizeof err);
    if (!json_is_object(v)) {
        json_decref(v);
        return -1;
    }
#define CP(k, f) snprintf(t->f, sizeof t->f, "%s", jsontext_str(v, k) ? jsontext_str(v, k) : "")
    CP("grant_type", grant);
    CP("client_id", client_id);
    CP("client_secret", client_secret);
    CP("code", code);
    CP("redirect_uri", redirect);
    CP("refresh_token", refresh);
#undef CP
    json_decref(v);
    return 0;
}

static void grant_tokens(sb_call_t *c, int user, const char *scope, int64_t grant_start, int64_t now)
{
    sb_oauth_t *o = c->sb->oauth;
    otok_t *a = issue(o, K_ACCESS, now);
    a->user = user;
    a->expires = now + (int64_t)c->sb->cfg.access_ttl_s * 1000;
    snprintf(a->scope, sizeof a->scope, "%s", scope);
    o->issued_access++;
    json_t *r = sb_pack("{s:s, s:i, s:s, s:s}", "access_token", a->token, "expires_in", c->sb->cfg.access_ttl_s,
                          "token_type", "Bearer", "scope", scope);
    if (strstr(scope, "offline_access")) {
        otok_t *rt = issue(o, K_REFRESH, now);
        rt->user = user;
        rt->grant_start = grant_start;
        rt->last_used = now;
        snprintf(rt->scope, sizeof rt->scope, "%s", scope);
        o->issued_refresh++;
        json_object_set_new(r, "refresh_token", json_string(rt->token));
    }
    sb_json(c, 200, r);
}

static void h_token(sb_call_t *c)
{
    sb_t *sb = c->sb;
    sb_oauth_t *o = sb->oauth;
    int64_t now = sb_now(sb);
    treq_t t;
    sb->ntoken_requests++;
    if (parse_treq(c, &t) != 0) {
        oauth_error(c, 400, "invalid_request", "The request body must be JSON or form encoded.");
        return;
    }
    int is_refresh = strcmp(t.grant, "refresh_token") == 0;
    if (strcmp(t.grant, "authorization_code") == 0 || is_refresh)
        sb->ntoken_by_grant[is_refresh]++;
    if (strcmp(t.client_id, sb->cfg.oauth_client_id) != 0 ||
        strlen(t.client_secret) != strlen(sb->cfg.oauth_client_secret) ||
        sodium_memcmp(t.client_secret, sb->cfg.oauth_client_secret, strlen(t.client_secret)) != 0) {
        oauth_error(c, 401, "access_denied", "Unauthorized");
        return;
    }
    if (strcmp(t.grant, "authorization_code") == 0) {
        otok_t *code = find(o, K_CODE, t.code);
        if (!code || now >= code->expires) {
            oauth_error(c, 403, "invalid_grant", "Invalid authorization code");
            return;
        }
        if (strcmp(code->redirect, t.redirect) != 0) {
            oauth_error(c, 403, "invalid_grant", "redirect_uri does not match the authorization request");
            return;
        }
        code->live = 0; /* single use */
        char scope[256];
        snprintf(scope, sizeof scope, "%s", code->scope);
        grant_tokens(c, code->user, scope, now, now);
        return;
    }
    if (is_refresh) {
        otok_t *rt = find(o, K_REFRESH, t.refresh);
        int64_t leeway = (int64_t)sb->cfg.refresh_leeway_s * 1000;
        if (!rt || (rt->rotated_at && now > rt->rotated_at + leeway) || now - rt->last_used > 90 * DAY_MS ||
            now - rt->grant_start > 365 * DAY_MS) {
            o->refresh_denied++;
            oauth_error(c, 403, "invalid_grant", "Unknown or invalid refresh token.");
            return;
        }
        if (!rt->rotated_at)
            rt->rotated_at = now;
        o->refresh_ok++;
        char scope[256];
        snprintf(scope, sizeof scope, "%s", rt->scope);
        grant_tokens(c, rt->user, scope, rt->grant_start, now);
        return;
    }
    oauth_error(c, 400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token");
}

static void h_resources(sb_call_t *c)
{
    const char *auth = httpd_req_header(c->req, "Authorization");
    int user;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
        sb_oauth_check_bearer(c->sb->oauth, auth + 7, sb_now(c->sb), &user, NULL, 0) != 0) {
        sb_err_gateway(c->req, 401, "Unauthorized");
        return;
    }
    char url[600];
    const char *host = httpd_req_header(c->req, "Host");
    snprintf(url, sizeof url, "http://%s", host ? host : "127.0.0.1");
    json_t *scopes = sb_pack("[s,s,s,s,s,s]", "read:jira-work", "write:jira-work", "read:jira-user",
                               "read:servicedesk-request", "write:servicedesk-request", "manage:servicedesk-customer");
    sb_json(c, 200, sb_pack("[{s:s, s:s, s:s, s:o, s:s}]", "id", c->sb->cfg.cloud_id, "name", c->sb->cfg.site_name,
                              "url", url, "scopes", scopes, "avatarUrl",
                              "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"));
}

const sb_route_t sb_oauth_routes[] = {
    {"GET", "/authorize", h_authorize, SB_FAM_PLAIN, SB_R_NOAUTH | SB_R_SITE_ONLY | SB_R_NOLIMIT, 0, 0},
    {"POST", "/oauth/token", h_token, SB_FAM_PLAIN, SB_R_NOAUTH | SB_R_SITE_ONLY | SB_R_NOLIMIT, 0, 0},
    {"GET", "/oauth/token/accessible-resources", h_resources, SB_FAM_PLAIN, SB_R_NOAUTH | SB_R_SITE_ONLY | SB_R_NOLIMIT, 0, 0},
};
const int sb_oauth_nroutes = (int)(sizeof sb_oauth_routes / sizeof sb_oauth_routes[0]);
