/* httpd: HTTP/1.1 server on libuv + llhttp. See httpd.h for the contract.
 *
 * Design notes
 * - One conn_t per TCP connection, freed only in its close callback (after
 *   both the tcp and the timer handle closed).
 * - One httpd_req_t per request. It belongs to the connection while it is
 *   parsed; once handed to the handler it belongs to the handler until the
 *   handler finishes it (respond / stream_end). req_free() is the only place
 *   a request is freed. If the connection dies first, req->conn becomes NULL
 *   and the abort callback runs.
 * - Incoming bytes are appended to conn->in and parsed from there. The parser
 *   pauses at the end of each message, so a pipelined next request waits in
 *   conn->in until the current one is finished. We keep reading while a
 *   handler runs so that a client hang-up is noticed (abort); what arrives
 *   meanwhile is bounded by in_max.
 * - conn_run() is the only place that parses and dispatches, and it is not
 *   re-entered: a handler that responds synchronously just leaves the loop
 *   to pick up the next request.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "log.h"
#include "url.h"

#define HTTPD_HEADER_CAP 128 /* hard cap on max_headers */

typedef struct conn_s conn_t;

enum conn_state {
    CONN_IDLE,     /* keep-alive, waiting for the first byte of a request */
    CONN_HEADERS,  /* request line and headers arriving */
    CONN_BODY,     /* body arriving */
    CONN_HANDLING, /* request is with the handler */
    CONN_LINGER,   /* error answered mid-request: discarding input until the client closes (bounded) */
};

struct httpd_req_s {
    conn_t *conn;     /* NULL once the connection is gone */
    httpd_t *srv;
    char method[24];
    buf_t url;        /* raw request target */
    char *path;       /* owned copies split from url */
    char *query;
    buf_t hbuf;       /* "name\0value\0" pairs */
    uint32_t hoff[HTTPD_HEADER_CAP * 2];
    size_t nheaders;
    int in_value;     /* parser is inside a header value */
    buf_t body;
    char reqid[72];
    char trace_id[33];      /* W3C trace context: "" until taken from traceparent or made */
    char parent_span[17];   /* the caller's span id, "" when none */
    int trace_flags;
    const char *route;      /* the router's pattern that matched (httpd_req_set_route) */
    uint64_t start_ns;
    int keep_alive;
    int http10;
    /* response */
    buf_t rhdrs;      /* extra "Name: value\r\n" lines */
    int status;
    int resp_close;
    int streaming;
    int finished;
    int aborted;
    int orphan;             /* counted in srv->norphans: aborted while its handler still owns it */
    void (*abort_fn)(httpd_req_t *, void *);
    void *abort_ud;
    void (*drain_fn)(httpd_req_t *, void *); /* httpd_stream_on_drain: once, then cleared */
    void *drain_ud;
    size_t drain_below;
    void *data;
};

struct conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    httpd_t *srv;
    conn_t *prev, *next;
    llhttp_t parser;
    enum conn_state state;
    buf_t in;            /* unparsed input */
    size_t in_max;
    httpd_req_t *req;    /* request being parsed or handled */
    size_t header_bytes;
    int err_status;      /* set by parser callbacks to answer with */
    int msg_complete;
    int closing;
    int close_after_write; /* close once all queued writes completed */
    int in_run;
    int reading;
    int eof;
    int reset;           /* close with a TCP RST (httpd_reset) */
    int handles_open;
    size_t write_queued; /* bytes handed to uv_write, not yet completed */
    size_t writes_pending;
    size_t linger_left;  /* CONN_LINGER: bytes still to discard before closing */
    uv_shutdown_t shut;  /* CONN_LINGER: the write side's shutdown, once the answer is out */
    int shut_started;
    char remote[64];
};

struct httpd_s {
    uv_loop_t *loop;
    uv_tcp_t listener;
    httpd_config_t cfg;
    httpd_handler_fn fn;
    void *ud;
    int port;
    size_t nconns;
    size_t norphans; /* requests a handler still owns after their connection closed */
    conn_t *conns;
    int closing;
    int listener_open;
    void (*done)(void *);
    void *done_arg;
    char date[40];
    int64_t date_sec;
    uint64_t rid_state;
};

