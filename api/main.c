/* jsmcp-api: the admin API (and `jsmcp-api migrate`, `sweeper`, `rotate-keys`;
 * `--help` lists them).
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
#include "cli.h"
#include "jalloc.h"
#include "log.h"
#include "testbuild.h"
#include "testhook.h"
#include "version.h"

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

/* The commands; the first is the default. */
static const struct command_s {
    const char *name, *args, *what;
} COMMANDS[] = {
    {"serve", "[serve]", "run the admin API and the dashboard (applies the migrations first)"},
    {"migrate", "migrate", "apply the database migrations and exit"},
    {"sweeper", "sweeper", "delete expired MCP servers (one leader among replicas)"},
    {"rotate-keys", "rotate-keys", "re-encrypt every secret under the first key of JSMCP_MASTER_KEYS"},
};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))
static const struct command_s *command; /* the one this process runs */

static void usage_config(FILE *out)
{
    fprintf(out, "Configuration is read from the environment (docs/architecture.md): JSMCP_DATABASE_URL,\n"
                 "JSMCP_REDIS_URL, JSMCP_MASTER_KEYS (or JSMCP_MASTER_KEY_FILE), JSMCP_BOOTSTRAP_KEY,\n"
                 "JSMCP_API_LISTEN, JSMCP_PUBLIC_WORKER_URL, ...\n");
}

static void usage(FILE *out)
{
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "%s jsmcp-api %-12s %s\n", i ? "      " : "usage:", COMMANDS[i].args, COMMANDS[i].what);
    fprintf(out, "       jsmcp-api [<command>] --help | --version\n");
    usage_config(out);
}

static void usage_command(FILE *out)
{
    fprintf(out, "usage: jsmcp-api %s [--help | --version]\n  %s\n", command->name, command->what);
    usage_config(out);
}

/* Picks the command from argv and answers --help, --version and anything
 * unknown before anything is opened. Returns the exit status when the
 * process is done, -1 when the command should run. */
static int parse_args(int argc, char **argv)
{
    static const cli_t CLI = {"jsmcp-api", usage};
    int i = 1;
    command = &COMMANDS[0];
    if (argc > 1 && argv[1][0] != '-') {
        command = NULL;
        for (int c = 0; c < NCOMMANDS && !command; c++)
            if (strcmp(argv[1], COMMANDS[c].name) == 0)
                command = &COMMANDS[c];
        if (!command) {
            char what[160];
            snprintf(what, sizeof what, "unknown command '%.100s'", argv[1]);
            return cli_usage_error(&CLI, what);
        }
        i = 2;
    }
    char prog[64];
    snprintf(prog, sizeof prog, "jsmcp-api %s", command->name);
    const cli_t sub = {prog, usage_command};
    /* No command given: the flags answer for jsmcp-api as a whole. */
    if (i < argc)
        return cli_arg(i == 1 ? &CLI : &sub, argv[i]);
    return -1;
}

int main(int argc, char **argv)
{
    char err[512];
    int rc = parse_args(argc, argv);
    if (rc >= 0)
        return rc;
    const char *cmd = command->name;
    log_init(strcmp(cmd, "sweeper") == 0 ? "jsmcp-sweeper" : "jsmcp-api");
    jalloc_install();
    if (testhook_check("jsmcp-api") != 0)
        return 2;
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
    if (!sweeper_mode) { /* here, where the build's version is linked in (common/version.h) */
        char labels[160];
        snprintf(labels, sizeof labels, "version=\"%s\",commit=\"%s\"", jsmcp_version, jsmcp_commit);
        metrics_describe(app.metrics, "jsmcp_api_build_info", "gauge", "Always 1; the build's version and commit");
        metrics_set(app.metrics, "jsmcp_api_build_info", labels, 1);
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    LOG_INFO("api", "stopped", NULL);
    return 0;
}
