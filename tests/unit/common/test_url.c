/* url (common/url.h): the one site rule of the API and the worker, the
 * http(s) reader under it, and the one percent encoder and decoder, against
 * hostile input and against libcurl's own escape/unescape. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "url.h"

static int site(const char *url, const char *list, char *out)
{
    const char *why = NULL;
    int rc = url_site(url, list, out, URL_SITE_MAX, &why);
    if (rc != 0)
        cr_assert(why && *why, "a refusal says why: %s", url);
    return rc;
}

Test(url, site_rule_accepts_and_normalises)
{
    char out[URL_SITE_MAX];
    static const char *const ok[][2] = {
        {"https://acme.atlassian.net", "https://acme.atlassian.net"},
        {"https://acme.atlassian.net/", "https://acme.atlassian.net"},
        {"https://Acme.ATLASSIAN.Net/", "https://acme.atlassian.net"},
        {"https://a.atlassian.net", "https://a.atlassian.net"},
        {"https://my-site-01.atlassian.net", "https://my-site-01.atlassian.net"},
        {"https://xn--bcher-kva.atlassian.net", "https://xn--bcher-kva.atlassian.net"},
        {"https://123.atlassian.net", "https://123.atlassian.net"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cr_expect_eq(site(ok[i][0], "", out), 0, "refused %s", ok[i][0]);
        cr_expect_str_eq(out, ok[i][1]);
    }
    char label[128];
    memset(label, 'a', 63);
    snprintf(label + 63, sizeof label - 63, ".atlassian.net");
    char url[200];
    snprintf(url, sizeof url, "https://%s", label);
    cr_assert_eq(site(url, NULL, out), 0, "a 63-character label is a DNS label");
    cr_assert_str_eq(out, url);
}

Test(url, site_rule_refuses_hostile_input)
{
    char out[URL_SITE_MAX];
    static const char *const bad[] = {
        /* not a site */
        "", "https://evil.com", "https://atlassian.net", "https://.atlassian.net", "https://evil.com/.atlassian.net",
        "https://acme.atlassian.net.evil.com", "https://acmeatlassian.net", "https://acme.atlassian.network",
        /* more than one label, or not a label */
        "https://a.b.atlassian.net", "https://a..atlassian.net", "https://-x.atlassian.net", "https://x-.atlassian.net",
        "https://a_b.atlassian.net", "https://a*b.atlassian.net", "https://a!b.atlassian.net",
        /* scheme */
        "http://acme.atlassian.net", "HTTPS://acme.atlassian.net", "Https://acme.atlassian.net",
        "ftp://acme.atlassian.net", "https:/acme.atlassian.net", "https:acme.atlassian.net", "//acme.atlassian.net",
        "acme.atlassian.net", "https:///acme.atlassian.net", "javascript:alert(1)//acme.atlassian.net",
        /* userinfo */
        "https://u:p@acme.atlassian.net", "https://u@acme.atlassian.net", "https://@acme.atlassian.net",
        "https://acme.atlassian.net@evil.com", "https://acme.atlassian.net:443@evil.com",
        "https://evil.com#@acme.atlassian.net", "https://;x@acme.atlassian.net",
        /* ports */
        "https://acme.atlassian.net:443", "https://acme.atlassian.net:8443", "https://acme.atlassian.net:0443",
        "https://acme.atlassian.net:", "https://acme.atlassian.net:99999", "https://acme.atlassian.net:0",
        "https://acme.atlassian.net:-1", "https://acme.atlassian.net:443:443",
        /* IP literals */
        "https://127.0.0.1", "https://[::1]", "https://[::ffff:127.0.0.1]", "https://[fe80::1%25eth0]",
        "http://169.254.169.254", "https://2130706433", "https://0x7f.1", "https://[::1].atlassian.net",
        /* percent-encoding in the host */
        "https://acme%2eatlassian.net", "https://acme%2Eatlassian.net", "https://acme.atlassian%2enet",
        "https://%61cme.atlassian.net", "https://acme.atlassian.net%2f", "https://acme.atlassian.net%00",
        /* trailing dots */
        "https://acme.atlassian.net.", "https://acme.atlassian.net./", "https://acme.atlassian.net..",
        /* path, query, fragment */
        "https://acme.atlassian.net/wiki", "https://acme.atlassian.net//", "https://acme.atlassian.net/.",
        "https://acme.atlassian.net?", "https://acme.atlassian.net?x=1", "https://acme.atlassian.net#",
        "https://acme.atlassian.net#x", "https://acme.atlassian.net/?", "https://acme.atlassian.net;x",
        /* unicode and IDN: only the xn-- form */
        "https://b\xc3\xbc" "cher.atlassian.net", "https://acme\xef\xbc\x8e" "atlassian.net",
        "https://acme.atlassian.net\xe3\x80\x82", "https://acme.atlassian\xe2\x80\x8b.net",
        "https://\xd0\xb0" "cme.atlassian.net", "https://acme.atlassian.net\xff",
        /* backslashes */
        "https://acme.atlassian.net\\", "https:\\\\acme.atlassian.net", "https://evil.com\\.atlassian.net",
        "https://evil.com\\@acme.atlassian.net", "https://acme.atlassian.net\\@evil.com",
        /* whitespace and control characters: refused, never trimmed */
        " https://acme.atlassian.net", "https://acme.atlassian.net ", "https://acme.atlassian.net\n",
        "https://acme.atlassian.net\r\n", "\thttps://acme.atlassian.net", "https://acme .atlassian.net",
        "https://acme.atlassian.net\x7f", "https://acme.atlassian.net\x01", "https://acme.atlassian.net\v",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(site(bad[i], "", out), -1, "accepted #%zu %s", i, bad[i]);
    cr_expect_eq(url_site(NULL, "", out, sizeof out, &(const char *){NULL}), -1);
    /* A 64-character label, and a host over 253 characters. */
    char url[4096];
    memset(url, 'a', sizeof url);
    memcpy(url, "https://", 8);
    snprintf(url + 8 + 64, 40, ".atlassian.net");
    cr_expect_eq(site(url, "", out), -1, "64-character label");
    memset(url, 'a', sizeof url);
    memcpy(url, "https://", 8);
    for (size_t i = 8 + 60; i < 8 + 250; i += 61)
        url[i] = '.';
    snprintf(url + 8 + 250, 40, ".atlassian.net");
    cr_expect_eq(site(url, "", out), -1, "host longer than 253");
    /* Very long input: over URL_MAX, and just under it with a long path. */
    memset(url, 'a', sizeof url);
    memcpy(url, "https://acme.atlassian.net/", 27);
    url[sizeof url - 1] = 0;
    cr_expect_eq(site(url, "", out), -1, "4 KB URL");
    url[URL_MAX] = 0;
    cr_expect_eq(site(url, "", out), -1, "2 KB path");
}

