/* fz_worker: see fz_worker.h. The fakes are reached through ld's --wrap
 * (fuzz/<name>.link), so the worker's objects are linked unchanged. */
#include "fz_worker.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "httpc.h"
#include "jsontext.h"
#include "log.h"
#include "rcli.h"
#include "secret.h"
#include "wk_audit.h"
#include "wk_cache.h"
#include "wk_master.h"
#include "wk_pace.h"
#include "wk_refresh.h"
#include "wk_request.h"
#include "wk_store.h"

/* Prototypes of the wrapped functions (ld --wrap=<name> sends the worker's
 * calls of <name> to __wrap_<name>). */
int __wrap_rcli_create(rcli_t **out, uv_loop_t *loop, const rcli_config_t *cfg);
void __wrap_rcli_close(rcli_t *r, void (*done)(void *arg), void *arg);
int __wrap_rcli_ready(const rcli_t *r);
const char *__wrap_rcli_prefix(const rcli_t *r);
char *__wrap_rcli_key(const rcli_t *r, char *out, size_t outsz, const char *fmt, ...);
int __wrap_rcli_command(rcli_t *r, rcli_cb cb, void *ud, const char *fmt, ...);
int __wrap_rcli_command_argv(rcli_t *r, rcli_cb cb, void *ud, int argc, const char **argv, const size_t *argvlen);
int __wrap_rcli_subscribe(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud);
int __wrap_rcli_unsubscribe(rcli_t *r, const char *channel);
int __wrap_rcli_psubscribe(rcli_t *r, const char *pattern, rcli_msg_fn fn, rcli_state_fn state, void *ud);
void __wrap_rcli_sub_poll(rcli_t *r);
int __wrap_httpc_create(httpc_t **out, uv_loop_t *loop, const httpc_config_t *cfg);
void __wrap_httpc_close(httpc_t *c, void (*done)(void *arg), void *arg);
int __wrap_httpc_request(httpc_t *c, const httpc_request_t *req, httpc_cb cb, void *ud);

#define FZ_PREFIX "fz:"
#define FZ_MAX_KEYS 4096
#define FZ_MAX_SUBS 64
#define FZ_MAX_ARGS 64

/* ---- the store: strings, and hashes (sets are hashes with empty values) ---- */

typedef struct fz_entry_s {
    char *key;
    int hash;
    buf_t val;      /* string value */
    char **f, **v;  /* hash fields */
    size_t nf;
} fz_entry_t;

static fz_entry_t store[FZ_MAX_KEYS];
static size_t nstore;

static void entry_clear(fz_entry_t *e)
{
    free(e->key);
    buf_free(&e->val);
    for (size_t i = 0; i < e->nf; i++) {
        free(e->f[i]);
        free(e->v[i]);
    }
    free(e->f);
    free(e->v);
    memset(e, 0, sizeof *e);
}

static fz_entry_t *find(const char *key)
{
    for (size_t i = 0; i < nstore; i++)
        if (strcmp(store[i].key, key) == 0)
            return &store[i];
    return NULL;
}

static fz_entry_t *create(const char *key, int hash)
{
    if (nstore == FZ_MAX_KEYS)
        return NULL;
    fz_entry_t *e = &store[nstore++];
    memset(e, 0, sizeof *e);
    e->key = mem_strdup(key);
    e->hash = hash;
    buf_init(&e->val, 64u << 20);
    return e;
}

static void del(fz_entry_t *e)
{
    entry_clear(e);
    *e = store[--nstore];
    memset(&store[nstore], 0, sizeof store[nstore]);
}

static void set_string(const char *key, const char *v, size_t n)
{
    fz_entry_t *e = find(key);
    if (e)
        del(e);
    e = create(key, 0);
    if (e)
        buf_append(&e->val, v, n);
}

static int hset(fz_entry_t *e, const char *f, const char *v)
{
    for (size_t i = 0; i < e->nf; i++)
        if (strcmp(e->f[i], f) == 0) {
            free(e->v[i]);
            e->v[i] = mem_strdup(v);
            return 0;
        }
    e->f = mem_realloc(e->f, (e->nf + 1) * sizeof *e->f);
    e->v = mem_realloc(e->v, (e->nf + 1) * sizeof *e->v);
    e->f[e->nf] = mem_strdup(f);
    e->v[e->nf++] = mem_strdup(v);
    return 1;
}

