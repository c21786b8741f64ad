/* sb_jql_order: runs a parsed query (sb_jql.h) over the whole data set and
 * sorts the matches by its ORDER BY keys, as Jira does: EMPTY dates last
 * ascending, users by display name, priority highest first, SLA fields by
 * the most urgent ongoing cycle; every tie (and a query without ORDER BY)
 * ends newest issue first. Reads the data set, changes nothing.
 */
#ifndef JSMCP_SB_JQL_ORDER_H
#define JSMCP_SB_JQL_ORDER_H

#include <stddef.h>

#include "sb_data.h"
#include "sb_jql_eval.h"

/* Fills *out (malloc'd, caller frees; never NULL) with the matching issues
 * in the query's order; returns the count. */
size_t sb_jql_run(const sb_jql_t *q, const sb_jql_env_t *env, sb_issue_t ***out);

#endif
