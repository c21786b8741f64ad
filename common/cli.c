/* cli: see cli.h. */
#include "cli.h"

#include <string.h>

#include "version.h"

int cli_is_common(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "--version") == 0;
}

int cli_usage_error(const cli_t *c, const char *what)
{
    fprintf(stderr, "%s: %s\n", c->prog, what);
    c->usage(stderr);
    return 2;
}

int cli_arg(const cli_t *c, const char *arg)
{
    if (strcmp(arg, "--version") == 0) {
        printf("%s %s (commit %s)\n", c->prog, jsmcp_version, jsmcp_commit);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        c->usage(stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    char what[160];
    snprintf(what, sizeof what, "unknown %s '%.100s'", arg[0] == '-' ? "option" : "argument", arg);
    return cli_usage_error(c, what);
}
