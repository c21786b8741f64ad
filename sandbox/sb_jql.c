/* sb_jql: see sb_jql.h. A tokenizer and a recursive-descent parser into the
 * tree of sb_jql_ast.h, whose values are resolved against the data set up
 * front; matching is sb_jql_eval.c, ordering sb_jql_order.c. Error texts
 * are Jira's own (jsm-rest-api.md §1.4 and field observations); positions
 * are "(line 1, character N)", N 1-based. */
#include "sb_jql.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "clock.h"
#include "sb_jql_ast.h"

#define MAX_TOKENS 1024
#define MAX_DEPTH 64

enum tk { T_EOF, T_WORD, T_STR, T_LP, T_RP, T_COMMA, T_OP, T_BANG };

typedef struct tok_s {
    int type;
    int pos; /* 1-based character */
    char text[SB_JQL_MAX_TOKLEN];
} tok_t;

static const char *const OPNAMES[] = {"=", "!=", "in", "not in", "is", "is not", "~", "!~", ">", ">=", "<", "<="};

typedef struct parser_s {
    const sb_data_t *d;
    tok_t *toks;
    int ntok, i;
    char *err;
    size_t errsz;
    int failed;
    int depth;
    char sem[512];  /* first semantic error (unknown field/value): syntax errors win over it */
    int sem_failed;
    unsigned xmask; /* the clause being parsed, for its values */
} parser_t;

static void fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(parser_t *p, const char *fmt, ...)
{
    if (p->failed)
        return; /* first error wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errsz, fmt, ap);
    va_end(ap);
    p->failed = 1;
}

static void fail_sem(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_sem(parser_t *p, const char *fmt, ...)
{
    if (p->sem_failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->sem, sizeof p->sem, fmt, ap);
    va_end(ap);
    p->sem_failed = 1;
}

/* ---- tokenizer ---- */
static int is_word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c >= 0x80;
}

static int tokenize(parser_t *p, const char *q)
{
    const char *s = q;
    int n = 0;
    for (;;) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (n == MAX_TOKENS - 1) {
            fail(p, "Error in the JQL Query: The query is too long.");
            return -1;
        }
        tok_t *t = &p->toks[n];
        t->pos = (int)(s - q) + 1;
        t->text[0] = 0;
        if (!*s) {
            t->type = T_EOF;
            p->ntok = n + 1;
            return 0;
        }
        char c = *s;
        if (c == '(' || c == ')' || c == ',') {
            t->type = c == '(' ? T_LP : c == ')' ? T_RP : T_COMMA;
            t->text[0] = c;
            t->text[1] = 0;
            s++;
        } else if (c == '"' || c == '\'') {
            const char *st = ++s;
            size_t len = 0;
            while (*s && *s != c) {
                if (*s == '\\' && s[1])
                    s++;
                if (len < SB_JQL_MAX_TOKLEN - 1)
                    t->text[len++] = *s;
                s++;
            }
            t->text[len] = 0;
            if (!*s) {
                fail(p, "Error in the JQL Query: The quoted string '%.*s' has not been completed. (line 1, character %d)",
                     (int)(s - st), st, t->pos);
                return -1;
            }
            s++;
            t->type = T_STR;
        } else if (c == '=' || c == '~' || c == '<' || c == '>' || c == '!') {
            t->type = T_OP;
            t->text[0] = c;
            t->text[1] = 0;
            s++;
            if ((c == '!' || c == '<' || c == '>') && *s == '=') {
                t->text[1] = '=', t->text[2] = 0, s++;
            } else if (c == '!' && *s == '~') {
                t->text[1] = '~', t->text[2] = 0, s++;
            } else if (c == '!') {
                t->type = T_BANG;
            }
        } else if (is_word_char((unsigned char)c)) {
            size_t len = 0;
            while (*s && is_word_char((unsigned char)*s)) {
                if (len < SB_JQL_MAX_TOKLEN - 1)
                    t->text[len++] = *s;
                s++;
            }
            /* cf[10010] is one field token. */
            if (len == 2 && strncasecmp(t->text, "cf", 2) == 0 && *s == '[') {
                const char *e = strchr(s, ']');
                if (e && e - s < 16) {
                    memcpy(t->text + len, s, (size_t)(e - s + 1));
                    len += (size_t)(e - s + 1);
                    s = e + 1;
                }
            }
            t->text[len] = 0;
            t->type = T_WORD;
        } else {
            fail(p, "Error in the JQL Query: The character '%c' is a reserved JQL character. You must enclose it "
                    "in a string or use the escape '\\u%04x' instead. (line 1, character %d)",
                 c, (unsigned char)c, t->pos);
            return -1;
        }
        n++;
    }
}

