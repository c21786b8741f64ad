/* ap_servers: see ap_servers.h. */
#include "ap_servers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_req.h"
#include "ap_input.h"
#include "ap_publish.h"
#include "jsontext.h"
#include "ap_tools.h"
#include "clock.h"

#define SRV_JSON                                                                                      \
    "json_build_object('id', id, 'account_id', account_id, 'name', name, 'config', config,"           \
    " 'expires_at', " AP_TS("expires_at") ", 'require_api_token_auth', require_api_token_auth,"       \
    " 'created_at', " AP_TS("created_at") ", 'updated_at', " AP_TS("updated_at") ","                  \
    " 'last_used_at', " AP_TS("last_used_at") ")::text"
/* Columns every write returns: the public JSON, then AP_SRV_PUB_COLS. */
#define SRV_RETURNING SRV_JSON ", " AP_SRV_PUB_COLS
/* A server whose expires_at passed is gone, whether or not the sweeper has
 * deleted its row yet: a PATCH (of expires_at, say) or a rotation must not
 * bring its URLs back (found by an adversarial run: a PATCH 50 ms after the
 * expiry revived the URL, and no server.expired event was ever sent). */
#define SRV_LIVE "(expires_at IS NULL OR expires_at > now())"
#define SRV_GONE "no MCP server with this id for this account (a server past its expires_at is gone, and is deleted within seconds)"

static int need_ids(ap_req_t *r, int with_server)
{
    if (!ap_is_uuid(ap_param(r, "id"))) {
        ap_fail(r, 404, "no integrated account with this id", NULL);
        return -1;
    }
    if (with_server && !ap_is_uuid(ap_param(r, "mcp_id"))) {
        ap_fail(r, 404, "no MCP server with this id for this account", NULL);
        return -1;
    }
    return 0;
}

/* Validated input of a create or patch (strings point into r->body). */
typedef struct srv_in_s {
    const char *name;
    json_t *config;       /* owned; NULL when not given (patch) */
    int has_expires;
    int64_t expires_ms;   /* -1 = none */
    int require_key;      /* -1 = not given */
    char config_text[4096];
    char expires_text[40];
} srv_in_t;

static void srv_in_free(void *p)
{
    srv_in_t *in = p;
    json_decref(in->config);
    free(in);
}

static srv_in_t *srv_validate(ap_req_t *r, int create)
{
    static const char *const allowed[] = {"name", "config", "expires_at", "require_api_token_auth", NULL};
    ap_in_err_t e;
    srv_in_t *in = calloc(1, sizeof *in);
    r->ext = in;
    r->ext_free = srv_in_free;
    in->require_key = -1;
    in->expires_ms = -1;
    if (ap_in_only(r->body, allowed, "", &e) || ap_in_str(r->body, "name", "", 200, create, &in->name, &e) ||
        ap_in_bool(r->body, "require_api_token_auth", "", &in->require_key, &e))
        goto bad;
    const json_t *cfg = json_object_get(r->body, "config");
    if ((create || cfg) && ap_in_server_config(cfg, &in->config, &e))
        goto bad;
    if (in->config && ap_tools_count(in->config) == 0) {
        snprintf(e.field, sizeof e.field, "/config");
        snprintf(e.detail, sizeof e.detail,
                 "config.methods and config.tags leave no tools (GET /tools?methods=..&tags=.. lists what they pick)");
        goto bad;
    }
    if (in->config) {
        char *t = json_dumps(in->config, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(in->config_text, sizeof in->config_text, "%s", t ? t : "{}");
        free(t);
    }
    const json_t *exp = json_object_get(r->body, "expires_at");
    in->has_expires = exp != NULL || create;
    if (ap_in_expires(exp, clock_now_ms(), r->app->cfg.min_lifetime_ms, &in->expires_ms, &e))
        goto bad;
    if (in->expires_ms >= 0)
        clock_format_iso(in->expires_ms, 0, in->expires_text, sizeof in->expires_text);
    if (!create && json_object_size(r->body) == 0) {
        snprintf(e.field, sizeof e.field, "/");
        snprintf(e.detail, sizeof e.detail,
                 "nothing to change: send name, config, expires_at or require_api_token_auth");
        goto bad;
    }
    return in;
bad:
    ap_fail(r, 400, e.detail, e.field);
    return NULL;
}

/* ---- publishing a written row ---- */

/* res row 0 holds SRV_RETURNING: publishes the server (its live tokens,
 * and tombstones for the hashes in dead), then answers r->status with
 * r->out. */
static void publish_row(ap_req_t *r, const PGresult *res, const char *const *dead, size_t ndead)
{
    ap_pub_t *p = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    ap_pub_server(p, res, 0, 1, dead, ndead);
    ap_publish_and_answer(r, p);
}

/* ---- create ---- */

static void on_srv_inserted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res) || PQntuples(res) != 1) {
        /* No row, or the account was deleted while we inserted (23503). */
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!ap_res_ok(res) && !(state && strcmp(state, "23503") == 0)) {
            ap_fail_db(r, res, err, "token collision; try again");
            return;
        }
        ap_fail(r, 404, "no integrated account with this id", NULL);
        return;
    }
    r->out = ap_res_json(res, 0, 0);
    char url[512];
    snprintf(url, sizeof url, "%s/mcp/%s", r->app->cfg.public_worker_url, r->token);
    json_object_set_new(r->out, "url", json_string(url));
    r->status = 201;
    publish_row(r, res, NULL, 0);
}

