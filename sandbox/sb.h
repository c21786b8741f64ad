/* sb: the sandbox server's shared types: the loop-owned root (sb_t), the
 * per-request call context handed to every endpoint handler (sb_call_t),
 * the route table row (sb_route_t) and the response helpers every family
 * uses (platform errorMessages/errors, servicedeskapi errorMessage/
 * i18nErrorMessage, gateway code/message). The pipeline (registration,
 * dispatch) is sb_http.c; the helpers a handler uses on its call
 * (parameters, responses, DTOs, pages) are sb_call.c, which knows nothing
 * of the pipeline.
 *
 * Request pipeline (sb_http.c, sb_dispatch): faults (latency, 5xx, reset,
 * stall, forced 429) -> authentication for the URL root (Basic on /rest,
 * Bearer on /ex/jira/{cloudId}/rest) -> burst and per-issue rate limits ->
 * X-ExperimentalApi check -> handler. A handler finishes the request exactly
 * once through one of the sb_* response helpers or httpd_respond().
 */
#ifndef JSMCP_SB_H
#define JSMCP_SB_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "httpd.h"
#include "metrics.h"
#include "router.h"
#include "sb_data.h"

typedef struct sb_limits_s sb_limits_t;
typedef struct sb_oauth_s sb_oauth_t;
typedef struct sb_faults_s sb_faults_t;
typedef struct sb_reqlog_s sb_reqlog_t;
typedef struct sb_jql_s sb_jql_t;
struct sb_bucket_s;

typedef struct sb_config_s {
    char host[64];
    int port;
    uint64_t seed;
    char email[128];
    char api_token[128];
    char customer_email[128];   /* a portal customer's credentials (seeded customer) */
    char customer_token[128];
    char cloud_id[64];
    char site_name[64];
    int64_t anchor_ms;          /* 0 = startup time (rounded down to the hour) */
    /* rate limits (sb_limits) */
    int rate_enabled;
    double rate_scale;          /* multiplies Atlassian's per-second figures */
    int issue_writes_2s, issue_writes_30s;
    int quota_points;           /* hourly points quota for OAuth apps; 0 = off */
    int oauth_scope_check;      /* 1: gateway calls need the route's OAuth scope */
    int search_lag_ms;          /* new issues reach search/jql after this (0 = at once) */
    int legacy_search;          /* 1: /rest/api/{2,3}/search serves the old contract instead of 410 */
    /* OAuth (sb_oauth) */
    char oauth_client_id[128];
    char oauth_client_secret[128];
    int access_ttl_s;
    int refresh_leeway_s;
    /* faults at startup (sb_faults); the control endpoint changes them later */
    unsigned latency_ms, jitter_ms, stall_ms;
    double error_rate, reset_rate, truncate_rate, stall_rate, r429_rate;
    int error_status;
    /* transport and validation */
    int gzip;                   /* gzip responses when Accept-Encoding allows (Cloud does) */
    int gzip_min;               /* smallest body compressed, bytes */
    int strict;                 /* validate requests against the OpenAPI documents (sb_strict) */
    char strict_allow[1024];    /* temporary allow-list: refusals matching these are counted, not answered */
    int max_attachment;         /* largest attachment upload, bytes */
    int max_response;           /* largest JSON response body, bytes (500 beyond) */
} sb_config_t;

typedef struct sb_s {
    uv_loop_t *loop;
    sb_config_t cfg;
    sb_data_t *data;
    sb_jql_t **queue_jql;       /* parsed queue JQL, index = data->queues index */
    router_t *router;
    httpd_t *httpd;
    metrics_t *metrics;
    sb_limits_t *limits;
    sb_oauth_t *oauth;
    sb_faults_t *faults;
    sb_reqlog_t *reqlog;
    int64_t clock_offset_ms;    /* fake clock: POST /__sandbox/clock */
    int gzip;                   /* current transport settings (/__sandbox/transport) */
    size_t gzip_min;
    struct sb_strict_s *strict; /* NULL when strict mode is off */
    void *delayed;              /* sb_http: requests waiting on injected latency */
    void **route_refs;          /* router user data, freed at exit */
    int nroute_refs, route_refs_cap;
    uint64_t nrequests, n429, nauth_fail, ntoken_requests, ntoken_by_grant[2];
    uint64_t nwrites; /* JSM API requests that may change data (sb_on_complete) */
} sb_t;

enum sb_family { SB_FAM_PLATFORM, SB_FAM_JSM, SB_FAM_PLAIN };
enum sb_route_flags {
    SB_R_EXPERIMENTAL = 1,  /* 412 without X-ExperimentalApi: opt-in */
    SB_R_NOAUTH = 2,        /* no credentials needed */
    SB_R_ISSUE_WRITE = 4,   /* per-issue write limiter on param "key" */
    SB_R_SITE_ONLY = 8,     /* not served under /ex/jira/{cloudId} */
    SB_R_NOLIMIT = 16,      /* no burst limiter (control endpoint, OAuth) */
    SB_R_AGENT = 32,        /* agents only: a portal customer gets 403 */
};