static tok_t *peek(parser_t *p)
{
    return &p->toks[p->i];
}

static int is_kw(const tok_t *t, const char *kw)
{
    return t->type == T_WORD && strcasecmp(t->text, kw) == 0;
}

/* ---- fields ---- */
typedef struct fname_s {
    const char *name;
    int field;
} fname_t;
static const fname_t FIELDS[] = {
    {"project", F_PROJECT}, {"key", F_KEY}, {"issuekey", F_KEY}, {"issue", F_KEY}, {"id", F_KEY},
    {"issuetype", F_ISSUETYPE}, {"type", F_ISSUETYPE}, {"status", F_STATUS},
    {"statusCategory", F_STATUSCAT}, {"resolution", F_RESOLUTION}, {"assignee", F_ASSIGNEE},
    {"reporter", F_REPORTER}, {"creator", F_CREATOR}, {"priority", F_PRIORITY}, {"labels", F_LABELS},
    {"label", F_LABELS}, {"Request Type", F_RTYPE}, {"Customer Request Type", F_RTYPE},
    {"Time to first response", F_SLA_FR}, {"Time to resolution", F_SLA_RES}, {"text", F_TEXT},
    {"summary", F_SUMMARY}, {"description", F_DESCRIPTION}, {"comment", F_COMMENT},
    {"created", F_CREATED}, {"createdDate", F_CREATED}, {"updated", F_UPDATED},
    {"updatedDate", F_UPDATED}, {"resolved", F_RESOLVED}, {"resolutiondate", F_RESOLVED},
    {"due", F_DUE}, {"duedate", F_DUE}, {"Organizations", F_ORG},
};

/* The N of "cf[N]" or "customfield_N", read as "%d" reads it (optional
 * blanks and sign), or -1 when name is neither or N is no int. Not
 * sscanf(): its "%d" of a number out of range is undefined behaviour, and
 * the name is the client's ("cf[99999999999]"). */
static int cf_number(const char *name)
{
    int bracket = strncmp(name, "cf[", 3) == 0;
    const char *s = bracket ? name + 3 : strncasecmp(name, "customfield_", 12) == 0 ? name + 12 : NULL;
    if (!s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE || v < INT_MIN || v > INT_MAX || (bracket && *end != ']'))
        return -1;
    return (int)v;
}

/* The field a clause names; *xmask gets the site custom fields for
 * F_XFIELD (by cf[N], customfield_N or name: every field of that name). */
static int field_lookup(const sb_data_t *d, const char *name, unsigned *xmask)
{
    *xmask = 0;
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        if (strcasecmp(FIELDS[i].name, name) == 0)
            return FIELDS[i].field;
    int num = cf_number(name);
    if (num != -1) {
        if (num == d->cf.request_type)
            return F_RTYPE;
        if (num == d->cf.sla_first_response)
            return F_SLA_FR;
        if (num == d->cf.sla_resolution)
            return F_SLA_RES;
        if (num == d->cf.organizations)
            return F_ORG;
        for (int i = 0; i < d->nxfields; i++)
            if (d->xfields[i].num == num)
                *xmask = 1u << i;
        return *xmask ? F_XFIELD : -1;
    }
    for (int i = 0; i < d->nxfields; i++)
        if (!strcasecmp(d->xfields[i].name, name))
            *xmask |= 1u << i;
    return *xmask ? F_XFIELD : -1;
}

/* 1 when a field of the mask has this type. */
static int xmask_has(const sb_data_t *d, unsigned mask, int type)
{
    for (int i = 0; i < d->nxfields; i++)
        if ((mask & (1u << i)) && d->xfields[i].type == type)
            return 1;
    return 0;
}

