/* router: see router.h. Routes are kept in insertion order; tables are
 * small (tens of routes), so a linear scan over pre-split segments is
 * faster than anything cleverer and trivially correct. */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "httpresp.h"
#include "url.h"

#define ROUTER_MAX_SEGS 16

typedef struct route_s {
    char method[16];
    char *pattern;           /* split in place into segs */
    char *name;              /* the pattern as given (httpd_req_set_route) */
    char *segs[ROUTER_MAX_SEGS];
    int nsegs;
    int wildcard; /* last segment is "*" */
    router_fn fn;
    void *ud;
} route_t;

struct router_s {
    route_t *routes;
    size_t n, cap;
    unsigned flags;           /* enum router_flags */
    router_miss_fn miss;      /* NULL: the problem+json answers */
    void *miss_ud;
};

router_t *router_new_with(unsigned flags)
{
    router_t *r = mem_calloc(1, sizeof(router_t));
    r->flags = flags;
    return r;
}

router_t *router_new(void)
{
    return router_new_with(0);
}

void router_set_fallback(router_t *r, router_miss_fn fn, void *ud)
{
    r->miss = fn;
    r->miss_ud = ud;
}

void router_free(router_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].pattern);
        free(r->routes[i].name);
    }
    free(r->routes);
    free(r);
}

/* Splits path in place at '/', skipping the leading one. Returns the count
 * or -1 when there are too many segments. */
static int split(char *path, char **segs)
{
    int n = 0;
    char *p = path;
    if (*p == '/')
        p++;
    if (!*p)
        return 0;
    for (;;) {
        if (n == ROUTER_MAX_SEGS)
            return -1;
        segs[n++] = p;
        char *sl = strchr(p, '/');
        if (!sl)
            break;
        *sl = 0;
        p = sl + 1;
    }
    return n;
}

void router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->routes = mem_realloc(r->routes, r->cap * sizeof *r->routes);
    }
    route_t *rt = &r->routes[r->n++];
    memset(rt, 0, sizeof *rt);
    snprintf(rt->method, sizeof rt->method, "%s", method);
    rt->pattern = mem_strdup(pattern);
    rt->name = mem_strdup(pattern);
    rt->nsegs = split(rt->pattern, rt->segs);
    if (rt->nsegs > 0 && strcmp(rt->segs[rt->nsegs - 1], "*") == 0)
        rt->wildcard = 1;
    rt->fn = fn;
    rt->ud = ud;
}

static int match(const route_t *rt, unsigned flags, char **segs, int nsegs, const char *rest_of[],
                 router_params_t *p)
{
    int raw = flags & ROUTER_RAW_PARAMS;
    int fixed = rt->wildcard ? rt->nsegs - 1 : rt->nsegs;
    if (rt->wildcard ? nsegs < fixed : nsegs != fixed)
        return 0;
    p->n = 0;
    for (int i = 0; i < fixed; i++) {
        const char *ps = rt->segs[i];
        if (ps[0] == ':') {
            if (!segs[i][0] || p->n == ROUTER_MAX_PARAMS)
                return 0;
            if (raw) {
                p->values[p->n] = segs[i]; /* the split copy of the path: lives while fn runs */
            } else {
                /* A NUL would cut the value the handler reads: no match. */
                if (url_decode(segs[i], strlen(segs[i]), p->decoded[p->n], ROUTER_MAX_PARAM_LEN,
                               URL_DECODE_NO_NUL) < 0)
                    return 0;
                p->values[p->n] = NULL; /* decoded[]: a copy of the params stays whole */
            }
            p->names[p->n++] = ps + 1;
        } else if (strcmp(ps, segs[i]) != 0) {
            return 0;
        }
    }
    if (rt->wildcard) {
        if (p->n == ROUTER_MAX_PARAMS)
            return 0;
        const char *rest = nsegs > fixed ? rest_of[fixed] : "";
        if (raw) {
            p->values[p->n] = rest;
        } else {
            if (strlen(rest) >= ROUTER_MAX_PARAM_LEN)
                return 0;
            strcpy(p->decoded[p->n], rest);
            p->values[p->n] = NULL;
        }
        p->names[p->n++] = "*";
    }
    return 1;
}

/* A miss, answered by the fallback or as problem+json. */
static void miss(router_t *r, httpd_req_t *req, int status, const char *allow, const char *detail)
{
    if (r->miss) {
        r->miss(req, status, allow, r->miss_ud);
        return;
    }
    if (allow)
        httpd_resp_header(req, "Allow", allow);
    httpresp_problem(req, status, detail, NULL);
}

static int method_serves(unsigned flags, const char *route_method, const char *method)
{
    return strcmp(route_method, "*") == 0 || strcmp(route_method, method) == 0 ||
           (!(flags & ROUTER_EXACT_METHOD) && strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

int router_dispatch(router_t *r, httpd_req_t *req)
{
    const char *path = httpd_req_path(req);
    const char *method = httpd_req_method(req);
    size_t plen = strlen(path);
    char stackpath[2048];
    char *copy;
    char *segs[ROUTER_MAX_SEGS + 1];
    const char *rest_of[ROUTER_MAX_SEGS + 1];
    router_params_t params;
    buf_t allow;
    int nsegs;

    if (plen >= sizeof stackpath) {
        miss(r, req, 404, NULL, "path too long");
        return 0;
    }
    copy = stackpath;
    memcpy(copy, path, plen + 1);
    /* Remember where each segment starts in the original path, for "*". */
    nsegs = split(copy, segs);
    if (nsegs < 0) {
        miss(r, req, 404, NULL, "no such resource");
        return 0;
    }
    for (int i = 0; i < nsegs; i++)
        rest_of[i] = path + (segs[i] - copy);

    /* The first route with this method whose path matches; the routes of
     * other methods are matched only on a miss, for the 405's Allow, so a
     * hit neither decodes their params nor builds the list. */
    for (size_t i = 0; i < r->n; i++) {
        route_t *rt = &r->routes[i];
        if (!method_serves(r->flags, rt->method, method) || !match(rt, r->flags, segs, nsegs, rest_of, &params))
            continue;
        httpd_req_set_route(req, rt->name);
        rt->fn(req, &params, rt->ud);
        return 1;
    }
    buf_init(&allow, 256);
    for (size_t i = 0; i < r->n; i++) {
        route_t *rt = &r->routes[i];
        if (!match(rt, r->flags, segs, nsegs, rest_of, &params))
            continue;
        if (!allow.len || !strstr(allow.data, rt->method)) {
            if (allow.len)
                buf_append_str(&allow, ", ");
            buf_append_str(&allow, rt->method);
        }
    }
    if (allow.len && buf_ok(&allow))
        miss(r, req, 405, allow.data, "method not allowed on this resource");
    else
        miss(r, req, 404, NULL, "no such resource");
    buf_free(&allow);
    return 0;
}

const char *router_param(const router_params_t *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return p->values[i] ? p->values[i] : p->decoded[i];
    return NULL;
}
