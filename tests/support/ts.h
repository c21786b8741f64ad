/* ts: helpers for integration tests that run the real binaries over real
 * HTTP against the PostgreSQL and Redis started by tests/run.sh.
 *
 * Environment (from tests/run.sh): JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL,
 * JSMCP_BIN_DIR, JSMCP_TEST_ARTIFACTS.
 *
 * Everything here is blocking on purpose: tests are the client side, the
 * binaries under test run in their own processes with their own loops.
 * Failures abort the test through Criterion's cr_assert.
 */
#ifndef JSMCP_TS_H
#define JSMCP_TS_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#define TS_MAX_ENV 32

/* ---- environment and resources ---- */
const char *ts_getenv(const char *name); /* asserts that it is set */
int ts_free_port(void);
/* A fresh database on the test server; url_out gets its conninfo. */
void ts_db_create(char *url_out, size_t outsz);
/* A unique Redis key prefix ("t<pid>_<n>:"). */
void ts_redis_prefix(char *out, size_t outsz);
/* Runs a Redis command on JSMCP_TEST_REDIS_URL; returns the reply as text
 * (integers and status as their text, nil as NULL, arrays joined by '\n');
 * caller frees. */
char *ts_redis(const char *fmt, ...);
/* A hiredis connection to JSMCP_TEST_REDIS_URL (asserts it connects);
 * caller frees with redisFree. */
struct redisContext *ts_redis_connect(void);
/* Runs SQL on url; returns the first column of the first row (NULL when no
 * row); caller frees. Asserts the query succeeds. */
char *ts_sql(const char *url, const char *sql);

/* ---- processes ---- */
typedef struct ts_proc_s {
    pid_t pid;
    char name[64];
    char log[512];   /* stdout+stderr of the process */
    int port;
} ts_proc_t;

/* Spawns $JSMCP_BIN_DIR/<bin> with args (NULL-terminated, may be NULL) and
 * the current environment plus env ("NAME=value", NULL-terminated). Output
 * goes to $JSMCP_TEST_ARTIFACTS/<name>.log. If port > 0 waits (up to 15 s)
 * until GET http://127.0.0.1:<port>/healthz answers. The process gets
 * SIGKILL when the test's process ends (a failed assertion ends it at once),
 * so call ts_spawn from the test's own thread, not from a thread it starts. */
void ts_spawn(ts_proc_t *p, const char *name, const char *bin, const char *const *args,
              const char *const *env, int port);
/* Starts a Redis of the test's own (redis-server on a free port, no
 * persistence, noeviction) and points JSMCP_TEST_REDIS_URL at it, so the
 * APIs started after it, ts_redis and ts_redis_connect use it: for a test
 * that puts Redis in a state the other tests of the run must not share
 * (out of memory). Stop it with ts_stop. */
void ts_redis_private(ts_proc_t *p, const char *name);
/* Kills that Redis (SIGKILL: nothing saved on the way out) and starts it
 * again on the same port, from the snapshot its last SAVE wrote: a crash
 * and restart with RDB persistence. */
void ts_redis_restart(ts_proc_t *p);
/* SIGTERM, waits up to 15 s (then SIGKILL); returns the exit status
 * (0 = clean; sanitizer reports make it non-zero). */
int ts_stop(ts_proc_t *p);
/* Counts lines of the process log that contain needle. */
int ts_log_count(const ts_proc_t *p, const char *needle);
/* 1 if any of the given files contains needle (binary-safe search). */
int ts_file_contains(const char *path, const char *needle);

/* ---- HTTP (libcurl easy) ---- */
typedef struct ts_resp_s {
    long status;
    char *body;       /* NUL-terminated */
    size_t len;
    char *headers;    /* raw response headers */
    json_t *json;     /* parsed body when it is JSON, else NULL */
} ts_resp_t;

/* headers: "Name: value" strings, NULL-terminated, may be NULL. body may be NULL. */
void ts_http(ts_resp_t *r, const char *method, const char *url, const char *const *headers,
             const char *body, size_t bodylen);
/* Value of a response header (case-insensitive), copied into out; NULL if absent. */
const char *ts_resp_header(const ts_resp_t *r, const char *name, char *out, size_t outsz);
void ts_resp_free(ts_resp_t *r);

/* ---- the JSM sandbox ---- */
/* Environment entry that turns the sandbox's strict mode on (sandbox/sb_strict.h):
 * every test that runs the sandbox passes it and checks ts_sandbox_strict_refused. */
#define TS_SANDBOX_STRICT "JSM_SANDBOX_STRICT=1"
/* Requests the sandbox at sb_url refused in strict mode so far (-1 when it
 * cannot tell); the refusal keys go to stderr. */
long ts_sandbox_strict_refused(const char *sb_url);

/* ---- the admin API with a fresh database and Redis prefix ---- */
typedef struct ts_api_s {
    ts_proc_t proc;
    char url[64];            /* http://127.0.0.1:<port> */
    char metrics_url[96];    /* http://127.0.0.1:<metrics port>/metrics (JSMCP_API_METRICS_LISTEN) */
    char db_url[256];
    char redis_prefix[64];
    char master_keys[128];   /* JSMCP_MASTER_KEYS value */
    char bootstrap_key[64];
    char worker_url[64];     /* JSMCP_PUBLIC_WORKER_URL given to the API */
    char env[TS_MAX_ENV][512];
    int nenv;
} ts_api_t;

/* Prepares ids, keys, database and prefix and starts jsmcp-api. extra_env
 * adds or overrides variables (may be NULL). */
void ts_api_start(ts_api_t *a, const char *name, const char *const *extra_env);
/* The environment the API got, NULL-terminated (for starting a worker or a
 * second API with the same settings: a second API needs its own
 * JSMCP_API_LISTEN and JSMCP_API_METRICS_LISTEN, see ts_api_replica). */
const char **ts_api_env(ts_api_t *a, const char **out, size_t max);
int ts_api_stop(ts_api_t *a);
/* Starts another jsmcp-api on a's database and Redis prefix (a replica),
 * on its own ports, with extra_env added (may be NULL). */
void ts_api_replica(ts_api_t *b, const ts_api_t *a, const char *name, const char *const *extra_env);

/* Calls the API with a bearer key and JSON body (may be NULL). */
void ts_api_call(ts_resp_t *r, const ts_api_t *a, const char *key, const char *method,
                 const char *path, const char *json_body);
/* Creates a workspace (bootstrap key) and an API key for it. ws_id and key
 * are written out (>= 64 bytes each). */
void ts_api_workspace(const ts_api_t *a, const char *name, char *ws_id, char *key);

#endif
