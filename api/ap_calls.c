/* ap_calls: see ap_calls.h. */
#include "ap_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "secret.h"
#include "clock.h"

#define CALLS_PAGE_MAX 200
#define CALLS_PAGE_DEFAULT 50
#define EXPORT_PAGE "1000" /* rows per query of an export */
#define EXPORT_PAGE_ROWS 1000
#define EXPORT_PAUSE_ABOVE (256 * 1024) /* bytes queued on the socket before an export waits ... */
#define EXPORT_RESUME_BELOW (64 * 1024) /* ... until the client has taken this much of them */
#define CALLS_NPARAMS 12
#define SERIES_BUCKETS_MAX 1000                         /* buckets of one series */
#define SERIES_RANGE_MAX_MS (31LL * 86400000)           /* since to until */
#define SERIES_RANGE_DEFAULT_MS 86400000LL
#define SERIES_STEP_MAX_S 86400

/* SQL: the outcome of a record (docs/admin-api.md, "Tool calls"). */
#define OUTCOME_SQL                                                                                    \
    "CASE WHEN c.error_class IS NULL THEN 'ok' WHEN c.error_class IN ('rate_limited', 'paced') THEN"    \
    " 'rate_limited' WHEN c.error_class IN ('cancelled', 'declined') THEN c.error_class ELSE"           \
    " 'tool_error' END"

/* SQL: a record's args_sha256: the text of rows drained before migration
 * 027 (and of a value that is not a digest), the 32 bytes' hex digits of
 * rows since. */
#define ARGS_SHA256_SQL "coalesce(c.args_sha256, encode(c.args_digest, 'hex'))"

/* SQL: a record's tool: the text of rows drained before migration 028 (and
 * of a name the drain keeps as text), the name of its number in tool_names
 * for rows since (a lookup by tool_names' primary key, for the rows of a
 * page only). */
#define TOOL_SQL "coalesce(c.tool, (SELECT n.name FROM tool_names n WHERE n.id = c.tool_id))"

/* SQL: one record as the API shows it. call_id: its 32 hex digits. */
#define CALL_JSON                                                                                          \
    "json_build_object('id', c.id, 'ts', to_char(c.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')," \
    " 'account_id', c.account_id, 'server_id', c.server_id, 'tool', " TOOL_SQL ", 'outcome', " OUTCOME_SQL "," \
    " 'args_sha256', " ARGS_SHA256_SQL ", 'upstream_status', c.upstream_status,"                          \
    " 'latency_ms', c.latency_ms, 'result_bytes', c.result_bytes, 'ratelimit', CASE WHEN"                  \
    " c.ratelimit_limit IS NULL AND c.ratelimit_remaining IS NULL THEN NULL ELSE json_build_object('limit'," \
    " c.ratelimit_limit, 'remaining', c.ratelimit_remaining, 'reset_s', c.ratelimit_reset_s) END,"          \
    " 'upstream_request_id', c.upstream_request_id, 'error_class', c.error_class,"                        \
    " 'request_id', c.request_id, 'call_id', replace(c.call_id::text, '-', ''))::text"

/* The CSV export's columns, in order, and the SQL of each (text or NULL). */
static const struct {
    const char *name;
    const char *sql;
    int text; /* free text from a worker or JSM: guarded against spreadsheet formulas */
} CSV_COLS[] = {
    {"id", "c.id::text", 0},
    {"ts", "to_char(c.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", 0},
    {"call_id", "replace(c.call_id::text, '-', '')", 1},
    {"account_id", "c.account_id::text", 0},
    {"server_id", "c.server_id::text", 0},
    {"tool", TOOL_SQL, 1},
    {"outcome", OUTCOME_SQL, 0},
    {"upstream_status", "c.upstream_status::text", 0},
    {"latency_ms", "c.latency_ms::text", 0},
    {"result_bytes", "c.result_bytes::text", 0},
    {"error_class", "c.error_class", 1},
    {"ratelimit_limit", "c.ratelimit_limit::text", 0},
    {"ratelimit_remaining", "c.ratelimit_remaining::text", 0},
    {"ratelimit_reset_s", "c.ratelimit_reset_s::text", 0},
    {"upstream_request_id", "c.upstream_request_id", 1},
    {"request_id", "c.request_id", 1},
    {"args_sha256", ARGS_SHA256_SQL, 1},
};
#define NCSV (sizeof CSV_COLS / sizeof *CSV_COLS)

