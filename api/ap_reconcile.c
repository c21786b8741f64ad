/* ap_reconcile: see ap_reconcile.h. */
#include "ap_reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_listen.h"
#include "ap_publish.h"
#include "buf.h"
#include "log.h"
#include "testhook.h"
#include "clock.h"

#define RC_OUTBOX_BATCH "500" /* outbox rows per incremental pass; a full batch runs again at once */
#define RC_CHUNK "1000"       /* rows per query of a full pass */
#define RC_SCAN_COUNT "1000"  /* SCAN COUNT of a full pass's look for orphan keys */

typedef struct rc_s {
    ap_app_t *app;
    uv_timer_t timer;
    int timer_open;
    int inc_running, inc_again; /* a notification came during a pass: run again after it */
    int full_running, full_again; /* Redis lost its data during a full pass: another after it */
    long long full_marker_t;    /* the marker's T when the running full pass started; -1 not yet known */
    uint64_t last_full_ms;      /* uv_now() when the last full pass started; 0: none yet */
    uint64_t last_inc_ms;       /* ... the last incremental pass */
    int stopping;
    void (*done)(void *arg);
    void *done_arg;
    ap_listen_t *listen; /* LISTEN jsmcp_publish; NULL once stopped */
    /* A full pass rests between chunks as long as the chunk took: it takes
     * at most half of the API's and its backend's time, so the writes it
     * shares them with are not held up (creates during a pass, BENCHMARKS.md). */
    uv_timer_t frest;
    int frest_open;
    struct full_s *resting;
    /* A hint that comes sooner than JSMCP_RECONCILE_HINT_GAP_MS after the
     * last incremental pass started waits on this timer for the rest of the
     * gap: every write notifies, and one pass per notification (a BEGIN, the
     * take, a COMMIT in every replica, for a row the write published itself)
     * cost more PostgreSQL than the writes under a steady stream of creates
     * (BENCHMARKS.md). The hints of the gap share that one pass. */
    uv_timer_t hint;
    int hint_open;
} rc_t;

static rc_t rc;

static void maybe_stopped(void);
static void inc_start(void);
static void inc_soon(void);
static void on_hint_timer(uv_timer_t *t);

static void count_pass(const char *kind, const char *outcome, long written, uint64_t t0)
{
    char l[96];
    snprintf(l, sizeof l, "kind=\"%s\",outcome=\"%s\"", kind, outcome);
    metrics_inc(rc.app->metrics, "jsmcp_api_reconcile_runs_total", l, 1);
    snprintf(l, sizeof l, "kind=\"%s\"", kind);
    if (written > 0)
        metrics_inc(rc.app->metrics, "jsmcp_api_reconcile_repairs_total", l, (double)written);
    metrics_set(rc.app->metrics, "jsmcp_api_reconcile_last_pass_seconds", l, (double)(uv_hrtime() - t0) / 1e9);
}

/* Splits a comma-joined list in place: every item, however many (a
 * server rotated 300 times while Redis refused writes has 300 hashes to
 * tombstone; a cap left the ones past it live until a full pass). The
 * array is the caller's to free; *n items. */
static char **split(char *s, size_t *n)
{
    size_t max = 1;
    for (const char *c = s; c && *c; c++)
        max += *c == ',';
    char **out = mem_alloc(max * sizeof *out);
    *n = 0;
    for (char *tok = s && *s ? strtok(s, ",") : NULL; tok && *n < max; tok = strtok(NULL, ","))
        out[(*n)++] = tok;
    return out;
}

/* A PostgreSQL array literal of the strings (uuids, hex hashes: nothing to quote). */
static char *array_lit(char **items, size_t n)
{
    /* Sized to fit, whatever the items: a NULL here would read as "no ids"
     * (an empty ANY) and a reconcile pass would act on nothing, or on all. */
    size_t need = 2;
    for (size_t i = 0; i < n; i++)
        need += strlen(items[i]) + 1;
    buf_t b;
    buf_init(&b, need);
    buf_append(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append(&b, ",", 1);
        buf_append_str(&b, items[i]);
    }
    buf_append(&b, "}", 1);
    char *lit = buf_steal(&b, NULL);
    if (!lit) { /* only out of memory: as mem_alloc */
        fputs("jsmcp: out of memory\n", stderr);
        abort();
    }
    return lit;
}

/* ==== rows and their records, shared by both passes ==== */

/* The kinds of published rows, in the order both passes take them (the
 * full pass's first phases): accounts and API keys before servers, so that
 * after Redis lost its data a server's record comes back only once its
 * account's and its workspace's keys' have (a worker that found the server
 * without its account answered "the account no longer exists"; at scale the
 * servers' phase lasts minutes). */
enum rc_kind { RC_ACCT, RC_WSK, RC_SRV };
#define RC_NKINDS (RC_SRV + 1)

/* Rows of a kind read again by id, with what their records are built from. */
static const char *const rows_sql[] = {
    [RC_SRV] = "SELECT id::text, " AP_SRV_PUB_COLS " FROM mcp_servers WHERE id = ANY($1::uuid[])",
    [RC_ACCT] = "SELECT id::text, " AP_ACCT_PUB_COLS " FROM integrated_accounts WHERE id = ANY($1::uuid[])",
    [RC_WSK] = "SELECT id::text, version, key_hash, workspace_id::text, (extract(epoch FROM expires_at) * 1000)::bigint"
               " FROM api_keys WHERE id = ANY($1::uuid[])",
};

