#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *mem_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("jsmcp: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *mem_calloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fputs("jsmcp: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *mem_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("jsmcp: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *mem_strdup(const char *s)
{
    return mem_strndup(s, strlen(s));
}

char *mem_strndup(const char *s, size_t n)
{
    char *p = mem_alloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void buf_init(buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->err = 0;
}

static void drop(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_free(buf_t *b)
{
    drop(b);
    b->err = 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = 0;
}

int buf_ok(const buf_t *b)
{
    return b->err == 0;
}

int buf_error(const buf_t *b)
{
    return b->err;
}

/* Puts b in error: the data goes (nothing partial can be used). */
static int fail(buf_t *b, int err)
{
    drop(b);
    b->err = err;
    return err;
}

static int buf_reserve(buf_t *b, size_t extra)
{
    if (b->err)
        return b->err;
    size_t max = b->max < SIZE_MAX ? b->max : SIZE_MAX - 1; /* room for the NUL */
    if (extra > max || b->len > max - extra)
        return fail(b, BUF_ETOOBIG);
    size_t need = b->len + extra + 1, lim = max + 1; /* need <= lim, no wrap */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need && ncap <= lim / 2)
        ncap *= 2;
    if (ncap < need || ncap > lim)
        ncap = lim;
    char *p = realloc(b->data, ncap);
    if (!p)
        return fail(b, BUF_ENOMEM);
    b->data = p;
    b->cap = ncap;
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int buf_append_str(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

size_t fmt_uint(char *out, unsigned long long v)
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t n = sizeof d - i;
    memcpy(out, d + i, n);
    out[n] = 0;
    return n;
}

int buf_append_uint(buf_t *b, unsigned long long v)
{
    char d[21];
    return buf_append(b, d, fmt_uint(d, v));
}

size_t str_copy(char *dst, size_t dstsz, const char *src)
{
    size_t n = strlen(src);
    size_t k = n < dstsz ? n : dstsz - 1;
    memcpy(dst, src, k);
    dst[k] = 0;
    return n;
}

size_t str_join(char *dst, size_t dstsz, ...)
{
    va_list ap;
    size_t k = 0;
    va_start(ap, dstsz);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        size_t n = strlen(s);
        if (n > dstsz - 1 - k)
            n = dstsz - 1 - k;
        memcpy(dst + k, s, n);
        k += n;
    }
    va_end(ap);
    dst[k] = 0;
    return k;
}

size_t fmt_int(char *out, long long v)
{
    if (v >= 0)
        return fmt_uint(out, (unsigned long long)v);
    out[0] = '-';
    return 1 + fmt_uint(out + 1, 0ULL - (unsigned long long)v);
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = b->err ? 0 : vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (b->err)
        return b->err;
    if (n < 0)
        return fail(b, BUF_EFORMAT);
    int rc = buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *buf_steal(buf_t *b, size_t *len)
{
    if (b->err) {
        if (len)
            *len = 0;
        buf_free(b);
        return NULL;
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    if (!p)
        p = mem_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
