/* ts: see ts.h. */
#include "ts.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int ts_seq;

const char *ts_getenv(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "environment variable %s is not set (run through tests/run.sh)", name);
    return v;
}

int ts_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- PostgreSQL and Redis ---- */

char *ts_sql(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    cr_assert(PQstatus(c) == CONNECTION_OK, "connect %s: %s", url, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "sql %s: %s", sql, PQerrorMessage(c));
    char *out = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return out;
}

void ts_db_create(char *url_out, size_t outsz)
{
    const char *base = ts_getenv("JSMCP_TEST_PG_URL");
    char name[64], sql[128];
    snprintf(name, sizeof name, "t_%d_%d_%ld", (int)getpid(), ++ts_seq, (long)time(NULL) % 100000);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    free(ts_sql(base, sql));
    /* base ends in "/postgres": swap the database name. */
    const char *slash = strrchr(base, '/');
    cr_assert(slash);
    snprintf(url_out, outsz, "%.*s/%s", (int)(slash - base), base, name);
}

/* pid and sequence alone repeat: pid_max is often 32768 and a full run forks
 * far more test processes than that, and a reused prefix inherits the earlier
 * process's keys, some of them tombstones that expire mid-test. A random part
 * makes each prefix new. */
void ts_redis_prefix(char *out, size_t outsz)
{
    unsigned int nonce = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    cr_assert(f && fread(&nonce, sizeof nonce, 1, f) == 1, "read /dev/urandom");
    fclose(f);
    snprintf(out, outsz, "t%d_%d_%08x:", (int)getpid(), ++ts_seq, nonce);
}

redisContext *ts_redis_connect(void)
{
    const char *url = ts_getenv("JSMCP_TEST_REDIS_URL");
    char host[64] = "127.0.0.1";
    int port = 6379;
    cr_assert(sscanf(url, "redis://%63[^:]:%d", host, &port) == 2, "bad redis url %s", url);
    redisContext *c = redisConnect(host, port);
    cr_assert(c && !c->err, "redis connect %s", url);
    return c;
}

static void reply_text(redisReply *r, char **out, size_t *len)
{
    char tmp[64];
    const char *s = NULL;
    size_t n = 0;
    switch (r->type) {
    case REDIS_REPLY_STRING: case REDIS_REPLY_STATUS: case REDIS_REPLY_ERROR:
        s = r->str; n = r->len; break;
    case REDIS_REPLY_INTEGER:
        n = (size_t)snprintf(tmp, sizeof tmp, "%lld", r->integer); s = tmp; break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) {
            if (i) {
                *out = realloc(*out, *len + 2);
                (*out)[(*len)++] = '\n';
                (*out)[*len] = 0;
            }
            reply_text(r->element[i], out, len);
        }
        return;
    default:
        return;
    }
    *out = realloc(*out, *len + n + 1);
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = 0;
}

char *ts_redis(const char *fmt, ...)
{
    redisContext *c = ts_redis_connect();
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r, "redis command failed");
    char *out = NULL;
    size_t len = 0;
    if (r->type != REDIS_REPLY_NIL) {
        out = calloc(1, 1);
        reply_text(r, &out, &len);
    }
    freeReplyObject(r);
    redisFree(c);
    return out;
}

/* ---- processes ---- */

