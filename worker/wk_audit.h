/* wk_audit: the worker's side of the audit log (issues 7 and 21). One
 * record per tool call goes to the Redis stream <prefix>audit. It never
 * fails open: a call is answered with its result only once its record is
 * durable, in this process's spool file (wk_spool.h, survives a kill -9;
 * another process replays it) or in Redis, whatever Redis answers (errors
 * such as OOM or READONLY included). The limit of what may wait for Redis
 * is the spool's room; a call that could not be recorded is not started.
 * The stream is never trimmed by the workers (no MAXLEN): the API trims it
 * below what its drain acknowledged (api/ap_audit.c). */
#ifndef JSMCP_WK_AUDIT_H
#define JSMCP_WK_AUDIT_H

#include "wk_proc.h"

typedef struct wk_audit_s wk_audit_t;

int wk_audit_start(wk_worker_t *w);

/* 1 when a record of a new call can be made durable now: the spool has
 * room, or (no usable spool) Redis takes writes. A tool call starts only
 * then (it is answered with an error otherwise, before anything upstream
 * happens). */
int wk_audit_ready(wk_worker_t *w);

/* Appends one record: the XADD command's arguments (copied; a call_id
 * field is added). sent(ud, durable) runs exactly once, never before this
 * returns: durable 1 when the record is in the spool (from the loop's next
 * iteration) or Redis has it;
 * durable 0 when neither happened within WK_AUDIT_ANSWER_WAIT_MS (the
 * record still goes to Redis when it can, from memory) or the process
 * stops first: the caller must then not answer with the call's result. */
void wk_audit_append(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud, int durable), void *ud);

/* Sends what waits and, once Redis has answered everything (or after a
 * bounded wait), frees the queue and calls done. Records Redis did not
 * take stay in the spool for the next process to replay. */
void wk_audit_stop(wk_worker_t *w, void (*done)(wk_worker_t *w));

#endif
