/* wk_complete: see wk_complete.h. */
#include "wk_complete.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsontext.h"
#include "schema.h"
#include "wk_prompts.h"

#define WK_COMPLETE_SLOTS 256
#define WK_COMPLETE_VALUES 100   /* the most values an answer may carry */
#define WK_COMPLETE_VALUE_MAX 200

typedef struct centry_s {
    char key[512];
    json_t *cands;              /* [[value, matched text...], ...] */
    uint64_t expires_ms;
} centry_t;

typedef struct wk_complete_s {
    centry_t e[WK_COMPLETE_SLOTS];
    unsigned next;              /* round-robin replacement */
} wk_complete_t;

void wk_complete_free(wk_worker_t *w)
{
    wk_complete_t *c = w->complete;
    for (size_t i = 0; c && i < WK_COMPLETE_SLOTS; i++)
        json_decref(c->e[i].cands);
    free(c);
    w->complete = NULL;
}

static const json_t *cache_get(wk_worker_t *w, const char *key)
{
    wk_complete_t *c = w->complete;
    uint64_t now = uv_now(w->loop);
    for (size_t i = 0; c && i < WK_COMPLETE_SLOTS; i++)
        if (c->e[i].cands && c->e[i].expires_ms > now && strcmp(c->e[i].key, key) == 0)
            return c->e[i].cands;
    return NULL;
}

static void cache_put(wk_worker_t *w, const char *key, json_t *cands)
{
    if (w->cfg->completion_cache_ms <= 0)
        return;
    if (!w->complete)
        w->complete = mem_calloc(1, sizeof *w->complete);
    wk_complete_t *c = w->complete;
    centry_t *e = &c->e[c->next++ % WK_COMPLETE_SLOTS];
    json_decref(e->cands);
    str_copy(e->key, sizeof e->key, key);
    e->cands = json_incref(cands);
    e->expires_ms = uv_now(w->loop) + (uint64_t)w->cfg->completion_cache_ms;
}

/* ---- answering ---- */

static int starts_with(const char *s, const char *prefix)
{
    return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* {"completion":{"values","total","hasMore"}} of the candidates matching
 * value (a candidate matches when any of its texts starts with it). */
static json_t *answer(const json_t *cands, const char *value)
{
    json_t *vals = json_array();
    size_t total = 0, i;
    const json_t *c;
    json_array_foreach((json_t *)cands, i, c) {
        int hit = 0;
        size_t j;
        const json_t *m;
        json_array_foreach((json_t *)c, j, m)
            hit |= starts_with(json_string_value(m), value);
        if (!hit)
            continue;
        /* One value once, even when two candidates give it. */
        int dup = 0;
        size_t k;
        const json_t *v;
        json_array_foreach(vals, k, v)
            dup |= strcmp(json_string_value(v), json_string_value(json_array_get(c, 0))) == 0;
        if (dup)
            continue;
        total++;
        if (json_array_size(vals) < WK_COMPLETE_VALUES)
            json_array_append(vals, json_array_get(c, 0));
    }
    return json_pack("{s:{s:o,s:I,s:b}}", "completion", "values", vals, "total", (json_int_t)total, "hasMore",
                     total > WK_COMPLETE_VALUES);
}

static json_t *empty_answer(void)
{
    return json_pack("{s:{s:[],s:i,s:b}}", "completion", "values", "total", 0, "hasMore", 0);
}

/* One read of candidates in flight; freed in op_end only. */
typedef struct comp_op_s {
    wk_worker_t *w;
    char source[32];
    char key[512];
    char value[WK_COMPLETE_VALUE_MAX + 1];
    wk_resources_cb cb;
    void *ud;
} comp_op_t;

static void op_end(comp_op_t *op, json_t *result)
{
    wk_resources_cb cb = op->cb;
    void *ud = op->ud;
    free(op);
    cb(result, 0, NULL, ud);
}

static json_t *pair(const char *value, const char *m1, const char *m2)
{
    json_t *c = json_pack("[s]", value);
    if (m1)
        json_array_append_new(c, json_string(m1));
    if (m2)
        json_array_append_new(c, json_string(m2));
    return c;
}

/* The tool's answer turned into candidates for op's source. */
static json_t *candidates(const comp_op_t *op, const json_t *sc)
{
    json_t *out = json_array();
    const char *s = op->source;
    const char *member = strcmp(s, "issue_key") == 0    ? "issues"
                         : strcmp(s, "desk") == 0         ? "service_desks"
                         : strncmp(s, "queue", 5) == 0    ? "queues"
                         : strcmp(s, "request_type") == 0 ? "request_types"
                         : strcmp(s, "transition") == 0   ? "transitions"
                                                          : "users";
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(sc, member), i, x) {
        const char *id = jsontext_str(x, "id"), *name = jsontext_str(x, "name");
        json_t *c = NULL;
        if (strcmp(s, "issue_key") == 0 && jsontext_str(x, "key"))
            c = pair(jsontext_str(x, "key"), NULL, NULL);
        else if (strcmp(s, "desk") == 0 && id)
            c = pair(id, name, jsontext_str(x, "projectKey"));
        else if (strcmp(s, "queue_id") == 0 && id)
            c = pair(id, name, NULL);
        else if (strcmp(s, "user") == 0 && name)
            c = pair(name, jsontext_str(x, "email"), NULL);
        else if (name)
            c = pair(name, NULL, NULL);
        if (c)
            json_array_append_new(out, c);
    }
    return out;
}

