/* wk_mcp: see wk_mcp.h. */
#include "wk_mcp.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "jsontext.h"
#include "schema.h"
#include "toolfilter.h"
#include "wk_call.h"
#include "wk_fixtures.h"
#include "wk_result.h"

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL};

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

/* ---- methods ---- */

json_t *wk_mcp_capabilities(void)
{
    /* listChanged: open streams hear of a PATCH that changes what the
     * server offers (wk_listwatch.h); subscribe: wk_subscribe.h. */
    return json_pack("{s:{s:b},s:{s:b},s:{s:b,s:b},s:{},s:{}}", "tools", "listChanged", 1, "prompts", "listChanged", 1,
                     "resources", "subscribe", 1, "listChanged", 1, "completions", "logging");
}

static json_t *initialize_result(const wk_server_t *srv, const json_t *params)
{
    const char *pv = wk_mcp_negotiate(jsontext_str(params, "protocolVersion"));
    json_t *info = json_pack("{s:s,s:s,s:s}", "name", "jsmcp", "title",
                             "Jira Service Management (jsmcp)", "version", "1.0.0");
    return json_pack("{s:s,s:o,s:o,s:s}", "protocolVersion", pv, "capabilities", wk_mcp_capabilities(),
                     "serverInfo", info, "instructions",
                     "Tools for one Jira Service Management site. Issue keys look like ITSM-994; "
                     "list tools page with next_cursor. Errors carry Jira's own messages and a hint. "
                     "Prompts give the usual service-desk workflows step by step (incident triage, queue "
                     "dispatch, SLA breach review, customer replies, handover, approvals); resources "
                     "(jsm://issue/<key>, jsm://desk/<id>, ...) read issues, requests, desks and queues as "
                     "JSON or markdown, and can be subscribed to.");
}

/* Arguments holding \u0000 in a string (the worker parses messages with
 * jsontext_parse_nul): no Jira text takes it, and C code reading the
 * string would stop there, so what went upstream would not be what the
 * agent sent. 1 with err set when args hold one. */
static int args_nul(const char *tool, const json_t *args, char *err, size_t errsz)
{
    char path[200];
    if (!jsontext_find_nul(args, NULL, path, sizeof path))
        return 0;
    snprintf(err, errsz, "Invalid arguments for %s: %s holds \\u0000 (U+0000), which no Jira field takes", tool,
             path);
    return 1;
}

int wk_mcp_prepare_call(const wk_catalog_t *cat, const json_t *config, const json_t *params,
                        const wk_tool_t **tool, json_t **args, char *err, size_t errsz)
{
    *tool = NULL;
    *args = NULL;
    const char *name = jsontext_str(params, "name");
    if (!name) {
        snprintf(err, errsz, "Invalid params: \"name\" (string) is required");
        return WK_RPC_INVALID_PARAMS;
    }
    const wk_tool_t *t = wk_catalog_find(cat, name);
    if (t && !wk_catalog_allowed(t, config) && toolfilter_allowed(t->kind, t->tags, 0, config)) {
        snprintf(err, errsz, "Unknown tool: %.128s is not offered by this server: it is limited to some "
                 "projects and this tool's data cannot be tied to a project", name);
        return WK_RPC_INVALID_PARAMS;
    }
    if (!t || !wk_catalog_allowed(t, config)) {
        snprintf(err, errsz, "Unknown tool: %.128s", name);
        return WK_RPC_INVALID_PARAMS;
    }
    const json_t *a = json_object_get(params, "arguments");
    if (a && !json_is_object(a) && !json_is_null(a)) {
        snprintf(err, errsz, "Invalid params: \"arguments\" must be an object, got %s", jsontext_type_name(a));
        *tool = t;
        return WK_RPC_INVALID_PARAMS;
    }
    json_t *obj = json_is_object(a) ? json_incref((json_t *)a) : json_object();
    char why[300];
    if (args_nul(t->name, obj, err, errsz)) {
        json_decref(obj);
        *tool = t;
        return WK_RPC_INVALID_PARAMS;
    }
    if (schema_validate(t->input_schema, obj, why, sizeof why) != 0) {
        snprintf(err, errsz, "Invalid arguments for %s: %s", t->name, why);
        json_decref(obj);
        *tool = t;
        return WK_RPC_INVALID_PARAMS;
    }
    *tool = t;
    *args = obj;
    return 0;
}

/* ---- the callback rule: an answer known at once is given from the loop ---- */

typedef struct answer_op_s {
    defer_entry_t later;
    json_t *response;
    wk_tool_result_t *result;
    wk_mcp_done_fn done;
    void *ud;
} answer_op_t;

