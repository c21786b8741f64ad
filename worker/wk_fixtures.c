/* wk_fixtures: see wk_fixtures.h. */
#include "wk_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embed.h"
#include "jsontext.h"
#include "schema.h"

extern const embed_file_t worker_embedded[];

#define FX_STEP_MS 50        /* between the log and progress messages (the suite's "about 50 ms") */
#define FX_ASK_MS 60000      /* how long a fixture waits for the client's sampling or elicitation answer */

static json_t *doc;          /* worker/fixtures.json, read-only after load */

int wk_fixtures_load(char *err, size_t errsz)
{
    const embed_file_t *f = embed_find(worker_embedded, "worker/fixtures.json");
    if (!f) {
        snprintf(err, errsz, "worker/fixtures.json was not embedded");
        return -1;
    }
    char perr[160];
    json_t *d = jsontext_parse(f->data, f->len, 64, perr, sizeof perr);
    static const char *const arrays[] = {"tools", "prompts", "resources", "templates", NULL};
    for (int i = 0; d && arrays[i]; i++)
        if (!json_is_array(json_object_get(d, arrays[i]))) {
            snprintf(perr, sizeof perr, "\"%s\" must be an array", arrays[i]);
            json_decref(d);
            d = NULL;
        }
    if (!d) {
        snprintf(err, errsz, "worker/fixtures.json: %s", perr);
        return -1;
    }
    json_decref(doc);
    doc = d;
    return 0;
}

void wk_fixtures_free(void)
{
    json_decref(doc);
    doc = NULL;
}

int wk_fixtures_on(const wk_worker_t *w, const json_t *config)
{
    return w->cfg->fixtures && doc && json_is_true(json_object_get(config, "test_fixtures"));
}

const json_t *wk_fixtures_get(const char *what)
{
    return json_object_get(doc, what); /* NULL before a load: json_array_foreach takes it as empty */
}

char *wk_fixtures_subst(const char *s, const json_t *vars)
{
    buf_t b;
    buf_init(&b, 1u << 20);
    while (*s) {
        const char *open = strchr(s, '{');
        if (!open) {
            buf_append_str(&b, s);
            break;
        }
        buf_append(&b, s, (size_t)(open - s));
        size_t n = strspn(open + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        const char *val = NULL;
        if (n > 0 && n < 64 && open[1 + n] == '}') {
            char name[64];
            memcpy(name, open + 1, n);
            name[n] = 0;
            val = jsontext_str(vars, name);
            if (!val && (strcmp(name, "png") == 0 || strcmp(name, "wav") == 0))
                val = jsontext_str(doc, name);
        }
        if (val) {
            buf_append_str(&b, val);
            s = open + n + 2;
        } else {
            buf_append(&b, "{", 1);
            s = open + 1;
        }
    }
    size_t len;
    return buf_steal(&b, &len);
}

json_t *wk_fixtures_subst_json(const json_t *v, const json_t *vars)
{
    if (json_is_string(v)) {
        char *s = wk_fixtures_subst(json_string_value(v), vars);
        json_t *r = json_string(s ? s : "");
        free(s);
        return r;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        const json_t *x;
        json_array_foreach((json_t *)v, i, x)
            json_array_append_new(a, wk_fixtures_subst_json(x, vars));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x)
            json_object_set_new(o, k, wk_fixtures_subst_json(x, vars));
        return o;
    }
    return json_deep_copy(v);
}

static const json_t *find_tool(const char *name)
{
    size_t i;
    const json_t *t;
    json_array_foreach(wk_fixtures_get("tools"), i, t)
        if (name && strcmp(jsontext_str(t, "name"), name) == 0)
            return t;
    return NULL;
}

int wk_fixtures_is_tool(const char *name)
{
    return find_tool(name) != NULL;
}

json_t *wk_fixtures_tools(void)
{
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(wk_fixtures_get("tools"), i, t)
        json_array_append_new(out, json_pack("{s:O,s:O,s:O}", "name", json_object_get(t, "name"), "description",
                                             json_object_get(t, "description"), "inputSchema",
                                             json_object_get(t, "inputSchema")));
    return out;
}

/* ---- running ---- */

/* One fixture call in flight; freed in fx_closed only (after its timer). */
typedef struct fx_s {
    wk_worker_t *w;
    wk_push_t *push;
    const json_t *tool;
    const char *run;
    json_t *args;
    wk_fixtures_cb cb;
    void *ud;
    int step;
    uv_timer_t timer;
    json_t *result;             /* the answer, given to cb from the timer */
    int code;                   /* or a JSON-RPC error (invalid arguments) */
    char msg[400];
} fx_t;

static json_t *text_result(const char *text, int is_error)
{
    json_t *r = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", text);
    if (is_error)
        json_object_set_new(r, "isError", json_true());
    return r;
}

static void fx_closed(uv_handle_t *h)
{
    fx_t *fx = h->data;
    json_decref(fx->args);
    json_decref(fx->result);
    free(fx);
}

/* The answer, from the loop: cb never runs before wk_fixtures_call returned. */
static void fx_answer(uv_timer_t *t)
{
    fx_t *fx = t->data;
    json_t *r = fx->result;
    fx->result = NULL;
    wk_fixtures_cb cb = fx->cb;
    void *ud = fx->ud;
    int code = fx->code;
    char msg[sizeof fx->msg];
    str_copy(msg, sizeof msg, fx->msg);
    uv_close((uv_handle_t *)&fx->timer, fx_closed);
    cb(r, code, code ? msg : NULL, ud);
}

