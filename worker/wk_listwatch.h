/* wk_listwatch: notifications/tools/list_changed, prompts/list_changed and
 * resources/list_changed on open streams when a change of their server's
 * record (a PATCH of its config) changes what it offers.
 *
 * Each process keeps, for every stream it holds open (a Streamable HTTP GET
 * stream or a legacy SSE stream), a fingerprint of the tools, prompts and
 * resources its server offered when the stream opened. A change of a
 * srv:<token_hash> record reaches every worker through the keyspace
 * notifications wk_cache.h subscribes (wk_cache_on_server_change: one
 * subscription for both; none while JSMCP_SERVER_CACHE=0, so then no
 * list_changed either); the process then reads the record again and sends each of its
 * streams of that server the notifications of the lists that changed,
 * through the session's channel (wk_push_session). A deleted server needs
 * none: its sessions end with it.
 */
#ifndef JSMCP_WK_LISTWATCH_H
#define JSMCP_WK_LISTWATCH_H

#include <jansson.h>

#include "wk_proc.h"

/* Listens to wk_cache's srv: change announcements; 0. */
int wk_listwatch_start(wk_worker_t *w);
void wk_listwatch_free(wk_worker_t *w);

/* A stream of session sid, of the server with token_hash and config, opened
 * (the fingerprints are taken now) or closed. */
void wk_listwatch_open(wk_worker_t *w, const char *sid, const char *token_hash, const json_t *config);
void wk_listwatch_close(wk_worker_t *w, const char *sid);

#endif
