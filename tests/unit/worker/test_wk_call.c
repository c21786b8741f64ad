/* The call's state machine (wk_call.h) driven with fake io: every state a
 * call passes through is recorded (wk_call_trace), so each test asserts the
 * path, including every failure edge, and the answer. The fakes answer
 * either later (a queue the test drains, as Redis and httpc do) or from
 * inside the io function (as a cache hit or the audit spool do), and both
 * must give the same path and answer. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "secret.h"
#include "wk_call.h"
#include "wk_callrec.h"
#include "wk_request.h"
#include "wk_worker.h"

/* ---- the fake io ---- */

enum { Q_REDIS, Q_ACCOUNT, Q_PACE, Q_SEND, Q_AUDIT, Q_ASK, Q_KINDS };

typedef struct job_s {
    int kind;
    int ord;                   /* the how-manieth job of its kind */
    void *cb, *ud;
    int rc;
    long wait_ms;
    redisReply reply;
    int has_reply;
    httpc_response_t resp;
} job_t;

static struct {
    int sync;                  /* answer from inside the io function */
    job_t q[16];
    int nq;
    /* scripts */
    int idem_set;              /* REDIS_REPLY_STATUS, REDIS_REPLY_NIL or -1 (Redis down) */
    const char *idem_get;      /* the record a GET finds, NULL = nil */
    int acct_rc[4];            /* successive account reads (the refresh's answer included) */
    int nacct;
    int oauth;
    long long expires_at_ms;
    int pace_rc;
    long pace_wait;
    int send_refuse;           /* httpc refuses the next request */
    int status[8];
    const char *body[8];
    int nsend;
    int audit_ready, audit_durable;
    /* what happened */
    char trace[512];
    char redis[256];           /* the commands, "SET NX,GET,..." */
    char urls[1024];           /* "GET url\n" per request */
    int answers;
    int hold;                  /* a kind queued even in sync mode (the io a cancel comes during), -1 none */
    int pushed[Q_KINDS];       /* jobs of each kind so far */
    int cancelled;             /* transfers fake_cancel dropped */
    char audit_class[32];      /* the audit record's error_class */
    char progress[1024];       /* "progress|message\n" per progress notification */
    unsigned caps;             /* the client's capabilities (WK_CAP_*) */
    const char *ask_action;    /* the client's answer to elicitation/create; NULL: err (timeout) */
    int ask_confirm;           /* content.confirm of an accept: 1, 0 (false) */
    int ask_refuse;            /* the request cannot be sent */
    char ask_msg[2048];        /* its message */
    json_t *response;
    int had_rl;
    wk_upstream_meta_t rl;
} F;

static wk_worker_t W;
static wk_config_t CFG;
static uv_loop_t LOOP;
static wk_account_t ACCT;

static void run(job_t *j);

static void push(job_t *j)
{
    j->ord = ++F.pushed[j->kind];
    if (F.sync && j->kind != F.hold) {
        run(j);
        return;
    }
    cr_assert_lt(F.nq, 16);
    F.q[F.nq++] = *j;
}

static void drain(void)
{
    while (F.nq > 0 || defer_pending(&W.defer) > 0) {
        if (F.nq == 0) {
            uv_run(&LOOP, UV_RUN_NOWAIT); /* what the worker gives from the loop (defer.h) */
            continue;
        }
        job_t j = F.q[0];
        memmove(F.q, F.q + 1, (size_t)--F.nq * sizeof *F.q);
        run(&j);
    }
}

static void run(job_t *j)
{
    switch (j->kind) {
    case Q_REDIS:
        ((rcli_cb)j->cb)(j->has_reply ? &j->reply : NULL, j->has_reply ? NULL : "redis unavailable", j->ud);
        break;
    case Q_ACCOUNT: {
        char err[64] = "gone";
        if (j->rc == -1)
            snprintf(err, sizeof err, "the customer must reconnect this Jira site");
        ((wk_call_account_cb)j->cb)(j->rc, j->rc == 1 ? &ACCT : NULL, j->rc == 1 ? NULL : err, j->ud);
        break;
    }
    case Q_PACE:
        ((wk_call_pace_cb)j->cb)(j->rc, j->wait_ms, j->ud);
        break;
    case Q_SEND:
        ((httpc_cb)j->cb)(&j->resp, j->ud);
        break;
    case Q_AUDIT:
        ((void (*)(void *, int))j->cb)(j->ud, j->rc);
        break;
    case Q_ASK: {
        json_t *r = F.ask_action ? json_pack("{s:s,s:{s:b}}", "action", F.ask_action, "content", "confirm",
                                             F.ask_confirm)
                                 : NULL;
        ((wk_push_reply_fn)j->cb)(r, r ? NULL : "the client did not answer in time", j->ud);
        json_decref(r);
        break;
    }
    }
}

