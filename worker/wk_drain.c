/* wk_drain: see wk_drain.h. */
#include "wk_drain.h"

#include "httpc.h"
#include "log.h"
#include "rcli.h"
#include "wk_audit.h"

static void on_closed_handle(uv_handle_t *h)
{
}

static void on_httpc_closed(void *arg)
{
    wk_worker_t *w = arg;
    uv_close((uv_handle_t *)&w->keepalive, on_closed_handle);
    uv_close((uv_handle_t *)&w->publish, on_closed_handle);
    uv_close((uv_handle_t *)&w->sigterm, on_closed_handle);
    uv_close((uv_handle_t *)&w->sigint, on_closed_handle);
}

static void on_redis_closed(void *arg)
{
    wk_worker_t *w = arg;
    httpc_close(w->httpc, on_httpc_closed, w);
}

static void on_audit_done(wk_worker_t *w)
{
    LOG_INFO("worker", "worker drained", NULL);
    rcli_close(w->redis, on_redis_closed, w);
}

void wk_drain_maybe_stop(wk_worker_t *w)
{
    if (!w->httpd_closed || w->audit_stopping)
        return;
    if (w->detached_calls) {
        /* Says why the stop waits (tests/node/worker_drain.test.mjs waits on this line). */
        char n[24];
        snprintf(n, sizeof n, "%zu", w->detached_calls);
        LOG_INFO("worker", "drain waits for calls answered 202 and resource polls", "left", n, NULL);
        return;
    }
    w->audit_stopping = 1;
    /* Calls are done: their audit records go to Redis before it closes. */
    wk_audit_stop(w, on_audit_done);
}
