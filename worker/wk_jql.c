/* wk_jql: see wk_jql.h. */
#include "wk_jql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "jsontext.h"

#define TOK_MAX 512  /* one token (field name or value) */

/* JQL fields and functions that /rest/api/3/field does not list. */
static const char *const builtin[] = {
    "text", "key", "issuekey", "issue", "id", "project", "type", "issuetype", "statusCategory",
    "category", "parent", "sprint", "filter", "request", "request-channel-type", "level", "watcher",
    "watchers", "voter", "votes", "worklogDate", "worklogAuthor", "worklogComment",
    "attachments", "issueLink", "issueLinkType", "lastViewed", "approvals", "created",
    "createdDate", "updated", "updatedDate", "resolved", "resolutiondate", "due", "duedate",
    "comment", "description", "summary", "status", "priority", "assignee", "reporter",
    "creator", "labels", "resolution", "component", "fixVersion", "affectedVersion",
    "environment", "originalEstimate", "remainingEstimate", "timespent", "Organizations",
    "cf", NULL};

static int is_builtin(const char *s)
{
    for (int i = 0; builtin[i]; i++)
        if (strcasecmp(builtin[i], s) == 0)
            return 1;
    return 0;
}

static int is_customfield_form(const char *s)
{
    int num;
    char tail;
    return (sscanf(s, "cf[%d%c", &num, &tail) == 2 && tail == ']') ||
           (strncasecmp(s, "customfield_", 12) == 0 && strspn(s + 12, "0123456789") == strlen(s + 12) &&
            s[12]);
}

/* 1 when field f is named name: its name or one of its clause names (a
 * custom field's clause names are "cf[N]" and its display name). */
static int named(const json_t *f, const char *name)
{
    size_t j;
    const json_t *c;
    if (jsontext_str(f, "name") && strcasecmp(jsontext_str(f, "name"), name) == 0)
        return 1;
    json_array_foreach(json_object_get(f, "clauseNames"), j, c)
        if (json_is_string(c) && strcasecmp(json_string_value(c), name) == 0)
            return 1;
    return 0;
}

/* 1 when candidate f may hold a value in one of projects (NULL: anywhere),
 * 0 when its context excludes them, -1 when its context is unknown. */
static int applies(const json_t *f, const json_t *projects)
{
    if (json_array_size(projects) == 0)
        return 1;
    const json_t *ctx = json_object_get(f, WK_JQL_CONTEXT);
    if (!json_is_object(ctx) || json_is_true(json_object_get(ctx, "unknown")))
        return -1;
    if (json_is_true(json_object_get(ctx, "global")))
        return 1;
    size_t i, j;
    const json_t *a, *b;
    json_array_foreach(json_object_get(ctx, "projects"), i, a)
        json_array_foreach(projects, j, b)
            if (json_is_string(a) && json_is_string(b) && strcasecmp(json_string_value(a), json_string_value(b)) == 0)
                return 1;
    return 0;
}

/* One candidate for an ambiguity message: id (type; where). */
static void describe(buf_t *b, const json_t *f)
{
    const json_t *sc = json_object_get(f, "schema"), *ctx = json_object_get(f, WK_JQL_CONTEXT);
    const char *type = jsontext_str(sc, "type") ? jsontext_str(sc, "type") : "?";
    buf_printf(b, "%s%s (%s; ", b->len ? ", " : "", jsontext_str(f, "id"), type);
    if (json_is_true(json_object_get(ctx, "global")))
        buf_append_str(b, "all projects");
    else if (json_array_size(json_object_get(ctx, "projects")) > 0) {
        buf_append_str(b, "projects");
        size_t i;
        const json_t *k;
        json_array_foreach(json_object_get(ctx, "projects"), i, k)
            buf_printf(b, "%s%s", i ? ", " : " ", json_string_value(k) ? json_string_value(k) : "?");
    } else if (json_is_object(ctx) && !json_is_true(json_object_get(ctx, "unknown")))
        buf_append_str(b, "no project");
    else if (jsontext_str(json_object_get(json_object_get(f, "scope"), "project"), "id"))
        buf_printf(b, "team-managed project id %s", jsontext_str(json_object_get(json_object_get(f, "scope"), "project"), "id"));
    else
        buf_append_str(b, "project context unknown");
    buf_append_str(b, ")");
}

