/* ap_delivery: see ap_delivery.h.
 *
 * State: one dl_t per process (the timer, the HTTP client, counters); one
 * dl_job_t per attempt in flight, freed in job_free() once its result is
 * recorded. `ops` counts everything outstanding (queries, Redis commands,
 * requests) so that stopping waits for all of it. */
#include "ap_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ap_input.h"
#include "buf.h"
#include "cfg.h"
#include "httpc.h"
#include "jsontext.h"
#include "log.h"
#include "clock.h"

#define DL_RESPONSE_KEEP 256 /* bytes of a receiver's answer kept in the log */

typedef struct dl_s {
    ap_app_t *app;
    httpc_t *http;
    uv_timer_t timer;
    uint64_t poll_ms, scan_ms, timeout_ms, retry_ms, retry_max_ms, deadline_ms, backlog_ms;
    long concurrency, retention_days;
    char lease_ms[24];
    char per_webhook[24];  /* attempts of one webhook in flight, all replicas */
    char per_workspace[24]; /* attempts of one workspace's webhooks in flight, all replicas */
    char disable_after[24]; /* failed deliveries in a row that disable a webhook; 0: never */
    char disable_failing_ms[24]; /* ... and for at least this long */
    char audit_key[256];
    size_t inflight;       /* attempts claimed and not yet recorded */
    size_t ops;            /* queries, commands and requests outstanding */
    int claiming;
    int again;             /* a kick came while claiming: claim once more */
    uint64_t last_scan_ms;
    int closing;
    void (*done)(void *arg);
    void *done_arg;
} dl_t;

static dl_t dl;

typedef struct dl_job_s {
    char id[AP_UUID_LEN + 1];
    char webhook_id[AP_UUID_LEN + 1];
    char event[64];
    int attempt;
    int64_t created_ms;
    char *payload;
    uint64_t start_ns;
    /* the outcome */
    int status;            /* HTTP status, 0 = none */
    char err[256];
    char response[DL_RESPONSE_KEEP + 1];
} dl_job_t;

static void claim(void);

static void job_free(dl_job_t *j)
{
    free(j->payload);
    free(j);
}

/* Called when an outstanding operation ends; finishes a stop. */
static void op_done(void)
{
    dl.ops--;
    if (dl.closing && dl.ops == 0 && dl.done) {
        void (*d)(void *) = dl.done;
        dl.done = NULL;
        d(dl.done_arg);
    }
}

void ap_delivery_sign(const char *secret, long long t, const char *body, size_t len, char *out, size_t outsz)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24], hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    int n = snprintf(ts, sizeof ts, "%lld.", t);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, outsz, "t=%lld,v1=%s", t, hex);
    sodium_memzero(&st, sizeof st);
}

/* ---- recording an attempt ---- */

static void on_recorded(PGresult *res, const char *err, void *ud)
{
    dl_job_t *j = ud;
    if (!ap_res_ok(res) || PQntuples(res) != 1)
        LOG_WARN("webhook", "cannot record a delivery attempt; it is retried when its lease passes", "delivery", j->id,
                 "err", err ? err : res ? PQresultErrorMessage(res) : "", NULL);
    else if (atol(PQgetvalue(res, 0, 0)) == 0)
        LOG_WARN("webhook", "delivery attempt not recorded: its lease had passed or its webhook is gone", "delivery",
                 j->id, NULL);
    else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        /* This outcome disabled the webhook (record()): its other pending
         * deliveries wait until it is enabled again. */
        metrics_inc(dl.app->metrics, "jsmcp_api_webhooks_disabled_total", "", 1);
        LOG_WARN("webhook", "webhook disabled: its receiver keeps failing", "webhook", j->webhook_id, "delivery", j->id,
                 "reason", PQgetvalue(res, 0, 2), NULL);
    }
    job_free(j);
    dl.inflight--;
    op_done();
    claim(); /* a slot is free */
}

/* The next attempt's delay: retry_ms doubled per attempt made, capped,
 * with +-20 % jitter so that receivers that failed together are not
 * retried together. */
static uint64_t backoff_ms(int attempt)
{
    uint64_t d = dl.retry_ms;
    for (int i = 1; i < attempt && d < dl.retry_max_ms; i++)
        d *= 2;
    if (d > dl.retry_max_ms)
        d = dl.retry_max_ms;
    int pct = 80 + (int)randombytes_uniform(41);
    return d * (uint64_t)pct / 100;
}

