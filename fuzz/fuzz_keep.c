/* libFuzzer target: jsontext_parse_keep, the parser of every JSM answer a tool
 * call reads (the site is not trusted: wk_result.c parses its answers with
 * the tool's keep paths, depth 64). Differential (tests/unit/common/
 * jsontext_diff.h): against the full parse, with the same acceptance and the same
 * errors, and a kept tree that is the full one pruned to the keep paths.
 * The input's first line is a keep spec (a JSON object: a member true keeps
 * that key whole, an object member keeps the key with its own spec), the
 * rest the document; the document is also parsed with the keep paths of
 * every tool of the embedded catalog. Build and run: make fuzz
 * (FUZZ_FILTER=keep). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/common/jsontext_diff.h"
#include "fz_catalog.h"
#include "jsontext.h"

#define UPSTREAM_DEPTH 64 /* wk_result.h's WK_UPSTREAM_DEPTH */

static void fz_check(const char *what, const char *diff, size_t size)
{
    if (!diff)
        return;
    fprintf(stderr, "fuzz_keep: %s: %s (%zu bytes)\n", what, diff, size);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    const char *doc = nl ? nl + 1 : s;
    size_t n = size - (size_t)(doc - s);
    char err[256];
    json_t *spec = nl ? jsontext_parse(s, (size_t)(nl - s), 8, err, sizeof err) : NULL;
    if (json_is_object(spec)) {
        jsontext_keep_t *k = jsontext_keep_new();
        jsontext_diff_spec_to_keep(k, spec);
        fz_check("the input's spec", jsontext_diff_parse_keep(doc, n, UPSTREAM_DEPTH, k, spec, NULL), size);
        fz_check("the input's spec, depth 3", jsontext_diff_parse_keep(doc, n, 3, k, spec, NULL), size);
        jsontext_keep_free(k);
    }
    json_decref(spec);
    const wk_catalog_t *cat = fz_catalog();
    for (size_t i = 0; i < cat->n; i++)
        if (cat->tools[i].keep)
            fz_check(cat->tools[i].name, jsontext_diff_parse_keep(doc, n, UPSTREAM_DEPTH, cat->tools[i].keep, NULL, NULL),
                     size);
    return 0;
}
