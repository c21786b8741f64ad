/* wk_resources: see wk_resources.h. */
#include "wk_resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"
#include "jsontext.h"
#include "schema.h"
#include "url.h"
#include "wk_fixtures.h"

extern const embed_file_t worker_embedded[];

#define WK_TEMPLATES_MAX 32
#define WK_TMPL_PARTS 16
#define WK_URI_MAX 1024
#define WK_DESKS_PAGE 5           /* desks (with their queues) per resources/list page */
#define WK_DESKS_MAX 50           /* desks resources/list looks at */

#define TOOL_DESKS "list_all_jira_service_management_service_desks"
#define TOOL_QUEUES "list_all_jira_service_management_queues"
#define TOOL_QUEUE_ISSUES "list_all_jira_service_management_queue_issues"
#define TOOL_DESK "get_single_jira_service_management_service_desk_by_id"

typedef struct tpart_s {
    int var;                    /* 1: a variable (one path segment), 0: literal text */
    char *text;                 /* the literal, or the variable's name */
} tpart_t;

typedef struct tmpl_s {
    const json_t *def;          /* borrowed from its document */
    const char *uri_template;
    tpart_t parts[WK_TMPL_PARTS];
    int nparts;
    int format;                 /* ends with {?format} */
    json_t *vars;               /* {"<name>": {"schema": ..., "complete"?: ...}} ($kind expanded) */
    json_t *listed;             /* the ResourceTemplate of resources/templates/list */
    int fixture;
} tmpl_t;

typedef struct wk_resources_s {
    json_t *doc;
    tmpl_t t[WK_TEMPLATES_MAX];
    size_t n;
} wk_resources_t;

static void clear(wk_resources_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        for (int j = 0; j < rs->t[i].nparts; j++)
            free(rs->t[i].parts[j].text);
        json_decref(rs->t[i].vars);
        json_decref(rs->t[i].listed);
    }
    json_decref(rs->doc);
    free(rs);
}

void wk_resources_free(wk_worker_t *w)
{
    if (w->resources)
        clear(w->resources);
    w->resources = NULL;
}

/* ---- templates ---- */

static int compile(tmpl_t *t, char *err, size_t errsz)
{
    const char *s = t->uri_template;
    while (*s) {
        if (t->nparts >= WK_TMPL_PARTS) {
            snprintf(err, errsz, "%s: too many parts", t->uri_template);
            return -1;
        }
        if (*s == '{') {
            const char *close = strchr(s, '}');
            if (!close) {
                snprintf(err, errsz, "%s: unclosed {", t->uri_template);
                return -1;
            }
            if (s[1] == '?') {
                if (strncmp(s, "{?format}", 9) != 0 || close[1]) {
                    snprintf(err, errsz, "%s: the only query expression is {?format}, at the end", t->uri_template);
                    return -1;
                }
                t->format = 1;
                break;
            }
            size_t n = (size_t)(close - s - 1);
            if (n == 0 || strspn(s + 1, "abcdefghijklmnopqrstuvwxyz_") != n ||
                (t->nparts && t->parts[t->nparts - 1].var) || (close[1] && close[1] != '/' && close[1] != '{')) {
                snprintf(err, errsz, "%s: a variable must be a whole path segment", t->uri_template);
                return -1;
            }
            t->parts[t->nparts].var = 1;
            t->parts[t->nparts++].text = mem_strndup(s + 1, n);
            s = close + 1;
        } else {
            size_t n = strcspn(s, "{");
            t->parts[t->nparts].var = 0;
            t->parts[t->nparts++].text = mem_strndup(s, n);
            s += n;
        }
    }
    return 0;
}

/* {"schema": {"$kind": X}} -> the catalog's kind X; a fixture variable
 * without a schema gets a plain, safe one. */
