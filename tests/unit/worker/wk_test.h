/* wk_test: helpers the worker's unit tests share (one copy, not one per
 * test file). Static functions in a header: each test binary is one .c
 * file, and Criterion's asserts must run in the calling test. */
#ifndef JSMCP_WK_TEST_H
#define JSMCP_WK_TEST_H

#include <criterion/criterion.h>
#include <string.h>

#include "jsontext.h"
#include "wk_catalog.h"

/* The JSON text s parsed (a test's own literal: bad JSON fails the test). */
static inline json_t *J(const char *s)
{
    char err[200];
    json_t *v = jsontext_parse(s, strlen(s), 64, err, sizeof err);
    cr_assert(v, "bad test JSON: %s", err);
    return v;
}

/* The tool catalog built into the worker (worker/catalog.json). */
static inline wk_catalog_t *cat(void)
{
    wk_catalog_t *c = NULL;
    char err[300] = "";
    cr_assert_eq(wk_catalog_load_embedded(&c, err, sizeof err), 0, "%s", err);
    return c;
}

#endif
