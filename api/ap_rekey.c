/* ap_rekey: `jsmcp-api rotate-keys`, re-encryption of every secret under
 * the active master key, without downtime.
 *
 * Rotation: put the new key first in JSMCP_MASTER_KEYS ("k2:new,k1:old"),
 * restart the API and workers (they now seal with k2 and still open k1),
 * run this command, then drop k1 from the configuration. It walks the
 * rows still sealed under another key in batches of REKEY_BATCH, each
 * batch one short transaction (FOR UPDATE SKIP LOCKED, so the API keeps
 * serving and a row busy elsewhere is taken by the next batch); once a
 * batch of accounts committed, their acct:<id> records are published,
 * sealed under the new key, with the versions the re-sealing UPDATEs
 * returned (ap_publish.h: a PATCH that committed meanwhile has a newer
 * version and is not overwritten). A second run finds nothing to do. A
 * command-line tool, not a server: its blocking libpq and hiredis calls
 * block no event loop. */
#include "ap_rekey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_publish.h"
#include "cfg.h"
#include "log.h"
#include "pgpool.h"
#include "rcli.h"
#include "testhook.h"
#include "clock.h"

#define REKEY_BATCH "100"

typedef struct rekey_s {
    secret_keyring_t *keys;
    PGconn *db;
    redisContext *redis;
    const char *prefix;
    const char *kid;     /* the active key id */
} rekey_t;

