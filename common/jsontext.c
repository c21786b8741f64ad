/* jsontext: our own JSON text parser and serializer around jansson's json_t.
 *
 * Why: jansson's json_loadb reads its input one byte at a time through a
 * stream callback, copies every token into a scratch buffer and decodes
 * strings in a second pass; json_dumps formats through a callback per token
 * and records every container in a hash table (keyed by its printed
 * address) to detect cycles. Together that was ~35% of a worker's CPU per
 * tool call. The tree type stays json_t (all of worker/ and api/ use it);
 * only the text side is ours:
 *
 *   - jsontext_parse is a single-pass recursive-descent parser over the buffer.
 *     Strings without escapes go straight from the input into
 *     json_stringn_nocheck / json_object_setn_new_nocheck (we validate
 *     UTF-8 ourselves, 8 bytes at a time while they are plain ASCII);
 *     strings with escapes are decoded into one scratch area of at most the
 *     input size. Integers are converted by hand, reals by an exact fast
 *     path (Clinger: <= 15 significant digits and a power of ten <= 22 are
 *     both exact doubles, so one IEEE multiply or divide is the correctly
 *     rounded result, as strtod's) or else strtod in the C locale. The depth
 *     limit is checked on the way down, so recursion never exceeds it.
 *   - jsontext_parse_keep is the same parser given a tree of the member paths
 *     worth building (jsontext_keep_t): other members are skipped by jp_skip,
 *     which checks their syntax with the same rules and errors but builds
 *     nothing (duplicate keys inside them are not looked for). The worker
 *     uses it for upstream payloads, of which a tool reads a part.
 *   - jsontext_dump_buf walks the tree with an explicit stack (which doubles as
 *     the list of ancestors for cycle detection) into a staging buffer that
 *     is appended to a buf_t in large chunks.
 *
 * What is identical to jansson 2.14 (json_loadb with JSON_DECODE_ANY |
 * JSON_REJECT_DUPLICATES, json_dumps with JSON_COMPACT | JSON_ENCODE_ANY):
 * the accepted language (whitespace " \t\n\r"; no leading zeros; integers
 * are tokens without '.', 'e', 'E' and must fit json_int_t; reals must not
 * overflow to infinity; strict UTF-8 everywhere: no overlongs, surrogates or
 * code points above U+10FFFF; no raw control characters; \u0000 and unpaired
 * surrogate escapes rejected; duplicate keys rejected; at most 2048 nested
 * values), the resulting tree (types, values, member order), and the dumped
 * bytes (jansson's escapes with upper-case \u00XX, '/' and U+007F as is,
 * integers with JSON_INTEGER_FORMAT, reals as "%.17g" with ".0" appended to
 * integral-looking output and the exponent's '+' and leading zeros
 * dropped, insertion order of members, failure on invalid UTF-8 or cycles).
 * Only error texts and positions differ. This is not proven by reading but
 * checked against the jansson library itself: tests/unit/common/
 * test_jsontext_fast.c runs a table of edge cases and a seeded random
 * differential test (random trees and byte mutations of valid texts), and
 * fuzz/fuzz_json.c is a libFuzzer target that aborts on any difference in
 * acceptance, tree, types or dumped bytes.
 *
 * Where: this file is the parser and the getters; jsontext_dump.c the
 * serializer, jsontext_keep.c the keep tree; jsontext_int.h what they share.
 */
#include "jsontext.h"
#include "jsontext_int.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(json_int_t) == 8, "jsontext assumes a 64-bit json_int_t");

/* jansson's own nesting limit on values (JSON_PARSER_MAX_DEPTH in 2.14's
 * jansson_config.h): a value inside 2048 containers is refused. */
#define JSONTEXT_JANSSON_MAX_DEPTH 2048
/* ---------------------------------------------------------------- parser */

typedef struct {
    const unsigned char *start, *p, *end;
    int max_depth;
    /* Decoded strings with escapes, used like a stack (an object's key
     * stays there while its value is parsed): never more than the input. */
    char *scratch;
    size_t scratch_used;
    /* The first error: what and where, or too_deep for the depth limit. */
    const char *what;
    const unsigned char *where;
    int too_deep;
    /* jsontext_parse_keep: the node of the object being parsed (NULL: keep all). */
    const jsontext_keep_t *keep;
    /* jsontext_parse_nul: \u0000 is decoded in string values (nul_ok),
     * the string being read is one (nul_here), one was (nul_seen). */
    int nul_ok, nul_here, nul_seen;
} jsontext_parser_t;

