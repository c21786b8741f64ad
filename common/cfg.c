/* cfg: see cfg.h for the contract. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_fail(cfg_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    if (err->n++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
}

const char *cfg_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* strtoll that accepts exactly one decimal number with optional sign and
 * nothing else (no spaces, no hex): "08" is 8, "1e3" is an error. */
static int parse_ll(const char *s, const char **end, long long *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    errno = 0;
    char *e;
    long long v = strtoll(s, &e, 10);
    if (errno == ERANGE)
        return -1;
    *end = e;
    *out = v;
    return 0;
}

long cfg_int(const char *name, long def, long min, long max, cfg_err_t *err)
{
    const char *v = cfg_str(name, NULL);
    if (!v)
        return def;
    long long n;
    const char *end;
    if (parse_ll(v, &end, &n) != 0 || *end) {
        cfg_fail(err, "%s: '%.64s' is not an integer", name, v);
        return def;
    }
    if (n < min || n > max) {
        cfg_fail(err, "%s: %lld is out of range [%ld, %ld]", name, n, min, max);
        return def;
    }
    return (long)n;
}

int cfg_parse_ms(const char *s, uint64_t *out_ms)
{
    long long n;
    const char *unit;
    if (!s || *s == '-' || *s == '+' || parse_ll(s, &unit, &n) != 0)
        return -1;
    uint64_t mul;
    if (!*unit || strcmp(unit, "ms") == 0)
        mul = 1;
    else if (strcmp(unit, "s") == 0)
        mul = 1000;
    else if (strcmp(unit, "m") == 0)
        mul = 60000;
    else if (strcmp(unit, "h") == 0)
        mul = 3600000;
    else
        return -1;
    if ((uint64_t)n > UINT64_MAX / mul)
        return -1;
    *out_ms = (uint64_t)n * mul;
    return 0;
}

uint64_t cfg_ms(const char *name, uint64_t def_ms, uint64_t min_ms, uint64_t max_ms,
                cfg_err_t *err)
{
    const char *v = cfg_str(name, NULL);
    if (!v)
        return def_ms;
    uint64_t ms;
    if (cfg_parse_ms(v, &ms) != 0) {
        cfg_fail(err, "%s: '%.64s' is not a duration (e.g. 500ms, 5s, 2m, 1h)", name, v);
        return def_ms;
    }
    if (ms < min_ms || ms > max_ms) {
        cfg_fail(err, "%s: %s is out of range [%llums, %llums]", name, v,
                 (unsigned long long)min_ms, (unsigned long long)max_ms);
        return def_ms;
    }
    return ms;
}

int cfg_parse_hostport(const char *s, char *host, size_t hostsz, int *port, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    const char *h = s, *hend, *colon;
    if (*s == '[') {
        h = s + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':') {
            *why = "expected [address]:port";
            return -1;
        }
        colon = hend + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "expected host:port";
            return -1;
        }
        hend = colon;
        if (memchr(s, ':', (size_t)(colon - s))) {
            *why = "an IPv6 address needs brackets: [address]:port";
            return -1;
        }
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0) {
        *why = "the host is empty";
        return -1;
    }
    if (hl >= hostsz) {
        *why = "the host is too long";
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        if (isspace((unsigned char)h[i]) || h[i] == '/' || h[i] == '@') {
            *why = "the host contains a bad character";
            return -1;
        }
    long long p;
    const char *end;
    if (colon[1] == '+' || colon[1] == '-' || parse_ll(colon + 1, &end, &p) != 0 || *end ||
        p > 65535) {
        *why = "the port must be a number from 0 to 65535";
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int cfg_listen(const char *name, const char *def, char *host, size_t hostsz, int *port,
               cfg_err_t *err)
{
    const char *v = cfg_str(name, def);
    const char *why = NULL;
    if (cfg_parse_hostport(v, host, hostsz, port, &why) == 0)
        return 0;
    cfg_fail(err, "%s: '%.100s': %s", name, v, why);
    if (v == def || cfg_parse_hostport(def, host, hostsz, port, NULL) != 0) {
        if (hostsz)
            host[0] = '\0';
        *port = 0;
    }
    return -1;
}
