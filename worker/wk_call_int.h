/* wk_call_int: what the files of wk_call (wk_call.h) share, for them
 * only. One call is one wk_call_t; its files, from the top down (each
 * calls only the ones below it, never back up):
 *   wk_call.c           the machine: call_step(), wk_call_start, the io
 *                       callbacks that move a call on, IDEM, ACCOUNT,
 *                       REFRESH, PACE, IDEM_STORE, AUDIT, ANSWER,
 *                       cancellation, and call_free (the one place a call
 *                       is freed)
 *   wk_call_confirm.c   CONFIRM: the form the user confirms, and the answer
 *   wk_call_upstream.c  PREPARE, FIELDS, CONTEXTS, STEPS, UPSTREAM: the
 *                       upstream requests and what their answers mean
 *   wk_call_outcome.c   moving to a state (enter) and deciding the answer
 *                       (finish, upstream_end, step_end)
 * An io function's answer comes back to wk_call.c (c->on_http,
 * on_confirm, ...), which hands it to its stage, then runs call_step().
 */
#ifndef JSMCP_WK_CALL_INT_H
#define JSMCP_WK_CALL_INT_H

#include "wk_call.h"
#include "wk_callrec.h"
#include "wk_scope.h"

/* The upstream request in flight: which stage its answer is for. */
enum wk_call_sent {
    WK_CALL_SENT_FIELDS,  /* the site's field list */
    WK_CALL_SENT_CONTEXT, /* a field's project contexts, or the projects' search */
    WK_CALL_SENT_RESOLVE, /* a catalog resolve step */
    WK_CALL_SENT_SCOPE,   /* a config.projects pre-check */
    WK_CALL_SENT_MAIN     /* the tool's own request */
};

typedef struct wk_call_s {
    wk_worker_t *w;
    const wk_call_io_t *io;
    enum wk_call_state state;
    int stepping;                /* call_step's loop runs: a callback from inside it only moves the state */
    int waiting;                 /* an io function's callback is due */
    int starting;                /* wk_call_start has not returned: the answer waits for the loop */
    int unrecorded;              /* refused before it began: no metrics, no log line */
    defer_entry_t later;         /* the answer, from the loop */
    httpc_cb on_http;            /* wk_call.c's: every upstream answer goes through it to call_step() */
    enum wk_call_sent sent;      /* what that answer is for */
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

/* ---- wk_call_outcome.c ---- */

/* Moves c to state s (the trace hook sees it); from IDEM_STORE on, the
 * call can no longer be cancelled. */
void wk_call_enter(wk_call_t *c, enum wk_call_state s);
/* The call's answer is decided: response and result (stolen) are held for
 * IDEM_STORE, AUDIT and ANSWER; status and rl go to the record. A
 * cancelled call's answer is dropped. */
void wk_call_finish(wk_call_t *c, json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl,
                    int status);
/* The end of the upstream part (a result, or a pre-step's failure): an
 * OAuth call refused with 401 goes to REFRESH once; else the answer. */
void wk_call_upstream_end(wk_call_t *c, wk_tool_result_t *result, const wk_upstream_meta_t *rl, int status);
/* A pre-step failed: an isError result with msg and hint. */
void wk_call_step_end(wk_call_t *c, int status, const char *msg, const char *hint, int upstream_status);

/* ---- wk_call_confirm.c ---- */

/* Does this call ask the user first (config.confirm_writes)? */
int wk_call_confirm_needed(const wk_push_t *push, const wk_tool_t *t, const json_t *config);
/* CONFIRM: asks (elicitation/create); cb gets the client's answer. When
 * it cannot be asked, the call ends declined at once (no wait). */
void wk_call_confirm_ask(wk_call_t *c, wk_push_reply_fn cb);
/* The user's answer: on to the state after CONFIRM, or declined. */
void wk_call_confirm_answer(wk_call_t *c, const json_t *result, const char *err);

/* ---- wk_call_upstream.c: each leaves c waiting for c->on_http, or moved on ---- */

void wk_call_prepare(wk_call_t *c);  /* PREPARE */
void wk_call_fields(wk_call_t *c);   /* FIELDS */
void wk_call_contexts(wk_call_t *c); /* CONTEXTS */
void wk_call_steps(wk_call_t *c);    /* STEPS */
void wk_call_upstream(wk_call_t *c); /* UPSTREAM */
/* The answer of the request in flight (c->sent): the state moves on. */
void wk_call_http_answer(wk_call_t *c, const httpc_response_t *resp);

#endif
