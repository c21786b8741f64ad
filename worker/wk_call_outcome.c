/* wk_call_outcome: see wk_call_int.h. Where a call moves to a state and
 * where its answer is decided; the machine itself is in wk_call.c. */
#include "wk_call_int.h"

#include <string.h>

#include "wk_callrec.h"
#include "wk_pace.h"
#include "wk_rpc.h"

static void (*trace_fn)(enum wk_call_state s, void *ud);
static void *trace_ud;

void wk_call_trace(void (*fn)(enum wk_call_state s, void *ud), void *ud)
{
    trace_fn = fn;
    trace_ud = ud;
}

const char *wk_call_state_name(enum wk_call_state s)
{
    static const char *const names[] = {"confirm", "idem", "idem_read", "account", "refresh", "pace", "prepare", "fields",
                                        "contexts", "steps", "upstream", "idem_store", "audit", "answer", "done"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

void wk_call_enter(wk_call_t *c, enum wk_call_state s)
{
    c->state = s;
    if (s >= WK_CALL_IDEM_STORE && c->push) {
        /* The answer is decided: too late to cancel, nothing more to report. */
        wk_push_on_cancel(c->push, NULL, NULL);
        c->push = NULL;
    }
    if (trace_fn)
        trace_fn(s, trace_ud);
}

void wk_call_finish(wk_call_t *c, json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl,
                    int status)
{
    if (c->cancelled) {
        /* Whatever ended the wait the cancel came in: the record says
         * cancelled, and the client hears nothing. The response (an error,
         * so no idempotency record keeps it) is only the audit's. */
        json_decref(response);
        wk_result_free(result);
        response = wk_rpc_error(c->id, WK_RPC_INTERNAL, "the client cancelled the call", NULL);
        c->response = response;
        c->result = NULL;
        c->rec.status = 0;
        c->rec.cls = "cancelled";
        wk_call_enter(c, WK_CALL_IDEM_STORE);
        return;
    }
    c->response = response;
    c->result = result;
    /* The text is written now, once, so that the audit record counts the
     * bytes the model gets (a result too large to write fails at the
     * answer, as before). */
    if (result)
        (void)wk_result_render(result);
    c->rec.status = status;
    c->rec.cls = wk_callrec_error_class(result, rl, status);
    if (rl) {
        c->rec.rl = *rl;
        c->rec.has_rl = 1;
    }
    wk_call_enter(c, WK_CALL_IDEM_STORE);
}

/* The end of the upstream part (a result, or a pre-step's failure): an
 * OAuth call refused with 401 waits for a refreshed token and runs again
 * once; anything else is the answer. */
void wk_call_upstream_end(wk_call_t *c, wk_tool_result_t *result, const wk_upstream_meta_t *rl, int status)
{
    wk_upstream_meta_t none;
    if (!rl) {
        memset(&none, 0, sizeof none);
        rl = &none;
    }
    wk_pace_note(c->w, c->rec.account_id, rl, uv_now(c->w->loop));
    if (status == 401 && c->acct.oauth && !c->refreshed) {
        wk_result_free(result);
        wk_call_enter(c, WK_CALL_REFRESH);
        return;
    }
    wk_call_finish(c, wk_rpc_envelope(c->id), result, rl, status);
}

void wk_call_step_end(wk_call_t *c, int status, const char *msg, const char *hint, int upstream_status)
{
    wk_call_upstream_end(c, wk_result_step_error(c->tool, status, msg, hint), NULL, upstream_status);
}
