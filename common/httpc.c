/* httpc: see httpc.h for the contract.
 *
 * Design notes
 * - One httpc_call_t per request, freed only in call_finish() after its
 *   callback ran. Its easy handle goes back to a small free list (curl keeps
 *   connections in the multi handle, not in the easy handle).
 * - One sock_t per curl socket (uv_poll), created on the first
 *   CURLMOPT_SOCKETFUNCTION call for that socket. CURL_POLL_REMOVE only marks
 *   it idle: curl says that between two transfers on a kept-alive
 *   connection, and a fresh poll handle per transfer cost an init, two
 *   epoll_ctl calls and a close callback each time. An idle handle keeps
 *   watching (uv_poll_start changes cost epoll_ctl calls too) and stops at
 *   the first event (the peer closing the connection), without bothering
 *   curl, which will find the connection dead when it next wants it. The handle is closed when curl closes
 *   the socket (CURLOPT_CLOSESOCKETFUNCTION: the handle goes before the fd)
 *   and freed in its uv_close callback.
 * - curl does not always say when it closes a socket. libcurl 7.88 to 8.1
 *   (Debian 12 ships 7.88.1) closes a socket whose transfer ended before
 *   it connected without calling CLOSESOCKETFUNCTION, and curl closes a
 *   connection that failed (CURL_CSELECT_ERR) without it too. A poll
 *   handle left on such a descriptor makes libuv abort the process at its
 *   next loop turn (epoll_ctl: EBADF), and once the number is reused, its
 *   stop would take another module's descriptor out of epoll. So:
 *   - a handle polls its own duplicate of curl's socket (dup), never curl's
 *     descriptor: whatever curl closes, the handle's descriptor is open
 *     until the handle closes it, in its uv_close callback;
 *   - a socket is kept idle after CURL_POLL_REMOVE only when it is a
 *     connection that answered (curl waited to read from it) and did not
 *     fail; any other is closed at once;
 *   - a socket curl opens with the number of one we still hold (closed
 *     behind our back) retires the old handle first.
 * - curl_multi_socket_action() is never called from inside a curl callback:
 *   the timer callback from curl only (re)starts the uv timer; a timeout of 0
 *   fires on the next loop turn. httpc_request() (never called by curl)
 *   kicks a new transfer itself, so the request leaves at once.
 * - Completed transfers are collected after every socket_action call
 *   (check_done); user callbacks run there, outside of any curl call, so a
 *   callback may start new requests.
 */
#include "httpc.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netguard.h"

#define HTTPC_EASY_POOL 64

typedef struct httpc_call_s httpc_call_t;

struct httpc_call_s {
    httpc_t *c;
    CURL *easy;
    struct curl_slist *hdrs;
    char *reqbody;
    curl_mime *mime;   /* a multipart/form-data body (req->parts), or NULL */
    buf_t body;
    buf_t head;
    int too_big;
    int public_only;   /* httpc_request_t.public_only */
    int blocked;       /* a connection to a non-public address was refused */
    httpc_cb cb;
    void *ud;
    httpc_call_t *prev, *next;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct sock_s sock_t;
struct sock_s {
    uv_poll_t poll;
    httpc_t *c;
    curl_socket_t fd;  /* curl's socket: what curl is told about */
    int pfd;           /* the handle's own duplicate of it, closed with the handle */
    int closing;
    int idle;          /* after CURL_POLL_REMOVE, kept for the next transfer */
    int answered;      /* curl waited to read from it: a connection made and used */
    int failed;        /* curl was told of an error on it (CURL_CSELECT_ERR) */
    int events;        /* UV_READABLE/UV_WRITABLE the poll handle watches */
    sock_t *prev, *next;
};

struct httpc_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    httpc_config_t cfg;
    httpc_call_t *calls;
    size_t ncalls;
    CURL *pool[HTTPC_EASY_POOL];
    size_t npool;
    sock_t *socks;       /* polls not yet closing */
    /* Sockets curl opened for connections (cb_opensocket), by fd: curl
     * closes those through cb_closesocket. Any other socket it reports (the
     * threaded resolver's socketpair) it closes itself, unannounced. */
    unsigned char *conn_fds;
    size_t nconn_fds;
    size_t open_handles; /* timer + polls not yet closed */
    int closing;
    uint64_t connects;
    void (*done)(void *);
    void *done_arg;
    /* "User-Agent: ...", sent as one of the request's own headers: given
     * as CURLOPT_USERAGENT, libcurl would format it twice per transfer,
     * a byte at a time (see httpc_request). */
    char ua_header[160];
};

