/* The call's state machine (wk_call.h) driven with fake io
 * (wk_call_fake.h): cancellation (notifications/cancelled), progress per
 * upstream request, and CONFIRM (elicitation before a write). */
#include "wk_call_fake.h"

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
    cr_assert(strstr(F.ask_msg, "\nid: \"ITSM-1\""), "%s", F.ask_msg);
    cr_assert(strstr(F.ask_msg, "\nbody: \"hi there\""), "%s", F.ask_msg);
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

/* Only a JSON true applies the change: a form whose unticked box is left
 * out of the answer, or a client that sends another kind of yes, is a no. */
Test(call, confirm_accept_without_a_true_confirm_makes_no_request)
{
    F.caps = WK_CAP_ELICIT;
    const char *results[] = {
        "{\"action\":\"accept\"}",
        "{\"action\":\"accept\",\"content\":{}}",
        "{\"action\":\"accept\",\"content\":{\"confirm\":\"yes\"}}",
        "{\"action\":\"accept\",\"content\":{\"confirm\":1}}",
        "{\"action\":\"accept\",\"content\":{\"confirm\":null}}",
        "{\"action\":\"accept\",\"content\":{\"Confirm\":true}}",
        "{\"action\":\"accept\",\"content\":\"confirm\"}",
    };
    for (size_t i = 0; i < sizeof results / sizeof *results; i++) {
        F.ask_result = results[i];
        call_cancel_at(REPLY, REPLY_ARGS, "{\"confirm_writes\":true}", -1, 0, -1);
        cr_assert_str_eq(F.trace, "confirm,idem_store,audit,answer,done", "%s", results[i]);
        cr_assert_str_eq(F.urls, "", "%s", results[i]);
        cr_assert_str_eq(sc_error("reason"), "declined", "%s", results[i]);
        cr_assert(strstr(sc_error("message"), "nothing was changed"), "%s", sc_error("message"));
        cr_assert_str_eq(F.audit_class, "declined");
    }
    F.ask_result = NULL;
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
