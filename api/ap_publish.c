/* ap_publish: see ap_publish.h. */
#include "ap_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "jsontext.h"
#include "log.h"
#include "clock.h"

#define PUB_MAX_RECORDS 4096 /* per script call; larger batches are sent in several */

/* The reconcile marker (KEYS[1]): "<T> pending <run_id>" or "<T> done
 * <run_id>", T the time (Redis's, ms) Redis was found without its data, and
 * run_id that of the Redis process that holds it. This fragment (after
 * `now`) reads it into mt (T) and ms ("pending"/"done"). Anything else
 * counts as a loss found now, and the marker is set "<now> pending
 * <run_id>" (mt nil: created):
 *  - no marker: flushed, restarted empty, failed over to an empty replica,
 *    or new;
 *  - another run_id: a restart from a snapshot or AOF, or a failover to a
 *    replica: either may lack the last writes (a deleted server's record
 *    back from an RDB, a tombstone a lagging replica never got), and only a
 *    full pass finds those (found by an adversarial run);
 *  - a value of another type or format (a key written by hand), or a T in
 *    the future (Redis's clock went back): kept, it would refuse every
 *    write, or never be done.
 * Every replica runs a full pass while it is pending, and the first that
 * completes, having started after T, marks it done (ap_reconcile.c). */
#define AP_PUB_MARKER_LUA                                                                          \
    "local rid = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''\n"               \
    "local mv = redis.pcall('GET', KEYS[1])\n"                                                     \
    "local mt, ms, mr\n"                                                                           \
    "if type(mv) == 'string' then mt, ms, mr = string.match(mv, '^(%d+) (%l+) (%x*)$') end\n"      \
    "mt = tonumber(mt)\n"                                                                          \
    "if not mt or (ms ~= 'pending' and ms ~= 'done') or mr ~= rid or mt > now then\n"             \
    "  mt = nil\n"                                                                                 \
    "  redis.call('SET', KEYS[1], string.format('%d pending %s', now, rid))\n"                     \
    "end\n"

/* The one script every writer goes through. KEYS[1]: the reconcile marker,
 * then the records. Redis losing its data also loses the versions and the
 * tombstones that keep a writer holding an older read from bringing back
 * what a newer write changed (a deleted server, a rotated-out URL): a
 * batch read before the marker's T, or finding no marker (created then,
 * pending), is refused (STALE), and what it carried stays in the outbox for
 * a later pass, whose read is newer (the full pass the marker starts
 * republishes everything anyway). Clocks: the writer's read time against
 * Redis's: a writer whose clock is behind has a fresh write refused for
 * that long after a loss (the outbox covers it). ARGV[1]:
 * when the writer read the rows (ms since the epoch, its clock); ARGV[2]:
 * the oldest read accepted (ms of age); ARGV[3]: the tombstone TTL (ms);
 * then per key a value and an expiry: "0" none, a time (ms since the epoch), "t" a
 * tombstone (the value's version), "k" a key no row accounts for (a
 * tombstone above whatever Redis holds), for KEYS[2..] in order. A record is written only when its
 * version is newer than the one at the start of what Redis holds (a value
 * without one counts as version 0: the format before versions; a missing
 * key as -1). A record whose expiry has passed becomes a tombstone.
 * A record with an expiry stays in Redis a tombstone TTL past it (workers
 * refuse it by its expires_at_ms from the expiry on): a key Redis dropped
 * at the expiry itself took its version along, and a writer still holding
 * an older read (a rotated-out token while it was current, the expiry
 * before a PATCH shortened it) found nothing to lose to and brought the
 * token back, without the expiry. Kept a TTL longer, the version outlives
 * every read the script accepts (half the TTL), as a tombstone's does.
 * Returns 1/0 per key: written or not. GETRANGE reads the version without
 * copying the whole value. */
