/* wk_mcp: see wk_mcp.h. */
#include "wk_mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ju.h"
#include "log.h"
#include "schema.h"
#include "tu.h"
#include "wk_store.h"

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL};

/* ---- server records ---- */

void wk_server_clear(wk_server_t *s)
{
    json_decref(s->rec);
    memset(s, 0, sizeof *s);
}

int wk_server_parse(wk_server_t *s, json_t *rec, const char *token_hash)
{
    memset(s, 0, sizeof *s);
    s->rec = rec;
    s->id = ju_str(rec, "id");
    s->workspace_id = ju_str(rec, "workspace_id");
    s->account_id = ju_str(rec, "account_id");
    s->name = ju_str(rec, "name");
    s->config = json_object_get(rec, "config");
    s->require_api_token_auth = ju_bool(rec, "require_api_token_auth", 0);
    s->expires_at_ms = ju_int(rec, "expires_at_ms", 0);
    s->not_after_ms = ju_int(rec, "not_after_ms", 0);
    snprintf(s->token_hash, sizeof s->token_hash, "%s", token_hash);
    if (!json_is_object(rec) || !s->id || !s->workspace_id || !s->account_id ||
        (s->config && !json_is_object(s->config))) {
        wk_server_clear(s);
        return -1;
    }
    return 0;
}

int wk_server_expired(const wk_server_t *s, int64_t now_ms)
{
    return (s->expires_at_ms > 0 && now_ms >= s->expires_at_ms) ||
           (s->not_after_ms > 0 && now_ms >= s->not_after_ms);
}

/* ---- messages ---- */

enum wk_msg_kind wk_mcp_classify(const json_t *msg, char *err, size_t errsz)
{
    if (json_is_array(msg)) {
        snprintf(err, errsz, "Invalid Request: batch not supported");
        return WK_MSG_INVALID;
    }
    if (!json_is_object(msg)) {
        snprintf(err, errsz, "Invalid Request: a JSON-RPC message must be an object, got %s",
                 ju_type_name(msg));
        return WK_MSG_INVALID;
    }
    const char *jv = ju_str(msg, "jsonrpc");
    if (!jv || strcmp(jv, "2.0") != 0) {
        snprintf(err, errsz, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return WK_MSG_INVALID;
    }
    const json_t *id = json_object_get(msg, "id");
    const json_t *method = json_object_get(msg, "method");
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        snprintf(err, errsz, "Invalid Request: \"id\" must be a string or an integer");
        return WK_MSG_INVALID;
    }
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            snprintf(err, errsz, "Invalid Request: \"method\" must be a non-empty string");
            return WK_MSG_INVALID;
        }
        const json_t *params = json_object_get(msg, "params");
        if (params && !json_is_object(params)) {
            snprintf(err, errsz, "Invalid Request: \"params\" must be an object");
            return WK_MSG_INVALID;
        }
        return id ? WK_MSG_REQUEST : WK_MSG_NOTIFICATION;
    }
    int has_result = json_object_get(msg, "result") != NULL;
    int has_error = json_is_object(json_object_get(msg, "error"));
    if (id && has_result != has_error)
        return WK_MSG_RESPONSE;
    snprintf(err, errsz, "Invalid Request: a message needs \"method\" (request or notification) "
             "or \"id\" with \"result\" or \"error\" (response)");
    return WK_MSG_INVALID;
}

int wk_mcp_version_known(const char *v)
{
    for (int i = 0; v && versions[i]; i++)
        if (strcmp(v, versions[i]) == 0)
            return 1;
    return 0;
}

const char *wk_mcp_negotiate(const char *requested)
{
    for (int i = 0; requested && versions[i]; i++)
        if (strcmp(requested, versions[i]) == 0)
            return versions[i];
    return WK_PV_LATEST;
}

json_t *wk_mcp_error(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(e, "data", data);
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", e);
}