static int fake_redis(wk_worker_t *w, rcli_cb cb, void *ud, int argc, const char **argv, const size_t *lens)
{
    (void)w;
    (void)lens;
    job_t j = {.kind = Q_REDIS, .cb = (void *)cb, .ud = ud, .has_reply = 1};
    int nx = argc > 3 && strcmp(argv[3], "NX") == 0;
    strcat(F.redis, argv[0]);
    strcat(F.redis, nx ? " NX," : ",");
    if (nx && F.idem_set < 0)
        return -1;
    if (nx) {
        j.reply.type = F.idem_set;
    } else if (strcmp(argv[0], "GET") == 0) {
        j.reply.type = F.idem_get ? REDIS_REPLY_STRING : REDIS_REPLY_NIL;
        j.reply.str = (char *)F.idem_get;
        j.reply.len = F.idem_get ? strlen(F.idem_get) : 0;
    } else {
        j.reply.type = REDIS_REPLY_STATUS;
        j.reply.str = "OK";
    }
    push(&j);
    return 0;
}

static void fake_account(wk_worker_t *w, const char *account_id, wk_call_account_cb cb, void *ud)
{
    (void)w;
    cr_assert_str_eq(account_id, "acc-1");
    ACCT.oauth = F.oauth;
    ACCT.expires_at_ms = F.expires_at_ms;
    job_t j = {.kind = Q_ACCOUNT, .cb = (void *)cb, .ud = ud, .rc = F.nacct < 4 ? F.acct_rc[F.nacct++] : 1};
    push(&j);
}

static void fake_refresh(wk_worker_t *w, const char *account_id, long long used, wk_call_account_cb cb, void *ud)
{
    (void)used;
    F.expires_at_ms = 0; /* the refreshed token */
    fake_account(w, account_id, cb, ud);
}

static void fake_pace(wk_worker_t *w, const char *account_id, const pace_rule_t *rule, wk_call_pace_cb cb, void *ud)
{
    (void)w;
    (void)account_id;
    cr_assert_gt(rule->per_s, 0);
    job_t j = {.kind = Q_PACE, .cb = (void *)cb, .ud = ud, .rc = F.pace_rc, .wait_ms = F.pace_wait};
    push(&j);
}

static int fake_send(wk_worker_t *w, const httpc_request_t *rq, httpc_cb cb, void *ud)
{
    (void)w;
    if (F.send_refuse)
        return -1;
    size_t n = strlen(F.urls);
    snprintf(F.urls + n, sizeof F.urls - n, "%s %s\n", rq->method, rq->url);
    cr_assert_lt(F.nsend, 8);
    const char *body = F.body[F.nsend] ? F.body[F.nsend] : "{}";
    job_t j = {.kind = Q_SEND, .cb = (void *)cb, .ud = ud};
    j.resp.status = F.status[F.nsend] ? F.status[F.nsend] : 200;
    j.resp.body = body;
    j.resp.body_len = strlen(body);
    j.resp.headers = "HTTP/1.1 200 OK\r\n\r\n";
    j.resp.headers_len = strlen(j.resp.headers);
    F.nsend++;
    push(&j);
    return 0;
}

static int fake_audit_ready(wk_worker_t *w)
{
    (void)w;
    return F.audit_ready;
}

static void fake_audit(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud, int durable), void *ud)
{
    (void)w;
    cr_assert_str_eq(argv[0], "XADD");
    cr_assert_gt(argc, 10);
    job_t j = {.kind = Q_AUDIT, .cb = (void *)sent, .ud = ud, .rc = F.audit_durable};
    F.audit_class[0] = 0;
    for (int i = 3; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "error_class") == 0)
            snprintf(F.audit_class, sizeof F.audit_class, "%s", argv[i + 1]);
    push(&j);
}

/* httpc_cancel: the queued answers of ud's requests are dropped. */
static size_t fake_cancel(wk_worker_t *w, void *ud)
{
    (void)w;
    size_t n = 0;
    for (int i = 0; i < F.nq;) {
        if (F.q[i].kind == Q_SEND && F.q[i].ud == ud) {
            memmove(F.q + i, F.q + i + 1, (size_t)(F.nq - i - 1) * sizeof *F.q);
            F.nq--;
            n++;
        } else {
            i++;
        }
    }
    F.cancelled += (int)n;
    return n;
}

/* wk_push_request: elicitation/create, answered as F says. */
static int fake_ask(wk_push_t *p, const char *method, json_t *params, long timeout_ms, wk_push_reply_fn cb, void *ud)
{
    (void)p;
    cr_assert_str_eq(method, "elicitation/create");
    cr_assert_eq(timeout_ms, WK_CALL_CONFIRM_MS);
    const json_t *schema = json_object_get(params, "requestedSchema");
    cr_assert_str_eq(jsontext_str(json_object_get(json_object_get(schema, "properties"), "confirm"), "type"), "boolean");
    snprintf(F.ask_msg, sizeof F.ask_msg, "%s", jsontext_str(params, "message"));
    json_decref(params);
    if (F.ask_refuse)
        return -1;
    job_t j = {.kind = Q_ASK, .cb = (void *)cb, .ud = ud};
    push(&j);
    return 0;
}

static const wk_call_io_t IO = {fake_redis, fake_account, fake_refresh, fake_pace, fake_send, fake_audit_ready,
                                fake_audit, fake_cancel, fake_ask};

/* The request's way back (wk_push.h): progress notifications recorded. */
static wk_push_t P;

