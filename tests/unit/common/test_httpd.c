/* httpd + router over real sockets: the server runs its libuv loop in a
 * thread, the test talks raw HTTP/1.1 to it so that limits, pipelining,
 * timeouts and aborts are observed byte for byte. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <sys/resource.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "httpresp.h"
#include "router.h"

typedef struct srv_s {
    uv_loop_t loop;
    uv_async_t stop;
    httpd_t *h;
    router_t *r;
    router_t *raw;          /* /raw/...: ROUTER_RAW_PARAMS | ROUTER_EXACT_METHOD, with a fallback */
    pthread_t th;
    int port;
    atomic_int aborts;
    atomic_int completes;
    /* orphan test: a request held past its client, closing, then answered */
    uv_async_t close_now, answer_now;
    uv_timer_t settle;      /* runs one loop iteration after httpd_close */
    httpd_req_t *held;
    atomic_int held_started, held_aborted, close_started, close_settled, closed;
    /* reset test: the loop is stalled until the client has reset */
    atomic_int stalled, client_reset;
} srv_t;

static srv_t S;

static void h_hello(httpd_req_t *req, const router_params_t *p, void *ud)
{
    httpd_resp_header(req, "X-Test", "1");
    httpd_respond(req, 200, "text/plain", "hello", 5);
}

static void h_reset(httpd_req_t *req, const router_params_t *p, void *ud)
{
    httpd_reset(req);
}

static void h_cut(httpd_req_t *req, const router_params_t *p, void *ud)
{
    if (httpd_stream_begin(req, 200, "application/json") == 0)
        httpd_stream_write(req, "{\"par", 5);
    httpd_stream_cut(req);
}

/* A cut before any stream began: there is no body to cut, so a reset. */
static void h_cut_early(httpd_req_t *req, const router_params_t *p, void *ud)
{
    httpd_stream_cut(req);
}

static void h_echo(httpd_req_t *req, const router_params_t *p, void *ud)
{
    size_t n;
    const char *b = httpd_req_body(req, &n);
    httpd_respond(req, 200, "application/octet-stream", b, n);
}

static void h_param(httpd_req_t *req, const router_params_t *p, void *ud)
{
    char q[64] = "";
    char out[256];
    httpd_query_param(req, "q", q, sizeof q);
    int n = snprintf(out, sizeof out, "%s|%s|%s", router_param(p, "id"), router_param(p, "sub"), q);
    httpd_respond(req, 200, "text/plain", out, (size_t)n);
}

/* Answers "late" after ms; with stall, the loop first stops until the
 * test says the client has reset its connection (bounded: 10 s). */
typedef struct later_s {
    uv_timer_t t;
    httpd_req_t *req;
    int stall;
} later_t;

