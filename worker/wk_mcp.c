/* wk_mcp: see wk_mcp.h. */
#include "wk_mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "log.h"
#include "schema.h"
#include "toolfilter.h"
#include "clock.h"
#include "wk_audit.h"
#include "wk_fixtures.h"
#include "wk_pace.h"
#include "wk_refresh.h"
#include "wk_store.h"
#include "secret.h"

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL};

/* ---- server records ---- */

void wk_server_clear(wk_server_t *s)
{
    json_decref(s->rec);
    memset(s, 0, sizeof *s);
}

int wk_server_parse(wk_server_t *s, json_t *rec, const char *token_hash)
{
    memset(s, 0, sizeof *s);
    s->rec = rec;
    s->id = jsontext_str(rec, "id");
    s->workspace_id = jsontext_str(rec, "workspace_id");
    s->account_id = jsontext_str(rec, "account_id");
    s->name = jsontext_str(rec, "name");
    s->config = json_object_get(rec, "config");
    s->require_api_token_auth = jsontext_bool(rec, "require_api_token_auth", 0);
    s->expires_at_ms = jsontext_int(rec, "expires_at_ms", 0);
    s->not_after_ms = jsontext_int(rec, "not_after_ms", 0);
    snprintf(s->token_hash, sizeof s->token_hash, "%s", token_hash);
    if (!json_is_object(rec) || !s->id || !s->workspace_id || !s->account_id ||
        (s->config && !json_is_object(s->config))) {
        wk_server_clear(s);
        return -1;
    }
    return 0;
}

int wk_server_expired(const wk_server_t *s, int64_t now_ms)
{
    return (s->expires_at_ms > 0 && now_ms >= s->expires_at_ms) ||
           (s->not_after_ms > 0 && now_ms >= s->not_after_ms);
}

/* ---- messages ---- */

enum wk_msg_kind wk_mcp_classify(const json_t *msg, char *err, size_t errsz)
{
    if (json_is_array(msg)) {
        snprintf(err, errsz, "Invalid Request: batch not supported");
        return WK_MSG_INVALID;
    }
    if (!json_is_object(msg)) {
        snprintf(err, errsz, "Invalid Request: a JSON-RPC message must be an object, got %s",
                 jsontext_type_name(msg));
        return WK_MSG_INVALID;
    }
    const char *jv = jsontext_str(msg, "jsonrpc");
    if (!jv || strcmp(jv, "2.0") != 0) {
        snprintf(err, errsz, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return WK_MSG_INVALID;
    }
    const json_t *id = json_object_get(msg, "id");
    const json_t *method = json_object_get(msg, "method");
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        snprintf(err, errsz, "Invalid Request: \"id\" must be a string or an integer");
        return WK_MSG_INVALID;
    }
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            snprintf(err, errsz, "Invalid Request: \"method\" must be a non-empty string");
            return WK_MSG_INVALID;
        }
        const json_t *params = json_object_get(msg, "params");
        if (params && !json_is_object(params)) {
            snprintf(err, errsz, "Invalid Request: \"params\" must be an object");
            return WK_MSG_INVALID;
        }
        return id ? WK_MSG_REQUEST : WK_MSG_NOTIFICATION;
    }
    int has_result = json_object_get(msg, "result") != NULL;
    int has_error = json_is_object(json_object_get(msg, "error"));
    if (id && has_result != has_error)
        return WK_MSG_RESPONSE;
    snprintf(err, errsz, "Invalid Request: a message needs \"method\" (request or notification) "
             "or \"id\" with \"result\" or \"error\" (response)");
    return WK_MSG_INVALID;
}

int wk_mcp_version_known(const char *v)
{
    for (int i = 0; v && versions[i]; i++)
        if (strcmp(v, versions[i]) == 0)
            return 1;
    return 0;
}

const char *wk_mcp_negotiate(const char *requested)
{
    for (int i = 0; requested && versions[i]; i++)
        if (strcmp(requested, versions[i]) == 0)
            return versions[i];
    return WK_PV_LATEST;
}

json_t *wk_mcp_error(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(e, "data", data);
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", e);
}

json_t *wk_mcp_result(const json_t *id, json_t *result)
{
    /* Member by member: json_pack parses its format on every call, and
     * every tool call ends here. */
    if (!id || !result) {
        json_decref(result);
        return NULL;
    }
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", (json_t *)id);
    json_object_set_new(r, "result", result);
    return r;
}

#define WK_RESPONSE_MAX (64u << 20)

/* The result member of a tool result whose text block has no "text" (see
 * wk_exec_structured_result): the text is sc serialised, written escaped
 * and then raw. Any other members (isError) follow as they are. */
static int dump_lazy_result(buf_t *b, const json_t *result, const json_t *sc)
{
    buf_t sb;
    buf_init(&sb, WK_RESPONSE_MAX);
    int bad = jsontext_dump_buf(&sb, sc) || buf_append_str(b, "{\"content\":[{\"type\":\"text\",\"text\":") ||
              jsontext_dump_string(b, sb.data, sb.len) || buf_append_str(b, "}],\"structuredContent\":") ||
              buf_append(b, sb.data, sb.len);
    buf_free(&sb);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)result, k, v) {
        if (bad)
            break;
        if (strcmp(k, "content") == 0 || strcmp(k, "structuredContent") == 0)
            continue;
        bad = buf_append_str(b, ",") || jsontext_dump_string(b, k, strlen(k)) || buf_append_str(b, ":") ||
              jsontext_dump_buf(b, v);
    }
    return bad || buf_append_str(b, "}");
}

