/* audit_load: adds synthetic audit records to the stream <prefix>audit the
 * way workers do (XADD <key> * <fields>, call_id unique), for
 * bench/audit_drain.sh.
 *
 *   audit_load <host> <port> <key> fill <n>            n records, as fast as Redis takes them
 *   audit_load <host> <port> <key> rate <per_s> <secs> paced in 10 ms steps; prints the rate reached
 *
 * Pipelined on one blocking connection: each step appends its XADDs, then
 * reads their replies. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long seq;
static unsigned rnd;

static void append(redisContext *c, const char *key)
{
    char ts[32], call[40], lat[32];
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    snprintf(ts, sizeof ts, "%lld", (long long)rt.tv_sec * 1000 + rt.tv_nsec / 1000000);
    snprintf(call, sizeof call, "%08x%024llx", rnd, ++seq);
    snprintf(lat, sizeof lat, "%llu.%03llu", 40 + seq % 60, seq % 1000);
    const char *argv[] = {"XADD", key, "*",
                          "ts_ms", ts,
                          "workspace_id", "6f1f2d8e-3f56-4c53-9a10-0d9f5e1b2c3a",
                          "account_id", "8a6c1b2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d",
                          "server_id", "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                          "tool", "get_single_jira_service_management_issue_by_id",
                          "args_sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                          "upstream_status", "200",
                          "latency_ms", lat,
                          "ratelimit_limit", "100",
                          "ratelimit_remaining", "99",
                          "upstream_request_id", "req-0123456789abcdef",
                          "request_id", "0123456789abcdef",
                          "call_id", call};
    int argc = (int)(sizeof argv / sizeof *argv);
    redisAppendCommandArgv(c, argc, argv, NULL);
}

static int drain_replies(redisContext *c, long n)
{
    for (long i = 0; i < n; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            return -1;
        int bad = r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (bad)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: audit_load <host> <port> <key> fill <n> | rate <per_s> <secs>\n");
        return 2;
    }
    redisContext *c = redisConnect(argv[1], atoi(argv[2]));
    if (!c || c->err) {
        fprintf(stderr, "audit_load: cannot connect\n");
        return 1;
    }
    srand((unsigned)time(NULL));
    rnd = (unsigned)rand();
    const char *key = argv[3];
    if (strcmp(argv[4], "fill") == 0) {
        long n = atol(argv[5]);
        for (long done = 0; done < n;) {
            long k = n - done < 1000 ? n - done : 1000;
            for (long i = 0; i < k; i++)
                append(c, key);
            if (drain_replies(c, k) != 0)
                return 1;
            done += k;
        }
        printf("audit_load: added %ld records\n", n);
    } else if (strcmp(argv[4], "rate") == 0 && argc >= 7) {
        double per_s = atof(argv[5]), secs = atof(argv[6]), t0 = now_s();
        long sent = 0;
        for (;;) {
            double t = now_s() - t0;
            if (t >= secs)
                break;
            long due = (long)(t * per_s) + 1 - sent;
            if (due > 0) {
                for (long i = 0; i < due; i++)
                    append(c, key);
                if (drain_replies(c, due) != 0)
                    return 1;
                sent += due;
            }
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        double el = now_s() - t0;
        printf("audit_load: %ld records in %.2f s (%.0f/s)\n", sent, el, (double)sent / el);
    } else {
        return 2;
    }
    redisFree(c);
    return 0;
}
