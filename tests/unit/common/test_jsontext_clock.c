#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jsontext.h"
#include "clock.h"

Test(jsontext, parse_ok_and_errors)
{
    char err[256];
    json_t *v = jsontext_parse("{\"a\":[1,2]}", 11, 8, err, sizeof err);
    cr_assert(v);
    json_decref(v);
    cr_assert_null(jsontext_parse("{\"a\":", 5, 8, err, sizeof err));
    cr_assert(strstr(err, "invalid JSON at line 1"), "%s", err);
    cr_assert_null(jsontext_parse("", 0, 8, err, sizeof err));
    cr_assert(strstr(err, "empty"));
    cr_assert_null(jsontext_parse("{\"a\":1,\"a\":2}", 13, 8, err, sizeof err), "duplicate keys rejected");
}

Test(jsontext, depth_limit)
{
    char deep[200];
    char err[256];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    cr_assert_eq(jsontext_depth(deep, 200), 100);
    cr_assert_null(jsontext_parse(deep, 200, 32, err, sizeof err));
    cr_assert(strstr(err, "deeper than 32"), "%s", err);
    /* brackets inside strings do not count */
    cr_assert_eq(jsontext_depth("[\"[[[[\\\"[[\"]", 12), 1);
}

Test(jsontext, getters)
{
    json_t *o = json_pack("{s:s,s:i,s:b}", "s", "x", "i", 7, "b", 1);
    cr_assert_str_eq(jsontext_str(o, "s"), "x");
    cr_assert_null(jsontext_str(o, "i"));
    cr_assert_eq(jsontext_int(o, "i", 0), 7);
    cr_assert_eq(jsontext_int(o, "s", -1), -1);
    cr_assert_eq(jsontext_bool(o, "b", 0), 1);
    cr_assert_str_eq(jsontext_type_name(json_object_get(o, "i")), "integer");
    json_decref(o);
}

Test(clock, parse_formats)
{
    int64_t ms;
    cr_assert_eq(clock_parse_iso("1970-01-01T00:00:00Z", &ms), 0);
    cr_assert_eq(ms, 0);
    cr_assert_eq(clock_parse_iso("2026-12-31T23:59:59Z", &ms), 0);
    cr_assert_eq(ms, 1798761599000LL);
    cr_assert_eq(clock_parse_iso("2026-12-31T23:59:59.5+01:00", &ms), 0);
    cr_assert_eq(ms, 1798761599000LL - 3600000 + 500);
    cr_assert_eq(clock_parse_iso("2026-12-31T23:59:59.123-0100", &ms), 0);
    cr_assert_eq(ms, 1798761599000LL + 3600000 + 123);
    cr_assert_eq(clock_parse_iso("2026-03-26T16:00Z", &ms), 0, "minute precision (Jira)");
    cr_assert_eq(clock_parse_iso("2026-02-30T00:00:00Z", &ms), -1);
    cr_assert_eq(clock_parse_iso("2026-12-31", &ms), -1);
    cr_assert_eq(clock_parse_iso("2026-12-31T23:59:59", &ms), -1, "zone required");
    cr_assert_eq(clock_parse_iso("2026-12-31T23:59:59Zjunk", &ms), -1);
}

/* What PostgreSQL refuses to cast to timestamptz, and what is not RFC 3339
 * (four-digit years), is refused here; the edges just inside are taken. */
