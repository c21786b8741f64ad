/* ap_workspaces: see ap_workspaces.h. */
#include "ap_workspaces.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_req.h"
#include "ap_input.h"
#include "ap_publish.h"

#define WS_JSON "json_build_object('id', id, 'name', name, 'created_at', " AP_TS("created_at") ")::text"

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

const ap_route_t ap_workspace_routes[] = {
    {"POST", "/workspaces", AP_ROLE_BOOTSTRAP, ws_create, "workspace_create"},
    {"GET", "/workspaces", AP_ROLE_BOOTSTRAP, ws_list, "workspace_list"},
    {"GET", "/workspaces/:id", AP_ROLE_BOOTSTRAP, ws_get, "workspace_get"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
