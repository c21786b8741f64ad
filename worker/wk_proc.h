/* wk_proc: one worker process's root struct (wk_worker_t) and its
 * configuration, which every worker module reaches through. Types only:
 * the process's life (start, signals, the drain) is wk_worker.h's and
 * wk_drain.h's, so a module below them can hold a wk_worker_t without
 * depending on the module that runs it. No MCP state another worker would
 * need is here: sessions live in Redis (wk_session.h).
 */
#ifndef JSMCP_WK_PROC_H
#define JSMCP_WK_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "defer.h"
#include "httpc.h"
#include "httpd.h"
#include "metrics.h"
#include "pacerule.h"
#include "rcli.h"
#include "secret.h"
#include "wk_catalog.h"
#include "wk_metrics.h"

typedef struct wk_config_s {
    char host[256];
    int port;
    char metrics_host[256];      /* JSMCP_WORKER_METRICS_LISTEN: /metrics, never on the public port */
    int metrics_port;
    int metrics_on;              /* 0: JSMCP_WORKER_METRICS_LISTEN=off */
    int workers;                 /* JSMCP_WORKERS */
    const char *redis_url;
    const char *redis_prefix;
    const char *site_allowlist;  /* JSMCP_SITE_ALLOWLIST */
    const char *oauth_api_url;   /* JSMCP_OAUTH_API_URL: the OAuth gateway base, NULL = by site (wk_record.h) */
    const char *allowed_hosts;   /* JSMCP_WORKER_ALLOWED_HOSTS: extra Host/Origin names, "*" = any */
    const char *public_url;      /* JSMCP_PUBLIC_WORKER_URL: its host is allowed too */
    long session_ttl_s;          /* JSMCP_SESSION_TTL */
    long upstream_timeout_ms;    /* JSMCP_UPSTREAM_TIMEOUT */
    long drain_timeout_ms;       /* JSMCP_DRAIN_TIMEOUT: then the master kills what is left */
    long max_body;               /* JSMCP_WORKER_MAX_BODY */
    long sse_keepalive_ms;       /* JSMCP_SSE_KEEPALIVE */
    long tools_page;             /* tools/list page size */
    long account_cache_ms;       /* JSMCP_ACCOUNT_CACHE: reuse a fetched account this long */
    int check_keep;              /* JSMCP_CHECK_KEEP: results also from the full payload (tests) */
    long server_cache_ms;        /* JSMCP_SERVER_CACHE: trust a cached server/session this long, 0 = off */
    long field_cache_ms;         /* JSMCP_FIELD_CACHE: reuse an account's field list this long */
    pace_rule_t pace_api_token; /* JSMCP_PACE_API_TOKEN */
    pace_rule_t pace_oauth;     /* JSMCP_PACE_OAUTH */
    pace_rule_t pace_near;      /* JSMCP_PACE_NEAR_LIMIT: after X-RateLimit-NearLimit without RateLimit r/t */
    long upstream_max_bytes;    /* JSMCP_UPSTREAM_MAX_BYTES: largest JSM answer, after decompression */
    long metrics_max_accounts;     /* JSMCP_METRICS_MAX_ACCOUNTS: account label values per process */
    long sessions_per_token;       /* JSMCP_SESSIONS_PER_TOKEN: sessions per MCP URL, 0 = no cap (wk_session.h) */
    long streams_per_token;        /* JSMCP_STREAMS_PER_TOKEN: open SSE streams per MCP URL, 0 = no cap */
    pace_rule_t init_rate;         /* JSMCP_INIT_RATE_PER_TOKEN: initialize per MCP URL (per_s 0 = off) */
    long resource_poll_ms;         /* JSMCP_RESOURCE_POLL_INTERVAL: a subscribed resource is read this often */
    pace_rule_t resource_poll_rate;/* JSMCP_RESOURCE_POLL_RATE: subscription polls per account */
    long completion_cache_ms;      /* JSMCP_COMPLETION_CACHE: completion candidates kept per account */
    int fixtures;                  /* JSMCP_TEST_FIXTURES=1 in a test build: the conformance profile (wk_fixtures.h) */
} wk_config_t;

typedef struct wk_sse_s wk_sse_t;

/* The MCP URL's secret token, /mcp/<token>: longer ones are unknown (404). */
#define WK_URL_TOKEN_MAX 256

typedef struct wk_worker_s {
    uv_loop_t *loop;
    const wk_config_t *cfg;
    httpd_t *httpd;
    httpd_t *metrics_httpd;     /* the metrics listener (JSMCP_WORKER_METRICS_LISTEN), NULL when off */
    int httpd_open;             /* listeners not yet closed by the drain */
    rcli_t *redis;
    httpc_t *httpc;
    metrics_t *metrics;
    wk_metrics_shm_t *shm;      /* the pool's shared metrics slots (wk_metrics.h) */
    int slot;                   /* this process' slot */
    uv_timer_t publish;
    wk_catalog_t *catalog;
    secret_keyring_t *keyring;
    struct wk_acct_cache_s *acct_cache; /* decrypted accounts (wk_store.c) */
    struct wk_cache_s *cache;           /* server records and sessions (wk_cache.c) */
    struct wk_fieldcache_s *fields;     /* accounts' field lists (wk_request.h) */
    struct wk_refresh_waiter_s *refresh_waiters; /* calls waiting for a refreshed token (wk_refresh.c) */
    long metric_accounts;       /* distinct account label values so far (wk_callrec.c) */
    struct wk_audit_s *audit;   /* audit records on their way to Redis (wk_audit.c) */
    struct wk_push_state_s *push;       /* server requests waiting for the client (wk_push.c) */
    struct wk_prompts_s *prompts;       /* the prompt catalog (wk_prompts.c) */
    struct wk_resources_s *resources;   /* resource templates (wk_resources.c) */
    struct wk_complete_s *complete;     /* completion candidates per account (wk_complete.c) */
    struct wk_subscribe_s *subscribe;   /* subscribed resources' polling (wk_subscribe.c) */
    struct wk_listwatch_s *listwatch;   /* what open streams were offered (wk_listwatch.c) */
    struct router_s *router;    /* the public port's routes (wk_http.c) */
    struct router_s *metrics_router; /* the metrics listener's (wk_http.c) */
    wk_sse_t *streams;          /* open SSE streams of this process (wk_sse.c) */
    size_t nstreams;
    int draining;
    /* Legacy POSTs answered 202 whose tool call still runs: httpd no longer
     * holds them, so the drain waits for them before audit and Redis stop. */
    size_t detached_calls;
    int httpd_closed, audit_stopping;
    uv_signal_t sigterm, sigint;
    uv_timer_t keepalive;
    /* Answers a worker function has at once, run from the loop: no
     * callback runs before the call that registered it returns (defer.h). */
    defer_t defer;
} wk_worker_t;

#endif