static const char *hget(const fz_entry_t *e, const char *f)
{
    for (size_t i = 0; e && e->hash && i < e->nf; i++)
        if (strcmp(e->f[i], f) == 0)
            return e->v[i];
    return NULL;
}

/* ---- replies ---- */

static redisReply *reply_new(int type)
{
    redisReply *r = mem_calloc(1, sizeof *r);
    r->type = type;
    return r;
}

static redisReply *reply_str(int type, const char *s, size_t n)
{
    redisReply *r = reply_new(type);
    r->str = mem_alloc(n + 1);
    memcpy(r->str, s, n);
    r->str[n] = 0;
    r->len = n;
    return r;
}

static redisReply *reply_int(long long v)
{
    redisReply *r = reply_new(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

static redisReply *reply_err(const char *msg)
{
    return reply_str(REDIS_REPLY_ERROR, msg, strlen(msg));
}

static void reply_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* ---- what waits for the loop: command replies, messages, upstream answers ---- */

typedef struct fz_job_s {
    struct fz_job_s *next;
    rcli_cb cb;          /* a command's reply */
    redisReply *reply;
    rcli_msg_fn msg_fn;  /* a pub/sub message */
    char *channel;
    buf_t msg;
    httpc_cb http_cb;    /* an upstream answer */
    int status;
    char *headers, *body;
    size_t body_len;
    void *ud;
} fz_job_t;

struct rcli_s {
    uv_loop_t *loop;
};

struct httpc_s {
    uv_loop_t *loop;
};

static uv_loop_t *fz_loop;
static uv_idle_t idle;
static fz_job_t *jobs_head, **jobs_tail = &jobs_head;
static size_t njobs;

static struct {
    char channel[200];
    rcli_msg_fn fn;
    void *ud;
} subs[FZ_MAX_SUBS];

/* The site's answers, in the order of its requests; the last one repeats. */
#define FZ_MAX_ANSWERS 8
static struct {
    int status;
    char *headers, *body;
    size_t body_len;
} answers[FZ_MAX_ANSWERS];
static size_t nanswers, next_answer;

static void run_jobs(uv_idle_t *h);

static void job_push(fz_job_t *j)
{
    *jobs_tail = j;
    jobs_tail = &j->next;
    if (njobs++ == 0)
        uv_idle_start(&idle, run_jobs);
}

static void job_run(fz_job_t *j, int closing)
{
    if (j->cb) {
        j->cb(closing ? NULL : j->reply, closing ? "client closing" : NULL, j->ud);
        reply_free(j->reply);
    } else if (j->msg_fn) {
        if (!closing)
            j->msg_fn(j->channel, j->msg.data ? j->msg.data : "", j->msg.len, j->ud);
        free(j->channel);
        buf_free(&j->msg);
    } else if (j->http_cb) {
        httpc_response_t resp = {.status = closing ? 0 : j->status,
                                 .err = closing ? "client closing" : NULL,
                                 .body = j->body ? j->body : "",
                                 .body_len = j->body_len,
                                 .headers = j->headers ? j->headers : "",
                                 .headers_len = j->headers ? strlen(j->headers) : 0,
                                 .http_version = 11};
        j->http_cb(&resp, j->ud);
        free(j->headers);
        free(j->body);
    }
    free(j);
}

/* Runs what was queued before this call; what the callbacks queue waits
 * for the next loop iteration. */
static void run_jobs(uv_idle_t *h)
{
    fz_job_t *batch = jobs_head;
    size_t n = njobs;
    jobs_head = NULL;
    jobs_tail = &jobs_head;
    njobs = 0;
    for (size_t i = 0; i < n && batch; i++) {
        fz_job_t *next = batch->next;
        job_run(batch, 0);
        batch = next;
    }
    if (njobs == 0)
        uv_idle_stop(h);
}

/* ---- commands ---- */

static void upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 32);
}

