/* PostgreSQL and Redis never disagree (issue 21). Each numbered defect of
 * the issue is reproduced with the test hooks (common/testhook.h: a process
 * stops at a named point while the test races it) or a fault the test
 * injects (a deferred constraint trigger that fails COMMIT), and the
 * invariant checker (tests/support/tc.h) must hold afterwards:
 *   1. delete during a reconcile pass (full and incremental);
 *   2. PATCH whose COMMIT fails (server and account);
 *   3. rotate, PATCH, delete: the old URL follows; a stale write after the
 *      overlap ended does not bring the old URL back;
 *   4. the OAuth refresher against a PATCH (its read and its write);
 *   5. rotate-keys against a PATCH;
 * and 200 random admin operations from 8 clients with reconcile running
 * continuously. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tc.h"
#include "test_api_common.h"
#include "test_oauth_common.h"

/* ---- hooks ---- */

static void hk_dir(char *out, size_t outsz)
{
    const char *base = getenv("JSMCP_TEST_TMP");
    snprintf(out, outsz, "%s/hooks.XXXXXX", base && *base ? base : "/tmp");
    cr_assert(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

static void hk_path(char *out, size_t outsz, const char *dir, const char *point, const char *ext)
{
    snprintf(out, outsz, "%s/%s.%s", dir, point, ext);
}

static void hk_arm(const char *dir, const char *point)
{
    char p[512];
    hk_path(p, sizeof p, dir, point, "pause");
    FILE *f = fopen(p, "w");
    cr_assert(f, "cannot arm %s", p);
    fclose(f);
}

static int hk_exists(const char *dir, const char *point, const char *ext)
{
    char p[512];
    hk_path(p, sizeof p, dir, point, ext);
    return access(p, F_OK) == 0;
}

static void hk_wait_reached(const char *dir, const char *point)
{
    for (int i = 0; i < 600 && !hk_exists(dir, point, "reached"); i++)
        ta_sleep_ms(50);
    cr_assert(hk_exists(dir, point, "reached"), "the process did not reach hook %s within 30 s", point);
}

/* Lets the process go on and waits until it did (it removes .reached). */
static void hk_release(const char *dir, const char *point)
{
    char p[512];
    hk_path(p, sizeof p, dir, point, "pause");
    unlink(p);
    for (int i = 0; i < 600 && hk_exists(dir, point, "reached"); i++)
        ta_sleep_ms(20);
    cr_assert(!hk_exists(dir, point, "reached"), "hook %s not released within 12 s", point);
}

/* Lets whatever stops at reconcile_full_read in dir go, without waiting. */
static void unlink_pause(const char *dir)
{
    char p[512];
    hk_path(p, sizeof p, dir, "reconcile_full_read", "pause");
    unlink(p);
}

/* The pass that was paused at point has ended once the next one stops
 * there (passes run one at a time); that one is released again. */
static void hk_next_pass(const char *dir, const char *point)
{
    hk_arm(dir, point);
    hk_wait_reached(dir, point);
}

static void check(const ts_api_t *a, const char *keys, const char *when)
{
    ta_check(a, keys, when);
}

static void env_hook(char *buf, size_t sz, const char *dir)
{
    snprintf(buf, sz, "JSMCP_TEST_HOOK_DIR=%s", dir);
}

/* ---- 1. delete during a reconcile pass ---- */

/* The start of the tests that race an incremental pass: an API with its
 * hooks in dir (made here), an incremental pass every 100 ms and no full
 * one, and one server (srv, tok, its key k) whose publication is done. */
static void inc_setup(ts_api_t *a, const char *name, char *dir, size_t dirsz, char *key, char *acct, char *srv,
                      char *tok, char *k, size_t ksz)
{
    char ws[64], he[320];
    hk_dir(dir, dirsz);
    env_hook(he, sizeof he, dir);
    const char *env[] = {he, "JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000", NULL};
    ta_start(a, name, env, ws, key, acct);
    ta_server(a, key, acct, NULL, srv, tok);
    ta_srv_key(a, tok, k, ksz);
    ta_wait_outbox_empty(a);
}

/* A PATCH of the server whose outbox row the next incremental pass takes:
 * that pass reads the server and stops at reconcile_read, holding it. */
static void hold_pass(const ts_api_t *a, const char *dir, const char *key, const char *acct, const char *srv)
{
    ts_resp_t r;
    hk_arm(dir, "reconcile_read");
    ta_call(&r, a, key, "PATCH", "{\"name\":\"held\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    hk_wait_reached(dir, "reconcile_read");
}

static void assert_not_live(const char *key, const char *what)
{
    char *v = ts_redis("GET %s", key);
    cr_assert(!tc_live(v), "%s: %s", what, v);
    free(v);
}

/* A full pass reads a server that Redis lacks (its publication was lost),
 * the server is deleted, then the pass writes what it read. */
Test(api_consistency, delete_during_full_reconcile_pass, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], tok[64], k[256], dir[256], he[320];
    hk_dir(dir, sizeof dir);
    env_hook(he, sizeof he, dir);
    const char *env[] = {he, "JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=100", NULL};
    ta_start(&a, "cons_del_full", env, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, tok);
    ta_srv_key(&a, tok, k, sizeof k);
    free(ts_redis("DEL %s", k));
    /* a pass that started after the DEL: it finds the server missing */
    hk_next_pass(dir, "reconcile_full_read");
    hk_release(dir, "reconcile_full_read");
    hk_next_pass(dir, "reconcile_full_read");
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    assert_not_live(k, "the deleted server's record is live");
    hk_release(dir, "reconcile_full_read");
    hk_next_pass(dir, "reconcile_full_read"); /* the pass that read the server has ended */
    assert_not_live(k, "reconcile brought the deleted server back");
    check(&a, NULL, "a delete during a full reconcile pass");
    hk_release(dir, "reconcile_full_read");
    ta_stop(&a);
}

/* An incremental pass takes the outbox row of a change that was committed
 * but not published (written behind the API's back: a writer that died
 * after its COMMIT), the server is deleted, then the pass writes. */
Test(api_consistency, delete_during_incremental_reconcile_pass, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], k[256], dir[256], sql[256];
    inc_setup(&a, "cons_del_incr", dir, sizeof dir, key, acct, srv, tok, k, sizeof k);
    hk_arm(dir, "reconcile_read");
    snprintf(sql, sizeof sql, "UPDATE mcp_servers SET name = 'unpublished' WHERE id = '%s'", srv);
    free(ts_sql(a.db_url, sql));
    hk_wait_reached(dir, "reconcile_read");
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    assert_not_live(k, "the deleted server's record is live");
    hk_release(dir, "reconcile_read");
    ta_wait_outbox_empty(&a);
    assert_not_live(k, "reconcile brought the deleted server back");
    check(&a, NULL, "a delete during an incremental reconcile pass");
    ta_stop(&a);
}

/* A server rotated more often than a pass used to take hashes of (64) while
 * its publications failed (Redis refusing writes: a test hook here): one
 * incremental pass then gets all its hashes, and every rotated-out URL must
 * be tombstoned by it. The pass kept the first 64 in text order: the rest
 * stayed live until a full pass, an hour later by default (found by an
 * adversarial run: 300 rotations during an OOM). */
Test(api_consistency, many_rotations_unpublished_all_tombstoned_by_one_pass, .timeout = 120)
{
    enum { ROTATIONS = 100 };
    ts_api_t a;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], dir[256];
    static char keys[ROTATIONS + 1][256];
    inc_setup(&a, "cons_many_rot", dir, sizeof dir, key, acct, srv, tok, keys[0], sizeof keys[0]);
    /* A pass holds the next change while every rotation's own publication
     * fails: the rotations wait in the outbox for one pass. */
    hold_pass(&a, dir, key, acct, srv);
    hk_arm(dir, "request_publish_refused");
    for (int i = 1; i <= ROTATIONS; i++) {
        ta_call(&r, &a, key, "POST", "{\"overlap_seconds\":0}", "/integrated-account/%s/mcp/%s/rotate", acct, srv);
        cr_assert_eq(r.status, 200, "rotation %d: %ld %s", i, r.status, r.body);
        const char *url = ta_str(&r, "url");
        cr_assert(url && strstr(url, "/mcp/"));
        ta_srv_key(&a, strstr(url, "/mcp/") + 5, keys[i], sizeof keys[i]);
        ts_resp_free(&r);
    }
    long waiting = ta_sql_long(&a, "SELECT count(*) FROM publish_outbox");
    cr_assert_geq(waiting, ROTATIONS, "the rotations wait for a pass (%ld outbox rows)", waiting);
    /* Only the first URL was ever published here; as if each rotated-out
     * URL had been live too (published, then its tombstone lost), every one
     * gets the first one's record, so that each must be tombstoned by the
     * pass, whatever order its hash sorts in. */
    char *first = ts_redis("GET %s", keys[0]);
    cr_assert(tc_live(first), "the first URL is live before the pass: %s", first ? first : "(nil)");
    for (int i = 1; i < ROTATIONS; i++)
        free(ts_redis("SET %s %s", keys[i], first));
    free(first);
    /* Redis takes writes again; the held pass goes on, the next takes all. */
    char p[512];
    hk_path(p, sizeof p, dir, "request_publish_refused", "pause");
    unlink(p);
    hk_release(dir, "reconcile_read");
    ta_wait_outbox_empty(&a);
    int64_t deadline = clock_now_ms() + 30000;
    int live = 0;
    do {
        live = 0;
        for (int i = 0; i < ROTATIONS; i++) {
            char *v = ts_redis("GET %s", keys[i]);
            live += tc_live(v);
            free(v);
        }
        if (live)
            ta_sleep_ms(50);
    } while (live && clock_now_ms() < deadline);
    cr_assert_eq(live, 0, "%d of %d rotated-out URLs still live", live, ROTATIONS);
    char *v = ts_redis("GET %s", keys[ROTATIONS]);
    cr_assert(tc_live(v), "the current URL is live: %s", v ? v : "(nil)");
    free(v);
    check(&a, NULL, "100 unpublished rotations and one incremental pass");
    ta_stop(&a);
}

