/* wk_prompts: MCP prompts (prompts/list, prompts/get) from data:
 * worker/prompts.json (the service-desk workflows) and, on a server of the
 * conformance profile, worker/fixtures.json's prompts (wk_fixtures.h).
 *
 * A JSM prompt is a list of steps, each naming the tools it tells the model
 * to call. It is offered when the server offers every tool of its
 * non-optional steps (methods, tags, projects: wk_catalog_allowed), like the
 * tools themselves; an optional step whose tools are not offered is left out
 * of the text. Arguments are checked against their schemas before any text
 * is made. Loaded and checked once at start: an unknown tool, argument kind
 * or placeholder fails the start, not a request.
 */
#ifndef JSMCP_WK_PROMPTS_H
#define JSMCP_WK_PROMPTS_H

#include <jansson.h>
#include <stdint.h>

#include "wk_mcp.h"
#include "wk_proc.h"

/* Loads the embedded worker/prompts.json against w->catalog; 0 or -1 with
 * err naming the prompt. Also checks the fixture prompts' shape. */
int wk_prompts_load(wk_worker_t *w, char *err, size_t errsz);
/* The same for a document in memory (unit tests). */
int wk_prompts_load_doc(wk_worker_t *w, const char *json, size_t len, char *err, size_t errsz);
void wk_prompts_free(wk_worker_t *w);

/* prompts/list: {"prompts":[...]} for a server with this config; NULL with
 * *code and err for bad params (a cursor: the list has one page). */
json_t *wk_prompts_list(wk_worker_t *w, const json_t *config, const json_t *params, int *code, char *err,
                        size_t errsz);
/* prompts/get: {"description","messages":[...]}; NULL with *code
 * (-32602) and err for an unknown prompt or bad arguments. */
json_t *wk_prompts_get(wk_worker_t *w, const json_t *config, const json_t *params, int *code, char *err,
                       size_t errsz);

/* The definition of argument arg of prompt name ({"name","schema",
 * "complete"?,...}, borrowed) when the server offers that prompt, else NULL. */
const json_t *wk_prompts_argument(wk_worker_t *w, const json_t *config, const char *prompt, const char *arg);

/* A hash of the names of the prompts a server with this config offers
 * (list_changed: wk_listwatch.h). */
uint64_t wk_prompts_fingerprint(wk_worker_t *w, const json_t *config);

#endif
