/* rcli_client: the client of rcli.h: created with its command connection,
 * closed (pending commands fail before rcli_close returns), and its keys.
 * See rcli.h for the contract and rcli_int.h for the design notes and how
 * the rcli files fit together.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "buf.h"
#include "log.h"
#include "rcli_int.h"

/* ------------------------------------------------------------ public API */

int rcli_create(rcli_t **out, uv_loop_t *loop, const rcli_config_t *cfg)
{
    *out = NULL;
    char err[256];
    rcli_url_t url;
    if (!cfg || rcli_url_parse(cfg->url, &url, err, sizeof err) != 0) {
        LOG_ERROR("rcli", "bad redis URL", "error", cfg ? err : "no config", NULL);
        return -1;
    }
    const char *prefix = cfg->prefix ? cfg->prefix : "jsmcp:";
    if (strlen(prefix) > RCLI_PREFIX_MAX) {
        LOG_ERROR("rcli", "redis key prefix too long", NULL);
        return -1;
    }
    if (sodium_init() < 0) { /* the heartbeat channel's name is random */
        LOG_ERROR("rcli", "libsodium failed to start", NULL);
        return -1;
    }
    rcli_t *r = mem_calloc(1, sizeof *r);
    r->loop = loop;
    r->url = url;
    memset(&url, 0, sizeof url);
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    r->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000;
    r->command_timeout_ms = cfg->command_timeout_ms ? cfg->command_timeout_ms : 5000;
    r->sub_heartbeat_ms = cfg->sub_heartbeat_ms ? cfg->sub_heartbeat_ms : RCLI_SUB_HEARTBEAT_MS;
    rcli_timer_init(r, &r->cmd_timer);
    rcli_timer_init(r, &r->hb_timer);
    uv_unref((uv_handle_t *)&r->hb_timer);
    uv_check_init(loop, &r->flush_check);
    uv_prepare_init(loop, &r->flush_prepare);
    r->flush_check.data = r->flush_prepare.data = r;
    r->open_handles += 2;
    uv_check_start(&r->flush_check, rcli_ev_flush_check);
    uv_prepare_start(&r->flush_prepare, rcli_ev_flush_prepare);
    uv_unref((uv_handle_t *)&r->flush_check);
    uv_unref((uv_handle_t *)&r->flush_prepare);
    rcli_conn_init(r, &r->cmd, "cmd", 0);
    rcli_conn_connect(&r->cmd);
    *out = r;
    return 0;
}

void rcli_close(rcli_t *r, void (*done)(void *arg), void *arg)
{
    if (!r || r->closing)
        return;
    r->closing = 1;
    r->done = done;
    r->done_arg = arg;
    uv_close((uv_handle_t *)&r->cmd_timer, rcli_on_handle_closed);
    uv_close((uv_handle_t *)&r->hb_timer, rcli_on_handle_closed);
    uv_close((uv_handle_t *)&r->flush_check, rcli_on_handle_closed);
    uv_close((uv_handle_t *)&r->flush_prepare, rcli_on_handle_closed);
    /* Pending commands get their NULL reply ("client closing") right here,
     * or, when called from inside a reply callback, as soon as it returns. */
    rcli_conn_close(&r->cmd);
    if (r->sub_inited)
        rcli_conn_close(&r->sub);
}

int rcli_ready(const rcli_t *r)
{
    return r && !r->closing && r->cmd.state == S_READY;
}

const char *rcli_prefix(const rcli_t *r)
{
    return r->prefix;
}

char *rcli_key(const rcli_t *r, char *out, size_t outsz, const char *fmt, ...)
{
    int n = snprintf(out, outsz, "%s", r->prefix);
    if (n < 0 || (size_t)n >= outsz) {
        LOG_ERROR("rcli", "key buffer too small", NULL);
        return out;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + n, outsz - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= outsz - (size_t)n)
        LOG_ERROR("rcli", "key buffer too small", NULL);
    return out;
}
