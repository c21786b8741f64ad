/* GET /calls (issue 26): the workspace-wide search of tool-call records —
 * each filter against the rows PostgreSQL holds, keyset pages newest first,
 * workspace isolation, bad input — and its export: 100,000 records as
 * NDJSON and CSV, streamed with bounded memory (the API's peak RSS is
 * measured), paused while a client does not read (backpressure), and
 * stopped when the client goes away. Records are written straight into
 * tool_calls here (the drain that normally writes them is test_api_audit's
 * subject). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_api_common.h"

/* Records for workspace ws: n rows over 2 accounts x 2 servers x 3 tools,
 * outcomes and statuses in a fixed pattern, one a minute back from now. */
static void seed(const ts_api_t *a, const char *ws, const char *acct0, const char *acct1, const char *srv0,
                 const char *srv1, int n, const char *tag)
{
    char sql[4096];
    snprintf(sql, sizeof sql,
             "INSERT INTO tool_calls (stream_id, call_id, ts, workspace_id, account_id, server_id, tool, args_sha256,"
             " upstream_status, latency_ms, error_class, request_id, upstream_request_id, result_bytes)"
             " SELECT '%s-' || g, md5('%s' || g)::uuid, now() - g * interval '1 minute', '%s',"
             " CASE WHEN g %% 2 = 0 THEN '%s' ELSE '%s' END::uuid,"
             " CASE WHEN g %% 2 = 0 THEN '%s' ELSE '%s' END::uuid,"
             " (ARRAY['search','get_issue','list_queues'])[g %% 3 + 1], md5(g::text) || md5(g::text),"
             " CASE WHEN g %% 5 = 0 THEN 429 WHEN g %% 7 = 0 THEN 503 WHEN g %% 11 = 0 THEN NULL ELSE 200 END,"
             " g %% 100 + 0.5,"
             " CASE WHEN g %% 5 = 0 THEN 'rate_limited' WHEN g %% 7 = 0 THEN 'upstream_5xx'"
             "  WHEN g %% 11 = 0 THEN 'unavailable' END,"
             " 'req-' || g, CASE WHEN g %% 13 = 0 THEN '=HYPERLINK(\"x\",\"a,b\")' ELSE 'up-' || g END, g * 10"
             " FROM generate_series(1, %d) g",
             tag, tag, ws, acct0, acct1, srv0, srv1, n);
    free(ts_sql(a->db_url, sql));
}

/* Pages through GET /calls?<query> with limit 97; asserts newest first and
 * that each record passes check (may be NULL). Returns the records seen. */
static long page_all(const ts_api_t *a, const char *key, const char *query,
                     void (*check)(json_t *rec, const char *query))
{
    ts_resp_t r;
    char cursor[256] = "";
    long seen = 0;
    char last[128] = ""; /* "<ts> <call_id>" of the record before */
    for (int page = 0; page < 1000; page++) {
        ta_call(&r, a, key, "GET", NULL, "/calls?limit=97%s%s%s%s", query[0] ? "&" : "", query,
                cursor[0] ? "&next_cursor=" : "", cursor);
        cr_assert_eq(r.status, 200, "%s: %ld %s", query, r.status, r.body);
        json_t *list = json_object_get(r.json, "result");
        cr_assert(json_array_size(list) <= 97);
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *c = json_array_get(list, i);
            /* Newest first by the call's time, ties by call_id (both
             * fixed-width, so they compare as strings). */
            char k[128];
            snprintf(k, sizeof k, "%s %s", json_string_value(json_object_get(c, "ts")),
                     json_string_value(json_object_get(c, "call_id")));
            cr_assert(!last[0] || strcmp(k, last) < 0, "%s: not newest first (%s after %s)", query, k, last);
            snprintf(last, sizeof last, "%s", k);
            if (check)
                check(c, query);
            seen++;
        }
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        ts_resp_free(&r);
        if (!cursor[0])
            return seen;
    }
    cr_assert_fail("%s: more than 1000 pages", query);
    return seen;
}

static void check_outcome(json_t *c, const char *query)
{
    const char *want = strstr(query, "outcome=") + 8;
    const char *got = json_string_value(json_object_get(c, "outcome"));
    cr_assert(got && strncmp(got, want, strlen(got)) == 0, "%s: outcome %s", query, got ? got : "(none)");
}