static void answer_run(defer_entry_t *e)
{
    answer_op_t *a = (answer_op_t *)((char *)e - offsetof(answer_op_t, later));
    a->done(a->response, a->result, NULL, a->ud);
    free(a);
}

void wk_mcp_answer(wk_worker_t *w, json_t *response, wk_tool_result_t *result, wk_mcp_done_fn done, void *ud)
{
    answer_op_t *a = mem_calloc(1, sizeof *a);
    a->response = response;
    a->result = result;
    a->done = done;
    a->ud = ud;
    defer_call(&w->defer, w->loop, &a->later, answer_run);
}

/* A tools/call that wk_mcp_prepare_call refused: arguments a known tool
 * refuses are its tool error (isError), anything else (an unknown tool,
 * params that are not a call) a JSON-RPC error. */
static void call_refused(wk_worker_t *w, const json_t *id, const wk_tool_t *tool, int code, const char *err,
                         wk_mcp_done_fn done, void *ud)
{
    if (tool)
        wk_mcp_answer(w, wk_rpc_envelope(id), wk_result_invalid_args(tool->name, err), done, ud);
    else
        wk_mcp_answer(w, wk_rpc_error(id, code, err, NULL), NULL, done, ud);
}

/* Discovery exposure: search_tools and get_tool_schema answer locally;
 * call_tool unwraps to the named tool. Returns 1 when it answered. */
static int discovery_call(wk_worker_t *w, const wk_server_t *srv, wk_push_t *push, const json_t *id,
                          const json_t *params, const char *request_id, const char *traceparent,
                          wk_mcp_done_fn done, void *ud)
{
    const char *name = jsontext_str(params, "name");
    const json_t *a = json_object_get(params, "arguments");
    char err[1200];
    const json_t *def = NULL;
    size_t i;
    const json_t *d;
    json_array_foreach(w->catalog->discovery, i, d)
        if (name && strcmp(jsontext_str(d, "name"), name) == 0)
            def = d;
    if (!def) {
        snprintf(err, sizeof err, "Unknown tool: %.128s (this server lists search_tools, get_tool_schema "
                 "and call_tool)", name ? name : "");
        wk_mcp_answer(w, wk_rpc_error(id, WK_RPC_INVALID_PARAMS, err, NULL), NULL, done, ud);
        return 1;
    }
    json_t *args = json_is_object(a) ? json_incref((json_t *)a) : json_object();
    if (args_nul(name, args, err, sizeof err)) {
        json_decref(args);
        wk_mcp_answer(w, wk_rpc_envelope(id), wk_result_invalid_args(name, err), done, ud);
        return 1;
    }
    if (schema_validate(json_object_get(def, "inputSchema"), args, err, sizeof err) != 0) {
        char msg[1300];
        snprintf(msg, sizeof msg, "Invalid arguments for %s: %s", name, err);
        json_decref(args);
        wk_mcp_answer(w, wk_rpc_envelope(id), wk_result_invalid_args(name, msg), done, ud);
        return 1;
    }
    json_t *structured = NULL;
    if (strcmp(name, WK_TOOL_SEARCH) == 0) {
        structured = wk_catalog_search(w->catalog, srv->config, jsontext_str(args, "query"),
                                       (size_t)jsontext_int(args, "limit", 10));
    } else if (strcmp(name, WK_TOOL_SCHEMA) == 0) {
        const wk_tool_t *t = wk_catalog_find(w->catalog, jsontext_str(args, "name"));
        if (t && wk_catalog_allowed(t, srv->config))
            structured = json_incref(t->listed);
    } else {
        json_t *inner = json_pack("{s:s?,s:O?}", "name", jsontext_str(args, "name"), "arguments",
                                  json_object_get(args, "arguments"));
        const wk_tool_t *tool;
        json_t *targs;
        int code = wk_mcp_prepare_call(w->catalog, srv->config, inner, &tool, &targs, err, sizeof err);
        json_decref(inner);
        json_decref(args);
        if (code) {
            call_refused(w, id, tool, code, err, done, ud);
            return 1;
        }
        wk_call_start(w, NULL, srv, push, id, tool, targs, request_id, traceparent, done, ud);
        return 1;
    }
    json_decref(args);
    wk_tool_result_t *res;
    if (!structured) {
        snprintf(err, sizeof err, "%s: no tool named \"%.64s\" on this server; find names with search_tools",
                 name, jsontext_str(json_object_get(params, "arguments"), "name"));
        res = wk_result_new(NULL, err, 1);
    } else {
        res = wk_result_structured(structured);
    }
    wk_mcp_answer(w, wk_rpc_envelope(id), res, done, ud);
    return 1;
}

/* ---- log and progress messages around a call (wk_push.h) ---- */

