/* tl: see tl.h. */
#include "tl.h"

#include <criterion/criterion.h>

static uv_loop_t *tl_loop;
static uv_timer_t tl_guard;
static int tl_fired;

static void on_guard(uv_timer_t *t)
{
    tl_fired = 1;
}

void tl_init(uv_loop_t *loop)
{
    tl_loop = loop;
    cr_assert_eq(uv_loop_init(loop), 0);
    uv_timer_init(loop, &tl_guard);
    tl_fired = 0;
}

void tl_fini(void)
{
    uv_close((uv_handle_t *)&tl_guard, NULL);
    for (int i = 0; i < 10; i++)
        uv_run(tl_loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(tl_loop), 0, "handles left open");
}

/* Runs one turn at a time until done() or the guard fires. */
static void run_guarded(int (*done)(const void *), const void *arg, unsigned ms)
{
    tl_fired = 0;
    uv_timer_start(&tl_guard, on_guard, ms, 0);
    while (!(done && done(arg)) && !tl_fired)
        uv_run(tl_loop, UV_RUN_ONCE);
    uv_timer_stop(&tl_guard);
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
    run_guarded(count_reached, &c, ms);
    cr_assert(*counter >= want, "timed out waiting (%d of %d)", *counter, want);
}

void tl_run_until_pred(int (*pred)(const void *arg), const void *arg, unsigned ms,
                       const char *what)
{
    run_guarded(pred, arg, ms);
    cr_assert(pred(arg), "timed out waiting: %s", what);
}

void tl_run_for(unsigned ms)
{
    run_guarded(NULL, NULL, ms);
}
