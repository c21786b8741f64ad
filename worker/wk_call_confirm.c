/* wk_call_confirm: CONFIRM (wk_call.h: confirmation), see wk_call_int.h. */
#include "wk_call_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "wk_rpc.h"

#define CONFIRM_VALUE_MAX 200   /* characters of one argument shown */
#define CONFIRM_KEY_MAX 64      /* characters of an argument's name */
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

/* Appends s[0..n) as one line the user can trust: at most max characters
 * (UTF-8 sequences whole; "..." when cut), in quotes when quote is set
 * (with '"' and '\\' escaped), every control character (C0, DEL, C1), line
 * or paragraph separator and invisible or direction-changing format
 * character (U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF) shown as
 * an escape, and any byte that is not UTF-8 as U+FFFD. An argument written
 * by whoever wrote the ticket cannot then add lines that read as this
 * server's own text, nor reorder what the user sees. */
static void confirm_text(buf_t *b, const char *s, size_t n, size_t max, int quote)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t chars = 0;
    if (quote)
        buf_append(b, "\"", 1);
    while (p < end && chars < max) {
        unsigned c = *p;
        size_t len = 1;
        if (c >= 0x80) {
            len = jsontext_utf8_seq(p, end);
            if (len == 0) {
                buf_append(b, "\xEF\xBF\xBD", 3);
                p++;
                chars++;
                continue;
            }
            c = len == 2 ? (c & 0x1Fu) << 6 | (p[1] & 0x3Fu)
                : len == 3 ? (c & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu)
                           : (c & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
        }
        if (c == '\n')
            buf_append_str(b, "\\n");
        else if (c == '\r')
            buf_append_str(b, "\\r");
        else if (c == '\t')
            buf_append_str(b, "\\t");
        else if (c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x200B && c <= 0x200F) ||
                 (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2069) || c == 0xFEFF)
            buf_printf(b, "\\u%04X", c);
        else if (quote && (c == '"' || c == '\\'))
            buf_printf(b, "\\%c", (char)c);
        else
            buf_append(b, (const char *)p, len);
        p += len;
        chars++;
    }
    if (quote)
        buf_append(b, "\"", 1);
    if (p < end)
        buf_append_str(b, "...");
}

/* The form: what will change (the tool, then each argument as given, one
 * line each, shortened), and one boolean to confirm, not preset: the user
 * chooses. */
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
        buf_append(&b, "\n", 1);
        confirm_text(&b, k, strlen(k), CONFIRM_KEY_MAX, 0);
        buf_append(&b, ": ", 2);
        if (json_is_string(v)) {
            confirm_text(&b, json_string_value(v), json_string_length(v), CONFIRM_VALUE_MAX, 1);
        } else {
            char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            confirm_text(&b, dump ? dump : "", dump ? strlen(dump) : 0, CONFIRM_VALUE_MAX, 0);
            free(dump);
        }
    }
    if (!buf_ok(&b)) { /* over the bound: the arguments so far are enough to decide on */
        buf_free(&b);
        buf_init(&b, CONFIRM_TEXT_MAX);
        buf_printf(&b, "Confirm this change in Jira Service Management.\nTool: %s (its arguments are too long "
                   "to show)", c->tool->name);
    }
    json_t *params = json_pack("{s:o,s:{s:s,s:{s:{s:s,s:s,s:s}},s:[s]}}", "message",
                               jsontext_string_lossy(b.data, b.data ? b.len : 0), "requestedSchema", "type", "object",
                               "properties", "confirm", "type", "boolean", "title", "Apply this change",
                               "description", "Yes: the tool runs and changes JSM. No: nothing is changed.",
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

/* The user's answer. Only an accept whose confirm is JSON true applies the
 * change: a form that leaves an unticked box out of its content, or a
 * client that answers with "yes" or 1, has not said yes to the question
 * asked (a boolean, required), and a write runs only on a clear yes. */
void wk_call_confirm_answer(wk_call_t *c, const json_t *result, const char *err)
{
    const char *action = jsontext_str(result, "action");
    const json_t *yes = json_object_get(json_object_get(result, "content"), "confirm");
    if (action && strcmp(action, "accept") == 0 && json_is_true(yes)) {
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
