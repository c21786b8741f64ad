/* jsontext: JSON text <-> jansson json_t. Our own parser and serializer (see the
 * design note at the top of jsontext.c), size and depth limits, typed getters.
 * Synchronous, no callbacks. The serializer's declarations are in
 * jsontext_dump.h and the keep tree's (jsontext_parse_keep's paths) in
 * jsontext_keep.h; both are included here, so callers include this one. */
#ifndef JSMCP_JU_H
#define JSMCP_JU_H

#include <stddef.h>
#include <jansson.h>

#include "buf.h"
#include "jsontext_dump.h"
#include "jsontext_keep.h"

#define JSONTEXT_MAX_DEPTH_DEFAULT 32

/* Parses one JSON value (any type at the top level). Accepts exactly what
 * json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) accepts and
 * builds an equal tree of the same types, but also rejects empty input,
 * NUL bytes and containers nested deeper than max_depth (<= 0: the default).
 * On failure returns NULL and writes a human-readable reason into err
 * ("invalid JSON at line 1, column 7: ..." / "JSON nested deeper than 32 levels"). */
json_t *jsontext_parse(const char *s, size_t n, int max_depth, char *err, size_t errsz);
/* jsontext_parse, building only what keep names (NULL: everything). */
json_t *jsontext_parse_keep(const char *s, size_t n, int max_depth, const jsontext_keep_t *keep, char *err, size_t errsz);

/* jsontext_parse, except that a \u0000 escape in a string value (not in a
 * member name) is read as a NUL byte inside that string (json_string_length
 * counts it; json_string_value stops there) and sets *nul_seen to 1, else
 * 0. For a message whose strings the caller checks with jsontext_find_nul
 * before it uses any: JSON allows \u0000, and a message holding one is
 * valid JSON to be refused for that string, not a parse error. */
json_t *jsontext_parse_nul(const char *s, size_t n, int max_depth, int *nul_seen, char *err, size_t errsz);
/* 1 when a string in v, outside the subtree skip (may be NULL), holds a
 * NUL byte; path is then the JSON Pointer of the first one ("" for v
 * itself; cut to pathsz). 0 otherwise. */
int jsontext_find_nul(const json_t *v, const json_t *skip, char *path, size_t pathsz);
/* Every NUL byte in v's strings becomes U+FFFD, in place: for a message no
 * one can be told was refused (a client's response or notification), so
 * that what C reads is the whole string, and matches no id or word it
 * would have matched cut short. */
void jsontext_replace_nul(json_t *v);

/* Maximum nesting depth of the JSON text (strings skipped). */
int jsontext_depth(const char *s, size_t n);

/* Getters: NULL/default when absent or of another type. */
const char *jsontext_str(const json_t *obj, const char *key);
long long jsontext_int(const json_t *obj, const char *key, long long dflt);
int jsontext_bool(const json_t *obj, const char *key, int dflt);
/* Name of the JSON type for error messages ("string", "object", ...). */
const char *jsontext_type_name(const json_t *v);

/* A JSON string of s[0..n) whatever its bytes: jansson refuses invalid
 * UTF-8 (json_stringn returns NULL), and a message that quotes a value cut
 * by bytes, or bytes a client sent, must still be sent. A UTF-8 sequence
 * cut at the end is dropped; any other invalid byte becomes U+FFFD. Valid
 * text is kept as it is. NULL only when out of memory. */
json_t *jsontext_string_lossy(const char *s, size_t n);
/* Length (2..4) of the valid UTF-8 sequence at p (p < end, *p >= 0x80) by
 * jansson's rules, or 0 when the bytes there are not one. */
size_t jsontext_utf8_seq(const unsigned char *p, const unsigned char *end);

#endif
