/* Reconcile: PostgreSQL is the source of truth and Redis its projection.
 * A flushed prefix is republished with the same content (the full pass runs
 * at once when the marker key is gone); a srv: key no row accounts for
 * becomes a tombstone. And when Redis is unreachable, writes answer 503
 * and leave no row. */
#include "test_api_common.h"

/* The published keys under the prefix, sorted, one per line; caller frees. */
static char *key_list(const ts_api_t *a)
{
    char *s = ts_redis("KEYS %s*", a->redis_prefix);
    json_t *arr = json_array();
    for (char *line = s ? strtok(s, "\n") : NULL; line; line = strtok(NULL, "\n"))
        json_array_append_new(arr, json_string(line));
    free(s);
    /* insertion sort: a handful of keys */
    for (size_t i = 1; i < json_array_size(arr); i++)
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(arr, j - 1)),
                                           json_string_value(json_array_get(arr, j))) > 0;
             j--) {
            json_t *t = json_incref(json_array_get(arr, j));
            json_array_set(arr, j, json_array_get(arr, j - 1));
            json_array_set_new(arr, j - 1, t);
        }
    char *out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return out;
}

/* A comparable view of one key: srv JSON plus PEXPIRETIME, acct opened
 * with the master key (the nonce differs on each seal) and its version,
 * wskey records as they are. Caller frees. */
static char *key_view(const ts_api_t *a, secret_keyring_t *kr, const char *key)
{
    const char *rest = key + strlen(a->redis_prefix);
    char *out = NULL;
    if (strncmp(rest, "srv:", 4) == 0) {
        char *v = ts_redis("GET %s", key), *pxt = ts_redis("PEXPIRETIME %s", key);
        json_t *j = v ? json_loads(v, 0, NULL) : NULL;
        cr_assert(j, "%s is not JSON: %s", key, v ? v : "(nil)");
        json_object_del(j, "pub_ms");
        char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        cr_assert(asprintf(&out, "%s pexpiretime=%s", d, pxt ? pxt : "?") > 0);
        free(d);
        json_decref(j);
        free(v);
        free(pxt);
    } else if (strncmp(rest, "acct:", 5) == 0) {
        char *v = ts_redis("GET %s", key), ad[128];
        json_t *wrap = v ? json_loads(v, 0, NULL) : NULL;
        long long version = json_integer_value(json_object_get(wrap, "version"));
        json_decref(wrap);
        char *sealed = tc_sealed(v);
        size_t n;
        snprintf(ad, sizeof ad, "%s", rest);
        char *pt = sealed ? secret_open(kr, ad, sealed, &n, NULL, 0) : NULL;
        cr_assert(pt, "%s does not open with the master key and ad %s", key, ad);
        json_t *j = json_loads(pt, 0, NULL);
        cr_assert(j, "%s opens to non-JSON", key);
        json_object_set_new(j, "record_version", json_integer(version));
        out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        free(pt);
        free(sealed);
    } else if (strncmp(rest, "wskeys:", 7) == 0) {
        char *v = ts_redis("SORT %s ALPHA", key);
        out = v ? v : strdup("");
    } else if (strncmp(rest, "wskey:", 6) == 0) {
        char *v = ts_redis("GET %s", key);
        out = v ? v : strdup("");
    } else if (strcmp(rest, "reconcile:marker") == 0) {
        out = strdup("marker");
    } else {
        cr_assert_fail("unexpected key %s under the prefix", key);
    }
    return out;
}

/* key list + every key's view, as one string. */
static char *published(const ts_api_t *a, secret_keyring_t *kr)
{
    char *keys = key_list(a), *out = strdup(keys);
    json_t *arr = json_loads(keys, 0, NULL);
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k)
    {
        char *v = key_view(a, kr, json_string_value(k)), *n = NULL;
        cr_assert(asprintf(&n, "%s\n%s", out, v) > 0);
        free(out);
        free(v);
        out = n;
    }
    json_decref(arr);
    free(keys);
    return out;
}

