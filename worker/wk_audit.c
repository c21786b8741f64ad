/* wk_audit: see wk_audit.h.
 *
 * A record is one XADD command, copied into one allocation (rec_t), with a
 * call_id field added (unique: per-process random bytes and a counter), so
 * the API keeps one row per call however often the record reaches the
 * stream. It is first written to the process's spool file (wk_spool.h:
 * survives a kill -9 of the process), then the caller is told (the answer
 * goes out), then the XADD is sent; Redis's acknowledgement is noted in the
 * spool. So an answered call's record is on disk or in Redis, without
 * waiting for a round trip to Redis.
 *
 * When Redis cannot take a record (not connected, connection lost, timed
 * out, or an error reply that says it cannot take writes now: LOADING,
 * OOM, READONLY...: counted in jsmcp_worker_audit_refused_total) it waits
 * in a FIFO, and a 200 ms timer sends the oldest one again as a probe; once
 * Redis takes it, the rest follow. Other error replies (a bug, not an
 * outage) are not retried. Nothing is dropped for lack of room in memory:
 * what waits is bounded by the spool's room (JSMCP_AUDIT_SPOOL_MAX_MB), and a
 * call whose record could not be made durable is not started at all
 * (wk_audit_ready). A record that is not in the spool (no usable spool
 * directory, JSMCP_AUDIT_SPOOL_DIR=off, the spool full or failing) keeps
 * its call waiting until Redis has it; after WK_AUDIT_ANSWER_WAIT_MS the
 * call is answered with an error instead of its result (durable 0) and the
 * record still goes to Redis when it can.
 *
 * Records still waiting when a stopping worker gives up on Redis stay in
 * the spool; so do those of a process that died. Every WK_AUDIT_SCAN_TICKS
 * ticks (and at the first tick with Redis up) a process looks, on the
 * thread pool, for spool files no living process holds, takes them over
 * and sends their records that were not acknowledged (with their original
 * call_id); the file is removed once Redis has them all. */
#include "wk_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "wk_spool.h"

#define WK_AUDIT_RETRY_MS 200
#define WK_AUDIT_ANSWER_WAIT_MS 10000 /* longest a call waits for Redis to take a record not in the spool */
#define WK_AUDIT_DRAIN_WAIT_MS 3000 /* how long a stopping worker waits for replies */
#define WK_AUDIT_SCAN_TICKS 25      /* spool files of dead processes are looked for every 5 s */
#define WK_AUDIT_ADOPT_FILES 4      /* files taken over per look (each at most WK_SPOOL_FILE_MAX) */
/* A spooled record is safe already, so it need not reach Redis at once: it
 * waits up to WK_AUDIT_BATCH_MS (or until WK_AUDIT_BATCH_MAX wait) and goes
 * out with the others in one write. At low rates this saves a Redis wake-up
 * and a reply per call; the stream sees records at most that much later. */
#define WK_AUDIT_BATCH_MS 2
#define WK_AUDIT_BATCH_MAX 128

typedef struct rec_s {
    struct rec_s *next;
    struct rec_s *wprev, *wnext; /* in the waiting list while sent is set (not in the spool) */
    struct wk_audit_s *a;
    void (*sent)(void *ud, int durable); /* the caller's, once; NULL after */
    void *ud;
    uint64_t t_ms;          /* uv_now() when appended (backlog age) */
    wk_spool_seg_t *seg;    /* the spool file holding it; NULL: not spooled */
    char call_id[WK_SPOOL_ID_LEN + 1];
    wk_spool_args_t args;
} rec_t;

struct wk_audit_s {
    wk_worker_t *w;
    rec_t *head, *tail;
    rec_t *waiting;         /* records whose call waits for Redis (not spooled), oldest first */
    size_t queued, inflight;
    size_t spooled;         /* records in the spool Redis has not acknowledged */
    int refusing;           /* Redis refused or failed the last write: send one probe at a time */
    int probing;            /* a probe (the oldest record, or a SET when none waits) is in flight */
    rec_t *probing_rec;     /* the record sent as the probe (NULL: the SET) */
    char slot_label[32];    /* process="<slot>": per-process gauges summed over the pool stay apart */
    uv_timer_t timer;
    uv_timer_t batch;       /* sends the spooled records that wait (WK_AUDIT_BATCH_MS) */
    int batch_armed;
    int open_timers;        /* timer + batch until both are closed */
    wk_spool_t *spool;      /* NULL: no spool, answers wait for Redis */
    unsigned ticks;
    int scanning;           /* a look for dead processes' files runs on the thread pool */
    int spool_failing;      /* the last record could not be spooled (logged once) */
    int stopping;
    uint64_t stop_at;
    void (*done)(wk_worker_t *w);
};

