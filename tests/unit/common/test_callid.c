/* callid (callid.h): ids that sort by time, are valid uuids (version 7,
 * variant 10), never repeat within a generator (a stepped-back clock, a
 * wrapped counter) and differ between generators made at the same moment. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callid.h"

#define T0 1765000000123ULL /* 2025-12-06, ms */

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(callid, uuid_v7_layout_and_time_first)
{
    callid_gen_t g = {0};
    char id[CALLID_HEX_LEN + 1], want[16];
    callid_next(&g, T0, id);
    cr_assert_eq(strlen(id), CALLID_HEX_LEN);
    cr_assert_eq(strspn(id, "0123456789abcdef"), CALLID_HEX_LEN, "%s", id);
    snprintf(want, sizeof want, "%012" PRIx64, (uint64_t)T0);
    cr_assert_eq(strncmp(id, want, 12), 0, "%s does not start with the time %s", id, want);
    cr_assert_eq(id[12], '7', "version 7: %s", id);
    cr_assert(strchr("89ab", id[16]), "variant 10: %s", id);
    cr_assert_str_eq(id + 24, "00000001", "the counter starts at 1: %s", id);
}

/* Later ids sort later; the same millisecond or a clock stepped back keeps
 * the order (the time never goes below the last one). */
Test(callid, one_generator_ascends_even_when_the_clock_steps_back)
{
    callid_gen_t g = {0};
    static const uint64_t clock[] = {T0, T0, T0 + 1, T0 + 500, T0 - 2000, T0 + 500, T0 + 501, T0 - 1};
    char prev[CALLID_HEX_LEN + 1] = "", id[CALLID_HEX_LEN + 1];
    for (size_t i = 0; i < sizeof clock / sizeof *clock; i++) {
        callid_next(&g, clock[i], id);
        cr_assert_gt(strcmp(id, prev), 0, "id %zu (%s) does not sort after %s", i, id, prev);
        memcpy(prev, id, sizeof id);
    }
}

/* A wrapped counter draws new random bits: the id after UINT32_MAX is not
 * the one made at counter 0 of the same bits. */
Test(callid, counter_wrap_draws_new_bits)
{
    callid_gen_t g = {0};
    char a[CALLID_HEX_LEN + 1], b[CALLID_HEX_LEN + 1], c[CALLID_HEX_LEN + 1];
    callid_next(&g, T0, a);
    g.seq = UINT32_MAX - 1;
    callid_next(&g, T0, b);
    cr_assert_str_eq(b + 24, "ffffffff");
    cr_assert_eq(memcmp(a + 13, b + 13, 11), 0, "same bits until the wrap");
    callid_next(&g, T0, c);
    cr_assert_str_eq(c + 24, "00000001", "the counter starts over: %s", c);
    cr_assert_neq(memcmp(a + 13, c + 13, 11), 0, "new random bits after the wrap: %s vs %s", a, c);
}

/* Eight generators (eight worker processes) making ids in the same
 * milliseconds: 8 x 50,000 ids, all different. */
Test(callid, generators_at_the_same_time_never_collide)
{
    enum { GENS = 8, PER = 50000 };
    char(*ids)[CALLID_HEX_LEN + 1] = malloc((size_t)GENS * PER * sizeof *ids);
    cr_assert(ids);
    callid_gen_t g[GENS];
    memset(g, 0, sizeof g);
    for (int i = 0; i < PER; i++)
        for (int k = 0; k < GENS; k++)
            callid_next(&g[k], T0 + (uint64_t)i / 1000, ids[(size_t)i * GENS + k]);
    qsort(ids, (size_t)GENS * PER, sizeof *ids, cmp_id);
    for (size_t i = 1; i < (size_t)GENS * PER; i++)
        cr_assert_neq(strcmp(ids[i - 1], ids[i]), 0, "%s made twice", ids[i]);
    free(ids);
}