/* More changes than one incremental pass takes (500 outbox rows): every
 * pass takes only its share, and every changed server ends with its own
 * record. (A "seq IN (SELECT ... LIMIT FOR UPDATE SKIP LOCKED)" took more
 * rows than the pass read servers for, and tombstoned the rest: found by
 * bench/reconcile.sh's sample check.) */
Test(api_consistency, outbox_larger_than_a_pass, .timeout = 120)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], sql[512];
    const char *env[] = {"JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000", NULL};
    ta_start(&a, "cons_outbox", env, ws, key, acct);
    /* written behind the API's back (committed, never published by a request) */
    snprintf(sql, sizeof sql,
             "INSERT INTO mcp_servers (workspace_id, account_id, name, token_hash) SELECT '%s', '%s', 's' || i,"
             " encode(sha256(convert_to('outbox-' || i, 'UTF8')), 'hex') FROM generate_series(1, 1300) AS i",
             ws, acct);
    free(ts_sql(a.db_url, sql));
    ta_wait_outbox_empty(&a);
    check(&a, NULL, "1,300 servers created behind the API's back");
    free(ts_sql(a.db_url, "UPDATE mcp_servers SET name = name || '+', require_api_token_auth = true"));
    ta_wait_outbox_empty(&a);
    check(&a, NULL, "1,300 servers changed behind the API's back");
    ta_stop(&a);
}

/* ---- 2. PATCH whose COMMIT fails ---- */

/* A deferred constraint trigger: COMMIT of a transaction that wrote a
 * server named 'commit-fails' or an account paced '1/s burst 1' fails,
 * after its UPDATE succeeded. */
static const char FAIL_COMMIT_SQL[] =
    "CREATE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF to_jsonb(NEW)->>'name' = 'commit-fails' OR to_jsonb(NEW)->>'pace' = '1/s burst 1' THEN"
    "  RAISE EXCEPTION 'injected COMMIT failure'; END IF; RETURN NULL; END $$;"
    "CREATE CONSTRAINT TRIGGER test_fail_commit AFTER UPDATE ON mcp_servers DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION test_fail_commit();"
    "CREATE CONSTRAINT TRIGGER test_fail_commit AFTER UPDATE ON integrated_accounts DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION test_fail_commit();";