/* SQL (record()): this failed delivery disables webhook h, the run of
 * failures it ends being rec.status's. */
#define DL_DISABLES                                                                                     \
    "(rec.status = 'failed' AND h.disabled_at IS NULL AND $9::int > 0"                                 \
    " AND h.consecutive_failures + 1 >= $9::int"                                                        \
    " AND coalesce(h.failing_since, rec.created_at) <= now() - $10::bigint * interval '1 millisecond')"

static void record(dl_job_t *j)
{
    int ok = j->status >= 200 && j->status < 300;
    double ms = (double)(uv_hrtime() - j->start_ns) / 1e6;
    int64_t now = clock_now_ms();
    uint64_t delay = ok ? 0 : backoff_ms(j->attempt);
    int final = ok || j->attempt >= AP_DELIVERY_MAX_ATTEMPTS ||
                now + (int64_t)delay > j->created_ms + (int64_t)dl.deadline_ms;
    char at[40];
    clock_format_iso(now, 1, at, sizeof at);
    json_t *entry = json_pack("{s:i, s:s, s:o, s:o, s:o, s:f}", "attempt", j->attempt, "at", at, "status",
                              j->status ? json_integer(j->status) : json_null(), "error",
                              j->err[0] ? json_string(j->err) : json_null(), "response",
                              j->response[0] ? json_string(j->response) : json_null(), "duration_ms", ms);
    char *entry_text = jsontext_dump(entry);
    json_decref(entry);
    char attempt[16], status[16], delay_s[24];
    snprintf(attempt, sizeof attempt, "%d", j->attempt);
    snprintf(status, sizeof status, "%d", j->status);
    snprintf(delay_s, sizeof delay_s, "%llu", (unsigned long long)delay);
    const char *outcome = ok ? "succeeded" : final ? "failed" : "retry";
    metrics_inc(dl.app->metrics, "jsmcp_api_webhook_attempts_total",
                ok ? "outcome=\"succeeded\"" : final ? "outcome=\"failed\"" : "outcome=\"retry\"", 1);
    metrics_observe(dl.app->metrics, "jsmcp_api_webhook_attempt_duration_seconds", "", ms / 1000);
    if (!ok)
        LOG_INFO("webhook", "delivery attempt failed", "delivery", j->id, "webhook", j->webhook_id, "event", j->event,
                 "attempt", attempt, "status", status, "err", j->err, "outcome", outcome, NULL);
    const char *p[10] = {j->id, attempt, j->status ? status : NULL, entry_text ? entry_text : "{}",
                         j->err[0] && !ok ? j->err : NULL, ok ? "succeeded" : final ? "failed" : "pending", delay_s,
                         j->webhook_id, dl.disable_after, dl.disable_failing_ms};
    /* One statement, so one transaction: the attempt, and when it ends the
     * delivery, the webhook's run of failures (consecutive_failures since
     * the last success, failing_since: the creation of the first of them),
     * and the disable once the run reaches disable_after deliveries and has
     * lasted disable_failing_ms (migration 038). The webhook row is locked
     * first (w: the UPDATE of the delivery joins it, so it cannot lock the
     * delivery before): DELETE /webhooks/:id locks the webhook, then its
     * deliveries (the cascade), and the other order would deadlock with it.
     * Under that lock two replicas recording outcomes of one webhook count
     * one after the other, and a PATCH that enables it again (resetting the
     * run) comes wholly before or after. The UPDATE of webhooks is the
     * admin trail's webhook.updated (its trigger) when it disables; the
     * counters alone are bookkeeping, left out of the trail's diff. */
    int rc = pgpool_query(dl.app->db,
                          "WITH w AS (SELECT id FROM webhooks WHERE id = $8 FOR NO KEY UPDATE),"
                          " rec AS (UPDATE webhook_deliveries d SET locked_until = NULL, last_status = $3::int,"
                          "  last_error = $5, attempt_log = d.attempt_log || jsonb_build_array($4::jsonb), status = $6,"
                          "  completed_at = CASE WHEN $6 = 'pending' THEN NULL ELSE now() END,"
                          "  next_attempt_at = now() + $7::bigint * interval '1 millisecond'"
                          "  FROM w WHERE d.id = $1 AND d.webhook_id = w.id AND d.attempts = $2::int"
                          "  AND d.status = 'pending' RETURNING d.webhook_id, d.status, d.created_at),"
                          " hook AS (UPDATE webhooks h SET"
                          "  consecutive_failures = CASE WHEN rec.status = 'failed' THEN h.consecutive_failures + 1"
                          "   ELSE 0 END,"
                          "  failing_since = CASE WHEN rec.status = 'failed' THEN coalesce(h.failing_since, rec.created_at)"
                          "   END,"
                          "  disabled_at = CASE WHEN " DL_DISABLES " THEN now() ELSE h.disabled_at END,"
                          "  disabled_reason = CASE WHEN " DL_DISABLES " THEN format('the last %s deliveries failed,"
                          " since %s', h.consecutive_failures + 1, to_char(coalesce(h.failing_since, rec.created_at)"
                          " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) ELSE h.disabled_reason END,"
                          "  updated_at = CASE WHEN " DL_DISABLES " THEN now() ELSE h.updated_at END"
                          "  FROM rec WHERE h.id = rec.webhook_id AND rec.status <> 'pending'"
                          "  AND (rec.status = 'failed' OR h.consecutive_failures <> 0)"
                          "  RETURNING h.disabled_at IS NOT NULL AND h.disabled_at = now() AS now_disabled, h.disabled_reason)"
                          " SELECT (SELECT count(*) FROM rec), coalesce((SELECT now_disabled FROM hook), false),"
                          "  (SELECT disabled_reason FROM hook)",
                          10, p, on_recorded, j);
    free(entry_text);
    if (rc != 0) {
        dl.ops++; /* on_recorded's accounting */
        on_recorded(NULL, "pool busy or down", j);
        return;
    }
    dl.ops++;
}

