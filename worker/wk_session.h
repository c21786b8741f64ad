/* wk_session: MCP sessions in Redis (sess:<id> hash with a TTL), so that any
 * worker process can serve any request of any session; and the pub/sub
 * channel ssech:<id> that carries legacy-SSE answers to the worker holding
 * the stream.
 *
 * Callback rule: every function calls cb exactly once, possibly before it
 * returns (at once when Redis is unavailable); rc 1 = done/found,
 * 0 = not found (or nobody listening, for publish), -1 = Redis error.
 */
#ifndef JSMCP_WK_SESSION_H
#define JSMCP_WK_SESSION_H

#include <stddef.h>

#include "secret.h"
#include "wk_worker.h"

#define WK_SESSION_ID_LEN 32

typedef struct wk_session_s {
    char id[WK_SESSION_ID_LEN + 1];
    char token_hash[SECRET_HASH_HEX_LEN + 1]; /* the server this session belongs to */
    char pv[16];                              /* negotiated protocol version */
    int legacy;                               /* 1 = HTTP+SSE (2024-11-05) session */
} wk_session_t;

/* A new random id (24 random bytes, base64url: 32 visible ASCII chars). */
void wk_session_new_id(char *out, size_t outsz);
/* 1 when id has the shape of ids this worker issues (checked before any
 * Redis key is built from it). */
int wk_session_id_ok(const char *id);

typedef void (*wk_session_cb)(int rc, const wk_session_t *s, void *ud);
void wk_session_create(wk_worker_t *w, const wk_session_t *s, wk_session_cb cb, void *ud);
void wk_session_get(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud);
void wk_session_delete(wk_worker_t *w, const char *id, wk_session_cb cb, void *ud);
/* Publishes msg on ssech:<id>; rc 1 when a worker received it. cb may be NULL. */
void wk_session_publish(wk_worker_t *w, const char *id, const char *msg, size_t len,
                        wk_session_cb cb, void *ud);
/* The full (prefixed) channel name for id. */
void wk_session_channel(wk_worker_t *w, const char *id, char *out, size_t outsz);

#endif
