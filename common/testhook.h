/* testhook: pause points for fault tests, compiled only into the sanitizer
 * (test) build. A test makes a process stop at a named point between two
 * steps (for example reconcile between its read of PostgreSQL and its write
 * to Redis), does something meanwhile, and lets it go on:
 *
 *   JSMCP_TEST_HOOK_DIR=<dir>     given to the process under test
 *   touch <dir>/<point>.pause     arm the point
 *   wait for <dir>/<point>.reached  the process is stopped there
 *   ... the racing operation ...
 *   rm <dir>/<point>.pause        the process goes on (and removes .reached)
 *
 * A point that is not armed costs one access() call, and only when the
 * directory is set. The release build has no hooks: it refuses to start
 * with JSMCP_TEST_HOOK_DIR set (testhook_check), so a forgotten test
 * variable cannot change how production behaves. Waiting never blocks an
 * event loop: th_wait polls the pause file with a timer.
 *
 * Callbacks: th_wait's cont runs from the loop, never before th_wait returns.
 */
#ifndef JSMCP_TESTHOOK_H
#define JSMCP_TESTHOOK_H

#include <uv.h>

/* 0, or -1 with a message on stderr when JSMCP_TEST_HOOK_DIR is set in a
 * build without hooks (every binary calls it at start). */
int testhook_check(const char *prog);

/* 1 when point is armed (test build, directory set, <point>.pause exists). */
int th_armed(const char *point);

/* When point is armed: marks it reached and calls cont(ud) from the loop
 * once the pause file is gone; returns 1. Otherwise returns 0 and does not
 * call cont (the caller goes on itself). */
int th_wait(uv_loop_t *loop, const char *point, void (*cont)(void *ud), void *ud);

/* The same for command-line tools without a loop: blocks while armed. */
void th_wait_blocking(const char *point);

#endif
