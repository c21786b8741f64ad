/* sb_jql_eval: see sb_jql_eval.h. Walks the tree of sb_jql_ast.h for one
 * issue; relative dates and date functions are computed here, against the
 * env's clock, which is why a parsed query can be kept. */
#include "sb_jql_eval.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "sb_jql_ast.h"
#include "sb_sla.h"

/* ---- matching ---- */
static int64_t date_fn(int fn, int64_t off, int64_t now)
{
    int64_t day = now >= 0 ? now / SB_JQL_DAY_MS : (now - SB_JQL_DAY_MS + 1) / SB_JQL_DAY_MS;
    int64_t t;
    /* 1970-01-01 was a Thursday; Jira weeks start on Sunday here. */
    int64_t wd = ((day % 7) + 7 + 4) % 7;
    int64_t y, m, dd;
    {
        int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
        dd = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        y = yoe + era * 400 + (m <= 2);
    }
    switch (fn) {
    case DF_NOW: t = now; break;
    case DF_SOD: t = day * SB_JQL_DAY_MS; break;
    case DF_EOD: t = (day + 1) * SB_JQL_DAY_MS - 1; break;
    case DF_SOW: t = (day - wd) * SB_JQL_DAY_MS; break;
    case DF_EOW: t = (day - wd + 7) * SB_JQL_DAY_MS - 1; break;
    case DF_SOM: t = clock_days_from_civil((int)y, (int)m, 1) * SB_JQL_DAY_MS; break;
    case DF_EOM: t = clock_days_from_civil((int)(m == 12 ? y + 1 : y), (int)(m == 12 ? 1 : m + 1), 1) * SB_JQL_DAY_MS - 1; break;
    case DF_SOY: t = clock_days_from_civil((int)y, 1, 1) * SB_JQL_DAY_MS; break;
    default: t = clock_days_from_civil((int)y + 1, 1, 1) * SB_JQL_DAY_MS - 1; break;
    }
    (void)dd;
    return t + off;
}
static int words_in(const char *hay, const char *query)
{
    char w[SB_JQL_MAX_TOKLEN];
    const char *s = query;
    while (*s) {
        while (*s && (isspace((unsigned char)*s) || *s == '*' || *s == '?'))
            s++;
        size_t n = 0;
        while (*s && !isspace((unsigned char)*s) && *s != '*' && *s != '?' && n < sizeof w - 1)
            w[n++] = *s++;
        w[n] = 0;
        if (n && !sb_icontains(hay, w))
            return 0;
    }
    return 1;
}

static int text_match(const sb_issue_t *is, int f, const char *q)
{
    if ((f == F_SUMMARY || f == F_TEXT) && words_in(is->summary, q))
        return 1;
    if ((f == F_DESCRIPTION || f == F_TEXT) && is->description && words_in(is->description, q))
        return 1;
    if (f == F_COMMENT || f == F_TEXT)
        for (int i = 0; i < is->ncomments; i++)
            if (words_in(is->comments[i].text, q))
                return 1;
    return 0;
}

/* Whether the issue's value is EMPTY for field f. */
static int is_empty(const sb_issue_t *is, int f)
{
    switch (f) {
    case F_RESOLUTION: return is->resolution < 0;
    case F_ASSIGNEE: return is->assignee < 0;
    case F_LABELS: return is->nlabels == 0;
    case F_RTYPE: return is->rtype < 0;
    case F_ORG: return is->org < 0;
    case F_RESOLVED: return !is->resolved;
    case F_DUE: return !is->due;
    case F_DESCRIPTION: return !is->description || !*is->description;
    case F_COMMENT: return is->ncomments == 0;
    default: return 0;
    }
}

/* Equality of the issue's value with one resolved value. */
static int val_eq(const sb_jql_env_t *env, const sb_issue_t *is, int f, const val_t *v)
{
    const sb_data_t *d = env->data;
    if (v->kind == V_EMPTY)
        return is_empty(is, f);
    switch (f) {
    case F_PROJECT: return is->project == v->i;
    case F_KEY: return is->id == v->i;
    case F_ISSUETYPE: return is->issuetype == v->i;
    case F_STATUS: return is->status == v->i;
    case F_STATUSCAT: return sb_statuses[is->status].cat == v->i;
    case F_RESOLUTION: return is->resolution == v->i;
    case F_PRIORITY: return is->priority == v->i;
    case F_ASSIGNEE: case F_REPORTER: case F_CREATOR: {
        int u = sb_jql_user_of(is, f);
        return u >= 0 && u == (v->kind == V_CURRENT_USER ? env->current_user : v->i);
    }
    case F_LABELS:
        for (int i = 0; i < is->nlabels; i++)
            if (strcasecmp(is->labels[i], v->s) == 0)
                return 1;
        return 0;
    case F_RTYPE: {
        if (is->rtype < 0)
            return 0;
        const sb_rtype_t *rt = &d->rtypes[is->rtype];
        return (v->i >= 0 && rt->id == v->i) || strcasecmp(rt->name, v->s) == 0;
    }
    case F_ORG: return is->org >= 0 && strcasecmp(d->orgs[is->org].name, v->s) == 0;
    case F_SLA_FR: case F_SLA_RES: {
        sb_sla_t s;
        sb_issue_sla(is, f == F_SLA_FR ? 0 : 1, env->now_ms, &s);
        switch (v->i) {
        case SF_BREACHED: return s.breached;
        case SF_RUNNING: return s.stop == 0;
        case SF_COMPLETED: return s.stop != 0;
        default: return s.stop == 0 && sb_statuses[is->status].id[4] == '2'; /* Waiting for customer */
        }
    }
    default: break;
    }
    return 0;
}