Test(api_reconcile, flushed_prefix_is_republished, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], ws2[64], key2[64], acct[64], acct2[64], id[64], body[256], exp[48], err[128];
    static const char *const env[] = {"JSMCP_RECONCILE_INTERVAL_MS=300", NULL};
    ts_api_start(&a, "reconcile", env); /* full passes hourly: the lost marker must start one */
    secret_keyring_t *kr = secret_keyring_parse(a.master_keys, err, sizeof err);
    cr_assert(kr, "%s", err);

    ts_api_workspace(&a, "alpha", ws, key);
    ts_api_workspace(&a, "beta", ws2, key2);
    ta_call(&r, &a, a.bootstrap_key, "POST", "{\"name\":\"second\"}", "/workspaces/%s/api-keys", ws);
    cr_assert_eq(r.status, 201);
    ts_resp_free(&r);
    ta_account(&a, key, "c1", acct);
    ta_account(&a, key2, "c2", acct2);
    /* An account with its own pacing rule: reconcile must publish it too. */
    ta_call(&r, &a, key, "PATCH", "{\"pace\":\"5/s burst 7\"}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_iso_in(3600, exp, sizeof exp);
    snprintf(body, sizeof body,
             "{\"name\":\"a\",\"expires_at\":\"%s\",\"config\":{\"methods\":[\"read\"],\"tags\":[\"itsm\"]}}", exp);
    ta_server(&a, key, acct, body, id, NULL);
    ta_server(&a, key, acct, "{\"name\":\"b\",\"require_api_token_auth\":true}", id, NULL);
    ta_server(&a, key2, acct2, NULL, id, NULL);

    ta_wait_marker(&a); /* published() lists every key, the marker too */
    char *before = published(&a, kr);
    cr_assert(strstr(before, "\"pace\":\"5/s burst 7\""), "the rule is not published: %s", before);
    /* 3 srv + 2 acct + 3 wskey (two keys of alpha, one of beta) */
    cr_assert_eq(ta_redis_count(&a), 8, "published keys: %s", before);

    /* All of them at once (a Lua script is atomic): reconcile, every 300 ms,
     * cannot put one back between the deletions and the count. */
    char *deleted = ts_redis("EVAL %s 1 %s",
                             "local n = 0 for _, k in ipairs(redis.call('KEYS', KEYS[1] .. '*')) do "
                             "local d = redis.call('DEL', k) "
                             "if k ~= KEYS[1] .. 'reconcile:marker' then n = n + d end end return n",
                             a.redis_prefix);
    /* the 8 published keys (the marker, gone too, starts a full pass) */
    cr_assert(deleted && atoi(deleted) == 8, "deleted %s of the 8 keys", deleted ? deleted : "(none)");
    free(deleted);

    char *after = NULL;
    for (int i = 0; i < 600; i++) { /* up to 60 s for a 300 ms interval */
        ta_sleep_ms(100);
        if (ta_redis_count(&a) < 8)
            continue;
        after = published(&a, kr);
        if (strcmp(after, before) == 0)
            break;
        free(after);
        after = NULL;
    }
    cr_assert(after, "reconcile did not restore the prefix within 60 s; before:\n%s\nnow:\n%s", before,
              published(&a, kr));
    free(after);
    free(before);
    cr_assert(ts_log_count(&a.proc, "full pass now") > 0, "the lost marker did not start a full pass");
    secret_keyring_free(kr);
    ta_stop(&a);
}

/* Keys no row accounts for (written by hand, left by a restored backup)
 * become tombstones at the next full pass, whatever version they hold; the
 * live server's key is untouched. */
