/* sb_faults: see sb_faults.h. */
#include "sb_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sb_pack.h"
#include "clock.h"

#define SB_ANSWER_BODY_MAX 4096

struct sb_faults_s {
    unsigned latency_ms, jitter_ms, stall_ms;
    double error_rate, reset_rate, truncate_rate, stall_rate, rate429, answer_rate;
    int error_status;
    int answer_status;
    char answer_body[SB_ANSWER_BODY_MAX + 1];
    int retry_after_429;
    int style_429;
    int retry_after_error;
    char path_prefix[128];
    long count; /* <= 0: unlimited */
    uint64_t rng;
    uint64_t seed;
};

static double rnd(sb_faults_t *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return (double)(f->rng >> 11) / 9007199254740992.0;
}

void sb_faults_clear(sb_faults_t *f)
{
    uint64_t seed = f->seed;
    memset(f, 0, sizeof *f);
    f->seed = seed;
    f->rng = seed * 0x9E3779B97F4A7C15ULL | 1;
    f->error_status = 503;
    f->answer_status = 200;
    f->stall_ms = 120000;
    f->retry_after_429 = 1;
}

sb_faults_t *sb_faults_new(uint64_t seed)
{
    sb_faults_t *f = mem_calloc(1, sizeof *f);
    f->seed = seed;
    sb_faults_clear(f);
    return f;
}

void sb_faults_free(sb_faults_t *f)
{
    free(f);
}

/* The fault of a draw x in [0, 1): the rates laid end to end, in this order. */
static int kind_of(const sb_faults_t *f, double x)
{
    const double rates[] = {f->error_rate, f->reset_rate, f->truncate_rate, f->stall_rate, f->rate429,
                            f->answer_rate};
    static const int kinds[] = {SB_FAULT_ERROR, SB_FAULT_RESET, SB_FAULT_TRUNCATE, SB_FAULT_STALL, SB_FAULT_429,
                                SB_FAULT_ANSWER};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (x < rates[i])
            return kinds[i];
        x -= rates[i];
    }
    return SB_FAULT_NONE;
}

int sb_faults_pick(sb_faults_t *f, const char *path, unsigned *delay_ms)
{
    *delay_ms = 0;
    if (!f->latency_ms && !f->jitter_ms && f->error_rate <= 0 && f->reset_rate <= 0 && f->truncate_rate <= 0 &&
        f->stall_rate <= 0 && f->rate429 <= 0 && f->answer_rate <= 0)
        return SB_FAULT_NONE;
    if (f->path_prefix[0] && strncmp(path, f->path_prefix, strlen(f->path_prefix)) != 0)
        return SB_FAULT_NONE;
    int kind = kind_of(f, rnd(f));
    *delay_ms = f->latency_ms + (f->jitter_ms ? (unsigned)(rnd(f) * f->jitter_ms) : 0);
    if (f->count > 0 && --f->count == 0) {
        /* this is the last request the schedule applies to: clear it after */
        int status = f->error_status, ra = f->retry_after_429, style = f->style_429, rae = f->retry_after_error;
        int ast = f->answer_status;
        unsigned stall = f->stall_ms;
        char body[sizeof f->answer_body];
        memcpy(body, f->answer_body, sizeof body);
        sb_faults_clear(f);
        f->answer_status = ast;
        memcpy(f->answer_body, body, sizeof body);
        f->error_status = status;
        f->retry_after_429 = ra;
        f->style_429 = style;
        f->retry_after_error = rae;
        f->stall_ms = stall;
    }
    return kind;
}

int sb_faults_error_status(const sb_faults_t *f)
{
    return f->error_status;
}

unsigned sb_faults_stall_ms(const sb_faults_t *f)
{
    return f->stall_ms;
}

int sb_faults_429_retry_after(const sb_faults_t *f)
{
    return f->retry_after_429;
}

int sb_faults_429_style(const sb_faults_t *f)
{
    return f->style_429;
}

int sb_faults_error_retry_after(const sb_faults_t *f)
{
    return f->retry_after_error;
}

int sb_faults_answer_status(const sb_faults_t *f)
{
    return f->answer_status;
}

const char *sb_faults_answer_body(const sb_faults_t *f)
{
    return f->answer_body;
}

static const char *const STYLES[] = {"jira", "gateway", "html"};