typedef struct wreq_s {
    uv_write_t w;
    conn_t *conn;
    size_t len;
    char data[];
} wreq_t;

static llhttp_settings_t parser_settings;
static int parser_settings_ready;

static void conn_close(conn_t *c);
static void conn_run(conn_t *c);
static void conn_arm_timer(conn_t *c);
static void req_finish(httpd_req_t *req);
static void conn_start_read(conn_t *c);
static void conn_linger_shutdown(conn_t *c);
static void on_timer(uv_timer_t *t);

/* ---------------------------------------------------------------- utils */

const char *httpd_status_text(int s)
{
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static const char *httpd_date(httpd_t *h)
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

/* splitmix64: cheap unique request ids, seeded from the kernel. */
static uint64_t rid_next(httpd_t *h)
{
    uint64_t z = (h->rid_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* "%016llx" of v, without printf (once per request). */
static void reqid_hex(char out[17], uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[16] = 0;
}

static int reqid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
        if (n >= 64)
            return 0;
    }
    return n > 0;
}

void httpd_config_defaults(httpd_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 0;
    cfg->fd = -1;
    cfg->backlog = 1024;
    cfg->max_header_bytes = 16 * 1024;
    cfg->max_headers = 100;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->max_conns = 20000;
    cfg->max_stream_queue = 1024 * 1024;
    cfg->header_timeout_ms = 10000;
    cfg->body_timeout_ms = 30000;
    cfg->idle_timeout_ms = 60000;
    cfg->linger_max_bytes = 4 * 1024 * 1024;
    cfg->linger_timeout_ms = 5000;
    cfg->server_name = "jsmcp";
}

/* ---------------------------------------------------------------- requests */

static httpd_req_t *req_new(conn_t *c)
{
    httpd_req_t *r = mem_calloc(1, sizeof *r);
    httpd_t *h = c->srv;
    r->conn = c;
    r->srv = h;
    buf_init(&r->url, h->cfg.max_header_bytes);
    buf_init(&r->hbuf, h->cfg.max_header_bytes + 2 * HTTPD_HEADER_CAP);
    buf_init(&r->body, h->cfg.max_body_bytes);
    buf_init(&r->rhdrs, 64 * 1024);
    r->start_ns = uv_hrtime();
    return r;
}

static void close_if_done(httpd_t *h);

static void req_free(httpd_req_t *r)
{
    if (!r)
        return;
    httpd_t *h = r->srv;
    int orphan = r->orphan;
    if (h->cfg.on_complete)
        h->cfg.on_complete(r, r->aborted && !r->status ? 0 : r->status, h->ud);
    buf_free(&r->url);
    buf_free(&r->hbuf);
    buf_free(&r->body);
    buf_free(&r->rhdrs);
    free(r->path);
    free(r->query);
    free(r);
    if (orphan) {
        h->norphans--;
        close_if_done(h);
    }
}

const char *httpd_req_method(const httpd_req_t *r) { return r->method; }
const char *httpd_req_path(const httpd_req_t *r) { return r->path ? r->path : "/"; }
const char *httpd_req_query(const httpd_req_t *r) { return r->query ? r->query : ""; }
const char *httpd_req_remote(const httpd_req_t *r) { return r->conn ? r->conn->remote : ""; }
const char *httpd_req_id(const httpd_req_t *r) { return r->reqid; }

/* n lowercase hex digits. */
static int lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* n lowercase hex digits, not all zero (all-zero ids are invalid). */
static int hex_id(const char *s, size_t n)
{
    return lower_hex(s, n) && strspn(s, "0") < n;
}

/* traceparent: "<2 hex version>-<32 hex trace id>-<16 hex parent id>-<2
 * hex flags>". Version ff is invalid; version 00 is exactly that long; a
 * later version may append "-..." and is read as 00 (W3C Trace Context,
 * "Versioning"). Anything else is ignored: the request starts a trace. */
static void trace_parse(httpd_req_t *r)
{
    const char *tp = httpd_req_header(r, "traceparent");
    size_t n = tp ? strlen(tp) : 0;
    if (n < 55 || !lower_hex(tp, 2) || strncmp(tp, "ff", 2) == 0 || tp[2] != '-' || !hex_id(tp + 3, 32) ||
        tp[35] != '-' || !hex_id(tp + 36, 16) || tp[52] != '-' || !lower_hex(tp + 53, 2))
        return;
    if (n > 55 && (strncmp(tp, "00", 2) == 0 || tp[55] != '-'))
        return;
    memcpy(r->trace_id, tp + 3, 32);
    r->trace_id[32] = 0;
    memcpy(r->parent_span, tp + 36, 16);
    r->parent_span[16] = 0;
    char flags[3] = {tp[53], tp[54], 0};
    r->trace_flags = (int)strtol(flags, NULL, 16);
}

const char *httpd_req_trace_id(httpd_req_t *r)
{
    if (!r->trace_id[0]) {
        unsigned char b[16];
        static const char hex[] = "0123456789abcdef";
        randombytes_buf(b, sizeof b);
        b[0] |= 1; /* never all zero */
        for (int i = 0; i < 16; i++) {
            r->trace_id[2 * i] = hex[b[i] >> 4];
            r->trace_id[2 * i + 1] = hex[b[i] & 15];
        }
        r->trace_id[32] = 0;
    }
    return r->trace_id;
}

const char *httpd_req_parent_span(const httpd_req_t *r) { return r->parent_span; }

void httpd_req_child_traceparent(httpd_req_t *r, char *out, size_t outsz)
{
    unsigned char b[8];
    char span[17];
    randombytes_buf(b, sizeof b);
    b[0] |= 1; /* never all zero */
    sodium_bin2hex(span, sizeof span, b, sizeof b);
    snprintf(out, outsz, "00-%s-%s-%02x", httpd_req_trace_id(r), span, r->trace_flags & 0xff);
}
int httpd_req_trace_flags(const httpd_req_t *r) { return r->trace_flags; }

void httpd_req_set_route(httpd_req_t *r, const char *pattern) { r->route = pattern; }
const char *httpd_req_route(const httpd_req_t *r) { return r->route; }
uint64_t httpd_req_start_ns(const httpd_req_t *r) { return r->start_ns; }
httpd_t *httpd_req_server(const httpd_req_t *r) { return r->srv; }
uv_loop_t *httpd_req_loop(const httpd_req_t *r) { return r->srv->loop; }
int httpd_req_aborted(const httpd_req_t *r) { return r->aborted; }
void httpd_req_set_data(httpd_req_t *r, void *d) { r->data = d; }
void *httpd_req_data(const httpd_req_t *r) { return r->data; }
size_t httpd_req_header_count(const httpd_req_t *r) { return r->nheaders; }

void httpd_req_header_at(const httpd_req_t *r, size_t i, const char **name, const char **value)
{
    *name = r->hbuf.data + r->hoff[2 * i];
    *value = r->hbuf.data + r->hoff[2 * i + 1];
}

const char *httpd_req_header(const httpd_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->hbuf.data + r->hoff[2 * i], name) == 0)
            return r->hbuf.data + r->hoff[2 * i + 1];
    return NULL;
}