static int push_write(wk_push_t *p, const char *json, size_t len)
{
    (void)p;
    json_t *m = json_loadb(json, len, 0, NULL);
    const json_t *params = json_object_get(m, "params");
    if (strcmp(jsontext_str(m, "method"), "notifications/progress") == 0) {
        size_t n = strlen(F.progress);
        snprintf(F.progress + n, sizeof F.progress - n, "%g|%s\n", json_number_value(json_object_get(params, "progress")),
                 jsontext_str(params, "message") ? jsontext_str(params, "message") : "");
    }
    json_decref(m);
    return 0;
}

static void push_begin(const char *progress_token)
{
    wk_session_t sess;
    memset(&sess, 0, sizeof sess);
    snprintf(sess.id, sizeof sess.id, "sid-1");
    sess.caps = F.caps;
    json_t *msg = json_pack("{s:i,s:s,s:{s:{s:s?}}}", "id", 7, "method", "tools/call", "params", "_meta",
                            "progressToken", progress_token);
    wk_push_init(&P, &W, &sess, msg);
    P.write = push_write;
    json_decref(msg);
}

static void on_state(enum wk_call_state s, void *ud)
{
    (void)ud;
    if (F.trace[0])
        strcat(F.trace, ",");
    strcat(F.trace, wk_call_state_name(s));
}

static void on_done(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl, void *ud)
{
    (void)ud;
    F.answers++;
    json_decref(F.response);
    F.response = response;
    if (result) /* the typed result as JSON, to read as the client does */
        json_object_set_new(response, "result", wk_result_json(result));
    wk_result_free(result);
    F.had_rl = rl != NULL;
    if (rl)
        F.rl = *rl;
}

/* ---- setup ---- */

static void setup(void)
{
    char err[300];
    memset(&F, 0, sizeof F);
    F.hold = -1;
    F.audit_ready = F.audit_durable = 1;
    F.acct_rc[0] = F.acct_rc[1] = F.acct_rc[2] = F.acct_rc[3] = 1;
    memset(&CFG, 0, sizeof CFG);
    CFG.metrics_max_accounts = 10;
    memset(&W, 0, sizeof W);
    uv_loop_init(&LOOP);
    W.loop = &LOOP;
    W.cfg = &CFG;
    W.metrics = metrics_new(1000);
    wk_worker_describe_metrics(W.metrics);
    cr_assert_eq(wk_catalog_load_embedded(&W.catalog, err, sizeof err), 0, "%s", err);
    W.fields = wk_fieldcache_new(60000);
    rcli_config_t rc = {.url = "redis://127.0.0.1:1", .prefix = "t:"};
    cr_assert_eq(rcli_create(&W.redis, &LOOP, &rc), 0);
    cr_assert_eq(wk_push_start(&W), 0);
    memset(&ACCT, 0, sizeof ACCT);
    ACCT.base_url = "http://site.test";
    ACCT.auth_header = "Authorization: Basic eDp5";
    wk_call_trace(on_state, NULL);
}

static void teardown(void)
{
    wk_call_trace(NULL, NULL);
    json_decref(F.response);
    defer_close(&W.defer);
    rcli_close(W.redis, NULL, NULL);
    wk_push_free(&W);
    uv_run(&LOOP, UV_RUN_DEFAULT);
    uv_loop_close(&LOOP);
    wk_fieldcache_free(W.fields);
    wk_catalog_free(W.catalog);
    metrics_free(W.metrics);
}

TestSuite(call, .init = setup, .fini = teardown);

/* Runs tool with args (JSON) on a server with config (JSON or NULL), both
 * ways: the io answering later, and from inside. With a push (request id 7
 * of session sid-1, progress token "tok"), the run stops where the nth io
 * job of kind hold is due (held in both ways), cancels id cancel_id there
 * (-1: no cancel), then lets the rest run. The trace, requests, progress
 * and answer of the second run must equal the first's. */
