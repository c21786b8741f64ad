/* rcli_sub: pub/sub of rcli.h (rcli_subscribe, rcli_psubscribe,
 * rcli_sub_poll): our own table of subscriptions, subscribed again on every
 * (re)connect, the pattern subscriptions and their live state, and the
 * heartbeat that tells a dead pub/sub connection from a quiet one
 * (rcli_int.h's design notes).
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/ioctl.h>

#include "buf.h"
#include "log.h"
#include "rcli_int.h"

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void sub_conn_start(rcli_t *r);

/* The pub/sub connection is gone: what it would have received is lost. */
static void psub_lost(rcli_t *r)
{
    for (size_t i = 0; i < r->npsubs; i++) {
        psub_t *p = &r->psubs[i];
        if (p->live) {
            p->live = 0;
            if (p->state)
                p->state(0, p->ud);
        }
    }
}

/* on_down hook of the pub/sub connection: a heartbeat in flight tested the
 * connection that is gone, and the patterns are no longer live. */
static void sub_down(rcli_t *r)
{
    r->sub_gen++;
    r->hb_confirmed = r->hb_out = 0;
    psub_lost(r);
}

/* (Re)subscribes every channel of the table, in batches. */
static void sub_restore(rcli_t *r)
{
    const char *argv[RCLI_SUB_BATCH + 1];
    size_t lens[RCLI_SUB_BATCH + 1];
    int n = 0;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    for (size_t i = 0; i < RCLI_SUB_BUCKETS; i++) {
        for (sub_t *s = r->subs[i]; s; s = s->next) {
            argv[n + 1] = s->channel;
            lens[n + 1] = s->len;
            if (++n == RCLI_SUB_BATCH) {
                redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, n + 1, argv, lens);
                n = 0;
            }
        }
    }
    if (n > 0)
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, n + 1, argv, lens);
    for (size_t i = 0; i < r->npsubs; i++) {
        const char *pv[2] = {"PSUBSCRIBE", r->psubs[i].pattern};
        size_t pl[2] = {10, strlen(r->psubs[i].pattern)};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, pv, pl);
    }
}

/* ------------------------------------------------------------ pub/sub */

static size_t sub_hash(const char *s, size_t n)
{
    size_t h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + (unsigned char)s[i];
    return h % RCLI_SUB_BUCKETS;
}

static sub_t **sub_find(rcli_t *r, const char *ch, size_t n)
{
    sub_t **pp = &r->subs[sub_hash(ch, n)];
    while (*pp && !((*pp)->len == n && memcmp((*pp)->channel, ch, n) == 0))
        pp = &(*pp)->next;
    return pp;
}

static psub_t *psub_find(rcli_t *r, const char *pattern, size_t n)
{
    for (size_t i = 0; i < r->npsubs; i++)
        if (strlen(r->psubs[i].pattern) == n && memcmp(r->psubs[i].pattern, pattern, n) == 0)
            return &r->psubs[i];
    return NULL;
}

/* "psubscribe <pattern> <count>" (now live) or "pmessage <pattern> <channel> <msg>". */
static void on_psub_reply(rcli_t *r, redisReply *rep)
{
    psub_t *p = psub_find(r, rep->element[1]->str, rep->element[1]->len);
    if (!p)
        return;
    if (rep->element[0]->str[1] == 's') {
        if (!p->live) {
            p->live = 1;
            if (p->state)
                p->state(1, p->ud);
        }
        return;
    }
    if (rep->elements == 4 && rep->element[2]->type == REDIS_REPLY_STRING &&
        rep->element[3]->type == REDIS_REPLY_STRING)
        p->fn(rep->element[2]->str, rep->element[3]->str, rep->element[3]->len, p->ud);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rcli_t *r = privdata;
    redisReply *rep = reply;
    if (!rep) {
        rcli_conn_gone(&r->sub, ac, RCLI_ERR_LOST);
        return;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 && rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING &&
        (strcmp(rep->element[0]->str, "pmessage") == 0 || strcmp(rep->element[0]->str, "psubscribe") == 0)) {
        on_psub_reply(r, rep);
        return;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 && rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "subscribe") == 0 &&
        strcmp(rep->element[1]->str, r->hb_channel) == 0 && ac == r->sub.ac) {
        r->hb_confirmed = 1;
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, "message") != 0 ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[2]->type != REDIS_REPLY_STRING)
        return; /* subscribe/unsubscribe confirmations */
    sub_t *s = *sub_find(r, rep->element[1]->str, rep->element[1]->len);
    if (s)
        s->fn(s->channel, rep->element[2]->str, rep->element[2]->len, s->ud);
}

/* Into the table (restored on every (re)connect); -1 when taken or full. */
static int sub_insert(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud)
{
    if (r->nsubs >= RCLI_MAX_SUBS)
        return -1;
    size_t n = strlen(channel);
    sub_t **pp = sub_find(r, channel, n);
    if (*pp)
        return -1; /* one subscriber per channel */
    sub_t *s = mem_calloc(1, sizeof *s + n + 1);
    s->fn = fn;
    s->ud = ud;
    s->len = n;
    memcpy(s->channel, channel, n + 1);
    *pp = s;
    r->nsubs++;
    return 0;
}