enum calls_fmt { FMT_JSON, FMT_NDJSON, FMT_CSV };

/* One search: its filters as SQL parameters, and for an export the
 * stream's state. Owned by the request (r->ext), freed with it. */
typedef struct calls_s {
    ap_req_t *r;
    enum calls_fmt fmt;
    int per_server;                   /* the per-server route: the account must be the caller's */
    int series;                       /* GET /calls/series: no format, limit or cursor */
    char step_s[24], nbuckets[24];    /* the series' bucket width (seconds) and count */
    long limit;
    char server[AP_UUID_LEN + 1], account[AP_UUID_LEN + 1];
    char tool[129], since[40], until[40], status[8], limit_s[24];
    char before_ts[24], before_call[33]; /* the keyset: microseconds since 1970, call_id's 32 hex digits */
    const char *outcome_sql;          /* a condition without parameters, or NULL */
    char *sql;                        /* built once per search */
    const char *p[CALLS_NPARAMS];
    int np, before_idx;               /* before_idx: the keyset's first parameter (ts, then call_id) */
    size_t rows;                      /* exported so far */
    int aborted;                      /* the client went away */
    int waiting;                      /* for the socket to drain (httpd_stream_on_drain) */
} calls_t;

static void calls_free(void *ext)
{
    calls_t *q = ext;
    free(q->sql);
    free(q);
}

/* ---- cursors: base64url of "c<ts>.<call_id>" ----
 * The listings go newest first by the call's time, ties by call_id
 * (migration 026: the indexes are (workspace_id, ts, call_id) and (server_id,
 * ts, call_id)); a cursor is the last row's key: its ts in microseconds
 * since 1970 and its call_id's 32 hex digits (the query's column i). */

#define KEY_TS_DIGITS 18 /* microseconds up to the year 9999 and a bit */

/* Sets the keyset from "<ts>.<call_id>"; -1 when it is not one. */
static int keyset_set(calls_t *q, const char *key)
{
    size_t nts = strspn(key, "0123456789");
    if (nts < 1 || nts > KEY_TS_DIGITS || key[nts] != '.' || strlen(key + nts + 1) != 32 ||
        strspn(key + nts + 1, "0123456789abcdef") != 32)
        return -1;
    memcpy(q->before_ts, key, nts);
    q->before_ts[nts] = 0;
    memcpy(q->before_call, key + nts + 1, 33);
    return 0;
}

static void cursor_encode(const char *key, char *out, size_t outsz)
{
    char raw[64];
    int n = snprintf(raw, sizeof raw, "c%s", key);
    if (n < 0 || (size_t)n >= sizeof raw || secret_b64url_encode(raw, (size_t)n, out, outsz) < 0)
        out[0] = 0;
}

static int cursor_decode(calls_t *q, const char *cur)
{
    char raw[64];
    size_t n = 0;
    if (strlen(cur) > 80 || secret_b64_decode_any(cur, raw, sizeof raw - 1, &n) != 0 || n < 2)
        return -1;
    raw[n] = 0;
    if (raw[0] != 'c' || strlen(raw) != n)
        return -1;
    return keyset_set(q, raw + 1);
}

/* ---- the query ---- */

