/* libFuzzer target: common/url.c, the site rule of the API and the worker,
 * the http(s) reader under it, and the percent encoder and decoder.
 * The input is used whole, as a URL (with and without an allowlist) and as
 * bytes to encode and decode. It aborts where an accepted URL breaks the
 * rule's promises (url.h) or where our encoder and decoder disagree with
 * libcurl's. Build and run: make fuzz (FUZZ_FILTER=url). */
#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "url.h"

#define CHECK(c)      \
    do {              \
        if (!(c))     \
            abort();  \
    } while (0)

static const char *const LIST = "127.0.0.1:8090, sandbox:8090,[::1]:9";

/* What url_site() promises of a site it accepted (url.h). */
static void site_accepted(const char *out, const char *list)
{
    size_t n = strlen(out);
    int https = strncmp(out, "https://", 8) == 0;
    CHECK(https || strncmp(out, "http://", 7) == 0);
    CHECK(n < URL_SITE_MAX && out[n - 1] != '/');
    for (const char *c = out; *c; c++)
        CHECK(*c > ' ' && *c < 0x7f && !(*c >= 'A' && *c <= 'Z') && !strchr("@%\\?#", *c));
    const char *host = out + (https ? 8 : 7);
    CHECK(!strchr(host, '/'));
    if (!url_host_listed(host, strlen(host), list)) {
        /* https://<one DNS label>.atlassian.net and nothing else */
        static const char suffix[] = ".atlassian.net";
        size_t hl = strlen(host), sl = sizeof suffix - 1;
        CHECK(https && hl > sl && strcmp(host + hl - sl, suffix) == 0);
        CHECK(strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789-") == hl - sl);
        CHECK(hl - sl <= 63 && host[0] != '-' && host[hl - sl - 1] != '-');
    }
    /* Normalised once is normalised: the output passes again unchanged. */
    char again[URL_SITE_MAX];
    const char *why;
    CHECK(url_site(out, list, again, sizeof again, &why) == 0 && strcmp(out, again) == 0);
    /* And curl, which fetches it, reads the same host. */
    CURLU *h = curl_url();
    char *ch = NULL;
    CHECK(h && curl_url_set(h, CURLUPART_URL, out, 0) == CURLUE_OK &&
          curl_url_get(h, CURLUPART_HOST, &ch, 0) == CURLUE_OK);
    CHECK(strncmp(host, ch, strlen(ch)) == 0);
    curl_free(ch);
    curl_url_cleanup(h);
}

/* s[0..n) with a NUL after it: curl's escape and unescape read a length
 * of 0 as strlen(). */
static void codec(const char *s, size_t n)
{
    /* Encode, then decode: the same bytes, and curl_easy_escape's text. */
    buf_t b;
    buf_init(&b, 3 * n + 1);
    CHECK(url_encode(&b, s, n) == 0);
    char *enc = buf_steal(&b, NULL);
    CHECK(enc);
    if (n) {
        char *c = curl_easy_escape(NULL, s, (int)n);
        CHECK(c && strcmp(c, enc) == 0);
        curl_free(c);
    }
    char *dec = malloc(n + 1);
    CHECK(url_decode(enc, strlen(enc), dec, n + 1, 0) == (int)n && memcmp(dec, s, n) == 0);
    free(enc);
    /* Decoding the input itself: where ours accepts, curl agrees. */
    int dl = url_decode(s, n, dec, n + 1, 0);
    if (dl >= 0 && n) {
        int cl = 0;
        char *u = curl_easy_unescape(NULL, s, (int)n, &cl);
        CHECK(u && cl == dl && memcmp(u, dec, (size_t)dl) == 0);
        curl_free(u);
        CHECK(url_decode(s, n, dec, n + 1, URL_DECODE_PLUS) == dl);
        url_decode(s, n, dec, n + 1, 0);
        if (memchr(dec, 0, (size_t)dl))
            CHECK(url_decode(s, n, dec, n + 1, URL_DECODE_NO_NUL) == -1);
    }
    free(dec);
    /* A buffer too small for the encoding ends in error, never cut. */
    if (n) {
        buf_init(&b, n - 1);
        url_encode(&b, s, n);
        buf_append_str(&b, "tail");
        char *cut = buf_steal(&b, NULL);
        CHECK(cut == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * URL_MAX)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    char out[URL_SITE_MAX];
    const char *why = NULL;
    if (url_site(s, "", out, sizeof out, &why) == 0)
        site_accepted(out, "");
    else
        CHECK(why && *why);
    if (url_site(s, LIST, out, sizeof out, &why) == 0)
        site_accepted(out, LIST);
    url_http_t u;
    if (url_parse_http(s, &u, &why) == 0) {
        CHECK(u.host[0] && u.authority_len && u.port >= 0 && u.port <= 65535);
        for (const char *c = u.host; *c; c++)
            CHECK(!(*c >= 'A' && *c <= 'Z'));
        CHECK(u.rest == u.authority + u.authority_len && (!*u.rest || strchr("/?#", *u.rest)));
    }
    codec(s, size);
    free(s);
    return 0;
}