static int op_supported(int f, int op)
{
    if (sb_jql_is_text(f))
        return op == OP_LIKE || op == OP_NOTLIKE || op == OP_IS || op == OP_ISNOT;
    if (op == OP_LIKE || op == OP_NOTLIKE)
        return 0;
    if (op >= OP_GT)
        return sb_jql_is_date(f) || f == F_PRIORITY || f == F_KEY;
    if (sb_jql_is_sla(f))
        return op == OP_EQ || op == OP_NE;
    return 1;
}

/* ---- values ---- */
static const char *const DATEFNS[] = {"now", "startOfDay", "endOfDay", "startOfWeek", "endOfWeek",
                                      "startOfMonth", "endOfMonth", "startOfYear", "endOfYear"};
static const char *const SLAFNS[] = {"breached", "running", "completed", "paused"};

/* "-7d", "4w 2d", "-24h", "30m": returns 0 and the offset in ms. */
static int parse_period(const char *s, int64_t *out)
{
    int64_t total = 0;
    int sign = 1, any = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '-' || *s == '+') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (!isdigit((unsigned char)*s))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*s) && n < 1000000)
            n = n * 10 + (*s++ - '0');
        int64_t unit;
        switch (*s) {
        case 'y': unit = 365 * SB_JQL_DAY_MS; break;
        case 'M': unit = 30 * SB_JQL_DAY_MS; break;
        case 'w': unit = 7 * SB_JQL_DAY_MS; break;
        case 'd': unit = SB_JQL_DAY_MS; break;
        case 'h': unit = 60 * SB_JQL_MIN_MS; break;
        case 'm': unit = SB_JQL_MIN_MS; break;
        default: return -1;
        }
        s++;
        total += n * unit;
        any = 1;
    }
    if (!any)
        return -1;
    *out = sign * total;
    return 0;
}

static int parse_abs_date(const char *s, int64_t *out)
{
    int y, mo, dd, h = 0, mi = 0, n = 0;
    char sep1, sep2;
    if (sscanf(s, "%4d%c%2d%c%2d%n", &y, &sep1, &mo, &sep2, &dd, &n) != 5 || sep1 != sep2 ||
        (sep1 != '-' && sep1 != '/'))
        return -1;
    const char *rest = s + n;
    if (*rest) {
        int n2 = 0;
        if (sscanf(rest, " %2d:%2d%n", &h, &mi, &n2) != 2 || rest[n2])
            return -1;
    }
    if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || h > 23 || mi > 59)
        return -1;
    *out = (clock_days_from_civil(y, mo, dd) * 24 * 60 + h * 60 + mi) * SB_JQL_MIN_MS;
    return 0;
}

static void date_invalid(parser_t *p, const char *v, int f)
{
    static const char *const names[] = {[F_CREATED] = "created", [F_UPDATED] = "updated",
                                        [F_RESOLVED] = "resolved", [F_DUE] = "due"};
    fail_sem(p, "Date value '%s' for field '%s' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
            "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.",
         v, names[f]);
}

static int statuscat_find(const char *s)
{
    if (!strcasecmp(s, "To Do") || !strcasecmp(s, "new") || !strcmp(s, "2"))
        return SB_CAT_NEW;
    if (!strcasecmp(s, "In Progress") || !strcasecmp(s, "indeterminate") || !strcmp(s, "4"))
        return SB_CAT_INDETERMINATE;
    if (!strcasecmp(s, "Done") || !strcmp(s, "3"))
        return SB_CAT_DONE;
    return -1;
}

