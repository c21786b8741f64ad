/* Unit tests of ap_input: the admin API's validation rules. */
#include <criterion/criterion.h>
#include <string.h>

#include "ap_input.h"
#include "secret.h"
#include "clock.h"

static json_t *J(const char *s)
{
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    cr_assert(v, "bad test JSON %s", s);
    return v;
}

Test(input, only_names_the_unknown_member)
{
    static const char *const allowed[] = {"a", "b", NULL};
    ap_in_err_t e;
    json_t *o = J("{\"a\":1,\"zz\":2}");
    cr_assert_eq(ap_in_only(o, allowed, "/config", &e), -1);
    cr_assert_str_eq(e.field, "/config/zz");
    cr_assert(strstr(e.detail, "allowed: a, b"));
    json_decref(o);
}

Test(input, site_url_rules)
{
    ap_in_err_t e;
    char out[256];
    cr_assert_eq(ap_in_site_url("https://Acme.atlassian.net/", "", out, sizeof out, "/site_url", &e), 0);
    cr_assert_str_eq(out, "https://acme.atlassian.net");
    static const char *bad[] = {
        "http://acme.atlassian.net", "https://evil.com", "https://127.0.0.1", "https://u:p@acme.atlassian.net",
        "https://acme.atlassian.net/wiki", "https://acme.atlassian.net:8443", "https://a.b.atlassian.net",
        "https://atlassian.net", "ftp://acme.atlassian.net", "https://acme.atlassian.net?x=1",
        "https://acme.atlassian.net.evil.com", "https://-x.atlassian.net", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(ap_in_site_url(bad[i], "", out, sizeof out, "/site_url", &e), -1, "accepted %s", bad[i]);
        cr_expect_str_eq(e.field, "/site_url");
    }
    /* The allowlist admits the sandbox, with http and a port. */
    cr_assert_eq(ap_in_site_url("http://127.0.0.1:8090", "sandbox:1, 127.0.0.1:8090", out, sizeof out, "/s", &e), 0);
    cr_assert_str_eq(out, "http://127.0.0.1:8090");
    cr_assert_eq(ap_in_site_url("http://127.0.0.1:8091", "127.0.0.1:8090", out, sizeof out, "/s", &e), -1);
}

/* A webhook's URL is read by common/url like a site URL (so no host
 * spelled in a way curl rewrites gets past), then the SSRF guard. */
Test(input, webhook_url_rules)
{
    ap_in_err_t e;
    int guarded = -1;
    static const char *const good[] = {"https://hooks.example.com/jsmcp?team=ops", "https://8.8.8.8:8443/x",
                                       "https://[2606:4700::1111]/h", "https://Hooks.Example.COM",
                                       "https://hooks.example.com./x", "https://a-b.c_d.example.com/",
                                       "https://1password.com/h", "https://hooks.example.io/"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        guarded = -1;
        cr_expect_eq(ap_in_webhook_url(good[i], "", &guarded, "/url", &e), 0, "%s: %s", good[i], e.detail);
        cr_expect_eq(guarded, 1, "%s", good[i]);
    }
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"http://hooks.example.com/", "must use https"},
        {"ftp://hooks.example.com/", "must start with https://"},
        {"https://user:pw@hooks.example.com/", "credentials"},
        {"https://hooks.example.com/#frag", "fragment"},
        {"https://hooks.example.com/a b", "spaces"},
        {"https://hooks.example.com:0/", "not a valid URL"},
        {"https://hooks.example.com:99999/", "not a valid URL"},
        {"https://0x7f000001/", "plainly"},
        {"https://2130706433/", "plainly"},
        {"https://0177.0.0.1/", "plainly"},
        {"https://hooks%2eexample.com/", "plainly"},
        {"https://127.0.0.1/hook", "not public"},
        {"https://[::ffff:127.0.0.1]/", "not public"},
        {"https://[fe80::1]/", "not public"},
        {"https://169.254.169.254/latest/meta-data/", "not public"},
        {"https://LOCALHOST./x", "local name"},
        {"https://printer.local/", "local name"},
        {"https://intranet/", "local name"},
        /* Names no receiver has, and numbers a resolver reads as an address. */
        {"https://127.0.0.1./", "digits only"},
        {"https://8.8.8.8./", "digits only"},
        {"https://hooks.123/", "digits only"},
        {"https://a..b/", "empty label"},
        {"https://.example.com/", "empty label"},
        {"https://example.com../", "empty label"},
        {"https://-a.com/", "starts or ends with '-'"},
        {"https://a-.example.com/", "starts or ends with '-'"},
        {"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com/", "longer than 63"},
        {"", "at most 2048"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(ap_in_webhook_url(bad[i].url, "", &guarded, "/url", &e), -1, "accepted %s", bad[i].url);
        cr_expect_str_eq(e.field, "/url");
        cr_expect(strstr(e.detail, bad[i].why), "%s: '%s' does not say '%s'", bad[i].url, e.detail, bad[i].why);
    }
    /* Listed (as JSMCP_SITE_ALLOWLIST is read: spaces, tabs, case): any
     * address, http too, and unguarded. A port is part of the entry. */
    cr_assert_eq(ap_in_webhook_url("http://127.0.0.1:8090/hook", "x:1,\t127.0.0.1:8090 ", &guarded, "/url", &e), 0,
                 "%s", e.detail);
    cr_assert_eq(guarded, 0);
    cr_assert_eq(ap_in_webhook_url("http://RX.test/h", "rx.test", &guarded, "/url", &e), 0, "%s", e.detail);
    cr_assert_eq(guarded, 0);
    cr_assert_eq(ap_in_webhook_url("http://127.0.0.1:8091/hook", "127.0.0.1:8090", &guarded, "/url", &e), -1);
}