static void fx_finish(fx_t *fx, json_t *result)
{
    fx->result = result;
    uv_timer_stop(&fx->timer);
    uv_timer_start(&fx->timer, fx_answer, 0, 0);
}

/* test_tool_with_logging and test_tool_with_progress: three messages,
 * FX_STEP_MS apart, then the answer. */
static void fx_tick(uv_timer_t *t)
{
    fx_t *fx = t->data;
    static const char *const logs[] = {"Tool execution started", "Tool processing data", "Tool execution completed"};
    if (strcmp(fx->run, "logging") == 0)
        wk_push_log(fx->push, WK_LOG_INFO, "test_tool_with_logging", json_string(logs[fx->step]));
    else
        wk_push_progress(fx->push, fx->step * 50.0, 100.0, NULL);
    if (++fx->step < 3) {
        uv_timer_start(&fx->timer, fx_tick, FX_STEP_MS, 0);
        return;
    }
    fx_finish(fx, text_result(strcmp(fx->run, "logging") == 0 ? "Tool with logging executed successfully"
                                                               : "Tool with progress executed successfully",
                              0));
}

static void on_client_answer(const json_t *result, const char *err, void *ud)
{
    fx_t *fx = ud;
    char *text;
    if (!result) {
        buf_t b;
        buf_init(&b, 4096);
        buf_printf(&b, "%s: %s", jsontext_str(fx->tool, "name"), err ? err : "no answer");
        size_t len;
        text = buf_steal(&b, &len);
        fx_finish(fx, text_result(text ? text : "no answer", 1));
        free(text);
        return;
    }
    buf_t b;
    buf_init(&b, 64 * 1024);
    if (strcmp(fx->run, "sampling") == 0) {
        const json_t *content = json_object_get(result, "content");
        const char *t = jsontext_str(content, "text");
        buf_printf(&b, "LLM response: %s", t ? t : "(no text)");
    } else {
        char *content = json_dumps(json_object_get(result, "content"), JSON_COMPACT | JSON_SORT_KEYS);
        const char *action = jsontext_str(result, "action");
        buf_printf(&b, "%s: action=%s, content=%s",
                   strcmp(jsontext_str(fx->tool, "name"), "test_elicitation") == 0 ? "User response" : "Elicitation completed",
                   action ? action : "(none)", content ? content : "{}");
        free(content);
    }
    size_t len;
    text = buf_steal(&b, &len);
    fx_finish(fx, text_result(text ? text : "", 0));
    free(text);
}

/* test_sampling and the elicitation fixtures: a request to the client. */
static void fx_ask(fx_t *fx)
{
    json_t *params;
    const char *method;
    if (strcmp(fx->run, "sampling") == 0) {
        if (!(fx->push->caps & WK_CAP_SAMPLING)) {
            fx_finish(fx, text_result("test_sampling: the client does not support sampling", 1));
            return;
        }
        method = "sampling/createMessage";
        params = json_pack("{s:[{s:s,s:{s:s,s:s}}],s:i}", "messages", "role", "user", "content", "type", "text", "text",
                           jsontext_str(fx->args, "prompt"), "maxTokens", 100);
    } else {
        if (!(fx->push->caps & WK_CAP_ELICIT)) {
            fx_finish(fx, text_result("the client does not support elicitation", 1));
            return;
        }
        method = "elicitation/create";
        const char *msg = jsontext_str(fx->args, "message") ? jsontext_str(fx->args, "message") : jsontext_str(fx->tool, "message");
        params = json_pack("{s:s,s:O}", "message", msg ? msg : "", "requestedSchema",
                           json_object_get(fx->tool, "requestedSchema"));
    }
    if (wk_push_request(fx->push, method, params, FX_ASK_MS, on_client_answer, fx) != 0)
        fx_finish(fx, text_result("the request could not be sent to the client (it needs an event stream)", 1));
}

void wk_fixtures_call(wk_worker_t *w, wk_push_t *push, const char *name, const json_t *args, wk_fixtures_cb cb,
                      void *ud)
{
    const json_t *tool = find_tool(name);
    fx_t *fx = mem_calloc(1, sizeof *fx);
    fx->w = w;
    fx->push = push;
    fx->tool = tool;
    fx->args = json_is_object(args) ? json_incref((json_t *)args) : json_object();
    fx->cb = cb;
    fx->ud = ud;
    fx->run = jsontext_str(tool, "run") ? jsontext_str(tool, "run") : "";
    uv_timer_init(w->loop, &fx->timer);
    fx->timer.data = fx;
    char why[300];
    if (!tool || schema_validate(json_object_get(tool, "inputSchema"), fx->args, why, sizeof why) != 0) {
        fx->code = -32602;
        snprintf(fx->msg, sizeof fx->msg, tool ? "Invalid arguments for %s: %s" : "Unknown tool: %.128s%s", name,
                 tool ? why : "");
        uv_timer_start(&fx->timer, fx_answer, 0, 0);
        return;
    }
    if (strcmp(fx->run, "logging") == 0 || strcmp(fx->run, "progress") == 0) {
        uv_timer_start(&fx->timer, fx_tick, 0, 0);
    } else if (strcmp(fx->run, "sampling") == 0 || strcmp(fx->run, "elicitation") == 0) {
        fx_ask(fx);
    } else {
        json_t *r = json_object();
        json_object_set_new(r, "content", wk_fixtures_subst_json(json_object_get(tool, "content"), NULL));
        if (json_is_true(json_object_get(tool, "isError")))
            json_object_set_new(r, "isError", json_true());
        fx_finish(fx, r);
    }
}
