/* Binaries a test started die with it, even when an assertion ends the test
 * before it could stop them (ts_spawn, tests/support/ts.h).
 *
 * Runs the probe tests/probes/spawn_then_fail (a Criterion test that starts a
 * sandbox and a worker pool, then fails on purpose) as a subprocess, with this
 * process as the child subreaper: everything the probe leaves behind is
 * re-parented here, so waitpid() sees each one end, and how, without polling
 * for pids or timing anything. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ts.h"

#define DEADLINE_S 60 /* a drained idle worker pool ends in well under a second */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* SIGKILL to every child of this process (the orphans re-parented here). */
static void kill_children(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    int pid;
    while (f && fscanf(f, "%d", &pid) == 1)
        kill(pid, SIGKILL);
    if (f)
        fclose(f);
}

Test(spawn, binaries_die_with_a_failed_test, .timeout = 120)
{
    char probe[512], pidfile[512], log[512];
    const char *bin = ts_getenv("JSMCP_BIN_DIR"), *art = ts_getenv("JSMCP_TEST_ARTIFACTS");
    snprintf(probe, sizeof probe, "%s/tests/probes/spawn_then_fail", bin);
    snprintf(pidfile, sizeof pidfile, "%s/spawn_probe.pids", art);
    snprintf(log, sizeof log, "%s/spawn_probe.log", art);
    cr_assert(access(probe, X_OK) == 0, "%s is not built (make tests)", probe);
    unlink(pidfile);
    cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));

    pid_t runner = fork();
    cr_assert(runner >= 0);
    if (runner == 0) {
        FILE *out = freopen(log, "w", stdout);
        /* BXFI_MAP tells a Criterion binary it is a test's sandboxed
         * process: the probe must start as a runner of its own. */
        if (!out || dup2(fileno(stdout), 2) < 0 || setenv("PROBE_PID_FILE", pidfile, 1) != 0 ||
            unsetenv("BXFI_MAP") != 0)
            _exit(127);
        execl(probe, probe, "--jobs", "1", (char *)NULL);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(runner, &st, 0), runner);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the probe should fail its one test (status %d, log %s)", st,
              log);
    cr_assert(ts_file_contains(log, "failing on purpose"), "the probe failed otherwise (log %s)", log);

    int sandbox = 0, master = 0;
    FILE *f = fopen(pidfile, "r");
    cr_assert(f, "the probe wrote no pids (log %s)", log);
    cr_assert_eq(fscanf(f, "%d %d", &sandbox, &master), 2);
    fclose(f);

    /* Reap until no child is left: the sandbox, the worker master, and its
     * two workers once the master is gone. */
    int reaped = 0, sandbox_st = -1, master_st = -1;
    time_t end = time(NULL) + DEADLINE_S;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) >= 0 && time(NULL) < end) {
        if (pid == 0) {
            sleep_ms(20);
            continue;
        }
        reaped++;
        if (pid == sandbox)
            sandbox_st = st;
        else if (pid == master)
            master_st = st;
    }
    int left = pid >= 0, wait_errno = errno;
    if (left) /* leave nothing behind, then fail */
        kill_children();
    cr_assert(!left, "processes the failed probe started were still running after %d s", DEADLINE_S);
    cr_assert_eq(wait_errno, ECHILD, "waitpid: %s", strerror(wait_errno));
    cr_assert(WIFSIGNALED(sandbox_st) && WTERMSIG(sandbox_st) == SIGKILL, "sandbox: status %d", sandbox_st);
    cr_assert(WIFSIGNALED(master_st) && WTERMSIG(master_st) == SIGKILL, "worker master: status %d", master_st);
    cr_assert_eq(reaped, 4, "sandbox, master and 2 workers, reaped %d", reaped);
}
