/* wk_catalog: see wk_catalog.h. */
#include "wk_catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"
#include "ju.h"
#include "projection.h"
#include "schema.h"
#include "secret.h"

#define WK_CATALOG_NAME_MAX 64
#define WK_CATALOG_MAX_TOOLS 1000

extern const embed_file_t worker_embedded[];

static unsigned kind_bit(const char *k)
{
    static const struct { const char *name; unsigned bit; } kinds[] = {
        {"list", WK_KIND_LIST}, {"get", WK_KIND_GET}, {"create", WK_KIND_CREATE},
        {"update", WK_KIND_UPDATE}, {"delete", WK_KIND_DELETE},
        {"read", WK_KIND_LIST | WK_KIND_GET},
        {"write", WK_KIND_CREATE | WK_KIND_UPDATE | WK_KIND_DELETE}};
    if (!k)
        return 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(k, kinds[i].name) == 0)
            return kinds[i].bit;
    return 0;
}

/* A copy of v with {"$template":"name"} replaced by templates.name. NULL
 * for an unknown template. */
static json_t *expand(const json_t *v, const json_t *templates, int depth)
{
    if (depth > 16)
        return NULL;
    if (!json_is_object(v))
        return json_deep_copy(v);
    const char *ref = ju_str(v, "$template");
    if (ref && json_object_size(v) == 1) {
        const json_t *t = json_object_get(templates, ref);
        return t ? expand(t, templates, depth + 1) : NULL;
    }
    json_t *r = json_object();
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        json_t *e = expand(m, templates, depth + 1);
        if (!e) {
            json_decref(r);
            return NULL;
        }
        json_object_set_new(r, k, e);
    }
    return r;
}

static int load_paging(wk_tool_t *t, const json_t *pg, char *err, size_t errsz)
{
    const char *style = ju_str(pg, "style");
    t->paging = !style                          ? WK_PAGE_NONE
                : strcmp(style, "token") == 0   ? WK_PAGE_TOKEN
                : strcmp(style, "startAt") == 0 ? WK_PAGE_STARTAT
                : strcmp(style, "start") == 0   ? WK_PAGE_START
                                                : WK_PAGE_NONE;
    t->items = ju_str(pg, "items");
    t->limit_param = ju_str(pg, "limit_param");
    t->token_param = ju_str(pg, "token_param");
    t->start_param = ju_str(pg, "start_param");
    t->default_limit = ju_int(pg, "default_limit", 25);
    t->max_limit = ju_int(pg, "max_limit", 100);
    if (t->paging == WK_PAGE_NONE || !t->items || !t->limit_param ||
        (t->paging == WK_PAGE_TOKEN ? !t->token_param : !t->start_param) ||
        t->default_limit < 1 || t->max_limit < t->default_limit) {
        snprintf(err, errsz, "%s: paging needs style (token|startAt|start), items, limit_param, "
                 "token_param or start_param, and 1 <= default_limit <= max_limit", t->name);
        return -1;
    }
    return 0;
}

