/* libFuzzer target: arbitrary bytes from a client into the HTTP request
 * path (llhttp callbacks, limits, header/query handling, router, problem
 * responses). Each input goes through one socketpair adopted by httpd; the
 * loop runs until the server closed its end. Build and run: make fuzz. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "httpresp.h"
#include "router.h"

static uv_loop_t *loop;
static httpd_t *srv;
static router_t *rt;

static void h_any(httpd_req_t *req, const router_params_t *p, void *ud)
{
    char v[128];
    size_t n;
    (void)ud;
    httpd_query_param(req, "q", v, sizeof v);
    httpd_req_header(req, "Content-Type");
    httpd_req_body(req, &n);
    if (router_param(p, "id"))
        httpd_resp_header(req, "X-Id", router_param(p, "id"));
    httpresp_problem(req, 400, "fuzz", NULL);
}

static void handler(httpd_req_t *req, void *ud)
{
    (void)ud;
    router_dispatch(rt, req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop) {
        httpd_config_t cfg;
        loop = uv_default_loop();
        httpd_config_defaults(&cfg);
        cfg.max_header_bytes = 4096;
        cfg.max_body_bytes = 8192;
        cfg.header_timeout_ms = 50;
        cfg.body_timeout_ms = 50;
        cfg.idle_timeout_ms = 50;
        rt = router_new();
        router_add(rt, "GET", "/a/:id/b", h_any, NULL);
        router_add(rt, "POST", "/a/*", h_any, NULL);
        if (httpd_create(&srv, loop, &cfg, handler, NULL) != 0)
            abort();
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    httpd__adopt_fd(srv, sv[0]);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
        uv_run(loop, UV_RUN_NOWAIT);
    }
    shutdown(sv[1], SHUT_WR);
    /* Drain answers until the server closes (EOF, error or timeout). */
    char buf[4096];
    for (int i = 0; i < 1000 && httpd_conn_count(srv) > 0; i++) {
        uv_run(loop, UV_RUN_ONCE);
        while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0)
            ;
    }
    close(sv[1]);
    return 0;
}
