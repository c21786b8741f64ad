/* sb_adf: Atlassian Document Format and plain text, both ways, as the
 * sandbox stores and shows comments and descriptions. Pure functions (no
 * sandbox state); bounded by SB_MAX_TEXT and the JSON depth they walk.
 */
#ifndef JSMCP_SB_ADF_H
#define JSMCP_SB_ADF_H

#include <jansson.h>

/* Plain text of an ADF document (text nodes; paragraphs joined by blank
 * lines). Returns a malloc'd string of at most SB_MAX_TEXT - 1 bytes
 * (Jira's 32,767), or NULL: when doc is not ADF-like, or when the text is
 * longer (then *too_long = 1, if too_long is given: the caller answers
 * Jira's "too long", never keeps a cut text). */
char *sb_adf_text(const json_t *doc, int *too_long);
/* ADF doc built from plain text (paragraphs on blank lines, lines as hardBreak). */
json_t *sb_adf_from_text(const char *text);

#endif
