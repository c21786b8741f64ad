/* jsmcp-worker: the MCP worker pool (see wk_master.h and wk_http.h). */
#include <stdio.h>

#include "cli.h"
#include "jalloc.h"
#include "log.h"
#include "secret.h"
#include "wk_master.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: jsmcp-worker [--help | --version]\n"
            "  run the MCP worker pool: a master and JSMCP_WORKERS forked workers (default: one\n"
            "  per core) serving MCP on JSMCP_WORKER_LISTEN (default 127.0.0.1:8081)\n"
            "Configuration is read from the environment (docs/architecture.md): JSMCP_REDIS_URL,\n"
            "JSMCP_MASTER_KEYS (or JSMCP_MASTER_KEY_FILE), JSMCP_SITE_ALLOWLIST, JSMCP_PUBLIC_WORKER_URL, ...\n");
}

int main(int argc, char **argv)
{
    static const cli_t CLI = {"jsmcp-worker", usage};
    /* The worker takes no arguments: any is --help, --version or an error. */
    if (argc > 1)
        return cli_arg(&CLI, argv[1]);
    log_init("jsmcp-worker");
    jalloc_install();
    char err[512];
    wk_config_t cfg;
    if (secret_init() != 0) {
        fprintf(stderr, "jsmcp-worker: libsodium failed to initialise\n");
        return 1;
    }
    if (wk_master_config(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "jsmcp-worker: config: %s\n", err);
        return 2;
    }
    /* Fail before forking when the keys are missing, not N times after. */
    secret_keyring_t *k = secret_keyring_from_env(err, sizeof err);
    if (!k) {
        fprintf(stderr, "jsmcp-worker: config: %s\n", err);
        return 2;
    }
    secret_keyring_free(k);
    return wk_master_run(&cfg);
}
