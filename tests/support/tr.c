/* tr: see tr.h. */
#include "tr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define TR_MAX_REQS 4096
#define TR_MAX_HEAD 65536
#define TR_MAX_BODY (1024 * 1024)
#define TR_MAX_HELD 1024

struct tr_s {
    int fd, port, stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t mu;
    tr_req_t reqs[TR_MAX_REQS];
    size_t nreqs, nconns;
    int *script;
    size_t nscript, script_base;
    int then, delay_ms;
    char location[512];
    char *answer;          /* the body of every answer (NULL: "ok") */
    size_t answer_len;
    int hold;              /* tr_hold: requests are kept unanswered */
    int held[TR_MAX_HELD]; /* their connections */
    int held_status[TR_MAX_HELD];
    size_t nheld;
};

/* Reads until the end of the headers and then Content-Length bytes, 5 s
 * at most. Returns the total read, or -1. */
static long read_request(int fd, char *buf, size_t cap, size_t *head_len)
{
    size_t len = 0;
    long want = -1;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = 0;
        if (want < 0) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            *head_len = (size_t)(end - buf) + 4;
            long cl = 0;
            char *h = strcasestr(buf, "\r\ncontent-length:");
            if (h && h < end)
                cl = atol(h + 17);
            want = (long)*head_len + cl;
            if (want >= (long)cap)
                return -1;
        }
        if ((long)len >= want)
            return want;
    }
}

/* Writes the answer (status, the body tr_body set) to fd. */
static void answer(tr_t *t, int fd, int status, const char *location)
{
    pthread_mutex_lock(&t->mu);
    size_t blen = t->answer ? t->answer_len : 2;
    char *body = malloc(blen);
    memcpy(body, t->answer ? t->answer : "ok", blen);
    pthread_mutex_unlock(&t->mu);
    char head[1024];
    int len = snprintf(head, sizeof head,
                       "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n%s%s%s\r\n",
                       status, blen, status >= 300 && status < 400 ? "Location: " : "",
                       status >= 300 && status < 400 ? location : "", status >= 300 && status < 400 ? "\r\n" : "");
    /* Best effort, without SIGPIPE: a client that gave up (a timeout) closed its end. */
    ssize_t w = send(fd, head, (size_t)len, MSG_NOSIGNAL);
    for (size_t off = 0; w > 0 && off < blen; off += (size_t)w)
        w = send(fd, body + off, blen - off, MSG_NOSIGNAL);
    free(body);
}

/* Reads one request and records it; answers it, or with tr_hold keeps its
 * connection open (1: the caller must not close it). */
