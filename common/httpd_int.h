/* httpd_int: what the httpd files share and callers must not see (they use
 * httpd.h). Include it only from common/httpd*.c.
 *
 * The files, from the bottom up; each calls only the ones listed before it,
 * never one after, so they read in this order:
 *   httpd.c         what needs no server state: status texts, the default
 *                   config, the listening socket
 *   httpd_req.c     the request object: made, read (the httpd_req_*
 *                   accessors, query parameters, trace context), freed
 *   httpd_conn.c    one TCP connection: reading, parsing (llhttp callbacks),
 *                   writing bytes, timeouts, the errors httpd answers by
 *                   itself (400/408/413/431) and the lingering close after them
 *   httpd_resp.c    the handler's side of a request: httpd_respond, streams,
 *                   reset, the response head
 *   httpd_server.c  the server: created listening, accepting, closed
 * A connection and its writes call each other (a failed write closes the
 * connection, a finished request parses the next one), so they stay in one
 * file: httpd_conn.c.
 *
 * Ownership
 * - One httpd_conn_t per TCP connection, freed only in its close callback
 *   (after both the tcp and the timer handle closed).
 * - One httpd_req_t per request. It belongs to the connection while it is
 *   parsed; once handed to the handler it belongs to the handler until the
 *   handler finishes it (respond / stream_end). httpd_req_free() is the only
 *   place a request is freed. If the connection dies first, req->conn becomes
 *   NULL and the abort callback runs.
 * - Incoming bytes are appended to conn->in and parsed from there. The parser
 *   pauses at the end of each message, so a pipelined next request waits in
 *   conn->in until the current one is finished. We keep reading while a
 *   handler runs so that a client hang-up is noticed (abort); what arrives
 *   meanwhile is bounded by in_max.
 * - conn_run() (httpd_conn.c) is the only place that parses and dispatches,
 *   and it is not re-entered: a handler that responds synchronously just
 *   leaves the loop to pick up the next request.
 */
#ifndef JSMCP_HTTPD_INT_H
#define JSMCP_HTTPD_INT_H

#include <llhttp.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "httpd.h"

#define HTTPD_HEADER_CAP 128 /* hard cap on max_headers */

typedef struct httpd_conn_s httpd_conn_t;

enum conn_state {
    CONN_IDLE,     /* keep-alive, waiting for the first byte of a request */
    CONN_HEADERS,  /* request line and headers arriving */
    CONN_BODY,     /* body arriving */
    CONN_HANDLING, /* request is with the handler */
    CONN_LINGER,   /* error answered mid-request: discarding input until the client closes (bounded) */
};

struct httpd_req_s {
    httpd_conn_t *conn;     /* NULL once the connection is gone */
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

struct httpd_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    httpd_t *srv;
    httpd_conn_t *prev, *next;
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
    httpd_conn_t *conns;
    int closing;
    int listener_open;
    void (*done)(void *);
    void *done_arg;
    char date[40];
    int64_t date_sec;
    uint64_t rid_state;
};

/* One queued write: the bytes the kernel did not take at once (httpd_conn_write). */
typedef struct wreq_s {
    uv_write_t w;
    httpd_conn_t *conn;
    size_t len;
    char data[];
} wreq_t;

/* ---- httpd_req.c: the request object ---- */
/* A new request on c, its buffers limited by the server's config. */
httpd_req_t *httpd_req_new(httpd_conn_t *c);
/* Runs on_complete and frees r: the one place a request ends. The last
 * orphan request of a closing server lets the server finish closing. */
void httpd_req_free(httpd_req_t *r);
/* Once its headers are in: the request id (the client's X-Request-Id when
 * well formed, else a new one) and the trace context (traceparent). */
void httpd_req_take_ids(httpd_req_t *r);
/* A new request id for h (splitmix64, seeded from the kernel). */
uint64_t httpd_rid_next(httpd_t *h);
/* Frees a closing server once its listener, connections and orphan
 * requests are all gone, and calls its done callback. It is here, at the
 * bottom, because the last of those three to go can be any of them. */
void httpd_close_if_done(httpd_t *h);

/* ---- httpd_conn.c: one connection ---- */
/* The llhttp settings (callbacks) all connections share; once per process. */
void httpd_conn_parser_init(void);
/* A connection of h with its handles initialised, not yet reading. */
httpd_conn_t *httpd_conn_new(httpd_t *h);
/* Starts reading an accepted (or adopted) connection. */
void httpd_conn_start(httpd_conn_t *c);
/* Closes c (idempotent); a request its handler still owns is aborted. */
void httpd_conn_close(httpd_conn_t *c);
/* Queues bytes; 0 or HTTPD_ECLOSED (c is then closing). */
int httpd_conn_write(httpd_conn_t *c, const char *data, size_t len);
/* The handler is done with r: frees it, and the connection goes on with
 * the next request (or closes). */
void httpd_conn_req_done(httpd_req_t *r);
/* The Date header's value, formatted once a second. */
const char *httpd_date(httpd_t *h);

#endif
