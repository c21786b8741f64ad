/* sb_strict: the sandbox's strict mode. Real Cloud silently ignores unknown
 * query parameters and body fields, which is how a client's bug (a
 * parameter the operation does not have) stays hidden until a customer
 * notices. In strict mode every request under /rest/api/3 and
 * /rest/servicedeskapi (site and gateway roots) is checked against its
 * operation in Atlassian's OpenAPI documents (vendor/atlassian-openapi),
 * compacted at build time by scripts/openapi_compact.py and embedded:
 *
 *   path      an operation exists for it (else "no such operation"), and
 *             for the method (else "method not allowed"); path parameters
 *             have their types;
 *   query     every name is a parameter of the operation; values have the
 *             parameter's type (integer, number, boolean, enum; arrays item
 *             by item, repeated or comma-separated); required ones present;
 *             a non-array parameter is not repeated;
 *   body      JSON where the operation takes JSON (Content-Type too),
 *             multipart where it takes multipart, none where it takes none;
 *             the JSON validates against the schema: types, enums, required
 *             properties, lengths and counts, and no property the schema
 *             does not list (also where it says additionalProperties: true,
 *             since Cloud ignores those); maps (additionalProperties with a
 *             schema) are open. Jackson's scalar coercions that Cloud
 *             accepts (a number for a string, a numeric string for a
 *             number, "true" for a boolean, null anywhere) pass.
 *
 * A failure is a refusal: the caller answers 400 naming the offending part
 * and the refusal is counted under a key "<METHOD> <template> <where>"
 * (where = "operation", "method", "path.<name>", "query.<name>", "body",
 * "body.<property path>"), aggregated for the control API. An allow-list of
 * key prefixes (temporary: known client bugs being fixed) lets matching
 * requests through while still counting them as "allowed".
 */
#ifndef JSMCP_SB_STRICT_H
#define JSMCP_SB_STRICT_H

#include <stddef.h>

#include <jansson.h>

#define SB_STRICT_MAX_KEYS 256  /* distinct refusal keys kept */
#define SB_STRICT_MAX_ALLOW 32  /* allow-list entries */

typedef struct sb_strict_s sb_strict_t;

/* The table from its compact JSON (scripts/openapi_compact.py); NULL with
 * err on a malformed table. */
sb_strict_t *sb_strict_new(const char *table_json, size_t len, char *err, size_t errsz);
/* The table embedded in the binary. */
sb_strict_t *sb_strict_new_embedded(char *err, size_t errsz);
void sb_strict_free(sb_strict_t *s);
int sb_strict_nops(const sb_strict_t *s);

/* Allow-list: key prefixes separated by commas or newlines, replacing the
 * list; -1 with err when there are too many or one is too long. */
int sb_strict_set_allow(sb_strict_t *s, const char *list, char *err, size_t errsz);

/* 1 when strict mode looks at this path (below the root: "/rest/..."). */
int sb_strict_applies(const char *path);

enum sb_strict_result { SB_STRICT_OK = 0, SB_STRICT_REFUSED = 1, SB_STRICT_ALLOWED = 2 };
/* Checks one request (path below the root, raw query, Content-Type header,
 * body). REFUSED: msg holds the reason ("GET /rest/...: query parameter
 * 'x' ..."), *family gets "platform" or "jsm" (the answer's error shape).
 * ALLOWED: a refusal the allow-list lets through (counted). */
int sb_strict_check(sb_strict_t *s, const char *method, const char *path, const char *query, const char *ctype,
                    const char *body, size_t len, char *msg, size_t msgsz, const char **family);

/* {"operations","checked","refused","allowed","allow":[..],"refusals":[{key,problem,count,allowed,
 *   method,path,query}]} */
json_t *sb_strict_json(const sb_strict_t *s);
void sb_strict_reset(sb_strict_t *s);
long sb_strict_refused(const sb_strict_t *s);

#endif
