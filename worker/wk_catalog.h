/* wk_catalog: the tool catalog (worker/catalog.json, embedded at build time).
 *
 * Tools are data: each row names the JSM call (method, path, query, body),
 * its paging style and the projection of the result; wk_exec runs any row.
 * The catalog is loaded and checked once at start (bad rows fail the start,
 * not a call) and is read-only afterwards.
 */
#ifndef JSMCP_WK_CATALOG_H
#define JSMCP_WK_CATALOG_H

#include <jansson.h>
#include <stddef.h>

/* Method kinds, as bits, for a server's config.methods filter. */
enum wk_kind { WK_KIND_LIST = 1, WK_KIND_GET = 2, WK_KIND_CREATE = 4, WK_KIND_UPDATE = 8,
               WK_KIND_DELETE = 16 };

enum wk_paging { WK_PAGE_NONE = 0, WK_PAGE_TOKEN, WK_PAGE_STARTAT, WK_PAGE_START };

typedef struct wk_tool_s {
    const char *name;
    unsigned kind;              /* one WK_KIND_* bit */
    const json_t *def;          /* the catalog row (borrowed from the catalog) */
    json_t *listed;             /* the MCP Tool object tools/list shows */
    const json_t *input_schema;
    const json_t *http;         /* {"method","path","query"?,"body"?} */
    enum wk_paging paging;
    const char *items;          /* upstream array member (paged tools) */
    const char *limit_param, *token_param, *start_param;
    long default_limit, max_limit;
    const char *out_key;        /* list tools: member of structuredContent holding the items */
    const json_t *out_item;     /* projection of one item (list tools) */
    const json_t *out_object;   /* projection of the whole payload (get tools) */
} wk_tool_t;

typedef struct wk_catalog_s {
    json_t *root;
    wk_tool_t *tools;
    size_t n;
} wk_catalog_t;

/* Parses and checks a catalog document. 0, or -1 with err naming the row. */
int wk_catalog_load(wk_catalog_t **out, const char *json, size_t len, char *err, size_t errsz);
/* The catalog compiled into the binary. */
int wk_catalog_load_embedded(wk_catalog_t **out, char *err, size_t errsz);
void wk_catalog_free(wk_catalog_t *c);

const wk_tool_t *wk_catalog_find(const wk_catalog_t *c, const char *name);

/* 1 when a server whose config is cfg ({"methods":[...],"tags":[...]}, either
 * may be absent or empty = no restriction) offers tool t. methods accepts
 * "read" (get+list), "write" (create+update+delete) and the kind names;
 * tags match when the tool has any of them; both filters must pass. */
int wk_catalog_allowed(const wk_tool_t *t, const json_t *cfg);

/* tools/list result for a server: {"tools":[...],"nextCursor"?}. cursor is
 * the client's opaque cursor or NULL; page_size tools per page. Returns NULL
 * with err set for a cursor this server did not issue. */
json_t *wk_catalog_list(const wk_catalog_t *c, const json_t *cfg, const char *cursor,
                        size_t page_size, char *err, size_t errsz);

#endif
