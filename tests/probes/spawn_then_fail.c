/* A test that fails on purpose while binaries it started are running. Run
 * only by tests/integration/test_spawn.c (tests/run.sh does not run probes),
 * which checks that the binaries died with it.
 *
 * Starts a sandbox and a worker pool (a master and two forked workers), writes
 * "<sandbox pid> <worker master pid>" to $PROBE_PID_FILE, then fails an
 * assertion: Criterion ends the test's process there, before any ts_stop. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>

#include "ts.h"

Test(probe, spawn_then_fail)
{
    ts_proc_t sandbox, worker;
    char listen[64], wlisten[64], mlisten[64], keys[128], prefix[128], redis[256], key[64];
    int sport = ts_free_port(), wport = ts_free_port(), mport = ts_free_port();

    snprintf(listen, sizeof listen, "127.0.0.1:%d", sport);
    const char *sargs[] = {"--listen", listen, NULL};
    ts_spawn(&sandbox, "probe_sandbox", "jsm-sandbox", sargs, NULL, sport);

    unsigned char raw[32];
    cr_assert(sodium_init() >= 0);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(key, sizeof key, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(keys, sizeof keys, "JSMCP_MASTER_KEYS=k1:%s", key);
    snprintf(wlisten, sizeof wlisten, "JSMCP_WORKER_LISTEN=127.0.0.1:%d", wport);
    snprintf(mlisten, sizeof mlisten, "JSMCP_WORKER_METRICS_LISTEN=127.0.0.1:%d", mport);
    snprintf(redis, sizeof redis, "JSMCP_REDIS_URL=%s", ts_getenv("JSMCP_TEST_REDIS_URL"));
    ts_redis_prefix(key, sizeof key);
    snprintf(prefix, sizeof prefix, "JSMCP_REDIS_PREFIX=%s", key);
    const char *wenv[] = {keys, wlisten, mlisten, redis, prefix, "JSMCP_WORKERS=2", NULL};
    ts_spawn(&worker, "probe_worker", "jsmcp-worker", NULL, wenv, wport);

    FILE *f = fopen(ts_getenv("PROBE_PID_FILE"), "w");
    cr_assert(f);
    fprintf(f, "%d %d\n", (int)sandbox.pid, (int)worker.pid);
    cr_assert(fclose(f) == 0);
    cr_assert_fail("failing on purpose with the sandbox (pid %d) and a worker pool (pid %d) running",
                   (int)sandbox.pid, (int)worker.pid);
}