static int get_rate(const json_t *v, const char *k, double *out, char *err, size_t errsz)
{
    json_t *x = json_object_get(v, k);
    if (!x)
        return 0;
    if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1) {
        snprintf(err, errsz, "%s must be a number between 0 and 1", k);
        return -1;
    }
    *out = json_number_value(x);
    return 0;
}

static int get_uint(const json_t *v, const char *k, unsigned max, unsigned *out, char *err, size_t errsz)
{
    json_t *x = json_object_get(v, k);
    if (!x)
        return 0;
    if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > max) {
        snprintf(err, errsz, "%s must be an integer between 0 and %u", k, max);
        return -1;
    }
    *out = (unsigned)json_integer_value(x);
    return 0;
}

int sb_faults_set(sb_faults_t *f, const json_t *v, char *err, size_t errsz)
{
    sb_faults_t n;
    memset(&n, 0, sizeof n);
    n.seed = f->seed;
    n.rng = f->rng;
    n.error_status = 503;
    n.stall_ms = 120000;
    n.retry_after_429 = 1;
    unsigned st = 503, cnt = 0, ra = 1, rae = 0, ast = 200;
    if (!json_is_object(v)) {
        snprintf(err, errsz, "expected a JSON object");
        return -1;
    }
    if (get_uint(v, "latencyMs", 600000, &n.latency_ms, err, errsz) ||
        get_uint(v, "jitterMs", 600000, &n.jitter_ms, err, errsz) ||
        get_uint(v, "stallMs", 3600000, &n.stall_ms, err, errsz) ||
        get_uint(v, "errorStatus", 599, &st, err, errsz) || get_uint(v, "count", 1000000000, &cnt, err, errsz) ||
        get_uint(v, "retryAfter429", 3600, &ra, err, errsz) || get_uint(v, "retryAfterError", 3600, &rae, err, errsz) ||
        get_rate(v, "errorRate", &n.error_rate, err, errsz) || get_rate(v, "resetRate", &n.reset_rate, err, errsz) ||
        get_rate(v, "truncateRate", &n.truncate_rate, err, errsz) ||
        get_rate(v, "stallRate", &n.stall_rate, err, errsz) || get_rate(v, "rate429", &n.rate429, err, errsz) ||
        get_rate(v, "answerRate", &n.answer_rate, err, errsz) || get_uint(v, "answerStatus", 599, &ast, err, errsz))
        return -1;
    if (ast < 200) {
        snprintf(err, errsz, "answerStatus must be between 200 and 599");
        return -1;
    }
    json_t *ab = json_object_get(v, "answerBody");
    if (ab && (!json_is_string(ab) || json_string_length(ab) > SB_ANSWER_BODY_MAX ||
               strlen(json_string_value(ab)) != json_string_length(ab))) {
        snprintf(err, errsz, "answerBody must be a string of at most %d bytes without NUL", SB_ANSWER_BODY_MAX);
        return -1;
    }
    if (ab)
        snprintf(n.answer_body, sizeof n.answer_body, "%s", json_string_value(ab));
    n.answer_status = (int)ast;
    if (st < 400) {
        snprintf(err, errsz, "errorStatus must be between 400 and 599");
        return -1;
    }
    json_t *pp = json_object_get(v, "pathPrefix");
    if (pp && (!json_is_string(pp) || json_string_length(pp) >= sizeof n.path_prefix)) {
        snprintf(err, errsz, "pathPrefix must be a string shorter than %zu bytes", sizeof n.path_prefix);
        return -1;
    }
    if (pp)
        snprintf(n.path_prefix, sizeof n.path_prefix, "%s", json_string_value(pp));
    json_t *sty = json_object_get(v, "style429");
    n.style_429 = sty ? -1 : SB_429_JIRA;
    for (int i = 0; sty && i < 3; i++)
        if (json_is_string(sty) && !strcmp(json_string_value(sty), STYLES[i]))
            n.style_429 = i;
    if (n.style_429 < 0) {
        snprintf(err, errsz, "style429 must be \"jira\", \"gateway\" or \"html\"");
        return -1;
    }
    n.retry_after_error = (int)rae;
    n.error_status = (int)st;
    n.count = cnt;
    n.retry_after_429 = (int)ra;
    *f = n;
    return 0;
}

