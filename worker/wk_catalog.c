/* wk_catalog: see wk_catalog.h. */
#include "wk_catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "embed.h"
#include "jsontext.h"
#include "projection.h"
#include "schema.h"
#include "wk_result.h"
#include "secret.h"

#define WK_CATALOG_NAME_MAX 64
#define WK_CATALOG_MAX_TOOLS 1000

extern const embed_file_t worker_embedded[];

/* A copy of v with {"$template":"name"} replaced by templates.name. NULL
 * for an unknown template. */
static json_t *expand(const json_t *v, const json_t *templates, int depth)
{
    if (depth > 16)
        return NULL;
    if (!json_is_object(v))
        return json_deep_copy(v);
    const char *ref = jsontext_str(v, "$template");
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

/* Replaces every {"$kind": "<name>", ...} property schema (under
 * properties and items, recursively) by the kind's schema from the
 * catalog's arg_kinds, keeping the property's own description, title and
 * examples. -1 with err for an unknown kind or a property that would
 * override the kind's checks. */
static int expand_kinds(json_t *schema, const json_t *kinds, const char *tool, char *err, size_t errsz)
{
    if (!json_is_object(schema))
        return 0;
    const char *k;
    json_t *v, *props = json_object_get(schema, "properties");
    json_object_foreach(props, k, v) {
        const char *kind = jsontext_str(v, "$kind");
        if (kind) {
            const json_t *ks = json_object_get(kinds, kind);
            if (!json_is_object(ks) || kind[0] == '$') {
                snprintf(err, errsz, "%s: argument %s: unknown $kind \"%s\" (see arg_kinds)", tool, k, kind);
                return -1;
            }
            json_t *e = json_deep_copy(ks);
            const char *m;
            json_t *mv;
            json_object_foreach(v, m, mv) {
                if (strcmp(m, "$kind") == 0)
                    continue;
                if (strcmp(m, "description") != 0 && strcmp(m, "title") != 0 && strcmp(m, "examples") != 0) {
                    json_decref(e);
                    snprintf(err, errsz, "%s: argument %s: only description, title and examples may go with $kind",
                             tool, k);
                    return -1;
                }
                json_object_set(e, m, mv);
            }
            json_object_set_new(props, k, e);
            continue;
        }
        if (expand_kinds(v, kinds, tool, err, errsz) != 0)
            return -1;
    }
    json_t *items = json_object_get(schema, "items");
    if (json_is_object(items) && jsontext_str(items, "$kind")) {
        /* An array's items: the same expansion through a one-member holder. */
        json_t *holder = json_pack("{s:{s:O}}", "properties", "items", items);
        int rc = expand_kinds(holder, kinds, tool, err, errsz);
        if (rc == 0)
            json_object_set(schema, "items", json_object_get(json_object_get(holder, "properties"), "items"));
        json_decref(holder);
        return rc;
    }
    return expand_kinds(items, kinds, tool, err, errsz);
}

/* 1 when name is the "set" of one of the tool's pre-steps: a value taken
 * from the site's own answer (a request's service desk id, an uploaded
 * file's temporary id), not from the agent. */
static int step_sets(const wk_tool_t *t, const char *name)
{
    size_t i;
    const json_t *st;
    json_array_foreach(t->resolve, i, st) {
        const char *set = jsontext_str(st, "set");
        if (set && strcmp(set, name) == 0 && !json_object_get(json_object_get(t->input_schema, "properties"), name))
            return 1;
    }
    return 0;
}

/* Every {arg} of path names a string argument whose schema has a pattern
 * (an argument kind), or a value a pre-step takes from the site's answer:
 * nothing the agent gives reaches a URL path unchecked. */
static int path_args_checked(const wk_tool_t *t, const char *path, char *err, size_t errsz)
{
    const json_t *props = json_object_get(t->input_schema, "properties");
    for (const char *p = path ? strchr(path, '{') : NULL; p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        char name[128];
        size_t n = close ? (size_t)(close - p - 1) : 0;
        if (!close || n == 0 || n >= sizeof name) {
            snprintf(err, errsz, "%s: malformed {arg} in path %s", t->name, path);
            return -1;
        }
        memcpy(name, p + 1, n);
        name[n] = 0;
        if (!jsontext_str(json_object_get(props, name), "pattern") && !step_sets(t, name)) {
            snprintf(err, errsz, "%s: path argument %s needs an argument kind with a pattern ($kind)", t->name, name);
            return -1;
        }
    }
    return 0;
}

/* A string, or an array of one or two strings: the first and second. */
static int one_or_two(const json_t *v, const char **a, const char **b)
{
    *a = *b = NULL;
    if (json_is_string(v)) {
        *a = json_string_value(v);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2)
        return -1;
    *a = json_string_value(json_array_get(v, 0));
    *b = json_array_size(v) == 2 ? json_string_value(json_array_get(v, 1)) : NULL;
    return *a && (json_array_size(v) == 1 || *b) ? 0 : -1;
}

static int load_scope(wk_scope_t *sc, const json_t *v, const char *tool, const char *what, char *err, size_t errsz)
{
    memset(sc, 0, sizeof *sc);
    if (!v)
        return 0;
    const json_t *proj = json_object_get(v, "project"), *key = json_object_get(v, "issue_key");
    if (!json_is_object(v) || json_object_size(v) != 1 || (!proj && !key) ||
        one_or_two(proj ? proj : key, &sc->path, &sc->path2) != 0) {
        snprintf(err, errsz, "%s: %s must be {\"project\": path} or {\"issue_key\": path} (a path or two)", tool,
                 what);
        return -1;
    }
    sc->issue_key = !proj;
    return 0;
}

/* The pre-steps (resolve): GET steps that match a name among the items of
 * an answer ("match") or take one value of it (no "match"), and POST steps
 * that upload the tool's file (multipart) and keep an id of the answer. */
static int load_steps(wk_tool_t *t, char *err, size_t errsz)
{
    if (t->resolve && !json_is_array(t->resolve)) {
        snprintf(err, errsz, "%s: resolve must be an array", t->name);
        return -1;
    }
    size_t si;
    const json_t *st;
    json_array_foreach(t->resolve, si, st) {
        const char *m = jsontext_str(st, "method");
        const json_t *match = json_object_get(st, "match");
        int get = m && strcmp(m, "GET") == 0, post = m && strcmp(m, "POST") == 0;
        if (!jsontext_str(st, "when") || !jsontext_str(st, "set") || !jsontext_str(st, "value") || (match && !json_is_array(match)) ||
            !(get || (post && t->multipart && json_is_true(json_object_get(st, "multipart")))) ||
            !jsontext_str(st, "path") || jsontext_str(st, "path")[0] != '/' ||
            ((json_object_get(st, "always") || json_object_get(st, "screen") || jsontext_str(st, "email")) && !match)) {
            snprintf(err, errsz, "%s: resolve[%zu] needs when, set, value, path, method GET (match[] to match "
                     "names; always, screen and email with match) or POST with multipart: true", t->name, si);
            return -1;
        }
        if (path_args_checked(t, jsontext_str(st, "path"), err, errsz) != 0)
            return -1;
    }
    return 0;
}

static int load_paging(wk_tool_t *t, const json_t *pg, char *err, size_t errsz)
{
    const char *style = jsontext_str(pg, "style");
    t->paging = !style                          ? WK_PAGE_NONE
                : strcmp(style, "token") == 0   ? WK_PAGE_TOKEN
                : strcmp(style, "startAt") == 0 ? WK_PAGE_STARTAT
                : strcmp(style, "start") == 0   ? WK_PAGE_START
                : strcmp(style, "offset") == 0  ? WK_PAGE_OFFSET
                                                : WK_PAGE_NONE;
    t->items = jsontext_str(pg, "items");
    t->limit_param = jsontext_str(pg, "limit_param");
    t->token_param = jsontext_str(pg, "token_param");
    t->start_param = jsontext_str(pg, "start_param");
    t->default_limit = jsontext_int(pg, "default_limit", 25);
    t->max_limit = jsontext_int(pg, "max_limit", 100);
    if (t->paging == WK_PAGE_NONE || !t->items || !t->limit_param ||
        (t->paging == WK_PAGE_TOKEN ? !t->token_param : !t->start_param) ||
        t->default_limit < 1 || t->max_limit < t->default_limit) {
        snprintf(err, errsz, "%s: paging needs style (token|startAt|start|offset), items, limit_param, "
                 "token_param or start_param, and 1 <= default_limit <= max_limit", t->name);
        return -1;
    }
    return 0;
}

/* What every row gets without writing it: the raw and idempotency_key
 * arguments, default annotations for its kind, and an outputSchema derived
 * from its projection (with "raw" for raw: true answers). */
static void enrich(wk_tool_t *t, json_t *row)
{
    json_t *props = json_object_get(t->input_schema, "properties");
    if (json_is_object(props)) {
        json_object_set_new(props, "raw", json_pack("{s:s,s:s}", "type", "boolean", "description",
            "true: return the full JSM payload (large) instead of the compact projection"));
        if (t->kind & WK_KIND_WRITE)
            json_object_set_new(props, "idempotency_key", json_pack("{s:s,s:i,s:i,s:s}", "type", "string",
                "minLength", 1, "maxLength", 128, "description",
                "Any unique string; a retried call with the same key returns the first result instead of repeating the write (24 h)"));
    }
    json_t *ann = json_object_get(row, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(row, "annotations", ann);
    }
    int ro = !(t->kind & WK_KIND_WRITE);
    if (!json_object_get(ann, "readOnlyHint"))
        json_object_set_new(ann, "readOnlyHint", json_boolean(ro));
    if (!json_object_get(ann, "destructiveHint"))
        json_object_set_new(ann, "destructiveHint", json_boolean(t->kind == WK_KIND_DELETE));
    if (!json_object_get(ann, "idempotentHint"))
        json_object_set_new(ann, "idempotentHint", json_boolean(t->kind != WK_KIND_CREATE));
    if (!json_object_get(ann, "openWorldHint"))
        json_object_set_new(ann, "openWorldHint", json_true());
    if (!json_object_get(ann, "title") && jsontext_str(row, "title"))
        json_object_set_new(ann, "title", json_string(jsontext_str(row, "title")));

    json_t *os;
    if (t->out_key) {
        json_t *props2 = json_object(), *item = proj_schema(t->out_item);
        /* What the include argument may add to each item. */
        const char *ik;
        json_t *iv;
        json_object_foreach((json_t *)t->includes, ik, iv) {
            json_t *more = proj_schema(json_object_get(iv, "item"));
            json_object_update_missing(json_object_get(item, "properties"), json_object_get(more, "properties"));
            json_decref(more);
        }
        json_object_set_new(props2, t->out_key, json_pack("{s:s,s:o}", "type", "array", "items", item));
        if (t->paging)
            json_object_set_new(props2, "next_cursor", json_pack("{s:s,s:s}", "type", "string",
                "description", "present when there are more: pass it back as next_cursor"));
        os = json_pack("{s:s,s:o}", "type", "object", "properties", props2);
    } else {
        os = proj_schema(t->out_object);
    }
    json_t *p = json_object_get(os, "properties");
    if (!p) {
        p = json_object();
        json_object_set_new(os, "properties", p);
    }
    json_object_set_new(p, "raw", json_pack("{s:s}", "description", "the full JSM payload (raw: true)"));
    if (t->notes)
        json_object_set_new(p, "notes", json_pack("{s:s,s:{s:s},s:s}", "type", "array", "items", "type", "string",
                                                  "description", "what jsmcp or Jira assumed for arguments not given"));
    json_object_set_new(row, "outputSchema", os);
}

static int load_tool(wk_tool_t *t, json_t *row, const json_t *templates, const json_t *kinds, char *err,
                     size_t errsz)
{
    char why[256] = "";
    t->def = row;
    t->name = jsontext_str(row, "name");
    if (!t->name || !*t->name || strlen(t->name) > WK_CATALOG_NAME_MAX ||
        strspn(t->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            strlen(t->name)) {
        snprintf(err, errsz, "tool without a valid name ([A-Za-z0-9_.-], 1..%d chars)",
                 WK_CATALOG_NAME_MAX);
        return -1;
    }
    t->kind = toolfilter_kind_bits(jsontext_str(row, "kind"));
    if (!t->kind || (t->kind & (t->kind - 1))) {
        snprintf(err, errsz, "%s: kind must be list, get, create, update or delete", t->name);
        return -1;
    }
    if (!jsontext_str(row, "description")) {
        snprintf(err, errsz, "%s: description is required", t->name);
        return -1;
    }
    t->input_schema = json_object_get(row, "inputSchema");
    if (expand_kinds((json_t *)t->input_schema, kinds, t->name, err, errsz) != 0)
        return -1;
    if (!json_is_object(t->input_schema) ||
        schema_check_supported(t->input_schema, why, sizeof why) != 0) {
        snprintf(err, errsz, "%s: inputSchema: %s", t->name, *why ? why : "must be an object");
        return -1;
    }
    t->http = json_object_get(row, "http");
    const char *path = jsontext_str(t->http, "path");
    if (!jsontext_str(t->http, "method") || !path || path[0] != '/') {
        snprintf(err, errsz, "%s: http.method and http.path (starting with /) are required", t->name);
        return -1;
    }
    const json_t *pg = json_object_get(row, "paging");
    if (pg && load_paging(t, pg, err, errsz) != 0)
        return -1;
    t->resolve = json_object_get(row, "resolve");
    t->multipart = json_object_get(t->http, "multipart");
    if (t->multipart && (!jsontext_str(t->multipart, "name") || !jsontext_str(t->multipart, "content") ||
                         !jsontext_str(t->multipart, "filename"))) {
        snprintf(err, errsz, "%s: http.multipart needs name, content (a base64 argument) and filename", t->name);
        return -1;
    }
    if (path_args_checked(t, path, err, errsz) != 0)
        return -1;
    t->path_with = json_object_get(t->http, "path_with");
    const char *wk;
    json_t *wp;
    json_object_foreach((json_t *)t->path_with, wk, wp) {
        if (!json_is_string(wp) || json_string_value(wp)[0] != '/' ||
            !json_object_get(json_object_get(t->input_schema, "properties"), wk)) {
            snprintf(err, errsz, "%s: http.path_with maps an argument of the tool to a path starting with /", t->name);
            return -1;
        }
        if (path_args_checked(t, json_string_value(wp), err, errsz) != 0)
            return -1;
    }

    json_t *out = expand(json_object_get(row, "output"), templates, 0);
    if (!json_is_object(out)) {
        json_decref(out);
        snprintf(err, errsz, "%s: output is required and may only use known $template names", t->name);
        return -1;
    }
    json_object_set_new(row, "output", out); /* the row owns the expanded copy */
    t->out_key = jsontext_str(out, "key");
    t->out_item = json_object_get(out, "item");
    t->out_object = json_object_get(out, "object");
    t->binary_max = jsontext_int(json_object_get(out, "binary"), "max_bytes", 0);
    if (json_object_get(out, "binary") && (t->binary_max < 1 || t->binary_max > (16 << 20) || t->paging)) {
        snprintf(err, errsz, "%s: output.binary needs max_bytes (1 .. 16 MiB), unpaged", t->name);
        return -1;
    }
    int many = t->paging || jsontext_str(out, "from");
    const json_t *tmpl = many ? t->out_item : t->out_object;
    if (!tmpl || (many && !t->out_key) || proj_check(tmpl, why, sizeof why) != 0) {
        snprintf(err, errsz, "%s: output needs %s: %s", t->name,
                 many ? "key and item" : "object", *why ? why : "missing");
        return -1;
    }

    t->out_from = jsontext_str(out, "from");
    t->tags = json_object_get(row, "tags");
    t->jql_arg = jsontext_str(row, "jql_arg");
    t->fields_arg = jsontext_str(row, "fields_arg");
    if (json_object_get(row, "scope_issue") &&
        one_or_two(json_object_get(row, "scope_issue"), &t->scope_issue, &t->scope_issue2) != 0) {
        snprintf(err, errsz, "%s: scope_issue is an argument name or two", t->name);
        return -1;
    }
    t->scope_desk = jsontext_str(row, "scope_desk");
    t->scope_project = jsontext_str(row, "scope_project");
    if (load_scope(&t->scope_items, json_object_get(row, "scope_items"), t->name, "scope_items", err, errsz) != 0 ||
        load_scope(&t->scope_object, json_object_get(row, "scope_object"), t->name, "scope_object", err, errsz) != 0)
        return -1;
    t->unscoped = json_is_true(json_object_get(row, "unscoped"));
    if (load_steps(t, err, errsz) != 0)
        return -1;
    t->includes = json_object_get(row, "includes");
    const char *ik;
    json_t *iv;
    json_object_foreach((json_t *)t->includes, ik, iv) {
        if (!many || !json_is_array(json_object_get(iv, "fields")) ||
            proj_check(json_object_get(iv, "item"), why, sizeof why) != 0) {
            snprintf(err, errsz, "%s: includes.%s needs fields[] and an item template (list tools): %s", t->name, ik,
                     why);
            return -1;
        }
    }
    t->notes = json_object_get(row, "notes");
    json_object_foreach((json_t *)t->notes, ik, iv) {
        if (!json_is_string(iv) || !json_object_get(json_object_get(t->input_schema, "properties"), ik)) {
            snprintf(err, errsz, "%s: notes maps an argument of the tool to a text", t->name);
            return -1;
        }
    }
    if (!json_is_array(t->tags) || json_array_size(t->tags) == 0) {
        snprintf(err, errsz, "%s: tags (a non-empty array) are required", t->name);
        return -1;
    }
    enrich(t, row);

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
    for (size_t i = 0; i < c->n; i++) {
        json_decref(c->tools[i].listed);
        jsontext_keep_free(c->tools[i].keep);
    }
    free(c->tools);
    json_decref(c->discovery);
    json_decref(c->root);
    free(c);
}

static const char discovery_json[] =
    "[{\"name\":\"" WK_TOOL_SEARCH "\",\"title\":\"Search the Jira Service Management tools\","
    "\"description\":\"Finds the tools of this server whose name or description match the words of query "
    "(e.g. 'queue issues', 'sla', 'comment reply'). Then read one with get_tool_schema and run it with call_tool.\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200},"
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50}},\"required\":[\"query\"],\"additionalProperties\":false},"
    "\"annotations\":{\"readOnlyHint\":true,\"destructiveHint\":false,\"idempotentHint\":true,\"openWorldHint\":false}},"
    "{\"name\":\"" WK_TOOL_SCHEMA "\",\"title\":\"Get a tool's schema\","
    "\"description\":\"Returns the full definition (inputSchema, outputSchema, annotations) of one tool named by search_tools.\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64}},"
    "\"required\":[\"name\"],\"additionalProperties\":false},"
    "\"annotations\":{\"readOnlyHint\":true,\"destructiveHint\":false,\"idempotentHint\":true,\"openWorldHint\":false}},"
    "{\"name\":\"" WK_TOOL_CALL "\",\"title\":\"Call a tool\","
    "\"description\":\"Runs one tool (named by search_tools) with its arguments (as get_tool_schema describes them).\","
    "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64},"
    "\"arguments\":{\"type\":\"object\"}},\"required\":[\"name\"],\"additionalProperties\":false},"
    "\"annotations\":{\"readOnlyHint\":false,\"destructiveHint\":true,\"idempotentHint\":false,\"openWorldHint\":true}}]";

