/* wk_audit: the worker's side of the audit log (issue 7). One record per
 * tool call is appended to the Redis stream <prefix>audit; records Redis
 * cannot take during an outage wait in a bounded queue and are sent once
 * it is back, so a Redis restart loses no record. */
#ifndef JSMCP_WK_AUDIT_H
#define JSMCP_WK_AUDIT_H

#include "wk_worker.h"

typedef struct wk_audit_s wk_audit_t;

int wk_audit_start(wk_worker_t *w);
/* Appends one record: the XADD command's arguments (copied). sent(ud)
 * runs exactly once — when Redis has the record, or when it had to be
 * queued through an outage (or dropped) — possibly from inside this call. */
void wk_audit_append(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud), void *ud);
/* Sends what waits and, once Redis has answered everything (or after a
 * bounded wait), frees the queue and calls done. */
void wk_audit_stop(wk_worker_t *w, void (*done)(wk_worker_t *w));

#endif
