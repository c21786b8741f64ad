/* ap_web: see ap_web.h. Files are looked up by exact name in the embedded
 * table ("api/web/" + the path after /ui/), so no path can reach anything
 * outside api/web: "..", "%2e" and friends simply name no file. */
#include "ap_web.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "embed.h"
#include "httpresp.h"

extern const embed_file_t api_embedded[];

#define WEB_DIR "api/web/"
#define WEB_INDEX "index.html"

/* Scripts, styles and fetch calls from this origin only; nothing inline,
 * no framing (clickjacking of the revoke button), no forms posting away. */
static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static const struct {
    const char *ext;
    const char *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".json", "application/json"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
            if (strcmp(dot, TYPES[i].ext) == 0)
                return TYPES[i].type;
    return NULL; /* an unknown kind of file is not served (nosniff would block it anyway) */
}

/* A strong ETag from the content: the files only change with the binary,
 * so browsers revalidate (no-cache) and get 304s without re-downloading. */
static void etag_of(const embed_file_t *f, char *out, size_t outsz)
{
    unsigned char h[crypto_generichash_BYTES_MIN]; /* 16: smaller sizes are refused, leaving h unset */
    char hex[sizeof h * 2 + 1];
    if (crypto_generichash(h, sizeof h, (const unsigned char *)f->data, f->len, NULL, 0) != 0)
        memset(h, 0, sizeof h); /* cannot happen with these sizes; never an unset tag */
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, outsz, "\"%s\"", hex);
}

/* 1 when an If-None-Match list names etag (quoted, so a substring match
 * cannot hit a longer tag; W/ weak forms compare equal, as RFC 9110 says
 * If-None-Match should) or is "*". */
static int etag_matches(const char *inm, const char *etag)
{
    return inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

static void serve(httpd_req_t *req, const char *rel)
{
    char name[ROUTER_MAX_PARAM_LEN + sizeof WEB_DIR];
    snprintf(name, sizeof name, "%s%s", WEB_DIR, rel[0] ? rel : WEB_INDEX);
    const embed_file_t *f = embed_find(api_embedded, name);
    const char *type = f ? content_type(name) : NULL;
    httpd_resp_header(req, "X-Content-Type-Options", "nosniff");
    httpd_resp_header(req, "Referrer-Policy", "no-referrer");
    if (!type) {
        httpresp_problem(req, 404, "no such file in the dashboard", NULL);
        return;
    }
    char etag[2 * crypto_generichash_BYTES_MIN + 3];
    etag_of(f, etag, sizeof etag);
    httpd_resp_header(req, "Content-Security-Policy", CSP);
    httpd_resp_header(req, "X-Frame-Options", "DENY");
    httpd_resp_header(req, "Cache-Control", "no-cache");
    httpd_resp_header(req, "ETag", etag);
    if (etag_matches(httpd_req_header(req, "If-None-Match"), etag)) {
        httpd_respond(req, 304, NULL, NULL, 0);
        return;
    }
    httpd_respond(req, 200, type, f->data, f->len);
}

static void h_index(httpd_req_t *req, const router_params_t *p, void *ud)
{
    (void)p;
    (void)ud;
    serve(req, "");
}

static void h_asset(httpd_req_t *req, const router_params_t *p, void *ud)
{
    (void)ud;
    const char *rest = router_param(p, "*");
    serve(req, rest ? rest : "");
}

void ap_web_add_routes(router_t *router)
{
    router_add(router, "GET", "/", h_index, NULL);
    router_add(router, "GET", "/ui/*", h_asset, NULL);
}