static void run_both(const char *tool, const char *args, const char *config, int with_push, int hold, int nth,
                     int cancel_id)
{
    json_t *cfg = config ? json_loads(config, 0, NULL) : NULL;
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "id", "srv-1", "workspace_id", "ws-1", "account_id", "acc-1",
                            "name", "t");
    if (cfg)
        json_object_set(rec, "config", cfg);
    wk_server_t srv;
    cr_assert_eq(wk_server_parse(&srv, rec, "h"), 0);
    const wk_tool_t *t = wk_catalog_find(W.catalog, tool);
    cr_assert(t, "%s", tool);
    json_t *id = json_integer(7), *cid = json_integer(cancel_id);
    char first_trace[512], first_urls[1024], first_redis[256], first_progress[1024];
    long long exp = F.expires_at_ms;
    int first_answers = 0;
    json_t *first = NULL;
    for (int pass = 0; pass < 2; pass++) {
        F.sync = pass;
        F.hold = hold;
        F.trace[0] = F.urls[0] = F.redis[0] = F.progress[0] = F.audit_class[0] = F.ask_msg[0] = 0;
        F.answers = F.cancelled = 0;
        F.nacct = F.nsend = 0;
        memset(F.pushed, 0, sizeof F.pushed);
        F.expires_at_ms = exp;
        json_decref(F.response);
        F.response = NULL;
        wk_fieldcache_free(W.fields);
        W.fields = wk_fieldcache_new(60000);
        if (with_push)
            push_begin("tok");
        wk_call_start(&W, &IO, &srv, with_push ? &P : NULL, id, t, json_loads(args, 0, NULL), "req-1", NULL, on_done, NULL);
        /* The callback rule: even with the io answering at once, done never
         * runs before wk_call_start returns. */
        cr_assert_eq(F.answers, 0, "pass %d: done ran before wk_call_start returned (%s)", pass, F.trace);
        while ((F.nq > 0 || defer_pending(&W.defer) > 0) && !(F.nq > 0 && F.q[0].kind == hold && F.q[0].ord == nth)) {
            if (F.nq == 0) {
                uv_run(&LOOP, UV_RUN_NOWAIT);
                continue;
            }
            job_t j = F.q[0];
            memmove(F.q, F.q + 1, (size_t)--F.nq * sizeof *F.q);
            run(&j);
        }
        cr_assert(F.nq > 0 || hold < 0, "pass %d: job %d #%d never came (%s)", pass, hold, nth, F.trace);
        if (cancel_id >= 0)
            wk_push_cancel(&W, "sid-1", cid);
        F.hold = -1;
        drain();
        if (with_push)
            wk_push_end(&P);
        cr_assert_eq(F.answers, 1, "pass %d: answered %d times (%s)", pass, F.answers, F.trace);
        if (pass == 0) {
            strcpy(first_trace, F.trace);
            strcpy(first_urls, F.urls);
            strcpy(first_redis, F.redis);
            strcpy(first_progress, F.progress);
            first_answers = F.cancelled;
            first = json_incref(F.response);
        } else {
            cr_assert_str_eq(F.trace, first_trace, "sync path differs");
            cr_assert_str_eq(F.urls, first_urls);
            cr_assert_str_eq(F.redis, first_redis);
            cr_assert_str_eq(F.progress, first_progress);
            cr_assert_eq(F.cancelled, first_answers);
            cr_assert(F.response == first || json_equal(F.response, first), "sync answer differs");
        }
    }
    json_decref(first);
    json_decref(id);
    json_decref(cid);
    json_decref(cfg);
    wk_server_clear(&srv);
}

static void call(const char *tool, const char *args, const char *config)
{
    run_both(tool, args, config, 0, -1, 0, -1);
}

static void call_cancel_at(const char *tool, const char *args, const char *config, int hold, int nth, int cancel_id)
{
    run_both(tool, args, config, 1, hold, nth, cancel_id);
}

static const char *err_message(void)
{
    return jsontext_str(json_object_get(F.response, "error"), "message");
}

static int err_code(void)
{
    return (int)jsontext_int(json_object_get(F.response, "error"), "code", 0);
}

static const json_t *result(void)
{
    return json_object_get(F.response, "result");
}

static int is_error(void)
{
    return json_is_true(json_object_get(result(), "isError"));
}

static const char *sc_error(const char *member)
{
    return jsontext_str(json_object_get(json_object_get(result(), "structuredContent"), "error"), member);
}

#define GET_ISSUE "get_single_jira_service_management_issue_by_id"
#define COMMENTS "list_all_jira_service_management_issue_comments"
#define REPLY "create_a_jira_service_management_customer_reply"
#define SEARCH "list_all_jira_service_management_search_issues"
#define ISSUE_BODY "{\"key\":\"ITSM-1\",\"fields\":{\"summary\":\"s\",\"project\":{\"key\":\"ITSM\"}}}"

/* ---- the main path ---- */

Test(call, success_path)
{
    F.body[0] = ISSUE_BODY;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(strstr(F.urls, "GET http://site.test/rest/api/3/issue/ITSM-1"), "%s", F.urls);
    cr_assert(result() && !is_error());
    cr_assert(F.had_rl);
    cr_assert_str_eq(F.redis, "");
}

Test(call, audit_not_ready_refuses_at_once)
{
    F.audit_ready = 0;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "done", "answered from the loop, nothing else");
    cr_assert_eq(err_code(), -32603);
    cr_assert(strstr(err_message(), "audit log cannot take records"));
    cr_assert_str_eq(F.urls, "");
}

Test(call, audit_not_durable_withholds_result)
{
    F.body[0] = ISSUE_BODY;
    F.audit_durable = 0;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert_eq(err_code(), -32603);
    cr_assert(strstr(err_message(), "withheld"));
}

/* ---- ACCOUNT, REFRESH ---- */

Test(call, account_missing_and_needs_reauth)
{
    F.acct_rc[0] = 0;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,idem_store,audit,answer,done");
    cr_assert(is_error());
    cr_assert_str_eq(sc_error("reason"), "account_unavailable");
    F.acct_rc[0] = -1;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(sc_error("reason"), "needs_reauth");
    cr_assert_str_eq(F.urls, "");
}

Test(call, expired_token_waits_for_refresh)
{
    F.oauth = 1;
    F.expires_at_ms = 1; /* long past */
    F.body[0] = ISSUE_BODY;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,refresh,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(!is_error());
}

