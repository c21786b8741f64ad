/* ap_input: see ap_input.h. */
#include "ap_input.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsontext.h"
#include "netguard.h"
#include "secret.h"
#include "testbuild.h"
#include "toolfilter.h"
#include "clock.h"
#include "url.h"

static int fail(ap_in_err_t *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(ap_in_err_t *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->field, sizeof err->field, "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return -1;
}

static void join_ptr(char *out, size_t outsz, const char *ptr, const char *key)
{
    snprintf(out, outsz, "%s/%s", ptr, key);
}

int ap_in_only(const json_t *obj, const char *const *allowed, const char *ptr, ap_in_err_t *err)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            char f[160], list[256] = "";
            size_t n = 0;
            for (size_t i = 0; allowed[i]; i++)
                n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s",
                                      i ? ", " : "", allowed[i]);
            join_ptr(f, sizeof f, ptr, key);
            return fail(err, f, "unknown member '%.64s'; allowed: %s", key, list);
        }
    }
    return 0;
}

int ap_in_str(const json_t *obj, const char *key, const char *ptr, size_t maxlen, int required,
              const char **out, ap_in_err_t *err)
{
    char f[160];
    const json_t *v = json_object_get(obj, key);
    join_ptr(f, sizeof f, ptr, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(err, f, "'%s' is required", key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, f, "'%s' must be a string, not %s", key, jsontext_type_name(v));
    size_t n = json_string_length(v), chars = 0;
    if (n == 0)
        return fail(err, f, "'%s' must not be empty", key);
    if (memchr(json_string_value(v), 0, n))
        return fail(err, f, "'%s' must not contain NUL characters", key);
    /* Limits count characters (jansson guarantees valid UTF-8): a name of
     * 200 accented letters is 200, not 400. */
    for (const unsigned char *c = (const unsigned char *)json_string_value(v); *c; c++)
        chars += (*c & 0xC0) != 0x80;
    if (chars > maxlen)
        return fail(err, f, "'%s' is longer than %zu characters", key, maxlen);
    *out = json_string_value(v);
    return 0;
}

int ap_in_bool(const json_t *obj, const char *key, const char *ptr, int *out, ap_in_err_t *err)
{
    char f[160];
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        join_ptr(f, sizeof f, ptr, key);
        return fail(err, f, "'%s' must be true or false, not %s", key, jsontext_type_name(v));
    }
    *out = json_is_true(v);
    return 0;
}

int ap_in_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int ap_in_utf8_text(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t len = *p >= 0x80 ? jsontext_utf8_seq(p, end) : *p != 0;
        if (!len)
            return 0;
        p += len;
    }
    return 1;
}

/* 1 for a code point a credential must not hold. Control characters: C0,
 * DEL, C1 (U+0080..U+009F: NEL among them) and the line and paragraph
 * separators U+2028/U+2029, which some stacks read as line breaks. And the
 * invisible format characters (soft hyphen, Arabic letter mark, Mongolian
 * vowel separator, zero-width characters and direction marks, bidi
 * embeddings and isolates, word joiner and invisible operators, BOM,
 * interlinear annotation, tags): a pasted token carrying one looks right
 * on screen, is not what JSM issued, and puts raw bytes in the header. */
static int header_unsafe_cp(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad || c == 0x61c || c == 0x180e ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
           c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe007f);
}

int ap_in_header_safe(const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (p < end) {
        uint32_t c = *p;
        size_t len = c < 0x80 ? 1 : jsontext_utf8_seq(p, end);
        if (len == 0)
            return 0; /* not UTF-8 */
        if (len > 1) /* the payload bits of the lead byte, then 6 of each continuation byte */
            c &= 0x7fu >> len;
        for (size_t i = 1; i < len; i++)
            c = c << 6 | (p[i] & 0x3fu);
        if (header_unsafe_cp(c))
            return 0;
        p += len;
    }
    return 1;
}

/* A credential member: a string as ap_in_str takes it, without control
 * characters. */
