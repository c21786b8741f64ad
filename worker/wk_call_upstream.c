/* wk_call_upstream: PREPARE, FIELDS, CONTEXTS, STEPS and UPSTREAM of a
 * call (wk_call.h), see wk_call_int.h. Each request goes out with
 * c->on_http and c->sent naming what it is; wk_call_http_answer reads the
 * answer for that stage. */
#include "wk_call_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "wk_callrec.h"
#include "wk_fieldctx.h"
#include "wk_request.h"
#include "wk_rpc.h"
#include "wk_steps.h"

/* ---- upstream requests ---- */

/* Sends rq (built when rc is 0; else err says why) with the call's
 * headers and the extra ones of its catalog row http (binary: the answer
 * is a file), and clears it. 0, -1 (not built) or -2 (not sent). */
static int send_req(wk_call_t *c, int rc, wk_request_t *rq, const json_t *http, int binary,
                    enum wk_call_sent what, char *err, size_t errsz)
{
    if (rc != 0)
        return -1;
    const char *headers[11];
    int nh = 0;
    headers[nh++] = binary ? "Accept: */*" : "Accept: application/json";
    size_t hi;
    const json_t *hv;
    json_array_foreach(json_object_get(http, "headers"), hi, hv)
        if (json_is_string(hv) && nh < 5)
            headers[nh++] = json_string_value(hv); /* e.g. X-ExperimentalApi: opt-in */
    if (rq->body)
        headers[nh++] = "Content-Type: application/json";
    if (c->acct.auth_header)
        headers[nh++] = c->acct.auth_header;
    if (c->rid_header[0])
        headers[nh++] = c->rid_header;
    if (c->trace_header[0])
        headers[nh++] = c->trace_header;
    headers[nh] = NULL;
    httpc_request_t hr = {.method = rq->method, .url = rq->url, .headers = headers, .body = rq->body,
                          .body_len = rq->body_len, .parts = rq->nparts ? &rq->part : NULL, .nparts = rq->nparts};
    if (c->nsent > 0 && c->push) {
        /* The steps so far are done; the path template says which one
         * starts (no argument values, no site). Sent before the request: an
         * answer from inside send may end the call. */
        char msg[200];
        const char *path = jsontext_str(http, "path");
        snprintf(msg, sizeof msg, "Step %d: %s %.160s", c->nsent + 1, hr.method, path ? path : "");
        wk_push_progress(c->push, c->nsent, 0, msg);
    }
    c->waiting = 1;
    c->sent = what;
    rc = c->io->send(c->w, &hr, c->on_http, c);
    wk_request_clear(rq);
    if (rc != 0) {
        c->waiting = 0;
        snprintf(err, errsz, "the worker is overloaded (upstream requests), try again");
        return -2;
    }
    /* The request has left: hash the arguments while JSM works on it. */
    wk_callrec_args_hash(&c->rec, c->args);
    c->nsent++;
    return 0;
}

/* A pre-step GET of path (with {arg} placeholders) and the query members
 * in query (may be NULL). */
static int send_get(wk_call_t *c, const char *path, const json_t *query, enum wk_call_sent what, char *err,
                    size_t errsz)
{
    wk_request_t rq;
    json_t *http = json_pack("{s:s,s:s}", "method", "GET", "path", path);
    if (query)
        json_object_set(http, "query", (json_t *)query);
    int rc = wk_request_build_step(http, NULL, c->tool->name, c->wargs, c->acct.base_url, &rq, err, errsz);
    rc = send_req(c, rc, &rq, NULL, 0, what, err, errsz);
    json_decref(http);
    return rc;
}

/* A pre-step's answer: -1 when it failed (the upstream error is the
 * call's result), else 0 with its parsed body (NULL when unreadable). */
static int step_parse(wk_call_t *c, const httpc_response_t *resp, json_t **body)
{
    char perr[128];
    *body = NULL;
    if (resp->err || resp->status < 200 || resp->status >= 300) {
        wk_upstream_meta_t rl;
        wk_tool_result_t *res = wk_result_upstream(c->tool, c->wargs, c->config, resp, &rl);
        wk_result_note_upstream(resp, &rl);
        wk_call_upstream_end(c, res, &rl, resp->err ? 0 : resp->status);
        return -1;
    }
    *body = jsontext_parse(resp->body, resp->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr);
    return 0;
}

/* The call's first request could not be sent: a JSON-RPC error, as when
 * the tool could not run at all. A paged or upload tool whose arguments do
 * not build (a forged cursor, content that is not base64) is the client's
 * error: a tool error the model can act on (wk_result_invalid_args). */