/* Sends rows_sql[kind] for ids: in tx (the incremental pass's), or on the
 * pool when tx is NULL. 0 when cb will run. */
static int rc_query_rows(pgtx_t *tx, enum rc_kind kind, char **ids, size_t n, pgpool_cb cb, void *ud)
{
    char *arr = array_lit(ids, n);
    const char *p[1] = {arr};
    int r = tx ? pgtx_query(tx, rows_sql[kind], 1, p, cb, ud) : pgpool_query(rc.app->db, rows_sql[kind], 1, p, cb, ud);
    free(arr);
    return r;
}

/* Row i of a rows_sql[kind] result as records of p (a server's with
 * tombstones for the dead hashes that are not its tokens). -1 for an
 * account whose credentials do not open (logged). */
static int rc_pub_row(ap_pub_t *p, enum rc_kind kind, const PGresult *res, int i, const char *const *dead,
                      size_t ndead)
{
    switch (kind) {
    case RC_SRV:
        ap_pub_server(p, res, i, 1, dead, ndead);
        return 0;
    case RC_ACCT:
        return ap_pub_account_row(p, rc.app->keys, PQgetvalue(res, i, 0), res, i, 1);
    case RC_WSK:
        ap_pub_wskey(p, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), strtoll(PQgetvalue(res, i, 1), NULL, 10),
                     PQgetisnull(res, i, 4) ? 0 : strtoll(PQgetvalue(res, i, 4), NULL, 10));
        return 0;
    }
    return 0;
}

/* ==== incremental passes: the outbox ==== */

typedef struct inc_entry_s {
    char kind[8];
    char ref[AP_UUID_LEN + 1];
    long long version; /* the newest outbox version of ref */
    char *hashes;      /* srv: the token hashes its changes touched, comma-joined */
} inc_entry_t;

typedef struct inc_s {
    pgtx_t *tx;
    uint64_t t0;
    int64_t read_ms;
    inc_entry_t *e;
    size_t n;
    long taken;        /* outbox rows taken */
    long written;      /* records the script wrote */
    enum rc_kind kind; /* the kind of rows being read */
    ap_pub_t *pub;
} inc_t;

static void inc_end(inc_t *c, const char *outcome)
{
    long written = c->written;
    if (c->tx)
        pgtx_rollback(c->tx, NULL, NULL); /* the rows go back to the outbox */
    count_pass("incremental", outcome, written, c->t0);
    if (strcmp(outcome, "ok") != 0)
        LOG_WARN("reconcile", "incremental pass failed; the outbox keeps its rows", "outcome", outcome, NULL);
    else if (written > 0) {
        char n[24];
        snprintf(n, sizeof n, "%ld", written);
        LOG_INFO("reconcile", "incremental pass repaired Redis", "records", n, NULL);
    }
    int batch_full = c->taken >= atol(RC_OUTBOX_BATCH), again = rc.inc_again;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].hashes);
    free(c->e);
    ap_pub_free(c->pub);
    free(c);
    rc.inc_running = 0;
    rc.inc_again = 0;
    if (rc.stopping) {
        maybe_stopped();
        return;
    }
    if (strcmp(outcome, "ok") != 0)
        return; /* the timer tries again */
    if (batch_full)
        inc_start(); /* a backlog: no gap */
    else if (again)
        inc_soon();
}

static void inc_on_commit(PGresult *res, const char *err, void *ud)
{
    inc_t *c = ud;
    c->tx = NULL;
    (void)err;
    inc_end(c, ap_res_ok(res) ? "ok" : "commit_failed");
}

static void inc_on_requeued(PGresult *res, const char *err, void *ud)
{
    inc_t *c = ud;
    (void)err;
    if (!ap_res_ok(res)) {
        inc_end(c, "db_failed"); /* rolled back: every row it took goes back */
        return;
    }
    pgtx_t *tx = c->tx;
    pgtx_commit(tx, inc_on_commit, c);
}

/* Commits the take, putting back first the accounts this process could not
 * publish: credentials sealed under a master key it lacks (a replica still
 * on the old keyring during a key rotation). Taken for good, they waited
 * for a full pass of a replica that has the key, an hour later by default
 * (found by an adversarial run); put back, the next pass of any replica
 * tries them again. */
static void inc_commit(inc_t *c)
{
    size_t nx = 0;
    for (size_t i = 0; i < c->n; i++)
        nx += c->e[i].kind[0] == 'x';
    if (nx == 0) {
        pgtx_t *tx = c->tx;
        pgtx_commit(tx, inc_on_commit, c);
        return;
    }
    char *refs[nx], vers[nx][24], *vp[nx];
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].kind[0] == 'x') {
            refs[k] = c->e[i].ref;
            snprintf(vers[k], sizeof vers[k], "%lld", c->e[i].version);
            vp[k] = vers[k];
            k++;
        }
    char *ids = array_lit(refs, nx), *versions = array_lit(vp, nx);
    const char *p[2] = {ids, versions};
    int r = pgtx_query(c->tx,
                       "INSERT INTO publish_outbox (kind, ref, version)"
                       " SELECT 'acct', ref, version FROM unnest($1::uuid[], $2::bigint[]) AS u(ref, version)",
                       2, p, inc_on_requeued, c);
    free(ids);
    free(versions);
    if (r != 0)
        inc_end(c, "db_failed");
}