Test(api_reconcile, orphan_srv_key_is_removed, .timeout = 120)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], id[64], tok[64], live[256], legacy[256], versioned[256], acct_orphan[256], v[512];
    static const char *const env[] = {"JSMCP_RECONCILE_INTERVAL_MS=300", "JSMCP_RECONCILE_FULL_INTERVAL_MS=300", NULL};
    ta_start(&a, "reconcile_orphan", env, ws, key, acct);
    ta_server(&a, key, acct, NULL, id, tok);
    ta_srv_key(&a, tok, live, sizeof live);
    char *before = ts_redis("GET %s", live);

    /* a record in the format before versions, and a versioned one */
    ta_srv_key(&a, "orphan-legacy", legacy, sizeof legacy);
    ta_srv_key(&a, "orphan-versioned", versioned, sizeof versioned);
    snprintf(v, sizeof v,
             "{\"id\":\"00000000-0000-4000-8000-000000000001\",\"workspace_id\":\"%s\",\"account_id\":\"%s\","
             "\"name\":\"ghost\",\"config\":{},\"expires_at_ms\":null,\"require_api_token_auth\":false}",
             ws, acct);
    free(ts_redis("SET %s %s", legacy, v));
    snprintf(v, sizeof v,
             "{\"version\":41,\"id\":\"00000000-0000-4000-8000-000000000002\",\"workspace_id\":\"%s\","
             "\"account_id\":\"%s\",\"name\":\"ghost\",\"config\":{},\"expires_at_ms\":null,"
             "\"require_api_token_auth\":false}",
             ws, acct);
    free(ts_redis("SET %s %s", versioned, v));
    snprintf(acct_orphan, sizeof acct_orphan, "%sacct:00000000-0000-4000-8000-00000000000a", a.redis_prefix);
    free(ts_redis("SET %s %s", acct_orphan, "{\"version\":3,\"sealed\":\"v1.k1.x\"}"));
    /* a key of another type, among them: it made every full pass fail
     * (WRONGTYPE), so the others were never repaired either */
    char hashed[256];
    ta_srv_key(&a, "orphan-hash", hashed, sizeof hashed);
    free(ts_redis("HSET %s a b", hashed));

    int gone = 0;
    for (int i = 0; i < 600 && !gone; i++) { /* up to 60 s: generous on a busy machine */
        ta_sleep_ms(100);
        char *type = ts_redis("TYPE %s", hashed);
        gone = !ta_redis_exists(legacy) && !ta_redis_exists(versioned) && !ta_redis_exists(acct_orphan) && type &&
               strcmp(type, "hash") != 0;
        free(type);
    }
    cr_assert(gone, "orphan keys (one of them a hash) still hold live records after 60 s");
    char *t = ts_redis("GET %s", versioned);
    json_t *j = t ? json_loads(t, 0, NULL) : NULL;
    cr_assert(json_is_true(json_object_get(j, "tombstone")) && json_integer_value(json_object_get(j, "version")) == 42,
              "an orphan's tombstone is one version above it: %s", t ? t : "(nil)");
    json_decref(j);
    free(t);
    char *ttl = ts_redis("PTTL %s", versioned);
    cr_assert(ttl && atol(ttl) > 0, "a tombstone expires (PTTL %s)", ttl ? ttl : "(nil)");
    free(ttl);
    char *after = ts_redis("GET %s", live);
    cr_assert_str_eq(after, before, "the live server's record changed");
    free(before);
    free(after);
    ta_check(&a, NULL, "the orphans' full pass");
    ta_stop(&a);
}

