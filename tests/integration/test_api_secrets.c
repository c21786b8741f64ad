/* No secret in plaintext at rest or in logs: API keys, the bootstrap key,
 * MCP server tokens and account credentials must not appear in any
 * PostgreSQL table, any Redis value under the prefix, or the API's log
 * (at debug level). Sealed credentials open only with the right master key
 * and the right record. */
#include <sodium.h>

#include "test_api_common.h"

#define MAX_SECRETS 16

typedef struct {
    const char *what[MAX_SECRETS];
    char value[MAX_SECRETS][128];
    int n;
} secrets_t;

static void add_secret(secrets_t *s, const char *what, const char *value)
{
    cr_assert(s->n < MAX_SECRETS && value && strlen(value) >= 8, "secret %s", what);
    s->what[s->n] = what;
    snprintf(s->value[s->n++], sizeof s->value[0], "%s", value);
}

static void expect_none_in(const secrets_t *s, const char *text, const char *where)
{
    for (int i = 0; text && i < s->n; i++)
        cr_expect(!strstr(text, s->value[i]), "%s found in plaintext in %s", s->what[i], where);
}

Test(api_secrets, nothing_in_plaintext, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    secrets_t s = {0};
    char ws[64], key[64], acct[64], srv[64], tok[64], err[128], tok2[64], srv2[64];
    static const char *const env[] = {"JSMCP_LOG_LEVEL=debug", NULL};
    ta_start(&a, "secrets", env, ws, key, NULL);
    add_secret(&s, "the bootstrap key", a.bootstrap_key);
    add_secret(&s, "a workspace API key", key);
    /* the key without its shown prefix, in case only the tail leaks */
    add_secret(&s, "the secret part of an API key", key + 8);
    ta_call(&r, &a, a.bootstrap_key, "POST", "{\"name\":\"second\"}", "/workspaces/%s/api-keys", ws);
    cr_assert_eq(r.status, 201);
    add_secret(&s, "a second API key", ta_str(&r, "key"));
    ts_resp_free(&r);

    ta_account(&a, key, "cust-1", acct);
    char tok_acct[128];
    snprintf(tok_acct, sizeof tok_acct, TA_API_TOKEN_PREFIX "%s", "cust-1");
    add_secret(&s, "an account api_token", tok_acct);
    ta_call(&r, &a, key, "PATCH",
            "{\"auth\":{\"type\":\"api_token\",\"email\":\"new@acme.test\",\"api_token\":\"ATATT-replaced-token-42\"}}",
            "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    add_secret(&s, "a replaced api_token", "ATATT-replaced-token-42");
    ta_server(&a, key, acct, NULL, srv, tok);
    add_secret(&s, "an MCP server token", tok);
    ta_server(&a, key, acct, "{\"name\":\"b\",\"require_api_token_auth\":true}", srv2, tok2);
    add_secret(&s, "a second MCP server token", tok2);
    /* the raw master key (base64 after "k1:") */
    add_secret(&s, "the master key", strchr(a.master_keys, ':') + 1);

    /* PostgreSQL: every row of every table, as text */
    char *tables = ts_sql(a.db_url, "SELECT string_agg(table_name, ',') FROM information_schema.tables WHERE "
                                    "table_schema = 'public' AND table_type = 'BASE TABLE'");
    cr_assert(tables && strstr(tables, "mcp_servers"), "tables: %s", tables ? tables : "(none)");
    for (char *t = strtok(tables, ","); t; t = strtok(NULL, ",")) {
        char sql[256], where[128];
        snprintf(sql, sizeof sql, "SELECT string_agg(t::text, '') FROM %s t", t);
        char *dump = ts_sql(a.db_url, sql);
        snprintf(where, sizeof where, "PostgreSQL table %s", t);
        expect_none_in(&s, dump, where);
        free(dump);
    }
    free(tables);

    /* Redis: every value under the prefix, whatever its type */
    char *keys = ts_redis("KEYS %s*", a.redis_prefix);
    int nkeys = 0;
    for (char *k = keys ? strtok(keys, "\n") : NULL; k; k = strtok(NULL, "\n"), nkeys++) {
        char *type = ts_redis("TYPE %s", k), *v = NULL;
        if (strcmp(type, "string") == 0)
            v = ts_redis("GET %s", k);
        else if (strcmp(type, "set") == 0)
            v = ts_redis("SMEMBERS %s", k);
        else if (strcmp(type, "hash") == 0)
            v = ts_redis("HGETALL %s", k);
        else if (strcmp(type, "list") == 0)
            v = ts_redis("LRANGE %s 0 -1", k);
        char where[300];
        snprintf(where, sizeof where, "Redis %s (%s)", k, type);
        cr_expect(v, "cannot read %s", where);
        expect_none_in(&s, v, where);
        /* the key names themselves */
        expect_none_in(&s, k, "a Redis key name");
        free(v);
        free(type);
    }
    free(keys);
    cr_assert(nkeys >= 4, "only %d keys published", nkeys);

    /* metrics (their own listener): nothing secret there either */
    ts_http(&r, "GET", a.metrics_url, NULL, NULL, 0);
    expect_none_in(&s, r.body, "/metrics");
    ts_resp_free(&r);

    /* the sealed blob in Redis opens with the master key and acct:<id> only */
    secret_keyring_t *kr = secret_keyring_parse(a.master_keys, err, sizeof err);
    cr_assert(kr, "%s", err);
    char rkey[256], ad[128], bad_ad[128];
    snprintf(rkey, sizeof rkey, "%sacct:%s", a.redis_prefix, acct);
    snprintf(ad, sizeof ad, "acct:%s", acct);
    snprintf(bad_ad, sizeof bad_ad, "acct:%s", srv);
    char *sealed = tc_sealed(ts_redis("GET %s", rkey));
    cr_assert(sealed, "%s not published", rkey);
    size_t n;
    char kid[16];
    char *pt = secret_open(kr, ad, sealed, &n, kid, sizeof kid);
    cr_assert(pt, "acct blob does not open with the master key and ad %s", ad);
    cr_assert_str_eq(kid, "k1");
    json_t *j = json_loads(pt, 0, NULL);
    cr_assert(j, "acct blob is not JSON");
    cr_assert_str_eq(json_string_value(json_object_get(j, "api_token")), "ATATT-replaced-token-42",
                     "acct blob does not hold the current credentials");
    cr_assert_str_eq(json_string_value(json_object_get(j, "email")), "new@acme.test");
    cr_assert_str_eq(json_string_value(json_object_get(j, "site_url")), TA_SITE);
    cr_assert_str_eq(json_string_value(json_object_get(j, "auth_type")), "api_token");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "active");
    json_decref(j);
    sodium_memzero(pt, n);
    free(pt);
    cr_assert_null(secret_open(kr, bad_ad, sealed, &n, NULL, 0), "acct blob opens for another record");
    char other[160], otherkey[60];
    secret_random_b64(32, otherkey, sizeof otherkey);
    snprintf(other, sizeof other, "k1:%s", otherkey);
    secret_keyring_t *wrong = secret_keyring_parse(other, err, sizeof err);
    cr_assert(wrong, "%s", err);
    cr_assert_null(secret_open(wrong, ad, sealed, &n, NULL, 0), "acct blob opens with another master key");
    free(sealed);

    /* the sealed credentials in PostgreSQL too */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT credentials_sealed FROM integrated_accounts WHERE id = '%s'", acct);
    char *col = ts_sql(a.db_url, sql);
    cr_assert(col, "no credentials_sealed");
    pt = secret_open(kr, ad, col, &n, NULL, 0);
    cr_expect(pt, "credentials_sealed does not open with ad %s", ad);
    if (pt)
        cr_expect(strstr(pt, "ATATT-replaced-token-42"), "credentials_sealed lacks the current api_token");
    free(pt);
    cr_expect_null(secret_open(wrong, ad, col, &n, NULL, 0), "credentials_sealed opens with another master key");
    free(col);
    secret_keyring_free(wrong);
    secret_keyring_free(kr);

    /* the log, read after a clean stop so everything is flushed */
    ta_stop(&a);
    /* The search below is only worth something if the API logged at debug level. */
    cr_assert_gt(ts_log_count(&a.proc, "\"level\":\"debug\""), 0, "the API logged nothing at debug level: %s",
                 a.proc.log);
    for (int i = 0; i < s.n; i++)
        cr_expect(!ts_file_contains(a.proc.log, s.value[i]), "%s found in the API log %s", s.what[i], a.proc.log);
}