static const char *outcome_condition(const char *v)
{
    static const struct {
        const char *name, *sql;
    } map[] = {
        {"ok", "c.error_class IS NULL"},
        {"tool_error", "c.error_class NOT IN ('rate_limited', 'paced', 'cancelled', 'declined')"},
        {"rate_limited", "c.error_class IN ('rate_limited', 'paced')"},
        {"cancelled", "c.error_class = 'cancelled'"},
        {"declined", "c.error_class = 'declined'"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(v, map[i].name) == 0)
            return map[i].sql;
    return NULL;
}

static int add_filters(calls_t *q, buf_t *b);
static int take_sql(calls_t *q, buf_t *b);

/* Appends a condition on the next parameter (cond has one %d). */
static int add_param(calls_t *q, buf_t *b, const char *cond, const char *val)
{
    q->p[q->np++] = val;
    buf_printf(b, cond, q->np);
    return q->np;
}

/* SELECT (row..., key, owner_ok): only the filters given become conditions,
 * so PostgreSQL plans each combination on its own (a server's index for a
 * server, the workspace's otherwise; both serve a time range). The
 * keyset condition is a plain (c.ts, c.call_id) < ($n, $n+1) (the first
 * page starts after the last possible key): an export reruns the statement
 * page after page, and a generic plan of "$n IS NULL OR ..." would walk the
 * index from the newest row each time. */
static int build_sql(calls_t *q)
{
    buf_t b;
    buf_init(&b, 64 * 1024);
    q->np = 0;
    q->p[q->np++] = q->r->ws_id;
    buf_append_str(&b, "WITH page AS (SELECT ");
    if (q->fmt == FMT_CSV) {
        /* The CSV line is built in C (quoting); here the columns come apart. */
        for (size_t i = 0; i < NCSV; i++)
            buf_printf(&b, "%s%s", i ? ", " : "", CSV_COLS[i].sql);
    } else {
        buf_append_str(&b, CALL_JSON);
    }
    buf_append_str(&b, ", (extract(epoch FROM c.ts) * 1000000)::bigint || '.' || replace(c.call_id::text, '-', '')"
                       " AS i FROM tool_calls c WHERE c.workspace_id = $1");
    int acct = add_filters(q, &b);
    q->before_idx = add_param(q, &b, " AND (c.ts, c.call_id) < (timestamptz 'epoch' + $%d::bigint"
                                     " * interval '1 microsecond'", q->before_ts) - 1;
    add_param(q, &b, ", $%d::uuid)", q->before_call);
    add_param(q, &b, " ORDER BY c.ts DESC, c.call_id DESC LIMIT $%d::int)",
              q->fmt == FMT_JSON ? q->limit_s : EXPORT_PAGE);
    if (q->per_server)
        buf_printf(&b, ", owner AS (SELECT EXISTS (SELECT 1 FROM integrated_accounts WHERE id = $%d::uuid"
                       " AND workspace_id = $1) AS ok)", acct);
    else
        buf_append_str(&b, ", owner AS (SELECT true AS ok)");
    buf_append_str(&b, " SELECT page.*, owner.ok FROM owner LEFT JOIN page ON true");
    return take_sql(q, &b);
}

/* Appends the search's filters (after c.workspace_id = $1) as conditions;
 * returns the account filter's parameter index (0: none). */
static int add_filters(calls_t *q, buf_t *b)
{
    if (q->server[0])
        add_param(q, b, " AND c.server_id = $%d::uuid", q->server);
    int acct = q->account[0] ? add_param(q, b, " AND c.account_id = $%d::uuid", q->account) : 0;
    if (q->tool[0]) {
        /* Either form: the number's lookup runs once (an InitPlan), not per row. */
        q->p[q->np++] = q->tool;
        buf_printf(b, " AND (c.tool = $%d OR c.tool_id = (SELECT n.id FROM tool_names n WHERE n.name = $%d))", q->np,
                   q->np);
    }
    if (q->outcome_sql)
        buf_printf(b, " AND %s", q->outcome_sql);
    if (strcmp(q->status, "none") == 0)
        buf_append_str(b, " AND c.upstream_status IS NULL");
    else if (strlen(q->status) == 3 && q->status[1] == 'x')
        buf_printf(b, " AND c.upstream_status BETWEEN %c00 AND %c99", q->status[0], q->status[0]);
    else if (q->status[0])
        add_param(q, b, " AND c.upstream_status = $%d::int", q->status);
    if (q->since[0])
        add_param(q, b, " AND c.ts >= $%d::timestamptz", q->since);
    if (q->until[0])
        add_param(q, b, " AND c.ts < $%d::timestamptz", q->until);
    return acct;
}

/* Bounded inputs keep the statement far under 64 KiB; one cut short is
 * never run (buf's error is sticky). */
static int take_sql(calls_t *q, buf_t *b)
{
    char *sql = buf_steal(b, NULL);
    if (!sql)
        return -1;
    q->sql = sql;
    return 0;
}

/* The series: one JSON object, every bucket of [since, until) in order,
 * empty ones with zero calls. date_bin puts each call in the bucket of its
 * ts counted from since; the rows read are the workspace's in the range
 * (tool_calls_workspace (workspace_id, ts, call_id), migration 026). percentile_disc is the
 * nearest-rank percentile (a latency some call had). Headroom: the lowest
 * ratelimit_remaining stored, and the lowest share of the limit left where
 * JSM sent a limit. */
static int build_series_sql(calls_t *q)
{
    buf_t b;
    buf_init(&b, 64 * 1024);
    q->np = 0;
    q->p[q->np++] = q->r->ws_id;
    buf_append_str(&b, "WITH x AS (SELECT date_bin(make_interval(secs => $2::int), c.ts, $3::timestamptz) AS t,"
                       " count(*) AS calls, count(c.error_class) AS errors,"
                       " percentile_disc(0.5) WITHIN GROUP (ORDER BY c.latency_ms) AS p50,"
                       " percentile_disc(0.95) WITHIN GROUP (ORDER BY c.latency_ms) AS p95,"
                       " min(c.ratelimit_remaining) AS rl_min,"
                       " min(greatest(0, least(100, 100 * c.ratelimit_remaining::float8 / c.ratelimit_limit)))"
                       "  FILTER (WHERE c.ratelimit_limit > 0) AS rl_pct"
                       " FROM tool_calls c WHERE c.workspace_id = $1");
    q->p[q->np++] = q->step_s;
    q->p[q->np++] = q->since;
    q->p[q->np++] = q->nbuckets;
    add_filters(q, &b); /* since and until are set: the range is always bounded */
    buf_append_str(&b, " GROUP BY 1)"
                       " SELECT json_build_object('since', to_char($3::timestamptz AT TIME ZONE 'UTC',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'step_s', $2::int, 'buckets', json_agg(json_build_object("
                       "'t', to_char(g.t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                       " 'calls', coalesce(x.calls, 0), 'errors', coalesce(x.errors, 0), 'p50_ms', x.p50,"
                       " 'p95_ms', x.p95, 'ratelimit_remaining_min', x.rl_min, 'ratelimit_headroom_pct', x.rl_pct)"
                       " ORDER BY g.t))::text"
                       " FROM (SELECT $3::timestamptz + i * make_interval(secs => $2::int) AS t"
                       "  FROM generate_series(0, $4::int - 1) i) g LEFT JOIN x ON x.t = g.t");
    return take_sql(q, &b);
}

/* ---- query parameters ---- */

/* Which format the client asked for: Accept (an export) or format=. */
static int pick_format(ap_req_t *r, calls_t *q)
{
    char v[16];
    int rc = ap_qparam(r, "format", v, sizeof v, "json, ndjson or csv");
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (strcmp(v, "json") == 0)
            q->fmt = FMT_JSON;
        else if (strcmp(v, "ndjson") == 0)
            q->fmt = FMT_NDJSON;
        else if (strcmp(v, "csv") == 0)
            q->fmt = FMT_CSV;
        else
            return ap_qbad(r, "format", "json, ndjson or csv");
        return 0;
    }
    const char *acc = httpd_req_header(r->req, "Accept");
    q->fmt = FMT_JSON;
    if (acc && strstr(acc, "application/x-ndjson"))
        q->fmt = FMT_NDJSON;
    else if (acc && strstr(acc, "text/csv"))
        q->fmt = FMT_CSV;
    return 0;
}

