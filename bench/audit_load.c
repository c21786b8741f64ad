/* audit_load: adds synthetic audit records to the stream <prefix>audit the
 * way workers do (XADD <key> * <fields>, call_id unique, every field a
 * worker sends), for bench/audit_drain.sh.
 *
 *   audit_load <host> <port> <key> fill <n>            n records, as fast as Redis takes them
 *   audit_load <host> <port> <key> rate <per_s> <secs> per_s * secs records at a fixed rate
 *
 * rate: record i is due at start + i / per_s. The generator never waits for
 * Redis's replies before sending what is due (it reads the ones that have
 * arrived, without blocking, between sends), so a slow reply does not lower
 * the offered rate; what it cannot send on time (the process not scheduled)
 * goes as soon as it runs, and the report says how far behind schedule it
 * ever was and the least sent in any one second. It sends every record even
 * when late, so the total offered is exact. Its own CPU per record is
 * reported: the generator must be cheap next to the drain it loads.
 * Output, one line: "audit_load: <sent> records in <s> s (<r>/s) ...".
 *
 * call_id is made as the workers make it, so that tool_calls' primary key
 * sees the keys a deployment sends: AUDIT_LOAD_WORKERS (default 8) worker
 * processes each with its own generator, their records interleaved, and
 * AUDIT_LOAD_IDS the layout: "time" (default; the worker's, common/callid.h:
 * the time first) or "prefix" (the worker before migration 027's change: 8
 * random bytes per process, then a counter).
 *
 * Who calls: AUDIT_LOAD_SERVERS servers (default 1000) in AUDIT_LOAD_SERVERS /
 * 10 workspaces (at least 1), two servers per account, each record's server
 * drawn at random (uniform), and its tool drawn from a dozen of the catalog's
 * names (worker/catalog.json: 48 characters on average). A deployment's
 * records interleave many servers: each drained batch inserts into the
 * per-server and per-workspace indexes at many places, not at one.
 * AUDIT_LOAD_SERVERS=1 is the single server of the figures before
 * 2026-12-06 10:00 UTC. */
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "callid.h"

#define MAX_SECONDS 3600
#define STEP_MAX 4000 /* records appended before the next read of replies */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define WORKERS_MAX 256

static unsigned long long seq;
static int time_ids = 1;
static int nworkers = 8;
static callid_gen_t gens[WORKERS_MAX];
static unsigned long long prefix[WORKERS_MAX], counter[WORKERS_MAX];
static long nservers = 1000;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* xorshift64: the same sequence in every run, so both builds of an A/B get
 * the same records. */
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const TOOLS[] = {
    "list_all_jira_service_management_search_issues",
    "get_single_jira_service_management_issue_by_id",
    "list_all_jira_service_management_issue_comments",
    "list_all_jira_service_management_queues",
    "get_single_jira_service_management_user_by_id",
    "create_a_jira_service_management_issue",
    "update_a_jira_service_management_issue_by_id",
    "create_a_jira_service_management_customer_reply",
    "list_all_jira_service_management_issue_transitions",
    "update_a_jira_service_management_issue_status_by_id",
    "list_all_jira_service_management_request_type_fields",
    "get_single_jira_service_management_customer_request_by_id",
};
#define NTOOLS (sizeof TOOLS / sizeof *TOOLS)

/* A uuid for server, account or workspace number n (kind: a hex digit). */
static void uuid_of(char kind, long n, char out[37])
{
    snprintf(out, 37, "%c0000000-0000-4000-8000-%012lx", kind, n);
}

/* The next call_id of simulated worker process seq % nworkers. */
static void call_id(char *out, size_t outsz, long long now_ms)
{
    int w = (int)(seq % (unsigned long long)nworkers);
    if (time_ids)
        callid_next(&gens[w], (uint64_t)now_ms, out);
    else
        snprintf(out, outsz, "%016llx%016llx", prefix[w], ++counter[w]);
}

static void append(redisContext *c, const char *key)
{
    char ts[32], call[40], lat[32], bytes[24], ws[37], acct[37], srv[37];
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    long long now_ms = (long long)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    snprintf(ts, sizeof ts, "%lld", now_ms);
    ++seq;
    call_id(call, sizeof call, now_ms);
    snprintf(lat, sizeof lat, "%llu.%03llu", 40 + seq % 60, seq % 1000);
    snprintf(bytes, sizeof bytes, "%llu", 800 + seq % 3000);
    uint64_t r = next_rand();
    long s = (long)(r % (uint64_t)nservers), nws = nservers / 10 > 0 ? nservers / 10 : 1;
    uuid_of('1', s, srv);
    uuid_of('8', s / 2, acct);
    uuid_of('6', (s / 2) % nws, ws);
    const char *argv[] = {"XADD", key, "*",
                          "ts_ms", ts,
                          "workspace_id", ws,
                          "account_id", acct,
                          "server_id", srv,
                          "tool", TOOLS[(r >> 32) % NTOOLS],
                          "args_sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                          "upstream_status", "200",
                          "latency_ms", lat,
                          "ratelimit_limit", "100",
                          "ratelimit_remaining", "99",
                          "upstream_request_id", "req-0123456789abcdef",
                          "request_id", "0123456789abcdef",
                          "result_bytes", bytes,
                          "call_id", call};
    int argc = (int)(sizeof argv / sizeof *argv);
    redisAppendCommandArgv(c, argc, argv, NULL);
}

