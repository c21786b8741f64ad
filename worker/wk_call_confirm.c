/* wk_call_confirm: CONFIRM (wk_call.h: confirmation), see wk_call_int.h. */
#include "wk_call_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "wk_rpc.h"

#define CONFIRM_VALUE_MAX 200   /* characters of one argument shown */
#define CONFIRM_TEXT_MAX 4000   /* the whole message */

/* Does this call ask the user first? config.confirm_writes: true = every
 * write tool, false = none, absent = the destructive ones. */
int wk_call_confirm_needed(const wk_push_t *push, const wk_tool_t *t, const json_t *config)
{
    if (!push || !(push->caps & WK_CAP_ELICIT) || !(t->kind & WK_KIND_WRITE))
        return 0;
    const json_t *cw = json_object_get(config, "confirm_writes");
    if (json_is_boolean(cw))
        return json_is_true(cw);
    return json_is_true(json_object_get(json_object_get(t->listed, "annotations"), "destructiveHint"));
}

/* The form: what will change (the tool, then each argument as given,
 * shortened), and one boolean to confirm. */
static json_t *confirm_params(const wk_call_t *c)
{
    buf_t b;
    buf_init(&b, CONFIRM_TEXT_MAX);
    const char *title = jsontext_str(c->tool->listed, "title");
    buf_printf(&b, "Confirm this change in Jira Service Management.\nTool: %s (%s)", title ? title : c->tool->name,
               c->tool->name);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)c->args, k, v) {
        if (strcmp(k, "idempotency_key") == 0)
            continue;
        char *dump = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *s = dump ? dump : json_string_value(v);
        size_t n = strlen(s ? s : "");
        buf_printf(&b, "\n%.64s: %.*s%s", k, (int)(n > CONFIRM_VALUE_MAX ? CONFIRM_VALUE_MAX : n), s ? s : "",
                   n > CONFIRM_VALUE_MAX ? "..." : "");
        free(dump);
    }
    if (!buf_ok(&b)) { /* over the bound: the arguments so far are enough to decide on */
        buf_free(&b);
        buf_init(&b, CONFIRM_TEXT_MAX);
        buf_printf(&b, "Confirm this change in Jira Service Management.\nTool: %s (its arguments are too long "
                   "to show)", c->tool->name);
    }
    json_t *params = json_pack("{s:s%,s:{s:s,s:{s:{s:s,s:s,s:s,s:b}},s:[s]}}", "message", b.data ? b.data : "",
                               b.data ? b.len : 0, "requestedSchema", "type", "object", "properties", "confirm",
                               "type", "boolean", "title", "Apply this change", "description",
                               "Yes: the tool runs and changes JSM. No: nothing is changed.", "default", 1,
                               "required", "confirm");
    buf_free(&b);
    return params;
}

/* The call ends before it did anything: the user said no (or could not be
 * asked). The idempotency key is not the call's yet (IDEM comes after). */
static void confirm_refused(wk_call_t *c, const char *msg)
{
    c->idem_key[0] = 0;
    wk_call_finish(c, wk_rpc_envelope(c->id), wk_result_tool_error(c->tool, "declined", msg), NULL, 0);
    if (!c->cancelled)
        c->rec.cls = "declined";
}

void wk_call_confirm_answer(wk_call_t *c, const json_t *result, const char *err)
{
    const char *action = jsontext_str(result, "action");
    const json_t *yes = json_object_get(json_object_get(result, "content"), "confirm");
    if (action && strcmp(action, "accept") == 0 && !json_is_false(yes)) {
        wk_call_enter(c, c->after_confirm);
    } else if (action && (strcmp(action, "decline") == 0 || strcmp(action, "accept") == 0)) {
        confirm_refused(c, "the user declined this change: nothing was changed in JSM. Hint: Ask the user what "
                           "to change, or leave it.");
    } else {
        char msg[300];
        snprintf(msg, sizeof msg, "the change was not confirmed (%s): nothing was changed in JSM. Hint: Ask the user "
                 "before calling again.", err ? err : "the user dismissed the question");
        confirm_refused(c, msg);
    }
}

void wk_call_confirm_ask(wk_call_t *c, wk_push_reply_fn cb)
{
    c->waiting = 1;
    if (c->io->ask(c->push, "elicitation/create", confirm_params(c), WK_CALL_CONFIRM_MS, cb, c) == 0)
        return;
    c->waiting = 0;
    confirm_refused(c, "the user's confirmation could not be asked for (the client takes no event stream on this "
                       "request): nothing was changed in JSM. Hint: Call again from a client that accepts "
                       "text/event-stream, or ask the operator to set confirm_writes false.");
}