const char *httpd_req_body(const httpd_req_t *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

void httpd_req_on_abort(httpd_req_t *r, void (*fn)(httpd_req_t *, void *), void *ud)
{
    r->abort_fn = fn;
    r->abort_ud = ud;
}

int httpd_query_param_nth(const httpd_req_t *r, const char *name, int nth, char *out, size_t outsz)
{
    const char *q = httpd_req_query(r);
    size_t nlen = strlen(name);
    int seen = 0;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t seglen = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', seglen);
        size_t klen = eq ? (size_t)(eq - q) : seglen;
        char kbuf[256];
        int kl = url_decode(q, klen, kbuf, sizeof kbuf, URL_DECODE_PLUS);
        if (kl >= 0 && (size_t)kl == nlen && memcmp(kbuf, name, nlen) == 0) {
            if (seen++ == nth) {
                const char *v = eq ? eq + 1 : q + seglen;
                size_t vlen = eq ? seglen - klen - 1 : 0;
                int dl = url_decode(v, vlen, out, outsz, URL_DECODE_PLUS);
                return dl < 0 ? -2 : dl;
            }
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return -1;
}

int httpd_query_param(const httpd_req_t *r, const char *name, char *out, size_t outsz)
{
    return httpd_query_param_nth(r, name, 0, out, outsz);
}

/* ---------------------------------------------------------------- writing */

static void on_write(uv_write_t *w, int status)
{
    wreq_t *wr = (wreq_t *)w;
    conn_t *c = wr->conn;
    c->write_queued -= wr->len;
    c->writes_pending--;
    free(wr);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after_write && c->writes_pending == 0) {
        conn_close(c);
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
static int conn_write(conn_t *c, const char *data, size_t len)
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
            conn_close(c);
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
        conn_close(c);
        return HTTPD_ECLOSED;
    }
    c->write_queued += len;
    c->writes_pending++;
    return 0;
}

static void conn_finish_output(conn_t *c)
{
    if (c->writes_pending == 0)
        conn_close(c);
    else
        c->close_after_write = 1;
}

/* Answers a protocol-level error (no handler involved) and closes. */
static void conn_send_error(conn_t *c, int status, const char *detail)
{
    char body[512];
    char head[640];
    char rid[72];
    /* The request's id once its headers were read (a 413 on Content-Length),
     * a fresh one otherwise: every answer can be found in the logs. */
    if (c->req && c->req->reqid[0])
        snprintf(rid, sizeof rid, "%s", c->req->reqid);
    else
        snprintf(rid, sizeof rid, "%016llx", (unsigned long long)rid_next(c->srv));
    int blen = snprintf(body, sizeof body,
                        "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"detail\":\"%s\","
                        "\"request_id\":\"%s\"}",
                        httpd_status_text(status), status, detail, rid);
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nX-Request-Id: %s\r\n"
                        "Content-Type: application/problem+json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n",
                        status, httpd_status_text(status), c->srv->cfg.server_name,
                        httpd_date(c->srv), rid, blen);
    if (c->req && c->state != CONN_HANDLING) {
        c->req->status = status;
        req_free(c->req);
        c->req = NULL;
    }
    conn_write(c, head, (size_t)hlen);
    conn_write(c, body, (size_t)blen);
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
    conn_t *c = s->data;
    /* Cancelled when the connection closed first; failed when the peer
     * is gone: either way there is nothing left to wait for. */
    if (status < 0)
        conn_close(c);
}