static int load_tool(wk_tool_t *t, json_t *row, const json_t *templates, char *err, size_t errsz)
{
    char why[256] = "";
    t->def = row;
    t->name = ju_str(row, "name");
    if (!t->name || !*t->name || strlen(t->name) > WK_CATALOG_NAME_MAX ||
        strspn(t->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            strlen(t->name)) {
        snprintf(err, errsz, "tool without a valid name ([A-Za-z0-9_.-], 1..%d chars)",
                 WK_CATALOG_NAME_MAX);
        return -1;
    }
    t->kind = kind_bit(ju_str(row, "kind"));
    if (!t->kind || (t->kind & (t->kind - 1))) {
        snprintf(err, errsz, "%s: kind must be list, get, create, update or delete", t->name);
        return -1;
    }
    if (!ju_str(row, "description")) {
        snprintf(err, errsz, "%s: description is required", t->name);
        return -1;
    }
    t->input_schema = json_object_get(row, "inputSchema");
    if (!json_is_object(t->input_schema) ||
        schema_check_supported(t->input_schema, why, sizeof why) != 0) {
        snprintf(err, errsz, "%s: inputSchema: %s", t->name, *why ? why : "must be an object");
        return -1;
    }
    t->http = json_object_get(row, "http");
    const char *path = ju_str(t->http, "path");
    if (!ju_str(t->http, "method") || !path || path[0] != '/') {
        snprintf(err, errsz, "%s: http.method and http.path (starting with /) are required", t->name);
        return -1;
    }
    const json_t *pg = json_object_get(row, "paging");
    if (pg && load_paging(t, pg, err, errsz) != 0)
        return -1;

    json_t *out = expand(json_object_get(row, "output"), templates, 0);
    if (!json_is_object(out)) {
        json_decref(out);
        snprintf(err, errsz, "%s: output is required and may only use known $template names", t->name);
        return -1;
    }
    json_object_set_new(row, "output", out); /* the row owns the expanded copy */
    t->out_key = ju_str(out, "key");
    t->out_item = json_object_get(out, "item");
    t->out_object = json_object_get(out, "object");
    const json_t *tmpl = t->paging ? t->out_item : t->out_object;
    if (!tmpl || (t->paging && !t->out_key) || proj_check(tmpl, why, sizeof why) != 0) {
        snprintf(err, errsz, "%s: output needs %s: %s", t->name,
                 t->paging ? "key and item" : "object", *why ? why : "missing");
        return -1;
    }

    /* What tools/list shows: the MCP Tool fields only, never the JSM mapping. */
    t->listed = json_object();
    static const char *const shown[] = {"name", "title", "description", "inputSchema",
                                        "outputSchema", "annotations", NULL};
    for (int i = 0; shown[i]; i++) {
        json_t *v = json_object_get(row, shown[i]);
        if (v)
            json_object_set(t->listed, shown[i], v);
    }
    return 0;
}

void wk_catalog_free(wk_catalog_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        json_decref(c->tools[i].listed);
    free(c->tools);
    json_decref(c->root);
    free(c);
}

int wk_catalog_load(wk_catalog_t **out, const char *json, size_t len, char *err, size_t errsz)
{
    *out = NULL;
    json_t *root = ju_parse(json, len, 64, err, errsz);
    if (!root)
        return -1;
    wk_catalog_t *c = mem_calloc(1, sizeof *c);
    c->root = root;
    json_t *tools = json_object_get(root, "tools");
    const json_t *templates = json_object_get(root, "templates");
    if (!json_is_array(tools) || json_array_size(tools) == 0 ||
        json_array_size(tools) > WK_CATALOG_MAX_TOOLS) {
        snprintf(err, errsz, "catalog: tools must be a non-empty array (at most %d)",
                 WK_CATALOG_MAX_TOOLS);
        wk_catalog_free(c);
        return -1;
    }
    c->tools = mem_calloc(json_array_size(tools), sizeof *c->tools);
    size_t i;
    json_t *row;
    json_array_foreach(tools, i, row) {
        if (load_tool(&c->tools[i], row, templates, err, errsz) != 0) {
            c->n = i + 1; /* free what load_tool built so far */
            wk_catalog_free(c);
            return -1;
        }
        c->n = i + 1;
        if (i > 0 && wk_catalog_find(c, c->tools[i].name) != &c->tools[i]) {
            snprintf(err, errsz, "%s: duplicate tool name", c->tools[i].name);
            wk_catalog_free(c);
            return -1;
        }
    }
    *out = c;
    return 0;
}

int wk_catalog_load_embedded(wk_catalog_t **out, char *err, size_t errsz)
{
    const embed_file_t *f = embed_find(worker_embedded, "worker/catalog.json");
    if (!f) {
        snprintf(err, errsz, "worker/catalog.json was not embedded");
        return -1;
    }
    return wk_catalog_load(out, f->data, f->len, err, errsz);
}

const wk_tool_t *wk_catalog_find(const wk_catalog_t *c, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->tools[i].name, name) == 0)
            return &c->tools[i];
    return NULL;
}

int wk_catalog_allowed(const wk_tool_t *t, const json_t *cfg)
{
    const json_t *methods = json_object_get(cfg, "methods");
    const json_t *tags = json_object_get(cfg, "tags");
    size_t i;
    const json_t *v;
    if (json_array_size(methods) > 0) {
        unsigned mask = 0;
        json_array_foreach(methods, i, v)
            mask |= kind_bit(json_string_value(v));
        if (!(mask & t->kind))
            return 0;
    }
    if (json_array_size(tags) > 0) {
        const json_t *mine = json_object_get(t->def, "tags");
        int hit = 0;
        json_array_foreach(tags, i, v) {
            size_t j;
            const json_t *m;
            json_array_foreach(mine, j, m)
                hit |= json_is_string(v) && json_equal(v, m);
        }
        if (!hit)
            return 0;
    }
    return 1;
}

/* tools/list cursors are the base64url of "o:<offset>": opaque to clients,
 * checked on the way back in. */
json_t *wk_catalog_list(const wk_catalog_t *c, const json_t *cfg, const char *cursor,
                        size_t page_size, char *err, size_t errsz)
{
    size_t skip = 0;
    if (page_size == 0)
        page_size = 50;
    if (cursor) {
        char raw[32];
        size_t rawlen = 0;
        char *end = NULL;
        if (strlen(cursor) > 40 || secret_b64_decode_any(cursor, raw, sizeof raw - 1, &rawlen) != 0 ||
            rawlen < 3 || raw[0] != 'o' || raw[1] != ':') {
            snprintf(err, errsz, "Invalid cursor: not a cursor returned by tools/list");
            return NULL;
        }
        raw[rawlen] = 0;
        unsigned long v = strtoul(raw + 2, &end, 10);
        if (*end || v > c->n) {
            snprintf(err, errsz, "Invalid cursor: not a cursor returned by tools/list");
            return NULL;
        }
        skip = v;
    }
    json_t *list = json_array();
    size_t seen = 0, i = 0;
    for (; i < c->n; i++) {
        if (!wk_catalog_allowed(&c->tools[i], cfg))
            continue;
        if (seen++ < skip)
            continue;
        if (json_array_size(list) == page_size)
            break;
        json_array_append(list, c->tools[i].listed);
    }
    json_t *res = json_pack("{s:o}", "tools", list);
    if (i < c->n) {
        char raw[32], enc[64];
        int n = snprintf(raw, sizeof raw, "o:%zu", skip + page_size);
        secret_b64url_encode(raw, (size_t)n, enc, sizeof enc);
        json_object_set_new(res, "nextCursor", json_string(enc));
    }
    return res;
}
