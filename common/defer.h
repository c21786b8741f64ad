/* defer: runs a function from the loop, never from inside the call that
 * asks for it. How a module keeps the tree's callback contract (a callback
 * never runs before the call that registered it returns) when it has its
 * answer at once: a cache hit, a refusal, Redis unavailable.
 *
 * One queue per owner (the worker has one): an idle handle, active only
 * while something is queued, runs the entries in order in the loop's next
 * iteration, before it polls (entries queued while they run wait for the
 * one after, so I/O is never starved). A zero-timeout timer would run an
 * entry queued from an entry in the same pass (libuv runs due timers until
 * none is due), and costs a heap insertion. An entry lives in the caller's
 * context (no allocation), is queued at most once at a time and stays
 * valid until its function runs.
 *
 * The queue needs no setup: a zeroed defer_t is empty, and the first
 * defer_call makes its handle on loop. defer_close closes it (once
 * nothing more is queued: when the loop has run out of work).
 */
#ifndef JSMCP_DEFER_H
#define JSMCP_DEFER_H

#include <stddef.h>

#include <uv.h>

typedef struct defer_entry_s defer_entry_t;
typedef void (*defer_fn)(defer_entry_t *e);
struct defer_entry_s {
    defer_entry_t *next;
    defer_fn fn;
};

typedef struct defer_s {
    uv_idle_t idle;
    int ready;              /* idle initialised */
    defer_entry_t *head;
    defer_entry_t **tail;
    size_t pending;
} defer_t;

/* Queues fn(e) to run from loop, after the current callback returns. */
void defer_call(defer_t *d, uv_loop_t *loop, defer_entry_t *e, defer_fn fn);

/* Entries queued and not run yet. */
size_t defer_pending(const defer_t *d);

/* Closes the handle (the loop finishes the close); entries still queued
 * are dropped. */
void defer_close(defer_t *d);

#endif