static void on_later(uv_timer_t *t)
{
    later_t *l = (later_t *)t;
    if (l->stall) {
        atomic_store(&S.stalled, 1);
        for (int i = 0; i < 1000 && !atomic_load(&S.client_reset); i++)
            usleep(10000);
    }
    httpd_respond(l->req, 200, "text/plain", "late", 4);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void answer_later(httpd_req_t *req, uint64_t ms, int stall)
{
    later_t *l = calloc(1, sizeof *l);
    l->req = req;
    l->stall = stall;
    uv_timer_init(httpd_req_loop(req), &l->t);
    uv_timer_start(&l->t, on_later, ms, 0);
}

static void h_async(httpd_req_t *req, const router_params_t *p, void *ud)
{
    answer_later(req, 30, 0);
}

static void on_hang_abort(httpd_req_t *req, void *ud)
{
    atomic_fetch_add(&S.aborts, 1);
    httpd_stream_end(req);
}

static void h_stream(httpd_req_t *req, const router_params_t *p, void *ud)
{
    httpd_stream_begin(req, 200, "text/event-stream");
    httpd_stream_write(req, "data: one\n\n", 11);
    httpd_stream_write(req, "data: two\n\n", 11);
    httpd_stream_end(req);
}

static void h_hang(httpd_req_t *req, const router_params_t *p, void *ud)
{
    httpd_req_on_abort(req, on_hang_abort, NULL);
    httpd_stream_begin(req, 200, "text/event-stream");
    httpd_stream_write(req, ": open\n\n", 8);
}

/* Answers 1 ms later, but only after stalling the loop until the client
 * has reset: the reset is met by the write, not by a read. */
static void h_stalled(httpd_req_t *req, const router_params_t *p, void *ud)
{
    answer_later(req, 1, 1);
}

static void on_held_abort(httpd_req_t *req, void *ud)
{
    atomic_store(&S.held_aborted, 1); /* keeps it: answered later */
}

static void h_held(httpd_req_t *req, const router_params_t *p, void *ud)
{
    S.held = req;
    httpd_req_on_abort(req, on_held_abort, NULL);
    atomic_store(&S.held_started, 1);
}

/* Answers "<trace id>|<parent span>|<flags>|<route>|<child traceparent>". */
static void h_trace(httpd_req_t *req, const router_params_t *p, void *ud)
{
    char out[256], child[64];
    const char *tid = httpd_req_trace_id(req);
    httpd_req_child_traceparent(req, child, sizeof child);
    int n = snprintf(out, sizeof out, "%s|%s|%02x|%s|%s", tid, httpd_req_parent_span(req), httpd_req_trace_flags(req),
                     httpd_req_route(req) ? httpd_req_route(req) : "-", child);
    httpd_respond(req, 200, "text/plain", out, (size_t)n);
}

/* The raw router's routes echo their param; its fallback answers a miss
 * with the status it got and the Allow list in X-Allow ("-": none). */
static void h_raw(httpd_req_t *req, const router_params_t *p, void *ud)
{
    const char *v = router_param(p, ud);
    httpd_respond(req, 200, "text/plain", v, strlen(v));
}

static void on_raw_miss(httpd_req_t *req, int status, const char *allow, void *ud)
{
    httpd_resp_header(req, "X-Allow", allow ? allow : "-");
    httpd_respond(req, status, "text/plain", "miss", 4);
}

static void handler(httpd_req_t *req, void *ud)
{
    router_dispatch(strncmp(httpd_req_path(req), "/raw/", 5) == 0 ? S.raw : S.r, req);
}

static void on_complete(httpd_req_t *req, int status, void *ud)
{
    atomic_fetch_add(&S.completes, 1);
}

static void on_closed(void *arg)
{
    atomic_store(&S.closed, 1);
}

static void on_stop(uv_async_t *a)
{
    if (!atomic_exchange(&S.close_started, 1))
        httpd_close(S.h, on_closed, NULL);
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&S.close_now, NULL);
    uv_close((uv_handle_t *)&S.answer_now, NULL);
    uv_close((uv_handle_t *)&S.settle, NULL);
}

static void on_settled(uv_timer_t *t)
{
    atomic_store(&S.close_settled, 1);
}

static void on_close_now(uv_async_t *a)
{
    if (!atomic_exchange(&S.close_started, 1))
        httpd_close(S.h, on_closed, NULL);
    /* Timers run in the next loop iteration, after this one's close
     * callbacks (the listener's among them), where httpd would be done if
     * nothing held it. */
    uv_timer_start(&S.settle, on_settled, 0, 0);
}

static void on_answer_now(uv_async_t *a)
{
    if (S.held)
        httpd_respond(S.held, 200, "text/plain", "late", 4);
    S.held = NULL;
}