static json_t *var_schema(wk_worker_t *w, const json_t *vdef, const char *tmpl, const char *name, char *err,
                          size_t errsz)
{
    const json_t *s = json_object_get(vdef, "schema");
    const char *kind = jsontext_str(s, "$kind");
    json_t *out;
    if (kind) {
        const json_t *ks = json_object_get(json_object_get(w->catalog->root, "arg_kinds"), kind);
        if (!json_is_object(ks)) {
            snprintf(err, errsz, "%s: variable %s: unknown $kind %s", tmpl, name, kind);
            return NULL;
        }
        out = json_deep_copy(ks);
    } else if (json_is_object(s)) {
        out = json_deep_copy(s);
    } else {
        out = json_pack("{s:s,s:i,s:i,s:s}", "type", "string", "minLength", 1, "maxLength", 128, "pattern",
                        "^[A-Za-z0-9._-]+$");
    }
    char why[200];
    if (schema_check_supported(out, why, sizeof why) != 0) {
        snprintf(err, errsz, "%s: variable %s: %s", tmpl, name, why);
        json_decref(out);
        return NULL;
    }
    return out;
}

static int load_template(wk_worker_t *w, tmpl_t *t, const json_t *def, int fixture, char *err, size_t errsz)
{
    t->def = def;
    t->fixture = fixture;
    t->uri_template = jsontext_str(def, "uriTemplate");
    if (!t->uri_template || !jsontext_str(def, "name") || !jsontext_str(def, "description") || !jsontext_str(def, "mimeType")) {
        snprintf(err, errsz, "template %s: needs uriTemplate, name, description and mimeType",
                 t->uri_template ? t->uri_template : jsontext_str(def, "name") ? jsontext_str(def, "name") : "(unnamed)");
        return -1;
    }
    if (compile(t, err, errsz) != 0)
        return -1;
    t->vars = json_object();
    for (int i = 0; i < t->nparts; i++) {
        if (!t->parts[i].var)
            continue;
        const json_t *vdef = json_object_get(json_object_get(def, "vars"), t->parts[i].text);
        if (!fixture && !vdef) {
            snprintf(err, errsz, "%s: variable %s has no definition in vars", t->uri_template, t->parts[i].text);
            return -1;
        }
        json_t *sch = var_schema(w, vdef, t->uri_template, t->parts[i].text, err, errsz);
        if (!sch)
            return -1;
        json_t *v = json_pack("{s:o}", "schema", sch);
        if (json_object_get(vdef, "complete"))
            json_object_set(v, "complete", json_object_get(vdef, "complete"));
        json_object_set_new(t->vars, t->parts[i].text, v);
    }
    t->listed = json_pack("{s:s,s:O,s:O,s:O}", "uriTemplate", t->uri_template, "name", json_object_get(def, "name"),
                          "description", json_object_get(def, "description"), "mimeType",
                          json_object_get(def, "mimeType"));
    if (jsontext_str(def, "title"))
        json_object_set(t->listed, "title", json_object_get(def, "title"));
    if (fixture)
        return jsontext_str(def, "text") ? 0 : -1;
    const json_t *reads = json_object_get(def, "reads");
    if (!json_is_array(reads) || json_array_size(reads) == 0 || !json_is_object(json_object_get(def, "markdown"))) {
        snprintf(err, errsz, "%s: needs reads and markdown", t->uri_template);
        return -1;
    }
    size_t i;
    const json_t *r;
    json_array_foreach(reads, i, r) {
        if (!wk_catalog_find(w->catalog, jsontext_str(r, "tool")) || !json_is_object(json_object_get(r, "args")) ||
            (json_array_size(reads) > 1 && !jsontext_str(r, "key"))) {
            snprintf(err, errsz, "%s: read %zu needs a catalog tool, args (and a key when there are several)",
                     t->uri_template, i);
            return -1;
        }
    }
    return 0;
}

int wk_resources_load(wk_worker_t *w, char *err, size_t errsz)
{
    const embed_file_t *f = embed_find(worker_embedded, "worker/resources.json");
    char perr[160];
    wk_resources_t *rs = mem_calloc(1, sizeof *rs);
    rs->doc = f ? jsontext_parse(f->data, f->len, 64, perr, sizeof perr) : NULL;
    const json_t *list = json_object_get(rs->doc, "templates");
    const json_t *fx = wk_fixtures_get("templates");
    if (!json_is_array(list) || json_array_size(list) + json_array_size(fx) > WK_TEMPLATES_MAX) {
        snprintf(err, errsz, "worker/resources.json: %s", !f ? "not embedded" : !rs->doc ? perr : "bad templates");
        clear(rs);
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        const json_t *d;
        json_array_foreach(pass ? fx : list, i, d) {
            *err = 0;
            if (load_template(w, &rs->t[rs->n++], d, pass, err, errsz) != 0) {
                if (!*err)
                    snprintf(err, errsz, "fixture template %zu is malformed", i);
                clear(rs);
                return -1;
            }
        }
    }
    wk_resources_free(w);
    w->resources = rs;
    return 0;
}

