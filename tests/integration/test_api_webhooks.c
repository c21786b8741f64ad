/* Webhooks (issue 26): CRUD and workspace isolation, the signature a
 * receiver can verify (HMAC-SHA256 over "<t>.<body>" with the secret shown
 * once), the events (server.deleted, server.expired, server.expiring,
 * account.needs_reauth, audit.backlog), retries with backoff until success
 * or the deadline, redirects not followed, the SSRF guard (at creation and
 * again on every attempt), bad input, and exactly one delivery per event
 * with two API replicas claiming from the same table. Receivers are
 * loopback HTTP servers in the test (tests/support/tr.h), allowlisted with
 * JSMCP_WEBHOOK_ALLOWLIST. */
#include <libpq-fe.h>
#include <sodium.h>

#include "test_api_common.h"
#include "tr.h"

#define WAIT_MS 30000

/* The API's environment for webhook tests: fast polling and retries, the
 * receivers' host:port allowlisted (may be NULL). */
static void wh_env(const char **env, char *allow, size_t allowsz, const tr_t *const *rx, size_t nrx, const char *extra)
{
    size_t n = 0, len = 0;
    len += (size_t)snprintf(allow, allowsz, "JSMCP_WEBHOOK_ALLOWLIST=");
    for (size_t i = 0; i < nrx; i++)
        len += (size_t)snprintf(allow + len, allowsz - len, "%s127.0.0.1:%d", i ? "," : "", tr_port(rx[i]));
    env[n++] = allow;
    env[n++] = "JSMCP_WEBHOOK_POLL_MS=50";
    env[n++] = "JSMCP_WEBHOOK_RETRY_MS=200";
    env[n++] = "JSMCP_WEBHOOK_SCAN_MS=200";
    env[n++] = "JSMCP_WEBHOOK_TIMEOUT=5s";
    env[n++] = "JSMCP_MIN_LIFETIME_MS=1000";
    if (extra)
        env[n++] = extra;
    env[n] = NULL;
}

/* Registers a webhook at url for events (a JSON array); writes its id and
 * secret (>= 64 bytes each). */
static void wh_create(const ts_api_t *a, const char *key, const char *url, const char *events, char *id, char *secret)
{
    ts_resp_t r;
    char body[1024];
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":%s}", url, events);
    ts_api_call(&r, a, key, "POST", "/webhooks", body);
    cr_assert_eq(r.status, 201, "create webhook %s: %ld %s", body, r.status, r.body);
    snprintf(id, 64, "%s", ta_str(&r, "id"));
    if (secret)
        snprintf(secret, 64, "%s", ta_str(&r, "secret"));
    ts_resp_free(&r);
}

/* The value at a dotted path with [i] indexes ("log[0].status"), or NULL. */
static json_t *jp(json_t *v, const char *path)
{
    char key[64];
    while (v && *path) {
        size_t n = strcspn(path, ".[");
        if (n) {
            snprintf(key, sizeof key, "%.*s", (int)n, path);
            v = json_object_get(v, key);
            path += n;
        }
        if (*path == '[') {
            v = json_array_get(v, (size_t)atol(path + 1));
            path = strchr(path, ']') + 1;
        }
        if (*path == '.')
            path++;
    }
    return v;
}

static void rx_url(const tr_t *t, const char *path, char *out, size_t outsz)
{
    snprintf(out, outsz, "http://127.0.0.1:%d%s", tr_port(t), path);
}

/* Verifies a received request's Jsmcp-Signature against secret, as a
 * receiver would: HMAC-SHA256(secret, "<t>." + body) in hex. */
static void assert_signed(const tr_req_t *q, const char *secret)
{
    char sig[256], mine[2 * crypto_auth_hmacsha256_BYTES + 1], msg[8192];
    cr_assert(tr_header(q, "Jsmcp-Signature", sig, sizeof sig), "no signature: %s", q->headers);
    long long t = 0;
    char v1[80] = "";
    cr_assert_eq(sscanf(sig, "t=%lld,v1=%79s", &t, v1), 2, "signature format: %s", sig);
    cr_assert(llabs(t - clock_now_ms() / 1000) < 120, "timestamp %lld is not now", t);
    int n = snprintf(msg, sizeof msg, "%lld.%s", t, q->body);
    cr_assert((size_t)n < sizeof msg);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(mine, sizeof mine, mac, sizeof mac);
    cr_assert_str_eq(v1, mine, "signature does not verify with the secret");
    /* A body changed by one byte does not verify. */
    msg[n - 2] ^= 1;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(mine, sizeof mine, mac, sizeof mac);
    cr_assert(strcmp(v1, mine) != 0);
}

/* The delivery rows of a webhook in a given status. */
static long deliveries(const ts_api_t *a, const char *wh, const char *status)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '%s' AND status = '%s'", wh,
             status);
    return ta_sql_long(a, sql);
}

static int wait_deliveries(const ts_api_t *a, const char *wh, const char *status, long n)
{
    int64_t deadline = clock_now_ms() + WAIT_MS;
    while (deliveries(a, wh, status) < n && clock_now_ms() < deadline)
        ta_sleep_ms(50);
    return deliveries(a, wh, status) >= n;
}

/* The value of one series of an API's metrics (0 when absent). */
static double metric(const char *metrics_url, const char *series)
{
    ts_resp_t r;
    double v = 0;
    ts_http(&r, "GET", metrics_url, NULL, NULL, 0);
    cr_assert_eq(r.status, 200, "%s: %ld", metrics_url, r.status);
    size_t sl = strlen(series);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, sl) == 0 && p[sl] == ' ')
            v = atof(p + sl + 1);
    ts_resp_free(&r);
    return v;
}

