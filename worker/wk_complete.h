/* wk_complete: completion/complete for prompt arguments and resource
 * template variables. Each argument names its source ("complete" in
 * worker/prompts.json and worker/resources.json):
 *   issue_key     issue keys starting with the value, from a JQL search
 *                 (the server's project scope applies: wk_jql)
 *   desk          service desk ids, matched on the id, name or project key
 *   queue_name,   a desk's queues (the desk from context.arguments.
 *   queue_id      service_desk_id)
 *   request_type  a desk's request type names
 *   transition    the workflow transitions of context.arguments.issue_key
 *   user          users whose name or email starts with the value
 *   enum          the argument's own enum values
 * Every upstream read is a catalog tool run on the path of tools/call
 * (wk_mcp_run_tool: scope, pacing, audit). Candidates are kept per
 * account and project scope for JSMCP_COMPLETION_CACHE (a bounded table
 * per process), so typing a prefix does not call Jira per keystroke. At
 * most 100 values are answered (the spec's limit), with total and hasMore.
 * A source whose tool the server does not offer, or a failed read, gives
 * no values rather than an error: completion is a hint.
 */
#ifndef JSMCP_WK_COMPLETE_H
#define JSMCP_WK_COMPLETE_H

#include <jansson.h>

#include "wk_mcp.h"
#include "wk_resources.h"
#include "wk_proc.h"

/* completion/complete. Callback rule (the tree's, defer.h): cb
 * (wk_resources.h's shape) runs exactly once, never before this returns,
 * also when the answer is known at once (refused params, an enum, a cache
 * hit). */
void wk_complete(wk_worker_t *w, const wk_server_t *srv, const json_t *params, const char *request_id,
                 const char *traceparent, wk_resources_cb cb, void *ud);

void wk_complete_free(wk_worker_t *w);

#endif
