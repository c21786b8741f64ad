/* wk_cache: see wk_cache.h. */
#include "wk_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define WK_CACHE_SERVERS 4096
#define WK_CACHE_SESSIONS 16384
#define WK_CACHE_CHECK_MS 5000 /* how often the notification setting is checked again */
/* The notification classes the cache needs: K keyspace channel, g generic
 * (DEL, EXPIRE, RENAME), $ strings (SET), h hashes (HSET), x expired, e evicted. */
static const char WK_CACHE_EVENTS[] = "Kg$hxe";

typedef struct srv_entry_s {
    int used;
    uint64_t fetched_ms;
    wk_server_t srv;
} srv_entry_t;

typedef struct sess_entry_s {
    int used;
    uint64_t fetched_ms;
    wk_session_t s;
} sess_entry_t;

typedef struct wk_cache_s {
    wk_worker_t *w;
    uint64_t seq;       /* bumped by every notification and state change */
    int live;           /* the pattern subscription is confirmed */
    int configured;     /* Redis was seen sending the notifications */
    int warned;         /* "cache off" logged once */
    int checking;       /* a CONFIG GET/SET is in flight */
    unsigned gen;       /* subscription generation: bumped by every on_state */
    unsigned check_gen; /* the generation the check in flight was sent in */
    int stopping;
    int timer_on;       /* the timer was initialized (closed by wk_cache_stop) */
    char pattern[300];
    wk_cache_srv_fn on_srv; /* wk_cache_on_server_change */
    uv_timer_t timer;
    srv_entry_t srv[WK_CACHE_SERVERS];
    sess_entry_t sess[WK_CACHE_SESSIONS];
} wk_cache_t;

static size_t slot_of(const char *key, size_t nslots)
{
    size_t h = 14695981039346656037u;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211u;
    return h % nslots;
}

static void flush_all(wk_cache_t *c)
{
    for (size_t i = 0; i < WK_CACHE_SERVERS; i++)
        if (c->srv[i].used) {
            wk_server_clear(&c->srv[i].srv);
            c->srv[i].used = 0;
        }
    for (size_t i = 0; i < WK_CACHE_SESSIONS; i++)
        c->sess[i].used = 0;
}

static int usable(const wk_cache_t *c)
{
    return c && c->live && c->configured && !c->stopping;
}

/* Called after every change of live/configured. */
static void report(wk_cache_t *c)
{
    metrics_set(c->w->metrics, "jsmcp_worker_server_cache_on", "", usable(c) ? 1 : 0);
}

/* ---- notifications ---- */

/* channel: __keyspace@<db>__:<prefix>srv:<hash> or ...sess:<id>. */
static void on_event(const char *channel, const char *msg, size_t len, void *ud)
{
    wk_cache_t *c = ud;
    (void)msg;
    (void)len;
    c->seq++;
    LOG_DEBUG("cache", "event", "channel", channel, "msg", msg, NULL);
    const char *key = strstr(channel, "__:");
    if (!key)
        return;
    key += 3;
    const char *prefix = rcli_prefix(c->w->redis);
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0)
        return;
    key += pl;
    if (strncmp(key, "srv:", 4) == 0) {
        srv_entry_t *e = &c->srv[slot_of(key + 4, WK_CACHE_SERVERS)];
        if (e->used && strcmp(e->srv.token_hash, key + 4) == 0) {
            wk_server_clear(&e->srv);
            e->used = 0;
        }
        if (c->on_srv)
            c->on_srv(c->w, key + 4);
    } else if (strncmp(key, "sess:", 5) == 0) {
        sess_entry_t *e = &c->sess[slot_of(key + 5, WK_CACHE_SESSIONS)];
        if (e->used && strcmp(e->s.id, key + 5) == 0)
            e->used = 0;
    }
}

static int has_events(const char *v)
{
    if (!strchr(v, 'K'))
        return 0;
    if (strchr(v, 'A'))
        return 1; /* A: every class */
    for (const char *f = WK_CACHE_EVENTS + 1; *f; f++)
        if (!strchr(v, *f))
            return 0;
    return 1;
}

