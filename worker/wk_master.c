/* wk_master: see wk_master.h. The master has no event loop: it only forks,
 * reaps and forwards signals, synchronously with sigwaitinfo. */
#include "wk_master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "testbuild.h"
#include "clock.h"
#include "wk_pace.h"

#define WK_MAX_WORKERS 256

int wk_master_config(wk_config_t *cfg, char *err, size_t errsz)
{
    cfg_err_t ce = {0};
    memset(cfg, 0, sizeof *cfg);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg_listen("JSMCP_WORKER_LISTEN", "127.0.0.1:8081", cfg->host, sizeof cfg->host, &cfg->port, &ce);
    /* /metrics names every tenant's account ids: its own address, loopback
     * unless the operator says otherwise, never the public port. */
    const char *ml = cfg_str("JSMCP_WORKER_METRICS_LISTEN", "127.0.0.1:9464");
    cfg->metrics_on = strcmp(ml, "off") != 0;
    if (cfg->metrics_on)
        cfg_listen("JSMCP_WORKER_METRICS_LISTEN", "127.0.0.1:9464", cfg->metrics_host, sizeof cfg->metrics_host,
                   &cfg->metrics_port, &ce);
    cfg->workers = (int)cfg_int("JSMCP_WORKERS", ncpu > 0 ? ncpu : 1, 1, WK_MAX_WORKERS, &ce);
    cfg->redis_url = cfg_str("JSMCP_REDIS_URL", "redis://127.0.0.1:6379/0");
    cfg->redis_prefix = cfg_str("JSMCP_REDIS_PREFIX", "jsmcp:");
    cfg->site_allowlist = cfg_str("JSMCP_SITE_ALLOWLIST", "");
    cfg->oauth_api_url = cfg_str("JSMCP_OAUTH_API_URL", NULL);
    cfg->allowed_hosts = cfg_str("JSMCP_WORKER_ALLOWED_HOSTS", "");
    cfg->public_url = cfg_str("JSMCP_PUBLIC_WORKER_URL", NULL);
    cfg->session_ttl_s = (long)(cfg_ms("JSMCP_SESSION_TTL", 86400000, 60000, 30ull * 86400000, &ce) / 1000);
    cfg->upstream_timeout_ms = (long)cfg_ms("JSMCP_UPSTREAM_TIMEOUT", 30000, 100, 300000, &ce);
    /* Long enough for a call that just started (a refresh wait and its retry
     * included) to end by its own timeout. */
    cfg->drain_timeout_ms = (long)cfg_ms("JSMCP_DRAIN_TIMEOUT", (unsigned long long)cfg->upstream_timeout_ms * 2 + 5000,
                                         100, 3600000, &ce);
    cfg->max_body = cfg_int("JSMCP_WORKER_MAX_BODY", 1 << 20, 1024, 16 << 20, &ce);
    cfg->upstream_max_bytes = cfg_int("JSMCP_UPSTREAM_MAX_BYTES", 8 << 20, 16 << 10, 256 << 20, &ce);
    cfg->sse_keepalive_ms = (long)cfg_ms("JSMCP_SSE_KEEPALIVE", 25000, 100, 600000, &ce);
    cfg->tools_page = cfg_int("JSMCP_TOOLS_PAGE_SIZE", 50, 1, 1000, &ce);
    cfg->account_cache_ms = (long)cfg_ms("JSMCP_ACCOUNT_CACHE", 1000, 0, 60000, &ce);
    cfg->check_keep = (int)cfg_int("JSMCP_CHECK_KEEP", 0, 0, 1, &ce);
    cfg->server_cache_ms = (long)cfg_ms("JSMCP_SERVER_CACHE", 2000, 0, 60000, &ce);
    cfg->field_cache_ms = (long)cfg_ms("JSMCP_FIELD_CACHE", 300000, 0, 86400000, &ce);
    cfg->metrics_max_accounts = cfg_int("JSMCP_METRICS_MAX_ACCOUNTS", 1000, 0, 100000, &ce);
    cfg->sessions_per_token = cfg_int("JSMCP_SESSIONS_PER_TOKEN", 100, 0, 100000, &ce);
    cfg->streams_per_token = cfg_int("JSMCP_STREAMS_PER_TOKEN", 20, 0, 100000, &ce);
    cfg->resource_poll_ms = (long)cfg_ms("JSMCP_RESOURCE_POLL_INTERVAL", 30000, 200, 86400000, &ce);
    cfg->completion_cache_ms = (long)cfg_ms("JSMCP_COMPLETION_CACHE", 30000, 0, 3600000, &ce);
    cfg->fixtures = (int)cfg_int("JSMCP_TEST_FIXTURES", 0, 0, 1, &ce);
    if (ce.n) {
        snprintf(err, errsz, "%s", ce.msg);
        return -1;
    }
    if (cfg->oauth_api_url && strncmp(cfg->oauth_api_url, "https://", 8) != 0 &&
        strncmp(cfg->oauth_api_url, "http://", 7) != 0) {
        snprintf(err, errsz, "JSMCP_OAUTH_API_URL must be an http(s) URL");
        return -1;
    }
    char why[256];
    if (pace_rule_parse(cfg_str("JSMCP_PACE_API_TOKEN", ""), &cfg->pace_api_token, why, sizeof why) != 0 ||
        pace_rule_parse(cfg_str("JSMCP_PACE_OAUTH", ""), &cfg->pace_oauth, why, sizeof why) != 0) {
        snprintf(err, errsz, "JSMCP_PACE_API_TOKEN/JSMCP_PACE_OAUTH: %s", why);
        return -1;
    }
    if (pace_rule_parse(cfg_str("JSMCP_PACE_NEAR_LIMIT", "1/s burst 2"), &cfg->pace_near, why, sizeof why) != 0) {
        snprintf(err, errsz, "JSMCP_PACE_NEAR_LIMIT: %s", why);
        return -1;
    }
    if (pace_rule_parse(cfg_str("JSMCP_INIT_RATE_PER_TOKEN", "2/s burst 100"), &cfg->init_rate, why, sizeof why) != 0) {
        snprintf(err, errsz, "JSMCP_INIT_RATE_PER_TOKEN: %s", why);
        return -1;
    }
    if (pace_rule_parse(cfg_str("JSMCP_RESOURCE_POLL_RATE", "1/s burst 5"), &cfg->resource_poll_rate, why,
                        sizeof why) != 0 || cfg->resource_poll_rate.per_s <= 0) {
        snprintf(err, errsz, "JSMCP_RESOURCE_POLL_RATE: %s", cfg->resource_poll_rate.per_s <= 0 ? "must not be off" : why);
        return -1;
    }
    if (cfg->fixtures && !testbuild_on()) {
        /* The conformance fixtures are a test profile: a release binary
         * refuses the variable rather than ignore a forgotten one. */
        snprintf(err, errsz, "JSMCP_TEST_FIXTURES is set, but this build has no test fixtures (a test-only variable; unset it)");
        return -1;
    }
    return 0;
}

