/* jalloc: a per-thread cache of freed small blocks in front of malloc, for
 * jansson's allocations (json_set_alloc_funcs).
 *
 * Why: one tool call builds and frees about 300 jansson values (every
 * object, member and string is an allocation, some two). Under callgrind,
 * glibc's malloc + free cost ~130 instructions a pair there; a pop and a
 * push from a list here cost ~30, which is ~7% of a call's instructions.
 *
 * Blocks are ordinary malloc() blocks, so whatever jansson hands out
 * (json_dumps' string) may still be released with free(), and a block
 * allocated before jalloc_install() may be freed through it. */
#ifndef JSMCP_JALLOC_H
#define JSMCP_JALLOC_H

#include <stddef.h>

#define JALLOC_MAX_CHUNK 512          /* larger blocks go straight to malloc/free */
#define JALLOC_KEEP_BYTES (2u << 20)  /* what one thread keeps at most */

/* Makes jansson allocate through jalloc_malloc/jalloc_free. Call before
 * threads start. Does nothing under AddressSanitizer, which could not see a
 * use after free of a block that is reused instead of freed. */
void jalloc_install(void);

/* The allocator itself (exposed for its tests). */
void *jalloc_malloc(size_t n);
void jalloc_free(void *p);
/* Bytes this thread keeps in its lists. */
size_t jalloc_kept(void);

#endif
