/* common/jsontext's own parser and serializer against the jansson library: a
 * table of edge cases, a seeded random differential test (random trees,
 * their texts in several jansson layouts, byte mutations of those texts)
 * and the serializer's corner cases (cycles, invalid UTF-8, limits).
 * The comparison itself is jsontext_diff.h (shared with fuzz/fuzz_json.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "jsontext_diff.h"

typedef struct {
    const char *text;
    size_t len;    /* 0: strlen(text) */
    int max_depth; /* 0: the default (32) */
    int ok;        /* what we expect jsontext_parse to say (jansson must agree) */
} jsontext_case_t;

#define OK(s) {s, 0, 0, 1}
#define BAD(s) {s, 0, 0, 0}

static const jsontext_case_t cases[] = {
    /* top-level scalars and whitespace */
    OK("{}"), OK("[]"), OK("\"\""), OK("0"), OK("-0"), OK("1"), OK("-1"), OK("true"),
    OK("false"), OK("null"), OK(" \t\n\r1 \t\n\r"), OK("\n{ \"a\" :\t[ 1 ,\r2 ] }\n"),
    BAD(" "), BAD("\f1"), BAD("\v1"), BAD("\xc2\xa0" "1"), BAD("\xef\xbb\xbf{}"),
    /* literals */
    BAD("tru"), BAD("truex"), BAD("True"), BAD("nul"), BAD("nulll"), BAD("[true1]"),
    BAD("NaN"), BAD("Infinity"), BAD("-Infinity"), BAD("undefined"),
    /* escapes */
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), OK("\"\\u0041\\u00e9\\u20AC\\uFFFF\\u0001\\u001f\""),
    OK("\"\\uD83D\\uDE00\""), OK("\"\\ud800\\udc00\""), OK("\"\\uDBFF\\uDFFF\""),
    OK("\"a/b\\/c\""), BAD("\"\\x\""), BAD("\"\\a\""), BAD("\"\\'\""), BAD("\"\\U0041\""),
    BAD("\"\\u12\""), BAD("\"\\u12G4\""), BAD("\"\\u\""), BAD("\"\\"), BAD("\"\\u0000\""),
    BAD("\"a\\u0000b\""), BAD("{\"a\\u0000\":1}"), BAD("\"\\uD800\""), BAD("\"\\uDC00\""),
    BAD("\"\\uDFFF\\uD800\""), BAD("\"\\uD800\\u0041\""), BAD("\"\\uD800\\n\""),
    BAD("\"\\uDBFF\\uD800\""), BAD("\"\\uD800\\uDBFF\""), BAD("\"\\uD800x\""),
    BAD("\"\\uD800\\u12\""),
    /* raw characters in strings */
    OK("\"\x7f\""), OK("\"\xc3\xa9\""), OK("\"\xe2\x82\xac\""), OK("\"\xf0\x9f\x98\x80\""),
    OK("\"\xf4\x8f\xbf\xbf\""), OK("\"\xef\xbf\xbf\""), OK("\"\xed\x9f\xbf\""),
    OK("\"\xee\x80\x80\""), OK("\"\xc2\x80\""), OK("\"\xe0\xa0\x80\""), OK("\"\xf0\x90\x80\x80\""),
    BAD("\"a\tb\""), BAD("\"a\nb\""), BAD("\"\x01\""), BAD("\"\x1f\""), BAD("\"abc"),
    BAD("\"\x80\""), BAD("\"\xbf\""), BAD("\"\xc0\x80\""), BAD("\"\xc1\xbf\""),
    BAD("\"\xe0\x80\x80\""), BAD("\"\xe0\x9f\xbf\""), BAD("\"\xed\xa0\x80\""),
    BAD("\"\xed\xbf\xbf\""), BAD("\"\xf0\x80\x80\x80\""), BAD("\"\xf0\x8f\xbf\xbf\""),
    BAD("\"\xf4\x90\x80\x80\""), BAD("\"\xf5\x80\x80\x80\""), BAD("\"\xf8\x88\x80\x80\x80\""),
    BAD("\"\xff\""), BAD("\"\xfe\""), BAD("\"\xc3\""), BAD("\"\xe2\x82\""), BAD("\"\xf0\x9f\x98\""),
    BAD("\"\xc3"), BAD("\"\xc3\xa9"), BAD("\"\xc3\x28\""), BAD("[1]\xc3\xa9"), BAD("\xc3\xa9"),
    /* integers */
    OK("9223372036854775807"), OK("-9223372036854775808"), BAD("9223372036854775808"),
    BAD("-9223372036854775809"), BAD("123456789012345678901234567890"),
    OK("[0,-0,1,10,100000,-42]"), OK("1000000000000000000"), BAD("01"), BAD("-01"), BAD("00"),
    BAD("-"), BAD("--1"), BAD("+1"), BAD("0x10"), BAD("1a"), BAD("[1a]"), BAD("- 1"),
    /* reals */
    OK("1.5"), OK("-0.0"), OK("0.0"), OK("0e0"), OK("0E+0"), OK("-0e-0"), OK("1E+2"), OK("1e-2"),
    OK("1e2"), OK("1.7976931348623157e308"), OK("1.7976931348623158e308"), OK("4.9e-324"),
    OK("2e-324"), OK("1e-400"), OK("-1e-400"), OK("2.2250738585072014e-308"),
    OK("2.2250738585072011e-308"), OK("0.1"), OK("0.30000000000000004"), OK("1e22"), OK("1e23"),
    OK("123456789012345678901234567890.0"), OK("9007199254740993.0"), OK("9007199254740993e0"),
    OK("1.00000000000000011102230246251565404236316680908203125"),
    OK("1.00000000000000011102230246251565404236316680908203124"),
    OK("0.000000000000000000000000000000000000000000000001"), OK("123.456e-7"),
    OK("999999999999999.9"), OK("1234567890123456.7"), OK("3.141592653589793238462643383279"),
    OK("1e0000000000000000000000000000001"), OK("0e99999999999999999999"),
    OK("1e-99999999999999999999"), BAD("1e99999999999999999999"), BAD("1e309"), BAD("-1e309"),
    BAD("1.8e308"), BAD("1."), BAD(".5"), BAD("1.e5"), BAD("1e"), BAD("1e+"), BAD("1e-"),
    BAD("1.5.5"), BAD("1e5e5"), BAD("1e5.5"), BAD("[1.]"), BAD("01.5"), BAD("-.5"),
    /* structure */
    OK("{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":\"x\"}"), OK("[[],{},[[]],{\"\":{}}]"),
    OK("{\"\":0}"), BAD("[1,]"), BAD("{\"a\":1,}"), BAD("[,1]"), BAD("[1 2]"), BAD("{\"a\" 1}"),
    BAD("{\"a\"}"), BAD("{\"a\":}"), BAD("{1:2}"), BAD("{'a':1}"), BAD("{a:1}"), BAD("["),
    BAD("]"), BAD("{"), BAD("}"), BAD("{\"a\":1}}"), BAD("[1]]"), BAD("[1]x"), BAD("1 2"),
    BAD("{}{}"), BAD("[1],"), BAD("{\"a\":1 \"b\":2}"), BAD("{,}"), BAD("[:]"), BAD("{\"a\",1}"),
    BAD("[\"a\":1]"), BAD("{\"a\"::1}"), BAD("/*c*/1"), BAD("1//c"),
    /* duplicates, also nested and spelled differently */
    BAD("{\"a\":1,\"a\":2}"), BAD("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}"), BAD("[{\"x\":1,\"x\":1}]"),
    BAD("{\"\\u0061\":1,\"a\":2}"), BAD("{\"\":1,\"\":1}"), BAD("{\"a\":1,\"b\":2,\"a\":3}"),
    OK("{\"a\":{\"a\":{\"a\":1}}}"), OK("[{\"a\":1},{\"a\":2}]"), OK("{\"a\":1,\"A\":2}"),
    /* NUL bytes and emptiness */
    {"[1]\0", 4, 0, 0}, {"\0", 1, 0, 0}, {"\"a\0b\"", 5, 0, 0}, {"", 0, 0, 0},
    {" \0", 2, 0, 0},
    /* the depth limit */
    {"[[1]]", 0, 2, 1}, {"[[1]]", 0, 1, 0}, {"{\"a\":{\"b\":[]}}", 0, 3, 1},
    {"{\"a\":{\"b\":[]}}", 0, 2, 0}, {"[\"[[[[\"]", 0, 1, 1}, {"1", 0, 1, 1},
    {"[[]]", 0, 1, 0},
};

