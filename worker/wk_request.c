/* wk_request: see wk_request.h. */
#include "wk_request.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsontext.h"
#include "secret.h"
#include "url.h"
#include "wk_body.h"
#include "wk_jql.h"
#include "wk_scope.h"

#define WK_URL_MAX (16 * 1024)
#define WK_BODY_MAX (64 * 1024)

/* ---- request building ---- */

/* Page cursors are base64url("t:<upstream token>") or ("s:<start>"). */
int wk_request_cursor_decode(const char *cur, char *kind, char *val, size_t valsz)
{
    char raw[WK_PAGE_TOKEN_MAX + 3];
    size_t n = 0;
    if (strlen(cur) > (WK_PAGE_TOKEN_MAX + 2) * 4 / 3 + 4 ||
        secret_b64_decode_any(cur, raw, sizeof raw - 1, &n) != 0 || n < 3 || raw[1] != ':' ||
        (raw[0] != 't' && raw[0] != 's') || n - 2 >= valsz)
        return -1;
    raw[n] = 0;
    if (strlen(raw) != n)
        return -1;
    *kind = raw[0];
    memcpy(val, raw + 2, n - 1);
    return 0;
}

json_t *wk_request_cursor_encode(char kind, const char *val)
{
    size_t n = strlen(val);
    if (n > WK_PAGE_TOKEN_MAX)
        return NULL;
    char raw[WK_PAGE_TOKEN_MAX + 3];
    raw[0] = kind;
    raw[1] = ':';
    memcpy(raw + 2, val, n);
    char enc[(WK_PAGE_TOKEN_MAX + 3) * 4 / 3 + 8];
    if (secret_b64url_encode(raw, n + 2, enc, sizeof enc) < 0)
        return NULL;
    return json_string(enc);
}

void wk_request_clear(wk_request_t *c)
{
    free(c->url);
    free(c->body);
    free((char *)c->part.data);
    memset(c, 0, sizeof *c);
}

/* A failed append leaves url in error (buf.h): wk_request_build's one
 * buf_steal() check catches it. */
static void add_query(buf_t *url, int *first, const char *name, const char *val)
{
    buf_append_str(url, *first ? "?" : "&");
    *first = 0;
    url_encode(url, name, strlen(name));
    buf_append_str(url, "=");
    url_encode(url, val, strlen(val));
}

/* The fields an include argument adds to a search's body ("include":
 * ["comments"] asks Jira for the comment field too). */
static void add_includes(const wk_tool_t *t, const json_t *args, json_t *body)
{
    json_t *fields = json_object_get(body, "fields");
    size_t i, j;
    const json_t *name, *f;
    json_array_foreach(fields, i, f)
        if (json_is_string(f) && strcmp(json_string_value(f), "*all") == 0)
            return; /* raw: true asks for everything already */
    json_array_foreach(json_object_get(args, "include"), i, name) {
        const json_t *inc = json_object_get(t->includes, json_string_value(name) ? json_string_value(name) : "");
        json_array_foreach(json_object_get(inc, "fields"), j, f)
            if (json_is_array(fields))
                json_array_append(fields, (json_t *)f);
    }
}

/* The request of catalog http row http with args: t (or NULL) adds its
 * paging and includes, multipart (or NULL) is the upload, tool_name names
 * the tool in messages. */