/* ---- what a server offers ---- */

static int tool_ok(wk_worker_t *w, const json_t *config, const char *name)
{
    const wk_tool_t *t = wk_catalog_find(w->catalog, name);
    return t && wk_catalog_allowed(t, config);
}

static int offered(wk_worker_t *w, const tmpl_t *t, const json_t *config)
{
    if (t->fixture)
        return wk_fixtures_on(w, config);
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(t->def, "reads"), i, r)
        if (!tool_ok(w, config, jsontext_str(r, "tool")))
            return 0;
    return 1;
}

json_t *wk_resources_templates(wk_worker_t *w, const json_t *config, const json_t *params, int *code, char *err,
                               size_t errsz)
{
    if (json_object_get(params, "cursor") && !json_is_null(json_object_get(params, "cursor"))) {
        *code = WK_RPC_INVALID_PARAMS;
        snprintf(err, errsz, "Invalid params: unknown cursor (the template list has one page)");
        return NULL;
    }
    json_t *list = json_array();
    wk_resources_t *rs = w->resources;
    for (size_t i = 0; rs && i < rs->n; i++)
        if (offered(w, &rs->t[i], config))
            json_array_append(list, rs->t[i].listed);
    return json_pack("{s:o}", "resourceTemplates", list);
}

const json_t *wk_resources_var(wk_worker_t *w, const json_t *config, const char *tmpl, const char *var)
{
    wk_resources_t *rs = w->resources;
    for (size_t i = 0; rs && tmpl && var && i < rs->n; i++)
        if (strcmp(rs->t[i].uri_template, tmpl) == 0 && offered(w, &rs->t[i], config))
            return json_object_get(rs->t[i].vars, var);
    return NULL;
}