Test(api_calls, search_filters_paging_isolation_bad_input, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct0[64], acct1[64], srv0[64], srv1[64], ws_b[64], key_b[64], acct_b[64], srv_b[64];
    ta_start(&a, "calls_search", NULL, ws, key, acct0);
    ta_account(&a, key, "c2", acct1);
    ta_server(&a, key, acct0, NULL, srv0, NULL);
    ta_server(&a, key, acct1, NULL, srv1, NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    ta_account(&a, key_b, "b1", acct_b);
    ta_server(&a, key_b, acct_b, NULL, srv_b, NULL);
    seed(&a, ws, acct0, acct1, srv0, srv1, 600, "a");
    seed(&a, ws_b, acct_b, acct_b, srv_b, srv_b, 50, "b");

    /* Every filter, alone and combined, against PostgreSQL's own count. */
    char since[40], until[40];
    ta_iso_in(-200 * 60 - 30, since, sizeof since);
    ta_iso_in(-100 * 60 - 30, until, sizeof until);
    struct {
        char q[400];
        char where[400];
        void (*check)(json_t *, const char *);
    } cases[] = {
        {"", "true", NULL},
        {"", "", NULL},
        {"", "", NULL},
        {"tool=search", "tool = 'search'", NULL},
        {"outcome=ok", "error_class IS NULL", check_outcome},
        {"outcome=rate_limited", "error_class = 'rate_limited'", check_outcome},
        {"outcome=tool_error", "error_class IN ('upstream_5xx', 'unavailable')", check_outcome},
        {"outcome=cancelled", "error_class = 'cancelled'", NULL},
        {"upstream_status=5xx", "upstream_status BETWEEN 500 AND 599", NULL},
        {"upstream_status=429", "upstream_status = 429", NULL},
        {"upstream_status=none", "upstream_status IS NULL", NULL},
        {"", "", NULL},
        {"", "", NULL},
    };
    snprintf(cases[1].q, sizeof cases[1].q, "server_id=%s", srv1);
    snprintf(cases[1].where, sizeof cases[1].where, "server_id = '%s'", srv1);
    snprintf(cases[2].q, sizeof cases[2].q, "account_id=%s&tool=get_issue&outcome=rate_limited", acct0);
    snprintf(cases[2].where, sizeof cases[2].where,
             "account_id = '%s' AND tool = 'get_issue' AND error_class = 'rate_limited'", acct0);
    cases[2].check = check_outcome;
    snprintf(cases[11].q, sizeof cases[11].q, "since=%s&until=%s", since, until);
    snprintf(cases[11].where, sizeof cases[11].where, "ts >= '%s' AND ts < '%s'", since, until);
    snprintf(cases[12].q, sizeof cases[12].q, "since=%s&server_id=%s&upstream_status=2xx", since, srv0);
    snprintf(cases[12].where, sizeof cases[12].where, "ts >= '%s' AND server_id = '%s' AND upstream_status = 200",
             since, srv0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char sql[1024];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM tool_calls WHERE workspace_id = '%s' AND %s", ws,
                 cases[i].where);
        long want = ta_sql_long(&a, sql);
        cr_assert(want > 0 || strstr(cases[i].q, "cancelled"), "case %zu selects nothing: %s", i, sql);
        long got = page_all(&a, key, cases[i].q, cases[i].check);
        cr_assert_eq(got, want, "GET /calls?%s: %ld records, PostgreSQL has %ld", cases[i].q, got, want);
    }

    /* A record as shown. */
    ta_call(&r, &a, key, "GET", NULL, "/calls?limit=1&upstream_status=429&server_id=%s", srv0);
    json_t *c = json_array_get(json_object_get(r.json, "result"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "server_id")), srv0, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(c, "account_id")), acct0, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(c, "outcome")), "rate_limited", "%s", r.body);
    cr_assert_eq(strlen(json_string_value(json_object_get(c, "call_id"))), 32, "%s", r.body);
    cr_assert(json_integer_value(json_object_get(c, "result_bytes")) > 0, "%s", r.body);
    ts_resp_free(&r);

    /* Isolation: beta sees only its 50, whatever it names. */
    cr_assert_eq(page_all(&a, key_b, "", NULL), 50);
    char q[200];
    snprintf(q, sizeof q, "server_id=%s", srv0);
    cr_assert_eq(page_all(&a, key_b, q, NULL), 0, "another workspace's server's records");
    snprintf(q, sizeof q, "account_id=%s", acct0);
    cr_assert_eq(page_all(&a, key_b, q, NULL), 0, "another workspace's account's records");
    ta_call(&r, &a, key_b, "GET", NULL, "/integrated-account/%s/mcp/%s/calls", acct0, srv0);
    ta_expect_problem(&r, 404, NULL, "another workspace's server listing");
    ts_resp_free(&r);
    /* The per-server listing is the same search. */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s/calls?limit=200&upstream_status=429", acct0,
            srv0);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    snprintf(q, sizeof q, "SELECT count(*) FROM tool_calls WHERE server_id = '%s' AND upstream_status = 429", srv0);
    cr_assert_eq((long)json_array_size(json_object_get(r.json, "result")), ta_sql_long(&a, q), "%s", r.body);
    ts_resp_free(&r);

    /* Bad input names the parameter. */
    static const char *const bad[][2] = {
        {"server_id=nope", "server_id"},         {"account_id=", "account_id"},
        {"outcome=fine", "outcome"},             {"upstream_status=6xx", "upstream_status"},
        {"upstream_status=42", "upstream_status"}, {"upstream_status=099", "upstream_status"},
        {"since=yesterday", "since"},            {"until=2026-13-01T00:00:00Z", "until"},
        {"limit=0", "limit"},                    {"limit=201", "limit"},
        {"limit=5x", "limit"},                   {"next_cursor=abc", "next_cursor"},
        {"format=xml", "format"},                {"tool=", "tool"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ta_call(&r, &a, key, "GET", NULL, "/calls?%s", bad[i][0]);
        ta_expect_problem(&r, 400, bad[i][1], bad[i][0]);
        ts_resp_free(&r);
    }
    char longtool[300];
    memset(longtool, 't', 200);
    longtool[200] = 0;
    ta_call(&r, &a, key, "GET", NULL, "/calls?tool=%s", longtool);
    ta_expect_problem(&r, 400, "tool", "a 200-character tool");
    ts_resp_free(&r);
    ta_call(&r, &a, NULL, "GET", NULL, "/calls");
    cr_assert_eq(r.status, 401);
    ts_resp_free(&r);
    ta_stop(&a);
}

