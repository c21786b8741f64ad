/* wk_call: see wk_call.h. */
#include "wk_call.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "jsontext.h"
#include "log.h"
#include "wk_audit.h"
#include "wk_callrec.h"
#include "wk_fieldctx.h"
#include "wk_idem.h"
#include "wk_pace.h"
#include "wk_refresh.h"
#include "wk_request.h"
#include "wk_rpc.h"
#include "wk_scope.h"
#include "wk_steps.h"
#include "wk_store.h"

typedef struct wk_call_s {
    wk_worker_t *w;
    const wk_call_io_t *io;
    enum wk_call_state state;
    int stepping;                /* call_step's loop runs: a callback from inside it only moves the state */
    int waiting;                 /* an io function's callback is due */
    int starting;                /* wk_call_start has not returned: the answer waits for the loop */
    int unrecorded;              /* refused before it began: no metrics, no log line */
    defer_entry_t later;         /* the answer, from the loop */
    json_t *id;                  /* the JSON-RPC id answered */
    const wk_tool_t *tool;
    json_t *args;                /* as the client sent them (hash, idempotency, a run again after a refresh) */
    json_t *config;              /* the server's config (projects) or NULL */
    wk_callrec_t rec;            /* ids, clock and outcome: the audit record, metrics, log line */
    char idem_key[256];          /* Redis key of the idempotency record, "" without one */
    char rid_header[96];         /* "X-Request-Id: ..." or "" */
    char trace_header[80];       /* "traceparent: ..." or "" */
    wk_call_done_fn done;
    void *ud;
    wk_push_t *push;             /* the request's progress and cancellation; NULL from IDEM_STORE on */
    int cancelled;               /* the client cancelled the call: no answer goes out */
    int nsent;                   /* upstream requests sent (progress) */
    enum wk_call_state after_confirm; /* IDEM or ACCOUNT */
    /* ACCOUNT, REFRESH, PACE */
    wk_account_t acct;           /* copy of the last account read (base_url, auth_header, oauth, version) */
    int refreshed;               /* waited for a refresh once already: no second one */
    int paced;                   /* took its pacing token (one per tool call) */
    int pace_near;               /* under the rule Jira's quota signals set (wk_pace_note) */
    pace_rule_t rule;            /* the pacing rule applied */
    /* PREPARE .. UPSTREAM (reset when the call runs again after a refresh) */
    json_t *wargs;               /* the arguments prepared and resolved: pre-steps write into them */
    int first;                   /* the next request is the call's first, sent from PREPARE */
    json_t *fieldlist;           /* the site's fields while contexts are looked up (own reference) */
    json_t *need;                /* ids of same-name fields whose project context is looked up */
    size_t need_i;               /* the next of them */
    size_t step;                 /* next resolve step */
    int desk_checked;            /* config.projects: the desk's project was checked */
    int issue_checked;           /* config.projects: bit 1 scope_issue, bit 2 scope_issue2 checked */
    enum wk_scope_check checking;/* the pre-check in flight */
    const char *checking_arg;    /* and the argument it checks */
    json_t *payload;             /* the upstream payload the result shares values with (freed after the answer) */
    /* IDEM_STORE .. ANSWER */
    json_t *response;            /* the answer, held until its audit record is safe (wk_audit.h): */
    wk_tool_result_t *result;    /* a JSON-RPC error, or the envelope of this tool result */
} wk_call_t;

static void (*trace_fn)(enum wk_call_state s, void *ud);
static void *trace_ud;

void wk_call_trace(void (*fn)(enum wk_call_state s, void *ud), void *ud)
{
    trace_fn = fn;
    trace_ud = ud;
}

