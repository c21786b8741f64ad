/* ap_listen: see ap_listen.h. */
#include "ap_listen.h"

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "buf.h"

struct ap_listen_s {
    uv_loop_t *loop;
    const char *conninfo;
    char sql[128];           /* LISTEN <channel> */
    ap_listen_fn hint;
    void *ud;
    PGconn *lc;
    uv_poll_t lpoll;
    int lpoll_open, lpoll_fd, listening;
    uv_timer_t lretry;
    int lretry_open;
    int stopping;
    void (*done)(void *arg);
    void *done_arg;
};

static void listen_connect(ap_listen_t *l);

static void maybe_done(ap_listen_t *l)
{
    if (!l->stopping || l->lretry_open || l->lpoll_open)
        return;
    if (l->lc)
        PQfinish(l->lc);
    void (*done)(void *) = l->done;
    void *arg = l->done_arg;
    free(l);
    done(arg);
}

static void on_lretry(uv_timer_t *t)
{
    listen_connect(t->data);
}

static void on_lpoll_closed(uv_handle_t *h)
{
    ap_listen_t *l = h->data;
    l->lpoll_open = 0;
    if (l->lc) {
        PQfinish(l->lc);
        l->lc = NULL;
    }
    if (l->stopping) {
        maybe_done(l);
        return;
    }
    uv_timer_start(&l->lretry, on_lretry, AP_LISTEN_RETRY_MS, 0);
}

/* Drops the connection and tries again later. */
static void listen_drop(ap_listen_t *l)
{
    l->listening = 0;
    if (l->lpoll_open) {
        uv_poll_stop(&l->lpoll);
        uv_close((uv_handle_t *)&l->lpoll, on_lpoll_closed);
        return;
    }
    if (l->lc) {
        PQfinish(l->lc);
        l->lc = NULL;
    }
    if (!l->stopping)
        uv_timer_start(&l->lretry, on_lretry, AP_LISTEN_RETRY_MS, 0);
}

static void on_lpoll(uv_poll_t *h, int status, int events);

static void lpoll_watch(ap_listen_t *l, int events)
{
    int fd = PQsocket(l->lc);
    if (l->lpoll_open && fd != l->lpoll_fd) { /* libpq moved to another socket */
        listen_drop(l);
        return;
    }
    if (!l->lpoll_open) {
        if (fd < 0 || uv_poll_init(l->loop, &l->lpoll, fd) != 0) {
            listen_drop(l);
            return;
        }
        l->lpoll.data = l;
        l->lpoll_open = 1;
        l->lpoll_fd = fd;
    }
    uv_poll_start(&l->lpoll, events, on_lpoll);
}

static void on_lpoll(uv_poll_t *h, int status, int events)
{
    ap_listen_t *l = h->data;
    (void)events;
    if (status < 0 || l->stopping) {
        listen_drop(l);
        return;
    }
    if (!l->listening) {
        PostgresPollingStatusType st = PQconnectPoll(l->lc);
        if (st == PGRES_POLLING_READING) {
            lpoll_watch(l, UV_READABLE);
        } else if (st == PGRES_POLLING_WRITING) {
            lpoll_watch(l, UV_WRITABLE);
        } else if (st == PGRES_POLLING_OK && PQsendQuery(l->lc, l->sql) == 1) {
            l->listening = 1;
            PQflush(l->lc);
            lpoll_watch(l, UV_READABLE);
            l->hint(l->ud, 1); /* notifications sent before the LISTEN were missed */
        } else {
            listen_drop(l);
        }
        return;
    }
    if (PQconsumeInput(l->lc) != 1) {
        listen_drop(l);
        return;
    }
    while (!PQisBusy(l->lc)) {
        PGresult *r = PQgetResult(l->lc);
        if (!r)
            break;
        PQclear(r);
    }
    int hinted = 0;
    for (PGnotify *n; (n = PQnotifies(l->lc)); PQfreemem(n))
        hinted = 1;
    if (hinted)
        l->hint(l->ud, 0);
}

static void listen_connect(ap_listen_t *l)
{
    if (l->stopping)
        return;
    l->lc = PQconnectStart(l->conninfo);
    if (!l->lc || PQstatus(l->lc) == CONNECTION_BAD || PQsetnonblocking(l->lc, 1) != 0) {
        listen_drop(l);
        return;
    }
    lpoll_watch(l, UV_WRITABLE);
}

ap_listen_t *ap_listen_start(uv_loop_t *loop, const char *conninfo, const char *channel, ap_listen_fn hint, void *ud)
{
    ap_listen_t *l = mem_calloc(1, sizeof *l);
    l->loop = loop;
    l->conninfo = conninfo;
    snprintf(l->sql, sizeof l->sql, "LISTEN %s", channel);
    l->hint = hint;
    l->ud = ud;
    uv_timer_init(loop, &l->lretry);
    l->lretry.data = l;
    l->lretry_open = 1;
    listen_connect(l);
    return l;
}

static void on_lretry_closed(uv_handle_t *h)
{
    ap_listen_t *l = h->data;
    l->lretry_open = 0;
    maybe_done(l);
}

void ap_listen_stop(ap_listen_t *l, void (*done)(void *arg), void *arg)
{
    l->stopping = 1;
    l->done = done;
    l->done_arg = arg;
    uv_timer_stop(&l->lretry);
    uv_close((uv_handle_t *)&l->lretry, on_lretry_closed); /* done runs from the loop, after this close */
    if (l->lpoll_open) {
        uv_poll_stop(&l->lpoll);
        uv_close((uv_handle_t *)&l->lpoll, on_lpoll_closed);
    }
}