void ts_spawn(ts_proc_t *p, const char *name, const char *bin, const char *const *args,
              const char *const *env, int port)
{
    char path[512];
    const char *art = getenv("JSMCP_TEST_ARTIFACTS");
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (bin[0] == '/')
        snprintf(path, sizeof path, "%s", bin); /* a system binary (ts_redis_private) */
    else
        snprintf(path, sizeof path, "%s/%s", ts_getenv("JSMCP_BIN_DIR"), bin);
    snprintf(p->log, sizeof p->log, "%s/%s.log", art ? art : "/tmp", name);
    p->port = port;
    cr_assert(access(path, X_OK) == 0, "%s is not built", path);

    const char *argv[34] = {path};
    int argc = 1;
    for (; args && args[argc - 1] && argc < 33; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* The binary dies with the test. Criterion runs each test in a child
         * process that exits as soon as an assertion fails, before any
         * ts_stop: without this the binary would keep running (and keep its
         * port, database connections and log) after the run. SIGKILL stays
         * across execv; getppid() catches a test that died before prctl. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    if (port <= 0)
        return;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    for (int i = 0; i < 300; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            p->pid = 0;
            cr_assert_fail("%s exited during start-up (status %d); log: %s", name, st, p->log);
        }
        ts_resp_t r;
        ts_http(&r, "GET", url, NULL, NULL, 0);
        long status = r.status;
        ts_resp_free(&r);
        if (status == 200)
            return;
        sleep_ms(50);
    }
    cr_assert_fail("%s did not answer %s within 15 s; log: %s", name, url, p->log);
}

/* Starts redis-server on port, its snapshot file in a directory of its
 * own named after the process (a SAVE writes there, a restart reads it). */
static void redis_spawn(ts_proc_t *p, const char *name, int port)
{
    char ps[16], dir[300];
    const char *tmp = getenv("JSMCP_TEST_TMP");
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(dir, sizeof dir, "%s/%s.redis", tmp && *tmp ? tmp : "/tmp", name);
    mkdir(dir, 0755);
    const char *args[] = {"--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", dir, "--maxmemory-policy", "noeviction", NULL};
    const char *bin = access("/usr/bin/redis-server", X_OK) == 0 ? "/usr/bin/redis-server" : "/usr/local/bin/redis-server";
    ts_spawn(p, name, bin, args, NULL, 0);
    p->port = port;
}

static void redis_wait_up(ts_proc_t *p)
{
    for (int i = 0; i < 300; i++) {
        redisContext *c = redisConnect("127.0.0.1", p->port);
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        int up = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (c)
            redisFree(c);
        if (up)
            return;
        sleep_ms(50);
    }
    cr_assert_fail("%s did not answer PING within 15 s; log: %s", p->name, p->log);
}

void ts_redis_restart(ts_proc_t *p)
{
    char name[64];
    int port = p->port;
    snprintf(name, sizeof name, "%s", p->name);
    kill(p->pid, SIGKILL); /* no save on the way out: what the last SAVE wrote is what comes back */
    ts_stop(p);
    redis_spawn(p, name, port);
    redis_wait_up(p);
}

void ts_redis_private(ts_proc_t *p, const char *name)
{
    int port = ts_free_port();
    char url[64];
    redis_spawn(p, name, port);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    redis_wait_up(p);
    setenv("JSMCP_TEST_REDIS_URL", url, 1);
}

int ts_stop(ts_proc_t *p)
{
    int st = 0;
    if (p->pid <= 0)
        return 0;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(50);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
    return 137;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap)
            buf = realloc(buf, cap = cap * 2 + 65536);
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

int ts_file_contains(const char *path, const char *needle)
{
    size_t n;
    char *s = read_file(path, &n);
    if (!s)
        return 0;
    int found = memmem(s, n, needle, strlen(needle)) != NULL;
    free(s);
    return found;
}

int ts_log_count(const ts_proc_t *p, const char *needle)
{
    size_t n;
    char *s = read_file(p->log, &n);
    int count = 0;
    if (!s)
        return 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
        count += strstr(line, needle) != NULL;
    free(s);
    return count;
}

/* ---- HTTP ---- */

typedef struct {
    char *p;
    size_t n;
} ts_acc_t;

static size_t acc_write(char *ptr, size_t sz, size_t nm, void *ud)
{
    ts_acc_t *a = ud;
    size_t n = sz * nm;
    a->p = realloc(a->p, a->n + n + 1);
    memcpy(a->p + a->n, ptr, n);
    a->n += n;
    a->p[a->n] = 0;
    return n;
}