static void *run(void *arg)
{
    uv_run(&S.loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Starts the server with the lingering bounds given (0, 0 = the defaults). */
static void start_with(size_t linger_bytes, unsigned linger_ms)
{
    httpd_config_t cfg;
    memset(&S, 0, sizeof S);
    uv_loop_init(&S.loop);
    uv_async_init(&S.loop, &S.stop, on_stop);
    uv_async_init(&S.loop, &S.close_now, on_close_now);
    uv_async_init(&S.loop, &S.answer_now, on_answer_now);
    uv_timer_init(&S.loop, &S.settle);
    S.r = router_new();
    router_add(S.r, "GET", "/hello", h_hello, NULL);
    router_add(S.r, "POST", "/echo", h_echo, NULL);
    router_add(S.r, "GET", "/items/:id/sub/:sub", h_param, NULL);
    router_add(S.r, "GET", "/async", h_async, NULL);
    router_add(S.r, "GET", "/stream", h_stream, NULL);
    router_add(S.r, "GET", "/trace/:x", h_trace, NULL);
    router_add(S.r, "GET", "/hang", h_hang, NULL);
    router_add(S.r, "GET", "/held", h_held, NULL);
    router_add(S.r, "GET", "/stalled", h_stalled, NULL);
    router_add(S.r, "GET", "/reset", h_reset, NULL);
    router_add(S.r, "GET", "/cut", h_cut, NULL);
    router_add(S.r, "GET", "/cut-early", h_cut_early, NULL);
    S.raw = router_new_with(ROUTER_RAW_PARAMS | ROUTER_EXACT_METHOD);
    router_add(S.raw, "GET", "/raw/:tok/x", h_raw, "tok");
    router_add(S.raw, "POST", "/raw/:tok/x", h_raw, "tok");
    router_add(S.raw, "GET", "/raw/files/*", h_raw, "*");
    router_set_fallback(S.raw, on_raw_miss, NULL);
    httpd_config_defaults(&cfg);
    cfg.max_header_bytes = 2048;
    cfg.max_body_bytes = 4096;
    cfg.header_timeout_ms = 300;
    cfg.body_timeout_ms = 300;
    cfg.idle_timeout_ms = 2000;
    cfg.on_complete = on_complete;
    if (linger_bytes)
        cfg.linger_max_bytes = linger_bytes;
    if (linger_ms)
        cfg.linger_timeout_ms = linger_ms;
    cr_assert_eq(httpd_create(&S.h, &S.loop, &cfg, handler, NULL), 0);
    S.port = httpd_port(S.h);
    cr_assert_gt(S.port, 0);
    pthread_create(&S.th, NULL, run, NULL);
}

static void start(void)
{
    start_with(0, 0);
}

static void stop(void)
{
    uv_async_send(&S.stop);
    pthread_join(S.th, NULL);
    cr_assert_eq(uv_loop_close(&S.loop), 0, "all handles closed");
    router_free(S.r);
    router_free(S.raw);
}

TestSuite(httpd, .init = start, .fini = stop, .timeout = 20);

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        cr_assert_gt(w, 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Reads until the peer closes or `until` appears `count` times. */
static char *recv_until(int fd, const char *until, int count)
{
    static char buf[65536];
    size_t len = 0;
    buf[0] = 0; /* not the last call's answer */
    for (;;) {
        int seen = 0;
        if (until)
            for (const char *p = buf; (p = strstr(p, until)); p++)
                seen++;
        if (until && seen >= count)
            break;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
    }
    buf[len] = 0;
    return buf;
}

/* Waits (10 s at most) until the server thread has set *flag. */
static int wait_flag(atomic_int *flag)
{
    for (int i = 0; i < 1000 && !atomic_load(flag); i++)
        usleep(10000);
    return atomic_load(flag);
}

/* Waits (10 s at most) until the server counted more than before completed requests. */
static int wait_completes(int before)
{
    for (int i = 0; i < 1000 && atomic_load(&S.completes) <= before; i++)
        usleep(10000);
    return atomic_load(&S.completes);
}

/* A new connection with rq sent on it. */
static int request(const char *rq)
{
    int fd = dial();
    send_all(fd, rq, strlen(rq));
    return fd;
}

/* After a connection went down badly, the server still answers. Returns
 * once that request has completed too (the client can read the answer
 * before the server thread counts it), so callers can count their own. */
static void assert_still_serves(const char *after)
{
    int before = atomic_load(&S.completes);
    int fd = request("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *got = recv_until(fd, "hello", 1);
    cr_assert(strstr(got, "200 OK"), "the server still serves after %s: %s", after, got);
    close(fd);
    wait_completes(before);
}

Test(httpd, simple_get_and_headers)
{
    int fd = dial();
    const char *rq = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, "hello", 1);
    cr_assert(strstr(r, "HTTP/1.1 200 OK\r\n"), "%s", r);
    cr_assert(strstr(r, "X-Test: 1\r\n"));
    cr_assert(strstr(r, "X-Request-Id: abc-123\r\n"));
    cr_assert(strstr(r, "Content-Length: 5\r\n"));
    close(fd);
}

/* W3C traceparent: a valid one is taken (trace id, parent span, flags), an
 * invalid one is ignored and the request gets a fresh trace id; the child
 * traceparent keeps the trace and flags with a new span id. The matched
 * route pattern is on the request. */
Test(httpd, traceparent)
{
    static const char tid[] = "4bf92f3577b34da6a3ce929d0e0e4736", span[] = "00f067aa0ba902b7";
    static const struct {
        const char *header;
        int valid;
        const char *flags;
    } cases[] = {
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 1, "01"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 1, "00"},
        {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later-fields", 1, "01"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", 0, NULL},   /* v00 has nothing more */
        {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0, NULL},     /* version ff */
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", 0, NULL},     /* zero trace id */
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 0, NULL},     /* zero span id */
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 0, NULL},     /* uppercase */
        {"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", 0, NULL},      /* short */
        {"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", 0, NULL},
        {NULL, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rq[512], want[160];
        snprintf(rq, sizeof rq, "GET /trace/%zu HTTP/1.1\r\nHost: x\r\n%s%s%s\r\n", i, cases[i].header ? "traceparent: " : "",
                 cases[i].header ? cases[i].header : "", cases[i].header ? "\r\n" : "");
        int fd = request(rq);
        char *r = recv_until(fd, "|/trace/:x|", 1);
        char *body = strstr(r, "\r\n\r\n");
        cr_assert(body, "%s", r);
        body += 4;
        if (cases[i].valid) {
            snprintf(want, sizeof want, "%s|%s|%s|/trace/:x|00-%s-", tid, span, cases[i].flags, tid);
            cr_assert(strncmp(body, want, strlen(want)) == 0, "case %zu: %s", i, body);
            char *child_span = body + strlen(want);
            cr_assert(strncmp(child_span, span, 16) != 0, "the child has its own span id: %s", body);
        } else {
            cr_assert(strncmp(body, tid, 32) != 0 && strspn(body, "0123456789abcdef") == 32 && body[32] == '|' &&
                          body[33] == '|', "case %zu not ignored: %s", i, body);
            char child_want[64];
            snprintf(child_want, sizeof child_want, "|00-%.32s-", body);
            cr_assert(strstr(body, child_want), "case %zu: the child carries the new trace: %s", i, body);
            cr_assert(strlen(strrchr(body, '-')) == 3 && strcmp(strrchr(body, '-'), "-00") == 0, "%s", body);
        }
        close(fd);
    }
}

Test(httpd, keepalive_and_pipelining)
{
    int fd = dial();
    const char *rq = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /async HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, "HTTP/1.1 200", 3);
    /* The async answer must come between the two sync ones: order kept. */
    char *a = strstr(r, "hello"), *b = strstr(r, "late"), *c = a ? strstr(a + 5, "hello") : NULL;
    cr_assert(a && b && c && a < b && b < c, "%s", r);
    close(fd);
}

