/* schema: a small JSON Schema validator for tool arguments.
 *
 * The subset tools use: type (name or array of names; "integer" accepts
 * integral reals), enum, const, required, properties, additionalProperties
 * (false or a schema), items, minItems/maxItems, uniqueItems, minimum/maximum,
 * exclusiveMinimum/exclusiveMaximum (numbers, 2020-12 style), minLength/
 * maxLength (code points), format (date-time, date, email, uri: checked
 * without regexes), pattern (anchored ^...$ expressions in the common
 * subset of ECMA-262 and POSIX extended regular expressions: the catalog's
 * argument kinds), anyOf/oneOf/allOf, and annotations (title, description,
 * default, examples, $schema, $comment) which are ignored. Keywords outside
 * the subset are ignored too (schema_check_supported() lists them for the
 * catalog tests).
 *
 * Validation stops at the first violation and writes a message with a JSON
 * pointer into err: "/limit: must be <= 100", "/: missing required property 'jql'".
 */
#ifndef JSMCP_SCHEMA_H
#define JSMCP_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

/* 0 when v is valid against schema, -1 with err set otherwise. */
int schema_validate(const json_t *schema, const json_t *v, char *err, size_t errsz);

/* 0 when every keyword in schema (recursively) is one the validator knows;
 * -1 with err naming the first unknown keyword or malformed value. */
int schema_check_supported(const json_t *schema, char *err, size_t errsz);

/* Checks a string against a format name; 1 valid, 0 invalid, -1 unknown format. */
int schema_format_ok(const char *format, const char *s);

/* Checks s (len bytes) against an anchored pattern; 1 matches, 0 does not,
 * -1 when the pattern is not one the validator takes. */
int schema_pattern_ok(const char *pattern, const char *s, size_t len);

#endif