/* Every filter of GET /calls; -1 when r was answered with 400. */
static int parse(ap_req_t *r, calls_t *q)
{
    char v[256];
    int rc;
    if (!q->per_server && !q->series && pick_format(r, q) != 0)
        return -1;
    if (!q->per_server) {
        if ((rc = ap_qparam(r, "server_id", q->server, sizeof q->server, "a server id")) < 0)
            return -1;
        if (rc && !ap_is_uuid(q->server))
            return ap_qbad(r, "server_id", "a server id");
        if ((rc = ap_qparam(r, "account_id", q->account, sizeof q->account, "an account id")) < 0)
            return -1;
        if (rc && !ap_is_uuid(q->account))
            return ap_qbad(r, "account_id", "an account id");
    }
    if ((rc = ap_qparam(r, "tool", q->tool, sizeof q->tool, "a tool name (1 to 128 characters)")) < 0)
        return -1;
    if ((rc = ap_qparam(r, "outcome", v, sizeof v, "ok, tool_error, rate_limited, cancelled or declined")) < 0)
        return -1;
    if (rc && !(q->outcome_sql = outcome_condition(v)))
        return ap_qbad(r, "outcome", "ok, tool_error, rate_limited, cancelled or declined");
    static const char st_what[] = "2xx, 3xx, 4xx, 5xx, none or a status code from 100 to 599";
    if ((rc = ap_qparam(r, "upstream_status", q->status, sizeof q->status, st_what)) < 0)
        return -1;
    if (rc) {
        const char *s = q->status;
        int cls = strlen(s) == 3 && s[0] >= '2' && s[0] <= '5' && strcmp(s + 1, "xx") == 0;
        int code = strlen(s) == 3 && strspn(s, "0123456789") == 3 && s[0] >= '1' && s[0] <= '5';
        if (!cls && !code && strcmp(s, "none") != 0)
            return ap_qbad(r, "upstream_status", st_what);
    }
    if (ap_qtime(r, "since", q->since, sizeof q->since) < 0 || ap_qtime(r, "until", q->until, sizeof q->until) < 0)
        return -1;
    if (q->series)
        return 0;
    q->limit = CALLS_PAGE_DEFAULT;
    if ((rc = ap_qparam(r, "limit", v, sizeof v, "a whole number from 1 to 200")) < 0)
        return -1;
    if (rc) {
        char *end;
        q->limit = strtol(v, &end, 10);
        if (*end || q->limit < 1 || q->limit > CALLS_PAGE_MAX)
            return ap_qbad(r, "limit", "a whole number from 1 to 200");
    }
    snprintf(q->limit_s, sizeof q->limit_s, "%ld", q->limit + 1);
    /* The first page: below any record (ts is at most 9999-12-31, ap_audit.c). */
    keyset_set(q, "253402300800000000.ffffffffffffffffffffffffffffffff");
    if ((rc = ap_qparam(r, "next_cursor", v, sizeof v, "a cursor this API returned")) < 0)
        return -1;
    if (rc && cursor_decode(q, v) != 0)
        return ap_qbad(r, "next_cursor", "a cursor this API returned");
    return 0;
}

