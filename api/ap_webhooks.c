/* ap_webhooks: see ap_webhooks.h.
 *
 * A webhook is a URL (checked by ap_in_webhook_url: the SSRF guard), the
 * events it wants, and a signing secret ("whsec_" + 43 base64url
 * characters) returned once and stored sealed (additional data
 * "webhook:<id>"): deliveries sign with it, so it cannot be a hash. A
 * workspace has at most WH_MAX webhooks. Nothing here touches Redis. */
#include "ap_webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_delivery.h"
#include "ap_input.h"
#include "buf.h"

#define WH_MAX 20
#define WH_MAX_EVENTS 16
#define WH_MAX_TESTS 5      /* test events not yet delivered, per webhook */
#define WH_LEAD_DEFAULT 604800 /* server.expiring: a week ahead */
#define WH_LEAD_MIN 60
#define WH_LEAD_MAX 7776000    /* 90 days */

const char *const ap_webhook_events[] = {"account.needs_reauth", "server.expiring", "server.expired", "server.deleted",
                                          "ratelimit.burst",      "audit.backlog",   NULL};

#define WH_JSON                                                                                        \
    "json_build_object('id', id, 'url', url, 'events', to_json(events), 'description', description,"  \
    " 'expiring_lead_seconds', expiring_lead_s, 'created_at', " AP_TS("created_at") ","               \
    " 'updated_at', " AP_TS("updated_at") ", 'enabled', disabled_at IS NULL,"                          \
    " 'disabled_at', " AP_TS("disabled_at") ", 'disabled_reason', disabled_reason)::text"

#define DELIVERY_JSON                                                                                  \
    "json_build_object('id', id, 'event', event, 'event_id', event_id, 'status', status,"             \
    " 'attempts', attempts, 'created_at', " AP_TS("created_at") ","                                   \
    " 'next_attempt_at', CASE WHEN status = 'pending' THEN " AP_TS("next_attempt_at") " END,"         \
    " 'last_attempt_at', " AP_TS("last_attempt_at") ", 'completed_at', " AP_TS("completed_at") ","    \
    " 'last_status', last_status, 'last_error', last_error, 'log', attempt_log,"                      \
    " 'payload', payload::json)::text"

/* A webhook id in the path must be a UUID; anything else cannot exist: 404. */
static int need_id(ap_req_t *r)
{
    if (ap_is_uuid(ap_param(r, "id")))
        return 0;
    ap_fail(r, 404, "no webhook with this id", NULL);
    return -1;
}

/* ---- create ---- */

typedef struct wh_in_s {
    const char *url;
    const char *description;
    long lead_s;
    char events[WH_MAX_EVENTS * 24 + 4]; /* PostgreSQL array literal of known names */
    char lead_text[24];
    char id[AP_UUID_LEN + 1];
    char *sealed;
} wh_in_t;

static void wh_in_free(void *p)
{
    wh_in_t *in = p;
    free(in->sealed);
    free(in);
}

static int known_event(const char *s)
{
    for (size_t i = 0; ap_webhook_events[i]; i++)
        if (strcmp(s, ap_webhook_events[i]) == 0)
            return 1;
    return 0;
}

