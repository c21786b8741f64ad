/* sb_routes_users: Jira platform metadata endpoints: users (GET user with
 * expand=groups, user/search, myself), GET field, the create metadata
 * (issue/createmeta/{project}/issuetypes[/{id}]) and the edge's
 * GET /_edge/tenant_info (no auth, site root only). Read-only.
 * Registered before sb_routes_platform: the router takes the first match,
 * and issue/createmeta/... must win over issue/{key}/... .
 */
#ifndef JSMCP_SB_ROUTES_USERS_H
#define JSMCP_SB_ROUTES_USERS_H

#include "sb.h"

/* Adds the routes to sb->router (sb_routes_register: site and gateway roots). */
void sb_routes_users(sb_t *sb);

#endif
