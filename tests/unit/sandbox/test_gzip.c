/* gzip responses: what Accept-Encoding admits, and output zlib inflates
 * back to the input (gzip framing). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sb_gzip.h"

Test(gzip, accept_encoding)
{
    cr_assert(sb_accepts_gzip("gzip"));
    cr_assert(sb_accepts_gzip("gzip, deflate, br"));
    cr_assert(sb_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    cr_assert(sb_accepts_gzip("x-gzip"));
    cr_assert(sb_accepts_gzip("*"));
    cr_assert(!sb_accepts_gzip(NULL));
    cr_assert(!sb_accepts_gzip(""));
    cr_assert(!sb_accepts_gzip("identity"));
    cr_assert(!sb_accepts_gzip("deflate, br"));
    cr_assert(!sb_accepts_gzip("gzip;q=0"));
    cr_assert(!sb_accepts_gzip("gzip;q=0.000, identity"));
    cr_assert(!sb_accepts_gzip("*, gzip;q=0"), "an explicit refusal wins over *");
    cr_assert(!sb_accepts_gzip("*;q=0"));
    cr_assert(!sb_accepts_gzip("gzipped"));
}

Test(gzip, round_trip)
{
    size_t n = 200000, zn;
    char *in = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)("{\"key\":\"ITSM-994\",\"fields\":{}}"[i % 31]);
    char *z = sb_gzip(in, n, &zn);
    cr_assert_not_null(z);
    cr_assert_lt(zn, n / 10, "JSON compresses");
    cr_assert_eq((unsigned char)z[0], 0x1f);
    cr_assert_eq((unsigned char)z[1], 0x8b);
    z_stream s;
    memset(&s, 0, sizeof s);
    cr_assert_eq(inflateInit2(&s, 15 + 16), Z_OK);
    s.next_in = (Bytef *)z;
    s.avail_in = (uInt)zn;
    s.next_out = (Bytef *)back;
    s.avail_out = (uInt)n;
    cr_assert_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
    cr_assert_eq(s.total_out, n);
    inflateEnd(&s);
    cr_assert(!memcmp(in, back, n));
    free(z);
    char *empty = sb_gzip("", 0, &zn);
    cr_assert_not_null(empty);
    free(empty);
    free(in);
    free(back);
}
