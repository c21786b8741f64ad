/* rcli against the real Redis of tests/run.sh (JSMCP_TEST_REDIS_URL), with a
 * unique key prefix: commands with binary data, nil and error replies,
 * prefixing, pub/sub, reconnect after CLIENT KILL (commands and pub/sub),
 * fail-fast when Redis is down, the command timeout, AUTH and SELECT, URL
 * errors, close with commands in flight (every callback exactly once), and
 * the heartbeat that remakes a pub/sub connection that silently stopped
 * receiving (through a TCP proxy the test can freeze). A guard timer turns
 * a hang into a failure. */
/* POLLRDHUP needs _GNU_SOURCE, which the Makefile defines. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rcli.h"
#include "tl.h"
#include "ts.h"

static uv_loop_t loop;
static const char *redis_url;
static char prefix[64];
static redisContext *side; /* blocking connection for setup, PUBLISH, CLIENT KILL */

static void setup(void)
{
    redis_url = getenv("JSMCP_TEST_REDIS_URL");
    cr_assert_not_null(redis_url, "JSMCP_TEST_REDIS_URL is not set (run through tests/run.sh)");
    tl_init(&loop);
    ts_redis_prefix(prefix, sizeof prefix);
    char err[256];
    side = rcli_connect_blocking(redis_url, err, sizeof err);
    cr_assert_not_null(side, "%s", err);
}

static void teardown(void)
{
    tl_fini();
    redisFree(side);
}

TestSuite(rcli, .init = setup, .fini = teardown, .timeout = 20);

#define run_until tl_run_until
#define run_for tl_run_for

static int is_ready(const void *r)
{
    return rcli_ready(r);
}

static rcli_t *client_url(const char *url, unsigned cmd_timeout_ms)
{
    rcli_config_t cfg = {.url = url, .prefix = prefix, .command_timeout_ms = cmd_timeout_ms};
    rcli_t *r;
    cr_assert_eq(rcli_create(&r, &loop, &cfg), 0);
    return r;
}

static rcli_t *client(void)
{
    return client_url(redis_url, 0);
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

static void close_client(rcli_t *r)
{
    int closed = 0;
    rcli_close(r, on_closed, &closed);
    run_until(&closed, 1, 3000);
}

static void wait_ready(rcli_t *r)
{
    tl_run_until_pred(is_ready, r, 3000, "connected");
}

/* ------------------------------------------------------------ replies */

typedef struct rep_s {
    int calls;
    int type; /* -1 when no reply */
    char err[128];
    char str[512];
    size_t len;
    long long integer;
} rep_t;

static void on_rep(redisReply *reply, const char *err, void *ud)
{
    rep_t *r = ud;
    r->calls++;
    snprintf(r->err, sizeof r->err, "%s", err ? err : "");
    r->type = reply ? reply->type : -1;
    r->len = 0;
    if (reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_ERROR ||
                  reply->type == REDIS_REPLY_STATUS)) {
        r->len = reply->len < sizeof r->str ? reply->len : sizeof r->str - 1;
        memcpy(r->str, reply->str, r->len);
        r->str[r->len] = '\0';
    }
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        r->integer = reply->integer;
}

#define CMD(r, rep, ...)                                                      \
    do {                                                                      \
        memset((rep), 0, sizeof *(rep));                                      \
        cr_assert_eq(rcli_command((r), on_rep, (rep), __VA_ARGS__), 0);       \
        run_until(&(rep)->calls, 1, 3000);                                    \
    } while (0)

static void side_cmd(const char *fmt, const char *arg)
{
    redisReply *rep = redisCommand(side, fmt, arg);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s", rep ? rep->str : side->errstr);
    freeReplyObject(rep);
}

/* ------------------------------------------------------------ tests */

