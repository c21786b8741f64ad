/* ap_refresh: see ap_refresh.h.
 *
 * One refresh is one rop_t, freed in rop_end() only; every step's
 * callback either moves it on or ends it. The refresher keeps the live
 * ones in a list so that one process never runs two refreshes of the same
 * account (requests for it meanwhile are "coalesced"). */
#include "ap_refresh.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_oauth.h"
#include "ap_publish.h"
#include "buf.h"
#include "cfg.h"
#include "jsontext.h"
#include "log.h"
#include "pacerule.h"
#include "testhook.h"
#include "clock.h"

#define LOCK_PX "15000"      /* > token timeout + two queries: the lock outlives a refresh */
#define MAX_OPS 256          /* refreshes in flight per process; beyond, requests are dropped */
#define SCAN_BATCH "100"     /* due accounts per scan */
#define MSG_MAX 128
/* What the compare-and-set UPDATEs return: the row they left. */
#define RETURN_ROW "cred_version, version, site_url, status, COALESCE(cloud_id, ''), COALESCE(pace, '')"
#define STORE_TRIES 5        /* attempts to store refreshed credentials, 0.5 s apart more each time */

typedef struct rop_s rop_t;

typedef struct ap_refresher_s {
    ap_app_t *app;
    uint64_t ahead_ms;       /* JSMCP_OAUTH_REFRESH_AHEAD_MS */
    uint64_t interval_ms;    /* JSMCP_OAUTH_REFRESH_INTERVAL_MS */
    uint64_t retry_ms;       /* JSMCP_OAUTH_RETRY_MS */
    uv_timer_t timer;
    char channel[160];
    int subscribed;
    int scanning;
    int stopping;
    int timer_open;
    size_t nops;
    rop_t *ops;
    void (*done)(void *arg);
    void *done_arg;
} refresher_t;

/* The process's refresher (one per API process, like the other subsystems). */
static refresher_t *the_refresher;

struct rop_s {
    rop_t *next;
    refresher_t *rf;
    ap_app_t *app;
    char id[AP_UUID_LEN + 1];
    long long want;          /* -1 scheduled, 0 unknown version, else the version a worker saw */
    long long version;       /* the row's cred_version */
    long long row_version;   /* the row's version: what its acct: record carries (ap_publish.h) */
    int64_t read_ms;         /* when the row the record is built from was read */
    char nonce[SECRET_TOKEN_LEN + 1];
    char lock_key[160];
    int locked;
    char ws_id[AP_UUID_LEN + 1];
    char site_url[300];
    char status[16];
    char cloud_id[80];
    char pace[PACE_RULE_MAX_LEN + 1]; /* the account's own pacing rule, "" none */
    json_t *creds;           /* opened credentials (secret) */
    char *secret;            /* client secret */
    char *sealed;            /* new credentials for PostgreSQL */
    char *redis_val;         /* the acct:<id> value to publish */
    char *client_id;         /* the OAuth app's, read with the row */
    char *secret_sealed;     /* its sealed client secret */
    const char *outcome;
    char old_version[32];    /* compare-and-set parameters, kept for retries */
    char expires[32];
    int store_tries;
};

/* A pause before storing refreshed credentials again (its own handle, so
 * that closing it never delays freeing the refresh). */
typedef struct store_wait_s {
    uv_timer_t timer;
    rop_t *op;
} store_wait_t;

static void free_secret(char **s)
{
    if (*s) {
        secret_wipe(*s);
        free(*s);
        *s = NULL;
    }
}

/* ---- parsing ---- */

int ap_refresh_parse(const char *msg, size_t len, char *id_out, long long *version_out)
{
    char tmp[MSG_MAX];
    if (len < AP_UUID_LEN + 2 || len >= sizeof tmp || memchr(msg, 0, len))
        return -1;
    memcpy(tmp, msg, len);
    tmp[len] = 0;
    if (tmp[AP_UUID_LEN] != ' ')
        return -1;
    tmp[AP_UUID_LEN] = 0;
    if (!ap_is_uuid(tmp))
        return -1;
    const char *v = tmp + AP_UUID_LEN + 1;
    if (strlen(v) > 16 || strspn(v, "0123456789") != strlen(v))
        return -1;
    long long ver = strtoll(v, NULL, 10);
    if (ver > (1LL << 53))
        return -1;
    memcpy(id_out, tmp, AP_UUID_LEN + 1);
    *version_out = ver;
    return 0;
}