static void inc_on_published(long written, const char *err, void *ud)
{
    inc_t *c = ud;
    if (written < 0) {
        LOG_WARN("reconcile", "publishing the outbox failed", "err", err ? err : "", NULL);
        inc_end(c, "redis_failed");
        return;
    }
    c->written = written;
    inc_commit(c);
}

static void inc_publish(void *ud)
{
    inc_t *c = ud;
    ap_pub_t *p = c->pub;
    c->pub = NULL;
    int rc2 = ap_pub_send(p, rc.app->redis, inc_on_published, c);
    if (rc2 > 0) {
        inc_commit(c); /* nothing to write (the rows were gone and had no tokens, or would not open) */
    } else if (rc2 < 0) {
        inc_end(c, "redis_down");
    }
}

/* The reads are done: publish (a pass that took outbox rows stops at the
 * test hook first, when it is armed). */
static void inc_read_done(inc_t *c)
{
    if (c->n == 0 || !th_wait(rc.app->loop, "reconcile_read", inc_publish, c))
        inc_publish(c);
}

static inc_entry_t *inc_find(inc_t *c, const char *kind, const char *ref)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].kind, kind) == 0 && strcmp(c->e[i].ref, ref) == 0)
            return &c->e[i];
    return NULL;
}

/* The rows the outbox named, kind by kind (servers, accounts, API keys):
 * each row's records (a server's with tombstones for the hashes its
 * changes touched), then tombstones for the rows that are gone (all of a
 * server's hashes, an account's record, an API key's hashes). */
static const char *const inc_kind[] = {[RC_SRV] = "srv", [RC_ACCT] = "acct", [RC_WSK] = "wsk"};

static void inc_read(inc_t *c);

static void inc_gone(inc_t *c, inc_entry_t *e)
{
    char **gone, suffix[128];
    size_t ng;
    switch (c->kind) {
    case RC_SRV:
        gone = split(e->hashes, &ng);
        ap_pub_server_gone(c->pub, (const char *const *)gone, ng, e->version);
        free(gone);
        break;
    case RC_ACCT:
        snprintf(suffix, sizeof suffix, "acct:%s", e->ref);
        ap_pub_tombstone(c->pub, suffix, e->version);
        break;
    case RC_WSK:
        gone = split(e->hashes, &ng);
        for (size_t j = 0; j < ng; j++) {
            snprintf(suffix, sizeof suffix, "wskey:%s", gone[j]);
            ap_pub_tombstone(c->pub, suffix, e->version);
        }
        free(gone);
        break;
    }
    e->kind[0] = 0;
}

static void inc_on_rows(PGresult *res, const char *err, void *ud)
{
    inc_t *c = ud;
    (void)err;
    if (!ap_res_ok(res)) {
        inc_end(c, "db_failed");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        inc_entry_t *e = inc_find(c, inc_kind[c->kind], PQgetvalue(res, i, 0));
        if (!e)
            continue;
        size_t nd = 0;
        char **dead = c->kind == RC_SRV ? split(e->hashes, &nd) : NULL;
        /* an account whose credentials do not open is left alone (logged) */
        e->kind[0] = rc_pub_row(c->pub, c->kind, res, i, (const char *const *)dead, nd) == 0 ? 0 : 'x';
        free(dead);
    }
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].kind, inc_kind[c->kind]) == 0)
            inc_gone(c, &c->e[i]);
    c->kind++;
    inc_read(c);
}

/* Reads the rows of the next kind the outbox named; publishes once every
 * kind is read. */
static void inc_read(inc_t *c)
{
    for (; c->kind < RC_NKINDS; c->kind++) {
        char *ids[c->n + 1];
        size_t n = 0;
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->e[i].kind, inc_kind[c->kind]) == 0)
                ids[n++] = c->e[i].ref;
        if (n == 0)
            continue;
        if (rc_query_rows(c->tx, c->kind, ids, n, inc_on_rows, c) != 0)
            inc_end(c, "db_failed");
        return;
    }
    inc_read_done(c);
}

static void inc_on_taken(PGresult *res, const char *err, void *ud)
{
    inc_t *c = ud;
    (void)err;
    if (!ap_res_ok(res)) {
        inc_end(c, "db_failed");
        return;
    }
    int rows = PQntuples(res);
    c->e = mem_calloc((size_t)rows + 1, sizeof *c->e);
    for (int i = 0; i < rows; i++) {
        inc_entry_t *e = &c->e[c->n++];
        str_copy(e->kind, sizeof e->kind, PQgetvalue(res, i, 0));
        str_copy(e->ref, sizeof e->ref, PQgetvalue(res, i, 1));
        e->version = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        e->hashes = mem_strdup(PQgetisnull(res, i, 3) ? "" : PQgetvalue(res, i, 3));
        c->taken = atol(PQgetvalue(res, i, 4));
    }
    c->kind = 0; /* the first kind */
    inc_read(c);
}

