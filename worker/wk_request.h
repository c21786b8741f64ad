/* wk_request: the request building stage of a tool call (pure, unit
 * tested). A catalog row (wk_catalog.h) and validated arguments become one
 * upstream JSM request: method, URL (path templates, query, page cursors),
 * JSON body (wk_body.h) or a multipart upload. Before that, the arguments
 * are prepared: JQL field names and config.projects scoping, field names of
 * writes translated to ids (wk_jql.h), issue keys checked against
 * config.projects. The per-worker cache of each account's field list lives
 * here too.
 */
#ifndef JSMCP_WK_REQUEST_H
#define JSMCP_WK_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "httpc.h"
#include "wk_catalog.h"

/* The longest upstream page token a cursor carries (decoded). */
#define WK_PAGE_TOKEN_MAX 1600

/* One upstream request. */
typedef struct wk_request_s {
    const char *method;
    char *url;
    char *body;       /* JSON or NULL */
    size_t body_len;
    httpc_part_t part;/* nparts 1: the file of an upload (http.multipart), */
    size_t nparts;    /* its data decoded from base64 (owned) */
} wk_request_t;

/* Builds the request for tool t with validated arguments args. -1 with err
 * for an argument the schema cannot catch (a forged next_cursor, content
 * that is not base64). A tool with http.multipart gets its file as the
 * one part of a multipart/form-data body. */
int wk_request_build(const wk_tool_t *t, const json_t *args, const char *base_url, wk_request_t *out,
                     char *err, size_t errsz);
/* The same without its upload: the request of a tool whose file went up in
 * a resolve step is JSON. */
int wk_request_build_json(const wk_tool_t *t, const json_t *args, const char *base_url, wk_request_t *out,
                          char *err, size_t errsz);
/* A pre-step's request: one catalog http row alone (a resolve step, a
 * config.projects check, the field list), no paging, no includes; the
 * upload multipart (or NULL) when the row sends the tool's file. name
 * names the tool in messages. */
int wk_request_build_step(const json_t *http, const json_t *multipart, const char *name, const json_t *args,
                          const char *base_url, wk_request_t *out, char *err, size_t errsz);
void wk_request_clear(wk_request_t *r);

/* Page cursors: base64url("t:<upstream token>") or ("s:<start>").
 * decode: 0 with kind and val, or -1 (forged or too long). encode: a new
 * string, or NULL when val is longer than WK_PAGE_TOKEN_MAX. */
int wk_request_cursor_decode(const char *cur, char *kind, char *val, size_t valsz);
json_t *wk_request_cursor_encode(char kind, const char *val);

/* The pure pre-step on arguments: JQL field names and config.projects
 * scoping, field names in the fields argument, the issue key scope. Returns
 * a new arguments object, or NULL with err (an agent-facing message).
 * fields may be NULL (names are not translated). */
json_t *wk_request_prepare(const wk_tool_t *t, const json_t *args, const json_t *fields, const json_t *config,
                           char *err, size_t errsz);
/* The same; need (may be NULL) gets the ids of fields sharing a name the
 * arguments use whose project context is not known yet. */
json_t *wk_request_prepare_need(const wk_tool_t *t, const json_t *args, const json_t *fields, const json_t *config,
                                json_t *need, char *err, size_t errsz);

/* 1 when the arguments name fields (a JQL query, a fields object) that the
 * site's field list translates: the call needs that list first. */
int wk_request_needs_fields(const wk_tool_t *t, const json_t *args);

/* Per-worker cache of each account's field list (GET /rest/api/3/field),
 * for JQL and write-argument field names. get: borrowed, NULL when absent
 * or older than the TTL; put keeps a reference. */
typedef struct wk_fieldcache_s wk_fieldcache_t;
wk_fieldcache_t *wk_fieldcache_new(long ttl_ms);
void wk_fieldcache_free(wk_fieldcache_t *fc);
const json_t *wk_fieldcache_get(wk_fieldcache_t *fc, const char *account_id, uint64_t now);
void wk_fieldcache_put(wk_fieldcache_t *fc, const char *account_id, json_t *fields, uint64_t now);

#endif