const char *wk_call_state_name(enum wk_call_state s)
{
    static const char *const names[] = {"confirm", "idem", "idem_read", "account", "refresh", "pace", "prepare", "fields",
                                        "contexts", "steps", "upstream", "idem_store", "audit", "answer", "done"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static void enter(wk_call_t *c, enum wk_call_state s)
{
    c->state = s;
    if (s >= WK_CALL_IDEM_STORE && c->push) {
        /* The answer is decided: too late to cancel, nothing more to report. */
        wk_push_on_cancel(c->push, NULL, NULL);
        c->push = NULL;
    }
    if (trace_fn)
        trace_fn(s, trace_ud);
}

/* ---- the worker's io ---- */

static int io_redis(wk_worker_t *w, rcli_cb cb, void *ud, int argc, const char **argv, const size_t *lens)
{
    return rcli_command_argv(w->redis, cb, ud, argc, argv, lens);
}

static int io_send(wk_worker_t *w, const httpc_request_t *rq, httpc_cb cb, void *ud)
{
    return httpc_request(w->httpc, rq, cb, ud);
}

static size_t io_cancel(wk_worker_t *w, void *ud)
{
    return httpc_cancel(w->httpc, ud);
}

const wk_call_io_t wk_call_io_default = {
    .redis = io_redis,
    .account = wk_store_account,
    .refresh = wk_refresh_wait,
    .pace = wk_pace_take,
    .send = io_send,
    .audit_ready = wk_audit_ready,
    .audit = wk_audit_append,
    .cancel = io_cancel,
    .ask = wk_push_request,
};

static int redis_cmd(wk_call_t *c, rcli_cb cb, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    c->waiting = 1;
    if (c->io->redis(c->w, cb, c, argc, argv, lens) == 0)
        return 0;
    c->waiting = 0;
    return -1;
}

/* ---- the end of a call: its answer, then IDEM_STORE, AUDIT, ANSWER ---- */

static void finish(wk_call_t *c, json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl,
                   int status)
{
    if (c->cancelled) {
        /* Whatever ended the wait the cancel came in: the record says
         * cancelled, and the client hears nothing. The response (an error,
         * so no idempotency record keeps it) is only the audit's. */
        json_decref(response);
        wk_result_free(result);
        response = wk_rpc_error(c->id, WK_RPC_INTERNAL, "the client cancelled the call", NULL);
        c->response = response;
        c->result = NULL;
        c->rec.status = 0;
        c->rec.cls = "cancelled";
        enter(c, WK_CALL_IDEM_STORE);
        return;
    }
    c->response = response;
    c->result = result;
    /* The text is written now, once, so that the audit record counts the
     * bytes the model gets (a result too large to write fails at the
     * answer, as before). */
    if (result)
        (void)wk_result_render(result);
    c->rec.status = status;
    c->rec.cls = wk_callrec_error_class(result, rl, status);
    if (rl) {
        c->rec.rl = *rl;
        c->rec.has_rl = 1;
    }
    enter(c, WK_CALL_IDEM_STORE);
}

/* The end of the upstream part (a result, or a pre-step's failure): an
 * OAuth call refused with 401 waits for a refreshed token and runs again
 * once; anything else is the answer. */
static void upstream_end(wk_call_t *c, wk_tool_result_t *result, const wk_upstream_meta_t *rl, int status)
{
    wk_upstream_meta_t none;
    if (!rl) {
        memset(&none, 0, sizeof none);
        rl = &none;
    }
    wk_pace_note(c->w, c->rec.account_id, rl, uv_now(c->w->loop));
    if (status == 401 && c->acct.oauth && !c->refreshed) {
        wk_result_free(result);
        enter(c, WK_CALL_REFRESH);
        return;
    }
    finish(c, wk_rpc_envelope(c->id), result, rl, status);
}

static void step_end(wk_call_t *c, int status, const char *msg, const char *hint, int upstream_status)
{
    upstream_end(c, wk_result_step_error(c->tool, status, msg, hint), NULL, upstream_status);
}

/* ---- CONFIRM ---- */

#define CONFIRM_VALUE_MAX 200   /* characters of one argument shown */
#define CONFIRM_TEXT_MAX 4000   /* the whole message */

/* Does this call ask the user first? config.confirm_writes: true = every
 * write tool, false = none, absent = the destructive ones. */
static int needs_confirm(const wk_push_t *push, const wk_tool_t *t, const json_t *config)
{
    if (!push || !(push->caps & WK_CAP_ELICIT) || !(t->kind & WK_KIND_WRITE))
        return 0;
    const json_t *cw = json_object_get(config, "confirm_writes");
    if (json_is_boolean(cw))
        return json_is_true(cw);
    return json_is_true(json_object_get(json_object_get(t->listed, "annotations"), "destructiveHint"));
}

/* The form: what will change (the tool, then each argument as given,
 * shortened), and one boolean to confirm. */
static json_t *confirm_params(const wk_call_t *c)
{
    buf_t b;
    buf_init(&b, CONFIRM_TEXT_MAX);
    const char *title = jsontext_str(c->tool->listed, "title");
    buf_printf(&b, "Confirm this change in Jira Service Management.\nTool: %s (%s)", title ? title : c->tool->name,
               c->tool->name);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)c->args, k, v) {
        if (strcmp(k, "idempotency_key") == 0)
            continue;
        char *dump = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *s = dump ? dump : json_string_value(v);
        size_t n = strlen(s ? s : "");
        buf_printf(&b, "\n%.64s: %.*s%s", k, (int)(n > CONFIRM_VALUE_MAX ? CONFIRM_VALUE_MAX : n), s ? s : "",
                   n > CONFIRM_VALUE_MAX ? "..." : "");
        free(dump);
    }
    if (!buf_ok(&b)) { /* over the bound: the arguments so far are enough to decide on */
        buf_free(&b);
        buf_init(&b, CONFIRM_TEXT_MAX);
        buf_printf(&b, "Confirm this change in Jira Service Management.\nTool: %s (its arguments are too long "
                   "to show)", c->tool->name);
    }
    json_t *params = json_pack("{s:s%,s:{s:s,s:{s:{s:s,s:s,s:s,s:b}},s:[s]}}", "message", b.data ? b.data : "",
                               b.data ? b.len : 0, "requestedSchema", "type", "object", "properties", "confirm",
                               "type", "boolean", "title", "Apply this change", "description",
                               "Yes: the tool runs and changes JSM. No: nothing is changed.", "default", 1,
                               "required", "confirm");
    buf_free(&b);
    return params;
}