Test(url, allowlist)
{
    char out[URL_SITE_MAX];
    const char *list = " sandbox:1 ,\t127.0.0.1:8090\t, [::1]:8091,Upper.Example:9";
    cr_assert_eq(site("http://127.0.0.1:8090", list, out), 0);
    cr_assert_str_eq(out, "http://127.0.0.1:8090");
    cr_assert_eq(site("https://127.0.0.1:8090/", list, out), 0);
    cr_assert_str_eq(out, "https://127.0.0.1:8090");
    cr_assert_eq(site("http://sandbox:1", list, out), 0);
    cr_assert_eq(site("http://[::1]:8091", list, out), 0);
    cr_assert_str_eq(out, "http://[::1]:8091");
    cr_assert_eq(site("http://upper.example:9", list, out), 0, "case-insensitive");
    cr_assert_eq(site("http://UPPER.example:9", list, out), 0);
    cr_assert_str_eq(out, "http://upper.example:9");
    static const char *const bad[] = {
        "http://127.0.0.1:8091", "http://127.0.0.1", "http://127.0.0.1:8090/x", "http://127.0.0.1:8090?x",
        "http://u:p@127.0.0.1:8090", "http://127.0.0.1:08090", "http://0x7f.1:8090", "http://2130706433:8090",
        "http://127.1:8090", "http://127.0.0.1.:8090", "http://127%2e0.0.1:8090", "http://[::1]:8090",
        "http://[0:0::1]:8091", "http://[::1%25lo]:8091", "http://sandbox:1.", "http://sandbox", "http://:8090",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(site(bad[i], list, out), -1, "accepted %s", bad[i]);
    /* Only spaces and tabs are trimmed from entries; an empty entry names nothing. */
    cr_expect_eq(site("http://127.0.0.1:8090", "127.0.0.1:8090\r\n", out), -1);
    cr_expect_eq(site("http://127.0.0.1:8090", "127.0.0.1:8090\n,x", out), -1);
    cr_expect_eq(site("http://127.0.0.1:8090", ",,", out), -1);
    cr_expect_eq(url_host_listed("", 0, ",,"), 0);
    cr_expect_eq(url_host_listed("a:1", 3, "a:12"), 0);
    cr_expect_eq(url_host_listed("a:12", 4, "a:1"), 0);
    /* The .atlassian.net rule still applies with a list. */
    cr_expect_eq(site("https://acme.atlassian.net", list, out), 0);
    cr_expect_eq(site("https://a.b.atlassian.net", list, out), -1);
    /* out too small: refused, not cut. */
    char small[16];
    const char *why;
    cr_expect_eq(url_site("https://acme.atlassian.net", "", small, sizeof small, &why), -1);
}

Test(url, parse_http_parts)
{
    url_http_t u;
    const char *why;
    cr_assert_eq(url_parse_http("https://Hooks.Example.com:8443/a/b?c=d#e", &u, &why), 0);
    cr_assert(u.https);
    cr_assert_str_eq(u.host, "hooks.example.com");
    cr_assert_eq(u.port, 8443);
    cr_assert_eq(u.authority_len, strlen("Hooks.Example.com:8443"));
    cr_assert_str_eq(u.rest, "/a/b?c=d#e");
    cr_assert_eq(url_parse_http("http://[2001:DB8::1]", &u, &why), 0);
    cr_assert_not(u.https);
    cr_assert_str_eq(u.host, "[2001:db8::1]");
    cr_assert_eq(u.port, 0);
    cr_assert_str_eq(u.rest, "");
    cr_assert_eq(url_parse_http("http://h?x", &u, &why), 0);
    cr_assert_str_eq(u.rest, "?x");
    cr_assert_eq(url_parse_http("https://u@h/", &u, &why), -1);
    cr_assert(strstr(why, "credentials"), "%s", why);
    cr_assert_eq(url_parse_http("https://h\\/", &u, &why), -1);
    cr_assert(strstr(why, "backslash"), "%s", why);
    cr_assert_eq(url_parse_http("https://h%2e/", &u, &why), -1);
    cr_assert(strstr(why, "plainly"), "%s", why);
    cr_assert_eq(url_parse_http("wss://h/", &u, &why), -1);
}

Test(url, encode_matches_curl)
{
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    buf_t b;
    buf_init(&b, 4096);
    cr_assert_eq(url_encode(&b, all, sizeof all), 0);
    char *c = curl_easy_escape(NULL, all, (int)sizeof all);
    cr_assert_str_eq(b.data, c, "every byte encoded as curl_easy_escape does");
    curl_free(c);
    buf_reset(&b);
    cr_assert_eq(url_encode(&b, "a b/c~d.e_f-g%h+i", 17), 0);
    cr_assert_str_eq(b.data, "a%20b%2Fc~d.e_f-g%25h%2Bi");
    buf_reset(&b);
    cr_assert_eq(url_encode(&b, "", 0), 0);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
    /* Too long: the buffer's sticky error, no partial escape. */
    buf_init(&b, 5);
    cr_assert_eq(url_encode(&b, "abc\xff", 4), BUF_ETOOBIG);
    cr_assert_null(buf_steal(&b, NULL));
}

Test(url, decode)
{
    char out[16];
    cr_assert_eq(url_decode("a%2Fb+c", 7, out, sizeof out, URL_DECODE_PLUS), 5);
    cr_assert_str_eq(out, "a/b c");
    cr_assert_eq(url_decode("a%2fb+c", 7, out, sizeof out, 0), 5);
    cr_assert_str_eq(out, "a/b+c");
    cr_assert_eq(url_decode("", 0, out, sizeof out, 0), 0);
    cr_assert_str_eq(out, "");
    static const char *const bad[] = {"%zz", "%2", "%", "a%", "%%41", "%g1", "%1g", "% 1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(url_decode(bad[i], strlen(bad[i]), out, sizeof out, 0), -1, "%s", bad[i]);
    cr_assert_eq(url_decode("0123456789abcdefgh", 18, out, sizeof out, 0), -1, "does not fit");
    cr_assert_eq(url_decode("0123456789abcde", 15, out, sizeof out, 0), 15, "fits with its NUL");
    cr_assert_eq(url_decode("ab", 2, out, 0, 0), -1);
    /* n counts, not the NUL: only the first 3 bytes are read. */
    cr_assert_eq(url_decode("%41%42", 3, out, sizeof out, 0), 1);
    cr_assert_str_eq(out, "A");
    /* NUL: a byte like any other, unless the caller needs a C string. */
    cr_assert_eq(url_decode("a%00b", 5, out, sizeof out, 0), 3);
    cr_assert_eq(memcmp(out, "a\0b", 4), 0);
    cr_assert_eq(url_decode("a%00b", 5, out, sizeof out, URL_DECODE_NO_NUL), -1);
    cr_assert_eq(url_decode("a\0b", 3, out, sizeof out, URL_DECODE_NO_NUL), -1);
}

Test(url, decode_inverts_encode_and_matches_curl)
{
    char all[256], dec[1024];
    for (int i = 0; i < 256; i++)
        all[i] = (char)(255 - i);
    buf_t b;
    buf_init(&b, 4096);
    cr_assert_eq(url_encode(&b, all, sizeof all), 0);
    cr_assert_eq(url_decode(b.data, b.len, dec, sizeof dec, 0), 256);
    cr_assert_eq(memcmp(dec, all, 256), 0);
    int cl = 0;
    char *c = curl_easy_unescape(NULL, b.data, (int)b.len, &cl);
    cr_assert_eq(cl, 256);
    cr_assert_eq(memcmp(c, all, 256), 0);
    curl_free(c);
    buf_free(&b);
}