static int cred_str(const json_t *auth, const char *key, size_t maxlen, int required, const char **out,
                    ap_in_err_t *err)
{
    if (ap_in_str(auth, key, "/auth", maxlen, required, out, err))
        return -1;
    if (*out && !ap_in_header_safe(*out)) {
        char f[64];
        join_ptr(f, sizeof f, "/auth", key);
        return fail(err, f, "auth.%s must not contain control or invisible characters (CR, LF, tab, U+0085, U+2028, "
                            "zero-width, bidi, BOM, ...)", key);
    }
    return 0;
}

int ap_in_tenant_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 200)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._:@-", *s))
            return 0;
    return 1;
}

int ap_in_site_url(const char *url, const char *allowlist, char *out, size_t outsz, const char *ptr,
                   ap_in_err_t *err)
{
    const char *why;
    if (url_site(url, allowlist, out, outsz, &why) != 0)
        return fail(err, ptr, "site_url %s", why);
    return 0;
}

/* 1 when name (n bytes, a lowercase host without port) is one only this
 * machine or its own network can resolve: localhost and names under it,
 * single-label names (completed by the resolver's search domains), .local,
 * .internal, .home.arpa and .localdomain. */
static int local_name(const char *name, size_t n)
{
    static const char *const suffixes[] = {".localhost", ".local", ".internal", ".home.arpa", ".localdomain"};
    if (n && name[n - 1] == '.')
        n--; /* a fully qualified name */
    if ((n == 9 && memcmp(name, "localhost", 9) == 0) || !memchr(name, '.', n))
        return 1;
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t sl = strlen(suffixes[i]);
        if (n > sl && memcmp(name + n - sl, suffixes[i], sl) == 0)
            return 1;
    }
    return 0;
}

/* NULL when name (n bytes, letters, digits, '-', '_', '.') is a DNS name a
 * receiver can have, else why not: labels of 1 to 63 characters that
 * neither start nor end with '-', at most 253 in all, one trailing dot at
 * most, and a last label that is not all digits (a resolver reads
 * "127.0.0.1." or "1.2.3.4" as an address, which the literal check did
 * not see as one). */
static const char *dns_name_bad(const char *name, size_t n)
{
    if (n && name[n - 1] == '.')
        n--; /* a fully qualified name */
    if (n == 0 || n > 253)
        return "is not a host name (at most 253 characters)";
    size_t start = 0;
    int digits_only = 1;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && name[i] != '.') {
            if (!isdigit((unsigned char)name[i]))
                digits_only = 0;
            continue;
        }
        size_t len = i - start;
        if (len == 0)
            return "has an empty label (a leading dot or two dots in a row)";
        if (len > 63)
            return "has a label longer than 63 characters";
        if (name[start] == '-' || name[i - 1] == '-')
            return "has a label that starts or ends with '-'";
        if (i == n && digits_only)
            return "ends in a label of digits only, which a resolver reads as an address";
        start = i + 1;
        digits_only = 1;
    }
    return NULL;
}