Test(rcli, commands_binary_nil_errors_and_keys)
{
    rcli_t *r = client();
    char key[128];
    cr_assert_str_eq(rcli_key(r, key, sizeof key, "srv:%s", "abc"), key);
    cr_assert_eq(strncmp(key, prefix, strlen(prefix)), 0);
    cr_assert_str_eq(key + strlen(prefix), "srv:abc");
    cr_assert_str_eq(rcli_prefix(r), prefix);

    /* Accepted before the connection is up: queued behind the connect. */
    rep_t a;
    CMD(r, &a, "PING");
    cr_assert(a.type == REDIS_REPLY_STATUS && strcmp(a.str, "PONG") == 0);

    const char bin[] = "a\0b\r\n\xff z";
    const char *argv[] = {"SET", key, bin};
    size_t lens[] = {3, strlen(key), sizeof bin - 1};
    memset(&a, 0, sizeof a);
    cr_assert_eq(rcli_command_argv(r, on_rep, &a, 3, argv, lens), 0);
    run_until(&a.calls, 1, 3000);
    cr_assert_str_eq(a.str, "OK");
    CMD(r, &a, "GET %s", key);
    cr_assert_eq(a.type, REDIS_REPLY_STRING);
    cr_assert_eq(a.len, sizeof bin - 1);
    cr_assert_eq(memcmp(a.str, bin, a.len), 0);
    CMD(r, &a, "STRLEN %b", key, strlen(key));
    cr_assert_eq(a.integer, (long long)(sizeof bin - 1));

    /* rcli formats argv itself: an empty argument, lengths from strlen,
     * and a command longer than its stack buffer. */
    const char *hset[] = {"HSET", key, "", "empty-field", "f2", ""};
    CMD(r, &a, "DEL %s", key);
    memset(&a, 0, sizeof a);
    cr_assert_eq(rcli_command_argv(r, on_rep, &a, 6, hset, NULL), 0);
    run_until(&a.calls, 1, 3000);
    cr_assert_eq(a.integer, 2, "%s", a.str);
    CMD(r, &a, "HGET %s %b", key, "", (size_t)0);
    cr_assert_str_eq(a.str, "empty-field");
    CMD(r, &a, "HSTRLEN %s f2", key);
    cr_assert_eq(a.integer, 0);
    size_t biglen = 100000;
    char *big = malloc(biglen);
    for (size_t i = 0; i < biglen; i++)
        big[i] = (char)(i * 7);
    const char *setbig[] = {"SET", key, big};
    size_t biglens[] = {3, strlen(key), biglen};
    memset(&a, 0, sizeof a);
    cr_assert_eq(rcli_command_argv(r, on_rep, &a, 3, setbig, biglens), 0);
    run_until(&a.calls, 1, 3000);
    cr_assert_str_eq(a.str, "OK");
    redisReply *got = redisCommand(side, "GET %s", key);
    cr_assert(got && got->type == REDIS_REPLY_STRING && got->len == biglen && memcmp(got->str, big, biglen) == 0,
              "the 100 KB value arrives whole");
    freeReplyObject(got);
    free(big);

    char missing[128];
    CMD(r, &a, "GET %s", rcli_key(r, missing, sizeof missing, "missing"));
    cr_assert_eq(a.type, REDIS_REPLY_NIL, "a nil is a reply, not an error");
    cr_assert_str_eq(a.err, "");

    CMD(r, &a, "INCR %s", key);
    cr_assert_eq(a.type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(a.err, "", "Redis errors are replies");
    cr_assert_not_null(strstr(a.str, "not an integer"), "%s", a.str);
    CMD(r, &a, "NOSUCHCOMMAND x");
    cr_assert_eq(a.type, REDIS_REPLY_ERROR);

    CMD(r, &a, "DEL %s", key);
    cr_assert_eq(a.integer, 1);
    /* Fire and forget: no callback. */
    cr_assert_eq(rcli_command(r, NULL, NULL, "SET %s v", key), 0);
    CMD(r, &a, "GETDEL %s", key);
    cr_assert_str_eq(a.str, "v");
    close_client(r);
}

typedef struct msgs_s {
    int n;
    char last[256];
    size_t len;
    char channel[128];
} msgs_t;

static void on_msg(const char *channel, const char *msg, size_t len, void *ud)
{
    msgs_t *m = ud;
    m->n++;
    m->len = len < sizeof m->last ? len : sizeof m->last - 1;
    memcpy(m->last, msg, m->len);
    m->last[m->len] = '\0';
    snprintf(m->channel, sizeof m->channel, "%s", channel);
}

static void wait_numsub(const char *ch, long long want)
{
    for (int i = 0; i < 300; i++) {
        redisReply *rep = redisCommand(side, "PUBSUB NUMSUB %s", ch);
        cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2);
        long long n = rep->element[1]->integer;
        freeReplyObject(rep);
        if (n == want)
            return;
        run_for(10);
    }
    cr_assert_fail("channel %s never had %lld subscribers", ch, want);
}