static int wh_validate(ap_req_t *r, wh_in_t *in)
{
    static const char *const allowed[] = {"url", "events", "description", "expiring_lead_seconds", NULL};
    ap_in_err_t e;
    int guarded;
    if (ap_in_only(r->body, allowed, "", &e) || ap_in_str(r->body, "url", "", 4096, 1, &in->url, &e) ||
        ap_in_webhook_url(in->url, r->app->cfg.webhook_allowlist, &guarded, "/url", &e) ||
        ap_in_str(r->body, "description", "", 200, 0, &in->description, &e))
        goto bad;
    const json_t *ev = json_object_get(r->body, "events");
    size_t i;
    const json_t *x;
    if (!json_is_array(ev) || json_array_size(ev) == 0 || json_array_size(ev) > WH_MAX_EVENTS) {
        snprintf(e.field, sizeof e.field, "/events");
        snprintf(e.detail, sizeof e.detail, "events must be an array of 1 to %d event names", WH_MAX_EVENTS);
        goto bad;
    }
    buf_t b;
    buf_init(&b, sizeof in->events);
    buf_append(&b, "{", 1);
    json_array_foreach(ev, i, x) {
        const char *s = json_string_value(x);
        snprintf(e.field, sizeof e.field, "/events/%zu", i);
        if (!s || !known_event(s)) {
            snprintf(e.detail, sizeof e.detail,
                     "unknown event; one of account.needs_reauth, server.expiring, server.expired, server.deleted, "
                     "ratelimit.burst, audit.backlog");
            buf_free(&b);
            goto bad;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, json_string_value(json_array_get(ev, j))) == 0) {
                snprintf(e.detail, sizeof e.detail, "event '%s' is listed twice", s);
                buf_free(&b);
                goto bad;
            }
        buf_printf(&b, "%s%s", i ? "," : "", s);
    }
    buf_append(&b, "}", 1);
    /* Known names, each at most once, always fit; an array literal cut
     * short would store other events than the ones asked for. */
    if (!buf_ok(&b) || b.len >= sizeof in->events) {
        buf_free(&b);
        snprintf(e.field, sizeof e.field, "/events");
        snprintf(e.detail, sizeof e.detail, "events lists too many names");
        goto bad;
    }
    snprintf(in->events, sizeof in->events, "%.*s", (int)b.len, b.data);
    buf_free(&b);
    const json_t *lead = json_object_get(r->body, "expiring_lead_seconds");
    in->lead_s = WH_LEAD_DEFAULT;
    if (lead) {
        if (!json_is_integer(lead) || json_integer_value(lead) < WH_LEAD_MIN || json_integer_value(lead) > WH_LEAD_MAX) {
            snprintf(e.field, sizeof e.field, "/expiring_lead_seconds");
            snprintf(e.detail, sizeof e.detail,
                     "expiring_lead_seconds must be a whole number of seconds from %d to %d (90 days)", WH_LEAD_MIN,
                     WH_LEAD_MAX);
            goto bad;
        }
        in->lead_s = (long)json_integer_value(lead);
    }
    snprintf(in->lead_text, sizeof in->lead_text, "%ld", in->lead_s);
    return 0;
bad:
    ap_fail(r, 400, e.detail, e.field);
    return -1;
}

static void on_wh_inserted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        char d[96];
        snprintf(d, sizeof d, "this workspace has %d webhooks already: delete one first", WH_MAX);
        ap_fail(r, 409, d, NULL);
        return;
    }
    r->out = ap_res_json(res, 0, 0);
    json_object_set_new(r->out, "secret", json_string(r->token));
    r->status = 201;
    ap_commit_and_answer(r);
}

/* Under the workspace row's lock, so two creations cannot both pass the
 * count: the INSERT reads the count after the lock is held. */
static void on_ws_locked(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    wh_in_t *in = r->ext;
    if (ap_res_one(r, res, err, NULL, "no workspace") != 0)
        return;
    char max[16];
    snprintf(max, sizeof max, "%d", WH_MAX);
    const char *p[9] = {in->id, r->ws_id, in->url, in->events, in->description, in->lead_text, in->sealed,
                        secret_keyring_active_kid(r->app->keys), max};
    ap_txquery(r,
               "INSERT INTO webhooks (id, workspace_id, url, events, description, expiring_lead_s, secret_sealed, key_id)"
               " SELECT $1, $2, $3, $4::text[], $5, $6::int, $7, $8"
               " WHERE (SELECT count(*) FROM webhooks WHERE workspace_id = $2) < $9::int RETURNING " WH_JSON,
               9, p, on_wh_inserted);
}

static void wh_insert(ap_req_t *r)
{
    const char *p[1] = {r->ws_id};
    ap_txquery(r, "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", 1, p, on_ws_locked);
}

static void wh_create(ap_req_t *r)
{
    wh_in_t *in = mem_calloc(1, sizeof *in);
    r->ext = in;
    r->ext_free = wh_in_free;
    if (wh_validate(r, in) != 0)
        return;
    char tok[SECRET_TOKEN_LEN + 1], ad[64];
    secret_token(tok);
    snprintf(r->token, sizeof r->token, "whsec_%s", tok);
    ap_uuid(in->id);
    snprintf(ad, sizeof ad, "webhook:%s", in->id);
    in->sealed = secret_seal(r->app->keys, ad, r->token, strlen(r->token));
    if (!in->sealed) {
        ap_fail(r, 500, "cannot seal the signing secret; nothing was written", NULL);
        return;
    }
    ap_begin(r, wh_insert);
}

/* ---- read, delete ---- */

static void wh_get(ap_req_t *r)
{
    if (need_id(r))
        return;
    const char *p[2] = {ap_param(r, "id"), r->ws_id};
    ap_query_one(r, "SELECT " WH_JSON " FROM webhooks WHERE id = $1 AND workspace_id = $2", 2, p,
                 "no webhook with this id");
}