Test(httpd, params_and_query_decoding)
{
    int fd = dial();
    const char *rq = "GET /items/a%20b/sub/x?q=hello+world%21 HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, "world!", 1);
    cr_assert(strstr(r, "a b|x|hello world!"), "%s", r);
    close(fd);
}

Test(httpd, not_found_and_method_not_allowed)
{
    int fd = dial();
    const char *rq = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nDELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, "application/problem+json", 2);
    cr_assert(strstr(r, "404 Not Found"), "%s", r);
    cr_assert(strstr(r, "405 Method Not Allowed"), "%s", r);
    cr_assert(strstr(r, "Allow: GET\r\n"), "%s", r);
    close(fd);
}

/* The default router: HEAD is served by a GET route; a param longer than
 * ROUTER_MAX_PARAM_LEN decoded is no match (404 problem+json). */
Test(httpd, default_router_head_and_param_limit)
{
    char rq[600];
    char pad[300];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    int fd = request("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    char *r = recv_until(fd, "\r\n\r\n", 1);
    cr_assert(strstr(r, "HTTP/1.1 200 OK\r\n") && strstr(r, "X-Test: 1\r\n"), "%s", r);
    close(fd);
    snprintf(rq, sizeof rq, "GET /items/%s/sub/x HTTP/1.1\r\nHost: x\r\n\r\n", pad);
    fd = request(rq);
    r = recv_until(fd, "}", 1);
    cr_assert(strstr(r, "404 Not Found") && strstr(r, "application/problem+json"), "%s", r);
    close(fd);
}

/* ROUTER_RAW_PARAMS: a param is handed over as the path has it, neither
 * decoded nor cut at ROUTER_MAX_PARAM_LEN; the "*" rest the same. */
Test(httpd, raw_params_are_neither_decoded_nor_cut)
{
    char rq[1200];
    char tok[601];
    memset(tok, 'T', sizeof tok - 1);
    tok[sizeof tok - 1] = 0;
    int fd = request("GET /raw/a%20b/x HTTP/1.1\r\nHost: x\r\n\r\n");
    char *r = recv_until(fd, "a%20b", 1);
    cr_assert(strstr(r, "200 OK") && strstr(r, "\r\n\r\na%20b"), "%s", r);
    close(fd);
    snprintf(rq, sizeof rq, "POST /raw/%s/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", tok);
    fd = request(rq);
    r = recv_until(fd, tok, 1);
    cr_assert(strstr(r, "200 OK") && strstr(r, "Content-Length: 600\r\n"), "%s", r);
    close(fd);
    fd = request("GET /raw/files/a%2Fb/c HTTP/1.1\r\nHost: x\r\n\r\n");
    r = recv_until(fd, "a%2Fb/c", 1);
    cr_assert(strstr(r, "\r\n\r\na%2Fb/c"), "%s", r);
    close(fd);
}

/* router_set_fallback: a miss is the caller's to answer, with 404, or 405
 * and the methods the path has; ROUTER_EXACT_METHOD: HEAD is not GET. */
Test(httpd, fallback_answers_misses_with_status_and_allow)
{
    int fd = request("GET /raw/a/nope HTTP/1.1\r\nHost: x\r\n\r\n");
    char *r = recv_until(fd, "miss", 1);
    cr_assert(strstr(r, "HTTP/1.1 404 Not Found\r\n") && strstr(r, "X-Allow: -\r\n"), "%s", r);
    cr_assert(!strstr(r, "problem+json"), "%s", r);
    close(fd);
    fd = request("DELETE /raw/a/x HTTP/1.1\r\nHost: x\r\n\r\n");
    r = recv_until(fd, "miss", 1);
    cr_assert(strstr(r, "HTTP/1.1 405 Method Not Allowed\r\n") && strstr(r, "X-Allow: GET, POST\r\n"), "%s", r);
    cr_assert(!strstr(r, "\r\nAllow:"), "the fallback writes the answer, headers too: %s", r);
    close(fd);
    fd = request("HEAD /raw/a/x HTTP/1.1\r\nHost: x\r\n\r\n");
    r = recv_until(fd, "\r\n\r\n", 1);
    cr_assert(strstr(r, "HTTP/1.1 405 Method Not Allowed\r\n") && strstr(r, "X-Allow: GET, POST\r\n"), "%s", r);
    close(fd);
}

Test(httpd, echo_body_and_chunked_request)
{
    int fd = dial();
    const char *rq = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nabcde\r\n3\r\nfgh\r\n0\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, "abcdefgh", 1);
    cr_assert(strstr(r, "Content-Length: 8\r\n"), "%s", r);
    close(fd);
}

