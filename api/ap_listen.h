/* ap_listen: a PostgreSQL LISTEN on a connection of its own, driven by the
 * loop (libpq non-blocking, uv_poll), for hints such as NOTIFY
 * jsmcp_publish (reconcile's outbox has work).
 *
 * A hint, not a queue: notifications sent while the connection is down are
 * lost, so hint(ud, 1) also runs each time the LISTEN is in place (the
 * caller looks for work it may have missed). A lost connection is dropped
 * and made again AP_LISTEN_RETRY_MS later.
 *
 * Callbacks: hint runs from the loop, never before ap_listen_start
 * returns; done of ap_listen_stop likewise never before that returns.
 * One context per listener, freed in one place (after the stop's done).
 */
#ifndef JSMCP_AP_LISTEN_H
#define JSMCP_AP_LISTEN_H

#include <uv.h>

#define AP_LISTEN_RETRY_MS 2000

typedef struct ap_listen_s ap_listen_t;

/* hint(ud, connected): connected 1 once LISTEN is in place (after each
 * (re)connect), 0 for notifications that arrived. */
typedef void (*ap_listen_fn)(void *ud, int connected);

/* Connects to conninfo and LISTENs on channel (an SQL identifier, not
 * client input). conninfo and channel must outlive the listener. */
ap_listen_t *ap_listen_start(uv_loop_t *loop, const char *conninfo, const char *channel, ap_listen_fn hint, void *ud);
/* Stops: no hint runs after this; done(arg) once the connection and the
 * handles are closed, then the listener is freed. */
void ap_listen_stop(ap_listen_t *l, void (*done)(void *arg), void *arg);

#endif
