/* metrics: an in-process registry of Prometheus counters, gauges and
 * histograms, rendered in the text exposition format for /metrics.
 *
 * Series are identified by name + a pre-formatted label string
 * (e.g. `route="/mcp",status="200"`; pass "" for none). The registry is
 * bounded (max_series); past it new series are dropped and counted in
 * jsmcp_metrics_dropped_series_total, so a flood of distinct label values
 * cannot grow memory without limit. Single-threaded (one per loop).
 */
#ifndef JSMCP_METRICS_H
#define JSMCP_METRICS_H

#include <stddef.h>

typedef struct metrics_s metrics_t;

metrics_t *metrics_new(size_t max_series);
void metrics_free(metrics_t *m);

/* HELP/TYPE lines; type is "counter", "gauge" or "histogram". Optional. */
void metrics_describe(metrics_t *m, const char *name, const char *type, const char *help);
void metrics_inc(metrics_t *m, const char *name, const char *labels, double v);
void metrics_set(metrics_t *m, const char *name, const char *labels, double v);
/* Histogram with latency buckets in seconds (0.0005 ... 10). */
void metrics_observe(metrics_t *m, const char *name, const char *labels, double seconds);
double metrics_get(metrics_t *m, const char *name, const char *labels);

/* Prometheus text; caller frees. */
char *metrics_render(metrics_t *m, size_t *len);
/* Escapes a label value into out (", \ and newline). */
void metrics_label_escape(const char *in, char *out, size_t outsz);

#endif