/* The answer is out: send FIN, keep reading until the client closes. */
static void conn_linger_shutdown(conn_t *c)
{
    if (c->shut_started || c->closing)
        return;
    c->shut_started = 1;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_linger_shutdown) != 0)
        conn_close(c);
}

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
    conn_t *c = r->conn;
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
    conn_close(r->conn);
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
    conn_t *c = r->conn;
    if (c) {
        c->req = NULL;
        r->conn = NULL;
    }
    req_free(r);
    if (c && !c->closing) {
        c->reset = 1;
        conn_close(c);
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
    conn_t *c = r->conn;
    if (c && !c->closing) {
        buf_t out;
        int nobody = status == 204 || status == 304 || (status >= 100 && status < 200);
        int head = strcmp(r->method, "HEAD") == 0;
        buf_init(&out, (size_t)-1 / 2);
        build_head(r, &out, status, nobody ? NULL : ctype, !nobody, len, 0);
        if (!nobody && !head && len)
            buf_append(&out, body, len);
        if (whole(r, &out))
            conn_write(c, out.data, out.len);
        buf_free(&out);
    }
    req_finish(r);
}

int httpd_stream_begin(httpd_req_t *r, int status, const char *ctype)
{
    if (r->finished || r->streaming)
        return HTTPD_ECLOSED;
    r->status = status;
    r->streaming = 1;
    conn_t *c = r->conn;
    if (!c || c->closing)
        return HTTPD_ECLOSED;
    buf_t out;
    buf_init(&out, 128 * 1024);
    /* HTTP/1.0 has no chunked coding: the stream ends with the connection. */
    if (r->http10)
        r->resp_close = 1;
    build_head(r, &out, status, ctype, 0, 0, !r->http10);
    int rc = whole(r, &out) ? conn_write(c, out.data, out.len) : HTTPD_ECLOSED;
    buf_free(&out);
    return rc;
}

