/* rcli: hiredis async on the libuv loop (hiredis' libuv adapter), with
 * automatic reconnect and a key prefix.
 *
 * Every key and channel jsmcp uses goes through rcli_key() so that several
 * test runs can share one Redis (JSMCP_REDIS_PREFIX, default "jsmcp:").
 *
 * rcli_command*() callbacks run exactly once: reply != NULL on success
 * (check reply->type == REDIS_REPLY_ERROR), reply == NULL with err set when
 * the connection failed or closed. When Redis is down commands fail at
 * once with err "redis unavailable" (callers answer 503).
 *
 * Pub/sub uses its own connection (rcli_sub_*): subscriptions are restored
 * after a reconnect. A pub/sub connection that silently stopped receiving
 * (no FIN or RST: a dead peer, a NAT or proxy that dropped the flow) is
 * found by a heartbeat within two sub_heartbeat_ms and remade like a lost
 * one (pattern subscriptions report state(0) first).
 *
 * Details callers rely on:
 * - A nil reply is a reply: reply->type == REDIS_REPLY_NIL, err NULL.
 *   Redis errors too: reply->type == REDIS_REPLY_ERROR, err NULL.
 * - err (reply NULL) is one of "redis unavailable" (could not connect),
 *   "redis connection lost", "redis timeout" (command_timeout_ms passed;
 *   the connection is dropped and remade, and the commands queued behind it
 *   fail with the same error), "client closing".
 * - Callbacks never run inside rcli_command*(): always later from the loop.
 *   Only rcli_close() runs them before it returns (or, when called from a
 *   reply callback, right after that callback returns). cb may be NULL
 *   (fire and forget).
 * - Commands are accepted while connected and during the first connect
 *   attempt after rcli_create() or after a lost connection (hiredis queues
 *   them behind AUTH/SELECT); once an attempt failed they return -1 until
 *   a connection is up again. rcli_ready() is 1 only when connected. A lost
 *   connection is remade at once (with backoff if it lived under 1 s).
 * - The reply is valid during the callback only.
 * - Not for blocking commands longer than command_timeout_ms, nor
 *   (P)SUBSCRIBE/MONITOR on rcli_command: use rcli_subscribe.
 */
#ifndef JSMCP_RCLI_H
#define JSMCP_RCLI_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <uv.h>

typedef struct rcli_s rcli_t;
typedef void (*rcli_cb)(redisReply *reply, const char *err, void *ud);
typedef void (*rcli_msg_fn)(const char *channel, const char *msg, size_t len, void *ud);
typedef void (*rcli_state_fn)(int live, void *ud);

typedef struct rcli_config_s {
    const char *url;      /* redis://[:password@]host:port[/db] */
    const char *prefix;   /* default "jsmcp:" */
    unsigned connect_timeout_ms; /* default 2000 */
    unsigned command_timeout_ms; /* default 5000 */
    /* How often the pub/sub connection proves that it still receives
     * (default 2000): see "Heartbeat" in rcli.c. */
    unsigned sub_heartbeat_ms;
} rcli_config_t;

int rcli_create(rcli_t **out, uv_loop_t *loop, const rcli_config_t *cfg);
void rcli_close(rcli_t *r, void (*done)(void *arg), void *arg);
int rcli_ready(const rcli_t *r);
const char *rcli_prefix(const rcli_t *r);

/* Writes prefix + formatted suffix into out; returns out. */
char *rcli_key(const rcli_t *r, char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Returns 0 (cb will run) or -1 (not connected; cb will not run). */
int rcli_command(rcli_t *r, rcli_cb cb, void *ud, const char *fmt, ...);
int rcli_command_argv(rcli_t *r, rcli_cb cb, void *ud, int argc, const char **argv,
                      const size_t *argvlen);

/* Subscribes to a (full, already prefixed) channel; fn runs per message
 * (msg is binary-safe, valid during the call; fn may unsubscribe).
 * Returns -1 when the channel already has a subscriber or the client is
 * closing, else 0: the subscription is kept (and restored after reconnects)
 * until rcli_unsubscribe, even while Redis is down. As always with Redis,
 * messages published before the SUBSCRIBE reached the server are not
 * delivered. The pub/sub connection is made on the first subscribe. */
int rcli_subscribe(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud);
int rcli_unsubscribe(rcli_t *r, const char *channel); /* -1 when not subscribed */

/* Pattern subscription (at most 8 per client; e.g. keyspace notifications).
 * fn runs per message with the channel that matched. state(1) runs once
 * Redis confirmed the PSUBSCRIBE on the current pub/sub connection,
 * state(0) as soon as that connection is gone: between the two no message
 * was missed. Kept and restored after reconnects; -1 when the pattern is
 * taken, the table full or the client closing. */
int rcli_psubscribe(rcli_t *r, const char *pattern, rcli_msg_fn fn, rcli_state_fn state, void *ud);
/* Handles what the pub/sub connection received so far, without waiting
 * (message callbacks run inside): a caller about to trust state kept up to
 * date by messages has seen every message that reached the socket. */
void rcli_sub_poll(rcli_t *r);

/* Blocking connection for start-up and tests only. */
redisContext *rcli_connect_blocking(const char *url, char *err, size_t errsz);

#endif
