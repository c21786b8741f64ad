/* reconcile_seed: COPY text of N integrated accounts for bench/reconcile.sh,
 * with credentials sealed under JSMCP_MASTER_KEYS for each account's id (the
 * seal's additional data is "acct:<id>", so SQL alone cannot make them; the
 * servers are made with generate_series).
 *
 *   reconcile_seed <n> <workspace_id>  >  accounts.copy
 *
 * Account i has id 00000000-0000-4000-8000-<i as 12 hex digits>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

int main(int argc, char **argv)
{
    char err[256];
    if (argc != 3) {
        fprintf(stderr, "usage: reconcile_seed <n> <workspace_id>\n");
        return 2;
    }
    if (secret_init() != 0)
        return 1;
    secret_keyring_t *k = secret_keyring_from_env(err, sizeof err);
    if (!k) {
        fprintf(stderr, "reconcile_seed: %s\n", err);
        return 1;
    }
    long n = atol(argv[1]);
    static const char creds[] = "{\"email\":\"agent@bench.test\",\"api_token\":\"bench-token\"}";
    for (long i = 0; i < n; i++) {
        char id[48], ad[64];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lx", i);
        snprintf(ad, sizeof ad, "acct:%s", id);
        char *sealed = secret_seal(k, ad, creds, sizeof creds - 1);
        if (!sealed)
            return 1;
        printf("%s\t%s\tbench-%ld\thttps://bench%ld.atlassian.net\tapi_token\t%s\t%s\n", id, argv[2], i, i % 1000,
               sealed, secret_keyring_active_kid(k));
        free(sealed);
    }
    secret_keyring_free(k);
    return 0;
}
