/* Integration tests of jsmcp-worker: real admin API (fresh database, unique
 * Redis prefix), real worker processes, real HTTP.
 *
 * - sessions live in Redis: a session started on one worker continues on
 *   another; a legacy SSE stream on one worker gets the answers to POSTs that
 *   reach the other (Redis pub/sub);
 * - revocation (DELETE in the admin API) and expiry are refused on every worker;
 * - require_api_token_auth: 401 + WWW-Authenticate without a live workspace key;
 * - a table of bad input, each with its status and JSON-RPC code, after which
 *   the worker still serves;
 * - the master restarts a killed worker process and drains on SIGTERM.
 * Tool calls against the sandbox are in tests/node/worker_sdk.test.mjs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "secret.h"
#include "tc.h"
#include "ts.h"
#include "clock.h"

#define SITE_ALLOW "127.0.0.1:9"  /* an allowlisted site; tests here never call it */

typedef struct env_s {
    ts_api_t api;
    char ws[64], key[64], acct[64];
    char srv_id[64], mcp_url[256], token[128];
} env_t;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The API (with more_env added, may be NULL), a workspace and an account. */
static void stack_start_env(env_t *e, const char *name, const char *more_env)
{
    const char *extra[] = {"JSMCP_SITE_ALLOWLIST=" SITE_ALLOW, more_env, NULL};
    memset(e, 0, sizeof *e);
    ts_api_start(&e->api, name, extra);
    ts_api_workspace(&e->api, "wk", e->ws, e->key);
    ts_resp_t r;
    ts_api_call(&r, &e->api, e->key, "POST", "/integrated-account",
                "{\"tenant_id\":\"t1\",\"site_url\":\"http://" SITE_ALLOW "\",\"auth\":{\"type\":\"api_token\","
                "\"email\":\"agent@sandbox.test\",\"api_token\":\"sandbox-api-token\"}}");
    cr_assert_eq(r.status, 201, "account: %ld %s", r.status, r.body);
    snprintf(e->acct, sizeof e->acct, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
}

static void stack_start(env_t *e, const char *name)
{
    stack_start_env(e, name, NULL);
}

/* Creates an MCP server through the API; body is the JSON request. */
static void server_create(env_t *e, const char *body)
{
    ts_resp_t r;
    char path[256];
    snprintf(path, sizeof path, "/integrated-account/%s/mcp", e->acct);
    ts_api_call(&r, &e->api, e->key, "POST", path, body);
    cr_assert_eq(r.status, 201, "server: %ld %s", r.status, r.body);
    snprintf(e->srv_id, sizeof e->srv_id, "%s", json_string_value(json_object_get(r.json, "id")));
    const char *url = json_string_value(json_object_get(r.json, "url"));
    const char *t = strstr(url, "/mcp/");
    cr_assert(t);
    snprintf(e->token, sizeof e->token, "%s", t + 5);
    ts_resp_free(&r);
}

/* The metrics listener of the worker at port (JSMCP_WORKER_METRICS_LISTEN):
 * /metrics is not served on the public port (issue 20). */
static struct {
    int port, metrics_port;
} metrics_ports[16];

static void metrics_url(int port, char *out, size_t outsz)
{
    for (size_t i = 0; i < sizeof metrics_ports / sizeof metrics_ports[0]; i++)
        if (metrics_ports[i].port == port) {
            snprintf(out, outsz, "http://127.0.0.1:%d/metrics", metrics_ports[i].metrics_port);
            return;
        }
    cr_assert_fail("no metrics listener for the worker at %d", port);
}

static void worker_start(env_t *e, ts_proc_t *p, const char *name, int port, int nworkers)
{
    const char *env[TS_MAX_ENV + 5];
    static char listen[4][64], workers[4][32], mlisten[4][80];
    static int slot, mslot;
    int s = slot++ % 4;
    ts_api_env(&e->api, env, TS_MAX_ENV);
    size_t n = 0;
    while (env[n])
        n++;
    int mport = ts_free_port();
    metrics_ports[mslot % 16].port = port;
    metrics_ports[mslot++ % 16].metrics_port = mport;
    snprintf(listen[s], sizeof listen[s], "JSMCP_WORKER_LISTEN=127.0.0.1:%d", port);
    snprintf(workers[s], sizeof workers[s], "JSMCP_WORKERS=%d", nworkers);
    snprintf(mlisten[s], sizeof mlisten[s], "JSMCP_WORKER_METRICS_LISTEN=127.0.0.1:%d", mport);
    env[n++] = listen[s];
    env[n++] = workers[s];
    env[n++] = mlisten[s];
    /* One worker of the spanning test reads Redis on every request (cache
     * off), so that path keeps being exercised next to a caching one. */
    env[n++] = "JSMCP_LOG_LEVEL=debug";
    if (strstr(name, "_nocache"))
        env[n++] = "JSMCP_SERVER_CACHE=0";
    env[n] = NULL;
    ts_spawn(p, name, "jsmcp-worker", NULL, env, port);
}

/* POSTs a JSON-RPC body to /mcp/<token> on port with optional session. */
static void mcp_post(ts_resp_t *r, int port, const char *token, const char *sid, const char *body,
                     const char *extra_header)
{
    char url[300], sh[128];
    const char *h[6] = {"Content-Type: application/json", "Accept: application/json, text/event-stream"};
    int n = 2;
    if (sid) {
        snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", sid);
        h[n++] = sh;
    }
    if (extra_header)
        h[n++] = extra_header;
    h[n] = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp/%s", port, token);
    ts_http(r, "POST", url, h, body, strlen(body));
}

static void initialize(int port, const char *token, char *sid, size_t sidsz, const char *auth)
{
    ts_resp_t r;
    mcp_post(&r, port, token, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
             "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
             auth);
    cr_assert_eq(r.status, 200, "initialize: %ld %s", r.status, r.body);
    cr_assert(ts_resp_header(&r, "Mcp-Session-Id", sid, sidsz), "session id issued");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "result"), "protocolVersion")),
                     "2025-11-25");
    ts_resp_free(&r);
}