char *wk_mcp_dump(const json_t *response, size_t *len)
{
    const json_t *result = json_object_get(response, "result");
    const json_t *content = json_object_get(result, "content");
    const json_t *block = json_array_get(content, 0);
    const json_t *sc = json_object_get(result, "structuredContent");
    const char *type = json_string_value(json_object_get(block, "type"));
    buf_t b;
    buf_init(&b, WK_RESPONSE_MAX);
    int bad;
    if (sc && json_array_size(content) == 1 && json_object_size(block) == 1 && type && strcmp(type, "text") == 0 &&
        json_object_size(response) == 3 && json_object_get(response, "jsonrpc")) {
        bad = buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":") || jsontext_dump_buf(&b, json_object_get(response, "id")) ||
              buf_append_str(&b, ",\"result\":") || dump_lazy_result(&b, result, sc) || buf_append_str(&b, "}");
    } else {
        bad = jsontext_dump_buf(&b, response);
    }
    if (bad) {
        buf_free(&b);
        *len = 0;
        return NULL;
    }
    return buf_steal(&b, len);
}

/* ---- methods ---- */

json_t *wk_mcp_capabilities(void)
{
    /* listChanged: open streams hear of a PATCH that changes what the
     * server offers (wk_listwatch.h); subscribe: wk_subscribe.h. */
    return json_pack("{s:{s:b},s:{s:b},s:{s:b,s:b},s:{},s:{}}", "tools", "listChanged", 1, "prompts", "listChanged", 1,
                     "resources", "subscribe", 1, "listChanged", 1, "completions", "logging");
}

static json_t *initialize_result(const wk_server_t *srv, const json_t *params)
{
    const char *pv = wk_mcp_negotiate(jsontext_str(params, "protocolVersion"));
    json_t *info = json_pack("{s:s,s:s,s:s}", "name", "jsmcp", "title",
                             "Jira Service Management (jsmcp)", "version", "1.0.0");
    return json_pack("{s:s,s:o,s:o,s:s}", "protocolVersion", pv, "capabilities", wk_mcp_capabilities(),
                     "serverInfo", info, "instructions",
                     "Tools for one Jira Service Management site. Issue keys look like ITSM-994; "
                     "list tools page with next_cursor. Errors carry Jira's own messages and a hint. "
                     "Prompts give the usual service-desk workflows step by step (incident triage, queue "
                     "dispatch, SLA breach review, customer replies, handover, approvals); resources "
                     "(jsm://issue/<key>, jsm://desk/<id>, ...) read issues, requests, desks and queues as "
                     "JSON or markdown, and can be subscribed to.");
}

int wk_mcp_prepare_call(const wk_catalog_t *cat, const json_t *config, const json_t *params,
                        const wk_tool_t **tool, json_t **args, char *err, size_t errsz)
{
    *tool = NULL;
    *args = NULL;
    const char *name = jsontext_str(params, "name");
    if (!name) {
        snprintf(err, errsz, "Invalid params: \"name\" (string) is required");
        return WK_RPC_INVALID_PARAMS;
    }
    const wk_tool_t *t = wk_catalog_find(cat, name);
    if (t && !wk_catalog_allowed(t, config) && toolfilter_allowed(t->kind, t->tags, 0, config)) {
        snprintf(err, errsz, "Unknown tool: %.128s is not offered by this server: it is limited to some "
                 "projects and this tool's data cannot be tied to a project", name);
        return WK_RPC_INVALID_PARAMS;
    }
    if (!t || !wk_catalog_allowed(t, config)) {
        snprintf(err, errsz, "Unknown tool: %.128s", name);
        return WK_RPC_INVALID_PARAMS;
    }
    const json_t *a = json_object_get(params, "arguments");
    if (a && !json_is_object(a) && !json_is_null(a)) {
        snprintf(err, errsz, "Invalid params: \"arguments\" must be an object, got %s", jsontext_type_name(a));
        return WK_RPC_INVALID_PARAMS;
    }
    json_t *obj = json_is_object(a) ? json_incref((json_t *)a) : json_object();
    char why[300];
    if (schema_validate(t->input_schema, obj, why, sizeof why) != 0) {
        snprintf(err, errsz, "Invalid arguments for %s: %s", t->name, why);
        json_decref(obj);
        return WK_RPC_INVALID_PARAMS;
    }
    *tool = t;
    *args = obj;
    return 0;
}

#define WK_IDEM_TTL_MS 86400000LL  /* how long an idempotency_key's result is kept */
#define WK_IDEM_MAX (1u << 20)       /* a stored result larger than this is not kept */
#define WK_IDEM_PENDING_MS 120000LL  /* a call in flight holds its key at most this long (a worker
                                      * that dies mid-call must not block retries for a day) */