Test(httpd, body_too_large_by_content_length)
{
    int fd = dial();
    const char *rq = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, NULL, 0);
    cr_assert(strstr(r, "413 Content Too Large"), "%s", r);
    cr_assert(strstr(r, "Connection: close"));
    close(fd);
}

Test(httpd, body_too_large_chunked)
{
    int fd = dial();
    char big[6000];
    memset(big, 'x', sizeof big);
    const char *h = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1770\r\n";
    send_all(fd, h, strlen(h));
    send_all(fd, big, sizeof big);
    char *r = recv_until(fd, NULL, 0);
    cr_assert(strstr(r, "413"), "%s", r);
    close(fd);
}

Test(httpd, header_too_large)
{
    int fd = dial();
    char rq[4096];
    char pad[3000];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    snprintf(rq, sizeof rq, "GET /hello HTTP/1.1\r\nX-Pad: %s\r\n\r\n", pad);
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, NULL, 0);
    cr_assert(strstr(r, "431"), "%s", r);
    close(fd);
}

Test(httpd, malformed_request)
{
    int fd = dial();
    const char *rq = "GARBAGE\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, NULL, 0);
    cr_assert(strstr(r, "400 Bad Request"), "%s", r);
    close(fd);
}

Test(httpd, slowloris_header_timeout)
{
    int fd = dial();
    send_all(fd, "GET /hello HTTP/1.1\r\nX-Slow: ", 29);
    /* Never finish the headers: the server must answer 408 and close. */
    char *r = recv_until(fd, NULL, 0);
    cr_assert(strstr(r, "408 Request Timeout"), "%s", r);
    close(fd);
}