static char *repeat_text(const char *open, int n, const char *mid, const char *close, size_t *len)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < n; i++)
        buf_append_str(&b, open);
    buf_append_str(&b, mid);
    for (int i = 0; i < n; i++)
        buf_append_str(&b, close);
    return buf_steal(&b, len);
}

static void check_text(const char *s, size_t n, int max_depth, int expect_ok)
{
    char err[256];
    json_t *v = jsontext_parse(s, n, max_depth, err, sizeof err);
    cr_expect_eq(v != NULL, expect_ok, "jsontext_parse(%.*s) (max_depth %d): %s", (int)(n > 60 ? 60 : n), s,
                 max_depth, v ? "accepted" : err);
    json_decref(v);
    const char *diff = jsontext_diff_parse(s, n, max_depth);
    cr_expect_null(diff, "%.*s: %s", (int)(n > 60 ? 60 : n), s, diff);
}

Test(jsontext_fast, table_against_jansson)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const jsontext_case_t *c = &cases[i];
        check_text(c->text, c->len ? c->len : strlen(c->text), c->max_depth, c->ok);
    }
}

Test(jsontext_fast, depth_at_and_over_the_limit)
{
    struct {
        const char *open, *mid, *close;
        int n, max_depth, ok;
    } d[] = {
        {"[", "", "]", 32, 0, 1},           {"[", "", "]", 33, 0, 0},
        {"[", "1", "]", 32, 32, 1},         {"[", "1", "]", 33, 32, 0},
        {"{\"k\":", "{}", "}", 31, 32, 1}, {"{\"k\":", "{}", "}", 32, 32, 0},
        {"[{\"a\":", "[]", "}]", 8, 17, 1}, {"[{\"a\":", "[]", "}]", 8, 16, 0},
        {"[", "[", "]", 2, 2, 0}, /* unbalanced and too deep: an error either way */
        /* jansson's own limit: no value inside 2048 containers */
        {"[", "", "]", 2048, 5000, 1},      {"[", "1", "]", 2047, 5000, 1},
        {"[", "1", "]", 2048, 5000, 0},     {"[", "", "]", 2049, 5000, 0},
        {"[", "\"x\"", "]", 2048, 5000, 0},
    };
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) {
        size_t n;
        char *s = repeat_text(d[i].open, d[i].n, d[i].mid, d[i].close, &n);
        check_text(s, n, d[i].max_depth, d[i].ok);
        free(s);
    }
    char err[256];
    size_t n;
    char *s = repeat_text("[", 40, "", "]", &n);
    cr_assert_null(jsontext_parse(s, n, 0, err, sizeof err));
    cr_assert_str_eq(err, "JSON nested deeper than 32 levels");
    free(s);
}

