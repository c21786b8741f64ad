#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "jsontext.h"

enum log_level log_min_level = LOG_LVL_INFO;
static char log_proc[32] = "jsmcp";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *proc)
{
    const char *lv = getenv("JSMCP_LOG_LEVEL");
    if (proc)
        snprintf(log_proc, sizeof log_proc, "%s", proc);
    if (!lv)
        return;
    for (int i = 0; i < 4; i++)
        if (strcmp(lv, level_names[i]) == 0)
            log_min_level = (enum log_level)i;
}

static void log_head(buf_t *b, enum log_level lvl, const char *mod)
{
    struct timespec ts;
    struct tm tm;
    char tbuf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"proc\":\"%s\",\"pid\":%d,\"mod\":",
               tbuf, ts.tv_nsec / 1000000, level_names[lvl], log_proc, (int)getpid());
    jsontext_dump_string(b, mod, strlen(mod));
}

/* One write(2) per line so lines from forked workers never interleave. */
static void log_emit(buf_t *b)
{
    buf_append(b, "}\n", 2);
    ssize_t n = write(STDERR_FILENO, b->data, b->len);
    (void)n;
    buf_free(b);
}

void log_kv(enum log_level lvl, const char *mod, const char *msg, ...)
{
    buf_t b;
    va_list ap;
    buf_init(&b, 64 * 1024);
    log_head(&b, lvl, mod);
    buf_append_str(&b, ",\"msg\":");
    jsontext_dump_string(&b, msg, strlen(msg));
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        buf_append_str(&b, ",");
        jsontext_dump_string(&b, k, strlen(k));
        buf_append_str(&b, ":");
        if (v)
            jsontext_dump_string(&b, v, strlen(v));
        else
            buf_append_str(&b, "null");
    }
    va_end(ap);
    if (!buf_ok(&b)) { /* over the limit: the line is gone whole (buf.h); say so */
        buf_reset(&b);
        log_head(&b, lvl, mod);
        buf_append_str(&b, ",\"msg\":\"a log line over 64 KB was dropped\"");
    }
    log_emit(&b);
}

void log_fmt(enum log_level lvl, const char *mod, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (lvl < log_min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_kv(lvl, mod, msg, NULL);
}
