/* ap_sweeper: the `jsmcp-api sweeper` mode (see ap_sweeper.c): deletes
 * expired MCP servers from PostgreSQL and Redis, one leader at a time.
 *
 * Callbacks: ap_sweeper_stop's done runs from the loop, never before the
 * call returns (the contract of the whole tree, like libuv's).
 */
#ifndef JSMCP_AP_SWEEPER_H
#define JSMCP_AP_SWEEPER_H

#include <uv.h>

/* Reads its configuration from the environment and starts; 0 or -1. */
int ap_sweeper_start(uv_loop_t *loop);
/* Stops after the pass in flight; done runs once everything is freed. */
void ap_sweeper_stop(void (*done)(void *arg), void *arg);

#endif