static int64_t val_time(const sb_jql_env_t *env, const val_t *v)
{
    switch (v->kind) {
    case V_DATE_REL: return env->now_ms + v->i;
    case V_DATE_FN: return date_fn((int)v->i, v->off, env->now_ms);
    default: return v->i;
    }
}

/* A site custom field clause: any field of the mask may match. */
static int xfield_match(const sb_jql_env_t *env, const clause_t *c, const sb_issue_t *is)
{
    const sb_data_t *d = env->data;
    int empty = 1, eq = 0, like = 0, cmp_ok = 0;
    for (int k = 0; k < d->nxfields; k++) {
        if (!(c->xmask & (1u << k)) || !is->xv[k].set)
            continue;
        const sb_xfield_t *f = &d->xfields[k];
        const sb_xval_t *xv = &is->xv[k];
        empty = 0;
        for (int i = 0; i < c->nvals; i++) {
            const val_t *v = &c->vals[i];
            if (v->kind != V_STR)
                continue;
            switch (f->type) {
            case SB_XT_SELECT: eq |= sb_xfield_option(f, v->s) == xv->i; break;
            case SB_XT_USER: eq |= sb_user_find(d, v->s) == xv->i; break;
            case SB_XT_NUMBER:
                eq |= xv->i == v->i;
                cmp_ok |= (c->op == OP_GT && xv->i > v->i) || (c->op == OP_GE && xv->i >= v->i) ||
                          (c->op == OP_LT && xv->i < v->i) || (c->op == OP_LE && xv->i <= v->i);
                break;
            default:
                eq |= xv->s && !strcasecmp(xv->s, v->s);
                like |= xv->s && words_in(xv->s, v->s);
            }
        }
    }
    switch (c->op) {
    case OP_IS: return empty;
    case OP_ISNOT: return !empty;
    case OP_EQ: case OP_IN: return c->vals[0].kind == V_EMPTY ? empty : eq;
    case OP_NE: case OP_NOTIN: return c->vals[0].kind == V_EMPTY ? !empty : !empty && !eq; /* EMPTY never matches != */
    case OP_LIKE: return like;
    case OP_NOTLIKE: return !empty && !like;
    default: return cmp_ok;
    }
}

static int clause_match(const sb_jql_env_t *env, const clause_t *c, const sb_issue_t *is)
{
    int f = c->field;
    if (f == F_XFIELD)
        return xfield_match(env, c, is);
    const val_t *v = &c->vals[0];
    switch (c->op) {
    case OP_IS: return is_empty(is, f);
    case OP_ISNOT: return !is_empty(is, f);
    case OP_LIKE: return text_match(is, f, v->s ? v->s : "");
    case OP_NOTLIKE: return !text_match(is, f, v->s ? v->s : "");
    case OP_EQ: case OP_IN:
        for (int i = 0; i < c->nvals; i++) {
            if (sb_jql_is_date(f) && c->vals[i].kind != V_EMPTY) {
                int64_t t = sb_jql_date_of(is, f), want = val_time(env, &c->vals[i]);
                if (t && t / SB_JQL_MIN_MS == want / SB_JQL_MIN_MS)
                    return 1;
            } else if (val_eq(env, is, f, &c->vals[i])) {
                return 1;
            }
        }
        return 0;
    case OP_NE: case OP_NOTIN:
        /* Jira: EMPTY values never match != / not in. */
        if (!(c->nvals == 1 && v->kind == V_EMPTY) && is_empty(is, f) && !sb_jql_is_sla(f))
            return 0;
        for (int i = 0; i < c->nvals; i++) {
            if (sb_jql_is_date(f) && c->vals[i].kind != V_EMPTY) {
                if (sb_jql_date_of(is, f) / SB_JQL_MIN_MS == val_time(env, &c->vals[i]) / SB_JQL_MIN_MS)
                    return 0;
            } else if (val_eq(env, is, f, &c->vals[i])) {
                return 0;
            }
        }
        return 1;
    default: break;
    }
    /* ordering comparisons */
    int64_t a, b;
    if (sb_jql_is_date(f)) {
        a = sb_jql_date_of(is, f);
        if (!a)
            return 0;
        b = val_time(env, v);
    } else if (f == F_PRIORITY) {
        a = -is->priority; /* higher priority = greater */
        b = -v->i;
    } else { /* key: same project, by number */
        const sb_issue_t *ref = NULL;
        if (v->i >= SB_ISSUE_ID0 && v->i - SB_ISSUE_ID0 < env->data->nissues)
            ref = env->data->issues[v->i - SB_ISSUE_ID0];
        if (!ref || ref->project != is->project)
            return 0;
        a = is->num;
        b = ref->num;
    }
    switch (c->op) {
    case OP_GT: return a > b;
    case OP_GE: return a >= b;
    case OP_LT: return a < b;
    default: return a <= b;
    }
}

static int node_match(const node_t *n, const sb_jql_env_t *env, const sb_issue_t *is)
{
    switch (n->kind) {
    case N_AND: return node_match(n->a, env, is) && node_match(n->b, env, is);
    case N_OR: return node_match(n->a, env, is) || node_match(n->b, env, is);
    case N_NOT: return !node_match(n->a, env, is);
    default: return clause_match(env, &n->c, is);
    }
}

int sb_jql_match(const sb_jql_t *q, const sb_jql_env_t *env, const sb_issue_t *is)
{
    return !q->where || node_match(q->where, env, is);
}

