/* pub_check: the tests' invariant checker of PostgreSQL against Redis
 * (tests/support/tc.h) as a command, for bench/reconcile.sh: after a run at
 * scale, every server, account and API key row has a live record equal to
 * the row (config, auth flag, expiry, account, version), and no record
 * lacks a row except tombstones.
 *
 *   pub_check   (JSMCP_DATABASE_URL, JSMCP_TEST_REDIS_URL, JSMCP_REDIS_PREFIX,
 *                JSMCP_MASTER_KEYS from the environment)
 *
 * Prints "consistent" and exits 0, or prints the violations and exits 1. */
#include <stdio.h>
#include <stdlib.h>

#include "secret.h"
#include "tc.h"

int main(void)
{
    const char *db = getenv("JSMCP_DATABASE_URL"), *prefix = getenv("JSMCP_REDIS_PREFIX");
    const char *keys = getenv("JSMCP_MASTER_KEYS");
    if (!db || !prefix || !keys || !getenv("JSMCP_TEST_REDIS_URL")) {
        fprintf(stderr, "pub_check: set JSMCP_DATABASE_URL, JSMCP_TEST_REDIS_URL, JSMCP_REDIS_PREFIX, JSMCP_MASTER_KEYS\n");
        return 2;
    }
    if (secret_init() != 0)
        return 2;
    char *msg = tc_check_publication(db, prefix, keys);
    if (!msg) {
        printf("consistent\n");
        return 0;
    }
    printf("%s", msg);
    free(msg);
    return 1;
}