/* One look for dead processes' spool files (thread pool). */
typedef struct scan_s {
    uv_work_t req;
    wk_audit_t *a;
    char dir[512];
    wk_spool_orphan_t *found;
} scan_t;

static void wait_unlink(rec_t *r)
{
    wk_audit_t *a = r->a;
    if (r->wprev)
        r->wprev->wnext = r->wnext;
    else if (a->waiting == r)
        a->waiting = r->wnext;
    if (r->wnext)
        r->wnext->wprev = r->wprev;
    r->wprev = r->wnext = NULL;
}

/* Tells the caller its record is durable (or will not be reported so). */
static void rec_sent(rec_t *r, int durable)
{
    void (*sent)(void *, int) = r->sent;
    r->sent = NULL;
    wait_unlink(r);
    if (sent)
        sent(r->ud, durable);
}

/* Redis has the record (or refused it for good): frees it. */
static void rec_free(rec_t *r)
{
    rec_sent(r, 1);
    free(r);
}

static rec_t *rec_new(wk_audit_t *a, int argc, const char **argv, const size_t *len)
{
    rec_t *r = wk_spool_args_dup(sizeof *r, offsetof(rec_t, args), argc, argv, len);
    r->a = a;
    return r;
}

static void push(wk_audit_t *a, rec_t *r)
{
    r->next = NULL;
    if (a->tail)
        a->tail->next = r;
    else
        a->head = r;
    a->tail = r;
    a->queued++;
}

/* Back into the FIFO (Redis is not there, or refused it for now). Its
 * call keeps waiting when it is not in the spool. */
static void enqueue(wk_audit_t *a, rec_t *r)
{
    push(a, r);
}

/* A stopping worker gives up on r: a spooled record stays in the spool
 * for another process to replay; any other is lost, and its call (if it
 * still waits) is not answered with its result. */
static void give_up(wk_audit_t *a, rec_t *r)
{
    if (!r->seg)
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_dropped_total", "", 1);
    rec_sent(r, 0);
    free(r);
}

/* Error replies of a Redis that is loading its data, out of memory, a
 * replica, or failing over: the record is sent again later. Any other
 * error means the command itself is wrong, and sending it again cannot help. */
static int transient(const char *err)
{
    static const char *const codes[] = {"LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN",
                                        "CLUSTERDOWN", "NOREPLICAS", NULL};
    for (int i = 0; codes[i]; i++)
        if (err && strncmp(err, codes[i], strlen(codes[i])) == 0)
            return 1;
    return 0;
}

/* Counts a write Redis refused, by its error code (a bounded set). */
static void count_refused(wk_audit_t *a, const char *err)
{
    static const char *const codes[] = {"LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN",
                                        "CLUSTERDOWN", "NOREPLICAS", NULL};
    const char *code = "unavailable"; /* no reply: not connected, lost, timed out */
    for (int i = 0; err && codes[i]; i++)
        if (strncmp(err, codes[i], strlen(codes[i])) == 0)
            code = codes[i];
    char l[48];
    snprintf(l, sizeof l, "code=\"%s\"", code);
    metrics_inc(a->w->metrics, "jsmcp_worker_audit_refused_total", l, 1);
}

static void flush(wk_audit_t *a);

static void maybe_done(wk_audit_t *a);

static void on_reply(redisReply *reply, const char *err, void *ud)
{
    rec_t *r = ud;
    wk_audit_t *a = r->a;
    a->inflight--;
    /* Redis there but unable to take it now is an outage too. */
    int outage = !reply || (reply->type == REDIS_REPLY_ERROR && transient(reply->str));
    if (r == a->probing_rec)
        a->probing = 0, a->probing_rec = NULL;
    if (!outage) {
        if (reply->type == REDIS_REPLY_ERROR) {
            LOG_WARN("audit", "Redis refused an audit record", "err", reply->str, NULL);
            metrics_inc(a->w->metrics, "jsmcp_worker_audit_dropped_total", "", 1);
        }
        if (r->seg) { /* in Redis (or refused for good): replaying it would not help */
            wk_spool_ack(a->spool, r->seg, r->call_id);
            a->spooled--;
        }
        rec_free(r);
        if (a->refusing) { /* Redis takes writes again: what waits follows */
            a->refusing = 0;
            LOG_INFO("audit", "Redis takes audit records again", NULL);
            flush(a);
        }
    } else if (a->stopping && uv_now(a->w->loop) >= a->stop_at) {
        give_up(a, r);
    } else {
        if (!a->refusing)
            LOG_WARN("audit", "Redis does not take audit records; they wait (spool or memory)", "err",
                     reply ? reply->str : (err ? err : "redis unavailable"), NULL);
        a->refusing = 1;
        count_refused(a, reply ? reply->str : NULL);
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_retried_total", "", 1);
        enqueue(a, r);
    }
    maybe_done(a);
}