static json_t *jp_fail(jsontext_parser_t *jp, const unsigned char *where, const char *what)
{
    if (!jp->what && !jp->too_deep) {
        jp->what = what;
        jp->where = where;
    }
    return NULL;
}

static const unsigned char *jp_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int jp_hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t jp_utf8_put(char *t, unsigned cp)
{
    if (cp < 0x80) {
        t[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        t[0] = (char)(0xC0 | cp >> 6);
        t[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        t[0] = (char)(0xE0 | cp >> 12);
        t[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    t[0] = (char)(0xF0 | cp >> 18);
    t[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    t[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    t[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at p (a backslash) to *t; returns the position after
 * it, or NULL with the error set. */
static const unsigned char *jp_escape(jsontext_parser_t *jp, const unsigned char *p, char **t)
{
    const unsigned char *esc = p, *end = jp->end;
    unsigned cp, lo;
    if (end - p < 2)
        return jp_fail(jp, p, "premature end of input"), NULL;
    p += 2;
    switch (esc[1]) {
    case '"': *(*t)++ = '"'; return p;
    case '\\': *(*t)++ = '\\'; return p;
    case '/': *(*t)++ = '/'; return p;
    case 'b': *(*t)++ = '\b'; return p;
    case 'f': *(*t)++ = '\f'; return p;
    case 'n': *(*t)++ = '\n'; return p;
    case 'r': *(*t)++ = '\r'; return p;
    case 't': *(*t)++ = '\t'; return p;
    case 'u': break;
    default: return jp_fail(jp, esc, "invalid escape"), NULL;
    }
    if (jp_hex4(p, end, &cp))
        return jp_fail(jp, esc, "invalid escape"), NULL;
    p += 4;
    if (cp == 0) {
        if (!jp->nul_here)
            return jp_fail(jp, esc, "\\u0000 is not allowed"), NULL;
        jp->nul_seen = 1;
        *(*t)++ = 0;
        return p;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jp_fail(jp, esc, "invalid Unicode (lone low surrogate)"), NULL;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
            return jp_fail(jp, esc, "invalid Unicode (lone high surrogate)"), NULL;
        if (jp_hex4(p + 2, end, &lo))
            return jp_fail(jp, p, "invalid escape"), NULL;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jp_fail(jp, esc, "invalid Unicode (bad surrogate pair)"), NULL;
        p += 6;
        cp = ((cp - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
    }
    *t += jp_utf8_put(*t, cp);
    return p;
}

/* A string token; jp->p is at the opening quote. Until the first escape
 * the result is the input itself; from there it is decoded into the
 * scratch area (t), and *out points there. */
static int jp_string(jsontext_parser_t *jp, const char **out, size_t *outlen)
{
    const unsigned char *s = jp->p + 1, *p = s, *end = jp->end;
    char *t0 = NULL, *t = NULL;
    for (;;) {
        const unsigned char *q = jsontext_skip_plain(p, end);
        if (t) {
            memcpy(t, p, (size_t)(q - p));
            t += q - p;
        }
        p = q;
        if (p >= end)
            return jp_fail(jp, p, "premature end of input"), -1;
        unsigned c = *p;
        if (c == '"') {
            jp->p = p + 1;
            *out = t ? t0 : (const char *)s;
            *outlen = t ? (size_t)(t - t0) : (size_t)(p - s);
            return 0;
        }
        if (c >= 0x80) {
            size_t k = jsontext_utf8_len(p, end);
            if (!k)
                return jp_fail(jp, p, "invalid UTF-8"), -1;
            if (t) {
                memcpy(t, p, k);
                t += k;
            }
            p += k;
            continue;
        }
        if (c != '\\')
            return jp_fail(jp, p, "control character in string"), -1;
        if (!t) {
            if (!jp->scratch)
                jp->scratch = malloc((size_t)(end - jp->start));
            if (!jp->scratch)
                return jp_fail(jp, p, "out of memory"), -1;
            t0 = t = jp->scratch + jp->scratch_used;
            memcpy(t, s, (size_t)(p - s));
            t += p - s;
        }
        p = jp_escape(jp, p, &t);
        if (!p)
            return -1;
    }
}

static pthread_once_t jsontext_c_locale_once = PTHREAD_ONCE_INIT;
static locale_t jsontext_c_locale;

static void jsontext_c_locale_init(void)
{
    jsontext_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod of a validated JSON number token, independent of the process
 * locale (jansson swaps '.' for the locale's decimal point instead). */
static double jp_strtod(const unsigned char *s, size_t len, int *erange)
{
    char local[64], *tmp = local;
    if (len >= sizeof local) {
        tmp = malloc(len + 1);
        if (!tmp)
            return *erange = 1, 0.0; /* reported as overflow; only under OOM */
    }
    memcpy(tmp, s, len);
    tmp[len] = 0;
    pthread_once(&jsontext_c_locale_once, jsontext_c_locale_init);
    errno = 0;
    double d = jsontext_c_locale ? strtod_l(tmp, NULL, jsontext_c_locale) : strtod(tmp, NULL);
    *erange = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (tmp != local)
        free(tmp);
    return d;
}

static json_t *jp_number(jsontext_parser_t *jp)
{
    const unsigned char *s = jp->p, *p = s, *end = jp->end;
    int neg = 0;
    uint64_t mant = 0;  /* significant digits, while they fit (see ndig) */
    int ndig = 0;       /* significant digits seen (leading zeros skipped), up to 1000 */
    int frac_digits = 0;
    int slow = 0;       /* digits or exponent too long for the fast path */
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return jp_fail(jp, s, "invalid token");
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return jp_fail(jp, s, "invalid token (leading zero)");
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (ndig < 19)
                mant = mant * 10 + (uint64_t)(*p - '0');
            if (ndig < 1000)
                ndig++;
            p++;
        }
    }
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* An integer: like strtoll, out of range is an error, not a real. */
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (ndig > 19 || mant > limit)
            return jp_fail(jp, s, neg ? "too big negative integer" : "too big integer");
        jp->p = p;
        json_int_t v = neg ? (mant ? -(json_int_t)(mant - 1) - 1 : 0) : (json_int_t)mant;
        json_t *r = json_integer(v);
        return r ? r : jp_fail(jp, s, "out of memory");
    }
    if (*p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return jp_fail(jp, s, "invalid token");
        while (p < end && *p >= '0' && *p <= '9') {
            if (ndig || *p != '0') {
                if (ndig < 19)
                    mant = mant * 10 + (uint64_t)(*p - '0');
                if (ndig < 1000)
                    ndig++;
            }
            if (frac_digits < 100000)
                frac_digits++;
            else
                slow = 1;
            p++;
        }
    }
    int exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return jp_fail(jp, s, "invalid token");
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp < 100000)
                exp = exp * 10 + (*p - '0');
            else
                slow = 1;
            p++;
        }
        if (eneg)
            exp = -exp;
    }
    double d;
    int e10 = exp - frac_digits;
#if FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (!slow && ndig == 0) {
        d = neg ? -0.0 : 0.0; /* strtod: zero whatever the exponent */
    } else if (!slow && ndig <= 15 && e10 >= -22 && e10 <= 22) {
        d = (double)mant;
        d = e10 < 0 ? d / pow10[-e10] : d * pow10[e10];
        if (neg)
            d = -d;
    } else
#endif
    {
        int erange;
        d = jp_strtod(s, (size_t)(p - s), &erange);
        if (erange)
            return jp_fail(jp, s, "real number overflow");
    }
    jp->p = p;
    json_t *r = json_real(d);
    return r ? r : jp_fail(jp, s, "out of memory");
}

static json_t *jp_value(jsontext_parser_t *jp, int depth);

/* Past an opening bracket: 0 if the container is empty (its closing bracket
 * consumed), 1 if a member or element follows. */
static int jp_open(jsontext_parser_t *jp, unsigned char close)
{
    jp->p = jp_ws(jp->p + 1, jp->end);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return 0;
    }
    return 1;
}

/* After a member or element: 1 after a ',' (another one follows), 0 after
 * the closing bracket, -1 (with the error set) on anything else. */
static int jp_next(jsontext_parser_t *jp, unsigned char close)
{
    jp->p = jp_ws(jp->p, jp->end);
    if (jp->p < jp->end && *jp->p == ',') {
        jp->p = jp_ws(jp->p + 1, jp->end);
        return 1;
    }
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return 0;
    }
    jp_fail(jp, jp->p, close == '}' ? "'}' expected" : "']' expected");
    return -1;
}

static int jp_word(jsontext_parser_t *jp, const char *w, size_t n)
{
    if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, w, n) != 0)
        return 0;
    jp->p += n;
    return 1;
}

/* ---- jsontext_parse_keep: the members outside the keep tree are skipped ---- */

/* Skips one value, checking its syntax like jp_value but building nothing
 * (duplicate keys inside it are not looked for). 0, or -1 with the error. */
static int jp_skip(jsontext_parser_t *jp, int depth)
{
    const unsigned char *end = jp->end;
    jp->p = jp_ws(jp->p, end);
    if (depth >= JSONTEXT_JANSSON_MAX_DEPTH)
        return jp_fail(jp, jp->p, "maximum parsing depth reached"), -1;
    if (jp->p >= end)
        return jp_fail(jp, jp->p, "premature end of input"), -1;
    const char *str;
    size_t len;
    switch (*jp->p) {
    case '{':
    case '[': {
        if (depth + 1 > jp->max_depth) {
            if (!jp->what)
                jp->too_deep = 1;
            return -1;
        }
        unsigned char close = *jp->p == '{' ? '}' : ']';
        int more = jp_open(jp, close);
        while (more > 0) {
            if (close == '}') {
                if (jp->p >= end || *jp->p != '"')
                    return jp_fail(jp, jp->p, "string or '}' expected"), -1;
                if (jp_string(jp, &str, &len))
                    return -1;
                jp->p = jp_ws(jp->p, end);
                if (jp->p >= end || *jp->p != ':')
                    return jp_fail(jp, jp->p, "':' expected"), -1;
                jp->p++;
            }
            if (jp_skip(jp, depth + 1))
                return -1;
            more = jp_next(jp, close);
        }
        return more;
    }
    case '"':
        return jp_string(jp, &str, &len) ? -1 : 0;
    case 't':
        if (jp_word(jp, "true", 4))
            return 0;
        break;
    case 'f':
        if (jp_word(jp, "false", 5))
            return 0;
        break;
    case 'n':
        if (jp_word(jp, "null", 4))
            return 0;
        break;
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        json_t *v = jp_number(jp); /* the same limits (integer range, overflow) as a kept number */
        json_decref(v);
        return v ? 0 : -1;
    }
    default:
        break;
    }
    return jp_fail(jp, jp->p, "invalid token"), -1;
}

