/* sb_pack: a fast subset of json_pack() for the sandbox's response building.
 *
 * jansson's json_pack() re-lexes its format string on every call and was the
 * top user-space cost of rendering issues. This packer accepts the subset the
 * sandbox uses: "{" "}" "[" "]" and s (const char *; "s%" takes a length
 * too), i (int), I (json_int_t), b (int), f (double), o (json_t *, stolen;
 * NULL becomes null), n (null); ':' ',' and spaces are separators. Object keys
 * are trusted literals and string values are not UTF-8 checked (jansson
 * checks again at dump time); NULL strings become "".
 * Returns a new reference; never NULL for a well-formed format.
 */
#ifndef JSMCP_SB_PACK_H
#define JSMCP_SB_PACK_H

#include <jansson.h>

json_t *sb_pack(const char *fmt, ...);


#endif
