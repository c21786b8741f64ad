/* ap_app: the top of the admin API process. It reads the configuration,
 * opens the shared handles (ap_req.h), mounts every route module's table,
 * authenticates each request (route entry: bootstrap key or workspace API
 * key) and starts and stops the background subsystems (reconcile, audit
 * drain, webhook deliveries, OAuth and its refresher). Nothing below calls
 * back into it. */
#ifndef JSMCP_AP_APP_H
#define JSMCP_AP_APP_H

#include "ap_req.h"

/* Reads the configuration and starts everything; -1 (reason on stderr)
 * when the process cannot start. */
int ap_app_init(ap_app_t *app, uv_loop_t *loop);
/* Closes the listeners, stops the subsystems, then the pool and Redis,
 * then done(arg) (never before this returns). */
void ap_app_close(ap_app_t *app, void (*done)(void *arg), void *arg);

#endif