/* The call ends before it did anything: the user said no (or could not be
 * asked). The idempotency key is not the call's yet (IDEM comes after). */
static void confirm_refused(wk_call_t *c, const char *msg)
{
    c->idem_key[0] = 0;
    finish(c, wk_rpc_envelope(c->id), wk_result_tool_error(c->tool, "declined", msg), NULL, 0);
    if (!c->cancelled)
        c->rec.cls = "declined";
}

static void call_step(wk_call_t *c);

static void on_confirm(const json_t *result, const char *err, void *ud)
{
    wk_call_t *c = ud;
    c->waiting = 0;
    const char *action = jsontext_str(result, "action");
    const json_t *yes = json_object_get(json_object_get(result, "content"), "confirm");
    if (action && strcmp(action, "accept") == 0 && !json_is_false(yes)) {
        enter(c, c->after_confirm);
    } else if (action && (strcmp(action, "decline") == 0 || strcmp(action, "accept") == 0)) {
        confirm_refused(c, "the user declined this change: nothing was changed in JSM. Hint: Ask the user what "
                           "to change, or leave it.");
    } else {
        char msg[300];
        snprintf(msg, sizeof msg, "the change was not confirmed (%s): nothing was changed in JSM. Hint: Ask the user "
                 "before calling again.", err ? err : "the user dismissed the question");
        confirm_refused(c, msg);
    }
    call_step(c);
}

static void do_confirm(wk_call_t *c)
{
    c->waiting = 1;
    if (c->io->ask(c->push, "elicitation/create", confirm_params(c), WK_CALL_CONFIRM_MS, on_confirm, c) == 0)
        return;
    c->waiting = 0;
    confirm_refused(c, "the user's confirmation could not be asked for (the client takes no event stream on this "
                       "request): nothing was changed in JSM. Hint: Call again from a client that accepts "
                       "text/event-stream, or ask the operator to set confirm_writes false.");
}

/* ---- IDEM, IDEM_READ ---- */

/* The key was taken (reply: its record; NULL: Redis failed): the answer
 * comes from the record (wk_idem.h), which stays as it is. */
static void idem_answer(wk_call_t *c, const redisReply *reply)
{
    const char *sha = wk_callrec_args_hash(&c->rec, c->args);
    wk_tool_result_t *result;
    c->idem_key[0] = 0;
    json_t *response = wk_idem_answer(reply, sha, c->id, c->tool->name, &result);
    finish(c, response, result, NULL, 0);
}

static void on_idem_set(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    wk_call_t *c = ud;
    c->waiting = 0;
    if (reply && reply->type == REDIS_REPLY_STATUS)
        enter(c, WK_CALL_ACCOUNT);
    else if (reply && reply->type == REDIS_REPLY_NIL)
        enter(c, WK_CALL_IDEM_READ);
    else
        idem_answer(c, NULL);
    call_step(c);
}

static void on_idem_get(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    wk_call_t *c = ud;
    c->waiting = 0;
    idem_answer(c, reply);
    call_step(c);
}

/* ---- ACCOUNT, REFRESH, PACE ---- */

static void account_copy(wk_call_t *c, const wk_account_t *a)
{
    wk_account_clear(&c->acct);
    c->acct = *a;
    c->acct.base_url = a->base_url ? mem_strdup(a->base_url) : NULL;
    c->acct.user = NULL;
    c->acct.auth_header = a->auth_header ? mem_strdup(a->auth_header) : NULL;
}

