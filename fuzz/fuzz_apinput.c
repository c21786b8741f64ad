/* libFuzzer target: the admin API's JSON input validators (api/ap_input.c).
 * The input is a JSON object as a request body would be; each validator the
 * routes use runs on it: the server config, the account's auth object,
 * expires_at, tenant_id, the site URL (SSRF guard) with an allowlist, a
 * webhook's URL ("url", its SSRF guard) with and without one, the generic
 * member checks, and the paging cursor (encode/decode round trip).
 * Build and run: make fuzz (FUZZ_FILTER=apinput). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ap_input.h"
#include "jsontext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char perr[256], url[512];
    ap_in_err_t err;
    json_t *in = jsontext_parse((const char *)data, size, 32, perr, sizeof perr);
    if (!in)
        return 0;
    static const char *const allowed[] = {"name", "config", "auth", "site_url", "expires_at",
                                          "tenant_id", "cursor", "url", NULL};
    ap_in_only(in, allowed, "", &err);
    const char *s = NULL;
    int b = 0;
    ap_in_str(in, "name", "/name", 200, 0, &s, &err);
    ap_in_bool(in, "require_api_token_auth", "/require_api_token_auth", &b, &err);
    json_t *out = NULL;
    const json_t *cfg = json_object_get(in, "config");
    if (cfg && ap_in_server_config(cfg, &out, &err) == 0)
        json_decref(out);
    out = NULL;
    const char *type = NULL;
    const json_t *auth = json_object_get(in, "auth");
    if (auth && ap_in_auth(auth, &out, &type, &err) == 0)
        json_decref(out);
    int64_t ms;
    ap_in_expires(json_object_get(in, "expires_at"), 1767225600000LL, AP_MIN_LIFETIME_MS, &ms, &err);
    if (ap_in_str(in, "tenant_id", "/tenant_id", 400, 0, &s, &err) == 0 && s)
        ap_in_tenant_id(s);
    if (ap_in_str(in, "site_url", "/site_url", 400, 0, &s, &err) == 0 && s) {
        ap_in_site_url(s, "", url, sizeof url, "/site_url", &err);
        ap_in_site_url(s, "127.0.0.1:8090,sandbox:8090,[::1]:9", url, sizeof url, "/site_url", &err);
    }
    if (ap_in_str(in, "url", "/url", 4096, 0, &s, &err) == 0 && s) {
        int guarded = -1;
        /* A URL the guard lets through unlisted is https (url.h's reader). */
        if (ap_in_webhook_url(s, "", &guarded, "/url", &err) == 0 && (guarded != 1 || strncmp(s, "https://", 8) != 0))
            abort();
        ap_in_webhook_url(s, "127.0.0.1:8090,hooks.example.com", &guarded, "/url", &err);
    }
    if (ap_in_str(in, "cursor", "/cursor", 400, 0, &s, &err) == 0 && s) {
        char ca[64], id[64], tok[512], ca2[64], id2[64];
        if (ap_cursor_decode(s, ca, sizeof ca, id, sizeof id) == 0) {
            ap_cursor_encode(ca, id, tok, sizeof tok);
            if (ap_cursor_decode(tok, ca2, sizeof ca2, id2, sizeof id2) != 0 || strcmp(ca, ca2) != 0 ||
                strcmp(id, id2) != 0)
                abort(); /* a cursor we issue must decode to what went in */
        }
    }
    json_decref(in);
    return 0;
}
