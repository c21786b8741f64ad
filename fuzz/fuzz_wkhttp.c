/* libFuzzer target: the worker's HTTP face (wk_http_handle) behind the
 * real httpd, with everything after it real too (sessions, the server
 * record, API-key checks, legacy SSE streams and their pub/sub answers,
 * wk_mcp_dispatch, tool calls). Redis and the JSM site are fakes in this
 * process (fuzz/fz_worker.h): no network. The input is what a client
 * sends on one connection (pipelined requests allowed); the published
 * server's token is FZ_TOKEN (FZ_TOKEN "-auth" requires FZ_API_KEY), and
 * sessions fuzzSessionId0123456789abcdefABC (Streamable HTTP) and
 * fuzzLegacySessionId0123456789xyz (legacy SSE) exist. The connection is
 * read to its end: every request must finish and the server must close it
 * once the client has. Build and run: make fuzz (FUZZ_FILTER=wkhttp). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fz_worker.h"
#include "httpd.h"
#include "wk_http.h"

/* Reads what the server answered; FZ_SHOW=1 prints it (to check seeds). */
static void drain(int fd)
{
    static int show = -1;
    char buf[65536];
    ssize_t n;
    if (show < 0)
        show = getenv("FZ_SHOW") != NULL;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        if (show)
            fwrite(buf, 1, (size_t)n, stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wk_worker_t *w = fz_worker();
    if (!w->httpd) {
        httpd_config_t cfg;
        httpd_config_defaults(&cfg);
        cfg.max_body_bytes = (size_t)w->cfg->max_body;
        cfg.server_name = "jsmcp-worker";
        cfg.on_complete = wk_http_complete;
        wk_http_start(w); /* for the process's life, as w */
        if (httpd_create(&w->httpd, w->loop, &cfg, wk_http_handle, w) != 0)
            abort();
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    if (httpd__adopt_fd(w->httpd, sv[0]) != 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(sv[1], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN)
            break;
        uv_run(w->loop, UV_RUN_NOWAIT);
        drain(sv[1]);
    }
    /* Let the requests run to their answers (the fakes answer from the
     * loop), then hang up: open streams end, the server closes. */
    for (int i = 0; i < 64; i++) {
        uv_run(w->loop, UV_RUN_NOWAIT);
        drain(sv[1]);
    }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 100000 && httpd_conn_count(w->httpd) > 0; i++) {
        uv_run(w->loop, UV_RUN_NOWAIT);
        drain(sv[1]);
    }
    if (httpd_conn_count(w->httpd) > 0)
        abort(); /* a connection the server never closes: a finding */
    close(sv[1]);
    fz_worker_settle();
    return 0;
}