static int curl_inited;

static void on_sock_closed(uv_handle_t *h);

void httpc_config_defaults(httpc_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 5000;
    cfg->timeout_ms = 30000;
    cfg->max_response_bytes = 8u << 20;
    cfg->max_header_bytes = 64u << 10;
    cfg->max_host_connections = 64;
    cfg->max_total_connections = 512;
    cfg->max_inflight = 20000;
    cfg->user_agent = "jsmcp/1";
}

size_t httpc_inflight(const httpc_t *c)
{
    return c->ncalls;
}

uint64_t httpc_connects(const httpc_t *c)
{
    return c->connects;
}

/* ------------------------------------------------------------ call lifecycle */

static void call_unlink(httpc_call_t *k)
{
    httpc_t *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    c->ncalls--;
}

/* The one place a call ends: runs the callback once, returns the easy handle,
 * frees everything. The easy handle must already be out of the multi. */
static void call_finish(httpc_call_t *k, int status, const char *err)
{
    httpc_t *c = k->c;
    httpc_response_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.err = err;
    r.body = k->body.data ? k->body.data : "";
    r.body_len = k->body.len;
    r.headers = k->head.data ? k->head.data : "";
    r.headers_len = k->head.len;
    if (k->easy) {
        long v = 0;
        double t = 0;
        if (curl_easy_getinfo(k->easy, CURLINFO_HTTP_VERSION, &v) == CURLE_OK)
            r.http_version = v == CURL_HTTP_VERSION_2_0 ? 20 : v == CURL_HTTP_VERSION_3 ? 30
                           : v == CURL_HTTP_VERSION_1_0 ? 10 : 11;
        if (curl_easy_getinfo(k->easy, CURLINFO_TOTAL_TIME, &t) == CURLE_OK)
            r.total_s = t;
        long nconn = 0;
        if (curl_easy_getinfo(k->easy, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK) {
            r.conn_reused = nconn == 0;
            c->connects += (uint64_t)nconn;
        }
    }
    call_unlink(k);
    if (k->cb)
        k->cb(&r, k->ud);
    if (k->easy) {
        if (c->npool < HTTPC_EASY_POOL && !c->closing) {
            curl_easy_reset(k->easy);
            c->pool[c->npool++] = k->easy;
        } else {
            curl_easy_cleanup(k->easy);
        }
    }
    curl_slist_free_all(k->hdrs);
    curl_mime_free(k->mime);
    free(k->reqbody);
    buf_free(&k->body);
    buf_free(&k->head);
    free(k);
}

static void check_done(httpc_t *c)
{
    CURLMsg *msg;
    int left;
    /* A callback may close the client: stop reading messages then. */
    while (!c->closing && (msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        httpc_call_t *k = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&k);
        curl_multi_remove_handle(c->multi, easy);
        if (!k)
            continue;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        const char *err = NULL;
        if (res != CURLE_OK) {
            /* A response too large keeps its status: the server did answer
             * (a webhook receiver's 2xx is an answer whatever its body).
             * Any other failure has no status. */
            int too_big = !k->blocked && (k->too_big || res == CURLE_FILESIZE_EXCEEDED);
            if (!too_big)
                status = 0;
            if (k->blocked)
                err = "refused: the host is not a public address";
            else if (too_big)
                err = "response too large";
            else if (res == CURLE_OPERATION_TIMEDOUT)
                err = "upstream timed out";
            else if (res == CURLE_COULDNT_CONNECT)
                err = "upstream connection refused";
            else if (res == CURLE_COULDNT_RESOLVE_HOST)
                err = "upstream host not found";
            else if (res == CURLE_PARTIAL_FILE)
                err = "the answer was cut off: the connection closed before its end";
            else
                err = k->errbuf[0] ? k->errbuf : curl_easy_strerror(res);
        }
        call_finish(k, (int)status, err);
    }
}

/* ------------------------------------------------------------ curl <-> libuv */

static void sock_close(sock_t *s)
{
    httpc_t *c = s->c;
    if (s->closing)
        return;
    s->closing = 1;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* One of c's libuv handles has closed: the last one, once closing, frees c. */
static void handle_closed(httpc_t *c)
{
    c->open_handles--;
    if (c->closing && c->open_handles == 0) {
        void (*done)(void *) = c->done;
        void *arg = c->done_arg;
        free(c->conn_fds);
        free(c);
        if (done)
            done(arg);
    }
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_t *s = h->data;
    httpc_t *c = s->c;
    close(s->pfd);
    free(s);
    handle_closed(c);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_t *s = p->data;
    httpc_t *c = s->c;
    if (c->closing)
        return;
    if (s->idle) {
        uv_poll_stop(&s->poll);
        s->events = 0;
        return;
    }
    int flags = 0;
    if (status < 0) {
        /* POLLERR (a TCP reset, ...): libuv has stopped the handle. curl
         * is told the error and the events it waited for: with both, it
         * reads or writes and reports the socket's own error ("Connection
         * reset by peer"), which tells the agent more than CURL_CSELECT_ERR
         * alone ("select/poll returned error"). */
        events = s->events;
        s->events = 0;
        flags = CURL_CSELECT_ERR;
        s->failed = 1;
    }
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running = 0;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void on_timeout(uv_timer_t *t)
{
    httpc_t *c = t->data;
    if (c->closing)
        return;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int cb_timer(CURLM *multi, long timeout_ms, void *userp)
{
    httpc_t *c = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static sock_t *sock_by_fd(httpc_t *c, curl_socket_t fd)
{
    for (sock_t *s = c->socks; s; s = s->next)
        if (s->fd == fd)
            return s;
    return NULL;
}

static void conn_fd_mark(httpc_t *c, curl_socket_t fd, unsigned char on)
{
    if (fd < 0)
        return;
    if ((size_t)fd >= c->nconn_fds) {
        if (!on)
            return;
        size_t n = (size_t)fd + 64;
        c->conn_fds = mem_realloc(c->conn_fds, n);
        memset(c->conn_fds + c->nconn_fds, 0, n - c->nconn_fds);
        c->nconn_fds = n;
    }
    c->conn_fds[fd] = on;
}

static int is_conn_fd(const httpc_t *c, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < c->nconn_fds && c->conn_fds[fd];
}

/* Checked here, on the address curl is about to connect to, so a name
 * that resolves (or re-resolves) to a private address is refused too. */
static curl_socket_t cb_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    httpc_call_t *k = clientp;
    httpc_t *c = k->c;
    (void)purpose;
    if (k->public_only && !netguard_sockaddr_public(&a->addr)) {
        k->blocked = 1;
        return CURL_SOCKET_BAD;
    }
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd != CURL_SOCKET_BAD) {
        /* A handle still named after this number watches a socket curl
         * closed without telling (see the design notes): it goes now. */
        sock_t *stale = sock_by_fd(c, fd);
        if (stale)
            sock_close(stale);
        conn_fd_mark(c, fd, 1);
    }
    return fd;
}

/* curl closes a connection's socket: its poll handle goes first. */
static int cb_closesocket(void *clientp, curl_socket_t fd)
{
    httpc_t *c = clientp;
    sock_t *s = sock_by_fd(c, fd);
    if (s)
        sock_close(s);
    conn_fd_mark(c, fd, 0);
    return close(fd);
}

static int cb_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    httpc_t *c = userp;
    sock_t *s = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            if (is_conn_fd(c, fd) && s->answered && !s->failed)
                s->idle = 1; /* a kept-alive connection: its handle waits for the next transfer */
            else
                sock_close(s); /* curl may close it any moment, maybe without telling */
        }
        return 0;
    }
    if (!s)
        s = sock_by_fd(c, fd); /* a kept-alive connection's stopped handle */
    if (!s) {
        s = mem_calloc(1, sizeof *s);
        s->c = c;
        s->fd = fd;
        s->pfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (s->pfd < 0 || uv_poll_init_socket(c->loop, &s->poll, s->pfd) != 0) {
            if (s->pfd >= 0)
                close(s->pfd);
            free(s);
            return -1;
        }
        s->poll.data = s;
        c->open_handles++;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
    }
    if (s->idle || !socketp) {
        s->idle = 0;
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        ev |= UV_READABLE;
        s->answered = 1;
    }
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    if (ev != s->events) {
        s->events = ev;
        uv_poll_start(&s->poll, ev, on_poll);
    }
    return 0;
}