/* The account read (or refreshed): a failure is a tool-level error the
 * agent can report; an expired OAuth token waits for a refresh; a pacing
 * rule takes its token; else the upstream part begins. */
static void on_account(int rc, const wk_account_t *acct, const char *err, void *ud)
{
    wk_call_t *c = ud;
    c->waiting = 0;
    if (rc != 1) {
        /* The account is gone, unreadable or must be reconnected, or no
         * refreshed token came (rc -2). */
        const char *msg = err ? err : "the JSM account of this MCP server is not available.";
        const char *reason = rc == -2 ? "token_refresh_pending"
                             : strstr(msg, "must reconnect") ? "needs_reauth" : "account_unavailable";
        finish(c, wk_rpc_envelope(c->id), wk_result_tool_error(c->tool, reason, msg), NULL, 0);
        call_step(c);
        return;
    }
    account_copy(c, acct);
    if (acct->oauth && acct->expires_at_ms > 0 && acct->expires_at_ms <= clock_now_ms() && !c->refreshed) {
        enter(c, WK_CALL_REFRESH);
        call_step(c);
        return;
    }
    pace_rule_t own = {.per_s = acct->pace_per_s, .burst = acct->pace_burst}, near;
    const pace_rule_t *rule = acct->pace_set ? &own
                              : acct->oauth  ? &c->w->cfg->pace_oauth
                                             : &c->w->cfg->pace_api_token;
    /* Jira said the quota is nearly spent: the stricter of the two rules. */
    c->pace_near = wk_pace_near(c->rec.account_id, uv_now(c->w->loop), &near) &&
                   (rule->per_s <= 0 || near.per_s < rule->per_s);
    if (c->pace_near)
        rule = &near;
    if (rule->per_s > 0 && !c->paced) {
        c->paced = 1;
        c->rule = *rule;
        enter(c, WK_CALL_PACE);
    } else {
        enter(c, WK_CALL_PREPARE);
    }
    call_step(c);
}

/* The pacing answer: a refused call ends here like an upstream 429 (no
 * upstream request); an allowed one reads the account again (the cache
 * answers at once) and runs. */
static void on_paced(int rc, long wait_ms, void *ud)
{
    wk_call_t *c = ud;
    c->waiting = 0;
    if (rc != 0) {
        enter(c, WK_CALL_ACCOUNT);
        call_step(c);
        return;
    }
    wk_upstream_meta_t rl;
    memset(&rl, 0, sizeof rl);
    rl.limited = 1;
    rl.retry_after_s = rl.reset_s = wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000;
    snprintf(rl.limit, sizeof rl.limit, "%ld", c->rule.burst);
    snprintf(rl.remaining, sizeof rl.remaining, "0");
    snprintf(rl.reason, sizeof rl.reason, "%s", c->pace_near ? WK_PACE_REASON_NEAR : "jsmcp-pacing");
    metrics_inc(c->w->metrics, "jsmcp_worker_paced_total", "", 1);
    finish(c, wk_rpc_envelope(c->id), wk_result_paced(c->tool, &rl), &rl, 0);
    call_step(c);
}

/* ---- upstream requests ---- */

/* Sends rq (built when rc is 0; else err says why) with the call's
 * headers and the extra ones of its catalog row http (binary: the answer
 * is a file), and clears it. 0, -1 (not built) or -2 (not sent). */
static int send_req(wk_call_t *c, int rc, wk_request_t *rq, const json_t *http, int binary, httpc_cb cb,
                    char *err, size_t errsz)
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
    rc = c->io->send(c->w, &hr, cb, c);
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
static int send_get(wk_call_t *c, const char *path, const json_t *query, httpc_cb cb, char *err, size_t errsz)
{
    wk_request_t rq;
    json_t *http = json_pack("{s:s,s:s}", "method", "GET", "path", path);
    if (query)
        json_object_set(http, "query", (json_t *)query);
    int rc = wk_request_build_step(http, NULL, c->tool->name, c->wargs, c->acct.base_url, &rq, err, errsz);
    rc = send_req(c, rc, &rq, NULL, 0, cb, err, errsz);
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
        upstream_end(c, res, &rl, resp->status);
        return -1;
    }
    *body = jsontext_parse(resp->body, resp->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr);
    return 0;
}

/* The call's first request could not be sent: a JSON-RPC error, as when
 * the tool could not run at all. A paged or upload tool whose arguments do
 * not build (a forged cursor, content that is not base64) is the client's
 * error. */
