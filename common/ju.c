#include "ju.h"

#include <stdio.h>
#include <string.h>

int ju_depth(const char *s, size_t n)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return max;
}

json_t *ju_parse(const char *s, size_t n, int max_depth, char *err, size_t errsz)
{
    json_error_t je;
    if (max_depth <= 0)
        max_depth = JU_MAX_DEPTH_DEFAULT;
    if (n == 0) {
        snprintf(err, errsz, "empty body: a JSON value is required");
        return NULL;
    }
    if (memchr(s, 0, n)) {
        snprintf(err, errsz, "invalid JSON: NUL byte in input");
        return NULL;
    }
    int d = ju_depth(s, n);
    if (d > max_depth) {
        snprintf(err, errsz, "JSON nested deeper than %d levels", max_depth);
        return NULL;
    }
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        snprintf(err, errsz, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    return v;
}

const char *ju_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long ju_int(const json_t *obj, const char *key, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

int ju_bool(const json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

char *ju_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

const char *ju_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}
