/* The migration runner (api/ap_migrate.c) on real PostgreSQL: a second run
 * is a no-op; a no-transaction migration (026, CREATE INDEX CONCURRENTLY)
 * applies, and after a crash in its middle the next run drops the INVALID
 * index the interrupted build left and builds it again; two processes
 * starting at once apply each migration once; 028 rewrites nothing. */
#include <libpq-fe.h>

#include "test_api_common.h"

#define MIGRATION_LOCK_ID "7305221" /* api/ap_migrate.c */

/* Starts `jsmcp-api migrate` with the API's environment, on db_url when not
 * NULL. */
static void spawn_migrate(ts_proc_t *p, ts_api_t *a, const char *name, const char *db_url)
{
    const char *env[TS_MAX_ENV + 2];
    char db[300];
    static const char *const args[] = {"migrate", NULL};
    size_t n = 0;
    ts_api_env(a, env, TS_MAX_ENV + 1);
    while (env[n])
        n++;
    if (db_url) { /* putenv in the child: the later entry wins */
        snprintf(db, sizeof db, "JSMCP_DATABASE_URL=%s", db_url);
        env[n++] = db;
        env[n] = NULL;
    }
    ts_spawn(p, name, "jsmcp-api", args, env, 0);
}

/* Runs `jsmcp-api migrate` (see spawn_migrate); returns its exit status. */
static int run_migrate(ts_api_t *a, ts_proc_t *p, const char *name, const char *db_url)
{
    spawn_migrate(p, a, name, db_url);
    return ta_wait_exit(p, 60000);
}

static long sql_long(const char *url, const char *sql)
{
    char *s = ts_sql(url, sql);
    long v = s ? atol(s) : -1;
    free(s);
    return v;
}

/* The definition of index name, or "(none)". */
static char *index_def(const char *url, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT pg_get_indexdef(to_regclass('%s'))), '(none)')", name);
    return ts_sql(url, sql);
}

/* Migrations 026, 031, 032 and 035's result: the primary key is the
 * per-server listing index (server_id, ts, call_id), unique; the
 * per-workspace one is (workspace_id, ts, call_id); nothing besides them
 * (no BRIN on ts since 035, nothing on call_id alone), no temporary name,
 * nothing invalid. */
static void assert_calls_keys_done(const char *url)
{
    char *k = index_def(url, "tool_calls_pkey"), *w = index_def(url, "tool_calls_workspace");
    cr_assert(strstr(k, "CREATE UNIQUE INDEX") && strstr(k, "(server_id, ts, call_id)"), "tool_calls_pkey: %s", k);
    cr_assert(strstr(w, "(workspace_id, ts, call_id)"), "tool_calls_workspace: %s", w);
    free(k);
    free(w);
    cr_assert_eq(sql_long(url, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'tool_calls'::regclass"
                               " AND contype = 'p' AND conname = 'tool_calls_pkey'"), 1, "no primary key constraint");
    cr_assert_eq(sql_long(url, "SELECT count(*) FROM pg_index WHERE indrelid = 'tool_calls'::regclass"), 2,
                 "tool_calls has other indexes than the key and the workspace listing");
    cr_assert_eq(sql_long(url, "SELECT count(*) FROM pg_class WHERE relname IN ('tool_calls_server_026',"
                               " 'tool_calls_workspace_026', 'tool_calls_workspace_ts', 'tool_calls_server',"
                               " 'tool_calls_key_031', 'tool_calls_ts')"), 0,
                 "a temporary or dropped index is left");
    cr_assert_eq(sql_long(url, "SELECT count(*) FROM pg_index WHERE indrelid = 'tool_calls'::regclass"
                               " AND NOT (indisvalid AND indisready)"), 0, "an invalid index on tool_calls");
    cr_assert_eq(sql_long(url, "SELECT count(*) FROM schema_migrations WHERE version IN (26, 31, 32)"), 3);
    /* 033: id's numbers come 1,000 at a time per connection */
    cr_assert_eq(sql_long(url, "SELECT cache_size FROM pg_sequences WHERE sequencename = 'tool_calls_id_seq'"), 1000);
}