/* ---- the export ---- */

/* Peak and current resident memory of a process, kB. */
static void rss(pid_t pid, long *hwm, long *cur)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    *hwm = *cur = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = atol(line + 6);
        else if (strncmp(line, "VmRSS:", 6) == 0)
            *cur = atol(line + 6);
    }
    fclose(f);
}

/* The API's count of rows exported so far (ta_metric); the series must be
 * there: an absent one (-1) fails the test instead of reading as 0. */
static double exported_rows(const ts_api_t *a)
{
    double v = ta_metric(a, "jsmcp_api_calls_exported_rows_total");
    cr_assert_geq(v, 0, "jsmcp_api_calls_exported_rows_total is not in the API's /metrics");
    return v;
}

/* A raw HTTP/1.1 client for the export: the test decides when it reads.
 * The body is de-chunked as it arrives; lines are counted and each is
 * handed to on_line (with its length, without the newline). */
typedef struct rx_s {
    int fd;
    char *in;          /* bytes not yet decoded */
    size_t len, cap;
    int head_done, done;
    long status;
    size_t chunk_left; /* bytes left of the current chunk */
    int in_trailer;
    char *line;        /* the body line being assembled */
    size_t line_len, line_cap;
    long lines;
    size_t body_bytes;
    void (*on_line)(struct rx_s *, const char *, size_t);
    long bad_lines;
    char content_type[128];
} rx_t;