Test(call, refresh_that_never_comes)
{
    F.oauth = 1;
    F.expires_at_ms = 1;
    F.acct_rc[1] = -2;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,refresh,idem_store,audit,answer,done");
    cr_assert_str_eq(sc_error("reason"), "token_refresh_pending");
}

Test(call, upstream_401_refreshes_once_and_runs_again)
{
    F.oauth = 1;
    F.status[0] = 401;
    F.body[0] = "{\"errorMessages\":[\"expired\"]}";
    F.body[1] = ISSUE_BODY;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,refresh,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(!is_error());
    /* A second 401 is the answer: no third run. */
    F.status[1] = 401;
    F.body[1] = "{\"errorMessages\":[\"still\"]}";
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,refresh,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(is_error());
    cr_assert_eq(jsontext_int(json_object_get(json_object_get(result(), "structuredContent"), "error"), "status", 0),
                 401);
}

Test(call, api_token_401_is_the_answer)
{
    F.status[0] = 401;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(is_error());
}

/* ---- PACE ---- */

Test(call, pacing_refuses_like_a_429)
{
    CFG.pace_api_token.per_s = 1;
    CFG.pace_api_token.burst = 3;
    F.pace_rc = 0;
    F.pace_wait = 1500;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,pace,idem_store,audit,answer,done");
    cr_assert(is_error());
    cr_assert(F.had_rl && F.rl.limited);
    cr_assert_eq(F.rl.retry_after_s, 2);
    cr_assert_str_eq(F.rl.limit, "3");
    cr_assert_str_eq(F.urls, "");
}

Test(call, pacing_allows_and_reads_the_account_again)
{
    CFG.pace_api_token.per_s = 1;
    CFG.pace_api_token.burst = 3;
    F.pace_rc = 1;
    F.body[0] = ISSUE_BODY;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,pace,account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(!is_error());
    /* Redis failed: the call goes through all the same. */
    F.pace_rc = -1;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,pace,account,prepare,upstream,idem_store,audit,answer,done");
}

/* ---- IDEM ---- */

