/* ap_usage: GET /usage?from=&to=&group_by=account|server|tool&granularity=
 * total|day — what a workspace's servers did, from the per-day rollup
 * usage_daily (migration 022), which the audit drain's transaction keeps
 * up to date: calls, errors, rate-limited calls, upstream time and bytes
 * returned to the model. Never computed from tool_calls (which retention
 * deletes), never from the Prometheus series (whose account label is
 * capped). */
#ifndef JSMCP_AP_USAGE_H
#define JSMCP_AP_USAGE_H

#include "ap_req.h"

extern const ap_route_t ap_usage_routes[];

#endif
