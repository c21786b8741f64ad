/* wk_catalog: the tool catalog (worker/catalog.json, embedded at build time).
 *
 * Tools are data: each row names the JSM call (method, path, query, body),
 * its paging style and the projection of the result; wk_call runs any row.
 * The catalog is loaded and checked once at start (bad rows fail the start,
 * not a call) and is read-only afterwards.
 */
#ifndef JSMCP_WK_CATALOG_H
#define JSMCP_WK_CATALOG_H

#include <jansson.h>
#include <stddef.h>

#include "jsontext.h"
#include "toolfilter.h"

/* Method kinds, as bits, for a server's config.methods filter (toolfilter.h). */
enum wk_kind { WK_KIND_LIST = TF_LIST, WK_KIND_GET = TF_GET, WK_KIND_CREATE = TF_CREATE,
               WK_KIND_UPDATE = TF_UPDATE, WK_KIND_DELETE = TF_DELETE };
#define WK_KIND_WRITE (WK_KIND_CREATE | WK_KIND_UPDATE | WK_KIND_DELETE)

enum wk_paging { WK_PAGE_NONE = 0, WK_PAGE_TOKEN, WK_PAGE_STARTAT, WK_PAGE_START, WK_PAGE_OFFSET };

/* Where an answer says which project it belongs to (scope_items of a list
 * tool, per upstream item; scope_object of a get tool, the payload): path
 * NULL = not declared; issue_key: the member is an issue key ("ITSM-994"),
 * whose project is the part before the last '-', else a project key. */
typedef struct wk_scope_s {
    const char *path;
    const char *path2;  /* read when path is absent (an issue link's other issue is
                           outwardIssue or inwardIssue): {"issue_key": ["a", "b"]} */
    int issue_key;
} wk_scope_t;

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
    const char *out_from;       /* unpaged list tools: path of the array in the payload */
    const json_t *tags;         /* array of strings */
    const char *jql_arg;        /* argument holding JQL (field names translated, projects scoped) */
    const char *fields_arg;     /* argument whose member names are field names (translated) */
    const char *scope_issue;    /* argument holding an issue key checked against config.projects */
    const char *scope_issue2;   /* a second one (scope_issue: ["a", "b"]: both issues of a link) */
    const char *scope_desk;     /* argument holding a service desk id checked against config.projects;
                                   required when projects are set, even if the tool's schema has it optional */
    const char *scope_project;  /* argument holding a project key checked against config.projects */
    wk_scope_t scope_items;     /* list tools: each upstream item's project; with config.projects items of
                                   other projects are left out (compact and raw answers alike) */
    wk_scope_t scope_object;    /* get tools: the payload's project; another project's answer is refused */
    int unscoped;               /* what it reads or writes cannot be tied to a project: not offered with
                                   config.projects */
    const json_t *path_with;    /* {"<arg>": path}: when the argument is given, that path replaces http.path */
    const json_t *resolve;      /* pre-steps turning a name/email into an id (wk_steps.h) */
    const json_t *multipart;    /* http.multipart: the request body is one uploaded file */
    const json_t *includes;     /* {"<name>": {"fields": [..], "item": template}}: what the
                                   include argument adds to a search (fields asked, members shown) */
    const json_t *notes;        /* {"<arg>": "text"}: said in the result when the argument is absent */
    long binary_max;            /* output.binary: the payload is a file, answered as base64 up to this size */
    jsontext_keep_t *keep;            /* what of the payload the result reads (wk_result_keep_new) */
} wk_tool_t;

typedef struct wk_catalog_s {
    json_t *root;
    wk_tool_t *tools;
    size_t n;
    json_t *discovery;          /* the three tools listed in discovery exposure */
} wk_catalog_t;

/* Names of the discovery tools (config.tool_exposure "discovery"). */
#define WK_TOOL_SEARCH "search_tools"
#define WK_TOOL_SCHEMA "get_tool_schema"
#define WK_TOOL_CALL "call_tool"

/* 1 when cfg asks for discovery exposure. */
int wk_catalog_discovery(const json_t *cfg);

/* search_tools: the server's tools matching query (words against name,
 * title, description and tags), best first, at most limit:
 * {"tools":[{"name","title","description"}]}. */
json_t *wk_catalog_search(const wk_catalog_t *c, const json_t *cfg, const char *query, size_t limit);

/* Parses and checks a catalog document. 0, or -1 with err naming the row. */
int wk_catalog_load(wk_catalog_t **out, const char *json, size_t len, char *err, size_t errsz);
/* The catalog compiled into the binary. */
int wk_catalog_load_embedded(wk_catalog_t **out, char *err, size_t errsz);
void wk_catalog_free(wk_catalog_t *c);

const wk_tool_t *wk_catalog_find(const wk_catalog_t *c, const char *name);

/* 1 when a server whose config is cfg offers tool t (toolfilter.h rules). */
int wk_catalog_allowed(const wk_tool_t *t, const json_t *cfg);

/* tools/list result for a server: {"tools":[...],"nextCursor"?}. cursor is
 * the client's opaque cursor or NULL; page_size tools per page. Returns NULL
 * with err set for a cursor this server did not issue. */
json_t *wk_catalog_list(const wk_catalog_t *c, const json_t *cfg, const char *cursor,
                        size_t page_size, char *err, size_t errsz);

#endif
