/* wk_jql: see wk_jql.h. */
#include "wk_jql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "ju.h"

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

const char *wk_jql_field_id(const json_t *fields, const char *name)
{
    size_t i, j;
    const json_t *f, *c;
    json_array_foreach(fields, i, f) {
        const char *id = ju_str(f, "id");
        if (!id)
            continue;
        if (strcasecmp(id, name) == 0 || (ju_str(f, "key") && strcasecmp(ju_str(f, "key"), name) == 0) ||
            (ju_str(f, "name") && strcasecmp(ju_str(f, "name"), name) == 0))
            return id;
        json_array_foreach(json_object_get(f, "clauseNames"), j, c)
            if (json_is_string(c) && strcasecmp(json_string_value(c), name) == 0)
                return id;
    }
    return NULL;
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
        const char *nm = ju_str(f, "name");
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

/* ---- tokenizer ---- */

enum tok_kind { T_END, T_WORD, T_QUOTED, T_OP, T_LPAREN, T_RPAREN, T_COMMA, T_BAD };

typedef struct tok_s {
    enum tok_kind kind;
    const char *start; /* in the source */
    size_t len;
    char text[TOK_MAX]; /* unquoted text of words and strings */
} tok_t;

static const char *next_tok(const char *p, tok_t *t)
{
    while (isspace((unsigned char)*p))
        p++;
    t->start = p;
    t->text[0] = 0;
    if (!*p) {
        t->kind = T_END;
        t->len = 0;
        return p;
    }
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        size_t n = 0;
        while (*p && *p != q) {
            if (*p == '\\' && p[1])
                p++;
            if (n + 1 < sizeof t->text)
                t->text[n++] = *p;
            p++;
        }
        t->text[n] = 0;
        if (*p != q) {
            t->kind = T_BAD;
            return p;
        }
        p++;
        t->kind = T_QUOTED;
    } else if (*p == '(' || *p == ')' || *p == ',') {
        t->kind = *p == '(' ? T_LPAREN : *p == ')' ? T_RPAREN : T_COMMA;
        p++;
    } else if (strchr("=!<>~", *p)) {
        while (*p && strchr("=!<>~", *p))
            p++;
        t->kind = T_OP;
    } else {
        size_t n = 0;
        /* Words end at spaces, operators, parentheses and commas; cf[123] is one word. */
        while (*p && !isspace((unsigned char)*p) && !strchr("=!<>~(),\"'", *p)) {
            if (n + 1 < sizeof t->text)
                t->text[n++] = *p;
            p++;
        }
        t->text[n] = 0;
        t->kind = T_WORD;
    }
    t->len = (size_t)(p - t->start);
    return p;
}

static int word_is(const tok_t *t, const char *w)
{
    return t->kind == T_WORD && strcasecmp(t->text, w) == 0;
}

/* Checks/translates one field-position token, appending it to out. */
static int put_field(buf_t *out, const tok_t *t, const json_t *fields, char *err, size_t errsz)
{
    if (t->kind != T_WORD && t->kind != T_QUOTED) {
        snprintf(err, errsz, "JQL: expected a field name at \"%.40s\"", t->start);
        return -1;
    }
    const char *name = t->text;
    if (!fields || is_customfield_form(name)) {
        buf_append(out, t->start, t->len);
        return 0;
    }
    const char *id = wk_jql_field_id(fields, name);
    if (id && strncmp(id, "customfield_", 12) == 0) {
        buf_printf(out, "cf[%s]", id + 12);
        return 0;
    }
    if (id || is_builtin(name)) {
        buf_append(out, t->start, t->len);
        return 0;
    }
    char close[400];
    wk_jql_closest(fields, name, 5, close, sizeof close);
    snprintf(err, errsz, "JQL: unknown field \"%.80s\"; closest fields: %s (list them with "
             "list_all_jira_service_management_fields)", name, close);
    return -1;
}

/* The spacing between two tokens, except at the start of a part. */
static void put_gap(buf_t *out, const char *from, const char *to)
{
    if (out->len && to > from)
        buf_append(out, from, (size_t)(to - from));
}

char *wk_jql_rewrite(const char *jql, const json_t *fields, const json_t *projects, char *err,
                     size_t errsz)
{
    if (!jql || strlen(jql) > WK_JQL_MAX) {
        snprintf(err, errsz, "JQL: at most %d characters", WK_JQL_MAX);
        return NULL;
    }
    buf_t where, order;
    buf_init(&where, 4 * WK_JQL_MAX);
    buf_init(&order, 4 * WK_JQL_MAX);
    buf_t *out = &where;
    tok_t *t = mem_alloc(sizeof *t);
    t->kind = T_END;
    /* expect: 1 = a field comes next (clause start or ORDER BY key). */
    int expect = 1, in_order = 0, list_depth = 0, depth = 0;
    const char *p = jql, *gap = jql; /* gap: end of the previous token (spacing is kept) */
    char *res = NULL;
    for (;;) {
        if (t->kind != T_END)
            gap = p;
        p = next_tok(p, t);
        if (t->kind == T_END)
            break;
        if (t->kind == T_BAD) {
            snprintf(err, errsz, "JQL: unterminated quoted string");
            goto fail;
        }
        if (!in_order && word_is(t, "ORDER")) {
            tok_t by;
            const char *q = next_tok(p, &by);
            if (word_is(&by, "BY")) {
                p = q;
                t->kind = T_WORD;
                in_order = 1;
                expect = 1;
                out = &order;
                continue;
            }
        }
        if (expect && (word_is(t, "NOT") || t->kind == T_LPAREN) && !in_order) {
            if (t->kind == T_LPAREN)
                depth++;
            put_gap(out, gap, t->start);
            buf_append(out, t->start, t->len);
            continue;
        }
        put_gap(out, gap, t->start);
        if (expect) {
            if (put_field(out, t, fields, err, errsz) != 0)
                goto fail;
            expect = 0;
            continue;
        }
        buf_append(out, t->start, t->len);
        if (in_order) {
            if (t->kind == T_COMMA)
                expect = 1;
            continue;
        }
        if (t->kind == T_LPAREN) {
            list_depth++;
        } else if (t->kind == T_RPAREN) {
            if (list_depth > 0)
                list_depth--;
            else if (depth > 0)
                depth--;
        } else if (list_depth == 0 && (word_is(t, "AND") || word_is(t, "OR"))) {
            expect = 1;
        }
    }
    if (projects && json_array_size(projects) > 0) {
        buf_t s;
        buf_init(&s, 6 * WK_JQL_MAX);
        buf_append_str(&s, "project in (");
        size_t i;
        const json_t *v;
        json_array_foreach(projects, i, v) {
            buf_append_str(&s, i ? ", \"" : "\"");
            for (const char *c = json_string_value(v); c && *c; c++)
                if (isalnum((unsigned char)*c) || *c == '_')
                    buf_append(&s, c, 1);
            buf_append_str(&s, "\"");
        }
        buf_append_str(&s, ")");
        if (where.len)
            buf_printf(&s, " AND (%.*s)", (int)where.len, where.data);
        buf_free(&where);
        where = s;
    }
    if (order.len)
        buf_printf(&where, "%sORDER BY %.*s", where.len ? " " : "", (int)order.len, order.data);
    if (!where.data) {
        snprintf(err, errsz, "JQL: empty query");
        goto fail;
    }
    size_t n;
    res = buf_steal(&where, &n);
    buf_free(&order);
    free(t);
    return res;
fail:
    buf_free(&where);
    buf_free(&order);
    free(t);
    return NULL;
}