Test(api_consistency, patch_with_failed_commit, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], tok[64];
    ta_start(&a, "cons_commit", NULL, ws, key, acct);
    ta_server(&a, key, acct, "{\"name\":\"before\",\"config\":{\"methods\":[\"read\"]}}", srv, tok);
    free(ts_sql(a.db_url, FAIL_COMMIT_SQL));

    ta_call(&r, &a, key, "PATCH", "{\"name\":\"commit-fails\",\"require_api_token_auth\":true,"
            "\"config\":{\"methods\":[\"read\",\"write\"]}}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_geq(r.status, 500, "a PATCH whose COMMIT failed answered %ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM mcp_servers WHERE name = 'before'"), 1, "rolled back");
    check(&a, NULL, "a server PATCH whose COMMIT failed");

    ta_call(&r, &a, key, "PATCH", "{\"pace\":\"1/s burst 1\"}", "/integrated-account/%s", acct);
    cr_assert_geq(r.status, 500, "an account PATCH whose COMMIT failed answered %ld %s", r.status, r.body);
    ts_resp_free(&r);
    check(&a, NULL, "an account PATCH whose COMMIT failed");

    /* and a PATCH that commits is published */
    ta_call(&r, &a, key, "PATCH", "{\"name\":\"after\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    check(&a, NULL, "a PATCH that committed");
    ta_stop(&a);
}

/* ---- 3. rotate, PATCH, delete: both URLs are one server ---- */

Test(api_consistency, rotate_patch_delete_old_url_follows, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], tok[64], k_old[256], k_new[256];
    ta_start(&a, "cons_rotate", NULL, ws, key, acct);
    ta_server(&a, key, acct, "{\"name\":\"rot\",\"config\":{\"methods\":[\"read\"]}}", srv, tok);
    ta_srv_key(&a, tok, k_old, sizeof k_old);
    ta_call(&r, &a, key, "POST", "{\"overlap_seconds\":600}", "/integrated-account/%s/mcp/%s/rotate", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    const char *url = ta_str(&r, "url");
    cr_assert(url && strstr(url, "/mcp/"));
    ta_srv_key(&a, strstr(url, "/mcp/") + 5, k_new, sizeof k_new);
    ts_resp_free(&r);
    check(&a, NULL, "a rotation with overlap");

    ta_call(&r, &a, key, "PATCH", "{\"require_api_token_auth\":true,\"name\":\"renamed\","
            "\"config\":{\"methods\":[\"read\",\"write\"]}}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    char *old = ts_redis("GET %s", k_old);
    json_t *rec = old ? json_loads(old, 0, NULL) : NULL;
    cr_assert(json_is_true(json_object_get(rec, "require_api_token_auth")),
              "the rotated-out URL still answers without a key: %s", old ? old : "(nil)");
    json_decref(rec);
    free(old);
    check(&a, NULL, "a PATCH during the overlap");

    char exp[48], body[128];
    ta_iso_in(7200, exp, sizeof exp);
    snprintf(body, sizeof body, "{\"expires_at\":\"%s\"}", exp);
    ta_call(&r, &a, key, "PATCH", body, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    check(&a, NULL, "a PATCH of expires_at during the overlap");

    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    char *v1 = ts_redis("GET %s", k_old), *v2 = ts_redis("GET %s", k_new);
    cr_assert(!tc_live(v1) && !tc_live(v2), "a URL of the deleted server is live: %s / %s", v1, v2);
    free(v1);
    free(v2);
    check(&a, NULL, "the delete of a server in its overlap");
    ta_stop(&a);
}

/* A writer holding a read from before a rotation (an incremental pass of
 * one replica, paused after its read) writes after the old token's overlap
 * ended. Redis used to drop the key at the end of the overlap (PXAT),
 * version and all, so the stale record had nothing to lose to: the
 * rotated-out URL came back without an expiry, and stayed until the
 * sweeper ended the overlap (for good without a sweeper: the row still
 * names the hash, so no pass saw an orphan). The rotation's own outbox row
 * is taken by a second replica meanwhile, as in any deployment with two;
 * with one, the pass after the stale one repaired it. The same holds for a
 * PATCH that shortens expires_at: the key kept its version until then. */
Test(api_consistency, stale_write_after_the_overlap_ended, .timeout = 120)
{
    ts_api_t a, b;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], k_old[256], dir[256], dir_b[256], he_b[320];
    inc_setup(&a, "cons_stale_exp", dir, sizeof dir, key, acct, srv, tok, k_old, sizeof k_old);
    hk_dir(dir_b, sizeof dir_b); /* b's own, never armed: b's passes run freely */
    env_hook(he_b, sizeof he_b, dir_b);

    hold_pass(&a, dir, key, acct, srv); /* a's pass read the server, its first token current */
    const char *env_b[] = {he_b, NULL};
    ts_api_replica(&b, &a, "cons_stale_exp_b", env_b);

    ta_call(&r, &b, key, "POST", "{\"overlap_seconds\":3}", "/integrated-account/%s/mcp/%s/rotate", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(ta_redis_accepts(k_old), "the old URL is refused during its overlap");
    /* b takes the rotation's outbox row; a's stays held */
    long n = -1;
    for (int i = 0; i < 1200 && (n = ta_sql_long(&a, "SELECT count(*) FROM publish_outbox")) > 1; i++)
        ta_sleep_ms(50);
    cr_assert_eq(n, 1, "the second replica did not take the rotation's outbox row (%ld rows)", n);
    /* the overlap ends */
    for (int i = 0; i < 600 && ta_redis_accepts(k_old); i++)
        ta_sleep_ms(50);
    cr_assert_not(ta_redis_accepts(k_old), "the old URL outlived its overlap by 30 s");

    hk_release(dir, "reconcile_read");
    ta_wait_outbox_empty(&a); /* a's pass published, then committed */
    char *v = ts_redis("GET %s", k_old);
    cr_assert_not(tc_accepts(v, clock_now_ms()), "the rotated-out URL came back after its overlap: %s", v);
    free(v);
    check(&a, NULL, "a stale write after the end of an overlap");
    ta_stop(&b);
    ta_stop(&a);
}

/* ---- Redis losing its data ---- */

/* Every key under the API's prefix, the reconcile marker too, in one
 * script: what a FLUSHALL, a restart without persistence or a failover to
 * an empty replica does to this API's part of Redis. */
static void lose_redis_data(const ts_api_t *a)
{
    free(ts_redis("EVAL %s 0 %s", "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do redis.call('DEL', k) end",
                  a->redis_prefix));
}

static int marker_is(const ts_api_t *a, const char *state)
{
    char *v = ts_redis("GET %sreconcile:marker", a->redis_prefix);
    int is = v && strstr(v, state) != NULL;
    free(v);
    return is;
}

/* A pass holds a read of a server; the server is deleted (its tombstone
 * written); Redis loses its data, tombstone and versions with it; the pass
 * goes on. Nothing in Redis was newer than its read any more, so it wrote
 * the deleted server back, live, with no expiry: the URL worked until a
 * full pass's orphan scan, an hour later by default (found by an
 * adversarial run; the same for a rotated-out URL). A batch read before
 * Redis lost its data is refused now (the reconcile marker's time). */
Test(api_consistency, stale_write_after_redis_lost_its_data, .timeout = 120)
{
    ts_api_t a, b;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], k[256], dir[256], dir_b[256], he_b[320];
    inc_setup(&a, "cons_lost_data", dir, sizeof dir, key, acct, srv, tok, k, sizeof k);
    hold_pass(&a, dir, key, acct, srv);
    hk_dir(dir_b, sizeof dir_b); /* b's own, never armed */
    env_hook(he_b, sizeof he_b, dir_b);
    const char *env_b[] = {he_b, NULL};
    ts_api_replica(&b, &a, "cons_lost_data_b", env_b);
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    assert_not_live(k, "the deleted server's record is live");
    /* b takes the delete's outbox row (a's stays held): no pass to come
     * knows of the server any more */
    long n = -1;
    for (int i = 0; i < 1200 && (n = ta_sql_long(&a, "SELECT count(*) FROM publish_outbox")) > 1; i++)
        ta_sleep_ms(50);
    cr_assert_eq(n, 1, "the second replica did not take the delete's outbox row (%ld rows)", n);
    lose_redis_data(&a);
    ta_wait_marker(&a); /* the API noticed (its next tick): the marker is back */

    hk_release(dir, "reconcile_read");
    ta_wait_outbox_empty(&a);
    assert_not_live(k, "the stale pass brought the deleted server back after Redis lost its data");
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++)
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "no full pass completed after the loss");
    assert_not_live(k, "the deleted server is back after the full pass");
    check(&a, NULL, "a stale write after Redis lost its data");
    ta_stop(&b);
    ta_stop(&a);
}

