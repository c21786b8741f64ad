/* jsontext_diff: differential checks of common/jsontext against the jansson library,
 * shared by tests/unit/common/test_jsontext_fast.c and fuzz/fuzz_json.c.
 *
 * The reference for jsontext_parse(s, n, max_depth) is json_loadb(s, n,
 * JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) plus jsontext's own rules (empty
 * input, NUL bytes, containers nested deeper than max_depth). Both must
 * accept or both reject; accepted trees must be json_equal (which also
 * compares types: integer 1 and real 1.0 differ) and jansson must dump both
 * trees to the same bytes (member order, -0.0). The reference for jsontext_dump
 * is json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), byte for byte,
 * failures included. Each check returns NULL when jsontext and jansson agree,
 * else a static description of the difference. */
#ifndef JSMCP_JU_DIFF_H
#define JSMCP_JU_DIFF_H

#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

/* Depth in containers: a scalar 0, [] 1, [[1]] 2. */
static inline int jsontext_diff_depth(const json_t *v)
{
    int max = 0, d;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((d = jsontext_diff_depth(json_array_get(v, i))) > max)
                max = d;
        return max + 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
            if ((d = jsontext_diff_depth(m)) > max)
                max = d;
        return max + 1;
    }
    return 0;
}

static inline const char *jsontext_diff_dump(const json_t *v)
{
    char *a = jsontext_dump(v), *b = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *res = NULL;
    if (!a != !b)
        res = a ? "jsontext_dump succeeded where json_dumps failed" : "jsontext_dump failed where json_dumps succeeded";
    else if (a && strcmp(a, b) != 0)
        res = "jsontext_dump and json_dumps differ";
    free(a);
    free(b);
    return res;
}

static inline int jsontext_diff_err_ok(const char *err)
{
    static const char *const forms[] = {"invalid JSON at line ", "JSON nested deeper than ",
                                        "empty body: a JSON value is required",
                                        "invalid JSON: NUL byte in input"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (strncmp(err, forms[i], strlen(forms[i])) == 0)
            return 1;
    return 0;
}

static inline const char *jsontext_diff_parse(const char *s, size_t n, int max_depth)
{
    char err[256] = "";
    const char *res = NULL;
    json_t *ours = jsontext_parse(s, n, max_depth, err, sizeof err);
    json_t *ref = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    int too_deep = ref && jsontext_diff_depth(ref) > (max_depth > 0 ? max_depth : JSONTEXT_MAX_DEPTH_DEFAULT);
    int ref_ok = ref && n > 0 && !memchr(s, 0, n) && !too_deep;
    if (!ours != !ref_ok) {
        res = ours ? "jsontext_parse accepted what jansson rejects" : "jsontext_parse rejected what jansson accepts";
    } else if (!ours) {
        if (!jsontext_diff_err_ok(err))
            res = "jsontext_parse error message of an unknown form";
        else if (too_deep && !memchr(s, 0, n) && !strstr(err, "nested deeper"))
            res = "jsontext_parse did not name the depth limit";
    } else if (!json_equal(ours, ref)) {
        res = "jsontext_parse and jansson built different trees";
    } else {
        char *a = json_dumps(ours, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!a || !b || strcmp(a, b) != 0)
            res = "trees equal but dumped differently (member order, -0.0)";
        free(a);
        free(b);
        if (!res)
            res = jsontext_diff_dump(ref);
    }
    json_decref(ours);
    json_decref(ref);
    return res;
}

/* ---- jsontext_parse_keep against the full parse, pruned ----
 * A keep spec is a JSON object: a member true keeps that key whole, an
 * object member keeps the key with its own spec; arrays pass the spec on to
 * their elements (the rules of jsontext_keep_path/jsontext_keep_all). */

/* Adds spec's paths to k. */
static inline void jsontext_diff_spec_to_keep(jsontext_keep_t *k, const json_t *spec)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        if (json_is_true(v))
            jsontext_keep_all(k, key);
        else if (json_is_object(v)) {
            jsontext_keep_t *sub = jsontext_keep_path(k, key);
            if (sub) /* NULL: kept whole already */
                jsontext_diff_spec_to_keep(sub, v);
        }
    }
}

/* What the keep parse must build: v with only spec's paths. */
static inline json_t *jsontext_diff_prune(const json_t *v, const json_t *spec)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            json_array_append_new(a, jsontext_diff_prune(e, spec));
        return a;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    json_t *o = json_object();
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)v, key, m) {
        const json_t *s = json_object_get(spec, key);
        if (json_is_true(s))
            json_object_set_new(o, key, json_deep_copy(m));
        else if (json_is_object(s))
            json_object_set_new(o, key, jsontext_diff_prune(m, s));
    }
    return o;
}

/* jsontext_parse_keep(s, n, max_depth, k) against jsontext_parse: both accept, or both
 * refuse with the same error (except when the full parse found a duplicate
 * key: one inside a skipped value is not looked for); when spec is not
 * NULL (k built from it), the kept tree is the full one pruned to spec.
 * *accepted (may be NULL) says whether the full parse accepted. */
static inline const char *jsontext_diff_parse_keep(const char *s, size_t n, int max_depth, const jsontext_keep_t *k,
                                      const json_t *spec, int *accepted)
{
    char e1[256], e2[256];
    const char *diff = NULL;
    json_t *full = jsontext_parse(s, n, max_depth, e1, sizeof e1);
    json_t *kept = jsontext_parse_keep(s, n, max_depth, k, e2, sizeof e2);
    if (accepted)
        *accepted = full != NULL;
    if (full && !kept) {
        diff = "the keep parse refused what the full parse accepted";
    } else if (full && spec) {
        json_t *want = jsontext_diff_prune(full, spec);
        if (!json_equal(kept, want))
            diff = "the kept tree differs from the full one pruned to the spec";
        json_decref(want);
    } else if (!full && !strstr(e1, "duplicate object key")) {
        if (kept)
            diff = "the keep parse accepted what the full parse refused";
        else if (strcmp(e1, e2) != 0)
            diff = "the keep parse refused with another error";
    }
    json_decref(full);
    json_decref(kept);
    return diff;
}

#endif