static int build(const json_t *http, const wk_tool_t *t, const json_t *multipart, const char *tool_name,
                 const json_t *args, const char *base_url, wk_request_t *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    out->method = jsontext_str(http, "method");
    int is_post = strcmp(out->method, "GET") != 0 && strcmp(out->method, "DELETE") != 0;
    buf_t url;
    buf_init(&url, WK_URL_MAX);
    buf_append_str(&url, base_url);

    /* Path: {name} segments become the percent-encoded argument. An
     * argument given in http.path_with picks that path instead. */
    const char *path = jsontext_str(http, "path");
    const char *wk;
    json_t *wp;
    json_object_foreach((json_t *)json_object_get(http, "path_with"), wk, wp)
        if (json_object_get(args, wk) && json_is_string(wp)) {
            path = json_string_value(wp);
            break;
        }
    for (const char *p = path; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_append_str(&url, p);
            break;
        }
        buf_append(&url, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        char name[128], num[64];
        size_t n = close ? (size_t)(close - open - 1) : 0;
        const char *s = NULL;
        if (!close || n == 0 || n >= sizeof name)
            goto bad_tool;
        memcpy(name, open + 1, n);
        name[n] = 0;
        if (wk_body_scalar(json_object_get(args, name), num, sizeof num, &s) != 0) {
            snprintf(err, errsz, "missing required argument '%s'", name);
            buf_free(&url);
            return -1;
        }
        /* The argument kinds refuse these already (schema patterns); a path
         * segment that is empty, "." or ".." would move the request to
         * another resource, so it never reaches a URL whatever the schema. */
        if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
            snprintf(err, errsz, "%s: '%s' is not a valid id", name, s);
            buf_free(&url);
            return -1;
        }
        url_encode(&url, s, strlen(s));
        p = close + 1;
    }

    int first = 1;
    const char *k;
    json_t *v;
    /* raw: true may ask JSM for more (http.raw_query / http.raw_body
     * replace members of query / body): the full payload, not a subset. */
    int raw = json_is_true(json_object_get(args, "raw"));
    const json_t *rawq = raw ? json_object_get(http, "raw_query") : NULL;
    json_t *query = json_deep_copy(json_object_get(http, "query"));
    if (json_is_object(rawq)) {
        if (!query)
            query = json_object();
        json_object_update(query, (json_t *)rawq);
    }
    json_object_foreach(query, k, v) {
        char num[64];
        const char *s = NULL;
        int is_ref;
        const json_t *a = json_is_string(v) ? wk_body_arg(json_string_value(v), args, &is_ref) : NULL;
        if (!json_is_string(v))
            continue;
        if (is_ref && json_is_array(a)) {
            /* An array argument: the parameter once per element
             * (requestOwnership=A&requestOwnership=B), as the API's array
             * parameters take it. */
            size_t i;
            const json_t *e;
            json_array_foreach(a, i, e)
                if (wk_body_scalar(e, num, sizeof num, &s) == 0)
                    add_query(&url, &first, k, s);
            continue;
        }
        if (!is_ref)
            s = json_string_value(v);
        else if (!a || wk_body_scalar(a, num, sizeof num, &s) != 0)
            continue;
        add_query(&url, &first, k, s);
    }
    json_decref(query);

    json_t *btmpl = json_deep_copy(json_object_get(http, "body"));
    const json_t *rawb = raw ? json_object_get(http, "raw_body") : NULL;
    if (json_is_object(btmpl) && json_is_object(rawb))
        json_object_update(btmpl, (json_t *)rawb);
    json_t *body = btmpl ? wk_body_fill(btmpl, args) : is_post && t && t->paging ? json_object() : NULL;
    json_decref(btmpl);
    if (t && t->paging) {
        long limit = (long)jsontext_int(args, "limit", t->default_limit);
        if (limit < 1)
            limit = 1;
        if (limit > t->max_limit)
            limit = t->max_limit;
        char kind = 0, val[WK_PAGE_TOKEN_MAX + 1] = "";
        const char *cur = jsontext_str(args, "next_cursor");
        if (cur && (wk_request_cursor_decode(cur, &kind, val, sizeof val) != 0 ||
                    kind != (t->paging == WK_PAGE_TOKEN ? 't' : 's') ||
                    (kind == 's' && (strspn(val, "0123456789") != strlen(val) || strlen(val) > 10 ||
                                     strtoll(val, NULL, 10) > INT32_MAX)))) {
            /* Jira's startAt is a 32-bit int: a larger "cursor" was never ours. */
            snprintf(err, errsz, "next_cursor: not a cursor returned by %s; start over without it",
                     tool_name);
            json_decref(body);
            buf_free(&url);
            return -1;
        }
        char lim[32];
        snprintf(lim, sizeof lim, "%ld", limit);
        const char *pname = t->paging == WK_PAGE_TOKEN ? t->token_param : t->start_param;
        if (body && is_post) {
            json_object_set_new(body, t->limit_param, json_integer(limit));
            if (cur)
                json_object_set_new(body, pname, kind == 's' ? json_integer(strtoll(val, NULL, 10))
                                                            : json_string(val));
        } else {
            add_query(&url, &first, t->limit_param, lim);
            if (cur)
                add_query(&url, &first, pname, val);
        }
    }
    if (t)
        add_includes(t, args, body);
    if (body) {
        out->body = jsontext_dump(body);
        out->body_len = out->body ? strlen(out->body) : 0;
        json_decref(body);
    }
    if (multipart) {
        if (wk_body_part(multipart, args, &out->part, err, errsz) != 0) {
            buf_free(&url);
            wk_request_clear(out);
            return -1;
        }
        out->nparts = 1;
    }
    size_t n;
    out->url = buf_steal(&url, &n);
    if (!out->url || (body && !out->body) || out->body_len > WK_BODY_MAX) {
        snprintf(err, errsz, "arguments too large for one request");
        wk_request_clear(out);
        return -1;
    }
    return 0;

