/* ap_accounts: see ap_accounts.h. */
#include "ap_accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_req.h"
#include "ap_input.h"
#include "ap_publish.h"
#include "jsontext.h"
#include "log.h"
#include "pacerule.h"
#include "clock.h"

#define CONTEXT_MAX 16384

/* The fields of a create or patch, validated. */
typedef struct acct_in_s {
    const char *tenant_id;
    char site_url[300];
    int has_site;
    json_t *creds;        /* owned */
    const char *auth_type;
    char *context;        /* owned JSON text */
    int has_pace;         /* "pace" was sent: pace is the new rule, NULL (JSON null) for none */
    const char *pace;
} acct_in_t;

static void acct_in_free(acct_in_t *in)
{
    json_decref(in->creds);
    free(in->context);
}

static int acct_validate(ap_req_t *r, acct_in_t *in, int create)
{
    r->conflict_field = "/tenant_id"; /* the one unique member of an account */
    static const char *const allowed[] = {"tenant_id", "site_url", "auth", "context", "pace", NULL};
    ap_in_err_t e;
    const char *site;
    memset(in, 0, sizeof *in);
    if (ap_in_only(r->body, allowed, "", &e) ||
        ap_in_str(r->body, "tenant_id", "", 200, create, &in->tenant_id, &e) ||
        ap_in_str(r->body, "site_url", "", 2048, create, &site, &e))
        goto bad;
    if (in->tenant_id && !ap_in_tenant_id(in->tenant_id)) {
        snprintf(e.field, sizeof e.field, "/tenant_id");
        snprintf(e.detail, sizeof e.detail, "tenant_id may only hold letters, digits and . _ : @ -");
        goto bad;
    }
    if (site) {
        if (ap_in_site_url(site, r->app->cfg.site_allowlist, in->site_url, sizeof in->site_url, "/site_url", &e))
            goto bad;
        in->has_site = 1;
    }
    const json_t *auth = json_object_get(r->body, "auth");
    if ((create || auth) && ap_in_auth(auth, &in->creds, &in->auth_type, &e))
        goto bad;
    const json_t *ctx = json_object_get(r->body, "context");
    if (ctx) {
        if (!json_is_object(ctx)) {
            snprintf(e.field, sizeof e.field, "/context");
            snprintf(e.detail, sizeof e.detail, "context must be an object");
            goto bad;
        }
        in->context = jsontext_dump(ctx);
        if (!in->context || strlen(in->context) > CONTEXT_MAX) {
            snprintf(e.field, sizeof e.field, "/context");
            snprintf(e.detail, sizeof e.detail, "context is larger than %d bytes", CONTEXT_MAX);
            goto bad;
        }
    }
    const json_t *pace = json_object_get(r->body, "pace");
    if (pace) {
        pace_rule_t rule;
        char why[256];
        in->has_pace = 1;
        in->pace = json_string_value(pace);
        if (!json_is_null(pace) && (!in->pace || !*in->pace || pace_rule_parse(in->pace, &rule, why, sizeof why))) {
            snprintf(e.field, sizeof e.field, "/pace");
            snprintf(e.detail, sizeof e.detail, "%s",
                     in->pace && *in->pace ? why
                                           : "pace must be a pacing rule such as \"10/s burst 20\" or \"30/m\", "
                                             "\"off\", or null for the rule of the account's credential type");
            goto bad;
        }
    }
    if (!create && json_object_size(r->body) == 0) {
        snprintf(e.field, sizeof e.field, "/");
        snprintf(e.detail, sizeof e.detail, "nothing to change: send tenant_id, site_url, auth, context or pace");
        goto bad;
    }
    return 0;
bad:
    acct_in_free(in);
    ap_fail(r, 400, e.detail, e.field);
    return -1;
}

/* Seals the credentials for PostgreSQL; NULL on failure (answered). */
static char *seal_creds(ap_req_t *r, const char *id, const json_t *creds)
{
    char ad[64];
    char *pt = jsontext_dump(creds);
    snprintf(ad, sizeof ad, "acct:%s", id);
    char *sealed = pt ? secret_seal(r->app->keys, ad, pt, strlen(pt)) : NULL;
    secret_wipe(pt);
    free(pt);
    if (!sealed)
        ap_fail(r, 500, "could not encrypt the credentials", NULL);
    return sealed;
}