/* One "key": value member into obj; -1 with the error set. */
static int jp_member(jsontext_parser_t *jp, json_t *obj, int depth)
{
    const char *key;
    size_t klen;
    const unsigned char *kpos = jp->p;
    if (jp->p >= jp->end || *jp->p != '"')
        return jp_fail(jp, kpos, "string or '}' expected"), -1;
    if (jp_string(jp, &key, &klen))
        return -1;
    /* A decoded key stays in the scratch area while its value is parsed. */
    size_t saved = jp->scratch_used;
    if (jp->scratch && key == jp->scratch + saved)
        jp->scratch_used += klen;
    jp->p = jp_ws(jp->p, jp->end);
    if (jp->p >= jp->end || *jp->p != ':')
        return jp_fail(jp, jp->p, "':' expected"), -1;
    jp->p++;
    const jsontext_keep_t *node = jp->keep;
    if (node) {
        const jsontext_keep_t *kid = jsontext_keep_find(node, key, klen);
        if (!kid) {
            jp->scratch_used = saved;
            return jp_skip(jp, depth);
        }
        jp->keep = kid->whole ? NULL : kid;
    }
    json_t *v = jp_value(jp, depth);
    jp->keep = node;
    if (!v)
        return -1;
    /* Setting an existing key replaces it without growing the object:
     * that is the duplicate check, without a second hash lookup. */
    size_t before = json_object_size(obj);
    if (json_object_setn_new_nocheck(obj, key, klen, v))
        return jp_fail(jp, kpos, "out of memory"), -1;
    jp->scratch_used = saved;
    if (json_object_size(obj) == before)
        return jp_fail(jp, kpos, "duplicate object key"), -1;
    return 0;
}