int httpd_stream_write(httpd_req_t *r, const char *data, size_t len)
{
    conn_t *c = r->conn;
    if (!r->streaming || r->finished || !c || c->closing)
        return HTTPD_ECLOSED;
    /* The limit is on what a slow client leaves queued; one event may be
     * bigger than it (a tool result on a stream). */
    if (c->write_queued > r->srv->cfg.max_stream_queue)
        return HTTPD_ESLOW;
    if (r->http10)
        return conn_write(c, data, len);
    char hdr[24];
    int n = snprintf(hdr, sizeof hdr, "%zx\r\n", len);
    /* One write per chunk: header, data and trailer together. */
    char stackbuf[4096];
    char *tmp = len + (size_t)n + 2 <= sizeof stackbuf ? stackbuf : mem_alloc(len + (size_t)n + 2);
    memcpy(tmp, hdr, (size_t)n);
    memcpy(tmp + n, data, len);
    memcpy(tmp + n + len, "\r\n", 2);
    int rc = conn_write(c, tmp, len + (size_t)n + 2);
    if (tmp != stackbuf)
        free(tmp);
    return rc;
}

int httpd_stream_on_drain(httpd_req_t *r, size_t below, void (*fn)(httpd_req_t *req, void *ud), void *ud)
{
    conn_t *c = r->conn;
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
    conn_t *c = r->conn;
    if (c && !c->closing && !r->http10)
        conn_write(c, "0\r\n\r\n", 5);
    req_finish(r);
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
    req_finish(r);
}

/* The handler is done with r: release it, and let the connection go on
 * with the next request (or close). */
static void req_finish(httpd_req_t *r)
{
    conn_t *c = r->conn;
    int close = r->resp_close;
    req_free(r);
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

/* ---------------------------------------------------------------- parser callbacks */

static int hdr_budget(conn_t *c, size_t n)
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
    conn_t *c = p->data;
    if (!c->req)
        c->req = req_new(c);
    c->header_bytes = 0;
    c->msg_complete = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (hdr_budget(c, len) || buf_append(&c->req->url, at, len)) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
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
    conn_t *c = p->data;
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
    conn_t *c = p->data;
    if (hdr_budget(c, len) || buf_append(&c->req->hbuf, at, len)) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    conn_t *c = p->data;
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
    conn_t *c = p->data;
    httpd_req_t *r = c->req;
    httpd_t *h = c->srv;

    str_copy(r->method, sizeof r->method, llhttp_method_name((llhttp_method_t)p->method));
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    const char *url = r->url.data ? r->url.data : "/";
    const char *qm = strchr(url, '?');
    r->path = qm ? mem_strndup(url, (size_t)(qm - url)) : mem_strdup(url);
    r->query = mem_strdup(qm ? qm + 1 : "");

    const char *rid = httpd_req_header(r, "X-Request-Id");
    if (rid && reqid_ok(rid))
        str_copy(r->reqid, sizeof r->reqid, rid);
    else
        reqid_hex(r->reqid, rid_next(h));
    trace_parse(r);

    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->cfg.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    const char *expect = httpd_req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, cont, sizeof cont - 1);
    }
    c->state = CONN_BODY;
    conn_arm_timer(c);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (buf_append(&c->req->body, at, len)) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn_t *c = p->data;
    c->req->keep_alive = llhttp_should_keep_alive(p);
    c->msg_complete = 1;
    return HPE_PAUSED;
}

