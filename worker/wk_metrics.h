/* wk_metrics: one /metrics for the whole worker pool.
 *
 * Each worker process has its own registry (common/metrics), but a scrape
 * reaches only one process (SO_REUSEPORT picks it). So every process copies
 * its rendered text into its slot of a shared memory area (created by the
 * master before forking) once a second, and /metrics in any process merges
 * the slots: samples with the same name and labels are summed (counters,
 * histogram buckets/sums/counts and gauges such as open streams all add up
 * across processes). Other processes' figures are at most a second old.
 *
 * Slots are written with a sequence counter (odd while writing); a reader
 * that sees a write in progress retries, then skips that slot.
 */
#ifndef JSMCP_WK_METRICS_H
#define JSMCP_WK_METRICS_H

#include <stddef.h>

#include "metrics.h"

typedef struct wk_metrics_shm_s wk_metrics_shm_t;

/* Maps nslots slots (shared with children forked later). NULL on failure. */
wk_metrics_shm_t *wk_metrics_shm_create(int nslots);
void wk_metrics_shm_free(wk_metrics_shm_t *s);

/* Copies the current text of m into slot i (text over the slot size is cut
 * at a line boundary). */
void wk_metrics_publish(wk_metrics_shm_t *s, int slot, metrics_t *m);

/* The merged text of every slot, with this process' own registry rendered
 * fresh in place of its slot. Caller frees. */
char *wk_metrics_render_all(wk_metrics_shm_t *s, int self, metrics_t *m, size_t *len);

/* Merges Prometheus texts (exposed for the unit tests). Caller frees. */
char *wk_metrics_merge(const char *const *texts, size_t n, size_t *len);

#endif
