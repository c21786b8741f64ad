/* ap_workspaces: workspaces (bootstrap key only); their API keys are
 * ap_keys.c's.
 *
 * Routes: docs/admin-api.md. Each handler ends its request exactly once
 * (ap_req.h); no callback runs before the call that took it returns. */
#ifndef JSMCP_AP_WORKSPACES_H
#define JSMCP_AP_WORKSPACES_H

#include "ap_req.h"

/* Mounted by ap_app.c (ended by a zero entry). */
extern const ap_route_t ap_workspace_routes[];

#endif