static void inc_on_begin(pgtx_t *tx, const char *err, void *ud)
{
    inc_t *c = ud;
    (void)err;
    if (!tx) {
        inc_end(c, "db_down");
        return;
    }
    c->tx = tx;
    c->read_ms = clock_now_ms();
    c->pub = ap_pub_new(rcli_prefix(rc.app->redis), c->read_ms);
    const char *none[1] = {NULL};
    /* One row per changed server or account: its newest outbox version and
     * every token hash its changes touched. The rows to take are an
     * ARRAY(...), evaluated once: "seq IN (SELECT ... LIMIT n FOR UPDATE SKIP
     * LOCKED)" may run its subquery again inside the join and take more.
     * Planned at each pass, not prepared: a prepared plan is made when the
     * outbox is nearly empty (a seq scan and a sort) and kept, so a backlog
     * of n rows cost every pass a scan of all n and a 500-way compare per
     * row: 50,000 changes took ~100 ms of PostgreSQL a pass, 7.5 s in all
     * (BENCHMARKS.md); planned with the outbox's size it walks the key. */
    if (pgtx_query_unprepared(tx,
                   "WITH o AS (DELETE FROM publish_outbox WHERE seq = ANY(ARRAY(SELECT seq FROM publish_outbox"
                   "  ORDER BY seq LIMIT " RC_OUTBOX_BATCH " FOR UPDATE SKIP LOCKED)) RETURNING kind, ref, hashes, version)"
                   " SELECT kind, ref::text, max(version), string_agg(DISTINCT h, ','), (SELECT count(*) FROM o)"
                   " FROM o LEFT JOIN LATERAL unnest(o.hashes) AS h ON true GROUP BY kind, ref",
                   0, none, inc_on_taken, c) != 0)
        inc_end(c, "db_failed");
}

static void inc_start(void)
{
    ap_app_t *app = rc.app;
    if (rc.inc_running || rc.stopping || !rcli_ready(app->redis) || !pgpool_ready(app->db))
        return;
    inc_t *c = mem_calloc(1, sizeof *c);
    c->t0 = uv_hrtime();
    rc.inc_running = 1;
    rc.last_inc_ms = uv_now(app->loop);
    uv_timer_stop(&rc.hint); /* this pass serves the hints that waited */
    if (pgpool_begin(app->db, inc_on_begin, c) != 0)
        inc_end(c, "db_down");
}

/* ==== full passes: every key against the rows, then every row against Redis ==== */

/* Redis keys against the rows first (keys no row accounts for become
 * tombstones), then the API key sets of the format before wskey: records
 * are removed, then rows against Redis (accounts, API keys, servers). The
 * key phases first: after a restart of Redis from a snapshot (or a failover
 * to a lagging replica) a deleted server's record, or a rotated-out token's,
 * is back and live, and its URL works until the pass tombstones it; behind
 * the rows phases that was minutes at scale. */
enum full_phase { PH_SRV_KEYS, PH_ACCT_KEYS, PH_WSK_KEYS, PH_LEGACY, PH_ACCT, PH_WSK, PH_SRV, PH_DONE };

_Static_assert(PH_WSK - PH_ACCT == RC_WSK - RC_ACCT && PH_SRV - PH_ACCT == RC_SRV - RC_ACCT,
               "the rows phases follow enum rc_kind");

/* The kind of rows a rows phase walks (the phases in the order of enum rc_kind). */
static enum rc_kind phase_rows(enum full_phase ph)
{
    return (enum rc_kind)(RC_ACCT + (ph - PH_ACCT));
}

/* What a key phase scans: the pattern's kind and how the rest of a key
 * must look to name a row (64 hex digits, or a uuid). */
static const char *phase_kind(enum full_phase ph)
{
    return ph == PH_SRV_KEYS ? "srv" : ph == PH_ACCT_KEYS ? "acct" : ph == PH_WSK_KEYS ? "wskey" : "wskeys";
}

static int key_rest_ok(enum full_phase ph, const char *rest)
{
    if (ph == PH_ACCT_KEYS)
        return ap_is_uuid(rest);
    return strlen(rest) == SECRET_HASH_HEX_LEN && strspn(rest, "0123456789abcdef") == SECRET_HASH_HEX_LEN;
}

typedef struct full_s {
    enum full_phase phase;
    uint64_t t0;
    char cursor[AP_UUID_LEN + 1]; /* last id of the previous chunk; "" first */
    char scan[32];                /* SCAN cursor */
    int chunks;                   /* chunks published: the hook stops at the first */
    long rows, written;
    uint64_t chunk_t0;            /* uv_hrtime() when the chunk's first query went out */
    uint64_t chunk_ms;            /* how long the chunk took (the rest after it) */
    char **ids;                   /* the chunk's ids */
    long long *versions;          /* their rows' versions */
    char **keys;                  /* full key names compared, 1 or 2 per row */
    size_t *key_row;              /* the row of each key */
    size_t n, nkeys;
    ap_pub_t *pub;
    long long marker_t;           /* the reconcile marker's T when the pass started (ap_publish.h) */
    long unopened;                /* accounts whose credentials this process cannot open (not published) */
} full_t;

