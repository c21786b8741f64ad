/* wk_audit: the worker's side of the audit log (issue 7). One record per
 * tool call is appended to the Redis stream <prefix>audit; records Redis
 * cannot take during an outage wait in a bounded queue and are sent once
 * it is back, so a Redis restart loses no record. Each record is first
 * written to a local spool file (wk_spool.h), so the call can be answered
 * without waiting for Redis and a kill -9 of the process still loses no
 * answered call's record: another process replays the file. */
#ifndef JSMCP_WK_AUDIT_H
#define JSMCP_WK_AUDIT_H

#include "wk_worker.h"

typedef struct wk_audit_s wk_audit_t;

int wk_audit_start(wk_worker_t *w);
/* Appends one record: the XADD command's arguments (copied; a call_id
 * field is added). sent(ud) runs exactly once — when the record is in the
 * spool (at once, from inside this call), or without a spool when Redis
 * has it or it had to be queued through an outage (or dropped). */
void wk_audit_append(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud), void *ud);
/* Sends what waits and, once Redis has answered everything (or after a
 * bounded wait), frees the queue and calls done. Records Redis did not
 * take stay in the spool for the next process to replay. */
void wk_audit_stop(wk_worker_t *w, void (*done)(wk_worker_t *w));

#endif
