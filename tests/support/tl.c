/* tl: see tl.h. */
#include "tl.h"

#include <criterion/criterion.h>

static uv_loop_t *tl_loop;
static uv_timer_t tl_guard, tl_tick;
static int tl_fired;

static void on_guard(uv_timer_t *t)
{
    tl_fired = 1;
}

static void on_tick(uv_timer_t *t)
{
}

void tl_init(uv_loop_t *loop)
{
    tl_loop = loop;
    cr_assert_eq(uv_loop_init(loop), 0);
    uv_timer_init(loop, &tl_guard);
    uv_timer_init(loop, &tl_tick);
    tl_fired = 0;
}

void tl_fini(void)
{
    uv_close((uv_handle_t *)&tl_guard, NULL);
    uv_close((uv_handle_t *)&tl_tick, NULL);
    for (int i = 0; i < 10; i++)
        uv_run(tl_loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(tl_loop), 0, "handles left open");
}

/* Runs one turn at a time until done() or the guard fires (a wait for
 * done gets at least TL_GUARD_MIN_MS); tick: a turn at least every 10 ms. */
static void run_guarded(int (*done)(const void *), const void *arg, unsigned ms, int tick)
{
    if (done && ms < TL_GUARD_MIN_MS)
        ms = TL_GUARD_MIN_MS;
    tl_fired = 0;
    uv_timer_start(&tl_guard, on_guard, ms, 0);
    if (tick)
        uv_timer_start(&tl_tick, on_tick, 10, 10);
    while (!(done && done(arg)) && !tl_fired)
        uv_run(tl_loop, UV_RUN_ONCE);
    uv_timer_stop(&tl_guard);
    uv_timer_stop(&tl_tick);
}

typedef struct count_s {
    const int *counter;
    int want;
} count_t;

static int count_reached(const void *arg)
{
    const count_t *c = arg;
    return *c->counter >= c->want;
}

void tl_run_until(const int *counter, int want, unsigned ms)
{
    count_t c = {counter, want};
    run_guarded(count_reached, &c, ms, 0);
    cr_assert(*counter >= want, "timed out waiting (%d of %d)", *counter, want);
}

void tl_run_until_pred(int (*pred)(const void *arg), const void *arg, unsigned ms,
                       const char *what)
{
    run_guarded(pred, arg, ms, 0);
    cr_assert(pred(arg), "timed out waiting: %s", what);
}

void tl_poll_until(int (*pred)(const void *arg), const void *arg, const char *what)
{
    run_guarded(pred, arg, TL_GUARD_MIN_MS, 1);
    cr_assert(pred(arg), "timed out waiting: %s", what);
}

void tl_run_for(unsigned ms)
{
    run_guarded(NULL, NULL, ms, 0);
}