static void send_rec(wk_audit_t *a, rec_t *r)
{
    a->inflight++;
    if (rcli_command_argv(a->w->redis, on_reply, r, r->args.argc, r->args.argv, r->args.len) != 0) {
        a->inflight--;
        if (r == a->probing_rec)
            a->probing = 0, a->probing_rec = NULL;
        enqueue(a, r);
    }
}

/* Sends r now, behind the records that wait (a batch goes out first, to
 * keep the order), or queues it when Redis is not there or refuses writes. */
static void submit(wk_audit_t *a, rec_t *r)
{
    if (a->head)
        flush(a);
    if (a->head || a->refusing)
        enqueue(a, r);
    else
        send_rec(a, r);
}

/* Sends what waits, if Redis is there; while it refuses writes, only the
 * oldest record, as a probe. */
static void flush(wk_audit_t *a)
{
    if (!rcli_ready(a->w->redis) || !a->head)
        return;
    if (a->refusing) {
        if (a->probing)
            return;
        rec_t *r = a->head;
        a->head = r->next;
        if (!a->head)
            a->tail = NULL;
        a->queued--;
        a->probing = 1;
        a->probing_rec = r;
        send_rec(a, r);
        return;
    }
    rec_t *r = a->head;
    a->head = a->tail = NULL;
    size_t n = a->queued;
    a->queued = 0;
    while (r && n--) {
        rec_t *next = r->next;
        send_rec(a, r);
        r = next;
    }
}

static void on_batch(uv_timer_t *t)
{
    wk_audit_t *a = t->data;
    a->batch_armed = 0;
    flush(a);
}

int wk_audit_ready(wk_worker_t *w)
{
    wk_audit_t *a = w->audit;
    if (!a || a->stopping)
        return 0;
    if (a->spool && !a->spool_failing && wk_spool_has_room(a->spool))
        return 1;
    return rcli_ready(w->redis) && !a->refusing; /* the record will wait for Redis's answer */
}

/* A record durable at once (in the spool): its caller hears of it from
 * the loop, as of any callback (defer.h). */
typedef struct sent_later_s {
    defer_entry_t later;
    void (*sent)(void *ud, int durable);
    void *ud;
} sent_later_t;

static void on_sent_later(defer_entry_t *e)
{
    sent_later_t *s = (sent_later_t *)e;
    s->sent(s->ud, 1);
    free(s);
}

