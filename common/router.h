/* router: a method + path-pattern table. Patterns are literal segments and
 * ":name" captures ("/integrated-account/:id/mcp/:mcp_id"); a trailing "*"
 * segment captures the rest of the path as param "*". First match wins.
 * A path that matches a pattern with another method gets 405 with Allow;
 * no match at all gets 404. Both as application/problem+json, unless a
 * fallback is set (router_set_fallback): then it writes the answer.
 *
 * Options (router_new_with): by default a param is percent-decoded into
 * the params' own array (ROUTER_MAX_PARAM_LEN with its NUL, else no
 * match) and HEAD is served by GET routes. ROUTER_RAW_PARAMS hands params
 * over as they are in the path, of any length, without copying them;
 * ROUTER_EXACT_METHOD serves each method by its own routes only.
 * A raw param is valid while the route's fn runs, not after.
 */
#ifndef JSMCP_ROUTER_H
#define JSMCP_ROUTER_H

#include "httpd.h"

#define ROUTER_MAX_PARAMS 8
#define ROUTER_MAX_PARAM_LEN 256

typedef struct router_params_s {
    int n;
    const char *names[ROUTER_MAX_PARAMS];
    /* router_param's answer: values[i] (ROUTER_RAW_PARAMS: into the path,
     * for the handler's run only), else decoded[i], the params' own copy
     * (a handler may keep a copy of the struct, as the API's does). */
    const char *values[ROUTER_MAX_PARAMS];
    char decoded[ROUTER_MAX_PARAMS][ROUTER_MAX_PARAM_LEN];
} router_params_t;

enum router_flags {
    ROUTER_RAW_PARAMS = 1 << 0,   /* params undecoded, pointing into the path, any length */
    ROUTER_EXACT_METHOD = 1 << 1, /* HEAD is not served by GET routes */
};

typedef void (*router_fn)(httpd_req_t *req, const router_params_t *params, void *ud);
typedef struct router_s router_t;

router_t *router_new(void); /* router_new_with(0) */
router_t *router_new_with(unsigned flags);
void router_free(router_t *r);
/* method "*" matches any method. ud is passed to fn. Patterns are copied. */
void router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud);
/* A miss: status 404 (no pattern matches the path) or 405 (patterns match
 * with other methods only; allow lists them, "GET, POST", else NULL). The
 * fallback answers req; nothing is written for it. */
typedef void (*router_miss_fn)(httpd_req_t *req, int status, const char *allow, void *ud);
void router_set_fallback(router_t *r, router_miss_fn fn, void *ud);
/* Dispatches, or answers 404/405 (itself or through the fallback). Returns
 * 1 if a route ran, 0 otherwise. */
int router_dispatch(router_t *r, httpd_req_t *req);
/* NULL if absent. */
const char *router_param(const router_params_t *p, const char *name);

#endif
