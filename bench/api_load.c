/* api_load: an open-loop HTTP load client for bench/api_create.sh.
 *
 * wrk is closed-loop: each connection sends its next request when the
 * previous answer is in, so with 16 connections the latency is by Little's
 * law 16 / throughput, whatever the server does. To measure "p50 at 2,000
 * creates/s" this client sends on a fixed schedule instead: request i is due
 * at t0 + i / rate and goes out on connection i % conns (keep-alive). When
 * that connection is still busy the request waits, and its latency counts
 * from when it was due, not from when it was sent (no coordinated omission).
 *
 *   api_load <port> <path> <bearer key> <rate/s> <seconds> [conns] [body]
 *
 * Prints offered and achieved rate, answers by class, and latency
 * percentiles (from the due time, and from the actual send) in ms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define RBUF 16384
#define QCAP 4096 /* due requests waiting on one connection */

typedef struct {
    int fd;
    int busy;
    int64_t due, sent;     /* of the request in flight */
    int64_t q[QCAP];       /* due times of requests waiting for this connection */
    size_t qh, qn;
    char rbuf[RBUF];
    size_t rlen;
} conn_t;

static conn_t conns[MAX_CONNS];
static int64_t *lat_due, *lat_sent;
static size_t nlat, cap_lat;
static long by_class[6], errors;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("api_load: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Small requests on loopback: a blocking write is fine and keeps it simple. */
static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror("api_load: write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void start_next(conn_t *c, const char *req, size_t reqlen)
{
    if (c->busy || c->qn == 0)
        return;
    c->due = c->q[c->qh];
    c->qh = (c->qh + 1) % QCAP;
    c->qn--;
    c->sent = now_ns();
    c->busy = 1;
    send_all(c->fd, req, reqlen);
}

static void record(conn_t *c, int status)
{
    int64_t t = now_ns();
    if (nlat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 65536;
        lat_due = realloc(lat_due, cap_lat * sizeof *lat_due);
        lat_sent = realloc(lat_sent, cap_lat * sizeof *lat_sent);
        if (!lat_due || !lat_sent)
            exit(1);
    }
    lat_due[nlat] = t - c->due;
    lat_sent[nlat++] = t - c->sent;
    by_class[status / 100 < 6 ? status / 100 : 0]++;
}

/* Consumes every complete response in the buffer (status line, headers
 * with Content-Length, body). Returns -1 on a response it cannot parse. */
static int parse(conn_t *c, const char *req, size_t reqlen)
{
    for (;;) {
        c->rbuf[c->rlen] = 0;
        char *end = strstr(c->rbuf, "\r\n\r\n");
        if (!end)
            return 0;
        int status = 0;
        if (sscanf(c->rbuf, "HTTP/1.%*d %d", &status) != 1)
            return -1;
        long clen = 0;
        for (char *h = strstr(c->rbuf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
            if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
                clen = strtol(h + 17, NULL, 10);
        size_t total = (size_t)(end + 4 - c->rbuf) + (size_t)clen;
        if (total >= RBUF)
            return -1;
        if (c->rlen < total)
            return 0;
        if (c->busy) {
            record(c, status);
            c->busy = 0;
        }
        memmove(c->rbuf, c->rbuf + total, c->rlen - total);
        c->rlen -= total;
        start_next(c, req, reqlen);
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: api_load <port> <path> <bearer key> <rate/s> <seconds> [conns] [body]\n");
        return 2;
    }
    int port = atoi(argv[1]), nconn = argc > 6 ? atoi(argv[6]) : 16;
    double rate = atof(argv[4]), secs = atof(argv[5]);
    const char *body = argc > 7 ? argv[7] : "{\"name\":\"bench\",\"config\":{\"methods\":[\"read\"]}}";
    if (nconn < 1 || nconn > MAX_CONNS || rate <= 0 || secs <= 0) {
        fprintf(stderr, "api_load: bad conns, rate or seconds\n");
        return 2;
    }
    char req[4096];
    int reqlen = snprintf(req, sizeof req,
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                          argv[2], port, argv[3], strlen(body), body);
    if (reqlen <= 0 || (size_t)reqlen >= sizeof req)
        return 2;

    int ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)MAX_CONNS};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = dial(port);
        ev.data.u32 = (uint32_t)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }

    const int64_t t0 = now_ns() + 1000000, period = (int64_t)(1e9 / rate);
    const long total = (long)(rate * secs);
    const int64_t deadline = t0 + (int64_t)(secs * 1e9) + 5000000000LL; /* 5 s to drain */
    long next = 0;
    for (;;) {
        int64_t t = now_ns();
        for (; next < total && t0 + next * period <= t; next++) {
            conn_t *c = &conns[next % nconn];
            if (c->qn == QCAP) {
                errors++; /* hopelessly behind: drop, counted */
                continue;
            }
            c->q[(c->qh + c->qn++) % QCAP] = t0 + next * period;
            start_next(c, req, (size_t)reqlen);
        }
        int inflight = 0;
        for (int i = 0; i < nconn; i++)
            inflight += conns[i].busy || conns[i].qn;
        if ((next >= total && !inflight) || t > deadline)
            break;
        if (next < total) {
            struct itimerspec its = {0};
            int64_t due = t0 + next * period;
            its.it_value.tv_sec = due / 1000000000;
            its.it_value.tv_nsec = due % 1000000000;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 100);
        for (int k = 0; k < n; k++) {
            uint32_t id = evs[k].data.u32;
            if (id == MAX_CONNS) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN)
                    perror("api_load: timerfd");
                continue;
            }
            conn_t *c = &conns[id];
            ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - 1 - c->rlen);
            if (r <= 0) {
                fprintf(stderr, "api_load: connection %u closed by the server\n", id);
                return 1;
            }
            c->rlen += (size_t)r;
            if (parse(c, req, (size_t)reqlen) != 0) {
                fprintf(stderr, "api_load: unparsable response: %.200s\n", c->rbuf);
                return 1;
            }
        }
    }
    double took = (double)(now_ns() - t0) / 1e9;
    qsort(lat_due, nlat, sizeof *lat_due, cmp64);
    qsort(lat_sent, nlat, sizeof *lat_sent, cmp64);
    printf("offered: %.0f/s for %.0f s over %d connections; answered %zu (%.0f/s)\n", rate, secs, nconn, nlat,
           (double)nlat / took);
    printf("answers: 2xx %ld  4xx %ld  5xx %ld  other %ld  dropped %ld\n", by_class[2], by_class[4], by_class[5],
           by_class[0] + by_class[1] + by_class[3], total - (long)nlat);
    printf("latency ms (from due time): p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", pct(lat_due, nlat, 50),
           pct(lat_due, nlat, 90), pct(lat_due, nlat, 99), nlat ? (double)lat_due[nlat - 1] / 1e6 : 0);
    printf("latency ms (from send):     p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", pct(lat_sent, nlat, 50),
           pct(lat_sent, nlat, 90), pct(lat_sent, nlat, 99), nlat ? (double)lat_sent[nlat - 1] / 1e6 : 0);
    free(lat_due);
    free(lat_sent);
    for (int i = 0; i < nconn; i++)
        close(conns[i].fd);
    close(tfd);
    close(ep);
    return by_class[2] == (long)nlat && nlat > 0 ? 0 : 1;
}
