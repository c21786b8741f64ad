/* libFuzzer target: tool argument validation (worker/schema.c). The input
 * is a JSON array [schema, value]: both sides are fuzzed, so the validator
 * must survive any schema (a tool catalog is data) as well as any argument.
 * A second pass validates the value against every input schema of the real
 * catalog. Build and run: make fuzz (FUZZ_FILTER=schema). */
#include <stdint.h>
#include <stdlib.h>

#include "fz_catalog.h"
#include "jsontext.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    const wk_catalog_t *cat = fz_catalog();
    json_t *in = jsontext_parse((const char *)data, size, 32, err, sizeof err);
    if (!in)
        return 0;
    if (json_is_array(in) && json_array_size(in) == 2) {
        const json_t *schema = json_array_get(in, 0), *v = json_array_get(in, 1);
        schema_check_supported(schema, err, sizeof err);
        schema_validate(schema, v, err, sizeof err);
        for (size_t i = 0; i < cat->n; i++)
            schema_validate(cat->tools[i].input_schema, v, err, sizeof err);
    } else if (json_is_string(in)) {
        static const char *const formats[] = {"date-time", "date", "email", "uri", "x"};
        for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
            schema_format_ok(formats[i], json_string_value(in));
    }
    json_decref(in);
    return 0;
}