/* Redis loses its data and the replica running the full pass that should
 * republish everything dies in it. The marker was set as that pass began,
 * so no other replica saw anything missing, and Redis stayed empty (every
 * URL a 404) until their own hourly passes (found by an adversarial run;
 * the same when the replica that noticed could not run the pass,
 * PostgreSQL being away). The marker now stays pending until a pass
 * completes, and every replica runs one while it is. */
Test(api_consistency, full_pass_after_a_loss_survives_its_replica, .timeout = 180)
{
    ts_api_t a, b;
    char ws[64], key[64], acct[64], srv[64], tok[64], k[256], dir_a[256], dir_b[256], he_a[320], he_b[320];
    hk_dir(dir_a, sizeof dir_a);
    hk_dir(dir_b, sizeof dir_b);
    env_hook(he_a, sizeof he_a, dir_a);
    env_hook(he_b, sizeof he_b, dir_b);
    const char *env_a[] = {he_a, "JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000", NULL};
    ta_start(&a, "cons_loss_a", env_a, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, tok);
    ta_srv_key(&a, tok, k, sizeof k);
    const char *env_b[] = {he_b, NULL};
    ts_api_replica(&b, &a, "cons_loss_b", env_b);
    for (int i = 0; i < 1200 && ta_reconcile_passes(&b, "full") < 1; i++) /* b's first pass is behind it */
        ta_sleep_ms(50);
    cr_assert_geq(ta_reconcile_passes(&b, "full"), 1, "the replica's first full pass did not complete");
    ta_wait_outbox_empty(&a);
    cr_assert(ta_redis_exists(k), "the server is not published");

    hk_arm(dir_a, "reconcile_full_read");
    hk_arm(dir_b, "reconcile_full_read");
    lose_redis_data(&a);
    int a_first = 0;
    for (int i = 0; i < 600 && !(a_first = hk_exists(dir_a, "reconcile_full_read", "reached")) &&
                    !hk_exists(dir_b, "reconcile_full_read", "reached");
         i++)
        ta_sleep_ms(50);
    cr_assert(a_first || hk_exists(dir_b, "reconcile_full_read", "reached"), "no full pass began after the loss");
    ts_api_t *dead = a_first ? &a : &b, *alive = a_first ? &b : &a;
    kill(dead->proc.pid, SIGKILL);
    ts_stop(&dead->proc);
    unlink_pause(a_first ? dir_b : dir_a);

    for (int i = 0; i < 1200 && !(ta_redis_exists(k) && marker_is(alive, "done")); i++)
        ta_sleep_ms(50);
    cr_assert(ta_redis_exists(k), "the surviving replica did not republish after the loss");
    cr_assert(marker_is(alive, "done"), "the marker is not done after a completed pass");
    check(alive, NULL, "a loss whose full pass lost its replica");
    ta_stop(alive);
}

/* The server's record, by name, once the marker is done again (waits up to
 * 30 s): what the write published itself, or the full pass after it. */
static int record_named_and_done(const ts_api_t *a, const char *k, const char *name)
{
    for (int i = 0; i < 600; i++) {
        char *v = ts_redis("GET %s", k);
        json_t *j = v ? json_loads(v, 0, NULL) : NULL;
        const char *n = json_string_value(json_object_get(j, "name"));
        int ok = n && strcmp(n, name) == 0 && marker_is(a, "done");
        json_decref(j);
        free(v);
        if (ok)
            return 1;
        ta_sleep_ms(50);
    }
    return 0;
}

/* A marker written by hand: of another type, every publication failed
 * (WRONGTYPE) for as long as it stayed; with a time in the future, every
 * publication was refused as read before it. Either is now a loss found
 * now: the marker is set again, a full pass runs, and writes go through
 * (found by an adversarial run). */
Test(api_consistency, a_marker_written_by_hand_is_a_loss_not_a_stop, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], k[256], dir[256], mk[200];
    inc_setup(&a, "cons_marker_hand", dir, sizeof dir, key, acct, srv, tok, k, sizeof k);
    snprintf(mk, sizeof mk, "%sreconcile:marker", a.redis_prefix);
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++)
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "the first full pass did not mark the marker done");

    free(ts_redis("DEL %s", mk));
    free(ts_redis("HSET %s a b", mk));
    ta_call(&r, &a, key, "PATCH", "{\"name\":\"after-hash\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(record_named_and_done(&a, k, "after-hash"), "a marker of another type stopped the publication");

    char *m = ts_redis("GET %s", mk), future[200];
    cr_assert(m && strchr(m, ' '), "marker %s", m ? m : "(nil)");
    snprintf(future, sizeof future, "%lld%s", (long long)clock_now_ms() + 3600000, strchr(m, ' '));
    free(m);
    free(ts_redis("SET %s %s", mk, future));
    ta_call(&r, &a, key, "PATCH", "{\"name\":\"after-future\"}", "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(record_named_and_done(&a, k, "after-future"), "a marker from the future refused the publication");
    ta_check(&a, NULL, "markers written by hand");
    ta_stop(&a);
}

/* Redis crashes and comes back from its last snapshot (RDB, Redis's default
 * persistence): the snapshot holds a server deleted since, live, and the
 * marker, done. Nothing looked lost, so the deleted URL worked until the
 * hourly full pass (found by an adversarial run). The marker names the
 * Redis process (its run_id) now: another one is a loss, and the full pass
 * it starts tombstones the record no row accounts for. A Redis of the
 * test's own. */
Test(api_consistency, a_redis_back_from_its_snapshot_is_a_loss, .timeout = 120)
{
    ts_proc_t rd;
    ts_api_t a;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], k[256], dir[256];
    ts_redis_private(&rd, "cons_rdb_redis");
    inc_setup(&a, "cons_rdb", dir, sizeof dir, key, acct, srv, tok, k, sizeof k);
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++)
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "the first full pass did not mark the marker done");
    char *saved = ts_redis("SAVE");
    cr_assert(saved && strcmp(saved, "OK") == 0, "SAVE: %s", saved ? saved : "(nil)");
    free(saved);
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    assert_not_live(k, "the deleted server's record is live");
    ta_wait_outbox_empty(&a); /* the delete's outbox row is taken: no pass to come knows of the server */

    ts_redis_restart(&rd);
    for (int i = 0; i < 600 && (ta_redis_exists(k) || !marker_is(&a, "done")); i++)
        ta_sleep_ms(50);
    assert_not_live(k, "the deleted server came back with the snapshot, and stayed");
    cr_assert(marker_is(&a, "done"), "no full pass completed after the restart");
    ta_check(&a, NULL, "a Redis back from its snapshot");
    ta_stop(&a);
    cr_assert_eq(ts_stop(&rd), 0, "redis-server exit, log %s", rd.log);
}