typedef struct call_op_s {
    wk_worker_t *w;
    json_t *id;
    const wk_tool_t *tool;
    json_t *args;
    json_t *config;
    char server_id[64], workspace_id[64], account_id[64];
    char request_id[72];
    char traceparent[64];        /* sent upstream; "" without one */
    char trace_id[33];           /* its trace id, for the logs */
    char args_sha[SECRET_HASH_HEX_LEN + 1];
    char idem_key[256];          /* Redis key of the idempotency record, "" without one */
    wk_mcp_done_fn done;
    void *ud;
    uint64_t t0;
    int64_t ts_ms;
    int oauth;                   /* the account used is OAuth: a 401 asks for a refresh */
    long long cred_version;      /* of the blob used (reported with the refresh request) */
    int refreshed;               /* waited for a refresh once already: no second retry */
    int paced;                   /* took its pacing token (one per tool call) */
    int pace_near;               /* under the rule Jira's quota signals set (wk_pace_note) */
    long pace_burst;             /* of the rule applied (RateLimit-Limit of a refusal) */
    json_t *response;            /* the answer, held until its audit record is safe (wk_audit.h) */
    wk_ratelimit_t rl;
    int has_rl;
    int refs;                    /* 1 until answered; +1 while wk_exec_start runs (it may answer) */
    int status;                  /* upstream status of the answer (0: none) */
    const char *cls;             /* its error_class, for the metrics taken after the answer */
} call_op_t;

/* The arguments' hash (audit record, idempotency record): the sorted compact
 * JSON of the arguments, hashed once. Not on the way to the upstream
 * request: taken once it has left, while JSM works on it. */
static const char *args_hash(call_op_t *op)
{
    if (!op->args_sha[0]) {
        char *canon = json_dumps(op->args, JSON_COMPACT | JSON_SORT_KEYS);
        secret_hash_hex(canon ? canon : "", canon ? strlen(canon) : 0, op->args_sha);
        free(canon);
    }
    return op->args_sha;
}

/* error_class of the audit record: what kind of failure, for dashboards. */
static const char *error_class(const json_t *response, const wk_ratelimit_t *rl, int status)
{
    const json_t *result = json_object_get(response, "result");
    if (json_object_get(response, "error"))
        return "invalid_request";
    if (!json_is_true(json_object_get(result, "isError")))
        return "";
    if (rl && rl->limited && status == 0)
        return "paced";
    if (status == 0)
        return "unavailable";
    if (status == 429)
        return "rate_limited";
    if (status == 401 || status == 403)
        return "auth";
    if (status >= 500)
        return "upstream_5xx";
    return "upstream_4xx";
}

static void audit_field(const char **argv, int *n, const char *k, const char *v)
{
    if (v && *v) {
        argv[(*n)++] = k;
        argv[(*n)++] = v;
    }
}

static void on_audited(void *ud, int durable);

/* Bytes of the result returned to the model (the audit record's
 * result_bytes, usage metering): the text of its content items, without
 * serializing the result a second time. */
static size_t result_bytes(const json_t *response)
{
    const json_t *content = json_object_get(json_object_get(response, "result"), "content");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(content); i++)
        n += json_string_length(json_object_get(json_array_get(content, i), "text"));
    return n;
}

/* One audit entry per tool call: XADD <prefix>audit * ... (fields in
 * docs/architecture.md), kept and sent again while Redis is down
 * (wk_audit.c). No MAXLEN: only the API trims the stream, below what its
 * drain acknowledged (api/ap_audit.c). */
static void audit(call_op_t *op, const wk_ratelimit_t *rl, int status)
{
    char key[160], ts[32], st[16], lat[32], reset[32], bytes[32];
    rcli_key(op->w->redis, key, sizeof key, "audit");
    fmt_uint(bytes, (unsigned long long)result_bytes(op->response));
    /* By hand, not printf: this runs for every call. lat is milliseconds
     * with 3 decimals. */
    fmt_uint(ts, (unsigned long long)(op->ts_ms > 0 ? op->ts_ms : 0));
    fmt_uint(st, (unsigned)(status > 0 ? status : 0));
    unsigned long long us = (clock_mono_ns() - op->t0 + 500) / 1000;
    size_t ln = fmt_uint(lat, us / 1000);
    lat[ln] = '.';
    lat[ln + 1] = (char)('0' + us % 1000 / 100);
    lat[ln + 2] = (char)('0' + us % 100 / 10);
    lat[ln + 3] = (char)('0' + us % 10);
    lat[ln + 4] = 0;
    reset[0] = 0;
    if (rl && rl->reset_s >= 0)
        snprintf(reset, sizeof reset, "%ld", rl->reset_s);
    const char *argv[40];
    int n = 0;
    argv[n++] = "XADD";
    argv[n++] = key;
    argv[n++] = "*";
    audit_field(argv, &n, "ts_ms", ts);
    audit_field(argv, &n, "workspace_id", op->workspace_id);
    audit_field(argv, &n, "account_id", op->account_id);
    audit_field(argv, &n, "server_id", op->server_id);
    audit_field(argv, &n, "tool", op->tool->name);
    audit_field(argv, &n, "args_sha256", args_hash(op));
    audit_field(argv, &n, "upstream_status", status ? st : "");
    audit_field(argv, &n, "latency_ms", lat);
    audit_field(argv, &n, "ratelimit_limit", rl ? rl->limit : NULL);
    audit_field(argv, &n, "ratelimit_remaining", rl ? rl->remaining : NULL);
    audit_field(argv, &n, "ratelimit_reset_s", reset);
    audit_field(argv, &n, "upstream_request_id", rl ? rl->request_id : NULL);
    audit_field(argv, &n, "error_class", op->cls);
    audit_field(argv, &n, "request_id", op->request_id);
    audit_field(argv, &n, "result_bytes", bytes);
    wk_audit_append(op->w, n, argv, on_audited, op);
}

