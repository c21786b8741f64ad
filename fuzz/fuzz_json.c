/* libFuzzer target: common/jsontext's parser and serializer against jansson's,
 * differentially (tests/unit/common/jsontext_diff.h): any difference in
 * acceptance, tree, types, member order or dumped bytes aborts. The input is
 * parsed as JSON text with two depth limits, and also used as raw bytes: as
 * a string value and as a member name built without UTF-8 checks (the
 * serializers must fail or write the same bytes), and through
 * jsontext_dump_string, whose output must always parse back (with
 * jsontext_parse_nul too, NUL bytes and all). Build and run:
 * make fuzz (FUZZ_FILTER=json). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/common/jsontext_diff.h"
#include "buf.h"
#include "jsontext.h"

static void fz_check(const char *what, const char *diff, const uint8_t *data, size_t size)
{
    if (!diff)
        return;
    fprintf(stderr, "fuzz_json: %s: %s (%zu bytes)\n", what, diff, size);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    fz_check("parse, depth 32", jsontext_diff_parse(s, size, 32), data, size);
    fz_check("parse, depth 3", jsontext_diff_parse(s, size, 3), data, size);

    json_t *str = json_stringn_nocheck(s, size);
    json_t *obj = json_object();
    json_object_setn_new_nocheck(obj, s, size, json_integer(1));
    json_object_setn_new_nocheck(obj, "x", 1, json_incref(str));
    fz_check("dump of raw bytes as a string", jsontext_diff_dump(str), data, size);
    fz_check("dump of raw bytes as a member name", jsontext_diff_dump(obj), data, size);
    json_decref(obj);
    json_decref(str);

    buf_t b;
    char err[256];
    buf_init(&b, 8 * size + 16);
    if (jsontext_dump_string(&b, s, size) != 0)
        fz_check("jsontext_dump_string", "hit a limit it cannot reach", data, size);
    json_t *back = jsontext_parse(b.data, b.len, 1, err, sizeof err);
    /* "\u0000" (from a NUL byte) is the one escape no parser here accepts. */
    if (!back && !memchr(s, 0, size))
        fz_check("jsontext_dump_string", "output does not parse back", data, size);
    /* ... except jsontext_parse_nul, which must give the string back whole,
     * NUL bytes included, and report them. */
    int nul = 0;
    json_t *whole = jsontext_parse_nul(b.data, b.len, 1, &nul, err, sizeof err);
    if (back && (!whole || nul || !json_equal(back, whole)))
        fz_check("jsontext_parse_nul", "differs from jsontext_parse on text without \\u0000", data, size);
    json_t *checked = json_stringn(s, size); /* NULL unless valid UTF-8 */
    if (!back && checked && memchr(s, 0, size) && (!whole || !nul || !json_equal(whole, checked)))
        fz_check("jsontext_parse_nul", "a string with NUL bytes did not come back whole", data, size);
    json_decref(whole);
    if (back && !json_is_string(back))
        fz_check("jsontext_dump_string", "output parses to a non-string", data, size);
    if (back && checked && !json_equal(back, checked))
        fz_check("jsontext_dump_string", "valid UTF-8 did not come back unchanged", data, size);
    json_decref(checked);
    json_decref(back);
    buf_free(&b);
    return 0;
}
