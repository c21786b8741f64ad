/* test_api_common: helpers shared by the admin API integration tests
 * (tests/integration/test_api_*.c). Header-only with static inline
 * functions because the Makefile links each test_*.c on its own with
 * tests/support; each test file uses a different subset.
 *
 * Everything asserts through Criterion, like tests/support/ts.h.
 */
#ifndef JSMCP_TEST_API_COMMON_H
#define JSMCP_TEST_API_COMMON_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "secret.h"
#include "tc.h"
#include "ts.h"
#include "clock.h"

#define TA_SITE "https://acme.atlassian.net"
#define TA_API_TOKEN_PREFIX "ATATT3xFfGF0-secret-"

/* Calls the API with a printf-formatted path. */
__attribute__((format(printf, 6, 7))) static inline void
ta_call(ts_resp_t *r, const ts_api_t *a, const char *key, const char *method, const char *body,
        const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    ts_api_call(r, a, key, method, path, body);
}

static inline const char *ta_str(const ts_resp_t *r, const char *member)
{
    return json_string_value(json_object_get(r->json, member));
}

static inline void ta_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The value of one series of a process's /metrics (metrics_url: http://host:port/metrics,
 * series: the name with its labels as printed, e.g.
 * jsmcp_api_reconcile_runs_total{kind="full",outcome="ok"}); -1 when absent. */
static inline double ta_metric_at(const char *metrics_url, const char *series)
{
    ts_resp_t r;
    ts_http(&r, "GET", metrics_url, NULL, NULL, 0);
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = atof(p + n + 1);
            break;
        }
    ts_resp_free(&r);
    return v;
}

static inline double ta_metric(const ts_api_t *a, const char *series)
{
    return ta_metric_at(a->metrics_url, series); /* its own listener (JSMCP_API_METRICS_LISTEN) */
}

/* The API's count of ok reconcile passes of a kind ("incremental": the
 * outbox, "full": every row); -1 when there is none yet. */
static inline double ta_reconcile_passes(const ts_api_t *a, const char *kind)
{
    char series[128];
    snprintf(series, sizeof series, "jsmcp_api_reconcile_runs_total{kind=\"%s\",outcome=\"ok\"}", kind);
    return ta_metric(a, series);
}

/* Waits (up to 60 s) until the API's reconcile has finished n more passes
 * of a kind than before (a value of ta_reconcile_passes). */
static inline void ta_wait_reconcile_passes(const ts_api_t *a, const char *kind, double before, int n)
{
    double now = before;
    for (int i = 0; i < 600 && now < before + n; i++) {
        ta_sleep_ms(100);
        now = ta_reconcile_passes(a, kind);
    }
    cr_assert_geq(now, before + n, "the reconcile ran %g of %d %s passes within 60 s", now - before, n, kind);
}

/* The time (epoch ms) of the first line of a process's JSON log that
 * contains needle, from its "ts"; -1 when there is none. */
static inline int64_t ta_log_time_ms(const ts_proc_t *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    char line[8192];
    int64_t ms = -1;
    while (f && ms < 0 && fgets(line, sizeof line, f)) {
        const char *ts = strstr(line, "\"ts\":\"");
        char iso[40];
        if (!strstr(line, needle) || !ts || sscanf(ts + 6, "%39[^\"]", iso) != 1 || clock_parse_iso(iso, &ms) != 0)
            ms = -1;
    }
    if (f)
        fclose(f);
    return ms;
}

/* Asserts an RFC 9457 problem: status, content type, the members every
 * problem has, and the field at fault when field is not NULL. what names
 * the request in failure messages. Soft (cr_expect) so that a table of
 * cases reports every deviation at once; returns 1 when all held. */
static inline int ta_expect_problem(const ts_resp_t *r, long status, const char *field, const char *what)
{
    char ct[128] = "";
    int ok = 1;
    ts_resp_header(r, "Content-Type", ct, sizeof ct);
    if (r->status != status) {
        cr_expect_eq(r->status, status, "%s: expected %ld, got %ld: %s", what, status, r->status, r->body);
        return 0;
    }
    if (strncmp(ct, "application/problem+json", 24) != 0) {
        cr_expect_fail("%s: content type '%s', expected application/problem+json", what, ct);
        ok = 0;
    }
    if (!json_is_object(r->json)) {
        cr_expect_fail("%s: body is not a JSON object: %s", what, r->body);
        return 0;
    }
    json_t *st = json_object_get(r->json, "status");
    if (json_integer_value(st) != status || !json_is_string(json_object_get(r->json, "title")) ||
        !json_is_string(json_object_get(r->json, "type"))) {
        cr_expect_fail("%s: problem lacks status/title/type: %s", what, r->body);
        ok = 0;
    }
    if (!json_is_string(json_object_get(r->json, "request_id"))) {
        cr_expect_fail("%s: problem without request_id: %s", what, r->body);
        ok = 0;
    }
    const char *got = json_string_value(json_object_get(r->json, "field"));
    if (field && (!got || strcmp(got, field) != 0)) {
        cr_expect_fail("%s: field '%s', expected '%s' (%s)", what, got ? got : "(none)", field, r->body);
        ok = 0;
    }
    return ok;
}