/* ---- the series: its range and step ---- */

/* since and until (defaults: the last 24 hours), step (default: the range
 * in 60 buckets); at most SERIES_BUCKETS_MAX buckets over at most
 * SERIES_RANGE_MAX_MS, so one query's work is bounded by the rows of one
 * workspace in 31 days. Sets q->since/until to canonical times, q->step_s
 * and q->nbuckets; -1 when r was answered with 400. */
static int series_range(ap_req_t *r, calls_t *q)
{
    int64_t since = 0, until = clock_now_ms();
    if (q->until[0])
        clock_parse_iso(q->until, &until); /* ap_qtime checked it */
    if (q->since[0])
        clock_parse_iso(q->since, &since);
    else
        since = until - SERIES_RANGE_DEFAULT_MS;
    if (until <= since)
        return ap_qbad(r, "until", "a time after since");
    if (until - since > SERIES_RANGE_MAX_MS)
        return ap_qbad(r, "since", "a time at most 31 days before until");
    int64_t range_s = (until - since + 999) / 1000, step;
    char v[32];
    static const char step_what[] = "a whole number of seconds from 1 to 86400";
    int rc = ap_qparam(r, "step", v, sizeof v, step_what);
    if (rc < 0)
        return -1;
    if (rc) {
        char *end;
        step = strtoll(v, &end, 10);
        if (*end || step < 1 || step > SERIES_STEP_MAX_S)
            return ap_qbad(r, "step", step_what);
    } else {
        step = (range_s + 59) / 60;
    }
    int64_t n = (range_s + step - 1) / step;
    if (n > SERIES_BUCKETS_MAX) {
        char what[128];
        snprintf(what, sizeof what, "at least %lld seconds for this range (at most %d buckets)",
                 (long long)((range_s + SERIES_BUCKETS_MAX - 1) / SERIES_BUCKETS_MAX), SERIES_BUCKETS_MAX);
        return ap_qbad(r, "step", what);
    }
    clock_format_iso(since, 1, q->since, sizeof q->since);
    clock_format_iso(until, 1, q->until, sizeof q->until);
    snprintf(q->step_s, sizeof q->step_s, "%lld", (long long)step);
    snprintf(q->nbuckets, sizeof q->nbuckets, "%lld", (long long)n);
    return 0;
}

