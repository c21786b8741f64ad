/* sb_jql: the JQL subset the sandbox understands, with Jira's 400 messages.
 *
 * Fields: project, key/issuekey/id, issuetype/type, status, statusCategory,
 * resolution, assignee/reporter/creator, priority, labels, "Request Type"
 * (also cf[N] / customfield_N), the SLA fields "Time to first response" and
 * "Time to resolution", text/summary/description/comment (~, !~), created,
 * updated, resolved/resolutiondate, due/duedate. Operators = != in, not in,
 * is, is not, ~ !~ > >= < <=; AND OR NOT and parentheses; ORDER BY with up to
 * 7 keys. Functions: currentUser(), now(), startOfDay/Week/Month/Year([+-Nu]),
 * endOfDay/Week/Month/Year([+-Nu]), breached(), running(), completed().
 * Values are checked against the data set when parsing, so unknown projects
 * or statuses give Jira's "The value 'X' does not exist for the field 'Y'.".
 *
 * Relative dates (-7d) and functions are evaluated at match time against the
 * env's clock (sb_jql_eval.h); a parsed query can therefore be cached (queues
 * do). Running a query with its ORDER BY: sb_jql_order.h.
 */
#ifndef JSMCP_SB_JQL_H
#define JSMCP_SB_JQL_H

#include <stddef.h>

#include "sb_data.h"

#define SB_JQL_MAX_LEN 8192
#define SB_JQL_MAX_ORDER 7

typedef struct sb_jql_s sb_jql_t;

/* Parses q. Returns 0 and *out, or -1 with Jira's message in err. */
int sb_jql_parse(const sb_data_t *d, const char *q, sb_jql_t **out, char *err, size_t errsz);
void sb_jql_free(sb_jql_t *q);
/* 1 when the query has at least one search restriction (search/jql rule). */
int sb_jql_bounded(const sb_jql_t *q);

#endif
