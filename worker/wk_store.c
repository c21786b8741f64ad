/* wk_store: see wk_store.h. */
#include "wk_store.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "jsontext.h"
#include "log.h"
#include "wk_cache.h"

#define WK_REC_MAX (256 * 1024)  /* a srv/acct record larger than this is refused */
#define WK_ACCT_CACHE 256        /* decrypted accounts kept per worker */

/* Decrypting and parsing an account on every call would cost more than the
 * Redis GET, so decrypted accounts are cached, keyed by the sealed text
 * itself: a changed credential (a new sealed value) is picked up by the next
 * GET. Within cfg->account_cache_ms of a GET the entry is used without asking
 * Redis again, which saves a round trip per call under load and delays a
 * credential change by at most that long (revocation is not affected: it
 * removes the srv: record, read on every request). */
typedef struct acct_entry_s {
    char *account_id;
    char *sealed;
    wk_account_t acct;
    uint64_t fetched_ms; /* uv_now() of the last GET that confirmed it */
} acct_entry_t;

struct wk_acct_cache_s {
    acct_entry_t e[WK_ACCT_CACHE];
    unsigned next; /* round-robin replacement */
};

static void entry_clear(acct_entry_t *e)
{
    free(e->account_id);
    if (e->sealed)
        sodium_memzero(e->sealed, strlen(e->sealed));
    free(e->sealed);
    wk_account_clear(&e->acct);
    memset(e, 0, sizeof *e);
}

void wk_store_cleanup(wk_worker_t *w)
{
    if (!w->acct_cache)
        return;
    for (int i = 0; i < WK_ACCT_CACHE; i++)
        entry_clear(&w->acct_cache->e[i]);
    free(w->acct_cache);
    w->acct_cache = NULL;
}

static void count_redis_error(wk_worker_t *w)
{
    metrics_inc(w->metrics, "jsmcp_worker_redis_errors_total", "", 1);
}

/* ---- srv:<hash> ---- */

typedef struct srv_op_s {
    defer_entry_t later; /* an answer known at once (the cache, Redis unavailable) */
    int hit;             /* the cache had it: srv */
    wk_server_t srv;
    wk_worker_t *w;
    uint64_t ticket; /* wk_cache_ticket() when the GET was sent */
    char hash[SECRET_HASH_HEX_LEN + 1];
    wk_store_server_cb cb;
    void *ud;
} srv_op_t;

/* The reconcile marker of the API (api/ap_publish.h, AP_PUB_MARKER_KEY):
 * "<T> pending <run_id>" from the moment Redis is found without its data
 * until a full pass has published every row again, "<T> done <run_id>"
 * after. Missing: Redis lost its data and no API has looked yet. */
#define WK_MARKER_KEY "reconcile:marker"

/* 1 when the marker's value (NULL: none) says the records are not all
 * back: a missing record then proves nothing about the URL. */
static int records_rebuilding(const redisReply *marker)
{
    if (!marker || marker->type == REDIS_REPLY_NIL)
        return 1;
    return marker->type == REDIS_REPLY_STRING && strstr(marker->str, " pending ") != NULL;
}

/* The reply of MGET srv:<hash> <marker>. A server that has no record while
 * the API rebuilds Redis after a loss (a FLUSHALL, a restart without
 * persistence, a failover to an empty replica) is answered as the store
 * being unavailable (503, try again), not as an unknown URL (404: a client
 * gives the URL up), until the full pass has republished it (found by an
 * adversarial run: every call of a valid URL was a 404 for as long as the
 * full pass took). A tombstone is a deleted server whatever the marker. */
static void on_srv(redisReply *reply, const char *err, void *ud)
{
    srv_op_t *op = ud;
    wk_server_t srv;
    int rc = -1;
    const redisReply *marker = NULL;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        marker = reply->element[1];
        reply = reply->element[0];
    } else if (reply && reply->type != REDIS_REPLY_ERROR) {
        reply = NULL; /* not what MGET answers */
    }
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        count_redis_error(op->w);
    } else if (reply->type == REDIS_REPLY_NIL) {
        rc = records_rebuilding(marker) ? -1 : 0;
    } else if (reply->type == REDIS_REPLY_STRING && reply->len <= WK_REC_MAX) {
        char perr[128];
        json_t *rec = jsontext_parse(reply->str, reply->len, 16, perr, sizeof perr);
        if (rec && json_is_true(json_object_get(rec, "tombstone"))) {
            rc = 0; /* a deleted server, or a token no longer in use (ap_publish.h) */
            json_decref(rec);
        } else if (rec && wk_server_parse(&srv, rec, op->hash) == 0) {
            rc = 1;
            wk_cache_server_put(op->w, op->ticket, &srv);
        } else
            LOG_WARN("worker", "unreadable server record in Redis", "why", rec ? "fields" : perr, NULL);
    }
    op->cb(rc, rc == 1 ? &srv : NULL, op->ud);
    free(op);
}