/* ---- create ---- */

/* The account being written: validated input, sealed credentials, and what
 * its Redis record is built from once the write returned its version; owned
 * by the request (r->ext) from validation to the answer. */
typedef struct acct_w_s {
    acct_in_t in;
    char *sealed;
    json_t *creds;        /* the credentials the record carries */
    char site[300], type[16], status[16], cloud[80], pace[80];
    int has_cloud, has_pace;
} acct_w_t;

static void acct_w_free(void *p)
{
    acct_w_t *w = p;
    acct_in_free(&w->in);
    if (w->sealed) {
        secret_wipe(w->sealed);
        free(w->sealed);
    }
    json_decref(w->creds);
    free(w);
}

static acct_w_t *acct_w_new(ap_req_t *r, const acct_in_t *in)
{
    acct_w_t *w = calloc(1, sizeof *w);
    w->in = *in;
    r->ext = w;
    r->ext_free = acct_w_free;
    return w;
}

/* What the record will hold (strings copied: they may point into a result). */
static void acct_w_set(acct_w_t *w, const char *site, const char *type, const char *status, const char *cloud,
                       const char *pace, json_t *creds)
{
    str_copy(w->site, sizeof w->site, site);
    str_copy(w->type, sizeof w->type, type);
    str_copy(w->status, sizeof w->status, status);
    w->has_cloud = cloud && *cloud;
    str_copy(w->cloud, sizeof w->cloud, w->has_cloud ? cloud : "");
    w->has_pace = pace && *pace;
    str_copy(w->pace, sizeof w->pace, w->has_pace ? pace : "");
    json_decref(w->creds);
    w->creds = creds;
}

/* The written row's version is in column 1 of res: the acct:<id> record
 * to publish, in a new batch (NULL when it cannot be sealed: answered). */
static ap_pub_t *acct_pub(ap_req_t *r, const PGresult *res)
{
    acct_w_t *w = r->ext;
    char suffix[64];
    char *rec = ap_account_record(r->app->keys, r->id, strtoll(PQgetvalue(res, 0, 1), NULL, 10), w->site, w->type,
                                  w->status, w->has_cloud ? w->cloud : NULL, w->has_pace ? w->pace : NULL, w->creds);
    if (!rec) {
        ap_fail(r, 500, "could not encrypt the credentials", NULL);
        return NULL;
    }
    ap_pub_t *p = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    snprintf(suffix, sizeof suffix, "acct:%s", r->id);
    ap_pub_record(p, suffix, rec, 0);
    secret_wipe(rec);
    free(rec);
    return p;
}

static void on_acct_inserted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, "an integrated account with this tenant_id exists already in this workspace");
        return;
    }
    ap_pub_t *p = acct_pub(r, res);
    if (!p)
        return;
    r->out = ap_res_json(res, 0, 0);
    ap_publish_and_answer(r, p);
}

static void acct_create(ap_req_t *r)
{
    acct_in_t in;
    if (acct_validate(r, &in, 1))
        return;
    acct_w_t *w = acct_w_new(r, &in); /* tenant_id points into r->body, which lives as long */
    if (ap_need_redis(r))
        return;
    ap_uuid(r->id);
    w->sealed = seal_creds(r, r->id, w->in.creds);
    if (!w->sealed)
        return;
    acct_w_set(w, w->in.site_url, w->in.auth_type, "active", json_string_value(json_object_get(w->in.creds, "cloud_id")),
               w->in.pace, json_incref(w->in.creds));
    r->status = 201;
    const char *p[9] = {r->id, r->ws_id, w->in.tenant_id, w->in.site_url, w->in.auth_type, w->sealed,
                        secret_keyring_active_kid(r->app->keys), w->in.context ? w->in.context : "{}", w->in.pace};
    ap_query(r,
             "INSERT INTO integrated_accounts (id, workspace_id, tenant_id, site_url, auth_type,"
             " credentials_sealed, key_id, context, pace) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)"
             " RETURNING " AP_ACCT_JSON ", version",
             9, p, on_acct_inserted);
}

/* ---- read ---- */

static int need_account_id(ap_req_t *r)
{
    if (ap_is_uuid(ap_param(r, "id")))
        return 0;
    ap_fail(r, 404, "no integrated account with this id", NULL);
    return -1;
}