Test(input, expires_rules)
{
    ap_in_err_t e;
    int64_t ms, now = clock_now_ms();
    cr_assert_eq(ap_in_expires(NULL, now, AP_MIN_LIFETIME_MS, &ms, &e), 0);
    cr_assert_eq(ms, -1);
    json_t *v = json_null();
    cr_assert_eq(ap_in_expires(v, now, AP_MIN_LIFETIME_MS, &ms, &e), 0);
    cr_assert_eq(ms, -1);
    json_decref(v);
    char iso[40];
    clock_format_iso(now + 30000, 0, iso, sizeof iso);
    v = json_string(iso);
    cr_assert_eq(ap_in_expires(v, now, AP_MIN_LIFETIME_MS, &ms, &e), -1, "30 s ahead must be refused");
    json_decref(v);
    clock_format_iso(now + 3600000, 1, iso, sizeof iso);
    v = json_string(iso);
    cr_assert_eq(ap_in_expires(v, now, AP_MIN_LIFETIME_MS, &ms, &e), 0);
    cr_assert_eq(ms % 1000, 0, "truncated to whole seconds");
    json_decref(v);
    v = json_string("tomorrow");
    cr_assert_eq(ap_in_expires(v, now, AP_MIN_LIFETIME_MS, &ms, &e), -1);
    cr_assert_str_eq(e.field, "/expires_at");
    json_decref(v);
    v = json_integer(5);
    cr_assert_eq(ap_in_expires(v, now, AP_MIN_LIFETIME_MS, &ms, &e), -1);
    json_decref(v);
}