Test(api_webhooks, crud_isolation_signature_and_events, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws_a[64], key_a[64], ws_b[64], key_b[64], acct[64], url[256], wh[64], secret[64], wh2[64],
        srv[64], hdr[256];
    cr_assert(rx && sodium_init() >= 0);
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, NULL);
    ta_start(&a, "webhooks_crud", env, ws_a, key_a, acct);
    ts_api_workspace(&a, "beta", ws_b, key_b);

    /* Create: the secret once, the events, the default lead time. */
    rx_url(rx, "/hook", url, sizeof url);
    char body[512];
    snprintf(body, sizeof body,
             "{\"url\":\"%s\",\"events\":[\"server.deleted\",\"server.expired\",\"account.needs_reauth\"],"
             "\"description\":\"ops channel\"}", url);
    ts_api_call(&r, &a, key_a, "POST", "/webhooks", body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(wh, sizeof wh, "%s", ta_str(&r, "id"));
    snprintf(secret, sizeof secret, "%s", ta_str(&r, "secret"));
    cr_assert(strncmp(secret, "whsec_", 6) == 0 && strlen(secret) == 6 + 43, "%s", secret);
    cr_assert_str_eq(ta_str(&r, "url"), url);
    cr_assert_str_eq(ta_str(&r, "description"), "ops channel");
    cr_assert_eq(json_array_size(json_object_get(r.json, "events")), 3, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "expiring_lead_seconds")), 604800, "%s", r.body);
    ts_resp_free(&r);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM webhooks WHERE secret_sealed LIKE '%%%s%%'", secret + 6);
    cr_assert_eq(ta_sql_long(&a, sql), 0, "the secret is stored in clear");
    /* Read: never the secret again. */
    ta_call(&r, &a, key_a, "GET", NULL, "/webhooks/%s", wh);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(!json_object_get(r.json, "secret") && !strstr(r.body, secret + 6), "%s", r.body);
    ts_resp_free(&r);
    /* A second webhook of A that wants only server.expiring: gets none of the events below. */
    rx_url(rx, "/other", url, sizeof url);
    wh_create(&a, key_a, url, "[\"server.expiring\"]", wh2, NULL);
    ts_api_call(&r, &a, key_a, "GET", "/webhooks?limit=1", NULL);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    cr_assert(json_is_string(json_object_get(r.json, "next_cursor")), "%s", r.body);
    ts_resp_free(&r);

    /* Isolation: B sees none of A's webhooks and reaches none (404). */
    ts_api_call(&r, &a, key_b, "GET", "/webhooks", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "B lists A's webhooks: %s", r.body);
    ts_resp_free(&r);
    static const struct {
        const char *method, *fmt;
    } foreign[] = {{"GET", "/webhooks/%s"}, {"DELETE", "/webhooks/%s"}, {"POST", "/webhooks/%s/test"},
                   {"GET", "/webhooks/%s/deliveries"}};
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
        char what[96];
        ta_call(&r, &a, key_b, foreign[i].method, foreign[i].method[0] == 'P' ? "{}" : NULL, foreign[i].fmt, wh);
        snprintf(what, sizeof what, "B: %s %s", foreign[i].method, foreign[i].fmt);
        ta_expect_problem(&r, 404, NULL, what);
        ts_resp_free(&r);
    }
    cr_assert_eq(deliveries(&a, wh, "pending") + deliveries(&a, wh, "succeeded"), 0, "B's test event was queued");

    /* A test event: signed, verifiable with the secret, with its headers. */
    ta_call(&r, &a, key_a, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    char event_id[64], delivery_id[64];
    snprintf(event_id, sizeof event_id, "%s", ta_str(&r, "event_id"));
    snprintf(delivery_id, sizeof delivery_id, "%s", ta_str(&r, "delivery_id"));
    ts_resp_free(&r);
    cr_assert(tr_wait(rx, 1, WAIT_MS), "the test event never arrived");
    tr_req_t q;
    cr_assert(tr_get(rx, 0, &q));
    cr_assert_str_eq(q.method, "POST");
    cr_assert_str_eq(q.path, "/hook");
    assert_signed(&q, secret);
    cr_assert_str_eq(tr_header(&q, "Jsmcp-Event", hdr, sizeof hdr), "webhook.test");
    cr_assert_str_eq(tr_header(&q, "Jsmcp-Delivery", hdr, sizeof hdr), delivery_id);
    cr_assert_str_eq(tr_header(&q, "Jsmcp-Attempt", hdr, sizeof hdr), "1");
    cr_assert(strncmp(tr_header(&q, "Content-Type", hdr, sizeof hdr), "application/json", 16) == 0, "%s", hdr);
    json_t *ev = json_loads(q.body, 0, NULL);
    cr_assert(ev, "body is not JSON: %s", q.body);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "id")), event_id);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "webhook.test");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "workspace_id")), ws_a);
    json_decref(ev);
    tr_req_free(&q);

    /* server.deleted, in the deleting transaction. */
    ta_server(&a, key_a, acct, NULL, srv, NULL);
    ta_call(&r, &a, key_a, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(tr_wait(rx, 2, WAIT_MS), "server.deleted never arrived");
    cr_assert(tr_get(rx, 1, &q));
    assert_signed(&q, secret);
    ev = json_loads(q.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "server.deleted", "%s", q.body);
    cr_assert_str_eq(json_string_value(jp(ev, "data.server.id")), srv, "%s", q.body);
    json_decref(ev);
    tr_req_free(&q);

    /* server.expired: the sweeper's DELETE of a server past its expiry. */
    ta_server(&a, key_a, acct, NULL, srv, NULL);
    snprintf(sql, sizeof sql, "UPDATE mcp_servers SET expires_at = now() - interval '1 second' WHERE id = '%s'", srv);
    free(ts_sql(a.db_url, sql));
    snprintf(sql, sizeof sql, "DELETE FROM mcp_servers WHERE id = '%s' RETURNING id", srv);
    free(ts_sql(a.db_url, sql));
    /* account.needs_reauth: the refresher's UPDATE (api/ap_refresh.c) of the account. */
    snprintf(sql, sizeof sql, "UPDATE integrated_accounts SET status = 'needs_reauth' WHERE id = '%s' RETURNING id",
             acct);
    free(ts_sql(a.db_url, sql));
    cr_assert(tr_wait(rx, 4, WAIT_MS), "server.expired / account.needs_reauth never arrived (%zu)", tr_count(rx));
    int seen_expired = 0, seen_reauth = 0;
    for (size_t i = 2; i < 4; i++) {
        cr_assert(tr_get(rx, i, &q));
        cr_assert_str_eq(q.path, "/hook", "an event for the other webhook: %s", q.body);
        ev = json_loads(q.body, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "type"));
        seen_expired += strcmp(type, "server.expired") == 0;
        if (strcmp(type, "account.needs_reauth") == 0) {
            seen_reauth++;
            cr_assert_str_eq(json_string_value(jp(ev, "data.account.id")), acct, "%s", q.body);
            cr_assert_str_eq(json_string_value(jp(ev, "data.account.tenant_id")), "c1");
        }
        json_decref(ev);
        tr_req_free(&q);
    }
    cr_assert(seen_expired == 1 && seen_reauth == 1, "expired %d, needs_reauth %d", seen_expired, seen_reauth);

    /* The delivery log, newest first, with each attempt. */
    cr_assert(wait_deliveries(&a, wh, "succeeded", 4));
    ta_call(&r, &a, key_a, "GET", NULL, "/webhooks/%s/deliveries?limit=3", wh);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    json_t *list = json_object_get(r.json, "result");
    cr_assert_eq(json_array_size(list), 3, "%s", r.body);
    cr_assert(json_is_string(json_object_get(r.json, "next_cursor")), "%s", r.body);
    json_t *last = json_array_get(list, 2);
    cr_assert_str_eq(json_string_value(json_object_get(last, "event")), "server.deleted", "newest first: %s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(last, "status")), "succeeded");
    cr_assert_eq(json_integer_value(json_object_get(last, "attempts")), 1);
    cr_assert_eq(json_integer_value(jp(last, "log[0].status")), 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(jp(last, "payload.type")), "server.deleted");
    char cursor[256];
    snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(r.json, "next_cursor")));
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "GET", NULL, "/webhooks/%s/deliveries?limit=3&next_cursor=%s", wh, cursor);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    cr_assert_str_eq(json_string_value(jp(r.json, "result[0].event")), "webhook.test");
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "GET", NULL, "/webhooks/%s/deliveries?status=failed", wh);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 0, "%s", r.body);
    ts_resp_free(&r);
    cr_assert_eq(deliveries(&a, wh2, "succeeded") + deliveries(&a, wh2, "pending"), 0,
                 "the server.expiring-only webhook got other events");

    /* Delete: gone with its deliveries. */
    ta_call(&r, &a, key_a, "DELETE", NULL, "/webhooks/%s", wh);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "GET", NULL, "/webhooks/%s", wh);
    ta_expect_problem(&r, 404, NULL, "deleted webhook");
    ts_resp_free(&r);
    ta_call(&r, &a, key_a, "GET", NULL, "/webhooks/%s/deliveries", wh);
    ta_expect_problem(&r, 404, NULL, "deleted webhook's deliveries");
    ts_resp_free(&r);
    cr_assert_eq(deliveries(&a, wh, "succeeded"), 0);
    ta_stop(&a);
    tr_stop(rx);
}

