/* wk_jql: JQL guardrails, pure (no I/O) so they are unit tested and fuzzed.
 *
 * wk_jql_rewrite() tokenizes a JQL query the way Jira's lexer does (quoted
 * strings and words with backslash escapes, parentheses, operators, && ||
 * !), parses it (clauses, NOT, groups, IN lists, functions, IS/WAS/CHANGED
 * with their history predicates, ORDER BY) and writes it back out token by
 * token. Unbalanced parentheses, an unterminated string, an escape or
 * character Jira would read differently, or any syntax error is refused
 * with the position ("JQL: ')' at character 15 has no matching '('"), so
 * nothing this parser did not match itself goes out. Field names (the first
 * operand of each clause and the ORDER BY keys) are checked against the
 * site's fields (the array GET /rest/api/3/field returns): a custom field
 * given by its display name ("Request Type") becomes cf[10010]; system and
 * clause names pass; an unknown name fails with the closest field names.
 * With projects (an array of project keys) the project clause binds the
 * whole query:
 *
 *     project in ("A", "B") AND (<the parsed condition>) ORDER BY <keys>
 *
 * (fuzz/fuzz_jqlscope.c checks that shape for any input with a scanner of
 * its own). Words with non-ASCII characters go out quoted, so no look-alike
 * of a space or a parenthesis can change where Jira's tokens end.
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

/* wk_jql_rewrite, with need: an array that gets the ids of fields sharing
 * a name the query uses whose project context is unknown (see below); the
 * caller may look them up and call again. need may be NULL. */
char *wk_jql_rewrite_need(const char *jql, const json_t *fields, const json_t *projects, json_t *need, char *err,
                          size_t errsz);

/* The member of a field object (an item of GET /rest/api/3/field) where
 * the worker notes the field's project context once it has looked it up:
 * {"global": true} | {"projects": ["HW", ...]} | {"unknown": true}. */
#define WK_JQL_CONTEXT "jsmcpContext"
#define WK_JQL_NEED_MAX 8

/* Resolves a field name, id, key or clause name. An id or key is one
 * field. A name several fields share (real sites often have several
 * "Impact" fields: other types, other projects' contexts) is unambiguous
 * only when exactly one of them applies to projects (an array of project
 * keys; NULL or empty: anywhere), judged by WK_JQL_CONTEXT. Returns 1 with
 * *id, 0 for an unknown name, -1 for an ambiguous one with err listing the
 * candidates (id, type, project context); need (may be NULL) gets the ids
 * of candidates whose context is unknown. */
int wk_jql_field_resolve(const json_t *fields, const char *name, const json_t *projects, const char **id,
                         json_t *need, char *err, size_t errsz);

/* The field id for a name, id or clause name ("Request Type" ->
 * "customfield_10010"), or NULL (unknown or ambiguous anywhere). */
const char *wk_jql_field_id(const json_t *fields, const char *name);

/* Up to n field names closest to name (edit distance), "A", "B", ... into out. */
void wk_jql_closest(const json_t *fields, const char *name, int n, char *out, size_t outsz);

#endif