static void full_next(struct full_s *c);

static void full_clear_chunk(full_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->ids[i]);
    for (size_t i = 0; i < c->nkeys; i++)
        free(c->keys[i]);
    free(c->ids);
    free(c->versions);
    free(c->keys);
    free(c->key_row);
    c->ids = c->keys = NULL;
    c->versions = NULL;
    c->key_row = NULL;
    c->n = c->nkeys = 0;
    ap_pub_free(c->pub);
    c->pub = NULL;
}

static void full_end(full_t *c, const char *outcome)
{
    full_clear_chunk(c);
    count_pass("full", outcome, c->written, c->t0);
    char rows[24], w[24], ms[32];
    snprintf(rows, sizeof rows, "%ld", c->rows);
    snprintf(w, sizeof w, "%ld", c->written);
    snprintf(ms, sizeof ms, "%.1f", (double)(uv_hrtime() - c->t0) / 1e6);
    if (strcmp(outcome, "ok") != 0) {
        LOG_WARN("reconcile", "full pass failed", "outcome", outcome, "rows", rows, NULL);
        rc.last_full_ms = 0; /* try again at the next tick */
    } else if (c->written > 0) {
        LOG_INFO("reconcile", "full pass repaired Redis", "rows", rows, "records", w, "ms", ms, NULL);
    } else {
        LOG_DEBUG("reconcile", "full pass", "rows", rows, "ms", ms, NULL);
    }
    /* Every row is published as of after the loss at marker_t (this pass
     * began after it): the marker is done, unless another loss made a new
     * one meanwhile, or this process could not publish some accounts (a
     * replica still on the old keyring during a key rotation: marked done
     * by it, the loss would leave those accounts out of Redis until a
     * replica with the key ran its hourly pass; found by an adversarial
     * run). Pending, the marker keeps the other replicas' passes coming. */
    if (strcmp(outcome, "ok") == 0 && c->marker_t >= 0 && c->unopened == 0)
        ap_pub_marker_done(rc.app->redis, c->marker_t);
    else if (strcmp(outcome, "ok") == 0 && c->unopened > 0) {
        char n[24];
        snprintf(n, sizeof n, "%ld", c->unopened);
        LOG_WARN("reconcile", "full pass left accounts it cannot open to a replica with their key", "accounts", n,
                 NULL);
    }
    free(c);
    rc.full_running = 0;
    if (rc.full_again && !rc.stopping) {
        rc.full_again = 0;
        rc.last_full_ms = 0; /* at the next tick */
    }
    maybe_stopped();
}

static void on_rested(uv_timer_t *t)
{
    (void)t;
    full_t *c = rc.resting;
    rc.resting = NULL;
    full_next(c);
}

static void full_chunk_rest(void *ud);

/* The chunk is published: the next one after a rest as long as this one
 * took (every chunk stops at the test hook reconcile_full_chunk first,
 * when it is armed, so a test can look at Redis between two chunks). */
static void full_chunk_done(full_t *c)
{
    c->chunk_ms = (uv_hrtime() - c->chunk_t0) / 1000000;
    if (!th_wait(rc.app->loop, "reconcile_full_chunk", full_chunk_rest, c))
        full_chunk_rest(c);
}

static void full_chunk_rest(void *ud)
{
    full_t *c = ud;
    uint64_t took_ms = c->chunk_ms;
    if (rc.stopping || took_ms == 0) {
        full_next(c);
        return;
    }
    rc.resting = c;
    uv_timer_start(&rc.frest, on_rested, took_ms < 1000 ? took_ms : 1000, 0);
}

static void full_on_published(long written, const char *err, void *ud)
{
    full_t *c = ud;
    if (written < 0) {
        LOG_WARN("reconcile", "full pass: publishing failed", "err", err ? err : "", NULL);
        full_end(c, "redis_failed");
        return;
    }
    c->written += written;
    full_chunk_done(c);
}

static void full_publish(void *ud)
{
    full_t *c = ud;
    ap_pub_t *p = c->pub;
    c->pub = NULL;
    int r = ap_pub_send(p, rc.app->redis, full_on_published, c);
    if (r > 0)
        full_chunk_done(c);
    else if (r < 0)
        full_end(c, "redis_down");
}

/* A chunk's reads are done: publish what it found (the first chunk of a
 * pass stops at the test hook first). */
static void full_read_done(full_t *c)
{
    if (!c->pub)
        c->pub = ap_pub_new(rcli_prefix(rc.app->redis), clock_now_ms());
    if (c->chunks++ == 0 && th_wait(rc.app->loop, "reconcile_full_read", full_publish, c))
        return;
    full_publish(c);
}

/* The stale rows of a chunk, read again in full. */
static void full_on_stale(PGresult *res, const char *err, void *ud)
{
    full_t *c = ud;
    (void)err;
    if (!ap_res_ok(res)) {
        full_end(c, "db_failed");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++)
        c->unopened += rc_pub_row(c->pub, phase_rows(c->phase), res, i, NULL, 0) != 0;
    full_read_done(c);
}

