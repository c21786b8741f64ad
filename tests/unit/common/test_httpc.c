/* httpc against a real httpd on the same loop: bodies, headers, Basic auth,
 * size limits, timeouts, refused connections, connection reuse, many
 * requests in flight, and closing with requests in flight. Every callback
 * is counted: exactly once per accepted request. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "httpc.h"
#include "httpd.h"

typedef struct t_s {
    uv_loop_t loop;
    httpd_t *h;
    httpc_t *c;
    int port;
    int cbs;
    int ok;
    int last_status;
    char last_err[256];
    char last_body[4096];
    char hdr[256];
    int pending;
    int slow_open;
    int server_aborts;  /* requests whose client left before the answer */
    int closed;
} t_t;

static t_t T;

static void on_slow_timer(uv_timer_t *t)
{
    httpd_req_t *req = t->data;
    httpd_respond(req, 200, "text/plain", "slow", 4);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    T.slow_open--;
}

static void on_server_abort(httpd_req_t *req, void *ud)
{
    (void)req;
    (void)ud;
    T.server_aborts++;
}

static void handler(httpd_req_t *req, void *ud)
{
    const char *p = httpd_req_path(req);
    if (strcmp(p, "/hello") == 0) {
        httpd_resp_header(req, "X-RateLimit-Reset", "2026-01-01T01:01:01Z");
        httpd_respond(req, 200, "text/plain", "hello", 5);
    } else if (strcmp(p, "/echo") == 0) {
        size_t n;
        const char *b = httpd_req_body(req, &n);
        char out[2048];
        const char *auth = httpd_req_header(req, "Authorization");
        const char *ct = httpd_req_header(req, "Content-Type");
        int k = snprintf(out, sizeof out, "%s %s|%s|%s|%.*s", httpd_req_method(req),
                         auth ? auth : "-", ct ? ct : "-", httpd_req_query(req), (int)n, b);
        httpd_respond(req, 200, "text/plain", out, (size_t)k);
    } else if (strcmp(p, "/head") == 0) {
        const char *ua = httpd_req_header(req, "User-Agent"), *ae = httpd_req_header(req, "Accept-Encoding");
        int nua = 0;
        for (size_t i = 0; i < httpd_req_header_count(req); i++) {
            const char *name, *value;
            httpd_req_header_at(req, i, &name, &value);
            nua += strcasecmp(name, "User-Agent") == 0;
        }
        char out[512];
        int k = snprintf(out, sizeof out, "%s|%s|%d", ua ? ua : "-", ae ? ae : "-", nua);
        httpd_respond(req, 200, "text/plain", out, (size_t)k);
    } else if (strcmp(p, "/gzip") == 0) {
        /* printf 'decoded from gzip' | gzip -9n */
        static const unsigned char gz[] = {
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0x49, 0x4d, 0xce, 0x4f,
            0x49, 0x4d, 0x51, 0x48, 0x2b, 0xca, 0xcf, 0x55, 0x48, 0xaf, 0xca, 0x2c, 0x00, 0x00, 0xb3,
            0x6a, 0x0f, 0x00, 0x11, 0x00, 0x00, 0x00};
        httpd_resp_header(req, "Content-Encoding", "gzip");
        httpd_respond(req, 200, "text/plain", (const char *)gz, sizeof gz);
    } else if (strcmp(p, "/") == 0 || strncmp(p, "/target", 7) == 0) {
        char out[1024];
        int k = snprintf(out, sizeof out, "%s|%s", p, httpd_req_query(req));
        httpd_respond(req, 200, "text/plain", out, (size_t)k);
    } else if (strcmp(p, "/big") == 0) {
        size_t n = 100000;
        char *b = malloc(n);
        memset(b, 'x', n);
        httpd_respond(req, 200, "text/plain", b, n);
        free(b);
    } else if (strcmp(p, "/slow") == 0) {
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(httpd_req_loop(req), t);
        t->data = req;
        T.slow_open++;
        httpd_req_on_abort(req, on_server_abort, NULL);
        uv_timer_start(t, on_slow_timer, 500, 0);
    } else if (strcmp(p, "/429") == 0) {
        httpd_resp_header(req, "Retry-After", "7");
        httpd_respond(req, 429, "application/json", "{\"errorMessages\":[\"x\"]}", 23);
    } else {
        httpd_respond(req, 404, "text/plain", "nope", 4);
    }
}