bad_tool:
    buf_free(&url);
    snprintf(err, errsz, "catalog row %s has a malformed path", tool_name);
    return -1;
}

int wk_request_build(const wk_tool_t *t, const json_t *args, const char *base_url, wk_request_t *out,
                     char *err, size_t errsz)
{
    return build(t->http, t, t->multipart, t->name, args, base_url, out, err, errsz);
}

int wk_request_build_json(const wk_tool_t *t, const json_t *args, const char *base_url, wk_request_t *out,
                          char *err, size_t errsz)
{
    return build(t->http, t, NULL, t->name, args, base_url, out, err, errsz);
}

int wk_request_build_step(const json_t *http, const json_t *multipart, const char *name, const json_t *args,
                          const char *base_url, wk_request_t *out, char *err, size_t errsz)
{
    return build(http, NULL, multipart, name, args, base_url, out, err, errsz);
}

/* ---- field cache ---- */

#define WK_FIELDCACHE_N 64

struct wk_fieldcache_s {
    struct {
        char *account_id;
        json_t *fields;
        uint64_t at_ms;
    } e[WK_FIELDCACHE_N];
    unsigned next;
    long ttl_ms;
};

wk_fieldcache_t *wk_fieldcache_new(long ttl_ms)
{
    wk_fieldcache_t *fc = mem_calloc(1, sizeof *fc);
    fc->ttl_ms = ttl_ms;
    return fc;
}

void wk_fieldcache_free(wk_fieldcache_t *fc)
{
    if (!fc)
        return;
    for (int i = 0; i < WK_FIELDCACHE_N; i++) {
        free(fc->e[i].account_id);
        json_decref(fc->e[i].fields);
    }
    free(fc);
}

const json_t *wk_fieldcache_get(wk_fieldcache_t *fc, const char *account_id, uint64_t now)
{
    for (int i = 0; fc && i < WK_FIELDCACHE_N; i++)
        if (fc->e[i].account_id && strcmp(fc->e[i].account_id, account_id) == 0)
            return now - fc->e[i].at_ms < (uint64_t)fc->ttl_ms ? fc->e[i].fields : NULL;
    return NULL;
}

void wk_fieldcache_put(wk_fieldcache_t *fc, const char *account_id, json_t *fields, uint64_t now)
{
    if (!fc)
        return;
    int slot = -1;
    for (int i = 0; i < WK_FIELDCACHE_N && slot < 0; i++)
        if (fc->e[i].account_id && strcmp(fc->e[i].account_id, account_id) == 0)
            slot = i;
    if (slot < 0) {
        slot = (int)fc->next;
        fc->next = (fc->next + 1) % WK_FIELDCACHE_N;
    }
    free(fc->e[slot].account_id);
    json_decref(fc->e[slot].fields);
    fc->e[slot].account_id = mem_strdup(account_id);
    fc->e[slot].fields = json_incref(fields);
    fc->e[slot].at_ms = now;
}

/* ---- pure pre-step ---- */

/* The projects a write's field names are looked up for (a name several
 * fields share may be settled by their project contexts): the project_key
 * argument, else the issue key's project, else config.projects. A new
 * reference or NULL (anywhere). */
static json_t *fields_where(const wk_tool_t *t, const json_t *args, const json_t *projects)
{
    const char *pkey = t->scope_project ? jsontext_str(args, t->scope_project) : NULL;
    const char *key = t->scope_issue ? jsontext_str(args, t->scope_issue) : NULL;
    const char *dash = key && strspn(key, "0123456789") != strlen(key) ? strrchr(key, '-') : NULL;
    if (pkey)
        return json_pack("[s]", pkey);
    if (dash)
        return json_pack("[s#]", key, (int)(dash - key));
    return projects ? json_incref((json_t *)projects) : NULL;
}

/* An issue key argument must be of an allowed project (a numeric id says
 * nothing about its project: the issue pre-check, or the check of a get's
 * answer, looks it up). */