static void srv_create(ap_req_t *r)
{
    srv_in_t *in;
    if (need_ids(r, 0) || !(in = srv_validate(r, 1)) || ap_need_redis(r))
        return;
    secret_token(r->token);
    secret_hash_hex(r->token, strlen(r->token), r->hash);
    ap_uuid(r->id);
    const char *p[8] = {ap_param(r, "id"), r->ws_id, in->name, in->config_text, r->hash,
                        in->expires_ms >= 0 ? in->expires_text : NULL, in->require_key > 0 ? "true" : "false", r->id};
    /* The account must be this workspace's: otherwise no row, 404. */
    ap_query(r,
             "INSERT INTO mcp_servers (id, workspace_id, account_id, name, config, token_hash, expires_at,"
             " require_api_token_auth) SELECT $8, a.workspace_id, a.id, $3, $4::jsonb, $5, $6::timestamptz, $7::boolean"
             " FROM integrated_accounts a WHERE a.id = $1 AND a.workspace_id = $2 RETURNING " SRV_RETURNING,
             8, p, on_srv_inserted);
}

/* ---- read ---- */

static void srv_get(ap_req_t *r)
{
    if (need_ids(r, 1))
        return;
    const char *p[3] = {ap_param(r, "mcp_id"), ap_param(r, "id"), r->ws_id};
    ap_query_one(r, "SELECT " SRV_JSON " FROM mcp_servers WHERE id = $1 AND account_id = $2 AND workspace_id = $3",
                 3, p, "no MCP server with this id for this account");
}

static void srv_list(ap_req_t *r)
{
    ap_page_t pg;
    if (need_ids(r, 0) || ap_page_parse(r, &pg) != 0)
        return;
    const char *p[5] = {ap_param(r, "id"), r->ws_id, ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one};
    /* One round trip: the page, and whether the account exists for this
     * workspace (a RIGHT JOIN on a one-row marker keeps a row for an empty page). */
    ap_query_page_owned(r,
                     "WITH acct AS (SELECT EXISTS (SELECT 1 FROM integrated_accounts WHERE id = $1 AND workspace_id = $2) AS ok),"
                     " page AS (SELECT " SRV_JSON " AS j, created_at::text AS c, id::text AS i FROM mcp_servers"
                     "  WHERE account_id = $1 AND workspace_id = $2 AND " AP_PAGE_AFTER("$3", "$4")
                     "  ORDER BY created_at, id LIMIT $5)"
                     " SELECT page.j, page.c, page.i, acct.ok FROM acct LEFT JOIN page ON true",
                     5, p, "no integrated account with this id");
}

/* ---- patch ---- */

static void on_srv_updated(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, NULL, SRV_GONE) != 0)
        return;
    r->out = ap_res_json(res, 0, 0);
    r->status = 200;
    publish_row(r, res, NULL, 0);
}

static void srv_patch(ap_req_t *r)
{
    if (need_ids(r, 1) || !srv_validate(r, 0) || ap_need_redis(r))
        return;
    srv_in_t *in = r->ext;
    const char *p[8] = {ap_param(r, "mcp_id"),
                        ap_param(r, "id"),
                        r->ws_id,
                        in->name,
                        in->config ? in->config_text : NULL,
                        in->has_expires ? "t" : NULL,
                        in->expires_ms >= 0 ? in->expires_text : NULL,
                        in->require_key < 0 ? NULL : in->require_key ? "true" : "false"};
    ap_query(r,
             "UPDATE mcp_servers SET name = COALESCE($4, name), config = COALESCE($5::jsonb, config),"
             " expires_at = CASE WHEN $6::text IS NULL THEN expires_at ELSE $7::timestamptz END,"
             " require_api_token_auth = COALESCE($8::boolean, require_api_token_auth), updated_at = now()"
             " WHERE id = $1 AND account_id = $2 AND workspace_id = $3 AND " SRV_LIVE " RETURNING " SRV_RETURNING,
             8, p, on_srv_updated);
}

/* ---- delete: tombstones for both tokens, one version above the row's ---- */

static void on_srv_deleted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, NULL, "no MCP server with this id for this account") != 0)
        return;
    const char *hashes[2] = {PQgetvalue(res, 0, 0), PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1)};
    ap_pub_t *p = ap_pub_new(rcli_prefix(r->app->redis), r->read_ms);
    ap_pub_server_gone(p, hashes, 2, strtoll(PQgetvalue(res, 0, 2), NULL, 10) + 1);
    ap_publish_and_answer(r, p); /* r->out is NULL: 204 */
}

