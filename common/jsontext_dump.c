/* jsontext_dump: the serializer of jsontext (see jsontext_dump.h for the
 * contract, and the design note at the top of jsontext.c for why it exists
 * and how it is held to jansson's output).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext_dump.h"
#include "jsontext_int.h"

/* ------------------------------------------------------------ serializer */

/* Output is staged here and appended to the buf_t in large chunks. */
typedef struct {
    buf_t *b;
    size_t n;
    int full; /* b's limit was hit */
    char tmp[4096];
} jsontext_out_t;

static void jo_flush(jsontext_out_t *o)
{
    if (o->n && !o->full && buf_append(o->b, o->tmp, o->n) != 0)
        o->full = 1;
    o->n = 0;
}

static void jo_put(jsontext_out_t *o, const void *s, size_t n)
{
    if (n > sizeof o->tmp - o->n) {
        jo_flush(o);
        if (n > sizeof o->tmp) {
            if (!o->full && buf_append(o->b, s, n) != 0)
                o->full = 1;
            return;
        }
    }
    memcpy(o->tmp + o->n, s, n);
    o->n += n;
}

static void jo_putc(jsontext_out_t *o, char c)
{
    if (o->n == sizeof o->tmp)
        jo_flush(o);
    o->tmp[o->n++] = c;
}

/* Takes back the last n bytes written (staged or already in the buf_t). */
static void jo_unput(jsontext_out_t *o, size_t n)
{
    if (n <= o->n) {
        o->n -= n;
        return;
    }
    n -= o->n;
    o->n = 0;
    if (!o->full && o->b->data) {
        o->b->len -= n;
        o->b->data[o->b->len] = 0;
    }
}

typedef enum {
    JO_LENIENT, /* invalid UTF-8 bytes become U+FFFD (jsontext_dump_string) */
    JO_VALUE,   /* invalid UTF-8 fails the dump (json_dumps) */
    JO_KEY      /* invalid UTF-8: jansson's output for a member name, see below */
} jo_mode_t;

/* jo_string's fast path: 16 bytes a step while they need at most a
 * backslash ('"' and '\\'), written straight into the staging buffer; a
 * step with a byte < 0x20 or >= 0x80 (an escape sequence, or UTF-8 to
 * check) stops it. Returns where it stopped. A tool result's text is the
 * dump of its structured content as one string, about one quote every
 * 20-40 bytes: this is most of what answering a tool call writes. */
static const unsigned char *jo_ascii(jsontext_out_t *o, const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        if (_mm_movemask_epi8(_mm_cmplt_epi8(x, space))) /* signed: < 0x20 or >= 0x80 */
            break;
        unsigned q = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));
        if (o->n > sizeof o->tmp - 32)
            jo_flush(o);
        char *t = o->tmp + o->n;
        if (!q) {
            _mm_storeu_si128((__m128i *)(void *)t, x);
            o->n += 16;
        } else {
            char *t0 = t;
            for (int i = 0; i < 16; i++) { /* a backslash, overwritten unless c needs it */
                unsigned e = (q >> i) & 1;
                t[0] = '\\';
                t[e] = (char)p[i];
                t += 1 + e;
            }
            o->n += (size_t)(t - t0);
        }
        p += 16;
    }
#endif
    return p;
}

/* A string literal. Returns -1 if a JO_VALUE string is not UTF-8.
 *
 * json_dumps ignores the failure of a member name that is not UTF-8 (only
 * the *_nocheck setters make one): its string writer has by then written the
 * opening quote and everything up to the last escape, but neither the plain
 * text after it nor the closing quote, and the dump goes on with ':' and the
 * value ({"ab\n:true} for the name "ab\ncd\xff"). JO_KEY writes the same:
 * tail counts the bytes written since the last escape, to take back. */
static int jo_string(jsontext_out_t *o, const char *str, size_t len, jo_mode_t mode)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)str, *end = p + len;
    size_t tail = 0;
    jo_putc(o, '"');
    for (;;) {
        if (mode != JO_KEY) /* JO_KEY counts tail, which the fast path does not */
            p = jo_ascii(o, p, end);
        const unsigned char *q = jsontext_skip_plain(p, end);
        if (q > p) {
            jo_put(o, p, (size_t)(q - p));
            tail += (size_t)(q - p);
        }
        p = q;
        if (p >= end)
            break;
        unsigned c = *p;
        if (c >= 0x80) {
            size_t k = jsontext_utf8_len(p, end);
            if (k) {
                jo_put(o, p, k);
                tail += k;
                p += k;
                continue;
            }
            if (mode == JO_VALUE)
                return -1;
            if (mode == JO_KEY) {
                jo_unput(o, tail);
                return 0;
            }
            jo_put(o, "\xEF\xBF\xBD", 3);
            p++;
            continue;
        }
        char e[6] = {'\\', 0};
        size_t en = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default: /* other control characters, as jansson's "\\u%04X" */
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            en = 6;
        }
        jo_put(o, e, en);
        tail = 0;
        p++;
    }
    jo_putc(o, '"');
    return 0;
}

static void jo_integer(jsontext_out_t *o, json_int_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    jo_put(o, tmp + i, sizeof tmp - i);
}

