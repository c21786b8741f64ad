/* wk_call_fake: the fake io, setup and helpers of the call's state
 * machine tests (test_wk_call.c: the main path, ACCOUNT, PACE, IDEM and the
 * upstream failures; test_wk_call_stages.c: cancellation, progress and
 * CONFIRM). Static functions in a header, as wk_test.h: each test binary
 * is one .c file, and Criterion's asserts must run in the calling test.
 *
 * Every state a call passes through is recorded (wk_call_trace), so each
 * test asserts the path, including every failure edge, and the answer. The
 * fakes answer either later (a queue the test drains, as Redis and httpc
 * do) or from inside the io function (as a test of the machine's loop),
 * and both must give the same path and answer. */
#ifndef JSMCP_WK_CALL_FAKE_H
#define JSMCP_WK_CALL_FAKE_H

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
    const char *ask_result;    /* the whole result as JSON text, instead of the two above (NULL: not used) */
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
        json_t *r = F.ask_result ? json_loads(F.ask_result, 0, NULL)
                    : F.ask_action ? json_pack("{s:s,s:{s:b}}", "action", F.ask_action, "content", "confirm",
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

static inline void call(const char *tool, const char *args, const char *config)
{
    run_both(tool, args, config, 0, -1, 0, -1);
}

static inline void call_cancel_at(const char *tool, const char *args, const char *config, int hold, int nth,
                                  int cancel_id)
{
    run_both(tool, args, config, 1, hold, nth, cancel_id);
}

static inline const char *err_message(void)
{
    return jsontext_str(json_object_get(F.response, "error"), "message");
}

static inline int err_code(void)
{
    return (int)jsontext_int(json_object_get(F.response, "error"), "code", 0);
}

static inline const json_t *result(void)
{
    return json_object_get(F.response, "result");
}

static inline int is_error(void)
{
    return json_is_true(json_object_get(result(), "isError"));
}

static inline const char *sc_error(const char *member)
{
    return jsontext_str(json_object_get(json_object_get(result(), "structuredContent"), "error"), member);
}

#define GET_ISSUE "get_single_jira_service_management_issue_by_id"
#define COMMENTS "list_all_jira_service_management_issue_comments"
#define REPLY "create_a_jira_service_management_customer_reply"
#define SEARCH "list_all_jira_service_management_search_issues"
#define ISSUE_BODY "{\"key\":\"ITSM-1\",\"fields\":{\"summary\":\"s\",\"project\":{\"key\":\"ITSM\"}}}"


#endif
