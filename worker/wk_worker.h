/* wk_worker: runs one worker process (one libuv loop): starts every
 * module, answers SIGTERM with the drain (wk_drain.h), publishes metrics.
 * Its root struct, wk_worker_t, is wk_proc.h's.
 */
#ifndef JSMCP_WK_WORKER_H
#define JSMCP_WK_WORKER_H

#include "metrics.h"
#include "wk_metrics.h"
#include "wk_proc.h"

/* Describes the worker's metrics in m (wk_worker_run, and the fuzz targets
 * that drive a worker without running it). */
void wk_worker_describe_metrics(metrics_t *m);

/* Runs one worker on the listening socket fd (and metrics_fd, -1 = none)
 * until SIGTERM drained it, publishing its metrics into slot of shm (may be
 * NULL). Returns the process exit status. */
int wk_worker_run(const wk_config_t *cfg, int fd, int metrics_fd, wk_metrics_shm_t *shm, int slot);

#endif