static void on_series(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    calls_t *q = r->ext;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    json_t *out = PQntuples(res) == 1 ? ap_res_json(res, 0, 0) : NULL;
    if (!out) {
        ap_fail(r, 500, "the series could not be read", NULL);
        return;
    }
    json_object_set_new(out, "until", json_string(q->until));
    ap_ok(r, 200, out);
}

/* ---- a JSON page ---- */

static void on_page(PGresult *res, const char *err, void *ud)
{
    ap_req_t *r = ud;
    calls_t *q = r->ext;
    if (!ap_res_ok(res)) {
        ap_fail_db(r, res, err, NULL);
        return;
    }
    int rows = PQntuples(res);
    /* Row 0 may be only the marker that the account is the caller's. */
    if (rows == 0 || strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        ap_fail(r, 404, "no integrated account with this id", NULL);
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < rows && i < q->limit; i++) {
        json_t *o = PQgetisnull(res, i, 0) ? NULL : ap_res_json(res, i, 0);
        if (o)
            json_array_append_new(list, o);
    }
    json_t *out = json_pack("{so}", "result", list);
    if (rows > q->limit) {
        char cur[96];
        cursor_encode(PQgetvalue(res, (int)q->limit - 1, 1), cur, sizeof cur);
        json_object_set_new(out, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    ap_ok(r, 200, out);
}

/* ---- an export: NDJSON or CSV, streamed page by page ----
 * One query of EXPORT_PAGE rows at a time, each sent as one chunk; the
 * next query waits while more than EXPORT_PAUSE_ABOVE bytes are queued on
 * the socket (httpd_stream_on_drain), so a slow client holds at most a page
 * and that queue in memory, whatever the size of the result. */

static void export_next(calls_t *q);

static void export_finish(calls_t *q, int complete)
{
    ap_req_t *r = q->r;
    char rows[24];
    snprintf(rows, sizeof rows, "%zu", q->rows);
    if (!complete && !q->aborted)
        LOG_WARN("calls", "export cut short", "rows", rows, "request_id", httpd_req_id(r->req), NULL);
    ap_stream_finish(r, complete);
}

/* CSV field: quoted when it holds a separator, quote or line break; free
 * text that a spreadsheet would run as a formula (= + - @, tab, CR) gets
 * a leading apostrophe (OWASP's advice for CSV injection). */
static void csv_field(buf_t *b, const char *v, int text)
{
    int formula = text && v[0] && strchr("=+-@\t\r", v[0]);
    int quote = formula || strpbrk(v, ",\"\r\n") != NULL;
    if (quote)
        buf_append(b, "\"", 1);
    if (formula)
        buf_append(b, "'", 1);
    for (const char *run = v;;) {
        size_t n = strcspn(run, "\"");
        buf_append(b, run, n);
        if (!run[n])
            break;
        buf_append(b, "\"\"", 2);
        run += n + 1;
    }
    if (quote)
        buf_append(b, "\"", 1);
}

static void on_drained(httpd_req_t *req, void *ud)
{
    (void)req;
    calls_t *q = ud;
    q->waiting = 0;
    export_next(q);
}

static void on_export_rows(PGresult *res, const char *err, void *ud)
{
    calls_t *q = ud;
    ap_req_t *r = q->r;
    if (q->aborted) {
        export_finish(q, 0);
        return;
    }
    if (!ap_res_ok(res)) {
        LOG_WARN("calls", "export query failed", "err", err ? err : PQresultErrorMessage(res), NULL);
        export_finish(q, 0);
        return;
    }
    int rows = PQntuples(res), ncols = PQnfields(res);
    buf_t b;
    buf_init(&b, (size_t)-1 / 2);
    int sent = 0, keyset_ok = 1;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, ncols - 2))
            continue; /* the LEFT JOIN's row of an empty page */
        if (q->fmt == FMT_NDJSON) {
            buf_append(&b, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
        } else {
            for (size_t c = 0; c < NCSV; c++) {
                if (c)
                    buf_append(&b, ",", 1);
                if (!PQgetisnull(res, i, (int)c))
                    csv_field(&b, PQgetvalue(res, i, (int)c), CSV_COLS[c].text);
            }
            buf_append(&b, "\r", 1);
        }
        buf_append(&b, "\n", 1);
        /* The drain stores no time before 1970, the only key this refuses. */
        keyset_ok &= keyset_set(q, PQgetvalue(res, i, ncols - 2)) == 0;
        sent++;
    }
    if (!buf_ok(&b) || !keyset_ok) {
        /* Out of memory (or a key of no next page): the page is gone, so the export ends unfinished
         * (no last chunk) rather than silently without these rows. */
        buf_free(&b);
        export_finish(q, 0);
        return;
    }
    int rc = b.len ? httpd_stream_write(r->req, b.data, b.len) : 0;
    buf_free(&b);
    q->rows += (size_t)sent;
    metrics_inc(r->app->metrics, "jsmcp_api_calls_exported_rows_total", "", sent);
    if (rc == HTTPD_ECLOSED || r->app->closing) { /* ECLOSED: the abort callback has run */
        export_finish(q, 0);
        return;
    }
    if (sent < EXPORT_PAGE_ROWS) {
        export_finish(q, 1);
        return;
    }
    if (httpd_stream_queued(r->req) <= EXPORT_PAUSE_ABOVE) {
        export_next(q);
        return;
    }
    rc = httpd_stream_on_drain(r->req, EXPORT_RESUME_BELOW, on_drained, q);
    if (rc == 1)
        export_next(q);
    else if (rc == 0)
        q->waiting = 1;
    else
        export_finish(q, 0);
}

