/* jsmcp-api: the admin API (and `jsmcp-api migrate`).
 *
 * Configuration is read from the environment (docs/architecture.md).
 * At start the migrations are applied (blocking, before the loop runs),
 * then one libuv loop serves HTTP, talks to PostgreSQL and Redis, and
 * reconciles Redis from PostgreSQL. SIGTERM/SIGINT close it cleanly:
 * in-flight requests finish, connections close, everything is freed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_app.h"
#include "ap_migrate.h"
#include "ap_rekey.h"
#include "ap_sweeper.h"
#include "cfg.h"
#include "jalloc.h"
#include "log.h"
#include "testbuild.h"

static ap_app_t app;
static int sweeper_mode;
static uv_signal_t sig_term, sig_int;

static void on_closed(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    LOG_INFO("api", "shutting down", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    if (sweeper_mode)
        ap_sweeper_stop(on_closed, NULL);
    else
        ap_app_close(&app, on_closed, NULL);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: jsmcp-api [serve]   run the admin API (applies migrations first)\n"
            "       jsmcp-api migrate   apply migrations and exit\n"
            "       jsmcp-api sweeper   delete expired MCP servers (one leader among replicas)\n"
            "       jsmcp-api rotate-keys  re-encrypt every secret under the first key of JSMCP_MASTER_KEYS\n"
            "Configuration is read from JSMCP_* environment variables (see docs/architecture.md).\n");
}

int main(int argc, char **argv)
{
    char err[512];
    const char *cmd = argc > 1 ? argv[1] : "serve";
    log_init(argc > 1 && strcmp(argv[1], "sweeper") == 0 ? "jsmcp-sweeper" : "jsmcp-api");
    jalloc_install();
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage();
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 && strcmp(cmd, "sweeper") != 0 &&
        strcmp(cmd, "rotate-keys") != 0) {
        usage();
        return 2;
    }
    if (secret_init() != 0) {
        fprintf(stderr, "jsmcp-api: libsodium failed to initialise\n");
        return 1;
    }
    if (getenv("JSMCP_TEST_FIXTURES") && !testbuild_on()) {
        /* The conformance profile is for the test build only (common/testbuild.h). */
        fprintf(stderr, "jsmcp-api: JSMCP_TEST_FIXTURES is set, but this build has no test fixtures (a test-only "
                        "variable; unset it)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *db = cfg_str("JSMCP_DATABASE_URL", "postgresql:///jsmcp");
    int n = ap_migrate(db, err, sizeof err);
    if (n < 0) {
        LOG_ERROR("migrate", "migrations failed", "err", err, NULL);
        return 1;
    }
    if (strcmp(cmd, "rotate-keys") == 0)
        return ap_rekey_run();
    if (strcmp(cmd, "migrate") == 0) {
        fprintf(stdout, "jsmcp-api: %d migration%s applied\n", n, n == 1 ? "" : "s");
        return 0;
    }

    uv_loop_t *loop = uv_default_loop();
    sweeper_mode = strcmp(cmd, "sweeper") == 0;
    if (sweeper_mode ? ap_sweeper_start(loop) != 0 : ap_app_init(&app, loop) != 0)
        return 2;
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    LOG_INFO("api", "stopped", NULL);
    return 0;
}