Test(api_migrate, migrate_twice_is_a_noop, .timeout = 120)
{
    ts_api_t a;
    ts_proc_t p;
    ts_api_start(&a, "migrate_noop", NULL);
    long before = ta_sql_long(&a, "SELECT count(*) FROM schema_migrations");
    cr_assert(before >= 1, "schema_migrations has %ld rows after start", before);
    assert_calls_keys_done(a.db_url);
    /* applied already: nothing is redone, the indexes are the same objects */
    char *oids = ts_sql(a.db_url, "SELECT string_agg(indexrelid::text, ',' ORDER BY indexrelid) FROM pg_index"
                                  " WHERE indrelid = 'tool_calls'::regclass");
    char *counts = ta_db_counts(&a);
    cr_assert_eq(run_migrate(&a, &p, "migrate_noop_1", NULL), 0, "jsmcp-api migrate (1) failed");
    cr_assert_eq(ts_log_count(&p, "\"applied\""), 0, "a second run applied something");
    cr_assert_eq(run_migrate(&a, &p, "migrate_noop_2", NULL), 0, "jsmcp-api migrate (2) failed");
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM schema_migrations"), before);
    char *after = ta_db_counts(&a);
    cr_assert_str_eq(after, counts, "migrate changed rows");
    char *oids2 = ts_sql(a.db_url, "SELECT string_agg(indexrelid::text, ',' ORDER BY indexrelid) FROM pg_index"
                                   " WHERE indrelid = 'tool_calls'::regclass");
    cr_assert_str_eq(oids2, oids, "an index of tool_calls was rebuilt");
    free(counts);
    free(after);
    free(oids);
    free(oids2);
    /* on an empty database: applies everything, then nothing */
    char fresh[256];
    ts_db_create(fresh, sizeof fresh);
    cr_assert_eq(run_migrate(&a, &p, "migrate_fresh_1", fresh), 0, "jsmcp-api migrate on an empty database");
    cr_assert_eq(ts_log_count(&p, "\"applied\""), before, "fresh database: not every migration applied once");
    cr_assert_eq(sql_long(fresh, "SELECT count(*) FROM schema_migrations"), before);
    assert_calls_keys_done(fresh);
    cr_assert_eq(run_migrate(&a, &p, "migrate_fresh_2", fresh), 0);
    cr_assert_eq(sql_long(fresh, "SELECT count(*) FROM schema_migrations"), before);
    /* the API still works on the migrated database */
    char ws[64], key[64], acct[64];
    ts_api_workspace(&a, "acme", ws, key);
    ta_account(&a, key, "c", acct);
    ta_stop(&a);
}

/* A database from before 026 with rows, and a crash in the middle of 026:
 * its row not written, the old keys there (the primary key on call_id, the
 * listing indexes of 025), and an INVALID tool_calls_server_026 left by an
 * interrupted concurrent build (made for real: a unique build that fails
 * on duplicates). The next run must drop and rebuild it, not keep it
 * because of IF NOT EXISTS, then apply 031 and 032 on the rows there. */
Test(api_migrate, interrupted_concurrent_build_is_rebuilt, .timeout = 120)
{
    ts_api_t a;
    ts_proc_t p;
    ts_api_start(&a, "migrate_invalid", NULL);
    char db[256];
    ts_db_create(db, sizeof db);
    cr_assert_eq(run_migrate(&a, &p, "migrate_invalid_1", db), 0);
    free(ts_sql(db, "DELETE FROM schema_migrations WHERE version IN (26, 31, 32)"));
    /* the keys as 025 left them, half of 026 done */
    free(ts_sql(db, "ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_pkey;"
                    " ALTER TABLE tool_calls ADD PRIMARY KEY (call_id); DROP INDEX tool_calls_workspace;"
                    " CREATE INDEX tool_calls_server ON tool_calls (server_id, id);"
                    " CREATE INDEX tool_calls_workspace ON tool_calls (workspace_id, id);"
                    " CREATE INDEX tool_calls_workspace_ts ON tool_calls (workspace_id, ts);"
                    " CREATE INDEX tool_calls_workspace_026 ON tool_calls (workspace_id, ts, call_id)"));
    free(ts_sql(db, "INSERT INTO tool_calls (call_id, stream_id, ts, workspace_id, account_id, server_id, tool)"
                    " SELECT gen_random_uuid(), 's' || i, now(), '6f1f2d8e-3f56-4c53-9a10-0d9f5e1b2c3a',"
                    " '8a6c1b2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d', '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', 't'"
                    " FROM generate_series(1, 3) i"));
    PGconn *c = PQconnectdb(db);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "CREATE UNIQUE INDEX CONCURRENTLY tool_calls_server_026 ON tool_calls (server_id)");
    cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "the duplicate build did not fail");
    PQclear(r);
    PQfinish(c);
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM pg_index WHERE indexrelid = 'tool_calls_server_026'::regclass"
                              " AND NOT indisvalid"), 1, "no INVALID index to start from");

    cr_assert_eq(run_migrate(&a, &p, "migrate_invalid_2", db), 0, "migrate after the interrupted build failed");
    cr_assert_eq(ts_log_count(&p, "dropping an invalid index"), 1, "the invalid index was not dropped once");
    cr_assert_eq(ts_log_count(&p, "\"applied\""), 3, "not exactly 026, 031 and 032 applied");
    assert_calls_keys_done(db);
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM tool_calls"), 3, "rows lost");
    /* the rebuilt index serves the per-server listing's order */
    cr_assert_eq(sql_long(db, "SET enable_seqscan = off; SELECT count(*) FROM (SELECT call_id FROM tool_calls"
                              " WHERE server_id = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e'"
                              " ORDER BY ts DESC, call_id DESC) s"), 3);
    ta_stop(&a);
}

