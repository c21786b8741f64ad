/* tc: see tc.h. */
#include "tc.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "secret.h"

#define TC_MAX_REPORT 40 /* violations described; more are counted */

typedef struct tc_s {
    buf_t out;
    int n;
    PGconn *db;
    redisContext *redis;
    secret_keyring_t *keys;
    const char *prefix;
    char **known; /* full keys some row accounts for */
    size_t nknown, capknown;
} tc_t;

__attribute__((format(printf, 2, 3))) static void fail(tc_t *c, const char *fmt, ...)
{
    if (c->n++ >= TC_MAX_REPORT)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_printf(&c->out, "%s\n", line);
}

int tc_live(const char *v)
{
    if (!v)
        return 0;
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    int dead = json_is_object(j) && json_is_true(json_object_get(j, "tombstone"));
    json_decref(j);
    return !dead;
}

int tc_accepts(const char *v, long long now_ms)
{
    if (!tc_live(v))
        return 0;
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    json_t *exp = json_object_get(j, "expires_at_ms");
    int ok = !json_is_integer(exp) || json_integer_value(exp) > now_ms;
    json_decref(j);
    return ok;
}

long long tc_tombstone_ttl_ms(void)
{
    const char *v = getenv("JSMCP_TOMBSTONE_TTL_MS");
    return v && *v ? atoll(v) : 3600000;
}

char *tc_sealed(char *v)
{
    if (!v)
        return NULL;
    if (v[0] != '{')
        return v; /* the bare sealed string of older builds */
    json_t *j = json_loads(v, 0, NULL);
    free(v);
    const char *s = json_string_value(json_object_get(j, "sealed"));
    char *out = s && !json_is_true(json_object_get(j, "tombstone")) ? strdup(s) : NULL;
    json_decref(j);
    return out;
}

/* GET of a full key; caller frees; NULL when absent. */
static char *rget(tc_t *c, const char *key, long long *pexpiretime)
{
    redisReply *r = redisCommand(c->redis, "GET %s", key);
    char *out = r && r->type == REDIS_REPLY_STRING ? strndup(r->str, r->len) : NULL;
    freeReplyObject(r);
    if (pexpiretime) {
        r = redisCommand(c->redis, "PEXPIRETIME %s", key);
        *pexpiretime = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
        freeReplyObject(r);
    }
    return out;
}