static void on_tool(json_t *result, int code, const char *message, void *ud)
{
    comp_op_t *op = ud;
    if (!result || json_is_true(json_object_get(result, "isError"))) {
        json_decref(result);
        op_end(op, empty_answer()); /* a hint, not an error: nothing to suggest */
        return;
    }
    json_t *cands = candidates(op, json_object_get(result, "structuredContent"));
    json_decref(result);
    cache_put(op->w, op->key, cands);
    json_t *a = answer(cands, op->value);
    json_decref(cands);
    op_end(op, a);
}

/* A project key part of an issue key prefix ("ITSM" of "ITSM-9"), upper
 * case, or "" when the value has none yet. */
static void project_part(const char *value, char *out, size_t outsz)
{
    out[0] = 0;
    const char *dash = strchr(value, '-');
    size_t n = dash ? (size_t)(dash - value) : 0;
    if (n < 2 || n >= outsz)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = (char)toupper((unsigned char)value[i]);
        if (!((c >= 'A' && c <= 'Z') || (i > 0 && ((c >= '0' && c <= '9') || c == '_'))))
            return;
        out[i] = c;
    }
    out[n] = 0;
    if (strspn(dash + 1, "0123456789") != strlen(dash + 1))
        out[0] = 0;
}

/* The context argument, when it has the shape of kind's pattern. */
static const char *context_arg(wk_worker_t *w, const json_t *params, const char *name, const char *kind)
{
    const json_t *v = json_object_get(json_object_get(json_object_get(params, "context"), "arguments"), name);
    const json_t *ks = json_object_get(json_object_get(w->catalog->root, "arg_kinds"), kind);
    char why[100];
    return json_is_string(v) && schema_validate(ks, v, why, sizeof why) == 0 ? json_string_value(v) : NULL;
}

