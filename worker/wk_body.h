/* wk_body: a catalog row's request templates filled with a call's
 * arguments (pure, unit tested through wk_request_build). A template is JSON
 * whose "{arg}" strings stand for arguments; members whose argument is
 * absent are left out (an object or array left empty by that is left out
 * too). Operators (objects with one "$" member):
 *   {"$adf": "{arg}"}                 the argument's plain text as an ADF document
 *   "$merge": "{arg}"                 an object argument's members join the object
 *                                     (the template's own members win)
 *   {"$int": "{arg}"}                 a numeric id (a string of digits, its kind)
 *                                     as the JSON integer the API's schema types
 *   {"$jiradate": "{arg}"}            an ISO 8601 date-time as Jira's worklog API
 *                                     insists: 2021-01-17T12:34:00.000+0000
 *   {"$default": "{arg}", "value": v} the argument, or v without it
 * An upload (http.multipart) is one file part: {"name", "content": "{arg}"
 * (base64), "filename": "{arg}", "type"?: "{arg}"}.
 */
#ifndef JSMCP_WK_BODY_H
#define JSMCP_WK_BODY_H

#include <jansson.h>
#include <stddef.h>

#include "httpc.h"

/* The filled template (new reference), NULL when nothing is left. */
json_t *wk_body_fill(const json_t *tmpl, const json_t *args);

/* "{name}" -> the argument it names (borrowed) with *is_ref 1 (NULL when
 * absent); any other string: NULL with *is_ref 0. */
const json_t *wk_body_arg(const char *tmpl, const json_t *args, int *is_ref);

/* The text of a scalar argument (strings as they are; numbers and booleans
 * formatted into out) in *s; -1 for arrays, objects and null. */
int wk_body_scalar(const json_t *v, char *out, size_t outsz, const char **s);

/* The file of an upload template mp: out gets the name, file name, type
 * and the content decoded from base64 (out->data is a new buffer the
 * caller frees). -1 with err for content that is not base64 or a file name
 * with control characters, quotes, backslashes or slashes (it goes into
 * the part's Content-Disposition header). */
int wk_body_part(const json_t *mp, const json_t *args, httpc_part_t *out, char *err, size_t errsz);

#endif