static const char PUBLISH_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local read = tonumber(ARGV[1])\n"
    "local age = now - read\n"
    "if age > tonumber(ARGV[2]) then\n"
    "  return redis.error_reply('STALE the rows were read ' .. string.format('%d', age) .. ' ms ago by the clock "
    "of this host against the TIME of Redis (if nothing took that long, this host is that far behind Redis: check "
    "its clock)')\n"
    "end\n"
    AP_PUB_MARKER_LUA
    "if not mt then\n"
    "  return redis.error_reply('STALE Redis held no reconcile marker: it lost its data (or is new); a full pass "
    "republishes')\n"
    "end\n"
    "if read < mt then\n"
    "  return redis.error_reply('STALE the rows were read before Redis lost its data')\n"
    "end\n"
    "local out = {}\n"
    "for i = 2, #KEYS do\n"
    "  local key = KEYS[i]\n"
    "  local val, exp = ARGV[2 * i], ARGV[1 + 2 * i]\n"
    "  local cur = redis.pcall('GETRANGE', key, 0, 63)\n"
    "  if type(cur) == 'table' then\n" /* not a string (a hash written by hand): no record of ours */
    "    redis.call('DEL', key)\n"
    "    cur = ''\n"
    "  end\n"
    "  local cv = tonumber(string.match(cur, '^{%s*\"version\"%s*:%s*(%d+)')) or (cur == '' and -1 or 0)\n"
    "  local w = 0\n"
    "  if exp == 'k' then\n"
    "    if cur ~= '' and not string.find(cur, '\"tombstone\":true', 1, true) then\n"
    "      redis.call('SET', key, string.format('{\"version\":%d,\"tombstone\":true}', cv + 1), 'PX', ARGV[3])\n"
    "      w = 1\n"
    "    end\n"
    "  else\n"
    "    local vs = string.match(val, '^{%s*\"version\"%s*:%s*(%d+)')\n"
    "    if not vs then return redis.error_reply('ERR a record without a version for ' .. key) end\n"
    "    if tonumber(vs) > cv then\n"
    "      if exp == 't' or (exp ~= '0' and tonumber(exp) <= now) then\n"
    "        redis.call('SET', key, '{\"version\":' .. vs .. ',\"tombstone\":true}', 'PX', ARGV[3])\n"
    "      elseif exp ~= '0' then\n"
    "        redis.call('SET', key, val, 'PXAT', string.format('%.0f', tonumber(exp) + tonumber(ARGV[3])))\n"
    "      else\n"
    "        redis.call('SET', key, val)\n"
    "      end\n"
    "      w = 1\n"
    "    end\n"
    "  end\n"
    "  out[i - 1] = w\n"
    "end\n"
    "return out\n";

/* Reconcile's look at the marker: {T, 1 when done, 1 when it was missing
 * (created now, pending)}. */
static const char MARKER_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    AP_PUB_MARKER_LUA
    "if not mt then return {now, 0, 1} end\n"
    "return {mt, ms == 'done' and 1 or 0, 0}\n";

/* A full pass that started after the loss at T (ARGV[1]) completed: the
 * marker, if it is still that loss's, is done. */
static const char MARKER_DONE_LUA[] =
    "local rid = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''\n"
    "if redis.pcall('GET', KEYS[1]) == ARGV[1] .. ' pending ' .. rid then\n"
    "  redis.call('SET', KEYS[1], ARGV[1] .. ' done ' .. rid)\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* The versions Redis holds (reconcile's full pass compares them with the
 * rows' before reading any record). */
static const char VERSIONS_LUA[] =
    "local out = {}\n"
    "for i, key in ipairs(KEYS) do\n"
    "  local cur = redis.pcall('GETRANGE', key, 0, 63)\n"
    "  if type(cur) == 'table' then cur = '' end\n" /* another type: as missing, the publish script replaces it */
    "  out[i] = tonumber(string.match(cur, '^{%s*\"version\"%s*:%s*(%d+)')) or (cur == '' and -1 or 0)\n"
    "end\n"
    "return out\n";

int64_t ap_pub_tombstone_ttl_ms(void)
{
    static int64_t ttl = -1;
    if (ttl < 0) {
        cfg_err_t ce = {0};
        /* An hour by default: far longer than a reconcile chunk or a
         * request takes, short enough that deleted servers cost little. */
        ttl = (int64_t)cfg_ms("JSMCP_TOMBSTONE_TTL_MS", 3600000, 10000, 7 * 86400000ULL, &ce);
    }
    return ttl;
}