Test(call, idempotency_fresh_key_stores_the_result)
{
    F.idem_set = REDIS_REPLY_STATUS;
    F.body[0] = "{\"id\":\"1\",\"body\":\"hi\"}";
    call(REPLY, "{\"id\":\"ITSM-1\",\"body\":\"hi\",\"idempotency_key\":\"k1\"}", NULL);
    cr_assert_str_eq(F.trace, "idem,account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert_str_eq(F.redis, "SET NX,SET,");
    cr_assert(!is_error());
    /* A failed call forgets the key. */
    F.status[0] = 500;
    call(REPLY, "{\"id\":\"ITSM-1\",\"body\":\"hi\",\"idempotency_key\":\"k1\"}", NULL);
    cr_assert_str_eq(F.redis, "SET NX,DEL,");
    cr_assert(is_error());
}

Test(call, idempotency_replays_refuses_or_waits)
{
    const char *args = "{\"id\":\"ITSM-1\",\"body\":\"hi\",\"idempotency_key\":\"k1\"}";
    wk_callrec_t rec;
    memset(&rec, 0, sizeof rec);
    json_t *a = json_loads(args, 0, NULL);
    char stored[200];
    snprintf(stored, sizeof stored, "done:%s:{\"content\":[{\"type\":\"text\",\"text\":\"old\"}]}",
             wk_callrec_args_hash(&rec, a));
    json_decref(a);
    F.idem_set = REDIS_REPLY_NIL;
    F.idem_get = stored;
    call(REPLY, args, NULL);
    cr_assert_str_eq(F.trace, "idem,idem_read,idem_store,audit,answer,done");
    cr_assert_str_eq(F.redis, "SET NX,GET,");
    cr_assert_str_eq(jsontext_str(json_array_get(json_object_get(result(), "content"), 0), "text"), "old");
    cr_assert_str_eq(F.urls, "");
    /* Other arguments under the same key. */
    call(REPLY, "{\"id\":\"ITSM-1\",\"body\":\"other\",\"idempotency_key\":\"k1\"}", NULL);
    cr_assert_eq(err_code(), -32602);
    /* Still pending. */
    F.idem_get = "pending";
    call(REPLY, args, NULL);
    cr_assert(is_error());
    cr_assert(strstr(jsontext_str(json_array_get(json_object_get(result(), "content"), 0), "text"), "still running"));
    /* Redis down. */
    F.idem_set = -1;
    call(REPLY, args, NULL);
    cr_assert_str_eq(F.trace, "idem,idem_store,audit,answer,done");
    cr_assert(strstr(jsontext_str(json_array_get(json_object_get(result(), "content"), 0), "text"), "still running"));
}

/* ---- PREPARE, STEPS, UPSTREAM failures ---- */

Test(call, first_request_refused_or_forged_cursor)
{
    F.send_refuse = 1;
    call(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert_eq(err_code(), -32603);
    cr_assert(strstr(err_message(), "overloaded"));
    F.send_refuse = 0;
    call(COMMENTS, "{\"id\":\"ITSM-1\",\"next_cursor\":\"!!\"}", NULL);
    cr_assert_eq(err_code(), -32602);
    cr_assert(strstr(err_message(), "next_cursor"), "%s", err_message());
    cr_assert_str_eq(F.urls, "");
}

Test(call, scope_precheck_refuses_another_project)
{
    F.body[0] = "{\"key\":\"ITSM-1\",\"fields\":{\"project\":{\"key\":\"OTHER\"}}}";
    call(COMMENTS, "{\"id\":\"ITSM-1\"}", "{\"projects\":[\"ITSM\"]}");
    cr_assert_str_eq(F.trace, "account,prepare,steps,idem_store,audit,answer,done");
    cr_assert(strstr(F.urls, "/rest/api/3/issue/ITSM-1?fields=project"), "%s", F.urls);
    cr_assert(is_error());
    cr_assert_eq(jsontext_int(json_object_get(json_object_get(result(), "structuredContent"), "error"), "status", 0),
                 403);
    /* Of an allowed project: the tool runs. */
    F.body[0] = ISSUE_BODY;
    F.body[1] = "{\"comments\":[],\"startAt\":0,\"total\":0,\"maxResults\":25}";
    call(COMMENTS, "{\"id\":\"ITSM-1\"}", "{\"projects\":[\"ITSM\"]}");
    /* One pre-check, then the tool: the call stays in STEPS between them. */
    cr_assert_str_eq(F.trace, "account,prepare,steps,upstream,idem_store,audit,answer,done");
    cr_assert_eq(F.nsend, 2);
    cr_assert(!is_error());
    /* A key of another project is refused before any request. */
    call(COMMENTS, "{\"id\":\"HR-1\"}", "{\"projects\":[\"ITSM\"]}");
    cr_assert_str_eq(F.trace, "account,prepare,idem_store,audit,answer,done");
    cr_assert(is_error());
    cr_assert_str_eq(F.urls, "");
}

Test(call, precheck_failure_is_the_result)
{
    F.status[0] = 404;
    F.body[0] = "{\"errorMessages\":[\"Issue does not exist\"]}";
    call(COMMENTS, "{\"id\":\"ITSM-9\"}", "{\"projects\":[\"ITSM\"]}");
    cr_assert_str_eq(F.trace, "account,prepare,steps,idem_store,audit,answer,done");
    cr_assert(is_error());
    cr_assert_eq(jsontext_int(json_object_get(json_object_get(result(), "structuredContent"), "error"), "status", 0),
                 404);
}

Test(call, field_list_first_then_the_search)
{
    F.body[0] = "[{\"id\":\"summary\",\"name\":\"Summary\",\"schema\":{\"type\":\"string\"}}]";
    F.body[1] = "{\"issues\":[],\"isLast\":true}";
    call(SEARCH, "{\"jql\":\"summary ~ x\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,fields,steps,upstream,idem_store,audit,answer,done");
    cr_assert(strstr(F.urls, "GET http://site.test/rest/api/3/field\n"), "%s", F.urls);
    cr_assert(!is_error());
    /* An unreadable field list ends the call. */
    F.body[0] = "{\"not\":\"a list\"}";
    call(SEARCH, "{\"jql\":\"summary ~ x\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,fields,idem_store,audit,answer,done");
    cr_assert_eq(jsontext_int(json_object_get(json_object_get(result(), "structuredContent"), "error"), "status", 0),
                 502);
    /* The field list request refused: the call could not run. */
    F.send_refuse = 1;
    call(SEARCH, "{\"jql\":\"summary ~ x\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,fields,idem_store,audit,answer,done");
    cr_assert_eq(err_code(), -32603);
}

Test(call, bad_jql_makes_no_request)
{
    call(SEARCH, "{\"jql\":\"summary ~ (\"}", NULL);
    cr_assert_str_eq(F.trace, "account,prepare,idem_store,audit,answer,done");
    cr_assert(is_error());
    cr_assert_str_eq(F.urls, "");
}

/* ---- cancellation (notifications/cancelled, wk_push_cancel) ---- */

Test(call, cancel_drops_the_transfer_and_answers_nothing)
{
    F.body[0] = ISSUE_BODY;
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL, Q_SEND, 1, 7);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert_eq(F.cancelled, 1, "the transfer in flight is removed");
    cr_assert_null(F.response, "no answer for a cancelled call");
    cr_assert_str_eq(F.audit_class, "cancelled");
    cr_assert_eq(metrics_get(W.metrics, "jsmcp_worker_calls_cancelled_total", ""), 2);
}

Test(call, cancel_of_another_id_or_after_the_answer_is_ignored)
{
    F.body[0] = ISSUE_BODY;
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL, Q_SEND, 1, 8);
    cr_assert_eq(F.cancelled, 0);
    cr_assert(result() && !is_error());
    cr_assert_str_eq(F.audit_class, "");
    /* The upstream answer is in (the audit record is being written): too late. */
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL, Q_AUDIT, 1, 7);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(result() && !is_error());
    cr_assert_str_eq(F.audit_class, "");
    cr_assert_leq(metrics_get(W.metrics, "jsmcp_worker_calls_cancelled_total", ""), 0);
}