/* ---- one attempt ---- */

static void on_answer(const httpc_response_t *resp, void *ud)
{
    dl_job_t *j = ud;
    op_done();
    if (dl.closing) { /* abandoned: the lease passes and a replica retries */
        job_free(j);
        dl.inflight--;
        return;
    }
    /* A 2xx ends the delivery whatever else is wrong with the answer (a
     * body over the 64 KiB read: httpc keeps its status); the log keeps
     * the error. */
    j->status = resp->status;
    if (resp->err)
        snprintf(j->err, sizeof j->err, "%s", resp->err);
    else if (resp->status < 200 || resp->status >= 300)
        snprintf(j->err, sizeof j->err, "the receiver answered %d%s", resp->status,
                 resp->status >= 300 && resp->status < 400 ? " (redirects are not followed)" : "");
    size_t n = resp->body_len < DL_RESPONSE_KEEP ? resp->body_len : DL_RESPONSE_KEEP;
    for (size_t i = 0; i < n; i++) { /* printable ASCII only: the log is JSON and shown as text */
        unsigned char c = (unsigned char)resp->body[i];
        j->response[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    j->response[n] = 0;
    record(j);
}

static void send_one(dl_job_t *j, const char *url, const char *sealed)
{
    char ad[64], sig[128], h_sig[160], h_event[96], h_delivery[80], h_attempt[40];
    ap_in_err_t e;
    int guarded;
    size_t n;
    j->start_ns = uv_hrtime();
    snprintf(ad, sizeof ad, "webhook:%s", j->webhook_id);
    char *secret = secret_open(dl.app->keys, ad, sealed, &n, NULL, 0);
    if (!secret) {
        snprintf(j->err, sizeof j->err, "the signing secret cannot be opened with the configured master keys");
        record(j);
        return;
    }
    /* Checked on every attempt: the allowlist may have changed since. */
    if (ap_in_webhook_url(url, dl.app->cfg.webhook_allowlist, &guarded, "/url", &e) != 0) {
        secret_wipe(secret);
        free(secret);
        snprintf(j->err, sizeof j->err, "the URL is no longer allowed: %.200s", e.detail);
        record(j);
        return;
    }
    ap_delivery_sign(secret, (long long)(clock_now_ms() / 1000), j->payload, strlen(j->payload), sig, sizeof sig);
    secret_wipe(secret);
    free(secret);
    snprintf(h_sig, sizeof h_sig, "Jsmcp-Signature: %s", sig);
    snprintf(h_event, sizeof h_event, "Jsmcp-Event: %s", j->event);
    snprintf(h_delivery, sizeof h_delivery, "Jsmcp-Delivery: %s", j->id);
    snprintf(h_attempt, sizeof h_attempt, "Jsmcp-Attempt: %d", j->attempt);
    /* "Expect:" keeps curl from waiting for a 100 Continue before bigger bodies. */
    const char *hdrs[] = {"Content-Type: application/json", h_sig, h_event, h_delivery, h_attempt, "Expect:", NULL};
    httpc_request_t rq = {.method = "POST", .url = url, .headers = hdrs, .body = j->payload,
                          .body_len = strlen(j->payload), .public_only = guarded};
    int rc = httpc_request(dl.http, &rq, on_answer, j);
    if (rc != 0) {
        snprintf(j->err, sizeof j->err, "the request could not be sent (%s)",
                 rc == HTTPC_EBUSY ? "too many in flight" : rc == HTTPC_EINVAL ? "bad URL" : "closing");
        record(j);
        return;
    }
    dl.ops++;
}

/* ---- claiming due deliveries ---- */

/* The claim statement (claim() says what it does). */
static const char CLAIM_SQL[] =
    "WITH RECURSIVE hooks AS ("
    "  (SELECT webhook_id AS id FROM webhook_deliveries WHERE status = 'pending'"
    "   ORDER BY webhook_id LIMIT 1)"
    "  UNION ALL"
    "  SELECT (SELECT d.webhook_id FROM webhook_deliveries d WHERE d.status = 'pending'"
    "          AND d.webhook_id > h.id ORDER BY d.webhook_id LIMIT 1)"
    "  FROM hooks h WHERE h.id IS NOT NULL),"
    " busy AS (SELECT h.id, w.workspace_id, w.disabled_at IS NULL AS enabled, b.n FROM hooks h"
    "  JOIN webhooks w ON w.id = h.id"
    "  CROSS JOIN LATERAL (SELECT count(*) AS n FROM webhook_deliveries l WHERE l.webhook_id = h.id"
    "   AND l.status = 'pending' AND l.locked_until IS NOT NULL AND l.locked_until > now()) b),"
    " share AS (SELECT id, workspace_id, enabled, $3::int - n AS free,"
    "  $4::int - sum(n) OVER (PARTITION BY workspace_id) AS ws_free FROM busy),"
    " cand AS (SELECT c.id, c.next_attempt_at, s.workspace_id, s.ws_free FROM share s"
    "  CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at FROM webhook_deliveries d"
    "   WHERE d.webhook_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= now()"
    "   AND (d.locked_until IS NULL OR d.locked_until <= now())"
    "   ORDER BY d.next_attempt_at LIMIT least(s.free, s.ws_free)) c"
    "  WHERE s.enabled AND s.free > 0 AND s.ws_free > 0),"
    " fair AS (SELECT id FROM (SELECT id, next_attempt_at, ws_free, row_number() OVER"
    "   (PARTITION BY workspace_id ORDER BY next_attempt_at) AS k FROM cand) x"
    "  WHERE k <= ws_free ORDER BY next_attempt_at LIMIT $1::int),"
    " due AS (SELECT d.id FROM webhook_deliveries d JOIN fair ON fair.id = d.id"
    "  WHERE d.status = 'pending' AND (d.locked_until IS NULL OR d.locked_until <= now())"
    "  FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE webhook_deliveries d SET locked_until = now() + $2::bigint * interval '1 millisecond',"
    "  attempts = d.attempts + 1, last_attempt_at = now()"
    " FROM due, webhooks w WHERE d.id = due.id AND w.id = d.webhook_id"
    " RETURNING d.id, d.attempts, d.event, d.payload, w.url, w.secret_sealed, w.id,"
    "  (extract(epoch FROM d.created_at) * 1000)::bigint";

/* One claim in flight (dl.claiming): its transaction and, once the claim
 * statement answered, the attempts it leased, sent only after COMMIT (a
 * lease that did not commit must not be acted on: another replica may
 * claim the same attempt). Freed in claim_end, its one place. */
typedef struct dl_claim_s {
    pgtx_t *tx;
    char limit[24];
    dl_job_t **jobs;
    char **urls, **secrets; /* per job: its webhook's URL and sealed secret (send_one) */
    int n;
} dl_claim_t;

static void claim_end(dl_claim_t *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->jobs[i])
            job_free(c->jobs[i]);
        free(c->urls[i]);
        free(c->secrets[i]);
    }
    free(c->jobs);
    free(c->urls);
    free(c->secrets);
    free(c);
    dl.claiming = 0;
    op_done();
    if (dl.again && !dl.closing) {
        dl.again = 0;
        claim();
    }
}

