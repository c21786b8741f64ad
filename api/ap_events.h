/* ap_events: GET /audit-events?object_id=&action=&since=&until=&limit=
 * &next_cursor= — the workspace's admin audit trail, newest first, with
 * keyset paging over (created_at, id). The events are written by the
 * triggers of migration 023 in the transaction of each write (account,
 * server, API key, OAuth app), with the actor the API set for that
 * transaction (ap_app.c, "the actor of a write"); this module only reads. */
#ifndef JSMCP_AP_EVENTS_H
#define JSMCP_AP_EVENTS_H

#include "ap_req.h"

extern const ap_route_t ap_events_routes[];

#endif