Test(api_reconcile, redis_down_gives_503_and_no_row, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64];
    ta_start(&a, "redis_up", NULL, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, NULL);

    /* a second API on the same database with Redis on a closed port */
    const char *base[TS_MAX_ENV + 1], *env[TS_MAX_ENV + 4];
    char redis_url[64], listen[64], mlisten[80];
    int port = ts_free_port();
    snprintf(redis_url, sizeof redis_url, "JSMCP_REDIS_URL=redis://127.0.0.1:%d/0", ts_free_port());
    snprintf(listen, sizeof listen, "JSMCP_API_LISTEN=127.0.0.1:%d", port);
    snprintf(mlisten, sizeof mlisten, "JSMCP_API_METRICS_LISTEN=127.0.0.1:%d", ts_free_port());
    ts_api_env(&a, base, TS_MAX_ENV + 1);
    size_t n = 0;
    for (size_t i = 0; base[i]; i++)
        if (strncmp(base[i], "JSMCP_REDIS_URL=", 16) != 0 && strncmp(base[i], "JSMCP_API_LISTEN=", 17) != 0 &&
            strncmp(base[i], "JSMCP_API_METRICS_LISTEN=", 25) != 0)
            env[n++] = base[i];
    env[n++] = redis_url;
    env[n++] = listen;
    env[n++] = mlisten;
    env[n] = NULL;
    ts_api_t b = a; /* same keys and database, other process and port */
    ts_spawn(&b.proc, "redis_down", "jsmcp-api", NULL, env, port);
    snprintf(b.url, sizeof b.url, "http://127.0.0.1:%d", port);

    char url[128];
    snprintf(url, sizeof url, "%s/readyz", b.url);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    ta_expect_problem(&r, 503, NULL, "readyz with Redis down");
    ts_resp_free(&r);

    char *rows = ta_db_counts(&a);
    char *srv_row = ts_sql(a.db_url, "SELECT string_agg(t::text, '|' ORDER BY t.id) FROM mcp_servers t");
    char *acct_row = ts_sql(a.db_url, "SELECT string_agg(t::text, '|' ORDER BY t.id) FROM integrated_accounts t");
    static const struct {
        const char *method, *fmt, *body;
        char role;
    } writes[] = {
        {"POST", "/integrated-account/%s/mcp", "{\"name\":\"n\"}", 'W'},
        {"POST", "/integrated-account",
         "{\"tenant_id\":\"c2\",\"site_url\":\"" TA_SITE "\",\"auth\":{\"type\":\"api_token\",\"email\":\"a@b.c\","
         "\"api_token\":\"t\"}}",
         'W'},
        {"PATCH", "/integrated-account/%s/mcp/%s", "{\"name\":\"renamed\"}", 'W'},
        {"DELETE", "/integrated-account/%s/mcp/%s", NULL, 'W'},
        {"PATCH", "/integrated-account/%s", "{\"auth\":{\"type\":\"api_token\",\"email\":\"x@b.c\",\"api_token\":"
                                            "\"t2\"}}",
         'W'},
        {"DELETE", "/integrated-account/%s", NULL, 'W'},
        {"POST", "/workspaces/%s/api-keys", "{\"name\":\"k\"}", 'B'},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        char what[160];
        if (writes[i].role == 'B')
            ta_call(&r, &b, a.bootstrap_key, writes[i].method, writes[i].body, writes[i].fmt, ws);
        else
            ta_call(&r, &b, key, writes[i].method, writes[i].body, writes[i].fmt, acct, srv);
        snprintf(what, sizeof what, "%s %s with Redis down", writes[i].method, writes[i].fmt);
        ta_expect_problem(&r, 503, NULL, what);
        ts_resp_free(&r);
    }
    char *rows2 = ta_db_counts(&a);
    char *srv_row2 = ts_sql(a.db_url, "SELECT string_agg(t::text, '|' ORDER BY t.id) FROM mcp_servers t");
    char *acct_row2 = ts_sql(a.db_url, "SELECT string_agg(t::text, '|' ORDER BY t.id) FROM integrated_accounts t");
    cr_expect_str_eq(rows2, rows, "rows written while Redis was down");
    cr_expect_str_eq(srv_row2, srv_row, "server row changed while Redis was down");
    cr_expect_str_eq(acct_row2, acct_row, "account row changed while Redis was down");
    free(rows);
    free(rows2);
    free(srv_row);
    free(srv_row2);
    free(acct_row);
    free(acct_row2);

    cr_assert_eq(ts_stop(&b.proc), 0, "second jsmcp-api exit status, log %s", b.proc.log);
    ta_stop(&a);
}

/* Live srv:, acct: and wskey: records under the API's prefix. */
static int live_records(const ts_api_t *a)
{
    static const char *const kinds[] = {"srv", "acct", "wskey"};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        char pattern[128];
        snprintf(pattern, sizeof pattern, "%s%s:*", a->redis_prefix, kinds[i]);
        n += ta_live_count(pattern);
    }
    return n;
}

/* PostgreSQL unreachable (connections cut, new ones refused): requests
 * answer 503, /readyz too, and no Redis key is left behind; once it is back
 * the API recovers by itself. */
