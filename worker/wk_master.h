/* wk_master: the process model. The master reads the configuration, binds
 * the listening socket once (SO_REUSEPORT, so several masters may share a
 * port too) and forks JSMCP_WORKERS children that all accept on it. A child
 * that dies is restarted (with a pause when it dies right after start);
 * SIGTERM/SIGINT are forwarded and the master exits once every child has
 * drained, with status 1 if any child exited unclean.
 */
#ifndef JSMCP_WK_MASTER_H
#define JSMCP_WK_MASTER_H

#include "wk_worker.h"

/* Reads the JSMCP_* environment into cfg. 0, or -1 with err. */
int wk_master_config(wk_config_t *cfg, char *err, size_t errsz);

/* Runs the master; returns the process exit status. */
int wk_master_run(const wk_config_t *cfg);

#endif
