/* wk_jql: JQL guardrails, pure (no I/O) so they are unit tested.
 *
 * wk_jql_rewrite() reads a JQL query clause by clause, finds the field
 * names (the first operand of each clause and the ORDER BY keys), and
 * checks each against the site's fields (the array GET /rest/api/3/field
 * returns): a custom field given by its display name ("Request Type") is
 * replaced by its id (cf[10010]); system names and clause names pass; an
 * unknown name fails with the closest field names, so an agent can fix the
 * query. With projects (an array of project keys) the query is scoped:
 * "project in (A, B) AND (<where>) ORDER BY ...".
 */
#ifndef JSMCP_WK_JQL_H
#define JSMCP_WK_JQL_H

#include <jansson.h>
#include <stddef.h>

#define WK_JQL_MAX 8000

/* Returns the rewritten query (caller frees) or NULL with err set. fields
 * may be NULL (names are then not checked); projects may be NULL/empty. */
char *wk_jql_rewrite(const char *jql, const json_t *fields, const json_t *projects, char *err,
                     size_t errsz);

/* The field id for a name, id or clause name ("Request Type" ->
 * "customfield_10010"), or NULL. Used for write arguments too. */
const char *wk_jql_field_id(const json_t *fields, const char *name);

/* Up to n field names closest to name (edit distance), "A", "B", ... into out. */
void wk_jql_closest(const json_t *fields, const char *name, int n, char *out, size_t outsz);

#endif
