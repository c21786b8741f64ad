/* pace_rule_parse: the pacing rule syntax of JSMCP_PACE_API_TOKEN / JSMCP_PACE_OAUTH and of an
 * integrated account's own "pace". */
#include <criterion/criterion.h>
#include <string.h>

#include "pacerule.h"

Test(pace, rules)
{
    pace_rule_t r;
    char err[256];
    cr_assert_eq(pace_rule_parse("10/s burst 20", &r, err, sizeof err), 0, "%s", err);
    cr_assert(r.per_s == 10.0 && r.burst == 20);
    cr_assert_eq(pace_rule_parse("2.5/s", &r, err, sizeof err), 0, "%s", err);
    cr_assert(r.per_s == 2.5 && r.burst == 3, "burst defaults to the rate rounded up (%ld)", r.burst);
    cr_assert_eq(pace_rule_parse("30/m burst 5", &r, err, sizeof err), 0, "%s", err);
    cr_assert(r.per_s == 0.5 && r.burst == 5);
    cr_assert_eq(pace_rule_parse("1/m", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.burst, 1);
    cr_assert_eq(pace_rule_parse("off", &r, err, sizeof err), 0);
    cr_assert(r.per_s == 0);
    cr_assert_eq(pace_rule_parse("", &r, err, sizeof err), 0);
    cr_assert(r.per_s == 0);
    cr_assert_eq(pace_rule_parse(NULL, &r, err, sizeof err), 0);
    cr_assert(r.per_s == 0);
}

Test(pace, bad_rules_are_named)
{
    pace_rule_t r;
    char err[256];
    static const char *const bad[] = {"10", "10/h", "-1/s", "0/s", "x/s", "10/s burst", "10/s burst 0",
                                      "10/s burst 100001", "10/s burst 5 extra", "1e9/s", "nan/s",
                                      "1/s                                                                 burst 2",
                                      NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = 0;
        cr_assert_eq(pace_rule_parse(bad[i], &r, err, sizeof err), -1, "%s accepted", bad[i]);
        cr_assert(strstr(err, "pacing rule"), "%s: %s", bad[i], err);
    }
}