static void srv_later(defer_entry_t *e)
{
    srv_op_t *op = (srv_op_t *)((char *)e - offsetof(srv_op_t, later));
    if (!op->hit) {
        on_srv(NULL, "redis unavailable", op);
        return;
    }
    op->cb(1, &op->srv, op->ud);
    free(op);
}

void wk_store_server(wk_worker_t *w, const char *token_hash, wk_store_server_cb cb, void *ud)
{
    char key[256];
    srv_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->cb = cb;
    op->ud = ud;
    if (wk_cache_server_get(w, token_hash, &op->srv)) {
        op->hit = 1;
        defer_call(&w->defer, w->loop, &op->later, srv_later);
        return;
    }
    op->ticket = wk_cache_ticket(w);
    snprintf(op->hash, sizeof op->hash, "%s", token_hash);
    char marker[256];
    rcli_key(w->redis, key, sizeof key, "srv:%s", token_hash);
    rcli_key(w->redis, marker, sizeof marker, "%s", WK_MARKER_KEY);
    if (rcli_command(w->redis, on_srv, op, "MGET %s %s", key, marker) != 0)
        defer_call(&w->defer, w->loop, &op->later, srv_later);
}

/* ---- acct:<id> ---- */

typedef struct acct_op_s {
    defer_entry_t later; /* an answer known at once (the cache, Redis unavailable) */
    int fresh;
    int down;            /* Redis refused the GET */
    wk_worker_t *w;
    char *account_id;
    wk_store_account_cb cb;
    void *ud;
} acct_op_t;

static acct_entry_t *cache_find(struct wk_acct_cache_s *c, const char *id)
{
    for (int i = 0; i < WK_ACCT_CACHE; i++)
        if (c->e[i].account_id && strcmp(c->e[i].account_id, id) == 0)
            return &c->e[i];
    return NULL;
}

static void on_acct(redisReply *reply, const char *err, void *ud)
{
    acct_op_t *op = ud;
    wk_worker_t *w = op->w;
    char why[512] = "";
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        count_redis_error(w);
        op->cb(-1, NULL, "the credential store is unavailable; try again shortly", op->ud);
        goto out;
    }
    const char *val = reply->type == REDIS_REPLY_STRING ? reply->str : NULL;
    size_t vlen = val ? reply->len : 0;
    json_t *wrap = NULL;
    if (val && vlen <= WK_REC_MAX && val[0] == '{') {
        /* {"version":N,"sealed":"..."} or a tombstone (ap_publish.h); a bare
         * sealed string is the format before versions. */
        wrap = jsontext_parse(val, vlen, 4, why, sizeof why);
        const json_t *sealed = json_object_get(wrap, "sealed");
        val = json_is_string(sealed) && !json_is_true(json_object_get(wrap, "tombstone")) ? json_string_value(sealed) : NULL;
        vlen = val ? json_string_length(sealed) : 0;
    }
    if (!val || vlen > WK_REC_MAX) {
        json_decref(wrap);
        op->cb(0, NULL, "the JSM account of this MCP server no longer exists", op->ud);
        goto out;
    }
    if (!w->acct_cache)
        w->acct_cache = mem_calloc(1, sizeof *w->acct_cache);
    acct_entry_t *e = cache_find(w->acct_cache, op->account_id);
    if (e && strlen(e->sealed) == vlen && memcmp(e->sealed, val, vlen) == 0) {
        json_decref(wrap);
        e->fetched_ms = uv_now(w->loop);
        op->cb(1, &e->acct, NULL, op->ud);
        goto out;
    }
    char ad[300];
    snprintf(ad, sizeof ad, "acct:%s", op->account_id);
    char *sealed = mem_strndup(val, vlen);
    json_decref(wrap);
    size_t ptlen = 0;
    char *pt = secret_open(w->keyring, ad, sealed, &ptlen, NULL, 0);
    json_t *j = pt ? jsontext_parse(pt, ptlen, 16, why, sizeof why) : NULL;
    if (pt) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    wk_account_t acct;
    if (!j || wk_account_parse(&acct, j, w->cfg->site_allowlist, w->cfg->oauth_api_url, why, sizeof why) != 0) {
        if (!j)
            LOG_WARN("worker", "account record cannot be opened", "account", op->account_id, NULL);
        json_decref(j);
        free(sealed);
        op->cb(-1, NULL, *why && j ? why : "the JSM account credentials cannot be read", op->ud);
        goto out;
    }
    json_decref(j);
    if (!e) {
        e = &w->acct_cache->e[w->acct_cache->next];
        w->acct_cache->next = (w->acct_cache->next + 1) % WK_ACCT_CACHE;
    }
    entry_clear(e);
    e->account_id = mem_strdup(op->account_id);
    e->sealed = sealed;
    e->acct = acct;
    e->fetched_ms = uv_now(w->loop);
    op->cb(1, &e->acct, NULL, op->ud);
out:
    free(op->account_id);
    free(op);
}

static acct_entry_t *cache_hit(wk_worker_t *w, const char *account_id, int fresh)
{
    acct_entry_t *hit = !fresh && w->acct_cache ? cache_find(w->acct_cache, account_id) : NULL;
    return hit && uv_now(w->loop) - hit->fetched_ms < (uint64_t)w->cfg->account_cache_ms ? hit : NULL;
}

