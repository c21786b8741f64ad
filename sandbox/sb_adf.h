/* sb_adf: Atlassian Document Format and plain text, both ways, as the
 * sandbox stores and shows comments and descriptions. Pure functions (no
 * sandbox state); bounded by SB_MAX_TEXT and the JSON depth they walk.
 */
#ifndef JSMCP_SB_ADF_H
#define JSMCP_SB_ADF_H

#include <jansson.h>

/* Plain text of an ADF document (text nodes; paragraphs joined by blank
 * lines). Returns a malloc'd string or NULL when doc is not ADF-like. */
char *sb_adf_text(const json_t *doc);
/* ADF doc built from plain text (paragraphs on blank lines, lines as hardBreak). */
json_t *sb_adf_from_text(const char *text);

#endif