/* The account and project scope part of cache keys: results depend on both. */
static void scope_key(const wk_server_t *srv, char *out, size_t outsz)
{
    char *p = json_dumps(json_object_get(srv->config, "projects"), JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(out, outsz, "%s|%.300s", srv->account_id, p ? p : "*");
    free(p);
}

void wk_complete(wk_worker_t *w, const wk_server_t *srv, const json_t *params, const char *request_id,
                 const char *traceparent, wk_resources_cb cb, void *ud)
{
    const json_t *ref = json_object_get(params, "ref");
    const json_t *arg = json_object_get(params, "argument");
    const char *type = jsontext_str(ref, "type");
    const char *aname = jsontext_str(arg, "name");
    const json_t *jv = json_object_get(arg, "value");
    if (!type || !aname || !json_is_string(jv)) {
        wk_mcp_tool_answer(w, NULL, WK_RPC_INVALID_PARAMS,
                            "Invalid params: ref {type, name|uri} and argument {name, value} (strings) are required",
                            cb, ud);
        return;
    }
    const json_t *def = NULL;
    if (strcmp(type, "ref/prompt") == 0)
        def = wk_prompts_argument(w, srv->config, jsontext_str(ref, "name"), aname);
    else if (strcmp(type, "ref/resource") == 0)
        def = wk_resources_var(w, srv->config, jsontext_str(ref, "uri"), aname);
    if (!def) {
        char msg[400];
        snprintf(msg, sizeof msg, "Invalid params: %.40s %.128s has no argument %.64s on this server", type,
                 jsontext_str(ref, "name") ? jsontext_str(ref, "name") : jsontext_str(ref, "uri") ? jsontext_str(ref, "uri") : "", aname);
        wk_mcp_tool_answer(w, NULL, WK_RPC_INVALID_PARAMS, msg, cb, ud);
        return;
    }
    if (json_string_length(jv) > WK_COMPLETE_VALUE_MAX) {
        wk_mcp_tool_answer(w, empty_answer(), 0, NULL, cb, ud);
        return;
    }
    const char *value = json_string_value(jv);
    const char *source = jsontext_str(def, "complete");
    const json_t *en = json_object_get(json_object_get(def, "schema"), "enum");
    if (!source || strcmp(source, "enum") == 0 || strcmp(source, "fixture") == 0) {
        json_t *cands = json_array();
        size_t i;
        const json_t *e;
        json_array_foreach(en, i, e)
            if (json_is_string(e))
                json_array_append_new(cands, pair(json_string_value(e), NULL, NULL));
        json_t *a = answer(cands, value);
        json_decref(cands);
        wk_mcp_tool_answer(w, a, 0, NULL, cb, ud);
        return;
    }
    /* An upstream source: which tool, with which arguments, cached under which key. */
    char scope[400], key[512], proj[40];
    scope_key(srv, scope, sizeof scope);
    const char *tool = NULL;
    json_t *targs = NULL;
    if (strcmp(source, "issue_key") == 0) {
        project_part(value, proj, sizeof proj);
        char jql[120];
        if (*proj)
            snprintf(jql, sizeof jql, "project = \"%s\" ORDER BY updated DESC", proj);
        else
            snprintf(jql, sizeof jql, "ORDER BY updated DESC");
        tool = "list_all_jira_service_management_search_issues";
        targs = json_pack("{s:s,s:i}", "jql", jql, "limit", 100);
        snprintf(key, sizeof key, "%s|issue|%s", scope, proj);
    } else if (strcmp(source, "desk") == 0) {
        tool = "list_all_jira_service_management_service_desks";
        targs = json_pack("{s:i}", "limit", 50);
        snprintf(key, sizeof key, "%s|desk", scope);
    } else if (strcmp(source, "queue_name") == 0 || strcmp(source, "queue_id") == 0 ||
               strcmp(source, "request_type") == 0) {
        const char *desk = context_arg(w, params, "service_desk_id", "numeric_id");
        if (desk) {
            int rt = strcmp(source, "request_type") == 0;
            tool = rt ? "list_all_jira_service_management_request_types" : "list_all_jira_service_management_queues";
            targs = json_pack("{s:s,s:i}", "service_desk_id", desk, "limit", 50);
            snprintf(key, sizeof key, "%s|%s|%s", scope, source, desk);
        }
    } else if (strcmp(source, "transition") == 0) {
        const char *issue = context_arg(w, params, "issue_key", "issue");
        if (issue) {
            tool = "list_all_jira_service_management_issue_transitions";
            targs = json_pack("{s:s}", "id", issue);
            snprintf(key, sizeof key, "%s|transition|%s", scope, issue);
        }
    } else if (strcmp(source, "user") == 0 && *value) {
        /* Jira matches the beginning of names and emails itself. */
        tool = "list_all_jira_service_management_user_search";
        targs = json_pack("{s:s,s:i}", "query", value, "limit", 50);
        snprintf(key, sizeof key, "%s|user|%.100s", scope, value);
    }
    if (!tool) {
        wk_mcp_tool_answer(w, empty_answer(), 0, NULL, cb, ud); /* the context it needs is missing */
        return;
    }
    const json_t *cached = cache_get(w, key);
    if (cached) {
        json_decref(targs);
        wk_mcp_tool_answer(w, answer(cached, value), 0, NULL, cb, ud); /* a cache hit */
        return;
    }
    comp_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    str_copy(op->source, sizeof op->source, source);
    str_copy(op->key, sizeof op->key, key);
    str_copy(op->value, sizeof op->value, value);
    op->cb = cb;
    op->ud = ud;
    wk_mcp_run_tool(w, srv, tool, targs, request_id, traceparent, on_tool, op);
}