static int serve(tr_t *t, int fd)
{
    char *buf = malloc(TR_MAX_HEAD + TR_MAX_BODY);
    size_t head_len = 0;
    long n = read_request(fd, buf, TR_MAX_HEAD + TR_MAX_BODY, &head_len);
    if (n < 0) {
        free(buf);
        return 0;
    }
    tr_req_t q;
    memset(&q, 0, sizeof q);
    sscanf(buf, "%15s %511s", q.method, q.path);
    char *line_end = strstr(buf, "\r\n");
    q.headers = strndup(line_end + 2, head_len - (size_t)(line_end + 2 - buf));
    q.body_len = (size_t)n - head_len;
    q.body = malloc(q.body_len + 1);
    memcpy(q.body, buf + head_len, q.body_len);
    q.body[q.body_len] = 0;
    q.at_ms = clock_now_ms();
    free(buf);

    pthread_mutex_lock(&t->mu);
    size_t i = t->nreqs - t->script_base;
    int status = i < t->nscript ? t->script[i] : t->then, delay = t->delay_ms;
    char location[512];
    snprintf(location, sizeof location, "%s", t->location);
    q.answered = status;
    if (t->nreqs < TR_MAX_REQS)
        t->reqs[t->nreqs++] = q;
    else
        tr_req_free(&q);

    if (t->hold && t->nheld < TR_MAX_HELD) { /* answered by tr_release */
        t->held_status[t->nheld] = status;
        t->held[t->nheld++] = fd;
        pthread_mutex_unlock(&t->mu);
        return 1;
    }
    pthread_mutex_unlock(&t->mu);

    if (delay > 0) {
        struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    answer(t, fd, status, location);
    return 0;
}

static void *run(void *arg)
{
    tr_t *t = arg;
    for (;;) {
        struct pollfd p[2] = {{t->fd, POLLIN, 0}, {t->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept(t->fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&t->mu);
        t->nconns++;
        pthread_mutex_unlock(&t->mu);
        if (!serve(t, c))
            close(c);
    }
    return NULL;
}

tr_t *tr_start(void)
{
    tr_t *t = calloc(1, sizeof *t);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    t->then = 200;
    if (t->fd < 0 || bind(t->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(t->fd, 128) != 0 ||
        getsockname(t->fd, (struct sockaddr *)&sa, &sl) != 0 || pipe(t->stop_pipe) != 0) {
        free(t);
        return NULL;
    }
    t->port = ntohs(sa.sin_port);
    pthread_mutex_init(&t->mu, NULL);
    pthread_create(&t->thread, NULL, run, t);
    return t;
}

int tr_port(const tr_t *t)
{
    return t->port;
}

void tr_script(tr_t *t, const int *statuses, size_t n, int then, int delay_ms)
{
    pthread_mutex_lock(&t->mu);
    free(t->script);
    t->script = n ? malloc(n * sizeof *statuses) : NULL;
    if (n)
        memcpy(t->script, statuses, n * sizeof *statuses);
    t->nscript = n;
    t->script_base = t->nreqs;
    t->then = then;
    t->delay_ms = delay_ms;
    pthread_mutex_unlock(&t->mu);
}

void tr_redirect(tr_t *t, const char *location)
{
    pthread_mutex_lock(&t->mu);
    snprintf(t->location, sizeof t->location, "%s", location);
    pthread_mutex_unlock(&t->mu);
}

void tr_body(tr_t *t, const char *body, size_t len)
{
    pthread_mutex_lock(&t->mu);
    free(t->answer);
    t->answer = body ? malloc(len ? len : 1) : NULL;
    if (body)
        memcpy(t->answer, body, len);
    t->answer_len = len;
    pthread_mutex_unlock(&t->mu);
}

void tr_hold(tr_t *t)
{
    pthread_mutex_lock(&t->mu);
    t->hold = 1;
    pthread_mutex_unlock(&t->mu);
}

void tr_release(tr_t *t)
{
    pthread_mutex_lock(&t->mu);
    t->hold = 0;
    size_t n = t->nheld;
    int fds[TR_MAX_HELD], st[TR_MAX_HELD];
    memcpy(fds, t->held, n * sizeof *fds);
    memcpy(st, t->held_status, n * sizeof *st);
    t->nheld = 0;
    char location[512];
    snprintf(location, sizeof location, "%s", t->location);
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        answer(t, fds[i], st[i], location);
        close(fds[i]);
    }
}

size_t tr_count(tr_t *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->nreqs;
    pthread_mutex_unlock(&t->mu);
    return n;
}

size_t tr_connections(tr_t *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->nconns;
    pthread_mutex_unlock(&t->mu);
    return n;
}

int tr_wait(tr_t *t, size_t n, long timeout_ms)
{
    int64_t deadline = clock_now_ms() + timeout_ms;
    while (tr_count(t) < n) {
        if (clock_now_ms() > deadline)
            return 0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 1;
}

int tr_get(tr_t *t, size_t i, tr_req_t *out)
{
    pthread_mutex_lock(&t->mu);
    int ok = i < t->nreqs;
    if (ok) {
        *out = t->reqs[i];
        out->headers = strdup(t->reqs[i].headers);
        out->body = malloc(t->reqs[i].body_len + 1);
        memcpy(out->body, t->reqs[i].body, t->reqs[i].body_len + 1);
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

void tr_req_free(tr_req_t *q)
{
    free(q->headers);
    free(q->body);
    q->headers = q->body = NULL;
}

const char *tr_header(const tr_req_t *q, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    for (const char *p = q->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outsz, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

void tr_stop(tr_t *t)
{
    ssize_t w = write(t->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(t->thread, NULL);
    close(t->fd);
    close(t->stop_pipe[0]);
    close(t->stop_pipe[1]);
    for (size_t i = 0; i < t->nreqs; i++)
        tr_req_free(&t->reqs[i]);
    for (size_t i = 0; i < t->nheld; i++)
        close(t->held[i]);
    free(t->script);
    free(t->answer);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
