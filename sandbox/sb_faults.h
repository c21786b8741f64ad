/* sb_faults: fault and latency injection, and the request log tests read.
 *
 * Faults apply to requests whose path starts with path_prefix (default: all
 * API paths; never /healthz or /__sandbox). Each request draws once:
 * error (HTTP error_status, default 503), reset (no answer: the connection
 * is reset, a TCP RST), truncate (a 200 whose body is cut off, then the
 * connection closed), stall (held for stall_ms, then 503), forced 429;
 * otherwise a latency of latency_ms + uniform(0, jitter_ms) is added.
 * "count" > 0 limits the faults to the next count matching requests.
 * The forced 429 comes in three styles ("style429"): "jira" (Jira's JSON
 * body and headers; Retry-After unless retryAfter429 is 0), "gateway" (the
 * API gateway's limiter: {"code":429,...}, no Retry-After, no Jira headers)
 * and "html" (the old text/html error page, body class error429). Injected
 * errors carry Retry-After when "retryAfterError" > 0 (a 503 with
 * Retry-After, as Cloud sends when a resource limit is reached).
 * A forced answer ("answerRate") replaces the route's answer with
 * answerStatus (2xx..5xx, default 200) and the text answerBody as it is
 * (JSON or not; none with 204): the odd 2xx a client must not read as an
 * empty item ([1,2], a scalar, a 204 where an object was due).
 * Randomness is seeded, so a fault schedule is reproducible.
 */
#ifndef JSMCP_SB_FAULTS_H
#define JSMCP_SB_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum sb_fault { SB_FAULT_NONE, SB_FAULT_ERROR, SB_FAULT_RESET, SB_FAULT_TRUNCATE, SB_FAULT_STALL, SB_FAULT_429,
                SB_FAULT_ANSWER };
enum sb_style429 { SB_429_JIRA, SB_429_GATEWAY, SB_429_HTML };

typedef struct sb_faults_s sb_faults_t;

sb_faults_t *sb_faults_new(uint64_t seed);
void sb_faults_free(sb_faults_t *f);
/* Decides the fault for one request; *delay_ms gets the latency to add. */
int sb_faults_pick(sb_faults_t *f, const char *path, unsigned *delay_ms);
int sb_faults_error_status(const sb_faults_t *f);
unsigned sb_faults_stall_ms(const sb_faults_t *f);
int sb_faults_429_retry_after(const sb_faults_t *f); /* 0 = omit Retry-After */
int sb_faults_429_style(const sb_faults_t *f);       /* enum sb_style429 */
int sb_faults_error_retry_after(const sb_faults_t *f); /* 0 = none */
/* The forced answer's status and body (SB_FAULT_ANSWER). */
int sb_faults_answer_status(const sb_faults_t *f);
const char *sb_faults_answer_body(const sb_faults_t *f);
/* {"latencyMs","jitterMs","errorRate","errorStatus","retryAfterError","resetRate","truncateRate",
 *  "stallRate","stallMs","rate429","retryAfter429","style429","answerRate","answerStatus","answerBody",
 *  "pathPrefix","count"}; replaces all settings. */
int sb_faults_set(sb_faults_t *f, const json_t *v, char *err, size_t errsz);
void sb_faults_clear(sb_faults_t *f);
json_t *sb_faults_json(const sb_faults_t *f);

/* ---- request log: a ring of the last SB_REQLOG_MAX requests ---- */
#define SB_REQLOG_MAX 2000
typedef struct sb_reqlog_s sb_reqlog_t;
sb_reqlog_t *sb_reqlog_new(void);
void sb_reqlog_free(sb_reqlog_t *l);
void sb_reqlog_add(sb_reqlog_t *l, int64_t ts_ms, const char *method, const char *path, const char *query,
                   int status, const char *auth, const char *request_id, const char *traceparent,
                   uint64_t duration_us);
/* Entries with seq > since (at most limit), oldest first: {"entries":[...],"lastSeq":N}. */
json_t *sb_reqlog_json(const sb_reqlog_t *l, uint64_t since, size_t limit);
void sb_reqlog_clear(sb_reqlog_t *l);

#endif