uint64_t wk_resources_fingerprint(wk_worker_t *w, const json_t *config)
{
    uint64_t h = 1469598103934665603u;
    wk_resources_t *rs = w->resources;
    for (size_t i = 0; rs && i < rs->n; i++) {
        if (!offered(w, &rs->t[i], config))
            continue;
        for (const char *c = rs->t[i].uri_template; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211u;
        h = (h ^ 0xff) * 1099511628211u;
    }
    h = (h ^ (unsigned)(tool_ok(w, config, TOOL_DESKS) + 2 * tool_ok(w, config, TOOL_QUEUES) +
                        4 * wk_fixtures_on(w, config))) * 1099511628211u;
    return h;
}

/* ---- matching a URI ---- */

/* Matches uri against t: 1 with *vars (new object of decoded strings,
 * checked against their schemas) and *markdown; 0 no match; -1 a match
 * whose variables are invalid (err says which). */
static int match(const tmpl_t *t, const char *uri, json_t **vars, int *markdown, char *err, size_t errsz)
{
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    size_t pos = 0;
    *vars = NULL;
    *markdown = 0;
    json_t *vs = json_object();
    for (int i = 0; i < t->nparts; i++) {
        const tpart_t *p = &t->parts[i];
        if (!p->var) {
            size_t n = strlen(p->text);
            if (plen - pos < n || strncmp(uri + pos, p->text, n) != 0)
                goto nomatch;
            pos += n;
            continue;
        }
        size_t n = 0;
        while (pos + n < plen && uri[pos + n] != '/')
            n++;
        char val[WK_URI_MAX];
        /* A NUL ("%00") would end the C string early: the value is refused, not cut. */
        if (n == 0 || url_decode(uri + pos, n, val, sizeof val, URL_DECODE_NO_NUL) < 0)
            goto nomatch;
        json_object_set_new(vs, p->text, json_string(val));
        pos += n;
    }
    if (pos != plen || (q && !t->format))
        goto nomatch;
    if (q) {
        if (strcmp(q, "?format=markdown") == 0)
            *markdown = 1;
        else if (strcmp(q, "?format=json") != 0)
            goto nomatch;
    }
    const char *k;
    json_t *v;
    json_object_foreach(vs, k, v) {
        char why[300];
        if (!json_string_value(v) ||
            schema_validate(json_object_get(json_object_get(t->vars, k), "schema"), v, why, sizeof why) != 0) {
            snprintf(err, errsz, "Invalid resource URI %.200s: %s: %s", uri, k, json_string_value(v) ? why
                                                                                                     : "not UTF-8");
            json_decref(vs);
            return -1;
        }
    }
    *vars = vs;
    return 1;
nomatch:
    json_decref(vs);
    return 0;
}

static const json_t *fixture_resource(wk_worker_t *w, const json_t *config, const char *uri)
{
    if (!wk_fixtures_on(w, config))
        return NULL;
    size_t i;
    const json_t *r;
    json_array_foreach(wk_fixtures_get("resources"), i, r)
        if (strcmp(jsontext_str(r, "uri"), uri) == 0)
            return r;
    return NULL;
}

/* The offered template matching uri; NULL with *code and err otherwise. */
static const tmpl_t *resolve(wk_worker_t *w, const json_t *config, const char *uri, json_t **vars, int *markdown,
                             int *code, char *err, size_t errsz)
{
    *code = WK_RPC_INVALID_PARAMS;
    if (!uri || strlen(uri) >= WK_URI_MAX) {
        snprintf(err, errsz, "Invalid params: \"uri\" (a string of at most %d bytes) is required", WK_URI_MAX - 1);
        return NULL;
    }
    wk_resources_t *rs = w->resources;
    for (size_t i = 0; rs && i < rs->n; i++) {
        if (!offered(w, &rs->t[i], config))
            continue;
        int m = match(&rs->t[i], uri, vars, markdown, err, errsz);
        if (m == 1)
            return &rs->t[i];
        if (m < 0)
            return NULL;
    }
    snprintf(err, errsz, "Unknown resource: %.300s (resources/templates/list gives the URI forms this server reads, "
             "e.g. jsm://issue/ITSM-994)", uri);
    return NULL;
}

int wk_resources_check(wk_worker_t *w, const json_t *config, const char *uri, char *err, size_t errsz)
{
    if (uri && fixture_resource(w, config, uri))
        return 0;
    json_t *vars;
    int md, code;
    const tmpl_t *t = resolve(w, config, uri, &vars, &md, &code, err, errsz);
    json_decref(vars);
    return t ? 0 : -1;
}

/* ---- markdown ---- */

static const json_t *path_get(const json_t *v, const char *path)
{
    char seg[96];
    if (!path)
        return NULL;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = 0;
        v = json_object_get(v, seg);
        path += n + (path[n] == '.');
    }
    return v;
}

/* A value as one line of markdown text (cells: '|' and newlines escaped). */
static void md_value(buf_t *b, const json_t *v, int cell)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (; *s; s++) {
            if (cell && *s == '|')
                buf_append_str(b, "\\|");
            else if (cell && (*s == '\n' || *s == '\r'))
                buf_append_str(b, " ");
            else
                buf_append(b, s, 1);
        }
    } else if (json_is_integer(v)) {
        buf_printf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        buf_printf(b, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        buf_append_str(b, json_is_true(v) ? "yes" : "no");
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        json_array_foreach((json_t *)v, i, x) {
            if (i)
                buf_append_str(b, ", ");
            md_value(b, x, cell);
        }
    } else if (json_is_object(v) && (jsontext_str(v, "name") || jsontext_str(v, "displayName"))) {
        md_value(b, json_object_get(v, jsontext_str(v, "name") ? "name" : "displayName"), cell);
    } else if (v && !json_is_null(v)) {
        char *s = json_dumps(v, JSON_COMPACT);
        json_t *js = json_string(s ? s : "");
        md_value(b, js, cell);
        json_decref(js);
        free(s);
    }
}

static void md_line(buf_t *b, const char *tmpl, const json_t *data)
{
    while (*tmpl) {
        const char *open = strchr(tmpl, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            buf_append_str(b, tmpl);
            return;
        }
        buf_append(b, tmpl, (size_t)(open - tmpl));
        char path[96];
        size_t n = (size_t)(close - open - 1);
        if (n < sizeof path) {
            memcpy(path, open + 1, n);
            path[n] = 0;
            md_value(b, path_get(data, path), 1);
        }
        tmpl = close + 1;
    }
}