/* ------------------------------------------------------------ easy callbacks */

static size_t cb_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    httpc_call_t *k = ud;
    size_t n = size * nmemb;
    if (buf_append(&k->body, ptr, n) != 0) {
        k->too_big = 1;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t cb_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    httpc_call_t *k = ud;
    size_t n = size * nmemb;
    /* A new status line starts a new header block (1xx, or a retried request). */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        buf_reset(&k->head);
    if (buf_append(&k->head, ptr, n) != 0) {
        k->too_big = 1;
        return 0;
    }
    return n;
}

/* ------------------------------------------------------------ public */

int httpc_create(httpc_t **out, uv_loop_t *loop, const httpc_config_t *cfg)
{
    if (!curl_inited) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        curl_inited = 1;
    }
    httpc_t *c = mem_calloc(1, sizeof *c);
    c->loop = loop;
    if (cfg)
        c->cfg = *cfg;
    else
        httpc_config_defaults(&c->cfg);
    httpc_config_t d;
    httpc_config_defaults(&d);
    if (!c->cfg.connect_timeout_ms) c->cfg.connect_timeout_ms = d.connect_timeout_ms;
    if (!c->cfg.timeout_ms) c->cfg.timeout_ms = d.timeout_ms;
    if (!c->cfg.max_response_bytes) c->cfg.max_response_bytes = d.max_response_bytes;
    if (!c->cfg.max_header_bytes) c->cfg.max_header_bytes = d.max_header_bytes;
    if (!c->cfg.max_host_connections) c->cfg.max_host_connections = d.max_host_connections;
    if (!c->cfg.max_total_connections) c->cfg.max_total_connections = d.max_total_connections;
    if (!c->cfg.max_inflight) c->cfg.max_inflight = d.max_inflight;
    if (!c->cfg.user_agent) c->cfg.user_agent = d.user_agent;
    if (strlen(c->cfg.user_agent) + sizeof "User-Agent: " > sizeof c->ua_header) {
        free(c);
        return -1;
    }
    snprintf(c->ua_header, sizeof c->ua_header, "User-Agent: %s", c->cfg.user_agent);
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return -1;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, cb_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, cb_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->cfg.max_host_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->cfg.max_total_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->cfg.max_total_connections);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    *out = c;
    return 0;
}

