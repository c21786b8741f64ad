/* schema: see schema.h. Recursive over the schema; depth is bounded by the
 * catalog's own schemas (trusted data) and by the argument JSON's depth
 * limit (jsontext_parse), so recursion cannot run away. */
#include "schema.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "jsontext.h"
#include "clock.h"

#define PTR_MAX 256

static int fail(char *err, size_t errsz, const char *ptr, const char *fmt, const char *a, double num)
{
    char msg[256];
    if (a)
        snprintf(msg, sizeof msg, fmt, a);
    else
        snprintf(msg, sizeof msg, fmt, num);
    snprintf(err, errsz, "%s: %s", *ptr ? ptr : "/", msg);
    return -1;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return 1;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && floor(d) == d && fabs(d) < 9007199254740992.0;
    }
    return 0;
}

static int type_matches(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0) return json_is_object(v);
    if (strcmp(t, "array") == 0) return json_is_array(v);
    if (strcmp(t, "string") == 0) return json_is_string(v);
    if (strcmp(t, "number") == 0) return json_is_number(v);
    if (strcmp(t, "integer") == 0) return is_integral(v);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "null") == 0) return json_is_null(v);
    return 0;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int date_ok(const char *s)
{
    if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return 0;
    int mo = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}

int schema_format_ok(const char *format, const char *s)
{
    if (strcmp(format, "date") == 0)
        return strlen(s) == 10 && date_ok(s);
    if (strcmp(format, "date-time") == 0) {
        int64_t ms;
        return date_ok(s) && (s[10] == 'T' || s[10] == 't') && clock_parse_iso(s, &ms) == 0;
    }
    if (strcmp(format, "email") == 0) {
        const char *at = strchr(s, '@');
        return at && at != s && !strchr(at + 1, '@') && strchr(at + 1, '.') && at[1] != '.' &&
               s[strlen(s) - 1] != '.' && !strpbrk(s, " \t\r\n<>");
    }
    if (strcmp(format, "uri") == 0) {
        const char *c = strchr(s, ':');
        if (!c || c == s || !isalpha((unsigned char)s[0]) || strpbrk(s, " \t\r\n"))
            return 0;
        for (const char *p = s; p < c; p++)
            if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
                return 0;
        return 1;
    }
    return -1;
}

/* ---- pattern ----
 * The catalog's patterns (its argument kinds) are anchored regular
 * expressions in the common subset of ECMA-262 (what MCP clients read) and
 * POSIX extended syntax (what regcomp compiles): character classes, groups,
 * alternation and bounded repetition. Each distinct pattern is compiled
 * once per process and kept. */
#define PATTERNS_MAX 32

static struct {
    char *src;
    regex_t re;
} patterns[PATTERNS_MAX];
static int npatterns;

/* The compiled form of pattern, or NULL when it is not anchored, does not
 * compile, or the table is full. */