static void setup(void)
{
    memset(&T, 0, sizeof T);
    uv_loop_init(&T.loop);
    httpd_config_t cfg;
    httpd_config_defaults(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cr_assert_eq(httpd_create(&T.h, &T.loop, &cfg, handler, NULL), 0);
    T.port = httpd_port(T.h);
    httpc_config_t cc;
    httpc_config_defaults(&cc);
    cc.max_response_bytes = 50000;
    /* Generous: a busy machine must not time out the ordinary requests;
     * the timeout test sets its own. */
    cc.timeout_ms = 10000;
    cr_assert_eq(httpc_create(&T.c, &T.loop, &cc), 0);
}

static void on_closed(void *arg)
{
    (void)arg;
    T.closed++;
}

static void teardown(void)
{
    if (T.c)
        httpc_close(T.c, on_closed, NULL);
    /* Finish the slow handlers first: httpd_close must not outlive a request
     * that a handler still owns. */
    while (T.slow_open > 0)
        uv_run(&T.loop, UV_RUN_ONCE);
    httpd_close(T.h, NULL, NULL);
    uv_run(&T.loop, UV_RUN_DEFAULT);
    cr_assert_eq(T.closed, 1, "httpc close callback ran");
    cr_assert_eq(uv_loop_close(&T.loop), 0, "all handles closed");
}

static void on_resp(const httpc_response_t *r, void *ud)
{
    T.cbs++;
    T.pending--;
    T.last_status = r->status;
    snprintf(T.last_err, sizeof T.last_err, "%s", r->err ? r->err : "");
    snprintf(T.last_body, sizeof T.last_body, "%.*s", (int)r->body_len, r->body);
    if (httpc_resp_header(r, "x-ratelimit-reset", T.hdr, sizeof T.hdr) < 0)
        T.hdr[0] = 0;
    if (r->status == 200)
        T.ok++;
}

/* A GET of path; timeout_ms 0 = the client's (10 s). */
static void get_within(const char *path, unsigned timeout_ms)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", T.port, path);
    httpc_request_t rq = {.method = "GET", .url = url, .timeout_ms = timeout_ms};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
    T.pending++;
}

static void get(const char *path)
{
    get_within(path, 0);
}

static void run_until_done(void)
{
    while (T.pending > 0)
        uv_run(&T.loop, UV_RUN_ONCE);
}

TestSuite(httpc, .init = setup, .fini = teardown, .timeout = 20);

Test(httpc, get_body_and_headers)
{
    get("/hello");
    cr_assert_eq(T.cbs, 0, "callback never runs inside httpc_request");
    run_until_done();
    cr_assert_eq(T.cbs, 1);
    cr_assert_eq(T.last_status, 200);
    cr_assert_str_eq(T.last_body, "hello");
    cr_assert_str_eq(T.hdr, "2026-01-01T01:01:01Z");
    cr_assert_str_eq(T.last_err, "");
}

/* The head names the configured User-Agent (httpc adds it as one of the
 * request's headers) and offers gzip; a gzip answer arrives decoded. */
