/* wk_methods: see wk_methods.h. */
#include "wk_methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "wk_complete.h"
#include "wk_fixtures.h"
#include "wk_prompts.h"
#include "wk_resources.h"
#include "wk_subscribe.h"

int wk_methods_load(wk_worker_t *w, char *err, size_t errsz)
{
    if (wk_fixtures_load(err, errsz) != 0 || wk_prompts_load(w, err, errsz) != 0 ||
        wk_resources_load(w, err, errsz) != 0)
        return -1;
    return 0;
}

void wk_methods_free(wk_worker_t *w)
{
    wk_complete_free(w);
    wk_resources_free(w);
    wk_prompts_free(w);
    wk_fixtures_free();
}

/* An answer that comes later (resources, completion, logging/setLevel). */
typedef struct later_s {
    json_t *id;
    wk_mcp_done_fn done;
    void *ud;
} later_t;

static later_t *later_new(const json_t *id, wk_mcp_done_fn done, void *ud)
{
    later_t *l = mem_calloc(1, sizeof *l);
    l->id = json_deep_copy(id);
    l->done = done;
    l->ud = ud;
    return l;
}

static void on_later(json_t *result, int code, const char *message, void *ud)
{
    later_t *l = ud;
    l->done(result ? wk_rpc_result(l->id, result) : wk_rpc_error(l->id, code, message, NULL), NULL, NULL, l->ud);
    json_decref(l->id);
    free(l);
}

static void on_level(int rc, const wk_session_t *s, void *ud)
{
    if (rc == 1)
        on_later(json_object(), 0, NULL, ud);
    else
        on_later(NULL, rc == 0 ? WK_RPC_SESSION_NOT_FOUND : WK_RPC_INTERNAL,
                 rc == 0 ? "Session not found" : "Session store unavailable, try again", ud);
}

/* Every part keeps the callback rule: an answer known here goes through
 * wk_mcp_answer, the others come from Redis or a call. */
void wk_methods_dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                         const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                         void *ud)
{
    const json_t *id = json_object_get(msg, "id");
    const char *method = jsontext_str(msg, "method");
    const json_t *params = json_object_get(msg, "params");
    const json_t *cfg = srv->config;
    char err[600];
    int code = WK_RPC_INVALID_PARAMS;
    json_t *res = NULL;

    if (strcmp(method, "prompts/list") == 0) {
        res = wk_prompts_list(w, cfg, params, &code, err, sizeof err);
    } else if (strcmp(method, "prompts/get") == 0) {
        res = wk_prompts_get(w, cfg, params, &code, err, sizeof err);
    } else if (strcmp(method, "resources/templates/list") == 0) {
        res = wk_resources_templates(w, cfg, params, &code, err, sizeof err);
    } else if (strcmp(method, "resources/list") == 0) {
        wk_resources_list(w, srv, params, request_id, traceparent, on_later, later_new(id, done, ud));
        return;
    } else if (strcmp(method, "resources/read") == 0) {
        wk_resources_read(w, srv, jsontext_str(params, "uri"), request_id, traceparent, on_later, later_new(id, done, ud));
        return;
    } else if (strcmp(method, "resources/subscribe") == 0 && sess) {
        wk_subscribe(w, srv, sess, params, request_id, traceparent, on_later, later_new(id, done, ud));
        return;
    } else if (strcmp(method, "resources/unsubscribe") == 0 && sess) {
        wk_unsubscribe(w, srv, sess, params, on_later, later_new(id, done, ud));
        return;
    } else if (strcmp(method, "completion/complete") == 0) {
        wk_complete(w, srv, params, request_id, traceparent, on_later, later_new(id, done, ud));
        return;
    } else if (strcmp(method, "logging/setLevel") == 0 && sess) {
        const char *level = jsontext_str(params, "level");
        if (wk_push_level(level) < 0) {
            snprintf(err, sizeof err, "Invalid params: level must be one of debug, info, notice, warning, error, "
                     "critical, alert, emergency");
        } else {
            /* Kept with the session: any worker process serving its next
             * request sends log messages at this level (wk_push.h). */
            wk_session_set_level(w, sess->id, level, on_level, later_new(id, done, ud));
            return;
        }
    } else {
        wk_mcp_dispatch(w, srv, sess, push, msg, request_id, traceparent, done, ud);
        return;
    }
    wk_mcp_answer(w, res ? wk_rpc_result(id, res) : wk_rpc_error(id, code, err, NULL), NULL, done, ud);
}
