#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

Test(metrics, counters_gauges_histograms_render)
{
    metrics_t *m = metrics_new(100);
    metrics_describe(m, "req_total", "counter", "Requests.");
    metrics_inc(m, "req_total", "route=\"/a\",status=\"200\"", 1);
    metrics_inc(m, "req_total", "route=\"/a\",status=\"200\"", 2);
    metrics_inc(m, "req_total", "route=\"/b\",status=\"404\"", 1);
    metrics_set(m, "conns", "", 7);
    metrics_observe(m, "lat_seconds", "route=\"/a\"", 0.003);
    metrics_observe(m, "lat_seconds", "route=\"/a\"", 20);
    cr_assert_eq(metrics_get(m, "req_total", "route=\"/a\",status=\"200\""), 3);
    size_t n;
    char *s = metrics_render(m, &n);
    cr_assert(strstr(s, "# TYPE req_total counter\n"));
    cr_assert(strstr(s, "req_total{route=\"/a\",status=\"200\"} 3\n"), "%s", s);
    cr_assert(strstr(s, "conns 7\n"));
    cr_assert(strstr(s, "lat_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"), "%s", s);
    cr_assert(strstr(s, "lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"));
    cr_assert(strstr(s, "lat_seconds_count{route=\"/a\"} 2\n"));
    /* HELP/TYPE printed once per name */
    cr_assert_null(strstr(strstr(s, "# TYPE req_total") + 1, "# TYPE req_total"));
    free(s);
    metrics_free(m);
}

Test(metrics, bounded_series)
{
    metrics_t *m = metrics_new(3);
    char l[32];
    for (int i = 0; i < 10; i++) {
        snprintf(l, sizeof l, "k=\"%d\"", i);
        metrics_inc(m, "x", l, 1);
    }
    char *s = metrics_render(m, NULL);
    cr_assert(strstr(s, "jsmcp_metrics_dropped_series_total 7\n"), "%s", s);
    free(s);
    metrics_free(m);
}

Test(metrics, label_escape)
{
    char out[32];
    metrics_label_escape("a\"b\\c\nd", out, sizeof out);
    cr_assert_str_eq(out, "a\\\"b\\\\c\\nd");
}
