/* ap_usage: GET /usage?from=&to=&group_by=account|server|tool&granularity=
 * total|day — what a workspace's servers did, from the per-day rollup
 * (migration 022): the view usage_all, usage_daily plus the sums the audit
 * drain's transactions appended to usage_pending and no fold has moved yet
 * (migration 030, ap_audit.c): calls, errors, rate-limited calls, upstream
 * time and bytes returned to the model, exact whenever the last fold ran. Never computed from tool_calls (which retention
 * deletes), never from the Prometheus series (whose account label is
 * capped). */
#ifndef JSMCP_AP_USAGE_H
#define JSMCP_AP_USAGE_H

#include "ap_req.h"

extern const ap_route_t ap_usage_routes[];

#endif