static void first_failed(wk_call_t *c, int rc, const char *err)
{
    int code = WK_RPC_INTERNAL;
    char why[400];
    wk_request_t probe;
    if (rc == -1 && (c->tool->paging || c->tool->multipart)) {
        if (wk_request_build(c->tool, c->args, c->acct.base_url, &probe, why, sizeof why) != 0) {
            wk_call_finish(c, wk_rpc_envelope(c->id), wk_result_invalid_args(c->tool->name, why), NULL, 0);
            return;
        }
        wk_request_clear(&probe);
    }
    wk_call_finish(c, wk_rpc_error(c->id, code, err, NULL), NULL, NULL, 0);
}

/* ---- PREPARE ---- */

static void got_fields(wk_call_t *c, const json_t *fields);

/* Starts (or starts again after a refresh) the upstream part: the
 * arguments the schema cannot check, the pure pre-step with the cached
 * field list, then the first request. */
void wk_call_prepare(wk_call_t *c)
{
    const wk_tool_t *t = c->tool;
    json_decref(c->wargs);
    json_decref(c->fieldlist);
    json_decref(c->need);
    c->wargs = c->fieldlist = c->need = NULL;
    c->need_i = c->step = 0;
    c->desk_checked = c->issue_checked = 0;
    int fl = wk_request_needs_fields(t, c->args);
    int pre = fl || json_array_size(t->resolve) > 0 || t->scope_desk || wk_scope_needs_issue_check(t, c->config);
    char why[2048] = "";
    if (pre && (t->paging || t->multipart)) {
        /* Before any pre-step request: a forged cursor, content that is
         * not base64. Without pre-steps the tool's own request checks it. */
        wk_request_t probe;
        if (wk_request_build(t, c->args, c->acct.base_url, &probe, why, sizeof why) != 0) {
            wk_call_finish(c, wk_rpc_envelope(c->id), wk_result_invalid_args(c->tool->name, why), NULL, 0);
            return;
        }
        wk_request_clear(&probe);
    }
    const json_t *fields = fl ? wk_fieldcache_get(c->w->fields, c->rec.account_id, uv_now(c->w->loop)) : NULL;
    json_t *a = NULL;
    if (!fl) {
        a = wk_request_prepare(t, c->args, NULL, c->config, why, sizeof why);
    } else if (!fields) {
        /* Before the field list is fetched: a query that does not parse,
         * or another argument the pre-step refuses, makes no request. */
        json_decref(wk_request_prepare(t, c->args, NULL, c->config, why, sizeof why));
    }
    c->wargs = a ? a : json_deep_copy(c->args);
    if (*why) {
        /* Same answer as after a fetched field list (got_fields): a tool
         * error the agent can act on, whether the list was cached or not. */
        if (!pre && (t->paging || t->multipart)) {
            wk_request_t probe;
            char perr[400];
            if (wk_request_build(t, c->args, c->acct.base_url, &probe, perr, sizeof perr) != 0) {
                wk_call_finish(c, wk_rpc_envelope(c->id), wk_result_invalid_args(c->tool->name, perr), NULL, 0);
                return;
            }
            wk_request_clear(&probe);
        }
        wk_call_step_end(c, 400, why, "Fix the argument and call again.", 0);
        return;
    }
    if (fields) {
        got_fields(c, fields);
        return;
    }
    c->first = !(pre && !fl); /* the tool's own request, or the field list */
    wk_call_enter(c, fl ? WK_CALL_FIELDS : pre ? WK_CALL_STEPS : WK_CALL_UPSTREAM);
}

/* ---- FIELDS, CONTEXTS: the site's field list, and the contexts of fields that share a name ---- */

/* The arguments prepared with the site's field list: the call goes on; or
 * a name several fields share makes their project contexts worth a look
 * (once per call; the answers stay on the cached list); or the call ends
 * with the agent-facing error. */
static void got_fields(wk_call_t *c, const json_t *fields)
{
    char err[2048];
    json_t *need = json_array();
    json_t *a = wk_request_prepare_need(c->tool, c->wargs, fields, c->config, c->need ? NULL : need, err,
                                        sizeof err);
    if (a) {
        json_decref(need);
        json_decref(c->wargs);
        c->wargs = a;
        wk_call_enter(c, WK_CALL_STEPS);
        return;
    }
    if (json_array_size(need) > 0) {
        c->need = need;
        c->fieldlist = json_incref((json_t *)fields);
        wk_call_enter(c, WK_CALL_CONTEXTS);
        return;
    }
    json_decref(need);
    wk_call_step_end(c, 400, err, "Fix the argument and call again.", 0);
}

