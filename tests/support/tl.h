/* tl: drive a libuv loop from a Criterion test until callbacks ran.
 *
 * Every wait has a guard timer, so a bug fails the test ("timed out
 * waiting") instead of hanging it. A guard is never shorter than
 * TL_GUARD_MIN_MS, whatever the caller asks: a busy machine is slow, not
 * broken, and no test may assert how fast something happens (benchmarks
 * do). One loop per test:
 *
 *     static uv_loop_t loop;
 *     static void setup(void) { tl_init(&loop); }
 *     static void teardown(void) { tl_fini(); }   // asserts no handle is left
 *     ...
 *     tl_run_until(&calls, 1, 3000);
 */
#ifndef JSMCP_TL_H
#define JSMCP_TL_H

#include <uv.h>

#define TL_GUARD_MIN_MS 30000

void tl_init(uv_loop_t *loop);
/* Runs what is left without blocking (after a failed assertion something
 * may still be open) and asserts that the loop closes. */
void tl_fini(void);
/* Runs the loop until *counter >= want; fails after ms. */
void tl_run_until(const int *counter, int want, unsigned ms);
/* Runs the loop until pred(arg) is true; fails with what after ms. */
void tl_run_until_pred(int (*pred)(const void *arg), const void *arg, unsigned ms,
                       const char *what);
/* The same for a pred that reads state outside the loop (another process,
 * a database): it is also checked every 10 ms while the loop is idle. */
void tl_poll_until(int (*pred)(const void *arg), const void *arg, const char *what);
/* Runs the loop for ms. */
void tl_run_for(unsigned ms);

#endif
