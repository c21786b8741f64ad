/* wk_call: see wk_call.h; how its files divide the work: wk_call_int.h.
 * This one is the machine: call_step(), the io callbacks that move a call
 * on, the states that talk to Redis, the account store and the audit log,
 * and the one place a call is freed. */
#include "wk_call_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "jsontext.h"
#include "wk_audit.h"
#include "wk_callrec.h"
#include "wk_idem.h"
#include "wk_pace.h"
#include "wk_refresh.h"
#include "wk_rpc.h"
#include "wk_store.h"

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

static void call_step(wk_call_t *c);

/* ---- the answers of the stages' io: handed to the stage, then the machine moves on ---- */

static void on_confirm(const json_t *result, const char *err, void *ud)
{
    wk_call_t *c = ud;
    c->waiting = 0;
    wk_call_confirm_answer(c, result, err);
    call_step(c);
}

static void on_http(const httpc_response_t *resp, void *ud)
{
    wk_call_t *c = ud;
    c->waiting = 0;
    wk_call_http_answer(c, resp);
    call_step(c);
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
    wk_call_finish(c, response, result, NULL, 0);
}

static void on_idem_set(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    wk_call_t *c = ud;
    c->waiting = 0;
    if (reply && reply->type == REDIS_REPLY_STATUS)
        wk_call_enter(c, WK_CALL_ACCOUNT);
    else if (reply && reply->type == REDIS_REPLY_NIL)
        wk_call_enter(c, WK_CALL_IDEM_READ);
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
        wk_call_finish(c, wk_rpc_envelope(c->id), wk_result_tool_error(c->tool, reason, msg), NULL, 0);
        call_step(c);
        return;
    }
    account_copy(c, acct);
    if (acct->oauth && acct->expires_at_ms > 0 && acct->expires_at_ms <= clock_now_ms() && !c->refreshed) {
        wk_call_enter(c, WK_CALL_REFRESH);
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
        wk_call_enter(c, WK_CALL_PACE);
    } else {
        wk_call_enter(c, WK_CALL_PREPARE);
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
        wk_call_enter(c, WK_CALL_ACCOUNT);
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
    wk_call_finish(c, wk_rpc_envelope(c->id), wk_result_paced(c->tool, &rl), &rl, 0);
    call_step(c);
}

/* ---- IDEM_STORE, AUDIT, ANSWER ---- */

static void on_idem_stored(redisReply *reply, const char *err, void *ud)
{
    (void)reply;
    (void)err; /* a lost record only costs a retry its replay, as before */
    wk_call_t *c = ud;
    c->waiting = 0;
    wk_call_enter(c, WK_CALL_AUDIT);
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
        wk_call_enter(c, WK_CALL_AUDIT);
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
        wk_call_enter(c, WK_CALL_AUDIT);
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
    wk_call_enter(c, WK_CALL_ANSWER);
    call_step(c);
}

static void do_audit(wk_call_t *c)
{
    wk_callrec_argv_t a;
    wk_callrec_audit_argv(c->w->redis, &c->rec, c->args, c->result, &a);
    c->waiting = 1;
    c->io->audit(c->w, a.argc, a.argv, on_audited, c);
}

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
    wk_call_enter(c, WK_CALL_DONE);
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
            wk_call_finish(c, NULL, NULL, NULL, 0);
            continue;
        }
        switch (c->state) {
        case WK_CALL_CONFIRM:
            wk_call_confirm_ask(c, on_confirm);
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
            wk_call_prepare(c);
            break;
        case WK_CALL_FIELDS:
            wk_call_fields(c);
            break;
        case WK_CALL_CONTEXTS:
            c->first = 0;
            wk_call_contexts(c);
            break;
        case WK_CALL_STEPS:
            c->first = 0;
            wk_call_steps(c);
            break;
        case WK_CALL_UPSTREAM:
            wk_call_upstream(c);
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
    c->on_http = on_http;
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
    if (wk_call_confirm_needed(push, tool, c->config)) {
        c->after_confirm = c->state;
        c->state = WK_CALL_CONFIRM;
    }
    wk_call_enter(c, c->state);
    call_step(c);
    c->starting = 0;
}
