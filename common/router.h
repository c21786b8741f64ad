/* router: a method + path-pattern table. Patterns are literal segments and
 * ":name" captures ("/integrated-account/:id/mcp/:mcp_id"); a trailing "*"
 * segment captures the rest of the path as param "*". First match wins.
 * A path that matches a pattern with another method gets 405 with Allow;
 * no match at all gets 404. Both as application/problem+json.
 */
#ifndef JSMCP_ROUTER_H
#define JSMCP_ROUTER_H

#include "httpd.h"

#define ROUTER_MAX_PARAMS 8
#define ROUTER_MAX_PARAM_LEN 256

typedef struct router_params_s {
    int n;
    const char *names[ROUTER_MAX_PARAMS];
    char values[ROUTER_MAX_PARAMS][ROUTER_MAX_PARAM_LEN]; /* percent-decoded */
} router_params_t;

typedef void (*router_fn)(httpd_req_t *req, const router_params_t *params, void *ud);
typedef struct router_s router_t;

router_t *router_new(void);
void router_free(router_t *r);
/* method "*" matches any method. ud is passed to fn. Patterns are copied. */
void router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud);
/* Dispatches or answers 404/405 itself. Returns 1 if a route ran, 0 otherwise. */
int router_dispatch(router_t *r, httpd_req_t *req);
/* NULL if absent. */
const char *router_param(const router_params_t *p, const char *name);

#endif
