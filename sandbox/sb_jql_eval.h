/* sb_jql_eval: whether one issue matches a parsed query (sb_jql.h).
 *
 * Pure: reads the query, the data set and the env, changes nothing. Relative
 * dates ("-7d") and date functions (startOfWeek()) are computed against
 * env->now_ms on every call, currentUser() is env->current_user; so one
 * parsed query serves any caller at any time. The SLA functions (breached()
 * ...) use the SLA clock of sb_sla.h at env->now_ms.
 */
#ifndef JSMCP_SB_JQL_EVAL_H
#define JSMCP_SB_JQL_EVAL_H

#include <stdint.h>

#include "sb_data.h"
#include "sb_jql.h"

typedef struct sb_jql_env_s {
    const sb_data_t *data;
    int current_user; /* user index */
    int64_t now_ms;
} sb_jql_env_t;

/* 1 when the issue matches q's WHERE part (every issue when it has none). */
int sb_jql_match(const sb_jql_t *q, const sb_jql_env_t *env, const sb_issue_t *is);

#endif