Test(httpd, sse_stream_chunked)
{
    int fd = dial();
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char *r = recv_until(fd, "0\r\n\r\n", 1);
    cr_assert(strstr(r, "Transfer-Encoding: chunked"), "%s", r);
    cr_assert(strstr(r, "data: one"));
    cr_assert(strstr(r, "data: two"));
    close(fd);
}

Test(httpd, abort_callback_on_client_close)
{
    int fd = dial();
    const char *rq = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    recv_until(fd, ": open", 1);
    close(fd);
    for (int i = 0; i < 1000 && atomic_load(&S.aborts) == 0; i++)
        usleep(10000);
    cr_assert_eq(atomic_load(&S.aborts), 1);
}

/* The client resets the connection before its answer is written: the
 * failed write closes the connection inside httpd_respond, which must
 * free the request once (ASan reports a double free otherwise). */
Test(httpd, answer_to_a_reset_client)
{
    int before = atomic_load(&S.completes);
    int fd = dial();
    const char *rq = "GET /stalled HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    cr_assert(wait_flag(&S.stalled), "the handler's timer did not run");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd); /* RST, while the loop waits to answer */
    atomic_store(&S.client_reset, 1);
    wait_completes(before);
    cr_assert_eq(atomic_load(&S.completes), before + 1, "completed once");
    assert_still_serves("a client's reset");
}

/* httpd_reset: the client reads a TCP reset, not an answer or an orderly
 * end, and the request completes once (status 0). */
/* The client of path reads a TCP reset, not an answer or an orderly end,
 * and the request completes once (status 0). */
static void assert_reset(const char *path)
{
    int before = atomic_load(&S.completes);
    char rq[128];
    snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    int fd = request(rq);
    char b[256];
    ssize_t n;
    do
        n = read(fd, b, sizeof b);
    while (n > 0);
    cr_assert_eq(n, -1, "%s: no orderly end of stream (read returned %zd)", path, n);
    cr_assert_eq(errno, ECONNRESET, "%s: %s", path, strerror(errno));
    close(fd);
    wait_completes(before);
    cr_assert_eq(atomic_load(&S.completes), before + 1, "%s: completed once", path);
    assert_still_serves(path);
}