/* Resolves a literal value for field f into v; reports Jira's error. */
static void resolve_literal(parser_t *p, int f, const char *fname, const char *text, val_t *v)
{
    const sb_data_t *d = p->d;
    int idx = -1;
    v->kind = V_INT;
    switch (f) {
    case F_PROJECT: idx = sb_project_find(d, text); break;
    case F_ISSUETYPE: idx = sb_named_find(sb_issuetypes, sb_nissuetypes, text); break;
    case F_STATUS: idx = sb_status_find(text); break;
    case F_STATUSCAT: idx = statuscat_find(text); break;
    case F_PRIORITY: idx = sb_named_find(sb_priorities, sb_npriorities, text); break;
    case F_RESOLUTION:
        idx = strcasecmp(text, "Unresolved") == 0 ? 1000 : sb_named_find(sb_resolutions, sb_nresolutions, text);
        if (idx == 1000)
            idx = -2; /* matches unresolved */
        else if (idx < 0)
            idx = -1;
        if (idx == -2) {
            v->i = -1;
            return;
        }
        break;
    case F_ASSIGNEE: case F_REPORTER: case F_CREATOR: idx = sb_user_find_any(d, text); break;
    case F_KEY: {
        const sb_issue_t *is = sb_issue_find(d, text);
        if (!is) {
            fail_sem(p, "An issue with key '%s' does not exist for field '%s'.", text, fname);
            return;
        }
        v->i = is->id;
        return;
    }
    case F_XFIELD: { /* the value must mean something to one of the fields */
        v->kind = V_STR;
        v->s = mem_strdup(text);
        char *end;
        v->i = strtol(text, &end, 10);
        int ok = 0, selects = 1;
        for (int i = 0; i < d->nxfields; i++) {
            if (!(p->xmask & (1u << i)))
                continue;
            const sb_xfield_t *xf = &d->xfields[i];
            selects &= xf->type == SB_XT_SELECT;
            ok |= (xf->type == SB_XT_SELECT && sb_xfield_option(xf, text) >= 0) ||
                  (xf->type == SB_XT_USER && sb_user_find(d, text) >= 0) || (xf->type == SB_XT_NUMBER && *text && !*end) ||
                  xf->type == SB_XT_TEXT;
        }
        if (!ok && selects)
            fail_sem(p, "The option '%s' for field '%s' does not exist.", text, fname);
        else if (!ok)
            fail_sem(p, "The value '%s' does not exist for the field '%s'.", text, fname);
        return;
    }
    case F_RTYPE: case F_ORG: case F_LABELS: case F_TEXT: case F_SUMMARY: case F_DESCRIPTION: case F_COMMENT:
        v->kind = V_STR;
        v->s = mem_strdup(text);
        if (f == F_RTYPE) { /* "Request Type" = 13 compares ids */
            char *end;
            long n = strtol(text, &end, 10);
            v->i = *text && !*end ? n : -1;
        }
        if (f == F_RTYPE && sb_rtype_find(d, -1, text) < 0) {
            fail_sem(p, "The value '%s' does not exist for the field '%s'.", text, fname);
        } else if (f == F_ORG) {
            int ok = 0;
            for (int o = 0; o < d->norgs; o++)
                ok |= !d->orgs[o].deleted && strcasecmp(d->orgs[o].name, text) == 0;
            if (!ok)
                fail_sem(p, "The value '%s' does not exist for the field '%s'.", text, fname);
        }
        return;
    case F_CREATED: case F_UPDATED: case F_RESOLVED: case F_DUE: {
        int64_t ms;
        if (parse_period(text, &ms) == 0) {
            v->kind = V_DATE_REL;
            v->i = ms;
        } else if (parse_abs_date(text, &ms) == 0) {
            v->kind = V_DATE_ABS;
            v->i = ms;
        } else {
            date_invalid(p, text, f);
        }
        return;
    }
    case F_SLA_FR: case F_SLA_RES:
        fail_sem(p, "The value '%s' does not exist for the field '%s'.", text, fname);
        return;
    }
    if (idx < 0) {
        fail_sem(p, "The value '%s' does not exist for the field '%s'.", text, fname);
        return;
    }
    v->i = idx;
}

