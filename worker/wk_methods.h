/* wk_methods: the MCP methods beyond tools, and the entry the transport
 * calls for every request. prompts/list and prompts/get (wk_prompts.h),
 * resources/list, resources/templates/list, resources/read
 * (wk_resources.h), resources/subscribe and resources/unsubscribe
 * (wk_subscribe.h), completion/complete (wk_complete.h) and
 * logging/setLevel (the level is kept with the session, sess:<id>) are
 * answered here; initialize, ping and the tools go on to wk_mcp_dispatch.
 */
#ifndef JSMCP_WK_METHODS_H
#define JSMCP_WK_METHODS_H

#include <jansson.h>

#include "wk_mcp.h"
#include "wk_push.h"
#include "wk_session.h"
#include "wk_proc.h"

/* wk_mcp_dispatch's contract (request_id and traceparent too): done runs exactly once, never before this
 * returns, with the response (stolen); push stays valid until then. */
void wk_methods_dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                         const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                         void *ud);

/* Loads the prompt and resource catalogs and the fixtures; 0 or -1. */
int wk_methods_load(wk_worker_t *w, char *err, size_t errsz);
void wk_methods_free(wk_worker_t *w);

#endif
