/* jsm-sandbox through libcurl (the path the workers use): configuration
 * from the environment, both URL roots, per-family error bodies, a
 * per-issue 429 with Atlassian's headers, gzip as libcurl asks for it,
 * strict mode passing valid calls, and a clean SIGTERM exit with no
 * sanitizer report, also with a stalled request in flight. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts.h"

#define AUTH "Authorization: Basic YWdlbnRAc2FuZGJveC50ZXN0OnNhbmRib3gtYXBpLXRva2Vu" /* agent@sandbox.test:sandbox-api-token */

static ts_proc_t sb;
static char base[64];

static void start(const char *name, const char *const *extra)
{
    char listen[64];
    const char *env[8] = {listen, NULL};
    int port = ts_free_port(), n = 1;
    snprintf(listen, sizeof listen, "JSM_SANDBOX_LISTEN=127.0.0.1:%d", port);
    for (; extra && *extra && n < 7; extra++)
        env[n++] = *extra;
    env[n] = NULL;
    ts_spawn(&sb, name, "jsm-sandbox", NULL, env, port);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
}

static void get(ts_resp_t *r, const char *path, const char *auth)
{
    char url[512];
    const char *h[] = {auth, NULL};
    snprintf(url, sizeof url, "%s%s", base, path);
    ts_http(r, "GET", url, auth ? h : NULL, NULL, 0);
}

Test(sandbox, env_config_roots_and_errors, .timeout = 60)
{
    const char *env[] = {"JSM_SANDBOX_SEED=3", "JSM_SANDBOX_EMAIL=bot@example.com", "JSM_SANDBOX_API_TOKEN=t0k", NULL};
    start("sandbox_env", env);
    ts_resp_t r;
    get(&r, "/rest/api/3/myself", AUTH);
    cr_assert_eq(r.status, 401, "default credentials replaced by the environment");
    cr_assert_str_eq(r.body, "Client must be authenticated to access this resource.");
    ts_resp_free(&r);
    get(&r, "/rest/api/3/myself", "Authorization: Basic Ym90QGV4YW1wbGUuY29tOnQwaw=="); /* bot@example.com:t0k */
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "emailAddress")), "bot@example.com");
    ts_resp_free(&r);
    get(&r, "/__sandbox/state", NULL);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "seed")), 3);
    char gw[128];
    snprintf(gw, sizeof gw, "/ex/jira/%s/rest/servicedeskapi/servicedesk/2",
             json_string_value(json_object_get(r.json, "cloudId")));
    ts_resp_free(&r);
    get(&r, gw, "Authorization: Bearer nope");
    cr_assert_eq(r.status, 401);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "message")), "Unauthorized");
    ts_resp_free(&r);
    get(&r, "/rest/servicedeskapi/servicedesk/42", "Authorization: Basic Ym90QGV4YW1wbGUuY29tOnQwaw==");
    cr_assert_eq(r.status, 404);
    cr_assert(json_is_object(json_object_get(r.json, "i18nErrorMessage")));
    ts_resp_free(&r);
    cr_assert_eq(ts_stop(&sb), 0);
}

Test(sandbox, per_issue_429_headers, .timeout = 60)
{
    const char *env[] = {"JSM_SANDBOX_ISSUE_WRITES_2S=1", TS_SANDBOX_STRICT, NULL};
    start("sandbox_429", env);
    char url[256];
    const char *h[] = {AUTH, "Content-Type: application/json", NULL};
    const char *body = "{\"body\":\"hello\",\"public\":true}";
    snprintf(url, sizeof url, "%s/rest/servicedeskapi/request/ITSM-7/comment", base);
    ts_resp_t r;
    ts_http(&r, "POST", url, h, body, strlen(body));
    cr_assert_eq(r.status, 201, "%s", r.body);
    ts_resp_free(&r);
    ts_http(&r, "POST", url, h, body, strlen(body));
    cr_assert_eq(r.status, 429);
    char v[64];
    cr_assert_not_null(ts_resp_header(&r, "Retry-After", v, sizeof v));
    cr_assert_str_eq(ts_resp_header(&r, "RateLimit-Reason", v, sizeof v), "jira-per-issue-on-write");
    cr_assert_not_null(ts_resp_header(&r, "X-RateLimit-Reset", v, sizeof v));
    cr_assert(strchr(v, 'T') && v[strlen(v) - 1] == 'Z', "ISO reset: %s", v);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "errorMessages"), 0)),
                     "The request has been rate-limited. Please try again later.");
    cr_assert_null(ts_resp_header(&r, "X-RateLimit-NearLimit", v, sizeof v), "only the points quota says NearLimit");
    ts_resp_free(&r);
    cr_assert_eq(ts_sandbox_strict_refused(base), 0, "valid calls pass strict mode");
    cr_assert_eq(ts_stop(&sb), 0);
}