typedef struct sb_call_s sb_call_t;
typedef void (*sb_handler_fn)(sb_call_t *c);

typedef struct sb_route_s {
    const char *method;
    const char *pattern;   /* router pattern below the root, e.g. "/rest/api/3/issue/:key" */
    sb_handler_fn fn;
    int family;
    int flags;
    int rps;               /* Atlassian burst limit; 0 = by method */
    int cost;              /* points-quota cost (OAuth apps); 0 = 1 */
} sb_route_t;

struct sb_call_s {
    sb_t *sb;
    httpd_req_t *req;
    const sb_route_t *route;
    router_params_t params;
    int gateway;           /* came in under /ex/jira/{cloudId} */
    int user;              /* caller's user index */
    struct sb_bucket_s *bucket; /* the route's burst bucket */
    int oauth;             /* authenticated with an OAuth access token (points quota applies) */
    long jsm_limit_asked, jsm_limit_used; /* sb_jsm_paging: requested vs. clamped limit */
    char base[256];        /* http://host[:port][/ex/jira/<cloudId>] */
};

/* ---- the pipeline (sb_http.c) ---- */
/* Registers routes for the site root and (unless SB_R_SITE_ONLY) the gateway root. */
void sb_routes_register(sb_t *sb, const sb_route_t *routes, int n);
/* The route families; sb_routes_search, sb_routes_users and sb_routes_request
 * have their own headers. */
void sb_routes_platform(sb_t *sb);
void sb_routes_jsm(sb_t *sb);
void sb_routes_control(sb_t *sb);
void sb_routes_attach(sb_t *sb);
void sb_routes_relations(sb_t *sb);
/* The httpd handler: dispatches through sb->router (ud = sb). */
void sb_dispatch(httpd_req_t *req, void *ud);
void sb_on_complete(httpd_req_t *req, int status, void *ud);
/* Charges extra quota points after the fact (search/jql: one per issue returned). */
void sb_quota_charge(sb_call_t *c, int points);
/* Strict mode for a request no route serves: 1 when refused and answered. */
int sb_strict_unrouted(sb_t *sb, httpd_req_t *req);
/* Finishes delayed requests at shutdown. */
void sb_http_shutdown(sb_t *sb);
/* Requests held right now by injected latency or a stall: a test knows a
 * call is in flight at the site (GET /__sandbox/counters "held"). */
size_t sb_http_held(const sb_t *sb);
/* Ends every hold now, as if its time were up (a latency-held request is
 * answered, a stalled one gets its 503); returns how many. A test holds
 * calls with a long latency and lets them go when it chooses
 * (POST /__sandbox/release). */
size_t sb_http_release(sb_t *sb);
/* Frees what sb_routes_register allocated. */
void sb_routes_free(sb_t *sb);

/* ---- call helpers (sb_call.c) ---- */
/* The sandbox clock: now plus the offset POST /__sandbox/clock set. */
int64_t sb_now(const sb_t *sb);
const char *sb_param(const sb_call_t *c, const char *name);
/* Query parameter into out; -1 when absent or too long. */
int sb_query(const sb_call_t *c, const char *name, char *out, size_t outsz);
/* Integer query parameter: dflt when absent; -1 and *bad = 1 when malformed. */
long sb_query_long(const sb_call_t *c, const char *name, long dflt, int *bad);
int sb_query_bool(const sb_call_t *c, const char *name, int dflt);
/* Parses the JSON body (depth/size limited); on failure answers 400 in the
 * route's family and returns NULL. */
json_t *sb_body_json(sb_call_t *c);

/* Every "expand" query parameter (up to 10), comma-joined into out: 0, or
 * -1 having answered 400 (servicedeskapi error) when one value or the list
 * does not fit (out is then ""). */
int sb_expand_param(sb_call_t *c, char *out, size_t outsz);
/* Users from {"accountIds":[...]} into out (up to max, *n of them);
 * returns the count of unknown ids. */
int sb_account_ids(sb_call_t *c, const json_t *b, int *out, int max, int *n);

/* The user named by the accountId query parameter (GET /user, /user/groups);
 * -1 having answered Jira's 400 (absent) or 404 (unknown). */
int sb_user_param_or_error(sb_call_t *c);
/* The id/key/name/accountId/value of a reference object ({"id":"3"},
 * {"name":"High"}, ...), integers printed into buf; NULL when none. */
const char *sb_ref_str(const json_t *obj, char *buf, size_t bufsz);
/* A client's value for site custom field xf (a select's {"id"}/{"value"} or
 * option text, a user's accountId, a number, a text); null clears. 0, or -1
 * with Jira's message in err. out->s is malloc'd for text. */