Test(jsontext_fast, error_messages)
{
    char err[256];
    cr_assert_null(jsontext_parse("{\"a\":1,\n \"b\":x}", 15, 8, err, sizeof err));
    cr_assert_str_eq(err, "invalid JSON at line 2, column 6: invalid token");
    cr_assert_null(jsontext_parse("[1]\0", 4, 8, err, sizeof err));
    cr_assert_str_eq(err, "invalid JSON: NUL byte in input");
    cr_assert_null(jsontext_parse("", 0, 8, err, sizeof err));
    cr_assert_str_eq(err, "empty body: a JSON value is required");
    cr_assert_null(jsontext_parse("{\"a\":1,\"a\":2}", 13, 8, err, sizeof err));
    cr_assert(strstr(err, "duplicate object key"), "%s", err);
    cr_assert_null(jsontext_parse("99999999999999999999", 20, 8, err, sizeof err));
    cr_assert(strstr(err, "too big integer"), "%s", err);
    cr_assert_null(jsontext_parse("1e999", 5, 8, err, sizeof err));
    cr_assert(strstr(err, "real number overflow"), "%s", err);
    cr_assert_null(jsontext_parse("[1] 2", 5, 8, err, sizeof err));
    cr_assert_str_eq(err, "invalid JSON at line 1, column 5: end of file expected");
}

/* ---------------------------------------------------- random differential */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static size_t rndn(size_t n)
{
    return (size_t)(rnd() % n);
}

static json_t *rnd_string(int as_key, buf_t *b)
{
    static const char *const pieces[] = {
        "a", "b", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "\b", "\f",
        "\r", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
        "\xed\x9f\xbf", "\xee\x80\x80", "key", "u", "\\u", "{", "}", "[", "]", ",", ":",
    };
    buf_reset(b);
    size_t n = rndn(as_key ? 4 : 10);
    for (size_t i = 0; i < n; i++)
        buf_append_str(b, pieces[rndn(sizeof pieces / sizeof *pieces)]);
    return json_stringn(b->data ? b->data : "", b->len);
}

static double rnd_real(void)
{
    static const double special[] = {0.0, -0.0, 0.1, 0.5, 1.0, -1.0, 100.0, 1e16, 1e17, 1e22, 1e23,
                                     1e-5, 1e-7, 1.5e300, -2.5e-300, 5e-324, 2.2250738585072014e-308,
                                     1.7976931348623157e308, 123456789.125, 9007199254740993.0};
    double d;
    switch (rndn(4)) {
    case 0:
        return special[rndn(sizeof special / sizeof *special)];
    case 1:
        return (double)(int64_t)(rnd() % 2000001 - 1000000) / 1000.0;
    case 2: {
        uint64_t bits = rnd();
        memcpy(&d, &bits, sizeof d);
        return isfinite(d) ? d : 1.25;
    }
    default:
        return (double)(int64_t)rndn(100000) * pow(10.0, (double)((int)rndn(40) - 20));
    }
}

static json_t *rnd_value(int depth, buf_t *b)
{
    static const json_int_t ints[] = {0, 1, -1, 10, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
                                      1000000000000000000LL, -999};
    size_t kind = depth >= 5 ? rndn(6) : rndn(8);
    switch (kind) {
    case 0: return json_null();
    case 1: return json_boolean(rndn(2));
    case 2:
        return json_integer(rndn(2) ? ints[rndn(sizeof ints / sizeof *ints)] : (json_int_t)rnd());
    case 3: return json_real(rnd_real());
    case 4:
    case 5: return rnd_string(0, b);
    case 6: {
        json_t *a = json_array();
        size_t n = rndn(5);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, rnd_value(depth + 1, b));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = rndn(5);
        for (size_t i = 0; i < n; i++) {
            json_t *k = rnd_string(1, b);
            json_object_setn_new(o, json_string_value(k), json_string_length(k), rnd_value(depth + 1, b));
            json_decref(k);
        }
        return o;
    }
    }
}

/* One random edit of s: a byte set to an interesting value, a byte
 * deleted, inserted or duplicated, or the text cut short. */