static const regex_t *pattern_get(const char *pattern)
{
    for (int i = 0; i < npatterns; i++)
        if (strcmp(patterns[i].src, pattern) == 0)
            return &patterns[i].re;
    size_t n = strlen(pattern);
    if (npatterns == PATTERNS_MAX || n < 2 || pattern[0] != '^' || pattern[n - 1] != '$' ||
        strchr(pattern, '\\') || strstr(pattern, "(?"))
        return NULL;
    if (regcomp(&patterns[npatterns].re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return NULL;
    patterns[npatterns].src = strdup(pattern);
    return &patterns[npatterns++].re;
}

int schema_pattern_ok(const char *pattern, const char *s, size_t len)
{
    const regex_t *re = pattern_get(pattern);
    if (!re)
        return -1;
    /* An embedded NUL would hide the rest of the string from regexec. */
    return strlen(s) == len && regexec(re, s, 0, NULL, 0) == 0;
}

static int validate(const json_t *sc, const json_t *v, char *ptr, size_t plen, char *err, size_t errsz);

static int child(const json_t *sc, const json_t *v, char *ptr, size_t plen, const char *seg, char *err,
                 size_t errsz)
{
    size_t n = strlen(ptr);
    if (n + 2 + strlen(seg) < plen) {
        ptr[n] = '/';
        /* JSON pointer escaping: ~ -> ~0, / -> ~1 */
        size_t j = n + 1;
        for (const char *p = seg; *p && j + 3 < plen; p++) {
            if (*p == '~') { ptr[j++] = '~'; ptr[j++] = '0'; }
            else if (*p == '/') { ptr[j++] = '~'; ptr[j++] = '1'; }
            else ptr[j++] = *p;
        }
        ptr[j] = 0;
    }
    int rc = validate(sc, v, ptr, plen, err, errsz);
    ptr[n] = 0;
    return rc;
}

static int check_type(const json_t *t, const json_t *v, const char *ptr, char *err, size_t errsz)
{
    if (json_is_string(t)) {
        if (!type_matches(json_string_value(t), v)) {
            char m[128];
            snprintf(m, sizeof m, "must be %s, got %s", json_string_value(t), jsontext_type_name(v));
            return fail(err, errsz, ptr, "%s", m, 0);
        }
        return 0;
    }
    if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) {
            if (json_is_string(e) && type_matches(json_string_value(e), v))
                return 0;
        }
        char m[160] = "must be one of the types";
        size_t off = strlen(m);
        json_array_foreach(t, i, e) {
            if (json_is_string(e) && off < sizeof m - 2)
                off += (size_t)snprintf(m + off, sizeof m - off, " %s", json_string_value(e));
        }
        if (off < sizeof m)
            snprintf(m + off, sizeof m - off, ", got %s", jsontext_type_name(v));
        return fail(err, errsz, ptr, "%s", m, 0);
    }
    return 0;
}