/* Two processes start at once on an empty database: while the test holds
 * the runner's lock both wait (and say so), then each migration is applied
 * by exactly one of them, and both succeed. */
Test(api_migrate, concurrent_starts_apply_each_once, .timeout = 180)
{
    ts_api_t a;
    ts_proc_t p1, p2;
    ts_api_start(&a, "migrate_race", NULL);
    long total = ta_sql_long(&a, "SELECT count(*) FROM schema_migrations");
    char db[256];
    ts_db_create(db, sizeof db);
    PGconn *hold = PQconnectdb(db);
    cr_assert(PQstatus(hold) == CONNECTION_OK, "%s", PQerrorMessage(hold));
    PGresult *r = PQexec(hold, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(hold));
    PQclear(r);
    spawn_migrate(&p1, &a, "migrate_race_1", db);
    spawn_migrate(&p2, &a, "migrate_race_2", db);
    for (int i = 0; i < 600 && (ts_log_count(&p1, "waiting for another") == 0 ||
                                ts_log_count(&p2, "waiting for another") == 0); i++)
        ta_sleep_ms(100);
    cr_assert(ts_log_count(&p1, "waiting for another") > 0 && ts_log_count(&p2, "waiting for another") > 0,
              "both runners did not wait for the lock");
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'tool_calls'"), 0,
                 "a runner went on without the lock");
    PQfinish(hold);
    cr_assert_eq(ta_wait_exit(&p1, 90000), 0, "runner 1 failed");
    cr_assert_eq(ta_wait_exit(&p2, 90000), 0, "runner 2 failed");
    int a1 = ts_log_count(&p1, "\"applied\""), a2 = ts_log_count(&p2, "\"applied\"");
    cr_assert_eq(a1 + a2, total, "applied %d + %d times, %ld migrations", a1, a2, total);
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM schema_migrations"), total);
    assert_calls_keys_done(db);
    ta_stop(&a);
}

/* Migration 028 (tool names as numbers) on a tool_calls that holds rows:
 * catalog-only (the table keeps its file: not rewritten), the old rows keep
 * their names as text, and the check it adds (NOT VALID: old rows are not
 * read) refuses a new row without a name in either form. The database is
 * migrated, then 028 is undone by hand (its row, column, check and table)
 * and rows are written in the format from before. */
Test(api_migrate, migration_028_is_catalog_only, .timeout = 120)
{
    ts_api_t a;
    ts_proc_t p;
    ts_api_start(&a, "migrate_028", NULL);
    char db[256];
    ts_db_create(db, sizeof db);
    cr_assert_eq(run_migrate(&a, &p, "migrate_028_1", db), 0);
    free(ts_sql(db, "DELETE FROM schema_migrations WHERE version = 28;"
                    " ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_tool_named;"
                    " ALTER TABLE tool_calls DROP COLUMN tool_id; ALTER TABLE tool_calls ALTER COLUMN tool SET NOT NULL;"
                    " DROP TABLE tool_names; ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_usage;"
                    " INSERT INTO tool_calls (call_id, ts, workspace_id, account_id, server_id, tool)"
                    " SELECT gen_random_uuid(), now(), '6f1f2d8e-3f56-4c53-9a10-0d9f5e1b2c3a',"
                    " '8a6c1b2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d', '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', 'old_tool_' || (i % 7)"
                    " FROM generate_series(1, 2000) i;"
                    " ALTER TABLE tool_calls ENABLE TRIGGER tool_calls_usage"));
    long file = sql_long(db, "SELECT relfilenode FROM pg_class WHERE relname = 'tool_calls'");
    cr_assert_gt(file, 0);

    cr_assert_eq(run_migrate(&a, &p, "migrate_028_2", db), 0, "028 on a table with rows failed");
    cr_assert_eq(ts_log_count(&p, "\"applied\""), 1, "not exactly 028 applied");
    cr_assert_eq(sql_long(db, "SELECT relfilenode FROM pg_class WHERE relname = 'tool_calls'"), file,
                 "tool_calls was rewritten");
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM tool_calls WHERE tool LIKE 'old\\_tool\\_%' AND tool_id IS NULL"),
                 2000, "old rows changed");
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM pg_constraint WHERE conname = 'tool_calls_tool_named'"
                              " AND NOT convalidated"), 1, "the check is not NOT VALID (old rows would be read)");
    cr_assert_eq(sql_long(db, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'tool_calls'::regclass"
                              " AND attname = 'tool' AND attnotnull"), 0);
    /* A row named by number is counted under its name; a row without a
     * name in either form is refused. */
    free(ts_sql(db, "INSERT INTO tool_names (name) VALUES ('old_tool_1');"
                    " INSERT INTO tool_calls (call_id, ts, workspace_id, account_id, server_id, tool_id)"
                    " SELECT gen_random_uuid(), now(), '6f1f2d8e-3f56-4c53-9a10-0d9f5e1b2c3a',"
                    " '8a6c1b2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d', '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', id"
                    " FROM tool_names WHERE name = 'old_tool_1'"));
    cr_assert_eq(sql_long(db, "SELECT calls FROM usage_all WHERE tool = 'old_tool_1'"), 1);
    PGconn *c = PQconnectdb(db);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "INSERT INTO tool_calls (call_id, ts, workspace_id, account_id, server_id)"
                            " VALUES (gen_random_uuid(), now(), '6f1f2d8e-3f56-4c53-9a10-0d9f5e1b2c3a',"
                            " '8a6c1b2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d', '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e')");
    cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "a row without a tool was accepted");
    cr_assert(strstr(PQresultErrorMessage(r), "tool_calls_tool_named"), "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    ta_stop(&a);
}

