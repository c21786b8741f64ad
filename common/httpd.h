/* httpd: an HTTP/1.1 server on libuv + llhttp, shared by the admin API, the
 * MCP workers and the JSM sandbox.
 *
 * Request lifecycle (the one rule every handler follows):
 *   The handler is called once per request, after the whole body arrived.
 *   It must eventually finish the request exactly once, either with
 *   httpd_respond() or with httpd_stream_begin() ... httpd_stream_end().
 *   It may do so later from any callback on the same loop. The request stays
 *   valid until then, even if the client went away: in that case the abort
 *   callback (httpd_req_on_abort) runs first and the later respond/stream_end
 *   only releases the request. Nothing else frees a request.
 *
 * One request per connection is handled at a time; pipelined requests wait.
 * Limits (all in httpd_config_t) answer as HTTP does: 431 header too large,
 * 413 body too large (also straight from Content-Length, before the body),
 * 400 bad request, 408 on header/body timeouts (slowloris), idle keep-alive
 * connections are closed after idle_timeout_ms.
 *
 * Lingering close: an error answered while the request is still arriving
 * (413, 431, 400) is followed by a shutdown of the write side, and what the
 * client still sends is read and thrown away (at most linger_max_bytes, for
 * at most linger_timeout_ms) before the connection closes. Closing at once
 * would make the kernel answer the client's next bytes with a TCP reset,
 * which destroys the unread answer at the client ("connection reset" instead
 * of the 413). The 408 of a timeout closes at once: that client is slow.
 *
 * Callbacks: a handler, abort or close callback never runs before the
 * call that set it up returns; a handler may finish its request at once
 * (inside the handler call is fine: that is after httpd gave it the request).
 */
#ifndef JSMCP_HTTPD_H
#define JSMCP_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct httpd_s httpd_t;
typedef struct httpd_req_s httpd_req_t;

typedef void (*httpd_handler_fn)(httpd_req_t *req, void *ud);
/* Runs when a request is finished (after the last byte was queued or the
 * client went away): for metrics and access logs. status 0 = aborted. */
typedef void (*httpd_complete_fn)(httpd_req_t *req, int status, void *ud);

typedef struct httpd_config_s {
    const char *host;          /* "127.0.0.1" */
    int port;                  /* 0 = any free port; see httpd_port() */
    int fd;                    /* >= 0: use this bound, listening socket instead */
    int reuseport;             /* set SO_REUSEPORT before bind (worker processes) */
    int backlog;
    size_t max_header_bytes;   /* request line + headers; default 16 KiB */
    size_t max_headers;        /* header count; default 100 */
    size_t max_body_bytes;     /* default 1 MiB */
    size_t max_conns;          /* default 20000 (at most 3/4 of RLIMIT_NOFILE); beyond, new connections are closed */
    size_t max_stream_queue;   /* bytes queued on a stream before writes fail; default 1 MiB */
    unsigned header_timeout_ms;/* whole header must arrive within; default 10 s */
    unsigned body_timeout_ms;  /* whole body must arrive within; default 30 s */
    unsigned idle_timeout_ms;  /* keep-alive idle; default 60 s */
    /* Lingering close after an error answer (see above): bytes read and
     * discarded at most (default 4 MiB), and for how long at most in all
     * (default 5 s; 0 = close at once). */
    size_t linger_max_bytes;
    unsigned linger_timeout_ms;
    const char *server_name;   /* Server: header; default "jsmcp" */
    httpd_complete_fn on_complete;
} httpd_config_t;

void httpd_config_defaults(httpd_config_t *cfg);

/* Binds and listens. Returns 0 or a negative libuv error. */
int httpd_create(httpd_t **out, uv_loop_t *loop, const httpd_config_t *cfg,
                 httpd_handler_fn fn, void *ud);
int httpd_port(const httpd_t *h);
size_t httpd_conn_count(const httpd_t *h);
/* The connections it takes at most: max_conns, or three quarters of the
 * process's descriptor limit when that is lower (httpd_create raises the
 * soft limit to the hard one first). */
size_t httpd_max_conns(const httpd_t *h);
/* Stops accepting, closes idle connections, lets in-flight requests finish
 * (streams must be ended by their owners), then calls done and frees h. */
void httpd_close(httpd_t *h, void (*done)(void *arg), void *arg);

/* Creates a listening TCP socket with SO_REUSEPORT (for forked workers).
 * Returns the fd or a negative errno. */
int httpd_listen_socket(const char *host, int port, int reuseport, int backlog);