/* ---- ending ---- */

static void maybe_stopped(refresher_t *rf)
{
    if (!rf->stopping || rf->nops || rf->scanning || rf->timer_open)
        return;
    void (*done)(void *) = rf->done;
    void *arg = rf->done_arg;
    free(rf);
    the_refresher = NULL;
    done(arg);
}

static void count(ap_app_t *app, const char *outcome)
{
    char l[64];
    snprintf(l, sizeof l, "outcome=\"%s\"", outcome);
    metrics_inc(app->metrics, "jsmcp_api_oauth_refresh_total", l, 1);
}

static const char UNLOCK_LUA[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

static void rop_end(rop_t *op, const char *outcome)
{
    refresher_t *rf = op->rf;
    if (op->locked) {
        const char *argv[5] = {"EVAL", UNLOCK_LUA, "1", op->lock_key, op->nonce};
        size_t avl[5];
        for (int i = 0; i < 5; i++)
            avl[i] = strlen(argv[i]);
        /* Fire and forget: the lock expires by itself if this is lost. */
        rcli_command_argv(op->app->redis, NULL, NULL, 5, argv, avl);
    }
    count(op->app, outcome);
    LOG_DEBUG("oauth", "refresh request done", "account", op->id, "outcome", outcome, NULL);
    for (rop_t **pp = &rf->ops; *pp; pp = &(*pp)->next)
        if (*pp == op) {
            *pp = op->next;
            break;
        }
    rf->nops--;
    ap_oauth_free_json(op->creds);
    free_secret(&op->secret);
    free_secret(&op->sealed);
    free_secret(&op->redis_val);
    free(op->client_id);
    free_secret(&op->secret_sealed);
    sodium_memzero(op->nonce, sizeof op->nonce);
    free(op);
    maybe_stopped(rf);
}

static void on_ignored(PGresult *res, const char *err, void *ud)
{
    (void)res;
    (void)err;
    (void)ud;
}

/* A bookkeeping UPDATE of the account with one more parameter, whose
 * outcome changes nothing (the next scan sees the row either way). */
static void update_quietly(rop_t *op, const char *sql, const char *value)
{
    const char *p[2] = {op->id, value};
    pgpool_query(op->app->db, sql, 2, p, on_ignored, NULL);
}

/* Holds the account back after a failure, for every replica. */
static void hold_back(rop_t *op)
{
    char ms[32];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)op->rf->retry_ms);
    update_quietly(op,
                   "UPDATE integrated_accounts SET refresh_retry_at = now() + $2::bigint * interval '1 millisecond'"
                   " WHERE id = $1",
                   ms);
}

/* ---- publishing ---- */

static void on_published(long written, const char *err, void *ud)
{
    rop_t *op = ud;
    if (written < 0) {
        /* PostgreSQL has the new credentials (and the outbox row):
         * reconcile publishes them. */
        LOG_ERROR("oauth", "refreshed credentials committed but not published to Redis", "account", op->id, "err",
                  err ? err : "", NULL);
        rop_end(op, "publish_failed");
        return;
    }
    char ch[160], msg[MSG_MAX];
    rcli_key(op->app->redis, ch, sizeof ch, "refreshed");
    snprintf(msg, sizeof msg, "%s %lld %s", op->id, op->version, op->status);
    rcli_command(op->app->redis, NULL, NULL, "PUBLISH %s %s", ch, msg);
    rop_end(op, op->outcome);
}

static void publish_now(void *ud);

/* Publishes acct:<id> built from op's state, which is the row at
 * op->row_version (read, or returned by the UPDATE): a record of an older
 * version than Redis holds is refused by the script. Ends with outcome. */
static void publish(rop_t *op, const char *outcome)
{
    op->outcome = outcome;
    if (!th_wait(op->app->loop, "refresh_publish", publish_now, op))
        publish_now(op);
}