int rcli_subscribe(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud)
{
    if (r->closing || !channel || !fn || sub_insert(r, channel, fn, ud) != 0)
        return -1;
    size_t n = strlen(channel);
    if (!r->sub_inited) {
        sub_conn_start(r);
    } else if (r->sub.state == S_READY) {
        const char *argv[2] = {"SUBSCRIBE", channel};
        size_t lens[2] = {9, n};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, argv, lens);
    }
    /* Otherwise on_connect subscribes it. */
    return 0;
}

int rcli_unsubscribe(rcli_t *r, const char *channel)
{
    if (r->closing || !channel)
        return -1;
    size_t n = strlen(channel);
    sub_t **pp = sub_find(r, channel, n);
    sub_t *s = *pp;
    if (!s)
        return -1;
    *pp = s->next;
    free(s);
    r->nsubs--;
    if (r->sub.state == S_READY) {
        const char *argv[2] = {"UNSUBSCRIBE", channel};
        size_t lens[2] = {11, n};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, argv, lens);
    }
    return 0;
}

/* ------------------------------------------------------------ heartbeat */

static void on_hb_msg(const char *channel, const char *msg, size_t len, void *ud)
{
    (void)channel;
    rcli_t *r = ud;
    char seq[24];
    size_t n = fmt_uint(seq, r->hb_seq);
    if (r->hb_out && r->hb_gen == r->sub_gen && len == n && memcmp(msg, seq, n) == 0)
        r->hb_out = 0;
}

static void sub_silent(rcli_t *r, const char *why)
{
    LOG_WARN("rcli", "pub/sub connection dropped: it no longer receives, reconnecting", "why", why, NULL);
    rcli_conn_drop(&r->sub, RCLI_ERR_LOST);
}

static void on_hb_published(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    rcli_t *r = ud;
    if (r->closing || !r->hb_out || r->hb_gen != r->sub_gen)
        return;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        r->hb_out = 0; /* says nothing about the pub/sub connection */
        return;
    }
    if (reply->integer > 0) {
        r->hb_published = 1;
        return;
    }
    r->hb_out = 0;
    if (r->hb_confirmed && r->sub.state == S_READY)
        sub_silent(r, "redis has no subscriber for its heartbeat channel");
}

static void on_hb_timer(uv_timer_t *t)
{
    rcli_t *r = t->data;
    if (r->closing || r->sub.state != S_READY || !r->hb_confirmed)
        return;
    if (r->hb_out) {
        if (r->hb_published) {
            r->hb_out = 0;
            sub_silent(r, "its heartbeat did not come back");
        }
        return; /* the PUBLISH has no answer yet: the command timeout decides */
    }
    char seq[24];
    size_t n = fmt_uint(seq, ++r->hb_seq);
    const char *argv[3] = {"PUBLISH", r->hb_channel, seq};
    size_t lens[3] = {7, strlen(r->hb_channel), n};
    r->hb_out = 1;
    r->hb_published = 0;
    r->hb_gen = r->sub_gen;
    if (rcli_command_argv(r, on_hb_published, r, 3, argv, lens) != 0)
        r->hb_out = 0;
}

static void sub_conn_start(rcli_t *r)
{
    if (r->sub_inited)
        return;
    r->sub_inited = 1;
    unsigned char raw[8];
    char hex[2 * sizeof raw + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    str_join(r->hb_channel, sizeof r->hb_channel, r->prefix, "rcli:hb:", hex, NULL);
    (void)sub_insert(r, r->hb_channel, on_hb_msg, r);
    uv_timer_start(&r->hb_timer, on_hb_timer, r->sub_heartbeat_ms, r->sub_heartbeat_ms);
    rcli_conn_init(r, &r->sub, "sub", 1);
    r->sub.on_up = sub_restore;
    r->sub.on_down = sub_down;
    rcli_conn_connect(&r->sub);
}

int rcli_psubscribe(rcli_t *r, const char *pattern, rcli_msg_fn fn, rcli_state_fn state, void *ud)
{
    if (r->closing || !pattern || !fn || r->npsubs >= RCLI_MAX_PSUBS ||
        psub_find(r, pattern, strlen(pattern)))
        return -1;
    psub_t *p = &r->psubs[r->npsubs++];
    p->pattern = mem_strdup(pattern);
    p->fn = fn;
    p->state = state;
    p->ud = ud;
    p->live = 0;
    if (r->sub_inited && r->sub.state == S_READY) {
        const char *argv[2] = {"PSUBSCRIBE", pattern};
        size_t lens[2] = {10, strlen(pattern)};
        redisAsyncCommandArgv(r->sub.ac, on_sub_reply, r, 2, argv, lens);
    }
    sub_conn_start(r); /* otherwise on_connect subscribes it */
    return 0;
}

void rcli_sub_poll(rcli_t *r)
{
    /* FIONREAD first: when nothing waits (the usual case) that is the one
     * system call. Otherwise read until the socket is empty: hiredis reads
     * at most 16 KB per call, and a burst of notifications can be longer
     * than that, with the one this request depends on at its end. */
    for (int round = 0; round < RCLI_SUB_POLL_ROUNDS; round++) {
        if (!r || r->closing || !r->sub_inited || r->sub.state != S_READY || !r->sub.ac)
            return;
        int pending = 0;
        if (ioctl(r->sub.ac->c.fd, FIONREAD, &pending) != 0 || pending <= 0)
            return;
        redisAsyncHandleRead(r->sub.ac);
    }
}
