/* The tree's callback rule in the worker: a callback never runs before the
 * call that registered it returns, even when the answer is known at once
 * (Redis unavailable, a refusal, a method answered locally). Each test
 * calls one function, checks that its callback has not run when it
 * returns, then runs the loop and checks that it ran exactly once.
 * (wk_call_start: tests/unit/worker/test_wk_call.c checks it on every
 * path, with io that answers at once.) Redis is a closed port.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jsontext.h"
#include "wk_mcp.h"
#include "wk_methods.h"
#include "wk_pace.h"
#include "wk_store.h"
#include "wk_worker.h"

static wk_worker_t W;
static wk_config_t CFG;
static uv_loop_t LOOP;

static struct {
    int calls;
    int rc;
    json_t *response;
} A;

static void setup(void)
{
    char err[300];
    memset(&A, 0, sizeof A);
    memset(&CFG, 0, sizeof CFG);
    CFG.metrics_max_accounts = 10;
    CFG.account_cache_ms = 60000;
    CFG.tools_page = 50;
    memset(&W, 0, sizeof W);
    uv_loop_init(&LOOP);
    W.loop = &LOOP;
    W.cfg = &CFG;
    W.metrics = metrics_new(1000);
    wk_worker_describe_metrics(W.metrics);
    cr_assert_eq(wk_catalog_load_embedded(&W.catalog, err, sizeof err), 0, "%s", err);
    rcli_config_t rc = {.url = "redis://127.0.0.1:1", .prefix = "t:"};
    cr_assert_eq(rcli_create(&W.redis, &LOOP, &rc), 0);
}

static void teardown(void)
{
    json_decref(A.response);
    defer_close(&W.defer);
    rcli_close(W.redis, NULL, NULL);
    uv_run(&LOOP, UV_RUN_DEFAULT);
    uv_loop_close(&LOOP);
    wk_catalog_free(W.catalog);
    metrics_free(W.metrics);
}

TestSuite(callback, .init = setup, .fini = teardown);

/* Runs the loop until the callback ran (bounded: a lost callback fails). */
static void settle(void)
{
    for (int i = 0; i < 100000 && A.calls == 0; i++)
        uv_run(&LOOP, UV_RUN_NOWAIT);
    cr_assert_eq(A.calls, 1, "the callback ran %d times", A.calls);
    for (int i = 0; i < 100; i++)
        uv_run(&LOOP, UV_RUN_NOWAIT);
    cr_assert_eq(A.calls, 1, "the callback ran again");
}

static void on_server(int rc, wk_server_t *srv, void *ud)
{
    (void)ud;
    A.calls++;
    A.rc = rc;
    if (srv)
        wk_server_clear(srv);
}

static void on_account(int rc, const wk_account_t *acct, const char *err, void *ud)
{
    (void)acct;
    (void)err;
    (void)ud;
    A.calls++;
    A.rc = rc;
}

static void on_flag(int rc, void *ud)
{
    (void)ud;
    A.calls++;
    A.rc = rc;
}

static void on_pace(int rc, long wait_ms, void *ud)
{
    (void)wait_ms;
    (void)ud;
    A.calls++;
    A.rc = rc;
}

static void on_done(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl, void *ud)
{
    (void)rl;
    (void)ud;
    A.calls++;
    A.response = response;
    wk_result_free(result);
}

static void on_tool(json_t *result, int code, const char *message, void *ud)
{
    (void)message;
    (void)ud;
    A.calls++;
    A.rc = code;
    json_decref(result);
}

/* Redis refuses at once once its first connect failed: the store answers
 * -1 from the loop, as it would from a reply. Both before and after. */
static void redis_down(void)
{
    for (int i = 0; i < 2; i++) {
        A.calls = 0;
        wk_store_wskey(&W, "ws-1", "h", on_flag, NULL);
        cr_assert_eq(A.calls, 0, "wk_store_wskey called back before it returned");
        settle();
        cr_assert_eq(A.rc, -1);
    }
    A.calls = 0;
}

Test(callback, wk_store_server)
{
    redis_down();
    wk_store_server(&W, "0123", on_server, NULL);
    cr_assert_eq(A.calls, 0, "wk_store_server called back before it returned");
    settle();
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_store_account)
{
    redis_down();
    wk_store_account(&W, "acc-1", on_account, NULL);
    cr_assert_eq(A.calls, 0, "wk_store_account called back before it returned");
    settle();
    cr_assert_eq(A.rc, -1);
    A.calls = 0;
    wk_store_account_fresh(&W, "acc-1", on_account, NULL);
    cr_assert_eq(A.calls, 0, "wk_store_account_fresh called back before it returned");
    settle();
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_store_wskey)
{
    redis_down(); /* asserts it */
}

Test(callback, wk_pace_take)
{
    redis_down();
    pace_rule_t rule = {.per_s = 1, .burst = 1};
    wk_pace_take(&W, "acc-1", &rule, on_pace, NULL);
    cr_assert_eq(A.calls, 0, "wk_pace_take called back before it returned");
    settle();
    cr_assert_eq(A.rc, -1, "Redis failed: the call goes ahead");
}

static void dispatch(int via_methods, const char *msg)
{
    json_t *m = json_loads(msg, 0, NULL);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "id", "srv-1", "workspace_id", "ws-1", "account_id", "acc-1",
                            "name", "t");
    wk_server_t srv;
    cr_assert_eq(wk_server_parse(&srv, rec, "h"), 0);
    if (via_methods)
        wk_methods_dispatch(&W, &srv, NULL, NULL, m, "req-1", NULL, on_done, NULL);
    else
        wk_mcp_dispatch(&W, &srv, NULL, NULL, m, "req-1", NULL, on_done, NULL);
    cr_assert_eq(A.calls, 0, "the dispatch called back before it returned: %s", msg);
    wk_server_clear(&srv); /* rec too: wk_server_parse keeps it */
    json_decref(m);
    settle();
}

/* Dispatches msg, then checks the answer: a result (code 0) or that error. */
static void answers(int via_methods, const char *msg, int code)
{
    json_decref(A.response);
    A.response = NULL;
    A.calls = 0;
    dispatch(via_methods, msg);
    if (code == 0)
        cr_assert(json_is_object(json_object_get(A.response, "result")), "%s", msg);
    else
        cr_assert_eq(jsontext_int(json_object_get(A.response, "error"), "code", 0), code, "%s", msg);
}

/* A method answered locally, and a tools/call refused before any call
 * starts (an unknown tool), through both dispatchers. */
static const char *const PING = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
static const char *const NO_METHOD = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}";
static const char *const NO_TOOL =
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}";

Test(callback, wk_mcp_dispatch)
{
    answers(0, PING, 0);
    answers(0, NO_TOOL, -32602);
}

Test(callback, wk_methods_dispatch)
{
    answers(1, PING, 0);
    answers(1, NO_METHOD, -32601);
    answers(1, NO_TOOL, -32602);
}

Test(callback, wk_mcp_run_tool)
{
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "id", "srv-1", "workspace_id", "ws-1", "account_id", "acc-1",
                            "name", "t");
    wk_server_t srv;
    cr_assert_eq(wk_server_parse(&srv, rec, "h"), 0);
    wk_mcp_run_tool(&W, &srv, "nope", NULL, "req-1", NULL, on_tool, NULL);
    cr_assert_eq(A.calls, 0, "wk_mcp_run_tool called back before it returned");
    wk_server_clear(&srv); /* rec too: wk_server_parse keeps it */
    settle();
    cr_assert_eq(A.rc, -32602);
}
