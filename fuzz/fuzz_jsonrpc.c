/* libFuzzer target: one JSON-RPC message through the worker's real
 * dispatch (wk_mcp_dispatch): initialize, ping, tools/list paging,
 * unknown methods, and tools/call all the way: argument
 * validation against the embedded catalog, discovery exposure, idempotency
 * keys, the account read from (fake) Redis and opened, pacing, the request
 * built for the JSM site, the site's answer projected into the result, the
 * audit record. Redis and the site are fakes in this process
 * (fuzz/fz_worker.h): no network.
 *
 * The input is one JSON-RPC message. Two optional members steer the fakes:
 * "_config" is the MCP server's config (method/tag/project filters,
 * tool_exposure), "_upstream" what the JSM site answers: {"status": 200,
 * "headers": "Name: v\r\n...", "body": <JSON, or a string sent as is>}, or
 * an array of those for the call's successive requests (a JQL search reads
 * the field list first); "_traceparent" (a string) is the request's
 * traceparent, sent upstream with the call. The done callback must run
 * exactly once and the answer must serialise. Build and run: make fuzz
 * (FUZZ_FILTER=jsonrpc). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz_worker.h"
#include "jsontext.h"
#include "wk_mcp.h"

typedef struct answer_s {
    int calls;
    json_t *response;
    char *text; /* the response as written */
    size_t n;
} answer_t;

static void on_done(json_t *response, wk_tool_result_t *result, const wk_upstream_meta_t *rl, void *ud)
{
    answer_t *a = ud;
    (void)rl;
    a->calls++;
    json_decref(a->response);
    a->response = response;
    free(a->text);
    a->text = wk_result_dump(response, result, &a->n); /* the bytes the worker writes */
    wk_result_free(result);
}

/* Queues one answer of the fake JSM site. */
static void push_answer(const json_t *up)
{
    if (!json_is_object(up))
        return;
    const json_t *body = json_object_get(up, "body");
    char *text = json_is_string(body) ? NULL : jsontext_dump(body);
    const char *b = json_is_string(body) ? json_string_value(body) : text ? text : "";
    size_t n = json_is_string(body) ? json_string_length(body) : strlen(b);
    fz_upstream_push((int)jsontext_int(up, "status", 200), jsontext_str(up, "headers"), b, n);
    free(text);
}

/* What the fake JSM site answers for this input. */
static void set_upstream(const json_t *up)
{
    size_t i;
    const json_t *a;
    if (json_is_array(up))
        json_array_foreach(up, i, a)
            push_answer(a);
    else
        push_answer(up);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    wk_worker_t *w = fz_worker();
    json_t *msg = jsontext_parse((const char *)data, size, 32, err, sizeof err); /* the worker's depth limit */
    if (!msg)
        return 0;
    json_t *resp = NULL;
    enum wk_msg_kind kind = wk_rpc_classify(msg, err, sizeof err);
    if (kind == WK_MSG_REQUEST) {
        set_upstream(json_object_get(msg, "_upstream"));
        const json_t *cfg = json_object_get(msg, "_config");
        wk_server_t srv;
        if (wk_server_parse(&srv, fz_server_record(json_is_object(cfg) ? cfg : NULL), "fuzz") != 0)
            abort();
        answer_t a = {0};
        /* The client's traceparent, when the input gives one: parsed like
         * any header. No session and no push: the messages around a call
         * are wk_push's (fuzz_wkhttp drives them through the transport). */
        const json_t *tp = json_object_get(msg, "_traceparent");
        wk_mcp_dispatch(w, &srv, NULL, NULL, msg, "fuzz-request", json_is_string(tp) ? json_string_value(tp) : NULL,
                        on_done, &a);
        fz_worker_settle();
        if (a.calls != 1)
            abort(); /* done must run exactly once */
        json_decref(a.response);
        wk_server_clear(&srv);
        if (a.text && getenv("FZ_SHOW")) /* to check seeds */
            fprintf(stderr, "%.*s\n", (int)(a.n < 300 ? a.n : 300), a.text);
        free(a.text);
    } else if (kind == WK_MSG_INVALID) {
        resp = wk_rpc_error(NULL, WK_RPC_INVALID_REQUEST, err, NULL);
    }
    if (resp) {
        size_t n;
        char *text = wk_rpc_dump(resp, &n);
        if (text && getenv("FZ_SHOW")) /* to check seeds */
            fprintf(stderr, "%.*s\n", (int)(n < 300 ? n : 300), text);
        free(text);
        json_decref(resp);
    }
    json_decref(msg);
    return 0;
}