static void wh_list(ap_req_t *r)
{
    ap_page_t pg;
    if (ap_page_parse(r, &pg) != 0)
        return;
    const char *p[4] = {r->ws_id, ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one};
    ap_query_page(r,
                  "SELECT " WH_JSON ", created_at::text, id::text FROM webhooks WHERE workspace_id = $1 AND "
                  AP_PAGE_AFTER("$2", "$3") " ORDER BY created_at, id LIMIT $4",
                  4, p);
}

static void on_wh_deleted(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, NULL, "no webhook with this id") != 0)
        return;
    ap_no_content(r);
}

static void wh_delete(ap_req_t *r)
{
    if (need_id(r))
        return;
    const char *p[2] = {ap_param(r, "id"), r->ws_id};
    /* Its deliveries go with it (ON DELETE CASCADE): pending ones are never sent. */
    ap_query(r, "DELETE FROM webhooks WHERE id = $1 AND workspace_id = $2 RETURNING id", 2, p, on_wh_deleted);
}

/* ---- enable, disable ----
 * {"enabled": false} disables the webhook by hand, as the delivery loop
 * does when its receiver keeps failing (ap_delivery.c, record()): its
 * pending deliveries wait and no event is queued for it. {"enabled": true}
 * clears disabled_at and disabled_reason and starts a new run of failures
 * (consecutive_failures, failing_since), so the next failure does not
 * disable it again at once; its pending deliveries are claimed again.
 * One UPDATE, whose SET reads the row it locked: a concurrent PATCH or the
 * delivery loop disabling it (which locks the row too) is wholly before or
 * after it, and asking for the state the webhook is in changes nothing (the
 * first disable's time and reason are kept; no audit event, as the diff is
 * empty). */

static void on_wh_patched(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, NULL, "no webhook with this id") != 0)
        return;
    ap_delivery_kick(r->app); /* committed: enabled again, its due deliveries are claimed now */
    ap_ok(r, 200, ap_res_json(res, 0, 0));
}

static void wh_patch(ap_req_t *r)
{
    static const char *const allowed[] = {"enabled", NULL};
    ap_in_err_t e;
    if (need_id(r))
        return;
    if (ap_in_only(r->body, allowed, "", &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    const json_t *en = json_object_get(r->body, "enabled");
    if (!json_is_boolean(en)) {
        ap_fail(r, 400, "enabled must be true or false", "/enabled");
        return;
    }
    const char *p[3] = {ap_param(r, "id"), r->ws_id, json_is_true(en) ? "true" : "false"};
    ap_query(r,
             "UPDATE webhooks SET"
             " disabled_at = CASE WHEN $3::bool THEN NULL ELSE coalesce(disabled_at, now()) END,"
             " disabled_reason = CASE WHEN $3::bool THEN NULL WHEN disabled_at IS NULL"
             "  THEN 'disabled by an operator (PATCH enabled: false)' ELSE disabled_reason END,"
             " consecutive_failures = CASE WHEN $3::bool AND disabled_at IS NOT NULL THEN 0 ELSE consecutive_failures END,"
             " failing_since = CASE WHEN $3::bool AND disabled_at IS NOT NULL THEN NULL ELSE failing_since END,"
             " updated_at = CASE WHEN (disabled_at IS NULL) = $3::bool THEN updated_at ELSE now() END"
             " WHERE id = $1 AND workspace_id = $2 RETURNING " WH_JSON,
             3, p, on_wh_patched);
}

/* ---- a test event, to this webhook only ----
 * At most WH_MAX_TESTS not yet delivered per webhook: test events are the
 * one kind a caller makes at will, and each is retried for a day when the
 * receiver fails. Counted under the webhook row's lock (FOR NO KEY UPDATE:
 * it does not hold up the inserts of events, which only take KEY SHARE),
 * by a statement that starts after the lock is held, so two requests at
 * once cannot both pass the count. */

static void on_test_committed(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    r->tx = NULL;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    ap_delivery_kick(r->app); /* committed: a claim now finds it */
    json_t *out = r->out;
    r->out = NULL;
    ap_ok(r, 202, out);
}

static void on_test_queued(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        char d[160];
        snprintf(d, sizeof d,
                 "this webhook has %d test events not yet delivered: wait for them (GET /webhooks/%s/deliveries"
                 "?status=pending)", WH_MAX_TESTS, ap_param(r, "id"));
        ap_fail_ex(r, 409, d, NULL, json_pack("{s:i}", "max_pending_tests", WH_MAX_TESTS));
        return;
    }
    r->out = ap_res_json(res, 0, 0);
    pgtx_commit(r->tx, on_test_committed, r);
}

static void on_test_locked(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    if (ap_res_one(r, res, err, NULL, "no webhook with this id") != 0)
        return;
    /* Read under the lock a disable (the delivery loop's or a PATCH) also
     * takes: a test event is never queued to a webhook disabled before it.
     * It would not be sent, and a test is asked for to see one sent. */
    if (!PQgetisnull(res, 0, 0)) {
        char d[256];
        snprintf(d, sizeof d,
                 "this webhook is disabled (%.120s): enable it first (PATCH /webhooks/%s {\"enabled\": true})",
                 PQgetvalue(res, 0, 1), ap_param(r, "id"));
        ap_fail_ex(r, 409, d, NULL,
                   json_pack("{s:s, s:s, s:s?}", "code", "webhook_disabled", "disabled_at", PQgetvalue(res, 0, 0),
                             "disabled_reason", PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1)));
        return;
    }
    char max[16];
    snprintf(max, sizeof max, "%d", WH_MAX_TESTS);
    const char *p[3] = {ap_param(r, "id"), r->ws_id, max};
    ap_txquery(r,
               "INSERT INTO webhook_deliveries (webhook_id, workspace_id, event, event_id, payload)"
               " SELECT w.id, w.workspace_id, 'webhook.test', e.id, jsmcp_webhook_envelope(e.id, 'webhook.test',"
               "  w.workspace_id, jsonb_build_object('webhook_id', w.id, 'message', 'a test event from jsmcp'))"
               " FROM webhooks w, (SELECT gen_random_uuid() AS id) e WHERE w.id = $1 AND w.workspace_id = $2"
               " AND (SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending'"
               "  AND event = 'webhook.test') < $3::int"
               " RETURNING json_build_object('event_id', event_id, 'delivery_id', id)::text",
               3, p, on_test_queued);
}