/* The workers ask for gzip (common/httpc.c); Cloud answers gzip, so does the sandbox. */
Test(sandbox, gzip_when_asked, .timeout = 60)
{
    start("sandbox_gzip", NULL);
    ts_resp_t r;
    char v[64];
    const char *h[] = {AUTH, "Accept-Encoding: gzip", NULL};
    char url[256];
    snprintf(url, sizeof url, "%s/rest/api/3/issue/ITSM-994", base);
    ts_http(&r, "GET", url, h, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(ts_resp_header(&r, "Content-Encoding", v, sizeof v), "gzip");
    cr_assert(r.len > 2 && (unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b, "a gzip stream");
    ts_resp_free(&r);
    get(&r, "/rest/api/3/issue/ITSM-994", AUTH);
    cr_assert_null(ts_resp_header(&r, "Content-Encoding", v, sizeof v), "plain when not asked");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "key")), "ITSM-994");
    ts_resp_free(&r);
    cr_assert_eq(ts_stop(&sb), 0);
}

Test(sandbox, sigterm_with_stalled_request, .timeout = 60)
{
    start("sandbox_stall", NULL);
    char url[256];
    const char *h[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"latencyMs\":60000,\"pathPrefix\":\"/rest/api/3/field\"}";
    snprintf(url, sizeof url, "%s/__sandbox/faults", base);
    ts_resp_t r;
    ts_http(&r, "PUT", url, h, body, strlen(body));
    cr_assert_eq(r.status, 200);
    ts_resp_free(&r);
    /* A client that gives up after 2 s (the sandbox holds the request a
     * minute): the hold ends there, counted as clientGone, logged as 499
     * (a cancelled worker call is seen so). */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -s -m 2 -o /dev/null -H '%s' %s/rest/api/3/field", AUTH, base);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 28, "curl must have given up (exit 28), status %d", st);
    long gone = 0, held = 1;
    for (int i = 0; i < 600 && (gone != 1 || held != 0); i++) { /* the close reaches the sandbox soon after */
        get(&r, "/__sandbox/counters", NULL);
        gone = (long)json_integer_value(json_object_get(r.json, "clientGone"));
        held = (long)json_integer_value(json_object_get(r.json, "held"));
        ts_resp_free(&r);
        if (gone != 1 || held != 0)
            usleep(50000);
    }
    cr_assert(gone == 1 && held == 0, "the abandoned request is counted and no longer held: gone %ld, held %ld", gone,
              held);
    get(&r, "/__sandbox/requests", NULL);
    json_t *e = json_array_get(json_object_get(r.json, "entries"), json_array_size(json_object_get(r.json, "entries")) - 1);
    cr_assert_str_eq(json_string_value(json_object_get(e, "path")), "/rest/api/3/field");
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 499);
    ts_resp_free(&r);
    /* A client that waits keeps its request held through SIGTERM: the
     * sandbox exits clean and the client gets the shutdown's 503. */
    char url2[256];
    snprintf(url2, sizeof url2, "%s/rest/api/3/field", base);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execlp("curl", "curl", "-s", "-m", "50", "-o", "/dev/null", "-H", AUTH, url2, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && held != 1; i++) {
        get(&r, "/__sandbox/counters", NULL);
        held = (long)json_integer_value(json_object_get(r.json, "held"));
        ts_resp_free(&r);
        if (held != 1)
            usleep(50000);
    }
    cr_assert_eq(held, 1, "the waiting client's request is held");
    cr_assert_eq(ts_stop(&sb), 0, "clean exit with a delayed request pending");
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiting client got an answer, status %d", st);
}
