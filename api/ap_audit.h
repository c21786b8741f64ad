/* ap_audit: the tool-call audit log: drains the workers' Redis stream
 * <prefix>audit into PostgreSQL (consumer group, nothing lost across
 * restarts); ap_calls.h serves the records.
 *
 * Callbacks: ap_audit_stop's done runs from the loop, never before the
 * call returns (the contract of the whole tree, like libuv's).
 */
#ifndef JSMCP_AP_AUDIT_H
#define JSMCP_AP_AUDIT_H

#include "ap_req.h"

int ap_audit_start(ap_app_t *app);
/* done runs once no drain pass is in flight. */
void ap_audit_stop(void (*done)(void *arg), void *arg);

#endif
