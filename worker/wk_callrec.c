/* wk_callrec: see wk_callrec.h. */
#include "wk_callrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

/* Not on the way to the upstream request: the call takes it once the
 * request has left, while JSM works on it. */
const char *wk_callrec_args_hash(wk_callrec_t *r, const json_t *args)
{
    if (!r->args_sha[0]) {
        char *canon = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
        secret_hash_hex(canon ? canon : "", canon ? strlen(canon) : 0, r->args_sha);
        free(canon);
    }
    return r->args_sha;
}

const char *wk_callrec_error_class(const wk_tool_result_t *result, const wk_upstream_meta_t *rl, int status)
{
    if (!result)
        return "invalid_request";
    if (!result->is_error)
        return "";
    /* Refused by the worker before the tool's request: arguments the tool
     * refuses (a protocol error once), or a pre-step's own 400 or 403 (a
     * query that does not parse, a project outside the server's scope),
     * after no request or after a pre-step JSM answered (the field list, the
     * issue's project). Not an outage, not JSM's refusal. */
    json_int_t own = json_integer_value(json_object_get(json_object_get(result->structured, "error"), "status"));
    if ((status == 0 && wk_result_reason_is(result, "invalid_arguments")) ||
        ((own == 400 || own == 403) && (status == 0 || (status >= 200 && status < 300))))
        return "invalid_request";
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

static void audit_field(wk_callrec_argv_t *o, const char *k, const char *v)
{
    if (v && *v) {
        o->argv[o->argc++] = k;
        o->argv[o->argc++] = v;
    }
}

/* One audit entry per tool call: XADD <prefix>audit * ... (fields in
 * docs/architecture.md), kept and sent again while Redis is down
 * (wk_audit.c). No MAXLEN: only the API trims the stream, below what its
 * drain acknowledged (api/ap_audit.c). */
void wk_callrec_audit_argv(const rcli_t *redis, wk_callrec_t *r, const json_t *args, const wk_tool_result_t *result,
                           wk_callrec_argv_t *o)
{
    const wk_upstream_meta_t *rl = r->has_rl ? &r->rl : NULL;
    int status = r->status;
    rcli_key(redis, o->key, sizeof o->key, "audit");
    /* Bytes of the result returned to the model (usage metering): its
     * text, rendered before the audit (wk_call's finish). */
    fmt_uint(o->bytes, (unsigned long long)wk_result_text_bytes(result));
    /* By hand, not printf: this runs for every call. lat is milliseconds
     * with 3 decimals. */
    fmt_uint(o->ts, (unsigned long long)(r->ts_ms > 0 ? r->ts_ms : 0));
    fmt_uint(o->st, (unsigned)(status > 0 ? status : 0));
    unsigned long long us = (clock_mono_ns() - r->t0 + 500) / 1000;
    size_t ln = fmt_uint(o->lat, us / 1000);
    o->lat[ln] = '.';
    o->lat[ln + 1] = (char)('0' + us % 1000 / 100);
    o->lat[ln + 2] = (char)('0' + us % 100 / 10);
    o->lat[ln + 3] = (char)('0' + us % 10);
    o->lat[ln + 4] = 0;
    o->reset[0] = 0;
    if (rl && rl->reset_s >= 0)
        snprintf(o->reset, sizeof o->reset, "%ld", rl->reset_s);
    o->argc = 0;
    o->argv[o->argc++] = "XADD";
    o->argv[o->argc++] = o->key;
    o->argv[o->argc++] = "*";
    audit_field(o, "ts_ms", o->ts);
    audit_field(o, "workspace_id", r->workspace_id);
    audit_field(o, "account_id", r->account_id);
    audit_field(o, "server_id", r->server_id);
    audit_field(o, "tool", r->tool);
    audit_field(o, "args_sha256", wk_callrec_args_hash(r, args));
    audit_field(o, "upstream_status", status ? o->st : "");
    audit_field(o, "latency_ms", o->lat);
    audit_field(o, "ratelimit_limit", rl ? rl->limit : NULL);
    audit_field(o, "ratelimit_remaining", rl ? rl->remaining : NULL);
    audit_field(o, "ratelimit_reset_s", o->reset);
    audit_field(o, "upstream_request_id", rl ? rl->request_id : NULL);
    audit_field(o, "error_class", r->cls);
    audit_field(o, "request_id", r->request_id);
    audit_field(o, "result_bytes", o->bytes);
}

/* Per-account call counts. The label is bounded: past the cap of distinct
 * accounts a process has counted, further accounts count as "other" (a
 * series that exists already has a count of at least 1). */
static void count_account(wk_worker_t *w, const wk_callrec_t *r)
{
    char labels[160], id[128];
    metrics_label_escape(r->account_id, id, sizeof id);
    snprintf(labels, sizeof labels, "account=\"%s\"", id);
    if (metrics_get(w->metrics, "jsmcp_worker_account_calls_total", labels) <= 0) {
        if (w->metric_accounts >= w->cfg->metrics_max_accounts)
            snprintf(labels, sizeof labels, "account=\"other\"");
        else
            w->metric_accounts++;
    }
    metrics_inc(w->metrics, "jsmcp_worker_account_calls_total", labels, 1);
}

void wk_callrec_observe(wk_worker_t *w, const wk_callrec_t *r)
{
    const wk_upstream_meta_t *rl = r->has_rl ? &r->rl : NULL;
    int status = r->status;
    char labels[192], st[24], lat[32];
    double secs = (double)(clock_mono_ns() - r->t0) / 1e9;
    fmt_int(st, status);
    str_join(labels, sizeof labels, "tool=\"", r->tool, "\",upstream_status=\"", st, "\"", NULL);
    metrics_inc(w->metrics, "jsmcp_worker_tool_calls_total", labels, 1);
    str_join(labels, sizeof labels, "tool=\"", r->tool, "\"", NULL);
    metrics_observe(w->metrics, "jsmcp_worker_tool_call_duration_seconds", labels, secs);
    if ((status == 0 && !(rl && rl->limited)) || status >= 500)
        metrics_inc(w->metrics, "jsmcp_worker_upstream_errors_total", "", 1);
    count_account(w, r);
    const char *cls = r->cls;
    if (*cls) {
        str_join(labels, sizeof labels, "class=\"", cls, "\"", NULL);
        metrics_inc(w->metrics, "jsmcp_worker_tool_errors_total", labels, 1);
    }
    if (log_min_level > (*cls ? LOG_LVL_INFO : LOG_LVL_DEBUG))
        return; /* the line would not be written: skip formatting it */
    snprintf(lat, sizeof lat, "%.1f", secs * 1e3);
    if (*cls) {
        LOG_INFO("worker", "tool call failed", "request_id", r->request_id, "trace_id", r->trace_id, "tool", r->tool,
                 "account", r->account_id, "server", r->server_id, "upstream_status", st, "error_class", cls,
                 "latency_ms", lat, NULL);
    } else {
        LOG_DEBUG("worker", "tool call", "request_id", r->request_id, "trace_id", r->trace_id, "tool", r->tool,
                  "account", r->account_id, "server", r->server_id, "upstream_status", st, "latency_ms", lat, NULL);
    }
}
