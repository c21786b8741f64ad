/* wk_drain: the end of a worker process's drain (SIGTERM). Once its
 * listeners have closed (wk_worker.c) and no detached legacy call runs
 * (wk_http.c, wk_subscribe.c), the audit records go to Redis (wk_audit.h),
 * then Redis, httpc and the process's handles close, and the loop ends.
 */
#ifndef JSMCP_WK_DRAIN_H
#define JSMCP_WK_DRAIN_H

#include "wk_proc.h"

/* While draining: once httpd has closed and no detached (legacy) call
 * runs, stops the audit, then Redis and httpc. Safe to call any time. */
void wk_drain_maybe_stop(wk_worker_t *w);

#endif