static void full_on_versions(const long long *v, size_t n, const char *err, void *ud)
{
    full_t *c = ud;
    if (!v || n != c->nkeys) {
        LOG_WARN("reconcile", "full pass: reading versions failed", "err", err ? err : "", NULL);
        full_end(c, "redis_failed");
        return;
    }
    char *stale[c->n + 1];
    size_t ns = 0;
    for (size_t k = 0; k < n; k++) {
        size_t row = c->key_row[k];
        if (v[k] < c->versions[row] && (ns == 0 || stale[ns - 1] != c->ids[row]))
            stale[ns++] = c->ids[row];
    }
    int64_t read_ms = clock_now_ms();
    c->pub = ap_pub_new(rcli_prefix(rc.app->redis), read_ms);
    if (ns == 0) {
        full_read_done(c);
        return;
    }
    if (rc_query_rows(NULL, phase_rows(c->phase), stale, ns, full_on_stale, c) != 0)
        full_end(c, "db_down");
}

static void add_key(full_t *c, const char *fmt, const char *v, size_t row)
{
    char key[256];
    rcli_key(rc.app->redis, key, sizeof key, fmt, v);
    c->keys[c->nkeys] = mem_strdup(key);
    c->key_row[c->nkeys++] = row;
}

/* A chunk of rows: id, version, key hash(es). */
static void full_on_chunk(PGresult *res, const char *err, void *ud)
{
    full_t *c = ud;
    (void)err;
    if (!ap_res_ok(res)) {
        full_end(c, "db_failed");
        return;
    }
    full_clear_chunk(c);
    int rows = PQntuples(res);
    if (rows == 0) {
        c->phase++;
        c->cursor[0] = 0;
        full_next(c);
        return;
    }
    c->rows += rows;
    c->ids = mem_calloc((size_t)rows, sizeof *c->ids);
    c->versions = mem_calloc((size_t)rows, sizeof *c->versions);
    c->keys = mem_calloc((size_t)rows * 2, sizeof *c->keys);
    c->key_row = mem_calloc((size_t)rows * 2, sizeof *c->key_row);
    for (int i = 0; i < rows; i++) {
        c->ids[i] = mem_strdup(PQgetvalue(res, i, 0));
        c->versions[i] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        if (c->phase == PH_SRV) {
            add_key(c, "srv:%s", PQgetvalue(res, i, 2), (size_t)i);
            if (!PQgetisnull(res, i, 3))
                add_key(c, "srv:%s", PQgetvalue(res, i, 3), (size_t)i);
        } else if (c->phase == PH_ACCT) {
            add_key(c, "acct:%s", c->ids[i], (size_t)i);
        } else {
            add_key(c, "wskey:%s", PQgetvalue(res, i, 2), (size_t)i);
        }
    }
    c->n = (size_t)rows;
    str_copy(c->cursor, sizeof c->cursor, c->ids[rows - 1]);
    if (ap_pub_versions(rc.app->redis, c->keys, c->nkeys, full_on_versions, c) != 0)
        full_end(c, "redis_down");
}

/* Keys of a SCAN batch that no row accounts for become tombstones. */
static void full_on_orphans(PGresult *res, const char *err, void *ud)
{
    full_t *c = ud;
    (void)err;
    if (!ap_res_ok(res)) {
        full_end(c, "db_failed");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) { /* c->pub holds the batch's malformed keys already */
        char suffix[128];
        snprintf(suffix, sizeof suffix, "%s:%s", phase_kind(c->phase), PQgetvalue(res, i, 0));
        ap_pub_orphan(c->pub, suffix);
    }
    full_publish(c);
}

static void full_on_scan(redisReply *reply, const char *err, void *ud)
{
    full_t *c = ud;
    (void)err;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
        full_end(c, "redis_failed");
        return;
    }
    str_copy(c->scan, sizeof c->scan, reply->element[0]->str);
    if (strcmp(c->scan, "0") == 0)
        c->scan[0] = 'e'; /* this is the last batch */
    redisReply *keys = reply->element[1];
    size_t pl = strlen(rcli_prefix(rc.app->redis));
    size_t skip = pl + strlen(phase_kind(c->phase)) + 1;
    char *ids[keys->elements + 1];
    size_t n = 0;
    if (c->phase == PH_LEGACY) { /* wskeys:<workspace> sets: nothing reads them once wskey: records exist */
        for (size_t i = 0; i < keys->elements; i++)
            if (keys->element[i]->type == REDIS_REPLY_STRING)
                rcli_command(rc.app->redis, NULL, NULL, "DEL %s", keys->element[i]->str);
        full_next(c);
        return;
    }
    c->pub = ap_pub_new(rcli_prefix(rc.app->redis), clock_now_ms());
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= skip)
            continue;
        const char *rest = k->str + skip;
        if (key_rest_ok(c->phase, rest)) {
            ids[n++] = (char *)rest;
        } else { /* not a key any row could name */
            char suffix[600];
            snprintf(suffix, sizeof suffix, "%s", k->str + pl);
            ap_pub_orphan(c->pub, suffix);
        }
    }
    if (n == 0) {
        full_publish(c);
        return;
    }
    static const char *const orphan_sql[] = {
        [PH_SRV_KEYS] = "SELECT h FROM unnest($1::text[]) AS h WHERE NOT EXISTS (SELECT 1 FROM mcp_servers WHERE"
                        " token_hash = h) AND NOT EXISTS (SELECT 1 FROM mcp_servers WHERE prev_token_hash = h)",
        [PH_ACCT_KEYS] = "SELECT h::text FROM unnest($1::uuid[]) AS h WHERE NOT EXISTS"
                         " (SELECT 1 FROM integrated_accounts WHERE id = h)",
        [PH_WSK_KEYS] = "SELECT h FROM unnest($1::text[]) AS h WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE key_hash = h)",
    };
    char *arr = array_lit(ids, n);
    const char *p[1] = {arr};
    int r = pgpool_query(rc.app->db, orphan_sql[c->phase], 1, p, full_on_orphans, c);
    free(arr);
    if (r != 0)
        full_end(c, "db_down");
}

