/* wk_script: Lua scripts in Redis, for the worker's atomic steps (pacing,
 * session admission, stream leases). A script is loaded once per process
 * (SCRIPT LOAD) and run by its SHA1 (EVALSHA); until Redis answered the
 * load, or after a restart made Redis forget it (NOSCRIPT), the script
 * itself is sent (EVAL) and loaded again.
 *
 * Callback rule (the tree's): cb runs exactly once per wk_script_run,
 * never before it returns (when Redis is unavailable, from the loop:
 * reply NULL, err set).
 */
#ifndef JSMCP_WK_SCRIPT_H
#define JSMCP_WK_SCRIPT_H

#include "rcli.h"
#include "wk_proc.h"

typedef struct wk_script_s {
    const char *src;
    char sha[48];   /* "" until SCRIPT LOAD answered */
    int loading;    /* a SCRIPT LOAD is on its way */
} wk_script_t;

/* Sends SCRIPT LOAD for sc (its answer fills sc->sha); the first run does
 * it too. */
void wk_script_load(wk_worker_t *w, wk_script_t *sc);

/* Runs sc with nkeys keys followed by the other arguments (argc strings in
 * all, copied). */
void wk_script_run(wk_worker_t *w, wk_script_t *sc, int nkeys, int argc, const char *const *argv, rcli_cb cb,
                   void *ud);

#endif