static void cache_off(wk_cache_t *c, const char *why)
{
    if (c->configured || !c->warned)
        LOG_WARN("worker", "server cache off: every request asks Redis", "why", why, NULL);
    c->warned = 1;
    c->configured = 0;
    c->seq++;
    flush_all(c);
    report(c);
}

static void check_config(wk_cache_t *c);

/* A reply to a check sent before the subscription last changed proves
 * nothing about the events the current one sees: check again instead. */
static int stale_check(wk_cache_t *c)
{
    if (c->check_gen == c->gen)
        return 0;
    check_config(c);
    return 1;
}

static void on_config_set(redisReply *reply, const char *err, void *ud)
{
    wk_cache_t *c = ud;
    c->checking = 0;
    if (c->stopping || stale_check(c))
        return;
    if (reply && reply->type == REDIS_REPLY_STATUS) {
        c->configured = 1;
        c->seq++;
        report(c);
        return;
    }
    cache_off(c, reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                 : err ? err : "CONFIG SET notify-keyspace-events failed");
}

static void on_config_get(redisReply *reply, const char *err, void *ud)
{
    wk_cache_t *c = ud;
    c->checking = 0;
    if (c->stopping || stale_check(c))
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        cache_off(c, reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                     : err ? err : "CONFIG GET notify-keyspace-events failed");
        return;
    }
    const char *v = reply->element[1]->str;
    if (has_events(v)) {
        if (!c->configured)
            c->seq++;
        c->configured = 1;
        report(c);
        return;
    }
    /* Switched off (or never on, or Redis restarted): ours are added to
     * what is set; until Redis confirms, nothing is trusted. */
    if (c->configured) {
        c->configured = 0;
        c->seq++;
        flush_all(c);
        report(c);
    }
    char want[64];
    size_t n = 0;
    for (const char *f = v; *f && n + 1 < sizeof want; f++)
        want[n++] = *f;
    for (const char *f = WK_CACHE_EVENTS; *f && n + 1 < sizeof want; f++)
        if (!strchr(v, *f))
            want[n++] = *f;
    want[n] = 0;
    c->checking = 1;
    if (rcli_command(c->w->redis, on_config_set, c, "CONFIG SET notify-keyspace-events %s", want) != 0)
        on_config_set(NULL, "redis unavailable", c);
}

static void check_config(wk_cache_t *c)
{
    if (c->checking || c->stopping || !c->live)
        return;
    c->checking = 1;
    c->check_gen = c->gen;
    if (rcli_command(c->w->redis, on_config_get, c, "CONFIG GET notify-keyspace-events") != 0)
        on_config_get(NULL, "redis unavailable", c);
}

static void on_state(int live, void *ud)
{
    wk_cache_t *c = ud;
    c->live = live;
    c->gen++;
    c->seq++;
    if (!live) {
        c->configured = 0;
        flush_all(c);
        report(c);
        return;
    }
    check_config(c);
}

static void on_timer(uv_timer_t *t)
{
    check_config(t->data);
}

/* ---- lifecycle ---- */

int wk_cache_start(wk_worker_t *w)
{
    wk_cache_t *c = mem_calloc(1, sizeof *c);
    c->w = w;
    c->seq = 1;
    w->cache = c;
    if (w->cfg->server_cache_ms <= 0)
        return 0; /* off by configuration */
    /* One pattern for srv:* and sess:* (glob characters of the prefix escaped). */
    size_t n = (size_t)snprintf(c->pattern, sizeof c->pattern, "__keyspace@*__:");
    for (const char *p = rcli_prefix(w->redis); *p && n + 2 < sizeof c->pattern; p++) {
        if (strchr("*?[]\\", *p))
            c->pattern[n++] = '\\';
        c->pattern[n++] = *p;
    }
    snprintf(c->pattern + n, sizeof c->pattern - n, "s[er][sv]*");
    if (rcli_psubscribe(w->redis, c->pattern, on_event, on_state, c) != 0)
        return -1;
    uv_timer_init(w->loop, &c->timer);
    c->timer_on = 1;
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timer, WK_CACHE_CHECK_MS, WK_CACHE_CHECK_MS);
    uv_unref((uv_handle_t *)&c->timer);
    return 0;
}