int ap_in_webhook_url(const char *url, const char *allowlist, int *guarded, const char *ptr, ap_in_err_t *err)
{
    url_http_t u;
    const char *why;
    *guarded = 1;
    /* common/url reads it as the site URL is read: printable ASCII, at most
     * 2048 bytes, no userinfo, host and port written plainly (so "0x7f.1"
     * or a %-encoded host never reaches the checks below). */
    if (url_parse_http(url, &u, &why) != 0)
        return fail(err, ptr, "url %s", why);
    if (strchr(u.rest, '#'))
        return fail(err, ptr, "url must not have a fragment");
    if (url_host_listed(u.authority, u.authority_len, allowlist)) {
        *guarded = 0; /* an operator's own receiver: any address, http allowed */
        return 0;
    }
    if (!u.https)
        return fail(err, ptr, "url must use https (plain http only for hosts in JSMCP_WEBHOOK_ALLOWLIST)");
    /* The host without an IPv6 literal's brackets, as netguard reads it. */
    char host[URL_HOST_MAX + 1];
    size_t hl = strlen(u.host);
    if (u.host[0] == '[' && hl >= 2)
        snprintf(host, sizeof host, "%.*s", (int)(hl - 2), u.host + 1);
    else
        snprintf(host, sizeof host, "%s", u.host);
    hl = strlen(host);
    int lit = netguard_literal_public(host);
    if (lit == 0)
        return fail(err, ptr, "url's host is an address that is not public (loopback, private, link-local or "
                              "reserved): webhooks reach public addresses only");
    if (lit < 0) {
        for (size_t i = 0; i < hl; i++)
            if (!isalnum((unsigned char)host[i]) && host[i] != '-' && host[i] != '.' && host[i] != '_')
                return fail(err, ptr, "url's host may only hold letters, digits, '-', '_' and '.'");
        const char *bad = dns_name_bad(host, hl);
        if (bad)
            return fail(err, ptr, "url's host %s", bad);
        if (local_name(host, hl))
            return fail(err, ptr, "url's host is a local name: webhooks reach public hosts only");
    }
    return 0;
}

int ap_in_expires(const json_t *v, int64_t now_ms, int64_t min_ms, int64_t *out_ms, ap_in_err_t *err)
{
    int64_t ms;
    *out_ms = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(err, "/expires_at", "expires_at must be an RFC 3339 date-time string or null, not %s",
                    jsontext_type_name(v));
    if (clock_parse_iso(json_string_value(v), &ms) != 0)
        return fail(err, "/expires_at", "expires_at is not an RFC 3339 date-time (e.g. 2026-12-31T23:59:59Z) up to "
                                        "9999-12-31T23:59:59Z, with an offset up to 15:59");
    ms -= ms % 1000;
    if (ms < now_ms + min_ms)
        return fail(err, "/expires_at", "expires_at must be at least %lld seconds in the future",
                    (long long)(min_ms + 999) / 1000);
    *out_ms = ms;
    return 0;
}

static int match_chars(const char *s, size_t maxlen, int (*first)(int), const char *more)
{
    size_t n = strlen(s);
    if (n < 1 || n > maxlen || !first((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!strchr(more, c) || c == 0)
            return 0;
    }
    return 1;
}

static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int is_lower_or_digit(int c) { return is_lower(c) || (c >= '0' && c <= '9'); }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }

static const char TAG_CHARS[] = "abcdefghijklmnopqrstuvwxyz0123456789_-";
static const char KEY_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

/* A string array member: 1..AP_IN_MAX_ARRAY unique strings accepted by ok(). */
static int str_array(const json_t *cfg, const char *key, int (*ok)(const char *), const char *what,
                     json_t *out, ap_in_err_t *err)
{
    char f[160];
    const json_t *a = json_object_get(cfg, key);
    if (!a)
        return 0;
    snprintf(f, sizeof f, "/config/%s", key);
    if (!json_is_array(a))
        return fail(err, f, "config.%s must be an array of strings, not %s", key, jsontext_type_name(a));
    if (json_array_size(a) == 0)
        return fail(err, f, "config.%s must not be empty (leave it out for no filter)", key);
    if (json_array_size(a) > AP_IN_MAX_ARRAY)
        return fail(err, f, "config.%s has more than %d entries", key, AP_IN_MAX_ARRAY);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        snprintf(f, sizeof f, "/config/%s/%zu", key, i);
        if (!json_is_string(v))
            return fail(err, f, "config.%s[%zu] must be a string, not %s", key, i, jsontext_type_name(v));
        if (!ok(json_string_value(v)))
            return fail(err, f, "config.%s[%zu] '%.64s' is not %s", key, i, json_string_value(v), what);
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(a, j), (json_t *)v))
                return fail(err, f, "config.%s lists '%.64s' twice", key, json_string_value(v));
    }
    json_object_set(out, key, (json_t *)a);
    return 0;
}

