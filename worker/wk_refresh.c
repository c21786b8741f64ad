/* wk_refresh: see wk_refresh.h. */
#include "wk_refresh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "clock.h"

#define WK_REPUBLISH_TICKS 10 /* a waiter reports again every 2 s (a lost message, an API restart) */

/* One waiting call. Freed in exactly one place (on_closed), after its
 * callback ran, no GET is in flight and its timer is closed. */
typedef struct wk_refresh_waiter_s {
    struct wk_refresh_waiter_s *next;
    wk_worker_t *w;
    char account_id[64];
    long long used;       /* the cred_version the failed call used */
    wk_store_account_cb cb;
    void *ud;
    uv_timer_t poll;
    uint64_t t0, deadline; /* uv_now() */
    unsigned ticks;
    int getting;          /* a GET acct:<id> in flight */
    int done;             /* cb ran */
    int closing;
} waiter_t;

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void maybe_free(waiter_t *wt)
{
    if (!wt->done || wt->getting || wt->closing)
        return;
    wt->closing = 1;
    uv_close((uv_handle_t *)&wt->poll, on_closed);
}

static void unlink_waiter(waiter_t *wt)
{
    for (waiter_t **p = &wt->w->refresh_waiters; *p; p = &(*p)->next)
        if (*p == wt) {
            *p = wt->next;
            return;
        }
}

static void finish(waiter_t *wt, int rc, const wk_account_t *acct, const char *err, const char *outcome)
{
    wk_worker_t *w = wt->w;
    char labels[64];
    wt->done = 1;
    unlink_waiter(wt);
    uv_timer_stop(&wt->poll);
    snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
    metrics_inc(w->metrics, "jsmcp_worker_refresh_waits_total", labels, 1);
    metrics_observe(w->metrics, "jsmcp_worker_refresh_wait_seconds", "",
                    (double)(uv_now(w->loop) - wt->t0) / 1e3);
    if (rc == -2)
        LOG_WARN("worker", "no refreshed access token arrived", "account", wt->account_id, NULL);
    wt->cb(rc, acct, err, wt->ud);
    maybe_free(wt);
}

static void publish(waiter_t *wt)
{
    char ch[160], msg[96];
    rcli_key(wt->w->redis, ch, sizeof ch, "refresh");
    snprintf(msg, sizeof msg, "%s %lld", wt->account_id, wt->used);
    metrics_inc(wt->w->metrics, "jsmcp_worker_refresh_requests_total", "", 1);
    if (rcli_command(wt->w->redis, NULL, NULL, "PUBLISH %s %s", ch, msg) != 0)
        metrics_inc(wt->w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
}

static void on_get(int rc, const wk_account_t *acct, const char *err, void *ud)
{
    waiter_t *wt = ud;
    wt->getting = 0;
    if (wt->done) {
        maybe_free(wt);
        return;
    }
    if (rc != 1)
        finish(wt, rc, NULL, err, "unusable"); /* needs_reauth, gone, unreadable, Redis down */
    else if (!acct->oauth || acct->cred_version > wt->used)
        finish(wt, 1, acct, NULL, "refreshed");
}

static void check_now(waiter_t *wt)
{
    if (wt->done || wt->getting)
        return;
    wt->getting = 1;
    wk_store_account_fresh(wt->w, wt->account_id, on_get, wt);
}

static void on_tick(uv_timer_t *t)
{
    waiter_t *wt = t->data;
    if (wt->done)
        return;
    if (uv_now(wt->w->loop) >= wt->deadline) {
        finish(wt, -2, NULL,
               "the JSM access token expired and no refreshed token arrived in time. Hint: this is "
               "temporary; call again in a few seconds.",
               "timeout");
        return;
    }
    if (++wt->ticks % WK_REPUBLISH_TICKS == 0)
        publish(wt);
    check_now(wt);
}

/* "<account_id> <version> <status>" on <prefix>refreshed: wake the calls
 * waiting on that account (they confirm with a GET). */
static void on_refreshed(const char *channel, const char *msg, size_t len, void *ud)
{
    wk_worker_t *w = ud;
    char id[64], status[32];
    long long version;
    char text[160];
    if (len >= sizeof text)
        return;
    memcpy(text, msg, len);
    text[len] = 0;
    if (sscanf(text, "%63s %lld %31s", id, &version, status) != 3)
        return;
    waiter_t *next;
    for (waiter_t *wt = w->refresh_waiters; wt; wt = next) {
        next = wt->next;
        if (strcmp(wt->account_id, id) == 0 && (version > wt->used || strcmp(status, "active") != 0))
            check_now(wt);
    }
}

int wk_refresh_start(wk_worker_t *w)
{
    char ch[160];
    rcli_key(w->redis, ch, sizeof ch, "refreshed");
    return rcli_subscribe(w->redis, ch, on_refreshed, w);
}

void wk_refresh_stop(wk_worker_t *w)
{
    char ch[160];
    rcli_key(w->redis, ch, sizeof ch, "refreshed");
    rcli_unsubscribe(w->redis, ch);
}

void wk_refresh_wait(wk_worker_t *w, const char *account_id, long long used_version, wk_store_account_cb cb,
                     void *ud)
{
    waiter_t *wt = mem_calloc(1, sizeof *wt);
    wt->w = w;
    snprintf(wt->account_id, sizeof wt->account_id, "%s", account_id);
    wt->used = used_version;
    wt->cb = cb;
    wt->ud = ud;
    wt->t0 = uv_now(w->loop);
    wt->deadline = wt->t0 + WK_REFRESH_GIVEUP_MS;
    uv_timer_init(w->loop, &wt->poll);
    wt->poll.data = wt;
    /* One report per account and version from this process is enough (the
     * API coalesces them anyway); later waiters only wait. */
    int reported = 0;
    for (waiter_t *o = w->refresh_waiters; o; o = o->next)
        reported |= strcmp(o->account_id, wt->account_id) == 0 && o->used == wt->used;
    wt->next = w->refresh_waiters;
    w->refresh_waiters = wt;
    if (!reported)
        publish(wt);
    /* The first check runs from the loop: the blob may already be newer
     * (another worker's call refreshed it), and cb must not run before this returns. */
    uv_timer_start(&wt->poll, on_tick, 0, WK_REFRESH_POLL_MS);
}
