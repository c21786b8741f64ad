/* jsontext: JSON text <-> jansson json_t. Our own parser and serializer (see the
 * design note at the top of jsontext.c), size and depth limits, typed getters. */
#ifndef JSMCP_JU_H
#define JSMCP_JU_H

#include <stddef.h>
#include <jansson.h>

#include "buf.h"

#define JSONTEXT_MAX_DEPTH_DEFAULT 32

/* Parses one JSON value (any type at the top level). Accepts exactly what
 * json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) accepts and
 * builds an equal tree of the same types, but also rejects empty input,
 * NUL bytes and containers nested deeper than max_depth (<= 0: the default).
 * On failure returns NULL and writes a human-readable reason into err
 * ("invalid JSON at line 1, column 7: ..." / "JSON nested deeper than 32 levels"). */
json_t *jsontext_parse(const char *s, size_t n, int max_depth, char *err, size_t errsz);
/* The paths of a document worth building (a tool's projection reads a few
 * of the upstream payload's members): jsontext_parse_keep builds only the members
 * on them and skips the rest, checking its syntax but building nothing
 * (duplicate keys inside skipped values are not detected). Arrays pass
 * through: a node applies to every element. */
typedef struct jsontext_keep_s jsontext_keep_t;
jsontext_keep_t *jsontext_keep_new(void);
void jsontext_keep_free(jsontext_keep_t *k);
/* The node at a dotted path ("fields.status"), created as needed; "." is k
 * itself. NULL when everything there is kept already (a "whole" node on the
 * way, or an index segment such as "values.0", which keeps all below it). */
jsontext_keep_t *jsontext_keep_path(jsontext_keep_t *k, const char *path);
/* Keeps everything below path. */
void jsontext_keep_all(jsontext_keep_t *k, const char *path);
/* 1 when k keeps the whole document (NULL does too). */
int jsontext_keep_is_all(const jsontext_keep_t *k);
/* jsontext_parse, building only what keep names (NULL: everything). */
json_t *jsontext_parse_keep(const char *s, size_t n, int max_depth, const jsontext_keep_t *keep, char *err, size_t errsz);

/* Maximum nesting depth of the JSON text (strings skipped). */
int jsontext_depth(const char *s, size_t n);

/* Getters: NULL/default when absent or of another type. */
const char *jsontext_str(const json_t *obj, const char *key);
long long jsontext_int(const json_t *obj, const char *key, long long dflt);
int jsontext_bool(const json_t *obj, const char *key, int dflt);
/* Compact dump (caller frees), byte for byte what
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) returns; NULL where it
 * fails (v NULL, a string that is not valid UTF-8, a reference cycle). */
char *jsontext_dump(const json_t *v);
/* Appends the same compact text to b. Returns 0, or -1 when b's limit was
 * hit (b is then empty and freed, see buf.h) or v cannot be dumped (b is
 * left as it was before the call). */
int jsontext_dump_buf(buf_t *b, const json_t *v);
/* Appends s[0..n) as one JSON string literal, escaped exactly as jsontext_dump
 * escapes strings; bytes that are not valid UTF-8 become U+FFFD, so the
 * output is always valid JSON. Returns 0, or -1 when b's limit was hit. */
int jsontext_dump_string(buf_t *b, const char *s, size_t n);
/* Name of the JSON type for error messages ("string", "object", ...). */
const char *jsontext_type_name(const json_t *v);

#endif