static void first_failed(wk_call_t *c, int rc, const char *err)
{
    int code = WK_RPC_INTERNAL;
    char why[400];
    wk_request_t probe;
    if (rc == -1 && (c->tool->paging || c->tool->multipart)) {
        if (wk_request_build(c->tool, c->args, c->acct.base_url, &probe, why, sizeof why) != 0) {
            finish(c, wk_rpc_error(c->id, WK_RPC_INVALID_PARAMS, why, NULL), NULL, NULL, 0);
            return;
        }
        wk_request_clear(&probe);
    }
    finish(c, wk_rpc_error(c->id, code, err, NULL), NULL, NULL, 0);
}

/* ---- PREPARE ---- */

static void got_fields(wk_call_t *c, const json_t *fields);

/* Starts (or starts again after a refresh) the upstream part: the
 * arguments the schema cannot check, the pure pre-step with the cached
 * field list, then the first request. */
static void do_prepare(wk_call_t *c)
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
            finish(c, wk_rpc_error(c->id, WK_RPC_INVALID_PARAMS, why, NULL), NULL, NULL, 0);
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
                finish(c, wk_rpc_error(c->id, WK_RPC_INVALID_PARAMS, perr, NULL), NULL, NULL, 0);
                return;
            }
            wk_request_clear(&probe);
        }
        step_end(c, 400, why, "Fix the argument and call again.", 0);
        return;
    }
    if (fields) {
        got_fields(c, fields);
        return;
    }
    c->first = !(pre && !fl); /* the tool's own request, or the field list */
    enter(c, fl ? WK_CALL_FIELDS : pre ? WK_CALL_STEPS : WK_CALL_UPSTREAM);
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
        enter(c, WK_CALL_STEPS);
        return;
    }
    if (json_array_size(need) > 0) {
        c->need = need;
        c->fieldlist = json_incref((json_t *)fields);
        enter(c, WK_CALL_CONTEXTS);
        return;
    }
    json_decref(need);
    step_end(c, 400, err, "Fix the argument and call again.", 0);
}

static void on_fields(const httpc_response_t *resp, void *ud)
{
    wk_call_t *c = ud;
    json_t *fields;
    c->waiting = 0;
    if (step_parse(c, resp, &fields) == 0) {
        if (!json_is_array(fields)) {
            step_end(c, 502, "the site's field list (/rest/api/3/field) is unreadable", "Try again later.",
                     resp->status);
        } else {
            wk_fieldcache_put(c->w->fields, c->rec.account_id, fields, uv_now(c->w->loop));
            got_fields(c, fields);
        }
        json_decref(fields);
    }
    call_step(c);
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
static void on_context(const httpc_response_t *resp, void *ud)
{
    wk_call_t *c = ud;
    char perr[128];
    c->waiting = 0;
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
    call_step(c);
}

/* Looks up the next field's context, then the keys of the projects found
 * (wk_fieldctx.h). */
static void do_contexts(wk_call_t *c)
{
    char err[400], path[128];
    const char *id = wk_fieldctx_next(c->fieldlist, c->need, &c->need_i);
    if (id) {
        snprintf(path, sizeof path, "/rest/api/3/field/%s/context/projectmapping", id);
        if (send_get(c, path, NULL, on_context, err, sizeof err) != 0)
            step_end(c, 0, err, "Try again in a few seconds.", 0);
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
    int rc = send_get(c, "/rest/api/3/project/search", query, on_context, err, sizeof err);
    json_decref(query);
    json_object_del(c->wargs, "_project_ids");
    if (rc != 0)
        step_end(c, 0, err, "Try again in a few seconds.", 0);
}

/* ---- STEPS: config.projects pre-checks, then the catalog's resolve steps ---- */

static void on_resolve(const httpc_response_t *resp, void *ud)
{
    wk_call_t *c = ud;
    json_t *body;
    char msg[3000];
    const char *hint;
    c->waiting = 0;
    if (step_parse(c, resp, &body) == 0) {
        int st = wk_steps_answer(json_array_get(c->tool->resolve, c->step - 1), c->wargs, body, msg, sizeof msg,
                                 &hint);
        if (st)
            step_end(c, st, msg, hint, resp->status);
        json_decref(body);
    }
    call_step(c);
}

static void on_scope_check(const httpc_response_t *resp, void *ud)
{
    wk_call_t *c = ud;
    json_t *item;
    char msg[300];
    const char *hint;
    c->waiting = 0;
    if (step_parse(c, resp, &item) == 0) {
        if (wk_scope_check_answer(c->checking, json_object_get(c->config, "projects"), item, c->checking_arg,
                                  jsontext_str(c->wargs, c->checking_arg), msg, sizeof msg, &hint))
            step_end(c, 403, msg, hint, resp->status);
        json_decref(item);
    }
    call_step(c);
}

/* Sends the config.projects pre-check k (wk_scope.h) for argument arg. */
static void scope_check(wk_call_t *c, enum wk_scope_check k, const char *arg)
{
    char path[160], err[400];
    c->checking = k;
    c->checking_arg = arg;
    wk_scope_check_path(k, arg, path, sizeof path);
    json_t *query = k == WK_SCOPE_CHECK_ISSUE ? json_pack("{s:s}", "fields", "project") : NULL;
    int rc = send_get(c, path, query, on_scope_check, err, sizeof err);
    json_decref(query);
    if (rc != 0)
        step_end(c, 0, err, "Try again in a few seconds.", 0);
}

/* Sends the next pending pre-step: the scope pre-checks, resolve steps in
 * order; none left: on to the tool's own request. */
static void do_steps(wk_call_t *c)
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
        rc = send_req(c, rc, &rq, step, 0, on_resolve, err, sizeof err);
        if (rc != 0)
            step_end(c, rc == -1 ? 400 : 0, err, "Try again in a few seconds.", 0);
        return;
    }
    enter(c, WK_CALL_UPSTREAM);
}

