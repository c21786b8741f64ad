/* ap_publish: see ap_publish.h.
 *
 * Reconcile is one async pass with one context (rec_t), freed in
 * rec_finish(): SCAN srv:* and acct:* -> load servers, accounts and API
 * keys from PostgreSQL -> SET NX / SADD what Redis lacks -> DEL scanned
 * keys PostgreSQL does not have once their grace period is over. The SCAN
 * comes before the PostgreSQL reads, so a key created during the pass is
 * either in the snapshot or not in the scan. */
#include "ap_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "ju.h"
#include "log.h"
#include "testhook.h"
#include "tu.h"

#define REC_MAX_KEYS 1000000  /* keys one pass looks at; beyond, the pass stops early */
#define REC_MAX_PENDING 10000 /* candidates for removal remembered between passes */

/* ---- request-scoped commands ---- */

typedef struct redis_step_s {
    ap_req_t *r;
    void (*next)(ap_req_t *r);
} redis_step_t;

static void on_redis_step(redisReply *reply, const char *err, void *ud)
{
    redis_step_t *s = ud;
    ap_req_t *r = s->r;
    void (*next)(ap_req_t *r) = s->next;
    free(s);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        ap_fail_redis(r, reply ? reply->str : err);
        return;
    }
    next(r);
}

void ap_redis(ap_req_t *r, void (*next)(ap_req_t *r), int argc, const char **argv)
{
    char key[256];
    const char *av[16];
    size_t avl[16];
    if (argc > 16 || argc < 2) {
        ap_fail(r, 500, "internal error", NULL);
        return;
    }
    rcli_key(r->app->redis, key, sizeof key, "%s", argv[1]);
    for (int i = 0; i < argc; i++) {
        av[i] = i == 1 ? key : argv[i];
        avl[i] = strlen(av[i]);
    }
    redis_step_t *s = mem_alloc(sizeof *s);
    s->r = r;
    s->next = next;
    if (rcli_command_argv(r->app->redis, on_redis_step, s, argc, av, avl) != 0) {
        free(s);
        ap_fail_redis(r, "redis unavailable");
    }
}

void ap_redis_del(ap_req_t *r, void (*next)(ap_req_t *r), char **suffixes, size_t n)
{
    const char **av = mem_alloc((n + 1) * sizeof *av);
    size_t *avl = mem_alloc((n + 1) * sizeof *avl);
    char **keys = mem_alloc((n + 1) * sizeof *keys);
    av[0] = "DEL";
    avl[0] = 3;
    for (size_t i = 0; i < n; i++) {
        char key[256];
        rcli_key(r->app->redis, key, sizeof key, "%s", suffixes[i]);
        keys[i] = mem_strdup(key);
        av[i + 1] = keys[i];
        avl[i + 1] = strlen(key);
    }
    redis_step_t *s = mem_alloc(sizeof *s);
    s->r = r;
    s->next = next;
    int rc = rcli_command_argv(r->app->redis, on_redis_step, s, (int)n + 1, av, avl);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(av);
    free(avl);
    if (rc != 0) {
        free(s);
        ap_fail_redis(r, "redis unavailable");
    }
}

static void on_undone(redisReply *reply, const char *err, void *ud)
{
    ap_req_t *r = ud;
    (void)reply;
    (void)err;
    ap_fail(r, r->status, r->notfound, r->conflict_field);
}

void ap_fail_after_del(ap_req_t *r, const char *suffix, int status, const char *detail, const char *field)
{
    char key[256];
    rcli_key(r->app->redis, key, sizeof key, "%s", suffix);
    const char *argv[2] = {"DEL", key};
    size_t len[2] = {3, strlen(key)};
    r->status = status;
    r->notfound = detail;
    r->conflict_field = field;
    if (rcli_command_argv(r->app->redis, on_undone, r, 2, argv, len) != 0)
        ap_fail(r, status, detail, field); /* Redis is down: reconcile removes the key */
}

char *ap_account_redis_value(ap_app_t *app, const char *id, const char *site_url, const char *auth_type,
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
     * PostgreSQL, whoever publishes the account (create, PATCH, reconcile). */
    json_object_del(v, "refresh_token");
    char *pt = ju_dump(v);
    json_decref(v);
    if (!pt)
        return NULL;
    snprintf(ad, sizeof ad, "acct:%s", id);
    char *sealed = secret_seal(app->keys, ad, pt, strlen(pt));
    ap_wipe(pt);
    free(pt);
    return sealed;
}

/* ---- reconcile ---- */

typedef struct pending_s {
    char *key;
    int64_t since_ms;
} pending_t;

/* Candidates for removal survive across passes (module state of the one
 * app per process). */