static char *markdown(const json_t *spec, const json_t *data, const json_t *vars, size_t *len)
{
    buf_t b;
    buf_init(&b, WK_RESOURCE_MAX + 4096);
    /* The title may name the URI's variables too ({queue_id}). */
    json_t *scope = json_deep_copy(data);
    if (json_is_object(scope))
        json_object_update_missing(scope, (json_t *)vars);
    buf_append_str(&b, "# ");
    md_line(&b, jsontext_str(spec, "title"), scope);
    buf_append_str(&b, "\n\n");
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(spec, "fields"), i, f) {
        const json_t *v = path_get(scope, json_string_value(json_array_get(f, 1)));
        if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
            continue;
        buf_printf(&b, "- **%s:** ", json_string_value(json_array_get(f, 0)));
        md_value(&b, v, 1);
        buf_append_str(&b, "\n");
    }
    json_array_foreach(json_object_get(spec, "texts"), i, f) {
        const json_t *v = path_get(scope, json_string_value(json_array_get(f, 1)));
        if (!json_is_string(v) || !json_string_length(v))
            continue;
        buf_printf(&b, "\n## %s\n\n", json_string_value(json_array_get(f, 0)));
        md_value(&b, v, 0);
        buf_append_str(&b, "\n");
    }
    const json_t *table = json_object_get(spec, "table");
    const json_t *rows = path_get(scope, jsontext_str(table, "path"));
    if (table && json_is_array(rows)) {
        const json_t *cols = json_object_get(table, "columns");
        buf_append_str(&b, "\n|");
        json_array_foreach(cols, i, f)
            buf_printf(&b, " %s |", json_string_value(json_array_get(f, 0)));
        buf_append_str(&b, "\n|");
        json_array_foreach(cols, i, f)
            buf_append_str(&b, " --- |");
        buf_append_str(&b, "\n");
        size_t r;
        const json_t *row;
        json_array_foreach(rows, r, row) {
            buf_append_str(&b, "|");
            json_array_foreach(cols, i, f) {
                buf_append_str(&b, " ");
                md_value(&b, path_get(row, json_string_value(json_array_get(f, 1))), 1);
                buf_append_str(&b, " |");
            }
            buf_append_str(&b, "\n");
        }
        if (json_array_size(rows) == 0)
            buf_append_str(&b, "\n(none)\n");
    }
    json_decref(scope);
    return buf_steal(&b, len);
}

/* ---- reading ---- */

/* One resources/read (or a subscription's poll) in flight; freed in
 * read_end only. */
typedef struct read_op_s {
    wk_worker_t *w;
    wk_server_t srv;            /* own reference to the record */
    char uri[WK_URI_MAX];
    char rid[72];
    char traceparent[64];       /* "" without one */
    const tmpl_t *t;
    json_t *vars;
    int markdown;
    size_t step;
    json_t *acc;                /* the reads' answers */
    wk_resources_cb cb;
    void *ud;
} read_op_t;

/* The end of a read, answered from the loop: a template without upstream
 * reads ends inside wk_resources_read. */
static void read_end(read_op_t *op, json_t *result, int code, const char *msg)
{
    wk_mcp_tool_answer(op->w, result, code, msg, op->cb, op->ud);
    wk_server_clear(&op->srv);
    json_decref(op->vars);
    json_decref(op->acc);
    free(op);
}

static json_t *contents(const char *uri, const char *mime, const char *text, const char *blob)
{
    json_t *c = json_pack("{s:s,s:s}", "uri", uri, "mimeType", mime);
    json_object_set_new(c, blob ? "blob" : "text", json_string(blob ? blob : text));
    return json_pack("{s:[o]}", "contents", c);
}

static void read_step(read_op_t *op);

