/* worker_sse: opens N legacy SSE sessions (GET <path>) on a worker and holds
 * them idle, for the "10,000 concurrent idle SSE sessions" figure of
 * bench/worker.sh. Prints "ready <n> <seconds>" once every stream has
 * received its endpoint event, then holds them until stdin closes.
 *
 * usage: worker_sse <host> <port> <path> <n>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_INFLIGHT_CONNECTS 256

typedef struct conn_s {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    char buf[1024];
    size_t len;
    int ready;
} conn_t;

static struct sockaddr_in addr;
static char request[1024];
static int total, started, connecting, ready, failed;
static conn_t *conns;
static uv_loop_t *loop;
static uint64_t t0;
static uv_tty_t in;

static void start_more(void);

static void check_done(void)
{
    if (ready + failed == total) {
        printf("ready %d %.2f\n", ready, (double)(uv_hrtime() - t0) / 1e9);
        fflush(stdout);
    }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    conn_t *c = h->data;
    b->base = c->buf + c->len;
    b->len = sizeof c->buf - 1 - c->len;
    if (b->len == 0) { /* idle keep-alive comments only: reuse the buffer */
        c->len = 0;
        b->base = c->buf;
        b->len = sizeof c->buf - 1;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn_t *c = s->data;
    if (n < 0) {
        if (!c->ready) {
            failed++;
            check_done();
        }
        uv_read_stop(s);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    if (!c->ready && strstr(c->buf, "event: endpoint")) {
        c->ready = 1;
        c->len = 0;
        ready++;
        check_done();
    }
}

static void on_connect(uv_connect_t *r, int status)
{
    conn_t *c = r->data;
    connecting--;
    if (status != 0) {
        failed++;
        check_done();
        start_more();
        return;
    }
    uv_buf_t b = uv_buf_init(request, (unsigned)strlen(request));
    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, NULL);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    start_more();
}

static void start_more(void)
{
    while (started < total && connecting < MAX_INFLIGHT_CONNECTS) {
        conn_t *c = &conns[started++];
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        c->creq.data = c;
        connecting++;
        if (uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&addr, on_connect) != 0) {
            connecting--;
            failed++;
        }
    }
}

static void on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    free(b->base);
    if (n < 0)
        uv_stop(loop);
}

static void stdin_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    b->base = malloc(64);
    b->len = 64;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: worker_sse <host> <port> <path> <n>\n");
        return 2;
    }
    loop = uv_default_loop();
    uv_ip4_addr(argv[1], atoi(argv[2]), &addr);
    snprintf(request, sizeof request,
             "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: text/event-stream\r\n\r\n", argv[3], argv[1], argv[2]);
    total = atoi(argv[4]);
    conns = calloc((size_t)total, sizeof *conns);
    t0 = uv_hrtime();
    start_more();
    uv_pipe_t pipe_in;
    if (uv_guess_handle(0) == UV_TTY) {
        uv_tty_init(loop, &in, 0, 1);
        uv_read_start((uv_stream_t *)&in, stdin_alloc, on_stdin);
    } else {
        uv_pipe_init(loop, &pipe_in, 0);
        uv_pipe_open(&pipe_in, 0);
        uv_read_start((uv_stream_t *)&pipe_in, stdin_alloc, on_stdin);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    fprintf(stderr, "worker_sse: %d ready, %d failed\n", ready, failed);
    return 0; /* the process exit closes every socket */
}
