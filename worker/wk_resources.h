/* wk_resources: MCP resources (resources/list, resources/templates/list,
 * resources/read) from data: worker/resources.json's templates (an issue, a
 * customer request, a queue's issues, a service desk, a desk's knowledge-
 * base articles for a search, an attachment) and,
 * on a server of the conformance profile, worker/fixtures.json's.
 *
 * A resource is read through catalog tools on the path of tools/call
 * (wk_mcp_run_tool), so the server's filters, its scope (config.projects:
 * pre-checks, item checks), pacing, OAuth refresh and the audit record
 * apply exactly as they do to the tools; a template is offered when all
 * its tools are. A read gives compact JSON (the tools' answers), or
 * markdown with ?format=markdown, at most WK_RESOURCE_MAX bytes.
 * resources/list gives the service desks in scope and their queues.
 *
 * Errors: an unknown or malformed URI, or one the server does not offer,
 * is -32602; a resource that does not exist or lies outside the server's
 * scope is -32002 (resource not found); an upstream failure (rate limit,
 * 5xx, no answer) is -32603 with Jira's message.
 */
#ifndef JSMCP_WK_RESOURCES_H
#define JSMCP_WK_RESOURCES_H

#include <jansson.h>
#include <stdint.h>

#include "wk_mcp.h"
#include "wk_proc.h"

#define WK_RESOURCE_MAX (256 * 1024) /* bytes of one resource's text */
#define WK_RPC_RESOURCE_NOT_FOUND (-32002)

/* Loads the embedded worker/resources.json against w->catalog; 0 or -1. */
int wk_resources_load(wk_worker_t *w, char *err, size_t errsz);
void wk_resources_free(wk_worker_t *w);

/* resources/templates/list for a server with this config; NULL with *code
 * and err for bad params. */
json_t *wk_resources_templates(wk_worker_t *w, const json_t *config, const json_t *params, int *code, char *err,
                               size_t errsz);

/* Callback rule (the tree's, defer.h): cb runs exactly once, never before
 * the call that registered it returns, also when the answer is known at
 * once (a refused URI or cursor, a fixture: wk_mcp_tool_answer); result
 * (stolen) or NULL with a JSON-RPC error (code, message). The shape of
 * wk_mcp_tool_cb. */
typedef void (*wk_resources_cb)(json_t *result, int code, const char *message, void *ud);
/* resources/list: the desks in scope and their queues (a page of desks per
 * cursor), and the fixture resources. */
void wk_resources_list(wk_worker_t *w, const wk_server_t *srv, const json_t *params, const char *request_id,
                       const char *traceparent, wk_resources_cb cb, void *ud);
/* resources/read of uri: {"contents":[{"uri","mimeType","text"|"blob"}]}.
 * request_id and traceparent (or NULL) go with the tool calls it makes
 * (wk_mcp_run_tool). */
void wk_resources_read(wk_worker_t *w, const wk_server_t *srv, const char *uri, const char *request_id,
                       const char *traceparent, wk_resources_cb cb, void *ud);

/* 0 when uri names a resource a server with this config offers (a template
 * it offers, with valid variables, or a fixture resource); else -1 with
 * err. No upstream call. */
int wk_resources_check(wk_worker_t *w, const json_t *config, const char *uri, char *err, size_t errsz);

/* The definition of variable var of the offered template whose uriTemplate
 * is tmpl ({"schema", "complete"?}, borrowed), else NULL. */
const json_t *wk_resources_var(wk_worker_t *w, const json_t *config, const char *tmpl, const char *var);

/* A hash of the templates a server with this config offers, and whether it
 * lists desks and queues (list_changed: wk_listwatch.h). */
uint64_t wk_resources_fingerprint(wk_worker_t *w, const json_t *config);

#endif
