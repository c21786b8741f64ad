/* wk_call: one tool call of a catalog tool, as one state machine (in the
 * manner of curl's multi_runsingle): one wk_call_t holds everything the
 * call needs, one enum names where it is, and call_step() moves it on until
 * it is answered and freed, in one place.
 *
 *   IDEM -> IDEM_READ?                    (writes with an idempotency_key)
 *   ACCOUNT -> REFRESH? -> PACE? -> ACCOUNT (once more after pacing)
 *   PREPARE -> FIELDS? -> CONTEXTS? -> STEPS* -> UPSTREAM
 *   (UPSTREAM or a pre-step answered 401 on OAuth: REFRESH once, then again)
 *   IDEM_STORE -> AUDIT -> ANSWER -> DONE
 *
 * Every failure edge goes to IDEM_STORE with the answer the agent gets (a
 * JSON-RPC error or an isError tool result); docs/architecture.md draws
 * the whole graph. The side effects (Redis, the account store, the
 * refresher, pacing, upstream HTTP, the audit log) go through a table of
 * functions (wk_call_io_t) so that a unit test drives the machine with
 * fakes; the worker uses wk_call_io_default.
 *
 * Callback rule (the tree's): done runs exactly once, never before
 * wk_call_start returns (an answer known at once, a refusal, is given from
 * the loop: defer.h). The worker's io functions never call back before they
 * return either; call_step() still runs as a loop that a callback from
 * inside it only moves on (a test's fakes answer at once), so nothing is
 * counted or freed twice.
 */
#ifndef JSMCP_WK_CALL_H
#define JSMCP_WK_CALL_H

#include <jansson.h>

#include "httpc.h"
#include "pacerule.h"
#include "rcli.h"
#include "wk_catalog.h"
#include "wk_record.h"
#include "wk_result.h"
#include "wk_proc.h"

enum wk_call_state {
    WK_CALL_IDEM,       /* SET NX the idempotency record ("pending") */
    WK_CALL_IDEM_READ,  /* the key was taken: GET its record (replay, refuse or "still running") */
    WK_CALL_ACCOUNT,    /* read the account (the store's cache or Redis) */
    WK_CALL_REFRESH,    /* OAuth: wait for a refreshed token (once per call) */
    WK_CALL_PACE,       /* take a pacing token (once per call) */
    WK_CALL_PREPARE,    /* check and prepare the arguments (cached field list) */
    WK_CALL_FIELDS,     /* GET the site's field list */
    WK_CALL_CONTEXTS,   /* project contexts of fields that share a name */
    WK_CALL_STEPS,      /* config.projects pre-checks, then the catalog's resolve steps */
    WK_CALL_UPSTREAM,   /* the tool's own request */
    WK_CALL_IDEM_STORE, /* the idempotency record: the result, or gone after a failure */
    WK_CALL_AUDIT,      /* the audit record made durable (wk_audit.h) */
    WK_CALL_ANSWER,     /* done(), metrics, log line */
    WK_CALL_DONE        /* freed */
};

/* The state's name ("idem", "account", ...), for tests and logs. */
const char *wk_call_state_name(enum wk_call_state s);

/* The side effects of a call (the worker's: wk_call_io_default). Each
 * callback runs exactly once when the function returns 0 (or, for the
 * void ones, always); the worker's never before the function returns. */
typedef void (*wk_call_account_cb)(int rc, const wk_account_t *acct, const char *err, void *ud);
typedef void (*wk_call_pace_cb)(int rc, long wait_ms, void *ud);
typedef struct wk_call_io_s {
    /* rcli_command_argv: 0, or -1 (not connected, cb will not run) */
    int (*redis)(wk_worker_t *w, rcli_cb cb, void *ud, int argc, const char **argv, const size_t *lens);
    /* wk_store_account */
    void (*account)(wk_worker_t *w, const char *account_id, wk_call_account_cb cb, void *ud);
    /* wk_refresh_wait */
    void (*refresh)(wk_worker_t *w, const char *account_id, long long used_version, wk_call_account_cb cb,
                    void *ud);
    /* wk_pace_take */
    void (*pace)(wk_worker_t *w, const char *account_id, const pace_rule_t *rule, wk_call_pace_cb cb, void *ud);
    /* httpc_request: 0, or -1 (busy or closing; cb will not run) */
    int (*send)(wk_worker_t *w, const httpc_request_t *rq, httpc_cb cb, void *ud);
    /* wk_audit_ready, wk_audit_append */
    int (*audit_ready)(wk_worker_t *w);
    void (*audit)(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud, int durable), void *ud);
} wk_call_io_t;
extern const wk_call_io_t wk_call_io_default;

/* The answer: a JSON-RPC response (stolen): an error, or the envelope
 * (wk_rpc_envelope) of result (stolen, else NULL), the tool's typed
 * result; wk_result_dump writes the two. rl: when an upstream answer or
 * pacing gave them, the rate-limit facts (else NULL). */
typedef void (*wk_call_done_fn)(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl,
                                void *ud);

/* Runs tool with validated args (stolen) for srv, answering JSON-RPC id
 * (copied). request_id and traceparent (or NULL) as for wk_mcp_dispatch.
 * io NULL = wk_call_io_default. Every call appends one audit record. */
void wk_call_start(wk_worker_t *w, const wk_call_io_t *io, const wk_server_t *srv, const json_t *id,
                   const wk_tool_t *tool, json_t *args, const char *request_id, const char *traceparent,
                   wk_call_done_fn done, void *ud);

/* Test hook: runs fn(state, ud) at every state a call enters (NULL: off). */
void wk_call_trace(void (*fn)(enum wk_call_state s, void *ud), void *ud);

#endif