Test(httpc, user_agent_and_gzip)
{
    get("/head");
    run_until_done();
    cr_assert_str_eq(T.last_body, "jsmcp/1|gzip|1");
    get("/gzip");
    run_until_done();
    cr_assert_eq(T.last_status, 200);
    cr_assert_str_eq(T.last_body, "decoded from gzip");

    /* A caller's own User-Agent replaces the configured one (sent once). */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/head", T.port);
    const char *hdrs[] = {"user-agent: probe/2", NULL};
    httpc_request_t rq = {.method = "GET", .url = url, .headers = hdrs};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
    T.pending++;
    run_until_done();
    cr_assert_str_eq(T.last_body, "probe/2|gzip|1");

    char ua[200];
    memset(ua, 'a', sizeof ua - 1);
    ua[sizeof ua - 1] = 0;
    httpc_config_t cc;
    httpc_config_defaults(&cc);
    cc.user_agent = ua;
    httpc_t *c = NULL;
    ua[148] = 0;
    cr_assert_eq(httpc_create(&c, &T.loop, &cc), -1, "a User-Agent over 147 bytes is refused");
    ua[147] = 0;
    cr_assert_eq(httpc_create(&c, &T.loop, &cc), 0);
    httpc_close(c, NULL, NULL);
}

/* Path and query reach the server exactly as given (httpc hands curl the
 * origin and the request target separately), with or without a path. */
Test(httpc, request_target_verbatim)
{
    static const struct {
        const char *suffix, *want;
    } cases[] = {
        {"/target/a%2Fb?fields=summary%2Cstatus&x=/y?z&e=%E2%82%AC", "/target/a%2Fb|fields=summary%2Cstatus&x=/y?z&e=%E2%82%AC"},
        {"", "/|"},
        {"?q=/1", "/|q=/1"},
        {"/target", "/target|"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        get(cases[i].suffix);
        run_until_done();
        cr_assert_eq(T.last_status, 200, "%s", cases[i].suffix);
        cr_assert_str_eq(T.last_body, cases[i].want);
    }
}

Test(httpc, post_with_basic_auth_and_headers)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo?a=1", T.port);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    httpc_request_t rq = {.method = "POST", .url = url, .headers = hdrs, .body = "{\"jql\":\"x\"}",
                          .body_len = 11, .basic_user = "agent@sandbox.test",
                          .basic_pass = "sandbox-api-token"};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
    T.pending++;
    run_until_done();
    /* base64("agent@sandbox.test:sandbox-api-token") */
    cr_assert_str_eq(T.last_body,
                     "POST Basic YWdlbnRAc2FuZGJveC50ZXN0OnNhbmRib3gtYXBpLXRva2Vu|application/json|a=1|{\"jql\":\"x\"}",
                     "%s", T.last_body);
    rq.method = "PUT";
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
    T.pending++;
    run_until_done();
    cr_assert(strncmp(T.last_body, "PUT ", 4) == 0, "%s", T.last_body);
}

Test(httpc, status_passed_through)
{
    get("/429");
    run_until_done();
    cr_assert_eq(T.last_status, 429);
    cr_assert_str_eq(T.last_err, "");
    cr_assert_str_eq(T.last_body, "{\"errorMessages\":[\"x\"]}");
}

Test(httpc, response_too_large)
{
    get("/big");
    run_until_done();
    cr_assert_eq(T.last_status, 200, "the status that came is kept");
    cr_assert_str_eq(T.last_err, "response too large");
}

Test(httpc, timeout)
{
    get_within("/slow", 200); /* /slow answers after 500 ms at the earliest */
    run_until_done();
    cr_assert_eq(T.cbs, 1);
    cr_assert_eq(T.last_status, 0);
    cr_assert_str_eq(T.last_err, "upstream timed out");
}

Test(httpc, refused)
{
    /* A port nobody listens on: bind one and close it. */
    int fd = httpd_listen_socket("127.0.0.1", 0, 0, 1);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    int port = ntohs(sa.sin_port);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    httpc_request_t rq = {.method = "GET", .url = url};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
    T.pending++;
    run_until_done();
    cr_assert_eq(T.last_status, 0);
    cr_assert_str_eq(T.last_err, "upstream connection refused");
}