/* 036 on keys an older API published without their expiry (its wskey:
 * records had none, and workers took an expired key): once the upgraded
 * API starts, the key still live has a record with expires_at_ms and the
 * Redis expiry that goes with it, the expired one a record no worker
 * accepts, and a key without an expiry keeps the record it had. */
Test(api_migrate, migration_036_publishes_key_expiry, .timeout = 120)
{
    ts_api_t a, b;
    ts_resp_t r;
    char ws[64], key[64], path[128], iso[40], body[160], k_live[200], k_gone[200], k_never[200];
    const char *env[] = {"JSMCP_RECONCILE_INTERVAL_MS=100", NULL};
    ta_start(&a, "migrate_036", env, ws, key, NULL);
    snprintf(path, sizeof path, "/workspaces/%s/api-keys", ws);
    char *keys[2] = {k_live, k_gone};
    for (int i = 0; i < 2; i++) {
        clock_format_iso(clock_now_ms() + 3600000, 0, iso, sizeof iso);
        snprintf(body, sizeof body, "{\"name\":\"k%d\",\"expires_at\":\"%s\"}", i, iso);
        ts_api_call(&r, &a, a.bootstrap_key, "POST", path, body);
        cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
        char hex[SECRET_HASH_HEX_LEN + 1];
        const char *k = ta_str(&r, "key");
        secret_hash_hex(k, strlen(k), hex);
        snprintf(keys[i], 200, "%swskey:%s", a.redis_prefix, hex);
        ts_resp_free(&r);
    }
    char hex[SECRET_HASH_HEX_LEN + 1];
    secret_hash_hex(key, strlen(key), hex);
    snprintf(k_never, sizeof k_never, "%swskey:%s", a.redis_prefix, hex);
    ta_wait_outbox_empty(&a);
    ta_stop(&a);
    char *never_before = ts_redis("GET %s", k_never);

    /* as an API before 036 left them: version 1, records without expiry,
     * and one key's expiry passed since */
    free(ts_sql(a.db_url, "DELETE FROM schema_migrations WHERE version = 36; UPDATE api_keys SET version = 1"));
    free(ts_sql(a.db_url, "UPDATE api_keys SET expires_at = now() - interval '1 hour' WHERE name = 'k1'"));
    char old[200];
    snprintf(old, sizeof old, "{\"version\":1,\"workspace_id\":\"%s\"}", ws);
    free(ts_redis("SET %s %s", k_live, old));
    free(ts_redis("SET %s %s", k_gone, old));
    cr_assert(ta_redis_accepts(k_gone), "the old record is not accepted to start with");

    ts_api_replica(&b, &a, "migrate_036_b", NULL);
    ta_wait_outbox_empty(&b);
    cr_assert_not(ta_redis_accepts(k_gone), "the expired key's record is still accepted");
    char *v = ts_redis("GET %s", k_live);
    json_t *rec = v ? json_loads(v, 0, NULL) : NULL;
    cr_assert(json_is_integer(json_object_get(rec, "expires_at_ms")), "the live key's record has no expiry: %s", v);
    json_decref(rec);
    free(v);
    char *never_after = ts_redis("GET %s", k_never);
    cr_assert_str_eq(never_after, never_before, "a key without an expiry was republished");
    free(never_before);
    free(never_after);
    ta_check(&a, NULL, "036");
    ta_stop(&b);
}
