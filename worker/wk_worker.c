/* wk_worker: see wk_worker.h. Start-up builds the loop's parts in order;
 * SIGTERM drains in reverse: stop accepting and end streams, let in-flight
 * requests (and their upstream calls) finish, then close httpc and Redis. */
#include "wk_worker.h"
#include "wk_request.h"
#include "wk_result.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wk_audit.h"
#include "wk_cache.h"
#include "wk_drain.h"
#include "wk_http.h"
#include "wk_listwatch.h"
#include "wk_methods.h"
#include "wk_pace.h"
#include "wk_push.h"
#include "wk_sse.h"
#include "wk_subscribe.h"
#include "wk_refresh.h"
#include "wk_store.h"

void wk_worker_describe_metrics(metrics_t *m)
{
    metrics_describe(m, "jsmcp_worker_requests_total", "counter", "HTTP requests by route, method and status");
    metrics_describe(m, "jsmcp_worker_redis_connected", "gauge",
                     "worker processes connected to Redis (sampled once a second, with the figures they publish)");
    metrics_describe(m, "jsmcp_worker_server_cache_on", "gauge",
                     "worker processes trusting their cache of server records and sessions (wk_cache.h)");
    metrics_describe(m, "jsmcp_worker_request_duration_seconds", "histogram", "HTTP request latency (streams excluded)");
    metrics_describe(m, "jsmcp_worker_tool_calls_total", "counter", "tools/call by tool and upstream HTTP status (0 = none)");
    metrics_describe(m, "jsmcp_worker_tool_call_duration_seconds", "histogram", "tools/call latency including the upstream call");
    metrics_describe(m, "jsmcp_worker_redis_errors_total", "counter", "Redis commands that failed");
    metrics_describe(m, "jsmcp_worker_upstream_errors_total", "counter", "upstream calls without an answer or with a 5xx");
    metrics_describe(m, "jsmcp_worker_sse_streams", "gauge", "open SSE streams in this process");
    metrics_describe(m, "jsmcp_worker_refresh_requests_total", "counter", "OAuth refresh requests published (expired token or upstream 401)");
    metrics_describe(m, "jsmcp_worker_refresh_waits_total", "counter", "calls that waited for a refreshed access token, by outcome (refreshed, unusable, timeout)");
    metrics_describe(m, "jsmcp_worker_account_calls_total", "counter", "tools/call per account (account=\"other\" past JSMCP_METRICS_MAX_ACCOUNTS accounts per process)");
    metrics_describe(m, "jsmcp_worker_tool_errors_total", "counter", "tools/call answered with an error, by class (the audit record's error_class)");
    metrics_describe(m, "jsmcp_worker_paced_total", "counter", "tool calls refused by per-account pacing (no upstream call)");
    metrics_describe(m, "jsmcp_worker_calls_cancelled_total", "counter", "tool calls the client cancelled (notifications/cancelled) before their answer");
    metrics_describe(m, "jsmcp_worker_refresh_wait_seconds", "histogram", "time a call waited for a refreshed access token");
    metrics_describe(m, "jsmcp_worker_limited_total", "counter",
                     "requests refused by a limit per MCP URL, by what (initialize: JSMCP_INIT_RATE_PER_TOKEN, stream: JSMCP_STREAMS_PER_TOKEN)");
    metrics_describe(m, "jsmcp_worker_sessions_evicted_total", "counter",
                     "least recently used sessions deleted for a new one past JSMCP_SESSIONS_PER_TOKEN");
    metrics_describe(m, "jsmcp_worker_resource_polls_total", "counter",
                     "reads of subscribed resources (wk_subscribe.h: one per resource and interval across the pool)");
    metrics_describe(m, "jsmcp_worker_resource_updates_total", "counter",
                     "polls that found a subscribed resource changed (notifications/resources/updated sent)");
    metrics_describe(m, "jsmcp_worker_list_changed_total", "counter",
                     "list_changed notifications sent to open streams, by list (tools, prompts, resources)");
    /* Counters that matter at zero exist from the start (alerts on rate()). */
    static const char *const zero[] = {"jsmcp_worker_redis_errors_total", "jsmcp_worker_upstream_errors_total",
                                       "jsmcp_worker_paced_total", "jsmcp_worker_refresh_requests_total",
                                       "jsmcp_worker_sessions_evicted_total", NULL};
    for (int i = 0; zero[i]; i++)
        metrics_inc(m, zero[i], "", 0);
}