static size_t mutate(char *s, size_t n, size_t cap)
{
    static const char interesting[] = "\"\\{}[],:0-+eE.u \t\n\x80\xc3\xed\xf4\xff\x01\x00" "Dat";
    size_t at = n ? rndn(n) : 0;
    char c = rndn(4) ? interesting[rndn(sizeof interesting - 1)] : (char)rnd();
    switch (rndn(5)) {
    case 0:
        if (n)
            s[at] = c;
        return n;
    case 1:
        if (n) {
            memmove(s + at, s + at + 1, n - at - 1);
            n--;
        }
        return n;
    case 2:
    case 3:
        if (n < cap) {
            memmove(s + at + 1, s + at, n - at);
            s[at] = rndn(2) && n ? s[rndn(n)] : c;
            n++;
        }
        return n;
    default:
        return at;
    }
}

Test(jsontext_fast, random_differential)
{
    static const size_t layouts[] = {JSON_COMPACT, 0, JSON_INDENT(2), JSON_ENSURE_ASCII,
                                     JSON_ESCAPE_SLASH | JSON_COMPACT, JSON_INDENT(1) | JSON_ENSURE_ASCII};
    buf_t b;
    buf_init(&b, 1 << 16);
    size_t checked = 0;
    for (int i = 0; i < 3000; i++) {
        json_t *v = rnd_value(0, &b);
        const char *diff = jsontext_diff_dump(v);
        cr_assert_null(diff, "tree %d: %s", i, diff);
        char *text = json_dumps(v, layouts[i % (sizeof layouts / sizeof *layouts)] | JSON_ENCODE_ANY);
        cr_assert(text);
        size_t n = strlen(text);
        diff = jsontext_diff_parse(text, n, 6);
        cr_assert_null(diff, "tree %d %s: %s", i, text, diff);
        char mut[4096];
        for (int m = 0; m < 6 && n < sizeof mut - 16; m++) {
            memcpy(mut, text, n);
            size_t mn = n;
            for (int k = 0, edits = 1 + (int)rndn(3); k < edits; k++)
                mn = mutate(mut, mn, sizeof mut);
            diff = jsontext_diff_parse(mut, mn, i % 3 ? 6 : 4);
            cr_assert_null(diff, "tree %d mutation %d: %s: %.*s", i, m, diff, (int)mn, mut);
            checked++;
        }
        free(text);
        json_decref(v);
    }
    buf_free(&b);
    cr_assert_gt(checked, 10000);
}

/* The string scan (jsontext_skip_plain) steps 16 bytes, then 8, then 1 at a
 * time: each kind of byte that stops it, and two that do not, at every
 * offset across those steps, with the text's end right after the string
 * or far from it. Parsed, and dumped (also as a member name), exactly as
 * jansson does. */
Test(jsontext_fast, string_scan_stops_at_every_offset)
{
    static const struct {
        const char *raw, *escaped; /* the byte(s) raw, and as written in the JSON text */
    } stops[] = {
        {"\"", "\\\""}, {"\\", "\\\\"}, {"\n", "\\n"}, {"\x01", "\\u0001"}, {"\x1f", "\\u001f"},
        {" ", " "},     {"\x7f", "\x7f"}, {"\xc3\xa9", "\xc3\xa9"}, {"\xe2\x82\xac", "\xe2\x82\xac"},
        {"\xff", "\xff"}, {"\x80", "\x80"}, {"\x1f", "\x1f"}, {"\"", "\""},
    };
    size_t checked = 0;
    for (size_t k = 0; k < sizeof stops / sizeof *stops; k++) {
        for (int at = 0; at <= 40; at++) {
            char raw[64], text[128];
            memset(raw, 'a', (size_t)at);
            size_t rn = (size_t)at;
            rn += (size_t)snprintf(raw + rn, sizeof raw - rn, "%sbcd", stops[k].raw);
            for (int far = 0; far < 2; far++) {
                int n = snprintf(text, sizeof text, "[\"%.*s%sbcd\"%s]", at, raw, stops[k].escaped,
                                 far ? ",                         1" : "");
                const char *diff = jsontext_diff_parse(text, (size_t)n, 4);
                cr_expect_null(diff, "stop %zu at %d (far %d): %s", k, at, far, diff);
                checked++;
            }
            json_t *v = json_pack("[o,s]", json_stringn_nocheck(raw, rn), "after");
            json_t *o = json_object();
            json_object_setn_new_nocheck(o, raw, rn, json_true());
            json_object_set_new(o, "z", json_false());
            const char *diff = jsontext_diff_dump(v);
            cr_expect_null(diff, "dump of stop %zu at %d: %s", k, at, diff);
            diff = jsontext_diff_dump(o);
            cr_expect_null(diff, "member name with stop %zu at %d: %s", k, at, diff);
            json_decref(v);
            json_decref(o);
        }
    }
    cr_assert_eq(checked, 2 * 41 * sizeof stops / sizeof *stops);
}