static void wh_test_lock(ap_req_t *r)
{
    const char *p[2] = {ap_param(r, "id"), r->ws_id};
    ap_txquery(r,
               "SELECT " AP_TS("disabled_at") ", disabled_reason FROM webhooks WHERE id = $1 AND workspace_id = $2"
               " FOR NO KEY UPDATE",
               2, p, on_test_locked);
}

static void wh_test(ap_req_t *r)
{
    static const char *const allowed[] = {NULL};
    ap_in_err_t e;
    if (need_id(r))
        return;
    if (ap_in_only(r->body, allowed, "", &e)) {
        ap_fail(r, 400, e.detail, e.field);
        return;
    }
    ap_begin(r, wh_test_lock);
}

/* ---- the delivery log, newest first ---- */

static void wh_deliveries(ap_req_t *r)
{
    ap_page_t pg;
    char status[16] = "";
    if (need_id(r) || ap_page_parse(r, &pg) != 0)
        return;
    static const char status_what[] = "pending, succeeded or failed";
    int n = ap_qparam(r, "status", status, sizeof status, status_what);
    if (n < 0)
        return;
    if (n && strcmp(status, "pending") != 0 && strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0) {
        ap_qbad(r, "status", status_what);
        return;
    }
    const char *p[6] = {ap_param(r, "id"), r->ws_id, ap_page_ts(&pg), ap_page_id(&pg), pg.limit_plus_one,
                        status[0] ? status : NULL};
    ap_query_page_owned(r,
                        "WITH wh AS (SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2) AS ok),"
                        " page AS (SELECT " DELIVERY_JSON " AS j, created_at::text AS c, id::text AS i"
                        "  FROM webhook_deliveries WHERE webhook_id = $1 AND workspace_id = $2"
                        "  AND ($6::text IS NULL OR status = $6) AND " AP_PAGE_BEFORE("$3", "$4")
                        "  ORDER BY created_at DESC, id DESC LIMIT $5)"
                        " SELECT page.j, page.c, page.i, wh.ok FROM wh LEFT JOIN page ON true",
                        6, p, "no webhook with this id");
}

const ap_route_t ap_webhook_routes[] = {
    {"POST", "/webhooks", AP_ROLE_WORKSPACE, wh_create, "webhook_create"},
    {"GET", "/webhooks", AP_ROLE_WORKSPACE, wh_list, "webhook_list"},
    {"GET", "/webhooks/:id", AP_ROLE_WORKSPACE, wh_get, "webhook_get"},
    {"PATCH", "/webhooks/:id", AP_ROLE_WORKSPACE, wh_patch, "webhook_patch"},
    {"DELETE", "/webhooks/:id", AP_ROLE_WORKSPACE, wh_delete, "webhook_delete"},
    {"POST", "/webhooks/:id/test", AP_ROLE_WORKSPACE, wh_test, "webhook_test"},
    {"GET", "/webhooks/:id/deliveries", AP_ROLE_WORKSPACE, wh_deliveries, "webhook_deliveries"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