static void acct_get(ap_req_t *r)
{
    if (need_account_id(r))
        return;
    const char *p[2] = {ap_param(r, "id"), r->ws_id};
    ap_query_one(r, "SELECT " AP_ACCT_JSON " FROM integrated_accounts WHERE id = $1 AND workspace_id = $2", 2, p,
                 "no integrated account with this id");
}

static void acct_list(ap_req_t *r)
{
    ap_page_t pg;
    char tenant[256];
    if (ap_page_parse(r, &pg) != 0)
        return;
    /* The filter takes what an account's tenant_id may be, nothing else. */
    static const char tenant_what[] = "1 to 200 letters, digits and . _ : @ -";
    int tl = ap_qparam(r, "tenant_id", tenant, sizeof tenant, tenant_what);
    if (tl < 0)
        return;
    if (tl && !ap_in_tenant_id(tenant)) {
        ap_qbad(r, "tenant_id", tenant_what);
        return;
    }
    const char *p[5] = {r->ws_id, ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one, tl ? tenant : NULL};
    ap_query_page(r,
                     "SELECT " AP_ACCT_JSON ", created_at::text, id::text FROM integrated_accounts"
                     " WHERE workspace_id = $1 AND ($5::text IS NULL OR tenant_id = $5) AND " AP_PAGE_AFTER("$2", "$3")
                     " ORDER BY created_at, id LIMIT $4",
                     5, p);
}

/* ---- patch: in a transaction holding the row, published after COMMIT ---- */

static void on_acct_updated(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, "an integrated account with this tenant_id exists already in this workspace");
        return;
    }
    if (!(r->pub = acct_pub(r, res)))
        return;
    r->out = ap_res_json(res, 0, 0);
    ap_commit_publish_answer(r);
}

static void on_acct_locked(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    acct_w_t *w = r->ext;
    if (ap_res_one(r, res, err, NULL, "no integrated account with this id") != 0)
        return;
    if (w->in.has_site && !w->in.creds && strcmp(w->in.site_url, PQgetvalue(res, 0, 0)) != 0) {
        /* The stored credentials were given for the stored site: they are
         * never sent to another host the customer did not agree to. */
        ap_fail(r, 400, "changing site_url needs the site's credentials in the same request (auth)", "/auth");
        return;
    }
    const char *site = w->in.has_site ? w->in.site_url : PQgetvalue(res, 0, 0);
    const char *type = w->in.creds ? w->in.auth_type : PQgetvalue(res, 0, 1);
    /* New credentials mean the customer reconnected: the account is active again. */
    const char *status = w->in.creds ? "active" : PQgetvalue(res, 0, 2);
    const char *cloud = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);
    const char *pace = w->in.has_pace ? w->in.pace : PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5);
    json_t *creds;
    if (w->in.creds) {
        creds = json_incref(w->in.creds);
        cloud = json_string_value(json_object_get(creds, "cloud_id"));
        if (!(w->sealed = seal_creds(r, r->id, creds))) {
            json_decref(creds);
            return;
        }
    } else {
        char ad[64];
        size_t n;
        snprintf(ad, sizeof ad, "acct:%s", r->id);
        char *pt = secret_open(r->app->keys, ad, PQgetvalue(res, 0, 4), &n, NULL, 0);
        creds = pt ? json_loadb(pt, n, 0, NULL) : NULL;
        secret_wipe(pt);
        free(pt);
        if (!creds) {
            LOG_ERROR("api", "cannot open account credentials (unknown master key?)", "account", r->id, NULL);
            ap_fail(r, 500, "the stored credentials cannot be decrypted with the configured master keys", NULL);
            return;
        }
    }
    acct_w_set(w, site, type, status, cloud, pace, creds);
    const char *p[11] = {r->id, r->ws_id, w->in.tenant_id, w->site, w->type, w->sealed,
                         secret_keyring_active_kid(r->app->keys), w->status, w->has_cloud ? w->cloud : NULL,
                         w->in.context, w->has_pace ? w->pace : NULL};
    ap_txquery(r,
               "UPDATE integrated_accounts SET tenant_id = COALESCE($3, tenant_id), site_url = $4, auth_type = $5,"
               " credentials_sealed = COALESCE($6, credentials_sealed),"
               " key_id = CASE WHEN $6::text IS NULL THEN key_id ELSE $7 END,"
               " cred_version = cred_version + CASE WHEN $6::text IS NULL THEN 0 ELSE 1 END,"
               " status = $8, cloud_id = $9, context = COALESCE($10::jsonb, context), pace = $11,"
               " updated_at = now() WHERE id = $1 AND workspace_id = $2 RETURNING " AP_ACCT_JSON ", version",
               11, p, on_acct_updated);
}

