/* ju_diff: differential checks of common/ju against the jansson library,
 * shared by tests/unit/common/test_ju_fast.c and fuzz/fuzz_json.c.
 *
 * The reference for ju_parse(s, n, max_depth) is json_loadb(s, n,
 * JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) plus ju's own rules (empty
 * input, NUL bytes, containers nested deeper than max_depth). Both must
 * accept or both reject; accepted trees must be json_equal (which also
 * compares types: integer 1 and real 1.0 differ) and jansson must dump both
 * trees to the same bytes (member order, -0.0). The reference for ju_dump
 * is json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), byte for byte,
 * failures included. Each check returns NULL when ju and jansson agree,
 * else a static description of the difference. */
#ifndef JSMCP_JU_DIFF_H
#define JSMCP_JU_DIFF_H

#include <stdlib.h>
#include <string.h>

#include "ju.h"

/* Depth in containers: a scalar 0, [] 1, [[1]] 2. */
static int ju_diff_depth(const json_t *v)
{
    int max = 0, d;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((d = ju_diff_depth(json_array_get(v, i))) > max)
                max = d;
        return max + 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
            if ((d = ju_diff_depth(m)) > max)
                max = d;
        return max + 1;
    }
    return 0;
}

static const char *ju_diff_dump(const json_t *v)
{
    char *a = ju_dump(v), *b = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *res = NULL;
    if (!a != !b)
        res = a ? "ju_dump succeeded where json_dumps failed" : "ju_dump failed where json_dumps succeeded";
    else if (a && strcmp(a, b) != 0)
        res = "ju_dump and json_dumps differ";
    free(a);
    free(b);
    return res;
}

static int ju_diff_err_ok(const char *err)
{
    static const char *const forms[] = {"invalid JSON at line ", "JSON nested deeper than ",
                                        "empty body: a JSON value is required",
                                        "invalid JSON: NUL byte in input"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (strncmp(err, forms[i], strlen(forms[i])) == 0)
            return 1;
    return 0;
}

static const char *ju_diff_parse(const char *s, size_t n, int max_depth)
{
    char err[256] = "";
    const char *res = NULL;
    json_t *ours = ju_parse(s, n, max_depth, err, sizeof err);
    json_t *ref = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    int too_deep = ref && ju_diff_depth(ref) > (max_depth > 0 ? max_depth : JU_MAX_DEPTH_DEFAULT);
    int ref_ok = ref && n > 0 && !memchr(s, 0, n) && !too_deep;
    if (!ours != !ref_ok) {
        res = ours ? "ju_parse accepted what jansson rejects" : "ju_parse rejected what jansson accepts";
    } else if (!ours) {
        if (!ju_diff_err_ok(err))
            res = "ju_parse error message of an unknown form";
        else if (too_deep && !memchr(s, 0, n) && !strstr(err, "nested deeper"))
            res = "ju_parse did not name the depth limit";
    } else if (!json_equal(ours, ref)) {
        res = "ju_parse and jansson built different trees";
    } else {
        char *a = json_dumps(ours, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!a || !b || strcmp(a, b) != 0)
            res = "trees equal but dumped differently (member order, -0.0)";
        free(a);
        free(b);
        if (!res)
            res = ju_diff_dump(ref);
    }
    json_decref(ours);
    json_decref(ref);
    return res;
}

#endif