static void publish(const char *ch, const char *msg, size_t len)
{
    redisReply *rep = redisCommand(side, "PUBLISH %s %b", ch, msg, len);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
}

Test(rcli, pubsub_and_restore_after_kill)
{
    rcli_t *r = client();
    char ch[128], ch2[128];
    rcli_key(r, ch, sizeof ch, "ssech:%s", "s1");
    rcli_key(r, ch2, sizeof ch2, "ssech:%s", "s2");
    msgs_t m = {0}, m2 = {0};
    cr_assert_eq(rcli_subscribe(r, ch, on_msg, &m), 0);
    cr_assert_eq(rcli_subscribe(r, ch, on_msg, &m), -1, "one subscriber per channel");
    wait_numsub(ch, 1);
    publish(ch, "hi\0there", 8);
    run_until(&m.n, 1, 3000);
    cr_assert_eq(m.len, 8);
    cr_assert_eq(memcmp(m.last, "hi\0there", 8), 0);
    cr_assert_str_eq(m.channel, ch);

    /* A second channel on the live connection. */
    cr_assert_eq(rcli_subscribe(r, ch2, on_msg, &m2), 0);
    wait_numsub(ch2, 1);

    /* Kill the pub/sub connection: both subscriptions come back. */
    side_cmd("CLIENT KILL TYPE %s", "pubsub");
    wait_numsub(ch, 0);
    wait_numsub(ch, 1);
    wait_numsub(ch2, 1);
    publish(ch, "after", 5);
    publish(ch2, "two", 3);
    run_until(&m.n, 2, 3000);
    run_until(&m2.n, 1, 3000);
    cr_assert_str_eq(m.last + 0, "after");
    cr_assert_eq(m2.len, 3);

    cr_assert_eq(rcli_unsubscribe(r, ch), 0);
    cr_assert_eq(rcli_unsubscribe(r, ch), -1);
    wait_numsub(ch, 0);
    publish(ch, "ignored", 7);
    run_for(50);
    cr_assert_eq(m.n, 2);
    close_client(r);
}

/* 1 once Redis shows the client (arg: its id) blocked in a command. */
static int client_blocked(const void *arg)
{
    redisReply *rep = redisCommand(side, "CLIENT LIST ID %s", (const char *)arg);
    int blocked = rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cmd=blpop") &&
                  strstr(rep->str, " flags=b");
    freeReplyObject(rep);
    return blocked;
}