typedef struct child_s {
    pid_t pid;
    int64_t started_ms;
    int64_t restart_at_ms; /* > 0: waiting to be restarted */
} child_t;

static pid_t spawn(const wk_config_t *cfg, int fd, int metrics_fd, const sigset_t *old, wk_metrics_shm_t *shm,
                   int slot)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* A worker must not outlive its master (killed with SIGKILL, by the OOM
     * killer, or with the test that started it): nothing would restart or
     * stop it, and it would keep the port. It then drains as on a stop. If
     * the master died before the prctl, getppid() tells. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != master)
        _exit(1);
    /* The child keeps SIGTERM and SIGINT blocked until its loop handles
     * them (wk_worker_run unblocks them): a drain that arrives while a
     * child is still starting is then a clean stop, not a kill. */
    sigset_t mask = *old;
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    int rc = wk_worker_run(cfg, fd, metrics_fd, shm, slot);
    wk_metrics_shm_free(shm);
    exit(rc);
}

int wk_master_run(const wk_config_t *cfg)
{
    int fd = httpd_listen_socket(cfg->host, cfg->port, 1, 4096);
    if (fd < 0) {
        LOG_ERROR("worker", "cannot listen", "listen", cfg->host, "why", strerror(-fd), NULL);
        return 1;
    }
    int metrics_fd = cfg->metrics_on ? httpd_listen_socket(cfg->metrics_host, cfg->metrics_port, 1, 64) : -1;
    if (cfg->metrics_on && metrics_fd < 0) {
        LOG_ERROR("worker", "cannot listen for /metrics (JSMCP_WORKER_METRICS_LISTEN)", "listen", cfg->metrics_host,
                  "why", strerror(-metrics_fd), NULL);
        close(fd);
        return 1;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

    child_t kids[WK_MAX_WORKERS] = {{0}};
    int n = cfg->workers, draining = 0, alive = 0, unclean = 0;
    int64_t drain_deadline = 0;
    /* Without the shared area each process' /metrics shows only itself. */
    wk_metrics_shm_t *shm = wk_metrics_shm_create(n);
    if (!shm)
        LOG_WARN("worker", "no shared metrics area: /metrics shows one process", "why", strerror(errno), NULL);
    for (int i = 0; i < n; i++) {
        kids[i].pid = spawn(cfg, fd, metrics_fd, &old, shm, i);
        kids[i].started_ms = clock_now_ms();
        alive += kids[i].pid > 0;
    }
    char num[32], mport[16];
    snprintf(num, sizeof num, "%d", n);
    snprintf(mport, sizeof mport, "%d", cfg->metrics_on ? cfg->metrics_port : 0);
    LOG_INFO("worker", "master started", "listen", cfg->host, "workers", num, "metrics_host",
             cfg->metrics_on ? cfg->metrics_host : "off", "metrics_port", mport, NULL);

    while (alive > 0 || !draining) {
        /* Wake at least every 200 ms to restart children whose pause ended. */
        struct timespec ts = {0, 200 * 1000 * 1000};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &ts);
        int wait_errno = errno; /* waitpid below sets ECHILD when no child is alive */
        if (sig == SIGTERM || sig == SIGINT) {
            if (!draining) {
                draining = 1;
                drain_deadline = clock_now_ms() + cfg->drain_timeout_ms;
                LOG_INFO("worker", "master draining", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
                for (int i = 0; i < n; i++)
                    if (kids[i].pid > 0)
                        kill(kids[i].pid, SIGTERM);
            }
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                if (kids[i].pid != pid)
                    continue;
                kids[i].pid = 0;
                alive--;
                int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                if (!clean)
                    unclean = 1;
                if (draining)
                    break;
                snprintf(num, sizeof num, "%d", (int)pid);
                LOG_WARN("worker", "worker died, restarting", "pid", num, NULL);
                /* A child dying at start would otherwise be forked in a tight loop. */
                int64_t now = clock_now_ms();
                kids[i].restart_at_ms = now - kids[i].started_ms < 1000 ? now + 1000 : now;
            }
        }
        int64_t now = clock_now_ms();
        if (draining && drain_deadline && now >= drain_deadline) {
            /* Something never finished (a handler that does not answer, a
             * client holding a stream the drain could not end): stop it. */
            LOG_WARN("worker", "drain timed out: killing the workers left", NULL);
            for (int i = 0; i < n; i++)
                if (kids[i].pid > 0)
                    kill(kids[i].pid, SIGKILL);
            unclean = 1;
            drain_deadline = 0;
        }
        for (int i = 0; i < n && !draining; i++) {
            if (kids[i].pid == 0 && kids[i].restart_at_ms && now >= kids[i].restart_at_ms) {
                kids[i].pid = spawn(cfg, fd, metrics_fd, &old, shm, i);
                kids[i].started_ms = now;
                kids[i].restart_at_ms = 0;
                alive += kids[i].pid > 0;
            }
        }
        if (sig < 0 && wait_errno != EAGAIN && wait_errno != EINTR)
            break;
    }
    close(fd);
    if (metrics_fd >= 0)
        close(metrics_fd);
    wk_metrics_shm_free(shm);
    LOG_INFO("worker", "master stopped", "clean", unclean ? "no" : "yes", NULL);
    return unclean ? 1 : 0;
}