static redisReply *publish(const char *channel, const char *msg, size_t len)
{
    long long n = 0;
    for (int i = 0; i < FZ_MAX_SUBS; i++) {
        if (!subs[i].fn || strcmp(subs[i].channel, channel) != 0)
            continue;
        fz_job_t *j = mem_calloc(1, sizeof *j);
        j->msg_fn = subs[i].fn;
        j->ud = subs[i].ud;
        j->channel = mem_strdup(channel);
        buf_init(&j->msg, 64u << 20);
        buf_append(&j->msg, msg, len);
        job_push(j);
        n++;
    }
    return reply_int(n);
}

static redisReply *execute(int argc, char **argv, const size_t *len)
{
    if (argc < 1)
        return reply_err("ERR empty command");
    char cmd[32];
    snprintf(cmd, sizeof cmd, "%s", argv[0]);
    upper(cmd);
    fz_entry_t *e = argc > 1 ? find(argv[1]) : NULL;
    if (strcmp(cmd, "GET") == 0 && argc == 2) {
        if (!e)
            return reply_new(REDIS_REPLY_NIL);
        if (e->hash)
            return reply_err("WRONGTYPE Operation against a key holding the wrong kind of value");
        return reply_str(REDIS_REPLY_STRING, e->val.data ? e->val.data : "", e->val.len);
    }
    if (strcmp(cmd, "SET") == 0 && argc >= 3) {
        int nx = 0;
        for (int i = 3; i < argc; i++) {
            char opt[8];
            snprintf(opt, sizeof opt, "%s", argv[i]);
            upper(opt);
            nx |= strcmp(opt, "NX") == 0;
        }
        if (nx && e)
            return reply_new(REDIS_REPLY_NIL);
        set_string(argv[1], argv[2], len[2]);
        return reply_str(REDIS_REPLY_STATUS, "OK", 2);
    }
    if (strcmp(cmd, "DEL") == 0) {
        long long n = 0;
        for (int i = 1; i < argc; i++) {
            fz_entry_t *d = find(argv[i]);
            if (d) {
                del(d);
                n++;
            }
        }
        return reply_int(n);
    }
    if ((strcmp(cmd, "EXPIRE") == 0 || strcmp(cmd, "PEXPIRE") == 0) && argc == 3)
        return reply_int(e != NULL);
    if (strcmp(cmd, "HSET") == 0 && argc >= 4 && argc % 2 == 0) {
        if (e && !e->hash)
            return reply_err("WRONGTYPE Operation against a key holding the wrong kind of value");
        if (!e && !(e = create(argv[1], 1)))
            return reply_err("OOM fake store full");
        long long added = 0;
        for (int i = 2; i + 1 < argc; i += 2)
            added += hset(e, argv[i], argv[i + 1]);
        return reply_int(added);
    }
    if (strcmp(cmd, "HMGET") == 0 && argc >= 3) {
        redisReply *r = reply_new(REDIS_REPLY_ARRAY);
        r->elements = (size_t)argc - 2;
        r->element = mem_calloc(r->elements, sizeof *r->element);
        for (int i = 2; i < argc; i++) {
            const char *v = hget(e, argv[i]);
            r->element[i - 2] = v ? reply_str(REDIS_REPLY_STRING, v, strlen(v)) : reply_new(REDIS_REPLY_NIL);
        }
        return r;
    }
    if (strcmp(cmd, "SISMEMBER") == 0 && argc == 3)
        return reply_int(hget(e, argv[2]) != NULL);
    if (strcmp(cmd, "XADD") == 0 && argc >= 5)
        return reply_str(REDIS_REPLY_STRING, "1-1", 3);
    if (strcmp(cmd, "PUBLISH") == 0 && argc == 3)
        return publish(argv[1], argv[2], len[2]);
    if (strcmp(cmd, "SCRIPT") == 0)
        return reply_str(REDIS_REPLY_STRING, "fz00000000000000000000000000000000000000", 40);
    if (strcmp(cmd, "EVAL") == 0 || strcmp(cmd, "EVALSHA") == 0) {
        redisReply *r = reply_new(REDIS_REPLY_ARRAY);
        r->elements = 2;
        r->element = mem_calloc(2, sizeof *r->element);
        r->element[0] = reply_int(1); /* the pacing script: allowed, no wait */
        r->element[1] = reply_int(0);
        return r;
    }
    return reply_err("ERR unknown command for the fuzzing fake");
}