/* The idempotency record after the call: the result for a success, gone
 * after a failure (so a retry may try again). The answer waits for Redis
 * to take it (stored then runs, from the loop): an agent that retries as
 * soon as it has the answer may reach another worker process, whose SET NX
 * must already find the result, not "pending". 0 when stored will run;
 * -1 without a record to write or with Redis unavailable. */
static int idem_store(call_op_t *op, const json_t *response, rcli_cb stored)
{
    const json_t *result = json_object_get(response, "result");
    if (!op->idem_key[0])
        return -1;
    char *dump = result && !json_is_true(json_object_get(result, "isError"))
                     ? jsontext_dump(result) : NULL;
    int rc;
    buf_t b;
    buf_init(&b, WK_IDEM_MAX + 128);
    /* A record that does not fit is not kept (a retry runs the call again). */
    if (dump && strlen(dump) <= WK_IDEM_MAX && buf_printf(&b, "done:%s:%s", args_hash(op), dump) == 0) {
        char ttl[32];
        snprintf(ttl, sizeof ttl, "%lld", WK_IDEM_TTL_MS);
        const char *argv[] = {"SET", op->idem_key, b.data, "PX", ttl};
        size_t lens[] = {3, strlen(op->idem_key), b.len, 2, strlen(ttl)};
        rc = rcli_command_argv(op->w->redis, stored, op, 5, argv, lens);
    } else {
        rc = rcli_command(op->w->redis, stored, op, "DEL %s", op->idem_key);
    }
    buf_free(&b);
    free(dump);
    return rc;
}

/* Per-account call counts. The label is bounded: past the cap of distinct
 * accounts a process has counted, further accounts count as "other" (a
 * series that exists already has a count of at least 1). */
static void count_account(call_op_t *op)
{
    wk_worker_t *w = op->w;
    char labels[160], id[128];
    metrics_label_escape(op->account_id, id, sizeof id);
    snprintf(labels, sizeof labels, "account=\"%s\"", id);
    if (metrics_get(w->metrics, "jsmcp_worker_account_calls_total", labels) <= 0) {
        if (w->metric_accounts >= w->cfg->metrics_max_accounts)
            snprintf(labels, sizeof labels, "account=\"other\"");
        else
            w->metric_accounts++;
    }
    metrics_inc(w->metrics, "jsmcp_worker_account_calls_total", labels, 1);
}

/* Metrics and the log line of a finished call (the request id ties it to
 * the HTTP request, the upstream request and the audit record). */
static void observe(call_op_t *op)
{
    const wk_ratelimit_t *rl = op->has_rl ? &op->rl : NULL;
    int status = op->status;
    char labels[192], st[24], lat[32];
    double secs = (double)(clock_mono_ns() - op->t0) / 1e9;
    fmt_int(st, status);
    str_join(labels, sizeof labels, "tool=\"", op->tool->name, "\",upstream_status=\"", st, "\"", NULL);
    metrics_inc(op->w->metrics, "jsmcp_worker_tool_calls_total", labels, 1);
    str_join(labels, sizeof labels, "tool=\"", op->tool->name, "\"", NULL);
    metrics_observe(op->w->metrics, "jsmcp_worker_tool_call_duration_seconds", labels, secs);
    if ((status == 0 && !(rl && rl->limited)) || status >= 500)
        metrics_inc(op->w->metrics, "jsmcp_worker_upstream_errors_total", "", 1);
    count_account(op);
    const char *cls = op->cls;
    if (*cls) {
        str_join(labels, sizeof labels, "class=\"", cls, "\"", NULL);
        metrics_inc(op->w->metrics, "jsmcp_worker_tool_errors_total", labels, 1);
    }
    if (log_min_level > (*cls ? LOG_LVL_INFO : LOG_LVL_DEBUG))
        return; /* the line would not be written: skip formatting it */
    snprintf(lat, sizeof lat, "%.1f", secs * 1e3);
    if (*cls) {
        LOG_INFO("worker", "tool call failed", "request_id", op->request_id, "trace_id", op->trace_id, "tool",
                 op->tool->name, "account", op->account_id, "server", op->server_id, "upstream_status", st,
                 "error_class", cls, "latency_ms", lat, NULL);
    } else {
        LOG_DEBUG("worker", "tool call", "request_id", op->request_id, "trace_id", op->trace_id, "tool",
                  op->tool->name, "account", op->account_id, "server", op->server_id, "upstream_status", st,
                  "latency_ms", lat, NULL);
    }
}

/* The one place a call_op is freed: when the last reference goes (the
 * answer's, or on_account's around wk_exec_start). */
static void op_unref(call_op_t *op)
{
    if (--op->refs > 0)
        return;
    json_decref(op->id);
    json_decref(op->args);
    json_decref(op->config);
    free(op);
}

/* The audit record is safe (in the spool, or in Redis; wk_audit.h): now
 * the client gets its answer, so no answered call can miss its record. One
 * that could not be made durable in time gets an error instead of its
 * result. */
static void on_audited(void *ud, int durable)
{
    call_op_t *op = ud;
    if (!durable) {
        json_decref(op->response);
        op->response = wk_mcp_error(op->id, WK_RPC_INTERNAL,
                                    "the call ran, but its audit record could not be stored (the audit store refuses "
                                    "writes): its result is withheld. Check the audit log before calling again.",
                                    NULL);
    }
    op->done(op->response, op->has_rl ? &op->rl : NULL, op->ud);
    observe(op); /* after the answer went out: not on the caller's clock */
    op_unref(op);
}