static void publish_now(void *ud)
{
    rop_t *op = ud;
    char suffix[64];
    json_object_set_new(op->creds, "cred_version", json_integer(op->version));
    free_secret(&op->redis_val);
    op->redis_val = ap_oauth_record(op->app, op->id, op->row_version, op->site_url, op->status, op->cloud_id, op->pace,
                                    op->creds);
    if (!op->redis_val) {
        rop_end(op, "seal_failed");
        return;
    }
    ap_pub_t *p = ap_pub_new(rcli_prefix(op->app->redis), op->read_ms);
    snprintf(suffix, sizeof suffix, "acct:%s", op->id);
    ap_pub_record(p, suffix, op->redis_val, 0);
    if (ap_pub_send(p, op->app->redis, on_published, op) != 0)
        on_published(-1, "redis unavailable", op);
}

/* ---- the compare-and-set ---- */

static void store_later(rop_t *op);

static void on_updated(PGresult *res, const char *err, void *ud)
{
    rop_t *op = ud;
    int reauth = strcmp(op->status, "needs_reauth") == 0;
    if (!ap_res_ok(res)) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        int outage = !res || (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0));
        /* The new refresh token exists only here now: an outage is worth
         * waiting out (the lock still holds off other replicas). */
        if (!reauth && outage && op->store_tries < STORE_TRIES) {
            store_later(op);
            return;
        }
        LOG_ERROR("oauth", reauth ? "could not record needs_reauth" : "refreshed credentials could not be stored",
                  "account", op->id, "err", res ? PQresultErrorMessage(res) : err, NULL);
        rop_end(op, "db_error");
        return;
    }
    if (PQntuples(res) != 1) {
        /* Someone changed the credentials meanwhile (a reconnect or PATCH):
         * theirs are the newer ones. */
        LOG_WARN("oauth", "credentials changed during the refresh; keeping the newer ones", "account", op->id, NULL);
        rop_end(op, "conflict");
        return;
    }
    /* The row as this UPDATE left it: a PATCH since our read (site, pace)
     * is in it, so the record published now carries it. */
    op->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    op->row_version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    snprintf(op->site_url, sizeof op->site_url, "%s", PQgetvalue(res, 0, 2));
    snprintf(op->status, sizeof op->status, "%s", PQgetvalue(res, 0, 3));
    snprintf(op->cloud_id, sizeof op->cloud_id, "%s", PQgetvalue(res, 0, 4));
    str_copy(op->pace, sizeof op->pace, PQgetvalue(res, 0, 5));
    if (reauth) {
        LOG_WARN("oauth", "the refresh token was refused: the customer must reconnect", "account", op->id, NULL);
        publish(op, "needs_reauth");
        return;
    }
    char v[32];
    snprintf(v, sizeof v, "%lld", op->version);
    LOG_INFO("oauth", "access token refreshed", "account", op->id, "cred_version", v, NULL);
    publish(op, "refreshed");
}

/* The compare-and-set of refreshed credentials. status = 'active': the
 * provider just gave new tokens for the credentials this refresh read, so
 * the account works, whatever another refresh of the same credentials
 * recorded meanwhile. That one can have used the refresh token this one
 * rotated (after our lock expired while our store waited out a database
 * stall) and got invalid_grant: its needs_reauth, at the same cred_version,
 * would otherwise stay on an account whose stored tokens are good, and
 * nothing refreshes an account that is not active (found by an adversarial
 * run). */
static void store(rop_t *op)
{
    op->store_tries++;
    op->read_ms = clock_now_ms();
    const char *p[5] = {op->id, op->sealed, secret_keyring_active_kid(op->app->keys), op->old_version, op->expires};
    if (pgpool_query(op->app->db,
                     "UPDATE integrated_accounts SET credentials_sealed = $2, key_id = $3, status = 'active',"
                     " cred_version = cred_version + 1, access_expires_at = to_timestamp($5::bigint / 1000.0),"
                     " refresh_retry_at = NULL, updated_at = now()"
                     " WHERE id = $1 AND cred_version = $4::bigint RETURNING " RETURN_ROW,
                     5, p, on_updated, op) != 0)
        on_updated(NULL, "database unavailable", op);
}

static void on_store_wait_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_store_wait(uv_timer_t *t)
{
    store_wait_t *w = t->data;
    rop_t *op = w->op;
    uv_close((uv_handle_t *)&w->timer, on_store_wait_closed);
    store(op);
}