json_t *wk_mcp_result(const json_t *id, json_t *result)
{
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

#define WK_RESPONSE_MAX (64u << 20)

char *wk_mcp_dump(const json_t *response, size_t *len)
{
    const json_t *result = json_object_get(response, "result");
    const json_t *content = json_object_get(result, "content");
    const json_t *sc = json_object_get(result, "structuredContent");
    const char *text = json_string_value(json_object_get(json_array_get(content, 0), "text"));
    size_t nkeys = 2 + (json_object_get(result, "isError") ? 1 : 0);
    char *s = NULL;
    if (sc && text && json_array_size(content) == 1 && json_object_size(result) == nkeys &&
        json_object_size(json_array_get(content, 0)) == 2) {
        s = json_dumps(sc, JSON_COMPACT);
        if (s && strcmp(s, text) == 0) {
            /* The common tool result: escape the text once, reuse it raw. */
            char *id = json_dumps(json_object_get(response, "id"), JSON_COMPACT | JSON_ENCODE_ANY);
            buf_t b;
            buf_init(&b, WK_RESPONSE_MAX);
            buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":",
                       id ? id : "null");
            buf_append_json_str(&b, text, strlen(text));
            buf_printf(&b, "}],\"structuredContent\":%s%s}}", s,
                       json_is_true(json_object_get(result, "isError")) ? ",\"isError\":true" : "");
            free(id);
            free(s);
            char *out = buf_steal(&b, len);
            if (out)
                return out;
            s = NULL;
        }
        free(s);
    }
    s = json_dumps(response, JSON_COMPACT);
    *len = s ? strlen(s) : 0;
    return s;
}

/* ---- methods ---- */

static json_t *initialize_result(const wk_server_t *srv, const json_t *params)
{
    const char *pv = wk_mcp_negotiate(ju_str(params, "protocolVersion"));
    json_t *info = json_pack("{s:s,s:s,s:s}", "name", "jsmcp", "title",
                             "Jira Service Management (jsmcp)", "version", "1.0.0");
    return json_pack("{s:s,s:{s:{s:b},s:{}},s:o,s:s}", "protocolVersion", pv, "capabilities",
                     "tools", "listChanged", 0, "logging", "serverInfo", info, "instructions",
                     "Tools for one Jira Service Management site. Issue keys look like ITSM-994; "
                     "list tools page with next_cursor. Errors carry Jira's own messages and a hint.");
}

int wk_mcp_prepare_call(const wk_catalog_t *cat, const json_t *config, const json_t *params,
                        const wk_tool_t **tool, json_t **args, char *err, size_t errsz)
{
    *tool = NULL;
    *args = NULL;
    const char *name = ju_str(params, "name");
    if (!name) {
        snprintf(err, errsz, "Invalid params: \"name\" (string) is required");
        return WK_RPC_INVALID_PARAMS;
    }
    const wk_tool_t *t = wk_catalog_find(cat, name);
    if (!t || !wk_catalog_allowed(t, config)) {
        snprintf(err, errsz, "Unknown tool: %.128s", name);
        return WK_RPC_INVALID_PARAMS;
    }
    const json_t *a = json_object_get(params, "arguments");
    if (a && !json_is_object(a) && !json_is_null(a)) {
        snprintf(err, errsz, "Invalid params: \"arguments\" must be an object, got %s", ju_type_name(a));
        return WK_RPC_INVALID_PARAMS;
    }
    json_t *obj = json_is_object(a) ? json_incref((json_t *)a) : json_object();
    char why[300];
    if (schema_validate(t->input_schema, obj, why, sizeof why) != 0) {
        snprintf(err, errsz, "Invalid arguments for %s: %s", t->name, why);
        json_decref(obj);
        return WK_RPC_INVALID_PARAMS;
    }
    *tool = t;
    *args = obj;
    return 0;
}

typedef struct call_op_s {
    wk_worker_t *w;
    json_t *id;
    const wk_tool_t *tool;
    json_t *args;
    wk_mcp_done_fn done;
    void *ud;
    uint64_t t0;
} call_op_t;

/* The one place a call_op ends. */
static void call_finish(call_op_t *op, json_t *response, const wk_ratelimit_t *rl, int status)
{
    char labels[192];
    snprintf(labels, sizeof labels, "tool=\"%s\",upstream_status=\"%d\"", op->tool->name, status);
    metrics_inc(op->w->metrics, "jsmcp_worker_tool_calls_total", labels, 1);
    snprintf(labels, sizeof labels, "tool=\"%s\"", op->tool->name);
    metrics_observe(op->w->metrics, "jsmcp_worker_tool_call_duration_seconds", labels,
                    (double)(tu_mono_ns() - op->t0) / 1e9);
    if (status == 0 || status >= 500)
        metrics_inc(op->w->metrics, "jsmcp_worker_upstream_errors_total", "", 1);
    op->done(response, rl, op->ud);
    json_decref(op->id);
    json_decref(op->args);
    free(op);
}