/* httpd_reset; and httpd_stream_cut before a stream began, which resets too. */
Test(httpd, reset_sends_a_tcp_reset)
{
    assert_reset("/cut-early");
    assert_reset("/reset");
}

/* httpd_stream_cut: the part written arrives, then an orderly end of the
 * connection without the last chunk. */
Test(httpd, stream_cut_ends_without_the_last_chunk)
{
    int fd = request("GET /cut HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *got = recv_until(fd, NULL, 0); /* to the end of the stream */
    cr_assert(strstr(got, "Transfer-Encoding: chunked"), "%s", got);
    cr_assert(strstr(got, "5\r\n{\"par\r\n"), "the part: %s", got);
    cr_assert_null(strstr(got, "0\r\n\r\n"), "no last chunk: %s", got);
    close(fd);
}

/* A request its handler still owns after the client left keeps the closing
 * server (which it uses when it finishes) until it is answered. */
Test(httpd, close_waits_for_requests_whose_client_left)
{
    int fd = dial();
    const char *rq = "GET /held HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    cr_assert(wait_flag(&S.held_started), "the handler did not get the request");
    close(fd);
    cr_assert(wait_flag(&S.held_aborted), "no abort callback after the client left");
    uv_async_send(&S.close_now);
    cr_assert(wait_flag(&S.close_settled), "httpd_close did not run");
    cr_assert_eq(atomic_load(&S.closed), 0, "not done while a handler holds a request");
    uv_async_send(&S.answer_now);
    cr_assert(wait_flag(&S.closed), "done once it was answered");
}

Test(httpd, many_sequential_connections)
{
    for (int i = 0; i < 50; i++) {
        int fd = dial();
        const char *rq = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        send_all(fd, rq, strlen(rq));
        char *r = recv_until(fd, NULL, 0);
        cr_assert(strstr(r, "Connection: close") && strstr(r, "hello"));
        close(fd);
    }
    cr_assert_geq(atomic_load(&S.completes), 50);
}

/* ---- lingering close (httpd.h) ---- */

/* Sends len bytes of 'x' on fd in 4 KiB pieces, pausing pause_us between
 * them; stops at the first failed send. Returns the bytes sent and leaves
 * in *err the errno of the failure (0 when everything went). */
static size_t send_body(int fd, size_t len, useconds_t pause_us, int *err)
{
    char chunk[4096];
    size_t sent = 0;
    memset(chunk, 'x', sizeof chunk);
    *err = 0;
    while (sent < len) {
        size_t n = len - sent < sizeof chunk ? len - sent : sizeof chunk;
        ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
        if (w <= 0) {
            *err = w < 0 ? errno : EPIPE;
            break;
        }
        sent += (size_t)w;
        if (pause_us)
            usleep(pause_us);
    }
    return sent;
}

/* Headers of a POST announcing a body of len bytes (over max_body_bytes:
 * the server answers 413 as soon as it has read them). */
static int post_announcing(size_t len)
{
    char rq[160];
    snprintf(rq, sizeof rq, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", len);
    return request(rq);
}

/* A client that sends a large body slowly, still sending while the server
 * has already answered 413, must be able to read that answer: a server
 * that closed at once would answer the next bytes with a TCP reset, which
 * destroys the unread 413 ("connection reset by peer" at the client). */
Test(httpd, answer_413_reaches_a_client_still_sending_its_body)
{
    size_t len = 256 * 1024;
    int fd = post_announcing(len);
    /* The 413 has arrived (unread) before the body is sent. */
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 10000), 1, "no answer to the announced body");
    int err;
    size_t sent = send_body(fd, len, 200, &err);
    cr_assert_eq(sent, len, "the server reset the connection after %zu of %zu body bytes: %s", sent, len,
                 strerror(err));
    shutdown(fd, SHUT_WR);
    const char *got = recv_until(fd, NULL, 0);
    cr_assert(strstr(got, "HTTP/1.1 413 Content Too Large\r\n"), "answer lost: '%s' (%s)", got, strerror(errno));
    cr_assert(strstr(got, "Connection: close\r\n"), "%s", got);
    close(fd);
    assert_still_serves("a lingering close");
}