static void on_claim_committed(PGresult *res, const char *err, void *ud)
{
    dl_claim_t *c = ud;
    if (!ap_res_ok(res)) {
        if (!dl.closing && c->n > 0)
            LOG_WARN("webhook", "claimed deliveries not committed; they are claimed again later", "err",
                     err ? err : res ? PQresultErrorMessage(res) : "", NULL);
        claim_end(c);
        return;
    }
    for (int i = 0; i < c->n && !dl.closing; i++) {
        dl_job_t *j = c->jobs[i];
        c->jobs[i] = NULL; /* send_one owns it now */
        dl.inflight++;
        send_one(j, c->urls[i], c->secrets[i]);
    }
    claim_end(c);
}

/* The claim statement's rows: kept until the transaction commits. */
static void on_claimed(PGresult *res, const char *err, void *ud)
{
    dl_claim_t *c = ud;
    if (!ap_res_ok(res)) {
        if (!dl.closing)
            LOG_WARN("webhook", "claiming deliveries failed", "err", err ? err : PQresultErrorMessage(res), NULL);
    } else {
        int rows = PQntuples(res);
        c->jobs = mem_calloc(rows ? (size_t)rows : 1, sizeof *c->jobs);
        c->urls = mem_calloc(rows ? (size_t)rows : 1, sizeof *c->urls);
        c->secrets = mem_calloc(rows ? (size_t)rows : 1, sizeof *c->secrets);
        for (int i = 0; i < rows; i++) {
            dl_job_t *j = mem_calloc(1, sizeof *j);
            snprintf(j->id, sizeof j->id, "%s", PQgetvalue(res, i, 0));
            j->attempt = atoi(PQgetvalue(res, i, 1));
            snprintf(j->event, sizeof j->event, "%s", PQgetvalue(res, i, 2));
            j->payload = mem_strdup(PQgetvalue(res, i, 3));
            snprintf(j->webhook_id, sizeof j->webhook_id, "%s", PQgetvalue(res, i, 6));
            j->created_ms = atoll(PQgetvalue(res, i, 7));
            c->jobs[i] = j;
            c->urls[i] = mem_strdup(PQgetvalue(res, i, 4));
            c->secrets[i] = mem_strdup(PQgetvalue(res, i, 5));
            c->n = i + 1;
        }
    }
    /* After a failed statement this reports "transaction aborted" and
     * rolls back; on_claim_committed then sends nothing. */
    pgtx_commit(c->tx, on_claim_committed, c);
}