int wk_catalog_load(wk_catalog_t **out, const char *json, size_t len, char *err, size_t errsz)
{
    *out = NULL;
    json_t *root = jsontext_parse(json, len, 64, err, errsz);
    if (!root)
        return -1;
    wk_catalog_t *c = mem_calloc(1, sizeof *c);
    c->root = root;
    c->discovery = json_loads(discovery_json, 0, NULL);
    json_t *tools = json_object_get(root, "tools");
    const json_t *templates = json_object_get(root, "templates");
    const json_t *kinds = json_object_get(root, "arg_kinds");
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
        if (load_tool(&c->tools[i], row, templates, kinds, err, errsz) != 0) {
            c->n = i + 1; /* free what load_tool built so far */
            wk_catalog_free(c);
            return -1;
        }
        c->n = i + 1;
        c->tools[i].keep = wk_result_keep_new(&c->tools[i]);
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
    return toolfilter_allowed(t->kind, t->tags, t->unscoped, cfg);
}

int wk_catalog_discovery(const json_t *cfg)
{
    const char *te = jsontext_str(cfg, "tool_exposure");
    return te && strcmp(te, "discovery") == 0;
}

/* Case-insensitive: does hay contain the word w (n bytes)? */
static int has_word(const char *hay, const char *w, size_t n)
{
    for (const char *p = hay; p && *p; p++)
        if (strncasecmp(p, w, n) == 0)
            return 1;
    return 0;
}