void wk_audit_append(wk_worker_t *w, int argc, const char **argv, void (*sent)(void *ud, int durable), void *ud)
{
    wk_audit_t *a = w->audit;
    const char *av[WK_SPOOL_MAX_ARGS];
    size_t len[WK_SPOOL_MAX_ARGS];
    char id[WK_SPOOL_ID_LEN + 1];
    int n = 0;
    wk_spool_new_id(id);
    for (int i = 0; i < argc && i < WK_SPOOL_MAX_ARGS - 2; i++, n++) {
        av[n] = argv[i];
        len[n] = strlen(argv[i]);
    }
    if (n < argc) /* a programming error in the caller, not a runtime condition */
        LOG_ERROR("audit", "audit record with too many fields, cut", NULL);
    av[n] = "call_id";
    len[n++] = 7;
    av[n] = id;
    len[n++] = WK_SPOOL_ID_LEN;
    rec_t *r = rec_new(a, n, av, len);
    memcpy(r->call_id, id, sizeof id);
    r->sent = sent;
    r->ud = ud;
    r->t_ms = uv_now(w->loop);
    if (a->spool) {
        const char *why = NULL;
        r->seg = wk_spool_write(a->spool, id, r->args.argc, r->args.argv, r->args.len, &why);
        if (!r->seg)
            metrics_inc(w->metrics, "jsmcp_worker_audit_spool_errors_total", "", 1);
        /* Logged when it starts and when it ends, not per call (a full disk). */
        if ((r->seg == NULL) != a->spool_failing) {
            a->spool_failing = !r->seg;
            if (a->spool_failing)
                LOG_WARN("audit", "audit records not spooled: answers wait for Redis", "why", why, NULL);
            else
                LOG_INFO("audit", "audit records spooled again", NULL);
        }
    }
    if (!r->seg) {
        /* Not durable yet: the call waits for Redis (or the deadline). */
        r->wnext = a->waiting;
        if (a->waiting)
            a->waiting->wprev = r;
        a->waiting = r;
        submit(a, r);
        return;
    }
    /* On disk: answer at once; the record joins the batch for Redis first,
     * so whatever the answer callback does finds the audit state settled. */
    a->spooled++;
    metrics_inc(w->metrics, "jsmcp_worker_audit_spooled_total", "", 1);
    r->sent = NULL;
    push(a, r);
    if (a->queued >= WK_AUDIT_BATCH_MAX) {
        flush(a);
    } else if (!a->batch_armed) {
        a->batch_armed = 1;
        uv_timer_start(&a->batch, on_batch, WK_AUDIT_BATCH_MS, 0);
    }
    sent_later_t *s = mem_alloc(sizeof *s);
    s->sent = sent;
    s->ud = ud;
    defer_call(&w->defer, w->loop, &s->later, on_sent_later);
}

/* ---- replay of dead processes' spool files ---- */

static void on_replay_rec(void *ud, wk_spool_seg_t *seg, const char *call_id, int argc, const char **argv,
                          const size_t *len)
{
    wk_audit_t *a = ud;
    rec_t *r = rec_new(a, argc, argv, len);
    r->seg = seg;
    r->t_ms = uv_now(a->w->loop);
    a->spooled++;
    memcpy(r->call_id, call_id, sizeof r->call_id);
    submit(a, r);
}

static void scan_work(uv_work_t *req)
{
    scan_t *sc = req->data;
    sc->found = wk_spool_find(sc->dir, WK_AUDIT_ADOPT_FILES);
}

static void scan_done(uv_work_t *req, int status)
{
    scan_t *sc = req->data;
    wk_audit_t *a = sc->a;
    a->scanning = 0;
    if (status != 0 || a->stopping) {
        wk_spool_orphans_free(sc->found); /* left for the next process to look */
    } else {
        size_t files = 0, recs = 0, bad = 0;
        for (wk_spool_orphan_t *o = sc->found, *next; o; o = next) {
            size_t b = 0;
            next = wk_spool_orphan_next(o);
            recs += wk_spool_adopt(a->spool, o, on_replay_rec, a, &b);
            bad += b;
            files++;
        }
        if (recs || bad) {
            char f[24], n[24], nb[24];
            snprintf(f, sizeof f, "%zu", files);
            snprintf(n, sizeof n, "%zu", recs);
            snprintf(nb, sizeof nb, "%zu", bad);
            LOG_INFO("audit", "replaying audit records a stopped worker process left in its spool", "files", f,
                     "records", n, "damaged_lines", nb, NULL);
            metrics_inc(a->w->metrics, "jsmcp_worker_audit_replayed_total", "", (double)recs);
        }
    }
    free(sc);
    maybe_done(a);
}

/* Looks for spool files of dead processes, on the thread pool (it reads
 * files). Only while Redis is up and nothing waits: adopted records are
 * meant to go out at once, and a worker in an outage has enough to hold. */
static void maybe_scan(wk_audit_t *a)
{
    if (!a->spool || a->scanning || a->stopping || a->queued > WK_AUDIT_BATCH_MAX || !rcli_ready(a->w->redis))
        return;
    if (a->ticks++ % WK_AUDIT_SCAN_TICKS)
        return;
    scan_t *sc = mem_calloc(1, sizeof *sc);
    sc->a = a;
    sc->req.data = sc;
    snprintf(sc->dir, sizeof sc->dir, "%s", wk_spool_dir(a->spool));
    if (uv_queue_work(a->w->loop, &sc->req, scan_work, scan_done) != 0) {
        free(sc);
        return;
    }
    a->scanning = 1;
}

/* The probe of a Redis that refused writes while no record waits (every
 * call refused at the door): a write of the same kind of memory. */