/* Each listener's close: once both are closed, the drain goes on. */
static void on_httpd_closed(void *arg)
{
    wk_worker_t *w = arg;
    if (--w->httpd_open > 0)
        return;
    w->httpd_closed = 1;
    wk_drain_maybe_stop(w);
}

static void drain(wk_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    uv_timer_stop(&w->keepalive);
    uv_timer_stop(&w->publish);
    wk_sse_end_all(w);
    wk_refresh_stop(w);
    wk_cache_stop(w);
    wk_subscribe_stop(w);
    wk_push_stop(w);
    w->httpd_open = 1 + (w->metrics_httpd != NULL);
    if (w->metrics_httpd)
        httpd_close(w->metrics_httpd, on_httpd_closed, w);
    httpd_close(w->httpd, on_httpd_closed, w);
}

static void on_signal(uv_signal_t *s, int signum)
{
    drain(s->data);
}

static void on_keepalive(uv_timer_t *t)
{
    wk_sse_keepalive(t->data);
}

static void on_publish(uv_timer_t *t)
{
    wk_worker_t *w = t->data;
    metrics_set(w->metrics, "jsmcp_worker_redis_connected", "", rcli_ready(w->redis) ? 1 : 0);
    wk_metrics_publish(w->shm, w->slot, w->metrics);
}