static int command(rcli_cb cb, void *ud, int argc, char **argv, const size_t *len)
{
    redisReply *r = execute(argc, argv, len);
    if (!cb) {
        reply_free(r);
        return 0;
    }
    fz_job_t *j = mem_calloc(1, sizeof *j);
    j->cb = cb;
    j->ud = ud;
    j->reply = r;
    job_push(j);
    return 0;
}

int __wrap_rcli_command_argv(rcli_t *r, rcli_cb cb, void *ud, int argc, const char **argv, const size_t *argvlen)
{
    char *copy[FZ_MAX_ARGS] = {0};
    size_t len[FZ_MAX_ARGS] = {0};
    if (argc > FZ_MAX_ARGS)
        return -1;
    for (int i = 0; i < argc; i++) {
        len[i] = argvlen ? argvlen[i] : strlen(argv[i]);
        copy[i] = mem_alloc(len[i] + 1);
        memcpy(copy[i], argv[i], len[i]);
        copy[i][len[i]] = 0;
    }
    int rc = command(cb, ud, argc, copy, len);
    for (int i = 0; i < argc; i++)
        free(copy[i]);
    return rc;
}

/* hiredis formats the command (as rcli does), the fake reads the RESP array back. */
int __wrap_rcli_command(rcli_t *r, rcli_cb cb, void *ud, const char *fmt, ...)
{
    char *resp = NULL;
    va_list ap;
    va_start(ap, fmt);
    long long n = redisvFormatCommand(&resp, fmt, ap);
    va_end(ap);
    if (n < 0 || !resp || resp[0] != '*')
        abort();
    char *argv[FZ_MAX_ARGS] = {0};
    size_t len[FZ_MAX_ARGS] = {0};
    char *p = resp + 1;
    int argc = (int)strtol(p, &p, 10);
    if (argc > FZ_MAX_ARGS)
        abort();
    p += 2;
    for (int i = 0; i < argc; i++) {
        len[i] = (size_t)strtoull(p + 1, &p, 10); /* "$<len>\r\n<bytes>\r\n" */
        p += 2;
        argv[i] = p;
        p[len[i]] = 0; /* over the \r */
        p += len[i] + 2;
    }
    int rc = command(cb, ud, argc, argv, len);
    redisFreeCommand(resp);
    return rc;
}

int __wrap_rcli_create(rcli_t **out, uv_loop_t *loop, const rcli_config_t *cfg)
{
    rcli_t *r = mem_calloc(1, sizeof *r);
    r->loop = loop;
    *out = r;
    return 0;
}

void __wrap_rcli_close(rcli_t *r, void (*done)(void *arg), void *arg)
{
    free(r);
    if (done)
        done(arg);
}

int __wrap_rcli_ready(const rcli_t *r)
{
    return 1;
}

const char *__wrap_rcli_prefix(const rcli_t *r)
{
    return FZ_PREFIX;
}

char *__wrap_rcli_key(const rcli_t *r, char *out, size_t outsz, const char *fmt, ...)
{
    size_t n = strlen(FZ_PREFIX);
    va_list ap;
    snprintf(out, outsz, "%s", FZ_PREFIX);
    if (n < outsz) {
        va_start(ap, fmt);
        vsnprintf(out + n, outsz - n, fmt, ap);
        va_end(ap);
    }
    return out;
}