static int validate(const json_t *sc, const json_t *v, char *ptr, size_t plen, char *err, size_t errsz)
{
    if (json_is_true(sc))
        return 0;
    if (json_is_false(sc))
        return fail(err, errsz, ptr, "%s", "no value is allowed here", 0);
    if (!json_is_object(sc))
        return 0;

    const json_t *k;
    if ((k = json_object_get(sc, "type")) && check_type(k, v, ptr, err, errsz))
        return -1;
    if ((k = json_object_get(sc, "const")) && !json_equal((json_t *)k, (json_t *)v))
        return fail(err, errsz, ptr, "%s", "must equal the constant value", 0);
    if ((k = json_object_get(sc, "enum")) && json_is_array(k)) {
        size_t i;
        json_t *e;
        int found = 0;
        json_array_foreach(k, i, e) {
            if (json_equal(e, (json_t *)v)) {
                found = 1;
                break;
            }
        }
        if (!found) {
            char m[200] = "must be one of:";
            size_t off = strlen(m);
            json_array_foreach(k, i, e) {
                char *d = jsontext_dump(e);
                if (d && off < sizeof m - 8)
                    off += (size_t)snprintf(m + off, sizeof m - off, "%s %s", i ? "," : "", d);
                free(d);
            }
            return fail(err, errsz, ptr, "%s", m, 0);
        }
    }

    if (json_is_number(v)) {
        double d = json_number_value(v);
        if ((k = json_object_get(sc, "minimum")) && json_is_number(k) && d < json_number_value(k))
            return fail(err, errsz, ptr, "must be >= %g", NULL, json_number_value(k));
        if ((k = json_object_get(sc, "maximum")) && json_is_number(k) && d > json_number_value(k))
            return fail(err, errsz, ptr, "must be <= %g", NULL, json_number_value(k));
        if ((k = json_object_get(sc, "exclusiveMinimum")) && json_is_number(k) && d <= json_number_value(k))
            return fail(err, errsz, ptr, "must be > %g", NULL, json_number_value(k));
        if ((k = json_object_get(sc, "exclusiveMaximum")) && json_is_number(k) && d >= json_number_value(k))
            return fail(err, errsz, ptr, "must be < %g", NULL, json_number_value(k));
    }

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = utf8_len(s);
        if ((k = json_object_get(sc, "minLength")) && json_is_integer(k) &&
            (json_int_t)n < json_integer_value(k))
            return fail(err, errsz, ptr, "must be at least %g characters long", NULL,
                        (double)json_integer_value(k));
        if ((k = json_object_get(sc, "maxLength")) && json_is_integer(k) &&
            (json_int_t)n > json_integer_value(k))
            return fail(err, errsz, ptr, "must be at most %g characters long", NULL,
                        (double)json_integer_value(k));
        if ((k = json_object_get(sc, "format")) && json_is_string(k) &&
            schema_format_ok(json_string_value(k), s) == 0)
            return fail(err, errsz, ptr, "must be a valid %s", json_string_value(k), 0);
        if ((k = json_object_get(sc, "pattern")) && json_is_string(k) &&
            schema_pattern_ok(json_string_value(k), s, json_string_length(v)) != 1)
            return fail(err, errsz, ptr, "must match the pattern %s", json_string_value(k), 0);
    }

    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if ((k = json_object_get(sc, "minItems")) && json_is_integer(k) && (json_int_t)n < json_integer_value(k))
            return fail(err, errsz, ptr, "must have at least %g items", NULL, (double)json_integer_value(k));
        if ((k = json_object_get(sc, "maxItems")) && json_is_integer(k) && (json_int_t)n > json_integer_value(k))
            return fail(err, errsz, ptr, "must have at most %g items", NULL, (double)json_integer_value(k));
        if ((k = json_object_get(sc, "uniqueItems")) && json_is_true(k)) {
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                    if (json_equal(json_array_get(v, i), json_array_get(v, j)))
                        return fail(err, errsz, ptr, "%s", "must not contain duplicate items", 0);
        }
        if ((k = json_object_get(sc, "items")) && (json_is_object(k) || json_is_boolean(k))) {
            for (size_t i = 0; i < n; i++) {
                char seg[24];
                snprintf(seg, sizeof seg, "%zu", i);
                if (child(k, json_array_get(v, i), ptr, plen, seg, err, errsz))
                    return -1;
            }
        }
    }

    if (json_is_object(v)) {
        const json_t *props = json_object_get(sc, "properties");
        if ((k = json_object_get(sc, "required")) && json_is_array(k)) {
            size_t i;
            json_t *e;
            json_array_foreach(k, i, e) {
                if (json_is_string(e) && !json_object_get(v, json_string_value(e)))
                    return fail(err, errsz, ptr, "missing required property '%s'", json_string_value(e), 0);
            }
        }
        const json_t *addl = json_object_get(sc, "additionalProperties");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            const json_t *ps = json_is_object(props) ? json_object_get(props, key) : NULL;
            if (ps) {
                if (child(ps, val, ptr, plen, key, err, errsz))
                    return -1;
            } else if (json_is_false(addl)) {
                return fail(err, errsz, ptr, "unknown property '%s'", key, 0);
            } else if (json_is_object(addl)) {
                if (child(addl, val, ptr, plen, key, err, errsz))
                    return -1;
            }
        }
    }

    if ((k = json_object_get(sc, "allOf")) && json_is_array(k)) {
        size_t i;
        json_t *e;
        json_array_foreach(k, i, e) {
            if (validate(e, v, ptr, plen, err, errsz))
                return -1;
        }
    }
    if ((k = json_object_get(sc, "anyOf")) && json_is_array(k)) {
        size_t i;
        json_t *e;
        char first[256] = "";
        json_array_foreach(k, i, e) {
            if (validate(e, v, ptr, plen, i ? err : first, i ? errsz : sizeof first) == 0)
                return 0;
        }
        snprintf(err, errsz, "%s", first);
        return -1;
    }
    if ((k = json_object_get(sc, "oneOf")) && json_is_array(k)) {
        size_t i;
        json_t *e;
        int matches = 0;
        char first[256] = "";
        json_array_foreach(k, i, e) {
            if (validate(e, v, ptr, plen, first, sizeof first) == 0)
                matches++;
        }
        if (matches == 1)
            return 0;
        if (matches == 0) {
            snprintf(err, errsz, "%s", first);
            return -1;
        }
        return fail(err, errsz, ptr, "%s", "matches more than one of the allowed forms", 0);
    }
    return 0;
}