/* Long strings dense with quotes and backslashes, with now and then a byte
 * that leaves the 16-byte fast path (a control character, UTF-8, an
 * invalid byte), crossing the serializer's 4 KB staging buffer: dumped as a
 * value they match jansson byte for byte; jsontext_dump_string (invalid bytes
 * become U+FFFD) matches jansson on valid UTF-8 and otherwise still writes
 * JSON that reads back. */
Test(jsontext_fast, long_strings_dump_like_jansson)
{
    static const char *const pieces[] = {"\"", "\\", "abcdefghijklmno", "p", "qr", "\n", "\x01",
                                         "\xc3\xa9", "\xe2\x82\xac", "\xff", "0123456789abcdefghij"};
    uint32_t seed = 12345;
    char *s = malloc(12000);
    for (int round = 0; round < 300; round++) {
        size_t n = 0, want = (size_t)(round * 37) % 11000;
        int rare = round % 3 == 0; /* a third of the strings stay on the fast path but for quotes */
        while (n < want) {
            seed = seed * 1103515245u + 12345u;
            size_t k = (seed >> 16) % (sizeof pieces / sizeof *pieces);
            if (!rare && k >= 5 && k <= 9)
                k = (k - 5) % 3;
            size_t len = strlen(pieces[k]);
            if (n + len > want)
                break;
            memcpy(s + n, pieces[k], len);
            n += len;
        }
        json_t *v = json_stringn_nocheck(s, n);
        json_t *chk = json_stringn(s, n); /* NULL: not valid UTF-8 */
        int valid = chk != NULL;
        json_decref(chk);
        const char *diff = jsontext_diff_dump(v);
        cr_expect_null(diff, "round %d (%zu bytes): %s", round, n, diff);
        buf_t b;
        buf_init(&b, 1 << 20);
        cr_assert_eq(jsontext_dump_string(&b, s, n), 0);
        if (valid) {
            char *ref = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            cr_expect_str_eq(b.data, ref, "round %d: jsontext_dump_string", round);
            free(ref);
        } else {
            json_error_t e;
            json_t *back = json_loadb(b.data, b.len, JSON_DECODE_ANY, &e);
            cr_expect_not_null(back, "round %d: jsontext_dump_string wrote invalid JSON: %s", round, e.text);
            json_decref(back);
        }
        buf_free(&b);
        json_decref(v);
    }
    free(s);
}

/* ----------------------------------------------------------- serializer */

Test(jsontext_fast, dump_reals_like_jansson)
{
    static const double reals[] = {0.0, -0.0, 1.0, -1.0, 0.1, 1e16, 1e17, 1e-4, 1e-5, 1.5e-7, 1e300,
                                   -1e-300, 5e-324, 1.7976931348623157e308, 123456789012345678.0,
                                   100.0, 0.30000000000000004, 1e100, 1e-100, 2.5, 1e21, 1e15};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        json_t *v = json_real(reals[i]);
        const char *diff = jsontext_diff_dump(v);
        cr_expect_null(diff, "%.17g: %s", reals[i], diff);
        json_decref(v);
    }
    json_t *v = json_real(1e17);
    char *s = jsontext_dump(v);
    cr_assert_str_eq(s, "1e17");
    free(s);
    json_decref(v);
}

Test(jsontext_fast, dump_strings_and_failures)
{
    json_t *v = json_stringn("a\"b\\c\n\x01\x1f\x7f/\xc3\xa9\0z", 14);
    char *s = jsontext_dump(v);
    cr_assert_str_eq(s, "\"a\\\"b\\\\c\\n\\u0001\\u001F\x7f/\xc3\xa9\\u0000z\"");
    free(s);
    cr_assert_null(jsontext_diff_dump(v));
    json_decref(v);

    /* Strings that are not UTF-8 (only the *_nocheck constructors make
     * them): json_dumps fails, so does jsontext_dump. */
    v = json_stringn_nocheck("a\xffz", 3);
    cr_assert_null(jsontext_dump(v));
    cr_assert_null(jsontext_diff_dump(v));
    /* Member names that are not UTF-8: json_dumps writes a cut name and goes
     * on (see jo_string), jsontext_dump the same bytes, also when the cut-off part
     * was longer than the staging buffer. */
    json_t *o = json_object();
    json_object_set_new_nocheck(o, "\xc3", json_true());
    json_object_setn_new_nocheck(o, "ab\ncd\xff", 6, json_false());
    s = jsontext_dump(o);
    cr_assert_str_eq(s, "{\":true,\"ab\\n:false}");
    free(s);
    cr_assert_null(jsontext_diff_dump(o));
    char longkey[6000];
    memset(longkey, 'k', sizeof longkey);
    longkey[0] = '\t';
    longkey[sizeof longkey - 1] = (char)0xff;
    json_object_setn_new_nocheck(o, longkey, sizeof longkey, json_null());
    json_t *wrap = json_pack("[s,O,s]", "before", o, "after");
    cr_assert_null(jsontext_diff_dump(wrap));
    json_decref(wrap);
    /* an undumpable value leaves the buffer as it was */
    buf_t b;
    buf_init(&b, 1024);
    buf_append_str(&b, "prefix");
    json_t *arr = json_pack("[s,o]", "long enough to be written", v);
    cr_assert_eq(jsontext_dump_buf(&b, arr), -1);
    cr_assert_str_eq(b.data, "prefix");
    cr_assert_eq(b.len, 6);
    json_decref(arr);
    json_decref(o);

    /* A reference cycle: both fail instead of recursing forever. */
    json_t *a = json_array(), *c = json_array();
    json_array_append(a, c);
    json_array_append(c, a);
    cr_assert_null(jsontext_dump(a));
    cr_assert_null(jsontext_diff_dump(a));
    json_array_clear(c);
    json_decref(c);
    json_decref(a);

    cr_assert_null(jsontext_dump(NULL));
    cr_assert_null(jsontext_diff_dump(NULL));
    buf_free(&b);
}