/* ---- batches ---- */

struct ap_pub_s {
    char prefix[128];
    char marker[160]; /* <prefix>reconcile:marker, KEYS[1] of the script */
    int64_t read_ms;
    size_t n, cap;
    char **keys;   /* full names */
    char **vals;
    char **exps;
};

ap_pub_t *ap_pub_new(const char *prefix, int64_t read_ms)
{
    ap_pub_t *p = mem_calloc(1, sizeof *p);
    str_copy(p->prefix, sizeof p->prefix, prefix);
    snprintf(p->marker, sizeof p->marker, "%s" AP_PUB_MARKER_KEY, prefix);
    p->read_ms = read_ms;
    return p;
}

void ap_pub_free(ap_pub_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->keys[i]);
        secret_wipe(p->vals[i]); /* acct: records hold sealed credentials */
        free(p->vals[i]);
        free(p->exps[i]);
    }
    free(p->keys);
    free(p->vals);
    free(p->exps);
    free(p);
}

size_t ap_pub_count(const ap_pub_t *p)
{
    return p->n;
}

/* A key may come twice in a batch (an account deleted with a server whose
 * row was also in the outbox): harmless, the script writes each version once. */
static void add(ap_pub_t *p, const char *suffix, const char *value, const char *exp)
{
    char key[512];
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->keys = mem_realloc(p->keys, p->cap * sizeof *p->keys);
        p->vals = mem_realloc(p->vals, p->cap * sizeof *p->vals);
        p->exps = mem_realloc(p->exps, p->cap * sizeof *p->exps);
    }
    snprintf(key, sizeof key, "%s%s", p->prefix, suffix);
    p->keys[p->n] = mem_strdup(key);
    p->vals[p->n] = mem_strdup(value);
    p->exps[p->n] = mem_strdup(exp);
    p->n++;
}

void ap_pub_record(ap_pub_t *p, const char *suffix, const char *value, int64_t exp_ms)
{
    char e[32];
    snprintf(e, sizeof e, "%lld", (long long)(exp_ms > 0 ? exp_ms : 0));
    add(p, suffix, value, e);
}

void ap_pub_tombstone(ap_pub_t *p, const char *suffix, long long version)
{
    char v[80];
    snprintf(v, sizeof v, "{\"version\":%lld,\"tombstone\":true}", version);
    add(p, suffix, v, "t");
}

void ap_pub_orphan(ap_pub_t *p, const char *suffix)
{
    add(p, suffix, "", "k");
}