static int rpc_code(const ts_resp_t *r)
{
    return (int)json_integer_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

/* How many tools of worker/catalog.json (the reference: read from the
 * repository, not from the worker) are of kind k1 or k2. */
static size_t catalog_count_kinds(const char *k1, const char *k2)
{
    json_error_t je;
    json_t *cat = json_load_file("worker/catalog.json", 0, &je);
    cr_assert(cat, "worker/catalog.json: %s (run from the repository root)", je.text);
    size_t i, n = 0;
    json_t *t;
    json_array_foreach(json_object_get(cat, "tools"), i, t) {
        const char *k = json_string_value(json_object_get(t, "kind"));
        n += k && (strcmp(k, k1) == 0 || strcmp(k, k2) == 0);
    }
    json_decref(cat);
    return n;
}

/* ---- a raw SSE reader (the blocking test client cannot stream) ---- */

typedef struct sse_s {
    int fd;
    char buf[65536];
    size_t len;
} sse_t;

/* GET path on port as an event stream, with the session's header when sid
 * is not NULL (a Streamable HTTP GET stream; NULL: a legacy /sse stream). */
static void sse_open(sse_t *s, int port, const char *path, const char *sid)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    s->len = 0;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(connect(s->fd, (struct sockaddr *)&a, sizeof a) == 0);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n%s%s%s\r\n",
                     path, port, sid ? "Mcp-Session-Id: " : "", sid ? sid : "", sid ? "\r\n" : "");
    cr_assert_eq(write(s->fd, req, (size_t)n), n);
}

/* 1 once the server ended the stream (EOF, or the chunked stream's last
 * chunk) within 30 s. */
static int sse_wait_end(sse_t *s)
{
    for (int i = 0; i < 300; i++) {
        s->buf[s->len] = 0;
        if (strstr(s->buf, "\r\n0\r\n\r\n"))
            return 1;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
            if (n <= 0)
                return 1;
            s->len += (size_t)n;
        }
    }
    return 0;
}

/* Reads until needle appears (or 30 s pass); returns a pointer into buf. */
static const char *sse_wait(sse_t *s, const char *needle)
{
    for (int i = 0; i < 300; i++) {
        s->buf[s->len] = 0;
        const char *hit = strstr(s->buf, needle);
        if (hit)
            return hit;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
            if (n <= 0)
                break;
            s->len += (size_t)n;
        }
    }
    return NULL;
}

/* ---- tests ---- */