Test(call, cancel_during_pacing_makes_no_request)
{
    CFG.pace_api_token.per_s = 1;
    CFG.pace_api_token.burst = 3;
    F.pace_rc = 1;
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL, Q_PACE, 1, 7);
    cr_assert_str_eq(F.trace, "account,pace,account,idem_store,audit,answer,done");
    cr_assert_str_eq(F.urls, "");
    cr_assert_null(F.response);
    cr_assert_str_eq(F.audit_class, "cancelled");
}

Test(call, cancel_during_refresh_makes_no_request)
{
    F.oauth = 1;
    F.expires_at_ms = 1;
    /* The refresh's account read is the second. */
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL, Q_ACCOUNT, 2, 7);
    /* PREPARE is entered, and ends the call before it does anything. */
    cr_assert_str_eq(F.trace, "account,refresh,prepare,idem_store,audit,answer,done");
    cr_assert_str_eq(F.urls, "");
    cr_assert_null(F.response);
    cr_assert_str_eq(F.audit_class, "cancelled");
}

Test(call, cancel_during_a_pre_step)
{
    F.body[0] = "[{\"id\":\"summary\",\"name\":\"Summary\",\"schema\":{\"type\":\"string\"}}]";
    F.body[1] = "{\"issues\":[],\"isLast\":true}";
    /* The field list is in; the search is in flight. */
    call_cancel_at(SEARCH, "{\"jql\":\"summary ~ x\"}", NULL, Q_SEND, 2, 7);
    cr_assert_str_eq(F.trace, "account,prepare,fields,steps,upstream,idem_store,audit,answer,done");
    cr_assert_eq(F.cancelled, 1);
    cr_assert_null(F.response);
    /* The field list in flight: the search is never sent. */
    call_cancel_at(SEARCH, "{\"jql\":\"summary ~ x\"}", NULL, Q_SEND, 1, 7);
    cr_assert_str_eq(F.trace, "account,prepare,fields,idem_store,audit,answer,done");
    cr_assert_eq(F.nsend, 1);
    cr_assert_str_eq(F.audit_class, "cancelled");
}

Test(call, cancel_with_an_idempotency_key_forgets_it)
{
    F.idem_set = REDIS_REPLY_STATUS;
    call_cancel_at(REPLY, "{\"id\":\"ITSM-1\",\"body\":\"hi\",\"idempotency_key\":\"k1\"}", NULL, Q_SEND, 1, 7);
    cr_assert_str_eq(F.redis, "SET NX,DEL,", "a retry may run the call again");
    cr_assert_null(F.response);
    /* Cancelled while its SET NX is out, and the key was another call's: left alone. */
    F.idem_set = REDIS_REPLY_NIL;
    F.idem_get = "pending";
    call_cancel_at(REPLY, "{\"id\":\"ITSM-1\",\"body\":\"hi\",\"idempotency_key\":\"k1\"}", NULL, Q_REDIS, 1, 7);
    cr_assert_str_eq(F.trace, "idem,idem_read,idem_store,audit,answer,done");
    cr_assert_str_eq(F.redis, "SET NX,");
    cr_assert_null(F.response);
    cr_assert_str_eq(F.audit_class, "cancelled");
}

/* ---- progress per step ---- */

Test(call, progress_per_upstream_request)
{
    F.body[0] = "[{\"id\":\"summary\",\"name\":\"Summary\",\"schema\":{\"type\":\"string\"}}]";
    F.body[1] = "{\"issues\":[],\"isLast\":true}";
    call_cancel_at(SEARCH, "{\"jql\":\"summary ~ x\"}", NULL, -1, 0, -1);
    cr_assert(result() && !is_error());
    /* Two requests: the step after the field list is announced as 1 done. */
    cr_assert_str_eq(F.progress, "1|Step 2: POST /rest/api/3/search/jql\n");
    /* One request: the caller's start and "Done" are all. */
    F.body[0] = ISSUE_BODY;
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", NULL, -1, 0, -1);
    cr_assert_str_eq(F.progress, "");
    /* A scope pre-check, then the tool. */
    F.body[1] = "{\"comments\":[],\"startAt\":0,\"total\":0,\"maxResults\":25}";
    call_cancel_at(COMMENTS, "{\"id\":\"ITSM-1\"}", "{\"projects\":[\"ITSM\"]}", -1, 0, -1);
    cr_assert_str_eq(F.progress, "1|Step 2: GET /rest/api/3/issue/{id}/comment\n");
}

/* ---- CONFIRM (elicitation before a write) ---- */

#define REPLY_ARGS "{\"id\":\"ITSM-1\",\"body\":\"hi there\"}"
#define DELETE_PARTICIPANT "delete_a_jira_service_management_request_participant_by_id"