static int64_t col_ms(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

void ap_pub_server(ap_pub_t *p, const PGresult *res, int row, int col, const char *const *dead, size_t ndead)
{
    char suffix[128];
    long long version = strtoll(PQgetvalue(res, row, col), NULL, 10);
    const char *cur = PQgetvalue(res, row, col + 1);
    const char *prev = PQgetisnull(res, row, col + 4) ? NULL : PQgetvalue(res, row, col + 4);
    snprintf(suffix, sizeof suffix, "srv:%s", cur);
    ap_pub_record(p, suffix, PQgetvalue(res, row, col + 2), col_ms(res, row, col + 3));
    if (prev) {
        snprintf(suffix, sizeof suffix, "srv:%s", prev);
        ap_pub_record(p, suffix, PQgetvalue(res, row, col + 5), col_ms(res, row, col + 6));
    }
    for (size_t i = 0; i < ndead; i++) {
        if (!dead[i] || !*dead[i] || strcmp(dead[i], cur) == 0 || (prev && strcmp(dead[i], prev) == 0))
            continue;
        snprintf(suffix, sizeof suffix, "srv:%s", dead[i]);
        ap_pub_tombstone(p, suffix, version);
    }
}

void ap_pub_server_gone(ap_pub_t *p, const char *const *hashes, size_t n, long long version)
{
    char suffix[128];
    for (size_t i = 0; i < n; i++) {
        if (!hashes[i] || !*hashes[i])
            continue;
        snprintf(suffix, sizeof suffix, "srv:%s", hashes[i]);
        ap_pub_tombstone(p, suffix, version);
    }
}

void ap_pub_wskey(ap_pub_t *p, const char *key_hash, const char *workspace_id, long long version, int64_t exp_ms)
{
    char suffix[128], v[200], e[24] = "null";
    snprintf(suffix, sizeof suffix, "wskey:%s", key_hash);
    if (exp_ms > 0)
        snprintf(e, sizeof e, "%lld", (long long)exp_ms);
    snprintf(v, sizeof v, "{\"version\":%lld,\"workspace_id\":\"%s\",\"expires_at_ms\":%s}", version, workspace_id,
             e);
    ap_pub_record(p, suffix, v, exp_ms);
}

static char *seal_account(secret_keyring_t *keys, const char *id, const char *site_url, const char *auth_type,
                          const char *status, const char *cloud_id, const char *pace, const json_t *creds)
{
    char ad[64];
    json_t *v = json_pack("{ssssss}", "site_url", site_url, "auth_type", auth_type, "status", status);
    if (cloud_id && *cloud_id)
        json_object_set_new(v, "cloud_id", json_string(cloud_id));
    if (pace && *pace)
        json_object_set_new(v, "pace", json_string(pace));
    json_object_update_missing(v, (json_t *)creds);
    /* Workers never refresh: the token that mints access tokens stays in
     * PostgreSQL, whoever publishes the account. */
    json_object_del(v, "refresh_token");
    char *pt = jsontext_dump(v);
    json_decref(v);
    if (!pt)
        return NULL;
    snprintf(ad, sizeof ad, "acct:%s", id);
    char *sealed = secret_seal(keys, ad, pt, strlen(pt));
    secret_wipe(pt);
    free(pt);
    return sealed;
}

char *ap_account_record(secret_keyring_t *keys, const char *id, long long version, const char *site_url,
                        const char *auth_type, const char *status, const char *cloud_id, const char *pace,
                        const json_t *creds)
{
    char *sealed = seal_account(keys, id, site_url, auth_type, status, cloud_id, pace, creds);
    if (!sealed)
        return NULL;
    buf_t b;
    buf_init(&b, strlen(sealed) + 64);
    /* The sealed text is base64url and dots: no JSON escaping needed. */
    buf_printf(&b, "{\"version\":%lld,\"sealed\":\"%s\"}", version, sealed);
    secret_wipe(sealed);
    free(sealed);
    return buf_steal(&b, NULL);
}

int ap_pub_account_row(ap_pub_t *p, secret_keyring_t *keys, const char *id, const PGresult *res, int row, int col)
{
    char ad[64], suffix[64];
    size_t n;
    snprintf(ad, sizeof ad, "acct:%s", id);
    char *pt = secret_open(keys, ad, PQgetvalue(res, row, col + 6), &n, NULL, 0);
    json_t *creds = pt ? json_loadb(pt, n, 0, NULL) : NULL;
    if (pt) {
        secret_wipe(pt);
        free(pt);
    }
    if (!creds) {
        LOG_ERROR("publish", "cannot open account credentials (unknown master key?)", "account", id, NULL);
        return -1;
    }
    char *rec = ap_account_record(keys, id, strtoll(PQgetvalue(res, row, col), NULL, 10), PQgetvalue(res, row, col + 1),
                                  PQgetvalue(res, row, col + 2), PQgetvalue(res, row, col + 3),
                                  PQgetisnull(res, row, col + 4) ? NULL : PQgetvalue(res, row, col + 4),
                                  PQgetisnull(res, row, col + 5) ? NULL : PQgetvalue(res, row, col + 5), creds);
    json_decref(creds);
    if (!rec)
        return -1;
    snprintf(suffix, sizeof suffix, "acct:%s", id);
    ap_pub_record(p, suffix, rec, 0);
    secret_wipe(rec);
    free(rec);
    return 0;
}

/* ---- sending ---- */

/* The EVAL command of records [from, from + n) of p; argv and len are the
 * caller's, sized 5 + 3 * n. Returns argc. */
static int build_eval(const ap_pub_t *p, size_t from, size_t n, const char **argv, size_t *len, char *nkeys,
                      char *read, char *maxage, char *ttl)
{
    int64_t t = ap_pub_tombstone_ttl_ms();
    snprintf(nkeys, 24, "%zu", n + 1);
    snprintf(read, 24, "%lld", (long long)p->read_ms);
    snprintf(maxage, 24, "%lld", (long long)(t / 2));
    snprintf(ttl, 24, "%lld", (long long)t);
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = PUBLISH_LUA;
    argv[argc++] = nkeys;
    argv[argc++] = p->marker;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = p->keys[from + i];
    argv[argc++] = read;
    argv[argc++] = maxage;
    argv[argc++] = ttl;
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = p->vals[from + i];
        argv[argc++] = p->exps[from + i];
    }
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    return argc;
}