Test(rcli, reconnects_after_client_kill)
{
    rcli_t *r = client();
    rep_t a;
    CMD(r, &a, "CLIENT ID");
    long long id1 = a.integer;
    /* By id rather than TYPE normal, so that tests running in parallel
     * (criterion --jobs N) keep their connections. */
    char id[32];
    snprintf(id, sizeof id, "%lld", id1);
    side_cmd("CLIENT KILL ID %s", id);
    /* The next command either fails with the loss, or runs on the new
     * connection; within a short while the client is back. */
    memset(&a, 0, sizeof a);
    if (rcli_command(r, on_rep, &a, "PING") == 0) {
        run_until(&a.calls, 1, 3000);
        cr_assert(a.type == REDIS_REPLY_STATUS || strcmp(a.err, "redis connection lost") == 0,
                  "%s", a.err);
    }
    run_for(50);
    wait_ready(r);
    CMD(r, &a, "CLIENT ID");
    cr_assert_str_eq(a.err, "");
    cr_assert_neq(a.integer, id1, "a new connection");
    snprintf(id, sizeof id, "%lld", a.integer);

    /* In flight when killed: fails once with the loss. */
    char key[128];
    rcli_key(r, key, sizeof key, "blk");
    rep_t b = {0};
    cr_assert_eq(rcli_command(r, on_rep, &b, "BLPOP %s 3", key), 0);
    tl_poll_until(client_blocked, id, "the BLPOP blocking in Redis");
    side_cmd("CLIENT KILL ID %s", id);
    run_until(&b.calls, 1, 2000);
    cr_assert_str_eq(b.err, "redis connection lost");
    wait_ready(r);
    CMD(r, &a, "PING");
    cr_assert_str_eq(a.str, "PONG");
    run_for(50);
    cr_assert_eq(b.calls, 1);
    close_client(r);
}

Test(rcli, unavailable_fails_fast)
{
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", ts_free_port());
    rcli_t *r = client_url(url, 0);
    rep_t a = {0};
    /* The first attempt is still running: accepted, then failed. */
    cr_assert_eq(rcli_command(r, on_rep, &a, "PING"), 0);
    run_until(&a.calls, 1, 3000);
    cr_assert_str_eq(a.err, "redis unavailable");
    cr_assert_eq(a.type, -1);
    cr_assert_not(rcli_ready(r));
    /* Now known down: refused on the spot, callback never runs. */
    rep_t b = {0};
    cr_assert_eq(rcli_command(r, on_rep, &b, "PING"), -1);
    const char *argv[] = {"PING"};
    cr_assert_eq(rcli_command_argv(r, on_rep, &b, 1, argv, NULL), -1);
    run_for(400); /* some reconnect attempts */
    cr_assert_eq(rcli_command(r, on_rep, &b, "PING"), -1);
    cr_assert_eq(b.calls, 0);
    close_client(r);
}

Test(rcli, command_timeout_drops_and_reconnects)
{
    rcli_t *r = client_url(redis_url, 300);
    wait_ready(r);
    char key[128];
    rcli_key(r, key, sizeof key, "blk");
    rep_t a = {0}, b = {0}, c;
    cr_assert_eq(rcli_command(r, on_rep, &a, "BLPOP %s 3", key), 0);
    cr_assert_eq(rcli_command(r, on_rep, &b, "PING"), 0);
    run_until(&b.calls, 1, 2500);
    cr_assert_eq(a.calls, 1);
    cr_assert_str_eq(a.err, "redis timeout");
    cr_assert_str_eq(b.err, "redis timeout", "stuck behind it on the same connection");
    wait_ready(r);
    CMD(r, &c, "PING");
    cr_assert_str_eq(c.str, "PONG");
    run_for(50);
    cr_assert(a.calls == 1 && b.calls == 1);
    close_client(r);
}