/* ---- UPSTREAM: the tool's own request ---- */

static void on_main(const httpc_response_t *resp, void *ud)
{
    wk_call_t *c = ud;
    wk_upstream_meta_t rl;
    c->waiting = 0;
    json_decref(c->payload);
    c->payload = NULL;
    wk_tool_result_t *res = wk_result_upstream_payload(c->tool, c->wargs, c->config, resp, &rl, &c->payload);
    wk_result_note_upstream(resp, &rl);
    upstream_end(c, res, &rl, resp->status);
    call_step(c);
}

static void do_upstream(wk_call_t *c)
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
    rc = send_req(c, rc, &rq, t->http, t->binary_max != 0, on_main, err, sizeof err);
    if (rc == 0)
        return;
    if (c->first)
        first_failed(c, rc, err);
    else
        step_end(c, rc == -1 ? 400 : 0, err, "Try again in a few seconds.", 0);
}

static void do_fields(wk_call_t *c)
{
    char err[400];
    int rc = send_get(c, "/rest/api/3/field", NULL, on_fields, err, sizeof err);
    if (rc != 0)
        finish(c, wk_rpc_error(c->id, WK_RPC_INTERNAL, err, NULL), NULL, NULL, 0);
}

/* ---- IDEM_STORE, AUDIT, ANSWER ---- */

static void on_idem_stored(redisReply *reply, const char *err, void *ud)
{
    (void)reply;
    (void)err; /* a lost record only costs a retry its replay, as before */
    wk_call_t *c = ud;
    c->waiting = 0;
    enter(c, WK_CALL_AUDIT);
    call_step(c);
}

/* The idempotency record after the call: the result for a success, gone
 * after a failure (so a retry may try again). The answer waits for Redis
 * to take it: an agent that retries as soon as it has the answer may
 * reach another worker process, whose SET NX must already find the result,
 * not "pending". Without a record to write, or with Redis unavailable, the
 * audit record is next at once. */
static void do_idem_store(wk_call_t *c)
{
    if (!c->idem_key[0]) {
        enter(c, WK_CALL_AUDIT);
        return;
    }
    int rc;
    buf_t b;
    buf_init(&b, WK_IDEM_MAX + 128);
    if (wk_idem_value(c->result, wk_callrec_args_hash(&c->rec, c->args), &b) == 0) {
        char ttl[32];
        snprintf(ttl, sizeof ttl, "%lld", WK_IDEM_TTL_MS);
        const char *argv[] = {"SET", c->idem_key, b.data, "PX", ttl};
        size_t lens[] = {3, strlen(c->idem_key), b.len, 2, strlen(ttl)};
        c->waiting = 1;
        rc = c->io->redis(c->w, on_idem_stored, c, 5, argv, lens);
    } else {
        const char *argv[] = {"DEL", c->idem_key};
        rc = redis_cmd(c, on_idem_stored, 2, argv);
    }
    buf_free(&b);
    if (rc != 0) {
        c->waiting = 0;
        enter(c, WK_CALL_AUDIT);
    }
}

/* The audit record is safe (in the spool, or in Redis; wk_audit.h): now
 * the client gets its answer, so no answered call can miss its record. One
 * that could not be made durable in time gets an error instead of its
 * result. */
