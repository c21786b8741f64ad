/* sb_limits: Atlassian-style rate limiting (jsm-rest-api.md §5).
 *
 * Burst: a token bucket per endpoint and method (shared by every caller,
 * as the tenant-wide limiter is), refilled continuously at the endpoint's
 * rate; capacity = one second's worth. Atlassian's figures (GET/POST 100,
 * PUT/DELETE 50, GET issue 150, servicedesk customers 5 ... per second) are
 * multiplied by `scale` (default 1000, so tests and benchmarks are not
 * throttled; scale 1 gives Atlassian's exact figures).
 * Per-issue writes: 20 per 2 s and 100 per 30 s per issue (fixed windows).
 * Points quota (optional, OAuth traffic only; API-token traffic is exempt as
 * on Atlassian): quota_points per UTC hour, a hard wall until the top of the
 * next hour.
 */
#ifndef JSMCP_SB_LIMITS_H
#define JSMCP_SB_LIMITS_H

#include <stdint.h>

#include <jansson.h>

#include "sb_data.h"

typedef struct sb_bucket_s {
    double tokens;
    int64_t last_ms;
    int64_t epoch; /* settings generation the bucket was filled for */
} sb_bucket_t;

typedef struct sb_limit_result_s {
    int limit;
    int remaining;
    int retry_after_s;
    const char *reason;
} sb_limit_result_t;

typedef struct sb_limits_s sb_limits_t;

sb_limits_t *sb_limits_new(int enabled, double scale, int writes_2s, int writes_30s, int quota_points);
/* Quota: 0 = allowed (r->limit 0 when the quota is off), 1 = exhausted. */
int sb_limits_quota(sb_limits_t *l, int cost, int64_t now_ms, sb_limit_result_t *r);
void sb_limits_quota_charge(sb_limits_t *l, int points, int64_t now_ms);
void sb_limits_free(sb_limits_t *l);
/* 0 = allowed (r gets limit/remaining), 1 = limited (r filled for a 429). */
int sb_limits_burst(sb_limits_t *l, sb_bucket_t *b, const char *method, int rps, int64_t now_ms,
                    sb_limit_result_t *r);
int sb_limits_issue_write(sb_limits_t *l, sb_issue_t *is, int64_t now_ms, sb_limit_result_t *r);
/* Settings from JSON {"enabled","scale","perIssue2s","perIssue30s","quotaPoints"}; -1 with err on bad input. */
int sb_limits_set(sb_limits_t *l, const json_t *v, char *err, size_t errsz);
json_t *sb_limits_json(const sb_limits_t *l);

#endif