Test(api_webhooks, retries_backoff_deadline_and_redirects, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start(), *target = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], url[256], wh[64], secret[64], hdr[256];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx, target}, 2, "JSMCP_WEBHOOK_DEADLINE=3s");
    ta_start(&a, "webhooks_retry", env, ws, key, NULL);
    rx_url(rx, "/hook", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh, secret);

    /* Two failures, then success: the same delivery three times, later each time. */
    tr_script(rx, (int[]){500, 503}, 2, 200, 0);
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(tr_wait(rx, 3, WAIT_MS), "3 attempts expected, got %zu", tr_count(rx));
    cr_assert(wait_deliveries(&a, wh, "succeeded", 1));
    tr_req_t q[3];
    char first_id[256] = "";
    for (int i = 0; i < 3; i++) {
        cr_assert(tr_get(rx, (size_t)i, &q[i]));
        assert_signed(&q[i], secret);
        char attempt[16];
        snprintf(attempt, sizeof attempt, "%d", i + 1);
        cr_assert_str_eq(tr_header(&q[i], "Jsmcp-Attempt", hdr, sizeof hdr), attempt);
        tr_header(&q[i], "Jsmcp-Delivery", hdr, sizeof hdr);
        if (i == 0)
            snprintf(first_id, sizeof first_id, "%s", hdr);
        cr_assert_str_eq(hdr, first_id, "one delivery, retried");
        cr_assert_str_eq(q[i].body, q[0].body, "the same body each attempt");
    }
    /* Backoff: at least 80 % of 200 ms, then of 400 ms (jitter is +-20 %). */
    cr_assert(q[1].at_ms - q[0].at_ms >= 160, "first retry after %lld ms", (long long)(q[1].at_ms - q[0].at_ms));
    cr_assert(q[2].at_ms - q[1].at_ms >= 320, "second retry after %lld ms", (long long)(q[2].at_ms - q[1].at_ms));
    for (int i = 0; i < 3; i++)
        tr_req_free(&q[i]);
    ta_call(&r, &a, key, "GET", NULL, "/webhooks/%s/deliveries", wh);
    json_t *d = json_array_get(json_object_get(r.json, "result"), 0);
    cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), 3, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(d, "log")), 3, "%s", r.body);
    cr_assert_eq(json_integer_value(jp(d, "log[0].status")), 500, "%s", r.body);
    cr_assert_eq(json_integer_value(jp(d, "log[1].status")), 503, "%s", r.body);
    cr_assert_eq(json_integer_value(jp(d, "log[2].status")), 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(jp(d, "log[0].response")), "ok", "%s", r.body);
    ts_resp_free(&r);

    /* A receiver that always fails: retried until the 3 s deadline, then failed. */
    size_t before = tr_count(rx);
    tr_script(rx, NULL, 0, 500, 0);
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    ts_resp_free(&r);
    cr_assert(wait_deliveries(&a, wh, "failed", 1), "never failed at its deadline");
    ta_call(&r, &a, key, "GET", NULL, "/webhooks/%s/deliveries?status=failed", wh);
    d = json_array_get(json_object_get(r.json, "result"), 0);
    long attempts = (long)json_integer_value(json_object_get(d, "attempts"));
    cr_assert(attempts >= 3, "%ld attempts before the deadline: %s", attempts, r.body);
    cr_assert(json_is_null(json_object_get(d, "next_attempt_at")), "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(d, "last_status")), 500, "%s", r.body);
    cr_assert_eq(tr_count(rx) - before, (size_t)attempts, "the receiver saw %zu requests for %ld attempts",
                 tr_count(rx) - before, attempts);
    ts_resp_free(&r);

    /* A redirect is not followed: the target sees nothing, the attempt is logged as failed. */
    char target_url[256];
    rx_url(target, "/stolen", target_url, sizeof target_url);
    tr_redirect(rx, target_url);
    tr_script(rx, (int[]){302}, 1, 200, 0);
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    ts_resp_free(&r);
    cr_assert(wait_deliveries(&a, wh, "succeeded", 2), "the redirected delivery never succeeded on retry");
    cr_assert_eq(tr_count(target), 0, "a redirect was followed");
    cr_assert_eq(tr_connections(target), 0, "a redirect was followed");
    ta_call(&r, &a, key, "GET", NULL, "/webhooks/%s/deliveries?status=succeeded&limit=1", wh);
    d = json_array_get(json_object_get(r.json, "result"), 0);
    cr_assert_eq(json_integer_value(jp(d, "log[0].status")), 302, "%s", r.body);
    cr_assert(strstr(json_string_value(jp(d, "log[0].error")), "redirects are not followed"),
              "%s", r.body);
    ts_resp_free(&r);
    ta_stop(&a);
    tr_stop(rx);
    tr_stop(target);
}

Test(api_webhooks, ssrf_guard_and_bad_input, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], url[256], wh[64], body[8192];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, NULL);
    ta_start(&a, "webhooks_guard", env, ws, key, NULL);
    /* Public hosts pass (nothing is sent to them here). Before the row
     * counts: each create and delete leaves its audit events (migration 023). */
    static const char *const good_urls[] = {"https://hooks.example.com/jsmcp?team=ops", "https://8.8.8.8:8443/x",
                                            "https://[2606:4700::1111]/h"};
    for (size_t i = 0; i < sizeof good_urls / sizeof *good_urls; i++) {
        snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"server.expiring\"]}", good_urls[i]);
        ts_api_call(&r, &a, key, "POST", "/webhooks", body);
        cr_assert_eq(r.status, 201, "%s: %ld %s", good_urls[i], r.status, r.body);
        snprintf(wh, sizeof wh, "%s", ta_str(&r, "id"));
        ts_resp_free(&r);
        ta_call(&r, &a, key, "DELETE", NULL, "/webhooks/%s", wh);
        ts_resp_free(&r);
    }

    char *before = ta_db_counts(&a);

    /* URLs that reach this host, its networks or special addresses, or are
     * not https (the receiver is allowlisted by port: another port is not). */
    char other_port[96];
    snprintf(other_port, sizeof other_port, "http://127.0.0.1:%d/hook", tr_port(rx) == 65535 ? 1 : tr_port(rx) + 1);
    const char *bad_urls[] = {
        other_port, "https://127.0.0.1/hook", "https://127.0.0.1:8443/", "https://10.1.2.3/", "https://192.168.0.10/",
        "https://172.20.0.1/", "https://169.254.169.254/latest/meta-data/", "https://100.64.0.1/",
        "https://0.0.0.0/", "https://[::1]/", "https://[fe80::1]/", "https://[::ffff:127.0.0.1]/",
        "https://0x7f000001/", "https://2130706433/", "https://0177.0.0.1/", "https://localhost/",
        "https://LOCALHOST./x", "https://api.localhost/", "https://printer.local/", "https://db.internal/",
        "https://intranet/", "http://hooks.example.com/", "ftp://hooks.example.com/",
        "https://user:pw@hooks.example.com/", "https://hooks.example.com/#frag", "https:///x",
        "https://hooks.example.com:0/", "https://hooks.example.com:99999/", "https://hooks.example.com/a b",
        "https://hooks.exa$mple.com/", "",
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
        char what[160];
        snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"server.deleted\"]}", bad_urls[i]);
        ts_api_call(&r, &a, key, "POST", "/webhooks", body);
        snprintf(what, sizeof what, "url %s", bad_urls[i]);
        ta_expect_problem(&r, 400, "/url", what);
        ts_resp_free(&r);
    }
    /* Bad bodies: the field at fault, nothing written. */
    rx_url(rx, "/hook", url, sizeof url);
    char long_desc[260];
    memset(long_desc, 'd', 201);
    long_desc[201] = 0;
    static const char *const tmpl[][2] = {
        {"{\"events\":[\"server.deleted\"]}", "/url"},
        {"{\"url\":7,\"events\":[\"server.deleted\"]}", "/url"},
        {"{\"url\":\"%s\"}", "/events"},
        {"{\"url\":\"%s\",\"events\":[]}", "/events"},
        {"{\"url\":\"%s\",\"events\":\"server.deleted\"}", "/events"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\",\"server.melted\"]}", "/events/1"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\",\"server.deleted\"]}", "/events/1"},
        {"{\"url\":\"%s\",\"events\":[7]}", "/events/0"},
        {"{\"url\":\"%s\",\"events\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\","
         "\"n\",\"o\",\"p\",\"q\"]}", "/events"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\"],\"expiring_lead_seconds\":59}", "/expiring_lead_seconds"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\"],\"expiring_lead_seconds\":\"1d\"}", "/expiring_lead_seconds"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\"],\"expiring_lead_seconds\":7776001}", "/expiring_lead_seconds"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\"],\"description\":\"LONG\"}", "/description"},
        {"{\"url\":\"%s\",\"events\":[\"server.deleted\"],\"secret\":\"mine\"}", "/secret"},
    };
    for (size_t i = 0; i < sizeof tmpl / sizeof *tmpl; i++) {
        char what[160], b2[9000];
        snprintf(body, sizeof body, tmpl[i][0], url);
        char *longp = strstr(body, "LONG");
        if (longp) {
            *longp = 0;
            snprintf(b2, sizeof b2, "%s%s%s", body, long_desc, longp + 4);
            snprintf(body, sizeof body, "%.8000s", b2);
        }
        ts_api_call(&r, &a, key, "POST", "/webhooks", body);
        snprintf(what, sizeof what, "POST /webhooks case %zu", i);
        ta_expect_problem(&r, 400, tmpl[i][1], what);
        ts_resp_free(&r);
    }
    ts_api_call(&r, &a, key, "GET", "/webhooks/not-a-uuid", NULL);
    ta_expect_problem(&r, 404, NULL, "malformed webhook id");
    ts_resp_free(&r);
    ts_api_call(&r, &a, key, "GET", "/webhooks/00000000-0000-4000-8000-000000000000/deliveries", NULL);
    ta_expect_problem(&r, 404, NULL, "unknown webhook's deliveries");
    ts_resp_free(&r);
    char *after = ta_db_counts(&a);
    cr_assert_str_eq(after, before, "bad input wrote rows");
    free(before);
    free(after);

    wh_create(&a, key, url, "[\"server.deleted\"]", wh, NULL);
    static const char *const bad_q[][2] = {{"status=bogus", "status"}, {"limit=0", "limit"},
                                           {"next_cursor=xyz", "next_cursor"}};
    for (size_t i = 0; i < sizeof bad_q / sizeof *bad_q; i++) {
        ta_call(&r, &a, key, "GET", NULL, "/webhooks/%s/deliveries?%s", wh, bad_q[i][0]);
        ta_expect_problem(&r, 400, bad_q[i][1], bad_q[i][0]);
        ts_resp_free(&r);
    }
    ta_call(&r, &a, key, "POST", "{\"x\":1}", "/webhooks/%s/test", wh);
    ta_expect_problem(&r, 400, "/x", "test with a body");
    ts_resp_free(&r);

    /* At most 20 per workspace. */
    for (int i = 1; i < 20; i++) {
        char id[64];
        wh_create(&a, key, url, "[\"server.deleted\"]", id, NULL);
    }
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"server.deleted\"]}", url);
    ts_api_call(&r, &a, key, "POST", "/webhooks", body);
    ta_expect_problem(&r, 409, NULL, "21st webhook");
    ts_resp_free(&r);
    ta_stop(&a);

    /* The guard on every attempt: the same webhook once its receiver is no
     * longer allowlisted is refused without a connection. */
    ts_api_t b;
    static const char *const no_allow[] = {"JSMCP_WEBHOOK_ALLOWLIST=", "JSMCP_WEBHOOK_POLL_MS=50", NULL};
    ts_api_replica(&b, &a, "webhooks_guard_again", no_allow);
    size_t conns = tr_connections(rx);
    ta_call(&r, &b, key, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    int64_t deadline = clock_now_ms() + WAIT_MS;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '%s' AND last_error IS NOT NULL", wh);
    while (ta_sql_long(&b, sql) < 1 && clock_now_ms() < deadline)
        ta_sleep_ms(50);
    snprintf(sql, sizeof sql, "SELECT last_error FROM webhook_deliveries WHERE webhook_id = '%s'", wh);
    char *err = ts_sql(b.db_url, sql);
    cr_assert(err && strstr(err, "no longer allowed") && strstr(err, "https"), "last_error: %s", err ? err : "(none)");
    free(err);
    cr_assert_eq(tr_connections(rx), conns, "a connection was made to a guarded address");
    ta_stop(&b);
    tr_stop(rx);
}