/* Sum of the script's 1/0 replies, or -1 (err set) for an error reply. */
static long reply_written(const redisReply *reply, const char **err)
{
    if (!reply) {
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        *err = reply->str;
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        *err = "unexpected reply to the publish script";
        return -1;
    }
    long w = 0;
    for (size_t i = 0; i < reply->elements; i++)
        w += reply->element[i]->type == REDIS_REPLY_INTEGER ? (long)reply->element[i]->integer : 0;
    return w;
}

typedef struct send_s {
    ap_pub_t *p;
    ap_pub_cb cb;
    void *ud;
    size_t outstanding;
    long written;
    int failed;
    char err[256];
} send_t;

static void send_done(send_t *s)
{
    ap_pub_cb cb = s->cb;
    void *ud = s->ud;
    long written = s->failed ? -1 : s->written;
    char err[256];
    str_copy(err, sizeof err, s->err);
    ap_pub_free(s->p);
    free(s);
    if (cb)
        cb(written, written < 0 ? err : NULL, ud);
}

static void on_eval(redisReply *reply, const char *err, void *ud)
{
    send_t *s = ud;
    const char *why = err;
    long w = reply_written(reply, &why);
    if (w < 0) {
        s->failed = 1;
        str_copy(s->err, sizeof s->err, why ? why : "redis unavailable");
    } else {
        s->written += w;
    }
    if (--s->outstanding == 0)
        send_done(s);
}

int ap_pub_send(ap_pub_t *p, rcli_t *redis, ap_pub_cb cb, void *ud)
{
    if (p->n == 0) {
        ap_pub_free(p);
        return 1;
    }
    send_t *s = mem_calloc(1, sizeof *s);
    s->p = p;
    s->cb = cb;
    s->ud = ud;
    for (size_t from = 0; from < p->n; from += PUB_MAX_RECORDS) {
        size_t n = p->n - from < PUB_MAX_RECORDS ? p->n - from : PUB_MAX_RECORDS;
        const char **argv = mem_alloc((7 + 3 * n) * sizeof *argv);
        size_t *len = mem_alloc((7 + 3 * n) * sizeof *len);
        char nk[24], rd[24], ma[24], tt[24];
        int argc = build_eval(p, from, n, argv, len, nk, rd, ma, tt);
        if (rcli_command_argv(redis, on_eval, s, argc, argv, len) == 0) {
            s->outstanding++;
        } else {
            s->failed = 1;
            str_copy(s->err, sizeof s->err, "redis unavailable");
        }
        free(argv);
        free(len);
    }
    if (s->outstanding > 0)
        return 0;
    s->cb = NULL;
    send_done(s);
    return -1;
}