static void store_later(rop_t *op)
{
    char n[16];
    snprintf(n, sizeof n, "%d", op->store_tries);
    LOG_WARN("oauth", "database unavailable while storing refreshed credentials; retrying", "account", op->id,
             "attempt", n, NULL);
    store_wait_t *w = mem_calloc(1, sizeof *w);
    w->op = op;
    uv_timer_init(op->app->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_store_wait, 500 * (uint64_t)op->store_tries, 0);
}

static void on_token(const ap_token_res_t *res, void *ud)
{
    rop_t *op = ud;
    snprintf(op->old_version, sizeof op->old_version, "%lld", op->version);
    if (ap_oauth_token_ok(res)) {
        json_t *creds = ap_oauth_creds(res->json, op->creds, op->cloud_id, op->version + 1);
        snprintf(op->expires, sizeof op->expires, "%lld",
                 (long long)json_integer_value(json_object_get(creds, "expires_at_ms")));
        ap_oauth_free_json(op->creds);
        op->creds = creds;
        op->sealed = ap_oauth_seal_creds(op->app, op->id, creds);
        if (!op->sealed) {
            rop_end(op, "seal_failed");
            return;
        }
        store(op);
        return;
    }
    if (res->status >= 400 && res->status < 500 && res->error && strcmp(res->error, "invalid_grant") == 0) {
        snprintf(op->status, sizeof op->status, "needs_reauth");
        const char *p[2] = {op->id, op->old_version};
        op->read_ms = clock_now_ms();
        if (pgpool_query(op->app->db,
                         "UPDATE integrated_accounts SET status = 'needs_reauth', updated_at = now()"
                         " WHERE id = $1 AND cred_version = $2::bigint RETURNING " RETURN_ROW,
                         2, p, on_updated, op) != 0)
            rop_end(op, "db_error");
        return;
    }
    char st[16];
    snprintf(st, sizeof st, "%d", res->status);
    LOG_WARN("oauth", "refresh failed; will retry", "account", op->id, "status", st, "error",
             res->error ? res->error : (res->err ? res->err : "unexpected answer"), NULL);
    hold_back(op);
    rop_end(op, "failed");
}

static void refresh(rop_t *op, const char *client_id, const char *sealed_secret)
{
    const char *rt = jsontext_str(op->creds, "refresh_token");
    if (strcmp(op->status, "active") != 0) {
        rop_end(op, "inactive");
        return;
    }
    if (!client_id) {
        LOG_WARN("oauth", "cannot refresh: the workspace has no OAuth app", "account", op->id, NULL);
        hold_back(op);
        rop_end(op, "no_app");
        return;
    }
    op->secret = ap_oauth_open_secret(op->app, op->ws_id, sealed_secret);
    if (!op->secret || !rt) {
        LOG_ERROR("oauth", "cannot refresh: client secret unreadable or no refresh token", "account", op->id, NULL);
        hold_back(op);
        rop_end(op, "unreadable");
        return;
    }
    json_t *body = json_pack("{ssssssss}", "grant_type", "refresh_token", "client_id", client_id, "client_secret",
                             op->secret, "refresh_token", rt);
    int rc = ap_oauth_token(op->app, body, on_token, op);
    ap_oauth_free_json(body);
    if (rc != 0) {
        /* Not sent at all (the HTTP client's limit of requests in flight,
         * or closing): said, since the account's token keeps ageing. */
        LOG_WARN("oauth", "refresh request could not be sent; retried later", "account", op->id, NULL);
        hold_back(op);
        rop_end(op, "failed");
    }
}

static void refresh_now(void *ud)
{
    rop_t *op = ud;
    refresh(op, op->client_id, op->secret_sealed);
}

/* ---- reading the row ---- */

/* Makes access_expires_at match the sealed expiry, so the scan stops
 * picking the account: it is NULL or old when the credentials were set
 * through POST/PATCH /integrated-account instead of the connect flow. */
static void sync_expiry(rop_t *op, long long exp)
{
    char e[32];
    snprintf(e, sizeof e, "%lld", exp);
    update_quietly(op,
                   "UPDATE integrated_accounts SET access_expires_at = to_timestamp($2::bigint / 1000.0)"
                   " WHERE id = $1 AND access_expires_at IS DISTINCT FROM to_timestamp($2::bigint / 1000.0)",
                   e);
}