/* Stops the API and asserts a clean exit (sanitizer reports make it fail). */
static inline void ta_stop(ts_api_t *a)
{
    cr_assert_eq(ts_api_stop(a), 0, "jsmcp-api exit status (sanitizers?), log %s", a->proc.log);
}

static inline void ta_account(const ts_api_t *a, const char *key, const char *tenant, char *id_out);

/* Starts the API (extra env may be NULL) with workspace "alpha", its key
 * and, when acct is not NULL, an account with tenant_id "c1". */
static inline void ta_start(ts_api_t *a, const char *name, const char *const *env, char *ws, char *key,
                            char *acct)
{
    ts_api_start(a, name, env);
    ts_api_workspace(a, "alpha", ws, key);
    if (acct)
        ta_account(a, key, "c1", acct);
}

/* Creates an api_token account; id_out >= 64 bytes. */
static inline void ta_account(const ts_api_t *a, const char *key, const char *tenant, char *id_out)
{
    ts_resp_t r;
    char body[512];
    snprintf(body, sizeof body,
             "{\"tenant_id\":\"%s\",\"site_url\":\"" TA_SITE "\",\"auth\":{\"type\":\"api_token\","
             "\"email\":\"agent@acme.test\",\"api_token\":\"" TA_API_TOKEN_PREFIX "%s\"}}",
             tenant, tenant);
    ts_api_call(&r, a, key, "POST", "/integrated-account", body);
    cr_assert_eq(r.status, 201, "create account %s: %ld %s", tenant, r.status, r.body);
    cr_assert(ta_str(&r, "id"), "account without id: %s", r.body);
    snprintf(id_out, 64, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
}

/* Creates an MCP server with body (NULL = {"name":"srv"}); id_out >= 64,
 * token_out >= 64 bytes (the token of the returned url). */
static inline void ta_server(const ts_api_t *a, const char *key, const char *acct, const char *body,
                             char *id_out, char *token_out)
{
    ts_resp_t r;
    ta_call(&r, a, key, "POST", body ? body : "{\"name\":\"srv\"}", "/integrated-account/%s/mcp", acct);
    cr_assert_eq(r.status, 201, "create server: %ld %s", r.status, r.body);
    const char *url = ta_str(&r, "url"), *id = ta_str(&r, "id");
    cr_assert(url && id, "server without url or id: %s", r.body);
    const char *mcp = strstr(url, "/mcp/");
    cr_assert(mcp, "url without /mcp/: %s", url);
    snprintf(id_out, 64, "%s", id);
    if (token_out)
        snprintf(token_out, 64, "%s", mcp + 5);
    ts_resp_free(&r);
}

/* "<prefix>srv:<sha256 hex of token>" */
static inline void ta_srv_key(const ts_api_t *a, const char *token, char *out, size_t outsz)
{
    char hex[SECRET_HASH_HEX_LEN + 1];
    cr_assert(secret_init() == 0);
    secret_hash_hex(token, strlen(token), hex);
    snprintf(out, outsz, "%ssrv:%s", a->redis_prefix, hex);
}

/* Number of lines of a ts_redis array reply (NULL or "" = 0); frees it. */
static inline int ta_lines(char *s)
{
    int n = 0;
    if (s && *s) {
        n = 1;
        for (const char *p = s; *p; p++)
            n += *p == '\n';
    }
    free(s);
    return n;
}

/* Number of Redis keys under the API's prefix, less reconcile's marker
 * (set by the first full pass at a moment of its own), from one KEYS: an
 * EXISTS of the marker and then a KEYS could see it appear in between. */
static inline int ta_redis_count(const ts_api_t *a)
{
    char *s = ts_redis("KEYS %s*", a->redis_prefix), marker[256];
    snprintf(marker, sizeof marker, "%sreconcile:marker", a->redis_prefix);
    int n = 0;
    for (char *line = s && *s ? strtok(s, "\n") : NULL; line; line = strtok(NULL, "\n"))
        n += strcmp(line, marker) != 0;
    free(s);
    return n;
}

/* Waits (60 s at most) until reconcile's first full pass has set its
 * marker key: until then the key appears at a moment of its own, so a test
 * that compares Redis's keys before and after a step waits for it first. */
static inline void ta_wait_marker(const ts_api_t *a)
{
    int m = 0;
    for (int i = 0; i < 1200 && !m; i++) {
        if (i)
            ta_sleep_ms(50);
        char *s = ts_redis("EXISTS %sreconcile:marker", a->redis_prefix);
        m = s ? atoi(s) : 0;
        free(s);
    }
    cr_assert(m, "reconcile's first full pass did not set its marker within 60 s");
}

/* 1 when key holds a live record: present and not a tombstone (a deleted
 * server's or a retired token's key holds one for a while, ap_publish.h). */
static inline int ta_redis_exists(const char *key)
{
    char *s = ts_redis("GET %s", key);
    int live = tc_live(s);
    free(s);
    return live;
}

/* The invariant checker (tests/support/tc.h) on a's database and prefix,
 * with keys (NULL: a's own master keys); when: what just happened. */
static inline void ta_check(const ts_api_t *a, const char *keys, const char *when)
{
    char *msg = tc_check_publication(a->db_url, a->redis_prefix, keys ? keys : a->master_keys);
    cr_assert(!msg, "after %s, PostgreSQL and Redis disagree:\n%s", when, msg);
}

/* 1 when a worker would accept the record under key now (live, and not
 * past its expires_at_ms). */
static inline int ta_redis_accepts(const char *key)
{
    char *s = ts_redis("GET %s", key);
    int ok = tc_accepts(s, clock_now_ms());
    free(s);
    return ok;
}

/* Number of live records among the keys matching pattern. */
static inline int ta_live_count(const char *pattern)
{
    char *keys = ts_redis("KEYS %s", pattern);
    int n = 0;
    for (char *line = keys ? strtok(keys, "\n") : NULL; line; line = strtok(NULL, "\n"))
        n += ta_redis_exists(line);
    free(keys);
    return n;
}

/* Row counts of every table of the API's database as "table=n,...",
 * found through the catalog so a new table is counted too, except
 * publish_outbox: the reconcile's queue, emptied by its passes whenever
 * they come (a pass between two counts read as a write; a wrong write
 * still shows in its own table). Caller frees. */
static inline char *ta_db_counts(const ts_api_t *a)
{
    return ts_sql(a->db_url,
                  "SELECT string_agg(table_name || '=' || (xpath('/row/c/text()', query_to_xml("
                  "format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, "
                  "'')))[1]::text, ',' ORDER BY table_name) FROM information_schema.tables "
                  "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'publish_outbox'");
}

/* Integer result of a SQL query (first column of the first row). */
static inline long ta_sql_long(const ts_api_t *a, const char *sql)
{
    char *s = ts_sql(a->db_url, sql);
    long v = s ? atol(s) : -1;
    free(s);
    return v;
}

/* Waits (60 s at most) until the reconcile has taken every publish_outbox
 * row (issue 21): writes leave one each, taken by the next incremental
 * pass, so row counts compared across a step are stable only after it. */
static inline void ta_wait_outbox_empty(const ts_api_t *a)
{
    long n = -1;
    for (int i = 0; i < 1200 && (n = ta_sql_long(a, "SELECT count(*) FROM publish_outbox")) != 0; i++)
        ta_sleep_ms(50);
    cr_assert_eq(n, 0, "reconcile did not take the %ld publish_outbox rows within 60 s", n);
}

/* Epoch ms of an RFC 3339 member of r's JSON (asserts it parses). */
static inline int64_t ta_time_ms(const json_t *obj, const char *member)
{
    const char *s = json_string_value(json_object_get(obj, member));
    int64_t ms = 0;
    cr_assert(s && clock_parse_iso(s, &ms) == 0, "%s is not RFC 3339: %s", member, s ? s : "(absent)");
    return ms;
}

/* The ts_ms of a test's audit record i: the test's first call's time plus
 * i ms, the same on every call in the test process. A record sent again (a
 * spool replay) carries its first copy's time, as a worker's does (the
 * table's key is (server_id, ts, call_id), migration 032). */
static inline long long ta_record_ms(int i)
{
    static int64_t base;
    if (!base)
        base = clock_now_ms();
    return (long long)(base + i);
}

/* RFC 3339 of now + secs into out (>= 40 bytes). */
static inline void ta_iso_in(long secs, char *out, size_t outsz)
{
    clock_format_iso(clock_now_ms() + secs * 1000, 0, out, outsz);
}

/* Waits (bounded) for a spawned process that exits by itself; returns its
 * exit status, or -1 when it still runs after timeout_ms (then stopped). */
static inline int ta_wait_exit(ts_proc_t *p, long timeout_ms)
{
    int st;
    for (long waited = 0; waited < timeout_ms; waited += 50) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        ta_sleep_ms(50);
    }
    ts_stop(p);
    return -1;
}

#endif
