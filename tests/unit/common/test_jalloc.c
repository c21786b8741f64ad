/* jalloc: the per-thread block cache in front of malloc that jansson
 * allocates through in the worker and the API. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jalloc.h"

/* Empties this thread's lists so each test starts from nothing. */
static void drain(void)
{
    void *held[4096];
    size_t n = 0;
    for (size_t sz = 0; sz <= JALLOC_MAX_CHUNK - 8 && jalloc_kept() > 0; sz += 16)
        while (jalloc_kept() > 0 && n < 4096) {
            size_t before = jalloc_kept();
            void *p = jalloc_malloc(sz);
            if (jalloc_kept() == before) { /* that list was empty: a fresh block */
                free(p);
                break;
            }
            held[n++] = p;
        }
    for (size_t i = 0; i < n; i++)
        free(held[i]);
    cr_assert_eq(jalloc_kept(), 0);
}

Test(jalloc, blocks_are_big_enough_and_reused_by_size)
{
    drain();
    for (size_t n = 0; n <= JALLOC_MAX_CHUNK + 64; n++) {
        unsigned char *p = jalloc_malloc(n);
        cr_assert(p);
        cr_assert_geq(malloc_usable_size(p), n);
        memset(p, 0xab, n); /* ASan checks the whole request is ours */
        jalloc_free(p);
    }
    drain();
    void *a = jalloc_malloc(40);
    jalloc_free(a);
    cr_assert_eq(jalloc_kept(), 48, "a 40-byte request is a 48-byte chunk (%zu kept)", jalloc_kept());
    void *big = jalloc_malloc(100);
    cr_assert_neq(big, a, "a block is never handed out for a bigger size");
    free(big);
    void *b = jalloc_malloc(33);
    cr_assert_eq(b, a, "the same chunk size takes the freed block back");
    cr_assert_eq(jalloc_kept(), 0);
    free(b); /* an ordinary malloc block */
    drain();
}

Test(jalloc, big_blocks_are_not_kept)
{
    drain();
    void *p = jalloc_malloc(JALLOC_MAX_CHUNK * 4);
    jalloc_free(p);
    cr_assert_eq(jalloc_kept(), 0);
    jalloc_free(NULL);
    cr_assert_eq(jalloc_kept(), 0);
}

Test(jalloc, a_thread_keeps_at_most_the_cap)
{
    drain();
    size_t n = JALLOC_KEEP_BYTES / 512 + 100;
    void **v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = jalloc_malloc(500);
    for (size_t i = 0; i < n; i++) {
        jalloc_free(v[i]);
        cr_assert_leq(jalloc_kept(), JALLOC_KEEP_BYTES);
    }
    cr_assert_geq(jalloc_kept(), JALLOC_KEEP_BYTES - 512);
    free(v);
    drain();
}

static void *free_elsewhere(void *p)
{
    jalloc_free(p);
    size_t kept = jalloc_kept();
    free(jalloc_malloc(64)); /* takes it back: a thread that ends leaves its lists behind */
    return (void *)kept;
}

Test(jalloc, lists_are_per_thread)
{
    drain();
    void *p = jalloc_malloc(64);
    pthread_t t;
    void *kept_there = NULL;
    cr_assert_eq(pthread_create(&t, NULL, free_elsewhere, p), 0);
    pthread_join(t, &kept_there);
    cr_assert_eq((size_t)kept_there, 80, "the freeing thread keeps it");
    cr_assert_eq(jalloc_kept(), 0, "this thread's lists are untouched");
}

Test(jalloc, jansson_through_it)
{
    drain();
    json_set_alloc_funcs(jalloc_malloc, jalloc_free);
    for (int round = 0; round < 3; round++) {
        json_t *o = json_object();
        for (int i = 0; i < 200; i++) {
            char k[32];
            snprintf(k, sizeof k, "key-%d", i);
            json_object_set_new(o, k, json_pack("{s:s, s:i, s:[s,s]}", "name", k, "n", i, "l", "a", "bb"));
        }
        char *s = json_dumps(o, JSON_COMPACT);
        cr_assert(s && strstr(s, "\"key-199\":{"));
        free(s); /* json_dumps' string is an ordinary malloc block */
        json_decref(o);
        cr_assert_gt(jalloc_kept(), 0, "freed values wait in the lists");
    }
    json_set_alloc_funcs(malloc, free);
    drain();
}