/* The idempotency record is written (or could not be): the audit record
 * next, then the answer (on_audited). */
static void on_idem_stored(redisReply *reply, const char *err, void *ud)
{
    (void)reply;
    (void)err; /* a lost record only costs a retry its replay, as before */
    call_op_t *op = ud;
    audit(op, op->has_rl ? &op->rl : NULL, op->status);
}

static void call_finish(call_op_t *op, json_t *response, const wk_ratelimit_t *rl, int status)
{
    op->response = response; /* done() takes it over */
    op->status = status;
    op->cls = error_class(response, rl, status);
    if (rl) {
        op->rl = *rl;
        op->has_rl = 1;
    }
    if (idem_store(op, response, on_idem_stored) != 0)
        audit(op, rl, status);
}

static void on_account(int rc, const wk_account_t *acct, const char *err, void *ud);

/* An OAuth call whose token expired or was refused: report it (wk_refresh)
 * and run again once with the refreshed account. */
static void wait_refresh(call_op_t *op)
{
    op->refreshed = 1;
    wk_refresh_wait(op->w, op->account_id, op->cred_version, on_account, op);
}

static void on_exec(json_t *result, const wk_ratelimit_t *rl, int upstream_status, void *ud)
{
    call_op_t *op = ud;
    wk_pace_note(op->w, op->account_id, rl, uv_now(op->w->loop));
    if (upstream_status == 401 && op->oauth && !op->refreshed) {
        json_decref(result);
        wait_refresh(op);
        return;
    }
    call_finish(op, wk_mcp_result(op->id, result), rl, upstream_status);
}

static json_t *tool_error(const char *text)
{
    return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError", 1);
}

/* The pacing answer: a refused call ends here like an upstream 429 (no
 * upstream request); an allowed one reads the account again (the cache
 * answers at once) and runs. */
static void on_paced(int rc, long wait_ms, void *ud)
{
    call_op_t *op = ud;
    if (rc != 0) {
        wk_store_account(op->w, op->account_id, on_account, op);
        return;
    }
    wk_ratelimit_t rl;
    memset(&rl, 0, sizeof rl);
    rl.limited = 1;
    rl.retry_after_s = rl.reset_s = wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000;
    snprintf(rl.limit, sizeof rl.limit, "%ld", op->pace_burst);
    snprintf(rl.remaining, sizeof rl.remaining, "0");
    snprintf(rl.reason, sizeof rl.reason, "%s", op->pace_near ? WK_PACE_REASON_NEAR : "jsmcp-pacing");
    metrics_inc(op->w->metrics, "jsmcp_worker_paced_total", "", 1);
    call_finish(op, wk_mcp_result(op->id, wk_exec_paced_result(op->tool, &rl)), &rl, 0);
}

static void on_account(int rc, const wk_account_t *acct, const char *err, void *ud)
{
    call_op_t *op = ud;
    char why[1200];
    if (rc != 1) {
        /* The account is gone, unreadable or must be reconnected, or no
         * refreshed token came (rc -2): a tool-level error the agent can report. */
        const char *msg = err ? err : "the JSM account of this MCP server is not available.";
        const char *reason = rc == -2 ? "token_refresh_pending"
                             : strstr(msg, "must reconnect") ? "needs_reauth" : "account_unavailable";
        call_finish(op, wk_mcp_result(op->id, wk_exec_tool_error(op->tool, reason, msg)), NULL, 0);
        return;
    }
    op->oauth = acct->oauth;
    op->cred_version = acct->cred_version;
    if (acct->oauth && acct->expires_at_ms > 0 && acct->expires_at_ms <= clock_now_ms() && !op->refreshed) {
        wait_refresh(op);
        return;
    }
    pace_rule_t own = {.per_s = acct->pace_per_s, .burst = acct->pace_burst}, near;
    const pace_rule_t *rule = acct->pace_set ? &own
                                 : acct->oauth  ? &op->w->cfg->pace_oauth
                                                : &op->w->cfg->pace_api_token;
    /* Jira said the quota is nearly spent: the stricter of the two rules. */
    op->pace_near = wk_pace_near(op->account_id, uv_now(op->w->loop), &near) &&
                    (rule->per_s <= 0 || near.per_s < rule->per_s);
    if (op->pace_near)
        rule = &near;
    if (rule->per_s > 0 && !op->paced) {
        op->paced = 1;
        op->pace_burst = rule->burst;
        wk_pace_take(op->w, op->account_id, rule, on_paced, op);
        return;
    }
    wk_exec_ctx_t ctx = {.config = op->config, .account_id = op->account_id,
                         .request_id = op->request_id[0] ? op->request_id : NULL,
                         .traceparent = op->traceparent[0] ? op->traceparent : NULL,
                         .fields = op->w->fields, .now_ms = uv_now(op->w->loop)};
    op->refs++; /* wk_exec_start may end the call before it returns */
    int r = wk_exec_start(op->w->httpc, op->tool, op->args, acct, &ctx, on_exec, op, why, sizeof why);
    if (r == 0)
        args_hash(op); /* the request has left (or the call ended already) */
    else if (r == -1)
        call_finish(op, wk_mcp_error(op->id, WK_RPC_INVALID_PARAMS, why, NULL), NULL, 0);
    else
        call_finish(op, wk_mcp_error(op->id, WK_RPC_INTERNAL, why, NULL), NULL, 0);
    op_unref(op);
}