static void fields_answer(wk_call_t *c, const httpc_response_t *resp)
{
    json_t *fields;
    if (step_parse(c, resp, &fields) == 0) {
        if (!json_is_array(fields)) {
            wk_call_step_end(c, 502, "the site's field list (/rest/api/3/field) is unreadable", "Try again later.",
                     resp->status);
        } else {
            wk_fieldcache_put(c->w->fields, c->rec.account_id, fields, uv_now(c->w->loop));
            got_fields(c, fields);
        }
        json_decref(fields);
    }
}

/* The contexts are known: written on the (cached) list, the arguments are
 * prepared again. */
static void finish_contexts(wk_call_t *c, const json_t *projects)
{
    wk_fieldctx_write(c->fieldlist, c->need, projects);
    json_t *fields = json_incref(c->fieldlist);
    got_fields(c, fields);
    json_decref(fields);
}

/* The answer of a field's context lookup, or, once every field had its
 * own (need_i is past them), of the search for the projects they name. A
 * lookup that failed (not 2xx, unreadable) leaves what it looked for
 * unknown: wk_fieldctx.h decides without it. */
static void context_answer(wk_call_t *c, const httpc_response_t *resp)
{
    char perr[128];
    json_t *body = !resp->err && resp->status >= 200 && resp->status < 300
                       ? jsontext_parse(resp->body, resp->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr)
                       : NULL;
    if (c->need_i < json_array_size(c->need)) {
        wk_fieldctx_answer(c->fieldlist, json_string_value(json_array_get(c->need, c->need_i)), body);
        c->need_i++;
    } else {
        finish_contexts(c, json_object_get(body, "values"));
    }
    json_decref(body);
}

/* Looks up the next field's context, then the keys of the projects found
 * (wk_fieldctx.h). */
void wk_call_contexts(wk_call_t *c)
{
    char err[400], path[128];
    const char *id = wk_fieldctx_next(c->fieldlist, c->need, &c->need_i);
    if (id) {
        snprintf(path, sizeof path, "/rest/api/3/field/%s/context/projectmapping", id);
        if (send_get(c, path, NULL, WK_CALL_SENT_CONTEXT, err, sizeof err) != 0)
            wk_call_step_end(c, 0, err, "Try again in a few seconds.", 0);
        return;
    }
    json_t *ids = wk_fieldctx_project_ids(c->fieldlist, c->need);
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        finish_contexts(c, NULL);
        return;
    }
    json_object_set_new(c->wargs, "_project_ids", ids);
    json_t *query = json_pack("{s:s,s:s}", "id", "{_project_ids}", "maxResults", "50");
    int rc = send_get(c, "/rest/api/3/project/search", query, WK_CALL_SENT_CONTEXT, err, sizeof err);
    json_decref(query);
    json_object_del(c->wargs, "_project_ids");
    if (rc != 0)
        wk_call_step_end(c, 0, err, "Try again in a few seconds.", 0);
}

/* ---- STEPS: config.projects pre-checks, then the catalog's resolve steps ---- */

static void resolve_answer(wk_call_t *c, const httpc_response_t *resp)
{
    json_t *body;
    char msg[3000];
    const char *hint;
    if (step_parse(c, resp, &body) == 0) {
        int st = wk_steps_answer(json_array_get(c->tool->resolve, c->step - 1), c->wargs, body, msg, sizeof msg,
                                 &hint);
        if (st)
            wk_call_step_end(c, st, msg, hint, resp->status);
        json_decref(body);
    }
}

static void scope_answer(wk_call_t *c, const httpc_response_t *resp)
{
    json_t *item;
    char msg[300];
    const char *hint;
    if (step_parse(c, resp, &item) == 0) {
        if (wk_scope_check_answer(c->checking, json_object_get(c->config, "projects"), item, c->checking_arg,
                                  jsontext_str(c->wargs, c->checking_arg), msg, sizeof msg, &hint))
            wk_call_step_end(c, 403, msg, hint, resp->status);
        json_decref(item);
    }
}

/* Sends the config.projects pre-check k (wk_scope.h) for argument arg. */
static void scope_check(wk_call_t *c, enum wk_scope_check k, const char *arg)
{
    char path[160], err[400];
    c->checking = k;
    c->checking_arg = arg;
    wk_scope_check_path(k, arg, path, sizeof path);
    json_t *query = k == WK_SCOPE_CHECK_ISSUE ? json_pack("{s:s}", "fields", "project") : NULL;
    int rc = send_get(c, path, query, WK_CALL_SENT_SCOPE, err, sizeof err);
    json_decref(query);
    if (rc != 0)
        wk_call_step_end(c, 0, err, "Try again in a few seconds.", 0);
}

