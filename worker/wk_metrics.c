/* wk_metrics: see wk_metrics.h. */
#include "wk_metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <jansson.h>

#include "buf.h"

#define WK_SLOT_BYTES (256 * 1024)
#define WK_MERGED_MAX (8u << 20)

typedef struct slot_s {
    _Atomic uint64_t seq;
    size_t len;
    char data[WK_SLOT_BYTES];
} slot_t;

struct wk_metrics_shm_s {
    int nslots;
    slot_t *slots;
};

wk_metrics_shm_t *wk_metrics_shm_create(int nslots)
{
    void *p = mmap(NULL, sizeof(slot_t) * (size_t)nslots, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    wk_metrics_shm_t *s = mem_calloc(1, sizeof *s);
    s->nslots = nslots;
    s->slots = p;
    return s;
}

void wk_metrics_shm_free(wk_metrics_shm_t *s)
{
    if (!s)
        return;
    munmap(s->slots, sizeof(slot_t) * (size_t)s->nslots);
    free(s);
}

void wk_metrics_publish(wk_metrics_shm_t *s, int i, metrics_t *m)
{
    if (!s || i < 0 || i >= s->nslots)
        return;
    size_t len;
    char *text = metrics_render(m, &len);
    if (!text)
        return;
    if (len >= WK_SLOT_BYTES) {
        len = WK_SLOT_BYTES - 1;
        while (len && text[len - 1] != '\n')
            len--;
    }
    slot_t *sl = &s->slots[i];
    atomic_fetch_add_explicit(&sl->seq, 1, memory_order_acq_rel); /* odd: writing */
    memcpy(sl->data, text, len);
    sl->len = len;
    atomic_fetch_add_explicit(&sl->seq, 1, memory_order_acq_rel);
    free(text);
}

/* A consistent copy of slot i, or NULL (empty, or busy three times). */
static char *slot_read(slot_t *sl)
{
    for (int tries = 0; tries < 3; tries++) {
        uint64_t a = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (a == 0)
            return NULL;
        if (a & 1)
            continue;
        size_t len = sl->len;
        if (len >= WK_SLOT_BYTES)
            continue;
        char *copy = mem_alloc(len + 1);
        memcpy(copy, sl->data, len);
        copy[len] = 0;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sl->seq, memory_order_relaxed) == a)
            return copy;
        free(copy);
    }
    return NULL;
}

static json_t *family(json_t *families, const char *name)
{
    json_t *fam = json_object_get(families, name);
    if (!fam) {
        fam = json_pack("{s:[],s:{}}", "meta", "samples");
        json_object_set_new(families, name, fam);
    }
    return fam;
}

/* The family a sample belongs to: its name, or for histogram series the
 * name without _bucket/_sum/_count when that family is known. */
static json_t *sample_family(json_t *families, const char *line)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count", NULL};
    char name[256];
    size_t n = strcspn(line, "{ ");
    if (n >= sizeof name)
        return NULL;
    memcpy(name, line, n);
    name[n] = 0;
    if (json_object_get(families, name))
        return json_object_get(families, name);
    for (int i = 0; suffixes[i]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (n > sl && strcmp(name + n - sl, suffixes[i]) == 0) {
            name[n - sl] = 0;
            json_t *f = json_object_get(families, name);
            if (f)
                return f;
            name[n - sl] = suffixes[i][0];
        }
    }
    return family(families, name);
}

/* Families in order of first appearance: name -> {"meta":[HELP/TYPE lines],
 * "samples":{"name{labels}": value}}. */
static void merge_one(json_t *families, const char *text)
{
    for (const char *p = text, *start; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[2048];
        start = p;
        p = nl ? nl + 1 : p + n;
        if (n == 0 || n >= sizeof line)
            continue;
        memcpy(line, start, n);
        line[n] = 0;
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            char name[256];
            size_t nn = strcspn(line + 7, " ");
            if (nn >= sizeof name)
                continue;
            memcpy(name, line + 7, nn);
            name[nn] = 0;
            json_t *meta = json_object_get(family(families, name), "meta");
            int seen = 0;
            for (size_t k = 0; k < json_array_size(meta); k++)
                seen |= strcmp(json_string_value(json_array_get(meta, k)), line) == 0;
            if (!seen)
                json_array_append_new(meta, json_string(line));
            continue;
        }
        char *sp = strrchr(line, ' ');
        json_t *fam = line[0] != '#' && sp ? sample_family(families, line) : NULL;
        if (!fam)
            continue;
        *sp = 0;
        double v = strtod(sp + 1, NULL);
        json_t *samples = json_object_get(fam, "samples");
        json_t *cur = json_object_get(samples, line);
        json_object_set_new(samples, line, json_real((cur ? json_real_value(cur) : 0) + v));
    }
}

char *wk_metrics_merge(const char *const *texts, size_t n, size_t *len)
{
    json_t *families = json_object();
    for (size_t i = 0; i < n; i++)
        if (texts[i])
            merge_one(families, texts[i]);
    buf_t b;
    buf_init(&b, WK_MERGED_MAX);
    const char *name;
    json_t *fam;
    json_object_foreach(families, name, fam) {
        size_t k;
        json_t *line;
        json_array_foreach(json_object_get(fam, "meta"), k, line)
            buf_printf(&b, "%s\n", json_string_value(line));
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(fam, "samples"), key, v)
            buf_printf(&b, "%s %.15g\n", key, json_real_value(v));
    }
    json_decref(families);
    char *out = buf_steal(&b, len);
    if (!out) {
        out = mem_strdup("");
        *len = 0;
    }
    return out;
}

char *wk_metrics_render_all(wk_metrics_shm_t *s, int self, metrics_t *m, size_t *len)
{
    size_t own_len;
    char *own = metrics_render(m, &own_len);
    if (!s) {
        *len = own_len; /* no shared area (wk_metrics_shm_create failed): this process alone */
        return own;
    }
    size_t n = (size_t)s->nslots;
    char **texts = mem_calloc(n + 1, sizeof *texts);
    texts[0] = own;
    for (int i = 0; i < s->nslots; i++)
        if (i != self)
            texts[i + 1] = slot_read(&s->slots[i]);
    char *out = wk_metrics_merge((const char *const *)texts, n + 1, len);
    for (size_t i = 0; i <= n; i++)
        free(texts[i]);
    free(texts);
    return out;
}