/* SET NX of the idempotency record answered: a fresh key runs the call; a
 * known one answers from the record. */
static void on_idem_get(redisReply *reply, const char *err, void *ud)
{
    call_op_t *op = ud;
    char msg[300];
    const char *done = NULL;
    if (reply && reply->type == REDIS_REPLY_STRING && strncmp(reply->str, "done:", 5) == 0)
        done = reply->str + 5;
    if (done && strncmp(done, args_hash(op), SECRET_HASH_HEX_LEN) == 0 && done[SECRET_HASH_HEX_LEN] == ':') {
        char perr[128];
        json_t *res = jsontext_parse(done + SECRET_HASH_HEX_LEN + 1, strlen(done + SECRET_HASH_HEX_LEN + 1), 64,
                               perr, sizeof perr);
        if (res) {
            op->idem_key[0] = 0; /* keep the record as it is */
            call_finish(op, wk_mcp_result(op->id, res), NULL, 0);
            return;
        }
    }
    op->idem_key[0] = 0;
    if (done) {
        snprintf(msg, sizeof msg, "Invalid arguments for %s: idempotency_key was already used with "
                 "different arguments; use a new key", op->tool->name);
        call_finish(op, wk_mcp_error(op->id, WK_RPC_INVALID_PARAMS, msg, NULL), NULL, 0);
        return;
    }
    snprintf(msg, sizeof msg, "%s: a call with this idempotency_key is still running (or Redis is "
             "unavailable); call again in a few seconds with the same key", op->tool->name);
    call_finish(op, wk_mcp_result(op->id, tool_error(msg)), NULL, 0);
}

static void on_idem_set(redisReply *reply, const char *err, void *ud)
{
    call_op_t *op = ud;
    if (reply && reply->type == REDIS_REPLY_STATUS) {
        wk_store_account(op->w, op->account_id, on_account, op);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_NIL &&
        rcli_command(op->w->redis, on_idem_get, op, "GET %s", op->idem_key) == 0)
        return;
    on_idem_get(NULL, err, op);
}

static void start_call(wk_worker_t *w, const wk_server_t *srv, const json_t *id, const wk_tool_t *tool,
                       json_t *args, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                       void *ud)
{
    if (!wk_audit_ready(w)) {
        /* No durable place for the record (Redis refuses writes and the
         * spool is full or off): the call is not made at all. */
        metrics_inc(w->metrics, "jsmcp_worker_audit_calls_refused_total", "", 1);
        json_decref(args);
        done(wk_mcp_error(id, WK_RPC_INTERNAL,
                          "the audit log cannot take records right now (its store refuses writes): nothing was done. "
                          "Call again in a few seconds.",
                          NULL),
             NULL, ud);
        return;
    }
    call_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->refs = 1;
    op->id = json_deep_copy(id);
    op->tool = tool;
    op->args = args;
    op->config = srv->config ? json_incref((json_t *)srv->config) : NULL;
    str_copy(op->server_id, sizeof op->server_id, srv->id);
    str_copy(op->workspace_id, sizeof op->workspace_id, srv->workspace_id);
    str_copy(op->account_id, sizeof op->account_id, srv->account_id);
    str_copy(op->request_id, sizeof op->request_id, request_id ? request_id : "");
    if (traceparent && strlen(traceparent) >= 35) { /* "00-<32 hex>-..." from httpd_req_child_traceparent */
        str_copy(op->traceparent, sizeof op->traceparent, traceparent);
        memcpy(op->trace_id, traceparent + 3, 32);
    }
    op->done = done;
    op->ud = ud;
    op->t0 = clock_mono_ns();
    op->ts_ms = clock_now_ms();
    const char *ikey = (tool->kind & WK_KIND_WRITE) ? jsontext_str(args, "idempotency_key") : NULL;
    if (ikey) {
        /* The record is per server and tool: one key cannot replay another tool's result. */
        char h[SECRET_HASH_HEX_LEN + 1];
        buf_t b;
        buf_init(&b, strlen(tool->name) + 1 + strlen(ikey)); /* fits: only out of memory fails */
        if (buf_printf(&b, "%s\n%s", tool->name, ikey) != 0) {
            buf_free(&b);
            on_idem_set(NULL, "out of memory", op); /* answers "try again", runs nothing */
            return;
        }
        secret_hash_hex(b.data, b.len, h);
        buf_free(&b);
        rcli_key(w->redis, op->idem_key, sizeof op->idem_key, "idem:%s:%s", op->server_id, h);
        char ttl[32];
        snprintf(ttl, sizeof ttl, "%lld", WK_IDEM_PENDING_MS);
        if (rcli_command(w->redis, on_idem_set, op, "SET %s pending NX PX %s", op->idem_key, ttl) != 0)
            on_idem_set(NULL, "redis unavailable", op);
        return;
    }
    wk_store_account(w, srv->account_id, on_account, op);
}

/* Discovery exposure: search_tools and get_tool_schema answer locally;
 * call_tool unwraps to the named tool. Returns 1 when it answered. */
