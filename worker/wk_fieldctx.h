/* wk_fieldctx: the project contexts of fields that share a name, the pure
 * half of the call's CONTEXTS state (wk_call.h). When a write names a field
 * several of the site's fields share, the project each belongs to may settle
 * it (wk_jql.h reads WK_JQL_CONTEXT on a field of the list). The call looks
 * each up (GET /rest/api/3/field/{id}/context/projectmapping; a team-managed
 * field's own "scope" names its project already), then the keys of the
 * projects found (one GET /rest/api/3/project/search?id=..).
 *
 * While a field's context is looked up it carries "jsmcpPending":
 * {"global": bool, "projectIds": [...]} or {"failed": true}; the context is
 * written once the project keys are known, so a call reading the cached
 * list meanwhile sees "not looked up" or the result. No I/O.
 */
#ifndef JSMCP_WK_FIELDCTX_H
#define JSMCP_WK_FIELDCTX_H

#include <jansson.h>
#include <stddef.h>

/* The field of the list with this id (borrowed), or NULL. */
json_t *wk_fieldctx_field(const json_t *fields, const char *id);

/* The next of need (field ids) from *i on whose context must be asked for:
 * its id, or NULL when none is left. Fields that need no request (team
 * managed, or not a custom field) get their pending mark on the way. */
const char *wk_fieldctx_next(json_t *fields, const json_t *need, size_t *i);

/* The answer of a projectmapping request (body parsed, NULL when it failed
 * or was refused: the context stays unknown, the call goes on) marks field
 * id of the list. */
void wk_fieldctx_answer(json_t *fields, const char *id, const json_t *body);

/* The project ids the marked fields of need name (at most 50, for one
 * project search): a new array, empty when there are none. */
json_t *wk_fieldctx_project_ids(const json_t *fields, const json_t *need);

/* Writes each marked field's context (WK_JQL_CONTEXT) with project keys
 * (projects: the project search's items, may be NULL; an id it does not
 * list stays "id N") and removes the mark. */
void wk_fieldctx_write(json_t *fields, const json_t *need, const json_t *projects);

#endif
