/* jalloc: see jalloc.h.
 *
 * Lists by glibc chunk size: a block of list k has at least 16k - 8 usable
 * bytes (malloc(16k - 8) makes a chunk of exactly 16k bytes). A freed block's
 * list comes from malloc_usable_size(), rounded down: glibc may hand out a
 * chunk a little larger than asked (it does not split off a remainder too
 * small to be a chunk), so a block may be bigger than its list's size, never
 * smaller. The lists are per thread (the thread pool may use jansson too);
 * a thread that ends leaves its blocks behind, which is why a thread keeps
 * at most JALLOC_KEEP_BYTES. */
#include "jalloc.h"

#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>

#define JALLOC_LISTS (JALLOC_MAX_CHUNK / 16 + 1)

typedef struct block_s {
    struct block_s *next;
} block_t;

typedef struct {
    block_t *head[JALLOC_LISTS];
    size_t kept;
} jalloc_cache_t;

static _Thread_local jalloc_cache_t cache;

void *jalloc_malloc(size_t n)
{
    if (n > JALLOC_MAX_CHUNK - 8)
        return malloc(n);
    size_t k = (n + 8 + 15) >> 4;
    if (k < 2)
        k = 2; /* glibc's smallest chunk: 32 bytes */
    block_t *b = cache.head[k];
    if (b) {
        cache.head[k] = b->next;
        cache.kept -= k << 4;
        return b;
    }
    return malloc((k << 4) - 8);
}

void jalloc_free(void *p)
{
    if (!p)
        return;
    size_t k = (malloc_usable_size(p) + 8) >> 4;
    if (k >= JALLOC_LISTS || cache.kept + (k << 4) > JALLOC_KEEP_BYTES) {
        free(p);
        return;
    }
    block_t *b = p;
    b->next = cache.head[k];
    cache.head[k] = b;
    cache.kept += k << 4;
}

size_t jalloc_kept(void)
{
    return cache.kept;
}

void jalloc_install(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    json_set_alloc_funcs(jalloc_malloc, jalloc_free);
#endif
}