static void on_claim_locked(PGresult *res, const char *err, void *ud)
{
    (void)ud;
    if (!ap_res_ok(res) && !dl.closing)
        LOG_WARN("webhook", "the claim lock failed", "err", err ? err : PQresultErrorMessage(res), NULL);
    /* The claim statement queued after it fails too, and the commit rolls back. */
}

static void on_claim_begun(pgtx_t *tx, const char *err, void *ud)
{
    dl_claim_t *c = ud;
    if (!tx) {
        if (!dl.closing)
            LOG_WARN("webhook", "claiming deliveries failed", "err", err ? err : "", NULL);
        claim_end(c);
        return;
    }
    c->tx = tx;
    const char *p[4] = {c->limit, dl.lease_ms, dl.per_webhook, dl.per_workspace};
    /* One claim at a time over all replicas (see claim()); the statement
     * after the lock reads a snapshot taken once the lock is ours, so it
     * sees every lease a claim before it committed. */
    if (pgtx_query(tx, "SELECT pg_advisory_xact_lock(hashtextextended('jsmcp/webhook-claim', 0))", 0, NULL,
                   on_claim_locked, c) != 0 ||
        pgtx_query(tx, CLAIM_SQL, 4, p, on_claimed, c) != 0)
        pgtx_commit(tx, on_claim_committed, c); /* reports the lost connection */
}