int __wrap_rcli_subscribe(rcli_t *r, const char *channel, rcli_msg_fn fn, void *ud)
{
    int free_slot = -1;
    for (int i = 0; i < FZ_MAX_SUBS; i++) {
        if (subs[i].fn && strcmp(subs[i].channel, channel) == 0)
            return -1;
        if (!subs[i].fn && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0 || strlen(channel) >= sizeof subs[0].channel)
        return -1;
    snprintf(subs[free_slot].channel, sizeof subs[free_slot].channel, "%s", channel);
    subs[free_slot].fn = fn;
    subs[free_slot].ud = ud;
    return 0;
}

int __wrap_rcli_unsubscribe(rcli_t *r, const char *channel)
{
    for (int i = 0; i < FZ_MAX_SUBS; i++)
        if (subs[i].fn && strcmp(subs[i].channel, channel) == 0) {
            subs[i].fn = NULL;
            return 0;
        }
    return -1;
}

/* Keyspace notifications never come: the worker's cache stays off (state
 * is never reported live), so every lookup reads the store. */
int __wrap_rcli_psubscribe(rcli_t *r, const char *pattern, rcli_msg_fn fn, rcli_state_fn state, void *ud)
{
    return 0;
}

void __wrap_rcli_sub_poll(rcli_t *r)
{
}

/* ---- the JSM site ---- */

int __wrap_httpc_create(httpc_t **out, uv_loop_t *loop, const httpc_config_t *cfg)
{
    httpc_t *c = mem_calloc(1, sizeof *c);
    c->loop = loop;
    *out = c;
    return 0;
}

void __wrap_httpc_close(httpc_t *c, void (*done)(void *arg), void *arg)
{
    free(c);
    if (done)
        done(arg);
}

int __wrap_httpc_request(httpc_t *c, const httpc_request_t *req, httpc_cb cb, void *ud)
{
    if (!req->method || !req->url || (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0))
        return HTTPC_EINVAL;
    if (nanswers == 0)
        fz_upstream_push(200, "Content-Type: application/json\r\n", "{}", 2);
    size_t a = next_answer < nanswers ? next_answer++ : nanswers - 1;
    fz_job_t *j = mem_calloc(1, sizeof *j);
    j->http_cb = cb;
    j->ud = ud;
    j->status = answers[a].status;
    j->headers = answers[a].headers ? mem_strdup(answers[a].headers) : NULL;
    j->body = mem_strndup(answers[a].body, answers[a].body_len);
    j->body_len = answers[a].body_len;
    job_push(j);
    return 0;
}

static void fz_upstream_reset(void)
{
    for (size_t i = 0; i < nanswers; i++) {
        free(answers[i].headers);
        free(answers[i].body);
    }
    nanswers = next_answer = 0;
}

void fz_upstream_push(int status, const char *headers, const char *body, size_t body_len)
{
    if (nanswers == FZ_MAX_ANSWERS)
        return;
    answers[nanswers].status = status;
    answers[nanswers].headers = headers ? mem_strdup(headers) : NULL;
    answers[nanswers].body = mem_strndup(body, body_len);
    answers[nanswers++].body_len = body_len;
}

/* ---- the worker ---- */

static wk_worker_t W;
static wk_config_t cfg;

static void publish_server(const char *token, int require_key, const json_t *config)
{
    char hash[SECRET_HASH_HEX_LEN + 1], key[200];
    secret_hash_hex(token, strlen(token), hash);
    snprintf(key, sizeof key, FZ_PREFIX "srv:%s", hash);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:O, s:b, s:n, s:I}", "id", FZ_SERVER_ID, "workspace_id",
                            FZ_WORKSPACE_ID, "account_id", FZ_ACCOUNT_ID, "name", "fuzz", "config", config,
                            "require_api_token_auth", require_key, "expires_at_ms", "pub_ms", (json_int_t)1);
    char *s = jsontext_dump(rec);
    set_string(key, s, strlen(s));
    free(s);
    json_decref(rec);
}

static void publish_session(const char *id, int legacy)
{
    char hash[SECRET_HASH_HEX_LEN + 1], key[200];
    secret_hash_hex(FZ_TOKEN, strlen(FZ_TOKEN), hash);
    snprintf(key, sizeof key, FZ_PREFIX "sess:%s", id);
    fz_entry_t *e = create(key, 1);
    hset(e, "th", hash);
    hset(e, "pv", legacy ? "2024-11-05" : "2025-11-25");
    hset(e, "legacy", legacy ? "1" : "0");
}

/* The records of fz_worker.h, sealed and hashed as the admin API does;
 * whatever the store held before is dropped. */
