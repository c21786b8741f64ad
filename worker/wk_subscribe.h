/* wk_subscribe: resources/subscribe and resources/unsubscribe, honoured by
 * polling. JSM has no change feed an MCP server could listen to, so each
 * subscribed resource is read again every JSMCP_RESOURCE_POLL_INTERVAL and
 * its sessions get notifications/resources/updated when the answer's hash
 * changes.
 *
 * Shared by every worker process and host through Redis, so a resource is
 * polled once per interval however many sessions (on however many workers)
 * subscribe to it:
 *   rw:<rid>    hash: th (the server URL's token hash), uri, acct, h (hash
 *               of the last answer); rid = sha256(th "\n" uri)
 *   rws:<rid>   sorted set: the subscribed session ids, scored by when the
 *               subscription lapses (the session TTL)
 *   rpoll       sorted set: rid scored by when it is next due
 *   ssub:<sid>  set: the session's rids (at most WK_SUB_PER_SESSION)
 *   rpace:<acct> token bucket (JSMCP_RESOURCE_POLL_RATE): polls per account
 * Every process claims due resources with one script (ZRANGEBYSCORE rpoll,
 * then the resource's due time moves a lease ahead: nobody else polls it
 * meanwhile; one whose account's bucket is empty is put back by the wait),
 * reads each through its server (wk_resources_read: scope, pacing, audit as
 * for the tools), and commits the new hash with a second script that
 * PUBLISHes the notification to every subscribed session's channel
 * (ssech:<sid>, wk_push.h) when it changed. Sessions that ended are dropped
 * by the claim; a resource nobody watches any more leaves rpoll. A poll that
 * fails for a passing reason (429, 5xx, no answer) changes nothing and is
 * tried at the next interval.
 */
#ifndef JSMCP_WK_SUBSCRIBE_H
#define JSMCP_WK_SUBSCRIBE_H

#include <jansson.h>

#include "wk_mcp.h"
#include "wk_resources.h"
#include "wk_session.h"
#include "wk_proc.h"

#define WK_SUB_PER_SESSION 100   /* subscriptions of one session */
#define WK_SUB_PER_RESOURCE 1000 /* sessions subscribed to one resource of one URL */

/* Callback rule (the tree's, defer.h): cb (wk_resources.h) runs exactly
 * once, never before the call returns, also for a refused URI.
 * resources/subscribe: reads the resource once (it must exist and be in
 * the server's scope), then records the subscription: {} or an error. */
void wk_subscribe(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, const json_t *params,
                  const char *request_id, const char *traceparent, wk_resources_cb cb, void *ud);
/* resources/unsubscribe: {} (also for a URI the session did not subscribe). */
void wk_unsubscribe(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, const json_t *params,
                    wk_resources_cb cb, void *ud);

/* Starts this process's poll timer; stop ends it (drain). */
void wk_subscribe_start(wk_worker_t *w);
void wk_subscribe_stop(wk_worker_t *w);
void wk_subscribe_free(wk_worker_t *w);

#endif