Test(api_webhooks, scanned_events_once_across_scans, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], ws_b[64], key_b[64], ws_c[64], key_c[64], acct[64], url[256], wh[64], whb[64],
        whc[64], srv[64], body[512], soon[40];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, "JSMCP_WEBHOOK_BACKLOG=1s");
    /* No drain during this test: the old record below stays in the stream. */
    env[7] = "JSMCP_AUDIT_DRAIN_MS=60000";
    env[8] = NULL;
    ta_start(&a, "webhooks_scan", env, ws, key, acct);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    ts_api_workspace(&a, "gamma", ws_c, key_c);
    rx_url(rx, "/a", url, sizeof url);
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"server.expiring\",\"audit.backlog\"],"
                                "\"expiring_lead_seconds\":7200}", url);
    ts_api_call(&r, &a, key, "POST", "/webhooks", body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    snprintf(wh, sizeof wh, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
    rx_url(rx, "/b", url, sizeof url);
    wh_create(&a, key_b, url, "[\"audit.backlog\"]", whb, NULL);
    rx_url(rx, "/c", url, sizeof url);
    wh_create(&a, key_c, url, "[\"server.deleted\"]", whc, NULL);

    /* A server expiring in an hour (inside the 2 h lead), one in 3 hours (outside). */
    ta_iso_in(3600, soon, sizeof soon);
    snprintf(body, sizeof body, "{\"name\":\"soon\",\"expires_at\":\"%s\"}", soon);
    ta_server(&a, key, acct, body, srv, NULL);
    ta_iso_in(3 * 3600, soon, sizeof soon);
    snprintf(body, sizeof body, "{\"name\":\"later\",\"expires_at\":\"%s\"}", soon);
    char later[64];
    ta_server(&a, key, acct, body, later, NULL);
    /* An audit record of long ago, never drained. */
    free(ts_redis("XADD %saudit 1000-0 tool x", a.redis_prefix));

    cr_assert(wait_deliveries(&a, wh, "succeeded", 2), "server.expiring and audit.backlog expected");
    cr_assert(wait_deliveries(&a, whb, "succeeded", 1), "audit.backlog goes to every workspace's subscribers");
    /* Several more scans: still one event each. */
    double scans = metric(a.metrics_url, "jsmcp_api_webhook_scans_total");
    int64_t deadline = clock_now_ms() + WAIT_MS;
    while (metric(a.metrics_url, "jsmcp_api_webhook_scans_total") < scans + 3 && clock_now_ms() < deadline)
        ta_sleep_ms(50);
    cr_assert(metric(a.metrics_url, "jsmcp_api_webhook_scans_total") >= scans + 3, "scans stopped");
    cr_assert_eq(deliveries(&a, wh, "succeeded") + deliveries(&a, wh, "pending"), 2, "an event was sent twice");
    cr_assert_eq(deliveries(&a, whb, "succeeded") + deliveries(&a, whb, "pending"), 1);
    cr_assert_eq(deliveries(&a, whc, "succeeded") + deliveries(&a, whc, "pending"), 0,
                 "a webhook got an event it did not subscribe to");
    int expiring = 0, backlog = 0;
    for (size_t i = 0; i < tr_count(rx); i++) {
        tr_req_t q;
        cr_assert(tr_get(rx, i, &q));
        json_t *ev = json_loads(q.body, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (strcmp(type, "server.expiring") == 0) {
            expiring++;
            cr_assert_str_eq(json_string_value(jp(ev, "data.server.id")), srv, "%s", q.body);
            json_int_t in = json_integer_value(jp(ev, "data.expires_in_seconds"));
            cr_assert(in > 3000 && in <= 3600, "expires_in_seconds %lld", (long long)in);
        } else if (strcmp(type, "audit.backlog") == 0) {
            backlog++;
            cr_assert(json_integer_value(jp(ev, "data.oldest_record_age_seconds")) > 1000000,
                      "%s", q.body);
            cr_assert(!strstr(q.body, ws_b) || strcmp(q.path, "/b") == 0, "another workspace's id: %s", q.body);
        }
        json_decref(ev);
        tr_req_free(&q);
    }
    cr_assert(expiring == 1 && backlog == 2, "expiring %d (want 1), backlog %d (want 2)", expiring, backlog);
    /* A new expiry is a new event. */
    ta_iso_in(1800, soon, sizeof soon);
    snprintf(body, sizeof body, "{\"expires_at\":\"%s\"}", soon);
    ta_call(&r, &a, key, "PATCH", body, "/integrated-account/%s/mcp/%s", acct, srv);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(wait_deliveries(&a, wh, "succeeded", 3), "a changed expiry is announced again");
    ta_stop(&a);
    tr_stop(rx);
}

Test(api_webhooks, two_replicas_deliver_each_event_once, .timeout = 240)
{
    ts_api_t a, b;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], acct[64], url[256], wh[64];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, "JSMCP_WEBHOOK_CONCURRENCY=2");
    ta_start(&a, "webhooks_r1", env, ws, key, acct);
    ts_api_replica(&b, &a, "webhooks_r2", NULL);
    rx_url(rx, "/hook", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh, NULL);
    /* Each answer takes 50 ms and a replica has 2 requests in flight at
     * most: the other replica's polls find due rows too. */
    tr_script(rx, NULL, 0, 200, 50);

    enum { N = 30 };
    char srv[N][64];
    for (int i = 0; i < N; i++)
        ta_server(&a, key, acct, NULL, srv[i], NULL);
    for (int i = 0; i < N; i++) { /* events from both replicas' requests */
        ta_call(&r, i % 2 ? &b : &a, key, "DELETE", NULL, "/integrated-account/%s/mcp/%s", acct, srv[i]);
        cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
        ts_resp_free(&r);
    }
    for (int i = 0; i < 5; i++) { /* 5: the most not yet delivered */
        ta_call(&r, i % 2 ? &b : &a, key, "POST", "{}", "/webhooks/%s/test", wh);
        cr_assert_eq(r.status, 202);
        ts_resp_free(&r);
    }
    cr_assert(wait_deliveries(&a, wh, "succeeded", N + 5), "not all delivered: %ld",
              deliveries(&a, wh, "succeeded"));
    /* Exactly one request per delivery, every delivery id once. */
    cr_assert_eq(tr_count(rx), (size_t)(N + 5), "%zu requests for %d deliveries", tr_count(rx), N + 5);
    char ids[N + 5][64];
    for (size_t i = 0; i < N + 5; i++) {
        tr_req_t q;
        cr_assert(tr_get(rx, i, &q));
        char attempt[16];
        cr_assert(tr_header(&q, "Jsmcp-Delivery", ids[i], sizeof ids[i]));
        cr_assert_str_eq(tr_header(&q, "Jsmcp-Attempt", attempt, sizeof attempt), "1");
        for (size_t j = 0; j < i; j++)
            cr_assert(strcmp(ids[i], ids[j]) != 0, "delivery %s sent twice", ids[i]);
        tr_req_free(&q);
    }
    double ra = metric(a.metrics_url, "jsmcp_api_webhook_attempts_total{outcome=\"succeeded\"}");
    double rb = metric(b.metrics_url, "jsmcp_api_webhook_attempts_total{outcome=\"succeeded\"}");
    cr_assert_eq(ra + rb, N + 5, "replica attempts %g + %g", ra, rb);
    cr_assert(ra > 0 && rb > 0, "one replica delivered everything (%g, %g): no contention was tested", ra, rb);
    ta_stop(&b);
    ta_stop(&a);
    tr_stop(rx);
}

