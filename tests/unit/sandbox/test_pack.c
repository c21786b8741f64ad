/* sb_pack builds what json_pack would (dumped with jsontext_dump, the sandbox's
 * serializer, whose own tests are in tests/unit/common/test_jsontext_fast.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "sb_pack.h"

static char *dump(const json_t *v)
{
    char *s = jsontext_dump(v);
    cr_assert(s);
    return s;
}

static void same_as_jansson(json_t *v)
{
    char *mine = dump(v), *theirs = json_dumps(v, JSON_COMPACT);
    cr_assert_str_eq(mine, theirs);
    free(mine);
    free(theirs);
}

Test(pack, matches_json_pack)
{
    json_t *a = sb_pack("{s:s, s:i, s:I, s:b, s:f, s:o, s:n, s:[s, {s:[]}], s:{}, s:s%}", "s", "x", "i", -7, "I",
                        (json_int_t)1 << 40, "b", 1, "f", 0.5, "o", json_string("own"), "n", "arr", "a", "k",
                        "e", "t", "abcdef", (size_t)3);
    json_t *b = json_pack("{s:s, s:i, s:I, s:b, s:f, s:o, s:n, s:[s, {s:[]}], s:{}, s:s%}", "s", "x", "i", -7, "I",
                          (json_int_t)1 << 40, "b", 1, "f", 0.5, "o", json_string("own"), "n", "arr", "a", "k",
                          "e", "t", "abcdef", (size_t)3);
    cr_assert(json_equal(a, b));
    same_as_jansson(a);
    json_decref(a);
    json_decref(b);
    json_t *n = sb_pack("{s:s, s:o}", "null string", NULL, "null object", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(n, "null string")), "");
    cr_assert(json_is_null(json_object_get(n, "null object")));
    json_decref(n);
}

Test(pack, dump_escapes_like_jansson)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:[f, f, f, f, I], s:b}", "quotes", "a\"b\\c/d", "ctl", "\n\r\t\b\f\x01\x1f end",
                          "utf8", "García São Paulo – 東京 😀", "nums", 1.0, 3.25e-7, 1e300, -2.5e+21, (json_int_t)-9007199254740993LL,
                          "f", 0);
    same_as_jansson(v);
    json_decref(v);
}
