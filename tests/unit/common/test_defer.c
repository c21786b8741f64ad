/* defer: entries run from the loop, in order, never inside defer_call;
 * what an entry queues waits for the next iteration; close drops the rest. */
#include <criterion/criterion.h>
#include <string.h>

#include "defer.h"

static uv_loop_t LOOP;
static defer_t D;
static char order[64];

typedef struct item_s {
    defer_entry_t e;
    char name;
    int requeue; /* queue itself once more when it runs */
} item_t;

static void run_item(defer_entry_t *e)
{
    item_t *it = (item_t *)e;
    size_t n = strlen(order);
    order[n] = it->name;
    order[n + 1] = 0;
    if (it->requeue) {
        it->requeue = 0;
        it->name = (char)(it->name - 'a' + 'A');
        defer_call(&D, &LOOP, &it->e, run_item);
    }
}

static void setup(void)
{
    memset(&D, 0, sizeof D);
    order[0] = 0;
    uv_loop_init(&LOOP);
}

static void teardown(void)
{
    defer_close(&D);
    uv_run(&LOOP, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&LOOP), 0, "every handle closed");
}

TestSuite(defer, .init = setup, .fini = teardown);

Test(defer, later_in_order_and_requeued_next_iteration)
{
    item_t a = {.name = 'a', .requeue = 1}, b = {.name = 'b'}, c = {.name = 'c'};
    defer_call(&D, &LOOP, &a.e, run_item);
    defer_call(&D, &LOOP, &b.e, run_item);
    cr_assert_str_eq(order, "", "nothing runs inside defer_call");
    cr_assert_eq(defer_pending(&D), 2);
    uv_run(&LOOP, UV_RUN_NOWAIT);
    cr_assert_str_eq(order, "ab", "one iteration runs what was queued before it, in order");
    cr_assert_eq(defer_pending(&D), 1, "a queued itself again");
    defer_call(&D, &LOOP, &c.e, run_item);
    uv_run(&LOOP, UV_RUN_DEFAULT);
    cr_assert_str_eq(order, "abAc");
    cr_assert_eq(defer_pending(&D), 0);
}

Test(defer, close_drops_what_is_queued)
{
    item_t a = {.name = 'a'};
    defer_call(&D, &LOOP, &a.e, run_item);
    defer_close(&D);
    uv_run(&LOOP, UV_RUN_DEFAULT);
    cr_assert_str_eq(order, "");
    cr_assert_eq(defer_pending(&D), 0);
}
