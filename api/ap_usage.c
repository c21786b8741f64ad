/* ap_usage: see ap_usage.h. */
#include "ap_usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"

#define USAGE_MAX_DAYS 366
#define USAGE_MAX_ROWS 10000

typedef struct usage_q_s {
    char from[16], to[16], group[16], gran[16];
} usage_q_t;

/* "YYYY-MM-DD" of a real day -> its epoch day; -1 otherwise. */
static long day_of(const char *s)
{
    char iso[40];
    int64_t ms;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || strspn(s, "0123456789-") != 10)
        return -1;
    snprintf(iso, sizeof iso, "%sT00:00:00Z", s);
    if (clock_parse_iso(iso, &ms) != 0)
        return -1;
    char back[40];
    clock_format_iso(ms, 0, back, sizeof back);
    if (strncmp(back, s, 10) != 0) /* 2026-02-30 */
        return -1;
    return (long)(ms / 86400000);
}

static void on_usage(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    const usage_q_t *q = r->ext;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    json_t *list = json_array();
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < USAGE_MAX_ROWS; i++) {
        json_t *o = ap_res_json(res, i, 0);
        if (o)
            json_array_append_new(list, o);
    }
    json_t *out = json_pack("{sssssssssosb}", "from", q->from, "to", q->to, "group_by", q->group, "granularity",
                            q->gran, "result", list, "truncated", rows > USAGE_MAX_ROWS);
    ap_ok(r, 200, out);
}

static int bad(ap_req_t *r, const char *name, const char *detail)
{
    ap_fail(r, 400, detail, name);
    return -1;
}

static void usage_get(ap_req_t *r)
{
    usage_q_t *q = mem_calloc(1, sizeof *q);
    r->ext = q;
    r->ext_free = free;
    char *group = q->group, *gran = q->gran, today[40];
    clock_format_iso(clock_now_ms(), 0, today, sizeof today);
    today[10] = 0;
    static const char group_what[] = "account, server or tool", gran_what[] = "total or day",
                      to_what[] = "a day, YYYY-MM-DD (UTC), the last day counted",
                      from_what[] = "a day, YYYY-MM-DD (UTC), the first day counted";
    int n = ap_qparam(r, "group_by", group, sizeof q->group, group_what);
    if (n < 0)
        return;
    if (n == 0 || (strcmp(group, "account") != 0 && strcmp(group, "server") != 0 && strcmp(group, "tool") != 0)) {
        ap_qbad(r, "group_by", group_what);
        return;
    }
    if ((n = ap_qparam(r, "granularity", gran, sizeof q->gran, gran_what)) < 0)
        return;
    if (n == 0)
        snprintf(gran, sizeof q->gran, "total");
    else if (strcmp(gran, "total") != 0 && strcmp(gran, "day") != 0) {
        ap_qbad(r, "granularity", gran_what);
        return;
    }
    if ((n = ap_qparam(r, "to", q->to, sizeof q->to, to_what)) < 0)
        return;
    if (n == 0)
        snprintf(q->to, sizeof q->to, "%.10s", today);
    long to = day_of(q->to);
    if (to < 0) {
        ap_qbad(r, "to", to_what);
        return;
    }
    if ((n = ap_qparam(r, "from", q->from, sizeof q->from, from_what)) < 0)
        return;
    long from;
    if (n == 0) {
        from = to - 29;
        clock_format_iso((int64_t)from * 86400000, 0, q->from, sizeof q->from);
        q->from[10] = 0;
    } else if ((from = day_of(q->from)) < 0) {
        ap_qbad(r, "from", from_what);
        return;
    }
    if (from > to || to - from >= USAGE_MAX_DAYS) {
        bad(r, "from", "from must be on or before to, at most 366 days before it");
        return;
    }
    /* The group's key columns, then the figures. */
    const char *key = strcmp(group, "account") == 0 ? "'account_id', account_id"
                      : strcmp(group, "server") == 0 ? "'server_id', server_id, 'account_id', account_id"
                                                     : "'tool', tool";
    const char *cols = strcmp(group, "account") == 0 ? "account_id"
                       : strcmp(group, "server") == 0 ? "server_id, account_id" : "tool";
    int per_day = strcmp(gran, "day") == 0;
    char sql[2048], limit[16];
    snprintf(sql, sizeof sql,
             "SELECT json_build_object(%s%s,"
             " 'calls', sum(calls), 'errors', sum(errors), 'rate_limited', sum(rate_limited),"
             " 'upstream_ms', round(sum(upstream_ms)::numeric, 3), 'bytes_to_model', sum(bytes_to_model))::text"
             " FROM usage_all WHERE workspace_id = $1 AND day BETWEEN $2::date AND $3::date"
             " GROUP BY %s%s ORDER BY %s%s LIMIT $4",
             key, per_day ? ", 'day', day" : "", cols, per_day ? ", day" : "", cols, per_day ? ", day" : "");
    snprintf(limit, sizeof limit, "%d", USAGE_MAX_ROWS + 1);
    const char *p[4] = {r->ws_id, q->from, q->to, limit};
    ap_query(r, sql, 4, p, on_usage);
}

const ap_route_t ap_usage_routes[] = {
    {"GET", "/usage", AP_ROLE_WORKSPACE, usage_get, "usage"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