/* A Redis back from its snapshot holds a deleted server's record, live:
 * the full pass the new run_id starts tombstoned it only in its orphan
 * scan, after republishing every row (minutes at scale), and the revoked
 * URL served calls meanwhile (found by an adversarial run). The orphan
 * scan comes first now: by the time the pass reads its first rows, the
 * deleted server's record is a tombstone. */
Test(api_consistency, a_deleted_server_back_from_a_snapshot_dies_before_the_rows_are_republished, .timeout = 120)
{
    ts_proc_t rd;
    ts_api_t a;
    ts_resp_t r;
    char key[64], acct[64], srv[64], tok[64], k[256], dir[256];
    ts_redis_private(&rd, "cons_rdb2_redis");
    inc_setup(&a, "cons_rdb2", dir, sizeof dir, key, acct, srv, tok, k, sizeof k);
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++)
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "the first full pass did not mark the marker done");
    char *saved = ts_redis("SAVE");
    cr_assert(saved && strcmp(saved, "OK") == 0, "SAVE: %s", saved ? saved : "(nil)");
    free(saved);
    ta_call(&r, &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_wait_outbox_empty(&a);

    hk_arm(dir, "reconcile_full_read");
    ts_redis_restart(&rd);
    hk_wait_reached(dir, "reconcile_full_read");
    assert_not_live(k, "the full pass after the restart is republishing rows, and the deleted server's record "
                       "from the snapshot is still live (its URL works)");
    hk_release(dir, "reconcile_full_read");
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++)
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "no full pass completed after the restart");
    assert_not_live(k, "the deleted server came back with the snapshot");
    ta_check(&a, NULL, "a Redis back from its snapshot");
    ta_stop(&a);
    cr_assert_eq(ts_stop(&rd), 0, "redis-server exit, log %s", rd.log);
}

/* Redis loses its data; the full pass that republishes it walked servers
 * first and accounts and API keys only after the last server (minutes at a
 * million servers, chunk by chunk, resting between chunks). Meanwhile a
 * worker found a server whose account record was not back and answered
 * every call "the JSM account of this MCP server no longer exists", and
 * refused a server that requires an API key for want of the key's record
 * (found by an adversarial run: FLUSHALL under load). Accounts and API keys
 * go first now, so a server's record is back only once what it needs is:
 * at every chunk the pass publishes, a live server has its account's and
 * its workspace key's records. */
Test(api_consistency, full_pass_after_a_loss_republishes_servers_last, .timeout = 120)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], srv[64], tok[64], k[256], dir[256], he[320], ak[256], wk[256];
    char hex[SECRET_HASH_HEX_LEN + 1];
    hk_dir(dir, sizeof dir);
    env_hook(he, sizeof he, dir);
    const char *env[] = {he, "JSMCP_RECONCILE_INTERVAL_MS=100", NULL};
    ta_start(&a, "cons_order", env, ws, key, acct);
    ta_server(&a, key, acct, "{\"name\":\"needs-key\",\"require_api_token_auth\":true}", srv, tok);
    ta_srv_key(&a, tok, k, sizeof k);
    snprintf(ak, sizeof ak, "%sacct:%s", a.redis_prefix, acct);
    secret_hash_hex(key, strlen(key), hex);
    snprintf(wk, sizeof wk, "%swskey:%s", a.redis_prefix, hex);
    ta_wait_outbox_empty(&a);
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++) /* the first full pass is behind us */
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "the first full pass did not mark the marker done");
    cr_assert(ta_redis_exists(k) && ta_redis_exists(ak) && ta_redis_exists(wk), "not published");

    hk_arm(dir, "reconcile_full_chunk");
    lose_redis_data(&a);
    int chunks = 0; /* the chunks seen: some may pass while the hook is re-armed */
    for (int i = 0; i < 3000; i++) {
        if (hk_exists(dir, "reconcile_full_chunk", "reached")) {
            chunks++;
            if (ta_redis_exists(k)) {
                cr_assert(ta_redis_exists(ak), "chunk %d of the full pass after the loss: the server's record is "
                          "back, its account's is not (a worker answers \"the account no longer exists\")", chunks);
                cr_assert(ta_redis_exists(wk), "chunk %d of the full pass after the loss: the server that requires "
                          "an API key is back, the workspace key's record is not", chunks);
            }
            hk_release(dir, "reconcile_full_chunk");
            hk_arm(dir, "reconcile_full_chunk");
            continue;
        }
        if (marker_is(&a, "done"))
            break;
        ta_sleep_ms(20);
    }
    char p[512];
    hk_path(p, sizeof p, dir, "reconcile_full_chunk", "pause");
    unlink(p);
    cr_assert(marker_is(&a, "done"), "no full pass completed after the loss");
    cr_assert(chunks > 0, "the pass never stopped at a chunk");
    check(&a, NULL, "a full pass after a loss");
    ta_stop(&a);
}

/* ---- 4. the OAuth refresher against a PATCH ---- */

static void connect_account(to_env_t *e, char *id)
{
    ts_resp_t r;
    to_connect(e, "cust-cons", &r);
    cr_assert_eq(r.status, 201, "callback: %ld %s", r.status, r.body);
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
}

