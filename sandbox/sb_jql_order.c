/* sb_jql_order: see sb_jql_order.h. One comparison per ORDER BY key, in
 * the query's order, then newest issue first. */
#include "sb_jql_order.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "sb_jql_ast.h"
#include "sb_sla.h"

/* ---- sorting ---- */
typedef struct sortctx_s {
    const sb_jql_t *q;
    const sb_jql_env_t *env;
} sortctx_t;

static int cmp_str(const char *a, const char *b)
{
    return strcasecmp(a ? a : "", b ? b : "");
}

static int64_t sla_key(const sb_jql_env_t *env, const sb_issue_t *is, int metric)
{
    sb_sla_t s;
    sb_issue_sla(is, metric, env->now_ms, &s);
    /* Ongoing cycles first, most urgent first; completed ones after. */
    return s.stop ? (int64_t)1 << 50 | (s.remaining_ms & 0xffffffffffLL) : s.remaining_ms;
}

static int cmp_field(const sortctx_t *c, int f, const sb_issue_t *a, const sb_issue_t *b)
{
    const sb_data_t *d = c->env->data;
    int64_t x = 0, y = 0;
    int ua, ub;
    switch (f) {
    case F_PROJECT: return cmp_str(d->projects[a->project].key, d->projects[b->project].key);
    case F_KEY:
        if (a->project != b->project)
            return cmp_str(d->projects[a->project].key, d->projects[b->project].key);
        x = a->num, y = b->num;
        break;
    case F_ISSUETYPE: return cmp_str(sb_issuetypes[a->issuetype].name, sb_issuetypes[b->issuetype].name);
    case F_STATUS: x = a->status, y = b->status; break;
    case F_STATUSCAT: x = sb_statuses[a->status].cat, y = sb_statuses[b->status].cat; break;
    case F_RESOLUTION: x = a->resolution, y = b->resolution; break;
    case F_PRIORITY: x = -a->priority, y = -b->priority; break;
    case F_ASSIGNEE: case F_REPORTER: case F_CREATOR:
        ua = sb_jql_user_of(a, f), ub = sb_jql_user_of(b, f);
        if (ua < 0 || ub < 0)
            return (ua < 0) - (ub < 0);
        return cmp_str(d->users[ua].display_name, d->users[ub].display_name);
    case F_RTYPE:
        return cmp_str(a->rtype >= 0 ? d->rtypes[a->rtype].name : NULL, b->rtype >= 0 ? d->rtypes[b->rtype].name : NULL);
    case F_ORG:
        return cmp_str(a->org >= 0 ? d->orgs[a->org].name : NULL, b->org >= 0 ? d->orgs[b->org].name : NULL);
    case F_LABELS: return cmp_str(a->nlabels ? a->labels[0] : NULL, b->nlabels ? b->labels[0] : NULL);
    case F_SUMMARY: return cmp_str(a->summary, b->summary);
    case F_SLA_FR: case F_SLA_RES:
        x = sla_key(c->env, a, f == F_SLA_FR ? 0 : 1), y = sla_key(c->env, b, f == F_SLA_FR ? 0 : 1);
        break;
    default:
        x = sb_jql_date_of(a, f), y = sb_jql_date_of(b, f);
        if (!x || !y) /* EMPTY sorts last ascending */
            return (!x) - (!y);
        break;
    }
    return x < y ? -1 : x > y;
}

static int cmp_issues(const void *pa, const void *pb, void *arg)
{
    const sortctx_t *c = arg;
    const sb_issue_t *a = *(sb_issue_t *const *)pa, *b = *(sb_issue_t *const *)pb;
    for (int i = 0; i < c->q->norder; i++) {
        int r = cmp_field(c, c->q->order[i].field, a, b);
        if (r)
            return c->q->order[i].desc ? -r : r;
    }
    /* Without ORDER BY (and as the final tie-break) newest issue first. */
    return (a->id < b->id) - (a->id > b->id);
}

size_t sb_jql_run(const sb_jql_t *q, const sb_jql_env_t *env, sb_issue_t ***out)
{
    const sb_data_t *d = env->data;
    sb_issue_t **v = mem_alloc((size_t)(d->nissues ? d->nissues : 1) * sizeof *v);
    size_t n = 0;
    for (int i = 0; i < d->nissues; i++)
        if (sb_jql_match(q, env, d->issues[i]))
            v[n++] = d->issues[i];
    sortctx_t c = {q, env};
    qsort_r(v, n, sizeof *v, cmp_issues, &c);
    *out = v;
    return n;
}