static void on_loaded(PGresult *res, const char *err, void *ud)
{
    rop_t *op = ud;
    if (!ap_res_ok(res)) {
        rop_end(op, "db_error");
        return;
    }
    if (PQntuples(res) != 1) {
        rop_end(op, "gone");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 2), "oauth2") != 0) {
        rop_end(op, "not_oauth");
        return;
    }
    snprintf(op->ws_id, sizeof op->ws_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(op->site_url, sizeof op->site_url, "%s", PQgetvalue(res, 0, 1));
    snprintf(op->status, sizeof op->status, "%s", PQgetvalue(res, 0, 3));
    snprintf(op->cloud_id, sizeof op->cloud_id, "%s", PQgetvalue(res, 0, 4));
    str_copy(op->pace, sizeof op->pace, PQgetvalue(res, 0, 9));
    op->version = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    op->row_version = strtoll(PQgetvalue(res, 0, 10), NULL, 10);
    op->creds = ap_oauth_open_creds(op->app, op->id, PQgetvalue(res, 0, 5));
    if (!op->creds) {
        LOG_ERROR("oauth", "cannot open account credentials (unknown master key?)", "account", op->id, NULL);
        rop_end(op, "unreadable");
        return;
    }
    const char *client_id = PQgetisnull(res, 0, 7) ? NULL : PQgetvalue(res, 0, 7);
    const char *secret = PQgetisnull(res, 0, 8) ? NULL : PQgetvalue(res, 0, 8);
    long long sealed_version = jsontext_int(op->creds, "cred_version", 0);
    if (op->want > 0) {
        if (op->want != op->version) {
            publish(op, "stale"); /* the reporter's copy is old: make sure Redis has the current one */
            return;
        }
    } else if (op->want == 0) {
        /* The reporter did not know the version: a version in the sealed
         * credentials means a refresher wrote them, so they are current. */
        if (sealed_version != 0) {
            publish(op, "stale");
            return;
        }
    } else {
        long long exp = jsontext_int(op->creds, "expires_at_ms", 0);
        if (exp - clock_now_ms() > (long long)op->rf->ahead_ms) {
            sync_expiry(op, exp);
            rop_end(op, "not_due");
            return;
        }
    }
    op->client_id = client_id ? mem_strdup(client_id) : NULL;
    op->secret_sealed = secret ? mem_strdup(secret) : NULL;
    if (!th_wait(op->app->loop, "refresh_read", refresh_now, op))
        refresh_now(op);
}

static void on_lock(redisReply *reply, const char *err, void *ud)
{
    rop_t *op = ud;
    (void)err;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        rop_end(op, "redis_error");
        return;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        rop_end(op, "locked_elsewhere");
        return;
    }
    op->locked = 1;
    op->read_ms = clock_now_ms();
    const char *p[1] = {op->id};
    if (pgpool_query(op->app->db,
                     "SELECT a.workspace_id, a.site_url, a.auth_type, a.status, COALESCE(a.cloud_id, ''),"
                     " a.credentials_sealed, a.cred_version,"
                     " o.client_id, o.client_secret_sealed, COALESCE(a.pace, ''), a.version"
                     " FROM integrated_accounts a LEFT JOIN oauth_apps o ON o.workspace_id = a.workspace_id"
                     " WHERE a.id = $1",
                     1, p, on_loaded, op) != 0)
        rop_end(op, "db_down");
}

/* Starts a refresh of id unless this process already runs one. */
static void request(refresher_t *rf, const char *id, long long want)
{
    ap_app_t *app = rf->app;
    if (rf->stopping)
        return;
    for (rop_t *o = rf->ops; o; o = o->next)
        if (strcmp(o->id, id) == 0) {
            count(app, "coalesced");
            return;
        }
    if (rf->nops >= MAX_OPS) {
        count(app, "busy");
        return;
    }
    rop_t *op = mem_calloc(1, sizeof *op);
    op->rf = rf;
    op->app = app;
    op->want = want;
    snprintf(op->id, sizeof op->id, "%s", id);
    op->next = rf->ops;
    rf->ops = op;
    rf->nops++;
    secret_token(op->nonce);
    rcli_key(app->redis, op->lock_key, sizeof op->lock_key, "lock:refresh:%s", id);
    const char *argv[6] = {"SET", op->lock_key, op->nonce, "NX", "PX", LOCK_PX};
    size_t avl[6];
    for (int i = 0; i < 6; i++)
        avl[i] = strlen(argv[i]);
    if (rcli_command_argv(app->redis, on_lock, op, 6, argv, avl) != 0)
        rop_end(op, "redis_down");
}

