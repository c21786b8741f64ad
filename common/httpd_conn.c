/* httpd_conn: one TCP connection of httpd (see httpd.h for the contract,
 * httpd_int.h for how the httpd files fit together): reading into conn->in,
 * parsing it with llhttp one request at a time, writing bytes, the
 * idle/header/body timers, the errors httpd answers by itself and the
 * lingering close that follows them (httpd.h says why).
 *
 * The writes and the connection stay in one file because they call each
 * other: a failed write closes the connection, a finished request starts
 * parsing the next one, a timeout answers 408.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpd_int.h"
#include "log.h"

static llhttp_settings_t parser_settings;
static int parser_settings_ready;

static void conn_run(httpd_conn_t *c);
static void conn_arm_timer(httpd_conn_t *c);
static void conn_start_read(httpd_conn_t *c);
static void conn_linger_shutdown(httpd_conn_t *c);
static void on_timer(uv_timer_t *t);

/* ---------------------------------------------------------------- date */

const char *httpd_date(httpd_t *h)
{
    time_t now = time(NULL);
    if (now != h->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(h->date, sizeof h->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        h->date_sec = now;
    }
    return h->date;
}

/* ---------------------------------------------------------------- writing */

static void on_write(uv_write_t *w, int status)
{
    wreq_t *wr = (wreq_t *)w;
    httpd_conn_t *c = wr->conn;
    c->write_queued -= wr->len;
    c->writes_pending--;
    free(wr);
    if (status < 0) {
        httpd_conn_close(c);
        return;
    }
    if (c->close_after_write && c->writes_pending == 0) {
        httpd_conn_close(c);
        return;
    }
    if (c->state == CONN_LINGER && c->writes_pending == 0) {
        conn_linger_shutdown(c);
        return;
    }
    httpd_req_t *r = c->req;
    if (r && r->drain_fn && r->streaming && !r->finished && c->write_queued <= r->drain_below) {
        void (*fn)(httpd_req_t *, void *) = r->drain_fn;
        r->drain_fn = NULL;
        fn(r, r->drain_ud);
    }
}

/* Queues bytes on the connection: tries a direct write first and copies
 * only what the kernel did not take. */
int httpd_conn_write(httpd_conn_t *c, const char *data, size_t len)
{
    if (c->closing)
        return HTTPD_ECLOSED;
    if (len == 0)
        return 0;
    if (c->writes_pending == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == (int)len)
            return 0;
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            httpd_conn_close(c);
            return HTTPD_ECLOSED;
        }
    }
    wreq_t *wr = mem_alloc(sizeof *wr + len);
    wr->conn = c;
    wr->len = len;
    memcpy(wr->data, data, len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)len);
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(wr);
        httpd_conn_close(c);
        return HTTPD_ECLOSED;
    }
    c->write_queued += len;
    c->writes_pending++;
    return 0;
}

static void conn_finish_output(httpd_conn_t *c)
{
    if (c->writes_pending == 0)
        httpd_conn_close(c);
    else
        c->close_after_write = 1;
}

/* Answers a protocol-level error (no handler involved) and closes. */
static void conn_send_error(httpd_conn_t *c, int status, const char *detail)
{
    char body[512];
    char head[640];
    char rid[72];
    /* The request's id once its headers were read (a 413 on Content-Length),
     * a fresh one otherwise: every answer can be found in the logs. */
    if (c->req && c->req->reqid[0])
        snprintf(rid, sizeof rid, "%s", c->req->reqid);
    else
        snprintf(rid, sizeof rid, "%016llx", (unsigned long long)httpd_rid_next(c->srv));
    int blen = snprintf(body, sizeof body,
                        "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\","
                        "\"request_id\":\"%s\"}",
                        httpd_status_text(status), status, detail, rid);
    if (blen < 0 || (size_t)blen >= sizeof body)
        blen = (int)strlen(body); /* cut before Content-Length is written from it */
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nX-Request-Id: %s\r\n"
                        "Content-Type: application/problem+json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n",
                        status, httpd_status_text(status), c->srv->cfg.server_name,
                        httpd_date(c->srv), rid, blen);
    /* snprintf returns the length it wanted: a long detail or server name
     * (configuration) is sent cut, never read past the buffers. */
    if (hlen < 0 || (size_t)hlen >= sizeof head)
        hlen = (int)strlen(head);
    if (c->req && c->state != CONN_HANDLING) {
        c->req->status = status;
        httpd_req_free(c->req);
        c->req = NULL;
    }
    httpd_conn_write(c, head, (size_t)hlen);
    httpd_conn_write(c, body, (size_t)blen);
    if (c->closing)
        return; /* the write failed: the client is gone */
    /* The client may still be sending the request this answers: linger
     * (httpd.h). Not after a timeout (a slow client gets no more time),
     * nor when the client is gone or the server closes. */
    const httpd_config_t *cfg = &c->srv->cfg;
    if (status != 408 && !c->eof && !c->srv->closing && cfg->linger_timeout_ms > 0) {
        c->state = CONN_LINGER;
        c->linger_left = cfg->linger_max_bytes;
        c->in.len = 0; /* what is buffered belongs to the refused request */
        uv_timer_start(&c->timer, on_timer, cfg->linger_timeout_ms, 0);
        if (!c->reading)
            conn_start_read(c);
        if (c->writes_pending == 0)
            conn_linger_shutdown(c);
        return;
    }
    c->state = CONN_IDLE;
    conn_finish_output(c);
}