static void known_add(tc_t *c, const char *key)
{
    if (c->nknown == c->capknown) {
        c->capknown = c->capknown ? c->capknown * 2 : 256;
        c->known = realloc(c->known, c->capknown * sizeof *c->known);
    }
    c->known[c->nknown++] = strdup(key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long long col_ll(PGresult *res, int row, int col, long long dflt)
{
    return PQgetisnull(res, row, col) ? dflt : atoll(PQgetvalue(res, row, col));
}

/* One srv: record against its row (res row i). exp_col: the expiry this
 * token must carry. */
static void check_srv(tc_t *c, PGresult *res, int i, const char *hash, int exp_col, const char *which)
{
    char key[256];
    long long pxt = 0;
    const char *id = PQgetvalue(res, i, 0);
    snprintf(key, sizeof key, "%ssrv:%s", c->prefix, hash);
    char *v = rget(c, key, &pxt);
    if (!v) {
        fail(c, "server %s: no record for its %s token (%s)", id, which, key);
        return;
    }
    json_t *rec = json_loads(v, 0, NULL);
    if (!json_is_object(rec) || json_is_true(json_object_get(rec, "tombstone"))) {
        fail(c, "server %s: the %s token's record is %s: %s", id, which, rec ? "a tombstone" : "not JSON", v);
        json_decref(rec);
        free(v);
        return;
    }
    json_t *cfg = json_loads(PQgetvalue(res, i, 4), 0, NULL);
    long long want_exp = col_ll(res, i, exp_col, -1);
    json_t *rexp = json_object_get(rec, "expires_at_ms");
    long long got_exp = json_is_integer(rexp) ? json_integer_value(rexp) : -1;
    const char *ws = json_string_value(json_object_get(rec, "workspace_id"));
    const char *acct = json_string_value(json_object_get(rec, "account_id"));
    const char *rid = json_string_value(json_object_get(rec, "id"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    int auth = json_is_true(json_object_get(rec, "require_api_token_auth"));
    int want_auth = strcmp(PQgetvalue(res, i, 5), "t") == 0;
    if (!rid || strcmp(rid, id) != 0)
        fail(c, "server %s: %s token's record has id %s", id, which, rid ? rid : "(none)");
    if (!ws || strcmp(ws, PQgetvalue(res, i, 1)) != 0)
        fail(c, "server %s: %s token's record has workspace %s, row %s", id, which, ws ? ws : "(none)",
             PQgetvalue(res, i, 1));
    if (!acct || strcmp(acct, PQgetvalue(res, i, 2)) != 0)
        fail(c, "server %s: %s token's record has account %s, row %s", id, which, acct ? acct : "(none)",
             PQgetvalue(res, i, 2));
    if (!name || strcmp(name, PQgetvalue(res, i, 3)) != 0)
        fail(c, "server %s: %s token's record has name %s, row %s", id, which, name ? name : "(none)",
             PQgetvalue(res, i, 3));
    if (!json_equal(cfg, json_object_get(rec, "config")))
        fail(c, "server %s: %s token's record has another config than the row (%s): %s", id, which,
             PQgetvalue(res, i, 4), v);
    if (auth != want_auth)
        fail(c, "server %s: %s token's record has require_api_token_auth %d, row %d", id, which, auth, want_auth);
    if (got_exp != want_exp)
        fail(c, "server %s: %s token's record has expires_at_ms %lld, row %lld", id, which, got_exp, want_exp);
    /* A tombstone TTL past the expiry: the key keeps its version that long
     * (ap_publish.c); workers refuse it by expires_at_ms meanwhile. */
    long long want_pxt = want_exp < 0 ? -1 : want_exp + tc_tombstone_ttl_ms();
    if (pxt != want_pxt)
        fail(c, "server %s: %s token's key expires at %lld, want %lld (the row's expiry %lld + the tombstone TTL)",
             id, which, pxt, want_pxt, want_exp);
    if (!PQgetisnull(res, i, 10)) {
        json_t *ver = json_object_get(rec, "version");
        if (!json_is_integer(ver) || json_integer_value(ver) != col_ll(res, i, 10, -1))
            fail(c, "server %s: %s token's record has version %lld, row %s", id, which,
                 json_is_integer(ver) ? (long long)json_integer_value(ver) : -1LL, PQgetvalue(res, i, 10));
    }
    json_decref(cfg);
    json_decref(rec);
    free(v);
}

/* A token of a row past its expiry (the server's, or the end of its
 * overlap): no worker may accept its record, whatever holds the key (a
 * tombstone, nothing, or the last record with its expires_at_ms). */
static void check_refused(tc_t *c, const char *id, const char *hash, const char *which)
{
    char key[256];
    snprintf(key, sizeof key, "%ssrv:%s", c->prefix, hash);
    char *v = rget(c, key, NULL);
    if (tc_accepts(v, clock_now_ms()))
        fail(c, "server %s: its %s token is past its expiry, but its record is one a worker accepts: %.300s", id,
             which, v);
    free(v);
}

static void check_servers(tc_t *c)
{
    PGresult *res = PQexec(c->db,
                           "SELECT id, workspace_id, account_id, name, config::text, require_api_token_auth,"
                           " token_hash, (extract(epoch FROM expires_at) * 1000)::bigint,"
                           " prev_token_hash, (extract(epoch FROM LEAST(expires_at, prev_token_expires_at)) * 1000)::bigint,"
                           " to_jsonb(m)->>'version',"
                           " expires_at IS NULL OR expires_at > now() + interval '2 seconds',"
                           " prev_token_hash IS NOT NULL AND prev_token_expires_at > now() + interval '2 seconds'"
                           "  AND (expires_at IS NULL OR expires_at > now() + interval '2 seconds'),"
                           " expires_at <= now() - interval '2 seconds',"
                           " prev_token_hash IS NOT NULL AND (prev_token_expires_at <= now() - interval '2 seconds'"
                           "  OR expires_at <= now() - interval '2 seconds')"
                           " FROM mcp_servers m");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(c, "cannot read mcp_servers: %s", PQerrorMessage(c->db));
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char key[256];
        snprintf(key, sizeof key, "%ssrv:%s", c->prefix, PQgetvalue(res, i, 6));
        known_add(c, key);
        if (!PQgetisnull(res, i, 8)) {
            snprintf(key, sizeof key, "%ssrv:%s", c->prefix, PQgetvalue(res, i, 8));
            known_add(c, key);
        }
        /* Rows within a moment of their expiry are left to the expiry itself. */
        if (strcmp(PQgetvalue(res, i, 11), "t") == 0)
            check_srv(c, res, i, PQgetvalue(res, i, 6), 7, "current");
        if (strcmp(PQgetvalue(res, i, 12), "t") == 0)
            check_srv(c, res, i, PQgetvalue(res, i, 8), 9, "previous");
        if (strcmp(PQgetvalue(res, i, 13), "t") == 0)
            check_refused(c, PQgetvalue(res, i, 0), PQgetvalue(res, i, 6), "current");
        if (strcmp(PQgetvalue(res, i, 14), "t") == 0)
            check_refused(c, PQgetvalue(res, i, 0), PQgetvalue(res, i, 8), "previous");
    }
    PQclear(res);
}

static int str_member_eq(const json_t *o, const char *member, const char *want)
{
    const char *got = json_string_value(json_object_get(o, member));
    if (!want || !*want)
        return !got || !*got;
    return got && strcmp(got, want) == 0;
}

static void check_accounts(tc_t *c)
{
    PGresult *res = PQexec(c->db, "SELECT id, site_url, auth_type, status, COALESCE(cloud_id, ''), COALESCE(pace, ''),"
                                  " to_jsonb(a)->>'version' FROM integrated_accounts a");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(c, "cannot read integrated_accounts: %s", PQerrorMessage(c->db));
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        char key[256], ad[64];
        snprintf(key, sizeof key, "%sacct:%s", c->prefix, id);
        known_add(c, key);
        char *v = rget(c, key, NULL);
        if (!v) {
            fail(c, "account %s: no acct: record", id);
            continue;
        }
        json_t *wrap = v[0] == '{' ? json_loads(v, 0, NULL) : NULL;
        if (wrap && !PQgetisnull(res, i, 6)) {
            json_t *ver = json_object_get(wrap, "version");
            if (!json_is_integer(ver) || json_integer_value(ver) != col_ll(res, i, 6, -1))
                fail(c, "account %s: record has version %lld, row %s", id,
                     json_is_integer(ver) ? (long long)json_integer_value(ver) : -1LL, PQgetvalue(res, i, 6));
        } else if (!PQgetisnull(res, i, 6)) {
            fail(c, "account %s: record without a version", id);
        }
        json_decref(wrap);
        char *sealed = tc_sealed(v);
        if (!sealed) {
            fail(c, "account %s: acct: record is a tombstone", id);
            continue;
        }
        size_t n;
        snprintf(ad, sizeof ad, "acct:%s", id);
        char *pt = secret_open(c->keys, ad, sealed, &n, NULL, 0);
        free(sealed);
        json_t *o = pt ? json_loadb(pt, n, 0, NULL) : NULL;
        free(pt);
        if (!o) {
            fail(c, "account %s: acct: record does not open with the master keys", id);
            continue;
        }
        static const char *const members[] = {"site_url", "auth_type", "status", "cloud_id", "pace"};
        for (int m = 0; m < 5; m++)
            if (!str_member_eq(o, members[m], PQgetvalue(res, i, m + 1)))
                fail(c, "account %s: record has %s '%s', row '%s'", id, members[m],
                     json_string_value(json_object_get(o, members[m])) ? json_string_value(json_object_get(o, members[m]))
                                                                       : "(none)",
                     PQgetvalue(res, i, m + 1));
        json_decref(o);
    }
    PQclear(res);
}

static void check_api_keys(tc_t *c)
{
    PGresult *res = PQexec(c->db, "SELECT key_hash, workspace_id, to_jsonb(k)->>'version',"
                                  " (extract(epoch FROM expires_at) * 1000)::bigint,"
                                  " expires_at IS NULL OR expires_at > now() + interval '2 seconds',"
                                  " expires_at <= now() - interval '2 seconds' FROM api_keys k");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(c, "cannot read api_keys: %s", PQerrorMessage(c->db));
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res) && !PQgetisnull(res, i, 2); i++) { /* the format before wskey: has none */
        char key[256];
        long long pxt = 0;
        snprintf(key, sizeof key, "%swskey:%s", c->prefix, PQgetvalue(res, i, 0));
        known_add(c, key);
        char *v = rget(c, key, &pxt);
        if (strcmp(PQgetvalue(res, i, 5), "t") == 0) { /* expired: refused by workers, whatever holds the key */
            if (tc_accepts(v, clock_now_ms()))
                fail(c, "API key %.12s...: expired, but its record is one a worker accepts: %s", PQgetvalue(res, i, 0),
                     v);
            free(v);
            continue;
        }
        if (strcmp(PQgetvalue(res, i, 4), "t") != 0) { /* within a moment of its expiry: left to it */
            free(v);
            continue;
        }
        json_t *rec = v ? json_loads(v, 0, NULL) : NULL;
        const char *ws = json_string_value(json_object_get(rec, "workspace_id"));
        json_t *rexp = json_object_get(rec, "expires_at_ms");
        long long want_exp = col_ll(res, i, 3, -1), got_exp = json_is_integer(rexp) ? json_integer_value(rexp) : -1;
        long long want_pxt = want_exp < 0 ? -1 : want_exp + tc_tombstone_ttl_ms();
        if (!tc_live(v) || !ws || strcmp(ws, PQgetvalue(res, i, 1)) != 0 ||
            json_integer_value(json_object_get(rec, "version")) != col_ll(res, i, 2, -1) || got_exp != want_exp ||
            pxt != want_pxt)
            fail(c, "API key %.12s...: record %s expiring at %lld, row workspace %s version %s expires_at_ms %lld",
                 PQgetvalue(res, i, 0), v ? v : "(none)", pxt, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), want_exp);
        json_decref(rec);
        free(v);
    }
    PQclear(res);
}