Test(rcli, auth_and_select)
{
    char user[64], url[256];
    snprintf(user, sizeof user, "rclit%d", (int)getpid());
    redisReply *rep = redisCommand(side, "ACL SETUSER %s on >p@ss ~* &* +@all", user);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", rep ? rep->str : "");
    freeReplyObject(rep);
    const char *port = strrchr(redis_url, ':') + 1;
    snprintf(url, sizeof url, "redis://%s:p%%40ss@127.0.0.1:%d/3", user, atoi(port));
    rcli_t *r = client_url(url, 0);
    rep_t a;
    CMD(r, &a, "ACL WHOAMI");
    cr_assert_str_eq(a.str, user);
    CMD(r, &a, "CLIENT INFO");
    cr_assert_not_null(strstr(a.str, " db=3 "), "%s", a.str);
    close_client(r);

    char err[256];
    redisContext *b = rcli_connect_blocking(url, err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    redisFree(b);
    snprintf(url, sizeof url, "redis://%s:wrong@127.0.0.1:%d/3", user, atoi(port));
    cr_assert_null(rcli_connect_blocking(url, err, sizeof err));
    cr_assert_not_null(strstr(err, "AUTH"), "%s", err);
    cr_assert_null(strstr(err, "wrong"), "no password in errors: %s", err);
    side_cmd("ACL DELUSER %s", user);
}

Test(rcli, bad_urls)
{
    static const char *bad[] = {
        "http://127.0.0.1:6379", "redis://", "redis://:6379", "redis://host:0",
        "redis://host:70000", "redis://host:12x", "redis://host/abc", "redis://pass@host",
        "redis://[::1", "redis://:p%zz@host",
    };
    rcli_config_t cfg = {0};
    rcli_t *r;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.url = bad[i];
        cr_assert_eq(rcli_create(&r, &loop, &cfg), -1, "%s", bad[i]);
        err[0] = '\0';
        cr_assert_null(rcli_connect_blocking(bad[i], err, sizeof err), "%s", bad[i]);
        cr_assert_not_null(strstr(err, "redis URL"), "%s: %s", bad[i], err);
    }
}

static int close_cbs;
static void on_count(redisReply *reply, const char *err, void *ud)
{
    rep_t *r = ud;
    r->calls++;
    close_cbs++;
    snprintf(r->err, sizeof r->err, "%s", err ? err : "");
}

Test(rcli, close_with_commands_in_flight)
{
    rcli_t *r = client();
    wait_ready(r);
    msgs_t m = {0};
    char ch[128];
    cr_assert_eq(rcli_subscribe(r, rcli_key(r, ch, sizeof ch, "c"), on_msg, &m), 0);
    static rep_t reps[500];
    memset(reps, 0, sizeof reps);
    close_cbs = 0;
    for (int i = 0; i < 500; i++)
        cr_assert_eq(rcli_command(r, on_count, &reps[i], "PING"), 0);
    int closed = 0;
    rcli_close(r, on_closed, &closed);
    cr_assert_eq(close_cbs, 500, "failed on the spot");
    for (int i = 0; i < 500; i++)
        cr_assert(reps[i].calls == 1 && strcmp(reps[i].err, "client closing") == 0);
    run_until(&closed, 1, 3000);
    run_for(50);
    cr_assert_eq(close_cbs, 500);
}

static rcli_t *closing_client;
static int closing_calls, cb_closed;
static void on_close_from_cb(redisReply *reply, const char *err, void *ud)
{
    rep_t *r = ud;
    r->calls++;
    closing_calls++;
    snprintf(r->err, sizeof r->err, "%s", err ? err : "");
    if (closing_calls == 1)
        rcli_close(closing_client, on_closed, &cb_closed);
}

Test(rcli, close_from_inside_a_callback)
{
    rcli_t *r = client();
    wait_ready(r);
    closing_client = r;
    closing_calls = 0;
    cb_closed = 0;
    static rep_t reps[20];
    memset(reps, 0, sizeof reps);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(rcli_command(r, on_close_from_cb, &reps[i], "PING"), 0);
    run_until(&closing_calls, 20, 3000);
    run_for(50);
    cr_assert_eq(closing_calls, 20);
    cr_assert_eq(cb_closed, 1);
    cr_assert_str_eq(reps[0].err, "");
    for (int i = 1; i < 20; i++)
        cr_assert(reps[i].calls == 1 && strcmp(reps[i].err, "client closing") == 0, "%d: %s", i,
                  reps[i].err);
}

/* ------------------------------------------------------------ silent pub/sub */

/* A TCP proxy in front of the test Redis, on its own thread. Its n-th
 * accepted connection (0: rcli's command connection, 1: its first pub/sub
 * connection) can be
 * - frozen: no byte flows either way, both sockets stay open, as when a peer
 *   or a NAT silently dropped the flow (the client closing its side still
 *   closes both);
 * - orphaned: when Redis closes it, the client's side stays open and mute,
 *   as behind a proxy that lost its backend but kept the client. */