/* The number of a webhook's deliveries matching an SQL condition. */
static long deliveries_where(const ts_api_t *a, const char *wh, const char *cond)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '%s' AND (%s)", wh, cond);
    return ta_sql_long(a, sql);
}

static int wait_deliveries_where(const ts_api_t *a, const char *wh, const char *cond, long n)
{
    int64_t deadline = clock_now_ms() + WAIT_MS;
    while (deliveries_where(a, wh, cond) < n && clock_now_ms() < deadline)
        ta_sleep_ms(50);
    return deliveries_where(a, wh, cond) >= n;
}

/* A 2xx ends the delivery whatever its body: an answer over the 64 KiB the
 * client reads is not a failure to retry (adversarial run, defect 4). */
Test(api_webhooks, big_2xx_answer_ends_the_delivery, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], url[256], wh[64];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, NULL);
    ta_start(&a, "webhooks_big2xx", env, ws, key, NULL);
    rx_url(rx, "/hook", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh, NULL);
    size_t big = 100 * 1024;
    char *body = malloc(big);
    memset(body, 'x', big);
    tr_body(rx, body, big);
    free(body);
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* Ended, or tried again: either settles what the first answer did. */
    cr_assert(wait_deliveries_where(&a, wh, "status <> 'pending' OR attempts > 1", 1), "the delivery never settled");
    ta_call(&r, &a, key, "GET", NULL, "/webhooks/%s/deliveries", wh);
    json_t *d = json_array_get(json_object_get(r.json, "result"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "status")), "succeeded", "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), 1, "%s", r.body);
    cr_assert_eq(json_integer_value(jp(d, "log[0].status")), 200, "%s", r.body);
    /* The log still says the answer was not read. */
    cr_assert(strstr(json_string_value(jp(d, "log[0].error")), "too large"), "%s", r.body);
    ts_resp_free(&r);
    cr_assert_eq(tr_count(rx), 1, "%zu requests for one delivery", tr_count(rx));
    ta_stop(&a);
    tr_stop(rx);
}

/* One webhook's backlog to a receiver that never answers does not hold up
 * another's deliveries: at most JSMCP_WEBHOOK_PER_WEBHOOK attempts of a
 * webhook are in flight, over all replicas (adversarial run, defect 1). */
Test(api_webhooks, a_stalled_receiver_does_not_hold_up_others, .timeout = 240)
{
    ts_api_t a, b;
    ts_resp_t r;
    tr_t *slow = tr_start(), *fast = tr_start();
    const char *env[16];
    char allow[256], ws_a[64], key_a[64], ws_b[64], key_b[64], url[256], wh_a[64], wh_b[64], sql[512];
    /* 4 slots per replica, 2 per webhook; attempts never time out here. */
    wh_env(env, allow, sizeof allow, (const tr_t *[]){slow, fast}, 2, "JSMCP_WEBHOOK_CONCURRENCY=4");
    env[4] = "JSMCP_WEBHOOK_TIMEOUT=60s";
    env[7] = "JSMCP_WEBHOOK_PER_WEBHOOK=2";
    env[8] = NULL;
    ta_start(&a, "webhooks_fair", env, ws_a, key_a, NULL);
    ts_api_replica(&b, &a, "webhooks_fair2", NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    rx_url(fast, "/a", url, sizeof url);
    wh_create(&a, key_a, url, "[\"server.deleted\"]", wh_a, NULL);
    rx_url(slow, "/b", url, sizeof url);
    wh_create(&a, key_b, url, "[\"server.deleted\"]", wh_b, NULL);

    /* B's receiver accepts and never answers; 300 events queued for it. */
    tr_hold(slow);
    snprintf(sql, sizeof sql,
             "SELECT count(jsmcp_webhook_emit('%s', 'server.deleted', NULL, '{}'::jsonb)) FROM generate_series(1, 300)",
             ws_b);
    free(ts_sql(a.db_url, sql));
    /* Claimed (one replica's httpc may hold its second request to the same
     * host until the first answers: curl's PIPEWAIT). */
    cr_assert(wait_deliveries_where(&a, wh_b, "locked_until > now()", 2), "B's deliveries were never claimed");
    cr_assert(tr_wait(slow, 1, WAIT_MS), "B's deliveries were never sent");
    /* A's event goes out while B's requests are still held. */
    ta_call(&r, &a, key_a, "POST", "{}", "/webhooks/%s/test", wh_a);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(tr_wait(fast, 1, WAIT_MS), "A's delivery waited behind B's stalled receiver (%zu of B's in flight)",
              tr_count(slow));
    cr_assert(wait_deliveries(&a, wh_a, "succeeded", 1));
    /* Two replicas polled all along: B still has 2 in flight, not 2 per replica. */
    cr_assert(tr_count(slow) <= 2, "%zu of B's attempts sent, over 2 per webhook", tr_count(slow));
    cr_assert_eq(deliveries_where(&a, wh_b, "locked_until > now()"), 2, "B's attempts in flight");

    /* Once the receiver answers, B's backlog drains. */
    tr_release(slow);
    cr_assert(wait_deliveries(&a, wh_b, "succeeded", 300), "B's backlog: %ld delivered",
              deliveries(&a, wh_b, "succeeded"));
    ta_stop(&b);
    ta_stop(&a);
    tr_stop(slow);
    tr_stop(fast);
}

/* Runs sql on the test's own connection c (asserts it succeeds). */
static void pg_do(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

/* Claims take turns over the replicas: a claim that counted a webhook's
 * leases in flight while another replica's claim had leased its whole
 * share but not yet committed took the share again, so a webhook had its
 * share in flight per replica. The test stands in for that other claim:
 * it holds the claim lock, and leases two of the webhook's deliveries
 * (per_webhook 2) in a transaction it has not committed. Neither replica
 * may send anything meanwhile, nor after, while those leases last. */
Test(api_webhooks, claims_take_turns_over_replicas, .timeout = 180)
{
    ts_api_t a, b;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], url[256], wh[64], sql[512];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, "JSMCP_WEBHOOK_PER_WEBHOOK=2");
    ta_start(&a, "webhooks_turns", env, ws, key, NULL);
    ts_api_replica(&b, &a, "webhooks_turns2", NULL);
    rx_url(rx, "/t", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh, NULL);

    PGconn *c = PQconnectdb(a.db_url);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    pg_do(c, "BEGIN");
    pg_do(c, "SELECT pg_advisory_xact_lock(hashtextextended('jsmcp/webhook-claim', 0))");
    snprintf(sql, sizeof sql,
             "SELECT count(jsmcp_webhook_emit('%s', 'server.deleted', NULL, '{}'::jsonb)) FROM generate_series(1, 10)",
             ws);
    free(ts_sql(a.db_url, sql));
    snprintf(sql, sizeof sql,
             "UPDATE webhook_deliveries SET locked_until = now() + interval '10 minutes', attempts = attempts + 1"
             " WHERE id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = '%s' ORDER BY created_at LIMIT 2)",
             wh);
    pg_do(c, sql);

    /* Both replicas come to claim: each waits for the lock, or (before
     * claims took turns) sends what it claimed past the share. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
             " AND pid <> %d",
             PQbackendPID(c));
    int64_t deadline = clock_now_ms() + WAIT_MS;
    while (ta_sql_long(&a, sql) < 2 && tr_count(rx) == 0 && clock_now_ms() < deadline)
        ta_sleep_ms(20);
    cr_assert_eq(tr_count(rx), 0,
                 "%zu attempts sent while another claim held the webhook's whole share, uncommitted", tr_count(rx));
    cr_assert_eq(ta_sql_long(&a, sql), 2, "both replicas wait for the claim lock");

    /* The leases commit; each waiting claim then counts them and takes
     * nothing. Taking the lock again returns once both went before. */
    pg_do(c, "COMMIT");
    pg_do(c, "BEGIN");
    pg_do(c, "SELECT pg_advisory_xact_lock(hashtextextended('jsmcp/webhook-claim', 0))");
    cr_assert_eq(tr_count(rx), 0, "%zu attempts sent past the share", tr_count(rx));
    cr_assert_eq(deliveries_where(&a, wh, "locked_until > now()"), 2, "the webhook's attempts in flight");
    pg_do(c, "ROLLBACK");

    /* The stand-in claim's attempts end; the backlog goes out. */
    snprintf(sql, sizeof sql,
             "UPDATE webhook_deliveries SET locked_until = NULL, attempts = attempts - 1"
             " WHERE webhook_id = '%s' AND locked_until > now() + interval '1 minute'",
             wh);
    pg_do(c, sql);
    PQfinish(c);
    cr_assert(wait_deliveries(&a, wh, "succeeded", 10), "%ld of 10 delivered", deliveries(&a, wh, "succeeded"));
    ta_stop(&b);
    ta_stop(&a);
    tr_stop(rx);
}