static PGresult *exec(rekey_t *k, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(k->db, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "jsmcp-api rotate-keys: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Re-seals one table's column in batches. ad_fmt names the additional
 * data ("acct:%s", "oauthapp:%s") from the row's id. accounts: publish
 * each batch's acct:<id> records once it committed. Returns rows re-sealed
 * or -1. */
static long reseal_table(rekey_t *k, const char *table, const char *id_col, const char *col, const char *ad_fmt,
                         int accounts, long *published)
{
    char sel[512], upd[512];
    long total = 0;
    ap_pub_t *pub = NULL;
    snprintf(sel, sizeof sel,
             "SELECT %s::text, %s FROM %s WHERE key_id <> $1 LIMIT " REKEY_BATCH " FOR UPDATE SKIP LOCKED", id_col,
             col, table);
    /* An account's UPDATE returns what its record is built from, at the
     * version the trigger gave this change. */
    snprintf(upd, sizeof upd, "UPDATE %s SET %s = $2, key_id = $3 WHERE %s = $1::uuid%s", table, col, id_col,
             accounts ? " RETURNING version, site_url, auth_type, status, cloud_id, pace" : "");
    for (;;) {
        PGresult *b = exec(k, "BEGIN", 0, NULL), *rows;
        if (!b)
            return -1;
        PQclear(b);
        pub = ap_pub_new(k->prefix, clock_now_ms());
        const char *p1[1] = {k->kid};
        if (!(rows = exec(k, sel, 1, p1)))
            goto fail;
        int n = PQntuples(rows);
        for (int i = 0; i < n; i++) {
            char ad[96];
            size_t len;
            const char *id = PQgetvalue(rows, i, 0);
            snprintf(ad, sizeof ad, ad_fmt, id);
            char *pt = secret_open(k->keys, ad, PQgetvalue(rows, i, 1), &len, NULL, 0);
            if (!pt) {
                fprintf(stderr, "jsmcp-api rotate-keys: %s %s cannot be opened with the configured keys\n", table, id);
                PQclear(rows);
                goto fail;
            }
            char *sealed = secret_seal(k->keys, ad, pt, len);
            const char *p[3] = {id, sealed, k->kid};
            PGresult *u = sealed ? exec(k, upd, 3, p) : NULL;
            secret_wipe(sealed);
            free(sealed);
            json_t *creds = accounts && u ? json_loadb(pt, len, 0, NULL) : NULL;
            secret_wipe(pt);
            free(pt);
            if (u && accounts) {
                char *rec = creds && PQntuples(u) == 1
                                ? ap_account_record(k->keys, id, strtoll(PQgetvalue(u, 0, 0), NULL, 10),
                                                    PQgetvalue(u, 0, 1), PQgetvalue(u, 0, 2), PQgetvalue(u, 0, 3),
                                                    PQgetisnull(u, 0, 4) ? NULL : PQgetvalue(u, 0, 4),
                                                    PQgetisnull(u, 0, 5) ? NULL : PQgetvalue(u, 0, 5), creds)
                                : NULL;
                char suffix[64];
                snprintf(suffix, sizeof suffix, "acct:%s", id);
                if (rec)
                    ap_pub_record(pub, suffix, rec, 0);
                secret_wipe(rec);
                free(rec);
                if (!rec) {
                    fprintf(stderr, "jsmcp-api rotate-keys: account %s cannot be republished\n", id);
                    PQclear(u);
                    u = NULL;
                }
            }
            json_decref(creds);
            if (!u) {
                PQclear(rows);
                goto fail;
            }
            PQclear(u);
        }
        PQclear(rows);
        if (!(b = exec(k, "COMMIT", 0, NULL))) {
            ap_pub_free(pub);
            return -1;
        }
        ap_pub_t *batch = pub;
        pub = NULL;
        PQclear(b);
        /* Redis after COMMIT. Were this process to stop here, the outbox
         * rows the UPDATEs wrote make reconcile publish these records. */
        th_wait_blocking("rekey_publish");
        char err[256];
        long w = 0;
        if (ap_pub_count(batch))
            w = ap_pub_send_blocking(batch, k->redis, err, sizeof err);
        else
            ap_pub_free(batch);
        if (w < 0) {
            fprintf(stderr, "jsmcp-api rotate-keys: publishing to Redis failed (%s); reconcile will publish the"
                            " re-sealed accounts\n", err);
            return -1;
        }
        if (accounts)
            *published += n;
        total += n;
        if (n == 0)
            return total;
    }
fail:
    ap_pub_free(pub);
    PQclear(PQexec(k->db, "ROLLBACK"));
    return -1;
}

/* Accounts whose acct:<id> record in Redis is older than their row, or
 * missing: a publication Redis refused (this run's, or an earlier one's;
 * the outbox has it, for a running API's reconcile). Until they are
 * published, Redis may hold records sealed under an older key, which the
 * workers still need. -1 on error. */
static long unpublished_accounts(rekey_t *k)
{
    char cursor[40] = "00000000-0000-0000-0000-000000000000";
    long n = 0;
    for (;;) {
        const char *p[1] = {cursor};
        PGresult *rows = exec(k, "SELECT id::text, version FROM integrated_accounts WHERE id > $1::uuid"
                                 " ORDER BY id LIMIT 1000", 1, p);
        if (!rows)
            return -1;
        int nr = PQntuples(rows);
        for (int i = 0; i < nr; i++)
            redisAppendCommand(k->redis, "GETRANGE %sacct:%s 0 63", k->prefix, PQgetvalue(rows, i, 0));
        for (int i = 0; i < nr; i++) {
            redisReply *r = NULL;
            if (redisGetReply(k->redis, (void **)&r) != REDIS_OK) {
                fprintf(stderr, "jsmcp-api rotate-keys: reading Redis: %s\n", k->redis->errstr);
                PQclear(rows);
                return -1;
            }
            long long have = -1, want = strtoll(PQgetvalue(rows, i, 1), NULL, 10);
            if (r && r->type == REDIS_REPLY_STRING && strncmp(r->str, "{\"version\":", 11) == 0)
                have = strtoll(r->str + 11, NULL, 10);
            n += have < want;
            freeReplyObject(r);
        }
        if (nr > 0)
            snprintf(cursor, sizeof cursor, "%s", PQgetvalue(rows, nr - 1, 0));
        PQclear(rows);
        if (nr < 1000)
            return n;
    }
}

int ap_rekey_run(void)
{
    char err[512];
    rekey_t k;
    memset(&k, 0, sizeof k);
    k.keys = secret_keyring_from_env(err, sizeof err);
    if (!k.keys) {
        fprintf(stderr, "jsmcp-api rotate-keys: master keys: %s\n", err);
        return 2;
    }
    k.kid = secret_keyring_active_kid(k.keys);
    k.prefix = cfg_str("JSMCP_REDIS_PREFIX", "jsmcp:");
    int rc = 1;
    k.db = pgpool_connect_blocking(cfg_str("JSMCP_DATABASE_URL", "postgresql:///jsmcp"), err, sizeof err);
    k.redis = k.db ? rcli_connect_blocking(cfg_str("JSMCP_REDIS_URL", "redis://127.0.0.1:6379/0"), err, sizeof err)
                   : NULL;
    if (!k.db || !k.redis) {
        fprintf(stderr, "jsmcp-api rotate-keys: %s\n", err);
        goto out;
    }
    long published = 0;
    long accounts = reseal_table(&k, "integrated_accounts", "id", "credentials_sealed", "acct:%s", 1, &published);
    long apps = accounts < 0 ? -1
                             : reseal_table(&k, "oauth_apps", "workspace_id", "client_secret_sealed", "oauthapp:%s", 0,
                                            &published);
    long hooks = apps < 0 ? -1 : reseal_table(&k, "webhooks", "id", "secret_sealed", "webhook:%s", 0, &published);
    if (hooks < 0)
        goto out;
    PGresult *left = exec(&k, "SELECT (SELECT count(*) FROM integrated_accounts WHERE key_id <> $1)"
                              " + (SELECT count(*) FROM oauth_apps WHERE key_id <> $1)"
                              " + (SELECT count(*) FROM webhooks WHERE key_id <> $1)", 1, (const char *[]){k.kid});
    long remaining = left ? atol(PQgetvalue(left, 0, 0)) : -1;
    PQclear(left);
    /* Said only once Redis holds every account as PostgreSQL does: a run
     * whose publication Redis refused said so and left it to reconcile, and
     * a second run, with nothing to re-encrypt, used to say the old keys
     * could go while records sealed under them were still in Redis (found
     * by an adversarial run). */
    long unpublished = remaining == 0 ? unpublished_accounts(&k) : 0;
    const char *advice = remaining != 0 ? " (run again)"
                         : unpublished != 0 ? " (keep the older keys: reconcile, in a running API, has still to publish"
                                              " account records; run again after it)"
                                            : " (older keys can now be removed from JSMCP_MASTER_KEYS)";
    printf("jsmcp-api rotate-keys: active key %s; re-encrypted %ld account credential(s), %ld OAuth app secret(s)"
           " and %ld webhook secret(s); republished %ld account record(s); %ld row(s) still under other keys;"
           " %ld account record(s) in Redis older than PostgreSQL%s\n",
           k.kid, accounts, apps, hooks, published, remaining, unpublished < 0 ? 0 : unpublished, advice);
    LOG_INFO("rekey", "rotation pass done", "active_kid", k.kid, NULL);
    rc = remaining == 0 && unpublished == 0 ? 0 : 1;
out:
    if (k.db)
        PQfinish(k.db);
    if (k.redis)
        redisFree(k.redis);
    secret_keyring_free(k.keys);
    return rc;
}
