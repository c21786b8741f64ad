/* wk_cache: server records (srv:<hash>) and sessions (sess:<id>) kept in
 * the worker process, so a tool call needs no Redis round trip before it
 * starts. Correct only because Redis tells every worker about each change:
 * keyspace notifications (notify-keyspace-events "Kg$hxe": set, del,
 * expired, evicted, hset) arrive on a pattern subscription, and each one
 * drops the entry it names. Whoever changes a record (the admin API's
 * DELETE/rotate/update, the sweeper, a worker ending a session, a TTL)
 * therefore reaches every cache without knowing about it.
 *
 * When is an entry trusted?
 * - Only while the subscription is live (Redis confirmed the PSUBSCRIBE on
 *   the current connection) and Redis was seen configured to send those
 *   notifications (the worker sets them when it may; when CONFIG is refused
 *   the cache stays off and every request asks Redis, as before). Losing
 *   the subscription empties the cache: messages may have been missed.
 * - A lookup takes a ticket before its GET; the answer is kept only if no
 *   notification arrived while it was in flight (the GET and the
 *   notification travel on different connections, so their order is not
 *   known).
 * - Before the lookups of a request the worker reads what the subscription
 *   connection has received (wk_cache_sync), so a change Redis announced
 *   before the client's request reached the worker is seen: a DELETE in the
 *   admin API refuses the next call on every worker.
 * - An entry is used at most JSMCP_SERVER_CACHE (default 2 s) after its
 *   GET, which bounds the damage of a change made while notifications were
 *   switched off by hand; expiry (expires_at) is checked on every request.
 * Bounded: direct-mapped tables (a colliding key replaces the entry). */
#ifndef JSMCP_WK_CACHE_H
#define JSMCP_WK_CACHE_H

#include <stdint.h>

#include "wk_record.h"
#include "wk_session.h"
#include "wk_proc.h"

/* Subscribes and starts checking the Redis configuration; 0 or -1. */
int wk_cache_start(wk_worker_t *w);

/* Calls fn with the token hash of each srv:<hash> record Redis announces as
 * changed, from the cache's one keyspace subscription (a second pattern
 * over the same keys would deliver every event twice and double what
 * wk_cache_sync must read before a request). One listener (wk_listwatch);
 * nothing is announced while the cache is off by configuration
 * (JSMCP_SERVER_CACHE=0). */
typedef void (*wk_cache_srv_fn)(wk_worker_t *w, const char *token_hash);
void wk_cache_on_server_change(wk_worker_t *w, wk_cache_srv_fn fn);
void wk_cache_stop(wk_worker_t *w);
void wk_cache_free(wk_worker_t *w);

/* Test hook: a cache in use as if Redis had confirmed its notifications,
 * so that a unit test without Redis can look up what it put (a hit). */
void wk_cache_test_usable(wk_worker_t *w);

/* Applies the notifications received so far (one read() that usually finds
 * nothing). Call it when a request arrives, before its lookups, and again
 * before a lookup made after waiting for something else. */
void wk_cache_sync(wk_worker_t *w);

/* Ticket for a lookup about to ask Redis; 0 when the cache is off. */
uint64_t wk_cache_ticket(wk_worker_t *w);

/* 1 and *out filled (holding its own reference to the record) on a hit. */
int wk_cache_server_get(wk_worker_t *w, const char *token_hash, wk_server_t *out);
/* Keeps a copy of srv (own reference) if ticket is still current. */
void wk_cache_server_put(wk_worker_t *w, uint64_t ticket, const wk_server_t *srv);

int wk_cache_session_get(wk_worker_t *w, const char *id, wk_session_t *out);
void wk_cache_session_put(wk_worker_t *w, uint64_t ticket, const wk_session_t *s);
/* This process is deleting the session: forget it now. */
void wk_cache_session_forget(wk_worker_t *w, const char *id);

#endif