int wk_jql_field_resolve(const json_t *fields, const char *name, const json_t *projects, const char **id,
                         json_t *need, char *err, size_t errsz)
{
    size_t i;
    const json_t *f;
    *id = NULL;
    /* An id or key names one field. */
    json_array_foreach(fields, i, f) {
        const char *fid = jsontext_str(f, "id");
        if (fid && (strcasecmp(fid, name) == 0 || (jsontext_str(f, "key") && strcasecmp(jsontext_str(f, "key"), name) == 0))) {
            *id = fid;
            return 1;
        }
    }
    /* A name may be shared: real sites often have several custom fields of
     * one name (other types, other projects' contexts). */
    int n = 0, fit = 0, unknown = 0;
    const json_t *only = NULL, *first = NULL;
    json_array_foreach(fields, i, f) {
        if (!jsontext_str(f, "id") || !named(f, name))
            continue;
        n++;
        first = first ? first : f;
        int a = applies(f, projects);
        unknown += a < 0;
        if (a > 0) {
            fit++;
            only = f;
        }
    }
    if (n == 0)
        return 0;
    if (n == 1) {
        *id = jsontext_str(first, "id");
        return 1;
    }
    if (fit == 1 && unknown == 0) {
        *id = jsontext_str(only, "id"); /* the one whose context covers the projects */
        return 1;
    }
    /* Ambiguous so far: the candidates' contexts (never looked up yet) may
     * settle it, and the message names them either way. */
    size_t asked = json_array_size(need);
    json_array_foreach(fields, i, f)
        if (need && jsontext_str(f, "id") && named(f, name) && !json_object_get(f, WK_JQL_CONTEXT) &&
            json_array_size(need) < WK_JQL_NEED_MAX)
            json_array_append_new(need, json_string(jsontext_str(f, "id")));
    if (json_array_size(need) > asked) {
        snprintf(err, errsz, "the field name \"%.80s\" is shared by %d fields; their contexts are needed", name, n);
        return -1;
    }
    buf_t b;
    buf_init(&b, 4096);
    json_array_foreach(fields, i, f)
        if (jsontext_str(f, "id") && named(f, name))
            describe(&b, f);
    buf_t where;
    buf_init(&where, 1024);
    const json_t *pk;
    json_array_foreach(projects, i, pk)
        if (json_is_string(pk) && i < 10)
            buf_printf(&where, "%s%s", i ? ", " : "", json_string_value(pk));
    snprintf(err, errsz, "the field name \"%.80s\" is ambiguous: %d fields have it: %s%s%s. Name one by its id "
             "(customfield_N, or cf[N] in JQL)", name, n, buf_ok(&b) ? (b.data ? b.data : "") : "(too many to list)",
             where.len == 0 ? "" : fit ? "; more than one applies to " : "; none applies to ",
             where.data ? where.data : "");
    buf_free(&where);
    buf_free(&b);
    return -1;
}

const char *wk_jql_field_id(const json_t *fields, const char *name)
{
    const char *id;
    char err[8];
    return wk_jql_field_resolve(fields, name, NULL, &id, NULL, err, sizeof err) == 1 ? id : NULL;
}

static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 1000;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = prev + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

