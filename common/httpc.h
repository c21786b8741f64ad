/* httpc: an HTTP client on libcurl's multi interface, driven by the libuv
 * loop (uv_poll per socket, one uv_timer), after curl's docs/examples/multi-uv.c.
 *
 * - Connections are kept in the multi handle's cache and reused per host;
 *   HTTP/2 is used where the server offers it over TLS (ALPN) and streams
 *   are multiplexed on one connection.
 * - Every request has a connect timeout and a total timeout, and a bounded
 *   response (body and headers); a bigger response fails the request with
 *   err "response too large" (status: the answer's, when its head came).
 * - Only http and https, no redirects are followed, no proxy from the
 *   environment unless allowed in the config.
 *
 * Callback rule: httpc_request() returns 0 and the callback runs exactly
 * once later, from the loop (never from inside httpc_request), or returns a
 * negative HTTPC_E* and the callback never runs. httpc_close() fails every
 * request still in flight with err "client closing" (their callbacks run
 * before httpc_close returns).
 */
#ifndef JSMCP_HTTPC_H
#define JSMCP_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTPC_EINVAL (-1)  /* bad arguments (method, URL scheme) */
#define HTTPC_EBUSY (-2)   /* max_inflight reached */
#define HTTPC_ECLOSED (-3) /* client is closing */

typedef struct httpc_s httpc_t;

typedef struct httpc_config_s {
    unsigned connect_timeout_ms;  /* default 5000 */
    unsigned timeout_ms;          /* whole request; default 30000 */
    size_t max_response_bytes;    /* body after decoding; default 8 MiB */
    size_t max_header_bytes;      /* all response headers; default 64 KiB */
    long max_host_connections;    /* per host; default 64 */
    long max_total_connections;   /* default 512 */
    size_t max_inflight;          /* requests; default 20000 */
    const char *user_agent;       /* default "jsmcp/1"; over 147 bytes: httpc_create fails */
} httpc_config_t;

/* One part of a multipart/form-data body (a file upload). */
typedef struct httpc_part_s {
    const char *name;             /* form field name, e.g. "file" */
    const char *filename;         /* may be NULL */
    const char *type;             /* Content-Type of the part; may be NULL */
    const char *data;             /* copied */
    size_t len;
} httpc_part_t;

typedef struct httpc_request_s {
    const char *method;           /* "GET", "POST", "PUT", "DELETE", "PATCH" */
    const char *url;              /* absolute http(s) URL, already encoded */
    const char *const *headers;   /* "Name: value" strings; NULL-terminated; may be NULL */
    const char *body;             /* copied; may be NULL */
    size_t body_len;
    const char *basic_user;       /* with basic_pass: Authorization: Basic */
    const char *basic_pass;
    unsigned timeout_ms;          /* 0 = config default */
    const httpc_part_t *parts;    /* nparts > 0: a multipart/form-data body (libcurl's */
    size_t nparts;                /* curl_mime, its own Content-Type) instead of body */
    int public_only;              /* connect to public addresses only (netguard.h), whatever the
                                   * name resolves to: err "refused: ... not a public address" */
} httpc_request_t;

typedef struct httpc_response_s {
    int status;                   /* HTTP status; 0 when no response (err set). With err
                                   * "response too large" the status that came, if any */
    const char *err;              /* NULL on a complete HTTP exchange, else why it failed */
    const char *body;             /* NUL-terminated ("" when empty) */
    size_t body_len;
    const char *headers;          /* raw header block of the final response */
    size_t headers_len;
    long http_version;            /* 11, 20, ... */
    double total_s;               /* curl's total time */
    int conn_reused;              /* 1 when no new connection was made */
} httpc_response_t;

/* The response and everything it points to is valid during the callback only. */
typedef void (*httpc_cb)(const httpc_response_t *resp, void *ud);

void httpc_config_defaults(httpc_config_t *cfg);
/* Returns 0 or -1 (curl multi could not be created). */
int httpc_create(httpc_t **out, uv_loop_t *loop, const httpc_config_t *cfg);
/* Fails in-flight requests (callbacks run now), closes connections and
 * handles, then calls done(arg) from a later loop callback and frees c. */
void httpc_close(httpc_t *c, void (*done)(void *arg), void *arg);

int httpc_request(httpc_t *c, const httpc_request_t *req, httpc_cb cb, void *ud);
/* Abandons the requests in flight whose ud is ud: their transfers are
 * removed from the multi handle (the connection is closed, so the server
 * sees its client leave) and their callbacks never run. Returns how many. */
size_t httpc_cancel(httpc_t *c, void *ud);
size_t httpc_inflight(const httpc_t *c);
/* Connections made so far (for tests of connection reuse). */
uint64_t httpc_connects(const httpc_t *c);

/* Case-insensitive response header lookup. Copies the (trimmed) value into
 * out and returns its length, or -1 when absent (or -2 when it does not fit). */
int httpc_resp_header(const httpc_response_t *r, const char *name, char *out, size_t outsz);

#endif
