/* The tree's callback rule in the worker: a callback never runs before the
 * call that registered it returns, even when the answer is known at once
 * (Redis unavailable, a refusal, a cache hit, a method answered locally).
 * Each test calls one function, checks that its callback has not run when
 * it returns, then runs the loop and checks that it ran exactly once.
 * (wk_call_start: tests/unit/worker/test_wk_call*.c check it on every
 * path, with io that answers at once.) Redis is a closed port.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jsontext.h"
#include "wk_cache.h"
#include "wk_complete.h"
#include "wk_mcp.h"
#include "wk_methods.h"
#include "wk_pace.h"
#include "wk_resources.h"
#include "wk_session.h"
#include "wk_store.h"
#include "wk_subscribe.h"
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
    CFG.server_cache_ms = 60000;
    CFG.session_ttl_s = 60;
    memset(&W, 0, sizeof W);
    uv_loop_init(&LOOP);
    W.loop = &LOOP;
    W.cfg = &CFG;
    W.metrics = metrics_new(1000);
    wk_worker_describe_metrics(W.metrics);
    cr_assert_eq(wk_catalog_load_embedded(&W.catalog, err, sizeof err), 0, "%s", err);
    cr_assert_eq(wk_methods_load(&W, err, sizeof err), 0, "%s", err);
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
    wk_cache_free(&W);
    wk_methods_free(&W);
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

static struct {
    char id[WK_SESSION_ID_LEN + 1];
    char level[12];
} S;

static void on_session(int rc, const wk_session_t *s, void *ud)
{
    (void)ud;
    A.calls++;
    A.rc = rc;
    if (s) {
        str_copy(S.id, sizeof S.id, s->id);
        str_copy(S.level, sizeof S.level, s->level);
    }
}

static void on_created(int rc, long retry_after_ms, void *ud)
{
    (void)retry_after_ms;
    (void)ud;
    A.calls++;
    A.rc = rc;
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

/* ---- wk_session (issue 24: these answered at once before) ---- */

#define SID "abcdefghijklmnopqrstuvwxyz012345" /* 32 characters of the id alphabet */

/* Calls one session function through fn, asserts the rule, returns rc. */
#define SESSION_CALL(what, call)                                                                             \
    do {                                                                                                     \
        A.calls = 0;                                                                                         \
        call;                                                                                                \
        cr_assert_eq(A.calls, 0, "%s called back before it returned", what);                                 \
        settle();                                                                                            \
    } while (0)

Test(callback, wk_session_get_refused_id)
{
    SESSION_CALL("wk_session_get (a malformed id)", wk_session_get(&W, "not an id", on_session, NULL));
    cr_assert_eq(A.rc, 0, "a malformed id is no session");
}

Test(callback, wk_session_get_redis_error)
{
    redis_down();
    SESSION_CALL("wk_session_get (Redis down)", wk_session_get(&W, SID, on_session, NULL));
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_session_get_cache_hit)
{
    wk_cache_test_usable(&W);
    wk_session_t s;
    memset(&s, 0, sizeof s);
    str_copy(s.id, sizeof s.id, SID);
    str_copy(s.level, sizeof s.level, "info");
    wk_cache_session_put(&W, wk_cache_ticket(&W), &s);
    redis_down(); /* only the cache can answer 1 */
    SESSION_CALL("wk_session_get (a cache hit)", wk_session_get(&W, SID, on_session, NULL));
    cr_assert_eq(A.rc, 1, "the cached session was not found");
    cr_assert_str_eq(S.id, SID);
    cr_assert_str_eq(S.level, "info", "the session given is the cached one");
}

Test(callback, wk_session_set_level)
{
    SESSION_CALL("wk_session_set_level (a malformed id)", wk_session_set_level(&W, "x", "info", on_session, NULL));
    cr_assert_eq(A.rc, 0);
    redis_down();
    SESSION_CALL("wk_session_set_level (Redis down)", wk_session_set_level(&W, SID, "info", on_session, NULL));
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_session_delete)
{
    SESSION_CALL("wk_session_delete (a malformed id)", wk_session_delete(&W, "x", NULL, on_session, NULL));
    cr_assert_eq(A.rc, 0);
    redis_down();
    SESSION_CALL("wk_session_delete (Redis down)", wk_session_delete(&W, SID, "h", on_session, NULL));
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_session_publish)
{
    redis_down();
    SESSION_CALL("wk_session_publish (Redis down)", wk_session_publish(&W, SID, "m", 1, on_session, NULL));
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_session_create)
{
    redis_down();
    wk_session_t s;
    memset(&s, 0, sizeof s);
    str_copy(s.id, sizeof s.id, SID);
    SESSION_CALL("wk_session_create (Redis down)", wk_session_create(&W, &s, on_created, NULL));
    cr_assert_eq(A.rc, -1);
}