/* Waits (30 s at most) until the server has closed a connection it had
 * shut down for writing: a byte sent after the close gets a reset, and the
 * send after that fails. Returns 1 once it did. */
static int wait_server_closed(int fd)
{
    for (int i = 0; i < 3000; i++) {
        if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
            return errno == EPIPE || errno == ECONNRESET;
        usleep(10000);
    }
    return 0;
}

/* Reads the 413 up to the server's FIN (the write side it shut down). */
static void read_413(int fd)
{
    const char *got = recv_until(fd, NULL, 0);
    cr_assert(strstr(got, "HTTP/1.1 413 Content Too Large\r\n"), "%s", got);
}

/* The time bound: a client that neither sends nor closes is dropped after
 * linger_timeout_ms (here 300 ms; the byte budget is the default 4 MiB). */
static void start_linger_time(void)
{
    start_with(0, 300);
}
TestSuite(httpd_linger_time, .init = start_linger_time, .fini = stop, .timeout = 60);

Test(httpd_linger_time, a_silent_client_is_closed_after_the_linger_time)
{
    int fd = post_announcing(1024 * 1024);
    read_413(fd);
    cr_assert(wait_server_closed(fd), "the server kept a lingering connection open");
    close(fd);
    assert_still_serves("a lingering close that timed out");
}

/* The byte bound: a client that keeps sending is dropped once 64 KiB were
 * discarded, long before the (here 60 s) time bound. */
static void start_linger_bytes(void)
{
    start_with(64 * 1024, 60000);
}
TestSuite(httpd_linger_bytes, .init = start_linger_bytes, .fini = stop, .timeout = 60);

Test(httpd_linger_bytes, a_client_that_keeps_sending_is_closed_after_the_byte_budget)
{
    int fd = post_announcing(64 * 1024 * 1024);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 10000), 1, "no answer to the announced body");
    int err;
    size_t sent = send_body(fd, 64 * 1024 * 1024, 0, &err);
    cr_assert_neq(err, 0, "the server read all %zu bytes: no byte budget", sent);
    cr_assert(err == EPIPE || err == ECONNRESET, "%s", strerror(err));
    cr_assert_geq(sent, 64 * 1024, "closed after %zu bytes, before its budget", sent);
    close(fd);
    assert_still_serves("a lingering close over its byte budget");
}

/* Clients may hold at most three quarters of the process's descriptors,
 * after the soft limit is raised to the hard one: a flood of connections
 * must leave sockets for Redis, PostgreSQL and the calls to JSM. (Each
 * test runs in a process of its own: the limits set here stay there.) */
Test(httpd_fd_limit, soft_limit_raised_and_clients_get_three_quarters)
{
    uv_loop_t loop;
    httpd_config_t cfg;
    httpd_t *h;
    struct rlimit rl = {100, 200}, now;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    uv_loop_init(&loop);
    httpd_config_defaults(&cfg);
    cr_assert_eq(httpd_create(&h, &loop, &cfg, NULL, NULL), 0);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &now), 0);
    cr_assert_eq(now.rlim_cur, 200, "the soft limit is raised to the hard one");
    cr_assert_eq(httpd_max_conns(h), 150, "%zu", httpd_max_conns(h));
    httpd_close(h, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    /* A configured maximum under the share stays as it is. */
    uv_loop_init(&loop);
    cfg.max_conns = 64;
    cr_assert_eq(httpd_create(&h, &loop, &cfg, NULL, NULL), 0);
    cr_assert_eq(httpd_max_conns(h), 64);
    httpd_close(h, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}
