/* sb_routes_request: /rest/servicedeskapi customer requests (jsm-rest-api.md
 * §3): list (with the request owner/participant/organization filters and
 * searchTerm), create (request type fields checked like the portal), get with
 * expand, comments, SLA, status history, approvals, participants and
 * transitions. A portal customer sees only own/organization requests and
 * public comments. Paging is start/limit/size/isLastPage/_links.
 */
#ifndef JSMCP_SB_ROUTES_REQUEST_H
#define JSMCP_SB_ROUTES_REQUEST_H

#include "sb.h"

/* Adds the routes to sb->router (sb_routes_register: site and gateway roots). */
void sb_routes_request(sb_t *sb);

#endif