static void settings_init(void)
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

static void conn_dispatch(conn_t *c)
{
    httpd_req_t *r = c->req;
    c->state = CONN_HANDLING;
    uv_timer_stop(&c->timer);
    c->srv->fn(r, c->srv->ud);
}

/* Parses buffered input and dispatches complete requests, one at a time. */
static void conn_run(conn_t *c)
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
    conn_t *c = hd->data;
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
    close_if_done(h);
}

/* A closing server is done once its listener, its connections and the
 * requests handlers still own (their clients gone) are all over: h is
 * freed only then, as those requests use it when they finish. */
static void close_if_done(httpd_t *h)
{
    if (!h->closing || h->nconns || h->listener_open || h->norphans)
        return;
    void (*done)(void *) = h->done;
    void *arg = h->done_arg;
    free(h);
    if (done)
        done(arg);
}

static void conn_close(conn_t *c)
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
            req_free(r);
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
    conn_t *c = t->data;
    switch (c->state) {
    case CONN_IDLE:
        conn_close(c);
        break;
    case CONN_HEADERS:
    case CONN_BODY:
        conn_send_error(c, 408, "request not received in time");
        break;
    case CONN_HANDLING:
        break;
    case CONN_LINGER:
        conn_close(c); /* the client did not finish within linger_timeout_ms */
        break;
    }
}

static void conn_arm_timer(conn_t *c)
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
    conn_t *c = hd->data;
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
    conn_t *c = s->data;
    (void)b;
    if (n < 0) {
        /* EOF or error: HTTP clients do not half-close, so the client is
         * gone; a request with the handler learns it via its abort cb. */
        c->eof = 1;
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    if (c->state == CONN_LINGER) {
        /* Discarded (on_alloc put it past in.len); closed once the budget is spent. */
        if ((size_t)n >= c->linger_left)
            conn_close(c);
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

static void conn_start_read(conn_t *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

static conn_t *conn_new(httpd_t *h)
{
    conn_t *c = mem_calloc(1, sizeof *c);
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

static void conn_start(conn_t *c)
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

static void on_connection(uv_stream_t *server, int status)
{
    httpd_t *h = server->data;
    if (status < 0)
        return;
    conn_t *c = conn_new(h);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || h->nconns > h->cfg.max_conns ||
        h->closing) {
        conn_close(c);
        return;
    }
    conn_start(c);
}

int httpd__adopt_fd(httpd_t *h, int fd)
{
    conn_t *c = conn_new(h);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        conn_close(c);
        return rc;
    }
    conn_start(c);
    return 0;
}

/* ---------------------------------------------------------------- server */

int httpd_listen_socket(const char *host, int port, int reuseport, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -EINVAL;
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return -EINVAL;
        sl = sizeof *a4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog > 0 ? backlog : 1024) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int httpd_create(httpd_t **out, uv_loop_t *loop, const httpd_config_t *cfg, httpd_handler_fn fn,
                 void *ud)
{
    settings_init();
    httpd_t *h = mem_calloc(1, sizeof *h);
    h->loop = loop;
    h->cfg = *cfg;
    if (h->cfg.max_headers == 0 || h->cfg.max_headers > HTTPD_HEADER_CAP)
        h->cfg.max_headers = HTTPD_HEADER_CAP;
    if (!h->cfg.server_name)
        h->cfg.server_name = "jsmcp";
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

static void on_listener_closed(uv_handle_t *hd)
{
    httpd_t *h = hd->data;
    h->listener_open = 0;
    close_if_done(h);
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
    for (conn_t *c = h->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE && c->in.len == 0)
            conn_close(c);
        else if (c->state == CONN_LINGER && c->writes_pending == 0)
            conn_close(c); /* its answer is out: no more waiting for the client */
        else if (c->state == CONN_LINGER)
            c->close_after_write = 1;
    }
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