/* POST /webhooks/:id/test has a limit: 5 test events not yet delivered per
 * webhook, then 409 until they are (adversarial run, defect 2). */
Test(api_webhooks, test_events_are_limited_per_webhook, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], url[256], wh[64], wh2[64];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, NULL);
    ta_start(&a, "webhooks_testlimit", env, ws, key, NULL);
    rx_url(rx, "/hook", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh, NULL);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh2, NULL);
    tr_hold(rx); /* nothing is delivered until released */
    for (int i = 0; i < 5; i++) {
        ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
        cr_assert_eq(r.status, 202, "test %d: %ld %s", i, r.status, r.body);
        ts_resp_free(&r);
    }
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    ta_expect_problem(&r, 409, NULL, "a sixth test event not yet delivered");
    cr_assert(strstr(ta_str(&r, "detail"), "not yet delivered"), "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "max_pending_tests")), 5, "%s", r.body);
    ts_resp_free(&r);
    cr_assert_eq(deliveries_where(&a, wh, "event = 'webhook.test'"), 5, "the refused test was queued");
    /* Per webhook: another one's tests are not counted. */
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh2);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* Once delivered, tests may be sent again. */
    tr_release(rx);
    cr_assert(wait_deliveries(&a, wh, "succeeded", 5));
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(wait_deliveries(&a, wh, "succeeded", 6));
    ta_stop(&a);
    tr_stop(rx);
}

/* GET /webhooks/:id as JSON (the caller frees it), asserted 200. */
static json_t *wh_read(const ts_api_t *a, const char *key, const char *wh)
{
    ts_resp_t r;
    ta_call(&r, a, key, "GET", NULL, "/webhooks/%s", wh);
    cr_assert_eq(r.status, 200, "GET /webhooks/%s: %ld %s", wh, r.status, r.body);
    json_t *j = json_incref(r.json);
    ts_resp_free(&r);
    return j;
}

/* Waits (polling, up to WAIT_MS) until GET /webhooks/:id shows enabled as
 * want; returns the last answer's JSON (the caller frees it). */
static json_t *wait_enabled(const ts_api_t *a, const char *key, const char *wh, int want)
{
    int64_t deadline = clock_now_ms() + WAIT_MS;
    json_t *j = wh_read(a, key, wh);
    while (json_is_true(json_object_get(j, "enabled")) != want && clock_now_ms() < deadline) {
        json_decref(j);
        ta_sleep_ms(50);
        j = wh_read(a, key, wh);
    }
    return j;
}

/* A webhook whose receiver keeps failing is disabled once its last
 * JSMCP_WEBHOOK_DISABLE_AFTER finished deliveries failed (migration 038),
 * by whichever of two replicas records the last of them: visible in GET
 * and in the admin trail, its pending deliveries are no longer attempted,
 * no event is queued for it, /test is refused; PATCH enabled: true resumes
 * it. */