Test(clock, parse_bounds)
{
    int64_t ms;
    static const char *const bad[] = {
        "0000-01-01T00:00:00Z",           /* no year 0 in PostgreSQL */
        "0001-01-01T00:00:00+00:01",      /* year 0 once the offset is applied */
        "2026-01-01T00:00:00+16:00",      /* PostgreSQL: time zone displacement out of range */
        "2026-01-01T00:00:00-16:00",
        "2026-01-01T00:00:00+15:60",      /* minutes of an offset */
        "2026-01-01T00:00:00-99:99",
        "2026-01-01T00:00:00+2400",
        "9999-12-31T23:59:59-00:01",      /* 10000-01-01 once the offset is applied */
        "9999-12-31T23:59:59-15:59",
        "9999-12-31T23:59:60Z",           /* a leap second into year 10000 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(clock_parse_iso(bad[i], &ms), -1, "accepted %s", bad[i]);
    cr_assert_eq(clock_parse_iso("0001-01-01T00:00:00Z", &ms), 0);
    cr_assert_eq(ms, -62135596800000LL);
    cr_assert_eq(clock_parse_iso("0001-01-01T00:00:00-15:59", &ms), 0);
    cr_assert_eq(clock_parse_iso("9999-12-31T23:59:59.999Z", &ms), 0);
    cr_assert_eq(ms, 253402300799999LL);
    cr_assert_eq(clock_parse_iso("9999-12-31T23:59:59+15:59", &ms), 0);
    cr_assert_eq(clock_parse_iso("2026-01-01T00:00:00-15:59", &ms), 0);
    cr_assert_eq(clock_parse_iso("2026-01-01T00:00:00+1559", &ms), 0);
}

Test(clock, format_roundtrip)
{
    char s[40];
    int64_t ms;
    clock_format_iso(1798761599123LL, 1, s, sizeof s);
    cr_assert_str_eq(s, "2026-12-31T23:59:59.123Z");
    clock_format_iso(1798761599123LL, 0, s, sizeof s);
    cr_assert_str_eq(s, "2026-12-31T23:59:59Z");
    cr_assert_eq(clock_parse_iso(s, &ms), 0);
    cr_assert_eq(ms, 1798761599000LL);
}

/* The hand-written digits match printf's for any instant, the year-0 and
 * year-9999 edges, before 1970, and in a buffer too small for them. */
Test(clock, format_matches_printf)
{
    static const int64_t edges[] = {0, -1, -1000, 999, -62167219200000LL, -62167219200001LL,
                                    253402300799999LL, 253402300800000LL};
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        int64_t ms;
        if (i < (int)(sizeof edges / sizeof edges[0])) {
            ms = edges[i];
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            ms = (int64_t)(x % 400000000000000ULL) - 100000000000000LL;
        }
        for (int prec = 0; prec < 2; prec++) {
            char got[80], want[80];
            time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
            struct tm tm;
            gmtime_r(&secs, &tm);
            int frac = (int)(ms - (int64_t)secs * 1000);
            if (prec)
                snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
            else
                snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            clock_format_iso(ms, prec, got, sizeof got);
            cr_assert_str_eq(got, want, "ms %lld", (long long)ms);
            char small[12];
            clock_format_iso(ms, prec, small, sizeof small);
            cr_assert_eq(strncmp(small, want, sizeof small - 1), 0);
            cr_assert_eq(small[sizeof small - 1], 0);
        }
    }
}

Test(buf, append_uint)
{
    buf_t b;
    buf_init(&b, 64);
    buf_append_uint(&b, 0);
    buf_append_str(&b, " ");
    buf_append_uint(&b, 18446744073709551615ULL);
    cr_assert_str_eq(b.data, "0 18446744073709551615");
    buf_free(&b);
    char d[21];
    cr_assert_eq(fmt_uint(d, 1234567), 7);
    cr_assert_str_eq(d, "1234567");
    char small[4];
    cr_assert_eq(str_copy(small, sizeof small, "abcdef"), 6, "the source's length, as snprintf");
    cr_assert_str_eq(small, "abc");
    cr_assert_eq(str_copy(small, sizeof small, ""), 0);
    cr_assert_str_eq(small, "");
    cr_assert_eq(fmt_int(d, -9223372036854775807LL - 1), 20);
    cr_assert_str_eq(d, "-9223372036854775808");
    cr_assert_eq(fmt_int(d, 0), 1);
    cr_assert_str_eq(d, "0");
    cr_assert_eq(fmt_int(d, 429), 3);
    cr_assert_str_eq(d, "429");
}

/* str_join: the metric labels and header lines of the hot paths. */
Test(buf, str_join)
{
    char out[16];
    cr_assert_eq(str_join(out, sizeof out, "tool=\"", "x", "\"", NULL), 8);
    cr_assert_str_eq(out, "tool=\"x\"");
    cr_assert_eq(str_join(out, sizeof out, NULL), 0);
    cr_assert_str_eq(out, "");
    /* Cut at the buffer, in the middle of a piece and with pieces after it. */
    cr_assert_eq(str_join(out, sizeof out, "0123456789", "abcdefgh", "zz", NULL), 15);
    cr_assert_str_eq(out, "0123456789abcde");
    char one[1];
    cr_assert_eq(str_join(one, sizeof one, "abc", NULL), 0);
    cr_assert_eq(one[0], 0);
}

Test(buf, bounded)
{
    buf_t b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append_str(&b, "1234"), 0);
    cr_assert_eq(buf_append_str(&b, "5678"), 0);
    cr_assert_eq(buf_append_str(&b, "9"), BUF_ETOOBIG);
    cr_assert_null(b.data, "freed on overflow");
    buf_init(&b, 64);
    jsontext_dump_string(&b, "a\"b\\c\n\x01", 7);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    buf_free(&b);
}