static void export_next(calls_t *q)
{
    q->p[q->before_idx] = q->before_ts;
    q->p[q->before_idx + 1] = q->before_call;
    if (pgpool_query(q->r->app->db, q->sql, q->np, q->p, on_export_rows, q) != 0)
        export_finish(q, 0);
}

/* The client went away: finish now if waiting for its socket to drain
 * (that will never come), else when the query in flight returns. */
static void on_export_abort(httpd_req_t *req, void *ud)
{
    (void)req;
    calls_t *q = ud;
    q->aborted = 1;
    if (q->waiting)
        export_finish(q, 0);
}

static void export_start(calls_t *q)
{
    ap_req_t *r = q->r;
    if (q->fmt == FMT_CSV)
        httpd_resp_header(r->req, "Content-Disposition", "attachment; filename=\"tool-calls.csv\"");
    httpd_resp_header(r->req, "Cache-Control", "no-store");
    if (httpd_stream_begin(r->req, 200, q->fmt == FMT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson") != 0) {
        export_finish(q, 0);
        return;
    }
    httpd_req_on_abort(r->req, on_export_abort, q);
    if (q->fmt == FMT_CSV) {
        buf_t b;
        buf_init(&b, 4096);
        for (size_t c = 0; c < NCSV; c++)
            buf_printf(&b, "%s%s", c ? "," : "", CSV_COLS[c].name);
        buf_append(&b, "\r\n", 2);
        int ok = buf_ok(&b); /* 4 KiB holds the header line; only out of memory fails */
        int rc = ok ? httpd_stream_write(r->req, b.data, b.len) : 0;
        buf_free(&b);
        if (!ok || rc == HTTPD_ECLOSED) {
            export_finish(q, 0);
            return;
        }
    }
    export_next(q);
}

/* GET /calls and the per-server listing (which is the same search with
 * its account and server fixed, JSON pages only). */
static void calls_search(ap_req_t *r, int per_server)
{
    calls_t *q = mem_calloc(1, sizeof *q);
    q->r = r;
    q->per_server = per_server;
    r->ext = q;
    r->ext_free = calls_free;
    if (per_server) {
        if (!ap_is_uuid(ap_param(r, "id")) || !ap_is_uuid(ap_param(r, "mcp_id"))) {
            ap_fail(r, 404, "no MCP server with this id for this account", NULL);
            return;
        }
        snprintf(q->account, sizeof q->account, "%s", ap_param(r, "id"));
        snprintf(q->server, sizeof q->server, "%s", ap_param(r, "mcp_id"));
    }
    if (parse(r, q) != 0)
        return;
    if (build_sql(q) != 0) {
        ap_fail(r, 500, "the search could not be built", NULL);
        return;
    }
    if (q->fmt == FMT_JSON)
        ap_query(r, q->sql, q->np, q->p, on_page);
    else
        export_start(q);
}

/* GET /calls/series: the search's filters, counted per time bucket. */
static void calls_series(ap_req_t *r)
{
    calls_t *q = mem_calloc(1, sizeof *q);
    q->r = r;
    q->series = 1;
    r->ext = q;
    r->ext_free = calls_free;
    if (parse(r, q) != 0 || series_range(r, q) != 0)
        return;
    if (build_series_sql(q) != 0) {
        ap_fail(r, 500, "the series could not be built", NULL);
        return;
    }
    ap_query(r, q->sql, q->np, q->p, on_series);
}

static void calls_workspace(ap_req_t *r)
{
    calls_search(r, 0);
}

static void calls_server(ap_req_t *r)
{
    calls_search(r, 1);
}

const ap_route_t ap_calls_routes[] = {
    {"GET", "/calls", AP_ROLE_WORKSPACE, calls_workspace, "calls"},
    {"GET", "/calls/series", AP_ROLE_WORKSPACE, calls_series, "calls_series"},
    {"GET", "/integrated-account/:id/mcp/:mcp_id/calls", AP_ROLE_WORKSPACE, calls_server, "server_calls"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
