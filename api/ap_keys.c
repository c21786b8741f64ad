/* ap_keys: see ap_keys.h. */
#include "ap_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_req.h"
#include "ap_input.h"
#include "ap_publish.h"
#include "buf.h"
#include "clock.h"

#define KEY_JSON                                                                                      \
    "json_build_object('id', id, 'name', name, 'prefix', prefix, 'scope', scope,"                   \
    " 'expires_at', " AP_TS("expires_at") ", 'expired', expires_at IS NOT NULL AND expires_at <= now(),"\
    " 'created_at', " AP_TS("created_at") ", 'last_used_at', " AP_TS("last_used_at") ")::text"
#define KEY_PREFIX_LEN 8

/* The workspace whose keys a request manages: the path's (bootstrap key)
 * or the caller's own (workspace key). */
static const char *key_ws(const ap_req_t *r)
{
    return r->ws_id[0] ? r->ws_id : ap_param(r, "id");
}

/* Ids in paths must be UUIDs; anything else cannot exist: 404. */
static int need_ids(ap_req_t *r, int with_key)
{
    if (!ap_is_uuid(key_ws(r))) {
        ap_fail(r, 404, "no workspace with this id", NULL);
        return -1;
    }
    if (with_key && !ap_is_uuid(ap_param(r, "key_id"))) {
        ap_fail(r, 404, "no API key with this id in this workspace", NULL);
        return -1;
    }
    return 0;
}

/* ---- create ---- */

/* Validated input (strings point into r->body). */
typedef struct key_in_s {
    const char *name;
    const char *scope;
    char expires_text[40]; /* "" = never */
} key_in_t;

static int key_validate(ap_req_t *r, key_in_t *in)
{
    static const char *const allowed[] = {"name", "scope", "expires_at", NULL};
    ap_in_err_t e;
    int64_t ms;
    memset(in, 0, sizeof *in);
    if (ap_in_only(r->body, allowed, "", &e) || ap_in_str(r->body, "name", "", 200, 1, &in->name, &e) ||
        ap_in_str(r->body, "scope", "", 8, 0, &in->scope, &e))
        goto bad;
    if (!in->scope)
        in->scope = "full";
    if (strcmp(in->scope, "full") != 0 && strcmp(in->scope, "read") != 0) {
        snprintf(e.field, sizeof e.field, "/scope");
        snprintf(e.detail, sizeof e.detail, "scope must be \"full\" (every route) or \"read\" (GET routes only)");
        goto bad;
    }
    if (ap_in_expires(json_object_get(r->body, "expires_at"), clock_now_ms(), r->app->cfg.min_lifetime_ms, &ms, &e))
        goto bad;
    if (ms >= 0)
        clock_format_iso(ms, 0, in->expires_text, sizeof in->expires_text);
    return 0;
bad:
    ap_fail(r, 400, e.detail, e.field);
    return -1;
}

static void on_key_inserted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, "this key exists already", "no workspace with this id") != 0)
        return;
    r->out = ap_res_json(res, 0, 0);
    json_object_set_new(r->out, "key", json_string(r->token));
    r->status = 201;
    ap_pub_t *p = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    ap_pub_wskey(p, r->hash, key_ws(r), strtoll(PQgetvalue(res, 0, 1), NULL, 10),
                 PQgetisnull(res, 0, 2) ? 0 : strtoll(PQgetvalue(res, 0, 2), NULL, 10));
    ap_publish_and_answer(r, p);
}

static void key_insert(ap_req_t *r)
{
    const key_in_t *in = r->ext;
    char prefix[KEY_PREFIX_LEN + 1];
    memcpy(prefix, r->token, KEY_PREFIX_LEN);
    prefix[KEY_PREFIX_LEN] = 0;
    const char *p[6] = {key_ws(r), in->name, prefix, r->hash, in->scope,
                        in->expires_text[0] ? in->expires_text : NULL};
    ap_query(r,
             "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scope, expires_at)"
             " SELECT id, $2, $3, $4, $5, $6::timestamptz FROM workspaces WHERE id = $1 RETURNING " KEY_JSON
             ", version, (extract(epoch FROM expires_at) * 1000)::bigint",
             6, p, on_key_inserted);
}

static void key_create(ap_req_t *r)
{
    if (need_ids(r, 0))
        return;
    key_in_t *in = mem_calloc(1, sizeof *in);
    r->ext = in;
    r->ext_free = free;
    if (key_validate(r, in))
        return;
    char tok[SECRET_TOKEN_LEN + 1];
    secret_token(tok);
    snprintf(r->token, sizeof r->token, "jsk_%s", tok);
    secret_hash_hex(r->token, strlen(r->token), r->hash);
    if (ap_need_redis(r))
        return;
    key_insert(r);
}

/* ---- read ---- */

static void key_list(ap_req_t *r)
{
    ap_page_t pg;
    if (need_ids(r, 0) || ap_page_parse(r, &pg) != 0)
        return;
    const char *p[4] = {key_ws(r), ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one};
    ap_query_page_owned(r,
                        "WITH ws AS (SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1) AS ok),"
                        " page AS (SELECT " KEY_JSON " AS j, created_at::text AS c, id::text AS i FROM api_keys"
                        "  WHERE workspace_id = $1 AND " AP_PAGE_AFTER("$2", "$3") " ORDER BY created_at, id LIMIT $4)"
                        " SELECT page.j, page.c, page.i, ws.ok FROM ws LEFT JOIN page ON true",
                        4, p, "no workspace with this id");
}

/* The caller's own key: what the dashboard shows and whether it may write. */
static void key_current(ap_req_t *r)
{
    const char *p[2] = {r->key_id, r->ws_id};
    ap_query_one(r, "SELECT " KEY_JSON " FROM api_keys WHERE id = $1 AND workspace_id = $2", 2, p,
                 "this API key was revoked");
}

/* ---- revoke ---- */

static void on_key_deleted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    char suffix[128];
    if (ap_res_one(r, res, err, NULL, "no API key with this id in this workspace") != 0)
        return;
    ap_pub_t *p = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    snprintf(suffix, sizeof suffix, "wskey:%s", PQgetvalue(res, 0, 0));
    ap_pub_tombstone(p, suffix, strtoll(PQgetvalue(res, 0, 1), NULL, 10) + 1);
    ap_publish_and_answer(r, p); /* r->out is NULL: 204 */
}

static void key_delete(ap_req_t *r)
{
    if (need_ids(r, 1) || ap_need_redis(r))
        return;
    const char *p[2] = {key_ws(r), ap_param(r, "key_id")};
    ap_query(r, "DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2 RETURNING key_hash, version", 2, p,
             on_key_deleted);
}

const ap_route_t ap_key_routes[] = {
    {"POST", "/workspaces/:id/api-keys", AP_ROLE_BOOTSTRAP, key_create, "api_key_create"},
    {"GET", "/workspaces/:id/api-keys", AP_ROLE_BOOTSTRAP, key_list, "api_key_list"},
    {"DELETE", "/workspaces/:id/api-keys/:key_id", AP_ROLE_BOOTSTRAP, key_delete, "api_key_delete"},
    {"GET", "/api-keys/current", AP_ROLE_WORKSPACE, key_current, "api_key_current"},
    {"POST", "/api-keys", AP_ROLE_WORKSPACE, key_create, "api_key_create"},
    {"GET", "/api-keys", AP_ROLE_WORKSPACE, key_list, "api_key_list"},
    {"DELETE", "/api-keys/:key_id", AP_ROLE_WORKSPACE, key_delete, "api_key_delete"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