static void full_next(full_t *c)
{
    ap_app_t *app = rc.app;
    if (rc.stopping) {
        full_end(c, "stopped");
        return;
    }
    c->chunk_t0 = uv_hrtime();
    if (c->phase == PH_SRV || c->phase == PH_ACCT || c->phase == PH_WSK) {
        static const char *const chunk_sql[] = {
            [PH_SRV] = "SELECT id::text, version, token_hash, CASE WHEN " AP_SRV_PREV_LIVE " THEN prev_token_hash END"
                       " FROM mcp_servers WHERE id > $1::uuid"
                       " AND (expires_at IS NULL OR expires_at > now()) ORDER BY mcp_servers.id LIMIT " RC_CHUNK,
            [PH_ACCT] = "SELECT id::text, version FROM integrated_accounts"
                        " WHERE id > $1::uuid ORDER BY integrated_accounts.id LIMIT " RC_CHUNK,
            [PH_WSK] = "SELECT id::text, version, key_hash FROM api_keys"
                       " WHERE id > $1::uuid AND (expires_at IS NULL OR expires_at > now())"
                       " ORDER BY api_keys.id LIMIT " RC_CHUNK,
        };
        /* From the lowest uuid on: a plain range on the primary key (an
         * "IS NULL OR" would keep a prepared statement's plan off it), in
         * the order of the table's id, not of the id::text output column. */
        const char *p[1] = {c->cursor[0] ? c->cursor : "00000000-0000-0000-0000-000000000000"};
        int r = pgpool_query(app->db, chunk_sql[c->phase], 1, p, full_on_chunk, c);
        if (r != 0)
            full_end(c, "db_down");
        return;
    }
    if (c->phase >= PH_SRV_KEYS && c->phase <= PH_LEGACY) {
        if (c->scan[0] == 'e') { /* the last batch was done */
            c->phase++;
            c->scan[0] = 0;
            full_next(c);
            return;
        }
        char pattern[256];
        rcli_key(app->redis, pattern, sizeof pattern, "%s:*", phase_kind(c->phase));
        const char *argv[6] = {"SCAN", c->scan[0] ? c->scan : "0", "MATCH", pattern, "COUNT", RC_SCAN_COUNT};
        size_t avl[6];
        for (int i = 0; i < 6; i++)
            avl[i] = strlen(argv[i]);
        if (rcli_command_argv(app->redis, full_on_scan, c, 6, argv, avl) != 0)
            full_end(c, "redis_down");
        return;
    }
    full_end(c, "ok");
}

/* The marker as the pass starts: the pass marks that loss done at its end. */
static void full_on_marker(long long t, int done, int created, const char *err, void *ud)
{
    full_t *c = ud;
    (void)done;
    (void)created;
    if (t < 0) {
        LOG_WARN("reconcile", "full pass: reading the marker failed", "err", err ? err : "", NULL);
        full_end(c, "redis_failed");
        return;
    }
    c->marker_t = rc.full_marker_t = t;
    full_next(c);
}

static void full_start(void)
{
    ap_app_t *app = rc.app;
    if (rc.full_running || rc.stopping || !rcli_ready(app->redis) || !pgpool_ready(app->db))
        return;
    full_t *c = mem_calloc(1, sizeof *c);
    c->t0 = uv_hrtime();
    c->marker_t = rc.full_marker_t = -1;
    rc.full_running = 1;
    rc.last_full_ms = uv_now(app->loop) ? uv_now(app->loop) : 1;
    if (ap_pub_marker(app->redis, full_on_marker, c) != 0)
        full_end(c, "redis_down");
}

/* ==== NOTIFY jsmcp_publish: a hint that the outbox has work ==== */

/* A pass for a hint: at once when the last one started at least the gap
 * ago, else when the gap ends; after the running one when one runs. */
static void inc_soon(void)
{
    if (rc.stopping)
        return;
    if (rc.inc_running) {
        rc.inc_again = 1;
        return;
    }
    uint64_t now = uv_now(rc.app->loop), gap = rc.app->cfg.reconcile_hint_gap_ms;
    if (rc.last_inc_ms == 0 || now - rc.last_inc_ms >= gap)
        inc_start();
    else if (!uv_is_active((uv_handle_t *)&rc.hint))
        uv_timer_start(&rc.hint, on_hint_timer, rc.last_inc_ms + gap - now, 0);
}