static void acct_lock(ap_req_t *r)
{
    const char *p[2] = {r->id, r->ws_id};
    ap_txquery(r,
               "SELECT site_url, auth_type, status, cloud_id, credentials_sealed, pace FROM integrated_accounts"
               " WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
               2, p, on_acct_locked);
}

static void acct_patch(ap_req_t *r)
{
    acct_in_t in;
    if (need_account_id(r) || acct_validate(r, &in, 0))
        return;
    acct_w_new(r, &in);
    snprintf(r->id, sizeof r->id, "%s", ap_param(r, "id"));
    r->status = 200;
    ap_begin_write(r, acct_lock);
}

/* ---- delete: the account, its servers (cascade), tombstones for all ---- */

static void on_acct_deleted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        ap_fail(r, 404, "no integrated account with this id", NULL);
        return;
    }
    /* Rows: ('acct', id, NULL, version + 1) and ('srv', token_hash, prev_token_hash, version + 1). */
    r->pub = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    for (int i = 0; i < PQntuples(res); i++) {
        long long version = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        if (strcmp(PQgetvalue(res, i, 0), "acct") == 0) {
            char suffix[64];
            snprintf(suffix, sizeof suffix, "acct:%s", PQgetvalue(res, i, 1));
            ap_pub_tombstone(r->pub, suffix, version);
        } else {
            const char *h[2] = {PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2)};
            ap_pub_server_gone(r->pub, h, 2, version);
        }
    }
    ap_commit_publish_answer(r); /* r->out is NULL: 204 */
}

static void on_acct_delete_locked(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        ap_fail(r, 404, "no integrated account with this id", NULL);
        return;
    }
    const char *p[2] = {r->id, r->ws_id};
    /* A new statement, so a new snapshot: it sees every server committed
     * before the locks were taken, at the version the cascade deletes. */
    ap_txquery(r,
               "WITH a AS (DELETE FROM integrated_accounts WHERE id = $1 AND workspace_id = $2 RETURNING id, version)"
               " SELECT 'acct', id::text, NULL, version + 1 FROM a"
               " UNION ALL SELECT 'srv', token_hash, prev_token_hash, version + 1 FROM mcp_servers"
               "  WHERE account_id = $1 AND workspace_id = $2 AND EXISTS (SELECT 1 FROM a)",
               2, p, on_acct_deleted);
}

/* The account row is locked first, then its servers: a server create
 * racing this delete either committed before (its row is locked here and
 * gets its tombstone) or fails its foreign key check after (404); a server
 * PATCH racing it is published either before the delete's tombstones (older
 * version) or waits and finds no row. */
static void acct_delete_tx(ap_req_t *r)
{
    const char *p[2] = {r->id, r->ws_id};
    ap_txquery(r,
               "WITH a AS (SELECT id FROM integrated_accounts WHERE id = $1 AND workspace_id = $2 FOR UPDATE),"
               " s AS (SELECT id FROM mcp_servers WHERE account_id IN (SELECT id FROM a) FOR UPDATE)"
               " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM s)",
               2, p, on_acct_delete_locked);
}

static void acct_delete(ap_req_t *r)
{
    if (need_account_id(r))
        return;
    snprintf(r->id, sizeof r->id, "%s", ap_param(r, "id"));
    ap_begin_write(r, acct_delete_tx);
}

const ap_route_t ap_account_routes[] = {
    {"POST", "/integrated-account", AP_ROLE_WORKSPACE, acct_create, "account_create"},
    {"GET", "/integrated-account", AP_ROLE_WORKSPACE, acct_list, "account_list"},
    {"GET", "/integrated-account/:id", AP_ROLE_WORKSPACE, acct_get, "account_get"},
    {"PATCH", "/integrated-account/:id", AP_ROLE_WORKSPACE, acct_patch, "account_patch"},
    {"DELETE", "/integrated-account/:id", AP_ROLE_WORKSPACE, acct_delete, "account_delete"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