static int discovery_call(wk_worker_t *w, const wk_server_t *srv, const json_t *id,
                          const json_t *params, const char *request_id, const char *traceparent,
                          wk_mcp_done_fn done, void *ud)
{
    const char *name = jsontext_str(params, "name");
    const json_t *a = json_object_get(params, "arguments");
    char err[1200];
    const json_t *def = NULL;
    size_t i;
    const json_t *d;
    json_array_foreach(w->catalog->discovery, i, d)
        if (name && strcmp(jsontext_str(d, "name"), name) == 0)
            def = d;
    if (!def) {
        snprintf(err, sizeof err, "Unknown tool: %.128s (this server lists search_tools, get_tool_schema "
                 "and call_tool)", name ? name : "");
        done(wk_mcp_error(id, WK_RPC_INVALID_PARAMS, err, NULL), NULL, ud);
        return 1;
    }
    json_t *args = json_is_object(a) ? json_incref((json_t *)a) : json_object();
    if (schema_validate(json_object_get(def, "inputSchema"), args, err, sizeof err) != 0) {
        char msg[1300];
        snprintf(msg, sizeof msg, "Invalid arguments for %s: %s", name, err);
        json_decref(args);
        done(wk_mcp_error(id, WK_RPC_INVALID_PARAMS, msg, NULL), NULL, ud);
        return 1;
    }
    json_t *structured = NULL;
    if (strcmp(name, WK_TOOL_SEARCH) == 0) {
        structured = wk_catalog_search(w->catalog, srv->config, jsontext_str(args, "query"),
                                       (size_t)jsontext_int(args, "limit", 10));
    } else if (strcmp(name, WK_TOOL_SCHEMA) == 0) {
        const wk_tool_t *t = wk_catalog_find(w->catalog, jsontext_str(args, "name"));
        if (t && wk_catalog_allowed(t, srv->config))
            structured = json_incref(t->listed);
    } else {
        json_t *inner = json_pack("{s:s?,s:O?}", "name", jsontext_str(args, "name"), "arguments",
                                  json_object_get(args, "arguments"));
        const wk_tool_t *tool;
        json_t *targs;
        int code = wk_mcp_prepare_call(w->catalog, srv->config, inner, &tool, &targs, err, sizeof err);
        json_decref(inner);
        json_decref(args);
        if (code) {
            done(wk_mcp_error(id, code, err, NULL), NULL, ud);
            return 1;
        }
        start_call(w, srv, id, tool, targs, request_id, traceparent, done, ud);
        return 1;
    }
    json_decref(args);
    json_t *res;
    if (!structured) {
        snprintf(err, sizeof err, "%s: no tool named \"%.64s\" on this server; find names with search_tools",
                 name, jsontext_str(json_object_get(params, "arguments"), "name"));
        res = tool_error(err);
    } else {
        res = wk_exec_structured_result(structured);
    }
    done(wk_mcp_result(id, res), NULL, ud);
    return 1;
}

/* ---- log and progress messages around a call (wk_push.h) ---- */

typedef struct call_notes_s {
    wk_push_t *push;
    wk_mcp_done_fn done;
    void *ud;
    char tool[160];
    uint64_t t0;
} call_notes_t;

static void notes_done(json_t *response, const wk_ratelimit_t *rl, void *ud)
{
    call_notes_t *cn = ud;
    const json_t *result = json_object_get(response, "result");
    const json_t *e = json_object_get(json_object_get(result, "structuredContent"), "error");
    double ms = (double)(clock_mono_ns() - cn->t0) / 1e6;
    if (json_object_get(response, "error")) {
        wk_push_log(cn->push, WK_LOG_ERROR, "jsmcp",
                    json_pack("{s:s,s:s,s:O}", "tool", cn->tool, "message", "the call was refused", "error",
                              json_object_get(response, "error")));
    } else if (json_is_true(json_object_get(result, "isError"))) {
        json_int_t st = json_integer_value(json_object_get(e, "status"));
        wk_push_log(cn->push, st >= 500 || st == 0 ? WK_LOG_ERROR : WK_LOG_WARNING, "jsmcp",
                    json_pack("{s:s,s:s,s:I,s:f}", "tool", cn->tool, "message", "the call failed", "upstream_status",
                              st, "latency_ms", ms));
    } else {
        wk_push_log(cn->push, WK_LOG_INFO, "jsmcp",
                    json_pack("{s:s,s:s,s:f}", "tool", cn->tool, "message", "the call succeeded", "latency_ms", ms));
    }
    if (rl && rl->limited)
        wk_push_log(cn->push, WK_LOG_WARNING, "jsmcp",
                    json_pack("{s:s,s:s,s:I}", "tool", cn->tool, "message", "rate limited", "retry_after_s",
                              (json_int_t)rl->retry_after_s));
    wk_push_progress(cn->push, 1, 1, "Done");
    cn->done(response, rl, cn->ud);
    free(cn);
}

/* The answer of a fixture tool (wk_fixtures.h). */
typedef struct fixture_call_s {
    json_t *id;
    wk_mcp_done_fn done;
    void *ud;
} fixture_call_t;

static void on_fixture(json_t *result, int code, const char *message, void *ud)
{
    fixture_call_t *fc = ud;
    fc->done(result ? wk_mcp_result(fc->id, result) : wk_mcp_error(fc->id, code, message, NULL), NULL, fc->ud);
    json_decref(fc->id);
    free(fc);
}