Test(jsontext_fast, dump_buf_appends_and_respects_the_limit)
{
    json_t *v = json_pack("{s:[i,i,i],s:s,s:n}", "a", 1, 2, 3, "b", "text", "c");
    buf_t b;
    buf_init(&b, 64);
    buf_append_str(&b, "x=");
    cr_assert_eq(jsontext_dump_buf(&b, v), 0);
    cr_assert_str_eq(b.data, "x={\"a\":[1,2,3],\"b\":\"text\",\"c\":null}");
    buf_free(&b);
    buf_init(&b, 10);
    cr_assert_eq(jsontext_dump_buf(&b, v), -1);
    cr_assert_null(b.data, "freed on overflow, as buf.h says");
    json_decref(v);

    /* Deeper than the dumper's initial stack (32 frames), and bigger than
     * its staging buffer (4 KiB). */
    size_t n;
    char *deep = repeat_text("[{\"k\":", 100, "\"v\"", "}]", &n);
    cr_assert_null(jsontext_diff_parse(deep, n, 300));
    free(deep);
    json_t *big = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(big, json_sprintf("item %d \xe2\x82\xac \"q\"", i));
    cr_assert_null(jsontext_diff_dump(big));
    json_decref(big);
}

Test(jsontext_fast, dump_string_helper)
{
    buf_t b;
    buf_init(&b, 256);
    cr_assert_eq(jsontext_dump_string(&b, "a\"\\\n\t\x01/\xc3\xa9\x7f", 10), 0);
    cr_assert_str_eq(b.data, "\"a\\\"\\\\\\n\\t\\u0001/\xc3\xa9\x7f\"");
    buf_reset(&b);
    /* invalid UTF-8: each bad byte becomes U+FFFD, so the result is JSON */
    cr_assert_eq(jsontext_dump_string(&b, "a\xff\xc3z\xed\xa0\x80", 7), 0);
    cr_assert_str_eq(b.data, "\"a\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    char err[128];
    json_t *v = jsontext_parse(b.data, b.len, 4, err, sizeof err);
    cr_assert(v, "%s", err);
    json_decref(v);
    buf_reset(&b);
    cr_assert_eq(jsontext_dump_string(&b, "", 0), 0);
    cr_assert_str_eq(b.data, "\"\"");
    buf_free(&b);
    buf_init(&b, 4);
    cr_assert_eq(jsontext_dump_string(&b, "abcdef", 6), -1);
    cr_assert_null(b.data);
}

/* jsontext_parse_keep builds only the kept paths; the rest is skipped but its
 * syntax is still checked. */
static json_t *keep_parse(const jsontext_keep_t *k, const char *s, char *err)
{
    return jsontext_parse_keep(s, strlen(s), 0, k, err, 200);
}

static void assert_json(json_t *got, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    cr_assert(w, "bad expectation %s", want);
    char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    cr_assert(json_equal(got, w), "got %s, want %s", g ? g : "NULL", want);
    free(g);
    json_decref(w);
    json_decref(got);
}

Test(jsontext_fast, parse_keep_builds_only_the_kept_paths)
{
    char err[200];
    jsontext_keep_t *k = jsontext_keep_new();
    jsontext_keep_all(k, "key");
    jsontext_keep_all(k, "fields.status.name");
    jsontext_keep_all(k, "fields.assignee");
    jsontext_keep_t *vals = jsontext_keep_path(k, "values");
    cr_assert_not_null(vals);
    jsontext_keep_all(vals, "id");
    const char *doc = "{\"expand\":\"x\",\"key\":\"K-1\",\"fields\":{\"status\":{\"name\":\"Open\",\"id\":\"1\","
                      "\"iconUrl\":\"u\"},\"assignee\":{\"a\":[1,2.5e3,{\"b\":null}]},\"big\":[true,false,\"\\u00e9\"]},"
                      "\"values\":[{\"id\":1,\"junk\":{\"x\":1}},{\"id\":2},3,\"s\",[{\"id\":4,\"y\":5}]]}";
    assert_json(keep_parse(k, doc, err),
                "{\"key\":\"K-1\",\"fields\":{\"status\":{\"name\":\"Open\"},\"assignee\":{\"a\":[1,2.5e3,{\"b\":null}]}},"
                "\"values\":[{\"id\":1},{\"id\":2},3,\"s\",[{\"id\":4}]]}");
    /* NULL, or a node keeping everything, is the plain parse. */
    assert_json(jsontext_parse_keep(doc, strlen(doc), 0, NULL, err, sizeof err), doc);
    jsontext_keep_t *all = jsontext_keep_new();
    jsontext_keep_all(all, ".");
    cr_assert(jsontext_keep_is_all(all));
    assert_json(keep_parse(all, doc, err), doc);
    /* An index segment keeps all below the segment before it. */
    jsontext_keep_t *ix = jsontext_keep_new();
    cr_assert_null(jsontext_keep_path(ix, "values.0.id"));
    assert_json(keep_parse(ix, doc, err), "{\"values\":[{\"id\":1,\"junk\":{\"x\":1}},{\"id\":2},3,\"s\",[{\"id\":4,\"y\":5}]]}");

    /* Skipped values are still checked: the same errors as jsontext_parse. */
    const char *bad[] = {
        "{\"key\":\"K\",\"junk\":[1,}", "{\"junk\":{\"a\" 1}}", "{\"junk\":\"\\x\"}", "{\"junk\":01}",
        "{\"junk\":99999999999999999999}", "{\"junk\":1e999}", "{\"junk\":tru}", "{\"junk\":\"\xff\"}",
        "{\"junk\":[1,2]", "{\"junk\":1} x", "{\"junk\":{1:2}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char e1[200], e2[200];
        json_t *a = jsontext_parse(bad[i], strlen(bad[i]), 0, e1, sizeof e1);
        json_t *b = keep_parse(k, bad[i], e2);
        cr_assert(!a && !b, "%s must fail both ways", bad[i]);
        cr_assert_str_eq(e2, e1, "%s", bad[i]);
    }
    /* The depth limit holds inside skipped values too. */
    char deep[200] = "{\"junk\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    cr_assert_null(keep_parse(k, deep, err));
    cr_assert(strstr(err, "deeper than"), "%s", err);
    jsontext_keep_free(k);
    jsontext_keep_free(all);
    jsontext_keep_free(ix);
}

/* jsontext_parse_keep against a reference: the full parse, pruned. A keep spec is
 * a JSON object: a member true keeps that key whole, an object member keeps
 * the key with its own spec; arrays pass the spec on to their elements. */
static const char *const KEYS_RAW[] = {"a", "b", "c", "d\xc3\xa9"};

static json_t *rnd_keyed(int depth)
{
    int t = (int)rndn(depth > 3 ? 4 : 7);
    switch (t) {
    case 0: return json_integer((json_int_t)rndn(1000));
    case 1: return json_string("s\\\"x");
    case 2: return json_null();
    case 3: return json_real(1.5);
    case 4: {
        json_t *a = json_array();
        for (size_t i = 0, n = rndn(4); i < n; i++)
            json_array_append_new(a, rnd_keyed(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (size_t i = 0, n = rndn(5); i < n; i++)
            json_object_set_new(o, KEYS_RAW[rndn(4)], rnd_keyed(depth + 1));
        return o;
    }
    }
}

static json_t *rnd_spec(int depth)
{
    json_t *s = json_object();
    for (size_t i = 0, n = 1 + rndn(3); i < n; i++)
        json_object_set_new(s, KEYS_RAW[rndn(4)], depth > 2 || rndn(2) ? json_true() : rnd_spec(depth + 1));
    return s;
}

Test(jsontext_fast, parse_keep_random_against_a_pruned_full_parse)
{
    size_t compared = 0, failed_alike = 0;
    for (int i = 0; i < 2000; i++) {
        json_t *tree = rnd_keyed(0);
        json_t *spec = rnd_spec(0);
        jsontext_keep_t *k = jsontext_keep_new();
        jsontext_diff_spec_to_keep(k, spec);
        char *text = json_dumps(tree, JSON_COMPACT | JSON_ENCODE_ANY);
        char mut[2048];
        size_t n = strlen(text);
        for (int m = 0; m < 4 && n < sizeof mut - 16; m++) {
            memcpy(mut, text, n);
            size_t mn = n;
            for (int e = 0; m > 0 && e < 1 + (int)rndn(2); e++) /* the first round is the text itself */
                mn = mutate(mut, mn, sizeof mut);
            int accepted;
            const char *diff = jsontext_diff_parse_keep(mut, mn, 8, k, spec, &accepted);
            cr_assert_null(diff, "tree %d: %s: %.*s", i, diff, (int)mn, mut);
            compared += accepted;
            failed_alike += !accepted;
        }
        free(text);
        jsontext_keep_free(k);
        json_decref(spec);
        json_decref(tree);
    }
    cr_assert_gt(compared, 2000);
    cr_assert_gt(failed_alike, 1000);
}

/* jsontext_string_lossy: valid text as it is; a character cut at the end
 * dropped; any other byte that is not UTF-8 as U+FFFD; never NULL. */
Test(jsontext_fast, string_lossy)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
        size_t outn;
    } lossy[] = {
        {"plain", 5, "plain", 5},
        {"caf\xc3\xa9", 5, "caf\xc3\xa9", 5},
        {"caf\xc3\xa9", 4, "caf", 3},                         /* 2-byte character cut */
        {"\xe2\x82\xac", 2, "", 0},                           /* 3-byte character cut */
        {"x\xf0\x9f\x98\x80", 4, "x", 1},                     /* 4-byte character cut */
        {"a\xc3" "b", 3, "a\xef\xbf\xbd" "b", 5},             /* cut in the middle */
        {"\x80z", 2, "\xef\xbf\xbd" "z", 4},                  /* a lone continuation byte */
        {"\xff", 1, "\xef\xbf\xbd", 3},                       /* never UTF-8 */
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6},       /* overlong */
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9}, /* a UTF-16 surrogate */
        {"a\0b", 3, "a\0b", 3},                               /* NUL is text */
    };
    for (size_t i = 0; i < sizeof lossy / sizeof lossy[0]; i++) {
        json_t *v = jsontext_string_lossy(lossy[i].in, lossy[i].n);
        cr_assert(json_is_string(v), "case %zu", i);
        cr_expect_eq(json_string_length(v), lossy[i].outn, "case %zu: length %zu", i, json_string_length(v));
        cr_expect(memcmp(json_string_value(v), lossy[i].out, lossy[i].outn) == 0, "case %zu", i);
        char *d = jsontext_dump(v);
        cr_expect(d != NULL, "case %zu dumps", i);
        free(d);
        json_decref(v);
    }
    json_t *e = jsontext_string_lossy(NULL, 3);
    cr_expect(json_is_string(e) && json_string_length(e) == 0);
    json_decref(e);
}

