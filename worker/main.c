/* jsmcp-worker: the MCP worker pool (see wk_master.h and wk_http.h). */
#include <stdio.h>

#include "jalloc.h"
#include "log.h"
#include "secret.h"
#include "wk_master.h"

int main(void)
{
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
