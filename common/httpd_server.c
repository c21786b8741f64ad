/* httpd_server: the server of httpd.h: created listening, accepting
 * connections, closed (see httpd.h for the contract, httpd_int.h for how
 * the httpd files fit together). The top of the httpd files.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "httpd_int.h"

/* ---------------------------------------------------------------- accepting */

static void on_connection(uv_stream_t *server, int status)
{
    httpd_t *h = server->data;
    if (status < 0)
        return;
    httpd_conn_t *c = httpd_conn_new(h);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || h->nconns > h->cfg.max_conns ||
        h->closing) {
        httpd_conn_close(c);
        return;
    }
    httpd_conn_start(c);
}

int httpd__adopt_fd(httpd_t *h, int fd)
{
    httpd_conn_t *c = httpd_conn_new(h);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        httpd_conn_close(c);
        return rc;
    }
    httpd_conn_start(c);
    return 0;
}

/* ---------------------------------------------------------------- server */

/* The process's descriptors are shared by its clients' connections and
 * everything else it opens (Redis, PostgreSQL, its calls to JSM, spool and
 * log files). The soft limit is raised to the hard one (a service manager
 * often sets 1024 soft against a hard limit far above), and clients may
 * hold at most three quarters of it: a flood of connections is refused at
 * accept instead of leaving a tool call without a socket for its upstream
 * request. Returns max_conns, lowered to that share when above it. */
static size_t conns_within_fd_limit(size_t max_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return max_conns;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return max_conns;
    size_t share = (size_t)(rl.rlim_cur - rl.rlim_cur / 4);
    return max_conns > share ? share : max_conns;
}

int httpd_create(httpd_t **out, uv_loop_t *loop, const httpd_config_t *cfg, httpd_handler_fn fn,
                 void *ud)
{
    httpd_conn_parser_init();
    httpd_t *h = mem_calloc(1, sizeof *h);
    h->loop = loop;
    h->cfg = *cfg;
    if (h->cfg.max_headers == 0 || h->cfg.max_headers > HTTPD_HEADER_CAP)
        h->cfg.max_headers = HTTPD_HEADER_CAP;
    if (!h->cfg.server_name)
        h->cfg.server_name = "jsmcp";
    h->cfg.max_conns = conns_within_fd_limit(h->cfg.max_conns);
    h->fn = fn;
    h->ud = ud;
    if (getrandom(&h->rid_state, sizeof h->rid_state, 0) != sizeof h->rid_state)
        h->rid_state = (uint64_t)uv_hrtime() ^ (uint64_t)getpid();

    int fd = cfg->fd;
    if (fd < 0) {
        fd = httpd_listen_socket(cfg->host ? cfg->host : "127.0.0.1", cfg->port, cfg->reuseport,
                                 cfg->backlog);
        if (fd < 0) {
            free(h);
            return fd;
        }
    }
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    int rc = uv_tcp_open(&h->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&h->listener, cfg->backlog > 0 ? cfg->backlog : 1024,
                       on_connection);
    if (rc < 0) {
        /* Close synchronously-safe: the handle is not active yet. */
        h->closing = 1;
        uv_close((uv_handle_t *)&h->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        free(h);
        return rc;
    }
    h->listener_open = 1;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *out = h;
    return 0;
}

int httpd_port(const httpd_t *h)
{
    return h->port;
}

size_t httpd_conn_count(const httpd_t *h)
{
    return h->nconns;
}

size_t httpd_max_conns(const httpd_t *h)
{
    return h->cfg.max_conns;
}

static void on_listener_closed(uv_handle_t *hd)
{
    httpd_t *h = hd->data;
    h->listener_open = 0;
    httpd_close_if_done(h);
}

void httpd_close(httpd_t *h, void (*done)(void *), void *arg)
{
    if (h->closing)
        return;
    h->closing = 1;
    h->done = done;
    h->done_arg = arg;
    /* Idle connections go now; busy ones close after their response
     * (build_head sends Connection: close while closing). */
    for (httpd_conn_t *c = h->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE && c->in.len == 0)
            httpd_conn_close(c);
        else if (c->state == CONN_LINGER && c->writes_pending == 0)
            httpd_conn_close(c); /* its answer is out: no more waiting for the client */
        else if (c->state == CONN_LINGER)
            c->close_after_write = 1;
    }
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