/* Claims as many due deliveries as there are free slots, fairly: at most
 * per_webhook attempts of one webhook and per_workspace attempts of one
 * workspace's webhooks in flight, counting every replica's leases, so that
 * one webhook's backlog to a receiver that never answers (or a workspace's
 * many webhooks at one stalled host) cannot take every slot while others'
 * deliveries wait (each of its attempts may last the whole timeout). The
 * webhooks with pending deliveries come from a skip scan (one index probe
 * each, migration 037), never a walk of a backlog; each one's leases are
 * counted (the leased index, a handful of rows), summed per workspace over
 * the same webhooks (a lease is on a pending delivery, so every webhook
 * with one is among them: no index on workspace_id is needed), and each
 * enabled webhook gives its first due deliveries up to the smaller of its
 * free share and its workspace's; a workspace's candidates are then cut to
 * its free share, oldest first, and the oldest of all are claimed. A
 * disabled webhook (migration 038) gives none: its deliveries wait until it
 * is enabled again, while its leases still count. The rows are locked
 * (SKIP LOCKED) and their lease re-checked on the locked version, so two
 * replicas never claim the same attempt. Claims take turns over all
 * replicas (a transaction-scoped advisory lock, then the statement): one
 * statement alone counts leases in the snapshot it started with, so two
 * replicas claiming at the same moment each missed the other's uncommitted
 * leases, and a webhook had its share in flight per replica. The attempts
 * are sent once the claim committed. */
static void claim(void)
{
    if (dl.closing || !pgpool_ready(dl.app->db))
        return;
    if (dl.claiming) {
        dl.again = 1;
        return;
    }
    if (dl.inflight >= (size_t)dl.concurrency)
        return;
    dl_claim_t *c = mem_calloc(1, sizeof *c);
    snprintf(c->limit, sizeof c->limit, "%zu", (size_t)dl.concurrency - dl.inflight);
    dl.claiming = 1;
    dl.ops++;
    if (pgpool_begin(dl.app->db, on_claim_begun, c) != 0)
        claim_end(c); /* the next tick tries again */
}

void ap_delivery_kick(ap_app_t *app)
{
    (void)app;
    claim();
}

/* ---- scans: events no single write causes, retention ---- */

static void on_scan(PGresult *res, const char *err, void *ud)
{
    const char *what = ud;
    if (!ap_res_ok(res) && !dl.closing)
        LOG_WARN("webhook", "scan failed", "scan", what, "err", err ? err : PQresultErrorMessage(res), NULL);
    else if (ap_res_ok(res) && strcmp(what, "pending") == 0 && PQntuples(res) == 1) {
        metrics_set(dl.app->metrics, "jsmcp_api_webhook_pending", "", atof(PQgetvalue(res, 0, 0)));
        metrics_set(dl.app->metrics, "jsmcp_api_webhook_parked", "", atof(PQgetvalue(res, 0, 1)));
    }
    else if (ap_res_ok(res) && strcmp(what, "server.expiring") == 0)
        metrics_inc(dl.app->metrics, "jsmcp_api_webhook_scans_total", "", 1);
    op_done();
}

static void scan_query(const char *what, const char *sql, int n, const char *const *p)
{
    if (pgpool_query(dl.app->db, sql, n, p, on_scan, (void *)what) == 0)
        dl.ops++;
}

/* audit.backlog: the oldest record still in the audit stream (drained
 * entries leave it) is older than JSMCP_WEBHOOK_BACKLOG; one event per hour
 * while that lasts (its id is the hour's, so replicas send it once). */
static void on_oldest(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    (void)ud;
    op_done();
    if (dl.closing || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return;
    const redisReply *e = reply->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING)
        return;
    int64_t id_ms = atoll(e->element[0]->str), now = clock_now_ms();
    metrics_set(dl.app->metrics, "jsmcp_api_audit_oldest_age_seconds", "", (double)(now - id_ms) / 1000);
    if (id_ms <= 0 || now - id_ms < (int64_t)dl.backlog_ms || !pgpool_ready(dl.app->db))
        return;
    char hour[24], age[24], threshold[24];
    snprintf(hour, sizeof hour, "%lld", (long long)(now / 3600000));
    snprintf(age, sizeof age, "%lld", (long long)((now - id_ms) / 1000));
    snprintf(threshold, sizeof threshold, "%llu", (unsigned long long)(dl.backlog_ms / 1000));
    const char *p[3] = {hour, age, threshold};
    scan_query("audit.backlog",
               "SELECT jsmcp_webhook_emit(NULL, 'audit.backlog', md5('audit.backlog:' || $1)::uuid,"
               " jsonb_build_object('oldest_record_age_seconds', $2::bigint, 'threshold_seconds', $3::bigint))",
               3, p);
}