static void parse_value(parser_t *p, int f, const char *fname, val_t *v)
{
    tok_t *t = peek(p);
    memset(v, 0, sizeof *v);
    if (t->type == T_EOF) {
        fail(p, "Error in the JQL Query: Expecting either a value, list or function before the end of the query.");
        return;
    }
    if (t->type != T_WORD && t->type != T_STR) {
        fail(p, "Error in the JQL Query: Expecting either a value, list or function but got '%s'. You must "
                "surround '%s' in quotation marks to use it as a value. (line 1, character %d)",
             t->text, t->text, t->pos);
        return;
    }
    p->i++;
    if (t->type == T_WORD && p->toks[p->i].type == T_LP) { /* function call */
        char arg[SB_JQL_MAX_TOKLEN] = "";
        const char *name = t->text;
        p->i++;
        if (peek(p)->type == T_WORD || peek(p)->type == T_STR) {
            snprintf(arg, sizeof arg, "%s", peek(p)->text);
            p->i++;
        }
        if (peek(p)->type != T_RP) {
            if (peek(p)->type == T_EOF)
                fail(p, "Error in the JQL Query: Expecting ')' before the end of the query.");
            else
                fail(p, "Error in the JQL Query: Expecting ')' but got '%s'. (line 1, character %d)",
                     peek(p)->text, peek(p)->pos);
            return;
        }
        p->i++;
        if (strcasecmp(name, "currentUser") == 0) {
            if (!sb_jql_is_user(f))
                fail_sem(p, "A value provided by the function 'currentUser' is invalid for the field '%s'.", fname);
            v->kind = V_CURRENT_USER;
            return;
        }
        for (int k = 0; k < (int)(sizeof DATEFNS / sizeof DATEFNS[0]); k++)
            if (strcasecmp(name, DATEFNS[k]) == 0) {
                if (!sb_jql_is_date(f)) {
                    fail_sem(p, "A value provided by the function '%s' is invalid for the field '%s'.", DATEFNS[k], fname);
                    return;
                }
                v->kind = V_DATE_FN;
                v->i = k;
                /* A bare number counts the function's own unit: startOfMonth(-1). */
                static const char UNIT[] = {'d', 'd', 'd', 'w', 'w', 'M', 'M', 'y', 'y'};
                size_t al = strlen(arg);
                if (al && al < SB_JQL_MAX_TOKLEN - 1 && (arg[al - 1] >= '0' && arg[al - 1] <= '9')) {
                    arg[al] = UNIT[k];
                    arg[al + 1] = 0;
                }
                if (arg[0] && parse_period(arg, &v->off) != 0)
                    fail_sem(p, "Unable to parse the argument '%s' of the function '%s'.", arg, DATEFNS[k]);
                return;
            }
        for (int k = 0; k < (int)(sizeof SLAFNS / sizeof SLAFNS[0]); k++)
            if (strcasecmp(name, SLAFNS[k]) == 0) {
                if (!sb_jql_is_sla(f)) {
                    fail_sem(p, "A value provided by the function '%s' is invalid for the field '%s'.", SLAFNS[k], fname);
                    return;
                }
                v->kind = V_SLA_FN;
                v->i = k;
                return;
            }
        fail_sem(p, "Unable to find JQL function '%s()'.", name);
        return;
    }
    if (t->type == T_WORD && (strcasecmp(t->text, "EMPTY") == 0 || strcasecmp(t->text, "NULL") == 0)) {
        v->kind = V_EMPTY;
        return;
    }
    resolve_literal(p, f, fname, t->text, v);
}

static void clause_free(clause_t *c)
{
    for (int i = 0; i < c->nvals; i++)
        free(c->vals[i].s);
    free(c->vals);
}

static void node_free(node_t *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    if (n->kind == N_CLAUSE)
        clause_free(&n->c);
    free(n);
}

static node_t *parse_or(parser_t *p);

