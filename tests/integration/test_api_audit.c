/* Integration tests of the audit log (issue 7): entries in the Redis stream
 * <prefix>audit (as workers append them) reach PostgreSQL exactly once even
 * when the API is killed with SIGKILL in the middle of draining or a worker
 * sends a record again (replay of its spool: same call_id, new stream
 * entry), and the calls route pages through them, newest first, for the
 * owner only. */
#include <hiredis/hiredis.h>
#include <signal.h>

#include "test_api_common.h"

#define N_ENTRIES 3000

static redisContext *redis(void)
{
    char host[64];
    int port;
    cr_assert(sscanf(ts_getenv("JSMCP_TEST_REDIS_URL"), "redis://%63[^:]:%d", host, &port) == 2);
    redisContext *c = redisConnect(host, port);
    cr_assert(c && !c->err);
    return c;
}

/* Appends entries first..first+n-1 for the server (pipelined; entry i has
 * call_id i as 32 hex digits), plus `bad` malformed ones. */
static void xadd_entries(const ts_api_t *a, const char *ws, const char *acct, const char *srv, int first, int n,
                         int bad)
{
    redisContext *c = redis();
    char key[128], ts[32], status[8], rid[64];
    snprintf(key, sizeof key, "%saudit", a->redis_prefix);
    for (int i = first; i < first + n; i++) {
        snprintf(ts, sizeof ts, "%lld", (long long)tu_now_ms());
        snprintf(status, sizeof status, "%d", i % 10 == 0 ? 429 : 200);
        /* Characters an array literal must escape, and a bare NULL. */
        snprintf(rid, sizeof rid, "req-%d \"q\" \\b {x,NULL}", i);
        redisAppendCommand(c,
                           "XADD %s MAXLEN ~ 1000000 * ts_ms %s workspace_id %s account_id %s server_id %s"
                           " tool get_single_jira_service_management_issue_by_id args_sha256 %064d"
                           " upstream_status %s latency_ms 1.5 ratelimit_limit 100 ratelimit_remaining 42"
                           " ratelimit_reset_s 7 upstream_request_id up-%d error_class %s request_id %s"
                           " call_id %032x",
                           key, ts, ws, acct, srv, i, status, i, i % 10 == 0 ? "rate_limited" : "none", rid, i);
    }
    /* Values PostgreSQL would refuse (an int column overflowing, a real
     * overflowing, hex, NaN): those fields are stored as NULL, the entry and
     * its batch are not held up. */
    for (int i = 0; i < bad; i++) {
        snprintf(ts, sizeof ts, "%lld", (long long)tu_now_ms());
        redisAppendCommand(c,
                           "XADD %s * ts_ms %s workspace_id %s account_id %s server_id %s tool odd_values"
                           " upstream_status 99999999999 latency_ms %s ratelimit_limit -2147483649"
                           " ratelimit_remaining 2147483647",
                           key, ts, ws, acct, srv, i % 3 == 0 ? "1e999" : i % 3 == 1 ? "0x1p3" : "nan");
    }
    for (int i = 0; i < bad; i++) /* no tool, a bad uuid: dropped, never block the stream */
        redisAppendCommand(c, "XADD %s * ts_ms 1 workspace_id not-a-uuid account_id %s server_id %s", key, acct, srv);
    for (int i = 0; i < n + 2 * bad; i++) {
        redisReply *r;
        cr_assert(redisGetReply(c, (void **)&r) == REDIS_OK);
        cr_assert(r->type == REDIS_REPLY_STRING, "XADD failed");
        freeReplyObject(r);
    }
    redisFree(c);
}

static long count_calls(const ts_api_t *a)
{
    return ta_sql_long(a, "SELECT count(*) FROM tool_calls WHERE tool <> 'odd_values'");
}