static void srv_delete(ap_req_t *r)
{
    if (need_ids(r, 1) || ap_need_redis(r))
        return;
    const char *p[3] = {ap_param(r, "mcp_id"), ap_param(r, "id"), r->ws_id};
    ap_query(r,
             "DELETE FROM mcp_servers WHERE id = $1 AND account_id = $2 AND workspace_id = $3"
             " RETURNING token_hash, prev_token_hash, version",
             3, p, on_srv_deleted);
}

/* ---- rotate: a new URL; the old one works for overlap_seconds more ---- */

#define MAX_OVERLAP_S 604800 /* a week */

static void on_rotated(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    long overlap_s = *(long *)r->ext;
    if (ap_res_one(r, res, err, "token collision; try again", SRV_GONE) != 0)
        return;
    r->out = ap_res_json(res, 0, 0);
    char url[512];
    snprintf(url, sizeof url, "%s/mcp/%s", r->app->cfg.public_worker_url, r->token);
    json_object_set_new(r->out, "url", json_string(url));
    if (overlap_s > 0)
        json_object_set_new(r->out, "previous_url_expires_at", json_string(PQgetvalue(res, 0, 10)));
    r->status = 200;
    /* The new token and, during the overlap, the old one (both with the
     * row's settings); a tombstone for the old one without an overlap, and
     * for the token of an earlier rotation whose overlap this one cuts short. */
    const int base = 1 + AP_SRV_PUB_NCOLS;
    const char *dead[2] = {PQgetvalue(res, 0, base), PQgetisnull(res, 0, base + 1) ? NULL : PQgetvalue(res, 0, base + 1)};
    publish_row(r, res, dead, 2);
}

static void srv_rotate(ap_req_t *r)
{
    static const char *const allowed[] = {"overlap_seconds", NULL};
    ap_in_err_t e;
    if (need_ids(r, 1))
        return;
    long *overlap_s = calloc(1, sizeof *overlap_s);
    r->ext = overlap_s;
    r->ext_free = free;
    if (r->body && ap_in_only(r->body, allowed, "", &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    const json_t *ov = r->body ? json_object_get(r->body, "overlap_seconds") : NULL;
    if (ov && (!json_is_integer(ov) || json_integer_value(ov) < 0 || json_integer_value(ov) > MAX_OVERLAP_S)) {
        ap_fail(r, 400, "overlap_seconds must be a whole number of seconds from 0 to 604800 (a week)",
                "/overlap_seconds");
        return;
    }
    if (ap_need_redis(r))
        return;
    *overlap_s = ov ? (long)json_integer_value(ov) : 0;
    secret_token(r->token);
    secret_hash_hex(r->token, strlen(r->token), r->hash);
    char ov_text[24];
    snprintf(ov_text, sizeof ov_text, "%ld", *overlap_s);
    const char *p[5] = {ap_param(r, "mcp_id"), ap_param(r, "id"), r->ws_id, r->hash, ov_text};
    /* The CTE locks the row and keeps the tokens it had; RETURNING then
     * gives the new state and the tokens this rotation replaced. */
    ap_query(r,
             "WITH old AS (SELECT id AS oid, token_hash AS old_hash, prev_token_hash AS older_hash FROM mcp_servers"
             "  WHERE id = $1 AND account_id = $2 AND workspace_id = $3 AND " SRV_LIVE " FOR UPDATE)"
             " UPDATE mcp_servers m SET token_hash = $4,"
             "  prev_token_hash = CASE WHEN $5::int > 0 THEN old.old_hash END,"
             "  prev_token_expires_at = CASE WHEN $5::int > 0 THEN now() + $5::int * interval '1 second' END,"
             "  rotated_at = now(), updated_at = now()"
             " FROM old WHERE m.id = old.oid"
             " RETURNING " SRV_RETURNING ", old.old_hash, old.older_hash, " AP_TS("prev_token_expires_at"),
             5, p, on_rotated);
}

const ap_route_t ap_server_routes[] = {
    {"POST", "/integrated-account/:id/mcp", AP_ROLE_WORKSPACE, srv_create, "server_create"},
    {"GET", "/integrated-account/:id/mcp", AP_ROLE_WORKSPACE, srv_list, "server_list"},
    {"GET", "/integrated-account/:id/mcp/:mcp_id", AP_ROLE_WORKSPACE, srv_get, "server_get"},
    {"PATCH", "/integrated-account/:id/mcp/:mcp_id", AP_ROLE_WORKSPACE, srv_patch, "server_patch"},
    {"DELETE", "/integrated-account/:id/mcp/:mcp_id", AP_ROLE_WORKSPACE, srv_delete, "server_delete"},
    {"POST", "/integrated-account/:id/mcp/:mcp_id/rotate", AP_ROLE_WORKSPACE, srv_rotate, "server_rotate"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
