/* ap_calls: the tool-call records in PostgreSQL (drained there by
 * ap_audit.c), for operators:
 * - GET /calls: a workspace-wide search (server, account, tool, outcome,
 *   upstream status, time range) in keyset pages, newest first; with
 *   Accept: application/x-ndjson or text/csv (or format=) an export of
 *   every matching record, streamed page by page with bounded memory;
 * - GET /calls/series: the same filters counted per time bucket (calls,
 *   errors, latency p50/p95, the lowest rate-limit headroom), computed in
 *   PostgreSQL over a bounded range and number of buckets, for the charts;
 * - GET /integrated-account/:id/mcp/:mcp_id/calls: one server's records,
 *   the same search with its account and server fixed. */
#ifndef JSMCP_AP_CALLS_H
#define JSMCP_AP_CALLS_H

#include "ap_app.h"

extern const ap_route_t ap_calls_routes[];

#endif