/* Sends the next pending pre-step: the scope pre-checks, resolve steps in
 * order; none left: on to the tool's own request. */
void wk_call_steps(wk_call_t *c)
{
    char err[400];
    const wk_tool_t *t = c->tool;
    int limited = json_array_size(json_object_get(c->config, "projects")) > 0;
    if (!c->desk_checked && limited && t->scope_desk && jsontext_str(c->wargs, t->scope_desk)) {
        c->desk_checked = 1;
        scope_check(c, WK_SCOPE_CHECK_DESK, t->scope_desk);
        return;
    }
    const char *issue_args[2] = {t->scope_issue, t->scope_issue2};
    for (int i = 0; i < 2; i++) {
        if (!(c->issue_checked & (1 << i)) && wk_scope_needs_issue_check(t, c->config) && issue_args[i] &&
            jsontext_str(c->wargs, issue_args[i])) {
            c->issue_checked |= 1 << i;
            scope_check(c, WK_SCOPE_CHECK_ISSUE, issue_args[i]);
            return;
        }
    }
    const json_t *step = wk_steps_next(t->resolve, c->wargs, &c->step);
    if (step) {
        /* The step is a catalog http row of its own: no paging; it may
         * upload the tool's file. */
        wk_request_t rq;
        const json_t *mp = json_is_true(json_object_get(step, "multipart")) ? t->multipart : NULL;
        int rc = wk_request_build_step(step, mp, t->name, c->wargs, c->acct.base_url, &rq, err, sizeof err);
        rc = send_req(c, rc, &rq, step, 0, WK_CALL_SENT_RESOLVE, err, sizeof err);
        if (rc != 0)
            wk_call_step_end(c, rc == -1 ? 400 : 0, err, "Try again in a few seconds.", 0);
        return;
    }
    wk_call_enter(c, WK_CALL_UPSTREAM);
}

/* ---- UPSTREAM: the tool's own request ---- */

static void main_answer(wk_call_t *c, const httpc_response_t *resp)
{
    wk_upstream_meta_t rl;
    json_decref(c->payload);
    c->payload = NULL;
    wk_tool_result_t *res = wk_result_upstream_payload(c->tool, c->wargs, c->config, resp, &rl, &c->payload);
    wk_result_note_upstream(resp, &rl);
    /* No full answer (a 2xx too large keeps its status in resp): status 0,
     * the call's record and error class as for any answer not read. */
    wk_call_upstream_end(c, res, &rl, resp->err ? 0 : resp->status);
}

void wk_call_upstream(wk_call_t *c)
{
    char err[400];
    const wk_tool_t *t = c->tool;
    /* The main request of a tool whose file went up in a step is JSON. */
    int uploaded = 0;
    if (json_array_size(t->resolve) && t->multipart) {
        size_t i;
        const json_t *st;
        json_array_foreach(t->resolve, i, st)
            if (json_is_true(json_object_get(st, "multipart")))
                uploaded = 1;
    }
    wk_request_t rq;
    int rc = uploaded ? wk_request_build_json(t, c->wargs, c->acct.base_url, &rq, err, sizeof err)
                      : wk_request_build(t, c->wargs, c->acct.base_url, &rq, err, sizeof err);
    rc = send_req(c, rc, &rq, t->http, t->binary_max != 0, WK_CALL_SENT_MAIN, err, sizeof err);
    if (rc == 0)
        return;
    if (c->first)
        first_failed(c, rc, err);
    else
        wk_call_step_end(c, rc == -1 ? 400 : 0, err, "Try again in a few seconds.", 0);
}

void wk_call_fields(wk_call_t *c)
{
    char err[400];
    int rc = send_get(c, "/rest/api/3/field", NULL, WK_CALL_SENT_FIELDS, err, sizeof err);
    if (rc != 0)
        wk_call_finish(c, wk_rpc_error(c->id, WK_RPC_INTERNAL, err, NULL), NULL, NULL, 0);
}

void wk_call_http_answer(wk_call_t *c, const httpc_response_t *resp)
{
    switch (c->sent) {
    case WK_CALL_SENT_FIELDS:
        fields_answer(c, resp);
        break;
    case WK_CALL_SENT_CONTEXT:
        context_answer(c, resp);
        break;
    case WK_CALL_SENT_RESOLVE:
        resolve_answer(c, resp);
        break;
    case WK_CALL_SENT_SCOPE:
        scope_answer(c, resp);
        break;
    case WK_CALL_SENT_MAIN:
        main_answer(c, resp);
        break;
    }
}