/* An object or array; jp->p is at its opening bracket. */
static json_t *jp_container(jsontext_parser_t *jp, int depth)
{
    int is_obj = *jp->p == '{';
    unsigned char close = is_obj ? '}' : ']';
    json_t *c = is_obj ? json_object() : json_array();
    if (!c)
        return jp_fail(jp, jp->p, "out of memory");
    int more = jp_open(jp, close);
    while (more > 0) {
        if (is_obj) {
            if (jp_member(jp, c, depth))
                goto fail;
        } else {
            json_t *v = jp_value(jp, depth);
            if (!v)
                goto fail;
            if (json_array_append_new(c, v)) {
                jp_fail(jp, jp->p, "out of memory");
                goto fail;
            }
        }
        more = jp_next(jp, close);
    }
    if (more == 0)
        return c;
fail:
    json_decref(c);
    return NULL;
}

/* One value; depth = the number of containers around it. */
static json_t *jp_value(jsontext_parser_t *jp, int depth)
{
    const unsigned char *end = jp->end;
    jp->p = jp_ws(jp->p, end);
    if (depth >= JSONTEXT_JANSSON_MAX_DEPTH)
        return jp_fail(jp, jp->p, "maximum parsing depth reached");
    if (jp->p >= end)
        return jp_fail(jp, jp->p, "premature end of input");
    switch (*jp->p) {
    case '{':
    case '[':
        if (depth + 1 > jp->max_depth) {
            if (!jp->what)
                jp->too_deep = 1;
            return NULL;
        }
        return jp_container(jp, depth + 1);
    case '"': {
        const char *s;
        size_t len;
        const unsigned char *at = jp->p;
        jp->nul_here = jp->nul_ok; /* values only: a member name stays a C string */
        int bad = jp_string(jp, &s, &len);
        jp->nul_here = 0;
        if (bad)
            return NULL;
        json_t *v = json_stringn_nocheck(s, len);
        return v ? v : jp_fail(jp, at, "out of memory");
    }
    case 't':
        if (jp_word(jp, "true", 4))
            return json_true();
        break;
    case 'f':
        if (jp_word(jp, "false", 5))
            return json_false();
        break;
    case 'n':
        if (jp_word(jp, "null", 4))
            return json_null();
        break;
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return jp_number(jp);
    default:
        break;
    }
    return jp_fail(jp, jp->p, "invalid token");
}

