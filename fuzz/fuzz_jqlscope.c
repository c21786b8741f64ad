/* libFuzzer target: the project scope of JQL (worker/wk_jql.c, issue 20).
 *
 * Property, for any input: wk_jql_rewrite with config.projects either
 * refuses it, or returns a query in which the project clause binds the whole
 * query: exactly
 *
 *     project in ("ITSM", "HR")[ AND (<group>)][ ORDER BY <keys>]
 *
 * where <group>'s parenthesis closes at its end and <keys> holds no
 * parenthesis. This is checked by the small scanner below, written apart
 * from wk_jql's lexer and parser: it knows only JQL's quoting (a string runs
 * to the next unescaped quote of its kind; a backslash takes the next
 * character, in strings and words). Whatever Jira makes of the group, it
 * cannot reach outside it. Also: the rewrite is stable (rewriting its own
 * output without fields or projects gives the same text), and a query the
 * rewrite accepts unscoped is accepted scoped. Build and run: make fuzz
 * FUZZ_FILTER=jqlscope. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wk_jql.h"

#define SCOPE "project in (\"ITSM\", \"HR\")"

static json_t *fields, *projects;

static const char FIELDS[] =
    "[{\"id\":\"summary\",\"name\":\"Summary\",\"custom\":false,\"clauseNames\":[\"summary\"]},"
    "{\"id\":\"project\",\"name\":\"Project\",\"custom\":false,\"clauseNames\":[\"project\"]},"
    "{\"id\":\"customfield_10010\",\"name\":\"Request Type\",\"custom\":true,"
    "\"clauseNames\":[\"cf[10010]\",\"Request Type\"]},"
    "{\"id\":\"customfield_10030\",\"name\":\"Odd ) \\\"quoted\\\" ( name\",\"custom\":true,"
    "\"clauseNames\":[\"cf[10030]\"]}]";

/* p at a quote: the character after its closing quote, or NULL when the
 * string never closes. */
static const char *past_string(const char *p)
{
    char q = *p++;
    for (; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return NULL;
            p++;
        } else if (*p == q) {
            return p + 1;
        }
    }
    return NULL;
}

/* Scans s for parentheses outside strings, from depth 0. Returns the
 * position where the depth first returns to 0 after a '(' (the closing
 * parenthesis), or the end; -1 on an unclosed string; *paren set when any
 * parenthesis was seen. stop_at_close: return at that closing parenthesis. */
static long scan(const char *s, int stop_at_close, int *paren)
{
    int depth = 0;
    *paren = 0;
    for (const char *p = s; *p;) {
        if (*p == '"' || *p == '\'') {
            p = past_string(p);
            if (!p)
                return -1;
            continue;
        }
        if (*p == '\\') {
            if (!p[1])
                return -1;
            p += 2;
            continue;
        }
        if (*p == '(') {
            depth++;
            *paren = 1;
        } else if (*p == ')') {
            *paren = 1;
            if (--depth < 0)
                return -1;
            if (depth == 0 && stop_at_close)
                return p - s;
        }
        p++;
    }
    return (long)strlen(s);
}

static void bad(const char *why, const char *in, const char *out)
{
    fprintf(stderr, "PROPERTY VIOLATED: %s\n  input:  [%s]\n  output: [%s]\n", why, in, out ? out : "(null)");
    abort();
}

static void check_scoped(const char *in, const char *out)
{
    size_t pl = strlen(SCOPE);
    if (strncmp(out, SCOPE, pl) != 0)
        bad("does not start with the project clause", in, out);
    const char *p = out + pl;
    int paren;
    if (strncmp(p, " AND (", 6) == 0) {
        const char *g = p + 5;
        long close = scan(g, 1, &paren);
        if (close < 0 || g[close] != ')')
            bad("the group after AND does not close", in, out);
        p = g + close + 1;
    }
    if (!*p)
        return;
    if (strncmp(p, " ORDER BY ", 10) != 0)
        bad("something other than ORDER BY follows the scoped group", in, out);
    if (scan(p + 10, 0, &paren) < 0 || paren)
        bad("the ORDER BY keys hold a parenthesis or an open string", in, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[600];
    if (!fields) {
        fields = json_loads(FIELDS, 0, NULL);
        projects = json_pack("[ss]", "ITSM", "HR");
        if (!fields || !projects)
            abort();
    }
    if (size > WK_JQL_MAX + 16)
        return 0;
    char *q = malloc(size + 1);
    if (!q)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';

    char *plain = wk_jql_rewrite(q, NULL, NULL, err, sizeof err);
    char *scoped = wk_jql_rewrite(q, NULL, projects, err, sizeof err);
    char *named = wk_jql_rewrite(q, fields, projects, err, sizeof err);
    if (scoped)
        check_scoped(q, scoped);
    if (named)
        check_scoped(q, named);
    if (plain && !scoped)
        bad("accepted unscoped but refused scoped", q, plain);
    if (plain) {
        char *again = wk_jql_rewrite(plain, NULL, NULL, err, sizeof err);
        if (!again || strcmp(again, plain) != 0)
            bad("rewriting the output changes it", plain, again);
        free(again);
    }
    free(plain);
    free(scoped);
    free(named);
    free(q);
    return 0;
}