static void on_read_tool(json_t *result, int code, const char *message, void *ud)
{
    read_op_t *op = ud;
    const json_t *r = json_array_get(json_object_get(op->t->def, "reads"), op->step);
    if (!result) {
        /* A refused argument here is the scope's doing (the variables were
         * checked): to the client, a resource it cannot have. */
        read_end(op, NULL, code == WK_RPC_INVALID_PARAMS ? WK_RPC_RESOURCE_NOT_FOUND : code, message);
        return;
    }
    const json_t *sc = json_object_get(result, "structuredContent");
    if (json_is_true(json_object_get(result, "isError"))) {
        const json_t *e = json_object_get(sc, "error");
        json_int_t st = json_integer_value(json_object_get(e, "status"));
        const char *text = jsontext_str(json_array_get(json_object_get(result, "content"), 0), "text");
        char msg[1200];
        snprintf(msg, sizeof msg, "%.1100s", text ? text : "the JSM site answered with an error");
        /* The worker's own scope refusals (the item's project, or the desk
         * of a pre-check: both say "this MCP server") are a resource this
         * server cannot have, like Jira's 404; Jira's own 403 is not. */
        const char *why = jsontext_str(e, "message");
        int c = st == 404 || (st == 403 && why && strstr(why, "this MCP server")) ? WK_RPC_RESOURCE_NOT_FOUND
                                                                                  : WK_RPC_INTERNAL;
        json_decref(result);
        read_end(op, NULL, c, msg);
        return;
    }
    const char *pick = jsontext_str(r, "pick");
    json_t *v = json_incref(pick ? json_object_get(sc, pick) : (json_t *)sc);
    if (!v)
        v = json_null();
    if (jsontext_str(r, "key"))
        json_object_set_new(op->acc, jsontext_str(r, "key"), v);
    else {
        json_decref(op->acc);
        op->acc = v;
    }
    json_decref(result);
    op->step++;
    read_step(op);
}

/* {var} strings of a read's args replaced by the URI's variables. */
static json_t *read_args(const json_t *tmpl, const json_t *vars)
{
    json_t *a = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)tmpl, k, v) {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        if (n > 2 && s[0] == '{' && s[n - 1] == '}') {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(n - 2), s + 1);
            const json_t *val = json_object_get(vars, name);
            json_object_set(a, k, val ? (json_t *)val : (json_t *)v);
        } else {
            json_object_set(a, k, (json_t *)v);
        }
    }
    return a;
}

static void read_step(read_op_t *op)
{
    const json_t *reads = json_object_get(op->t->def, "reads");
    if (op->step < json_array_size(reads)) {
        const json_t *r = json_array_get(reads, op->step);
        wk_mcp_run_tool(op->w, &op->srv, jsontext_str(r, "tool"), read_args(json_object_get(r, "args"), op->vars),
                        op->rid, op->traceparent[0] ? op->traceparent : NULL, on_read_tool, op);
        return;
    }
    size_t len = 0;
    char *text = op->markdown ? markdown(json_object_get(op->t->def, "markdown"), op->acc, op->vars, &len)
                              : jsontext_dump(op->acc);
    if (text && !op->markdown)
        len = strlen(text);
    if (!text || len > WK_RESOURCE_MAX) {
        char msg[200];
        snprintf(msg, sizeof msg, "the resource is larger than %d bytes; read it with the tools, page by page",
                 WK_RESOURCE_MAX);
        free(text);
        read_end(op, NULL, WK_RPC_INTERNAL, msg);
        return;
    }
    json_t *res = contents(op->uri, op->markdown ? "text/markdown" : "application/json", text, NULL);
    free(text);
    read_end(op, res, 0, NULL);
}

void wk_resources_read(wk_worker_t *w, const wk_server_t *srv, const char *uri, const char *request_id,
                       const char *traceparent, wk_resources_cb cb, void *ud)
{
    char err[600];
    const json_t *fr = uri ? fixture_resource(w, srv->config, uri) : NULL;
    if (fr) {
        char *v = wk_fixtures_subst(jsontext_str(fr, "text") ? jsontext_str(fr, "text") : jsontext_str(fr, "blob"), NULL);
        json_t *res = jsontext_str(fr, "text") ? contents(uri, jsontext_str(fr, "mimeType"), v, NULL)
                                         : contents(uri, jsontext_str(fr, "mimeType"), NULL, v);
        free(v);
        wk_mcp_tool_answer(w, res, 0, NULL, cb, ud);
        return;
    }
    json_t *vars;
    int md, code;
    const tmpl_t *t = resolve(w, srv->config, uri, &vars, &md, &code, err, sizeof err);
    if (!t) {
        wk_mcp_tool_answer(w, NULL, code, err, cb, ud);
        return;
    }
    if (t->fixture) {
        char *text = wk_fixtures_subst(jsontext_str(t->def, "text"), vars);
        json_t *res = contents(uri, jsontext_str(t->def, "mimeType"), text, NULL);
        free(text);
        json_decref(vars);
        wk_mcp_tool_answer(w, res, 0, NULL, cb, ud);
        return;
    }
    read_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->srv = *srv;
    json_incref(op->srv.rec);
    str_copy(op->uri, sizeof op->uri, uri);
    str_copy(op->rid, sizeof op->rid, request_id ? request_id : "");
    str_copy(op->traceparent, sizeof op->traceparent, traceparent ? traceparent : "");
    op->t = t;
    op->vars = vars;
    op->markdown = md;
    op->acc = json_object();
    op->cb = cb;
    op->ud = ud;
    read_step(op);
}