Test(api_webhooks, failing_webhook_is_disabled_and_enabled_again, .timeout = 240)
{
    ts_api_t a, b;
    ts_resp_t r;
    tr_t *rx = tr_start(), *ok_rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], ws_b[64], key_b[64], acct[64], url[256], wh[64], wh_ok[64], sql[512];
    /* 3 failed deliveries in a row disable, however short the run; a
     * delivery fails at its 2 s deadline (attempts ~0.2, 0.4, 0.8 s apart). */
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx, ok_rx}, 2, "JSMCP_WEBHOOK_DEADLINE=2s");
    env[7] = "JSMCP_WEBHOOK_DISABLE_AFTER=3";
    env[8] = "JSMCP_WEBHOOK_DISABLE_FAILING=0";
    env[9] = NULL;
    ta_start(&a, "webhooks_disable", env, ws, key, acct);
    ts_api_replica(&b, &a, "webhooks_disable2", NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    rx_url(rx, "/failing", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\",\"server.expiring\"]", wh, NULL);
    rx_url(ok_rx, "/fine", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\",\"server.expiring\"]", wh_ok, NULL);
    json_t *j = wh_read(&a, key, wh);
    cr_assert(json_is_true(json_object_get(j, "enabled")), "a new webhook is enabled");
    cr_assert(json_is_null(json_object_get(j, "disabled_at")) && json_is_null(json_object_get(j, "disabled_reason")));
    json_decref(j);

    /* 10 events; the receiver answers 500 to everything. */
    tr_script(rx, NULL, 0, 500, 0);
    snprintf(sql, sizeof sql,
             "SELECT count(jsmcp_webhook_emit('%s', 'server.deleted', NULL, '{}'::jsonb)) FROM generate_series(1, 10)",
             ws);
    free(ts_sql(a.db_url, sql));
    j = wait_enabled(&a, key, wh, 0);
    cr_assert(json_is_false(json_object_get(j, "enabled")), "never disabled: %ld failed deliveries",
              deliveries(&a, wh, "failed"));
    cr_assert(json_is_string(json_object_get(j, "disabled_at")), "%s", json_dumps(j, 0));
    const char *why = json_string_value(json_object_get(j, "disabled_reason"));
    cr_assert(why && strstr(why, "the last 3 deliveries failed"), "reason: %s", why ? why : "(null)");
    char disabled_at[64];
    snprintf(disabled_at, sizeof disabled_at, "%s", json_string_value(json_object_get(j, "disabled_at")));
    json_decref(j);
    cr_assert_geq(deliveries(&a, wh, "failed"), 3);
    /* The listing shows it too; the other webhook is untouched. */
    ts_api_call(&r, &a, key, "GET", "/webhooks", NULL);
    cr_assert_eq(r.status, 200);
    size_t i;
    json_t *x;
    int seen = 0;
    json_array_foreach(json_object_get(r.json, "result"), i, x) {
        const char *id = json_string_value(json_object_get(x, "id"));
        if (strcmp(id, wh) == 0) {
            seen++;
            cr_assert(json_is_false(json_object_get(x, "enabled")), "%s", r.body);
            cr_assert_str_eq(json_string_value(json_object_get(x, "disabled_at")), disabled_at, "%s", r.body);
        } else {
            cr_assert(json_is_true(json_object_get(x, "enabled")), "%s", r.body);
        }
    }
    cr_assert_eq(seen, 1, "%s", r.body);
    ts_resp_free(&r);

    /* The admin trail: one webhook.updated by the service (no key), the diff naming the disable. */
    ta_call(&r, &a, key, "GET", NULL, "/audit-events?object_id=%s&action=webhook.updated", wh);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    json_t *evs = json_object_get(r.json, "result");
    cr_assert_eq(json_array_size(evs), 1, "%s", r.body);
    json_t *ev = json_array_get(evs, 0);
    cr_assert(json_is_null(json_object_get(ev, "key_id")), "%s", r.body);
    cr_assert(json_is_null(jp(ev, "diff.disabled_at.from")) && json_is_string(jp(ev, "diff.disabled_at.to")), "%s",
              r.body);
    cr_assert(strstr(json_string_value(jp(ev, "diff.disabled_reason.to")), "deliveries failed"), "%s", r.body);
    cr_assert(!jp(ev, "diff.consecutive_failures") && !jp(ev, "diff.failing_since"), "bookkeeping audited: %s",
              r.body);
    ts_resp_free(&r);

    /* Attempts in flight at the disable end (recorded, leases cleared); the
     * rest stay pending, not attempted again. */
    cr_assert(wait_deliveries_where(&a, wh, "status = 'pending' AND locked_until IS NULL", 1),
              "no delivery left pending to show it is skipped");
    int64_t settle = clock_now_ms() + WAIT_MS;
    while (deliveries_where(&a, wh, "locked_until IS NOT NULL") > 0 && clock_now_ms() < settle)
        ta_sleep_ms(50);
    cr_assert_eq(deliveries_where(&a, wh, "locked_until IS NOT NULL"), 0, "attempts still in flight");
    size_t sent = tr_count(rx);
    char attempts_sql[256];
    snprintf(attempts_sql, sizeof attempts_sql,
             "SELECT coalesce(sum(attempts), 0) FROM webhook_deliveries WHERE webhook_id = '%s'", wh);
    long attempts = ta_sql_long(&a, attempts_sql);
    long pending = deliveries(&a, wh, "pending");
    cr_assert_gt(pending, 0);
    /* Three more events, one at a time, each delivered to the other webhook
     * by a claim that found this one's due deliveries and left them: none
     * is queued for the disabled webhook. */
    for (int k = 1; k <= 3; k++) {
        snprintf(sql, sizeof sql, "SELECT jsmcp_webhook_emit('%s', 'server.deleted', NULL, '{}'::jsonb)", ws);
        free(ts_sql(a.db_url, sql));
        cr_assert(wait_deliveries(&a, wh_ok, "succeeded", 10 + k), "the enabled webhook's event %d was not delivered",
                  k);
    }
    /* The scan's events are not queued for it either (server.expiring). */
    char srv[64];
    ta_server(&a, key, acct, NULL, srv, NULL);
    snprintf(sql, sizeof sql, "UPDATE mcp_servers SET expires_at = now() + interval '1 hour' WHERE id = '%s'", srv);
    free(ts_sql(a.db_url, sql));
    cr_assert(wait_deliveries_where(&a, wh_ok, "event = 'server.expiring' AND status = 'succeeded'", 1),
              "the enabled webhook got no server.expiring");
    cr_assert_eq(deliveries_where(&a, wh, "event = 'server.expiring'"), 0, "server.expiring queued for a disabled webhook");
    cr_assert_eq(deliveries(&a, wh, "pending"), pending, "events were queued for a disabled webhook");
    cr_assert_eq(ta_sql_long(&a, attempts_sql), attempts, "a disabled webhook's deliveries were attempted");
    cr_assert_eq(tr_count(rx), sent, "%zu requests reached the disabled webhook's receiver", tr_count(rx) - sent);
    /* The metrics: its deliveries are parked, not a backlog to alert on. */
    int64_t until = clock_now_ms() + WAIT_MS;
    /* (The enabled webhook's own deliveries may be pending for a moment:
     * both figures come from one scan, so wait for one with none.) */
    double parked = -1, backlog = -1;
    while (((parked = metric(a.metrics_url, "jsmcp_api_webhook_parked")) != (double)pending ||
            (backlog = metric(a.metrics_url, "jsmcp_api_webhook_pending")) != 0) &&
           clock_now_ms() < until)
        ta_sleep_ms(50);
    cr_assert_eq(parked, (double)pending, "parked deliveries");
    cr_assert_eq(backlog, 0, "a disabled webhook's deliveries counted as pending");

    /* A test event is refused while disabled; nothing is queued. */
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    ta_expect_problem(&r, 409, NULL, "a test event to a disabled webhook");
    cr_assert_str_eq(ta_str(&r, "code"), "webhook_disabled", "%s", r.body);
    cr_assert_str_eq(ta_str(&r, "disabled_at"), disabled_at, "%s", r.body);
    cr_assert(strstr(ta_str(&r, "detail"), "disabled"), "%s", r.body);
    ts_resp_free(&r);
    cr_assert_eq(deliveries_where(&a, wh, "event = 'webhook.test'"), 0, "the refused test was queued");

    /* PATCH: bad bodies, another workspace's key. */
    static const char *const bad[] = {"{}", "{\"enabled\":1}", "{\"enabled\":\"true\"}", "{\"enabled\":true,\"url\":\"x\"}"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ta_call(&r, &a, key, "PATCH", bad[k], "/webhooks/%s", wh);
        ta_expect_problem(&r, 400, NULL, bad[k]);
        ts_resp_free(&r);
    }
    ta_call(&r, &a, key_b, "PATCH", "{\"enabled\":true}", "/webhooks/%s", wh);
    ta_expect_problem(&r, 404, NULL, "another workspace's PATCH");
    ts_resp_free(&r);
    /* Disabling again by hand keeps the first disable's time and reason. */
    ta_call(&r, &a, key, "PATCH", "{\"enabled\":false}", "/webhooks/%s", wh);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(ta_str(&r, "disabled_at"), disabled_at, "%s", r.body);
    cr_assert(strstr(ta_str(&r, "disabled_reason"), "deliveries failed"), "%s", r.body);
    ts_resp_free(&r);

    /* Enabled again (the receiver fixed): the waiting deliveries go out, and a new event. */
    tr_script(rx, NULL, 0, 200, 0);
    ta_call(&r, &a, key, "PATCH", "{\"enabled\":true}", "/webhooks/%s", wh);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(json_is_true(json_object_get(r.json, "enabled")), "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "disabled_at")), "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "disabled_reason")), "%s", r.body);
    ts_resp_free(&r);
    cr_assert(wait_deliveries(&a, wh, "succeeded", pending), "the waiting deliveries did not resume: %ld of %ld",
              deliveries(&a, wh, "succeeded"), pending);
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(wait_deliveries_where(&a, wh, "event = 'webhook.test' AND status = 'succeeded'", 1),
              "a new event after enabling was not delivered");
    cr_assert_eq(deliveries(&a, wh, "pending"), 0);
    cr_assert_gt(tr_count(rx), sent);
    until = clock_now_ms() + WAIT_MS;
    while (metric(a.metrics_url, "jsmcp_api_webhook_parked") != 0 && clock_now_ms() < until)
        ta_sleep_ms(50);
    cr_assert_eq(metric(a.metrics_url, "jsmcp_api_webhook_parked"), 0, "deliveries still parked once enabled");
    snprintf(sql, sizeof sql, "SELECT consecutive_failures FROM webhooks WHERE id = '%s'", wh);
    cr_assert_eq(ta_sql_long(&a, sql), 0, "the run of failures was not reset");
    /* The trail: the enable is the key's, after the service's disable. */
    ta_call(&r, &a, key, "GET", NULL, "/audit-events?object_id=%s&action=webhook.updated", wh);
    evs = json_object_get(r.json, "result");
    cr_assert_eq(json_array_size(evs), 2, "%s", r.body);
    ev = json_array_get(evs, 0); /* newest first */
    cr_assert(json_is_string(json_object_get(ev, "key_prefix")), "%s", r.body);
    cr_assert(json_is_string(jp(ev, "diff.disabled_at.from")) && json_is_null(jp(ev, "diff.disabled_at.to")), "%s",
              r.body);
    ts_resp_free(&r);

    /* Disabled by hand: the operator's reason; nothing is delivered to it. */
    ta_call(&r, &a, key, "PATCH", "{\"enabled\":false}", "/webhooks/%s", wh);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert(json_is_false(json_object_get(r.json, "enabled")), "%s", r.body);
    cr_assert(strstr(ta_str(&r, "disabled_reason"), "operator"), "%s", r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    ta_expect_problem(&r, 409, NULL, "a test event to a webhook disabled by hand");
    ts_resp_free(&r);
    ta_stop(&b);
    ta_stop(&a);
    tr_stop(rx);
    tr_stop(ok_rx);
}