static void on_audited(void *ud, int durable)
{
    wk_call_t *c = ud;
    c->waiting = 0;
    if (!durable) {
        json_decref(c->response);
        wk_result_free(c->result);
        c->result = NULL;
        c->response = wk_rpc_error(c->id, WK_RPC_INTERNAL,
                                   "the call ran, but its audit record could not be stored (the audit store refuses "
                                   "writes): its result is withheld. Check the audit log before calling again.",
                                   NULL);
    }
    enter(c, WK_CALL_ANSWER);
    call_step(c);
}

static void do_audit(wk_call_t *c)
{
    wk_callrec_argv_t a;
    wk_callrec_audit_argv(c->w->redis, &c->rec, c->args, c->result, &a);
    c->waiting = 1;
    c->io->audit(c->w, a.argc, a.argv, on_audited, c);
}

static void call_step(wk_call_t *c);

static void answer_later(defer_entry_t *e)
{
    wk_call_t *c = (wk_call_t *)((char *)e - offsetof(wk_call_t, later));
    c->waiting = 0;
    call_step(c);
}

static void do_answer(wk_call_t *c)
{
    if (c->starting) {
        /* Known before wk_call_start returns (a refusal, an answer from a
         * record): done runs from the loop, as every callback does. */
        c->waiting = 1;
        defer_call(&c->w->defer, c->w->loop, &c->later, answer_later);
        return;
    }
    json_t *response = c->response;
    wk_tool_result_t *result = c->result;
    c->response = NULL;
    c->result = NULL;
    if (c->cancelled) {
        json_decref(response);
        wk_result_free(result);
        response = NULL;
        result = NULL;
    }
    c->done(response, result, c->rec.has_rl ? &c->rec.rl : NULL, c->ud);
    if (!c->unrecorded)
        wk_callrec_observe(c->w, &c->rec); /* after the answer went out: not on the caller's clock */
    enter(c, WK_CALL_DONE);
}

/* ---- the machine ---- */

/* The one place a call is freed. */
static void call_free(wk_call_t *c)
{
    json_decref(c->id);
    json_decref(c->args);
    json_decref(c->config);
    json_decref(c->wargs);
    json_decref(c->fieldlist);
    json_decref(c->need);
    json_decref(c->payload);
    json_decref(c->response);
    wk_result_free(c->result);
    wk_account_clear(&c->acct);
    free(c);
}

/* notifications/cancelled for this call (wk_push_on_cancel; only until
 * IDEM_STORE). A transfer in flight is dropped and the call ends now;
 * another wait (Redis, the account, a refresh, pacing) ends first, and
 * call_step ends the call then, before any upstream request. */
static void call_cancel(void *ud)
{
    wk_call_t *c = ud;
    c->cancelled = 1;
    metrics_inc(c->w->metrics, "jsmcp_worker_calls_cancelled_total", "", 1);
    if (c->waiting && c->io->cancel(c->w, c) > 0) {
        c->waiting = 0;
        call_step(c);
    }
}

/* Runs the current state's action until the call waits for a callback or
 * is done. A callback that comes from inside an action (an io function
 * answering at once) only moves the state: this loop goes on with it. */
static void call_step(wk_call_t *c)
{
    if (c->stepping)
        return;
    c->stepping = 1;
    while (!c->waiting && c->state != WK_CALL_DONE) {
        if (c->cancelled && c->state < WK_CALL_IDEM_STORE) {
            if (c->state <= WK_CALL_IDEM_READ)
                c->idem_key[0] = 0; /* the key is another call's, or not taken yet */
            finish(c, NULL, NULL, NULL, 0);
            continue;
        }
        switch (c->state) {
        case WK_CALL_CONFIRM:
            do_confirm(c);
            break;
        case WK_CALL_IDEM: {
            char ttl[32];
            snprintf(ttl, sizeof ttl, "%lld", WK_IDEM_PENDING_MS);
            const char *argv[] = {"SET", c->idem_key, "pending", "NX", "PX", ttl};
            if (redis_cmd(c, on_idem_set, 6, argv) != 0)
                idem_answer(c, NULL);
            break;
        }
        case WK_CALL_IDEM_READ: {
            const char *argv[] = {"GET", c->idem_key};
            if (redis_cmd(c, on_idem_get, 2, argv) != 0)
                idem_answer(c, NULL);
            break;
        }
        case WK_CALL_ACCOUNT:
            c->waiting = 1;
            c->io->account(c->w, c->rec.account_id, on_account, c);
            break;
        case WK_CALL_REFRESH:
            c->refreshed = 1;
            c->waiting = 1;
            c->io->refresh(c->w, c->rec.account_id, c->acct.cred_version, on_account, c);
            break;
        case WK_CALL_PACE:
            c->waiting = 1;
            c->io->pace(c->w, c->rec.account_id, &c->rule, on_paced, c);
            break;
        case WK_CALL_PREPARE:
            do_prepare(c);
            break;
        case WK_CALL_FIELDS:
            do_fields(c);
            break;
        case WK_CALL_CONTEXTS:
            c->first = 0;
            do_contexts(c);
            break;
        case WK_CALL_STEPS:
            c->first = 0;
            do_steps(c);
            break;
        case WK_CALL_UPSTREAM:
            do_upstream(c);
            c->first = 0;
            break;
        case WK_CALL_IDEM_STORE:
            do_idem_store(c);
            break;
        case WK_CALL_AUDIT:
            do_audit(c);
            break;
        case WK_CALL_ANSWER:
            do_answer(c);
            break;
        case WK_CALL_DONE:
            break;
        }
    }
    c->stepping = 0;
    if (c->state == WK_CALL_DONE)
        call_free(c);
}