typedef struct call_notes_s {
    wk_push_t *push;
    wk_mcp_done_fn done;
    void *ud;
    char tool[160];
    uint64_t t0;
} call_notes_t;

static void notes_done(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl, void *ud)
{
    call_notes_t *cn = ud;
    if (!response) {
        /* Cancelled: no answer, and nothing more about the call. */
        cn->done(NULL, NULL, rl, cn->ud);
        free(cn);
        return;
    }
    const json_t *e = json_object_get(result ? result->structured : NULL, "error");
    double ms = (double)(clock_mono_ns() - cn->t0) / 1e6;
    if (json_object_get(response, "error")) {
        wk_push_log(cn->push, WK_LOG_ERROR, "jsmcp",
                    json_pack("{s:s,s:s,s:O}", "tool", cn->tool, "message", "the call was refused", "error",
                              json_object_get(response, "error")));
    } else if (result && result->is_error) {
        json_int_t st = json_integer_value(json_object_get(e, "status"));
        wk_push_log(cn->push, st >= 500 || st == 0 ? WK_LOG_ERROR : WK_LOG_WARNING, "jsmcp",
                    json_pack("{s:s,s:s,s:I,s:f}", "tool", cn->tool, "message", "the call failed", "upstream_status",
                              st, "latency_ms", ms));
    } else {
        wk_push_log(cn->push, WK_LOG_INFO, "jsmcp",
                    json_pack("{s:s,s:s,s:f}", "tool", cn->tool, "message", "the call succeeded", "latency_ms", ms));
    }
    if (rl && rl->limited)
        wk_push_log(cn->push, WK_LOG_WARNING, "jsmcp",
                    json_pack("{s:s,s:s,s:I}", "tool", cn->tool, "message", "rate limited", "retry_after_s",
                              (json_int_t)rl->retry_after_s));
    /* After the steps' progress (wk_call.h): one more, the whole. */
    double n = cn->push->sent_progress ? cn->push->progress + 1 : 1;
    wk_push_progress(cn->push, n, n, "Done");
    cn->done(response, result, rl, cn->ud);
    free(cn);
}

/* The answer of a fixture tool (wk_fixtures.h). */
typedef struct fixture_call_s {
    json_t *id;
    wk_mcp_done_fn done;
    void *ud;
} fixture_call_t;

static void on_fixture(json_t *result, int code, const char *message, void *ud)
{
    fixture_call_t *fc = ud;
    fc->done(result ? wk_rpc_result(fc->id, result) : wk_rpc_error(fc->id, code, message, NULL), NULL, NULL, fc->ud);
    json_decref(fc->id);
    free(fc);
}

static void tools_call(wk_worker_t *w, const wk_server_t *srv, wk_push_t *push, const json_t *id,
                       const json_t *params, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                       void *ud)
{
    const char *name = jsontext_str(params, "name");
    if (wk_fixtures_on(w, srv->config) && wk_fixtures_is_tool(name)) {
        fixture_call_t *fc = mem_calloc(1, sizeof *fc);
        fc->id = json_deep_copy(id);
        fc->done = done;
        fc->ud = ud;
        wk_fixtures_call(w, push, name, json_object_get(params, "arguments"), on_fixture, fc);
        return;
    }
    if (push && (push->level >= 0 || push->progress_token) && name) {
        /* The client asked for messages: one as the call starts, one with
         * its outcome (only then: a plain call stays a JSON answer). */
        call_notes_t *cn = mem_calloc(1, sizeof *cn);
        cn->push = push;
        cn->done = done;
        cn->ud = ud;
        cn->t0 = clock_mono_ns();
        str_copy(cn->tool, sizeof cn->tool, name);
        char msg[200];
        snprintf(msg, sizeof msg, "Calling %.120s on the JSM site", name);
        wk_push_progress(push, 0, 0, msg); /* the total is known once the steps are: "Done" says it */
        wk_push_log(push, WK_LOG_DEBUG, "jsmcp", json_pack("{s:s,s:s}", "tool", name, "message", "calling"));
        done = notes_done;
        ud = cn;
    }
    if (wk_catalog_discovery(srv->config) && discovery_call(w, srv, push, id, params, request_id, traceparent, done, ud))
        return;
    const wk_tool_t *tool;
    json_t *args;
    char err[1200];
    int code = wk_mcp_prepare_call(w->catalog, srv->config, params, &tool, &args, err, sizeof err);
    if (code) {
        call_refused(w, id, tool, code, err, done, ud);
        return;
    }
    wk_call_start(w, NULL, srv, push, id, tool, args, request_id, traceparent, done, ud);
}

/* ---- calls made by the worker itself ---- */