int jsontext_depth(const char *s, size_t n)
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

static json_t *jp_parse(const char *s, size_t n, int max_depth, const jsontext_keep_t *keep, int *nul_seen, char *err,
                        size_t errsz);

json_t *jsontext_parse(const char *s, size_t n, int max_depth, char *err, size_t errsz)
{
    return jp_parse(s, n, max_depth, NULL, NULL, err, errsz);
}

json_t *jsontext_parse_keep(const char *s, size_t n, int max_depth, const jsontext_keep_t *keep, char *err, size_t errsz)
{
    return jp_parse(s, n, max_depth, keep, NULL, err, errsz);
}

json_t *jsontext_parse_nul(const char *s, size_t n, int max_depth, int *nul_seen, char *err, size_t errsz)
{
    *nul_seen = 0;
    return jp_parse(s, n, max_depth, NULL, nul_seen, err, errsz);
}

/* nul_seen NULL: \u0000 refused as jansson does. */
static json_t *jp_parse(const char *s, size_t n, int max_depth, const jsontext_keep_t *keep, int *nul_seen, char *err,
                        size_t errsz)
{
    if (max_depth <= 0)
        max_depth = JSONTEXT_MAX_DEPTH_DEFAULT;
    if (n == 0) {
        snprintf(err, errsz, "empty body: a JSON value is required");
        return NULL;
    }
    jsontext_parser_t jp = {0};
    jp.start = jp.p = (const unsigned char *)s;
    jp.end = jp.start + n;
    jp.max_depth = max_depth;
    jp.keep = jsontext_keep_is_all(keep) ? NULL : keep;
    jp.nul_ok = nul_seen != NULL;
    json_t *v = jp_value(&jp, 0);
    if (v) {
        jp.p = jp_ws(jp.p, jp.end);
        if (jp.p != jp.end) {
            jp_fail(&jp, jp.p, "end of file expected");
            json_decref(v);
            v = NULL;
        }
    }
    free(jp.scratch);
    if (v) {
        if (nul_seen)
            *nul_seen = jp.nul_seen;
        return v;
    }
    /* A NUL byte always fails the parse (raw control character or invalid
     * token); it is named first, as the NUL check used to run first. */
    if (memchr(s, 0, n))
        snprintf(err, errsz, "invalid JSON: NUL byte in input");
    else if (jp.too_deep)
        snprintf(err, errsz, "JSON nested deeper than %d levels", max_depth);
    else {
        int line = 1, col = 1;
        for (const unsigned char *q = jp.start; q < jp.where; q++) {
            if (*q == '\n')
                line++, col = 1;
            else if ((*q & 0xC0) != 0x80)
                col++; /* characters, not UTF-8 continuation bytes */
        }
        snprintf(err, errsz, "invalid JSON at line %d, column %d: %s", line, col,
                 jp.what ? jp.what : "syntax error");
    }
    return NULL;
}

/* ------------------------------------------------------------ getters */

