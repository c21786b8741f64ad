/* jsontext_keep: building the tree of paths jsontext_parse_keep keeps (see
 * jsontext_keep.h). The parser reads it through jsontext_keep_find
 * (jsontext_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext_int.h"
#include "jsontext_keep.h"

jsontext_keep_t *jsontext_keep_new(void)
{
    return mem_calloc(1, sizeof(jsontext_keep_t));
}

void jsontext_keep_free(jsontext_keep_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->keys[i]);
        jsontext_keep_free(k->kids[i]);
    }
    free(k->keys);
    free(k->klen);
    free(k->kids);
    free(k);
}

static jsontext_keep_t *keep_kid(jsontext_keep_t *k, const char *key, size_t klen)
{
    jsontext_keep_t *c = jsontext_keep_find(k, key, klen);
    if (c)
        return c;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 4;
        k->keys = mem_realloc(k->keys, k->cap * sizeof *k->keys);
        k->klen = mem_realloc(k->klen, k->cap * sizeof *k->klen);
        k->kids = mem_realloc(k->kids, k->cap * sizeof *k->kids);
    }
    k->keys[k->n] = mem_strndup(key, klen);
    k->klen[k->n] = klen;
    k->kids[k->n] = jsontext_keep_new();
    return k->kids[k->n++];
}

jsontext_keep_t *jsontext_keep_path(jsontext_keep_t *k, const char *path)
{
    if (!k || k->whole || !path)
        return NULL;
    if (strcmp(path, ".") == 0 || !*path)
        return k;
    for (const char *p = path; *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        /* An index (or an empty segment): everything from here is kept,
         * whether the value turns out to be an array or an object. */
        if (n == 0 || strspn(p, "0123456789") >= n) {
            k->whole = 1;
            return NULL;
        }
        k = keep_kid(k, p, n);
        if (k->whole)
            return NULL;
        p = dot ? dot + 1 : p + n;
    }
    return k;
}

void jsontext_keep_all(jsontext_keep_t *k, const char *path)
{
    jsontext_keep_t *n = jsontext_keep_path(k, path);
    if (n)
        n->whole = 1;
}

int jsontext_keep_is_all(const jsontext_keep_t *k)
{
    return !k || k->whole;
}