Test(input, server_config_rules)
{
    ap_in_err_t e;
    json_t *out;
    json_t *ok = J("{\"methods\":[\"read\",\"create\"],\"tags\":[\"itsm\"],\"projects\":[\"ITSM\"],\"tool_exposure\":\"discovery\"}");
    cr_assert_eq(ap_in_server_config(ok, &out, &e), 0, "%s", e.detail);
    cr_assert(json_equal(ok, out));
    json_decref(out);
    json_decref(ok);
    static const struct { const char *cfg, *field; } bad[] = {
        {"[]", "/config"},
        {"{\"methods\":[]}", "/config/methods"},
        {"{\"methods\":\"read\"}", "/config/methods"},
        {"{\"methods\":[\"read\",\"read\"]}", "/config/methods/1"},
        {"{\"methods\":[\"Read\"]}", "/config/methods/0"},
        {"{\"methods\":[1]}", "/config/methods/0"},
        {"{\"tags\":[\"a b\"]}", "/config/tags/0"},
        {"{\"projects\":[\"itsm\"]}", "/config/projects/0"},
        {"{\"tool_exposure\":\"some\"}", "/config/tool_exposure"},
        {"{\"colour\":1}", "/config/colour"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *c = J(bad[i].cfg);
        cr_expect_eq(ap_in_server_config(c, &out, &e), -1, "accepted %s", bad[i].cfg);
        cr_expect_str_eq(e.field, bad[i].field, "for %s", bad[i].cfg);
        json_decref(c);
    }
}

Test(input, auth_rules)
{
    ap_in_err_t e;
    json_t *out;
    const char *type;
    json_t *a = J("{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\"}");
    cr_assert_eq(ap_in_auth(a, &out, &type, &e), 0);
    cr_assert_str_eq(type, "api_token");
    cr_assert_str_eq(json_string_value(json_object_get(out, "api_token")), "t");
    json_decref(out);
    json_decref(a);
    static const struct { const char *auth, *field; } bad[] = {
        {"\"x\"", "/auth"},
        {"{\"type\":\"basic\"}", "/auth/type"},
        {"{\"type\":\"api_token\",\"email\":\"nobody\",\"api_token\":\"t\"}", "/auth/email"},
        {"{\"type\":\"api_token\",\"email\":\"a@b.c\"}", "/auth/api_token"},
        {"{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"\"}", "/auth/api_token"},
        {"{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\",\"x\":1}", "/auth/x"},
        {"{\"type\":\"oauth2\",\"access_token\":\"a\"}", "/auth/refresh_token"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *v = J(bad[i].auth);
        cr_expect_eq(ap_in_auth(v, &out, &type, &e), -1, "accepted %s", bad[i].auth);
        cr_expect_str_eq(e.field, bad[i].field, "for %s", bad[i].auth);
        json_decref(v);
    }
}

Test(input, cursor_round_trip_and_forgeries)
{
    char cur[256], ts[64], id[40];
    ap_cursor_encode("2026-11-24 10:00:00.123456+00", "0b6f9f0e-9a49-4c39-8f39-3e1c7d2f9a10", cur, sizeof cur);
    cr_assert_eq(ap_cursor_decode(cur, ts, sizeof ts, id, sizeof id), 0);
    cr_assert_str_eq(ts, "2026-11-24 10:00:00.123456+00");
    cr_assert_str_eq(id, "0b6f9f0e-9a49-4c39-8f39-3e1c7d2f9a10");
    cr_assert_eq(ap_cursor_decode("garbage!", ts, sizeof ts, id, sizeof id), -1);
    char forged[256];
    ap_cursor_encode("2026'; DROP TABLE x; --", "0b6f9f0e-9a49-4c39-8f39-3e1c7d2f9a10", forged, sizeof forged);
    cr_assert_eq(ap_cursor_decode(forged, ts, sizeof ts, id, sizeof id), -1);
    /* Parts that pass a look at their characters but that PostgreSQL cannot
     * cast ($n::timestamptz, $n::uuid): a 400, never a query error. */
    static const struct { const char *ts, *id; } bad[] = {
        {"1", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"99999999-99-99 99:99:99", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f665-"},
        {"2026-01-01 00:00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f66521"},
        {"2026-01-01 00:00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f665"},
        {"2026-01-01 00:00:00+00", "6b1642b0432b7-4ec8-b410-7437534f6652"},
        {"0000-01-01 00:00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00+16", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-02-30 00:00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 24:00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00.+00", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00+00", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00+0", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00+00:0", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"2026-01-01 00:00:00+00 ", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
        {"9999-12-31 23:59:59-01", "6b1642b0-32b7-4ec8-b410-7437534f6652"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ap_cursor_encode(bad[i].ts, bad[i].id, forged, sizeof forged);
        cr_expect_eq(ap_cursor_decode(forged, ts, sizeof ts, id, sizeof id), -1, "accepted '%s|%s'", bad[i].ts,
                     bad[i].id);
    }
    /* What PostgreSQL prints for created_at::text in any TimeZone. */
    static const char *const good[] = {"2026-11-24 10:00:00+00", "2026-11-24 10:00:00.5-03",
                                       "2026-11-24 10:00:00.123456+05:30", "2026-11-24 10:00:00.000001-09:30"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ap_cursor_encode(good[i], "0b6f9f0e-9a49-4c39-8f39-3e1c7d2f9a10", cur, sizeof cur);
        cr_expect_eq(ap_cursor_decode(cur, ts, sizeof ts, id, sizeof id), 0, "refused '%s'", good[i]);
        cr_expect_str_eq(ts, good[i]);
    }
}

/* Credentials reach an HTTP header: no control character (C0, DEL, C1,
 * U+2028, U+2029) and no invisible format character; other text, ASCII
 * or not, is taken. */
Test(input, header_safe_characters)
{
    static const char *const bad[] = {
        "a\rb", "a\nb", "a\tb", "a\x7f", "\x01",
        "a\xc2\x80",     /* U+0080 */
        "a\xc2\x85" "b", /* U+0085 NEL */
        "\xc2\x9b" "2J", /* U+009B CSI */
        "\xc2\x9f",      /* U+009F */
        "a\xe2\x80\xa8", /* U+2028 LINE SEPARATOR */
        "a\xe2\x80\xa9", /* U+2029 PARAGRAPH SEPARATOR */
        "a\xe2\x80\x8b", /* U+200B ZERO WIDTH SPACE */
        "a\xe2\x80\x8f", /* U+200F RIGHT-TO-LEFT MARK */
        "a\xe2\x80\xae", /* U+202E RIGHT-TO-LEFT OVERRIDE */
        "a\xe2\x81\xa0", /* U+2060 WORD JOINER */
        "a\xe2\x81\xa9", /* U+2069 POP DIRECTIONAL ISOLATE */
        "\xef\xbb\xbf" "a", /* U+FEFF BOM */
        "a\xc2\xad",     /* U+00AD SOFT HYPHEN */
        "a\xd8\x9c",     /* U+061C ARABIC LETTER MARK */
        "a\xef\xbf\xb9", /* U+FFF9 INTERLINEAR ANNOTATION ANCHOR */
        "a\xf3\xa0\x80\x81", /* U+E0001 LANGUAGE TAG */
        "a\xff",          /* not UTF-8 */
        "a\xc2",          /* cut short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_not(ap_in_header_safe(bad[i]), "accepted bad[%zu]", i);
    static const char *const good[] = {
        "ATATT3xFfGF0-secret_+/=.~", "a b", "t\xc3\xa9st",  /* U+00E9 */
        "\xc2\xa0",                                          /* U+00A0 NO-BREAK SPACE: printable */
        "\xe3\x83\x91\xe3\x82\xb9",                        /* katakana */
        "\xe2\x80\x90",                                     /* U+2010 HYPHEN */
        "\xf0\x9f\x94\x91",                                 /* U+1F511 */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_expect(ap_in_header_safe(good[i]), "refused good[%zu] '%s'", i, good[i]);
}

/* Query parameters reach PostgreSQL as text and C as a string: UTF-8
 * without NUL, by jansson's rules (no overlong forms, no surrogates). */
Test(input, utf8_text)
{
    cr_assert(ap_in_utf8_text("caf\xc3\xa9 \xf0\x9f\x94\x91", 10));
    cr_assert(ap_in_utf8_text("", 0));
    cr_assert_not(ap_in_utf8_text("a\0b", 3), "NUL");
    cr_assert_not(ap_in_utf8_text("\xff", 1));
    cr_assert_not(ap_in_utf8_text("\xff\xfe", 2));
    cr_assert_not(ap_in_utf8_text("\xc0\xaf", 2), "overlong '/'");
    cr_assert_not(ap_in_utf8_text("\xed\xa0\x80", 3), "a UTF-16 surrogate");
    cr_assert_not(ap_in_utf8_text("a\xc3", 2), "cut short");
    cr_assert_not(ap_in_utf8_text("\xc3\xa9", 1), "cut short by n");
}

Test(input, tenant_ids)
{
    cr_assert(ap_in_tenant_id("cust-42.eu:acme@x_1"));
    cr_assert(!ap_in_tenant_id(""));
    cr_assert(!ap_in_tenant_id("a b"));
    cr_assert(!ap_in_tenant_id("a/b"));
}