static void on_probe(redisReply *reply, const char *err, void *ud)
{
    wk_audit_t *a = ud;
    (void)err;
    a->probing = 0;
    if (reply && reply->type == REDIS_REPLY_STATUS && a->refusing) {
        a->refusing = 0;
        LOG_INFO("audit", "Redis takes audit records again", NULL);
        flush(a);
    }
    maybe_done(a);
}

static void on_timer(uv_timer_t *t)
{
    wk_audit_t *a = t->data;
    uint64_t now = uv_now(a->w->loop);
    flush(a);
    if (a->refusing && !a->head && !a->probing && !a->stopping && rcli_ready(a->w->redis)) {
        char key[200];
        rcli_key(a->w->redis, key, sizeof key, "audit:probe");
        a->probing = 1;
        a->probing_rec = NULL;
        if (rcli_command(a->w->redis, on_probe, a, "SET %s 1 PX 10000", key) != 0)
            a->probing = 0;
    }
    /* Calls that waited too long for a record Redis would not take are
     * answered without their result (the record still goes to Redis). */
    while (a->waiting) {
        rec_t *last = a->waiting;
        while (last->wnext)
            last = last->wnext;
        if (now - last->t_ms < WK_AUDIT_ANSWER_WAIT_MS)
            break;
        metrics_inc(a->w->metrics, "jsmcp_worker_audit_unrecorded_total", "", 1);
        rec_sent(last, 0);
    }
    if (a->spool) {
        wk_spool_flush(a->spool);
        metrics_set(a->w->metrics, "jsmcp_worker_audit_spool_bytes", "", (double)wk_spool_bytes(a->spool));
    }
    metrics_set(a->w->metrics, "jsmcp_worker_audit_pending", "", (double)a->queued);
    metrics_set(a->w->metrics, "jsmcp_worker_audit_spooled", a->slot_label, (double)a->spooled);
    metrics_set(a->w->metrics, "jsmcp_worker_audit_backlog_age_seconds", a->slot_label,
                a->head ? (double)(now - a->head->t_ms) / 1000.0 : 0.0);
    metrics_set(a->w->metrics, "jsmcp_worker_audit_accepting", a->slot_label, wk_audit_ready(a->w));
    maybe_scan(a);
    if (a->stopping)
        maybe_done(a);
}

/* The spool's subdirectory: the Redis destination (server and prefix,
 * without credentials), so a file is only ever replayed where its records
 * were going. */
static void destination(const wk_worker_t *w, char *out, size_t outsz)
{
    const char *url = w->cfg->redis_url ? w->cfg->redis_url : "";
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        host = at + 1;
    char hash[SECRET_HASH_HEX_LEN + 1];
    buf_t b;
    buf_init(&b, 4096);
    /* Over 4 KB (an absurd Redis URL): the host alone, still one name per destination. */
    if (buf_printf(&b, "%s\n%s", host, rcli_prefix(w->redis)) != 0)
        secret_hash_hex(host, strlen(host), hash);
    else
        secret_hash_hex(b.data, b.len, hash);
    buf_free(&b);
    snprintf(out, outsz, "%.16s", hash);
}

static void open_spool(wk_audit_t *a)
{
    char def[400], sub[24], err[512];
    snprintf(def, sizeof def, "%s/jsmcp-spool", cfg_str("TMPDIR", "/tmp"));
    const char *dir = cfg_str("JSMCP_AUDIT_SPOOL_DIR", def);
    if (strcmp(dir, "off") == 0) {
        LOG_INFO("audit", "audit spool off: each tool call waits for Redis to take its record", NULL);
        return;
    }
    destination(a->w, sub, sizeof sub);
    a->spool = wk_spool_open(dir, sub, a->w->slot, err, sizeof err);
    if (a->spool) {
        cfg_err_t ce = {0};
        long mb = cfg_int("JSMCP_AUDIT_SPOOL_MAX_MB", WK_SPOOL_MAX_BYTES >> 20, 1, 1 << 20, &ce);
        if (ce.n)
            LOG_ERROR("audit", "JSMCP_AUDIT_SPOOL_MAX_MB ignored", "why", ce.msg, NULL);
        else
            wk_spool_set_max(a->spool, (uint64_t)mb << 20);
    }
    if (!a->spool)
        LOG_ERROR("audit", "no audit spool (see JSMCP_AUDIT_SPOOL_DIR): each tool call waits for Redis to take its record",
                  "why", err, NULL);
}

