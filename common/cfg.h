/* cfg: reading configuration from the environment, with validation.
 *
 * Every binary reads its settings once at start-up. Bad values are collected
 * in a cfg_err_t instead of exiting on the spot, so that main() can report
 * the first problem clearly (and count the others) and exit 2:
 *
 *     cfg_err_t ce = {0};
 *     long workers = cfg_int("JSMCP_WORKERS", 4, 1, 256, &ce);
 *     uint64_t idle = cfg_ms("JSMCP_IDLE_TIMEOUT", 30000, 100, 3600000, &ce);
 *     char host[256]; int port;
 *     cfg_listen("JSMCP_API_LISTEN", "127.0.0.1:8080", host, sizeof host, &port, &ce);
 *     if (ce.n) { fprintf(stderr, "config: %s\n", ce.msg); return 2; }
 *
 * A variable that is unset or empty takes the default. On a bad value the
 * functions return the default (so later code still sees something sane)
 * and record the error. Messages name the variable and the bad value, so
 * never use them for secrets.
 */
#ifndef JSMCP_CFG_H
#define JSMCP_CFG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cfg_err_s {
    int n;         /* errors recorded so far */
    char msg[512]; /* the first one */
} cfg_err_t;

/* getenv(name) when set and non-empty, else def. */
const char *cfg_str(const char *name, const char *def);

/* Decimal integer in [min, max]. */
long cfg_int(const char *name, long def, long min, long max, cfg_err_t *err);

/* Duration in milliseconds in [min_ms, max_ms]: "250" or "250ms", "5s",
 * "2m", "1h". */
uint64_t cfg_ms(const char *name, uint64_t def_ms, uint64_t min_ms, uint64_t max_ms,
                cfg_err_t *err);

/* "host:port" or "[v6addr]:port" (port 0..65535, 0 = any free port) into
 * host (brackets removed) and *port. Returns 0, or -1 with err recorded
 * (host and port then hold the parsed default). */
int cfg_listen(const char *name, const char *def, char *host, size_t hostsz, int *port,
               cfg_err_t *err);

/* The parsers behind the above, for values that do not come from the
 * environment. Return 0 or -1 (why in why, which may be NULL). */
int cfg_parse_ms(const char *s, uint64_t *out_ms);
int cfg_parse_hostport(const char *s, char *host, size_t hostsz, int *port, const char **why);

/* Records an error (printf-style) in err: the first message is kept. */
void cfg_fail(cfg_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
