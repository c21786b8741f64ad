/* ju: jansson helpers. Parsing with size and depth limits, typed getters. */
#ifndef JSMCP_JU_H
#define JSMCP_JU_H

#include <stddef.h>
#include <jansson.h>

#define JU_MAX_DEPTH_DEFAULT 32

/* Parses one JSON value. Rejects nesting deeper than max_depth before
 * jansson sees the text, and rejects NUL bytes and trailing garbage.
 * On failure returns NULL and writes a human-readable reason into err
 * ("invalid JSON at line 1, column 7: ..." / "JSON nested deeper than 32 levels"). */
json_t *ju_parse(const char *s, size_t n, int max_depth, char *err, size_t errsz);
/* Maximum nesting depth of the JSON text (strings skipped). */
int ju_depth(const char *s, size_t n);

/* Getters: NULL/default when absent or of another type. */
const char *ju_str(const json_t *obj, const char *key);
long long ju_int(const json_t *obj, const char *key, long long dflt);
int ju_bool(const json_t *obj, const char *key, int dflt);
/* Compact dump (caller frees); NULL on failure. */
char *ju_dump(const json_t *v);
/* Name of the JSON type for error messages ("string", "object", ...). */
const char *ju_type_name(const json_t *v);

#endif
