/* buf: a growable byte buffer with a hard maximum size (curl's dynbuf idea).
 *
 * Every append either fits under `max` or fails with BUF_ETOOBIG and leaves
 * the buffer empty and freed, so a caller can map it to 413/431 and stop.
 * Small internal allocations abort on out-of-memory (see mem_*).
 * The data is always NUL-terminated (not counted in len).
 */
#ifndef JSMCP_BUF_H
#define JSMCP_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_ETOOBIG (-1)

typedef struct buf_s {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
} buf_t;

void buf_init(buf_t *b, size_t max);
void buf_free(buf_t *b);
void buf_reset(buf_t *b); /* len = 0, keeps memory */
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
/* Takes ownership of the data (caller frees); the buffer is left empty. */
char *buf_steal(buf_t *b, size_t *len);

/* Allocation helpers that abort on OOM: for small internal sizes only. */
void *mem_alloc(size_t n);
void *mem_calloc(size_t n, size_t sz);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
#define mem_free_null(p) do { free(p); (p) = NULL; } while (0)

#endif