static int ok_method(const char *s)
{
    /* The method kinds common/toolfilter knows, as the workers apply them. */
    return toolfilter_kind_bits(s) != 0;
}
static int ok_tag(const char *s) { return match_chars(s, 32, is_lower_or_digit, TAG_CHARS); }
static int ok_project(const char *s) { return match_chars(s, 10, is_upper, KEY_CHARS); }

/* config.test_fixtures (the worker's conformance profile, worker/wk_fixtures.h)
 * is accepted only by the test build started with JSMCP_TEST_FIXTURES=1;
 * anywhere else it is an unknown member like any other. */
static int fixtures_allowed(void)
{
    const char *v = getenv("JSMCP_TEST_FIXTURES");
    return testbuild_on() && v && strcmp(v, "1") == 0;
}

int ap_in_server_config(const json_t *cfg, json_t **out, ap_in_err_t *err)
{
    static const char *const plain[] = {"methods", "tags", "projects", "tool_exposure", "confirm_writes", NULL};
    static const char *const test[] = {"methods", "tags", "projects", "tool_exposure", "confirm_writes",
                                       "test_fixtures", NULL};
    const char *const *allowed = fixtures_allowed() ? test : plain;
    *out = NULL;
    if (!cfg || json_is_null(cfg)) {
        *out = json_object();
        return 0;
    }
    if (!json_is_object(cfg))
        return fail(err, "/config", "config must be an object, not %s", jsontext_type_name(cfg));
    if (ap_in_only(cfg, allowed, "/config", err))
        return -1;
    json_t *o = json_object();
    if (str_array(cfg, "methods", ok_method,
                  "a method kind: read (get and list), write (create, update and delete), get, list, create, update or delete",
                  o, err) ||
        str_array(cfg, "tags", ok_tag, "a tag of lowercase letters, digits, '_' and '-'", o, err) ||
        str_array(cfg, "projects", ok_project, "a Jira project key such as ITSM", o, err)) {
        json_decref(o);
        return -1;
    }
    const json_t *te = json_object_get(cfg, "tool_exposure");
    if (te) {
        const char *s = json_string_value(te);
        if (!s || (strcmp(s, "all") != 0 && strcmp(s, "discovery") != 0)) {
            json_decref(o);
            return fail(err, "/config/tool_exposure", "config.tool_exposure must be \"all\" or \"discovery\"");
        }
        json_object_set(o, "tool_exposure", (json_t *)te);
    }
    const json_t *cw = json_object_get(cfg, "confirm_writes");
    if (cw) {
        if (!json_is_boolean(cw)) {
            json_decref(o);
            return fail(err, "/config/confirm_writes", "config.confirm_writes must be a boolean");
        }
        json_object_set(o, "confirm_writes", (json_t *)cw);
    }
    const json_t *tf = json_object_get(cfg, "test_fixtures");
    if (tf) {
        if (!json_is_boolean(tf)) {
            json_decref(o);
            return fail(err, "/config/test_fixtures", "config.test_fixtures must be a boolean");
        }
        json_object_set(o, "test_fixtures", (json_t *)tf);
    }
    *out = o;
    return 0;
}

static int valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@') && !strpbrk(s, " \t\r\n") && strlen(s) <= 254;
}

