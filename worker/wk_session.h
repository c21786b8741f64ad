/* wk_session: MCP sessions in Redis (sess:<id> hash with a TTL), so that any
 * worker process can serve any request of any session; and the pub/sub
 * channel ssech:<id> that carries legacy-SSE answers to the worker holding
 * the stream.
 *
 * Callback rule (the tree's, defer.h): every function calls cb exactly
 * once, never before it returns, also when the answer is known at once (a
 * malformed id, a cached session, Redis unavailable: from the loop);
 * rc 1 = done/found, 0 = not found (or nobody listening, for publish),
 * -1 = Redis error.
 */
#ifndef JSMCP_WK_SESSION_H
#define JSMCP_WK_SESSION_H

#include <jansson.h>
#include <stddef.h>

#include "secret.h"
#include "wk_proc.h"

#define WK_SESSION_ID_LEN 32

typedef struct wk_session_s {
    char id[WK_SESSION_ID_LEN + 1];
    char token_hash[SECRET_HASH_HEX_LEN + 1]; /* the server this session belongs to */
    char pv[16];                              /* negotiated protocol version */
    int legacy;                               /* 1 = HTTP+SSE (2024-11-05) session */
    unsigned caps;                            /* what the client declared at initialize (WK_CAP_*) */
    char level[12];                           /* logging/setLevel's level, "" = none set (no log messages) */
} wk_session_t;

/* Client capabilities kept with the session: what the server may ask of it. */
enum { WK_CAP_SAMPLING = 1, WK_CAP_ELICIT = 2, WK_CAP_ELICIT_URL = 4, WK_CAP_ROOTS = 8 };
/* The WK_CAP_* bits of an initialize request's params.capabilities. */
unsigned wk_session_caps(const json_t *capabilities);

/* A new random id (24 random bytes, base64url: 32 visible ASCII chars). */
void wk_session_new_id(char *out, size_t outsz);
/* 1 when id has the shape of ids this worker issues (checked before any
 * Redis key is built from it). */
int wk_session_id_ok(const char *id);

typedef void (*wk_session_cb)(int rc, const wk_session_t *s, void *ud);
void wk_session_get(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud);
/* Stores the session's logging level (logging/setLevel) if the session
 * still exists. cb as above: rc 1 stored, 0 no such session, -1 Redis. */
void wk_session_set_level(wk_worker_t *w, const char *id, const char *level, wk_session_cb cb, void *ud);

/* Deletes the session and its entry among its URL's sessions (token_hash
 * may be NULL when unknown: the entry then lapses). */
void wk_session_delete(wk_worker_t *w, const char *id, const char *token_hash, wk_session_cb cb, void *ud);

/* ---- limits per MCP server URL (issue 20) ----
 * One leaked URL must not fill Redis or the connection table for every
 * tenant. Per token, shared by every worker process through Redis:
 * - initialize (and a legacy SSE open, which makes a session too) takes a
 *   token of initrate:<token_hash> (JSMCP_INIT_RATE_PER_TOKEN, the pacing
 *   bucket of wk_pace.h); without one it is answered 429 with Retry-After;
 * - at most JSMCP_SESSIONS_PER_TOKEN sessions: tsess:<token_hash> holds the
 *   URL's session ids by last use; a new session past the cap deletes the
 *   least recently used ones (their clients get "session not found" and
 *   initialize again);
 * - at most JSMCP_STREAMS_PER_TOKEN open SSE streams: tstream:<token_hash>
 *   holds a lease per stream, renewed with each keep-alive and lasting three
 *   of them, so the leases of a process that died lapse by themselves; a
 *   stream past the cap is answered 429 with Retry-After. */

/* Creates session s (sess:<id> with JSMCP_SESSION_TTL) within its URL's
 * limits, in one script. cb runs exactly once, never before this returns
 * (wk_script_run): rc 1 created, 0 refused by the initialize rate (retry_after_ms
 * set), -1 Redis failed. */
typedef void (*wk_session_create_cb)(int rc, long retry_after_ms, void *ud);
void wk_session_create(wk_worker_t *w, const wk_session_t *s, wk_session_create_cb cb, void *ud);
/* Notes that s was used (its place among its URL's sessions), at most once
 * a minute per session and process. */
void wk_session_touch(wk_worker_t *w, const wk_session_t *s);

/* A new lease id (random, for one stream). */
void wk_stream_lease_id(char *out, size_t outsz);
/* Takes a stream lease for token_hash. cb, never before this returns (no
 * limit set: granted from the loop): rc 1 granted, 0 refused (the
 * URL has JSMCP_STREAMS_PER_TOKEN open streams); a Redis failure grants it
 * (and counts a Redis error): the limit must not turn a Redis hiccup into
 * an outage. */
typedef void (*wk_stream_cb)(int rc, void *ud);
void wk_stream_acquire(wk_worker_t *w, const char *token_hash, const char *lease, wk_stream_cb cb, void *ud);
void wk_stream_renew(wk_worker_t *w, const char *token_hash, const char *lease);
void wk_stream_release(wk_worker_t *w, const char *token_hash, const char *lease);
/* Publishes msg on ssech:<id>; rc 1 when a worker received it. cb may be NULL. */
void wk_session_publish(wk_worker_t *w, const char *id, const char *msg, size_t len,
                        wk_session_cb cb, void *ud);
/* The full (prefixed) channel name for id. */
void wk_session_channel(wk_worker_t *w, const char *id, char *out, size_t outsz);

#endif
