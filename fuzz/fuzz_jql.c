/* libFuzzer target: JQL field translation (worker/wk_jql.c, wk_jql_rewrite).
 * The input is a JQL query; it is rewritten against a fixed field list like
 * GET /rest/api/3/field returns (system and custom fields, names with spaces
 * and quotes), with and without project scoping, and the closest-name
 * suggestions are computed for it too. Build and run: make fuzz
 * (FUZZ_FILTER=jql). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wk_jql.h"

static json_t *fields, *projects;

static const char FIELDS[] =
    "[{\"id\":\"summary\",\"name\":\"Summary\",\"custom\":false,\"clauseNames\":[\"summary\"]},"
    "{\"id\":\"status\",\"name\":\"Status\",\"custom\":false,\"clauseNames\":[\"status\"]},"
    "{\"id\":\"project\",\"name\":\"Project\",\"custom\":false,\"clauseNames\":[\"project\"]},"
    "{\"id\":\"created\",\"name\":\"Created\",\"custom\":false,\"clauseNames\":[\"created\",\"createdDate\"]},"
    "{\"id\":\"customfield_10010\",\"name\":\"Request Type\",\"custom\":true,"
    "\"clauseNames\":[\"cf[10010]\",\"Request Type\"]},"
    "{\"id\":\"customfield_10020\",\"name\":\"Time to resolution\",\"custom\":true,"
    "\"clauseNames\":[\"cf[10020]\"]},"
    "{\"id\":\"customfield_10030\",\"name\":\"Odd \\\"quoted\\\" name\",\"custom\":true,"
    "\"clauseNames\":[\"cf[10030]\"]}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512], near[256];
    if (!fields) {
        fields = json_loads(FIELDS, 0, NULL);
        projects = json_pack("[ss]", "ITSM", "HR");
        if (!fields || !projects)
            abort();
    }
    if (size > WK_JQL_MAX + 16)
        return 0;
    char *q = malloc(size + 1);
    if (!q)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';
    free(wk_jql_rewrite(q, fields, NULL, err, sizeof err));
    free(wk_jql_rewrite(q, fields, projects, err, sizeof err));
    free(wk_jql_rewrite(q, NULL, projects, err, sizeof err));
    wk_jql_field_id(fields, q);
    wk_jql_closest(fields, q, 3, near, sizeof near);
    free(q);
    return 0;
}