int wk_audit_start(wk_worker_t *w)
{
    wk_audit_t *a = mem_calloc(1, sizeof *a);
    a->w = w;
    w->audit = a;
    snprintf(a->slot_label, sizeof a->slot_label, "process=\"%d\"", w->slot);
    metrics_describe(w->metrics, "jsmcp_worker_audit_pending", "gauge", "Audit records waiting for Redis");
    metrics_describe(w->metrics, "jsmcp_worker_audit_retried_total", "counter", "Audit records sent again after a Redis outage");
    metrics_describe(w->metrics, "jsmcp_worker_audit_dropped_total", "counter",
                     "Audit records given up (Redis refused them for good, or down at exit for records not in the spool)");
    metrics_describe(w->metrics, "jsmcp_worker_audit_refused_total", "counter",
                     "Audit record writes Redis refused or failed (code: OOM, READONLY, ... or unavailable); they are retried");
    metrics_describe(w->metrics, "jsmcp_worker_audit_spooled_total", "counter", "Audit records written to the spool");
    metrics_describe(w->metrics, "jsmcp_worker_audit_spooled", "gauge",
                     "Audit records in this process's spool that Redis has not acknowledged");
    metrics_describe(w->metrics, "jsmcp_worker_audit_backlog_age_seconds", "gauge",
                     "Age of the oldest audit record of this process waiting for Redis");
    metrics_describe(w->metrics, "jsmcp_worker_audit_accepting", "gauge",
                     "1 when this process can make a new call's record durable (spool room, or Redis taking writes)");
    metrics_describe(w->metrics, "jsmcp_worker_audit_unrecorded_total", "counter",
                     "Calls answered with an error instead of their result: their record was not durable in time");
    metrics_describe(w->metrics, "jsmcp_worker_audit_calls_refused_total", "counter",
                     "Tool calls not started because no durable place for their audit record was available");
    metrics_describe(w->metrics, "jsmcp_worker_audit_spool_errors_total", "counter",
                     "Audit records that could not be written to the spool (their answer waited for Redis)");
    metrics_describe(w->metrics, "jsmcp_worker_audit_spool_bytes", "gauge", "Bytes in this process's audit spool files");
    metrics_describe(w->metrics, "jsmcp_worker_audit_replayed_total", "counter",
                     "Audit records sent from spool files that worker processes which died left behind");
    open_spool(a);
    uv_timer_init(w->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_timer, WK_AUDIT_RETRY_MS, WK_AUDIT_RETRY_MS);
    uv_unref((uv_handle_t *)&a->timer);
    uv_timer_init(w->loop, &a->batch);
    a->batch.data = a;
    a->open_timers = 2;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    wk_audit_t *a = h->data;
    if (--a->open_timers > 0)
        return;
    void (*done)(wk_worker_t *) = a->done;
    wk_worker_t *w = a->w;
    w->audit = NULL;
    free(a);
    done(w);
}

static void maybe_done(wk_audit_t *a)
{
    if (!a->stopping || a->stopping == 2)
        return;
    int late = uv_now(a->w->loop) >= a->stop_at;
    if (a->inflight > 0 || a->scanning || (a->probing && !a->probing_rec) || (a->queued > 0 && !late))
        return;
    /* Everything is in Redis, or the wait is over: what is left stays in
     * the spool (or, not spooled, is lost). */
    for (rec_t *r = a->head, *next; r; r = next) {
        next = r->next;
        give_up(a, r);
    }
    a->head = a->tail = NULL;
    a->queued = 0;
    size_t left = wk_spool_close(a->spool);
    a->spool = NULL;
    if (left) {
        char n[24];
        snprintf(n, sizeof n, "%zu", left);
        LOG_WARN("audit", "audit records not yet in Redis stay in the spool for the next worker process", "records",
                 n, NULL);
    }
    a->stopping = 2;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
    uv_timer_stop(&a->batch);
    uv_close((uv_handle_t *)&a->batch, on_timer_closed);
}

void wk_audit_stop(wk_worker_t *w, void (*done)(wk_worker_t *w))
{
    wk_audit_t *a = w->audit;
    a->stopping = 1;
    a->done = done;
    a->stop_at = uv_now(w->loop) + WK_AUDIT_DRAIN_WAIT_MS;
    uv_ref((uv_handle_t *)&a->timer); /* keep the loop alive while records wait */
    flush(a);
    maybe_done(a);
}