int schema_validate(const json_t *schema, const json_t *v, char *err, size_t errsz)
{
    char ptr[PTR_MAX] = "";
    if (errsz)
        err[0] = 0;
    return validate(schema, v, ptr, sizeof ptr, err, errsz);
}

/* ---------------------------------------------------------------- supported */

static const char *const known_kw[] = {
    "type", "enum", "const", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "uniqueItems", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "format", "pattern", "anyOf", "oneOf", "allOf",
    "title", "description", "default", "examples", "$schema", "$comment", "deprecated",
    "readOnly", "writeOnly", NULL};

static int kw_known(const char *k)
{
    for (int i = 0; known_kw[i]; i++)
        if (strcmp(known_kw[i], k) == 0)
            return 1;
    return 0;
}

static int supported(const json_t *sc, const char *where, char *err, size_t errsz)
{
    if (json_is_boolean(sc))
        return 0;
    if (!json_is_object(sc)) {
        snprintf(err, errsz, "%s: a schema must be an object or boolean", where);
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)sc, key, val) {
        char sub[256];
        if (!kw_known(key)) {
            snprintf(err, errsz, "%s: unsupported keyword '%s'", where, key);
            return -1;
        }
        if (strcmp(key, "properties") == 0) {
            if (!json_is_object(val)) {
                snprintf(err, errsz, "%s: properties must be an object", where);
                return -1;
            }
            const char *pk;
            json_t *pv;
            json_object_foreach(val, pk, pv) {
                snprintf(sub, sizeof sub, "%s/properties/%s", where, pk);
                if (supported(pv, sub, err, errsz))
                    return -1;
            }
        } else if (strcmp(key, "items") == 0 || strcmp(key, "additionalProperties") == 0) {
            snprintf(sub, sizeof sub, "%s/%s", where, key);
            if (supported(val, sub, err, errsz))
                return -1;
        } else if (strcmp(key, "anyOf") == 0 || strcmp(key, "oneOf") == 0 || strcmp(key, "allOf") == 0) {
            size_t i;
            json_t *e;
            if (!json_is_array(val) || json_array_size(val) == 0) {
                snprintf(err, errsz, "%s: %s must be a non-empty array", where, key);
                return -1;
            }
            json_array_foreach(val, i, e) {
                snprintf(sub, sizeof sub, "%s/%s/%zu", where, key, i);
                if (supported(e, sub, err, errsz))
                    return -1;
            }
        } else if (strcmp(key, "format") == 0) {
            if (!json_is_string(val) || schema_format_ok(json_string_value(val), "") < 0) {
                snprintf(err, errsz, "%s: unsupported format", where);
                return -1;
            }
        } else if (strcmp(key, "pattern") == 0) {
            if (!json_is_string(val) || schema_pattern_ok(json_string_value(val), "", 0) < 0) {
                snprintf(err, errsz, "%s: pattern must be an anchored (^...$) regular expression without "
                         "backslashes or (?", where);
                return -1;
            }
        } else if (strcmp(key, "required") == 0 || strcmp(key, "enum") == 0) {
            if (!json_is_array(val)) {
                snprintf(err, errsz, "%s: %s must be an array", where, key);
                return -1;
            }
        }
    }
    return 0;
}

int schema_check_supported(const json_t *schema, char *err, size_t errsz)
{
    return supported(schema, "#", err, errsz);
}