json_t *wk_catalog_search(const wk_catalog_t *c, const json_t *cfg, const char *query, size_t limit)
{
    int *score = mem_calloc(c->n ? c->n : 1, sizeof *score);
    int best = 0;
    for (size_t i = 0; i < c->n; i++) {
        const wk_tool_t *t = &c->tools[i];
        if (!wk_catalog_allowed(t, cfg))
            continue;
        char *tags = jsontext_dump(t->tags);
        for (const char *p = query ? query : ""; *p;) {
            p += strspn(p, " \t,;_-/");
            size_t n = strcspn(p, " \t,;_-/");
            if (n >= 3 || (n > 0 && p[n] == 0)) {
                score[i] += 3 * has_word(t->name, p, n) + 2 * has_word(jsontext_str(t->def, "title"), p, n) +
                            has_word(jsontext_str(t->def, "description"), p, n) + 2 * has_word(tags, p, n);
            }
            p += n;
        }
        free(tags);
        if (score[i] > best)
            best = score[i];
    }
    json_t *out = json_array();
    for (int s = best; s > 0 && json_array_size(out) < limit; s--)
        for (size_t i = 0; i < c->n && json_array_size(out) < limit; i++)
            if (score[i] == s)
                json_array_append_new(out, json_pack("{s:s,s:s?,s:s?}", "name", c->tools[i].name,
                                                     "title", jsontext_str(c->tools[i].def, "title"),
                                                     "description", jsontext_str(c->tools[i].def, "description")));
    free(score);
    return json_pack("{s:o}", "tools", out);
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
    if (wk_catalog_discovery(cfg))
        return json_pack("{s:O}", "tools", c->discovery);
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