/* ---- resources/list ---- */

typedef struct list_op_s {
    wk_worker_t *w;
    wk_server_t srv;
    char rid[72];
    char traceparent[64];       /* "" without one */
    json_t *desks;              /* the desks of this page */
    size_t next;                /* index into desks of the desk whose queues are read next */
    size_t offset, total;
    json_t *out;                /* the resources so far */
    wk_resources_cb cb;
    void *ud;
} list_op_t;

/* The end of a listing, answered from the loop: a server without the desks
 * tool ends inside wk_resources_list. */
static void list_end(list_op_t *op, int code, const char *msg)
{
    json_t *res = NULL;
    if (!code) {
        res = json_pack("{s:O}", "resources", op->out);
        if (op->offset + WK_DESKS_PAGE < op->total) {
            char cur[32];
            snprintf(cur, sizeof cur, "desks:%zu", op->offset + WK_DESKS_PAGE);
            json_object_set_new(res, "nextCursor", json_string(cur));
        }
    }
    wk_mcp_tool_answer(op->w, res, code, msg, op->cb, op->ud);
    wk_server_clear(&op->srv);
    json_decref(op->desks);
    json_decref(op->out);
    free(op);
}

static void list_queues(list_op_t *op);

static const char *tool_error_text(const json_t *result)
{
    const char *t = jsontext_str(json_array_get(json_object_get(result, "content"), 0), "text");
    return t ? t : "the JSM site answered with an error";
}

/* When a listing tool failed (no result, or an isError one: its text is the
 * reason), ends op with the error, takes result and returns 1; else 0. */
static int list_failed(list_op_t *op, json_t *result, int code, const char *message)
{
    if (result && !json_is_true(json_object_get(result, "isError")))
        return 0;
    char msg[1200];
    snprintf(msg, sizeof msg, "%.1100s", result ? tool_error_text(result) : message);
    json_decref(result);
    list_end(op, result ? WK_RPC_INTERNAL : code, msg);
    return 1;
}

static void on_queues(json_t *result, int code, const char *message, void *ud)
{
    list_op_t *op = ud;
    const json_t *desk = json_array_get(op->desks, op->next);
    if (list_failed(op, result, code, message))
        return;
    size_t i;
    const json_t *q;
    json_array_foreach(json_object_get(json_object_get(result, "structuredContent"), "queues"), i, q) {
        char uri[200], name[120], title[400], desc[300];
        snprintf(uri, sizeof uri, "jsm://desk/%s/queue/%s/issues", jsontext_str(desk, "id"), jsontext_str(q, "id"));
        snprintf(name, sizeof name, "desk-%s-queue-%s", jsontext_str(desk, "id"), jsontext_str(q, "id"));
        snprintf(title, sizeof title, "%.150s — %.150s", jsontext_str(q, "name") ? jsontext_str(q, "name") : "queue",
                 jsontext_str(desk, "name") ? jsontext_str(desk, "name") : "service desk");
        if (json_is_integer(json_object_get(q, "issueCount")))
            snprintf(desc, sizeof desc, "The issues of queue %s of service desk %s (%lld now).", jsontext_str(q, "id"),
                     jsontext_str(desk, "id"), (long long)json_integer_value(json_object_get(q, "issueCount")));
        else
            snprintf(desc, sizeof desc, "The issues of queue %s of service desk %s.", jsontext_str(q, "id"),
                     jsontext_str(desk, "id"));
        json_array_append_new(op->out, json_pack("{s:s,s:s,s:s,s:s,s:s}", "uri", uri, "name", name, "title", title,
                                                 "description", desc, "mimeType", "application/json"));
    }
    json_decref(result);
    op->next++;
    list_queues(op);
}

