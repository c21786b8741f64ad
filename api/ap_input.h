/* ap_input: validation of admin API input. Every check names the field at
 * fault as a JSON pointer ("/config/methods/1") and says what was wrong, so
 * a 400 tells the operator exactly what to change. Pure functions: no I/O,
 * unit tested in tests/unit/api/test_input.c. */
#ifndef JSMCP_AP_INPUT_H
#define JSMCP_AP_INPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AP_IN_MAX_ARRAY 32
#define AP_MIN_LIFETIME_MS 60000

typedef struct ap_in_err_s {
    char field[160];
    char detail[320];
} ap_in_err_t;

/* -1 and err set when obj has a member not in allowed (NULL-terminated). */
int ap_in_only(const json_t *obj, const char *const *allowed, const char *ptr, ap_in_err_t *err);
/* A string member of 1..maxlen characters (valid UTF-8 is guaranteed by jansson).
 * Absent: 0 with *out NULL when !required, else -1. */
int ap_in_str(const json_t *obj, const char *key, const char *ptr, size_t maxlen, int required,
              const char **out, ap_in_err_t *err);
/* An optional boolean member; *out keeps its value when absent. */
int ap_in_bool(const json_t *obj, const char *key, const char *ptr, int *out, ap_in_err_t *err);

/* 1 when s is a UUID (8-4-4-4-12 hex digits, either case). */
int ap_in_uuid(const char *s);
/* 1 when s[0..n) is valid UTF-8 (jansson's rules) without NUL: text
 * PostgreSQL takes as text and C reads whole (a query parameter). */
int ap_in_utf8_text(const char *s, size_t n);
/* 1 when s is UTF-8 without a control character (C0 such as CR and LF,
 * DEL, C1, U+2028, U+2029) or an invisible format character (zero-width,
 * bidi controls, BOM, soft hyphen, ...): a value that may end up in an
 * HTTP header (credentials). Other text, ASCII or not, is taken. */
int ap_in_header_safe(const char *s);

/* tenant_id: 1..200 of [A-Za-z0-9._:@-]. */
int ap_in_tenant_id(const char *s);
/* A JSM site URL: url_site()'s rule (common/url.h), the one the worker
 * applies before it sends credentials: https://<one DNS label>.atlassian.net,
 * or http(s)://host[:port] only when host[:port] is in the comma-separated
 * allowlist; no userinfo, port, path, query or fragment (a trailing "/" is
 * dropped). Writes the normalised URL (lowercase, no trailing slash) into out
 * (URL_SITE_MAX suffices); the error names ptr. The SSRF guard of issue 6. */
int ap_in_site_url(const char *url, const char *allowlist, char *out, size_t outsz, const char *ptr,
                   ap_in_err_t *err);
/* A webhook's URL (read by common/url's url_parse_http like site_url, then
 * the SSRF guard):
 * https with a public host, i.e. a name that is not local (localhost,
 * single-label, .local, .internal ...) or an IP literal of a public
 * address (netguard.h); no userinfo, no fragment, at most 2048 characters.
 * A host[:port] in the allowlist may be anything over http(s) and
 * *guarded is 0; otherwise *guarded is 1: deliveries must then connect only
 * to public addresses, whatever the name resolves to (httpc public_only). */
int ap_in_webhook_url(const char *url, const char *allowlist, int *guarded, const char *ptr, ap_in_err_t *err);
/* expires_at: JSON null/absent -> *out_ms = -1; an RFC 3339 string at least
 * min_ms (AP_MIN_LIFETIME_MS in production) after now_ms, truncated to
 * whole seconds. */
int ap_in_expires(const json_t *v, int64_t now_ms, int64_t min_ms, int64_t *out_ms, ap_in_err_t *err);
/* An MCP server's config: validates and returns a normalised copy (only the
 * members given; methods de-duplicated is an error, not a fix). */
int ap_in_server_config(const json_t *cfg, json_t **out, ap_in_err_t *err);
/* The "auth" object of an integrated account; on success *out is the
 * credentials JSON to seal ({"email","api_token"} or the OAuth members)
 * and *type its auth type. Credentials with control characters are
 * refused (they reach an Authorization header); cloud_id must be a UUID. */
int ap_in_auth(const json_t *auth, json_t **out, const char **type, ap_in_err_t *err);

/* Cursor paging over (created_at text, id): an opaque base64url token. */
void ap_cursor_encode(const char *created_at, const char *id, char *out, size_t outsz);
/* 0 and the two parts, or -1 for a token we did not issue. */
int ap_cursor_decode(const char *cursor, char *created_at, size_t casz, char *id, size_t idsz);

#endif
