/* buf: a growable byte buffer with a hard maximum size (curl's dynbuf idea).
 *
 * The error is sticky, so a failure cannot be ignored by accident:
 * - An append that does not fit under `max` (BUF_ETOOBIG), or whose memory
 *   cannot be had (BUF_ENOMEM), frees the data and puts the buffer in
 *   error: data NULL, len 0, err set.
 * - Every later append to a buffer in error does nothing and returns that
 *   error again; buf_ok() says whether the buffer is whole.
 * - buf_steal() of a buffer in error returns NULL. So a URL, body or answer
 *   built by a run of unchecked appends is either complete or NULL, never
 *   truncated: check the one buf_steal() (or buf_ok() before using data).
 * - Only buf_reset(), buf_free() and buf_init() clear the error.
 * A caller may still check each append (0 or the error) to stop early, for
 * example to map a limit to 413/431.
 * Small internal allocations abort on out-of-memory (see mem_*).
 * The data is always NUL-terminated (not counted in len).
 */
#ifndef JSMCP_BUF_H
#define JSMCP_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_ETOOBIG (-1) /* an append would pass max */
#define BUF_ENOMEM (-2)  /* the memory for an append could not be had */
#define BUF_EFORMAT (-3) /* buf_printf: vsnprintf failed (a bad format or argument) */

typedef struct buf_s {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    int err; /* 0, or the first BUF_E* since init/reset/free (sticky) */
} buf_t;

void buf_init(buf_t *b, size_t max);
/* Frees the data; the buffer is then empty, keeps max and has no error. */
void buf_free(buf_t *b);
/* len = 0, keeps memory; clears the error (an errored buffer has none). */
void buf_reset(buf_t *b);
/* 1 when no append failed since init/reset/free. */
int buf_ok(const buf_t *b);
/* The sticky error: 0 or a BUF_E* value. */
int buf_error(const buf_t *b);
/* Appends return 0, or the buffer's error (negative) when this append
 * failed or an earlier one did; see the contract above. */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_append_str(buf_t *b, const char *s);
/* Decimal digits of v (the hot paths' cheaper "%llu"). */
int buf_append_uint(buf_t *b, unsigned long long v);

/* The same into out (room for 21 bytes), NUL-terminated; returns the length. */
size_t fmt_uint(char *out, unsigned long long v);
/* snprintf(dst, dstsz, "%s", src) without printf: copies what fits, always
 * NUL-terminates (dstsz > 0); returns strlen(src). */
size_t str_copy(char *dst, size_t dstsz, const char *src);
/* The strings up to a NULL, one after another, into dst: what fits, always
 * NUL-terminated (dstsz > 0); returns the length written. For hot paths
 * (metric labels, header lines), where snprintf's parsing costs more than
 * the copy. */
size_t str_join(char *dst, size_t dstsz, ...);
/* Signed decimal into out (room for 21 bytes); returns the length. */
size_t fmt_int(char *out, long long v);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Takes ownership of the data (caller frees; "" when nothing was
 * appended). NULL (and *len 0) when the buffer is in error. Either way the
 * buffer is left empty, as after buf_free(). */
char *buf_steal(buf_t *b, size_t *len);

/* Allocation helpers that abort on OOM: for small internal sizes only. */
void *mem_alloc(size_t n);
void *mem_calloc(size_t n, size_t sz);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
#define mem_free_null(p) do { free(p); (p) = NULL; } while (0)

#endif
