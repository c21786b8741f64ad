/* toolfilter: which catalog tools a server's config picks. Shared by the
 * worker (tools/list, tools/call) and the admin API (a server whose filters
 * leave no tools is refused with 400), so both read the same rules and the
 * same data: the tool catalog (worker/catalog.json, embedded in both
 * binaries).
 *
 * config (all members optional):
 *   "methods": ["read"|"write"|"list"|"get"|"create"|"update"|"delete", ...]
 *   "tags":    ["itsm", "support", ...]   a tool passes when it has any of them
 *   "projects": ["ITSM", ...]             project keys: scoping, and a filter
 *                                         only of the tools marked unscoped
 *   "tool_exposure": "all" | "discovery"
 * An absent or empty list is no restriction; methods and tags are ANDed.
 */
#ifndef JSMCP_TOOLFILTER_H
#define JSMCP_TOOLFILTER_H

#include <jansson.h>
#include <stddef.h>

enum { TF_LIST = 1, TF_GET = 2, TF_CREATE = 4, TF_UPDATE = 8, TF_DELETE = 16 };

/* Bits of a method name ("read" = list|get, "write" = create|update|delete);
 * 0 for an unknown name. */
unsigned toolfilter_kind_bits(const char *name);

/* 1 when a tool of kind bit `kind` with tags `tool_tags` (JSON array of
 * strings) passes cfg's methods and tags. An unscoped tool (what it reads
 * cannot be tied to a project: an organization, an attachment by id) does
 * not pass a cfg with projects, whose data it could leak. */
int toolfilter_allowed(unsigned kind, const json_t *tool_tags, int unscoped, const json_t *cfg);
/* The same for a row of the catalog document (its kind, tags, unscoped);
 * 0 for a row of unknown kind. */
int toolfilter_row_allowed(const json_t *row, const json_t *cfg);

/* Checks the shape of cfg's filter members: methods known, tags and
 * projects arrays of short strings, tool_exposure "all"/"discovery".
 * 0, or -1 with err (a message for a 400). */
int toolfilter_check_config(const json_t *cfg, char *err, size_t errsz);

/* Number of tools of the catalog document (catalog_json, len bytes) that cfg
 * picks; -1 with err when cfg is malformed (toolfilter_check_config) or the
 * catalog cannot be read. The admin API answers 400 when this is 0:
 *
 *   const embed_file_t *f = embed_find(api_embedded, "worker/catalog.json");
 *   int n = toolfilter_count(f->data, f->len, config, err, sizeof err);
 *   if (n <= 0) -> 400 (n == 0: "the server's methods/tags leave no tools")
 */
int toolfilter_count(const char *catalog_json, size_t len, const json_t *cfg, char *err,
                     size_t errsz);

#endif
