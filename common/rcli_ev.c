/* rcli_ev: hiredis' event hooks on libuv, our own adapter (rcli_int.h; the
 * design notes there say why not <hiredis/adapters/libuv.h>). One
 * evpoll_t per hiredis context, freed in its poll handle's close callback.
 */
#include <stdlib.h>

#include "buf.h"
#include "rcli_int.h"

/* ------------------------------------------------------------ hiredis <-> libuv */

typedef struct evpoll_s evpoll_t;
struct evpoll_s {
    uv_poll_t h;
    rcli_t *r;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    int events;            /* what the poll handle watches */
    int flushing;          /* inside ev_flush: a new addWrite means "socket full, poll" */
    evpoll_t *flush_next;  /* on r->flush_head while a write is deferred */
    int queued;
};

static void ev_on_poll(uv_poll_t *h, int status, int events)
{
    evpoll_t *e = h->data;
    /* On an error let hiredis try both ways: its read/write or connect
     * check sees the socket error and fails the context. */
    if (status < 0)
        events = e->events ? e->events : UV_READABLE;
    if (e->ac && (events & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(e->ac);
}

/* uv_poll_start() always removes the fd from epoll and adds it back, so it
 * is called only when the set of events really changes. */
static void ev_update(evpoll_t *e, int events)
{
    if (events == e->events)
        return;
    e->events = events;
    if (events)
        uv_poll_start(&e->h, events, ev_on_poll);
    else
        uv_poll_stop(&e->h);
}

static void ev_add_read(void *d)
{
    evpoll_t *e = d;
    ev_update(e, e->events | UV_READABLE);
}

static void ev_del_read(void *d)
{
    evpoll_t *e = d;
    ev_update(e, e->events & ~UV_READABLE);
}

/* hiredis has output: instead of polling for writability (two epoll_ctl
 * calls and a loop turn per command), the write is made at the end of this
 * loop turn (uv_check) or before the next poll (uv_prepare), together with
 * every other command queued meanwhile. Only a socket that is full (or
 * still connecting) is polled for writability. */
static void ev_add_write(void *d)
{
    evpoll_t *e = d;
    if (e->flushing || !e->ac || !(e->ac->c.flags & REDIS_CONNECTED)) {
        ev_update(e, e->events | UV_WRITABLE);
        return;
    }
    if (!e->queued) {
        e->queued = 1;
        e->flush_next = e->r->flush_head;
        e->r->flush_head = e;
    }
}

static void ev_del_write(void *d)
{
    evpoll_t *e = d;
    ev_update(e, e->events & ~UV_WRITABLE);
}

static void ev_unqueue(evpoll_t *e)
{
    if (!e->queued)
        return;
    for (evpoll_t **pp = &e->r->flush_head; *pp; pp = &(*pp)->flush_next)
        if (*pp == e) {
            *pp = e->flush_next;
            break;
        }
    e->queued = 0;
}

static void ev_flush(rcli_t *r)
{
    while (r->flush_head) {
        evpoll_t *e = r->flush_head;
        r->flush_head = e->flush_next;
        e->queued = 0;
        if (!e->ac)
            continue;
        e->flushing = 1;
        redisAsyncHandleWrite(e->ac); /* may end the context: e stays valid until its close callback */
        e->flushing = 0;
    }
}

void rcli_ev_flush_check(uv_check_t *h)
{
    ev_flush(h->data);
}

void rcli_ev_flush_prepare(uv_prepare_t *h)
{
    ev_flush(h->data);
}

static void ev_on_closed(uv_handle_t *h)
{
    free(h->data);
}

/* hiredis is done with the socket (it closes it right after). */
static void ev_cleanup(void *d)
{
    evpoll_t *e = d;
    e->ac = NULL;
    ev_unqueue(e);
    uv_close((uv_handle_t *)&e->h, ev_on_closed);
}

int rcli_ev_attach(redisAsyncContext *ac, rcli_t *r)
{
    evpoll_t *e = mem_calloc(1, sizeof *e);
    if (uv_poll_init(r->loop, &e->h, ac->c.fd) != 0) {
        free(e);
        return -1;
    }
    e->h.data = e;
    e->r = r;
    e->ac = ac;
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}
