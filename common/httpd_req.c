/* httpd_req: the request object of httpd (see httpd.h for the contract,
 * httpd_int.h for how the httpd files fit together): made when a message
 * begins, read by the handler through the httpd_req_* accessors, freed in
 * httpd_req_free() only. Calls nothing of the connection or the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "httpd_int.h"
#include "url.h"

/* splitmix64: cheap unique request ids, seeded from the kernel. */
uint64_t httpd_rid_next(httpd_t *h)
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

httpd_req_t *httpd_req_new(httpd_conn_t *c)
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

void httpd_req_free(httpd_req_t *r)
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
        httpd_close_if_done(h);
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

void httpd_req_take_ids(httpd_req_t *r)
{
    const char *rid = httpd_req_header(r, "X-Request-Id");
    if (rid && reqid_ok(rid))
        str_copy(r->reqid, sizeof r->reqid, rid);
    else
        reqid_hex(r->reqid, httpd_rid_next(r->srv));
    trace_parse(r);
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

/* A closing server is done once its listener, its connections and the
 * requests handlers still own (their clients gone) are all over: h is
 * freed only then, as those requests use it when they finish. */
void httpd_close_if_done(httpd_t *h)
{
    if (!h->closing || h->nconns || h->listener_open || h->norphans)
        return;
    void (*done)(void *) = h->done;
    void *arg = h->done_arg;
    free(h);
    if (done)
        done(arg);
}
