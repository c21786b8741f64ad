/* cli: the command-line conventions every jsmcp binary shares.
 *
 *   --help, -h   the usage on stdout, exit status 0. Nothing is started:
 *                no port, no database, no Redis, no child process.
 *   --version    "<prog> <version> (commit <id>)" on stdout, exit status 0.
 *   anything the binary does not know: one line saying what, then the usage,
 *                both on stderr, exit status 2.
 *
 * A binary checks its arguments before it reads its configuration or opens
 * anything. The worker, which takes no arguments:
 *
 *     static const cli_t CLI = {"jsmcp-worker", usage};
 *     if (argc > 1)
 *         return cli_arg(&CLI, argv[1]);
 *
 * Binaries that call these link $(BUILD)/obj/gen/version.o (common/version.h).
 */
#ifndef JSMCP_CLI_H
#define JSMCP_CLI_H

#include <stdio.h>

typedef struct cli_s {
    const char *prog;            /* as printed: "jsmcp-api" or "jsmcp-api sweeper" */
    void (*usage)(FILE *out);    /* the usage text, written to out */
} cli_t;

/* 1 when arg is one of the flags every binary answers (--help, -h, --version). */
int cli_is_common(const char *arg);

/* Answers --help, -h or --version (returns 0); anything else is an unknown
 * option or command (message and usage on stderr, returns 2). The result is
 * the exit status. */
int cli_arg(const cli_t *c, const char *arg);

/* "<prog>: <what>" and the usage on stderr; returns 2. */
int cli_usage_error(const cli_t *c, const char *what);

#endif