void ts_http(ts_resp_t *r, const char *method, const char *url, const char *const *headers,
             const char *body, size_t bodylen)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    ts_acc_t b = {calloc(1, 1), 0}, h = {calloc(1, 1), 0};
    memset(r, 0, sizeof *r);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, acc_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, acc_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r->body = b.p;
    r->len = b.n;
    r->headers = h.p;
    if (r->len)
        r->json = json_loadb(r->body, r->len, 0, NULL);
}

const char *ts_resp_header(const ts_resp_t *r, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outsz, "%.*s", (int)(line + ll - v), v);
            return out;
        }
        line = eol ? eol + 2 : line + ll;
    }
    return NULL;
}

void ts_resp_free(ts_resp_t *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* ---- the admin API ---- */

static void api_env_add(ts_api_t *a, const char *name, const char *value)
{
    size_t nl = strlen(name);
    for (int i = 0; i < a->nenv; i++)
        if (strncmp(a->env[i], name, nl) == 0 && a->env[i][nl] == '=') {
            snprintf(a->env[i], sizeof a->env[i], "%s=%s", name, value);
            return;
        }
    cr_assert(a->nenv < TS_MAX_ENV);
    snprintf(a->env[a->nenv++], sizeof a->env[0], "%s=%s", name, value);
}

/* nbytes random bytes as standard base64 (what JSMCP_MASTER_KEYS takes). */
static void random_b64(char *out, size_t outsz, size_t nbytes)
{
    unsigned char raw[48];
    cr_assert(nbytes <= sizeof raw && sodium_init() >= 0);
    randombytes_buf(raw, nbytes);
    sodium_bin2base64(out, outsz, raw, nbytes, sodium_base64_VARIANT_ORIGINAL);
}

void ts_api_start(ts_api_t *a, const char *name, const char *const *extra_env)
{
    char key[60], port[16], v[128];
    memset(a, 0, sizeof *a);
    ts_db_create(a->db_url, sizeof a->db_url);
    ts_redis_prefix(a->redis_prefix, sizeof a->redis_prefix);
    random_b64(key, sizeof key, 32);
    snprintf(a->master_keys, sizeof a->master_keys, "k1:%s", key);
    random_b64(key, sizeof key, 24);
    for (char *c = key; *c; c++)
        if (*c == '+' || *c == '/' || *c == '=')
            *c = 'x';
    snprintf(a->bootstrap_key, sizeof a->bootstrap_key, "jsb_%s", key);
    int p = ts_free_port();
    snprintf(a->url, sizeof a->url, "http://127.0.0.1:%d", p);
    snprintf(port, sizeof port, "%d", ts_free_port());
    snprintf(a->worker_url, sizeof a->worker_url, "http://127.0.0.1:%s", port);

    api_env_add(a, "JSMCP_DATABASE_URL", a->db_url);
    api_env_add(a, "JSMCP_REDIS_URL", ts_getenv("JSMCP_TEST_REDIS_URL"));
    api_env_add(a, "JSMCP_REDIS_PREFIX", a->redis_prefix);
    api_env_add(a, "JSMCP_MASTER_KEYS", a->master_keys);
    api_env_add(a, "JSMCP_BOOTSTRAP_KEY", a->bootstrap_key);
    api_env_add(a, "JSMCP_PUBLIC_WORKER_URL", a->worker_url);
    snprintf(v, sizeof v, "127.0.0.1:%d", p);
    api_env_add(a, "JSMCP_API_LISTEN", v);
    int mp = ts_free_port();
    snprintf(v, sizeof v, "127.0.0.1:%d", mp);
    api_env_add(a, "JSMCP_API_METRICS_LISTEN", v);
    snprintf(a->metrics_url, sizeof a->metrics_url, "http://127.0.0.1:%d/metrics", mp);
    for (size_t i = 0; extra_env && extra_env[i]; i++) {
        const char *eq = strchr(extra_env[i], '=');
        cr_assert(eq, "extra env entry without '=': %s", extra_env[i]);
        char nm[128];
        snprintf(nm, sizeof nm, "%.*s", (int)(eq - extra_env[i]), extra_env[i]);
        api_env_add(a, nm, eq + 1);
    }
    const char *envp[TS_MAX_ENV + 1];
    ts_spawn(&a->proc, name, "jsmcp-api", NULL, ts_api_env(a, envp, TS_MAX_ENV + 1), p);
}

const char **ts_api_env(ts_api_t *a, const char **out, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < a->nenv && n + 1 < max; i++)
        out[n++] = a->env[i];
    out[n] = NULL;
    return out;
}