#define PX_MAX 16
typedef struct proxy_s {
    int lfd, port;
    pthread_t th;
    atomic_int stop, accepted, frozen, orphaned;
    int cfd[PX_MAX], ufd[PX_MAX];
    atomic_int uport[PX_MAX]; /* the upstream side's local port, for CLIENT KILL */
} proxy_t;

static int px_redis_port(void)
{
    return atoi(strrchr(redis_url, ':') + 1);
}

static void px_close(proxy_t *px, int i, int keep_client)
{
    if (px->ufd[i] >= 0)
        close(px->ufd[i]);
    px->ufd[i] = -1;
    if (!keep_client) {
        if (px->cfd[i] >= 0)
            close(px->cfd[i]);
        px->cfd[i] = -1;
    }
}

static int px_pump(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void *px_run(void *arg)
{
    proxy_t *px = arg;
    while (!atomic_load(&px->stop)) {
        struct pollfd pf[1 + 2 * PX_MAX];
        int who[1 + 2 * PX_MAX], np = 0;
        pf[np] = (struct pollfd){.fd = px->lfd, .events = POLLIN};
        who[np++] = -1;
        int na = atomic_load(&px->accepted);
        for (int i = 0; i < na; i++) {
            int frozen = atomic_load(&px->frozen) == i;
            if (px->cfd[i] >= 0) {
                pf[np] = (struct pollfd){.fd = px->cfd[i], .events = frozen ? POLLRDHUP : POLLIN};
                who[np++] = i;
            }
            if (px->ufd[i] >= 0 && !frozen) {
                pf[np] = (struct pollfd){.fd = px->ufd[i], .events = POLLIN};
                who[np++] = PX_MAX + i;
            }
        }
        if (poll(pf, (nfds_t)np, 20) <= 0)
            continue;
        for (int k = 0; k < np; k++) {
            if (!pf[k].revents)
                continue;
            if (who[k] == -1) {
                int c = accept(px->lfd, NULL, NULL);
                int i = atomic_load(&px->accepted);
                if (c < 0 || i >= PX_MAX) {
                    if (c >= 0)
                        close(c);
                    continue;
                }
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)px_redis_port())};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                int u = socket(AF_INET, SOCK_STREAM, 0);
                if (connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
                    close(u);
                    close(c);
                    continue;
                }
                struct sockaddr_in l;
                socklen_t ll = sizeof l;
                getsockname(u, (struct sockaddr *)&l, &ll);
                px->cfd[i] = c;
                px->ufd[i] = u;
                atomic_store(&px->uport[i], ntohs(l.sin_port));
                atomic_store(&px->accepted, i + 1);
                continue;
            }
            int i = who[k] % PX_MAX, up = who[k] >= PX_MAX;
            if (px->cfd[i] < 0 && !up)
                continue;
            if (atomic_load(&px->frozen) == i) {
                /* Polled before the freeze, or the client closed its side. */
                if (!up && (pf[k].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                    px_close(px, i, 0);
                continue;
            }
            if (px->ufd[i] < 0)
                continue;
            if (up ? px_pump(px->ufd[i], px->cfd[i]) : px_pump(px->cfd[i], px->ufd[i]))
                px_close(px, i, up && atomic_load(&px->orphaned) == i);
        }
    }
    return NULL;
}