int wk_worker_run(const wk_config_t *cfg, int fd, int metrics_fd, wk_metrics_shm_t *shm, int slot)
{
    uv_loop_t loop;
    wk_worker_t w = {.loop = &loop, .cfg = cfg, .shm = shm, .slot = slot};
    char err[256];
    int rc = 1;
    uv_loop_init(&loop);
    loop.data = &w;

    /* Room for every fixed series plus the capped account series. */
    w.metrics = metrics_new(5000 + (size_t)cfg->metrics_max_accounts);
    wk_worker_describe_metrics(w.metrics);
    if (wk_catalog_load_embedded(&w.catalog, err, sizeof err) != 0) {
        LOG_ERROR("worker", "tool catalog is invalid", "why", err, NULL);
        goto out;
    }
    if (wk_methods_load(&w, err, sizeof err) != 0) {
        LOG_ERROR("worker", "prompt or resource catalog is invalid", "why", err, NULL);
        goto out;
    }
    w.fields = wk_fieldcache_new(cfg->field_cache_ms);
    wk_result_check_keep(cfg->check_keep);
    w.keyring = secret_keyring_from_env(err, sizeof err);
    if (!w.keyring) {
        LOG_ERROR("worker", "master keys", "why", err, NULL);
        goto out;
    }
    rcli_config_t rc_cfg = {.url = cfg->redis_url, .prefix = cfg->redis_prefix};
    if (rcli_create(&w.redis, &loop, &rc_cfg) != 0) {
        LOG_ERROR("worker", "cannot create the Redis client", "url", "(see JSMCP_REDIS_URL)", NULL);
        goto out;
    }
    if (wk_cache_start(&w) != 0) {
        LOG_ERROR("worker", "cannot subscribe to keyspace notifications", NULL);
        goto out;
    }
    wk_pace_start(&w);
    if (wk_push_start(&w) != 0 || wk_listwatch_start(&w) != 0) {
        LOG_ERROR("worker", "cannot subscribe to the push and list-change channels", NULL);
        goto out;
    }
    if (wk_refresh_start(&w) != 0) {
        LOG_ERROR("worker", "cannot subscribe to the refreshed channel", NULL);
        goto out;
    }
    httpc_config_t hc_cfg;
    httpc_config_defaults(&hc_cfg);
    hc_cfg.timeout_ms = (unsigned)cfg->upstream_timeout_ms;
    hc_cfg.max_response_bytes = (size_t)cfg->upstream_max_bytes;
    if (httpc_create(&w.httpc, &loop, &hc_cfg) != 0) {
        LOG_ERROR("worker", "cannot create the HTTP client", "why", "curl multi", NULL);
        goto out;
    }
    httpd_config_t hd_cfg;
    httpd_config_defaults(&hd_cfg);
    hd_cfg.fd = fd;
    hd_cfg.max_body_bytes = (size_t)cfg->max_body;
    hd_cfg.idle_timeout_ms = 120000;
    hd_cfg.server_name = "jsmcp-worker";
    hd_cfg.on_complete = wk_http_complete;
    wk_http_start(&w);
    int hr = httpd_create(&w.httpd, &loop, &hd_cfg, wk_http_handle, &w);
    if (hr != 0) {
        LOG_ERROR("worker", "cannot serve on the listening socket", "why", uv_strerror(hr), NULL);
        goto out;
    }
    if (metrics_fd >= 0) {
        httpd_config_t mc;
        httpd_config_defaults(&mc);
        mc.fd = metrics_fd;
        mc.max_body_bytes = 1024;
        mc.max_conns = 64;
        mc.server_name = "jsmcp-worker";
        hr = httpd_create(&w.metrics_httpd, &loop, &mc, wk_http_metrics_handle, &w);
        if (hr != 0) {
            LOG_ERROR("worker", "cannot serve /metrics on its listening socket", "why", uv_strerror(hr), NULL);
            goto out;
        }
    }
    wk_audit_start(&w); /* after every step that can fail: its timer lives until drain */
    wk_subscribe_start(&w);
    uv_signal_init(&loop, &w.sigterm);
    uv_signal_init(&loop, &w.sigint);
    w.sigterm.data = w.sigint.data = &w;
    uv_signal_start(&w.sigterm, on_signal, SIGTERM);
    uv_signal_start(&w.sigint, on_signal, SIGINT);
    /* Blocked since the fork (wk_master.c): one that came meanwhile is delivered now. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);
    uv_timer_init(&loop, &w.keepalive);
    w.keepalive.data = &w;
    uv_timer_start(&w.keepalive, on_keepalive, (uint64_t)cfg->sse_keepalive_ms,
                   (uint64_t)cfg->sse_keepalive_ms);
    uv_unref((uv_handle_t *)&w.keepalive);
    uv_timer_init(&loop, &w.publish);
    w.publish.data = &w;
    uv_timer_start(&w.publish, on_publish, 0, 1000);
    uv_unref((uv_handle_t *)&w.publish);

    uv_run(&loop, UV_RUN_DEFAULT);
    defer_close(&w.defer);
    uv_run(&loop, UV_RUN_DEFAULT); /* the close */
    rc = 0;
    /* After a failed start, the parts made so far are released below. */
    w.httpd = NULL;
    w.metrics_httpd = NULL;
    w.redis = NULL;
    w.httpc = NULL;
out:
    if (w.httpd || w.metrics_httpd || w.redis || w.httpc) {
        /* Failed start: close what exists, then let the loop finish them. */
        wk_cache_stop(&w);
        if (w.httpd)
            httpd_close(w.httpd, NULL, NULL);
        if (w.metrics_httpd)
            httpd_close(w.metrics_httpd, NULL, NULL);
        if (w.httpc)
            httpc_close(w.httpc, NULL, NULL);
        if (w.redis)
            rcli_close(w.redis, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    wk_store_cleanup(&w);
    wk_cache_free(&w);
    wk_subscribe_free(&w);
    wk_listwatch_free(&w);
    wk_push_free(&w);
    wk_methods_free(&w);
    wk_http_free(&w);
    wk_fieldcache_free(w.fields);
    wk_catalog_free(w.catalog);
    secret_keyring_free(w.keyring);
    metrics_free(w.metrics);
    return rc;
}