int ts_api_stop(ts_api_t *a)
{
    return ts_stop(&a->proc);
}

void ts_api_replica(ts_api_t *b, const ts_api_t *a, const char *name, const char *const *extra_env)
{
    char v[128];
    *b = *a;
    memset(&b->proc, 0, sizeof b->proc);
    int p = ts_free_port(), mp = ts_free_port();
    snprintf(b->url, sizeof b->url, "http://127.0.0.1:%d", p);
    snprintf(b->metrics_url, sizeof b->metrics_url, "http://127.0.0.1:%d/metrics", mp);
    snprintf(v, sizeof v, "127.0.0.1:%d", p);
    api_env_add(b, "JSMCP_API_LISTEN", v);
    snprintf(v, sizeof v, "127.0.0.1:%d", mp);
    api_env_add(b, "JSMCP_API_METRICS_LISTEN", v);
    for (size_t i = 0; extra_env && extra_env[i]; i++) {
        const char *eq = strchr(extra_env[i], '=');
        cr_assert(eq, "extra env entry without '=': %s", extra_env[i]);
        char nm[128];
        snprintf(nm, sizeof nm, "%.*s", (int)(eq - extra_env[i]), extra_env[i]);
        api_env_add(b, nm, eq + 1);
    }
    const char *envp[TS_MAX_ENV + 1];
    ts_spawn(&b->proc, name, "jsmcp-api", NULL, ts_api_env(b, envp, TS_MAX_ENV + 1), p);
}

void ts_api_call(ts_resp_t *r, const ts_api_t *a, const char *key, const char *method,
                 const char *path, const char *json_body)
{
    char url[1024], auth[256];
    const char *hdr[3] = {auth, "Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s%s", a->url, path);
    if (key)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    else
        hdr[0] = "X-No-Auth: 1";
    ts_http(r, method, url, hdr, json_body, json_body ? strlen(json_body) : 0);
}

void ts_api_workspace(const ts_api_t *a, const char *name, char *ws_id, char *key)
{
    ts_resp_t r;
    char body[256], path[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    ts_api_call(&r, a, a->bootstrap_key, "POST", "/workspaces", body);
    cr_assert_eq(r.status, 201, "create workspace: %ld %s", r.status, r.body);
    snprintf(ws_id, 64, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    snprintf(path, sizeof path, "/workspaces/%s/api-keys", ws_id);
    ts_api_call(&r, a, a->bootstrap_key, "POST", path, "{\"name\":\"test\"}");
    cr_assert_eq(r.status, 201, "create api key: %ld %s", r.status, r.body);
    snprintf(key, 64, "%s", json_string_value(json_object_get(r.json, "key")));
    ts_resp_free(&r);
}

long ts_sandbox_strict_refused(const char *sb_url)
{
    char url[600];
    ts_resp_t r;
    snprintf(url, sizeof url, "%s/__sandbox/strict", sb_url);
    ts_http(&r, "GET", url, NULL, NULL, 0);
    json_t *refused = json_object_get(r.json, "refused");
    long n = r.status == 200 && json_is_integer(refused) ? (long)json_integer_value(refused) : -1;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r.json, "refusals"), i, x) {
        fprintf(stderr, "sandbox strict mode: %s (x%lld): %s\n", json_string_value(json_object_get(x, "key")),
                (long long)json_integer_value(json_object_get(x, "count")),
                json_string_value(json_object_get(x, "problem")));
    }
    ts_resp_free(&r);
    return n;
}