Test(httpc, failure_inside_the_kick_is_delivered_later)
{
    /* curl refuses this URL as soon as httpc_request starts the transfer
     * (malformed host): the callback still runs, from the loop, once. */
    httpc_request_t rq = {.method = "GET", .url = "http://bad host/x"};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
    cr_assert_eq(T.cbs, 0, "not from inside httpc_request");
    T.pending++;
    /* Not run_until_done: its UV_RUN_ONCE would block in poll after the
     * timer phase delivered the failure (nothing else is left to wake it). */
    for (int i = 0; i < 1000 && T.pending > 0; i++) {
        uv_run(&T.loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    cr_assert_eq(T.cbs, 1, "the failure is delivered");
    cr_assert_eq(T.last_status, 0);
    cr_assert(T.last_err[0], "an error is reported");
}

Test(httpc, bad_arguments_never_call_back)
{
    httpc_request_t rq = {.method = "GET", .url = "ftp://127.0.0.1/x"};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), HTTPC_EINVAL);
    rq.url = "http://127.0.0.1/";
    rq.method = "BREW";
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), HTTPC_EINVAL);
    uv_run(&T.loop, UV_RUN_NOWAIT);
    cr_assert_eq(T.cbs, 0);
}

Test(httpc, connection_reuse)
{
    for (int i = 0; i < 20; i++) {
        get("/hello");
        run_until_done();
    }
    cr_assert_eq(T.ok, 20);
    cr_assert_eq(httpc_connects(T.c), 1, "one connection for 20 sequential requests, got %llu",
                 (unsigned long long)httpc_connects(T.c));
}

Test(httpc, many_in_flight)
{
    for (int i = 0; i < 200; i++)
        get("/hello");
    cr_assert_eq(httpc_inflight(T.c), 200);
    run_until_done();
    cr_assert_eq(T.cbs, 200);
    cr_assert_eq(T.ok, 200);
    cr_assert_eq(httpc_inflight(T.c), 0);
    cr_assert(httpc_connects(T.c) <= 64, "per-host connection cap");
}

static int chain_left;

static void on_chain(const httpc_response_t *r, void *ud)
{
    on_resp(r, ud);
    if (--chain_left > 0)
        get("/hello"); /* a callback may start the next request */
}

Test(httpc, request_from_callback)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", T.port);
    httpc_request_t rq = {.method = "GET", .url = url};
    chain_left = 5;
    cr_assert_eq(httpc_request(T.c, &rq, on_chain, NULL), 0);
    T.pending++;
    run_until_done();
    cr_assert_eq(T.ok, 2); /* the chained ones use on_resp */
}

Test(httpc, close_with_requests_in_flight)
{
    get("/slow");
    get("/slow");
    uv_run(&T.loop, UV_RUN_NOWAIT);
    httpc_close(T.c, on_closed, NULL);
    T.c = NULL;
    cr_assert_eq(T.cbs, 2, "in-flight callbacks run in httpc_close");
    cr_assert_str_eq(T.last_err, "client closing");
    /* the slow handlers still respond later; teardown runs the loop to the end */
}

/* httpc_cancel: the transfer leaves the multi, its callback never runs,
 * and the server sees its client leave; other requests are untouched. */
Test(httpc, cancel_drops_the_transfer)
{
    int mine;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", T.port);
    httpc_request_t rq = {.method = "GET", .url = url};
    cr_assert_eq(httpc_request(T.c, &rq, on_resp, &mine), 0);
    get("/hello");
    while (T.slow_open == 0)
        uv_run(&T.loop, UV_RUN_ONCE); /* the server has it */
    cr_assert_eq(httpc_cancel(T.c, &mine), 1);
    cr_assert_eq(httpc_cancel(T.c, &mine), 0, "once");
    while (T.server_aborts == 0 || T.pending > 0)
        uv_run(&T.loop, UV_RUN_ONCE);
    cr_assert_eq(T.cbs, 1, "only /hello called back");
    cr_assert_str_eq(T.last_body, "hello");
    cr_assert_eq(httpc_inflight(T.c), 0);
    /* The client goes on: a new request gets a connection and its answer. */
    get("/hello");
    run_until_done();
    cr_assert_eq(T.ok, 2);
}

/* public_only: a request to an address that is not public is refused before
 * any connection (the server sees nothing), by IP and by a name that
 * resolves to loopback; the same request without the guard gets through. */