int sb_xvalue_parse(const sb_call_t *c, int xf, const json_t *v, sb_xval_t *out, char *err, size_t errsz);

/* ---- responses ---- */
/* A JSON string of msg, which may quote client input; a fixed text when
 * msg is not valid UTF-8. */
json_t *sb_checked_str(const char *msg);
void sb_json(sb_call_t *c, int status, json_t *v); /* steals v */
/* Any response body: gzip-compressed when the transport settings and the
 * client's Accept-Encoding allow (Content-Encoding, Vary added). */
void sb_send(httpd_req_t *req, int status, const char *ctype, const char *body, size_t len);
/* The same for a bare request (jsontext_dump_buf); steals v. */
void sb_respond_json(httpd_req_t *req, int status, json_t *v);
void sb_no_content(sb_call_t *c);
void sb_err_platform(sb_call_t *c, int status, const char *msg);
void sb_err_platform_field(sb_call_t *c, int status, const char *field, const char *msg);
void sb_err_jsm(sb_call_t *c, int status, const char *msg, const char *i18n_key);
void sb_err_gateway(httpd_req_t *req, int status, const char *msg);
/* 404 for a missing issue in the route's family. */
void sb_err_issue_missing(sb_call_t *c);
/* The issue named by param "key" when the caller may see it; otherwise
 * answers 404 (missing and forbidden alike) and returns NULL. */
sb_issue_t *sb_issue_or_404(sb_call_t *c);
/* Agents see every issue; a portal customer only those they reported or
 * take part in. */
int sb_visible(const sb_call_t *c, const sb_issue_t *is);
int sb_is_customer(const sb_call_t *c);
/* Atlassian's 429: headers + body. reason e.g. "jira-burst-based". */
void sb_respond_429(httpd_req_t *req, int limit, int retry_after_s, const char *reason, int with_retry_after,
                    int64_t now_ms);

/* ---- DTO helpers ---- */
void sb_fmt_jira_time(int64_t ms, char *out, size_t outsz);   /* 2021-01-17T12:34:00.000+0000 */
json_t *sb_date_dto(int64_t ms);
json_t *sb_duration_dto(int64_t ms);
json_t *sb_user_json(const sb_call_t *c, int user);            /* platform UserDetails; null for -1 */
json_t *sb_user_dto(const sb_call_t *c, int user);             /* servicedeskapi UserDTO */
json_t *sb_avatar_urls(const sb_call_t *c, int user);
/* Platform page: startAt/maxResults parsed with default and maximum. */
void sb_platform_paging(const sb_call_t *c, long dflt, long max, long *start, long *limit);
/* JSM page: start/limit parsed; limit clamped to max. As on JSM, a too-high
 * limit is echoed in the page while fewer items come back (size < limit with
 * isLastPage false). */
void sb_jsm_paging(sb_call_t *c, long dflt, long max, long *start, long *limit);
/* Builds the JSM paged DTO around values (stolen); total = items available. */
json_t *sb_jsm_page(const sb_call_t *c, json_t *values, long start, long limit, long total);

/* The page of a list of n items whose i-th is item(c, ud, i) (a new
 * reference): only the requested window is built. JSM style
 * (sb_jsm_paging, sb_jsm_page) or platform style (startAt/maxResults,
 * {startAt, maxResults, total, <key>: [...]}). */
typedef json_t *(*sb_item_fn)(const sb_call_t *c, const void *ud, long i);
void sb_jsm_list(sb_call_t *c, long dflt, long max, long n, sb_item_fn item, const void *ud);
void sb_platform_list(sb_call_t *c, long dflt, long max, const char *key, long n, sb_item_fn item, const void *ud);
/* Items for those: UserDTOs of an array of user indices (ud: const int *). */
json_t *sb_user_dto_item(const sb_call_t *c, const void *users, long i);

/* A JSM-style page built while walking the matching items in order:
 *   sb_pager_t pg; sb_pager_init(c, &pg, 50, 100);
 *   for (...) if (matches && sb_pager_take(&pg)) json_array_append_new(pg.values, dto);
 *   sb_pager_send(c, &pg);   -> 200 {start, limit, size, isLastPage, values, _links} */
typedef struct sb_pager_s {
    long start, limit, total;
    json_t *values;
} sb_pager_t;
void sb_pager_init(sb_call_t *c, sb_pager_t *pg, long dflt, long max);
/* Counts one more matching item; 1 when it falls on the page. */
int sb_pager_take(sb_pager_t *pg);
void sb_pager_send(sb_call_t *c, sb_pager_t *pg);

/* Queue JQL compiled at startup/reset. */
const sb_jql_t *sb_queue_jql(const sb_t *sb, const sb_queue_t *q);
void sb_queues_compile(sb_t *sb);
void sb_queues_free(sb_t *sb);
/* Rebuilds the data set from the seed (control endpoint reset). */
void sb_reset_data(sb_t *sb);

#endif
