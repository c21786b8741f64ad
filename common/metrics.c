#include "metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,   5,    10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

enum mtype { M_COUNTER, M_GAUGE, M_HIST };

typedef struct series_s {
    struct series_s *next; /* hash chain */
    struct series_s *order; /* insertion order, for stable output */
    char *name;
    char *labels;
    enum mtype type;
    double value;          /* counter/gauge; histogram sum */
    uint64_t count;        /* histogram */
    uint64_t bcount[NBUCKETS];
} series_t;

typedef struct desc_s {
    struct desc_s *next;
    char *name, *type, *help;
} desc_t;

struct metrics_s {
    series_t **tab;
    size_t nbuckets;
    size_t n, max;
    series_t *first, *last;
    desc_t *descs;
    uint64_t dropped;
};

static uint64_t fnv(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ULL;
    h = (h ^ '{') * 1099511628211ULL;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ULL;
    return h;
}

metrics_t *metrics_new(size_t max_series)
{
    metrics_t *m = mem_calloc(1, sizeof *m);
    m->nbuckets = 1024;
    m->tab = mem_calloc(m->nbuckets, sizeof *m->tab);
    m->max = max_series ? max_series : 10000;
    return m;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (series_t *s = m->first, *n; s; s = n) {
        n = s->order;
        free(s->name);
        free(s->labels);
        free(s);
    }
    for (desc_t *d = m->descs, *n; d; d = n) {
        n = d->next;
        free(d->name);
        free(d->type);
        free(d->help);
        free(d);
    }
    free(m->tab);
    free(m);
}

void metrics_describe(metrics_t *m, const char *name, const char *type, const char *help)
{
    for (desc_t *d = m->descs; d; d = d->next)
        if (strcmp(d->name, name) == 0)
            return;
    desc_t *d = mem_calloc(1, sizeof *d);
    d->name = mem_strdup(name);
    d->type = mem_strdup(type);
    d->help = mem_strdup(help);
    d->next = m->descs;
    m->descs = d;
}

static series_t *lookup(metrics_t *m, const char *name, const char *labels, enum mtype t, int create)
{
    if (!labels)
        labels = "";
    size_t i = fnv(name, labels) & (m->nbuckets - 1);
    for (series_t *s = m->tab[i]; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    if (!create)
        return NULL;
    if (m->n >= m->max) {
        m->dropped++;
        return NULL;
    }
    series_t *s = mem_calloc(1, sizeof *s);
    s->name = mem_strdup(name);
    s->labels = mem_strdup(labels);
    s->type = t;
    s->next = m->tab[i];
    m->tab[i] = s;
    if (m->last)
        m->last->order = s;
    else
        m->first = s;
    m->last = s;
    m->n++;
    return s;
}

void metrics_inc(metrics_t *m, const char *name, const char *labels, double v)
{
    series_t *s = lookup(m, name, labels, M_COUNTER, 1);
    if (s)
        s->value += v;
}

void metrics_set(metrics_t *m, const char *name, const char *labels, double v)
{
    series_t *s = lookup(m, name, labels, M_GAUGE, 1);
    if (s)
        s->value = v;
}

void metrics_observe(metrics_t *m, const char *name, const char *labels, double sec)
{
    series_t *s = lookup(m, name, labels, M_HIST, 1);
    if (!s)
        return;
    s->value += sec;
    s->count++;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (sec <= buckets[i])
            s->bcount[i]++;
}

double metrics_get(metrics_t *m, const char *name, const char *labels)
{
    series_t *s = lookup(m, name, labels, M_COUNTER, 0);
    return s ? (s->type == M_HIST ? (double)s->count : s->value) : 0;
}

void metrics_label_escape(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    for (; *in && o + 3 < outsz; in++) {
        if (*in == '"' || *in == '\\') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = 0;
}

static void render_labels(buf_t *b, const char *labels, const char *extra)
{
    int has = labels && *labels;
    if (!has && !extra)
        return;
    buf_append_str(b, "{");
    if (has)
        buf_append_str(b, labels);
    if (extra) {
        if (has)
            buf_append_str(b, ",");
        buf_append_str(b, extra);
    }
    buf_append_str(b, "}");
}

char *metrics_render(metrics_t *m, size_t *len)
{
    buf_t b;
    buf_init(&b, 64 * 1024 * 1024);
    /* Group by name: emit HELP/TYPE once, before the first series of a name. */
    for (series_t *s = m->first; s; s = s->order) {
        int first = 1;
        for (series_t *p = m->first; p != s; p = p->order)
            if (strcmp(p->name, s->name) == 0) {
                first = 0;
                break;
            }
        if (!first)
            continue;
        for (desc_t *d = m->descs; d; d = d->next)
            if (strcmp(d->name, s->name) == 0)
                buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, d->type);
        for (series_t *q = s; q; q = q->order) {
            if (strcmp(q->name, s->name) != 0)
                continue;
            if (q->type != M_HIST) {
                buf_append_str(&b, q->name);
                render_labels(&b, q->labels, NULL);
                buf_printf(&b, " %.17g\n", q->value);
                continue;
            }
            for (size_t i = 0; i < NBUCKETS; i++) {
                char le[32];
                snprintf(le, sizeof le, "le=\"%g\"", buckets[i]);
                buf_printf(&b, "%s_bucket", q->name);
                render_labels(&b, q->labels, le);
                buf_printf(&b, " %llu\n", (unsigned long long)q->bcount[i]);
            }
            buf_printf(&b, "%s_bucket", q->name);
            render_labels(&b, q->labels, "le=\"+Inf\"");
            buf_printf(&b, " %llu\n%s_sum", (unsigned long long)q->count, q->name);
            render_labels(&b, q->labels, NULL);
            buf_printf(&b, " %.9g\n%s_count", q->value, q->name);
            render_labels(&b, q->labels, NULL);
            buf_printf(&b, " %llu\n", (unsigned long long)q->count);
        }
    }
    buf_printf(&b, "# TYPE jsmcp_metrics_dropped_series_total counter\n"
                   "jsmcp_metrics_dropped_series_total %llu\n",
               (unsigned long long)m->dropped);
    char *text = buf_steal(&b, len);
    if (!text) { /* over the limit (cannot happen under max_series): a comment, not a cut page */
        static const char over[] = "# jsmcp: the metrics page is over its 64 MB limit\n";
        text = mem_strdup(over);
        if (len)
            *len = sizeof over - 1;
    }
    return text;
}