static void on_exec(json_t *result, const wk_ratelimit_t *rl, int upstream_status, void *ud)
{
    call_op_t *op = ud;
    call_finish(op, wk_mcp_result(op->id, result), rl, upstream_status);
}

static void on_account(int rc, const wk_account_t *acct, const char *err, void *ud)
{
    call_op_t *op = ud;
    char why[300];
    if (rc != 1) {
        /* The account is gone or unreadable: a tool-level error the agent can report. */
        snprintf(why, sizeof why, "%s: %s", op->tool->name,
                 err ? err : "the JSM account of this MCP server is not available");
        json_t *res = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", why,
                                "isError", 1);
        call_finish(op, wk_mcp_result(op->id, res), NULL, 0);
        return;
    }
    int r = wk_exec_start(op->w->httpc, op->tool, op->args, acct, on_exec, op, why, sizeof why);
    if (r == -1)
        call_finish(op, wk_mcp_error(op->id, WK_RPC_INVALID_PARAMS, why, NULL), NULL, 0);
    else if (r != 0)
        call_finish(op, wk_mcp_error(op->id, WK_RPC_INTERNAL, why, NULL), NULL, 0);
}

static void tools_call(wk_worker_t *w, const wk_server_t *srv, const json_t *id,
                       const json_t *params, wk_mcp_done_fn done, void *ud)
{
    const wk_tool_t *tool;
    json_t *args;
    char err[400];
    int code = wk_mcp_prepare_call(w->catalog, srv->config, params, &tool, &args, err, sizeof err);
    if (code) {
        done(wk_mcp_error(id, code, err, NULL), NULL, ud);
        return;
    }
    call_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->id = json_deep_copy(id);
    op->tool = tool;
    op->args = args;
    op->done = done;
    op->ud = ud;
    op->t0 = tu_mono_ns();
    wk_store_account(w, srv->account_id, on_account, op);
}

static int level_known(const char *l)
{
    static const char *const levels[] = {"debug", "info", "notice", "warning", "error",
                                         "critical", "alert", "emergency", NULL};
    for (int i = 0; l && levels[i]; i++)
        if (strcmp(l, levels[i]) == 0)
            return 1;
    return 0;
}

void wk_mcp_dispatch(wk_worker_t *w, const wk_server_t *srv, const json_t *msg,
                     wk_mcp_done_fn done, void *ud)
{
    const json_t *id = json_object_get(msg, "id");
    const char *method = ju_str(msg, "method");
    const json_t *params = json_object_get(msg, "params");
    char err[256];

    if (strcmp(method, "tools/call") == 0) {
        tools_call(w, srv, id, params, done, ud);
        return;
    }
    json_t *res = NULL;
    if (strcmp(method, "initialize") == 0) {
        res = wk_mcp_result(id, initialize_result(srv, params));
    } else if (strcmp(method, "ping") == 0) {
        res = wk_mcp_result(id, json_object());
    } else if (strcmp(method, "tools/list") == 0) {
        const json_t *cur = json_object_get(params, "cursor");
        if (cur && !json_is_string(cur)) {
            res = wk_mcp_error(id, WK_RPC_INVALID_PARAMS, "Invalid params: cursor must be a string", NULL);
        } else {
            json_t *list = wk_catalog_list(w->catalog, srv->config, json_string_value(cur),
                                           (size_t)w->cfg->tools_page, err, sizeof err);
            res = list ? wk_mcp_result(id, list) : wk_mcp_error(id, WK_RPC_INVALID_PARAMS, err, NULL);
        }
    } else if (strcmp(method, "logging/setLevel") == 0) {
        /* Accepted and validated; the worker sends no log notifications. */
        if (!level_known(ju_str(params, "level")))
            res = wk_mcp_error(id, WK_RPC_INVALID_PARAMS,
                               "Invalid params: level must be one of debug, info, notice, warning, "
                               "error, critical, alert, emergency", NULL);
        else
            res = wk_mcp_result(id, json_object());
    } else {
        snprintf(err, sizeof err, "Method not found: %.128s", method);
        res = wk_mcp_error(id, WK_RPC_METHOD_NOT_FOUND, err, NULL);
    }
    done(res, NULL, ud);
}