void wk_jql_closest(const json_t *fields, const char *name, int n, char *out, size_t outsz)
{
    const char *best[8] = {0};
    size_t bd[8];
    if (n > 8)
        n = 8;
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f) {
        const char *nm = jsontext_str(f, "name");
        if (!nm)
            continue;
        size_t d = distance(name, nm);
        /* A name containing the query (or the reverse) is close whatever its length. */
        if (strcasestr(nm, name) || strcasestr(name, nm))
            d = d > 2 ? 2 : d;
        for (int k = 0; k < n; k++) {
            if (!best[k] || d < bd[k]) {
                for (int m = n - 1; m > k; m--) {
                    best[m] = best[m - 1];
                    bd[m] = bd[m - 1];
                }
                best[k] = nm;
                bd[k] = d;
                break;
            }
        }
    }
    size_t off = 0;
    out[0] = 0;
    for (int k = 0; k < n && best[k] && off < outsz; k++) {
        int w = snprintf(out + off, outsz - off, "%s\"%s\"", k ? ", " : "", best[k]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* ---- lexer ----
 *
 * JQL as Jira's lexer reads it: strings in double or single quotes with
 * backslash escapes (\t \n \r \" \' \\ \<space> \uXXXX), words (anything but
 * whitespace, control characters and = ! < > ~ ( ) , " ' & |, with the same
 * escapes), parentheses, commas, the operators = != ~ !~ < <= > >=, and
 * && || ! for AND OR NOT. An escape Jira does not know, a control character,
 * a lone & or | and an unterminated string are refused: where this lexer
 * and Jira's might disagree on where a string or a word ends, the query
 * does not go out. Grouping characters are ASCII only, so no look-alike
 * (a fullwidth parenthesis, a no-break space) can open or close a group. */

enum tk { K_END, K_WORD, K_STR, K_LP, K_RP, K_COMMA, K_OP, K_AND, K_OR, K_NOT };

typedef struct tok_s {
    enum tk kind;
    const char *s; /* source text (a string with its quotes) */
    size_t n;
    size_t pos;    /* 1-based character position, for messages */
} tok_t;

/* Length of the escape at p (p[0] == '\\'): 2, 6 for \uXXXX, 0 when JQL
 * has no such escape. */
static size_t escape_len(const char *p)
{
    if (p[1] && strchr("tnr\"'\\ ", p[1]))
        return 2;
    if (p[1] == 'u') {
        for (int i = 2; i < 6; i++)
            if (!isxdigit((unsigned char)p[i]))
                return 0;
        return 6;
    }
    return 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static int ends_word(unsigned char c)
{
    return !c || is_space(c) || is_ctl(c) || strchr("=!<>~(),\"'&|", c);
}

/* Characters (code points) from start to p, plus one. */
static size_t char_pos(const char *start, const char *p)
{
    size_t n = 1;
    for (const char *c = start; c < p; c++)
        n += ((unsigned char)*c & 0xC0) != 0x80;
    return n;
}

static int lex_fail(char *err, size_t errsz, const char *q, const char *at, const char *what)
{
    snprintf(err, errsz, "JQL: %s at character %zu", what, char_pos(q, at));
    return -1;
}

/* Splits q into toks (room for strlen(q) + 1); 0 or -1 with err. */
static int lex(const char *q, tok_t *toks, size_t *ntok, char *err, size_t errsz)
{
    size_t n = 0;
    const char *p = q;
    for (;;) {
        while (is_space((unsigned char)*p))
            p++;
        tok_t *t = &toks[n];
        t->s = p;
        t->pos = char_pos(q, p);
        unsigned char c = (unsigned char)*p;
        if (!c) {
            t->kind = K_END;
            t->n = 0;
            *ntok = n + 1;
            return 0;
        }
        if (is_ctl(c))
            return lex_fail(err, errsz, q, p, "a control character (use \\n, \\t or \\uXXXX in a quoted string)");
        if (c == '"' || c == '\'') {
            const char *s = p++;
            while (*p && *p != (char)c) {
                if (*p == '\\') {
                    size_t e = escape_len(p);
                    if (!e)
                        return lex_fail(err, errsz, q, p, "an escape JQL does not know (\\\" \\' \\\\ \\t \\n \\r "
                                        "\\<space> and \\uXXXX are)");
                    p += e;
                } else if (is_ctl((unsigned char)*p)) {
                    return lex_fail(err, errsz, q, p, "a control character in a quoted string (use \\n, \\t or \\uXXXX)");
                } else {
                    p++;
                }
            }
            if (!*p) {
                snprintf(err, errsz, "JQL: unterminated quoted string (it starts at character %zu)", t->pos);
                return -1;
            }
            p++;
            t->kind = K_STR;
            t->s = s;
        } else if (c == '(' || c == ')' || c == ',') {
            t->kind = c == '(' ? K_LP : c == ')' ? K_RP : K_COMMA;
            p++;
        } else if (c == '&' || c == '|') {
            if (p[1] != (char)c)
                return lex_fail(err, errsz, q, p, c == '&' ? "a single '&' (write AND)" : "a single '|' (write OR)");
            t->kind = c == '&' ? K_AND : K_OR;
            p += 2;
        } else if (c == '!' && p[1] != '=' && p[1] != '~') {
            t->kind = K_NOT;
            p++;
        } else if (strchr("=!<>~", c)) {
            t->kind = K_OP;
            p += (c == '!' || c == '<' || c == '>') && (p[1] == '=' || (c == '!' && p[1] == '~')) ? 2 : 1;
        } else {
            while (!ends_word((unsigned char)*p)) {
                if (*p == '\\') {
                    size_t e = escape_len(p);
                    if (!e)
                        return lex_fail(err, errsz, q, p, "an escape JQL does not know outside a string (quote the "
                                        "text instead)");
                    p += e;
                } else {
                    p++;
                }
            }
            t->kind = K_WORD;
            size_t len = (size_t)(p - t->s);
            if ((len == 3 && strncasecmp(t->s, "AND", 3) == 0))
                t->kind = K_AND;
            else if (len == 2 && strncasecmp(t->s, "OR", 2) == 0)
                t->kind = K_OR;
            else if (len == 3 && strncasecmp(t->s, "NOT", 3) == 0)
                t->kind = K_NOT;
        }
        t->n = (size_t)(p - t->s);
        n++;
    }
}

/* The text a word or string stands for (quotes removed, escapes applied)
 * into out; -1 when it does not fit. */
static int tok_text(const tok_t *t, char *out, size_t outsz)
{
    const char *p = t->s, *end = t->s + t->n;
    size_t o = 0;
    if (t->kind == K_STR) {
        p++;
        end--;
    }
    while (p < end) {
        char c = *p;
        if (c == '\\') {
            size_t e = escape_len(p);
            if (e == 6) {
                unsigned long cp = strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
                unsigned char u[3];
                size_t k = 0;
                if (cp < 0x80) {
                    u[k++] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    u[k++] = (unsigned char)(0xC0 | (cp >> 6));
                    u[k++] = (unsigned char)(0x80 | (cp & 0x3F));
                } else {
                    u[k++] = (unsigned char)(0xE0 | (cp >> 12));
                    u[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    u[k++] = (unsigned char)(0x80 | (cp & 0x3F));
                }
                if (o + k >= outsz)
                    return -1;
                memcpy(out + o, u, k);
                o += k;
                p += 6;
                continue;
            }
            c = p[1] == 't' ? '\t' : p[1] == 'n' ? '\n' : p[1] == 'r' ? '\r' : p[1];
            p++;
        }
        if (o + 1 >= outsz)
            return -1;
        out[o++] = c;
        p++;
    }
    out[o] = 0;
    return 0;
}

/* ---- parser ----
 *
 * Recursive descent over the tokens, writing the query back out token by
 * token (one space between tokens, none inside parentheses or before a
 * comma), field names translated:
 *
 *   query    := [or] [ORDER BY key {, key}]
 *   or       := and {OR and}            and := not {AND not}
 *   not      := NOT not | ( or ) | clause
 *   clause   := field (op operand | [NOT] IN operand | IS [NOT] value
 *               | WAS [NOT] [IN] operand {history} | CHANGED {history})
 *   operand  := value | function | ( item {, item} )     item := value | function
 *   function := word ( [value {, value}] )
 *   history  := (AFTER|BEFORE|ON|BY|FROM|TO|DURING) operand
 *   key      := field [ASC|DESC]
 *
 * Anything else is a syntax error with its position, so what goes out is a
 * query whose parentheses this parser matched itself. */

#define WK_JQL_DEPTH 64

typedef struct parse_s {
    const char *q;
    const tok_t *t;
    size_t i;
    buf_t *out;
    int glue;         /* no space before the next token (after '(' or a function name) */
    int depth;
    const json_t *fields;
    const json_t *projects; /* where shared field names are looked for (may be NULL) */
    json_t *need;           /* ids of shared-name fields whose context is unknown (may be NULL) */
    char *err;
    size_t errsz;
} parse_t;

static const tok_t *cur(const parse_t *p)
{
    return &p->t[p->i];
}

static int is_kw(const tok_t *t, const char *w)
{
    return t->kind == K_WORD && t->n == strlen(w) && strncasecmp(t->s, w, t->n) == 0;
}

static int fail_at(parse_t *p, const char *what)
{
    const tok_t *t = cur(p);
    if (t->kind == K_END)
        snprintf(p->err, p->errsz, "JQL: %s, but the query ends at character %zu", what, t->pos);
    else if (t->kind == K_RP && p->depth == 0)
        snprintf(p->err, p->errsz, "JQL: ')' at character %zu has no matching '('", t->pos);
    else
        snprintf(p->err, p->errsz, "JQL: %s at character %zu, found '%.*s'", what, t->pos,
                 (int)(t->n > 40 ? 40 : t->n), t->s);
    return -1;
}

static int has_high_bytes(const tok_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        if ((unsigned char)t->s[i] >= 0x80)
            return 1;
    return 0;
}

static void put_raw(parse_t *p, const char *s, size_t n, enum tk kind)
{
    if (p->out->len && !p->glue && kind != K_RP && kind != K_COMMA)
        buf_append(p->out, " ", 1);
    p->glue = kind == K_LP;
    buf_append(p->out, s, n);
}

/* Writes the current token and moves on. A word with non-ASCII characters
 * goes out quoted: Jira then reads it as one string whatever it makes of
 * look-alike spaces. */
static void put_tok(parse_t *p)
{
    const tok_t *t = cur(p);
    if (t->kind == K_AND || t->kind == K_OR || t->kind == K_NOT) {
        const char *w = t->kind == K_AND ? "AND" : t->kind == K_OR ? "OR" : "NOT";
        put_raw(p, w, strlen(w), t->kind);
    } else if (t->kind == K_WORD && has_high_bytes(t)) {
        put_raw(p, "\"", 1, K_WORD);
        buf_append(p->out, t->s, t->n);
        buf_append(p->out, "\"", 1);
    } else {
        put_raw(p, t->s, t->n, t->kind);
    }
    p->i++;
}

/* Checks/translates one field token and writes it. */
static int put_field(parse_t *p)
{
    const tok_t *t = cur(p);
    if (t->kind != K_WORD && t->kind != K_STR)
        return fail_at(p, "expected a field name");
    char name[TOK_MAX];
    if (!p->fields || tok_text(t, name, sizeof name) != 0 || is_customfield_form(name) || strchr(name, '[')) {
        put_tok(p);
        return 0;
    }
    const char *id;
    char why[1500];
    int r = wk_jql_field_resolve(p->fields, name, p->projects, &id, p->need, why, sizeof why);
    if (r < 0) {
        snprintf(p->err, p->errsz, "JQL: %s", why);
        return -1;
    }
    if (id && strncmp(id, "customfield_", 12) == 0) {
        /* The id is the site's (its field list): a real one is
         * customfield_<digits>, anything longer is refused, not cut. */
        char cf[64];
        int n = snprintf(cf, sizeof cf, "cf[%s]", id + 12);
        if (n < 0 || (size_t)n >= sizeof cf) {
            snprintf(p->err, p->errsz, "JQL: the site gave field '%.64s' an id that is too long", name);
            return -1;
        }
        put_raw(p, cf, (size_t)n, K_WORD);
        p->i++;
        return 0;
    }
    if (id || is_builtin(name)) {
        put_tok(p);
        return 0;
    }
    char close[400];
    wk_jql_closest(p->fields, name, 5, close, sizeof close);
    snprintf(p->err, p->errsz, "JQL: unknown field \"%.80s\"; closest fields: %s (list them with "
             "list_all_jira_service_management_fields)", name, close);
    return -1;
}

static int enter(parse_t *p)
{
    if (++p->depth > WK_JQL_DEPTH) {
        snprintf(p->err, p->errsz, "JQL: nested more than %d levels deep", WK_JQL_DEPTH);
        return -1;
    }
    return 0;
}

/* A value, or a function call when a word is followed by '('. */
static int p_item(parse_t *p)
{
    const tok_t *t = cur(p);
    if (t->kind == K_STR) {
        put_tok(p);
        return 0;
    }
    if (t->kind != K_WORD || is_kw(t, "ORDER"))
        return fail_at(p, "expected a value");
    if (p->t[p->i + 1].kind == K_LP && has_high_bytes(t))
        return fail_at(p, "expected a function name (ASCII letters)");
    put_tok(p);
    if (cur(p)->kind != K_LP)
        return 0;
    p->glue = 1; /* name(args) */
    put_tok(p);
    if (cur(p)->kind == K_RP) {
        put_tok(p);
        return 0;
    }
    for (;;) {
        if (cur(p)->kind != K_WORD && cur(p)->kind != K_STR)
            return fail_at(p, "expected a function argument");
        put_tok(p);
        if (cur(p)->kind == K_RP) {
            put_tok(p);
            return 0;
        }
        if (cur(p)->kind != K_COMMA)
            return fail_at(p, "expected ',' or ')' in the function's arguments");
        put_tok(p);
    }
}

static int p_operand(parse_t *p)
{
    if (cur(p)->kind != K_LP)
        return p_item(p);
    if (enter(p) != 0)
        return -1;
    put_tok(p);
    for (;;) {
        if (p_item(p) != 0)
            return -1;
        if (cur(p)->kind == K_RP)
            break;
        if (cur(p)->kind != K_COMMA)
            return fail_at(p, "expected ',' or ')' in the list");
        put_tok(p);
    }
    put_tok(p);
    p->depth--;
    return 0;
}

static int p_history(parse_t *p)
{
    static const char *const preds[] = {"AFTER", "BEFORE", "ON", "BY", "FROM", "TO", "DURING", NULL};
    for (;;) {
        int hit = 0;
        for (int i = 0; preds[i] && !hit; i++)
            hit = is_kw(cur(p), preds[i]);
        if (!hit)
            return 0;
        put_tok(p);
        if (p_operand(p) != 0)
            return -1;
    }
}

static int p_clause(parse_t *p)
{
    if (put_field(p) != 0)
        return -1;
    const tok_t *t = cur(p);
    if (t->kind == K_OP) {
        put_tok(p);
        return p_operand(p);
    }
    if (t->kind == K_NOT || is_kw(t, "IN")) {
        if (t->kind == K_NOT) {
            put_tok(p);
            if (!is_kw(cur(p), "IN"))
                return fail_at(p, "expected IN after NOT");
        }
        put_tok(p);
        return p_operand(p);
    }
    if (is_kw(t, "IS")) {
        put_tok(p);
        if (cur(p)->kind == K_NOT)
            put_tok(p);
        if (cur(p)->kind != K_WORD && cur(p)->kind != K_STR)
            return fail_at(p, "expected EMPTY or NULL after IS");
        put_tok(p);
        return 0;
    }
    if (is_kw(t, "WAS")) {
        put_tok(p);
        if (cur(p)->kind == K_NOT)
            put_tok(p);
        if (is_kw(cur(p), "IN"))
            put_tok(p);
        if (p_operand(p) != 0)
            return -1;
        return p_history(p);
    }
    if (is_kw(t, "CHANGED")) {
        put_tok(p);
        return p_history(p);
    }
    return fail_at(p, "expected an operator (= != ~ !~ < <= > >= IN, NOT IN, IS, IS NOT, WAS, CHANGED)");
}

static int p_or(parse_t *p);

static int p_not(parse_t *p)
{
    const tok_t *t = cur(p);
    if (t->kind == K_NOT) {
        if (enter(p) != 0)
            return -1;
        put_tok(p);
        if (p_not(p) != 0)
            return -1;
        p->depth--;
        return 0;
    }
    if (t->kind == K_LP) {
        if (enter(p) != 0)
            return -1;
        size_t open = t->pos;
        put_tok(p);
        if (p_or(p) != 0)
            return -1;
        if (cur(p)->kind != K_RP) {
            if (cur(p)->kind == K_END) {
                snprintf(p->err, p->errsz, "JQL: '(' at character %zu is not closed", open);
                return -1;
            }
            return fail_at(p, "expected ')'");
        }
        put_tok(p);
        p->depth--;
        return 0;
    }
    if (t->kind == K_END || t->kind == K_AND || t->kind == K_OR || t->kind == K_RP)
        return fail_at(p, "expected a clause");
    return p_clause(p);
}

static int p_and(parse_t *p)
{
    if (p_not(p) != 0)
        return -1;
    while (cur(p)->kind == K_AND) {
        put_tok(p);
        if (p_not(p) != 0)
            return -1;
    }
    return 0;
}

static int p_or(parse_t *p)
{
    if (p_and(p) != 0)
        return -1;
    while (cur(p)->kind == K_OR) {
        put_tok(p);
        if (p_and(p) != 0)
            return -1;
    }
    return 0;
}

static int at_order_by(const parse_t *p)
{
    return is_kw(cur(p), "ORDER") && is_kw(&p->t[p->i + 1], "BY");
}

static int p_order(parse_t *p)
{
    for (;;) {
        if (put_field(p) != 0)
            return -1;
        if (is_kw(cur(p), "ASC") || is_kw(cur(p), "DESC"))
            put_tok(p);
        if (cur(p)->kind == K_END)
            return 0;
        if (cur(p)->kind != K_COMMA)
            return fail_at(p, "nothing but ', <field> [ASC|DESC]' may follow ORDER BY; expected ','");
        put_tok(p);
    }
}

/* Parses the tokens into where and order (both written by the parser). */
static int p_query(parse_t *p, buf_t *where, buf_t *order)
{
    p->out = where;
    if (cur(p)->kind != K_END && !at_order_by(p)) {
        if (p_or(p) != 0)
            return -1;
    }
    if (at_order_by(p)) {
        p->i += 2;
        p->out = order;
        p->glue = 0;
        if (cur(p)->kind == K_END)
            return fail_at(p, "expected a field after ORDER BY");
        return p_order(p);
    }
    if (cur(p)->kind != K_END)
        return fail_at(p, "expected AND, OR or ORDER BY");
    return 0;
}

char *wk_jql_rewrite(const char *jql, const json_t *fields, const json_t *projects, char *err,
                     size_t errsz)
{
    return wk_jql_rewrite_need(jql, fields, projects, NULL, err, errsz);
}

char *wk_jql_rewrite_need(const char *jql, const json_t *fields, const json_t *projects, json_t *need, char *err,
                          size_t errsz)
{
    size_t qlen = jql ? strlen(jql) : 0;
    if (!jql || qlen > WK_JQL_MAX) {
        snprintf(err, errsz, "JQL: at most %d characters", WK_JQL_MAX);
        return NULL;
    }
    tok_t *toks = mem_calloc(qlen + 2, sizeof *toks);
    buf_t where, order, out;
    buf_init(&where, 4 * WK_JQL_MAX);
    buf_init(&order, 4 * WK_JQL_MAX);
    buf_init(&out, 6 * WK_JQL_MAX);
    char *res = NULL;
    size_t ntok;
    if (lex(jql, toks, &ntok, err, errsz) != 0)
        goto done;
    toks[ntok] = toks[ntok - 1]; /* a second K_END: the parser may look one past the current token */
    parse_t p = {.q = jql, .t = toks, .fields = fields, .projects = projects, .need = need, .err = err, .errsz = errsz};
    if (p_query(&p, &where, &order) != 0)
        goto done;
    /* A clause over its limit is gone whole (buf.h); going on would send
     * a query without it, so the query is refused. */
    if (!buf_ok(&where) || !buf_ok(&order)) {
        snprintf(err, errsz, "JQL: too long once rewritten");
        goto done;
    }
    if (json_array_size(projects) > 0) {
        buf_append_str(&out, "project in (");
        size_t i;
        const json_t *v;
        json_array_foreach(projects, i, v) {
            buf_append_str(&out, i ? ", \"" : "\"");
            for (const char *c = json_string_value(v); c && *c; c++)
                if (isalnum((unsigned char)*c) || *c == '_')
                    buf_append(&out, c, 1);
            buf_append_str(&out, "\"");
        }
        buf_append_str(&out, ")");
        if (where.len)
            buf_printf(&out, " AND (%.*s)", (int)where.len, where.data);
    } else if (where.len) {
        buf_append(&out, where.data, where.len);
    }
    if (order.len)
        buf_printf(&out, "%sORDER BY %.*s", out.len ? " " : "", (int)order.len, order.data);
    if (!buf_ok(&out)) {
        snprintf(err, errsz, "JQL: too long once rewritten");
        goto done;
    }
    if (!out.data || !out.len) {
        snprintf(err, errsz, "JQL: empty query");
        goto done;
    }
    size_t n;
    res = buf_steal(&out, &n);
done:
    buf_free(&where);
    buf_free(&order);
    buf_free(&out);
    free(toks);
    return res;
}
