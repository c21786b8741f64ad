/* sb_routes_search: Jira platform issue search (jsm-rest-api.md §1):
 * GET|POST /rest/api/3/search/jql (nextPageToken paging, tokens signed with
 * a per-process key and bound to the query, reconcileIssues, the
 * JSM_SANDBOX_SEARCH_LAG_MS index lag), POST search/approximate-count, and
 * the removed GET|POST /rest/api/{2,3}/search: 410 with CHANGE-2046, or the
 * old startAt/maxResults/total contract with --legacy-search.
 */
#ifndef JSMCP_SB_ROUTES_SEARCH_H
#define JSMCP_SB_ROUTES_SEARCH_H

#include "sb.h"

/* Adds the routes to sb->router (sb_routes_register: site and gateway roots). */
void sb_routes_search(sb_t *sb);

#endif