static pending_t *pend;
static size_t npend;

typedef struct rec_s {
    ap_app_t *app;
    char **scanned;      /* full keys seen by SCAN */
    size_t nscanned, capscanned;
    char **known;        /* full keys PostgreSQL has */
    size_t nknown, capknown;
    int scan_phase;      /* 0: srv:*, 1: acct:* */
    int inflight;        /* Redis commands of the current batch */
    int failed;
    unsigned repaired;
    uint64_t t0;
    char **rows;
    int nrows;
} rec_t;

static void (*stop_done)(void *arg);
static void *stop_arg;
static int timer_closed; /* the reconcile timer's close callback ran */

static void push(char ***arr, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *arr = mem_realloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = mem_strdup(s);
}

static void free_list(char **arr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(arr[i]);
    free(arr);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Stopping ends once both the reconcile timer is closed and no pass runs;
 * either may come last (a pass can finish between ap_publish_stop and the
 * timer's close callback), so both call this and it fires once. */
static void stop_if_idle(ap_app_t *app)
{
    if (!stop_done || !timer_closed || app->reconcile_running)
        return;
    for (size_t i = 0; i < npend; i++)
        free(pend[i].key);
    free(pend);
    pend = NULL;
    npend = 0;
    void (*d)(void *) = stop_done;
    stop_done = NULL;
    d(stop_arg);
}

static void rec_finish(rec_t *c)
{
    ap_app_t *app = c->app;
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", (double)(uv_hrtime() - c->t0) / 1e6);
    metrics_inc(app->metrics, "jsmcp_api_reconcile_runs_total", c->failed ? "outcome=\"failed\"" : "outcome=\"ok\"", 1);
    metrics_inc(app->metrics, "jsmcp_api_reconcile_repairs_total", "", c->repaired);
    if (c->failed || c->repaired) {
        char n[16];
        snprintf(n, sizeof n, "%u", c->repaired);
        LOG_INFO("reconcile", c->failed ? "pass failed" : "pass repaired Redis", "repaired", n, "ms", ms, NULL);
    }
    free_list(c->scanned, c->nscanned);
    free_list(c->known, c->nknown);
    free(c);
    app->reconcile_running = 0;
    stop_if_idle(app);
}

static void rec_remove_stale(rec_t *c);

/* Completion of one command of a batch; the last one moves on. */
static void rec_batch_done(rec_t *c, void (*next)(rec_t *c))
{
    if (--c->inflight == 0)
        next(c);
}

static void rec_send(rec_t *c, rcli_cb cb, int argc, const char **argv)
{
    size_t avl[8];
    for (int i = 0; i < argc; i++)
        avl[i] = strlen(argv[i]);
    c->inflight++;
    if (rcli_command_argv(c->app->redis, cb, c, argc, argv, avl) != 0) {
        c->inflight--;
        c->failed = 1;
    }
}

/* SET NX / SADD replies: 1 / OK means Redis lacked it. */
static void on_repair_reply(redisReply *reply, const char *err, void *ud)
{
    rec_t *c = ud;
    (void)err;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        c->failed = 1;
    else if ((reply->type == REDIS_REPLY_STATUS) || (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0))
        c->repaired++;
    rec_batch_done(c, rec_remove_stale);
}

static void on_keys_loaded(PGresult *res, const char *err, void *ud);
static void on_accounts_loaded(PGresult *res, const char *err, void *ud);
static void rec_write_servers(void *ud);

/* Batch 1: servers. */
static void on_servers_loaded(PGresult *res, const char *err, void *ud)
{
    rec_t *c = ud;
    ap_app_t *app = c->app;
    if (!ap_res_ok(res)) {
        c->failed = 1;
        rec_finish(c);
        return;
    }
    c->inflight = 1; /* held until every command is sent */
    c->nrows = PQntuples(res);
    c->rows = mem_calloc((size_t)c->nrows * 3 + 1, sizeof *c->rows);
    for (int i = 0; i < c->nrows; i++)
        for (int j = 0; j < 3; j++)
            c->rows[i * 3 + j] = PQgetisnull(res, i, j) ? NULL : mem_strdup(PQgetvalue(res, i, j));
    if (!th_wait(app->loop, "reconcile_full_read", rec_write_servers, c))
        rec_write_servers(c);
}

static void rec_write_servers(void *ud)
{
    rec_t *c = ud;
    ap_app_t *app = c->app;
    for (int i = 0; i < c->nrows; i++) {
        char key[256], pxat[32];
        rcli_key(app->redis, key, sizeof key, "srv:%s", c->rows[i * 3]);
        push(&c->known, &c->nknown, &c->capknown, key);
        const char *argv[6] = {"SET", key, c->rows[i * 3 + 1], "NX", "PXAT", pxat};
        int argc = 4;
        if (c->rows[i * 3 + 2]) {
            snprintf(pxat, sizeof pxat, "%s", c->rows[i * 3 + 2]);
            argc = 6;
        }
        rec_send(c, on_repair_reply, argc, argv);
    }
    for (int i = 0; i < c->nrows * 3; i++)
        free(c->rows[i]);
    free(c->rows);
    c->rows = NULL;
    const char *params[1] = {NULL};
    if (pgpool_query(app->db,
                     "SELECT id, site_url, auth_type, status, cloud_id, credentials_sealed, pace FROM integrated_accounts",
                     0, params, on_accounts_loaded, c) != 0) {
        c->failed = 1;
        rec_batch_done(c, rec_remove_stale);
    }
}

static void on_accounts_loaded(PGresult *res, const char *err, void *ud)
{
    rec_t *c = ud;
    ap_app_t *app = c->app;
    if (!ap_res_ok(res)) {
        c->failed = 1;
        rec_batch_done(c, rec_remove_stale);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char key[256], ad[64];
        const char *id = PQgetvalue(res, i, 0);
        rcli_key(app->redis, key, sizeof key, "acct:%s", id);
        push(&c->known, &c->nknown, &c->capknown, key);
        snprintf(ad, sizeof ad, "acct:%s", id);
        size_t ptlen;
        char *pt = secret_open(app->keys, ad, PQgetvalue(res, i, 5), &ptlen, NULL, 0);
        json_t *creds = pt ? json_loadb(pt, ptlen, 0, NULL) : NULL;
        if (pt) {
            ap_wipe(pt);
            free(pt);
        }
        if (!creds) {
            LOG_ERROR("reconcile", "cannot open account credentials (unknown master key?)", "account", id, NULL);
            c->failed = 1;
            continue;
        }
        char *val = ap_account_redis_value(app, id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                                           PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 6), creds);
        json_decref(creds);
        if (!val) {
            c->failed = 1;
            continue;
        }
        const char *argv[4] = {"SET", key, val, "NX"};
        rec_send(c, on_repair_reply, 4, argv);
        ap_wipe(val);
        free(val);
    }
    const char *params[1] = {NULL};
    if (pgpool_query(app->db, "SELECT workspace_id, key_hash FROM api_keys", 0, params, on_keys_loaded, c) != 0) {
        c->failed = 1;
        rec_batch_done(c, rec_remove_stale);
    }
}

static void on_keys_loaded(PGresult *res, const char *err, void *ud)
{
    rec_t *c = ud;
    if (!ap_res_ok(res)) {
        c->failed = 1;
    } else {
        for (int i = 0; i < PQntuples(res); i++) {
            char key[256];
            rcli_key(c->app->redis, key, sizeof key, "wskeys:%s", PQgetvalue(res, i, 0));
            const char *argv[3] = {"SADD", key, PQgetvalue(res, i, 1)};
            rec_send(c, on_repair_reply, 3, argv);
        }
    }
    rec_batch_done(c, rec_remove_stale); /* the holder taken by the accounts query */
}

static void on_del_reply(redisReply *reply, const char *err, void *ud)
{
    rec_t *c = ud;
    (void)err;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        c->failed = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        c->repaired += (unsigned)reply->integer;
    if (--c->inflight == 0)
        rec_finish(c);
}

static int rec_known(const rec_t *c, char *key)
{
    return c->nknown && bsearch(&key, c->known, c->nknown, sizeof *c->known, cmp_str) != NULL;
}

static long pending_find(const char *key)
{
    for (size_t i = 0; i < npend; i++)
        if (strcmp(pend[i].key, key) == 0)
            return (long)i;
    return -1;
}

/* Keys Redis has and PostgreSQL does not: remember when first seen, remove
 * after the grace period; forget candidates PostgreSQL has again. */
static void rec_remove_stale(rec_t *c)
{
    ap_app_t *app = c->app;
    cfg_err_t ce = {0};
    int64_t grace = (int64_t)cfg_ms("JSMCP_RECONCILE_GRACE_MS", 10000, 0, 86400000, &ce);
    int64_t now = tu_now_ms();
    if (c->failed) { /* a partial snapshot must not decide removals */
        rec_finish(c);
        return;
    }
    if (c->nknown)
        qsort(c->known, c->nknown, sizeof *c->known, cmp_str);
    /* Drop candidates that are known again or no longer scanned. */
    for (size_t i = 0; i < npend;) {
        char *k = pend[i].key;
        int known = rec_known(c, k);
        int seen = 0;
        for (size_t j = 0; j < c->nscanned && !seen; j++)
            seen = strcmp(c->scanned[j], k) == 0;
        if (known || !seen) {
            free(k);
            pend[i] = pend[--npend];
        } else {
            i++;
        }
    }
    c->inflight = 1;
    for (size_t j = 0; j < c->nscanned; j++) {
        char *k = c->scanned[j];
        if (rec_known(c, k))
            continue;
        long at = pending_find(k);
        if (at < 0) {
            if (npend < REC_MAX_PENDING) {
                pend = mem_realloc(pend, (npend + 1) * sizeof *pend);
                pend[npend].key = mem_strdup(k);
                pend[npend++].since_ms = now;
            }
            if (grace > 0)
                continue;
            at = (long)npend - 1;
        }
        if (now - pend[at].since_ms >= grace) {
            const char *argv[2] = {"DEL", k};
            LOG_INFO("reconcile", "removing a key PostgreSQL no longer has", "key", k, NULL);
            free(pend[at].key);
            pend[at] = pend[--npend];
            size_t avl[2] = {3, strlen(k)};
            c->inflight++;
            if (rcli_command_argv(app->redis, on_del_reply, c, 2, argv, avl) != 0) {
                c->inflight--;
                c->failed = 1;
            }
        }
    }
    if (--c->inflight == 0)
        rec_finish(c);
}

static void rec_scan(rec_t *c, const char *cursor);

static void on_scan(redisReply *reply, const char *err, void *ud)
{
    rec_t *c = ud;
    (void)err;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
        c->failed = 1;
        rec_finish(c);
        return;
    }
    redisReply *keys = reply->element[1];
    for (size_t i = 0; i < keys->elements && c->nscanned < REC_MAX_KEYS; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            push(&c->scanned, &c->nscanned, &c->capscanned, keys->element[i]->str);
    const char *next = reply->element[0]->str;
    if (strcmp(next, "0") != 0 && c->nscanned < REC_MAX_KEYS) {
        rec_scan(c, next);
        return;
    }
    if (c->scan_phase == 0) {
        c->scan_phase = 1;
        rec_scan(c, "0");
        return;
    }
    const char *params[1] = {NULL};
    if (pgpool_query(c->app->db,
                     "SELECT token_hash, " AP_SRV_REDIS_JSON ", (extract(epoch FROM expires_at) * 1000)::bigint"
                     " FROM mcp_servers WHERE expires_at IS NULL OR expires_at > now()"
                     " UNION ALL SELECT prev_token_hash, " AP_SRV_PREV_REDIS_JSON ","
                     " (extract(epoch FROM " AP_SRV_PREV_EXPIRES ") * 1000)::bigint FROM mcp_servers"
                     " WHERE prev_token_hash IS NOT NULL AND " AP_SRV_PREV_EXPIRES " > now()",
                     0, params, on_servers_loaded, c) != 0) {
        c->failed = 1;
        rec_finish(c);
    }
}

static void rec_scan(rec_t *c, const char *cursor)
{
    char pattern[256];
    rcli_key(c->app->redis, pattern, sizeof pattern, "%s", c->scan_phase == 0 ? "srv:*" : "acct:*");
    const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
    size_t avl[6];
    for (int i = 0; i < 6; i++)
        avl[i] = strlen(argv[i]);
    if (rcli_command_argv(c->app->redis, on_scan, c, 6, argv, avl) != 0) {
        c->failed = 1;
        rec_finish(c);
    }
}

static void on_reconcile_timer(uv_timer_t *t)
{
    ap_app_t *app = t->data;
    if (app->reconcile_running || app->closing)
        return;
    if (!rcli_ready(app->redis) || !pgpool_ready(app->db))
        return; /* try again at the next tick */
    app->reconcile_running = 1;
    rec_t *c = mem_calloc(1, sizeof *c);
    c->app = app;
    c->t0 = uv_hrtime();
    rec_scan(c, "0");
}

void ap_publish_start(ap_app_t *app)
{
    uv_timer_init(app->loop, &app->reconcile_timer);
    app->reconcile_timer.data = app;
    /* The first pass soon after start (connections come up asynchronously). */
    uv_timer_start(&app->reconcile_timer, on_reconcile_timer, 200, app->cfg.reconcile_interval_ms);
}

static void on_timer_closed(uv_handle_t *h)
{
    timer_closed = 1;
    stop_if_idle(h->data);
}

void ap_publish_stop(ap_app_t *app, void (*done)(void *arg), void *arg)
{
    stop_done = done;
    stop_arg = arg;
    timer_closed = 0;
    uv_timer_stop(&app->reconcile_timer);
    uv_close((uv_handle_t *)&app->reconcile_timer, on_timer_closed);
}