Test(api_reconcile, postgres_down_gives_503_then_recovers, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], sql[256], url[128];
    ta_start(&a, "pg_down", NULL, ws, key, acct);
    const char *pg = ts_getenv("JSMCP_TEST_PG_URL"), *db = strrchr(a.db_url, '/') + 1;
    int keys_before = live_records(&a);
    snprintf(url, sizeof url, "%s/readyz", a.url);

    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", db);
    free(ts_sql(pg, sql));
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s'",
             db);
    free(ts_sql(pg, sql));
    /* pg_terminate_backend only signals: wait until the backends are gone */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'", db);
    char *left = NULL;
    for (int i = 0; i < 100; i++) {
        free(left);
        left = ts_sql(pg, sql);
        if (left && strcmp(left, "0") == 0)
            break;
        ta_sleep_ms(50);
    }
    cr_assert_str_eq(left, "0", "backends of %s still alive 5 s after pg_terminate_backend", db);
    free(left);

    ta_call(&r, &a, key, "POST", "{\"name\":\"n\"}", "/integrated-account/%s/mcp", acct);
    ta_expect_problem(&r, 503, NULL, "create a server with PostgreSQL down");
    ts_resp_free(&r);
    ts_api_call(&r, &a, a.bootstrap_key, "POST", "/workspaces", "{\"name\":\"w\"}");
    ta_expect_problem(&r, 503, NULL, "create a workspace with PostgreSQL down");
    ts_resp_free(&r);
    /* the pool learns of each lost connection from its socket: allow it
     * a moment to see them all */
    long ready = 200;
    for (int i = 0; i < 300 && ready == 200; i++) {
        ts_http(&r, "GET", url, NULL, NULL, 0);
        ready = r.status;
        if (ready != 200)
            ta_expect_problem(&r, 503, NULL, "readyz with PostgreSQL down");
        ts_resp_free(&r);
        if (ready == 200)
            ta_sleep_ms(100);
    }
    cr_expect_eq(ready, 503, "readyz still 200 30 s after PostgreSQL went away");
    /* A refused write's fire-and-forget cleanup may land after its answer:
     * wait (bounded) for the count to come back rather than for a time. */
    int keys_now = live_records(&a);
    for (int i = 0; i < 300 && keys_now != keys_before; i++) {
        ta_sleep_ms(100);
        keys_now = live_records(&a);
    }
    cr_expect_eq(keys_now, keys_before, "Redis records left by refused writes (30 s after)");

    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", db);
    free(ts_sql(pg, sql));
    long status = 0;
    for (int i = 0; i < 150 && status != 200; i++) { /* up to 15 s of reconnect backoff */
        ta_sleep_ms(100);
        ts_http(&r, "GET", url, NULL, NULL, 0);
        status = r.status;
        ts_resp_free(&r);
    }
    cr_assert_eq(status, 200, "readyz did not recover within 15 s after PostgreSQL came back");
    ta_server(&a, key, acct, NULL, srv, NULL);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM mcp_servers WHERE id = '%s'", srv);
    cr_assert_eq(ta_sql_long(&a, sql), 1);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM mcp_servers"), 1, "a refused create left a row");
    ta_stop(&a);
}

/* Rows written to PostgreSQL behind the API's back (a restore, another
 * instance) are published by reconcile with their expiry; an expired
 * server is not published. */