long ap_pub_send_blocking(ap_pub_t *p, redisContext *c, char *err, size_t errsz)
{
    long total = 0;
    for (size_t from = 0; from < p->n; from += PUB_MAX_RECORDS) {
        size_t n = p->n - from < PUB_MAX_RECORDS ? p->n - from : PUB_MAX_RECORDS;
        const char **argv = mem_alloc((7 + 3 * n) * sizeof *argv);
        size_t *len = mem_alloc((7 + 3 * n) * sizeof *len);
        char nk[24], rd[24], ma[24], tt[24];
        int argc = build_eval(p, from, n, argv, len, nk, rd, ma, tt);
        redisReply *reply = redisCommandArgv(c, argc, argv, len);
        free(argv);
        free(len);
        const char *why = c->err ? c->errstr : NULL;
        long w = reply_written(reply, &why);
        if (w < 0)
            snprintf(err, errsz, "%s", why ? why : "redis unavailable");
        freeReplyObject(reply);
        if (w < 0) {
            total = -1;
            break;
        }
        total += w;
    }
    ap_pub_free(p);
    return total;
}

/* ---- reading versions ---- */

typedef struct ver_s {
    ap_versions_cb cb;
    void *ud;
    size_t n;
} ver_t;

static void on_versions(redisReply *reply, const char *err, void *ud)
{
    ver_t *v = ud;
    long long *out = NULL;
    const char *why = err;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == v->n) {
        out = mem_alloc((v->n + 1) * sizeof *out);
        for (size_t i = 0; i < v->n; i++)
            out[i] = reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer : -1;
    } else if (reply) {
        why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply to the versions script";
    }
    v->cb(out, out ? v->n : 0, out ? NULL : (why ? why : "redis unavailable"), v->ud);
    free(out);
    free(v);
}

int ap_pub_versions(rcli_t *redis, char **keys, size_t n, ap_versions_cb cb, void *ud)
{
    const char **argv = mem_alloc((3 + n) * sizeof *argv);
    size_t *len = mem_alloc((3 + n) * sizeof *len);
    char nk[24];
    snprintf(nk, sizeof nk, "%zu", n);
    argv[0] = "EVAL";
    argv[1] = VERSIONS_LUA;
    argv[2] = nk;
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = keys[i];
    for (size_t i = 0; i < 3 + n; i++)
        len[i] = strlen(argv[i]);
    ver_t *v = mem_calloc(1, sizeof *v);
    v->cb = cb;
    v->ud = ud;
    v->n = n;
    int rc = rcli_command_argv(redis, on_versions, v, (int)(3 + n), argv, len);
    if (rc != 0)
        free(v);
    free(argv);
    free(len);
    return rc;
}

/* ---- the reconcile marker ---- */

typedef struct marker_op_s {
    ap_marker_cb cb;
    void *ud;
} marker_op_t;

static void on_marker_reply(redisReply *reply, const char *err, void *ud)
{
    marker_op_t *op = ud;
    long long t = -1;
    int done = 0, created = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
        t = reply->element[0]->integer;
        done = reply->element[1]->type == REDIS_REPLY_INTEGER && reply->element[1]->integer == 1;
        created = reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer == 1;
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        err = reply->str;
    }
    op->cb(t, done, created, t < 0 ? (err ? err : "unexpected reply to the marker script") : NULL, op->ud);
    free(op);
}

int ap_pub_marker(rcli_t *redis, ap_marker_cb cb, void *ud)
{
    char key[200];
    rcli_key(redis, key, sizeof key, AP_PUB_MARKER_KEY);
    const char *argv[4] = {"EVAL", MARKER_LUA, "1", key};
    size_t len[4];
    for (int i = 0; i < 4; i++)
        len[i] = strlen(argv[i]);
    marker_op_t *op = mem_calloc(1, sizeof *op);
    op->cb = cb;
    op->ud = ud;
    int rc = rcli_command_argv(redis, on_marker_reply, op, 4, argv, len);
    if (rc != 0)
        free(op);
    return rc;
}

void ap_pub_marker_done(rcli_t *redis, long long t)
{
    char key[200], ts[24];
    rcli_key(redis, key, sizeof key, AP_PUB_MARKER_KEY);
    snprintf(ts, sizeof ts, "%lld", t);
    const char *argv[5] = {"EVAL", MARKER_DONE_LUA, "1", key, ts};
    size_t len[5];
    for (int i = 0; i < 5; i++)
        len[i] = strlen(argv[i]);
    rcli_command_argv(redis, NULL, NULL, 5, argv, len); /* a failure leaves it pending: another pass runs */
}
