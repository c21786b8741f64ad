/* Integration tests of encryption at rest (issue 6): `jsmcp-api rotate-keys`
 * re-encrypts every credential and republishes the accounts under the new
 * master key while the API keeps serving; afterwards the old key can go.
 * And no refresh token ever reaches Redis. */
#include <sodium.h>

#include "test_api_common.h"

static void new_key(char *out, size_t outsz, const char *kid)
{
    unsigned char raw[32];
    char b64[64];
    cr_assert(sodium_init() >= 0);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, outsz, "%s:%s", kid, b64);
}

/* Runs `jsmcp-api rotate-keys` with the API's environment and keys; returns its exit status. */
static int rotate(ts_api_t *a, const char *keys, const char *name)
{
    const char *env[TS_MAX_ENV + 2];
    char kv[256];
    ts_api_env(a, env, TS_MAX_ENV + 1);
    size_t n = 0;
    while (env[n])
        n++;
    snprintf(kv, sizeof kv, "JSMCP_MASTER_KEYS=%s", keys);
    env[n++] = kv;
    env[n] = NULL;
    ts_proc_t p;
    const char *args[] = {"rotate-keys", NULL};
    ts_spawn(&p, name, "jsmcp-api", args, env, 0);
    int st;
    cr_assert(waitpid(p.pid, &st, 0) == p.pid);
    cr_assert(ts_log_count(&p, "ERROR") == 0 && !ts_file_contains(p.log, "runtime error"), "log %s", p.log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* 1 when s holds needle; frees s. */
static int strstr_free(char *s, const char *needle)
{
    int in = s && strstr(s, needle);
    free(s);
    return in;
}

/* Opens the acct:<id> blob with the given keyring spec; returns the JSON (caller decrefs) or NULL. */
static json_t *open_acct(const ts_api_t *a, const char *keys, const char *id, char *kid_out)
{
    char err[256], ad[64];
    secret_keyring_t *k = secret_keyring_parse(keys, err, sizeof err);
    cr_assert(k, "%s", err);
    char *blob = tc_sealed(ts_redis("GET %sacct:%s", a->redis_prefix, id));
    cr_assert(blob, "no acct:%s in Redis", id);
    snprintf(ad, sizeof ad, "acct:%s", id);
    size_t n;
    char *pt = secret_open(k, ad, blob, &n, kid_out, 16);
    json_t *v = pt ? json_loadb(pt, n, 0, NULL) : NULL;
    free(pt);
    free(blob);
    secret_keyring_free(k);
    return v;
}

Test(keys, rotation_reencrypts_everything_and_the_old_key_can_go, .timeout = 60)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], oacct[64], k2[128], both[300], only2[140], kid[16], sql[256];
    ta_start(&a, "keys_api", NULL, ws, key, acct);
    /* An OAuth account too: its refresh token must stay out of Redis. */
    ts_resp_t r;
    ts_api_call(&r, &a, key, "POST", "/integrated-account",
                "{\"tenant_id\":\"o1\",\"site_url\":\"" TA_SITE "\",\"auth\":{\"type\":\"oauth2\","
                "\"access_token\":\"at-visible\",\"refresh_token\":\"rt-never-in-redis\",\"cloud_id\":\"c0000000-0000-4000-8000-000000000001\","
                "\"expires_at\":\"2030-01-01T00:00:00Z\"},\"pace\":\"2/s\"}");
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(oacct, sizeof oacct, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
    json_t *v = open_acct(&a, a.master_keys, oacct, kid);
    cr_assert(v, "acct blob does not open");
    cr_assert_str_eq(json_string_value(json_object_get(v, "access_token")), "at-visible");
    cr_assert_null(json_object_get(v, "refresh_token"), "refresh token published to Redis");
    json_decref(v);

    /* k2 becomes active; k1 still opens. */
    new_key(k2, sizeof k2, "k2");
    snprintf(both, sizeof both, "%s,%s", k2, a.master_keys);
    snprintf(only2, sizeof only2, "%s", k2);
    cr_assert_eq(rotate(&a, both, "keys_rotate1"), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM integrated_accounts WHERE key_id = 'k2' AND credentials_sealed LIKE 'v1.k2.%%'");
    cr_assert_eq(ta_sql_long(&a, sql), 2, "both accounts re-encrypted under k2");
    v = open_acct(&a, only2, acct, kid);
    cr_assert(v, "acct blob does not open with k2 alone");
    cr_assert_str_eq(kid, "k2");
    json_decref(v);
    v = open_acct(&a, only2, oacct, kid);
    cr_assert(v && !json_object_get(v, "refresh_token"), "republished OAuth blob carries a refresh token");
    cr_assert_str_eq(json_string_value(json_object_get(v, "pace")), "2/s", "the account's rule was not republished");
    json_decref(v);
    /* The API kept serving during the rotation, with the old keyring. */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    /* A second pass has nothing to do. */
    cr_assert_eq(rotate(&a, both, "keys_rotate2"), 0);
    ts_proc_t again = {0};
    snprintf(again.log, sizeof again.log, "%s/keys_rotate2.log", ts_getenv("JSMCP_TEST_ARTIFACTS"));
    cr_assert(ts_file_contains(again.log, "re-encrypted 0 account"), "second pass re-encrypted rows");
    ta_stop(&a);

    /* Restart with k2 only: PATCH opens the stored credentials, reconcile republishes. */
    char kv[200], akey[256];
    snprintf(kv, sizeof kv, "JSMCP_MASTER_KEYS=%s", only2);
    ts_api_t b = a;
    for (int i = 0; i < b.nenv; i++)
        if (strncmp(b.env[i], "JSMCP_MASTER_KEYS=", 18) == 0)
            snprintf(b.env[i], sizeof b.env[i], "%s", kv);
    const char *envp[TS_MAX_ENV + 4];
    size_t n = 0;
    ts_api_env(&b, envp, TS_MAX_ENV + 1);
    while (envp[n])
        n++;
    envp[n++] = "JSMCP_RECONCILE_INTERVAL_MS=200";
    envp[n++] = "JSMCP_RECONCILE_FULL_INTERVAL_MS=200";
    envp[n] = NULL;
    int port = atoi(strrchr(b.url, ':') + 1);
    ts_spawn(&b.proc, "keys_api_k2", "jsmcp-api", NULL, envp, port);
    ta_call(&r, &b, key, "PATCH", "{\"context\":{\"after\":\"rotation\"}}", "/integrated-account/%s", oacct);
    cr_assert_eq(r.status, 200, "PATCH after rotation: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    free(ts_redis("DEL %sacct:%s", b.redis_prefix, acct));
    snprintf(akey, sizeof akey, "%sacct:%s", b.redis_prefix, acct);
    int64_t deadline = clock_now_ms() + 30000;
    while (!ta_redis_exists(akey) && clock_now_ms() < deadline)
        ta_sleep_ms(50);
    v = open_acct(&b, only2, acct, kid);
    cr_assert(v, "reconcile did not republish under k2");
    json_decref(v);
    v = open_acct(&b, only2, oacct, kid);
    cr_assert(v && !json_object_get(v, "refresh_token"), "PATCH published a refresh token");
    json_decref(v);
    ta_stop(&b);
}

/* A run whose publication Redis refuses (here the APIs are down and Redis
 * lost its data: the publish script refuses every batch until a full pass)
 * says so; a second run, with nothing left to re-encrypt, must not say the
 * old key can go while Redis still holds records sealed under it. It used
 * to (found by an adversarial run). Once an API's reconcile published
 * them, it may. */
Test(keys, rotate_keys_keeps_the_old_key_while_records_wait, .timeout = 60)
{
    ts_api_t a, b;
    char ws[64], key[64], acct[64], k2[128], both[300];
    ta_start(&a, "keys_wait_api", NULL, ws, key, acct);
    ta_wait_outbox_empty(&a);
    ta_stop(&a);
    free(ts_redis("DEL %sreconcile:marker", a.redis_prefix));
    new_key(k2, sizeof k2, "k2");
    snprintf(both, sizeof both, "%s,%s", k2, a.master_keys);
    cr_assert_neq(rotate(&a, both, "keys_wait_rotate1"), 0, "the refused publication was not reported");
    cr_assert_neq(rotate(&a, both, "keys_wait_rotate2"), 0, "records under the old key wait, and the run says done");
    ts_proc_t p = {0};
    snprintf(p.log, sizeof p.log, "%s/keys_wait_rotate2.log", ts_getenv("JSMCP_TEST_ARTIFACTS"));
    cr_assert_eq(ts_log_count(&p, "can now be removed"), 0, "the old key was said to be removable, log %s", p.log);
    cr_assert_gt(ts_log_count(&p, "keep the older keys"), 0, "log %s", p.log);

    char kenv[320];
    snprintf(kenv, sizeof kenv, "JSMCP_MASTER_KEYS=%s", both);
    const char *env[] = {kenv, NULL};
    ts_api_replica(&b, &a, "keys_wait_api2", env); /* its reconcile publishes them */
    for (int i = 0; i < 600 && !strstr_free(ts_redis("GET %sreconcile:marker", b.redis_prefix), " done "); i++)
        ta_sleep_ms(50);
    ta_wait_outbox_empty(&b);
    cr_assert_eq(rotate(&b, both, "keys_wait_rotate3"), 0, "not done once reconcile published every record");
    snprintf(p.log, sizeof p.log, "%s/keys_wait_rotate3.log", ts_getenv("JSMCP_TEST_ARTIFACTS"));
    cr_assert_gt(ts_log_count(&p, "can now be removed"), 0, "log %s", p.log);
    ta_stop(&b);
}