/* The cache's answer is given from the loop, as it is then (an entry
 * replaced meanwhile is read from Redis after all). */
static void acct_later(defer_entry_t *e)
{
    acct_op_t *op = (acct_op_t *)((char *)e - offsetof(acct_op_t, later));
    char key[300];
    acct_entry_t *hit = op->down ? NULL : cache_hit(op->w, op->account_id, op->fresh);
    if (hit) {
        op->cb(1, &hit->acct, NULL, op->ud);
        free(op->account_id);
        free(op);
        return;
    }
    rcli_key(op->w->redis, key, sizeof key, "acct:%s", op->account_id);
    if (op->down || rcli_command(op->w->redis, on_acct, op, "GET %s", key) != 0)
        on_acct(NULL, "redis unavailable", op);
}

static void account_get(wk_worker_t *w, const char *account_id, int fresh, wk_store_account_cb cb, void *ud)
{
    char key[300];
    acct_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->account_id = mem_strdup(account_id);
    op->fresh = fresh;
    op->cb = cb;
    op->ud = ud;
    if (cache_hit(w, account_id, fresh)) {
        defer_call(&w->defer, w->loop, &op->later, acct_later);
        return;
    }
    rcli_key(w->redis, key, sizeof key, "acct:%s", account_id);
    if (rcli_command(w->redis, on_acct, op, "GET %s", key) != 0) {
        op->down = 1;
        defer_call(&w->defer, w->loop, &op->later, acct_later);
    }
}

void wk_store_account(wk_worker_t *w, const char *account_id, wk_store_account_cb cb, void *ud)
{
    account_get(w, account_id, 0, cb, ud);
}

void wk_store_account_fresh(wk_worker_t *w, const char *account_id, wk_store_account_cb cb, void *ud)
{
    account_get(w, account_id, 1, cb, ud);
}

/* ---- wskey:<key_hash> ---- */

/* The API publishes one record per workspace API key (ap_publish.h):
 * {"version":N,"workspace_id":..,"expires_at_ms":..|null} or a tombstone
 * once it is deleted. A key past expires_at_ms is refused here, whatever
 * Redis' TTL says (the key stays a tombstone TTL longer, keeping its
 * version; the API refuses it at the same time). A key
 * without a record (nil) is looked up in the wskeys:<workspace> set older
 * API versions kept, so workers can be upgraded before the API. */
typedef struct flag_op_s {
    defer_entry_t later; /* Redis refused the GET: answered from the loop */
    wk_worker_t *w;
    wk_store_flag_cb cb;
    void *ud;
    char workspace_id[64];
    char key_hash[SECRET_HASH_HEX_LEN + 1];
} flag_op_t;

static void on_flag(redisReply *reply, const char *err, void *ud)
{
    flag_op_t *op = ud;
    int rc = -1;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        count_redis_error(op->w);
    else if (reply->type == REDIS_REPLY_INTEGER)
        rc = reply->integer > 0;
    op->cb(rc, op->ud);
    free(op);
}

static void on_wskey(redisReply *reply, const char *err, void *ud)
{
    flag_op_t *op = ud;
    int rc = -1;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        count_redis_error(op->w);
    } else if (reply->type == REDIS_REPLY_NIL) {
        char key[300];
        rcli_key(op->w->redis, key, sizeof key, "wskeys:%s", op->workspace_id);
        if (rcli_command(op->w->redis, on_flag, op, "SISMEMBER %s %s", key, op->key_hash) != 0)
            on_flag(NULL, "redis unavailable", op);
        return;
    } else if (reply->type == REDIS_REPLY_STRING && reply->len <= WK_REC_MAX) {
        char perr[128];
        json_t *rec = jsontext_parse(reply->str, reply->len, 4, perr, sizeof perr);
        const char *ws = json_string_value(json_object_get(rec, "workspace_id"));
        json_t *exp = json_object_get(rec, "expires_at_ms");
        rc = rec && !json_is_true(json_object_get(rec, "tombstone")) && ws && strcmp(ws, op->workspace_id) == 0 &&
             (!json_is_integer(exp) || json_integer_value(exp) > clock_now_ms());
        json_decref(rec);
    }
    op->cb(rc, op->ud);
    free(op);
}

static void wskey_later(defer_entry_t *e)
{
    on_wskey(NULL, "redis unavailable", (char *)e - offsetof(flag_op_t, later));
}

void wk_store_wskey(wk_worker_t *w, const char *workspace_id, const char *key_hash,
                    wk_store_flag_cb cb, void *ud)
{
    char key[300];
    flag_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->cb = cb;
    op->ud = ud;
    str_copy(op->workspace_id, sizeof op->workspace_id, workspace_id);
    str_copy(op->key_hash, sizeof op->key_hash, key_hash);
    rcli_key(w->redis, key, sizeof key, "wskey:%s", key_hash);
    if (rcli_command(w->redis, on_wskey, op, "GET %s", key) != 0)
        defer_call(&w->defer, w->loop, &op->later, wskey_later);
}