static void list_queues(list_op_t *op)
{
    while (op->next < json_array_size(op->desks)) {
        const json_t *desk = json_array_get(op->desks, op->next);
        char uri[120], name[80], title[300], desc[300];
        snprintf(uri, sizeof uri, "jsm://desk/%s", jsontext_str(desk, "id"));
        snprintf(name, sizeof name, "desk-%s", jsontext_str(desk, "id"));
        snprintf(title, sizeof title, "%.200s (%.32s)", jsontext_str(desk, "name") ? jsontext_str(desk, "name") : "service desk",
                 jsontext_str(desk, "projectKey") ? jsontext_str(desk, "projectKey") : "?");
        snprintf(desc, sizeof desc, "Service desk %s of project %s and its queues.", jsontext_str(desk, "id"),
                 jsontext_str(desk, "projectKey") ? jsontext_str(desk, "projectKey") : "?");
        if (tool_ok(op->w, op->srv.config, TOOL_DESK))
            json_array_append_new(op->out, json_pack("{s:s,s:s,s:s,s:s,s:s}", "uri", uri, "name", name, "title", title,
                                                     "description", desc, "mimeType", "application/json"));
        if (tool_ok(op->w, op->srv.config, TOOL_QUEUES) && tool_ok(op->w, op->srv.config, TOOL_QUEUE_ISSUES)) {
            wk_mcp_run_tool(op->w, &op->srv, TOOL_QUEUES,
                            json_pack("{s:s,s:i}", "service_desk_id", jsontext_str(desk, "id"), "limit", 50), op->rid,
                            op->traceparent[0] ? op->traceparent : NULL, on_queues, op);
            return;
        }
        op->next++;
    }
    list_end(op, 0, NULL);
}

static void on_desks(json_t *result, int code, const char *message, void *ud)
{
    list_op_t *op = ud;
    if (list_failed(op, result, code, message))
        return;
    const json_t *all = json_object_get(json_object_get(result, "structuredContent"), "service_desks");
    op->total = json_array_size(all);
    op->desks = json_array();
    for (size_t i = op->offset; i < op->total && i < op->offset + WK_DESKS_PAGE; i++)
        json_array_append(op->desks, json_array_get(all, i));
    json_decref(result);
    list_queues(op);
}

void wk_resources_list(wk_worker_t *w, const wk_server_t *srv, const json_t *params, const char *request_id,
                       const char *traceparent, wk_resources_cb cb, void *ud)
{
    const json_t *cur = json_object_get(params, "cursor");
    size_t offset = 0;
    if (cur && !json_is_null(cur)) {
        const char *c = json_string_value(cur);
        char *end;
        unsigned long n = c && strncmp(c, "desks:", 6) == 0 ? strtoul(c + 6, &end, 10) : 0;
        if (!c || strncmp(c, "desks:", 6) != 0 || !c[6] || *end || n == 0 || n >= WK_DESKS_MAX ||
            n % WK_DESKS_PAGE) {
            wk_mcp_tool_answer(w, NULL, WK_RPC_INVALID_PARAMS,
                                "Invalid params: this server did not issue that cursor", cb, ud);
            return;
        }
        offset = n;
    }
    list_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->srv = *srv;
    json_incref(op->srv.rec);
    str_copy(op->rid, sizeof op->rid, request_id ? request_id : "");
    str_copy(op->traceparent, sizeof op->traceparent, traceparent ? traceparent : "");
    op->offset = offset;
    op->out = json_array();
    op->cb = cb;
    op->ud = ud;
    if (offset == 0 && wk_fixtures_on(w, srv->config)) {
        size_t i;
        const json_t *r;
        json_array_foreach(wk_fixtures_get("resources"), i, r)
            json_array_append_new(op->out, json_pack("{s:O,s:O,s:O,s:O,s:O}", "uri", json_object_get(r, "uri"), "name",
                                                     json_object_get(r, "name"), "title", json_object_get(r, "title"),
                                                     "description", json_object_get(r, "description"), "mimeType",
                                                     json_object_get(r, "mimeType")));
    }
    if (!tool_ok(w, srv->config, TOOL_DESKS)) {
        list_end(op, 0, NULL);
        return;
    }
    wk_mcp_run_tool(w, srv, TOOL_DESKS, json_pack("{s:i}", "limit", WK_DESKS_MAX), op->rid, traceparent, on_desks,
                    op);
}