static void rx_open(rx_t *x, const ts_api_t *a, const char *key, const char *path, const char *accept, int rcvbuf)
{
    memset(x, 0, sizeof *x);
    int port = atoi(strrchr(a->url, ':') + 1);
    x->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(x->fd >= 0);
    if (rcvbuf)
        setsockopt(x->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert(connect(x->fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nAccept: %s\r\n"
                     "Connection: close\r\n\r\n",
                     path, key, accept);
    cr_assert(write(x->fd, req, (size_t)n) == n);
    x->cap = 1 << 16;
    x->in = malloc(x->cap);
    x->line_cap = 1 << 12;
    x->line = malloc(x->line_cap);
}

static void rx_line_byte(rx_t *x, char ch)
{
    x->body_bytes++;
    if (ch == '\n') {
        size_t n = x->line_len;
        if (n && x->line[n - 1] == '\r')
            n--;
        x->line[n] = 0;
        if (x->on_line)
            x->on_line(x, x->line, n);
        x->lines++;
        x->line_len = 0;
        return;
    }
    if (x->line_len + 2 > x->line_cap) {
        x->line_cap *= 2;
        x->line = realloc(x->line, x->line_cap);
    }
    x->line[x->line_len++] = ch;
}

/* Decodes what is buffered: the head once, then chunks. */
static void rx_decode(rx_t *x)
{
    size_t pos = 0;
    if (!x->head_done) {
        char *end = memmem(x->in, x->len, "\r\n\r\n", 4);
        if (!end)
            return;
        *end = 0;
        x->status = atol(x->in + 9);
        char *ct = strcasestr(x->in, "\r\nContent-Type: ");
        if (ct)
            sscanf(ct + 16, "%127[^\r]", x->content_type);
        cr_assert(strcasestr(x->in, "Transfer-Encoding: chunked"), "not chunked: %s", x->in);
        x->head_done = 1;
        pos = (size_t)(end - x->in) + 4;
    }
    while (pos < x->len && !x->done) {
        if (x->chunk_left > 0) {
            size_t take = x->len - pos < x->chunk_left ? x->len - pos : x->chunk_left;
            for (size_t i = 0; i < take; i++)
                rx_line_byte(x, x->in[pos + i]);
            pos += take;
            x->chunk_left -= take;
            if (x->chunk_left == 0)
                x->in_trailer = 1;
            continue;
        }
        char *eol = memmem(x->in + pos, x->len - pos, "\r\n", 2);
        if (!eol)
            break;
        if (x->in_trailer) { /* the CRLF after a chunk's data */
            cr_assert(eol == x->in + pos, "bad chunk trailer");
            x->in_trailer = 0;
            pos += 2;
            continue;
        }
        size_t size = strtoul(x->in + pos, NULL, 16);
        pos = (size_t)(eol - x->in) + 2;
        if (size == 0) {
            x->done = 1;
            break;
        }
        x->chunk_left = size;
    }
    memmove(x->in, x->in + pos, x->len - pos);
    x->len -= pos;
}

/* Reads until the response is complete (or EOF). */
static void rx_read_all(rx_t *x)
{
    while (!x->done) {
        if (x->cap - x->len < 4096) {
            x->cap *= 2;
            x->in = realloc(x->in, x->cap);
        }
        ssize_t n = read(x->fd, x->in + x->len, x->cap - x->len);
        if (n <= 0)
            break;
        x->len += (size_t)n;
        rx_decode(x);
    }
}

static void rx_close(rx_t *x)
{
    close(x->fd);
    free(x->in);
    free(x->line);
}

static void ndjson_line(rx_t *x, const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    if (!json_is_object(j) || !json_is_integer(json_object_get(j, "id")))
        x->bad_lines++;
    json_decref(j);
}

/* Every line of the CSV has the header's 17 fields (quoted commas aside). */
static void csv_line(rx_t *x, const char *s, size_t n)
{
    int fields = 1, quoted = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            quoted = !quoted;
        else if (s[i] == ',' && !quoted)
            fields++;
    }
    if (fields != 17 || quoted)
        x->bad_lines++;
    if (strstr(s, ",=HYPERLINK"))
        x->bad_lines++; /* a formula left as is */
}

#define EXPORT_ROWS 100000

Test(api_calls, export_100k_bounded_memory_backpressure, .timeout = 300)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], ws_b[64], key_b[64];
    /* A small ASan quarantine: freed memory is reused, so RSS shows what
     * the export holds rather than what the sanitizer keeps back. */
    static const char *const env[] = {
        "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:quarantine_size_mb=4", NULL};
    ta_start(&a, "calls_export", env, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, NULL);
    ts_api_workspace(&a, "beta", ws_b, key_b);
    seed(&a, ws, acct, acct, srv, srv, EXPORT_ROWS, "x");

    /* NDJSON, read as fast as it comes. */
    long hwm0, cur0, hwm1, cur1;
    rss(a.proc.pid, &hwm0, &cur0);
    rx_t x;
    rx_open(&x, &a, key, "/calls", "application/x-ndjson", 0);
    x.on_line = ndjson_line;
    rx_read_all(&x);
    rss(a.proc.pid, &hwm1, &cur1);
    cr_assert_eq(x.status, 200);
    cr_assert(x.done, "the stream did not end with its last chunk");
    cr_assert_str_eq(x.content_type, "application/x-ndjson");
    cr_assert_eq(x.lines, EXPORT_ROWS, "%ld lines", x.lines);
    cr_assert_eq(x.bad_lines, 0, "%ld lines are not a record", x.bad_lines);
    size_t ndjson_bytes = x.body_bytes;
    rx_close(&x);
    fprintf(stderr, "export ndjson: %d rows, %zu bytes; API RSS %ld kB -> %ld kB, peak %ld kB -> %ld kB\n",
            EXPORT_ROWS, ndjson_bytes, cur0, cur1, hwm0, hwm1);
    /* Bounded: the peak grew by far less than the body (a page and the
     * socket's queue, not the result). */
    cr_assert(hwm1 - hwm0 < 32 * 1024 && (size_t)(hwm1 - hwm0) * 1024 < ndjson_bytes / 2,
              "peak RSS grew by %ld kB for a %zu-byte export", hwm1 - hwm0, ndjson_bytes);

    /* CSV with a filter; formulas neutralised. */
    rx_open(&x, &a, key, "/calls?upstream_status=2xx", "text/csv", 0);
    x.on_line = csv_line;
    rx_read_all(&x);
    cr_assert_eq(x.status, 200);
    cr_assert(strncmp(x.content_type, "text/csv", 8) == 0, "%s", x.content_type);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tool_calls WHERE workspace_id = '%s' AND upstream_status BETWEEN 200 AND 299", ws);
    cr_assert_eq(x.lines, ta_sql_long(&a, sql) + 1, "%ld lines (with the header)", x.lines);
    cr_assert_eq(x.bad_lines, 0, "%ld malformed CSV lines", x.bad_lines);
    rx_close(&x);

    /* Another workspace's export is empty. */
    rx_open(&x, &a, key_b, "/calls?format=ndjson", "*/*", 0);
    rx_read_all(&x);
    cr_assert_eq(x.status, 200);
    cr_assert_eq(x.lines, 0, "another workspace's records exported");
    rx_close(&x);

    /* A client that does not read: the export pauses (the rows sent stop
     * short of the total) with the API's memory bounded, then goes on to
     * the end once the client reads. */
    double before = exported_rows(&a);
    rx_open(&x, &a, key, "/calls", "application/x-ndjson", 16 * 1024);
    double sent = -1, prev = -2;
    int stable = 0;
    int64_t deadline = clock_now_ms() + 60000;
    while (stable < 10 && clock_now_ms() < deadline) { /* stopped growing for 10 polls */
        ta_sleep_ms(100);
        prev = sent;
        sent = exported_rows(&a) - before;
        stable = sent > 0 && sent == prev ? stable + 1 : 0;
    }
    cr_assert(stable >= 10, "the export never paused (%g rows sent)", sent);
    cr_assert(sent < EXPORT_ROWS / 2, "%g of %d rows sent to a client that read nothing", sent, EXPORT_ROWS);
    long hwm2, cur2;
    rss(a.proc.pid, &hwm2, &cur2);
    fprintf(stderr, "export paused after %g rows; API RSS %ld kB, peak %ld kB\n", sent, cur2, hwm2);
    x.on_line = ndjson_line;
    rx_read_all(&x);
    cr_assert_eq(x.lines, EXPORT_ROWS, "after the pause: %ld lines", x.lines);
    rx_close(&x);

    /* A client that goes away mid-export: the export stops (no more rows
     * are read from PostgreSQL) and the API carries on. */
    before = exported_rows(&a);
    rx_open(&x, &a, key, "/calls", "application/x-ndjson", 16 * 1024);
    deadline = clock_now_ms() + 30000;
    while (exported_rows(&a) - before < 1000 && clock_now_ms() < deadline)
        ta_sleep_ms(20);
    rx_close(&x);
    sent = -1;
    stable = 0;
    deadline = clock_now_ms() + 30000;
    while (stable < 10 && clock_now_ms() < deadline) {
        ta_sleep_ms(100);
        prev = sent;
        sent = exported_rows(&a) - before;
        stable = sent == prev ? stable + 1 : 0;
    }
    cr_assert(sent < EXPORT_ROWS, "an export to a client that left ran to the end");
    ta_call(&r, &a, key, "GET", NULL, "/calls?limit=1");
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    ta_stop(&a);
}