Test(httpc, public_only_refuses_private_addresses)
{
    char url[128];
    const char *hosts[] = {"127.0.0.1", "localhost"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(url, sizeof url, "http://%s:%d/hello", hosts[i], T.port);
        httpc_request_t rq = {.method = "GET", .url = url, .public_only = 1};
        cr_assert_eq(httpc_request(T.c, &rq, on_resp, NULL), 0);
        T.pending++;
        /* Refused inside the kick, delivered from the timer phase: see
         * failure_inside_the_kick_is_delivered_later. */
        for (int n = 0; n < 300 && T.pending > 0; n++) {
            uv_run(&T.loop, UV_RUN_NOWAIT);
            usleep(10000);
        }
        cr_assert_eq(T.pending, 0, "%s: the refusal is delivered", hosts[i]);
        cr_assert_eq(T.last_status, 0, "%s", hosts[i]);
        cr_assert_str_eq(T.last_err, "refused: the host is not a public address", "%s", hosts[i]);
    }
    cr_assert_eq(T.ok, 0);
    cr_assert_eq(httpc_connects(T.c), 0, "no connection was made");
    get("/hello");
    run_until_done();
    cr_assert_eq(T.ok, 1, "without the guard: %s", T.last_err);
}

/* A transfer that times out while it connects, before the loop turned:
 * libcurl 7.88 closes its socket without CLOSESOCKETFUNCTION, and the poll
 * handle httpc had queued for it must not reach epoll after that (libuv
 * aborts the process on the EBADF: a slow webhook receiver did this to the
 * admin API, found by an adversarial run). The next request's start runs
 * curl's timers, in the same loop turn. Then many such transfers with
 * ordinary answers between them, their sockets' numbers reused at once. */
static int storm_left, storm_port_dead;

static void storm_next(void);

static void on_storm(const httpc_response_t *r, void *ud)
{
    on_resp(r, ud);
    if (storm_left > 0)
        storm_next();
}

static void dead_get(unsigned timeout_ms, httpc_cb cb)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", storm_port_dead);
    httpc_request_t rq = {.method = "GET", .url = url, .timeout_ms = timeout_ms};
    cr_assert_eq(httpc_request(T.c, &rq, cb, NULL), 0);
    T.pending++;
}

static void storm_next(void)
{
    static const char *const paths[] = {"/slow", "/hello", "dead", "/slow", "/big", "dead", "/hello"};
    int i = storm_left--;
    const char *p = paths[i % 7];
    if (strcmp(p, "dead") == 0) {
        dead_get(1 + (unsigned)(i % 3), on_storm);
        usleep(3000); /* past its timeout before the loop turns */
        return;
    }
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", T.port, p);
    httpc_request_t rq = {.method = "GET", .url = url, .timeout_ms = 20 + (unsigned)(i * 37 % 180)};
    cr_assert_eq(httpc_request(T.c, &rq, on_storm, NULL), 0);
    T.pending++;
}

Test(httpc, a_transfer_dropped_while_connecting_leaves_no_poll)
{
    /* A listener that never accepts, its queue full: a connect to it hangs. */
    int dead = socket(AF_INET, SOCK_STREAM, 0), fill[4];
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(dead, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(dead, 0), 0);
    socklen_t al = sizeof a;
    getsockname(dead, (struct sockaddr *)&a, &al);
    storm_port_dead = ntohs(a.sin_port);
    for (int i = 0; i < 4; i++) { /* fill its queue */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    for (int round = 0; round < 20; round++) {
        dead_get(1, on_resp);
        usleep(3000);
        get("/hello"); /* its start runs curl's timers: the first is dropped, its socket closed */
        run_until_done();
    }
    cr_assert_eq(T.cbs, 40);
    cr_assert_eq(T.ok, 20);
    storm_left = 600;
    for (int i = 0; i < 16; i++)
        storm_next();
    run_until_done();
    cr_assert_eq(T.cbs, 640);
    cr_assert_gt(T.ok, 20);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(dead);
}
