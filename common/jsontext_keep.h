/* jsontext_keep: the paths of a JSON document worth building. A tool's
 * projection reads a few of the upstream payload's members:
 * jsontext_parse_keep (jsontext.h) builds only the members on these paths
 * and skips the rest, checking its syntax but building nothing (duplicate
 * keys inside skipped values are not detected). Arrays pass through: a node
 * applies to every element. A keep tree is built once (per tool) and then
 * only read, by any number of parses.
 */
#ifndef JSMCP_JSONTEXT_KEEP_H
#define JSMCP_JSONTEXT_KEEP_H

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

#endif