static node_t *parse_clause(parser_t *p)
{
    tok_t *t = peek(p);
    if (t->type == T_EOF) {
        fail(p, "Error in the JQL Query: Expecting a field name before the end of the query.");
        return NULL;
    }
    if (t->type != T_WORD && t->type != T_STR) {
        fail(p, "Error in the JQL Query: Expecting a field name but got '%s'. (line 1, character %d)", t->text, t->pos);
        return NULL;
    }
    char fname[SB_JQL_MAX_TOKLEN];
    snprintf(fname, sizeof fname, "%s", t->text);
    unsigned xmask;
    int f = field_lookup(p->d, fname, &xmask);
    p->i++;
    tok_t *o = peek(p);
    int op = -1;
    if (o->type == T_OP) {
        for (int k = 0; k < (int)(sizeof OPNAMES / sizeof OPNAMES[0]); k++)
            if (strcmp(o->text, OPNAMES[k]) == 0)
                op = k;
        p->i++;
    } else if (is_kw(o, "in")) {
        op = OP_IN;
        p->i++;
    } else if (is_kw(o, "is")) {
        p->i++;
        op = OP_IS;
        if (is_kw(peek(p), "not")) {
            op = OP_ISNOT;
            p->i++;
        }
    } else if (is_kw(o, "not") && is_kw(&p->toks[p->i + 1], "in")) {
        op = OP_NOTIN;
        p->i += 2;
    }
    if (op < 0) {
        static const char *valid = "Valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', "
                                   "'NOT IN', 'IS' and 'IS NOT'.";
        if (o->type == T_EOF)
            fail(p, "Error in the JQL Query: Expecting operator before the end of the query. %s", valid);
        else
            fail(p, "Error in the JQL Query: Expecting operator but got '%s'. %s (line 1, character %d)", o->text,
                 valid, o->pos);
        return NULL;
    }
    if (f < 0) {
        fail_sem(p, "Field '%s' does not exist or you do not have permission to view it.", fname);
        f = F_LABELS; /* keep parsing: a later syntax error wins */
    }
    if (f == F_XFIELD ? ((op == OP_LIKE || op == OP_NOTLIKE) && !xmask_has(p->d, xmask, SB_XT_TEXT)) ||
                            (op >= OP_GT && !xmask_has(p->d, xmask, SB_XT_NUMBER))
                      : !op_supported(f, op))
        fail_sem(p, "The operator '%s' is not supported by the '%s' field.", OPNAMES[op], fname);
    node_t *n = mem_calloc(1, sizeof *n);
    n->kind = N_CLAUSE;
    n->c.field = f;
    n->c.op = op;
    n->c.xmask = xmask;
    p->xmask = xmask;
    if (op == OP_IN || op == OP_NOTIN) {
        if (peek(p)->type != T_LP) {
            if (peek(p)->type == T_EOF)
                fail(p, "Error in the JQL Query: Expecting '(' before the end of the query.");
            else
                fail(p, "Error in the JQL Query: Expecting '(' but got '%s'. (line 1, character %d)", peek(p)->text,
                     peek(p)->pos);
            return n;
        }
        p->i++;
        for (;;) {
            if (n->c.nvals == 100) {
                fail(p, "Error in the JQL Query: Too many values in the list.");
                return n;
            }
            n->c.vals = mem_realloc(n->c.vals, (size_t)(n->c.nvals + 1) * sizeof(val_t));
            parse_value(p, f, fname, &n->c.vals[n->c.nvals++]);
            if (p->failed)
                return n;
            if (peek(p)->type == T_COMMA) {
                p->i++;
                continue;
            }
            if (peek(p)->type == T_RP) {
                p->i++;
                break;
            }
            if (peek(p)->type == T_EOF)
                fail(p, "Error in the JQL Query: Expecting ')' before the end of the query.");
            else
                fail(p, "Error in the JQL Query: Expecting ',' or ')' but got '%s'. (line 1, character %d)",
                     peek(p)->text, peek(p)->pos);
            return n;
        }
        return n;
    }
    n->c.vals = mem_calloc(1, sizeof(val_t));
    n->c.nvals = 1;
    parse_value(p, f, fname, &n->c.vals[0]);
    if (!p->failed && (op == OP_IS || op == OP_ISNOT) && n->c.vals[0].kind != V_EMPTY)
        fail_sem(p, "The operator '%s' only supports the values EMPTY and NULL for the field '%s'.", OPNAMES[op], fname);
    return n;
}

static node_t *parse_unary(parser_t *p)
{
    if (++p->depth > MAX_DEPTH) {
        fail(p, "Error in the JQL Query: The query is nested too deeply.");
        return NULL;
    }
    node_t *r;
    tok_t *t = peek(p);
    if (is_kw(t, "not") || t->type == T_BANG) {
        p->i++;
        r = mem_calloc(1, sizeof *r);
        r->kind = N_NOT;
        r->a = parse_unary(p);
    } else if (t->type == T_LP) {
        p->i++;
        r = parse_or(p);
        if (!p->failed) {
            if (peek(p)->type == T_RP)
                p->i++;
            else if (peek(p)->type == T_EOF)
                fail(p, "Error in the JQL Query: Expecting ')' before the end of the query.");
            else
                fail(p, "Error in the JQL Query: Expecting ')' but got '%s'. (line 1, character %d)", peek(p)->text,
                     peek(p)->pos);
        }
    } else {
        r = parse_clause(p);
    }
    p->depth--;
    return r;
}