int ap_in_auth(const json_t *auth, json_t **out, const char **type, ap_in_err_t *err)
{
    static const char *const tok_allowed[] = {"type", "email", "api_token", NULL};
    static const char *const oauth_allowed[] = {"type", "access_token", "refresh_token", "expires_at",
                                                "cloud_id", "scope", NULL};
    const char *t, *a, *b;
    *out = NULL;
    if (!auth)
        return fail(err, "/auth", "'auth' is required");
    if (!json_is_object(auth))
        return fail(err, "/auth", "auth must be an object, not %s", jsontext_type_name(auth));
    if (ap_in_str(auth, "type", "/auth", 32, 1, &t, err))
        return -1;
    if (strcmp(t, "api_token") == 0) {
        if (ap_in_only(auth, tok_allowed, "/auth", err) || cred_str(auth, "email", 254, 1, &a, err) ||
            cred_str(auth, "api_token", 2048, 1, &b, err))
            return -1;
        if (!valid_email(a))
            return fail(err, "/auth/email", "auth.email is not an email address");
        *type = "api_token";
        *out = json_pack("{ssss}", "email", a, "api_token", b);
        return 0;
    }
    if (strcmp(t, "oauth2") == 0) {
        const char *c, *s;
        if (ap_in_only(auth, oauth_allowed, "/auth", err) || cred_str(auth, "access_token", 8192, 1, &a, err) ||
            cred_str(auth, "refresh_token", 8192, 1, &b, err) || cred_str(auth, "cloud_id", 64, 1, &c, err) ||
            cred_str(auth, "scope", 2048, 0, &s, err))
            return -1;
        if (!ap_in_uuid(c))
            return fail(err, "/auth/cloud_id", "auth.cloud_id must be the site's cloud id, a UUID such as "
                        "11111111-2222-4333-8444-555555555555");
        int64_t exp = 0;
        const json_t *e = json_object_get(auth, "expires_at");
        if (e && (!json_is_string(e) || clock_parse_iso(json_string_value(e), &exp) != 0))
            return fail(err, "/auth/expires_at", "auth.expires_at must be an RFC 3339 date-time up to "
                                                 "9999-12-31T23:59:59Z, with an offset up to 15:59");
        *type = "oauth2";
        *out = json_pack("{sssssssI}", "access_token", a, "refresh_token", b, "cloud_id", c,
                         "expires_at_ms", (json_int_t)exp);
        if (s)
            json_object_set_new(*out, "scope", json_string(s));
        return 0;
    }
    return fail(err, "/auth/type", "auth.type must be \"api_token\" or \"oauth2\"");
}

void ap_cursor_encode(const char *created_at, const char *id, char *out, size_t outsz)
{
    char raw[160];
    int n = snprintf(raw, sizeof raw, "%s|%s", created_at, id);
    if (n < 0 || (size_t)n >= sizeof raw || secret_b64url_encode(raw, (size_t)n, out, outsz) < 0)
        out[0] = 0;
}

/* created_at as PostgreSQL prints a timestamptz (DateStyle ISO):
 * "2026-01-31 12:34:56.123456+00", the offset "+HH" or "+HH:MM" (the
 * session's TimeZone). Read by clock_parse_iso, which takes nothing
 * PostgreSQL would refuse to cast: a forged cursor is a 400, never a
 * query error. */
static int cursor_time_ok(const char *s)
{
    char iso[48];
    int64_t ms;
    size_t n = strlen(s);
    if (n < 22 || n >= sizeof iso - 3 || s[10] != ' ' || s[16] != ':')
        return 0;
    const char *off = s + 19 + strspn(s + 19, ".0123456789");
    size_t ol = strlen(off);
    if ((*off != '+' && *off != '-') || (ol != 3 && ol != 6))
        return 0;
    memcpy(iso, s, n);
    memcpy(iso + n, ol == 3 ? ":00" : "", ol == 3 ? 4 : 1);
    return clock_parse_iso(iso, &ms) == 0;
}

int ap_cursor_decode(const char *cursor, char *created_at, size_t casz, char *id, size_t idsz)
{
    char raw[161];
    size_t n = 0;
    if (strlen(cursor) > 200 || secret_b64_decode_any(cursor, raw, sizeof raw - 1, &n) != 0)
        return -1;
    raw[n] = 0;
    char *bar = strchr(raw, '|');
    if (!bar || memchr(raw, 0, n))
        return -1;
    *bar = 0;
    if (!cursor_time_ok(raw) || strlen(raw) >= casz || !ap_in_uuid(bar + 1) || idsz < 37)
        return -1;
    snprintf(created_at, casz, "%s", raw);
    snprintf(id, idsz, "%s", bar + 1);
    return 0;
}