static void on_hint_timer(uv_timer_t *t)
{
    (void)t;
    if (!rc.stopping)
        inc_start();
}

static void on_hint(void *ud, int connected)
{
    (void)ud;
    if (rc.stopping)
        return;
    if (connected && !rc.inc_running) /* after a (re)connect: what was missed meanwhile */
        inc_start();
    else
        inc_soon();
}

static void on_listen_stopped(void *arg)
{
    (void)arg;
    rc.listen = NULL;
    maybe_stopped();
}

/* ==== the timer, start and stop ==== */

/* The marker (ap_publish.h), read every tick: while it is pending (Redis
 * lost its data at T, and no full pass begun after T completed yet) this
 * replica runs a full pass, whoever noticed the loss: a replica that died
 * or stopped mid-pass, or could not start one (PostgreSQL away), leaves it
 * pending, and the others go on. A pass begun before T is run again. */
static void on_marker(long long t, int done, int created, const char *err, void *ud)
{
    (void)ud;
    if (rc.stopping || t < 0) {
        if (err && !rc.stopping)
            LOG_WARN("reconcile", "reading the marker failed", "err", err, NULL);
        return;
    }
    if (created)
        LOG_INFO("reconcile", "Redis lacks the published records' marker: full pass now", NULL);
    if (done)
        return;
    if (!rc.full_running)
        full_start();
    else if (rc.full_marker_t >= 0 && rc.full_marker_t < t)
        rc.full_again = 1;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    ap_app_t *app = rc.app;
    if (rc.stopping)
        return;
    uint64_t now = uv_now(app->loop);
    if (rc.last_inc_ms == 0 || now - rc.last_inc_ms >= app->cfg.reconcile_interval_ms)
        inc_start();
    if (rcli_ready(app->redis))
        ap_pub_marker(app->redis, on_marker, NULL);
    if (!rc.full_running && (rc.last_full_ms == 0 || now - rc.last_full_ms >= app->cfg.reconcile_full_interval_ms))
        full_start();
}

void ap_reconcile_start(ap_app_t *app)
{
    memset(&rc, 0, sizeof rc);
    rc.app = app;
    metrics_describe(app->metrics, "jsmcp_api_reconcile_runs_total", "counter",
                     "Reconcile passes by kind (incremental: the outbox; full: every row) and outcome");
    metrics_describe(app->metrics, "jsmcp_api_reconcile_repairs_total", "counter",
                     "Records reconcile wrote to Redis (missing or older there), by kind of pass");
    metrics_describe(app->metrics, "jsmcp_api_reconcile_last_pass_seconds", "gauge", "Duration of the last pass, by kind");
    uv_timer_init(app->loop, &rc.timer);
    rc.timer_open = 1;
    uv_timer_init(app->loop, &rc.frest);
    rc.frest_open = 1;
    uv_timer_init(app->loop, &rc.hint);
    rc.hint_open = 1;
    /* Ticks at the shorter of the two intervals (each pass checks its own),
     * at most every second (the marker check); the first soon after start
     * (connections come up asynchronously). */
    unsigned iv = app->cfg.reconcile_interval_ms;
    if (app->cfg.reconcile_full_interval_ms < iv)
        iv = app->cfg.reconcile_full_interval_ms;
    if (iv > 1000)
        iv = 1000;
    uv_timer_start(&rc.timer, on_tick, iv < 200 ? iv : 200, iv);
    /* The marker first of all on the connection (commands queue during the
     * first connect, in order): a Redis found empty gets it, pending, before
     * any write of this process is published. */
    rc.full_marker_t = -1;
    ap_pub_marker(app->redis, on_marker, NULL);
    rc.listen = ap_listen_start(app->loop, app->cfg.database_url, "jsmcp_publish", on_hint, NULL);
}

static void on_handle_closed(uv_handle_t *h)
{
    if (h == (uv_handle_t *)&rc.timer)
        rc.timer_open = 0;
    else if (h == (uv_handle_t *)&rc.hint)
        rc.hint_open = 0;
    else
        rc.frest_open = 0;
    maybe_stopped();
}

static void maybe_stopped(void)
{
    if (!rc.stopping || rc.inc_running || rc.full_running || rc.timer_open || rc.listen || rc.frest_open || rc.hint_open ||
        !rc.done)
        return;
    void (*d)(void *) = rc.done;
    rc.done = NULL;
    d(rc.done_arg);
}

void ap_reconcile_stop(ap_app_t *app, void (*done)(void *arg), void *arg)
{
    (void)app;
    rc.stopping = 1;
    rc.done = done;
    rc.done_arg = arg;
    uv_timer_stop(&rc.timer);
    uv_close((uv_handle_t *)&rc.timer, on_handle_closed);
    ap_listen_stop(rc.listen, on_listen_stopped, NULL);
    if (rc.resting) { /* a full pass resting between chunks ends now */
        uv_timer_stop(&rc.frest);
        full_t *c = rc.resting;
        rc.resting = NULL;
        full_next(c);
    }
    uv_close((uv_handle_t *)&rc.frest, on_handle_closed);
    uv_timer_stop(&rc.hint);
    uv_close((uv_handle_t *)&rc.hint, on_handle_closed);
    maybe_stopped();
}