/* Appends "/<member>" to path (JSON Pointer escapes: '~' and '/'), cut
 * at pathsz; returns the old length so the caller can take it back. */
static size_t ptr_push(char *path, size_t pathsz, const char *member)
{
    size_t len = strlen(path), at = len;
    if (at + 1 < pathsz)
        path[at++] = '/';
    for (const char *c = member; *c && at + 2 < pathsz; c++) {
        if (*c == '~' || *c == '/') {
            path[at++] = '~';
            path[at++] = *c == '~' ? '0' : '1';
        } else {
            path[at++] = *c;
        }
    }
    path[at < pathsz ? at : pathsz - 1] = 0;
    return len;
}

static int find_nul(const json_t *v, const json_t *skip, char *path, size_t pathsz, int depth)
{
    const char *key;
    json_t *kid;
    size_t i, old;
    char idx[24];
    if (v == skip || depth > JSONTEXT_JANSSON_MAX_DEPTH)
        return 0; /* skipped, or deeper than any tree jsontext_parse builds */
    switch (json_typeof(v)) {
    case JSON_STRING:
        return memchr(json_string_value(v), 0, json_string_length(v)) != NULL;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, kid) {
            old = ptr_push(path, pathsz, key);
            if (find_nul(kid, skip, path, pathsz, depth + 1))
                return 1;
            path[old] = 0;
        }
        return 0;
    case JSON_ARRAY:
        json_array_foreach(v, i, kid) {
            snprintf(idx, sizeof idx, "%zu", i);
            old = ptr_push(path, pathsz, idx);
            if (find_nul(kid, skip, path, pathsz, depth + 1))
                return 1;
            path[old] = 0;
        }
        return 0;
    default:
        return 0;
    }
}

int jsontext_find_nul(const json_t *v, const json_t *skip, char *path, size_t pathsz)
{
    if (pathsz == 0)
        return 0;
    path[0] = 0;
    return v ? find_nul(v, skip, path, pathsz, 0) : 0;
}

static void replace_nul(json_t *v, int depth)
{
    const char *key;
    json_t *kid;
    size_t i;
    if (depth > JSONTEXT_JANSSON_MAX_DEPTH)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), nul = 0;
        for (size_t k = 0; k < n; k++)
            nul += s[k] == 0;
        if (!nul)
            return;
        char *t = malloc(n + 2 * nul + 1), *q = t;
        if (!t)
            return; /* out of memory: the string stays cut where C reads it */
        for (size_t k = 0; k < n; k++) {
            if (s[k]) {
                *q++ = s[k];
            } else {
                memcpy(q, "\xef\xbf\xbd", 3); /* U+FFFD */
                q += 3;
            }
        }
        json_string_setn_nocheck(v, t, (size_t)(q - t));
        free(t);
        return;
    }
    case JSON_OBJECT:
        json_object_foreach(v, key, kid)
            replace_nul(kid, depth + 1);
        return;
    case JSON_ARRAY:
        json_array_foreach(v, i, kid)
            replace_nul(kid, depth + 1);
        return;
    default:
        return;
    }
}

void jsontext_replace_nul(json_t *v)
{
    if (v)
        replace_nul(v, 0);
}

const char *jsontext_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long jsontext_int(const json_t *obj, const char *key, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

int jsontext_bool(const json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

const char *jsontext_type_name(const json_t *v)
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

/* ------------------------------------------------------------ lossy strings */

size_t jsontext_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    return jsontext_utf8_len(p, end);
}

json_t *jsontext_string_lossy(const char *s, size_t n)
{
    if (!s)
        return json_string("");
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    buf_t b;
    buf_init(&b, 3 * n + 1); /* each byte at most U+FFFD */
    while (p < end) {
        if (*p < 0x80) {
            buf_append(&b, (const char *)p, 1);
            p++;
            continue;
        }
        size_t len = jsontext_utf8_len(p, end);
        if (len) {
            buf_append(&b, (const char *)p, len);
            p += len;
            continue;
        }
        /* A lead byte whose sequence the end cut off: the tail of a
         * value shortened by bytes. Dropped, not marked. */
        const unsigned char *q = p + 1;
        while (q < end && (*q & 0xC0) == 0x80)
            q++;
        if (q == end && *p >= 0xC2 && *p < 0xF5 && end - p < (*p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4))
            break;
        buf_append(&b, "\xEF\xBF\xBD", 3);
        p++;
    }
    v = buf_ok(&b) ? json_stringn(b.data ? b.data : "", b.len) : NULL;
    buf_free(&b);
    return v;
}
