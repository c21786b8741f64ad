/* The worker's embedded tool catalog, loaded once per fuzzing process
 * (fuzz_jsonrpc, fuzz_schema). A catalog that does not load is a build
 * problem, not a finding: abort. */
#ifndef JSMCP_FZ_CATALOG_H
#define JSMCP_FZ_CATALOG_H

#include <stdlib.h>

#include "wk_catalog.h"

static inline const wk_catalog_t *fz_catalog(void)
{
    static wk_catalog_t *cat;
    char err[256];
    if (!cat && wk_catalog_load_embedded(&cat, err, sizeof err) != 0)
        abort();
    return cat;
}

#endif