/* An answer of the worker's own call known at once, from the loop. */
typedef struct tool_answer_s {
    defer_entry_t later;
    json_t *result;
    int code;
    char message[1200];
    wk_mcp_tool_cb cb;
    void *ud;
} tool_answer_t;

static void tool_answer_run(defer_entry_t *e)
{
    tool_answer_t *a = (tool_answer_t *)((char *)e - offsetof(tool_answer_t, later));
    a->cb(a->result, a->code, a->result ? NULL : a->message, a->ud);
    free(a);
}

void wk_mcp_tool_answer(wk_worker_t *w, json_t *result, int code, const char *message, wk_mcp_tool_cb cb, void *ud)
{
    tool_answer_t *a = mem_calloc(1, sizeof *a);
    a->result = result;
    a->code = code;
    str_copy(a->message, sizeof a->message, message ? message : "");
    a->cb = cb;
    a->ud = ud;
    defer_call(&w->defer, w->loop, &a->later, tool_answer_run);
}

typedef struct run_op_s {
    wk_mcp_tool_cb cb;
    void *ud;
} run_op_t;

static void on_run(json_t *response, wk_tool_result_t *tr, const wk_upstream_meta_t *rl, void *ud)
{
    run_op_t *ro = ud;
    json_t *result = tr ? wk_result_json(tr) : NULL;
    const json_t *e = json_object_get(response, "error");
    ro->cb(result, result ? 0 : (int)jsontext_int(e, "code", WK_RPC_INTERNAL),
           result ? NULL : (jsontext_str(e, "message") ? jsontext_str(e, "message") : "the call failed"), ro->ud);
    wk_result_free(tr);
    json_decref(response);
    free(ro);
}

void wk_mcp_run_tool(wk_worker_t *w, const wk_server_t *srv, const char *name, json_t *args,
                     const char *request_id, const char *traceparent, wk_mcp_tool_cb cb, void *ud)
{
    json_t *params = json_pack("{s:s,s:o}", "name", name, "arguments", args ? args : json_object());
    const wk_tool_t *tool;
    json_t *targs;
    char err[1200];
    int code = wk_mcp_prepare_call(w->catalog, srv->config, params, &tool, &targs, err, sizeof err);
    json_decref(params);
    if (code) {
        wk_mcp_tool_answer(w, NULL, code, err, cb, ud);
        return;
    }
    run_op_t *ro = mem_calloc(1, sizeof *ro);
    ro->cb = cb;
    ro->ud = ud;
    json_t *id = json_integer(0);
    wk_call_start(w, NULL, srv, NULL, id, tool, targs, request_id, traceparent, on_run, ro);
    json_decref(id);
}

static void dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                     const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                     void *ud)
{
    const json_t *id = json_object_get(msg, "id");
    const char *method = jsontext_str(msg, "method");
    const json_t *params = json_object_get(msg, "params");
    char err[256];

    if (strcmp(method, "tools/call") == 0) {
        tools_call(w, srv, push, id, params, request_id, traceparent, done, ud);
        return;
    }
    json_t *res = NULL;
    if (strcmp(method, "initialize") == 0) {
        res = wk_rpc_result(id, initialize_result(srv, params));
    } else if (strcmp(method, "ping") == 0) {
        res = wk_rpc_result(id, json_object());
    } else if (strcmp(method, "tools/list") == 0) {
        const json_t *cur = json_object_get(params, "cursor");
        if (cur && !json_is_string(cur)) {
            res = wk_rpc_error(id, WK_RPC_INVALID_PARAMS, "Invalid params: cursor must be a string", NULL);
        } else {
            json_t *list = wk_catalog_list(w->catalog, srv->config, json_string_value(cur),
                                           (size_t)w->cfg->tools_page, err, sizeof err);
            if (list && !json_object_get(list, "nextCursor") && wk_fixtures_on(w, srv->config)) {
                /* On the last page; a copy, since the list may share the catalog's arrays. */
                json_t *fx = wk_fixtures_tools(), *tools = json_copy(json_object_get(list, "tools"));
                json_array_extend(tools, fx);
                json_object_set_new(list, "tools", tools);
                json_decref(fx);
            }
            res = list ? wk_rpc_result(id, list) : wk_rpc_error(id, WK_RPC_INVALID_PARAMS, err, NULL);
        }
    } else {
        snprintf(err, sizeof err, "Method not found: %.128s", method);
        res = wk_rpc_error(id, WK_RPC_METHOD_NOT_FOUND, err, NULL);
    }
    wk_mcp_answer(w, res, NULL, done, ud);
}

void wk_mcp_dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                     const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                     void *ud)
{
    dispatch(w, srv, sess, push, msg, request_id, traceparent, done, ud);
}