Test(audit, records_survive_an_api_killed_mid_drain, .timeout = 90)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], id[64], tok[64];
    const char *env[] = {"JSMCP_AUDIT_CONSUMER=audit-test", "JSMCP_AUDIT_DRAIN_MS=20", NULL};
    ta_start(&a, "audit_api", env, ws, key, acct);
    ta_server(&a, key, acct, NULL, id, tok);

    xadd_entries(&a, ws, acct, id, 0, N_ENTRIES, 5);
    /* Kill the API once it has started draining, without a clean shutdown. */
    int64_t deadline = tu_now_ms() + 10000;
    while (count_calls(&a) == 0 && tu_now_ms() < deadline)
        ta_sleep_ms(5);
    long before_kill = count_calls(&a);
    kill(a.proc.pid, SIGKILL);
    int st;
    waitpid(a.proc.pid, &st, 0);
    a.proc.pid = 0;
    cr_assert(before_kill > 0, "nothing drained within 10 s");
    cr_assert(before_kill < N_ENTRIES, "the API finished draining before the kill: not a mid-drain kill");

    /* More calls arrive while the API is down, and a worker replays 200
     * records it had already sent (its acknowledgements were not noted). */
    xadd_entries(&a, ws, acct, id, N_ENTRIES, 500, 0);
    xadd_entries(&a, ws, acct, id, 100, 200, 0);

    const char *envp[TS_MAX_ENV + 1];
    int port = atoi(strrchr(a.url, ':') + 1);
    ts_spawn(&a.proc, "audit_api_restarted", "jsmcp-api", NULL, ts_api_env(&a, envp, TS_MAX_ENV + 1), port);
    deadline = tu_now_ms() + 30000;
    while (count_calls(&a) < N_ENTRIES + 500 && tu_now_ms() < deadline)
        ta_sleep_ms(50);
    cr_assert_eq(count_calls(&a), N_ENTRIES + 500, "records lost or doubled (killed at %ld)", before_kill);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(DISTINCT stream_id) FROM tool_calls WHERE tool <> 'odd_values'"),
                 N_ENTRIES + 500);
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM tool_calls WHERE tool = 'odd_values' AND upstream_status IS NULL"
                                 " AND latency_ms IS NULL AND ratelimit_limit IS NULL AND ratelimit_remaining = 2147483647"),
                 5, "out-of-range values stored as NULL, the rest of the entry kept");
    cr_assert_eq(ta_sql_long(&a, "SELECT count(DISTINCT call_id) FROM tool_calls WHERE tool <> 'odd_values'"),
                 N_ENTRIES + 500, "one row per call_id (records without one get one from their stream id)");
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM tool_calls WHERE error_class = 'rate_limited'"
                                 " AND upstream_status = 429 AND ratelimit_remaining = 42"),
                 N_ENTRIES / 10 + 500 / 10, "every 10th call was a 429 with its rate-limit snapshot");
    cr_assert_eq(ta_sql_long(&a, "SELECT count(*) FROM tool_calls WHERE request_id ="
                                 " 'req-' || (('x' || right(call_id::text, 8))::bit(32)::int) || ' \"q\" \\b {x,NULL}'"),
                 N_ENTRIES + 500, "request_id stored verbatim");
    /* The stream is empty: drained entries are trimmed, malformed ones dropped. */
    deadline = tu_now_ms() + 5000;
    char *len = NULL;
    for (;;) {
        len = ts_redis("XLEN %saudit", a.redis_prefix);
        if ((len && strcmp(len, "0") == 0) || tu_now_ms() > deadline)
            break;
        free(len);
        ta_sleep_ms(50);
    }
    cr_assert_str_eq(len, "0", "stream not drained");
    free(len);
    cr_assert_eq(count_calls(&a), N_ENTRIES + 500, "a replayed record was stored twice");
    ta_stop(&a);
}

Test(audit, calls_route_pages_newest_first_for_the_owner_only, .timeout = 60)
{
    ts_api_t a;
    char ws[64], key[64], acct[64], id[64], tok[64], ws2[64], key2[64];
    ta_start(&a, "audit_route_api", NULL, ws, key, acct);
    ta_server(&a, key, acct, NULL, id, tok);
    xadd_entries(&a, ws, acct, id, 0, 450, 0);
    int64_t deadline = tu_now_ms() + 20000;
    while (count_calls(&a) < 450 && tu_now_ms() < deadline)
        ta_sleep_ms(50);
    cr_assert_eq(count_calls(&a), 450);

    ts_resp_t r;
    char cursor[256] = "";
    long seen = 0, last_id = -1;
    for (int page = 0; page < 10; page++) {
        if (cursor[0])
            ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s/calls?limit=200&next_cursor=%s", acct,
                    id, cursor);
        else
            ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s/calls?limit=200", acct, id);
        cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
        json_t *list = json_object_get(r.json, "result");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *c = json_array_get(list, i);
            long cid = (long)json_integer_value(json_object_get(c, "id"));
            cr_assert(last_id < 0 || cid < last_id, "not newest first");
            last_id = cid;
            cr_assert_str_eq(json_string_value(json_object_get(c, "tool")),
                             "get_single_jira_service_management_issue_by_id");
            cr_assert(json_object_get(c, "ratelimit"), "rate-limit snapshot missing");
            const char *call_id = json_string_value(json_object_get(c, "call_id"));
            cr_assert(call_id && strlen(call_id) == 32, "call_id shown");
            seen++;
        }
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        ts_resp_free(&r);
        if (!cursor[0])
            break;
    }
    cr_assert_eq(seen, 450, "paged through %ld of 450", seen);

    /* Another workspace sees nothing; bad paging is 400. */
    ts_api_workspace(&a, "beta", ws2, key2);
    ta_call(&r, &a, key2, "GET", NULL, "/integrated-account/%s/mcp/%s/calls", acct, id);
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s/calls?limit=0", acct, id);
    cr_assert_eq(r.status, 400);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account/%s/mcp/%s/calls?next_cursor=abc", acct, id);
    cr_assert_eq(r.status, 400);
    cr_assert_str_eq(ta_str(&r, "field"), "next_cursor");
    ts_resp_free(&r);
    ta_stop(&a);
}