Test(api_reconcile, rows_only_in_postgres_are_published, .timeout = 120)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], sql[1024], kf[256], kn[256], kp[256], hf[65], hn[65], hp[65];
    static const char *const env[] = {"JSMCP_RECONCILE_INTERVAL_MS=300", NULL};
    ta_start(&a, "reconcile_rows", env, ws, key, acct);
    secret_hash_hex("tok-future", 10, hf);
    secret_hash_hex("tok-none", 8, hn);
    secret_hash_hex("tok-past", 8, hp);
    snprintf(sql, sizeof sql,
             "INSERT INTO mcp_servers (workspace_id, account_id, name, config, token_hash, expires_at) VALUES"
             " ('%s', '%s', 'future', '{\"methods\":[\"read\"]}', '%s', date_trunc('second', now()) + interval '1 hour'),"
             " ('%s', '%s', 'none', '{}', '%s', NULL),"
             " ('%s', '%s', 'past', '{}', '%s', now() - interval '1 hour')",
             ws, acct, hf, ws, acct, hn, ws, acct, hp);
    free(ts_sql(a.db_url, sql));
    ta_srv_key(&a, "tok-future", kf, sizeof kf);
    ta_srv_key(&a, "tok-none", kn, sizeof kn);
    ta_srv_key(&a, "tok-past", kp, sizeof kp);
    int ok = 0;
    for (int i = 0; i < 600 && !ok; i++) { /* up to 60 s */
        ta_sleep_ms(100);
        ok = ta_redis_exists(kf) && ta_redis_exists(kn);
    }
    cr_assert(ok, "reconcile did not publish rows PostgreSQL has within 60 s");
    /* Two more incremental passes (the INSERT's outbox rows are what they
     * read): the expired row had every chance to be published. */
    ta_wait_reconcile_passes(&a, "incremental", ta_reconcile_passes(&a, "incremental"), 2);
    cr_expect(!ta_redis_exists(kp), "an expired server was published");
    long want = ta_sql_long(&a, "SELECT (extract(epoch FROM expires_at) * 1000)::bigint FROM mcp_servers "
                                "WHERE name = 'future'");
    char *pxt = ts_redis("PEXPIRETIME %s", kf), *pxn = ts_redis("PEXPIRETIME %s", kn);
    cr_expect_eq(atoll(pxt), want + tc_tombstone_ttl_ms(), "PEXPIRETIME %s, expires_at %ld (+ the tombstone TTL)",
                 pxt, want);
    cr_expect_str_eq(pxn, "-1", "a server without expiry got a TTL");
    free(pxt);
    free(pxn);
    char *v = ts_redis("GET %s", kf);
    json_t *rec = json_loads(v, 0, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(rec, "name")), "future");
    cr_expect_str_eq(json_string_value(json_object_get(rec, "workspace_id")), ws);
    json_decref(rec);
    free(v);
    ta_stop(&a);
}

/* publish_outbox's scan counters (pg_stat_user_tables), once they show at
 * least min_deleted rows deleted from it: a backend reports a
 * transaction's counters together, after it ended, so the scans of the
 * passes that deleted them are in. */
typedef struct {
    long deleted, seq_read, idx_scans;
} outbox_stats_t;

static outbox_stats_t outbox_stats(const ts_api_t *a, long min_deleted)
{
    static const char q[] = "SELECT COALESCE((SELECT %s FROM pg_stat_user_tables WHERE relname = 'publish_outbox'), 0)";
    char sql[256];
    outbox_stats_t st = {-1, 0, 0};
    for (int i = 0; i < 1200 && st.deleted < min_deleted; i++) { /* up to 60 s: reported within ~10 s */
        if (i)
            ta_sleep_ms(50);
        snprintf(sql, sizeof sql, q, "n_tup_del");
        st.deleted = ta_sql_long(a, sql);
    }
    cr_assert_geq(st.deleted, min_deleted, "publish_outbox's deletions not reported within 60 s");
    snprintf(sql, sizeof sql, q, "seq_tup_read");
    st.seq_read = ta_sql_long(a, sql);
    snprintf(sql, sizeof sql, q, "idx_scan");
    st.idx_scans = ta_sql_long(a, sql);
    return st;
}

/* The outbox is taken when PostgreSQL says it has work, not when the timer
 * comes round, and a backlog is found by the outbox's key, not by scanning
 * all of it every pass. With the incremental interval at an hour, 5,000
 * servers written behind the API's back in one transaction (one NOTIFY)
 * are all published, in passes of at most 500 rows that follow each other
 * at once (a full batch runs again without waiting for a tick): without
 * the hint, or with a full batch waiting for the timer, the outbox would
 * keep its rows for the hour. A take prepared while the outbox was empty
 * kept that plan: its scans read the whole backlog every pass, comparing
 * each row with 500 seqs (69,500 rows read for these 5,000 and 5 index
 * scans, measured; quadratic: 50,000 changes cost 6 s of PostgreSQL CPU,
 * BENCHMARKS.md). Planned at each pass, the DELETE finds its rows through
 * the key (at least one index scan a pass; ~5,000 measured); only the
 * LIMIT's pick may still scan a small outbox, at most the rows left each
 * pass (27,500 here; 12,500-13,000 measured). */