static void tools_call(wk_worker_t *w, const wk_server_t *srv, wk_push_t *push, const json_t *id,
                       const json_t *params, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                       void *ud)
{
    const char *name = jsontext_str(params, "name");
    if (wk_fixtures_on(w, srv->config) && wk_fixtures_is_tool(name)) {
        fixture_call_t *fc = mem_calloc(1, sizeof *fc);
        fc->id = json_deep_copy(id);
        fc->done = done;
        fc->ud = ud;
        wk_fixtures_call(w, push, name, json_object_get(params, "arguments"), on_fixture, fc);
        return;
    }
    if (push && (push->level >= 0 || push->progress_token) && name) {
        /* The client asked for messages: one as the call starts, one with
         * its outcome (only then: a plain call stays a JSON answer). */
        call_notes_t *cn = mem_calloc(1, sizeof *cn);
        cn->push = push;
        cn->done = done;
        cn->ud = ud;
        cn->t0 = clock_mono_ns();
        str_copy(cn->tool, sizeof cn->tool, name);
        char msg[200];
        snprintf(msg, sizeof msg, "Calling %.120s on the JSM site", name);
        wk_push_progress(push, 0, 1, msg);
        wk_push_log(push, WK_LOG_DEBUG, "jsmcp", json_pack("{s:s,s:s}", "tool", name, "message", "calling"));
        done = notes_done;
        ud = cn;
    }
    if (wk_catalog_discovery(srv->config) && discovery_call(w, srv, id, params, request_id, traceparent, done, ud))
        return;
    const wk_tool_t *tool;
    json_t *args;
    char err[1200];
    int code = wk_mcp_prepare_call(w->catalog, srv->config, params, &tool, &args, err, sizeof err);
    if (code) {
        done(wk_mcp_error(id, code, err, NULL), NULL, ud);
        return;
    }
    start_call(w, srv, id, tool, args, request_id, traceparent, done, ud);
}

/* ---- calls made by the worker itself ---- */

typedef struct run_op_s {
    wk_mcp_tool_cb cb;
    void *ud;
} run_op_t;

static void on_run(json_t *response, const wk_ratelimit_t *rl, void *ud)
{
    run_op_t *ro = ud;
    json_t *result = json_incref(json_object_get(response, "result"));
    const json_t *e = json_object_get(response, "error");
    ro->cb(result, result ? 0 : (int)jsontext_int(e, "code", WK_RPC_INTERNAL),
           result ? NULL : (jsontext_str(e, "message") ? jsontext_str(e, "message") : "the call failed"), ro->ud);
    json_decref(response);
    free(ro);
}

void wk_mcp_run_tool(wk_worker_t *w, const wk_server_t *srv, const char *name, json_t *args,
                     const char *request_id, const char *traceparent, wk_mcp_tool_cb cb, void *ud)
{
    json_t *params = json_pack("{s:s,s:o}", "name", name, "arguments", args ? args : json_object());
    const wk_tool_t *tool;
    json_t *targs;
    char err[1200];
    int code = wk_mcp_prepare_call(w->catalog, srv->config, params, &tool, &targs, err, sizeof err);
    json_decref(params);
    if (code) {
        cb(NULL, code, err, ud);
        return;
    }
    run_op_t *ro = mem_calloc(1, sizeof *ro);
    ro->cb = cb;
    ro->ud = ud;
    json_t *id = json_integer(0);
    start_call(w, srv, id, tool, targs, request_id, traceparent, on_run, ro);
    json_decref(id);
}

void wk_mcp_dispatch(wk_worker_t *w, const wk_server_t *srv, const wk_session_t *sess, wk_push_t *push,
                     const json_t *msg, const char *request_id, const char *traceparent, wk_mcp_done_fn done,
                     void *ud)
{
    const json_t *id = json_object_get(msg, "id");
    const char *method = jsontext_str(msg, "method");
    const json_t *params = json_object_get(msg, "params");
    char err[256];

    if (strcmp(method, "tools/call") == 0) {
        tools_call(w, srv, push, id, params, request_id, traceparent, done, ud);
        return;
    }
    json_t *res = NULL;
    if (strcmp(method, "initialize") == 0) {
        res = wk_mcp_result(id, initialize_result(srv, params));
    } else if (strcmp(method, "ping") == 0) {
        res = wk_mcp_result(id, json_object());
    } else if (strcmp(method, "tools/list") == 0) {
        const json_t *cur = json_object_get(params, "cursor");
        if (cur && !json_is_string(cur)) {
            res = wk_mcp_error(id, WK_RPC_INVALID_PARAMS, "Invalid params: cursor must be a string", NULL);
        } else {
            json_t *list = wk_catalog_list(w->catalog, srv->config, json_string_value(cur),
                                           (size_t)w->cfg->tools_page, err, sizeof err);
            if (list && !json_object_get(list, "nextCursor") && wk_fixtures_on(w, srv->config)) {
                /* On the last page; a copy, since the list may share the catalog's arrays. */
                json_t *fx = wk_fixtures_tools(), *tools = json_copy(json_object_get(list, "tools"));
                json_array_extend(tools, fx);
                json_object_set_new(list, "tools", tools);
                json_decref(fx);
            }
            res = list ? wk_mcp_result(id, list) : wk_mcp_error(id, WK_RPC_INVALID_PARAMS, err, NULL);
        }
    } else {
        snprintf(err, sizeof err, "Method not found: %.128s", method);
        res = wk_mcp_error(id, WK_RPC_METHOD_NOT_FOUND, err, NULL);
    }
    done(res, NULL, ud);
}
