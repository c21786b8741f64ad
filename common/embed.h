/* embed: data files compiled into a binary by scripts/embed.sh (migrations,
 * the OpenAPI document, the tool catalog), so a deployed binary needs no
 * files beside it. Each binary dir <d> gets a table <d>_embedded[] built
 * from the files listed in the Makefile's EMBED_<d>. */
#ifndef JSMCP_EMBED_H
#define JSMCP_EMBED_H

#include <stddef.h>

typedef struct embed_file_s {
    const char *name;   /* path relative to the repo root, e.g. "migrations/001_init.sql" */
    const char *data;   /* NUL-terminated */
    size_t len;         /* without the NUL */
} embed_file_t;

/* The entry named name, or NULL. */
const embed_file_t *embed_find(const embed_file_t *files, const char *name);

#endif