/* A refresh stopped at point while a PATCH changes the account's pacing. */
static void refresh_vs_patch(to_env_t *e, const char *dir, const char *id, const char *point, const char *pace)
{
    ts_resp_t r;
    char body[128];
    long long handled = to_refresh_handled(e->api.metrics_url);
    hk_arm(dir, point);
    to_publish_refresh(e, id, to_pg_version(e, id), 1); /* a worker saw a 401 on the current version */
    hk_wait_reached(dir, point);
    snprintf(body, sizeof body, "{\"pace\":\"%s\"}", pace);
    ta_call(&r, &e->api, e->key, "PATCH", body, "/integrated-account/%s", id);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    hk_release(dir, point);
    for (int i = 0; i < 300 && to_refresh_handled(e->api.metrics_url) <= handled; i++)
        to_sleep_ms(50);
    cr_assert_gt(to_refresh_handled(e->api.metrics_url), handled, "the refresh did not finish");
    char when[128];
    snprintf(when, sizeof when, "a PATCH while the refresher waited at %s", point);
    check(&e->api, NULL, when);
}

Test(api_consistency, refresher_vs_patch, .timeout = 120)
{
    to_env_t e;
    char id[64], dir[256];
    hk_dir(dir, sizeof dir);
    setenv("JSMCP_TEST_HOOK_DIR", dir, 1); /* inherited by the processes the test starts */
    to_start(&e, "cons-refresh", 3600, "600000", "300000");
    to_set_app(&e);
    connect_account(&e, id);
    check(&e.api, NULL, "the connect");
    /* between the refresher's read of the row and its token request */
    refresh_vs_patch(&e, dir, id, "refresh_read", "7/s burst 9");
    /* between its UPDATE and its write to Redis */
    refresh_vs_patch(&e, dir, id, "refresh_publish", "3/s burst 4");
    to_stop(&e);
    unsetenv("JSMCP_TEST_HOOK_DIR");
}

/* A refresh that got new tokens stores them over a needs_reauth that
 * another refresh of the same credentials recorded meanwhile: that one had
 * used the refresh token this one rotated (its lock had expired while this
 * one's store waited out a database stall) and got invalid_grant. The
 * account stayed needs_reauth with good tokens stored, and nothing
 * refreshes an account that is not active (found by an adversarial run).
 * Here the other refresh's UPDATE is the test's, at the same cred_version,
 * while this one waits at refresh_read. */
Test(api_consistency, refresh_that_succeeds_clears_a_concurrent_needs_reauth, .timeout = 120)
{
    to_env_t e;
    char id[64], dir[256], sql[256];
    hk_dir(dir, sizeof dir);
    setenv("JSMCP_TEST_HOOK_DIR", dir, 1); /* inherited by the processes the test starts */
    to_start(&e, "cons-reauth", 3600, "600000", "300000");
    to_set_app(&e);
    connect_account(&e, id);
    long long handled = to_refresh_handled(e.api.metrics_url);
    hk_arm(dir, "refresh_read");
    to_publish_refresh(&e, id, to_pg_version(&e, id), 1);
    hk_wait_reached(dir, "refresh_read");
    snprintf(sql, sizeof sql, "UPDATE integrated_accounts SET status = 'needs_reauth' WHERE id = '%s'", id);
    free(ts_sql(e.api.db_url, sql));
    hk_release(dir, "refresh_read");
    for (int i = 0; i < 300 && to_refresh_handled(e.api.metrics_url) <= handled; i++)
        to_sleep_ms(50);
    cr_assert_gt(to_refresh_handled(e.api.metrics_url), handled, "the refresh did not finish");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM integrated_accounts WHERE id = '%s' AND status = 'active'", id);
    cr_assert_eq(ta_sql_long(&e.api, sql), 1, "the account stayed needs_reauth with fresh tokens stored");
    check(&e.api, NULL, "a refresh over a concurrent needs_reauth");
    to_stop(&e);
    unsetenv("JSMCP_TEST_HOOK_DIR");
}

/* The keyrings of a master-key rotation half done: keys_a "k2:<new>,k1:<old>"
 * (a replica that seals with k2 and opens both), and the JSMCP_MASTER_KEYS
 * entries of such a replica (env_a) and of one still on k1 alone (env_c). */
typedef struct keyrings_s {
    char keys_a[160], env_a[180], env_c[120];
} keyrings_t;