static int method_ok(const char *m)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", NULL};
    for (int i = 0; ok[i]; i++)
        if (strcmp(m, ok[i]) == 0)
            return 1;
    return 0;
}

int httpc_request(httpc_t *c, const httpc_request_t *req, httpc_cb cb, void *ud)
{
    if (c->closing)
        return HTTPC_ECLOSED;
    if (!req || !req->url || !req->method || !cb || !method_ok(req->method))
        return HTTPC_EINVAL;
    if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)
        return HTTPC_EINVAL;
    if (c->ncalls >= c->cfg.max_inflight)
        return HTTPC_EBUSY;

    CURL *e = c->npool ? c->pool[--c->npool] : curl_easy_init();
    if (!e)
        return HTTPC_EBUSY;
    httpc_call_t *k = mem_calloc(1, sizeof *k);
    k->c = c;
    k->easy = e;
    k->cb = cb;
    k->ud = ud;
    k->public_only = req->public_only;
    buf_init(&k->body, c->cfg.max_response_bytes);
    buf_init(&k->head, c->cfg.max_header_bytes);

    /* curl parses the URL it is given and formats it again, character by
     * character, several times per transfer (its URL API and request
     * builder): for a Jira URL with a long fields= query that was a fifth
     * of the worker's instructions per tool call. So curl gets only the
     * origin, and the path and query, already encoded, go on the request
     * line as they are (CURLOPT_REQUEST_TARGET; same bytes on the wire). */
    const char *authority = req->url + (req->url[4] == ':' ? 7 : 8);
    const char *path = authority + strcspn(authority, "/?#");
    char origin[512];
    size_t olen = (size_t)(path - req->url);
    if (*path == '/' && olen + 2 <= sizeof origin && !strpbrk(path, "# \t\r\n")) {
        memcpy(origin, req->url, olen);
        memcpy(origin + olen, "/", 2);
        curl_easy_setopt(e, CURLOPT_URL, origin); /* curl copies both */
        curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, path);
    } else {
        curl_easy_setopt(e, CURLOPT_URL, req->url);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)k);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    /* gzip is what Atlassian's edge compresses with; naming only it (not
     * "", which lists every decoder this libcurl has) keeps the request
     * head short: libcurl formats this header twice per transfer, a byte
     * at a time. */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms ? req->timeout_ms : c->cfg.timeout_ms));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->cfg.max_response_bytes);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, cb_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, cb_opensocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, k);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, cb_closesocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    /* No proxy from the environment: upstream calls go where the account says. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");

    if (req->basic_user && req->basic_pass) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, req->basic_pass);
    }
    int own_ua = 0; /* a caller's own User-Agent replaces ours, as it would CURLOPT_USERAGENT */
    if (req->headers)
        for (size_t i = 0; req->headers[i]; i++) {
            own_ua |= strncasecmp(req->headers[i], "User-Agent:", 11) == 0;
            k->hdrs = curl_slist_append(k->hdrs, req->headers[i]);
        }
    if (!own_ua)
        k->hdrs = curl_slist_append(k->hdrs, c->ua_header);
    /* curl adds "Expect: 100-continue" to bigger POSTs: a round trip we do not want. */
    k->hdrs = curl_slist_append(k->hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->nparts) {
            /* multipart/form-data: curl writes the boundary and the parts'
             * headers; the data is copied (curl_mime_data). */
            k->mime = curl_mime_init(e);
            for (size_t i = 0; i < req->nparts; i++) {
                const httpc_part_t *pt = &req->parts[i];
                curl_mimepart *mp = curl_mime_addpart(k->mime);
                curl_mime_name(mp, pt->name);
                curl_mime_data(mp, pt->data ? pt->data : "", pt->len);
                if (pt->filename)
                    curl_mime_filename(mp, pt->filename);
                if (pt->type)
                    curl_mime_type(mp, pt->type);
            }
            curl_easy_setopt(e, CURLOPT_MIMEPOST, k->mime);
        } else {
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            k->reqbody = mem_strndup(req->body ? req->body : "", req->body ? req->body_len : 0);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->reqbody);
        }
    }

    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    c->ncalls++;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        call_unlink(k);
        curl_slist_free_all(k->hdrs);
        curl_easy_cleanup(e);
        curl_mime_free(k->mime);
        free(k->reqbody);
        free(k);
        return HTTPC_EBUSY;
    }
    /* Start the transfer now rather than from the 0 ms timer curl just
     * asked for: that would cost a loop turn (an epoll_wait) before the
     * request is sent. Completions are not delivered from here (cb never
     * runs inside httpc_request): a transfer that already ended (running
     * is short of our count) is collected on the next turn. */
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (running < (int)c->ncalls)
        uv_timer_start(&c->timer, on_timeout, 0, 0);
    return 0;
}

size_t httpc_cancel(httpc_t *c, void *ud)
{
    size_t n = 0;
    for (httpc_call_t *k = c->calls, *next; k; k = next) {
        next = k->next;
        if (k->ud != ud)
            continue;
        /* Out of the multi mid-transfer: curl closes the connection (it
         * cannot be reused with a response half read), so the server sees
         * its client go away. */
        curl_multi_remove_handle(c->multi, k->easy);
        k->cb = NULL;
        call_finish(k, 0, "cancelled");
        n++;
    }
    return n;
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

void httpc_close(httpc_t *c, void (*done)(void *), void *arg)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    c->done = done;
    c->done_arg = arg;
    while (c->calls) {
        httpc_call_t *k = c->calls;
        curl_multi_remove_handle(c->multi, k->easy);
        call_finish(k, 0, "client closing");
    }
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    c->npool = 0;
    /* Closes cached connections; their sockets get CURL_POLL_REMOVE. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

int httpc_resp_header(const httpc_response_t *r, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    const char *end = r->headers + r->headers_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t n = (size_t)(ve - v);
            if (n + 1 > outsz)
                return -2;
            memcpy(out, v, n);
            out[n] = 0;
            return (int)n;
        }
        p = eol + 1;
    }
    return -1;
}