/* Every srv:/acct:/wskey: key no row accounts for must be a tombstone. */
static void check_orphans(tc_t *c, const char *kind)
{
    char pattern[256], cursor[64] = "0";
    snprintf(pattern, sizeof pattern, "%s%s:*", c->prefix, kind);
    do {
        redisReply *r = redisCommand(c->redis, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fail(c, "SCAN failed");
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            char *k = r->element[1]->element[i]->str;
            if (c->nknown && bsearch(&k, c->known, c->nknown, sizeof *c->known, cmp_str))
                continue;
            char *v = rget(c, k, NULL);
            if (tc_live(v))
                fail(c, "%s has no row but holds a live record: %.300s", k, v);
            free(v);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

static redisContext *redis_connect(void)
{
    const char *url = getenv("JSMCP_TEST_REDIS_URL");
    char host[64] = "127.0.0.1";
    int port = 6379;
    if (!url || sscanf(url, "redis://%63[^:]:%d", host, &port) != 2)
        return NULL;
    return redisConnect(host, port);
}

char *tc_check_publication(const char *db_url, const char *redis_prefix, const char *master_keys)
{
    tc_t c;
    char err[256];
    memset(&c, 0, sizeof c);
    buf_init(&c.out, 1 << 20);
    c.prefix = redis_prefix;
    c.db = PQconnectdb(db_url);
    c.redis = redis_connect();
    c.keys = secret_keyring_parse(master_keys, err, sizeof err);
    if (PQstatus(c.db) != CONNECTION_OK || !c.redis || c.redis->err || !c.keys) {
        fail(&c, "checker cannot connect or parse the keys");
    } else {
        check_servers(&c);
        check_accounts(&c);
        check_api_keys(&c);
        if (c.nknown)
            qsort(c.known, c.nknown, sizeof *c.known, cmp_str);
        check_orphans(&c, "srv");
        check_orphans(&c, "acct");
        check_orphans(&c, "wskey");
    }
    if (c.n > TC_MAX_REPORT)
        buf_printf(&c.out, "... and %d more\n", c.n - TC_MAX_REPORT);
    for (size_t i = 0; i < c.nknown; i++)
        free(c.known[i]);
    free(c.known);
    PQfinish(c.db);
    if (c.redis)
        redisFree(c.redis);
    secret_keyring_free(c.keys);
    char *out = c.n ? strndup(c.out.data, c.out.len) : NULL;
    buf_free(&c.out);
    return out;
}
