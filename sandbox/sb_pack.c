/* sb_pack: see sb_pack.h. A recursive walk over the format string. */
#include "sb_pack.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void skip_sep(const char **f)
{
    while (**f == ' ' || **f == ':' || **f == ',')
        (*f)++;
}

/* Values are not UTF-8 checked here: the dump (jsontext_dump_buf) checks every
 * string, so an invalid one fails it (sb_respond_json answers 500) instead
 * of costing a scan at creation. Text that can carry raw client bytes (error
 * messages quoting a query parameter) goes through sb_err_* which checks. */
static json_t *str_value(const char *s, size_t n, int with_len)
{
    if (!s)
        return json_string_nocheck("");
    return with_len ? json_stringn_nocheck(s, n) : json_string_nocheck(s);
}

static json_t *pack_value(const char **f, va_list *ap, int depth);

static json_t *pack_object(const char **f, va_list *ap, int depth)
{
    json_t *o = json_object();
    for (;;) {
        skip_sep(f);
        if (**f == '}' || !**f) {
            if (**f)
                (*f)++;
            return o;
        }
        (*f)++; /* 's': the key */
        const char *key = va_arg(*ap, const char *);
        skip_sep(f);
        json_t *v = pack_value(f, ap, depth + 1);
        json_object_set_new_nocheck(o, key, v);
    }
}

static json_t *pack_array(const char **f, va_list *ap, int depth)
{
    json_t *a = json_array();
    for (;;) {
        skip_sep(f);
        if (**f == ']' || !**f) {
            if (**f)
                (*f)++;
            return a;
        }
        json_array_append_new(a, pack_value(f, ap, depth + 1));
    }
}

static json_t *pack_value(const char **f, va_list *ap, int depth)
{
    char ch = **f;
    if (depth > 16) /* formats are literals in this program; a bound all the same */
        abort();
    (*f)++;
    switch (ch) {
    case '{': return pack_object(f, ap, depth);
    case '[': return pack_array(f, ap, depth);
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (**f == '%') {
            (*f)++;
            size_t n = va_arg(*ap, size_t);
            return str_value(s, n, 1);
        }
        return str_value(s, 0, 0);
    }
    case 'i': return json_integer(va_arg(*ap, int));
    case 'I': return json_integer(va_arg(*ap, json_int_t));
    case 'b': return json_boolean(va_arg(*ap, int));
    case 'f': return json_real(va_arg(*ap, double));
    case 'o': {
        json_t *v = va_arg(*ap, json_t *);
        return v ? v : json_null();
    }
    case 'n': return json_null();
    default: abort(); /* a programming error in a format literal */
    }
}

json_t *sb_pack(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *f = fmt;
    skip_sep(&f);
    json_t *v = pack_value(&f, &ap, 0);
    va_end(ap);
    return v;
}