Test(api_reconcile, outbox_backlog_taken_on_the_hint_by_its_key, .timeout = 180)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], sql[512];
    static const char *const env[] = {"JSMCP_RECONCILE_INTERVAL_MS=3600000",
                                      "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000", NULL};
    ta_start(&a, "reconcile_hint", env, ws, key, acct);
    ta_wait_outbox_empty(&a); /* the start's writes, taken on their hints */
    /* The state of a quiet deployment: the outbox vacuumed empty (its
     * statistics say so, and every plan of it is made again), then passes
     * with nothing to take, each woken by a hint. */
    free(ts_sql(a.db_url, "VACUUM ANALYZE publish_outbox"));
    for (int i = 0; i < 3; i++) {
        double p = ta_reconcile_passes(&a, "incremental");
        free(ts_sql(a.db_url, "NOTIFY jsmcp_publish"));
        ta_wait_reconcile_passes(&a, "incremental", p, 1);
    }
    outbox_stats_t st0 = outbox_stats(&a, 0);
    double passes0 = ta_reconcile_passes(&a, "incremental");
    snprintf(sql, sizeof sql,
             "INSERT INTO mcp_servers (workspace_id, account_id, name, token_hash) SELECT '%s', '%s', 'h' || i,"
             " encode(sha256(convert_to('hint-' || i, 'UTF8')), 'hex') FROM generate_series(1, 5000) AS i",
             ws, acct);
    free(ts_sql(a.db_url, sql));
    ta_wait_outbox_empty(&a);
    ta_wait_reconcile_passes(&a, "incremental", passes0, 10); /* 500 rows a pass at most */
    outbox_stats_t st = outbox_stats(&a, st0.deleted + 5000);
    long reads = st.seq_read - st0.seq_read, idx = st.idx_scans - st0.idx_scans;
    cr_assert(reads <= 30000 && idx >= 10,
              "taking 5,000 outbox rows: %ld rows read by sequential scans, %ld index scans"
              " (the whole backlog scanned every pass?)", reads, idx);
    char *msg = tc_check_publication(a.db_url, a.redis_prefix, a.master_keys);
    cr_assert(!msg, "after 5,000 servers written behind the API's back:\n%s", msg);
    ta_stop(&a);
}

/* Every write notifies jsmcp_publish; under a steady stream of writes one
 * pass per notification (a BEGIN, the take, a COMMIT, in every replica)
 * cost more PostgreSQL than the writes themselves (BENCHMARKS.md). A hint
 * within JSMCP_RECONCILE_HINT_GAP_MS of the last pass's start waits for the
 * rest of the gap, and the hints of a gap share one pass; none is lost:
 * with the timer at an hour, the rows written behind the API's back are
 * published by the pass the last hint scheduled. 40 writes, each its own
 * transaction and NOTIFY, took one pass each before (measured: 40 passes
 * for 40 writes in 2.8 s). */
Test(api_reconcile, hints_within_the_gap_share_a_pass, .timeout = 180)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], sql[512];
    static const char *const env[] = {"JSMCP_RECONCILE_INTERVAL_MS=3600000", "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000",
                                      "JSMCP_RECONCILE_HINT_GAP_MS=2000", NULL};
    ta_start(&a, "reconcile_gap", env, ws, key, acct);
    ta_wait_outbox_empty(&a);
    double passes0 = ta_reconcile_passes(&a, "incremental");
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < 40; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO mcp_servers (workspace_id, account_id, name, token_hash) VALUES ('%s', '%s', 'g%d',"
                 " encode(sha256(convert_to('gap-%d', 'UTF8')), 'hex'))", ws, acct, i, i);
        free(ts_sql(a.db_url, sql));
    }
    ta_wait_outbox_empty(&a);
    double ms = (double)(clock_mono_ns() - t0) / 1e6;
    double passes = ta_reconcile_passes(&a, "incremental") - passes0;
    /* A hinted pass starts at least 2 s after the one before it: at most
     * one per 2 s of the run, one more for the first hint, one for a pass
     * of the start's that ended within it. */
    cr_assert(passes >= 1 && passes <= 2 + ms / 2000, "%g incremental passes for 40 writes in %.0f ms", passes, ms);
    char *msg = tc_check_publication(a.db_url, a.redis_prefix, a.master_keys);
    cr_assert(!msg, "after 40 servers written behind the API's back:\n%s", msg);
    ta_stop(&a);
}
