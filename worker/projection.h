/* projection: turns an upstream JSM payload into the compact shape an agent
 * needs, following a projection template from the tool catalog (data).
 *
 * Template language (a JSON value):
 *   "a.b.0.c"               the value at that dotted path in the source
 *                           (numeric segments index arrays, -1 is the last
 *                           element); "." is the source
 *   {"$adf": path, "max"?: n}  Atlassian Document Format -> plain text (strings
 *                           pass), at most n bytes (then "...")
 *   {"$date": path}         Jira dates ("...+0100"), ISO strings, JSM DateDTO
 *                           objects -> ISO 8601 UTC ("2026-01-02T03:04:05Z")
 *   {"$user": path}         user -> {"name","accountId","timeZone"} (+ "active":false)
 *   {"$each": path, "map": template, "last"?: n}   array -> array of mapped
 *                           items (only the last n with "last")
 *   {"$values": path, "map": template}   object -> array of its mapped member values
 *   {"$find": path, "where": {member: "string", ..}, "map"?: template}
 *                           the first array element whose members equal
 *                           where's (mapped), e.g. requestFieldValues by fieldId
 *   {"$count": path}        length of an array
 *   {"$const": value}       the value itself
 *   {"$first": [t1, t2..]}  the first template that yields a value
 *   {...other keys...}      an object, each member projected; members whose
 *                           value is missing or null are left out, and an
 *                           object left empty is itself missing
 * Missing or null inputs never fail: the member is left out.
 */
#ifndef JSMCP_PROJECTION_H
#define JSMCP_PROJECTION_H

#include <jansson.h>
#include <stddef.h>

#include "jsontext.h"

/* Returns a new reference or NULL (missing). Values a template keeps whole
 * are shared with src, not copied (the payload is freed right after and
 * results are never modified in place): treat the result as read-only. */
json_t *proj_apply(const json_t *tmpl, const json_t *src);

/* Value at a dotted path (borrowed) or NULL. */
const json_t *proj_path(const json_t *src, const char *path);

/* ADF document (or string) -> plain text; caller frees. Bounded by maxlen
 * characters (then "..." is appended), never a UTF-8 sequence cut. NULL
 * when v is neither. */
char *proj_adf_text(const json_t *v, size_t maxlen);

/* Normalises a Jira/JSM date value to ISO 8601 UTC; 0 or -1. */
int proj_date(const json_t *v, char *out, size_t outsz);

/* A JSON Schema describing what proj_apply(tmpl, ...) yields (new reference):
 * the outputSchema of a catalog tool. */
json_t *proj_schema(const json_t *tmpl);

/* Plain text -> an ADF document (one paragraph per line), for write
 * arguments JSM wants as ADF (issue description, platform comments). */
json_t *proj_text_adf(const char *text);

/* Adds to keep (rooted where src would be) every path of the source that
 * proj_apply(tmpl, src) reads, so that a payload parsed with jsontext_parse_keep
 * projects exactly as the full one. */
void proj_keep(jsontext_keep_t *keep, const json_t *tmpl);

/* Checks that a template only uses known operators; 0 or -1 with err. */
int proj_check(const json_t *tmpl, char *err, size_t errsz);

#endif
