/* defer: see defer.h. */
#include "defer.h"

static void on_idle(uv_idle_t *h)
{
    defer_t *d = h->data;
    /* Only what was queued before this run: what an entry's function
     * queues (a call moving on) waits for the next iteration. */
    defer_entry_t *e = d->head;
    d->head = NULL;
    d->tail = &d->head;
    while (e) {
        defer_entry_t *next = e->next;
        d->pending--;
        e->next = NULL;
        e->fn(e);
        e = next;
    }
    if (!d->head)
        uv_idle_stop(h);
}

void defer_call(defer_t *d, uv_loop_t *loop, defer_entry_t *e, defer_fn fn)
{
    if (!d->ready) {
        uv_idle_init(loop, &d->idle);
        d->idle.data = d;
        d->head = NULL;
        d->tail = &d->head;
        d->ready = 1;
    }
    e->fn = fn;
    e->next = NULL;
    *d->tail = e;
    d->tail = &e->next;
    d->pending++;
    uv_idle_start(&d->idle, on_idle); /* nothing when it is active already */
}

size_t defer_pending(const defer_t *d)
{
    return d->pending;
}

void defer_close(defer_t *d)
{
    if (!d->ready)
        return;
    d->ready = 0;
    d->head = NULL;
    d->pending = 0;
    uv_close((uv_handle_t *)&d->idle, NULL);
}