/* jansson 2.14's jsonp_dtostr (the build without dtoa): "%.17g", the
 * locale's decimal point back to '.', ".0" when the text has neither '.'
 * nor 'e', and the exponent without '+' and leading zeros. */
static int jo_real(jsontext_out_t *o, double v)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof buf - 3)
        return -1;
    int has_dot = 0, epos = -1;
    for (int i = 0; i < n; i++) {
        char c = buf[i];
        if (c == 'e')
            epos = i;
        else if (!(c >= '0' && c <= '9') && c != '-' && c != '+')
            buf[i] = '.', has_dot = 1; /* the locale's decimal point */
    }
    if (!has_dot && epos < 0) {
        buf[n++] = '.';
        buf[n++] = '0';
    }
    if (epos >= 0) {
        /* e[+-]dd..: drop '+', keep '-', drop leading zeros of the digits. */
        char *start = buf + epos + 1, *q = start + 1;
        if (*start == '-')
            start++;
        while (*q == '0')
            q++;
        if (q != start) {
            memmove(start, q, (size_t)(buf + n - q));
            n -= (int)(q - start);
        }
    }
    jo_put(o, buf, (size_t)n);
    return 0;
}

typedef struct {
    const json_t *v;
    void *iter;  /* objects: the next member, NULL when done */
    size_t i, n; /* arrays: the next index and the size; objects: i = members done */
} jsontext_frame_t;

static int jo_value(jsontext_out_t *o, const json_t *root)
{
    jsontext_frame_t local[32], *st = local;
    size_t cap = sizeof local / sizeof *local, top = 0;
    const json_t *v = root;
    int rc = -1;
    for (;;) {
        if (!v || o->full)
            goto out;
        switch (json_typeof(v)) {
        case JSON_NULL: jo_put(o, "null", 4); break;
        case JSON_TRUE: jo_put(o, "true", 4); break;
        case JSON_FALSE: jo_put(o, "false", 5); break;
        case JSON_INTEGER: jo_integer(o, json_integer_value(v)); break;
        case JSON_REAL:
            if (jo_real(o, json_real_value(v)))
                goto out;
            break;
        case JSON_STRING:
            if (jo_string(o, json_string_value(v), json_string_length(v), JO_VALUE))
                goto out;
            break;
        case JSON_OBJECT:
        case JSON_ARRAY: {
            /* A container that is its own ancestor: json_dumps fails too. */
            for (size_t k = 0; k < top; k++)
                if (st[k].v == v)
                    goto out;
            jsontext_frame_t f = {v, NULL, 0, 0};
            if (json_is_object(v)) {
                jo_putc(o, '{');
                f.iter = json_object_iter((json_t *)v);
                if (!f.iter) {
                    jo_putc(o, '}');
                    break;
                }
            } else {
                jo_putc(o, '[');
                f.n = json_array_size(v);
                if (!f.n) {
                    jo_putc(o, ']');
                    break;
                }
            }
            if (top == cap) {
                jsontext_frame_t *nst = malloc(2 * cap * sizeof *st);
                if (!nst)
                    goto out;
                memcpy(nst, st, top * sizeof *st);
                if (st != local)
                    free(st);
                st = nst;
                cap *= 2;
            }
            st[top++] = f;
            break;
        }
        }
        /* The next value to write, closing finished containers. */
        for (;;) {
            if (!top) {
                rc = o->full ? -1 : 0;
                goto out;
            }
            jsontext_frame_t *f = &st[top - 1];
            if (json_is_object(f->v)) {
                if (!f->iter) {
                    jo_putc(o, '}');
                    top--;
                    continue;
                }
                if (f->i++)
                    jo_putc(o, ',');
                jo_string(o, json_object_iter_key(f->iter), json_object_iter_key_len(f->iter), JO_KEY);
                jo_putc(o, ':');
                v = json_object_iter_value(f->iter);
                f->iter = json_object_iter_next((json_t *)f->v, f->iter);
            } else {
                if (f->i == f->n) {
                    jo_putc(o, ']');
                    top--;
                    continue;
                }
                if (f->i)
                    jo_putc(o, ',');
                v = json_array_get(f->v, f->i++);
            }
            break;
        }
    }
out:
    if (st != local)
        free(st);
    return rc;
}

int jsontext_dump_buf(buf_t *b, const json_t *v)
{
    jsontext_out_t o;
    size_t start = b->len;
    o.b = b;
    o.n = 0;
    o.full = 0;
    if (jo_value(&o, v) != 0) {
        if (!o.full && b->data) {
            b->len = start; /* an undumpable value leaves b as it was */
            b->data[start] = 0;
        }
        return -1;
    }
    jo_flush(&o);
    return o.full ? -1 : 0;
}

int jsontext_dump_string(buf_t *b, const char *s, size_t n)
{
    jsontext_out_t o;
    o.b = b;
    o.n = 0;
    o.full = 0;
    jo_string(&o, s, n, JO_LENIENT);
    jo_flush(&o);
    return o.full ? -1 : 0;
}

char *jsontext_dump(const json_t *v)
{
    buf_t b;
    /* As json_dumps: no limit but the tree's size. */
    buf_init(&b, SIZE_MAX / 2);
    if (jsontext_dump_buf(&b, v) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}