static void px_start(proxy_t *px, char *url, size_t urlsz)
{
    memset(px, 0, sizeof *px);
    atomic_store(&px->frozen, -1);
    atomic_store(&px->orphaned, -1);
    for (int i = 0; i < PX_MAX; i++)
        px->cfd[i] = px->ufd[i] = -1;
    px->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(px->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(px->lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(px->lfd, (struct sockaddr *)&a, &al);
    px->port = ntohs(a.sin_port);
    snprintf(url, urlsz, "redis://127.0.0.1:%d/0", px->port);
    cr_assert_eq(pthread_create(&px->th, NULL, px_run, px), 0);
}

static void px_stop(proxy_t *px)
{
    atomic_store(&px->stop, 1);
    pthread_join(px->th, NULL);
    for (int i = 0; i < PX_MAX; i++)
        px_close(px, i, 0);
    close(px->lfd);
}

typedef struct pstate_s {
    int up, down;
} pstate_t;

static void on_pstate(int live, void *ud)
{
    pstate_t *p = ud;
    if (live)
        p->up++;
    else
        p->down++;
}

static void on_pmsg(const char *channel, const char *msg, size_t len, void *ud)
{
    (void)channel, (void)msg, (void)len, (void)ud;
}

/* A client on the proxy with a fast heartbeat, a channel and a pattern
 * subscribed, and one message through. */
static rcli_t *silent_client(proxy_t *px, char *ch, size_t chsz, msgs_t *m, pstate_t *ps)
{
    char url[128], pat[128];
    px_start(px, url, sizeof url);
    rcli_config_t cfg = {.url = url, .prefix = prefix, .sub_heartbeat_ms = 100};
    rcli_t *r;
    cr_assert_eq(rcli_create(&r, &loop, &cfg), 0);
    wait_ready(r);
    rcli_key(r, ch, chsz, "silent:%d", (int)getpid());
    rcli_key(r, pat, sizeof pat, "silentp:%d:*", (int)getpid());
    cr_assert_eq(rcli_subscribe(r, ch, on_msg, m), 0);
    cr_assert_eq(rcli_psubscribe(r, pat, on_pmsg, on_pstate, ps), 0);
    run_until(&ps->up, 1, 3000);
    wait_numsub(ch, 1);
    publish(ch, "one", 3);
    run_until(&m->n, 1, 3000);
    cr_assert_eq(atomic_load(&px->accepted), 2, "the command and the pub/sub connection");
    return r;
}

/* After the heartbeat remade the pub/sub connection: patterns said so, and
 * messages flow again on a third proxy connection. */
static void assert_remade(rcli_t *r, proxy_t *px, const char *ch, msgs_t *m, pstate_t *ps)
{
    run_until(&ps->down, 1, 3000);
    run_until(&ps->up, 2, 3000);
    cr_assert_geq(atomic_load(&px->accepted), 3, "a new pub/sub connection");
    cr_assert(rcli_ready(r), "the command connection was not touched");
    int before = m->n;
    for (int i = 0; i < 100 && m->n == before; i++) {
        publish(ch, "again", 5);
        run_for(20);
    }
    cr_assert_str_eq(m->last, "again");
    close_client(r);
    px_stop(px);
}

Test(rcli, silent_pubsub_connection_is_remade)
{
    proxy_t px;
    char ch[128];
    msgs_t m = {0};
    pstate_t ps = {0};
    rcli_t *r = silent_client(&px, ch, sizeof ch, &m, &ps);
    /* Nothing flows on the pub/sub connection any more; Redis still
     * counts it as a subscriber, so only a missing heartbeat shows it. */
    atomic_store(&px.frozen, 1);
    publish(ch, "lost", 4);
    assert_remade(r, &px, ch, &m, &ps);
    cr_assert_eq(m.n, 2, "the message sent into the frozen connection never came (%d messages)", m.n);
}

Test(rcli, pubsub_connection_redis_forgot_is_remade)
{
    proxy_t px;
    char ch[128], addr[64];
    msgs_t m = {0};
    pstate_t ps = {0};
    rcli_t *r = silent_client(&px, ch, sizeof ch, &m, &ps);
    /* Redis closes the pub/sub connection, the proxy keeps the client's
     * side open: Redis answers the next heartbeat with 0 receivers. */
    atomic_store(&px.orphaned, 1);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", atomic_load(&px.uport[1]));
    side_cmd("CLIENT KILL ADDR %s", addr);
    assert_remade(r, &px, ch, &m, &ps);
}
