/* jsontext_dump: jansson json_t -> JSON text, byte for byte what jansson
 * 2.14's json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes, faster (the
 * design note at the top of jsontext.c says how and how it is checked).
 * Synchronous, no callbacks; v is only read.
 */
#ifndef JSMCP_JSONTEXT_DUMP_H
#define JSMCP_JSONTEXT_DUMP_H

#include <stddef.h>
#include <jansson.h>

#include "buf.h"

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

#endif