/* jsontext_parse_nul: \u0000 in a string value is a NUL byte inside the
 * string (counted by its length) and reported; in a member name it stays
 * an error; everything else parses as jsontext_parse does, and
 * jsontext_find_nul names the first string holding one. */
Test(jsontext_fast, parse_nul_and_find_nul)
{
    char err[200], path[64];
    int nul = -1;
    const char *in = "{\"a\":[1,{\"b/c\":\"x\\u0000y\"}],\"d\":\"\\u0000\"}";
    json_t *v = jsontext_parse_nul(in, strlen(in), 0, &nul, err, sizeof err);
    cr_assert(v, "%s", err);
    cr_assert_eq(nul, 1);
    json_t *s = json_object_get(json_array_get(json_object_get(v, "a"), 1), "b/c");
    cr_assert_eq(json_string_length(s), 3);
    cr_assert(memcmp(json_string_value(s), "x\0y", 3) == 0);
    cr_assert_eq(json_string_length(json_object_get(v, "d")), 1);
    cr_assert(jsontext_find_nul(v, NULL, path, sizeof path));
    cr_assert_str_eq(path, "/a/1/b~1c");
    char small[6];
    cr_assert(jsontext_find_nul(v, NULL, small, sizeof small));
    cr_assert_eq(strlen(small), 5, "cut to the buffer: %s", small);
    json_decref(v);

    /* the plain parser still refuses it, as jansson does */
    cr_assert_null(jsontext_parse(in, strlen(in), 0, err, sizeof err));
    cr_assert(strstr(err, "\\u0000 is not allowed"), "%s", err);
    /* a member name */
    const char *key = "{\"a\\u0000\":1}";
    cr_assert_null(jsontext_parse_nul(key, strlen(key), 0, &nul, err, sizeof err));
    /* none: nul is 0 and find_nul finds nothing */
    const char *plain = "{\"a\":\"\\u0001\",\"b\":[\"x\"]}";
    v = jsontext_parse_nul(plain, strlen(plain), 0, &nul, err, sizeof err);
    cr_assert(v, "%s", err);
    cr_assert_eq(nul, 0);
    cr_assert_not(jsontext_find_nul(v, NULL, path, sizeof path));
    cr_assert_str_eq(path, "");
    json_decref(v);
    /* skip: a NUL only inside the skipped subtree is not found */
    const char *two = "{\"args\":{\"a\":\"x\\u0000\"},\"m\":\"ok\",\"meta\":[\"y\\u0000z\"]}";
    v = jsontext_parse_nul(two, strlen(two), 0, &nul, err, sizeof err);
    cr_assert(v, "%s", err);
    cr_assert(jsontext_find_nul(v, json_object_get(v, "args"), path, sizeof path));
    cr_assert_str_eq(path, "/meta/0");
    json_object_del(v, "meta");
    cr_assert_not(jsontext_find_nul(v, json_object_get(v, "args"), path, sizeof path));
    /* replace_nul: every NUL becomes U+FFFD, the rest as it was */
    jsontext_replace_nul(v);
    cr_assert_not(jsontext_find_nul(v, NULL, path, sizeof path));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "args"), "a")), "x\xef\xbf\xbd");
    cr_assert_str_eq(json_string_value(json_object_get(v, "m")), "ok");
    json_decref(v);
    /* a top-level string */
    v = jsontext_parse_nul("\"\\u0000\"", 8, 0, &nul, err, sizeof err);
    cr_assert(v && nul == 1);
    cr_assert(jsontext_find_nul(v, NULL, path, sizeof path));
    cr_assert_str_eq(path, "");
    json_decref(v);
}
