/* The call's state machine (wk_call.h) driven with fake io
 * (wk_call_fake.h): the main path, ACCOUNT, REFRESH, PACE, IDEM and the
 * failures of PREPARE, STEPS and UPSTREAM. Cancellation, progress and
 * CONFIRM: test_wk_call_stages.c. */
#include "wk_call_fake.h"

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
    /* Other arguments under the same key: the model's error to fix, a
     * tool error (not a protocol error), audited as a refused request. */
    call(REPLY, "{\"id\":\"ITSM-1\",\"body\":\"other\",\"idempotency_key\":\"k1\"}", NULL);
    cr_assert(is_error());
    cr_assert(strstr(jsontext_str(json_array_get(json_object_get(result(), "content"), 0), "text"),
                     "idempotency_key was already used with different arguments"));
    cr_assert_str_eq(F.audit_class, "invalid_request");
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
    cr_assert(is_error(), "a forged cursor is the model's error to fix: a tool error");
    const char *text = jsontext_str(json_array_get(json_object_get(result(), "content"), 0), "text");
    cr_assert(text && strstr(text, "next_cursor"), "%s", text ? text : "(none)");
    cr_assert_str_eq(jsontext_str(json_object_get(json_object_get(result(), "structuredContent"), "error"), "reason"),
                     "invalid_arguments");
    cr_assert_str_eq(F.audit_class, "invalid_request");
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
    cr_assert_str_eq(F.audit_class, "invalid_request", "the worker's refusal, not JSM's");
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
    /* The worker refused it: not an outage of the site. */
    cr_assert_str_eq(F.audit_class, "invalid_request");
    /* An unknown field quoted to 80 bytes, cut inside a character: the
     * error keeps its message, valid UTF-8; refused by the worker after the
     * field list came (status 200), still not JSM's refusal. */
    F.body[0] = "[{\"id\":\"summary\",\"name\":\"Summary\",\"searchable\":true}]";
    call(SEARCH, "{\"jql\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9 = 1\"}", NULL);
    cr_assert(is_error());
    const char *m = jsontext_str(json_object_get(json_object_get(result(), "structuredContent"), "error"), "message");
    cr_assert(m && strstr(m, "unknown field"), "%s", m ? m : "(no message)");
    cr_assert_str_eq(F.audit_class, "invalid_request");
}

Test(call, state_names)
{
    cr_assert_str_eq(wk_call_state_name(WK_CALL_CONFIRM), "confirm");
    cr_assert_str_eq(wk_call_state_name(WK_CALL_IDEM), "idem");
    cr_assert_str_eq(wk_call_state_name(WK_CALL_DONE), "done");
    cr_assert_str_eq(wk_call_state_name((enum wk_call_state)99), "?");
}