/* ---- triggers: the channel and the scan ---- */

static void on_message(const char *channel, const char *msg, size_t len, void *ud)
{
    refresher_t *rf = ud;
    char id[AP_UUID_LEN + 1];
    long long version;
    (void)channel;
    if (ap_refresh_parse(msg, len, id, &version) != 0) {
        count(rf->app, "bad_message");
        return;
    }
    request(rf, id, version);
}

static void on_scan(PGresult *res, const char *err, void *ud)
{
    refresher_t *rf = ud;
    (void)err;
    rf->scanning = 0;
    if (ap_res_ok(res))
        for (int i = 0; i < PQntuples(res); i++)
            request(rf, PQgetvalue(res, i, 0), -1);
    maybe_stopped(rf);
}

static void on_tick(uv_timer_t *t)
{
    refresher_t *rf = t->data;
    ap_app_t *app = rf->app;
    char ahead[32];
    if (rf->scanning || rf->stopping || !pgpool_ready(app->db) || !rcli_ready(app->redis))
        return;
    snprintf(ahead, sizeof ahead, "%llu", (unsigned long long)rf->ahead_ms);
    const char *p[1] = {ahead};
    rf->scanning = 1;
    if (pgpool_query(app->db,
                     "SELECT id FROM integrated_accounts WHERE auth_type = 'oauth2' AND status = 'active'"
                     " AND (access_expires_at IS NULL"
                     "      OR access_expires_at < now() + $1::bigint * interval '1 millisecond')"
                     " AND (refresh_retry_at IS NULL OR refresh_retry_at <= now())"
                     " ORDER BY access_expires_at NULLS FIRST LIMIT " SCAN_BATCH,
                     1, p, on_scan, rf) != 0)
        rf->scanning = 0;
}

int ap_refresh_start(ap_app_t *app)
{
    cfg_err_t ce = {0};
    refresher_t *rf = mem_calloc(1, sizeof *rf);
    rf->app = app;
    the_refresher = rf;
    rf->ahead_ms = cfg_ms("JSMCP_OAUTH_REFRESH_AHEAD_MS", 300000, 0, 86400000, &ce);
    rf->interval_ms = cfg_ms("JSMCP_OAUTH_REFRESH_INTERVAL_MS", 15000, 50, 3600000, &ce);
    rf->retry_ms = cfg_ms("JSMCP_OAUTH_RETRY_MS", 60000, 100, 86400000, &ce);
    if (ce.n) {
        fprintf(stderr, "jsmcp-api: configuration: %s (%d error%s)\n", ce.msg, ce.n, ce.n > 1 ? "s" : "");
        return -1;
    }
    metrics_describe(app->metrics, "jsmcp_api_oauth_refresh_total", "counter",
                     "OAuth refresh requests (scheduled and from workers) by outcome");
    rcli_key(app->redis, rf->channel, sizeof rf->channel, "refresh");
    if (rcli_subscribe(app->redis, rf->channel, on_message, rf) != 0) {
        fprintf(stderr, "jsmcp-api: cannot subscribe to %s\n", rf->channel);
        return -1;
    }
    rf->subscribed = 1;
    uv_timer_init(app->loop, &rf->timer);
    rf->timer.data = rf;
    rf->timer_open = 1;
    uv_timer_start(&rf->timer, on_tick, rf->interval_ms, rf->interval_ms);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    refresher_t *rf = h->data;
    rf->timer_open = 0;
    maybe_stopped(rf);
}

void ap_refresh_stop(ap_app_t *app, void (*done)(void *arg), void *arg)
{
    refresher_t *rf = the_refresher;
    rf->stopping = 1;
    rf->done = done;
    rf->done_arg = arg;
    if (rf->subscribed)
        rcli_unsubscribe(app->redis, rf->channel);
    rf->subscribed = 0;
    uv_timer_stop(&rf->timer);
    uv_close((uv_handle_t *)&rf->timer, on_timer_closed);
}
