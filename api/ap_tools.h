/* ap_tools: the worker's tool catalog seen from the admin API: how many
 * tools a server config leaves (a config that leaves none is refused), and
 * GET /tools for the dashboard's create form. */
#ifndef JSMCP_AP_TOOLS_H
#define JSMCP_AP_TOOLS_H

#include "ap_req.h"

/* Number of catalog tools cfg (a validated server config) picks. */
int ap_tools_count(const json_t *cfg);
/* Frees the parsed catalog (at shutdown). */
void ap_tools_free(void);

extern const ap_route_t ap_tools_routes[];

#endif