static node_t *parse_and(parser_t *p)
{
    node_t *l = parse_unary(p);
    while (!p->failed && (is_kw(peek(p), "and") || (peek(p)->type == T_WORD && !strcmp(peek(p)->text, "&&")))) {
        p->i++;
        node_t *n = mem_calloc(1, sizeof *n);
        n->kind = N_AND;
        n->a = l;
        n->b = parse_unary(p);
        l = n;
    }
    return l;
}

static node_t *parse_or(parser_t *p)
{
    node_t *l = parse_and(p);
    while (!p->failed && is_kw(peek(p), "or")) {
        p->i++;
        node_t *n = mem_calloc(1, sizeof *n);
        n->kind = N_OR;
        n->a = l;
        n->b = parse_and(p);
        l = n;
    }
    return l;
}

static int sortable(int f)
{
    return !sb_jql_is_text(f) || f == F_SUMMARY;
}

static void parse_order(parser_t *p, sb_jql_t *q)
{
    if (!is_kw(peek(p), "by")) {
        fail(p, "Error in the JQL Query: Expecting 'by' but got '%s'. (line 1, character %d)", peek(p)->text,
             peek(p)->pos);
        return;
    }
    p->i++;
    for (;;) {
        tok_t *t = peek(p);
        if (t->type != T_WORD && t->type != T_STR) {
            if (t->type == T_EOF)
                fail(p, "Error in the JQL Query: Expecting a field name before the end of the query.");
            else
                fail(p, "Error in the JQL Query: Expecting a field name but got '%s'. (line 1, character %d)", t->text,
                     t->pos);
            return;
        }
        unsigned xmask;
        int f = field_lookup(p->d, t->text, &xmask);
        order_t tmp = {0, 0}, *o = &tmp;
        if (f < 0)
            fail_sem(p, "Field '%s' does not exist or you do not have permission to view it.", t->text);
        else if (f == F_XFIELD)
            fail_sem(p, "The sandbox does not sort by the custom field '%s'.", t->text);
        else if (!sortable(f))
            fail_sem(p, "Field '%s' does not support sorting.", t->text);
        else if (q->norder == SB_JQL_MAX_ORDER)
            fail_sem(p, "The ORDER BY clause can contain at most %d fields.", SB_JQL_MAX_ORDER);
        else
            o = &q->order[q->norder++];
        p->i++;
        o->field = f;
        if (is_kw(peek(p), "asc")) {
            p->i++;
        } else if (is_kw(peek(p), "desc")) {
            o->desc = 1;
            p->i++;
        }
        if (peek(p)->type != T_COMMA)
            break;
        p->i++;
    }
    if (peek(p)->type != T_EOF)
        fail(p, "Error in the JQL Query: Expecting either ',' or the end of the query but got '%s'. (line 1, character %d)",
             peek(p)->text, peek(p)->pos);
}

int sb_jql_parse(const sb_data_t *d, const char *q, sb_jql_t **out, char *err, size_t errsz)
{
    parser_t p = {.d = d, .err = err, .errsz = errsz};
    sb_jql_t *r = mem_calloc(1, sizeof *r);
    *out = NULL;
    if (strlen(q) > SB_JQL_MAX_LEN) {
        snprintf(err, errsz, "Error in the JQL Query: The query is too long.");
        free(r);
        return -1;
    }
    p.toks = mem_calloc(MAX_TOKENS, sizeof(tok_t));
    if (tokenize(&p, q) == 0) {
        if (!is_kw(peek(&p), "order") && peek(&p)->type != T_EOF) {
            r->where = parse_or(&p);
            if (!p.failed && peek(&p)->type != T_EOF && !is_kw(peek(&p), "order"))
                fail(&p, "Error in the JQL Query: Expecting either 'OR' or 'AND' but got '%s'. (line 1, character %d)",
                     peek(&p)->text, peek(&p)->pos);
        }
        if (!p.failed && is_kw(peek(&p), "order")) {
            p.i++;
            parse_order(&p, r);
        }
    }
    free(p.toks);
    if (!p.failed && p.sem_failed) {
        snprintf(err, errsz, "%s", p.sem);
        p.failed = 1;
    }
    if (p.failed) {
        sb_jql_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void sb_jql_free(sb_jql_t *q)
{
    if (!q)
        return;
    node_free(q->where);
    free(q);
}

int sb_jql_bounded(const sb_jql_t *q)
{
    return q && q->where != NULL;
}