Test(callback, wk_stream_acquire)
{
    /* No limit configured: granted without Redis, still from the loop. */
    SESSION_CALL("wk_stream_acquire (no limit)", wk_stream_acquire(&W, "h", "lease", on_flag, NULL));
    cr_assert_eq(A.rc, 1);
    CFG.streams_per_token = 2;
    CFG.sse_keepalive_ms = 1000;
    redis_down();
    SESSION_CALL("wk_stream_acquire (Redis down)", wk_stream_acquire(&W, "h", "lease", on_flag, NULL));
    cr_assert_eq(A.rc, 1, "a Redis failure grants the stream");
}

/* ---- resources, completion, subscriptions ---- */

static wk_server_t SRV;

static void server(void)
{
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "id", "srv-1", "workspace_id", "ws-1", "account_id", "acc-1",
                            "name", "t");
    cr_assert_eq(wk_server_parse(&SRV, rec, "h"), 0);
}

#define RESOURCES_CALL(what, call)                                                                           \
    do {                                                                                                     \
        A.calls = 0;                                                                                         \
        call;                                                                                                \
        cr_assert_eq(A.calls, 0, "%s called back before it returned", what);                                 \
        wk_server_clear(&SRV);                                                                               \
        settle();                                                                                            \
    } while (0)

Test(callback, wk_resources_read_refused_uri)
{
    server();
    RESOURCES_CALL("wk_resources_read (a malformed URI)",
                   wk_resources_read(&W, &SRV, "jsm://nothing/here", "req-1", NULL, on_tool, NULL));
    cr_assert_eq(A.rc, -32602);
}

Test(callback, wk_resources_list_refused_cursor)
{
    server();
    json_t *params = json_pack("{s:s}", "cursor", "forged");
    RESOURCES_CALL("wk_resources_list (a forged cursor)",
                   wk_resources_list(&W, &SRV, params, "req-1", NULL, on_tool, NULL));
    json_decref(params);
    cr_assert_eq(A.rc, -32602);
}

static void complete(const char *params, int code)
{
    server();
    json_t *p = json_loads(params, 0, NULL);
    cr_assert(p, "%s", params);
    RESOURCES_CALL("wk_complete", wk_complete(&W, &SRV, p, "req-1", NULL, on_tool, NULL));
    json_decref(p);
    cr_assert_eq(A.rc, code, "%s", params);
}

Test(callback, wk_complete_refused_params)
{
    complete("{\"ref\":{\"type\":\"ref/prompt\"}}", -32602);
    complete("{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"nope\"},\"argument\":{\"name\":\"a\",\"value\":\"\"}}",
             -32602);
}

Test(callback, wk_complete_local_answers)
{
    /* An enum, and a source whose context is missing: no upstream read. */
    complete("{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"customer_reply_draft\"},"
             "\"argument\":{\"name\":\"visibility\",\"value\":\"pu\"}}",
             0);
    complete("{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"queue_dispatch\"},"
             "\"argument\":{\"name\":\"queue\",\"value\":\"a\"}}",
             0);
}

Test(callback, wk_subscribe_refused)
{
    wk_session_t sess;
    memset(&sess, 0, sizeof sess);
    str_copy(sess.id, sizeof sess.id, SID);
    json_t *none = json_object(), *bad = json_pack("{s:s}", "uri", "jsm://nothing/here");
    server();
    RESOURCES_CALL("wk_subscribe (no uri)", wk_subscribe(&W, &SRV, &sess, none, "req-1", NULL, on_tool, NULL));
    cr_assert_eq(A.rc, -32602);
    server();
    RESOURCES_CALL("wk_subscribe (a URI not offered)",
                   wk_subscribe(&W, &SRV, &sess, bad, "req-1", NULL, on_tool, NULL));
    cr_assert_eq(A.rc, -32602);
    server();
    RESOURCES_CALL("wk_unsubscribe (no uri)", wk_unsubscribe(&W, &SRV, &sess, none, on_tool, NULL));
    cr_assert_eq(A.rc, -32602);
    redis_down();
    server();
    RESOURCES_CALL("wk_unsubscribe (Redis down)", wk_unsubscribe(&W, &SRV, &sess, bad, on_tool, NULL));
    cr_assert_eq(A.rc, -32603);
    json_decref(none);
    json_decref(bad);
}

/* The dispatcher's own answers (no guard holds them any more). */
static const char *const PROMPTS = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"prompts/list\"}";
static const char *const READ_BAD =
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/read\",\"params\":{\"uri\":\"jsm://x\"}}";
static const char *const COMPLETE_BAD =
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"completion/complete\",\"params\":{}}";

Test(callback, wk_methods_dispatch_resources_and_completion)
{
    answers(1, PROMPTS, 0);
    answers(1, READ_BAD, -32602);
    answers(1, COMPLETE_BAD, -32602);
}