Test(worker, sessions_and_legacy_streams_span_workers, .timeout = 120)
{
    env_t e;
    ts_proc_t a, b;
    stack_start(&e, "wk_span_api");
    server_create(&e, "{\"name\":\"s\",\"config\":{\"methods\":[\"read\"]}}");
    int pa = ts_free_port(), pb = ts_free_port();
    worker_start(&e, &a, "wk_span_a", pa, 1);
    worker_start(&e, &b, "wk_span_b_nocache", pb, 1);

    /* Streamable HTTP: initialize on A, continue on B, end on B, refused on A. */
    char sid[128];
    ts_resp_t r;
    initialize(pa, e.token, sid, sizeof sid, NULL);
    mcp_post(&r, pb, e.token, sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL);
    cr_assert_eq(r.status, 202, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    mcp_post(&r, pb, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    /* methods read: every list and get tool of the catalog, on one page. */
    size_t nread = catalog_count_kinds("list", "get");
    cr_assert_gt(nread, 0);
    size_t listed = json_array_size(json_object_get(json_object_get(r.json, "result"), "tools"));
    cr_assert_eq(listed, nread, "methods read lists %zu tools; the catalog has %zu list and get tools", listed, nread);
    cr_assert_null(json_object_get(json_object_get(r.json, "result"), "nextCursor"), "one page: %s", r.body);
    ts_resp_free(&r);
    char url[300], sh[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp/%s", pb, e.token);
    snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", sid);
    const char *dh[] = {sh, NULL};
    ts_http(&r, "DELETE", url, dh, NULL, 0);
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    mcp_post(&r, pa, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}", NULL);
    cr_assert_eq(r.status, 404, "ended session: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    /* Legacy SSE: stream on A, POSTs on B, answers arrive on A's stream. */
    sse_t s;
    char path[256];
    snprintf(path, sizeof path, "/mcp/%s/sse", e.token);
    sse_open(&s, pa, path, NULL);
    const char *ep = sse_wait(&s, "event: endpoint\ndata: ");
    cr_assert(ep, "endpoint event: %s", s.buf);
    char endpoint[256];
    ep += strlen("event: endpoint\ndata: ");
    snprintf(endpoint, sizeof endpoint, "%.*s", (int)strcspn(ep, "\r\n"), ep);
    cr_assert(strstr(endpoint, "/messages?sessionId="), "%s", endpoint);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", pb, endpoint);
    const char *jh[] = {"Content-Type: application/json", NULL};
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                       "\"2024-11-05\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    ts_http(&r, "POST", url, jh, init, strlen(init));
    cr_assert_eq(r.status, 202);
    ts_resp_free(&r);
    cr_assert(sse_wait(&s, "\"id\":41,\"result\":{\"protocolVersion\":\"2024-11-05\""), "answer via pub/sub: %s", s.buf);
    const char *list = "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/list\"}";
    ts_http(&r, "POST", url, jh, list, strlen(list));
    ts_resp_free(&r);
    cr_assert(sse_wait(&s, "\"id\":42,\"result\":{\"tools\""), "%s", s.buf);
    close(s.fd);
    /* The stream is gone: its session ends with it (on every worker). */
    int gone = 0;
    for (int i = 0; i < 300 && !gone; i++) {
        ts_http(&r, "POST", url, jh, list, strlen(list));
        gone = r.status == 404;
        ts_resp_free(&r);
        if (!gone)
            sleep_ms(100);
    }
    cr_assert(gone, "legacy session ends with its stream");

    cr_assert_eq(ts_stop(&a), 0, "worker A exit status");
    cr_assert_eq(ts_stop(&b), 0, "worker B exit status");

    /* Two worker processes behind one port: every request below is a new
     * connection, which the kernel hands to either process (all 20 landing
     * on one process has odds of 2^-19); all must succeed. */
    ts_proc_t pool;
    int pp = ts_free_port();
    worker_start(&e, &pool, "wk_span_pool", pp, 2);
    initialize(pp, e.token, sid, sizeof sid, NULL);
    for (int i = 0; i < 20; i++) {
        mcp_post(&r, pp, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}", NULL);
        cr_assert_eq(r.status, 200, "ping %d: %ld %s", i, r.status, r.body);
        ts_resp_free(&r);
    }
    sse_open(&s, pp, path, NULL);
    ep = sse_wait(&s, "event: endpoint\ndata: ");
    cr_assert(ep);
    ep += strlen("event: endpoint\ndata: ");
    snprintf(endpoint, sizeof endpoint, "%.*s", (int)strcspn(ep, "\r\n"), ep);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", pp, endpoint);
    for (int i = 0; i < 20; i++) {
        char body[100], want[40];
        snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}", 100 + i);
        ts_http(&r, "POST", url, jh, body, strlen(body));
        cr_assert_eq(r.status, 202);
        ts_resp_free(&r);
        snprintf(want, sizeof want, "\"id\":%d,\"result\":{}", 100 + i);
        cr_assert(sse_wait(&s, want), "answer %d on the stream: %s", 100 + i, s.buf);
    }
    close(s.fd);
    cr_assert_eq(ts_stop(&pool), 0, "pool exit status");
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

/* MCP sends a message on one stream only. A session's second GET stream,
 * opened on another worker (a client reconnecting after a failure the
 * server has not noticed), replaces the first there too, as it does in one
 * process; else both stayed open and every list_changed went out on both,
 * twice each (found by an adversarial run). */
Test(worker, a_new_get_stream_replaces_the_old_one_on_another_worker, .timeout = 120)
{
    env_t e;
    ts_proc_t a, b;
    ts_resp_t r;
    sse_t s1, s2, s3;
    char sid[128], path[300], mcp[200];
    stack_start(&e, "wk_get_api");
    server_create(&e, "{\"name\":\"s\",\"config\":{\"methods\":[\"read\"]}}");
    int pa = ts_free_port(), pb = ts_free_port();
    worker_start(&e, &a, "wk_get_a", pa, 1);
    worker_start(&e, &b, "wk_get_b", pb, 1);
    initialize(pa, e.token, sid, sizeof sid, NULL);
    snprintf(mcp, sizeof mcp, "/mcp/%s", e.token);
    sse_open(&s1, pa, mcp, sid);
    cr_assert(sse_wait(&s1, "text/event-stream"), "first stream: %s", s1.buf);
    sse_open(&s2, pb, mcp, sid);
    cr_assert(sse_wait(&s2, "text/event-stream"), "second stream: %s", s2.buf);
    cr_assert(sse_wait_end(&s1), "the first stream, on the other worker, ends: %s", s1.buf);
    close(s1.fd);
    /* The one left gets the change. */
    snprintf(path, sizeof path, "/integrated-account/%s/mcp/%s", e.acct, e.srv_id);
    ts_api_call(&r, &e.api, e.key, "PATCH", path, "{\"config\":{\"methods\":[\"read\",\"write\"]}}");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(sse_wait(&s2, "notifications/tools/list_changed"), "list_changed on the stream left: %s", s2.buf);
    /* And back: a third on the first worker ends the second. */
    sse_open(&s3, pa, mcp, sid);
    cr_assert(sse_wait(&s3, "text/event-stream"), "third stream: %s", s3.buf);
    cr_assert(sse_wait_end(&s2), "the second stream ends: %s", s2.buf);
    close(s2.fd);
    close(s3.fd);
    cr_assert_eq(ts_stop(&a), 0, "worker A exit status");
    cr_assert_eq(ts_stop(&b), 0, "worker B exit status");
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

/* 1 once /metrics shows every process of the worker at port trusting its cache. */
static int wait_cache_on(int port)
{
    char m[64];
    metrics_url(port, m, sizeof m);
    for (int i = 0; i < 300; i++) { /* 30 s */
        ts_resp_t r;
        ts_http(&r, "GET", m, NULL, NULL, 0);
        const char *p = r.body ? strstr(r.body, "\njsmcp_worker_server_cache_on ") : NULL;
        int on = p && atof(p + strlen("\njsmcp_worker_server_cache_on ")) >= 1;
        ts_resp_free(&r);
        if (on)
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

Test(worker, revocation_expiry_and_api_keys, .timeout = 120)
{
    env_t e;
    ts_proc_t a, b;
    ts_resp_t r;
    char sid[128], auth[128], path[300];
    stack_start(&e, "wk_rev_api");
    int pa = ts_free_port(), pb = ts_free_port();
    worker_start(&e, &a, "wk_rev_a", pa, 2);
    worker_start(&e, &b, "wk_rev_b", pb, 1);

    /* Revocation: DELETE in the admin API -> refused on every worker, even
     * mid-session, although every worker process has the server and the
     * session in its cache (wk_cache.h): the keyspace notification of the
     * DEL reaches them before the API answers. Then a PATCH applies at once. */
    int ports[] = {pa, pb};
    for (int i = 0; i < 2; i++)
        cr_assert(wait_cache_on(ports[i]), "worker %d: cache on (keyspace notifications set)", i);
    server_create(&e, "{\"name\":\"s\"}");
    initialize(pa, e.token, sid, sizeof sid, NULL);
    snprintf(path, sizeof path, "/integrated-account/%s/mcp/%s", e.acct, e.srv_id);
    size_t all = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 6; k++) { /* new connections: SO_REUSEPORT spreads them over the processes */
                mcp_post(&r, ports[i], e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", NULL);
                cr_assert_eq(r.status, 200, "round %d worker %d: %ld %s", round, i, r.status, r.body);
                size_t ntools = json_array_size(json_object_get(json_object_get(r.json, "result"), "tools"));
                if (!all)
                    all = ntools;
                cr_assert(round == 1 ? ntools > 0 && ntools < all : ntools == all, "round %d: %zu tools of %zu",
                          round, ntools, all);
                ts_resp_free(&r);
            }
        /* Round 0 -> 1: the server is narrowed to the read tools; round 1 -> 2: widened again. */
        const char *cfg = round == 0 ? "{\"config\":{\"methods\":[\"read\"]}}"
                                     : "{\"config\":{}}";
        if (round < 2) {
            ts_api_call(&r, &e.api, e.key, "PATCH", path, cfg);
            cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
            ts_resp_free(&r);
        }
    }
    ts_api_call(&r, &e.api, e.key, "DELETE", path, NULL);
    cr_assert_eq(r.status, 204);
    ts_resp_free(&r);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 6; k++) {
            mcp_post(&r, ports[i], e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", NULL);
            cr_assert_eq(r.status, 404, "revoked on worker %d (k %d): %ld %.100s", i, k, r.status, r.body);
            cr_assert(strstr(r.body, "unknown, revoked or expired"), "%s", r.body);
            ts_resp_free(&r);
        }

    /* Expiry is checked by the worker itself, not only by the Redis TTL:
     * a record whose expires_at passed (TTL not yet fired) is refused. */
    server_create(&e, "{\"name\":\"s2\"}");
    initialize(pb, e.token, sid, sizeof sid, NULL);
    char hash[65], key[200];
    secret_hash_hex(e.token, strlen(e.token), hash);
    snprintf(key, sizeof key, "%ssrv:%s", e.api.redis_prefix, hash);
    char *rec = ts_redis("GET %s", key);
    cr_assert(rec, "published record");
    json_error_t je;
    json_t *j = json_loads(rec, 0, &je);
    free(rec);
    json_object_set_new(j, "expires_at_ms", json_integer(clock_now_ms() - 1000));
    char *dump = json_dumps(j, JSON_COMPACT);
    free(ts_redis("SET %s %s", key, dump));
    free(dump);
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        mcp_post(&r, ports[i], e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", NULL);
        cr_assert_eq(r.status, 404, "expired on worker %d: %ld", i, r.status);
        ts_resp_free(&r);
    }

    /* require_api_token_auth: a live key of the owning workspace, else 401. */
    server_create(&e, "{\"name\":\"s3\",\"require_api_token_auth\":true}");
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                       "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    mcp_post(&r, pa, e.token, NULL, init, NULL);
    cr_assert_eq(r.status, 401);
    char www[300];
    cr_assert(ts_resp_header(&r, "WWW-Authenticate", www, sizeof www));
    cr_assert(strstr(www, "Bearer"));
    ts_resp_free(&r);
    mcp_post(&r, pa, e.token, NULL, init, "Authorization: Bearer jsk_not_a_real_key");
    cr_assert_eq(r.status, 401);
    ts_resp_free(&r);
    char other_ws[64], other_key[64];
    ts_api_workspace(&e.api, "other", other_ws, other_key);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", other_key);
    mcp_post(&r, pa, e.token, NULL, init, auth);
    cr_assert_eq(r.status, 401, "a key of another workspace");
    ts_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", e.key);
    initialize(pb, e.token, sid, sizeof sid, auth);
    mcp_post(&r, pa, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", auth);
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    mcp_post(&r, pa, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", NULL);
    cr_assert_eq(r.status, 401, "every request needs the key, not only initialize");
    ts_resp_free(&r);

    cr_assert_eq(ts_stop(&a), 0);
    cr_assert_eq(ts_stop(&b), 0);
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

Test(worker, bad_input_table, .timeout = 120)
{
    env_t e;
    ts_proc_t w;
    ts_resp_t r;
    char sid[128], url[200], sh[160];
    stack_start(&e, "wk_bad_api");
    server_create(&e, "{\"name\":\"s\",\"config\":{\"methods\":[\"get\"]}}");
    int port = ts_free_port();
    worker_start(&e, &w, "wk_bad", port, 1);
    initialize(port, e.token, sid, sizeof sid, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp/%s", port, e.token);
    snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", sid);

    static char huge[2 * 1024 * 1024];
    memset(huge, ' ', sizeof huge - 1);
    huge[0] = '{';
    huge[sizeof huge - 2] = '}';
    static char deep[201]; /* 100 nested arrays, NUL-terminated */
    for (int i = 0; i < 100; i++) {
        deep[i] = '[';
        deep[199 - i] = ']';
    }

    /* Names and a header that a length limit cuts inside a UTF-8
     * character (%.127s of 127 'a' and an 'e' with an accent): the error
     * that quotes them must still be sent, as valid JSON. */
    static char cut_method[400], cut_tool[400];
    char a127[128];
    memset(a127, 'a', 127);
    a127[127] = 0;
    snprintf(cut_method, sizeof cut_method, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\xc3\xa9\"}", a127);
    snprintf(cut_tool, sizeof cut_tool,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\xc3\xa9\"}}", a127);

    const char *ct = "Content-Type: application/json", *acc = "Accept: application/json, text/event-stream";
    struct {
        const char *what, *method, *path_suffix, *body;
        const char *h1, *h2, *h3;
        long status;
        int code; /* JSON-RPC error code, 0 = not checked */
    } cases[] = {
        {"malformed JSON", "POST", "", "{\"jsonrpc\":", ct, acc, sh, 400, -32700},
        {"deep JSON", "POST", "", deep, ct, acc, sh, 400, -32700},
        {"batch", "POST", "", "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", ct, acc, sh, 400, -32600},
        {"not an object", "POST", "", "42", ct, acc, sh, 400, -32600},
        {"no jsonrpc", "POST", "", "{\"id\":1,\"method\":\"ping\"}", ct, acc, sh, 400, -32600},
        {"null id", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", ct, acc, sh, 400, -32600},
        {"params array", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}", ct, acc, sh, 400, -32600},
        {"huge body", "POST", "", huge, ct, acc, sh, 413, 0},
        {"unknown method", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tasks/list\"}", ct, acc, sh, 200, -32601},
        {"unknown method cut in a character", "POST", "", cut_method, ct, acc, sh, 200, -32601},
        {"unknown tool cut in a character", "POST", "", cut_tool, ct, acc, sh, 200, -32602},
        {"protocol version not UTF-8", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, "MCP-Protocol-Version: 2025-\xff", sh, 400, -32000},
        {"unknown tool", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}", ct, acc, sh, 200, -32602},
        {"tool outside the server's methods", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"list_all_jira_service_management_queues\",\"arguments\":{\"service_desk_id\":\"2\"}}}", ct, acc, sh, 200, -32602},
        {"bad tools/list cursor", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"cursor\":\"zzz\"}}", ct, acc, sh, 200, -32602},
        {"bad log level", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"loud\"}}", ct, acc, sh, 200, -32602},
        {"no session", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, acc, NULL, 400, -32000},
        {"unknown session", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, acc, "Mcp-Session-Id: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404, -32001},
        {"malformed session", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, acc, "Mcp-Session-Id: ../x", 404, -32001},
        {"initialize inside a session", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}", ct, acc, sh, 400, -32600},
        {"bad protocol version", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, "MCP-Protocol-Version: 1999-01-01", sh, 400, -32000},
        {"text/plain", "POST", "", "{}", "Content-Type: text/plain", acc, sh, 415, -32000},
        {"Accept without SSE", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, "Accept: application/json", sh, 406, -32000},
        {"GET without SSE accept", "GET", "", NULL, "Accept: application/json", sh, NULL, 406, -32000},
        {"foreign Origin", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, "Origin: http://evil.example.com", sh, 403, -32000},
        {"PUT", "PUT", "", "{}", ct, acc, sh, 405, 0},
        {"DELETE without session", "DELETE", "", NULL, acc, NULL, NULL, 400, -32000},
        {"legacy POST without sessionId", "POST", "/messages", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, NULL, NULL, 400, -32000},
        {"legacy POST unknown sessionId", "POST", "/messages?sessionId=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, NULL, NULL, 404, -32001},
        {"legacy POST to a Streamable session", "POST", "/messages?sessionId=", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, NULL, NULL, 404, -32001},
        {"unknown subpath", "GET", "/nope", NULL, acc, NULL, NULL, 404, 0},
        /* \u0000 is valid JSON: refused for the string that holds it, with
         * the request's id, not as a parse error; in a member name (which
         * C code reads as a C string) it stays one. */
        {"\\u0000 in a method", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000x\"}", ct, acc, sh, 400, -32602},
        {"\\u0000 in a tool name", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_single_jira_service_management_issue_by_id\\u0000\",\"arguments\":{\"id\":\"ITSM-1\"}}}", ct, acc, sh, 400, -32602},
        {"\\u0000 in a resource URI", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"jsm://issue/ITSM-1\\u0000/../x\"}}", ct, acc, sh, 400, -32602},
        /* wherever the arguments come in the message (the first NUL was in them) */
        {"\\u0000 in the method after the arguments", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"params\":{\"arguments\":{\"id\":\"I\\u0000\"},\"name\":\"get_single_jira_service_management_issue_by_id\"},\"method\":\"tools/call\\u0000x\"}", ct, acc, sh, 400, -32602},
        {"\\u0000 in a progress token after the arguments", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"I\\u0000\"},\"_meta\":{\"progressToken\":\"p\\u0000\"}}}", ct, acc, sh, 400, -32602},
        /* a notification cannot be refused to anyone: taken, NULs as U+FFFD */
        {"\\u0000 in a notification", "POST", "", "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":\"r\",\"reason\":\"x\\u0000\"}}", ct, acc, sh, 202, 0},
        /* A header that decides what the request is for, twice: the
         * worker and a proxy in front of it could read different ones. */
        {"Mcp-Session-Id twice", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, sh, "Mcp-Session-Id: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400, -32000},
        {"Mcp-Session-Id twice, the same", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ct, sh, sh, 400, -32000},
        {"MCP-Protocol-Version twice", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "MCP-Protocol-Version: 2025-11-25", sh, "mcp-protocol-version: 2025-06-18", 400, -32000},
        {"Authorization twice", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "Authorization: Bearer a", sh, "Authorization: Bearer b", 400, -32000},
        {"Origin twice", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "Origin: http://127.0.0.1", sh, "Origin: http://evil.example.com", 400, -32000},
        {"\\u0000 in a member name", "POST", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\\u0000\":1}}", ct, acc, sh, 400, -32700},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char u[600];
        if (strcmp(cases[i].path_suffix, "/messages?sessionId=") == 0)
            snprintf(u, sizeof u, "%s/messages?sessionId=%s", url, sid);
        else
            snprintf(u, sizeof u, "%s%s", url, cases[i].path_suffix);
        const char *h[4] = {cases[i].h1, cases[i].h2, cases[i].h3, NULL};
        if (!h[1])
            h[2] = NULL;
        ts_http(&r, cases[i].method, u, h, cases[i].body, cases[i].body ? strlen(cases[i].body) : 0);
        cr_expect_eq(r.status, cases[i].status, "%s: status %ld, body %s", cases[i].what, r.status, r.body);
        if (cases[i].code)
            cr_expect_eq(rpc_code(&r), cases[i].code, "%s: code in %s", cases[i].what, r.body);
        ts_resp_free(&r);
    }

    /* Arguments a known tool refuses are its tool error, for the model to
     * fix (MCP 2025-11-25, SEP-1303), not a JSON-RPC error. */
    mcp_post(&r, port, e.token, sid,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":5}}}",
             NULL);
    json_t *res = json_object_get(r.json, "result");
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    cr_expect(r.status == 200 && json_is_true(json_object_get(res, "isError")) && text &&
                  strstr(text, "Invalid arguments for get_single_jira_service_management_issue_by_id"),
              "bad arguments: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    /* \u0000 inside a tool's arguments is that tool's argument error, with
     * where it is; outside them the error carries the request's id. */
    mcp_post(&r, port, e.token, sid,
             "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"ITSM-1\\u0000x\"}}}",
             NULL);
    res = json_object_get(r.json, "result");
    text = json_string_value(json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    cr_expect(r.status == 200 && json_is_true(json_object_get(res, "isError")) && text &&
                  strstr(text, "/id holds \\u0000"),
              "\\u0000 in an argument: %ld %s", r.status, r.body);
    cr_expect_eq(json_integer_value(json_object_get(r.json, "id")), 9, "%s", r.body);
    ts_resp_free(&r);
    {
        const char *h[] = {ct, acc, sh, NULL};
        const char *b = "{\"jsonrpc\":\"2.0\",\"id\":\"n-1\",\"method\":\"prompts/get\",\"params\":{\"name\":\"x\\u0000\"}}";
        ts_http(&r, "POST", url, h, b, strlen(b));
        cr_expect(r.status == 400 && rpc_code(&r) == -32602 &&
                      json_string_value(json_object_get(r.json, "id")) &&
                      strcmp(json_string_value(json_object_get(r.json, "id")), "n-1") == 0 &&
                      strstr(r.body, "/params/name holds"),
                  "\\u0000 in a prompt name: %ld %s", r.status, r.body);
        ts_resp_free(&r);
    }

    /* A refusal of what a request is carries the request's id (JSON-RPC
     * 2.0; MCP's schema has no null id), even one refused before its body
     * is read, as the AI SDK's first request in a protocol version the
     * worker does not speak is; a refused session keeps the null id, a
     * body that is no request has none to give. */
    {
        const char *hv[] = {ct, acc, "MCP-Protocol-Version: 2026-07-28", NULL};
        const char *hi[] = {ct, acc, sh, NULL};
        const char *hs[] = {ct, acc, "Mcp-Session-Id: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL};
        struct {
            const char *what, **h, *body;
            long status;
            const char *id; /* the id as JSON text */
        } idc[] = {
            {"server/discover in an unknown version", hv, "{\"jsonrpc\":\"2.0\",\"id\":\"disc-1\",\"method\":\"server/discover\"}", 400, "\"disc-1\""},
            {"a ping in an unknown version", hv, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}", 400, "0"},
            {"a notification in an unknown version", hv, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 400, "null"},
            {"no JSON in an unknown version", hv, "{\"jsonrpc\":", 400, "null"},
            {"initialize inside a session", hi, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"initialize\",\"params\":{}}", 400, "7"},
            {"unknown session", hs, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}", 404, "null"},
        };
        for (size_t i = 0; i < sizeof idc / sizeof idc[0]; i++) {
            ts_http(&r, "POST", url, idc[i].h, idc[i].body, strlen(idc[i].body));
            char *got = r.json ? json_dumps(json_object_get(r.json, "id"), JSON_ENCODE_ANY) : NULL;
            cr_expect(r.status == idc[i].status && json_object_get(r.json, "error") && got && strcmp(got, idc[i].id) == 0,
                      "%s: %ld %s (id %s wanted)", idc[i].what, r.status, r.body, idc[i].id);
            free(got);
            ts_resp_free(&r);
        }
    }

    /* Bad tokens: 404 with a JSON body that says so. */
    const char *tokens[] = {"nope", "a%2Fb", "x/../../etc", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"};
    for (size_t i = 0; i < 4; i++) {
        char u[300];
        snprintf(u, sizeof u, "http://127.0.0.1:%d/mcp/%s", port, tokens[i]);
        const char *h[] = {ct, acc, NULL};
        ts_http(&r, "POST", u, h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 40);
        cr_expect_eq(r.status, 404, "token %s: %ld", tokens[i], r.status);
        cr_expect(r.json && json_object_get(r.json, "message"), "JSON body for %s", tokens[i]);
        ts_resp_free(&r);
    }

    /* Misses are the worker's own answers (its router fallback), never
     * problem+json: outside /mcp/ a JSON 404 whatever the method (HEAD is
     * not GET), a token longer than 256 characters an unknown URL
     * whatever follows, a known path under a token with another method
     * 405 + Allow in JSON-RPC form, another path under it a JSON 404. */
    static char longtok[258];
    memset(longtok, 'a', sizeof longtok - 1);
    const char *outside = "No such endpoint; MCP servers live at /mcp/<token>.";
    const char *unknown = "This MCP server URL is unknown, revoked or expired.";
    struct {
        const char *method, *path;
        int tok; /* %s in path: 1 the server's token, 2 one of 257 characters */
        long status;
        const char *expect; /* 404: the message; 405: the Allow list */
    } misses[] = {
        {"POST", "/healthz", 0, 404, outside},
        {"HEAD", "/readyz", 0, 404, NULL},
        {"GET", "/metrics", 0, 404, outside},
        {"GET", "/mcp", 0, 404, outside},
        {"GET", "/mcp/", 0, 404, unknown},
        {"GET", "/mcp//sse", 0, 404, unknown},
        {"GET", "/mcp/%s", 2, 404, unknown},
        {"PUT", "/mcp/%s/sse", 2, 404, unknown},
        {"GET", "/mcp/%s/", 1, 404, "No such endpoint under this MCP server URL."},
        {"GET", "/mcp/%s/sse/x", 1, 404, "No such endpoint under this MCP server URL."},
        {"PUT", "/mcp/%s", 1, 405, "GET, POST, DELETE"},
        {"HEAD", "/mcp/%s/mcp", 1, 405, "GET, POST, DELETE"},
        {"POST", "/mcp/%s/sse", 1, 405, "GET"},
        {"GET", "/mcp/%s/messages", 1, 405, "POST"},
    };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        char path[400], u[500], v[128];
        snprintf(path, sizeof path, misses[i].path, misses[i].tok == 2 ? longtok : e.token);
        snprintf(u, sizeof u, "http://127.0.0.1:%d%s", port, path);
        ts_http(&r, misses[i].method, u, NULL, NULL, 0);
        const char *what = misses[i].path;
        cr_expect_eq(r.status, misses[i].status, "%s %s: %ld %s", misses[i].method, what, r.status, r.body);
        cr_expect(ts_resp_header(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0,
                  "%s %s: content type %s", misses[i].method, what, v);
        if (misses[i].status == 405) {
            cr_expect(ts_resp_header(&r, "Allow", v, sizeof v) && strcmp(v, misses[i].expect) == 0,
                      "%s %s: Allow %s", misses[i].method, what, v);
            if (strcmp(misses[i].method, "HEAD") != 0) {
                json_t *err = json_object_get(r.json, "error");
                const char *msg = json_string_value(json_object_get(err, "message"));
                cr_expect(json_is_null(json_object_get(r.json, "id")) &&
                              json_integer_value(json_object_get(err, "code")) == -32000 && msg &&
                              strcmp(msg, "Method Not Allowed") == 0,
                          "%s %s: %s", misses[i].method, what, r.body);
            }
        } else if (misses[i].expect) {
            const char *err = json_string_value(json_object_get(r.json, "error"));
            const char *msg = json_string_value(json_object_get(r.json, "message"));
            cr_expect(json_object_size(r.json) == 2 && err && strcmp(err, "not_found") == 0 && msg &&
                          strcmp(msg, misses[i].expect) == 0,
                      "%s %s: %s", misses[i].method, what, r.body);
        }
        ts_resp_free(&r);
    }

    /* Still serving. */
    mcp_post(&r, port, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(json_is_object(json_object_get(r.json, "result")));
    ts_resp_free(&r);
    char m[64];
    metrics_url(port, m, sizeof m);
    ts_http(&r, "GET", m, NULL, NULL, 0);
    cr_assert(strstr(r.body, "jsmcp_worker_requests_total"));
    ts_resp_free(&r);

    cr_assert_eq(ts_stop(&w), 0);
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

/* The child pids of parent (up to max); returns how many. */
static int children(pid_t parent, pid_t *out, int max)
{
    char path[64], buf[512] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = 0;
    fclose(f);
    int n = 0;
    for (char *p = buf, *end; n < max; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        out[n++] = (pid_t)v;
    }
    return n;
}

/* A revocation behind a burst of other keyspace notifications (hiredis
 * reads 16 KB at a time): a request that arrives with them all still
 * unread must see it (wk_cache_sync reads the subscription dry). The
 * worker is stopped while the burst, the DEL and the request queue up. */
Test(worker, revocation_behind_a_burst_of_notifications, .timeout = 60)
{
    env_t e;
    ts_proc_t a;
    ts_resp_t r;
    char sid[128];
    stack_start(&e, "wk_burst_api");
    int port = ts_free_port();
    worker_start(&e, &a, "wk_burst", port, 1);
    cr_assert(wait_cache_on(port));
    server_create(&e, "{\"name\":\"s\"}");
    initialize(port, e.token, sid, sizeof sid, NULL);
    mcp_post(&r, port, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", NULL);
    cr_assert_eq(r.status, 200, "cached: %ld", r.status);
    ts_resp_free(&r);
    pid_t kid;
    cr_assert_eq(children(a.pid, &kid, 1), 1);
    kill(kid, SIGSTOP);
    /* ~3,000 notifications (~400 KB), then the revocation. */
    char burst[200], hash[65], key[200];
    snprintf(burst, sizeof burst, "%ssrv:burst-", e.api.redis_prefix);
    free(ts_redis("EVAL %s 1 %s", "for i=1,3000 do redis.call('SET', KEYS[1]..i, 'x', 'PX', 60000) end return 1", burst));
    secret_hash_hex(e.token, strlen(e.token), hash);
    snprintf(key, sizeof key, "%ssrv:%s", e.api.redis_prefix, hash);
    /* A revocation as the API publishes it: a tombstone (a bare DEL would be
     * undone by reconcile republishing the server's creation). */
    free(ts_redis("SET %s %s", key, "{\"version\":999,\"tombstone\":true}"));
    /* The request waits in the socket while the worker is stopped. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}";
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /mcp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Accept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     e.token, sid, strlen(body), body);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    kill(kid, SIGCONT);
    char resp[4096];
    size_t got = 0;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t k; got < sizeof resp - 1 && (k = read(fd, resp + got, sizeof resp - 1 - got)) > 0;)
        got += (size_t)k;
    resp[got] = 0;
    close(fd);
    cr_assert(strncmp(resp, "HTTP/1.1 404", 12) == 0, "served although the revocation came behind the burst: %.200s", resp);
    cr_assert_eq(ts_stop(&a), 0);
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

Test(worker, master_restarts_dead_workers, .timeout = 60)
{
    env_t e;
    ts_proc_t w;
    ts_resp_t r;
    stack_start(&e, "wk_master_api");
    int port = ts_free_port();
    worker_start(&e, &w, "wk_master", port, 2);
    pid_t kids[8];
    cr_assert_eq(children(w.pid, kids, 8), 2, "two worker processes");

    /* /metrics covers the pool, whichever process answers the scrape; it
     * names every tenant's accounts, so the public port does not serve it
     * (issue 20): 404 there, whichever process answers. */
    char u[64], m[64], pub[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/healthz", port);
    snprintf(pub, sizeof pub, "http://127.0.0.1:%d/metrics", port);
    metrics_url(port, m, sizeof m);
    for (int i = 0; i < 8; i++) {
        ts_http(&r, "GET", pub, NULL, NULL, 0);
        cr_assert_eq(r.status, 404, "public /metrics answered %ld", r.status);
        cr_assert_null(strstr(r.body ? r.body : "", "jsmcp_worker"), "%s", r.body);
        ts_resp_free(&r);
    }
    /* The metrics listener serves nothing else. */
    snprintf(pub, sizeof pub, "%.*s/mcp/x", (int)(strlen(m) - strlen("/metrics")), m);
    ts_http(&r, "POST", pub, NULL, "{}", 2);
    cr_assert_eq(r.status, 404);
    ts_resp_free(&r);
    for (int i = 0; i < 40; i++) {
        ts_http(&r, "GET", u, NULL, NULL, 0);
        ts_resp_free(&r);
    }
    /* Each process publishes its figures once a second: every scrape (new
     * connections, so either process answers) comes to count all 40,
     * waited for rather than slept on (30 s at most each). */
    for (int i = 0; i < 8; i++) {
        double total = 0;
        for (int k = 0; k < 300 && total < 40; k++) {
            if (k)
                sleep_ms(100);
            ts_http(&r, "GET", m, NULL, NULL, 0);
            total = 0;
            for (const char *p = r.body; (p = strstr(p, "jsmcp_worker_requests_total{route=\"/healthz\"")); p++)
                total += strtod(strrchr(strndupa(p, strcspn(p, "\n")), ' '), NULL);
            ts_resp_free(&r);
        }
        cr_assert(total >= 40, "scrape %d sees %g of the 40 /healthz requests after 30 s", i, total);
    }

    pid_t victim = kids[0];
    kill(victim, SIGKILL);
    int replaced = 0;
    for (int i = 0; i < 300 && !replaced; i++) {
        sleep_ms(100);
        int n = children(w.pid, kids, 8);
        replaced = n == 2 && kids[0] != victim && kids[1] != victim;
        /* Meanwhile the port keeps answering (the other worker). */
        ts_http(&r, "GET", u, NULL, NULL, 0);
        cr_assert_eq(r.status, 200);
        ts_resp_free(&r);
    }
    cr_assert(replaced, "a new worker process replaces the killed one");
    cr_assert(ts_log_count(&w, "worker died, restarting") >= 1);
    /* The SIGKILLed child makes the master's exit unclean by design. */
    cr_assert_eq(ts_stop(&w), 1);
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

/* A workspace API key with an expiry opens a server that requires one until
 * then, and no longer after: workers check the key's expiry themselves, as
 * the API does (its wskey: record carries expires_at_ms). Before, the record
 * had no expiry at all, and an expired key kept opening every such server
 * of its workspace until revoked. */
Test(worker, expired_workspace_key_no_longer_opens_a_server, .timeout = 120)
{
    env_t e;
    ts_proc_t w;
    ts_resp_t r;
    char path[160], body[160], iso[40], auth[300], sid[128];
    stack_start_env(&e, "wk_keyexp_api", "JSMCP_MIN_LIFETIME_MS=1000");
    server_create(&e, "{\"name\":\"s\",\"require_api_token_auth\":true}");
    int64_t exp = clock_now_ms() + 3000;
    exp += 1000 - exp % 1000; /* whole seconds */
    clock_format_iso(exp, 0, iso, sizeof iso);
    snprintf(path, sizeof path, "/workspaces/%s/api-keys", e.ws);
    snprintf(body, sizeof body, "{\"name\":\"short\",\"expires_at\":\"%s\"}", iso);
    ts_api_call(&r, &e.api, e.api.bootstrap_key, "POST", path, body);
    cr_assert_eq(r.status, 201, "key: %ld %s", r.status, r.body);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", json_string_value(json_object_get(r.json, "key")));
    ts_resp_free(&r);
    int port = ts_free_port();
    worker_start(&e, &w, "wk_keyexp", port, 1);
    initialize(port, e.token, sid, sizeof sid, auth);
    mcp_post(&r, port, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", auth);
    cr_assert_eq(r.status, 200, "before its expiry: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    while (clock_now_ms() <= exp) /* the expiry is a time, not an event */
        sleep_ms(50);
    mcp_post(&r, port, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}", auth);
    cr_assert_eq(r.status, 401, "an expired key still opens the server: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    ts_api_call(&r, &e.api, auth + strlen("Authorization: Bearer "), "GET", "/api-keys/current", NULL);
    cr_assert_eq(r.status, 401, "the API takes the expired key: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* the workspace's key without an expiry still does */
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", e.key);
    mcp_post(&r, port, e.token, sid, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}", auth);
    cr_assert_eq(r.status, 200, "a live key: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    char *msg = tc_check_publication(e.api.db_url, e.api.redis_prefix, e.api.master_keys);
    cr_assert(!msg, "PostgreSQL and Redis disagree:\n%s", msg);
    cr_assert_eq(ts_stop(&w), 0);
    cr_assert_eq(ts_api_stop(&e.api), 0);
}

/* Redis loses its data (a FLUSHALL, a restart without persistence, a
 * failover to an empty replica) and the API's full pass has not
 * republished the server yet: the worker answered its valid URL 404 "This
 * MCP server URL is unknown, revoked or expired", on which a client gives
 * the URL up, for as long as the pass took (found by an adversarial run).
 * While the reconcile marker says the records are being rebuilt, a URL
 * without a record is 503 "try again"; once they are back it works, and
 * an unknown URL is a 404 again. The API's full pass is held at its hook
 * (reconcile_full_read: its first chunk read, nothing published). */
Test(worker, a_url_is_unavailable_not_unknown_while_redis_is_rebuilt, .timeout = 120)
{
    env_t e;
    ts_proc_t w;
    ts_resp_t r;
    char dir[256], he[320], pause[320], reached[320], sid[128], marker[256];
    snprintf(dir, sizeof dir, "%s/hooks.XXXXXX", getenv("JSMCP_TEST_TMP") ? getenv("JSMCP_TEST_TMP") : "/tmp");
    cr_assert(mkdtemp(dir));
    snprintf(he, sizeof he, "JSMCP_TEST_HOOK_DIR=%s", dir);
    snprintf(pause, sizeof pause, "%s/reconcile_full_read.pause", dir);
    snprintf(reached, sizeof reached, "%s/reconcile_full_read.reached", dir);
    stack_start_env(&e, "wk_rebuild_api", he);
    server_create(&e, "{\"name\":\"s\"}");
    snprintf(marker, sizeof marker, "%sreconcile:marker", e.api.redis_prefix);
    char *m = NULL;
    for (int i = 0; i < 600 && !(m && strstr(m, " done ")); i++) { /* the first full pass is behind us */
        free(m);
        sleep_ms(50);
        m = ts_redis("GET %s", marker);
    }
    cr_assert(m && strstr(m, " done "), "the first full pass did not complete: %s", m ? m : "(nil)");
    free(m);
    int port = ts_free_port();
    worker_start(&e, &w, "wk_rebuild", port, 1);
    initialize(port, e.token, sid, sizeof sid, NULL);

    FILE *f = fopen(pause, "w");
    cr_assert(f);
    fclose(f);
    free(ts_redis("EVAL %s 0 %s", "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do redis.call('DEL', k) end",
                  e.api.redis_prefix));
    for (int i = 0; i < 600 && access(reached, F_OK) != 0; i++)
        sleep_ms(50);
    cr_assert(access(reached, F_OK) == 0, "no full pass began after the loss");
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                       "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    mcp_post(&r, port, e.token, NULL, init, NULL);
    cr_assert_eq(r.status, 503, "a valid URL while Redis is rebuilt: %ld %s", r.status, r.body);
    ts_resp_free(&r);

    unlink(pause);
    long st = 0;
    for (int i = 0; i < 600 && st != 200; i++) {
        if (i)
            sleep_ms(50);
        mcp_post(&r, port, e.token, NULL, init, NULL);
        st = r.status;
        ts_resp_free(&r);
    }
    cr_assert_eq(st, 200, "the URL did not work again once the full pass republished it");
    for (int i = 0; i < 600; i++) { /* done once the pass completed */
        m = ts_redis("GET %s", marker);
        int done = m && strstr(m, " done ");
        free(m);
        if (done)
            break;
        sleep_ms(50);
    }
    mcp_post(&r, port, "unknown-token-unknown-token-unknown-token-0", NULL, init, NULL);
    cr_assert_eq(r.status, 404, "an unknown URL once Redis is rebuilt: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert_eq(ts_stop(&w), 0);
    cr_assert_eq(ts_api_stop(&e.api), 0);
}