static void on_linger_shutdown(uv_shutdown_t *s, int status)
{
    httpd_conn_t *c = s->data;
    /* Cancelled when the connection closed first; failed when the peer
     * is gone: either way there is nothing left to wait for. */
    if (status < 0)
        httpd_conn_close(c);
}

/* The answer is out: send FIN, keep reading until the client closes. */
static void conn_linger_shutdown(httpd_conn_t *c)
{
    if (c->shut_started || c->closing)
        return;
    c->shut_started = 1;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_linger_shutdown) != 0)
        httpd_conn_close(c);
}

/* The handler is done with r: release it, and let the connection go on
 * with the next request (or close). */
void httpd_conn_req_done(httpd_req_t *r)
{
    httpd_conn_t *c = r->conn;
    int close = r->resp_close;
    httpd_req_free(r);
    if (!c)
        return;
    c->req = NULL;
    c->state = CONN_IDLE;
    if (c->closing)
        return;
    if (close || c->eof) {
        conn_finish_output(c);
        return;
    }
    conn_arm_timer(c);
    conn_run(c);
}

/* ---------------------------------------------------------------- parser callbacks (llhttp) */

static int hdr_budget(httpd_conn_t *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->srv->cfg.max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    httpd_conn_t *c = p->data;
    if (!c->req)
        c->req = httpd_req_new(c);
    c->header_bytes = 0;
    c->msg_complete = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    httpd_conn_t *c = p->data;
    if (hdr_budget(c, len) || buf_append(&c->req->url, at, len)) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    httpd_conn_t *c = p->data;
    httpd_req_t *r = c->req;
    if (hdr_budget(c, len))
        return -1;
    if (r->nheaders >= c->srv->cfg.max_headers || r->nheaders >= HTTPD_HEADER_CAP) {
        c->err_status = 431;
        return -1;
    }
    if (buf_append(&r->hbuf, at, len)) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    httpd_conn_t *c = p->data;
    httpd_req_t *r = c->req;
    if (buf_append(&r->hbuf, "", 1)) {
        c->err_status = 431;
        return -1;
    }
    r->hoff[2 * r->nheaders + 1] = (uint32_t)r->hbuf.len;
    r->in_value = 1;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    httpd_conn_t *c = p->data;
    if (hdr_budget(c, len) || buf_append(&c->req->hbuf, at, len)) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    httpd_conn_t *c = p->data;
    httpd_req_t *r = c->req;
    if (buf_append(&r->hbuf, "", 1)) {
        c->err_status = 431;
        return -1;
    }
    r->nheaders++;
    r->in_value = 0;
    if (r->nheaders < HTTPD_HEADER_CAP)
        r->hoff[2 * r->nheaders] = (uint32_t)r->hbuf.len;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    httpd_conn_t *c = p->data;
    httpd_req_t *r = c->req;
    httpd_t *h = c->srv;

    str_copy(r->method, sizeof r->method, llhttp_method_name((llhttp_method_t)p->method));
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    const char *url = r->url.data ? r->url.data : "/";
    const char *qm = strchr(url, '?');
    r->path = qm ? mem_strndup(url, (size_t)(qm - url)) : mem_strdup(url);
    r->query = mem_strdup(qm ? qm + 1 : "");

    httpd_req_take_ids(r);

    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->cfg.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    const char *expect = httpd_req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        httpd_conn_write(c, cont, sizeof cont - 1);
    }
    c->state = CONN_BODY;
    conn_arm_timer(c);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    httpd_conn_t *c = p->data;
    if (buf_append(&c->req->body, at, len)) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    httpd_conn_t *c = p->data;
    c->req->keep_alive = llhttp_should_keep_alive(p);
    c->msg_complete = 1;
    return HPE_PAUSED;
}

void httpd_conn_parser_init(void)
{
    if (parser_settings_ready)
        return;
    llhttp_settings_init(&parser_settings);
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_field_complete = on_header_field_complete;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_header_value_complete = on_header_value_complete;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
    parser_settings_ready = 1;
}

/* ---------------------------------------------------------------- connection */

static void conn_dispatch(httpd_conn_t *c)
{
    httpd_req_t *r = c->req;
    c->state = CONN_HANDLING;
    uv_timer_stop(&c->timer);
    c->srv->fn(r, c->srv->ud);
}

