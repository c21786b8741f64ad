/* httpd_resp: how a handler finishes its request (see httpd.h for the
 * contract, httpd_int.h for how the httpd files fit together): a whole
 * response (httpd_respond), a stream (httpd_stream_*), or a reset. Builds
 * the response head; the bytes go out through httpd_conn_write, and the
 * finished request goes back to its connection (httpd_conn_req_done).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_int.h"
#include "log.h"

/* "\r\n<name>: <value>": ends the line before it. */
static void put_header(buf_t *out, const char *name, const char *value)
{
    buf_append_str(out, "\r\n");
    buf_append_str(out, name);
    buf_append_str(out, ": ");
    buf_append_str(out, value);
}

static void build_head(httpd_req_t *r, buf_t *out, int status, const char *ctype, int has_len,
                       size_t len, int chunked)
{
    httpd_t *h = r->srv;
    httpd_conn_t *c = r->conn;
    int close = r->resp_close || !r->keep_alive || h->closing || (c && c->eof);
    /* Appends, not printf: this runs for every response. */
    buf_append_str(out, r->http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    buf_append_uint(out, (unsigned)status);
    buf_append_str(out, " ");
    buf_append_str(out, httpd_status_text(status));
    put_header(out, "Server", h->cfg.server_name);
    put_header(out, "Date", httpd_date(h));
    put_header(out, "X-Request-Id", r->reqid);
    if (ctype)
        put_header(out, "Content-Type", ctype);
    if (has_len) {
        buf_append_str(out, "\r\nContent-Length: ");
        buf_append_uint(out, len);
    }
    buf_append_str(out, "\r\n");
    if (chunked)
        buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    if (close)
        r->resp_close = 1;
    buf_append_str(out, close ? "Connection: close\r\n" : (r->http10 ? "Connection: keep-alive\r\n" : ""));
    if (r->rhdrs.len)
        buf_append(out, r->rhdrs.data, r->rhdrs.len);
    buf_append_str(out, "\r\n");
}

/* 1 when the answer in out and the headers it carries were built whole.
 * Otherwise (headers over their 64 KB, out of memory; see buf.h) nothing
 * is sent and the connection closes: the client never gets a cut answer. */
static int whole(httpd_req_t *r, buf_t *out)
{
    if (buf_ok(out) && buf_ok(&r->rhdrs))
        return 1;
    LOG_ERROR("httpd", "response could not be built whole; connection closed", "request_id", r->reqid, NULL);
    httpd_conn_close(r->conn);
    return 0;
}

void httpd_resp_header(httpd_req_t *r, const char *name, const char *value)
{
    /* Refuse CR/LF so no caller can split the response. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return;
    buf_append_str(&r->rhdrs, name);
    buf_append_str(&r->rhdrs, ": ");
    buf_append_str(&r->rhdrs, value);
    buf_append_str(&r->rhdrs, "\r\n");
}

void httpd_resp_close(httpd_req_t *r)
{
    r->resp_close = 1;
}

void httpd_reset(httpd_req_t *r)
{
    if (r->finished)
        return;
    r->finished = 1;
    httpd_conn_t *c = r->conn;
    if (c) {
        c->req = NULL;
        r->conn = NULL;
    }
    httpd_req_free(r);
    if (c && !c->closing) {
        c->reset = 1;
        httpd_conn_close(c);
    }
}

void httpd_respond(httpd_req_t *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->finished || r->streaming) {
        LOG_ERROR("httpd", "respond called twice", "request_id", r->reqid, NULL);
        return;
    }
    r->status = status;
    r->finished = 1;
    httpd_conn_t *c = r->conn;
    if (c && !c->closing) {
        buf_t out;
        int nobody = status == 204 || status == 304 || (status >= 100 && status < 200);
        int head = strcmp(r->method, "HEAD") == 0;
        buf_init(&out, (size_t)-1 / 2);
        build_head(r, &out, status, nobody ? NULL : ctype, !nobody, len, 0);
        if (!nobody && !head && len)
            buf_append(&out, body, len);
        if (whole(r, &out))
            httpd_conn_write(c, out.data, out.len);
        buf_free(&out);
    }
    httpd_conn_req_done(r);
}

int httpd_stream_begin(httpd_req_t *r, int status, const char *ctype)
{
    if (r->finished || r->streaming)
        return HTTPD_ECLOSED;
    r->status = status;
    r->streaming = 1;
    httpd_conn_t *c = r->conn;
    if (!c || c->closing)
        return HTTPD_ECLOSED;
    buf_t out;
    buf_init(&out, 128 * 1024);
    /* HTTP/1.0 has no chunked coding: the stream ends with the connection. */
    if (r->http10)
        r->resp_close = 1;
    build_head(r, &out, status, ctype, 0, 0, !r->http10);
    int rc = whole(r, &out) ? httpd_conn_write(c, out.data, out.len) : HTTPD_ECLOSED;
    buf_free(&out);
    return rc;
}

int httpd_stream_write(httpd_req_t *r, const char *data, size_t len)
{
    httpd_conn_t *c = r->conn;
    if (!r->streaming || r->finished || !c || c->closing)
        return HTTPD_ECLOSED;
    /* The limit is on what a slow client leaves queued; one event may be
     * bigger than it (a tool result on a stream). */
    if (c->write_queued > r->srv->cfg.max_stream_queue)
        return HTTPD_ESLOW;
    if (r->http10)
        return httpd_conn_write(c, data, len);
    char hdr[24];
    int n = snprintf(hdr, sizeof hdr, "%zx\r\n", len);
    /* One write per chunk: header, data and trailer together. */
    char stackbuf[4096];
    char *tmp = len + (size_t)n + 2 <= sizeof stackbuf ? stackbuf : mem_alloc(len + (size_t)n + 2);
    memcpy(tmp, hdr, (size_t)n);
    memcpy(tmp + n, data, len);
    memcpy(tmp + n + len, "\r\n", 2);
    int rc = httpd_conn_write(c, tmp, len + (size_t)n + 2);
    if (tmp != stackbuf)
        free(tmp);
    return rc;
}

int httpd_stream_on_drain(httpd_req_t *r, size_t below, void (*fn)(httpd_req_t *req, void *ud), void *ud)
{
    httpd_conn_t *c = r->conn;
    if (!r->streaming || r->finished || !c || c->closing)
        return HTTPD_ECLOSED;
    if (c->write_queued <= below)
        return 1;
    r->drain_fn = fn;
    r->drain_ud = ud;
    r->drain_below = below;
    return 0;
}

size_t httpd_stream_queued(const httpd_req_t *r)
{
    return r->conn ? r->conn->write_queued : 0;
}

void httpd_stream_end(httpd_req_t *r)
{
    if (r->finished)
        return;
    if (!r->streaming) {
        /* A handler that never began a stream: finish with an empty 500. */
        httpd_respond(r, 500, NULL, NULL, 0);
        return;
    }
    r->finished = 1;
    httpd_conn_t *c = r->conn;
    if (c && !c->closing && !r->http10)
        httpd_conn_write(c, "0\r\n\r\n", 5);
    httpd_conn_req_done(r);
}

void httpd_stream_cut(httpd_req_t *r)
{
    if (r->finished)
        return;
    if (!r->streaming) {
        httpd_reset(r); /* nothing sent yet: there is no body to cut */
        return;
    }
    r->finished = 1;
    r->resp_close = 1;
    httpd_conn_req_done(r);
}
