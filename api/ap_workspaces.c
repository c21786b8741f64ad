/* ap_workspaces: workspaces and their API keys (bootstrap key only).
 *
 * API keys are "jsk_" + 43 base64url characters (32 random bytes). Only the
 * SHA-256 hex is stored (PostgreSQL) and published (wskey:<hash>, for
 * servers that require an API key, after COMMIT: ap_publish.h); the key is
 * returned once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_app.h"
#include "ap_input.h"
#include "ap_publish.h"

#define WS_JSON "json_build_object('id', id, 'name', name, 'created_at', " AP_TS("created_at") ")::text"
#define KEY_JSON                                                                                   \
    "json_build_object('id', id, 'name', name, 'prefix', prefix, 'created_at', " AP_TS("created_at") \
    ", 'last_used_at', " AP_TS("last_used_at") ")::text"
#define KEY_PREFIX_LEN 8

/* Ids in paths must be UUIDs; anything else cannot exist: 404. */
static int need_uuid(ap_req_t *r, const char *name, const char *what)
{
    if (ap_is_uuid(ap_param(r, name)))
        return 0;
    char d[96];
    snprintf(d, sizeof d, "no %s with this id", what);
    ap_fail(r, 404, d, NULL);
    return -1;
}

/* A body with only "name" (1..200 chars). */
static int name_only(ap_req_t *r, const char **name)
{
    static const char *const allowed[] = {"name", NULL};
    ap_in_err_t e;
    if (ap_in_only(r->body, allowed, "", &e) || ap_in_str(r->body, "name", "", 200, 1, name, &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return -1;
    }
    return 0;
}

/* ---- workspaces ---- */

static void on_created(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    ap_ok(r, 201, ap_res_json(res, 0, 0));
}

static void ws_create(ap_req_t *r)
{
    const char *name;
    if (name_only(r, &name))
        return;
    const char *p[1] = {name};
    ap_query(r, "INSERT INTO workspaces (name) VALUES ($1) RETURNING " WS_JSON, 1, p, on_created);
}

static void ws_list(ap_req_t *r)
{
    ap_page_t pg;
    if (ap_page_parse(r, &pg) != 0)
        return;
    const char *p[3] = {ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one};
    ap_query_page(r,
                     "SELECT " WS_JSON ", created_at::text, id::text FROM workspaces WHERE " AP_PAGE_AFTER("$1", "$2")
                     " ORDER BY created_at, id LIMIT $3",
                     3, p);
}

static void ws_get(ap_req_t *r)
{
    if (need_uuid(r, "id", "workspace"))
        return;
    const char *p[1] = {ap_param(r, "id")};
    ap_query_one(r, "SELECT " WS_JSON " FROM workspaces WHERE id = $1", 1, p, "no workspace with this id");
}

/* ---- API keys ---- */

static void on_key_inserted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, "this key exists already", "no workspace with this id") != 0)
        return;
    r->out = ap_res_json(res, 0, 0);
    json_object_set_new(r->out, "key", json_string(r->token));
    r->status = 201;
    ap_pub_t *p = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    ap_pub_wskey(p, r->hash, ap_param(r, "id"), strtoll(PQgetvalue(res, 0, 1), NULL, 10));
    ap_publish_and_answer(r, p);
}

static void key_create(ap_req_t *r)
{
    const char *name;
    if (need_uuid(r, "id", "workspace") || name_only(r, &name) || ap_need_redis(r))
        return;
    char tok[SECRET_TOKEN_LEN + 1];
    secret_token(tok);
    snprintf(r->token, sizeof r->token, "jsk_%s", tok);
    secret_hash_hex(r->token, strlen(r->token), r->hash);
    char prefix[KEY_PREFIX_LEN + 1];
    memcpy(prefix, r->token, KEY_PREFIX_LEN);
    prefix[KEY_PREFIX_LEN] = 0;
    const char *p[4] = {ap_param(r, "id"), name, prefix, r->hash};
    ap_query(r,
             "INSERT INTO api_keys (workspace_id, name, prefix, key_hash)"
             " SELECT id, $2, $3, $4 FROM workspaces WHERE id = $1 RETURNING " KEY_JSON ", version",
             4, p, on_key_inserted);
}

static void key_list(ap_req_t *r)
{
    ap_page_t pg;
    if (need_uuid(r, "id", "workspace") || ap_page_parse(r, &pg) != 0)
        return;
    const char *p[4] = {ap_param(r, "id"), ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one};
    ap_query_page_owned(r,
                        "WITH ws AS (SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1) AS ok),"
                        " page AS (SELECT " KEY_JSON " AS j, created_at::text AS c, id::text AS i FROM api_keys"
                        "  WHERE workspace_id = $1 AND " AP_PAGE_AFTER("$2", "$3") " ORDER BY created_at, id LIMIT $4)"
                        " SELECT page.j, page.c, page.i, ws.ok FROM ws LEFT JOIN page ON true",
                        4, p, "no workspace with this id");
}

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
    if (need_uuid(r, "id", "workspace") || need_uuid(r, "key_id", "API key") || ap_need_redis(r))
        return;
    const char *p[2] = {ap_param(r, "id"), ap_param(r, "key_id")};
    ap_query(r, "DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2 RETURNING key_hash, version", 2, p,
             on_key_deleted);
}

const ap_route_t ap_workspace_routes[] = {
    {"POST", "/workspaces", AP_ROLE_BOOTSTRAP, ws_create, "workspace_create"},
    {"GET", "/workspaces", AP_ROLE_BOOTSTRAP, ws_list, "workspace_list"},
    {"GET", "/workspaces/:id", AP_ROLE_BOOTSTRAP, ws_get, "workspace_get"},
    {"POST", "/workspaces/:id/api-keys", AP_ROLE_BOOTSTRAP, key_create, "api_key_create"},
    {"GET", "/workspaces/:id/api-keys", AP_ROLE_BOOTSTRAP, key_list, "api_key_list"},
    {"DELETE", "/workspaces/:id/api-keys/:key_id", AP_ROLE_BOOTSTRAP, key_delete, "api_key_delete"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