/* ---- request accessors (valid until the request is finished) ---- */
const char *httpd_req_method(const httpd_req_t *req);   /* "GET" */
const char *httpd_req_path(const httpd_req_t *req);     /* raw path, no query */
const char *httpd_req_query(const httpd_req_t *req);    /* raw query, "" if none */
/* Case-insensitive; first value; NULL if absent. */
const char *httpd_req_header(const httpd_req_t *req, const char *name);
size_t httpd_req_header_count(const httpd_req_t *req);
void httpd_req_header_at(const httpd_req_t *req, size_t i, const char **name, const char **value);
const char *httpd_req_body(const httpd_req_t *req, size_t *len); /* NUL-terminated */
const char *httpd_req_remote(const httpd_req_t *req);   /* "127.0.0.1" */
/* X-Request-Id from the client when well formed ([A-Za-z0-9._-]{1,64}), else generated. */
const char *httpd_req_id(const httpd_req_t *req);
uint64_t httpd_req_start_ns(const httpd_req_t *req);    /* uv_hrtime() at first byte */
/* W3C Trace Context: the trace id (32 lowercase hex) of a valid traceparent
 * header, else a new random one made on the first call; the caller's span
 * id (16 hex, "" when it sent none) and its trace flags (bit 0: sampled). */
const char *httpd_req_trace_id(httpd_req_t *req);
const char *httpd_req_parent_span(const httpd_req_t *req);
int httpd_req_trace_flags(const httpd_req_t *req);
/* A traceparent for a call made while serving req: its trace id and flags
 * with a new span id (this server's own span). out >= 56 bytes. */
void httpd_req_child_traceparent(httpd_req_t *req, char *out, size_t outsz);
/* The route pattern that served the request (set by router_dispatch; NULL
 * when none matched), for metrics labels. pattern must outlive the request. */
void httpd_req_set_route(httpd_req_t *req, const char *pattern);
const char *httpd_req_route(const httpd_req_t *req);
httpd_t *httpd_req_server(const httpd_req_t *req);
uv_loop_t *httpd_req_loop(const httpd_req_t *req);
int httpd_req_aborted(const httpd_req_t *req);          /* client went away */
/* Per-request pointer for the application (e.g. its request context). */
void httpd_req_set_data(httpd_req_t *req, void *data);
void *httpd_req_data(const httpd_req_t *req);

/* Query parameter, percent-decoded ('+' is a space). Returns the decoded
 * length, -1 if absent, -2 if it does not fit in out (outsz incl. NUL). The
 * n-th occurrence for repeated parameters via httpd_query_param_nth. */
int httpd_query_param(const httpd_req_t *req, const char *name, char *out, size_t outsz);
int httpd_query_param_nth(const httpd_req_t *req, const char *name, int nth, char *out, size_t outsz);

/* Abort callback: the client closed the connection before the request was
 * finished. Runs at most once. The handler must still finish the request. */
void httpd_req_on_abort(httpd_req_t *req, void (*fn)(httpd_req_t *req, void *ud), void *ud);

/* ---- responses ---- */
/* Adds a response header (copied). Content-Length, Date, Connection, Server
 * and X-Request-Id are added by httpd. */
void httpd_resp_header(httpd_req_t *req, const char *name, const char *value);
/* Finishes the request with a complete response (body copied). */
void httpd_respond(httpd_req_t *req, int status, const char *content_type,
                   const char *body, size_t len);
/* Asks that the connection be closed after this response. */
void httpd_resp_close(httpd_req_t *req);
/* Finishes the request without an answer by resetting its connection
 * (SO_LINGER 0, then close: the peer gets a TCP RST, "connection reset by
 * peer"). For fault injection (the JSM sandbox). */
void httpd_reset(httpd_req_t *req);

/* Streaming (SSE): sends status and headers with chunked encoding.
 * Returns 0, or HTTPD_ECLOSED if the client is gone. */
int httpd_stream_begin(httpd_req_t *req, int status, const char *content_type);
/* Queues data. HTTPD_ESLOW when more than max_stream_queue bytes are still
 * unsent (a slow client: the caller should end the stream), HTTPD_ECLOSED
 * when the client is gone: the request's abort callback has run by then
 * (possibly from inside this call), so the caller must not end it again
 * on that account. */
int httpd_stream_write(httpd_req_t *req, const char *data, size_t len);
/* Sends the last chunk and finishes the request (keep-alive continues). */
void httpd_stream_end(httpd_req_t *req);
/* Finishes a stream without its last chunk and closes the connection once
 * what is queued is sent: the client sees the body end early ("transfer
 * closed with outstanding read data"). For fault injection. */
void httpd_stream_cut(httpd_req_t *req);
size_t httpd_stream_queued(const httpd_req_t *req);
/* Backpressure for a long stream: asks for fn once what is queued on the
 * connection falls to `below` bytes or less (run from a write completion,
 * never from inside this call). Returns 1 when it is there already (fn is
 * not registered: write on), 0 when fn was registered, HTTPD_ECLOSED when
 * the client is gone. If the client goes away first, fn never runs: the
 * abort callback does. */
int httpd_stream_on_drain(httpd_req_t *req, size_t below, void (*fn)(httpd_req_t *req, void *ud), void *ud);

#define HTTPD_ECLOSED (-1)
#define HTTPD_ESLOW (-2)

const char *httpd_status_text(int status);

/* For tests and fuzzers: serve an already connected stream socket (e.g. one
 * end of a socketpair) as if it had been accepted. */
int httpd__adopt_fd(httpd_t *h, int fd);

#endif