static void two_keyrings(keyrings_t *kr)
{
    char k[2][60];
    unsigned char raw[32];
    cr_assert(sodium_init() >= 0);
    for (int i = 0; i < 2; i++) {
        randombytes_buf(raw, sizeof raw);
        sodium_bin2base64(k[i], sizeof k[i], raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    }
    snprintf(kr->keys_a, sizeof kr->keys_a, "k2:%s,k1:%s", k[1], k[0]);
    snprintf(kr->env_a, sizeof kr->env_a, "JSMCP_MASTER_KEYS=%s", kr->keys_a);
    snprintf(kr->env_c, sizeof kr->env_c, "JSMCP_MASTER_KEYS=k1:%s", k[0]);
}

/* During a key rotation, a replica still on the old keyring takes the
 * outbox row of an account sealed under the new key: it cannot publish it,
 * and it used to commit the take anyway, so the account's record stayed
 * old until a full pass of a replica with the key, an hour later by
 * default (found by an adversarial run). It puts the row back now. */
Test(api_consistency, outbox_row_a_replica_cannot_open_is_put_back, .timeout = 120)
{
    ts_api_t a, c;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], tok[64], k[256], dir[256], dir_c[256], he[320], he_c[320];
    keyrings_t kr;
    two_keyrings(&kr);
    const char *keys_a = kr.keys_a, *env_keys_a = kr.env_a, *env_keys_c = kr.env_c;
    hk_dir(dir, sizeof dir);
    hk_dir(dir_c, sizeof dir_c);
    env_hook(he, sizeof he, dir);
    env_hook(he_c, sizeof he_c, dir_c);
    const char *env[] = {he, env_keys_a, "JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000",
                         NULL};
    ta_start(&a, "cons_keyring_a", env, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, tok);
    ta_srv_key(&a, tok, k, sizeof k);
    ta_wait_outbox_empty(&a);
    hold_pass(&a, dir, key, acct, srv); /* a's passes wait: c takes what comes */
    const char *env_c[] = {he_c, env_keys_c, NULL};
    ts_api_replica(&c, &a, "cons_keyring_c", env_c);

    hk_arm(dir, "request_publish_refused"); /* only the outbox publishes the PATCH */
    ta_call(&r, &a, key, "PATCH", "{\"pace\":\"6/s burst 6\"}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    for (int i = 0; i < 600 && ts_log_count(&c.proc, "cannot open account credentials") == 0; i++)
        ta_sleep_ms(50);
    cr_assert_gt(ts_log_count(&c.proc, "cannot open account credentials"), 0, "the old-keyring replica took no row");
    ta_stop(&c);
    char p[512];
    snprintf(p, sizeof p, "%s/request_publish_refused.pause", dir);
    unlink(p);
    hk_release(dir, "reconcile_read");
    ta_wait_outbox_empty(&a);
    check(&a, keys_a, "an outbox row a replica could not open");
    ta_stop(&a);
}

/* After a loss, a replica still on the old keyring (during a key rotation)
 * runs the full pass, and cannot publish the accounts sealed under the new
 * key. It used to mark the loss done anyway: those accounts stayed out of
 * Redis (every call on them "the JSM account no longer exists") until a
 * replica with the key ran its hourly pass (found by an adversarial run).
 * The marker stays pending now, until a replica with the key completes a
 * pass. */
Test(api_consistency, a_pass_that_cannot_open_every_account_leaves_the_loss_pending, .timeout = 120)
{
    ts_api_t a, c, a2;
    char ws[64], key[64], acct[64], ak[200];
    keyrings_t kr;
    two_keyrings(&kr);
    const char *keys_a = kr.keys_a, *env_keys_a = kr.env_a, *env_keys_c = kr.env_c;
    const char *env[] = {env_keys_a, "JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=3600000",
                         NULL};
    ta_start(&a, "cons_loss_keyring_a", env, ws, key, acct); /* the account is sealed under k2 */
    snprintf(ak, sizeof ak, "%sacct:%s", a.redis_prefix, acct);
    for (int i = 0; i < 600 && !marker_is(&a, "done"); i++)
        ta_sleep_ms(50);
    cr_assert(marker_is(&a, "done"), "the first full pass did not mark the marker done");
    const char *env_c[] = {env_keys_c, NULL};
    ts_api_replica(&c, &a, "cons_loss_keyring_c", env_c);
    for (int i = 0; i < 600 && ta_reconcile_passes(&c, "full") < 1; i++)
        ta_sleep_ms(50);
    ta_stop(&a); /* only the replica on the old keyring is left */

    double before = ta_reconcile_passes(&c, "full");
    lose_redis_data(&c);
    for (int i = 0; i < 600 && ta_reconcile_passes(&c, "full") < before + 1; i++)
        ta_sleep_ms(50);
    cr_assert_geq(ta_reconcile_passes(&c, "full"), before + 1, "no full pass completed after the loss");
    cr_assert(marker_is(&c, "pending"), "a pass that could not publish an account marked the loss done");
    cr_assert_not(ta_redis_exists(ak), "the account is published by a replica without its key?");

    ts_api_replica(&a2, &c, "cons_loss_keyring_a2", env); /* a replica with the key is back */
    for (int i = 0; i < 600 && !(marker_is(&c, "done") && ta_redis_exists(ak)); i++)
        ta_sleep_ms(50);
    cr_assert(ta_redis_exists(ak) && marker_is(&c, "done"), "the replica with the key did not finish the repair");
    ta_check(&a2, keys_a, "a loss repaired by a replica with the key");
    ta_stop(&c);
    ta_stop(&a2);
}

/* ---- 5. rotate-keys against a PATCH ---- */

Test(api_consistency, rotate_keys_vs_patch, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], dir[256], he[320], keys2[300], kenv[320], listen[64], k2[60];
    unsigned char raw[32];
    hk_dir(dir, sizeof dir);
    ta_start(&a, "cons_rekey", NULL, ws, key, acct);
    cr_assert(sodium_init() >= 0);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(k2, sizeof k2, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(keys2, sizeof keys2, "k2:%s,%s", k2, a.master_keys);
    snprintf(kenv, sizeof kenv, "JSMCP_MASTER_KEYS=%s", keys2);
    env_hook(he, sizeof he, dir);

    /* The API restarted with the new key first, as the procedure says. */
    ta_stop(&a);
    int port = ts_free_port();
    snprintf(listen, sizeof listen, "JSMCP_API_LISTEN=127.0.0.1:%d", port);
    const char *base[TS_MAX_ENV + 1], *env[TS_MAX_ENV + 4];
    ts_api_env(&a, base, TS_MAX_ENV + 1);
    size_t n = 0;
    while (base[n]) {
        env[n] = base[n];
        n++;
    }
    env[n++] = kenv; /* later entries win */
    env[n++] = listen;
    env[n++] = he;
    env[n] = NULL;
    ts_api_t b = a;
    ts_spawn(&b.proc, "cons_rekey_api2", "jsmcp-api", NULL, env, port);
    snprintf(b.url, sizeof b.url, "http://127.0.0.1:%d", port);

    hk_arm(dir, "rekey_publish");
    ts_proc_t rk;
    const char *args[] = {"rotate-keys", NULL};
    ts_spawn(&rk, "cons_rekey_cli", "jsmcp-api", args, env, 0);
    hk_wait_reached(dir, "rekey_publish");
    ta_call(&r, &b, key, "PATCH", "{\"pace\":\"5/s burst 5\"}", "/integrated-account/%s", acct);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    hk_release(dir, "rekey_publish");
    cr_assert_eq(ta_wait_exit(&rk, 30000), 0, "rotate-keys failed, log %s", rk.log);
    check(&b, keys2, "a PATCH while rotate-keys was about to republish");
    cr_assert_eq(ts_stop(&b.proc), 0, "API exit status, log %s", b.proc.log);
}

/* ---- 200 random admin operations, 8 clients, reconcile continuously ---- */

#define NCLIENTS 8
#define NOPS 25

typedef struct client_s {
    const ts_api_t *a;
    const char *key;
    char accts[2][64];
    unsigned seed;
    int ok, failed;
    char why[256];
} client_t;

static void *client_run(void *arg)
{
    client_t *c = arg;
    char srv[8][128];
    int nsrv = 0;
    ts_resp_t r;
    for (int op = 0; op < NOPS; op++) {
        int what = (int)(rand_r(&c->seed) % 7);
        const char *acct = c->accts[rand_r(&c->seed) % 2];
        char path[256], body[256];
        if (nsrv == 0 || what == 0) {
            snprintf(path, sizeof path, "/integrated-account/%s/mcp", acct);
            snprintf(body, sizeof body, "{\"name\":\"c%u\",\"config\":{\"methods\":[\"read\"]}}", c->seed % 1000);
            ts_api_call(&r, c->a, c->key, "POST", path, body);
            if (r.status == 201 && nsrv < 8)
                snprintf(srv[nsrv++], sizeof srv[0], "%s|%s", acct, ta_str(&r, "id"));
        } else {
            int i = (int)(rand_r(&c->seed) % (unsigned)nsrv);
            char sacct[64], sid[64];
            sscanf(srv[i], "%63[^|]|%63s", sacct, sid);
            snprintf(path, sizeof path, "/integrated-account/%s/mcp/%s", sacct, sid);
            if (what == 1 || what == 2) {
                snprintf(body, sizeof body, "{\"name\":\"p%d\",\"require_api_token_auth\":%s,\"config\":{\"methods\":[%s]}}",
                         op, what == 1 ? "true" : "false", what == 1 ? "\"read\",\"write\"" : "\"read\"");
                ts_api_call(&r, c->a, c->key, "PATCH", path, body);
            } else if (what == 3) {
                strcat(path, "/rotate");
                ts_api_call(&r, c->a, c->key, "POST", path, op % 2 ? "{\"overlap_seconds\":600}" : "{}");
            } else if (what == 4) {
                ts_api_call(&r, c->a, c->key, "DELETE", path, NULL);
                srv[i][0] = 0;
                memmove(srv[i], srv[nsrv - 1], sizeof srv[0]);
                nsrv--;
            } else {
                snprintf(path, sizeof path, "/integrated-account/%s", acct);
                snprintf(body, sizeof body, "{\"pace\":\"%d/s burst %d\"}", op % 9 + 1, op % 9 + 2);
                ts_api_call(&r, c->a, c->key, "PATCH", path, body);
            }
        }
        if (r.status >= 200 && r.status < 300) {
            c->ok++;
        } else { /* each client owns its servers: nothing else changes them */
            c->failed++;
            snprintf(c->why, sizeof c->why, "%ld %.200s", r.status, r.body ? r.body : "");
        }
        ts_resp_free(&r);
    }
    return NULL;
}

Test(api_consistency, random_operations_with_continuous_reconcile, .timeout = 240)
{
    ts_api_t a;
    char ws[64], key[64], dir[256], he[320];
    hk_dir(dir, sizeof dir);
    env_hook(he, sizeof he, dir);
    const char *env[] = {he, "JSMCP_RECONCILE_INTERVAL_MS=100", "JSMCP_RECONCILE_FULL_INTERVAL_MS=100", NULL};
    ta_start(&a, "cons_random", env, ws, key, NULL);
    client_t cl[NCLIENTS];
    pthread_t th[NCLIENTS];
    char accts[2][64];
    ta_account(&a, key, "r1", accts[0]);
    ta_account(&a, key, "r2", accts[1]);
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].a = &a;
        cl[i].key = key;
        memcpy(cl[i].accts, accts, sizeof accts);
        cl[i].seed = (unsigned)(i * 7919 + 17);
        cr_assert(pthread_create(&th[i], NULL, client_run, &cl[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(cl[i].failed, 0, "client %d: %d operations failed, last: %s", i, cl[i].failed, cl[i].why);
        ok += cl[i].ok;
    }
    cr_assert_geq(ok, NCLIENTS * NOPS * 9 / 10, "only %d of %d operations succeeded", ok, NCLIENTS * NOPS);
    check(&a, NULL, "200 random operations");
    /* and after full passes that started once the operations were done */
    hk_next_pass(dir, "reconcile_full_read");
    hk_release(dir, "reconcile_full_read");
    hk_next_pass(dir, "reconcile_full_read");
    check(&a, NULL, "two more full reconcile passes");
    hk_release(dir, "reconcile_full_read");
    ta_stop(&a);
}

/* Two OAuth callbacks for one new tenant (two connects, or a consent
 * clicked twice): both found no account, and the second INSERT failed
 * with 409 "created meanwhile; connect again", its grant already spent at
 * the token endpoint, so the customer had to consent again (found by an
 * adversarial run). Now the second waits for the first's transaction and
 * reconnects the account it made, with its own tokens. The first stops at
 * oauth_connect_write, between its read and its write; the second must be
 * seen waiting for it before the first goes on. */
typedef struct cb_call_s {
    char url[4096];
    ts_resp_t r;
} cb_call_t;

static void *cb_thread(void *p)
{
    cb_call_t *c = p;
    ts_http(&c->r, "GET", c->url, NULL, NULL, 0);
    return NULL;
}

Test(api_consistency, two_callbacks_for_a_new_tenant_both_connect, .timeout = 120)
{
    to_env_t e;
    char dir[256];
    static cb_call_t a, b;
    pthread_t ta, tb;
    hk_dir(dir, sizeof dir);
    setenv("JSMCP_TEST_HOOK_DIR", dir, 1); /* inherited by the processes the test starts */
    to_start(&e, "cons-connect-race", 3600, "600000", "300000");
    to_set_app(&e);
    char *ua = to_authorize(&e, "cust-race"), *ub = to_authorize(&e, "cust-race");
    snprintf(a.url, sizeof a.url, "%s", ua);
    snprintf(b.url, sizeof b.url, "%s", ub);
    free(ua);
    free(ub);
    hk_arm(dir, "oauth_connect_write");
    pthread_create(&ta, NULL, cb_thread, &a);
    hk_wait_reached(dir, "oauth_connect_write");
    pthread_create(&tb, NULL, cb_thread, &b);
    long waiting = 0;
    for (int i = 0; i < 600 && waiting == 0; i++) {
        waiting = ta_sql_long(&e.api, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (!waiting)
            to_sleep_ms(50);
    }
    cr_assert_eq(waiting, 1, "the second callback did not wait for the first one's transaction");
    hk_release(dir, "oauth_connect_write");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.r.status, 201, "first callback: %ld %s", a.r.status, a.r.body);
    cr_assert_eq(b.r.status, 200, "second callback (a reconnect): %ld %s", b.r.status, b.r.body);
    const char *ida = json_string_value(json_object_get(a.r.json, "id"));
    const char *idb = json_string_value(json_object_get(b.r.json, "id"));
    cr_assert(ida && idb && strcmp(ida, idb) == 0, "one account: %s %s", ida ? ida : "-", idb ? idb : "-");
    cr_assert_eq(ta_sql_long(&e.api, "SELECT count(*) FROM integrated_accounts WHERE tenant_id = 'cust-race'"
                                     " AND status = 'active' AND cred_version = 2"), 1);
    ts_resp_free(&a.r);
    ts_resp_free(&b.r);
    check(&e.api, NULL, "two callbacks for one new tenant");
    to_stop(&e);
    unsetenv("JSMCP_TEST_HOOK_DIR");
}
