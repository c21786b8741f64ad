/* ap_refresh_parse: the refresh requests workers publish. */
#include <criterion/criterion.h>
#include <string.h>

#include "ap_refresh.h"

#define ID "0b6f3c0e-6a52-4a47-9d0b-1f0e8a6b2c11"

static int parse(const char *m, char *id, long long *v)
{
    return ap_refresh_parse(m, strlen(m), id, v);
}

Test(refresh_parse, accepts_id_and_version)
{
    char id[37];
    long long v = -1;
    cr_assert_eq(parse(ID " 7", id, &v), 0);
    cr_assert_str_eq(id, ID);
    cr_assert_eq(v, 7);
    cr_assert_eq(parse(ID " 0", id, &v), 0);
    cr_assert_eq(v, 0);
}

Test(refresh_parse, rejects_everything_else)
{
    char id[37];
    long long v;
    const char *bad[] = {"", ID, ID " ", ID "  1", ID " -1", ID " 1x", ID " 99999999999999999",
                         "not-a-uuid-not-a-uuid-not-a-uuid-xxxx 1", ID "\t1", ID " 1 2", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_eq(parse(bad[i], id, &v), -1, "accepted '%s'", bad[i]);
    char nul[64];
    memcpy(nul, ID " 1", 39);
    nul[37] = 0;
    cr_assert_eq(ap_refresh_parse(nul, 39, id, &v), -1, "NUL inside");
}