/* A workspace's webhooks share JSMCP_WEBHOOK_PER_WORKSPACE attempts in
 * flight over all replicas: three webhooks at one stalled host take 3 of 8
 * slots, not 2 each, and another workspace's event goes out meanwhile. */
Test(api_webhooks, a_workspace_shares_its_slots, .timeout = 240)
{
    ts_api_t a, b;
    ts_resp_t r;
    tr_t *slow = tr_start(), *fast = tr_start();
    const char *env[16];
    char allow[256], ws_a[64], key_a[64], ws_b[64], key_b[64], url[256], wh_a[64], wh_b[3][64], sql[1024];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){slow, fast}, 2, "JSMCP_WEBHOOK_CONCURRENCY=8");
    env[4] = "JSMCP_WEBHOOK_TIMEOUT=60s";
    env[7] = "JSMCP_WEBHOOK_PER_WEBHOOK=2";
    env[8] = "JSMCP_WEBHOOK_PER_WORKSPACE=3";
    env[9] = NULL;
    ta_start(&a, "webhooks_wsfair", env, ws_a, key_a, NULL);
    ts_api_replica(&b, &a, "webhooks_wsfair2", NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    rx_url(fast, "/a", url, sizeof url);
    wh_create(&a, key_a, url, "[\"server.deleted\"]", wh_a, NULL);
    for (int k = 0; k < 3; k++) {
        char path[16];
        snprintf(path, sizeof path, "/b%d", k);
        rx_url(slow, path, url, sizeof url);
        wh_create(&a, key_b, url, "[\"server.deleted\"]", wh_b[k], NULL);
    }
    /* B's receiver accepts and never answers; 10 deliveries queued for each
     * of its webhooks, due at distinct times (so that replicas claiming at
     * once pick the same oldest ones, and SKIP LOCKED keeps one). */
    tr_hold(slow);
    snprintf(sql, sizeof sql,
             "INSERT INTO webhook_deliveries (webhook_id, workspace_id, event, event_id, payload, next_attempt_at)"
             " SELECT w.id, w.workspace_id, 'server.deleted', gen_random_uuid(), '{}',"
             "  now() - row_number() OVER () * interval '1 millisecond'"
             " FROM webhooks w, generate_series(1, 10) g WHERE w.workspace_id = '%s'", ws_b);
    free(ts_sql(a.db_url, sql));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM webhook_deliveries WHERE workspace_id = '%s' AND locked_until > now()", ws_b);
    int64_t deadline = clock_now_ms() + WAIT_MS;
    while (ta_sql_long(&a, sql) < 3 && clock_now_ms() < deadline)
        ta_sleep_ms(50);
    cr_assert_geq(ta_sql_long(&a, sql), 3, "B's deliveries were never claimed");
    cr_assert(tr_wait(slow, 1, WAIT_MS), "B's deliveries were never sent");
    /* A's event goes out while B's requests are held: claims ran meanwhile. */
    for (int k = 1; k <= 3; k++) {
        ta_call(&r, &a, key_a, "POST", "{}", "/webhooks/%s/test", wh_a);
        cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
        ts_resp_free(&r);
        cr_assert(wait_deliveries(&a, wh_a, "succeeded", k), "A's delivery %d waited behind B's stalled receiver", k);
    }
    cr_assert_eq(ta_sql_long(&a, sql), 3, "B's attempts in flight, over 3 per workspace");
    cr_assert(tr_count(slow) <= 3, "%zu of B's attempts sent, over 3 per workspace", tr_count(slow));

    /* Once the receiver answers, B's backlog drains. */
    tr_release(slow);
    for (int k = 0; k < 3; k++)
        cr_assert(wait_deliveries(&a, wh_b[k], "succeeded", 10), "B's backlog %d: %ld delivered", k,
                  deliveries(&a, wh_b[k], "succeeded"));
    ta_stop(&b);
    ta_stop(&a);
    tr_stop(slow);
    tr_stop(fast);
}

/* The run of failures must also have lasted JSMCP_WEBHOOK_DISABLE_FAILING
 * (default 72h): failures in a row within a short outage do not disable,
 * a success starts the run over, and a run that began long enough ago
 * disables at the next failure once it has JSMCP_WEBHOOK_DISABLE_AFTER. */
Test(api_webhooks, a_short_run_of_failures_does_not_disable, .timeout = 180)
{
    ts_api_t a;
    ts_resp_t r;
    tr_t *rx = tr_start();
    const char *env[16];
    char allow[256], ws[64], key[64], url[256], wh[64], sql[256];
    wh_env(env, allow, sizeof allow, (const tr_t *[]){rx}, 1, "JSMCP_WEBHOOK_DEADLINE=1s");
    env[7] = "JSMCP_WEBHOOK_DISABLE_AFTER=2"; /* and the default 72h */
    env[8] = NULL;
    ta_start(&a, "webhooks_shortrun", env, ws, key, NULL);
    rx_url(rx, "/hook", url, sizeof url);
    wh_create(&a, key, url, "[\"server.deleted\"]", wh, NULL);
    char run[160];
    snprintf(run, sizeof run,
             "SELECT consecutive_failures * 10 + (failing_since IS NOT NULL)::int FROM webhooks WHERE id = '%s'", wh);
    /* One test event at a time, each settled before the next. */
    long failed = 0, succeeded = 0;
    struct {
        int status;
        long run;  /* consecutive_failures * 10 + failing_since set */
    } steps[] = {{500, 11}, {500, 21}, {500, 31}, {200, 0}, {500, 11}, {500, 21}};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        tr_script(rx, NULL, 0, steps[i].status, 0);
        ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
        cr_assert_eq(r.status, 202, "step %zu: %ld %s", i, r.status, r.body);
        ts_resp_free(&r);
        if (steps[i].status == 200)
            cr_assert(wait_deliveries(&a, wh, "succeeded", ++succeeded), "step %zu never succeeded", i);
        else
            cr_assert(wait_deliveries(&a, wh, "failed", ++failed), "step %zu never failed", i);
        cr_assert_eq(ta_sql_long(&a, run), steps[i].run, "step %zu: the run of failures", i);
        json_t *j = wh_read(&a, key, wh);
        cr_assert(json_is_true(json_object_get(j, "enabled")), "step %zu: disabled within the 72 h", i);
        json_decref(j);
    }
    /* The run began 4 days ago: the next failure disables. */
    snprintf(sql, sizeof sql, "UPDATE webhooks SET failing_since = now() - interval '4 days' WHERE id = '%s'", wh);
    free(ts_sql(a.db_url, sql));
    ta_call(&r, &a, key, "POST", "{}", "/webhooks/%s/test", wh);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    json_t *j = wait_enabled(&a, key, wh, 0);
    cr_assert(json_is_false(json_object_get(j, "enabled")), "a run of 3 failures over 4 days did not disable");
    cr_assert(strstr(json_string_value(json_object_get(j, "disabled_reason")), "the last 3 deliveries failed"), "%s",
              json_string_value(json_object_get(j, "disabled_reason")));
    json_decref(j);
    ta_stop(&a);
    tr_stop(rx);
}