void wk_call_start(wk_worker_t *w, const wk_call_io_t *io, const wk_server_t *srv, wk_push_t *push, const json_t *id,
                   const wk_tool_t *tool, json_t *args, const char *request_id, const char *traceparent,
                   wk_call_done_fn done, void *ud)
{
    if (!io)
        io = &wk_call_io_default;
    wk_call_t *c = mem_calloc(1, sizeof *c);
    c->w = w;
    c->io = io;
    c->done = done;
    c->ud = ud;
    c->starting = 1;
    if (!io->audit_ready(w)) {
        /* No durable place for the record (Redis refuses writes and the
         * spool is full or off): the call is not made at all. */
        metrics_inc(w->metrics, "jsmcp_worker_audit_calls_refused_total", "", 1);
        json_decref(args);
        c->response = wk_rpc_error(id, WK_RPC_INTERNAL,
                                   "the audit log cannot take records right now (its store refuses writes): nothing "
                                   "was done. Call again in a few seconds.",
                                   NULL);
        c->unrecorded = 1;
        c->state = WK_CALL_ANSWER;
        call_step(c);
        c->starting = 0;
        return;
    }
    c->id = json_deep_copy(id);
    c->tool = tool;
    c->args = args;
    c->config = srv->config ? json_incref((json_t *)srv->config) : NULL;
    c->rec.tool = tool->name;
    c->rec.cls = "";
    str_copy(c->rec.server_id, sizeof c->rec.server_id, srv->id);
    str_copy(c->rec.workspace_id, sizeof c->rec.workspace_id, srv->workspace_id);
    str_copy(c->rec.account_id, sizeof c->rec.account_id, srv->account_id);
    str_copy(c->rec.request_id, sizeof c->rec.request_id, request_id ? request_id : "");
    if (traceparent && strlen(traceparent) >= 35) { /* "00-<32 hex>-..." from httpd_req_child_traceparent */
        str_copy(c->rec.traceparent, sizeof c->rec.traceparent, traceparent);
        memcpy(c->rec.trace_id, traceparent + 3, 32);
    }
    if (c->rec.request_id[0])
        str_join(c->rid_header, sizeof c->rid_header, "X-Request-Id: ", c->rec.request_id, NULL);
    if (c->rec.traceparent[0])
        str_join(c->trace_header, sizeof c->trace_header, "traceparent: ", c->rec.traceparent, NULL);
    c->rec.t0 = clock_mono_ns();
    c->rec.ts_ms = clock_now_ms();
    c->state = WK_CALL_ACCOUNT;
    const char *ikey = (tool->kind & WK_KIND_WRITE) ? jsontext_str(args, "idempotency_key") : NULL;
    if (ikey) {
        c->state = WK_CALL_IDEM;
        if (wk_idem_key(w->redis, c->rec.server_id, tool->name, ikey, c->idem_key, sizeof c->idem_key) != 0) {
            idem_answer(c, NULL); /* out of memory: answers "try again", runs nothing */
            call_step(c);
            c->starting = 0;
            return;
        }
    }
    if (push) {
        c->push = push;
        wk_push_on_cancel(push, call_cancel, c);
    }
    if (needs_confirm(push, tool, c->config)) {
        c->after_confirm = c->state;
        c->state = WK_CALL_CONFIRM;
    }
    enter(c, c->state);
    call_step(c);
    c->starting = 0;
}