/* Reads one reply (blocking); -1 on an error reply or a broken connection. */
static int one_reply(redisContext *c)
{
    redisReply *r;
    if (redisGetReply(c, (void **)&r) != REDIS_OK)
        return -1;
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        fprintf(stderr, "audit_load: %s\n", r->str);
    freeReplyObject(r);
    return bad ? -1 : 0;
}

/* Writes everything appended (blocking socket: returns once written). */
static int flush_out(redisContext *c)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Consumes the replies that have arrived, without waiting; returns how many
 * or -1. */
static long replies_ready(redisContext *c)
{
    long n = 0;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
        if (redisBufferRead(c) != REDIS_OK)
            return -1;
        for (;;) {
            redisReply *r = NULL;
            if (redisReaderGetReply(c->reader, (void **)&r) != REDIS_OK)
                return -1;
            if (!r)
                break;
            int bad = r->type == REDIS_REPLY_ERROR;
            if (bad)
                fprintf(stderr, "audit_load: %s\n", r->str);
            freeReplyObject(r);
            if (bad)
                return -1;
            n++;
        }
    }
    return n;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}

static int paced(redisContext *c, const char *key, double per_s, double secs)
{
    static long per_second[MAX_SECONDS + 1];
    long total = (long)(per_s * secs), sent = 0, answered = 0, most_out = 0;
    double t0 = now_s(), behind = 0;
    while (sent < total) {
        double t = now_s() - t0;
        long due = (long)(t * per_s) + 1;
        if (due > total)
            due = total;
        if (due > sent) {
            double late = t - (double)sent / per_s; /* the oldest record due but unsent */
            if (late > behind)
                behind = late;
            long k = due - sent < STEP_MAX ? due - sent : STEP_MAX;
            for (long i = 0; i < k; i++)
                append(c, key);
            if (flush_out(c) != 0)
                return -1;
            sent += k;
            long sec = (long)t < MAX_SECONDS ? (long)t : MAX_SECONDS;
            per_second[sec] += k;
        } else {
            /* until the next record is due (at most 1 ms) */
            double wait = ((double)sent / per_s) - t;
            struct timespec ts = {0, (long)((wait < 0.001 ? wait : 0.001) * 1e9)};
            if (ts.tv_nsec > 0)
                nanosleep(&ts, NULL);
        }
        long n = replies_ready(c);
        if (n < 0)
            return -1;
        answered += n;
        if (sent - answered > most_out)
            most_out = sent - answered;
    }
    double el = now_s() - t0;
    while (answered < sent) {
        if (one_reply(c) != 0)
            return -1;
        answered++;
    }
    long whole = (long)el < MAX_SECONDS ? (long)el : MAX_SECONDS, lo = -1, hi = 0;
    for (long s = 0; s < whole && s < (long)secs; s++) {
        lo = lo < 0 || per_second[s] < lo ? per_second[s] : lo;
        hi = per_second[s] > hi ? per_second[s] : hi;
    }
    printf("audit_load: %ld records in %.2f s (%.0f/s offered); per whole second sent min %ld, max %ld;"
           " at most %.0f ms behind schedule; at most %ld replies outstanding; generator CPU %.2f us/record\n",
           sent, el, (double)sent / el, lo, hi, behind * 1000, most_out, cpu_s() * 1e6 / (double)(sent ? sent : 1));
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
    const char *ids = getenv("AUDIT_LOAD_IDS"), *workers = getenv("AUDIT_LOAD_WORKERS");
    const char *servers = getenv("AUDIT_LOAD_SERVERS");
    if (servers && (atol(servers) < 1 || atol(servers) > 10000000)) {
        fprintf(stderr, "audit_load: AUDIT_LOAD_SERVERS is 1 to 10000000\n");
        return 2;
    }
    if (servers)
        nservers = atol(servers);
    if (ids && strcmp(ids, "prefix") == 0)
        time_ids = 0;
    else if (ids && *ids && strcmp(ids, "time") != 0) {
        fprintf(stderr, "audit_load: AUDIT_LOAD_IDS is time or prefix\n");
        return 2;
    }
    if (workers && (atoi(workers) < 1 || atoi(workers) > WORKERS_MAX)) {
        fprintf(stderr, "audit_load: AUDIT_LOAD_WORKERS is 1 to %d\n", WORKERS_MAX);
        return 2;
    }
    if (workers)
        nworkers = atoi(workers);
    if (sodium_init() < 0)
        return 1;
    randombytes_buf(prefix, sizeof prefix);
    const char *key = argv[3];
    int rc = 0;
    if (strcmp(argv[4], "fill") == 0) {
        long n = atol(argv[5]);
        for (long done = 0; done < n && rc == 0;) {
            long k = n - done < 1000 ? n - done : 1000;
            for (long i = 0; i < k; i++)
                append(c, key);
            for (long i = 0; i < k && rc == 0; i++)
                rc = one_reply(c);
            done += k;
        }
        if (rc == 0)
            printf("audit_load: added %ld records\n", n);
    } else if (strcmp(argv[4], "rate") == 0 && argc >= 7 && atof(argv[5]) > 0 && atof(argv[6]) > 0 &&
               atof(argv[6]) <= MAX_SECONDS) {
        rc = paced(c, key, atof(argv[5]), atof(argv[6]));
    } else {
        redisFree(c);
        return 2;
    }
    redisFree(c);
    return rc == 0 ? 0 : 1;
}
