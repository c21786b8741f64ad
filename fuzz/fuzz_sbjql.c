/* libFuzzer target: the sandbox's JQL (sandbox/sb_jql*.c), which parses
 * whatever the tests, the worker and the benchmarks send it as the JSM site.
 * The input is a query, parsed against the seed-1 data set; a query that
 * parses is run over every issue with its ORDER BY (sb_jql_run), one that
 * does not must say why. Build and run: make fuzz (FUZZ_FILTER=sbjql). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sb_jql.h"
#include "sb_jql_order.h"
#include "sb_seed.h"

#define ANCHOR 1790000000000LL

static sb_data_t *data;

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
    if (!data)
        data = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    if (size > SB_JQL_MAX_LEN + 16)
        return 0;
    char *q = malloc(size + 1);
    if (!q)
        abort();
    memcpy(q, buf, size);
    q[size] = 0;
    char err[600] = "";
    sb_jql_t *j = NULL;
    if (sb_jql_parse(data, q, &j, err, sizeof err) == 0) {
        sb_jql_env_t env = {data, data->caller, ANCHOR};
        sb_issue_t **v = NULL;
        size_t n = sb_jql_run(j, &env, &v);
        if (n > (size_t)data->nissues)
            abort();
        for (size_t i = 1; i < n; i++) /* every match once */
            if (v[i] == v[i - 1])
                abort();
        free(v);
        sb_jql_free(j);
    } else if (j || !err[0] || !memchr(err, 0, sizeof err)) {
        abort(); /* a refusal leaves no query and says why */
    }
    free(q);
    return 0;
}