json_t *sb_faults_json(const sb_faults_t *f)
{
    return sb_pack("{s:I, s:I, s:f, s:i, s:i, s:f, s:f, s:f, s:I, s:f, s:i, s:s, s:f, s:i, s:s, s:s, s:I}", "latencyMs",
                   (json_int_t)f->latency_ms, "jitterMs", (json_int_t)f->jitter_ms, "errorRate", f->error_rate,
                   "errorStatus", f->error_status, "retryAfterError", f->retry_after_error, "resetRate", f->reset_rate,
                   "truncateRate", f->truncate_rate, "stallRate", f->stall_rate, "stallMs", (json_int_t)f->stall_ms,
                   "rate429", f->rate429, "retryAfter429", f->retry_after_429, "style429", STYLES[f->style_429],
                   "answerRate", f->answer_rate, "answerStatus", f->answer_status, "answerBody", f->answer_body,
                   "pathPrefix", f->path_prefix, "count", (json_int_t)f->count);
}

/* ---- request log ---- */
typedef struct reqlog_entry_s {
    uint64_t seq;
    int64_t ts;
    char method[8];
    char path[256];
    char query[256];
    int status;
    char auth[8];
    char request_id[72];
    char traceparent[64];   /* as received, "" when none (W3C trace context reaches JSM) */
    uint64_t duration_us;
} reqlog_entry_t;

struct sb_reqlog_s {
    reqlog_entry_t *ring;
    uint64_t next_seq; /* seq of the next entry; entries are seq 1.. */
    uint64_t floor;    /* entries below this seq were cleared */
};

sb_reqlog_t *sb_reqlog_new(void)
{
    sb_reqlog_t *l = mem_calloc(1, sizeof *l);
    l->ring = mem_calloc(SB_REQLOG_MAX, sizeof *l->ring);
    l->next_seq = 1;
    return l;
}

void sb_reqlog_free(sb_reqlog_t *l)
{
    if (!l)
        return;
    free(l->ring);
    free(l);
}

void sb_reqlog_add(sb_reqlog_t *l, int64_t ts_ms, const char *method, const char *path, const char *query,
                   int status, const char *auth, const char *request_id, const char *traceparent,
                   uint64_t duration_us)
{
    reqlog_entry_t *e = &l->ring[l->next_seq % SB_REQLOG_MAX];
    e->seq = l->next_seq++;
    e->ts = ts_ms;
    snprintf(e->method, sizeof e->method, "%s", method);
    snprintf(e->path, sizeof e->path, "%s", path);
    snprintf(e->query, sizeof e->query, "%s", query ? query : "");
    e->status = status;
    snprintf(e->auth, sizeof e->auth, "%s", auth);
    snprintf(e->request_id, sizeof e->request_id, "%s", request_id ? request_id : "");
    snprintf(e->traceparent, sizeof e->traceparent, "%s", traceparent ? traceparent : "");
    e->duration_us = duration_us;
}

json_t *sb_reqlog_json(const sb_reqlog_t *l, uint64_t since, size_t limit)
{
    json_t *arr = json_array();
    uint64_t first = l->next_seq > SB_REQLOG_MAX ? l->next_seq - SB_REQLOG_MAX : 1;
    if (since + 1 > first)
        first = since + 1;
    if (l->floor > first)
        first = l->floor;
    for (uint64_t s = first; s < l->next_seq && json_array_size(arr) < limit; s++) {
        const reqlog_entry_t *e = &l->ring[s % SB_REQLOG_MAX];
        char ts[40];
        clock_format_iso(e->ts, 1, ts, sizeof ts);
        json_array_append_new(arr, sb_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "seq",
                                             (json_int_t)e->seq, "ts", ts, "method", e->method, "path", e->path,
                                             "query", e->query, "status", e->status, "auth", e->auth, "requestId",
                                             e->request_id, "traceparent", e->traceparent, "durationUs",
                                             (json_int_t)e->duration_us));
    }
    return sb_pack("{s:o, s:I}", "entries", arr, "lastSeq", (json_int_t)(l->next_seq - 1));
}

void sb_reqlog_clear(sb_reqlog_t *l)
{
    /* seq keeps growing so a reader's "since" stays meaningful */
    l->floor = l->next_seq;
}