static void publish_records(void)
{
    static char *sealed;
    while (nstore > 0)
        del(&store[nstore - 1]);
    json_t *empty = json_object();
    publish_server(FZ_TOKEN, 0, empty);
    publish_server(FZ_TOKEN "-auth", 1, empty);
    json_decref(empty);
    publish_session("fuzzSessionId0123456789abcdefABC", 0);
    publish_session("fuzzLegacySessionId0123456789xyz", 1);
    const char *acct = "{\"site_url\":\"https://fuzz.atlassian.net\",\"auth_type\":\"api_token\","
                       "\"email\":\"agent@fuzz.test\",\"api_token\":\"fuzz-api-token\",\"status\":\"active\"}";
    if (!sealed && !(sealed = secret_seal(W.keyring, "acct:" FZ_ACCOUNT_ID, acct, strlen(acct))))
        abort();
    set_string(FZ_PREFIX "acct:" FZ_ACCOUNT_ID, sealed, strlen(sealed));
    char hash[SECRET_HASH_HEX_LEN + 1];
    secret_hash_hex(FZ_API_KEY, strlen(FZ_API_KEY), hash);
    fz_entry_t *e = create(FZ_PREFIX "wskeys:" FZ_WORKSPACE_ID, 1);
    hset(e, hash, "");
}

wk_worker_t *fz_worker(void)
{
    if (W.loop)
        return &W;
    char err[512];
    /* A fixed master key: only this process reads what it seals. */
    setenv("JSMCP_MASTER_KEYS", "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 1);
    setenv("JSMCP_AUDIT_SPOOL_DIR", "off", 1);
    setenv("JSMCP_REDIS_PREFIX", FZ_PREFIX, 1);
    setenv("JSMCP_PUBLIC_WORKER_URL", "http://127.0.0.1:8081", 1);
    if (!getenv("JSMCP_LOG_LEVEL"))
        setenv("JSMCP_LOG_LEVEL", "error", 1);
    log_init("fuzz");
    if (secret_init() != 0 || wk_master_config(&cfg, err, sizeof err) != 0)
        abort();
    fz_loop = mem_alloc(sizeof *fz_loop);
    uv_loop_init(fz_loop);
    uv_idle_init(fz_loop, &idle);
    W.loop = fz_loop;
    W.cfg = &cfg;
    W.metrics = metrics_new(5000 + (size_t)cfg.metrics_max_accounts);
    wk_worker_describe_metrics(W.metrics);
    if (wk_catalog_load_embedded(&W.catalog, err, sizeof err) != 0)
        abort();
    W.fields = wk_fieldcache_new(cfg.field_cache_ms);
    W.keyring = secret_keyring_from_env(err, sizeof err);
    rcli_config_t rc_cfg = {.url = cfg.redis_url, .prefix = cfg.redis_prefix};
    httpc_config_t hc_cfg;
    httpc_config_defaults(&hc_cfg);
    if (!W.keyring || rcli_create(&W.redis, fz_loop, &rc_cfg) != 0 || wk_cache_start(&W) != 0 ||
        wk_refresh_start(&W) != 0 || httpc_create(&W.httpc, fz_loop, &hc_cfg) != 0)
        abort();
    wk_pace_start(&W);
    wk_audit_start(&W);
    fz_worker_settle();
    return &W;
}

json_t *fz_server_record(const json_t *config)
{
    json_t *empty = json_object();
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:O, s:b, s:n}", "id", FZ_SERVER_ID, "workspace_id",
                            FZ_WORKSPACE_ID, "account_id", FZ_ACCOUNT_ID, "name", "fuzz", "config",
                            config ? config : empty, "require_api_token_auth", 0, "expires_at_ms");
    json_decref(empty);
    return rec;
}

void fz_worker_settle(void)
{
    /* Callbacks may queue more (a reply leads to the next command): bounded. */
    for (int i = 0; i < 10000 && (njobs > 0 || defer_pending(&W.defer) > 0); i++)
        uv_run(fz_loop, UV_RUN_NOWAIT);
    if (njobs > 0 || defer_pending(&W.defer) > 0)
        abort(); /* a request that never ends: a finding */
    publish_records();
    fz_upstream_reset();
    /* Nothing an input fetched is reused by the next one. */
    wk_store_cleanup(&W);
    wk_fieldcache_free(W.fields);
    W.fields = wk_fieldcache_new(cfg.field_cache_ms);
}