Test(call, confirm_accepted_runs_the_write)
{
    F.caps = WK_CAP_ELICIT;
    F.ask_action = "accept";
    F.ask_confirm = 1;
    F.body[0] = "{\"id\":\"1\",\"body\":\"hi there\"}";
    call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":true}", -1, 0, -1);
    cr_assert_str_eq(F.trace, "confirm,account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(result() && !is_error());
    cr_assert_str_eq(F.audit_class, "");
    /* The form says what will change: the tool, the issue, the fields. */
    cr_assert(strstr(F.ask_msg, REPLY), "%s", F.ask_msg);
    cr_assert(strstr(F.ask_msg, "\nid: ITSM-1"), "%s", F.ask_msg);
    cr_assert(strstr(F.ask_msg, "\nbody: hi there"), "%s", F.ask_msg);
}

Test(call, confirm_declined_cancelled_or_unanswered_makes_no_request)
{
    F.caps = WK_CAP_ELICIT;
    const char *actions[] = {"decline", "cancel", NULL, "accept"};
    for (int i = 0; i < 4; i++) {
        F.ask_action = actions[i];
        F.ask_confirm = 0; /* an accept with confirm false is a no */
        call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":true}", -1, 0, -1);
        cr_assert_str_eq(F.trace, "confirm,idem_store,audit,answer,done", "%s", actions[i] ? actions[i] : "timeout");
        cr_assert_str_eq(F.urls, "");
        cr_assert(is_error());
        cr_assert_str_eq(sc_error("reason"), "declined");
        cr_assert(strstr(sc_error("message"), "nothing was changed"), "%s", sc_error("message"));
        cr_assert_str_eq(F.audit_class, "declined");
    }
    cr_assert(strstr(sc_error("message"), "declined"), "%s", sc_error("message"));
    /* The question could not be sent (no event stream): not run either. */
    F.ask_refuse = 1;
    call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":true}", -1, 0, -1);
    cr_assert_str_eq(F.trace, "confirm,idem_store,audit,answer,done");
    cr_assert(strstr(sc_error("message"), "could not be asked"), "%s", sc_error("message"));
    cr_assert_str_eq(F.audit_class, "declined");
}

Test(call, confirm_only_when_the_client_can_and_the_config_asks)
{
    F.ask_action = "decline";
    F.body[0] = "{\"id\":\"1\",\"body\":\"hi there\"}";
    /* No elicitation capability: as before, whatever the config says. */
    call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":true}", -1, 0, -1);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    F.caps = WK_CAP_ELICIT;
    /* confirm_writes false: as before. */
    call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":false}", -1, 0, -1);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert(!is_error());
    /* Absent: only destructive tools ask; a reply is not one, a delete is. */
    call_cancel_at(REPLY, REPLY_ARGS, NULL, -1, 0, -1);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
    call_cancel_at(DELETE_PARTICIPANT, "{\"id\":\"ITSM-1\",\"account_ids\":[\"a1\"]}", NULL, -1, 0, -1);
    cr_assert_str_eq(F.trace, "confirm,idem_store,audit,answer,done");
    cr_assert_str_eq(F.audit_class, "declined");
    /* A read never asks. */
    F.body[0] = ISSUE_BODY;
    call_cancel_at(GET_ISSUE, "{\"id\":\"ITSM-1\"}", "{\"confirm_writes\":true}", -1, 0, -1);
    cr_assert_str_eq(F.trace, "account,prepare,upstream,idem_store,audit,answer,done");
}

Test(call, confirm_before_the_idempotency_key)
{
    F.caps = WK_CAP_ELICIT;
    F.idem_set = REDIS_REPLY_STATUS;
    const char *args = "{\"id\":\"ITSM-1\",\"body\":\"hi\",\"idempotency_key\":\"k1\"}";
    F.ask_action = "decline";
    call_cancel_at(REPLY, args, "{\"confirm_writes\":true}", -1, 0, -1);
    cr_assert_str_eq(F.redis, "", "a declined call takes no key");
    cr_assert(!strstr(F.ask_msg, "idempotency_key"), "%s", F.ask_msg);
    F.ask_action = "accept";
    F.ask_confirm = 1;
    F.body[0] = "{\"id\":\"1\",\"body\":\"hi\"}";
    call_cancel_at(REPLY, args, "{\"confirm_writes\":true}", -1, 0, -1);
    cr_assert_str_eq(F.trace, "confirm,idem,account,prepare,upstream,idem_store,audit,answer,done");
    cr_assert_str_eq(F.redis, "SET NX,SET,");
}

Test(call, cancel_while_the_user_is_asked)
{
    F.caps = WK_CAP_ELICIT;
    F.ask_action = "accept";
    F.ask_confirm = 1;
    call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":true}", Q_ASK, 1, 7);
    /* The answer comes after the cancel: the call ends without a request. */
    cr_assert_str_eq(F.trace, "confirm,account,idem_store,audit,answer,done");
    cr_assert_str_eq(F.urls, "");
    cr_assert_null(F.response);
    cr_assert_str_eq(F.audit_class, "cancelled");
}

Test(call, state_names)
{
    cr_assert_str_eq(wk_call_state_name(WK_CALL_CONFIRM), "confirm");
    cr_assert_str_eq(wk_call_state_name(WK_CALL_IDEM), "idem");
    cr_assert_str_eq(wk_call_state_name(WK_CALL_DONE), "done");
    cr_assert_str_eq(wk_call_state_name((enum wk_call_state)99), "?");
}