static int key_allowed(const char *arg, const char *key, const json_t *projects, char *err, size_t errsz)
{
    if (!projects || !key || strspn(key, "0123456789") == strlen(key))
        return 1;
    const char *dash = strrchr(key, '-');
    if (dash && wk_scope_project_allowed(projects, key, (size_t)(dash - key)))
        return 1;
    snprintf(err, errsz, "%s: this MCP server is limited to the projects %s; use an issue key "
             "of one of them (e.g. %s-1)", arg, "in its config.projects", json_string_value(json_array_get(projects, 0)));
    return 0;
}

/* wk_request_prepare; need (may be NULL) gets the ids of fields sharing a
 * name the arguments use whose project context is not known yet. */
json_t *wk_request_prepare_need(const wk_tool_t *t, const json_t *args, const json_t *fields, const json_t *config,
                       json_t *need, char *err, size_t errsz)
{
    const json_t *projects = json_object_get(config, "projects");
    if (json_array_size(projects) == 0)
        projects = NULL;
    json_t *a = json_deep_copy(args);
    const char *jql = t->jql_arg ? jsontext_str(a, t->jql_arg) : NULL;
    if (t->jql_arg && (jql || projects)) {
        char *q = wk_jql_rewrite_need(jql ? jql : "", fields, projects, need, err, errsz);
        if (!q) {
            json_decref(a);
            return NULL;
        }
        json_object_set_new(a, t->jql_arg, json_string(q));
        free(q);
    }
    const json_t *fobj = t->fields_arg ? json_object_get(a, t->fields_arg) : NULL;
    if (json_is_object(fobj) && fields) {
        json_t *tr = json_object(), *where = fields_where(t, a, projects);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)fobj, k, v) {
            const char *id = NULL;
            char why[1500];
            int r = wk_jql_field_resolve(fields, k, where, &id, need, why, sizeof why);
            if ((id && strcmp(id, "project") == 0) || strcasecmp(k, "project") == 0) {
                /* The project comes from project_key (checked against
                 * config.projects) or stays the issue's own. */
                snprintf(err, errsz, "%s: the project cannot be set through %s%s", t->fields_arg, t->fields_arg,
                         t->scope_project ? "; use project_key" : "");
                r = -2;
            } else if (r < 0) {
                snprintf(err, errsz, "%s: %s", t->fields_arg, why);
            } else if (r == 0) {
                char close[400];
                wk_jql_closest(fields, k, 5, close, sizeof close);
                snprintf(err, errsz, "%s: unknown field \"%.80s\"; closest fields: %s (list them with "
                         "list_all_jira_service_management_fields)", t->fields_arg, k, close);
                r = -2;
            }
            if (r <= 0) {
                json_decref(where);
                json_decref(tr);
                json_decref(a);
                return NULL;
            }
            json_object_set(tr, id, v);
        }
        json_decref(where);
        json_object_set_new(a, t->fields_arg, tr);
    }
    const char *pkey = t->scope_project ? jsontext_str(a, t->scope_project) : NULL;
    if (projects && pkey && !wk_scope_project_allowed(projects, pkey, strlen(pkey))) {
        snprintf(err, errsz, "%s: this MCP server is limited to the projects in its config.projects; "
                 "\"%.40s\" is not one of them (e.g. %s)", t->scope_project, pkey,
                 json_string_value(json_array_get(projects, 0)));
        json_decref(a);
        return NULL;
    }
    if (projects && t->scope_desk && !jsontext_str(a, t->scope_desk)) {
        /* Without a desk the list spans every project of the site. */
        snprintf(err, errsz, "%s is required: this MCP server is limited to the projects in its config.projects; "
                 "pass the id of one of their service desks (list_all_jira_service_management_service_desks)",
                 t->scope_desk);
        json_decref(a);
        return NULL;
    }
    if (!key_allowed(t->scope_issue, t->scope_issue ? jsontext_str(a, t->scope_issue) : NULL, projects, err, errsz) ||
        !key_allowed(t->scope_issue2, t->scope_issue2 ? jsontext_str(a, t->scope_issue2) : NULL, projects, err, errsz)) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *wk_request_prepare(const wk_tool_t *t, const json_t *args, const json_t *fields, const json_t *config,
                           char *err, size_t errsz)
{
    return wk_request_prepare_need(t, args, fields, config, NULL, err, errsz);
}

int wk_request_needs_fields(const wk_tool_t *t, const json_t *args)
{
    return (t->jql_arg && json_object_get(args, t->jql_arg)) ||
           (t->fields_arg && json_object_size(json_object_get(args, t->fields_arg)) > 0);
}