static void scan(void)
{
    char days[24];
    snprintf(days, sizeof days, "%ld", dl.retention_days);
    const char *p[1] = {days};
    /* server.expiring: each (server, expiry) once per webhook (a later
     * PATCH of expires_at is a new event); none for a disabled webhook, as
     * no event is queued for it (migration 038). */
    scan_query("server.expiring",
               "INSERT INTO webhook_deliveries (webhook_id, workspace_id, event, event_id, payload)"
               " SELECT w.id, w.workspace_id, 'server.expiring', e.id, jsmcp_webhook_envelope(e.id, 'server.expiring',"
               "  w.workspace_id, jsonb_build_object('server', jsonb_build_object('id', s.id, 'account_id', s.account_id,"
               "  'name', s.name, 'expires_at', to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')),"
               "  'expires_in_seconds', floor(extract(epoch FROM s.expires_at - now()))::bigint))"
               " FROM webhooks w JOIN mcp_servers s ON s.workspace_id = w.workspace_id AND s.expires_at > now()"
               "  AND s.expires_at <= now() + w.expiring_lead_s * interval '1 second'"
               " CROSS JOIN LATERAL (SELECT md5('server.expiring:' || s.id || ':' || extract(epoch FROM s.expires_at))::uuid"
               "  AS id) e"
               " WHERE 'server.expiring' = ANY (w.events) AND w.disabled_at IS NULL ON CONFLICT (webhook_id, event_id) DO NOTHING",
               0, NULL);
    scan_query("retention",
               "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status <> 'pending'"
               " AND completed_at < now() - $1::int * interval '1 day' LIMIT 10000)",
               1, p);
    /* A disabled webhook's deliveries wait for it to be enabled again: a
     * backlog to alert on is the enabled webhooks' (pending), not theirs
     * (parked). */
    scan_query("pending",
               "SELECT count(*) FILTER (WHERE w.disabled_at IS NULL), count(*) FILTER (WHERE w.disabled_at IS NOT NULL)"
               " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending'",
               0, NULL);
    if (rcli_ready(dl.app->redis)) {
        const char *argv[5] = {"XRANGE", dl.audit_key, "-", "+", "COUNT"};
        const char *args[6] = {argv[0], argv[1], argv[2], argv[3], argv[4], "1"};
        size_t len[6];
        for (int i = 0; i < 6; i++)
            len[i] = strlen(args[i]);
        if (rcli_command_argv(dl.app->redis, on_oldest, NULL, 6, args, len) == 0)
            dl.ops++;
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_now(dl.app->loop);
    if (now - dl.last_scan_ms >= dl.scan_ms && pgpool_ready(dl.app->db)) {
        dl.last_scan_ms = now;
        scan();
    }
    claim();
}

/* ---- start, stop ---- */

int ap_delivery_start(ap_app_t *app)
{
    cfg_err_t ce = {0};
    memset(&dl, 0, sizeof dl);
    dl.app = app;
    dl.poll_ms = cfg_ms("JSMCP_WEBHOOK_POLL_MS", 1000, 20, 60000, &ce);
    dl.scan_ms = cfg_ms("JSMCP_WEBHOOK_SCAN_MS", 30000, 100, 3600000, &ce);
    dl.timeout_ms = cfg_ms("JSMCP_WEBHOOK_TIMEOUT", 10000, 100, 60000, &ce);
    dl.retry_ms = cfg_ms("JSMCP_WEBHOOK_RETRY_MS", 10000, 10, 3600000, &ce);
    dl.retry_max_ms = cfg_ms("JSMCP_WEBHOOK_RETRY_MAX_MS", 3600000, 10, 86400000, &ce);
    dl.deadline_ms = cfg_ms("JSMCP_WEBHOOK_DEADLINE", 86400000, 1000, 7 * 86400000ull, &ce);
    dl.backlog_ms = cfg_ms("JSMCP_WEBHOOK_BACKLOG", 300000, 1000, 86400000, &ce);
    dl.concurrency = cfg_int("JSMCP_WEBHOOK_CONCURRENCY", 16, 1, 256, &ce);
    dl.retention_days = cfg_int("JSMCP_WEBHOOK_RETENTION_DAYS", 30, 1, 3650, &ce);
    long per_webhook = cfg_int("JSMCP_WEBHOOK_PER_WEBHOOK", 2, 1, 256, &ce);
    long per_workspace = cfg_int("JSMCP_WEBHOOK_PER_WORKSPACE", 8, 1, 256, &ce);
    /* Auto-disable (record()): 20 failed deliveries in a row, over at least
     * 3 days. A delivery fails only after ~12 h of retries (20 attempts) or
     * the deadline, so the count alone would disable a webhook after one
     * burst of events meets one bad night; 3 days lets a receiver that is
     * down for a weekend come back on its own, and stops one that is gone. */
    long disable_after = cfg_int("JSMCP_WEBHOOK_DISABLE_AFTER", 20, 0, 1000000, &ce);
    uint64_t disable_failing = cfg_ms("JSMCP_WEBHOOK_DISABLE_FAILING", 3 * 86400000ull, 0, 90 * 86400000ull, &ce);
    if (ce.n) {
        fprintf(stderr, "jsmcp-api: configuration: %s\n", ce.msg);
        return -1;
    }
    /* Longer than any request, so a lease never passes while its replica
     * still waits for the answer. */
    snprintf(dl.per_webhook, sizeof dl.per_webhook, "%ld", per_webhook);
    snprintf(dl.per_workspace, sizeof dl.per_workspace, "%ld", per_workspace);
    snprintf(dl.disable_after, sizeof dl.disable_after, "%ld", disable_after);
    snprintf(dl.disable_failing_ms, sizeof dl.disable_failing_ms, "%llu", (unsigned long long)disable_failing);
    snprintf(dl.lease_ms, sizeof dl.lease_ms, "%llu", (unsigned long long)(dl.timeout_ms + 30000));
    rcli_key(app->redis, dl.audit_key, sizeof dl.audit_key, "audit");
    httpc_config_t hc;
    httpc_config_defaults(&hc);
    hc.timeout_ms = (unsigned)dl.timeout_ms;
    hc.connect_timeout_ms = (unsigned)(dl.timeout_ms < 5000 ? dl.timeout_ms : 5000);
    hc.max_response_bytes = 64 * 1024; /* an answer is read, not kept: only its start is logged */
    hc.max_inflight = (size_t)dl.concurrency;
    hc.max_host_connections = 8;
    hc.user_agent = "jsmcp-webhooks/1";
    if (httpc_create(&dl.http, app->loop, &hc) != 0) {
        fprintf(stderr, "jsmcp-api: cannot create the webhook HTTP client\n");
        return -1;
    }
    metrics_describe(app->metrics, "jsmcp_api_webhook_attempts_total", "counter",
                     "Webhook delivery attempts by outcome (succeeded, retry, failed)");
    metrics_describe(app->metrics, "jsmcp_api_webhook_attempt_duration_seconds", "histogram",
                     "Webhook delivery attempt duration");
    metrics_describe(app->metrics, "jsmcp_api_webhook_pending", "gauge",
                     "Webhook deliveries not yet completed, of enabled webhooks");
    metrics_describe(app->metrics, "jsmcp_api_webhook_parked", "gauge",
                     "Webhook deliveries waiting for their disabled webhook to be enabled again");
    metrics_describe(app->metrics, "jsmcp_api_webhooks_disabled_total", "counter",
                     "Webhooks this replica disabled because their deliveries kept failing");
    metrics_describe(app->metrics, "jsmcp_api_webhook_scans_total", "counter",
                     "Scans for server.expiring events completed by this replica");
    metrics_describe(app->metrics, "jsmcp_api_audit_oldest_age_seconds", "gauge",
                     "Age of the oldest tool-call record not yet drained from the audit stream");
    dl.last_scan_ms = uv_now(app->loop) - dl.scan_ms; /* scan at the first tick */
    uv_timer_init(app->loop, &dl.timer);
    uv_timer_start(&dl.timer, on_tick, dl.poll_ms, dl.poll_ms);
    return 0;
}

static void on_http_closed(void *arg)
{
    (void)arg;
    op_done();
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
    dl.ops++;
    httpc_close(dl.http, on_http_closed, NULL); /* fails requests in flight: on_answer frees them */
    op_done();
}

void ap_delivery_stop(void (*done)(void *arg), void *arg)
{
    dl.closing = 1;
    dl.done = done;
    dl.done_arg = arg;
    dl.ops++; /* the timer's close */
    uv_timer_stop(&dl.timer);
    uv_close((uv_handle_t *)&dl.timer, on_timer_closed);
}
