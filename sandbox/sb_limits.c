/* sb_limits: see sb_limits.h. */
#include "sb_limits.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "sb_pack.h"

struct sb_limits_s {
    int enabled;
    double scale;
    int w2, w30;
    int quota;          /* points per hour, 0 = off */
    int64_t quota_hour; /* start of the hour the usage counts for */
    long quota_used;
    int64_t epoch; /* bumped on every settings change so buckets refill */
};

sb_limits_t *sb_limits_new(int enabled, double scale, int writes_2s, int writes_30s, int quota_points)
{
    sb_limits_t *l = mem_calloc(1, sizeof *l);
    l->enabled = enabled;
    l->scale = scale > 0 ? scale : 1;
    l->w2 = writes_2s;
    l->w30 = writes_30s;
    l->quota = quota_points;
    l->epoch = 1;
    return l;
}

void sb_limits_free(sb_limits_t *l)
{
    free(l);
}

static int base_rps(const char *method, int rps)
{
    if (rps > 0)
        return rps;
    return (!strcmp(method, "PUT") || !strcmp(method, "DELETE")) ? 50 : 100;
}

int sb_limits_burst(sb_limits_t *l, sb_bucket_t *b, const char *method, int rps, int64_t now_ms,
                    sb_limit_result_t *r)
{
    double rate = base_rps(method, rps) * l->scale;
    if (rate < 1)
        rate = 1;
    memset(r, 0, sizeof *r);
    r->limit = rate > 2e9 ? 2000000000 : (int)rate;
    r->reason = "jira-burst-based";
    if (!l->enabled) {
        r->remaining = r->limit;
        return 0;
    }
    if (b->epoch != l->epoch) {
        b->epoch = l->epoch;
        b->tokens = rate;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > rate)
            b->tokens = rate;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1) {
        b->tokens -= 1;
        r->remaining = (int)b->tokens;
        return 0;
    }
    r->remaining = 0;
    r->retry_after_s = (int)ceil((1 - b->tokens) / rate);
    if (r->retry_after_s < 1)
        r->retry_after_s = 1;
    return 1;
}

int sb_limits_issue_write(sb_limits_t *l, sb_issue_t *is, int64_t now_ms, sb_limit_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->reason = "jira-per-issue-on-write";
    r->limit = l->w2;
    if (!l->enabled)
        return 0;
    if (now_ms - is->wl_win2 >= 2000 || now_ms < is->wl_win2) {
        is->wl_win2 = now_ms;
        is->wl_n2 = 0;
    }
    if (now_ms - is->wl_win30 >= 30000 || now_ms < is->wl_win30) {
        is->wl_win30 = now_ms;
        is->wl_n30 = 0;
    }
    if (is->wl_n2 >= l->w2) {
        r->retry_after_s = (int)((is->wl_win2 + 2000 - now_ms + 999) / 1000);
        r->remaining = 0;
        return 1;
    }
    if (is->wl_n30 >= l->w30) {
        r->limit = l->w30;
        r->retry_after_s = (int)((is->wl_win30 + 30000 - now_ms + 999) / 1000);
        r->remaining = 0;
        return 1;
    }
    is->wl_n2++;
    is->wl_n30++;
    r->remaining = l->w2 - is->wl_n2;
    return 0;
}

static void quota_roll(sb_limits_t *l, int64_t now_ms)
{
    int64_t hour = now_ms - now_ms % 3600000;
    if (hour != l->quota_hour) {
        l->quota_hour = hour;
        l->quota_used = 0;
    }
}

int sb_limits_quota(sb_limits_t *l, int cost, int64_t now_ms, sb_limit_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->reason = "jira-quota-tenant-based";
    if (!l->quota || !l->enabled)
        return 0;
    quota_roll(l, now_ms);
    r->limit = l->quota;
    r->retry_after_s = (int)((l->quota_hour + 3600000 - now_ms + 999) / 1000);
    if (l->quota_used >= l->quota) {
        r->remaining = 0;
        return 1;
    }
    l->quota_used += cost > 0 ? cost : 1;
    r->remaining = l->quota_used >= l->quota ? 0 : (int)(l->quota - l->quota_used);
    return 0;
}

void sb_limits_quota_charge(sb_limits_t *l, int points, int64_t now_ms)
{
    if (!l->quota || !l->enabled || points <= 0)
        return;
    quota_roll(l, now_ms);
    l->quota_used += points;
}

int sb_limits_set(sb_limits_t *l, const json_t *v, char *err, size_t errsz)
{
    json_t *e = json_object_get(v, "enabled"), *s = json_object_get(v, "scale"),
           *a = json_object_get(v, "perIssue2s"), *b = json_object_get(v, "perIssue30s"),
           *qp = json_object_get(v, "quotaPoints");
    if (!json_is_object(v) || (e && !json_is_boolean(e)) || (s && !json_is_number(s)) ||
        (a && !json_is_integer(a)) || (b && !json_is_integer(b)) ||
        (qp && (!json_is_integer(qp) || json_integer_value(qp) < 0 || json_integer_value(qp) > 100000000))) {
        snprintf(err, errsz, "expected {\"enabled\":bool,\"scale\":number,\"perIssue2s\":int,\"perIssue30s\":int,"
                             "\"quotaPoints\":int >= 0}");
        return -1;
    }
    if ((s && (json_number_value(s) <= 0 || json_number_value(s) > 1e6)) ||
        (a && (json_integer_value(a) < 1 || json_integer_value(a) > 1000000)) ||
        (b && (json_integer_value(b) < 1 || json_integer_value(b) > 1000000))) {
        snprintf(err, errsz, "scale must be in (0, 1e6], per-issue limits in [1, 1e6]");
        return -1;
    }
    if (e)
        l->enabled = json_is_true(e);
    if (s)
        l->scale = json_number_value(s);
    if (a)
        l->w2 = (int)json_integer_value(a);
    if (b)
        l->w30 = (int)json_integer_value(b);
    if (qp) {
        l->quota = (int)json_integer_value(qp);
        l->quota_used = 0;
    }
    l->epoch++;
    return 0;
}

json_t *sb_limits_json(const sb_limits_t *l)
{
    return sb_pack("{s:b, s:f, s:i, s:i, s:i, s:I}", "enabled", l->enabled, "scale", l->scale, "perIssue2s", l->w2,
                     "perIssue30s", l->w30, "quotaPoints", l->quota, "quotaUsed", (json_int_t)l->quota_used);
}
