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

/* Values are not UTF-8 checked here: jansson checks every string again when
 * it dumps, so an invalid one fails the dump (resp_json answers 500) instead
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

/* Appends with an inline fast path when the bytes fit the buffer's current
 * capacity (keeping buf_t's NUL termination); buf_append grows it otherwise.
 * Most tokens are a few bytes, so the call overhead mattered. */
static inline int put(buf_t *b, const void *p, size_t n)
{
    if (b->data && b->len + n < b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
    }
    return buf_append(b, p, n);
}

/* Length of a valid UTF-8 sequence starting at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    /* overlong forms, surrogates and > U+10FFFF are invalid */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int dump_string(const char *str, size_t n, buf_t *b)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    if (put(b, "\"", 1))
        return BUF_ETOOBIG;
    while (s < end) {
        const unsigned char *run = s;
        while (s < end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        if (s > run && put(b, run, (size_t)(s - run)))
            return BUF_ETOOBIG;
        if (s == end)
            break;
        char esc[8];
        size_t elen = 2;
        esc[0] = '\\';
        switch (*s) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (*s < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*s >> 4];
                esc[5] = hex[*s & 15];
                elen = 6;
            } else { /* >= 0x80: copy a valid sequence, replace an invalid byte */
                size_t l = utf8_len(s, (size_t)(end - s));
                if (l) {
                    if (put(b, s, l))
                        return BUF_ETOOBIG;
                    s += l;
                } else {
                    if (put(b, "\xEF\xBF\xBD", 3))
                        return BUF_ETOOBIG;
                    s++;
                }
                continue;
            }
        }
        if (put(b, esc, elen))
            return BUF_ETOOBIG;
        s++;
    }
    return put(b, "\"", 1) ? BUF_ETOOBIG : 0;
}

static int dump_rec(const json_t *v, buf_t *b, int depth)
{
    char num[40];
    if (depth > 64)
        return BUF_ETOOBIG;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        if (put(b, "{", 1))
            return BUF_ETOOBIG;
        json_object_foreach((json_t *)v, k, x) {
            if ((!first && put(b, ",", 1)) || dump_string(k, strlen(k), b) || put(b, ":", 1) ||
                dump_rec(x, b, depth + 1))
                return BUF_ETOOBIG;
            first = 0;
        }
        return put(b, "}", 1) ? BUF_ETOOBIG : 0;
    }
    case JSON_ARRAY: {
        if (put(b, "[", 1))
            return BUF_ETOOBIG;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i && put(b, ",", 1)) || dump_rec(json_array_get(v, i), b, depth + 1))
                return BUF_ETOOBIG;
        return put(b, "]", 1) ? BUF_ETOOBIG : 0;
    }
    case JSON_STRING: return dump_string(json_string_value(v), json_string_length(v), b);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return put(b, num, strlen(num)) ? BUF_ETOOBIG : 0;
    case JSON_REAL: {
        int n = snprintf(num, sizeof num, "%.17g", json_real_value(v));
        char *e = strchr(num, 'e');
        if (e) { /* jansson's form: no '+' and no leading zeros in the exponent */
            char *d = e + 1, *src = e + 1;
            if (*src == '-')
                d++, src++;
            else if (*src == '+')
                src++;
            while (*src == '0' && src[1])
                src++;
            memmove(d, src, strlen(src) + 1);
        } else if (n > 0 && !strpbrk(num, ".n")) { /* keep it a real */
            snprintf(num + n, sizeof num - (size_t)n, ".0");
        }
        return put(b, num, strlen(num)) ? BUF_ETOOBIG : 0;
    }
    case JSON_TRUE: return put(b, "true", 4) ? BUF_ETOOBIG : 0;
    case JSON_FALSE: return put(b, "false", 5) ? BUF_ETOOBIG : 0;
    default: return put(b, "null", 4) ? BUF_ETOOBIG : 0;
    }
}

int sb_dump(const json_t *v, buf_t *b)
{
    return dump_rec(v, b, 0);
}