void wk_cache_on_server_change(wk_worker_t *w, wk_cache_srv_fn fn)
{
    if (w->cache)
        w->cache->on_srv = fn;
}

void wk_cache_stop(wk_worker_t *w)
{
    wk_cache_t *c = w->cache;
    if (!c || c->stopping)
        return;
    c->stopping = 1;
    if (c->timer_on) {
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, NULL);
    }
}

void wk_cache_free(wk_worker_t *w)
{
    if (!w->cache)
        return;
    flush_all(w->cache);
    free(w->cache);
    w->cache = NULL;
}

void wk_cache_test_usable(wk_worker_t *w)
{
    if (!w->cache) {
        w->cache = mem_calloc(1, sizeof *w->cache);
        w->cache->w = w;
        w->cache->seq = 1;
    }
    w->cache->live = w->cache->configured = 1;
}

/* ---- lookups ---- */

void wk_cache_sync(wk_worker_t *w)
{
    if (usable(w->cache))
        rcli_sub_poll(w->redis);
}

uint64_t wk_cache_ticket(wk_worker_t *w)
{
    return usable(w->cache) ? w->cache->seq : 0;
}

static int fresh(const wk_cache_t *c, uint64_t fetched_ms)
{
    return uv_now(c->w->loop) - fetched_ms < (uint64_t)c->w->cfg->server_cache_ms;
}

int wk_cache_server_get(wk_worker_t *w, const char *token_hash, wk_server_t *out)
{
    wk_cache_t *c = w->cache;
    if (!usable(c))
        return 0;
    srv_entry_t *e = &c->srv[slot_of(token_hash, WK_CACHE_SERVERS)];
    if (!e->used || strcmp(e->srv.token_hash, token_hash) != 0 || !fresh(c, e->fetched_ms))
        return 0;
    *out = e->srv;
    json_incref(out->rec);
    LOG_DEBUG("cache", "server hit", "hash", token_hash, NULL);
    return 1;
}

void wk_cache_server_put(wk_worker_t *w, uint64_t ticket, const wk_server_t *srv)
{
    wk_cache_t *c = w->cache;
    if (!ticket || !usable(c) || ticket != c->seq)
        return;
    srv_entry_t *e = &c->srv[slot_of(srv->token_hash, WK_CACHE_SERVERS)];
    if (e->used)
        wk_server_clear(&e->srv);
    e->srv = *srv;
    LOG_DEBUG("cache", "server put", "hash", srv->token_hash, NULL);
    json_incref(e->srv.rec);
    e->used = 1;
    e->fetched_ms = uv_now(w->loop);
}

int wk_cache_session_get(wk_worker_t *w, const char *id, wk_session_t *out)
{
    wk_cache_t *c = w->cache;
    if (!usable(c))
        return 0;
    sess_entry_t *e = &c->sess[slot_of(id, WK_CACHE_SESSIONS)];
    if (!e->used || strcmp(e->s.id, id) != 0 || !fresh(c, e->fetched_ms))
        return 0;
    *out = e->s;
    return 1;
}

void wk_cache_session_put(wk_worker_t *w, uint64_t ticket, const wk_session_t *s)
{
    wk_cache_t *c = w->cache;
    if (!ticket || !usable(c) || ticket != c->seq)
        return;
    sess_entry_t *e = &c->sess[slot_of(s->id, WK_CACHE_SESSIONS)];
    e->s = *s;
    e->used = 1;
    e->fetched_ms = uv_now(w->loop);
}

void wk_cache_session_forget(wk_worker_t *w, const char *id)
{
    wk_cache_t *c = w->cache;
    if (!c)
        return;
    sess_entry_t *e = &c->sess[slot_of(id, WK_CACHE_SESSIONS)];
    if (e->used && strcmp(e->s.id, id) == 0)
        e->used = 0;
    c->seq++;
}
