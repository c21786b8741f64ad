/* wk_call: one tool call of a catalog tool, as one state machine (in the
 * manner of curl's multi_runsingle): one wk_call_t holds everything the
 * call needs, one enum names where it is, and call_step() moves it on until
 * it is answered and freed, in one place.
 *
 *   CONFIRM?                              (a write the user confirms first: elicitation)
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
 * fakes; the worker uses wk_call_io_default. The code is split by stage
 * (the machine, CONFIRM, the upstream requests, the outcome): the files
 * and what each does are listed in wk_call_int.h.
 *
 * Cancellation: a call started with a push (the request's way back,
 * wk_push.h) is cancellable until it has its answer: a notifications/cancelled
 * for it removes the upstream transfer in flight (FIELDS, CONTEXTS, STEPS,
 * UPSTREAM: io.cancel, the connection is closed) and goes to IDEM_STORE
 * with no answer for the client; a cancel during an io wait without a
 * transfer (IDEM, ACCOUNT, REFRESH, PACE) takes effect when that wait ends,
 * before any upstream request. The audit record's error_class is
 * "cancelled"; done runs with response and result NULL. A cancel that comes once the
 * upstream answer is in (IDEM_STORE and after) is ignored: the call is
 * answered.
 *
 * Progress: with a push whose request has a progressToken, each upstream
 * request after the first (a pre-step, the field list, the tool's own
 * request) sends notifications/progress with the number of requests done
 * so far and the step that starts ("Step 2: GET /rest/api/3/..."); the
 * caller sends the first (0) and the last ("Done").
 *
 * Confirmation (elicitation): when the client declared the elicitation
 * capability and the server's config.confirm_writes asks for it (true:
 * every write tool; absent: the destructive ones, annotations.destructiveHint;
 * false: none), the call starts in CONFIRM: elicitation/create on the
 * request's stream shows the tool, its target and the arguments, and waits
 * at most WK_CALL_CONFIRM_MS. accept runs the call as usual; decline,
 * cancel, no answer in time or a client error end it with an isError
 * result (reason "declined") and the audit error_class "declined", before
 * any upstream request. Without the capability, or with confirm_writes
 * false, the call is what it was.
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
#include "wk_push.h"
#include "wk_record.h"
#include "wk_result.h"
#include "wk_proc.h"

/* How long a call waits for the user's confirmation. */
#define WK_CALL_CONFIRM_MS 120000

enum wk_call_state {
    WK_CALL_CONFIRM,    /* elicitation/create: the user confirms the write (or not) */
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
    /* httpc_cancel: drops the requests sent with ud (their callbacks never
     * run); returns how many */
    size_t (*cancel)(wk_worker_t *w, void *ud);
    /* wk_push_request (a request to the client: elicitation/create) */
    int (*ask)(wk_push_t *p, const char *method, json_t *params, long timeout_ms, wk_push_reply_fn cb, void *ud);
} wk_call_io_t;
extern const wk_call_io_t wk_call_io_default;

/* The answer: a JSON-RPC response (stolen): an error, or the envelope
 * (wk_rpc_envelope) of result (stolen, else NULL), the tool's typed
 * result; wk_result_dump writes the two. A cancelled call has neither:
 * response and result are NULL, nothing is sent. rl: when an upstream
 * answer or pacing gave them, the rate-limit facts (else NULL). */
typedef void (*wk_call_done_fn)(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl,
                                void *ud);

/* Runs tool with validated args (stolen) for srv, answering JSON-RPC id
 * (copied). push: the request's way back (progress, cancellation), valid
 * until done ran, or NULL (a call of the worker's own). request_id and
 * traceparent (or NULL) as for wk_mcp_dispatch. io NULL =
 * wk_call_io_default. Every call appends one audit record. */
void wk_call_start(wk_worker_t *w, const wk_call_io_t *io, const wk_server_t *srv, wk_push_t *push, const json_t *id,
                   const wk_tool_t *tool, json_t *args, const char *request_id, const char *traceparent,
                   wk_call_done_fn done, void *ud);

/* Test hook: runs fn(state, ud) at every state a call enters (NULL: off). */
void wk_call_trace(void (*fn)(enum wk_call_state s, void *ud), void *ud);

#endif
