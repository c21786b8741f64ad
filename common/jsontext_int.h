/* jsontext_int: what the jsontext files share and callers must not see.
 * Include it only from common/jsontext*.c.
 *
 * The files (see the design note at the top of jsontext.c):
 *   jsontext_keep.c  the tree of member paths jsontext_parse_keep builds
 *   jsontext_dump.c  the serializer (jsontext_dump*)
 *   jsontext.c       the parser (jsontext_parse*), the getters
 * The string scanning below is shared by the parser and the serializer, so
 * that both accept and write exactly the same bytes as plain. It is inline
 * here, not called across files: it is the inner loop of both.
 */
#ifndef JSMCP_JSONTEXT_INT_H
#define JSMCP_JSONTEXT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* A node of a jsontext_keep_t (jsontext_keep.h): the members of one object
 * worth building, each with the node for its own value. */
struct jsontext_keep_s {
    int whole;             /* keep everything below */
    size_t n, cap;
    char **keys;
    size_t *klen;
    struct jsontext_keep_s **kids;
};

/* The child node for member key of k, or NULL when that member is skipped. */
static inline struct jsontext_keep_s *jsontext_keep_find(const struct jsontext_keep_s *k, const char *key, size_t klen)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->klen[i] == klen && memcmp(k->keys[i], key, klen) == 0)
            return k->kids[i];
    return NULL;
}


/* 1 for bytes that stand for themselves inside a JSON string, both when
 * parsing and when dumping: printable ASCII and DEL, except '"' and '\\'. */
static const unsigned char jsontext_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    /* 0x80..0xff: 0 (UTF-8, checked by jsontext_utf8_len) */
};

/* Length (2..4) of the valid UTF-8 sequence starting at p (*p >= 0x80), or
 * 0. The same rules as jansson's utf8_check_first/utf8_check_full: no
 * overlong forms, no UTF-16 surrogates (ED A0..BF), nothing above U+10FFFF. */
static inline size_t jsontext_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* Skips bytes that are plain in a string (jsontext_plain): a byte stops the scan
 * if it is '"', '\\', < 0x20 or >= 0x80. With SSE2 (every x86-64) 16 bytes
 * are tested at a time: as signed bytes, < 0x20 is exactly "< 0x20 or >=
 * 0x80". Then 8 at a time: the bit tricks can flag bytes above a real stop
 * byte (borrows), never below it, so the lowest flagged byte is the first
 * stop byte. The strings of an upstream answer are mostly 20-100 byte URLs
 * and names, so the wider step halves this loop's share of a tool call. */
static inline const unsigned char *jsontext_skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                    _mm_cmplt_epi8(x, space));
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t x, q, b;
        memcpy(&x, p, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        uint64_t t = (((q - ones) & ~q) | ((b - ones) & ~b) | (x - ones * 0x20) | x) & highs;
        if (t)
            return p + (__builtin_ctzll(t) >> 3);
        p += 8;
    }
#endif
    while (p < end && jsontext_plain[*p])
        p++;
    return p;
}

#endif