/* Parses buffered input and dispatches complete requests, one at a time. */
static void conn_run(httpd_conn_t *c)
{
    if (c->in_run)
        return;
    c->in_run = 1;
    while (!c->closing && c->state != CONN_HANDLING && c->in.len > 0) {
        if (c->state == CONN_IDLE) {
            c->state = CONN_HEADERS;
            conn_arm_timer(c);
        }
        llhttp_resume(&c->parser);
        llhttp_errno_t err = llhttp_execute(&c->parser, c->in.data, c->in.len);
        size_t used = c->in.len;
        if (err == HPE_PAUSED) {
            used = (size_t)(llhttp_get_error_pos(&c->parser) - c->in.data);
        } else if (err != HPE_OK) {
            int st = c->err_status ? c->err_status : 400;
            const char *why = st == 431 ? "request header fields too large"
                              : st == 413 ? "request body too large"
                                          : "malformed HTTP request";
            conn_send_error(c, st, why);
            break;
        }
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
        c->in.data[c->in.len] = 0;
        if (c->msg_complete) {
            c->msg_complete = 0;
            conn_dispatch(c);
        }
    }
    c->in_run = 0;
    /* Resume reading if we had stopped because the input buffer was full. */
    if (!c->closing && !c->reading && !c->eof && c->in.len < c->in_max)
        conn_start_read(c);
}

static void conn_handle_closed(uv_handle_t *hd)
{
    httpd_conn_t *c = hd->data;
    if (--c->handles_open > 0)
        return;
    httpd_t *h = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    buf_free(&c->in);
    free(c);
    httpd_close_if_done(h);
}

void httpd_conn_close(httpd_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    httpd_req_t *r = c->req;
    c->req = NULL;
    if (r) {
        if (c->state == CONN_HANDLING && r->finished) {
            /* Closed by a failed write inside httpd_respond/httpd_stream_end:
             * their req_finish frees r. */
            r->conn = NULL;
        } else if (c->state == CONN_HANDLING) {
            /* The handler still owns r: tell it, it will finish it later. */
            r->conn = NULL;
            r->aborted = 1;
            r->orphan = 1;
            r->srv->norphans++;
            if (r->abort_fn)
                r->abort_fn(r, r->abort_ud);
        } else {
            r->conn = NULL;
            httpd_req_free(r);
        }
    }
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    /* uv_tcp_close_reset refuses a connection being shut down; that one
     * closes the ordinary way. */
    if (!c->reset || uv_tcp_close_reset(&c->tcp, conn_handle_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void on_timer(uv_timer_t *t)
{
    httpd_conn_t *c = t->data;
    switch (c->state) {
    case CONN_IDLE:
        httpd_conn_close(c);
        break;
    case CONN_HEADERS:
    case CONN_BODY:
        conn_send_error(c, 408, "request not received in time");
        break;
    case CONN_HANDLING:
        break;
    case CONN_LINGER:
        httpd_conn_close(c); /* the client did not finish within linger_timeout_ms */
        break;
    }
}

static void conn_arm_timer(httpd_conn_t *c)
{
    const httpd_config_t *cfg = &c->srv->cfg;
    unsigned ms = 0;
    switch (c->state) {
    case CONN_IDLE: ms = c->srv->closing ? 1 : cfg->idle_timeout_ms; break;
    case CONN_HEADERS: ms = cfg->header_timeout_ms; break;
    case CONN_BODY: ms = cfg->body_timeout_ms; break;
    case CONN_HANDLING: uv_timer_stop(&c->timer); return;
    case CONN_LINGER: return; /* one deadline for the whole linger, set once */
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
    httpd_conn_t *c = hd->data;
    size_t room = c->in_max - c->in.len;
    size_t want = room < 65536 ? room : 65536;
    (void)suggested;
    if (c->in.cap < c->in.len + want + 1) {
        size_t ncap = c->in.len + want + 1;
        c->in.data = mem_realloc(c->in.data, ncap);
        c->in.cap = ncap;
    }
    *b = uv_buf_init(c->in.data + c->in.len, (unsigned)want);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    httpd_conn_t *c = s->data;
    (void)b;
    if (n < 0) {
        /* EOF or error: HTTP clients do not half-close, so the client is
         * gone; a request with the handler learns it via its abort cb. */
        c->eof = 1;
        httpd_conn_close(c);
        return;
    }
    if (n == 0)
        return;
    if (c->state == CONN_LINGER) {
        /* Discarded (on_alloc put it past in.len); closed once the budget is spent. */
        if ((size_t)n >= c->linger_left)
            httpd_conn_close(c);
        else
            c->linger_left -= (size_t)n;
        return;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = 0;
    if (c->in.len >= c->in_max) {
        uv_read_stop(s);
        c->reading = 0;
    }
    conn_run(c);
}

static void conn_start_read(httpd_conn_t *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

httpd_conn_t *httpd_conn_new(httpd_t *h)
{
    httpd_conn_t *c = mem_calloc(1, sizeof *c);
    c->srv = h;
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    buf_init(&c->in, (size_t)-1 / 2);
    c->in_max = h->cfg.max_header_bytes + h->cfg.max_body_bytes + 64 * 1024;
    return c;
}

void httpd_conn_start(httpd_conn_t *c)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, c->remote, sizeof c->remote);
        else if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote, sizeof c->remote);
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->state = CONN_IDLE;
    conn_arm_timer(c);
    conn_start_read(c);
}
